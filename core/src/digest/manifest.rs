//! Working with finished resource lists: the root digest, shard names, and exact comparison.

use super::{ManifestDiff, Method, Resource};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeSet, HashMap};

/// SHA-256 over the concatenated raw digests, in the given order (the statement subject digest).
pub fn root_digest(resources: &[Resource]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for resource in resources {
        hasher.update(&resource.digest);
    }
    hasher.finalize().into()
}

/// The name of the file a resource covers (`path` of `path:start:end` for shards; split on the
/// last two colons, since paths may contain `:`). `None` for a shard name without two decimal
/// offsets or with an empty path.
pub fn resource_file(name: &str, method: Method) -> Option<&str> {
    match method {
        Method::Files => Some(name),
        Method::Shards { .. } => {
            let mut parts = name.rsplitn(3, ':');
            let (end, start, path) = (parts.next()?, parts.next()?, parts.next()?);
            let offsets_ok = is_decimal(start) && is_decimal(end);
            (offsets_ok && !path.is_empty()).then_some(path)
        }
    }
}

/// Digits only (no sign, no spaces), as `str(int)` writes them, and within `u64`.
fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
}

/// Compares `{name → (algorithm, digest)}` maps exactly; names are reported sorted.
///
/// A name listed twice in `expected` must match `actual` both times, so a duplicate entry cannot
/// hide a bad digest behind a good one.
pub fn compare(expected: &[Resource], actual: &[Resource]) -> ManifestDiff {
    let actual_by_name: HashMap<&str, &Resource> =
        actual.iter().map(|r| (r.name.as_str(), r)).collect();
    let mut missing = BTreeSet::new();
    let mut changed = BTreeSet::new();
    for want in expected {
        match actual_by_name.get(want.name.as_str()) {
            None => missing.insert(want.name.clone()),
            Some(got) if got.algorithm != want.algorithm || got.digest != want.digest => {
                changed.insert(want.name.clone())
            }
            Some(_) => false,
        };
    }
    let expected_names: BTreeSet<&str> = expected.iter().map(|r| r.name.as_str()).collect();
    let extra: BTreeSet<String> = actual
        .iter()
        .filter(|r| !expected_names.contains(r.name.as_str()))
        .map(|r| r.name.clone())
        .collect();
    ManifestDiff {
        missing: missing.into_iter().collect(),
        extra: extra.into_iter().collect(),
        changed: changed.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(name: &str, algorithm: &str, digest: &[u8]) -> Resource {
        Resource {
            name: name.into(),
            algorithm: algorithm.into(),
            digest: digest.to_vec(),
        }
    }

    #[test]
    fn root_digest_hashes_raw_digests_in_order() {
        // sha256(bytes 01 02 03 04), cross-checked with `printf '\x01\x02\x03\x04' | sha256sum`.
        let resources = [res("a", "sha256", &[1, 2]), res("b", "sha256", &[3, 4])];
        assert_eq!(
            hex::encode(root_digest(&resources)),
            "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a"
        );
        // SHA-256 of the empty string (FIPS 180-2).
        assert_eq!(
            hex::encode(root_digest(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn shard_names_split_on_the_last_two_colons() {
        let shards = Method::Shards { shard_size: 10 };
        assert_eq!(resource_file("a/b.bin:0:10", shards), Some("a/b.bin"));
        assert_eq!(resource_file("c:d:e.bin:10:15", shards), Some("c:d:e.bin"));
        assert_eq!(resource_file(".:0:3", shards), Some("."));
        for bad in [
            "a.bin",
            "a:1",
            ":0:1",
            "a:x:1",
            "a:1:",
            "a:+1:2",
            "a:1:99999999999999999999",
        ] {
            assert_eq!(resource_file(bad, shards), None, "{bad}");
        }
        assert_eq!(resource_file("c:d:0:1", Method::Files), Some("c:d:0:1"));
    }

    #[test]
    fn compare_reports_missing_extra_and_changed_sorted() {
        let expected = [
            res("z", "sha256", &[1]),
            res("b", "sha256", &[2]),
            res("same", "sha256", &[3]),
            res("alg", "sha256", &[4]),
            res("gone", "sha256", &[5]),
        ];
        let actual = [
            res("same", "sha256", &[3]),
            res("z", "sha256", &[9]),
            res("b", "sha256", &[8]),
            res("alg", "blake2b", &[4]),
            res("new2", "sha256", &[6]),
            res("new1", "sha256", &[7]),
        ];
        let diff = compare(&expected, &actual);
        assert_eq!(diff.missing, ["gone"]);
        assert_eq!(diff.extra, ["new1", "new2"]);
        assert_eq!(diff.changed, ["alg", "b", "z"]);
        assert!(!diff.is_empty());
        assert!(compare(&expected, &expected).is_empty());
    }

    #[test]
    fn compare_does_not_let_a_duplicate_hide_a_bad_digest() {
        let expected = [res("w", "sha256", &[1]), res("w", "sha256", &[2])];
        let actual = [res("w", "sha256", &[2])];
        assert_eq!(compare(&expected, &actual).changed, ["w"]);
    }
}
