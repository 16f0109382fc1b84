//! Criterion benchmarks of the hashing engine (`modelseal::digest::hash_tree`) on generated models.
//!
//! Two models are written to a temporary directory once: one 128 MiB file (throughput of one
//! large file: sequential SHA-256, shards in parallel, BLAKE3 over all cores) and 2000 × 1 KiB
//! files (per-file overhead). Files are read from the page cache after the first iteration, so
//! these numbers are the CPU cost of hashing, not the disk's speed.
//!
//! `cargo bench -p modelseal-benches --bench hashing`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use modelseal::digest::{hash_tree, HashAlgorithm, Method, SerializationConfig};
use modelseal::internals::tree::{walk, ModelTree, WalkOptions};
use modelseal::progress::NoProgress;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const LARGE_FILE: usize = 128 << 20;
const SMALL_FILES: usize = 2000;
const SMALL_FILE: usize = 1024;

/// Writes `len` pseudo-random bytes (xorshift: incompressible, cheap to generate).
fn write_file(path: &Path, len: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    let mut block = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len());
        file.write_all(&block[..n]).unwrap();
        left -= n;
    }
    file.flush().unwrap();
}

fn model_tree(root: &Path) -> ModelTree {
    walk(
        root,
        &WalkOptions {
            ignore_git_paths: true,
            ..WalkOptions::default()
        },
    )
    .unwrap()
}

fn config(method: Method, hash: HashAlgorithm) -> SerializationConfig {
    SerializationConfig {
        method,
        hash,
        allow_symlinks: false,
        ignore_paths: Vec::new(),
    }
}

fn bench_large_file(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("weights.bin"), LARGE_FILE);
    let tree = model_tree(dir.path());
    let mut group = c.benchmark_group("large_file_128MiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Bytes(LARGE_FILE as u64));
    let cases = [
        ("files", HashAlgorithm::Sha256, Method::Files),
        (
            "shards_16MiB",
            HashAlgorithm::Sha256,
            Method::Shards {
                shard_size: 16 << 20,
            },
        ),
        ("files", HashAlgorithm::Blake2b, Method::Files),
        ("files", HashAlgorithm::Blake3, Method::Files),
    ];
    for (method_name, hash, method) in cases {
        let config = config(method, hash);
        group.bench_function(BenchmarkId::new(method_name, hash.name()), |b| {
            b.iter(|| hash_tree(&tree, &config, &NoProgress).unwrap())
        });
    }
    group.finish();
}

fn bench_small_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..SMALL_FILES {
        let sub = dir.path().join(format!("d{}", i % 20));
        std::fs::create_dir_all(&sub).unwrap();
        write_file(&sub.join(format!("f{i}.json")), SMALL_FILE);
    }
    let mut group = c.benchmark_group("small_files_2000x1KiB");
    group.sample_size(20);
    group.throughput(Throughput::Elements(SMALL_FILES as u64));
    group.bench_function("walk", |b| b.iter(|| model_tree(dir.path())));
    let tree = model_tree(dir.path());
    for hash in [HashAlgorithm::Sha256, HashAlgorithm::Blake3] {
        let config = config(Method::Files, hash);
        group.bench_function(BenchmarkId::new("files", hash.name()), |b| {
            b.iter(|| hash_tree(&tree, &config, &NoProgress).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_large_file, bench_small_files);
criterion_main!(benches);
