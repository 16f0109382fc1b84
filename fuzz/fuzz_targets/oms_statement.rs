//! The in-toto statement parser (the DSSE payload) and its OMS checks, fed directly so the fuzzer
//! need not get through base64 and the bundle's JSON first.
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::internals::oms::Statement;

fuzz_target!(|data: &[u8]| {
    if let Ok(statement) = Statement::parse(data) {
        let _ = statement.check();
        let _ = Statement::parse(&statement.to_json());
    }
});
