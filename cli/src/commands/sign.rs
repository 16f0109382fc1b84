//! `modelseal sign`: sign a model directory or file.

use super::KeyArgs;
use crate::audit::{audited, Audit, AuditArgs};
use crate::output::{hex, print_json, serialization_json, serialization_text};
use crate::progress::Bar;
use modelseal::audit::Operation;
use modelseal::digest::{HashAlgorithm, Method, DEFAULT_SHARD_SIZE};
use modelseal::sign::{sign_model, SignOptions};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sign MODEL (a directory or a single file) and write an OMS signature (Sigstore bundle).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// Signing key reference: a private key file (PEM: PKCS#8, SEC1 or encrypted PKCS#8), a
    /// `pkcs11:` URI of an EC key in a token (RFC 7512; docs/pkcs11.md), or an AWS KMS
    /// ECC_NIST_P256/P384 key (awskms:///<key-id|alias/name|arn>, awskms://HOST:PORT/<key>).
    #[arg(long)]
    key: String,
    /// Where to write the signature [default: MODEL.sig beside the model].
    #[arg(short = 'o', long = "out", value_name = "SIG")]
    out: Option<PathBuf>,
    /// Signing certificate (PEM) for the certificate method; its key must be KEY's.
    #[arg(long, value_name = "LEAF.pem")]
    cert: Option<PathBuf>,
    /// Certificates to embed after the leaf (PEM, one or more per file; repeatable).
    #[arg(long = "cert-chain", value_name = "CHAIN.pem", requires = "cert")]
    cert_chain: Vec<PathBuf>,
    /// Hash of each file or shard.
    #[arg(long, value_enum, default_value_t = Hash::Sha256)]
    hash: Hash,
    /// Hash fixed-size shards of files (in parallel) instead of whole files.
    #[arg(long)]
    shards: bool,
    /// Shard size in bytes (with --shards).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SHARD_SIZE, requires = "shards",
          value_parser = clap::value_parser!(u64).range(1..))]
    shard_size: u64,
    /// Leave this path out (relative to the model root, or absolute inside it; repeatable).
    #[arg(long, value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Hash symlinks to files as their targets' bytes instead of refusing them.
    #[arg(long)]
    allow_symlinks: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar and no informational output.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    key_args: KeyArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Hash {
    Sha256,
    Blake2b,
    Blake3,
}

impl From<Hash> for HashAlgorithm {
    fn from(h: Hash) -> HashAlgorithm {
        match h {
            Hash::Sha256 => HashAlgorithm::Sha256,
            Hash::Blake2b => HashAlgorithm::Blake2b,
            Hash::Blake3 => HashAlgorithm::Blake3,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    audited(&args.audit, Operation::Sign, &args.model, |audit| {
        sign(&args, audit)
    })
}

fn sign(args: &Args, audit: &mut Audit) -> anyhow::Result<ExitCode> {
    audit.event.key_ids.push(args.key.clone());
    let signer = args
        .key_args
        .open_signer(&args.key, args.cert.as_deref(), &args.cert_chain)?;
    let options = SignOptions {
        hash: args.hash.into(),
        method: if args.shards {
            Method::Shards {
                shard_size: args.shard_size,
            }
        } else {
            Method::Files
        },
        ignore: args.ignore.clone(),
        allow_symlinks: args.allow_symlinks,
        signature: args.out.clone(),
    };
    let bar = Bar::new("hashing", args.quiet || args.json);
    let outcome = sign_model(&args.model, signer.as_ref(), &options, &bar);
    bar.finish();
    let outcome = outcome?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let statement = &outcome.statement;
    let root_digest = hex(&statement.root_digest);
    audit.event.key_ids.push(outcome.key_hint.clone());
    audit.event.model_name = Some(statement.subject_name.clone());
    audit.event.root_digest = Some(root_digest.clone());
    if args.json {
        print_json(&json!({
            "signed": true,
            "model": args.model,
            "signature": outcome.signature_path,
            "root_digest": root_digest,
            "resources": statement.resources.len(),
            "serialization": serialization_json(&statement.serialization),
            "signer": {
                "method": outcome.method,
                "algorithm": signer.public_key().algorithm().name(),
                "key_hint": outcome.key_hint,
            },
            "warnings": outcome.warnings,
        }));
    } else if !args.quiet {
        println!(
            "signed {} ({} resources, {}) -> {}",
            args.model.display(),
            statement.resources.len(),
            serialization_text(&statement.serialization),
            outcome.signature_path.display()
        );
        println!("root digest sha256:{root_digest}");
    }
    Ok(ExitCode::SUCCESS)
}
