//! `rsa-oaep` with an RSA private key file: the identity that unwraps (`docs/FORMAT.md` §8.5,
//! key files §8.8). Wrapping to its public key is the seam's [`crate::keys::rsa_oaep`].
//!
//! Decryption never uses the `rsa` crate (RUSTSEC-2023-0071, Marvin timing attack): it uses
//! `aws-lc-rs`, whose OAEP decoder does not reveal why decoding failed.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};
use std::path::Path;
use zeroize::Zeroizing;

use crate::keys::error::KeyError;
use crate::keys::read::parse_err;
use crate::keys::rsa_oaep::{check_wrapped_len, pem};
pub use crate::keys::rsa_oaep::{OaepHash, RsaOaepRecipient, STANZA_TYPE};
use crate::keys::wrapping::{
    unwrap_failed, DataKey, Identity, ParamValue, PublicHalf, Recipient, Stanza, StanzaKey,
    WrapContext,
};

/// An RSA private key: decrypts (an [`Identity`]) and encrypts to its own public key.
pub struct RsaOaepIdentity {
    private: PrivateDecryptingKey,
    recipient: RsaOaepRecipient,
}

impl std::fmt::Debug for RsaOaepIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaOaepIdentity({})", self.recipient.key_id)
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

impl PublicHalf for RsaOaepIdentity {
    fn public_half(&self) -> &dyn Recipient {
        &self.recipient
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
