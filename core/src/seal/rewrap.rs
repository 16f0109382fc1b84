//! Rewrap: add or remove recipients without touching per-file ciphertext (`docs/FORMAT.md` §12).
//!
//! Guarantees: proceeds only from an authenticated header; keeps `body_bytes` and every kept
//! stanza (also of unknown types) byte for byte; replaces the envelope atomically (directory:
//! O(recipients) work; single file: one sequential copy of the payload, no decryption).

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::envelope::{build_envelope, open_authenticated, open_nofollow, parent_dir, Form};
use super::format::{Header, MAX_STANZAS};
use super::recipient::{KeyWrapper, WrapContext};
use super::rng::{Entropy, OsEntropy};
use super::SealError;

/// Recipients after a rewrap: `(type, key_id)` of every stanza, in order.
pub type Recipients = Vec<(String, String)>;

/// Rewraps `encrypted` (unwrapping with `identity`): removes the stanzas named in `remove` (each
/// must exist), then appends stanzas for `add` (none may exist already).
pub fn rewrap(
    encrypted: &Path,
    identity: &dyn KeyWrapper,
    add: &[&dyn KeyWrapper],
    remove: &[(String, String)],
) -> Result<Recipients, SealError> {
    rewrap_with_entropy(encrypted, identity, add, remove, &mut OsEntropy)
}

pub(crate) fn rewrap_with_entropy(
    encrypted: &Path,
    identity: &dyn KeyWrapper,
    add: &[&dyn KeyWrapper],
    remove: &[(String, String)],
    entropy: &mut dyn Entropy,
) -> Result<Recipients, SealError> {
    let opened = open_authenticated(encrypted, identity)?;
    let mut stanzas = opened.header.stanzas.clone();
    for (t, k) in remove {
        let before = stanzas.len();
        stanzas.retain(|s| !(s.stanza_type == *t && s.key_id == *k));
        if stanzas.len() == before {
            return Err(SealError::Usage(format!("{t} {k} is not a recipient")));
        }
    }
    let ctx = WrapContext {
        body_digest: opened.body_digest,
        model_name: &opened.header.body.model_name,
    };
    for r in add {
        if stanzas
            .iter()
            .any(|s| s.stanza_type == r.stanza_type() && s.key_id == r.key_id())
        {
            return Err(SealError::Usage(format!(
                "{} {} is already a recipient",
                r.stanza_type(),
                r.key_id()
            )));
        }
        stanzas.push(r.wrap(&opened.dek, &ctx, entropy)?);
    }
    if stanzas.is_empty() || stanzas.len() > MAX_STANZAS {
        return Err(SealError::Usage(format!(
            "{} recipients after rewrap; between 1 and {MAX_STANZAS} are needed",
            stanzas.len()
        )));
    }
    let header = Header {
        body_bytes: opened.header.body_bytes.clone(),
        body: opened.header.body.clone(),
        stanzas,
    };
    let envelope = build_envelope(&header, &opened.dek)?;
    let path = &opened.envelope_path;
    let mode = std::fs::metadata(path)
        .map_err(|e| SealError::io(path, e))?
        .permissions()
        .mode()
        & 0o7777;
    match &opened.form {
        Form::Directory(_) => crate::fsutil::write_atomic(path, &envelope, mode, true)
            .map_err(|e| SealError::io(path, e))?,
        Form::SingleFile(_) => replace_single(path, &envelope, opened.envelope_len, mode)?,
    }
    Ok(header
        .stanzas
        .iter()
        .map(|s| (s.stanza_type.clone(), s.key_id.clone()))
        .collect())
}

fn replace_single(
    path: &Path,
    envelope: &[u8],
    old_envelope_len: u64,
    mode: u32,
) -> Result<(), SealError> {
    let parent = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".modelseal-tmp-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&parent)
        .map_err(|e| SealError::io(&parent, e))?;
    let mut src = open_nofollow(path)?;
    let io = |e| SealError::io(path, e);
    tmp.write_all(envelope).map_err(io)?;
    src.seek(SeekFrom::Start(old_envelope_len)).map_err(io)?;
    // std::io::copy uses copy_file_range between files on Linux.
    std::io::copy(&mut src, tmp.as_file_mut()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path)
        .map_err(|e| SealError::io(path, e.error))?;
    crate::fsutil::sync_dir(&parent).map_err(|e| SealError::io(&parent, e))
}
