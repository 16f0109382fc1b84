//! Property tests: any change to a signed model or to the signed payload makes verification fail
//! as a *verification failure* (CLI exit 1), naming the cause.

use base64::Engine as _;
use modelseal::digest::{HashAlgorithm, Method};
use modelseal::internals::keys::{self, KeyAlgorithm, KeyOptions, KeyRef};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use modelseal::trust::Trust;
use modelseal::verify::{verify_model, VerifyError, VerifyOptions};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

struct Fixture {
    _dir: tempfile::TempDir,
    model: PathBuf,
    signature: PathBuf,
    trust: Trust,
    files: Vec<String>,
}

fn fixture(files: &[(String, Vec<u8>)], hash: HashAlgorithm, method: Method) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    for (name, data) in files {
        let path = model.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    std::fs::create_dir_all(&model).unwrap();
    let key = dir.path().join("key.pem");
    let public = keys::file::generate_signing_key(KeyAlgorithm::EcP256, &key, None, false).unwrap();
    let signer = keys::open_signer(&KeyRef::File(key), &KeyOptions::default()).unwrap();
    let options = SignOptions {
        hash,
        method,
        ..SignOptions::default()
    };
    let outcome = sign_model(&model, signer.as_ref(), &options, &NoProgress).unwrap();
    Fixture {
        model,
        signature: outcome.signature_path,
        trust: Trust::PublicKey(public),
        files: files.iter().map(|(n, _)| n.clone()).collect(),
        _dir: dir,
    }
}

fn verify(f: &Fixture) -> Result<(), VerifyError> {
    verify_model(
        &f.model,
        &f.signature,
        &f.trust,
        &VerifyOptions::default(),
        &NoProgress,
    )
    .map(|_| ())
}

fn assert_failure_naming(f: &Fixture, name: &str) {
    let err = verify(f).expect_err("verification must fail");
    assert!(
        err.class().is_failure(),
        "not a verification failure: {err}"
    );
    assert!(err.to_string().contains(name), "{err} does not name {name}");
}

/// Distinct file names in a small nested tree (some sharing prefixes, to stress ordering).
fn model_files() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "a", "b", "a-b", "a.txt", "B", "d/x", "d/y.bin", "d/e/f", "sp ace", "c:olon", "z/z/z",
    ]);
    prop::collection::btree_map(name, prop::collection::vec(any::<u8>(), 0..3000), 1..6).prop_map(
        |m| {
            // `a` as a file and `a/...` as a directory cannot coexist; the chosen names avoid that.
            m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        },
    )
}

fn config() -> impl Strategy<Value = (HashAlgorithm, Method)> {
    prop_oneof![
        Just((HashAlgorithm::Sha256, Method::Files)),
        Just((HashAlgorithm::Blake2b, Method::Files)),
        Just((HashAlgorithm::Blake3, Method::Files)),
        Just((HashAlgorithm::Sha256, Method::Shards { shard_size: 700 })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn untouched_model_verifies(files in model_files(), (hash, method) in config()) {
        let f = fixture(&files, hash, method);
        prop_assert!(verify(&f).is_ok());
    }

    #[test]
    fn any_flipped_byte_is_detected(files in model_files(), (hash, method) in config(), pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = fixture(&files, hash, method);
        let non_empty: Vec<_> = files.iter().filter(|(_, d)| !d.is_empty()).collect();
        prop_assume!(!non_empty.is_empty());
        let (name, data) = non_empty[pick.index(non_empty.len())];
        let mut data = data.clone();
        let i = at.index(data.len());
        data[i] ^= 1 << bit;
        std::fs::write(f.model.join(name), &data).unwrap();
        assert_failure_naming(&f, name);
    }

    #[test]
    fn truncation_or_extension_is_detected(files in model_files(), pick in any::<prop::sample::Index>(), extend in any::<bool>()) {
        let f = fixture(&files, HashAlgorithm::Sha256, Method::Files);
        let (name, data) = &files[pick.index(files.len())];
        let mut data = data.clone();
        if extend || data.is_empty() { data.push(0) } else { data.pop(); }
        std::fs::write(f.model.join(name), &data).unwrap();
        assert_failure_naming(&f, name);
    }

    #[test]
    fn added_file_is_detected(files in model_files(), (hash, method) in config()) {
        let f = fixture(&files, hash, method);
        std::fs::write(f.model.join("added.bin"), b"new").unwrap();
        assert_failure_naming(&f, "added.bin");
    }

    #[test]
    fn removed_file_is_detected(files in model_files(), pick in any::<prop::sample::Index>()) {
        let f = fixture(&files, HashAlgorithm::Sha256, Method::Files);
        let name = &f.files[pick.index(f.files.len())];
        std::fs::remove_file(f.model.join(name)).unwrap();
        assert_failure_naming(&f, name);
    }

    #[test]
    fn renamed_file_is_detected(files in model_files(), pick in any::<prop::sample::Index>()) {
        let f = fixture(&files, HashAlgorithm::Sha256, Method::Files);
        let name = &f.files[pick.index(f.files.len())];
        let from = f.model.join(name);
        let to = from.with_file_name("renamed.bin");
        std::fs::rename(&from, &to).unwrap();
        assert_failure_naming(&f, name);
    }

    #[test]
    fn any_payload_byte_edit_is_detected(files in model_files(), at in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let f = fixture(&files, HashAlgorithm::Sha256, Method::Files);
        edit_payload(&f.signature, |payload| {
            let i = at.index(payload.len());
            payload[i] = payload[i].wrapping_add(delta);
        });
        let err = verify(&f).expect_err("an edited payload must not verify");
        prop_assert!(err.class().is_failure(), "not a verification failure: {}", err);
    }
}

/// Decodes the bundle's DSSE payload, edits it, and writes the bundle back (signature unchanged).
fn edit_payload(signature: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(signature).unwrap()).unwrap();
    let encoded = bundle["dsseEnvelope"]["payload"]
        .as_str()
        .unwrap()
        .to_string();
    let mut payload = b64.decode(encoded).unwrap();
    edit(&mut payload);
    bundle["dsseEnvelope"]["payload"] = serde_json::Value::String(b64.encode(&payload));
    std::fs::write(signature, serde_json::to_vec(&bundle).unwrap()).unwrap();
}

#[test]
fn signature_inside_the_model_is_ignored_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("w.bin"), b"weights").unwrap();
    let key = dir.path().join("k.pem");
    let public = keys::file::generate_signing_key(KeyAlgorithm::EcP384, &key, None, false).unwrap();
    let signer = keys::open_signer(&KeyRef::File(key), &KeyOptions::default()).unwrap();
    let options = SignOptions {
        signature: Some(model.join("model.sig")),
        ..SignOptions::default()
    };
    let outcome = sign_model(&model, signer.as_ref(), &options, &NoProgress).unwrap();
    assert_eq!(outcome.statement.resources.len(), 1);
    assert!(outcome
        .statement
        .serialization
        .ignore_paths
        .contains(&"model.sig".to_string()));
    let verified = verify_model(
        &model,
        &model.join("model.sig"),
        &Trust::PublicKey(public),
        &VerifyOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(verified.resources().len(), 1);
}
