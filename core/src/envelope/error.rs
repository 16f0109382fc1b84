//! The one error type of the envelope layer.
//!
//! Variants fall into two groups that the CLI maps to different exit codes without string matching:
//! *authentication failures* (wrong key, damaged or tampered ciphertext: exit 1, see
//! [`SealError::class`]) and *malformed input or usage errors* (exit 2).
//! Every message names the file concerned and the reason; none ever contains key material.
//! [`SealError::class`] gives the short class names that `docs/FORMAT.md` §10 and the negative test
//! vectors use.

use crate::error::ErrorClass;
use crate::keys::KeyError;
use crate::rng::EntropyError;
use std::path::PathBuf;

/// Errors of envelope encryption and decryption (`docs/FORMAT.md`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is not a well-formed modelseal v1 encrypted model (§4, §5).
    #[error("{path}: {reason}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The envelope has a version this implementation does not read (§15).
    #[error("{path}: unsupported format version {found} (this modelseal reads 1)")]
    Version {
        /// The file concerned.
        path: PathBuf,
        /// The version found in the prefix.
        found: u16,
    },
    /// A length or count read from the input (or asked of the encoder) exceeds a limit of §3.
    #[error("{path}: {reason}")]
    Limit {
        /// The file concerned.
        path: PathBuf,
        /// Which limit, and the value found.
        reason: String,
    },
    /// No stanza matches the identity's (type, key_id) (§8.1).
    #[error(
        "{path}: this key ({stanza_type} {key_id}) is not a recipient; recipients: {recipients}"
    )]
    NoRecipient {
        /// The envelope.
        path: PathBuf,
        /// Type of the identity tried.
        stanza_type: String,
        /// key_id of the identity tried.
        key_id: String,
        /// Every stanza's `type key_id`, comma-separated.
        recipients: String,
    },
    /// The stanza for this key did not unwrap to a 32-byte data key (§8.1).
    #[error("{path}: cannot unwrap the data key with this key ({stanza_type} {key_id})")]
    Unwrap {
        /// The envelope.
        path: PathBuf,
        /// Stanza type.
        stanza_type: String,
        /// Stanza key_id.
        key_id: String,
    },
    /// A key service (KMS) refused to unwrap this stanza's data key: the ciphertext is invalid for
    /// this key or the encryption context (§8.7). An authentication failure, like [`Self::Unwrap`].
    #[error("{path}: cannot unwrap the data key with this key ({stanza_type} {key_id}): {reason}")]
    UnwrapRefused {
        /// The envelope.
        path: PathBuf,
        /// Stanza type.
        stanza_type: String,
        /// Stanza key_id.
        key_id: String,
        /// The service's answer (e.g. its error code), never key material.
        reason: String,
    },
    /// The header MAC did not verify under the unwrapped data key (§6.3, §10 step 8).
    #[error("{path}: header authentication failed: wrong key or modified header")]
    HeaderAuth {
        /// The envelope.
        path: PathBuf,
    },
    /// A chunk's AES-GCM tag did not verify (§7.2).
    #[error("{path}: chunk {chunk} failed authentication (modified, moved or from another file)")]
    ChunkAuth {
        /// The encrypted file.
        path: PathBuf,
        /// The chunk index.
        chunk: u64,
    },
    /// The ciphertext is shorter than the authenticated size requires.
    #[error("{path}: truncated: {found} bytes of ciphertext, {expected} expected")]
    Truncated {
        /// The encrypted file.
        path: PathBuf,
        /// Ciphertext length required by the header.
        expected: u64,
        /// Length found.
        found: u64,
    },
    /// The ciphertext is longer than the authenticated size allows.
    #[error("{path}: extended: {found} bytes of ciphertext, {expected} expected")]
    Extended {
        /// The encrypted file.
        path: PathBuf,
        /// Ciphertext length required by the header.
        expected: u64,
        /// Length found.
        found: u64,
    },
    /// The encrypted directory does not hold exactly the authenticated file list (§10 step 9).
    #[error("{path}: {reason}")]
    Tree {
        /// The entry concerned.
        path: PathBuf,
        /// Extra entry, missing file, not a regular file.
        reason: String,
    },
    /// A key cannot be used (unreadable, wrong format, too permissive, a token or key service that
    /// refuses): the key layer's error, converted once (`From<KeyError>`) and kept as the source.
    /// The message is the [`KeyError`]'s, which names the key file or reference.
    #[error(transparent)]
    Key(KeyError),
    /// A plaintext input changed while it was being encrypted.
    #[error("{path}: changed while encrypting ({reason})")]
    Changed {
        /// The plaintext file.
        path: PathBuf,
        /// What differed.
        reason: String,
    },
    /// The caller asked for something impossible (bad option, target exists, duplicate recipient).
    #[error("{0}")]
    Usage(String),
    /// A cryptographic primitive failed in a way input cannot cause (RNG failure, key rejected).
    #[error("cryptographic failure: {0}")]
    Crypto(String),
}

impl SealError {
    /// [`ErrorClass::Failed`] when the failure means "wrong key or damaged/tampered ciphertext"
    /// (CLI exit 1); [`ErrorClass::Internal`] for I/O and primitive failures; otherwise
    /// [`ErrorClass::Input`] (malformed input, unusable keys, usage errors).
    pub fn class(&self) -> ErrorClass {
        match self {
            SealError::NoRecipient { .. }
            | SealError::Unwrap { .. }
            | SealError::UnwrapRefused { .. }
            | SealError::HeaderAuth { .. }
            | SealError::ChunkAuth { .. }
            | SealError::Truncated { .. }
            | SealError::Extended { .. }
            | SealError::Tree { .. } => ErrorClass::Failed,
            SealError::Io { .. } | SealError::Crypto(_) => ErrorClass::Internal,
            _ => ErrorClass::Input,
        }
    }

    /// The error class of `docs/FORMAT.md` §10 (`format`, `version`, `limit`, `no-recipient`,
    /// `unwrap`, `header-auth`, `chunk-auth`, `truncated`, `extended`, `tree`), or `io`, `key`,
    /// `changed`, `usage`, `crypto` for errors outside the decoder.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::Io { .. } => "io",
            SealError::Format { .. } => "format",
            SealError::Version { .. } => "version",
            SealError::Limit { .. } => "limit",
            SealError::NoRecipient { .. } => "no-recipient",
            SealError::Unwrap { .. } | SealError::UnwrapRefused { .. } => "unwrap",
            SealError::HeaderAuth { .. } => "header-auth",
            SealError::ChunkAuth { .. } => "chunk-auth",
            SealError::Truncated { .. } => "truncated",
            SealError::Extended { .. } => "extended",
            SealError::Tree { .. } => "tree",
            SealError::Key { .. } => "key",
            SealError::Changed { .. } => "changed",
            SealError::Usage(_) => "usage",
            SealError::Crypto(_) => "crypto",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> SealError {
        SealError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> SealError {
        SealError::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(path: impl Into<PathBuf>, reason: impl Into<String>) -> SealError {
        SealError::Limit {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// The one conversion of a key-layer error: a data key that does not unwrap stays the uniform
/// [`SealError::Unwrap`] (or [`SealError::UnwrapRefused`]) of §8.1, a stanza a key rejects as
/// malformed is [`SealError::Format`] (the envelope fills in the file name of both), primitive
/// and RNG failures are [`SealError::Crypto`], I/O stays I/O; everything else is
/// [`SealError::Key`], which wraps the [`KeyError`] (its message and its sources).
impl From<KeyError> for SealError {
    fn from(err: KeyError) -> SealError {
        match err {
            KeyError::Unwrap {
                stanza_type,
                key_id,
            } => SealError::Unwrap {
                path: PathBuf::new(),
                stanza_type,
                key_id,
            },
            KeyError::UnwrapRefused {
                stanza_type,
                key_id,
                reason,
            } => SealError::UnwrapRefused {
                path: PathBuf::new(),
                stanza_type,
                key_id,
                reason,
            },
            KeyError::Stanza(reason) => SealError::Format {
                path: PathBuf::new(),
                reason,
            },
            KeyError::Crypto(reason) => SealError::Crypto(reason),
            KeyError::Entropy(e) => SealError::from(e),
            KeyError::Io { path, source } => SealError::Io { path, source },
            KeyError::Usage(reason) => SealError::Usage(reason),
            other => SealError::Key(other),
        }
    }
}

/// A commit that failed: an existing target is a usage error (same message), an I/O step keeps its
/// path.
impl From<crate::fs::commit::CommitError> for SealError {
    fn from(e: crate::fs::commit::CommitError) -> SealError {
        use crate::fs::commit::CommitError;
        match e {
            CommitError::Io { path, source } => SealError::Io { path, source },
            exists @ CommitError::Exists(_) => SealError::Usage(exists.to_string()),
        }
    }
}

/// A failed random number generator: a primitive failure.
impl From<EntropyError> for SealError {
    fn from(err: EntropyError) -> SealError {
        SealError::Crypto(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_split_exit_codes() {
        let auth = SealError::HeaderAuth { path: "m".into() };
        assert!(auth.class().is_failure());
        assert_eq!(auth.code(), "header-auth");
        let fmt = SealError::format("m", "bad magic");
        assert!(!fmt.class().is_failure());
        assert_eq!(fmt.to_string(), "m: bad magic");
        assert!(!SealError::Usage("x".into()).class().is_failure());
    }
}
