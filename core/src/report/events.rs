//! The audit event of every operation ([`Failure`] says how one ended without success), and
//! [`error_chain`], the one wording of an error with its causes.

use super::*;

/// `err` and its sources as one line, `outer: inner: …` (as the CLI prints an error chain): how
/// audit events and Python's exceptions word an error whose cause matters.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How an operation that did not succeed is recorded in its audit event.
#[derive(Debug, Clone)]
pub enum Failure<'a> {
    /// Verification or decryption failed (outcome `failed`, exit code 1), with its reasons.
    Failed(Vec<String>),
    /// A policy denied (outcome `failed`): the decision's fields are recorded, then `reasons`.
    Denied(&'a PolicyDecision, Vec<String>),
    /// A usage, input or environment error (outcome `error`, exit code 2).
    Error(String),
}

impl<'a> Failure<'a> {
    /// An input error described by `err` and its sources, `outer: inner: …`.
    pub fn error(err: &dyn std::error::Error) -> Failure<'a> {
        Failure::Error(error_chain(err))
    }

    /// A verification error: `failed` with its reasons, or an input error.
    pub fn verify(err: &VerifyError) -> Failure<'a> {
        if err.class().is_failure() {
            Failure::Failed(err.reasons())
        } else {
            Failure::Error(err.to_string())
        }
    }

    /// An envelope error: `failed` when authentication failed, else an input error.
    pub fn envelope(err: &SealError) -> Failure<'a> {
        if err.class().is_failure() {
            Failure::Failed(vec![err.to_string()])
        } else {
            Failure::Error(err.to_string())
        }
    }

    /// A seal/unseal error: a denial with its decision, a failure, or an input error.
    pub fn deploy(err: &'a DeployError) -> Failure<'a> {
        match err {
            DeployError::Denied { decision, .. } => Failure::Denied(decision, err.reasons()),
            _ if err.class().is_failure() => Failure::Failed(err.reasons()),
            _ => Failure::Error(err.to_string()),
        }
    }

    fn record(self, event: &mut AuditEvent) {
        match self {
            Failure::Failed(reasons) => event.fail(reasons),
            Failure::Denied(decision, reasons) => {
                apply_decision(event, decision);
                event.fail(reasons);
            }
            Failure::Error(reason) => event.error(reason),
        }
    }
}

/// Records a policy decision: model name, root digest, rule, signers, policy, and its reasons.
fn apply_decision(event: &mut AuditEvent, decision: &PolicyDecision) {
    event.model_name = Some(decision.model_name().to_string());
    if event.root_digest.is_none() {
        event.root_digest = decision.root_digest().map(str::to_string);
    }
    event.policy = Some(text(decision.policy()));
    event.rule = Some(decision.rule_label());
    event.signers = decision.signers().to_vec();
    event.request_id = Some(decision.request_id().to_string());
    event.policy_digest = Some(decision.policy_digest().to_string());
    if !decision.allowed() {
        let mut reasons = std::mem::take(&mut event.reasons);
        reasons.extend(decision.reasons().iter().cloned());
        event.fail(reasons);
    }
}

/// Recipient stanzas as the log names them: `type:key_id`.
fn stanza_ids(recipients: &[(String, String)]) -> impl Iterator<Item = String> + '_ {
    recipients.iter().map(|(t, k)| format!("{t}:{k}"))
}

fn event(operation: Operation, model: &Path, key_ids: Vec<String>) -> AuditEvent {
    let mut event = AuditEvent::new(operation, model);
    event.key_ids = key_ids;
    event
}

/// The event of `sign`ing `model` with the key reference `key`.
pub fn sign_event(model: &Path, key: &str, result: Result<&SignOutcome, Failure>) -> AuditEvent {
    let mut event = event(Operation::Sign, model, vec![key.to_string()]);
    match result {
        Ok(outcome) => {
            event.key_ids.push(outcome.key_hint.clone());
            event.model_name = Some(outcome.statement.subject_name.clone());
            event.root_digest = Some(hex::encode(outcome.statement.root_digest));
        }
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of `endorse`ing the sealed model `encrypted` with the key reference `key`: the
/// statement the endorsement signs (the one the earlier outer signatures sign).
pub fn endorse_event(
    encrypted: &Path,
    key: &str,
    result: Result<&EndorseOutcome, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Endorse, encrypted, vec![key.to_string()]);
    match result {
        Ok(outcome) => {
            event.key_ids.push(outcome.key_hint.clone());
            event.model_name = Some(outcome.statement.subject_name.clone());
            event.root_digest = Some(hex::encode(outcome.statement.root_digest));
        }
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of `verify`ing `model` trusting the key reference `key` (or certificate roots or
/// Sigstore, when `None`).
pub fn verify_event(
    model: &Path,
    key: Option<&str>,
    result: Result<&VerifiedModel, Failure>,
) -> AuditEvent {
    let mut event = event(
        Operation::Verify,
        model,
        key.into_iter().map(str::to_string).collect(),
    );
    match result {
        Ok(verified) => {
            event.root_digest = Some(verified.root_digest_hex());
            event.model_name = Some(verified.subject_name().to_string());
            event.key_ids.push(verified.signer().key_hint.clone());
        }
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of verifying `model` under the policy file `policy` (`verify --policy`, `serve`).
pub fn policy_event(
    model: &Path,
    policy: &Path,
    result: Result<&PolicyDecision, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Verify, model, Vec::new());
    event.policy = Some(text(policy));
    match result {
        Ok(decision) => apply_decision(&mut event, decision),
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of `encrypt`ing `model` for the key references `recipients`: on success, the
/// stanzas written (`type:key_id`) instead of the references.
pub fn encrypt_event(
    model: &Path,
    recipients: &[String],
    result: Result<&EncryptSummary, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Encrypt, model, recipients.to_vec());
    match result {
        Ok(summary) => event.key_ids = stanza_ids(&summary.recipients).collect(),
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of `decrypt`ing `encrypted` with the key reference `key`.
pub fn decrypt_event(
    encrypted: &Path,
    key: &str,
    result: Result<&DecryptSummary, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Decrypt, encrypted, vec![key.to_string()]);
    match result {
        Ok(summary) => {
            event.model_name = Some(summary.model_name.clone());
            event
                .key_ids
                .extend(stanza_ids(std::slice::from_ref(&summary.recipient)));
        }
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of `rewrap`ping `encrypted` with the key reference `key`, adding the key
/// references `add` and removing the key ids `remove` (`removed:<key id>`).
pub fn rewrap_event(
    encrypted: &Path,
    key: &str,
    add: &[String],
    remove: &[String],
    result: Result<(), Failure>,
) -> AuditEvent {
    let mut key_ids = vec![key.to_string()];
    key_ids.extend(add.iter().cloned());
    key_ids.extend(remove.iter().map(|k| format!("removed:{k}")));
    let mut event = event(Operation::Rewrap, encrypted, key_ids);
    if let Err(failure) = result {
        failure.record(&mut event);
    }
    event
}

/// The event of `seal`ing `model` with the signing key references `keys`: the model name (as
/// given, else the plaintext's), its root digest, every signing key's hint and every recipient.
pub fn seal_event(
    model: &Path,
    keys: &[String],
    model_name: Option<&str>,
    result: Result<&SealOutcome, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Seal, model, keys.to_vec());
    match result {
        Ok(outcome) => {
            let statement = &outcome.inner.statement;
            event.model_name = Some(
                model_name
                    .map(str::to_string)
                    .unwrap_or_else(|| statement.subject_name.clone()),
            );
            event.root_digest = Some(hex::encode(statement.root_digest));
            event.key_ids.extend(outcome.key_hints.iter().cloned());
            event
                .key_ids
                .extend(stanza_ids(&outcome.encrypted.recipients));
        }
        Err(failure) => failure.record(&mut event),
    }
    event
}

/// The event of `unseal`ing `encrypted` with the key reference `key` under the policy file
/// `policy`: the inner decision and the recipient that unwrapped, or the denial or error.
pub fn unseal_event(
    encrypted: &Path,
    key: &str,
    policy: &Path,
    result: Result<&UnsealOutcome, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Unseal, encrypted, vec![key.to_string()]);
    event.policy = Some(text(policy));
    match result {
        Ok(outcome) => {
            apply_decision(&mut event, &outcome.inner);
            if let Some(decrypted) = &outcome.decrypted {
                event
                    .key_ids
                    .extend(stanza_ids(std::slice::from_ref(&decrypted.recipient)));
            }
        }
        Err(failure) => failure.record(&mut event),
    }
    event
}
