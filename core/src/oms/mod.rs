//! The OMS signature format: in-toto statement v1 with the model_signing v1.0 predicate, DSSE PAE,
//! and the Sigstore bundle v0.3 that carries them. Build and parse only; who signed is [`crate::trust`]'s job.
//!
//! Parsing is strict and bounded: sizes are capped before anything is decoded, malformed input is an
//! [`OmsError`], never a panic. Signatures are checked over the exact payload bytes of the bundle;
//! nothing is re-serialized to verify.

use crate::digest::{Resource, SerializationConfig};

/// `mediaType` of the bundles we write and accept.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE `payloadType` of the statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto statement `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of an OMS v1.0 signature.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Largest bundle file accepted (bytes).
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// Errors of the signature format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OmsError {
    /// The bundle or statement is not what the format requires.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// An input is larger than the limit for it.
    #[error("signature too large: {what} is {size} bytes, limit {limit}")]
    TooLarge { what: &'static str, size: u64, limit: u64 },
    /// The subject digest is not the SHA-256 of the listed resource digests.
    #[error("statement is inconsistent: subject digest {subject} but resources hash to {computed}")]
    RootDigestMismatch { subject: String, computed: String },
}

/// The signed statement: a model name, its root digest, and how it was serialized and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Informative model name (basename of the model path).
    pub subject_name: String,
    /// SHA-256 over the raw resource digests in `resources` order.
    pub root_digest: [u8; 32],
    /// The serialization recorded in the predicate.
    pub serialization: SerializationConfig,
    /// Resources in the order they were signed.
    pub resources: Vec<Resource>,
}

impl Statement {
    /// Builds a statement, computing the root digest from `resources`.
    pub fn new(subject_name: String, serialization: SerializationConfig, resources: Vec<Resource>) -> Statement {
        todo!("oms helper {subject_name} {serialization:?} {resources:?}")
    }
    /// Compact JSON bytes accepted by model-signing 1.1.1 (the DSSE payload).
    pub fn to_json(&self) -> Vec<u8> {
        todo!("oms helper")
    }
    /// Parses and checks a DSSE payload: `_type`, `predicateType`, exactly one subject with a sha256
    /// digest, a known serialization (accepting 1.1.1's float `shard_size`), well-formed resources
    /// (valid hex, safe relative names, no duplicates), and the root digest.
    pub fn parse(payload: &[u8]) -> Result<Statement, OmsError> {
        todo!("oms helper {payload:?}")
    }
}

/// DSSE v1 pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    todo!("oms helper {payload_type} {payload:?}")
}

/// What the bundle says about the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationMaterial {
    /// Key method: lowercase hex SHA-256 of the signer's SPKI PEM text (absent in some bundles).
    PublicKey { hint: Option<String> },
    /// Pre-1.1.0 bundles: `publicKey.rawBytes` (decoded), no hint.
    LegacyPublicKey { raw_bytes: Vec<u8> },
    /// Certificate method: DER certificates, leaf first.
    Certificates(Vec<Vec<u8>>),
}

/// A parsed Sigstore bundle v0.3 holding one DSSE envelope with exactly one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub material: VerificationMaterial,
    /// DSSE `payloadType`.
    pub payload_type: String,
    /// The exact payload bytes (base64-decoded).
    pub payload: Vec<u8>,
    /// The signature bytes (DER ECDSA, or raw Ed25519).
    pub signature: Vec<u8>,
}

impl Bundle {
    /// Parses a bundle strictly: mediaType, one envelope, exactly one signature, valid base64.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, OmsError> {
        todo!("oms helper {bytes:?}")
    }
    /// One compact JSON line as model-signing 1.1.1 writes it (`tlogEntries: []`).
    pub fn to_json(&self) -> String {
        todo!("oms helper")
    }
}
