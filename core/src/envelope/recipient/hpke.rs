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

use super::{key_error, unwrap_failed, KeyWrapper, WrapContext};
use crate::envelope::format::{ParamValue, Stanza};
use crate::envelope::keyschedule::{key_id, DataKey};
use crate::envelope::SealError;
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

/// An X25519 public key (wrap only) or key pair (wrap and unwrap).
pub struct X25519Wrapper {
    public: [u8; 32],
    secret: Option<Zeroizing<[u8; 32]>>,
    key_id: String,
}

impl std::fmt::Debug for X25519Wrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "X25519Wrapper({})", self.key_id)
    }
}

impl X25519Wrapper {
    /// A recipient for the raw public key `public` (RFC 7748).
    pub fn from_public(public: [u8; 32]) -> X25519Wrapper {
        X25519Wrapper {
            public,
            secret: None,
            key_id: key_id(STANZA_TYPE, &public),
        }
    }

    /// An identity for the raw secret key `secret` (RFC 7748; clamped on use).
    pub fn from_secret(secret: [u8; 32]) -> X25519Wrapper {
        let sk = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&sk).to_bytes();
        X25519Wrapper {
            secret: Some(Zeroizing::new(secret)),
            ..X25519Wrapper::from_public(public)
        }
    }

    /// Parses an X25519 SPKI (DER).
    pub fn from_spki_der(der: &[u8], path: &Path) -> Result<X25519Wrapper, SealError> {
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(k) if k.len() == 32 => {
                let mut pk = [0u8; 32];
                pk.copy_from_slice(k);
                Ok(X25519Wrapper::from_public(pk))
            }
            _ => Err(key_error(path, "not an X25519 public key")),
        }
    }

    /// Parses an X25519 PKCS#8 private key (DER).
    pub fn from_pkcs8_der(der: &[u8], path: &Path) -> Result<X25519Wrapper, SealError> {
        match der.strip_prefix(&PKCS8_PREFIX[..]) {
            Some(k) if k.len() == 32 => {
                let mut sk = Zeroizing::new([0u8; 32]);
                sk.copy_from_slice(k);
                Ok(X25519Wrapper::from_secret(*sk))
            }
            _ => Err(key_error(path, "not an X25519 private key (PKCS#8)")),
        }
    }

    /// A new key pair (`DeriveKeyPair` of 32 random bytes, as HPKE does).
    pub fn generate(entropy: &mut dyn Entropy) -> Result<X25519Wrapper, SealError> {
        let mut rng = Predrawn::draw(entropy, 32)?;
        let (sk, _) = Kem::gen_keypair(&mut rng);
        rng.check_consumed()?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&sk.to_bytes());
        Ok(X25519Wrapper::from_secret(*secret))
    }

    /// The raw public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// `(private PEM, public PEM)`; fails for a public-only key.
    pub fn to_pem(&self) -> Result<(Zeroizing<String>, String), SealError> {
        let sk = self
            .secret
            .as_ref()
            .ok_or_else(|| SealError::Usage("public key only".into()))?;
        let der = Zeroizing::new([&PKCS8_PREFIX[..], &sk[..]].concat());
        let pem = |label, der: &[u8]| {
            pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, der)
                .map_err(|e| SealError::Crypto(format!("PEM encoding: {e}")))
        };
        let private = Zeroizing::new(pem("PRIVATE KEY", &der)?);
        let public = pem("PUBLIC KEY", &[&SPKI_PREFIX[..], &self.public[..]].concat())?;
        Ok((private, public))
    }
}

impl KeyWrapper for X25519Wrapper {
    fn stanza_type(&self) -> &str {
        STANZA_TYPE
    }

    fn can_unwrap(&self) -> bool {
        self.secret.is_some()
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, SealError> {
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&self.public)
            .map_err(|e| SealError::Crypto(format!("X25519 public key: {e}")))?;
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
        .map_err(|e| SealError::Crypto(format!("HPKE seal: {e}")))?;
        rng.check_consumed()?;
        Ok(Stanza {
            stanza_type: STANZA_TYPE.into(),
            key_id: self.key_id.clone(),
            wrapped,
            params: BTreeMap::from([(1, ParamValue::Bytes(enc.to_bytes().to_vec()))]),
        })
    }

    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, SealError> {
        let secret = self.secret.as_ref().ok_or_else(|| {
            SealError::Usage(format!(
                "{STANZA_TYPE} {}: a public key cannot decrypt; give the private key",
                self.key_id
            ))
        })?;
        let enc = match stanza.params.get(&1) {
            Some(ParamValue::Bytes(b)) if b.len() == 32 && stanza.wrapped.len() == 48 => b,
            _ => return Err(unwrap_failed(self)),
        };
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&secret[..])
            .map_err(|_| unwrap_failed(self))?;
        let enc =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| unwrap_failed(self))?;
        let info = ctx.stanza_context(STANZA_TYPE, &self.key_id);
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
        let w = X25519Wrapper::from_public([0; 32]);
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
