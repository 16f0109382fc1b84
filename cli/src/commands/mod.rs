//! The verbs of the `modelseal` command line: one clap struct and one `run` per verb.

mod decrypt;
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
        Command::Encrypt(args) => encrypt::run(args),
        Command::Decrypt(args) => decrypt::run(args),
        Command::Rewrap(args) => rewrap::run(args),
        Command::Seal(args) => seal::run(args),
        Command::Unseal(args) => unseal::run(args),
        Command::Serve(args) => crate::serve::run(args),
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
}

impl KeyArgs {
    fn options(&self) -> modelseal::keys::KeyOptions {
        modelseal::keys::KeyOptions {
            password_file: self.key_password_file.clone(),
            ..self.permissions.options()
        }
    }

    /// Opens the signer `key` names, with the leaf certificate `cert` (and `chain`) attached for
    /// the certificate method; the error names the key reference.
    fn open_signer(
        &self,
        key: &str,
        cert: Option<&std::path::Path>,
        chain: &[std::path::PathBuf],
    ) -> anyhow::Result<Box<dyn modelseal::keys::Signer>> {
        use anyhow::Context as _;
        let reference: modelseal::keys::KeyRef = key.parse()?;
        let options = self.options();
        match cert {
            Some(leaf) => {
                modelseal::keys::open::open_certificate_signer(&reference, &options, leaf, chain)
            }
            None => modelseal::keys::open::open_signer(&reference, &options),
        }
        .with_context(|| format!("cannot open signing key {key}"))
    }
}
