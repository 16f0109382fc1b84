//! The directory walker: which entries of a model path are model files, under which names.
//!
//! Every entry is classified from `lstat`, so a symlink is seen as a symlink before anything
//! follows it; only an allowed link to a regular file becomes a [`ModelFile`]. The result is
//! sorted component-wise (see [`RelPath`]'s ordering).

use super::{
    ChangeStamp, ModelFile, ModelTree, RelPath, TreeError, WalkOptions, DEFAULT_IGNORES,
    HUGGING_FACE_LOCAL_DIR_CACHE,
};
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

/// Walks `root` (a directory or a single file) into a sorted [`ModelTree`].
pub fn walk(root: &Path, options: &WalkOptions) -> Result<ModelTree, TreeError> {
    let ignores = Ignores::new(options);
    let meta = root.symlink_metadata().map_err(io_error(root))?;
    // A symlinked model root is followed when links are allowed (as 1.1.1's glob does), even if
    // it points to a directory: the link names the whole model, not an entry inside it.
    let (single_file, files) = match classify(root, &meta, options.allow_symlinks, true)? {
        Kind::File {
            len,
            stamp,
            via_symlink,
        } => (true, single_file(root, len, stamp, via_symlink, &ignores)),
        Kind::Dir => (false, walk_dir(root, &ignores, options.allow_symlinks)?),
    };
    Ok(ModelTree {
        root: root.to_path_buf(),
        single_file,
        files,
        remote: None,
    })
}

/// What a path is, once symlink policy is applied.
enum Kind {
    File {
        len: u64,
        stamp: ChangeStamp,
        via_symlink: bool,
    },
    Dir,
}

/// The ignore rules: user paths plus, when asked, the top-level git paths and a Hugging Face
/// `--local-dir` download's metadata (shared with the listing of object-storage models, which
/// must skip exactly what a walk skips).
pub(crate) struct Ignores(Vec<RelPath>);

impl Ignores {
    pub(crate) fn new(options: &WalkOptions) -> Ignores {
        let mut paths = options.ignore.clone();
        if options.ignore_git_paths {
            // The constants are valid single components, so this never drops one.
            paths.extend(
                DEFAULT_IGNORES
                    .iter()
                    .chain([&HUGGING_FACE_LOCAL_DIR_CACHE])
                    .filter_map(|p| RelPath::new(p).ok()),
            );
        }
        Ignores(paths)
    }

    pub(crate) fn matches(&self, name: &RelPath) -> bool {
        self.0.iter().any(|prefix| name.starts_with(prefix))
    }
}

fn single_file(
    root: &Path,
    len: u64,
    stamp: ChangeStamp,
    via_symlink: bool,
    ignores: &Ignores,
) -> Vec<ModelFile> {
    let name = RelPath::root();
    if ignores.matches(&name) {
        return Vec::new();
    }
    vec![ModelFile {
        name,
        path: root.to_path_buf(),
        len,
        stamp,
        via_symlink,
    }]
}

/// Walks a directory tree iteratively (no recursion, so depth cannot exhaust the stack).
fn walk_dir(
    root: &Path,
    ignores: &Ignores,
    allow_symlinks: bool,
) -> Result<Vec<ModelFile>, TreeError> {
    let mut files = Vec::new();
    let mut pending: Vec<(PathBuf, Option<RelPath>)> = vec![(root.to_path_buf(), None)];
    while let Some((dir, dir_name)) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry_name(&entry, dir_name.as_ref())?;
            if ignores.matches(&name) {
                continue;
            }
            let path = entry.path();
            let meta = entry.metadata().map_err(io_error(&path))?;
            match classify(&path, &meta, allow_symlinks, false)? {
                Kind::Dir => pending.push((path, Some(name))),
                Kind::File {
                    len,
                    stamp,
                    via_symlink,
                } => files.push(ModelFile {
                    name,
                    path,
                    len,
                    stamp,
                    via_symlink,
                }),
            }
        }
    }
    files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn entry_name(entry: &fs::DirEntry, parent: Option<&RelPath>) -> Result<RelPath, TreeError> {
    let raw = entry.file_name();
    match raw.to_str() {
        Some(name) => RelPath::join(parent, name),
        None => Err(TreeError::InvalidName {
            name: match parent {
                Some(p) => format!("{p}/{}", raw.to_string_lossy()),
                None => raw.to_string_lossy().into_owned(),
            },
            reason: "not valid UTF-8",
        }),
    }
}

/// Classifies `path` from its `lstat` metadata, applying the symlink policy.
fn classify(
    path: &Path,
    meta: &Metadata,
    allow_symlinks: bool,
    follow_dir_link: bool,
) -> Result<Kind, TreeError> {
    let kind = meta.file_type();
    if kind.is_dir() {
        return Ok(Kind::Dir);
    }
    if kind.is_file() {
        return Ok(Kind::File {
            len: meta.len(),
            stamp: ChangeStamp::of(meta),
            via_symlink: false,
        });
    }
    if !kind.is_symlink() {
        return Err(unsupported(
            path,
            format!(
                "is {}; only regular files and directories can be part of a model",
                special_kind(meta)
            ),
        ));
    }
    if !allow_symlinks {
        return Err(TreeError::Symlink {
            path: path.to_path_buf(),
        });
    }
    let target = match fs::metadata(path) {
        Ok(target) => target,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(unsupported(
                path,
                "is a broken symlink (its target does not exist)".into(),
            ))
        }
        Err(e) => {
            return Err(TreeError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    if target.is_file() {
        Ok(Kind::File {
            len: target.len(),
            stamp: ChangeStamp::of(&target),
            via_symlink: true,
        })
    } else if target.is_dir() && follow_dir_link {
        Ok(Kind::Dir)
    } else if target.is_dir() {
        Err(unsupported(
            path,
            "is a symlink to a directory; only symlinks to regular files are supported".into(),
        ))
    } else {
        Err(unsupported(
            path,
            format!(
                "is a symlink to {}; only symlinks to regular files are supported",
                special_kind(&target)
            ),
        ))
    }
}

/// Names the kind of an entry that is neither a regular file, a directory nor a symlink.
fn special_kind(meta: &Metadata) -> &'static str {
    crate::fs::open::kind_name(meta)
}

fn unsupported(path: &Path, reason: String) -> TreeError {
    TreeError::Unsupported {
        path: path.to_path_buf(),
        reason,
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn touch(root: &Path, name: &str, bytes: &[u8]) {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn names(tree: &ModelTree) -> Vec<&str> {
        tree.files.iter().map(|f| f.name.as_str()).collect()
    }

    fn git_defaults() -> WalkOptions {
        WalkOptions {
            ignore_git_paths: true,
            ..WalkOptions::default()
        }
    }

    #[test]
    fn walks_sorted_with_hidden_files_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        for (name, len) in [
            ("a.txt", 3),
            ("a-b", 0),
            ("a/b", 5),
            ("B", 1),
            (".hidden", 2),
        ] {
            touch(dir.path(), name, &vec![b'x'; len]);
        }
        fs::create_dir_all(dir.path().join("empty/dir")).unwrap();
        let tree = walk(dir.path(), &git_defaults()).unwrap();
        assert!(!tree.single_file);
        assert_eq!(names(&tree), [".hidden", "B", "a/b", "a-b", "a.txt"]);
        let lens: Vec<u64> = tree.files.iter().map(|f| f.len).collect();
        assert_eq!(lens, [2, 1, 5, 0, 3]);
        assert_eq!(tree.files[2].path, dir.path().join("a/b"));
        assert_eq!(tree.total_len(), 11);
    }

    #[test]
    fn default_ignores_are_top_level_prefixes_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".git/HEAD",
            ".gitattributes",
            ".github/workflows/ci.yml",
            ".gitignore",
            ".gitmodules",
            ".git2",
            "sub/.git/HEAD",
            "sub/.gitignore",
            "w.bin",
        ] {
            touch(dir.path(), name, b"1");
        }
        let tree = walk(dir.path(), &git_defaults()).unwrap();
        assert_eq!(
            names(&tree),
            [
                ".git2",
                ".gitmodules",
                "sub/.git/HEAD",
                "sub/.gitignore",
                "w.bin"
            ]
        );
        let all = walk(dir.path(), &WalkOptions::default()).unwrap();
        assert_eq!(all.files.len(), 9);
    }

    #[test]
    fn user_ignores_skip_files_and_whole_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["docs/a.md", "docs/b/c.md", "docs2/x", "README.md", "w.bin"] {
            touch(dir.path(), name, b"1");
        }
        let options = WalkOptions {
            ignore: vec![
                RelPath::new("docs").unwrap(),
                RelPath::new("README.md").unwrap(),
            ],
            ..git_defaults()
        };
        let tree = walk(dir.path(), &options).unwrap();
        assert_eq!(names(&tree), ["docs2/x", "w.bin"]);
    }

    #[test]
    fn ignored_subtrees_are_not_inspected() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "w.bin", b"1");
        fs::create_dir(dir.path().join(".git")).unwrap();
        symlink("/nonexistent", dir.path().join(".git/broken")).unwrap();
        let tree = walk(dir.path(), &git_defaults()).unwrap();
        assert_eq!(names(&tree), ["w.bin"]);
    }

    #[test]
    fn single_file_model_is_named_dot() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "model.safetensors", b"12345");
        let path = dir.path().join("model.safetensors");
        let tree = walk(&path, &git_defaults()).unwrap();
        assert!(tree.single_file);
        assert_eq!(names(&tree), ["."]);
        assert_eq!(tree.files[0].len, 5);
        assert_eq!(tree.files[0].path, path);
    }

    #[test]
    fn symlinks_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "outside/target.bin", b"target bytes");
        let model = dir.path().join("model");
        touch(&model, "w.bin", b"1");
        symlink(
            dir.path().join("outside/target.bin"),
            model.join("link.bin"),
        )
        .unwrap();
        let err = walk(&model, &git_defaults()).unwrap_err();
        assert!(
            matches!(&err, TreeError::Symlink { path } if path.ends_with("link.bin")),
            "{err}"
        );

        let allowed = WalkOptions {
            allow_symlinks: true,
            ..git_defaults()
        };
        let tree = walk(&model, &allowed).unwrap();
        assert_eq!(names(&tree), ["link.bin", "w.bin"]);
        assert_eq!(tree.files[0].len, 12, "the target's size, not the link's");
        assert_eq!(tree.files[0].path, model.join("link.bin"));
    }

    #[test]
    fn allowed_symlinks_to_dirs_and_broken_links_are_unsupported() {
        let allowed = WalkOptions {
            allow_symlinks: true,
            ..git_defaults()
        };
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        symlink(dir.path().join("real"), dir.path().join("dirlink")).unwrap();
        let err = walk(dir.path(), &allowed).unwrap_err();
        assert!(err.to_string().contains("symlink to a directory"), "{err}");
        assert!(err.to_string().contains("dirlink"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path().join("gone"), dir.path().join("broken")).unwrap();
        let err = walk(dir.path(), &allowed).unwrap_err();
        assert!(err.to_string().contains("broken symlink"), "{err}");
    }

    #[test]
    fn symlinked_root_is_followed_only_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "real/w.bin", b"1");
        let link = dir.path().join("link");
        symlink(dir.path().join("real"), &link).unwrap();
        assert!(matches!(
            walk(&link, &git_defaults()),
            Err(TreeError::Symlink { .. })
        ));
        let allowed = WalkOptions {
            allow_symlinks: true,
            ..git_defaults()
        };
        let tree = walk(&link, &allowed).unwrap();
        assert_eq!(names(&tree), ["w.bin"]);
        assert_eq!(tree.files[0].path, link.join("w.bin"));
    }

    #[test]
    fn sockets_and_fifos_are_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        let err = walk(dir.path(), &git_defaults()).unwrap_err();
        assert!(matches!(&err, TreeError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("is a socket"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path().join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        let err = walk(dir.path(), &git_defaults()).unwrap_err();
        assert!(err.to_string().contains("fifo"), "{err}");
    }

    #[test]
    fn non_utf8_names_are_rejected() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub").join(name), b"1").unwrap();
        let err = walk(dir.path(), &git_defaults()).unwrap_err();
        assert!(
            matches!(&err, TreeError::InvalidName { name, reason: "not valid UTF-8" } if name.starts_with("sub/bad")),
            "{err}"
        );
    }

    #[test]
    fn missing_model_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = walk(&dir.path().join("nope"), &git_defaults()).unwrap_err();
        assert!(matches!(err, TreeError::Io { .. }));
        assert!(err.to_string().contains("nope"));
    }
}
