//! The CLI side of the audit log: the `--audit-log FILE` option every audited verb flattens, and
//! [`audited`], which runs a verb and appends its one event (core `modelseal::audit`) — also when
//! the verb fails. A log that cannot be written turns the run into exit code 2 (fail closed: an
//! operation the operator asked to audit must not pass unrecorded).

use modelseal::audit::{AuditEvent, Operation};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--audit-log FILE`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Append one JSON line describing this operation to FILE [default: the policy's audit_log].
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

/// The event a verb fills in while it runs.
pub struct Audit {
    /// The event to append.
    pub event: AuditEvent,
    /// The policy's `audit_log`, used when `--audit-log` is not given.
    pub policy_log: Option<PathBuf>,
}

impl Audit {
    /// Records a decrypt/rewrap/unseal failure as exit 1 (authentication) or 2 (input).
    pub fn seal_failed(&mut self, err: &modelseal::envelope::SealError) {
        if err.class().is_failure() {
            self.event.fail(vec![err.to_string()]);
        } else {
            self.event.error(err.to_string());
        }
    }
}

/// Runs `verb` and appends its event to the audit log, if one is configured.
pub fn audited(
    args: &AuditArgs,
    operation: Operation,
    model: &Path,
    verb: impl FnOnce(&mut Audit) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let mut audit = Audit {
        event: AuditEvent::new(operation, model),
        policy_log: None,
    };
    let result = verb(&mut audit);
    if let Err(err) = &result {
        audit.event.error(format!("{err:#}"));
    }
    let recorded = modelseal::audit::record(
        args.audit_log.as_deref(),
        audit.policy_log.as_deref(),
        &audit.event,
    );
    match recorded {
        Ok(()) => result,
        Err(err) => {
            if let Err(verb_err) = &result {
                eprintln!("error: {verb_err:#}");
            }
            Err(err.into())
        }
    }
}
