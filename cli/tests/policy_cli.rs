//! `modelseal verify --policy`: exit codes, the JSON decision (model, root digest, signers, rule,
//! reasons), k-of-n signatures, Rego, and the non-policy forms still working.

mod common;
use common::policy::Setup;
use common::*;

use std::path::Path;

impl Setup {
    fn verify(&self, sigs: &[&Path], name: &str) -> (i32, serde_json::Value) {
        let policy = self.path("trust.toml");
        let mut args = vec!["verify", s(&self.model)];
        for sig in sigs {
            args.extend(["--signature", s(sig)]);
        }
        args.extend(["--policy", s(&policy), "--model-name", name, "--json"]);
        let out = modelseal(&args);
        (code(&out), json(&out))
    }
}

#[test]
fn two_of_two_denies_one_signature_and_allows_two() {
    let t = Setup::new();
    let release = t.sign("release");
    let ci = t.sign("ci");
    let (code1, one) = t.verify(&[&release], "prod/llm");
    assert_eq!(code1, 1, "{one}");
    assert_eq!(one["allowed"], false);
    assert_eq!(one["signers"], serde_json::json!(["release"]));
    assert_eq!(one["rule"]["name"], "prod/*");
    assert_eq!(one["rule"]["threshold"], 2);
    let reasons = one["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0]
        .as_str()
        .unwrap()
        .contains("1 of the required 2 signers verified"));

    let (code2, both) = t.verify(&[&release, &ci], "prod/llm");
    assert_eq!(code2, 0, "{both}");
    assert_eq!(both["allowed"], true);
    assert_eq!(both["model_name"], "prod/llm");
    assert_eq!(both["signers"], serde_json::json!(["ci", "release"]));
    assert_eq!(both["reasons"], serde_json::json!([]));
    assert_eq!(both["files"], 2);
    assert_eq!(both["serialization"]["hash_type"], "sha256");
    // The root digest is the one `inspect` reads from the signature.
    let inspected = json(&ok(&["inspect", s(&release), "--json"]));
    assert_eq!(both["root_digest"], inspected["root_digest"]);
}

#[test]
fn untrusted_key_uncovered_name_and_tampering_exit_1() {
    let t = Setup::new();
    let other = t.sign("other");
    let (code, d) = t.verify(&[&other], "dev/llm");
    assert_eq!(code, 1);
    assert!(
        d["reasons"][0]
            .as_str()
            .unwrap()
            .contains("not signed by any signer of the policy"),
        "{d}"
    );
    assert_eq!(d["signers"], serde_json::json!([]));

    let release = t.sign("release");
    let (code, d) = t.verify(&[&release], "staging/llm");
    assert_eq!(code, 1);
    assert_eq!(d["rule"], serde_json::Value::Null);
    assert_eq!(
        d["reasons"],
        serde_json::json!(["no [[models]] rule covers model name \"staging/llm\""])
    );

    std::fs::write(t.model.join("weights.bin"), b"tampered").unwrap();
    let (code, d) = t.verify(&[&release], "dev/llm");
    assert_eq!(code, 1);
    assert!(
        d["reasons"][0]
            .as_str()
            .unwrap()
            .contains("weights.bin: changed since signing"),
        "{d}"
    );
}

#[test]
fn rego_deny_exits_1_with_its_message() {
    let t = Setup::new();
    std::fs::write(
        t.path("deploy.rego"),
        "package modelseal\n\ndeny contains msg if {\n  startswith(input.model_name, \"dev/\")\n  msg := sprintf(\"%s: dev models are not deployed (%d files)\", [input.model_name, input.files])\n}\n",
    )
    .unwrap();
    let mut text = std::fs::read_to_string(t.path("trust.toml")).unwrap();
    text.push_str("[rego]\nfile = \"deploy.rego\"\n");
    std::fs::write(t.path("trust.toml"), text).unwrap();
    let release = t.sign("release");
    let (code, d) = t.verify(&[&release], "dev/llm");
    assert_eq!(code, 1);
    assert_eq!(
        d["reasons"],
        serde_json::json!(["rego: dev/llm: dev models are not deployed (2 files)"])
    );
    assert_eq!(d["signers"], serde_json::json!(["release"]));
}

#[test]
fn input_errors_exit_2() {
    let t = Setup::new();
    let release = t.sign("release");
    std::fs::write(
        t.path("bad.toml"),
        "version = 1\n[[models]]\nname = \"x\"\nrequire = [\"nobody\"]\n",
    )
    .unwrap();
    let out = modelseal(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&release),
        "--policy",
        s(&t.path("bad.toml")),
    ]);
    assert_eq!(code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:4: models[0].require: unknown signer \"nobody\""),
        "{stderr}"
    );

    let missing = t.path("missing.sig");
    let out = modelseal(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&missing),
        "--policy",
        s(&t.path("trust.toml")),
        "--json",
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(json(&out)["allowed"], false);

    // Several signatures without a policy: a usage error.
    let out = modelseal(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&release),
        "--signature",
        s(&release),
        "--key",
        s(&t.path("release.pub.pem")),
    ]);
    assert_eq!(code(&out), 2);
    // --model-name needs --policy (clap usage error).
    let out = modelseal(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&release),
        "--key",
        s(&t.path("release.pub.pem")),
        "--model-name",
        "x",
    ]);
    assert_eq!(code(&out), 2);
    // The key form still works.
    ok(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&release),
        "--key",
        s(&t.path("release.pub.pem")),
    ]);
}
