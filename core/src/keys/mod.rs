//! Keys, the one home of both seams (`docs/ARCHITECTURE.md`, "Floors" and "Seams").
//!
//! The seams, on floor 3: [`keyref`] (one string names a key everywhere: [`KeyRef`], and how to
//! open it: [`KeyOptions`]), [`signing`] (the [`Signer`] that `oms` and `sign` sign with),
//! [`wrapping`] (the [`Recipient`] / [`Identity`] that the envelope wraps and unwraps its data key
//! with, and the types they share), [`error`] ([`KeyError`]), [`public`] ([`PublicKey`]), [`kind`]
//! ([`KeyAlgorithm`], [`KeyKind`]) and the PEM and OID parsers they use.
//!
//! The backends, on floor 5: [`file`](mod@file) (key files), [`pkcs11`] (tokens), [`awskms`] (AWS KMS), and
//! [`open`], the only place where a key scheme meets a backend. This module re-exports the seams
//! only; the backends are reached through their own paths.
//!
//! Secrets (private keys, passwords, PINs) live in zeroizing types, are read from files that are
//! not group/world readable (unless the caller allows it), and never appear in `Debug` output or
//! errors.

pub(crate) mod awskms;
pub(crate) mod certificate;
pub(crate) mod error;
pub(crate) mod file;
pub(crate) mod keyref;
pub(crate) mod kind;
pub(crate) mod oids;
pub(crate) mod open;
pub(crate) mod pem;
pub(crate) mod pkcs11;
pub(crate) mod public;
pub(crate) mod read;
pub(crate) mod rsa_oaep;
pub(crate) mod secret;
pub(crate) mod signing;
pub(crate) mod wrapping;

pub use certificate::read_certificate_file;
pub use error::KeyError;
pub use file::{generate, GeneratedKey};
pub use keyref::{KeyOptions, KeyRef};
pub use kind::{KeyAlgorithm, KeyKind};
pub use open::{
    identity, open_certificate_signer, open_identity, open_recipient, open_signer, public_key_of,
    recipient, removal_key_id,
};
pub use public::PublicKey;
pub use secret::SecretRef;
pub use signing::Signer;
pub use wrapping::{
    DataKey, Identity, ParamValue, PublicHalf, Recipient, Stanza, StanzaKey, WrapContext,
};
