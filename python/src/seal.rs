//! Python bindings of envelope encryption: `encrypt`, `decrypt`, `rewrap`, and the seekable
//! authenticated reader behind `modelseal.open`. Translation only; the GIL is released for the
//! work, and errors map through [`crate::errors::seal_error`].

use crate::convert;
use crate::errors::{reader_error, seal_error};
use crate::progress::PyProgress;
use modelseal::envelope::ChunkReader;
use modelseal::envelope::{self, DecryptOptions, EncryptOptions, SealError};
use modelseal::keys::KeyOptions;
use modelseal::keys::{self as keyseam, Recipient};
use modelseal::report::{self, Failure, PyDecrypted, PyEncrypted, PyInspectedEncrypted};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Key options with only the permission override (`allow_insecure_key_permissions=`) set.
pub(crate) fn key_file_options(allow_insecure: bool) -> KeyOptions {
    KeyOptions {
        allow_insecure_permissions: allow_insecure,
        ..KeyOptions::default()
    }
}

/// Encrypts a model; returns a dict describing the result (`EncryptResult`'s fields). Appends
/// the `encrypt` audit event to `audit_log`.
#[pyfunction]
#[pyo3(signature = (model, out, recipients, chunk_size, force, allow_insecure_key_permissions,
                    audit_log=None, allow_symlinks=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn encrypt<'py>(
    py: Python<'py>,
    model: PathBuf,
    out: PathBuf,
    recipients: Vec<String>,
    chunk_size: Option<u32>,
    force: bool,
    allow_insecure_key_permissions: bool,
    audit_log: Option<PathBuf>,
    allow_symlinks: bool,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyAny>> {
    let key_options = key_file_options(allow_insecure_key_permissions);
    let sink = PyProgress::new(progress);
    let summary = py.allow_threads(|| {
        let result = (|| {
            let keys = recipients
                .iter()
                .map(|r| keyseam::recipient(r, &key_options))
                .collect::<Result<Vec<_>, _>>()?;
            let keys: Vec<&dyn Recipient> = keys.iter().map(|k| k.as_ref()).collect();
            let input = envelope::plaintext_following_symlinks(&model, allow_symlinks)?;
            let options = EncryptOptions {
                chunk_size: chunk_size.unwrap_or(EncryptOptions::default().chunk_size),
                overwrite: force,
                ..EncryptOptions::default()
            };
            envelope::encrypt_with_progress(&input, &keys, &out, &options, &sink)
        })();
        let failure = |e: &SealError| Failure::error(e);
        let event = report::encrypt_event(&model, &recipients, result.as_ref().map_err(failure));
        convert::record(audit_log.as_deref(), None, &event)?;
        result.map_err(seal_error)
    });
    let summary = sink.finish(summary)?;
    convert::to_py(py, &PyEncrypted::new(&out, &summary))
}

/// Decrypts a model; returns a dict describing the result (`DecryptResult`'s fields). Appends
/// the `decrypt` audit event to `audit_log`.
#[pyfunction]
#[pyo3(signature = (encrypted, out, key, force, allow_insecure_key_permissions, audit_log=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn decrypt<'py>(
    py: Python<'py>,
    encrypted: PathBuf,
    out: PathBuf,
    key: String,
    force: bool,
    allow_insecure_key_permissions: bool,
    audit_log: Option<PathBuf>,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyAny>> {
    let key_options = key_file_options(allow_insecure_key_permissions);
    let sink = PyProgress::new(progress);
    let summary = py.allow_threads(|| {
        // Opening the key is an input error recorded with its causes, as the CLI records it;
        // decryption's own errors are classified (a wrong key or tampering is `failed`).
        let result = keyseam::identity(&key, &key_options).map(|identity| {
            let options = DecryptOptions {
                overwrite: force,
                ..DecryptOptions::default()
            };
            envelope::decrypt_with_progress(&encrypted, identity.as_ref(), &out, &options, &sink)
        });
        let ended = match &result {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(err)) => Err(Failure::envelope(err)),
            Err(err) => Err(Failure::error(err)),
        };
        let event = report::decrypt_event(&encrypted, &key, ended);
        convert::record(audit_log.as_deref(), None, &event)?;
        result
            .map_err(SealError::from)
            .and_then(|r| r)
            .map_err(seal_error)
    });
    let summary = sink.finish(summary)?;
    convert::to_py(py, &PyDecrypted::new(&out, &summary))
}

/// Rewraps an encrypted model; returns the recipients afterwards as `(type, key_id)` pairs.
/// Appends the `rewrap` audit event to `audit_log`.
#[pyfunction]
#[pyo3(signature = (encrypted, key, add, remove, allow_insecure_key_permissions, audit_log=None))]
pub fn rewrap(
    py: Python<'_>,
    encrypted: PathBuf,
    key: String,
    add: Vec<String>,
    remove: Vec<String>,
    allow_insecure_key_permissions: bool,
    audit_log: Option<PathBuf>,
) -> PyResult<Vec<(String, String)>> {
    if add.is_empty() && remove.is_empty() {
        return Err(PyValueError::new_err(
            "nothing to do: give add= and/or remove=",
        ));
    }
    let key_options = key_file_options(allow_insecure_key_permissions);
    py.allow_threads(|| {
        let result = (|| {
            let identity = keyseam::identity(&key, &key_options)?;
            let keys = add
                .iter()
                .map(|r| keyseam::recipient(r, &key_options))
                .collect::<Result<Vec<_>, _>>()?;
            let keys: Vec<&dyn Recipient> = keys.iter().map(|k| k.as_ref()).collect();
            let remove = remove
                .iter()
                .map(|r| keyseam::removal_key_id(r, &key_options))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(envelope::rewrap_key_ids(
                &encrypted,
                identity.as_ref(),
                &keys,
                &remove,
            ))
        })();
        let ended = match &result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(Failure::envelope(err)),
            Err(err) => Err(Failure::error(err)),
        };
        let event = report::rewrap_event(&encrypted, &key, &add, &remove, ended);
        convert::record(audit_log.as_deref(), None, &event)?;
        result
            .and_then(|r: Result<_, SealError>| r)
            .map_err(seal_error)
    })
}

/// Describes an encrypted model without a key (unauthenticated); `None` when `path` does not look
/// like one.
#[pyfunction]
pub fn inspect_encrypted<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if !envelope::is_encrypted(&path) {
        return Ok(None);
    }
    let s = py
        .allow_threads(|| envelope::inspect_encrypted(&path))
        .map_err(seal_error)?;
    convert::to_py(py, &PyInspectedEncrypted::from(&s)).map(Some)
}

/// A read-only, seekable view of one encrypted file that returns only authenticated bytes.
#[pyclass(module = "modelseal._modelseal")]
pub struct SealedReader {
    inner: Option<ChunkReader<File>>,
}

impl SealedReader {
    fn reader(&mut self) -> PyResult<&mut ChunkReader<File>> {
        self.inner
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("I/O operation on closed file"))
    }
}

#[pymethods]
impl SealedReader {
    /// Opens `path` (a single-file model, or a file inside an encrypted directory) with `key`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf, key: String) -> PyResult<SealedReader> {
        let reader = py
            .allow_threads(|| {
                let identity = keyseam::identity(&key, &KeyOptions::default())?;
                envelope::open_path(&path, identity.as_ref())
            })
            .map_err(seal_error)?;
        Ok(SealedReader {
            inner: Some(reader),
        })
    }

    /// Reads up to `size` bytes (all remaining bytes when `size` is negative).
    #[pyo3(signature = (size = -1))]
    fn read<'py>(&mut self, py: Python<'py>, size: i64) -> PyResult<Bound<'py, PyBytes>> {
        let reader = self.reader()?;
        let data = py
            .allow_threads(|| -> std::io::Result<Vec<u8>> {
                let mut buf = Vec::new();
                if size < 0 {
                    reader.read_to_end(&mut buf)?;
                } else {
                    let want = usize::try_from(size).unwrap_or(usize::MAX);
                    buf.resize(want, 0);
                    let mut got = 0;
                    while got < want {
                        let n = reader.read(&mut buf[got..])?;
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                    buf.truncate(got);
                }
                Ok(buf)
            })
            .map_err(reader_error)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Reads at most `size` bytes with one read of the core reader: never past the end of the
    /// current chunk, so a buffered reader above it never reads (and authenticates) ahead further
    /// than it was asked.
    fn read1<'py>(&mut self, py: Python<'py>, size: usize) -> PyResult<Bound<'py, PyBytes>> {
        let reader = self.reader()?;
        let data = py
            .allow_threads(|| -> std::io::Result<Vec<u8>> {
                let mut buf = vec![0u8; size];
                let n = reader.read(&mut buf)?;
                buf.truncate(n);
                Ok(buf)
            })
            .map_err(reader_error)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Moves to `offset` relative to the start (0), the current position (1) or the end (2).
    #[pyo3(signature = (offset, whence = 0))]
    fn seek(&mut self, offset: i64, whence: i32) -> PyResult<u64> {
        let to =
            match whence {
                0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| {
                    PyValueError::new_err(format!("negative seek position {offset}"))
                })?),
                1 => SeekFrom::Current(offset),
                2 => SeekFrom::End(offset),
                _ => return Err(PyValueError::new_err(format!("invalid whence ({whence})"))),
            };
        self.reader()?
            .seek(to)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The current position.
    fn tell(&mut self) -> PyResult<u64> {
        self.reader()?
            .stream_position()
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The plaintext size.
    fn size(&mut self) -> PyResult<u64> {
        Ok(self.reader()?.len())
    }

    /// Closes the file (idempotent).
    fn close(&mut self) {
        self.inner = None;
    }

    /// Whether the file is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    fn readable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        false
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&mut self, _exc_info: &Bound<'_, PyTuple>) -> bool {
        self.close();
        false
    }
}
