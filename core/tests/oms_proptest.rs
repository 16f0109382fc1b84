//! Property tests of the OMS format: statements and bundles round-trip, a single-byte change to a
//! statement is never silently accepted as the same statement, and no input makes a parser panic.

use modelseal::digest::{HashAlgorithm, Method, Resource, SerializationConfig};
use modelseal::internals::oms::{Bundle, Statement, VerificationMaterial};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

// ---- strategies ------------------------------------------------------------------------------

fn hash_algorithm() -> impl Strategy<Value = HashAlgorithm> {
    prop_oneof![
        Just(HashAlgorithm::Sha256),
        Just(HashAlgorithm::Blake2b),
        Just(HashAlgorithm::Blake3)
    ]
}

fn digest_len(h: HashAlgorithm) -> usize {
    match h {
        HashAlgorithm::Blake2b => 64,
        HashAlgorithm::Sha256 | HashAlgorithm::Blake3 => 32,
    }
}

/// A safe path component: no `/`, `\`, NUL, and never `.` or `..`; may hold `:`, spaces, quotes,
/// control characters and non-ASCII, which the JSON writer must escape correctly.
fn component() -> impl Strategy<Value = String> {
    "[^/\\\\\\x00]{1,8}".prop_filter("not . or ..", |c| c != "." && c != "..")
}

fn rel_path() -> impl Strategy<Value = String> {
    vec(component(), 1..4).prop_map(|c| c.join("/"))
}

/// Distinct relative paths (possibly the single-file `.`); at least one, as a statement needs.
fn paths() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(vec![".".to_string()]),
        6 => btree_set(rel_path(), 1..8).prop_map(|s| s.into_iter().collect()),
    ]
}

fn file_resources(h: HashAlgorithm) -> impl Strategy<Value = Vec<Resource>> {
    paths().prop_flat_map(move |paths| {
        let n = paths.len();
        vec(vec(any::<u8>(), digest_len(h)), n).prop_map(move |digests| {
            paths
                .iter()
                .zip(digests)
                .map(|(p, digest)| Resource {
                    name: p.clone(),
                    algorithm: h.name().into(),
                    digest,
                })
                .collect()
        })
    })
}

/// For each path, 1–4 shards: full shards then one of 1..=size bytes.
fn shard_resources(h: HashAlgorithm, size: u64) -> impl Strategy<Value = Vec<Resource>> {
    let per_file = (1u64..5, 1..=size, any::<bool>());
    paths().prop_flat_map(move |paths| {
        let n = paths.len();
        (
            vec(per_file.clone(), n),
            vec(vec(any::<u8>(), digest_len(h)), n * 4),
        )
            .prop_map(move |(layout, mut digests)| {
                let mut out = Vec::new();
                for (path, (count, last, spec_name)) in paths.iter().zip(layout) {
                    let algorithm = if spec_name {
                        h.name().to_string()
                    } else {
                        format!("{}-sharded-{size}", h.name())
                    };
                    for k in 0..count {
                        let start = k * size;
                        let end = if k + 1 == count {
                            start + last
                        } else {
                            start + size
                        };
                        let digest = digests.pop().unwrap_or_default();
                        out.push(Resource {
                            name: format!("{path}:{start}:{end}"),
                            algorithm: algorithm.clone(),
                            digest,
                        });
                    }
                }
                out
            })
    })
}

fn statement() -> impl Strategy<Value = Statement> {
    let shard_size = prop_oneof![1u64..10, Just(1_000_000_000u64), 1u64..(1 << 40)];
    let method = prop_oneof![Just(None), shard_size.prop_map(Some)];
    (
        hash_algorithm(),
        method,
        any::<bool>(),
        vec("[^\\x00]{1,10}", 0..3),
        "[^\\x00]{0,12}",
    )
        .prop_flat_map(|(h, shard, symlinks, ignores, name)| {
            let resources = match shard {
                None => file_resources(h).boxed(),
                Some(size) => shard_resources(h, size).boxed(),
            };
            let method = shard.map_or(Method::Files, |shard_size| Method::Shards { shard_size });
            let config = SerializationConfig {
                method,
                hash: h,
                allow_symlinks: symlinks,
                ignore_paths: ignores,
            };
            resources.prop_map(move |r| Statement::new(name.clone(), config.clone(), r))
        })
}

fn material() -> impl Strategy<Value = VerificationMaterial> {
    let bytes = || vec(any::<u8>(), 1..80);
    prop_oneof![
        proptest::option::of("[^\\x00]{1,70}")
            .prop_map(|hint| VerificationMaterial::PublicKey { hint }),
        bytes().prop_map(|raw_bytes| VerificationMaterial::LegacyPublicKey { raw_bytes }),
        vec(bytes(), 1..4).prop_map(VerificationMaterial::Certificates),
    ]
}

fn bundle() -> impl Strategy<Value = Bundle> {
    (
        material(),
        ".{0,40}",
        vec(any::<u8>(), 1..200),
        vec(any::<u8>(), 1..100),
    )
        .prop_map(|(material, payload_type, payload, signature)| Bundle {
            material,
            payload_type,
            payload,
            signature,
        })
}

// ---- properties ------------------------------------------------------------------------------

proptest! {
    #[test]
    fn generated_statements_are_well_formed(s in statement()) {
        s.check().map_err(|e| TestCaseError::fail(format!("{e}: {s:?}")))?;
    }

    #[test]
    fn statement_round_trips(s in statement()) {
        let parsed = Statement::parse(&s.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, s);
    }

    #[test]
    fn statement_round_trips_through_pretty_printing(s in statement()) {
        // 1.1.1's layout: indented, keys in another order; parsing must not care.
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        prop_assert_eq!(Statement::parse(&pretty).unwrap(), s);
    }

    #[test]
    fn single_byte_change_is_never_silently_equal(s in statement(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let original = s.to_json();
        let i = at.index(original.len());
        prop_assume!(original[i] != byte);
        let mut changed = original.clone();
        changed[i] = byte;
        if let Ok(parsed) = Statement::parse(&changed) {
            // The one way to keep the meaning: the case of a hex digit (in a digest, or in a
            // `\u00XX` escape), since hex is case-insensitive.
            let hex_case = original[i].is_ascii_hexdigit() && original[i].eq_ignore_ascii_case(&byte);
            prop_assert!(parsed != s || hex_case,
                "byte {} changed {:?} -> {:?} and parsed equal:\n{}", i, original[i] as char, byte as char,
                String::from_utf8_lossy(&changed));
        }
    }

    #[test]
    fn bundle_round_trips(b in bundle()) {
        let parsed = Bundle::parse(b.to_json().as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, b);
    }

    #[test]
    fn garbage_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let _ = Statement::parse(&bytes);
        let _ = Bundle::parse(&bytes);
    }

    #[test]
    fn edited_documents_never_panic(
        s in statement(),
        b in bundle(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        // Near-valid input reaches deeper code than random bytes do.
        for mut doc in [s.to_json(), b.to_json().into_bytes()] {
            for (at, byte) in &edits {
                let i = at.index(doc.len());
                doc[i] = *byte;
            }
            let _ = Statement::parse(&doc);
            let _ = Bundle::parse(&doc);
            let truncated = &doc[..cut.index(doc.len())];
            let _ = Statement::parse(truncated);
            let _ = Bundle::parse(truncated);
        }
    }
}
