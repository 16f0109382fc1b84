//! Encryption that proves it encrypted the signed bytes: each file's plaintext is hashed, in the
//! same read that feeds the cipher, and compared with the digests of a signed manifest
//! ([`crate::digest::StreamCheck`]). `seal` uses it, so the ciphertext it publishes can only hold
//! the content its inner signature covers — a file rewritten between signing and encrypting fails
//! the run instead of being sealed under a signature that does not match it.
//!
//! Schedule: parallel across files; inside one file the batches go in order (a hash is
//! sequential), with two buffers so that batch `k` is hashed on one thread while batch `k − 1`
//! is sealed and written on another. Memory: two [`BATCH`]-sized buffers per file in flight.

use std::io;
use std::os::unix::fs::FileExt;

use rayon::prelude::*;

use super::format::TAG_LEN;
use super::stream::{ChunkLayout, Job};
use super::SealError;
use crate::digest::StreamCheck;
use crate::progress::Progress;

/// Plaintext bytes per pipelined batch (at least one chunk): small enough that a batch is still
/// in cache when it is hashed, large enough that the hand-over costs nothing.
const BATCH: u64 = 1 << 20;

/// Encrypts every job (as [`super::stream::encrypt_jobs`] does) while checking its plaintext with
/// the matching `checks[i]` (`None`: a file the manifest does not cover, encrypted unchecked). A
/// mismatch is [`SealError::Changed`] naming the file.
pub fn encrypt_jobs_checked(
    jobs: &[Job<'_>],
    checks: Vec<Option<StreamCheck>>,
    progress: &dyn Progress,
) -> Result<(), SealError> {
    let mut work: Vec<(&Job<'_>, Option<StreamCheck>)> = jobs.iter().zip(checks).collect();
    // Largest first, so one big file does not start last and run alone.
    work.sort_by_key(|(job, _)| std::cmp::Reverse(job.cipher.layout().size()));
    work.into_par_iter()
        .with_max_len(1)
        .try_for_each(|(job, check)| encrypt_one(job, check, progress))
}

/// Batch `first .. first + count` of a file: its chunks laid out `plaintext ‖ tag slot`.
struct Batch {
    buf: Vec<u8>,
    first: u64,
    count: u64,
}

fn encrypt_one(
    job: &Job<'_>,
    mut check: Option<StreamCheck>,
    progress: &dyn Progress,
) -> Result<(), SealError> {
    let layout = job.cipher.layout();
    let per = (BATCH / layout.chunk_size()).max(1);
    let chunks = layout.chunks();
    let mut spare = Vec::new();
    let mut sealing: Option<Batch> = None;
    let mut first = 0;
    loop {
        let reading = if first < chunks {
            let count = per.min(chunks - first);
            Some(read_batch(
                job,
                &layout,
                first,
                count,
                std::mem::take(&mut spare),
            )?)
        } else {
            None
        };
        let previous = sealing.take();
        let (_, sealed) = rayon::join(
            || {
                if let (Some(batch), Some(check)) = (&reading, check.as_mut()) {
                    feed(check, &layout, batch);
                }
            },
            || match previous {
                Some(mut batch) => {
                    seal_and_write(job, &layout, &mut batch, progress).map(|_| batch.buf)
                }
                None => Ok(Vec::new()),
            },
        );
        spare = sealed?;
        match reading {
            Some(batch) => {
                first += batch.count;
                sealing = Some(batch);
            }
            None => break,
        }
    }
    match check.map(StreamCheck::finish) {
        Some(Err(reason)) => Err(SealError::Changed {
            path: job.src_name.to_path_buf(),
            reason: format!("changed while sealing: {reason}"),
        }),
        _ => Ok(()),
    }
}

fn read_batch(
    job: &Job<'_>,
    layout: &ChunkLayout,
    first: u64,
    count: u64,
    mut buf: Vec<u8>,
) -> Result<Batch, SealError> {
    let last = first + count - 1;
    let span =
        layout.ct_offset(last) + layout.pt_len(last) + TAG_LEN as u64 - layout.ct_offset(first);
    buf.resize(span as usize, 0);
    let mut off = 0usize;
    for i in first..first + count {
        let pt = layout.pt_len(i) as usize;
        job.src
            .read_exact_at(&mut buf[off..off + pt], i * layout.chunk_size())
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => SealError::Changed {
                    path: job.src_name.to_path_buf(),
                    reason: format!("shorter than the {} bytes recorded", layout.size()),
                },
                _ => SealError::io(job.src_name, e),
            })?;
        off += pt + TAG_LEN;
    }
    Ok(Batch { buf, first, count })
}

/// Feeds the batch's plaintext (every chunk's first `pt_len` bytes) to the check, in order.
fn feed(check: &mut StreamCheck, layout: &ChunkLayout, batch: &Batch) {
    let mut off = 0usize;
    for i in batch.first..batch.first + batch.count {
        let pt = layout.pt_len(i) as usize;
        check.update(&batch.buf[off..off + pt]);
        off += pt + TAG_LEN;
    }
}

fn seal_and_write(
    job: &Job<'_>,
    layout: &ChunkLayout,
    batch: &mut Batch,
    progress: &dyn Progress,
) -> Result<(), SealError> {
    let mut off = 0usize;
    let mut plaintext = 0u64;
    for i in batch.first..batch.first + batch.count {
        let pt = layout.pt_len(i) as usize;
        job.cipher
            .seal_chunk(i, &mut batch.buf[off..off + pt + TAG_LEN])?;
        off += pt + TAG_LEN;
        plaintext += pt as u64;
    }
    let at = job.ct_base + layout.ct_offset(batch.first);
    job.dst
        .write_all_at(&batch.buf, at)
        .map_err(|e| SealError::io(job.dst_name, e))?;
    crate::fs::atomic::start_writeback(job.dst, at, batch.buf.len() as u64);
    progress.advance(plaintext);
    Ok(())
}
