//! Envelope encryption of models: the modelseal encrypted format v1 (`docs/FORMAT.md`).
//!
//! One module per question, as in age/rage: [`format`] (the bytes of the envelope), [`keyschedule`]
//! (DEK, HKDF derivations, header MAC), [`stream`] (chunked AES-256-GCM STREAM, parallel and
//! seekable), [`recipient`] (key wrappers per stanza type), and the operations [`encrypt`],
//! [`decrypt`], [`rewrap`] and [`reader`] built from them.

pub mod decrypt;
pub mod encrypt;
pub mod envelope;
pub mod error;
pub mod format;
pub mod keyschedule;
pub mod reader;
pub mod recipient;
pub mod rewrap;
pub mod rng;
pub mod stream;
#[cfg(test)]
mod vectors;

pub use decrypt::{decrypt, DecryptOptions, DecryptSummary};
pub use encrypt::{encrypt, plaintext_from_path, EncryptOptions, EncryptSummary, Plaintext};
pub use error::SealError;
pub use reader::open_file;
pub use recipient::{generate_key, load_key_file, GeneratedKey, KeyKind, KeyWrapper, WrapContext};
pub use rewrap::rewrap;
