//! Describing a signature file without a model and without trusting it.
//!
//! Everything here is *unverified*: it says what the bundle claims, for humans and tooling that
//! want to know which key to verify with. Nothing in it may be used as a verification result.

use crate::oms::{Bundle, Statement, VerificationMaterial};
use crate::verify::{read_bundle, read_claims, VerifyError};
use der::Decode;
use std::path::Path;

/// What a signature file claims, unverified.
#[derive(Debug, Clone)]
pub struct SignatureSummary {
    /// The line of a claims file (`.jsonl`) the signature is on; `None` for a single bundle.
    pub line: Option<usize>,
    /// `"key"`, `"key (legacy)"` or `"certificate"`.
    pub method: &'static str,
    /// The key hint the bundle names, if any.
    pub key_hint: Option<String>,
    /// Subject of the leaf certificate, for the certificate method.
    pub certificate_subject: Option<String>,
    /// Number of certificates in the bundle.
    pub certificates: usize,
    /// DSSE payload type.
    pub payload_type: String,
    /// The statement, or why it does not parse.
    pub statement: Result<Statement, String>,
}

/// Reads `path` and summarizes what it claims. Fails only when the file is not a bundle.
pub fn inspect_signature(path: &Path) -> Result<SignatureSummary, VerifyError> {
    Ok(summarize(&read_bundle(path)?, None))
}

/// Reads a signature file and summarizes each signature in it: its one bundle, or every line of
/// a claims file (`.jsonl`) in file order. Fails when the file, or any line, is not a bundle.
pub fn inspect_signatures(path: &Path) -> Result<Vec<SignatureSummary>, VerifyError> {
    Ok(read_claims(path)?
        .iter()
        .map(|claim| summarize(&claim.bundle, claim.line))
        .collect())
}

fn summarize(bundle: &Bundle, line: Option<usize>) -> SignatureSummary {
    let (method, key_hint, certificate_subject, certificates) = match &bundle.material {
        VerificationMaterial::PublicKey { hint } => ("key", hint.clone(), None, 0),
        VerificationMaterial::LegacyPublicKey { .. } => ("key (legacy)", None, None, 0),
        VerificationMaterial::Certificates(chain) => {
            let subject = chain
                .first()
                .and_then(|der| x509_cert::Certificate::from_der(der).ok())
                .map(|c| c.tbs_certificate.subject.to_string());
            ("certificate", None, subject, chain.len())
        }
        VerificationMaterial::Keyless(_) => ("sigstore keyless", None, None, 1),
    };
    SignatureSummary {
        line,
        method,
        key_hint,
        certificate_subject,
        certificates,
        payload_type: bundle.payload_type.clone(),
        statement: Statement::parse(&bundle.payload).map_err(|e| e.to_string()),
    }
}
