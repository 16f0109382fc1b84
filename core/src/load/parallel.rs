//! The eager read of a plaintext file signed as shards: read once, in order, while the shards
//! already whole are hashed on the other cores (one shard per worker at a time), so that a load
//! costs about the read, not the read plus one core's hashing.
//!
//! Guarantee (as the streamed read's): `Ok` only if the signed shards tile exactly the bytes
//! read and every shard matched its signed digest.

use super::VerifiedFile;
use crate::digest::SignedDigests;
use crate::verify::VerifyError;
use std::sync::{Arc, Mutex};

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

    /// Reads `file` whole into `buffer`, shard by shard, each hashed by a worker once read.
    pub(super) fn read_into(
        self,
        file: &mut VerifiedFile,
        buffer: &mut [u8],
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
        let workers = super::cores().min(8);
        let (ready, shards) = std::sync::mpsc::sync_channel::<(usize, &[u8])>(workers * 2);
        let shards = Mutex::new(shards);
        let name = file.name.clone();
        let (digests, ranges) = (&self.digests, &self.ranges);
        let (read, failed) = std::thread::scope(|scope| {
            let hashers: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut failed = None;
                        // The lock is held only to take the next shard.
                        while let Some((index, shard)) =
                            shards.lock().ok().and_then(|s| s.recv().ok())
                        {
                            if failed.is_none() && !digests.range_matches(&name, index, shard) {
                                failed = Some(index);
                            }
                        }
                        failed
                    })
                })
                .collect();
            let mut rest = &mut buffer[..];
            let mut read = Ok(());
            for (index, (start, end)) in ranges.iter().enumerate() {
                let (shard, tail) = std::mem::take(&mut rest).split_at_mut((end - start) as usize);
                rest = tail;
                if let Err(e) = file.fill(shard) {
                    read = Err(e);
                    break;
                }
                if ready.send((index, &*shard)).is_err() {
                    read = Err(file.changed("hashing stopped"));
                    break;
                }
            }
            drop(ready);
            // A hasher only hashes; it cannot panic on any input. If one did, the read fails.
            let failed: Result<Vec<Option<usize>>, _> =
                hashers.into_iter().map(|h| h.join()).collect();
            (read, failed)
        });
        read?;
        let failed = failed.map_err(|_| file.changed("hashing stopped"))?;
        match failed.into_iter().flatten().min() {
            None => Ok(()),
            Some(index) => {
                let (start, end) = self.ranges[index];
                Err(file.changed(&format!(
                    "its digest of bytes {start}..{end} differs from the signed one"
                )))
            }
        }
    }
}
