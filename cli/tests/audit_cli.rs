//! The audit log fails closed: when `--audit-log` cannot be appended to, the verb exits 2 and
//! names the log, also after an operation that itself succeeded (an operation the operator asked
//! to audit must not pass unrecorded).

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
    let log = p("missing-dir/audit.jsonl");
    let (model, key, public, kek, sig, enc) = (
        p("model"),
        p("k.pem"),
        p("k.pub"),
        p("kek"),
        p("m.sig"),
        p("enc"),
    );
    let runs: [Vec<&str>; 3] = [
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
    ];
    for mut args in runs {
        let what = args[0];
        args.extend(["--audit-log", s(&log)]);
        let out = modelseal(&args);
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
    assert!(!log.exists());
}
