//! Who decides whether a signature counts when a model is opened for verified loading: a trust
//! (as `verify --key`/`--cert-chain`/…), or a trust policy (as `verify --policy`), whose
//! decision is taken over the statement the load pinned, without hashing the model again
//! ([`Policy::decide_verified`]).
//!
//! Guarantees: under a policy, the pinned statement is one that a policy signer signed and whose
//! file list matched the model, and the model is handed to the caller only if the policy allows
//! it ([`DeployError::Denied`] otherwise, with the full decision); every read is then checked
//! against that statement, so the signatures the decision counted are the ones reads verify. A
//! sealed model is judged in the two stages `unseal` takes ([`SealedStage`]): the threshold over
//! the outer signatures, one signer of the rule on the inner one. The formats a rule's
//! `deny_formats` judges are told from bytes the load verified ([`OpenedModel::verified_formats`]).

use super::OpenedModel;
use crate::deploy::DeployError;
use crate::oms::claims::Claim;
use crate::oms::Statement;
use crate::policy::{LoadFacts, Policy, PolicyDecision, PolicyVerifyOptions, SealedStage};
use crate::trust::{SignerIdentity, TimestampPolicy, Trust};
use crate::verify::{self, VerifyError};
use std::path::{Path, PathBuf};

/// Signature files with their signatures (one bundle, or the lines of a claims file), in the
/// order the caller named the files.
pub(super) type Signatures = Vec<(PathBuf, Vec<Claim>)>;

/// What judges the signatures of a model being opened.
pub(super) enum Judge<'a> {
    /// A trust: the first signature it accepts whose file list matches is pinned.
    Trust {
        trust: &'a Trust,
        timestamps: &'a TimestampPolicy,
    },
    /// A policy: the first signature a policy signer accepts whose file list matches is pinned,
    /// then the policy decides over every signature given.
    Policy {
        policy: &'a Policy,
        /// The caller's model name (binds as in `verify --policy`) and the paths left out.
        options: PolicyVerifyOptions,
    },
}

/// Reads the signature files (each a bundle or a claims file).
pub(super) fn read_signatures(files: &[PathBuf]) -> Result<Signatures, VerifyError> {
    files
        .iter()
        .map(|path| Ok((path.clone(), verify::read_claims(path)?)))
        .collect()
}

impl Judge<'_> {
    /// Opens a model under `signatures`: `check` (the file-list match) is given the statement
    /// and signer of each signature this judge accepts, file after file, until one passes. The
    /// error, when none does, is the first file's (a model mismatch first, if any).
    ///
    /// `facts` (its `pinned` unused) and `name` are the decision's when no signature counts
    /// under a policy: see [`Judge::decide`].
    pub(super) fn open<T>(
        &self,
        model: &Path,
        signatures: &Signatures,
        (facts, name): (LoadFacts<'_>, Option<&str>),
        mut check: impl FnMut(&Path, Statement, SignerIdentity) -> Result<T, VerifyError>,
    ) -> Result<T, DeployError> {
        let (trust, timestamps) = match self {
            Judge::Trust { trust, timestamps } => (*trust, *timestamps),
            Judge::Policy { policy, .. } => {
                let facts = LoadFacts {
                    pinned: None,
                    ..facts
                };
                return self.open_under(policy, model, signatures, (facts, name), check);
            }
        };
        let mut first_error = None;
        for (path, claims) in signatures {
            let found =
                verify::first_verified_of(claims.clone(), path, trust, timestamps, |_, s, who| {
                    check(path, s, who)
                });
            match found {
                Ok(found) => return Ok(found),
                Err(e) if !e.class().is_failure() => return Err(e.into()),
                Err(e @ VerifyError::Mismatch { .. }) => {
                    if !matches!(first_error, Some(VerifyError::Mismatch { .. })) {
                        first_error = Some(e);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.map_or_else(
            || DeployError::Usage(format!("{}: no signature file given", model.display())),
            DeployError::from,
        ))
    }

    /// [`Judge::open`] under `policy`.
    fn open_under<T>(
        &self,
        policy: &Policy,
        model: &Path,
        signatures: &Signatures,
        (facts, name): (LoadFacts<'_>, Option<&str>),
        mut check: impl FnMut(&Path, Statement, SignerIdentity) -> Result<T, VerifyError>,
    ) -> Result<T, DeployError> {
        let mut mismatch = None;
        for (path, claims) in signatures {
            for claim in claims {
                let Some(signer) = policy
                    .signers()
                    .iter()
                    .find_map(|s| s.check(&claim.bundle).ok())
                else {
                    continue;
                };
                let Ok(statement) = verify::parse_statement(&claim.bundle, path) else {
                    continue;
                };
                match check(path, statement, signer) {
                    Ok(found) => return Ok(found),
                    Err(e @ VerifyError::Mismatch { .. }) => {
                        mismatch.get_or_insert(e);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if let Some(mismatch) = mismatch {
            return Err(mismatch.into());
        }
        // No signature counts: the decision says why (each signer's refusal). A rule needs at
        // least one, so the decision denies; the error after it is for a policy that would not.
        self.decide(model, signatures, facts, name, None)?;
        Err(DeployError::Usage(format!(
            "{}: no signature is accepted by a signer of the policy",
            model.display()
        )))
    }

    /// Under a policy, its decision over `signatures` for a model opened under `facts.pinned`
    /// (at `facts.stage` of a sealed model): `Err(Denied)` naming the stage unless allowed.
    /// `name` replaces the caller's model name (a sealed model's inner signature is judged under
    /// the outer one's name, as `unseal` does). The formats, if the rule judges any, are told
    /// from verified reads of `formats`' files; `None` judges none (ciphertext). `None` under a
    /// trust.
    pub(super) fn decide(
        &self,
        model: &Path,
        signatures: &Signatures,
        facts: LoadFacts<'_>,
        name: Option<&str>,
        formats: Option<&OpenedModel>,
    ) -> Result<Option<PolicyDecision>, DeployError> {
        let Judge::Policy { policy, options } = self else {
            return Ok(None);
        };
        let mut options = options.clone();
        if let Some(name) = name {
            options.model_name = Some(name.to_string());
        }
        let mut told = formats.map(|opened| move || opened.verified_formats());
        let decision = policy.decide_verified(
            model,
            signatures,
            facts,
            &options,
            told.as_mut().map(|f| f as _),
        )?;
        if !decision.allowed() {
            return Err(DeployError::Denied {
                stage: facts.stage.map_or("model", SealedStage::label),
                decision: Box::new(decision),
            });
        }
        Ok(Some(decision))
    }
}
