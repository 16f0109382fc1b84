//! `[[models]]` rules: a model-name glob, the signers it requires (k of a list), and the
//! serializations and extra-file tolerance it accepts.
//!
//! Globs are `globset`'s with `*` and `?` not crossing `/` (`prod/*` matches `prod/llm` but not
//! `prod/a/b`; `prod/**` matches both), so a rule for one namespace cannot cover a nested one by
//! accident.

use crate::digest::{Method, SerializationConfig};

/// One `[[models]]` rule.
#[derive(Debug, Clone)]
pub struct ModelRule {
    pub(super) name: String,
    pub(super) glob: globset::GlobMatcher,
    pub(super) require: Vec<String>,
    pub(super) threshold: usize,
    pub(super) allowed_methods: Option<Vec<String>>,
    pub(super) allowed_hash_types: Option<Vec<String>>,
    pub(super) allow_extra_files: bool,
    /// Formats this rule denies, replacing the policy's top-level `deny_formats`.
    pub(super) deny_formats: Option<Vec<String>>,
}

/// Serialization methods a rule may allow.
pub(super) const METHODS: &[&str] = &["files", "shards"];
/// Hash algorithms a rule may allow.
pub(super) const HASH_TYPES: &[&str] = &["sha256", "blake2b", "blake3"];

impl ModelRule {
    /// Compiles a model-name glob (`*`, `?`, `[…]`, `{a,b}`, `**`; `*` does not cross `/`).
    pub(super) fn compile_glob(glob: &str) -> Result<globset::GlobMatcher, String> {
        globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map(|g| g.compile_matcher())
            .map_err(|e| e.kind().to_string())
    }

    /// The glob as written.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The signer names this rule counts.
    pub fn require(&self) -> &[String] {
        &self.require
    }
    /// How many of [`ModelRule::require`] must have verified.
    pub fn threshold(&self) -> usize {
        self.threshold
    }
    /// Whether files in the model that the signature does not list are tolerated.
    pub fn allow_extra_files(&self) -> bool {
        self.allow_extra_files
    }
    /// This rule's `deny_formats`, if it sets one (else the policy's applies).
    pub fn deny_formats(&self) -> Option<&[String]> {
        self.deny_formats.as_deref()
    }
    /// Whether the glob matches `model_name`.
    pub fn matches(&self, model_name: &str) -> bool {
        self.glob.is_match(model_name)
    }

    /// Why a signature's serialization is not accepted by this rule, if it is not.
    pub fn check_serialization(&self, config: &SerializationConfig) -> Result<(), String> {
        let method = method_name(config.method);
        if let Some(allowed) = &self.allowed_methods {
            if !allowed.iter().any(|m| m == method) {
                return Err(format!(
                    "serialization method {method:?} is not allowed (allowed_methods: {})",
                    allowed.join(", ")
                ));
            }
        }
        let hash = config.hash.name();
        if let Some(allowed) = &self.allowed_hash_types {
            if !allowed.iter().any(|h| h == hash) {
                return Err(format!(
                    "hash type {hash:?} is not allowed (allowed_hash_types: {})",
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Which of a sealed model's two signatures a decision judges, and so how a rule's `require` and
/// `threshold` count there (`docs/policy.md`, "Sealed models: two stages").
///
/// The outer signatures (over the encrypted directory: ciphertext, envelope and the encrypted
/// inner signature) carry the threshold: at least `threshold` distinct signers of `require` must
/// have signed them, whether at `seal --key A --key B` or later with `endorse`, which co-signs
/// without a decryption key and so can only sign the ciphertext. The inner signature (over the
/// plaintext, inside the encryption) must verify under at least one signer of `require`. Together
/// this is as strong as the threshold on the plaintext: the ciphertext the outer signers vouch for
/// decrypts, authenticated, to exactly one plaintext, and the inner signature, from a signer the
/// rule trusts, names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedStage {
    /// The encrypted model and its outer signatures: the rule's threshold applies.
    Encrypted,
    /// The decrypted model and its inner signature: one signer of the rule's `require` suffices.
    Decrypted,
}

impl SealedStage {
    /// `encrypted model` / `decrypted model`: how messages, JSON results and audit events name
    /// the stage.
    pub fn label(self) -> &'static str {
        match self {
            SealedStage::Encrypted => "encrypted model",
            SealedStage::Decrypted => "decrypted model",
        }
    }

    /// How many distinct signers of `rule`'s `require` must have verified at this stage.
    pub fn needed(self, rule: &ModelRule) -> usize {
        match self {
            SealedStage::Encrypted => rule.threshold(),
            SealedStage::Decrypted => rule.threshold().min(1),
        }
    }
}

/// `files` or `shards`, as policies and JSON outputs spell them.
pub(crate) fn method_name(method: Method) -> &'static str {
    match method {
        Method::Files => "files",
        Method::Shards { .. } => "shards",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_does_not_cross_a_slash() {
        let g = ModelRule::compile_glob("prod/*").unwrap();
        assert!(g.is_match("prod/llm"));
        assert!(!g.is_match("prod/a/b"));
        assert!(!g.is_match("dev/llm"));
        let g = ModelRule::compile_glob("prod/**").unwrap();
        assert!(g.is_match("prod/a/b"));
        assert!(ModelRule::compile_glob("prod/[").is_err());
    }
}
