//! The CLI verbs with keys in a SoftHSM2 token (made by `scripts/softhsm-init.sh`): `pubkey`,
//! `sign`, `verify`, `encrypt`, `decrypt`, `rewrap` work with `pkcs11:` URIs; access and
//! configuration problems exit 2, a failed unwrap exits 1; and the PIN appears in no argv, stdout or
//! stderr of any process these tests run (it lives only in the 0400 PIN file).

mod common;
#[path = "../../core/tests/softhsm/mod.rs"]
mod softhsm;

use common::{code, json, s};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

/// SoftHSM2's file store is not safe for one process reading a token while another rewrites it (a
/// failed login updates the token file): the tests of this file run their processes one at a time.
static TOKEN: Mutex<()> = Mutex::new(());

/// Every argv and output of this test process's commands, checked for the PIN at the end of each test.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Runs `modelseal ARGS` against the test token (SOFTHSM2_CONF in the environment).
fn run(hsm: &softhsm::SoftHsm, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env_remove("MODELSEAL_PKCS11_MODULE")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run modelseal");
    let mut seen = SEEN.lock().unwrap();
    seen.push(args.join(" "));
    seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
    seen.push(String::from_utf8_lossy(&out.stderr).into_owned());
    out
}

fn expect(hsm: &softhsm::SoftHsm, want: i32, args: &[&str]) -> Output {
    let out = run(hsm, args);
    assert_eq!(
        code(&out),
        want,
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_pin_never_seen(hsm: &softhsm::SoftHsm) {
    let pin = hsm.pin();
    assert!(pin.len() >= 16);
    for text in SEEN.lock().unwrap().iter() {
        assert!(!text.contains(&pin), "the PIN appeared in: {text}");
    }
}

fn model(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("model");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("weights.bin"), vec![7u8; 10_000]).unwrap();
    std::fs::write(root.join("sub/config.json"), b"{}").unwrap();
    root
}

#[test]
fn every_verb_takes_pkcs11_uris_and_the_pin_never_shows() {
    let _one_at_a_time = TOKEN.lock().unwrap_or_else(|p| p.into_inner());
    let hsm = softhsm::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = model(dir.path());
    let (ec, aes, rsa) = (hsm.uri("ec-p384"), hsm.uri("aes-wrap"), hsm.uri("rsa-3072"));
    let kwp = format!("{}&x-wrap=aes-kwp", hsm.uri("aes-extractable"));
    let (pubkey, sig) = (dir.path().join("p.pem"), dir.path().join("m.sig"));

    let out = expect(hsm, 0, &["pubkey", &ec, "-o", s(&pubkey)]);
    assert!(out.stderr.is_empty() || !stderr(&out).contains("error"));
    assert!(std::fs::read_to_string(&pubkey)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    let signed = json(&expect(
        hsm,
        0,
        &["sign", s(&root), "--key", &ec, "-o", s(&sig), "--json"],
    ));
    assert_eq!(signed["signer"]["algorithm"], "ec-p384");
    let verified = json(&expect(
        hsm,
        0,
        &[
            "verify",
            s(&root),
            "--signature",
            s(&sig),
            "--key",
            s(&pubkey),
            "--json",
        ],
    ));
    assert_eq!(verified["signer"]["key_hint"], signed["signer"]["key_hint"]);

    let enc = dir.path().join("enc");
    let out = expect(
        hsm,
        0,
        &[
            "encrypt",
            s(&root),
            "--recipient",
            &aes,
            "--recipient",
            &rsa,
            "-o",
            s(&enc),
            "--json",
        ],
    );
    let recipients = json(&out)["recipients"].to_string();
    assert!(
        recipients.contains("pkcs11-aes") && recipients.contains("rsa-oaep"),
        "{recipients}"
    );
    for (i, key) in [&aes, &rsa].into_iter().enumerate() {
        let out_dir = dir.path().join(format!("dec{i}"));
        expect(
            hsm,
            0,
            &["decrypt", s(&enc), "--key", key, "-o", s(&out_dir)],
        );
        assert_eq!(
            std::fs::read(out_dir.join("weights.bin")).unwrap(),
            vec![7u8; 10_000]
        );
    }
    // Rewrap with the HSM AES key: add the KWP recipient, remove the RSA one.
    let rsa_id = json(&run(hsm, &["inspect", s(&enc), "--json"]))["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "rsa-oaep")
        .map(|r| r["key_id"].as_str().unwrap().to_string())
        .expect("rsa-oaep recipient listed");
    expect(
        hsm,
        0,
        &[
            "rewrap",
            s(&enc),
            "--key",
            &aes,
            "--recipient",
            &kwp,
            "--remove-recipient",
            &rsa_id,
        ],
    );
    let out_dir = dir.path().join("dec-kwp");
    expect(
        hsm,
        0,
        &["decrypt", s(&enc), "--key", &kwp, "-o", s(&out_dir)],
    );
    let out = expect(
        hsm,
        1,
        &[
            "decrypt",
            s(&enc),
            "--key",
            &rsa,
            "-o",
            s(&dir.path().join("x")),
        ],
    );
    assert!(stderr(&out).contains("not a recipient"), "{}", stderr(&out));

    // The module may come from MODELSEAL_PKCS11_MODULE instead of the URI.
    let no_module = ec.replace(&format!("module-path={}&", hsm.module), "");
    assert!(!no_module.contains("module-path"));
    let out = Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(["pubkey", &no_module, "-o", s(&dir.path().join("p2.pem"))])
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("MODELSEAL_PKCS11_MODULE", &hsm.module)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("p2.pem")).unwrap(),
        std::fs::read(&pubkey).unwrap()
    );
    assert_pin_never_seen(hsm);
}

#[test]
fn access_and_configuration_problems_exit_2() {
    let _one_at_a_time = TOKEN.lock().unwrap_or_else(|p| p.into_inner());
    let hsm = softhsm::shared();
    let dir = tempfile::tempdir().unwrap();
    let root = model(dir.path());
    let sig = dir.path().join("m.sig");
    let pin = hsm.pin();
    let missing = hsm.uri("no-such-key");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "sign".into(),
                s(&root).into(),
                "--key".into(),
                missing.clone(),
                "-o".into(),
                s(&sig).into(),
            ],
            "no private key matches",
        ),
        (
            vec![
                "sign".into(),
                s(&root).into(),
                "--key".into(),
                hsm.uri("ec-k256"),
                "-o".into(),
                s(&sig).into(),
            ],
            "secp256k1",
        ),
        (
            vec![
                "encrypt".into(),
                s(&root).into(),
                "--recipient".into(),
                hsm.uri("ec-p256"),
                "-o".into(),
                s(&dir.path().join("e")).into(),
            ],
            "AES-256 secret key or an RSA key",
        ),
        (
            vec![
                "pubkey".into(),
                "pkcs11:token=modelseal-test;object=ec-p256?pin-value=0000".into(),
                "-o".into(),
                s(&dir.path().join("p")).into(),
            ],
            "pin-value is refused",
        ),
        (
            // No pin-source, and stdin is not a terminal: a clear error, not a hang.
            vec![
                "pubkey".into(),
                format!(
                    "pkcs11:token=modelseal-test;object=ec-p256?module-path={}",
                    hsm.module
                ),
                "-o".into(),
                s(&dir.path().join("p")).into(),
            ],
            "stdin is not a terminal",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = expect(hsm, 2, &args);
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains(&pin));
    }
    // A wrong PIN: exit 2, the reason, and neither PIN.
    let wrong = dir.path().join("wrong.pin");
    std::fs::write(&wrong, "not-the-pin\n").unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    let out = expect(
        hsm,
        2,
        &[
            "sign",
            s(&root),
            "--key",
            &hsm.uri_with("ec-p256", &wrong),
            "-o",
            s(&sig),
        ],
    );
    assert!(
        stderr(&out).contains("CKR_PIN_INCORRECT"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("not-the-pin"));
    assert_pin_never_seen(hsm);
}
