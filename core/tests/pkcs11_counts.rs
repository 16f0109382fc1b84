//! A 2000-file model through a SoftHSM2 token costs exactly one token signature, one wrap per HSM
//! recipient and one unwrap per decryption (DESIGN.md), shown twice: by counting wrappers around the
//! backends (what `sign`/`seal` ask for) and by the backend's own token-call counters (what reaches
//! the token). Its own test process, so that no other test's token calls are counted.

mod softhsm;

use modelseal::internals::envelope::{self, DecryptOptions, EncryptOptions};
use modelseal::internals::keys::pkcs11;
use modelseal::internals::keys::{self, KeyError, KeyOptions, KeyRef, PublicKey, Signer};
use modelseal::internals::keys::{open_identity, open_recipient};
use modelseal::internals::rng::Entropy;
use modelseal::keys::{DataKey, Identity, Recipient, Stanza, StanzaKey, WrapContext};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use softhsm::shared;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn key(uri: &str) -> KeyRef {
    uri.parse().unwrap()
}

fn model(dir: &Path, files: usize) -> PathBuf {
    let root = dir.join("model");
    std::fs::create_dir_all(&root).unwrap();
    for i in 0..files {
        std::fs::write(root.join(format!("f{i:04}.bin")), format!("file {i}\n")).unwrap();
    }
    root
}

/// Counts calls through to a real signer.
struct CountingSigner<'a>(&'a dyn Signer, AtomicUsize);
impl Signer for CountingSigner<'_> {
    fn public_key(&self) -> &PublicKey {
        self.0.public_key()
    }
    fn certificate_chain(&self) -> &[Vec<u8>] {
        self.0.certificate_chain()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.sign(message)
    }
    fn key_id(&self) -> String {
        self.0.key_id()
    }
}

/// Counts wraps and unwraps through to a real key (opened once as a recipient, once as an identity).
struct CountingWrapper<'a>(
    &'a dyn Recipient,
    AtomicUsize,
    AtomicUsize,
    &'a dyn Identity,
);
impl StanzaKey for CountingWrapper<'_> {
    fn stanza_type(&self) -> &str {
        self.0.stanza_type()
    }
    fn key_id(&self) -> &str {
        self.0.key_id()
    }
}
impl Recipient for CountingWrapper<'_> {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.wrap(dek, ctx, entropy)
    }
}
impl Identity for CountingWrapper<'_> {
    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        self.2.fetch_add(1, Ordering::SeqCst);
        self.3.unwrap(stanza, ctx)
    }
}

#[test]
fn a_2000_file_model_costs_one_signature_one_wrap_per_recipient_one_unwrap() {
    let hsm = shared();
    let dir = tempfile::tempdir().unwrap();
    let root = model(dir.path(), 2000);

    let inner = keys::open_signer(&key(&hsm.uri("ec-p256")), &KeyOptions::default()).unwrap();
    let signer = CountingSigner(inner.as_ref(), AtomicUsize::new(0));
    let before = pkcs11::call_counts();
    let options = SignOptions {
        signature: Some(dir.path().join("model.sig")),
        ..SignOptions::default()
    };
    let outcome = sign_model(&root, &signer, &options, &NoProgress).unwrap();
    assert_eq!(outcome.statement.resources.len(), 2000);
    assert_eq!(signer.1.load(Ordering::SeqCst), 1);
    let calls = pkcs11::call_counts().since(&before);
    assert_eq!((calls.signs, calls.wraps, calls.unwraps), (1, 0, 0));

    let opts = KeyOptions::default();
    let (aes_key, rsa_key) = (key(&hsm.uri("aes-wrap")), key(&hsm.uri("rsa-3072")));
    let (aes, aes_id) = (
        open_recipient(&aes_key, &opts).unwrap(),
        open_identity(&aes_key, &opts).unwrap(),
    );
    let (rsa, rsa_id) = (
        open_recipient(&rsa_key, &opts).unwrap(),
        open_identity(&rsa_key, &opts).unwrap(),
    );
    let count = |r, i| CountingWrapper(r, AtomicUsize::new(0), AtomicUsize::new(0), i);
    let aes = count(aes.as_ref(), aes_id.as_ref());
    let rsa = count(rsa.as_ref(), rsa_id.as_ref());
    let plain = envelope::plaintext_from_path(&root).unwrap();
    let enc = dir.path().join("enc");
    let before = pkcs11::call_counts();
    envelope::encrypt(&plain, &[&aes, &rsa], &enc, &EncryptOptions::default()).unwrap();
    let calls = pkcs11::call_counts().since(&before);
    assert_eq!(aes.1.load(Ordering::SeqCst), 1);
    assert_eq!(rsa.1.load(Ordering::SeqCst), 1);
    // In the token: one AES wrap; RSA wraps in software with the token's public key, after at
    // most one probe of which OAEP hash the token decrypts.
    assert_eq!((calls.wraps, calls.unwraps, calls.signs), (1, 0, 0));
    assert!(calls.probes <= 2, "{calls:?}");

    for (i, id) in [&aes, &rsa].into_iter().enumerate() {
        let before = pkcs11::call_counts();
        let out = dir.path().join(format!("dec{i}"));
        let summary = envelope::decrypt(&enc, id, &out, &DecryptOptions::default()).unwrap();
        assert_eq!(summary.files, 2000);
        assert_eq!(id.2.load(Ordering::SeqCst), 1);
        let calls = pkcs11::call_counts().since(&before);
        assert_eq!((calls.unwraps, calls.wraps, calls.probes), (1, 0, 0));
    }
    // Everything above shared one login.
    assert_eq!(pkcs11::call_counts().logins, 1);
}
