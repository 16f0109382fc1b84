//! Hand-built envelopes for negative vectors that no valid encoder can produce (`docs/FORMAT.md`
//! §16): raw CBOR pieces, bodies with arbitrary entries, and an envelope whose header MAC and
//! stanza are valid for whatever header bytes it is given — so a decoder must reject it at the
//! rule under test, not at an earlier MAC or unwrap check.

use super::super::authenticate::build_envelope;
use super::super::format::{encode_prefix, Stanza};
use super::super::keyschedule::{body_digest, KeySchedule};
use super::seed;
use super::KekWrapper;
use crate::keys::wrapping::{DataKey, Recipient, WrapContext};
use crate::rng::SeededEntropy;

/// A CBOR head (major type, argument) in its shortest form (RFC 8949 §3).
pub fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => [&[m | 25][..], &(n as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[m | 26][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[m | 27][..], &n.to_be_bytes()].concat(),
    }
}

/// An unsigned integer item.
pub fn uint(n: u64) -> Vec<u8> {
    head(0, n)
}

/// A byte-string item.
pub fn bstr(b: &[u8]) -> Vec<u8> {
    [head(2, b.len() as u64), b.to_vec()].concat()
}

/// A text-string item.
pub fn tstr(s: &str) -> Vec<u8> {
    [head(3, s.len() as u64), s.as_bytes().to_vec()].concat()
}

/// A map of `(key, encoded value)` pairs, in the order given (sorted or not: the caller decides).
pub fn map(entries: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = head(5, entries.len() as u64);
    for (k, v) in entries {
        out.extend(uint(*k));
        out.extend_from_slice(v);
    }
    out
}

/// One file entry `{1: path, 2: size, 3: salt}` with a salt derived from `path` (fixed bytes).
pub fn file_entry(path: &str, size: u64) -> Vec<u8> {
    let salt = seed(&format!("salt {path}"));
    map(&[(1, tstr(path)), (2, uint(size)), (3, bstr(&salt))])
}

/// A body map from its layout, chunk size, encoded file entries and optional extra entries.
pub fn body(layout: u64, chunk: u64, files: &[Vec<u8>], extra: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut array = head(4, files.len() as u64);
    for f in files {
        array.extend_from_slice(f);
    }
    let mut entries = vec![
        (1, uint(layout)),
        (2, tstr("vector")),
        (3, uint(chunk)),
        (4, array),
    ];
    entries.extend(extra.iter().cloned());
    map(&entries)
}

/// `wrapper`'s stanza for `dek`, bound to `body_bytes` (randomness seeded by `case`).
pub fn stanza(wrapper: &dyn Recipient, dek: &DataKey, body_bytes: &[u8], case: &str) -> Stanza {
    let ctx = WrapContext {
        body_digest: body_digest(body_bytes),
        model_name: "vector",
    };
    let mut entropy = SeededEntropy::new(seed(&format!("negative {case}")));
    wrapper.wrap(dek, &ctx, &mut entropy).unwrap()
}

/// The deterministic header `{1: body_bytes, 2: stanzas}`, with nothing validated.
pub fn header(body_bytes: &[u8], stanzas: &[Stanza]) -> Vec<u8> {
    super::super::format::encode_header_unchecked(body_bytes, stanzas)
}

/// `prefix ‖ header_bytes ‖ HMAC(K_mac(dek), prefix ‖ header_bytes)` for any header bytes.
pub fn envelope(header_bytes: &[u8], dek: &DataKey) -> Vec<u8> {
    let mut out = encode_prefix(header_bytes.len()).unwrap().to_vec();
    out.extend_from_slice(header_bytes);
    let mac = dek.header_mac(&out);
    out.extend_from_slice(&mac);
    out
}

/// Where the stanza array starts in a header made by [`header`]: after `A2 01 bstr(body)`.
pub fn stanzas_offset(body_bytes: &[u8]) -> usize {
    2 + head(2, body_bytes.len() as u64).len() + body_bytes.len()
}

#[test]
fn forged_header_equals_the_encoder_output() {
    // The hand-built pieces must agree with the real encoder, or the vectors test nothing.
    use super::super::format::{Body, FileEntry, Header, Layout};
    let files = ["a", "b/c"];
    let real = Body {
        layout: Layout::Directory,
        model_name: "vector".into(),
        chunk_size: 4096,
        files: files
            .iter()
            .map(|p| FileEntry {
                path: (*p).into(),
                size: 70_000,
                salt: seed(&format!("salt {p}")),
            })
            .collect(),
    };
    let forged = body(0, 4096, &files.map(|p| file_entry(p, 70_000)), &[]);
    assert_eq!(real.encode().unwrap(), forged);
    let dek = DataKey::from_bytes([7; 32]);
    let kek = KekWrapper::generate(&mut SeededEntropy::new([1; 32])).unwrap();
    let h = Header::new(real, vec![]).unwrap();
    let s = stanza(&kek, &dek, &h.body_bytes, "self-test");
    let forged_header = header(&h.body_bytes, std::slice::from_ref(&s));
    assert_eq!(forged_header[stanzas_offset(&h.body_bytes)], 0x02);
    let h = Header::new(h.body, vec![s]).unwrap();
    assert_eq!(
        build_envelope(&h, &dek).unwrap(),
        envelope(&forged_header, &dek)
    );
}
