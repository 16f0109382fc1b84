//! Unit tests of the hashing engine: configuration errors, change detection, progress, and the
//! agreement of the sequential, pooled and pipelined readers. Digests against independent
//! implementations (Python hashlib, blake3, model-signing 1.1.1) live in `tests/tree_digest.rs`.

use super::plan::{plan, Job};
use super::*;
use crate::tree::{walk, WalkOptions};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

fn config(method: Method, hash: HashAlgorithm) -> SerializationConfig {
    SerializationConfig {
        method,
        hash,
        allow_symlinks: false,
        ignore_paths: Vec::new(),
    }
}

fn model(files: &[(&str, usize)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for &(name, len) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        fs::write(path, bytes).unwrap();
    }
    dir
}

fn tree_of(dir: &Path) -> ModelTree {
    walk(
        dir,
        &WalkOptions {
            ignore_git_paths: true,
            ..WalkOptions::default()
        },
    )
    .unwrap()
}

struct Counter(AtomicU64);
impl Progress for Counter {
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[test]
fn rejects_zero_shards_and_blake3_shards() {
    let dir = model(&[("a", 3)]);
    let tree = tree_of(dir.path());
    let zero = config(Method::Shards { shard_size: 0 }, HashAlgorithm::Sha256);
    let err = hash_tree(&tree, &zero, &NoProgress).unwrap_err();
    assert!(
        matches!(&err, DigestError::Config(m) if m.contains("greater than 0")),
        "{err}"
    );
    let blake3 = config(Method::Shards { shard_size: 10 }, HashAlgorithm::Blake3);
    let err = hash_tree(&tree, &blake3, &NoProgress).unwrap_err();
    assert!(
        matches!(&err, DigestError::Config(m) if m.contains("files serialization")),
        "{err}"
    );
}

#[test]
fn resource_algorithm_names_match_1_1_1() {
    assert_eq!(
        resource_algorithm(Method::Files, HashAlgorithm::Blake2b).unwrap(),
        "blake2b"
    );
    assert_eq!(
        resource_algorithm(
            Method::Shards {
                shard_size: 1_000_000_000
            },
            HashAlgorithm::Sha256
        )
        .unwrap(),
        "sha256-sharded-1000000000"
    );
}

#[test]
fn reports_progress_for_every_byte_once() {
    let dir = model(&[("a", 3_000_000), ("b/c", 5), ("e", 0)]);
    let tree = tree_of(dir.path());
    for method in [
        Method::Files,
        Method::Shards {
            shard_size: 1_000_000,
        },
    ] {
        for hash in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Blake2b,
            HashAlgorithm::Blake3,
        ] {
            if hash == HashAlgorithm::Blake3 && method != Method::Files {
                continue;
            }
            let counter = Counter(AtomicU64::new(0));
            hash_tree(&tree, &config(method, hash), &counter).unwrap();
            assert_eq!(
                counter.0.load(Ordering::Relaxed),
                3_000_005,
                "{method:?} {hash:?}"
            );
        }
    }
}

#[test]
fn shards_and_files_name_resources_in_order() {
    let dir = model(&[("b", 10), ("a/x", 4), ("a-b", 0)]);
    let tree = tree_of(dir.path());
    let shards = config(Method::Shards { shard_size: 4 }, HashAlgorithm::Sha256);
    let names: Vec<String> = hash_tree(&tree, &shards, &NoProgress)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a/x:0:4", "b:0:4", "b:4:8", "b:8:10"]);
    let files = config(Method::Files, HashAlgorithm::Sha256);
    let names: Vec<String> = hash_tree(&tree, &files, &NoProgress)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a/x", "a-b", "b"]);
}

#[test]
fn a_file_that_grows_or_shrinks_after_the_walk_is_changed() {
    for method in [Method::Files, Method::Shards { shard_size: 1000 }] {
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
            if hash == HashAlgorithm::Blake3 && method != Method::Files {
                continue;
            }
            let dir = model(&[("grows", 2500), ("ok", 10)]);
            let tree = tree_of(dir.path());
            fs::write(dir.path().join("grows"), vec![1u8; 2501]).unwrap();
            let err = hash_tree(&tree, &config(method, hash), &NoProgress).unwrap_err();
            assert!(matches!(&err, DigestError::Changed { path } if path.ends_with("grows")));
            assert!(err
                .to_string()
                .contains("changed while it was being hashed"));
            fs::write(dir.path().join("grows"), vec![1u8; 2499]).unwrap();
            let err = hash_tree(&tree, &config(method, hash), &NoProgress).unwrap_err();
            assert!(
                matches!(err, DigestError::Changed { .. }),
                "{method:?} {hash:?}: {err}"
            );
        }
    }
}

#[test]
fn a_file_removed_after_the_walk_is_an_io_error_naming_it() {
    let dir = model(&[("gone.bin", 10)]);
    let tree = tree_of(dir.path());
    fs::remove_file(dir.path().join("gone.bin")).unwrap();
    let err = hash_tree(
        &tree,
        &config(Method::Files, HashAlgorithm::Sha256),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, DigestError::Io { .. }));
    assert!(err.to_string().contains("gone.bin"), "{err}");
}

/// The pipelined reader (used for large jobs) must agree with the plain one, whatever the
/// buffer size relative to the job, and must notice growth and shrinking too.
#[test]
fn pipeline_agrees_with_the_sequential_reader() {
    let dir = model(&[("w", 100_003)]);
    let tree = tree_of(dir.path());
    let shards = plan(&tree, Method::Shards { shard_size: 40_000 });
    let whole = plan(&tree, Method::Files);
    let jobs: Vec<&Job<'_>> = shards.iter().chain(whole.iter()).collect();
    for job in jobs {
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
            let expected = read::hash_job(job, hash, &NoProgress).unwrap();
            for buffer_size in [7, 4096, 40_000, 1 << 20] {
                let got = pipeline::hash_job(job, hash, buffer_size, &NoProgress).unwrap();
                assert_eq!(
                    got, expected,
                    "{}..{} {hash:?} {buffer_size}",
                    job.start, job.end
                );
            }
        }
    }
    fs::write(dir.path().join("w"), vec![0u8; 100_004]).unwrap();
    let err = pipeline::hash_job(&whole[0], HashAlgorithm::Blake3, 4096, &NoProgress);
    assert!(matches!(err, Err(DigestError::Changed { .. })));
    fs::write(dir.path().join("w"), vec![0u8; 50_000]).unwrap();
    let err = pipeline::hash_job(&whole[0], HashAlgorithm::Blake3, 4096, &NoProgress);
    assert!(matches!(err, Err(DigestError::Changed { .. })));
}

#[test]
fn large_blake3_files_take_the_pipeline_and_match() {
    let tuning = engine::Tuning {
        blake3_pipeline_min: 100_000,
        blake3_pipeline_buffer: 30_000,
        ..engine::Tuning::DEFAULT
    };
    // One file at the threshold, one above, next to small files hashed in the pool.
    let dir = model(&[
        ("at", 100_000),
        ("big", 250_001),
        ("small", 99_999),
        ("tiny", 1),
    ]);
    let tree = tree_of(dir.path());
    let blake3 = config(Method::Files, HashAlgorithm::Blake3);
    let counter = Counter(AtomicU64::new(0));
    let resources = hash_tree_tuned(&tree, &blake3, tuning, &counter).unwrap();
    assert_eq!(counter.0.load(Ordering::Relaxed), 450_001);
    for resource in &resources {
        // `blake3::hash` of the whole file in memory: the crate's one-shot reference path.
        let bytes = fs::read(dir.path().join(&resource.name)).unwrap();
        assert_eq!(
            resource.digest,
            blake3::hash(&bytes).as_bytes(),
            "{}",
            resource.name
        );
    }
}

#[test]
fn read_ahead_for_sequential_hashes_changes_no_digest() {
    let dir = model(&[("a", 300_000), ("b", 50_000), ("c/d", 120_000), ("e", 0)]);
    let tree = tree_of(dir.path());
    let never = engine::Tuning {
        sequential_pipeline_min: u64::MAX,
        ..engine::Tuning::DEFAULT
    };
    let often = engine::Tuning {
        sequential_pipeline_min: 100_000,
        ..engine::Tuning::DEFAULT
    };
    for method in [Method::Files, Method::Shards { shard_size: 70_000 }] {
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Blake2b] {
            let config = config(method, hash);
            let plain = hash_tree_tuned(&tree, &config, never, &NoProgress).unwrap();
            let counter = Counter(AtomicU64::new(0));
            let piped = hash_tree_tuned(&tree, &config, often, &counter).unwrap();
            assert_eq!(plain, piped, "{method:?} {hash:?}");
            assert_eq!(counter.0.load(Ordering::Relaxed), 470_000);
        }
    }
}
