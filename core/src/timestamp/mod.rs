//! RFC 3161 trusted timestamps over a DSSE signature: asking a time-stamping authority (TSA) for
//! one when signing ([`request`]), and checking one when verifying ([`verify`]).
//!
//! A timestamp token proves that the signature bytes existed at the token's `genTime`, as vouched
//! by a TSA the verifier trusts. OMS v1.0 §4.1 and the Sigstore bundle carry tokens in
//! `verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`: the DER
//! of the TSA's whole `TimeStampResp` (protobuf-specs; what sigstore-python and sigstore-go write
//! and read), base64. We write the response as the TSA sent it, and read a bare token too.
//!
//! What [`verify`] checks (RFC 3161 §2.4.2, RFC 5652 §5.4):
//! - the token is CMS `SignedData` whose content is a `TSTInfo`, with one signer;
//! - the message imprint is the hash (SHA-256/384/512, as the token says) of the signature bytes;
//! - the signed attributes name the `TSTInfo` content type and carry its digest, and the signer's
//!   signature over them verifies under the signing certificate (found in the token, or among
//!   the trusted certificates, by issuer and serial or subject key identifier);
//! - that certificate chains to a trusted TSA root with the `timeStamping` extended key usage, every
//!   certificate valid at `genTime` (`rustls-webpki` path validation).
//!
//! Not checked: the ESS `signingCertificate` attribute (the certificate is already pinned by the
//! signer identifier and the chain), the TSA policy OID, revocation.
//!
//! The module imports nothing from the rest of the crate: it is a format and a protocol, used by
//! signing, the certificate and key trust, and Sigstore keyless verification alike.

mod request;
mod token;

pub use request::{request, TsaRequest};
pub use token::{describe, verify, TimestampClaims, TimestampRoots, VerifiedTimestamp};

/// Why a timestamp could not be obtained or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The TSA could not be reached, or its HTTP answer is not a timestamp response.
    #[error("time-stamping authority {url}: {reason}")]
    Transport {
        /// The TSA URL as given.
        url: String,
        /// What went wrong: connection, timeout, HTTP status, size.
        reason: String,
    },
    /// The TSA answered, but refused, or its response does not match the request.
    #[error("time-stamping authority {url}: {reason}")]
    Response {
        /// The TSA URL as given.
        url: String,
        /// The refusal (status and text) or the mismatch (imprint, nonce, missing certificates).
        reason: String,
    },
    /// The token is not a well-formed RFC 3161 timestamp token.
    #[error("timestamp token is malformed: {0}")]
    Malformed(String),
    /// The token is well formed but does not vouch for these signature bytes under the trusted
    /// TSA roots.
    #[error("timestamp not trusted: {0}")]
    Untrusted(String),
}

/// Formats seconds since 1970 as RFC 3339 UTC (`2026-12-06T04:33:52Z`).
pub fn rfc3339(unix_secs: u64) -> String {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix_secs))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| format!("{unix_secs}s after 1970"))
}
