//! `progress=`: a Python callable told `(bytes_done, total_bytes)` while core hashes, encrypts or
//! decrypts with the GIL released.
//!
//! Called at most five times a second from whichever worker thread finishes a piece of work (the
//! GIL is taken for the call only), and once at the end with the final counts. An exception in
//! the callable cannot stop the work half-way (core's progress sink has no way to fail); the first
//! one is kept and raised when the operation returns, so a broken callback is never silent.

use modelseal::progress::Progress;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two calls of the callable.
const EVERY: Duration = Duration::from_millis(200);

/// A core [`Progress`] sink calling a Python callable (or nothing, without one).
pub struct PyProgress {
    callback: Option<PyObject>,
    total: AtomicU64,
    done: AtomicU64,
    /// When the callable was last called; also keeps the calls one at a time.
    last: Mutex<Instant>,
    error: Mutex<Option<PyErr>>,
}

impl PyProgress {
    /// A sink for `callback` (`None`: progress is ignored).
    pub fn new(callback: Option<PyObject>) -> PyProgress {
        PyProgress {
            callback,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            last: Mutex::new(Instant::now()),
            error: Mutex::new(None),
        }
    }

    fn call(&self, callback: &PyObject) {
        let (done, total) = (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        Python::with_gil(|py| {
            if let Err(err) = callback.call1(py, (done, total)) {
                let mut kept = self.error.lock().unwrap_or_else(|p| p.into_inner());
                kept.get_or_insert(err);
            }
        });
    }

    /// Calls the callable a last time with the final counts (when the work got that far), then
    /// hands back `result`, or the callable's first exception if it raised one.
    pub fn finish<T>(self, result: PyResult<T>) -> PyResult<T> {
        if let Some(callback) = &self.callback {
            if self.total.load(Ordering::Relaxed) > 0 || self.done.load(Ordering::Relaxed) > 0 {
                self.call(callback);
            }
        }
        let error = self.error.into_inner().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(err) => Err(err),
            None => result,
        }
    }
}

impl Progress for PyProgress {
    fn begin(&self, total_bytes: u64) {
        // Operations of several stages (seal, unseal) begin each; core adds them up for us.
        self.total.store(total_bytes, Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        let Some(callback) = &self.callback else {
            return;
        };
        // Never wait for another thread's call: skip this one instead.
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        if last.elapsed() >= EVERY {
            *last = Instant::now();
            self.call(callback);
        }
    }
}
