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
use crate::error::ErrorClass;

use crate::oms::claims;
pub use crate::oms::claims::{is_claims_path, Claim};
use crate::oms::{self, Bundle, OmsError, Statement};
use crate::progress::Progress;
use crate::sigstore::SigstoreError;
use crate::tree::resolve_user_ignores;
use crate::tree::{self, RelPath, TreeError, WalkOptions, DEFAULT_IGNORES};
use crate::trust::{SignerIdentity, TimestampPolicy, Trust, TrustError};
use std::collections::HashSet;
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
}

/// Reads and parses a signature file (bounded by [`oms::MAX_BUNDLE_BYTES`]) without verifying it.
pub fn read_bundle(path: &Path) -> Result<Bundle, VerifyError> {
    let bytes =
        read_bounded(path, oms::MAX_BUNDLE_BYTES).map_err(|source| VerifyError::ReadSignature {
            path: path.to_path_buf(),
            source,
        })?;
    Bundle::parse(&bytes).map_err(|source| VerifyError::Malformed {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a signature file without verifying it: its one bundle, or for a claims file (`.jsonl`)
/// the bundle of every line, each with its number. A line that is not a bundle is
/// [`VerifyError::Malformed`] naming it ([`OmsError::Line`]).
pub fn read_claims(path: &Path) -> Result<Vec<Claim>, VerifyError> {
    if !claims::is_claims_path(path) {
        let bundle = read_bundle(path)?;
        return Ok(vec![Claim { line: None, bundle }]);
    }
    let bytes =
        read_bounded(path, oms::MAX_BUNDLE_BYTES).map_err(|source| VerifyError::ReadSignature {
            path: path.to_path_buf(),
            source,
        })?;
    claims::parse_claims(&bytes).map_err(|source| VerifyError::Malformed {
        path: path.to_path_buf(),
        source,
    })
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
            check_model(model, signature, &statement, options, progress, &mut hashes)?;
            Ok(VerifiedModel {
                model: model.to_path_buf(),
                signature: signature.to_path_buf(),
                line,
                statement,
                signer,
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
    mut check: impl FnMut(Option<usize>, Statement, SignerIdentity) -> Result<T, VerifyError>,
) -> Result<T, VerifyError> {
    let mut mismatch = None;
    let mut lines = Vec::new();
    for claim in read_claims(signature)? {
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
}

/// The model's resources under one serialization, and the files (names and sizes) hashed.
#[derive(Debug)]
struct Hashed {
    config: SerializationConfig,
    files: Vec<(RelPath, u64)>,
    resources: Vec<Resource>,
}

impl ModelHashes {
    fn hash(
        &mut self,
        model_tree: &tree::ModelTree,
        config: &SerializationConfig,
        progress: &dyn Progress,
    ) -> Result<Vec<Resource>, DigestError> {
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
            return Ok(done.resources.clone());
        }
        let resources = digest::hash_tree(model_tree, config, progress)?;
        self.done.push(Hashed {
            config: config.clone(),
            files,
            resources: resources.clone(),
        });
        Ok(resources)
    }
}

/// Re-hashes the local model with the signed serialization and compares it with the statement;
/// `hashes` holds the model as hashed by earlier checks, reused when the serialization is the same.
pub(crate) fn check_model(
    model: &Path,
    signature: &Path,
    statement: &Statement,
    options: &VerifyOptions,
    progress: &dyn Progress,
    hashes: &mut ModelHashes,
) -> Result<(), VerifyError> {
    let config = &statement.serialization;
    let model_tree = walk_for(model, signature, statement, options)?;
    progress.begin(model_tree.total_len());
    let actual = hashes.hash(&model_tree, config, progress)?;
    let diff = digest::compare(&statement.resources, &actual);
    if diff.is_empty() {
        Ok(())
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
    let config = &statement.serialization;
    let signed_files = signed_file_names(&statement.resources, config.method);
    let walk = WalkOptions {
        ignore: verification_ignores(model, signature, config, options, &signed_files),
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
    Ok(model_tree)
}

/// The ignore list at verification: the signed `ignore_paths`, the user's, the signature file when
/// it lies inside the model, and the default git paths unless the signer hashed files under them.
fn verification_ignores(
    model: &Path,
    signature: &Path,
    config: &SerializationConfig,
    options: &VerifyOptions,
    signed_files: &HashSet<&str>,
) -> Vec<RelPath> {
    let mut ignore = resolve_user_ignores(model, &options.ignore);
    // Signed ignore paths that are not valid relative names (e.g. `../x`) cannot match a model file.
    ignore.extend(
        config
            .ignore_paths
            .iter()
            .filter_map(|p| RelPath::new(p).ok()),
    );
    if let Some(sig) =
        tree::resolve_ignore(model, &std::path::absolute(signature).unwrap_or_default())
    {
        ignore.push(sig);
    }
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
    ignore
}

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

fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = crate::fs::open_nofollow(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit for a signature"),
        ));
    }
    Ok(bytes)
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
