//! `modelseal serve`: the flags of the verification service; the service itself is core's
//! (`modelseal::serve`, docs/serve.md).

use modelseal::report::{Outcome, Verb};
use modelseal::serve::ServeOptions;
use modelseal::verify::BundleLimits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
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
    /// The directory request paths are relative to, or a bucket prefix (s3://BUCKET/PREFIX,
    /// gs://…, az://…; credentials from the store's standard environment, docs/storage.md);
    /// nothing outside it is read.
    #[arg(long, value_name = "DIR|URL")]
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
    policy_load: super::PolicyLoadArgs,
    #[command(flatten)]
    key_files: super::KeyFileArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let known = serde_json::json!({
        "policy": args.policy.display().to_string(),
        "listen": args.listen.to_string(),
    });
    // Printed (with --json) if it stops without an error; an error that stops it is the result.
    crate::output::set_result(Outcome::ok(Verb::Serve, &known));
    modelseal::serve::run(ServeOptions {
        policy_options: args.policy_load.options(&args.key_files),
        policy: args.policy,
        root: args.root,
        listen: args.listen,
        max_body_bytes: args.max_body_bytes,
        max_concurrent: args.max_concurrent.map(|n| n as usize),
        max_queue: args.max_queue as usize,
        timeout: Duration::from_secs(args.timeout_seconds),
        body_timeout: Duration::from_secs(args.body_timeout_seconds),
        header_timeout: Duration::from_secs(args.header_timeout_seconds),
        max_connections: args.max_connections as usize,
        bundles: BundleLimits {
            per_bundle: args.max_bundle_bytes,
            total: args.max_request_bytes,
        },
        audit_log: args.audit_log,
        json_log: args.json,
    })?;
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
