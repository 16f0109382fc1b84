//! Verify on load (`modelseal.open_model`): core's `OpenedModel`, whose files are read into Python
//! `bytes` that are filled in place, with the GIL released, and handed out only once verified.

use crate::errors::{deploy_error, key_error, trust_error, verify_error};
use modelseal::load::Destination;
use modelseal::report::{DecisionReport, PyVerified};
use modelseal::{
    open_encrypted_model, open_encrypted_model_with_policy, open_model as core_open_model,
    open_model_with_policy, DeployError, OpenedModel, VerifyOptions,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::marker::PhantomData;
use std::path::PathBuf;

/// A model whose signature verified and whose file list matched; `read` verifies each file.
#[pyclass(module = "modelseal._modelseal", name = "OpenedModel", frozen)]
pub struct PyOpenedModel {
    inner: OpenedModel,
}

/// Verifies the signature and trust and lists the model; reads no file's bytes. With
/// `decryption_key` (a key reference) the model is an encrypted or sealed one, opened with it.
/// With `policy` the policy is the trust (the trust argument is not used) and decides for
/// `model_name`; a denial raises `VerificationError` naming the rule and every reason, with the
/// decision as its `result` attribute.
#[pyfunction]
#[pyo3(signature = (model, signature, trust, ignore, ignore_unsigned_files,
                    decryption_key=None, allow_insecure_key_permissions=false,
                    policy=None, model_name=None))]
#[allow(clippy::too_many_arguments)]
pub fn open_model(
    py: Python<'_>,
    model: PathBuf,
    signature: Vec<PathBuf>,
    trust: crate::TrustArgs,
    ignore: Vec<PathBuf>,
    ignore_unsigned_files: bool,
    decryption_key: Option<String>,
    allow_insecure_key_permissions: bool,
    policy: Option<PyRef<'_, crate::policy::Policy>>,
    model_name: Option<String>,
) -> PyResult<PyOpenedModel> {
    // An encrypted model's signatures are judged together (empty: the defaults beside it); a
    // plaintext model has one signature file.
    let signatures = signature;
    let signature = match (&decryption_key, signatures.as_slice()) {
        (_, []) => modelseal::sign::default_signature_path(&model),
        (_, [one]) => one.clone(),
        (Some(_), [first, ..]) => first.clone(),
        (None, _) => {
            return Err(crate::errors::Error::new_err(
                "several signature files are judged together only for an encrypted model \
                 (decryption_key=); give one",
            ))
        }
    };
    let options = VerifyOptions {
        ignore,
        ignore_unsigned_files,
        ..VerifyOptions::default()
    };
    if let Some(policy) = policy {
        let policy = std::sync::Arc::clone(&policy.inner);
        let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
        let identity = match &decryption_key {
            Some(reference) => Some(
                py.allow_threads(|| modelseal::keys::identity(reference, &key_options))
                    .map_err(key_error)?,
            ),
            None => None,
        };
        let opened = py.allow_threads(|| match &identity {
            None => open_model_with_policy(&model, &signature, &policy, model_name, &options),
            Some(identity) => open_encrypted_model_with_policy(
                &model,
                &signatures,
                &policy,
                model_name,
                &options,
                identity.as_ref(),
            ),
        });
        return match opened {
            Ok(inner) => Ok(PyOpenedModel { inner }),
            Err(DeployError::Denied { stage, decision }) => Err(denied(py, stage, &decision)),
            Err(e) => Err(deploy_error(e)),
        };
    }
    let inner = py.allow_threads(|| {
        let trust = trust.trust().map_err(trust_error)?;
        match &decryption_key {
            None => core_open_model(&model, &signature, &trust, &options).map_err(verify_error),
            Some(reference) => {
                let key_options = crate::seal::key_file_options(allow_insecure_key_permissions);
                let identity =
                    modelseal::keys::identity(reference, &key_options).map_err(key_error)?;
                open_encrypted_model(&model, &signatures, &trust, &options, identity.as_ref())
                    .map_err(deploy_error)
            }
        }
    })?;
    Ok(PyOpenedModel { inner })
}

/// `VerificationError` for a policy's denial: the policy, the stage, the rule and every reason,
/// with the decision (as `modelseal.verify(policy=)` returns it) as its `result` attribute.
fn denied(py: Python<'_>, stage: &str, decision: &modelseal::PolicyDecision) -> PyErr {
    let rule = match decision.rule() {
        Some(rule) => format!("rule {}", rule.label()),
        None => "no rule".to_string(),
    };
    let err = crate::errors::VerificationError::new_err(format!(
        "{stage} {:?} denied by the policy {} ({rule}): {}",
        decision.model_name(),
        decision.policy().display(),
        decision.reasons().join("; ")
    ));
    let result = crate::convert::to_py(py, &DecisionReport::from(decision))
        .and_then(|result| err.value(py).setattr("result", result));
    match result {
        Ok(()) => err,
        Err(e) => e,
    }
}

#[pymethods]
impl PyOpenedModel {
    /// The policy's decisions that allowed the model (a sealed model's: the outer signature's,
    /// then the inner one's), as `modelseal.verify(policy=)` returns them; empty under a trust.
    fn policy_decisions<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.inner
            .policy_decisions()
            .iter()
            .map(|d| crate::convert::to_py(py, &DecisionReport::from(d)))
            .collect()
    }

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
        if start > end {
            return Err(crate::errors::Error::new_err(format!(
                "{name}: bytes {start}..{end}: a reversed range"
            )));
        }
        let len = usize::try_from(end - start)
            .map_err(|_| crate::errors::Error::new_err(format!("{name}: too large for memory")))?;
        // Filled in place before Python sees it: no copy of the verified bytes.
        PyBytes::new_with(py, len, |buffer| {
            py.allow_threads(|| self.inner.read_range_into(name, start, buffer))
                .map_err(verify_error)
        })
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
        // The bytes object is filled in place before Python sees it: no copy of the file, and
        // its pages are first touched by the reading thread while the others hash.
        bytes_read_by(py, len, |fresh| file.read_into_destination(fresh))
    }
}

/// A new `bytes` object of `len` bytes that `read` fills (GIL released) before Python sees it;
/// `VerificationError` (and the object dropped unseen) if the read fails.
///
/// Why not `PyBytes::new_with`: it zeroes the whole buffer first, on this thread, before the
/// read starts; for a large file that first touch of every page is the longest serial step of
/// a load. Here each part is zeroed by the reader when it reaches it ([`FreshBytes`]).
fn bytes_read_by<'py>(
    py: Python<'py>,
    len: usize,
    read: impl for<'b> FnOnce(FreshBytes<'b>) -> Result<(), modelseal::VerifyError> + Send,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| crate::errors::Error::new_err("too large for memory"))?;
    // SAFETY: with a null source CPython allocates a bytes object of `size` bytes whose content
    // is left to the caller; a null result (MemoryError) becomes the raised error.
    let bytes = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))?
            .downcast_into_unchecked::<PyBytes>()
    };
    // SAFETY: the object is a bytes object; its buffer holds `len` bytes and lives as long as
    // `bytes`, which outlives the read below.
    let start = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) }.cast::<u8>();
    if start.is_null() {
        return Err(PyErr::fetch(py));
    }
    let fresh = FreshBytes {
        start,
        len,
        _memory: PhantomData,
    };
    py.allow_threads(|| read(fresh)).map_err(verify_error)?;
    Ok(bytes)
}

/// The not-yet-initialized memory of a `bytes` object no one else can see yet (made by
/// [`bytes_read_by`]), as a read's [`Destination`]: each part is zeroed when handed out, so a
/// slice never covers uninitialized memory, and parts handed out never overlap.
struct FreshBytes<'b> {
    start: *mut u8,
    len: usize,
    _memory: PhantomData<&'b mut [u8]>,
}

// SAFETY: a `FreshBytes` is the only handle to its memory (as a `&mut [u8]` would be), and the
// bytes object it lies in is not shown to Python until the read ends, so it may move to the
// thread that reads.
unsafe impl Send for FreshBytes<'_> {}

impl<'b> Destination<'b> for FreshBytes<'b> {
    fn len(&self) -> usize {
        self.len
    }

    fn take_front(&mut self, n: usize) -> &'b mut [u8] {
        let n = n.min(self.len);
        // SAFETY: `start..start + len` is memory of the bytes object that only this handle
        // covers; its first `n` bytes are initialized (zeroed) before a slice is made over
        // them, and the handle then covers only the bytes after them.
        unsafe {
            std::ptr::write_bytes(self.start, 0, n);
            let front = std::slice::from_raw_parts_mut(self.start, n);
            self.start = self.start.add(n);
            self.len -= n;
            front
        }
    }

    fn split_at(self, at: usize) -> (Self, Self) {
        let at = at.min(self.len);
        // SAFETY: `at` is within the memory this handle covers; the two handles cover its two
        // disjoint halves.
        let back = unsafe { self.start.add(at) };
        (
            FreshBytes {
                start: self.start,
                len: at,
                _memory: PhantomData,
            },
            FreshBytes {
                start: back,
                len: self.len - at,
                _memory: PhantomData,
            },
        )
    }
}
