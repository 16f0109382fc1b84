//! The OMS signature format: in-toto statement v1 with the model_signing v1.0 predicate, DSSE PAE,
//! and the Sigstore bundle v0.3 that carries them. Build and parse only; who signed is [`crate::trust`]'s job.
//!
//! Parsing is strict and bounded: sizes are capped before anything is decoded, malformed input is an
//! [`OmsError`], never a panic. Signatures are checked over the exact payload bytes of the bundle;
//! nothing is re-serialized to verify.
//!
//! One file per layer, outermost last: [`statement`] (the signed JSON document), [`check`] (what a
//! well-formed statement must satisfy), [`dsse`] (the bytes a signature covers), [`bundle`] (the
//! signature file), [`claims`] (a file of many bundles, one per line).

pub mod bundle;
pub mod check;
pub mod claims;
pub mod dsse;
pub(crate) mod json;
pub mod statement;

pub use bundle::{Bundle, VerificationMaterial};
pub use dsse::pae;
pub use statement::{PredicateKind, Statement};

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
/// Largest DSSE payload (statement JSON) accepted (bytes).
pub const MAX_PAYLOAD_BYTES: u64 = 256 * 1024 * 1024;
/// Most resources a statement may list (10^7: a million-file model sharded tenfold).
pub const MAX_RESOURCES: usize = 10_000_000;
/// Longest resource, ignore-path or subject name accepted (bytes); Linux `PATH_MAX`.
pub const MAX_NAME_BYTES: usize = 4096;
/// Most `ignore_paths` entries a statement may list.
pub const MAX_IGNORE_PATHS: usize = 100_000;
/// Largest `shard_size` accepted: 2^53, the largest integer every JSON reader holds exactly
/// (1.1.1 reads and writes it as a double).
pub const MAX_SHARD_SIZE: u64 = 1 << 53;
/// Most certificates a bundle's chain may carry.
pub const MAX_CERTIFICATES: usize = 32;

/// Errors of the signature format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OmsError {
    /// The bundle or statement is not what the format requires.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// An input is larger than the limit for it.
    #[error("signature too large: {what} is {size} bytes, limit {limit}")]
    TooLarge {
        /// Which input: `"bundle"` or `"statement"`.
        what: &'static str,
        /// Its length in bytes.
        size: u64,
        /// The most bytes accepted for it ([`MAX_BUNDLE_BYTES`], [`MAX_PAYLOAD_BYTES`]).
        limit: u64,
    },
    /// The subject digest is not the SHA-256 of the listed resource digests.
    #[error(
        "statement is inconsistent: subject digest {subject} but resources hash to {computed}"
    )]
    RootDigestMismatch {
        /// The digest the statement's subject claims, lowercase hex.
        subject: String,
        /// The SHA-256 over the statement's resource digests, lowercase hex.
        computed: String,
    },
    /// An input lists more items than the limit for them.
    #[error("signature too large: {count} {what}, limit {limit}")]
    TooMany {
        /// Which list: `"resources"`, `"ignore paths"` or `"certificates"`.
        what: &'static str,
        /// How many items it has.
        count: u64,
        /// The most items accepted for it ([`MAX_RESOURCES`], [`MAX_IGNORE_PATHS`],
        /// [`MAX_CERTIFICATES`]).
        limit: u64,
    },
    /// The statement lists no resource. OMS v1.0 §5.2.1 and §6.1: a signature covers at least one
    /// file, and an empty model must be refused.
    #[error("the statement lists no files, and an OMS signature must cover at least one (OMS v1.0 §6.1): the model is empty, every file in it is ignored, or (shards) every file is empty")]
    NoResources,
    /// A line of a claims file (`.jsonl`, [`claims`]) is not a bundle.
    #[error("line {line}: {source}")]
    Line {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        source: Box<OmsError>,
    },
    /// A well-formed bundle of a kind modelseal does not verify (e.g. a keyless entry without an
    /// inclusion promise).
    #[error("unsupported signature: {0}")]
    Unsupported(String),
}

/// Shorthand for a [`OmsError::Malformed`] with a formatted reason.
pub(crate) fn malformed(reason: impl Into<String>) -> OmsError {
    OmsError::Malformed(reason.into())
}

/// Rejects inputs longer than `limit` before any decoding work is spent on them.
pub(crate) fn check_size(what: &'static str, size: usize, limit: u64) -> Result<(), OmsError> {
    let size = u64::try_from(size).unwrap_or(u64::MAX);
    if size > limit {
        return Err(OmsError::TooLarge { what, size, limit });
    }
    Ok(())
}
