//! `modelseal keygen`: create a signing key pair or an encryption key.

use crate::output::print_json;
use anyhow::Context;
use modelseal::envelope::{self, KeyKind};
use modelseal::keys::{self, KeyAlgorithm};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate a key: a signing key pair (PKCS#8 PEM private key, mode 0600, and optionally its SPKI
/// PEM public key), or an encryption key — an AES-256 KEK (hex, 0600) or an X25519 / RSA-3072 key
/// pair whose public key goes to --public-out, by default PRIVATE.pub.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Key algorithm. ed25519 is a modelseal extension that model-signing 1.1.1 cannot verify;
    /// aes256-kek, x25519 and rsa3072 are encryption keys (`encrypt --recipient`, `decrypt --key`).
    #[arg(long, value_enum)]
    algorithm: Algorithm,
    /// Where to write the private (secret) key.
    #[arg(long, value_name = "PRIVATE")]
    out: PathBuf,
    /// Where to write the public key (signing keys: only when given; x25519 and rsa3072: default
    /// PRIVATE.pub; aes256-kek has none).
    #[arg(long, value_name = "PUBLIC")]
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
    #[value(name = "aes256-kek")]
    Aes256Kek,
    #[value(name = "x25519")]
    X25519,
    #[value(name = "rsa3072")]
    Rsa3072,
}

/// What an algorithm generates: a signing key pair or an encryption key.
enum Purpose {
    Signing(KeyAlgorithm),
    Encryption(KeyKind),
}

impl From<Algorithm> for Purpose {
    fn from(a: Algorithm) -> Purpose {
        match a {
            Algorithm::EcP256 => Purpose::Signing(KeyAlgorithm::EcP256),
            Algorithm::EcP384 => Purpose::Signing(KeyAlgorithm::EcP384),
            Algorithm::EcP521 => Purpose::Signing(KeyAlgorithm::EcP521),
            Algorithm::Ed25519 => Purpose::Signing(KeyAlgorithm::Ed25519),
            Algorithm::Aes256Kek => Purpose::Encryption(KeyKind::Aes256Kek),
            Algorithm::X25519 => Purpose::Encryption(KeyKind::X25519),
            Algorithm::Rsa3072 => Purpose::Encryption(KeyKind::Rsa3072),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match Purpose::from(args.algorithm) {
        Purpose::Signing(algorithm) => signing(&args, algorithm),
        Purpose::Encryption(kind) => encryption(&args, kind),
    }
}

fn signing(args: &Args, algorithm: KeyAlgorithm) -> anyhow::Result<ExitCode> {
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

fn encryption(args: &Args, kind: KeyKind) -> anyhow::Result<ExitCode> {
    let generated =
        envelope::generate_key_files(kind, &args.out, args.public_out.as_deref(), args.force)
            .context("cannot generate key")?;
    if args.json {
        print_json(&json!({
            "algorithm": generated.stanza_type,
            "private_key": generated.secret,
            "public_key": generated.public,
            "key_id": generated.key_id,
        }));
    } else {
        println!(
            "wrote {} ({}, key id {})",
            generated.secret.display(),
            generated.stanza_type,
            generated.key_id
        );
        if let Some(p) = &generated.public {
            println!(
                "wrote {} (give this one to encrypt --recipient)",
                p.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
