//! The encryption verbs as users and scripts see them: `keygen` for encryption keys, `encrypt`,
//! `decrypt`, `rewrap`, `inspect` of an encrypted model; exit codes (0 ok, 1 authentication failed,
//! 2 usage or input error), `--json`, `--force`, and what is (not) left on disk after a failure or
//! a SIGKILL.

mod common;
use common::kill::{assert_same_files, big_model, KillTest};
use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// One encryption key made by `modelseal keygen`: what encrypts to it and what decrypts.
struct Key {
    recipient: PathBuf,
    secret: PathBuf,
    key_id: String,
    stanza_type: String,
}

fn keygen(dir: &Path, algorithm: &str, name: &str) -> Key {
    let secret = dir.join(name);
    let out = ok(&[
        "keygen",
        "--algorithm",
        algorithm,
        "--out",
        s(&secret),
        "--json",
    ]);
    let v = json(&out);
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{algorithm} secret key mode");
    let recipient = match v["public_key"].as_str() {
        Some(p) => PathBuf::from(p),
        None => secret.clone(),
    };
    Key {
        recipient,
        secret,
        key_id: v["key_id"].as_str().unwrap().to_owned(),
        stanza_type: v["algorithm"].as_str().unwrap().to_owned(),
    }
}

fn model(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    std::fs::create_dir_all(m.join("sub/deeper")).unwrap();
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(m.join("weights.bin"), &weights).unwrap();
    std::fs::write(m.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
    std::fs::write(m.join("sub/deeper/empty"), b"").unwrap();
    // Ignored by default, like signing: not encrypted, not expected back.
    std::fs::create_dir_all(m.join(".git")).unwrap();
    std::fs::write(m.join(".git/HEAD"), b"ref: x").unwrap();
    m
}

/// Files below `root` (relative path → bytes), skipping `.git`.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if rel == ".git" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &format!("{rel}/"), out);
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out.sort();
    out
}

#[test]
fn help_is_available_for_the_encryption_verbs() {
    for verb in ["encrypt", "decrypt", "rewrap"] {
        let out = ok(&[verb, "--help"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: modelseal"));
    }
    let keygen_help = String::from_utf8_lossy(&ok(&["keygen", "--help"]).stdout).into_owned();
    for algorithm in ["aes256-kek", "x25519", "rsa3072"] {
        assert!(keygen_help.contains(algorithm), "{algorithm}");
    }
}

#[test]
fn round_trips_directory_and_file_for_every_recipient_type() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let keys = [
        keygen(dir.path(), "aes256-kek", "kek.hex"),
        keygen(dir.path(), "x25519", "x25519.pem"),
        keygen(dir.path(), "rsa3072", "rsa.pem"),
    ];
    let types: Vec<&str> = keys.iter().map(|k| k.stanza_type.as_str()).collect();
    assert_eq!(types, ["aes256-kek", "x25519-hpke", "rsa-oaep"]);
    for key in &keys[1..] {
        // Key pairs: the public half is a separate, world-readable file (`PRIVATE.pub`).
        assert_ne!(key.recipient, key.secret, "{}", key.stanza_type);
        let mode = std::fs::metadata(&key.recipient)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    for key in &keys {
        // Directory.
        let enc = dir.path().join(format!("enc-{}", key.stanza_type));
        let out = ok(&[
            "encrypt",
            s(&m),
            "--recipient",
            s(&key.recipient),
            "-o",
            s(&enc),
            "--chunk-size",
            "65536",
            "--json",
        ]);
        let v = json(&out);
        assert_eq!(v["files"], 3);
        assert_eq!(v["bytes"], 300_000 + 13);
        assert_eq!(v["recipients"][0]["key_id"], key.key_id.as_str());
        assert!(enc.join("modelseal.envelope").is_file());
        assert!(
            !enc.join(".git").exists(),
            "default ignores are not encrypted"
        );
        assert_ne!(
            std::fs::read(enc.join("weights.bin")).unwrap(),
            std::fs::read(m.join("weights.bin")).unwrap()
        );
        let plain = dir.path().join(format!("dec-{}", key.stanza_type));
        let out = ok(&[
            "decrypt",
            s(&enc),
            "--key",
            s(&key.secret),
            "-o",
            s(&plain),
            "--json",
        ]);
        let v = json(&out);
        assert_eq!(v["decrypted"], true);
        assert_eq!(v["recipient"]["key_id"], key.key_id.as_str());
        assert_eq!(tree(&plain), tree(&m));
        let mode = std::fs::metadata(plain.join("weights.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "decrypted files are private");

        // Single file.
        let single = dir.path().join(format!("w-{}.mseal", key.stanza_type));
        ok(&[
            "encrypt",
            s(&m.join("weights.bin")),
            "--recipient",
            s(&key.recipient),
            "-o",
            s(&single),
            "--quiet",
        ]);
        let back = dir.path().join(format!("w-{}.bin", key.stanza_type));
        let out = ok(&[
            "decrypt",
            s(&single),
            "--key",
            s(&key.secret),
            "-o",
            s(&back),
            "--quiet",
        ]);
        assert!(out.stdout.is_empty(), "--quiet prints nothing");
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(m.join("weights.bin")).unwrap()
        );
    }
}

struct Encrypted {
    dir: tempfile::TempDir,
    model: PathBuf,
    enc: PathBuf,
    key: Key,
    other: Key,
}

fn encrypted() -> Encrypted {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let key = keygen(dir.path(), "x25519", "right.pem");
    let other = keygen(dir.path(), "x25519", "wrong.pem");
    let enc = dir.path().join("enc");
    ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        s(&key.recipient),
        "-o",
        s(&enc),
        "--chunk-size",
        "4096",
        "--quiet",
    ]);
    Encrypted {
        dir,
        model: m,
        enc,
        key,
        other,
    }
}

#[test]
fn wrong_key_exits_1_and_writes_nothing() {
    let e = encrypted();
    let outdir = e.dir.path().join("outdir");
    std::fs::create_dir(&outdir).unwrap();
    let out_path = outdir.join("out");
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.other.secret),
        "-o",
        s(&out_path),
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["decrypted"], false);
    assert_eq!(v["error_class"], "failed");
    assert_eq!(v["errors"][0]["code"], "not_a_recipient");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&e.key.key_id));
    assert!(leftovers(&outdir, &[]).is_empty());
    // A public key cannot decrypt: an input error, not an authentication failure.
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.recipient),
        "-o",
        s(&out_path),
    ]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("public key"));
    assert!(leftovers(&outdir, &[]).is_empty());
}

#[test]
fn tampered_ciphertext_exits_1_and_writes_nothing() {
    let e = encrypted();
    let outdir = e.dir.path().join("outdir");
    std::fs::create_dir(&outdir).unwrap();
    let out_path = outdir.join("out");
    let target = e.enc.join("weights.bin");
    let mut bytes = std::fs::read(&target).unwrap();
    // A byte of the last chunk: every earlier chunk verifies and may already be written.
    let at = bytes.len() - 20;
    bytes[at] ^= 0x40;
    std::fs::write(&target, &bytes).unwrap();
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&out_path),
    ]);
    assert_eq!(code(&out), 1);
    no_panic(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("weights.bin") && err.contains("chunk"),
        "{err}"
    );
    assert!(leftovers(&outdir, &[]).is_empty(), "no plaintext left");
    // Truncation and a modified envelope also fail with 1.
    bytes[at] ^= 0x40;
    bytes.pop();
    std::fs::write(&target, &bytes).unwrap();
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&out_path),
    ]);
    assert_eq!(code(&out), 1);
    let envelope = e.enc.join("modelseal.envelope");
    let mut env = std::fs::read(&envelope).unwrap();
    let last = env.len() - 1;
    env[last] ^= 1;
    std::fs::write(&envelope, &env).unwrap();
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&out_path),
    ]);
    assert_eq!(code(&out), 1);
    assert!(leftovers(&outdir, &[]).is_empty());
}

#[test]
fn garbage_empty_and_wrong_magic_exit_2_without_panic() {
    let e = encrypted();
    let dir = e.dir.path();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", (0..5000u32).map(|i| (i * 13) as u8).collect()),
        ("wrong-magic", {
            let mut b = b"\x89MSEAX\r\n\x00\x01\x00\x00\x00\x10".to_vec();
            b.extend([0u8; 100]);
            b
        }),
        ("version-2", {
            let mut b = b"\x89MSEAL\r\n\x00\x02\x00\x00\x00\x10".to_vec();
            b.extend([0u8; 100]);
            b
        }),
        ("huge-header", {
            let mut b = b"\x89MSEAL\r\n\x00\x01\xff\xff\xff\xff".to_vec();
            b.extend([0u8; 100]);
            b
        }),
        ("short-prefix", b"\x89MSEAL".to_vec()),
    ];
    for (name, bytes) in cases {
        let input = dir.join(name);
        std::fs::write(&input, &bytes).unwrap();
        let out_path = dir.join(format!("{name}.out"));
        let out = modelseal(&[
            "decrypt",
            s(&input),
            "--key",
            s(&e.key.secret),
            "-o",
            s(&out_path),
        ]);
        assert_eq!(
            code(&out),
            2,
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        no_panic(&out);
        assert!(!out_path.exists(), "{name}");
        let out = modelseal(&["inspect", s(&input), "--json"]);
        assert_eq!(code(&out), 2, "inspect {name}");
        no_panic(&out);
        let out = modelseal(&[
            "rewrap",
            s(&input),
            "--key",
            s(&e.key.secret),
            "--recipient",
            s(&e.other.recipient),
        ]);
        assert_eq!(code(&out), 2, "rewrap {name}");
        no_panic(&out);
    }
    // A directory without an envelope, a missing input, a plaintext model.
    for input in [dir.join("nowhere"), e.model.clone()] {
        let out = modelseal(&[
            "decrypt",
            s(&input),
            "--key",
            s(&e.key.secret),
            "-o",
            s(&dir.join("x")),
        ]);
        assert_eq!(code(&out), 2, "{}", input.display());
        no_panic(&out);
    }
    // Bad arguments.
    let m = s(&e.model);
    let r = s(&e.key.recipient);
    for args in [
        vec!["encrypt", m, "-o", "x"],
        vec![
            "encrypt",
            m,
            "--recipient",
            r,
            "-o",
            "x",
            "--chunk-size",
            "1000",
        ],
        vec![
            "encrypt",
            m,
            "--recipient",
            "pkcs11:token=a;object=b",
            "-o",
            "x",
        ],
        vec!["encrypt", m, "--recipient", "nope.pem", "-o", "x"],
        vec!["rewrap", s(&e.enc), "--key", s(&e.key.secret)],
    ] {
        let out = modelseal(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        no_panic(&out);
    }
}

#[test]
fn force_replaces_only_when_asked() {
    let e = encrypted();
    let dir = e.dir.path();
    let existing = dir.join("existing");
    std::fs::write(&existing, b"keep me").unwrap();
    let r = s(&e.key.recipient);
    let out = modelseal(&["encrypt", s(&e.model), "--recipient", r, "-o", s(&existing)]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&existing),
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    // A failed decrypt with --force leaves the old output in place.
    let out = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.other.secret),
        "-o",
        s(&existing),
        "--force",
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    ok(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&existing),
        "--force",
    ]);
    assert_eq!(tree(&existing), tree(&e.model));
    // Encrypt over an existing directory with --force.
    ok(&[
        "encrypt",
        s(&e.model),
        "--recipient",
        r,
        "-o",
        s(&existing),
        "--force",
        "--quiet",
    ]);
    assert!(existing.join("modelseal.envelope").is_file());
    assert_eq!(
        leftovers(
            dir,
            &[
                "model",
                "enc",
                "existing",
                "right.pem",
                "right.pem.pub",
                "wrong.pem",
                "wrong.pem.pub"
            ]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn inspect_shows_recipients_and_key_ids_but_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let kek = keygen(dir.path(), "aes256-kek", "kek.hex");
    let x = keygen(dir.path(), "x25519", "x.pem");
    let enc = dir.path().join("enc");
    ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        s(&kek.recipient),
        "--recipient",
        s(&x.recipient),
        "-o",
        s(&enc),
    ]);
    let v = json(&ok(&["inspect", s(&enc), "--json"]));
    assert_eq!(v["encrypted"], true);
    assert_eq!(v["authenticated"], false);
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["layout"], "directory");
    assert_eq!(v["chunk_size"], 1 << 20);
    assert_eq!(v["model_name"], "model");
    let recipients: Vec<(String, String)> = v["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["key_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        recipients,
        [
            ("aes256-kek".to_owned(), kek.key_id.clone()),
            ("x25519-hpke".to_owned(), x.key_id.clone())
        ]
    );
    let files: Vec<(String, u64)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("sub/config.json".to_owned(), 13),
            ("sub/deeper/empty".to_owned(), 0),
            ("weights.bin".to_owned(), 300_000)
        ]
    );
    // No secret: neither the KEK nor any wrapped key appears in any output.
    let kek_hex = std::fs::read_to_string(&kek.secret).unwrap();
    let text = String::from_utf8(ok(&["inspect", s(&enc)]).stdout).unwrap();
    assert!(
        text.contains("unauthenticated") && text.contains(&x.key_id),
        "{text}"
    );
    for shown in [text, v.to_string()] {
        assert!(!shown.to_lowercase().contains(kek_hex.trim()));
    }
    // A single file is recognised by its magic bytes.
    let single = dir.path().join("w.mseal");
    ok(&[
        "encrypt",
        s(&m.join("weights.bin")),
        "--recipient",
        s(&x.recipient),
        "-o",
        s(&single),
    ]);
    let v = json(&ok(&["inspect", s(&single), "--json"]));
    assert_eq!(v["layout"], "single-file");
    assert_eq!(v["files"][0]["path"], ".");
}

#[test]
fn rewrap_adds_and_removes_recipients() {
    let e = encrypted();
    let dir = e.dir.path();
    let kek = keygen(dir, "aes256-kek", "new.hex");
    let out = ok(&[
        "rewrap",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "--recipient",
        s(&kek.recipient),
        "--remove-recipient",
        &e.key.key_id,
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["recipients"].as_array().unwrap().len(), 1);
    assert_eq!(v["recipients"][0]["key_id"], kek.key_id.as_str());
    let old = modelseal(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&dir.join("old")),
    ]);
    assert_eq!(code(&old), 1, "the removed key no longer decrypts");
    assert!(!dir.join("old").exists());
    ok(&[
        "decrypt",
        s(&e.enc),
        "--key",
        s(&kek.secret),
        "-o",
        s(&dir.join("new")),
    ]);
    assert_eq!(tree(&dir.join("new")), tree(&e.model));
    // Removing an id that is not a recipient, adding one twice: input errors.
    let out = modelseal(&[
        "rewrap",
        s(&e.enc),
        "--key",
        s(&kek.secret),
        "--remove-recipient",
        &e.key.key_id,
    ]);
    assert_eq!(code(&out), 2);
    let out = modelseal(&[
        "rewrap",
        s(&e.enc),
        "--key",
        s(&kek.secret),
        "--recipient",
        s(&kek.secret),
    ]);
    assert_eq!(code(&out), 2);
    // Rewrap with a key that is not a recipient: authentication failure.
    let out = modelseal(&[
        "rewrap",
        s(&e.enc),
        "--key",
        s(&e.other.secret),
        "--recipient",
        s(&e.other.recipient),
    ]);
    assert_eq!(code(&out), 1);
    // Single file.
    let single = dir.join("w.mseal");
    ok(&[
        "encrypt",
        s(&e.model.join("weights.bin")),
        "--recipient",
        s(&e.key.recipient),
        "-o",
        s(&single),
    ]);
    ok(&[
        "rewrap",
        s(&single),
        "--key",
        s(&e.key.secret),
        "--recipient",
        s(&e.other.recipient),
        "--remove-recipient",
        &e.key.key_id,
    ]);
    let out = modelseal(&[
        "decrypt",
        s(&single),
        "--key",
        s(&e.key.secret),
        "-o",
        s(&dir.join("w1")),
    ]);
    assert_eq!(code(&out), 1);
    ok(&[
        "decrypt",
        s(&single),
        "--key",
        s(&e.other.secret),
        "-o",
        s(&dir.join("w2")),
    ]);
    assert_eq!(
        std::fs::read(dir.join("w2")).unwrap(),
        std::fs::read(e.model.join("weights.bin")).unwrap()
    );
}

#[test]
fn rewrap_of_a_directory_touches_only_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("big");
    std::fs::create_dir_all(&m).unwrap();
    let block: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 241) as u8).collect();
    for i in 0..24 {
        std::fs::write(m.join(format!("shard-{i:02}.bin")), &block).unwrap();
    }
    let a = keygen(dir.path(), "x25519", "a.pem");
    let b = keygen(dir.path(), "rsa3072", "b.pem");
    let enc = dir.path().join("enc");
    ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        s(&a.recipient),
        "-o",
        s(&enc),
        "--quiet",
    ]);
    let stamp = |p: &Path| {
        let md = std::fs::metadata(p).unwrap();
        (
            md.ino(),
            md.mtime(),
            md.mtime_nsec(),
            md.ctime(),
            md.ctime_nsec(),
            md.len(),
        )
    };
    let data: Vec<PathBuf> = (0..24)
        .map(|i| enc.join(format!("shard-{i:02}.bin")))
        .collect();
    let before: Vec<_> = data.iter().map(|p| stamp(p)).collect();
    let envelope_before = stamp(&enc.join("modelseal.envelope"));
    // Make any rewrite visible even on a coarse clock.
    std::thread::sleep(std::time::Duration::from_millis(20));
    ok(&[
        "rewrap",
        s(&enc),
        "--key",
        s(&a.secret),
        "--recipient",
        s(&b.recipient),
        "--remove-recipient",
        &a.key_id,
    ]);
    let after: Vec<_> = data.iter().map(|p| stamp(p)).collect();
    assert_eq!(
        before, after,
        "encrypted data files are untouched (inode, mtime, ctime, size)"
    );
    assert_ne!(stamp(&enc.join("modelseal.envelope")), envelope_before);
    assert_eq!(
        leftovers(&enc, &[]).len(),
        25,
        "no temporary left in the model"
    );
    let plain = dir.path().join("plain");
    ok(&[
        "decrypt",
        s(&enc),
        "--key",
        s(&b.secret),
        "-o",
        s(&plain),
        "--quiet",
    ]);
    assert_eq!(tree(&plain), tree(&m));
}

/// SIGKILL `decrypt` of a directory model at 50 random points: OUT never appears half-written,
/// and a temporary left beside OUT is private (0700 directory, 0600 files) and removed by the next
/// run to the same OUT, which then succeeds.
#[test]
fn killed_decrypt_of_a_directory_leaves_no_output_and_the_rerun_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let m = big_model(dir.path(), 4, 16);
    let key = keygen(dir.path(), "aes256-kek", "kek.hex");
    let enc = dir.path().join("enc");
    ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        s(&key.recipient),
        "-o",
        s(&enc),
        "--quiet",
    ]);
    let outdir = dir.path().join("outdir");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("out");
    KillTest {
        args: decrypt_args(&enc, &key.secret, &out),
        out: &out,
        same_as_input: &|out| assert_same_files(out, &m),
        kills: 50,
        allow_temporaries: true,
    }
    .run();
}

fn decrypt_args(enc: &Path, key: &Path, out: &Path) -> Vec<String> {
    ["decrypt", s(enc), "--key", s(key), "-o", s(out), "--quiet"]
        .map(String::from)
        .to_vec()
}

/// SIGKILL `decrypt` of a single-file model at 50 random points: the output is an unnamed
/// `O_TMPFILE` until it authenticated, so nothing at all remains after a kill — no output, no
/// temporary.
#[test]
fn killed_decrypt_of_a_single_file_leaves_nothing_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let m = big_model(dir.path(), 1, 64);
    let input = m.join("part-0.bin");
    let key = keygen(dir.path(), "aes256-kek", "kek.hex");
    let enc = dir.path().join("enc.mseal");
    ok(&[
        "encrypt",
        s(&input),
        "--recipient",
        s(&key.recipient),
        "-o",
        s(&enc),
        "--quiet",
    ]);
    let outdir = dir.path().join("outdir");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("out.bin");
    let left = KillTest {
        args: decrypt_args(&enc, &key.secret, &out),
        out: &out,
        same_as_input: &|out| {
            assert!(std::fs::read(out).unwrap() == std::fs::read(&input).unwrap())
        },
        kills: 50,
        allow_temporaries: false,
    }
    .run();
    assert_eq!(left, 0);
}

/// A write beyond `ulimit -f` (EFBIG; SIGXFSZ is ignored) is a clear error, exit 2, and leaves no
/// partial output, for encrypt and for decrypt in both layouts.
#[test]
fn a_write_failure_is_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = big_model(dir.path(), 2, 4);
    let key = keygen(dir.path(), "aes256-kek", "kek.hex");
    let single = m.join("part-0.bin");
    let (enc_dir, enc_file) = (dir.path().join("enc"), dir.path().join("enc.mseal"));
    ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        s(&key.recipient),
        "-o",
        s(&enc_dir),
        "-q",
    ]);
    ok(&[
        "encrypt",
        s(&single),
        "--recipient",
        s(&key.recipient),
        "-o",
        s(&enc_file),
        "-q",
    ]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let limited = |args: &[&str]| {
        // 1 MiB limit (ulimit counts 1024-byte blocks); every file here is 4 MiB.
        let script = "ulimit -f 1024; exec \"$0\" \"$@\"";
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_modelseal"))
            .args(args)
            .output()
            .unwrap()
    };
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "decrypt a directory",
            vec!["decrypt", s(&enc_dir), "--key", s(&key.secret)],
        ),
        (
            "decrypt a file",
            vec!["decrypt", s(&enc_file), "--key", s(&key.secret)],
        ),
        (
            "encrypt",
            vec!["encrypt", s(&single), "--recipient", s(&key.recipient)],
        ),
    ];
    for (what, mut args) in runs {
        let target = out.join("result");
        args.extend(["-o", s(&target), "-q"]);
        let r = limited(&args);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(code(&r), 2, "{what}: {stderr}");
        assert!(stderr.contains("File too large"), "{what}: {stderr}");
        assert_eq!(leftovers(&out, &[]), Vec::<String>::new(), "{what}");
    }
}
