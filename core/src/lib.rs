//! modelseal: sign and verify machine-learning models in the OpenSSF Model Signing (OMS) format,
//! and envelope-encrypt them.
//!
//! Data flows one way: [`tree`] (which files make the model) → [`digest`] (hash them into a list
//! of [`digest::Resource`]s) → [`oms`] (in-toto statement, DSSE, Sigstore bundle) → [`keys`] /
//! [`trust`] (who signs, whom a verifier trusts). [`sign`] and [`verify`] compose them. [`seal`]
//! encrypts models to recipients (format: `docs/FORMAT.md`). The CLI and the Python bindings call
//! only these entry points.

pub mod audit;
pub mod confine;
pub mod deploy;
pub mod digest;
pub mod fsutil;
pub mod inspect;
pub mod keys;
pub mod kms;
pub mod oms;
pub mod pkcs11;
pub mod policy;
pub mod seal;
pub mod sign;
pub mod sigstore;
pub mod tree;
pub mod trust;
pub mod verify;
