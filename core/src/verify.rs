//! Verifying a model against an OMS signature and a [`Trust`].
//!
//! The steps are those of model-signing 1.1.1 and then some (see `../shared/OMS-NOTES.md`): media
//! type → signer (key hint, certificate chain) → signature over the exact payload bytes → payload
//! type, statement type, predicate type, one subject → root digest → re-hash the local model with the
//! *signed* serialization (hash, method, shard size, `allow_symlinks`, `ignore_paths`) → exact
//! comparison, reporting every missing, extra and changed file by name.
//!
//! A claims file (`.jsonl`, [`crate::oms::claims`]) holds many signatures, one per line: each is a
//! candidate, and the model verifies when one line does (the result names it). The model is
//! hashed once per distinct signed serialization among the lines ([`ModelHashes`]), however many
//! lines there are.
//!
//! A [`VerifiedModel`] can only be obtained from [`verify_model`]: its fields are private and it has
//! no constructor, so code that holds one knows the checks ran.

use crate::digest::{self, DigestError, ManifestDiff, Method, Resource, SerializationConfig};
use crate::error::{ErrorClass, ErrorCode};

use crate::oms::claims;
pub use crate::oms::claims::{is_claims_path, Claim};
use crate::oms::{self, Bundle, OmsError, Statement};
use crate::progress::Progress;
use crate::scan::FileFormat;
use crate::sigstore::SigstoreError;
use crate::tree::resolve_user_ignores;
use crate::tree::{self, RelPath, TreeError, WalkOptions, DEFAULT_IGNORES};
use crate::trust::{SignerIdentity, TimestampPolicy, Trust, TrustError};
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
    /// No line of a claims file verified: each line's reason (none of them a model mismatch,
    /// which is reported as [`VerifyError::Mismatch`]).
    #[error("{path}: no signature in the claims file verifies ({})", claim_reasons(.lines).join("; "))]
    NoClaimVerified {
        /// The claims file.
        path: PathBuf,
        /// Per line, in file order: its number and why it did not verify.
        lines: Vec<ClaimFailure>,
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
            // Failed as soon as one line was a verification failure; only input errors (every
            // line of a kind modelseal cannot check) make the whole file an input error.
            VerifyError::NoClaimVerified { lines, .. } if lines.iter().any(|l| l.failed) => {
                ErrorClass::Failed
            }
            _ => ErrorClass::Input,
        }
    }

    /// One message per problem, for machine-readable output.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            VerifyError::Mismatch { diff, .. } => diff_reasons(diff),
            VerifyError::NoClaimVerified { lines, .. } => claim_reasons(lines),
            other => vec![other.to_string()],
        }
    }

    /// The reason code of each of [`VerifyError::reasons`], in the same order
    /// (`docs/json.md`): the one mapping of a verification error onto codes.
    pub fn codes(&self) -> Vec<ErrorCode> {
        let io = |e: &std::io::Error| ErrorCode::of_io(e.kind());
        match self {
            VerifyError::Mismatch { diff, .. } => std::iter::empty()
                .chain(diff.changed.iter().map(|_| ErrorCode::DigestMismatch))
                .chain(diff.missing.iter().map(|_| ErrorCode::MissingFile))
                .chain(diff.extra.iter().map(|_| ErrorCode::ExtraFile))
                .collect(),
            VerifyError::NoClaimVerified { lines, .. } => lines
                .iter()
                .map(|l| match l.failed {
                    true => ErrorCode::UntrustedKey,
                    false => ErrorCode::SignatureMalformed,
                })
                .collect(),
            VerifyError::ReadSignature { source, .. } => vec![io(source)],
            VerifyError::Malformed { .. } => vec![ErrorCode::SignatureMalformed],
            VerifyError::TrustInput(_) => vec![ErrorCode::TrustInvalid],
            VerifyError::Tree(TreeError::Io { source, .. }) => vec![io(source)],
            VerifyError::Tree(_) => vec![ErrorCode::ModelInvalid],
            VerifyError::Digest(DigestError::Io { source, .. }) => vec![io(source)],
            VerifyError::Digest(DigestError::Changed { .. }) => vec![ErrorCode::Changed],
            VerifyError::Digest(_) => vec![ErrorCode::ModelInvalid],
            VerifyError::Untrusted {
                source: TrustError::TimestampRequired(_),
                ..
            } => vec![ErrorCode::TimestampRequired],
            VerifyError::Untrusted { .. } => vec![ErrorCode::UntrustedKey],
            VerifyError::BadStatement { .. } => vec![ErrorCode::BadStatement],
            VerifyError::OutsideRoot { .. } => vec![ErrorCode::OutsideRoot],
        }
    }

    /// The file a single-reason error is about (the signature, the model file), if it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            VerifyError::ReadSignature { path, .. }
            | VerifyError::Malformed { path, .. }
            | VerifyError::Untrusted { path, .. }
            | VerifyError::BadStatement { path, .. }
            | VerifyError::OutsideRoot { path }
            | VerifyError::NoClaimVerified { path, .. } => Some(path),
            VerifyError::Tree(TreeError::Io { path, .. })
            | VerifyError::Digest(DigestError::Io { path, .. }) => Some(path),
            _ => None,
        }
    }
}

/// Why one line of a claims file did not verify.
#[derive(Debug, Clone)]
pub struct ClaimFailure {
    /// The 1-based line number.
    pub line: usize,
    /// Why, in the user's terms.
    pub reason: String,
    /// True for a verification failure (untrusted, bad signature or statement); false for an
    /// input error (a bundle of a kind modelseal does not verify).
    pub failed: bool,
}

fn claim_reasons(lines: &[ClaimFailure]) -> Vec<String> {
    lines
        .iter()
        .map(|l| format!("line {}: {}", l.line, l.reason))
        .collect()
}

/// Options of a verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// More paths to leave out, relative to the model root or absolute inside it.
    pub ignore: Vec<PathBuf>,
    /// Hash only the files the signature lists: extra files in the model are tolerated.
    pub ignore_unsigned_files: bool,
    /// Which TSAs vouch for time, and whether a timestamp is required.
    pub timestamps: TimestampPolicy,
}

/// A model whose signature verified under a trust and whose files match the signed statement.
#[derive(Debug, Clone)]
pub struct VerifiedModel {
    model: PathBuf,
    signature: PathBuf,
    line: Option<usize>,
    statement: Statement,
    signer: SignerIdentity,
    formats: Vec<FileFormat>,
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
    /// The line of the claims file whose signature verified; `None` for a single-bundle file.
    pub fn line(&self) -> Option<usize> {
        self.line
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
    /// The serialization format of each verified file in a recognized format (tree order; text
    /// and unknown binaries are not listed), told from the bytes that were hashed.
    pub fn formats(&self) -> &[FileFormat] {
        &self.formats
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
        let bytes = self.read_bytes(path, self.limits.per_bundle)?;
        Bundle::parse(&bytes).map_err(|source| VerifyError::Malformed {
            path: path.to_path_buf(),
            source,
        })
    }

    /// [`BundleBudget::read`] for any signature file: its one bundle, or every line of a claims
    /// file (`.jsonl`), the file bounded by what is left of the total and each line by the
    /// per-file limit.
    pub fn read_claims(&mut self, path: &Path) -> Result<Vec<Claim>, VerifyError> {
        if !claims::is_claims_path(path) {
            let bundle = self.read(path)?;
            return Ok(vec![Claim { line: None, bundle }]);
        }
        let bytes = self.read_bytes(path, oms::MAX_BUNDLE_BYTES)?;
        let per_line = self.limits.per_bundle.min(oms::MAX_BUNDLE_BYTES);
        if bytes
            .split(|&b| b == b'\n')
            .any(|line| line.len() as u64 > per_line)
        {
            return Err(VerifyError::ReadSignature {
                path: path.to_path_buf(),
                source: self.limits.too_large(),
            });
        }
        claims::parse_claims(&bytes).map_err(|source| VerifyError::Malformed {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The bytes of the file at `path`: at most `per_file` (and [`oms::MAX_BUNDLE_BYTES`]) and
    /// what is left of the total.
    fn read_bytes(&mut self, path: &Path, per_file: u64) -> Result<Vec<u8>, VerifyError> {
        let per_file = per_file.min(oms::MAX_BUNDLE_BYTES);
        let left = self.limits.total.saturating_sub(self.spent);
        let bytes = match crate::location::read_object(path, per_file.min(left)) {
            Some(read) => read.map(Bounded::Within),
            None => read_bounded(path, per_file.min(left)),
        };
        let bytes = bytes
            .and_then(|bytes| match bytes {
                Bounded::Within(bytes) => Ok(bytes),
                Bounded::Over(seen) if seen > per_file => Err(self.limits.too_large()),
                Bounded::Over(_) => Err(self.limits.too_large_in_total()),
            })
            .map_err(|source| VerifyError::ReadSignature {
                path: path.to_path_buf(),
                source,
            })?;
        self.spent = self.spent.saturating_add(bytes.len() as u64);
        Ok(bytes)
    }
}

/// Reads a signature file without verifying it: its one bundle, or for a claims file (`.jsonl`)
/// the bundle of every line, each with its number. A line that is not a bundle is
/// [`VerifyError::Malformed`] naming it ([`OmsError::Line`]).
pub fn read_claims(path: &Path) -> Result<Vec<Claim>, VerifyError> {
    BundleBudget::new(BundleLimits::default()).read_claims(path)
}

/// Verifies `model` against the signature file `signature` under `trust`: its bundle, or the
/// first line of a claims file that verifies (signer trusted, model matching).
///
/// When no line of a claims file verifies, the error is the first line's model mismatch if a
/// trusted line's model differed, else [`VerifyError::NoClaimVerified`] with every line's reason.
/// Input errors (an unreadable model or trust material) end the search at once.
pub fn verify_model(
    model: &Path,
    signature: &Path,
    trust: &Trust,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifiedModel, VerifyError> {
    let mut hashes = ModelHashes::default();
    first_verified(
        signature,
        trust,
        &options.timestamps,
        |line, statement, signer| {
            let checked = check_model(
                model,
                signature,
                &statement,
                options,
                None,
                progress,
                &mut hashes,
            )?;
            Ok(VerifiedModel {
                model: model.to_path_buf(),
                signature: signature.to_path_buf(),
                line,
                statement,
                signer,
                formats: checked.formats,
            })
        },
    )
}

/// The first signature of the file at `signature` (its bundle, or a line of a claims file) that
/// `trust` accepts and that `check` (given its line, statement and signer) accepts too.
///
/// For a single bundle, its error. For a claims file with no such line: the first model
/// mismatch `check` reported for a trusted line, else [`VerifyError::NoClaimVerified`] with every
/// line's reason; any other error of `check` (an input error) ends the search at once.
pub(crate) fn first_verified<T>(
    signature: &Path,
    trust: &Trust,
    timestamps: &TimestampPolicy,
    check: impl FnMut(Option<usize>, Statement, SignerIdentity) -> Result<T, VerifyError>,
) -> Result<T, VerifyError> {
    first_verified_of(read_claims(signature)?, signature, trust, timestamps, check)
}

/// [`first_verified`] over `claims`, the signatures of the file `signature` already read (a
/// sealed model's inner signature, decrypted in memory).
pub(crate) fn first_verified_of<T>(
    claims: Vec<Claim>,
    signature: &Path,
    trust: &Trust,
    timestamps: &TimestampPolicy,
    mut check: impl FnMut(Option<usize>, Statement, SignerIdentity) -> Result<T, VerifyError>,
) -> Result<T, VerifyError> {
    let mut mismatch = None;
    let mut lines = Vec::new();
    for claim in claims {
        let checked = verify_bundle(&claim.bundle, signature, trust, timestamps)
            .and_then(|(statement, signer)| check(claim.line, statement, signer));
        let (error, line) = match (checked, claim.line) {
            (Ok(found), _) => return Ok(found),
            (Err(error), None) => return Err(error),
            (Err(error), Some(line)) => (error, line),
        };
        match error {
            e @ VerifyError::Mismatch { .. } => {
                mismatch.get_or_insert(e);
            }
            e @ (VerifyError::Untrusted { .. }
            | VerifyError::BadStatement { .. }
            | VerifyError::Malformed { .. }) => lines.push(ClaimFailure {
                line,
                failed: e.class().is_failure(),
                reason: without_path(&e.to_string(), signature),
            }),
            other => return Err(other),
        }
    }
    Err(mismatch.unwrap_or(VerifyError::NoClaimVerified {
        path: signature.to_path_buf(),
        lines,
    }))
}

/// A line's reason without the `path: ` its error starts with (the claims file is named once).
fn without_path(reason: &str, path: &Path) -> String {
    let prefix = format!("{}: ", path.display());
    reason.strip_prefix(&prefix).unwrap_or(reason).to_string()
}

/// Checks the bundle's signer and signature, then parses the signed statement.
pub(crate) fn verify_bundle(
    bundle: &Bundle,
    path: &Path,
    trust: &Trust,
    timestamps: &TimestampPolicy,
) -> Result<(Statement, SignerIdentity), VerifyError> {
    let signer = trust
        .check_bundle_with(bundle, timestamps)
        .map_err(|source| match source {
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

/// The model's resources as hashed under each serialization so far, so that the lines of a
/// claims file (or the signatures of a policy verification) that share a serialization hash the
/// model once. Keyed by the serialization and the exact list of files walked (names and sizes):
/// the same files hashed the same way give the same resources.
#[derive(Debug, Default)]
pub(crate) struct ModelHashes {
    done: Vec<Hashed>,
    /// Resources of some files computed (or, for unseal's ciphertext, checked) elsewhere: those
    /// files are not read (see [`digest::hash_tree_known`]).
    known: digest::KnownResources,
}

/// The model's resources under one serialization, and the files (names and sizes) hashed.
#[derive(Debug)]
struct Hashed {
    config: SerializationConfig,
    files: Vec<(RelPath, u64)>,
    resources: Vec<Resource>,
    formats: Vec<FileFormat>,
}

impl ModelHashes {
    /// Hashes that start from `known`.
    pub(crate) fn with_known(known: digest::KnownResources) -> ModelHashes {
        ModelHashes {
            done: Vec::new(),
            known,
        }
    }

    fn hash(
        &mut self,
        model_tree: &tree::ModelTree,
        config: &SerializationConfig,
        progress: &dyn Progress,
    ) -> Result<(Vec<Resource>, Vec<FileFormat>), DigestError> {
        let files: Vec<(RelPath, u64)> = model_tree
            .files
            .iter()
            .map(|f| (f.name.clone(), f.len))
            .collect();
        if let Some(done) = self
            .done
            .iter()
            .find(|h| h.config == *config && h.files == files)
        {
            return Ok((done.resources.clone(), done.formats.clone()));
        }
        // Only what is read counts: a file hashed before (`done`) or by the caller's pass
        // (`known`) adds nothing to the progress total.
        progress.begin(self.known.bytes_to_read(model_tree, config));
        let (resources, formats) =
            digest::hash_tree_known_with_formats(model_tree, config, &self.known, progress)?;
        self.done.push(Hashed {
            config: config.clone(),
            files,
            resources: resources.clone(),
            formats: formats.clone(),
        });
        Ok((resources, formats))
    }
}

/// What [`check_model`] established about a model that matched its statement.
#[derive(Debug)]
pub(crate) struct CheckedModel {
    /// The signature file, when it lies inside the model and was exempt from hashing.
    pub exempt: Option<RelPath>,
    /// The formats of the hashed files, told from the bytes that were hashed.
    pub formats: Vec<FileFormat>,
}

/// Re-hashes the local model with the signed serialization and compares it with the statement;
/// `hashes` holds the model as hashed by earlier checks, reused when the serialization (and the
/// files hashed) are the same.
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
    hashes: &mut ModelHashes,
) -> Result<CheckedModel, VerifyError> {
    let config = &statement.serialization;
    let (mut model_tree, exempt) = walk_with_exemption(model, signature, statement, options)?;
    // Names (and shard ranges) first: a file is read only if the signed manifest lists exactly
    // the resources it gives, so naming a large tree with a small model's signature costs a
    // walk, not a hash of the tree.
    let unhashed = keep_signed_files(&mut model_tree, statement, config.method)?;
    if let (Some(root), true) = (confine_to, config.allow_symlinks) {
        confine(&model_tree, root)?;
    }
    let (actual, formats) = hashes.hash(&model_tree, config, progress)?;
    let mut diff = digest::compare(&statement.resources, &actual);
    account_unhashed(&mut diff, statement, unhashed);
    if diff.is_empty() {
        Ok(CheckedModel { exempt, formats })
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
    let mut model_tree = crate::location::walk(model, &walk)?;
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
    for default in DEFAULT_IGNORES
        .into_iter()
        .chain([tree::HUGGING_FACE_LOCAL_DIR_CACHE])
    {
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
    let name = crate::location::resolve_inside(model, signature)?;
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
/// be sealed), or `modelseal.sig.jsonl` for a model sealed with several keys
/// (`deploy::INNER_CLAIMS_NAME`, reserved alike).
pub(crate) const CONVENTIONAL_SIGNATURES: [&str; 3] =
    ["model.sig", "modelseal.sig", "modelseal.sig.jsonl"];

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
    let file = crate::fs::open_nofollow(path)?;
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
