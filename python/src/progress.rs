//! `progress=`: a Python callable told `(bytes_done, total_bytes)` while core hashes, encrypts or
//! decrypts with the GIL released.
//!
//! Called at most five times a second from whichever worker thread finishes a piece of work (the
//! GIL is taken for the call only; core's [`Throttled`] decides when), and once at the end with
//! the final counts. An exception in the callable cannot stop the work half-way (core's progress
//! sink has no way to fail); the first one is kept and raised when the operation returns, so a
//! broken callback is never silent.

use modelseal::progress::{NoProgress, Progress, Snapshot, Throttled};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Call = Box<dyn Fn(Snapshot) + Sync + Send>;

/// A core [`Progress`] sink calling a Python callable (or nothing, without one).
pub struct PyProgress {
    sink: Option<Throttled<Call>>,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl PyProgress {
    /// A sink for `callback` (`None`: progress is ignored).
    pub fn new(callback: Option<PyObject>) -> PyProgress {
        let error: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let kept = Arc::clone(&error);
        let sink = callback.map(|callback| {
            let call: Call = Box::new(move |s: Snapshot| {
                Python::with_gil(|py| {
                    if let Err(err) = callback.call1(py, (s.bytes, s.total_bytes)) {
                        kept.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(err);
                    }
                })
            });
            Throttled::new(Duration::from_millis(200), false, call)
        });
        PyProgress { sink, error }
    }

    fn sink(&self) -> &dyn Progress {
        match &self.sink {
            Some(sink) => sink,
            None => &NoProgress,
        }
    }

    /// Calls the callable a last time with the final counts, then hands back `result`, or the
    /// callable's first exception if it raised one.
    pub fn finish<T>(self, result: PyResult<T>) -> PyResult<T> {
        if let Some(sink) = &self.sink {
            sink.finish();
        }
        let error = self.error.lock().unwrap_or_else(|p| p.into_inner()).take();
        match error {
            Some(err) => Err(err),
            None => result,
        }
    }
}

impl Progress for PyProgress {
    fn begin(&self, total_bytes: u64) {
        self.sink().begin(total_bytes);
    }

    fn advance(&self, bytes: u64) {
        self.sink().advance(bytes);
    }
}
