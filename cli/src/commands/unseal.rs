//! `modelseal unseal`: verify an encrypted model under a policy, decrypt it, verify the plaintext,
//! and only then publish it (files 0400, directories 0500). The Kubernetes init step.

use super::KeyFileArgs;
use crate::audit::{audited, Audit, AuditArgs};
use crate::output::{exit_failed, exit_input, print_json};
use modelseal::audit::{AuditEvent, Operation};
use modelseal::deploy::{unseal_model, DeployError, UnsealOptions};
use modelseal::keys;
use modelseal::policy::Policy;
use serde_json::json;
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
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No informational output.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    key_files: KeyFileArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    audited(&args.audit, Operation::Unseal, &args.encrypted, |audit| {
        unseal(&args, audit)
    })
}

fn unseal(args: &Args, audit: &mut Audit) -> anyhow::Result<ExitCode> {
    audit.event = AuditEvent::unseal(&args.encrypted, &args.key, &args.policy);
    let policy = Policy::load(&args.policy)?;
    audit.policy_log = policy.audit_log().map(Path::to_path_buf);
    let identity = keys::open::identity(&args.key, &args.key_files.options())?;
    let options = UnsealOptions {
        model_name: args.model_name.clone(),
        signature: args.signature.clone(),
    };
    let result = unseal_model(
        &args.encrypted,
        &policy,
        identity.as_ref(),
        &args.out,
        &options,
    );
    audit.event.unseal_result(result.as_ref());
    match result {
        Ok(outcome) => {
            if args.json {
                print_json(&json!({
                    "unsealed": true,
                    "out": args.out,
                    "model_name": outcome.inner.model_name,
                    "root_digest": outcome.inner.root_digest,
                    "signers": outcome.inner.signers,
                    "rule": outcome.inner.rule_label(),
                    "outer": outcome.outer.to_json(),
                    "inner": outcome.inner.to_json(),
                    "reasons": [],
                }));
            } else if !args.quiet {
                println!(
                    "unsealed {} -> {} as {:?} under {}, signed by {}",
                    args.encrypted.display(),
                    args.out.display(),
                    outcome.inner.model_name,
                    outcome.inner.rule_label(),
                    outcome.inner.signers.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => Ok(report_failure(args, &err)),
    }
}

fn report_failure(args: &Args, err: &DeployError) -> ExitCode {
    let failed = err.class().is_failure();
    if args.json {
        let decision = match err {
            DeployError::Denied { stage, decision } => {
                json!({"stage": stage, "decision": decision.to_json()})
            }
            _ => serde_json::Value::Null,
        };
        print_json(&json!({
            "unsealed": false,
            "out": args.out,
            "denied": decision,
            "reasons": err.reasons(),
        }));
    }
    if failed {
        eprintln!("unseal FAILED: {err}");
        exit_failed()
    } else {
        eprintln!("error: {err}");
        exit_input()
    }
}
