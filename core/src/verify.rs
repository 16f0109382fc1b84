//! Verifying a model against an OMS signature and a [`Trust`].
//!
//! The steps are those of model-signing 1.1.1 and then some (see `../shared/OMS-NOTES.md`): media
//! type → signer (key hint, certificate chain) → signature over the exact payload bytes → payload
//! type, statement type, predicate type, one subject → root digest → re-hash the local model with the
//! *signed* serialization (hash, method, shard size, `allow_symlinks`, `ignore_paths`) → exact
//! comparison, reporting every missing, extra and changed file by name.
//!
//! A [`VerifiedModel`] can only be obtained from [`verify_model`]: its fields are private and it has
//! no constructor, so code that holds one knows the checks ran.

use crate::digest::{self, DigestError, ManifestDiff, Method, Resource, SerializationConfig};
use crate::error::ErrorClass;

use crate::oms::{self, Bundle, OmsError, Statement};
use crate::progress::Progress;
use crate::sigstore::SigstoreError;
use crate::tree::resolve_user_ignores;
use crate::tree::{self, RelPath, TreeError, WalkOptions, DEFAULT_IGNORES};
use crate::trust::{SignerIdentity, Trust, TrustError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Why verification did not succeed. [`VerifyError::class`] separates "the model
/// or signature is not what was signed by a trusted key" (exit 1) from input errors (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature file could not be read.
    #[error("{path}: cannot read signature: {source}")]
    ReadSignature {
        /// The signature file.
        path: PathBuf,
        /// The underlying error (a file over [`oms::MAX_BUNDLE_BYTES`] is reported here too).
        source: std::io::Error,
    },
    /// The signature file is not a well-formed bundle.
    #[error("{path}: {source}")]
    Malformed {
        /// The signature file.
        path: PathBuf,
        /// What is wrong with it, or ([`OmsError::Unsupported`]) which kind of bundle modelseal
        /// does not verify.
        source: OmsError,
    },
    /// Trust material could not be loaded.
    #[error(transparent)]
    TrustInput(TrustError),
    /// The model could not be walked (missing, unreadable, a refused symlink, …).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The model could not be hashed.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The signer is not trusted or the signature is invalid.
    #[error("{path}: {source}")]
    Untrusted {
        /// The signature file.
        path: PathBuf,
        /// Why the trust rejected it: another key or method, a certificate or keyless check
        /// that failed, or a signature that does not verify.
        source: TrustError,
    },
    /// The signed statement is not a valid OMS statement.
    #[error("{path}: signed statement rejected: {reason}")]
    BadStatement {
        /// The signature file (its signature verified; the statement it signs did not parse).
        path: PathBuf,
        /// Why: a payload type other than in-toto, or the statement's own parse error.
        reason: String,
    },
    /// A file of the model is a symlink (allowed by the signature) that leads outside the
    /// directory the verification is confined to (`serve --root`).
    #[error("{path}: a symlink in the model leads outside the root directory")]
    OutsideRoot {
        /// The model file (the link).
        path: PathBuf,
    },
    /// The model differs from what was signed (the signature itself verified).
    #[error("{}", describe_mismatch(.model, .diff))]
    Mismatch {
        /// The model path that was re-hashed.
        model: PathBuf,
        /// The signed root digest (lowercase hex) the model failed to match.
        signed_root_digest: String,
        /// Which signed resources are missing, extra or changed (never empty).
        diff: ManifestDiff,
    },
}

impl VerifyError {
    /// [`ErrorClass::Failed`] for verification failures (tampered model, untrusted signer, bad
    /// signature); [`ErrorClass::Input`] for input errors (missing files, malformed signature
    /// file, unreadable trust material).
    pub fn class(&self) -> ErrorClass {
        match self {
            VerifyError::Untrusted { .. }
            | VerifyError::BadStatement { .. }
            | VerifyError::Mismatch { .. } => ErrorClass::Failed,
            _ => ErrorClass::Input,
        }
    }

    /// One message per problem, for machine-readable output.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            VerifyError::Mismatch { diff, .. } => diff_reasons(diff),
            other => vec![other.to_string()],
        }
    }
}

/// Options of a verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// More paths to leave out, relative to the model root or absolute inside it.
    pub ignore: Vec<PathBuf>,
    /// Hash only the files the signature lists: extra files in the model are tolerated.
    pub ignore_unsigned_files: bool,
}

/// A model whose signature verified under a trust and whose files match the signed statement.
#[derive(Debug, Clone)]
pub struct VerifiedModel {
    model: PathBuf,
    signature: PathBuf,
    statement: Statement,
    signer: SignerIdentity,
}

impl VerifiedModel {
    /// The model path that was verified.
    pub fn model(&self) -> &Path {
        &self.model
    }
    /// The signature file that verified it.
    pub fn signature(&self) -> &Path {
        &self.signature
    }
    /// The statement's root digest (lowercase hex SHA-256).
    pub fn root_digest_hex(&self) -> String {
        hex::encode(self.statement.root_digest)
    }
    /// The informative model name recorded by the signer.
    pub fn subject_name(&self) -> &str {
        &self.statement.subject_name
    }
    /// How the model was serialized and hashed.
    pub fn serialization(&self) -> &SerializationConfig {
        &self.statement.serialization
    }
    /// The verified resources, in signed order.
    pub fn resources(&self) -> &[Resource] {
        &self.statement.resources
    }
    /// Who signed.
    pub fn signer(&self) -> &SignerIdentity {
        &self.signer
    }
}

/// Reads and parses a signature file (bounded by [`oms::MAX_BUNDLE_BYTES`]) without verifying it.
pub fn read_bundle(path: &Path) -> Result<Bundle, VerifyError> {
    BundleBudget::new(BundleLimits::default()).read(path)
}

/// How many bytes of signature files one verification may read: per file and in total. A
/// server lowers both so that one request cannot make it hold much memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Most bytes of one signature file (at most [`oms::MAX_BUNDLE_BYTES`] is ever read).
    pub per_bundle: u64,
    /// Most bytes of all the signature files of one verification together.
    pub total: u64,
}

impl Default for BundleLimits {
    /// [`oms::MAX_BUNDLE_BYTES`] per file, no total limit.
    fn default() -> BundleLimits {
        BundleLimits {
            per_bundle: oms::MAX_BUNDLE_BYTES,
            total: u64::MAX,
        }
    }
}

impl BundleLimits {
    /// The error for one signature file over [`BundleLimits::per_bundle`].
    pub fn too_large(&self) -> std::io::Error {
        let limit = self.per_bundle.min(oms::MAX_BUNDLE_BYTES);
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit for a signature"),
        )
    }

    /// The error for signature files over [`BundleLimits::total`] together.
    pub fn too_large_in_total(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the signatures of one verification are larger than the {}-byte limit in total",
                self.total
            ),
        )
    }
}

/// What is left of [`BundleLimits`] while the signature files of one verification are read, one
/// at a time (each is parsed and checked before the next is read, so at most one is in memory).
#[derive(Debug)]
pub struct BundleBudget {
    limits: BundleLimits,
    spent: u64,
}

impl BundleBudget {
    /// A budget with nothing spent yet.
    pub fn new(limits: BundleLimits) -> BundleBudget {
        BundleBudget { limits, spent: 0 }
    }

    /// Reads and parses the signature file at `path`, refusing it (before it is read whole)
    /// when it is larger than the per-file limit or than what is left of the total.
    pub fn read(&mut self, path: &Path) -> Result<Bundle, VerifyError> {
        let per_bundle = self.limits.per_bundle.min(oms::MAX_BUNDLE_BYTES);
        let left = self.limits.total.saturating_sub(self.spent);
        let bytes = read_bounded(path, per_bundle.min(left))
            .and_then(|bytes| match bytes {
                Bounded::Within(bytes) => Ok(bytes),
                Bounded::Over(seen) if seen > per_bundle => Err(self.limits.too_large()),
                Bounded::Over(_) => Err(self.limits.too_large_in_total()),
            })
            .map_err(|source| VerifyError::ReadSignature {
                path: path.to_path_buf(),
                source,
            })?;
        self.spent = self.spent.saturating_add(bytes.len() as u64);
        Bundle::parse(&bytes).map_err(|source| VerifyError::Malformed {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Verifies `model` against the signature at `signature` under `trust`.
pub fn verify_model(
    model: &Path,
    signature: &Path,
    trust: &Trust,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifiedModel, VerifyError> {
    let bundle = read_bundle(signature)?;
    let (statement, signer) = verify_bundle(&bundle, signature, trust)?;
    check_model(model, signature, &statement, options, None, progress)?;
    Ok(VerifiedModel {
        model: model.to_path_buf(),
        signature: signature.to_path_buf(),
        statement,
        signer,
    })
}

/// Checks the bundle's signer and signature, then parses the signed statement.
pub(crate) fn verify_bundle(
    bundle: &Bundle,
    path: &Path,
    trust: &Trust,
) -> Result<(Statement, SignerIdentity), VerifyError> {
    let signer = trust.check_bundle(bundle).map_err(|source| match source {
        TrustError::Load { .. } => VerifyError::TrustInput(source),
        // A keyless bundle of a kind modelseal cannot check is an input problem, as for
        // other unsupported bundles.
        TrustError::Sigstore(SigstoreError::Unsupported(reason)) => VerifyError::Malformed {
            path: path.to_path_buf(),
            source: OmsError::Unsupported(reason),
        },
        source => VerifyError::Untrusted {
            path: path.to_path_buf(),
            source,
        },
    })?;
    Ok((parse_statement(bundle, path)?, signer))
}

/// Parses the statement a bundle signs (its payload type must be in-toto); call it only after the
/// signature verified, so that nothing unauthenticated is acted on.
pub(crate) fn parse_statement(bundle: &Bundle, path: &Path) -> Result<Statement, VerifyError> {
    let bad = |reason: String| VerifyError::BadStatement {
        path: path.to_path_buf(),
        reason,
    };
    if bundle.payload_type != oms::PAYLOAD_TYPE {
        return Err(bad(format!(
            "payload type {:?}, expected {:?}",
            bundle.payload_type,
            oms::PAYLOAD_TYPE
        )));
    }
    Statement::parse(&bundle.payload).map_err(|e| bad(e.to_string()))
}

/// Re-hashes the local model with the signed serialization and compares it with the statement;
/// `Ok` names the signature file when it lies inside the model and was exempt from hashing.
///
/// With `confine_to` (a canonical directory), every file read must resolve inside it: a signature
/// with `allow_symlinks` cannot make the verifier read through a link out of that directory.
pub(crate) fn check_model(
    model: &Path,
    signature: &Path,
    statement: &Statement,
    options: &VerifyOptions,
    confine_to: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Option<RelPath>, VerifyError> {
    let config = &statement.serialization;
    let (mut model_tree, exempt) = walk_with_exemption(model, signature, statement, options)?;
    // Names (and shard ranges) first: a file is read only if the signed manifest lists exactly
    // the resources it gives, so naming a large tree with a small model's signature costs a
    // walk, not a hash of the tree.
    let unhashed = keep_signed_files(&mut model_tree, statement, config.method)?;
    if let (Some(root), true) = (confine_to, config.allow_symlinks) {
        confine(&model_tree, root)?;
    }
    progress.begin(model_tree.total_len());
    let actual = digest::hash_tree(&model_tree, config, progress)?;
    let mut diff = digest::compare(&statement.resources, &actual);
    account_unhashed(&mut diff, statement, unhashed);
    if diff.is_empty() {
        Ok(exempt)
    } else {
        Err(VerifyError::Mismatch {
            model: model.to_path_buf(),
            signed_root_digest: hex::encode(statement.root_digest),
            diff,
        })
    }
}

/// Lists `model` as verification sees it under `statement`: the signed and the caller's ignores,
/// symlinks as the signer allowed them, and (with `ignore_unsigned_files`) only signed files.
pub(crate) fn walk_for(
    model: &Path,
    signature: &Path,
    statement: &Statement,
    options: &VerifyOptions,
) -> Result<tree::ModelTree, VerifyError> {
    Ok(walk_with_exemption(model, signature, statement, options)?.0)
}

/// [`walk_for`], also naming the signature file when it lies inside the model and is exempt
/// ([`signature_exemption`]).
fn walk_with_exemption(
    model: &Path,
    signature: &Path,
    statement: &Statement,
    options: &VerifyOptions,
) -> Result<(tree::ModelTree, Option<RelPath>), VerifyError> {
    let config = &statement.serialization;
    let signed_files = signed_file_names(&statement.resources, config.method);
    let (ignore, exempt) = verification_ignores(model, signature, config, options, &signed_files);
    let walk = WalkOptions {
        ignore,
        // The defaults are added explicitly by `verification_ignores`, minus any the signer hashed.
        ignore_git_paths: false,
        allow_symlinks: config.allow_symlinks,
    };
    let mut model_tree = tree::walk(model, &walk)?;
    if options.ignore_unsigned_files {
        model_tree
            .files
            .retain(|f| signed_files.contains(f.name.as_str()));
    }
    Ok((model_tree, exempt))
}

/// Refuses a file of `model_tree` that resolves outside `root` (canonical).
fn confine(model_tree: &tree::ModelTree, root: &Path) -> Result<(), VerifyError> {
    for file in &model_tree.files {
        let inside = file
            .path
            .canonicalize()
            .is_ok_and(|real| real.starts_with(root));
        if !inside {
            return Err(VerifyError::OutsideRoot {
                path: file.path.clone(),
            });
        }
    }
    Ok(())
}

/// Keeps in `model_tree` only the files whose resource names (`path`, or every `path:start:end`
/// at the file's current size) are exactly the ones the statement signs for that file; returns
/// the resource names of the files left out, which are not read at all.
fn keep_signed_files(
    model_tree: &mut tree::ModelTree,
    statement: &Statement,
    method: Method,
) -> Result<Vec<String>, VerifyError> {
    let mut signed_by_file: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for resource in &statement.resources {
        if let Some(file) = digest::resource_file(&resource.name, method) {
            signed_by_file
                .entry(file)
                .or_default()
                .insert(resource.name.as_str());
        }
    }
    let planned = digest::resource_names(model_tree, method)?;
    let mut unhashed = Vec::new();
    let mut keep = Vec::with_capacity(planned.len());
    for (file, names) in model_tree.files.iter().zip(planned) {
        let signed = signed_by_file.get(file.name.as_str());
        let same = match signed {
            Some(signed) => {
                names.len() == signed.len() && names.iter().all(|n| signed.contains(n.as_str()))
            }
            None => names.is_empty(),
        };
        keep.push(same);
        if !same {
            unhashed.extend(names);
        }
    }
    let mut keep = keep.into_iter();
    model_tree.files.retain(|_| keep.next().unwrap_or(false));
    Ok(unhashed)
}

/// Adds the resources of files that were not hashed to `diff`: a signed name is `changed` (its
/// file exists but does not give the signed resources), an unsigned one `extra`.
fn account_unhashed(diff: &mut ManifestDiff, statement: &Statement, unhashed: Vec<String>) {
    if unhashed.is_empty() {
        return;
    }
    let signed: HashSet<&str> = statement
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let (changed, extra): (Vec<String>, Vec<String>) = unhashed
        .into_iter()
        .partition(|n| signed.contains(n.as_str()));
    let present: HashSet<&str> = changed.iter().map(String::as_str).collect();
    diff.missing.retain(|n| !present.contains(n.as_str()));
    let merge = |into: &mut Vec<String>, more: Vec<String>| {
        let mut all: BTreeSet<String> = std::mem::take(into).into_iter().collect();
        all.extend(more);
        *into = all.into_iter().collect();
    };
    merge(&mut diff.changed, changed);
    merge(&mut diff.extra, extra);
}

/// The ignore list at verification: the signed `ignore_paths`, the user's, the signature file when
/// it is exempt ([`signature_exemption`], also returned), and the default git paths unless the
/// signer hashed files under them.
fn verification_ignores(
    model: &Path,
    signature: &Path,
    config: &SerializationConfig,
    options: &VerifyOptions,
    signed_files: &HashSet<&str>,
) -> (Vec<RelPath>, Option<RelPath>) {
    let mut ignore = resolve_user_ignores(model, &options.ignore);
    // Signed ignore paths that are not valid relative names (e.g. `../x`) cannot match a model file.
    ignore.extend(
        config
            .ignore_paths
            .iter()
            .filter_map(|p| RelPath::new(p).ok()),
    );
    let exempt = signature_exemption(model, signature, config, signed_files);
    ignore.extend(exempt.clone());
    for default in DEFAULT_IGNORES {
        let Ok(path) = RelPath::new(default) else {
            continue;
        };
        let signed_below = signed_files
            .iter()
            .filter_map(|name| RelPath::new(name).ok())
            .any(|name| name.starts_with(&path));
        if !signed_below {
            ignore.push(path);
        }
    }
    (ignore, exempt)
}

/// The signature file's name inside the model when it is exempt from hashing: only where the
/// signed `ignore_paths` names it, or at a conventional place ([`CONVENTIONAL_SIGNATURES`]), and never a file the
/// statement signs or the model root itself. Any other file named as the signature is hashed like
/// every model file, so naming a model file as "the signature" cannot hide it.
fn signature_exemption(
    model: &Path,
    signature: &Path,
    config: &SerializationConfig,
    signed_files: &HashSet<&str>,
) -> Option<RelPath> {
    let name = tree::resolve_ignore(model, &std::path::absolute(signature).ok()?)?;
    if name.as_str() == "." || signed_files.contains(name.as_str()) {
        return None;
    }
    let signed_ignore = config
        .ignore_paths
        .iter()
        .filter_map(|p| RelPath::new(p).ok())
        .any(|p| p.as_str() != "." && name.starts_with(&p));
    (signed_ignore || CONVENTIONAL_SIGNATURES.contains(&name.as_str())).then_some(name)
}

/// Where a signature inside a model is conventionally written: `MODEL/model.sig` (the default of
/// `sign`), and `modelseal.sig`, where `seal` stores the plaintext signature inside the encrypted
/// model (`deploy::INNER_SIGNATURE_NAME`, which it reserves: a model holding that file cannot
/// be sealed).
pub(crate) const CONVENTIONAL_SIGNATURES: [&str; 2] = ["model.sig", "modelseal.sig"];

/// How many distinct files a statement signs (shards of one file count once).
pub(crate) fn signed_file_count(statement: &Statement) -> usize {
    signed_file_names(&statement.resources, statement.serialization.method).len()
}

fn signed_file_names(resources: &[Resource], method: Method) -> HashSet<&str> {
    resources
        .iter()
        .filter_map(|r| digest::resource_file(&r.name, method))
        .collect()
}

/// A file read up to a limit: its bytes, or (over the limit) how large it is known to be —
/// its size when opened, or the limit plus one if it grew while read.
enum Bounded {
    Within(Vec<u8>),
    Over(u64),
}

fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Bounded> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Ok(Bounded::Over(len));
    }
    // Sized from the file (plus the byte that shows growth), so a large file is not copied
    // through doubling buffers.
    let mut bytes = Vec::with_capacity(usize::try_from(len).map_or(0, |n| n.saturating_add(1)));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Bounded::Over(limit.saturating_add(1)));
    }
    Ok(Bounded::Within(bytes))
}

fn diff_reasons(diff: &ManifestDiff) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(
        diff.changed
            .iter()
            .map(|n| format!("{n}: changed since signing")),
    );
    out.extend(
        diff.missing
            .iter()
            .map(|n| format!("{n}: missing (signed but not in the model)")),
    );
    out.extend(
        diff.extra
            .iter()
            .map(|n| format!("{n}: extra file (in the model but not signed)")),
    );
    out
}

fn describe_mismatch(model: &Path, diff: &ManifestDiff) -> String {
    format!(
        "{}: does not match its signature: {}",
        model.display(),
        diff_reasons(diff).join("; ")
    )
}
