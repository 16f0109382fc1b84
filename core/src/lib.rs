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

// The public API: the operations and the types their callers name. Each module below says what it
// guarantees; the most used entry points are also re-exported at the root.
pub mod audit;
pub mod deploy;
pub mod digest;
pub mod endorse;
pub mod envelope;
pub mod error;
pub mod hook;
pub mod inspect;
pub mod keys;
pub mod load;
pub mod location;
pub mod policy;
pub mod progress;
pub mod report;
pub mod scan;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sign;
pub mod text;
pub mod timestamp;
pub mod trust;
pub mod verify;

// Implementation floors that callers reach only through the modules above (and tests, fuzz
// targets and benchmarks through `internals`).
#[cfg(any(feature = "awskms", feature = "awssm", feature = "storage"))]
mod aws;
mod fs;
mod oms;
mod rng;
mod sigstore;
mod tree;

pub use deploy::{seal_model, unseal_model, DeployError, SealOptions, UnsealOptions};
pub use envelope::{decrypt, encrypt, inspect_encrypted, rewrap, SealError};
pub use error::ErrorClass;
pub use fs::process::harden_process;
pub use keys::{KeyError, KeyOptions, KeyRef};
pub use load::{
    open_encrypted_model, open_encrypted_model_with_policy, open_model, open_model_with_policy,
    OpenedModel,
};
pub use policy::{Policy, PolicyDecision, PolicyError};
pub use progress::{NoProgress, Progress};
pub use sign::{sign_model, SignError, SignOptions};
pub use trust::{Trust, TrustOptions};
pub use verify::{verify_model, VerifyError, VerifyOptions};

/// Every module, including the implementation floors, for modelseal's own integration tests,
/// fuzz targets and benchmarks. **Unstable**: not part of the API, may change in any release.
#[doc(hidden)]
pub mod internals {
    #![allow(missing_docs)]
    pub use crate::{
        audit, deploy, digest, endorse, error, hook, inspect, location, policy, progress, report,
        scan, sign, timestamp, trust, verify,
    };
    pub mod fs {
        pub use crate::fs::*;
    }
    pub mod oms {
        pub use crate::oms::*;
    }
    pub mod rng {
        pub use crate::rng::*;
    }
    pub mod sigstore {
        pub use crate::sigstore::*;
    }
    pub mod tree {
        pub use crate::tree::*;
    }
    pub mod envelope {
        pub use crate::envelope::*;
        pub mod authenticate {
            pub use crate::envelope::authenticate::*;
        }
        pub mod format {
            pub use crate::envelope::format::*;
        }
        pub mod keyschedule {
            pub use crate::envelope::keyschedule::*;
        }
        pub mod stream {
            pub use crate::envelope::stream::*;
        }
    }
    pub mod keys {
        pub use crate::keys::*;
        pub mod awskms {
            pub use crate::keys::awskms::*;
        }
        pub mod file {
            pub use crate::keys::file::*;
        }
        pub mod open {
            pub use crate::keys::open::*;
        }
        pub mod pkcs11 {
            pub use crate::keys::pkcs11::*;
        }
        pub mod secret {
            pub use crate::keys::secret::*;
        }
    }
}
