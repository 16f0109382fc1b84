//! `modelseal inspect`: show what a signature claims, without a model and without verifying it.

use crate::output::{hex, print_json, serialization_json, serialization_text};
use modelseal::inspect::inspect_signature;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Describe a signature file (UNVERIFIED): method, signer, serialization, resources, root digest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The signature file (Sigstore bundle).
    signature: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let summary = inspect_signature(&args.signature)?;
    let statement = summary.statement.as_ref();
    if args.json {
        print_json(&json!({
            "verified": false,
            "signature": args.signature,
            "method": summary.method,
            "key_hint": summary.key_hint,
            "certificate_subject": summary.certificate_subject,
            "certificates": summary.certificates,
            "payload_type": summary.payload_type,
            "model_name": statement.ok().map(|s| s.subject_name.clone()),
            "root_digest": statement.ok().map(|s| hex(&s.root_digest)),
            "resources": statement.ok().map(|s| s.resources.len()),
            "serialization": statement.ok().map(|s| serialization_json(&s.serialization)),
            "errors": statement.err().into_iter().collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("signature:   {} (unverified)", args.signature.display());
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
    Ok(ExitCode::SUCCESS)
}
