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
    /// Which TSAs vouch for time, and whether a timestamp is required.
    pub timestamps: TimestampPolicy,
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

/// Verifies `model` against the signature at `signature` under `trust`.
pub fn verify_model(
    model: &Path,
    signature: &Path,
    trust: &Trust,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifiedModel, VerifyError> {
    let bundle = read_bundle(signature)?;
    let (statement, signer) = verify_bundle(&bundle, signature, trust, &options.timestamps)?;
    check_model(model, signature, &statement, options, progress)?;
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

/// Re-hashes the local model with the signed serialization and compares it with the statement.
pub(crate) fn check_model(
    model: &Path,
    signature: &Path,
    statement: &Statement,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<(), VerifyError> {
    let config = &statement.serialization;
    let model_tree = walk_for(model, signature, statement, options)?;
    progress.begin(model_tree.total_len());
    let actual = digest::hash_tree(&model_tree, config, progress)?;
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
    let file = std::fs::File::open(path)?;
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
