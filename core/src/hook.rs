//! A verification request as a registry webhook sends it — `{"model", "signatures",
//! "model_name"}` with paths relative to a root — answered by [`Policy::verify_request`] with the
//! same [`PolicyDecision`] as `modelseal verify --policy` (its JSON and audit event are built in
//! `report`, as for `verify --policy`). Transport-free: `modelseal serve` adds HTTP around it (`docs/serve.md`).
//!
//! Guarantees: the request is parsed strictly (unknown fields refused, at most
//! [`MAX_SIGNATURES`] signatures); every path goes through [`ConfinedRoot::resolve`] before any
//! file is opened, so nothing outside the root is read; paths in the answer are the request's own
//! (relative) paths, never the server's directory layout.

use crate::error::ErrorClass;
use crate::fs::confine::ConfineError;
pub use crate::fs::confine::ConfinedRoot;
use crate::policy::{Policy, PolicyDecision, PolicyVerifyOptions};
use crate::progress::NoProgress;
use crate::verify::VerifyError;
use std::path::PathBuf;

/// Most signature files one request may name (each is parsed and checked against every signer).
pub const MAX_SIGNATURES: usize = 32;

/// One verification request.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The model directory or file, relative to the root.
    pub model: String,
    /// The signature files, relative to the root.
    pub signatures: Vec<String>,
    /// The name the policy's rules match (default as for `verify --policy`).
    #[serde(default)]
    pub model_name: Option<String>,
}

/// Why a request was not decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is not a JSON request of the documented shape.
    #[error("malformed request: {reason}")]
    Malformed {
        /// What is wrong: the JSON parser's message, or too many signatures.
        reason: String,
    },
    /// A path is refused (escapes the root, absolute, missing).
    #[error(transparent)]
    Path(#[from] ConfineError),
    /// The files could not be verified (unreadable or malformed signature, unreadable model).
    #[error("{0}")]
    Input(String),
}

impl RequestError {
    /// Every request error is an input error: nothing was decided (exit code 2 in the CLI, HTTP
    /// 400/422 in `serve`).
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Input
    }
}

impl VerifyRequest {
    /// Parses a JSON body strictly.
    pub fn parse(body: &[u8]) -> Result<VerifyRequest, RequestError> {
        let request: VerifyRequest =
            serde_json::from_slice(body).map_err(|e| RequestError::Malformed {
                reason: e.to_string(),
            })?;
        if request.signatures.len() > MAX_SIGNATURES {
            return Err(RequestError::Malformed {
                reason: format!(
                    "{} signatures; at most {MAX_SIGNATURES} are accepted",
                    request.signatures.len()
                ),
            });
        }
        Ok(request)
    }
}

impl Policy {
    /// Verifies the model `request` names under this policy, with every path confined to `root`.
    ///
    /// `Ok` is a decision (allowed or denied, as `verify --policy`); `Err` means nothing was
    /// decided (a refused path, or an input error — exit code 2 in the CLI).
    pub fn verify_request(
        &self,
        root: &ConfinedRoot,
        request: &VerifyRequest,
    ) -> Result<PolicyDecision, RequestError> {
        let model = root.resolve(&request.model)?;
        let signatures = request
            .signatures
            .iter()
            .map(|s| root.resolve(s))
            .collect::<Result<Vec<PathBuf>, _>>()?;
        let options = PolicyVerifyOptions {
            // Default (None): as `verify --policy`, of the resolved path — the envelope's name
            // for an encrypted model, else the last component (of a symlink's target).
            model_name: request.model_name.clone(),
            ignore: Vec::new(),
        };
        let mut decision = self
            .verify(&model, &signatures, &options, &NoProgress)
            .map_err(|e| RequestError::Input(relative_reason(root, &e)))?;
        decision.model = PathBuf::from(&request.model);
        // One outcome per signature, several per claims file (`.jsonl`, one per line): each is
        // named by the request's own path of its file.
        for outcome in &mut decision.signatures {
            if let Some(given) = signatures
                .iter()
                .position(|resolved| *resolved == outcome.path)
                .and_then(|i| request.signatures.get(i))
            {
                outcome.path = PathBuf::from(given);
            }
        }
        let prefix = format!("{}/", root.path().display());
        for reason in &mut decision.reasons {
            *reason = reason.replace(&prefix, "");
        }
        Ok(decision)
    }
}

fn relative_reason(root: &ConfinedRoot, err: &VerifyError) -> String {
    err.to_string()
        .replace(&format!("{}/", root.path().display()), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        let r = VerifyRequest::parse(br#"{"model": "m", "signatures": ["a.sig"]}"#).unwrap();
        assert_eq!((r.model.as_str(), r.model_name), ("m", None));
        for bad in [
            &br#"{"model": "m"}"#[..],
            br#"{"model": "m", "signatures": [], "x": 1}"#,
            br#"{"model": "m", "signatures": "a.sig"}"#,
            b"not json",
        ] {
            let err = VerifyRequest::parse(bad).unwrap_err();
            assert!(matches!(err, RequestError::Malformed { .. }), "{err}");
        }
        let many = serde_json::json!({"model": "m", "signatures": vec!["s"; MAX_SIGNATURES + 1]});
        let err = VerifyRequest::parse(many.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("at most 32"), "{err}");
    }
}
