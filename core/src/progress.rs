//! Progress reporting shared by hashing and encryption: the engines add bytes as they finish them,
//! the front ends draw a bar (CLI) or ignore it (Python, `serve`).

/// Receives progress while hashing or encrypting (bytes hashed so far are added); must be cheap and thread-safe.
pub trait Progress: Sync {
    /// Called once before hashing starts, with the number of bytes to process.
    fn begin(&self, _total_bytes: u64) {}
    /// Called after `bytes` more bytes were processed.
    fn advance(&self, bytes: u64);
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {
    fn advance(&self, _bytes: u64) {}
}
