//! Verify on load of encrypted and sealed models (`modelseal::open_encrypted_model`): a read hands
//! over the signed plaintext, decrypted in memory; a changed ciphertext chunk, a re-encrypted
//! changed plaintext, or an extra or missing file fails before any byte is handed over; and
//! nothing decrypted is ever written to the file system.

use modelseal::digest::{HashAlgorithm, Method};
use modelseal::envelope::{encrypt, plaintext_from_path, EncryptOptions};
use modelseal::internals::keys::file::kek::KekWrapper;
use modelseal::internals::keys::{self, KeyAlgorithm, KeyOptions, KeyRef};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use modelseal::trust::Trust;
use modelseal::verify::VerifyOptions;
use modelseal::{
    open_encrypted_model, seal_model, DeployError, ErrorClass, OpenedModel, SealOptions,
};
use std::path::{Path, PathBuf};

const WEIGHTS: &str = "weights.bin";

fn weights() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn kek() -> KekWrapper {
    KekWrapper::from_bytes([9; 32])
}

/// Every file under `dir` with its bytes, sorted: what the file system holds.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    trust: Trust,
}

impl Fixture {
    /// A two-file plaintext model and a signing key.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join(WEIGHTS), weights()).unwrap();
        std::fs::write(model.join("config.json"), b"{}").unwrap();
        let public = keys::file::generate_signing_key(
            KeyAlgorithm::EcP256,
            &dir.path().join("key.pem"),
            None,
            false,
        )
        .unwrap();
        Fixture {
            dir,
            trust: Trust::PublicKey(public),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sign_options(method: Method) -> SignOptions {
        SignOptions {
            hash: HashAlgorithm::Sha256,
            method,
            ..SignOptions::default()
        }
    }

    fn signer(&self) -> Box<dyn modelseal::keys::Signer> {
        keys::open_signer(&KeyRef::File(self.path("key.pem")), &KeyOptions::default()).unwrap()
    }

    /// `modelseal sign` then `modelseal encrypt`: the signature signs the plaintext.
    fn encrypted(&self, method: Method) -> (PathBuf, PathBuf) {
        let model = self.path("model");
        let signer = self.signer();
        let signed = sign_model(
            &model,
            signer.as_ref(),
            &Self::sign_options(method),
            &NoProgress,
        )
        .unwrap();
        let enc = self.path("enc");
        let options = EncryptOptions {
            chunk_size: 4096,
            ..EncryptOptions::default()
        };
        encrypt(
            &plaintext_from_path(&model).unwrap(),
            &[&kek()],
            &enc,
            &options,
        )
        .unwrap();
        (enc, signed.signature_path)
    }

    /// `modelseal seal`: the outer signature is `enc.sig`.
    fn sealed(&self, method: Method) -> (PathBuf, PathBuf) {
        let enc = self.path("enc");
        let options = SealOptions {
            sign: Self::sign_options(method),
            chunk_size: Some(4096),
            ..SealOptions::default()
        };
        let signer = self.signer();
        let outcome = seal_model(
            &self.path("model"),
            signer.as_ref(),
            &[&kek()],
            &enc,
            &options,
        )
        .unwrap();
        (enc, outcome.outer.signature_path)
    }

    fn open(&self, enc: &Path, signature: &Path) -> Result<OpenedModel, DeployError> {
        open_encrypted_model(
            enc,
            &[signature.to_path_buf()],
            &self.trust,
            &VerifyOptions::default(),
            &kek(),
        )
    }
}

fn methods() -> [Method; 2] {
    [Method::Files, Method::Shards { shard_size: 10_000 }]
}

type Make = fn(&Fixture, Method) -> (PathBuf, PathBuf);

fn both() -> [(&'static str, Make); 2] {
    [
        ("encrypted", Fixture::encrypted as Make),
        ("sealed", Fixture::sealed as Make),
    ]
}

#[test]
fn reads_return_the_signed_plaintext_and_write_nothing() {
    for (kind, make) in both() {
        for method in methods() {
            let fixture = Fixture::new();
            let (enc, sig) = make(&fixture, method);
            let before = snapshot(fixture.dir.path());
            let opened = fixture.open(&enc, &sig).unwrap();
            assert_eq!(
                opened.file_names().collect::<Vec<_>>(),
                ["config.json", WEIGHTS],
                "{kind}"
            );
            assert_eq!(opened.read_file(WEIGHTS).unwrap(), weights(), "{kind}");
            assert_eq!(opened.read_file("config.json").unwrap(), b"{}", "{kind}");
            assert_eq!(
                opened.read_range(WEIGHTS, 123_456, 200_001).unwrap(),
                weights()[123_456..200_001],
                "{kind}"
            );
            assert_eq!(
                snapshot(fixture.dir.path()),
                before,
                "{kind}: files written"
            );
        }
    }
}

#[test]
fn a_changed_ciphertext_chunk_fails_the_read() {
    for (kind, make) in both() {
        for method in methods() {
            let fixture = Fixture::new();
            let (enc, sig) = make(&fixture, method);
            let opened = fixture.open(&enc, &sig).unwrap();
            let mut ciphertext = std::fs::read(enc.join(WEIGHTS)).unwrap();
            // Chunk 50 of 4096 + 16 bytes: plaintext bytes 204800..208896.
            ciphertext[50 * 4112 + 7] ^= 1;
            std::fs::write(enc.join(WEIGHTS), &ciphertext).unwrap();
            let err = opened.read_file(WEIGHTS).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Failed, "{kind}: {err}");
            assert!(err.to_string().contains("chunk 50"), "{kind}: {err}");
            let err = opened.read_range(WEIGHTS, 205_000, 205_001).unwrap_err();
            assert!(err.to_string().contains(WEIGHTS), "{kind}: {err}");
            if matches!(method, Method::Shards { .. }) {
                // Shards that the changed chunk does not touch still read.
                assert_eq!(
                    opened.read_range(WEIGHTS, 0, 10_000).unwrap(),
                    weights()[..10_000]
                );
            }
            // A model opened after the change fails too: at the outer signature when sealed
            // (the ciphertext is signed), else in the read.
            match fixture.open(&enc, &sig) {
                Ok(again) => assert!(again.read_file(WEIGHTS).is_err(), "{kind}"),
                Err(err) => assert_eq!(err.class(), ErrorClass::Failed, "{kind}: {err}"),
            }
        }
    }
}

#[test]
fn a_changed_plaintext_encrypted_again_fails() {
    // Anyone holding a recipient key can make a valid encryption: the signature must catch it.
    let fixture = Fixture::new();
    let (enc, sig) = fixture.encrypted(Method::Files);
    let mut changed = weights();
    changed[1000] ^= 1;
    std::fs::write(fixture.path("model").join(WEIGHTS), &changed).unwrap();
    std::fs::remove_dir_all(&enc).unwrap();
    let options = EncryptOptions {
        chunk_size: 4096,
        ..EncryptOptions::default()
    };
    let plaintext = plaintext_from_path(&fixture.path("model")).unwrap();
    encrypt(&plaintext, &[&kek()], &enc, &options).unwrap();
    let opened = fixture.open(&enc, &sig).unwrap();
    let err = opened.read_file(WEIGHTS).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Failed, "{err}");
    assert!(err.to_string().contains(WEIGHTS), "{err}");
}

#[test]
fn an_extra_or_missing_encrypted_file_fails_at_open() {
    for (kind, make) in both() {
        let fixture = Fixture::new();
        let (enc, sig) = make(&fixture, Method::Files);
        std::fs::write(enc.join("extra.bin"), b"x").unwrap();
        let err = fixture.open(&enc, &sig).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Failed, "{kind}: {err}");
        assert!(err.to_string().contains("extra.bin"), "{kind}: {err}");
        std::fs::remove_file(enc.join("extra.bin")).unwrap();
        std::fs::remove_file(enc.join("config.json")).unwrap();
        let err = fixture.open(&enc, &sig).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Failed, "{kind}: {err}");
        assert!(err.to_string().contains("config.json"), "{kind}: {err}");
    }
}

#[test]
fn a_wrong_key_opens_nothing() {
    for (kind, make) in both() {
        let fixture = Fixture::new();
        let (enc, sig) = make(&fixture, Method::Files);
        let err = open_encrypted_model(
            &enc,
            std::slice::from_ref(&sig),
            &fixture.trust,
            &VerifyOptions::default(),
            &KekWrapper::from_bytes([1; 32]),
        )
        .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Failed, "{kind}: {err}");
    }
}
