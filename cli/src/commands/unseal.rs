//! `modelseal unseal`: verify an encrypted model under a policy, decrypt it, verify the plaintext,
//! and only then publish it (files 0400, directories 0500). The Kubernetes init step.

use super::{KeyFileArgs, OutputArgs, PolicyLoadArgs};
use crate::audit::{ended, Attempt, AuditArgs};
use crate::output::{print_json, report_failure};
use modelseal::deploy::{unseal_model, DeployError, UnsealOptions, UnsealOutcome};
use modelseal::report::{self, Failure, UnsealFailure, UnsealReport};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Verify ENC (ENC.sig) under POLICY, decrypt it beside DIR, verify the plaintext signature under
/// POLICY, then move it to DIR (files 0400, directories 0500). On any failure DIR is not created
/// and nothing decrypted remains. A run that was killed leaves only its private temporary beside
/// DIR (.DIR.modelseal-tmp.PID.*, mode 0700); the next unseal into the same DIR removes it.
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
    /// The signature of ENC [default: ENC.sig beside ENC].
    #[arg(long, value_name = "ENC.sig")]
    signature: Option<PathBuf>,
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

/// Loads the policy (its `audit_log` into `policy_log`), opens the key and unseals.
fn unseal(args: &Args, policy_log: &mut Option<PathBuf>) -> Attempt<UnsealOutcome, DeployError> {
    let policy = args.policy_load.load(&args.policy, &args.key_files)?;
    *policy_log = policy.audit_log().map(Path::to_path_buf);
    let identity = args.key_files.open_identity(&args.key)?;
    let options = UnsealOptions {
        model_name: args.model_name.clone(),
        signature: args.signature.clone(),
    };
    Ok(unseal_model(
        &args.encrypted,
        &policy,
        identity.as_ref(),
        &args.out,
        &options,
    ))
}

fn print(args: &Args, outcome: &UnsealOutcome) -> ExitCode {
    if args.output.json {
        print_json(&UnsealReport::new(&args.out, outcome));
    } else if !args.output.quiet {
        say!(
            "unsealed {} -> {} as {:?} under {}, signed by {}",
            args.encrypted.display(),
            args.out.display(),
            outcome.inner.model_name(),
            outcome.inner.rule_label(),
            outcome.inner.signers().join(", ")
        );
    }
    ExitCode::SUCCESS
}
