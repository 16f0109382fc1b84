//! The verbs of the `modelseal` command line: one clap struct and one `run` per verb.

mod completions;
mod decrypt;
mod digest;
mod encrypt;
mod endorse;
mod inspect;
mod keygen;
mod pubkey;
mod rewrap;
mod scan;
mod seal;
mod serve;
mod sign;
mod unseal;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `--version`: the version and what this build can reach — key backends, secret sources and
/// model locations — since `awskms`, `awssm` and `storage` are build features.
fn version() -> &'static str {
    let with = |feature: bool, word: &'static str| if feature { word } else { "" };
    let text = format!(
        "{}\nkey backends: file, pkcs11{}\nsecret sources: file, fd, env{}\nmodel locations: local{}",
        env!("CARGO_PKG_VERSION"),
        with(cfg!(feature = "awskms"), ", awskms"),
        with(cfg!(feature = "awssm"), ", awssm"),
        with(cfg!(feature = "storage"), ", s3, gs, az"),
    );
    // Made once per process, when clap builds the command: leaking it gives the `'static` text
    // clap takes without its `string` feature.
    Box::leak(text.into_boxed_str())
}

/// Sign, verify and inspect machine-learning models in the OpenSSF Model Signing (OMS) format, and
/// envelope-encrypt them.
///
/// Exit codes: 0 success, 1 verification or decryption failed, 2 usage or input error.
#[derive(Debug, Parser)]
#[command(name = "modelseal", version = version(), propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(keygen::Args),
    Pubkey(pubkey::Args),
    Sign(sign::Args),
    Verify(verify::Args),
    Inspect(inspect::Args),
    Digest(digest::Args),
    Encrypt(encrypt::Args),
    Decrypt(decrypt::Args),
    Rewrap(rewrap::Args),
    Seal(seal::Args),
    Unseal(unseal::Args),
    Endorse(endorse::Args),
    Scan(scan::Args),
    Serve(serve::Args),
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

impl Cli {
    /// Whether the verb may hold a secret in memory (a private key, a KEK, a data key, a PIN or
    /// passphrase): every verb but `inspect`, which reads only public data. `verify` and `serve`
    /// count too, since a policy's PKCS#11 signer may log in to a token.
    pub fn may_load_secret(&self) -> bool {
        !matches!(
            self.command,
            Command::Inspect(_) | Command::Completions(_) | Command::Man(_)
        )
    }
}

/// Runs the chosen verb. `Err` means a usage or input error (exit code 2).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Pubkey(args) => pubkey::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Digest(args) => digest::run(args),
        Command::Encrypt(args) => encrypt::run(args),
        Command::Decrypt(args) => decrypt::run(args),
        Command::Rewrap(args) => rewrap::run(args),
        Command::Seal(args) => seal::run(args),
        Command::Unseal(args) => unseal::run(args),
        Command::Endorse(args) => endorse::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// The flags that end every verb running a key operation (`sign`, `seal`, `encrypt`,
/// `decrypt`), in this order: `--json` and `--quiet`, the key options `K` ([`KeyArgs`] for a
/// verb that opens a private key, else [`KeyFileArgs`]), and `--audit-log`.
#[derive(Debug, clap::Args)]
pub struct RunArgs<K: clap::Args> {
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    keys: K,
    #[command(flatten)]
    audit: crate::audit::AuditArgs,
}

/// The flags that end both signing verbs (`sign`, `seal`), in this order: the RFC 3161 timestamp,
/// the content gate (`--scan`, `--no-scan`, `--scan-allow`), then [`RunArgs`] with a signing key.
#[derive(Debug, clap::Args)]
pub struct SigningRunArgs {
    #[command(flatten)]
    tsa: TsaArgs,
    #[command(flatten)]
    gate: scan::GateArgs,
    #[command(flatten)]
    run: RunArgs<KeyArgs>,
}

/// How an encrypting verb (`encrypt`, `seal`) names and writes its output: `--model-name`,
/// `--force`, `--allow-symlinks` (`seal` restates the help of the last two for its signature).
#[derive(Debug, clap::Args)]
pub struct EncryptOutArgs {
    /// The model name recorded in the envelope, the signed name policies match (docs/policy.md)
    /// [default: MODEL's file or directory name].
    #[arg(long, value_name = "NAME")]
    model_name: Option<String>,
    /// Replace an existing OUT (atomically).
    #[arg(long)]
    force: bool,
    /// Encrypt a symlink to a file as its target's bytes instead of refusing it (a Hugging Face
    /// cache snapshot, whose files link into ../../blobs).
    #[arg(long)]
    allow_symlinks: bool,
}

/// `--json`, `--quiet` and `--progress`, shared by the verbs that print a result and show progress.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar and no informational output.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    progress: crate::progress::ProgressArgs,
}

impl OutputArgs {
    /// The progress sink for work labelled `label` (`--progress`; `auto` is off with `--quiet`
    /// and with `--json`, whose stdout is the result).
    fn bar(&self, label: &'static str) -> crate::progress::Bar {
        self.progress.bar(label, self.quiet || self.json)
    }

    /// Whether the human text is printed (neither `--json` nor `--quiet`).
    fn text(&self) -> bool {
        !self.quiet && !self.json
    }
}

/// Asking a time-stamping authority for an RFC 3161 timestamp over the signature (`sign`, `seal`).
#[derive(Debug, clap::Args)]
pub struct TsaArgs {
    /// Timestamp the signature at this RFC 3161 time-stamping authority (http:// or https://
    /// URL; an https server's certificate must chain to the system's roots, which SSL_CERT_FILE
    /// or SSL_CERT_DIR replace): the token is stored in the bundle, and lets a verifier with
    /// --tsa-roots judge a certificate at the signing time.
    #[arg(long, value_name = "URL")]
    tsa_url: Option<String>,
    /// Check the TSA's answer against these TSA roots (PEM, or a Sigstore trusted_root.json's
    /// timestampAuthorities; repeatable) before storing it.
    #[arg(long, value_name = "FILE", requires = "tsa_url")]
    tsa_roots: Vec<std::path::PathBuf>,
    /// Seconds to wait for the TSA (connecting, and each read and write).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, requires = "tsa_url",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    tsa_timeout: u64,
}

impl TsaArgs {
    /// The timestamp request the arguments describe, if any.
    pub fn request(&self) -> anyhow::Result<Option<modelseal::timestamp::TsaRequest>> {
        let Some(url) = &self.tsa_url else {
            return Ok(None);
        };
        Ok(Some(modelseal::timestamp::TsaRequest {
            timeout: std::time::Duration::from_secs(self.tsa_timeout),
            roots: modelseal::trust::TimestampPolicy::load(&self.tsa_roots, false)?.roots,
            ..modelseal::timestamp::TsaRequest::new(url.clone())
        }))
    }
}

/// Options shared by every verb that opens a private key.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// File holding the passphrase of an encrypted PKCS#8 private key (never pass secrets in argv);
    /// the same as --key-password file:FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "key_password")]
    key_password_file: Option<std::path::PathBuf>,
    /// Where the passphrase of an encrypted PKCS#8 private key comes from: file:PATH, fd:N,
    /// env:NAME (weakest) or awssm://SECRET-ID[?version-id=V][&json-key=K] (docs/secrets.md).
    /// A reference, never the passphrase itself.
    #[arg(long, value_name = "REF", value_parser = SecretRefParser)]
    key_password: Option<modelseal::keys::SecretRef>,
    #[command(flatten)]
    permissions: KeyFileArgs,
}

/// The permission override of every verb that reads a secret key file (private key, KEK,
/// passphrase) or trust material (policy, Rego, pinned keys, recipient keys).
#[derive(Debug, clap::Args)]
pub struct KeyFileArgs {
    /// Accept private key, KEK and passphrase files that group or others can read, and policy,
    /// Rego and key files that group or others can write.
    #[arg(long)]
    allow_insecure_key_permissions: bool,
}

/// `--allow-pkcs11-module`, on every verb that loads a trust policy.
#[derive(Debug, clap::Args)]
pub struct PolicyLoadArgs {
    /// A PKCS#11 library a policy signer's `module-path=` may load (repeatable); any other
    /// module-path in the policy is refused.
    #[arg(long = "allow-pkcs11-module", value_name = "PATH")]
    allow_pkcs11_module: Vec<std::path::PathBuf>,
}

impl PolicyLoadArgs {
    /// Loads the policy at `path` with these options and `key_files`' permission override.
    fn load(
        &self,
        path: &std::path::Path,
        key_files: &KeyFileArgs,
    ) -> Result<modelseal::policy::Policy, modelseal::policy::PolicyError> {
        modelseal::policy::Policy::load_with(path, &self.options(key_files))
    }

    /// What the operator allows when a policy is loaded (`serve` keeps it for its reloads).
    pub fn options(&self, key_files: &KeyFileArgs) -> modelseal::policy::PolicyOptions {
        modelseal::policy::PolicyOptions {
            allow_insecure_permissions: key_files.allow_insecure_key_permissions,
            allow_pkcs11_modules: self.allow_pkcs11_module.clone(),
        }
    }
}

impl KeyFileArgs {
    /// Whether `--allow-insecure-key-permissions` was given.
    fn allows_insecure(&self) -> bool {
        self.allow_insecure_key_permissions
    }

    /// Key options with only the permission override set.
    fn options(&self) -> modelseal::keys::KeyOptions {
        modelseal::keys::KeyOptions {
            allow_insecure_permissions: self.allow_insecure_key_permissions,
            ..modelseal::keys::KeyOptions::default()
        }
    }

    /// Opens the decryption key (identity) `key` names.
    fn open_identity(
        &self,
        key: &str,
    ) -> Result<Box<dyn modelseal::keys::Identity>, modelseal::envelope::SealError> {
        Ok(modelseal::keys::identity(key, &self.options())?)
    }
}

/// Opens every recipient key reference of `refs` with `options`.
fn open_recipients(
    refs: &[String],
    options: &modelseal::keys::KeyOptions,
) -> Result<Vec<Box<dyn modelseal::keys::Recipient>>, modelseal::envelope::SealError> {
    refs.iter()
        .map(|r| Ok(modelseal::keys::recipient(r, options)?))
        .collect()
}

/// The recipients as the encryption functions take them.
fn as_recipients(
    recipients: &[Box<dyn modelseal::keys::Recipient>],
) -> Vec<&dyn modelseal::keys::Recipient> {
    recipients.iter().map(|r| r.as_ref()).collect()
}

/// `--key-password REF`: a secret reference, parsed before anything is opened. Its error never
/// repeats the value (clap's default would): a user who typed the passphrase itself must not see
/// it echoed into a terminal log.
#[derive(Clone)]
struct SecretRefParser;

impl clap::builder::TypedValueParser for SecretRefParser {
    type Value = modelseal::keys::SecretRef;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let invalid = |reason: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--key-password: {reason}\n"),
            )
        };
        let text = value.to_str().ok_or_else(|| invalid("not UTF-8"))?;
        modelseal::keys::SecretRef::parse(text).map_err(|reason| invalid(&reason))
    }
}

impl KeyArgs {
    fn options(&self) -> modelseal::keys::KeyOptions {
        let password = match (&self.key_password, &self.key_password_file) {
            (Some(reference), _) => Some(reference.clone()),
            (None, Some(path)) => Some(modelseal::keys::SecretRef::File(path.clone())),
            (None, None) => None,
        };
        modelseal::keys::KeyOptions {
            password,
            ..self.permissions.options()
        }
    }

    /// Opens the signer `key` names, with the leaf certificate `cert` (and `chain`) attached for
    /// the certificate method.
    fn open_signer(
        &self,
        key: &str,
        cert: Option<&std::path::Path>,
        chain: &[std::path::PathBuf],
    ) -> Result<Box<dyn modelseal::keys::Signer>, modelseal::sign::SignError> {
        modelseal::sign::open_signer(key, cert, chain, &self.options())
    }
}
