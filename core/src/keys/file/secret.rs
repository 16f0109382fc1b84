//! Private keys held in memory: decoding PKCS#8 (plain and PBES2-encrypted), SEC1 and Ed25519
//! PKCS#8 v1/v2 DER, and signing.
//!
//! Guarantees: the key types zeroize themselves on drop (RustCrypto `SecretKey`/`SigningKey` and
//! `ed25519_dalek::SigningKey` are `ZeroizeOnDrop`), decrypted DER lives in zeroizing buffers, and
//! `Debug` prints only the algorithm. ECDSA signatures are DER over the curve's hash: P-256/P-384
//! use RFC 6979 deterministic nonces; P-521 (whose RustCrypto crate has no RFC 6979 yet) draws its
//! nonce from the OS RNG. Ed25519 signatures are raw 64 bytes.

use crate::keys::error::KeyError;
use crate::keys::kind::KeyAlgorithm;
use crate::keys::oids;
use crate::keys::public::{PublicKey, PublicKeyInner};
use der::Decode;
use zeroize::Zeroizing;

/// Largest scrypt memory (128·r·N bytes) we spend deriving a key-file passphrase; OpenSSL's
/// default is 16 MiB. A key file asking for more is refused rather than exhausting memory.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest PBKDF2 iteration count we run (OpenSSL's default is 2048; 10 M takes seconds).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// A private signing key.
pub(crate) enum PrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.algorithm().name())
    }
}

/// Why a private key could not be decoded; the caller adds the file name.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Not a key we understand (reason).
    Invalid(String),
    /// A key of an algorithm we do not support (what).
    Unsupported(String),
}

impl PrivateKey {
    /// Decodes PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` DER.
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, DecodeError> {
        let info = pkcs8::PrivateKeyInfo::from_der(der)
            .map_err(|e| DecodeError::Invalid(format!("not a PKCS#8 private key ({e})")))?;
        let bad = |e: pkcs8::Error| DecodeError::Invalid(format!("invalid private key ({e})"));
        match info.algorithm.oid {
            oids::EC_PUBLIC_KEY => {
                let curve = info.algorithm.parameters_oid().map_err(|_| {
                    DecodeError::Unsupported("EC keys with explicit curve parameters".into())
                })?;
                match curve {
                    oids::SECP256R1 => Ok(PrivateKey::P256(
                        p256::SecretKey::try_from(info).map_err(bad)?.into(),
                    )),
                    oids::SECP384R1 => Ok(PrivateKey::P384(
                        p384::SecretKey::try_from(info).map_err(bad)?.into(),
                    )),
                    oids::SECP521R1 => {
                        let secret = p521::SecretKey::try_from(info).map_err(bad)?;
                        Ok(PrivateKey::P521(ecdsa::SigningKey::from(secret).into()))
                    }
                    other => Err(DecodeError::Unsupported(format!(
                        "{} keys",
                        oids::describe(&other)
                    ))),
                }
            }
            // `TryFrom<PrivateKeyInfo>` reads v1 and v2; for v2 it checks that the embedded public
            // key belongs to the private key.
            oids::ED25519 => Ok(PrivateKey::Ed25519(
                ed25519_dalek::SigningKey::try_from(info).map_err(bad)?,
            )),
            other => Err(DecodeError::Unsupported(format!(
                "{} keys",
                oids::describe(&other)
            ))),
        }
    }

    /// Decodes SEC1 `ECPrivateKey` DER (OpenSSL's `EC PRIVATE KEY`), which must name its curve.
    pub(crate) fn from_sec1_der(der: &[u8]) -> Result<PrivateKey, DecodeError> {
        let key = sec1::EcPrivateKey::from_der(der)
            .map_err(|e| DecodeError::Invalid(format!("not a SEC1 EC private key ({e})")))?;
        let curve = key.parameters.and_then(|p| p.named_curve()).ok_or_else(|| {
            DecodeError::Invalid("SEC1 key does not name its curve; convert it to PKCS#8 with `openssl pkcs8 -topk8`".into())
        })?;
        let bad = |e: p256::elliptic_curve::Error| {
            DecodeError::Invalid(format!("invalid EC private key ({e})"))
        };
        match curve {
            oids::SECP256R1 => Ok(PrivateKey::P256(
                p256::SecretKey::from_sec1_der(der).map_err(bad)?.into(),
            )),
            oids::SECP384R1 => Ok(PrivateKey::P384(
                p384::SecretKey::from_sec1_der(der).map_err(bad)?.into(),
            )),
            oids::SECP521R1 => {
                let secret = p521::SecretKey::from_sec1_der(der).map_err(bad)?;
                Ok(PrivateKey::P521(ecdsa::SigningKey::from(secret).into()))
            }
            other => Err(DecodeError::Unsupported(format!(
                "{} keys",
                oids::describe(&other)
            ))),
        }
    }

    /// Decrypts PKCS#8 `EncryptedPrivateKeyInfo` DER (PBES2: PBKDF2-HMAC-SHA-2 or scrypt, AES-CBC)
    /// with `password`, then decodes the key.
    pub(crate) fn from_encrypted_pkcs8_der(
        der: &[u8],
        password: &[u8],
    ) -> Result<PrivateKey, DecodeError> {
        let info = pkcs8::EncryptedPrivateKeyInfo::from_der(der).map_err(|e| {
            DecodeError::Invalid(format!("not an encrypted PKCS#8 private key ({e})"))
        })?;
        check_encryption(&info.encryption_algorithm)?;
        let plain = info.decrypt(password).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid }) => {
                DecodeError::Unsupported(format!("key encryption algorithm {oid}; re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"))
            }
            _ => DecodeError::Invalid("cannot decrypt the key: wrong passphrase, or the file is damaged".into()),
        })?;
        // `SecretDocument` zeroizes its buffer on drop.
        PrivateKey::from_pkcs8_der(plain.as_bytes())
    }

    /// The key's algorithm.
    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKey::P256(_) => KeyAlgorithm::EcP256,
            PrivateKey::P384(_) => KeyAlgorithm::EcP384,
            PrivateKey::P521(_) => KeyAlgorithm::EcP521,
            PrivateKey::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// The matching public key.
    pub(crate) fn public_key(&self) -> Result<PublicKey, KeyError> {
        let inner = match self {
            PrivateKey::P256(k) => PublicKeyInner::P256(k.verifying_key().into()),
            PrivateKey::P384(k) => PublicKeyInner::P384(k.verifying_key().into()),
            PrivateKey::P521(k) => {
                let affine = *p521::ecdsa::VerifyingKey::from(k).as_affine();
                let public =
                    p521::PublicKey::from_affine(affine).map_err(|e| KeyError::Invalid {
                        what: "private key",
                        reason: format!("P-521 public key ({e})"),
                    })?;
                PublicKeyInner::P521(public)
            }
            PrivateKey::Ed25519(k) => PublicKeyInner::Ed25519(k.verifying_key()),
        };
        PublicKey::from_inner(inner)
    }

    /// Signs `message`: DER ECDSA over the curve's hash, or raw Ed25519.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use ecdsa::signature::Signer as _;
        let failed = |e: ecdsa::Error| KeyError::Signing(e.to_string());
        Ok(match self {
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::P521(k) => {
                let sig: p521::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::Ed25519(k) => k.try_sign(message).map_err(failed)?.to_bytes().to_vec(),
        })
    }

    /// PKCS#8 v1 PEM, as `openssl genpkey` writes it (v1 also for Ed25519: OpenSSL 3.0 and Python
    /// `cryptography` cannot read v2).
    pub(crate) fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        use pkcs8::EncodePrivateKey as _;
        let lf = pkcs8::LineEnding::LF;
        let pem = match self {
            PrivateKey::P256(k) => p256::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_pem(lf),
            PrivateKey::P384(k) => p384::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_pem(lf),
            PrivateKey::P521(k) => p521::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_pem(lf),
            PrivateKey::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(lf),
        };
        pem.map_err(|e| KeyError::Invalid {
            what: "private key",
            reason: format!("cannot encode it as PKCS#8 ({e})"),
        })
    }
}

/// Refuses encryption schemes we cannot decrypt, and KDF costs that would exhaust the machine,
/// before spending any work on them.
fn check_encryption(scheme: &pkcs8::pkcs5::EncryptionScheme<'_>) -> Result<(), DecodeError> {
    let reencrypt = "re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`";
    let Some(params) = scheme.pbes2() else {
        return Err(DecodeError::Unsupported(format!(
            "PBES1 key encryption (weak, legacy); {reencrypt}"
        )));
    };
    if let Some(pbkdf2) = params.kdf.pbkdf2() {
        if pbkdf2.prf == pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1 {
            return Err(DecodeError::Unsupported(format!(
                "PBKDF2 with HMAC-SHA1; {reencrypt}"
            )));
        }
        if pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS {
            return Err(DecodeError::Invalid(format!(
                "PBKDF2 iteration count {} is over the limit {MAX_PBKDF2_ITERATIONS}",
                pbkdf2.iteration_count
            )));
        }
    }
    if let Some(scrypt) = params.kdf.scrypt() {
        let memory = 128u64
            .saturating_mul(u64::from(scrypt.block_size))
            .saturating_mul(scrypt.cost_parameter);
        if memory > MAX_SCRYPT_MEMORY {
            return Err(DecodeError::Invalid(format!(
                "scrypt parameters need {memory} bytes of memory, over the limit {MAX_SCRYPT_MEMORY}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<PrivateKey> {
        let mut rng = rand_core::OsRng;
        vec![
            PrivateKey::P256(p256::ecdsa::SigningKey::random(&mut rng)),
            PrivateKey::P384(p384::ecdsa::SigningKey::random(&mut rng)),
            PrivateKey::P521(p521::ecdsa::SigningKey::random(&mut rng)),
            PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
        ]
    }

    #[test]
    fn sign_verify_round_trip_every_algorithm() {
        for key in keys() {
            let public = key.public_key().unwrap();
            assert_eq!(public.algorithm(), key.algorithm());
            let sig = key
                .sign(b"DSSEv1 28 application/vnd.in-toto+json 2 {}")
                .unwrap();
            public
                .verify(b"DSSEv1 28 application/vnd.in-toto+json 2 {}", &sig)
                .unwrap();
            assert!(matches!(
                public.verify(b"DSSEv1 other", &sig),
                Err(KeyError::BadSignature)
            ));
            let mut flipped = sig.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(public
                .verify(b"DSSEv1 28 application/vnd.in-toto+json 2 {}", &flipped)
                .is_err());
        }
    }

    #[test]
    fn pkcs8_pem_round_trips() {
        for key in keys() {
            let pem = key.to_pkcs8_pem().unwrap();
            let blocks = crate::keys::pem::parse_blocks(pem.as_bytes()).unwrap();
            assert_eq!(blocks[0].label, "PRIVATE KEY");
            let back = PrivateKey::from_pkcs8_der(&blocks[0].der).unwrap();
            assert_eq!(back.public_key().unwrap(), key.public_key().unwrap());
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[0x5a; 32]).unwrap());
        assert_eq!(format!("{key:?}"), "PrivateKey(ec-p256, <redacted>)");
    }
}
