//! Fingerprints of findings, and the allow-list file of accepted ones.
//!
//! A fingerprint is SHA-256 over a version tag, the rule, the file's path, the metadata field, the
//! match's position and its length — never the secret — truncated to 128 bits and written as 32
//! hex digits. It is stable across runs and machines for an unchanged file, and nothing in it
//! depends on the secret's bytes, so no amount of guessing recovers a short secret from it. The
//! cost: editing the file above a finding moves it and changes its fingerprint, so an accepted
//! finding has to be accepted again (docs/scan.md).
//!
//! The allow-list is a text file: one fingerprint per line, optionally followed by a comment
//! after `#`; blank lines and `#` lines are ignored. Anything else is an error naming the line,
//! so a mistyped entry does not silently accept nothing.

use super::ScanError;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Largest allow-list file read.
const MAX_ALLOW_BYTES: u64 = 4 * 1024 * 1024;

/// The fingerprint of a finding of `rule` in `path` (and `field`), at `position`, `len` bytes long.
pub(super) fn fingerprint(
    rule: &str,
    path: &str,
    field: Option<&str>,
    position: u64,
    len: usize,
) -> String {
    let mut h = Sha256::new();
    for part in [
        "modelseal-scan-v1",
        rule,
        path,
        field.unwrap_or(""),
        &position.to_string(),
        &len.to_string(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Accepted findings, by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    path: Option<PathBuf>,
    fingerprints: BTreeSet<String>,
}

impl AllowList {
    /// Reads the allow-list file at `path`.
    pub fn load(path: &Path) -> Result<AllowList, ScanError> {
        let err = |line, reason: String| ScanError::AllowList {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let file = crate::fs::open_following(path).map_err(|e| err(0, e.to_string()))?;
        let mut text = String::new();
        use std::io::Read;
        file.take(MAX_ALLOW_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| err(0, e.to_string()))?;
        if text.len() as u64 > MAX_ALLOW_BYTES {
            return Err(err(0, format!("larger than {MAX_ALLOW_BYTES} bytes")));
        }
        let mut list = AllowList::parse(&text).map_err(|(line, reason)| err(line, reason))?;
        list.path = Some(path.to_path_buf());
        Ok(list)
    }

    /// Parses allow-list text; an error is the 1-based line and why.
    pub fn parse(text: &str) -> Result<AllowList, (usize, String)> {
        let mut fingerprints = BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            if entry.len() != 32 || !entry.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err((
                    i + 1,
                    "not a fingerprint (32 hex digits, as `modelseal scan` prints them)".into(),
                ));
            }
            fingerprints.insert(entry.to_ascii_lowercase());
        }
        Ok(AllowList {
            path: None,
            fingerprints,
        })
    }

    /// The file it was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether `fingerprint` is accepted.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.fingerprints.contains(fingerprint)
    }

    /// How many fingerprints it holds.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }
}
