//! The one classification of failures that every layer's error type answers with `class()`, and
//! that the doors map once: to the CLI's exit code (1 or 2) and to Python's exception classes.

/// What kind of failure an error is, independent of which layer raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Verification or decryption failed: the input was examined and is not what it must be
    /// (a bad signature, an untrusted signer, a denied policy, a tampered or truncated ciphertext,
    /// a key that opens no recipient). Exit code 1; Python `VerificationError`/`DecryptionError`.
    Failed,
    /// Usage or input error: a missing or unreadable file, a malformed argument, a key that
    /// cannot be used for the operation. Exit code 2; Python `Error` or a subclass naming it.
    Input,
    /// A fault of the environment or of modelseal itself (an HSM or KMS that cannot be reached,
    /// an I/O failure while writing). Exit code 2, like input errors: nothing was verified.
    Internal,
}

impl ErrorClass {
    /// The CLI's exit code: 1 for [`ErrorClass::Failed`], 2 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorClass::Failed => 1,
            ErrorClass::Input | ErrorClass::Internal => 2,
        }
    }

    /// Whether verification or decryption failed (as opposed to not being possible).
    pub fn is_failure(self) -> bool {
        self == ErrorClass::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_exit_1() {
        assert_eq!(ErrorClass::Failed.exit_code(), 1);
        assert_eq!(ErrorClass::Input.exit_code(), 2);
        assert_eq!(ErrorClass::Internal.exit_code(), 2);
        assert!(ErrorClass::Failed.is_failure() && !ErrorClass::Input.is_failure());
    }
}
