//! The result of verifying a model under a policy: allowed or not, which rule decided, which
//! signers verified, and every reason for a denial. Its JSON result and audit event are built in
//! `report` (`report::DecisionReport`, `report::policy_event`).

use super::rules::{method_name, SealedStage};
use crate::digest::SerializationConfig;
use crate::error::ErrorCode;
use crate::scan::FileFormat;
use crate::trust::SignerIdentity;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Which `[[models]]` rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// Position in the file (0-based).
    pub index: usize,
    /// The rule's glob.
    pub name: String,
    /// The signers it counts.
    pub require: Vec<String>,
    /// How many of them must verify.
    pub threshold: usize,
}

impl RuleRef {
    /// `models[0] "prod/*"`: how messages and audit events name the rule.
    pub fn label(&self) -> String {
        format!("models[{}] {:?}", self.index, self.name)
    }
}

/// What one signature contributed: a signature file's bundle, or one line of a claims file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignatureOutcome {
    /// The signature file.
    pub path: PathBuf,
    /// The line of a claims file (`.jsonl`) the signature is on; `None` for a single bundle.
    pub line: Option<usize>,
    /// Policy signers whose trust accepted the signature (before the model was compared).
    pub signers: Vec<String>,
    /// The signed root digest (lowercase hex), when a trusted signer's statement was read.
    pub root_digest: Option<String>,
    /// True when a policy signer signed it, the rule accepts its serialization, and the model matches.
    pub verified: bool,
    /// Who signed it, as the first policy signer that accepted it established (key id, identity,
    /// signing time); `None` when no policy signer accepted it.
    pub signer: Option<SignerIdentity>,
}

/// A decision's reasons as they are found, each with its reason code (`docs/json.md`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reasons {
    messages: Vec<String>,
    codes: Vec<ErrorCode>,
}

impl Reasons {
    /// Adds `message` under `code`.
    pub(crate) fn push(&mut self, code: ErrorCode, message: String) {
        self.messages.push(message);
        self.codes.push(code);
    }

    /// Moves every reason of `other` to the end of these.
    pub(crate) fn append(&mut self, other: &mut Reasons) {
        self.messages.append(&mut other.messages);
        self.codes.append(&mut other.codes);
    }

    /// No reason yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// `(messages, codes)`, aligned.
    pub(crate) fn into_parts(self) -> (Vec<String>, Vec<ErrorCode>) {
        (self.messages, self.codes)
    }
}

/// A fresh random id for one decision (32 hex digits), so a caller, the audit log and the
/// server's log can name the same decision. Drawn from the operating system's generator; an id
/// is not a secret, so if that fails the time and process id stand in.
pub(crate) fn new_request_id() -> String {
    use crate::rng::Entropy;
    let mut bytes = [0u8; 16];
    if crate::rng::OsEntropy.fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes[..12].copy_from_slice(&now.to_le_bytes()[..12]);
        bytes[12..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(bytes)
}

/// The policy's answer for one model. Only core decides: the fields are read through accessors,
/// so no caller outside the crate can make an `allowed` decision.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PolicyDecision {
    /// True only if every rule holds (no reason below).
    pub(crate) allowed: bool,
    /// The model path verified.
    pub(crate) model: PathBuf,
    /// The name the rules were matched against.
    pub(crate) model_name: String,
    /// The encrypted model's signed name (its envelope's), `None` for a plaintext model.
    pub(crate) signed_name: Option<String>,
    /// The policy file.
    pub(crate) policy: PathBuf,
    /// Root digest (lowercase hex) of the first verified signature.
    pub(crate) root_digest: Option<String>,
    /// Serialization of the first verified signature.
    pub(crate) serialization: Option<SerializationConfig>,
    /// Files the first verified signature covers.
    pub(crate) files: Option<usize>,
    /// Names of the policy signers that verified (signature valid and model matching), sorted.
    pub(crate) signers: Vec<String>,
    /// The rule that decided, if one covers the model name.
    pub(crate) rule: Option<RuleRef>,
    /// Every reason the model is denied; empty when allowed.
    pub(crate) reasons: Vec<String>,
    /// The reason code of each of `reasons`, in the same order.
    pub(crate) reason_codes: Vec<ErrorCode>,
    /// A random id of this decision ([`new_request_id`]).
    pub(crate) request_id: String,
    /// SHA-256 (lowercase hex) of the policy file's bytes as loaded.
    pub(crate) policy_digest: String,
    /// Per signature (per line of a claims file), in the order given.
    pub(crate) signatures: Vec<SignatureOutcome>,
    /// Signature files inside the model (names relative to it) that were not hashed: each sits
    /// where the signed `ignore_paths` names it or at `MODEL/model.sig`.
    pub(crate) exempt_files: Vec<String>,
    /// The serialization formats of the model's files (empty for an encrypted model).
    pub(crate) formats: Vec<FileFormat>,
    /// For a stage of a sealed model, which one (it decides how the rule's threshold counts);
    /// `None` for a model verified on its own.
    pub(crate) stage: Option<SealedStage>,
    /// The signers of the rule's `require` that verified here and so counted toward what the
    /// rule needs at this stage, sorted.
    pub(crate) counted: Vec<String>,
}

impl PolicyDecision {
    /// The rule's label, or `none` (for messages and audit events).
    pub fn rule_label(&self) -> String {
        self.rule
            .as_ref()
            .map(RuleRef::label)
            .unwrap_or_else(|| "none".into())
    }

    /// `{method, hash_type}` of a serialization, as the Rego input spells it (the decision's
    /// JSON result, `report::DecisionReport`, spells it the same way).
    pub(crate) fn serialization_json(config: Option<&SerializationConfig>) -> Value {
        match config {
            Some(c) => json!({"method": method_name(c.method), "hash_type": c.hash.name()}),
            None => Value::Null,
        }
    }

    /// The formats as the Rego input lists them: `{path, format, names, globals}` per file (the
    /// decision's JSON result, `report::FormatReport`, spells them the same way).
    pub(crate) fn formats_json(formats: &[FileFormat]) -> Value {
        Value::Array(
            formats
                .iter()
                .map(|f| {
                    json!({
                        "path": f.path,
                        "format": f.detected.format.name(),
                        "names": f.detected.names(),
                        "globals": f.detected.globals,
                    })
                })
                .collect(),
        )
    }

    /// The serialization formats of the model's files (empty for an encrypted model).
    pub fn formats(&self) -> &[FileFormat] {
        &self.formats
    }

    /// True only if every rule holds (no reason).
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// The model path verified.
    pub fn model(&self) -> &Path {
        &self.model
    }

    /// The name the rules were matched against.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The encrypted model's signed name (its envelope's); `None` for a plaintext model.
    pub fn signed_name(&self) -> Option<&str> {
        self.signed_name.as_deref()
    }

    /// The policy file.
    pub fn policy(&self) -> &Path {
        &self.policy
    }

    /// Root digest (lowercase hex) of the first verified signature.
    pub fn root_digest(&self) -> Option<&str> {
        self.root_digest.as_deref()
    }

    /// Serialization of the first verified signature.
    pub fn serialization(&self) -> Option<&SerializationConfig> {
        self.serialization.as_ref()
    }

    /// Files the first verified signature covers.
    pub fn files(&self) -> Option<usize> {
        self.files
    }

    /// Names of the policy signers that verified (signature valid and model matching), sorted.
    pub fn signers(&self) -> &[String] {
        &self.signers
    }

    /// The rule that decided, if one covers the model name.
    pub fn rule(&self) -> Option<&RuleRef> {
        self.rule.as_ref()
    }

    /// Every reason the model is denied; empty when allowed.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The reason code of each of [`PolicyDecision::reasons`], in the same order.
    pub fn reason_codes(&self) -> &[ErrorCode] {
        &self.reason_codes
    }

    /// A random id of this decision, unique per decision (`request_id` of the JSON result).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Names this decision with `id` (`serve` uses the id of the request it answers).
    pub fn set_request_id(&mut self, id: String) {
        self.request_id = id;
    }

    /// SHA-256 (lowercase hex) of the policy file's bytes as loaded.
    pub fn policy_digest(&self) -> &str {
        &self.policy_digest
    }

    /// Signature files inside the model that were exempt from hashing (names relative to it).
    pub fn exempt_files(&self) -> &[String] {
        &self.exempt_files
    }

    /// Per signature file, in the order given.
    pub fn signatures(&self) -> &[SignatureOutcome] {
        &self.signatures
    }

    /// The stage of a sealed model this decision judged; `None` for a model on its own.
    pub fn stage(&self) -> Option<SealedStage> {
        self.stage
    }

    /// The signers of the rule's `require` that verified and counted toward what the rule needs
    /// (its threshold, or at the decrypted stage one of them), sorted.
    pub fn counted(&self) -> &[String] {
        &self.counted
    }
}
