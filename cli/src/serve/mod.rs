//! `modelseal serve`: an HTTP verification endpoint for registry webhooks (`docs/serve.md`).
//!
//! This layer is transport only: it binds, limits (connections, header and body time, body size,
//! concurrency, time, signature bytes), reloads the policy on SIGHUP and shuts down gracefully on
//! SIGTERM/SIGINT. Each request is decided by core (`Policy::verify_request`, paths confined by
//! `modelseal::hook::ConfinedRoot`) and audited with the same
//! core audit code as the CLI verbs. Modules: `routes` (HTTP handlers and statuses), `reload`
//! (the current policy and SIGHUP), `log` (the server's stderr lines), `conn` (the connection
//! cap and header timeout).

mod conn;
mod log;
mod reload;
mod routes;

use anyhow::Context;
use log::Log;
use modelseal::hook::ConfinedRoot;
use modelseal::policy::Policy;
use modelseal::verify::BundleLimits;
use reload::PolicyHandle;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Serve POST /v1/verify (a model and its signatures under --root, decided by --policy) and
/// GET /healthz over HTTP/1.1, for registry webhooks.
///
/// Answers: 200 allowed, 403 denied (both with the JSON of `verify --policy --json`), 400
/// malformed request or a path outside --root, 404 a path that does not exist, 408 body not
/// received within --body-timeout-seconds, 413 body larger than --max-body-bytes, 422 files that
/// cannot be verified (a generic reason; details in the server log), 500 audit log not writable,
/// 503 saturated (--max-concurrent running and --max-queue waiting), 504 not decided within
/// --timeout-seconds. GET /healthz is 503 "degraded" while every verification slot is stuck
/// past its deadline.
///
/// Prints `listening on http://ADDR` (with --json: {"event":"listening","address":"ADDR"}) on
/// stderr once bound, so `--listen 127.0.0.1:0` can be used. SIGHUP reloads the policy (requests
/// already received keep the policy they started with; a policy that fails to load is logged and
/// the old one kept). SIGTERM/SIGINT stop accepting and finish requests in flight.
///
/// No authentication and no TLS: bind to loopback, or put it behind a TLS proxy that
/// authenticates callers (docs/serve.md).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Trust policy (TOML, docs/policy.md); its audit_log records every request.
    #[arg(long, value_name = "POLICY.toml")]
    policy: PathBuf,
    /// The directory request paths are relative to; nothing outside it is read.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Address to listen on (port 0: any free port, printed once bound).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest request body accepted (bytes); larger is 413.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    max_body_bytes: usize,
    /// Verifications running at once (each is CPU-bound, on its own blocking thread)
    /// [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_concurrent: Option<u32>,
    /// Requests waiting for a verification slot; beyond that, 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_queue: u32,
    /// Time from a request's arrival to its answer; body not read by then is 408, a
    /// verification not finished is 504 (it still completes and is audited).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout_seconds: u64,
    /// Largest signature file read (bytes, 1 MiB to 16 MiB); a larger one is refused unread.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20,
          value_parser = clap::value_parser!(u64).range((1 << 20)..=(16 << 20)))]
    max_bundle_bytes: u64,
    /// Most bytes of signature files one request may make the server read, all together.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_request_bytes: u64,
    /// Time for a connection to send a request's headers (from opening, or from the previous
    /// answer); then it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_seconds: u64,
    /// Time to receive a request's body once its headers arrived (408 after that); the body is
    /// read before the request is admitted, so slow senders hold no admission place.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout_seconds: u64,
    /// Open connections at most; one more is closed at once.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_connections: u32,
    /// Append one JSON line per request to FILE [default: the policy's audit_log].
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Log lines on stderr as JSON objects.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    policy_load: crate::commands::PolicyLoadArgs,
    #[command(flatten)]
    key_files: crate::commands::KeyFileArgs,
}

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body.
    pub max_body_bytes: usize,
    /// Verifications running at once.
    pub max_concurrent: usize,
    /// Requests waiting for a slot.
    pub max_queue: usize,
    /// Arrival to answer.
    pub timeout: Duration,
    /// Headers received to body received.
    pub body_timeout: Duration,
    /// Signature bytes read per file and per request.
    pub bundles: BundleLimits,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = Log { json: args.json };
    return_large_buffers_to_the_system();
    let root = ConfinedRoot::new(&args.root)?;
    // Absolute, so a reload reads the same file whatever happens to the working directory.
    let policy_path = std::path::absolute(&args.policy)
        .with_context(|| format!("{}: cannot resolve", args.policy.display()))?;
    // The same options for the first load and every reload (SIGHUP).
    let policy_options = args.policy_load.options(&args.key_files);
    let policy = Policy::load_with(&policy_path, &policy_options)?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_concurrent: args.max_concurrent.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            |n| n as usize,
        ),
        max_queue: args.max_queue as usize,
        timeout: Duration::from_secs(args.timeout_seconds),
        body_timeout: Duration::from_secs(args.body_timeout_seconds),
        bundles: BundleLimits {
            per_bundle: args.max_bundle_bytes,
            total: args.max_request_bytes,
        },
    };
    let connections = Connections {
        max: args.max_connections as usize,
        header_timeout: Duration::from_secs(args.header_timeout_seconds),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .thread_name("modelseal-serve")
        .build()
        .context("cannot start the async runtime")?;
    let handle = PolicyHandle::new(policy_path, policy_options, policy);
    let app = routes::App::new(handle.clone(), root, limits, args.audit_log, log);
    runtime.block_on(serve(args.listen, connections, app, handle, log))?;
    // A verification past its timeout keeps running on a blocking thread; give it that long.
    runtime.shutdown_timeout(limits.timeout);
    Ok(ExitCode::SUCCESS)
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
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
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
        .context("server failed")?;
    log.info("stopped", "all connections closed");
    Ok(())
}

/// Makes glibc serve every allocation of 1 MiB or more with its own mapping, returned to the
/// system when freed. Without a fixed threshold glibc raises it after such a free (up to 32 MiB),
/// and signature buffers of a few MiB then stay resident in each blocking thread's arena: the
/// server's RSS grew to the sum of their peaks instead of the peak of one verification at a time.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) with a documented parameter, before the server's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// A future that completes at the first SIGTERM or SIGINT (handlers installed now).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
