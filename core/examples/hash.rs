//! Hashes a model the way `sign` does and prints its root digest, resource count and throughput;
//! a measuring tool for the hashing engine on real files.
//!
//! `cargo run --release -p modelseal --example hash -- PATH [files|shards[:SIZE]] [sha256|blake2b|blake3]`

use modelseal::digest::{self, HashAlgorithm, Method, SerializationConfig};

use modelseal::internals::tree::{self, WalkOptions};
use modelseal::progress::NoProgress;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: hash PATH [files|shards[:SIZE]] [sha256|blake2b|blake3]";
    let root = PathBuf::from(args.next().ok_or(usage)?);
    let method = match args.next().as_deref() {
        None | Some("files") => Method::Files,
        Some("shards") => Method::Shards {
            shard_size: digest::DEFAULT_SHARD_SIZE,
        },
        Some(other) => match other.strip_prefix("shards:") {
            Some(size) => Method::Shards {
                shard_size: size.parse()?,
            },
            None => return Err(usage.into()),
        },
    };
    let hash = match args.next() {
        None => HashAlgorithm::Sha256,
        Some(name) => HashAlgorithm::from_name(&name).ok_or(usage)?,
    };
    let start = Instant::now();
    let options = WalkOptions {
        ignore_git_paths: true,
        ..WalkOptions::default()
    };
    let tree = tree::walk(&root, &options)?;
    let walked = start.elapsed();
    let config = SerializationConfig {
        method,
        hash,
        allow_symlinks: false,
        ignore_paths: vec![],
    };
    let resources = digest::hash_tree(&tree, &config, &NoProgress)?;
    let elapsed = start.elapsed();
    let bytes = tree.total_len() as f64;
    println!("{}", hex::encode(digest::root_digest(&resources)));
    eprintln!(
        "{} files, {} resources, {:.1} MiB in {:.3} s (walk {:.3} s): {:.0} MiB/s",
        tree.files.len(),
        resources.len(),
        bytes / 1048576.0,
        elapsed.as_secs_f64(),
        walked.as_secs_f64(),
        bytes / 1048576.0 / elapsed.as_secs_f64()
    );
    Ok(())
}
