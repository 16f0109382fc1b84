//! Envelope encryption of models: the modelseal encrypted format v1 (`docs/FORMAT.md`).
//!
//! One module per question, as in age/rage: [`format`] (the bytes of the envelope), [`keyschedule`]
//! (DEK, HKDF derivations, header MAC), [`stream`] (chunked AES-256-GCM STREAM, parallel and
//! seekable), [`recipient`] (key wrappers per stanza type), and the operations [`encrypt`],
//! [`decrypt`], [`rewrap`] and [`reader`] built from them.

pub mod error;
pub mod format;
pub mod keyschedule;
pub mod recipient;
pub mod rng;
pub mod stream;

pub use error::SealError;
