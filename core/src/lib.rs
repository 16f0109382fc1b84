//! modelseal: sign and verify machine-learning models in the OpenSSF Model Signing (OMS) format,
//! and envelope-encrypt them.
//!
//! Data flows one way: [`tree`] (which files make the model) → [`digest`] (hash them into a list
//! of [`digest::Resource`]s) → [`oms`] (in-toto statement, DSSE, Sigstore bundle) → [`keys`] /
//! [`trust`] (who signs, whom a verifier trusts). [`sign`] and [`verify`] compose them. [`envelope`]
//! encrypts models to recipients (format: `docs/FORMAT.md`). The CLI and the Python bindings call
//! only these entry points.

// `unsafe` is allowed only in `fs`, which says why each use is needed and sound.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod deploy;
pub mod digest;
pub mod envelope;
pub mod error;
pub mod fs;
pub mod hook;
pub mod inspect;
pub mod keys;
pub mod oms;
pub mod policy;
pub mod progress;
pub mod report;
pub mod rng;
pub mod sign;
pub mod sigstore;
pub mod timestamp;
pub mod tree;
pub mod trust;
pub mod verify;
