//! `modelseal scan`: the content gate on its own (docs/scan.md), and the `--scan`/`--no-scan`
//! options `sign` and `seal` flatten.

use crate::output::set_result;
use modelseal::report::{ScanReport, Verb};
use modelseal::scan::{scan_model, AllowList, ScanOptions};
use modelseal::sign::SignError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Search MODEL for credentials (private keys, cloud keys, API tokens, JWTs, high-entropy .env
/// assignments) and list the serialization formats of its files (pickles with the globals they
/// import). Weights are recognized by their format and only their metadata is searched.
///
/// Exit codes: 0 nothing found (outside the allow-list), 1 findings, 2 usage or input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// Allow-list: fingerprints of reviewed findings, one per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Leave this path out (relative to the model root, or absolute inside it; repeatable).
    #[arg(long, value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Follow symlinks to files instead of refusing them.
    #[arg(long)]
    allow_symlinks: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let allow = match &args.allow {
        Some(path) => AllowList::load(path)?,
        None => AllowList::default(),
    };
    let options = ScanOptions {
        ignore: args.ignore.clone(),
        allow_symlinks: args.allow_symlinks,
        allow,
    };
    let result = scan_model(&args.model, &options)?;
    let report = ScanReport::new(&result, args.allow.as_deref());
    set_result(report.outcome());
    if !args.json {
        print_text(&report);
    }
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The findings (on stdout), formats and a summary line.
pub fn print_text(report: &ScanReport) {
    for finding in report.findings() {
        say!("{}", finding.text());
    }
    for format in report.formats() {
        say!("format {}", format.text());
    }
    let (files, skipped) = report.counts();
    say!(
        "{} credential finding(s) in {files} file(s) ({} accepted by the allow-list, {skipped} binary file(s) of no known format not searched)",
        report.findings().len(),
        report.allowed(),
    );
}

/// The content gate of `verb` (`sign`, `seal`) refused (`err` is [`SignError::Credentials`]):
/// the error on stderr and, with `--json`, the verb's result naming the findings; exit code 1.
pub fn refused(err: &SignError, verb: Verb) -> ExitCode {
    set_result(ScanReport::refusal(verb, err));
    say_err!("error: {err}");
    ExitCode::from(1)
}

/// `--scan`, `--no-scan`, `--scan-allow` of `sign` and `seal`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Search the model for credentials first and refuse (exit 1, nothing written) on a finding
    /// (docs/scan.md).
    #[arg(long, conflicts_with = "no_scan")]
    scan: bool,
    /// Do not search the model for credentials in this run.
    #[arg(long)]
    no_scan: bool,
    /// Allow-list of reviewed findings for the search (implies --scan).
    #[arg(long, value_name = "FILE", conflicts_with = "no_scan")]
    scan_allow: Option<PathBuf>,
}

impl GateArgs {
    /// The gate's allow-list when the gate is on (`on_by_default` unless `--no-scan`), else
    /// `None`.
    pub fn gate(&self, on_by_default: bool) -> anyhow::Result<Option<AllowList>> {
        let on = !self.no_scan && (on_by_default || self.scan || self.scan_allow.is_some());
        if !on {
            return Ok(None);
        }
        Ok(Some(match &self.scan_allow {
            Some(path) => AllowList::load(path)?,
            None => AllowList::default(),
        }))
    }
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }
}
