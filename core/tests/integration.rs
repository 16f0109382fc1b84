//! core's integration tests, one module per file beside this one, linked into one test binary
//! (see core/Cargo.toml). The PKCS#11 tests are separate binaries.

mod architecture;
mod claims;
mod hardening;
mod keys_trust;
mod load;
mod load_encrypted;
mod oms;
mod oms_conformance;
mod oms_proptest;
mod seal;
mod seal_props;
mod sigstore_keyless;
mod sigstore_rekor_v2;
mod tamper;
mod timestamp;
mod tree_digest;

/// With `autotests = false`, a test file that is neither a module above nor a `[[test]]` in
/// core/Cargo.toml would silently never run: this fails instead.
#[test]
fn every_test_file_is_built() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let this = include_str!("integration.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir.join("tests")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".rs") else {
            continue;
        };
        let declared = this.lines().any(|l| l == format!("mod {stem};"))
            || manifest.contains(&format!("path = \"tests/{name}\""));
        if !declared {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "core/tests files that no test binary builds (add them to tests/integration.rs or a [[test]] in core/Cargo.toml): {missing:?}"
    );
}
