//! `modelseal seal`: sign a model, encrypt it with its signature inside, sign the encrypted model.

use super::scan::GateArgs;
use super::{as_recipients, open_recipients, KeyArgs, OutputArgs, TsaArgs};
use crate::audit::{ended, Attempt, AuditArgs};
use crate::output::{hex, print_json};
use modelseal::deploy::{seal_model, DeployError, SealOptions, SealOutcome};
use modelseal::report::{self, Failure, SealReport};
use modelseal::sign::SignError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sign MODEL, encrypt it (the signature travels inside, encrypted) for every recipient to ENC,
/// and sign ENC (ENC.sig), so a registry can verify what it stores without a decryption key.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// Signing key reference (signs the plaintext and the encrypted model).
    #[arg(long)]
    key: String,
    /// Signing certificate (PEM) for the certificate method.
    #[arg(long, value_name = "LEAF.pem")]
    cert: Option<PathBuf>,
    /// Certificates to embed after the leaf (PEM; repeatable).
    #[arg(long = "cert-chain", value_name = "CHAIN.pem", requires = "cert")]
    cert_chain: Vec<PathBuf>,
    /// Recipient key reference (repeatable): a KEK file, an X25519 or RSA public key file.
    #[arg(long = "recipient", value_name = "REF", required = true)]
    recipients: Vec<String>,
    /// The encrypted model directory to create.
    #[arg(short = 'o', long = "out", value_name = "ENC")]
    out: PathBuf,
    /// Where to write the signature of ENC [default: ENC.sig beside ENC].
    #[arg(long, value_name = "SIG")]
    signature: Option<PathBuf>,
    /// Model name recorded in the envelope (what policies match) [default: MODEL's name].
    #[arg(long, value_name = "NAME")]
    model_name: Option<String>,
    /// Replace an existing ENC and its signature (else both are refused before any work).
    #[arg(long)]
    force: bool,
    /// Sign and encrypt a symlink to a file as its target's bytes instead of refusing it (a
    /// Hugging Face cache snapshot, whose files link into ../../blobs).
    #[arg(long)]
    allow_symlinks: bool,
    #[command(flatten)]
    tsa: TsaArgs,
    #[command(flatten)]
    gate: GateArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key_args: KeyArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let attempt = seal(&args);
    let event = report::seal_event(
        &args.model,
        &args.key,
        args.model_name.as_deref(),
        ended(&attempt, Failure::deploy),
    );
    let code = attempt.and_then(|result| match result {
        Ok(outcome) => Ok(print(&args, &outcome)),
        Err(DeployError::Sign(err @ SignError::Credentials(_))) => {
            Ok(super::scan::refused(&err, args.output.json))
        }
        Err(err) => Err(err.into()),
    });
    args.audit.record(None, &event, code)
}

fn seal(args: &Args) -> Attempt<SealOutcome, DeployError> {
    let signer = args
        .key_args
        .open_signer(&args.key, args.cert.as_deref(), &args.cert_chain)?;
    let recipients = open_recipients(&args.recipients, &args.key_args.options())?;
    let options = SealOptions {
        model_name: args.model_name.clone(),
        outer_signature: args.signature.clone(),
        sign: modelseal::sign::SignOptions {
            tsa: args.tsa.request()?,
            allow_symlinks: args.allow_symlinks,
            // On unless --no-scan: a sealed model is on its way to a registry (docs/scan.md).
            scan: args.gate.gate(true)?,
            ..modelseal::sign::SignOptions::default()
        },
        force: args.force,
        ..SealOptions::default()
    };
    Ok(seal_model(
        &args.model,
        signer.as_ref(),
        &as_recipients(&recipients),
        &args.out,
        &options,
    ))
}

fn print(args: &Args, outcome: &SealOutcome) -> ExitCode {
    if args.output.json {
        print_json(&SealReport::new(&args.model, &args.out, outcome));
    } else if !args.output.quiet {
        say!(
            "sealed {} -> {} (signature {}), {} recipient(s)",
            args.model.display(),
            args.out.display(),
            outcome.outer.signature_path.display(),
            outcome.encrypted.recipients.len()
        );
        say!(
            "root digest sha256:{}",
            hex(&outcome.inner.statement.root_digest)
        );
    }
    ExitCode::SUCCESS
}
