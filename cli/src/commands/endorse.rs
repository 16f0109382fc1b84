//! `modelseal endorse`: add a co-signature to a sealed model without decrypting it.

use super::{KeyArgs, OutputArgs, TsaArgs};
use crate::audit::{ended, Attempt, AuditArgs};
use crate::output::{report_failure, set_result};
use modelseal::deploy::DeployError;
use modelseal::endorse::{endorse_sealed, EndorseOptions, EndorseOutcome};
use modelseal::report::{self, EndorseFailure, EndorseReport, Failure, Outcome, Verb};
use std::path::PathBuf;
use std::process::ExitCode;

/// Co-sign the sealed model ENC (made by `modelseal seal`) with another key, without decrypting
/// it: the statement its outer signatures sign (ENC.sig, ENC.sig.jsonl) is checked against ENC's
/// files and, when they match, signed with KEY and appended to the claims file ENC.sig.jsonl.
/// A policy counts a rule's threshold over ENC's signatures, so team B's endorsement of a model
/// team A sealed meets a rule requiring both (`unseal` reads ENC.sig and ENC.sig.jsonl). Not
/// sigstore's `cosign`: an OMS signature of the encrypted model.
///
/// Exit 0 endorsed, 1 ENC differs from what its signatures sign (nothing written), 2 usage or
/// input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The encrypted model directory (made by seal).
    encrypted: PathBuf,
    /// Signing key reference of the co-signer.
    #[arg(long, value_name = "REF")]
    key: String,
    /// Signing certificate (PEM) for the certificate method.
    #[arg(long, value_name = "LEAF.pem")]
    cert: Option<PathBuf>,
    /// Certificates to embed after the leaf (PEM; repeatable).
    #[arg(long = "cert-chain", value_name = "CHAIN.pem", requires = "cert")]
    cert_chain: Vec<PathBuf>,
    /// The claims file (.jsonl) to append the signature to [default: ENC.sig.jsonl beside ENC].
    #[arg(long, value_name = "SIG.jsonl")]
    signature: Option<PathBuf>,
    #[command(flatten)]
    tsa: TsaArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let attempt = endorse(&args);
    let event = report::endorse_event(&args.encrypted, &args.key, ended(&attempt, Failure::deploy));
    let code = attempt.map(|result| match result {
        Ok(outcome) => print(&args, &outcome),
        Err(err) => report_failure(
            EndorseFailure::outcome(&args.encrypted, &err),
            "endorse",
            err.class(),
            &err,
        ),
    });
    args.audit.record(None, &event, code)
}

/// Opens the key and endorses.
fn endorse(args: &Args) -> Attempt<EndorseOutcome, DeployError> {
    let signer = args
        .keys
        .open_signer(&args.key, args.cert.as_deref(), &args.cert_chain)?;
    let options = EndorseOptions {
        signature: args.signature.clone(),
        tsa: args.tsa.request()?,
    };
    let bar = args.output.bar("endorsing");
    let result = endorse_sealed(&args.encrypted, signer.as_ref(), &options, &bar);
    bar.finish();
    Ok(result)
}

fn print(args: &Args, outcome: &EndorseOutcome) -> ExitCode {
    set_result(Outcome::ok(
        Verb::Endorse,
        &EndorseReport::new(&args.encrypted, outcome),
    ));
    if args.output.text() {
        say!(
            "endorsed {} with key {} -> {} ({} earlier signature(s) sign the same files)",
            args.encrypted.display(),
            outcome.key_hint,
            outcome.signature_path.display(),
            outcome.existing.len()
        );
    }
    ExitCode::SUCCESS
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.output.json
    }
}
