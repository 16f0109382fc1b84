//! `modelseal seal`: sign a model, encrypt it with its signature inside, sign the encrypted model.

use super::KeyArgs;
use crate::audit::{audited, Audit, AuditArgs};
use crate::output::{hex, print_json, recipients_json};
use modelseal::audit::{AuditEvent, Operation};
use modelseal::deploy::{seal_model, SealOptions};
use modelseal::keys;
use serde_json::json;
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
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No informational output.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    key_args: KeyArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    audited(&args.audit, Operation::Seal, &args.model, |audit| {
        seal(&args, audit)
    })
}

fn seal(args: &Args, audit: &mut Audit) -> anyhow::Result<ExitCode> {
    audit.event = AuditEvent::seal(&args.model, &args.key);
    let signer = args
        .key_args
        .open_signer(&args.key, args.cert.as_deref(), &args.cert_chain)?;
    let key_options = args.key_args.options();
    let recipients = args
        .recipients
        .iter()
        .map(|r| keys::open::recipient(r, &key_options))
        .collect::<Result<Vec<_>, _>>()?;
    let recipients: Vec<&dyn keys::Recipient> = recipients.iter().map(|r| r.as_ref()).collect();
    let options = SealOptions {
        model_name: args.model_name.clone(),
        outer_signature: args.signature.clone(),
        ..SealOptions::default()
    };
    let result = seal_model(
        &args.model,
        signer.as_ref(),
        &recipients,
        &args.out,
        &options,
    );
    audit
        .event
        .seal_result(args.model_name.as_deref(), result.as_ref());
    let outcome = result?;
    let root_digest = hex(&outcome.inner.statement.root_digest);
    if args.json {
        print_json(&json!({
            "sealed": true,
            "model": args.model,
            "out": args.out,
            "signature": outcome.outer.signature_path,
            "root_digest": root_digest,
            "encrypted_root_digest": hex(&outcome.outer.statement.root_digest),
            "files": outcome.encrypted.files,
            "recipients": recipients_json(&outcome.encrypted.recipients),
        }));
    } else if !args.quiet {
        println!(
            "sealed {} -> {} (signature {}), {} recipient(s)",
            args.model.display(),
            args.out.display(),
            outcome.outer.signature_path.display(),
            outcome.encrypted.recipients.len()
        );
        println!("root digest sha256:{root_digest}");
    }
    Ok(ExitCode::SUCCESS)
}
