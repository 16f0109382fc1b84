//! The eager read of a plaintext file signed as shards: read once, shards side by side, each
//! chunk hashed by its shard's worker right after it lands in place, so that a load costs about
//! the read, not the read plus one core's hashing.
//!
//! Guarantee (as the streamed read's): `Ok` only if the signed shards tile exactly the bytes
//! read and every shard matched its signed digest.

use super::{Destination, VerifiedFile};
use crate::digest::{SignedDigests, StreamCheck};
use crate::verify::VerifyError;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

/// The signed shards of one file, `(start, end)` in file order.
pub(super) struct Shards {
    digests: Arc<SignedDigests>,
    ranges: Vec<(u64, u64)>,
}

impl Shards {
    /// The shards of `name` when there are several to share out (a files digest, or one shard,
    /// is one stream: the streamed read does as well).
    pub(super) fn of(digests: &Arc<SignedDigests>, name: &str) -> Option<Shards> {
        let ranges = digests
            .ranges(name)?
            .into_iter()
            .map(|(start, end)| end.map(|end| (start, end)))
            .collect::<Option<Vec<_>>>()?;
        (ranges.len() > 1).then(|| Shards {
            digests: Arc::clone(digests),
            ranges,
        })
    }

    /// Reads `file` whole into `buffer`, shards side by side: one lane per core (at most 8),
    /// lane `l` taking shards `l`, `l + lanes`, …; this thread reads a chunk of each lane's
    /// current shard in turn, positionally, straight into the shard's place in `buffer`, and the
    /// lane's worker hashes it there while the next chunks are read. So every core hashes while
    /// one reads, even when a file has only a few large shards (1 GB by default).
    pub(super) fn read_into<'b, D: Destination<'b>>(
        self,
        file: &mut VerifiedFile,
        buffer: D,
    ) -> Result<(), VerifyError> {
        let mut at = 0u64;
        for (start, end) in &self.ranges {
            if *start != at || end < start {
                return Err(file.changed(&format!(
                    "signed ranges do not tile the file (gap at byte {at})"
                )));
            }
            at = *end;
        }
        if at != buffer.len() as u64 {
            return Err(file.changed(&format!(
                "{} bytes, the signed shards cover {at}",
                buffer.len()
            )));
        }
        let lanes = super::cores().min(8).min(self.ranges.len());
        let mut queues: Vec<VecDeque<Shard<D>>> = (0..lanes).map(|_| VecDeque::new()).collect();
        let mut rest = buffer;
        for (index, (start, end)) in self.ranges.iter().enumerate() {
            let (part, tail) = rest.split_at((end - start) as usize);
            rest = tail;
            queues[index % lanes].push_back(Shard {
                index,
                part,
                at: *start,
            });
        }
        let name = file.name.clone();
        let digests = &self.digests;
        let (read, failed) = std::thread::scope(|scope| {
            let mut senders = Vec::with_capacity(lanes);
            let mut workers = Vec::with_capacity(lanes);
            for _ in 0..lanes {
                let (sender, chunks) = std::sync::mpsc::sync_channel::<(usize, &'b [u8])>(4);
                senders.push(sender);
                let name = name.as_str();
                workers.push(scope.spawn(move || hash_lane(digests, name, chunks)));
            }
            let read = read_lanes(file, &mut queues, &senders);
            drop(senders);
            // A worker only hashes; it cannot panic on any input. If one did, the read fails.
            let failed: Result<Vec<Option<(usize, String)>>, _> =
                workers.into_iter().map(|w| w.join()).collect();
            (read, failed)
        });
        read?;
        let failed = failed.map_err(|_| file.changed("hashing stopped"))?;
        match failed.into_iter().flatten().min_by_key(|(index, _)| *index) {
            None => Ok(()),
            Some((_, reason)) => Err(file.changed(&reason)),
        }
    }
}

/// One shard of an eager read: its index among the file's signed shards, the part of the
/// destination not read yet, and the file offset it starts at.
struct Shard<D> {
    index: usize,
    part: D,
    at: u64,
}

/// The reading side of [`Shards::read_into`]: a chunk of each lane's current shard in turn,
/// each handed to its lane's worker once read; a shard with no byte is still handed over (as an
/// empty chunk) so that its check runs.
fn read_lanes<'b, D: Destination<'b>>(
    file: &VerifiedFile,
    queues: &mut [VecDeque<Shard<D>>],
    senders: &[SyncSender<(usize, &'b [u8])>],
) -> Result<(), VerifyError> {
    loop {
        let mut busy = false;
        for (queue, sender) in queues.iter_mut().zip(senders) {
            let Some(shard) = queue.front_mut() else {
                continue;
            };
            busy = true;
            let n = shard.part.len().min(super::READ_CHUNK);
            let chunk = shard.part.take_front(n);
            file.read_at(chunk, shard.at)?;
            shard.at += n as u64;
            let index = shard.index;
            if shard.part.is_empty() {
                queue.pop_front();
            }
            if sender.send((index, &*chunk)).is_err() {
                return Err(file.changed("hashing stopped"));
            }
        }
        if !busy {
            return Ok(());
        }
    }
}

/// One lane's worker: hashes the chunks of its shards in order, each shard against its signed
/// digest; the first shard of the lane that differs, with the reason.
fn hash_lane(
    digests: &SignedDigests,
    name: &str,
    chunks: Receiver<(usize, &[u8])>,
) -> Option<(usize, String)> {
    let mut failed = None;
    let mut current: Option<(usize, StreamCheck)> = None;
    let close = |current: Option<(usize, StreamCheck)>, failed: &mut Option<(usize, String)>| {
        if let Some((index, check)) = current {
            if let Err(reason) = check.finish() {
                failed.get_or_insert((index, reason));
            }
        }
    };
    for (index, chunk) in chunks {
        if current.as_ref().map(|(i, _)| *i) != Some(index) {
            close(current.take(), &mut failed);
            match digests.range_check(name, index) {
                Some(check) => current = Some((index, check)),
                None => {
                    failed.get_or_insert((index, format!("shard {index} is not signed")));
                }
            }
        }
        if let Some((_, check)) = current.as_mut() {
            check.update(chunk);
        }
    }
    close(current.take(), &mut failed);
    failed
}
