//! The file backend: keys in files on disk, for signing (EC P-256/P-384/P-521, Ed25519) and for
//! wrapping the data key (an AES-256 KEK, X25519/HPKE, RSA-OAEP; `docs/FORMAT.md` §8.3–8.5, §8.8).
//!
//! Layout: `load` is the one
//! loader (a file's PEM label and the algorithm identifier inside decide what it holds, parsed, not
//! sniffed); [`generate`](mod@generate) is the one generator, for every [`crate::keys::KeyKind`]; `secret` and `signer`
//! are the signing key and its [`crate::keys::Signer`]; [`kek`], [`hpke`] and [`rsa`] are the
//! wrapping keys.

pub mod generate;
pub mod hpke;
pub mod kek;
pub(crate) mod load;
pub mod rsa;
mod secret;
pub(crate) mod signer;

pub use generate::{generate, generate_signing_key, GeneratedKey};

use super::error::KeyError;
use super::keyref::KeyOptions;
use super::public::PublicKey;
use std::path::Path;

/// The public key in a file: a `PUBLIC KEY` (SPKI), a `CERTIFICATE` (its key; the certificate is
/// not validated) or a private key file (its public half; read under the default
/// [`KeyOptions`], so it must not be group/world readable, and an encrypted one needs
/// [`crate::keys::open::public_key_of`] with a password file).
pub fn load_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    load::public_key(path, &KeyOptions::default())
}
