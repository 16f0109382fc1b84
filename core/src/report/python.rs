//! The shapes only Python's results have (`Py*`): its flat `verify` dict and the dicts its
//! `encrypt`, `decrypt` and `inspect_encrypted` dataclasses and tuples are built from.

use super::*;

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
    /// Each verified file's serialization format (absent where the files are verified later, as
    /// they are read: `open_model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    formats: Option<Vec<FormatReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format_names: Option<Vec<&'static str>>,
}

impl From<&VerifiedModel> for PyVerified {
    fn from(verified: &VerifiedModel) -> PyVerified {
        PyVerified {
            line: verified.line(),
            formats: Some(verified.formats().iter().map(FormatReport::from).collect()),
            format_names: Some(crate::scan::format_names(verified.formats())),
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
            formats: None,
            format_names: None,
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
