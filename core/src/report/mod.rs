//! The result of every operation as the doors show it, and the audit event it implies: the one
//! place where JSON results and audit events are assembled (floor 10, `docs/ARCHITECTURE.md`).
//!
//! Each `*Report` type is `Serialize`; [`json`] turns one into the object the CLI's `--json`
//! prints (keys sorted, as every JSON output has been) and the Python bindings convert into a
//! `dict`. Each `*_event` function builds the [`AuditEvent`] of one operation from its inputs and
//! how it ended ([`Failure`]), so the CLI, Python and `serve` append the same line.
//!
//! Where two doors show a result differently today, the difference is kept and named here (the
//! unified JSON contract is a later change of this one file):
//! - a signature's serialization has three shapes: [`Serialization`] (sign, verify, inspect),
//!   [`SerializationBrief`] (a policy decision, as the Rego input spells it) and the flat fields
//!   of [`PyVerified`] (Python's `VerificationResult`);
//! - Python's `seal` dict has no `recipients` ([`SealReport::without_recipients`]), and Python's
//!   `verify`, `encrypt`, `decrypt`, `rewrap` and `inspect_encrypted` have their own shapes
//!   (`Py*`), which its dataclasses and tuples are built from.
//!
//! Files: `signing` (sign, verify, policy decisions, inspect of signatures, digest, keygen),
//! `envelope` (encrypt, decrypt, rewrap, seal, unseal, inspect of encrypted models), `python` (the
//! `Py*` shapes), `scan` (findings and formats) and `events` (audit events and [`Failure`]); every type is re-exported here.

use crate::audit::{AuditEvent, Operation};
use crate::deploy::{DeployError, SealOutcome, UnsealOutcome};
use crate::digest::{Method, SerializationConfig};
use crate::endorse::EndorseOutcome;
use crate::envelope::format::Layout;
use crate::envelope::{DecryptSummary, EncryptSummary, EncryptedSummary, SealError};
use crate::error::ErrorClass;
use crate::inspect::SignatureSummary;
use crate::keys::file::GeneratedKey;
use crate::load::OpenedModel;
use crate::oms::Statement;
use crate::policy::{PolicyDecision, RuleRef};
use crate::scan::format_names;
use crate::sign::SignOutcome;
use crate::trust::SignerIdentity;
use crate::verify::{VerifiedModel, VerifyError};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

mod envelope;
mod events;
mod python;
mod scan;
mod signing;

pub use envelope::*;
pub use events::*;
pub use python::*;
pub use scan::*;
pub use signing::*;

/// `report` as the JSON object the doors print: keys in sorted order, one line with
/// `to_string()`.
pub fn json<T: Serialize>(report: &T) -> Value {
    // Every report holds only strings, numbers, booleans, sequences and string-keyed structs,
    // which `to_value` cannot fail on.
    serde_json::to_value(report).unwrap_or(Value::Null)
}

fn text(path: &Path) -> String {
    path.display().to_string()
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Files => "files",
        Method::Shards { .. } => "shards",
    }
}

/// `(type, key_id)` of a stanza as `{"type", "key_id"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// Stanza type (`aes256-kek`, `x25519-hpke`, …).
    #[serde(rename = "type")]
    pub stanza_type: String,
    /// The recipient's key id.
    pub key_id: String,
}

fn recipients(pairs: &[(String, String)]) -> Vec<Recipient> {
    pairs
        .iter()
        .map(|(t, k)| Recipient {
            stanza_type: t.clone(),
            key_id: k.clone(),
        })
        .collect()
}
