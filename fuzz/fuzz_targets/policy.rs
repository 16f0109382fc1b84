//! The trust policy parser (TOML, docs/policy.md): any bytes as a policy file must load or fail
//! with an error naming the file — never panic. Files it references resolve inside a private
//! temporary directory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::policy::Policy;
use std::sync::OnceLock;

fn dir() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("trust.toml");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(e) = Policy::load(&path) {
        assert!(e.to_string().contains("trust.toml"), "{e}");
    }
});
