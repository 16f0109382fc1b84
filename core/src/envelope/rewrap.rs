//! Rewrap: add or remove recipients without touching per-file ciphertext (`docs/FORMAT.md` §12).
//!
//! Guarantees: proceeds only from an authenticated header; keeps `body_bytes` and every kept
//! stanza (also of unknown types) byte for byte; replaces the envelope atomically (directory:
//! O(recipients) work; single file: one sequential copy of the payload, no decryption).

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::authenticate::{build_envelope, open_authenticated, Form};
use super::format::{Header, Stanza, MAX_STANZAS};
use super::SealError;
use crate::keys::wrapping::{Identity, Recipient, WrapContext};
use crate::rng::{Entropy, OsEntropy};

/// Recipients after a rewrap: `(type, key_id)` of every stanza, in order.
pub type Recipients = Vec<(String, String)>;

/// Rewraps `encrypted` (unwrapping with `identity`): removes the stanzas named in `remove` (each
/// must exist), then appends stanzas for `add` (none may exist already).
pub fn rewrap(
    encrypted: &Path,
    identity: &dyn Identity,
    add: &[&dyn Recipient],
    remove: &[(String, String)],
) -> Result<Recipients, SealError> {
    let removals: Vec<Removal<'_>> = remove.iter().map(|(t, k)| Removal::Stanza(t, k)).collect();
    rewrap_inner(encrypted, identity, add, &removals, &mut OsEntropy)
}

/// [`rewrap`] with the stanzas to remove named by `key_id` alone — the `key_id` that `inspect`
/// shows. Each must name exactly one stanza (key ids of different types never collide in practice,
/// because the id hashes the type's label; if they did, the rewrap is refused as ambiguous).
pub fn rewrap_key_ids(
    encrypted: &Path,
    identity: &dyn Identity,
    add: &[&dyn Recipient],
    remove: &[String],
) -> Result<Recipients, SealError> {
    let removals: Vec<Removal<'_>> = remove.iter().map(|k| Removal::KeyId(k)).collect();
    rewrap_inner(encrypted, identity, add, &removals, &mut OsEntropy)
}

/// A stanza to remove.
enum Removal<'a> {
    /// By `(type, key_id)`.
    Stanza(&'a str, &'a str),
    /// By `key_id` alone.
    KeyId(&'a str),
}

impl Removal<'_> {
    fn matches(&self, s: &Stanza) -> bool {
        match self {
            Removal::Stanza(t, k) => s.stanza_type == *t && s.key_id == *k,
            Removal::KeyId(k) => s.key_id == *k,
        }
    }

    fn describe(&self) -> String {
        match self {
            Removal::Stanza(t, k) => format!("{t} {k}"),
            Removal::KeyId(k) => (*k).to_owned(),
        }
    }
}

#[cfg(test)]
pub(crate) fn rewrap_with_entropy(
    encrypted: &Path,
    identity: &dyn Identity,
    add: &[&dyn Recipient],
    remove: &[(String, String)],
    entropy: &mut dyn Entropy,
) -> Result<Recipients, SealError> {
    let removals: Vec<Removal<'_>> = remove.iter().map(|(t, k)| Removal::Stanza(t, k)).collect();
    rewrap_inner(encrypted, identity, add, &removals, entropy)
}

fn rewrap_inner(
    encrypted: &Path,
    identity: &dyn Identity,
    add: &[&dyn Recipient],
    remove: &[Removal<'_>],
    entropy: &mut dyn Entropy,
) -> Result<Recipients, SealError> {
    let opened = open_authenticated(encrypted, identity)?;
    let mut stanzas = opened.header.stanzas.clone();
    for removal in remove {
        match stanzas.iter().filter(|s| removal.matches(s)).count() {
            0 => {
                return Err(SealError::Usage(format!(
                    "{} is not a recipient",
                    removal.describe()
                )))
            }
            1 => stanzas.retain(|s| !removal.matches(s)),
            _ => {
                return Err(SealError::Usage(format!(
                    "key id {} names several recipients",
                    removal.describe()
                )))
            }
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
        Form::Directory(_) => crate::fs::atomic::write_atomic(path, &envelope, mode, true)
            .map_err(|e| SealError::io(path, e))?,
        Form::SingleFile(_) => replace_single(path, &envelope, opened.envelope_len, mode)?,
    }
    Ok(header
        .stanzas
        .iter()
        .map(|s| (s.stanza_type.clone(), s.key_id.clone()))
        .collect())
}

/// Replaces the single-file model at `path` by `envelope` followed by its unchanged payload (from
/// `old_envelope_len` on), through a temporary committed over it atomically, with `mode`.
fn replace_single(
    path: &Path,
    envelope: &[u8],
    old_envelope_len: u64,
    mode: u32,
) -> Result<(), SealError> {
    let mut src = crate::fs::open_nofollow(path).map_err(|e| SealError::io(path, e))?;
    crate::fs::commit::write_file_beside(path, mode, true, |mut tmp| {
        let io = |e| SealError::io(path, e);
        tmp.write_all(envelope).map_err(io)?;
        src.seek(SeekFrom::Start(old_envelope_len)).map_err(io)?;
        // std::io::copy uses copy_file_range between files on Linux.
        std::io::copy(&mut src, &mut tmp).map_err(io)?;
        Ok(())
    })
}
