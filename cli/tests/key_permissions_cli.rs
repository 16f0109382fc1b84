//! `--allow-insecure-key-permissions` on every verb that reads a secret key file: encrypt (a KEK
//! recipient), decrypt, rewrap, seal (signing key and KEK recipient) and unseal. Without the flag a
//! 0644 key file is refused with exit 2 and a message naming the file, its mode and the flag; with
//! it the verb succeeds.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `args` twice with `key` at mode 0644: refused without the flag (exit 2, the file, mode
/// and flag named, nothing at `out`), then accepted with it. Restores 0600 afterwards.
fn refused_then_allowed(what: &str, key: &Path, args: &[&str], out: Option<&Path>) -> Output {
    chmod(key, 0o644);
    let refused = modelseal(args);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(code(&refused), 2, "{what}: {stderr}");
    assert!(
        stderr.contains(&format!("{}: permissions 644", key.display())),
        "{what}: {stderr}"
    );
    assert!(
        stderr.contains("--allow-insecure-key-permissions"),
        "{what}: {stderr}"
    );
    if let Some(out) = out {
        assert!(
            !out.exists(),
            "{what}: refused, yet {} exists",
            out.display()
        );
    }
    let mut allowed_args = args.to_vec();
    allowed_args.push("--allow-insecure-key-permissions");
    let allowed = modelseal(&allowed_args);
    assert_eq!(
        code(&allowed),
        0,
        "{what} with the flag: {}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    chmod(key, 0o600);
    allowed
}

struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        let k = Keys {
            dir: tempfile::tempdir().unwrap(),
        };
        let model = k.path("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), vec![7u8; 20_000]).unwrap();
        std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
        ok(&[
            "keygen",
            "--algorithm",
            "ec-p256",
            "--out",
            s(&k.path("release.pem")),
            "--public-out",
            s(&k.path("release.pub.pem")),
        ]);
        for (algorithm, name) in [
            ("aes256-kek", "a.kek"),
            ("aes256-kek", "b.kek"),
            ("x25519", "deploy.pem"),
        ] {
            ok(&[
                "keygen",
                "--algorithm",
                algorithm,
                "--out",
                s(&k.path(name)),
            ]);
        }
        std::fs::write(
            k.path("trust.toml"),
            "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n",
        )
        .unwrap();
        k
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn encrypt_decrypt_and_rewrap_refuse_a_readable_key_unless_allowed() {
    let k = Keys::new();
    let (model, kek, other) = (k.path("llm"), k.path("a.kek"), k.path("b.kek"));
    let enc = k.path("enc");
    refused_then_allowed(
        "encrypt",
        &kek,
        &[
            "encrypt",
            s(&model),
            "--recipient",
            s(&kek),
            "-o",
            s(&enc),
            "-q",
        ],
        Some(&enc),
    );
    let plain = k.path("plain");
    refused_then_allowed(
        "decrypt",
        &kek,
        &["decrypt", s(&enc), "--key", s(&kek), "-o", s(&plain), "-q"],
        Some(&plain),
    );
    assert_eq!(
        std::fs::read(plain.join("weights.bin")).unwrap(),
        std::fs::read(model.join("weights.bin")).unwrap()
    );
    // rewrap: the identity that unwraps, then a KEK recipient that is added.
    let envelope = || std::fs::read(enc.join("modelseal.envelope")).unwrap();
    let before = envelope();
    refused_then_allowed(
        "rewrap (identity)",
        &kek,
        &[
            "rewrap",
            s(&enc),
            "--key",
            s(&kek),
            "--recipient",
            s(&other),
        ],
        None,
    );
    let after = envelope();
    assert_ne!(before, after, "rewrap with the flag added a recipient");
    // The added KEK now unwraps; a third, readable KEK to add is refused unless allowed.
    let third = k.path("c.kek");
    ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&third)]);
    refused_then_allowed(
        "rewrap (added recipient)",
        &third,
        &[
            "rewrap",
            s(&enc),
            "--key",
            s(&other),
            "--recipient",
            s(&third),
        ],
        None,
    );
    let plain3 = k.path("plain3");
    ok(&[
        "decrypt",
        s(&enc),
        "--key",
        s(&third),
        "-o",
        s(&plain3),
        "-q",
    ]);
}

#[test]
fn seal_and_unseal_refuse_a_readable_key_unless_allowed() {
    let k = Keys::new();
    let (model, enc) = (k.path("llm"), k.path("enc"));
    let seal_args = |recipient: &Path| {
        vec![
            "seal".to_string(),
            s(&model).to_string(),
            "--key".into(),
            s(&k.path("release.pem")).into(),
            "--recipient".into(),
            s(recipient).into(),
            "-o".into(),
            s(&enc).into(),
            "--model-name".into(),
            "prod/llm".into(),
            "-q".into(),
        ]
    };
    // The signing key …
    let args = seal_args(&k.path("deploy.pem.pub"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused_then_allowed(
        "seal (signing key)",
        &k.path("release.pem"),
        &args,
        Some(&enc),
    );
    std::fs::remove_dir_all(&enc).unwrap();
    std::fs::remove_file(k.path("enc.sig")).unwrap();
    // … and a KEK recipient.
    let args = seal_args(&k.path("a.kek"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused_then_allowed("seal (KEK recipient)", &k.path("a.kek"), &args, Some(&enc));
    let out = k.path("out");
    refused_then_allowed(
        "unseal",
        &k.path("a.kek"),
        &[
            "unseal",
            s(&enc),
            "--policy",
            s(&k.path("trust.toml")),
            "--key",
            s(&k.path("a.kek")),
            "--out",
            s(&out),
            "-q",
        ],
        Some(&out),
    );
    assert_eq!(
        std::fs::read(out.join("weights.bin")).unwrap(),
        std::fs::read(model.join("weights.bin")).unwrap()
    );
}

/// sign and pubkey: a readable private key, and a passphrase file readable by its group (0640,
/// a common mistake), are refused naming the file, its mode and the flag; the flag accepts both.
#[test]
fn sign_and_pubkey_refuse_a_readable_key_or_passphrase_file_unless_allowed() {
    let k = Keys::new();
    let (model, key) = (k.path("llm"), k.path("release.pem"));
    let sig = k.path("llm.sig");
    refused_then_allowed(
        "sign",
        &key,
        &["sign", s(&model), "--key", s(&key), "-o", s(&sig), "-q"],
        Some(&sig),
    );
    let out = refused_then_allowed("pubkey", &key, &["pubkey", s(&key)], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(k.path("release.pub.pem")).unwrap()
    );

    // An encrypted PKCS#8 key (the public PKI vectors) with its passphrase in a file.
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/pki/keys");
    let (encrypted, pass) = (k.path("encrypted.pem"), k.path("password.txt"));
    std::fs::copy(pki.join("p256-encrypted-pbkdf2.pem"), &encrypted).unwrap();
    std::fs::copy(pki.join("password.txt"), &pass).unwrap();
    chmod(&encrypted, 0o600);
    let sig2 = k.path("llm2.sig");
    for (what, args, out) in [
        (
            "sign (passphrase file)",
            vec![
                "sign",
                s(&model),
                "--key",
                s(&encrypted),
                "--key-password-file",
                s(&pass),
                "-o",
                s(&sig2),
                "-q",
            ],
            Some(sig2.as_path()),
        ),
        (
            "pubkey (passphrase file)",
            vec!["pubkey", s(&encrypted), "--key-password-file", s(&pass)],
            None,
        ),
    ] {
        chmod(&pass, 0o640);
        let refused = modelseal(&args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(code(&refused), 2, "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("{}: permissions 640", pass.display())),
            "{what}: {stderr}"
        );
        assert!(
            stderr.contains("--allow-insecure-key-permissions"),
            "{what}: {stderr}"
        );
        if let Some(out) = out {
            assert!(
                !out.exists(),
                "{what}: refused, yet {} exists",
                out.display()
            );
        }
        let mut allowed = args.clone();
        allowed.push("--allow-insecure-key-permissions");
        let out = modelseal(&allowed);
        assert_eq!(
            code(&out),
            0,
            "{what} with the flag: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
