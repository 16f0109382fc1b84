//! Public keys: SPKI DER/PEM in and out, the OMS key hint, and signature verification.
//!
//! Guarantees: [`PublicKey::to_pem`] is byte-identical to what OpenSSL and Python `cryptography`
//! print for the key (uncompressed EC points, 64-column base64, trailing newline), so
//! [`PublicKey::hint`] equals model-signing 1.1.1's `publicKey.hint`. ECDSA signatures are DER and
//! hashed by curve (P-256→SHA-256, P-384→SHA-384, P-521→SHA-512); high-S signatures are accepted,
//! as OpenSSL (and so model-signing) accepts them. Ed25519 signatures are raw 64 bytes, verified
//! strictly (RFC 8032 canonical S, no small-order keys).

use super::error::KeyError;
use super::kind::KeyAlgorithm;
use super::{oids, pem};
use der::{Decode, Encode};
use sha2::Digest as _;
use spki::EncodePublicKey;

/// A signature-verification public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: PublicKeyInner,
    /// The SPKI DER, encoded once at construction (uncompressed points for EC keys).
    spki_der: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PublicKeyInner {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Parses SPKI DER (P-256, P-384, P-521 with named curves; Ed25519). A compressed EC point is
    /// accepted and re-encoded uncompressed, as OpenSSL does.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| invalid(format!("not a SubjectPublicKeyInfo ({e})")))?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| invalid("public key bit string has unused bits"))?;
        let inner = match spki.algorithm.oid {
            oids::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| unsupported("EC keys with explicit curve parameters"))?;
                ec_public_key(curve, key_bytes)?
            }
            oids::ED25519 => {
                let bytes: &[u8; 32] = key_bytes
                    .try_into()
                    .map_err(|_| invalid("an Ed25519 public key is 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                    .map_err(|_| invalid("Ed25519 public key is not a valid point"))?;
                PublicKeyInner::Ed25519(key)
            }
            other => return Err(unsupported(&format!("{} keys", oids::describe(&other)))),
        };
        PublicKey::from_inner(inner)
    }

    /// Extracts the public key of a DER X.509 certificate (without validating the certificate).
    pub fn from_certificate_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| invalid(format!("not an X.509 certificate ({e})")))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| invalid(format!("certificate public key ({e})")))?;
        PublicKey::from_spki_der(&spki)
    }

    /// An EC key from PKCS#11 attributes: `CKA_EC_PARAMS` (DER, a named-curve OID) and the SEC1
    /// point of `CKA_EC_POINT` (already unwrapped from its DER OCTET STRING).
    pub(crate) fn from_ec_params_and_point(
        params_der: &[u8],
        point: &[u8],
    ) -> Result<PublicKey, KeyError> {
        let curve = spki::ObjectIdentifier::from_der(params_der)
            .map_err(|_| unsupported("EC keys whose CKA_EC_PARAMS is not a named-curve OID"))?;
        PublicKey::from_inner(ec_public_key(curve, point)?)
    }

    /// Wraps a parsed key, encoding its SPKI once.
    pub(crate) fn from_inner(inner: PublicKeyInner) -> Result<PublicKey, KeyError> {
        let doc = match &inner {
            PublicKeyInner::P256(k) => k.to_public_key_der(),
            PublicKeyInner::P384(k) => k.to_public_key_der(),
            PublicKeyInner::P521(k) => k.to_public_key_der(),
            PublicKeyInner::Ed25519(k) => k.to_public_key_der(),
        }
        .map_err(|e| invalid(format!("cannot encode the public key ({e})")))?;
        Ok(PublicKey {
            inner,
            spki_der: doc.into_vec(),
        })
    }

    /// SPKI DER.
    pub fn to_spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// SPKI PEM exactly as model-signing 1.1.1 / OpenSSL print it (64-column base64, trailing newline).
    pub fn to_pem(&self) -> String {
        pem::encode("PUBLIC KEY", &self.spki_der)
    }

    /// Writes [`PublicKey::to_pem`] to `path` atomically (mode 0644), replacing a file that is
    /// there: a public key is not a secret, and the file is whole or absent after a crash.
    pub fn write_pem(&self, path: &std::path::Path) -> std::io::Result<()> {
        crate::fs::atomic::write_atomic(
            path,
            self.to_pem().as_bytes(),
            crate::fs::atomic::MODE_PUBLIC,
            true,
        )
    }

    /// The OMS key hint: lowercase hex SHA-256 of [`PublicKey::to_pem`].
    pub fn hint(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.to_pem().as_bytes()))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            PublicKeyInner::P256(_) => KeyAlgorithm::EcP256,
            PublicKeyInner::P384(_) => KeyAlgorithm::EcP384,
            PublicKeyInner::P521(_) => KeyAlgorithm::EcP521,
            PublicKeyInner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// Verifies `signature` (DER ECDSA with the curve's hash, or raw Ed25519) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        use ecdsa::signature::Verifier as _;
        let verified = match &self.inner {
            PublicKeyInner::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .and_then(|sig| p256::ecdsa::VerifyingKey::from(key).verify(message, &sig)),
            PublicKeyInner::P384(key) => p384::ecdsa::Signature::from_der(signature)
                .and_then(|sig| p384::ecdsa::VerifyingKey::from(key).verify(message, &sig)),
            PublicKeyInner::P521(key) => {
                p521::ecdsa::Signature::from_der(signature).and_then(|sig| {
                    p521::ecdsa::VerifyingKey::from_affine(*key.as_affine())?.verify(message, &sig)
                })
            }
            PublicKeyInner::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .and_then(|sig| key.verify_strict(message, &sig)),
        };
        verified.map_err(|_| KeyError::BadSignature)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.algorithm().name())
    }
}

/// Decodes a SEC1 point on the named `curve`.
fn ec_public_key(curve: spki::ObjectIdentifier, point: &[u8]) -> Result<PublicKeyInner, KeyError> {
    let bad_point = |_| invalid("EC public key is not a valid point on its curve");
    Ok(match curve {
        oids::SECP256R1 => {
            PublicKeyInner::P256(p256::PublicKey::from_sec1_bytes(point).map_err(bad_point)?)
        }
        oids::SECP384R1 => {
            PublicKeyInner::P384(p384::PublicKey::from_sec1_bytes(point).map_err(bad_point)?)
        }
        oids::SECP521R1 => {
            PublicKeyInner::P521(p521::PublicKey::from_sec1_bytes(point).map_err(bad_point)?)
        }
        other => return Err(unsupported(&format!("{} keys", oids::describe(&other)))),
    })
}

fn invalid(reason: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        what: "public key",
        reason: reason.into(),
    }
}

fn unsupported(what: &str) -> KeyError {
    KeyError::Unsupported(format!("{what} ({})", oids::SUPPORTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_points_are_reencoded_uncompressed() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let compressed = secret.public_key().to_encoded_point(true);
        let curve = der::asn1::AnyRef::from(&oids::SECP256R1);
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: oids::EC_PUBLIC_KEY,
                parameters: Some(curve),
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(compressed.as_bytes()).unwrap(),
        };
        let key = PublicKey::from_spki_der(&spki.to_der().unwrap()).unwrap();
        let expected = PublicKey::from_inner(PublicKeyInner::P256(secret.public_key())).unwrap();
        assert_eq!(key, expected);
        // 65-byte uncompressed point (0x04 || x || y) ends the DER.
        let der = key.to_spki_der();
        assert_eq!(der[der.len() - 65], 0x04);
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        for der in [&b""[..], b"\x30\x00", b"\x30\x03\x02\x01\x00", &[0xff; 40]] {
            let err = PublicKey::from_spki_der(der).unwrap_err();
            assert!(matches!(err, KeyError::Invalid { .. }), "{err:?}");
        }
    }
}
