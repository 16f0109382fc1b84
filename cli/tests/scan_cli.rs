//! The content gate as users and scripts see it (docs/scan.md): `modelseal scan` (exit 0 clean,
//! 1 findings, 2 bad input; `--json` one object; `--allow`), `seal` refusing a model with a
//! planted credential (exit 1, nothing written) unless `--no-scan`, `sign --scan`, and a pickle
//! model denied by a policy's `deny_formats` at `verify --policy` (formats in the JSON).

mod common;
use common::policy::{Setup, TRUST_TOML};
use common::*;

use std::path::{Path, PathBuf};

/// AWS's documented example access key id (never a real key).
const EXAMPLE_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

fn model_with(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let m = dir.join("model");
    for (name, bytes) in files {
        let path = m.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    m
}

fn planted(dir: &Path) -> PathBuf {
    let config = format!("{{\n  \"hidden_size\": 8,\n  \"aws_key\": \"{EXAMPLE_KEY}\"\n}}\n");
    model_with(
        dir,
        &[
            ("config.json", config.as_bytes()),
            ("weights.bin", &[7u8; 4096]),
        ],
    )
}

#[test]
fn scan_exits_0_clean_1_with_findings_and_2_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let clean = model_with(
        &dir.path().join("clean"),
        &[
            ("config.json", b"{\"hidden_size\": 8}"),
            ("weights.bin", &[7u8; 4096]),
        ],
    );
    let out = modelseal(&["scan", s(&clean), "--json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    assert_eq!(v["clean"], true);
    assert_eq!(v["files"], 2);

    let model = planted(dir.path());
    let out = modelseal(&["scan", s(&model), "--json"]);
    assert_eq!(code(&out), 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(EXAMPLE_KEY), "{stdout}");
    let v = json(&out);
    assert_eq!(v["clean"], false);
    let finding = &v["findings"][0];
    assert_eq!(finding["path"], "config.json");
    assert_eq!(finding["line"], 3);
    assert_eq!(finding["rule"], "aws-access-key-id");
    let fingerprint = finding["fingerprint"].as_str().unwrap().to_string();

    // Text output names the file, line, rule and fingerprint, and not the key.
    let out = modelseal(&["scan", s(&model)]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("config.json:3: aws-access-key-id"), "{text}");
    assert!(text.contains(&fingerprint));
    assert!(!text.contains(EXAMPLE_KEY));

    // The same fingerprint on a second run; accepted by an allow-list.
    let again = json(&modelseal(&["scan", s(&model), "--json"]));
    assert_eq!(again["findings"][0]["fingerprint"], fingerprint.as_str());
    let allow = dir.path().join("allow.txt");
    std::fs::write(
        &allow,
        format!("# reviewed: example key in a test fixture\n{fingerprint}\n"),
    )
    .unwrap();
    let out = modelseal(&["scan", s(&model), "--allow", s(&allow), "--json"]);
    assert_eq!(code(&out), 0);
    assert_eq!(json(&out)["allowed"], 1);

    // Bad input: no model, an allow-list that is not one.
    assert_eq!(
        code(&modelseal(&["scan", s(&dir.path().join("missing"))])),
        2
    );
    std::fs::write(&allow, "AKIA...\n").unwrap();
    let out = modelseal(&["scan", s(&model), "--allow", s(&allow)]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("allow.txt:1"));
}

#[test]
fn seal_refuses_a_planted_credential_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = planted(dir.path());
    let (key, _) = keygen_p256(dir.path(), "signer");
    let kek = dir.path().join("kek");
    ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&kek)]);
    let enc = dir.path().join("enc");
    let seal = |extra: &[&str]| {
        let mut args = vec![
            "seal",
            s(&model),
            "--key",
            s(&key),
            "--recipient",
            s(&kek),
            "-o",
            s(&enc),
        ];
        args.extend_from_slice(extra);
        modelseal(&args)
    };
    let out = seal(&[]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json:3 aws-access-key-id"), "{err}");
    assert!(!err.contains(EXAMPLE_KEY));
    assert!(!enc.exists());
    assert!(!dir.path().join("enc.sig").exists());
    assert_eq!(
        leftovers(
            dir.path(),
            &["model", "signer.pem", "signer.pub.pem", "kek"]
        ),
        Vec::<String>::new()
    );

    let out = seal(&["--json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["findings"][0]["rule"], "aws-access-key-id");

    let out = seal(&["--no-scan", "--quiet"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(enc.exists());
}

#[test]
fn sign_scans_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let model = planted(dir.path());
    let (key, _) = keygen_p256(dir.path(), "signer");
    let sig = dir.path().join("model.sig");
    let out = modelseal(&["sign", s(&model), "--key", s(&key), "--scan"]);
    assert_eq!(code(&out), 1);
    assert!(!sig.exists());
    ok(&["sign", s(&model), "--key", s(&key), "--quiet"]);
    assert!(sig.exists());
}

/// A protocol-2 pickle importing `os.system` (bytes only: nothing here unpickles it).
const PICKLE: &[u8] = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";

#[test]
fn a_pickle_model_is_denied_by_deny_formats_at_verify_policy() {
    let t = Setup::new();
    std::fs::write(t.model.join("model.pkl"), PICKLE).unwrap();
    let release = t.sign("release");
    let verify = |policy: &str| {
        std::fs::write(t.path("trust.toml"), policy).unwrap();
        modelseal(&[
            "verify",
            s(&t.model),
            "--signature",
            s(&release),
            "--policy",
            s(&t.path("trust.toml")),
            "--model-name",
            "dev/llm",
            "--json",
        ])
    };
    let out = verify(&format!("deny_formats = [\"pickle\"]\n{TRUST_TOML}"));
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["allowed"], false);
    assert_eq!(
        v["reasons"],
        serde_json::json!([
            "model.pkl: format pickle is denied by the policy's deny_formats (imports os.system)"
        ])
    );
    assert_eq!(v["format_names"], serde_json::json!(["pickle"]));
    assert_eq!(v["formats"][0]["globals"], serde_json::json!(["os.system"]));

    // Plain verification lists the formats of the verified files too.
    let out = modelseal(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&release),
        "--key",
        s(&t.path("release.pub.pem")),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["format_names"], serde_json::json!(["pickle"]));
    assert_eq!(v["formats"][0]["path"], "model.pkl");
    assert_eq!(v["formats"][0]["globals"], serde_json::json!(["os.system"]));

    // The dev/* rule overrides the top-level list: allowed, formats still listed.
    let overridden = TRUST_TOML.replace(
        "require = [\"release\"]\n",
        "require = [\"release\"]\ndeny_formats = []\n",
    );
    let out = verify(&format!("deny_formats = [\"pickle\"]\n{overridden}"));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["formats"][0]["path"], "model.pkl");

    // An unknown format name is a load error naming the field.
    let out = verify(&format!("deny_formats = [\"pickles\"]\n{TRUST_TOML}"));
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("deny_formats"));
}
