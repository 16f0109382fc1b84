//! Keyless verification of a Rekor v2 entry (no inclusion promise): the entry is proven by its
//! inclusion proof and signed checkpoint, the signing time by the bundle's RFC 3161 timestamp
//! against the trusted root's timestamp authorities. The vector is sigstore-python's public
//! staging bundle, with the staging trusted root (test-vectors/sigstore-rekor-v2/README.md).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use modelseal::internals::oms::Bundle;
use modelseal::internals::sigstore::{KeylessPolicy, SigstoreError, TrustedRoot};
use modelseal::trust::{Trust, TrustError};
use serde_json::Value;
use std::path::{Path, PathBuf};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/sigstore-rekor-v2")
}

fn trust(identity: &str) -> Trust {
    let root =
        TrustedRoot::load_trusted_root(&vectors().join("staging_trusted_root.json")).unwrap();
    Trust::Sigstore {
        root: Box::new(root),
        policy: KeylessPolicy {
            identity: identity.into(),
            issuer: ISSUER.into(),
        },
    }
}

fn original() -> Value {
    let text = std::fs::read(vectors().join("a.dsse.staging-rekor-v2.txt.sigstore.json")).unwrap();
    serde_json::from_slice(&text).unwrap()
}

fn check(v: &Value) -> Result<modelseal::trust::SignerIdentity, TrustError> {
    let bundle = Bundle::parse(&serde_json::to_vec(v).unwrap()).unwrap();
    trust(IDENTITY).check_bundle(&bundle)
}

fn sigstore_error(r: Result<modelseal::trust::SignerIdentity, TrustError>) -> SigstoreError {
    match r {
        Err(TrustError::Sigstore(e)) => e,
        other => panic!("expected a Sigstore error, got {other:?}"),
    }
}

fn entry(v: &mut Value) -> &mut Value {
    &mut v["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn a_rekor_v2_bundle_verifies_offline_with_its_timestamp_as_signing_time() {
    let v = original();
    assert!(entry(&mut v.clone()).get("inclusionPromise").is_none());
    let who = check(&v).unwrap();
    let keyless = who.keyless.expect("a keyless signer");
    assert_eq!(keyless.identity, IDENTITY);
    assert!(keyless.timestamped);
    assert_eq!(keyless.log_index, 4026478);
    // The token's genTime (sigstore staging TSA), not a log time.
    assert_eq!(keyless.signing_time_text(), "2026-05-13T19:23:33Z");
    assert_eq!(who.unverified_timestamps, 0);
    // Every other keyless check still runs: another identity fails.
    let bundle = Bundle::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
    let other = trust("someone@example.com").check_bundle(&bundle);
    assert!(matches!(
        sigstore_error(other),
        SigstoreError::Identity { .. }
    ));
}

#[test]
fn a_tampered_checkpoint_fails() {
    let mut v = original();
    let envelope = entry(&mut v)["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_string();
    // Another tree size in the signed note text, or the log's signature removed.
    for tampered in [
        envelope.replacen("\n4026479\n", "\n4026480\n", 1),
        envelope
            .lines()
            .filter(|l| !l.starts_with("\u{2014} log2025-alpha3"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    ] {
        assert_ne!(tampered, envelope);
        let mut w = v.clone();
        entry(&mut w)["inclusionProof"]["checkpoint"]["envelope"] = Value::from(tampered);
        let err = sigstore_error(check(&w));
        assert!(matches!(err, SigstoreError::Tlog(_)), "{err:?}");
    }
}

#[test]
fn a_tampered_inclusion_proof_fails() {
    let mut v = original();
    let hash = entry(&mut v)["inclusionProof"]["hashes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let mut bytes = STANDARD.decode(hash).unwrap();
    bytes[0] ^= 1;
    entry(&mut v)["inclusionProof"]["hashes"][0] = Value::from(STANDARD.encode(bytes));
    let err = sigstore_error(check(&v));
    assert!(
        matches!(&err, SigstoreError::Tlog(m) if m.contains("inclusion proof")),
        "{err:?}"
    );
    // A proof for another index in the same tree.
    let mut w = original();
    entry(&mut w)["inclusionProof"]["logIndex"] = Value::from("4026477");
    assert!(matches!(sigstore_error(check(&w)), SigstoreError::Tlog(_)));
}

#[test]
fn a_tampered_or_missing_timestamp_fails() {
    let stamps = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps";
    let token = original().pointer(stamps).unwrap()[0]["signedTimestamp"]
        .as_str()
        .unwrap()
        .to_string();
    let der = STANDARD.decode(token).unwrap();
    // A flipped byte in the TSA's signature (the last bytes of the token), and in the TSTInfo.
    for at in [der.len() - 3, 100] {
        let mut bad = der.clone();
        bad[at] ^= 0x40;
        let mut v = original();
        v.pointer_mut(stamps).unwrap()[0]["signedTimestamp"] = Value::from(STANDARD.encode(bad));
        let err = sigstore_error(check(&v));
        assert!(matches!(err, SigstoreError::Time(_)), "byte {at}: {err:?}");
    }
    // No timestamp: a Rekor v2 entry alone says nothing about when it was signed.
    let mut v = original();
    *v.pointer_mut(stamps).unwrap() = Value::Array(vec![]);
    let err = sigstore_error(check(&v));
    assert!(
        matches!(&err, SigstoreError::Time(m) if m.contains("no RFC 3161 timestamp")),
        "{err:?}"
    );
    // A trusted root without timestamp authorities cannot time it either.
    let mut root: Value = serde_json::from_slice(
        &std::fs::read(vectors().join("staging_trusted_root.json")).unwrap(),
    )
    .unwrap();
    root.as_object_mut().unwrap().remove("timestampAuthorities");
    let root = TrustedRoot::from_trusted_root_json(&serde_json::to_vec(&root).unwrap()).unwrap();
    let trust = Trust::Sigstore {
        root: Box::new(root),
        policy: KeylessPolicy {
            identity: IDENTITY.into(),
            issuer: ISSUER.into(),
        },
    };
    let bundle = Bundle::parse(&serde_json::to_vec(&original()).unwrap()).unwrap();
    assert!(matches!(
        sigstore_error(trust.check_bundle(&bundle)),
        SigstoreError::Time(_)
    ));
}
