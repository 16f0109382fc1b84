//! `modelseal digest`: the root digest of a model, as signing would record it.

use super::sign::HashArgs;
use crate::output::set_result;
use crate::progress::ProgressArgs;
use modelseal::report::{DigestReport, Outcome, Verb};
use modelseal::sign::digest_model;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print MODEL's root digest (`sha256:<hex>`, OMS v1.0 §6.5.1): the SHA-256 over its resource
/// digests in the order a signature lists them, the subject digest `sign` would record with the
/// same options. No key needed; nothing is written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    #[command(flatten)]
    hashing: HashArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    progress: ProgressArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bar = args.progress.bar("hashing", args.json);
    let statement = digest_model(&args.model, &args.hashing.options(), &bar);
    bar.finish();
    let statement = statement?;
    let report = DigestReport::from(&statement).of_model(&args.model);
    set_result(Outcome::ok(Verb::Digest, &report));
    if !args.json {
        // Alone on stdout, as model-signing's `digest` prints it, for scripts.
        say!("{}", report.root_digest());
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
