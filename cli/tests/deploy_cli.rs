//! `seal` → registry `verify --policy` (no decryption key) → `unseal`: byte-identical files with
//! modes 0400/0500; every failure (untrusted key, uncovered name, Rego deny, tampered ciphertext,
//! tampered plaintext) exits 1 with its reason, creates no DIR and leaves nothing decrypted; the
//! audit log has one valid JSON line per operation and no secret.

mod common;
use common::*;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), vec![5u8; 70_000]).unwrap();
        std::fs::write(model.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
        let t = Setup { dir };
        for name in ["release", "other"] {
            keygen_p256(t.dir.path(), name);
        }
        ok(&[
            "keygen",
            "--algorithm",
            "x25519",
            "--out",
            s(&t.path("deploy.pem")),
        ]);
        ok(&[
            "keygen",
            "--algorithm",
            "aes256-kek",
            "--out",
            s(&t.path("registry.kek")),
        ]);
        t.write_policy("release.pub.pem", "");
        t
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write_policy(&self, key: &str, extra: &str) {
        std::fs::write(
            self.path("trust.toml"),
            format!("version = 1\naudit_log = \"audit.jsonl\"\n[signers.release]\nkey = \"{key}\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n{extra}"),
        )
        .unwrap();
    }
    fn seal(&self, enc: &str) {
        ok(&[
            "seal",
            s(&self.path("llm")),
            "--key",
            s(&self.path("release.pem")),
            "--recipient",
            s(&self.path("deploy.pem.pub")),
            "--recipient",
            s(&self.path("registry.kek")),
            "-o",
            s(&self.path(enc)),
            "--model-name",
            "prod/llm",
            "--quiet",
        ]);
    }
    fn unseal(&self, enc: &str, out: &str, extra: &[&str]) -> (i32, Value) {
        let (enc, policy, key, out) = (
            self.path(enc),
            self.path("trust.toml"),
            self.path("deploy.pem"),
            self.path(out),
        );
        let mut args = vec![
            "unseal",
            s(&enc),
            "--policy",
            s(&policy),
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = modelseal(&args);
        (code(&o), json(&o))
    }
    fn audit_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path("audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    /// Asserts DIR is absent and no temporary is left beside it. Every temporary modelseal makes
    /// beside an output is hidden (its name starts with a dot) and none of the test's own files
    /// is, so this holds whatever the temporaries are named (a check by name stops seeing them
    /// when they are renamed).
    fn nothing_left(&self, out: &str) {
        assert!(!self.path(out).exists(), "{out} must not be created");
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with('.'), "left behind: {name}");
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Where the private scalar (EC) or key (X25519) of a PKCS#8 key starts: after the first 32-byte
/// OCTET STRING header (`04 20`), which in both layouts holds the secret itself (EC: inside
/// ECPrivateKey, after its version; X25519: inside the CurvePrivateKey wrapper).
fn private_scalar_at(der: &[u8]) -> usize {
    let at = der
        .windows(2)
        .position(|w| w == [0x04, 0x20])
        .expect("a 32-byte OCTET STRING in the PKCS#8 key");
    assert!(der.len() >= at + 34, "a 32-byte OCTET STRING");
    at + 2
}

/// Every secret the tests hold, as the log could spell it: each private scalar as hex, as base64
/// and as the part of the PEM body that spells only scalar bytes, and the KEK. Not the constant
/// PKCS#8 header or the public key, which are no secret.
fn secrets(t: &Setup) -> Vec<String> {
    use base64::Engine;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for key in ["release.pem", "other.pem", "deploy.pem"] {
        let pem = std::fs::read_to_string(t.path(key)).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = b64.decode(&body).unwrap();
        let at = private_scalar_at(&der);
        let scalar = &der[at..at + 32];
        out.push(hex::encode(scalar));
        // Without the last group, whose characters depend on the padding.
        out.push(b64.encode(scalar)[..40].to_string());
        // The PEM body's 4-character groups that encode only scalar bytes.
        let (first, end) = (at.div_ceil(3), (at + 32) / 3);
        out.push(body[first * 4..end * 4].to_string());
    }
    let kek = std::fs::read_to_string(t.path("registry.kek")).unwrap();
    out.push(kek.trim().to_lowercase());
    out
}

#[test]
fn seal_verify_unseal_round_trip_with_audit() {
    let t = Setup::new();
    t.seal("llm.enc");
    assert!(t.path("llm.enc.sig").is_file());
    // The registry verifies the encrypted model with no decryption key.
    let out = ok(&[
        "verify",
        s(&t.path("llm.enc")),
        "--signature",
        s(&t.path("llm.enc.sig")),
        "--policy",
        s(&t.path("trust.toml")),
        "--json",
    ]);
    let d = json(&out);
    assert_eq!(d["allowed"], true);
    assert_eq!(
        d["model_name"], "prod/llm",
        "the envelope's model name is the default"
    );

    let (code, u) = t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 0, "{u}");
    assert_eq!(u["signers"], serde_json::json!(["release"]));
    let run = t.path("run");
    for name in ["weights.bin", "sub/config.json"] {
        assert_eq!(
            std::fs::read(run.join(name)).unwrap(),
            std::fs::read(t.path("llm").join(name)).unwrap()
        );
        assert_eq!(mode(&run.join(name)), 0o400, "{name}");
    }
    assert_eq!(mode(&run), 0o500);
    assert_eq!(mode(&run.join("sub")), 0o500);
    // The inner signature is kept and verifies the published model on its own.
    ok(&[
        "verify",
        s(&run),
        "--signature",
        s(&run.join("modelseal.sig")),
        "--key",
        s(&t.path("release.pub.pem")),
    ]);
    assert_eq!(
        d_root(&u),
        json(&ok(&["inspect", s(&run.join("modelseal.sig")), "--json"]))["root_digest"]
    );
    t.nothing_left("nothing-else");

    // Audit: verify (policy audit_log) and unseal wrote one line each; seal had no log configured.
    let lines = t.audit_lines();
    let ops: Vec<&str> = lines
        .iter()
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    // (`verify --key` without --audit-log and without a policy logs nothing.)
    assert_eq!(ops, vec!["verify", "unseal"], "{lines:?}");
}

fn d_root(u: &Value) -> Value {
    u["root_digest"].clone()
}

#[test]
fn every_verb_appends_one_line_and_no_secret() {
    let t = Setup::new();
    let log = t.path("ops.jsonl");
    let l = s(&log);
    ok(&[
        "sign",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pem")),
        "-o",
        s(&t.path("llm.sig")),
        "--audit-log",
        l,
        "--quiet",
    ]);
    ok(&[
        "verify",
        s(&t.path("llm")),
        "--signature",
        s(&t.path("llm.sig")),
        "--key",
        s(&t.path("release.pub.pem")),
        "--audit-log",
        l,
        "--quiet",
    ]);
    ok(&[
        "encrypt",
        s(&t.path("llm")),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&t.path("e1")),
        "--audit-log",
        l,
        "--quiet",
    ]);
    ok(&[
        "decrypt",
        s(&t.path("e1")),
        "--key",
        s(&t.path("deploy.pem")),
        "-o",
        s(&t.path("d1")),
        "--audit-log",
        l,
        "--quiet",
    ]);
    ok(&[
        "rewrap",
        s(&t.path("e1")),
        "--key",
        s(&t.path("deploy.pem")),
        "--recipient",
        s(&t.path("registry.kek")),
        "--audit-log",
        l,
    ]);
    ok(&[
        "seal",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pem")),
        "--recipient",
        s(&t.path("registry.kek")),
        "-o",
        s(&t.path("e2")),
        "--model-name",
        "prod/llm",
        "--audit-log",
        l,
        "--quiet",
    ]);
    let o = modelseal(&[
        "unseal",
        s(&t.path("e2")),
        "--policy",
        s(&t.path("trust.toml")),
        "--key",
        s(&t.path("registry.kek")),
        "--out",
        s(&t.path("r2")),
        "--audit-log",
        l,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let unsealed = json(&o);
    // A failure is logged too: decrypting with a key that is not a recipient.
    let o = modelseal(&[
        "decrypt",
        s(&t.path("e2")),
        "--key",
        s(&t.path("deploy.pem")),
        "-o",
        s(&t.path("d3")),
        "--audit-log",
        l,
    ]);
    assert_eq!(code(&o), 1);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops: Vec<&str> = lines
        .iter()
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        vec!["sign", "verify", "encrypt", "decrypt", "rewrap", "seal", "unseal", "decrypt"]
    );
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec!["ok", "ok", "ok", "ok", "ok", "ok", "ok", "failed"]
    );
    for line in &lines {
        let time = line["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    }
    let sign_root = json(&ok(&["inspect", s(&t.path("llm.sig")), "--json"]))["root_digest"].clone();
    assert_eq!(lines[0]["root_digest"], sign_root);
    assert_eq!(
        lines[6]["root_digest"], sign_root,
        "unseal logs the plaintext root digest"
    );
    assert_eq!(lines[6]["rule"], "models[0] \"prod/*\"");
    // The line joins the result that reported the same (inner) decision, and names the policy's bytes.
    assert_eq!(lines[6]["request_id"], unsealed["inner"]["request_id"]);
    assert_eq!(
        lines[6]["policy_digest"],
        unsealed["inner"]["policy_digest"]
    );
    assert_eq!(lines[6]["request_id"].as_str().map(str::len), Some(32));
    assert!(lines[0]["request_id"].is_null(), "no decision, no id");
    for secret in secrets(&t) {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "secret {secret} in the audit log"
        );
    }
    assert_eq!(mode(&log), 0o600);
}

#[test]
fn concurrent_processes_do_not_interleave() {
    let t = Setup::new();
    ok(&[
        "sign",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pem")),
        "-o",
        s(&t.path("llm.sig")),
        "--quiet",
    ]);
    let log = t.path("shared.jsonl");
    let runs = 8;
    let per = 6;
    std::thread::scope(|scope| {
        for _ in 0..runs {
            scope.spawn(|| {
                for _ in 0..per {
                    // A failing verify writes the longest lines (every reason).
                    let o = modelseal(&[
                        "verify",
                        s(&t.path("llm")),
                        "--signature",
                        s(&t.path("llm.sig")),
                        "--key",
                        s(&t.path("other.pub.pem")),
                        "--audit-log",
                        s(&log),
                        "--quiet",
                    ]);
                    assert_eq!(code(&o), 1);
                }
            });
        }
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), runs * per);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["outcome"], "failed");
    }
}

#[test]
fn untrusted_key_uncovered_name_and_rego_deny_leave_nothing() {
    let t = Setup::new();
    t.seal("llm.enc");
    t.write_policy("other.pub.pem", "");
    let (code, u) = t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 1);
    assert!(
        u["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("encrypted model: "),
        "{u}"
    );
    assert!(
        u["reasons"][0]
            .as_str()
            .unwrap()
            .contains("not signed by any signer of the policy"),
        "{u}"
    );
    t.nothing_left("run");

    t.write_policy("release.pub.pem", "");
    // A name other than the signed one needs the policy's leave (docs/policy.md).
    let text = std::fs::read_to_string(t.path("trust.toml")).unwrap();
    let text = text.replacen(
        "version = 1\n",
        "version = 1\nallow_name_override = true\n",
        1,
    );
    std::fs::write(t.path("trust.toml"), text).unwrap();
    let (code, u) = t.unseal("llm.enc", "run", &["--model-name", "staging/llm"]);
    assert_eq!(code, 1);
    assert_eq!(
        u["denied"]["decision"]["reasons"],
        serde_json::json!(["no [[models]] rule covers model name \"staging/llm\""])
    );
    t.nothing_left("run");

    std::fs::write(
        t.path("deny.rego"),
        "package modelseal\ndeny contains \"frozen\" if { input.model_name == \"prod/llm\" }\n",
    )
    .unwrap();
    t.write_policy("release.pub.pem", "[rego]\nfile = \"deny.rego\"\n");
    let (code, u) = t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        u["reasons"],
        serde_json::json!(["encrypted model: rego: frozen"])
    );
    t.nothing_left("run");
    // Each denial is in the policy's audit log.
    let lines = t.audit_lines();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|l| l["operation"] == "unseal" && l["outcome"] == "failed"));
}

#[test]
fn tampered_ciphertext_and_tampered_plaintext_leave_nothing() {
    let t = Setup::new();
    t.seal("llm.enc");
    // Ciphertext: one flipped byte; the outer signature catches it before any decryption.
    let f = t.path("llm.enc/weights.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let (code, u) = t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 1);
    assert!(
        u["reasons"][0]
            .as_str()
            .unwrap()
            .contains("weights.bin: changed since signing"),
        "{u}"
    );
    t.nothing_left("run");

    // Ciphertext re-signed by the trusted key (the outer check passes): decryption fails.
    ok(&[
        "sign",
        s(&t.path("llm.enc")),
        "--key",
        s(&t.path("release.pem")),
        "-o",
        s(&t.path("llm.enc.sig")),
        "--force",
        "--quiet",
    ]);
    let (code, u) = t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 1, "{u}");
    assert!(
        u["reasons"][0]
            .as_str()
            .unwrap()
            .contains("failed authentication"),
        "{u}"
    );
    t.nothing_left("run");

    // Plaintext: a model changed after its inner signature was made, encrypted and signed outside.
    ok(&[
        "sign",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pem")),
        "-o",
        s(&t.path("inner.sig")),
        "--quiet",
    ]);
    std::fs::write(t.path("llm/weights.bin"), b"swapped weights").unwrap();
    std::fs::copy(t.path("inner.sig"), t.path("llm/modelseal.sig")).unwrap();
    ok(&[
        "encrypt",
        s(&t.path("llm")),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&t.path("evil.enc")),
        "--model-name",
        "prod/llm",
        "--quiet",
    ]);
    ok(&[
        "sign",
        s(&t.path("evil.enc")),
        "--key",
        s(&t.path("release.pem")),
        "--quiet",
    ]);
    let (code, u) = t.unseal("evil.enc", "run", &["--model-name", "prod/llm"]);
    assert_eq!(code, 1, "{u}");
    assert_eq!(u["denied"]["stage"], "decrypted model");
    assert!(
        u["reasons"][0]
            .as_str()
            .unwrap()
            .contains("weights.bin: changed since signing"),
        "{u}"
    );
    t.nothing_left("run");
}

#[test]
fn seal_refuses_the_reserved_name_and_unseal_an_existing_dir() {
    let t = Setup::new();
    std::fs::write(t.path("llm/modelseal.sig"), b"x").unwrap();
    let o = modelseal(&[
        "seal",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pem")),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&t.path("x.enc")),
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("reserves"));
    std::fs::remove_file(t.path("llm/modelseal.sig")).unwrap();
    t.seal("llm.enc");
    std::fs::create_dir(t.path("run")).unwrap();
    let (code, _) = t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 2);
}

/// Co-signed sealed models (issue 22 item 3): a policy rule requiring two teams, met by
/// `seal --key A --key B` or by `seal --key A` then `endorse --key B`; the threshold counts the
/// outer signatures, the inner one must come from a signer of the rule.
struct Cosign {
    t: Setup,
}

impl Cosign {
    /// Signers release, ci and outsider; `prod/*` requires release and ci, both.
    fn new() -> Cosign {
        let t = Setup::new();
        for name in ["ci", "outsider"] {
            keygen_p256(t.dir.path(), name);
        }
        std::fs::write(
            t.path("trust.toml"),
            "version = 1\n\
             [signers.release]\nkey = \"release.pub.pem\"\n\
             [signers.ci]\nkey = \"ci.pub.pem\"\n\
             [signers.outsider]\nkey = \"outsider.pub.pem\"\n\
             [[models]]\nname = \"prod/*\"\nrequire = [\"release\", \"ci\"]\nthreshold = 2\n",
        )
        .unwrap();
        Cosign { t }
    }
    fn key(&self, name: &str) -> String {
        s(&self.t.path(&format!("{name}.pem"))).to_string()
    }
    /// Seals llm to ENC with each key of `signers` (one `--key` each).
    fn seal(&self, enc: &str, signers: &[&str]) {
        self.seal_with(enc, signers, &[]);
    }
    fn seal_with(&self, enc: &str, signers: &[&str], extra: &[&str]) {
        let keys: Vec<String> = signers.iter().map(|k| self.key(k)).collect();
        let (model, recipient, out) = (
            self.t.path("llm"),
            self.t.path("deploy.pem.pub"),
            self.t.path(enc),
        );
        let mut args = vec![
            "seal",
            s(&model),
            "--recipient",
            s(&recipient),
            "-o",
            s(&out),
        ];
        for key in &keys {
            args.extend(["--key", key.as_str()]);
        }
        args.extend(["--model-name", "prod/llm", "--quiet"]);
        args.extend_from_slice(extra);
        ok(&args);
    }
    fn endorse(&self, enc: &str, signer: &str, extra: &[&str]) -> std::process::Output {
        let (enc, key) = (self.t.path(enc), self.key(signer));
        let mut args = vec!["endorse", s(&enc), "--key", key.as_str(), "--json"];
        args.extend_from_slice(extra);
        modelseal(&args)
    }
}

#[test]
fn sealed_with_two_keys_unseals_under_a_two_of_two_rule() {
    let c = Cosign::new();
    c.seal("llm.enc", &["release", "ci"]);
    // One signature per key in a claims file beside ENC; no single-bundle ENC.sig.
    let outer = std::fs::read_to_string(c.t.path("llm.enc.sig.jsonl")).unwrap();
    assert_eq!(outer.lines().count(), 2, "{outer}");
    assert!(!c.t.path("llm.enc.sig").exists());
    let (status, u) = c.t.unseal("llm.enc", "run", &[]);
    assert_eq!(status, 0, "{u}");
    assert_eq!(u["outer"]["stage"], "encrypted model", "{u}");
    assert_eq!(
        u["outer"]["counted"],
        serde_json::json!(["ci", "release"]),
        "{u}"
    );
    assert_eq!(u["inner"]["stage"], "decrypted model", "{u}");
    assert_eq!(
        u["inner"]["counted"],
        serde_json::json!(["ci", "release"]),
        "{u}"
    );
    // The inner signatures are published with the model, and verify it (the claims file inside
    // the model is exempt from hashing, like modelseal.sig).
    let (run, inner) = (c.t.path("run"), c.t.path("run/modelseal.sig.jsonl"));
    let ci = c.t.path("ci.pub.pem");
    ok(&[
        "verify",
        s(&run),
        "--signature",
        s(&inner),
        "--key",
        s(&ci),
        "--quiet",
    ]);

    // Sealed again with one key: refused while the co-signed seal's ENC.sig.jsonl is there
    // (unseal would judge it with the new ENC.sig), and with --force it goes with ENC.
    let (model, enc) = (c.t.path("llm"), c.t.path("llm.enc"));
    std::fs::remove_dir_all(&enc).unwrap();
    let (release, deploy) = (c.key("release"), c.t.path("deploy.pem.pub"));
    let again = [
        "seal",
        s(&model),
        "--key",
        release.as_str(),
        "--recipient",
        s(&deploy),
        "-o",
        s(&enc),
    ];
    assert_eq!(code(&modelseal(&again)), 2);
    c.seal_with("llm.enc", &["release"], &["--force"]);
    assert!(c.t.path("llm.enc.sig").is_file() && !c.t.path("llm.enc.sig.jsonl").exists());
}

#[test]
fn sealed_with_one_key_is_refused_under_two_of_two_naming_the_missing_signer() {
    let c = Cosign::new();
    c.seal("llm.enc", &["release"]);
    let (code, u) = c.t.unseal("llm.enc", "run", &[]);
    assert_eq!(code, 1, "{u}");
    assert_eq!(u["denied"]["stage"], "encrypted model", "{u}");
    let reasons = u["reasons"].to_string();
    assert!(reasons.contains("missing: ci"), "{u}");
    assert_eq!(
        u["denied"]["decision"]["counted"],
        serde_json::json!(["release"]),
        "{u}"
    );
    c.t.nothing_left("run");
}

#[test]
fn endorse_adds_the_co_signature_a_two_of_two_rule_needs() {
    let c = Cosign::new();
    c.seal("llm.enc", &["release"]);
    let single = std::fs::read(c.t.path("llm.enc.sig")).unwrap();
    // A key the rule does not count: endorsed, and still refused.
    let o = c.endorse("llm.enc", "outsider", &[]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let (code_, u) = c.t.unseal("llm.enc", "run", &[]);
    assert_eq!(code_, 1, "{u}");
    assert!(u["reasons"].to_string().contains("missing: ci"), "{u}");
    // ci endorses: met, reading ENC.sig and ENC.sig.jsonl by default.
    let o = c.endorse("llm.enc", "ci", &[]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let e = json(&o);
    assert_eq!(e["endorsed"], true, "{e}");
    assert_eq!(e["existing"].as_array().map(Vec::len), Some(2), "{e}");
    let (code_, u) = c.t.unseal("llm.enc", "run", &[]);
    assert_eq!(code_, 0, "{u}");
    assert_eq!(
        u["outer"]["counted"],
        serde_json::json!(["ci", "release"]),
        "{u}"
    );
    assert_eq!(u["inner"]["counted"], serde_json::json!(["release"]), "{u}");
    // Nothing rewritten: ENC.sig is byte for byte what seal wrote.
    assert_eq!(std::fs::read(c.t.path("llm.enc.sig")).unwrap(), single);

    // Signatures kept elsewhere are named with --signature, repeated.
    c.seal("two.enc", &["release"]);
    std::fs::create_dir(c.t.path("elsewhere")).unwrap();
    let kept = c.t.path("elsewhere/two.cosign.jsonl");
    let o = c.endorse("two.enc", "ci", &["--signature", s(&kept)]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let (code_, u) = c.t.unseal("two.enc", "run2", &[]);
    assert_eq!(code_, 1, "only two.enc.sig is found by default: {u}");
    let sig = c.t.path("two.enc.sig");
    let (code_, u) = c.t.unseal(
        "two.enc",
        "run2",
        &["--signature", s(&sig), "--signature", s(&kept)],
    );
    assert_eq!(code_, 0, "{u}");
}

#[test]
fn endorse_refuses_a_tampered_ciphertext_without_writing() {
    let c = Cosign::new();
    c.seal("llm.enc", &["release"]);
    let f = c.t.path("llm.enc/weights.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let log = c.t.path("audit.jsonl");
    let o = c.endorse("llm.enc", "ci", &["--audit-log", s(&log)]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let e = json(&o);
    assert_eq!(e["endorsed"], false, "{e}");
    assert_eq!(e["errors"][0]["code"], "digest_mismatch", "{e}");
    assert!(e["errors"].to_string().contains("weights.bin"), "{e}");
    assert!(!c.t.path("llm.enc.sig.jsonl").exists());
    // The refusal is audited, naming the file.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["operation"], "endorse", "{text}");
    assert_eq!(lines[0]["outcome"], "failed", "{text}");
    assert!(
        lines[0]["reasons"].to_string().contains("weights.bin"),
        "{text}"
    );
}

#[test]
fn an_inner_signature_from_outside_the_rule_is_refused() {
    let c = Cosign::new();
    // The plaintext is signed only by outsider; release and ci co-sign the ciphertext.
    c.seal("llm.enc", &["outsider"]);
    for signer in ["release", "ci"] {
        let o = c.endorse("llm.enc", signer, &[]);
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (code_, u) = c.t.unseal("llm.enc", "run", &[]);
    assert_eq!(code_, 1, "{u}");
    assert_eq!(u["denied"]["stage"], "decrypted model", "{u}");
    assert!(
        u["reasons"]
            .to_string()
            .contains("from none of the rule's signers"),
        "{u}"
    );
    c.t.nothing_left("run");
}
