//! Signing a model: walk it, hash it, build the OMS statement, sign the DSSE PAE, write the bundle.
//!
//! The result verifies with model-signing 1.1.1 for the key and certificate methods with P-256,
//! P-384 and P-521 keys (Ed25519 is a modelseal extension that 1.1.1 cannot verify; the outcome
//! carries a warning saying so).
//!
//! The signature file ([`OutputMode`]): a new file by default, written atomically, never
//! replacing an existing one unless asked ([`OutputMode::Replace`]); or one more line of a claims
//! file (`.jsonl`, [`OutputMode::Append`]), appended under a lock without rewriting earlier lines.
//! Signing never replaces or changes a file of the model: a signature path inside the model is
//! allowed only when new (or, appending, when it is already a claims file), and it is then left out
//! of the manifest and recorded in the signed `ignore_paths` (OMS v1.0 §6.2).
//!
//! [`digest_model`] computes what signing would sign (the root digest) without a key.

use crate::digest::{self, DigestError, HashAlgorithm, Method, SerializationConfig};

use crate::error::ErrorClass;
use crate::fs::{append, atomic};
use crate::keys::{KeyError, KeyOptions, KeyRef, Signer};
use crate::oms::claims::{self, claim_line};
use crate::oms::{self, Bundle, OmsError, Statement, VerificationMaterial};
use crate::progress::Progress;
use crate::scan::{AllowList, ScanError, ScanResult};
use crate::timestamp::{TimestampError, TsaRequest};
use crate::tree::{self, RelPath, TreeError, WalkOptions, DEFAULT_IGNORES};
use std::path::{Path, PathBuf};

/// Errors while signing. All are input or environment errors (exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The model could not be walked.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The model could not be hashed.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The key refused or failed to sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signature file could not be written.
    #[error("{path}: cannot write signature: {source}")]
    Write {
        /// The signature path: the one asked for, or the default beside the model.
        path: PathBuf,
        /// The underlying error. The signature is written to a temporary and renamed, so `path`
        /// never holds a partial signature.
        source: std::io::Error,
    },
    /// The statement built from the model breaks a rule of the format (a name it cannot carry, …).
    #[error("{model}: cannot be signed: {source}")]
    Statement {
        /// The model that was hashed; nothing has been signed or written.
        model: PathBuf,
        /// The rule of the format the statement breaks, as [`Statement::check`] found it.
        source: OmsError,
    },
    /// The signature file exists and the output mode is [`OutputMode::CreateNew`].
    #[error("{}: already exists; refused without force (to replace it) or append (to add a line to a .jsonl claims file)", .0.display())]
    Exists(PathBuf),
    /// The signature path is a file of the model, which signing never replaces or changes.
    #[error("{path}: is a file of the model {model}; signing never replaces a model file: a signature inside the model must be a new file (or, appending, an existing .jsonl claims file)")]
    IntoModel {
        /// The signature path asked for.
        path: PathBuf,
        /// The model.
        model: PathBuf,
    },
    /// The options contradict each other.
    #[error("invalid signing options: {0}")]
    Options(String),
    /// The time-stamping authority gave no acceptable timestamp; nothing was written.
    #[error("cannot timestamp the signature: {0}")]
    Timestamp(#[from] TimestampError),
    /// The content gate (`SignOptions::scan`) found credentials in the model: nothing was signed
    /// or written. The result names each finding (file, position, rule, fingerprint), never the
    /// secret.
    #[error("{}: refused: {}", .0.model.display(), scan_refusal(.0))]
    Credentials(Box<ScanResult>),
    /// The content gate could not read the model or its allow-list.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The signing key could not be opened.
    #[error("cannot open signing key {key}")]
    OpenKey {
        /// The key reference as given.
        key: String,
        /// Why.
        #[source]
        source: KeyError,
    },
}

impl SignError {
    /// Credentials found by the content gate are a failed check (exit code 1, as a failed
    /// verification); every other error is a usage, input or environment error.
    pub fn class(&self) -> ErrorClass {
        match self {
            SignError::Credentials(_) => ErrorClass::Failed,
            _ => ErrorClass::Input,
        }
    }
}

/// `2 credentials found: .env:3 env-assignment (fingerprint …); …`, and what to do about them.
fn scan_refusal(result: &ScanResult) -> String {
    let listed: Vec<String> = result
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} (fingerprint {})",
                f.location(),
                f.rule,
                f.fingerprint
            )
        })
        .collect();
    format!(
        "{} credential(s) found: {}; remove them, list reviewed fingerprints in an allow-list, or turn the gate off for this run (--no-scan, scan=False)",
        result.findings.len(),
        listed.join("; ")
    )
}

/// Opens the signer the key reference `key` names, with the leaf certificate `certificate` (and
/// `chain`) attached for the certificate method — the one way every door opens a signing key.
/// A reference that does not parse is [`SignError::Key`]; a key that cannot be opened
/// [`SignError::OpenKey`], naming the reference.
pub fn open_signer(
    key: &str,
    certificate: Option<&Path>,
    chain: &[PathBuf],
    options: &KeyOptions,
) -> Result<Box<dyn Signer>, SignError> {
    let reference: KeyRef = key.parse()?;
    match certificate {
        Some(leaf) => crate::keys::open::open_certificate_signer(&reference, options, leaf, chain),
        None => crate::keys::open::open_signer(&reference, options),
    }
    .map_err(|source| SignError::OpenKey {
        key: key.to_string(),
        source,
    })
}

/// What to do with the signature file, which may exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Write a new file; an existing one is refused ([`SignError::Exists`]). The default.
    #[default]
    CreateNew,
    /// Write the file, replacing an existing one outside the model (`--force`).
    Replace,
    /// Append the signature as one line of a claims file (`.jsonl`), created if missing
    /// (`--append`); earlier lines are never rewritten.
    Append,
}

/// How to hash a model: what [`digest_model`] computes and [`sign_model`] signs. `Default` is what
/// model-signing 1.1.1's CLI does: files + SHA-256.
#[derive(Debug, Clone)]
pub struct DigestOptions {
    /// Hash of each resource.
    pub hash: HashAlgorithm,
    /// Files or shards.
    pub method: Method,
    /// Paths to leave out, relative to the model root or absolute inside it.
    pub ignore: Vec<PathBuf>,
    /// Follow symlinks to files instead of refusing them.
    pub allow_symlinks: bool,
}

impl Default for DigestOptions {
    fn default() -> Self {
        DigestOptions {
            hash: HashAlgorithm::Sha256,
            method: Method::Files,
            ignore: Vec::new(),
            allow_symlinks: false,
        }
    }
}

/// How to sign a model. `Default` is what model-signing 1.1.1's CLI does: files + SHA-256.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Hash of each resource.
    pub hash: HashAlgorithm,
    /// Files or shards.
    pub method: Method,
    /// Paths to leave out, relative to the model root or absolute inside it.
    pub ignore: Vec<PathBuf>,
    /// Follow symlinks to files instead of refusing them.
    pub allow_symlinks: bool,
    /// Where to write the signature; default [`default_signature_path`].
    pub signature: Option<PathBuf>,
    /// Ask this RFC 3161 time-stamping authority for a timestamp over the signature and store it
    /// in the bundle (`timestampVerificationData`); `None`: no timestamp.
    pub tsa: Option<TsaRequest>,
    /// A new file, a replaced one, or a line appended to a claims file.
    pub output: OutputMode,
    /// The content gate: search the model for credentials before hashing it and refuse to sign
    /// on a finding not in this allow-list ([`SignError::Credentials`]); `None`: no gate.
    pub scan: Option<AllowList>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            hash: HashAlgorithm::Sha256,
            method: Method::Files,
            ignore: Vec::new(),
            allow_symlinks: false,
            signature: None,
            tsa: None,
            output: OutputMode::CreateNew,
            scan: None,
        }
    }
}

impl SignOptions {
    /// How the model is hashed.
    pub fn digest_options(&self) -> DigestOptions {
        DigestOptions {
            hash: self.hash,
            method: self.method,
            ignore: self.ignore.clone(),
            allow_symlinks: self.allow_symlinks,
        }
    }
}

/// What signing produced.
#[derive(Debug, Clone)]
#[non_exhaustive] // made only by core: readable, not constructible, outside it
pub struct SignOutcome {
    /// Where the bundle was written.
    pub signature_path: PathBuf,
    /// The signed statement.
    pub statement: Statement,
    /// OMS key hint of the signing key.
    pub key_hint: String,
    /// `"key"` or `"certificate"`.
    pub method: &'static str,
    /// Things the user should know (e.g. an algorithm 1.1.1 cannot verify).
    pub warnings: Vec<String>,
}

/// `out/model` → `out/model.sig`; `model.bin` → `model.bin.sig` (beside the model, never inside it).
pub fn default_signature_path(model: &Path) -> PathBuf {
    let name = tree::model_name(model);
    let parent = match model.file_name() {
        Some(_) => model.parent().map(Path::to_path_buf).unwrap_or_default(),
        // `.` or `..`: the model's real parent.
        None => model
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| model.join("..")),
    };
    parent.join(format!("{name}.sig"))
}

/// Signs the model at `model` with `signer` and writes the bundle (see the module doc for where
/// and how).
pub fn sign_model(
    model: &Path,
    signer: &dyn Signer,
    options: &SignOptions,
    progress: &dyn Progress,
) -> Result<SignOutcome, SignError> {
    let plan = plan_signing(model, options)?;
    progress.begin(plan.tree.total_len());
    let resources = digest::hash_tree(&plan.tree, &plan.config, progress)?;
    finish_signing(&plan, resources, signer)
}

/// The statement signing `model` would sign, without a key and without writing anything: its
/// root digest (`subject[0].digest.sha256`, OMS v1.0 §6.5.1) is the model's digest, as
/// model-signing's `digest` command prints it. Refused like signing is (an empty model, a name
/// the format cannot carry).
pub fn digest_model(
    model: &Path,
    options: &DigestOptions,
    progress: &dyn Progress,
) -> Result<Statement, SignError> {
    let (tree, config) = walk_for_signing(model, options, None)?;
    progress.begin(tree.total_len());
    let resources = digest::hash_tree(&tree, &config, progress)?;
    checked_statement(model, config, resources)
}

/// What signing a model hashes and records, before any byte is read: the walked tree, the
/// serialization config of the statement, where the signature goes and how it is written. `seal`
/// uses it to hash the model in its encryption pass instead of in a pass of its own.
pub(crate) struct SignPlan {
    /// The model as given.
    pub model: PathBuf,
    /// Its files, in signing order.
    pub tree: tree::ModelTree,
    /// The statement's serialization config.
    pub config: SerializationConfig,
    /// Where the bundle is written.
    pub signature_path: PathBuf,
    /// A new file, a replaced one, or a line appended.
    pub output: OutputMode,
    /// The time-stamping authority asked for a timestamp over the signature, if any.
    pub tsa: Option<TsaRequest>,
}

/// Checks where the signature may go (before any hashing: a refused output costs nothing), then
/// walks `model` as [`sign_model`] does and fixes the statement's config.
pub(crate) fn plan_signing(model: &Path, options: &SignOptions) -> Result<SignPlan, SignError> {
    let signature_path = options
        .signature
        .clone()
        .unwrap_or_else(|| default_signature_path(model));
    check_output(model, &signature_path, options.output)?;
    let (tree, config) = walk_for_signing(model, &options.digest_options(), Some(&signature_path))?;
    if let Some(allow) = &options.scan {
        let result = crate::scan::scan_tree(&tree, allow)?;
        if !result.clean() {
            return Err(SignError::Credentials(Box::new(result)));
        }
    }
    Ok(SignPlan {
        model: model.to_path_buf(),
        tree,
        config,
        signature_path,
        output: options.output,
        tsa: options.tsa.clone(),
    })
}

/// Signs the statement of `plan` over `resources` (in signing order) and writes the bundle as
/// the plan's output mode says.
pub(crate) fn finish_signing(
    plan: &SignPlan,
    resources: Vec<digest::Resource>,
    signer: &dyn Signer,
) -> Result<SignOutcome, SignError> {
    finish_signing_all(plan, resources, &[signer])?
        .pop()
        .ok_or_else(|| SignError::Options("no signing key given".into()))
}

/// [`finish_signing`] with every signer of `signers` over the one statement: one bundle each, in
/// the order given, written together (a new or replaced file holds them all, an appended claims
/// file gets them all in one locked write). One signer writes exactly what [`finish_signing`]
/// always wrote; several need a claims file (`.jsonl`), the form verifiers read many signatures in.
pub(crate) fn finish_signing_all(
    plan: &SignPlan,
    resources: Vec<digest::Resource>,
    signers: &[&dyn Signer],
) -> Result<Vec<SignOutcome>, SignError> {
    if signers.is_empty() {
        return Err(SignError::Options("no signing key given".into()));
    }
    if signers.len() > 1 && !claims::is_claims_path(&plan.signature_path) {
        return Err(several_need_claims(&plan.signature_path));
    }
    let statement = checked_statement(&plan.model, plan.config.clone(), resources)?;
    let mut bundles = Vec::with_capacity(signers.len());
    for signer in signers {
        let mut bundle = sign_statement(&statement, *signer)?;
        if let Some(tsa) = &plan.tsa {
            bundle
                .timestamps
                .push(crate::timestamp::request(tsa, &bundle.signature)?);
        }
        bundles.push(bundle);
    }
    write_signatures(&plan.signature_path, &bundles, plan.output)?;
    Ok(signers
        .iter()
        .zip(&bundles)
        .map(|(signer, bundle)| {
            let algorithm = signer.public_key().algorithm();
            let mut warnings = Vec::new();
            if !algorithm.oms_interoperable() {
                warnings.push(format!(
                    "{} signatures are a modelseal extension: model-signing 1.1.1 cannot verify them",
                    algorithm.name()
                ));
            }
            SignOutcome {
                signature_path: plan.signature_path.clone(),
                statement: statement.clone(),
                key_hint: signer.public_key().hint(),
                method: method_name(&bundle.material),
                warnings,
            }
        })
        .collect())
}

/// Several signatures of one statement go into a claims file: any other signature file holds one.
pub(crate) fn several_need_claims(path: &Path) -> SignError {
    SignError::Options(format!(
        "several keys sign into a claims file, whose name ends in .{}: {}",
        claims::EXTENSION,
        path.display()
    ))
}

/// Walks `model` for signing, leaving out the user's ignores, the git paths and `signature` when
/// it lies inside the model (all recorded in `ignore_paths` of the returned config).
fn walk_for_signing(
    model: &Path,
    options: &DigestOptions,
    signature: Option<&Path>,
) -> Result<(tree::ModelTree, SerializationConfig), SignError> {
    if let (Method::Shards { .. }, HashAlgorithm::Blake3) = (options.method, options.hash) {
        return Err(SignError::Options(
            "blake3 is not sharded (it hashes one file in parallel already); use files serialization with blake3"
                .into(),
        ));
    }
    // An ignore path at or outside the model root is refused: it would sign nothing (or not
    // what the user meant) and verify anything.
    let mut ignore = tree::resolve_sign_ignores(model, &options.ignore)?;
    if let Some(sig) = signature.and_then(|s| crate::location::resolve_inside(model, s)) {
        tree::push_unique(&mut ignore, sig);
    }
    let walk = WalkOptions {
        ignore: ignore.clone(),
        ignore_git_paths: true,
        allow_symlinks: options.allow_symlinks,
    };
    let model_tree = crate::location::walk(model, &walk)?;
    let config = SerializationConfig {
        method: options.method,
        hash: options.hash,
        allow_symlinks: options.allow_symlinks,
        ignore_paths: recorded_ignore_paths(
            &ignore,
            model_tree.single_file,
            model
                .join(tree::HUGGING_FACE_LOCAL_DIR_CACHE)
                .symlink_metadata()
                .is_ok(),
        ),
    };
    Ok((model_tree, config))
}

/// The statement over `resources`, refused when no verifier would accept it (rather than found
/// out at verification time).
fn checked_statement(
    model: &Path,
    config: SerializationConfig,
    resources: Vec<digest::Resource>,
) -> Result<Statement, SignError> {
    let statement = Statement::new(tree::model_name(model), config, resources);
    statement.check().map_err(|source| SignError::Statement {
        model: model.to_path_buf(),
        source,
    })?;
    Ok(statement)
}

/// Refuses a signature path the output mode does not allow: an existing file unless replacing or
/// appending, appending to anything but a `.jsonl` claims file, and any existing file of the model
/// (only a new path inside the model, or an existing claims file when appending, is allowed).
fn check_output(model: &Path, signature: &Path, mode: OutputMode) -> Result<(), SignError> {
    if mode == OutputMode::Append && !claims::is_claims_path(signature) {
        return Err(SignError::Options(format!(
            "append adds a line to a claims file, whose name ends in .{}: {}",
            claims::EXTENSION,
            signature.display()
        )));
    }
    if signature.symlink_metadata().is_err() {
        return Ok(());
    }
    let into_model = || SignError::IntoModel {
        path: signature.to_path_buf(),
        model: model.to_path_buf(),
    };
    match mode {
        OutputMode::CreateNew => Err(SignError::Exists(signature.to_path_buf())),
        OutputMode::Replace if inside_model(model, signature) => Err(into_model()),
        OutputMode::Append if inside_model(model, signature) && !is_claims_file(signature) => {
            Err(into_model())
        }
        OutputMode::Replace | OutputMode::Append => Ok(()),
    }
}

/// True when `signature` names the model itself or a path inside it (through symlinks of the
/// directories on the way; the last component is taken as named, as writing treats it).
fn inside_model(model: &Path, signature: &Path) -> bool {
    let Ok(root) = model.canonicalize() else {
        // A model that cannot be resolved cannot be walked either: signing fails there.
        return false;
    };
    let parent = crate::fs::commit::parent_dir(signature);
    let Ok(parent) = parent.canonicalize() else {
        return false;
    };
    match signature.file_name() {
        Some(name) => parent.join(name).starts_with(&root),
        // `..`, `/`: a directory, never a signature file of ours.
        None => signature.canonicalize().is_ok_and(|p| p.starts_with(&root)),
    }
}

/// True when `path` is already a readable claims file: every line a bundle.
fn is_claims_file(path: &Path) -> bool {
    append::read_locked(path, oms::MAX_BUNDLE_BYTES)
        .is_ok_and(|bytes| claims::parse_claims(&bytes).is_ok())
}

/// Writes the bundles as the output mode says: a new file or a replaced one (atomically), or
/// lines appended to a claims file in one locked write. One bundle is its line (what a
/// single-bundle file has always held); several are a claims file's lines.
fn write_signatures(path: &Path, bundles: &[Bundle], mode: OutputMode) -> Result<(), SignError> {
    let line: String = bundles.iter().map(claim_line).collect();
    let remote = match mode {
        // Claims files are appended under a lock, which object storage cannot take.
        OutputMode::Append => None,
        _ => crate::location::write_object(
            path,
            line.clone().into_bytes(),
            mode == OutputMode::Replace,
        ),
    };
    let written = match (remote, mode) {
        (Some(written), _) => written,
        (None, OutputMode::Append) if crate::location::Location::object(path).is_some() => {
            return Err(SignError::Options(format!(
                "append adds a line to a local claims file; {} is in object storage",
                path.display()
            )))
        }
        (None, mode) => match mode {
            OutputMode::CreateNew => {
                atomic::write_atomic(path, line.as_bytes(), atomic::MODE_PUBLIC, false)
            }
            OutputMode::Replace => {
                atomic::write_atomic(path, line.as_bytes(), atomic::MODE_PUBLIC, true)
            }
            OutputMode::Append => append::append_locked(path, line.as_bytes(), atomic::MODE_PUBLIC),
        },
    };
    written.map_err(|source| match source.kind() {
        // Created by someone else while we hashed.
        std::io::ErrorKind::AlreadyExists => SignError::Exists(path.to_path_buf()),
        _ => SignError::Write {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Signs a statement: DSSE over its JSON bytes, wrapped in a Sigstore bundle naming the signer.
pub fn sign_statement(statement: &Statement, signer: &dyn Signer) -> Result<Bundle, KeyError> {
    let payload = statement.to_json();
    let signature = signer.sign(&oms::pae(oms::PAYLOAD_TYPE, &payload))?;
    let chain = signer.certificate_chain();
    let material = if chain.is_empty() {
        VerificationMaterial::PublicKey {
            hint: Some(signer.public_key().hint()),
        }
    } else {
        VerificationMaterial::Certificates(chain.to_vec())
    };
    Ok(Bundle {
        material,
        payload_type: oms::PAYLOAD_TYPE.to_string(),
        payload,
        signature,
        timestamps: Vec::new(),
    })
}

fn method_name(material: &VerificationMaterial) -> &'static str {
    match material {
        VerificationMaterial::Certificates(_) => "certificate",
        _ => "key",
    }
}

/// The `ignore_paths` recorded in the predicate: what 1.1.1 records (user paths, the signature
/// file, the git paths), so a verifier re-applies them. A single-file model records only the git
/// paths, as 1.1.1 does (everything else is relative to a file and falls outside it). A directory
/// holding a Hugging Face `--local-dir` cache also records it (`hf_cache`), as it was skipped.
fn recorded_ignore_paths(ignore: &[RelPath], single_file: bool, hf_cache: bool) -> Vec<String> {
    let mut out: Vec<String> = if single_file {
        Vec::new()
    } else {
        ignore.iter().map(|p| p.as_str().to_string()).collect()
    };
    let hf_cache = (hf_cache && !single_file).then_some(tree::HUGGING_FACE_LOCAL_DIR_CACHE);
    for default in DEFAULT_IGNORES.into_iter().chain(hf_cache) {
        if !out.iter().any(|p| p == default) {
            out.push(default.to_string());
        }
    }
    out
}

/// The smallest shard size [`tensor_aligned_shard_size`] picks: smaller tensors do not shrink the
/// shards further (a bias of a few KiB would make millions of shards and a statement of
/// hundreds of MiB); a tensor under twice this verifies at most itself plus two such shards.
pub const TENSOR_ALIGNED_MIN_SHARD: u64 = 1 << 20;

/// The largest shard size [`tensor_aligned_shard_size`] picks (1 GiB, about OMS's default).
pub const TENSOR_ALIGNED_MAX_SHARD: u64 = 1 << 30;

/// The largest safetensors header read to choose a shard size (the format's reference limit).
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// A uniform OMS shard size for the safetensors files of `model` (walked as signing walks it
/// under `options`) such that reading any one tensor of at least twice
/// [`TENSOR_ALIGNED_MIN_SHARD`] verifies less than twice its bytes: the largest power of two
/// at most half the smallest such tensor, within [`TENSOR_ALIGNED_MIN_SHARD`] ..=
/// [`TENSOR_ALIGNED_MAX_SHARD`], and at least `total / 65536` rounded up to a power of two (so
/// a statement lists at most about 65536 shards of these files).
///
/// Why half: a tensor of `t` bytes at any offset overlaps at most `⌊(t−1)/S⌋ + 2` shards of size
/// `S`, `t − 1 + 2S` bytes, which is under `2t` when `S ≤ t/2`. A power of two (≥ 1 MiB) is a
/// multiple of an encrypted model's chunk size (1 MiB by default), so a shard's chunks are its
/// own. The size is an ordinary OMS `shard_size`: nothing outside the standard statement is
/// recorded, and any OMS verifier (model-signing re-shards by it) verifies the result. Only the
/// headers are read (unverified: they only choose a size). `Err` when the model holds no
/// safetensors file, or one whose header does not parse.
pub fn tensor_aligned_shard_size(model: &Path, options: &DigestOptions) -> Result<u64, SignError> {
    let (tree, _) = walk_for_signing(model, options, None)?;
    let mut smallest: Option<u64> = None;
    let mut total = 0u64;
    let mut any = false;
    for file in tree
        .files
        .iter()
        .filter(|f| f.name.as_str().ends_with(".safetensors"))
    {
        any = true;
        total = total.saturating_add(file.len);
        let refuse = |reason: String| {
            SignError::Options(format!(
                "tensor-aligned shards: {}: not a safetensors file: {reason}",
                file.path.display()
            ))
        };
        for size in safetensors_tensor_sizes(file).map_err(refuse)? {
            if size >= 2 * TENSOR_ALIGNED_MIN_SHARD {
                smallest = Some(smallest.map_or(size, |s| s.min(size)));
            }
        }
    }
    if !any {
        return Err(SignError::Options(format!(
            "tensor-aligned shards: {} holds no .safetensors file",
            model.display()
        )));
    }
    let floor = (total / 65536)
        .max(1)
        .next_power_of_two()
        .max(TENSOR_ALIGNED_MIN_SHARD);
    let half = smallest.map_or(TENSOR_ALIGNED_MIN_SHARD, |t| t / 2);
    // The largest power of two ≤ half.
    let fitting = 1u64 << (63 - half.leading_zeros());
    Ok(fitting.clamp(
        floor.min(TENSOR_ALIGNED_MAX_SHARD),
        TENSOR_ALIGNED_MAX_SHARD,
    ))
}

/// The byte sizes of the tensors of one safetensors file, from its header.
fn safetensors_tensor_sizes(file: &tree::ModelFile) -> Result<Vec<u64>, String> {
    use std::io::Read;
    let mut opened = file.open().map_err(|e| e.to_string())?;
    let mut len = [0u8; 8];
    opened
        .read_exact(&mut len)
        .map_err(|_| "shorter than its header length".to_string())?;
    let len = u64::from_le_bytes(len);
    if len > MAX_SAFETENSORS_HEADER || len > file.len.saturating_sub(8) {
        return Err(format!("header length {len} is impossible"));
    }
    let mut header = Vec::new();
    opened
        .take(len)
        .read_to_end(&mut header)
        .map_err(|e| e.to_string())?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("header: {e}"))?;
    header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .map(|(name, tensor)| {
            let offsets = tensor
                .get("data_offsets")
                .and_then(|o| o.as_array())
                .map(|o| {
                    o.iter()
                        .filter_map(serde_json::Value::as_u64)
                        .collect::<Vec<_>>()
                });
            match offsets.as_deref() {
                Some([start, end]) if start <= end => Ok(end - start),
                _ => Err(format!("tensor {name:?} has no valid data_offsets")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_signature_path_is_beside_the_model() {
        assert_eq!(
            default_signature_path(Path::new("out/model")),
            PathBuf::from("out/model.sig")
        );
        assert_eq!(
            default_signature_path(Path::new("model.bin")),
            PathBuf::from("model.sig").with_file_name("model.bin.sig")
        );
    }

    #[test]
    fn recorded_ignores_follow_the_reference() {
        let user = vec![RelPath::new("README.md").unwrap()];
        assert_eq!(
            recorded_ignore_paths(&user, false, false),
            vec![
                "README.md",
                ".git",
                ".gitattributes",
                ".github",
                ".gitignore"
            ]
        );
        assert_eq!(
            recorded_ignore_paths(&user, true, true),
            vec![".git", ".gitattributes", ".github", ".gitignore"]
        );
        // A Hugging Face `--local-dir` cache is recorded only where the model has one.
        assert_eq!(
            recorded_ignore_paths(&[], false, true),
            vec![
                ".git",
                ".gitattributes",
                ".github",
                ".gitignore",
                ".cache/huggingface"
            ]
        );
    }

    /// The shard size is the largest power of two at most half the smallest tensor of ≥ 2 MiB,
    /// with a 1 MiB floor; tiny tensors do not lower it; no safetensors file is refused.
    #[test]
    fn tensor_aligned_shards_are_at_most_half_the_smallest_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        // Headers only: the sizes come from data_offsets.
        let write = |name: &str, sizes: &[u64]| {
            let mut at = 0;
            let mut header = serde_json::Map::new();
            header.insert("__metadata__".into(), serde_json::json!({"format": "np"}));
            for (i, size) in sizes.iter().enumerate() {
                header.insert(
                    format!("t{i}"),
                    serde_json::json!({"dtype": "U8", "shape": [size], "data_offsets": [at, at + size]}),
                );
                at += size;
            }
            let header = serde_json::to_vec(&header).unwrap();
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(&header);
            std::fs::write(model.join(name), bytes).unwrap();
        };
        let size = |m: &Path| tensor_aligned_shard_size(m, &DigestOptions::default());
        write("a.safetensors", &[16, 4 << 20, 32 << 20]);
        write("b.safetensors", &[3 << 20, 100]);
        std::fs::write(model.join("config.json"), b"{}").unwrap();
        // Smallest counted tensor 3 MiB: half is 1.5 MiB, the power of two below it 1 MiB.
        assert_eq!(size(&model).unwrap(), 1 << 20);
        write("b.safetensors", &[9 << 20]);
        assert_eq!(size(&model).unwrap(), 2 << 20);
        write("a.safetensors", &[16, 100]);
        write("b.safetensors", &[5]);
        assert_eq!(size(&model).unwrap(), TENSOR_ALIGNED_MIN_SHARD);
        std::fs::write(model.join("b.safetensors"), b"not safetensors").unwrap();
        assert!(size(&model)
            .unwrap_err()
            .to_string()
            .contains("b.safetensors"));
        std::fs::remove_file(model.join("a.safetensors")).unwrap();
        std::fs::remove_file(model.join("b.safetensors")).unwrap();
        assert!(size(&model)
            .unwrap_err()
            .to_string()
            .contains("no .safetensors file"));
    }
}
