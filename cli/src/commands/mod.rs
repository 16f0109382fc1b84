//! The verbs of the `modelseal` command line: one clap struct and one `run` per verb.

mod decrypt;
mod digest;
mod encrypt;
mod inspect;
mod keygen;
mod pubkey;
mod rewrap;
mod seal;
mod sign;
mod unseal;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Sign, verify and inspect machine-learning models in the OpenSSF Model Signing (OMS) format, and
/// envelope-encrypt them.
///
/// Exit codes: 0 success, 1 verification or decryption failed, 2 usage or input error.
#[derive(Debug, Parser)]
#[command(name = "modelseal", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(keygen::Args),
    Pubkey(pubkey::Args),
    Sign(sign::Args),
    Verify(verify::Args),
    Inspect(inspect::Args),
    Digest(digest::Args),
    Encrypt(encrypt::Args),
    Decrypt(decrypt::Args),
    Rewrap(rewrap::Args),
    Seal(seal::Args),
    Unseal(unseal::Args),
    Serve(crate::serve::Args),
}

/// Runs the chosen verb. `Err` means a usage or input error (exit code 2).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Pubkey(args) => pubkey::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Digest(args) => digest::run(args),
        Command::Encrypt(args) => encrypt::run(args),
        Command::Decrypt(args) => decrypt::run(args),
        Command::Rewrap(args) => rewrap::run(args),
        Command::Seal(args) => seal::run(args),
        Command::Unseal(args) => unseal::run(args),
        Command::Serve(args) => crate::serve::run(args),
    }
}

/// `--json` and `--quiet`, shared by the verbs that print a result and show progress.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar and no informational output.
    #[arg(long, short = 'q')]
    quiet: bool,
}

impl OutputArgs {
    /// Whether progress bars are off (with `--quiet`, and with `--json`: stdout is the result).
    fn no_progress(&self) -> bool {
        self.quiet || self.json
    }

    /// Whether the human text is printed (neither `--json` nor `--quiet`).
    fn text(&self) -> bool {
        !self.quiet && !self.json
    }
}

/// Options shared by every verb that opens a private key.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// File holding the passphrase of an encrypted PKCS#8 private key (never pass secrets in argv).
    #[arg(long, value_name = "FILE")]
    key_password_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    permissions: KeyFileArgs,
}

/// The permission override of every verb that reads a secret key file (private key, KEK,
/// passphrase).
#[derive(Debug, clap::Args)]
pub struct KeyFileArgs {
    /// Accept private key, KEK and passphrase files that group or others can read.
    #[arg(long)]
    allow_insecure_key_permissions: bool,
}

impl KeyFileArgs {
    /// Key options with only the permission override set.
    fn options(&self) -> modelseal::keys::KeyOptions {
        modelseal::keys::KeyOptions {
            allow_insecure_permissions: self.allow_insecure_key_permissions,
            ..modelseal::keys::KeyOptions::default()
        }
    }

    /// Opens the decryption key (identity) `key` names.
    fn open_identity(
        &self,
        key: &str,
    ) -> Result<Box<dyn modelseal::keys::Identity>, modelseal::envelope::SealError> {
        Ok(modelseal::keys::identity(key, &self.options())?)
    }
}

/// Opens every recipient key reference of `refs` with `options`.
fn open_recipients(
    refs: &[String],
    options: &modelseal::keys::KeyOptions,
) -> Result<Vec<Box<dyn modelseal::keys::Recipient>>, modelseal::envelope::SealError> {
    refs.iter()
        .map(|r| Ok(modelseal::keys::recipient(r, options)?))
        .collect()
}

/// The recipients as the encryption functions take them.
fn as_recipients(
    recipients: &[Box<dyn modelseal::keys::Recipient>],
) -> Vec<&dyn modelseal::keys::Recipient> {
    recipients.iter().map(|r| r.as_ref()).collect()
}

impl KeyArgs {
    fn options(&self) -> modelseal::keys::KeyOptions {
        modelseal::keys::KeyOptions {
            password_file: self.key_password_file.clone(),
            ..self.permissions.options()
        }
    }

    /// Opens the signer `key` names, with the leaf certificate `cert` (and `chain`) attached for
    /// the certificate method.
    fn open_signer(
        &self,
        key: &str,
        cert: Option<&std::path::Path>,
        chain: &[std::path::PathBuf],
    ) -> Result<Box<dyn modelseal::keys::Signer>, modelseal::sign::SignError> {
        modelseal::sign::open_signer(key, cert, chain, &self.options())
    }
}
