//! The first hour as a user (issue 22): audit lines to a pipe, a restarted init container that
//! unseals into the DIR it already published, the signed name that binds, errors in the user's
//! terms, Hugging Face layouts, CI ergonomics.

mod common;
use common::*;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A model sealed as `prod/llm` for `deploy.pem`, and a policy trusting `release` for `prod/*`.
struct Sealed {
    dir: tempfile::TempDir,
}

impl Sealed {
    fn new() -> Sealed {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), vec![5u8; 70_000]).unwrap();
        std::fs::write(model.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
        let t = Sealed { dir };
        keygen_p256(t.dir.path(), "release");
        ok(&[
            "keygen",
            "--algorithm",
            "x25519",
            "--out",
            s(&t.path("deploy.pem")),
        ]);
        t.write_policy("");
        t
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write_policy(&self, extra: &str) {
        std::fs::write(
            self.path("trust.toml"),
            format!("version = 1\n{extra}[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n"),
        )
        .unwrap();
    }
    fn seal(&self, name: &str) {
        ok(&[
            "seal",
            s(&self.path("llm")),
            "--key",
            s(&self.path("release.pem")),
            "--recipient",
            s(&self.path("deploy.pem.pub")),
            "-o",
            s(&self.path("llm.enc")),
            "--model-name",
            name,
            "--quiet",
        ]);
    }
    /// `unseal` as docs/deploy.md's init container runs it (audit line to stdout, a pipe here).
    fn init_container(&self, out: &str, extra: &[&str]) -> std::process::Output {
        let paths =
            ["llm.enc", "llm.enc.sig", "trust.toml", "deploy.pem", out].map(|n| self.path(n));
        let mut args = vec![
            "unseal",
            s(&paths[0]),
            "--signature",
            s(&paths[1]),
            "--policy",
            s(&paths[2]),
            "--key",
            s(&paths[3]),
            "--out",
            s(&paths[4]),
            "--audit-log",
            "/dev/stdout",
        ];
        args.extend_from_slice(extra);
        modelseal(&args)
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every stdout line is one audit event; returns them.
fn audit_lines(o: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn verify_with_the_audit_log_on_a_pipe_exits_0() {
    let t = Sealed::new();
    t.seal("prod/llm");
    // `Command::output` gives the child a pipe for stdout: `… --audit-log /dev/stdout | cat`;
    // `-` is standard output too.
    for log in ["/dev/stdout", "-"] {
        let o = modelseal(&[
            "verify",
            s(&t.path("llm.enc")),
            "--signature",
            s(&t.path("llm.enc.sig")),
            "--policy",
            s(&t.path("trust.toml")),
            "--audit-log",
            log,
            "--quiet",
        ]);
        assert_eq!(code(&o), 0, "{log}: {}", stderr(&o));
        let lines = audit_lines(&o);
        assert_eq!(lines.len(), 1, "{log}");
        assert_eq!(lines[0]["operation"], "verify");
        assert_eq!(lines[0]["outcome"], "ok");
    }
}

#[test]
fn a_restarted_init_container_finds_its_model_already_unsealed() {
    let t = Sealed::new();
    t.seal("prod/llm");
    let first = t.init_container("run", &["--quiet"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    assert_eq!(audit_lines(&first)[0]["outcome"], "ok");
    // The emptyDir survives the restart: the same command again.
    let second = t.init_container("run", &["--quiet"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let line = &audit_lines(&second)[0];
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["model_name"], "prod/llm");
    // Said in the human output and in the JSON.
    let text = t.init_container("run", &[]);
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("already unsealed"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let o = modelseal(&[
        "unseal",
        s(&t.path("llm.enc")),
        "--policy",
        s(&t.path("trust.toml")),
        "--key",
        s(&t.path("deploy.pem")),
        "--out",
        s(&t.path("run")),
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["already_unsealed"], true, "{report}");
    assert_eq!(report["unsealed"], true, "{report}");
    let o = t.init_container("fresh", &["--json"]);
    let first_line = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(first_line, 2, "the audit line and the result");
}

#[test]
fn a_changed_dir_on_the_second_run_exits_2_naming_the_difference() {
    let t = Sealed::new();
    t.seal("prod/llm");
    let first = t.init_container("run", &["--quiet"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let run = t.path("run");
    let make_writable = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    // Same size, one byte different: only the signature sees it.
    let weights = run.join("weights.bin");
    make_writable(&weights, 0o600);
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let o = t.init_container("run", &["--quiet"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("weights.bin"), "{}", stderr(&o));
    assert_eq!(audit_lines(&o)[0]["outcome"], "error");
    // An added file is named too.
    std::fs::write(&weights, vec![5u8; 70_000]).unwrap();
    make_writable(&run, 0o700);
    std::fs::write(run.join("extra.bin"), b"x").unwrap();
    let o = t.init_container("run", &["--quiet"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("extra.bin: not in the sealed model"),
        "{}",
        stderr(&o)
    );
    // An empty DIR holds nothing of the model.
    std::fs::create_dir(t.path("empty")).unwrap();
    let o = t.init_container("empty", &["--quiet"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("weights.bin: missing"),
        "{}",
        stderr(&o)
    );
}

/// A policy where `prod/**` needs two signers and `dev/**` one: the looser rule a caller could
/// reach by naming a model `dev/…`.
fn two_rule_policy(t: &Sealed, extra: &str) -> PathBuf {
    keygen_p256(t.dir.path(), "qa");
    let path = t.path("two-rules.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n{extra}\
             [signers.release]\nkey = \"release.pub.pem\"\n\
             [signers.qa]\nkey = \"qa.pub.pem\"\n\
             [[models]]\nname = \"prod/**\"\nrequire = [\"release\", \"qa\"]\nthreshold = 2\n\
             [[models]]\nname = \"dev/**\"\nrequire = [\"release\"]\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_signed_name_binds_unless_the_policy_allows_an_override() {
    let t = Sealed::new();
    t.seal("prod/vision/resnet");
    let policy = two_rule_policy(&t, "");
    let (enc, sig) = (t.path("llm.enc"), t.path("llm.enc.sig"));
    let verify = |policy: &Path, name: Option<&str>| {
        let mut args = vec![
            "verify",
            s(&enc),
            "--signature",
            s(&sig),
            "--policy",
            s(policy),
            "--json",
        ];
        if let Some(name) = name {
            args.extend(["--model-name", name]);
        }
        let o = modelseal(&args);
        (code(&o), json(&o))
    };
    // Under its signed name the model needs both signers: denied.
    let (c, d) = verify(&policy, None);
    assert_eq!(c, 1, "{d}");
    assert_eq!(d["signed_name"], "prod/vision/resnet", "{d}");
    // Renamed into the looser rule: refused, naming both names.
    let (c, d) = verify(&policy, Some("dev/x"));
    assert_eq!(c, 1, "{d}");
    let reasons = d["reasons"].to_string();
    assert!(
        reasons.contains("\\\"dev/x\\\" is not the signed name \\\"prod/vision/resnet\\\""),
        "{reasons}"
    );
    assert_eq!(d["signed_name"], "prod/vision/resnet");
    // unseal refuses it the same way, and publishes nothing.
    let o = modelseal(&[
        "unseal",
        s(&t.path("llm.enc")),
        "--policy",
        s(&policy),
        "--key",
        s(&t.path("deploy.pem")),
        "--out",
        s(&t.path("run")),
        "--model-name",
        "dev/x",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not the signed name"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path("run").exists());
    // The same name as signed is no override.
    let (_, d) = verify(&policy, Some("prod/vision/resnet"));
    assert!(!d["reasons"].to_string().contains("signed name"), "{d}");
    // A policy that allows the override matches the caller's name.
    let policy = t.path("override.toml");
    let text = std::fs::read_to_string(t.path("two-rules.toml")).unwrap();
    std::fs::write(
        &policy,
        text.replacen(
            "version = 1\n",
            "version = 1\nallow_name_override = true\n",
            1,
        ),
    )
    .unwrap();
    let (c, d) = verify(&policy, Some("dev/x"));
    assert_eq!(c, 0, "{d}");
    assert_eq!(d["model_name"], "dev/x");
    assert_eq!(d["signed_name"], "prod/vision/resnet");
}

#[test]
fn verify_finds_the_signature_where_sign_writes_it() {
    let t = Sealed::new();
    ok(&[
        "sign",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pem")),
        "--quiet",
    ]);
    let o = modelseal(&[
        "verify",
        s(&t.path("llm")),
        "--key",
        s(&t.path("release.pub.pem")),
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = modelseal(&[
        "verify",
        s(&t.path("llm")),
        "--policy",
        s(&t.path("trust.toml")),
        "--model-name",
        "prod/llm",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn version_lists_the_compiled_in_backends_secret_sources_and_locations() {
    let o = ok(&["--version"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("key backends: file, pkcs11"), "{text}");
    assert_eq!(text.contains("awskms"), cfg!(feature = "awskms"), "{text}");
    assert!(text.contains("secret sources: file, fd, env"), "{text}");
    assert_eq!(text.contains("awssm"), cfg!(feature = "awssm"), "{text}");
    assert!(text.contains("model locations: local"), "{text}");
    assert_eq!(
        text.contains("s3, gs, az"),
        cfg!(feature = "storage"),
        "{text}"
    );
}

#[test]
fn serve_beyond_loopback_warns() {
    use std::io::{BufRead, BufReader};
    let t = Sealed::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args([
            "serve",
            "--policy",
            s(&t.path("trust.toml")),
            "--root",
            s(t.dir.path()),
            "--listen",
            "0.0.0.0:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("listening"), "{first}");
    assert!(second.contains("beyond loopback"), "{second}");
}

#[test]
fn key_mix_ups_say_what_the_key_is_and_how_to_make_the_right_one() {
    let t = Sealed::new();
    let (ec_pub, ec, x_pub, x, model) = (
        t.path("release.pub.pem"),
        t.path("release.pem"),
        t.path("deploy.pem.pub"),
        t.path("deploy.pem"),
        t.path("llm"),
    );
    let fails = |args: &[&str], expected: &[&str]| {
        let o = modelseal(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        for e in expected {
            assert!(stderr(&o).contains(e), "{args:?}: {}", stderr(&o));
        }
        assert!(!stderr(&o).contains("OID"), "{}", stderr(&o));
    };
    let enc = t.path("x.enc");
    // An EC public key as a recipient.
    fails(
        &[
            "encrypt",
            s(&model),
            "--recipient",
            s(&ec_pub),
            "-o",
            s(&enc),
        ],
        &[
            "public key is an EC (ECDSA) key, a signing key",
            "modelseal keygen --algorithm x25519",
        ],
    );
    // Decrypting with an EC private key.
    ok(&[
        "encrypt",
        s(&model),
        "--recipient",
        s(&x_pub),
        "-o",
        s(&enc),
        "--quiet",
    ]);
    fails(
        &[
            "decrypt",
            s(&enc),
            "--key",
            s(&ec),
            "-o",
            s(&t.path("plain")),
        ],
        &[
            "private key is an EC (ECDSA) key",
            "modelseal keygen --algorithm x25519",
        ],
    );
    // Signing with an X25519 key.
    fails(
        &["sign", s(&model), "--key", s(&x)],
        &[
            "X25519 (encryption keys",
            "modelseal keygen --algorithm ec-p256",
        ],
    );
}

#[test]
fn remove_recipient_takes_a_key_reference() {
    let t = Sealed::new();
    let (enc, kek) = (t.path("x.enc"), t.path("registry.kek"));
    ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&kek)]);
    ok(&[
        "encrypt",
        s(&t.path("llm")),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "--recipient",
        s(&kek),
        "-o",
        s(&enc),
        "--quiet",
    ]);
    let o = modelseal(&[
        "rewrap",
        s(&enc),
        "--key",
        s(&kek),
        "--remove-recipient",
        s(&t.path("deploy.pem.pub")),
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let listed = json(&ok(&["inspect", s(&enc), "--json"]));
    assert_eq!(
        listed["recipients"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert!(!listed.to_string().contains("x25519"), "{listed}");
}

/// A Hugging Face cache snapshot: `snapshots/<rev>/<file> -> ../../blobs/<sha>`.
fn hf_cache_snapshot(root: &Path) -> PathBuf {
    let repo = root.join("models--org--tiny");
    let (blobs, snapshot) = (repo.join("blobs"), repo.join("snapshots/0123abcd"));
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(snapshot.join("sub")).unwrap();
    for (name, sha, bytes) in [
        ("model.safetensors", "aa11", vec![7u8; 50_000]),
        ("config.json", "bb22", b"{\"hidden\": 4}".to_vec()),
        ("sub/tokenizer.json", "cc33", b"{}".to_vec()),
    ] {
        std::fs::write(blobs.join(sha), bytes).unwrap();
        let depth = name.matches('/').count();
        let target = format!("{}../../blobs/{sha}", "../".repeat(depth));
        std::os::unix::fs::symlink(target, snapshot.join(name)).unwrap();
    }
    snapshot
}

#[test]
fn a_hugging_face_cache_snapshot_signs_encrypts_seals_verifies_and_unseals() {
    let t = Sealed::new();
    let snapshot = hf_cache_snapshot(t.dir.path());
    let (key, public) = (t.path("release.pem"), t.path("release.pub.pem"));
    // sign + verify
    let sig = t.path("snap.sig");
    ok(&[
        "sign",
        s(&snapshot),
        "--key",
        s(&key),
        "--allow-symlinks",
        "-o",
        s(&sig),
        "--quiet",
    ]);
    ok(&[
        "verify",
        s(&snapshot),
        "--key",
        s(&public),
        "--signature",
        s(&sig),
    ]);
    // encrypt: refused without the flag (and clap's tip is not another flag), done with it
    let enc = t.path("snap.enc");
    let o = modelseal(&[
        "encrypt",
        s(&snapshot),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&enc),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
    ok(&[
        "encrypt",
        s(&snapshot),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&enc),
        "--allow-symlinks",
        "--quiet",
    ]);
    let plain = t.path("snap.plain");
    ok(&[
        "decrypt",
        s(&enc),
        "--key",
        s(&t.path("deploy.pem")),
        "-o",
        s(&plain),
        "--quiet",
    ]);
    ok(&[
        "verify",
        s(&plain),
        "--key",
        s(&public),
        "--signature",
        s(&sig),
    ]);
    // seal, registry verify, unseal
    let sealed = t.path("tiny.enc");
    ok(&[
        "seal",
        s(&snapshot),
        "--key",
        s(&key),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&sealed),
        "--model-name",
        "prod/tiny",
        "--allow-symlinks",
        "--quiet",
    ]);
    ok(&["verify", s(&sealed), "--policy", s(&t.path("trust.toml"))]);
    let run = t.path("run");
    ok(&[
        "unseal",
        s(&sealed),
        "--policy",
        s(&t.path("trust.toml")),
        "--key",
        s(&t.path("deploy.pem")),
        "--out",
        s(&run),
        "--quiet",
    ]);
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        vec![7u8; 50_000]
    );
    assert!(!run
        .join("sub/tokenizer.json")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
}

/// The JSON progress lines a run printed on stderr (`--progress json`).
fn progress_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("{\"bytes\"") || l.contains("\"progress\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn progress_in_logs_json_and_plain_for_every_long_verb_and_silent_by_default() {
    let t = Sealed::new();
    let model = t.path("llm");
    let size = 70_000 + b"{\"layers\": 2}".len() as u64;
    // --progress json: a last object with done, every byte counted, stdout still one JSON result.
    let out = ok(&[
        "sign",
        s(&model),
        "--key",
        s(&t.path("release.pem")),
        "--json",
        "--progress",
        "json",
    ]);
    let lines = progress_lines(&out);
    let last = lines.last().expect("a progress line");
    assert_eq!(last["progress"], "hashing");
    assert_eq!(last["done"], true);
    assert_eq!(last["bytes"], size);
    assert_eq!(last["total_bytes"], size);
    assert_eq!(json(&out)["model"], s(&model));
    // seal and unseal report all their stages: seal's one pass over the plaintext (the
    // ciphertext hashed as it is written), then what it reads back for the outer signature (the
    // envelope and the inner signature); unseal: the envelope, then its one decryption pass.
    let out = ok(&[
        "seal",
        s(&model),
        "--key",
        s(&t.path("release.pem")),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&t.path("llm.enc")),
        "--model-name",
        "prod/llm",
        "--progress",
        "json",
        "--quiet",
    ]);
    let last = progress_lines(&out).pop().expect("a seal progress line");
    assert_eq!(last["progress"], "sealing");
    assert_eq!(last["bytes"], last["total_bytes"]);
    let bytes = last["bytes"].as_u64().unwrap();
    assert!(
        bytes > size && bytes < 2 * size,
        "one pass and a small read-back: {last}"
    );
    let out = ok(&[
        "unseal",
        s(&t.path("llm.enc")),
        "--policy",
        s(&t.path("trust.toml")),
        "--key",
        s(&t.path("deploy.pem")),
        "--out",
        s(&t.path("run/llm")),
        "--progress",
        "plain",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("unsealing: ") && last.contains(" in "),
        "{stderr}"
    );
    // auto (the default) with stderr not a terminal and a short run: no progress at all.
    let out = ok(&["verify", s(&model), "--key", s(&t.path("release.pub.pem"))]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn completions_and_manual_pages_come_from_the_same_flags_as_help() {
    let out = ok(&["completions", "bash"]);
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("modelseal") && script.contains("--progress"),
        "{script}"
    );
    assert!(script.contains("--key-password-file"));
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    ok(&["man", s(&man)]);
    let page = std::fs::read_to_string(man.join("modelseal-unseal.1")).unwrap();
    assert!(page.contains(".TH modelseal-unseal"), "{page}");
    assert!(page.contains("progress"), "{page}");
    assert!(man.join("modelseal.1").is_file());
    assert_eq!(code(&modelseal(&["completions", "tcsh"])), 2);
}

/// Writes what `hf download --local-dir` leaves in a model directory besides the model.
fn add_local_dir_cache(model: &Path, tag: &str) {
    let download = model.join(".cache/huggingface/download");
    std::fs::create_dir_all(&download).unwrap();
    std::fs::write(model.join(".cache/huggingface/.gitignore"), b"*\n").unwrap();
    std::fs::write(
        download.join("weights.bin.metadata"),
        format!("{tag}\n1700000000\n"),
    )
    .unwrap();
    std::fs::write(download.join("weights.bin.lock"), b"").unwrap();
}

#[test]
fn a_hugging_face_local_dir_download_signs_verifies_and_decrypts_with_its_cache() {
    let t = Sealed::new();
    let (model, key, public) = (
        t.path("llm"),
        t.path("release.pem"),
        t.path("release.pub.pem"),
    );
    // Signed where the model was published (no cache), verified in a local-dir download of it.
    let published_sig = t.path("published.sig");
    ok(&["sign", s(&model), "--key", s(&key), "-o", s(&published_sig)]);
    add_local_dir_cache(&model, "etag-1");
    let out = ok(&[
        "verify",
        s(&model),
        "--signature",
        s(&published_sig),
        "--key",
        s(&public),
        "--json",
    ]);
    assert_eq!(json(&out)["resources"], 2);
    // Signed in the download: the cache is left out and recorded, so a changed cache still verifies.
    let sig = t.path("local.sig");
    ok(&["sign", s(&model), "--key", s(&key), "-o", s(&sig)]);
    let inspected = json(&ok(&["inspect", s(&sig), "--json"]));
    let ignore = inspected["serialization"]["ignore_paths"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        ignore.contains(&Value::from(".cache/huggingface")),
        "{inspected}"
    );
    add_local_dir_cache(&model, "etag-2");
    ok(&[
        "verify",
        s(&model),
        "--signature",
        s(&sig),
        "--key",
        s(&public),
    ]);
    // Only the cache: another file under .cache is still an extra file.
    std::fs::write(model.join(".cache/other"), b"x").unwrap();
    let out = modelseal(&[
        "verify",
        s(&model),
        "--signature",
        s(&sig),
        "--key",
        s(&public),
    ]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(model.join(".cache/other")).unwrap();
    // Encrypted without it; an encrypted model downloaded with --local-dir decrypts with it.
    let enc = t.path("llm.enc");
    ok(&[
        "encrypt",
        s(&model),
        "--recipient",
        s(&t.path("deploy.pem.pub")),
        "-o",
        s(&enc),
    ]);
    assert!(!enc.join(".cache").exists());
    add_local_dir_cache(&enc, "etag-3");
    ok(&[
        "decrypt",
        s(&enc),
        "--key",
        s(&t.path("deploy.pem")),
        "-o",
        s(&t.path("plain")),
    ]);
    assert!(!t.path("plain/.cache").exists());
    std::fs::write(enc.join(".cache/other"), b"x").unwrap();
    let out = modelseal(&[
        "decrypt",
        s(&enc),
        "--key",
        s(&t.path("deploy.pem")),
        "-o",
        s(&t.path("plain2")),
    ]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("extra entry"));
}
