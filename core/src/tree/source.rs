//! The hook through which a model listed somewhere other than this machine's file system (an
//! object store: see `crate::location`) gives its bytes to the hashing engine.
//!
//! Why here, on the tree's floor: a [`ModelTree`](super::ModelTree) says which files make a model;
//! when they are objects, the tree also carries the one reader that can fetch them, so every
//! consumer of a tree (the digest engine) reads a remote model without knowing which store it is.

use super::ModelFile;
use std::fmt;

/// Reads byte ranges of the files of a model that is not on the local file system.
///
/// Contract: `read_range` feeds exactly the bytes `start..end` of `file` to `sink`, in order, and
/// only bytes of the object version the listing saw; an object replaced, grown or shrunk since is
/// [`RemoteReadError::Changed`], never a mix of two versions.
pub trait RemoteReader: Send + Sync + fmt::Debug {
    /// Feeds the bytes `start..end` of `file` (a file of the tree this reader listed) to `sink`.
    fn read_range(
        &self,
        file: &ModelFile,
        start: u64,
        end: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), RemoteReadError>;

    /// `file` (a file of the tree this reader listed) as a stream its reader pulls, from its first
    /// byte: fetched ahead by the same pinned reads as [`RemoteReader::read_range`] (an object of
    /// another version is an error, never its bytes), the fetches stopped when the stream is
    /// dropped. `None` from a reader that cannot (the encryption engine then cannot read it).
    fn stream(&self, _file: &ModelFile) -> Option<Box<dyn std::io::Read + Send>> {
        None
    }
}

/// Why a remote read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteReadError {
    /// The object is no longer the one listed (its ETag or size differs): it was replaced.
    Changed,
    /// The store refused or failed the read (after its retries); the reason, without secrets.
    Failed(String),
}
