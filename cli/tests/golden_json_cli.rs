//! Golden outputs of every verb's `--json` result and of its `--audit-log` line, byte for byte.
//!
//! Each case runs one verb on small fixed inputs (the test-only keys and certificates of
//! `test-vectors/`, a three-file model) and compares, with `cli/tests/golden/<case>.json`:
//! the exit code, the raw stdout line and the raw line the verb appended to its audit log (the
//! file holds `{"exit": …, "stdout": "<raw line>", "audit": "<raw line>" | null}`).
//!
//! What must vary between runs is replaced, in the raw text, by a placeholder (nothing else is
//! touched, so key order, spacing and escaping are compared exactly):
//! - the temporary directory the case runs in -> `$TMP`;
//! - the audit line's `time` value -> `$TIME`;
//! - values that depend on fresh randomness (the data key, nonces, ephemeral keys, fresh key
//!   pairs): each `body_digest` and `encrypted_root_digest` value, each recipient's `params`
//!   entry of `inspect`, `keygen`'s `key_id`/`key_hint` and a decision's `request_id` -> `$<FIELD>_<n>`, numbered in the
//!   order they are first seen, so a value printed again by a later case (the encrypted model's
//!   root digest in `unseal`'s outer decision) gets the same placeholder.
//!
//! `GOLDEN_UPDATE=1 cargo test -p modelseal-cli --test golden_json_cli` rewrites the files.

mod common;
use common::*;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Fields whose values come from fresh randomness (see the module doc).
const RANDOM_FIELDS: &[&str] = &[
    "body_digest",
    "encrypted_root_digest",
    "key_id",
    "key_hint",
    "request_id",
];

struct Golden {
    dir: tempfile::TempDir,
    /// (value, placeholder), longest first when applied.
    random: Vec<(String, String)>,
    failures: Vec<String>,
}

impl Golden {
    fn new() -> Golden {
        let dir = tempfile::tempdir().unwrap();
        let g = Golden {
            dir,
            random: Vec::new(),
            failures: Vec::new(),
        };
        let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors");
        for (from, to) in [
            ("oms/keys/p256.key.pem", "signer.pem"),
            ("oms/keys/p256.pub.pem", "signer.pub.pem"),
            ("oms/keys/other-p256.pub.pem", "other.pub.pem"),
            ("oms/ca/leaf-p256.key.pem", "leaf.key.pem"),
            ("oms/ca/leaf-p256.pem", "leaf.pem"),
            ("oms/ca/intermediate.pem", "intermediate.pem"),
            ("oms/ca/root.pem", "root.pem"),
            ("seal/keys/kek-1.hex", "kek-1"),
            ("seal/keys/kek-2.hex", "kek-2"),
            ("seal/keys/x25519-1.pem", "x25519.pem"),
            ("seal/keys/x25519-1.pem.pub", "x25519.pub"),
        ] {
            let dest = g.path(to);
            std::fs::copy(vectors.join(from), &dest).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let model = g.path("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), vec![7u8; 5000]).unwrap();
        std::fs::write(model.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
        std::fs::write(model.join("README"), b"a model").unwrap();
        std::fs::write(
            g.path("trust.toml"),
            "version = 1\n[signers.release]\nkey = \"signer.pub.pem\"\n\
             [[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n",
        )
        .unwrap();
        std::fs::write(
            g.path("other.toml"),
            "version = 1\n[signers.other]\nkey = \"other.pub.pem\"\n\
             [[models]]\nname = \"prod/*\"\nrequire = [\"other\"]\n",
        )
        .unwrap();
        g
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `modelseal ARGS…` (names without a `-` resolved in the case directory when they
    /// exist there or are marked `@`), with `--audit-log` when `audited`, and compares.
    fn case(&mut self, name: &str, exit: i32, audited: bool, args: &[&str]) {
        let log = self.path(&format!("{name}.audit.jsonl"));
        let mut argv: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix('@') {
                Some(file) => self.path(file).display().to_string(),
                None => a.to_string(),
            })
            .collect();
        if audited {
            argv.extend(["--audit-log".to_string(), log.display().to_string()]);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = modelseal(&argv);
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        let stdout = stdout.strip_suffix('\n').unwrap_or(&stdout).to_string();
        let audit = audited.then(|| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert_eq!(text.lines().count(), 1, "{name}: one audit line: {text}");
            text.trim_end().to_string()
        });
        self.learn_random(&stdout);
        let actual = serde_json::json!({
            "exit": code(&out),
            "stdout": self.normalise(&stdout),
            "audit": audit.map(|line| self.normalise_audit(&line)),
        });
        if code(&out) != exit {
            self.failures.push(format!(
                "{name}: exit {} (expected {exit}): {}",
                code(&out),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        if std::env::var_os("GOLDEN_UPDATE").is_some() {
            std::fs::write(&file, &text).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&file).unwrap_or_default();
        if expected != text {
            self.failures
                .push(format!("{name}: differs from {}:\n{text}", file.display()));
        }
    }

    /// Records the random values `stdout` shows (see [`RANDOM_FIELDS`], `params`).
    fn learn_random(&mut self, stdout: &str) {
        let Ok(value) = serde_json::from_str::<Value>(stdout) else {
            return;
        };
        let mut found = Vec::new();
        collect_random(&value, &mut found);
        for (field, text) in found {
            if !self.random.iter().any(|(v, _)| *v == text) {
                let n = self.random.len();
                self.random
                    .push((text, format!("${}_{n}", field.to_uppercase())));
            }
        }
    }

    fn normalise(&self, text: &str) -> String {
        let mut out = text.replace(&self.dir.path().display().to_string(), "$TMP");
        for (value, placeholder) in &self.random {
            out = out.replace(value.as_str(), placeholder);
        }
        out
    }

    fn normalise_audit(&self, line: &str) -> String {
        let value: Value = serde_json::from_str(line).unwrap();
        let time = value["time"].as_str().unwrap();
        self.normalise(&line.replacen(time, "$TIME", 1))
    }
}

fn collect_random(value: &Value, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    (field, Value::String(s)) if RANDOM_FIELDS.contains(&field) => {
                        found.push((field.to_string(), s.clone()))
                    }
                    ("params", Value::Array(items)) => found.extend(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .map(|s| ("param".to_string(), s.to_string())),
                    ),
                    _ => collect_random(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_random(v, found)),
        _ => {}
    }
}

#[test]
#[rustfmt::skip] // one case per line reads as a table
fn every_json_result_and_audit_line_matches_its_golden_file() {
    let mut g = Golden::new();
    let (yes, no) = (true, false);

    g.case("keygen_ec_p256", 0, no, &["keygen", "--algorithm", "ec-p256", "--out", "@gen.pem", "--public-out", "@gen.pub.pem", "--json"]);
    g.case("keygen_aes256_kek", 0, no, &["keygen", "--algorithm", "aes256-kek", "--out", "@gen.kek", "--json"]);
    g.case("keygen_x25519", 0, no, &["keygen", "--algorithm", "x25519", "--out", "@gen.x25519", "--json"]);

    g.case("sign_key", 0, yes, &["sign", "@llm", "--key", "@signer.pem", "-o", "@llm.sig", "--json"]);
    g.case("sign_cert_shards", 0, yes, &["sign", "@llm", "--key", "@leaf.key.pem", "--cert", "@leaf.pem", "--cert-chain", "@intermediate.pem", "--shards", "--shard-size", "1024", "--hash", "blake2b", "--ignore", "README", "-o", "@llm.cert.sig", "--json"]);
    g.case("sign_missing_key", 2, yes, &["sign", "@llm", "--key", "@absent.pem", "-o", "@x.sig", "--json"]);

    g.case("verify_key", 0, yes, &["verify", "@llm", "--signature", "@llm.sig", "--key", "@signer.pub.pem", "--json"]);
    g.case("verify_cert", 0, yes, &["verify", "@llm", "--signature", "@llm.cert.sig", "--cert-chain", "@root.pem", "--ignore", "README", "--json"]);
    g.case("verify_wrong_key", 1, yes, &["verify", "@llm", "--signature", "@llm.sig", "--key", "@other.pub.pem", "--json"]);
    g.case("verify_missing_signature", 2, yes, &["verify", "@llm", "--signature", "@absent.sig", "--key", "@signer.pub.pem", "--json"]);
    g.case("verify_policy_allowed", 0, yes, &["verify", "@llm", "--signature", "@llm.sig", "--policy", "@trust.toml", "--model-name", "prod/llm", "--json"]);
    g.case("verify_policy_denied", 1, yes, &["verify", "@llm", "--signature", "@llm.sig", "--policy", "@other.toml", "--model-name", "prod/llm", "--json"]);
    g.case("verify_policy_input_error", 2, yes, &["verify", "@llm", "--signature", "@absent.sig", "--policy", "@trust.toml", "--json"]);
    std::fs::write(g.path("llm/weights.bin"), vec![8u8; 5000]).unwrap();
    g.case("verify_tampered", 1, yes, &["verify", "@llm", "--signature", "@llm.sig", "--key", "@signer.pub.pem", "--json"]);
    std::fs::write(g.path("llm/weights.bin"), vec![7u8; 5000]).unwrap();

    g.case("encrypt", 0, yes, &["encrypt", "@llm", "--recipient", "@kek-1", "--recipient", "@x25519.pub", "--chunk-size", "4096", "-o", "@llm.enc", "--json"]);
    g.case("encrypt_missing_recipient", 2, yes, &["encrypt", "@llm", "--recipient", "@absent", "-o", "@x.enc", "--json"]);
    g.case("inspect_encrypted", 0, no, &["inspect", "@llm.enc", "--json"]);
    g.case("inspect_signature", 0, no, &["inspect", "@llm.cert.sig", "--json"]);
    g.case("decrypt", 0, yes, &["decrypt", "@llm.enc", "--key", "@x25519.pem", "-o", "@llm.dec", "--json"]);
    g.case("decrypt_wrong_key", 1, yes, &["decrypt", "@llm.enc", "--key", "@kek-2", "-o", "@llm.dec2", "--json"]);
    g.case("rewrap", 0, yes, &["rewrap", "@llm.enc", "--key", "@kek-1", "--recipient", "@kek-2", "--json"]);
    g.case("rewrap_missing", 2, yes, &["rewrap", "@absent.enc", "--key", "@kek-1", "--recipient", "@kek-2", "--json"]);
    g.case("rewrap_wrong_key_auth", 1, yes, &["rewrap", "@llm.enc", "--key", "@gen.kek", "--recipient", "@kek-2", "--json"]);

    g.case("seal", 0, yes, &["seal", "@llm", "--key", "@signer.pem", "--recipient", "@kek-1", "--model-name", "prod/llm", "-o", "@llm.sealed", "--json"]);
    g.case("unseal", 0, yes, &["unseal", "@llm.sealed", "--policy", "@trust.toml", "--key", "@kek-1", "--out", "@run", "--json"]);
    g.case("unseal_denied", 1, yes, &["unseal", "@llm.sealed", "--policy", "@other.toml", "--key", "@kek-1", "--out", "@run2", "--json"]);
    g.case("unseal_wrong_key", 1, yes, &["unseal", "@llm.sealed", "--policy", "@trust.toml", "--key", "@kek-2", "--out", "@run3", "--json"]);

    assert!(g.failures.is_empty(), "{}", g.failures.join("\n\n"));
}
