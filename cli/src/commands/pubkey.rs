//! `modelseal pubkey`: export the public key of any key reference.

use super::KeyArgs;
use crate::output::set_result;
use anyhow::Context;
use modelseal::keys::{self, KeyRef};
use modelseal::report::{Outcome, PubkeyReport, Verb};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write the public key of KEY as SPKI PEM (usable with `model_signing verify key --public_key`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Key reference: a key file path (private or public PEM), a `pkcs11:` URI of an EC key pair
    /// in a token, or an AWS KMS signing key (awskms:///<key-id|alias/name|arn>,
    /// awskms://HOST:PORT/<key>).
    key: String,
    /// Where to write the public key; `-` for stdout.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "PUBLIC.pem",
        default_value = "-"
    )]
    out: PathBuf,
    #[command(flatten)]
    key_args: KeyArgs,
    /// Print one JSON object on stdout (with `-o -`, the PEM is its `public_key_pem`).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key: KeyRef = args.key.parse()?;
    let public = keys::public_key_of(&key, &args.key_args.options())
        .with_context(|| format!("cannot read the public key of {}", args.key))?;
    let pem = public.to_pem();
    let to_stdout = args.out.as_os_str() == "-";
    if to_stdout && !args.json {
        print!("{pem}");
    } else if !to_stdout {
        public
            .write_pem(&args.out)
            .with_context(|| format!("{}: cannot write", args.out.display()))?;
    }
    let report = PubkeyReport::new(&args.key, &args.out, &public, to_stdout.then_some(pem));
    set_result(Outcome::ok(Verb::Pubkey, &report));
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
