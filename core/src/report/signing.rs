//! Results of the signature operations: `sign`, `verify` (with a key, certificate roots or
//! Sigstore, and with a policy), `inspect` of a signature or claims file, `digest`, `keygen`.

use super::*;

/// A signature's serialization as sign, verify and inspect print it.
#[derive(Debug, Clone, Serialize)]
pub struct Serialization {
    pub(super) method: &'static str,
    pub(super) hash_type: &'static str,
    pub(super) allow_symlinks: bool,
    pub(super) ignore_paths: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) shard_size: Option<u64>,
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
    pub(super) method: &'static str,
    pub(super) algorithm: &'static str,
    pub(super) key_hint: String,
    pub(super) certificate_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) issuer: Option<String>,
    /// Keyless: the log's time; otherwise a verified RFC 3161 timestamp's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) signing_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) log_index: Option<u64>,
    /// The TSA (certificate subject) of the verified timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) timestamp_authority: Option<String>,
    /// Timestamps in the bundle that were not checked (no TSA roots given): they proved nothing.
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) unchecked_timestamps: usize,
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
    /// A sealed model's stage (`encrypted model`, `decrypted model`); absent for a model on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<&'static str>,
    /// At a sealed model's stage, the rule's signers that counted there; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    counted: Option<Vec<String>>,
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
            stage: d.stage().map(|s| s.label()),
            counted: d.stage().map(|_| d.counted().to_vec()),
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
