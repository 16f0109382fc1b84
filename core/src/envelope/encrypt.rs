//! Encryption of a model (`docs/FORMAT.md` §9): a directory to a directory of the same tree plus
//! `modelseal.envelope`, a single file to one file with the envelope inline.
//!
//! Guarantees: the output is built under a temporary name beside the target and renamed into place
//! only when complete and fsynced; a failure removes it. A plaintext file that changes size while
//! being read fails the run. The DEK and derived keys are zeroized on drop.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::authenticate::build_envelope;
use super::format::{
    check_model_name, check_rel_path, chunk_size_ok, path_order, Body, FileEntry, Header, Layout,
    DEFAULT_CHUNK_SIZE, ENVELOPE_NAME, MAX_FILES, MAX_STANZAS, SALT_LEN,
};
use super::keyschedule::{body_digest, KeySchedule};
use super::pipeline::{FileJob, Held, Opened};
use super::signed_plaintext::SignedPlaintext;
use super::source::{self, InOrder};
use super::stream::{encrypt_jobs, encrypt_jobs_observed, ChunkLayout, FileCipher, Observers};
use super::SealError;
use crate::digest::SignedDigests;
use crate::fs::commit::{clean_stale_temporaries, create_new, write_file_beside, StagingDir};
use crate::fs::open_nofollow;
use crate::keys::wrapping::DataKey;
use crate::keys::wrapping::{Recipient, WrapContext};
use crate::progress::{NoProgress, Progress};
use crate::rng::{Entropy, OsEntropy};
use crate::tree::{ModelFile, RemoteReader};

#[cfg(feature = "storage")]
pub(super) mod bucket;

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
    /// A model in object storage, as listed (issue 19).
    Stored(StoredPlaintext),
}

/// A model listed in object storage (`s3://`, `gs://`, `az://`): every object is read once, by
/// the ranged GETs of its listing's reader, each pinned to the version the listing saw (an object
/// replaced during the run is [`SealError::Changed`] naming it, and nothing is published).
#[derive(Debug, Clone)]
pub struct StoredPlaintext {
    /// The location as given (its last component is the default model name).
    pub root: PathBuf,
    /// The single-file layout (one object, named `"."`); else a directory.
    pub single_file: bool,
    /// `(relative name, listed object)` pairs, in any order (sorted component-wise here). A
    /// late file of seal (its inner signature) is added by its name, not listed here.
    pub files: Vec<(String, ModelFile)>,
    /// The reader of the listed objects.
    pub reader: Arc<dyn RemoteReader>,
}

impl StoredPlaintext {
    /// The plaintext of a listed tree (`None` for a tree on the local file system), its files
    /// named as listed.
    pub fn of(tree: &crate::tree::ModelTree) -> Option<StoredPlaintext> {
        Some(StoredPlaintext {
            root: tree.root.clone(),
            single_file: tree.single_file,
            files: tree
                .files
                .iter()
                .map(|f| (f.name.as_str().to_owned(), f.clone()))
                .collect(),
            reader: Arc::clone(tree.remote.as_ref()?),
        })
    }
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
    // A bucket location (issue 19) is listed by the rules of a local walk.
    let tree = crate::location::walk(path, &options).map_err(tree_error)?;
    if let Some(stored) = StoredPlaintext::of(&tree) {
        return Ok(Plaintext::Stored(stored));
    }
    // Followed links are read through their targets: the streams open without following links.
    let source =
        |f: &crate::tree::ModelFile| f.source_path().map_err(|e| SealError::io(&f.path, e));
    if tree.single_file {
        return match tree.files.first() {
            Some(f) => Ok(Plaintext::File(source(f)?)),
            None => Ok(Plaintext::File(path.to_path_buf())),
        };
    }
    Ok(Plaintext::Directory {
        root: path.to_path_buf(),
        files: tree
            .files
            .iter()
            .map(|f| Ok((f.name.as_str().to_owned(), source(f)?)))
            .collect::<Result<_, SealError>>()?,
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
    let pass = Pass {
        progress: Some(progress),
        ..Pass::default()
    };
    encrypt_inner(input, recipients, output, options, &mut OsEntropy, pass)
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
    let pass = Pass {
        observe: Some(&expect),
        ..Pass::default()
    };
    encrypt_in_one_pass(input, recipients, output, options, pass)
}

/// A file to encrypt, as listed: it is opened again only when its turn comes (open files stay
/// bounded whatever the number of files) and must then still be the same file, unchanged.
struct Source {
    path: PathBuf,
    entry: FileEntry,
    origin: Origin,
}

/// Where a listed file's bytes are, and what pins them to the version listed.
enum Origin {
    /// A local file.
    Local {
        /// The change stamp when listed: a rewrite during encryption, even in place, is refused.
        stamp: crate::tree::ChangeStamp,
        /// `(device, inode)` when listed: a file replaced by another is refused.
        identity: (u64, u64),
    },
    /// An object, pinned by every read its reader makes (issue 19).
    Stored {
        object: ModelFile,
        reader: Arc<dyn RemoteReader>,
    },
}

impl Source {
    /// Opens the listed file again, checking it is the one listed, unchanged (an object: from its
    /// first byte, fetched ahead once by its pinned reads).
    fn open(&self) -> Result<Box<dyn source::Source>, SealError> {
        match &self.origin {
            Origin::Local { .. } => {
                let file = open_nofollow(&self.path).map_err(|e| SealError::io(&self.path, e))?;
                self.check(&file, "replaced or written to since it was listed")?;
                Ok(Box::new(file))
            }
            Origin::Stored { object, reader } => {
                let stream = reader.stream(object).ok_or_else(|| {
                    SealError::io(
                        &self.path,
                        std::io::Error::other("cannot be read as a stream"),
                    )
                })?;
                Ok(Box::new(InOrder::new(stream, self.entry.size)))
            }
        }
    }

    /// Whether it is an object in object storage.
    #[cfg(feature = "storage")]
    fn is_stored(&self) -> bool {
        matches!(self.origin, Origin::Stored { .. })
    }

    /// [`Source::check`] of an opened source once it was read: an object needs none (each of its
    /// reads was pinned to the version listed, and their lengths checked).
    fn check_read(&self, src: &dyn source::Source, changed: &str) -> Result<(), SealError> {
        match src.file() {
            Some(file) => self.check(file, changed),
            None => Ok(()),
        }
    }

    /// A failed read of the opened source, as the engine reports it: shorter than listed or an
    /// object replaced is [`SealError::Changed`].
    #[cfg(feature = "storage")]
    fn read_error(&self, e: std::io::Error) -> SealError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return SealError::Changed {
                path: self.path.clone(),
                reason: format!("shorter than the {} bytes recorded", self.entry.size),
            };
        }
        super::pipeline::read_error(&self.path, e)
    }

    /// §9 step 9: a source that changed size, or was rewritten in place or replaced, while it was
    /// read is refused.
    fn check(&self, file: &File, changed: &str) -> Result<(), SealError> {
        let Origin::Local { stamp, identity } = &self.origin else {
            return Ok(());
        };
        let meta = file.metadata().map_err(|e| SealError::io(&self.path, e))?;
        let len = meta.len();
        if len != self.entry.size {
            return Err(SealError::Changed {
                path: self.path.clone(),
                reason: format!("{len} bytes now, {} when listed", self.entry.size),
            });
        }
        if crate::tree::ChangeStamp::of(&meta) != *stamp || file_identity(&meta) != *identity {
            return Err(SealError::Changed {
                path: self.path.clone(),
                reason: changed.into(),
            });
        }
        Ok(())
    }
}

fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Where a job's ciphertext goes: a file the caller holds open (single-file layout), or a new
/// file in the staging directory, created when the job starts and closed when it is synced.
enum Destination<'a> {
    Open(&'a File),
    New(PathBuf),
}

/// One file's encryption, opened on demand (see [`FileJob`]).
struct EncryptJob<'a> {
    source: &'a Source,
    dek: &'a DataKey,
    chunk_size: u32,
    ct_base: u64,
    dst: Destination<'a>,
    dst_name: &'a Path,
}

impl FileJob for EncryptJob<'_> {
    fn layout(&self) -> ChunkLayout {
        ChunkLayout::new(self.chunk_size, self.source.entry.size)
    }
    fn ct_base(&self) -> u64 {
        self.ct_base
    }
    fn src_name(&self) -> &Path {
        &self.source.path
    }
    fn dst_name(&self) -> &Path {
        self.dst_name
    }
    fn open(&self) -> Result<Opened<'_>, SealError> {
        let entry = &self.source.entry;
        let keys = self.dek.file_keys(&entry.path, &entry.salt);
        let cipher = FileCipher::new(&keys, self.layout())?;
        let src = self.source.open()?;
        let dst = match &self.dst {
            Destination::Open(f) => Held::Borrowed(*f),
            Destination::New(path) => Held::Owned(create_new(path, 0o644, 0o755)?),
        };
        Ok(Opened {
            cipher: Held::Owned(cipher),
            src,
            dst,
        })
    }
    fn finish(&self, opened: &Opened<'_>) -> Result<(), SealError> {
        self.source
            .check_read(&*opened.src, "written to while it was being encrypted")?;
        match &self.dst {
            // The caller syncs the file it holds.
            Destination::Open(_) => Ok(()),
            Destination::New(path) => opened.dst.sync_all().map_err(|e| SealError::io(path, e)),
        }
    }
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
    encrypt_inner(input, recipients, output, options, entropy, Pass::default())
}

/// Observers of the encryption pass: one [`super::stream::FileObservers`] per file, in the order
/// given.
pub(crate) trait PassObservers {
    /// The observers of `files` (`(entry, source path)`), or why the run must not start.
    fn observers(&self, files: &[(&FileEntry, &Path)]) -> Result<Observers, SealError>;
}

impl PassObservers for SignedPlaintext<'_> {
    fn observers(&self, files: &[(&FileEntry, &Path)]) -> Result<Observers, SealError> {
        SignedPlaintext::observers(self, files)
    }
}

/// A file of an encrypted directory that can only be made once the others are encrypted: seal's
/// inner signature, made from the digests of the encryption pass. It is listed by name in the
/// [`Plaintext::Directory`] (the path given there is not read), gets its salt in file order like
/// every file, and is made by `make` after the pass and encrypted last.
pub(crate) struct LateFile<'a> {
    /// Its name in the encrypted directory.
    pub name: &'a str,
    /// Writes it and says where it is.
    pub make: &'a dyn Fn() -> Result<PathBuf, SealError>,
}

/// What else the encryption pass does: observe the plaintext, add a late file, report progress.
#[derive(Default)]
pub(crate) struct Pass<'a> {
    pub observe: Option<&'a dyn PassObservers>,
    pub late: Option<LateFile<'a>>,
    pub progress: Option<&'a dyn Progress>,
}

/// [`encrypt_matching`] for seal's one pass: `pass.observe` sees every file's plaintext as it is
/// encrypted (seal hashes it for the inner signature), then `pass.late` is made and encrypted.
pub(crate) fn encrypt_in_one_pass(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
    pass: Pass<'_>,
) -> Result<EncryptSummary, SealError> {
    encrypt_inner(input, recipients, output, options, &mut OsEntropy, pass)
}

/// The authenticated header of an encryption and its envelope bytes.
struct Sealed {
    header: Header,
    envelope: Vec<u8>,
    digest: [u8; 32],
}

fn encrypt_inner(
    input: &Plaintext,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &EncryptOptions,
    entropy: &mut dyn Entropy,
    pass: Pass<'_>,
) -> Result<EncryptSummary, SealError> {
    let progress = pass.progress.unwrap_or(&NoProgress);
    check_options(recipients, output, options)?;
    check_file_count(input)?;
    // A bucket output (issue 19) is checked (refused if it holds objects, unless overwrite)
    // before any plaintext is read.
    #[cfg(feature = "storage")]
    let bucket = bucket::BucketTarget::of(output, options.overwrite)?;
    #[cfg(not(feature = "storage"))]
    crate::location::refuse_object_output(output).map_err(SealError::Usage)?;
    #[cfg(feature = "storage")]
    let local = bucket.is_none();
    #[cfg(not(feature = "storage"))]
    let local = true;
    if local {
        clean_stale_temporaries(output)?;
    }
    let late_name = pass.late.as_ref().map(|l| l.name);
    let (layout, mut sources) = open_sources(input, late_name)?;
    let observers = match pass.observe {
        Some(observe) => {
            let files: Vec<(&FileEntry, &Path)> = sources
                .iter()
                .filter(|s| Some(s.entry.path.as_str()) != late_name)
                .map(|s| (&s.entry, s.path.as_path()))
                .collect();
            observe.observers(&files)?
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
    // The header is made once every file's size is known (after the pass when a file is late).
    let seal_header = |sources: &[Source]| -> Result<Sealed, SealError> {
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
        Ok(Sealed {
            header,
            envelope,
            digest,
        })
    };
    progress.begin(sources.iter().map(|s| s.entry.size).sum());
    let out = Output {
        dek: &dek,
        chunk_size: options.chunk_size,
        path: output,
        overwrite: options.overwrite,
        progress,
    };
    #[cfg(feature = "storage")]
    if let Some(target) = &bucket {
        let sealed = match layout {
            Layout::SingleFile => {
                let sealed = seal_header(&sources)?;
                target.write_single(&sources[0], &out, &sealed.envelope, observers)?;
                sealed
            }
            Layout::Directory => {
                let late = late_position(&sources, &pass);
                target.write_directory(&mut sources, late, &out, observers, seal_header)?
            }
        };
        return Ok(summary(&sources, &sealed));
    }
    let sealed = match layout {
        Layout::SingleFile => {
            let sealed = seal_header(&sources)?;
            write_single(&sources[0], &out, &sealed.envelope, observers)?;
            sealed
        }
        Layout::Directory => {
            let late = late_position(&sources, &pass);
            write_directory(&mut sources, late, &out, observers, seal_header)?
        }
    };
    Ok(summary(&sources, &sealed))
}

/// The late file of `pass` and its index among `sources`.
fn late_position<'p>(sources: &[Source], pass: &'p Pass<'_>) -> Option<(usize, &'p LateFile<'p>)> {
    pass.late.as_ref().and_then(|late| {
        sources
            .iter()
            .position(|s| s.entry.path == late.name)
            .map(|i| (i, late))
    })
}

/// What an encryption of `sources` sealed under `sealed` produced.
fn summary(sources: &[Source], sealed: &Sealed) -> EncryptSummary {
    EncryptSummary {
        files: sources.len(),
        bytes: sources.iter().map(|s| s.entry.size).sum(),
        body_digest: sealed.digest,
        recipients: sealed
            .header
            .stanzas
            .iter()
            .map(|s| (s.stanza_type.clone(), s.key_id.clone()))
            .collect(),
    }
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

/// §3: at most [`MAX_FILES`] files, checked before any file is opened.
fn check_file_count(input: &Plaintext) -> Result<(), SealError> {
    match input {
        Plaintext::Directory { root, files } if files.len() > MAX_FILES => Err(SealError::limit(
            root,
            format!("{} files, more than {MAX_FILES}", files.len()),
        )),
        Plaintext::Stored(stored) if stored.files.len() > MAX_FILES => Err(SealError::limit(
            &stored.root,
            format!("{} files, more than {MAX_FILES}", stored.files.len()),
        )),
        _ => Ok(()),
    }
}

fn default_model_name(input: &Plaintext) -> String {
    if let Plaintext::Stored(stored) = input {
        if let Some(url) = crate::location::Location::object(&stored.root) {
            return model_name_of(url.last_component());
        }
    }
    let path = input_root(input);
    let name = std::path::absolute(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    model_name_of(&name)
}

/// The model or file the plaintext is (for its name and errors).
fn input_root(input: &Plaintext) -> &Path {
    match input {
        Plaintext::File(p) => p,
        Plaintext::Directory { root, .. } => root,
        Plaintext::Stored(stored) => &stored.root,
    }
}

/// A model name from a file or directory name: control characters dropped, at most 64
/// characters, `model` when nothing is left.
fn model_name_of(name: &str) -> String {
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
    let root = input_root(input);
    match e {
        SealError::Format { reason, .. } => {
            SealError::Usage(format!("{}: cannot encrypt: {reason}", root.display()))
        }
        SealError::Limit { reason, .. } => SealError::Limit {
            path: root.to_path_buf(),
            reason,
        },
        other => other,
    }
}

/// Lists one file: opened, looked at and closed, so that open files stay bounded (issue 17
/// item 5); the job opens it again in its turn.
fn list_source(name: String, path: &Path) -> Result<Source, SealError> {
    let file = open_nofollow(path).map_err(|e| SealError::io(path, e))?;
    let meta = file.metadata().map_err(|e| SealError::io(path, e))?;
    if !meta.is_file() {
        return Err(SealError::Usage(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    Ok(Source {
        path: path.to_path_buf(),
        origin: Origin::Local {
            stamp: crate::tree::ChangeStamp::of(&meta),
            identity: file_identity(&meta),
        },
        entry: FileEntry {
            path: name,
            size: meta.len(),
            salt: [0; SALT_LEN],
        },
    })
}

/// The files to encrypt in file order; the late file (if any) is a placeholder until it is made.
fn open_sources(input: &Plaintext, late: Option<&str>) -> Result<(Layout, Vec<Source>), SealError> {
    match input {
        Plaintext::File(p) => Ok((Layout::SingleFile, vec![list_source(".".into(), p)?])),
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
                if Some(name.as_str()) == late {
                    out.push(late_placeholder(name, path));
                    continue;
                }
                out.push(list_source(name.clone(), path)?);
            }
            Ok((Layout::Directory, out))
        }
        Plaintext::Stored(stored) => stored_sources(stored, late),
    }
}

/// The late file's place until it is made.
fn late_placeholder(name: &str, path: &Path) -> Source {
    Source {
        path: path.to_path_buf(),
        origin: Origin::Local {
            stamp: Default::default(),
            identity: (0, 0),
        },
        entry: FileEntry {
            path: name.to_owned(),
            size: 0,
            salt: [0; SALT_LEN],
        },
    }
}

/// The listed objects of `stored` in file order, and the late file's placeholder (named by
/// `late`: seal's inner signature, which the listing does not hold).
fn stored_sources(
    stored: &StoredPlaintext,
    late: Option<&str>,
) -> Result<(Layout, Vec<Source>), SealError> {
    let source = |name: &str, object: &ModelFile| Source {
        path: object.path.clone(),
        origin: Origin::Stored {
            object: object.clone(),
            reader: Arc::clone(&stored.reader),
        },
        entry: FileEntry {
            path: name.to_owned(),
            size: object.len,
            salt: [0; SALT_LEN],
        },
    };
    if stored.single_file && late.is_none() {
        return match stored.files.as_slice() {
            [(_, object)] => Ok((Layout::SingleFile, vec![source(".", object)])),
            _ => Err(SealError::Usage(format!(
                "{}: a single-object model lists {} objects",
                stored.root.display(),
                stored.files.len()
            ))),
        };
    }
    if stored.files.is_empty() {
        return Err(SealError::Usage(format!(
            "{}: no file to encrypt",
            stored.root.display()
        )));
    }
    let mut out = Vec::with_capacity(stored.files.len() + 1);
    for (name, object) in &stored.files {
        check_rel_path(name).map_err(|r| {
            SealError::Usage(format!("{}: cannot encrypt: {r}", stored.root.display()))
        })?;
        out.push(source(name, object));
    }
    if let Some(late) = late {
        out.push(late_placeholder(late, Path::new(late)));
    }
    out.sort_by(|a, b| path_order(&a.entry.path, &b.entry.path));
    Ok((Layout::Directory, out))
}

/// Everything the writers need besides the sources.
struct Output<'a> {
    dek: &'a DataKey,
    chunk_size: u32,
    path: &'a Path,
    overwrite: bool,
    progress: &'a dyn Progress,
}

fn write_single(
    source: &Source,
    out: &Output<'_>,
    envelope: &[u8],
    observers: Observers,
) -> Result<(), SealError> {
    let output = out.path;
    write_file_beside(output, 0o644, out.overwrite, |dst| {
        let job = EncryptJob {
            source,
            dek: out.dek,
            chunk_size: out.chunk_size,
            ct_base: envelope.len() as u64,
            dst: Destination::Open(dst),
            dst_name: output,
        };
        encrypt_jobs_observed(std::slice::from_ref(&job), observers, out.progress)?;
        use std::os::unix::fs::FileExt;
        dst.write_all_at(envelope, 0)
            .map_err(|e| SealError::io(output, e))
    })
}

/// Makes the late file `late` and puts it in place of its placeholder `sources[i]`, keeping the
/// salt drawn for it in file order.
fn make_late(sources: &mut [Source], i: usize, late: &LateFile<'_>) -> Result<(), SealError> {
    let made = list_source(late.name.to_string(), &(late.make)()?)?;
    let salt = sources[i].entry.salt;
    sources[i] = Source {
        entry: FileEntry { salt, ..made.entry },
        ..made
    };
    Ok(())
}

fn write_directory(
    sources: &mut [Source],
    late: Option<(usize, &LateFile<'_>)>,
    out: &Output<'_>,
    observers: Observers,
    seal_header: impl FnOnce(&[Source]) -> Result<Sealed, SealError>,
) -> Result<Sealed, SealError> {
    let output = out.path;
    let staging = StagingDir::beside(output, 0o700)?;
    let names: Vec<PathBuf> = sources
        .iter()
        .map(|s| staging.path().join(&s.entry.path))
        .collect();
    fn job<'a>(source: &'a Source, name: &'a PathBuf, out: &'a Output<'_>) -> EncryptJob<'a> {
        EncryptJob {
            source,
            dek: out.dek,
            chunk_size: out.chunk_size,
            ct_base: 0,
            dst: Destination::New(name.clone()),
            dst_name: name,
        }
    }
    let late_index = late.map(|(i, _)| i);
    let jobs: Vec<EncryptJob<'_>> = sources
        .iter()
        .zip(&names)
        .enumerate()
        .filter(|(i, _)| Some(*i) != late_index)
        .map(|(_, (source, name))| job(source, name, out))
        .collect();
    // Each file is created, written, checked, fsynced and closed in its turn.
    encrypt_jobs_observed(&jobs, observers, out.progress)?;
    drop(jobs);
    if let Some((i, late)) = late {
        make_late(sources, i, late)?;
        encrypt_jobs(&[job(&sources[i], &names[i], out)])?;
    }
    let sealed = seal_header(sources)?;
    let env_path = staging.path().join(ENVELOPE_NAME);
    let env = create_new(&env_path, 0o644, 0o755)?;
    use std::io::Write;
    (&env)
        .write_all(&sealed.envelope)
        .and_then(|_| env.sync_all())
        .map_err(|e| SealError::io(&env_path, e))?;
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| SealError::io(staging.path(), e))?;
    staging.commit(output, out.overwrite)?;
    Ok(sealed)
}
