//! Printing results: human text on stdout/stderr, or one JSON object on stdout with `--json`.
//! A verb hands its result ([`Outcome`], `docs/json.md`) to [`set_result`]; `main` prints it once
//! the verb has ended, adding what went wrong after it (an audit line not written) or printing
//! the error's own result when the verb ended before having one — so every run with `--json`
//! prints exactly one object.
//! Every human line goes through [`say!`] / [`say_err!`], which escape control characters, ANSI
//! sequences and bidirectional overrides (`modelseal::text`): file names and unverified bundle
//! fields cannot forge a line, move the cursor or issue a CI log command. JSON is printed as is.

/// `println!` for human text, escaped through `modelseal::text`.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", modelseal::text::Escaped(format_args!($($arg)*)))
    };
}

/// `eprintln!` for human text, escaped through `modelseal::text`.
macro_rules! say_err {
    ($($arg:tt)*) => {
        eprintln!("{}", modelseal::text::Escaped(format_args!($($arg)*)))
    };
}

use modelseal::digest::{Method, SerializationConfig};
use modelseal::error::{ErrorClass, ErrorCode};
use modelseal::report::{Coded, Outcome, Problem, Verb};
use modelseal::trust::SignerIdentity;
use std::process::ExitCode;
use std::sync::Mutex;

/// Exit code: usage or input error.
pub fn exit_input() -> ExitCode {
    exit_code(ErrorClass::Input)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One-line human description of a serialization: `files, sha256` / `shards of 1000000000 bytes, sha256`.
pub fn serialization_text(config: &SerializationConfig) -> String {
    match config.method {
        Method::Files => format!("files, {}", config.hash.name()),
        Method::Shards { shard_size } => {
            format!("shards of {shard_size} bytes, {}", config.hash.name())
        }
    }
}

/// One-line human description of a signer.
pub fn signer_text(signer: &SignerIdentity) -> String {
    if let Some(k) = &signer.keyless {
        return format!(
            "{} (issuer {}, Sigstore keyless, logged at {} as Rekor entry {})",
            k.identity,
            k.issuer,
            k.signing_time_text(),
            k.log_index
        );
    }
    let who = match &signer.certificate_subject {
        Some(subject) => format!("certificate \"{subject}\" ({})", signer.algorithm.name()),
        None => format!("key {} ({})", signer.key_hint, signer.algorithm.name()),
    };
    match (&signer.timestamp, signer.unverified_timestamps) {
        (Some(t), _) => format!("{who}, timestamped {} by \"{}\"", t.rfc3339(), t.tsa),
        (None, 0) => who,
        (None, n) => format!("{who} ({n} timestamp(s) ignored: no --tsa-roots to check them)"),
    }
}

/// The result of this run, printed by `main` when the verb has ended.
static RESULT: Mutex<Option<Outcome>> = Mutex::new(None);

/// Records `outcome` as this run's result (printed with `--json` by [`print_result`]).
pub fn set_result(outcome: Outcome) {
    *RESULT.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
}

/// Prints this run's one JSON object: the verb's result, failed for `err` if the run ended in an
/// error after it; else `err`'s own result; else (a verb that recorded nothing) an empty success.
pub fn print_result(verb: Option<Verb>, err: Option<&anyhow::Error>) {
    let recorded = RESULT.lock().unwrap_or_else(|p| p.into_inner()).take();
    let outcome = match (recorded, err) {
        (Some(outcome), None) => outcome,
        (Some(outcome), Some(err)) => outcome.and_failed(error_class(err), problems(err)),
        (None, Some(err)) => Outcome::problems(verb, error_class(err), problems(err)),
        (None, None) => Outcome::problems(verb, ErrorClass::Internal, Vec::new()),
    };
    print_line(&outcome.json().to_string());
}

/// The first core error in `err`'s chain that has reason codes.
fn coded(err: &anyhow::Error) -> Option<&dyn Coded> {
    use modelseal::internals as m;
    err.chain().find_map(|cause| -> Option<&dyn Coded> {
        macro_rules! try_as {
            ($($t:ty),*) => {$(
                if let Some(e) = cause.downcast_ref::<$t>() {
                    return Some(e);
                }
            )*};
        }
        try_as!(
            m::sign::SignError,
            m::verify::VerifyError,
            m::envelope::SealError,
            m::deploy::DeployError,
            m::policy::PolicyError,
            m::keys::KeyError,
            m::trust::TrustError,
            m::tree::TreeError,
            m::digest::DigestError,
            m::scan::ScanError,
            m::audit::AuditError
        );
        None
    })
}

/// The error class an error ending the run reports: that of its core error (a failure that
/// ends the run this way still exits 2, so it reports as an input error), else `input`.
fn error_class(err: &anyhow::Error) -> ErrorClass {
    match coded(err).map(|e| e.error_class()) {
        Some(ErrorClass::Internal) => ErrorClass::Internal,
        _ => ErrorClass::Input,
    }
}

/// `err`'s problems, with their codes: those of its core error (a single one worded with the
/// whole chain, as the text output words it), an I/O error's, or a usage error.
fn problems(err: &anyhow::Error) -> Vec<Problem> {
    let whole = describe(err);
    if let Some(core) = coded(err) {
        let mut problems = core.problems();
        if let [only] = problems.as_mut_slice() {
            only.message = whole;
        }
        return problems;
    }
    let code = match err.chain().find_map(|c| c.downcast_ref::<std::io::Error>()) {
        Some(io) => ErrorCode::of_io(io.kind()),
        None => ErrorCode::Usage,
    };
    vec![Problem::new(code, whole)]
}

/// Prints `line` on stdout. A stdout that is gone (a closed pipe) is reported on stderr, not a
/// panic: the operation's outcome, not its printing, decides the exit code.
pub fn print_line(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        eprintln!("warning: cannot write the result to stdout: {err}");
    }
}

/// The exit code of an error of `class`: 1 verification or decryption failed, 2 otherwise.
pub fn exit_code(class: ErrorClass) -> ExitCode {
    ExitCode::from(class.exit_code())
}

/// Reports an operation that failed with `err`: its result `outcome` (printed with `--json`),
/// then [`report_error`].
pub fn report_failure(
    outcome: Outcome,
    what: &str,
    class: ErrorClass,
    err: &dyn std::fmt::Display,
) -> ExitCode {
    set_result(outcome);
    report_error(class, what, err)
}

/// Reports an operation's error of `class` on stderr, `WHAT FAILED: …` for a failure and
/// `error: …` otherwise, and returns its exit code.
pub fn report_error(class: ErrorClass, what: &str, err: &dyn std::fmt::Display) -> ExitCode {
    if class.is_failure() {
        say_err!("{what} FAILED: {err}");
    } else {
        say_err!("error: {err}");
    }
    exit_code(class)
}

/// The error and its causes as one line, `outer: inner: …`, without repeating a cause that the
/// message before it already ends with (core errors include their source in their own message).
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
