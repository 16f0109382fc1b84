//! Decryption into object storage (issue 19): `decrypt -o s3://B/P` (also `gs://`, `az://`), from
//! a local or a bucket encrypted model, with nothing staged on local disk.
//!
//! The completion rule (a plaintext prefix has no envelope to mark it whole): every file's
//! plaintext streams into an upload of its own (`location::upload`), released chunk by chunk only
//! after each chunk authenticated, and the upload is *staged* — every byte stored, not completed,
//! so no reader sees the object — once its last chunk authenticated. Only when **every** file of
//! the model authenticated are the uploads completed, in file order. So no plaintext object of
//! a model that fails authentication is ever visible, and a reader of the prefix (KServe's storage
//! initializer, a plain `aws s3 cp --recursive`) sees nothing of it until the completion phase,
//! which sends one small request per file. Any failure before it aborts every upload (nothing
//! visible); a failure during it deletes the objects this run completed (best effort: the error
//! says when that failed too).
//!
//! An output location that already holds objects is refused unless `overwrite` (the rule and code
//! of encrypt's bucket output, [`BucketTarget`]); with it, the new objects replace the old ones as
//! they complete, and the old objects the new model does not have are deleted last.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{inventory, open_ciphertext, DecryptOptions, DecryptSummary};
use crate::envelope::authenticate::{open_authenticated, Form, Opened};
use crate::envelope::encrypt::bucket::{each_until_error, BucketTarget};
use crate::envelope::format::FileEntry;
use crate::envelope::remote::{self, Plain};
use crate::envelope::stream::ChunkLayout;
use crate::envelope::SealError;
use crate::keys::wrapping::Identity;
use crate::location::{self, ObjectFile, ObjectUrl, Staged, Store, PART_SIZE};
use crate::progress::Progress;

/// Files decrypted at once. Each holds at most one upload's parts (48 MiB, see
/// `location::upload`) and, from a bucket, one object's read-ahead (8 ranges of 8 MiB on a
/// two-core machine): 2 × (48 + 72) = 240 MiB at most, whatever the model size. A staged S3 or
/// Azure upload holds no bytes.
const FILES_AT_ONCE: usize = 2;

/// The most bytes staged GCS uploads may hold: a GCS resumable upload's last request creates its
/// object, so a staged upload keeps its last part (the file's size modulo the part size) in
/// memory until the completion phase. With one GCS upload sending a part at a time
/// (2 × 24 MiB), 2 × 72 MiB of read-ahead and this, the total stays within 256 MiB.
const GCS_HELD_MOST: u64 = 48 << 20;

/// Where a file's ciphertext is: a local file (opened when its turn comes) or a pinned object.
enum Ciphertext {
    Local,
    Object(ObjectFile),
}

/// Decrypts `encrypted` (a local path or a bucket location) with `identity` into the bucket
/// location `output` (see the module doc). `Ok(None)` when `output` is not a bucket location.
pub(super) fn decrypt(
    encrypted: &Path,
    identity: &dyn Identity,
    output: &Path,
    options: &DecryptOptions,
    progress: &dyn Progress,
) -> Result<Option<DecryptSummary>, SealError> {
    // Refused before anything is read when it holds objects (unless overwrite).
    let Some(target) = BucketTarget::of(output, options.overwrite)? else {
        return Ok(None);
    };
    let (opened, sources) = open_model(encrypted, identity, &options.skip)?;
    let body = &opened.header.body;
    let url = target.url();
    let dsts: Vec<ObjectUrl> = match opened.form {
        Form::SingleFile(_) if url.prefix.is_empty() => {
            return Err(SealError::Usage(format!(
                "{url}: a single-file model decrypts into one object; name it (BUCKET/KEY)"
            )))
        }
        Form::SingleFile(_) => vec![url.clone()],
        Form::Directory(_) => body.files.iter().map(|f| url.join(&f.path)).collect(),
    };
    check_held(url, &body.files)?;
    progress.begin(body.files.iter().map(|f| f.size).sum());
    let plain = Plain {
        dek: &opened.dek,
        chunk_size: body.chunk_size,
        base: match opened.form {
            Form::SingleFile(_) => opened.envelope_len,
            Form::Directory(_) => 0,
        },
        progress,
    };
    let staged = stage_all(&plain, &body.files, sources, &dsts)?;
    complete_all(url, staged, &dsts)?;
    let written: Vec<String> = dsts.iter().map(|d| d.prefix.clone()).collect();
    target.remove_stale(&written)?;
    Ok(Some(DecryptSummary {
        model_name: body.model_name.clone(),
        files: body.files.len(),
        bytes: body.files.iter().map(|f| f.size).sum(),
        body_digest: opened.body_digest,
        recipient: (identity.stanza_type().into(), identity.key_id().into()),
    }))
}

/// The authenticated, inventoried model at `encrypted`, with each file's ciphertext (and its name
/// for messages) in file order.
fn open_model(
    encrypted: &Path,
    identity: &dyn Identity,
    skip: &[String],
) -> Result<(Opened, Vec<(Ciphertext, PathBuf)>), SealError> {
    if let Some(url) = location::Location::object(encrypted) {
        let model = remote::open(&url, identity, skip)?;
        let sources = model
            .sources
            .into_iter()
            .map(|(object, name)| (Ciphertext::Object(object), name))
            .collect();
        return Ok((model.opened, sources));
    }
    let opened = open_authenticated(encrypted, identity)?;
    let sources = inventory(&opened, skip)?
        .into_iter()
        .map(|(_, path)| (Ciphertext::Local, path))
        .collect();
    Ok((opened, sources))
}

/// Refuses a GCS output whose staged uploads would hold more than [`GCS_HELD_MOST`] bytes.
fn check_held(url: &ObjectUrl, files: &[FileEntry]) -> Result<(), SealError> {
    if url.store != Store::Gcs {
        return Ok(());
    }
    let held: u64 = files.iter().map(|f| f.size % PART_SIZE as u64).sum();
    if held <= GCS_HELD_MOST {
        return Ok(());
    }
    Err(SealError::Usage(format!(
        "{url}: decrypting these {} files into GCS would hold {} MiB of last parts in memory \
         until every file authenticated, over the {} MiB bound; decrypt to a local directory \
         (or into S3 or Azure, which hold none)",
        files.len(),
        held >> 20,
        GCS_HELD_MOST >> 20
    )))
}

/// Decrypts every file into its staged upload, [`FILES_AT_ONCE`] at a time; the staged uploads
/// in file order. On the first error the others stop, and every upload (staged or not) is
/// aborted as it is dropped.
fn stage_all(
    plain: &Plain<'_>,
    files: &[FileEntry],
    sources: Vec<(Ciphertext, PathBuf)>,
    dsts: &[ObjectUrl],
) -> Result<Vec<Staged>, SealError> {
    let sources: Vec<Mutex<Option<(Ciphertext, PathBuf)>>> =
        sources.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let staged: Vec<Mutex<Option<Staged>>> = files.iter().map(|_| Mutex::new(None)).collect();
    each_until_error(files.len(), FILES_AT_ONCE, |i| {
        let source = sources[i].lock().ok().and_then(|mut s| s.take());
        let (ciphertext, name) =
            source.ok_or_else(|| SealError::Crypto("a file decrypted twice".into()))?;
        let upload = stage_file(plain, &files[i], ciphertext, &name, &dsts[i])?;
        if let Ok(mut slot) = staged[i].lock() {
            *slot = Some(upload);
        }
        Ok(())
    })?;
    staged
        .into_iter()
        .zip(dsts)
        .map(|(slot, dst)| {
            slot.into_inner().ok().flatten().ok_or_else(|| {
                SealError::Crypto(format!("{dst}: no staged upload after decryption"))
            })
        })
        .collect()
}

/// Streams one file's plaintext into a new upload to `dst` and stages it: `Ok` only when every
/// chunk of the file, the last included, authenticated and every byte is stored (not visible).
fn stage_file(
    plain: &Plain<'_>,
    entry: &FileEntry,
    ciphertext: Ciphertext,
    name: &Path,
    dst: &ObjectUrl,
) -> Result<Staged, SealError> {
    let dst_name = dst.to_path();
    let mut upload = location::upload(dst).map_err(|e| SealError::io(&dst_name, e))?;
    match ciphertext {
        Ciphertext::Local => {
            let expected = plain.base + ChunkLayout::new(plain.chunk_size, entry.size).ct_len();
            let file = open_ciphertext(name, expected)?;
            plain.copy(entry, file, name, &mut upload, &dst_name)?;
        }
        Ciphertext::Object(object) => plain.copy(entry, object, name, &mut upload, &dst_name)?,
    }
    upload.stage().map_err(|e| SealError::io(&dst_name, e))
}

/// Completes the staged uploads in order. On a failure the rest are aborted and the objects
/// completed so far deleted; the error names the object and says whether that cleanup failed.
fn complete_all(url: &ObjectUrl, staged: Vec<Staged>, dsts: &[ObjectUrl]) -> Result<(), SealError> {
    let mut completed: Vec<String> = Vec::new();
    let mut uploads = staged.into_iter().zip(dsts);
    for (upload, dst) in uploads.by_ref() {
        if let Err(e) = upload.finish() {
            // The uploads not completed yet are aborted before the cleanup.
            drop(uploads);
            let reason = match location::delete_objects(url, completed.clone()) {
                Ok(()) if completed.is_empty() => format!("{e}"),
                Ok(()) => format!(
                    "{e}; the {} object(s) this run completed were deleted",
                    completed.len()
                ),
                Err(cleanup) => format!(
                    "{e}; deleting the {} object(s) this run completed below {url} also \
                     failed ({cleanup}): delete them",
                    completed.len()
                ),
            };
            return Err(SealError::io(
                dst.to_path(),
                io::Error::new(e.kind(), reason),
            ));
        }
        completed.push(dst.prefix.clone());
    }
    Ok(())
}
