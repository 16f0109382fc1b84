//! Results and audit events into Python: a `modelseal::report` type becomes the `dict` (or
//! list, str, int, bool, None) its JSON form describes, so Python receives typed objects built
//! from the same report types the CLI prints; and the operation's audit event is appended where
//! the caller asked (`audit_log=`, else the policy's), failing the call when it cannot be.

use crate::errors::Error;
use modelseal::audit::{self, AuditEvent};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use serde_json::Value;
use std::path::Path;

/// `report` as Python objects (a `dict` for every report type).
pub fn to_py<'py, T: serde::Serialize>(py: Python<'py>, report: &T) -> PyResult<Bound<'py, PyAny>> {
    value(py, &modelseal::report::json(report))
}

fn value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any(),
            (None, None) => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, value(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Appends `event` to `audit_log`, else to `policy_log`; an event that cannot be written fails
/// the call (fail closed, as the CLI).
pub fn record(
    audit_log: Option<&Path>,
    policy_log: Option<&Path>,
    event: &AuditEvent,
) -> PyResult<()> {
    audit::record(audit_log, policy_log, event).map_err(|e| Error::new_err(e.to_string()))
}
