//! Encryption into object storage (issue 19, the write side): `encrypt -o s3://B/P` (also `gs://`,
//! `az://`) streams each file's ciphertext into an upload of its own (`location::upload`:
//! multipart or resumable, committed only when complete, aborted on any error), with nothing
//! staged on local disk.
//!
//! The commit point: a directory's objects are uploaded first and its envelope
//! (`modelseal.envelope`) last, in one PUT; a prefix without the envelope is incomplete to every
//! reader (`decrypt`, `unseal` and `inspect` find the model through it). A single-file model is
//! one object (the envelope, then its ciphertext) that appears whole when its upload completes.
//!
//! An output location that already holds objects is refused unless `overwrite` (`--force`); then
//! the old envelope is deleted first (the prefix is incomplete while it is rewritten, never a
//! mix of two encryptions that looks whole), and after the new envelope is written every object
//! the new output does not list is deleted, since readers refuse extra objects.

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{make_late, LateFile, Output, Sealed, Source};
use crate::envelope::format::ENVELOPE_NAME;
use crate::envelope::keyschedule::KeySchedule;
use crate::envelope::stream::{
    ChunkLayout, FileCipher, FileObservers, Observers, StreamObserver, StreamWriter,
};
use crate::envelope::SealError;
use crate::location::{self, ObjectUrl};

/// Files uploaded at once: with [`location::PART_SIZE`] parts, [`location::PARTS_IN_FLIGHT`] in
/// flight, one queued and one being filled per upload, at most 4 × 6 × 8 MiB = 192 MiB of parts
/// are in memory, whatever the model size.
const UPLOADS_AT_ONCE: usize = 4;

/// Files uploaded at once when they are read from object storage too: each source object also
/// holds up to [`location::STREAM_AHEAD`] of ranges in flight plus two ranges, so 2 × (48 MiB of
/// parts + 40 MiB of ranges) = 176 MiB stay under the 256 MiB budget.
const UPLOADS_AT_ONCE_FROM_OBJECTS: usize = 2;

/// A bucket output, checked: where it goes and what was there before (also `decrypt`'s).
pub(in crate::envelope) struct BucketTarget {
    url: ObjectUrl,
    /// The full keys of the objects at and below the output location before the run.
    existing: Vec<String>,
}

impl BucketTarget {
    /// The bucket output `output` names (`None` for a local path). An output location that holds
    /// objects is refused unless `overwrite`.
    pub(in crate::envelope) fn of(
        output: &Path,
        overwrite: bool,
    ) -> Result<Option<BucketTarget>, SealError> {
        let Some(url) = location::Location::object(output) else {
            return match location::Location::of_path(output) {
                Err(e) => Err(SealError::Usage(e.to_string())),
                Ok(_) => Ok(None),
            };
        };
        let existing = location::objects_at(&url).map_err(|e| SealError::io(output, e))?;
        if let (false, Some(first)) = (overwrite, existing.first()) {
            return Err(SealError::Usage(format!(
                "{url}: the output location already holds {} object(s) (e.g. {first}); use the \
                 overwrite option (--force) to replace them",
                existing.len()
            )));
        }
        Ok(Some(BucketTarget { url, existing }))
    }

    /// The output location.
    pub(in crate::envelope) fn url(&self) -> &ObjectUrl {
        &self.url
    }

    /// A single-file model: one upload of the envelope and then the ciphertext.
    pub(super) fn write_single(
        &self,
        source: &Source,
        out: &Output<'_>,
        envelope: &[u8],
        observers: Observers,
    ) -> Result<(), SealError> {
        let observers = observers.into_iter().next().unwrap_or_default();
        upload_file(source, out, envelope, observers, &self.url)?;
        self.remove_stale(std::slice::from_ref(&self.url.prefix))
    }

    /// A directory model: every file's ciphertext object, then the late file (seal's inner
    /// signature, made once the others were read), then the envelope (the commit point), then the
    /// stale objects removed.
    pub(super) fn write_directory(
        &self,
        sources: &mut [Source],
        late: Option<(usize, &LateFile<'_>)>,
        out: &Output<'_>,
        observers: Observers,
        seal_header: impl FnOnce(&[Source]) -> Result<Sealed, SealError>,
    ) -> Result<Sealed, SealError> {
        let envelope_url = self.url.join(ENVELOPE_NAME);
        if self.existing.contains(&envelope_url.prefix) {
            // The old model stops being whole before any of its objects is replaced.
            location::delete_objects(&self.url, vec![envelope_url.prefix.clone()])
                .map_err(|e| SealError::io(envelope_url.to_string(), e))?;
        }
        // The observers are of the files but the late one, in order.
        let late_index = late.map(|(i, _)| i);
        let mut observers = observers.into_iter();
        let jobs: Vec<Mutex<Option<FileObservers>>> = (0..sources.len())
            .map(|i| match Some(i) == late_index {
                true => Mutex::new(None),
                false => Mutex::new(observers.next()),
            })
            .collect();
        let shared: &[Source] = sources;
        // The objects this run completed: removed again if it fails (a source object replaced
        // mid-run, an upload refused), so that a failed run leaves no partial model behind.
        let uploaded: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let at_once = match shared.iter().any(Source::is_stored) {
            true => UPLOADS_AT_ONCE_FROM_OBJECTS,
            false => UPLOADS_AT_ONCE,
        };
        let stored = each_until_error(shared.len(), at_once, |i| {
            if Some(i) == late_index {
                return Ok(());
            }
            let observers = jobs[i]
                .lock()
                .ok()
                .and_then(|mut o| o.take())
                .unwrap_or_default();
            let source = &shared[i];
            let dst = self.url.join(&source.entry.path);
            upload_file(source, out, &[], observers, &dst)?;
            if let Ok(mut done) = uploaded.lock() {
                done.push(dst.prefix);
            }
            Ok(())
        });
        let uploaded = uploaded.into_inner().unwrap_or_default();
        let committed = stored.and_then(|()| {
            if let Some((i, late)) = late {
                make_late(sources, i, late)?;
                upload_file(
                    &sources[i],
                    out,
                    &[],
                    FileObservers::default(),
                    &self.url.join(late.name),
                )?;
            }
            let sealed = seal_header(sources)?;
            let envelope_path = envelope_url.to_path();
            location::write_object(&envelope_path, sealed.envelope.clone(), true)
                .unwrap_or_else(|| Err(std::io::Error::other("not an object location")))
                .map_err(|e| SealError::io(&envelope_path, e))?;
            Ok(sealed)
        });
        let sealed = match committed {
            Ok(sealed) => sealed,
            Err(e) => {
                // Best effort: the run's error is the one to report; without an envelope the
                // objects left are an incomplete model to every reader anyway.
                let _ = location::delete_objects(&self.url, uploaded);
                return Err(e);
            }
        };
        let mut written: Vec<String> = sources
            .iter()
            .map(|s| self.url.join(&s.entry.path).prefix)
            .collect();
        written.push(envelope_url.prefix);
        self.remove_stale(&written)?;
        Ok(sealed)
    }

    /// Deletes the objects that were at the output location and are not part of the new output.
    pub(in crate::envelope) fn remove_stale(&self, written: &[String]) -> Result<(), SealError> {
        let stale: Vec<String> = self
            .existing
            .iter()
            .filter(|key| !written.contains(key))
            .cloned()
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        location::delete_objects(&self.url, stale).map_err(|e| {
            SealError::io(
                self.url.to_string(),
                std::io::Error::new(
                    e.kind(),
                    format!("the new model is written, but removing a stale object failed: {e}"),
                ),
            )
        })
    }
}

/// Runs `job(0)`, …, `job(count - 1)` on `workers` threads, in index order as threads come free;
/// after the first error no further job starts, and that error is returned (bucket writes: one
/// upload per job, so `workers` bounds the uploads in memory).
pub(in crate::envelope) fn each_until_error(
    count: usize,
    workers: usize,
    job: impl Fn(usize) -> Result<(), SealError> + Sync,
) -> Result<(), SealError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<SealError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(count) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || failed.load(Ordering::Relaxed) {
                    return;
                }
                if let Err(e) = job(i) {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(e);
                    }
                    return;
                }
            });
        }
    });
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Encrypts `source` into one upload to `dst`, after `head` (a single file's envelope): the
/// object appears only once every plaintext byte was read, found unchanged and (with
/// observers) matched, and the upload completed.
fn upload_file(
    source: &Source,
    out: &Output<'_>,
    head: &[u8],
    observers: FileObservers,
    dst: &ObjectUrl,
) -> Result<(), SealError> {
    let name = dst.to_path();
    let entry = &source.entry;
    let keys = out.dek.file_keys(&entry.path, &entry.salt);
    let cipher = FileCipher::new(&keys, ChunkLayout::new(out.chunk_size, entry.size))?;
    let mut upload = location::upload(dst).map_err(|e| SealError::io(&name, e))?;
    upload
        .write_all(head)
        .map_err(|e| SealError::io(&name, e))?;
    let src = source.open()?;
    // The plaintext observer sees the plaintext as it is read and the ciphertext observer
    // (seal's outer signature) the ciphertext as it goes into the upload; both on this thread.
    let FileObservers {
        plaintext: mut plaintext_observer,
        ciphertext,
    } = observers;
    let ciphertext_observer = Rc::new(RefCell::new(ciphertext));
    let tee = Tee {
        upload,
        observer: Rc::clone(&ciphertext_observer),
    };
    let mut writer = StreamWriter::new(tee, cipher);
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    // The bytes listed, in order: a file that shrank is refused here, one that grew (or was
    // rewritten) by the check after; an object of another version fails its pinned read.
    while at < entry.size {
        let n = buf
            .len()
            .min(usize::try_from(entry.size - at).unwrap_or(usize::MAX));
        src.read_exact_at(&mut buf[..n], at)
            .map_err(|e| source.read_error(e))?;
        if let Some(observer) = plaintext_observer.as_mut() {
            observer.observe(&buf[..n]);
        }
        writer
            .write_all(&buf[..n])
            .map_err(|e| SealError::io(&name, e))?;
        at += n as u64;
        out.progress.advance(n as u64);
    }
    source.check_read(&*src, "written to while it was being encrypted")?;
    let tee = writer.finish().map_err(|e| SealError::io(&name, e))?;
    let Tee { upload, .. } = tee;
    // Ciphertext first, as the disk pipeline checks them.
    if let Some(observer) = ciphertext_observer.borrow_mut().take() {
        observer.finish(&source.path)?;
    }
    if let Some(observer) = plaintext_observer {
        observer.finish(&source.path)?;
    }
    upload.finish().map_err(|e| SealError::io(&name, e))
}

/// An upload that shows the ciphertext written into it to the file's ciphertext observer, if any.
struct Tee {
    upload: location::Upload,
    observer: Rc<RefCell<Option<Box<dyn StreamObserver>>>>,
}

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.upload.write(data)?;
        if let Some(observer) = self.observer.borrow_mut().as_mut() {
            observer.observe(&data[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.upload.flush()
    }
}
