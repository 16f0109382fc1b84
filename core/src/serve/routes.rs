//! The HTTP routes: `POST /v1/verify` and `GET /healthz`, and how each outcome maps to a status.
//!
//! A verification request's body is read first, within the size limit and the body timeout (413,
//! 408) — so a slow sender holds a connection but never an admission place — then parsed by core
//! (400), admitted (or 503), queued for one of `max_concurrent` verification slots and decided by
//! core on a blocking thread, which also appends the audit line — so a request that times out
//! (504) is still decided and audited, and counted as overdue (for `/healthz`) until it ends.
//! Every answer is JSON; an input error tells the caller which of its paths and what kind of
//! problem, and the whole reason goes to the server's log.

use super::log::Log;
use super::reload::PolicyHandle;
use super::root::Root;
use super::Limits;
use crate::audit::AuditLog;
use crate::error::{ErrorClass, ErrorCode};
use crate::hook::{RequestError, VerifyRequest};
use crate::policy::{Policy, PolicyDecision};
use crate::report::{self, DecisionInputError, DecisionReport, Failure, Outcome, Problem, Verb};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};

/// Everything a request handler shares.
pub struct App {
    policy: PolicyHandle,
    root: Arc<Root>,
    limits: Limits,
    audit_log: Option<PathBuf>,
    log: Log,
    /// Requests admitted (running or waiting for a slot).
    admitted: Arc<Semaphore>,
    /// Verification slots.
    slots: Arc<Semaphore>,
    /// Places for heavy requests (more than [`LIGHT_REQUEST_BYTES`] of signatures), admitted
    /// or running: half the slots, so heavy requests never hold every slot.
    heavy: Arc<Semaphore>,
    /// Requests whose body is being received.
    receiving: Arc<AtomicUsize>,
    /// Verifications still running past their deadline (their callers got 504).
    overdue: Arc<AtomicUsize>,
}

/// Signature bytes up to which a request is light. Real bundles are a few KiB (a keyless one
/// with its log entries some tens); a request over this is heavy and may hold only half the
/// verification slots, so requests naming many large files cannot keep ordinary ones waiting.
const LIGHT_REQUEST_BYTES: u64 = 1 << 20;

/// The check before admission: the request's signature bytes, or its (audited) answer.
enum Precheck {
    Admit(u64),
    Refused(Response),
}

/// Counts one in `counter` while alive.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn enter(counter: &Arc<AtomicUsize>) -> Counted {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl App {
    /// The shared state for `limits`; `audit_log` overrides the policy's.
    pub fn new(
        policy: PolicyHandle,
        root: Root,
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
            heavy: Arc::new(Semaphore::new((limits.max_concurrent / 2).max(1))),
            receiving: Arc::new(AtomicUsize::new(0)),
            overdue: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/verify", only("POST", post(verify)))
        .route("/healthz", only("GET", get(healthz)))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such endpoint",
            )
        })
        .with_state(app)
}

/// `router` answering any other method with a JSON 405 naming the one it takes (`Allow`).
fn only(method: &'static str, router: MethodRouter<Arc<App>>) -> MethodRouter<Arc<App>> {
    router.fallback(move || async move {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            &format!("method not allowed; use {method}"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(method));
        response
    })
}

/// `GET /healthz`: the server runs; which policy (and reload generation) decides; how many
/// requests are in each stage. Degraded (503) while every verification slot is held by a
/// verification past its deadline (nothing new can be decided until one ends), and after a
/// policy reload failed (the old policy still decides, not the operator's new one) until one
/// succeeds.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let (policy, generation) = app.policy.snapshot();
    let slots = app.limits.max_concurrent;
    let overdue = app.overdue.load(Ordering::SeqCst);
    let mut reasons = Vec::new();
    if overdue > 0 {
        reasons.push(format!(
            "{overdue} of {slots} verification slots are held by verifications past their deadline"
        ));
    }
    let reload_failure = app.policy.reload_failure();
    if let Some(reason) = &reload_failure {
        reasons.push(format!(
            "the last policy reload failed, so generation {generation} still decides: {reason}"
        ));
    }
    let degraded = overdue >= slots || reload_failure.is_some();
    let admission = app.limits.max_concurrent + app.limits.max_queue;
    reply(
        if degraded {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        },
        json!({
            "status": if degraded { "degraded" } else { "ok" },
            "reasons": reasons,
            "policy": policy.path().display().to_string(),
            "policy_generation": generation,
            "requests": {
                "receiving": app.receiving.load(Ordering::SeqCst),
                "admitted": admission - app.admitted.available_permits(),
                "verifying": slots - app.slots.available_permits(),
                "overdue": overdue,
            },
        }),
    )
}

/// `POST /v1/verify`.
async fn verify(State(app): State<Arc<App>>, request: Request) -> Response {
    let arrival = Instant::now();
    let deadline = arrival + app.limits.timeout;
    // Taken on arrival: a SIGHUP while this request is in flight does not change its decision.
    let (policy, _) = app.policy.snapshot();
    if declared_length(&request).is_some_and(|n| n > app.limits.max_body_bytes as u64) {
        // Refused before reading: no unread body is left to reset the connection under the
        // answer.
        return too_large(app.limits.max_body_bytes);
    }
    let receiving = Counted::enter(&app.receiving);
    let body_deadline = deadline.min(arrival + app.limits.body_timeout);
    let body = match read_body(
        request.into_body(),
        app.limits.max_body_bytes,
        body_deadline,
    )
    .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    drop(receiving);
    let request = match VerifyRequest::parse(&body) {
        Ok(request) => request,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::RequestMalformed,
                &err.to_string(),
            )
        }
    };
    // Before admission: the signature files are resolved and sized (not opened), so a request
    // that would be refused for them takes no admission place.
    let checked = {
        let (app, policy, request) = (app.clone(), policy.clone(), request.clone());
        tokio::task::spawn_blocking(move || {
            match app.root.signature_bytes(&request, app.limits.bundles) {
                Ok(bytes) => Precheck::Admit(bytes),
                Err(err) => Precheck::Refused(answer(&app, &policy, &request, Err(err))),
            }
        })
        .await
    };
    let bytes = match checked {
        Ok(Precheck::Admit(bytes)) => bytes,
        Ok(Precheck::Refused(response)) => return response,
        Err(join) => return task_failed(&app, &join),
    };
    let heavy = if bytes > LIGHT_REQUEST_BYTES {
        match app.heavy.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return saturated(),
        }
    } else {
        None
    };
    let Ok(admitted) = app.admitted.clone().try_acquire_owned() else {
        return saturated();
    };
    let Ok(Ok(slot)) = timeout_at(deadline, app.slots.clone().acquire_owned()).await else {
        return timed_out();
    };
    let task_app = app.clone();
    let mut task = tokio::task::spawn_blocking(move || {
        // Both permits live as long as the verification, even past a timeout, so the
        // concurrency bound holds for the CPU work itself.
        let _permits = (slot, admitted, heavy);
        decide(&task_app, &policy, &request)
    });
    match timeout_at(deadline, &mut task).await {
        Ok(Ok(response)) => response,
        Ok(Err(join)) => task_failed(&app, &join),
        Err(_) => {
            // The verification cannot be interrupted: it is overdue until it ends.
            let overdue = Counted::enter(&app.overdue);
            tokio::spawn(async move {
                let _ = task.await;
                drop(overdue);
            });
            timed_out()
        }
    }
}

/// Reads the whole body within `limit` bytes and the deadline.
async fn read_body(body: Body, limit: usize, deadline: Instant) -> Result<Vec<u8>, Response> {
    match timeout_at(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Ok(Err(err)) => Err(error(
            StatusCode::BAD_REQUEST,
            ErrorCode::RequestMalformed,
            &format!("cannot read the request body: {err}"),
        )),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Timeout,
            "request body not received in time",
        )),
    }
}

/// Decides `request` under `policy` and audits it (on a blocking thread).
fn decide(app: &App, policy: &Policy, request: &VerifyRequest) -> Response {
    let result = app.root.verify(policy, request, app.limits.bundles);
    answer(app, policy, request, result)
}

/// Audits `result` and turns it into the answer (on a blocking thread).
fn answer(
    app: &App,
    policy: &Policy,
    request: &VerifyRequest,
    result: Result<PolicyDecision, RequestError>,
) -> Response {
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
                ErrorCode::AuditFailed,
                "cannot append to the audit log",
            );
        }
    }
    match result {
        Ok(decision) => decision_response(&decision),
        Err(err) => {
            if matches!(err, RequestError::Input { .. }) {
                app.log
                    .error("input", &format!("model {:?}: {err}", request.model));
            }
            request_error(policy.path(), request, &err)
        }
    }
}

/// 200 allowed, 403 denied; the body is `verify --policy --json`'s.
fn decision_response(decision: &PolicyDecision) -> Response {
    let status = if decision.allowed() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let mut response = reply(status, DecisionReport::outcome(decision).json());
    // The decision's id in a header too, for proxies and logs that do not read bodies.
    if let Ok(id) = header::HeaderValue::from_str(decision.request_id()) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// 400 a refused path, 404 a missing one, 422 files that cannot be verified (the public
/// reason); the body is `verify --policy --json`'s input error, naming the request's model and
/// the policy.
fn request_error(policy: &Path, request: &VerifyRequest, err: &RequestError) -> Response {
    use report::Coded;
    let status = match err {
        RequestError::Path(path) if path.is_not_found() => StatusCode::NOT_FOUND,
        RequestError::Path(_) | RequestError::Malformed { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let model = Path::new(&request.model);
    let body = DecisionInputError::outcome(model, policy, err.class(), err.problems());
    reply(status, body.json())
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
        ErrorCode::RequestTooLarge,
        &format!("request body larger than {limit} bytes"),
    )
}

fn saturated() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Saturated,
        "too many requests in flight; retry later",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

fn task_failed(app: &App, join: &tokio::task::JoinError) -> Response {
    app.log.error("verification task failed", &join.to_string());
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "verification failed unexpectedly",
    )
}

fn timed_out() -> Response {
    error(
        StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Timeout,
        "not decided within the time limit",
    )
}

/// An answer that is not a decision: `verify`'s result with one error of `code` (`input` for
/// a 4xx status, `internal` for a 5xx), and as before `allowed`/`verified` false and the
/// message in `reasons`.
fn error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let class = if status.is_server_error() {
        ErrorClass::Internal
    } else {
        ErrorClass::Input
    };
    let known = json!({"allowed": false, "verified": false, "reasons": [message]});
    let problems = vec![Problem::new(code, message)];
    reply(
        status,
        Outcome::failed(Verb::Verify, class, problems, &known).json(),
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
