//! Reading a byte range of a file exactly once, in bounded chunks, noticing if the file changed.
//!
//! Each thread keeps one reusable [`CHUNK`]-sized buffer, so hashing thousands of tiny files costs
//! no allocation per file, and memory stays at one chunk per thread whatever the model size.

use super::hasher::StreamHasher;
use super::plan::Job;
use super::{DigestError, HashAlgorithm, Progress};
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes per read for sequential hashing: large enough that syscalls are noise, small enough to
/// stay in L2/L3 cache while it is hashed.
pub(super) const CHUNK: usize = 1 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Hashes `job` on the calling thread.
pub(super) fn hash_job(
    job: &Job<'_>,
    algorithm: HashAlgorithm,
    progress: &dyn Progress,
) -> Result<Vec<u8>, DigestError> {
    let path = &job.file.path;
    let file = File::open(path).map_err(|source| DigestError::Io {
        path: path.clone(),
        source,
    })?;
    let mut hasher = StreamHasher::new(algorithm);
    with_buffer(|buffer| {
        read_range(&file, path, job, buffer, |bytes| {
            hasher.update(bytes);
            progress.advance(bytes.len() as u64);
        })
    })?;
    Ok(hasher.finalize())
}

/// Runs `f` with this thread's chunk buffer (or a fresh one if it is already in use).
fn with_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < CHUNK {
                buffer.resize(CHUNK, 0);
            }
            f(&mut buffer)
        }
        Err(_) => f(&mut vec![0; CHUNK]),
    })
}

/// Feeds the bytes `job.start..job.end` of `file` to `sink`, one read at a time.
///
/// Fails with [`DigestError::Changed`] if the file ends early or, when the job reaches the walked
/// end of the file, if it now continues past it.
pub(super) fn read_range(
    file: &File,
    path: &Path,
    job: &Job<'_>,
    buffer: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> Result<(), DigestError> {
    let mut offset = job.start;
    while offset < job.end {
        let filled = read_at_most(file, path, buffer, offset, job.end - offset)?;
        if filled == 0 {
            return Err(changed(path));
        }
        sink(&buffer[..filled]);
        offset += filled as u64;
    }
    if job.reaches_eof() && read_at_most(file, path, buffer, offset, 1)? != 0 {
        return Err(changed(path));
    }
    Ok(())
}

/// One `pread` of at most `limit` bytes (and at most the buffer) at `offset`; 0 means end of file.
pub(super) fn read_at_most(
    file: &File,
    path: &Path,
    buffer: &mut [u8],
    offset: u64,
    limit: u64,
) -> Result<usize, DigestError> {
    let want = usize::try_from(limit).map_or(buffer.len(), |limit| limit.min(buffer.len()));
    loop {
        match file.read_at(&mut buffer[..want], offset) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(DigestError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

pub(super) fn changed(path: &Path) -> DigestError {
    DigestError::Changed {
        path: path.to_path_buf(),
    }
}
