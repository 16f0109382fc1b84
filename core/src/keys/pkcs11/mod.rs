//! Keys in PKCS#11 tokens (HSMs, smart cards, SoftHSM2), named by RFC 7512 `pkcs11:` URIs.
//!
//! The private key never leaves the token: the token signs a digest computed here ([`Pkcs11Signer`],
//! ECDSA P-256/P-384/P-521) and wraps or unwraps the data key of an encrypted model
//! ([`open_recipient`], [`open_identity`]: `pkcs11-aes` and `rsa-oaep`, docs/FORMAT.md §8.5–8.6). Everything else —
//! hashing the model, building the bundle, the bulk encryption — happens in modelseal.
//!
//! Layout: [`uri`] parses references and [`error`] is the one error type (both on the floor of
//! `keys::keyref`, below this backend: `docs/ARCHITECTURE.md`); `pin` obtains the PIN; `session` loads modules, finds the token,
//! logs in once per process and opens sessions; `objects` finds keys; `signer` and `wrap` are the
//! backends; `counters` counts the token calls that matter.
//! Guarantees: see each module; in short, one login per process and token, a wrong PIN never
//! retried, the PIN only in zeroizing memory and never in errors, every error naming the URI.

mod counters;
pub mod error;
mod objects;
mod pin;
mod session;
mod signer;
pub mod uri;
mod wrap;

pub use counters::{call_counts, CallCounts};
pub use error::{ErrorKind, Pkcs11Error};
pub use session::MODULE_ENV;
pub use signer::Pkcs11Signer;
pub use uri::{redact, ObjectType, PinSource, Pkcs11Uri, WrapChoice, SCHEME};
pub use wrap::{open_identity, open_recipient, AES_STANZA_TYPE};

/// The public key of the EC key pair `uri` names (for `pubkey` and for verifiers to pin).
pub fn public_key(uri: &Pkcs11Uri) -> Result<crate::keys::PublicKey, Pkcs11Error> {
    Ok(crate::keys::Signer::public_key(&Pkcs11Signer::open(uri)?).clone())
}
