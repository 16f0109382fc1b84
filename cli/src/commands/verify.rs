//! `modelseal verify`: verify a model against an OMS signature.

use crate::output::{
    exit_failed, exit_input, print_json, serialization_json, serialization_text, signer_json,
    signer_text,
};
use crate::progress::Bar;
use anyhow::Context;
use modelseal::keys::{KeyOptions, KeyRef};
use modelseal::sigstore::{KeylessPolicy, TrustedRoot};
use modelseal::trust::Trust;
use modelseal::verify::{verify_model, VerifiedModel, VerifyError, VerifyOptions};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Verify MODEL against SIG: the signer must be trusted and every file must match.
///
/// Exit 0 verified, 1 verification failed (tampered, wrong key, bad signature), 2 usage or input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// The signature file (Sigstore bundle).
    #[arg(long, value_name = "SIG")]
    signature: PathBuf,
    /// Trusted public key (SPKI PEM, or any key reference whose public key can be read).
    #[arg(
        long,
        value_name = "PUBLIC.pem",
        required_unless_present_any = ["cert_chain", "sigstore"],
        conflicts_with = "cert_chain"
    )]
    key: Option<String>,
    /// Trusted root certificates (PEM; repeatable; each file may hold several).
    #[arg(long = "cert-chain", value_name = "ROOTS.pem")]
    cert_chain: Vec<PathBuf>,
    #[command(flatten)]
    sigstore: SigstoreArgs,
    /// Leave this path out (relative to the model root, or absolute inside it; repeatable).
    #[arg(long, value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Tolerate files in the model that the signature does not list.
    #[arg(long)]
    ignore_unsigned_files: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar and no output on success.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Sigstore keyless verification, offline against a pinned trusted root.
#[derive(Debug, clap::Args)]
struct SigstoreArgs {
    /// Verify a Sigstore keyless signature (Fulcio certificate and Rekor entry), offline.
    #[arg(long, requires_all = ["identity", "issuer"], conflicts_with_all = ["key", "cert_chain"])]
    sigstore: bool,
    /// The signer's identity: the certificate's SAN (email, URI), compared exactly.
    #[arg(long, value_name = "ID", requires = "sigstore")]
    identity: Option<String>,
    /// The OIDC issuer that vouched for the identity, compared exactly.
    #[arg(long, value_name = "URL", requires = "sigstore")]
    issuer: Option<String>,
    /// A Sigstore ClientTrustConfig JSON holding the trusted root (default: the built-in
    /// public-good production root).
    #[arg(
        long,
        value_name = "FILE",
        requires = "sigstore",
        conflicts_with = "trusted_root"
    )]
    trust_config: Option<PathBuf>,
    /// A Sigstore trusted_root.json (default: the built-in public-good production root).
    #[arg(long, value_name = "FILE", requires = "sigstore")]
    trusted_root: Option<PathBuf>,
}

impl SigstoreArgs {
    /// The keyless trust, or `None` without `--sigstore`.
    fn trust(&self) -> anyhow::Result<Option<Trust>> {
        let (true, Some(identity), Some(issuer)) = (self.sigstore, &self.identity, &self.issuer)
        else {
            return Ok(None);
        };
        let root = match (&self.trust_config, &self.trusted_root) {
            (Some(path), _) => TrustedRoot::load_trust_config(path)?,
            (None, Some(path)) => TrustedRoot::load_trusted_root(path)?,
            (None, None) => TrustedRoot::production()?,
        };
        Ok(Some(Trust::Sigstore {
            root: Box::new(root),
            policy: KeylessPolicy {
                identity: identity.clone(),
                issuer: issuer.clone(),
            },
        }))
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let trust = match (args.sigstore.trust()?, &args.key) {
        (Some(trust), _) => trust,
        (None, key) => match key {
            Some(key_text) => {
                let key: KeyRef = key_text.parse()?;
                let public = modelseal::keys::public_key_of(&key, &KeyOptions::default())
                    .with_context(|| format!("cannot read the trusted key {}", key_text))?;
                Trust::PublicKey(public)
            }
            None => Trust::load_certificate_roots(&args.cert_chain)?,
        },
    };
    let options = VerifyOptions {
        ignore: args.ignore.clone(),
        ignore_unsigned_files: args.ignore_unsigned_files,
    };
    let bar = Bar::new("verifying", args.quiet || args.json);
    let result = verify_model(&args.model, &args.signature, &trust, &options, &bar);
    bar.finish();
    match result {
        Ok(verified) => {
            report_success(&args, &verified);
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => Ok(report_failure(&args, &err)),
    }
}

fn report_success(args: &Args, verified: &VerifiedModel) {
    if args.json {
        print_json(&json!({
            "verified": true,
            "model": args.model,
            "signature": args.signature,
            "model_name": verified.subject_name(),
            "root_digest": verified.root_digest_hex(),
            "resources": verified.resources().len(),
            "signer": signer_json(verified.signer()),
            "serialization": serialization_json(verified.serialization()),
            "errors": [],
        }));
    } else if !args.quiet {
        println!(
            "verified {} ({} resources, {}), signed by {}",
            args.model.display(),
            verified.resources().len(),
            serialization_text(verified.serialization()),
            signer_text(verified.signer())
        );
        println!("root digest sha256:{}", verified.root_digest_hex());
    }
}

fn report_failure(args: &Args, err: &VerifyError) -> ExitCode {
    let failed = err.is_verification_failure();
    if args.json {
        print_json(&json!({
            "verified": false,
            "model": args.model,
            "signature": args.signature,
            "root_digest": match err {
                VerifyError::Mismatch { signed_root_digest, .. } => Some(signed_root_digest),
                _ => None,
            },
            "signer": null,
            "serialization": null,
            "errors": err.reasons(),
        }));
    }
    if failed {
        eprintln!("verification FAILED: {err}");
        exit_failed()
    } else {
        eprintln!("error: {err}");
        exit_input()
    }
}
