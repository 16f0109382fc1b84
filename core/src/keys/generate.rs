//! Generating a key pair into files: PKCS#8 v1 PEM private key (mode 0600), SPKI PEM public key
//! (mode 0644), both written atomically so a crash leaves either the whole file or none.
//!
//! Randomness comes from the operating system (`OsRng`). Existing files are never replaced
//! unless `force`, and when they would be refused nothing at all is written.

use super::secret::PrivateKey;
use super::{KeyAlgorithm, KeyError, PublicKey};
use crate::fs::atomic::{write_atomic, MODE_PUBLIC, MODE_SECRET};
use std::path::Path;

/// See [`super::generate`].
pub(crate) fn generate(
    algorithm: KeyAlgorithm,
    private_out: &Path,
    public_out: Option<&Path>,
    force: bool,
) -> Result<PublicKey, KeyError> {
    if !force {
        // Check both before writing either, so a refused public output leaves no new private key.
        for path in std::iter::once(private_out).chain(public_out) {
            if path.symlink_metadata().is_ok() {
                return Err(KeyError::Exists {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    let key = random_key(algorithm);
    let public = key.public_key()?;
    let private_pem = key.to_pkcs8_pem()?;
    write(private_out, private_pem.as_bytes(), MODE_SECRET, force)?;
    if let Some(path) = public_out {
        write(path, public.to_pem().as_bytes(), MODE_PUBLIC, force)?;
    }
    Ok(public)
}

fn random_key(algorithm: KeyAlgorithm) -> PrivateKey {
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
