//! Who decides whether a signature counts when a model is opened for verified loading: a trust
//! (as `verify --key`/`--cert-chain`/…), or a trust policy (as `verify --policy`), whose
//! decision is taken over the statement the load pinned, without reading the model again
//! ([`Policy::decide_verified`]).
//!
//! Guarantees: under a policy, the pinned statement is one that a policy signer signed and whose
//! file list matched the model, and the model is handed to the caller only if the policy allows
//! it ([`DeployError::Denied`] otherwise, with the full decision); every read is then checked
//! against that statement, so the signatures the decision counted are the ones reads verify.

use crate::deploy::DeployError;
use crate::oms::claims::Claim;
use crate::oms::{Bundle, Statement};
use crate::policy::{Policy, PolicyDecision, PolicyVerifyOptions};
use crate::trust::{SignerIdentity, TimestampPolicy, Trust};
use crate::verify::{self, VerifyError};
use std::path::Path;

/// What judges the signatures of a model being opened.
pub(super) enum Judge<'a> {
    /// A trust: the first signature it accepts whose file list matches is pinned.
    Trust {
        trust: &'a Trust,
        timestamps: &'a TimestampPolicy,
    },
    /// A policy: the first signature a policy signer accepts whose file list matches is pinned,
    /// then the policy decides over every signature of the file.
    Policy {
        policy: &'a Policy,
        /// The caller's model name (binds as in `verify --policy`) and the paths left out.
        options: PolicyVerifyOptions,
    },
}

impl Judge<'_> {
    /// Opens a model under the signature file `signature`: `check` (the file-list match) is
    /// given the statement and signer of each signature this judge accepts, in order, until one
    /// passes. Also returns the file's signatures, for [`Judge::decide`].
    pub(super) fn open<T>(
        &self,
        model: &Path,
        signature: &Path,
        mut check: impl FnMut(Statement, SignerIdentity) -> Result<T, VerifyError>,
    ) -> Result<(T, Vec<Claim>), DeployError> {
        let (trust, timestamps) = match self {
            Judge::Trust { trust, timestamps } => (*trust, *timestamps),
            Judge::Policy { policy, .. } => {
                return self.open_under(policy, model, signature, check)
            }
        };
        let found =
            verify::first_verified(signature, trust, timestamps, |_, statement, signer| {
                check(statement, signer)
            })?;
        Ok((found, Vec::new()))
    }

    /// [`Judge::open`] under `policy`.
    fn open_under<T>(
        &self,
        policy: &Policy,
        model: &Path,
        signature: &Path,
        mut check: impl FnMut(Statement, SignerIdentity) -> Result<T, VerifyError>,
    ) -> Result<(T, Vec<Claim>), DeployError> {
        let claims = verify::read_claims(signature)?;
        let mut mismatch = None;
        for claim in &claims {
            let Some(signer) = policy
                .signers()
                .iter()
                .find_map(|s| s.check(&claim.bundle).ok())
            else {
                continue;
            };
            let Ok(statement) = verify::parse_statement(&claim.bundle, signature) else {
                continue;
            };
            match check(statement, signer) {
                Ok(found) => return Ok((found, claims)),
                Err(e @ VerifyError::Mismatch { .. }) => {
                    mismatch.get_or_insert(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(mismatch) = mismatch {
            return Err(mismatch.into());
        }
        // No signature counts: the decision says why (each signer's refusal). A rule needs at
        // least one, so the decision denies; the error after it is for a policy that would not.
        self.decide(model, signature, &claims, None, None, None, "model")?;
        Err(nothing_counted(signature))
    }

    /// Checks one bundle (a sealed model's inner signature at `path`): its statement and signer
    /// if this judge accepts it. Under a policy a bundle no signer accepts is denied here.
    pub(super) fn accept(
        &self,
        model: &Path,
        bundle: &Bundle,
        path: &Path,
    ) -> Result<(Statement, SignerIdentity), DeployError> {
        match self {
            Judge::Trust { trust, timestamps } => {
                Ok(verify::verify_bundle(bundle, path, trust, timestamps)?)
            }
            Judge::Policy { policy, .. } => {
                let accepted = policy
                    .signers()
                    .iter()
                    .find_map(|s| s.check(bundle).ok())
                    .map(|signer| verify::parse_statement(bundle, path).map(|s| (s, signer)));
                match accepted {
                    Some(found) => Ok(found?),
                    None => {
                        let claims = [Claim {
                            line: None,
                            bundle: bundle.clone(),
                        }];
                        self.decide(model, path, &claims, None, None, None, "decrypted model")?;
                        Err(nothing_counted(path))
                    }
                }
            }
        }
    }

    /// Under a policy, its decision over `claims` (the signatures of `signature`) for a model
    /// opened under `pinned`: `Err(Denied)` naming `stage` unless allowed. `name` replaces the
    /// caller's model name (a sealed model's inner signature is judged under the outer one's
    /// name, as `unseal` does); `signed_name` is an encrypted model's envelope name. `None`
    /// under a trust.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decide(
        &self,
        model: &Path,
        signature: &Path,
        claims: &[Claim],
        pinned: Option<&Statement>,
        signed_name: Option<&str>,
        name: Option<&str>,
        stage: &'static str,
    ) -> Result<Option<PolicyDecision>, DeployError> {
        let Judge::Policy { policy, options } = self else {
            return Ok(None);
        };
        let mut options = options.clone();
        if let Some(name) = name {
            options.model_name = Some(name.to_string());
        }
        // Only a plaintext model on disk has files whose formats can be examined.
        let formats_at = (signed_name.is_none() && stage == "model").then_some(model);
        let decision = policy.decide_verified(
            model,
            signature,
            claims,
            pinned,
            signed_name,
            &options,
            formats_at,
        )?;
        if !decision.allowed() {
            return Err(denied(stage, decision));
        }
        Ok(Some(decision))
    }
}

/// No signature of `signature` counted, yet the policy did not deny (a rule always needs one).
fn nothing_counted(signature: &Path) -> DeployError {
    DeployError::Usage(format!(
        "{}: no signature is accepted by a signer of the policy",
        signature.display()
    ))
}

/// The policy's denial at `stage`.
fn denied(stage: &'static str, decision: PolicyDecision) -> DeployError {
    DeployError::Denied {
        stage,
        decision: Box::new(decision),
    }
}
