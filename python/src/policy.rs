//! Python bindings of the trust policy and of seal/unseal: `_modelseal.Policy`, `verify_policy`,
//! `seal`, `unseal`. Results cross as the JSON text the CLI prints, so Python sees exactly the
//! CLI's keys; the typed wrappers are in `modelseal/__init__.py`. Each appends the audit event
//! core's `modelseal::audit` builds, where it decides (the `audit_log` argument, else the policy's),
//! exactly as the CLI does; an event that cannot be written fails the call.

use crate::errors::{seal_error, sign_error, verify_error, Error, VerificationError};
use modelseal::audit::{self, AuditError, AuditEvent};
use modelseal::deploy::{
    seal_model, unseal_model, DeployError, SealOptions, SealOutcome, UnsealOptions,
};
use modelseal::envelope as sealing;
use modelseal::keys::{self, KeyOptions, KeyRef};
use modelseal::policy::{Policy as CorePolicy, PolicyVerifyOptions};
use modelseal::progress::NoProgress;
use modelseal::sign::SignError;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded trust policy (`docs/policy.md`).
#[pyclass(frozen, module = "modelseal._modelseal")]
pub struct Policy {
    inner: Arc<CorePolicy>,
}

#[pymethods]
impl Policy {
    /// Loads and checks the policy file at `path`; errors name the file, line and field.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Policy> {
        let inner = py
            .allow_threads(|| CorePolicy::load(&path))
            .map_err(|e| Error::new_err(e.to_string()))?;
        Ok(Policy {
            inner: Arc::new(inner),
        })
    }

    /// The policy file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    /// The resolved `audit_log`, if any.
    #[getter]
    fn audit_log(&self) -> Option<PathBuf> {
        self.inner.audit_log().map(|p| p.to_path_buf())
    }

    /// Names of the trusted signers.
    #[getter]
    fn signers(&self) -> Vec<String> {
        self.inner
            .signers()
            .iter()
            .map(|s| s.name().to_string())
            .collect()
    }
}

/// Verifies `model` against `signatures` under `policy`: `(allowed, result JSON)`.
#[pyfunction]
#[pyo3(signature = (model, signatures, policy, model_name, ignore, audit_log))]
pub fn verify_policy(
    py: Python<'_>,
    model: PathBuf,
    signatures: Vec<PathBuf>,
    policy: &Policy,
    model_name: Option<String>,
    ignore: Vec<PathBuf>,
    audit_log: Option<PathBuf>,
) -> PyResult<(bool, String)> {
    let policy = policy.inner.clone();
    let options = PolicyVerifyOptions { model_name, ignore };
    let decision = py.allow_threads(|| {
        let mut event = AuditEvent::verify_policy(&model, policy.path());
        let result = policy.verify(&model, &signatures, &options, &NoProgress);
        event.policy_result(result.as_ref());
        audit::record(audit_log.as_deref(), policy.audit_log(), &event).map_err(audit_error)?;
        result.map_err(verify_error)
    })?;
    Ok((decision.allowed, decision.to_json().to_string()))
}

/// Seals `model` (sign, encrypt with the signature inside, sign the result): the CLI's JSON.
#[pyfunction]
#[pyo3(name = "seal", signature = (model, out, key, recipients, model_name, signature, cert, cert_chain, audit_log, allow_insecure_key_permissions))]
#[allow(clippy::too_many_arguments)]
pub fn seal_py(
    py: Python<'_>,
    model: PathBuf,
    out: PathBuf,
    key: &str,
    recipients: Vec<String>,
    model_name: Option<String>,
    signature: Option<PathBuf>,
    cert: Option<PathBuf>,
    cert_chain: Vec<PathBuf>,
    audit_log: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
) -> PyResult<String> {
    py.allow_threads(|| {
        let mut event = AuditEvent::seal(&model, key);
        let request = SealRequest {
            model: &model,
            out: &out,
            key,
            recipients: &recipients,
            cert: cert.as_deref(),
            cert_chain: &cert_chain,
            key_options: crate::seal::key_file_options(allow_insecure_key_permissions),
            options: SealOptions {
                model_name: model_name.clone(),
                outer_signature: signature,
                ..SealOptions::default()
            },
        };
        let result = request.run();
        event.seal_result(model_name.as_deref(), result.as_ref());
        audit::record(audit_log.as_deref(), None, &event).map_err(audit_error)?;
        let outcome = result.map_err(deploy_error)?;
        Ok(serde_json::json!({
            "sealed": true,
            "model": model,
            "out": out,
            "signature": outcome.outer.signature_path,
            "root_digest": hex::encode(outcome.inner.statement.root_digest),
            "encrypted_root_digest": hex::encode(outcome.outer.statement.root_digest),
            "files": outcome.encrypted.files,
        })
        .to_string())
    })
}

/// What [`seal_py`] was asked to do, opened and run in one place so every failure reaches the
/// audit event as a [`DeployError`].
struct SealRequest<'a> {
    model: &'a Path,
    out: &'a Path,
    key: &'a str,
    recipients: &'a [String],
    cert: Option<&'a Path>,
    cert_chain: &'a [PathBuf],
    key_options: KeyOptions,
    options: SealOptions,
}

impl SealRequest<'_> {
    fn run(&self) -> Result<SealOutcome, DeployError> {
        let key_error = |e: keys::KeyError| DeployError::from(SignError::from(e));
        let key: KeyRef = self.key.parse().map_err(key_error)?;
        let options = &self.key_options;
        let signer = match self.cert {
            Some(leaf) => keys::open::open_certificate_signer(&key, options, leaf, self.cert_chain),
            None => keys::open::open_signer(&key, options),
        }
        .map_err(key_error)?;
        let wrappers = self
            .recipients
            .iter()
            .map(|r| keys::open::recipient(r, options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeployError::from(sealing::SealError::from(e)))?;
        let wrappers: Vec<&dyn keys::Recipient> = wrappers.iter().map(|w| w.as_ref()).collect();
        seal_model(
            self.model,
            signer.as_ref(),
            &wrappers,
            self.out,
            &self.options,
        )
    }
}

/// Unseals `enc` into `out` under `policy`: the CLI's JSON.
#[pyfunction]
#[pyo3(name = "unseal", signature = (enc, out, policy, key, model_name, signature, audit_log, allow_insecure_key_permissions))]
#[allow(clippy::too_many_arguments)]
pub fn unseal_py(
    py: Python<'_>,
    enc: PathBuf,
    out: PathBuf,
    policy: &Policy,
    key: &str,
    model_name: Option<String>,
    signature: Option<PathBuf>,
    audit_log: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
) -> PyResult<String> {
    let policy = policy.inner.clone();
    let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
    py.allow_threads(|| {
        let mut event = AuditEvent::unseal(&enc, key, policy.path());
        let options = UnsealOptions {
            model_name,
            signature,
        };
        let result = keys::open::identity(key, &key_options)
            .map_err(|e| DeployError::from(sealing::SealError::from(e)))
            .and_then(|identity| unseal_model(&enc, &policy, identity.as_ref(), &out, &options));
        event.unseal_result(result.as_ref());
        audit::record(audit_log.as_deref(), policy.audit_log(), &event).map_err(audit_error)?;
        let outcome = result.map_err(deploy_error)?;
        Ok(serde_json::json!({
            "unsealed": true,
            "out": out,
            "model_name": outcome.inner.model_name,
            "root_digest": outcome.inner.root_digest,
            "signers": outcome.inner.signers,
            "rule": outcome.inner.rule_label(),
            "outer": outcome.outer.to_json(),
            "inner": outcome.inner.to_json(),
            "reasons": [],
        })
        .to_string())
    })
}

/// The operation's audit event could not be written: the call fails (fail closed, as the CLI).
fn audit_error(err: AuditError) -> PyErr {
    Error::new_err(err.to_string())
}

fn deploy_error(err: DeployError) -> PyErr {
    match err {
        DeployError::Denied { .. } => VerificationError::new_err(err.reasons().join("\n")),
        DeployError::Seal(e) => seal_error(e),
        DeployError::Sign(e) => sign_error(e),
        DeployError::Verify(e) => verify_error(e),
        other => Error::new_err(other.to_string()),
    }
}
