//! The trust policy file as written (TOML): strict serde shapes with spans, and the conversion of
//! a TOML error into a [`PolicyError`] that names the file, line and column.
//!
//! Every table refuses unknown fields, so a misspelt field (`treshold`) is an error, not a rule
//! silently weaker than intended. Meaning (which signers exist, what a rule requires) is checked
//! in [`super::load`]; this module only knows the shape.

use super::PolicyError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub version: Spanned<i64>,
    #[serde(default)]
    pub audit_log: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_name_override: bool,
    #[serde(default)]
    pub signers: BTreeMap<String, Spanned<RawSigner>>,
    #[serde(default)]
    pub models: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub rego: Option<Spanned<RawRego>>,
    /// Serialization formats no rule accepts unless it says otherwise (`["pickle"]`).
    #[serde(default)]
    pub deny_formats: Option<Spanned<Vec<String>>>,
}

/// `[signers.NAME]`: a key reference, certificate roots with identity constraints, or a Sigstore
/// keyless identity (`sigstore = true`, `identities`, `issuer`, optional `trusted_root`); for any
/// of them, the RFC 3161 time-stamping authorities trusted to say when it signed (`tsa_roots`) and
/// whether a timestamp is required (`require_timestamp`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigner {
    pub key: Option<Spanned<String>>,
    pub cert_roots: Option<Spanned<OneOrMany>>,
    pub identities: Option<Spanned<Vec<String>>>,
    pub issuer: Option<Spanned<String>>,
    #[serde(default)]
    pub sigstore: bool,
    pub trusted_root: Option<Spanned<String>>,
    pub tsa_roots: Option<Spanned<OneOrMany>>,
    pub require_timestamp: Option<Spanned<bool>>,
}

/// A string or a list of strings (`cert_roots = "ca.pem"` or `["a.pem", "b.pem"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `[[models]]`: a rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub name: Spanned<String>,
    pub require: Spanned<Vec<String>>,
    pub threshold: Option<Spanned<i64>>,
    pub allowed_methods: Option<Spanned<Vec<String>>>,
    pub allowed_hash_types: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub allow_extra_files: bool,
    /// This rule's denied formats, replacing the top-level list (`[]` denies none).
    #[serde(default)]
    pub deny_formats: Option<Spanned<Vec<String>>>,
}

/// `[rego]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRego {
    pub file: Spanned<String>,
}

/// Parses the text of a policy file; a syntax or shape error names the file, line and column.
pub(super) fn parse(path: &Path, text: &str) -> Result<RawPolicy, PolicyError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((0, 0));
        PolicyError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            reason: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}
