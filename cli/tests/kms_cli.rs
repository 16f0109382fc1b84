//! AWS KMS keys (`awskms://`) through the CLI, against a real local KMS: moto's server, started by
//! `scripts/moto_kms.py` on a free port of 127.0.0.1, keys created with boto3
//! (`tests/kms/kms_admin.py`). modelseal talks to it through the real AWS SDK with dummy
//! credentials (or web-identity ones from moto's STS); IMDS is disabled and no profile file is
//! read, so nothing leaves 127.0.0.1. Signatures are checked by modelseal and by model-signing
//! 1.1.1; KMS request counts come from the server's request log.

mod common;
use common::moto::*;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

impl Moto {
    /// `awskms://127.0.0.1:PORT/<key>`: the endpoint in the reference itself.
    fn uri(&self, key: &str) -> String {
        format!("awskms://127.0.0.1:{}/{key}", self.port)
    }

    /// Runs `tests/kms/kms_admin.py ARGS…` (boto3) and returns its stdout.
    fn admin(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(python());
        cmd.arg(repo().join("tests/kms/kms_admin.py"))
            .arg(self.endpoint())
            .args(args);
        let out = self.static_env(&mut cmd).output().unwrap();
        assert!(
            out.status.success(),
            "kms_admin.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Creates a key (`SYMMETRIC_DEFAULT`, `ECC_NIST_P256`, `ECC_NIST_P384`) with an alias; its ARN.
    fn create_key(&self, spec: &str, alias: &str) -> String {
        self.admin(&["create", spec, alias]).trim().to_owned()
    }

    /// Runs modelseal with static credentials.
    fn modelseal(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        self.static_env(&mut cmd).args(args).output().unwrap()
    }

    /// [`Moto::modelseal`], asserting exit 0.
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.modelseal(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        out
    }

    /// The requests `f` made, by comparing the log before and after.
    fn requests_of(&self, f: impl FnOnce()) -> Vec<String> {
        let before = self.requests().len();
        f();
        self.requests().split_off(before)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small model: a few files in two directories.
fn model(dir: &Path, name: &str) -> PathBuf {
    let m = dir.join(name);
    std::fs::create_dir_all(m.join("sub")).unwrap();
    let weights: Vec<u8> = (0..100_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(m.join("weights.bin"), weights).unwrap();
    std::fs::write(m.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
    m
}

/// Every file under `root` with its bytes, by relative path.
fn files_of(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn model_signing() -> PathBuf {
    python().parent().unwrap().join("model_signing")
}

#[test]
fn kms_signatures_verify_with_modelseal_and_model_signing() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    for (spec, algorithm) in [("ECC_NIST_P256", "ec-p256"), ("ECC_NIST_P384", "ec-p384")] {
        let alias = format!("alias/release-{algorithm}");
        let arn = moto.create_key(spec, &alias);
        let m = model(dir.path(), &format!("model-{algorithm}"));
        let sig = dir.path().join(format!("{algorithm}.sig"));
        let key = format!("awskms:///{alias}");
        let out = moto.ok(&["sign", s(&m), "--key", &key, "-o", s(&sig), "--json"]);
        assert_eq!(json(&out)["signer"]["algorithm"], algorithm);

        // The public key through the endpoint in the URI, by ARN, equals boto3's GetPublicKey.
        let public = dir.path().join(format!("{algorithm}.pub.pem"));
        moto.ok(&["pubkey", &moto.uri(&arn), "-o", s(&public)]);
        assert_eq!(
            std::fs::read_to_string(&public).unwrap(),
            moto.admin(&["public-key", &arn])
        );

        moto.ok(&["verify", s(&m), "--signature", s(&sig), "--key", s(&public)]);
        let reference = reference_verify(&m, &sig, &public);
        assert!(
            reference.status.success(),
            "model_signing: {}",
            stderr(&reference)
        );

        // Tampering is caught by both.
        std::fs::write(m.join("sub/config.json"), b"{\"layers\": 3}").unwrap();
        let out = moto.modelseal(&["verify", s(&m), "--signature", s(&sig), "--key", s(&public)]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let reference = reference_verify(&m, &sig, &public);
        assert!(
            !reference.status.success(),
            "model_signing accepted a tampered model"
        );
    }
}

#[test]
fn kms_and_x25519_recipients_round_trip_and_rewrap() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let arn = moto.create_key("SYMMETRIC_DEFAULT", "alias/deploy");
    let other = moto.create_key("SYMMETRIC_DEFAULT", "alias/registry");
    let x = dir.path().join("x25519.pem");
    moto.ok(&["keygen", "--algorithm", "x25519", "--out", s(&x)]);
    let m = model(dir.path(), "model");
    let enc = dir.path().join("model.enc");
    let out = moto.ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        "awskms:///alias/deploy",
        "--recipient",
        &format!("{}.pub", s(&x)),
        "-o",
        s(&enc),
        "--json",
    ]);
    let recipients = json(&out)["recipients"].clone();
    assert_eq!(recipients[0]["type"], "awskms");
    assert_eq!(
        recipients[0]["key_id"],
        arn.as_str(),
        "key_id is the key ARN"
    );

    // Each recipient decrypts on its own; the KMS key by alias, by ARN in a URI with the endpoint.
    for (i, key) in [
        "awskms:///alias/deploy".to_owned(),
        moto.uri(&arn),
        s(&x).to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let plain = dir.path().join(format!("plain{i}"));
        let out = moto.ok(&["decrypt", s(&enc), "--key", key, "-o", s(&plain), "--json"]);
        assert_eq!(json(&out)["decrypted"], true);
        assert_eq!(files_of(&plain), files_of(&m), "{key}");
    }

    // Rewrap: add a second KMS key by its bare key id, drop the x25519 recipient.
    let key_id = arn_key_id(&other);
    let x_id = json(&moto.ok(&["inspect", s(&enc), "--json"]))["recipients"][1]["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    moto.ok(&[
        "rewrap",
        s(&enc),
        "--key",
        "awskms:///alias/deploy",
        "--recipient",
        &format!("awskms:///{key_id}"),
        "--remove-recipient",
        &x_id,
    ]);
    let plain = dir.path().join("plain-after-rewrap");
    moto.ok(&[
        "decrypt",
        s(&enc),
        "--key",
        &format!("awskms:///{key_id}"),
        "-o",
        s(&plain),
    ]);
    assert_eq!(files_of(&plain), files_of(&m));
    let out = moto.modelseal(&[
        "decrypt",
        s(&enc),
        "--key",
        s(&x),
        "-o",
        s(&dir.path().join("no")),
    ]);
    assert_eq!(code(&out), 1, "removed recipient: {}", stderr(&out));
}

/// The key id of a key ARN (`…:key/<id>`).
fn arn_key_id(arn: &str) -> String {
    arn.rsplit_once(":key/").unwrap().1.to_owned()
}

#[test]
fn wrong_context_or_wrong_key_fails_with_exit_1() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    moto.create_key("SYMMETRIC_DEFAULT", "alias/deploy");
    let stranger = moto.create_key("SYMMETRIC_DEFAULT", "alias/stranger");
    let m = model(dir.path(), "kmsmodelx");
    let enc = dir.path().join("enc");
    moto.ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        "awskms:///alias/deploy",
        "-o",
        s(&enc),
    ]);

    // Another key, by ARN or key id: not a recipient (decided locally, no KMS request).
    for key in [
        format!("awskms:///{stranger}"),
        format!("awskms:///{}", arn_key_id(&stranger)),
    ] {
        let out_dir = dir.path().join("out-stranger");
        let requests = moto.requests_of(|| {
            let out = moto.modelseal(&["decrypt", s(&enc), "--key", &key, "-o", s(&out_dir)]);
            assert_eq!(code(&out), 1, "{key}: {}", stderr(&out));
            assert!(stderr(&out).contains("not a recipient"), "{}", stderr(&out));
        });
        assert!(requests.is_empty(), "{requests:?}");
        assert!(!out_dir.exists());
    }

    // Edit the body (model name, same length): the digest in the encryption context changes, so
    // KMS refuses to decrypt — exit 1, KMS's error code named, nothing written.
    let envelope = enc.join("modelseal.envelope");
    let bytes = std::fs::read(&envelope).unwrap();
    let at = bytes.windows(9).position(|w| w == b"kmsmodelx").unwrap();
    let mut edited = bytes.clone();
    edited[at + 8] = b'y';
    std::fs::write(&envelope, edited).unwrap();
    let out_dir = dir.path().join("out-edited");
    let out = moto.modelseal(&[
        "decrypt",
        s(&enc),
        "--key",
        "awskms:///alias/deploy",
        "-o",
        s(&out_dir),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("InvalidCiphertextException"),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.exists());
}

#[test]
fn unknown_alias_and_missing_region_are_exit_2_with_clear_messages() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), "model");
    let enc = dir.path().join("enc");
    let nope = "awskms:///alias/nope";
    for args in [
        vec!["encrypt", s(&m), "--recipient", nope, "-o", s(&enc)],
        vec![
            "sign",
            s(&m),
            "--key",
            nope,
            "-o",
            s(&dir.path().join("sig")),
        ],
        vec!["pubkey", nope],
    ] {
        let out = moto.modelseal(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("alias/nope") && err.contains("NotFoundException"),
            "{err}"
        );
    }
    assert!(!enc.exists());

    // A symmetric key cannot sign, and an encrypted model cannot be opened with an unknown alias.
    moto.create_key("SYMMETRIC_DEFAULT", "alias/deploy");
    let out = moto.modelseal(&["sign", s(&m), "--key", "awskms:///alias/deploy"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    moto.ok(&[
        "encrypt",
        s(&m),
        "--recipient",
        "awskms:///alias/deploy",
        "-o",
        s(&enc),
    ]);
    let out = moto.modelseal(&[
        "decrypt",
        s(&enc),
        "--key",
        nope,
        "-o",
        s(&dir.path().join("o")),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NotFoundException"),
        "{}",
        stderr(&out)
    );

    // No region anywhere (no env, no profile, no IMDS): a configuration error, before any request.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
    moto.static_env(&mut cmd)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    let out = cmd
        .args(["pubkey", "awskms:///alias/deploy"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no AWS region"), "{}", stderr(&out));
}

#[test]
fn web_identity_credentials_sign_and_decrypt() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    moto.create_key("ECC_NIST_P256", "alias/ci-signer");
    moto.create_key("SYMMETRIC_DEFAULT", "alias/ci-deploy");
    // An OIDC token as GitHub Actions or EKS would write it (moto does not check its signature).
    let token = dir.path().join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm1sL21vZGVsIn0.c2ln",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        moto.env(&mut cmd)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env(
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/model-release",
            )
            .env("AWS_ROLE_SESSION_NAME", "ci");
        let out = cmd.args(args).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    };
    let m = model(dir.path(), "model");
    let sig = dir.path().join("model.sig");
    let enc = dir.path().join("model.enc");
    let plain = dir.path().join("plain");
    let requests = moto.requests_of(|| {
        run(&[
            "sign",
            s(&m),
            "--key",
            "awskms:///alias/ci-signer",
            "-o",
            s(&sig),
        ]);
        run(&[
            "encrypt",
            s(&m),
            "--recipient",
            "awskms:///alias/ci-deploy",
            "-o",
            s(&enc),
        ]);
        run(&[
            "decrypt",
            s(&enc),
            "--key",
            "awskms:///alias/ci-deploy",
            "-o",
            s(&plain),
        ]);
    });
    assert_eq!(files_of(&plain), files_of(&m));
    let assumed = requests
        .iter()
        .filter(|r| *r == "sts AssumeRoleWithWebIdentity")
        .count();
    assert_eq!(assumed, 3, "one role assumption per process: {requests:?}");
    let public = dir.path().join("pub.pem");
    std::fs::write(&public, moto.admin(&["public-key", "alias/ci-signer"])).unwrap();
    ok(&["verify", s(&m), "--signature", s(&sig), "--key", s(&public)]);
}

#[test]
fn kms_requests_do_not_grow_with_the_number_of_files() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let signer = moto.create_key("ECC_NIST_P256", "alias/signer");
    let deploy = moto.create_key("SYMMETRIC_DEFAULT", "alias/deploy");
    moto.create_key("SYMMETRIC_DEFAULT", "alias/registry");
    let m = dir.path().join("model");
    for i in 0..500 {
        let sub = m.join(format!("shard-{:02}", i % 20));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("part-{i:03}.bin")), format!("tensor {i}")).unwrap();
    }
    let sig = dir.path().join("model.sig");
    let signing = moto.requests_of(|| {
        moto.ok(&[
            "sign",
            s(&m),
            "--key",
            "awskms:///alias/signer",
            "-o",
            s(&sig),
        ]);
    });
    assert_eq!(signing, ["kms GetPublicKey", "kms Sign"]);

    let enc = dir.path().join("model.enc");
    let encrypting = moto.requests_of(|| {
        moto.ok(&[
            "encrypt",
            s(&m),
            "--recipient",
            "awskms:///alias/deploy",
            "--recipient",
            "awskms:///alias/registry",
            "-o",
            s(&enc),
        ]);
    });
    assert_eq!(
        encrypting,
        ["kms Encrypt", "kms Encrypt"],
        "one per recipient"
    );

    // By ARN or key id the stanza is chosen locally: one Decrypt.
    for (i, key) in [
        format!("awskms:///{deploy}"),
        format!("awskms:///{}", arn_key_id(&deploy)),
    ]
    .iter()
    .enumerate()
    {
        let plain = dir.path().join(format!("plain-{i}"));
        let decrypting = moto.requests_of(|| {
            moto.ok(&["decrypt", s(&enc), "--key", key, "-o", s(&plain)]);
        });
        assert_eq!(decrypting, ["kms Decrypt"], "{key}");
        assert_eq!(files_of(&plain).len(), 500);
    }
    // An alias facing two awskms stanzas is resolved first by DescribeKey (FORMAT.md §8.7).
    let plain = dir.path().join("plain-alias");
    let decrypting = moto.requests_of(|| {
        moto.ok(&[
            "decrypt",
            s(&enc),
            "--key",
            "awskms:///alias/deploy",
            "-o",
            s(&plain),
        ]);
    });
    assert_eq!(decrypting, ["kms DescribeKey", "kms Decrypt"]);
    assert_eq!(files_of(&plain), files_of(&m));
    let _ = signer;
}

/// `model_signing verify key MODEL --signature SIG --public_key PUBLIC` (the reference implementation).
fn reference_verify(model: &Path, sig: &Path, public: &Path) -> Output {
    Command::new(model_signing())
        .args([
            "verify",
            "key",
            s(model),
            "--signature",
            s(sig),
            "--public_key",
            s(public),
        ])
        .output()
        .unwrap()
}
