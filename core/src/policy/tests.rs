//! Policy tests: loading errors with file/line/field, and the decision procedure on real
//! signatures made by `sign::sign_model` with fresh keys (untrusted key, uncovered name, k-of-n,
//! serialization limits, extra files, Rego, certificate identities).

use super::*;
use crate::digest::HashAlgorithm;
use crate::keys::{self, KeyAlgorithm, KeyOptions, KeyRef};
use crate::progress::NoProgress;
use crate::sign::{sign_model, SignOptions};
use std::fs;
use tempfile::TempDir;

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        fs::create_dir_all(model.join("sub")).unwrap();
        fs::write(model.join("weights.bin"), b"weights").unwrap();
        fs::write(model.join("sub/config.json"), b"{}").unwrap();
        for name in ["release", "ci", "other"] {
            let private = dir.path().join(format!("{name}.pem"));
            let public = dir.path().join(format!("{name}.pub.pem"));
            keys::file::generate_signing_key(KeyAlgorithm::EcP256, &private, Some(&public), false)
                .unwrap();
        }
        Fixture { dir }
    }
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
    fn model(&self) -> std::path::PathBuf {
        self.path("llm")
    }
    fn sign(&self, key: &str, hash: HashAlgorithm) -> std::path::PathBuf {
        let sig = self.path(&format!("llm.{key}.{}.sig", hash.name()));
        let signer = keys::open::open_signer(
            &KeyRef::File(self.path(&format!("{key}.pem"))),
            &KeyOptions::default(),
        )
        .unwrap();
        let options = SignOptions {
            hash,
            signature: Some(sig.clone()),
            // Some tests sign the same name twice (another key); the later signature replaces it.
            output: crate::sign::OutputMode::Replace,
            ..SignOptions::default()
        };
        sign_model(&self.model(), signer.as_ref(), &options, &NoProgress).unwrap();
        sig
    }
    fn policy(&self, text: &str) -> Result<Policy, PolicyError> {
        let path = self.path("trust.toml");
        fs::write(&path, text).unwrap();
        Policy::load(&path)
    }
    fn decide(&self, policy: &Policy, sigs: &[std::path::PathBuf], name: &str) -> PolicyDecision {
        let options = PolicyVerifyOptions {
            model_name: Some(name.to_string()),
            ..Default::default()
        };
        policy
            .verify(&self.model(), sigs, &options, &NoProgress)
            .unwrap()
    }
}

const TWO_OF_TWO: &str = r#"
version = 1
[signers.release]
key = "release.pub.pem"
[signers.ci]
key = "ci.pub.pem"
[[models]]
name = "prod/*"
require = ["release", "ci"]
threshold = 2
[[models]]
name = "dev/*"
require = ["release", "ci"]
"#;

#[test]
fn two_of_two_needs_both_signatures() {
    let f = Fixture::new();
    let policy = f.policy(TWO_OF_TWO).unwrap();
    let release = f.sign("release", HashAlgorithm::Sha256);
    let ci = f.sign("ci", HashAlgorithm::Sha256);

    let one = f.decide(&policy, std::slice::from_ref(&release), "prod/llm");
    assert!(!one.allowed);
    assert_eq!(one.signers, vec!["release"]);
    assert_eq!(one.rule.as_ref().unwrap().index, 0);
    assert_eq!(one.reasons.len(), 1, "{:?}", one.reasons);
    assert!(
        one.reasons[0].contains("1 of the required 2 signers verified"),
        "{:?}",
        one.reasons
    );

    let both = f.decide(&policy, &[release.clone(), ci], "prod/llm");
    assert!(both.allowed, "{:?}", both.reasons);
    assert_eq!(both.signers, vec!["ci", "release"]);
    assert_eq!(both.files, Some(2));
    assert_eq!(both.rule_label(), "models[0] \"prod/*\"");
    let sig = crate::verify::read_bundle(&release).unwrap();
    let statement = crate::oms::Statement::parse(&sig.payload).unwrap();
    assert_eq!(
        both.root_digest.as_deref(),
        Some(hex::encode(statement.root_digest).as_str())
    );

    // The second rule (default threshold 1) is satisfied by either.
    let dev = f.decide(&policy, &[release], "dev/llm");
    assert!(dev.allowed, "{:?}", dev.reasons);
    assert_eq!(dev.rule.as_ref().unwrap().index, 1);
}

#[test]
fn untrusted_key_and_uncovered_name_are_denied_with_reasons() {
    let f = Fixture::new();
    let policy = f.policy(TWO_OF_TWO).unwrap();
    let other = f.sign("other", HashAlgorithm::Sha256);
    let d = f.decide(&policy, &[other], "dev/llm");
    assert!(!d.allowed);
    assert!(d.signers.is_empty());
    assert!(
        d.reasons[0].contains("not signed by any signer of the policy"),
        "{:?}",
        d.reasons
    );
    assert!(
        d.reasons[1].contains("0 of the required 1"),
        "{:?}",
        d.reasons
    );

    let release = f.sign("release", HashAlgorithm::Sha256);
    let d = f.decide(&policy, &[release], "staging/llm");
    assert!(!d.allowed);
    assert!(d.rule.is_none());
    assert_eq!(
        d.reasons,
        vec!["no [[models]] rule covers model name \"staging/llm\""]
    );
    // The signer still verified: the JSON says who signed even when no rule covers the name.
    assert_eq!(d.signers, vec!["release"]);
}

#[test]
fn a_changed_model_denies_and_names_the_file() {
    let f = Fixture::new();
    let policy = f.policy(TWO_OF_TWO).unwrap();
    let release = f.sign("release", HashAlgorithm::Sha256);
    fs::write(f.model().join("weights.bin"), b"tampered").unwrap();
    let d = f.decide(&policy, &[release], "dev/llm");
    assert!(!d.allowed);
    assert!(d.signers.is_empty());
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("weights.bin: changed since signing")),
        "{:?}",
        d.reasons
    );
}

#[test]
fn serialization_limits_and_extra_files() {
    let f = Fixture::new();
    let policy = f
        .policy(
            r#"
version = 1
[signers.release]
key = "release.pub.pem"
[[models]]
name = "strict"
require = ["release"]
allowed_hash_types = ["sha256"]
[[models]]
name = "lax"
require = ["release"]
allowed_methods = ["files"]
allow_extra_files = true
"#,
        )
        .unwrap();
    let blake3 = f.sign("release", HashAlgorithm::Blake3);
    let d = f.decide(&policy, &[blake3], "strict");
    assert!(!d.allowed);
    assert!(
        d.reasons[0].contains("hash type \"blake3\" is not allowed"),
        "{:?}",
        d.reasons
    );

    let sha = f.sign("release", HashAlgorithm::Sha256);
    fs::write(f.model().join("README.md"), b"added later").unwrap();
    let strict = f.decide(&policy, std::slice::from_ref(&sha), "strict");
    assert!(!strict.allowed);
    assert!(strict
        .reasons
        .iter()
        .any(|r| r.contains("README.md: extra file")));
    let lax = f.decide(&policy, &[sha], "lax");
    assert!(lax.allowed, "{:?}", lax.reasons);
}

#[test]
fn rego_denies_with_its_messages_and_sees_the_input() {
    let f = Fixture::new();
    fs::write(
        f.path("deploy.rego"),
        r#"package modelseal

deny contains msg if {
    input.files < 3
    msg := sprintf("model %s has only %d files", [input.model_name, input.files])
}

deny contains "release must sign" if {
    not "release" in input.signers
}

deny contains "sha256 only" if {
    input.serialization.hash_type != "sha256"
}
"#,
    )
    .unwrap();
    let policy = f
        .policy(
            r#"
version = 1
[signers.release]
key = "release.pub.pem"
[[models]]
name = "*"
require = ["release"]
[rego]
file = "deploy.rego"
"#,
        )
        .unwrap();
    let release = f.sign("release", HashAlgorithm::Sha256);
    let d = f.decide(&policy, &[release], "llm");
    assert!(!d.allowed);
    assert_eq!(d.reasons, vec!["rego: model llm has only 2 files"]);

    fs::write(f.model().join("third.bin"), b"3").unwrap();
    let release = f.sign("release", HashAlgorithm::Sha256);
    let d = f.decide(&policy, &[release], "llm");
    assert!(d.allowed, "{:?}", d.reasons);
}

#[test]
fn certificate_signer_with_identity_and_issuer() {
    let f = Fixture::new();
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/oms/ca");
    let key = f.path("leaf.key.pem");
    fs::copy(vectors.join("leaf-p256.key.pem"), &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    fs::copy(vectors.join("root.pem"), f.path("root.pem")).unwrap();
    let signer = keys::open::open_certificate_signer(
        &KeyRef::File(key),
        &KeyOptions::default(),
        &vectors.join("leaf-p256.pem"),
        &[],
    )
    .unwrap();
    let sig = f.path("llm.cert.sig");
    let options = SignOptions {
        signature: Some(sig.clone()),
        ..SignOptions::default()
    };
    sign_model(&f.model(), signer.as_ref(), &options, &NoProgress).unwrap();
    // Values as `openssl x509 -noout -issuer -ext subjectAltName` prints them for this leaf.
    let policy_with = |identity: &str, issuer: &str| {
        f.policy(&format!(
            r#"
version = 1
[signers.team]
cert_roots = "root.pem"
identities = ["{identity}"]
issuer = "{issuer}"
[[models]]
name = "*"
require = ["team"]
"#
        ))
        .unwrap()
    };
    let issuer = "CN=modelseal test root CA,O=modelseal test vectors";
    let ok = f.decide(
        &policy_with("release@modelseal.test", issuer),
        std::slice::from_ref(&sig),
        "llm",
    );
    assert!(ok.allowed, "{:?}", ok.reasons);
    assert_eq!(ok.signers, vec!["team"]);
    let wrong_id = f.decide(
        &policy_with("spiffe://ci.example.org/publisher", issuer),
        std::slice::from_ref(&sig),
        "llm",
    );
    assert!(!wrong_id.allowed);
    assert!(
        wrong_id.reasons[0].contains("certificate identity release@modelseal.test is not one of"),
        "{:?}",
        wrong_id.reasons
    );
    let wrong_issuer = f.decide(
        &policy_with("release@modelseal.test", "CN=someone else"),
        &[sig],
        "llm",
    );
    assert!(!wrong_issuer.allowed);
    assert!(wrong_issuer.reasons[0].contains("is not the required"));
}

fn load_error(text: &str) -> String {
    let f = Fixture::new();
    f.policy(text).unwrap_err().to_string()
}

#[test]
fn load_errors_name_file_line_and_field() {
    let unknown =
        load_error("version = 1\n[[models]]\nname = \"x\"\nrequire = [\"a\"]\ntreshold = 2\n");
    assert!(
        unknown.contains("trust.toml:5:1: unknown field `treshold`"),
        "{unknown}"
    );

    let missing = load_error(
        "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"x\"\nrequire = [\"release\", \"ops\"]\n",
    );
    assert!(
        missing
            .contains("trust.toml:6: models[0].require: unknown signer \"ops\" (signers: release)"),
        "{missing}"
    );

    let threshold = load_error(
        "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"x\"\nrequire = [\"release\"]\nthreshold = 2\n",
    );
    assert!(
        threshold.contains(
            "trust.toml:7: models[0].threshold: must be between 1 and the 1 distinct signers"
        ),
        "{threshold}"
    );

    let version = load_error("version = 2\n");
    assert!(
        version.contains("trust.toml:1: version: unsupported policy version 2"),
        "{version}"
    );

    let no_key = load_error("version = 1\n[signers.release]\nkey = \"nope.pem\"\n");
    assert!(
        no_key.contains("trust.toml:3: signers.release.key: cannot read the public key"),
        "{no_key}"
    );

    let no_ids = load_error("version = 1\n[signers.ci]\ncert_roots = \"ca.pem\"\n");
    assert!(
        no_ids.contains("signers.ci: cert_roots needs identities"),
        "{no_ids}"
    );

    let methods = load_error(
        "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"x\"\nrequire = [\"release\"]\nallowed_methods = [\"file\"]\n",
    );
    assert!(
        methods.contains("models[0].allowed_methods: unknown value \"file\""),
        "{methods}"
    );
}

#[test]
fn rego_must_declare_the_modelseal_package() {
    let f = Fixture::new();
    fs::write(
        f.path("p.rego"),
        "package other\ndeny contains \"x\" if { true }\n",
    )
    .unwrap();
    let err = f
        .policy("version = 1\n[rego]\nfile = \"p.rego\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("must declare `package modelseal`"), "{err}");
    fs::write(f.path("p.rego"), "package modelseal\ndeny contains if {\n").unwrap();
    let err = f
        .policy("version = 1\n[rego]\nfile = \"p.rego\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid Rego"), "{err}");
}

/// Found by the `policy` fuzz target (fuzz/regressions/policy/): a missing Rego file is reported
/// with the policy file, line and field that name it, like every other referenced file.
#[test]
fn a_missing_rego_file_is_named_with_the_policy_line() {
    let f = Fixture::new();
    let err = f
        .policy("version = 1\n[rego]\nfile = \"absent.rego\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("trust.toml:3: rego.file: "), "{err}");
    assert!(err.contains("absent.rego: No such file"), "{err}");
}

#[test]
fn a_policy_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Policy>();
}

/// A `sigstore = true` signer accepts model-signing's keyless bundle for its identity and issuer,
/// offline against the built-in root, and denies any other identity (issue 10's policy form).
#[test]
fn sigstore_signer_with_identity_and_issuer() {
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/sigstore");
    let model = vectors.join("v1.1.0");
    let dir = tempfile::tempdir().unwrap();
    let policy_with = |identity: &str| {
        let path = dir.path().join("trust.toml");
        fs::write(
            &path,
            format!(
                r#"
version = 1
[signers.keyless]
sigstore = true
identities = ["{identity}"]
issuer = "https://sigstore.verify.ibm.com/oauth2"
[[models]]
name = "*"
require = ["keyless"]
"#
            ),
        )
        .unwrap();
        Policy::load(&path).unwrap()
    };
    let options = PolicyVerifyOptions {
        model_name: Some("v1.1.0".into()),
        ignore: vec![model.join("ignore-me")],
    };
    let sig = [model.join("model.sig")];
    let ok = policy_with("stefanb@us.ibm.com")
        .verify(&model, &sig, &options, &NoProgress)
        .unwrap();
    assert!(ok.allowed, "{:?}", ok.reasons);
    assert_eq!(ok.signers, vec!["keyless"]);
    let other = policy_with("someone@example.com")
        .verify(&model, &sig, &options, &NoProgress)
        .unwrap();
    assert!(!other.allowed);
    assert!(
        other
            .reasons
            .iter()
            .any(|r| r.contains("someone@example.com") || r.contains("identity")),
        "{:?}",
        other.reasons
    );
    // A sigstore signer needs an issuer.
    let path = dir.path().join("bad.toml");
    fs::write(
        &path,
        "version = 1\n[signers.k]\nsigstore = true\nidentities = [\"a@b\"]\n[[models]]\nname = \"*\"\nrequire = [\"k\"]\n",
    )
    .unwrap();
    let err = Policy::load(&path).unwrap_err().to_string();
    assert!(err.contains("sigstore needs issuer"), "{err}");
}

/// Issue 17 item 6: one key or one certificate identity under two signer names would let one
/// signature count twice towards a threshold.
#[test]
fn aliased_signers_of_one_rule_are_refused() {
    let f = Fixture::new();
    // `release.pem` is the private key of `release.pub.pem`: the same public key.
    let err = f
        .policy(
            "version = 1\n[signers.a]\nkey = \"release.pub.pem\"\n[signers.b]\nkey = \"release.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"a\", \"b\"]\nthreshold = 2\n",
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("models[0].require")
            && err.contains("\"a\" and \"b\"")
            && err.contains("same public key"),
        "{err}"
    );
    // Distinct keys are fine, and so are aliases that no rule requires together.
    f.policy(
        "version = 1\n[signers.a]\nkey = \"release.pub.pem\"\n[signers.b]\nkey = \"release.pem\"\n[signers.c]\nkey = \"ci.pub.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"a\", \"c\"]\nthreshold = 2\n[[models]]\nname = \"dev/*\"\nrequire = [\"b\"]\n",
    )
    .unwrap();
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/oms/ca");
    fs::copy(vectors.join("root.pem"), f.path("root.pem")).unwrap();
    fs::copy(vectors.join("root.pem"), f.path("root-copy.pem")).unwrap();
    let certs = |a: &str, b: &str| {
        f.policy(&format!(
            "version = 1\n[signers.x]\ncert_roots = \"root.pem\"\nidentities = [{a}]\n[signers.y]\ncert_roots = \"root-copy.pem\"\nidentities = [{b}]\n[[models]]\nname = \"*\"\nrequire = [\"x\", \"y\"]\nthreshold = 2\n"
        ))
    };
    let err = certs(
        "\"release@modelseal.test\"",
        "\"ci@modelseal.test\", \"release@modelseal.test\"",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"x\" and \"y\"") && err.contains("release@modelseal.test"),
        "{err}"
    );
    certs("\"release@modelseal.test\"", "\"ci@modelseal.test\"").unwrap();
}

/// Issue 17 item 12: a model name has one spelling.
#[test]
fn model_names_and_rule_patterns_must_be_in_normal_form() {
    let f = Fixture::new();
    let sig = f.sign("release", HashAlgorithm::Sha256);
    let policy = f
        .policy("version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[signers.ci]\nkey = \"ci.pub.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\", \"ci\"]\nthreshold = 2\n[[models]]\nname = \"dev/**\"\nrequire = [\"release\"]\n")
        .unwrap();
    for name in [
        "dev/../prod/llm",
        "dev/",
        "",
        "dev//x",
        "./dev/x",
        "dev/\u{1b}]0;x",
    ] {
        let options = PolicyVerifyOptions {
            model_name: Some(name.to_string()),
            ignore: Vec::new(),
        };
        let err = policy
            .verify(
                &f.model(),
                std::slice::from_ref(&sig),
                &options,
                &NoProgress,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("model name"), "{name:?}: {err}");
    }
    assert!(
        f.decide(&policy, std::slice::from_ref(&sig), "dev/llm")
            .allowed
    );
    for pattern in ["", "dev/", "dev/../*", "./dev/*", "a\tb"] {
        let err = load_error(&format!(
            "version = 1\n[signers.r]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"{}\"\nrequire = [\"r\"]\n",
            pattern.escape_default()
        ));
        assert!(err.contains("models[0].name"), "{pattern:?}: {err}");
    }
}

/// Issue 17 item 10: a policy may not choose the library the verifier loads, and trust files
/// others can write are refused unless allowed.
#[test]
fn module_paths_and_writable_trust_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    let module = f.path("evil.so");
    fs::write(&module, b"junk").unwrap();
    let text = format!(
        "version = 1\n[signers.h]\nkey = \"pkcs11:token=t;object=o?module-path={}\"\n[[models]]\nname = \"*\"\nrequire = [\"h\"]\n",
        module.display()
    );
    let err = f.policy(&text).unwrap_err().to_string();
    assert!(err.contains("not an allowed PKCS#11 module"), "{err}");
    let allowed = PolicyOptions {
        allow_pkcs11_modules: vec![module.clone()],
        ..PolicyOptions::default()
    };
    let err = Policy::load_with(&f.path("trust.toml"), &allowed)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("not an allowed"), "{err}");
    let ok = "version = 1\n[signers.r]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"*\"\nrequire = [\"r\"]\n";
    f.policy(ok).unwrap();
    let path = f.path("trust.toml");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).unwrap();
    let err = Policy::load(&path).unwrap_err();
    assert!(matches!(err, PolicyError::WritableByOthers { .. }), "{err}");
    let lenient = PolicyOptions {
        allow_insecure_permissions: true,
        ..PolicyOptions::default()
    };
    Policy::load_with(&path, &lenient).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(f.path("release.pub.pem"), fs::Permissions::from_mode(0o602)).unwrap();
    let err = Policy::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("release.pub.pem") && err.contains("602"),
        "{err}"
    );
}

/// A protocol-2 pickle importing `os.system` (bytes only: nothing here unpickles it).
const PICKLE: &[u8] = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";

/// Swaps `from` over `to` once every byte of the model has been hashed: the moment between
/// verification and a format check that would read the model again.
struct SwapAfterHashing {
    total: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
    from: std::path::PathBuf,
    to: std::path::PathBuf,
}

impl crate::progress::Progress for SwapAfterHashing {
    fn begin(&self, total: u64) {
        self.total.store(total, std::sync::atomic::Ordering::SeqCst);
    }
    fn advance(&self, bytes: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        let done = self.done.fetch_add(bytes, SeqCst) + bytes;
        if done == self.total.load(SeqCst) && self.from.exists() {
            fs::rename(&self.from, &self.to).unwrap();
        }
    }
}

#[test]
fn deny_formats_judges_the_bytes_that_were_verified_not_a_file_swapped_after() {
    let f = Fixture::new();
    fs::write(f.model().join("model.pkl"), PICKLE).unwrap();
    let policy = f
        .policy(
            r#"
version = 1
deny_formats = ["pickle"]
[signers.release]
key = "release.pub.pem"
[[models]]
name = "prod/*"
require = ["release"]
"#,
        )
        .unwrap();
    let sig = f.sign("release", HashAlgorithm::Sha256);
    // After hashing, model.pkl becomes a text file: a second read would find no pickle.
    fs::write(f.path("text"), b"not a pickle at all").unwrap();
    let swap = SwapAfterHashing {
        total: Default::default(),
        done: Default::default(),
        from: f.path("text"),
        to: f.model().join("model.pkl"),
    };
    let options = PolicyVerifyOptions {
        model_name: Some("prod/llm".into()),
        ..Default::default()
    };
    let d = policy.verify(&f.model(), &[sig], &options, &swap).unwrap();
    assert!(
        !f.path("text").exists(),
        "the swap happened during the decision"
    );
    assert!(!d.allowed);
    assert_eq!(
        d.reasons,
        ["model.pkl: format pickle is denied by the policy's deny_formats (imports os.system)"]
    );
    assert_eq!(crate::scan::format_names(d.formats()), ["pickle"]);
}

/// `decide_verified` judges the signatures over the statement the caller pinned, without reading
/// the model: the same signers, rules and thresholds as `verify`; a signature over another
/// statement does not count; the signed name binds; unexaminable formats fail closed.
#[test]
fn a_decision_over_a_pinned_statement_reads_no_model_and_binds_the_signed_name() {
    let f = Fixture::new();
    let policy = f.policy(TWO_OF_TWO).unwrap();
    let release = f.sign("release", HashAlgorithm::Sha256);
    let claims = |sig: &Path| crate::verify::read_claims(sig).unwrap();
    let pinned = crate::verify::parse_statement(&claims(&release)[0].bundle, &release).unwrap();
    let named = |name: &str| PolicyVerifyOptions {
        model_name: Some(name.to_string()),
        ..Default::default()
    };
    // Changed after it was "verified": the decision does not look (the caller's reads check).
    fs::write(f.model().join("weights.bin"), b"changed").unwrap();
    let decide = |sig: &Path, name: &str, signed: Option<&str>, formats: Option<&Path>| {
        let facts = LoadFacts {
            pinned: Some(&pinned),
            signed_name: signed,
            stage: None,
        };
        let mut told = formats.map(|at| move || formats_of(at));
        policy
            .decide_verified(
                &f.model(),
                &[(sig.to_path_buf(), claims(sig))],
                facts,
                &named(name),
                told.as_mut().map(|t| t as _),
            )
            .unwrap()
    };
    let dev = decide(&release, "dev/llm", None, None);
    assert!(dev.allowed, "{:?}", dev.reasons);
    assert_eq!(dev.signers, vec!["release"]);
    assert_eq!(dev.root_digest, Some(hex::encode(pinned.root_digest)));
    assert_eq!(dev.files, Some(2));

    let prod = decide(&release, "prod/llm", None, None);
    assert!(!prod.allowed);
    assert_eq!(prod.reasons.len(), 1, "{:?}", prod.reasons);
    assert!(prod.reasons[0].contains("rule models[0] \"prod/*\": 1 of the required 2"));

    // The other signer signed the changed model: another statement, which does not count.
    let ci = f.sign("ci", HashAlgorithm::Sha256);
    let other = decide(&ci, "dev/llm", None, None);
    assert!(!other.allowed);
    assert!(
        other.reasons[0].contains("not the statement the model was opened under"),
        "{:?}",
        other.reasons
    );
    assert_eq!(other.signatures[0].signers, vec!["ci"]);
    assert!(!other.signatures[0].verified);

    // An encrypted model's signed name binds: another caller's name is a reason.
    let bound = decide(&release, "dev/llm", Some("prod/llm"), None);
    assert!(!bound.allowed);
    assert_eq!(bound.model_name, "prod/llm");
    assert!(bound
        .reasons
        .iter()
        .any(|r| r.contains("is not the signed name")));

    // Formats that cannot be examined deny under deny_formats; examined, they are judged.
    let denying = f
        .policy(&TWO_OF_TWO.replace("version = 1\n", "version = 1\ndeny_formats = [\"gguf\"]\n"))
        .unwrap();
    let under_deny = |formats_at: Option<&Path>| {
        let facts = LoadFacts {
            pinned: Some(&pinned),
            ..LoadFacts::default()
        };
        let mut told = formats_at.map(|at| move || formats_of(at));
        denying
            .decide_verified(
                &f.model(),
                &[(release.clone(), claims(&release))],
                facts,
                &named("dev/llm"),
                told.as_mut().map(|t| t as _),
            )
            .unwrap()
    };
    let unexamined = under_deny(None);
    assert!(!unexamined.allowed);
    assert!(
        unexamined.reasons[0].contains("cannot tell the model's formats"),
        "{:?}",
        unexamined.reasons
    );
    let examined = under_deny(Some(&f.model()));
    assert!(examined.allowed, "{:?}", examined.reasons);
    // The formats given are judged: a pickle among them denies.
    fs::write(f.model().join("weights.bin"), PICKLE).unwrap();
    let no_pickle = f
        .policy(&TWO_OF_TWO.replace(
            "version = 1\n",
            "version = 1\ndeny_formats = [\"pickle\"]\n",
        ))
        .unwrap();
    let mut told = || formats_of(&f.model());
    let denied = no_pickle
        .decide_verified(
            &f.model(),
            &[(release.clone(), claims(&release))],
            LoadFacts {
                pinned: Some(&pinned),
                ..LoadFacts::default()
            },
            &named("dev/llm"),
            Some(&mut told),
        )
        .unwrap();
    assert!(!denied.allowed);
    assert!(
        denied.reasons[0].contains("weights.bin: format pickle is denied"),
        "{:?}",
        denied.reasons
    );
}

/// The formats of the files under `at` (what a load tells from verified bytes, in this test
/// read from disk).
fn formats_of(at: &Path) -> Result<Vec<crate::scan::FileFormat>, crate::verify::VerifyError> {
    let tree = crate::tree::walk(at, &crate::tree::WalkOptions::default()).unwrap();
    Ok(crate::scan::detect_formats(&tree).unwrap())
}
