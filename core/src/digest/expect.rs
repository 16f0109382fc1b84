//! Checking bytes against a signed manifest while they stream by, so a consumer that reads a file
//! for another purpose (encryption) proves it read exactly the bytes that were signed.
//!
//! [`SignedDigests`] maps each signed file to the byte ranges its resources cover (the whole file
//! for files serialization, each `path:start:end` shard for shards) and their digests;
//! [`StreamCheck`] hashes one file's bytes, fed in order, range by range, and says at the end
//! whether every range matched. The hashes are the ones signing used (`StreamHasher`), so a
//! match means "same bytes as signed", not merely "same size and time stamp".

use super::hasher::StreamHasher;
use super::{resource_file, DigestError, HashAlgorithm, Method, Resource, SerializationConfig};
use std::collections::HashMap;

/// One signed byte range of a file and its digest; `end == None` means "to the end of the file"
/// (files serialization, whose resources carry no size).
#[derive(Debug, Clone)]
struct SignedRange {
    start: u64,
    end: Option<u64>,
    digest: Vec<u8>,
}

/// The signed digests of a manifest, by file name.
#[derive(Debug, Clone)]
pub struct SignedDigests {
    hash: HashAlgorithm,
    method: Method,
    files: HashMap<String, Vec<SignedRange>>,
}

impl SignedDigests {
    /// Indexes `resources` signed under `config` by file. Fails for a resource name that does not
    /// parse under the method (which signing never produces).
    pub fn new(
        config: &SerializationConfig,
        resources: &[Resource],
    ) -> Result<SignedDigests, DigestError> {
        let mut files: HashMap<String, Vec<SignedRange>> = HashMap::new();
        for resource in resources {
            let bad = || DigestError::Config(format!("resource name {:?}", resource.name));
            let file = resource_file(&resource.name, config.method).ok_or_else(bad)?;
            let (start, end) = match config.method {
                Method::Files => (0, None),
                Method::Shards { .. } => {
                    let offsets = &resource.name[file.len() + 1..];
                    let (start, end) = offsets.split_once(':').ok_or_else(bad)?;
                    let start: u64 = start.parse().map_err(|_| bad())?;
                    let end: u64 = end.parse().map_err(|_| bad())?;
                    (start, Some(end))
                }
            };
            files
                .entry(file.to_string())
                .or_default()
                .push(SignedRange {
                    start,
                    end,
                    digest: resource.digest.clone(),
                });
        }
        for ranges in files.values_mut() {
            ranges.sort_by_key(|r| r.start);
        }
        Ok(SignedDigests {
            hash: config.hash,
            method: config.method,
            files,
        })
    }

    /// The same digests with the file `from` listed as `to` (a single-file model is signed as
    /// `.` but stored under its own name inside a sealed directory).
    pub fn renamed(mut self, from: &str, to: &str) -> SignedDigests {
        if let Some(ranges) = self.files.remove(from) {
            self.files.insert(to.to_string(), ranges);
        }
        self
    }

    /// Names of the signed files, in no particular order.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Whether `name` is a signed file.
    pub fn covers(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The signed byte ranges of the file `name`, in file order: `(start, end)`, where `end` is
    /// `None` for a files-serialization resource (the whole file). `None` for an unsigned name.
    pub fn ranges(&self, name: &str) -> Option<Vec<(u64, Option<u64>)>> {
        let ranges = self.files.get(name)?;
        Some(ranges.iter().map(|r| (r.start, r.end)).collect())
    }

    /// Whether `bytes`, the whole of signed range `index` of the file `name` (as listed by
    /// [`SignedDigests::ranges`]), hash to that range's signed digest.
    pub fn range_matches(&self, name: &str, index: usize, bytes: &[u8]) -> bool {
        let Some(range) = self.files.get(name).and_then(|r| r.get(index)) else {
            return false;
        };
        let mut hasher = StreamHasher::new(self.hash);
        hasher.update(bytes);
        hasher.finalize() == range.digest
    }

    /// A check of signed range `index` of the file `name` alone (a shard with an end), fed its
    /// bytes in order from the range's start: what [`SignedDigests::range_matches`] checks, for a
    /// shard that arrives in parts (the eager load hashes shards side by side as they land).
    pub fn range_check(&self, name: &str, index: usize) -> Option<StreamCheck> {
        let range = self.files.get(name)?.get(index)?;
        let end = range.end?;
        Some(StreamCheck {
            hash: self.hash,
            ranges: vec![range.clone()],
            size: end,
            next: 0,
            offset: range.start,
            hasher: None,
            mismatch: None,
        })
    }

    /// A check of the file `name`, about to be read in full (`size` bytes); `None` when the
    /// manifest cannot list it. Under shards an empty file is listed by no resource, so an
    /// unlisted name gets a check with no range, which passes only if nothing is read.
    pub fn check(&self, name: &str, size: u64) -> Option<StreamCheck> {
        let ranges = match (self.files.get(name), self.method) {
            (Some(ranges), _) => ranges.clone(),
            (None, Method::Shards { .. }) => Vec::new(),
            (None, Method::Files) => return None,
        };
        Some(StreamCheck {
            hash: self.hash,
            ranges,
            size,
            next: 0,
            offset: 0,
            hasher: None,
            mismatch: None,
        })
    }
}

/// Hashes the bytes of `bytes` that lie before `end` (the stream being at `offset`) into
/// `hasher`, made on first use, advancing `offset`; returns the bytes beyond `end`. The one step
/// of both [`StreamCheck`] and [`StreamDigest`]: ranges are hashed as the file streams by.
fn hash_up_to<'b>(
    hasher: &mut Option<StreamHasher>,
    hash: HashAlgorithm,
    offset: &mut u64,
    end: u64,
    bytes: &'b [u8],
) -> &'b [u8] {
    let want = usize::try_from(end - *offset).map_or(bytes.len(), |n| n.min(bytes.len()));
    hasher
        .get_or_insert_with(|| StreamHasher::new(hash))
        .update(&bytes[..want]);
    *offset += want as u64;
    &bytes[want..]
}

/// The running check of one file against its signed ranges.
pub struct StreamCheck {
    hash: HashAlgorithm,
    ranges: Vec<SignedRange>,
    /// The file's size as read.
    size: u64,
    /// Index of the range being hashed (or the next one to start).
    next: usize,
    /// Bytes fed so far.
    offset: u64,
    hasher: Option<StreamHasher>,
    /// The first difference found.
    mismatch: Option<String>,
}

impl StreamCheck {
    /// Feeds the file's next bytes (in order, from offset 0).
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.mismatch.is_none() {
            let Some(range) = self.ranges.get(self.next) else {
                // Bytes beyond every signed range: the file is longer than what was signed.
                self.mismatch = Some(format!(
                    "{} bytes beyond what was signed",
                    self.size - self.offset
                ));
                return;
            };
            // A range starts where the previous one ended (shards tile the file).
            if self.hasher.is_none() && self.offset != range.start {
                self.mismatch = Some(format!(
                    "signed ranges do not tile the file (gap at byte {})",
                    self.offset
                ));
                return;
            }
            let end = range.end.unwrap_or(self.size);
            bytes = hash_up_to(&mut self.hasher, self.hash, &mut self.offset, end, bytes);
            if self.offset == end {
                self.close_range();
            }
        }
    }

    /// Completes the range being hashed and compares its digest with the signed one.
    fn close_range(&mut self) {
        let hasher = self
            .hasher
            .take()
            .unwrap_or_else(|| StreamHasher::new(self.hash));
        let range = &self.ranges[self.next];
        if hasher.finalize() != range.digest {
            self.mismatch = Some(match range.end {
                None => format!("its {} differs from the signed one", self.hash.name()),
                Some(end) => format!(
                    "its {} of bytes {}..{end} differs from the signed one",
                    self.hash.name(),
                    range.start
                ),
            });
        }
        self.next += 1;
    }

    /// After the whole file was fed: `Ok` only if every signed range was read and matched; else
    /// what differed.
    pub fn finish(mut self) -> Result<(), String> {
        if self.mismatch.is_none() && self.offset != self.size {
            self.mismatch = Some(format!("{} of {} bytes checked", self.offset, self.size));
        }
        // A files-serialization range ends at the file's end: an empty file closes it here.
        if self.mismatch.is_none()
            && self.next < self.ranges.len()
            && self.ranges[self.next].end.is_none()
            && self.offset == self.ranges[self.next].start
        {
            self.close_range();
        }
        if self.mismatch.is_none() && self.next != self.ranges.len() {
            self.mismatch = Some(format!("{} bytes, shorter than what was signed", self.size));
        }
        match self.mismatch {
            None => Ok(()),
            Some(reason) => Err(reason),
        }
    }
}

/// Hashes one file's bytes, fed in order, into the resources signing lists for it — what
/// [`super::hash_tree`] computes for that file, from a read made for another purpose (seal's
/// encryption pass), so the file is read once.
pub struct StreamDigest {
    hash: HashAlgorithm,
    algorithm: String,
    /// `(resource name, start, end)` of each resource, in signing order.
    ranges: Vec<(String, u64, u64)>,
    size: u64,
    next: usize,
    offset: u64,
    hasher: Option<StreamHasher>,
    digests: Vec<Vec<u8>>,
    /// Set when more bytes came than `size`.
    overflow: bool,
}

impl StreamDigest {
    /// The resources of the file `name` (as the statement names it: `.` for a single-file model)
    /// of `size` bytes under `config`: the whole file, or its shards (none for an empty file).
    pub fn new(
        config: &SerializationConfig,
        name: &str,
        size: u64,
    ) -> Result<StreamDigest, DigestError> {
        let algorithm = super::resource_algorithm(config.method, config.hash)?;
        let ranges = match config.method {
            Method::Files => vec![(name.to_string(), 0, size)],
            Method::Shards { shard_size } => {
                let step = usize::try_from(shard_size).unwrap_or(usize::MAX);
                (0..size)
                    .step_by(step)
                    .map(|start| {
                        let end = size.min(start.saturating_add(shard_size));
                        (format!("{name}:{start}:{end}"), start, end)
                    })
                    .collect()
            }
        };
        Ok(StreamDigest {
            hash: config.hash,
            algorithm,
            ranges,
            size,
            next: 0,
            offset: 0,
            hasher: None,
            digests: Vec::new(),
            overflow: false,
        })
    }

    /// Feeds the file's next bytes (in order, from offset 0).
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let Some(&(_, _, end)) = self.ranges.get(self.next) else {
                self.overflow = true;
                return;
            };
            bytes = hash_up_to(&mut self.hasher, self.hash, &mut self.offset, end, bytes);
            self.close_finished();
        }
    }

    /// Completes every range that ends where the bytes fed so far end (an empty file's one
    /// range ends where it starts).
    fn close_finished(&mut self) {
        while let Some(&(_, _, end)) = self.ranges.get(self.next) {
            if end != self.offset {
                return;
            }
            let hasher = self
                .hasher
                .take()
                .unwrap_or_else(|| StreamHasher::new(self.hash));
            self.digests.push(hasher.finalize());
            self.next += 1;
        }
    }

    /// After the whole file was fed: its resources, or what went wrong (not exactly `size`
    /// bytes fed).
    pub fn finish(mut self) -> Result<Vec<Resource>, String> {
        self.close_finished();
        if self.overflow || self.offset != self.size || self.next != self.ranges.len() {
            return Err(format!(
                "{} bytes read where {} were listed",
                self.offset, self.size
            ));
        }
        Ok(self
            .ranges
            .into_iter()
            .zip(self.digests)
            .map(|((name, _, _), digest)| Resource {
                name,
                algorithm: self.algorithm.clone(),
                digest,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hash_tree;
    use crate::tree::{walk, WalkOptions};

    fn config(method: Method, hash: HashAlgorithm) -> SerializationConfig {
        SerializationConfig {
            method,
            hash,
            allow_symlinks: false,
            ignore_paths: Vec::new(),
        }
    }

    /// Digests from the real hashing engine; the check is fed in odd piece sizes.
    fn checked(
        method: Method,
        hash: HashAlgorithm,
        signed: &[u8],
        read: &[u8],
    ) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.bin"), signed).unwrap();
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        let tree = walk(dir.path(), &WalkOptions::default()).unwrap();
        let config = config(method, hash);
        let resources = hash_tree(&tree, &config, &crate::progress::NoProgress).unwrap();
        let digests = SignedDigests::new(&config, &resources).unwrap();
        assert!(digests.covers("other") && !digests.covers("nope"));
        let mut check = digests.check("w.bin", read.len() as u64).unwrap();
        for piece in read.chunks(7) {
            check.update(piece);
        }
        check.finish()
    }

    #[test]
    fn same_bytes_pass_and_any_change_fails() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let methods = [Method::Files, Method::Shards { shard_size: 64 }];
        for method in methods {
            for hash in [HashAlgorithm::Sha256, HashAlgorithm::Blake2b] {
                assert_eq!(checked(method, hash, &data, &data), Ok(()));
                let mut changed = data.clone();
                changed[500] ^= 1;
                let err = checked(method, hash, &data, &changed).unwrap_err();
                assert!(err.contains("differs from the signed one"), "{err}");
                let err = checked(method, hash, &data, &data[..999]).unwrap_err();
                assert!(!err.is_empty());
                let mut longer = data.clone();
                longer.push(0);
                assert!(checked(method, hash, &data, &longer).is_err());
            }
        }
        assert_eq!(
            checked(Method::Files, HashAlgorithm::Blake3, &data, &data),
            Ok(())
        );
        assert_eq!(
            checked(Method::Files, HashAlgorithm::Sha256, b"", b""),
            Ok(())
        );
        assert!(checked(Method::Files, HashAlgorithm::Sha256, b"", b"a").is_err());
    }
}
