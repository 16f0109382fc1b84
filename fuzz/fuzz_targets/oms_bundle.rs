//! The Sigstore bundle parser, and everything verification parses out of an accepted bundle: the
//! DSSE payload as an in-toto statement and its OMS checks. Must never panic, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::internals::oms::{pae, Bundle, Statement};

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::parse(data) {
        let _ = pae(&bundle.payload_type, &bundle.payload);
        if let Ok(statement) = Statement::parse(&bundle.payload) {
            let _ = statement.check();
        }
        // What we write must parse back to the same bundle.
        let again = Bundle::parse(bundle.to_json().as_bytes());
        assert_eq!(again.ok(), Some(bundle));
    }
});
