//! The policy the server decides with, and its reload on SIGHUP.
//!
//! Guarantees: a request takes an `Arc<Policy>` snapshot when it arrives and keeps it to the end,
//! so a reload never changes a decision in progress and never drops a request; a reload loads
//! the whole new policy first (off the async threads: it may fetch KMS/HSM public keys) and swaps
//! it in only if it loaded, so a policy that fails to parse is logged and the old one stays.
//! Reloads are serialized (one signal task), and each successful one bumps a generation number
//! that `/healthz` reports.

use super::log::Log;
use super::ServeError;
use crate::policy::{Policy, PolicyError, PolicyOptions};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The current policy, shared by every request.
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    path: Arc<PathBuf>,
    /// What the operator allowed at start (`--allow-pkcs11-module`, the permission override):
    /// every reload loads under the same options.
    options: Arc<PolicyOptions>,
    current: Arc<RwLock<Current>>,
}

#[derive(Debug)]
struct Current {
    policy: Arc<Policy>,
    generation: u64,
    /// Why the last reload failed, until one succeeds (`/healthz` is degraded meanwhile: the
    /// operator's new policy is not in force).
    reload_failure: Option<String>,
}

impl PolicyHandle {
    /// A handle on `policy`, loaded from `path` under `options` (generation 1).
    pub fn new(path: PathBuf, options: PolicyOptions, policy: Policy) -> PolicyHandle {
        PolicyHandle {
            path: Arc::new(path),
            options: Arc::new(options),
            current: Arc::new(RwLock::new(Current {
                policy: Arc::new(policy),
                generation: 1,
                reload_failure: None,
            })),
        }
    }

    /// The current policy and its generation (a cheap `Arc` clone).
    pub fn snapshot(&self) -> (Arc<Policy>, u64) {
        // A poisoned lock only means a writer panicked between two plain assignments; the value
        // is still a complete policy.
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        (current.policy.clone(), current.generation)
    }

    /// Why the last reload failed, if no reload succeeded since.
    pub fn reload_failure(&self) -> Option<String> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.reload_failure.clone()
    }

    /// Loads the policy file again; on success swaps it in and returns the new generation; on
    /// failure keeps the policy and remembers why (until a reload succeeds).
    fn reload(&self) -> Result<u64, PolicyError> {
        let loaded = Policy::load_with(&self.path, &self.options);
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(policy) => {
                current.policy = Arc::new(policy);
                current.generation += 1;
                current.reload_failure = None;
                Ok(current.generation)
            }
            Err(err) => {
                current.reload_failure = Some(err.to_string());
                Err(err)
            }
        }
    }
}

/// Spawns the task that reloads `handle` on every SIGHUP (the handler is installed now).
pub fn on_sighup(handle: PolicyHandle, log: Log) -> Result<(), ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::signal("SIGHUP"))?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let task = handle.clone();
            match tokio::task::spawn_blocking(move || task.reload()).await {
                Ok(Ok(generation)) => log.info(
                    "reloaded",
                    &format!("{} (generation {generation})", handle.path.display()),
                ),
                Ok(Err(err)) => log.error(
                    "reload failed, keeping the previous policy",
                    &err.to_string(),
                ),
                Err(err) => log.error(
                    "reload failed, keeping the previous policy",
                    &err.to_string(),
                ),
            }
        }
    });
    Ok(())
}
