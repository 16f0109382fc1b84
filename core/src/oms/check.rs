//! What a well-formed statement satisfies, whoever built it: [`Statement::check`] runs after every
//! parse, and a signer runs it before signing.
//!
//! The rules, and why:
//! - resource names are canonical safe relative paths (no empty, `.` or `..` component, not absolute,
//!   no NUL, no backslash), so no name can reach outside the model and no two spellings name one
//!   file — 1.1.1 normalizes names through `PurePosixPath`, which would merge `a//b` and `a/b`;
//! - `.` names the file of a single-file model and appears only there;
//! - shard names are `path:start:end` split on the *last two* colons (paths may contain `:`), with
//!   canonical decimal offsets, `start` a multiple of `shard_size`, `start < end <= start + shard_size`;
//! - every resource uses the statement's `hash_type` (as `<hash>-sharded-<shard_size>` or the spec's
//!   plain `<hash>` for shards) with a digest of that algorithm's length;
//! - at least one resource ([`OmsError::NoResources`]): OMS v1.0 §6.1 refuses an empty model, at
//!   signing and at verification, since a signature over nothing proves nothing about a model;
//! - names are unique (and shards unique per file and offset): a manifest is a map;
//! - sizes and counts are bounded; the subject digest equals the SHA-256 of the raw resource
//!   digests in listed order ([`OmsError::RootDigestMismatch`]).

use super::statement::root_digest;
use super::{
    malformed, OmsError, Statement, MAX_IGNORE_PATHS, MAX_NAME_BYTES, MAX_RESOURCES, MAX_SHARD_SIZE,
};
use crate::digest::{HashAlgorithm, Method, Resource, SerializationConfig};
use std::collections::HashSet;

impl Statement {
    /// Checks everything [`Statement::parse`] checks beyond JSON syntax: at least one resource,
    /// names, algorithms, digest lengths, duplicates, limits and the root digest. A signer runs it
    /// on the statement it built, so an empty model (or one whose every file is ignored) is refused
    /// before anything is signed.
    pub fn check(&self) -> Result<(), OmsError> {
        check_text("subject name", &self.subject_name)?;
        check_config(&self.serialization)?;
        check_resources(&self.serialization, &self.resources)?;
        let computed = root_digest(&self.resources);
        if computed != self.root_digest {
            return Err(OmsError::RootDigestMismatch {
                subject: hex::encode(self.root_digest),
                computed: hex::encode(computed),
            });
        }
        Ok(())
    }
}

/// Splits a shard name `path:start:end` on its last two colons into `(path, start, end)`.
///
/// Offsets must be canonical decimal (`0` or no leading zero, no sign) so that one shard has one
/// name. The path is returned unchecked; see [`check_relative_path`].
pub fn parse_shard_name(name: &str) -> Option<(&str, u64, u64)> {
    let mut parts = name.rsplitn(3, ':');
    let end = parse_offset(parts.next()?)?;
    let start = parse_offset(parts.next()?)?;
    let path = parts.next()?;
    Some((path, start, end))
}

/// Checks that `path` is a canonical relative path below the model root (see the module doc);
/// returns the reason when it is not. `.` alone is accepted here; where it may appear is the
/// caller's rule.
pub fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path == "." {
        return Ok(());
    }
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.contains('\0') {
        return Err("contains NUL");
    }
    if path.contains('\\') {
        return Err("contains a backslash");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("has an empty component"),
            "." => return Err("has a '.' component"),
            ".." => return Err("has a '..' component"),
            _ => {}
        }
    }
    Ok(())
}

/// A name for error messages: at most 120 characters, so a hostile 4 KiB name cannot flood a log.
pub(crate) fn shown(name: &str) -> String {
    const KEEP: usize = 120;
    match name.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

fn parse_offset(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// Bounded, NUL-free free text (subject name, ignore paths).
fn check_text(what: &str, text: &str) -> Result<(), OmsError> {
    if text.len() > MAX_NAME_BYTES {
        return Err(malformed(format!(
            "{what} {:?} is {} bytes, limit {MAX_NAME_BYTES}",
            shown(text),
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(malformed(format!("{what} {:?} contains NUL", shown(text))));
    }
    Ok(())
}

/// One limit check for every list, so the resource limit shares the tested path of the others.
fn check_count(what: &'static str, count: usize, limit: usize) -> Result<(), OmsError> {
    if count > limit {
        return Err(OmsError::TooMany {
            what,
            count: count as u64,
            limit: limit as u64,
        });
    }
    Ok(())
}

fn check_config(config: &SerializationConfig) -> Result<(), OmsError> {
    if let Method::Shards { shard_size } = config.method {
        if !(1..=MAX_SHARD_SIZE).contains(&shard_size) {
            return Err(malformed(format!(
                "shard_size {shard_size} is not between 1 and {MAX_SHARD_SIZE}"
            )));
        }
    }
    check_count("ignore paths", config.ignore_paths.len(), MAX_IGNORE_PATHS)?;
    // Ignore paths are matched against the tree by the walker; here they need only be sane,
    // non-empty text (`minLength: 1` in the v1.0 predicate schema) that cannot stand for the
    // whole model.
    config.ignore_paths.iter().try_for_each(|p| {
        if p.is_empty() {
            return Err(malformed("an ignore path is empty"));
        }
        check_text("ignore path", p)?;
        check_ignore_path(p).map_err(|reason| malformed(format!("ignore path {p:?} {reason}")))
    })
}

/// Refuses an ignore path that could exempt the whole model or climb out of it: the model root
/// itself (`.`, `./`), an entry with a `..` component, an absolute path. A statement holding one
/// would verify any directory (issue 17: `sign --ignore .` made a universal signature). Other
/// entries — including relative paths naming nothing inside the model, which the Go
/// implementation records — are valid.
pub fn check_ignore_path(path: &str) -> Result<(), &'static str> {
    if path.starts_with('/') {
        return Err("is absolute");
    }
    let mut components = path.split('/').filter(|c| !c.is_empty() && *c != ".");
    if components.clone().any(|c| c == "..") {
        return Err("has a `..` component");
    }
    if components.next().is_none() {
        return Err("names the model root, which would ignore every file");
    }
    Ok(())
}

/// Digest length of each hash in bytes.
fn digest_len(hash: HashAlgorithm) -> usize {
    match hash {
        HashAlgorithm::Sha256 | HashAlgorithm::Blake3 => 32,
        HashAlgorithm::Blake2b => 64,
    }
}

fn check_resources(config: &SerializationConfig, resources: &[Resource]) -> Result<(), OmsError> {
    if resources.is_empty() {
        return Err(OmsError::NoResources);
    }
    check_count("resources", resources.len(), MAX_RESOURCES)?;
    let sharded_name = match config.method {
        Method::Files => None,
        Method::Shards { shard_size } => {
            Some(format!("{}-sharded-{shard_size}", config.hash.name()))
        }
    };
    let mut names = HashSet::with_capacity(resources.len());
    let mut shard_starts = HashSet::new();
    let mut single_file = false;
    for (index, r) in resources.iter().enumerate() {
        let fail = |reason: String| {
            malformed(format!("resource {index} ({:?}): {reason}", shown(&r.name)))
        };
        if r.name.len() > MAX_NAME_BYTES {
            return Err(fail(format!(
                "name is {} bytes, limit {MAX_NAME_BYTES}",
                r.name.len()
            )));
        }
        let algorithm_ok = r.algorithm == config.hash.name()
            || sharded_name.as_deref() == Some(r.algorithm.as_str());
        if !algorithm_ok {
            let expected = sharded_name.as_deref().unwrap_or(config.hash.name());
            return Err(fail(format!(
                "algorithm {:?} does not match the serialization (expected {expected:?})",
                shown(&r.algorithm)
            )));
        }
        if r.digest.len() != digest_len(config.hash) {
            return Err(fail(format!(
                "{} digest is {} bytes, expected {}",
                r.algorithm,
                r.digest.len(),
                digest_len(config.hash)
            )));
        }
        let path = match config.method {
            Method::Files => r.name.as_str(),
            Method::Shards { shard_size } => {
                let (path, start) =
                    check_shard(&r.name, shard_size).map_err(|e| fail(e.to_string()))?;
                if !shard_starts.insert((path, start)) {
                    return Err(fail(format!(
                        "a second shard of {:?} starts at {start}",
                        shown(path)
                    )));
                }
                path
            }
        };
        check_relative_path(path).map_err(|reason| fail(format!("path {reason}")))?;
        single_file |= path == ".";
        if !names.insert(r.name.as_str()) {
            return Err(fail("listed twice".into()));
        }
    }
    if single_file {
        check_single_file(config.method, resources)?;
    }
    Ok(())
}

/// Offsets of one shard name against the shard size; returns `(path, start)`.
fn check_shard(name: &str, shard_size: u64) -> Result<(&str, u64), String> {
    let (path, start, end) = parse_shard_name(name)
        .ok_or_else(|| "not a shard name path:start:end with decimal offsets".to_string())?;
    if start >= end {
        return Err(format!("shard start {start} is not before end {end}"));
    }
    if start % shard_size != 0 {
        return Err(format!(
            "shard start {start} is not a multiple of shard_size {shard_size}"
        ));
    }
    if end - start > shard_size {
        return Err(format!(
            "shard {start}..{end} is longer than shard_size {shard_size}"
        ));
    }
    Ok((path, start))
}

/// `.` names the model file itself, so it must be the only file: the sole resource (files), or
/// the path of every shard (shards).
fn check_single_file(method: Method, resources: &[Resource]) -> Result<(), OmsError> {
    let only_dot = match method {
        Method::Files => resources.len() == 1,
        Method::Shards { .. } => resources
            .iter()
            .all(|r| parse_shard_name(&r.name).is_some_and(|(p, _, _)| p == ".")),
    };
    if only_dot {
        Ok(())
    } else {
        Err(malformed(
            "resource \".\" (a single-file model) is listed beside other files",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(name: &str, algorithm: &str, len: usize) -> Resource {
        Resource {
            name: name.into(),
            algorithm: algorithm.into(),
            digest: vec![7; len],
        }
    }

    fn config(method: Method, hash: HashAlgorithm) -> SerializationConfig {
        SerializationConfig {
            method,
            hash,
            allow_symlinks: false,
            ignore_paths: vec![],
        }
    }

    fn files(names: &[&str]) -> Result<(), OmsError> {
        let rs = names.iter().map(|n| res(n, "sha256", 32)).collect();
        Statement::new("m".into(), config(Method::Files, HashAlgorithm::Sha256), rs).check()
    }

    fn shards(size: u64, names: &[&str]) -> Result<(), OmsError> {
        let alg = format!("sha256-sharded-{size}");
        let rs = names.iter().map(|n| res(n, &alg, 32)).collect();
        Statement::new(
            "m".into(),
            config(Method::Shards { shard_size: size }, HashAlgorithm::Sha256),
            rs,
        )
        .check()
    }

    fn err(r: Result<(), OmsError>) -> String {
        r.expect_err("must be rejected").to_string()
    }

    #[test]
    fn accepts_ordinary_names() {
        files(&["a.txt", "sub/b.bin", "x:y", "..hidden", "a/.b", "sp ace/ü"]).unwrap();
        files(&["."]).unwrap();
    }

    #[test]
    fn refuses_a_statement_without_resources() {
        // OMS v1.0 §6.1: an empty model (or one whose every file is ignored) is refused, whatever
        // the method; checked after the serialization so a bad shard_size is still named first.
        for method in [Method::Files, Method::Shards { shard_size: 4 }] {
            let s = Statement::new("m".into(), config(method, HashAlgorithm::Sha256), vec![]);
            let e = s.check().expect_err("no resources must be refused");
            assert!(matches!(e, OmsError::NoResources), "{e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains("no files") && msg.contains("ignored") && msg.contains("empty"),
                "{msg}"
            );
        }
    }

    #[test]
    fn rejects_unsafe_file_names() {
        for (name, why) in [
            ("", "is empty"),
            ("/etc/passwd", "absolute"),
            ("a/../b", "'..'"),
            ("..", "'..'"),
            ("./a", "'.'"),
            ("a/./b", "'.'"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("a\\b", "backslash"),
            ("a\0b", "NUL"),
        ] {
            let msg = err(files(&[name]));
            assert!(msg.contains(why), "{name:?}: {msg}");
        }
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        assert!(err(files(&[&long])).contains("limit 4096"));
        files(&["a".repeat(MAX_NAME_BYTES).as_str()]).unwrap();
    }

    #[test]
    fn dot_only_as_the_single_file() {
        assert!(err(files(&[".", "a"])).contains("single-file"));
        assert!(err(files(&["a", "."])).contains("single-file"));
        shards(4, &[".:0:4", ".:4:6"]).unwrap();
        assert!(err(shards(4, &[".:0:4", "a:0:4"])).contains("single-file"));
    }

    #[test]
    fn rejects_duplicates() {
        assert!(err(files(&["a", "b", "a"])).contains("listed twice"));
        assert!(err(shards(4, &["a:0:4", "a:0:4"])).contains("second shard"));
        assert!(err(shards(4, &["a:0:4", "a:0:3"])).contains("second shard"));
    }

    #[test]
    fn shard_names_split_on_the_last_two_colons() {
        assert_eq!(parse_shard_name("a:b:c:0:4"), Some(("a:b:c", 0, 4)));
        assert_eq!(parse_shard_name(":0:4"), Some(("", 0, 4)));
        assert_eq!(parse_shard_name("0:4"), None);
        shards(4, &["weights:v2.bin:0:4", "weights:v2.bin:4:5"]).unwrap();
    }

    #[test]
    fn shard_offsets_are_canonical_decimal() {
        for bad in [
            "a:00:4",
            "a:0:04",
            "a:+0:4",
            "a:0:-4",
            "a: 0:4",
            "a:0:4 ",
            "a:0:",
            "a::4",
            "a:0:0x4",
            "a:0:18446744073709551616",
        ] {
            assert!(parse_shard_name(bad).is_none(), "{bad}");
            assert!(err(shards(4, &[bad])).contains("not a shard name"), "{bad}");
        }
        assert_eq!(
            parse_shard_name("a:0:18446744073709551615"),
            Some(("a", 0, u64::MAX))
        );
    }

    #[test]
    fn shard_ranges_fit_the_shard_size() {
        shards(4, &["a:0:4", "a:4:8", "a:8:9", "b:0:1"]).unwrap();
        assert!(err(shards(4, &["a:4:4"])).contains("not before"));
        assert!(err(shards(4, &["a:5:3"])).contains("not before"));
        assert!(err(shards(4, &["a:2:4"])).contains("multiple"));
        assert!(err(shards(4, &["a:0:5"])).contains("longer"));
        assert!(err(shards(4, &[":0:4"])).contains("is empty"));
        assert!(err(shards(4, &["../x:0:4"])).contains("'..'"));
    }

    #[test]
    fn algorithm_must_match_the_serialization() {
        let st = |method, hash, r: Resource| {
            Statement::new("m".into(), config(method, hash), vec![r]).check()
        };
        let sh = Method::Shards { shard_size: 4 };
        st(Method::Files, HashAlgorithm::Sha256, res("a", "sha256", 32)).unwrap();
        st(
            Method::Files,
            HashAlgorithm::Blake2b,
            res("a", "blake2b", 64),
        )
        .unwrap();
        st(Method::Files, HashAlgorithm::Blake3, res("a", "blake3", 32)).unwrap();
        st(
            sh,
            HashAlgorithm::Sha256,
            res("a:0:4", "sha256-sharded-4", 32),
        )
        .unwrap();
        st(sh, HashAlgorithm::Sha256, res("a:0:4", "sha256", 32)).unwrap();
        st(
            sh,
            HashAlgorithm::Blake2b,
            res("a:0:4", "blake2b-sharded-4", 64),
        )
        .unwrap();
        for (method, hash, r) in [
            (
                Method::Files,
                HashAlgorithm::Sha256,
                res("a", "blake2b", 64),
            ),
            (
                Method::Files,
                HashAlgorithm::Sha256,
                res("a", "sha256-sharded-4", 32),
            ),
            (Method::Files, HashAlgorithm::Sha256, res("a", "SHA256", 32)),
            (
                sh,
                HashAlgorithm::Sha256,
                res("a:0:4", "sha256-sharded-8", 32),
            ),
            (
                sh,
                HashAlgorithm::Sha256,
                res("a:0:4", "blake2b-sharded-4", 64),
            ),
        ] {
            assert!(err(st(method, hash, r)).contains("does not match"));
        }
        for (hash, alg, len) in [
            (HashAlgorithm::Sha256, "sha256", 31),
            (HashAlgorithm::Blake2b, "blake2b", 32),
            (HashAlgorithm::Blake3, "blake3", 64),
        ] {
            assert!(err(st(Method::Files, hash, res("a", alg, len))).contains("expected"));
        }
    }

    #[test]
    fn bounds_text_fields() {
        let mut s = Statement::new(
            "m\0".into(),
            config(Method::Files, HashAlgorithm::Sha256),
            vec![res("a", "sha256", 32)],
        );
        assert!(err(s.check()).contains("subject name"));
        s.subject_name = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(err(s.check()).contains("subject name"));
        s.subject_name = String::new();
        s.check().unwrap();
        s.serialization.ignore_paths = vec!["ok".into(), "bad\0".into()];
        assert!(err(s.check()).contains("ignore path"));
        s.serialization.ignore_paths = vec!["ok".into(), String::new()];
        assert!(err(s.check()).contains("ignore path is empty"));
        // Issue 17 item 1: entries that exempt the whole model or climb out of it.
        for (bad, why) in [
            (".", "model root"),
            ("./", "model root"),
            ("./.", "model root"),
            ("a/../..", "`..`"),
            ("..", "`..`"),
            ("/abs/model", "absolute"),
        ] {
            s.serialization.ignore_paths = vec!["ok".into(), bad.into()];
            let e = err(s.check());
            assert!(e.contains(why), "{bad}: {e}");
        }
        // Relative entries naming nothing in the model stay valid (the Go implementation writes them).
        s.serialization.ignore_paths =
            vec!["model.sig".into(), "other/dir/x".into(), "./a/".into()];
        s.check().unwrap();
        s.serialization.ignore_paths = vec![String::new(); MAX_IGNORE_PATHS + 1];
        assert!(matches!(
            s.check(),
            Err(OmsError::TooMany {
                what: "ignore paths",
                ..
            })
        ));
    }

    #[test]
    fn shard_size_bounds_hold_for_built_statements_too() {
        for size in [0, MAX_SHARD_SIZE + 1] {
            let s = Statement::new(
                "m".into(),
                config(Method::Shards { shard_size: size }, HashAlgorithm::Sha256),
                vec![],
            );
            assert!(err(s.check()).contains("shard_size"));
        }
    }

    #[test]
    fn shown_truncates_long_names_on_a_char_boundary() {
        assert_eq!(shown("abc"), "abc");
        let long = "é".repeat(200);
        let s = shown(&long);
        assert_eq!(s.chars().count(), 121);
        assert!(s.ends_with('…'));
    }
}
