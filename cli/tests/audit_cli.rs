//! The audit log fails closed: when `--audit-log` (or a policy's `audit_log`) cannot be appended
//! to, the verb exits 2 and names the log, also after an operation that itself succeeded (an
//! operation the operator asked to audit must not pass unrecorded). Every verb that audits: sign,
//! verify, encrypt, decrypt, rewrap, seal, unseal and endorse.

mod common;
use common::*;

#[test]
fn an_unwritable_audit_log_is_exit_2_naming_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::create_dir(p("model")).unwrap();
    std::fs::write(p("model/w.bin"), b"weights").unwrap();
    ok(&[
        "keygen",
        "--algorithm",
        "ec-p256",
        "--out",
        s(&p("k.pem")),
        "--public-out",
        s(&p("k.pub")),
    ]);
    ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&p("kek"))]);
    ok(&[
        "keygen",
        "--algorithm",
        "aes256-kek",
        "--out",
        s(&p("kek2")),
    ]);
    let log = p("missing-dir/audit.jsonl");
    let (model, key, public, kek, kek2, sig, enc, sealed) = (
        p("model"),
        p("k.pem"),
        p("k.pub"),
        p("kek"),
        p("kek2"),
        p("m.sig"),
        p("enc"),
        p("sealed"),
    );
    std::fs::write(
        p("trust.toml"),
        "version = 1\n[signers.release]\nkey = \"k.pub\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n",
    )
    .unwrap();
    // The inputs of decrypt, rewrap and unseal, made without an audit log.
    ok(&[
        "encrypt",
        s(&model),
        "--recipient",
        s(&kek),
        "-o",
        s(&p("enc0")),
    ]);
    let seal = |out: &std::path::Path| -> Vec<String> {
        let args = [
            "seal",
            s(&model),
            "--key",
            s(&key),
            "--recipient",
            s(&kek),
            "-o",
            s(out),
            "--model-name",
            "prod/llm",
        ];
        args.map(String::from).to_vec()
    };
    let seal0 = seal(&p("sealed0"));
    ok(&seal0.iter().map(String::as_str).collect::<Vec<_>>());
    let seal_args = seal(&sealed);
    let (enc0, plain, sealed0, trust, run) = (
        p("enc0"),
        p("plain"),
        p("sealed0"),
        p("trust.toml"),
        p("run"),
    );
    let runs: [Vec<&str>; 8] = [
        vec!["sign", s(&model), "--key", s(&key), "-o", s(&sig)],
        vec![
            "verify",
            s(&model),
            "--signature",
            s(&sig),
            "--key",
            s(&public),
        ],
        vec!["encrypt", s(&model), "--recipient", s(&kek), "-o", s(&enc)],
        vec!["decrypt", s(&enc0), "--key", s(&kek), "-o", s(&plain)],
        vec![
            "rewrap",
            s(&enc0),
            "--key",
            s(&kek),
            "--recipient",
            s(&kek2),
        ],
        seal_args.iter().map(String::as_str).collect(),
        vec![
            "unseal",
            s(&sealed0),
            "--policy",
            s(&trust),
            "--key",
            s(&kek),
            "--out",
            s(&run),
        ],
        vec!["endorse", s(&sealed0), "--key", s(&key)],
    ];
    for mut args in runs {
        let what = args[0];
        args.extend(["--audit-log", s(&log)]);
        assert_fails_closed(what, &args, &log);
    }
    assert!(!log.exists());

    // A policy's `audit_log` (relative to the policy file), with no --audit-log.
    let mut policy = std::fs::read_to_string(&trust).unwrap();
    policy.insert_str(0, "audit_log = \"missing-dir/audit.jsonl\"\n");
    std::fs::write(&trust, policy).unwrap();
    let sealed0_sig = p("sealed0.sig");
    let args = [
        "verify",
        s(&sealed0),
        "--signature",
        s(&sealed0_sig),
        "--policy",
        s(&trust),
    ];
    assert_fails_closed("verify --policy", &args, &log);
    assert!(!log.exists());
}

/// `args` (which succeed without an audit log) exit 2 naming `log`, which cannot be appended to.
fn assert_fails_closed(what: &str, args: &[&str], log: &std::path::Path) {
    let out = modelseal(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{what}: {stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: cannot append to the audit log",
            log.display()
        )),
        "{what}: {stderr}"
    );
}
