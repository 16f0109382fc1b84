//! `rsa-oaep`: RSA-OAEP to an RSA public key (`docs/FORMAT.md` §8.5, key files §8.8).
//!
//! Encryption uses the `rsa` crate with the caller's [`Entropy`] (so vectors are reproducible).
//! Decryption never uses the `rsa` crate (RUSTSEC-2023-0071, Marvin timing attack): it uses
//! `aws-lc-rs`, whose OAEP decoder does not reveal why decoding failed. Modulus 3072–16384 bits;
//! OAEP hash = MGF1 hash = SHA-256 (default) or SHA-1; empty label.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

use super::read::parse_err;
use crate::keys::error::KeyError;
use crate::keys::wrapping::{
    key_id, unwrap_failed, DataKey, Identity, ParamValue, Recipient, Stanza, StanzaKey, WrapContext,
};
use crate::rng::{Entropy, Predrawn};

/// The stanza type name.
pub const STANZA_TYPE: &str = "rsa-oaep";
const MIN_BITS: usize = 3072;
const MAX_BITS: usize = 16384;

/// The OAEP hash (also the MGF1 hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-256 (default).
    Sha256,
    /// SHA-1, for tokens that only do OAEP-SHA-1 (§8.5).
    Sha1,
}

impl OaepHash {
    fn name(self) -> &'static str {
        match self {
            OaepHash::Sha256 => "sha256",
            OaepHash::Sha1 => "sha1",
        }
    }
    fn len(self) -> usize {
        match self {
            OaepHash::Sha256 => 32,
            OaepHash::Sha1 => 20,
        }
    }
}

/// An RSA public key: encrypts only (a [`Recipient`]).
pub struct RsaOaepRecipient {
    public: rsa::RsaPublicKey,
    key_id: String,
    hash: OaepHash,
}

/// An RSA private key: decrypts (an [`Identity`]) and encrypts to its own public key.
pub struct RsaOaepIdentity {
    private: PrivateDecryptingKey,
    recipient: RsaOaepRecipient,
}

impl std::fmt::Debug for RsaOaepRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaOaepRecipient({})", self.key_id)
    }
}

impl std::fmt::Debug for RsaOaepIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaOaepIdentity({})", self.recipient.key_id)
    }
}

fn check_bits(bits: usize, path: &Path) -> Result<(), KeyError> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(parse_err(
            path,
            format!("RSA key of {bits} bits; rsa-oaep needs {MIN_BITS} to {MAX_BITS} bits"),
        ));
    }
    Ok(())
}

fn pem(label: &'static str, der: &[u8]) -> Result<String, KeyError> {
    pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, der)
        .map_err(|e| KeyError::Crypto(format!("PEM encoding: {e}")))
}

impl RsaOaepRecipient {
    /// A recipient for an RSA SubjectPublicKeyInfo (DER) read from `path` (named in errors).
    pub fn from_spki_der(der: &[u8], path: &Path) -> Result<RsaOaepRecipient, KeyError> {
        let public = rsa::RsaPublicKey::from_public_key_der(der)
            .map_err(|e| parse_err(path, format!("not an RSA public key: {e}")))?;
        check_bits(public.n().bits(), path)?;
        // key_id hashes the canonical SPKI (rsaEncryption, NULL parameters), whatever form came in.
        let spki = public
            .to_public_key_der()
            .map_err(|e| parse_err(path, format!("RSA public key: {e}")))?;
        Ok(RsaOaepRecipient {
            key_id: key_id(STANZA_TYPE, spki.as_bytes()),
            public,
            hash: OaepHash::Sha256,
        })
    }

    /// Uses `hash` for wrapping (unwrapping follows each stanza's recorded hash).
    pub fn with_hash(mut self, hash: OaepHash) -> RsaOaepRecipient {
        self.hash = hash;
        self
    }

    /// The SPKI PEM of this public key (§8.8).
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let spki = self
            .public
            .to_public_key_der()
            .map_err(|e| KeyError::Crypto(format!("RSA public key: {e}")))?;
        pem("PUBLIC KEY", spki.as_bytes())
    }

    /// The modulus length in bytes: the length of every wrapped key (§10 step 7).
    pub fn modulus_len(&self) -> usize {
        self.public.size()
    }
}

impl RsaOaepIdentity {
    /// An identity for an RSA PKCS#8 private key (DER) read from `path` (named in errors).
    pub fn from_pkcs8_der(der: &[u8], path: &Path) -> Result<RsaOaepIdentity, KeyError> {
        let private = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|e| parse_err(path, format!("not an RSA private key (PKCS#8): {e}")))?;
        let spki = private
            .public_key()
            .as_der()
            .map_err(|_| parse_err(path, "cannot encode the RSA public key"))?;
        let recipient = RsaOaepRecipient::from_spki_der(spki.as_ref(), path)?;
        Ok(RsaOaepIdentity { private, recipient })
    }

    /// A new RSA-3072 key (aws-lc-rs key generation).
    pub fn generate_3072() -> Result<RsaOaepIdentity, KeyError> {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa3072)
            .map_err(|_| KeyError::Crypto("RSA key generation failed".into()))?;
        let der = private
            .as_der()
            .map_err(|_| KeyError::Crypto("RSA key encoding failed".into()))?;
        RsaOaepIdentity::from_pkcs8_der(der.as_ref(), Path::new("<generated>"))
    }

    /// Uses `hash` for wrapping (unwrapping follows each stanza's recorded hash).
    pub fn with_hash(mut self, hash: OaepHash) -> RsaOaepIdentity {
        self.recipient.hash = hash;
        self
    }

    /// The public half, which encrypts to this identity.
    pub fn recipient(&self) -> &RsaOaepRecipient {
        &self.recipient
    }

    /// `(private PKCS#8 PEM, public SPKI PEM)` (§8.8).
    pub fn to_pem(&self) -> Result<(Zeroizing<String>, String), KeyError> {
        let der = self
            .private
            .as_der()
            .map_err(|_| KeyError::Crypto("RSA key encoding failed".into()))?;
        let private = Zeroizing::new(pem("PRIVATE KEY", der.as_ref())?);
        Ok((private, self.recipient.to_pem()?))
    }
}

/// The §10 step 7 check of an `rsa-oaep` stanza: its wrapped key is exactly `modulus_len` bytes.
pub(crate) fn check_wrapped_len(
    stanza: &Stanza,
    key_id: &str,
    modulus_len: usize,
) -> Result<(), KeyError> {
    if stanza.wrapped.len() != modulus_len {
        return Err(KeyError::Stanza(format!(
            "rsa-oaep stanza {key_id}: wrapped key of {} bytes for a {modulus_len}-byte modulus",
            stanza.wrapped.len(),
        )));
    }
    Ok(())
}

impl StanzaKey for RsaOaepRecipient {
    fn stanza_type(&self) -> &str {
        STANZA_TYPE
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl Recipient for RsaOaepRecipient {
    fn wrap(
        &self,
        dek: &DataKey,
        _ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        // §16 draw order: the OAEP seed, hLen bytes.
        let mut rng = Predrawn::draw(entropy, self.hash.len())?;
        let wrapped = match self.hash {
            OaepHash::Sha256 => {
                self.public
                    .encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha256>(), dek.expose())
            }
            OaepHash::Sha1 => {
                self.public
                    .encrypt(&mut rng, rsa::Oaep::new::<sha1::Sha1>(), dek.expose())
            }
        }
        .map_err(|e| KeyError::Crypto(format!("RSA-OAEP encryption: {e}")))?;
        rng.check_consumed()?;
        Ok(Stanza {
            stanza_type: STANZA_TYPE.into(),
            key_id: self.key_id.clone(),
            wrapped,
            params: BTreeMap::from([(1, ParamValue::Text(self.hash.name().into()))]),
        })
    }
}

impl StanzaKey for RsaOaepIdentity {
    fn stanza_type(&self) -> &str {
        STANZA_TYPE
    }

    fn key_id(&self) -> &str {
        &self.recipient.key_id
    }
}

impl Recipient for RsaOaepIdentity {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        self.recipient.wrap(dek, ctx, entropy)
    }
}

impl Identity for RsaOaepIdentity {
    fn unwrap(&self, stanza: &Stanza, _ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        let algorithm = match stanza.params.get(&1) {
            Some(ParamValue::Text(t)) if t == "sha256" => &OAEP_SHA256_MGF1SHA256,
            Some(ParamValue::Text(t)) if t == "sha1" => &OAEP_SHA1_MGF1SHA1,
            _ => return Err(unwrap_failed(self)),
        };
        // §10 step 7: the wrapped length must be the modulus length, checked before decrypting.
        check_wrapped_len(stanza, self.key_id(), self.recipient.modulus_len())?;
        let key = OaepPrivateDecryptingKey::new(self.private.clone())
            .map_err(|_| KeyError::Crypto("RSA key rejected".into()))?;
        let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let pt = key
            .decrypt(algorithm, &stanza.wrapped, &mut out, None)
            .map_err(|_| unwrap_failed(self))?;
        DataKey::from_slice(pt).ok_or_else(|| unwrap_failed(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::OsEntropy;

    #[test]
    fn sha1_and_sha256_round_trip_and_refuse_small_keys() {
        let key = RsaOaepIdentity::generate_3072().unwrap();
        let ctx = WrapContext {
            body_digest: [0; 32],
            model_name: "m",
        };
        let dek = DataKey::from_bytes([3; 32]);
        let key = key.with_hash(OaepHash::Sha1);
        let s = key.wrap(&dek, &ctx, &mut OsEntropy).unwrap();
        assert_eq!(s.params.get(&1), Some(&ParamValue::Text("sha1".into())));
        assert_eq!(s.wrapped.len(), 384);
        assert_eq!(key.unwrap(&s, &ctx).unwrap().expose(), dek.expose());
        let mut bad = s.clone();
        bad.wrapped[100] ^= 1;
        assert!(matches!(
            key.unwrap(&bad, &ctx).unwrap_err(),
            KeyError::Unwrap { .. }
        ));
        let mut short = s;
        short.wrapped.pop();
        assert!(matches!(
            key.unwrap(&short, &ctx).unwrap_err(),
            KeyError::Stanza(_)
        ));
        let small = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der = small.as_der().unwrap();
        let err = RsaOaepIdentity::from_pkcs8_der(der.as_ref(), Path::new("k")).unwrap_err();
        assert!(err.to_string().contains("2048 bits"), "{err}");
    }
}
