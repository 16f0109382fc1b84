//! `modelseal rewrap`: add or remove recipients of an encrypted model without re-encrypting it.

use super::{as_recipients, open_recipients, KeyFileArgs};
use crate::audit::{ended, Attempt, AuditArgs};
use crate::output::{report_failure, set_result};
use modelseal::envelope::{self, SealError};
use modelseal::report::{self, EnvelopeVerb, Failure, Outcome, RewrapReport, Verb};
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
    /// Remove the recipient with this key id, as `inspect` shows it, or of this key reference (a
    /// public key file, a KEK file, a `pkcs11:` or `awskms://` key) (repeatable).
    #[arg(long = "remove-recipient", value_name = "KEYID|REF")]
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
    let attempt = rewrap(&args);
    let event = report::rewrap_event(
        &args.encrypted,
        &args.key,
        &args.recipients,
        &args.remove,
        ended(&attempt, Failure::envelope).map(|_| ()),
    );
    let code = attempt.map(|result| match result {
        Ok(recipients) => print(&args, &recipients),
        Err(err) => {
            let outcome = EnvelopeVerb::Rewrap.failure(&args.encrypted, &err);
            report_failure(outcome, "rewrap", err.class(), &err)
        }
    });
    args.audit.record(None, &event, code)
}

/// The recipients afterwards, `(type, key_id)`.
fn rewrap(args: &Args) -> Attempt<Vec<(String, String)>, SealError> {
    if args.recipients.is_empty() && args.remove.is_empty() {
        anyhow::bail!("nothing to do: give --recipient and/or --remove-recipient");
    }
    let identity = args.key_files.open_identity(&args.key)?;
    let add = open_recipients(&args.recipients, &args.key_files.options())?;
    let remove = args
        .remove
        .iter()
        .map(|r| modelseal::keys::removal_key_id(r, &args.key_files.options()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(envelope::rewrap_key_ids(
        &args.encrypted,
        identity.as_ref(),
        &as_recipients(&add),
        &remove,
    ))
}

fn print(args: &Args, recipients: &[(String, String)]) -> ExitCode {
    set_result(Outcome::ok(
        Verb::Rewrap,
        &RewrapReport::new(&args.encrypted, recipients),
    ));
    if !args.json {
        say!(
            "rewrapped {}: {} recipient(s)",
            args.encrypted.display(),
            recipients.len()
        );
        for (t, k) in recipients {
            say!("  {t} {k}");
        }
    }
    ExitCode::SUCCESS
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
