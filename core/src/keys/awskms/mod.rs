//! The AWS KMS backend: `awskms://` key references that sign (asymmetric ECC keys) and wrap data
//! keys (symmetric keys), through the official AWS SDK for Rust.
//!
//! Layout: [`reference`](mod@reference) parses `awskms://` URIs (always built, so every build recognises them);
//! [`error`] is the backend's error type (both on the floor of `keys::keyref`, below this backend:
//! `docs/ARCHITECTURE.md`); with the `awskms` cargo feature, `client` is the blocking
//! facade over the SDK, `signer` the [`crate::keys::Signer`] and `wrap` the data-key
//! [`crate::keys::Recipient`] and [`crate::keys::Identity`] (`docs/FORMAT.md` §8.7). Without the feature, opening such a key
//! fails with [`KmsError::NotBuilt`].
//!
//! Keys never leave KMS; modelseal never reads or stores long-lived credentials (the SDK's standard
//! chain provides them). Cost does not grow with the model: one request per signature (plus one
//! `GetPublicKey` per run), one per recipient on encrypt, one on decrypt.

pub mod error;
pub mod reference;

#[cfg(feature = "awskms")]
mod client;
#[cfg(feature = "awskms")]
mod signer;
#[cfg(feature = "awskms")]
pub mod wrap;

pub use error::KmsError;
pub use reference::{KmsKeyKind, KmsKeyRef};

/// The stanza type of KMS-wrapped data keys (§8.7).
pub const STANZA_TYPE: &str = "awskms";

/// Opens a signer for an asymmetric KMS key (one `GetPublicKey` request).
pub fn open_signer(
    reference: &KmsKeyRef,
) -> Result<Box<dyn crate::keys::Signer>, crate::keys::KeyError> {
    #[cfg(feature = "awskms")]
    {
        Ok(Box::new(signer::KmsSigner::open(reference)?))
    }
    #[cfg(not(feature = "awskms"))]
    {
        Err(not_built(reference).into())
    }
}

/// Opens a symmetric KMS key as an encryption recipient (no request yet).
pub fn open_recipient(
    reference: &KmsKeyRef,
) -> Result<Box<dyn crate::keys::Recipient>, crate::keys::KeyError> {
    #[cfg(feature = "awskms")]
    {
        Ok(Box::new(wrap::KmsWrapper::open(reference)?))
    }
    #[cfg(not(feature = "awskms"))]
    {
        Err(not_built(reference).into())
    }
}

/// Opens a symmetric KMS key as a decryption identity (no request yet).
pub fn open_identity(
    reference: &KmsKeyRef,
) -> Result<Box<dyn crate::keys::Identity>, crate::keys::KeyError> {
    #[cfg(feature = "awskms")]
    {
        Ok(Box::new(wrap::KmsWrapper::open(reference)?))
    }
    #[cfg(not(feature = "awskms"))]
    {
        Err(not_built(reference).into())
    }
}

#[cfg(not(feature = "awskms"))]
fn not_built(reference: &KmsKeyRef) -> KmsError {
    KmsError::NotBuilt {
        reference: reference.to_string(),
    }
}
