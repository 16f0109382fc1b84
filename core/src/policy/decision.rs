//! The result of verifying a model under a policy: allowed or not, which rule decided, which
//! signers verified, and every reason for a denial. Its JSON result and audit event are built in
//! `report` (`report::DecisionReport`, `report::policy_event`).

use super::rules::{method_name, SealedStage};
use crate::digest::SerializationConfig;
use crate::scan::FileFormat;
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
