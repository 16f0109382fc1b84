//! `modelseal encrypt`: envelope-encrypt a model directory or file for one or more recipients.

use super::{as_recipients, open_recipients, EncryptOutArgs, KeyFileArgs, RunArgs};
use crate::audit::{ended, Attempt};
use crate::output::set_result;
use modelseal::envelope::{self, EncryptOptions, EncryptSummary, SealError};
use modelseal::report::{self, EncryptReport, Failure, Outcome, Verb};
use std::path::PathBuf;
use std::process::ExitCode;

/// Encrypt MODEL (a directory or a single file) to OUT for every --recipient (docs/FORMAT.md).
///
/// A directory becomes a directory of the same tree plus `modelseal.envelope`; a file becomes one
/// file. OUT appears only when complete.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// Recipient key reference: an aes256-kek key file, an X25519 or RSA public key file, or a
    /// `pkcs11:` URI of an AES-256 or RSA key in a token, or a symmetric AWS KMS key
    /// (awskms:///<key-id|alias/name|arn>) (repeatable; each one can decrypt).
    #[arg(long = "recipient", value_name = "REF", required = true)]
    recipients: Vec<String>,
    /// Where to write the encrypted model.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// Plaintext bytes per chunk: a power of two from 4096 to 16777216 [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    chunk_size: Option<u32>,
    #[command(flatten)]
    out_args: EncryptOutArgs,
    #[command(flatten)]
    run: RunArgs<KeyFileArgs>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let attempt = encrypt(&args);
    let event = report::encrypt_event(
        &args.model,
        &args.recipients,
        ended(&attempt, |e| Failure::error(e)).map(|(summary, _)| summary),
    );
    let code = attempt.and_then(|result| match result {
        Ok((summary, chunk_size)) => Ok(print(&args, &summary, chunk_size)),
        Err(err) => Err(err.into()),
    });
    args.run.audit.record(None, &event, code)
}

/// Opens the recipients and encrypts: the summary and the chunk size.
fn encrypt(args: &Args) -> Attempt<(EncryptSummary, u32), SealError> {
    let recipients = open_recipients(&args.recipients, &args.run.keys.options())?;
    let input = envelope::plaintext_following_symlinks(&args.model, args.out_args.allow_symlinks)?;
    let options = EncryptOptions {
        chunk_size: args
            .chunk_size
            .unwrap_or(EncryptOptions::default().chunk_size),
        overwrite: args.out_args.force,
        model_name: args.out_args.model_name.clone(),
    };
    let bar = args.run.output.bar("encrypting");
    let summary = envelope::encrypt_with_progress(
        &input,
        &as_recipients(&recipients),
        &args.out,
        &options,
        &bar,
    );
    bar.finish();
    Ok(summary.map(|s| (s, options.chunk_size)))
}

fn print(args: &Args, summary: &EncryptSummary, chunk_size: u32) -> ExitCode {
    let report = EncryptReport::new(&args.model, &args.out, chunk_size, summary);
    set_result(Outcome::ok(Verb::Encrypt, &report));
    if args.run.output.text() {
        say!(
            "encrypted {} ({} files, {} bytes) -> {} for {} recipient(s)",
            args.model.display(),
            summary.files,
            summary.bytes,
            args.out.display(),
            summary.recipients.len()
        );
    }
    ExitCode::SUCCESS
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.run.output.json
    }
}
