//! Scheduling: every job runs on the rayon pool, largest first, and the digests come back in
//! signing order.
//!
//! Sequential hashes (SHA-256, BLAKE2b) are parallel across jobs — files, or shards of one file.
//! Largest-first keeps one big file from starting last and running alone. BLAKE3 is also parallel
//! inside one file ([`blake3_tree`]), so a single large BLAKE3 file uses every core too. Memory:
//! one [`read::CHUNK`] buffer per pool thread, whatever the model.

use super::plan::Job;
use super::read::Hashed;
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
}

impl Tuning {
    pub const DEFAULT: Tuning = Tuning {
        blake3_leaf: 1 << 20,
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
    let hashed = longest_first(&order, |i| hash_one(&jobs[i]).map(|digest| (i, digest)))?;
    let mut digests: Vec<Option<Hashed>> = (0..jobs.len()).map(|_| None).collect();
    for (i, digest) in hashed {
        digests[i] = Some(digest);
    }
    Ok(digests.into_iter().flatten().collect())
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
