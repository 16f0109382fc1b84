//! `modelseal verify`: verify a model against an OMS signature and a trusted key or certificate
//! roots, or against one or more signatures under a trust policy (`--policy`, `docs/policy.md`).

use super::{KeyFileArgs, OutputArgs, PolicyLoadArgs};
use crate::audit::{ended, Attempt, AuditArgs};
use crate::output::{
    exit_code, exit_input, report_failure, serialization_text, set_result, signer_text,
};
use modelseal::error::ErrorClass;
use modelseal::policy::{PolicyDecision, PolicyVerifyOptions};
use modelseal::report::{
    self, Coded, DecisionInputError, DecisionReport, Failure, Outcome, Verb, VerifyFailure,
    VerifyReport,
};
use modelseal::trust::{SigstoreRoot, TimestampPolicy, Trust, TrustOptions};
use modelseal::verify::{verify_model, VerifiedModel, VerifyError, VerifyOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Verify MODEL against SIG: the signer must be trusted and every file must match.
///
/// With --policy, verify MODEL against every --signature under a trust policy: exit 0 only if
/// every rule holds (signers, threshold, serialization, Rego).
///
/// Exit 0 verified, 1 verification failed or denied (tampered, wrong key, bad signature, a rule
/// not met), 2 usage or input error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model directory or file.
    model: PathBuf,
    /// The signature file (Sigstore bundle), or a claims file (.jsonl: one bundle per line, each
    /// a candidate signature); repeatable with --policy (e.g. two co-signers)
    /// [default: where `sign` writes it, MODEL.sig beside MODEL].
    #[arg(long, value_name = "SIG")]
    signature: Vec<PathBuf>,
    /// Trusted public key (SPKI PEM, or any key reference whose public key can be read).
    #[arg(
        long,
        value_name = "PUBLIC.pem",
        required_unless_present_any = ["cert_chain", "sigstore", "policy"],
        conflicts_with_all = ["cert_chain", "policy"]
    )]
    key: Option<String>,
    /// Trusted root certificates (PEM; repeatable; each file may hold several).
    #[arg(
        long = "cert-chain",
        value_name = "ROOTS.pem",
        conflicts_with = "policy"
    )]
    cert_chain: Vec<PathBuf>,
    #[command(flatten)]
    sigstore: SigstoreArgs,
    /// Trust policy (TOML, docs/policy.md): trusted signers, rules per model name, optional Rego.
    #[arg(long, value_name = "POLICY.toml")]
    policy: Option<PathBuf>,
    /// The model name the policy's rules match [default: the encrypted envelope's model name,
    /// else MODEL's file or directory name].
    #[arg(long, value_name = "NAME")]
    model_name: Option<String>,
    /// Leave this path out (relative to the model root, or absolute inside it; repeatable).
    #[arg(long, value_name = "PATH")]
    ignore: Vec<PathBuf>,
    /// Tolerate files in the model that the signature does not list.
    #[arg(long)]
    ignore_unsigned_files: bool,
    /// Trusted RFC 3161 time-stamping authorities (PEM roots, or a Sigstore trusted_root.json's
    /// timestampAuthorities; repeatable): the signature's timestamps must verify, and a
    /// certificate chain is judged at the timestamp's time. Without it timestamps are ignored.
    /// Not with --policy: a policy names each signer's `tsa_roots` (docs/policy.md).
    #[arg(long, value_name = "FILE")]
    tsa_roots: Vec<PathBuf>,
    /// Fail unless a timestamp verifies under --tsa-roots. Not with --policy: a policy says
    /// `require_timestamp` per signer.
    #[arg(long)]
    require_timestamp: bool,
    #[command(flatten)]
    policy_load: PolicyLoadArgs,
    #[command(flatten)]
    key_files: KeyFileArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    audit: AuditArgs,
}

/// Sigstore keyless verification, offline against a pinned trusted root.
#[derive(Debug, clap::Args)]
struct SigstoreArgs {
    /// Verify a Sigstore keyless signature (Fulcio certificate and Rekor entry), offline.
    #[arg(long, requires_all = ["identity", "issuer"], conflicts_with_all = ["key", "cert_chain", "policy"])]
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

impl Args {
    /// What the arguments say to trust (clap has made sure they name exactly one kind).
    fn trust_options(&self) -> TrustOptions {
        let sigstore = &self.sigstore;
        let keyless = |value: &Option<String>| value.clone().filter(|_| sigstore.sigstore);
        TrustOptions {
            key: self.key.clone(),
            certificate_roots: self.cert_chain.clone(),
            sigstore_identity: keyless(&sigstore.identity),
            sigstore_issuer: keyless(&sigstore.issuer),
            sigstore_root: match (&sigstore.trust_config, &sigstore.trusted_root) {
                (Some(path), _) => Some(SigstoreRoot::TrustConfig(path.clone())),
                (None, Some(path)) => Some(SigstoreRoot::TrustedRoot(path.clone())),
                (None, None) => None,
            }
            .filter(|_| sigstore.sigstore),
            allow_insecure_permissions: self.key_files.allows_insecure(),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut args = args;
    if args.signature.is_empty() {
        args.signature
            .push(modelseal::sign::default_signature_path(&args.model));
    }
    if let Some(policy) = &args.policy {
        // Checked here rather than by clap, to say where the TSA roots go instead.
        if !args.tsa_roots.is_empty() || args.require_timestamp {
            anyhow::bail!(
                "--tsa-roots and --require-timestamp do not combine with --policy: the policy names each signer's time-stamping authorities (tsa_roots = [...], require_timestamp = true under [signers.NAME], docs/policy.md)"
            );
        }
        return run_policy(&args, policy);
    }
    let attempt = verify(&args);
    let event = report::verify_event(
        &args.model,
        args.key.as_deref(),
        ended(&attempt, |(_, e)| Failure::verify(e)),
    );
    let code = attempt.map(|result| match result {
        Ok(verified) => report_success(&args, &verified),
        Err((signature, err)) => verify_failed(&args, &signature, &err),
    });
    args.audit.record(None, &event, code)
}

fn verify(args: &Args) -> Attempt<VerifiedModel, (PathBuf, VerifyError)> {
    // Checked here, not with clap's `requires`: clap drops a requirement that conflicts with a
    // given argument (--key conflicts with --policy).
    if args.model_name.is_some() {
        anyhow::bail!("--model-name selects a policy rule; it needs --policy");
    }
    let [signature] = args.signature.as_slice() else {
        anyhow::bail!("several --signature files need --policy (which says how many must verify)");
    };
    let trust = Trust::from_options(&args.trust_options())?;
    let options = VerifyOptions {
        ignore: args.ignore.clone(),
        ignore_unsigned_files: args.ignore_unsigned_files,
        timestamps: TimestampPolicy::load(&args.tsa_roots, args.require_timestamp)?,
    };
    let bar = args.output.bar("verifying");
    let result = verify_model(&args.model, signature, &trust, &options, &bar);
    bar.finish();
    Ok(result.map_err(|e| (signature.clone(), e)))
}

/// `verify --policy`: one decision over every signature.
fn run_policy(args: &Args, policy_path: &Path) -> anyhow::Result<ExitCode> {
    let mut policy_log = None;
    let attempt = args
        .policy_load
        .load(policy_path, &args.key_files)
        .map_err(anyhow::Error::from)
        .map(|policy| {
            policy_log = policy.audit_log().map(Path::to_path_buf);
            let options = PolicyVerifyOptions {
                model_name: args.model_name.clone(),
                ignore: args.ignore.clone(),
            };
            let bar = args.output.bar("verifying");
            let result = policy.verify(&args.model, &args.signature, &options, &bar);
            bar.finish();
            result
        });
    let event = report::policy_event(
        &args.model,
        policy_path,
        ended(&attempt, |e| Failure::Error(e.to_string())),
    );
    let code = attempt.map(|result| match result {
        Ok(decision) => report_decision(args, &decision),
        Err(err) => {
            set_result(DecisionInputError::outcome(
                &args.model,
                policy_path,
                ErrorClass::Input,
                err.problems(),
            ));
            say_err!("error: {err}");
            exit_input()
        }
    });
    args.audit.record(policy_log.as_deref(), &event, code)
}

fn report_decision(args: &Args, decision: &PolicyDecision) -> ExitCode {
    set_result(DecisionReport::outcome(decision));
    let signers = if decision.signers().is_empty() {
        "none".to_string()
    } else {
        decision.signers().join(", ")
    };
    if decision.allowed() {
        if args.output.text() {
            say!(
                "allowed {} as {:?} under {}: signed by {signers}",
                args.model.display(),
                decision.model_name(),
                decision.rule_label()
            );
            if let Some(root) = decision.root_digest() {
                say!("root digest sha256:{root}");
            }
        }
        return ExitCode::SUCCESS;
    }
    say_err!(
        "verification FAILED: {} as {:?} denied under {} (verified signers: {signers})",
        args.model.display(),
        decision.model_name(),
        decision.rule_label()
    );
    for reason in decision.reasons() {
        say_err!("  - {reason}");
    }
    exit_code(ErrorClass::Failed)
}

fn report_success(args: &Args, verified: &VerifiedModel) -> ExitCode {
    set_result(Outcome::ok(Verb::Verify, &VerifyReport::from(verified)));
    if args.output.text() {
        say!(
            "verified {} ({} resources, {}), signed by {}",
            args.model.display(),
            verified.resources().len(),
            serialization_text(verified.serialization()),
            signer_text(verified.signer())
        );
        say!("root digest sha256:{}", verified.root_digest_hex());
        if let Some(line) = verified.line() {
            say!(
                "signature: line {line} of {}",
                verified.signature().display()
            );
        }
    }
    ExitCode::SUCCESS
}

fn verify_failed(args: &Args, signature: &Path, err: &VerifyError) -> ExitCode {
    let outcome = VerifyFailure::outcome(&args.model, signature, err);
    report_failure(outcome, "verification", err.class(), err)
}

impl Args {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.output.json
    }
}
