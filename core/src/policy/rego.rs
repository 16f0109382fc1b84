//! The optional Rego policy, evaluated in-process with `regorus` (OPA's language, no OPA server).
//!
//! The file must declare `package modelseal` (Rego v1 syntax: `deny contains msg if { … }`); the
//! decision is `data.modelseal.deny`, a set of messages, empty meaning allowed. A policy that does
//! not define `deny` allows; a `deny` that is not a set or array, or an evaluation error, is
//! reported as a denial (fail closed).

use super::decision::RuleRef;
use super::PolicyError;
use crate::scan::FileFormat;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The package every policy file must declare.
const PACKAGE: &str = "data.modelseal";
/// The rule whose value is the decision.
const DENY_RULE: &str = "data.modelseal.deny";
/// Largest Rego file read.
const MAX_REGO_BYTES: u64 = 1024 * 1024;

/// A parsed Rego policy, ready to evaluate.
#[derive(Clone)]
pub(super) struct RegoPolicy {
    path: PathBuf,
    engine: regorus::Engine,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegoPolicy({})", self.path.display())
    }
}

impl RegoPolicy {
    /// Reads and parses `path`; it must declare `package modelseal`. A file group or others can
    /// change is refused unless `allow_insecure`.
    pub fn load(path: &Path, allow_insecure: bool) -> Result<RegoPolicy, PolicyError> {
        let text = super::load::read_bounded(path, MAX_REGO_BYTES, allow_insecure)?;
        let err = |reason: String| PolicyError::Rego {
            path: path.to_path_buf(),
            reason,
        };
        let mut engine = regorus::Engine::new();
        // Rego v1 (OPA 1.x syntax: `contains`, `if`), said explicitly rather than left to a default.
        engine.set_rego_v0(false);
        let package = engine
            .add_policy(path.display().to_string(), text)
            .map_err(|e| err(format!("invalid Rego: {e}")))?;
        if package != PACKAGE {
            return Err(err(format!(
                "declares {package}; a modelseal policy must declare `package modelseal`"
            )));
        }
        Ok(RegoPolicy {
            path: path.to_path_buf(),
            engine,
        })
    }

    /// The Rego file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Evaluates `data.modelseal.deny` for `input`: the deny messages, sorted as Rego sets are.
    pub fn deny(&self, input: &serde_json::Value) -> Vec<String> {
        // A clone per evaluation keeps `Policy` shareable: the engine mutates while evaluating.
        let mut engine = self.engine.clone();
        engine.set_input(regorus::Value::from(input.clone()));
        let value = match engine.eval_rule(DENY_RULE.to_string()) {
            Ok(value) => value,
            Err(e) => return vec![format!("evaluation failed: {e}")],
        };
        if value == regorus::Value::Undefined {
            return Vec::new();
        }
        let items: Vec<regorus::Value> = if let Ok(set) = value.as_set() {
            set.iter().cloned().collect()
        } else if let Ok(array) = value.as_array() {
            array.iter().cloned().collect()
        } else {
            return vec![format!(
                "{DENY_RULE} must be a set of messages, found {}",
                value.to_json_str().unwrap_or_default()
            )];
        };
        items
            .iter()
            .map(|item| match item.as_string() {
                Ok(s) => s.to_string(),
                Err(_) => item.to_json_str().unwrap_or_default(),
            })
            .collect()
    }
}

/// The rule as every JSON result and the Rego input spell it: `{index, name, require, threshold}`.
pub(super) fn rule_json(rule: &RuleRef) -> Value {
    json!({
        "index": rule.index,
        "name": rule.name,
        "require": rule.require,
        "threshold": rule.threshold,
    })
}

/// The Rego input's `file_list`: every file of the model as `{path, size, format, names}`, so
/// a policy can judge the files whatever verified (`format`/`names` are the format detection's
/// that the decision carries, `null`/`[]` for a file it did not examine). A plaintext model is
/// walked again (names and sizes only, nothing read) with the verification's ignores; an
/// encrypted model lists its envelope's files (their plaintext sizes). A model that cannot be
/// listed gives `[]` (its verification reports why).
pub(super) fn files_json(model: &Path, ignore: &[PathBuf], formats: &[FileFormat]) -> Value {
    let files: Vec<(String, u64)> = if crate::envelope::is_encrypted(model) {
        crate::envelope::inspect_encrypted(model)
            .map(|s| s.files)
            .unwrap_or_default()
    } else {
        crate::tree::walk(
            model,
            &crate::tree::WalkOptions {
                ignore: crate::tree::resolve_user_ignores(model, ignore),
                ignore_git_paths: true,
                allow_symlinks: true,
            },
        )
        .map(|tree| {
            tree.files
                .iter()
                .map(|f| (f.name.as_str().to_string(), f.len))
                .collect()
        })
        .unwrap_or_default()
    };
    Value::Array(
        files
            .into_iter()
            .map(|(path, size)| {
                let format = formats.iter().find(|f| f.path == path);
                json!({
                    "path": path,
                    "size": size,
                    "format": format.map(|f| f.detected.format.name()),
                    "names": format.map(|f| f.detected.names()).unwrap_or_default(),
                })
            })
            .collect(),
    )
}
