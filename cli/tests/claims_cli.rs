//! Claims files (`claims.jsonl`, one signature per line: issue 16 item 5), where `sign -o` may
//! write (issue 17 item 13: never over an existing file without `--force`, never over a file of
//! the model), and `seal --force`.

mod common;
use common::*;

use serde_json::{json as j, Value};
use std::path::{Path, PathBuf};

/// A two-file model `llm` and key pairs `a`, `b`, `c`, `other` in one temporary directory.
struct Claims {
    dir: tempfile::TempDir,
    model: PathBuf,
}

impl Claims {
    fn new() -> Claims {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), vec![7u8; 5000]).unwrap();
        std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
        for name in ["a", "b", "c", "other"] {
            keygen_p256(dir.path(), name);
        }
        Claims { dir, model }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.pem"))
    }

    fn public(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.pub.pem"))
    }

    /// `sign llm --key NAME.pem -o SIG EXTRA…`, its output.
    fn sign(&self, name: &str, sig: &Path, extra: &[&str]) -> std::process::Output {
        let key = self.key(name);
        let mut args = vec![
            "sign",
            s(&self.model),
            "--key",
            s(&key),
            "-o",
            s(sig),
            "--quiet",
        ];
        args.extend(extra);
        modelseal(&args)
    }

    /// `claims.jsonl` beside the model with lines signed by `a`, `b`, `c` (in that order).
    fn three_signers(&self) -> PathBuf {
        let claims = self.path("claims.jsonl");
        for name in ["a", "b", "c"] {
            let out = self.sign(name, &claims, &["--append"]);
            assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        }
        claims
    }

    fn verify_key(&self, sig: &Path, public: &str) -> (i32, Value, String) {
        let key = self.public(public);
        let out = modelseal(&[
            "verify",
            s(&self.model),
            "--signature",
            s(sig),
            "--key",
            s(&key),
            "--json",
        ]);
        (
            code(&out),
            json(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn verify_policy(&self, sig: &Path, name: &str) -> (i32, Value) {
        let policy = self.path("trust.toml");
        std::fs::write(&policy, POLICY).unwrap();
        let out = modelseal(&[
            "verify",
            s(&self.model),
            "--signature",
            s(sig),
            "--policy",
            s(&policy),
            "--model-name",
            name,
            "--json",
        ]);
        (code(&out), json(&out))
    }
}

const POLICY: &str = r#"version = 1
[signers.a]
key = "a.pub.pem"
[signers.b]
key = "b.pub.pem"
[signers.c]
key = "c.pub.pem"
[[models]]
name = "two/*"
require = ["a", "b", "c"]
threshold = 2
[[models]]
name = "three/*"
require = ["a", "b", "c"]
threshold = 3
"#;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn three_signers_satisfy_two_of_three_and_three_of_three_fails_with_a_line_removed() {
    let t = Claims::new();
    let claims = t.three_signers();
    assert_eq!(lines(&claims).len(), 3);

    let (code2, two) = t.verify_policy(&claims, "two/llm");
    assert_eq!(code2, 0, "{two}");
    assert_eq!(two["signers"], j!(["a", "b", "c"]));
    let per_line: Vec<(Value, Value)> = two["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["line"].clone(), o["verified"].clone()))
        .collect();
    assert_eq!(
        per_line,
        [(j!(1), j!(true)), (j!(2), j!(true)), (j!(3), j!(true))]
    );
    let (code3, three) = t.verify_policy(&claims, "three/llm");
    assert_eq!(code3, 0, "{three}");
    // A line by a party the policy does not know is a candidate that does not count, not a denial.
    assert_eq!(code(&t.sign("other", &claims, &["--append"])), 0);
    let (code2, two) = t.verify_policy(&claims, "two/llm");
    assert_eq!(code2, 0, "{two}");
    assert_eq!(two["signatures"][3]["line"], 4);
    assert_eq!(two["signatures"][3]["verified"], false);
    assert_eq!(two["reasons"], j!([]));

    // Remove b's line: 2-of-3 still holds, 3-of-3 does not.
    let kept: Vec<String> = lines(&claims)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l + "\n")
        .collect();
    std::fs::write(&claims, kept.concat()).unwrap();
    let (code2, two) = t.verify_policy(&claims, "two/llm");
    assert_eq!(code2, 0, "{two}");
    assert_eq!(two["signers"], j!(["a", "c"]));
    let (code3, three) = t.verify_policy(&claims, "three/llm");
    assert_eq!(code3, 1, "{three}");
    assert_eq!(three["allowed"], false);
    // The denial lists why the unknown line did not count, and the threshold.
    let reasons: Vec<&str> = three["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{three}");
    assert!(
        reasons[0].contains("line 3: not signed by any signer"),
        "{three}"
    );
    assert!(
        reasons[1].contains("2 of the required 3 signers verified"),
        "{three}"
    );
}

#[test]
fn many_lines_of_one_signer_count_once() {
    let t = Claims::new();
    let claims = t.path("claims.jsonl");
    for _ in 0..3 {
        assert_eq!(code(&t.sign("a", &claims, &["--append"])), 0);
    }
    let (code2, two) = t.verify_policy(&claims, "two/llm");
    assert_eq!(code2, 1, "{two}");
    assert_eq!(two["signers"], j!(["a"]));
}

#[test]
fn verify_key_succeeds_when_a_line_verifies_and_names_it() {
    let t = Claims::new();
    let claims = t.three_signers();
    let (c, out, _) = t.verify_key(&claims, "b");
    assert_eq!(c, 0, "{out}");
    assert_eq!(out["verified"], true);
    assert_eq!(out["line"], 2);
    assert_eq!(out["signature"], s(&claims));
    // The text output says which line.
    let key = t.public("c");
    let text = ok(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&claims),
        "--key",
        s(&key),
    ]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("line 3 of"), "{stdout}");

    // No line by `other`: a verification failure naming every line.
    let (c, out, _) = t.verify_key(&claims, "other");
    assert_eq!(c, 1, "{out}");
    assert_eq!(out["verified"], false);
    let errors = out["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{out}");
    for (i, e) in errors.iter().enumerate() {
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("line {}: ", i + 1)),
            "{out}"
        );
        assert_eq!(e["code"], "untrusted_key", "{out}");
    }

    // A changed model: the trusted line's mismatch is the error.
    std::fs::write(t.model.join("weights.bin"), b"changed").unwrap();
    let (c, out, _) = t.verify_key(&claims, "a");
    assert_eq!(c, 1, "{out}");
    assert!(
        out["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("weights.bin: changed since signing"),
        "{out}"
    );
    assert_eq!(out["errors"][0]["code"], "digest_mismatch", "{out}");
    assert_eq!(out["errors"][0]["path"], "weights.bin", "{out}");
}

#[test]
fn a_malformed_line_is_an_input_error_naming_its_number() {
    let t = Claims::new();
    let claims = t.three_signers();
    let mut text = std::fs::read_to_string(&claims).unwrap();
    text.push_str("{\"mediaType\": \"x\"}\n");
    std::fs::write(&claims, text).unwrap();
    let (c, out, stderr) = t.verify_key(&claims, "a");
    assert_eq!(c, 2, "{out}");
    assert!(stderr.contains("line 4: malformed signature"), "{stderr}");
    let (c, out) = t.verify_policy(&claims, "two/llm");
    assert_eq!(c, 2, "{out}");
    assert!(
        out["reasons"][0].as_str().unwrap().contains("line 4"),
        "{out}"
    );
    let out = modelseal(&["inspect", s(&claims)]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 4"));
}

#[test]
fn inspect_lists_every_line() {
    let t = Claims::new();
    let claims = t.three_signers();
    let out = json(&ok(&["inspect", s(&claims), "--json"]));
    let signatures = out["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 3);
    for (i, sig) in signatures.iter().enumerate() {
        assert_eq!(sig["line"], i + 1);
        assert_eq!(sig["method"], "key");
        assert_eq!(sig["model_name"], "llm");
    }
    let hints: Vec<&Value> = signatures.iter().map(|s| &s["key_hint"]).collect();
    assert_ne!(hints[0], hints[1]);
    let text = String::from_utf8_lossy(&ok(&["inspect", s(&claims)]).stdout).into_owned();
    assert!(text.contains("3 signatures"), "{text}");
    assert!(text.contains("line 3:"), "{text}");
}

#[test]
fn concurrent_appenders_leave_every_line_parseable() {
    let t = Claims::new();
    let claims = t.path("claims.jsonl");
    let key = t.key("a");
    let children: Vec<std::process::Child> = (0..8)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_modelseal"))
                .args([
                    "sign",
                    s(&t.model),
                    "--key",
                    s(&key),
                    "-o",
                    s(&claims),
                    "--append",
                    "--quiet",
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let all = lines(&claims);
    assert_eq!(all.len(), 8);
    for line in &all {
        let bundle: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            bundle["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
    }
    let inspected = json(&ok(&["inspect", s(&claims), "--json"]));
    assert_eq!(inspected["signatures"].as_array().unwrap().len(), 8);
    let (c, out, _) = t.verify_key(&claims, "a");
    assert_eq!(c, 0, "{out}");
}

#[test]
fn append_adds_a_line_and_never_rewrites_earlier_ones() {
    let t = Claims::new();
    let claims = t.path("claims.jsonl");
    assert_eq!(code(&t.sign("a", &claims, &["--append"])), 0);
    let first = std::fs::read(&claims).unwrap();
    assert_eq!(code(&t.sign("b", &claims, &["--append"])), 0);
    let both = std::fs::read(&claims).unwrap();
    assert!(both.starts_with(&first));
    // A .jsonl written without --append is a claims file of one line; an existing one is
    // refused without --append or --force.
    let one = t.path("one.jsonl");
    assert_eq!(code(&t.sign("a", &one, &[])), 0);
    let (c, out, _) = t.verify_key(&one, "a");
    assert_eq!((c, &out["line"]), (0, &j!(1)), "{out}");
    let out = t.sign("b", &claims, &[]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(&claims).unwrap(), both);
    // --append writes claims files only.
    let out = t.sign("a", &t.path("x.sig"), &["--append"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains(".jsonl"));
    assert!(!t.path("x.sig").exists());
}

#[test]
fn sign_refuses_an_existing_output_without_force_and_leaves_it_unchanged() {
    let t = Claims::new();
    let sig = t.path("llm.sig");
    std::fs::write(&sig, b"precious").unwrap();
    let out = t.sign("a", &sig, &[]);
    assert_eq!(code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&sig).unwrap(), b"precious");
    // The default output beside the model too.
    let default = modelseal(&["sign", s(&t.model), "--key", s(&t.key("a")), "--quiet"]);
    assert_eq!(code(&default), 2);
    assert_eq!(std::fs::read(&sig).unwrap(), b"precious");
    // --force replaces it.
    assert_eq!(code(&t.sign("a", &sig, &["--force"])), 0);
    let (c, out, _) = t.verify_key(&sig, "a");
    assert_eq!(c, 0, "{out}");
    assert!(out["line"].is_null(), "{out}");
}

#[test]
fn sign_never_replaces_a_file_of_the_model() {
    let t = Claims::new();
    let weights = t.model.join("weights.bin");
    let before = std::fs::read(&weights).unwrap();
    for extra in [&[][..], &["--force"], &["--append"]] {
        let out = t.sign("a", &weights, extra);
        assert_eq!(code(&out), 2, "{extra:?}");
        assert_eq!(std::fs::read(&weights).unwrap(), before, "{extra:?}");
    }
    let out = t.sign("a", &weights, &["--force"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a file of the model"), "{stderr}");
    // A .jsonl model file that is not a claims file is not appended to either.
    let data = t.model.join("data.jsonl");
    std::fs::write(&data, b"{\"text\": \"hello\"}\n").unwrap();
    let out = t.sign("a", &data, &["--append"]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(&data).unwrap(), b"{\"text\": \"hello\"}\n");
    // Nor the model itself when it is one file.
    let out = modelseal(&[
        "sign",
        s(&weights),
        "--key",
        s(&t.key("a")),
        "-o",
        s(&weights),
        "--force",
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(&weights).unwrap(), before);
}

#[test]
fn a_new_signature_inside_the_model_is_left_out_and_recorded_in_ignore_paths() {
    let t = Claims::new();
    let bundle = t.model.join("bundle.sig");
    assert_eq!(code(&t.sign("a", &bundle, &[])), 0);
    let (c, out, _) = t.verify_key(&bundle, "a");
    assert_eq!(c, 0, "{out}");
    assert_eq!(out["resources"], 2, "{out}");
    let inspected = json(&ok(&["inspect", s(&bundle), "--json"]));
    let ignore = inspected["serialization"]["ignore_paths"]
        .as_array()
        .unwrap();
    assert!(ignore.contains(&j!("bundle.sig")), "{inspected}");

    // A claims file inside the model accumulates signatures of the model it is left out of.
    std::fs::remove_file(&bundle).unwrap();
    let claims = t.model.join("claims.jsonl");
    assert_eq!(code(&t.sign("a", &claims, &["--append"])), 0);
    assert_eq!(code(&t.sign("b", &claims, &["--append"])), 0);
    let (c, out) = t.verify_policy(&claims, "two/llm");
    assert_eq!(c, 0, "{out}");
    assert_eq!(out["files"], 2, "{out}");
}

#[test]
fn seal_refuses_existing_outputs_without_force() {
    let t = Claims::new();
    ok(&[
        "keygen",
        "--algorithm",
        "aes256-kek",
        "--out",
        s(&t.path("kek")),
    ]);
    let enc = t.path("enc");
    let key = t.key("a");
    let kek = t.path("kek");
    let seal = |extra: &[&str]| {
        let mut args = vec![
            "seal",
            s(&t.model),
            "--key",
            s(&key),
            "--recipient",
            s(&kek),
            "-o",
            s(&enc),
            "--quiet",
        ];
        args.extend(extra);
        modelseal(&args)
    };
    assert_eq!(code(&seal(&[])), 0);
    let sig = t.path("enc.sig");
    let before = std::fs::read(&sig).unwrap();
    let again = seal(&[]);
    assert_eq!(code(&again), 2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&sig).unwrap(), before);
    let forced = seal(&["--force"]);
    assert_eq!(
        code(&forced),
        0,
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_ne!(std::fs::read(&sig).unwrap(), before);
}
