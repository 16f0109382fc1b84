//! Keys: references (one string names a key everywhere), public keys, and the [`Signer`] seam that
//! file, PKCS#11 and KMS backends implement. `oms` and `sign` depend only on [`Signer`].
//!
//! Secrets (private keys, passwords) live in zeroizing types, are read from files that are not
//! group/world readable (unless the caller allows it), and never appear in `Debug` output or errors.
//!
//! Layout: `keyref` parses references; `file` reads bounded files and checks permissions; `pem`
//! splits PEM text; `load` decides what a key file holds; `public` and `secret` are the key types;
//! `signer` is the file [`Signer`]; `generate` writes new key pairs.

use std::path::{Path, PathBuf};

pub mod awskms;
pub(crate) mod file;
mod generate;
mod keyref;
mod load;
mod oids;
mod pem;
pub mod pkcs11;
mod public;
mod secret;
mod signer;

pub use public::PublicKey;
pub(crate) use signer::certificate_chain_for;

/// Errors about keys: loading, parsing, generating, signing, verifying a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
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
    /// Key bytes that are not a valid key (no file involved, e.g. a public key inside a bundle).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// An AWS KMS key could not be used (the message names the reference and the KMS error code).
    #[error(transparent)]
    Kms(#[from] crate::keys::awskms::KmsError),
    /// A signing certificate whose public key is not the signing key's.
    #[error("{certificate}: the certificate's public key does not match the private key {key}")]
    CertificateKeyMismatch { certificate: PathBuf, key: PathBuf },
    /// A key in a PKCS#11 token could not be used (module, token, PIN, object, mechanism).
    #[error(transparent)]
    Pkcs11(#[from] crate::keys::pkcs11::Pkcs11Error),
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

/// Shows which key signs (its non-secret [`Signer::key_id`] and algorithm), never key material.
impl std::fmt::Debug for dyn Signer + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signer({}, {})",
            self.key_id(),
            self.public_key().algorithm().name()
        )
    }
}

/// A parsed key reference: the one string that names a key in the CLI, Python and policy files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRef {
    /// A PEM file on disk (`path` or `file:path`).
    File(PathBuf),
    /// A key in a PKCS#11 token (RFC 7512 `pkcs11:` URI).
    Pkcs11(crate::keys::pkcs11::Pkcs11Uri),
    /// A key in AWS KMS (`awskms:///<key>` or `awskms://HOST:PORT/<key>`).
    AwsKms(crate::keys::awskms::KmsKeyRef),
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
///
/// Key files: PEM PKCS#8 (`PRIVATE KEY`, v1 or v2), SEC1 (`EC PRIVATE KEY`) or PBES2-encrypted
/// PKCS#8 (`ENCRYPTED PRIVATE KEY`, passphrase from `options.password_file`); curves P-256, P-384,
/// P-521, or Ed25519. A file that group or others may read is refused unless
/// `options.allow_insecure_permissions`.
pub fn open_signer(key: &KeyRef, options: &KeyOptions) -> Result<Box<dyn Signer>, KeyError> {
    match key {
        KeyRef::File(path) => Ok(Box::new(signer::FileSigner::open(path, options)?)),
        KeyRef::Pkcs11(uri) => Ok(Box::new(crate::keys::pkcs11::Pkcs11Signer::open(uri)?)),
        KeyRef::AwsKms(kms) => crate::keys::awskms::open_signer(kms),
    }
}

/// Opens a signer and attaches a leaf certificate (its public key must match) and chain certificates.
///
/// `leaf` holds exactly one PEM certificate; each `chain` file one or more. The signer's
/// [`Signer::certificate_chain`] is the leaf's DER followed by the chain's, in file order. The
/// chain is not validated here: a verifier does that against its own roots.
pub fn open_certificate_signer(
    key: &KeyRef,
    options: &KeyOptions,
    leaf: &Path,
    chain: &[PathBuf],
) -> Result<Box<dyn Signer>, KeyError> {
    match key {
        KeyRef::File(path) => {
            let signer = signer::FileSigner::open(path, options)?.with_certificates(leaf, chain)?;
            Ok(Box::new(signer))
        }
        KeyRef::Pkcs11(uri) => {
            let signer =
                crate::keys::pkcs11::Pkcs11Signer::open(uri)?.with_certificates(leaf, chain)?;
            Ok(Box::new(signer))
        }
        KeyRef::AwsKms(kms) => Err(KeyError::Unsupported(format!(
            "{kms}: the certificate method needs a key file"
        ))),
    }
}

/// The public key of any key reference (a private or public key file, or an EC key pair in a
/// PKCS#11 token, read from its `CKA_EC_PARAMS` and `CKA_EC_POINT`).
///
/// A file may hold a `PUBLIC KEY`, a `CERTIFICATE` (its key is used, the certificate is not
/// validated) or a private key (permission-checked and, if encrypted, decrypted per `options`).
pub fn public_key_of(key: &KeyRef, options: &KeyOptions) -> Result<PublicKey, KeyError> {
    match key {
        KeyRef::File(path) => match load::load(path, options, false)? {
            load::KeyMaterial::Public(public) => Ok(public),
            load::KeyMaterial::Private(private) => private.public_key(),
        },
        KeyRef::Pkcs11(uri) => Ok(crate::keys::pkcs11::public_key(uri)?),
        KeyRef::AwsKms(kms) => Ok(crate::keys::awskms::open_signer(kms)?.public_key().clone()),
    }
}

/// Generates a key pair: private key as PKCS#8 PEM (mode 0600, atomically, refusing to replace an
/// existing file unless `force`), optionally the public key as SPKI PEM.
pub fn generate(
    algorithm: KeyAlgorithm,
    private_out: &Path,
    public_out: Option<&Path>,
    force: bool,
) -> Result<PublicKey, KeyError> {
    generate::generate(algorithm, private_out, public_out, force)
}

/// Reads every `CERTIFICATE` block of a PEM file as DER, in order; a file without one, or with a
/// block that is not a valid X.509 certificate, is an error naming the file.
pub fn read_certificate_file(path: &Path) -> Result<Vec<Vec<u8>>, KeyError> {
    signer::read_certificates(path)
}
