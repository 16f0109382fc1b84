//! The CLI side of the audit log: the `--audit-log FILE` option every audited verb flattens, and
//! [`AuditArgs::record`], which appends the verb's one event (built by `modelseal::report` from
//! how the verb ended) — also when the verb failed. A log that cannot be written turns the run
//! into exit code 2 (fail closed: an operation the operator asked to audit must not pass
//! unrecorded).

use modelseal::audit::AuditEvent;
use modelseal::report::Failure;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--audit-log`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Append one JSON line describing this operation to FILE [default: the policy's audit_log].
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

impl AuditArgs {
    /// Appends `event` to `--audit-log`, else to the policy's `policy_log`, and returns `code`
    /// — or the log's error when the event cannot be written.
    pub fn record(
        &self,
        policy_log: Option<&Path>,
        event: &AuditEvent,
        code: anyhow::Result<ExitCode>,
    ) -> anyhow::Result<ExitCode> {
        match self.append(policy_log, event) {
            Ok(()) => code,
            Err(err) => {
                if let Err(verb_err) = &code {
                    say_err!("error: {verb_err:#}");
                }
                Err(err.into())
            }
        }
    }
}

impl AuditArgs {
    /// Appends `event` to `--audit-log`, else to the policy's `policy_log` (a verb that records
    /// before it commits its result, as `unseal` before it publishes).
    pub fn append(
        &self,
        policy_log: Option<&Path>,
        event: &AuditEvent,
    ) -> Result<(), modelseal::audit::AuditError> {
        modelseal::audit::record(self.audit_log.as_deref(), policy_log, event)
    }
}

/// How a verb ended: `Err` before the operation ran (usage, unreadable key or policy), else the
/// operation's own result.
pub type Attempt<T, E> = anyhow::Result<Result<T, E>>;

/// The result an audit event records: the outcome, the operation's error as `classify` records
/// it, or an earlier error with its causes.
pub fn ended<'a, T, E>(
    attempt: &'a Attempt<T, E>,
    classify: impl FnOnce(&'a E) -> Failure<'a>,
) -> Result<&'a T, Failure<'a>> {
    match attempt {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(err)) => Err(classify(err)),
        Err(err) => Err(Failure::Error(format!("{err:#}"))),
    }
}
