//! Scheduling: which jobs run in parallel, which get a whole-machine pipeline, and putting the
//! digests back in signing order.
//!
//! Sequential hashes (SHA-256, BLAKE2b) are parallel across jobs — files, or shards of one file —
//! on the rayon pool, largest first so one big file does not start last and run alone; a large job
//! gets a read-ahead thread so its reads overlap its hashing. BLAKE3 is parallel inside one file,
//! so large BLAKE3 files are hashed one after another, each over all cores, and only the small
//! ones run side by side. Memory: per pool thread one [`read::CHUNK`] buffer or one sequential
//! pipeline (a few chunks), plus at most one BLAKE3 pipeline.

use super::plan::Job;
use super::{pipeline, read, DigestError, HashAlgorithm, Progress};
use rayon::prelude::*;

/// Where the engine switches strategies; a parameter so tests can cross the thresholds with
/// small files.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tuning {
    /// SHA-256/BLAKE2b jobs at least this large get a read-ahead thread.
    pub sequential_pipeline_min: u64,
    /// BLAKE3 jobs at least this large are hashed with the parallel pipeline.
    pub blake3_pipeline_min: u64,
    /// Buffer size of the BLAKE3 pipeline: large enough to split over many cores.
    pub blake3_pipeline_buffer: usize,
}

impl Tuning {
    pub const DEFAULT: Tuning = Tuning {
        sequential_pipeline_min: 8 << 20,
        blake3_pipeline_min: 16 << 20,
        blake3_pipeline_buffer: 8 << 20,
    };
}

/// Digests of `jobs`, in the same order.
pub(super) fn hash_jobs(
    jobs: &[Job<'_>],
    algorithm: HashAlgorithm,
    tuning: Tuning,
    progress: &dyn Progress,
) -> Result<Vec<Vec<u8>>, DigestError> {
    let mut digests = vec![Vec::new(); jobs.len()];
    let pipelines = |i: &usize| {
        algorithm == HashAlgorithm::Blake3 && jobs[*i].len() >= tuning.blake3_pipeline_min
    };
    let (pipelined, pooled): (Vec<usize>, Vec<usize>) = (0..jobs.len()).partition(pipelines);
    for i in pipelined {
        let buffer = tuning.blake3_pipeline_buffer;
        digests[i] = pipeline::hash_job(&jobs[i], algorithm, buffer, progress)?;
    }
    for (i, digest) in hash_in_pool(jobs, pooled, algorithm, tuning, progress)? {
        digests[i] = digest;
    }
    Ok(digests)
}

/// Hashes the jobs at `indices`, one job per pool task, largest first.
fn hash_in_pool(
    jobs: &[Job<'_>],
    mut indices: Vec<usize>,
    algorithm: HashAlgorithm,
    tuning: Tuning,
    progress: &dyn Progress,
) -> Result<Vec<(usize, Vec<u8>)>, DigestError> {
    indices.sort_by_key(|&i| std::cmp::Reverse(jobs[i].len()));
    let hash_one = |job: &Job<'_>| {
        let read_ahead =
            algorithm != HashAlgorithm::Blake3 && job.len() >= tuning.sequential_pipeline_min;
        if read_ahead {
            pipeline::hash_job(job, algorithm, read::CHUNK, progress)
        } else {
            read::hash_job(job, algorithm, progress)
        }
    };
    indices
        .into_par_iter()
        .with_max_len(1)
        .map(|i| hash_one(&jobs[i]).map(|digest| (i, digest)))
        .collect()
}
