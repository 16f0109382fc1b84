//! `modelseal verify --sigstore` as users and scripts see it: the release vectors of
//! `test-vectors/sigstore/` verify offline with the built-in root (exit 0, `--json` names the
//! identity, issuer, signing time and log index); a wrong identity or issuer is exit 1; usage and
//! trust-file errors are exit 2. The verdicts themselves are cross-checked against the reference in
//! `tests/interop/test_sigstore_keyless.py`.

mod common;
use common::*;

use std::path::PathBuf;

const IDENTITY: &str = "stefanb@us.ibm.com";
const ISSUER: &str = "https://sigstore.verify.ibm.com/oauth2";

fn vector(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test-vectors/sigstore")
        .join(version)
}

fn shipped_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../core/src/sigstore/production_trusted_root.json")
}

/// `verify --sigstore` of a vector with the upstream script's ignore path, plus `extra`.
fn verify(version: &str, identity: &str, issuer: &str, extra: &[&str]) -> std::process::Output {
    let model = vector(version);
    let sig = model.join("model.sig");
    let mut args = vec![
        "verify",
        s(&model),
        "--signature",
        s(&sig),
        "--sigstore",
        "--identity",
        identity,
        "--issuer",
        issuer,
    ];
    if model.join("ignore-me").exists() {
        args.extend(["--ignore", "ignore-me"]);
    }
    args.extend(extra);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    modelseal(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn release_vectors_verify_with_the_built_in_root() {
    let expected = [
        ("v0.3.1", "2025-05-03T01:10:02Z", 206_342_049u64),
        ("v1.0.0", "2025-05-03T01:34:46Z", 206_344_181),
        ("v1.0.1", "2025-10-07T15:33:48Z", 588_939_812),
        ("v1.1.0", "2025-10-10T02:12:20Z", 598_151_086),
    ];
    for (version, time, index) in expected {
        let out = verify(version, IDENTITY, ISSUER, &["--json"]);
        assert_eq!(
            code(&out),
            0,
            "{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = json(&out);
        assert_eq!(report["verified"], true);
        let signer = &report["signer"];
        assert_eq!(signer["method"], "sigstore");
        assert_eq!(signer["identity"], IDENTITY);
        assert_eq!(signer["issuer"], ISSUER);
        assert_eq!(signer["signing_time"], time, "{version}");
        assert_eq!(signer["log_index"], index, "{version}");
        let text = verify(version, IDENTITY, ISSUER, &[]);
        let stdout = String::from_utf8_lossy(&text.stdout);
        assert!(
            stdout.contains(&format!("signed by {IDENTITY} (issuer {ISSUER}")),
            "{stdout}"
        );
    }
}

#[test]
fn an_explicit_trusted_root_or_trust_config_is_used() {
    let root = shipped_root();
    let out = verify("v1.1.0", IDENTITY, ISSUER, &["--trusted-root", s(&root)]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    // A root that is not a ClientTrustConfig is refused as --trust-config: an input error.
    let out = verify("v1.1.0", IDENTITY, ISSUER, &["--trust-config", s(&root)]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ClientTrustConfig"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let root_text = std::fs::read_to_string(&root).unwrap();
    std::fs::write(
        &config,
        format!(
            r#"{{"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": {root_text}, "signingConfig": {{}}}}"#
        ),
    )
    .unwrap();
    let out = verify("v1.1.0", IDENTITY, ISSUER, &["--trust-config", s(&config)]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    // A root with its current Fulcio CA removed: the same bundle no longer verifies (exit 1).
    let mut edited: serde_json::Value = serde_json::from_str(&root_text).unwrap();
    edited["certificateAuthorities"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let other = dir.path().join("root.json");
    std::fs::write(&other, edited.to_string()).unwrap();
    let out = verify("v1.1.0", IDENTITY, ISSUER, &["--trusted-root", s(&other)]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate not trusted"));
    let out = verify(
        "v1.1.0",
        IDENTITY,
        ISSUER,
        &["--trusted-root", "/nonexistent/root.json"],
    );
    assert_eq!(code(&out), 2);
}

#[test]
fn wrong_identity_or_issuer_is_exit_1() {
    let out = verify("v1.0.0", "someone@example.com", ISSUER, &["--json"]);
    assert_eq!(code(&out), 1);
    let report = json(&out);
    assert_eq!(report["verified"], false);
    assert!(report["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("identity mismatch"));
    let out = verify("v1.0.0", IDENTITY, "https://github.com/login/oauth", &[]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("issuer mismatch"));
}

#[test]
fn usage_errors_are_exit_2() {
    let model = vector("v1.0.0");
    let sig = model.join("model.sig");
    // A real key file: exit 2 must come from the usage error, not from a missing file.
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen_p256(dir.path(), "k");
    // --sigstore needs both --identity and --issuer; they need --sigstore; no --key beside it.
    for (args, expected) in [
        (
            vec![
                "verify",
                s(&model),
                "--signature",
                s(&sig),
                "--sigstore",
                "--identity",
                IDENTITY,
            ],
            "required arguments were not provided:\n  --issuer",
        ),
        (
            vec![
                "verify",
                s(&model),
                "--signature",
                s(&sig),
                "--identity",
                IDENTITY,
                "--issuer",
                ISSUER,
            ],
            "required arguments were not provided:\n  --sigstore",
        ),
        (
            vec![
                "verify",
                s(&model),
                "--signature",
                s(&sig),
                "--sigstore",
                "--identity",
                IDENTITY,
                "--issuer",
                ISSUER,
                "--key",
                s(&public),
            ],
            "'--sigstore' cannot be used with '--key",
        ),
    ] {
        let out = modelseal(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
