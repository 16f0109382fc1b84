//! Reading a byte range of a file exactly once, in bounded chunks, noticing if the file changed.
//!
//! Each thread keeps one reusable [`CHUNK`]-sized buffer, so hashing thousands of tiny files costs
//! no allocation per file, and memory stays at one chunk per thread whatever the model size.

use super::hasher::StreamHasher;
use super::plan::Job;
use super::{DigestError, HashAlgorithm};
use crate::fs;
use crate::progress::Progress;
use crate::scan::{self, FileFormat};
use crate::tree::{ChangeStamp, ModelFile, RemoteReadError, RemoteReader};
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes per read. Measured on SHA-NI hardware: 64 KiB beats 1 MiB by a third in CPU time,
/// because a chunk copied out of the page cache is still in L2 when it is hashed; the kernel's
/// own read-ahead keeps the disk busy, so larger reads buy nothing.
pub(super) const CHUNK: usize = 64 << 10;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What hashing one job gives: its digest, and for the first job of a file whose format was
/// asked for, the file's serialization format (`None` for text and unknown binaries).
pub(super) struct Hashed {
    pub digest: Vec<u8>,
    pub format: Option<FileFormat>,
}

/// Hashes `job` on the calling thread; with `detect`, the first job of a file also tells the
/// file's format from the bytes it hashed ([`detect_local`]).
pub(super) fn hash_job(
    job: &Job<'_>,
    algorithm: HashAlgorithm,
    detect: bool,
    progress: &dyn Progress,
) -> Result<Hashed, DigestError> {
    let mut hashing = Hashing::start(job, algorithm, detect)?;
    hashing.advance(u64::MAX, progress)?;
    hashing.finish()
}

/// One job being hashed in steps, which may run on different threads one after the other: how
/// the engine lets a second core take over a sequential digest (SHA-256's state is a few words)
/// so that the last jobs of a run end together.
pub(super) struct Hashing<'j, 'a> {
    job: &'j Job<'a>,
    file: File,
    hasher: StreamHasher,
    /// The next byte to hash.
    offset: u64,
    /// Whether the file's format is told from its head (the first job of a file, when asked).
    detect: bool,
    /// The head of the file as it streamed through the hasher, when `detect`.
    head: Vec<u8>,
    /// Holes and data of the job's range, found as the steps reach them.
    pieces: Pieces,
}

impl<'j, 'a> Hashing<'j, 'a> {
    /// Opens the job's file (checking it is the file the walk saw); nothing is read yet.
    pub(super) fn start(
        job: &'j Job<'a>,
        algorithm: HashAlgorithm,
        detect: bool,
    ) -> Result<Hashing<'j, 'a>, DigestError> {
        Ok(Hashing {
            job,
            file: open(job.file)?,
            hasher: StreamHasher::new(algorithm),
            offset: job.start,
            detect: detect && job.start == 0,
            head: Vec::new(),
            pieces: Pieces::up_to(job.end),
        })
    }

    /// Bytes of the job not hashed yet.
    pub(super) fn remaining(&self) -> u64 {
        self.job.end - self.offset
    }

    /// Hashes the next `at_most` bytes of the job (fewer at its end).
    pub(super) fn advance(
        &mut self,
        at_most: u64,
        progress: &dyn Progress,
    ) -> Result<(), DigestError> {
        let start = self.offset;
        let end = self.job.end.min(start.saturating_add(at_most));
        let (hasher, head, detect) = (&mut self.hasher, &mut self.head, self.detect);
        let mut sink = |bytes: &[u8]| {
            hasher.update(bytes);
            progress.advance(bytes.len() as u64);
            if detect && head.len() < scan::HEAD_BYTES {
                let room = (scan::HEAD_BYTES - head.len()).min(bytes.len());
                head.extend_from_slice(&bytes[..room]);
            }
        };
        let (file, path, pieces) = (&self.file, &self.job.file.path, &mut self.pieces);
        with_buffer(|buffer| {
            read_file_range(
                file,
                path,
                start,
                end,
                buffer,
                maps_enabled(),
                pieces,
                &mut sink,
            )
        })?;
        self.offset = end;
        Ok(())
    }

    /// The job's digest once every byte was hashed: the file must end where it ended when walked
    /// (for the job that reaches its end) and still be unchanged.
    pub(super) fn finish(self) -> Result<Hashed, DigestError> {
        let (job, file) = (self.job, &self.file);
        if self.offset != job.end {
            return Err(DigestError::Io {
                path: job.file.path.clone(),
                source: io::Error::other("hashing stopped before the end of the range"),
            });
        }
        if job.reaches_eof() {
            with_buffer(|buffer| expect_eof(file, &job.file.path, job.end, buffer))?;
        }
        let format = if self.detect {
            // A shard shorter than the head leaves the rest of it to be read from the descriptor.
            let head = &self.head;
            let whole = head.len() as u64 == job.file.len.min(scan::HEAD_BYTES as u64);
            detect_local(job, file, whole.then_some(head.as_slice()))?
        } else {
            None
        };
        expect_unchanged(file, job.file)?;
        Ok(Hashed {
            digest: self.hasher.finalize(),
            format,
        })
    }
}

/// The format of the file of `job` (its first job), judged from the bytes this job hashed: `head`
/// as it streamed through the hasher (read from `file` when the hasher did not stream all of it:
/// BLAKE3 subtrees, a shard shorter than the head), and further bytes a format needs read from `file`, the descriptor that was hashed.
/// Called before the job's final change-stamp check, so the bytes judged are the bytes verified.
pub(super) fn detect_local(
    job: &Job<'_>,
    file: &File,
    head: Option<&[u8]>,
) -> Result<Option<FileFormat>, DigestError> {
    let io = |source| DigestError::Io {
        path: job.file.path.clone(),
        source,
    };
    let read_head;
    let head = match head {
        Some(head) => head,
        None => {
            let mut buffer = vec![0; scan::HEAD_BYTES.min(job.file.len as usize)];
            let filled = read_at(file, &job.file.path, &mut buffer, 0)?;
            buffer.truncate(filled);
            read_head = buffer;
            &read_head
        }
    };
    let mut rest = file;
    scan::detect_verified(job.file.name.as_str(), job.file.len, head, &mut rest).map_err(io)
}

/// Hashes `job` from object storage, as the bytes of its ranged reads arrive; with `detect`, the
/// first job of a file keeps the bytes detection needs as they stream ([`scan::StreamCopy`]).
pub(super) fn hash_remote_job(
    job: &Job<'_>,
    remote: &dyn RemoteReader,
    algorithm: HashAlgorithm,
    detect: bool,
    progress: &dyn Progress,
) -> Result<Hashed, DigestError> {
    let mut hasher = StreamHasher::new(algorithm);
    let mut kept = (detect && job.start == 0).then(|| scan::StreamCopy::new(job.file.len));
    let mut sink = |bytes: &[u8]| {
        hasher.update(bytes);
        progress.advance(bytes.len() as u64);
        if let Some(kept) = kept.as_mut() {
            kept.push(bytes);
        }
    };
    match remote.read_range(job.file, job.start, job.end, &mut sink) {
        Ok(()) => {
            let format = kept.and_then(|mut kept| {
                let head = kept.head().to_vec();
                // What the kept bytes cannot tell is not listed (see `scan::verified`).
                scan::detect_verified(job.file.name.as_str(), job.file.len, &head, &mut kept)
                    .ok()
                    .flatten()
            });
            Ok(Hashed {
                digest: hasher.finalize(),
                format,
            })
        }
        Err(RemoteReadError::Changed) => Err(changed(&job.file.path)),
        Err(RemoteReadError::Failed(reason)) => Err(DigestError::Io {
            path: job.file.path.clone(),
            source: io::Error::other(reason),
        }),
    }
}

/// Smallest piece read through maps, and smallest range whose holes are looked for: below it, a
/// map costs more than the copy it saves, and two `lseek`s more than reading a hole.
const MAP_MIN: u64 = 1 << 20;

/// Whether data is read through [`fs::mapped`] at all. The switch `MODELSEAL_HASH_READ=read`
/// exists for side-by-side benchmarks (benches/hash_read.py) and as a way out on a system where
/// maps misbehave; the digests are the same either way.
fn maps_enabled() -> bool {
    static MAPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MAPS.get_or_init(|| std::env::var_os("MODELSEAL_HASH_READ").is_none_or(|v| v != "read"))
}

/// Zeros fed for a hole, a [`CHUNK`] at a time (so the hasher sees the pieces it would see
/// from `read`).
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// The hole or data piece a read ended in, kept between the reads of one range that is read in
/// steps: on tmpfs `SEEK_HOLE` walks the file's pages up to the next hole, so asking again at
/// every step would walk the rest of the file each time (a 10^9-byte shard read in 16 MiB steps
/// took 1.1 s of system time instead of 0.14 s).
pub(super) struct Pieces {
    /// Where the range read in steps ends: pieces are looked for up to there.
    limit: u64,
    /// The piece found last: `(start, piece)`.
    current: Option<(u64, fs::holes::Segment)>,
}

impl Pieces {
    /// Nothing known yet of the holes of a range that ends at `limit`.
    pub(super) fn up_to(limit: u64) -> Pieces {
        Pieces {
            limit,
            current: None,
        }
    }

    /// The piece that holds `offset` (which must be below the limit).
    fn at(&mut self, file: &File, offset: u64) -> fs::holes::Segment {
        match self.current {
            Some((start, piece)) if start <= offset && offset < piece.end => piece,
            _ => {
                let piece = fs::holes::segment_at(file, offset, self.limit);
                self.current = Some((offset, piece));
                piece
            }
        }
    }
}

/// Feeds `start..end` of `file` to `sink` in order: holes as zeros without reading them
/// ([`fs::holes`]: reading them can cost the kernel far more than hashing), data through bounded
/// maps when `map` and the piece is at least [`MAP_MIN`], otherwise one `pread` at a time. The
/// file ending early, or being truncated under a map, is [`DigestError::Changed`].
/// `pieces` holds what is known of the holes up to its limit (≥ `end`): a range read in steps
/// passes the same one to every step.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_file_range(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    buffer: &mut [u8],
    map: bool,
    pieces: &mut Pieces,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), DigestError> {
    if pieces.limit.saturating_sub(start) < MAP_MIN {
        return read_range(file, path, start, end, buffer, sink);
    }
    let mut offset = start;
    while offset < end {
        let piece = pieces.at(file, offset);
        let segment = fs::holes::Segment {
            end: piece.end.min(end),
            hole: piece.hole,
        };
        if segment.hole {
            let mut left = segment.end - offset;
            while left > 0 {
                let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
                sink(&ZEROS[..n]);
                left -= n as u64;
            }
        } else if !(map
            && segment.end - offset >= MAP_MIN
            && read_mapped(file, path, offset, segment.end, sink)?)
        {
            read_range(file, path, offset, segment.end, buffer, &mut *sink)?;
        }
        offset = segment.end;
    }
    Ok(())
}

/// Feeds `start..end` of `file` to `sink` through bounded maps, in [`CHUNK`] pieces (so the
/// hasher's input stays in L2 as with `read`). False when no map could be used and nothing was
/// read: the caller reads instead. A truncation during the read is [`DigestError::Changed`].
fn read_mapped(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<bool, DigestError> {
    let result = fs::mapped::read_mapped(file, start, end, CHUNK, |bytes| {
        #[cfg(test)]
        counted::record(path, bytes.len() as u64);
        sink(bytes);
    });
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(changed(path)),
        Err(source) => Err(DigestError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Opens a model file for hashing, checking that it is still the file the walk saw (same size,
/// same change stamp): one rewritten in between is [`DigestError::Changed`].
pub(super) fn open(model_file: &ModelFile) -> Result<File, DigestError> {
    let path = &model_file.path;
    let file = model_file.open().map_err(|source| DigestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    expect_unchanged(&file, model_file)?;
    Ok(file)
}

/// Checks the open `file` against the size and change stamp the walk recorded; called again after
/// the last read, so a write during hashing is caught too.
pub(super) fn expect_unchanged(file: &File, model_file: &ModelFile) -> Result<(), DigestError> {
    let meta = file.metadata().map_err(|source| DigestError::Io {
        path: model_file.path.clone(),
        source,
    })?;
    if meta.len() != model_file.len || ChangeStamp::of(&meta) != model_file.stamp {
        return Err(changed(&model_file.path));
    }
    Ok(())
}

/// Runs `f` with this thread's chunk buffer (or a fresh one if it is already in use).
pub(super) fn with_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
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

/// Feeds the bytes `start..end` of `file` to `sink`, one read at a time; the file ending early
/// means it shrank since it was walked.
fn read_range(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    buffer: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> Result<(), DigestError> {
    let mut offset = start;
    while offset < end {
        let want = usize::try_from(end - offset).map_or(buffer.len(), |n| n.min(buffer.len()));
        let filled = read_at(file, path, &mut buffer[..want], offset)?;
        if filled == 0 {
            return Err(changed(path));
        }
        #[cfg(test)]
        counted::record(path, filled as u64);
        sink(&buffer[..filled]);
        offset += filled as u64;
    }
    Ok(())
}

/// Checks that `file` ends at `end`, where it ended when walked; otherwise it grew.
pub(super) fn expect_eof(
    file: &File,
    path: &Path,
    end: u64,
    buffer: &mut [u8],
) -> Result<(), DigestError> {
    match read_at(file, path, &mut buffer[..1], end)? {
        0 => Ok(()),
        _ => Err(changed(path)),
    }
}

/// One `pread` at `offset`, retried if interrupted; 0 means end of file.
fn read_at(file: &File, path: &Path, buffer: &mut [u8], offset: u64) -> Result<usize, DigestError> {
    loop {
        match file.read_at(buffer, offset) {
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

fn changed(path: &Path) -> DigestError {
    DigestError::Changed {
        path: path.to_path_buf(),
    }
}

/// Test-only count of the bytes read from model files, by file (hashing here, encryption in
/// `envelope::pipeline`): how a test proves that a file was read once, without timing.
#[cfg(test)]
pub(crate) mod counted {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static READS: Mutex<Vec<(PathBuf, u64)>> = Mutex::new(Vec::new());

    /// `bytes` more were read from `path`.
    pub(crate) fn record(path: &Path, bytes: u64) {
        if let Ok(mut reads) = READS.lock() {
            reads.push((path.to_path_buf(), bytes));
        }
    }

    /// Bytes read so far from files below `dir` (tests run in parallel: each looks at its own).
    pub(crate) fn bytes_below(dir: &Path) -> u64 {
        READS
            .lock()
            .map(|reads| {
                reads
                    .iter()
                    .filter(|(p, _)| p.starts_with(dir))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }
}
