//! Keyless (Sigstore) verification against the real bundles made by model-signing releases
//! (`test-vectors/sigstore/`), offline, with the shipped production trusted root.
//!
//! Positive verdicts are those of model-signing's own test scripts (`test-verify-v*-sigstore.sh`)
//! and are cross-checked against sigstore-python in `tests/interop/test_sigstore_keyless.py`,
//! which also runs the negative cases below through the reference verifier.

use modelseal::internals::sigstore::{KeylessPolicy, SigstoreError, TrustedRoot};
use modelseal::progress::NoProgress;
use modelseal::trust::{Trust, TrustError};
use modelseal::verify::{verify_model, VerifiedModel, VerifyError, VerifyOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};

const IDENTITY: &str = "stefanb@us.ibm.com";
const ISSUER: &str = "https://sigstore.verify.ibm.com/oauth2";
const VERSIONS: [&str; 4] = ["v0.3.1", "v1.0.0", "v1.0.1", "v1.1.0"];

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/sigstore")
}

fn production() -> TrustedRoot {
    TrustedRoot::production().unwrap()
}

fn trust(root: TrustedRoot, identity: &str, issuer: &str) -> Trust {
    Trust::Sigstore {
        root: Box::new(root),
        policy: KeylessPolicy {
            identity: identity.into(),
            issuer: issuer.into(),
        },
    }
}

/// The `--ignore-paths` the reference's test scripts pass for each version.
fn options(version: &str) -> VerifyOptions {
    let model = vectors().join(version);
    VerifyOptions {
        ignore: if model.join("ignore-me").exists() {
            vec![model.join("ignore-me")]
        } else {
            vec![]
        },
        ignore_unsigned_files: false,
    }
}

fn verify(
    model: &Path,
    signature: &Path,
    trust: &Trust,
    version: &str,
) -> Result<VerifiedModel, VerifyError> {
    verify_model(model, signature, trust, &options(version), &NoProgress)
}

fn verify_vector(version: &str, trust: &Trust) -> Result<VerifiedModel, VerifyError> {
    let model = vectors().join(version);
    verify(&model, &model.join("model.sig"), trust, version)
}

/// The keyless error inside a verification failure (exit 1).
fn keyless_error(result: Result<VerifiedModel, VerifyError>) -> SigstoreError {
    match result {
        Err(e @ VerifyError::Untrusted { .. }) => {
            assert!(e.class().is_failure());
            match e {
                VerifyError::Untrusted {
                    source: TrustError::Sigstore(inner),
                    ..
                } => inner,
                other => panic!("not a keyless error: {other}"),
            }
        }
        Err(other) => panic!("expected an untrusted signature, got: {other}"),
        Ok(_) => panic!("verified, but must not"),
    }
}

fn bundle_json(version: &str) -> Value {
    serde_json::from_slice(&std::fs::read(vectors().join(version).join("model.sig")).unwrap())
        .unwrap()
}

/// Writes `bundle` as a signature file outside the model and verifies the vector's model with it.
fn verify_edited(
    version: &str,
    bundle: &Value,
    trust: &Trust,
) -> Result<VerifiedModel, VerifyError> {
    let dir = tempfile::tempdir().unwrap();
    let sig = dir.path().join("edited.sig");
    std::fs::write(&sig, serde_json::to_vec(bundle).unwrap()).unwrap();
    verify(&vectors().join(version), &sig, trust, version)
}

fn root_json() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sigstore/production_trusted_root.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn root_from(json: &Value) -> TrustedRoot {
    TrustedRoot::from_trusted_root_json(&serde_json::to_vec(json).unwrap()).unwrap()
}

#[test]
fn every_release_vector_verifies_with_its_identity_and_issuer() {
    let trust = trust(production(), IDENTITY, ISSUER);
    // integratedTime of each vector's Rekor entry (checked against the certificates' 10-minute
    // validity by the verifier; listed here to pin what was verified).
    let times = [1_746_234_602, 1_746_236_086, 1_759_851_228, 1_760_062_340];
    for (version, time) in VERSIONS.iter().zip(times) {
        let verified = verify_vector(version, &trust).unwrap_or_else(|e| panic!("{version}: {e}"));
        let signer = verified.signer();
        assert_eq!(signer.method, "sigstore");
        let keyless = signer.keyless.as_ref().unwrap();
        assert_eq!(keyless.identity, IDENTITY);
        assert_eq!(keyless.issuer, ISSUER);
        assert_eq!(keyless.signing_time, time, "{version}");
        assert_eq!(verified.resources().len(), 2);
        // Same model bytes in every release: same root digest (the statements say so too).
        assert_eq!(
            verified.root_digest_hex(),
            "61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226"
        );
    }
}

#[test]
fn wrong_identity_fails() {
    let trust = trust(production(), "someone@example.com", ISSUER);
    for version in VERSIONS {
        let err = keyless_error(verify_vector(version, &trust));
        assert!(
            matches!(&err, SigstoreError::Identity { found, .. } if found == &[IDENTITY.to_string()]),
            "{version}: {err}"
        );
    }
}

#[test]
fn wrong_issuer_fails() {
    let trust = trust(production(), IDENTITY, "https://accounts.google.com");
    for version in VERSIONS {
        let err = keyless_error(verify_vector(version, &trust));
        assert!(
            matches!(&err, SigstoreError::Issuer { found, .. } if found == ISSUER),
            "{version}: {err}"
        );
    }
}

#[test]
fn tampered_model_fails_after_the_signature_verified() {
    let trust = trust(production(), IDENTITY, ISSUER);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for name in ["signme-1", "signme-2"] {
        std::fs::copy(vectors().join("v1.0.0").join(name), model.join(name)).unwrap();
    }
    std::fs::write(model.join("signme-2"), b"signme-X").unwrap();
    let sig = vectors().join("v1.0.0/model.sig");
    match verify(&model, &sig, &trust, "v1.0.0") {
        Err(VerifyError::Mismatch { diff, .. }) => assert_eq!(diff.changed, ["signme-2"]),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn tampered_certificate_fails() {
    let trust = trust(production(), IDENTITY, ISSUER);
    let mut bundle = bundle_json("v1.1.0");
    let raw = bundle["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    let mut der = base64_decode(raw);
    // A byte of the serial number (DER offset 15 starts its 20 bytes): the certificate still
    // parses, its CA signature no longer verifies.
    assert_eq!(&der[13..15], [0x02, 0x14]);
    der[20] ^= 0x01;
    bundle["verificationMaterial"]["certificate"]["rawBytes"] = Value::String(base64_encode(&der));
    let err = keyless_error(verify_edited("v1.1.0", &bundle, &trust));
    assert!(matches!(err, SigstoreError::Certificate(_)), "{err}");
}

#[test]
fn log_entry_of_another_signature_fails() {
    let trust = trust(production(), IDENTITY, ISSUER);
    for (a, b) in [
        ("v1.0.0", "v1.1.0"),
        ("v1.1.0", "v1.0.0"),
        ("v0.3.1", "v1.0.0"),
    ] {
        let mut bundle = bundle_json(a);
        bundle["verificationMaterial"]["tlogEntries"] =
            bundle_json(b)["verificationMaterial"]["tlogEntries"].clone();
        let err = keyless_error(verify_edited(a, &bundle, &trust));
        // The other entry is genuine (its SET verifies) but was integrated outside this
        // certificate's 10-minute validity.
        assert!(
            matches!(err, SigstoreError::Time(_)),
            "{a} with {b}'s entry: {err}"
        );
    }
}

#[test]
fn tampered_log_evidence_fails() {
    let trust = trust(production(), IDENTITY, ISSUER);
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 6] = [
        ("integrated time", |e| {
            let t: u64 = e["integratedTime"].as_str().unwrap().parse().unwrap();
            e["integratedTime"] = Value::String((t + 1).to_string());
        }),
        ("log index", |e| {
            let i: u64 = e["logIndex"].as_str().unwrap().parse().unwrap();
            e["logIndex"] = Value::String((i + 1).to_string());
        }),
        ("proof hash", |e| {
            e["inclusionProof"]["hashes"][0] = Value::String(base64_encode(&[7u8; 32]));
        }),
        ("proof index", |e| {
            let i: u64 = e["inclusionProof"]["logIndex"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            e["inclusionProof"]["logIndex"] = Value::String((i - 1).to_string());
        }),
        ("checkpoint signature", |e| {
            let env = e["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap();
            let last = env.trim_end().rsplit_once(' ').unwrap().1;
            let mut sig = base64_decode(last);
            let n = sig.len() - 3;
            sig[n] ^= 1;
            let edited = env.replace(last, &base64_encode(&sig));
            e["inclusionProof"]["checkpoint"]["envelope"] = Value::String(edited);
        }),
        ("checkpoint size", |e| {
            let env = e["inclusionProof"]["checkpoint"]["envelope"]
                .as_str()
                .unwrap();
            let size = e["inclusionProof"]["treeSize"]
                .as_str()
                .unwrap()
                .to_string();
            let edited = env.replacen(
                &format!("\n{size}\n"),
                &format!("\n{}\n", size.parse::<u64>().unwrap() + 1),
                1,
            );
            e["inclusionProof"]["checkpoint"]["envelope"] = Value::String(edited);
        }),
    ];
    for (what, edit) in cases {
        let mut bundle = bundle_json("v1.0.1");
        edit(&mut bundle["verificationMaterial"]["tlogEntries"][0]);
        let err = keyless_error(verify_edited("v1.0.1", &bundle, &trust));
        assert!(matches!(err, SigstoreError::Tlog(_)), "{what}: {err}");
    }
}

#[test]
fn entry_count_and_kind_are_enforced() {
    let trust = trust(production(), IDENTITY, ISSUER);
    let mut bundle = bundle_json("v1.0.0");
    let entry = bundle["verificationMaterial"]["tlogEntries"][0].clone();
    bundle["verificationMaterial"]["tlogEntries"] = Value::Array(vec![entry.clone(), entry]);
    assert!(matches!(
        keyless_error(verify_edited("v1.0.0", &bundle, &trust)),
        SigstoreError::Malformed(_)
    ));
    let mut bundle = bundle_json("v1.0.0");
    bundle["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]);
    assert!(matches!(
        keyless_error(verify_edited("v1.0.0", &bundle, &trust)),
        SigstoreError::Malformed(_)
    ));
    // No inclusion promise: the time would have to come from an RFC 3161 timestamp, which
    // modelseal does not use; an input error (exit 2), not a verdict.
    let mut bundle = bundle_json("v1.1.0");
    bundle["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
    match verify_edited("v1.1.0", &bundle, &trust) {
        Err(e @ VerifyError::Malformed { .. }) => {
            assert!(!e.class().is_failure());
            assert!(e.to_string().contains("RFC 3161"), "{e}");
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn trusted_root_windows_must_contain_the_signing_time() {
    type Edit = fn(&mut Value);
    // Signing times are May and October 2025; the edited windows end before or start after them.
    let cases: [(&str, Edit); 3] = [
        ("CA", |r| {
            for ca in r["certificateAuthorities"].as_array_mut().unwrap() {
                ca["validFor"]["start"] = Value::String("2025-11-01T00:00:00Z".into());
            }
        }),
        ("Rekor key", |r| {
            r["tlogs"][0]["publicKey"]["validFor"]["end"] =
                Value::String("2025-01-01T00:00:00Z".into());
        }),
        ("CT log key", |r| {
            r["ctlogs"][1]["publicKey"]["validFor"]["end"] =
                Value::String("2025-01-01T00:00:00Z".into());
        }),
    ];
    for (what, edit) in cases {
        let mut json = root_json();
        edit(&mut json);
        let trust = trust(root_from(&json), IDENTITY, ISSUER);
        for version in VERSIONS {
            let err = keyless_error(verify_vector(version, &trust));
            let ok = match what {
                "CA" => {
                    matches!(err, SigstoreError::Certificate(ref m) if m.contains("valid at the signing time"))
                }
                "Rekor key" => {
                    matches!(err, SigstoreError::Tlog(ref m) if m.contains("not valid at the integrated time"))
                }
                _ => matches!(err, SigstoreError::Sct(ref m) if m.contains("validity")),
            };
            assert!(ok, "{what} {version}: {err}");
        }
    }
}

#[test]
fn a_root_without_the_logs_or_ca_fails() {
    // The CT log that signed the SCTs removed (the retired one stays): no SCT verifies.
    let mut json = root_json();
    json["ctlogs"].as_array_mut().unwrap().remove(1);
    let err = keyless_error(verify_vector(
        "v1.0.0",
        &trust(root_from(&json), IDENTITY, ISSUER),
    ));
    assert!(matches!(err, SigstoreError::Sct(_)), "{err}");
    // The current Fulcio CA removed: the leaf chains to nothing.
    let mut json = root_json();
    json["certificateAuthorities"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let err = keyless_error(verify_vector(
        "v1.0.0",
        &trust(root_from(&json), IDENTITY, ISSUER),
    ));
    assert!(matches!(err, SigstoreError::Certificate(_)), "{err}");
    // The Rekor v1 key removed: the entry's log is unknown.
    let mut json = root_json();
    json["tlogs"].as_array_mut().unwrap().remove(0);
    let err = keyless_error(verify_vector(
        "v1.0.0",
        &trust(root_from(&json), IDENTITY, ISSUER),
    ));
    assert!(matches!(err, SigstoreError::Tlog(_)), "{err}");
}

#[test]
fn tampered_payload_or_signature_fails() {
    let trust = trust(production(), IDENTITY, ISSUER);
    let mut bundle = bundle_json("v1.0.0");
    let sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
        .as_str()
        .unwrap()
        .to_string();
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(
        bundle_json("v1.1.0")["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    assert_ne!(sig, bundle["dsseEnvelope"]["signatures"][0]["sig"]);
    let err = keyless_error(verify_edited("v1.0.0", &bundle, &trust));
    assert!(matches!(err, SigstoreError::BadSignature), "{err}");
}

#[test]
fn key_trust_refuses_keyless_bundles_and_sigstore_trust_refuses_key_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let public = modelseal::internals::keys::file::generate_signing_key(
        modelseal::keys::KeyAlgorithm::EcP256,
        &key,
        None,
        false,
    )
    .unwrap();
    let model = vectors().join("v1.0.0");
    match verify(
        &model,
        &model.join("model.sig"),
        &Trust::PublicKey(public),
        "v1.0.0",
    ) {
        Err(VerifyError::Untrusted {
            source: TrustError::MethodMismatch { found, .. },
            ..
        }) => assert_eq!(found, "Sigstore keyless"),
        other => panic!("{other:?}"),
    }
    // The other way: Sigstore trust refuses a key bundle and a certificate bundle (the OMS
    // vectors, which verify with their own key or CA), before any signature is checked.
    let oms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/oms");
    let sigstore = trust(production(), IDENTITY, ISSUER);
    for (bundle, method) in [
        ("key-p256-files-sha256-cli-ordering.sig", "public key"),
        (
            "cert-p256-root-files-sha256-cli-ordering.sig",
            "certificate",
        ),
    ] {
        let options = VerifyOptions {
            ignore: vec![],
            ignore_unsigned_files: false,
        };
        match verify_model(
            &oms.join("models/ordering"),
            &oms.join("signatures").join(bundle),
            &sigstore,
            &options,
            &NoProgress,
        ) {
            Err(VerifyError::Untrusted {
                source: TrustError::MethodMismatch { expected, found },
                ..
            }) => {
                assert_eq!(expected, "Sigstore trusted root", "{bundle}");
                assert_eq!(found, method, "{bundle}");
            }
            other => panic!("{bundle}: {other:?}"),
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
