//! Results of the envelope operations: `encrypt`, `decrypt`, `rewrap`, `seal`, `unseal` and
//! `inspect` of an encrypted model, and how `decrypt`, `rewrap` and `unseal` report a failure.

use super::*;

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

/// `endorse`: the co-signature appended to a sealed model's outer signatures.
#[derive(Debug, Clone, Serialize)]
pub struct EndorseReport {
    endorsed: bool,
    encrypted: String,
    signature: String,
    encrypted_root_digest: String,
    key_hint: String,
    existing: Vec<SignatureLine>,
}

/// One outer signature found before an endorsement: its file, and its line in a claims file.
#[derive(Debug, Clone, Serialize)]
struct SignatureLine {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
}

impl EndorseReport {
    /// `encrypted` endorsed as `outcome` says.
    pub fn new(encrypted: &Path, outcome: &EndorseOutcome) -> EndorseReport {
        EndorseReport {
            endorsed: true,
            encrypted: text(encrypted),
            signature: text(&outcome.signature_path),
            encrypted_root_digest: hex::encode(outcome.statement.root_digest),
            key_hint: outcome.key_hint.clone(),
            existing: outcome
                .existing
                .iter()
                .map(|(path, line)| SignatureLine {
                    path: text(path),
                    line: *line,
                })
                .collect(),
        }
    }
}

/// `endorse` failed: nothing was written.
#[derive(Debug, Clone, Serialize)]
pub struct EndorseFailure {
    endorsed: bool,
    encrypted: String,
    error_class: &'static str,
    reasons: Vec<String>,
}

impl EndorseFailure {
    /// Endorsing `encrypted` ended in `err`.
    pub fn new(encrypted: &Path, err: &DeployError) -> EndorseFailure {
        EndorseFailure {
            endorsed: false,
            encrypted: text(encrypted),
            error_class: match err.class() {
                ErrorClass::Failed => "failed",
                ErrorClass::Input => "input",
                ErrorClass::Internal => "internal",
            },
            reasons: err.reasons(),
        }
    }
}
