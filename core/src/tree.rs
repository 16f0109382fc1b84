//! Walk a model path into the ordered list of files that make the model.
//!
//! Guarantees (identical to model-signing 1.1.1, see `../shared/OMS-NOTES.md`):
//! - names are `/`-separated paths relative to the model root; a single-file model is named `"."`;
//! - order is component-wise (Python `PurePosixPath` order), not byte-wise on the full string;
//! - top-level `.git`, `.gitattributes`, `.github`, `.gitignore` and user ignore paths are skipped
//!   (path-prefix match: ignoring `a` skips `a/b` but not `ab`);
//! - symlinks are refused unless allowed; an allowed file link is hashed as its target's bytes.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

/// Paths ignored at the top of every model unless the user opts out (as in model-signing 1.1.1).
pub const DEFAULT_IGNORES: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// Errors while walking a model tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The model path (or an entry below it) could not be read.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A symlink was found and symlinks are not allowed.
    #[error("{path}: is a symlink; symlinks are refused unless allowed (--allow-symlinks)")]
    Symlink { path: PathBuf },
    /// An entry is neither a regular file nor a directory (socket, fifo, device, broken link, link to a directory).
    #[error("{path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    /// A name that cannot be represented safely (not UTF-8, `..`, absolute, empty component, NUL).
    #[error("invalid relative path {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
}

/// A validated path relative to the model root: `/`-separated, UTF-8, no empty, `.` or `..`
/// components, no NUL; or exactly `"."` for a single-file model. Ordered component-wise.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelPath(String);

impl RelPath {
    /// Validates `name` as a relative model path.
    pub fn new(name: &str) -> Result<RelPath, TreeError> {
        todo!("tree helper: {name}")
    }
    /// The path as it appears in a signature.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether `self` equals `prefix` or lies below it (component-wise, like `Path.is_relative_to`).
    pub fn starts_with(&self, prefix: &RelPath) -> bool {
        todo!("tree helper: {prefix}")
    }
}

impl Ord for RelPath {
    fn cmp(&self, other: &Self) -> Ordering {
        todo!("tree helper: {other}")
    }
}
impl PartialOrd for RelPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

/// How to walk a model.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Paths to skip, relative to the model root (a directory skips everything below it).
    pub ignore: Vec<RelPath>,
    /// Also skip [`DEFAULT_IGNORES`] (true in every normal use).
    pub ignore_git_paths: bool,
    /// Follow symlinks to files instead of refusing them.
    pub allow_symlinks: bool,
}

/// One regular file of the model.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Name in the signature.
    pub name: RelPath,
    /// Where to read it.
    pub path: PathBuf,
    /// Size in bytes when walked.
    pub len: u64,
}

/// The files of a model in signing order.
#[derive(Debug, Clone)]
pub struct ModelTree {
    /// The model path as given.
    pub root: PathBuf,
    /// True when the model is one file (its only entry is named `"."`).
    pub single_file: bool,
    /// Files sorted component-wise by name.
    pub files: Vec<ModelFile>,
}

/// Walks `root` (a directory or a single file) into a sorted [`ModelTree`].
pub fn walk(root: &Path, options: &WalkOptions) -> Result<ModelTree, TreeError> {
    todo!("tree helper: {root:?} {options:?}")
}

/// Turns a user-given ignore path (relative to the model root, or absolute and inside the model)
/// into a [`RelPath`]; `None` when it lies outside the model (then it cannot match anything).
pub fn resolve_ignore(root: &Path, path: &Path) -> Option<RelPath> {
    todo!("tree helper: {root:?} {path:?}")
}

/// The informative model name for the statement subject: the last component of `root`
/// (resolved when it is `.`/`..` or empty), as 1.1.1 does.
pub fn model_name(root: &Path) -> String {
    todo!("tree helper: {root:?}")
}
