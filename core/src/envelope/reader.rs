//! Random access to one file of an encrypted model without decrypting the rest (§10 last
//! paragraph, §11): authenticate the envelope, check that file's type and length, and return a
//! [`ChunkReader`] that releases only verified bytes. It guarantees that file, not the whole tree.

use std::fs::File;
use std::path::Path;

use super::authenticate::{open_authenticated, Form};
use super::format::ENVELOPE_NAME;
use super::keyschedule::KeySchedule;
use super::stream::{ChunkLayout, ChunkReader, FileCipher};
use super::SealError;
use crate::keys::wrapping::Identity;

/// Opens the file `name` (`None` or `"."` for a single-file model) of `encrypted` for reading.
pub fn open_file(
    encrypted: &Path,
    name: Option<&str>,
    identity: &dyn Identity,
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
    let file = crate::fs::open_nofollow(&path).map_err(|e| SealError::io(&path, e))?;
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

/// Opens one encrypted file for reading, found from its own path: a single-file model, or a file
/// inside an encrypted directory (the nearest ancestor holding `modelseal.envelope` is the model,
/// and the file's path below it is its name in the body).
pub fn open_path(path: &Path, identity: &dyn Identity) -> Result<ChunkReader<File>, SealError> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| SealError::io(path, e))?;
    if meta.is_dir() {
        return Err(SealError::Usage(format!(
            "{}: is a directory; name one encrypted file (a single-file model or a file inside an \
             encrypted directory)",
            path.display()
        )));
    }
    if super::inspect::is_encrypted(path) {
        return open_file(path, None, identity);
    }
    let absolute = std::path::absolute(path).map_err(|e| SealError::io(path, e))?;
    let mut root = absolute.parent();
    while let Some(dir) = root {
        if dir.join(ENVELOPE_NAME).symlink_metadata().is_ok() {
            let name = relative_name(&absolute, dir, path)?;
            return open_file(dir, Some(&name), identity);
        }
        root = dir.parent();
    }
    Err(SealError::format(
        path,
        "not a modelseal encrypted file (no magic bytes, and no modelseal.envelope in a parent \
         directory)",
    ))
}

/// `file` relative to `root`, `/`-separated.
fn relative_name(file: &Path, root: &Path, shown: &Path) -> Result<String, SealError> {
    let rel = file
        .strip_prefix(root)
        .map_err(|_| SealError::Usage(format!("{}: not inside its model", shown.display())))?;
    let parts = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SealError::Usage(format!("{}: name is not UTF-8", shown.display())))?;
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{encrypt, plaintext_from_path, EncryptOptions};
    use crate::keys::file::kek::KekWrapper;
    use std::io::{Read, Seek, SeekFrom};

    #[test]
    fn opens_by_path_in_either_layout() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(model.join("sub/w.bin"), &data).unwrap();
        let kek = KekWrapper::from_bytes([4; 32]);
        let opts = EncryptOptions {
            chunk_size: 4096,
            ..EncryptOptions::default()
        };
        let enc = dir.path().join("enc");
        encrypt(&plaintext_from_path(&model).unwrap(), &[&kek], &enc, &opts).unwrap();
        let single = dir.path().join("w.mseal");
        let input = plaintext_from_path(&model.join("sub/w.bin")).unwrap();
        encrypt(&input, &[&kek], &single, &opts).unwrap();
        for path in [enc.join("sub/w.bin"), single] {
            let mut r = open_path(&path, &kek).unwrap();
            r.seek(SeekFrom::Start(9000)).unwrap();
            let mut got = [0u8; 100];
            r.read_exact(&mut got).unwrap();
            assert_eq!(got[..], data[9000..9100], "{}", path.display());
        }
        assert_eq!(open_path(&enc, &kek).err().unwrap().code(), "usage");
        let plain = open_path(&model.join("sub/w.bin"), &kek).err().unwrap();
        assert_eq!(plain.code(), "format");
    }
}
