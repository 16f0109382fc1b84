//! The signing seam: [`Signer`], what `oms` and `sign` sign with, implemented by key files,
//! PKCS#11 tokens and AWS KMS (`docs/ARCHITECTURE.md`, "Seams").

use super::error::KeyError;
use super::public::PublicKey;

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
