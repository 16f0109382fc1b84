//! Integration tests of `keys` and `trust` against independent tools: the key and certificate
//! fixtures in test-vectors/pki/ (made by the `openssl` CLI and Python `cryptography`, see its
//! README), Python `cryptography` run live for PEM/hint and signature cross-checks both ways, and
//! model-signing 1.1.1's own certificate verdicts recorded in test-vectors/pki/reference-verdicts.json.
//!
//! The Python interpreter is `$MODELSEAL_PYTHON`, else `<repo>/.venv/bin/python` (made by
//! scripts/setup.sh); a missing one fails these tests with a message saying so.

use modelseal::internals::keys::{
    self, KeyAlgorithm, KeyError, KeyOptions, KeyRef, PublicKey, Signer,
};
use modelseal::internals::oms::VerificationMaterial;
use modelseal::trust::{Trust, TrustError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const PAE: &[u8] = b"DSSEv1 28 application/vnd.in-toto+json 17 {\"_type\":\"test\"}";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn pki(rel: &str) -> PathBuf {
    repo().join("test-vectors/pki").join(rel)
}

/// Copies a fixture into `dir` with `mode` (git does not keep 0600).
fn copy_with_mode(dir: &Path, rel: &str, mode: u32) -> PathBuf {
    let dest = dir.join(Path::new(rel).file_name().unwrap());
    std::fs::copy(pki(rel), &dest).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
    dest
}

fn secret(dir: &Path, rel: &str) -> PathBuf {
    copy_with_mode(dir, rel, 0o600)
}

fn file_ref(path: &Path) -> KeyRef {
    KeyRef::File(path.to_path_buf())
}

fn python() -> PathBuf {
    let path = std::env::var_os("MODELSEAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python for cross-checks not found at {}: run scripts/setup.sh or set MODELSEAL_PYTHON to a \
         python with `cryptography` installed",
        path.display()
    );
    path
}

/// Runs `script` with `args` in the test Python and returns its stdout.
fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PY_HINT: &str = r#"
import hashlib, sys
from cryptography.hazmat.primitives import serialization as s
for path in sys.argv[1:]:
    key = s.load_pem_public_key(open(path, "rb").read())
    pem = key.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
    print(hashlib.sha256(pem).hexdigest())
"#;

#[test]
fn pem_and_hint_match_openssl_and_python_cryptography() {
    let files = [
        "keys/p256.pub.pem",
        "keys/p384.pub.pem",
        "keys/p521.pub.pem",
        "keys/p384-sec1.pub.pem",
        "keys/ed25519-pkcs8v1.pub.pem",
    ];
    let paths: Vec<String> = files.iter().map(|f| pki(f).display().to_string()).collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let hints = run_python(PY_HINT, &args);
    for (file, python_hint) in files.iter().zip(hints.lines()) {
        let key = keys::file::load_public_key(&pki(file)).unwrap();
        // OpenSSL wrote these files: our PEM must be byte-identical.
        assert_eq!(
            key.to_pem(),
            std::fs::read_to_string(pki(file)).unwrap(),
            "{file}"
        );
        assert_eq!(key.hint(), python_hint, "{file}");
        assert_eq!(PublicKey::from_spki_der(&key.to_spki_der()).unwrap(), key);
    }
}

#[test]
fn private_keys_load_in_every_supported_format() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "keys/p256-pkcs8.pem",
            "keys/p256.pub.pem",
            KeyAlgorithm::EcP256,
        ),
        (
            "keys/p384-pkcs8.pem",
            "keys/p384.pub.pem",
            KeyAlgorithm::EcP384,
        ),
        (
            "keys/p521-pkcs8.pem",
            "keys/p521.pub.pem",
            KeyAlgorithm::EcP521,
        ),
        (
            "keys/p384-sec1.pem",
            "keys/p384-sec1.pub.pem",
            KeyAlgorithm::EcP384,
        ),
        (
            "keys/ed25519-pkcs8v1.pem",
            "keys/ed25519-pkcs8v1.pub.pem",
            KeyAlgorithm::Ed25519,
        ),
        (
            "keys/ed25519-pkcs8v2.pem",
            "keys/ed25519-pkcs8v2.pub.pem",
            KeyAlgorithm::Ed25519,
        ),
    ];
    for (private, public, algorithm) in cases {
        let path = secret(dir.path(), private);
        let expected = keys::file::load_public_key(&pki(public)).unwrap();
        let signer = keys::open_signer(&file_ref(&path), &KeyOptions::default()).unwrap();
        assert_eq!(signer.public_key(), &expected, "{private}");
        assert_eq!(signer.public_key().algorithm(), algorithm);
        assert_eq!(signer.key_id(), format!("file:{}", path.display()));
        assert!(signer.certificate_chain().is_empty());
        let sig = signer.sign(PAE).unwrap();
        expected.verify(PAE, &sig).unwrap();
        // The public half of a private key file, as a verifier would load it.
        assert_eq!(keys::file::load_public_key(&path).unwrap(), expected);
        assert_eq!(
            keys::public_key_of(&file_ref(&path), &KeyOptions::default()).unwrap(),
            expected
        );
    }
}

#[test]
fn encrypted_pkcs8_needs_the_right_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let expected = keys::file::load_public_key(&pki("keys/p256.pub.pem")).unwrap();
    let password = secret(dir.path(), "keys/password.txt");
    let wrong = secret(dir.path(), "keys/wrong-password.txt");
    for file in [
        "keys/p256-encrypted-pbkdf2.pem",
        "keys/p256-encrypted-scrypt.pem",
    ] {
        let key = file_ref(&secret(dir.path(), file));
        let good = KeyOptions {
            password: Some(keys::SecretRef::File(password.clone())),
            ..Default::default()
        };
        assert_eq!(
            keys::open_signer(&key, &good).unwrap().public_key(),
            &expected,
            "{file}"
        );
        assert_eq!(keys::public_key_of(&key, &good).unwrap(), expected);

        let bad = KeyOptions {
            password: Some(keys::SecretRef::File(wrong.clone())),
            ..Default::default()
        };
        let err = keys::open_signer(&key, &bad).unwrap_err();
        assert!(matches!(err, KeyError::Parse { .. }), "{err:?}");
        assert!(err.to_string().contains("wrong passphrase"), "{err}");

        let err = keys::open_signer(&key, &KeyOptions::default()).unwrap_err();
        assert!(err.to_string().contains("encrypted"), "{err}");
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn unsupported_encryptions_and_algorithms_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let password = secret(dir.path(), "keys/password.txt");
    let options = KeyOptions {
        password: Some(keys::SecretRef::File(password)),
        ..Default::default()
    };

    let sha1 = secret(dir.path(), "keys/p256-encrypted-sha1.pem");
    let err = keys::open_signer(&file_ref(&sha1), &options).unwrap_err();
    assert!(
        matches!(&err, KeyError::Unsupported(m) if m.contains("HMAC-SHA1") && m.contains("p256-encrypted-sha1.pem")),
        "{err}"
    );

    let legacy = secret(dir.path(), "keys/p256-legacy-encrypted.pem");
    let err = keys::open_signer(&file_ref(&legacy), &options).unwrap_err();
    assert!(
        err.to_string().contains("legacy OpenSSL-encrypted PEM"),
        "{err}"
    );

    for (file, what) in [
        ("keys/rsa-2048.pem", "RSA"),
        ("keys/secp256k1.pem", "secp256k1"),
        ("keys/rsa-2048.pub.pem", "RSA"),
        ("keys/secp256k1.pub.pem", "secp256k1"),
    ] {
        let path = secret(dir.path(), file);
        let err = keys::public_key_of(&file_ref(&path), &options).unwrap_err();
        match &err {
            KeyError::Unsupported(m) => {
                assert!(
                    m.contains(what) && m.contains(&path.display().to_string()),
                    "{m}"
                )
            }
            other => panic!("{file}: expected Unsupported, got {other:?}"),
        }
    }
    let err = keys::open_signer(
        &file_ref(&secret(dir.path(), "keys/rsa-2048.pem")),
        &options,
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::Unsupported(_)), "{err:?}");
}

#[test]
fn readable_secrets_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let key = copy_with_mode(dir.path(), "keys/p256-pkcs8.pem", 0o644);
    let err = keys::open_signer(&file_ref(&key), &KeyOptions::default()).unwrap_err();
    match &err {
        KeyError::InsecurePermissions { path, mode } => {
            assert_eq!(path, &key);
            assert_eq!(*mode, 0o644);
        }
        other => panic!("expected InsecurePermissions, got {other:?}"),
    }
    assert!(err.to_string().contains("chmod 600"));
    let allow = KeyOptions {
        allow_insecure_permissions: true,
        ..Default::default()
    };
    keys::open_signer(&file_ref(&key), &allow).unwrap();
    // A verifier reading the public half of a private key file is held to the same rule.
    assert!(matches!(
        keys::file::load_public_key(&key),
        Err(KeyError::InsecurePermissions { .. })
    ));
    // Public keys and certificates may be world-readable.
    keys::file::load_public_key(&copy_with_mode(dir.path(), "keys/p256.pub.pem", 0o644)).unwrap();

    let encrypted = secret(dir.path(), "keys/p256-encrypted-pbkdf2.pem");
    let password = copy_with_mode(dir.path(), "keys/password.txt", 0o640);
    let options = KeyOptions {
        password: Some(keys::SecretRef::File(password.clone())),
        ..Default::default()
    };
    let err = keys::open_signer(&file_ref(&encrypted), &options).unwrap_err();
    assert!(
        matches!(&err, KeyError::InsecurePermissions { path, .. } if path == &password),
        "{err:?}"
    );
    let options = KeyOptions {
        password: Some(keys::SecretRef::File(password)),
        allow_insecure_permissions: true,
    };
    keys::open_signer(&file_ref(&encrypted), &options).unwrap();
}

#[test]
fn debug_output_holds_no_key_material() {
    use base64::Engine as _;
    use p256::pkcs8::DecodePrivateKey as _;
    let dir = tempfile::tempdir().unwrap();
    let path = secret(dir.path(), "keys/p256-pkcs8.pem");
    let pem = std::fs::read_to_string(&path).unwrap();
    let scalar = p256::SecretKey::from_pkcs8_pem(&pem).unwrap().to_bytes();
    let signer = keys::open_signer(&file_ref(&path), &KeyOptions::default()).unwrap();
    let leaf_dir = tempfile::tempdir().unwrap();
    let cert_signer = keys::open_certificate_signer(
        &file_ref(&secret(leaf_dir.path(), "certs/leaf-digital-signature.key")),
        &KeyOptions::default(),
        &pki("certs/leaf-digital-signature.pem"),
        &[pki("certs/intermediate-ca.pem")],
    )
    .unwrap();
    let options = KeyOptions {
        password: Some(keys::SecretRef::File(path.clone())),
        allow_insecure_permissions: false,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    for debug in [
        format!("{signer:?}"),
        format!("{:#?}", signer),
        format!("{options:?}"),
        format!("{cert_signer:?}"),
    ] {
        assert!(!debug.contains(&hex::encode(scalar)), "{debug}");
        assert!(
            !debug.to_uppercase().contains(&hex::encode_upper(scalar)),
            "{debug}"
        );
        assert!(!debug.contains(&b64.encode(scalar)), "{debug}");
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!debug.contains(line), "{debug}");
        }
    }
    assert!(format!("{signer:?}").contains("ec-p256"));
}

const PY_VERIFY: &str = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
message = bytes.fromhex(sys.argv[1])
for arg in sys.argv[2:]:
    path, sig = arg.split("=")
    key = s.load_pem_public_key(open(path, "rb").read())
    digest = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]
    key.verify(bytes.fromhex(sig), message, ec.ECDSA(digest))
    print("ok")
"#;

const PY_SIGN: &str = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
message = bytes.fromhex(sys.argv[1])
for path in sys.argv[2:]:
    key = s.load_pem_private_key(open(path, "rb").read(), None)
    digest = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]
    print(key.sign(message, ec.ECDSA(digest)).hex())
"#;

const EC_KEYS: [(&str, &str); 3] = [
    ("keys/p256-pkcs8.pem", "keys/p256.pub.pem"),
    ("keys/p384-pkcs8.pem", "keys/p384.pub.pem"),
    ("keys/p521-pkcs8.pem", "keys/p521.pub.pem"),
];

#[test]
fn rust_signatures_verify_in_python_cryptography() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![hex::encode(PAE)];
    for (private, public) in EC_KEYS {
        let signer = keys::open_signer(
            &file_ref(&secret(dir.path(), private)),
            &KeyOptions::default(),
        )
        .unwrap();
        let sig = signer.sign(PAE).unwrap();
        args.push(format!("{}={}", pki(public).display(), hex::encode(sig)));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run_python(PY_VERIFY, &args), "ok\nok\nok\n");
}

#[test]
fn python_cryptography_signatures_verify_in_rust() {
    let paths: Vec<String> = EC_KEYS
        .iter()
        .map(|(p, _)| pki(p).display().to_string())
        .collect();
    let message = hex::encode(PAE);
    let mut args = vec![message.as_str()];
    args.extend(paths.iter().map(String::as_str));
    let sigs = run_python(PY_SIGN, &args);
    for ((_, public), sig) in EC_KEYS.iter().zip(sigs.lines()) {
        let key = keys::file::load_public_key(&pki(public)).unwrap();
        let sig = hex::decode(sig).unwrap();
        key.verify(PAE, &sig).unwrap();
        assert!(matches!(
            key.verify(b"other message", &sig),
            Err(KeyError::BadSignature)
        ));
    }
}

/// Re-encodes a DER ECDSA P-256 signature (r, s) as (r, n − s): equally valid, "high-S" if s was low.
fn flip_s_p256(der: &[u8]) -> Vec<u8> {
    let sig = p256::ecdsa::Signature::from_der(der).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    flipped.to_der().as_bytes().to_vec()
}

#[test]
fn high_s_signatures_are_accepted_like_openssl_does() {
    let dir = tempfile::tempdir().unwrap();
    let signer = keys::open_signer(
        &file_ref(&secret(dir.path(), "keys/p256-pkcs8.pem")),
        &KeyOptions::default(),
    )
    .unwrap();
    let sig = signer.sign(PAE).unwrap();
    let other = flip_s_p256(&sig);
    let (low, high) = if p256::ecdsa::Signature::from_der(&sig)
        .unwrap()
        .normalize_s()
        .is_none()
    {
        (sig, other)
    } else {
        (other, sig)
    };
    let key = keys::file::load_public_key(&pki("keys/p256.pub.pem")).unwrap();
    key.verify(PAE, &low).unwrap();
    key.verify(PAE, &high).unwrap();
    // OpenSSL, under Python cryptography and so model-signing 1.1.1, accepts both as well.
    let public = pki("keys/p256.pub.pem").display().to_string();
    let args = [
        hex::encode(PAE),
        format!("{public}={}", hex::encode(&low)),
        format!("{public}={}", hex::encode(&high)),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run_python(PY_VERIFY, &args), "ok\nok\n");
}

#[test]
fn malformed_signatures_are_bad_signatures() {
    let key = keys::file::load_public_key(&pki("keys/p256.pub.pem")).unwrap();
    for sig in [&b""[..], b"\x30\x00", &[0u8; 64], &[0x30; 72]] {
        assert!(matches!(key.verify(PAE, sig), Err(KeyError::BadSignature)));
    }
    let ed = keys::file::load_public_key(&pki("keys/ed25519-pkcs8v1.pub.pem")).unwrap();
    assert!(matches!(
        ed.verify(PAE, &[0u8; 63]),
        Err(KeyError::BadSignature)
    ));
}

const PY_LOAD_PRIVATE: &str = r#"
import sys
from cryptography.hazmat.primitives import serialization as s
key = s.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
print(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(), end="")
"#;

#[test]
fn generated_keys_are_private_atomic_and_readable_by_python() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [
        KeyAlgorithm::EcP256,
        KeyAlgorithm::EcP384,
        KeyAlgorithm::EcP521,
        KeyAlgorithm::Ed25519,
    ] {
        let private = dir.path().join(format!("{}.pem", algorithm.name()));
        let public = dir.path().join(format!("{}.pub.pem", algorithm.name()));
        let key =
            keys::file::generate_signing_key(algorithm, &private, Some(&public), false).unwrap();
        assert_eq!(key.algorithm(), algorithm);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&private), 0o600);
        assert_eq!(mode(&public), 0o644);
        assert_eq!(std::fs::read_to_string(&public).unwrap(), key.to_pem());
        assert!(std::fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        // Python cryptography (OpenSSL) reads the private key and derives the same public PEM.
        let private_str = private.display().to_string();
        assert_eq!(run_python(PY_LOAD_PRIVATE, &[&private_str]), key.to_pem());
        let signer = keys::open_signer(&file_ref(&private), &KeyOptions::default()).unwrap();
        key.verify(PAE, &signer.sign(PAE).unwrap()).unwrap();

        // No overwrite without force, and then nothing is written at all.
        let before = std::fs::read(&private).unwrap();
        let err = keys::file::generate_signing_key(algorithm, &private, Some(&public), false)
            .unwrap_err();
        assert!(
            matches!(&err, KeyError::Exists { path } if path == &private),
            "{err:?}"
        );
        let fresh = dir.path().join(format!("{}-new.pem", algorithm.name()));
        let err =
            keys::file::generate_signing_key(algorithm, &fresh, Some(&public), false).unwrap_err();
        assert!(
            matches!(&err, KeyError::Exists { path } if path == &public),
            "{err:?}"
        );
        assert!(!fresh.exists());
        assert_eq!(std::fs::read(&private).unwrap(), before);
        let replaced =
            keys::file::generate_signing_key(algorithm, &private, Some(&public), true).unwrap();
        assert_ne!(replaced, key);
        assert_eq!(keys::file::load_public_key(&public).unwrap(), replaced);
    }
    let only_private = dir.path().join("solo.pem");
    keys::file::generate_signing_key(KeyAlgorithm::EcP256, &only_private, None, false).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        4 * 2 + 1,
        "no temporary files left"
    );
}

#[test]
fn signing_needs_a_private_key() {
    let err = keys::open_signer(&file_ref(&pki("keys/p256.pub.pem")), &KeyOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("signing needs the private key"),
        "{err}"
    );
    let err = keys::open_signer(&file_ref(&pki("README.md")), &KeyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no PEM block found"), "{err}");
    let err =
        keys::open_signer(&file_ref(&pki("keys/missing.pem")), &KeyOptions::default()).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }), "{err:?}");
}

#[test]
fn a_certificate_file_gives_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let from_cert = keys::file::load_public_key(&pki("certs/leaf-digital-signature.pem")).unwrap();
    let key = secret(dir.path(), "certs/leaf-digital-signature.key");
    assert_eq!(
        keys::public_key_of(&file_ref(&key), &KeyOptions::default()).unwrap(),
        from_cert
    );
}

// ---------- certificate signers ----------

fn leaf_signer(dir: &Path, leaf: &str, chain: &[&str]) -> Box<dyn Signer> {
    let key = secret(dir, &format!("certs/{leaf}.key"));
    let chain: Vec<PathBuf> = chain
        .iter()
        .map(|c| pki(&format!("certs/{c}.pem")))
        .collect();
    keys::open_certificate_signer(
        &file_ref(&key),
        &KeyOptions::default(),
        &pki(&format!("certs/{leaf}.pem")),
        &chain,
    )
    .unwrap()
}

fn cert_der(name: &str) -> Vec<u8> {
    keys::read_certificate_file(&pki(&format!("certs/{name}.pem")))
        .unwrap()
        .remove(0)
}

#[test]
fn certificate_signer_embeds_leaf_then_chain() {
    let dir = tempfile::tempdir().unwrap();
    let signer = leaf_signer(
        dir.path(),
        "leaf-digital-signature",
        &["intermediate-ca", "two-roots"],
    );
    let chain = signer.certificate_chain();
    assert_eq!(chain.len(), 4);
    assert_eq!(chain[0], cert_der("leaf-digital-signature"));
    assert_eq!(chain[1], cert_der("intermediate-ca"));
    assert_eq!(chain[2], cert_der("untrusted-root-ca"));
    assert_eq!(chain[3], cert_der("root-ca"));
}

#[test]
fn certificate_signer_refuses_a_foreign_leaf_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let other_key = file_ref(&secret(dir.path(), "keys/p256-pkcs8.pem"));
    let leaf = pki("certs/leaf-digital-signature.pem");
    let err =
        keys::open_certificate_signer(&other_key, &KeyOptions::default(), &leaf, &[]).unwrap_err();
    assert!(
        matches!(&err, KeyError::CertificateKeyMismatch { certificate, .. } if certificate == &leaf),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not match the private key"));

    let key = file_ref(&secret(dir.path(), "certs/leaf-digital-signature.key"));
    let err = keys::open_certificate_signer(
        &key,
        &KeyOptions::default(),
        &pki("certs/two-roots.pem"),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("exactly one"), "{err}");
    let err = keys::open_certificate_signer(
        &key,
        &KeyOptions::default(),
        &leaf,
        &[pki("keys/p256.pub.pem")],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("p256.pub.pem: no CERTIFICATE"),
        "{err}"
    );
}

// ---------- trust: key method ----------

fn key_trust(public: &str) -> Trust {
    Trust::PublicKey(keys::file::load_public_key(&pki(public)).unwrap())
}

fn p256_signature() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let signer = keys::open_signer(
        &file_ref(&secret(dir.path(), "keys/p256-pkcs8.pem")),
        &KeyOptions::default(),
    )
    .unwrap();
    signer.sign(PAE).unwrap()
}

#[test]
fn key_trust_checks_hint_then_signature() {
    let trust = key_trust("keys/p256.pub.pem");
    let key = keys::file::load_public_key(&pki("keys/p256.pub.pem")).unwrap();
    let sig = p256_signature();

    let material = VerificationMaterial::PublicKey {
        hint: Some(key.hint()),
    };
    let who = trust.check(&material, PAE, &sig).unwrap();
    assert_eq!(who.method, "key");
    assert_eq!(who.algorithm, KeyAlgorithm::EcP256);
    assert_eq!(who.key_hint, key.hint());
    assert_eq!(who.certificate_subject, None);

    trust
        .check(&VerificationMaterial::PublicKey { hint: None }, PAE, &sig)
        .unwrap();
    trust
        .check(
            &VerificationMaterial::LegacyPublicKey {
                raw_bytes: b"anything".to_vec(),
            },
            PAE,
            &sig,
        )
        .unwrap();

    let wrong_hint = key_trust("keys/p384.pub.pem")
        .check(&material, PAE, &sig)
        .unwrap_err();
    match wrong_hint {
        TrustError::KeyHintMismatch { expected, found } => {
            assert_eq!(found, key.hint());
            assert_eq!(
                expected,
                keys::file::load_public_key(&pki("keys/p384.pub.pem"))
                    .unwrap()
                    .hint()
            );
        }
        other => panic!("expected KeyHintMismatch, got {other:?}"),
    }
    // Without a hint the wrong key fails on the signature.
    let err = key_trust("keys/p384.pub.pem").check(
        &VerificationMaterial::PublicKey { hint: None },
        PAE,
        &sig,
    );
    assert!(matches!(err, Err(TrustError::BadSignature)), "{err:?}");
    let err = trust.check(&material, b"DSSEv1 tampered", &sig);
    assert!(matches!(err, Err(TrustError::BadSignature)), "{err:?}");
}

#[test]
fn methods_must_match() {
    let sig = p256_signature();
    let certs = VerificationMaterial::Certificates(vec![cert_der("leaf-digital-signature")]);
    let err = key_trust("keys/p256.pub.pem")
        .check(&certs, PAE, &sig)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::MethodMismatch {
                expected: "public key",
                found: "certificate"
            }
        ),
        "{err:?}"
    );

    let roots = Trust::load_certificate_roots(&[pki("certs/root-ca.pem")]).unwrap();
    for material in [
        VerificationMaterial::PublicKey { hint: None },
        VerificationMaterial::LegacyPublicKey { raw_bytes: vec![1] },
    ] {
        let err = roots.check(&material, PAE, &sig).unwrap_err();
        assert!(
            matches!(
                err,
                TrustError::MethodMismatch {
                    found: "public key",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

// ---------- trust: certificate method ----------

#[test]
fn roots_load_from_pem_files_with_one_or_more_certificates() {
    let trust =
        Trust::load_certificate_roots(&[pki("certs/root-ca.pem"), pki("certs/two-roots.pem")])
            .unwrap();
    match trust {
        Trust::CertificateRoots(roots) => {
            assert_eq!(
                roots,
                vec![
                    cert_der("root-ca"),
                    cert_der("untrusted-root-ca"),
                    cert_der("root-ca")
                ]
            )
        }
        other => panic!("{other:?}"),
    }
    for bad in ["keys/p256.pub.pem", "certs/missing.pem"] {
        let err = Trust::load_certificate_roots(&[pki("certs/root-ca.pem"), pki(bad)]).unwrap_err();
        match &err {
            TrustError::Load { path, .. } => assert_eq!(path, &pki(bad)),
            other => panic!("{bad}: expected Load, got {other:?}"),
        }
    }
}

/// Our verdict on `leaf -> chain… -> trusted root-file`, signing with the leaf's key.
fn certificate_verdict(
    leaf: &str,
    chain: &[&str],
    root: &str,
) -> Result<modelseal::trust::SignerIdentity, TrustError> {
    let dir = tempfile::tempdir().unwrap();
    let signer = leaf_signer(dir.path(), leaf, chain);
    let sig = signer.sign(PAE).unwrap();
    let trust = Trust::load_certificate_roots(&[pki(&format!("certs/{root}.pem"))]).unwrap();
    trust.check(
        &VerificationMaterial::Certificates(signer.certificate_chain().to_vec()),
        PAE,
        &sig,
    )
}

/// Where modelseal's verdict deliberately differs from model-signing 1.1.1 (see trust/certificate.rs
/// and docs/oms-conformance.md): the EKU rule, and the validation time (now, not the leaf's
/// notBefore).
const KNOWN_DIFFERENCES: &[&str] = &[
    "leaf-server-auth -> intermediate-ca -> trusted root-ca",
    "leaf-expired -> intermediate-ca -> trusted root-ca",
    "leaf-before-ca -> intermediate-ca -> trusted root-ca",
];

#[test]
fn certificate_verdicts_match_model_signing_1_1_1() {
    let text = std::fs::read_to_string(pki("reference-verdicts.json")).unwrap();
    let verdicts: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(verdicts.len() >= 10);
    for (case, reference) in &verdicts {
        let parts: Vec<&str> = case.split(" -> ").collect();
        let (leaf, rest) = parts.split_first().unwrap();
        let (root, chain) = rest.split_last().unwrap();
        let root = root.strip_prefix("trusted ").unwrap();
        let ours = certificate_verdict(leaf, chain, root);
        let reference_accepts = reference.as_str().unwrap() == "accepted";
        if KNOWN_DIFFERENCES.contains(&case.as_str()) {
            assert_ne!(ours.is_ok(), reference_accepts, "{case}: {ours:?}");
            continue;
        }
        assert_eq!(
            ours.is_ok(),
            reference_accepts,
            "{case}: reference {reference}, ours {ours:?}"
        );
        if let Err(err) = ours {
            assert!(matches!(err, TrustError::Certificate(_)), "{case}: {err:?}");
        }
    }
}

#[test]
fn certificate_rejections_say_why() {
    let reason = |leaf, chain: &[&str], root| match certificate_verdict(leaf, chain, root) {
        Err(TrustError::Certificate(reason)) => reason,
        other => panic!("{leaf}: expected a certificate error, got {other:?}"),
    };
    let r = reason(
        "leaf-digital-signature",
        &["intermediate-ca"],
        "untrusted-root-ca",
    );
    assert!(
        r.contains("does not lead to a trusted root") && r.contains("UnknownIssuer"),
        "{r}"
    );
    let r = reason("leaf-key-agreement", &["intermediate-ca"], "root-ca");
    assert!(
        r.contains("lacks digitalSignature") && r.contains("lacks codeSigning"),
        "{r}"
    );
    let r = reason("leaf-server-auth", &["intermediate-ca"], "root-ca");
    assert!(r.contains("without codeSigning"), "{r}");
    let r = reason("leaf-expired", &["intermediate-ca"], "root-ca");
    assert!(
        r.contains("had expired at the validation time") && r.contains("2025-07-01"),
        "{r}"
    );
    let r = reason("leaf-after-root-expiry", &[], "short-lived-root-ca");
    assert!(r.contains("had expired") && r.contains("2025-03-01"), "{r}");
    let r = reason("leaf-digital-signature", &[], "intermediate-ca");
    assert!(r.contains("no trusted root"), "{r}");
}

#[test]
fn certificate_identity_names_the_leaf_like_python_cryptography() {
    const PY_SUBJECT: &str = r#"
import sys
from cryptography import x509
print(x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read()).subject.rfc4514_string())
"#;
    for (leaf, algorithm) in [
        ("leaf-digital-signature", KeyAlgorithm::EcP256),
        ("leaf-code-signing", KeyAlgorithm::EcP384),
        ("leaf-p521", KeyAlgorithm::EcP521),
    ] {
        let who = certificate_verdict(leaf, &["intermediate-ca"], "root-ca").unwrap();
        assert_eq!(who.method, "certificate");
        assert_eq!(who.algorithm, algorithm);
        let key = keys::file::load_public_key(&pki(&format!("certs/{leaf}.pem"))).unwrap();
        assert_eq!(who.key_hint, key.hint());
        let path = pki(&format!("certs/{leaf}.pem")).display().to_string();
        let subject = run_python(PY_SUBJECT, &[&path]);
        assert_eq!(
            who.certificate_subject.as_deref(),
            Some(subject.trim_end()),
            "{leaf}"
        );
    }
}

#[test]
fn certificate_trust_rejects_bad_signatures_and_empty_chains() {
    let dir = tempfile::tempdir().unwrap();
    let signer = leaf_signer(dir.path(), "leaf-digital-signature", &["intermediate-ca"]);
    let sig = signer.sign(PAE).unwrap();
    let trust = Trust::load_certificate_roots(&[pki("certs/root-ca.pem")]).unwrap();
    let material = VerificationMaterial::Certificates(signer.certificate_chain().to_vec());
    let err = trust.check(&material, b"DSSEv1 other", &sig).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature), "{err:?}");
    // A signature by another key under a valid chain.
    let err = trust.check(&material, PAE, &p256_signature()).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature), "{err:?}");
    let err = trust
        .check(&VerificationMaterial::Certificates(vec![]), PAE, &sig)
        .unwrap_err();
    assert!(
        matches!(&err, TrustError::Certificate(r) if r.contains("no certificate")),
        "{err:?}"
    );
    let err = trust
        .check(
            &VerificationMaterial::Certificates(vec![vec![0x30, 0x00]]),
            PAE,
            &sig,
        )
        .unwrap_err();
    assert!(
        matches!(&err, TrustError::Certificate(r) if r.contains("not valid X.509")),
        "{err:?}"
    );
    // A trusted intermediate serves as a link when the bundle omits it (OpenSSL's store does the same).
    let both = Trust::load_certificate_roots(&[
        pki("certs/root-ca.pem"),
        pki("certs/intermediate-ca.pem"),
    ])
    .unwrap();
    let leaf_only = VerificationMaterial::Certificates(vec![cert_der("leaf-digital-signature")]);
    both.check(&leaf_only, PAE, &sig).unwrap();
}
