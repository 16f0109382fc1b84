//! A trust-policy fixture shared by the policy and serve tests: a two-file model `llm`, three
//! P-256 key pairs (`release`, `ci`, `other`) made by `modelseal keygen`, and `trust.toml`
//! trusting `release` and `ci` (`prod/*` needs both, `dev/*` needs `release`) — all in one
//! temporary directory.

use super::{keygen_p256, ok, s};
use std::path::PathBuf;

/// The fixture directory.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub model: PathBuf,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("llm");
        std::fs::create_dir_all(model.join("sub")).unwrap();
        std::fs::write(model.join("weights.bin"), vec![3u8; 5000]).unwrap();
        std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
        for name in ["release", "ci", "other"] {
            keygen_p256(dir.path(), name);
        }
        std::fs::write(dir.path().join("trust.toml"), TRUST_TOML).unwrap();
        Setup { dir, model }
    }

    /// A path inside the fixture directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Signs `llm` with key `key` into `llm.KEY.sig`.
    pub fn sign(&self, key: &str) -> PathBuf {
        let sig = self.path(&format!("llm.{key}.sig"));
        ok(&[
            "sign",
            s(&self.model),
            "--key",
            s(&self.path(&format!("{key}.pem"))),
            "-o",
            s(&sig),
            "--quiet",
        ]);
        sig
    }
}

/// The fixture's policy.
pub const TRUST_TOML: &str = r#"version = 1
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
require = ["release"]
"#;
