//! The decision procedure of `docs/policy.md` §"How a decision is made":
//!
//! 1. the model name selects the first `[[models]]` rule whose glob matches. An encrypted model's
//!    name is the one in its envelope (the *signed name*: the signature covers the envelope; the
//!    statement's subject name is not to be relied on, per the OMS spec); a caller's name that
//!    differs from it is a reason unless the policy says `allow_name_override = true`, so a model
//!    sealed as `prod/…` cannot be passed off under a looser rule. A plaintext model has no signed
//!    name: the caller's name, else the path's last component;
//! 2. each signature (a signature file's bundle, or each line of a claims file, `.jsonl`) is
//!    checked against every policy signer (a signature may count for several
//!    names if they trust the same key); one accepted by none is a reason;
//! 3. a signature some signer accepted must use a serialization the rule allows, and the model
//!    must match it (hashed once per distinct signed serialization), tolerating unsigned files
//!    only if the rule says `allow_extra_files`;
//! 4. the rule holds when at least `threshold` distinct names of its `require` list verified
//!    (many lines signed by one signer count once);
//! 5. the serialization formats of a plaintext model's files are listed, as verification told
//!    them from the bytes it hashed in step 3 (`crate::scan::detect_verified`), and a file in a
//!    format the rule's `deny_formats` (else the policy's top-level one) names is a reason;
//! 6. the Rego policy, if any, sees the result (with the formats) and may add reasons.
//!
//! The lines of a claims file are candidates: a line that fails step 2 or 3 is a reason only when
//! the model is denied anyway (then it explains the denial), because such a file gathers signatures
//! by parties the policy need not know and over earlier versions of the model.
//!
//! Input errors (an unreadable or malformed signature file, a model that cannot be read) are
//! errors; everything else is a reason in the [`PolicyDecision`].

use super::decision::{new_request_id, PolicyDecision, Reasons, RuleRef, SignatureOutcome};
use super::{rego, ModelRule, Policy, SealedStage};
use crate::digest::SerializationConfig;
use crate::error::ErrorCode;
use crate::oms::claims::Claim;
use crate::oms::Bundle;
use crate::progress::Progress;
use crate::scan::FileFormat;
use crate::verify::{check_model, parse_statement, signed_file_count, BundleBudget, BundleLimits};
use crate::verify::{ModelHashes, VerifyError, VerifyOptions};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Options of a policy verification.
#[derive(Debug, Clone, Default)]
pub struct PolicyVerifyOptions {
    /// The name the rules match; default: the encrypted envelope's model name for an encrypted
    /// model, else the model path's last component.
    pub model_name: Option<String>,
    /// More paths to leave out when re-hashing (as `verify --ignore`).
    pub ignore: Vec<PathBuf>,
}

/// The model checks done so far in one decision.
#[derive(Default)]
struct Checked {
    /// Serializations and root digests the model matched (re-hashed once each).
    matched: Vec<(SerializationConfig, [u8; 32])>,
    /// Signature files inside the model that were exempt from hashing.
    exempt: BTreeSet<String>,
    /// The model as hashed so far, per serialization (claims lines share it).
    hashes: ModelHashes,
    /// The formats of the files the first matching signature verified, told from the bytes hashed.
    formats: Option<Vec<FileFormat>>,
}

/// What the first verified signature established.
struct Verified {
    root_digest: String,
    serialization: SerializationConfig,
    files: usize,
}

impl Policy {
    /// The name the rules match (step 1 of the module doc); a refused override is a reason, and
    /// the rules then match the signed name.
    fn model_name(
        &self,
        model: &Path,
        options: &PolicyVerifyOptions,
        signed: Option<&str>,
        reasons: &mut Reasons,
    ) -> String {
        match (options.model_name.as_deref(), signed) {
            (Some(given), Some(signed)) if given != signed && !self.allow_name_override => {
                reasons.push(ErrorCode::NameOverrideRefused, format!(
                    "model name {given:?} is not the signed name {signed:?} (the encrypted model's envelope); \
                     omit the name, or set allow_name_override = true in the policy to let callers choose it"
                ));
                signed.to_string()
            }
            (Some(given), _) => given.to_string(),
            (None, Some(signed)) => signed.to_string(),
            (None, None) => crate::tree::model_name(model),
        }
    }

    /// Verifies `model` against `signatures` under this policy (see the module doc).
    ///
    /// `Err` is an input error; a denial is `Ok` with `allowed == false` and its reasons.
    pub fn verify(
        &self,
        model: &Path,
        signatures: &[PathBuf],
        options: &PolicyVerifyOptions,
        progress: &dyn Progress,
    ) -> Result<PolicyDecision, VerifyError> {
        self.verify_within(
            model,
            signatures,
            options,
            BundleLimits::default(),
            None,
            progress,
        )
    }

    /// [`Policy::verify`] reading at most `limits` bytes of signature files, and with
    /// `confine_to` (a canonical directory) no model file outside it. The signature files are
    /// read one at a time, each checked before the next is read, so at most one is in memory.
    pub fn verify_within(
        &self,
        model: &Path,
        signatures: &[PathBuf],
        options: &PolicyVerifyOptions,
        limits: BundleLimits,
        confine_to: Option<&Path>,
        progress: &dyn Progress,
    ) -> Result<PolicyDecision, VerifyError> {
        let limits = (limits, confine_to);
        let known = crate::digest::KnownResources::default();
        let prior = Prior { stage: None, known };
        self.decide(model, signatures, options, limits, prior, progress)
    }

    /// [`Policy::verify`] of one stage of a sealed model: the encrypted model against its outer
    /// signatures (the rule's threshold counts there), or the decrypted model against its inner
    /// signature (one signer of the rule's `require` suffices), as [`SealedStage`] defines.
    pub fn verify_sealed(
        &self,
        model: &Path,
        signatures: &[PathBuf],
        options: &PolicyVerifyOptions,
        stage: SealedStage,
        progress: &dyn Progress,
    ) -> Result<PolicyDecision, VerifyError> {
        let known = crate::digest::KnownResources::default();
        self.verify_sealed_known(model, signatures, options, stage, known, progress)
    }

    /// [`Policy::verify_sealed`] taking the resources of the files `known` holds as given
    /// instead of reading them: seal's and unseal's one pass compute them (or, for unseal's
    /// ciphertext, check them) while they move the bytes. The decision is then only as good as
    /// that computation or check, which the caller owes.
    pub(crate) fn verify_sealed_known(
        &self,
        model: &Path,
        signatures: &[PathBuf],
        options: &PolicyVerifyOptions,
        stage: SealedStage,
        known: crate::digest::KnownResources,
        progress: &dyn Progress,
    ) -> Result<PolicyDecision, VerifyError> {
        let limits = (BundleLimits::default(), None);
        let prior = Prior {
            stage: Some(stage),
            known,
        };
        self.decide(model, signatures, options, limits, prior, progress)
    }

    /// The decision procedure of the module doc, for a model on its own or one stage of a
    /// sealed model (`prior`); `limits` bound the signature files read and confine the model's
    /// files.
    fn decide(
        &self,
        model: &Path,
        signatures: &[PathBuf],
        options: &PolicyVerifyOptions,
        (limits, confine_to): (BundleLimits, Option<&Path>),
        Prior { stage, known }: Prior,
        progress: &dyn Progress,
    ) -> Result<PolicyDecision, VerifyError> {
        let mut budget = BundleBudget::new(limits);
        let signed_name = signed_model_name(model);
        let mut reasons = Reasons::default();
        let model_name = self.model_name(model, options, signed_name.as_deref(), &mut reasons);
        crate::tree::check_model_name(&model_name)?;
        let rule = self.rule_for(&model_name);
        if signatures.is_empty() {
            reasons.push(ErrorCode::NoSignature, "no signature given".to_string());
        }
        if rule.is_none() {
            reasons.push(
                ErrorCode::NoRule,
                format!("no [[models]] rule covers model name {model_name:?}"),
            );
        }
        let mut first: Option<Verified> = None;
        let mut checked = Checked {
            hashes: ModelHashes::with_known(known),
            ..Checked::default()
        };
        let mut outcomes = Vec::new();
        // Why lines of claims files did not count: they deny nothing by themselves (a claims file
        // gathers signatures by parties the policy may not know, and over earlier versions of
        // the model), and explain a denial when there is one.
        let mut line_reasons = Reasons::default();
        // One file at a time, each checked before the next is read.
        for path in signatures {
            for claim in budget.read_claims(path)? {
                let reasons = if claim.line.is_some() {
                    &mut line_reasons
                } else {
                    &mut reasons
                };
                let outcome = self.check_signature(
                    model,
                    path,
                    &claim,
                    rule.map(|(_, r)| r),
                    options,
                    confine_to,
                    progress,
                    &mut checked,
                    &mut first,
                    reasons,
                )?;
                outcomes.push(outcome);
            }
        }
        let verified_formats = checked.formats.take();
        let encrypted = signed_name.is_some();
        let judged = Judged {
            model,
            ignore: &options.ignore,
            files_at: model,
            model_name,
            signed_name,
            rule,
            outcomes,
            first,
            exempt_files: checked.exempt.into_iter().collect(),
            stage,
            reasons,
            line_reasons,
        };
        Ok(self.conclude(judged, |policy, reasons| {
            policy.check_formats(verified_formats, encrypted, rule, reasons)
        }))
    }

    /// The last steps of every decision, once each signature is judged: the rule's threshold
    /// (over the sealed stage, if any), the formats (`formats`, which sees the reasons so far),
    /// the Rego rules, and the decision itself.
    fn conclude(
        &self,
        judged: Judged<'_>,
        formats: impl FnOnce(&Policy, &mut Reasons) -> Vec<FileFormat>,
    ) -> PolicyDecision {
        let Judged {
            model,
            ignore,
            files_at,
            model_name,
            signed_name,
            rule,
            outcomes,
            first,
            exempt_files,
            stage,
            mut reasons,
            mut line_reasons,
        } = judged;
        let verified: BTreeSet<String> = outcomes
            .iter()
            .filter(|o| o.verified)
            .flat_map(|o| o.signers.iter().cloned())
            .collect();
        let counted = match rule {
            Some((index, rule)) => check_threshold(index, rule, stage, &verified, &mut reasons),
            None => Vec::new(),
        };
        let rule_ref = rule.map(|(index, r)| RuleRef {
            index,
            name: r.name().to_string(),
            require: r.require().to_vec(),
            threshold: r.threshold(),
        });
        let formats = formats(self, &mut reasons);
        if let Some(rego) = &self.rego {
            let input = json!({
                "formats": PolicyDecision::formats_json(&formats),
                "format_names": crate::scan::format_names(&formats),
                "model_name": model_name,
                "signed_name": signed_name,
                "root_digest": first.as_ref().map(|f| &f.root_digest),
                "serialization": PolicyDecision::serialization_json(first.as_ref().map(|f| &f.serialization)),
                "signers": verified,
                "files": first.as_ref().map(|f| f.files),
                "rule": rule_ref.as_ref().map(rego::rule_json),
                "file_list": rego::files_json(files_at, ignore, &formats),
            });
            for message in rego.deny(&input) {
                reasons.push(ErrorCode::RegoDenied, format!("rego: {message}"));
            }
        }
        if !reasons.is_empty() {
            line_reasons.append(&mut reasons);
            reasons = line_reasons;
        }
        let allowed = reasons.is_empty();
        let (reasons, reason_codes) = reasons.into_parts();
        PolicyDecision {
            allowed,
            reason_codes,
            request_id: new_request_id(),
            policy_digest: self.digest().to_string(),
            model: model.to_path_buf(),
            model_name,
            signed_name,
            policy: self.path.clone(),
            root_digest: first.as_ref().map(|f| f.root_digest.clone()),
            files: first.as_ref().map(|f| f.files),
            serialization: first.map(|f| f.serialization),
            signers: verified.into_iter().collect(),
            rule: rule_ref,
            reasons,
            signatures: outcomes,
            exempt_files,
            formats,
            stage,
            counted,
        }
    }

    /// Step 2 for one signature (`claim`, of the file `path`, shown as `shown`): an outcome not
    /// yet verified, naming the policy signers whose trust accepts it and who signed it (as the
    /// first to accept established); with the reason, naming each signer's refusal, when none
    /// accepts it.
    fn trusted_outcome(
        &self,
        path: &Path,
        claim: &Claim,
        shown: &str,
    ) -> (SignatureOutcome, Option<String>) {
        let mut names = Vec::new();
        let mut refusals = Vec::new();
        let mut identity = None;
        for signer in &self.signers {
            match signer.check(&claim.bundle) {
                Ok(who) => {
                    names.push(signer.name().to_string());
                    identity.get_or_insert(who);
                }
                Err(reason) => refusals.push(format!("{}: {reason}", signer.name())),
            }
        }
        let untrusted = names.is_empty().then(|| {
            format!(
                "{shown}: not signed by any signer of the policy ({})",
                if refusals.is_empty() {
                    "the policy defines no signers".to_string()
                } else {
                    refusals.join("; ")
                }
            )
        });
        let outcome = SignatureOutcome {
            path: path.to_path_buf(),
            line: claim.line,
            signers: names,
            root_digest: None,
            verified: false,
            signer: identity,
        };
        (outcome, untrusted)
    }

    /// Step 5: the serialization formats of a plaintext model's files (an encrypted model's are
    /// ciphertext: it is checked when unsealed), and a reason for each file in a format the
    /// rule's `deny_formats` (else the policy's) names. The formats are those verification told
    /// from the bytes it hashed (`verified`), never a second read of the model: a file swapped
    /// after it was verified cannot change the decision. With no verified files (no signature
    /// matched), a denied format makes the decision fail closed if nothing else denied it.
    fn check_formats(
        &self,
        verified: Option<Vec<FileFormat>>,
        encrypted: bool,
        rule: Option<(usize, &ModelRule)>,
        reasons: &mut Reasons,
    ) -> Vec<FileFormat> {
        let deny = self.deny_formats(rule.map(|(_, r)| r));
        let source = match rule {
            Some((index, r)) if r.deny_formats().is_some() => {
                format!("deny_formats of models[{index}] {:?}", r.name())
            }
            _ => "the policy's deny_formats".to_string(),
        };
        if encrypted {
            return Vec::new();
        }
        let Some(formats) = verified else {
            if !deny.is_empty() && reasons.is_empty() {
                reasons.push(
                    ErrorCode::FormatDenied,
                    format!(
                        "cannot tell the model's formats ({source} denies {}): no file was verified",
                        deny.join(", ")
                    ),
                );
            }
            return Vec::new();
        };
        for f in &formats {
            let names = f.detected.names();
            let Some(denied) = names.iter().find(|n| deny.iter().any(|d| d == *n)) else {
                continue;
            };
            let mut reason = format!("{}: format {denied} is denied by {source}", f.path);
            if !f.detected.globals.is_empty() {
                let shown: Vec<&str> = f
                    .detected
                    .globals
                    .iter()
                    .take(8)
                    .map(String::as_str)
                    .collect();
                let more = f.detected.globals.len().saturating_sub(shown.len());
                reason.push_str(&format!(" (imports {}", shown.join(", ")));
                if more > 0 {
                    reason.push_str(&format!(" and {more} more"));
                }
                reason.push(')');
            }
            reasons.push(ErrorCode::FormatDenied, reason);
        }
        formats
    }

    /// Steps 2–3 for one signature (a file's bundle or one line of a claims file).
    #[allow(clippy::too_many_arguments)]
    fn check_signature(
        &self,
        model: &Path,
        path: &Path,
        claim: &Claim,
        rule: Option<&ModelRule>,
        options: &PolicyVerifyOptions,
        confine_to: Option<&Path>,
        progress: &dyn Progress,
        checked: &mut Checked,
        first: &mut Option<Verified>,
        reasons: &mut Reasons,
    ) -> Result<SignatureOutcome, VerifyError> {
        let bundle: &Bundle = &claim.bundle;
        let shown = shown(path, claim.line);
        let (mut outcome, untrusted) = self.trusted_outcome(path, claim, &shown);
        if let Some(reason) = untrusted {
            reasons.push(ErrorCode::UntrustedKey, reason);
            return Ok(outcome);
        }
        let statement = match parse_statement(bundle, path) {
            Ok(s) => s,
            Err(e) => {
                reasons.push(ErrorCode::BadStatement, e.to_string());
                return Ok(outcome);
            }
        };
        outcome.root_digest = Some(hex::encode(statement.root_digest));
        if let Some(rule) = rule {
            if let Err(reason) = rule.check_serialization(&statement.serialization) {
                reasons.push(
                    ErrorCode::SerializationRefused,
                    format!("{shown}: {reason}"),
                );
                return Ok(outcome);
            }
        }
        let key = (statement.serialization.clone(), statement.root_digest);
        if !checked.matched.contains(&key) {
            let verify_options = VerifyOptions {
                ignore: options.ignore.clone(),
                ignore_unsigned_files: rule.is_some_and(ModelRule::allow_extra_files),
                ..VerifyOptions::default()
            };
            let hashes = &mut checked.hashes;
            match check_model(
                model,
                path,
                &statement,
                &verify_options,
                confine_to,
                progress,
                hashes,
            ) {
                Ok(model_checked) => {
                    checked.matched.push(key);
                    checked
                        .exempt
                        .extend(model_checked.exempt.map(|name| name.as_str().to_string()));
                    checked.formats.get_or_insert(model_checked.formats);
                }
                Err(e) if e.class().is_failure() => {
                    for (r, code) in e.reasons().into_iter().zip(e.codes()) {
                        reasons.push(code, format!("{shown}: {r}"));
                    }
                    return Ok(outcome);
                }
                Err(e) => return Err(e),
            }
        }
        outcome.verified = true;
        if first.is_none() {
            *first = Some(Verified {
                root_digest: hex::encode(statement.root_digest),
                files: signed_file_count(&statement),
                serialization: statement.serialization,
            });
        }
        Ok(outcome)
    }
}

/// Step 4: at least `threshold` distinct required names verified — at the decrypted stage of a
/// sealed model, at least one ([`SealedStage`]). Returns the required names that verified.
fn check_threshold(
    index: usize,
    rule: &ModelRule,
    stage: Option<SealedStage>,
    verified: &BTreeSet<String>,
    reasons: &mut Reasons,
) -> Vec<String> {
    let required: BTreeSet<&String> = rule.require().iter().collect();
    let (met, missing): (Vec<&str>, Vec<&str>) = required
        .iter()
        .map(|n| n.as_str())
        .partition(|n| verified.contains(*n));
    let needed = stage.map_or(rule.threshold(), |s| s.needed(rule));
    if met.len() < needed {
        let verified_names = if met.is_empty() {
            "none".to_string()
        } else {
            met.join(", ")
        };
        reasons.push(ErrorCode::ThresholdNotMet, match stage {
            None => format!(
                "rule models[{index}] {:?}: {} of the required {} signers verified (require: {}; verified: {verified_names})",
                rule.name(),
                met.len(),
                rule.threshold(),
                rule.require().join(", "),
            ),
            Some(SealedStage::Encrypted) => format!(
                "rule models[{index}] {:?}: {} of the required {} signers verified (require: {}; verified: {verified_names}); missing: {} (the threshold counts the encrypted model's outer signatures: seal with each key, or add one with `modelseal endorse`)",
                rule.name(),
                met.len(),
                rule.threshold(),
                rule.require().join(", "),
                missing.join(", "),
            ),
            Some(SealedStage::Decrypted) => format!(
                "rule models[{index}] {:?}: the inner signature (over the decrypted model) is from none of the rule's signers (require: {}; one of them must have signed it at seal)",
                rule.name(),
                rule.require().join(", "),
            ),
        });
    }
    met.into_iter().map(str::to_string).collect()
}

/// The envelope's model name for an encrypted model (its outer signature covers the envelope, so
/// a changed name fails verification), else the path's last component.
/// The model name in an encrypted model's envelope; `None` for a plaintext model.
fn signed_model_name(model: &Path) -> Option<String> {
    if !crate::envelope::is_encrypted(model) {
        return None;
    }
    crate::envelope::inspect_encrypted(model)
        .ok()
        .map(|summary| summary.model_name)
}

/// What a verified load established before the policy decides ([`Policy::decide_verified`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadFacts<'a> {
    /// The statement the load pinned (every read is checked against it); `None`: no signed
    /// statement matched the model, and no signature counts.
    pub pinned: Option<&'a crate::oms::Statement>,
    /// An encrypted model's envelope name (it binds as in [`Policy::verify`]).
    pub signed_name: Option<&'a str>,
    /// The stage of a sealed model judged ([`SealedStage`]); `None`: a model on its own.
    pub stage: Option<SealedStage>,
}

/// The serialization formats of the pinned statement's files, told from bytes the load verified
/// (`crate::scan::detect_verified`); asked only when the rule denies a format or Rego judges.
pub type VerifiedFormats<'a> = &'a mut dyn FnMut() -> Result<Vec<FileFormat>, VerifyError>;

impl Policy {
    /// The decision for a model its caller has already verified against the statement
    /// `facts.pinned`, without hashing the model again (verify on load: `crate::load` checks
    /// every read against it). The steps of the module doc, with step 3's re-hashing replaced: a
    /// signature of `signatures` (each signature file with its claims) that a policy signer
    /// accepts and whose serialization the rule allows counts when it signs exactly the pinned
    /// statement (the same serialization and root digest); one that signs another statement is a
    /// reason. Step 4 counts as [`Policy::verify_sealed`] does at `facts.stage`.
    ///
    /// Step 5 judges the formats `formats` gives (read from verified bytes), asked only if the
    /// rule denies a format or the policy has Rego rules; `None` judges no format (a sealed
    /// model's encrypted stage: its files are ciphertext, as in `unseal`). `Err` is an input
    /// error (a model name the rules cannot match) or the error `formats` returned.
    pub fn decide_verified(
        &self,
        model: &Path,
        signatures: &[(PathBuf, Vec<Claim>)],
        facts: LoadFacts<'_>,
        options: &PolicyVerifyOptions,
        formats: Option<VerifiedFormats<'_>>,
    ) -> Result<PolicyDecision, VerifyError> {
        let LoadFacts {
            pinned,
            signed_name,
            stage,
        } = facts;
        let mut reasons = Reasons::default();
        let model_name = self.model_name(model, options, signed_name, &mut reasons);
        crate::tree::check_model_name(&model_name)?;
        let rule = self.rule_for(&model_name);
        if signatures.iter().all(|(_, claims)| claims.is_empty()) {
            reasons.push(ErrorCode::NoSignature, "no signature given".to_string());
        }
        if rule.is_none() {
            reasons.push(
                ErrorCode::NoRule,
                format!("no [[models]] rule covers model name {model_name:?}"),
            );
        }
        // As in `verify_within`: a claims line that does not count explains a denial only.
        let mut line_reasons = Reasons::default();
        let mut outcomes = Vec::new();
        for (signature, claims) in signatures {
            for claim in claims {
                let reasons = if claim.line.is_some() {
                    &mut line_reasons
                } else {
                    &mut reasons
                };
                let shown = shown(signature, claim.line);
                let (mut outcome, untrusted) = self.trusted_outcome(signature, claim, &shown);
                let counted = match untrusted {
                    Some(reason) => Err((ErrorCode::UntrustedKey, reason)),
                    None => parse_statement(&claim.bundle, signature)
                        .map_err(|e| (ErrorCode::BadStatement, e.to_string()))
                        .and_then(|statement| {
                            outcome.root_digest = Some(hex::encode(statement.root_digest));
                            signs_pinned(&statement, pinned, rule.map(|(_, r)| r), &shown)
                        }),
                };
                match counted {
                    Ok(()) => outcome.verified = true,
                    Err((code, reason)) => reasons.push(code, reason),
                }
                outcomes.push(outcome);
            }
        }
        let first = pinned
            .filter(|_| outcomes.iter().any(|o| o.verified))
            .map(|p| Verified {
                root_digest: hex::encode(p.root_digest),
                serialization: p.serialization.clone(),
                files: signed_file_count(p),
            });
        // Read before the decision concludes: a file that fails its verified read is an error.
        let wanted = !self.deny_formats(rule.map(|(_, r)| r)).is_empty() || self.rego.is_some();
        let told = match formats {
            Some(formats) if wanted && first.is_some() => Some(formats()?),
            _ => None,
        };
        let judged = Judged {
            model,
            ignore: &options.ignore,
            files_at: model,
            model_name,
            signed_name: signed_name.map(str::to_string),
            rule,
            outcomes,
            first,
            exempt_files: Vec::new(),
            stage,
            reasons,
            line_reasons,
        };
        // The encrypted stage's files are ciphertext: no format to judge (as `unseal`).
        let encrypted = stage == Some(SealedStage::Encrypted);
        Ok(self.conclude(judged, |policy, reasons| {
            policy.check_formats(told, encrypted, rule, reasons)
        }))
    }
}

/// Whether the signature's `statement` counts for a load that pinned `pinned`: its serialization
/// allowed by `rule`, and exactly the pinned statement (same serialization and root digest).
fn signs_pinned(
    statement: &crate::oms::Statement,
    pinned: Option<&crate::oms::Statement>,
    rule: Option<&ModelRule>,
    shown: &str,
) -> Result<(), (ErrorCode, String)> {
    if let Some(rule) = rule {
        rule.check_serialization(&statement.serialization)
            .map_err(|reason| {
                (
                    ErrorCode::SerializationRefused,
                    format!("{shown}: {reason}"),
                )
            })?;
    }
    match pinned {
        Some(p)
            if p.root_digest == statement.root_digest
                && p.serialization == statement.serialization =>
        {
            Ok(())
        }
        Some(p) => Err((
            ErrorCode::DigestMismatch,
            format!(
                "{shown}: signs root digest {}, not the statement the model was opened under ({})",
                hex::encode(statement.root_digest),
                hex::encode(p.root_digest)
            ),
        )),
        None => Err((
            ErrorCode::DigestMismatch,
            format!("{shown}: the model is not the one it signs"),
        )),
    }
}

/// What the caller of a decision knows before it: which stage of a sealed model is judged
/// (`None`: a model on its own), and resources a pass already computed or expects (taken as
/// given, see [`Policy::verify_sealed_known`]).
struct Prior {
    stage: Option<SealedStage>,
    known: crate::digest::KnownResources,
}

/// What a decision established before its last steps ([`Policy::conclude`]).
struct Judged<'a> {
    model: &'a Path,
    /// The user's ignores, and where the Rego input's file list is read from.
    ignore: &'a [PathBuf],
    files_at: &'a Path,
    model_name: String,
    signed_name: Option<String>,
    rule: Option<(usize, &'a ModelRule)>,
    outcomes: Vec<SignatureOutcome>,
    /// The first verified statement's facts.
    first: Option<Verified>,
    exempt_files: Vec<String>,
    stage: Option<SealedStage>,
    reasons: Reasons,
    line_reasons: Reasons,
}

/// A signature as reasons name it: its file, and its line in a claims file.
fn shown(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{} line {line}", path.display()),
        None => path.display().to_string(),
    }
}
