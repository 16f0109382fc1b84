//! `modelseal rewrap`: add or remove recipients of an encrypted model without re-encrypting it.

use super::KeyFileArgs;
use crate::audit::{audited, Audit, AuditArgs};
use crate::output::{print_json, recipients_json, seal_failure};
use modelseal::audit::Operation;
use modelseal::envelope;
use modelseal::keys;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Rewrap ENC: unwrap its data key with KEY, then add --recipient and remove --remove-recipient.
///
/// Only the envelope changes (directory: `modelseal.envelope`; single file: a copy of the payload
/// behind a new envelope); the encrypted data is not touched. Removing a recipient does not revoke
/// what it already had: it may have kept the data key. Exit 0 done, 1 authentication failed, 2 usage
/// or input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The encrypted model (directory or file).
    encrypted: PathBuf,
    /// A private key reference that can decrypt ENC now.
    #[arg(long, value_name = "REF")]
    key: String,
    /// Add this recipient key reference (repeatable).
    #[arg(long = "recipient", value_name = "REF")]
    recipients: Vec<String>,
    /// Remove the recipient with this key id, as `inspect` shows it (repeatable).
    #[arg(long = "remove-recipient", value_name = "KEYID")]
    remove: Vec<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    key_files: KeyFileArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    audited(&args.audit, Operation::Rewrap, &args.encrypted, |audit| {
        rewrap(&args, audit)
    })
}

fn rewrap(args: &Args, audit: &mut Audit) -> anyhow::Result<ExitCode> {
    audit.event.key_ids.push(args.key.clone());
    audit.event.key_ids.extend(args.recipients.iter().cloned());
    audit
        .event
        .key_ids
        .extend(args.remove.iter().map(|k| format!("removed:{k}")));
    if args.recipients.is_empty() && args.remove.is_empty() {
        anyhow::bail!("nothing to do: give --recipient and/or --remove-recipient");
    }
    let key_options = args.key_files.options();
    let identity = keys::open::identity(&args.key, &key_options)?;
    let add = args
        .recipients
        .iter()
        .map(|r| keys::open::recipient(r, &key_options))
        .collect::<Result<Vec<_>, _>>()?;
    let add: Vec<&dyn keys::Recipient> = add.iter().map(|r| r.as_ref()).collect();
    let recipients =
        match envelope::rewrap_key_ids(&args.encrypted, identity.as_ref(), &add, &args.remove) {
            Ok(recipients) => recipients,
            Err(err) => {
                audit.seal_failed(&err);
                return seal_failure(err, "rewrapped", "rewrap", args.json);
            }
        };
    if args.json {
        print_json(&json!({
            "rewrapped": true,
            "encrypted": args.encrypted,
            "recipients": recipients_json(&recipients),
            "errors": [],
        }));
    } else {
        println!(
            "rewrapped {}: {} recipient(s)",
            args.encrypted.display(),
            recipients.len()
        );
        for (t, k) in &recipients {
            println!("  {t} {k}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
