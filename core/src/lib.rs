//! modelseal: sign and verify machine-learning models in the OpenSSF Model Signing (OMS) format.
//!
//! Data flows one way: [`tree`] (which files make the model) → [`digest`] (hash them into a
//! [`digest::Manifest`]) → [`oms`] (in-toto statement, DSSE, Sigstore bundle) → [`keys`] / [`trust`]
//! (who signs, whom a verifier trusts). [`sign`] and [`verify`] compose them; the CLI and the Python
//! bindings call only those two modules and the key helpers.

pub mod digest;
pub mod fsutil;
pub mod inspect;
pub mod keys;
pub mod oms;
pub mod seal;
pub mod sign;
pub mod tree;
pub mod trust;
pub mod verify;
