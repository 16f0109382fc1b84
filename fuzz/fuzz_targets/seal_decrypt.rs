//! Whole-file decryption of an arbitrary single-file input with a fixed KEK: form detection,
//! prefix, header, stanza selection, unwrap, header MAC, inventory. Nothing may appear at the
//! output unless decryption succeeded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::envelope::{decrypt, DecryptOptions};
use modelseal::keys::{open_identity, KeyOptions, KeyRef};
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;

struct Fixture {
    dir: tempfile::TempDir,
    key: Box<dyn modelseal::keys::Identity>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir =
            tempfile::tempdir_in(std::env::var_os("MODELSEAL_FUZZ_TMP").unwrap_or("/tmp".into()))
                .expect("temporary directory");
        let kek = dir.path().join("kek.hex");
        std::fs::write(&kek, format!("{}\n", "42".repeat(32))).expect("write kek");
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let key = open_identity(&KeyRef::File(kek), &KeyOptions::default()).expect("kek loads");
        Fixture { dir, key }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let input = f.dir.path().join("input.mseal");
    let output = f.dir.path().join("output");
    if std::fs::write(&input, data).is_err() {
        return;
    }
    let result = decrypt(&input, f.key.as_ref(), &output, &DecryptOptions::default());
    if result.is_err() {
        assert!(
            !output.exists(),
            "output left behind after a failed decryption"
        );
    } else {
        let _ = std::fs::remove_file(&output);
    }
});
