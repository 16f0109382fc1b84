//! Claims files at the library level (issue 16 item 5): the model is hashed once however many
//! lines share a serialization, and a `serve` request naming a claims file gets one outcome per
//! line, named by the request's own path.

use modelseal::fs::confine::ConfinedRoot;
use modelseal::hook::VerifyRequest;
use modelseal::keys::open::open_signer;
use modelseal::keys::{KeyKind, KeyOptions, KeyRef};
use modelseal::policy::{Policy, PolicyVerifyOptions};
use modelseal::progress::Progress;
use modelseal::sign::{sign_model, OutputMode, SignOptions};
use modelseal::trust::{Trust, TrustOptions};
use modelseal::verify::{verify_model, VerifyOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MODEL_BYTES: usize = 300_000;

/// Counts the bytes hashed.
#[derive(Default)]
struct Hashed(AtomicU64);

impl Progress for Hashed {
    fn advance(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A model `llm` (one file of [`MODEL_BYTES`]) signed by keys `a`, `b`, `c` into
    /// `claims.jsonl`, one line each.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("weights.bin"), vec![5u8; MODEL_BYTES]).unwrap();
        let f = Fixture { dir };
        for name in ["a", "b", "c"] {
            modelseal::keys::file::generate(
                KeyKind::EcP256,
                &f.path(&format!("{name}.pem")),
                Some(&f.path(&format!("{name}.pub.pem"))),
                false,
            )
            .unwrap();
            let signer = open_signer(
                &KeyRef::File(f.path(&format!("{name}.pem"))),
                &KeyOptions::default(),
            )
            .unwrap();
            let options = SignOptions {
                signature: Some(f.path("claims.jsonl")),
                output: OutputMode::Append,
                ..SignOptions::default()
            };
            sign_model(&model, signer.as_ref(), &options, &Hashed::default()).unwrap();
        }
        std::fs::write(
            f.path("trust.toml"),
            "version = 1\n[signers.a]\nkey = \"a.pub.pem\"\n[signers.b]\nkey = \"b.pub.pem\"\n\
             [signers.c]\nkey = \"c.pub.pem\"\n[[models]]\nname = \"*\"\nrequire = [\"a\", \"b\", \"c\"]\nthreshold = 3\n",
        )
        .unwrap();
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn model(&self) -> PathBuf {
        self.path("llm")
    }
}

#[test]
fn lines_sharing_a_serialization_hash_the_model_once() {
    let f = Fixture::new();
    let policy = Policy::load(&f.path("trust.toml")).unwrap();
    let hashed = Hashed::default();
    let decision = policy
        .verify(
            &f.model(),
            &[f.path("claims.jsonl")],
            &PolicyVerifyOptions::default(),
            &hashed,
        )
        .unwrap();
    assert!(decision.allowed(), "{:?}", decision.reasons());
    assert_eq!(decision.signers(), ["a", "b", "c"]);
    assert_eq!(hashed.0.load(Ordering::Relaxed), MODEL_BYTES as u64);

    // `verify --key c`: lines 1 and 2 are not c's, line 3 is; hashed once.
    let trust = Trust::from_options(&TrustOptions {
        key: Some(f.path("c.pub.pem").display().to_string()),
        ..TrustOptions::default()
    })
    .unwrap();
    let hashed = Hashed::default();
    let verified = verify_model(
        &f.model(),
        &f.path("claims.jsonl"),
        &trust,
        &VerifyOptions::default(),
        &hashed,
    )
    .unwrap();
    assert_eq!(verified.line(), Some(3));
    assert_eq!(hashed.0.load(Ordering::Relaxed), MODEL_BYTES as u64);
}

#[test]
fn a_serve_request_names_each_line_by_its_own_path() {
    let f = Fixture::new();
    let policy = Policy::load(&f.path("trust.toml")).unwrap();
    let root = ConfinedRoot::new(f.dir.path()).unwrap();
    let request =
        VerifyRequest::parse(br#"{"model": "llm", "signatures": ["claims.jsonl"]}"#).unwrap();
    let decision = policy.verify_request(&root, &request).unwrap();
    assert!(decision.allowed(), "{:?}", decision.reasons());
    let outcomes: Vec<(&Path, Option<usize>, bool)> = decision
        .signatures()
        .iter()
        .map(|o| (o.path.as_path(), o.line, o.verified))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Path::new("claims.jsonl"), Some(1), true),
            (Path::new("claims.jsonl"), Some(2), true),
            (Path::new("claims.jsonl"), Some(3), true),
        ]
    );
}
