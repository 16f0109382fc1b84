//! The verification service behind `modelseal serve`: an HTTP endpoint for registry webhooks
//! (`docs/serve.md`). Built with the cargo feature `serve` (axum and tokio); the CLI enables it.
//!
//! This layer is transport only: it binds, limits (connections, header and body time, body size,
//! concurrency, time, signature bytes), reloads the policy on SIGHUP and shuts down gracefully on
//! SIGTERM/SIGINT. Each request is decided by [`Policy::verify_request`] (paths confined by
//! [`ConfinedRoot`]), answered with [`report`](crate::report)'s types and audited with the same
//! audit code as the CLI verbs. Modules: `routes` (HTTP handlers and statuses), `reload` (the
//! current policy and SIGHUP), `log` (the server's stderr lines), `conn` (the connection cap and
//! header timeout).

#[cfg(feature = "storage")]
mod bucket;
mod conn;
mod log;
mod reload;
mod root;
mod routes;

use crate::fs::confine::ConfineError;
use crate::policy::{Policy, PolicyError, PolicyOptions};
use crate::verify::BundleLimits;
use log::Log;
use reload::PolicyHandle;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the service serves and its limits: `modelseal serve`'s flags, one field each.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The trust policy (TOML, docs/policy.md); its `audit_log` records every request unless
    /// [`ServeOptions::audit_log`] is set.
    pub policy: PathBuf,
    /// What the operator allows when the policy is loaded: at start and at every reload.
    pub policy_options: PolicyOptions,
    /// The directory request paths are relative to, or (with the `storage` feature) a bucket
    /// prefix, `s3://BUCKET/PREFIX`, `gs://…` or `az://…`; nothing outside it is read.
    pub root: PathBuf,
    /// Address to listen on (port 0: any free port, logged once bound).
    pub listen: SocketAddr,
    /// Largest request body accepted (bytes); larger is 413.
    pub max_body_bytes: usize,
    /// Verifications running at once, each on its own blocking thread; `None`: the number of
    /// CPUs.
    pub max_concurrent: Option<usize>,
    /// Requests waiting for a verification slot; beyond that, 503.
    pub max_queue: usize,
    /// From a request's arrival to its answer: a body not read by then is 408, a verification
    /// not finished is 504 (it still completes and is audited).
    pub timeout: Duration,
    /// Time to receive a request's body once its headers arrived (408 after that).
    pub body_timeout: Duration,
    /// Time for a connection to send a request's headers (from opening, or from the previous
    /// answer); then it is closed.
    pub header_timeout: Duration,
    /// Open connections at most; one more is closed at once.
    pub max_connections: usize,
    /// Signature bytes read per file and per request.
    pub bundles: BundleLimits,
    /// Append one audit line per request to this file instead of the policy's `audit_log`.
    pub audit_log: Option<PathBuf>,
    /// Log lines on stderr as JSON objects instead of text.
    pub json_log: bool,
}

/// Why the service could not start, or stopped with an error. Requests never end the service:
/// their errors are answers.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The root directory does not exist or is not a directory (or the bucket root does not
    /// parse).
    #[error(transparent)]
    Root(#[from] ConfineError),
    /// The policy path cannot be made absolute (needed so reloads read the same file).
    #[error("{}: cannot resolve", path.display())]
    PolicyPath {
        /// The policy path as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy did not load at start.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The async runtime did not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The address cannot be bound.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A signal handler cannot be installed.
    #[error("cannot handle {signal}")]
    Signal {
        /// `SIGHUP`, `SIGTERM` or `SIGINT`.
        signal: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket failed (its address cannot be read).
    #[error(transparent)]
    Socket(std::io::Error),
    /// The server failed while serving.
    #[error("server failed")]
    Server(#[source] std::io::Error),
}

impl ServeError {
    /// The error for a signal handler that cannot be installed, for `map_err`.
    fn signal(signal: &'static str) -> impl FnOnce(std::io::Error) -> ServeError {
        move |source| ServeError::Signal { signal, source }
    }
}

/// The limits the routes enforce.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Largest body.
    max_body_bytes: usize,
    /// Verifications running at once.
    max_concurrent: usize,
    /// Requests waiting for a slot.
    max_queue: usize,
    /// Arrival to answer.
    timeout: Duration,
    /// Headers received to body received.
    body_timeout: Duration,
    /// Signature bytes read per file and per request.
    bundles: BundleLimits,
}

/// Serves POST /v1/verify and GET /healthz until SIGTERM or SIGINT, then finishes the requests
/// in flight and returns `Ok`. Logs `listening on http://ADDR` (with
/// [`ServeOptions::json_log`]: `{"event":"listening","address":"ADDR"}`) on stderr once bound;
/// SIGHUP reloads the policy (a policy that fails to load is logged and the old one kept).
/// `Err` when the root, the policy, the runtime, the address or a signal handler cannot be set
/// up, or the server fails.
pub fn run(options: ServeOptions) -> Result<(), ServeError> {
    let log = Log {
        json: options.json_log,
    };
    crate::fs::process::return_large_buffers_to_the_system();
    let root = root::Root::open(&options.root)?;
    // Absolute, so a reload reads the same file whatever happens to the working directory.
    let policy_path =
        std::path::absolute(&options.policy).map_err(|source| ServeError::PolicyPath {
            path: options.policy.clone(),
            source,
        })?;
    // The same options for the first load and every reload (SIGHUP).
    let policy = Policy::load_with(&policy_path, &options.policy_options)?;
    let limits = Limits {
        max_body_bytes: options.max_body_bytes,
        max_concurrent: options
            .max_concurrent
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        max_queue: options.max_queue,
        timeout: options.timeout,
        body_timeout: options.body_timeout,
        bundles: options.bundles,
    };
    let connections = Connections {
        max: options.max_connections,
        header_timeout: options.header_timeout,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .thread_name("modelseal-serve")
        .build()
        .map_err(ServeError::Runtime)?;
    let handle = PolicyHandle::new(policy_path, options.policy_options, policy);
    let app = routes::App::new(handle.clone(), root, limits, options.audit_log, log);
    runtime.block_on(serve(options.listen, connections, app, handle, log))?;
    // A verification past its timeout keeps running on a blocking thread; give it that long.
    runtime.shutdown_timeout(limits.timeout);
    Ok(())
}

/// The connection limits.
#[derive(Debug, Clone, Copy)]
struct Connections {
    max: usize,
    header_timeout: Duration,
}

async fn serve(
    listen: SocketAddr,
    connections: Connections,
    app: routes::App,
    handle: PolicyHandle,
    log: Log,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            address: listen,
            source,
        })?;
    let address = listener.local_addr().map_err(ServeError::Socket)?;
    // Installed before "listening" is printed, so a SIGHUP sent after that line is never lost.
    reload::on_sighup(handle, log)?;
    let shutdown = shutdown_signal()?;
    log.listening(address);
    if !address.ip().is_loopback() {
        log.info("warning", &format!("listening on {address}, beyond loopback: anyone who can reach this address can submit verifications (and read their results); bind 127.0.0.1 behind a proxy unless the network is trusted"));
    }
    let listener =
        conn::GuardedListener::new(listener, connections.max, connections.header_timeout);
    axum::serve(listener, routes::router(Arc::new(app)))
        .with_graceful_shutdown(async move {
            shutdown.await;
            log.info("shutdown", "signal received: finishing requests in flight");
        })
        .await
        .map_err(ServeError::Server)?;
    log.info("stopped", "all connections closed");
    Ok(())
}

/// A future that completes at the first SIGTERM or SIGINT (handlers installed now).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::signal("SIGTERM"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::signal("SIGINT"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
