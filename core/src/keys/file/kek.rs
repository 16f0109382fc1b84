//! `aes256-kek`: a local AES-256 key-encryption key (`docs/FORMAT.md` §8.3, key file §8.8).
//!
//! Wrap = AES-256-GCM(KEK, random 12-byte nonce, aad = stanza_context, DEK). The key file holds 64
//! hex digits and must not be readable by group or others.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

use crate::keys::error::KeyError;
use crate::keys::keyref::KeyOptions;
use crate::keys::read::{self, parse_err};
use crate::keys::wrapping::{
    key_id, unwrap_failed, DataKey, Identity, ParamValue, Recipient, Stanza, StanzaKey, WrapContext,
};
use crate::rng::Entropy;

/// The stanza type name.
pub const STANZA_TYPE: &str = "aes256-kek";

/// A 32-byte KEK held in memory (zeroized on drop): a symmetric key, so both a [`Recipient`] and
/// an [`Identity`].
pub struct KekWrapper {
    kek: Zeroizing<[u8; 32]>,
    key_id: String,
}

impl std::fmt::Debug for KekWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KekWrapper({})", self.key_id)
    }
}

impl KekWrapper {
    /// A wrapper for the KEK `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> KekWrapper {
        let key_id = key_id(STANZA_TYPE, &bytes);
        KekWrapper {
            kek: Zeroizing::new(bytes),
            key_id,
        }
    }

    /// Reads a KEK file (§8.8): 64 hex digits, optionally followed by one line feed; refused if
    /// group or others can read it, unless `options.allow_insecure_permissions`.
    pub fn from_file(path: &Path, options: &KeyOptions) -> Result<KekWrapper, KeyError> {
        let text = read::read_secret(path, options)?;
        KekWrapper::from_file_text(path, &text)
    }

    /// Parses the text of a KEK file (§8.8) read from `path` (named in errors).
    pub(crate) fn from_file_text(path: &Path, text: &[u8]) -> Result<KekWrapper, KeyError> {
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(body, &mut k[..])
            .map_err(|_| parse_err(path, "not an aes256-kek key file (expected 64 hex digits)"))?;
        Ok(KekWrapper::from_bytes(*k))
    }

    /// A new random KEK.
    pub fn generate(entropy: &mut dyn Entropy) -> Result<KekWrapper, KeyError> {
        let mut k = Zeroizing::new([0u8; 32]);
        entropy.fill(&mut k[..])?;
        Ok(KekWrapper::from_bytes(*k))
    }

    /// The key file content (§8.8).
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", hex::encode(&self.kek[..])))
    }

    fn cipher(&self) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, &self.kek[..])
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::Crypto("AES-256-GCM rejected a 32-byte key".into()))
    }
}

impl StanzaKey for KekWrapper {
    fn stanza_type(&self) -> &str {
        STANZA_TYPE
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl Recipient for KekWrapper {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        let mut nonce = [0u8; 12];
        entropy.fill(&mut nonce)?;
        let aad = ctx.stanza_context(STANZA_TYPE, &self.key_id);
        let mut wrapped = dek.expose().to_vec();
        self.cipher()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                &mut wrapped,
            )
            .map_err(|_| KeyError::Crypto("AES-256-GCM seal failed".into()))?;
        Ok(Stanza {
            stanza_type: STANZA_TYPE.into(),
            key_id: self.key_id.clone(),
            wrapped,
            params: BTreeMap::from([(1, ParamValue::Bytes(nonce.to_vec()))]),
        })
    }
}

impl Identity for KekWrapper {
    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        let nonce: [u8; 12] = match stanza.params.get(&1) {
            Some(ParamValue::Bytes(b)) => {
                b.as_slice().try_into().map_err(|_| unwrap_failed(self))?
            }
            _ => return Err(unwrap_failed(self)),
        };
        if stanza.wrapped.len() != 48 {
            return Err(unwrap_failed(self));
        }
        let aad = ctx.stanza_context(STANZA_TYPE, &self.key_id);
        let mut buf = Zeroizing::new(stanza.wrapped.clone());
        let pt = self
            .cipher()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                &mut buf[..],
            )
            .map_err(|_| unwrap_failed(self))?;
        DataKey::from_slice(pt).ok_or_else(|| unwrap_failed(self))
    }
}
