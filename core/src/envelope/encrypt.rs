//! Encryption of a model (`docs/FORMAT.md` §9): a directory to a directory of the same tree plus
//! `modelseal.envelope`, a single file to one file with the envelope inline.
//!
//! Guarantees: the output is built under a temporary name beside the target and renamed into place
//! only when complete and fsynced; a failure removes it. A plaintext file that changes size while
//! being read fails the run. The DEK and derived keys are zeroized on drop.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::authenticate::build_envelope;
use super::format::{
    check_model_name, check_rel_path, chunk_size_ok, path_order, Body, FileEntry, Header, Layout,
    DEFAULT_CHUNK_SIZE, ENVELOPE_NAME, MAX_STANZAS, SALT_LEN,
};
use super::keyschedule::{body_digest, KeySchedule};
use super::signed_plaintext::SignedPlaintext;
use super::stream::{encrypt_jobs_observed, ChunkLayout, FileCipher, Job, Observers};
use super::SealError;
use crate::digest::SignedDigests;
use crate::fs::commit::{clean_stale_temporaries, create_new, write_file_beside, StagingDir};
use crate::keys::wrapping::DataKey;
use crate::keys::wrapping::{Recipient, WrapContext};
use crate::progress::{NoProgress, Progress};
use crate::rng::{Entropy, OsEntropy};

/// What to encrypt.
#[derive(Debug, Clone)]
pub enum Plaintext {
    /// One file: the single-file layout, its only entry named `"."`.
    File(PathBuf),
    /// A directory model: `(relative name, file to read)` pairs, in any order (they are sorted
    /// component-wise here). The caller decides which files belong (normally `tree::walk`).
    Directory {
        /// The model root (its name is the default model name).
        root: PathBuf,
        /// The files.
        files: Vec<(String, PathBuf)>,
    },
}

/// Builds a [`Plaintext`] from a path with [`crate::tree::walk`] and its default options, so that
/// encryption sees exactly the files, names, order and symlink policy that signing sees: a regular
/// file, or a directory's regular files, skipping the top-level `.git`, `.gitattributes`,
/// `.github`, `.gitignore` and refusing symlinks and special files.
pub fn plaintext_from_path(path: &Path) -> Result<Plaintext, SealError> {
    plaintext_following_symlinks(path, false)
}

/// [`plaintext_from_path`], reading a symlink to a file as its target's bytes when
/// `allow_symlinks` (a Hugging Face cache snapshot links every file into `../../blobs/`), as
/// `sign --allow-symlinks` hashes it.
pub fn plaintext_following_symlinks(
    path: &Path,
    allow_symlinks: bool,
) -> Result<Plaintext, SealError> {
    let options = crate::tree::WalkOptions {
        ignore: Vec::new(),
        ignore_git_paths: true,
        allow_symlinks,
    };
    let tree = crate::tree::walk(path, &options).map_err(tree_error)?;
    if tree.single_file {
        return Ok(Plaintext::File(path.to_path_buf()));
    }
    Ok(Plaintext::Directory {
        root: path.to_path_buf(),
        files: tree
            .files
            .into_iter()
            .map(|f| (f.name.as_str().to_owned(), f.path))
            .collect(),
    })
}

/// A walk failure is an input error: I/O keeps its path, the rest say why the model cannot be
/// encrypted as it stands.
fn tree_error(e: crate::tree::TreeError) -> SealError {
    match e {
        crate::tree::TreeError::Io { path, source } => SealError::io(path, source),
        other => SealError::Usage(format!("cannot encrypt: {other}")),
    }
}

/// Encryption options.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// Plaintext bytes per chunk: a power of two, 4 KiB–16 MiB (§7.6).
    pub chunk_size: u32,
    /// Model name; default: the file or directory name.
    pub model_name: Option<String>,
    /// Replace an existing output (atomically).
    pub overwrite: bool,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            model_name: None,
            overwrite: false,
        }
    }
}

/// What an encryption produced (for audit events and output).
#[derive(Debug, Clone)]
pub struct EncryptSummary {
    /// Number of files.
    pub files: usize,
    /// Total plaintext bytes.
    pub bytes: u64,
    /// `SHA-256(body_bytes)`.
    pub body_digest: [u8; 32],
    /// `(type, key_id)` of every stanza.
    pub recipients: Vec<(String, String)>,
}

/// Encrypts `input` for `recipients` to `output` (§9).
pub fn encrypt(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
) -> Result<EncryptSummary, SealError> {
    encrypt_with_progress(input, recipients, output, options, &NoProgress)
}

/// [`encrypt`], reporting the total plaintext size and then the bytes encrypted to `progress`.
pub fn encrypt_with_progress(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
    progress: &dyn Progress,
) -> Result<EncryptSummary, SealError> {
    encrypt_inner(
        input,
        recipients,
        output,
        options,
        &mut OsEntropy,
        progress,
        None,
    )
}

/// [`encrypt`], proving that the bytes encrypted are the bytes `signed` lists: each file's
/// plaintext is hashed in the pass that encrypts it and compared with its signed digests; the
/// files named in `unsigned` (e.g. the signature itself) are encrypted unchecked. Any other file
/// the manifest does not list, a listed file that is not encrypted, or a digest that differs is
/// [`SealError::Changed`], and nothing is written.
pub fn encrypt_matching(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
    signed: &SignedDigests,
    unsigned: &[&str],
) -> Result<EncryptSummary, SealError> {
    let expect = SignedPlaintext { signed, unsigned };
    encrypt_inner(
        input,
        recipients,
        output,
        options,
        &mut OsEntropy,
        &NoProgress,
        Some(&expect),
    )
}

struct Source {
    path: PathBuf,
    file: File,
    entry: FileEntry,
    /// The change stamp when opened: a rewrite during encryption, even in place, is refused.
    stamp: crate::tree::ChangeStamp,
}

/// [`encrypt`] with the randomness source given (tests inject a seeded one; §16 draw order).
#[cfg(test)]
pub(crate) fn encrypt_with_entropy(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
    entropy: &mut dyn Entropy,
) -> Result<EncryptSummary, SealError> {
    encrypt_inner(
        input,
        recipients,
        output,
        options,
        entropy,
        &NoProgress,
        None,
    )
}

fn encrypt_inner(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
    entropy: &mut dyn Entropy,
    progress: &dyn Progress,
    expect: Option<&SignedPlaintext<'_>>,
) -> Result<EncryptSummary, SealError> {
    check_options(recipients, output, options)?;
    clean_stale_temporaries(output)?;
    let (layout, mut sources) = open_sources(input)?;
    let observers = match expect {
        Some(expect) => {
            let files: Vec<(&FileEntry, &Path)> = sources
                .iter()
                .map(|s| (&s.entry, s.path.as_path()))
                .collect();
            expect.observers(&files)?
        }
        None => Vec::new(),
    };
    let model_name = options
        .model_name
        .clone()
        .unwrap_or_else(|| default_model_name(input));
    check_model_name(&model_name).map_err(SealError::Usage)?;

    let mut dek = [0u8; 32];
    entropy.fill(&mut dek)?;
    let dek = DataKey::from_bytes(dek);
    for s in &mut sources {
        let mut salt = [0u8; SALT_LEN];
        entropy.fill(&mut salt)?;
        s.entry.salt = salt;
    }
    let body = Body {
        layout,
        model_name,
        chunk_size: options.chunk_size,
        files: sources.iter().map(|s| s.entry.clone()).collect(),
    };
    let body_bytes = body.encode().map_err(|e| input_error(e, input))?;
    let digest = body_digest(&body_bytes);
    let ctx = WrapContext {
        body_digest: digest,
        model_name: &body.model_name,
    };
    let mut stanzas = Vec::with_capacity(recipients.len());
    for r in recipients {
        stanzas.push(r.wrap(&dek, &ctx, entropy)?);
    }
    let header = Header {
        body_bytes,
        body,
        stanzas,
    };
    let envelope = build_envelope(&header, &dek)?;
    progress.begin(sources.iter().map(|s| s.entry.size).sum());
    let out = Output {
        header: &header,
        dek: &dek,
        envelope: &envelope,
        path: output,
        overwrite: options.overwrite,
        progress,
    };
    match layout {
        Layout::SingleFile => write_single(&sources[0], &out, observers)?,
        Layout::Directory => write_directory(&sources, &out, observers)?,
    }
    Ok(EncryptSummary {
        files: sources.len(),
        bytes: sources.iter().map(|s| s.entry.size).sum(),
        body_digest: digest,
        recipients: header
            .stanzas
            .iter()
            .map(|s| (s.stanza_type.clone(), s.key_id.clone()))
            .collect(),
    })
}

fn check_options(
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
) -> Result<(), SealError> {
    if !chunk_size_ok(options.chunk_size) {
        return Err(SealError::Usage(format!(
            "chunk size {} is not a power of two between 4 KiB and 16 MiB",
            options.chunk_size
        )));
    }
    if recipients.is_empty() || recipients.len() > MAX_STANZAS {
        return Err(SealError::Usage(format!(
            "{} recipients; between 1 and {MAX_STANZAS} are needed",
            recipients.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for r in recipients {
        if !seen.insert((r.stanza_type(), r.key_id())) {
            return Err(SealError::Usage(format!(
                "recipient {} {} given twice",
                r.stanza_type(),
                r.key_id()
            )));
        }
    }
    if !options.overwrite && output.symlink_metadata().is_ok() {
        return Err(SealError::Usage(format!(
            "{}: already exists (use the overwrite option to replace it)",
            output.display()
        )));
    }
    Ok(())
}

fn default_model_name(input: &Plaintext) -> String {
    let path = match input {
        Plaintext::File(p) => p.as_path(),
        Plaintext::Directory { root, .. } => root.as_path(),
    };
    let name = std::path::absolute(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // Control characters are not allowed in a model name (§5.4 rule 2).
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    if name.is_empty() {
        "model".into()
    } else {
        name.chars().take(64).collect()
    }
}

/// Turns a body validation error into a usage error naming the model.
fn input_error(e: SealError, input: &Plaintext) -> SealError {
    let root = match input {
        Plaintext::File(p) => p,
        Plaintext::Directory { root, .. } => root,
    };
    match e {
        SealError::Format { reason, .. } => {
            SealError::Usage(format!("{}: cannot encrypt: {reason}", root.display()))
        }
        SealError::Limit { reason, .. } => SealError::Limit {
            path: root.clone(),
            reason,
        },
        other => other,
    }
}

fn open_sources(input: &Plaintext) -> Result<(Layout, Vec<Source>), SealError> {
    let open = |name: String, path: &Path| -> Result<Source, SealError> {
        let file = File::open(path).map_err(|e| SealError::io(path, e))?;
        let meta = file.metadata().map_err(|e| SealError::io(path, e))?;
        if !meta.is_file() {
            return Err(SealError::Usage(format!(
                "{}: not a regular file",
                path.display()
            )));
        }
        Ok(Source {
            path: path.to_path_buf(),
            stamp: crate::tree::ChangeStamp::of(&meta),
            file,
            entry: FileEntry {
                path: name,
                size: meta.len(),
                salt: [0; SALT_LEN],
            },
        })
    };
    match input {
        Plaintext::File(p) => Ok((Layout::SingleFile, vec![open(".".into(), p)?])),
        Plaintext::Directory { root, files } => {
            if files.is_empty() {
                return Err(SealError::Usage(format!(
                    "{}: no file to encrypt",
                    root.display()
                )));
            }
            let mut sorted: Vec<&(String, PathBuf)> = files.iter().collect();
            sorted.sort_by(|a, b| path_order(&a.0, &b.0));
            let mut out = Vec::with_capacity(sorted.len());
            for (name, path) in sorted {
                check_rel_path(name).map_err(|r| {
                    SealError::Usage(format!("{}: cannot encrypt: {r}", root.display()))
                })?;
                out.push(open(name.clone(), path)?);
            }
            Ok((Layout::Directory, out))
        }
    }
}

fn ciphers(
    sources: &[Source],
    header: &Header,
    dek: &DataKey,
) -> Result<Vec<FileCipher>, SealError> {
    sources
        .iter()
        .map(|s| {
            let keys = dek.file_keys(&s.entry.path, &s.entry.salt);
            FileCipher::new(
                &keys,
                ChunkLayout::new(header.body.chunk_size, s.entry.size),
            )
        })
        .collect()
}

/// §9 step 9: a source that grew, or was rewritten in place, while it was read is refused too.
fn check_unchanged(sources: &[Source]) -> Result<(), SealError> {
    for s in sources {
        let meta = s.file.metadata().map_err(|e| SealError::io(&s.path, e))?;
        let len = meta.len();
        if len != s.entry.size {
            return Err(SealError::Changed {
                path: s.path.clone(),
                reason: format!("{len} bytes now, {} when listed", s.entry.size),
            });
        }
        if crate::tree::ChangeStamp::of(&meta) != s.stamp {
            return Err(SealError::Changed {
                path: s.path.clone(),
                reason: "written to while it was being encrypted".into(),
            });
        }
    }
    Ok(())
}

/// Everything the writers need besides the sources.
struct Output<'a> {
    header: &'a Header,
    dek: &'a DataKey,
    envelope: &'a [u8],
    path: &'a Path,
    overwrite: bool,
    progress: &'a dyn Progress,
}

fn write_single(source: &Source, out: &Output<'_>, observers: Observers) -> Result<(), SealError> {
    let Output {
        header,
        dek,
        envelope,
        path: output,
        ..
    } = *out;
    let ciphers = ciphers(std::slice::from_ref(source), header, dek)?;
    write_file_beside(output, 0o644, out.overwrite, |dst| {
        let job = Job {
            cipher: &ciphers[0],
            src: &source.file,
            src_name: &source.path,
            ct_base: envelope.len() as u64,
            dst,
            dst_name: output,
        };
        encrypt_jobs_observed(std::slice::from_ref(&job), observers, out.progress)?;
        check_unchanged(std::slice::from_ref(source))?;
        use std::os::unix::fs::FileExt;
        dst.write_all_at(envelope, 0)
            .map_err(|e| SealError::io(output, e))
    })
}

fn write_directory(
    sources: &[Source],
    out: &Output<'_>,
    observers: Observers,
) -> Result<(), SealError> {
    let Output {
        header,
        dek,
        envelope,
        path: output,
        ..
    } = *out;
    let staging = StagingDir::beside(output, 0o700)?;
    let mut outs = Vec::with_capacity(sources.len());
    for s in sources {
        let dst = staging.path().join(&s.entry.path);
        outs.push((create_new(&dst, 0o644, 0o755)?, dst));
    }
    let ciphers = ciphers(sources, header, dek)?;
    let jobs: Vec<Job<'_>> = sources
        .iter()
        .zip(&outs)
        .zip(&ciphers)
        .map(|((s, (f, p)), c)| Job {
            cipher: c,
            src: &s.file,
            src_name: &s.path,
            ct_base: 0,
            dst: f,
            dst_name: p,
        })
        .collect();
    encrypt_jobs_observed(&jobs, observers, out.progress)?;
    check_unchanged(sources)?;
    let files: Vec<(&File, &Path)> = outs.iter().map(|(f, p)| (f, p.as_path())).collect();
    crate::fs::atomic::sync_all_parallel(&files).map_err(|(p, e)| SealError::io(&p, e))?;
    let env_path = staging.path().join(ENVELOPE_NAME);
    let env = create_new(&env_path, 0o644, 0o755)?;
    use std::io::Write;
    (&env)
        .write_all(envelope)
        .and_then(|_| env.sync_all())
        .map_err(|e| SealError::io(&env_path, e))?;
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| SealError::io(staging.path(), e))?;
    Ok(staging.commit(output, out.overwrite)?)
}
