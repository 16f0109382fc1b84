//! Turning user-given paths into model-relative names: ignore paths and the model's display name.
//!
//! Both follow model-signing 1.1.1: an ignore path is joined to the model root and used only if it
//! lies inside it; the model name is the last path component, resolved when that is `.`/`..`.

use super::{RelPath, TreeError};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// Turns a user-given ignore path (relative to the model root, or absolute and inside the model)
/// into a [`RelPath`]; `None` when it lies outside the model (then it cannot match anything).
///
/// A relative path names a path below the root (`./a/` is `a`). An absolute path may not exist; it
/// is matched against the root as given and, failing that, against the canonical root with the
/// path's existing ancestors canonicalized (its last component is kept, so ignoring a symlink inside
/// the model ignores the link, not its target). The root itself (`.`, or the root's own path) comes
/// back as `"."`, which ignores the whole model — as 1.1.1 does.
pub fn resolve_ignore(root: &Path, path: &Path) -> Option<RelPath> {
    if path.is_relative() {
        return lexical_relpath(path);
    }
    if let Ok(abs_root) = std::path::absolute(root) {
        if let Some(rel) = path.strip_prefix(&abs_root).ok().and_then(lexical_relpath) {
            return Some(rel);
        }
    }
    let canonical_root = root.canonicalize().ok()?;
    let canonical_path = canonicalize_parents(path)?;
    lexical_relpath(canonical_path.strip_prefix(&canonical_root).ok()?)
}

/// The informative model name for the statement subject: the last component of `root`
/// (resolved when it is `.`/`..` or empty), as 1.1.1 does.
pub fn model_name(root: &Path) -> String {
    // Python's `Path("")` is `Path(".")`; Rust's cannot be canonicalized.
    let root = if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    };
    if let Some(name) = root.file_name() {
        return lossy(name);
    }
    match root.canonicalize() {
        Ok(resolved) => resolved.file_name().map(lossy).unwrap_or_default(),
        // A model that does not exist cannot be hashed; any readable name will do here.
        Err(_) => root.to_string_lossy().into_owned(),
    }
}

fn lossy(name: &OsStr) -> String {
    name.to_string_lossy().into_owned()
}

/// A relative path as a [`RelPath`], dropping `.` components; `None` if it climbs with `..`
/// (1.1.1 compares such paths lexically, so they never match a model file) or is not UTF-8.
fn lexical_relpath(path: &Path) -> Option<RelPath> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if parts.is_empty() {
        return Some(RelPath::root());
    }
    RelPath::new(&parts.join("/")).ok()
}

/// Canonicalizes the longest existing ancestor of `path`'s parent and appends the rest unchanged.
fn canonicalize_parents(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut base = path;
    if let Some(last) = base.file_name() {
        rest.push(last);
        base = base.parent()?;
    }
    loop {
        if let Ok(canonical) = base.canonicalize() {
            return Some(
                rest.iter()
                    .rev()
                    .fold(canonical, |acc, part| acc.join(part)),
            );
        }
        rest.push(base.file_name()?);
        base = base.parent()?;
    }
}

/// User ignore paths as model-relative names, without repeats; those outside the model cannot
/// match and are dropped.
pub fn resolve_user_ignores(model: &Path, paths: &[PathBuf]) -> Vec<RelPath> {
    let mut out = Vec::new();
    for p in paths {
        if let Some(rel) = resolve_ignore(model, p) {
            push_unique(&mut out, rel);
        }
    }
    out
}

/// The ignore paths a signer asked for, as model-relative names, without repeats — each of which
/// must name something strictly inside the model. One that resolves to the model root (`.`,
/// `./`, the model's own path, `"$MODEL/$UNSET"`) or outside it (`..`, `/`) is an input error:
/// signing with it would either record an entry that exempts every file (a signature that
/// verifies any directory) or silently ignore nothing the signer meant.
pub fn resolve_sign_ignores(model: &Path, paths: &[PathBuf]) -> Result<Vec<RelPath>, TreeError> {
    let mut out = Vec::new();
    for p in paths {
        let refuse = |reason: &'static str| TreeError::Ignore {
            path: p.clone(),
            reason,
        };
        match resolve_ignore(model, p) {
            None => return Err(refuse("lies outside the model")),
            Some(rel) if rel.is_root() => {
                return Err(refuse(
                    "names the model root itself, which would leave no file signed",
                ))
            }
            Some(rel) => push_unique(&mut out, rel),
        }
    }
    Ok(out)
}

/// Appends `item` to `list` unless it is already there.
pub(crate) fn push_unique(list: &mut Vec<RelPath>, item: RelPath) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(rel: Option<RelPath>) -> Option<String> {
        rel.map(|r| r.as_str().to_owned())
    }

    #[test]
    fn relative_ignores_are_normalized() {
        let root = Path::new("/nonexistent/model");
        assert_eq!(
            name(resolve_ignore(root, Path::new("a/b"))),
            Some("a/b".into())
        );
        assert_eq!(
            name(resolve_ignore(root, Path::new("./a/./b/"))),
            Some("a/b".into())
        );
        assert_eq!(name(resolve_ignore(root, Path::new("."))), Some(".".into()));
        assert_eq!(resolve_ignore(root, Path::new("../x")), None);
        assert_eq!(resolve_ignore(root, Path::new("a/../b")), None);
    }

    #[test]
    fn absolute_ignores_must_be_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("model");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        let inside = root.join("sub/missing.bin");
        assert_eq!(
            name(resolve_ignore(&root, &inside)),
            Some("sub/missing.bin".into())
        );
        assert_eq!(name(resolve_ignore(&root, &root)), Some(".".into()));
        assert_eq!(resolve_ignore(&root, &dir.path().join("other/x")), None);
        assert_eq!(resolve_ignore(&root, &dir.path().join("model-2")), None);
    }

    #[test]
    fn absolute_ignores_match_through_a_symlinked_root() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // The root is given through the link, the ignore path through the real directory.
        let ignore = real.join("sub/new/file");
        assert_eq!(
            name(resolve_ignore(&link, &ignore)),
            Some("sub/new/file".into())
        );
        // And the other way round.
        let ignore = link.join("sub/x");
        assert_eq!(name(resolve_ignore(&real, &ignore)), Some("sub/x".into()));
    }

    #[test]
    fn model_name_is_the_last_component() {
        assert_eq!(model_name(Path::new("/models/llama")), "llama");
        assert_eq!(model_name(Path::new("models/llama/")), "llama");
        assert_eq!(model_name(Path::new("models/llama/.")), "llama");
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("outer/inner");
        std::fs::create_dir_all(&inner).unwrap();
        assert_eq!(model_name(&inner.join("..")), "outer");
        let cwd_name = std::env::current_dir()
            .unwrap()
            .file_name()
            .unwrap()
            .to_owned();
        assert_eq!(model_name(Path::new(".")), cwd_name.to_string_lossy());
        assert_eq!(model_name(Path::new("")), cwd_name.to_string_lossy());
    }
}
