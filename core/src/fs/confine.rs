//! Confining untrusted relative paths to a root directory, for callers that take paths from a
//! request (`modelseal serve`, `docs/serve.md`) and must not let it name files elsewhere.
//!
//! Guarantees: [`ConfinedRoot::resolve`] refuses empty and absolute paths and any `..` component
//! before touching the file system, then resolves every symlink and refuses a result that lies
//! outside the (canonical) root. The path it returns is canonical — it holds no symlink — so
//! using it afterwards cannot be redirected by swapping a link on the path that was checked.
//! It does not protect against symlinks created *inside* the resolved model later; the model
//! walk refuses symlinks by default for that reason (`tree`). A root whose contents an attacker
//! can rewrite is out of scope (the operator owns `--root`).

use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfineError {
    /// The root itself cannot be resolved or is not a directory.
    #[error("{root}: cannot use as the root directory: {reason}")]
    Root {
        /// The root as given.
        root: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The path is empty.
    #[error("empty path; give a path relative to the root")]
    Empty,
    /// The path is absolute.
    #[error("{path:?}: absolute paths are refused; give a path relative to the root")]
    Absolute {
        /// The path as requested.
        path: String,
    },
    /// The path has a `..` component.
    #[error("{path:?}: `..` components are refused; give a path inside the root")]
    ParentDir {
        /// The path as requested.
        path: String,
    },
    /// The path resolves (through a symlink) outside the root.
    #[error("{path:?}: resolves outside the root (through a symlink)")]
    Escapes {
        /// The path as requested.
        path: String,
    },
    /// The path does not exist.
    #[error("{path:?}: no such file or directory under the root")]
    NotFound {
        /// The path as requested.
        path: String,
    },
    /// The path cannot be resolved for another reason (permissions, a NUL byte, …).
    #[error("{path:?}: cannot resolve: {source}")]
    Resolve {
        /// The path as requested.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ConfineError {
    /// True when the path is well-formed and inside the root but names nothing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ConfineError::NotFound { .. })
    }
}

/// A directory that request paths are confined to.
#[derive(Debug, Clone)]
pub struct ConfinedRoot {
    root: PathBuf,
}

impl ConfinedRoot {
    /// The root at `root`, canonicalized once (it must exist and be a directory).
    pub fn new(root: &Path) -> Result<ConfinedRoot, ConfineError> {
        let err = |reason: String| ConfineError::Root {
            root: root.to_path_buf(),
            reason,
        };
        let canonical = root.canonicalize().map_err(|e| err(e.to_string()))?;
        if !canonical.is_dir() {
            return Err(err("not a directory".into()));
        }
        Ok(ConfinedRoot { root: canonical })
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The canonical path `relative` names inside the root, or why it is refused.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, ConfineError> {
        let path = Path::new(relative);
        if relative.is_empty() {
            return Err(ConfineError::Empty);
        }
        for component in path.components() {
            match component {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(ConfineError::ParentDir {
                        path: relative.into(),
                    })
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(ConfineError::Absolute {
                        path: relative.into(),
                    })
                }
            }
        }
        let resolved = self.root.join(path).canonicalize().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfineError::NotFound {
                    path: relative.into(),
                }
            } else {
                ConfineError::Resolve {
                    path: relative.into(),
                    source,
                }
            }
        })?;
        // Component-wise, so `/srv/models-evil` is not taken for a path under `/srv/models`.
        if !resolved.starts_with(&self.root) {
            return Err(ConfineError::Escapes {
                path: relative.into(),
            });
        }
        Ok(resolved)
    }

    /// `path` shown relative to the root when it lies inside it (for messages sent to a client,
    /// which should not learn the server's directory layout), else unchanged.
    pub fn relative_text(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, ConfinedRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("models/llm")).unwrap();
        std::fs::write(root.join("models/llm/w.bin"), b"w").unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::create_dir_all(dir.path().join("root-evil")).unwrap();
        let confined = ConfinedRoot::new(&root).unwrap();
        (dir, confined)
    }

    #[test]
    fn paths_inside_resolve_to_canonical_paths() {
        let (_dir, root) = setup();
        let got = root.resolve("models/./llm").unwrap();
        assert_eq!(got, root.path().join("models/llm"));
        symlink("models/llm", root.path().join("alias")).unwrap();
        assert_eq!(root.resolve("alias/w.bin").unwrap(), got.join("w.bin"));
        assert_eq!(root.resolve("alias").unwrap(), got);
    }

    #[test]
    fn escapes_are_refused() {
        let (dir, root) = setup();
        assert!(matches!(root.resolve(""), Err(ConfineError::Empty)));
        assert!(matches!(
            root.resolve("/etc/passwd"),
            Err(ConfineError::Absolute { .. })
        ));
        assert!(matches!(
            root.resolve("models/../../outside"),
            Err(ConfineError::ParentDir { .. })
        ));
        // `..` is refused even when it would stay inside.
        assert!(matches!(
            root.resolve("models/llm/../llm"),
            Err(ConfineError::ParentDir { .. })
        ));
        symlink(dir.path().join("outside"), root.path().join("out")).unwrap();
        assert!(matches!(
            root.resolve("out"),
            Err(ConfineError::Escapes { .. })
        ));
        // A sibling whose name starts with the root's name is still outside.
        symlink(dir.path().join("root-evil"), root.path().join("evil")).unwrap();
        assert!(matches!(
            root.resolve("evil"),
            Err(ConfineError::Escapes { .. })
        ));
        let missing = root.resolve("models/none").unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert!(matches!(
            root.resolve("a\0b"),
            Err(ConfineError::Resolve { .. })
        ));
    }

    #[test]
    fn root_must_be_a_directory() {
        let (dir, _root) = setup();
        let file = dir.path().join("root/models/llm/w.bin");
        assert!(matches!(
            ConfinedRoot::new(&file),
            Err(ConfineError::Root { .. })
        ));
    }
}
