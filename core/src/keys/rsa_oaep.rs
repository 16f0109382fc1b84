//! `rsa-oaep` to an RSA public key (`docs/FORMAT.md` §8.5, key files §8.8): the stanza's
//! format and the wrapping half, which every backend holding an RSA key shares (the file
//! backend's private keys and a PKCS#11 token's RSA keys wrap to their public key through it).
//!
//! Encryption uses the `rsa` crate with the caller's [`Entropy`] (so vectors are reproducible);
//! decryption is each backend's (`keys::file::rsa` uses `aws-lc-rs`, never the `rsa` crate:
//! RUSTSEC-2023-0071). Modulus 3072–16384 bits; OAEP hash = MGF1 hash = SHA-256 (default) or
//! SHA-1; empty label.

use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use std::collections::BTreeMap;
use std::path::Path;

use crate::keys::error::KeyError;
use crate::keys::read::parse_err;
use crate::keys::wrapping::{
    key_id, DataKey, ParamValue, Recipient, Stanza, StanzaKey, WrapContext,
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
    pub(crate) key_id: String,
    pub(crate) hash: OaepHash,
}

impl std::fmt::Debug for RsaOaepRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaOaepRecipient({})", self.key_id)
    }
}

pub(crate) fn check_bits(bits: usize, path: &Path) -> Result<(), KeyError> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(parse_err(
            path,
            format!("RSA key of {bits} bits; rsa-oaep needs {MIN_BITS} to {MAX_BITS} bits"),
        ));
    }
    Ok(())
}

pub(crate) fn pem(label: &'static str, der: &[u8]) -> Result<String, KeyError> {
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
