//! The encrypted-format envelope prefix and CBOR header decoder (docs/FORMAT.md §4.1, §5). A
//! header it accepts must re-encode to exactly the same bytes (§5.1: one encoding per header).
#![no_main]
use libfuzzer_sys::fuzz_target;
use modelseal::internals::envelope::format::{decode_prefix, Header, PREFIX_LEN};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz");
    let _ = decode_prefix(data, origin);
    if data.len() > PREFIX_LEN {
        let _ = decode_prefix(&data[..PREFIX_LEN], origin);
    }
    if let Ok(header) = Header::decode(data, origin) {
        assert_eq!(header.encode().ok().as_deref(), Some(data));
    }
});
