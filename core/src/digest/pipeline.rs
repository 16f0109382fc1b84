//! Hashing one large file with read-ahead: a reader thread fills big buffers while the hashing
//! thread consumes the previous one, so disk and page-cache copies overlap the hashing.
//!
//! Memory is bounded by [`DEPTH`] buffers of the chosen size, whatever the file size. Buffers are
//! recycled through a channel, so nothing is allocated per chunk. BLAKE3 hashes each buffer with
//! `update_rayon`, using every core on a single file.

use super::hasher::StreamHasher;
use super::plan::Job;
use super::read::{changed, read_at_most};
use super::{DigestError, HashAlgorithm, Progress};
use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// Buffers in flight: one being hashed, one being filled, one spare to absorb jitter.
const DEPTH: usize = 3;

/// A filled buffer and how many of its bytes are data.
type Filled = Result<(Vec<u8>, usize), DigestError>;

/// Hashes `job` with a read-ahead thread and `buffer_size`-byte buffers.
pub(super) fn hash_job(
    job: &Job<'_>,
    algorithm: HashAlgorithm,
    buffer_size: usize,
    progress: &dyn Progress,
) -> Result<Vec<u8>, DigestError> {
    let path = &job.file.path;
    let file = File::open(path).map_err(|source| DigestError::Io {
        path: path.clone(),
        source,
    })?;
    let (filled_tx, filled_rx) = sync_channel::<Filled>(DEPTH);
    let (empty_tx, empty_rx) = channel::<Vec<u8>>();
    for _ in 0..DEPTH {
        // Cannot fail: the receiver is alive in this scope.
        let _ = empty_tx.send(vec![0; buffer_size]);
    }
    let mut hasher = StreamHasher::new(algorithm);
    let hashed = std::thread::scope(|scope| {
        scope.spawn(|| read_ahead(&file, path, job, empty_rx, filled_tx));
        // `hash_filled` owns `empty_tx` and `filled_rx`: when it returns early, dropping them wakes
        // the reader so the scope can end.
        hash_filled(&mut hasher, filled_rx, empty_tx, progress)
    })?;
    if hashed != job.len() {
        // Only reachable if the reader stopped without saying why; never sign a partial digest.
        return Err(changed(path));
    }
    Ok(hasher.finalize())
}

/// Consumes filled buffers in order, returning each to the reader; the number of bytes hashed.
fn hash_filled(
    hasher: &mut StreamHasher,
    filled: Receiver<Filled>,
    empty: Sender<Vec<u8>>,
    progress: &dyn Progress,
) -> Result<u64, DigestError> {
    let mut hashed = 0u64;
    for message in filled {
        let (buffer, len) = message?;
        hasher.update_parallel(&buffer[..len]);
        progress.advance(len as u64);
        hashed += len as u64;
        // The reader may already be done; then the buffer is simply dropped.
        let _ = empty.send(buffer);
    }
    Ok(hashed)
}

/// Fills recycled buffers with `job`'s bytes in order and sends them on; reports errors in-band.
fn read_ahead(
    file: &File,
    path: &Path,
    job: &Job<'_>,
    empty: Receiver<Vec<u8>>,
    filled: SyncSender<Filled>,
) {
    let mut offset = job.start;
    while offset < job.end {
        let Ok(mut buffer) = empty.recv() else { return };
        let message = fill(file, path, &mut buffer, offset, job.end - offset).map(|len| {
            offset += len as u64;
            (buffer, len)
        });
        let failed = message.is_err();
        if filled.send(message).is_err() || failed {
            return;
        }
    }
    if job.reaches_eof() {
        match read_at_most(file, path, &mut [0u8; 1], offset, 1) {
            Ok(0) => {}
            Ok(_) => {
                let _ = filled.send(Err(changed(path)));
            }
            Err(e) => {
                let _ = filled.send(Err(e));
            }
        }
    }
}

/// Reads until `buffer` is full or `remaining` bytes were read; the file ending first means it
/// shrank since it was walked.
fn fill(
    file: &File,
    path: &Path,
    buffer: &mut [u8],
    offset: u64,
    remaining: u64,
) -> Result<usize, DigestError> {
    let target = usize::try_from(remaining).map_or(buffer.len(), |r| r.min(buffer.len()));
    let mut len = 0;
    while len < target {
        let n = read_at_most(
            file,
            path,
            &mut buffer[len..target],
            offset + len as u64,
            u64::MAX,
        )?;
        if n == 0 {
            return Err(changed(path));
        }
        len += n;
    }
    Ok(len)
}
