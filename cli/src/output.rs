//! Printing results: human text on stdout/stderr, or one JSON object on stdout with `--json`.
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
use modelseal::error::ErrorClass;
use modelseal::trust::SignerIdentity;
use std::process::ExitCode;

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

/// Prints a result (a `modelseal::report` type) as one JSON line on stdout.
pub fn print_json<T: serde::Serialize>(report: &T) {
    print_line(&modelseal::report::json(report).to_string());
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

/// Reports an operation that failed with `err`: its result `report` on stdout with `--json`, then
/// [`report_error`].
pub fn report_failure<T: serde::Serialize>(
    json: bool,
    report: &T,
    what: &str,
    class: ErrorClass,
    err: &dyn std::fmt::Display,
) -> ExitCode {
    if json {
        print_json(report);
    }
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
