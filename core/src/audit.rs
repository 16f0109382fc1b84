//! The audit log: one JSON line per operation (sign, verify, encrypt, decrypt, rewrap, seal,
//! unseal) — UTC time, operation, model, model name, root digest, key identifiers, policy rule,
//! signers, outcome, reasons.
//!
//! Guarantees: an event holds only what its fields name — paths, names, digests and non-secret key
//! identifiers; no field takes a key, PIN or data key, so none can leak into the log. Each line is
//! appended with `O_APPEND` in a single `write(2)`: concurrent writers (threads or processes) never
//! interleave within a line. On a regular file the line is then fsynced, so a line that was
//! reported written survives a crash; a pipe, a terminal or a character device (`/dev/stdout` in a
//! container, whose log collector owns durability) takes the line without fsync, which such files
//! refuse (`EINVAL`); `-` and `/dev/stdout` are this process's standard output and
//! `/dev/stderr` its standard error, written through the descriptors it holds, never re-opened. A
//! file is created 0600. Reasons are bounded (count and length) so one event stays one modest
//! write.
//!
//! This module knows no operation's outcome: what each operation records is decided in
//! `report` (`report::sign_event`, …), where an event goes here ([`destination`]), so the CLI,
//! the Python bindings and `serve` write the same line.

use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Most reasons recorded per event.
const MAX_REASONS: usize = 64;
/// Longest reason recorded (characters); longer ones are cut with `…`.
const MAX_REASON_CHARS: usize = 1000;

/// Errors appending to the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log could not be opened, written or synced.
    #[error("{path}: cannot append to the audit log: {source}")]
    Write {
        /// The audit log file ([`AuditLog::path`]).
        path: PathBuf,
        /// What failed: the open, the write (a short write is reported as `WriteZero`) or the sync.
        source: std::io::Error,
    },
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `sign`
    Sign,
    /// `verify`
    Verify,
    /// `encrypt`
    Encrypt,
    /// `decrypt`
    Decrypt,
    /// `rewrap`
    Rewrap,
    /// `seal`
    Seal,
    /// `unseal`
    Unseal,
    /// `endorse`
    Endorse,
}

impl Operation {
    /// The name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Sign => "sign",
            Operation::Verify => "verify",
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
            Operation::Rewrap => "rewrap",
            Operation::Seal => "seal",
            Operation::Unseal => "unseal",
            Operation::Endorse => "endorse",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded (verification: allowed).
    Ok,
    /// Verification or decryption failed, or the policy denied (exit code 1).
    Failed,
    /// A usage, input or environment error (exit code 2).
    Error,
}

impl Outcome {
    /// The name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }
}

/// One audit event. Every field is public, non-secret data.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// What was done.
    pub operation: Operation,
    /// The model (or encrypted model) path as given.
    pub model: Option<String>,
    /// The model name (policy name, envelope name).
    pub model_name: Option<String>,
    /// The OMS root digest (lowercase hex), when one was computed or verified.
    pub root_digest: Option<String>,
    /// Non-secret key identifiers: key references, OMS key hints, stanza `type:key_id`.
    pub key_ids: Vec<String>,
    /// The policy file, when one decided.
    pub policy: Option<String>,
    /// The policy rule that decided (`models[0] "prod/*"`).
    pub rule: Option<String>,
    /// Policy signers that verified.
    pub signers: Vec<String>,
    /// The policy decision's id, as the verb's `--json` result and `serve`'s `X-Request-Id`
    /// carry it: joins this line to the result that reported the same decision.
    pub request_id: Option<String>,
    /// The SHA-256 (hex) of the policy file's bytes that decided: which policy, exactly.
    pub policy_digest: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed (empty on success).
    pub reasons: Vec<String>,
}

impl AuditEvent {
    /// An event for `operation` on `model`, outcome `Ok` until told otherwise.
    pub fn new(operation: Operation, model: &Path) -> AuditEvent {
        AuditEvent {
            operation,
            model: Some(model.display().to_string()),
            model_name: None,
            root_digest: None,
            key_ids: Vec::new(),
            policy: None,
            rule: None,
            signers: Vec::new(),
            request_id: None,
            policy_digest: None,
            outcome: Outcome::Ok,
            reasons: Vec::new(),
        }
    }

    /// Marks the event failed (exit 1) with `reasons`.
    pub fn fail(&mut self, reasons: Vec<String>) {
        self.outcome = Outcome::Failed;
        self.reasons = reasons;
    }

    /// Marks the event an input/usage error (exit 2) with `reason`.
    pub fn error(&mut self, reason: String) {
        self.outcome = Outcome::Error;
        self.reasons = vec![reason];
    }

    /// The event as one JSON object, stamped with `time` (RFC 3339, UTC).
    pub fn to_json(&self, time: &str) -> Value {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .take(MAX_REASONS)
            .map(|r| bounded(r))
            .collect();
        json!({
            "time": time,
            "operation": self.operation.name(),
            "model": self.model,
            "model_name": self.model_name,
            "root_digest": self.root_digest,
            "key_ids": self.key_ids,
            "policy": self.policy,
            "rule": self.rule,
            "signers": self.signers,
            "request_id": self.request_id,
            "policy_digest": self.policy_digest,
            "outcome": self.outcome.name(),
            "reasons": reasons,
            "omitted_reasons": self.reasons.len().saturating_sub(MAX_REASONS),
        })
    }
}

fn bounded(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_string(),
    }
}

/// Where an operation's event goes: the log the caller named (`--audit-log`, `audit_log=`) wins,
/// else the policy's `audit_log`; `None` when neither is set (nothing is logged).
pub fn destination(explicit: Option<&Path>, policy_log: Option<&Path>) -> Option<AuditLog> {
    explicit.or(policy_log).map(AuditLog::new)
}

/// Appends `event` to its [`destination`], if any. An error means the event is not recorded; the
/// caller fails the operation (an operation the operator asked to audit must not pass unrecorded).
pub fn record(
    explicit: Option<&Path>,
    policy_log: Option<&Path>,
    event: &AuditEvent,
) -> Result<(), AuditError> {
    match destination(explicit, policy_log) {
        Some(log) => log.append(event),
        None => Ok(()),
    }
}

/// An append-only JSON-lines audit log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `path` (created on the first append, mode 0600); `-` is standard output.
    pub fn new(path: &Path) -> AuditLog {
        AuditLog {
            path: path.to_path_buf(),
        }
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event`, stamped with the current UTC time, as one line: one `write(2)` on an
    /// `O_APPEND` descriptor, then fsync when the log is a regular file.
    pub fn append(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = event.to_json(&now_rfc3339()).to_string();
        line.push('\n');
        let err = |source| AuditError::Write {
            path: self.path.clone(),
            source,
        };
        let mut file = match self.standard_stream() {
            Some(stream) => stream.map_err(err)?,
            None => {
                // A log path is not followed through a symlink at its last component (someone
                // who can write its directory must not redirect the appends into another file).
                // Nor does a FIFO put there block the open (O_NONBLOCK: no reader is an error).
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&self.path)
                    .map_err(err)?
            }
        };
        // One write: with O_APPEND the kernel places the whole buffer at the end atomically with
        // respect to other appenders; a loop of partial writes could interleave with theirs.
        let written = file.write(line.as_bytes()).map_err(err)?;
        if written != line.len() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("short write: {written} of {} bytes", line.len()),
            )));
        }
        // Only a regular file can be made durable: fsync on a pipe, a socket or a terminal fails
        // with EINVAL although the line was delivered.
        if file.metadata().map_err(err)?.is_file() {
            file.sync_data().map_err(err)?;
        }
        Ok(())
    }
}

impl AuditLog {
    /// For `-`, `/dev/stdout` and `/dev/stderr`: a duplicate of this process's own descriptor 1
    /// or 2, never a re-open of the path. Re-opening `/dev/stdout` goes through
    /// `/proc/self/fd/1` and checks the pipe's own permissions, which a container runtime creates
    /// for root: a non-root container (the init container of docs/deploy.md) would be refused the
    /// log it already holds open. Anything this process already printed is flushed first, so the
    /// line lands after it.
    fn standard_stream(&self) -> Option<std::io::Result<std::fs::File>> {
        use std::os::fd::AsFd;
        let path = self.path.as_path();
        let fd = if path == Path::new("-") || path == Path::new("/dev/stdout") {
            let mut out = std::io::stdout();
            if let Err(e) = out.flush() {
                return Some(Err(e));
            }
            out.as_fd().try_clone_to_owned()
        } else if path == Path::new("/dev/stderr") {
            std::io::stderr().as_fd().try_clone_to_owned()
        } else {
            return None;
        };
        Some(fd.map(std::fs::File::from))
    }
}

/// The current time as RFC 3339 UTC with seconds (`2026-11-23T21:40:00Z`).
pub fn now_rfc3339() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let whole = std::time::Duration::from_secs(since_epoch.as_secs());
    der::DateTime::from_unix_duration(whole)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("@{}", whole.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17 item 14: the log is not followed through a symlink (someone who can write its
    /// directory cannot redirect the appends into another file).
    #[test]
    fn a_symlinked_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep\n").unwrap();
        let link = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(AuditLog::new(&link).append(&event(0)).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep\n");
        let real = dir.path().join("real.jsonl");
        AuditLog::new(&real).append(&event(1)).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap().lines().count(), 1);
    }

    fn event(i: usize) -> AuditEvent {
        let mut e = AuditEvent::new(Operation::Verify, Path::new("models/llm"));
        e.model_name = Some(format!("prod/llm-{i}"));
        e.root_digest = Some("ab".repeat(32));
        e.key_ids = vec![format!("key-{i}")];
        // Long enough that a torn write would show; well under a pipe/page boundary is not assumed.
        e.reasons = vec!["x".repeat(900); 3];
        e.outcome = Outcome::Failed;
        e
    }

    #[test]
    fn time_is_rfc3339_utc() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(
            t.ends_with('Z') && &t[4..5] == "-" && &t[10..11] == "T",
            "{t}"
        );
    }

    #[test]
    fn concurrent_threads_never_interleave_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let threads = 8;
        let per_thread = 200;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let log = AuditLog::new(&path);
                scope.spawn(move || {
                    for i in 0..per_thread {
                        log.append(&event(t * per_thread + i)).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["operation"], "verify");
            assert_eq!(v["outcome"], "failed");
            seen.insert(v["model_name"].as_str().unwrap().to_string());
        }
        assert_eq!(text.lines().count(), threads * per_thread);
        assert_eq!(seen.len(), threads * per_thread);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// A pipe (`--audit-log /dev/stdout | cat`) and a character device take the line: fsync,
    /// which they refuse, is only for regular files.
    #[test]
    fn pipes_and_devices_take_the_line_without_fsync() {
        AuditLog::new(Path::new("/dev/null"))
            .append(&event(0))
            .unwrap();
        // A named pipe with a reader: the line is delivered, and the fsync a pipe cannot do is
        // not attempted (it would fail with EINVAL after the line went out).
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("audit.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        use std::os::unix::fs::OpenOptionsExt;
        let mut read = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        AuditLog::new(&fifo).append(&event(1)).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut read, &mut text).unwrap();
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["model_name"], "prod/llm-1");
    }

    #[test]
    fn reasons_are_bounded() {
        let mut e = event(0);
        e.reasons = vec!["y".repeat(5000); 100];
        let v = e.to_json("t");
        assert_eq!(v["reasons"].as_array().unwrap().len(), MAX_REASONS);
        assert_eq!(v["omitted_reasons"], 100 - MAX_REASONS);
        assert!(v["reasons"][0].as_str().unwrap().chars().count() <= MAX_REASON_CHARS + 1);
    }
}
