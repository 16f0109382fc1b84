//! `modelseal decrypt`: decrypt an encrypted model; OUT appears only if every byte authenticated.

use super::{KeyFileArgs, RunArgs};
use crate::audit::{ended, Attempt};
use crate::output::{report_failure, set_result};
use modelseal::envelope::{self, DecryptOptions, DecryptSummary, SealError};
use modelseal::report::{self, DecryptReport, EnvelopeVerb, Failure, Outcome, Verb};
use std::path::PathBuf;
use std::process::ExitCode;

/// Decrypt ENC (an encrypted directory or file) with KEY into OUT.
///
/// Plaintext is written beside OUT under a temporary name (.OUT.modelseal-tmp.PID.*, mode
/// 0700/0600) and renamed to OUT only after every chunk of every file authenticated; a failure
/// leaves nothing. A run that was killed leaves its temporary behind; the next decrypt or encrypt to
/// the same OUT removes it. Exit 0 decrypted, 1 authentication failed (wrong key, tampered,
/// truncated), 2 usage or input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The encrypted model (directory or file).
    encrypted: PathBuf,
    /// The private key reference: an aes256-kek key file, an X25519 or RSA private key file, or a
    /// `pkcs11:` URI of an AES-256 or RSA key in a token (docs/pkcs11.md), or a symmetric AWS KMS
    /// key (awskms:///<key-id|alias/name|arn>, awskms://HOST:PORT/<key>; docs/kms.md).
    #[arg(long, value_name = "REF")]
    key: String,
    /// Where to write the decrypted model.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// Replace an existing OUT (atomically, after everything authenticated).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    run: RunArgs<KeyFileArgs>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let attempt = decrypt(&args);
    let event = report::decrypt_event(
        &args.encrypted,
        &args.key,
        ended(&attempt, Failure::envelope),
    );
    let code = attempt.map(|result| match result {
        Ok(summary) => print(&args, &summary),
        Err(err) => {
            let outcome = EnvelopeVerb::Decrypt.failure(&args.encrypted, &err);
            report_failure(outcome, "decryption", err.class(), &err)
        }
    });
    args.run.audit.record(None, &event, code)
}

fn decrypt(args: &Args) -> Attempt<DecryptSummary, SealError> {
    let identity = args.run.keys.open_identity(&args.key)?;
    let options = DecryptOptions {
        overwrite: args.force,
        ..DecryptOptions::default()
    };
    let bar = args.run.output.bar("decrypting");
    let result = envelope::decrypt_with_progress(
        &args.encrypted,
        identity.as_ref(),
        &args.out,
        &options,
        &bar,
    );
    bar.finish();
    Ok(result)
}

fn print(args: &Args, summary: &DecryptSummary) -> ExitCode {
    let report = DecryptReport::new(&args.encrypted, &args.out, summary);
    set_result(Outcome::ok(Verb::Decrypt, &report));
    if args.run.output.text() {
        say!(
            "decrypted {} ({} files, {} bytes) -> {}",
            args.encrypted.display(),
            summary.files,
            summary.bytes,
            args.out.display()
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
