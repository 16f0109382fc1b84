//! Random access to one file of an encrypted model without decrypting the rest (§10 last
//! paragraph, §11): authenticate the envelope, check that file's type and length, and return a
//! [`ChunkReader`] that releases only verified bytes. It guarantees that file, not the whole tree.

use std::fs::File;
use std::path::Path;

use super::envelope::{open_authenticated, open_nofollow, Form};
use super::recipient::KeyWrapper;
use super::stream::{ChunkLayout, ChunkReader, FileCipher};
use super::SealError;

/// Opens the file `name` (`None` or `"."` for a single-file model) of `encrypted` for reading.
pub fn open_file(
    encrypted: &Path,
    name: Option<&str>,
    identity: &dyn KeyWrapper,
) -> Result<ChunkReader<File>, SealError> {
    let opened = open_authenticated(encrypted, identity)?;
    let body = &opened.header.body;
    let wanted = name.unwrap_or(".");
    let entry = body
        .files
        .iter()
        .find(|f| f.path == wanted)
        .ok_or_else(|| {
            SealError::Usage(format!("{wanted}: not a file of {}", encrypted.display()))
        })?;
    let (path, base) = match &opened.form {
        Form::SingleFile(p) => (p.clone(), opened.envelope_len),
        Form::Directory(root) => (root.join(&entry.path), 0),
    };
    let file = open_nofollow(&path)?;
    let meta = file.metadata().map_err(|e| SealError::io(&path, e))?;
    if !meta.is_file() {
        return Err(SealError::Tree {
            path,
            reason: "not a regular file".into(),
        });
    }
    let keys = opened.dek.file_keys(&entry.path, &entry.salt);
    let cipher = FileCipher::new(&keys, ChunkLayout::new(body.chunk_size, entry.size))?;
    ChunkReader::new(file, cipher, base, &path)
}
