//! The one generator of key files, for every [`KeyKind`]: a signing key pair (PKCS#8 v1 PEM private
//! key, optionally the SPKI PEM public key), an AES-256 KEK (hex), or an X25519 / RSA-3072 key pair
//! (PKCS#8 and SPKI PEM, the public key by default at `<private>.pub`; `docs/FORMAT.md` §8.8).
//!
//! Guarantees: randomness comes from the operating system; secrets are written with mode 0600 and
//! public keys 0644, each atomically so a crash leaves either the whole file or none; existing files
//! are never replaced unless `force`, and when one would be refused nothing at all is written.

use super::hpke::{self, X25519Identity};
use super::kek::{self, KekWrapper};
use super::rsa::{self, RsaOaepIdentity};
use super::secret::PrivateKey;
use crate::fs::atomic::{write_atomic, MODE_PUBLIC, MODE_SECRET};
use crate::keys::error::KeyError;
use crate::keys::kind::{KeyAlgorithm, KeyKind};
use crate::keys::public::PublicKey;
use crate::keys::wrapping::StanzaKey;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The files [`generate`] wrote and what identifies the new key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GeneratedKey {
    /// The kind generated.
    pub kind: KeyKind,
    /// The secret key file (mode 0600).
    pub secret: PathBuf,
    /// The public key file (mode 0644), if one was written.
    pub public: Option<PathBuf>,
    /// The public key of a signing key pair; `None` for encryption keys.
    pub public_key: Option<PublicKey>,
    /// The stanza type of an encryption key (`aes256-kek`, `x25519-hpke`, `rsa-oaep`); `None` for
    /// signing keys.
    pub stanza_type: Option<&'static str>,
    /// What identifies the key: the OMS key hint of a signing key's public key, or the key
    /// identifier of an encryption key (`docs/FORMAT.md` §6.5).
    pub key_id: String,
}

/// Generates a key of `kind` into `private_out` and, for key pairs, its public key into
/// `public_out`. Signing keys write a public key only when `public_out` is given; X25519 and RSA
/// pairs default to `<private_out>.pub`; a KEK has no public part, so `public_out` must be `None`.
pub fn generate(
    kind: KeyKind,
    private_out: &Path,
    public_out: Option<&Path>,
    force: bool,
) -> Result<GeneratedKey, KeyError> {
    if kind == KeyKind::Aes256Kek && public_out.is_some() {
        return Err(KeyError::Usage(
            "an aes256-kek key is secret only: it has no public key to write".into(),
        ));
    }
    let public_path = match kind {
        KeyKind::X25519 | KeyKind::Rsa3072 => Some(public_out.map_or_else(
            || {
                let mut p = private_out.as_os_str().to_owned();
                p.push(".pub");
                PathBuf::from(p)
            },
            Path::to_path_buf,
        )),
        _ => public_out.map(Path::to_path_buf),
    };
    if !force {
        // Check both before writing either, so a refused public output leaves no new private key.
        for path in std::iter::once(private_out).chain(public_path.as_deref()) {
            if path.symlink_metadata().is_ok() {
                return Err(KeyError::Exists {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    let made = make(kind)?;
    write(private_out, made.secret.as_bytes(), MODE_SECRET, force)?;
    if let (Some(path), Some(text)) = (&public_path, &made.public) {
        write(path, text.as_bytes(), MODE_PUBLIC, force)?;
    }
    Ok(GeneratedKey {
        kind,
        secret: private_out.to_path_buf(),
        public: public_path.filter(|_| made.public.is_some()),
        key_id: match &made.public_key {
            Some(public) => public.hint(),
            None => made.key_id,
        },
        public_key: made.public_key,
        stanza_type: made.stanza_type,
    })
}

/// Generates a signing key pair (see [`generate`]) and returns its public key.
pub fn generate_signing_key(
    algorithm: KeyAlgorithm,
    private_out: &Path,
    public_out: Option<&Path>,
    force: bool,
) -> Result<PublicKey, KeyError> {
    let generated = generate(algorithm.into(), private_out, public_out, force)?;
    generated
        .public_key
        .ok_or_else(|| KeyError::Crypto("a signing key pair without a public key".into()))
}

/// A new key in memory: the secret file's text, the public file's text, and what identifies it.
struct Made {
    secret: Zeroizing<String>,
    public: Option<String>,
    public_key: Option<PublicKey>,
    stanza_type: Option<&'static str>,
    key_id: String,
}

fn make(kind: KeyKind) -> Result<Made, KeyError> {
    if let Some(algorithm) = kind.signing_algorithm() {
        let key = random_signing_key(algorithm);
        let public = key.public_key()?;
        return Ok(Made {
            secret: key.to_pkcs8_pem()?,
            public: Some(public.to_pem()),
            key_id: String::new(),
            public_key: Some(public),
            stanza_type: None,
        });
    }
    let mut entropy = crate::rng::OsEntropy;
    let (secret, public, stanza_type, key_id) = match kind {
        KeyKind::Aes256Kek => {
            let k = KekWrapper::generate(&mut entropy)?;
            (
                k.to_file_text(),
                None,
                kek::STANZA_TYPE,
                k.key_id().to_owned(),
            )
        }
        KeyKind::X25519 => {
            let k = X25519Identity::generate(&mut entropy)?;
            let (s, p) = k.to_pem()?;
            (s, Some(p), hpke::STANZA_TYPE, k.key_id().to_owned())
        }
        _ => {
            let k = RsaOaepIdentity::generate_3072()?;
            let (s, p) = k.to_pem()?;
            (s, Some(p), rsa::STANZA_TYPE, k.key_id().to_owned())
        }
    };
    Ok(Made {
        secret,
        public,
        public_key: None,
        stanza_type: Some(stanza_type),
        key_id,
    })
}

fn random_signing_key(algorithm: KeyAlgorithm) -> PrivateKey {
    let mut rng = rand_core::OsRng;
    match algorithm {
        KeyAlgorithm::EcP256 => PrivateKey::P256(p256::ecdsa::SigningKey::random(&mut rng)),
        KeyAlgorithm::EcP384 => PrivateKey::P384(p384::ecdsa::SigningKey::random(&mut rng)),
        KeyAlgorithm::EcP521 => PrivateKey::P521(p521::ecdsa::SigningKey::random(&mut rng)),
        KeyAlgorithm::Ed25519 => PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
    }
}

fn write(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<(), KeyError> {
    write_atomic(path, bytes, mode, force).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            KeyError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}
