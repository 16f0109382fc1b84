//! `x25519-hpke`: HPKE base mode to an X25519 public key (`docs/FORMAT.md` §8.4, key files §8.8).
//!
//! Suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, single-shot, `info` =
//! stanza_context, empty `aad`. The ephemeral key is `DeriveKeyPair(ikmE)` with 32 bytes `ikmE`
//! drawn from the caller's [`Entropy`] (the `hpke` crate's `gen_keypair` does exactly that).
//! Keys are stored as PKCS#8 / SPKI PEM, the form `openssl genpkey -algorithm X25519` writes.

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

use crate::keys::error::KeyError;
use crate::keys::read::parse_err;
use crate::keys::wrapping::{
    key_id, unwrap_failed, DataKey, Identity, ParamValue, PublicHalf, Recipient, Stanza, StanzaKey,
    WrapContext,
};
use crate::rng::{Entropy, Predrawn};

/// The stanza type name.
pub const STANZA_TYPE: &str = "x25519-hpke";

type Aead = hpke::aead::AesGcm256;
type Kdf = hpke::kdf::HkdfSha256;
type Kem = X25519HkdfSha256;

/// DER prefix of a PKCS#8 X25519 private key (RFC 8410 §7), followed by the 32 key bytes.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
/// DER prefix of an X25519 SubjectPublicKeyInfo (RFC 8410 §4), followed by the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];

/// An X25519 public key: encrypts only (a [`Recipient`]).
pub struct X25519Recipient {
    public: [u8; 32],
    key_id: String,
}

/// An X25519 key pair: decrypts (an [`Identity`]) and encrypts to its own public key.
pub struct X25519Identity {
    secret: Zeroizing<[u8; 32]>,
    recipient: X25519Recipient,
}

impl std::fmt::Debug for X25519Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519Recipient({})", self.key_id)
    }
}

impl std::fmt::Debug for X25519Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519Identity({})", self.recipient.key_id)
    }
}

impl X25519Recipient {
    /// A recipient for the raw public key `public` (RFC 7748).
    pub fn from_public(public: [u8; 32]) -> X25519Recipient {
        X25519Recipient {
            public,
            key_id: key_id(STANZA_TYPE, &public),
        }
    }

    /// Parses an X25519 SPKI (DER) read from `path` (named in errors).
    pub fn from_spki_der(der: &[u8], path: &Path) -> Result<X25519Recipient, KeyError> {
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(k) if k.len() == 32 => {
                let mut pk = [0u8; 32];
                pk.copy_from_slice(k);
                Ok(X25519Recipient::from_public(pk))
            }
            _ => Err(parse_err(path, "not an X25519 public key")),
        }
    }

    /// The raw public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// The SPKI PEM of this public key (§8.8).
    pub fn to_pem(&self) -> Result<String, KeyError> {
        pem("PUBLIC KEY", &[&SPKI_PREFIX[..], &self.public[..]].concat())
    }
}

fn pem(label: &'static str, der: &[u8]) -> Result<String, KeyError> {
    pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, der)
        .map_err(|e| KeyError::Crypto(format!("PEM encoding: {e}")))
}

impl X25519Identity {
    /// An identity for the raw secret key `secret` (RFC 7748; clamped on use).
    pub fn from_secret(secret: [u8; 32]) -> X25519Identity {
        let sk = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&sk).to_bytes();
        X25519Identity {
            secret: Zeroizing::new(secret),
            recipient: X25519Recipient::from_public(public),
        }
    }

    /// Parses an X25519 PKCS#8 private key (DER) read from `path` (named in errors).
    pub fn from_pkcs8_der(der: &[u8], path: &Path) -> Result<X25519Identity, KeyError> {
        match der.strip_prefix(&PKCS8_PREFIX[..]) {
            Some(k) if k.len() == 32 => {
                let mut sk = Zeroizing::new([0u8; 32]);
                sk.copy_from_slice(k);
                Ok(X25519Identity::from_secret(*sk))
            }
            _ => Err(parse_err(path, "not an X25519 private key (PKCS#8)")),
        }
    }

    /// A new key pair (`DeriveKeyPair` of 32 random bytes, as HPKE does).
    pub fn generate(entropy: &mut dyn Entropy) -> Result<X25519Identity, KeyError> {
        let mut rng = Predrawn::draw(entropy, 32)?;
        let (sk, _) = Kem::gen_keypair(&mut rng);
        rng.check_consumed()?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&sk.to_bytes());
        Ok(X25519Identity::from_secret(*secret))
    }

    /// The public half, which encrypts to this identity.
    pub fn recipient(&self) -> &X25519Recipient {
        &self.recipient
    }

    /// `(private PKCS#8 PEM, public SPKI PEM)` (§8.8).
    pub fn to_pem(&self) -> Result<(Zeroizing<String>, String), KeyError> {
        let der = Zeroizing::new([&PKCS8_PREFIX[..], &self.secret[..]].concat());
        let private = Zeroizing::new(pem("PRIVATE KEY", &der)?);
        Ok((private, self.recipient.to_pem()?))
    }
}

impl StanzaKey for X25519Recipient {
    fn stanza_type(&self) -> &str {
        STANZA_TYPE
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl Recipient for X25519Recipient {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&self.public)
            .map_err(|e| KeyError::Crypto(format!("X25519 public key: {e}")))?;
        let info = ctx.stanza_context(STANZA_TYPE, &self.key_id);
        let mut rng = Predrawn::draw(entropy, 32)?;
        let (enc, wrapped) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
            &OpModeS::Base,
            &pk,
            &info,
            dek.expose(),
            b"",
            &mut rng,
        )
        .map_err(|e| KeyError::Crypto(format!("HPKE seal: {e}")))?;
        rng.check_consumed()?;
        Ok(Stanza {
            stanza_type: STANZA_TYPE.into(),
            key_id: self.key_id.clone(),
            wrapped,
            params: BTreeMap::from([(1, ParamValue::Bytes(enc.to_bytes().to_vec()))]),
        })
    }
}

impl PublicHalf for X25519Identity {
    fn public_half(&self) -> &dyn Recipient {
        &self.recipient
    }
}

impl Identity for X25519Identity {
    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        let enc = match stanza.params.get(&1) {
            Some(ParamValue::Bytes(b)) if b.len() == 32 && stanza.wrapped.len() == 48 => b,
            _ => return Err(unwrap_failed(self)),
        };
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&self.secret[..])
            .map_err(|_| unwrap_failed(self))?;
        let enc =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| unwrap_failed(self))?;
        let info = ctx.stanza_context(STANZA_TYPE, self.key_id());
        // hpke rejects an all-zero shared secret (RFC 9180 §7.1.4) with an error.
        let pt = hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info,
            &stanza.wrapped,
            b"",
        )
        .map_err(|_| unwrap_failed(self))?;
        let pt = Zeroizing::new(pt);
        DataKey::from_slice(&pt).ok_or_else(|| unwrap_failed(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appendix A, computed independently: the HPKE wrap must equal Python `cryptography`'s
    /// `hpke.Suite(X25519, HKDF_SHA256, AES_256_GCM).decrypt` input — checked here by opening, in
    /// Python, a stanza made in Rust (see test-vectors/seal/decode_v1.py); this test checks the
    /// all-zero public key (low-order point) is refused rather than producing a stanza.
    #[test]
    fn low_order_point_rejected() {
        let w = X25519Recipient::from_public([0; 32]);
        let ctx = WrapContext {
            body_digest: [0; 32],
            model_name: "m",
        };
        let r = w.wrap(
            &DataKey::from_bytes([1; 32]),
            &ctx,
            &mut crate::rng::OsEntropy,
        );
        assert!(r.is_err());
    }
}
