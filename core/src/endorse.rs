//! `endorse`: co-signing a sealed model without decrypting it (`docs/deploy.md`, "Co-signed
//! models").
//!
//! Without a decryption key only the encrypted directory can be signed, so an endorsement is one
//! more *outer* signature: the statement the existing outer signatures sign, signed with another
//! key and appended as one line to the outer claims file (`ENC.sig.jsonl` by default, created if
//! missing). A policy counts its rule's threshold over the outer signatures and needs the inner
//! one from a signer of the rule ([`crate::policy::SealedStage`]), so a model sealed by team A and
//! endorsed by team B meets a rule requiring both.
//!
//! Guarantees: the encrypted directory is hashed once, with the serialization the existing outer
//! signatures recorded, and the endorsement is written only when that statement is byte for byte
//! the one they sign. A ciphertext file changed since sealing is refused naming it
//! ([`VerifyError::Mismatch`], a failed check), as is a statement that differs otherwise (another
//! subject name, other ignore paths) or outer signatures that disagree among themselves; nothing
//! is written then. The line is appended under the claims file's lock in one write, so concurrent
//! endorsements each add a whole line and earlier lines are never rewritten. An endorsement
//! vouches for the files, not for the earlier signers: whom to trust is the policy's decision at
//! `unseal`.

use crate::deploy::{
    default_outer_signatures, outer_claims_path, DeployError, INNER_CLAIMS_NAME,
    INNER_SIGNATURE_NAME,
};
use crate::digest::ManifestDiff;
use crate::fs::{append, atomic};
use crate::keys::Signer;
use crate::oms::claims::{self, claim_line};
use crate::oms::Statement;
use crate::progress::Progress;
use crate::sign::{digest_model, sign_statement, DigestOptions, SignError};
use crate::timestamp::TsaRequest;
use crate::tree::DEFAULT_IGNORES;
use crate::verify::{parse_statement, read_claims, VerifyError};
use std::path::{Path, PathBuf};

/// Options of [`endorse_sealed`].
#[derive(Debug, Clone, Default)]
pub struct EndorseOptions {
    /// The claims file (`.jsonl`) the endorsement is appended to; default `ENC.sig.jsonl` beside
    /// `ENC`. Its existing lines are checked with the other outer signatures.
    pub signature: Option<PathBuf>,
    /// Ask this RFC 3161 time-stamping authority for a timestamp over the new signature.
    pub tsa: Option<TsaRequest>,
}

/// What [`endorse_sealed`] added.
#[derive(Debug, Clone)]
#[non_exhaustive] // made only by core: readable, not constructible, outside it
pub struct EndorseOutcome {
    /// The claims file the signature was appended to.
    pub signature_path: PathBuf,
    /// The statement signed: the one the existing outer signatures sign.
    pub statement: Statement,
    /// OMS key hint of the endorsing key.
    pub key_hint: String,
    /// The outer signatures found before, each file with the line of a claims file (`None` for
    /// a single bundle), in the order checked.
    pub existing: Vec<(PathBuf, Option<usize>)>,
}

/// Adds `signer`'s signature over the encrypted directory `encrypted` (made by `seal`) to its
/// outer claims file, after checking that the directory is exactly what the existing outer
/// signatures sign (see the module doc). `progress` sees the ciphertext bytes hashed.
pub fn endorse_sealed(
    encrypted: &Path,
    signer: &dyn Signer,
    options: &EndorseOptions,
    progress: &dyn Progress,
) -> Result<EndorseOutcome, DeployError> {
    let target = options
        .signature
        .clone()
        .unwrap_or_else(|| outer_claims_path(encrypted));
    if !claims::is_claims_path(&target) {
        return Err(DeployError::Usage(format!(
            "{}: endorse appends to a claims file, whose name ends in .{} (default {})",
            target.display(),
            claims::EXTENSION,
            outer_claims_path(encrypted).display()
        )));
    }
    check_sealed(encrypted)?;
    let (existing, signed) = existing_statement(encrypted, &target)?;
    let digest = DigestOptions {
        hash: signed.serialization.hash,
        method: signed.serialization.method,
        ignore: signed
            .serialization
            .ignore_paths
            .iter()
            .filter(|p| !DEFAULT_IGNORES.contains(&p.as_str()))
            .map(PathBuf::from)
            .collect(),
        allow_symlinks: signed.serialization.allow_symlinks,
    };
    let statement = digest_model(encrypted, &digest, progress)?;
    let diff = crate::digest::compare(&signed.resources, &statement.resources);
    if !diff.is_empty() {
        return Err(mismatch(encrypted, &signed, diff));
    }
    if statement.to_json() != signed.to_json() {
        return Err(DeployError::Usage(format!(
            "{}: the statement endorse would sign differs from the one its outer signatures sign \
             (same files; subject name {:?} instead of {:?}, or other ignore paths): endorse the \
             model where and as it was sealed",
            encrypted.display(),
            statement.subject_name,
            signed.subject_name
        )));
    }
    let mut bundle = sign_statement(&statement, signer).map_err(SignError::from)?;
    if let Some(tsa) = &options.tsa {
        bundle
            .timestamps
            .push(crate::timestamp::request(tsa, &bundle.signature).map_err(SignError::from)?);
    }
    append::append_locked(&target, claim_line(&bundle).as_bytes(), atomic::MODE_PUBLIC).map_err(
        |source| SignError::Write {
            path: target.clone(),
            source,
        },
    )?;
    Ok(EndorseOutcome {
        signature_path: target,
        statement,
        key_hint: signer.public_key().hint(),
        existing,
    })
}

/// `encrypted` is a directory made by `seal`: its (unauthenticated) envelope lists an inner
/// signature. Only chooses the error: the statement check that follows is what protects.
fn check_sealed(encrypted: &Path) -> Result<(), DeployError> {
    let summary = crate::envelope::inspect_encrypted(encrypted)?;
    let sealed = summary
        .files
        .iter()
        .any(|(name, _)| name == INNER_SIGNATURE_NAME || name == INNER_CLAIMS_NAME);
    if sealed {
        Ok(())
    } else {
        Err(DeployError::Usage(format!(
            "{}: not a sealed model (it holds no {INNER_SIGNATURE_NAME}); endorse co-signs what `modelseal seal` made",
            encrypted.display()
        )))
    }
}

/// The outer signatures of `encrypted` (the default ones beside it and the existing lines of
/// `target`) and the one statement they all sign; an error when there are none or they disagree.
type Existing = (Vec<(PathBuf, Option<usize>)>, Statement);

fn existing_statement(encrypted: &Path, target: &Path) -> Result<Existing, DeployError> {
    let mut files = default_outer_signatures(encrypted);
    if !files.iter().any(|f| f == target) {
        files.push(target.to_path_buf());
    }
    files.retain(|f| f.symlink_metadata().is_ok());
    let mut found = Vec::new();
    let mut signed: Option<(Statement, Vec<u8>)> = None;
    for file in &files {
        for claim in read_claims(file)? {
            let statement = parse_statement(&claim.bundle, file)?;
            match &signed {
                None => signed = Some((statement, claim.bundle.payload.clone())),
                Some((_, payload)) if *payload == claim.bundle.payload => {}
                Some(_) => {
                    return Err(DeployError::Usage(format!(
                        "{}{}: signs another statement than {}: the outer signatures of {} disagree; endorse only a sealed model whose outer signatures all sign the same files",
                        file.display(),
                        claim.line.map(|l| format!(" line {l}")).unwrap_or_default(),
                        found
                            .first()
                            .map(|(f, _): &(PathBuf, _)| f.display().to_string())
                            .unwrap_or_default(),
                        encrypted.display()
                    )))
                }
            }
            found.push((file.clone(), claim.line));
        }
    }
    match signed {
        Some((statement, _)) => Ok((found, statement)),
        None => Err(DeployError::Usage(format!(
            "{}: no outer signature found ({} or {}); endorse adds a co-signature to a sealed model",
            encrypted.display(),
            crate::sign::default_signature_path(encrypted).display(),
            outer_claims_path(encrypted).display()
        ))),
    }
}

/// The encrypted directory differs from what its outer signatures sign: a failed check naming
/// each file.
fn mismatch(encrypted: &Path, signed: &Statement, diff: ManifestDiff) -> DeployError {
    DeployError::Verify(VerifyError::Mismatch {
        model: encrypted.to_path_buf(),
        signed_root_digest: hex::encode(signed.root_digest),
        diff,
    })
}
