//! The errors of the AWS KMS backend. Every message names the key reference, the KMS operation and,
//! when KMS answered, its error code (`AccessDeniedException`, `NotFoundException`,
//! `DisabledException`, `InvalidCiphertextException`, `IncorrectKeyException`, …), never a secret.
//!
//! [`KmsError::is_ciphertext_rejection`] separates "KMS refuses this ciphertext for this key"
//! (a decryption failure: CLI exit 1) from access and configuration problems (exit 2).

/// An AWS KMS operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// This build has no AWS KMS support (the `awskms` cargo feature is off).
    #[error(
        "{reference}: AWS KMS keys are not supported by this build (built without the awskms feature)"
    )]
    NotBuilt {
        /// The key reference.
        reference: String,
    },
    /// The SDK could not be configured (no region, bad endpoint, runtime failure).
    #[error("{reference}: AWS KMS is not configured: {reason}")]
    Config {
        /// The key reference.
        reference: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// KMS answered with an error.
    #[error("{reference}: KMS {operation} failed: {code}: {message}")]
    Service {
        /// The key reference.
        reference: String,
        /// The KMS API operation (`Sign`, `Decrypt`, …).
        operation: &'static str,
        /// The KMS error code, e.g. `AccessDeniedException`.
        code: String,
        /// KMS's message.
        message: String,
    },
    /// The request did not get an answer (connection, timeout, credentials).
    #[error("{reference}: KMS {operation} failed: {reason}")]
    Transport {
        /// The key reference.
        reference: String,
        /// The KMS API operation.
        operation: &'static str,
        /// What happened (credentials missing, timeout, connection refused, …).
        reason: String,
    },
    /// KMS answered, but not with what the operation needs (wrong key type, wrong key, bad sizes).
    #[error("{reference}: KMS {operation}: {reason}")]
    Response {
        /// The key reference.
        reference: String,
        /// The KMS API operation.
        operation: &'static str,
        /// What is wrong with the answer.
        reason: String,
    },
}

/// KMS error codes that mean "this ciphertext does not decrypt under this key and context".
const CIPHERTEXT_REJECTIONS: &[&str] = &["InvalidCiphertextException", "IncorrectKeyException"];

impl KmsError {
    /// True when KMS rejected a ciphertext as invalid for this key or encryption context (a
    /// decryption failure), false for access, configuration and transport problems.
    pub fn is_ciphertext_rejection(&self) -> bool {
        matches!(self, KmsError::Service { code, .. } if CIPHERTEXT_REJECTIONS.contains(&code.as_str()))
    }

    /// The KMS error code, when KMS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            KmsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_reference_operation_and_code() {
        let e = KmsError::Service {
            reference: "awskms:///alias/nope".into(),
            operation: "Encrypt",
            code: "NotFoundException".into(),
            message: "Alias is not found.".into(),
        };
        assert_eq!(
            e.to_string(),
            "awskms:///alias/nope: KMS Encrypt failed: NotFoundException: Alias is not found."
        );
        assert!(!e.is_ciphertext_rejection());
        let rejected = KmsError::Service {
            reference: "r".into(),
            operation: "Decrypt",
            code: "InvalidCiphertextException".into(),
            message: String::new(),
        };
        assert!(rejected.is_ciphertext_rejection());
        assert_eq!(rejected.code(), Some("InvalidCiphertextException"));
    }
}
