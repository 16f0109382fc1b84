//! The HTTP routes: `POST /v1/verify` and `GET /healthz`, and how each outcome maps to a status.
//!
//! A verification request is admitted (or 503), its body read within the size limit and the
//! deadline (413, 408), parsed by core (400), queued for one of `max_concurrent` verification
//! slots and decided by core on a blocking thread, which also appends the audit line — so a
//! request that times out (504) is still decided and audited. Every answer is JSON.

use super::log::Log;
use super::reload::PolicyHandle;
use super::Limits;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use modelseal::audit::AuditLog;
use modelseal::hook::ConfinedRoot;
use modelseal::hook::{RequestError, VerifyRequest};
use modelseal::policy::{Policy, PolicyDecision};
use modelseal::report::{self, DecisionInputError, DecisionReport, Failure};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};

/// Everything a request handler shares.
pub struct App {
    policy: PolicyHandle,
    root: Arc<ConfinedRoot>,
    limits: Limits,
    audit_log: Option<PathBuf>,
    log: Log,
    /// Requests admitted (running or waiting for a slot).
    admitted: Arc<Semaphore>,
    /// Verification slots.
    slots: Arc<Semaphore>,
}

impl App {
    /// The shared state for `limits`; `audit_log` overrides the policy's.
    pub fn new(
        policy: PolicyHandle,
        root: ConfinedRoot,
        limits: Limits,
        audit_log: Option<PathBuf>,
        log: Log,
    ) -> App {
        App {
            policy,
            root: Arc::new(root),
            limits,
            audit_log,
            log,
            admitted: Arc::new(Semaphore::new(limits.max_concurrent + limits.max_queue)),
            slots: Arc::new(Semaphore::new(limits.max_concurrent)),
        }
    }
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/verify", post(verify))
        .route("/healthz", get(healthz))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(app)
}

/// `GET /healthz`: the server runs; which policy (and reload generation) decides.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let (policy, generation) = app.policy.snapshot();
    reply(
        StatusCode::OK,
        json!({
            "status": "ok",
            "policy": policy.path().display().to_string(),
            "policy_generation": generation,
        }),
    )
}

/// `POST /v1/verify`.
async fn verify(State(app): State<Arc<App>>, request: Request) -> Response {
    let deadline = Instant::now() + app.limits.timeout;
    // Taken on arrival: a SIGHUP while this request is in flight does not change its decision.
    let (policy, _) = app.policy.snapshot();
    let Ok(admitted) = app.admitted.clone().try_acquire_owned() else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            "too many requests in flight; retry later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    if declared_length(&request).is_some_and(|n| n > app.limits.max_body_bytes as u64) {
        // Refused before reading: no unread body is left to reset the connection under the
        // answer.
        return too_large(app.limits.max_body_bytes);
    }
    let body = match read_body(request.into_body(), app.limits.max_body_bytes, deadline).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request = match VerifyRequest::parse(&body) {
        Ok(request) => request,
        Err(err) => return error(StatusCode::BAD_REQUEST, "malformed", &err.to_string()),
    };
    let Ok(Ok(slot)) = timeout_at(deadline, app.slots.clone().acquire_owned()).await else {
        return timed_out();
    };
    let task_app = app.clone();
    let task = tokio::task::spawn_blocking(move || {
        // Both permits live as long as the verification, even past a timeout, so the
        // concurrency bound holds for the CPU work itself.
        let _permits = (slot, admitted);
        decide(&task_app, &policy, &request)
    });
    match timeout_at(deadline, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(join)) => {
            app.log.error("verification task failed", &join.to_string());
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "verification failed unexpectedly",
            )
        }
        Err(_) => timed_out(),
    }
}

/// Reads the whole body within `limit` bytes and the deadline.
async fn read_body(body: Body, limit: usize, deadline: Instant) -> Result<Vec<u8>, Response> {
    match timeout_at(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Ok(Err(err)) => Err(error(
            StatusCode::BAD_REQUEST,
            "malformed",
            &format!("cannot read the request body: {err}"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "request body not received in time",
        )),
    }
}

/// Decides `request` under `policy` and audits it (on a blocking thread).
fn decide(app: &App, policy: &Policy, request: &VerifyRequest) -> Response {
    let result = policy.verify_request(&app.root, request);
    let audit_path = app.audit_log.as_deref().or(policy.audit_log());
    if let Some(path) = audit_path {
        let failure = |e: &RequestError| Failure::Error(e.to_string());
        let event = report::policy_event(
            Path::new(&request.model),
            policy.path(),
            result.as_ref().map_err(failure),
        );
        // Fail closed, as the CLI does: a decision the operator asked to audit is not given
        // unrecorded.
        if let Err(err) = AuditLog::new(path).append(&event) {
            app.log.error("audit", &err.to_string());
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "audit",
                "cannot append to the audit log",
            );
        }
    }
    match result {
        Ok(decision) => decision_response(&decision),
        Err(err) => request_error(policy.path(), request, &err),
    }
}

/// 200 allowed, 403 denied; the body is `verify --policy --json`'s.
fn decision_response(decision: &PolicyDecision) -> Response {
    let status = if decision.allowed() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    reply(status, report::json(&DecisionReport::from(decision)))
}

/// 400 a refused path, 404 a missing one, 422 files that cannot be verified.
fn request_error(policy: &Path, request: &VerifyRequest, err: &RequestError) -> Response {
    let message = err.to_string();
    match err {
        RequestError::Path(path) if path.is_not_found() => {
            error(StatusCode::NOT_FOUND, "not_found", &message)
        }
        RequestError::Path(_) => error(StatusCode::BAD_REQUEST, "path", &message),
        RequestError::Malformed { .. } => error(StatusCode::BAD_REQUEST, "malformed", &message),
        _ => {
            let body = DecisionInputError::new(Path::new(&request.model), policy, message);
            reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                report::json(&body.for_serve()),
            )
        }
    }
}

/// The `Content-Length` the client declared, if any.
fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        &format!("request body larger than {limit} bytes"),
    )
}

fn timed_out() -> Response {
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        "not decided within the time limit",
    )
}

/// An answer that is not a decision: `{"allowed": false, "verified": false, "error", "reasons"}`.
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    reply(
        status,
        json!({"allowed": false, "verified": false, "error": kind, "reasons": [message]}),
    )
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
