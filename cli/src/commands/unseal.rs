//! `modelseal unseal`: verify an encrypted model under a policy, decrypt it, verify the plaintext,
//! and only then publish it (files 0400, directories 0500). The Kubernetes init step.

use super::{KeyFileArgs, OutputArgs, PolicyLoadArgs};
use crate::audit::{ended, Attempt, AuditArgs};
use crate::output::{print_json, print_line, report_failure};
use modelseal::deploy::{unseal_model_recorded, DeployError, UnsealOptions, UnsealOutcome};
use modelseal::report::{self, Failure, UnsealFailure, UnsealReport};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Verify ENC (ENC.sig) under POLICY, decrypt it beside DIR, verify the plaintext signature under
/// POLICY, then move it to DIR (files 0400, directories 0500). A rule's threshold is counted over
/// ENC's signatures (co-signers: seal --key A --key B, or modelseal endorse); the plaintext
/// signature must come from at least one signer of the rule. On any failure DIR is not created
/// and nothing decrypted remains. A run that was killed leaves only its private temporary beside
/// DIR (.DIR.modelseal-tmp.PID.*, mode 0700); the next unseal into the same DIR removes it.
/// The audit line is written before DIR is published. An existing DIR (a restarted init
/// container) is checked, without decrypting, against the sealed model: exactly it, exit 0
/// ("already unsealed"); anything else, exit 2 naming the difference.
///
/// Exit 0 unsealed, 1 denied or decryption failed, 2 usage or input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The encrypted model (made by seal).
    encrypted: PathBuf,
    /// Trust policy (TOML, docs/policy.md).
    #[arg(long, value_name = "POLICY.toml")]
    policy: PathBuf,
    /// Decryption key reference (a KEK file, an X25519 or RSA private key file, a `pkcs11:` URI,
    /// an `awskms://` key).
    #[arg(long, value_name = "REF")]
    key: String,
    /// The directory to create.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The model name the policy's rules match [default: the envelope's model name].
    #[arg(long, value_name = "NAME")]
    model_name: Option<String>,
    /// A signature file of ENC (repeatable; a .jsonl claims file holds several): the policy's
    /// threshold counts the distinct signers of all of them together [default: ENC.sig and/or
    /// ENC.sig.jsonl beside ENC, whichever exist].
    #[arg(long = "signature", value_name = "ENC.sig")]
    signatures: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key_files: KeyFileArgs,
    #[command(flatten)]
    policy_load: PolicyLoadArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut policy_log = None;
    let attempt = unseal(&args, &mut policy_log);
    match &attempt {
        // Recorded before DIR was published: from here on the unseal has succeeded (exit 0), so
        // a restarted init container never finds a published DIR behind a failed run.
        Ok(Ok(outcome)) => return Ok(print(&args, outcome)),
        // The line could not be written, so nothing was published; a second try would fail alike.
        Ok(Err(err @ DeployError::Audit(_))) => {
            let report = UnsealFailure::new(&args.out, err);
            return Ok(report_failure(
                args.output.json,
                &report,
                "unseal",
                err.class(),
                err,
            ));
        }
        _ => {}
    }
    let event = report::unseal_event(
        &args.encrypted,
        &args.key,
        &args.policy,
        ended(&attempt, Failure::deploy),
    );
    let code = attempt.map(|result| match result {
        Ok(outcome) => print(&args, &outcome),
        Err(err) => {
            let report = UnsealFailure::new(&args.out, &err);
            report_failure(args.output.json, &report, "unseal", err.class(), &err)
        }
    });
    args.audit.record(policy_log.as_deref(), &event, code)
}

/// Loads the policy (its `audit_log` into `policy_log`), opens the key and unseals, appending the
/// success line before DIR is published.
fn unseal(args: &Args, policy_log: &mut Option<PathBuf>) -> Attempt<UnsealOutcome, DeployError> {
    let policy = args.policy_load.load(&args.policy, &args.key_files)?;
    *policy_log = policy.audit_log().map(Path::to_path_buf);
    let identity = args.key_files.open_identity(&args.key)?;
    let options = UnsealOptions {
        model_name: args.model_name.clone(),
        signatures: args.signatures.clone(),
    };
    let mut record = |outcome: &UnsealOutcome| {
        let event = report::unseal_event(&args.encrypted, &args.key, &args.policy, Ok(outcome));
        args.audit.append(policy.audit_log(), &event)
    };
    let bar = args.output.bar("unsealing");
    let outcome = unseal_model_recorded(
        &args.encrypted,
        &policy,
        identity.as_ref(),
        &args.out,
        &options,
        &mut record,
        &bar,
    );
    bar.finish();
    Ok(outcome)
}

fn print(args: &Args, outcome: &UnsealOutcome) -> ExitCode {
    if args.output.json {
        print_json(&UnsealReport::new(&args.out, outcome));
    } else if !args.output.quiet {
        let verb = if outcome.already_unsealed() {
            "already unsealed"
        } else {
            "unsealed"
        };
        print_line(
            &modelseal::text::Escaped(format_args!(
                "{verb} {} -> {} as {:?} under {}, signed by {}",
                args.encrypted.display(),
                args.out.display(),
                outcome.inner.model_name(),
                outcome.inner.rule_label(),
                outcome.inner.signers().join(", ")
            ))
            .to_string(),
        );
    }
    ExitCode::SUCCESS
}
