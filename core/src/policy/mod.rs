//! The trust policy: which signers a verifier trusts, which of them must have signed a model of a
//! given name, and optional Rego rules on top — evaluated in one call, [`Policy::verify`], that
//! answers "may this model be deployed, signed by whom, under which rule" (`docs/policy.md`).
//!
//! Guarantees: a policy is parsed strictly (unknown fields, unknown signer names, impossible
//! thresholds are load errors naming the file, line and field); public keys of `key` signers are
//! fetched once at load and pinned, so a KMS or HSM key that changes later does not change what the
//! loaded policy trusts; a [`PolicyDecision`] is allowed only if every rule holds, and otherwise
//! lists every reason.
//!
//! Layout: `file` (the TOML shapes), `load` (meaning and checks), `signers` (one trusted signer and
//! its identity constraints), `rules` (model-name globs, thresholds), `rego` (the Rego engine),
//! `evaluate` (the decision procedure) and `decision` (its result). A
//! webhook's request (for `modelseal serve`) is [`crate::hook`].

mod decision;
mod evaluate;
mod file;
mod load;
mod rego;
mod rules;
mod signers;
#[cfg(test)]
mod tests;

pub use decision::{PolicyDecision, RuleRef, SignatureOutcome};
pub use evaluate::{LoadFacts, PolicyVerifyOptions, VerifiedFormats};
pub use rules::{ModelRule, SealedStage};
pub use signers::PolicySigner;

use std::path::{Path, PathBuf};

/// Errors loading a policy (input errors: exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file (or a file it names) could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The policy file, or the Rego file it names.
        path: PathBuf,
        /// The underlying error; a file over its size limit or not UTF-8 is `InvalidData`.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the policy's shape (unknown field, wrong type).
    #[error("{path}:{line}:{column}: {reason}")]
    Syntax {
        /// The policy file.
        path: PathBuf,
        /// 1-based line of the error (0 when the TOML parser gives no position).
        line: usize,
        /// 1-based column of the error (0 when the TOML parser gives no position).
        column: usize,
        /// The TOML parser's message.
        reason: String,
    },
    /// A field has a value that makes no sense (unknown signer, threshold above the list, …).
    #[error("{path}:{line}: {field}: {reason}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// The field as a path in the policy, e.g. `signers.ci.key` or `models[0].name`.
        field: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The policy or its Rego file can be changed by group or others (the file, or its directory
    /// outside a read-only mount): whoever can rewrite a policy decides what is trusted.
    #[error("{path}: {reason}, so others could rewrite what it trusts; chmod go-w it (or pass --allow-insecure-key-permissions)")]
    WritableByOthers {
        /// The policy or Rego file.
        path: PathBuf,
        /// Which mode lets them (the file's or its directory's).
        reason: String,
    },
    /// The Rego file does not parse or does not define `package modelseal`.
    #[error("{path}: {reason}")]
    Rego {
        /// The Rego file.
        path: PathBuf,
        /// The Rego parser's message, or the package the file declares instead.
        reason: String,
    },
}

/// How to load a policy: what the operator allows beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    /// Accept a policy, Rego file or pinned key file that group or others can write (the same
    /// override as for readable secret keys).
    pub allow_insecure_permissions: bool,
    /// PKCS#11 modules a `key = "pkcs11:…?module-path=…"` signer may load. A policy file cannot
    /// make the verifier `dlopen` a library the operator did not name: any other `module-path`
    /// is refused at load (a signer without one uses `MODELSEAL_PKCS11_MODULE`, set by the
    /// operator).
    pub allow_pkcs11_modules: Vec<PathBuf>,
}

/// A loaded trust policy.
#[derive(Debug)]
pub struct Policy {
    path: PathBuf,
    /// SHA-256 (lowercase hex) of the policy file's bytes as loaded.
    digest: String,
    audit_log: Option<PathBuf>,
    /// Whether a caller's model name may differ from the encrypted model's signed name.
    allow_name_override: bool,
    signers: Vec<PolicySigner>,
    rules: Vec<ModelRule>,
    rego: Option<rego::RegoPolicy>,
    /// Formats denied where a rule does not say otherwise (`deny_formats`, top level).
    deny_formats: Vec<String>,
}

impl Policy {
    /// Reads and checks the policy at `path` (relative paths inside it are relative to its
    /// directory) and fetches and pins the public key of every `key` signer.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        load::load(path, &PolicyOptions::default())
    }

    /// [`Policy::load`] with `options` (an insecure-permissions override, allowed PKCS#11
    /// modules).
    pub fn load_with(path: &Path, options: &PolicyOptions) -> Result<Policy, PolicyError> {
        load::load(path, options)
    }

    /// The policy file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 (lowercase hex) of the policy file's bytes as loaded (every decision names it).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `audit_log`, resolved against the policy's directory.
    pub fn audit_log(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// The trusted signers, in name order.
    pub fn signers(&self) -> &[PolicySigner] {
        &self.signers
    }

    /// The `[[models]]` rules, in file order (the first whose glob matches decides).
    pub fn rules(&self) -> &[ModelRule] {
        &self.rules
    }

    /// The Rego file, if the policy has one.
    pub fn rego_file(&self) -> Option<&Path> {
        self.rego.as_ref().map(|r| r.path())
    }

    /// The serialization formats denied for a model under `rule`: the rule's `deny_formats`,
    /// else the policy's top-level one.
    pub fn deny_formats<'a>(&'a self, rule: Option<&'a ModelRule>) -> &'a [String] {
        rule.and_then(ModelRule::deny_formats)
            .unwrap_or(&self.deny_formats)
    }

    /// The rule that decides for `model_name`: the first whose glob matches.
    pub fn rule_for(&self, model_name: &str) -> Option<(usize, &ModelRule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(model_name))
    }
}
