//! The bulk encryption and decryption engine: many files, chunk-sized work units, both cores, one
//! ordered writer per output file, a small constant number of open files.
//!
//! Designed from measurements (issue 18): the cost of moving 2 GiB through tmpfs is the kernel's
//! copies and page allocation, not AES-GCM. Two threads `pwrite`-ing 8 MiB blocks into one file
//! spent a quarter of their time spinning on its inode lock, then copied through buffers far larger
//! than the caches. So here:
//!
//! - A *unit* is about one chunk (at least 1 MiB of chunks when chunks are small): it is read,
//!   sealed or opened in place and written while it is still in L2.
//! - Workers (one per core) claim units in file order and do the read and the AEAD in parallel.
//! - Writes to one file are made by one thread at a time, in order: a finished unit is handed to
//!   its file's queue, and whichever worker finds the file's writer role free drains the queue.
//!   No two threads ever write one inode at once, and the file grows sequentially.
//! - What observes a file's stream (seal's and unseal's digests) runs in *lanes* beside the
//!   writer: the plaintext digest and the ciphertext digest each consume the same units in order,
//!   each lane held by one thread at a time, so the two SHA-256 streams of one file and its writes
//!   run on different cores (a profile of one writer doing all three showed it at 80% of the
//!   samples while the other core idled). A unit's buffer goes back to the pool when every lane
//!   has passed it.
//! - Buffers come from a fixed pool and are reused; a worker waits for a free buffer before it
//!   claims a unit, which bounds memory and keeps the pipeline deadlock-free (every claimed unit
//!   already has its buffer, and units are claimed in order).
//! - Files are opened when their first unit is claimed and closed when their last unit is
//!   written: open files are bounded by the number of buffers plus the files waiting for their
//!   fsync, whatever the number of files.
//! - Writeback starts every few MiB (`sync_file_range`); a finished file's last checks and fsync
//!   ([`FileJob::finish`]) run on a few syncing threads while the workers go on with other files.
//!
//! What it guarantees to its callers: a decrypted unit is written only after each of its chunks'
//! tags verified; any error stops the run and is returned (the caller removes the temporary
//! output); `finish` of every file succeeded when it returns `Ok`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};

use super::format::TAG_LEN;
use super::source::Source;
use super::stream::{ChunkLayout, FileCipher, FileObservers, StreamObserver};
use super::SealError;
use crate::progress::Progress;

/// A value a job either lends (open by the caller) or hands over (opened for this job only).
pub enum Held<'a, T> {
    /// Owned by the caller, who keeps it open.
    Borrowed(&'a T),
    /// Opened for this job; closed when the job is done.
    Owned(T),
}

impl<T> std::ops::Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Held::Borrowed(t) => t,
            Held::Owned(t) => t,
        }
    }
}

/// What a job works with while it runs.
pub struct Opened<'a> {
    /// The file's cipher.
    pub cipher: Held<'a, FileCipher>,
    /// Where to read: the plaintext (encrypt) or the ciphertext (decrypt), by positioned reads
    /// (a local file, or an object's stream served in unit order: see [`super::source`]).
    pub src: Box<dyn Source + 'a>,
    /// Where to write: the ciphertext (encrypt) or the plaintext (decrypt).
    pub dst: Held<'a, File>,
}

/// One file to encrypt or decrypt, opened on demand.
pub trait FileJob: Sync {
    /// The file's chunk layout (known before anything is opened).
    fn layout(&self) -> ChunkLayout;
    /// Offset of the first ciphertext byte in the ciphertext file (`base`, §7.4).
    fn ct_base(&self) -> u64;
    /// Name of the source for errors.
    fn src_name(&self) -> &Path;
    /// Name of the destination for errors.
    fn dst_name(&self) -> &Path;
    /// Opens what the job needs; called once, when its first unit is claimed.
    fn open(&self) -> Result<Opened<'_>, SealError>;
    /// Called once after the last unit was written (on a syncing thread when there are several
    /// files): the job's last checks and its fsync. The files close when it returns.
    fn finish(&self, _opened: &Opened<'_>) -> Result<(), SealError> {
        Ok(())
    }
}

/// Which way the bytes go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Plaintext → ciphertext.
    Encrypt,
    /// Ciphertext → plaintext.
    Decrypt,
}

/// How many threads wait on fsyncs at most (a journaling file system commits concurrent fsyncs
/// together; a waiting thread costs no CPU).
const SYNC_THREADS: usize = 8;

/// Writeback is started once this many bytes of a file were written since the last start.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Plaintext bytes per unit when chunks are small: enough that a unit's bookkeeping costs nothing.
const MIN_UNIT: u64 = 1 << 20;

/// The buffers of all units in flight stay under this (but there is always one per worker plus
/// one being written).
const BUFFER_BUDGET: u64 = 48 << 20;

/// Chunks per unit for chunk size `chunk`.
fn chunks_per_unit(chunk: u64) -> u64 {
    (MIN_UNIT / chunk).max(1)
}

/// Runs every job in `direction`, showing `observers[i]` the streams of job `i` in order (the
/// plaintext before it is sealed or once it was opened; the ciphertext as written or as read);
/// reports plaintext bytes written to `progress`.
pub fn run<J: FileJob>(
    jobs: &[J],
    direction: Direction,
    observers: Vec<FileObservers>,
    progress: &dyn Progress,
) -> Result<(), SealError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let workers = rayon::current_num_threads().clamp(1, 64);
    let observed: Vec<bool> = (0..jobs.len())
        .map(|j| observers.get(j).is_some_and(|o| keeps_input(o, direction)))
        .collect();
    let max_chunk = jobs
        .iter()
        .map(|j| j.layout().chunk_size())
        .max()
        .unwrap_or(MIN_UNIT);
    let unit_bytes = chunks_per_unit(max_chunk) * (max_chunk + TAG_LEN as u64);
    // Observed units keep a copy of what the AEAD overwrites (the plaintext when encrypting, the
    // ciphertext when decrypting) beside it.
    let unit_bytes = unit_bytes * if observed.iter().any(|o| *o) { 2 } else { 1 };
    // Observing lanes hold a unit until the slowest of them passed it: more buffers in flight let
    // the lanes of one file run apart without stalling the workers that read and seal.
    let lanes = observers
        .iter()
        .any(|o| o.plaintext.is_some() || o.ciphertext.is_some());
    let most = if lanes {
        4 * workers + 4
    } else {
        2 * workers + 2
    };
    let buffers = ((BUFFER_BUDGET / unit_bytes) as usize).clamp(workers + 1, most);
    let mut observers = observers;
    observers.resize_with(jobs.len(), FileObservers::default);
    let engine = Engine {
        jobs,
        direction,
        progress,
        claim: Mutex::new(Claim {
            job: 0,
            unit: 0,
            active: HashMap::new(),
            observers,
        }),
        pool: Pool::new(buffers),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    let syncers = if jobs.len() > 1 {
        SYNC_THREADS.min(jobs.len())
    } else {
        0
    };
    let (tx, rx) = mpsc::sync_channel::<Finished<'_>>(syncers);
    let rx = &Mutex::new(rx);
    let engine = &engine;
    std::thread::scope(|scope| {
        for _ in 0..syncers {
            scope.spawn(move || loop {
                let next = lock(rx).recv();
                let Ok(done) = next else { break };
                let result = jobs[done.job].finish(&done.opened);
                // The files close here, before the next fsync is waited for.
                drop(done);
                if let Err(e) = result {
                    engine.fail(e);
                }
            });
        }
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let tx = (syncers > 0).then(|| tx.clone());
                scope.spawn(move || engine.work(tx.as_ref()))
            })
            .collect();
        drop(tx);
        for h in handles {
            if h.join().is_err() {
                engine.fail(SealError::Crypto("an encryption worker panicked".into()));
            }
        }
    });
    let error = lock(&engine.error).take();
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether a file's units keep a copy of the input the AEAD overwrites in place: the plaintext when
/// encrypting, the ciphertext when decrypting, if something observes it.
fn keeps_input(observers: &FileObservers, direction: Direction) -> bool {
    match direction {
        Direction::Encrypt => observers.plaintext.is_some(),
        Direction::Decrypt => observers.ciphertext.is_some(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking worker is reported as an error by `run`; the data behind the lock stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A file whose units are all written, on its way to its fsync.
struct Finished<'a> {
    job: usize,
    opened: Arc<Opened<'a>>,
}

struct Engine<'a, J: FileJob> {
    jobs: &'a [J],
    direction: Direction,
    progress: &'a dyn Progress,
    claim: Mutex<Claim<'a>>,
    pool: Pool,
    failed: AtomicBool,
    error: Mutex<Option<SealError>>,
}

/// The next unit to claim and the files being worked on.
struct Claim<'a> {
    job: usize,
    unit: u64,
    active: HashMap<usize, Arc<Active<'a>>>,
    /// Taken by a job when it becomes active.
    observers: Vec<FileObservers>,
}

/// A file with units in flight.
struct Active<'a> {
    opened: Arc<Opened<'a>>,
    units: u64,
    /// Whether units keep a copy of their input for an observer: the plaintext when encrypting
    /// (sealing overwrites it), the ciphertext when decrypting.
    keep_input: bool,
    queue: Mutex<Queue>,
    /// Only the holder of the write lane touches it.
    writer: Mutex<Writer>,
    /// Only the holder of the plaintext lane touches it.
    plaintext: Mutex<Option<Box<dyn StreamObserver>>>,
    /// Only the holder of the ciphertext lane touches it.
    ciphertext: Mutex<Option<Box<dyn StreamObserver>>>,
}

/// The consumers of a file's units, each of which sees every unit once, in order, on one thread
/// at a time; different lanes of one file run on different threads at once.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// Writes the output (and starts its writeback, and reports progress).
    Write = 0,
    /// Shows the ciphertext to its observer.
    Ciphertext = 1,
    /// Shows the plaintext to its observer.
    Plaintext = 2,
}

const LANES: [Lane; 3] = [Lane::Write, Lane::Ciphertext, Lane::Plaintext];

/// Finished units waiting for every lane to consume them.
struct Queue {
    /// Per lane (indexed by `Lane as usize`): the next unit it consumes (`units` for a lane with
    /// nothing to do) and whether a thread holds it.
    lanes: [(u64, bool); 3],
    /// Whether the file was handed on to its last checks (once, by whoever finished its last lane).
    done: bool,
    /// Delivered units not yet consumed by every lane.
    ready: BTreeMap<u64, Arc<Unit>>,
}

impl Queue {
    /// A lane nobody holds whose next unit is ready.
    fn free_lane(&self) -> Option<Lane> {
        LANES.into_iter().find(|&l| {
            let (next, held) = self.lanes[l as usize];
            !held && self.ready.contains_key(&next)
        })
    }
}

struct Writer {
    /// End of the range whose writeback was started.
    flushed: u64,
}

/// One unit of work: chunks `first .. first + count` of one file, in a pooled buffer.
struct Unit {
    index: u64,
    first: u64,
    count: u64,
    buf: Vec<u8>,
    /// Bytes to write: `buf[..out]`.
    out: usize,
    /// Where the copy of the unit's input is (plaintext when encrypting, ciphertext when
    /// decrypting): `buf[input.0 .. input.1]`, when an observer needs it.
    input: Option<(usize, usize)>,
}

impl<'a, J: FileJob> Engine<'a, J> {
    fn fail(&self, e: SealError) {
        let mut error = lock(&self.error);
        if error.is_none() {
            *error = Some(e);
        }
        self.failed.store(true, Ordering::SeqCst);
        self.pool.wake_all();
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn work(&self, tx: Option<&mpsc::SyncSender<Finished<'a>>>) {
        while !self.failed() {
            let Some(buf) = self.pool.take(&self.failed) else {
                return;
            };
            let claimed = match self.claim_unit() {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => return self.fail(e),
            };
            let (j, active, index) = claimed;
            match self.process(j, &active, index, buf) {
                Ok(unit) => {
                    if let Err(e) = self.deliver(j, &active, unit, tx) {
                        return self.fail(e);
                    }
                }
                Err(e) => return self.fail(e),
            }
        }
    }

    /// The next unit in file order, opening its file if it is the file's first.
    #[allow(clippy::type_complexity)]
    fn claim_unit(&self) -> Result<Option<(usize, Arc<Active<'a>>, u64)>, SealError> {
        let mut claim = lock(&self.claim);
        loop {
            let j = claim.job;
            let Some(job) = self.jobs.get(j) else {
                return Ok(None);
            };
            let layout = job.layout();
            let units = layout
                .chunks()
                .div_ceil(chunks_per_unit(layout.chunk_size()));
            if claim.unit >= units {
                claim.job += 1;
                claim.unit = 0;
                continue;
            }
            let index = claim.unit;
            claim.unit += 1;
            if index == 0 {
                let opened = job.open()?;
                let observers = claim
                    .observers
                    .get_mut(j)
                    .map(std::mem::take)
                    .unwrap_or_default();
                let keep_input = keeps_input(&observers, self.direction);
                // A lane with nothing to observe starts at its end.
                let start = |o: &Option<Box<dyn StreamObserver>>| match o {
                    Some(_) => (0, false),
                    None => (units, false),
                };
                let lanes = [
                    (0, false),
                    start(&observers.ciphertext),
                    start(&observers.plaintext),
                ];
                let active = Arc::new(Active {
                    opened: Arc::new(opened),
                    units,
                    keep_input,
                    queue: Mutex::new(Queue {
                        lanes,
                        done: false,
                        ready: BTreeMap::new(),
                    }),
                    writer: Mutex::new(Writer { flushed: 0 }),
                    plaintext: Mutex::new(observers.plaintext),
                    ciphertext: Mutex::new(observers.ciphertext),
                });
                claim.active.insert(j, Arc::clone(&active));
                return Ok(Some((j, active, index)));
            }
            let active = claim
                .active
                .get(&j)
                .cloned()
                .ok_or_else(|| SealError::Crypto("a unit of a file that is not open".into()))?;
            return Ok(Some((j, active, index)));
        }
    }

    /// Reads the unit and seals or opens it in place.
    fn process(
        &self,
        j: usize,
        active: &Active<'a>,
        index: u64,
        mut buf: Vec<u8>,
    ) -> Result<Unit, SealError> {
        let job = &self.jobs[j];
        let opened = &active.opened;
        let layout = job.layout();
        let per = chunks_per_unit(layout.chunk_size());
        let first = index * per;
        let count = per.min(layout.chunks() - first);
        let pt: u64 = (first..first + count).map(|i| layout.pt_len(i)).sum();
        let pt = pt as usize;
        let ct = pt + TAG_LEN * count as usize;
        let input = active.keep_input.then(|| match self.direction {
            Direction::Encrypt => (ct, ct + pt),
            Direction::Decrypt => (ct, 2 * ct),
        });
        let need = input.map_or(ct, |(_, to)| to);
        if buf.len() < need {
            // Grown (zeroed) once per pooled buffer; every byte used is overwritten before use.
            buf.resize(need, 0);
        }
        let out = match self.direction {
            Direction::Encrypt => {
                let at = first * layout.chunk_size();
                opened
                    .src
                    .read_exact_at(&mut buf[..pt], at)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::UnexpectedEof => SealError::Changed {
                            path: job.src_name().to_path_buf(),
                            reason: format!("shorter than the {} bytes recorded", layout.size()),
                        },
                        _ => read_error(job.src_name(), e),
                    })?;
                #[cfg(test)]
                crate::digest::counted::record(job.src_name(), pt as u64);
                if let Some((from, to)) = input {
                    let (head, tail) = buf.split_at_mut(from);
                    tail[..to - from].copy_from_slice(&head[..pt]);
                }
                spread(&layout, first, count, &mut buf[..ct]);
                let mut off = 0;
                for i in first..first + count {
                    let len = layout.pt_len(i) as usize + TAG_LEN;
                    opened.cipher.seal_chunk(i, &mut buf[off..off + len])?;
                    off += len;
                }
                ct
            }
            Direction::Decrypt => {
                let at = job.ct_base() + layout.ct_offset(first);
                opened
                    .src
                    .read_exact_at(&mut buf[..ct], at)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::UnexpectedEof => SealError::Truncated {
                            path: job.src_name().to_path_buf(),
                            expected: job.ct_base() + layout.ct_len(),
                            found: opened.src.len().unwrap_or(0),
                        },
                        _ => read_error(job.src_name(), e),
                    })?;
                #[cfg(test)]
                crate::digest::counted::record(job.src_name(), ct as u64);
                if let Some((from, to)) = input {
                    let (head, tail) = buf.split_at_mut(from);
                    tail[..to - from].copy_from_slice(&head[..ct]);
                }
                let mut off = 0;
                for i in first..first + count {
                    let len = layout.pt_len(i) as usize + TAG_LEN;
                    opened
                        .cipher
                        .open_chunk(i, &mut buf[off..off + len])
                        .map_err(|_| SealError::ChunkAuth {
                            path: job.src_name().to_path_buf(),
                            chunk: i,
                        })?;
                    off += len;
                }
                gather(&layout, first, count, &mut buf[..ct]);
                pt
            }
        };
        Ok(Unit {
            index,
            first,
            count,
            buf,
            out,
            input,
        })
    }

    /// Queues `unit` for its file's lanes; takes a free lane whose next unit is ready and consumes
    /// every unit that is next in order for it, then the next free lane, until none has work.
    fn deliver(
        &self,
        j: usize,
        active: &Active<'a>,
        unit: Unit,
        tx: Option<&mpsc::SyncSender<Finished<'a>>>,
    ) -> Result<(), SealError> {
        let mut queue = lock(&active.queue);
        queue.ready.insert(unit.index, Arc::new(unit));
        let mut held: Option<Lane> = None;
        loop {
            // Keep the lane while its next unit is ready, else let it go and take another.
            let lane = match held.filter(|&l| queue.ready.contains_key(&queue.lanes[l as usize].0))
            {
                Some(l) => l,
                None => {
                    if let Some(l) = held {
                        queue.lanes[l as usize].1 = false;
                    }
                    let Some(l) = queue.free_lane() else {
                        return Ok(());
                    };
                    queue.lanes[l as usize].1 = true;
                    l
                }
            };
            held = Some(lane);
            let index = queue.lanes[lane as usize].0;
            let unit = queue
                .ready
                .get(&index)
                .cloned()
                .ok_or_else(|| SealError::Crypto("a unit that was not delivered".into()))?;
            drop(queue);
            let consumed = self.consume(j, active, lane, &unit);
            drop(unit);
            queue = lock(&active.queue);
            queue.lanes[lane as usize].0 += 1;
            if queue.lanes.iter().all(|(next, _)| *next > index) {
                if let Some(unit) = queue.ready.remove(&index) {
                    // Every lane dropped its reference before advancing: this is the last one.
                    self.pool
                        .give(Arc::try_unwrap(unit).map(|u| u.buf).unwrap_or_default());
                }
            }
            consumed?;
            if !queue.done && queue.lanes.iter().all(|(next, _)| *next >= active.units) {
                queue.done = true;
                drop(queue);
                return self.finish_file(j, active, tx);
            }
            if self.failed() {
                return Ok(());
            }
        }
    }

    /// What `lane` does with `unit`.
    fn consume(
        &self,
        j: usize,
        active: &Active<'a>,
        lane: Lane,
        unit: &Unit,
    ) -> Result<(), SealError> {
        let output = &unit.buf[..unit.out];
        let input = unit.input.map(|(from, to)| &unit.buf[from..to]);
        let (plaintext, ciphertext) = match self.direction {
            Direction::Encrypt => (input, Some(output)),
            Direction::Decrypt => (Some(output), input),
        };
        let (observer, bytes) = match lane {
            Lane::Write => return self.write_unit(j, active, &mut lock(&active.writer), unit),
            Lane::Plaintext => (&active.plaintext, plaintext),
            Lane::Ciphertext => (&active.ciphertext, ciphertext),
        };
        if let (Some(observer), Some(bytes)) = (lock(observer).as_mut(), bytes) {
            observer.observe(bytes);
        }
        Ok(())
    }

    fn write_unit(
        &self,
        j: usize,
        active: &Active<'a>,
        writer: &mut Writer,
        unit: &Unit,
    ) -> Result<(), SealError> {
        let job = &self.jobs[j];
        let layout = job.layout();
        let at = match self.direction {
            Direction::Encrypt => job.ct_base() + layout.ct_offset(unit.first),
            Direction::Decrypt => unit.first * layout.chunk_size(),
        };
        let dst = &active.opened.dst;
        dst.write_all_at(&unit.buf[..unit.out], at)
            .map_err(|e| SealError::io(job.dst_name(), e))?;
        let end = at + unit.out as u64;
        let last = unit.index + 1 == active.units;
        if end - writer.flushed >= WRITEBACK_STEP || last {
            crate::fs::atomic::start_writeback(dst, writer.flushed, end - writer.flushed);
            writer.flushed = end;
        }
        let plaintext = (unit.first..unit.first + unit.count)
            .map(|i| layout.pt_len(i))
            .sum();
        self.progress.advance(plaintext);
        Ok(())
    }

    /// Every lane consumed the file's last unit: its observers' verdicts (the ciphertext's first),
    /// then its checks and fsync (on a syncing thread when there is one), after which it is closed.
    fn finish_file(
        &self,
        j: usize,
        active: &Active<'a>,
        tx: Option<&mpsc::SyncSender<Finished<'a>>>,
    ) -> Result<(), SealError> {
        let job = &self.jobs[j];
        for observer in [&active.ciphertext, &active.plaintext] {
            if let Some(observer) = lock(observer).take() {
                observer.finish(job.src_name())?;
            }
        }
        lock(&self.claim).active.remove(&j);
        let opened = Arc::clone(&active.opened);
        match tx {
            Some(tx) => tx
                .send(Finished { job: j, opened })
                .map_err(|_| SealError::Crypto("the syncing threads stopped".into())),
            None => job.finish(&opened),
        }
    }
}

/// A failed read of `src`: an object replaced since it was listed (issue 19) is a changed
/// source, as a local file rewritten during the run is; anything else an I/O error naming it.
pub(crate) fn read_error(src: &Path, e: io::Error) -> SealError {
    if crate::location::is_changed(&e) {
        return SealError::Changed {
            path: src.to_path_buf(),
            reason: e.to_string(),
        };
    }
    SealError::io(src, e)
}

/// Moves the plaintext of chunks `first .. first + count`, read contiguously at the start of
/// `buf`, to their slots `plaintext ‖ tag` (last chunk first, so nothing is overwritten unread).
fn spread(layout: &ChunkLayout, first: u64, count: u64, buf: &mut [u8]) {
    let chunk = layout.chunk_size() as usize;
    for k in (1..count).rev() {
        let len = layout.pt_len(first + k) as usize;
        let from = k as usize * chunk;
        buf.copy_within(from..from + len, k as usize * (chunk + TAG_LEN));
    }
}

/// The inverse of [`spread`]: packs the plaintexts of opened chunks together at the start.
fn gather(layout: &ChunkLayout, first: u64, count: u64, buf: &mut [u8]) {
    let chunk = layout.chunk_size() as usize;
    for k in 1..count {
        let len = layout.pt_len(first + k) as usize;
        let from = k as usize * (chunk + TAG_LEN);
        buf.copy_within(from..from + len, k as usize * chunk);
    }
}

/// A fixed number of reusable buffers.
///
/// Why reuse: a fresh multi-MiB `Vec` per unit is a fresh `mmap`, so every unit would pay one page
/// fault per 4 KiB and the zeroing of its pages.
struct Pool {
    state: Mutex<(Vec<Vec<u8>>, usize)>,
    freed: Condvar,
}

impl Pool {
    fn new(buffers: usize) -> Pool {
        Pool {
            state: Mutex::new((Vec::new(), buffers)),
            freed: Condvar::new(),
        }
    }

    /// A free buffer (new and empty while fewer than the limit exist), waiting for one when all
    /// are in use; `None` once `failed` is set.
    fn take(&self, failed: &AtomicBool) -> Option<Vec<u8>> {
        let mut state = lock(&self.state);
        loop {
            if failed.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(buf) = state.0.pop() {
                return Some(buf);
            }
            if state.1 > 0 {
                state.1 -= 1;
                return Some(Vec::new());
            }
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give(&self, buf: Vec<u8>) {
        lock(&self.state).0.push(buf);
        self.freed.notify_one();
    }

    fn wake_all(&self) {
        let _guard = lock(&self.state);
        self.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_gather_are_inverse() {
        let layout = ChunkLayout::new(4096, 3 * 4096 + 100);
        let pt: Vec<u8> = (0..3 * 4096 + 100).map(|i| (i % 251) as u8).collect();
        let mut buf = pt.clone();
        buf.resize(pt.len() + 4 * TAG_LEN, 0);
        spread(&layout, 0, 4, &mut buf);
        for i in 0..4u64 {
            let at = layout.ct_offset(i) as usize;
            let len = layout.pt_len(i) as usize;
            let from = (i * 4096) as usize;
            assert_eq!(buf[at..at + len], pt[from..from + len]);
        }
        gather(&layout, 0, 4, &mut buf);
        assert_eq!(buf[..pt.len()], pt[..]);
    }
}
