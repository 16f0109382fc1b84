//! `modelseal inspect`: show what a signature or an encrypted model claims, without verifying it.

use crate::output::{hex, print_json, serialization_text};
use modelseal::envelope::{self, EncryptedSummary};
use modelseal::inspect::{inspect_signature, inspect_signatures, SignatureSummary};
use modelseal::report::{InspectClaimsReport, InspectEncryptedReport, InspectSignatureReport};
use modelseal::verify::is_claims_path;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Describe a signature file or an encrypted model (UNVERIFIED, no key needed).
///
/// A signature: method, signer, serialization, resources, root digest. An encrypted model
/// (recognised by its magic bytes or its modelseal.envelope): format version, layout, chunk size,
/// files and sizes, and the recipients with their key ids — never a secret.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The signature file (Sigstore bundle), a claims file (.jsonl: every line is listed), or an
    /// encrypted model (directory or file).
    #[arg(value_name = "SIG|ENC")]
    input: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if envelope::is_encrypted(&args.input) {
        let summary = envelope::inspect_encrypted(&args.input)?;
        encrypted(&args, &summary);
        return Ok(ExitCode::SUCCESS);
    }
    if is_claims_path(&args.input) {
        return claims(&args.input, args.json);
    }
    signature(&args.input, args.json)
}

fn claims(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let lines = inspect_signatures(path)?;
    if json {
        print_json(&InspectClaimsReport::new(path, &lines));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "claims:      {} ({} signatures, unverified)",
        path.display(),
        lines.len()
    );
    for summary in &lines {
        println!();
        if let Some(line) = summary.line {
            println!("line {line}:");
        }
        describe(summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn encrypted(args: &Args, s: &EncryptedSummary) {
    if args.json {
        print_json(&InspectEncryptedReport::new(&args.input, s));
        return;
    }
    println!(
        "encrypted:   {} (unauthenticated: checking it needs a key)",
        args.input.display()
    );
    println!(
        "format:      modelseal v{} ({})",
        s.version,
        InspectEncryptedReport::layout_name(s.layout)
    );
    println!("model name:  {}", s.model_name);
    println!("chunk size:  {} bytes", s.chunk_size);
    println!("body digest: sha256:{}", hex(&s.body_digest));
    println!("recipients:  {}", s.recipients.len());
    for r in &s.recipients {
        let params = if r.params.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.params.join(", "))
        };
        println!("  {} {}{params}", r.stanza_type, r.key_id);
    }
    println!("files:       {} ({} bytes)", s.files.len(), s.total_bytes());
    for (path, size) in &s.files {
        println!("  {size:>14}  {path}");
    }
}

fn signature(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let summary = inspect_signature(path)?;
    if json {
        print_json(&InspectSignatureReport::new(path, &summary));
        return Ok(ExitCode::SUCCESS);
    }
    println!("signature:   {} (unverified)", path.display());
    describe(&summary);
    Ok(ExitCode::SUCCESS)
}

/// What one signature claims, a field per line.
fn describe(summary: &SignatureSummary) {
    let statement = summary.statement.as_ref();
    println!("method:      {}", summary.method);
    if let Some(hint) = &summary.key_hint {
        println!("key hint:    {hint}");
    }
    if let Some(subject) = &summary.certificate_subject {
        println!(
            "certificate: {subject} (+{} more in chain)",
            summary.certificates.saturating_sub(1)
        );
    }
    match statement {
        Ok(s) => {
            println!("model name:  {}", s.subject_name);
            println!("serialized:  {}", serialization_text(&s.serialization));
            println!("resources:   {}", s.resources.len());
            println!("root digest: sha256:{}", hex(&s.root_digest));
        }
        Err(reason) => println!("statement:   invalid ({reason})"),
    }
}
