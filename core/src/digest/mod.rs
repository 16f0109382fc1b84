//! The hashing engine: a [`ModelTree`] × a [`SerializationConfig`] → the list of [`Resource`]s.
//!
//! Guarantees: each byte is read once, with bounded buffers or bounded map windows (`fs::mapped`:
//! no whole-file maps, so peak memory does not grow with the model; a file truncated while mapped
//! is [`DigestError::Changed`], never a `SIGBUS`); work is parallel across files and across shards/chunks of one file;
//! resources come out in signing order (files: component-wise by name; shards: by name, then start
//! offset numerically), which makes the root digest equal to model-signing 1.1.1's.
//!
//! Files that change size while being hashed fail with [`DigestError::Changed`] rather than
//! yielding a digest of mixed content. Shard serialization with BLAKE3 is refused (see
//! [`resource_algorithm`]).

mod blake3_tree;
mod engine;
pub(crate) mod expect;
mod hasher;
mod manifest;
mod plan;
mod read;
#[cfg(test)]
pub(crate) use read::counted;

pub use expect::{SignedDigests, StreamCheck, StreamDigest};
pub use manifest::{compare, resource_file, root_digest};

use crate::progress::Progress;
use crate::scan::FileFormat;
use crate::tree::{ModelTree, TreeError};
use std::path::PathBuf;

/// Default shard size of model-signing 1.1.1 (10^9 bytes).
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

/// Errors while hashing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// Reading a model file failed.
    #[error("{path}: {source}")]
    Io {
        /// The model file that could not be opened, examined or read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file changed size while it was being hashed; the signature would cover mixed content.
    #[error("{path}: changed while it was being hashed")]
    Changed {
        /// The model file whose size or change time differs from the walk's, or that ended early
        /// or went on past its walked size while being read.
        path: PathBuf,
    },
    /// A configuration that cannot be hashed (shard size 0, unknown algorithm name, …).
    #[error("invalid serialization: {0}")]
    Config(String),
    /// Walking the tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// Hash function for each resource. The root digest is always SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// Unkeyed BLAKE2b with a 64-byte digest.
    Blake2b,
    /// BLAKE3 with the default 32-byte digest.
    Blake3,
}

impl HashAlgorithm {
    /// The name used in `hash_type` and resource `algorithm` fields: `sha256`, `blake2b`, `blake3`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Blake2b => "blake2b",
            HashAlgorithm::Blake3 => "blake3",
        }
    }
    /// Parses a name; accepts `blake2` as an alias of `blake2b` (the 1.1.1 API spelling).
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        match name {
            "sha256" => Some(HashAlgorithm::Sha256),
            "blake2b" | "blake2" => Some(HashAlgorithm::Blake2b),
            "blake3" => Some(HashAlgorithm::Blake3),
            _ => None,
        }
    }
}

/// How a model is cut into resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One resource per file.
    Files,
    /// One resource per `shard_size` byte range of each non-empty file.
    Shards {
        /// Bytes per shard (> 0).
        shard_size: u64,
    },
}

/// Everything needed to re-create a manifest; recorded in (and read back from) the signed predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializationConfig {
    /// Whole files or shards: decides how many resources a file gives and how they are named.
    pub method: Method,
    /// The hash of each resource (the root digest is SHA-256 whatever this says).
    pub hash: HashAlgorithm,
    /// Whether symlinks to files were followed (rather than refused) when the model was walked;
    /// verification walks with the signed value, not with its own options.
    pub allow_symlinks: bool,
    /// Ignore paths as recorded in the signature (relative to the model root).
    pub ignore_paths: Vec<String>,
}

/// One hashed object of the model: a file or a shard of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `path` for files, `path:start:end` for shards.
    pub name: String,
    /// `sha256`, `blake2b`, `blake3`, or `<hash>-sharded-<size>` for shards (as 1.1.1 writes).
    pub algorithm: String,
    /// Raw digest bytes.
    pub digest: Vec<u8>,
}

/// Hashes every file of `tree` as `config` says, in parallel, returning resources in signing order.
pub fn hash_tree(
    tree: &ModelTree,
    config: &SerializationConfig,
    progress: &dyn Progress,
) -> Result<Vec<Resource>, DigestError> {
    Ok(hash_tree_tuned(tree, config, false, engine::Tuning::DEFAULT, progress)?.0)
}

/// [`hash_tree`], also telling each file's serialization format from the bytes that were hashed
/// (`scan::detect_verified`): what verification reports and a policy's `deny_formats` judges, so a
/// file swapped after hashing cannot change the judgement. Formats come in tree order; text and
/// unknown binaries are not listed.
pub fn hash_tree_with_formats(
    tree: &ModelTree,
    config: &SerializationConfig,
    progress: &dyn Progress,
) -> Result<(Vec<Resource>, Vec<FileFormat>), DigestError> {
    hash_tree_tuned(tree, config, true, engine::Tuning::DEFAULT, progress)
}

/// Resources of some files of a model computed outside [`hash_tree`] — by a pass that read
/// them for another purpose (seal's encryption, unseal's decryption), or expected from a signed
/// manifest that pass will check — keyed by the file's name in the tree, with its size.
#[derive(Debug, Clone, Default)]
pub struct KnownResources {
    /// The serialization they were computed under (method and hash count).
    pub method: Option<(Method, HashAlgorithm)>,
    /// `name → (size in bytes, resources in order)`.
    pub files: std::collections::HashMap<String, (u64, Vec<Resource>)>,
}

impl KnownResources {
    /// Whether these resources were computed the way `config` hashes.
    pub fn fit(&self, config: &SerializationConfig) -> bool {
        self.method == Some((config.method, config.hash))
    }

    /// The bytes of `tree` that [`hash_tree_known`] reads under `config`: every file these
    /// resources do not hold with its walked size (all of them when these were computed another
    /// way) — what a progress report of that hashing begins with.
    pub fn bytes_to_read(&self, tree: &ModelTree, config: &SerializationConfig) -> u64 {
        if !self.fit(config) {
            return tree.total_len();
        }
        tree.files
            .iter()
            .filter(|f| !matches!(self.files.get(f.name.as_str()), Some((len, _)) if *len == f.len))
            .map(|f| f.len)
            .sum()
    }
}

/// [`hash_tree`], reading only the files whose resources `known` does not hold (under the same
/// method and hash, with the walked size); the result is what `hash_tree` would give for the same
/// bytes, in signing order.
pub fn hash_tree_known(
    tree: &ModelTree,
    config: &SerializationConfig,
    known: &KnownResources,
    progress: &dyn Progress,
) -> Result<Vec<Resource>, DigestError> {
    Ok(hash_known(tree, config, known, false, progress)?.0)
}

/// [`hash_tree_known`] with the formats of [`hash_tree_with_formats`]: the files it hashes are
/// judged from the hashed bytes; a file whose resources `known` holds is judged from its first
/// bytes read now, so a caller passes known resources only for files nobody else can change
/// (unseal's private scratch directory) or whose format it does not rely on.
pub fn hash_tree_known_with_formats(
    tree: &ModelTree,
    config: &SerializationConfig,
    known: &KnownResources,
    progress: &dyn Progress,
) -> Result<(Vec<Resource>, Vec<FileFormat>), DigestError> {
    hash_known(tree, config, known, true, progress)
}

/// The format of a local `file` of a tree, read from its first bytes now.
fn format_of(file: &crate::tree::ModelFile) -> Result<Option<FileFormat>, DigestError> {
    use std::io::Read;
    let io = |source| DigestError::Io {
        path: file.path.clone(),
        source,
    };
    let mut opened = file.open().map_err(io)?;
    let mut head = Vec::with_capacity(crate::scan::HEAD_BYTES);
    (&mut opened)
        .take(crate::scan::HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    crate::scan::detect_verified(file.name.as_str(), file.len, &head, &mut opened).map_err(io)
}

fn hash_known(
    tree: &ModelTree,
    config: &SerializationConfig,
    known: &KnownResources,
    detect: bool,
    progress: &dyn Progress,
) -> Result<(Vec<Resource>, Vec<FileFormat>), DigestError> {
    if !known.fit(config) {
        return hash_tree_tuned(tree, config, detect, engine::Tuning::DEFAULT, progress);
    }
    let mut slots = Vec::with_capacity(tree.files.len());
    let mut unknown = Vec::new();
    for file in &tree.files {
        match known.files.get(file.name.as_str()) {
            Some((len, resources)) if *len == file.len => slots.push(Some(resources.clone())),
            _ => {
                slots.push(None);
                unknown.push(file.clone());
            }
        }
    }
    let rest = ModelTree {
        root: tree.root.clone(),
        single_file: tree.single_file,
        files: unknown,
        remote: tree.remote.clone(),
    };
    let names = resource_names(tree, config.method)?;
    let (rest, rest_formats) =
        hash_tree_tuned(&rest, config, detect, engine::Tuning::DEFAULT, progress)?;
    let mut rest = rest.into_iter();
    let mut rest_formats = rest_formats.into_iter().peekable();
    let mut all = Vec::new();
    let mut formats = Vec::new();
    for ((slot, file_names), file) in slots.into_iter().zip(names).zip(&tree.files) {
        match slot {
            Some(resources) => {
                all.extend(resources);
                if detect {
                    formats.extend(format_of(file)?);
                }
            }
            // hash_tree gives each file's resources (and formats) in tree order.
            None => {
                all.extend(rest.by_ref().take(file_names.len()));
                formats.extend(rest_formats.next_if(|f| f.path == file.name.as_str()));
            }
        }
    }
    Ok((all, formats))
}

fn hash_tree_tuned(
    tree: &ModelTree,
    config: &SerializationConfig,
    detect: bool,
    tuning: engine::Tuning,
    progress: &dyn Progress,
) -> Result<(Vec<Resource>, Vec<FileFormat>), DigestError> {
    let algorithm = resource_algorithm(config.method, config.hash)?;
    let jobs = plan::plan(tree, config.method);
    let hashed = engine::hash_jobs(
        &jobs,
        tree.remote.as_deref(),
        config.hash,
        detect,
        tuning,
        progress,
    )?;
    let mut formats = Vec::new();
    let resources = jobs
        .iter()
        .zip(hashed)
        .map(|(job, hashed)| {
            formats.extend(hashed.format);
            Resource {
                name: job.resource_name(config.method),
                algorithm: algorithm.clone(),
                digest: hashed.digest,
            }
        })
        .collect();
    Ok((resources, formats))
}

/// The resource names each file of `tree` gives under `method` (one per file, in tree order),
/// without reading any file: how verification compares a model with a signed manifest before it
/// hashes anything. Fails as [`resource_algorithm`] does for a zero shard size.
pub fn resource_names(tree: &ModelTree, method: Method) -> Result<Vec<Vec<String>>, DigestError> {
    if method == (Method::Shards { shard_size: 0 }) {
        return Err(DigestError::Config(
            "shard size must be greater than 0".into(),
        ));
    }
    // The plan lists each file's jobs together, in tree order (none for an empty shard file).
    let jobs = plan::plan(tree, method);
    let mut jobs = jobs.iter().peekable();
    let names = tree
        .files
        .iter()
        .map(|file| {
            let mut names = Vec::new();
            while let Some(job) = jobs.next_if(|j| std::ptr::eq(j.file, file)) {
                names.push(job.resource_name(method));
            }
            names
        })
        .collect();
    Ok(names)
}

/// The `algorithm` field of every resource under `method` and `hash`, exactly as 1.1.1 writes it:
/// the hash name for files, `<hash>-sharded-<shard_size>` for shards.
///
/// Fails for a zero shard size, and for shards with BLAKE3: 1.1.1 silently hashes BLAKE3 per file
/// even when shards are asked for, so a BLAKE3 shard manifest could never verify there.
pub fn resource_algorithm(method: Method, hash: HashAlgorithm) -> Result<String, DigestError> {
    match method {
        Method::Files => Ok(hash.name().to_owned()),
        Method::Shards { shard_size: 0 } => Err(DigestError::Config(
            "shard size must be greater than 0".into(),
        )),
        Method::Shards { .. } if hash == HashAlgorithm::Blake3 => Err(DigestError::Config(
            "blake3 cannot be used with shard serialization (model-signing 1.1.1 hashes blake3 \
             per file even when shards are requested, so such a signature would not verify \
             there); use files serialization, which hashes each large file on all cores"
                .into(),
        )),
        Method::Shards { shard_size } => Ok(format!("{}-sharded-{shard_size}", hash.name())),
    }
}

/// How a local model differs from a signed one; empty when they match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestDiff {
    /// Signed resources missing from the model.
    pub missing: Vec<String>,
    /// Resources in the model that the signature does not list.
    pub extra: Vec<String>,
    /// Resources whose algorithm or digest differ.
    pub changed: Vec<String>,
}

impl ManifestDiff {
    /// True when the model matches the signature exactly.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests;
