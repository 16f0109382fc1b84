//! Rekor checkpoints: a signed note (transparency-dev `note` format) whose text names the log
//! origin, the tree size and the root hash.
//!
//! ```text
//! rekor.sigstore.dev - 1193050959916656506      origin
//! 84437788                                       tree size
//! 6LgsIBWGEM0QwyPvHIqtMBZOneCWtxe8D3AfxOaezq4=   root hash (base64)
//!                                                blank line ends the note text
//! — rekor.sigstore.dev wNI9ajBFAiEA…             signature: key hash[4] ‖ signature, base64
//! ```
//!
//! Guarantees: [`verify`] accepts only when a signature line whose 4-byte key hash matches the
//! log's key id (Rekor v1: SHA-256 of the key; Rekor v2: the trusted root's log id) verifies over the exact note text (up to and including the newline before the
//! blank line) under the log key, and the note's size and root hash are the ones given.

use super::root::LogKey;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Largest checkpoint envelope read (bytes); Rekor's are about 200.
const MAX_ENVELOPE: usize = 64 * 1024;

/// Checks `envelope` is a checkpoint of `log` for a tree of `size` leaves with root `root_hash`.
pub(crate) fn verify(
    envelope: &str,
    log: &LogKey,
    size: u64,
    root_hash: &[u8; 32],
) -> Result<(), String> {
    if envelope.len() > MAX_ENVELOPE {
        return Err(format!("checkpoint is longer than {MAX_ENVELOPE} bytes"));
    }
    let (text, signatures) = split_note(envelope)?;
    check_signature(text, signatures, log)?;
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err("checkpoint has an empty origin line".into());
    }
    let note_size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("checkpoint's second line is not a tree size")?;
    let note_root = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .ok_or("checkpoint's third line is not a base64 root hash")?;
    if note_size != size {
        return Err(format!(
            "the checkpoint is for a tree of {note_size} entries, the inclusion proof for {size}"
        ));
    }
    if note_root != root_hash {
        return Err("the checkpoint's root hash is not the inclusion proof's root hash".into());
    }
    Ok(())
}

/// Splits a signed note at its one blank line into the signed text (with its final newline) and
/// the signature block.
fn split_note(envelope: &str) -> Result<(&str, &str), String> {
    let mut parts = envelope.match_indices("\n\n");
    let (at, _) = parts
        .next()
        .ok_or("checkpoint has no blank line between text and signatures")?;
    if parts.next().is_some() {
        return Err("checkpoint has more than one blank line".into());
    }
    let signatures = &envelope[at + 2..];
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err("checkpoint's signature block is empty or lacks its final newline".into());
    }
    Ok((&envelope[..=at], signatures))
}

/// One signature line must carry `log`'s key hash and verify over `text`.
fn check_signature(text: &str, signatures: &str, log: &LogKey) -> Result<(), String> {
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(format!(
                "checkpoint signature line {line:?} does not start with '— '"
            ));
        };
        let Some((_name, sig)) = rest.split_once(' ') else {
            return Err("checkpoint signature line has no signature".into());
        };
        let bytes = STANDARD
            .decode(sig)
            .map_err(|e| format!("checkpoint signature is not base64 ({e})"))?;
        let hint = &bytes[..bytes.len().min(4)];
        if bytes.len() < 5 || (hint != &log.key_id[..4] && !log.log_id.starts_with(hint)) {
            continue;
        }
        return log
            .key
            .verify(text.as_bytes(), &bytes[4..])
            .map_err(|_| "the checkpoint's signature does not verify under the log key".into());
    }
    Err("the checkpoint carries no signature by the log's key".into())
}
