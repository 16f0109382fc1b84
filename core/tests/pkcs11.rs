//! The PKCS#11 backend against a real SoftHSM2 token made by `scripts/softhsm-init.sh`: signing
//! (checked against the public key `pkcs11-tool` reads), wrapping to AES and RSA keys in the token,
//! the RFC 5649 known answer (Python `cryptography`), the independent decoder on `pkcs11-aes`
//! stanzas, and the error cases. (Call counts and the wrong PIN have their own test processes,
//! because the login and the counters are per process.)

mod softhsm;

use modelseal::internals::envelope::{self, DecryptOptions, EncryptOptions, SealError};
use modelseal::internals::keys::pkcs11::ErrorKind;
use modelseal::internals::keys::{self, KeyError, KeyOptions, KeyRef};
use modelseal::internals::rng::{Entropy, EntropyError};
use modelseal::keys::{DataKey, Identity, ParamValue, Recipient, Stanza, WrapContext};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use modelseal::trust::Trust;
use modelseal::verify::{verify_model, VerifyOptions};
use softhsm::shared;
use std::path::{Path, PathBuf};

fn key(uri: &str) -> KeyRef {
    uri.parse().unwrap()
}

fn model(dir: &Path, files: usize) -> PathBuf {
    let root = dir.join("model");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    for i in 0..files {
        let sub = if i % 2 == 0 { "" } else { "sub/" };
        std::fs::write(
            root.join(format!("{sub}f{i:04}.bin")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
    root
}

fn pkcs11_kind(err: KeyError) -> ErrorKind {
    match err {
        KeyError::Pkcs11(e) => e.kind,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

#[test]
fn sign_p256_and_p384_verify_and_tamper_fails() {
    let hsm = shared();
    let dir = tempfile::tempdir().unwrap();
    let root = model(dir.path(), 3);
    for (object, algorithm) in [("ec-p256", "ec-p256"), ("ec-p384", "ec-p384")] {
        let uri = key(&hsm.uri(object));
        let signer = keys::open_signer(&uri, &KeyOptions::default()).unwrap();
        assert_eq!(signer.public_key().algorithm().name(), algorithm);

        // The public key equals the one pkcs11-tool lists (CKA_EC_POINT and CKA_EC_PARAMS),
        // turned into PEM by Python `cryptography`.
        let from_tool = public_key_from_pkcs11_tool(hsm, object);
        assert_eq!(signer.public_key().to_pem(), from_tool);
        let from_tool = signer.public_key().clone();
        assert_eq!(
            keys::public_key_of(&uri, &KeyOptions::default()).unwrap(),
            from_tool
        );

        let sig = dir.path().join(format!("{object}.sig"));
        let options = SignOptions {
            signature: Some(sig.clone()),
            ..SignOptions::default()
        };
        let outcome = sign_model(&root, signer.as_ref(), &options, &NoProgress).unwrap();
        assert_eq!(outcome.key_hint, from_tool.hint());
        let trust = Trust::PublicKey(from_tool.clone());
        verify_model(&root, &sig, &trust, &VerifyOptions::default(), &NoProgress).unwrap();

        let victim = root.join("f0000.bin");
        let original = std::fs::read(&victim).unwrap();
        std::fs::write(&victim, b"tampered\n").unwrap();
        let err =
            verify_model(&root, &sig, &trust, &VerifyOptions::default(), &NoProgress).unwrap_err();
        assert!(err.class().is_failure(), "{err}");
        std::fs::write(&victim, original).unwrap();
    }
}

/// The public key `pkcs11-tool --list-objects` shows for `label`, as SPKI PEM from Python.
fn public_key_from_pkcs11_tool(hsm: &softhsm::SoftHsm, label: &str) -> String {
    let out = hsm.pkcs11_tool(&[
        "--token-label",
        &hsm.token,
        "--list-objects",
        "--type",
        "pubkey",
        "--label",
        label,
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // One block per object; pick the one labelled `label`.
    let block = text
        .split("Public Key Object")
        .find(|b| {
            b.lines()
                .any(|l| l.trim().strip_prefix("label:").map(str::trim) == Some(label))
        })
        .unwrap_or_else(|| panic!("{label} not listed: {text}"));
    let field = |name: &str| {
        block
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
            .trim()
            .to_string()
    };
    run_python(
        "import sys\nfrom cryptography.hazmat.primitives.asymmetric import ec\nfrom cryptography.hazmat.primitives import serialization as s\nparams, point = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])\ncurve = {bytes.fromhex('06082a8648ce3d030107'): ec.SECP256R1(), bytes.fromhex('06052b81040022'): ec.SECP384R1()}[params]\nassert point[0] == 4 and point[1] == len(point) - 2  # DER OCTET STRING\nkey = ec.EllipticCurvePublicKey.from_encoded_point(curve, point[2:])\nsys.stdout.write(key.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())",
        &[&field("EC_PARAMS:"), &field("EC_POINT:")],
    ) + "\n"
}

#[test]
fn signer_debug_and_key_id_show_the_uri_not_the_pin() {
    let hsm = shared();
    let signer = keys::open_signer(&key(&hsm.uri("ec-p256")), &KeyOptions::default()).unwrap();
    let debug = format!("{signer:?}");
    assert!(debug.starts_with("Signer(pkcs11:token=modelseal-test;object=ec-p256?module-path="));
    assert!(!debug.contains(&hsm.pin()));
    assert!(!signer.key_id().contains(&hsm.pin()));
}

/// Opens the recipient `reference` names, with the envelope's error (as the CLI reports it).
fn open_recipient(reference: &str) -> Result<Box<dyn Recipient>, SealError> {
    let key: KeyRef = reference.parse()?;
    Ok(keys::open_recipient(&key, &KeyOptions::default())?)
}

/// Opens the identity `reference` names, with the envelope's error (as the CLI reports it).
fn open_identity(reference: &str) -> Result<Box<dyn Identity>, SealError> {
    let key: KeyRef = reference.parse()?;
    Ok(keys::open_identity(&key, &KeyOptions::default())?)
}

/// Encrypts `model` to `recipients` and decrypts it with each of `identities`.
fn round_trip(model: &Path, recipients: &[String], identities: &[String]) -> Vec<Stanza> {
    let dir = tempfile::tempdir().unwrap();
    let wrappers: Vec<Box<dyn Recipient>> = recipients
        .iter()
        .map(|r| open_recipient(r).unwrap())
        .collect();
    let refs: Vec<&dyn Recipient> = wrappers.iter().map(|w| w.as_ref()).collect();
    let enc = dir.path().join("enc");
    let plain = envelope::plaintext_from_path(model).unwrap();
    envelope::encrypt(&plain, &refs, &enc, &EncryptOptions::default()).unwrap();
    for (i, identity) in identities.iter().enumerate() {
        let id = open_identity(identity).unwrap();
        let out = dir.path().join(format!("dec{i}"));
        envelope::decrypt(&enc, id.as_ref(), &out, &DecryptOptions::default()).unwrap();
        for entry in std::fs::read_dir(model).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                assert_eq!(
                    std::fs::read(entry.path()).unwrap(),
                    std::fs::read(out.join(entry.file_name())).unwrap()
                );
            }
        }
    }
    let header = envelope::inspect_encrypted(&enc).unwrap();
    header
        .recipients
        .iter()
        .map(|r| Stanza {
            stanza_type: r.stanza_type.clone(),
            key_id: r.key_id.clone(),
            wrapped: Vec::new(),
            params: Default::default(),
        })
        .collect()
}

#[test]
fn encrypt_to_hsm_aes_and_rsa_keys_and_decrypt_in_the_token() {
    let hsm = shared();
    let dir = tempfile::tempdir().unwrap();
    let root = model(dir.path(), 6);
    let aes = hsm.uri("aes-wrap");
    let rsa = hsm.uri("rsa-3072");
    let kwp = format!("{}&x-wrap=aes-kwp", hsm.uri("aes-extractable"));
    let stanzas = round_trip(
        &root,
        &[aes.clone(), rsa.clone(), kwp.clone()],
        &[aes, rsa, kwp],
    );
    let kinds: Vec<(&str, &str)> = stanzas
        .iter()
        .map(|s| (s.stanza_type.as_str(), s.key_id.as_str()))
        .collect();
    assert_eq!(kinds[0], ("pkcs11-aes", "03"));
    assert_eq!(kinds[1].0, "rsa-oaep");
    assert_eq!(kinds[2], ("pkcs11-aes", "06"));
}

#[test]
fn stanzas_have_the_registered_shapes() {
    let hsm = shared();
    let ctx = WrapContext {
        body_digest: [7; 32],
        model_name: "m",
    };
    let dek = DataKey::from_bytes([0x42; 32]);
    let gcm = open_recipient(&hsm.uri("aes-wrap")).unwrap();
    let gcm_identity = open_identity(&hsm.uri("aes-wrap")).unwrap();
    let s = gcm
        .wrap(&dek, &ctx, &mut modelseal::internals::rng::OsEntropy)
        .unwrap();
    assert_eq!(s.wrapped.len(), 48);
    assert_eq!(s.params.get(&1), Some(&ParamValue::Text("aes-gcm".into())));
    assert!(matches!(s.params.get(&2), Some(ParamValue::Bytes(iv)) if iv.len() == 12));
    assert_eq!(
        gcm_identity.unwrap(&s, &ctx).unwrap().expose(),
        dek.expose()
    );
    // GCM binds the stanza context: another body does not unwrap (exit 1 class).
    let other = WrapContext {
        body_digest: [8; 32],
        model_name: "m",
    };
    let e = SealError::from(gcm_identity.unwrap(&s, &other).unwrap_err());
    assert_eq!(e.code(), "unwrap", "{e}");
    let mut bad = s.clone();
    bad.wrapped[0] ^= 1;
    let e = SealError::from(gcm_identity.unwrap(&bad, &ctx).unwrap_err());
    assert_eq!(e.code(), "unwrap");

    // SoftHSM2 2.6 decrypts only SHA-1 OAEP: the wrap records sha1 (§8.5).
    let rsa = open_recipient(&hsm.uri("rsa-3072")).unwrap();
    let rsa_identity = open_identity(&hsm.uri("rsa-3072")).unwrap();
    let s = rsa
        .wrap(&dek, &ctx, &mut modelseal::internals::rng::OsEntropy)
        .unwrap();
    assert_eq!(s.params.get(&1), Some(&ParamValue::Text("sha1".into())));
    assert_eq!(s.wrapped.len(), 384);
    assert_eq!(
        rsa_identity.unwrap(&s, &ctx).unwrap().expose(),
        dek.expose()
    );
}

/// A fixed-output entropy source for known-answer wraps.
struct Fixed(u8);
impl Entropy for Fixed {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        buf.fill(self.0);
        Ok(())
    }
}

fn python() -> String {
    std::env::var("MODELSEAL_PYTHON").unwrap_or_else(|_| {
        softhsm::repo_root()
            .join(".venv/bin/python")
            .to_string_lossy()
            .into_owned()
    })
}

fn run_python(code: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn kwp_wrap_equals_rfc5649_in_python_cryptography() {
    let hsm = shared();
    let dir = tempfile::tempdir().unwrap();
    let kek = hsm.extractable_kek(dir.path());
    let uri = format!("{}&x-wrap=aes-kwp", hsm.uri("aes-extractable"));
    let wrapper = open_recipient(&uri).unwrap();
    let ctx = WrapContext {
        body_digest: [1; 32],
        model_name: "m",
    };
    for byte in [0x00u8, 0x5a, 0xff] {
        let dek = DataKey::from_bytes([byte; 32]);
        let stanza = wrapper.wrap(&dek, &ctx, &mut Fixed(9)).unwrap();
        assert_eq!(stanza.wrapped.len(), 40);
        let expected = run_python(
            "import sys\nfrom cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding as w\nprint(w(bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])).hex())",
            &[&hex::encode(&kek), &hex::encode(dek.expose())],
        );
        assert_eq!(hex::encode(&stanza.wrapped), expected);
    }
}

#[test]
fn independent_decoder_reads_pkcs11_aes_stanzas_given_the_kek() {
    let hsm = shared();
    let dir = tempfile::tempdir().unwrap();
    let kek = hsm.extractable_kek(dir.path());
    let root = model(dir.path(), 4);
    let plain = envelope::plaintext_from_path(&root).unwrap();
    for choice in ["aes-kwp", "aes-gcm"] {
        let uri = format!("{}&x-wrap={choice}", hsm.uri("aes-extractable"));
        let wrapper = open_recipient(&uri).unwrap();
        let enc = dir.path().join(format!("enc-{choice}"));
        envelope::encrypt(
            &plain,
            &[wrapper.as_ref()],
            &enc,
            &EncryptOptions::default(),
        )
        .unwrap();
        let decoder = softhsm::repo_root().join("test-vectors/seal");
        let files = run_python(
            "import sys, json\nsys.path.insert(0, sys.argv[1])\nimport decode_v1 as d\nout = d.decrypt(sys.argv[2], d.pkcs11_aes_identity(bytes.fromhex(sys.argv[3]), sys.argv[4]))\nprint(json.dumps({k: v.hex() for k, v in sorted(out.items())}))",
            &[
                decoder.to_str().unwrap(),
                enc.to_str().unwrap(),
                &hex::encode(&kek),
                "06",
            ],
        );
        let files: serde_json::Value = serde_json::from_str(&files).unwrap();
        let files = files.as_object().unwrap();
        assert_eq!(files.len(), 4, "{choice}");
        for (path, content) in files {
            let want = std::fs::read(root.join(path)).unwrap();
            assert_eq!(
                content.as_str().unwrap(),
                hex::encode(want),
                "{choice} {path}"
            );
        }
    }
}

#[test]
fn clear_errors_name_the_uri() {
    let hsm = shared();
    let opts = KeyOptions::default();
    // Missing object.
    let uri = hsm.uri("no-such-key");
    let err = keys::open_signer(&key(&uri), &opts).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("pkcs11:token=modelseal-test;object=no-such-key?"),
        "{text}"
    );
    assert!(matches!(pkcs11_kind(err), ErrorKind::Object(_)), "{text}");
    // Unsupported curve: the secp256k1 key pair.
    let err = keys::open_signer(&key(&hsm.uri("ec-k256")), &opts).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("secp256k1"), "{text}");
    assert!(matches!(pkcs11_kind(err), ErrorKind::Unsupported(_)));
    // An RSA key cannot sign here; an EC key cannot be a recipient.
    let err = keys::open_signer(&key(&hsm.uri("rsa-3072")), &opts).unwrap_err();
    assert!(err.to_string().contains("signing needs an EC key"), "{err}");
    let err = open_recipient(&hsm.uri("ec-p256")).err().unwrap();
    assert_eq!(err.code(), "key");
    assert!(
        err.to_string().contains("AES-256 secret key or an RSA key"),
        "{err}"
    );
    // Token not found.
    let uri = hsm
        .uri("ec-p256")
        .replace("token=modelseal-test", "token=other");
    let err = keys::open_signer(&key(&uri), &opts).unwrap_err();
    assert!(
        err.to_string().contains("no token matches token \"other\""),
        "{err}"
    );
    assert!(
        err.to_string().contains("\"modelseal-test\" (slot"),
        "{err}"
    );
    // Module not found, and no module at all.
    let uri = format!(
        "pkcs11:token=modelseal-test;object=ec-p256?module-path=/nonexistent/lib.so&pin-source=file:{}",
        hsm.pin_file.display()
    );
    let err = keys::open_signer(&key(&uri), &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/lib.so: no such file"),
        "{err}"
    );
    let err = keys::open_signer(&key("pkcs11:object=ec-p256"), &opts).unwrap_err();
    // MODELSEAL_PKCS11_MODULE is not set in the test environment.
    assert!(matches!(pkcs11_kind(err), ErrorKind::NoModule));
    // pin-value is refused at parse time, without echoing the PIN.
    let pin = hsm.pin();
    let text = format!("pkcs11:token=modelseal-test;object=ec-p256?pin-value={pin}");
    let err = text.parse::<KeyRef>().unwrap_err();
    assert!(err.to_string().contains("pin-value is refused"), "{err}");
    assert!(!err.to_string().contains(&pin) && !format!("{err:?}").contains(&pin));
    let err = open_recipient(&text).err().unwrap();
    assert!(!err.to_string().contains(&pin) && !format!("{err:?}").contains(&pin));
}

/// The `Access:` flags pkcs11-tool lists for the secret key `label` (its reading of
/// CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL).
fn secret_key_access(hsm: &softhsm::SoftHsm, label: &str) -> Vec<String> {
    let out = hsm.pkcs11_tool(&[
        "--token-label",
        &hsm.token,
        "--login",
        "--pin",
        "env:MODELSEAL_TEST_PIN",
        "--list-objects",
        "--type",
        "secrkey",
        "--label",
        label,
    ]);
    assert!(out.status.success(), "{out:?}");
    // One block per object (pkcs11-tool may list others too): the one whose label is `label`.
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let block = text
        .split("Secret Key Object")
        .find(|b| {
            b.lines()
                .any(|l| l.trim().strip_prefix("label:").map(str::trim) == Some(label))
        })
        .unwrap_or_else(|| panic!("no object labelled {label}: {text}"));
    let access = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("Access:"))
        .unwrap_or_else(|| panic!("no Access line for {label}: {text}"));
    access.split(',').map(|f| f.trim().to_string()).collect()
}

/// The AES key modelseal wraps data keys with in the token (`aes-wrap`) cannot leave it: the token
/// says sensitive and not extractable (CKA_EXTRACTABLE false, CKA_NEVER_EXTRACTABLE true), and an
/// attempt to export it fails and writes nothing. The test-only `aes-extractable` key is the
/// control: the same listing says extractable and the same export succeeds.
#[test]
fn the_hsm_aes_key_is_sensitive_and_cannot_be_exported() {
    let hsm = softhsm::shared();
    let access = secret_key_access(hsm, "aes-wrap");
    for flag in ["sensitive", "always sensitive", "never extractable"] {
        assert!(
            access.iter().any(|f| f == flag),
            "{flag} missing: {access:?}"
        );
    }
    assert!(
        !access.iter().any(|f| f == "extractable"),
        "aes-wrap is extractable: {access:?}"
    );
    let control = secret_key_access(hsm, "aes-extractable");
    assert!(control.iter().any(|f| f == "extractable"), "{control:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exported.bin");
    let out = hsm.pkcs11_tool(&[
        "--token-label",
        &hsm.token,
        "--login",
        "--pin",
        "env:MODELSEAL_TEST_PIN",
        "--read-object",
        "--type",
        "secrkey",
        "--label",
        "aes-wrap",
        "-o",
        path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exported aes-wrap: {stderr}");
    assert!(stderr.contains("CKR_ATTRIBUTE_SENSITIVE"), "{stderr}");
    assert!(
        std::fs::read(&path).unwrap_or_default().is_empty(),
        "key bytes written"
    );
    // The control key exports (32 bytes), so the refusal above is the key's, not the tool's.
    assert_eq!(hsm.extractable_kek(dir.path()).len(), 32);
}
