//! [`KeyError`]: the one error type of the key layer, raised by every backend (files, PKCS#11
//! tokens, AWS KMS) and converted once by the layer above (the envelope's `SealError`, `sign`'s
//! `SignError`) with the `KeyError` kept as its source.
//!
//! Every message names the key (its file or reference) and the reason in the user's terms; none
//! contains key material, a PIN or a password.

use crate::error::ErrorClass;
use crate::rng::EntropyError;
use std::path::PathBuf;

/// Errors about keys: loading, parsing, generating, signing, verifying a signature, wrapping and
/// unwrapping a data key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file named by a key reference could not be opened or read (an input error: the
    /// reference names nothing usable).
    #[error("{path}: cannot read: {error}")]
    Unreadable {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error (in the message, so not repeated as a source).
        error: std::io::Error,
    },
    /// A key file could be read but not understood.
    #[error("{path}: {reason}")]
    Parse {
        /// The file (or key reference) concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A secret file is readable by group or others.
    #[error("{path}: permissions {mode:o} let others read this secret; chmod 600 it (on Kubernetes: `defaultMode: 0400` on the Secret volume, `runAsUser` matching the file's owner, or 0440 with `fsGroup` on the read-only Secret volume), or pass --allow-insecure-key-permissions")]
    InsecurePermissions {
        /// The secret file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A trust file (a pinned public key, a KEK, a recipient key) or its directory that group or
    /// others can write: whoever can replace it chooses what is trusted.
    #[error("{path}: {reason}, so others could replace what it trusts; chmod go-w it (or pass --allow-insecure-key-permissions)")]
    WritableByOthers {
        /// The file.
        path: PathBuf,
        /// Which mode lets them (the file's or its directory's).
        reason: String,
    },
    /// An output already exists and overwriting was not requested.
    #[error("{path}: already exists (use --force to replace it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A key reference that cannot be used.
    #[error("invalid key reference {reference:?}: {reason}")]
    Reference {
        /// The reference as given (a `pkcs11:` PIN redacted).
        reference: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The algorithm or curve is not supported.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The signature does not verify under this key.
    #[error("signature does not verify with the given key")]
    BadSignature,
    /// The key or backend refused to sign.
    #[error("signing failed: {0}")]
    Signing(String),
    /// Key bytes that are not a valid key (no file involved, e.g. a public key inside a bundle).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What the bytes should have been.
        what: &'static str,
        /// Why they are not.
        reason: String,
    },
    /// An AWS KMS key could not be used (the message names the reference and the KMS error code).
    #[error(transparent)]
    Kms(#[from] crate::keys::awskms::error::KmsError),
    /// A secret (a key passphrase, a PIN) could not be obtained from its reference
    /// (`env:`, `fd:`, `awssm://`, …); the message names the reference, never the value.
    #[error("{reference}: {reason}")]
    Secret {
        /// The secret reference, as parsed (it holds no secret).
        reference: String,
        /// What went wrong.
        reason: String,
    },
    /// A signing certificate whose public key is not the signing key's.
    #[error("{certificate}: the certificate's public key does not match the private key {key}")]
    CertificateKeyMismatch {
        /// The leaf certificate file.
        certificate: PathBuf,
        /// The signing key: its file or reference.
        key: String,
    },
    /// A public key named where a key that decrypts is needed: it can only encrypt.
    #[error("{key}: is a public key; decrypting needs the private key")]
    PublicOnly {
        /// The key file or reference (a `pkcs11:` PIN redacted).
        key: String,
    },
    /// A key in a PKCS#11 token could not be used (module, token, PIN, object, mechanism).
    #[error(transparent)]
    Pkcs11(#[from] crate::keys::pkcs11::error::Pkcs11Error),
    /// The stanza for this key did not unwrap to a 32-byte data key (`docs/FORMAT.md` §8.1: the
    /// cause is deliberately not said). The envelope adds its file name.
    #[error("cannot unwrap the data key with this key ({stanza_type} {key_id})")]
    Unwrap {
        /// Stanza type.
        stanza_type: String,
        /// Stanza key_id.
        key_id: String,
    },
    /// A key service (KMS) refused to unwrap the stanza's data key: the ciphertext is invalid for
    /// this key or context (`docs/FORMAT.md` §8.7); an authentication failure like [`Self::Unwrap`].
    #[error("cannot unwrap the data key with this key ({stanza_type} {key_id}): {reason}")]
    UnwrapRefused {
        /// Stanza type.
        stanza_type: String,
        /// Stanza key_id.
        key_id: String,
        /// The service's answer (e.g. its error code), never key material.
        reason: String,
    },
    /// A stanza whose shape this key type rejects before any secret is used (e.g. an `rsa-oaep`
    /// wrapped key that is not the modulus length, `docs/FORMAT.md` §10 step 7): malformed input.
    #[error("{0}")]
    Stanza(String),
    /// A cryptographic primitive failed in a way input cannot cause.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// The random number generator failed.
    #[error(transparent)]
    Entropy(#[from] EntropyError),
    /// A request that cannot be carried out as asked (e.g. a public key file for a key that has none).
    #[error("{0}")]
    Usage(String),
}

impl KeyError {
    /// [`ErrorClass::Failed`] for a signature that does not verify and a data key that does not
    /// unwrap (wrong key, tampered stanza); [`ErrorClass::Internal`] for I/O, primitive and RNG
    /// failures and for key services that cannot be reached; otherwise [`ErrorClass::Input`]
    /// (unusable keys, references and files).
    pub fn class(&self) -> ErrorClass {
        match self {
            KeyError::BadSignature | KeyError::Unwrap { .. } | KeyError::UnwrapRefused { .. } => {
                ErrorClass::Failed
            }
            KeyError::Io { .. } | KeyError::Crypto(_) | KeyError::Entropy(_) => {
                ErrorClass::Internal
            }
            _ => ErrorClass::Input,
        }
    }
}
