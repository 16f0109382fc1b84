//! Encrypted models in object storage (issue 19): reading the envelope of an `s3://`, `gs://` or
//! `az://` encrypted model, and decrypting one into a local file or directory — the
//! init-container case.
//!
//! The seam is the reader the envelope already decrypts through: [`ChunkReader`] over any
//! `Read + Seek`. Here that is a [`location::ObjectFile`] (pinned, parallel ranged GETs fetched
//! ahead), so every chunk is authenticated by the same code as a local file's, as its bytes
//! arrive, and no ciphertext byte is written to local disk.
//!
//! Guarantees, as for a local encrypted model (`decrypt`): nothing is written before the header
//! MAC verified and the listing matched the authenticated file list (every listed file present
//! at exactly its ciphertext length, nothing else below the prefix but the envelope, the git names
//! and caller-named skips); plaintext goes only into a private temporary beside the target, and
//! the target appears only after every chunk of every file verified. Each object is pinned to the
//! version its listing saw: an object replaced during the run is an error naming it
//! ([`SealError::Tree`]: exit 1, like tampering), never plaintext from two versions.

use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::authenticate::{
    authenticate, envelope_from_bytes, parse_envelope, Form, Opened, RawEnvelope,
};
use super::decrypt::{DecryptOptions, DecryptSummary};
use super::format::{FileEntry, ENVELOPE_NAME, MAC_LEN, MAGIC, MAX_HEADER_LEN, PREFIX_LEN};
use super::keyschedule::KeySchedule;
use super::stream::{check_ct_len, ChunkLayout, ChunkReader, FileCipher};
use super::SealError;
use crate::fs::commit::{create_new, write_file_beside, StagingDir};
use crate::keys::wrapping::{DataKey, Identity};
use crate::location::{self, ListedModel, ObjectFile, ObjectUrl};
use crate::progress::Progress;
use crate::tree::{TreeError, WalkOptions};

/// The envelope of an encrypted model in object storage, parsed (not authenticated), with the
/// listing it was found in.
pub(crate) struct RemoteEnvelope {
    /// The parsed envelope; its paths are the objects' URLs.
    pub raw: RawEnvelope,
    listed: ListedModel,
    /// A single-file model's object, positioned just after the envelope (its payload follows).
    single: Option<ObjectFile>,
}

/// Every object below the prefix: the inventory, not the walk's ignores, decides what is allowed.
fn list_all(url: &ObjectUrl) -> Result<ListedModel, SealError> {
    let options = WalkOptions {
        ignore: Vec::new(),
        ignore_git_paths: false,
        allow_symlinks: false,
    };
    location::list_objects(url, &options).map_err(|e| tree_error(url, e))
}

fn tree_error(url: &ObjectUrl, error: TreeError) -> SealError {
    match error {
        TreeError::Storage { location, reason } => {
            SealError::io(location, io::Error::other(reason))
        }
        TreeError::InvalidName { name, reason } => SealError::Tree {
            path: PathBuf::from(url.child(&name)),
            reason: reason.to_owned(),
        },
        other => SealError::Tree {
            path: url.to_path(),
            reason: other.to_string(),
        },
    }
}

/// §10 steps 1–4 on `url`: list it, find its form (an object of its own: a single-file model; a
/// prefix: a directory whose envelope is the object `modelseal.envelope`), parse the envelope.
pub(crate) fn read_envelope(url: &ObjectUrl) -> Result<RemoteEnvelope, SealError> {
    let listed = list_all(url)?;
    let root = url.to_path();
    if listed.tree.single_file {
        let mut object = listed
            .open(".")
            .ok_or_else(|| SealError::format(&root, "not listed"))?;
        let total = object.len();
        let form = Form::SingleFile(root.clone());
        let raw = parse_envelope(form, root.clone(), &mut object, total)
            .map_err(changed_as_tree_error)?;
        return Ok(RemoteEnvelope {
            raw,
            listed,
            single: Some(object),
        });
    }
    let env_path = PathBuf::from(url.child(ENVELOPE_NAME));
    let mut object = listed.open(ENVELOPE_NAME).ok_or_else(|| {
        SealError::format(
            &root,
            format!(
                "incomplete: no envelope ({ENVELOPE_NAME}) below the prefix — an encryption \
                 into it did not finish, or it is not an encrypted model"
            ),
        )
    })?;
    let most = (PREFIX_LEN + MAX_HEADER_LEN + MAC_LEN) as u64;
    if object.len() > most {
        return Err(SealError::format(
            &env_path,
            format!("{} bytes, over the largest envelope ({most})", object.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(object.len() as usize);
    object
        .read_to_end(&mut bytes)
        .map_err(|e| changed_as_tree_error(SealError::io(&env_path, e)))?;
    Ok(RemoteEnvelope {
        raw: envelope_from_bytes(&root, &bytes)?,
        listed,
        single: None,
    })
}

/// Whether `url` looks like an encrypted model (see `inspect::is_encrypted`): a prefix holding
/// `modelseal.envelope`, or an object starting with the magic bytes. Proves nothing; a store
/// that cannot be read answers `false`.
pub(crate) fn is_encrypted(url: &ObjectUrl) -> bool {
    let Ok(listed) = list_all(url) else {
        return false;
    };
    if !listed.tree.single_file {
        return listed.open(ENVELOPE_NAME).is_some();
    }
    let mut head = [0u8; MAGIC.len()];
    listed
        .open(".")
        .is_some_and(|mut object| object.read_exact(&mut head).is_ok() && head == MAGIC)
}

/// An encrypted model in object storage, authenticated and inventoried (§10 steps 1–9), nothing
/// of it decrypted yet.
pub(crate) struct RemoteModel {
    /// The authenticated envelope.
    pub opened: Opened,
    /// Each listed file's ciphertext object (pinned) and its URL as a path, in file order.
    pub sources: Vec<(ObjectFile, PathBuf)>,
}

impl RemoteModel {
    /// Where a file's ciphertext starts in its object: after the envelope for a single file.
    pub fn base(&self) -> u64 {
        match self.opened.form {
            Form::SingleFile(_) => self.opened.envelope_len,
            Form::Directory(_) => 0,
        }
    }
}

/// Reads, authenticates and inventories the encrypted model at `url` (see the module doc):
/// nothing is decrypted, and nothing is returned unless every listed file is present at exactly
/// its ciphertext length and nothing unlisted (but `skip`) lies below the prefix.
pub(crate) fn open(
    url: &ObjectUrl,
    identity: &dyn Identity,
    skip: &[String],
) -> Result<RemoteModel, SealError> {
    let envelope = read_envelope(url)?;
    let opened = authenticate(envelope.raw, identity)?;
    let body = &opened.header.body;
    let sources = match envelope.single {
        Some(object) => {
            let entry = &body.files[0];
            let name = url.to_path();
            let expected =
                opened.envelope_len + ChunkLayout::new(body.chunk_size, entry.size).ct_len();
            check_ct_len(object.len(), expected, &name)?;
            vec![(object, name)]
        }
        None => inventory(url, &body.files, body.chunk_size, &envelope.listed, skip)?,
    };
    Ok(RemoteModel { opened, sources })
}

/// Decrypts the encrypted model at `url` with `identity` into the local `output` (§10; see the
/// module doc). The caller has checked `output` (exists, stale temporaries).
pub(crate) fn decrypt(
    url: &ObjectUrl,
    identity: &dyn Identity,
    output: &Path,
    options: &DecryptOptions,
    progress: &dyn Progress,
) -> Result<DecryptSummary, SealError> {
    let model = open(url, identity, &options.skip)?;
    let base = model.base();
    let RemoteModel { opened, sources } = model;
    let body = &opened.header.body;
    let sources: Vec<_> = body
        .files
        .iter()
        .zip(sources)
        .map(|(entry, (object, name))| (entry, object, name))
        .collect();
    progress.begin(sources.iter().map(|(entry, ..)| entry.size).sum());
    let plain = Plain {
        dek: &opened.dek,
        chunk_size: body.chunk_size,
        base,
        progress,
    };
    match opened.form {
        Form::SingleFile(_) => {
            let [(entry, object, name)] = <[_; 1]>::try_from(sources)
                .map_err(|_| SealError::Crypto("a single-file model of several files".into()))?;
            write_file_beside(output, options.file_mode, options.overwrite, |dst| {
                plain.copy(entry, object, &name, &mut &*dst, output)
            })?;
        }
        Form::Directory(_) => {
            // Removed, with every plaintext byte in it, on any error (also a panic).
            let staging = StagingDir::beside(output, 0o700)?;
            sources
                .into_par_iter()
                .try_for_each(|(entry, object, name)| {
                    let dst_path = staging.path().join(&entry.path);
                    // create_new: names that collide on a case-insensitive file system fail.
                    let dst = create_new(&dst_path, 0o600, 0o700)?;
                    plain.copy(entry, object, &name, &mut &dst, &dst_path)?;
                    dst.set_permissions(std::fs::Permissions::from_mode(options.file_mode))
                        .and_then(|_| dst.sync_all())
                        .map_err(|e| SealError::io(&dst_path, e))
                })?;
            staging.commit(output, options.overwrite)?;
        }
    }
    let files = &body.files;
    Ok(DecryptSummary {
        model_name: body.model_name.clone(),
        files: files.len(),
        bytes: files.iter().map(|f| f.size).sum(),
        body_digest: opened.body_digest,
        recipient: (identity.stanza_type().into(), identity.key_id().into()),
    })
}

/// §10 step 9 on a listing: every file of the authenticated list present at exactly its
/// ciphertext length; nothing else below the prefix but the envelope and what §4.2 skips.
fn inventory(
    url: &ObjectUrl,
    files: &[FileEntry],
    chunk_size: u32,
    listed: &ListedModel,
    skip: &[String],
) -> Result<Vec<(ObjectFile, PathBuf)>, SealError> {
    for file in &listed.tree.files {
        let name = file.name.as_str();
        let known = name == ENVELOPE_NAME || files.iter().any(|f| f.path == name);
        if !known && !skipped(name, skip) {
            return Err(SealError::Tree {
                path: PathBuf::from(url.child(name)),
                reason: format!(
                    "extra entry in the encrypted model {url} (not in the authenticated file list)"
                ),
            });
        }
    }
    files
        .iter()
        .map(|entry| {
            let path = PathBuf::from(url.child(&entry.path));
            let object = listed.open(&entry.path).ok_or_else(|| SealError::Tree {
                path: path.clone(),
                reason: "missing file (listed in the authenticated header)".into(),
            })?;
            let expected = ChunkLayout::new(chunk_size, entry.size).ct_len();
            check_ct_len(object.len(), expected, &path)?;
            Ok((object, path))
        })
        .collect()
}

/// §4.2: unlisted names at or below the top-level git names or a Hugging Face `--local-dir`
/// cache, or a caller-named skip path (as the local inventory skips them).
fn skipped(name: &str, skip: &[String]) -> bool {
    let top = name.split('/').next().unwrap_or(name);
    let below = |p: &str| name == p || name.starts_with(&format!("{p}/"));
    crate::tree::DEFAULT_IGNORES.contains(&top)
        || below(crate::tree::HUGGING_FACE_LOCAL_DIR_CACHE)
        || skip.iter().any(|p| below(p))
}

/// What decrypting one file needs besides the file.
pub(crate) struct Plain<'a> {
    /// The model's data key.
    pub dek: &'a DataKey,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Where the file's ciphertext starts in its source (after a single file's envelope).
    pub base: u64,
    /// Told the plaintext bytes as they are released.
    pub progress: &'a dyn Progress,
}

impl Plain<'_> {
    /// Streams `source`'s ciphertext (a local file or a pinned object) through the chunk reader
    /// into `dst`: each chunk is authenticated before a byte of it is released, and `Ok` means
    /// every chunk of the file, the final one included, was.
    pub fn copy<R: Read + Seek>(
        &self,
        entry: &FileEntry,
        source: R,
        name: &Path,
        dst: &mut dyn Write,
        dst_name: &Path,
    ) -> Result<(), SealError> {
        let keys = self.dek.file_keys(&entry.path, &entry.salt);
        let cipher = FileCipher::new(&keys, ChunkLayout::new(self.chunk_size, entry.size))?;
        let mut reader = ChunkReader::new(source, cipher, self.base, name)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(|e| unwrap_read(e, name))?;
            if n == 0 {
                return Ok(());
            }
            dst.write_all(&buf[..n])
                .map_err(|e| SealError::io(dst_name, e))?;
            self.progress.advance(n as u64);
        }
    }
}

/// The [`SealError`] a chunk reader's `io::Error` carries, an object replaced mid-run as
/// [`SealError::Tree`] naming it.
fn unwrap_read(error: io::Error, name: &Path) -> SealError {
    let seal = if error.get_ref().is_some_and(|inner| inner.is::<SealError>()) {
        match error
            .into_inner()
            .map(|inner| inner.downcast::<SealError>())
        {
            Some(Ok(seal)) => *seal,
            _ => SealError::Crypto("an unreadable read error".into()),
        }
    } else {
        SealError::io(name, error)
    };
    changed_as_tree_error(seal)
}

/// An I/O error of an object that changed since it was listed, as the tamper error it is.
fn changed_as_tree_error(error: SealError) -> SealError {
    match error {
        SealError::Io { path, source } if location::is_changed(&source) => SealError::Tree {
            path,
            reason: location::ObjectChanged.to_string(),
        },
        other => other,
    }
}
