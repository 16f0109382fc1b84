//! The key-reference parser (`path`, `file:`, `pkcs11:`, `awskms://` …): the one string that names a
//! key in the CLI, Python and policy files. Must never panic and never read a file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::keys::KeyRef;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<KeyRef>();
    }
});
