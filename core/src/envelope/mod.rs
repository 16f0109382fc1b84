//! Envelope encryption of models: the modelseal encrypted format v1 (`docs/FORMAT.md`).
//!
//! One module per question, as in age/rage: [`format`](mod@format) (the bytes of the envelope),
//! [`keyschedule`] (DEK, HKDF derivations, header MAC), [`authenticate`] (building an envelope and
//! reading one back only through its MAC), [`stream`] (chunked AES-256-GCM STREAM, parallel and
//! seekable), and the operations [`encrypt`](mod@encrypt), [`decrypt`](mod@decrypt),
//! [`rewrap`](mod@rewrap), [`reader`] and [`inspect`] built from them. Keys are the key seam's
//! `Recipient` and `Identity` (`keys::wrapping`): this module takes them as trait objects and never
//! names a backend. Outputs are committed to disk by `crate::fs::commit`.

pub(crate) mod authenticate;
pub(crate) mod decrypt;
pub(crate) mod encrypt;
pub(crate) mod error;
pub(crate) mod format;
pub(crate) mod inspect;
pub(crate) mod keyschedule;
pub(crate) mod pipeline;
pub(crate) mod reader;
#[cfg(feature = "storage")]
pub(crate) mod remote;
pub(crate) mod rewrap;
mod signed_plaintext;
pub(crate) mod source;
pub(crate) mod stream;
#[cfg(test)]
mod vectors;

pub use decrypt::{decrypt, decrypt_with_progress, DecryptOptions, DecryptSummary};
pub use encrypt::{
    encrypt, encrypt_matching, encrypt_with_progress, plaintext_following_symlinks,
    plaintext_from_path, EncryptOptions, EncryptSummary, Plaintext, StoredPlaintext,
};
pub use error::SealError;
pub use inspect::{inspect_encrypted, is_encrypted, EncryptedSummary, RecipientInfo};
pub use reader::{open_file, open_path};
pub use rewrap::{rewrap, rewrap_key_ids};
pub use stream::ChunkReader;
