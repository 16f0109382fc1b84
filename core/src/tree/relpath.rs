//! [`RelPath`]: the validated name of a model file, relative to the model root.
//!
//! A `RelPath` is `/`-separated UTF-8 with no empty, `.` or `..` component and no NUL, or exactly
//! `"."` (the whole model: the name of a single-file model, or an ignore path covering everything).
//! It orders like Python's `PurePosixPath`: component by component, each component by Unicode code
//! point — which for UTF-8 is plain byte order. model-signing 1.1.1 sorts resources this way, so our
//! root digests only match its own when we sort identically.

use super::TreeError;
use std::cmp::Ordering;
use std::fmt;

/// A validated path relative to the model root: `/`-separated, UTF-8, no empty, `.` or `..`
/// components, no NUL; or exactly `"."` for a single-file model. Ordered component-wise.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelPath(String);

/// The name of the model root itself (a single-file model's only entry).
const ROOT_NAME: &str = ".";

impl RelPath {
    /// Validates `name` as a relative model path.
    pub fn new(name: &str) -> Result<RelPath, TreeError> {
        if name == ROOT_NAME {
            return Ok(RelPath(name.to_owned()));
        }
        let invalid = |reason| TreeError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("empty path"));
        }
        if name.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
        if name.starts_with('/') {
            return Err(invalid("absolute path"));
        }
        for component in name.split('/') {
            match component {
                "" => return Err(invalid("empty path component")),
                "." => return Err(invalid("`.` path component")),
                ".." => return Err(invalid("`..` path component")),
                _ => {}
            }
        }
        Ok(RelPath(name.to_owned()))
    }

    /// `"."`: the model root itself.
    pub fn root() -> RelPath {
        RelPath(ROOT_NAME.to_owned())
    }

    /// The path as it appears in a signature.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `"."`, the model root itself.
    pub fn is_root(&self) -> bool {
        self.0 == ROOT_NAME
    }

    /// The components, as `PurePosixPath.parts` has them: `"."` has none.
    pub fn components(&self) -> impl Iterator<Item = &str> + '_ {
        let path = if self.is_root() { "" } else { self.0.as_str() };
        path.split('/').filter(|c| !c.is_empty())
    }

    /// Whether `self` equals `prefix` or lies below it (component-wise, like `Path.is_relative_to`).
    pub fn starts_with(&self, prefix: &RelPath) -> bool {
        let mut own = self.components();
        prefix.components().all(|p| own.next() == Some(p))
    }

    /// `self/name`, for a directory entry `name` (which must be one valid component).
    pub(crate) fn join(parent: Option<&RelPath>, name: &str) -> Result<RelPath, TreeError> {
        let invalid = |reason| TreeError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.contains('/') {
            return Err(invalid("contains `/`"));
        }
        if name == ROOT_NAME {
            return Err(invalid("`.` path component"));
        }
        match parent {
            Some(p) if !p.is_root() => RelPath::new(&format!("{}/{name}", p.0)),
            _ => RelPath::new(name),
        }
    }
}

impl Ord for RelPath {
    fn cmp(&self, other: &Self) -> Ordering {
        // `str` compares bytes, and UTF-8 byte order is code point order: exactly Python's `str`
        // comparison. Comparing component sequences (not whole strings) puts `a/b` before `a-b`.
        self.components().cmp(other.components())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            "a",
            "a/b",
            ".hidden",
            "a/.b",
            "a b:c",
            "ü/日本",
            "..a",
            "a..",
            ".",
            "a\\b",
        ] {
            assert_eq!(rel(ok).as_str(), ok);
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        for bad in [
            "", "/a", "a/", "a//b", "./a", "a/.", "..", "a/../b", "a/..", "a\0b",
        ] {
            let err = RelPath::new(bad).unwrap_err();
            assert!(
                matches!(err, TreeError::InvalidName { .. }),
                "{bad:?} gave {err}"
            );
        }
    }

    #[test]
    fn orders_component_wise_not_byte_wise() {
        let mut names: Vec<RelPath> = ["a.txt", "a-b", "a/b", "B"].map(rel).into();
        names.sort();
        let sorted: Vec<&str> = names.iter().map(RelPath::as_str).collect();
        assert_eq!(sorted, ["B", "a/b", "a-b", "a.txt"]);
        // A byte-wise sort of whole strings puts `-` (0x2d) and `.` (0x2e) before `/` (0x2f).
        let mut bytewise = ["a.txt", "a-b", "a/b", "B"];
        bytewise.sort();
        assert_eq!(bytewise, ["B", "a-b", "a.txt", "a/b"]);
    }

    #[test]
    fn prefix_is_component_wise() {
        assert!(rel("a/b").starts_with(&rel("a")));
        assert!(rel("a").starts_with(&rel("a")));
        assert!(!rel("ab").starts_with(&rel("a")));
        assert!(!rel("a").starts_with(&rel("a/b")));
        assert!(rel("x/y").starts_with(&rel(".")));
        assert!(!rel(".").starts_with(&rel("a")));
    }

    #[test]
    fn join_builds_children() {
        assert_eq!(RelPath::join(None, "a").unwrap(), rel("a"));
        assert_eq!(RelPath::join(Some(&rel("a")), "b").unwrap(), rel("a/b"));
        assert_eq!(RelPath::join(Some(&rel(".")), "b").unwrap(), rel("b"));
        assert!(RelPath::join(None, "..").is_err());
        assert!(RelPath::join(Some(&rel("a")), ".").is_err());
        assert!(RelPath::join(None, "a/b").is_err());
    }
}
