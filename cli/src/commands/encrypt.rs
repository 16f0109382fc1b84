//! `modelseal encrypt`: envelope-encrypt a model directory or file for one or more recipients.

use super::KeyFileArgs;
use crate::audit::{audited, Audit, AuditArgs};
use crate::output::{hex, print_json, recipients_json};
use crate::progress::Bar;
use modelseal::audit::Operation;
use modelseal::envelope::{self, EncryptOptions};
use modelseal::keys;
use serde_json::json;
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
    /// Replace an existing OUT (atomically).
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
    audited(&args.audit, Operation::Encrypt, &args.model, |audit| {
        encrypt(&args, audit)
    })
}

fn encrypt(args: &Args, audit: &mut Audit) -> anyhow::Result<ExitCode> {
    audit.event.key_ids.extend(args.recipients.iter().cloned());
    let key_options = args.key_files.options();
    let recipients = args
        .recipients
        .iter()
        .map(|r| keys::open::recipient(r, &key_options))
        .collect::<Result<Vec<_>, _>>()?;
    let recipients: Vec<&dyn keys::Recipient> = recipients.iter().map(|r| r.as_ref()).collect();
    let input = envelope::plaintext_from_path(&args.model)?;
    let options = EncryptOptions {
        chunk_size: args
            .chunk_size
            .unwrap_or(EncryptOptions::default().chunk_size),
        overwrite: args.force,
        ..EncryptOptions::default()
    };
    let bar = Bar::new("encrypting", args.quiet || args.json);
    let summary = envelope::encrypt_with_progress(&input, &recipients, &args.out, &options, &bar);
    bar.finish();
    let summary = summary?;
    audit.event.key_ids = key_ids(&summary.recipients);
    if args.json {
        print_json(&json!({
            "encrypted": true,
            "model": args.model,
            "out": args.out,
            "files": summary.files,
            "bytes": summary.bytes,
            "chunk_size": options.chunk_size,
            "body_digest": hex(&summary.body_digest),
            "recipients": recipients_json(&summary.recipients),
        }));
    } else if !args.quiet {
        println!(
            "encrypted {} ({} files, {} bytes) -> {} for {} recipient(s)",
            args.model.display(),
            summary.files,
            summary.bytes,
            args.out.display(),
            summary.recipients.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `type:key_id` of every stanza, for audit events.
pub fn key_ids(recipients: &[(String, String)]) -> Vec<String> {
    modelseal::audit::stanza_ids(recipients)
}
