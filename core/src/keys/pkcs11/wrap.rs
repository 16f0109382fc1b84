//! The PKCS#11 backends of the data-key seam ([`Recipient`], [`Identity`]): `pkcs11-aes` (docs/FORMAT.md §8.6) and `rsa-oaep` with
//! the private key in the token (§8.5).
//!
//! `pkcs11-aes`: an AES-256 key in the token wraps the DEK with AES-GCM (`C_Encrypt`, AAD = the
//! stanza context, 12-byte IV drawn here) or RFC 5649 KWP (`C_WrapKey` with `CKM_AES_KEY_WRAP_PAD`
//! of a session object holding the DEK). The wrap algorithm is `x-wrap=` if the URI says, else GCM
//! when the token offers it for encryption and the key may encrypt (§8.6 prefers it for the binding),
//! else KWP — checked with `C_GetMechanismInfo` and the key's `CKA_ENCRYPT`/`CKA_WRAP`. Unwrapping
//! follows the algorithm recorded in the stanza. `key_id` = `hex(CKA_ID)`.
//!
//! `rsa-oaep`: the public key is read from the token (`CKA_MODULUS`, `CKA_PUBLIC_EXPONENT`), so the
//! `key_id` equals the same key's in a PEM file; wrapping happens in software with the existing
//! [`RsaOaepRecipient`]; unwrapping is `C_Decrypt` with `CKM_RSA_PKCS_OAEP` and the stanza's hash. The
//! wrap hash is SHA-256 when the token can decrypt it, else SHA-1 (SoftHSM2 2.6 rejects SHA-256 OAEP
//! with `CKR_ARGUMENTS_BAD`): found out once per key by decrypting a random value in the token.
//!
//! Guarantees: a stanza that does not unwrap is [`KeyError::Unwrap`] (exit 1); token access problems
//! are [`KeyError::Pkcs11`] naming the URI (exit 2). An AES key is both a recipient and an identity;
//! an RSA key is an identity only when the token holds its private key. The DEK reaches the token only as a session object
//! (never `CKA_TOKEN`), which is destroyed right after use, and comes back only into zeroizing memory.

use super::counters::{count, Call};
use super::error::{call, rv, ErrorKind, Pkcs11Error};
use super::objects::{
    bool_attr, bytes_attr, exactly_one, find_keys, not_found, secret_value, Found,
};
use super::session::{self, KeySession};
use super::uri::{Pkcs11Uri, WrapChoice};
use crate::keys::error::KeyError;
use crate::keys::rsa_oaep::{self as software, OaepHash, RsaOaepRecipient};
use crate::keys::wrapping::{
    unwrap_failed, DataKey, Identity, ParamValue, PublicHalf, Recipient, Stanza, StanzaKey,
    WrapContext,
};
use crate::rng::{Entropy, OsEntropy};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The `pkcs11-aes` stanza type.
pub const AES_STANZA_TYPE: &str = "pkcs11-aes";
const GCM_WRAPPED_LEN: usize = 48;
const KWP_WRAPPED_LEN: usize = 40;
const IV_LEN: usize = 12;

/// Opens the key `uri` names as a recipient: an AES secret key (`pkcs11-aes`), or an RSA private
/// or public key for `rsa-oaep`.
pub fn open_recipient(uri: &Pkcs11Uri) -> Result<Box<dyn Recipient>, Pkcs11Error> {
    Ok(match open(uri)? {
        TokenKey::Aes(key) => Box::new(key),
        TokenKey::Rsa(key) => Box::new(key),
    })
}

/// Opens the key `uri` names as an identity: an AES secret key (`pkcs11-aes`) or an RSA private
/// key (`rsa-oaep`). `Ok(None)` when the token holds only the RSA public key, which cannot decrypt.
pub fn open_identity(uri: &Pkcs11Uri) -> Result<Option<Box<dyn Identity>>, Pkcs11Error> {
    Ok(match open(uri)? {
        TokenKey::Aes(key) => Some(Box::new(key)),
        TokenKey::Rsa(key) if key.private => Some(Box::new(RsaIdentity(key))),
        TokenKey::Rsa(_) => None,
    })
}

/// A key found in the token for the data-key seam.
enum TokenKey {
    Aes(AesWrapper),
    Rsa(RsaWrapper),
}

fn open(uri: &Pkcs11Uri) -> Result<TokenKey, Pkcs11Error> {
    let session = session::open(uri)?;
    let err = |kind| Pkcs11Error::new(uri, kind);
    let found = find_keys(&session, uri).map_err(err)?;
    let pick = |class: ObjectClass, ty: KeyType| -> Vec<Found> {
        found
            .iter()
            .copied()
            .filter(|f| f.class == class && f.key_type == ty)
            .collect()
    };
    let aes = pick(ObjectClass::SECRET_KEY, KeyType::AES);
    let rsa_private = pick(ObjectClass::PRIVATE_KEY, KeyType::RSA);
    let rsa_public = pick(ObjectClass::PUBLIC_KEY, KeyType::RSA);
    if !aes.is_empty() {
        let key = exactly_one(&session, aes, "AES key").map_err(err)?;
        return Ok(TokenKey::Aes(AesWrapper::new(uri, session, key)?));
    }
    if !rsa_private.is_empty() {
        let key = exactly_one(&session, rsa_private, "RSA private key").map_err(err)?;
        return Ok(TokenKey::Rsa(RsaWrapper::new(uri, session, key, true)?));
    }
    if !rsa_public.is_empty() {
        let key = exactly_one(&session, rsa_public, "RSA public key").map_err(err)?;
        return Ok(TokenKey::Rsa(RsaWrapper::new(uri, session, key, false)?));
    }
    match found.first() {
        Some(f) => Err(err(ErrorKind::Unsupported(format!(
            "the object is a {} {} key; encryption needs an AES-256 secret key or an RSA key",
            f.key_type, f.class
        )))),
        None => Err(err(not_found(&session, "AES or RSA key"))),
    }
}

/// Whether a token's return value means "this ciphertext does not decrypt" rather than an access or
/// capability problem. SoftHSM2 2.6 answers a failed GCM tag check with `CKR_GENERAL_ERROR`, so that
/// counts as a failed unwrap too (§8.1: causes are not distinguished).
fn is_bad_ciphertext(e: &cryptoki::error::Error) -> bool {
    matches!(
        rv(e),
        Some(
            RvError::GeneralError
                | RvError::FunctionFailed
                | RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::WrappedKeyInvalid
                | RvError::WrappedKeyLenRange
                | RvError::DataInvalid
                | RvError::DataLenRange
        )
    )
}

/// An AES-256 key in the token (`pkcs11-aes`).
struct AesWrapper {
    uri: Pkcs11Uri,
    session: KeySession,
    key: Found,
    key_id: String,
    /// The algorithm new stanzas use, or why none can be made.
    wrap_with: Result<WrapChoice, ErrorKind>,
}

impl AesWrapper {
    fn new(uri: &Pkcs11Uri, session: KeySession, key: Found) -> Result<AesWrapper, Pkcs11Error> {
        let err = |kind| Pkcs11Error::new(uri, kind);
        let id = session
            .with(|s| bytes_attr(s, key.handle, AttributeType::Id))
            .map_err(err)?
            .unwrap_or_default();
        if id.is_empty() || id.len() > 64 {
            return Err(err(ErrorKind::Object(format!(
                "the AES key has a CKA_ID of {} bytes; a pkcs11-aes recipient needs 1 to 64 (its key_id is hex(CKA_ID))",
                id.len()
            ))));
        }
        let wrap_with = choose_algorithm(uri, &session, key).map_err(err)?;
        Ok(AesWrapper {
            uri: uri.clone(),
            key_id: hex::encode(id),
            session,
            key,
            wrap_with,
        })
    }

    fn token_error(&self, kind: ErrorKind) -> KeyError {
        Pkcs11Error::new(&self.uri, kind).into()
    }

    fn wrap_gcm(&self, dek: &DataKey, aad: &[u8], iv: [u8; IV_LEN]) -> Result<Stanza, KeyError> {
        let mut iv = iv;
        count(Call::Wrap);
        let wrapped = self
            .session
            .with(|s| {
                let params = GcmParams::new(&mut iv, aad, 128.into())?;
                s.encrypt(&Mechanism::AesGcm(params), self.key.handle, dek.expose())
            })
            .map_err(|e| self.token_error(call("C_Encrypt", &e)))?;
        if wrapped.len() != GCM_WRAPPED_LEN {
            return Err(self.token_error(ErrorKind::Call {
                call: "C_Encrypt",
                reason: format!("AES-GCM returned {} bytes, not 48", wrapped.len()),
            }));
        }
        Ok(Stanza {
            stanza_type: AES_STANZA_TYPE.into(),
            key_id: self.key_id.clone(),
            wrapped,
            params: BTreeMap::from([
                (1, ParamValue::Text(WrapChoice::AesGcm.name().into())),
                (2, ParamValue::Bytes(iv.to_vec())),
            ]),
        })
    }

    fn wrap_kwp(&self, dek: &DataKey) -> Result<Stanza, KeyError> {
        let wrapped = self.session.with(|s| {
            // The DEK as a session object (never stored on the token), destroyed whatever happens.
            let mut template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Value(dek.expose().to_vec()),
            ];
            let object = s.create_object(&template);
            // The template's copy of the DEK is not a zeroizing type: wipe it now.
            for attr in &mut template {
                if let Attribute::Value(v) = attr {
                    zeroize::Zeroize::zeroize(v);
                }
            }
            let object = object.map_err(|e| call("C_CreateObject", &e))?;
            count(Call::Wrap);
            let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, self.key.handle, object);
            let _ = s.destroy_object(object);
            wrapped.map_err(|e| call("C_WrapKey", &e))
        });
        let wrapped = wrapped.map_err(|kind| self.token_error(kind))?;
        if wrapped.len() != KWP_WRAPPED_LEN {
            return Err(self.token_error(ErrorKind::Mechanism(format!(
                "RFC 5649 key wrap: CKM_AES_KEY_WRAP_PAD returned {} bytes, not 40 (this token's _PAD is not RFC 5649; use x-wrap=aes-gcm)",
                wrapped.len()
            ))));
        }
        Ok(Stanza {
            stanza_type: AES_STANZA_TYPE.into(),
            key_id: self.key_id.clone(),
            wrapped,
            params: BTreeMap::from([(1, ParamValue::Text(WrapChoice::AesKwp.name().into()))]),
        })
    }

    fn unwrap_gcm(&self, stanza: &Stanza, aad: &[u8]) -> Result<DataKey, KeyError> {
        let mut iv = match stanza.params.get(&2) {
            Some(ParamValue::Bytes(iv)) if iv.len() == IV_LEN => iv.clone(),
            _ => return Err(unwrap_failed(self)),
        };
        count(Call::Unwrap);
        let plain = self.session.with(|s| {
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            s.decrypt(&Mechanism::AesGcm(params), self.key.handle, &stanza.wrapped)
        });
        match plain {
            Ok(p) => {
                let p = zeroize::Zeroizing::new(p);
                DataKey::from_slice(&p).ok_or_else(|| unwrap_failed(self))
            }
            Err(e) if is_bad_ciphertext(&e) => Err(unwrap_failed(self)),
            Err(e) => Err(self.token_error(call("C_Decrypt", &e))),
        }
    }

    fn unwrap_kwp(&self, stanza: &Stanza) -> Result<DataKey, KeyError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ];
        count(Call::Unwrap);
        let result = self.session.with(|s| {
            let object = match s.unwrap_key(
                &Mechanism::AesKeyWrapPad,
                self.key.handle,
                &stanza.wrapped,
                &template,
            ) {
                Ok(o) => o,
                Err(e) if is_bad_ciphertext(&e) => return Ok(None),
                Err(e) => return Err(call("C_UnwrapKey", &e)),
            };
            let value = secret_value(s, object);
            let _ = s.destroy_object(object);
            value.map(Some)
        });
        match result.map_err(|kind| self.token_error(kind))? {
            Some(v) => DataKey::from_slice(&v).ok_or_else(|| unwrap_failed(self)),
            None => Err(unwrap_failed(self)),
        }
    }
}

/// The wrap algorithm for new stanzas (§8.6): `x-wrap=` if given and usable, else GCM, else KWP.
fn choose_algorithm(
    uri: &Pkcs11Uri,
    ks: &KeySession,
    key: Found,
) -> Result<Result<WrapChoice, ErrorKind>, ErrorKind> {
    let token = &ks.token;
    let info = |m: MechanismType| token.ctx.get_mechanism_info(token.slot, m).ok();
    let (may_encrypt, may_wrap) = ks.with(|s| {
        Ok::<_, ErrorKind>((
            bool_attr(s, key.handle, AttributeType::Encrypt)?,
            bool_attr(s, key.handle, AttributeType::Wrap)?,
        ))
    })?;
    let gcm =
        may_encrypt && info(MechanismType::AES_GCM).is_some_and(|i| i.encrypt() && i.decrypt());
    let kwp =
        may_wrap && info(MechanismType::AES_KEY_WRAP_PAD).is_some_and(|i| i.wrap() && i.unwrap());
    let usable = |c: WrapChoice| match c {
        WrapChoice::AesGcm => gcm,
        WrapChoice::AesKwp => kwp,
    };
    Ok(match uri.wrap {
        Some(c) if usable(c) => Ok(c),
        Some(c) => Err(ErrorKind::Mechanism(format!(
            "{} with this key (x-wrap={}: the token lacks {} or the key lacks {})",
            c.name(),
            c.name(),
            match c {
                WrapChoice::AesGcm => "CKM_AES_GCM encrypt/decrypt",
                WrapChoice::AesKwp => "CKM_AES_KEY_WRAP_PAD wrap/unwrap",
            },
            match c {
                WrapChoice::AesGcm => "CKA_ENCRYPT",
                WrapChoice::AesKwp => "CKA_WRAP",
            }
        ))),
        None if gcm => Ok(WrapChoice::AesGcm),
        None if kwp => Ok(WrapChoice::AesKwp),
        None => Err(ErrorKind::Mechanism(
            "a data-key wrap with this key: neither CKM_AES_GCM (with CKA_ENCRYPT) nor CKM_AES_KEY_WRAP_PAD (with CKA_WRAP) is available".into(),
        )),
    })
}

impl StanzaKey for AesWrapper {
    fn stanza_type(&self) -> &str {
        AES_STANZA_TYPE
    }
    fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl Recipient for AesWrapper {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        match &self.wrap_with {
            Ok(WrapChoice::AesGcm) => {
                let mut iv = [0u8; IV_LEN];
                entropy.fill(&mut iv)?;
                let aad = ctx.stanza_context(AES_STANZA_TYPE, &self.key_id);
                self.wrap_gcm(dek, &aad, iv)
            }
            Ok(WrapChoice::AesKwp) => self.wrap_kwp(dek),
            Err(kind) => Err(self.token_error(kind.clone())),
        }
    }
}

impl Identity for AesWrapper {
    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        match stanza.params.get(&1) {
            Some(ParamValue::Text(t)) if t == "aes-gcm" => {
                let aad = ctx.stanza_context(AES_STANZA_TYPE, &self.key_id);
                self.unwrap_gcm(stanza, &aad)
            }
            Some(ParamValue::Text(t)) if t == "aes-kwp" => self.unwrap_kwp(stanza),
            _ => Err(unwrap_failed(self)),
        }
    }
}

/// An RSA key in the token (`rsa-oaep`): wraps in software with its public key, unwraps inside.
struct RsaWrapper {
    uri: Pkcs11Uri,
    session: KeySession,
    key: Found,
    /// Holds the public key and the `key_id`; wraps in software.
    public: RsaOaepRecipient,
    /// SPKI DER of the public key (to make a wrapper per hash).
    spki: Vec<u8>,
    private: bool,
    /// The OAEP hash this token decrypts, found out on first wrap.
    hash: OnceLock<OaepHash>,
}

impl RsaWrapper {
    fn new(
        uri: &Pkcs11Uri,
        session: KeySession,
        key: Found,
        private: bool,
    ) -> Result<RsaWrapper, Pkcs11Error> {
        let err = |kind| Pkcs11Error::new(uri, kind);
        let (n, e) = session
            .with(|s| {
                Ok::<_, ErrorKind>((
                    bytes_attr(s, key.handle, AttributeType::Modulus)?,
                    bytes_attr(s, key.handle, AttributeType::PublicExponent)?,
                ))
            })
            .map_err(err)?;
        let (Some(n), Some(e)) = (n, e) else {
            return Err(err(ErrorKind::Object(
                "the RSA key has no readable CKA_MODULUS/CKA_PUBLIC_EXPONENT".into(),
            )));
        };
        let public = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&n),
            rsa::BigUint::from_bytes_be(&e),
        )
        .map_err(|e| err(ErrorKind::Unsupported(format!("RSA public key: {e}"))))?;
        let spki = {
            use rsa::pkcs8::EncodePublicKey;
            public
                .to_public_key_der()
                .map_err(|e| err(ErrorKind::Unsupported(format!("RSA public key: {e}"))))?
                .into_vec()
        };
        // The reason only: the error names the URI itself.
        let wrapper =
            RsaOaepRecipient::from_spki_der(&spki, std::path::Path::new("")).map_err(|e| {
                err(ErrorKind::Unsupported(match e {
                    KeyError::Parse { reason, .. } => reason,
                    other => other.to_string(),
                }))
            })?;
        Ok(RsaWrapper {
            uri: uri.clone(),
            session,
            key,
            public: wrapper,
            spki,
            private,
            hash: OnceLock::new(),
        })
    }

    fn token_error(&self, kind: ErrorKind) -> KeyError {
        Pkcs11Error::new(&self.uri, kind).into()
    }

    fn oaep(hash: OaepHash) -> Mechanism<'static> {
        let (h, mgf) = match hash {
            OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        };
        Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty()))
    }

    /// `C_Decrypt` with OAEP `hash`: `Ok(None)` when the ciphertext does not decrypt.
    fn decrypt(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, cryptoki::error::Error> {
        match self
            .session
            .with(|s| s.decrypt(&Self::oaep(hash), self.key.handle, ciphertext))
        {
            Ok(p) => Ok(Some(zeroize::Zeroizing::new(p))),
            Err(e) if is_bad_ciphertext(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// SHA-256 if the token decrypts SHA-256 OAEP, else SHA-1 if it decrypts that (§8.5).
    fn probe_hash(&self) -> Result<OaepHash, KeyError> {
        if !self.private {
            // Nothing to ask: the default, which any software or HSM decryptor of §8.5 supports.
            return Ok(OaepHash::Sha256);
        }
        let mut secret = [0u8; 32];
        OsEntropy.fill(&mut secret)?;
        let probe = DataKey::from_bytes(secret);
        let ctx = WrapContext {
            body_digest: [0; 32],
            model_name: "",
        };
        let mut refused = Vec::new();
        for hash in [OaepHash::Sha256, OaepHash::Sha1] {
            let wrapper = RsaOaepRecipient::from_spki_der(&self.spki, std::path::Path::new(""))?
                .with_hash(hash);
            let stanza = wrapper.wrap(&probe, &ctx, &mut OsEntropy)?;
            count(Call::Probe);
            match self.decrypt(hash, &stanza.wrapped) {
                Ok(Some(p)) if p.as_slice() == probe.expose() => return Ok(hash),
                Ok(_) => refused.push(format!("{hash:?}: wrong plaintext")),
                Err(e) => refused.push(format!("{hash:?}: {}", super::error::describe(&e))),
            }
        }
        Err(self.token_error(ErrorKind::Mechanism(format!(
            "CKM_RSA_PKCS_OAEP decryption with SHA-256 or SHA-1 ({})",
            refused.join(", ")
        ))))
    }
}

impl StanzaKey for RsaWrapper {
    fn stanza_type(&self) -> &str {
        self.public.stanza_type()
    }
    fn key_id(&self) -> &str {
        self.public.key_id()
    }
}

impl Recipient for RsaWrapper {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        let hash = match self.hash.get() {
            Some(h) => *h,
            None => {
                let h = self.probe_hash()?;
                *self.hash.get_or_init(|| h)
            }
        };
        RsaOaepRecipient::from_spki_der(&self.spki, std::path::Path::new(""))?
            .with_hash(hash)
            .wrap(dek, ctx, entropy)
    }
}

/// An RSA key whose private key is in the token: the only RSA token key that decrypts.
struct RsaIdentity(RsaWrapper);

impl PublicHalf for RsaIdentity {
    fn public_half(&self) -> &dyn Recipient {
        &self.0
    }
}

impl Identity for RsaIdentity {
    fn unwrap(&self, stanza: &Stanza, _ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        let this = &self.0;
        let hash = match stanza.params.get(&1) {
            Some(ParamValue::Text(t)) if t == "sha256" => OaepHash::Sha256,
            Some(ParamValue::Text(t)) if t == "sha1" => OaepHash::Sha1,
            _ => return Err(unwrap_failed(self)),
        };
        // §10 step 7: the exact modulus length, before the token sees the bytes.
        software::check_wrapped_len(stanza, self.key_id(), this.public.modulus_len())?;
        count(Call::Unwrap);
        match this.decrypt(hash, &stanza.wrapped) {
            Ok(Some(p)) => DataKey::from_slice(&p).ok_or_else(|| unwrap_failed(self)),
            Ok(None) => Err(unwrap_failed(self)),
            Err(e)
                if hash == OaepHash::Sha256
                    && matches!(
                        rv(&e),
                        Some(RvError::ArgumentsBad | RvError::MechanismParamInvalid)
                    ) =>
            {
                Err(this.token_error(ErrorKind::Mechanism(format!(
                    "RSA-OAEP with SHA-256 ({}), which this stanza needs; decrypt with the software key or another token",
                    super::error::describe(&e)
                ))))
            }
            Err(e) => Err(this.token_error(call("C_Decrypt", &e))),
        }
    }
}
