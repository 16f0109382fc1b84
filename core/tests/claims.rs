//! Claims files at the library level (issue 16 item 5): the model is hashed once however many
//! lines share a serialization, and a `serve` request naming a claims file gets one outcome per
//! line, named by the request's own path.

use modelseal::hook::{ConfinedRoot, VerifyRequest};
use modelseal::keys::open_signer;
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
    /// A model `llm` (one file of [`MODEL_BYTES`]) and `claims.jsonl`: line 1 signed by `a`
    /// over an earlier version of the model (same serialization, another root digest), lines
    /// 2–4 by `a`, `b`, `c` over the model as it is.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        std::fs::create_dir(&model).unwrap();
        let f = Fixture { dir };
        for name in ["a", "b", "c"] {
            modelseal::keys::generate(
                KeyKind::EcP256,
                &f.path(&format!("{name}.pem")),
                Some(&f.path(&format!("{name}.pub.pem"))),
                false,
            )
            .unwrap();
        }
        std::fs::write(model.join("weights.bin"), vec![4u8; MODEL_BYTES]).unwrap();
        f.append("a");
        std::fs::write(model.join("weights.bin"), vec![5u8; MODEL_BYTES]).unwrap();
        for name in ["a", "b", "c"] {
            f.append(name);
        }
        std::fs::write(
            f.path("trust.toml"),
            "version = 1\n[signers.a]\nkey = \"a.pub.pem\"\n[signers.b]\nkey = \"b.pub.pem\"\n\
             [signers.c]\nkey = \"c.pub.pem\"\n[[models]]\nname = \"*\"\nrequire = [\"a\", \"b\", \"c\"]\nthreshold = 3\n",
        )
        .unwrap();
        f
    }

    /// Signs the model with key `name` onto a new line of `claims.jsonl`.
    fn append(&self, name: &str) {
        let signer = open_signer(
            &KeyRef::File(self.path(&format!("{name}.pem"))),
            &KeyOptions::default(),
        )
        .unwrap();
        let options = SignOptions {
            signature: Some(self.path("claims.jsonl")),
            output: OutputMode::Append,
            ..SignOptions::default()
        };
        sign_model(&self.model(), signer.as_ref(), &options, &Hashed::default()).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn model(&self) -> PathBuf {
        self.path("llm")
    }

    fn trust(&self, key: &str) -> Trust {
        Trust::from_options(&TrustOptions {
            key: Some(self.path(&format!("{key}.pub.pem")).display().to_string()),
            ..TrustOptions::default()
        })
        .unwrap()
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
    // Line 1 (over the earlier model) does not count, and denies nothing: lines 2–4 meet the rule.
    assert!(decision.allowed(), "{:?}", decision.reasons());
    assert_eq!(decision.signers(), ["a", "b", "c"]);
    let verified: Vec<bool> = decision.signatures().iter().map(|o| o.verified).collect();
    assert_eq!(verified, [false, true, true, true]);
    assert_eq!(hashed.0.load(Ordering::Relaxed), MODEL_BYTES as u64);

    // `verify --key a`: line 1's manifest does not match, line 2's does; the model hashed once.
    let hashed = Hashed::default();
    let verified = verify_model(
        &f.model(),
        &f.path("claims.jsonl"),
        &f.trust("a"),
        &VerifyOptions::default(),
        &hashed,
    )
    .unwrap();
    assert_eq!(verified.line(), Some(2));
    assert_eq!(hashed.0.load(Ordering::Relaxed), MODEL_BYTES as u64);
    // `verify --key c`: lines 1–3 are not c's, line 4 is.
    let verified = verify_model(
        &f.model(),
        &f.path("claims.jsonl"),
        &f.trust("c"),
        &VerifyOptions::default(),
        &Hashed::default(),
    )
    .unwrap();
    assert_eq!(verified.line(), Some(4));
}

#[test]
fn a_serve_request_names_each_line_by_its_own_path() {
    let f = Fixture::new();
    let policy = Policy::load(&f.path("trust.toml")).unwrap();
    let root = ConfinedRoot::new(f.dir.path()).unwrap();
    let request =
        VerifyRequest::parse(br#"{"model": "llm", "signatures": ["claims.jsonl"]}"#).unwrap();
    let decision = policy
        .verify_request(&root, &request, Default::default())
        .unwrap();
    let outcomes: Vec<(&Path, Option<usize>, bool)> = decision
        .signatures()
        .iter()
        .map(|o| (o.path.as_path(), o.line, o.verified))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Path::new("claims.jsonl"), Some(1), false),
            (Path::new("claims.jsonl"), Some(2), true),
            (Path::new("claims.jsonl"), Some(3), true),
            (Path::new("claims.jsonl"), Some(4), true),
        ]
    );
}
