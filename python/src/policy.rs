//! Python bindings of the trust policy and of seal/unseal: `_modelseal.Policy`, `verify_policy`,
//! `seal`, `unseal`. Results cross as dicts built from `modelseal::report`'s types, so Python
//! sees exactly the CLI's keys; the typed wrappers are in `modelseal/__init__.py`. Each appends
//! the audit event `modelseal::report` builds, where it decides (the `audit_log` argument, else
//! the policy's), exactly as the CLI does; an event that cannot be written fails the call.

use crate::convert;
use crate::errors::{deploy_error, verify_error, Error};
use crate::progress::PyProgress;
use modelseal::audit;
use modelseal::deploy::{
    seal_model_with_progress, unseal_model_recorded, DeployError, SealOptions, SealOutcome,
    UnsealOptions,
};
use modelseal::endorse::{endorse_sealed, EndorseOptions};
use modelseal::envelope as sealing;
use modelseal::keys::{self, KeyOptions};
use modelseal::policy::{Policy as CorePolicy, PolicyOptions, PolicyVerifyOptions};
use modelseal::progress::Progress;
use modelseal::report::{self, DecisionReport, EndorseReport, Failure, SealReport, UnsealReport};
use modelseal::sign::open_signer;
use modelseal::verify::VerifyError;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded trust policy (`docs/policy.md`).
#[pyclass(frozen, module = "modelseal._modelseal")]
pub struct Policy {
    pub(crate) inner: Arc<CorePolicy>,
}

#[pymethods]
impl Policy {
    /// Loads and checks the policy file at `path`; errors name the file, line and field. A
    /// signer's `module-path` must be one of `allow_pkcs11_modules`; a policy, Rego or key file
    /// others can write is refused unless `allow_insecure_key_permissions`.
    #[staticmethod]
    #[pyo3(signature = (path, allow_pkcs11_modules, allow_insecure_key_permissions))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        allow_pkcs11_modules: Vec<PathBuf>,
        allow_insecure_key_permissions: bool,
    ) -> PyResult<Policy> {
        let options = PolicyOptions {
            allow_insecure_permissions: allow_insecure_key_permissions,
            allow_pkcs11_modules,
        };
        let inner = py
            .allow_threads(|| CorePolicy::load_with(&path, &options))
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

/// Verifies `model` against `signatures` under `policy`: `(allowed, result dict)`.
#[pyfunction]
#[pyo3(signature = (model, signatures, policy, model_name, ignore, audit_log, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn verify_policy<'py>(
    py: Python<'py>,
    model: PathBuf,
    signatures: Vec<PathBuf>,
    policy: &Policy,
    model_name: Option<String>,
    ignore: Vec<PathBuf>,
    audit_log: Option<PathBuf>,
    progress: Option<PyObject>,
) -> PyResult<(bool, Bound<'py, PyAny>)> {
    let policy = policy.inner.clone();
    let options = PolicyVerifyOptions { model_name, ignore };
    let sink = PyProgress::new(progress);
    let decision = py.allow_threads(|| {
        let result = policy.verify(&model, &signatures, &options, &sink);
        let failure = |e: &VerifyError| Failure::Error(e.to_string());
        let event = report::policy_event(&model, policy.path(), result.as_ref().map_err(failure));
        convert::record(audit_log.as_deref(), policy.audit_log(), &event)?;
        result.map_err(verify_error)
    });
    let decision = sink.finish(decision)?;
    let allowed = decision.allowed();
    Ok((
        allowed,
        convert::to_py(py, &DecisionReport::from(&decision))?,
    ))
}

/// Seals `model` (sign, encrypt with the signature inside, sign the result): the CLI's dict
/// without `recipients`.
#[pyfunction]
#[pyo3(name = "seal", signature = (model, out, key, recipients, model_name, signature, cert, cert_chain, audit_log, allow_insecure_key_permissions, force=false, allow_symlinks=false, tsa_url=None, progress=None, scan=true, scan_allow=None))]
#[allow(clippy::too_many_arguments)]
pub fn seal_py<'py>(
    py: Python<'py>,
    model: PathBuf,
    out: PathBuf,
    key: Vec<String>,
    recipients: Vec<String>,
    model_name: Option<String>,
    signature: Option<PathBuf>,
    cert: Option<PathBuf>,
    cert_chain: Vec<PathBuf>,
    audit_log: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
    force: bool,
    allow_symlinks: bool,
    tsa_url: Option<String>,
    progress: Option<PyObject>,
    scan: bool,
    scan_allow: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let sink = PyProgress::new(progress);
    let gate = crate::scan::gate(scan, scan_allow.as_deref())?;
    let outcome = py.allow_threads(|| {
        let request = SealRequest {
            model: &model,
            out: &out,
            keys: &key,
            recipients: &recipients,
            cert: cert.as_deref(),
            cert_chain: &cert_chain,
            key_options: crate::seal::key_file_options(allow_insecure_key_permissions),
            options: SealOptions {
                model_name: model_name.clone(),
                outer_signature: signature,
                force,
                sign: modelseal::sign::SignOptions {
                    allow_symlinks,
                    scan: gate,
                    // Both signatures (the inner one and the envelope's) are timestamped.
                    tsa: tsa_url.map(modelseal::timestamp::TsaRequest::new),
                    ..Default::default()
                },
                ..SealOptions::default()
            },
        };
        let result = request.run(&sink);
        let ended = result.as_ref().map_err(Failure::deploy);
        let event = report::seal_event(&model, &key, model_name.as_deref(), ended);
        convert::record(audit_log.as_deref(), None, &event)?;
        result.map_err(deploy_error)
    });
    let outcome = sink.finish(outcome)?;
    let report = SealReport::new(&model, &out, &outcome).without_recipients();
    convert::to_py(py, &report)
}

/// What [`seal_py`] was asked to do, opened and run in one place so every failure reaches the
/// audit event as a [`DeployError`].
struct SealRequest<'a> {
    model: &'a Path,
    out: &'a Path,
    keys: &'a [String],
    recipients: &'a [String],
    cert: Option<&'a Path>,
    cert_chain: &'a [PathBuf],
    key_options: KeyOptions,
    options: SealOptions,
}

impl SealRequest<'_> {
    fn run(&self, progress: &dyn Progress) -> Result<SealOutcome, DeployError> {
        let options = &self.key_options;
        if self.cert.is_some() && self.keys.len() > 1 {
            return Err(DeployError::Usage(
                "cert= is the certificate of one signing key; give one key with it".into(),
            ));
        }
        let signers = self
            .keys
            .iter()
            .map(|key| open_signer(key, self.cert, self.cert_chain, options))
            .collect::<Result<Vec<_>, _>>()?;
        let signers: Vec<&dyn keys::Signer> = signers.iter().map(|s| s.as_ref()).collect();
        let wrappers = self
            .recipients
            .iter()
            .map(|r| keys::recipient(r, options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DeployError::from(sealing::SealError::from(e)))?;
        let wrappers: Vec<&dyn keys::Recipient> = wrappers.iter().map(|w| w.as_ref()).collect();
        seal_model_with_progress(
            self.model,
            &signers,
            &wrappers,
            self.out,
            &self.options,
            progress,
        )
    }
}

/// Unseals `enc` into `out` under `policy`: the CLI's dict.
#[pyfunction]
#[pyo3(name = "unseal", signature = (enc, out, policy, key, model_name, signature, audit_log, allow_insecure_key_permissions, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn unseal_py<'py>(
    py: Python<'py>,
    enc: PathBuf,
    out: PathBuf,
    policy: &Policy,
    key: &str,
    model_name: Option<String>,
    signature: Vec<PathBuf>,
    audit_log: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyAny>> {
    let sink = PyProgress::new(progress);
    let policy = policy.inner.clone();
    let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
    let outcome = py.allow_threads(|| {
        let options = UnsealOptions {
            model_name,
            signatures: signature,
        };
        // The success line is appended before `out` is published (as the CLI does).
        let mut record = |outcome: &_| {
            let event = report::unseal_event(&enc, key, policy.path(), Ok(outcome));
            audit::record(audit_log.as_deref(), policy.audit_log(), &event)
        };
        let result = keys::identity(key, &key_options)
            .map_err(|e| DeployError::from(sealing::SealError::from(e)))
            .and_then(|identity| {
                unseal_model_recorded(
                    &enc,
                    &policy,
                    identity.as_ref(),
                    &out,
                    &options,
                    &mut record,
                    &sink,
                )
            });
        if let Err(err) = &result {
            if !matches!(err, DeployError::Audit(_)) {
                let event =
                    report::unseal_event(&enc, key, policy.path(), Err(Failure::deploy(err)));
                convert::record(audit_log.as_deref(), policy.audit_log(), &event)?;
            }
        }
        result.map_err(deploy_error)
    });
    let outcome = sink.finish(outcome)?;
    convert::to_py(py, &UnsealReport::new(&out, &outcome))
}

/// Adds `key`'s co-signature to the sealed model `enc` without decrypting it: the CLI's
/// `endorse --json` dict. Appends the `endorse` audit event to `audit_log`.
#[pyfunction]
#[pyo3(name = "endorse", signature = (enc, key, signature=None, cert=None, cert_chain=Vec::new(), allow_insecure_key_permissions=false, tsa_url=None, audit_log=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn endorse_py<'py>(
    py: Python<'py>,
    enc: PathBuf,
    key: &str,
    signature: Option<PathBuf>,
    cert: Option<PathBuf>,
    cert_chain: Vec<PathBuf>,
    allow_insecure_key_permissions: bool,
    tsa_url: Option<String>,
    audit_log: Option<PathBuf>,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyAny>> {
    let sink = PyProgress::new(progress);
    let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
    let outcome = py.allow_threads(|| {
        let options = EndorseOptions {
            signature,
            tsa: tsa_url.map(modelseal::timestamp::TsaRequest::new),
        };
        let result = open_signer(key, cert.as_deref(), &cert_chain, &key_options)
            .map_err(DeployError::from)
            .and_then(|signer| endorse_sealed(&enc, signer.as_ref(), &options, &sink));
        let event = report::endorse_event(&enc, key, result.as_ref().map_err(Failure::deploy));
        convert::record(audit_log.as_deref(), None, &event)?;
        result.map_err(deploy_error)
    });
    let outcome = sink.finish(outcome)?;
    convert::to_py(py, &EndorseReport::new(&enc, &outcome))
}
