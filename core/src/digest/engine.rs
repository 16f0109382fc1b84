//! Scheduling: every job runs on the rayon pool, largest first, and the digests come back in
//! signing order.
//!
//! Sequential hashes (SHA-256, BLAKE2b) are parallel across jobs — files, or shards of one file.
//! Largest-first keeps one big file from starting last and running alone. BLAKE3 is also parallel
//! inside one file ([`blake3_tree`]), so a single large BLAKE3 file uses every core too. Memory:
//! one [`read::CHUNK`] buffer per pool thread, whatever the model.

use super::plan::Job;
use super::read::{Hashed, Hashing};
use super::{blake3_tree, read, DigestError, HashAlgorithm};
use crate::progress::Progress;
use crate::tree::RemoteReader;
use rayon::prelude::*;

/// Where the engine switches strategies; a parameter so tests can cross the thresholds with
/// small files.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tuning {
    /// BLAKE3 jobs larger than this are split into subtrees of at most this many bytes (a power
    /// of two ≥ 1024): big enough that per-leaf costs vanish, small enough to balance the cores.
    pub blake3_leaf: u64,
    /// Bytes a worker hashes of a sequential-digest job before it picks its next job again.
    pub step: u64,
    /// Sequential-digest jobs open at once at most (at least one per worker).
    pub started: usize,
}

impl Tuning {
    pub const DEFAULT: Tuning = Tuning {
        blake3_leaf: 1 << 20,
        step: 16 << 20,
        started: 8,
    };
}

/// Digests of `jobs`, in the same order (with `detect`, each file's format from its first job); the files are read through `remote` when the model is
/// in object storage (each job then streams its ranged GETs; BLAKE3 hashes them as they come,
/// which gives the same digest as the parallel subtrees of a local file).
pub(super) fn hash_jobs(
    jobs: &[Job<'_>],
    remote: Option<&dyn RemoteReader>,
    algorithm: HashAlgorithm,
    detect: bool,
    tuning: Tuning,
    progress: &dyn Progress,
) -> Result<Vec<Hashed>, DigestError> {
    let hash_one = |job: &Job<'_>| {
        if let Some(remote) = remote {
            read::hash_remote_job(job, remote, algorithm, detect, progress)
        } else if algorithm == HashAlgorithm::Blake3
            && job.start == 0
            && job.len() > tuning.blake3_leaf
        {
            blake3_tree::hash_job(job, tuning.blake3_leaf, detect, progress)
        } else {
            read::hash_job(job, algorithm, detect, progress)
        }
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].len()));
    let hashed = if remote.is_none() && algorithm != HashAlgorithm::Blake3 {
        most_remaining_first(jobs, &order, algorithm, detect, tuning, progress)?
    } else {
        longest_first(&order, |i| hash_one(&jobs[i]).map(|digest| (i, digest)))?
    };
    let mut digests: Vec<Option<Hashed>> = (0..jobs.len()).map(|_| None).collect();
    for (i, digest) in hashed {
        digests[i] = Some(digest);
    }
    Ok(digests.into_iter().flatten().collect())
}

/// Hashes the local sequential-digest `jobs` in steps of [`Tuning::step`] bytes, each worker taking
/// after every step the started or waiting job with the most bytes left (its own on a tie): the
/// highest-level-first schedule of chains, whose makespan is within one step of the best a
/// sequential digest allows (the larger of the longest job and an even split). Whole jobs
/// largest first leave a tail: 2 GiB in 10^9-byte shards is 1 GB, 1 GB and 147 MB, so one core
/// hashed 1.147 GB while the other idled for the last 147 MB (7% above the split); here both
/// cores take turns on the small shard and on the others' last bytes and end together. At most
/// [`Tuning::started`] jobs are open at once (a job starts when fewer are in progress), so open
/// files stay bounded whatever the number of files; `order` lists the jobs largest first.
fn most_remaining_first<'j, 'a>(
    jobs: &'j [Job<'a>],
    order: &[usize],
    algorithm: HashAlgorithm,
    detect: bool,
    tuning: Tuning,
    progress: &dyn Progress,
) -> Result<Vec<(usize, Hashed)>, DigestError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    /// Jobs not started (`order[next..]`) and started jobs no worker holds.
    struct Queue<'j, 'a> {
        next: usize,
        started: usize,
        paused: Vec<(usize, Hashing<'j, 'a>)>,
    }
    /// What a worker does next: start job `i`, or go on with a paused one.
    enum Pick<'j, 'a> {
        Start(usize),
        Resume(usize, Hashing<'j, 'a>),
    }
    let queue = Mutex::new(Queue {
        next: 0,
        started: 0,
        paused: Vec::new(),
    });
    let failed = AtomicBool::new(false);
    let lock = || queue.lock().unwrap_or_else(|p| p.into_inner());
    let step = tuning.step.max(1);
    let workers = rayon::current_num_threads().min(order.len()).max(1);
    // The job with the most bytes left among the paused ones, the next one to start (while fewer
    // than the limit are started) and `own` (the one this worker just stepped, preferred on a
    // tie); `None` when there is nothing left to take.
    let pick = |own: Option<(usize, Hashing<'j, 'a>)>| -> Option<Pick<'j, 'a>> {
        let mut q = lock();
        let own_left = own.as_ref().map_or(0, |(_, h)| h.remaining());
        let paused = (0..q.paused.len()).max_by_key(|&k| q.paused[k].1.remaining());
        let paused_left = paused.map_or(0, |k| q.paused[k].1.remaining());
        let can_start = q.next < order.len() && q.started < tuning.started.max(workers);
        let new_left = if can_start {
            jobs[order[q.next]].len()
        } else {
            0
        };
        let best = own_left.max(paused_left).max(new_left);
        if let Some((i, h)) = own {
            if own_left == best {
                return Some(Pick::Resume(i, h));
            }
            q.paused.push((i, h));
        }
        if can_start && new_left >= paused_left {
            q.next += 1;
            q.started += 1;
            return Some(Pick::Start(order[q.next - 1]));
        }
        let k = (0..q.paused.len()).max_by_key(|&k| q.paused[k].1.remaining())?;
        let (i, h) = q.paused.swap_remove(k);
        Some(Pick::Resume(i, h))
    };
    let run = || -> Result<Vec<(usize, Hashed)>, DigestError> {
        let mut done = Vec::new();
        let mut own = None;
        while !failed.load(Ordering::Relaxed) {
            let (i, mut hashing) = match pick(own.take()) {
                None => break,
                Some(Pick::Resume(i, h)) => (i, h),
                Some(Pick::Start(i)) => (i, Hashing::start(&jobs[i], algorithm, detect)?),
            };
            hashing.advance(step, progress)?;
            if hashing.remaining() == 0 {
                done.push((i, hashing.finish()?));
                lock().started -= 1;
            } else {
                own = Some((i, hashing));
            }
        }
        Ok(done)
    };
    let results: Vec<Result<Vec<(usize, Hashed)>, DigestError>> = (0..workers)
        .into_par_iter()
        .with_max_len(1)
        .map(|_| {
            let result = run();
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            result
        })
        .collect();
    let mut all = Vec::with_capacity(order.len());
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}

/// Runs `work` on every index of `order` (largest job first) with one worker per pool thread,
/// each taking the next index when it is done: the longest-processing-time-first schedule, which
/// keeps a large job from being stolen late (rayon's halving splits would hand a second worker
/// the small jobs at the far end of the list first). Stops handing out work after an error.
fn longest_first<T: Send, E: Send>(
    order: &[usize],
    work: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = rayon::current_num_threads().min(order.len()).max(1);
    let results: Vec<Result<Vec<T>, E>> = (0..workers)
        .into_par_iter()
        .with_max_len(1)
        .map(|_| {
            let mut done = Vec::new();
            while !failed.load(Ordering::Relaxed) {
                let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                match work(i) {
                    Ok(t) => done.push(t),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(done)
        })
        .collect();
    let mut all = Vec::with_capacity(order.len());
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}
