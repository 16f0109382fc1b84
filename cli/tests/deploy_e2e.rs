//! The "Done when" of issue 8, end to end through the real binary with keys in a SoftHSM2 token
//! (made by `scripts/softhsm-init.sh`):
//!
//! `seal` signed by the token's P-256 key (`pkcs11:` URI) for the token's AES key → the registry's
//! `verify --policy --json` on the encrypted model passes, the policy's signer being that same
//! `pkcs11:` key (its public key fetched and pinned at load) → `unseal` with the token's AES key
//! yields byte-identical files, 0400 files and 0500 directories.
//!
//! Then each failure — untrusted signer, uncovered model name, threshold not met, Rego deny,
//! tampered ciphertext, tampered plaintext (inner signature no longer matching while ENC.sig still
//! verifies) — exits 1 with its reason in the JSON, creates no DIR, leaves no temporary beside it
//! and no decrypted byte anywhere under the test directory.
//!
//! The audit log holds exactly one valid JSON line per audited operation run here, with the
//! expected operation, outcome and reasons, and none of: the token PIN, the data key, the
//! token's (test-only extractable) AES key, the file keys' private material.

mod common;
#[path = "../../core/tests/softhsm/mod.rs"]
mod softhsm;

use common::{code, json, keygen_p256, s};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The distinct plaintext of `weights.bin`: pseudo-random, so a search for it cannot hit by chance.
fn weights() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..150_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const CONFIG: &[u8] = b"{\"layers\": 2, \"note\": \"e2e config plaintext\"}";

/// One audited operation the test ran, as the log must show it.
struct Expected {
    operation: &'static str,
    outcome: &'static str,
    /// A text one of the logged reasons must contain (failures only).
    reason: Option<String>,
}

struct E2e {
    hsm: &'static softhsm::SoftHsm,
    dir: tempfile::TempDir,
    expected: Vec<Expected>,
}

impl E2e {
    fn new() -> E2e {
        let hsm = softhsm::shared();
        let t = E2e {
            hsm,
            dir: tempfile::tempdir().unwrap(),
            expected: Vec::new(),
        };
        let model = t.path("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), weights()).unwrap();
        std::fs::write(model.join("sub/config.json"), CONFIG).unwrap();
        std::fs::create_dir(t.path("deploy")).unwrap();
        for name in ["ci", "other"] {
            keygen_p256(t.dir.path(), name);
        }
        t
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn log(&self) -> PathBuf {
        self.path("audit.jsonl")
    }
    /// The token's P-256 signing key.
    fn signing_key(&self) -> String {
        self.hsm.uri("ec-p256")
    }
    /// The token's AES key (sensitive, not extractable): the recipient that unseals.
    fn aes(&self) -> String {
        self.hsm.uri("aes-wrap")
    }
    /// The token's test-only extractable AES key as a second recipient: lets the test read the
    /// data key independently (RFC 5649 in Python) to look for it in the log.
    fn aes_extractable(&self) -> String {
        format!("{}&x-wrap=aes-kwp", self.hsm.uri("aes-extractable"))
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_modelseal"))
            .args(args)
            .env("SOFTHSM2_CONF", &self.hsm.conf)
            .env_remove("MODELSEAL_PKCS11_MODULE")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run modelseal")
    }

    fn expect(&self, want: i32, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            code(&out),
            want,
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs an audited verb and records the line it must have appended.
    fn audited(&mut self, want: i32, args: &[&str], reason: Option<&str>) -> Output {
        let out = self.expect(want, args);
        self.expected.push(Expected {
            operation: match args[0] {
                "seal" => "seal",
                "unseal" => "unseal",
                "verify" => "verify",
                "sign" => "sign",
                "encrypt" => "encrypt",
                "decrypt" => "decrypt",
                other => panic!("{other} is not audited"),
            },
            outcome: if want == 0 { "ok" } else { "failed" },
            reason: reason.map(str::to_string),
        });
        out
    }

    /// `version = 1`, the log, signers `release` (the token's key, by URI) and `ci` (a file key),
    /// a rule `prod/*` and `extra` appended.
    fn write_policy(&self, rule: &str, extra: &str) {
        let text = format!(
            "version = 1\naudit_log = \"audit.jsonl\"\n\
             [signers.release]\nkey = \"{}\"\n\
             [signers.ci]\nkey = \"ci.pub.pem\"\n\
             [[models]]\nname = \"prod/*\"\n{rule}\n{extra}",
            self.signing_key()
        );
        std::fs::write(self.path("trust.toml"), text).unwrap();
    }

    fn seal(&mut self, key: &str, enc: &str) -> Value {
        let (aes, extra) = (self.aes(), self.aes_extractable());
        let (model, out, log) = (self.path("llm"), self.path(enc), self.log());
        json(&self.audited(
            0,
            &[
                "seal",
                s(&model),
                "--key",
                key,
                "--recipient",
                &aes,
                "--recipient",
                &extra,
                "-o",
                s(&out),
                "--model-name",
                "prod/llm",
                "--audit-log",
                s(&log),
                "--json",
            ],
            None,
        ))
    }

    /// The registry's check: `verify ENC --signature ENC.sig --policy --json` (logged by the policy).
    fn registry_verify(&mut self, enc: &str, want: i32, reason: Option<&str>) -> Value {
        self.registry_verify_as(enc, want, reason, &[])
    }

    /// [`E2e::registry_verify`] with extra arguments.
    fn registry_verify_as(
        &mut self,
        enc: &str,
        want: i32,
        reason: Option<&str>,
        extra: &[&str],
    ) -> Value {
        let (model, sig, policy) = (
            self.path(enc),
            self.path(&format!("{enc}.sig")),
            self.path("trust.toml"),
        );
        let mut args = vec![
            "verify",
            s(&model),
            "--signature",
            s(&sig),
            "--policy",
            s(&policy),
            // The policy's `release` signer names the token's module (issue 17: allowed explicitly).
            "--allow-pkcs11-module",
            &self.hsm.module,
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&self.audited(want, &args, reason))
    }

    /// `unseal ENC --policy --key <token AES> --out deploy/run --json` (logged by the policy).
    fn unseal(&mut self, enc: &str, want: i32, reason: Option<&str>, extra: &[&str]) -> Value {
        let (enc, policy, out, key) = (
            self.path(enc),
            self.path("trust.toml"),
            self.path("deploy/run"),
            self.aes(),
        );
        let mut args = vec![
            "unseal",
            s(&enc),
            "--policy",
            s(&policy),
            "--key",
            &key,
            "--out",
            s(&out),
            "--allow-pkcs11-module",
            &self.hsm.module,
            "--json",
        ];
        args.extend_from_slice(extra);
        let v = json(&self.audited(want, &args, reason));
        if let Some(reason) = reason {
            assert!(has_reason(&v["reasons"], reason), "want {reason:?} in {v}");
            assert_eq!(v["unsealed"], false);
            self.nothing_decrypted();
        }
        v
    }

    /// No DIR, no temporary beside it, and no plaintext byte of the model in any file under the
    /// test directory outside the two places plaintext is expected (the model itself and the
    /// `work/` directory the tamper step decrypts into on purpose).
    fn nothing_decrypted(&self) {
        let entries: Vec<String> = std::fs::read_dir(self.path("deploy"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            entries.is_empty(),
            "left beside DIR (DIR included): {entries:?}"
        );
        let plain = [weights()[..64].to_vec(), CONFIG[..32].to_vec()];
        let allowed = [self.path("llm"), self.path("work")];
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if allowed.contains(&path) {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                for needle in &plain {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                        "{}: holds plaintext",
                        path.display()
                    );
                }
            }
        }
    }

    /// The data key of a model sealed for the extractable token key, unwrapped independently.
    fn data_key(&self, enc: &str) -> Vec<u8> {
        let kek = self.extractable_kek();
        let decoder = softhsm::repo_root().join("test-vectors/seal");
        let code = "import sys\nsys.path.insert(0, sys.argv[1])\nimport decode_v1 as d\n\
                    t, kid, unwrap = d.pkcs11_aes_identity(bytes.fromhex(sys.argv[3]), '06')\n\
                    seen = []\n\
                    def keep(s, digest):\n    k = unwrap(s, digest)\n    seen.append(k)\n    return k\n\
                    d.decrypt(sys.argv[2], (t, kid, keep))\nprint(seen[0].hex())";
        let out = Command::new(python())
            .arg("-c")
            .arg(code)
            .args([
                decoder.to_str().unwrap(),
                s(&self.path(enc)),
                &hex::encode(&kek),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dek = hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
        assert_eq!(dek.len(), 32);
        dek
    }

    /// The test-only extractable AES key, read with pkcs11-tool (PIN from the environment).
    fn extractable_kek(&self) -> Vec<u8> {
        self.hsm.extractable_kek(self.dir.path())
    }
}

fn python() -> String {
    std::env::var("MODELSEAL_PYTHON").unwrap_or_else(|_| {
        softhsm::repo_root()
            .join(".venv/bin/python")
            .to_string_lossy()
            .into_owned()
    })
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every spelling of a secret the log must not hold: hex (both cases are compared lowercased)
/// and standard/URL-safe base64 of the raw bytes.
fn spellings(bytes: &[u8]) -> Vec<String> {
    use base64::Engine;
    vec![
        hex::encode(bytes),
        base64::engine::general_purpose::STANDARD.encode(bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ]
}

/// A file key's private material: the PEM body, its DER in hex, and the raw private scalar (the
/// 32 bytes after the `04 20` OCTET STRING header in the PKCS#8/SEC1 encoding).
fn private_key_spellings(pem_path: &Path) -> Vec<String> {
    let pem = std::fs::read_to_string(pem_path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .unwrap();
    let at = der
        .windows(2)
        .position(|w| w == [0x04, 0x20])
        .expect("a 32-byte private scalar");
    let scalar = &der[at + 2..at + 34];
    let mut out = spellings(scalar);
    out.push(body.chars().take(48).collect());
    out.push(hex::encode(&der));
    out
}

#[test]
fn seal_with_hsm_keys_verify_unseal_and_every_failure_leaves_nothing() {
    let mut t = E2e::new();
    let signing_key = t.signing_key();
    t.write_policy("require = [\"release\"]", "");

    // seal: signed by the token's P-256 key, encrypted for the token's AES keys.
    let sealed = t.seal(&signing_key, "llm.enc");
    let types = sealed["recipients"].to_string();
    assert!(types.contains("pkcs11-aes"), "{sealed}");
    assert!(t.path("llm.enc.sig").is_file());

    // The registry verifies what it stores, with no decryption key, under the pkcs11: signer.
    let v = t.registry_verify("llm.enc", 0, None);
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(v["model_name"], "prod/llm");
    assert_eq!(v["signers"], serde_json::json!(["release"]));
    assert_eq!(v["rule"]["name"], "prod/*");
    assert_eq!(v["root_digest"], sealed["encrypted_root_digest"]);

    // unseal: byte-identical files, 0400 files and 0500 directories; the JSON names DIR.
    let u = t.unseal("llm.enc", 0, None, &[]);
    let run = t.path("deploy/run");
    assert_eq!(u["unsealed"], true, "{u}");
    assert_eq!(u["root_digest"], sealed["root_digest"]);
    assert_eq!(u["signers"], serde_json::json!(["release"]));
    assert_eq!(u["inner"]["model"], s(&run), "{u}");
    assert_eq!(
        u["inner"]["signatures"][0]["path"],
        s(&run.join("modelseal.sig"))
    );
    assert_eq!(std::fs::read(run.join("weights.bin")).unwrap(), weights());
    assert_eq!(std::fs::read(run.join("sub/config.json")).unwrap(), CONFIG);
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&run).unwrap() {
        names.push(entry.unwrap().file_name().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(names, ["modelseal.sig", "sub", "weights.bin"]);
    for file in ["weights.bin", "sub/config.json", "modelseal.sig"] {
        assert_eq!(mode(&run.join(file)), 0o400, "{file}");
    }
    for dir in [run.clone(), run.join("sub")] {
        assert_eq!(mode(&dir), 0o500, "{}", dir.display());
    }
    // Back to an empty deploy/ for the failure cases (make the tree writable to remove it).
    for dir in [run.join("sub"), run.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::remove_dir_all(&run).unwrap();

    // 1. Signed by a key the policy does not trust.
    let other = t.path("other.pem");
    t.seal(s(&other), "untrusted.enc");
    let why = "not signed by any signer of the policy";
    let v = t.registry_verify("untrusted.enc", 1, Some(why));
    assert_eq!(v["allowed"], false);
    assert!(has_reason(&v["reasons"], why), "{v}");
    let u = t.unseal("untrusted.enc", 1, Some(why), &[]);
    assert_eq!(u["denied"]["stage"], "encrypted model");

    // 2. A caller's name other than the signed one (the envelope's, prod/llm): refused, and the
    // rule stays the signed name's, so no looser rule can be chosen by naming the model.
    let why = "model name \"staging/llm\" is not the signed name \"prod/llm\"";
    let u = t.unseal("llm.enc", 1, Some(why), &["--model-name", "staging/llm"]);
    let reasons = &u["denied"]["decision"]["reasons"];
    assert_eq!(reasons.as_array().map(Vec::len), Some(1), "{u}");
    assert_eq!(u["denied"]["decision"]["rule"]["name"], "prod/*", "{u}");
    assert_eq!(u["denied"]["decision"]["signed_name"], "prod/llm", "{u}");

    // 3. Threshold 2 of {release, ci}; only release signed.
    t.write_policy("require = [\"release\", \"ci\"]\nthreshold = 2", "");
    let why = "rule models[0] \"prod/*\": 1 of the required 2 signers verified (require: release, ci; verified: release)";
    let v = t.registry_verify("llm.enc", 1, Some(why));
    assert_eq!(v["reasons"], serde_json::json!([why]), "{v}");
    assert_eq!(v["rule"]["threshold"], 2);
    let u = t.unseal("llm.enc", 1, Some(why), &[]);
    assert_eq!(u["denied"]["decision"]["rule"]["threshold"], 2);

    // 4. A Rego deny (the Rego input's signers name the pkcs11: signer).
    std::fs::write(
        t.path("deploy.rego"),
        "package modelseal\n\
         deny contains \"release-signed prod models are frozen\" if {\n  \
         input.model_name == \"prod/llm\"\n  \"release\" in input.signers\n}\n",
    )
    .unwrap();
    t.write_policy(
        "require = [\"release\"]",
        "[rego]\nfile = \"deploy.rego\"\n",
    );
    let why = "rego: release-signed prod models are frozen";
    let u = t.unseal("llm.enc", 1, Some(why), &[]);
    assert_eq!(
        u["reasons"],
        serde_json::json!([format!("encrypted model: {why}")])
    );
    t.write_policy("require = [\"release\"]", "");

    // 5a. Tampered ciphertext: one flipped byte; ENC.sig no longer matches.
    copy_tree(&t.path("llm.enc"), &t.path("flipped.enc"));
    std::fs::copy(t.path("llm.enc.sig"), t.path("flipped.enc.sig")).unwrap();
    flip(&t.path("flipped.enc/weights.bin"), 1000);
    let why = "weights.bin: changed since signing";
    t.registry_verify("flipped.enc", 1, Some(why));
    let u = t.unseal("flipped.enc", 1, Some(why), &[]);
    assert_eq!(u["denied"]["stage"], "encrypted model");

    // 5b. The same ciphertext re-signed by the trusted token key: ENC.sig verifies, the chunk
    // fails authentication, and nothing of it is written.
    let (flipped, flipped_sig) = (t.path("flipped.enc"), t.path("flipped.enc.sig"));
    let log = t.log();
    t.audited(
        0,
        &[
            "sign",
            s(&flipped),
            "--key",
            &signing_key,
            "-o",
            s(&flipped_sig),
            "--force",
            "--audit-log",
            s(&log),
            "--quiet",
        ],
        None,
    );
    t.registry_verify("flipped.enc", 0, None);
    t.unseal("flipped.enc", 1, Some("failed authentication"), &[]);

    // 6. Tampered plaintext, built honestly: decrypt a sealed model (inner signature included),
    // alter a file, re-encrypt it with the old inner signature, re-sign the encrypted tree with
    // the trusted key. The registry check passes; unseal refuses the decrypted model.
    let (enc, work, aes) = (t.path("llm.enc"), t.path("work"), t.aes());
    t.audited(
        0,
        &[
            "decrypt",
            s(&enc),
            "--key",
            &aes,
            "-o",
            s(&work),
            "--audit-log",
            s(&log),
            "--quiet",
        ],
        None,
    );
    assert!(work.join("modelseal.sig").is_file());
    let target = work.join("weights.bin");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut altered = weights();
    altered[77] ^= 0x40;
    std::fs::write(&target, &altered).unwrap();
    let evil = t.path("evil.enc");
    t.audited(
        0,
        &[
            "encrypt",
            s(&work),
            "--recipient",
            &aes,
            "-o",
            s(&evil),
            "--model-name",
            "prod/llm",
            "--audit-log",
            s(&log),
            "--quiet",
        ],
        None,
    );
    t.audited(
        0,
        &[
            "sign",
            s(&evil),
            "--key",
            &signing_key,
            "--audit-log",
            s(&log),
            "--quiet",
        ],
        None,
    );
    // The attacker re-encrypts under the signed name (a caller's name cannot differ from it).
    let named = ["--model-name", "prod/llm"];
    t.registry_verify_as("evil.enc", 0, None, &named);
    let why = "weights.bin: changed since signing";
    let u = t.unseal("evil.enc", 1, Some(why), &named);
    assert_eq!(u["denied"]["stage"], "decrypted model", "{u}");
    // Named as DIR (never created), not the scratch directory that was removed.
    assert_eq!(
        u["denied"]["decision"]["model"],
        s(&t.path("deploy/run")),
        "{u}"
    );
    assert_eq!(
        u["denied"]["decision"]["signatures"][0]["verified"], false,
        "{u}"
    );

    // The audit log: exactly one valid JSON line per operation above, in order.
    let text = std::fs::read_to_string(t.log()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), t.expected.len(), "{text}");
    for (i, (line, want)) in lines.iter().zip(&t.expected).enumerate() {
        assert_eq!(line["operation"], want.operation, "line {i}: {line}");
        assert_eq!(line["outcome"], want.outcome, "line {i}: {line}");
        let time = line["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");
        match &want.reason {
            Some(reason) => assert!(
                has_reason(&line["reasons"], reason),
                "line {i}: want {reason:?} in {line}"
            ),
            None => assert_eq!(line["reasons"], serde_json::json!([]), "line {i}: {line}"),
        }
    }
    // The successful unseal (line 2) names the policy rule, the signer and the plaintext digest.
    assert_eq!(lines[2]["operation"], "unseal");
    assert_eq!(lines[2]["rule"], "models[0] \"prod/*\"");
    assert_eq!(lines[2]["signers"], serde_json::json!(["release"]));
    assert_eq!(lines[2]["root_digest"], sealed["root_digest"]);
    assert_eq!(lines[0]["root_digest"], sealed["root_digest"]);

    // No secret in it: the PIN, the data key, the token's AES key, the file keys' private parts.
    let mut secrets = vec![t.hsm.pin()];
    secrets.extend(spellings(&t.data_key("llm.enc")));
    secrets.extend(spellings(&t.extractable_kek()));
    for key in ["ci.pem", "other.pem"] {
        secrets.extend(private_key_spellings(&t.path(key)));
    }
    let lower = text.to_lowercase();
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        let found = if secret.chars().all(|c| c.is_ascii_hexdigit()) {
            lower.contains(&secret.to_lowercase())
        } else {
            text.contains(secret.as_str())
        };
        assert!(
            !found,
            "a secret ({} chars) is in the audit log",
            secret.len()
        );
    }
    assert_eq!(mode(&t.log()), 0o600);
}

/// Whether one of the `reasons` strings contains `needle`.
fn has_reason(reasons: &Value, needle: &str) -> bool {
    reasons.as_array().is_some_and(|all| {
        all.iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(needle)))
    })
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dst = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dst);
        } else {
            std::fs::copy(entry.path(), &dst).unwrap();
        }
    }
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 1;
    std::fs::write(path, &bytes).unwrap();
}
