//! Python bindings of the trust policy and of seal/unseal: `_modelseal.Policy`, `verify_policy`,
//! `seal`, `unseal`. Results cross as the JSON text the CLI prints, so Python sees exactly the
//! CLI's keys; the typed wrappers are in `modelseal/__init__.py`.

use crate::errors::{key_error, seal_error, sign_error, verify_error, Error, VerificationError};
use modelseal::deploy::{seal_model, unseal_model, DeployError, SealOptions, UnsealOptions};
use modelseal::digest::NoProgress;
use modelseal::keys::{self, KeyRef};
use modelseal::policy::{Policy as CorePolicy, PolicyVerifyOptions};
use modelseal::seal as sealing;
use pyo3::prelude::*;
use std::path::PathBuf;
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
#[pyo3(signature = (model, signatures, policy, model_name, ignore))]
pub fn verify_policy(
    py: Python<'_>,
    model: PathBuf,
    signatures: Vec<PathBuf>,
    policy: &Policy,
    model_name: Option<String>,
    ignore: Vec<PathBuf>,
) -> PyResult<(bool, String)> {
    let policy = policy.inner.clone();
    let options = PolicyVerifyOptions { model_name, ignore };
    let decision = py
        .allow_threads(|| policy.verify(&model, &signatures, &options, &NoProgress))
        .map_err(verify_error)?;
    Ok((decision.allowed, decision.to_json().to_string()))
}

/// Seals `model` (sign, encrypt with the signature inside, sign the result): the CLI's JSON.
#[pyfunction]
#[pyo3(name = "seal", signature = (model, out, key, recipients, model_name, signature, cert, cert_chain, allow_insecure_key_permissions))]
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
    allow_insecure_key_permissions: bool,
) -> PyResult<String> {
    let key: KeyRef = key.parse().map_err(key_error)?;
    py.allow_threads(|| {
        let options = crate::seal::key_file_options(allow_insecure_key_permissions);
        let signer = match &cert {
            Some(leaf) => keys::open_certificate_signer(&key, &options, leaf, &cert_chain),
            None => keys::open_signer(&key, &options),
        }
        .map_err(key_error)?;
        let wrappers = recipients
            .iter()
            .map(|r| sealing::open_recipient_with(r, &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(seal_error)?;
        let wrappers: Vec<&dyn sealing::KeyWrapper> = wrappers.iter().map(|w| w.as_ref()).collect();
        let options = SealOptions {
            model_name,
            outer_signature: signature,
            ..SealOptions::default()
        };
        let outcome =
            seal_model(&model, signer.as_ref(), &wrappers, &out, &options).map_err(deploy_error)?;
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

/// Unseals `enc` into `out` under `policy`: the CLI's JSON.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(name = "unseal", signature = (enc, out, policy, key, model_name, signature, allow_insecure_key_permissions))]
pub fn unseal_py(
    py: Python<'_>,
    enc: PathBuf,
    out: PathBuf,
    policy: &Policy,
    key: &str,
    model_name: Option<String>,
    signature: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
) -> PyResult<String> {
    let policy = policy.inner.clone();
    let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
    py.allow_threads(|| {
        let identity = sealing::open_identity_with(key, &key_options).map_err(seal_error)?;
        let options = UnsealOptions {
            model_name,
            signature,
        };
        let outcome =
            unseal_model(&enc, &policy, identity.as_ref(), &out, &options).map_err(deploy_error)?;
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

fn deploy_error(err: DeployError) -> PyErr {
    match err {
        DeployError::Denied { .. } => VerificationError::new_err(err.reasons().join("\n")),
        DeployError::Seal(e) => seal_error(e),
        DeployError::Sign(e) => sign_error(e),
        DeployError::Verify(e) => verify_error(e),
        other => Error::new_err(other.to_string()),
    }
}
