//! Verify on load (`modelseal.open_model`): core's `OpenedModel`, whose files are read into Python
//! `bytes` that are filled in place, with the GIL released, and handed out only once verified.

use crate::errors::{deploy_error, key_error, trust_error, verify_error};
use modelseal::report::PyVerified;
use modelseal::{open_encrypted_model, open_model as core_open_model, OpenedModel, VerifyOptions};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// A model whose signature verified and whose file list matched; `read` verifies each file.
#[pyclass(module = "modelseal._modelseal", name = "OpenedModel", frozen)]
pub struct PyOpenedModel {
    inner: OpenedModel,
}

/// Verifies the signature and trust and lists the model; reads no file's bytes. With
/// `decryption_key` (a key reference) the model is an encrypted or sealed one, opened with it.
#[pyfunction]
#[pyo3(signature = (model, signature, trust, ignore, ignore_unsigned_files,
                    decryption_key=None, allow_insecure_key_permissions=false))]
#[allow(clippy::too_many_arguments)]
pub fn open_model(
    py: Python<'_>,
    model: PathBuf,
    signature: Option<PathBuf>,
    trust: crate::TrustArgs,
    ignore: Vec<PathBuf>,
    ignore_unsigned_files: bool,
    decryption_key: Option<String>,
    allow_insecure_key_permissions: bool,
) -> PyResult<PyOpenedModel> {
    let signature = signature.unwrap_or_else(|| modelseal::sign::default_signature_path(&model));
    let options = VerifyOptions {
        ignore,
        ignore_unsigned_files,
        ..VerifyOptions::default()
    };
    let inner = py.allow_threads(|| {
        let trust = trust.trust().map_err(trust_error)?;
        match &decryption_key {
            None => core_open_model(&model, &signature, &trust, &options).map_err(verify_error),
            Some(reference) => {
                let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
                let identity =
                    modelseal::keys::identity(reference, &key_options).map_err(key_error)?;
                open_encrypted_model(&model, &signature, &trust, &options, identity.as_ref())
                    .map_err(deploy_error)
            }
        }
    })?;
    Ok(PyOpenedModel { inner })
}

#[pymethods]
impl PyOpenedModel {
    /// The signed files' names, sorted.
    fn files(&self) -> Vec<String> {
        self.inner.file_names().map(str::to_owned).collect()
    }

    /// The signed root digest (lowercase hex).
    fn root_digest(&self) -> String {
        self.inner.root_digest_hex()
    }

    /// What was verified, as the dict `modelseal.verify` returns.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::to_py(py, &PyVerified::from(&self.inner))
    }

    /// Bytes `start..end` of the file `name`, verified (under shards: only the overlapping shards
    /// are read); raises `VerificationError` and returns nothing otherwise.
    fn read_range<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        start: u64,
        end: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .allow_threads(|| self.inner.read_range(name, start, end))
            .map_err(verify_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The size the signature gives `name` (shards only; `None` under files).
    fn signed_size(&self, name: &str) -> Option<u64> {
        self.inner.signed_size(name)
    }

    /// Whether the signature hashes shards (lazy reads verify only what they touch).
    fn sharded(&self) -> bool {
        matches!(
            self.inner.serialization().method,
            modelseal::digest::Method::Shards { .. }
        )
    }

    /// The whole file `name` as `bytes`, read once and verified in that read; raises
    /// `VerificationError` (and returns nothing) if it is not the signed file.
    fn read<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyBytes>> {
        let file = py
            .allow_threads(|| self.inner.open_file(name))
            .map_err(verify_error)?;
        let len = usize::try_from(file.size())
            .map_err(|_| crate::errors::Error::new_err(format!("{name}: too large for memory")))?;
        // The bytes object is filled in place before Python sees it: no copy of the file.
        PyBytes::new_with(py, len, |buffer| {
            py.allow_threads(|| file.read_into(buffer))
                .map_err(verify_error)
        })
    }
}
