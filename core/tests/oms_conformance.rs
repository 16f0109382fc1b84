//! OMS v1.0 conformance (ossf/model-signing-spec, `spec/v1.0.md`):
//! - the spec's own vectors (`test-vectors/oms-v1.0/`, see its README) behave as the spec says:
//!   `valid/` verify in full, `invalid/` are refused as bundles, `invalid-payload/` as statements;
//! - bundles made by model-signing releases with the reference's own test PKI, whose leaf is
//!   `CA:TRUE` (`test-vectors/oms-unit/upstream/`), verify in full — the v0.2.0 one too (§11.2);
//! - the certificate method's rule for a `CA:TRUE` leaf, with leaves issued at test time by the
//!   `openssl` CLI under `test-vectors/pki/certs/intermediate-ca`;
//! - an empty model, or one whose every file is ignored, is refused at signing (§6.1).

use modelseal::digest::{HashAlgorithm, Method};
use modelseal::internals::keys::{self, KeyAlgorithm, KeyOptions, KeyRef};
use modelseal::internals::oms::{Bundle, OmsError, PredicateKind, Statement, VerificationMaterial};
use modelseal::internals::sigstore::{KeylessPolicy, TrustedRoot};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignError, SignOptions};
use modelseal::trust::{Trust, TrustError};
use modelseal::verify::{read_bundle, verify_model, VerifiedModel, VerifyError, VerifyOptions};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn spec(rel: &str) -> PathBuf {
    repo().join("test-vectors/oms-v1.0").join(rel)
}

fn upstream(rel: &str) -> PathBuf {
    repo().join("test-vectors/oms-unit/upstream").join(rel)
}

fn pki(rel: &str) -> PathBuf {
    repo().join("test-vectors/pki/certs").join(rel)
}

/// The key of model-signing's test PKI (`scripts/tests/keys/certificate/signing-key-pub.pem`).
fn reference_key() -> Trust {
    Trust::PublicKey(
        modelseal::internals::keys::file::load_public_key(&upstream("signing-key-pub.pem"))
            .unwrap(),
    )
}

/// The root of model-signing's test PKI (`scripts/tests/keys/certificate/ca-cert.pem`).
fn reference_root() -> Trust {
    Trust::load_certificate_roots(&[upstream("ca-cert.pem")]).unwrap()
}

/// The identity of the keyless bundles of model-signing's test scripts.
fn reference_sigstore() -> Trust {
    Trust::Sigstore {
        root: Box::new(TrustedRoot::production().unwrap()),
        policy: KeylessPolicy {
            identity: "stefanb@us.ibm.com".into(),
            issuer: "https://sigstore.verify.ibm.com/oauth2".into(),
        },
    }
}

fn verify(model: &Path, signature: &Path, trust: &Trust) -> Result<VerifiedModel, VerifyError> {
    verify_model(
        model,
        signature,
        trust,
        &VerifyOptions::default(),
        &NoProgress,
    )
}

/// As model-signing's test scripts verify: `--ignore-paths <model>/ignore-me` when it exists.
fn verify_like_the_reference(
    model: &Path,
    signature: &Path,
    trust: &Trust,
) -> Result<VerifiedModel, VerifyError> {
    let ignore_me = model.join("ignore-me");
    let options = VerifyOptions {
        ignore: if ignore_me.exists() {
            vec![ignore_me]
        } else {
            vec![]
        },
        ignore_unsigned_files: false,
        ..VerifyOptions::default()
    };
    verify_model(model, signature, trust, &options, &NoProgress)
}

// ---- the spec's vectors ---------------------------------------------------------------------

/// Every file of test-vectors/oms-v1.0/ with what the spec says of it (see its README).
const SPEC_VECTORS: &[&str] = &[
    "valid/key.bundle.json",
    "valid/certificate.bundle.json",
    "valid/sigstore.bundle.json",
    "invalid/empty.bundle.json",
    "invalid/missing-envelope.bundle.json",
    "invalid/missing-tlog-entries.bundle.json",
    "invalid/missing-verification-material.bundle.json",
    "invalid-payload/wrong-predicate.bundle.json",
];

#[test]
fn every_spec_vector_is_checked() {
    let mut found = Vec::new();
    for dir in ["valid", "invalid", "invalid-payload"] {
        for entry in std::fs::read_dir(spec(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            found.push(format!("{dir}/{name}"));
        }
    }
    found.sort();
    let mut listed: Vec<String> = SPEC_VECTORS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "a vector in test-vectors/oms-v1.0 has no check"
    );
}

#[test]
fn spec_valid_vectors_verify() {
    // key and certificate: model-signing's test key, over its v1.1.0-elliptic-key model.
    let model = upstream("model-elliptic-key");
    let who = verify(&model, &spec("valid/key.bundle.json"), &reference_key()).unwrap();
    assert_eq!(who.signer().method, "key");
    assert_eq!(who.resources().len(), 2);
    let who = verify(
        &model,
        &spec("valid/certificate.bundle.json"),
        &reference_root(),
    )
    .unwrap();
    assert_eq!(who.signer().method, "certificate");
    // sigstore: model-signing 1.1.0's keyless bundle, over its model, offline.
    let who = verify(
        &repo().join("test-vectors/sigstore/v1.1.0"),
        &spec("valid/sigstore.bundle.json"),
        &reference_sigstore(),
    )
    .unwrap();
    assert_eq!(who.signer().method, "sigstore");
}

#[test]
fn spec_invalid_vectors_are_refused_as_bundles() {
    for (file, reason) in [
        ("invalid/empty.bundle.json", "not valid JSON"),
        ("invalid/missing-envelope.bundle.json", "dsseEnvelope"),
        (
            "invalid/missing-verification-material.bundle.json",
            "verificationMaterial",
        ),
    ] {
        match read_bundle(&spec(file)) {
            Err(e @ VerifyError::Malformed { .. }) => {
                assert!(e.to_string().contains(reason), "{file}: {e}")
            }
            other => panic!("{file}: expected a malformed bundle, got {other:?}"),
        }
    }
    // A Sigstore (keyless) bundle must carry a transparency-log entry (§4.1); this one carries
    // none: refused whatever the trust.
    let file = spec("invalid/missing-tlog-entries.bundle.json");
    let bundle = read_bundle(&file).unwrap();
    let VerificationMaterial::Keyless(keyless) = &bundle.material else {
        panic!("not keyless: {:?}", bundle.material)
    };
    assert!(keyless.tlog_entries.is_empty());
    let err = verify(
        &repo().join("test-vectors/sigstore/v1.1.0"),
        &file,
        &reference_sigstore(),
    )
    .unwrap_err();
    assert!(err.class().is_failure(), "{err:?}");
    assert!(
        err.to_string().contains("0 transparency log entries"),
        "{err}"
    );
}

#[test]
fn spec_invalid_payload_vector_is_refused_as_a_statement() {
    let file = spec("invalid-payload/wrong-predicate.bundle.json");
    let bundle = read_bundle(&file).unwrap();
    let reason = Statement::parse(&bundle.payload).unwrap_err().to_string();
    assert!(
        reason.contains("predicateType is \"https://example.com/wrong-predicate/v1.0\""),
        "{reason}"
    );
    // Its payload was edited after signing, so the signature check refuses it first.
    let err = verify(&upstream("model-elliptic-key"), &file, &reference_key()).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Untrusted {
                source: TrustError::BadSignature,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- model-signing's own test PKI -----------------------------------------------------------

#[test]
fn reference_bundles_of_every_release_verify() {
    let key_model = upstream("model-elliptic-key");
    let cert_model = upstream("model-certificate");
    for (sig, model, trust) in [
        (
            "v1.1.0-elliptic-key.sig",
            key_model.clone(),
            reference_key(),
        ),
        (
            "v1.0.1-elliptic-key.sig",
            key_model.clone(),
            reference_key(),
        ),
        (
            "v0.3.1-elliptic-key.sig",
            key_model.join("signme-1"),
            reference_key(),
        ),
        (
            "v1.0.0-elliptic-key.sig",
            key_model.join("signme-1"),
            reference_key(),
        ),
        (
            "v1.1.0-certificate.sig",
            cert_model.clone(),
            reference_root(),
        ),
        (
            "v1.0.1-certificate.sig",
            cert_model.clone(),
            reference_root(),
        ),
        (
            "v1.0.0-certificate.sig",
            cert_model.clone(),
            reference_root(),
        ),
        (
            "v0.3.1-certificate.sig",
            cert_model.clone(),
            reference_root(),
        ),
        (
            "v0.2.0-certificate.sig",
            cert_model.clone(),
            reference_root(),
        ),
    ] {
        let verified = verify_like_the_reference(&model, &upstream(sig), &trust)
            .unwrap_or_else(|e| panic!("{sig}: {e}"));
        assert!(!verified.resources().is_empty(), "{sig}");
    }
}

#[test]
fn reference_v0_2_bundle_checks_the_model() {
    // v0.2.0's statement lists the files as subjects; they are compared like any manifest.
    let dir = tempfile::tempdir().unwrap();
    for name in ["signme-1", "signme-2"] {
        std::fs::copy(
            upstream("model-certificate").join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    let sig = upstream("v0.2.0-certificate.sig");
    let ok = verify(dir.path(), &sig, &reference_root()).unwrap();
    assert_eq!(ok.subject_name(), "");
    std::fs::write(dir.path().join("signme-2"), b"changed\n").unwrap();
    std::fs::write(dir.path().join("extra"), b"x").unwrap();
    match verify(dir.path(), &sig, &reference_root()) {
        Err(VerifyError::Mismatch { diff, .. }) => {
            assert_eq!(diff.changed, ["signme-2"]);
            assert_eq!(diff.extra, ["extra"]);
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    // v0.2.0's signature is over its own encoding of its own format only: the same signature
    // under a v1.0 statement of the same files does not verify.
    let bundle = Bundle::parse(&std::fs::read(&sig).unwrap()).unwrap();
    assert_eq!(
        Statement::parse(&bundle.payload).unwrap().kind,
        PredicateKind::DigestsV0_1
    );
    let mut v1 = bundle.clone();
    v1.payload = Statement::parse(&bundle.payload).unwrap().to_json();
    let pae = modelseal::internals::oms::pae(&v1.payload_type, &v1.payload);
    let err = reference_root()
        .check(&v1.material, &pae, &v1.signature)
        .unwrap_err();
    assert!(matches!(err, TrustError::BadSignature), "{err:?}");
}

// ---- CA:TRUE leaves -------------------------------------------------------------------------

const PAE: &[u8] = b"DSSEv1 28 application/vnd.in-toto+json 17 {\"_type\":\"test\"}";

use crate::timestamp::tsa_helper::openssl;

/// Issues `name` (a fresh P-256 key and certificate with the extensions `ext`, openssl config
/// syntax) from the CA `issuer` (`<issuer>.pem` and `<issuer>.key`, paths); returns the leaf DER.
fn issue(dir: &Path, name: &str, ext: &str, issuer: (&Path, &Path)) -> Vec<u8> {
    let key = format!("{name}.key");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    let csr = format!("{name}.csr");
    let subject = format!("/CN={name}");
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", &subject, "-out", &csr],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    let (ca_cert, ca_key) = (issuer.0.to_str().unwrap(), issuer.1.to_str().unwrap());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            ca_cert,
            "-CAkey",
            ca_key,
            "-set_serial",
            "7",
            "-days",
            "30",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    keys::read_certificate_file(&dir.join(format!("{name}.pem")))
        .unwrap()
        .remove(0)
}

fn sign_as(dir: &Path, name: &str, message: &[u8]) -> Vec<u8> {
    let key = dir.join(format!("{name}.key"));
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&key, private).unwrap();
    let signer = keys::open_signer(&KeyRef::File(key), &KeyOptions::default()).unwrap();
    signer.sign(message).unwrap()
}

fn intermediate() -> (PathBuf, PathBuf) {
    (pki("intermediate-ca.pem"), pki("intermediate-ca.key"))
}

fn der(path: &Path) -> Vec<u8> {
    keys::read_certificate_file(path).unwrap().remove(0)
}

const CA_SIGNER: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n";

fn check_leaf(
    dir: &Path,
    name: &str,
    chain: Vec<Vec<u8>>,
    roots: &[PathBuf],
) -> Result<(), TrustError> {
    let trust = Trust::load_certificate_roots(roots).unwrap();
    let signature = sign_as(dir, name, PAE);
    trust
        .check(&VerificationMaterial::Certificates(chain), PAE, &signature)
        .map(|who| assert_eq!(who.method, "certificate"))
}

fn certificate_reason(r: Result<(), TrustError>) -> String {
    match r {
        Err(TrustError::Certificate(reason)) => reason,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn a_ca_leaf_that_may_sign_and_chains_to_a_root_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ica, ikey) = intermediate();
    let inter = der(&ica);
    let roots = [pki("root-ca.pem")];
    for (name, ext) in [
        ("ca-signer", CA_SIGNER),
        (
            "ca-no-eku",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\n",
        ),
    ] {
        let leaf = issue(d, name, ext, (&ica, &ikey));
        check_leaf(d, name, vec![leaf.clone(), inter.clone()], &roots)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The intermediate may come from the trust instead of the bundle.
        check_leaf(
            d,
            name,
            vec![leaf.clone()],
            &[pki("root-ca.pem"), ica.clone()],
        )
        .unwrap();
        // Without it, or under another root, no path.
        let r = certificate_reason(check_leaf(d, name, vec![leaf.clone()], &roots));
        assert!(r.contains("does not lead to a trusted root"), "{r}");
        let r = certificate_reason(check_leaf(
            d,
            name,
            vec![leaf, inter.clone()],
            &[pki("untrusted-root-ca.pem")],
        ));
        assert!(r.contains("does not lead to a trusted root"), "{r}");
    }
    // A signature by another key under the valid CA leaf.
    let leaf = issue(d, "ca-other", CA_SIGNER, (&ica, &ikey));
    let trust = Trust::load_certificate_roots(&roots).unwrap();
    let wrong = sign_as(d, "ca-signer", PAE);
    let err = trust
        .check(
            &VerificationMaterial::Certificates(vec![leaf, inter]),
            PAE,
            &wrong,
        )
        .unwrap_err();
    assert!(matches!(err, TrustError::BadSignature), "{err:?}");
}

#[test]
fn a_ca_leaf_keeps_every_other_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ica, ikey) = intermediate();
    let inter = der(&ica);
    let roots = [pki("root-ca.pem")];
    for (name, ext, why) in [
        (
            "ca-cert-sign-only",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nextendedKeyUsage=codeSigning\n",
            "without KeyUsage digitalSignature",
        ),
        (
            "ca-eku-only",
            "basicConstraints=critical,CA:TRUE\nextendedKeyUsage=codeSigning\n",
            "without KeyUsage digitalSignature",
        ),
        (
            "ca-server-auth",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            "without codeSigning",
        ),
        (
            "ca-unknown-critical",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\n1.3.6.1.4.1.99999.1=critical,DER:05:00\n",
            "critical extension",
        ),
        (
            "ca-name-constraints",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nnameConstraints=permitted;DNS:example.com\n",
            "name constraints",
        ),
    ] {
        let leaf = issue(d, name, ext, (&ica, &ikey));
        let r = certificate_reason(check_leaf(d, name, vec![leaf, inter.clone()], &roots));
        assert!(r.contains(why), "{name}: {r}");
    }

    // pathLen: intermediate-ca has pathlen:0, so no CA may stand between it and the leaf.
    let sub = issue(
        d,
        "sub-ca",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n",
        (&ica, &ikey),
    );
    let leaf = issue(
        d,
        "ca-under-sub",
        CA_SIGNER,
        (&d.join("sub-ca.pem"), &d.join("sub-ca.key")),
    );
    let r = certificate_reason(check_leaf(
        d,
        "ca-under-sub",
        vec![leaf, sub, inter.clone()],
        &roots,
    ));
    assert!(r.contains("pathLenConstraint"), "{r}");

    // An issuer with the intermediate's name but another key: the names chain, the signature
    // does not.
    let rogue_key = "rogue.key";
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            rogue_key,
        ],
    );
    let ica_str = ica.to_str().unwrap();
    openssl(
        d,
        &[
            "x509",
            "-x509toreq",
            "-in",
            ica_str,
            "-signkey",
            rogue_key,
            "-out",
            "rogue.csr",
        ],
    );
    std::fs::write(
        d.join("rogue.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "rogue.csr",
            "-signkey",
            rogue_key,
            "-days",
            "30",
            "-extfile",
            "rogue.ext",
            "-out",
            "rogue.pem",
        ],
    );
    let leaf = issue(
        d,
        "ca-by-rogue",
        CA_SIGNER,
        (&d.join("rogue.pem"), &d.join(rogue_key)),
    );
    let r = certificate_reason(check_leaf(d, "ca-by-rogue", vec![leaf, inter], &roots));
    assert!(r.contains("InvalidSignatureForPublicKey"), "{r}");
}

// ---- signing refuses a statement without resources ------------------------------------------

fn signer(dir: &Path) -> Box<dyn keys::Signer> {
    let key = dir.join("key.pem");
    keys::file::generate_signing_key(KeyAlgorithm::EcP256, &key, None, false).unwrap();
    keys::open_signer(&KeyRef::File(key), &KeyOptions::default()).unwrap()
}

#[test]
fn signing_refuses_a_model_with_nothing_to_sign() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let empty = dir.path().join("empty-model");
    std::fs::create_dir(&empty).unwrap();
    let ignored = dir.path().join("all-ignored");
    std::fs::create_dir_all(ignored.join(".git")).unwrap();
    std::fs::write(ignored.join(".git/config"), b"x").unwrap();
    std::fs::write(ignored.join(".gitignore"), b"x").unwrap();
    std::fs::write(ignored.join("notes.txt"), b"x").unwrap();
    let empty_files = dir.path().join("empty-files");
    std::fs::create_dir(&empty_files).unwrap();
    std::fs::write(empty_files.join("zero"), b"").unwrap();
    for (model, options) in [
        (&empty, SignOptions::default()),
        (
            &ignored,
            SignOptions {
                ignore: vec![PathBuf::from("notes.txt")],
                ..SignOptions::default()
            },
        ),
        (
            &empty_files,
            SignOptions {
                method: Method::Shards { shard_size: 4 },
                hash: HashAlgorithm::Sha256,
                ..SignOptions::default()
            },
        ),
    ] {
        let out = dir.path().join("out.sig");
        let options = SignOptions {
            signature: Some(out.clone()),
            ..options
        };
        let err = sign_model(model, signer.as_ref(), &options, &NoProgress).unwrap_err();
        assert!(
            matches!(
                &err,
                SignError::Statement {
                    source: OmsError::NoResources,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&model.display().to_string())
                && message.contains("no files")
                && message.contains("ignored"),
            "{message}"
        );
        assert!(!out.exists(), "nothing may be written");
    }
    // One file is enough, and files mode signs an empty file.
    let out = dir.path().join("ok.sig");
    let options = SignOptions {
        signature: Some(out.clone()),
        ..SignOptions::default()
    };
    sign_model(&empty_files, signer.as_ref(), &options, &NoProgress).unwrap();
    assert!(out.exists());
}
