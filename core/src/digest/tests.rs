//! Unit tests of the hashing engine: configuration errors, change detection, progress, and the
//! agreement of the sequential, pooled and pipelined readers. Digests against independent
//! implementations (Python hashlib, blake3, model-signing 1.1.1) live in `tests/tree_digest.rs`.

use super::*;
use crate::progress::NoProgress;
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

/// Every method and algorithm that reads files.
fn every_config() -> Vec<SerializationConfig> {
    let mut out = Vec::new();
    for hash in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Blake2b,
        HashAlgorithm::Blake3,
    ] {
        out.push(config(Method::Files, hash));
        if hash != HashAlgorithm::Blake3 {
            out.push(config(
                Method::Shards {
                    shard_size: 100_000,
                },
                hash,
            ));
        }
    }
    out
}

/// Kernels without multigrain timestamps (before 6.13) stamp changes with a coarse clock tick;
/// waiting a few ticks makes the tests below independent of the kernel.
fn past_one_clock_tick() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

#[test]
fn a_same_size_rewrite_after_the_walk_is_changed() {
    for cfg in every_config() {
        let dir = model(&[("weights", 300_000), ("ok", 10)]);
        let tree = tree_of(dir.path());
        past_one_clock_tick();
        let mut bytes = fs::read(dir.path().join("weights")).unwrap();
        bytes[123] ^= 1;
        fs::write(dir.path().join("weights"), bytes).unwrap();
        let err = hash_tree(&tree, &cfg, &NoProgress).unwrap_err();
        assert!(
            matches!(&err, DigestError::Changed { path } if path.ends_with("weights")),
            "{cfg:?}: {err}"
        );
    }
}

/// Rewrites the tail of a file in place (same size) the first time hashing reports progress.
struct RewriteWhileHashing {
    path: std::path::PathBuf,
    done: std::sync::atomic::AtomicBool,
}

impl Progress for RewriteWhileHashing {
    fn advance(&self, _bytes: u64) {
        if !self.done.swap(true, Ordering::SeqCst) {
            use std::os::unix::fs::FileExt;
            past_one_clock_tick();
            let f = fs::OpenOptions::new().write(true).open(&self.path).unwrap();
            f.write_all_at(&[0xEE; 1000], 299_000).unwrap();
        }
    }
}

#[test]
fn a_same_size_rewrite_during_hashing_is_changed_not_signed() {
    for cfg in every_config() {
        let dir = model(&[("weights", 300_000)]);
        let tree = tree_of(dir.path());
        let progress = RewriteWhileHashing {
            path: dir.path().join("weights"),
            done: Default::default(),
        };
        let err = hash_tree(&tree, &cfg, &progress).unwrap_err();
        assert!(
            matches!(&err, DigestError::Changed { path } if path.ends_with("weights")),
            "{cfg:?}: {err}"
        );
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

fn small_leaves() -> engine::Tuning {
    engine::Tuning {
        blake3_leaf: 4096,
        ..engine::Tuning::DEFAULT
    }
}

/// The subtree split must reproduce BLAKE3's tree exactly: around chunk (1024) and leaf (4096)
/// boundaries, and far above them.
#[test]
fn blake3_subtrees_equal_the_one_shot_hash() {
    let lengths = [
        0, 1, 1023, 1024, 1025, 4095, 4096, 4097, 8192, 12_289, 65_536, 100_003,
    ];
    let files: Vec<(String, usize)> = lengths.iter().map(|&n| (format!("f{n}"), n)).collect();
    let names: Vec<(&str, usize)> = files.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    let dir = model(&names);
    let tree = tree_of(dir.path());
    let blake3 = config(Method::Files, HashAlgorithm::Blake3);
    let counter = Counter(AtomicU64::new(0));
    let resources = hash_tree_tuned(&tree, &blake3, true, small_leaves(), &counter)
        .unwrap()
        .0;
    assert_eq!(
        counter.0.load(Ordering::Relaxed),
        lengths.iter().sum::<usize>() as u64
    );
    assert_eq!(resources.len(), lengths.len());
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
fn blake3_subtrees_notice_growth_and_shrinking() {
    let dir = model(&[("w", 100_003)]);
    let tree = tree_of(dir.path());
    let blake3 = config(Method::Files, HashAlgorithm::Blake3);
    for len in [100_004, 100_002, 50_000] {
        fs::write(dir.path().join("w"), vec![0u8; len]).unwrap();
        let err = hash_tree_tuned(&tree, &blake3, false, small_leaves(), &NoProgress).unwrap_err();
        assert!(matches!(err, DigestError::Changed { .. }), "{len}: {err}");
    }
}

/// Sequential digests hashed in small steps, each job handed between the workers after every
/// step and at most one or two jobs open at once, give the digests of hashing each range in one
/// go (sha2 on the bytes in memory), for files and shards, with every byte reported once — also
/// across the holes and data of a sparse file larger than the smallest mapped read.
#[test]
fn stepped_sequential_digests_equal_one_pass_digests() {
    use sha2::Digest;
    use std::os::unix::fs::FileExt;
    let mut lengths = vec![0, 1, 4095, 4096, 5000, 100_003, 300_000];
    let files: Vec<(String, usize)> = lengths.iter().map(|&n| (format!("f{n}"), n)).collect();
    let names: Vec<(&str, usize)> = files.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    let dir = model(&names);
    // 3 MiB: a hole, 512 KiB of data from 1 MiB, a hole to the end.
    let sparse = fs::File::create(dir.path().join("sparse")).unwrap();
    sparse.set_len(3 << 20).unwrap();
    let data: Vec<u8> = (0..512 << 10).map(|i| (i % 251) as u8 | 1).collect();
    sparse.write_all_at(&data, 1 << 20).unwrap();
    drop(sparse);
    lengths.push(3 << 20);
    let tree = tree_of(dir.path());
    for method in [
        Method::Files,
        Method::Shards {
            shard_size: 1_100_000,
        },
    ] {
        let cfg = config(method, HashAlgorithm::Sha256);
        for (step, started) in [(4096, 1), (4097, 2), (65_537, 8)] {
            let tuning = engine::Tuning {
                step,
                started,
                ..engine::Tuning::DEFAULT
            };
            let counter = Counter(AtomicU64::new(0));
            let (resources, _) = hash_tree_tuned(&tree, &cfg, true, tuning, &counter).unwrap();
            let expected: Vec<(String, Vec<u8>)> = plan::plan(&tree, method)
                .iter()
                .map(|job| {
                    let bytes = fs::read(&job.file.path).unwrap();
                    let range = &bytes[job.start as usize..job.end as usize];
                    (
                        job.resource_name(method),
                        sha2::Sha256::digest(range).to_vec(),
                    )
                })
                .collect();
            let got: Vec<(String, Vec<u8>)> =
                resources.into_iter().map(|r| (r.name, r.digest)).collect();
            assert_eq!(got, expected, "{method:?}, step {step}, {started} open");
            assert_eq!(
                counter.0.load(Ordering::Relaxed),
                lengths.iter().sum::<usize>() as u64
            );
        }
    }
}
