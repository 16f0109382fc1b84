//! `modelseal digest` (issue 16 item 6): the root digest of a model equals the subject digest the
//! reference implementation recorded when it signed that model — model-signing 1.1.1's bundles in
//! `test-vectors/oms/` (their `root_digest` field, every serialization it wrote: files and shards,
//! sha256, blake2b, blake3, a single file, ignored paths) and the OMS v1.0 spec's own
//! `valid/key.bundle.json`. None of the expected values comes from modelseal.

mod common;
use common::*;

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors")
}

/// `modelseal digest MODEL ARGS… --json`, its JSON (asserting exit 0).
fn digest(model: &Path, args: &[String]) -> Value {
    let mut all = vec!["digest".to_string(), s(model).to_string()];
    all.extend(args.iter().cloned());
    all.push("--json".into());
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    json(&ok(&refs))
}

#[test]
fn digest_matches_the_root_digests_model_signing_recorded() {
    let dir = vectors_dir().join("oms");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("vectors.json")).unwrap()).unwrap();
    let mut seen = BTreeSet::new();
    for vector in index["vectors"].as_array().unwrap() {
        if vector["expect"] != "verify" {
            continue;
        }
        let serialization = &vector["serialization"];
        let mut args = vec![
            "--hash".to_string(),
            serialization["hash"].as_str().unwrap().to_string(),
        ];
        if serialization["method"] == "shards" {
            args.push("--shards".into());
            args.push("--shard-size".into());
            args.push(serialization["shard_size"].to_string());
        }
        // The paths the reference was told to ignore, as its recorded command line says.
        let made_by = vector["made_by"].as_str().unwrap();
        let mut words = made_by.split_whitespace();
        while let Some(word) = words.next() {
            if word == "--ignore-paths" {
                let path = dir.join(words.next().unwrap());
                args.push("--ignore".into());
                args.push(s(&path).to_string());
            }
        }
        let model = dir.join(vector["model"].as_str().unwrap());
        let expected = format!("sha256:{}", vector["root_digest"].as_str().unwrap());
        let out = digest(&model, &args);
        assert_eq!(out["root_digest"], expected.as_str(), "{}", vector["name"]);
        assert_eq!(
            out["serialization"]["hash_type"], serialization["hash"],
            "{}",
            vector["name"]
        );
        // The text form prints the same, alone on stdout.
        let mut text_args: Vec<&str> = vec!["digest", s(&model)];
        text_args.extend(args.iter().map(String::as_str));
        let text = ok(&text_args);
        assert_eq!(
            String::from_utf8_lossy(&text.stdout),
            format!("{expected}\n"),
            "{}",
            vector["name"]
        );
        seen.insert(vector["name"].as_str().unwrap().to_string());
    }
    // Every kind of serialization the reference wrote was checked.
    for kind in [
        "files-sha256",
        "files-blake2b",
        "files-blake3",
        "shards-sha256",
        "shards-blake2b",
        "single-file",
        "ignored",
    ] {
        assert!(
            seen.iter().any(|n| n.contains(kind)),
            "no vector for {kind}"
        );
    }
}

#[test]
fn digest_matches_the_spec_vector_subject() {
    let root = vectors_dir();
    let bundle: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("oms-v1.0/valid/key.bundle.json")).unwrap(),
    )
    .unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    let subject = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap();
    let model = root.join("oms-unit/upstream/model-elliptic-key");
    // The user ignore path the signer recorded (the rest are the default git paths).
    let out = digest(&model, &["--ignore".into(), "ignore-me".into()]);
    assert_eq!(out["root_digest"], format!("sha256:{subject}"));
    assert_eq!(
        out["resources"],
        statement["predicate"]["resources"]
            .as_array()
            .unwrap()
            .len()
    );
}

#[test]
fn digest_refuses_what_sign_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = modelseal(&["digest", s(&empty)]);
    assert_eq!(code(&out), 2);
    let model = dir.path().join("m");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("w.bin"), b"x").unwrap();
    let out = modelseal(&["digest", s(&model), "--shards", "--hash", "blake3"]);
    assert_eq!(code(&out), 2);
    // The JSON form's keys.
    let out = json(&ok(&["digest", s(&model), "--json"]));
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "error_class",
            "errors",
            "model",
            "ok",
            "resources",
            "root_digest",
            "schema",
            "serialization",
            "verb"
        ]
    );
}

/// Runs `modelseal ARGS…`, truncates `file` (a large written file of the model) once the process
/// has it mapped, and returns the output: an error naming the file, never a death by SIGBUS.
fn truncated_while_hashed(args: &[&str], file: &Path) -> std::process::Output {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mapped = wait_until_mapped(child.id(), file, std::time::Duration::from_secs(120));
    truncate_under(file);
    let out = child.wait_with_output().unwrap();
    assert!(mapped, "{:?} never mapped {}", args, file.display());
    out
}

#[test]
fn a_file_truncated_while_sign_or_verify_hashes_it_is_an_error_naming_it() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen_p256(dir.path(), "k");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let weights = model.join("weights.bin");
    std::fs::write(model.join("config.json"), b"{}").unwrap();
    std::fs::write(&weights, b"w").unwrap();
    let sig = dir.path().join("model.sig");
    ok(&[
        "sign",
        s(&model),
        "--key",
        s(&key),
        "-o",
        s(&sig),
        "--quiet",
    ]);
    let other_sig = dir.path().join("other.sig");
    for (verb, args) in [
        (
            "verify",
            vec![
                "verify",
                s(&model),
                "--signature",
                s(&sig),
                "--key",
                s(&public),
            ],
        ),
        (
            "sign",
            vec![
                "sign",
                s(&model),
                "--key",
                s(&key),
                "-o",
                s(&other_sig),
                "--quiet",
            ],
        ),
    ] {
        // 1 GiB of written data (holes are read, not mapped): hashing it takes most of a
        // second, and the truncation lands milliseconds after the first window is mapped.
        write_data(&weights, 1 << 30);
        let out = truncated_while_hashed(&args, &weights);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), None, "{verb} died by a signal: {err}");
        assert_ne!(out.status.code(), Some(0), "{verb}: {err}");
        assert!(
            err.contains("weights.bin") && err.contains("changed while it was being hashed"),
            "{verb}: {err}"
        );
    }
    assert!(!other_sig.exists(), "no signature written");
}
