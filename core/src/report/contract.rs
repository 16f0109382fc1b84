//! The one JSON contract (`docs/json.md`, `docs/schema/result.schema.json`): every verb's
//! `--json` result — success, failure, usage or load error — is one [`Outcome`], printed as one
//! object:
//!
//! `{"schema": "modelseal.result/v1", "verb", "ok", "error_class", "errors": [{code, message,
//! path?}], …the verb's own keys}`
//!
//! with the same keys on every outcome of a verb: a key the outcome has no value for is `null`
//! ([`Verb::keys`] lists them, and the schema requires exactly them).

use super::codes::{Coded, Problem};
use super::*;
use crate::error::ErrorClass;
use serde_json::Map;

/// The version of the contract, the `schema` key of every result.
pub const SCHEMA: &str = "modelseal.result/v1";

/// The keys every result starts with, before the verb's own.
pub const ENVELOPE_KEYS: [&str; 5] = ["schema", "verb", "ok", "error_class", "errors"];

/// A verb of the command line, and `serve`'s answers (`verify`, like `verify --policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `keygen`
    Keygen,
    /// `pubkey`
    Pubkey,
    /// `sign`
    Sign,
    /// `verify` (with a key, certificate roots, Sigstore, or `--policy`; `serve`'s decisions)
    Verify,
    /// `inspect` (a signature, a claims file or an encrypted model)
    Inspect,
    /// `digest`
    Digest,
    /// `encrypt`
    Encrypt,
    /// `decrypt`
    Decrypt,
    /// `rewrap`
    Rewrap,
    /// `seal`
    Seal,
    /// `unseal`
    Unseal,
    /// `endorse` (an outer co-signature added to a sealed model)
    Endorse,
    /// `scan`
    Scan,
    /// `serve` (its own outcome: it could not start, or it stopped)
    Serve,
}

impl Verb {
    /// Every verb that prints a result.
    pub const ALL: [Verb; 14] = [
        Verb::Keygen,
        Verb::Pubkey,
        Verb::Sign,
        Verb::Verify,
        Verb::Inspect,
        Verb::Digest,
        Verb::Encrypt,
        Verb::Decrypt,
        Verb::Rewrap,
        Verb::Seal,
        Verb::Unseal,
        Verb::Endorse,
        Verb::Scan,
        Verb::Serve,
    ];

    /// The verb as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Keygen => "keygen",
            Verb::Pubkey => "pubkey",
            Verb::Sign => "sign",
            Verb::Verify => "verify",
            Verb::Inspect => "inspect",
            Verb::Digest => "digest",
            Verb::Encrypt => "encrypt",
            Verb::Decrypt => "decrypt",
            Verb::Rewrap => "rewrap",
            Verb::Seal => "seal",
            Verb::Unseal => "unseal",
            Verb::Endorse => "endorse",
            Verb::Scan => "scan",
            Verb::Serve => "serve",
        }
    }

    /// The verb named `name`, if it prints a result.
    pub fn from_name(name: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The verb's own keys, present on every outcome (`null` where the outcome has no value).
    /// A verb with several shapes (`verify` with a key or a policy, `inspect` of a signature,
    /// claims file or encrypted model) has the keys of all of them.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Verb::Keygen => &[
                "algorithm",
                "private_key",
                "public_key",
                "key_hint",
                "key_id",
            ],
            Verb::Pubkey => &["key", "out", "algorithm", "key_hint", "public_key_pem"],
            Verb::Sign => &[
                "signed",
                "model",
                "signature",
                "root_digest",
                "resources",
                "serialization",
                "signer",
                "warnings",
                "findings",
            ],
            Verb::Verify => &[
                "verified",
                "allowed",
                "model",
                "signature",
                "line",
                "model_name",
                "signed_name",
                "policy",
                "policy_digest",
                "request_id",
                "root_digest",
                "resources",
                "files",
                "signer",
                "signers",
                "serialization",
                "rule",
                "reasons",
                "signatures",
                "exempt_files",
                "formats",
                "format_names",
            ],
            Verb::Inspect => &[
                "verified",
                "encrypted",
                "authenticated",
                "signature",
                "path",
                "line",
                "method",
                "key_hint",
                "certificate_subject",
                "certificates",
                "payload_type",
                "model_name",
                "root_digest",
                "resources",
                "serialization",
                "timestamps",
                "statement_error",
                "signatures",
                "envelope",
                "format_version",
                "layout",
                "chunk_size",
                "body_digest",
                "total_bytes",
                "files",
                "recipients",
            ],
            Verb::Digest => &["model", "root_digest", "resources", "serialization"],
            Verb::Encrypt => &[
                "encrypted",
                "model",
                "out",
                "files",
                "bytes",
                "chunk_size",
                "body_digest",
                "recipients",
            ],
            Verb::Decrypt => &[
                "decrypted",
                "encrypted",
                "out",
                "model_name",
                "files",
                "bytes",
                "body_digest",
                "recipient",
            ],
            Verb::Rewrap => &["rewrapped", "encrypted", "recipients"],
            Verb::Seal => &[
                "sealed",
                "model",
                "out",
                "signature",
                "root_digest",
                "encrypted_root_digest",
                "files",
                "recipients",
                "findings",
            ],
            Verb::Unseal => &[
                "unsealed",
                "already_unsealed",
                "encrypted",
                "out",
                "model_name",
                "signed_name",
                "root_digest",
                "signers",
                "rule",
                "outer",
                "inner",
                "denied",
                "reasons",
            ],
            Verb::Endorse => &[
                "endorsed",
                "encrypted",
                "signature",
                "encrypted_root_digest",
                "key_hint",
                "existing",
            ],
            Verb::Scan => &[
                "clean",
                "model",
                "files",
                "bytes_read",
                "findings",
                "allowed",
                "allow_list",
                "formats",
                "format_names",
                "skipped",
                "partial",
            ],
            Verb::Serve => &["policy", "listen"],
        }
    }
}

/// How one run of a verb ended, as its JSON result.
#[derive(Debug, Clone)]
pub struct Outcome {
    verb: Option<Verb>,
    error_class: Option<ErrorClass>,
    errors: Vec<Problem>,
    fields: Map<String, Value>,
}

impl Outcome {
    /// `verb` succeeded with `result` (a `*Report`).
    pub fn ok<T: Serialize>(verb: Verb, result: &T) -> Outcome {
        Outcome {
            verb: Some(verb),
            error_class: None,
            errors: Vec::new(),
            fields: fields(result),
        }
    }

    /// `verb` ended in `class` for `errors`; `known` holds what is known of its result (a
    /// `*Report`, a failure report, or `()`).
    pub fn failed<T: Serialize>(
        verb: Verb,
        class: ErrorClass,
        errors: Vec<Problem>,
        known: &T,
    ) -> Outcome {
        Outcome {
            verb: Some(verb),
            error_class: Some(class),
            errors,
            fields: fields(known),
        }
    }

    /// `verb` (`None`: not known, as when the command line names none) ended in `err`.
    pub fn error(verb: Option<Verb>, err: &dyn Coded) -> Outcome {
        Outcome {
            verb,
            error_class: Some(err.error_class()),
            errors: err.problems(),
            fields: Map::new(),
        }
    }

    /// `verb` ended in a usage or input error of `class` described by `errors` (the CLI's errors
    /// that no core error type describes).
    pub fn problems(verb: Option<Verb>, class: ErrorClass, errors: Vec<Problem>) -> Outcome {
        Outcome {
            verb,
            error_class: Some(class),
            errors,
            fields: Map::new(),
        }
    }

    /// The same outcome, ended by one more error of `class` (an audit line that could not be
    /// written after the operation): the result it had is kept, the class is the one the run
    /// ends (and exits) with, and the errors are added.
    pub fn and_failed(mut self, class: ErrorClass, mut errors: Vec<Problem>) -> Outcome {
        self.error_class = Some(class);
        self.errors.append(&mut errors);
        self
    }

    /// Whether the verb succeeded.
    pub fn is_ok(&self) -> bool {
        self.error_class.is_none()
    }

    /// The error class, `None` on success.
    pub fn error_class(&self) -> Option<ErrorClass> {
        self.error_class
    }

    /// The object: the envelope's keys, then the verb's keys (`null` where unknown), sorted.
    pub fn json(&self) -> Value {
        let mut out = Map::new();
        out.insert("schema".into(), Value::from(SCHEMA));
        out.insert("verb".into(), self.verb.map(Verb::name).into());
        out.insert("ok".into(), Value::Bool(self.is_ok()));
        out.insert(
            "error_class".into(),
            self.error_class.map(ErrorClass::as_str).into(),
        );
        out.insert("errors".into(), json(&self.errors));
        for key in self.verb.map(Verb::keys).unwrap_or_default() {
            let value = self.fields.get(*key).cloned().unwrap_or(Value::Null);
            out.insert((*key).to_string(), value);
        }
        Value::Object(out)
    }
}

/// The keys of `result` as a map (a report that is not an object gives none).
pub(super) fn fields<T: Serialize>(result: &T) -> Map<String, Value> {
    match json(result) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_of_a_verb_has_the_same_keys() {
        #[derive(Serialize)]
        struct Partial {
            model: &'static str,
            stray: bool,
        }
        let ok = Outcome::ok(
            Verb::Digest,
            &Partial {
                model: "m",
                stray: true,
            },
        )
        .json();
        let failed = Outcome::problems(
            Some(Verb::Digest),
            ErrorClass::Input,
            vec![Problem::usage("bad")],
        )
        .json();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ok), keys(&failed));
        assert_eq!(ok["model"], "m");
        assert_eq!(failed["model"], Value::Null);
        assert!(ok.get("stray").is_none(), "only the verb's documented keys");
        assert_eq!(failed["errors"][0]["code"], "usage");
        assert_eq!(failed["error_class"], "input");
        assert_eq!(ok["error_class"], Value::Null);
    }
}
