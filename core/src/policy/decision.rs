//! The result of verifying a model under a policy: allowed or not, which rule decided, which
//! signers verified, and every reason for a denial — one JSON shape for the CLI, Python and the
//! audit log ([`PolicyDecision::to_json`]).

use super::rules::method_name;
use crate::digest::SerializationConfig;
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

/// What one signature file contributed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignatureOutcome {
    /// The signature file.
    pub path: PathBuf,
    /// Policy signers whose trust accepted the signature (before the model was compared).
    pub signers: Vec<String>,
    /// The signed root digest (lowercase hex), when a trusted signer's statement was read.
    pub root_digest: Option<String>,
    /// True when a policy signer signed it, the rule accepts its serialization, and the model matches.
    pub verified: bool,
}

/// The policy's answer for one model.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PolicyDecision {
    /// True only if every rule holds (no reason below).
    pub allowed: bool,
    /// The model path verified.
    pub model: PathBuf,
    /// The name the rules were matched against.
    pub model_name: String,
    /// The policy file.
    pub policy: PathBuf,
    /// Root digest (lowercase hex) of the first verified signature.
    pub root_digest: Option<String>,
    /// Serialization of the first verified signature.
    pub serialization: Option<SerializationConfig>,
    /// Files the first verified signature covers.
    pub files: Option<usize>,
    /// Names of the policy signers that verified (signature valid and model matching), sorted.
    pub signers: Vec<String>,
    /// The rule that decided, if one covers the model name.
    pub rule: Option<RuleRef>,
    /// Every reason the model is denied; empty when allowed.
    pub reasons: Vec<String>,
    /// Per signature file, in the order given.
    pub signatures: Vec<SignatureOutcome>,
}

impl PolicyDecision {
    /// The rule's label, or `none` (for messages and audit events).
    pub fn rule_label(&self) -> String {
        self.rule
            .as_ref()
            .map(RuleRef::label)
            .unwrap_or_else(|| "none".into())
    }

    /// `{method, hash_type}` of a serialization, as the JSON result and the Rego input spell it.
    pub fn serialization_json(config: Option<&SerializationConfig>) -> Value {
        match config {
            Some(c) => json!({"method": method_name(c.method), "hash_type": c.hash.name()}),
            None => Value::Null,
        }
    }

    /// The JSON result shared by `modelseal verify --policy --json` and Python.
    pub fn to_json(&self) -> Value {
        json!({
            "allowed": self.allowed,
            "verified": self.allowed,
            "model": path_text(&self.model),
            "model_name": self.model_name,
            "policy": path_text(&self.policy),
            "root_digest": self.root_digest,
            "serialization": Self::serialization_json(self.serialization.as_ref()),
            "files": self.files,
            "signers": self.signers,
            "rule": self.rule.as_ref().map(|r| json!({
                "index": r.index,
                "name": r.name,
                "require": r.require,
                "threshold": r.threshold,
            })),
            "reasons": self.reasons,
            "signatures": self.signatures.iter().map(|s| json!({
                "path": path_text(&s.path),
                "signers": s.signers,
                "root_digest": s.root_digest,
                "verified": s.verified,
            })).collect::<Vec<_>>(),
        })
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}
