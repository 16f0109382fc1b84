//! Keys: references (one string names a key everywhere), public keys, and the [`Signer`] seam that
//! file, PKCS#11 and KMS backends implement. `oms` and `sign` depend only on [`Signer`].
//!
//! Secrets (private keys, passwords) live in zeroizing types, are read from files that are not
//! group/world readable (unless the caller allows it), and never appear in `Debug` output or errors.

use std::path::{Path, PathBuf};

/// Errors about keys: loading, parsing, generating, signing, verifying a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A key file could be read but not understood.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A secret file is readable by group or others.
    #[error("{path}: permissions {mode:o} let others read this secret; chmod 600 it (or pass --allow-insecure-key-permissions)")]
    InsecurePermissions { path: PathBuf, mode: u32 },
    /// An output already exists and overwriting was not requested.
    #[error("{path}: already exists (use --force to replace it)")]
    Exists { path: PathBuf },
    /// A key reference that cannot be used.
    #[error("invalid key reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    /// The algorithm or curve is not supported.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The signature does not verify under this key.
    #[error("signature does not verify with the given key")]
    BadSignature,
    /// The key or backend refused to sign.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Algorithms a key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256.
    EcP256,
    /// ECDSA P-384 with SHA-384.
    EcP384,
    /// ECDSA P-521 with SHA-512.
    EcP521,
    /// Ed25519 (a modelseal extension: model-signing 1.1.1 cannot verify it).
    Ed25519,
}

impl KeyAlgorithm {
    /// CLI spelling: `ec-p256`, `ec-p384`, `ec-p521`, `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcP256 => "ec-p256",
            KeyAlgorithm::EcP384 => "ec-p384",
            KeyAlgorithm::EcP521 => "ec-p521",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
    /// Whether model-signing 1.1.1 can verify signatures made with this algorithm.
    pub fn oms_interoperable(self) -> bool {
        !matches!(self, KeyAlgorithm::Ed25519)
    }
}

/// A signature-verification public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: PublicKeyInner,
}

#[derive(Clone, PartialEq, Eq)]
enum PublicKeyInner {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Parses SPKI DER.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        todo!("keys helper {der:?}")
    }
    /// Reads a `-----BEGIN PUBLIC KEY-----` PEM file (a private key file is accepted too, its public half is used).
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        todo!("keys helper {path:?}")
    }
    /// SPKI DER.
    pub fn to_spki_der(&self) -> Vec<u8> {
        todo!("keys helper")
    }
    /// SPKI PEM exactly as model-signing 1.1.1 / OpenSSL print it (64-column base64, trailing newline).
    pub fn to_pem(&self) -> String {
        todo!("keys helper")
    }
    /// The OMS key hint: lowercase hex SHA-256 of [`PublicKey::to_pem`].
    pub fn hint(&self) -> String {
        todo!("keys helper")
    }
    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            PublicKeyInner::P256(_) => KeyAlgorithm::EcP256,
            PublicKeyInner::P384(_) => KeyAlgorithm::EcP384,
            PublicKeyInner::P521(_) => KeyAlgorithm::EcP521,
            PublicKeyInner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }
    /// Verifies `signature` (DER ECDSA with the curve's hash, or raw Ed25519) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        todo!("keys helper {message:?} {signature:?}")
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.algorithm().name())
    }
}

/// Something that signs OMS statements: a key file, an HSM key, a KMS key.
pub trait Signer: Send + Sync {
    /// The public key signatures verify under.
    fn public_key(&self) -> &PublicKey;
    /// DER certificates (leaf first) to embed for the certificate method; empty for the key method.
    fn certificate_chain(&self) -> &[Vec<u8>];
    /// Signs `message` (the DSSE PAE bytes): DER ECDSA with the curve's hash, or raw Ed25519.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// A non-secret identifier for logs and audit events (e.g. `file:keys/release.pem`).
    fn key_id(&self) -> String;
}

/// A parsed key reference: the one string that names a key in the CLI, Python and policy files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRef {
    /// A PEM file on disk (`path` or `file:path`).
    File(PathBuf),
}

impl std::str::FromStr for KeyRef {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<KeyRef, KeyError> {
        todo!("keys helper {s}")
    }
}

/// How to open a private key.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// File holding the passphrase of an encrypted PKCS#8 key.
    pub password_file: Option<PathBuf>,
    /// Accept secret files that group/others may read.
    pub allow_insecure_permissions: bool,
}

/// Opens a signer for `key` (a private key; the certificate method adds certificates afterwards).
pub fn open_signer(key: &KeyRef, options: &KeyOptions) -> Result<Box<dyn Signer>, KeyError> {
    todo!("keys helper {key:?} {options:?}")
}

/// Opens a signer and attaches a leaf certificate (its public key must match) and chain certificates.
pub fn open_certificate_signer(
    key: &KeyRef,
    options: &KeyOptions,
    leaf: &Path,
    chain: &[PathBuf],
) -> Result<Box<dyn Signer>, KeyError> {
    todo!("keys helper {key:?} {options:?} {leaf:?} {chain:?}")
}

/// The public key of any key reference (a private or public key file, later HSM/KMS keys).
pub fn public_key_of(key: &KeyRef, options: &KeyOptions) -> Result<PublicKey, KeyError> {
    todo!("keys helper {key:?} {options:?}")
}

/// Generates a key pair: private key as PKCS#8 PEM (mode 0600, atomically, refusing to replace an
/// existing file unless `force`), optionally the public key as SPKI PEM.
pub fn generate(
    algorithm: KeyAlgorithm,
    private_out: &Path,
    public_out: Option<&Path>,
    force: bool,
) -> Result<PublicKey, KeyError> {
    todo!("keys helper {algorithm:?} {private_out:?} {public_out:?} {force}")
}
