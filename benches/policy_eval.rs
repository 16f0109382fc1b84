//! What a trust policy adds to one verification (issue 8 target: TOML + Rego < 1 ms/request).
//!
//! One 1 KiB model signed with a P-256 key is verified three ways, in one process, on warm
//! caches: plain `verify_model` with the public key (no policy), `Policy::verify` under a TOML
//! policy (signers, a glob rule, threshold), and the same policy with a Rego file (the engine is
//! cloned and `data.modelseal.deny` evaluated per request, as the server does). The model is tiny
//! so hashing does not hide the difference; the differences of the medians are the policy step.
//!
//! `cargo bench -p modelseal-benches --bench policy_eval`

use criterion::{criterion_group, criterion_main, Criterion};
use modelseal::keys::{KeyAlgorithm, KeyOptions, KeyRef};
use modelseal::policy::{Policy, PolicyVerifyOptions};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use modelseal::trust::Trust;
use modelseal::verify::{verify_model, VerifyOptions};
use std::path::PathBuf;
use std::time::Duration;

const POLICY: &str = r#"version = 1
[signers.release]
key = "release.pub.pem"
[signers.ci]
key = "ci.pub.pem"
[[models]]
name = "dev/*"
require = ["release"]
[[models]]
name = "prod/*"
require = ["release", "ci"]
threshold = 1
"#;

const REGO: &str = r#"package modelseal

deny contains msg if {
  input.files > 100000
  msg := sprintf("%s: too many files (%d)", [input.model_name, input.files])
}

deny contains msg if {
  not input.serialization.hash_type in {"sha256", "blake3"}
  msg := "hash type not allowed"
}

deny contains msg if {
  not "release" in input.signers
  msg := "release must sign"
}
"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut public = None;
    for name in ["release", "ci"] {
        let key = modelseal::internals::keys::file::generate_signing_key(
            KeyAlgorithm::EcP256,
            &path(&format!("{name}.pem")),
            Some(&path(&format!("{name}.pub.pem"))),
            false,
        )
        .unwrap();
        public.get_or_insert(key);
    }
    let model = path("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("weights.bin"), vec![7u8; 1024]).unwrap();
    let key: KeyRef = path("release.pem").to_str().unwrap().parse().unwrap();
    let signer = modelseal::internals::keys::open_signer(&key, &KeyOptions::default()).unwrap();
    let sig = path("model.sig");
    let options = SignOptions {
        signature: Some(sig.clone()),
        ..SignOptions::default()
    };
    sign_model(&model, signer.as_ref(), &options, &NoProgress).unwrap();
    std::fs::write(path("toml.toml"), POLICY).unwrap();
    std::fs::write(path("deploy.rego"), REGO).unwrap();
    std::fs::write(
        path("rego.toml"),
        format!("{POLICY}[rego]\nfile = \"deploy.rego\"\n"),
    )
    .unwrap();

    let trust = Trust::PublicKey(public.unwrap());
    let sigs: Vec<PathBuf> = vec![sig.clone()];
    let named = PolicyVerifyOptions {
        model_name: Some("dev/model".into()),
        ..PolicyVerifyOptions::default()
    };
    let mut group = c.benchmark_group("policy_eval");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("verify, no policy", |b| {
        b.iter(|| {
            verify_model(&model, &sig, &trust, &VerifyOptions::default(), &NoProgress).unwrap()
        })
    });
    for (label, file) in [("TOML", "toml.toml"), ("TOML + Rego", "rego.toml")] {
        let policy = Policy::load(&path(file)).unwrap();
        let decision = policy.verify(&model, &sigs, &named, &NoProgress).unwrap();
        assert!(decision.allowed(), "{:?}", decision.reasons());
        group.bench_function(format!("verify --policy, {label}"), |b| {
            b.iter(|| policy.verify(&model, &sigs, &named, &NoProgress).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
