//! What [`super::encrypt_matching`] requires: that the plaintext it encrypts is the plaintext a
//! signed manifest covers. Each file's bytes are hashed, in the same read that feeds the cipher
//! (as a [`StreamObserver`] of the one encryption scheduler, [`super::stream`]), and compared
//! with the manifest's digests ([`crate::digest::StreamCheck`]).
//!
//! `seal` relies on it: the ciphertext it publishes can only hold the content its inner signature
//! covers — a file rewritten, added or removed between signing and encrypting fails the run
//! ([`SealError::Changed`], "changed while sealing") instead of being sealed under a signature that
//! does not match it.

use std::path::{Path, PathBuf};

use super::format::FileEntry;
use super::stream::{FileObservers, Observers, StreamObserver};
use super::SealError;
use crate::digest::{SignedDigests, StreamCheck};

/// The signed manifest the encrypted files must match, and the files it does not cover on purpose.
pub(crate) struct SignedPlaintext<'a> {
    /// The digests of the signed files.
    pub signed: &'a SignedDigests,
    /// Names of files encrypted unchecked (e.g. the signature itself).
    pub unsigned: &'a [&'a str],
}

impl SignedPlaintext<'_> {
    /// One observer per file (`None` for the unsigned ones), in order, after checking that the
    /// files to encrypt (`(entry, source path)`) and the manifest list the same names.
    pub fn observers(&self, files: &[(&FileEntry, &Path)]) -> Result<Observers, SealError> {
        let names: std::collections::HashSet<&str> =
            files.iter().map(|(entry, _)| entry.path.as_str()).collect();
        if let Some(missing) = self.signed.file_names().find(|n| !names.contains(n)) {
            return Err(SealError::Changed {
                path: PathBuf::from(missing),
                reason: "changed while sealing: signed, but no longer among the files to encrypt"
                    .into(),
            });
        }
        files
            .iter()
            .map(|(entry, path)| {
                if self.unsigned.contains(&entry.path.as_str()) {
                    return Ok(FileObservers::default());
                }
                match self.signed.check(&entry.path, entry.size) {
                    Some(check) => Ok(FileObservers::plaintext(Box::new(DigestObserver(check)))),
                    None => Err(SealError::Changed {
                        path: path.to_path_buf(),
                        reason: "changed while sealing: appeared after the model was signed".into(),
                    }),
                }
            })
            .collect()
    }
}

/// Hashes one file's plaintext as it is encrypted and compares it with its signed digests.
struct DigestObserver(StreamCheck);

impl StreamObserver for DigestObserver {
    fn observe(&mut self, plaintext: &[u8]) {
        self.0.update(plaintext);
    }

    fn finish(self: Box<Self>, file: &Path) -> Result<(), SealError> {
        self.0.finish().map_err(|reason| SealError::Changed {
            path: file.to_path_buf(),
            reason: format!("changed while sealing: {reason}"),
        })
    }
}
