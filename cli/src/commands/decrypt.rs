//! `modelseal decrypt`: decrypt an encrypted model; OUT appears only if every byte authenticated.

use super::KeyFileArgs;
use crate::audit::{audited, Audit, AuditArgs};
use crate::output::{hex, print_json, seal_failure};
use crate::progress::Bar;
use modelseal::audit::Operation;
use modelseal::envelope::{self, DecryptOptions};
use modelseal::keys;
use serde_json::json;
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
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar and no informational output.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    key_files: KeyFileArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    audited(&args.audit, Operation::Decrypt, &args.encrypted, |audit| {
        decrypt(&args, audit)
    })
}

fn decrypt(args: &Args, audit: &mut Audit) -> anyhow::Result<ExitCode> {
    audit.event.key_ids.push(args.key.clone());
    let identity = keys::open::identity(&args.key, &args.key_files.options())?;
    let options = DecryptOptions {
        overwrite: args.force,
        ..DecryptOptions::default()
    };
    let bar = Bar::new("decrypting", args.quiet || args.json);
    let result = envelope::decrypt_with_progress(
        &args.encrypted,
        identity.as_ref(),
        &args.out,
        &options,
        &bar,
    );
    bar.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(err) => {
            audit.seal_failed(&err);
            return seal_failure(err, "decrypted", "decryption", args.json);
        }
    };
    audit.event.model_name = Some(summary.model_name.clone());
    audit
        .event
        .key_ids
        .push(format!("{}:{}", summary.recipient.0, summary.recipient.1));
    if args.json {
        print_json(&json!({
            "decrypted": true,
            "encrypted": args.encrypted,
            "out": args.out,
            "model_name": summary.model_name,
            "files": summary.files,
            "bytes": summary.bytes,
            "body_digest": hex(&summary.body_digest),
            "recipient": {"type": summary.recipient.0, "key_id": summary.recipient.1},
            "errors": [],
        }));
    } else if !args.quiet {
        println!(
            "decrypted {} ({} files, {} bytes) -> {}",
            args.encrypted.display(),
            summary.files,
            summary.bytes,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
