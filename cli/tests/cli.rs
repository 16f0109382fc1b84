//! The command line as users and scripts see it: forms, exit codes (0/1/2), `--json`, files written.

mod common;
use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// `modelseal verify MODEL --signature SIG --key KEY EXTRA...`
fn verify_cmd(model: &Path, sig: &Path, key: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", s(model), "--signature", s(sig), "--key", s(key)];
    args.extend_from_slice(extra);
    modelseal(&args)
}

struct Setup {
    dir: tempfile::TempDir,
    model: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(model.join("weights.bin"), vec![7u8; 10_000]).unwrap();
    std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
    let (key, public) = keygen_p256(dir.path(), "key");
    Setup {
        dir,
        model,
        key,
        public,
    }
}

#[test]
fn help_is_available_for_every_verb() {
    for verb in ["keygen", "pubkey", "sign", "verify", "inspect"] {
        let out = modelseal(&[verb, "--help"]);
        assert_eq!(code(&out), 0, "{verb} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: modelseal"),
            "{verb}"
        );
    }
}

/// Asserts a usage error: exit 2 and `expected` in the message (so the exit code comes from the
/// usage error under test, not from a missing file or another error).
fn assert_usage_error(args: &[&str], expected: &str) {
    let out = modelseal(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

#[test]
fn usage_errors_exit_2() {
    // Real files everywhere: only the usage error can explain exit 2.
    let t = setup();
    let sig = t.dir.path().join("model.sig");
    ok(&["sign", s(&t.model), "--key", s(&t.key)]);
    assert_usage_error(&[], "Usage: modelseal <COMMAND>");
    assert_usage_error(&["sign"], "required arguments were not provided");
    // Needs --key or --cert-chain.
    assert_usage_error(
        &["verify", s(&t.model), "--signature", s(&sig)],
        "required arguments were not provided",
    );
    assert_usage_error(
        &["sign", s(&t.model), "--key", s(&t.key), "--hash", "md5"],
        "invalid value 'md5' for '--hash",
    );
}

#[test]
fn sign_verify_inspect_round_trip_with_json() {
    let t = setup();
    let out = modelseal(&["sign", s(&t.model), "--key", s(&t.key), "--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let signed = json(&out);
    let sig = t.dir.path().join("model.sig");
    assert_eq!(
        signed["signature"],
        s(&sig),
        "default signature path is MODEL.sig beside the model"
    );
    assert!(sig.exists());

    let out = verify_cmd(&t.model, &sig, &t.public, &["--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let verified = json(&out);
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["root_digest"], signed["root_digest"]);
    assert_eq!(verified["serialization"]["method"], "files");
    assert_eq!(verified["serialization"]["hash_type"], "sha256");
    assert_eq!(verified["signer"]["method"], "key");
    assert_eq!(verified["errors"], Value::Array(vec![]));
    assert_eq!(verified["resources"], 2);

    let out = modelseal(&["inspect", s(&sig), "--json"]);
    assert_eq!(code(&out), 0);
    let inspected = json(&out);
    assert_eq!(inspected["root_digest"], signed["root_digest"]);
    assert_eq!(inspected["key_hint"], verified["signer"]["key_hint"]);
    assert_eq!(inspected["method"], "key");
}

#[test]
fn tampered_model_exits_1_and_names_the_file() {
    let t = setup();
    let sig = t.dir.path().join("m.sig");
    assert_eq!(
        code(&modelseal(&[
            "sign",
            s(&t.model),
            "--key",
            s(&t.key),
            "-o",
            s(&sig),
            "-q"
        ])),
        0
    );
    std::fs::write(t.model.join("weights.bin"), vec![8u8; 10_000]).unwrap();
    let out = verify_cmd(&t.model, &sig, &t.public, &["--json"]);
    assert_eq!(code(&out), 1);
    let result = json(&out);
    assert_eq!(result["verified"], false);
    let errors = result["errors"].to_string();
    assert!(errors.contains("weights.bin"), "{errors}");
}

#[test]
fn symlink_swapped_in_after_signing_is_refused() {
    // The swap an attacker with write access to the registry makes between sign and verify: the
    // same bytes, now behind a symlink that could later point anywhere.
    let t = setup();
    let sig = t.dir.path().join("m.sig");
    ok(&["sign", s(&t.model), "--key", s(&t.key), "-o", s(&sig), "-q"]);
    let outside = t.dir.path().join("outside.bin");
    std::fs::copy(t.model.join("weights.bin"), &outside).unwrap();
    std::fs::remove_file(t.model.join("weights.bin")).unwrap();
    std::os::unix::fs::symlink(&outside, t.model.join("weights.bin")).unwrap();
    // Refused while walking the model (an input the signer's policy did not allow), before any
    // digest is compared: exit 2, naming the file.
    let out = verify_cmd(&t.model, &sig, &t.public, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(
        stderr.contains("weights.bin") && stderr.contains("symlink"),
        "{stderr}"
    );
}

#[test]
fn wrong_key_exits_1() {
    let t = setup();
    let sig = t.dir.path().join("m.sig");
    assert_eq!(
        code(&modelseal(&[
            "sign",
            s(&t.model),
            "--key",
            s(&t.key),
            "-o",
            s(&sig),
            "-q"
        ])),
        0
    );
    let other = t.dir.path().join("other.pem");
    assert_eq!(
        code(&modelseal(&[
            "keygen",
            "--algorithm",
            "ec-p384",
            "--out",
            s(&other)
        ])),
        0
    );
    let out = verify_cmd(&t.model, &sig, &other, &[]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn input_errors_exit_2() {
    let t = setup();
    let missing = t.dir.path().join("missing.sig");
    let out = verify_cmd(&t.model, &missing, &t.public, &[]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.sig"));

    let garbage = t.dir.path().join("garbage.sig");
    std::fs::write(&garbage, b"\x00\x01 not a bundle").unwrap();
    let out = verify_cmd(&t.model, &garbage, &t.public, &[]);
    assert_eq!(code(&out), 2);

    let out = modelseal(&[
        "sign",
        s(&t.model),
        "--key",
        s(&t.dir.path().join("nokey.pem")),
    ]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nokey.pem"));
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let t = setup();
    let before = std::fs::read(&t.key).unwrap();
    let out = modelseal(&["keygen", "--algorithm", "ec-p256", "--out", s(&t.key)]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(&t.key).unwrap(), before);
    let out = modelseal(&[
        "keygen",
        "--algorithm",
        "ec-p256",
        "--out",
        s(&t.key),
        "--force",
    ]);
    assert_eq!(code(&out), 0);
    assert_ne!(std::fs::read(&t.key).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&t.key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn pubkey_exports_the_public_half() {
    let t = setup();
    let exported = t.dir.path().join("exported.pem");
    assert_eq!(
        code(&modelseal(&["pubkey", s(&t.key), "-o", s(&exported)])),
        0
    );
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&t.public).unwrap()
    );
    let out = modelseal(&["pubkey", &format!("file:{}", s(&t.key))]);
    assert_eq!(code(&out), 0);
    assert_eq!(out.stdout, std::fs::read(&t.public).unwrap());
}

#[test]
fn ed25519_signing_warns_about_interop() {
    let t = setup();
    let key = t.dir.path().join("ed.pem");
    let out = modelseal(&["keygen", "--algorithm", "ed25519", "--out", s(&key)]);
    assert_eq!(code(&out), 0);
    let sig = t.dir.path().join("ed.sig");
    let out = modelseal(&["sign", s(&t.model), "--key", s(&key), "-o", s(&sig)]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("model-signing 1.1.1 cannot verify"));
    let out = verify_cmd(&t.model, &sig, &key, &[]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn ignore_paths_apply_on_sign_and_verify() {
    let t = setup();
    std::fs::write(t.model.join("README.md"), b"docs").unwrap();
    let sig = t.dir.path().join("m.sig");
    let out = modelseal(&[
        "sign",
        s(&t.model),
        "--key",
        s(&t.key),
        "-o",
        s(&sig),
        "--ignore",
        "README.md",
        "--json",
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(json(&out)["resources"], 2);
    // The signed ignore path applies again at verification: editing README.md changes nothing.
    std::fs::write(t.model.join("README.md"), b"edited docs").unwrap();
    let out = verify_cmd(&t.model, &sig, &t.public, &[]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}
