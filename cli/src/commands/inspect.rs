//! `modelseal inspect`: show what a signature or an encrypted model claims, without verifying it.

use crate::output::{hex, serialization_text, set_result};
use modelseal::envelope::{self, EncryptedSummary};
use modelseal::inspect::{inspect_signature, inspect_signatures, SignatureSummary};
use modelseal::report::{
    InspectClaimsReport, InspectEncryptedReport, InspectSignatureReport, Outcome, Verb,
};
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
    set_result(Outcome::ok(
        Verb::Inspect,
        &InspectClaimsReport::new(path, &lines),
    ));
    if json {
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "claims:      {} ({} signatures, unverified)",
        path.display(),
        lines.len()
    );
    for summary in &lines {
        say!("");
        if let Some(line) = summary.line {
            say!("line {line}:");
        }
        describe(summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn encrypted(args: &Args, s: &EncryptedSummary) {
    set_result(Outcome::ok(
        Verb::Inspect,
        &InspectEncryptedReport::new(&args.input, s),
    ));
    if args.json {
        return;
    }
    say!(
        "encrypted:   {} (unauthenticated: checking it needs a key)",
        args.input.display()
    );
    say!(
        "format:      modelseal v{} ({})",
        s.version,
        InspectEncryptedReport::layout_name(s.layout)
    );
    say!("model name:  {}", s.model_name);
    say!("chunk size:  {} bytes", s.chunk_size);
    say!("body digest: sha256:{}", hex(&s.body_digest));
    say!("recipients:  {}", s.recipients.len());
    for r in &s.recipients {
        let params = if r.params.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.params.join(", "))
        };
        say!("  {} {}{params}", r.stanza_type, r.key_id);
    }
    say!("files:       {} ({} bytes)", s.files.len(), s.total_bytes());
    for (path, size) in &s.files {
        say!("  {size:>14}  {path}");
    }
}

fn signature(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let summary = inspect_signature(path)?;
    set_result(Outcome::ok(
        Verb::Inspect,
        &InspectSignatureReport::new(path, &summary),
    ));
    if json {
        return Ok(ExitCode::SUCCESS);
    }
    say!("signature:   {} (unverified)", path.display());
    describe(&summary);
    Ok(ExitCode::SUCCESS)
}

/// What one signature claims, a field per line.
fn describe(summary: &SignatureSummary) {
    let statement = summary.statement.as_ref();
    say!("method:      {}", summary.method);
    if let Some(hint) = &summary.key_hint {
        say!("key hint:    {hint}");
    }
    if let Some(subject) = &summary.certificate_subject {
        say!(
            "certificate: {subject} (+{} more in chain)",
            summary.certificates.saturating_sub(1)
        );
    }
    for timestamp in &summary.timestamps {
        match timestamp {
            Ok(t) => println!(
                "timestamp:   {} by {} (RFC 3161, unverified)",
                modelseal::timestamp::rfc3339(t.unix_secs),
                t.tsa.as_deref().unwrap_or("an unnamed TSA")
            ),
            Err(reason) => println!("timestamp:   invalid ({reason})"),
        }
    }
    match statement {
        Ok(s) => {
            say!("model name:  {}", s.subject_name);
            say!("serialized:  {}", serialization_text(&s.serialization));
            say!("resources:   {}", s.resources.len());
            say!("root digest: sha256:{}", hex(&s.root_digest));
        }
        Err(reason) => say!("statement:   invalid ({reason})"),
    }
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
