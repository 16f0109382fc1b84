//! RFC 3161 timestamps against a real TSA: OpenSSL's `openssl ts -reply` behind the small HTTP
//! front tests/tsa/tsa_server.py, started here on 127.0.0.1, with a TSA PKI made by the openssl CLI.
//! The certificate method's validity time moves to a verified timestamp's time; tokens are checked
//! independently with `openssl ts -verify`.

use modelseal::internals::oms::Bundle;
use modelseal::keys::KeyOptions;
use modelseal::policy::{Policy, PolicyVerifyOptions};
use modelseal::progress::NoProgress;
use modelseal::sign::{open_signer, sign_model, SignError, SignOptions};
use modelseal::timestamp::{self, TimestampError, TimestampRoots, TsaRequest};
use modelseal::trust::{TimestampPolicy, Trust, TrustError};
use modelseal::verify::{verify_model, VerifyError, VerifyOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "../../tests/tsa/tsa.rs"]
pub mod tsa_helper;
use tsa_helper::{issue, now, openssl, root_ca, Tsa};

/// Roots trusting `tsa`.
fn roots(tsa: &Tsa) -> TimestampRoots {
    TimestampPolicy::load(std::slice::from_ref(&tsa.root), false)
        .unwrap()
        .roots
}

const SIGNER_EXT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:release@example.com";

/// A model, a signing CA and a leaf valid from `start` to `end`, signed (with a timestamp from
/// `tsa` if given) into `dir/model.sig`.
fn sign_certificate_model(
    dir: &Path,
    leaf: &str,
    start: u64,
    end: u64,
    tsa: Option<&Tsa>,
) -> Result<PathBuf, SignError> {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("weights.bin"), b"some weights").unwrap();
    if !dir.join("signing-ca.pem").exists() {
        root_ca(dir, "signing-ca");
    }
    let cert = issue(dir, "signing-ca", leaf, SIGNER_EXT, start, end);
    let signer = open_signer(
        dir.join(format!("{leaf}.key")).to_str().unwrap(),
        Some(&cert),
        &[],
        &KeyOptions::default(),
    )?;
    let signature = dir.join(format!("{leaf}.sig"));
    let options = SignOptions {
        signature: Some(signature.clone()),
        tsa: tsa.map(|t| TsaRequest::new(&t.url)),
        ..SignOptions::default()
    };
    sign_model(&model, signer.as_ref(), &options, &NoProgress)?;
    Ok(signature)
}

fn verify_with(dir: &Path, signature: &Path, tsa_roots: &[PathBuf]) -> Result<(), VerifyError> {
    let trust = Trust::load_certificate_roots(&[dir.join("signing-ca.pem")]).unwrap();
    let options = VerifyOptions {
        timestamps: TimestampPolicy::load(tsa_roots, false).unwrap(),
        ..VerifyOptions::default()
    };
    verify_model(&dir.join("model"), signature, &trust, &options, &NoProgress).map(|v| {
        assert_eq!(v.signer().method, "certificate");
        if !tsa_roots.is_empty() {
            assert!(v.signer().timestamp.is_some());
        }
    })
}

fn token_of(signature: &Path) -> (Vec<u8>, Vec<u8>) {
    let bundle = Bundle::parse(&std::fs::read(signature).unwrap()).unwrap();
    assert_eq!(bundle.timestamps.len(), 1, "one timestamp in the bundle");
    (bundle.timestamps[0].clone(), bundle.signature)
}

fn untrusted_reason(r: Result<(), VerifyError>) -> String {
    match r {
        Err(VerifyError::Untrusted { source, .. }) => source.to_string(),
        other => panic!("expected an untrusted signature, got {other:?}"),
    }
}

#[test]
fn an_expired_leaf_verifies_only_with_a_timestamp_from_inside_its_validity() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tsa = Tsa::start(d, "tsa");
    // A leaf that expires three seconds from now: signed and timestamped while valid.
    let end = now() + 3;
    let timestamped = sign_certificate_model(d, "short", now() - 60, end, Some(&tsa)).unwrap();
    let bare = d.join("bare.sig");
    let mut bundle = Bundle::parse(&std::fs::read(&timestamped).unwrap()).unwrap();
    bundle.timestamps.clear();
    std::fs::write(&bare, bundle.to_json()).unwrap();
    // While the leaf is valid both verify.
    verify_with(d, &bare, &[]).unwrap();
    while now() <= end + 1 {
        std::thread::sleep(Duration::from_millis(250));
    }
    // Expired: without a timestamp (or without TSA roots to check it) it fails...
    let reason = untrusted_reason(verify_with(d, &bare, &[]));
    assert!(reason.contains("had expired"), "{reason}");
    let reason = untrusted_reason(verify_with(d, &timestamped, &[]));
    assert!(reason.contains("had expired"), "{reason}");
    // ...with the timestamp, judged at its time, it verifies.
    verify_with(d, &timestamped, std::slice::from_ref(&tsa.root)).unwrap();

    // The token is a real RFC 3161 token over the signature: OpenSSL agrees.
    let (token, signature) = token_of(&timestamped);
    std::fs::write(d.join("response.der"), &token).unwrap();
    std::fs::write(d.join("signature.bin"), &signature).unwrap();
    openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "signature.bin",
            "-in",
            "response.der",
            "-CAfile",
            tsa.root.to_str().unwrap(),
            "-untrusted",
            tsa.cert.to_str().unwrap(),
        ],
    );
    let verified = timestamp::verify(&token, &signature, &roots(&tsa)).unwrap();
    assert!(verified.unix_secs <= end && verified.unix_secs + 120 > end);
    assert_eq!(verified.tsa, "CN=tsa");
}

#[test]
fn a_timestamp_outside_the_leaf_validity_from_another_tsa_or_over_other_bytes_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tsa = Tsa::start(d, "tsa");
    let other_tsa = Tsa::start(d, "other-tsa");

    // A leaf valid only from tomorrow: the timestamp (now) is outside its validity.
    let tomorrow = now() + 86400;
    let early = sign_certificate_model(d, "early", tomorrow, tomorrow + 86400, Some(&tsa)).unwrap();
    let reason = untrusted_reason(verify_with(d, &early, std::slice::from_ref(&tsa.root)));
    assert!(reason.contains("not yet valid"), "{reason}");

    // A valid leaf and timestamp, but the verifier trusts another TSA.
    let good = sign_certificate_model(d, "good", now() - 60, now() + 86400, Some(&tsa)).unwrap();
    verify_with(d, &good, std::slice::from_ref(&tsa.root)).unwrap();
    let reason = untrusted_reason(verify_with(d, &good, std::slice::from_ref(&other_tsa.root)));
    assert!(reason.contains("timestamp not trusted"), "{reason}");

    // A token over another signature, moved into this bundle.
    let (foreign, _) = token_of(&early);
    let mut bundle = Bundle::parse(&std::fs::read(&good).unwrap()).unwrap();
    bundle.timestamps = vec![foreign];
    let moved = d.join("moved.sig");
    std::fs::write(&moved, bundle.to_json()).unwrap();
    let reason = untrusted_reason(verify_with(d, &moved, std::slice::from_ref(&tsa.root)));
    assert!(reason.contains("over other bytes"), "{reason}");
    // Without TSA roots the timestamp is ignored (and the valid leaf verifies at now).
    verify_with(d, &moved, &[]).unwrap();

    // A timestamp is required but none can be checked.
    let trust = Trust::load_certificate_roots(&[d.join("signing-ca.pem")]).unwrap();
    let bundle = Bundle::parse(&std::fs::read(&good).unwrap()).unwrap();
    let required = TimestampPolicy {
        required: true,
        ..TimestampPolicy::default()
    };
    assert!(matches!(
        trust.check_bundle_with(&bundle, &required),
        Err(TrustError::TimestampRequired(_))
    ));
    let identity = trust.check_bundle(&bundle).unwrap();
    assert_eq!(identity.unverified_timestamps, 1);
    assert!(identity.timestamp.is_none());
}

#[test]
fn the_tsa_response_is_checked_when_signing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tsa = Tsa::start(d, "tsa");
    let other_tsa = Tsa::start(d, "other-tsa");
    let signature = b"any signature bytes";
    // With roots: the token is verified before it is returned.
    let request = TsaRequest {
        roots: roots(&tsa),
        ..TsaRequest::new(&tsa.url)
    };
    let token = timestamp::request(&request, signature).unwrap();
    timestamp::verify(&token, signature, &roots(&tsa)).unwrap();
    let request = TsaRequest {
        roots: roots(&other_tsa),
        ..TsaRequest::new(&tsa.url)
    };
    assert!(matches!(
        timestamp::request(&request, signature),
        Err(TimestampError::Response { .. })
    ));
    // Nobody listening (http and https), a timeout: transport errors naming the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [
        format!("http://127.0.0.1:{closed}/"),
        format!("https://127.0.0.1:{closed}/"),
    ] {
        match timestamp::request(&TsaRequest::new(&url), signature) {
            Err(e @ TimestampError::Transport { .. }) => assert!(e.to_string().contains(&url)),
            other => panic!("{url}: {other:?}"),
        }
    }
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let request = TsaRequest {
        timeout: Duration::from_millis(300),
        ..TsaRequest::new(format!("http://{}/", silent.local_addr().unwrap()))
    };
    let started = std::time::Instant::now();
    assert!(matches!(
        timestamp::request(&request, signature),
        Err(TimestampError::Transport { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The decision of the policy `text` (written beside the model in `dir`) on `signature`.
fn decide(dir: &Path, text: &str, signature: &Path) -> (bool, String) {
    let path = dir.join("trust.toml");
    std::fs::write(&path, text).unwrap();
    let policy = Policy::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let decision = policy
        .verify(
            &dir.join("model"),
            &[signature.to_path_buf()],
            &PolicyVerifyOptions::default(),
            &NoProgress,
        )
        .unwrap();
    (decision.allowed(), decision.reasons().join("; "))
}

/// A certificate signer of the policy, with `extra` lines (its timestamp settings).
fn release_policy(extra: &str) -> String {
    format!(
        "version = 1\n[signers.release]\ncert_roots = \"signing-ca.pem\"\nidentities = [\"release@example.com\"]\n{extra}\n[[models]]\nname = \"*\"\nrequire = [\"release\"]\n"
    )
}

#[test]
fn a_policy_signer_judges_time_with_its_own_tsa_roots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tsa = Tsa::start(d, "tsa");
    let other_tsa = Tsa::start(d, "other-tsa");
    let (tsa_root, other_root) = (tsa.root.display(), other_tsa.root.display());

    // A valid leaf: with and without a timestamp.
    let good = sign_certificate_model(d, "good", now() - 60, now() + 86400, Some(&tsa)).unwrap();
    let bare = d.join("bare.sig");
    let mut bundle = Bundle::parse(&std::fs::read(&good).unwrap()).unwrap();
    bundle.timestamps.clear();
    std::fs::write(&bare, bundle.to_json()).unwrap();
    // A leaf that expires three seconds from now, signed and timestamped while valid.
    let end = now() + 3;
    let short = sign_certificate_model(d, "short", now() - 60, end, Some(&tsa)).unwrap();

    // require_timestamp: the bundle without one is denied, the timestamped one allowed.
    let required = release_policy(&format!(
        "tsa_roots = \"{tsa_root}\"\nrequire_timestamp = true"
    ));
    let (allowed, reasons) = decide(d, &required, &bare);
    assert!(!allowed);
    assert!(reasons.contains("timestamp"), "{reasons}");
    assert!(decide(d, &required, &good).0);
    // A timestamp from a TSA the signer does not name is not trusted.
    let foreign = release_policy(&format!("tsa_roots = \"{other_root}\""));
    let (allowed, reasons) = decide(d, &foreign, &good);
    assert!(!allowed);
    assert!(reasons.contains("timestamp not trusted"), "{reasons}");

    while now() <= end + 1 {
        std::thread::sleep(Duration::from_millis(250));
    }
    // Expired: without tsa_roots judged now (denied), with them at the timestamp's time.
    let (allowed, reasons) = decide(d, &release_policy(""), &short);
    assert!(!allowed);
    assert!(reasons.contains("had expired"), "{reasons}");
    let timed = release_policy(&format!("tsa_roots = [\"{tsa_root}\"]"));
    let (allowed, reasons) = decide(d, &timed, &short);
    assert!(allowed, "{reasons}");
}

#[test]
fn policy_timestamp_settings_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    root_ca(d, "signing-ca");
    let load = |extra: &str| {
        let path = d.join("trust.toml");
        std::fs::write(&path, release_policy(extra)).unwrap();
        Policy::load(&path).map(|_| ()).map_err(|e| e.to_string())
    };
    let err = load("require_timestamp = true").unwrap_err();
    assert!(
        err.contains("trust.toml:5: signers.release.require_timestamp: needs tsa_roots"),
        "{err}"
    );
    let err = load("tsa_roots = \"missing.pem\"").unwrap_err();
    assert!(
        err.contains("signers.release.tsa_roots") && err.contains("missing.pem"),
        "{err}"
    );
    let err = load("tsa_roots = []").unwrap_err();
    assert!(err.contains("tsa_roots: names no file"), "{err}");
    // Relative to the policy's directory; `require_timestamp = false` needs nothing.
    load("tsa_roots = \"signing-ca.pem\"\nrequire_timestamp = false").unwrap();
    load("require_timestamp = false").unwrap();
}

#[test]
fn an_https_tsa_is_reached_over_verified_tls_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tsa = Tsa::start_https(d, "tsa");
    let tls_root = tsa.tls_root.clone().unwrap();
    let tls_roots = modelseal::internals::keys::read_certificate_file(&tls_root).unwrap();
    let signature = b"any signature bytes";
    // The TLS root given: the token comes back over TLS and verifies.
    let request = TsaRequest {
        roots: roots(&tsa),
        tls_roots: tls_roots.clone(),
        ..TsaRequest::new(&tsa.url)
    };
    let token = timestamp::request(&request, signature).unwrap();
    timestamp::verify(&token, signature, &roots(&tsa)).unwrap();
    // The server's certificate is verified: not under the system's roots (the test CA is not
    // one of them), and not for another name than the one it was issued for (127.0.0.1).
    let transport = |request: &TsaRequest| match timestamp::request(request, signature) {
        Err(e @ TimestampError::Transport { .. }) => e.to_string(),
        other => panic!("{}: {other:?}", request.url),
    };
    let system = transport(&TsaRequest::new(&tsa.url));
    assert!(
        system.contains("UnknownIssuer") || system.contains("no trusted root certificate"),
        "{system}"
    );
    let port = tsa.url.rsplit(':').next().unwrap();
    let other_name = TsaRequest {
        tls_roots: tls_roots.clone(),
        ..TsaRequest::new(format!("https://localhost:{port}"))
    };
    let reason = transport(&other_name);
    assert!(
        reason.contains("not valid for name \"localhost\""),
        "{reason}"
    );
    // A server that accepts but never answers the handshake: the timeout still holds.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let request = TsaRequest {
        timeout: Duration::from_millis(300),
        tls_roots,
        ..TsaRequest::new(format!("https://{}/", silent.local_addr().unwrap()))
    };
    let started = std::time::Instant::now();
    transport(&request);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_bundle_timestamped_by_model_transparency_pr_620_verifies_only_with_its_tsa() {
    // Written by the reference's RFC 3161 pull request (test-vectors/pr620/README.md), with a
    // leaf valid for 25 seconds: long expired, it verifies by its timestamp alone.
    let v = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/pr620");
    let trust = Trust::load_certificate_roots(&[v.join("signing-ca.pem")]).unwrap();
    let verify = |tsa_roots: &[PathBuf]| {
        let options = VerifyOptions {
            timestamps: TimestampPolicy::load(tsa_roots, false).unwrap(),
            ..VerifyOptions::default()
        };
        verify_model(
            &v.join("model"),
            &v.join("model.sig"),
            &trust,
            &options,
            &NoProgress,
        )
    };
    let verified = verify(&[v.join("tsa-root.pem")]).unwrap();
    let stamp = verified.signer().timestamp.clone().unwrap();
    assert_eq!(stamp.tsa, "CN=pr620-tsa");
    assert_eq!(stamp.rfc3339(), "2026-12-06T08:17:24Z");
    assert_eq!(verified.resources().len(), 2);
    let reason = untrusted_reason(verify(&[]).map(|_| ()));
    assert!(reason.contains("had expired"), "{reason}");
    // The signing root is no TSA root: the timestamp is not trusted.
    let reason = untrusted_reason(verify(&[v.join("signing-ca.pem")]).map(|_| ()));
    assert!(reason.contains("timestamp not trusted"), "{reason}");
}
