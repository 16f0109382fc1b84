//! Decryption of a model to disk (`docs/FORMAT.md` §10).
//!
//! Guarantees: nothing is written before the header MAC verified and the ciphertext inventory
//! matched the authenticated file list; plaintext goes only into a private temporary directory or
//! file beside the target (0700/0600), chunk by chunk after each tag verified; the output is
//! renamed into place only after every chunk of every file verified. Any failure removes the
//! temporary output, so no plaintext is left behind.
//!
//! A bucket output (`s3://`, `gs://`, `az://`) is written by the child module `bucket`: every
//! file's upload is completed only after the whole model authenticated (see there).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::authenticate::{open_authenticated, Form, Opened};
use super::format::{FileEntry, ENVELOPE_NAME};
use super::keyschedule::KeySchedule;
use super::pipeline::{FileJob, Held, Opened as JobFiles};
use super::stream::{
    check_ct_len, decrypt_jobs_observed, ChunkLayout, ChunkReader, FileCipher, Observers,
};
use super::SealError;
use crate::fs::commit::{clean_stale_temporaries, create_new, write_file_beside, StagingDir};
use crate::fs::open_nofollow;
use crate::keys::wrapping::Identity;
use crate::progress::{NoProgress, Progress};

#[cfg(feature = "storage")]
mod bucket;

/// Decryption options.
#[derive(Debug, Clone)]
pub struct DecryptOptions {
    /// Replace an existing output (atomically).
    pub overwrite: bool,
    /// Further unlisted paths (relative to the encrypted directory) the inventory skips for this
    /// run, e.g. a signature file stored inside it (§4.2).
    pub skip: Vec<String>,
    /// Mode of the decrypted files (default 0600; `unseal` uses 0400).
    pub file_mode: u32,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        DecryptOptions {
            overwrite: false,
            skip: Vec::new(),
            file_mode: 0o600,
        }
    }
}

/// What a decryption produced.
#[derive(Debug, Clone)]
pub struct DecryptSummary {
    /// Model name from the authenticated body.
    pub model_name: String,
    /// Number of files.
    pub files: usize,
    /// Total plaintext bytes.
    pub bytes: u64,
    /// `SHA-256(body_bytes)`.
    pub body_digest: [u8; 32],
    /// The stanza used: `(type, key_id)`.
    pub recipient: (String, String),
}

/// Decrypts `encrypted` with `identity` into `output` (§10).
pub fn decrypt(
    encrypted: &Path,
    identity: &dyn Identity,
    output: &Path,
    options: &DecryptOptions,
) -> Result<DecryptSummary, SealError> {
    decrypt_with_progress(encrypted, identity, output, options, &NoProgress)
}

/// [`decrypt`], reporting the total plaintext size and then the bytes verified to `progress`.
///
/// Temporaries that an earlier run for the same `output` left behind when it was killed (named
/// `.<output name>.modelseal-tmp.<pid>.*`, their process gone) are removed first (§14.7).
pub fn decrypt_with_progress(
    encrypted: &Path,
    identity: &dyn Identity,
    output: &Path,
    options: &DecryptOptions,
    progress: &dyn Progress,
) -> Result<DecryptSummary, SealError> {
    decrypt_observed(encrypted, identity, output, options, progress, None)
}

/// A decrypted model as its decryption pass shows it to [`DecryptObservers`]: authenticated
/// (header MAC verified, ciphertext inventory matched), nothing of it decrypted yet.
pub(crate) struct Authenticated<'a> {
    opened: &'a Opened,
}

impl Authenticated<'_> {
    /// The authenticated file list, in file (and job) order.
    pub fn files(&self) -> &[FileEntry] {
        &self.opened.header.body.files
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u32 {
        self.opened.header.body.chunk_size
    }

    /// The plaintext of the listed file `name` (every chunk verified), if it is listed and at
    /// most `limit` bytes; `None` when it is not listed.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SealError> {
        let body = &self.opened.header.body;
        let Some(entry) = body.files.iter().find(|f| f.path == name) else {
            return Ok(None);
        };
        let (path, base) = match &self.opened.form {
            Form::SingleFile(p) => (p.clone(), self.opened.envelope_len),
            Form::Directory(root) => (root.join(&entry.path), 0),
        };
        if entry.size > limit {
            return Err(SealError::limit(
                &path,
                format!("{} bytes, more than the {limit} expected", entry.size),
            ));
        }
        let layout = ChunkLayout::new(body.chunk_size, entry.size);
        let file = open_ciphertext(&path, base + layout.ct_len())?;
        let keys = self.opened.dek.file_keys(&entry.path, &entry.salt);
        let mut reader = ChunkReader::new(file, FileCipher::new(&keys, layout)?, base, &path)?;
        let mut out = Vec::new();
        use std::io::Read;
        reader
            .read_to_end(&mut out)
            .map_err(|e| SealError::io(&path, e))?;
        Ok(Some(out))
    }
}

/// Observers of a decryption pass, chosen once the model authenticated (`unseal` reads its inner
/// signature first to know how to hash the plaintext).
pub(crate) trait DecryptObservers {
    /// The observers of each file of `model.files()`, in that order.
    fn observers(&self, model: &Authenticated<'_>) -> Result<Observers, SealError>;
}

/// [`decrypt_with_progress`], showing each file's stream to the observers `observe` chooses:
/// `unseal`'s one pass hashes the ciphertext and the plaintext as they go by.
pub(crate) fn decrypt_observed(
    encrypted: &Path,
    identity: &dyn Identity,
    output: &Path,
    options: &DecryptOptions,
    progress: &dyn Progress,
    observe: Option<&dyn DecryptObservers>,
) -> Result<DecryptSummary, SealError> {
    // Into a bucket (issue 19); `unseal` (with observers) writes to a local directory only.
    #[cfg(feature = "storage")]
    if observe.is_none() {
        if let Some(summary) = bucket::decrypt(encrypted, identity, output, options, progress)? {
            return Ok(summary);
        }
    }
    if !options.overwrite && output.symlink_metadata().is_ok() {
        return Err(SealError::Usage(format!(
            "{}: already exists (use the overwrite option to replace it)",
            output.display()
        )));
    }
    crate::location::refuse_object_output(output).map_err(SealError::Usage)?;
    clean_stale_temporaries(output)?;
    #[cfg(feature = "storage")]
    if let Some(url) = crate::location::Location::object(encrypted) {
        return super::remote::decrypt(&url, identity, output, options, progress);
    }
    let opened = open_authenticated(encrypted, identity)?;
    let sources = inventory(&opened, &options.skip)?;
    let observers = match observe {
        Some(observe) => observe.observers(&Authenticated { opened: &opened })?,
        None => Vec::new(),
    };
    progress.begin(sources.iter().map(|(entry, _)| entry.size).sum());
    let pass = (observers, progress);
    match &opened.form {
        Form::SingleFile(_) => decrypt_single(&opened, &sources, output, options, pass)?,
        Form::Directory(_) => decrypt_directory(&opened, &sources, output, options, pass)?,
    }
    let files = &opened.header.body.files;
    Ok(DecryptSummary {
        model_name: opened.header.body.model_name.clone(),
        files: files.len(),
        bytes: files.iter().map(|f| f.size).sum(),
        body_digest: opened.body_digest,
        recipient: (identity.stanza_type().into(), identity.key_id().into()),
    })
}

/// A listed ciphertext file and where it is; opened again only when its turn comes.
type SourceFile<'a> = (&'a FileEntry, PathBuf);

/// Opens a ciphertext file without following a symlink and checks it is a regular file of
/// exactly `expected` bytes.
fn open_ciphertext(path: &Path, expected: u64) -> Result<File, SealError> {
    let f = open_nofollow(path).map_err(|e| SealError::io(path, e))?;
    let meta = f.metadata().map_err(|e| SealError::io(path, e))?;
    if !meta.is_file() {
        return Err(SealError::Tree {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    check_ct_len(meta.len(), expected, path)?;
    Ok(f)
}

/// Where a job's plaintext goes: the temporary file the caller holds (single-file layout), or a
/// new file in the staging directory, created when the job starts and closed once synced.
enum Destination<'a> {
    Open(&'a File),
    New(PathBuf),
}

/// One file's decryption, opened on demand (see [`FileJob`]).
struct DecryptJob<'a> {
    entry: &'a FileEntry,
    src: &'a Path,
    dek: &'a crate::keys::wrapping::DataKey,
    chunk_size: u32,
    ct_base: u64,
    dst: Destination<'a>,
    dst_name: &'a Path,
    file_mode: u32,
}

impl FileJob for DecryptJob<'_> {
    fn layout(&self) -> ChunkLayout {
        ChunkLayout::new(self.chunk_size, self.entry.size)
    }
    fn ct_base(&self) -> u64 {
        self.ct_base
    }
    fn src_name(&self) -> &Path {
        self.src
    }
    fn dst_name(&self) -> &Path {
        self.dst_name
    }
    fn open(&self) -> Result<JobFiles<'_>, SealError> {
        let keys = self.dek.file_keys(&self.entry.path, &self.entry.salt);
        let cipher = FileCipher::new(&keys, self.layout())?;
        let src = open_ciphertext(self.src, self.ct_base + self.layout().ct_len())?;
        let dst = match &self.dst {
            Destination::Open(f) => Held::Borrowed(*f),
            // create_new: names that collide on a case-insensitive file system fail (§10 step 10).
            Destination::New(path) => Held::Owned(create_new(path, 0o600, 0o700)?),
        };
        Ok(JobFiles {
            cipher: Held::Owned(cipher),
            src: Box::new(src),
            dst,
        })
    }
    fn finish(&self, opened: &JobFiles<'_>) -> Result<(), SealError> {
        match &self.dst {
            // The caller sets the mode of and syncs the file it holds.
            Destination::Open(_) => Ok(()),
            Destination::New(path) => opened
                .dst
                .set_permissions(std::fs::Permissions::from_mode(self.file_mode))
                .and_then(|_| opened.dst.sync_all())
                .map_err(|e| SealError::io(path, e)),
        }
    }
}

/// §10 step 9: every listed file present, a regular file of exactly `ct_len(S)` bytes; nothing
/// else in the directory but the envelope, the git names and caller-named skips.
fn inventory<'a>(opened: &'a Opened, skip: &[String]) -> Result<Vec<SourceFile<'a>>, SealError> {
    let body = &opened.header.body;
    match &opened.form {
        Form::SingleFile(path) => {
            let f = open_nofollow(path).map_err(|e| SealError::io(path, e))?;
            let len = f.metadata().map_err(|e| SealError::io(path, e))?.len();
            let entry = &body.files[0];
            let expected =
                opened.envelope_len + ChunkLayout::new(body.chunk_size, entry.size).ct_len();
            check_ct_len(len, expected, path)?;
            Ok(vec![(entry, path.clone())])
        }
        Form::Directory(root) => {
            let listed: HashMap<&str, &FileEntry> =
                body.files.iter().map(|f| (f.path.as_str(), f)).collect();
            let mut dirs = HashSet::new();
            for f in &body.files {
                let mut at = 0;
                while let Some(i) = f.path[at..].find('/') {
                    dirs.insert(&f.path[..at + i]);
                    at += i + 1;
                }
            }
            let mut found = HashSet::new();
            let walk = Walk {
                root,
                listed: &listed,
                dirs: &dirs,
                skip,
            };
            walk.dir(root, "", &mut found)?;
            let mut out = Vec::with_capacity(body.files.len());
            for entry in &body.files {
                let path = root.join(&entry.path);
                if !found.contains(entry.path.as_str()) {
                    return Err(SealError::Tree {
                        path,
                        reason: "missing file (listed in the authenticated header)".into(),
                    });
                }
                // Opened, checked and closed: open files stay bounded (issue 17 item 5); the job
                // checks it again when it opens it.
                let expected = ChunkLayout::new(body.chunk_size, entry.size).ct_len();
                drop(open_ciphertext(&path, expected)?);
                out.push((entry, path));
            }
            Ok(out)
        }
    }
}

struct Walk<'a> {
    root: &'a Path,
    listed: &'a HashMap<&'a str, &'a FileEntry>,
    dirs: &'a HashSet<&'a str>,
    skip: &'a [String],
}

impl Walk<'_> {
    fn dir(&self, dir: &Path, prefix: &str, found: &mut HashSet<String>) -> Result<(), SealError> {
        for entry in std::fs::read_dir(dir).map_err(|e| SealError::io(dir, e))? {
            let entry = entry.map_err(|e| SealError::io(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type().map_err(|e| SealError::io(&path, e))?;
            if prefix.is_empty() && name == ENVELOPE_NAME {
                continue;
            }
            if self.listed.contains_key(rel.as_str()) {
                if !ft.is_file() {
                    return Err(SealError::Tree {
                        path,
                        reason: "listed file is not a regular file (symlink or special file)"
                            .into(),
                    });
                }
                found.insert(rel);
            } else if ft.is_dir() && (self.dirs.contains(rel.as_str()) || self.holds_skipped(&rel))
            {
                self.dir(&path, &rel, found)?;
            } else if self.skipped(&rel) {
                continue;
            } else {
                return Err(SealError::Tree {
                    path,
                    reason: format!(
                        "extra entry in the encrypted model {} (not in the authenticated file list)",
                        self.root.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether the directory `rel` lies above a skipped path (`.cache` above `.cache/huggingface`):
    /// it is descended, and only what it holds besides the skipped path is an extra entry.
    fn holds_skipped(&self, rel: &str) -> bool {
        let above = |p: &str| p.starts_with(&format!("{rel}/"));
        above(crate::tree::HUGGING_FACE_LOCAL_DIR_CACHE) || self.skip.iter().any(|p| above(p))
    }

    /// §4.2: unlisted paths at or below the top-level git names or a Hugging Face `--local-dir`
    /// cache, or a caller-named skip path.
    fn skipped(&self, rel: &str) -> bool {
        let top = rel.split('/').next().unwrap_or(rel);
        let below = |p: &str| rel == p || rel.starts_with(&format!("{p}/"));
        crate::tree::DEFAULT_IGNORES.contains(&top)
            || below(crate::tree::HUGGING_FACE_LOCAL_DIR_CACHE)
            || self.skip.iter().any(|p| below(p))
    }
}

/// What a decryption pass carries besides the files: its observers and its progress.
type PassExtras<'a> = (Observers, &'a dyn Progress);

fn decrypt_single(
    opened: &Opened,
    sources: &[SourceFile<'_>],
    output: &Path,
    options: &DecryptOptions,
    (observers, progress): PassExtras<'_>,
) -> Result<(), SealError> {
    let (entry, src) = &sources[0];
    write_file_beside(output, options.file_mode, options.overwrite, |dst| {
        let job = DecryptJob {
            entry,
            src,
            dek: &opened.dek,
            chunk_size: opened.header.body.chunk_size,
            ct_base: opened.envelope_len,
            dst: Destination::Open(dst),
            dst_name: output,
            file_mode: options.file_mode,
        };
        decrypt_jobs_observed(std::slice::from_ref(&job), observers, progress)
    })
}

fn decrypt_directory(
    opened: &Opened,
    sources: &[SourceFile<'_>],
    output: &Path,
    options: &DecryptOptions,
    (observers, progress): PassExtras<'_>,
) -> Result<(), SealError> {
    // The staging directory removes itself and all plaintext in it when dropped on an error path.
    // It is created 0700 (not from the umask), so a killed run leaves nothing others can enter
    // (§10 step 10, §14.7).
    let staging = StagingDir::beside(output, 0o700)?;
    let names: Vec<PathBuf> = sources
        .iter()
        .map(|(entry, _)| staging.path().join(&entry.path))
        .collect();
    let jobs: Vec<DecryptJob<'_>> = sources
        .iter()
        .zip(&names)
        .map(|((entry, src), name)| DecryptJob {
            entry,
            src,
            dek: &opened.dek,
            chunk_size: opened.header.body.chunk_size,
            ct_base: 0,
            dst: Destination::New(name.clone()),
            dst_name: name,
            file_mode: options.file_mode,
        })
        .collect();
    // Each file is created, written, given its mode, fsynced and closed in its turn.
    decrypt_jobs_observed(&jobs, observers, progress)?;
    Ok(staging.commit(output, options.overwrite)?)
}
