//! What a verifier trusts, and the check that a bundle's signature comes from it.
//!
//! Two kinds of trust: one public key (key method), or certificate roots (certificate method: the
//! bundle's leaf must chain to a root, be valid at its own `notBefore` — the signing-time proxy that
//! model-signing 1.1.1 uses, since these bundles carry no timestamp — and allow digitalSignature or
//! the codeSigning EKU). The chain is validated by `rustls-webpki`, a real X.509 path validator.

use crate::keys::{KeyAlgorithm, PublicKey};
use crate::oms::VerificationMaterial;
use std::path::PathBuf;

/// Errors establishing who signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A trust file could not be read or parsed (an input error, not a verification failure).
    #[error("{path}: {reason}")]
    Load { path: PathBuf, reason: String },
    /// The bundle names a different key than the one trusted.
    #[error("key mismatch: the signature's key hint {found} is not the trusted key {expected}")]
    KeyHintMismatch { expected: String, found: String },
    /// The bundle carries certificates but a key was trusted, or the other way round.
    #[error("signature uses the {found} method, but a {expected} was given to verify it")]
    MethodMismatch { expected: &'static str, found: &'static str },
    /// The certificate chain does not lead to a trusted root, or the leaf may not sign.
    #[error("certificate not trusted: {0}")]
    Certificate(String),
    /// The signature over the DSSE PAE does not verify.
    #[error("invalid signature: the statement was not signed by this key, or it was modified")]
    BadSignature,
}

/// A verifier's trust: one key, or a set of certificate roots.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Key method: exactly this public key.
    PublicKey(PublicKey),
    /// Certificate method: DER trust anchors.
    CertificateRoots(Vec<Vec<u8>>),
}

impl Trust {
    /// Loads certificate roots from PEM files, each with one or more certificates.
    pub fn load_certificate_roots(paths: &[PathBuf]) -> Result<Trust, TrustError> {
        todo!("trust helper {paths:?}")
    }

    /// Checks that `signature` over `pae` was made by a key this trust accepts, as `material` claims.
    pub fn check(
        &self,
        material: &VerificationMaterial,
        pae: &[u8],
        signature: &[u8],
    ) -> Result<SignerIdentity, TrustError> {
        todo!("trust helper {material:?} {pae:?} {signature:?}")
    }
}

/// Who signed, as established by [`Trust::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerIdentity {
    /// `"key"` or `"certificate"`.
    pub method: &'static str,
    /// The signing key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// OMS key hint of the signing key.
    pub key_hint: String,
    /// Leaf certificate subject (RFC 4514 string) for the certificate method.
    pub certificate_subject: Option<String>,
}
