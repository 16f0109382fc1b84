//! Progress reporting shared by hashing and encryption: the engines add bytes as they finish them;
//! the front ends draw a bar or print lines (CLI) or call back (Python) through [`Throttled`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Receives progress while hashing or encrypting (bytes hashed so far are added); must be cheap and thread-safe.
pub trait Progress: Sync {
    /// Called before the work starts, with the number of bytes to process (an operation of several
    /// passes — seal, unseal — calls it once per pass, with the running total).
    fn begin(&self, _total_bytes: u64) {}
    /// Called after `bytes` more bytes were processed.
    fn advance(&self, bytes: u64);
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {
    fn advance(&self, _bytes: u64) {}
}

/// Where the work stands, as [`Throttled`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Bytes processed so far.
    pub bytes: u64,
    /// Bytes to process, as the last [`Progress::begin`] said (0 before it).
    pub total_bytes: u64,
    /// Time since the sink was made.
    pub elapsed: Duration,
    /// Whether this is the last report ([`Throttled::finish`]).
    pub done: bool,
}

/// A [`Progress`] that counts bytes and hands a [`Snapshot`] to `report` at most once per interval
/// — from whichever worker thread finds it due, never making another one wait — and once more at
/// [`Throttled::finish`]. Reports never overlap.
pub struct Throttled<F: Fn(Snapshot) + Sync> {
    report: F,
    every: Duration,
    /// The first report waits a whole interval; `finish` reports only if one was made (`quiet_start`).
    quiet_start: bool,
    start: Instant,
    total: AtomicU64,
    bytes: AtomicU64,
    reported: AtomicBool,
    /// When the last report was made; held while reporting.
    last: Mutex<Instant>,
}

impl<F: Fn(Snapshot) + Sync> Throttled<F> {
    /// Reports through `report` at most once per `every`. With `quiet_start`, a run shorter than
    /// `every` reports nothing at all (a log stays silent for quick runs); without it, `finish`
    /// always reports.
    pub fn new(every: Duration, quiet_start: bool, report: F) -> Throttled<F> {
        let start = Instant::now();
        Throttled {
            report,
            every,
            quiet_start,
            start,
            total: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            reported: AtomicBool::new(false),
            last: Mutex::new(start),
        }
    }

    fn snapshot(&self, done: bool) -> Snapshot {
        Snapshot {
            bytes: self.bytes.load(Ordering::Relaxed),
            total_bytes: self.total.load(Ordering::Relaxed),
            elapsed: self.start.elapsed(),
            done,
        }
    }

    /// The last report, with the final counts (skipped with `quiet_start` when nothing was reported).
    pub fn finish(&self) {
        if self.quiet_start && !self.reported.load(Ordering::Relaxed) {
            return;
        }
        let _one_at_a_time = self.last.lock().unwrap_or_else(|p| p.into_inner());
        (self.report)(self.snapshot(true));
    }
}

impl<F: Fn(Snapshot) + Sync> Progress for Throttled<F> {
    fn begin(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        // Never wait for another thread's report: skip this one instead.
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        if last.elapsed() >= self.every {
            *last = Instant::now();
            self.reported.store(true, Ordering::Relaxed);
            (self.report)(self.snapshot(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_reports_at_most_once_per_interval_and_finishes_with_the_totals() {
        let seen = Mutex::new(Vec::new());
        let sink = Throttled::new(Duration::from_millis(30), false, |s| {
            seen.lock().unwrap().push(s)
        });
        sink.begin(1000);
        for _ in 0..10 {
            sink.advance(100);
        }
        std::thread::sleep(Duration::from_millis(35));
        sink.advance(0);
        sink.finish();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(!seen[0].done && seen[1].done);
        assert_eq!((seen[1].bytes, seen[1].total_bytes), (1000, 1000));
        // quiet_start: a quick run reports nothing, not even at the end.
        let count = AtomicU64::new(0);
        let quiet = Throttled::new(Duration::from_secs(60), true, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        quiet.begin(10);
        quiet.advance(10);
        quiet.finish();
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }
}
