//! Recipients: the [`KeyWrapper`] trait every stanza type implements (`docs/FORMAT.md` §8), the
//! local backends ([`kek`], [`hpke`], [`rsa`]), key files (§8.8) and key generation.
//!
//! The rest of `seal` knows only the trait; a PKCS#11 or KMS backend is one more implementation.

pub mod hpke;
pub mod kek;
pub mod rsa;

use std::path::{Path, PathBuf};

use super::format::Stanza;
use super::keyschedule::{stanza_context, DataKey};
use super::SealError;
use crate::keys::KeyOptions;
use crate::rng::Entropy;

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

/// A key that wraps and unwraps the data key for one stanza type (§8).
pub trait KeyWrapper: Send + Sync {
    /// The stanza type this key produces and consumes, e.g. `"aes256-kek"`.
    fn stanza_type(&self) -> &str;
    /// The key identifier written in and matched against stanzas (§6.5).
    fn key_id(&self) -> &str;
    /// Wraps `dek` into a stanza bound to `ctx`, drawing any randomness from `entropy` (§16 order).
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, SealError>;
    /// This key's stanza among `stanzas` (§8.1), or `None`. The default matches `(type, key_id)`
    /// exactly; a backend whose `key_id` only the key service knows (a KMS alias) overrides it.
    fn select<'h>(&self, stanzas: &'h [Stanza]) -> Result<Option<&'h Stanza>, SealError> {
        Ok(stanzas
            .iter()
            .find(|s| s.stanza_type == self.stanza_type() && s.key_id == self.key_id()))
    }
    /// Unwraps the DEK from `stanza` (already shape-checked by the decoder). Any failure is
    /// [`SealError::Unwrap`] (or `Usage` for a public-only key); the caller adds the file name.
    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, SealError>;
    /// Whether this key holds the secret needed to unwrap (a public key only wraps).
    fn can_unwrap(&self) -> bool {
        true
    }
}

/// Shows which key this is (its stanza type and non-secret key id), never key material — the same
/// for a key file, a token key and a KMS key.
impl std::fmt::Debug for dyn KeyWrapper + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyWrapper({} {})", self.stanza_type(), self.key_id())
    }
}

/// The uniform unwrap failure (§8.1: causes are not distinguished).
pub(crate) fn unwrap_failed(w: &(impl KeyWrapper + ?Sized)) -> SealError {
    SealError::Unwrap {
        path: PathBuf::new(),
        stanza_type: w.stanza_type().to_owned(),
        key_id: w.key_id().to_owned(),
    }
}

/// Reads a secret key file (a KEK, a private key) through the one permission check of
/// [`crate::keys`]: refused when group or others may read it, unless
/// `options.allow_insecure_permissions` (DESIGN.md). The mode is taken from the open file.
pub(crate) fn read_secret_file(
    path: &Path,
    options: &KeyOptions,
) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
    use crate::keys::file;
    let contents = file::read(path).map_err(|e| from_key_error(path, e))?;
    file::check_secret_mode(path, contents.mode, options.allow_insecure_permissions)
        .map_err(|e| from_key_error(path, e))?;
    Ok(contents.bytes)
}

/// A key-file error of [`crate::keys`] as a [`SealError`] about `path` (I/O stays I/O).
fn from_key_error(path: &Path, err: crate::keys::KeyError) -> SealError {
    match err {
        crate::keys::KeyError::Io { path, source } => SealError::io(path, source),
        other => {
            let text = other.to_string();
            let prefix = format!("{}: ", path.display());
            let reason = text.strip_prefix(&prefix).unwrap_or(&text).to_owned();
            key_error(path, reason)
        }
    }
}

pub(crate) fn key_error(path: &Path, reason: impl Into<String>) -> SealError {
    SealError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A PEM document's label and DER bytes.
pub(crate) fn parse_pem(
    path: &Path,
    text: &[u8],
) -> Result<(String, zeroize::Zeroizing<Vec<u8>>), SealError> {
    let (label, der) = pkcs8::der::pem::decode_vec(text)
        .map_err(|e| key_error(path, format!("not a PEM key file: {e}")))?;
    Ok((label.to_owned(), zeroize::Zeroizing::new(der)))
}

/// Loads a key file for wrapping or unwrapping, by its content (§8.8): a hex KEK, a PKCS#8
/// `PRIVATE KEY` (RSA or X25519) or an SPKI `PUBLIC KEY` (RSA or X25519; wrap only). A secret
/// file that group or others may read is refused ([`load_key_file_with`] can allow it).
pub fn load_key_file(path: &Path) -> Result<Box<dyn KeyWrapper>, SealError> {
    load_key_file_with(path, &KeyOptions::default())
}

/// [`load_key_file`] with `options`: only `allow_insecure_permissions` applies (a KEK or a
/// private key file that group or others may read is accepted with it).
pub fn load_key_file_with(
    path: &Path,
    options: &KeyOptions,
) -> Result<Box<dyn KeyWrapper>, SealError> {
    let head = {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut f = std::fs::File::open(path).map_err(|e| SealError::io(path, e))?;
        let n = f.read(&mut buf).map_err(|e| SealError::io(path, e))?;
        buf[..n].to_vec()
    };
    if head.starts_with(b"-----BEGIN PUBLIC KEY-----") {
        let text = std::fs::read(path).map_err(|e| SealError::io(path, e))?;
        let (_, der) = parse_pem(path, &text)?;
        if der.windows(5).any(|w| w == [0x06, 0x03, 0x2B, 0x65, 0x6E]) && der.len() == 44 {
            return Ok(Box::new(hpke::X25519Wrapper::from_spki_der(&der, path)?));
        }
        return Ok(Box::new(rsa::RsaOaepWrapper::from_spki_der(&der, path)?));
    }
    if head.starts_with(b"-----BEGIN PRIVATE KEY-----") {
        let text = read_secret_file(path, options)?;
        let (_, der) = parse_pem(path, &text)?;
        if der.len() == 48 && der.windows(5).any(|w| w == [0x06, 0x03, 0x2B, 0x65, 0x6E]) {
            return Ok(Box::new(hpke::X25519Wrapper::from_pkcs8_der(&der, path)?));
        }
        return Ok(Box::new(rsa::RsaOaepWrapper::from_pkcs8_der(&der, path)?));
    }
    Ok(Box::new(kek::KekWrapper::from_file(path, options)?))
}

/// Opens a recipient from a key reference (`docs/DESIGN.md` "Key references"), the one string the
/// CLI's `--recipient`, Python's `recipients=` and rewrap's additions take: a KEK file, an X25519
/// or RSA public (or private) key file, by path or `file:` URI, a key in a PKCS#11 token
/// (`pkcs11:` URI: an AES-256 key → `pkcs11-aes`, an RSA key → `rsa-oaep`), or a symmetric AWS KMS
/// key (`awskms://`, §8.7).
/// Every failure is [`SealError::Key`] naming the reference. A KEK or private key file that
/// group or others may read is refused ([`open_recipient_with`] can allow it).
pub fn open_recipient(reference: &str) -> Result<Box<dyn KeyWrapper>, SealError> {
    open_recipient_with(reference, &KeyOptions::default())
}

/// [`open_recipient`] with `options` (only `allow_insecure_permissions` applies: key files).
pub fn open_recipient_with(
    reference: &str,
    options: &KeyOptions,
) -> Result<Box<dyn KeyWrapper>, SealError> {
    let parsed: crate::keys::KeyRef = reference.parse().map_err(|e| match e {
        crate::keys::KeyError::Reference {
            reference: shown,
            reason,
        } => key_error(Path::new(&shown), reason),
        other => key_error(Path::new(reference), other.to_string()),
    })?;
    match parsed {
        crate::keys::KeyRef::File(path) => {
            load_key_file_with(&path, options).map_err(|e| match e {
                SealError::Io { path, source } => {
                    key_error(&path, format!("cannot read: {source}"))
                }
                other => other,
            })
        }
        crate::keys::KeyRef::Pkcs11(uri) => Ok(crate::keys::pkcs11::open_key_wrapper(&uri)?),
        crate::keys::KeyRef::AwsKms(kms) => crate::keys::awskms::open_wrapper(&kms),
    }
}

/// Opens the identity that decrypts (or rewraps): like [`open_recipient`], but the key must hold
/// its secret — a public key is refused with a reason instead of failing at unwrap.
pub fn open_identity(reference: &str) -> Result<Box<dyn KeyWrapper>, SealError> {
    open_identity_with(reference, &KeyOptions::default())
}

/// [`open_identity`] with `options` (only `allow_insecure_permissions` applies: key files).
pub fn open_identity_with(
    reference: &str,
    options: &KeyOptions,
) -> Result<Box<dyn KeyWrapper>, SealError> {
    let key = open_recipient_with(reference, options)?;
    if !key.can_unwrap() {
        let shown = if reference.starts_with(crate::keys::pkcs11::SCHEME) {
            crate::keys::pkcs11::redact(reference)
        } else {
            reference.to_owned()
        };
        return Err(key_error(
            Path::new(&shown),
            "is a public key; decrypting needs the private key",
        ));
    }
    Ok(key)
}

/// Which kind of key [`generate_key`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// A 32-byte AES-256 KEK in a hex file (`aes256-kek`).
    Aes256Kek,
    /// An X25519 key pair in PEM (`x25519-hpke`).
    X25519,
    /// An RSA-3072 key pair in PEM (`rsa-oaep`).
    Rsa3072,
}

/// Files written by [`generate_key`].
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The secret key file (mode 0600).
    pub secret: PathBuf,
    /// The public key file (`<secret>.pub`, mode 0644), for key pairs.
    pub public: Option<PathBuf>,
    /// Stanza type.
    pub stanza_type: &'static str,
    /// The key identifier (§6.5).
    pub key_id: String,
}

/// Generates a key with the OS CSPRNG and writes it atomically to `path` (0600) and, for key pairs,
/// the public key to `path.pub` (0644). Existing files are never replaced.
pub fn generate_key(kind: KeyKind, path: &Path) -> Result<GeneratedKey, SealError> {
    generate_key_files(kind, path, None, false)
}

/// Generates a key like [`generate_key`], with the public key of a key pair written to `public`
/// (default `<path>.pub`, §8.8); a KEK has no public part, so `public` must be `None` for it.
/// As for signing keys (`keys::generate`): existing files are replaced only when `force`, and both
/// targets are checked before either is written, so a refusal writes nothing.
pub fn generate_key_files(
    kind: KeyKind,
    path: &Path,
    public: Option<&Path>,
    force: bool,
) -> Result<GeneratedKey, SealError> {
    use crate::fs::atomic::{write_atomic, MODE_PUBLIC, MODE_SECRET};
    if kind == KeyKind::Aes256Kek && public.is_some() {
        return Err(SealError::Usage(
            "an aes256-kek key is secret only: it has no public key to write".into(),
        ));
    }
    let pub_path = match kind {
        KeyKind::Aes256Kek => None,
        _ => Some(public.map(Path::to_path_buf).unwrap_or_else(|| {
            let mut p = path.as_os_str().to_owned();
            p.push(".pub");
            PathBuf::from(p)
        })),
    };
    if !force {
        for p in std::iter::once(path).chain(pub_path.as_deref()) {
            if p.symlink_metadata().is_ok() {
                return Err(SealError::Usage(format!(
                    "{}: already exists (use force to replace it)",
                    p.display()
                )));
            }
        }
    }
    let mut entropy = crate::rng::OsEntropy;
    let (secret, public, stanza_type, key_id) = match kind {
        KeyKind::Aes256Kek => {
            let k = kek::KekWrapper::generate(&mut entropy)?;
            (
                k.to_file_text(),
                None,
                kek::STANZA_TYPE,
                k.key_id().to_owned(),
            )
        }
        KeyKind::X25519 => {
            let k = hpke::X25519Wrapper::generate(&mut entropy)?;
            let (s, p) = k.to_pem()?;
            (s, Some(p), hpke::STANZA_TYPE, k.key_id().to_owned())
        }
        KeyKind::Rsa3072 => {
            let k = rsa::RsaOaepWrapper::generate_3072()?;
            let (s, p) = k.to_pem()?;
            (s, Some(p), rsa::STANZA_TYPE, k.key_id().to_owned())
        }
    };
    write_atomic(path, secret.as_bytes(), MODE_SECRET, force)
        .map_err(|e| SealError::io(path, e))?;
    if let (Some(pp), Some(text)) = (&pub_path, public) {
        write_atomic(pp, text.as_bytes(), MODE_PUBLIC, force).map_err(|e| SealError::io(pp, e))?;
    }
    Ok(GeneratedKey {
        secret: path.to_path_buf(),
        public: pub_path,
        stanza_type,
        key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::OsEntropy;
    use std::os::unix::fs::PermissionsExt;

    fn ctx() -> WrapContext<'static> {
        WrapContext {
            body_digest: [5; 32],
            model_name: "m",
        }
    }

    #[test]
    fn generated_keys_load_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [KeyKind::Aes256Kek, KeyKind::X25519, KeyKind::Rsa3072] {
            let path = dir.path().join(format!("{kind:?}"));
            let g = generate_key(kind, &path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let secret = load_key_file(&path).unwrap();
            assert_eq!(secret.key_id(), g.key_id);
            assert_eq!(secret.stanza_type(), g.stanza_type);
            let wrapper: Box<dyn KeyWrapper> = match &g.public {
                Some(p) => load_key_file(p).unwrap(),
                None => load_key_file(&path).unwrap(),
            };
            assert_eq!(wrapper.key_id(), g.key_id);
            let dek = DataKey::from_bytes([9; 32]);
            let stanza = wrapper.wrap(&dek, &ctx(), &mut OsEntropy).unwrap();
            let back = secret.unwrap(&stanza, &ctx()).unwrap();
            assert_eq!(back.expose(), dek.expose());
            // Bound to the body (except rsa-oaep, bound by the header MAC only).
            let other = WrapContext {
                body_digest: [6; 32],
                model_name: "m",
            };
            let r = secret.unwrap(&stanza, &other);
            assert_eq!(r.is_err(), kind != KeyKind::Rsa3072, "{kind:?}");
            assert!(generate_key(kind, &path).is_err(), "never overwrites");
        }
    }

    #[test]
    fn refuses_readable_secret_files_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let allow = KeyOptions {
            allow_insecure_permissions: true,
            ..KeyOptions::default()
        };
        for kind in [KeyKind::Aes256Kek, KeyKind::X25519, KeyKind::Rsa3072] {
            let path = dir.path().join(format!("{kind:?}"));
            let g = generate_key(kind, &path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let reference = path.to_str().unwrap();
            for err in [
                load_key_file(&path).err().unwrap(),
                open_identity(reference).err().unwrap(),
                open_recipient(reference).err().unwrap(),
            ] {
                assert_eq!(err.code(), "key");
                let text = err.to_string();
                assert!(text.starts_with(reference), "{text}");
                assert!(text.contains("permissions 644"), "{text}");
                assert!(text.contains("--allow-insecure-key-permissions"), "{text}");
            }
            let key = open_identity_with(reference, &allow).unwrap();
            assert_eq!(key.key_id(), g.key_id);
            // Write bits for others do not expose the secret (the check of `keys::file`).
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
            assert!(load_key_file(&path).is_ok());
        }
    }

    #[test]
    fn key_files_follow_the_signing_key_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pem");
        let public = dir.path().join("x.pub.pem");
        let g = generate_key_files(KeyKind::X25519, &path, Some(&public), false).unwrap();
        assert_eq!(g.public.as_deref(), Some(public.as_path()));
        let mode = std::fs::metadata(&public).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let before = std::fs::read(&path).unwrap();
        // Refused without force, and nothing is written.
        let err = generate_key_files(KeyKind::X25519, &path, Some(&public), false).unwrap_err();
        assert_eq!(err.code(), "usage");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let again = generate_key_files(KeyKind::X25519, &path, Some(&public), true).unwrap();
        assert_ne!(again.key_id, g.key_id);
        assert_eq!(
            open_recipient(public.to_str().unwrap()).unwrap().key_id(),
            again.key_id
        );
        // A KEK has no public half.
        let kek = dir.path().join("kek");
        assert!(generate_key_files(KeyKind::Aes256Kek, &kek, Some(&public), true).is_err());
        assert!(!kek.exists());
    }

    #[test]
    fn references_open_typed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.pem");
        let g = generate_key(KeyKind::X25519, &path).unwrap();
        let public = g.public.unwrap();
        let by_uri = format!("file:{}", public.display());
        let r = open_recipient(&by_uri).unwrap();
        assert_eq!(
            (r.stanza_type(), r.key_id()),
            ("x25519-hpke", g.key_id.as_str())
        );
        assert!(!r.can_unwrap());
        let err = open_identity(public.to_str().unwrap()).err().unwrap();
        assert_eq!(err.code(), "key");
        assert!(err.to_string().contains("public key"), "{err}");
        assert!(open_identity(path.to_str().unwrap()).unwrap().can_unwrap());
        for refused in ["pkcs11:token=a", "awskms:///", ""] {
            let err = open_recipient(refused).err().unwrap();
            assert_eq!(err.code(), "key", "{refused}");
        }
        let missing = open_recipient(dir.path().join("nope").to_str().unwrap());
        assert_eq!(missing.err().unwrap().code(), "key");
    }
}
