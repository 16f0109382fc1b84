//! `modelseal keygen`: create a signing key pair.

use crate::output::print_json;
use anyhow::Context;
use modelseal::keys::{self, KeyAlgorithm};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate a private key (PKCS#8 PEM, mode 0600) and optionally its public key (SPKI PEM).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Key algorithm. ed25519 is a modelseal extension that model-signing 1.1.1 cannot verify.
    #[arg(long, value_enum)]
    algorithm: Algorithm,
    /// Where to write the private key.
    #[arg(long, value_name = "PRIVATE.pem")]
    out: PathBuf,
    /// Where to write the public key.
    #[arg(long, value_name = "PUBLIC.pem")]
    public_out: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Algorithm {
    EcP256,
    EcP384,
    EcP521,
    Ed25519,
}

impl From<Algorithm> for KeyAlgorithm {
    fn from(a: Algorithm) -> KeyAlgorithm {
        match a {
            Algorithm::EcP256 => KeyAlgorithm::EcP256,
            Algorithm::EcP384 => KeyAlgorithm::EcP384,
            Algorithm::EcP521 => KeyAlgorithm::EcP521,
            Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let algorithm = KeyAlgorithm::from(args.algorithm);
    let public = keys::generate(algorithm, &args.out, args.public_out.as_deref(), args.force)
        .context("cannot generate key")?;
    if !algorithm.oms_interoperable() {
        eprintln!(
            "warning: {} signatures are a modelseal extension: model-signing 1.1.1 cannot verify them",
            algorithm.name()
        );
    }
    if args.json {
        print_json(&json!({
            "algorithm": algorithm.name(),
            "private_key": args.out,
            "public_key": args.public_out,
            "key_hint": public.hint(),
        }));
    } else {
        println!("wrote {} ({})", args.out.display(), algorithm.name());
        if let Some(p) = &args.public_out {
            println!("wrote {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
