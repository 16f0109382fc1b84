//! The one classification of failures that every layer's error type answers with `class()`, and
//! that the doors map once: to the CLI's exit code (1 or 2) and to Python's exception classes;
//! and the stable reason codes ([`ErrorCode`]) every JSON result names its errors with
//! (`docs/json.md`; each layer's error is mapped to one in `report::codes`).

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

/// Why an operation did not succeed, as a stable machine-readable code (`errors[].code` of every
/// JSON result, `docs/json.md`). Codes are only ever added: a script may match on them. Each
/// layer's error enum is mapped onto them in one place (`report::codes`), never by reading a
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // Usage and input.
    /// The arguments or options are wrong (a clap parse error, options that contradict).
    Usage,
    /// A file or directory the operation needs does not exist.
    NotFound,
    /// A file or directory cannot be read or written for lack of permission.
    PermissionDenied,
    /// An output exists and the operation was not told to replace it.
    OutputExists,
    /// Reading or writing failed otherwise (a full disk, a device error).
    Io,
    /// A model file or path cannot be signed or verified as it is (a refused symlink, a name
    /// the format cannot carry, an unusable ignore path).
    ModelInvalid,
    /// The signature file is not a bundle modelseal can read (malformed, or of a kind it does
    /// not verify).
    SignatureMalformed,
    /// Trust material (a public key, certificate roots, a Sigstore trusted root, TSA roots)
    /// cannot be loaded.
    TrustInvalid,
    /// The key reference names no key (no such file, token object or KMS key).
    KeyNotFound,
    /// The key exists but cannot be used here (wrong kind or format, unreadable, a public key
    /// where a private one is needed, a token or key service that refuses).
    KeyInvalid,
    /// A secret key file is readable, or a trust file writable, by others.
    KeyPermissions,
    /// The policy file (or its Rego file) does not load: syntax, an invalid value.
    PolicyInvalid,
    /// The policy or its Rego file can be changed by others.
    PolicyPermissions,
    /// The encrypted model is not well-formed modelseal v1, has an unknown version or breaks a
    /// limit.
    EnvelopeInvalid,
    /// The time-stamping authority gave no acceptable timestamp.
    TimestampFailed,
    /// The audit line could not be written (the operation then counts as not done).
    AuditFailed,
    // Verification, decryption and policy failures.
    /// A signed file's digest differs from the signed one.
    DigestMismatch,
    /// A signed file is missing from the model.
    MissingFile,
    /// The model holds a file that the signature does not list.
    ExtraFile,
    /// The signature is not by a trusted key, certificate or identity, or does not verify.
    UntrustedKey,
    /// The signature verified but the statement it signs is not a valid OMS statement.
    BadStatement,
    /// A symlink of the model leads outside the directory verification is confined to.
    OutsideRoot,
    /// A required timestamp is missing or did not verify.
    TimestampRequired,
    /// The policy denied the model (a reason not covered by a more precise code below).
    PolicyDenied,
    /// No signature was given.
    NoSignature,
    /// No `[[models]]` rule of the policy covers the model name.
    NoRule,
    /// Fewer of the rule's required signers verified than its threshold.
    ThresholdNotMet,
    /// The rule does not accept the signature's serialization (hash or method).
    SerializationRefused,
    /// A file of the model is in a format the policy denies.
    FormatDenied,
    /// The policy's Rego `deny` gave a message.
    RegoDenied,
    /// The caller's model name differs from the signed name and the policy does not allow it.
    NameOverrideRefused,
    /// The decryption key is not a recipient of the encrypted model.
    NotARecipient,
    /// The key is a recipient but did not unwrap the data key, or the header did not
    /// authenticate under it (a wrong key or a modified envelope).
    KeyMismatch,
    /// The ciphertext is modified, truncated, extended, or its files are not the authenticated
    /// list.
    CiphertextTampered,
    /// An input changed while it was being read.
    Changed,
    /// The content gate found credentials in the model.
    CredentialsFound,
    /// An existing output directory is not the sealed model (`unseal` into an existing DIR).
    NotTheSealedModel,
    // `serve` only.
    /// The request is not of the documented shape.
    RequestMalformed,
    /// The request body is larger than the server accepts.
    RequestTooLarge,
    /// The request was not received or not decided in time.
    Timeout,
    /// Too many requests in flight; retry later.
    Saturated,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    // Faults.
    /// modelseal or its environment failed unexpectedly (a cryptographic primitive, a task).
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 43] = [
        ErrorCode::Usage,
        ErrorCode::NotFound,
        ErrorCode::PermissionDenied,
        ErrorCode::OutputExists,
        ErrorCode::Io,
        ErrorCode::ModelInvalid,
        ErrorCode::SignatureMalformed,
        ErrorCode::TrustInvalid,
        ErrorCode::KeyNotFound,
        ErrorCode::KeyInvalid,
        ErrorCode::KeyPermissions,
        ErrorCode::PolicyInvalid,
        ErrorCode::PolicyPermissions,
        ErrorCode::EnvelopeInvalid,
        ErrorCode::TimestampFailed,
        ErrorCode::AuditFailed,
        ErrorCode::DigestMismatch,
        ErrorCode::MissingFile,
        ErrorCode::ExtraFile,
        ErrorCode::UntrustedKey,
        ErrorCode::BadStatement,
        ErrorCode::OutsideRoot,
        ErrorCode::TimestampRequired,
        ErrorCode::PolicyDenied,
        ErrorCode::NoSignature,
        ErrorCode::NoRule,
        ErrorCode::ThresholdNotMet,
        ErrorCode::SerializationRefused,
        ErrorCode::FormatDenied,
        ErrorCode::RegoDenied,
        ErrorCode::NameOverrideRefused,
        ErrorCode::NotARecipient,
        ErrorCode::KeyMismatch,
        ErrorCode::CiphertextTampered,
        ErrorCode::Changed,
        ErrorCode::CredentialsFound,
        ErrorCode::NotTheSealedModel,
        ErrorCode::RequestMalformed,
        ErrorCode::RequestTooLarge,
        ErrorCode::Timeout,
        ErrorCode::Saturated,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Internal,
    ];

    /// The code as JSON spells it (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Usage => "usage",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::OutputExists => "output_exists",
            ErrorCode::Io => "io",
            ErrorCode::ModelInvalid => "model_invalid",
            ErrorCode::SignatureMalformed => "signature_malformed",
            ErrorCode::TrustInvalid => "trust_invalid",
            ErrorCode::KeyNotFound => "key_not_found",
            ErrorCode::KeyInvalid => "key_invalid",
            ErrorCode::KeyPermissions => "key_permissions",
            ErrorCode::PolicyInvalid => "policy_invalid",
            ErrorCode::PolicyPermissions => "policy_permissions",
            ErrorCode::EnvelopeInvalid => "envelope_invalid",
            ErrorCode::TimestampFailed => "timestamp_failed",
            ErrorCode::AuditFailed => "audit_failed",
            ErrorCode::DigestMismatch => "digest_mismatch",
            ErrorCode::MissingFile => "missing_file",
            ErrorCode::ExtraFile => "extra_file",
            ErrorCode::UntrustedKey => "untrusted_key",
            ErrorCode::BadStatement => "bad_statement",
            ErrorCode::OutsideRoot => "outside_root",
            ErrorCode::TimestampRequired => "timestamp_required",
            ErrorCode::PolicyDenied => "policy_denied",
            ErrorCode::NoSignature => "no_signature",
            ErrorCode::NoRule => "no_rule",
            ErrorCode::ThresholdNotMet => "threshold_not_met",
            ErrorCode::SerializationRefused => "serialization_refused",
            ErrorCode::FormatDenied => "format_denied",
            ErrorCode::RegoDenied => "rego_denied",
            ErrorCode::NameOverrideRefused => "name_override_refused",
            ErrorCode::NotARecipient => "not_a_recipient",
            ErrorCode::KeyMismatch => "key_mismatch",
            ErrorCode::CiphertextTampered => "ciphertext_tampered",
            ErrorCode::Changed => "changed",
            ErrorCode::CredentialsFound => "credentials_found",
            ErrorCode::NotTheSealedModel => "not_the_sealed_model",
            ErrorCode::RequestMalformed => "request_malformed",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Saturated => "saturated",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code of an I/O failure of `kind`: a missing file, a refused permission, or `io`.
    pub fn of_io(kind: std::io::ErrorKind) -> ErrorCode {
        match kind {
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
            std::io::ErrorKind::AlreadyExists => ErrorCode::OutputExists,
            _ => ErrorCode::Io,
        }
    }
}

impl ErrorClass {
    /// The class as JSON spells it (`error_class`): `failed`, `input` or `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Failed => "failed",
            ErrorClass::Input => "input",
            ErrorClass::Internal => "internal",
        }
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

    #[test]
    fn codes_are_distinct_snake_case() {
        let names: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
