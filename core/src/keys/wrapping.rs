//! The data-key seam (`docs/FORMAT.md` §8, `docs/ARCHITECTURE.md` "Seams"): what a key must do for
//! the envelope to encrypt to it ([`Recipient`]) or decrypt with it ([`Identity`]), and the types
//! both sides share — the [`DataKey`], the [`WrapContext`] a wrap binds to, the [`Stanza`] it
//! produces and the stanza helpers ([`stanza_context`], [`key_id`]).
//!
//! Encrypt-only and decrypt-only keys are distinct types, as age's `Recipient` and `Identity`: a
//! public key file opens only as a [`Recipient`], so decrypting with it cannot be written.
//! Symmetric keys (a KEK file, an AWS KMS key, a PKCS#11 AES key) and private key files implement
//! both. The envelope (the format) takes `&dyn Recipient` / `&dyn Identity` and never names a
//! backend; a backend imports only this seam, [`crate::keys::error`] and [`crate::rng`].

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

use super::error::KeyError;
use crate::rng::Entropy;

/// Length of the data key in bytes (`docs/FORMAT.md` §6.1).
pub const DATA_KEY_LEN: usize = 32;
/// Longest key id a stanza may carry (§3).
pub const MAX_KEY_ID_LEN: usize = 256;
/// Longest wrapped key a stanza may carry (§3).
pub const MAX_WRAPPED_LEN: usize = 4096;

/// The 256-bit data encryption key of one encryption of a model (§6.1). No `Clone`, no printing;
/// zeroized on drop. The envelope derives its keys from it (`envelope::keyschedule`).
pub struct DataKey(Zeroizing<[u8; DATA_KEY_LEN]>);

impl DataKey {
    /// Wraps 32 bytes (from the CSPRNG, or from an unwrap).
    pub fn from_bytes(bytes: [u8; DATA_KEY_LEN]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// Takes an unwrapped key of any length; `None` unless it is exactly 32 bytes (§8.1).
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let mut k = Zeroizing::new([0u8; DATA_KEY_LEN]);
        if bytes.len() != DATA_KEY_LEN {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(DataKey(k))
    }

    /// The raw key, for a key wrapper to wrap or the key schedule to derive from. Never log or
    /// store it.
    pub fn expose(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A stanza parameter value (§5.2 `param-value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// Unsigned integer.
    Uint(u64),
    /// Byte string.
    Bytes(Vec<u8>),
    /// Text string.
    Text(String),
}

/// A recipient stanza: the data key wrapped for one key (§5.2, §8). The envelope's format encodes
/// and decodes it; a key produces and consumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// Stanza type, e.g. `x25519-hpke`.
    pub stanza_type: String,
    /// Which key can unwrap it (§6.5).
    pub key_id: String,
    /// The wrapped data key.
    pub wrapped: Vec<u8>,
    /// Type-specific parameters, keyed by small integers (sorted, hence deterministic).
    pub params: BTreeMap<u8, ParamValue>,
}

/// What a wrap binds to (§6.4, §8.7): the body digest and, for KMS, the model name.
#[derive(Debug, Clone, Copy)]
pub struct WrapContext<'a> {
    /// `SHA-256(body_bytes)`.
    pub body_digest: [u8; 32],
    /// The body's model name (KMS encryption context).
    pub model_name: &'a str,
}

impl WrapContext<'_> {
    /// `stanza_context(type, key_id)` for this body.
    pub fn stanza_context(&self, stanza_type: &str, key_id: &str) -> Vec<u8> {
        stanza_context(stanza_type, key_id, &self.body_digest)
    }
}

/// What every key of the data-key seam says about itself: the stanza type and key id it writes
/// and matches. Neither is secret.
pub trait StanzaKey: Send + Sync {
    /// The stanza type this key produces and consumes, e.g. `"aes256-kek"`.
    fn stanza_type(&self) -> &str;
    /// The key identifier written in and matched against stanzas (§6.5).
    fn key_id(&self) -> &str;
}

/// A key the data key can be encrypted to: a public key, or a key that also decrypts.
pub trait Recipient: StanzaKey {
    /// Wraps `dek` into a stanza bound to `ctx`, drawing any randomness from `entropy` (§16 order).
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError>;
}

/// A decrypting key that encrypts exactly as its public half does (an X25519 or RSA private key
/// file, an RSA key pair in a token): its [`StanzaKey`] and [`Recipient`] are that half's, so the
/// identity cannot write or match a stanza its recipient would not.
pub trait PublicHalf: Send + Sync {
    /// The recipient this key decrypts for.
    fn public_half(&self) -> &dyn Recipient;
}

impl<T: PublicHalf> StanzaKey for T {
    fn stanza_type(&self) -> &str {
        self.public_half().stanza_type()
    }

    fn key_id(&self) -> &str {
        self.public_half().key_id()
    }
}

impl<T: PublicHalf> Recipient for T {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        self.public_half().wrap(dek, ctx, entropy)
    }
}

/// A key that decrypts: it finds its stanza and unwraps the data key from it.
pub trait Identity: StanzaKey {
    /// This key's stanza among `stanzas` (§8.1), or `None`. The default matches `(type, key_id)`
    /// exactly; a backend whose `key_id` only the key service knows (a KMS alias) overrides it.
    fn select<'h>(&self, stanzas: &'h [Stanza]) -> Result<Option<&'h Stanza>, KeyError> {
        Ok(stanzas
            .iter()
            .find(|s| s.stanza_type == self.stanza_type() && s.key_id == self.key_id()))
    }
    /// Unwraps the data key from `stanza` (already shape-checked by the decoder). A stanza that
    /// does not unwrap is [`KeyError::Unwrap`] (or [`KeyError::UnwrapRefused`] with a key
    /// service's answer): causes are not distinguished (§8.1).
    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, KeyError>;
}

/// Shows which key this is (its stanza type and non-secret key id), never key material — the same
/// for a key file, a token key and a KMS key.
impl std::fmt::Debug for dyn Recipient + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({} {})", self.stanza_type(), self.key_id())
    }
}

/// Shows which key this is (its stanza type and non-secret key id), never key material.
impl std::fmt::Debug for dyn Identity + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({} {})", self.stanza_type(), self.key_id())
    }
}

/// The uniform unwrap failure of `key` (§8.1: causes are not distinguished).
pub fn unwrap_failed(key: &(impl StanzaKey + ?Sized)) -> KeyError {
    KeyError::Unwrap {
        stanza_type: key.stanza_type().to_owned(),
        key_id: key.key_id().to_owned(),
    }
}

/// `lp(x) = u32be(len(x)) ‖ x` (§1).
pub fn lp(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + x.len());
    // Every item passed here is bounded far below 4 GiB by §3.
    out.extend_from_slice(&(x.len() as u32).to_be_bytes());
    out.extend_from_slice(x);
    out
}

/// `stanza_context(type, key_id)` over `body_digest` (§6.4).
pub fn stanza_context(stanza_type: &str, key_id: &str, body_digest: &[u8; 32]) -> Vec<u8> {
    [
        lp(b"modelseal/v1/stanza"),
        lp(stanza_type.as_bytes()),
        lp(key_id.as_bytes()),
        lp(body_digest),
    ]
    .concat()
}

/// A hash-based key identifier (§6.5): `hex(SHA-256(lp("modelseal/v1/key-id/" ‖ type) ‖ material)[0..16])`.
pub fn key_id(stanza_type: &str, material: &[u8]) -> String {
    let label = format!("modelseal/v1/key-id/{stanza_type}");
    let mut h = Sha256::new();
    h.update(lp(label.as_bytes()));
    h.update(material);
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_key_is_redacted_and_exactly_32_bytes() {
        assert_eq!(
            format!("{:?}", DataKey::from_bytes([0x42; 32])),
            "DataKey(<redacted>)"
        );
        assert!(DataKey::from_slice(&[0; 31]).is_none());
        assert!(DataKey::from_slice(&[0; 33]).is_none());
        assert!(DataKey::from_slice(&[0; 32]).is_some());
    }

    #[test]
    fn lp_prefixes_length() {
        assert_eq!(lp(b"modelseal/v1/file-key")[..4], [0, 0, 0, 0x15]);
    }

    // Computed independently with Python hashlib from the definition of FORMAT.md §6.5.
    #[test]
    fn key_id_matches_python() {
        assert_eq!(
            key_id("aes256-kek", &[0x22; 32]),
            "725f8144b1bca72d29f412046133a709"
        );
    }
}
