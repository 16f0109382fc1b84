//! Process-wide counts of the token calls that cost money or latency on a real HSM.
//!
//! They exist so that tests and benchmarks can show the design's promise: one signature per signed
//! model, one wrap per HSM recipient, one unwrap per decryption, and one `C_Login` even
//! after a wrong PIN. Counting is a relaxed atomic add: free next to any token call.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `C_Login` attempts.
    pub logins: u64,
    /// `C_Sign` calls (one per signature).
    pub signs: u64,
    /// Data-key wraps inside the token (`C_WrapKey` or `C_Encrypt` of a DEK).
    pub wraps: u64,
    /// Data-key unwraps inside the token (`C_UnwrapKey` or `C_Decrypt` of a stanza).
    pub unwraps: u64,
    /// `C_Decrypt` calls that probe which RSA-OAEP hash a token supports (once per key and process).
    pub probes: u64,
}

impl CallCounts {
    /// The calls made between `earlier` and `self`.
    pub fn since(&self, earlier: &CallCounts) -> CallCounts {
        CallCounts {
            logins: self.logins - earlier.logins,
            signs: self.signs - earlier.signs,
            wraps: self.wraps - earlier.wraps,
            unwraps: self.unwraps - earlier.unwraps,
            probes: self.probes - earlier.probes,
        }
    }
}

/// Which call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    Login,
    Sign,
    Wrap,
    Unwrap,
    Probe,
}

static COUNTERS: [AtomicU64; 5] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Counts one call (made just after this).
pub(crate) fn count(call: Call) {
    COUNTERS[call as usize].fetch_add(1, Ordering::Relaxed);
}

/// The calls this process has made so far.
pub fn call_counts() -> CallCounts {
    let get = |c: Call| COUNTERS[c as usize].load(Ordering::Relaxed);
    CallCounts {
        logins: get(Call::Login),
        signs: get(Call::Sign),
        wraps: get(Call::Wrap),
        unwraps: get(Call::Unwrap),
        probes: get(Call::Probe),
    }
}
