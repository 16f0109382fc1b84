//! `file:PATH`: a secret in a file, read under the rules of key files ([`crate::keys::read`]): the
//! one open rule for trust material (no FIFO, a symlink only inside its own directory, as in the
//! Kubernetes atomic-writer layout `pin -> ..data/pin -> ..2026_…/pin`), bounded in size, into a
//! zeroizing buffer, and refused when someone besides its owner may read it (the one rule of
//! [`crate::fs::TrustedFile::readers`]) unless the caller allows it.

use super::SecretBytes;
use crate::keys::error::KeyError;
use crate::keys::read;
use std::path::Path;

/// Reads the secret file at `path` (newline handling is the caller's).
pub(super) fn read(path: &Path, allow_insecure: bool) -> Result<SecretBytes, KeyError> {
    let contents = read::read(path)?;
    read::check_secret_mode(path, &contents, allow_insecure)?;
    Ok(contents.bytes)
}
