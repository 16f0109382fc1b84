//! The result of every operation as the doors show it, and the audit event it implies: the one
//! place where JSON results and audit events are assembled (floor 10, `docs/ARCHITECTURE.md`).
//!
//! Each `*Report` type is `Serialize`; [`json`] turns one into the object the CLI's `--json`
//! prints (keys sorted, as every JSON output has been) and the Python bindings convert into a
//! `dict`. Each `*_event` function builds the [`AuditEvent`] of one operation from its inputs and
//! how it ended ([`Failure`]), so the CLI, Python and `serve` append the same line.
//!
//! Where two doors show a result differently today, the difference is kept and named here (the
//! unified JSON contract is a later change of this one file):
//! - a signature's serialization has three shapes: [`Serialization`] (sign, verify, inspect),
//!   [`SerializationBrief`] (a policy decision, as the Rego input spells it) and the flat fields
//!   of [`PyVerified`] (Python's `VerificationResult`);
//! - Python's `seal` dict has no `recipients` ([`SealReport::without_recipients`]), and Python's
//!   `verify`, `encrypt`, `decrypt`, `rewrap` and `inspect_encrypted` have their own shapes
//!   (`Py*`), which its dataclasses and tuples are built from.

use crate::audit::{AuditEvent, Operation};
use crate::deploy::{DeployError, SealOutcome, UnsealOutcome};
use crate::digest::{Method, SerializationConfig};
use crate::envelope::format::Layout;
use crate::envelope::{DecryptSummary, EncryptSummary, EncryptedSummary, SealError};
use crate::inspect::SignatureSummary;
use crate::keys::file::GeneratedKey;
use crate::load::OpenedModel;
use crate::oms::Statement;
use crate::policy::{PolicyDecision, RuleRef};
use crate::scan::{format_names, FileFormat, Finding, ScanResult};
use crate::sign::SignOutcome;
use crate::trust::SignerIdentity;
use crate::verify::{VerifiedModel, VerifyError};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// `report` as the JSON object the doors print: keys in sorted order, one line with
/// `to_string()`.
pub fn json<T: Serialize>(report: &T) -> Value {
    // Every report holds only strings, numbers, booleans, sequences and string-keyed structs,
    // which `to_value` cannot fail on.
    serde_json::to_value(report).unwrap_or(Value::Null)
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Files => "files",
        Method::Shards { .. } => "shards",
    }
}

/// `(type, key_id)` of a stanza as `{"type", "key_id"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// Stanza type (`aes256-kek`, `x25519-hpke`, …).
    #[serde(rename = "type")]
    pub stanza_type: String,
    /// The recipient's key id.
    pub key_id: String,
}

fn recipients(pairs: &[(String, String)]) -> Vec<Recipient> {
    pairs
        .iter()
        .map(|(t, k)| Recipient {
            stanza_type: t.clone(),
            key_id: k.clone(),
        })
        .collect()
}

/// A signature's serialization as sign, verify and inspect print it.
#[derive(Debug, Clone, Serialize)]
pub struct Serialization {
    method: &'static str,
    hash_type: &'static str,
    allow_symlinks: bool,
    ignore_paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_size: Option<u64>,
}

impl From<&SerializationConfig> for Serialization {
    fn from(config: &SerializationConfig) -> Serialization {
        Serialization {
            method: method_name(config.method),
            hash_type: config.hash.name(),
            allow_symlinks: config.allow_symlinks,
            ignore_paths: config.ignore_paths.clone(),
            shard_size: match config.method {
                Method::Shards { shard_size } => Some(shard_size),
                Method::Files => None,
            },
        }
    }
}

/// A serialization as a policy decision (and its Rego input) spells it: method and hash only.
#[derive(Debug, Clone, Serialize)]
pub struct SerializationBrief {
    method: &'static str,
    hash_type: &'static str,
}

impl From<&SerializationConfig> for SerializationBrief {
    fn from(config: &SerializationConfig) -> SerializationBrief {
        SerializationBrief {
            method: method_name(config.method),
            hash_type: config.hash.name(),
        }
    }
}

/// Who signed, as `verify` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Signer {
    method: &'static str,
    algorithm: &'static str,
    key_hint: String,
    certificate_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// Keyless: the log's time; otherwise a verified RFC 3161 timestamp's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_index: Option<u64>,
    /// The TSA (certificate subject) of the verified timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_authority: Option<String>,
    /// Timestamps in the bundle that were not checked (no TSA roots given): they proved nothing.
    #[serde(skip_serializing_if = "is_zero")]
    unchecked_timestamps: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl From<&SignerIdentity> for Signer {
    fn from(signer: &SignerIdentity) -> Signer {
        let keyless = signer.keyless.as_ref();
        Signer {
            method: signer.method,
            algorithm: signer.algorithm.name(),
            key_hint: signer.key_hint.clone(),
            certificate_subject: signer.certificate_subject.clone(),
            identity: keyless.map(|k| k.identity.clone()),
            issuer: keyless.map(|k| k.issuer.clone()),
            signing_time: keyless
                .map(|k| k.signing_time_text())
                .or_else(|| signer.timestamp.as_ref().map(|t| t.rfc3339())),
            log_index: keyless.map(|k| k.log_index),
            timestamp_authority: signer.timestamp.as_ref().map(|t| t.tsa.clone()),
            unchecked_timestamps: signer.unverified_timestamps,
        }
    }
}

/// The signing key of `sign`'s result.
#[derive(Debug, Clone, Serialize)]
struct SigningKey {
    method: &'static str,
    algorithm: &'static str,
    key_hint: String,
}

/// `sign`: the signature written.
#[derive(Debug, Clone, Serialize)]
pub struct SignReport {
    signed: bool,
    model: String,
    signature: String,
    root_digest: String,
    resources: usize,
    serialization: Serialization,
    signer: SigningKey,
    warnings: Vec<String>,
}

impl SignReport {
    /// The result of signing `model` with a key of `algorithm` (its name, `ec-p256`, …).
    pub fn new(model: &Path, outcome: &SignOutcome, algorithm: &'static str) -> SignReport {
        let statement = &outcome.statement;
        SignReport {
            signed: true,
            model: text(model),
            signature: text(&outcome.signature_path),
            root_digest: hex::encode(statement.root_digest),
            resources: statement.resources.len(),
            serialization: (&statement.serialization).into(),
            signer: SigningKey {
                method: outcome.method,
                algorithm,
                key_hint: outcome.key_hint.clone(),
            },
            warnings: outcome.warnings.clone(),
        }
    }
}

/// `verify` with a key, certificate roots or Sigstore: a model that verified.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    verified: bool,
    model: String,
    signature: String,
    /// The line of a claims file (`.jsonl`) whose signature verified; absent for a single bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    model_name: String,
    root_digest: String,
    resources: usize,
    signer: Signer,
    serialization: Serialization,
    errors: [String; 0],
}

impl From<&VerifiedModel> for VerifyReport {
    fn from(verified: &VerifiedModel) -> VerifyReport {
        VerifyReport {
            verified: true,
            model: text(verified.model()),
            signature: text(verified.signature()),
            line: verified.line(),
            model_name: verified.subject_name().to_string(),
            root_digest: verified.root_digest_hex(),
            resources: verified.resources().len(),
            signer: verified.signer().into(),
            serialization: verified.serialization().into(),
            errors: [],
        }
    }
}

/// `verify` with a key, certificate roots or Sigstore: why the model did not verify.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyFailure {
    verified: bool,
    model: String,
    signature: String,
    root_digest: Option<String>,
    signer: Option<()>,
    serialization: Option<()>,
    errors: Vec<String>,
}

impl VerifyFailure {
    /// Verifying `model` against `signature` ended in `err`.
    pub fn new(model: &Path, signature: &Path, err: &VerifyError) -> VerifyFailure {
        VerifyFailure {
            verified: false,
            model: text(model),
            signature: text(signature),
            root_digest: match err {
                VerifyError::Mismatch {
                    signed_root_digest, ..
                } => Some(signed_root_digest.clone()),
                _ => None,
            },
            signer: None,
            serialization: None,
            errors: err.reasons(),
        }
    }
}

/// The flat dict Python's `verify` returns (`VerificationResult`'s fields).
#[derive(Debug, Clone, Serialize)]
pub struct PyVerified {
    model: String,
    signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    model_name: String,
    root_digest: String,
    resources: usize,
    signer_method: &'static str,
    signer_algorithm: &'static str,
    key_hint: String,
    certificate_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sigstore_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sigstore_issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_authority: Option<String>,
    method: &'static str,
    hash_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_size: Option<u64>,
}

impl From<&VerifiedModel> for PyVerified {
    fn from(verified: &VerifiedModel) -> PyVerified {
        PyVerified {
            line: verified.line(),
            ..PyVerified::of(
                verified.model(),
                verified.signature(),
                verified.subject_name(),
                verified.root_digest_hex(),
                verified.resources().len(),
                verified.signer(),
                verified.serialization(),
            )
        }
    }
}

/// What `modelseal.open_model` says of the model it opened: the same dict as `verify` returns
/// (the files are verified later, as they are read).
impl From<&OpenedModel> for PyVerified {
    fn from(opened: &OpenedModel) -> PyVerified {
        PyVerified::of(
            opened.model(),
            opened.signature(),
            opened.subject_name(),
            opened.root_digest_hex(),
            opened.resource_count(),
            opened.signer(),
            opened.serialization(),
        )
    }
}

impl PyVerified {
    fn of(
        model: &Path,
        signature: &Path,
        subject_name: &str,
        root_digest: String,
        resources: usize,
        signer: &SignerIdentity,
        serialization: &SerializationConfig,
    ) -> PyVerified {
        let signer = Signer::from(signer);
        let serialization = Serialization::from(serialization);
        PyVerified {
            model: text(model),
            signature: text(signature),
            line: None,
            model_name: subject_name.to_string(),
            root_digest,
            resources,
            signer_method: signer.method,
            signer_algorithm: signer.algorithm,
            key_hint: signer.key_hint,
            certificate_subject: signer.certificate_subject,
            sigstore_identity: signer.identity,
            sigstore_issuer: signer.issuer,
            signing_time: signer.signing_time,
            log_index: signer.log_index,
            timestamp_authority: signer.timestamp_authority,
            method: serialization.method,
            hash_type: serialization.hash_type,
            shard_size: serialization.shard_size,
        }
    }
}

/// The rule of a decision.
#[derive(Debug, Clone, Serialize)]
struct Rule {
    index: usize,
    name: String,
    require: Vec<String>,
    threshold: usize,
}

impl From<&RuleRef> for Rule {
    fn from(r: &RuleRef) -> Rule {
        Rule {
            index: r.index,
            name: r.name.clone(),
            require: r.require.clone(),
            threshold: r.threshold,
        }
    }
}

/// What one signature file contributed to a decision.
#[derive(Debug, Clone, Serialize)]
struct SignatureReport {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    signers: Vec<String>,
    root_digest: Option<String>,
    verified: bool,
}

/// `verify --policy` (CLI, Python, `serve`), and each stage of `unseal`: the policy's decision.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionReport {
    allowed: bool,
    verified: bool,
    model: String,
    model_name: String,
    signed_name: Option<String>,
    policy: String,
    root_digest: Option<String>,
    serialization: Option<SerializationBrief>,
    files: Option<usize>,
    signers: Vec<String>,
    rule: Option<Rule>,
    reasons: Vec<String>,
    signatures: Vec<SignatureReport>,
    exempt_files: Vec<String>,
    formats: Vec<FormatReport>,
    format_names: Vec<&'static str>,
}

impl From<&PolicyDecision> for DecisionReport {
    fn from(d: &PolicyDecision) -> DecisionReport {
        DecisionReport {
            allowed: d.allowed(),
            verified: d.allowed(),
            model: text(d.model()),
            model_name: d.model_name().to_string(),
            signed_name: d.signed_name().map(str::to_string),
            policy: text(d.policy()),
            root_digest: d.root_digest().map(str::to_string),
            serialization: d.serialization().map(SerializationBrief::from),
            files: d.files(),
            signers: d.signers().to_vec(),
            rule: d.rule().map(Rule::from),
            reasons: d.reasons().to_vec(),
            signatures: d
                .signatures()
                .iter()
                .map(|s| SignatureReport {
                    path: text(&s.path),
                    line: s.line,
                    signers: s.signers.clone(),
                    root_digest: s.root_digest.clone(),
                    verified: s.verified,
                })
                .collect(),
            exempt_files: d.exempt_files().to_vec(),
            formats: d.formats().iter().map(FormatReport::from).collect(),
            format_names: format_names(d.formats()),
        }
    }
}

/// `verify --policy` (CLI and `serve`): nothing was decided (an input error, exit code 2).
#[derive(Debug, Clone, Serialize)]
pub struct DecisionInputError {
    allowed: bool,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    model: String,
    policy: String,
    reasons: Vec<String>,
}

impl DecisionInputError {
    /// Verifying `model` under the policy file `policy` failed for `reason`.
    pub fn new(model: &Path, policy: &Path, reason: String) -> DecisionInputError {
        DecisionInputError {
            allowed: false,
            verified: false,
            error: None,
            model: text(model),
            policy: text(policy),
            reasons: vec![reason],
        }
    }

    /// The shape `serve` answers with (HTTP 422): the same, with `"error": "input"`.
    pub fn for_serve(mut self) -> DecisionInputError {
        self.error = Some("input");
        self
    }
}

/// `keygen`: the key files written, and what identifies the key: a signing key's OMS key hint
/// (`key_hint`), or an encryption key's key id (`key_id`, `docs/FORMAT.md` §6.5).
#[derive(Debug, Clone, Serialize)]
pub struct KeygenReport {
    algorithm: String,
    private_key: String,
    public_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
}

impl KeygenReport {
    /// The report of `generated`: a signing key names its algorithm, an encryption key its stanza
    /// type.
    pub fn new(generated: &GeneratedKey) -> KeygenReport {
        let signing = generated.kind.signing_algorithm();
        KeygenReport {
            algorithm: match signing {
                Some(algorithm) => algorithm.name().to_owned(),
                None => generated.stanza_type.unwrap_or_default().to_owned(),
            },
            private_key: text(&generated.secret),
            public_key: generated.public.as_deref().map(text),
            key_hint: signing.map(|_| generated.key_id.clone()),
            key_id: signing.is_none().then(|| generated.key_id.clone()),
        }
    }
}

/// `encrypt`: the encrypted model written.
#[derive(Debug, Clone, Serialize)]
pub struct EncryptReport {
    encrypted: bool,
    model: String,
    out: String,
    files: usize,
    bytes: u64,
    chunk_size: u32,
    body_digest: String,
    recipients: Vec<Recipient>,
}

impl EncryptReport {
    /// `model` encrypted to `out` in chunks of `chunk_size` bytes.
    pub fn new(model: &Path, out: &Path, chunk_size: u32, s: &EncryptSummary) -> EncryptReport {
        EncryptReport {
            encrypted: true,
            model: text(model),
            out: text(out),
            files: s.files,
            bytes: s.bytes,
            chunk_size,
            body_digest: hex::encode(s.body_digest),
            recipients: recipients(&s.recipients),
        }
    }
}

/// The dict Python's `encrypt` returns (`EncryptResult`: recipients as `(type, key_id)`).
#[derive(Debug, Clone, Serialize)]
pub struct PyEncrypted {
    out: String,
    files: usize,
    bytes: u64,
    body_digest: String,
    recipients: Vec<(String, String)>,
}

impl PyEncrypted {
    /// `EncryptResult` of encrypting to `out`.
    pub fn new(out: &Path, s: &EncryptSummary) -> PyEncrypted {
        PyEncrypted {
            out: text(out),
            files: s.files,
            bytes: s.bytes,
            body_digest: hex::encode(s.body_digest),
            recipients: s.recipients.clone(),
        }
    }
}

/// `decrypt`: the model decrypted, every byte authenticated.
#[derive(Debug, Clone, Serialize)]
pub struct DecryptReport {
    decrypted: bool,
    encrypted: String,
    out: String,
    model_name: String,
    files: usize,
    bytes: u64,
    body_digest: String,
    recipient: Recipient,
    errors: [String; 0],
}

impl DecryptReport {
    /// `encrypted` decrypted to `out`.
    pub fn new(encrypted: &Path, out: &Path, s: &DecryptSummary) -> DecryptReport {
        DecryptReport {
            decrypted: true,
            encrypted: text(encrypted),
            out: text(out),
            model_name: s.model_name.clone(),
            files: s.files,
            bytes: s.bytes,
            body_digest: hex::encode(s.body_digest),
            recipient: recipients(std::slice::from_ref(&s.recipient)).remove(0),
            errors: [],
        }
    }
}

/// The dict Python's `decrypt` returns (`DecryptResult`: the recipient as `(type, key_id)`).
#[derive(Debug, Clone, Serialize)]
pub struct PyDecrypted {
    out: String,
    model_name: String,
    files: usize,
    bytes: u64,
    body_digest: String,
    recipient: (String, String),
}

impl PyDecrypted {
    /// `DecryptResult` of decrypting to `out`.
    pub fn new(out: &Path, s: &DecryptSummary) -> PyDecrypted {
        PyDecrypted {
            out: text(out),
            model_name: s.model_name.clone(),
            files: s.files,
            bytes: s.bytes,
            body_digest: hex::encode(s.body_digest),
            recipient: s.recipient.clone(),
        }
    }
}

/// `rewrap`: the recipients afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct RewrapReport {
    rewrapped: bool,
    encrypted: String,
    recipients: Vec<Recipient>,
    errors: [String; 0],
}

impl RewrapReport {
    /// `encrypted` rewrapped; `after` are its stanzas' `(type, key_id)`.
    pub fn new(encrypted: &Path, after: &[(String, String)]) -> RewrapReport {
        RewrapReport {
            rewrapped: true,
            encrypted: text(encrypted),
            recipients: recipients(after),
            errors: [],
        }
    }
}

/// Which envelope operation failed, naming the `false` key of [`EnvelopeFailure`].
#[derive(Debug, Clone, Copy)]
pub enum EnvelopeVerb {
    /// `decrypt` (`"decrypted": false`).
    Decrypt,
    /// `rewrap` (`"rewrapped": false`).
    Rewrap,
}

/// `decrypt` or `rewrap` failed: `{"decrypted"|"rewrapped": false, error_class, errors}`.
#[derive(Debug, Clone)]
pub struct EnvelopeFailure {
    verb: EnvelopeVerb,
    error_class: &'static str,
    errors: Vec<String>,
}

impl EnvelopeFailure {
    /// `verb` ended in `err`.
    pub fn new(verb: EnvelopeVerb, err: &SealError) -> EnvelopeFailure {
        EnvelopeFailure {
            verb,
            error_class: err.code(),
            errors: vec![err.to_string()],
        }
    }
}

impl Serialize for EnvelopeFailure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        let key = match self.verb {
            EnvelopeVerb::Decrypt => "decrypted",
            EnvelopeVerb::Rewrap => "rewrapped",
        };
        map.serialize_entry(key, &false)?;
        map.serialize_entry("error_class", self.error_class)?;
        map.serialize_entry("errors", &self.errors)?;
        map.end()
    }
}

/// `seal`: the encrypted model and its signature.
#[derive(Debug, Clone, Serialize)]
pub struct SealReport {
    sealed: bool,
    model: String,
    out: String,
    signature: String,
    root_digest: String,
    encrypted_root_digest: String,
    files: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<Vec<Recipient>>,
}

impl SealReport {
    /// `model` sealed to `out`.
    pub fn new(model: &Path, out: &Path, outcome: &SealOutcome) -> SealReport {
        SealReport {
            sealed: true,
            model: text(model),
            out: text(out),
            signature: text(&outcome.outer.signature_path),
            root_digest: hex::encode(outcome.inner.statement.root_digest),
            encrypted_root_digest: hex::encode(outcome.outer.statement.root_digest),
            files: outcome.encrypted.files,
            recipients: Some(recipients(&outcome.encrypted.recipients)),
        }
    }

    /// The shape Python's `seal` returns: the same, without `recipients`.
    pub fn without_recipients(mut self) -> SealReport {
        self.recipients = None;
        self
    }
}

/// `unseal`: the model published, and both decisions.
#[derive(Debug, Clone, Serialize)]
pub struct UnsealReport {
    unsealed: bool,
    already_unsealed: bool,
    out: String,
    model_name: String,
    root_digest: Option<String>,
    signers: Vec<String>,
    rule: String,
    outer: DecisionReport,
    inner: DecisionReport,
    reasons: [String; 0],
}

impl UnsealReport {
    /// Unsealed into `out`.
    pub fn new(out: &Path, outcome: &UnsealOutcome) -> UnsealReport {
        let inner = &outcome.inner;
        UnsealReport {
            unsealed: true,
            already_unsealed: outcome.already_unsealed(),
            out: text(out),
            model_name: inner.model_name().to_string(),
            root_digest: inner.root_digest().map(str::to_string),
            signers: inner.signers().to_vec(),
            rule: inner.rule_label(),
            outer: (&outcome.outer).into(),
            inner: inner.into(),
            reasons: [],
        }
    }
}

/// The stage that denied an unseal, and its decision.
#[derive(Debug, Clone, Serialize)]
struct Denial {
    stage: &'static str,
    decision: DecisionReport,
}

/// `unseal` failed: nothing was published.
#[derive(Debug, Clone, Serialize)]
pub struct UnsealFailure {
    unsealed: bool,
    out: String,
    denied: Option<Denial>,
    reasons: Vec<String>,
}

impl UnsealFailure {
    /// Unsealing into `out` ended in `err`.
    pub fn new(out: &Path, err: &DeployError) -> UnsealFailure {
        UnsealFailure {
            unsealed: false,
            out: text(out),
            denied: match err {
                DeployError::Denied { stage, decision } => Some(Denial {
                    stage,
                    decision: DecisionReport::from(&**decision),
                }),
                _ => None,
            },
            reasons: err.reasons(),
        }
    }
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Directory => "directory",
        Layout::SingleFile => "single-file",
    }
}

/// One file of an encrypted model.
#[derive(Debug, Clone, Serialize)]
struct EncryptedFile {
    path: String,
    size: u64,
}

/// One recipient of an encrypted model, with its text parameters.
#[derive(Debug, Clone, Serialize)]
struct InspectedRecipient {
    #[serde(rename = "type")]
    stanza_type: String,
    key_id: String,
    params: Vec<String>,
}

/// `inspect` of an encrypted model (unauthenticated).
#[derive(Debug, Clone, Serialize)]
pub struct InspectEncryptedReport {
    encrypted: bool,
    authenticated: bool,
    path: String,
    envelope: String,
    format_version: u16,
    layout: &'static str,
    model_name: String,
    chunk_size: u32,
    body_digest: String,
    total_bytes: u64,
    files: Vec<EncryptedFile>,
    recipients: Vec<InspectedRecipient>,
}

impl InspectEncryptedReport {
    /// What the encrypted model at `path` claims.
    pub fn new(path: &Path, s: &EncryptedSummary) -> InspectEncryptedReport {
        InspectEncryptedReport {
            encrypted: true,
            authenticated: false,
            path: text(path),
            envelope: text(&s.envelope_path),
            format_version: s.version,
            layout: layout_name(s.layout),
            model_name: s.model_name.clone(),
            chunk_size: s.chunk_size,
            body_digest: hex::encode(s.body_digest),
            total_bytes: s.total_bytes(),
            files: s
                .files
                .iter()
                .map(|(path, size)| EncryptedFile {
                    path: path.clone(),
                    size: *size,
                })
                .collect(),
            recipients: s
                .recipients
                .iter()
                .map(|r| InspectedRecipient {
                    stanza_type: r.stanza_type.clone(),
                    key_id: r.key_id.clone(),
                    params: r.params.clone(),
                })
                .collect(),
        }
    }

    /// The layout's name (`directory`, `single-file`), for the text output.
    pub fn layout_name(layout: Layout) -> &'static str {
        layout_name(layout)
    }
}

/// The dict Python's `inspect_encrypted` returns (files and recipients as pairs).
#[derive(Debug, Clone, Serialize)]
pub struct PyInspectedEncrypted {
    format_version: u16,
    model_name: String,
    chunk_size: u32,
    body_digest: String,
    files: Vec<(String, u64)>,
    recipients: Vec<(String, String)>,
}

impl From<&EncryptedSummary> for PyInspectedEncrypted {
    fn from(s: &EncryptedSummary) -> PyInspectedEncrypted {
        PyInspectedEncrypted {
            format_version: s.version,
            model_name: s.model_name.clone(),
            chunk_size: s.chunk_size,
            body_digest: hex::encode(s.body_digest),
            files: s.files.clone(),
            recipients: s
                .recipients
                .iter()
                .map(|r| (r.stanza_type.clone(), r.key_id.clone()))
                .collect(),
        }
    }
}

/// `inspect` of a signature (unverified).
#[derive(Debug, Clone, Serialize)]
pub struct InspectSignatureReport {
    verified: bool,
    signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    method: &'static str,
    key_hint: Option<String>,
    certificate_subject: Option<String>,
    certificates: usize,
    payload_type: String,
    model_name: Option<String>,
    root_digest: Option<String>,
    resources: Option<usize>,
    serialization: Option<Serialization>,
    /// What each RFC 3161 timestamp claims (unverified); absent when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    timestamps: Vec<InspectedTimestamp>,
    errors: Vec<String>,
}

/// One timestamp of an inspected signature: its claimed time and TSA, or why it does not parse.
#[derive(Debug, Clone, Serialize)]
struct InspectedTimestamp {
    time: Option<String>,
    tsa: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl InspectSignatureReport {
    /// What the signature at `path` claims.
    pub fn new(path: &Path, s: &SignatureSummary) -> InspectSignatureReport {
        let statement = s.statement.as_ref().ok();
        InspectSignatureReport {
            verified: false,
            signature: text(path),
            line: s.line,
            method: s.method,
            key_hint: s.key_hint.clone(),
            certificate_subject: s.certificate_subject.clone(),
            certificates: s.certificates,
            payload_type: s.payload_type.clone(),
            model_name: statement.map(|s| s.subject_name.clone()),
            root_digest: statement.map(|s| hex::encode(s.root_digest)),
            resources: statement.map(|s| s.resources.len()),
            serialization: statement.map(|s| (&s.serialization).into()),
            timestamps: s
                .timestamps
                .iter()
                .map(|t| match t {
                    Ok(claims) => InspectedTimestamp {
                        time: Some(crate::timestamp::rfc3339(claims.unix_secs)),
                        tsa: claims.tsa.clone(),
                        error: None,
                    },
                    Err(reason) => InspectedTimestamp {
                        time: None,
                        tsa: None,
                        error: Some(reason.clone()),
                    },
                })
                .collect(),
            errors: s.statement.as_ref().err().into_iter().cloned().collect(),
        }
    }
}

/// `inspect` of a claims file (`.jsonl`, unverified): each line's signature in file order.
#[derive(Debug, Clone, Serialize)]
pub struct InspectClaimsReport {
    verified: bool,
    signature: String,
    signatures: Vec<InspectSignatureReport>,
}

impl InspectClaimsReport {
    /// What each line of the claims file at `path` claims.
    pub fn new(path: &Path, lines: &[SignatureSummary]) -> InspectClaimsReport {
        InspectClaimsReport {
            verified: false,
            signature: text(path),
            signatures: lines
                .iter()
                .map(|s| InspectSignatureReport::new(path, s))
                .collect(),
        }
    }
}

/// `digest`: the model's root digest (OMS v1.0 §6.5.1) as signing would record it.
#[derive(Debug, Clone, Serialize)]
pub struct DigestReport {
    /// `sha256:<hex>`, as model-signing's `digest` command prints it.
    root_digest: String,
    resources: usize,
    serialization: Serialization,
}

impl DigestReport {
    /// `sha256:<hex>`: what the text output prints, alone on its line.
    pub fn root_digest(&self) -> &str {
        &self.root_digest
    }
}

impl From<&Statement> for DigestReport {
    fn from(statement: &Statement) -> DigestReport {
        DigestReport {
            root_digest: format!("sha256:{}", hex::encode(statement.root_digest)),
            resources: statement.resources.len(),
            serialization: (&statement.serialization).into(),
        }
    }
}

/// One credential found by `scan` (or by the gate of `sign`/`seal`): where, which rule, and its
/// fingerprint — never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct FindingReport {
    path: String,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    rule: String,
    description: String,
    fingerprint: String,
    #[serde(skip)]
    location: String,
}

impl From<&Finding> for FindingReport {
    fn from(f: &Finding) -> FindingReport {
        FindingReport {
            location: f.location(),
            path: f.path.clone(),
            line: f.line,
            offset: f.offset,
            field: f.field.clone(),
            rule: f.rule.clone(),
            description: f.description.clone(),
            fingerprint: f.fingerprint.clone(),
        }
    }
}

impl FindingReport {
    /// `config.json:12: aws-access-key-id (…), fingerprint …`: the text output's line.
    pub fn text(&self) -> String {
        format!(
            "{}: {} ({}), fingerprint {}",
            self.location, self.rule, self.description, self.fingerprint
        )
    }
}

/// The serialization format of one model file, in `scan` and in policy decisions (and their Rego
/// input): the format, the names a `deny_formats` list matches (`pickle` for anything that
/// unpickles), and a pickle's imported globals.
#[derive(Debug, Clone, Serialize)]
pub struct FormatReport {
    path: String,
    format: &'static str,
    names: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    globals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl From<&FileFormat> for FormatReport {
    fn from(f: &FileFormat) -> FormatReport {
        FormatReport {
            path: f.path.clone(),
            format: f.detected.format.name(),
            names: f.detected.names(),
            globals: f.detected.globals.clone(),
            note: f.detected.note.clone(),
        }
    }
}

impl FormatReport {
    /// `model.pkl: pickle (imports os.system)`: the text output's line.
    pub fn text(&self) -> String {
        let mut line = format!("{}: {}", self.path, self.names.join(", "));
        if !self.globals.is_empty() {
            line.push_str(&format!(" (imports {})", self.globals.join(", ")));
        }
        if let Some(note) = &self.note {
            line.push_str(&format!(" [{note}]"));
        }
        line
    }
}

/// `scan` (and a refusal of the content gate in `sign`/`seal`): findings, accepted findings,
/// formats. Holds no secret.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    clean: bool,
    model: String,
    files: usize,
    bytes_read: u64,
    findings: Vec<FindingReport>,
    allowed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_list: Option<String>,
    formats: Vec<FormatReport>,
    format_names: Vec<&'static str>,
    skipped: Vec<String>,
    partial: Vec<String>,
}

impl ScanReport {
    /// The result of scanning with the allow-list `allow` (its path is shown when it has one).
    pub fn new(result: &ScanResult, allow: Option<&Path>) -> ScanReport {
        ScanReport {
            clean: result.clean(),
            model: text(&result.model),
            files: result.files,
            bytes_read: result.bytes_read,
            findings: result.findings.iter().map(FindingReport::from).collect(),
            allowed: result.allowed.len(),
            allow_list: allow.map(text),
            formats: result.formats.iter().map(FormatReport::from).collect(),
            format_names: format_names(&result.formats),
            skipped: result.skipped.clone(),
            partial: result.partial.clone(),
        }
    }

    /// Whether nothing outside the allow-list was found.
    pub fn clean(&self) -> bool {
        self.clean
    }

    /// The findings.
    pub fn findings(&self) -> &[FindingReport] {
        &self.findings
    }

    /// The formats found, per file.
    pub fn formats(&self) -> &[FormatReport] {
        &self.formats
    }

    /// How many findings the allow-list accepted.
    pub fn allowed(&self) -> usize {
        self.allowed
    }

    /// Files read, and binary files skipped.
    pub fn counts(&self) -> (usize, usize) {
        (self.files, self.skipped.len())
    }
}

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

/// The event of `seal`ing `model` with the signing key reference `key`: the model name (as
/// given, else the plaintext's), its root digest, the signing key's hint and every recipient.
pub fn seal_event(
    model: &Path,
    key: &str,
    model_name: Option<&str>,
    result: Result<&SealOutcome, Failure>,
) -> AuditEvent {
    let mut event = event(Operation::Seal, model, vec![key.to_string()]);
    match result {
        Ok(outcome) => {
            let statement = &outcome.inner.statement;
            event.model_name = Some(
                model_name
                    .map(str::to_string)
                    .unwrap_or_else(|| statement.subject_name.clone()),
            );
            event.root_digest = Some(hex::encode(statement.root_digest));
            event.key_ids.push(outcome.inner.key_hint.clone());
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
