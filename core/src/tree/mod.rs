//! Walk a model path into the ordered list of files that make the model.
//!
//! Guarantees (identical to model-signing 1.1.1, see `../shared/OMS-NOTES.md`):
//! - names are `/`-separated paths relative to the model root; a single-file model is named `"."`;
//! - order is component-wise (Python `PurePosixPath` order), not byte-wise on the full string;
//! - top-level `.git`, `.gitattributes`, `.github`, `.gitignore` and user ignore paths are skipped
//!   (path-prefix match: ignoring `a` skips `a/b` but not `ab`);
//! - symlinks are refused unless allowed; an allowed file link is hashed as its target's bytes.
//!
//! Hidden files are part of the model (1.1.1's `glob("**/*")` includes them); empty directories
//! contribute nothing. Ignored subtrees are not even looked at, so a socket or symlink inside an
//! ignored `.git` does not fail the walk (1.1.1 inspects them first and fails).

mod relpath;
mod resolve;
mod source;
mod walk;

pub use relpath::RelPath;
pub(crate) use resolve::push_unique;
pub use resolve::{model_name, resolve_ignore, resolve_sign_ignores, resolve_user_ignores};
pub use source::{RemoteReadError, RemoteReader};
pub use walk::walk;
#[cfg(feature = "storage")]
pub(crate) use walk::Ignores;

use std::path::PathBuf;
use std::sync::Arc;

/// Checks that `name` is a model name in normal form — non-empty, `/`-separated components none
/// of which is empty, `.` or `..`, no control character — so that one model cannot be named two
/// ways: `dev/../prod/llm` or `dev/` would otherwise match `dev/**` while meaning `prod/llm`. The
/// one check for every door (CLI, policy rules, `serve` requests, Python).
pub fn check_model_name(name: &str) -> Result<(), TreeError> {
    let refuse = |reason| TreeError::ModelName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(refuse("is empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse("contains a control character"));
    }
    for component in name.split('/') {
        match component {
            "" => {
                return Err(refuse(
                    "has an empty component (a leading, trailing or double `/`)",
                ))
            }
            "." | ".." => return Err(refuse("has a `.` or `..` component")),
            _ => {}
        }
    }
    Ok(())
}

/// Paths ignored at the top of every model unless the user opts out (as in model-signing 1.1.1).
pub const DEFAULT_IGNORES: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// The metadata that `hf download --local-dir` keeps inside the model directory (a lock and an
/// ETag record per downloaded file): never part of the model, and written after the model was
/// signed, so signing skips it (and records it in `ignore_paths` when the model has it), a
/// verifier skips it unless the signature lists files below it, and decryption skips it when the
/// envelope does not list it (docs/FORMAT.md §4.2). Unlike [`DEFAULT_IGNORES`] it is recorded only
/// where present, so other signatures stay byte-identical to model-signing 1.1.1's.
pub const HUGGING_FACE_LOCAL_DIR_CACHE: &str = ".cache/huggingface";

/// Errors while walking a model tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The model path (or an entry below it) could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The model path, or the entry below it, that could not be examined or listed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An ignore path given to `sign` that names the model root or lies outside the model.
    #[error("--ignore {path:?}: {reason}; give a path inside the model")]
    Ignore {
        /// The ignore path as given.
        path: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A model name (what policy rules match: `--model-name`, a request's `model_name`, a rule's
    /// `name`) that is not in normal form.
    #[error("model name {name:?}: {reason}")]
    ModelName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A symlink was found and symlinks are not allowed.
    #[error("{path}: is a symlink; symlinks are refused unless allowed (--allow-symlinks)")]
    Symlink {
        /// The link itself (the model path, or an entry below it), not its target.
        path: PathBuf,
    },
    /// An entry is neither a regular file nor a directory (socket, fifo, device, broken link, link to a directory).
    #[error("{path}: {reason}")]
    Unsupported {
        /// The entry, as found on disk (for a link: the link, not its target).
        path: PathBuf,
        /// What the entry is and what would have been accepted, e.g. `is a named pipe (fifo);
        /// only regular files and directories can be part of a model`.
        reason: String,
    },
    /// A name that cannot be represented safely (not UTF-8, `..`, absolute, empty component, NUL).
    #[error("invalid relative path {name:?}: {reason}")]
    InvalidName {
        /// The rejected name, as given or as read from the directory (a name that is not UTF-8
        /// is shown lossily, after its parent's path).
        name: String,
        /// Which rule it breaks, e.g. ``"`..` path component"`` or `"not valid UTF-8"`.
        reason: &'static str,
    },
    /// A model location in object storage that could not be parsed, reached or listed.
    #[error("{location}: {reason}")]
    Storage {
        /// The location as given (`s3://bucket/prefix`, …), or the object that failed.
        location: String,
        /// What the store answered or which rule the location breaks, in the user's terms.
        reason: String,
    },
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
    /// Where to read it (for an allowed symlink: the link, which reading follows).
    pub path: PathBuf,
    /// Size in bytes when walked.
    pub len: u64,
    /// The file's change time when walked; hashing checks it again (see [`ChangeStamp`]).
    pub stamp: ChangeStamp,
    /// Whether `path` is a symlink the walk allowed (`allow_symlinks`): only then does
    /// [`ModelFile::open`] follow a link at its last component.
    pub via_symlink: bool,
}

impl ModelFile {
    /// Opens the file for reading under the one open rule ([`crate::fs::open`]): never blocking,
    /// refused unless a regular file, and not through a symlink unless the walk allowed this one —
    /// so a FIFO or a link swapped in after the walk is an error, not a hang or another file.
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        if self.via_symlink {
            crate::fs::open_following(&self.path)
        } else {
            crate::fs::open_nofollow(&self.path)
        }
    }

    /// A path to the file itself, for readers that open without following links (the
    /// envelope's streams): `path`, or for a symlink the walk allowed, its target resolved now.
    pub fn source_path(&self) -> std::io::Result<PathBuf> {
        if self.via_symlink {
            self.path.canonicalize()
        } else {
            Ok(self.path.clone())
        }
    }
}

/// A file's status-change time (`ctime`, to the nanosecond) as seen at one moment.
///
/// Why ctime: every write to a file updates it (as does a chmod), and unlike mtime it cannot be
/// set back by the writer (`utimensat` updates ctime too). Hashing compares the stamp taken by the
/// walk with the open file's before and after reading it, so a file rewritten in place — even to
/// the same size — between the walk and the end of its hashing is reported as changed instead of
/// being signed over a mix of old and new bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeStamp {
    secs: i64,
    nanos: i64,
}

impl ChangeStamp {
    /// The stamp of a file's metadata.
    pub fn of(meta: &std::fs::Metadata) -> ChangeStamp {
        use std::os::unix::fs::MetadataExt;
        ChangeStamp {
            secs: meta.ctime(),
            nanos: meta.ctime_nsec(),
        }
    }
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
    /// For a model listed in object storage: the reader of its objects (each file's `path` is
    /// then the object's URL, for messages). `None` for a model on the local file system.
    pub remote: Option<Arc<dyn RemoteReader>>,
}

impl ModelTree {
    /// Total bytes of all files (as walked); handy for progress bars.
    pub fn total_len(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }
}
