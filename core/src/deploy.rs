//! `seal` and `unseal`: the deployment flow of `docs/deploy.md` composed from [`crate::sign`],
//! [`crate::envelope`] and [`crate::policy`].
//!
//! `seal` signs the plaintext model, encrypts it *together with that signature* — stored in the
//! encrypted tree under the reserved top-level name [`INNER_SIGNATURE_NAME`] — and signs the
//! encrypted directory (`ENC.sig`), so a registry verifies what it stores without a decryption key.
//! Each plaintext byte is read once: the pass that encrypts a file also hashes it for the inner
//! signature, which is made from those digests and encrypted last, and hashes the ciphertext it
//! writes for the outer signature. The sealed content is exactly
//! the signed content; a file rewritten after the walk fails the run ("changed while sealing") and
//! nothing is written.
//!
//! `unseal` verifies `ENC.sig` under the policy, decrypts into a private temporary directory beside
//! the target, verifies the inner signature under the policy, and only then renames the model into
//! place with files 0400 and directories 0500. Each ciphertext byte is read once: the outer check
//! reads the envelope and takes the data files' digests from the signature, and the decryption pass
//! checks each file's ciphertext against them while hashing its plaintext for the inner check. Guarantee: on any failure the target is not created
//! and no decrypted byte remains on disk (the temporary directory is removed, also on panic); a run
//! killed outright leaves only its private (0700) temporary, which the next unseal into the same
//! DIR removes. The caller's `before_publish` (the audit line) runs before the rename, and a failure
//! there publishes nothing; once the rename is done the unseal has succeeded.
//!
//! A second unseal into an existing DIR (a restarted Kubernetes init container, whose `emptyDir`
//! outlives it) decrypts nothing: it verifies the outer signature as usual, then checks that DIR
//! holds exactly the sealed model ([`check_already_unsealed`]) and succeeds, or fails naming the
//! difference.

use crate::audit::AuditError;
use crate::digest::{
    hash_tree_known, KnownResources, Resource, SerializationConfig, SignedDigests, StreamCheck,
    StreamDigest,
};
use crate::error::ErrorClass;

use crate::envelope::encrypt::{encrypt_in_one_pass, LateFile, Pass, PassObservers};
use crate::envelope::format::FileEntry;
use crate::envelope::stream::{ChunkLayout, FileObservers, Observers, StreamObserver};
use crate::envelope::{
    self, DecryptSummary, EncryptOptions, EncryptSummary, Plaintext, SealError, StoredPlaintext,
};
use crate::fs::commit::{CommitError, StagingDir};
use crate::keys::{Identity, Recipient, Signer};
use crate::policy::{Policy, PolicyDecision, PolicyVerifyOptions, SealedStage};
use crate::progress::{NoProgress, Progress};
use crate::sign::{
    default_signature_path, finish_signing_all, plan_signing, OutputMode, SignError, SignOptions,
    SignOutcome, SignPlan,
};
use crate::tree::ModelTree;
use crate::verify::VerifyError;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Name of the plaintext signature inside a sealed model (top level of the encrypted tree, and
/// of the unsealed directory). A model that has a top-level file of this name cannot be sealed.
pub const INNER_SIGNATURE_NAME: &str = "modelseal.sig";

/// Name of the plaintext signatures inside a model sealed with several keys: a claims file
/// (`.jsonl`), one signature per key. A model sealed with one key holds [`INNER_SIGNATURE_NAME`]
/// instead, byte for byte as before; a model that has a top-level file of this name cannot be
/// sealed either.
pub const INNER_CLAIMS_NAME: &str = "modelseal.sig.jsonl";

/// The inner signature's name for a seal by `signers` keys.
fn inner_signature_name(signers: usize) -> &'static str {
    if signers > 1 {
        INNER_CLAIMS_NAME
    } else {
        INNER_SIGNATURE_NAME
    }
}

/// The inner signature file in the (decrypted or unsealed) directory `dir`: `modelseal.sig`, or
/// for a co-signed model `modelseal.sig.jsonl`; `None` when it holds neither.
fn inner_signature_in(dir: &Path) -> Option<PathBuf> {
    [INNER_SIGNATURE_NAME, INNER_CLAIMS_NAME]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Where the outer signatures of `encrypted` are when the caller names none: every one of
/// `ENC.sig` (a seal with one key) and `ENC.sig.jsonl` (a seal with several keys, and where
/// [`crate::endorse`] adds co-signatures) that exists; `ENC.sig` when neither does, so the error
/// names the usual place.
pub fn default_outer_signatures(encrypted: &Path) -> Vec<PathBuf> {
    let single = default_signature_path(encrypted);
    let claims = outer_claims_path(encrypted);
    let found: Vec<PathBuf> = [single.clone(), claims]
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if found.is_empty() {
        vec![single]
    } else {
        found
    }
}

/// `ENC.sig.jsonl`: the claims file of the outer signatures beside `encrypted` (a seal with
/// several keys writes it; [`crate::endorse`] appends to it).
pub fn outer_claims_path(encrypted: &Path) -> PathBuf {
    let mut name = default_signature_path(encrypted).into_os_string();
    name.push(".");
    name.push(crate::oms::claims::EXTENSION);
    PathBuf::from(name)
}

/// Errors of `seal` and `unseal`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// Encryption or decryption failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A signature or the model could not be read.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A file-system step failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned: the decrypted copy in the scratch directory, or the output
        /// being published.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The request cannot be carried out as given.
    #[error("{0}")]
    Usage(String),
    /// The unseal's audit line could not be written; nothing was published.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// DIR already exists and is not the model the encrypted model seals.
    #[error("{}: already exists and is not the model {} seals: {}", .out.display(), .encrypted.display(), .differences.join("; "))]
    NotTheSealedModel {
        /// The existing output directory.
        out: PathBuf,
        /// The encrypted model.
        encrypted: PathBuf,
        /// Each difference found, naming its file.
        differences: Vec<String>,
    },
    /// The policy denied the outer (`"encrypted model"`) or inner (`"decrypted model"`) signature.
    #[error("{stage}: denied by the policy: {}", .decision.reasons.join("; "))]
    Denied {
        /// Which signature was denied: `"encrypted model"` or `"decrypted model"`.
        stage: &'static str,
        /// The policy's full decision, with its reasons; for the inner signature its paths name
        /// where the model would have been published, not the scratch directory that is gone.
        decision: Box<PolicyDecision>,
    },
}

impl DeployError {
    /// [`ErrorClass::Failed`] for verification or decryption failures (exit 1), the class of the
    /// underlying error otherwise.
    pub fn class(&self) -> ErrorClass {
        match self {
            DeployError::Denied { .. } => ErrorClass::Failed,
            DeployError::Seal(e) => e.class(),
            DeployError::Verify(e) => e.class(),
            DeployError::Sign(e) => e.class(),
            DeployError::Io { .. } => ErrorClass::Internal,
            _ => ErrorClass::Input,
        }
    }

    /// One message per problem.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            DeployError::Denied { stage, decision } => decision
                .reasons
                .iter()
                .map(|r| format!("{stage}: {r}"))
                .collect(),
            DeployError::NotTheSealedModel {
                out, differences, ..
            } => differences
                .iter()
                .map(|d| format!("{}: {d}", out.display()))
                .collect(),
            other => vec![other.to_string()],
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Options of [`seal_model`].
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// How to sign (hash, method); `signature` is ignored (the inner signature goes inside).
    pub sign: SignOptions,
    /// Model name recorded in the envelope; default: the model's file or directory name.
    pub model_name: Option<String>,
    /// Where to write the outer signature; default `ENC.sig` beside `ENC`, or with several
    /// signing keys `ENC.sig.jsonl` (a claims file, one signature per key; a path given must end
    /// in `.jsonl` then).
    pub outer_signature: Option<PathBuf>,
    /// Plaintext bytes per chunk (default: the format's default).
    pub chunk_size: Option<u32>,
    /// Replace an existing encrypted model and outer signature (else both are refused before
    /// anything is written).
    pub force: bool,
}

/// What [`seal_model`] produced.
#[derive(Debug, Clone)]
#[non_exhaustive] // made only by core: readable, not constructible, outside it
pub struct SealOutcome {
    /// The signature over the plaintext (now inside the encrypted model), by the first key.
    pub inner: SignOutcome,
    /// The encryption.
    pub encrypted: EncryptSummary,
    /// The signature over the encrypted directory, by the first key.
    pub outer: SignOutcome,
    /// The OMS key hint of every key that signed both statements, in the order given.
    pub key_hints: Vec<String>,
}

/// Signs `model`, encrypts it with its signature for `recipients` to `output` (a directory), and
/// signs `output`.
///
/// One read of the plaintext: the model is walked, then one pass reads each file once, hashing it
/// for the inner signature and encrypting it; the inner signature is made from those digests and
/// encrypted last. The sealed bytes are therefore exactly the signed bytes; a file rewritten after
/// the walk is refused ("changed while sealing") and nothing is written.
pub fn seal_model(
    model: &Path,
    signer: &dyn Signer,
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &SealOptions,
) -> Result<SealOutcome, DeployError> {
    seal_model_with_progress(model, &[signer], recipients, output, options, &NoProgress)
}

/// [`seal_model`] signed by every key of `signers` (co-signed: both statements signed by each,
/// each signature file a claims file of one signature per key, [`INNER_CLAIMS_NAME`] inside and
/// `ENC.sig.jsonl` beside; one signer writes exactly what [`seal_model`] does), reporting to
/// `progress` the plaintext bytes of the one pass (hashed and encrypted, the ciphertext hashed as
/// written), then the bytes read back for the outer signatures (the envelope and the inner
/// signature) (each stage's `begin` adds its bytes to the total, see [`Stages`]).
pub fn seal_model_with_progress(
    model: &Path,
    signers: &[&dyn Signer],
    recipients: &[&dyn Recipient],
    output: &Path,
    options: &SealOptions,
    progress: &dyn Progress,
) -> Result<SealOutcome, DeployError> {
    let progress = Stages::new(progress);
    if signers.is_empty() {
        return Err(SignError::Options("seal needs a signing key".into()).into());
    }
    let outer_signature = match &options.outer_signature {
        Some(path) => path.clone(),
        None if signers.len() > 1 => outer_claims_path(output),
        None => default_signature_path(output),
    };
    if signers.len() > 1 && !crate::oms::claims::is_claims_path(&outer_signature) {
        return Err(crate::sign::several_need_claims(&outer_signature).into());
    }
    let inner_name = inner_signature_name(signers.len());
    // The other default outer signature file (`ENC.sig` beside a co-signed seal's
    // `ENC.sig.jsonl`, or the other way round): `unseal` reads both by default, so one left from
    // an earlier seal of ENC would be judged with the new one.
    let stale = match options.outer_signature {
        Some(_) => None,
        None => [default_signature_path(output), outer_claims_path(output)]
            .into_iter()
            .find(|p| *p != outer_signature),
    };
    if !options.force {
        // Refused here, before hours of hashing and encryption, not when the output is written.
        for existing in [output, outer_signature.as_path()]
            .into_iter()
            .chain(stale.as_deref())
        {
            if output_exists(existing)? {
                return Err(SignError::Exists(existing.to_path_buf()).into());
            }
        }
    }
    // The inner signature waits here until it is encrypted; named like every temporary of
    // `output`, so a killed run's copy is removed by the next run (for a bucket output, in the
    // temporary directory: only this small file is ever on local disk).
    let scratch_anchor = match crate::location::Location::object(output) {
        Some(_) => std::env::temp_dir().join("modelseal-seal"),
        None => output.to_path_buf(),
    };
    let scratch = StagingDir::beside(&scratch_anchor, 0o700).map_err(commit_error)?;
    let inner_path = scratch.path().join(inner_name);
    let sign_options = SignOptions {
        signature: Some(inner_path.clone()),
        ..options.sign.clone()
    };
    if let (Some(_), Some(url)) = (&options.sign.scan, crate::location::Location::object(model)) {
        // The scan reads local files only (and would read each object a second time).
        return Err(DeployError::Usage(format!(
            "{url}: the credential scan reads local files only; seal a model in object storage \
             with the scan off (--no-scan, Python scan=False), after scanning a copy"
        )));
    }
    let plan = plan_signing(model, &sign_options)?;
    let files = plaintext_files(model, &plan.tree)?;
    #[cfg(test)]
    tests::between_sign_and_encrypt(model);
    let outer_options = SignOptions {
        signature: Some(outer_signature),
        tsa: options.sign.tsa.clone(),
        output: if options.force {
            OutputMode::Replace
        } else {
            OutputMode::CreateNew
        },
        ..SignOptions::default()
    };
    let outer_config = serialization_of(&outer_options);
    let plaintext = match StoredPlaintext::of(&plan.tree) {
        // A bucket model (issue 19): the objects of the plan's listing, read by its pinned
        // reads; the inner signature is added by its name.
        Some(stored) => Plaintext::Stored(StoredPlaintext {
            root: model.to_path_buf(),
            single_file: false,
            files: files
                .into_iter()
                .map(|(name, _)| name)
                .zip(stored.files.into_iter().map(|(_, object)| object))
                .collect(),
            ..stored
        }),
        None => {
            let mut all_files = files;
            all_files.push((inner_name.to_string(), inner_path.clone()));
            Plaintext::Directory {
                root: model.to_path_buf(),
                files: all_files,
            }
        }
    };
    let mut encrypt_options = EncryptOptions {
        model_name: Some(
            options
                .model_name
                .clone()
                .unwrap_or_else(|| crate::tree::model_name(model)),
        ),
        ..EncryptOptions::default()
    };
    if let Some(c) = options.chunk_size {
        encrypt_options.chunk_size = c;
    }
    encrypt_options.overwrite = options.force;
    let digests = PassDigests::new(&plan, &outer_config, encrypt_options.chunk_size);
    // The inner signature, made when every file was hashed; a signing failure is kept here and
    // reported as itself (the encryption only learns that the late file could not be made).
    let inner: RefCell<Option<SignOutcome>> = RefCell::new(None);
    let sign_failure: RefCell<Option<SignError>> = RefCell::new(None);
    let make_inner = || -> Result<PathBuf, SealError> {
        let resources = digests.resources(model)?;
        match finish_signing_all(&plan, resources, signers) {
            Ok(mut outcomes) => {
                *inner.borrow_mut() = Some(outcomes.swap_remove(0));
                Ok(inner_path.clone())
            }
            Err(e) => {
                *sign_failure.borrow_mut() = Some(e);
                Err(SealError::Usage(
                    "the inner signature could not be made".into(),
                ))
            }
        }
    };
    let pass = Pass {
        observe: Some(&digests),
        late: Some(LateFile {
            name: inner_name,
            make: &make_inner,
        }),
        progress: Some(&progress),
    };
    let encrypted =
        match encrypt_in_one_pass(&plaintext, recipients, output, &encrypt_options, pass) {
            Ok(summary) => summary,
            Err(e) => {
                return Err(match sign_failure.take() {
                    Some(sign) => DeployError::Sign(sign),
                    None => DeployError::Seal(e),
                })
            }
        };
    let inner = inner.take().ok_or_else(|| {
        DeployError::Usage("the encryption ended without making the inner signature".into())
    })?;
    let outer = sign_encrypted(
        output,
        signers,
        &outer_options,
        &outer_config,
        digests.ciphertext(),
        &progress,
    )?;
    // `force` replaced ENC and its signature: the earlier seal's other signature file (or
    // object) goes too.
    // (Without `force`, an existing one was refused at the start.)
    if let Some(stale) = stale.filter(|_| options.force) {
        remove_output_file(&stale)?;
    }
    Ok(SealOutcome {
        inner,
        encrypted,
        outer,
        key_hints: signers.iter().map(|s| s.public_key().hint()).collect(),
    })
}

/// Whether an output of seal (the encrypted model or a signature) would meet something there: a
/// local path that exists, or an object location holding an object (at or below it).
/// Removes the file or object `path` names, if there is one (an object: that one key, nothing
/// below it).
fn remove_output_file(path: &Path) -> Result<(), DeployError> {
    let Some(url) = crate::location::Location::object(path) else {
        if path.symlink_metadata().is_ok() {
            std::fs::remove_file(path).map_err(io(path))?;
        }
        return Ok(());
    };
    #[cfg(feature = "storage")]
    return crate::location::delete_objects(&url, vec![url.prefix.clone()])
        .map_err(|e| DeployError::Seal(SealError::io(path, e)));
    #[cfg(not(feature = "storage"))]
    {
        let _ = url;
        crate::location::refuse_object_output(path).map_err(DeployError::Usage)
    }
}

fn output_exists(path: &Path) -> Result<bool, DeployError> {
    let Some(url) = crate::location::Location::object(path) else {
        return Ok(path.symlink_metadata().is_ok());
    };
    #[cfg(feature = "storage")]
    return crate::location::objects_at(&url)
        .map(|objects| !objects.is_empty())
        .map_err(|e| DeployError::Seal(SealError::io(path, e)));
    #[cfg(not(feature = "storage"))]
    {
        let _ = url;
        crate::location::refuse_object_output(path).map_err(DeployError::Usage)?;
        Ok(false)
    }
}

/// One progress for an operation of several stages (each hashing or encrypting, each calling
/// `begin` with its own bytes): every `begin` adds to one running total, so a bar grows its
/// length as the stages come instead of starting over.
struct Stages<'a> {
    inner: &'a dyn Progress,
    total: std::sync::atomic::AtomicU64,
}

impl<'a> Stages<'a> {
    fn new(inner: &'a dyn Progress) -> Stages<'a> {
        Stages {
            inner,
            total: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Progress for Stages<'_> {
    fn begin(&self, total_bytes: u64) {
        let order = std::sync::atomic::Ordering::Relaxed;
        self.inner
            .begin(self.total.fetch_add(total_bytes, order) + total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.inner.advance(bytes);
    }
}

/// Seal's hashing inside the encryption pass: per walked file, one [`StreamDigest`] of its
/// plaintext (the inner signature's resources; each file checked, when the pass starts, to still
/// be the file the walk listed) and one of its ciphertext as it is written (the outer signature's
/// resources of that encrypted file), so that neither the model nor the encrypted model is read
/// again.
struct PassDigests<'a> {
    plan: &'a SignPlan,
    /// The outer signature's serialization.
    outer: &'a SerializationConfig,
    chunk_size: u32,
    /// Each walked file's resources, by its index in the walk, once read.
    results: Arc<Mutex<Vec<Option<Vec<Resource>>>>>,
    /// The ciphertext resources of each encrypted data file, by its name in the encrypted tree.
    ciphertext: Arc<Mutex<CiphertextDigests>>,
}

/// Ciphertext resources of the encrypted data files, by name, with the ciphertext size hashed.
type CiphertextDigests = HashMap<String, (u64, Vec<Resource>)>;

impl<'a> PassDigests<'a> {
    fn new(plan: &'a SignPlan, outer: &'a SerializationConfig, chunk_size: u32) -> PassDigests<'a> {
        PassDigests {
            plan,
            outer,
            chunk_size,
            results: Arc::new(Mutex::new(vec![None; plan.tree.files.len()])),
            ciphertext: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The ciphertext resources gathered by the pass.
    fn ciphertext(&self) -> CiphertextDigests {
        self.ciphertext
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Every walked file's resources, in signing order (the walk's order).
    fn resources(&self, model: &Path) -> Result<Vec<Resource>, SealError> {
        let mut results = self
            .results
            .lock()
            .map_err(|_| SealError::Usage("a hashing thread panicked while sealing".into()))?;
        let mut out = Vec::new();
        for (file, resources) in self.plan.tree.files.iter().zip(results.iter_mut()) {
            match resources.take() {
                Some(r) => out.extend(r),
                None => {
                    return Err(SealError::Changed {
                        path: model.join(file.name.as_str()),
                        reason: "changed while sealing: listed, but not encrypted".into(),
                    })
                }
            }
        }
        Ok(out)
    }
}

impl PassObservers for PassDigests<'_> {
    fn observers(&self, files: &[(&FileEntry, &Path)]) -> Result<Observers, SealError> {
        let tree = &self.plan.tree;
        // Indexed once: a search of the walk per file would be quadratic in the file count
        // (100,000 files: minutes).
        let walk_index: HashMap<&str, usize> = match tree.single_file {
            true => HashMap::new(),
            false => (tree.files.iter().enumerate())
                .map(|(i, f)| (f.name.as_str(), i))
                .collect(),
        };
        files
            .iter()
            .map(|(entry, path)| {
                // A single-file model is stored under its own name and signed as `.`.
                let index = match tree.single_file {
                    true => Some(0),
                    false => walk_index.get(entry.path.as_str()).copied(),
                };
                let changed = |reason: &str| SealError::Changed {
                    path: path.to_path_buf(),
                    reason: format!("changed while sealing: {reason}"),
                };
                let Some(index) = index else {
                    return Err(changed("appeared after the model was listed"));
                };
                let walked = &tree.files[index];
                // A listed object is pinned by every read of the pass (issue 19): only its size
                // is compared; a local file also by its status now.
                let rewritten = match tree.remote {
                    Some(_) => entry.size != walked.len,
                    None => {
                        let meta = std::fs::metadata(path).map_err(|e| SealError::io(path, e))?;
                        meta.len() != walked.len
                            || entry.size != walked.len
                            || crate::tree::ChangeStamp::of(&meta) != walked.stamp
                    }
                };
                if rewritten {
                    return Err(changed("written to since the model was listed"));
                }
                let digest = StreamDigest::new(&self.plan.config, walked.name.as_str(), entry.size)
                    .map_err(|e| SealError::Usage(e.to_string()))?;
                let ct_len = ChunkLayout::new(self.chunk_size, entry.size).ct_len();
                let ciphertext = StreamDigest::new(self.outer, &entry.path, ct_len)
                    .map_err(|e| SealError::Usage(e.to_string()))?;
                Ok(FileObservers {
                    plaintext: Some(Box::new(PlaintextRecorder {
                        digest,
                        index,
                        results: Arc::clone(&self.results),
                    })),
                    ciphertext: Some(Box::new(CiphertextRecorder {
                        name: entry.path.clone(),
                        len: ct_len,
                        digest: ciphertext,
                        results: Arc::clone(&self.ciphertext),
                    })),
                })
            })
            .collect()
    }
}

/// Hashes one file's plaintext as it is encrypted and files its resources under the walk's index.
struct PlaintextRecorder {
    digest: StreamDigest,
    index: usize,
    results: Arc<Mutex<Vec<Option<Vec<Resource>>>>>,
}

impl StreamObserver for PlaintextRecorder {
    fn observe(&mut self, plaintext: &[u8]) {
        self.digest.update(plaintext);
    }

    fn finish(self: Box<Self>, file: &Path) -> Result<(), SealError> {
        let resources = self.digest.finish().map_err(|reason| SealError::Changed {
            path: file.to_path_buf(),
            reason: format!("changed while sealing: {reason}"),
        })?;
        let mut results = self
            .results
            .lock()
            .map_err(|_| SealError::Usage("a hashing thread panicked while sealing".into()))?;
        if let Some(slot) = results.get_mut(self.index) {
            *slot = Some(resources);
        }
        Ok(())
    }
}

/// Hashes one file's ciphertext as it is written and files its resources under its name in the
/// encrypted tree.
struct CiphertextRecorder {
    /// The encrypted file's name and size.
    name: String,
    len: u64,
    digest: StreamDigest,
    results: Arc<Mutex<CiphertextDigests>>,
}

impl StreamObserver for CiphertextRecorder {
    fn observe(&mut self, ciphertext: &[u8]) {
        self.digest.update(ciphertext);
    }

    fn finish(self: Box<Self>, _file: &Path) -> Result<(), SealError> {
        // A ciphertext digest that cannot finish is left out: the outer signature then hashes
        // that file from disk.
        if let (Ok(resources), Ok(mut out)) = (self.digest.finish(), self.results.lock()) {
            out.insert(self.name, (self.len, resources));
        }
        Ok(())
    }
}

/// The serialization a signature made with `options` records, as far as hashing goes (method and
/// hash; the walk adds the rest).
fn serialization_of(options: &SignOptions) -> SerializationConfig {
    let digest = options.digest_options();
    SerializationConfig {
        method: digest.method,
        hash: digest.hash,
        allow_symlinks: digest.allow_symlinks,
        ignore_paths: Vec::new(),
    }
}

/// Signs the encrypted directory `output` (the outer signature) from the ciphertext digests the
/// encryption pass made as it wrote each data file (`hashed`, by name), reading only what the
/// pass did not hash — the envelope and the late file (seal's inner signature). The statement
/// is the one [`crate::sign::sign_model`] makes over `output`: same walk, same serialization, same resources.
fn sign_encrypted(
    output: &Path,
    signers: &[&dyn Signer],
    options: &SignOptions,
    hashed_as: &SerializationConfig,
    hashed: CiphertextDigests,
    progress: &dyn Progress,
) -> Result<SignOutcome, DeployError> {
    let plan = plan_signing(output, options)?;
    let known = KnownResources {
        method: Some((hashed_as.method, hashed_as.hash)),
        files: hashed,
    };
    progress.begin(known.bytes_to_read(&plan.tree, &plan.config));
    let resources = hash_tree_known(&plan.tree, &plan.config, &known, progress)
        .map_err(|e| DeployError::Sign(e.into()))?;
    let mut outcomes = finish_signing_all(&plan, resources, signers)?;
    Ok(outcomes.swap_remove(0))
}

/// The files to encrypt, from the walk signing made: a directory's files (refusing the reserved
/// name), or a single file under its own name (a sealed model is always a directory, holding the
/// file and the signature).
fn plaintext_files(model: &Path, tree: &ModelTree) -> Result<Vec<(String, PathBuf)>, DeployError> {
    let source = |f: &crate::tree::ModelFile| {
        f.source_path()
            .map_err(|e| DeployError::Seal(SealError::io(&f.path, e)))
    };
    if tree.single_file {
        return tree
            .files
            .iter()
            .map(|f| Ok((crate::tree::model_name(model), source(f)?)))
            .collect();
    }
    // The signature is one more file: refused here, before the model is read.
    let max = envelope::format::MAX_FILES;
    if tree.files.len() >= max {
        return Err(DeployError::Seal(SealError::Limit {
            path: model.to_path_buf(),
            reason: format!(
                "{} files, more than {} (seal stores its signature as one more file; the format allows {max})",
                tree.files.len(),
                max - 1
            ),
        }));
    }
    if let Some(reserved) = tree
        .files
        .iter()
        .find(|f| [INNER_SIGNATURE_NAME, INNER_CLAIMS_NAME].contains(&f.name.as_str()))
    {
        return Err(DeployError::Usage(format!(
            "{}: has a top-level {}, a name seal reserves for the signature it stores inside the encrypted model",
            model.display(),
            reserved.name.as_str()
        )));
    }
    tree.files
        .iter()
        .map(|f| Ok((f.name.as_str().to_string(), source(f)?)))
        .collect()
}

/// Options of [`unseal_model`].
#[derive(Debug, Clone, Default)]
pub struct UnsealOptions {
    /// The model name the policy's rules match; default: the envelope's model name.
    pub model_name: Option<String>,
    /// The outer signature files (single bundles or `.jsonl` claims files, all judged together);
    /// empty: [`default_outer_signatures`] (`ENC.sig` and/or `ENC.sig.jsonl` beside `ENC`).
    pub signatures: Vec<PathBuf>,
}

/// What [`unseal_model`] established.
#[derive(Debug, Clone)]
#[non_exhaustive] // made only by core: readable, not constructible, outside it
pub struct UnsealOutcome {
    /// The decision on the encrypted model.
    pub outer: PolicyDecision,
    /// The decision on the decrypted model, its paths naming the published model under `out`.
    pub inner: PolicyDecision,
    /// The decryption; `None` when `out` already held the sealed model (nothing was decrypted).
    pub decrypted: Option<DecryptSummary>,
    /// Where the model now is.
    pub out: PathBuf,
}

impl UnsealOutcome {
    /// Whether `out` already held the sealed model, so nothing was decrypted or published.
    pub fn already_unsealed(&self) -> bool {
        self.decrypted.is_none()
    }
}

/// What [`unseal_model_recorded`] calls with the outcome once every check has passed, before `out`
/// is published: the audit line. An error publishes nothing and fails the unseal.
pub type BeforePublish<'a> = &'a mut dyn FnMut(&UnsealOutcome) -> Result<(), AuditError>;

/// Verifies, decrypts, verifies again and publishes `encrypted` at `out` (see the module doc).
pub fn unseal_model(
    encrypted: &Path,
    policy: &Policy,
    identity: &dyn Identity,
    out: &Path,
    options: &UnsealOptions,
) -> Result<UnsealOutcome, DeployError> {
    unseal_model_recorded(
        encrypted,
        policy,
        identity,
        out,
        options,
        &mut |_| Ok(()),
        &NoProgress,
    )
}

/// [`unseal_model`], calling `before_publish` with the outcome before `out` is published (or,
/// when `out` already holds the sealed model, before returning), and reporting to `progress` the
/// bytes of its stages — what the outer check reads (the envelope; the whole encrypted model when
/// `out` exists), the plaintext decrypted (its ciphertext and plaintext hashed on the way), what
/// the inner check still reads (the inner signature's files the pass could not hash) — each
/// stage's `begin` adds its bytes to the total, see [`Stages`].
pub fn unseal_model_recorded(
    encrypted: &Path,
    policy: &Policy,
    identity: &dyn Identity,
    out: &Path,
    options: &UnsealOptions,
    before_publish: BeforePublish<'_>,
    progress: &dyn Progress,
) -> Result<UnsealOutcome, DeployError> {
    crate::location::refuse_object_output(out).map_err(DeployError::Usage)?;
    let progress = Stages::new(progress);
    // What killed runs for `out` left beside it (their private temporaries) goes first.
    crate::fs::commit::clean_stale_temporaries(out).map_err(SealError::from)?;
    let outer_sigs = match options.signatures.is_empty() {
        true => default_outer_signatures(encrypted),
        false => options.signatures.clone(),
    };
    let verify_options = PolicyVerifyOptions {
        model_name: options.model_name.clone(),
        ignore: Vec::new(),
    };
    // One pass (docs/deploy.md's order kept): the outer decision reads the envelope and takes the
    // data files' ciphertext digests from the signature as expectations, which the decryption
    // pass checks as it reads them. A restarted unseal (DIR exists) decrypts nothing: it verifies
    // the encrypted model in full, as it always did; so do several outer signature files (one
    // signature's digests would be the expectations of every other).
    let already = out.symlink_metadata().is_ok();
    let expected = match (already, outer_sigs.as_slice()) {
        (false, [only]) => OuterExpectations::read(encrypted, only),
        _ => None,
    };
    let known = expected
        .as_ref()
        .map(|e| e.known.clone())
        .unwrap_or_default();
    let outer = policy.verify_sealed_known(
        encrypted,
        &outer_sigs,
        &verify_options,
        SealedStage::Encrypted,
        known,
        &progress,
    )?;
    if !outer.allowed {
        return Err(denied("encrypted model", outer));
    }
    if already {
        let outcome = check_already_unsealed(encrypted, policy, out, outer)?;
        before_publish(&outcome)?;
        return Ok(outcome);
    }
    // Removed, with any plaintext in it, when this function returns — also early or by a panic.
    let scratch = StagingDir::beside(out, 0o700).map_err(commit_error)?;
    let plain = scratch.path().join("model");
    let decrypt_options = envelope::DecryptOptions {
        file_mode: 0o400,
        ..envelope::DecryptOptions::default()
    };
    let observers = UnsealObservers::new(expected.as_ref().map(|e| &e.signed));
    let pass = envelope::decrypt::decrypt_observed(
        encrypted,
        identity,
        &plain,
        &decrypt_options,
        &progress,
        Some(&observers),
    );
    let decrypted = match pass {
        Ok(d) => d,
        // A chunk that fails authentication or ciphertext that is not the signed one: explained
        // by the outer signatures first, as the order of docs/deploy.md reports it (this reads
        // the encrypted model again, on the failure path only).
        Err(e) if expected.is_some() && e.class().is_failure() => {
            let full = policy.verify_sealed(
                encrypted,
                &outer_sigs,
                &verify_options,
                SealedStage::Encrypted,
                &NoProgress,
            )?;
            if !full.allowed {
                return Err(denied("encrypted model", full));
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(expected) = &expected {
        observers.check_all(encrypted, expected)?;
    }
    let Some(inner_sig) = inner_signature_in(&plain) else {
        return Err(DeployError::Usage(format!(
            "{}: holds no {INNER_SIGNATURE_NAME} (nor {INNER_CLAIMS_NAME}); it was not made by seal",
            encrypted.display()
        )));
    };
    let inner_model = inner_model_path(&plain, &inner_sig)?;
    let inner_options = PolicyVerifyOptions {
        model_name: Some(outer.model_name.clone()),
        ignore: Vec::new(),
    };
    // The plaintext was hashed as it was decrypted (under a single inner signature's
    // serialization): the decision reads none of it again.
    let inner = policy.verify_sealed_known(
        &inner_model,
        &[inner_sig],
        &inner_options,
        SealedStage::Decrypted,
        observers.plaintext(),
        &progress,
    )?;
    if !inner.allowed {
        // Named as it would have been published: the scratch directory is gone when this is read.
        return Err(denied("decrypted model", as_published(inner, &plain, out)));
    }
    let outcome = UnsealOutcome {
        outer,
        inner: as_published(inner, &plain, out),
        decrypted: Some(decrypted),
        out: out.to_path_buf(),
    };
    before_publish(&outcome)?;
    crate::fs::commit::publish_read_only(&plain, out).map_err(commit_error)?;
    // Now empty: the model moved out.
    drop(scratch);
    Ok(outcome)
}

/// What the outer signature expects of the encrypted data files, read before the outer decision
/// (unverified then: it counts only if the decision, which verifies this very signature, allows).
struct OuterExpectations {
    /// The signed ciphertext digests, checked by the decryption pass.
    signed: SignedDigests,
    /// The same digests for the decision, for each data file the envelope lists (the pass
    /// decrypts, and so checks, exactly those).
    known: KnownResources,
}

impl OuterExpectations {
    /// `None` (the decision then reads the encrypted model itself) unless `encrypted` is a
    /// directory and `signature` one bundle whose statement indexes.
    fn read(encrypted: &Path, signature: &Path) -> Option<OuterExpectations> {
        if !encrypted.is_dir() || signature.extension().is_some_and(|e| e == "jsonl") {
            return None;
        }
        let bundle = crate::verify::read_bundle(signature).ok()?;
        let statement = crate::verify::parse_statement(&bundle, signature).ok()?;
        let config = &statement.serialization;
        let signed = SignedDigests::new(config, &statement.resources).ok()?;
        let listed = envelope::inspect_encrypted(encrypted).ok()?.files;
        // The statement's resources by file, in signed order, grouped in one pass: a search of
        // the statement per listed file would be quadratic in the file count.
        let mut by_file: HashMap<&str, Vec<Resource>> = HashMap::new();
        for resource in &statement.resources {
            if let Some(file) = crate::digest::resource_file(&resource.name, config.method) {
                by_file.entry(file).or_default().push(resource.clone());
            }
        }
        let mut files = HashMap::new();
        for (name, _) in listed {
            let Some(resources) = by_file.remove(name.as_str()) else {
                continue;
            };
            let Ok(meta) = std::fs::symlink_metadata(encrypted.join(&name)) else {
                continue;
            };
            if meta.is_file() {
                files.insert(name, (meta.len(), resources));
            }
        }
        Some(OuterExpectations {
            signed,
            known: KnownResources {
                method: Some((config.method, config.hash)),
                files,
            },
        })
    }
}

/// Unseal's hashing inside the decryption pass: each data file's ciphertext checked against the
/// outer signature's digests as it is read, and its plaintext hashed under the inner signature's
/// serialization (read from the decrypted `modelseal.sig` before the pass) once authenticated.
struct UnsealObservers<'a> {
    outer: Option<&'a SignedDigests>,
    /// Names whose ciphertext matched the outer signature.
    checked: Arc<Mutex<std::collections::HashSet<String>>>,
    /// The plaintext resources, by name in the inner model, and their serialization.
    plaintext: Arc<Mutex<KnownResources>>,
}

impl<'a> UnsealObservers<'a> {
    fn new(outer: Option<&'a SignedDigests>) -> UnsealObservers<'a> {
        UnsealObservers {
            outer,
            checked: Arc::default(),
            plaintext: Arc::default(),
        }
    }

    /// Every data file the outer decision took on the signature's word was checked.
    fn check_all(&self, encrypted: &Path, expected: &OuterExpectations) -> Result<(), DeployError> {
        let checked = self
            .checked
            .lock()
            .map_err(|_| DeployError::Usage("a decryption thread panicked".into()))?;
        match expected.known.files.keys().find(|n| !checked.contains(*n)) {
            None => Ok(()),
            Some(name) => Err(DeployError::Seal(SealError::Tree {
                path: encrypted.join(name),
                reason:
                    "signed by the outer signature, but not decrypted (changed while unsealing)"
                        .into(),
            })),
        }
    }

    /// The plaintext resources the pass computed.
    fn plaintext(&self) -> KnownResources {
        self.plaintext
            .lock()
            .map(|mut k| std::mem::take(&mut *k))
            .unwrap_or_default()
    }
}

impl envelope::decrypt::DecryptObservers for UnsealObservers<'_> {
    fn observers(
        &self,
        model: &envelope::decrypt::Authenticated<'_>,
    ) -> Result<Observers, SealError> {
        // How the inner signature hashes: from its statement (unverified here; the inner
        // decision verifies it and then uses these digests only if they fit its serialization).
        let inner = model
            .read_small(INNER_SIGNATURE_NAME, crate::oms::MAX_BUNDLE_BYTES)?
            .and_then(|bytes| crate::oms::Bundle::parse(&bytes).ok())
            .and_then(|bundle| crate::oms::Statement::parse(&bundle.payload).ok());
        let single = inner.as_ref().is_some_and(signs_single_file);
        let config = inner.map(|s| s.serialization);
        if let (Some(config), Ok(mut known)) = (&config, self.plaintext.lock()) {
            known.method = Some((config.method, config.hash));
        }
        let chunk_size = model.chunk_size();
        model
            .files()
            .iter()
            .map(|entry| {
                let ciphertext = self.outer.and_then(|signed| {
                    signed.check(
                        &entry.path,
                        ChunkLayout::new(chunk_size, entry.size).ct_len(),
                    )
                });
                // A single file is signed as `.` (its shards `.:…`) by seal.
                let name = if single { "." } else { entry.path.as_str() };
                let plaintext = match &config {
                    Some(config) if entry.path != INNER_SIGNATURE_NAME => {
                        StreamDigest::new(config, name, entry.size).ok()
                    }
                    _ => None,
                };
                Ok(FileObservers {
                    ciphertext: ciphertext.map(|check| {
                        Box::new(CiphertextCheck {
                            name: entry.path.clone(),
                            check,
                            checked: Arc::clone(&self.checked),
                        }) as Box<dyn StreamObserver>
                    }),
                    plaintext: plaintext.map(|digest| {
                        Box::new(UnsealedRecorder {
                            inner_name: name.to_string(),
                            size: entry.size,
                            digest,
                            results: Arc::clone(&self.plaintext),
                        }) as Box<dyn StreamObserver>
                    }),
                })
            })
            .collect()
    }
}

fn decryption_panicked() -> SealError {
    SealError::Usage("a decryption thread panicked".into())
}

/// Checks one data file's ciphertext against the outer signature as unseal's pass reads it (see
/// [`UnsealObservers`]).
struct CiphertextCheck {
    name: String,
    check: StreamCheck,
    checked: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl StreamObserver for CiphertextCheck {
    fn observe(&mut self, ciphertext: &[u8]) {
        self.check.update(ciphertext);
    }

    fn finish(self: Box<Self>, file: &Path) -> Result<(), SealError> {
        self.check.finish().map_err(|reason| SealError::Tree {
            path: file.to_path_buf(),
            reason: format!("not the ciphertext the outer signature covers: {reason}"),
        })?;
        self.checked
            .lock()
            .map_err(|_| decryption_panicked())?
            .insert(self.name);
        Ok(())
    }
}

/// Hashes one file's authenticated plaintext in unseal's pass for the inner decision (see
/// [`UnsealObservers`]).
struct UnsealedRecorder {
    inner_name: String,
    size: u64,
    digest: StreamDigest,
    results: Arc<Mutex<KnownResources>>,
}

impl StreamObserver for UnsealedRecorder {
    fn observe(&mut self, plaintext: &[u8]) {
        self.digest.update(plaintext);
    }

    fn finish(self: Box<Self>, _file: &Path) -> Result<(), SealError> {
        // A plaintext digest that cannot finish is left out: the inner decision then reads that
        // file (and finds what is wrong with it).
        if let Ok(resources) = self.digest.finish() {
            self.results
                .lock()
                .map_err(|_| decryption_panicked())?
                .files
                .insert(self.inner_name, (self.size, resources));
        }
        Ok(())
    }
}

/// `out` exists: succeeds, decrypting nothing, when it holds exactly the model `encrypted` seals —
/// the same files with the same sizes as the envelope lists (authentic: the outer signature, just
/// verified, covers the envelope), and a `modelseal.sig` under which the policy allows `out` with
/// the envelope's model name (as the first run's inner check did). Else the error names each
/// difference. Without a key the inner signature cannot be compared with the sealed one byte for
/// byte; the policy's signers vouch for the content, the envelope for its shape.
fn check_already_unsealed(
    encrypted: &Path,
    policy: &Policy,
    out: &Path,
    outer: PolicyDecision,
) -> Result<UnsealOutcome, DeployError> {
    let differs = |differences: Vec<String>| DeployError::NotTheSealedModel {
        out: out.to_path_buf(),
        encrypted: encrypted.to_path_buf(),
        differences,
    };
    if !out.is_dir() {
        return Err(differs(vec!["not a directory".into()]));
    }
    let sealed = envelope::inspect_encrypted(encrypted)?.files;
    let walk = crate::tree::WalkOptions {
        ignore: Vec::new(),
        ignore_git_paths: false,
        allow_symlinks: false,
    };
    let present = crate::tree::walk(out, &walk)
        .map_err(|e| differs(vec![e.to_string()]))?
        .files;
    let mut differences = Vec::new();
    for (name, size) in &sealed {
        match present.iter().find(|f| f.name.as_str() == name) {
            None => differences.push(format!("{name}: missing")),
            Some(f) if f.len != *size => differences.push(format!(
                "{name}: {} bytes, the sealed file has {size}",
                f.len
            )),
            Some(_) => {}
        }
    }
    for f in &present {
        if !sealed.iter().any(|(name, _)| name == f.name.as_str()) {
            differences.push(format!("{}: not in the sealed model", f.name.as_str()));
        }
    }
    if !differences.is_empty() {
        return Err(differs(differences));
    }
    // The envelope lists one of the two names and DIR holds exactly the envelope's files.
    let inner_sig = inner_signature_in(out).unwrap_or_else(|| out.join(INNER_SIGNATURE_NAME));
    let inner_options = PolicyVerifyOptions {
        model_name: Some(outer.model_name.clone()),
        ignore: Vec::new(),
    };
    let model = inner_model_path(out, &inner_sig)?;
    let stage = SealedStage::Decrypted;
    let inner = policy.verify_sealed(&model, &[inner_sig], &inner_options, stage, &NoProgress)?;
    if !inner.allowed {
        return Err(differs(inner.reasons));
    }
    Ok(UnsealOutcome {
        outer,
        inner,
        decrypted: None,
        out: out.to_path_buf(),
    })
}

/// The inner decision with its paths (model, inner signature) moved from the scratch directory
/// to where the model is (or, for a denial, would have been) published, so an outcome or a denial
/// never names a directory that is gone.
fn as_published(mut decision: PolicyDecision, plain: &Path, out: &Path) -> PolicyDecision {
    let moved = |path: &Path| match path.strip_prefix(plain) {
        Ok(rest) if rest.as_os_str().is_empty() => out.to_path_buf(),
        Ok(rest) => out.join(rest),
        Err(_) => path.to_path_buf(),
    };
    decision.model = moved(&decision.model);
    for signature in &mut decision.signatures {
        signature.path = moved(&signature.path);
    }
    decision
}

fn denied(stage: &'static str, decision: PolicyDecision) -> DeployError {
    DeployError::Denied {
        stage,
        decision: Box::new(decision),
    }
}

/// The plaintext model inside the decrypted directory: the directory itself, or — when the inner
/// signature covers a single file (its one resource is named `.`) — the one other file.
fn inner_model_path(plain: &Path, inner_sig: &Path) -> Result<PathBuf, DeployError> {
    // Every signature of a co-signed model signs the same statement: the first one tells.
    let claims = crate::verify::read_claims(inner_sig)?;
    let single = claims
        .first()
        .and_then(|claim| crate::oms::Statement::parse(&claim.bundle.payload).ok())
        .is_some_and(|s| signs_single_file(&s));
    if !single {
        return Ok(plain.to_path_buf());
    }
    let mut others = Vec::new();
    for entry in std::fs::read_dir(plain).map_err(io(plain))? {
        let entry = entry.map_err(io(plain))?;
        if ![INNER_SIGNATURE_NAME, INNER_CLAIMS_NAME]
            .contains(&&*entry.file_name().to_string_lossy())
        {
            others.push(entry.path());
        }
    }
    match others.as_slice() {
        [one] => Ok(one.clone()),
        _ => Ok(plain.to_path_buf()),
    }
}

/// Whether `statement` signs a single file: its one resource is named `.` (or its shards `.:…`),
/// as seal signs a single-file model.
pub(crate) fn signs_single_file(statement: &crate::oms::Statement) -> bool {
    statement
        .resources
        .iter()
        .all(|r| r.name == "." || r.name.starts_with(".:"))
}

/// A failed file-system step of a scratch directory or of the publish, with its path.
fn commit_error(e: CommitError) -> DeployError {
    match e {
        CommitError::Io { path, source } => DeployError::Io { path, source },
        exists @ CommitError::Exists(_) => DeployError::Usage(exists.to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! seal's guarantee that the encrypted bytes are the signed bytes: a file rewritten between
    //! the walk and the pass that signs and encrypts it (through the test-only hook
    //! [`between_sign_and_encrypt`], no timing games) fails the run with "changed while sealing"
    //! and leaves no output; and each plaintext byte is read once (counted through
    //! `digest::counted`).

    use super::*;
    use crate::digest::{HashAlgorithm, Method};
    use crate::keys::open::{open_identity, open_recipient};
    use crate::keys::{self, KeyAlgorithm, KeyKind, KeyOptions, KeyRef};
    use std::cell::RefCell;

    /// What the test runs on the model between signing and encrypting.
    type Hook = Box<dyn Fn(&Path)>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Called by [`seal_model`] after the model is walked, before the pass that hashes and
    /// encrypts it.
    pub(super) fn between_sign_and_encrypt(model: &Path) {
        HOOK.with(|h| {
            if let Some(hook) = h.borrow().as_ref() {
                hook(model)
            }
        });
    }

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let model = dir.path().join("llm");
            std::fs::create_dir_all(model.join("sub")).unwrap();
            std::fs::write(model.join("weights.bin"), vec![3u8; 300_000]).unwrap();
            std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
            keys::file::generate_signing_key(
                KeyAlgorithm::EcP256,
                &dir.path().join("k.pem"),
                None,
                false,
            )
            .unwrap();
            keys::file::generate(KeyKind::X25519, &dir.path().join("r.pem"), None, false).unwrap();
            Fixture { dir }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        /// Seals `model` with `hook` run between signing and encrypting.
        fn seal(
            &self,
            model: &Path,
            method: Method,
            hook: impl Fn(&Path) + 'static,
        ) -> Result<SealOutcome, DeployError> {
            let signer =
                keys::open::open_signer(&KeyRef::File(self.path("k.pem")), &KeyOptions::default())
                    .unwrap();
            let recipient = open_recipient(
                &KeyRef::File(self.path("r.pem.pub")),
                &KeyOptions::default(),
            )
            .unwrap();
            let options = SealOptions {
                sign: SignOptions {
                    method,
                    hash: HashAlgorithm::Sha256,
                    ..SignOptions::default()
                },
                chunk_size: Some(64 << 10),
                ..SealOptions::default()
            };
            HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
            let result = seal_model(
                model,
                signer.as_ref(),
                &[recipient.as_ref()],
                &self.path("enc"),
                &options,
            );
            HOOK.with(|h| *h.borrow_mut() = None);
            result
        }
        /// Nothing but the inputs in the directory: no ENC, no ENC.sig, no temporary.
        fn assert_no_output(&self) {
            let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, ["k.pem", "llm", "r.pem", "r.pem.pub"]);
        }
    }

    fn changed_reason(err: &DeployError) -> String {
        match err {
            DeployError::Seal(SealError::Changed { path, reason }) => {
                format!("{}: {reason}", path.display())
            }
            other => panic!("expected a change to be detected, got {other}"),
        }
    }

    #[test]
    fn unchanged_model_seals_and_unseals() {
        let f = Fixture::new();
        for method in [
            Method::Files,
            Method::Shards {
                shard_size: 100_000,
            },
        ] {
            let _ = std::fs::remove_dir_all(f.path("enc"));
            // seal refuses an existing output signature (no force here).
            let _ = std::fs::remove_file(f.path("enc.sig"));
            let outcome = f.seal(&f.path("llm"), method, |_| {}).unwrap();
            assert_eq!(outcome.encrypted.files, 3);
            let out = f.path("plain");
            let identity =
                open_identity(&KeyRef::File(f.path("r.pem")), &KeyOptions::default()).unwrap();
            envelope::decrypt(&f.path("enc"), identity.as_ref(), &out, &Default::default())
                .unwrap();
            assert_eq!(
                std::fs::read(out.join("weights.bin")).unwrap(),
                vec![3u8; 300_000]
            );
            std::fs::remove_dir_all(&out).unwrap();
        }
    }

    #[test]
    fn seal_reads_each_plaintext_byte_once() {
        for method in [
            Method::Files,
            Method::Shards {
                shard_size: 100_000,
            },
        ] {
            let f = Fixture::new();
            let model = f.path("llm");
            let outcome = f.seal(&model, method, |_| {}).unwrap();
            // weights.bin and sub/config.json: every byte once, for signing and encrypting.
            assert_eq!(
                crate::digest::counted::bytes_below(&model),
                300_002,
                "{method:?}"
            );
            // And the signature made from that pass is the one a separate signing pass makes.
            let again = crate::sign::sign_model(
                &model,
                keys::open::open_signer(&KeyRef::File(f.path("k.pem")), &KeyOptions::default())
                    .unwrap()
                    .as_ref(),
                &SignOptions {
                    method,
                    hash: HashAlgorithm::Sha256,
                    signature: Some(f.path("again.sig")),
                    ..SignOptions::default()
                },
                &NoProgress,
            )
            .unwrap();
            assert_eq!(
                outcome.inner.statement.to_json(),
                again.statement.to_json(),
                "{method:?}"
            );
            // The ciphertext was hashed for the outer signature as it was written: of the
            // encrypted model only the envelope and the inner signature (made after the pass)
            // were read back, and the outer statement is the one signing ENC afresh makes.
            let enc = f.path("enc");
            let len = |name: &str| std::fs::metadata(enc.join(name)).unwrap().len();
            assert_eq!(
                crate::digest::counted::bytes_below(&enc),
                len(envelope::format::ENVELOPE_NAME) + len(INNER_SIGNATURE_NAME),
                "{method:?}"
            );
            let outer_again = crate::sign::sign_model(
                &enc,
                keys::open::open_signer(&KeyRef::File(f.path("k.pem")), &KeyOptions::default())
                    .unwrap()
                    .as_ref(),
                &SignOptions {
                    signature: Some(f.path("outer-again.sig")),
                    ..SignOptions::default()
                },
                &NoProgress,
            )
            .unwrap();
            assert_eq!(
                outcome.outer.statement.to_json(),
                outer_again.statement.to_json(),
                "{method:?}"
            );
        }
    }

    #[test]
    fn unseal_reads_each_ciphertext_byte_once() {
        for method in [
            Method::Files,
            Method::Shards {
                shard_size: 100_000,
            },
        ] {
            let f = Fixture::new();
            f.seal(&f.path("llm"), method, |_| {}).unwrap();
            let signer =
                keys::open::open_signer(&KeyRef::File(f.path("k.pem")), &KeyOptions::default())
                    .unwrap();
            signer.public_key().write_pem(&f.path("k.pub.pem")).unwrap();
            std::fs::write(
                f.path("trust.toml"),
                "version = 1\n[signers.rel]\nkey = \"k.pub.pem\"\n[[models]]\nname = \"*\"\nrequire = [\"rel\"]\n",
            )
            .unwrap();
            let policy = Policy::load(&f.path("trust.toml")).unwrap();
            let identity =
                open_identity(&KeyRef::File(f.path("r.pem")), &KeyOptions::default()).unwrap();
            let enc = f.path("enc");
            let before = crate::digest::counted::bytes_below(f.dir.path());
            let out = f.path("out");
            let outcome =
                unseal_model(&enc, &policy, identity.as_ref(), &out, &Default::default()).unwrap();
            assert!(outcome.outer.allowed && outcome.inner.allowed);
            assert_eq!(
                std::fs::read(out.join("weights.bin")).unwrap(),
                vec![3u8; 300_000]
            );
            // Counted reads (hashing, and the pipeline's reads of its sources): the envelope,
            // hashed by the outer decision, and each ciphertext file once, decrypted while it
            // is hashed for the outer signature and its plaintext for the inner one. Nothing
            // else is read — not the plaintext in the scratch directory. (The small inner
            // signature is also decrypted ahead, uncounted, to learn how it hashes.)
            let len = |name: &str| std::fs::metadata(enc.join(name)).unwrap().len();
            let envelope_len = len(envelope::format::ENVELOPE_NAME);
            let ciphertext =
                len("weights.bin") + len("sub/config.json") + len(INNER_SIGNATURE_NAME);
            assert_eq!(
                crate::digest::counted::bytes_below(f.dir.path()) - before,
                envelope_len + ciphertext,
                "{method:?}"
            );
        }
    }

    #[test]
    fn same_size_rewrite_between_passes_fails_and_leaves_nothing() {
        for method in [
            Method::Files,
            Method::Shards {
                shard_size: 100_000,
            },
        ] {
            let f = Fixture::new();
            let err = f
                .seal(&f.path("llm"), method, |model| {
                    // Same size, one byte different, in the last shard: only a digest sees it.
                    let mut bytes = vec![3u8; 300_000];
                    bytes[250_000] = 4;
                    std::fs::write(model.join("weights.bin"), bytes).unwrap();
                })
                .unwrap_err();
            let reason = changed_reason(&err);
            assert!(
                reason.contains("weights.bin") && reason.contains("changed while sealing"),
                "{reason}"
            );
            assert!(!err.class().is_failure(), "an input error (exit 2)");
            f.assert_no_output();
        }
    }

    #[test]
    fn added_removed_and_single_file_changes_are_caught() {
        let f = Fixture::new();
        let err = f
            .seal(&f.path("llm"), Method::Files, |model| {
                std::fs::remove_file(model.join("sub/config.json")).unwrap();
            })
            .unwrap_err();
        // The encryption pass cannot read the removed file: the run fails naming it.
        match &err {
            DeployError::Seal(SealError::Io { path, source })
            | DeployError::Io { path, source } => {
                assert!(path.ends_with("sub/config.json"), "{err}");
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{err}");
            }
            other => panic!("expected the removed file's read error, got {other}"),
        }
        f.assert_no_output();

        // A file added between the passes is in neither the signature nor the encrypted model:
        // the encrypted files are the signed ones, listed before signing.
        let f = Fixture::new();
        f.seal(&f.path("llm"), Method::Files, |model| {
            std::fs::write(model.join("sub/added.bin"), b"new").unwrap();
        })
        .unwrap();
        let out = f.path("plain");
        let identity =
            open_identity(&KeyRef::File(f.path("r.pem")), &KeyOptions::default()).unwrap();
        envelope::decrypt(&f.path("enc"), identity.as_ref(), &out, &Default::default()).unwrap();
        assert!(out.join("sub/config.json").is_file() && !out.join("sub/added.bin").exists());

        let f = Fixture::new();
        let err = f
            .seal(&f.path("llm"), Method::Files, |model| {
                std::fs::write(model.join("sub/config.json"), b"{\"x\": 1}").unwrap();
            })
            .unwrap_err();
        assert!(changed_reason(&err).contains("config.json"), "{err}");
        f.assert_no_output();

        // A single-file model is signed as `.` and stored under its own name.
        let f = Fixture::new();
        let file = f.path("llm/weights.bin");
        f.seal(&file, Method::Files, |_| {}).unwrap();
        std::fs::remove_dir_all(f.path("enc")).unwrap();
        std::fs::remove_file(f.path("enc.sig")).unwrap();
        let err = f
            .seal(&file, Method::Files, |file| {
                std::fs::write(file, vec![9u8; 300_000]).unwrap();
            })
            .unwrap_err();
        assert!(changed_reason(&err).contains("weights.bin"), "{err}");
        f.assert_no_output();
    }
}
