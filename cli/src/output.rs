//! Printing results: human text on stdout/stderr, or one JSON object on stdout with `--json`.

use modelseal::digest::{Method, SerializationConfig};
use modelseal::trust::SignerIdentity;
use serde_json::{json, Value};
use std::process::ExitCode;

/// Exit code: verification or decryption failed.
pub fn exit_failed() -> ExitCode {
    ExitCode::from(1)
}

/// Exit code: usage or input error.
pub fn exit_input() -> ExitCode {
    ExitCode::from(2)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `serialization` object of JSON outputs.
pub fn serialization_json(config: &SerializationConfig) -> Value {
    let mut v = json!({
        "method": match config.method { Method::Files => "files", Method::Shards { .. } => "shards" },
        "hash_type": config.hash.name(),
        "allow_symlinks": config.allow_symlinks,
        "ignore_paths": config.ignore_paths,
    });
    if let Method::Shards { shard_size } = config.method {
        v["shard_size"] = json!(shard_size);
    }
    v
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

/// The `signer` object of JSON outputs.
pub fn signer_json(signer: &SignerIdentity) -> Value {
    let mut v = json!({
        "method": signer.method,
        "algorithm": signer.algorithm.name(),
        "key_hint": signer.key_hint,
        "certificate_subject": signer.certificate_subject,
    });
    if let Some(k) = &signer.keyless {
        v["identity"] = json!(k.identity);
        v["issuer"] = json!(k.issuer);
        v["signing_time"] = json!(k.signing_time_text());
        v["log_index"] = json!(k.log_index);
    }
    v
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
    match &signer.certificate_subject {
        Some(subject) => format!("certificate \"{subject}\" ({})", signer.algorithm.name()),
        None => format!("key {} ({})", signer.key_hint, signer.algorithm.name()),
    }
}

/// Prints a JSON value as one line on stdout.
pub fn print_json(value: &Value) {
    println!("{value}");
}

/// The `recipients` array of JSON outputs: `[{"type": …, "key_id": …}]`.
pub fn recipients_json(recipients: &[(String, String)]) -> Value {
    recipients
        .iter()
        .map(|(t, k)| json!({"type": t, "key_id": k}))
        .collect()
}

/// Reports a failed decrypt or rewrap: exit 1 when authentication failed (wrong key, tampered,
/// truncated), 2 for usage and input errors. With `--json`, also one object on stdout whose
/// `outcome_key` (`"decrypted"`, `"rewrapped"`) is false. `what` names the operation in the
/// message on stderr.
pub fn seal_failure(
    err: modelseal::envelope::SealError,
    outcome_key: &str,
    what: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let failed = err.class().is_failure();
    if json {
        print_json(&json!({
            outcome_key: false,
            "error_class": err.code(),
            "errors": [err.to_string()],
        }));
    }
    if failed {
        eprintln!("{what} FAILED: {err}");
        Ok(exit_failed())
    } else {
        eprintln!("error: {err}");
        Ok(exit_input())
    }
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
