//! BLAKE3 of one large file on all cores, without mapping it and without big buffers.
//!
//! BLAKE3 is a Merkle tree: the file splits (at `left_subtree_len`) into subtrees whose chaining
//! values can be computed independently and merged. We split recursively with `rayon::join` down to
//! leaves of at most `leaf` bytes; each leaf is read with the thread's small chunk buffer and
//! hashed with SIMD on one core. Memory is one chunk per thread, whatever the file size, and each
//! byte is read once. The split follows the tree exactly, so the result equals `blake3::hash` of
//! the whole file (the tests check that against the reference implementation and `b3sum`).

use super::plan::Job;
use super::read::{
    detect_local, expect_eof, expect_unchanged, open, read_file_range, with_buffer, Hashed, Pieces,
};
use super::DigestError;
use crate::progress::Progress;
use blake3::hazmat::{left_subtree_len, merge_subtrees_non_root, merge_subtrees_root};
use blake3::hazmat::{ChainingValue, HasherExt, Mode};
use std::fs::File;
use std::path::Path;

/// Hashes the whole file of `job` (which must start at 0) with leaves of at most `leaf` bytes
/// (`leaf` ≥ 1024, BLAKE3's chunk size).
pub(super) fn hash_job(
    job: &Job<'_>,
    leaf: u64,
    detect: bool,
    progress: &dyn Progress,
) -> Result<Hashed, DigestError> {
    debug_assert!(job.start == 0 && leaf >= blake3::CHUNK_LEN as u64);
    let leaf = leaf.max(blake3::CHUNK_LEN as u64);
    let path = job.file.path.as_path();
    let file = open(job.file)?;
    let subtree = Subtree {
        file: &file,
        path,
        leaf,
        progress,
    };
    let len = job.len();
    let root = if len <= leaf {
        let mut hasher = blake3::Hasher::new();
        subtree.read_into(&mut hasher, 0, len)?;
        hasher.finalize()
    } else {
        let left = left_subtree_len(len);
        let (l, r) = rayon::join(|| subtree.cv(0, left), || subtree.cv(left, len - left));
        merge_subtrees_root(&l?, &r?, Mode::Hash)
    };
    if job.reaches_eof() {
        with_buffer(|buffer| expect_eof(&file, path, job.end, buffer))?;
    }
    // The subtrees read out of order: the head is read again from the hashed descriptor.
    let format = if detect {
        detect_local(job, &file, None)?
    } else {
        None
    };
    expect_unchanged(&file, job.file)?;
    Ok(Hashed {
        digest: root.as_bytes().to_vec(),
        format,
    })
}

/// What every node of the recursion needs.
struct Subtree<'a> {
    file: &'a File,
    path: &'a Path,
    leaf: u64,
    progress: &'a dyn Progress,
}

impl Subtree<'_> {
    /// The chaining value of the (non-root) subtree covering `offset..offset + len`.
    fn cv(&self, offset: u64, len: u64) -> Result<ChainingValue, DigestError> {
        if len <= self.leaf {
            let mut hasher = blake3::Hasher::new();
            hasher.set_input_offset(offset);
            self.read_into(&mut hasher, offset, len)?;
            return Ok(hasher.finalize_non_root());
        }
        let left = left_subtree_len(len);
        let (l, r) = rayon::join(
            || self.cv(offset, left),
            || self.cv(offset + left, len - left),
        );
        Ok(merge_subtrees_non_root(&l?, &r?, Mode::Hash))
    }

    fn read_into(
        &self,
        hasher: &mut blake3::Hasher,
        offset: u64,
        len: u64,
    ) -> Result<(), DigestError> {
        with_buffer(|buffer| {
            read_file_range(
                self.file,
                self.path,
                offset,
                offset + len,
                buffer,
                false,
                &mut Pieces::up_to(offset + len),
                &mut |bytes| {
                    hasher.update(bytes);
                    self.progress.advance(bytes.len() as u64);
                },
            )
        })
    }
}
