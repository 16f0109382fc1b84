//! `modelseal sign`: sign a model directory or file.

use super::SigningRunArgs;
use crate::audit::{ended, Attempt};
use crate::output::{hex, serialization_text, set_result};
use modelseal::digest::{HashAlgorithm, Method, DEFAULT_SHARD_SIZE};
use modelseal::report::{self, Failure, Outcome, SignReport, Verb};
use modelseal::sign::{sign_model, DigestOptions, OutputMode, SignError, SignOptions, SignOutcome};
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
    /// Where to write the signature [default: MODEL.sig beside the model]. An existing file is
    /// refused without --force or --append; inside the model only a new path is allowed, and it
    /// is left out of the signed files (recorded in ignore_paths). A path ending in .jsonl is a
    /// claims file (one signature per line).
    #[arg(short = 'o', long = "out", value_name = "SIG")]
    out: Option<PathBuf>,
    /// Signing certificate (PEM) for the certificate method; its key must be KEY's.
    #[arg(long, value_name = "LEAF.pem")]
    cert: Option<PathBuf>,
    /// Certificates to embed after the leaf (PEM, one or more per file; repeatable).
    #[arg(long = "cert-chain", value_name = "CHAIN.pem", requires = "cert")]
    cert_chain: Vec<PathBuf>,
    #[command(flatten)]
    hashing: HashArgs,
    /// With --shards, for safetensors models: choose the shard size from the tensors' sizes so
    /// that reading one tensor verifies less than twice its bytes (the largest power of two at
    /// most half the smallest tensor of 2 MiB or more, 1 MiB to 1 GiB; docs/serving.md). The
    /// signature is a standard OMS shards signature.
    #[arg(long, requires = "shards", conflicts_with = "shard_size")]
    tensor_aligned: bool,
    /// Replace an existing SIG (outside the model: a file of the model is never replaced).
    #[arg(long, conflicts_with = "append")]
    force: bool,
    /// Add the signature as one more line of a claims file (SIG ending in .jsonl, created if
    /// missing); earlier lines are never rewritten. Safe with concurrent signers.
    #[arg(long)]
    append: bool,
    #[command(flatten)]
    signing: SigningRunArgs,
}

/// How to hash the model: shared by `sign` and `digest`.
#[derive(Debug, clap::Args)]
pub struct HashArgs {
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
}

impl HashArgs {
    /// The core's options for these arguments.
    pub fn options(&self) -> DigestOptions {
        DigestOptions {
            hash: self.hash.into(),
            method: if self.shards {
                Method::Shards {
                    shard_size: self.shard_size,
                }
            } else {
                Method::Files
            },
            ignore: self.ignore.clone(),
            allow_symlinks: self.allow_symlinks,
        }
    }
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
    let attempt = sign(&args);
    let event = report::sign_event(
        &args.model,
        &args.key,
        ended(&attempt, |e: &SignError| Failure::error(e)).map(|(outcome, _)| outcome),
    );
    let code = attempt.map(|result| match result {
        Ok((outcome, algorithm)) => print(&args, &outcome, algorithm),
        Err(err @ SignError::Credentials(_)) => Ok(super::scan::refused(&err, Verb::Sign)),
        Err(err) => Err(err.into()),
    });
    args.signing
        .run
        .audit
        .record(None, &event, code.and_then(|c| c))
}

/// Opens the key and signs: the outcome and the key's algorithm name.
fn sign(args: &Args) -> Attempt<(SignOutcome, &'static str), SignError> {
    let signer =
        args.signing
            .run
            .keys
            .open_signer(&args.key, args.cert.as_deref(), &args.cert_chain)?;
    let mut hashing = args.hashing.options();
    if args.tensor_aligned {
        hashing.method = Method::Shards {
            shard_size: modelseal::sign::tensor_aligned_shard_size(&args.model, &hashing)?,
        };
    }
    let options = SignOptions {
        hash: hashing.hash,
        method: hashing.method,
        ignore: hashing.ignore,
        allow_symlinks: hashing.allow_symlinks,
        signature: args.out.clone(),
        tsa: args.signing.tsa.request()?,
        output: match (args.force, args.append) {
            (_, true) => OutputMode::Append,
            (true, false) => OutputMode::Replace,
            (false, false) => OutputMode::CreateNew,
        },
        // Off unless asked for: `sign` attests bytes, also of models it did not make (docs/scan.md).
        scan: args.signing.gate.gate(false)?,
    };
    let bar = args.signing.run.output.bar("hashing");
    let outcome = sign_model(&args.model, signer.as_ref(), &options, &bar);
    bar.finish();
    let algorithm = signer.public_key().algorithm().name();
    Ok(outcome.map(|o| (o, algorithm)))
}

fn print(args: &Args, outcome: &SignOutcome, algorithm: &'static str) -> anyhow::Result<ExitCode> {
    for warning in &outcome.warnings {
        say_err!("warning: {warning}");
    }
    let statement = &outcome.statement;
    let report = SignReport::new(&args.model, outcome, algorithm);
    set_result(Outcome::ok(Verb::Sign, &report));
    if args.signing.run.output.text() {
        say!(
            "signed {} ({} resources, {}) -> {}",
            args.model.display(),
            statement.resources.len(),
            serialization_text(&statement.serialization),
            outcome.signature_path.display()
        );
        say!("root digest sha256:{}", hex(&statement.root_digest));
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.signing.run.output.json
    }
}
