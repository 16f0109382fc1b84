//! The PKCS#11 backend of [`Signer`]: ECDSA inside the token over a hash computed here.
//!
//! The token signs with `CKM_ECDSA` (raw ECDSA over a digest) the SHA-256 (P-256), SHA-384 (P-384)
//! or SHA-512 (P-521) of the DSSE PAE, and returns `r ‖ s`, which becomes DER through the curve
//! crate's `Signature` type. The public key (for the bundle's key hint and for `pubkey`) comes from
//! the token: `CKA_EC_PARAMS` and `CKA_EC_POINT` of the key pair's public object (or of the private
//! object, where a token stores the point there). Each signature is checked against that public key
//! before it is returned, so a token fault never produces a bundle that fails later.

use super::counters::{count, Call};
use super::error::{call, ErrorKind, Pkcs11Error};
use super::objects::{bytes_attr, exactly_one, find_keys, Found};
use super::session::{self, KeySession};
use super::uri::Pkcs11Uri;
use crate::keys::{KeyAlgorithm, KeyError, PublicKey, Signer};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{AttributeType, KeyType, ObjectClass};
use der::Decode;
use sha2::Digest;

/// A signing key inside a PKCS#11 token.
pub struct Pkcs11Signer {
    uri: Pkcs11Uri,
    session: KeySession,
    key: Found,
    public: PublicKey,
    chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("uri", &self.uri.to_string())
            .field("algorithm", &self.public.algorithm().name())
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Opens the EC private key `uri` names (logging in to its token once per process).
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Signer, Pkcs11Error> {
        let session = session::open(uri)?;
        let err = |kind| Pkcs11Error::new(uri, kind);
        let found = find_keys(&session, uri).map_err(err)?;
        let private: Vec<Found> = found
            .iter()
            .copied()
            .filter(|f| f.class == ObjectClass::PRIVATE_KEY)
            .collect();
        let key = exactly_one(&session, private, "private key").map_err(err)?;
        if key.key_type != KeyType::EC {
            return Err(err(ErrorKind::Unsupported(format!(
                "the private key is a {} key; signing needs an EC key (P-256, P-384 or P-521)",
                key.key_type
            ))));
        }
        let public = public_key(&session, key, &found).map_err(|e| match e {
            PublicKeyError::Token(kind) => err(kind),
            PublicKeyError::Key(reason) => err(ErrorKind::Unsupported(reason)),
        })?;
        Ok(Pkcs11Signer {
            uri: uri.clone(),
            session,
            key,
            public,
            chain: Vec::new(),
        })
    }

    /// Attaches the certificate method's chain (leaf first), checked against the token's key.
    pub(crate) fn with_certificates(
        mut self,
        leaf: &std::path::Path,
        chain: &[std::path::PathBuf],
    ) -> Result<Pkcs11Signer, KeyError> {
        let name = self.uri.to_string();
        self.chain =
            crate::keys::certificate::certificate_chain_for(&self.public, &name, leaf, chain)?;
        Ok(self)
    }

    fn error(&self, kind: ErrorKind) -> KeyError {
        KeyError::Pkcs11(Pkcs11Error::new(&self.uri, kind))
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let algorithm = self.public.algorithm();
        let digest = match algorithm {
            KeyAlgorithm::EcP256 => sha2::Sha256::digest(message).to_vec(),
            KeyAlgorithm::EcP384 => sha2::Sha384::digest(message).to_vec(),
            KeyAlgorithm::EcP521 => sha2::Sha512::digest(message).to_vec(),
            KeyAlgorithm::Ed25519 => {
                return Err(self.error(ErrorKind::Unsupported("Ed25519 in a token".into())))
            }
        };
        count(Call::Sign);
        let raw = self
            .session
            .with(|s| s.sign(&Mechanism::Ecdsa, self.key.handle, &digest))
            .map_err(|e| self.error(call("C_Sign", &e)))?;
        let der = raw_to_der(algorithm, &raw).ok_or_else(|| {
            self.error(ErrorKind::Call {
                call: "C_Sign",
                reason: format!("returned {} bytes, not an r‖s ECDSA signature", raw.len()),
            })
        })?;
        self.public.verify(message, &der).map_err(|_| {
            self.error(ErrorKind::Call {
                call: "C_Sign",
                reason: "the token's signature does not verify under its public key".into(),
            })
        })?;
        Ok(der)
    }
    fn key_id(&self) -> String {
        self.uri.to_string()
    }
}

/// `r ‖ s` (PKCS#11 ECDSA output) → DER, through the curve crate's signature type.
fn raw_to_der(algorithm: KeyAlgorithm, raw: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        KeyAlgorithm::EcP256 => p256::ecdsa::Signature::from_slice(raw)
            .ok()?
            .to_der()
            .as_bytes()
            .to_vec(),
        KeyAlgorithm::EcP384 => p384::ecdsa::Signature::from_slice(raw)
            .ok()?
            .to_der()
            .as_bytes()
            .to_vec(),
        KeyAlgorithm::EcP521 => p521::ecdsa::Signature::from_slice(raw)
            .ok()?
            .to_der()
            .as_bytes()
            .to_vec(),
        KeyAlgorithm::Ed25519 => return None,
    })
}

/// Why the public key could not be had.
pub(crate) enum PublicKeyError {
    /// A token call failed or the object is missing.
    Token(ErrorKind),
    /// The key's curve or encoding is not one modelseal uses.
    Key(String),
}

/// The EC public key of `key`: params from the private (or public) object, the point from the public
/// object with the same `CKA_ID` (or, failing that, among `found`).
pub(crate) fn public_key(
    ks: &KeySession,
    key: Found,
    found: &[Found],
) -> Result<PublicKey, PublicKeyError> {
    ks.with(|s| {
        let tok = PublicKeyError::Token;
        let id = bytes_attr(s, key.handle, AttributeType::Id).map_err(tok)?;
        let mut candidates = vec![key.handle];
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            let template = [
                cryptoki::object::Attribute::Class(ObjectClass::PUBLIC_KEY),
                cryptoki::object::Attribute::Id(id),
            ];
            let handles = s
                .find_objects(&template)
                .map_err(|e| tok(call("C_FindObjects", &e)))?;
            candidates.extend(handles);
        }
        candidates.extend(
            found
                .iter()
                .filter(|f| f.class == ObjectClass::PUBLIC_KEY)
                .map(|f| f.handle),
        );
        let params = bytes_attr(s, key.handle, AttributeType::EcParams)
            .map_err(tok)?
            .ok_or_else(|| tok(ErrorKind::Object("the key has no CKA_EC_PARAMS".into())))?;
        for handle in candidates {
            if let Some(point) = bytes_attr(s, handle, AttributeType::EcPoint).map_err(tok)? {
                return PublicKey::from_ec_params_and_point(&params, unwrap_octet_string(&point))
                    .map_err(|e| PublicKeyError::Key(describe_key_error(e)));
            }
        }
        // The curve may be what is wrong; say so before saying the point is missing.
        PublicKey::from_ec_params_and_point(&params, &[])
            .map_err(|e| PublicKeyError::Key(describe_key_error(e)))?;
        Err(tok(ErrorKind::Object(
            "no public key object with the private key's CKA_ID holds its CKA_EC_POINT; modelseal needs the public key for the bundle's key hint".into(),
        )))
    })
}

fn describe_key_error(e: KeyError) -> String {
    match e {
        KeyError::Unsupported(what) => format!("unsupported key: {what}"),
        other => other.to_string(),
    }
}

/// `CKA_EC_POINT` is a DER OCTET STRING holding the SEC1 point (PKCS#11 §2.3.3); some tokens return
/// the bare point. Accept both: the DER form is taken only when it parses exactly.
fn unwrap_octet_string(value: &[u8]) -> &[u8] {
    match der::asn1::OctetStringRef::from_der(value) {
        Ok(inner) if matches!(inner.as_bytes().first(), Some(2..=4)) => inner.as_bytes(),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_in_both_encodings() {
        let point = [4u8; 65];
        let mut der = vec![0x04, 65];
        der.extend_from_slice(&point);
        assert_eq!(unwrap_octet_string(&der), &point[..]);
        assert_eq!(unwrap_octet_string(&point), &point[..]);
    }

    #[test]
    fn raw_signatures_become_der() {
        use ecdsa::signature::Signer as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let sig: p256::ecdsa::Signature = key.sign(b"m");
        let der = raw_to_der(KeyAlgorithm::EcP256, &sig.to_bytes()).unwrap();
        assert_eq!(der, sig.to_der().as_bytes());
        assert!(raw_to_der(KeyAlgorithm::EcP256, &[1; 63]).is_none());
        assert!(raw_to_der(KeyAlgorithm::EcP384, &sig.to_bytes()).is_none());
    }
}
