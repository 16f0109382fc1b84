//! `Debug` (and error) output of the core types that hold or reach a secret shows which key it is,
//! never the secret: file signers (EC scalar), every recipient and identity behind `dyn Recipient` / `dyn Identity` — a KEK, an
//! X25519 and an RSA private key, a PKCS#11 token key (its PIN) and an AWS KMS key (the SDK's
//! environment credentials) — and the errors of a KMS request that failed (with a data key in
//! hand) — and, with the `storage` feature, a model listed in S3 and an S3 error, whose
//! credentials are the same process-wide AWS identity as KMS's. `DataKey`, `FileKeys` and the
//! concrete wrappers are covered in `seal.rs`.
//!
//! One test in its own binary: it sets AWS environment variables, which no other test may read
//! concurrently.

mod softhsm;

use base64::Engine as _;
use modelseal::internals::keys::file::rsa::RsaOaepIdentity;
use modelseal::internals::keys::{
    self, DataKey, KeyAlgorithm, KeyKind, KeyOptions, KeyRef, WrapContext,
};
use modelseal::internals::keys::{open_identity, open_recipient};
use modelseal::internals::rng::OsEntropy;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const AWS_SECRET: &str = "hYg1eNe/S3cretAccessKey+0123456789abcdefXY";
const AWS_TOKEN: &str =
    "FwoGZXIvYXdzEHygieneSessionToken0123456789/abcdefghijklmnopqrstuvwxyz+ABCDEFG";
const DEK: [u8; 32] = [0xa7; 32];

/// The ways a secret could be spelled in text.
fn forms(secret: &[u8]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        String::from_utf8_lossy(secret).into_owned(),
        hex::encode(secret),
        hex::encode_upper(secret),
        b64.encode(secret),
        b64.encode(secret).trim_end_matches('=').to_owned(),
        format!("{secret:?}"),
    ]
}

/// Asserts that no form of any of `secrets` occurs in `text` (what `what` printed).
fn assert_clean(what: &str, text: &str, secrets: &[(&str, Vec<u8>)]) {
    for (name, secret) in secrets {
        for form in forms(secret) {
            if form.len() >= 8 {
                assert!(!text.contains(&form), "{what} shows the {name}: {text}");
            }
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The project venv's Python (scripts/setup.sh), or `MODELSEAL_PYTHON`.
fn python() -> PathBuf {
    std::env::var_os("MODELSEAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"))
}

/// moto's KMS (scripts/moto_kms.py) on a free port of 127.0.0.1, so that the KMS errors checked
/// are real answers (AccessDeniedException, NotFoundException), with bodies the SDK parsed; killed
/// when dropped (it also exits when our stdin pipe closes).
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start(dir: &Path) -> Moto {
        let log = dir.join("moto.err");
        let mut child = Command::new(python())
            .arg(repo().join("scripts/moto_kms.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start scripts/moto_kms.py with the project venv's python (scripts/setup.sh)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("moto_kms.py did not report its port: {line:?}\n{err}")
            });
        Moto { child, port }
    }

    /// `http://127.0.0.1:PORT`.
    #[cfg(feature = "storage")]
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `scripts/storage_admin.py s3 ENDPOINT ARGS…` (boto3): buckets and objects.
    #[cfg(feature = "storage")]
    fn s3(&self, args: &[&str]) {
        let out = Command::new(python())
            .arg(repo().join("scripts/storage_admin.py"))
            .args(["s3", &self.endpoint()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "storage_admin.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `awskms://127.0.0.1:PORT/<key>`.
    fn uri(&self, key: &str) -> String {
        format!("awskms://127.0.0.1:{}/{key}", self.port)
    }

    /// Creates a `SYMMETRIC_DEFAULT` key named `alias` (tests/kms/kms_admin.py, boto3).
    fn create_key(&self, alias: &str) {
        let out = Command::new(python())
            .arg(repo().join("tests/kms/kms_admin.py"))
            .arg(format!("http://127.0.0.1:{}", self.port))
            .args(["create", "SYMMETRIC_DEFAULT", alias])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kms_admin.py create {alias}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pem_body(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn debug_and_errors_of_secret_holding_types_show_no_secret() {
    // The SDK's environment credential chain, and nothing else it could read.
    for name in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let nothing = dir.path().join("no-such-aws-file");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAHYGIENE0TEST0001");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", AWS_SECRET);
    std::env::set_var("AWS_SESSION_TOKEN", AWS_TOKEN);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", &nothing);
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &nothing);

    let mut secrets: Vec<(&str, Vec<u8>)> = vec![
        ("AWS secret access key", AWS_SECRET.as_bytes().to_vec()),
        ("AWS session token", AWS_TOKEN.as_bytes().to_vec()),
        ("data key", DEK.to_vec()),
    ];
    let mut shown: Vec<(String, String)> = Vec::new();

    // A file signer: its EC scalar and PEM body.
    let signing = dir.path().join("sign.pem");
    keys::file::generate_signing_key(KeyAlgorithm::EcP256, &signing, None, false).unwrap();
    let scalar = {
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = std::fs::read_to_string(&signing).unwrap();
        p256::SecretKey::from_pkcs8_pem(&pem)
            .unwrap()
            .to_bytes()
            .to_vec()
    };
    secrets.push(("EC scalar", scalar));
    secrets.push(("signing key PEM", pem_body(&signing).into_bytes()));
    let signer = keys::open_signer(&KeyRef::File(signing.clone()), &KeyOptions::default()).unwrap();
    shown.push(("file signer".into(), format!("{signer:?}")));

    // Recipients from key files: KEK, X25519, RSA (also as the concrete RSA type).
    for (kind, name) in [
        (KeyKind::Aes256Kek, "kek"),
        (KeyKind::X25519, "x25519"),
        (KeyKind::Rsa3072, "rsa"),
    ] {
        let path = dir.path().join(name);
        keys::file::generate(kind, &path, None, false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        if kind == KeyKind::Aes256Kek {
            secrets.push(("KEK", hex::decode(text.trim()).unwrap()));
        } else {
            secrets.push(("private key PEM", pem_body(&path).into_bytes()));
            let der = base64::engine::general_purpose::STANDARD
                .decode(pem_body(&path))
                .unwrap();
            secrets.push(("private key DER tail", der[der.len() - 32..].to_vec()));
            if kind == KeyKind::Rsa3072 {
                use rsa::pkcs8::DecodePrivateKey as _;
                use rsa::traits::PrivateKeyParts as _;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap();
                secrets.push(("RSA d", key.d().to_bytes_be()));
                let concrete = RsaOaepIdentity::from_pkcs8_der(&der, &path).unwrap();
                shown.push(("RsaOaepIdentity".into(), format!("{concrete:?}")));
            }
        }
        let key = KeyRef::File(path.clone());
        let wrapper = open_recipient(&key, &KeyOptions::default()).unwrap();
        shown.push((format!("{name} recipient"), format!("{wrapper:?}")));
        let identity = open_identity(&key, &KeyOptions::default()).unwrap();
        shown.push((format!("{name} identity"), format!("{identity:?}")));
    }

    // A PKCS#11 token: the signer and a wrapping key; the PIN must not show.
    let hsm = softhsm::shared();
    secrets.push(("PIN", hsm.pin().into_bytes()));
    let uri: KeyRef = hsm.uri("ec-p256").parse().unwrap();
    let token_signer = keys::open_signer(&uri, &KeyOptions::default()).unwrap();
    shown.push(("PKCS#11 signer".into(), format!("{token_signer:?}")));
    let token_ref: KeyRef = hsm.uri("aes-wrap").parse().unwrap();
    let token_key = open_recipient(&token_ref, &KeyOptions::default()).unwrap();
    shown.push(("PKCS#11 recipient".into(), format!("{token_key:?}")));
    let token_identity = open_identity(&token_ref, &KeyOptions::default()).unwrap();
    shown.push(("PKCS#11 identity".into(), format!("{token_identity:?}")));
    let dek = DataKey::from_bytes(DEK);
    let ctx = WrapContext {
        body_digest: [3; 32],
        model_name: "m",
    };
    let stanza = token_key.wrap(&dek, &ctx, &mut OsEntropy).unwrap();
    let back = token_identity.unwrap(&stanza, &ctx).unwrap();
    assert_eq!(back.expose(), &DEK);
    shown.push(("unwrapped data key".into(), format!("{back:?}")));

    // AWS KMS keys in moto's emulator: the wrapper, and the errors of requests KMS refused with a
    // real answer — NotFoundException (a wrap under a key that does not exist) and
    // AccessDeniedException (a stanza of key A unwrapped with key B: Decrypt names B, the
    // ciphertext A) — while the SDK holds the credentials and the unwrap a data key. (The
    // workspace build, as scripts/test.sh runs it, has the awskms feature; without it the
    // reference is refused, and that message is checked instead.)
    let moto = Moto::start(dir.path());
    let kms_key = |alias: &str| -> KeyRef { moto.uri(alias).parse().unwrap() };
    match open_recipient(&kms_key("alias/hygiene"), &KeyOptions::default()) {
        Ok(missing) => {
            shown.push(("KMS recipient".into(), format!("{missing:?}")));
            let err = missing.wrap(&dek, &ctx, &mut OsEntropy).unwrap_err();
            assert!(err.to_string().contains("NotFoundException"), "{err}");
            shown.push(("KMS error".into(), err.to_string()));
            shown.push(("KMS error Debug".into(), format!("{err:?}")));
            moto.create_key("alias/hygiene-a");
            moto.create_key("alias/hygiene-b");
            let a = open_identity(&kms_key("alias/hygiene-a"), &KeyOptions::default()).unwrap();
            let b = open_identity(&kms_key("alias/hygiene-b"), &KeyOptions::default()).unwrap();
            let a_recipient =
                open_recipient(&kms_key("alias/hygiene-a"), &KeyOptions::default()).unwrap();
            let stanza = a_recipient.wrap(&dek, &ctx, &mut OsEntropy).unwrap();
            assert_eq!(a.unwrap(&stanza, &ctx).unwrap().expose(), &DEK);
            let denied = b.unwrap(&stanza, &ctx).unwrap_err();
            assert!(
                denied.to_string().contains("AccessDeniedException"),
                "{denied}"
            );
            shown.push(("KMS denied".into(), denied.to_string()));
            shown.push(("KMS denied Debug".into(), format!("{denied:?}")));
        }
        Err(err) => {
            if cfg!(feature = "awskms") {
                panic!("a build with awskms refused the KMS reference: {err}");
            }
            shown.push(("KMS recipient".into(), format!("awskms {err}")));
            shown.push(("KMS error".into(), err.to_string()));
        }
    }

    // Models in S3 (the same moto serves S3): a listed model (its reader and S3 client, whose
    // credentials are the process's one AWS identity, `aws`) and the error of a missing bucket,
    // made while that identity holds the credentials.
    #[cfg(feature = "storage")]
    {
        use modelseal::internals::location::{self, Location};
        use modelseal::internals::tree::WalkOptions;
        std::env::set_var("AWS_ENDPOINT_URL_S3", moto.endpoint());
        let weights = dir.path().join("w.bin");
        std::fs::write(&weights, [5u8; 1000]).unwrap();
        moto.s3(&["mkbucket", "hygiene"]);
        moto.s3(&["put", "hygiene", "m/w.bin", weights.to_str().unwrap()]);
        let Ok(Location::Object(url)) = Location::parse("s3://hygiene/m") else {
            panic!("s3://hygiene/m is a location");
        };
        let listed = location::list_objects(&url, &WalkOptions::default()).unwrap();
        assert_eq!(listed.tree.files.len(), 1);
        shown.push(("S3 listed model".into(), format!("{listed:?}")));
        let missing = location::walk(Path::new("s3://no-such-bucket/m"), &WalkOptions::default())
            .unwrap_err();
        shown.push(("S3 error".into(), missing.to_string()));
        shown.push(("S3 error Debug".into(), format!("{missing:?}")));
    }

    for (what, text) in &shown {
        assert_clean(what, text, &secrets);
    }
    // They say which key they are.
    let find = |what: &str| &shown.iter().find(|(w, _)| w == what).unwrap().1;
    assert!(
        find("file signer").contains("sign.pem"),
        "{}",
        find("file signer")
    );
    assert!(find("PKCS#11 recipient").starts_with("Recipient(pkcs11-aes "));
    assert!(find("PKCS#11 identity").starts_with("Identity(pkcs11-aes "));
    assert!(
        find("KMS recipient").contains("awskms"),
        "{}",
        find("KMS recipient")
    );
    assert!(
        find("KMS error").contains("alias/hygiene"),
        "{}",
        find("KMS error")
    );
}
