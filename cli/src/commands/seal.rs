//! `modelseal seal`: sign a model, encrypt it with its signature inside, sign the encrypted model.

use super::{as_recipients, open_recipients, EncryptOutArgs, SigningRunArgs};
use crate::audit::{ended, Attempt};
use crate::output::{hex, print_json};
use modelseal::deploy::{seal_model_with_progress, DeployError, SealOptions, SealOutcome};
use modelseal::report::{self, Failure, SealReport};
use modelseal::sign::SignError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sign MODEL, encrypt it (the signature travels inside, encrypted) for every recipient to ENC,
/// and sign ENC (ENC.sig), so a registry can verify what it stores without a decryption key.
///
/// Co-signing: with --key repeated, every key signs both the plaintext and ENC; the signatures
/// are claims files, one signature per key (modelseal.sig.jsonl inside, ENC.sig.jsonl beside),
/// so a policy rule requiring several signers is met at unseal. `modelseal endorse` adds a
/// co-signature later, without a decryption key.
#[derive(Debug, clap::Args)]
// The shared flags, in seal's words: ENC and its signature are both written, and both signed.
#[command(mut_arg("model_name", |a| a.help(
    "Model name recorded in the envelope (what policies match) [default: MODEL's name]")))]
#[command(mut_arg("force", |a| a.help(
    "Replace an existing ENC and its signature (else both are refused before any work)")))]
#[command(mut_arg("allow_symlinks", |a| a.help(
    "Sign and encrypt a symlink to a file as its target's bytes instead of refusing it (a \
     Hugging Face cache snapshot, whose files link into ../../blobs)")))]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// Signing key reference (signs the plaintext and the encrypted model); repeatable: each key
    /// signs both, into claims files (ENC.sig.jsonl beside ENC, modelseal.sig.jsonl inside).
    #[arg(long = "key", value_name = "REF", required = true)]
    keys: Vec<String>,
    /// Signing certificate (PEM) for the certificate method (with one --key).
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
    /// Where to write the signature of ENC [default: ENC.sig beside ENC; with several keys the
    /// claims file ENC.sig.jsonl].
    #[arg(long, value_name = "SIG")]
    signature: Option<PathBuf>,
    #[command(flatten)]
    out_args: EncryptOutArgs,
    #[command(flatten)]
    signing: SigningRunArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let attempt = seal(&args);
    let event = report::seal_event(
        &args.model,
        &args.keys,
        args.out_args.model_name.as_deref(),
        ended(&attempt, Failure::deploy),
    );
    let code = attempt.and_then(|result| match result {
        Ok(outcome) => Ok(print(&args, &outcome)),
        Err(DeployError::Sign(err @ SignError::Credentials(_))) => {
            Ok(super::scan::refused(&err, args.signing.run.output.json))
        }
        Err(err) => Err(err.into()),
    });
    args.signing.run.audit.record(None, &event, code)
}

fn seal(args: &Args) -> Attempt<SealOutcome, DeployError> {
    if args.cert.is_some() && args.keys.len() > 1 {
        anyhow::bail!("--cert names the certificate of one signing key; give one --key with it");
    }
    let signers = args
        .keys
        .iter()
        .map(|key| {
            args.signing
                .run
                .keys
                .open_signer(key, args.cert.as_deref(), &args.cert_chain)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signers: Vec<&dyn modelseal::keys::Signer> = signers.iter().map(|s| s.as_ref()).collect();
    let recipients = open_recipients(&args.recipients, &args.signing.run.keys.options())?;
    let options = SealOptions {
        model_name: args.out_args.model_name.clone(),
        outer_signature: args.signature.clone(),
        sign: modelseal::sign::SignOptions {
            tsa: args.signing.tsa.request()?,
            allow_symlinks: args.out_args.allow_symlinks,
            // On unless --no-scan: a sealed model is on its way to a registry (docs/scan.md).
            scan: args.signing.gate.gate(true)?,
            ..modelseal::sign::SignOptions::default()
        },
        force: args.out_args.force,
        ..SealOptions::default()
    };
    let bar = args.signing.run.output.bar("sealing");
    let outcome = seal_model_with_progress(
        &args.model,
        &signers,
        &as_recipients(&recipients),
        &args.out,
        &options,
        &bar,
    );
    bar.finish();
    Ok(outcome)
}

fn print(args: &Args, outcome: &SealOutcome) -> ExitCode {
    if args.signing.run.output.json {
        print_json(&SealReport::new(&args.model, &args.out, outcome));
    } else if !args.signing.run.output.quiet {
        say!(
            "sealed {} -> {} (signature {}), {} recipient(s), signed by {} key(s)",
            args.model.display(),
            args.out.display(),
            outcome.outer.signature_path.display(),
            outcome.encrypted.recipients.len(),
            outcome.key_hints.len()
        );
        say!(
            "root digest sha256:{}",
            hex(&outcome.inner.statement.root_digest)
        );
    }
    ExitCode::SUCCESS
}
