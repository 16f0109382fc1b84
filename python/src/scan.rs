//! `modelseal.scan` and the `scan=` / `scan_allow=` arguments of `sign` and `seal`: translation
//! only; the content gate is `modelseal::scan`.

use crate::convert;
use crate::errors::Error;
use modelseal::report::ScanReport;
use modelseal::scan::{scan_model, AllowList, ScanError, ScanOptions};
use pyo3::prelude::*;
use std::path::{Path, PathBuf};

fn scan_error(err: ScanError) -> PyErr {
    Error::new_err(err.to_string())
}

/// The gate's allow-list when `scan` is on (or an allow-list is given), else `None`.
pub fn gate(scan: bool, allow: Option<&Path>) -> PyResult<Option<AllowList>> {
    match (scan, allow) {
        (_, Some(path)) => Ok(Some(AllowList::load(path).map_err(scan_error)?)),
        (true, None) => Ok(Some(AllowList::default())),
        (false, None) => Ok(None),
    }
}

/// Scans a model for credentials and lists its files' formats: `modelseal scan --json`'s dict.
#[pyfunction]
#[pyo3(signature = (model, allow=None, ignore=Vec::new(), allow_symlinks=false))]
pub fn scan(
    py: Python<'_>,
    model: PathBuf,
    allow: Option<PathBuf>,
    ignore: Vec<PathBuf>,
    allow_symlinks: bool,
) -> PyResult<Bound<'_, PyAny>> {
    let options = ScanOptions {
        ignore,
        allow_symlinks,
        allow: gate(true, allow.as_deref())?.unwrap_or_default(),
    };
    let result = py
        .allow_threads(|| scan_model(&model, &options))
        .map_err(scan_error)?;
    convert::to_py(py, &ScanReport::new(&result, allow.as_deref()))
}
