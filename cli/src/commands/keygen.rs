//! `modelseal keygen`: create a signing key pair or an encryption key.

use crate::output::set_result;
use anyhow::Context;
use modelseal::keys::{generate, GeneratedKey};
use modelseal::keys::{KeyAlgorithm, KeyKind};
use modelseal::report::{KeygenReport, Outcome, Verb};
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate a key: a signing key pair (PKCS#8 PEM private key, mode 0600, and optionally its SPKI
/// PEM public key), or an encryption key — an AES-256 KEK (hex, 0600) or an X25519 / RSA-3072 key
/// pair whose public key goes to --public-out, by default PRIVATE.pub.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Key algorithm. ed25519 is a modelseal extension that model-signing 1.1.1 cannot verify;
    /// aes256-kek, x25519 and rsa3072 are encryption keys (`encrypt --recipient`, `decrypt --key`).
    #[arg(long, value_parser = algorithm_names())]
    algorithm: String,
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

/// The names `--algorithm` takes: the one list of key kinds in core.
fn algorithm_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(KeyKind::ALL.map(KeyKind::name))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let kind = KeyKind::from_name(&args.algorithm)
        .with_context(|| format!("unknown key algorithm {:?}", args.algorithm))?;
    let generated = generate(kind, &args.out, args.public_out.as_deref(), args.force)
        .context("cannot generate key")?;
    match kind.signing_algorithm() {
        Some(algorithm) => signing(&args, algorithm, &generated),
        None => encryption(&args, &generated),
    }
}

fn signing(
    args: &Args,
    algorithm: KeyAlgorithm,
    generated: &GeneratedKey,
) -> anyhow::Result<ExitCode> {
    if !algorithm.oms_interoperable() {
        say_err!(
            "warning: {} signatures are a modelseal extension: model-signing 1.1.1 cannot verify them",
            algorithm.name()
        );
    }
    set_result(Outcome::ok(Verb::Keygen, &KeygenReport::new(generated)));
    if !args.json {
        say!("wrote {} ({})", args.out.display(), algorithm.name());
        if let Some(p) = &args.public_out {
            say!("wrote {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn encryption(args: &Args, generated: &GeneratedKey) -> anyhow::Result<ExitCode> {
    let stanza_type = generated.stanza_type.unwrap_or_default();
    set_result(Outcome::ok(Verb::Keygen, &KeygenReport::new(generated)));
    if !args.json {
        say!(
            "wrote {} ({}, key id {})",
            generated.secret.display(),
            stanza_type,
            generated.key_id
        );
        if let Some(p) = &generated.public {
            say!(
                "wrote {} (give this one to encrypt --recipient)",
                p.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
