//! The OMS format against the reference implementation, both ways:
//! - bundles written by model-signing 1.1.1 (and by earlier releases, `upstream/`) parse to exactly
//!   the statement an independent computation expects (digests with Rust's `sha2`/`blake2`/`blake3`,
//!   key hints from the PEM files, signatures checked with `p256`/`p384` over our [`pae`]);
//! - bundles modelseal writes are accepted by `model_signing verify` 1.1.1 (CLI and Python API), and
//!   rejected by it once the model changes.
//!
//! The reference runs from `MODELSEAL_PYTHON`, else `<repo>/.venv/bin/python`; a missing
//! interpreter fails these tests with a message, it never skips them.

use modelseal::digest::{HashAlgorithm, Method, Resource, SerializationConfig};
use modelseal::internals::oms::{
    pae, Bundle, OmsError, Statement, VerificationMaterial, PAYLOAD_TYPE,
};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---- helpers -------------------------------------------------------------------------------

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vectors() -> PathBuf {
    repo().join("test-vectors/oms-unit")
}

fn read(name: &str) -> Vec<u8> {
    let path = vectors().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bundle(name: &str) -> Bundle {
    Bundle::parse(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn statement(name: &str) -> Statement {
    Statement::parse(&bundle(name).payload).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

fn hash(alg: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlgorithm::Sha256 => sha256(data),
        HashAlgorithm::Blake2b => blake2::Blake2b512::digest(data).to_vec(),
        HashAlgorithm::Blake3 => blake3::hash(data).as_bytes().to_vec(),
    }
}

/// The files of `test-vectors/oms-unit/model` in 1.1.1's (component-wise) order.
const MODEL_FILES: [&str; 4] = ["a.txt", "empty", "sub/b.bin", "x:y.bin"];
const GIT_IGNORES: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// Resources computed here, independently of 1.1.1, for files (`shard_size` None) or shards.
fn expected_resources(
    root: &Path,
    names: &[&str],
    alg: HashAlgorithm,
    shard: Option<u64>,
) -> Vec<Resource> {
    let mut out = Vec::new();
    for name in names {
        let path = if *name == "." {
            root.to_path_buf()
        } else {
            root.join(name)
        };
        let data = std::fs::read(&path).unwrap();
        match shard {
            None => out.push(Resource {
                name: name.to_string(),
                algorithm: alg.name().into(),
                digest: hash(alg, &data),
            }),
            Some(size) => {
                for (i, chunk) in data.chunks(size as usize).enumerate() {
                    let start = i as u64 * size;
                    out.push(Resource {
                        name: format!("{name}:{start}:{}", start + chunk.len() as u64),
                        algorithm: format!("{}-sharded-{size}", alg.name()),
                        digest: hash(alg, chunk),
                    });
                }
            }
        }
    }
    out
}

fn assert_statement(s: &Statement, name: &str, method: Method, alg: HashAlgorithm) {
    assert_eq!(s.subject_name, name);
    assert_eq!(s.serialization.method, method);
    assert_eq!(s.serialization.hash, alg);
    assert!(!s.serialization.allow_symlinks);
    let mut ignores = s.serialization.ignore_paths.clone();
    ignores.sort();
    assert_eq!(ignores, GIT_IGNORES);
    let concat: Vec<u8> = s.resources.iter().flat_map(|r| r.digest.clone()).collect();
    assert_eq!(s.root_digest.to_vec(), sha256(&concat));
}

fn hint_of(pem: &[u8]) -> String {
    hex::encode(sha256(pem))
}

/// Checks 1.1.1's P-256 signature over our PAE of the exact payload bytes.
fn assert_p256_signature(b: &Bundle, public_pem: &[u8]) {
    let key =
        p256::ecdsa::VerifyingKey::from_public_key_pem(std::str::from_utf8(public_pem).unwrap())
            .unwrap();
    let sig = p256::ecdsa::Signature::from_der(&b.signature).unwrap();
    key.verify(&pae(&b.payload_type, &b.payload), &sig)
        .expect("signature over our PAE");
}

fn assert_p384_signature(b: &Bundle, public_pem: &[u8]) {
    let key =
        p384::ecdsa::VerifyingKey::from_public_key_pem(std::str::from_utf8(public_pem).unwrap())
            .unwrap();
    let sig = p384::ecdsa::Signature::from_der(&b.signature).unwrap();
    key.verify(&pae(&b.payload_type, &b.payload), &sig)
        .expect("signature over our PAE");
}

// ---- bundles written by model-signing 1.1.1 -----------------------------------------------

#[test]
fn reference_key_bundle_parses_to_the_model_we_hash() {
    let b = bundle("key-files-sha256.sig");
    let pem = read("keys/signing-key.pub");
    assert_eq!(
        b.material,
        VerificationMaterial::PublicKey {
            hint: Some(hint_of(&pem))
        }
    );
    assert_eq!(b.payload_type, PAYLOAD_TYPE);
    assert_p256_signature(&b, &pem);
    let s = Statement::parse(&b.payload).unwrap();
    assert_statement(&s, "model", Method::Files, HashAlgorithm::Sha256);
    let model = vectors().join("model");
    assert_eq!(
        s.resources,
        expected_resources(&model, &MODEL_FILES, HashAlgorithm::Sha256, None)
    );
}

#[test]
fn reference_certificate_bundle_carries_leaf_then_chain() {
    let b = bundle("cert-files-sha256.sig");
    let chain = vec![read("keys/leaf.der"), read("keys/ca.der")];
    assert_eq!(b.material, VerificationMaterial::Certificates(chain));
    assert_p256_signature(&b, &read("keys/signing-key.pub"));
    let s = Statement::parse(&b.payload).unwrap();
    let model = vectors().join("model");
    assert_eq!(
        s.resources,
        expected_resources(&model, &MODEL_FILES, HashAlgorithm::Sha256, None)
    );
}

#[test]
fn reference_hash_and_shard_configurations_parse() {
    let model = vectors().join("model");
    let non_empty = ["a.txt", "sub/b.bin", "x:y.bin"]; // shards skip empty files
    let cases = [
        ("key-shards-sha256.sig", HashAlgorithm::Sha256, Some(4)),
        ("key-files-blake2b.sig", HashAlgorithm::Blake2b, None),
        ("key-shards-blake2b.sig", HashAlgorithm::Blake2b, Some(3)),
        ("key-files-blake3.sig", HashAlgorithm::Blake3, None),
    ];
    for (file, alg, shard) in cases {
        let s = statement(file);
        let method = shard.map_or(Method::Files, |shard_size| Method::Shards { shard_size });
        assert_statement(&s, "model", method, alg);
        let names: &[&str] = if shard.is_some() {
            &non_empty
        } else {
            &MODEL_FILES
        };
        assert_eq!(
            s.resources,
            expected_resources(&model, names, alg, shard),
            "{file}"
        );
        assert_p256_signature(&bundle(file), &read("keys/signing-key.pub"));
    }
}

#[test]
fn reference_single_file_models_use_dot() {
    let one = vectors().join("one.bin");
    let s = statement("key-single-file.sig");
    assert_statement(&s, "one.bin", Method::Files, HashAlgorithm::Sha256);
    assert_eq!(
        s.resources,
        expected_resources(&one, &["."], HashAlgorithm::Sha256, None)
    );
    let s = statement("key-single-file-shards.sig");
    assert_statement(
        &s,
        "one.bin",
        Method::Shards { shard_size: 4 },
        HashAlgorithm::Sha256,
    );
    assert_eq!(
        s.resources,
        expected_resources(&one, &["."], HashAlgorithm::Sha256, Some(4))
    );
    let names: Vec<_> = s.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [".:0:4", ".:4:8", ".:8:10"]);
}

#[test]
fn every_positive_vector_survives_our_round_trip() {
    for file in [
        "key-files-sha256.sig",
        "cert-files-sha256.sig",
        "key-single-file.sig",
        "key-shards-sha256.sig",
        "key-files-blake2b.sig",
        "key-shards-blake2b.sig",
        "key-files-blake3.sig",
        "key-single-file-shards.sig",
    ] {
        let b = bundle(file);
        assert_eq!(Bundle::parse(b.to_json().as_bytes()).unwrap(), b, "{file}");
        let s = Statement::parse(&b.payload).unwrap();
        assert_eq!(Statement::parse(&s.to_json()).unwrap(), s, "{file}");
        // Our writer reproduces 1.1.1's bundle JSON exactly (its payload is what differs, not
        // the envelope around it).
        assert_eq!(b.to_json().as_bytes(), read(file).as_slice(), "{file}");
    }
}

#[test]
fn negative_vectors_fail_for_their_reason() {
    let bundle_errors = [
        ("neg-two-signatures.sig", "2 signatures"),
        ("neg-no-signature.sig", "0 signatures"),
        ("neg-media-type-v0.2.sig", "mediaType"),
        ("neg-unpadded-base64.sig", "base64"),
    ];
    for (file, needle) in bundle_errors {
        let msg = Bundle::parse(&read(file)).unwrap_err().to_string();
        assert!(msg.contains(needle), "{file}: {msg}");
    }
    let statement_errors = [
        ("neg-dotdot-name.sig", "'..'"),
        ("neg-duplicate-resource.sig", "listed twice"),
        ("neg-two-subjects.sig", "2 subjects"),
        ("neg-shard-misaligned.sig", "not a multiple of shard_size"),
        ("neg-shard-size-fraction.sig", "shard_size 4.5"),
    ];
    for (file, needle) in statement_errors {
        let msg = Statement::parse(&bundle(file).payload)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{file}: {msg}");
    }
    let mismatch = Statement::parse(&bundle("neg-root-mismatch.sig").payload);
    assert!(
        matches!(mismatch, Err(OmsError::RootDigestMismatch { .. })),
        "{mismatch:?}"
    );
}

// ---- bundles written by earlier releases (upstream/) ----------------------------------------

#[test]
fn upstream_key_bundles_old_and_new() {
    let pem = read("upstream/signing-key-pub.pem");
    let b = bundle("upstream/v1.1.0-elliptic-key.sig");
    assert_eq!(
        b.material,
        VerificationMaterial::PublicKey {
            hint: Some(hint_of(&pem))
        }
    );
    assert_p384_signature(&b, &pem);
    let s = Statement::parse(&b.payload).unwrap();
    assert_eq!(s.serialization.ignore_paths.len(), 6);
    for legacy in [
        "upstream/v1.0.1-elliptic-key.sig",
        "upstream/v0.3.1-elliptic-key.sig",
    ] {
        let b = bundle(legacy);
        // 1.0.x wrote the PEM text, not DER, into rawBytes.
        assert_eq!(
            b.material,
            VerificationMaterial::LegacyPublicKey {
                raw_bytes: pem.clone()
            },
            "{legacy}"
        );
        assert_p384_signature(&b, &pem);
        Statement::parse(&b.payload).unwrap();
    }
    let single = statement("upstream/v0.3.1-elliptic-key.sig");
    assert_eq!(single.resources.len(), 1);
    assert_eq!(single.resources[0].name, ".");
}

#[test]
fn upstream_certificate_bundles() {
    for file in [
        "upstream/v1.0.1-certificate.sig",
        "upstream/v1.1.0-certificate.sig",
    ] {
        let b = bundle(file);
        let VerificationMaterial::Certificates(chain) = &b.material else {
            panic!("{file}: {:?}", b.material)
        };
        assert_eq!(chain.len(), 2, "{file}");
        assert_eq!(chain[0], read("upstream/signing-key-cert.der"), "{file}");
        assert_p384_signature(&b, &read("upstream/signing-key-pub.pem"));
        Statement::parse(&b.payload).unwrap();
    }
}

#[test]
fn upstream_v0_2_statement_reads_as_files_sha256() {
    // OMS v1.0 §11.2 lets a verifier read the v0.2 (`Digests/v0.1`) layout; verified in full in
    // tests/oms_conformance.rs.
    let b = bundle("upstream/v0.2.0-certificate.sig");
    let s = Statement::parse(&b.payload).unwrap();
    assert_eq!(
        s.kind,
        modelseal::internals::oms::PredicateKind::DigestsV0_1
    );
    let names: Vec<&str> = s.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["signme-1", "signme-2"]);
}

#[test]
fn upstream_keyless_bundle_parses_as_keyless_material() {
    // Verified against a Sigstore trusted root in tests/sigstore_keyless.rs (same file as
    // test-vectors/sigstore/v1.1.0/model.sig).
    let keyless = Bundle::parse(&read("upstream/v1.1.0-sigstore.sig")).unwrap();
    match &keyless.material {
        VerificationMaterial::Keyless(k) => {
            assert_eq!(k.tlog_entries.len(), 1);
            assert!(k.timestamp_verification_data.is_some());
        }
        other => panic!("not keyless: {other:?}"),
    }
    Statement::parse(&keyless.payload).unwrap();
}

// ---- bundles written by modelseal, verified by model-signing 1.1.1 -------------------------

fn python() -> PathBuf {
    let path = std::env::var_os("MODELSEAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "model-signing 1.1.1 is needed for interoperability tests: set MODELSEAL_PYTHON to a python \
         with `model-signing==1.1.1 pyOpenSSL` installed (tried {})",
        path.display()
    );
    path
}

fn run_python(args: &[&str]) -> Output {
    Command::new(python())
        .args(args)
        .output()
        .expect("python runs")
}

fn cli_verify(args: &[&str]) -> Output {
    let mut all = vec!["-m", "model_signing", "verify"];
    all.extend_from_slice(args);
    run_python(&all)
}

fn succeeded(out: &Output) -> bool {
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verification succeeded")
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fixed P-256 test key (RFC 6979 makes its signatures deterministic).
fn test_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap()
}

fn public_pem() -> String {
    test_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

/// A scratch directory with `model/` (three small files) and room for keys and signatures.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("a.txt"), b"hello").unwrap();
        std::fs::write(model.join("sub/b.bin"), b"world, a little longer\n").unwrap();
        std::fs::write(model.join("empty"), b"").unwrap();
        std::fs::write(dir.path().join("key.pub"), public_pem()).unwrap();
        Scratch { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
}

fn config(method: Method, hash: HashAlgorithm) -> SerializationConfig {
    SerializationConfig {
        method,
        hash,
        allow_symlinks: false,
        ignore_paths: vec![],
    }
}

/// Builds, checks and signs a statement, writing the bundle to `out`; returns it.
fn sign_to(out: &Path, statement: Statement, material: VerificationMaterial) -> Bundle {
    statement
        .check()
        .expect("we only sign well-formed statements");
    let payload = statement.to_json();
    let signature: p256::ecdsa::Signature = test_key().sign(&pae(PAYLOAD_TYPE, &payload));
    let b = Bundle {
        material,
        payload_type: PAYLOAD_TYPE.into(),
        payload,
        signature: signature.to_der().as_bytes().to_vec(),
    };
    std::fs::write(out, b.to_json()).unwrap();
    b
}

fn key_material() -> VerificationMaterial {
    VerificationMaterial::PublicKey {
        hint: Some(hint_of(public_pem().as_bytes())),
    }
}

fn model_statement(s: &Scratch, method: Method, hash: HashAlgorithm) -> Statement {
    let names = ["a.txt", "empty", "sub/b.bin"];
    let shard = match method {
        Method::Files => None,
        Method::Shards { shard_size } => Some(shard_size),
    };
    let names: Vec<&str> = names
        .into_iter()
        .filter(|n| shard.is_none() || *n != "empty")
        .collect();
    let resources = expected_resources(&s.path("model"), &names, hash, shard);
    Statement::new("model".into(), config(method, hash), resources)
}

#[test]
fn our_key_bundle_verifies_with_the_reference_cli() {
    let s = Scratch::new();
    sign_to(
        &s.path("m.sig"),
        model_statement(&s, Method::Files, HashAlgorithm::Sha256),
        key_material(),
    );
    let args = [
        "key",
        "--signature",
        &s.arg("m.sig"),
        "--public_key",
        &s.arg("key.pub"),
        &s.arg("model"),
    ];
    let out = cli_verify(&args);
    assert!(succeeded(&out), "{}", describe(&out));

    // The same bytes fail once the model changes: the acceptance above is a real check.
    std::fs::write(s.path("model/a.txt"), b"hellO").unwrap();
    let out = cli_verify(&args);
    assert!(
        !out.status.success(),
        "tampered model accepted: {}",
        describe(&out)
    );
}

#[test]
fn reference_cli_applies_our_signed_ignore_paths() {
    let s = Scratch::new();
    std::fs::write(s.path("model/notes.txt"), b"not part of the model").unwrap();
    let mut statement = model_statement(&s, Method::Files, HashAlgorithm::Sha256);
    statement.serialization.ignore_paths = vec!["notes.txt".into()];
    sign_to(&s.path("m.sig"), statement, key_material());
    let args = [
        "key",
        "--signature",
        &s.arg("m.sig"),
        "--public_key",
        &s.arg("key.pub"),
        &s.arg("model"),
    ];
    let out = cli_verify(&args);
    assert!(succeeded(&out), "{}", describe(&out));
    // Without the signed ignore path the extra file fails verification.
    let plain = model_statement(&s, Method::Files, HashAlgorithm::Sha256);
    sign_to(&s.path("m.sig"), plain, key_material());
    let out = cli_verify(&args);
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn reference_cli_rejects_our_bundle_with_a_wrong_hint() {
    let s = Scratch::new();
    let wrong = VerificationMaterial::PublicKey {
        hint: Some(hex::encode([0u8; 32])),
    };
    sign_to(
        &s.path("m.sig"),
        model_statement(&s, Method::Files, HashAlgorithm::Sha256),
        wrong,
    );
    let out = cli_verify(&[
        "key",
        "--signature",
        &s.arg("m.sig"),
        "--public_key",
        &s.arg("key.pub"),
        &s.arg("model"),
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Key mismatch"),
        "{}",
        describe(&out)
    );
}

#[test]
fn our_single_file_bundle_verifies_with_the_reference_cli() {
    let s = Scratch::new();
    let file = s.path("model/sub/b.bin");
    let resources = expected_resources(&file, &["."], HashAlgorithm::Sha256, None);
    let statement = Statement::new(
        "b.bin".into(),
        config(Method::Files, HashAlgorithm::Sha256),
        resources,
    );
    sign_to(&s.path("one.sig"), statement, key_material());
    let out = cli_verify(&[
        "key",
        "--signature",
        &s.arg("one.sig"),
        "--public_key",
        &s.arg("key.pub"),
        &s.arg("model/sub/b.bin"),
    ]);
    assert!(succeeded(&out), "{}", describe(&out));
}

/// Makes a CA and a leaf certificate for the test key with the reference's own `cryptography`;
/// returns (leaf DER, CA DER) and writes `ca.pem`.
fn make_certificates(s: &Scratch) -> (Vec<u8>, Vec<u8>) {
    const SCRIPT: &str = r#"
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
out = sys.argv[1]
leaf_key = serialization.load_pem_public_key(open(out + "/key.pub", "rb").read())
ca_key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
later = now + datetime.timedelta(days=30)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
ku = lambda sign, cert: x509.KeyUsage(sign, False, False, False, False, cert, cert, False, False)
ca = (x509.CertificateBuilder().subject_name(name("test root")).issuer_name(name("test root"))
      .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now).not_valid_after(later)
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(ku(False, True), critical=True)
      .sign(ca_key, hashes.SHA256()))
leaf = (x509.CertificateBuilder().subject_name(name("signer")).issuer_name(ca.subject)
        .public_key(leaf_key).serial_number(2).not_valid_before(now).not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ku(True, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(out + "/ca.pem", "wb").write(ca.public_bytes(serialization.Encoding.PEM))
open(out + "/ca.der", "wb").write(ca.public_bytes(serialization.Encoding.DER))
open(out + "/leaf.der", "wb").write(leaf.public_bytes(serialization.Encoding.DER))
"#;
    let out = run_python(&["-c", SCRIPT, s.dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "making certificates: {}",
        describe(&out)
    );
    (
        std::fs::read(s.path("leaf.der")).unwrap(),
        std::fs::read(s.path("ca.der")).unwrap(),
    )
}

#[test]
fn our_certificate_bundle_verifies_with_the_reference_cli() {
    let s = Scratch::new();
    let (leaf, ca) = make_certificates(&s);
    let material = VerificationMaterial::Certificates(vec![leaf, ca]);
    sign_to(
        &s.path("c.sig"),
        model_statement(&s, Method::Files, HashAlgorithm::Sha256),
        material,
    );
    let out = cli_verify(&[
        "certificate",
        "--signature",
        &s.arg("c.sig"),
        "--certificate_chain",
        &s.arg("ca.pem"),
        &s.arg("model"),
    ]);
    assert!(succeeded(&out), "{}", describe(&out));
}

/// Verifies with the reference's Python API; `hashing` is a Python expression for the hashing
/// config, or `None` to let 1.1.1 guess it from the signature.
fn api_verify(s: &Scratch, sig: &str, hashing: &str) -> Output {
    let script = format!(
        r#"
import sys
from model_signing import hashing, verifying
config = verifying.Config().use_elliptic_key_verifier(public_key=sys.argv[1])
h = {hashing}
if h is not None:
    config = config.set_hashing_config(h)
config.verify(sys.argv[2], sys.argv[3])
print("Verification succeeded")
"#
    );
    run_python(&[
        "-c",
        &script,
        &s.arg("key.pub"),
        &s.arg("model"),
        &s.arg(sig),
    ])
}

#[test]
fn our_shard_bundle_verifies_with_the_reference_api_even_by_guessing() {
    let s = Scratch::new();
    let statement = model_statement(&s, Method::Shards { shard_size: 4 }, HashAlgorithm::Sha256);
    assert!(statement.resources.len() > 3, "several shards per file");
    sign_to(&s.path("s.sig"), statement, key_material());
    // Our integer shard_size lets 1.1.1 guess the configuration (its own float one cannot).
    let out = api_verify(&s, "s.sig", "None");
    assert!(succeeded(&out), "{}", describe(&out));
    let explicit = "hashing.Config().use_shard_serialization(shard_size=4)";
    let out = api_verify(&s, "s.sig", explicit);
    assert!(succeeded(&out), "{}", describe(&out));
}

#[test]
fn our_blake2b_bundles_verify_with_the_reference_api() {
    let s = Scratch::new();
    sign_to(
        &s.path("b.sig"),
        model_statement(&s, Method::Files, HashAlgorithm::Blake2b),
        key_material(),
    );
    let out = api_verify(
        &s,
        "b.sig",
        r#"hashing.Config().use_file_serialization(hashing_algorithm="blake2")"#,
    );
    assert!(succeeded(&out), "{}", describe(&out));
    let shards = Method::Shards { shard_size: 3 };
    sign_to(
        &s.path("bs.sig"),
        model_statement(&s, shards, HashAlgorithm::Blake2b),
        key_material(),
    );
    let h = r#"hashing.Config().use_shard_serialization(hashing_algorithm="blake2", shard_size=3)"#;
    let out = api_verify(&s, "bs.sig", h);
    assert!(succeeded(&out), "{}", describe(&out));
}

#[test]
fn our_blake3_bundle_verifies_with_the_reference_api() {
    let s = Scratch::new();
    sign_to(
        &s.path("b3.sig"),
        model_statement(&s, Method::Files, HashAlgorithm::Blake3),
        key_material(),
    );
    // blake3 is a name 1.1.1's guess understands.
    let out = api_verify(&s, "b3.sig", "None");
    assert!(succeeded(&out), "{}", describe(&out));
}

#[test]
fn our_pae_equals_the_reference_pae() {
    let s = Scratch::new();
    let payload = model_statement(&s, Method::Files, HashAlgorithm::Sha256).to_json();
    std::fs::write(s.path("payload.json"), &payload).unwrap();
    let script = "import sys\nfrom model_signing._signing.sign_sigstore_pb import pae\n\
                  sys.stdout.write(pae(open(sys.argv[1], 'rb').read()).hex())";
    let out = run_python(&["-c", script, &s.arg("payload.json")]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        hex::encode(pae(PAYLOAD_TYPE, &payload))
    );
}

#[test]
fn our_statement_reads_back_in_the_reference_parser() {
    // 1.1.1's own statement→manifest conversion (the part after signature checks) on our payload.
    let s = Scratch::new();
    let statement = model_statement(&s, Method::Shards { shard_size: 4 }, HashAlgorithm::Sha256);
    std::fs::write(s.path("payload.json"), statement.to_json()).unwrap();
    let script = r#"
import json, sys
from model_signing._signing import signing
m = signing.dsse_payload_to_manifest(json.load(open(sys.argv[1])))
print(m.model_name, json.dumps(m.serialization_type, sort_keys=True))
for rd in m.resource_descriptors():
    print(rd.identifier, rd.digest.algorithm, rd.digest.digest_hex)
"#;
    let out = run_python(&["-c", script, &s.arg("payload.json")]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        r#"model {"allow_symlinks": false, "hash_type": "sha256", "method": "shards", "shard_size": 4}"#
    );
    let mut expected: Vec<String> = statement
        .resources
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.algorithm, hex::encode(&r.digest)))
        .collect();
    expected.sort(); // 1.1.1 lists its manifest sorted by (path, start, end); compare as sets
    let mut got: Vec<String> = lines.map(String::from).collect();
    got.sort();
    assert_eq!(got, expected);
}
