//! Scheduling: every job runs on the rayon pool, largest first, and the digests come back in
//! signing order.
//!
//! Sequential hashes (SHA-256, BLAKE2b) are parallel across jobs — files, or shards of one file.
//! Largest-first keeps one big file from starting last and running alone. BLAKE3 is also parallel
//! inside one file ([`blake3_tree`]), so a single large BLAKE3 file uses every core too. Memory:
//! one [`read::CHUNK`] buffer per pool thread, whatever the model.

use super::plan::Job;
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

/// Digests of `jobs`, in the same order; the files are read through `remote` when the model is
/// in object storage (each job then streams its ranged GETs; BLAKE3 hashes them as they come,
/// which gives the same digest as the parallel subtrees of a local file).
pub(super) fn hash_jobs(
    jobs: &[Job<'_>],
    remote: Option<&dyn RemoteReader>,
    algorithm: HashAlgorithm,
    tuning: Tuning,
    progress: &dyn Progress,
) -> Result<Vec<Vec<u8>>, DigestError> {
    let hash_one = |job: &Job<'_>| {
        if let Some(remote) = remote {
            read::hash_remote_job(job, remote, algorithm, progress)
        } else if algorithm == HashAlgorithm::Blake3
            && job.start == 0
            && job.len() > tuning.blake3_leaf
        {
            blake3_tree::hash_job(job, tuning.blake3_leaf, progress)
        } else {
            read::hash_job(job, algorithm, progress)
        }
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].len()));
    let hashed: Vec<(usize, Vec<u8>)> = order
        .into_par_iter()
        .with_max_len(1)
        .map(|i| hash_one(&jobs[i]).map(|digest| (i, digest)))
        .collect::<Result<_, _>>()?;
    let mut digests = vec![Vec::new(); jobs.len()];
    for (i, digest) in hashed {
        digests[i] = digest;
    }
    Ok(digests)
}
