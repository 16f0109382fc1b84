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

pub mod awskms;
pub mod error;
pub mod file;
pub mod keyref;
pub mod kind;
pub(crate) mod oids;
pub mod open;
pub(crate) mod pem;
pub mod pkcs11;
pub mod public;
pub mod signing;
pub mod wrapping;

pub use error::KeyError;
pub use keyref::{KeyOptions, KeyRef};
pub use kind::{KeyAlgorithm, KeyKind};
pub use public::PublicKey;
pub use signing::Signer;
pub use wrapping::{DataKey, Identity, ParamValue, Recipient, Stanza, StanzaKey, WrapContext};
