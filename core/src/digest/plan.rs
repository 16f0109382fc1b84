//! Cutting a model into resources: which byte range of which file each resource covers, and what it
//! is called in the signature.
//!
//! The plan is built in signing order (files in tree order, shards by start offset), so hashing
//! the jobs in any order and putting the digests back by index yields 1.1.1's resource order.

use super::Method;
use crate::tree::{ModelFile, ModelTree};

/// One resource to hash: the byte range `start..end` of `file`.
pub(super) struct Job<'a> {
    pub file: &'a ModelFile,
    pub start: u64,
    pub end: u64,
}

impl Job<'_> {
    /// Bytes this job reads.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the job ends where the file ended when walked; then reading must also find EOF
    /// there, or the file grew.
    pub fn reaches_eof(&self) -> bool {
        self.end == self.file.len
    }

    /// The resource name: `path` for a whole file, `path:start:end` for a shard.
    pub fn resource_name(&self, method: Method) -> String {
        match method {
            Method::Files => self.file.name.as_str().to_owned(),
            Method::Shards { .. } => format!("{}:{}:{}", self.file.name, self.start, self.end),
        }
    }
}

/// The jobs for `tree` under `method`, in signing order. `shard_size` must be > 0.
pub(super) fn plan(tree: &ModelTree, method: Method) -> Vec<Job<'_>> {
    match method {
        Method::Files => tree
            .files
            .iter()
            .map(|file| Job {
                file,
                start: 0,
                end: file.len,
            })
            .collect(),
        Method::Shards { shard_size } => tree
            .files
            .iter()
            .flat_map(|f| shards(f, shard_size))
            .collect(),
    }
}

/// `[0, s), [s, 2s), …, [ks, len)`; nothing for an empty file (1.1.1 lists no shard for it).
fn shards(file: &ModelFile, shard_size: u64) -> impl Iterator<Item = Job<'_>> {
    let starts = (0..file.len).step_by(usize::try_from(shard_size).unwrap_or(usize::MAX));
    starts.map(move |start| Job {
        file,
        start,
        end: file.len.min(start.saturating_add(shard_size)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::RelPath;
    use std::path::PathBuf;

    fn tree(files: &[(&str, u64)]) -> ModelTree {
        let files = files
            .iter()
            .map(|&(name, len)| ModelFile {
                name: RelPath::new(name).unwrap(),
                path: PathBuf::from(name),
                len,
                stamp: Default::default(),
                via_symlink: false,
            })
            .collect();
        ModelTree {
            root: PathBuf::from("m"),
            single_file: false,
            files,
            remote: None,
        }
    }

    fn names(tree: &ModelTree, method: Method) -> Vec<String> {
        plan(tree, method)
            .iter()
            .map(|j| j.resource_name(method))
            .collect()
    }

    #[test]
    fn files_mode_lists_every_file_including_empty_ones() {
        let t = tree(&[("a", 10), ("b:c", 0)]);
        assert_eq!(names(&t, Method::Files), ["a", "b:c"]);
    }

    #[test]
    fn shards_cover_each_file_and_skip_empty_ones() {
        let t = tree(&[("exact", 8), ("empty", 0), ("short", 9), ("tiny", 1)]);
        assert_eq!(
            names(&t, Method::Shards { shard_size: 4 }),
            [
                "exact:0:4",
                "exact:4:8",
                "short:0:4",
                "short:4:8",
                "short:8:9",
                "tiny:0:1"
            ]
        );
        let jobs = plan(&t, Method::Shards { shard_size: 4 });
        let eof: Vec<bool> = jobs.iter().map(Job::reaches_eof).collect();
        assert_eq!(eof, [false, true, false, false, true, true]);
    }

    #[test]
    fn huge_shard_sizes_do_not_overflow() {
        let t = tree(&[("big", u64::MAX - 1)]);
        let jobs = plan(
            &t,
            Method::Shards {
                shard_size: u64::MAX / 2 + 1,
            },
        );
        let ranges: Vec<(u64, u64)> = jobs.iter().map(|j| (j.start, j.end)).collect();
        assert_eq!(
            ranges,
            [(0, u64::MAX / 2 + 1), (u64::MAX / 2 + 1, u64::MAX - 1)]
        );
    }
}
