//! Verify on load: a model whose signature and trust are checked once ([`open_model`]), then read
//! file by file into memory, each file hashed in the same read that loads it
//! ([`OpenedModel::open_file`], [`VerifiedFile::read_into`]).
//!
//! Guarantees:
//! - nothing about the model is acted on before the signature verified under the trust, and the
//!   signed statement is pinned then: later reads are checked against it, not against the files
//!   as they are when opened;
//! - opening compares the model's file list with the signed one (missing or extra files fail,
//!   as in [`crate::verify`]), without reading any file's bytes;
//! - a file's bytes are handed over only after the whole file was read and every signed range of
//!   it matched: [`VerifyError::Mismatch`] otherwise, naming the file. A file that grows, shrinks
//!   or is replaced while it is read fails the same way. Nothing is written anywhere.
//!
//! The caller owns the buffer ([`VerifiedFile::read_into`]), so a binding can fill memory that it
//! then hands out without a copy (Python: a `bytes` object under `numpy.frombuffer`).
//!
//! An encrypted or sealed model ([`open_encrypted_model`], in [`encrypted`]) is read the same way:
//! each chunk is decrypted and authenticated in memory and its plaintext hashed against the signed
//! statement; no plaintext is written anywhere.

mod cache;
mod destination;
mod encrypted;
mod judge;
mod parallel;

pub use cache::SHARD_CACHE_BYTES;
pub use destination::Destination;
pub use encrypted::{open_encrypted_model, open_encrypted_model_with_policy};

use crate::deploy::DeployError;
use crate::digest::{self, DigestError, ManifestDiff, SignedDigests};
use crate::oms::Statement;
use crate::policy::{LoadFacts, Policy, PolicyDecision, PolicyVerifyOptions};
use crate::scan::FileFormat;
use crate::trust::{SignerIdentity, Trust};
use crate::verify::{self, VerifyError, VerifyOptions};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes read and hashed at a time: small enough that a chunk is still in the CPU cache when it is
/// hashed right after the read, large enough that system calls do not dominate.
const READ_CHUNK: usize = 1 << 20;

/// A model whose signature verified and whose file list matches the signed one; its files are
/// verified as they are read.
#[derive(Debug)]
pub struct OpenedModel {
    model: PathBuf,
    signature: PathBuf,
    statement: Statement,
    signer: SignerIdentity,
    digests: Arc<SignedDigests>,
    /// Signed file name → where to read it (for an encrypted model: its ciphertext).
    files: BTreeMap<String, PathBuf>,
    /// How to decrypt the files of an encrypted model; `None` for a plaintext one.
    encrypted: Option<encrypted::Encrypted>,
    /// Shards verified by [`OpenedModel::read_range`], bounded ([`SHARD_CACHE_BYTES`]).
    shards: cache::ShardCache,
    /// The policy's decisions that allowed the model, when opened under one (a sealed model's:
    /// the outer signature's, then the inner one's).
    decisions: Vec<PolicyDecision>,
}

/// Verifies the signature at `signature` under `trust`, then lists `model` (names only) and
/// compares the list with the signed statement's. Reads no model file's bytes. A claims file
/// (`.jsonl`) gives the first line that verifies and whose file list matches.
pub fn open_model(
    model: &Path,
    signature: &Path,
    trust: &Trust,
    options: &VerifyOptions,
) -> Result<OpenedModel, VerifyError> {
    verify::first_verified(
        signature,
        trust,
        &options.timestamps,
        |_, statement, signer| open_statement(model, signature, statement, signer, options),
    )
}

/// [`open_model`] with `policy` as the trust, as `verify --policy` judges a model: the first
/// signature a policy signer accepts whose file list matches is pinned, then the policy decides
/// over every signature of the file ([`Policy::decide_verified`]: signers, the rule for the model
/// name — `model_name`, else the path's last component —, its thresholds and serializations,
/// formats, Rego) without hashing the model again. A denial is [`DeployError::Denied`] with the
/// full decision (stage `"model"`); the allowing decision is kept
/// ([`OpenedModel::policy_decisions`]). When the rule denies formats (or the policy has Rego
/// rules) the files' formats are told from verified reads ([`OpenedModel::verified_formats`]).
pub fn open_model_with_policy(
    model: &Path,
    signature: &Path,
    policy: &Policy,
    model_name: Option<String>,
    options: &VerifyOptions,
) -> Result<OpenedModel, DeployError> {
    let judge = judge::Judge::Policy {
        policy,
        options: PolicyVerifyOptions {
            model_name,
            ignore: options.ignore.clone(),
        },
    };
    let signatures = judge::read_signatures(&[signature.to_path_buf()])?;
    let facts = LoadFacts::default();
    let mut opened = judge.open(
        model,
        &signatures,
        (facts, None),
        |path, statement, signer| open_statement(model, path, statement, signer, options),
    )?;
    let facts = LoadFacts {
        pinned: Some(&opened.statement),
        ..facts
    };
    let decision = judge.decide(model, &signatures, facts, None, Some(&opened))?;
    opened.decisions.extend(decision);
    Ok(opened)
}

/// [`open_model`] once the signature verified: the file-list comparison.
fn open_statement(
    model: &Path,
    signature: &Path,
    statement: Statement,
    signer: SignerIdentity,
    options: &VerifyOptions,
) -> Result<OpenedModel, VerifyError> {
    let tree = verify::walk_for(model, signature, &statement, options)?;
    let present = tree
        .files
        .iter()
        .map(|f| (f.name.as_str().to_string(), (f.path.clone(), f.len)))
        .collect();
    let digests = Arc::new(SignedDigests::new(
        &statement.serialization,
        &statement.resources,
    )?);
    let files = match_files(model, &statement, &digests, present, tree.single_file)?;
    Ok(OpenedModel {
        model: model.to_path_buf(),
        signature: signature.to_path_buf(),
        statement,
        signer,
        digests,
        files,
        encrypted: None,
        shards: cache::ShardCache::default(),
        decisions: Vec::new(),
    })
}

/// The model's files (`name → (where, size)`) keyed by their signed names, once they are exactly
/// the signed ones: a missing or extra file is [`VerifyError::Mismatch`]. A `single_file` model's
/// one file takes the one name the statement gives it (its base name for model-signing), whatever
/// the file is called here. Under shards an empty file is listed by no resource: it is kept, and
/// checked when read.
fn match_files<T>(
    model: &Path,
    statement: &Statement,
    digests: &SignedDigests,
    present: BTreeMap<String, (T, u64)>,
    single_file: bool,
) -> Result<BTreeMap<String, T>, VerifyError> {
    let method = statement.serialization.method;
    let signed: Vec<&str> = statement
        .resources
        .iter()
        .filter_map(|r| digest::resource_file(&r.name, method))
        .collect();
    let mut files = BTreeMap::new();
    let mut diff = ManifestDiff::default();
    // Only one file can take a single-file statement's name; any other present file is extra.
    if single_file && present.len() == 1 {
        if let (Some(name), Some((_, (file, _)))) = (signed.first(), present.into_iter().next()) {
            files.insert((*name).to_string(), file);
        }
    } else {
        for (name, (file, size)) in present {
            // Under shards an empty file is listed by no resource: it is checked when read.
            if !digests.covers(&name) && (method == digest::Method::Files || size != 0) {
                diff.extra.push(name);
            } else {
                files.insert(name, file);
            }
        }
    }
    for name in &signed {
        if !files.contains_key(*name) && !diff.missing.iter().any(|m| m == name) {
            diff.missing.push((*name).to_string());
        }
    }
    if !diff.is_empty() {
        return Err(VerifyError::Mismatch {
            model: model.to_path_buf(),
            signed_root_digest: hex::encode(statement.root_digest),
            diff,
        });
    }
    Ok(files)
}

impl OpenedModel {
    /// The model path as given.
    pub fn model(&self) -> &Path {
        &self.model
    }

    /// The signature file that verified.
    pub fn signature(&self) -> &Path {
        &self.signature
    }

    /// The policy's decisions that allowed the model, when it was opened under a policy (a
    /// sealed model's: the outer signature's, then the inner one's); empty under a trust.
    pub fn policy_decisions(&self) -> &[PolicyDecision] {
        &self.decisions
    }

    /// Who signed.
    pub fn signer(&self) -> &SignerIdentity {
        &self.signer
    }

    /// How the model was serialized and hashed.
    pub fn serialization(&self) -> &crate::digest::SerializationConfig {
        &self.statement.serialization
    }

    /// How many resources the statement signs (files, or shards of files).
    pub fn resource_count(&self) -> usize {
        self.statement.resources.len()
    }

    /// The signed root digest (lowercase hex SHA-256).
    pub fn root_digest_hex(&self) -> String {
        hex::encode(self.statement.root_digest)
    }

    /// The informative model name recorded by the signer.
    pub fn subject_name(&self) -> &str {
        &self.statement.subject_name
    }

    /// The signed files' names (as the signature lists them), sorted.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Opens the signed file `name` for one verified read. Fails for a name the signature does not
    /// list, and for a file that is no longer a regular file.
    pub fn open_file(&self, name: &str) -> Result<VerifiedFile, VerifyError> {
        let path = self.files.get(name).ok_or_else(|| VerifyError::Mismatch {
            model: self.model.clone(),
            signed_root_digest: self.root_digest_hex(),
            diff: ManifestDiff {
                missing: vec![name.to_string()],
                ..ManifestDiff::default()
            },
        })?;
        let io_err = |source| {
            VerifyError::Digest(DigestError::Io {
                path: path.clone(),
                source,
            })
        };
        // The one open rule (`fs::open`): never blocking, regular files only, no symlink unless
        // the signature allowed them.
        let file = if self.statement.serialization.allow_symlinks {
            crate::fs::open_following(path)
        } else {
            crate::fs::open_nofollow(path)
        }
        .map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let mut opened = VerifiedFile {
            name: name.to_string(),
            path: path.clone(),
            model: self.model.clone(),
            signed_root_digest: self.root_digest_hex(),
            size: meta.len(),
            file_len: meta.len(),
            inode: (meta.dev(), meta.ino()),
            file,
            check: None,
            cipher: None,
            shards: None,
        };
        if let Some(encrypted) = &self.encrypted {
            let cipher = encrypted.decrypting(name, meta.len(), &opened)?;
            opened.size = cipher.size();
            opened.cipher = Some(cipher);
        }
        opened.check = self.digests.check(name, opened.size);
        if opened.cipher.is_none() {
            opened.shards = parallel::Shards::of(&self.digests, name);
        }
        Ok(opened)
    }

    /// The size the signature gives the file `name`: under shards, where its last shard ends (0
    /// for an empty file); `None` under files (a files digest records no size) or for a name the
    /// signature does not list.
    pub fn signed_size(&self, name: &str) -> Option<u64> {
        if self.statement.serialization.method == digest::Method::Files
            || !self.files.contains_key(name)
        {
            return None;
        }
        let ranges = self.digests.ranges(name).unwrap_or_default();
        Some(ranges.last().and_then(|(_, end)| *end).unwrap_or(0))
    }

    /// Bytes `start..end` of the signed file `name`, returned only once verified. Under a shards
    /// signature only the shards that overlap the range are read (each whole, positionally) and
    /// each must match its signed digest; verified shards are kept in a bounded cache
    /// ([`SHARD_CACHE_BYTES`]), so a shard that several ranges share is read once. Under a files
    /// signature the whole file is read and
    /// verified (a files digest covers nothing smaller), so callers that read several ranges of
    /// one file should read it once instead ([`OpenedModel::read_file`]).
    pub fn read_range(&self, name: &str, start: u64, end: u64) -> Result<Vec<u8>, VerifyError> {
        if start > end {
            let file = self.open_file(name)?;
            return Err(file.changed(&format!("bytes {start}..{end} asked: an empty range")));
        }
        let len = usize::try_from(end - start).map_err(|_| {
            self.open_file(name)
                .map_or_else(|e| e, |f| f.changed("too large for memory"))
        })?;
        let mut out = vec![0; len];
        self.read_range_into(name, start, &mut out)?;
        Ok(out)
    }

    /// [`OpenedModel::read_range`] into `out` (bytes `start..start + out.len()`), so that a
    /// binding can fill memory it then hands out without a copy. On `Err` the content of `out`
    /// is unspecified and must not be used.
    pub fn read_range_into(
        &self,
        name: &str,
        start: u64,
        out: &mut [u8],
    ) -> Result<(), VerifyError> {
        let file = self.open_file(name)?;
        let end = start.saturating_add(out.len() as u64);
        let ranges = self.digests.ranges(name).unwrap_or_default();
        let signed_size = self.signed_size(name).unwrap_or(file.size());
        if end > signed_size {
            return Err(file.changed(&format!(
                "bytes {start}..{end} asked of a file of {signed_size} signed bytes"
            )));
        }
        // A file grown or cut since signing is refused whatever range is asked: the shards a
        // range needs may be intact, but the file is not the signed one.
        if file.size() != signed_size {
            return Err(file.changed(&format!(
                "{} bytes where the signature has {signed_size}",
                file.size()
            )));
        }
        if self.statement.serialization.method == digest::Method::Files {
            let whole = self.read_file(name)?;
            out.copy_from_slice(&whole[start as usize..end as usize]);
            return Ok(());
        }
        // The shards the range overlaps: those not cached are read and verified first, on up
        // to one thread per core (a tensor usually spans a few), then the rest is copied out.
        let wanted: Vec<(usize, u64, u64)> = ranges
            .iter()
            .enumerate()
            .map(|(index, (from, to))| (index, *from, to.unwrap_or(signed_size)))
            .filter(|(_, from, to)| *to > start && *from < end)
            .collect();
        let mut shards: Vec<Option<Arc<Vec<u8>>>> = wanted
            .iter()
            .map(|(index, _, _)| self.shards.get(name, *index))
            .collect();
        // A shard wholly inside the range is read, decrypted and verified in place in `out`
        // (no buffer of its own to zero, no copy out); one the range cuts (shared with the next
        // tensor) gets its own buffer. Both are cached once verified.
        let mut jobs = Vec::new();
        let mut rest: &mut [u8] = out;
        let mut rest_at = start;
        for (i, (index, from, to)) in wanted.iter().copied().enumerate() {
            if shards[i].is_some() {
                continue;
            }
            let inside = if from >= start && to <= end {
                let tail = std::mem::take(&mut rest);
                let (_, tail) = tail.split_at_mut((from - rest_at) as usize);
                let (inside, tail) = tail.split_at_mut((to - from) as usize);
                rest = tail;
                rest_at = to;
                Some(inside)
            } else {
                None
            };
            jobs.push(ShardJob {
                wanted: i,
                index,
                from,
                to,
                inside,
            });
        }
        let verify_one = |job: &mut ShardJob<'_>| -> Result<Arc<Vec<u8>>, VerifyError> {
            let (index, from, to) = (job.index, job.from, job.to);
            let check = |bytes: &[u8]| {
                if self.digests.range_matches(name, index, bytes) {
                    Ok(())
                } else {
                    Err(file.changed(&format!("bytes {from}..{to} differ from the signed shard")))
                }
            };
            match job.inside.as_deref_mut() {
                Some(inside) => {
                    file.read_at(inside, from)?;
                    check(inside)?;
                    Ok(Arc::new(inside.to_vec()))
                }
                None => {
                    let mut shard = vec![0; (to - from) as usize];
                    file.read_at(&mut shard, from)?;
                    check(&shard)?;
                    Ok(Arc::new(shard))
                }
            }
        };
        let workers = cores().min(jobs.len()).max(1);
        let verified: Vec<Result<Arc<Vec<u8>>, VerifyError>> = if workers > 1 {
            std::thread::scope(|scope| {
                let per = jobs.len().div_ceil(workers);
                let handles: Vec<_> = jobs
                    .chunks_mut(per)
                    .map(|part| {
                        let verify_one = &verify_one;
                        scope.spawn(move || part.iter_mut().map(verify_one).collect::<Vec<_>>())
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join()
                            .unwrap_or_else(|_| vec![Err(file.changed("verifying stopped"))])
                    })
                    .collect()
            })
        } else {
            jobs.iter_mut().map(verify_one).collect()
        };
        if verified.len() != jobs.len() {
            return Err(file.changed("verifying stopped"));
        }
        let mut in_place = vec![false; wanted.len()];
        let placed: Vec<(usize, bool)> = jobs
            .into_iter()
            .map(|job| (job.wanted, job.inside.is_some()))
            .collect();
        for ((i, inside), shard) in placed.into_iter().zip(verified) {
            let shard = shard?;
            self.shards.insert(name, wanted[i].0, Arc::clone(&shard));
            shards[i] = Some(shard);
            in_place[i] = inside;
        }
        for (i, ((_, shard_start, shard_end), shard)) in wanted.iter().zip(shards).enumerate() {
            if in_place[i] {
                continue;
            }
            let shard = shard.ok_or_else(|| file.changed("a shard was not verified"))?;
            let from = start.max(*shard_start);
            let to = end.min(*shard_end);
            out[(from - start) as usize..(to - start) as usize].copy_from_slice(
                &shard[(from - shard_start) as usize..(to - shard_start) as usize],
            );
        }
        Ok(())
    }

    /// The serialization formats of the signed files (in name order; text and unknown binaries
    /// are not listed), told as verification tells them (`scan::detect_verified`) from bytes
    /// read and verified as every read here is: under shards only the shards detection looks
    /// at (kept in the shard cache for the reads that follow); under files each file is read and
    /// verified whole, one at a time (a files digest covers nothing smaller), keeping only its
    /// first and last bytes (`scan::StreamCopy`, as from a bucket), never the file. A file whose
    /// bytes are not the signed ones fails as its read would.
    pub fn verified_formats(&self) -> Result<Vec<FileFormat>, VerifyError> {
        let mut formats = Vec::new();
        for (name, path) in &self.files {
            let io = |source| {
                VerifyError::Digest(DigestError::Io {
                    path: path.clone(),
                    source,
                })
            };
            let found = if self.statement.serialization.method == digest::Method::Files {
                // One verified read that keeps only the first and last bytes detection looks
                // at (`scan::StreamCopy`, as for a model read from a bucket), not the file.
                let file = self.open_file(name)?;
                let len = file.size();
                let mut kept = crate::scan::StreamCopy::new(len);
                file.stream(|part| kept.push(part))?;
                let head = kept.head().to_vec();
                crate::scan::detect_verified(name, len, &head, &mut kept).map_err(io)?
            } else {
                let len = self.signed_size(name).unwrap_or(0);
                let mut head = vec![0; len.min(crate::scan::HEAD_BYTES as u64) as usize];
                self.read_range_into(name, 0, &mut head)?;
                let ranges = RangeReader {
                    model: self,
                    name,
                    len,
                    pos: 0,
                    failed: None,
                };
                let mut rest = std::io::BufReader::with_capacity(READ_CHUNK, ranges);
                let found = crate::scan::detect_verified(name, len, &head, &mut rest);
                if let Some(failed) = rest.into_inner().failed {
                    return Err(failed);
                }
                found.map_err(io)?
            };
            formats.extend(found);
        }
        Ok(formats)
    }

    /// Reads the signed file `name` whole; the bytes are returned only if they are the signed ones.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, VerifyError> {
        let file = self.open_file(name)?;
        let len = usize::try_from(file.size()).map_err(|_| file.changed("too large for memory"))?;
        let mut bytes = vec![0; len];
        file.read_into(&mut bytes)?;
        Ok(bytes)
    }
}

/// A signed file under shards as `Read + Seek`, every byte read through
/// [`OpenedModel::read_range_into`] (verified shards); the first verification failure is kept
/// (the `io::Error` a reader must return cannot carry it).
struct RangeReader<'m> {
    model: &'m OpenedModel,
    name: &'m str,
    len: u64,
    pos: u64,
    failed: Option<VerifyError>,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 {
            return Ok(0);
        }
        if let Err(e) = self
            .model
            .read_range_into(self.name, self.pos, &mut buf[..n])
        {
            let reason = e.to_string();
            self.failed.get_or_insert(e);
            return Err(std::io::Error::other(reason));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for RangeReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = at.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

/// One shard [`OpenedModel::read_range_into`] reads and verifies: its place in the shards the
/// range wants, its index among the file's signed shards, its bytes, and — when it lies wholly
/// inside the range — the part of the caller's buffer it is verified in.
struct ShardJob<'o> {
    wanted: usize,
    index: usize,
    from: u64,
    to: u64,
    inside: Option<&'o mut [u8]>,
}

/// The cores this process may use, asked once: the answer reads cgroup files, which a lazy read
/// of one tensor should not do again and again.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One signed file, open for a single read that verifies it.
pub struct VerifiedFile {
    name: String,
    path: PathBuf,
    model: PathBuf,
    signed_root_digest: String,
    /// The (plaintext) size when opened.
    size: u64,
    /// The length of the file read: the plaintext, or the ciphertext of an encrypted file.
    file_len: u64,
    inode: (u64, u64),
    file: File,
    check: Option<digest::StreamCheck>,
    /// How to decrypt it, for a file of an encrypted model.
    cipher: Option<encrypted::Decrypting>,
    /// Its signed shards, hashed in parallel as they are read (plaintext files under shards).
    shards: Option<parallel::Shards>,
}

impl std::fmt::Debug for VerifiedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedFile")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl VerifiedFile {
    /// The file's size when it was opened: the length [`VerifiedFile::read_into`] wants.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the whole file into `buffer` (exactly [`VerifiedFile::size`] bytes), hashing each
    /// chunk right after it is read. `Ok` only if the file held exactly `buffer.len()` bytes and
    /// every signed range matched; on `Err` the buffer's content is unspecified and must not be used.
    pub fn read_into(self, buffer: &mut [u8]) -> Result<(), VerifyError> {
        self.read_into_destination(buffer)
    }

    /// [`VerifiedFile::read_into`] into a [`Destination`]: memory initialized part by part as
    /// the read reaches it, so that a binding's fresh buffer is faulted in by the reading
    /// thread while the others hash, not up front. Same guarantee: `Ok` only if the file held
    /// exactly `buffer.len()` bytes and every signed range matched; on `Err` the destination's
    /// content is unspecified and must not be used.
    pub fn read_into_destination<'b, D: Destination<'b>>(
        mut self,
        buffer: D,
    ) -> Result<(), VerifyError> {
        if buffer.len() as u64 != self.size {
            return Err(self.changed("its size changed"));
        }
        match self.shards.take() {
            Some(shards) => shards.read_into(&mut self, buffer)?,
            None => self.read_streamed(buffer)?,
        }
        self.finish_read()
    }

    /// Reads the whole file once, verified as [`VerifiedFile::read_into`] verifies it, but
    /// holding one part at a time: each part is handed to `each` as it is read (and, for an
    /// encrypted file, authenticated); the parts are the signed bytes only if this returns `Ok`.
    /// For what needs to see a file, not keep it (format detection of `deny_formats`).
    fn stream(mut self, mut each: impl FnMut(&[u8])) -> Result<(), VerifyError> {
        let mut check = self
            .check
            .take()
            .ok_or_else(|| self.changed("not signed"))?;
        let mut hand = |part: &[u8]| {
            check.update(part);
            each(part);
        };
        match self.cipher.take() {
            Some(mut cipher) => {
                let read = cipher.decrypt_each(&self.file, &mut hand, &self);
                self.cipher = Some(cipher);
                read?;
            }
            None => {
                let mut part = vec![0u8; (self.size as usize).min(READ_CHUNK)];
                let mut left = self.size;
                while left > 0 {
                    let n = (left as usize).min(READ_CHUNK);
                    self.fill(&mut part[..n])?;
                    hand(&part[..n]);
                    left -= n as u64;
                }
            }
        }
        check.finish().map_err(|reason| self.changed(&reason))?;
        self.finish_read()
    }

    /// The checks after a whole read: nothing beyond the signed length, the same file (inode and
    /// length) as opened, and for a sealed model the ciphertext's outer digest.
    fn finish_read(mut self) -> Result<(), VerifyError> {
        if self.cipher.is_none() {
            // Positional: the shards' read leaves the file offset where it started.
            let mut probe = [0u8; 1];
            if !matches!(
                std::os::unix::fs::FileExt::read_at(&self.file, &mut probe, self.size),
                Ok(0)
            ) {
                return Err(self.changed("it became longer while read"));
            }
        }
        let meta = self.file.metadata().ok();
        if meta.map(|m| (m.dev(), m.ino(), m.len()))
            != Some((self.inode.0, self.inode.1, self.file_len))
        {
            return Err(self.changed("it changed while read"));
        }
        match self.cipher.take() {
            Some(cipher) => cipher.finish().map_err(|reason| self.changed(&reason)),
            None => Ok(()),
        }
    }

    /// Reads the whole file into `buffer`, hashing it as one stream against its signed ranges.
    fn read_streamed<'b, D: Destination<'b>>(&mut self, buffer: D) -> Result<(), VerifyError> {
        let mut check = self
            .check
            .take()
            .ok_or_else(|| self.changed("not signed"))?;
        // Two stages on two threads, so that loading costs about the slower of reading and
        // hashing, not their sum: this thread reads chunk after chunk into the buffer, the other
        // hashes each chunk once it is whole (still in the cache), in order. A few chunks in flight
        // bound how far reading runs ahead.
        let (ready, chunks) = std::sync::mpsc::sync_channel::<&[u8]>(4);
        let read = std::thread::scope(|scope| {
            let hasher = scope.spawn(move || {
                for chunk in chunks {
                    check.update(chunk);
                }
                check
            });
            let read = self.read_chunks(buffer, &ready);
            drop(ready);
            // The hasher only hashes; it cannot panic on any input. If it did, the read fails.
            hasher.join().map(|check| (read, check))
        });
        let (read, check) = read.map_err(|_| self.changed("hashing stopped"))?;
        read?;
        check.finish().map_err(|reason| self.changed(&reason))
    }

    /// Fills `out` with the (plaintext) bytes at `offset`, unverified against the signed digests
    /// (the caller checks them); for an encrypted file every chunk read is authenticated.
    fn read_at(&self, out: &mut [u8], offset: u64) -> Result<(), VerifyError> {
        match &self.cipher {
            Some(cipher) => cipher.read_at(&self.file, out, offset, self),
            None => std::os::unix::fs::FileExt::read_exact_at(&self.file, out, offset)
                .map_err(|_| self.changed("it became shorter while read")),
        }
    }

    /// Fills `buffer` from the file chunk by chunk, handing each whole chunk to `ready`.
    fn read_chunks<'b, D: Destination<'b>>(
        &mut self,
        mut buffer: D,
        ready: &std::sync::mpsc::SyncSender<&'b [u8]>,
    ) -> Result<(), VerifyError> {
        if let Some(mut cipher) = self.cipher.take() {
            let read = cipher.decrypt_into(&self.file, buffer, ready, self);
            self.cipher = Some(cipher);
            return read;
        }
        while !buffer.is_empty() {
            let chunk = buffer.take_front(buffer.len().min(READ_CHUNK));
            self.fill(chunk)?;
            let whole: &'b [u8] = chunk;
            if ready.send(whole).is_err() {
                return Err(self.changed("hashing stopped"));
            }
        }
        Ok(())
    }

    /// Fills `part` with the file's next bytes.
    fn fill(&mut self, part: &mut [u8]) -> Result<(), VerifyError> {
        let mut filled = 0;
        while filled < part.len() {
            match self.file.read(&mut part[filled..]) {
                Ok(0) => return Err(self.changed("it became shorter while read")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(VerifyError::Digest(DigestError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            }
        }
        Ok(())
    }

    /// The error for a file whose bytes are not the signed ones.
    fn changed(&self, reason: &str) -> VerifyError {
        VerifyError::Mismatch {
            model: self.model.clone(),
            signed_root_digest: self.signed_root_digest.clone(),
            diff: ManifestDiff {
                changed: vec![format!("{} ({reason})", self.name)],
                ..ManifestDiff::default()
            },
        }
    }
}
