//! The bytes of the envelope: prefix, deterministic CBOR header and body, limits (`docs/FORMAT.md`
//! §3–§5). Parsing and serialisation only — no cryptography, no file system.
//!
//! This file holds the types and the constants of §3; `encode.rs` writes them, `decode.rs` reads
//! them back strictly, `validate.rs` holds the §5.4 rules both apply. Their public functions are
//! re-exported here: everything is reachable as `envelope::format::X`.
//!
//! Guarantees: [`Header::encode`] writes RFC 8949 core deterministic CBOR with integer keys in
//! ascending order and definite lengths, and refuses anything beyond a §3 limit; [`Header::decode`]
//! accepts exactly one encoding per header: it decodes with limits checked before any allocation that
//! depends on a length read, applies every rule of §5.4, then re-encodes and requires the input byte
//! for byte (§5.1: catches non-shortest integers, unsorted or duplicate keys, trailing bytes).

mod decode;
mod encode;
mod validate;

pub use decode::decode_prefix;
/// For the test-vector generator, which forges headers that break a later rule.
#[cfg(test)]
pub(super) use encode::encode_header_unchecked;
pub use encode::encode_prefix;
pub use validate::{check_model_name, check_rel_path, chunk_size_ok, path_order};

/// `\x89MSEAL\r\n` (§3).
pub const MAGIC: [u8; 8] = [0x89, b'M', b'S', b'E', b'A', b'L', 0x0D, 0x0A];
/// The format version this module reads and writes.
pub const VERSION: u16 = 1;
/// magic 8 + version 2 + header length 4.
pub const PREFIX_LEN: usize = 14;
/// HMAC-SHA-256 output length.
pub const MAC_LEN: usize = 32;
/// Bound on the CBOR header.
pub const MAX_HEADER_LEN: usize = 32 * 1024 * 1024;
/// Data key length.
pub const DEK_LEN: usize = 32;
/// Per-file salt length.
pub const SALT_LEN: usize = 32;
/// Derived nonce prefix length.
pub const NONCE_PREFIX_LEN: usize = 7;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Smallest chunk size.
pub const MIN_CHUNK_SIZE: u32 = 4096;
/// Largest chunk size.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Encoder default chunk size (§7.6).
pub const DEFAULT_CHUNK_SIZE: u32 = 1024 * 1024;
/// Largest plaintext file (2^40 bytes).
pub const MAX_FILE_SIZE: u64 = 1 << 40;
/// Most files per model.
pub const MAX_FILES: usize = 100_000;
/// Longest relative path in UTF-8 bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest path component in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;
/// Longest model name in bytes.
pub const MAX_MODEL_NAME_LEN: usize = 255;
/// Most stanzas per header.
pub const MAX_STANZAS: usize = 64;
/// Longest stanza type name.
pub const MAX_STANZA_TYPE_LEN: usize = 64;
/// Most parameters per stanza.
pub const MAX_PARAMS: usize = 16;
/// Longest parameter value (bytes or text).
pub const MAX_PARAM_VALUE_LEN: usize = 1024;
/// File name of the envelope in the directory layout.
pub const ENVELOPE_NAME: &str = "modelseal.envelope";
/// Length of the envelope around a header of `header_len` bytes.
pub const fn envelope_len(header_len: usize) -> usize {
    PREFIX_LEN + header_len + MAC_LEN
}

/// How the encrypted model is stored (§4.2, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A directory mirroring the model, plus `modelseal.envelope`.
    Directory,
    /// One file: envelope then the chunks of the only file, named `"."`.
    SingleFile,
}

impl Layout {
    fn code(self) -> u64 {
        match self {
            Layout::Directory => 0,
            Layout::SingleFile => 1,
        }
    }
}

/// One plaintext file of the model (§5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path (`"."` in the single-file layout), bound into the file key.
    pub path: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Random per-file salt.
    pub salt: [u8; SALT_LEN],
}

/// Everything in the header that does not depend on the recipients (§5.2 `body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Directory or single file.
    pub layout: Layout,
    /// Informational model name.
    pub model_name: String,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Files in component-wise path order.
    pub files: Vec<FileEntry>,
}

/// A stanza and its parameters are the key seam's types (`keys::wrapping`): this module encodes
/// and decodes them, the way a format encodes a seam type.
pub use crate::keys::wrapping::{ParamValue, Stanza, MAX_KEY_ID_LEN, MAX_WRAPPED_LEN};

/// The decoded header: the body's exact bytes, the body, and the stanzas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `body_bytes`: hashed into `body_digest` and copied unchanged by rewrap.
    pub body_bytes: Vec<u8>,
    /// The decoded body.
    pub body: Body,
    /// The recipients.
    pub stanzas: Vec<Stanza>,
}

#[cfg(test)]
mod tests {
    use super::decode::decode_body;
    use super::validate::validate_stanzas;
    use super::*;
    use crate::envelope::SealError;
    use std::cmp::Ordering;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn body() -> Body {
        Body {
            layout: Layout::Directory,
            model_name: "llm-7b".into(),
            chunk_size: 4096,
            files: vec![
                FileEntry {
                    path: "B".into(),
                    size: 0,
                    salt: [1; 32],
                },
                FileEntry {
                    path: "a/b".into(),
                    size: 5000,
                    salt: [2; 32],
                },
                FileEntry {
                    path: "a-b".into(),
                    size: 1 << 40,
                    salt: [3; 32],
                },
            ],
        }
    }

    fn stanza() -> Stanza {
        Stanza {
            stanza_type: "aes256-kek".into(),
            key_id: "00112233445566778899aabbccddeeff".into(),
            wrapped: vec![7; 48],
            params: BTreeMap::from([(1, ParamValue::Bytes(vec![9; 12]))]),
        }
    }

    fn header_bytes() -> Vec<u8> {
        Header::new(body(), vec![stanza()])
            .unwrap()
            .encode()
            .unwrap()
    }

    #[test]
    fn round_trip() {
        let h = Header::new(body(), vec![stanza()]).unwrap();
        let bytes = h.encode().unwrap();
        assert_eq!(Header::decode(&bytes, Path::new("e")).unwrap(), h);
    }

    #[test]
    fn body_encoding_matches_hand_written_cbor() {
        let b = Body {
            layout: Layout::SingleFile,
            model_name: "m".into(),
            chunk_size: 4096,
            files: vec![FileEntry {
                path: ".".into(),
                size: 24,
                salt: [0xAB; 32],
            }],
        };
        // {1: 1, 2: "m", 3: 4096, 4: [{1: ".", 2: 24, 3: h'ab…'}]} per RFC 8949 §3.
        let mut want = vec![
            0xA4, 0x01, 0x01, 0x02, 0x61, b'm', 0x03, 0x19, 0x10, 0x00, 0x04,
        ];
        want.extend([0x81, 0xA3, 0x01, 0x61, b'.', 0x02, 0x18, 24, 0x03, 0x58, 32]);
        want.extend([0xAB; 32]);
        assert_eq!(b.encode().unwrap(), want);
    }

    #[test]
    fn component_order_differs_from_bytewise() {
        assert_eq!(path_order("a/b", "a-b"), Ordering::Less);
        assert!("a/b" > "a-b");
        assert_eq!(path_order("a", "a/b"), Ordering::Less);
        assert_eq!(path_order("B", "a"), Ordering::Less);
    }

    #[test]
    fn rejects_non_deterministic_encodings() {
        let good = header_bytes();
        // Non-shortest integer: key 1 of the header written as 0x18 0x01.
        let mut bad = vec![0xA2, 0x18, 0x01];
        bad.extend_from_slice(&good[2..]);
        assert!(Header::decode(&bad, Path::new("e")).is_err());
        // Trailing byte.
        let mut bad = good.clone();
        bad.push(0);
        let err = Header::decode(&bad, Path::new("e")).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        // Indefinite-length map.
        let mut bad = vec![0xBF];
        bad.extend_from_slice(&good[1..]);
        bad.push(0xFF);
        assert!(Header::decode(&bad, Path::new("e")).is_err());
    }

    #[test]
    fn rejects_bad_bodies() {
        type Edit = Box<dyn Fn(&mut Body)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("chunk", Box::new(|b| b.chunk_size = 5000)),
            ("chunk", Box::new(|b| b.chunk_size = 2048)),
            ("control", Box::new(|b| b.model_name = "a\nb".into())),
            ("'..'", Box::new(|b| b.files[1].path = "a/..".into())),
            ("empty", Box::new(|b| b.files[1].path = "/a".into())),
            ("backslash", Box::new(|b| b.files[1].path = "a\\b".into())),
            ("ascending", Box::new(|b| b.files.swap(1, 2))),
            (
                "reserved",
                Box::new(|b| b.files[2].path = ENVELOPE_NAME.into()),
            ),
            ("both a file", Box::new(|b| b.files[0].path = "a".into())),
            ("2^40", Box::new(|b| b.files[2].size = (1 << 40) + 1)),
            ("single-file", Box::new(|b| b.layout = Layout::SingleFile)),
        ];
        for (needle, edit) in cases {
            let mut b = body();
            edit(&mut b);
            let err = b.encode().unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
            // The decoder rejects the same body when an encoder wrote it anyway.
            let bytes = b.encode_unchecked();
            assert!(decode_body(&bytes, Path::new("e")).is_err(), "{needle}");
        }
    }

    #[test]
    fn rejects_bad_stanzas() {
        let mut dup = vec![stanza(), stanza()];
        assert!(validate_stanzas(&dup, Path::new("e")).is_err());
        dup[1].key_id = "other".into();
        validate_stanzas(&dup, Path::new("e")).unwrap();
        let mut s = stanza();
        s.wrapped.pop();
        assert!(validate_stanzas(&[s], Path::new("e")).is_err());
        let mut s = stanza();
        s.stanza_type = "Upper".into();
        assert!(validate_stanzas(&[s], Path::new("e")).is_err());
        let mut s = stanza();
        s.stanza_type = "example.com/unknown".into();
        s.params.clear();
        validate_stanzas(&[s], Path::new("e")).unwrap();
        assert!(validate_stanzas(&[], Path::new("e")).is_err());
    }

    #[test]
    fn prefix_checks() {
        let p = encode_prefix(10).unwrap();
        assert_eq!(decode_prefix(&p, Path::new("e")).unwrap(), 10);
        let mut v2 = p;
        v2[9] = 2;
        assert!(matches!(
            decode_prefix(&v2, Path::new("e")),
            Err(SealError::Version { found: 2, .. })
        ));
        let mut big = p;
        big[10..14].copy_from_slice(&((MAX_HEADER_LEN as u32) + 1).to_be_bytes());
        assert_eq!(
            decode_prefix(&big, Path::new("e")).unwrap_err().code(),
            "limit"
        );
        assert_eq!(
            decode_prefix(&p[..5], Path::new("e")).unwrap_err().code(),
            "format"
        );
    }
}
