//! Negative vectors (`docs/FORMAT.md` §16): damaged copies of positive vectors and forged
//! envelopes, each with `expected.json` naming the error class of §10 and the key to try.
//!
//! Where a case targets a check after the header MAC (or after the unwrap), the forged envelope
//! carries a valid stanza and MAC for its bytes, so the decoder must fail at exactly that check.

use serde_json::json;
use std::fs;
use std::path::Path;

use super::super::authenticate::open_authenticated;
use super::super::encrypt::{encrypt_with_entropy, Plaintext};
use super::super::format::ENVELOPE_NAME;
use super::super::keyschedule::KeySchedule;
use super::super::stream::{ChunkLayout, FileCipher};
use super::forge::{self, file_entry, uint};
use super::KekWrapper;
use super::{copy_tree, opts, pattern, private_copies, seed, write_json, Keys, C};
use crate::keys::wrapping::{DataKey, StanzaKey};
use crate::rng::SeededEntropy;

/// What a case is: a damaged single file, or a damaged encrypted directory.
enum Input {
    Single(Vec<u8>),
    /// An encrypted directory to copy from, and the damage to do to the copy.
    Dir(&'static Path, Box<dyn Fn(&Path)>),
    /// A directory holding only an envelope (for header rules checked before any file).
    EnvelopeOnly(Vec<u8>),
}

struct Case {
    name: &'static str,
    input: Input,
    key: &'static str,
    class: &'static str,
    detail: &'static str,
    /// An empty directory to create below the copy at test time (git keeps no empty directory).
    mkdir: Option<&'static str>,
}

fn case(name: &'static str, input: Input, key: &'static str, class: &'static str) -> Case {
    Case {
        name,
        input,
        key,
        class,
        detail: "",
        mkdir: None,
    }
}

impl Case {
    fn detail(mut self, d: &'static str) -> Case {
        self.detail = d;
        self
    }
}

/// Writes every negative vector below `out/negative`.
pub(super) fn generate(out: &Path, v1: &Path, k: &Keys) {
    let mut cases = single_file_cases(v1, k);
    cases.extend(header_rule_cases(v1, k));
    let dir_base = out.join("negative/_dir-base");
    make_dir_base(&dir_base, k);
    cases.extend(directory_cases(leak(&dir_base)));
    for c in cases {
        let d = out.join("negative").join(c.name);
        fs::create_dir_all(&d).unwrap();
        match &c.input {
            Input::Single(bytes) => fs::write(d.join("encrypted.mseal"), bytes).unwrap(),
            Input::Dir(from, damage) => {
                copy_tree(from, &d.join("encrypted"));
                damage(&d.join("encrypted"));
            }
            Input::EnvelopeOnly(bytes) => {
                fs::create_dir_all(d.join("encrypted")).unwrap();
                fs::write(d.join("encrypted").join(ENVELOPE_NAME), bytes).unwrap();
            }
        }
        let mut exp = json!({"error": c.class, "key": c.key, "detail": c.detail});
        if let Some(m) = c.mkdir {
            exp["mkdir"] = json!(m);
        }
        write_json(&d.join("expected.json"), &exp);
    }
    fs::remove_dir_all(&dir_base).unwrap();
}

/// The generator's directory base lives for the whole run; the closures borrow it.
fn leak(p: &Path) -> &'static Path {
    Box::leak(p.to_path_buf().into_boxed_path())
}

/// The base of the directory cases: `x` and `y` of equal size (to swap), `z/w` (to rename).
fn make_dir_base(at: &Path, k: &Keys) {
    let input = at.with_extension("input");
    fs::create_dir_all(input.join("z")).unwrap();
    fs::write(input.join("x"), pattern(C as usize + 10, 7)).unwrap();
    fs::write(input.join("y"), pattern(C as usize + 10, 8)).unwrap();
    fs::write(input.join("z/w"), pattern(100, 9)).unwrap();
    let files = ["x", "y", "z/w"]
        .iter()
        .map(|n| (n.to_string(), input.join(n)))
        .collect();
    let plain = Plaintext::Directory {
        root: input.clone(),
        files,
    };
    let mut e = SeededEntropy::new(seed("negative dir base"));
    encrypt_with_entropy(&plain, &[&k.kek1], at, &opts(C), &mut e).unwrap();
    fs::remove_dir_all(&input).unwrap();
}

/// Byte edits of `v1/single-2c1` (3 chunks: C, C, 1 byte).
fn single_file_cases(v1: &Path, k: &Keys) -> Vec<Case> {
    let path = v1.join("single-2c1/encrypted.mseal");
    let base = fs::read(&path).unwrap();
    let opened = open_authenticated(&path, &k.kek1).unwrap();
    let payload = opened.envelope_len as usize;
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        Input::Single(b)
    };
    let full = C as usize + 16;
    // Chunk 0 sealed as if it were the final chunk (a 1-chunk layout of C bytes).
    let chunk0_final = {
        let f = &opened.header.body.files[0];
        let keys = opened.dek.file_keys(&f.path, &f.salt);
        let cipher = FileCipher::new(&keys, ChunkLayout::new(C, u64::from(C))).unwrap();
        let mut buf = pattern(2 * C as usize + 1, 0x5a)[..C as usize].to_vec();
        buf.extend_from_slice(&[0; 16]);
        cipher.seal_chunk(0, &mut buf).unwrap();
        buf
    };
    vec![
        case("bad-magic", edit(&|b| b[1] = b'X'), "kek-1", "format").detail("magic"),
        case("version-2", edit(&|b| b[9] = 2), "kek-1", "version").detail("version 2"),
        case(
            "header-len-over-limit",
            edit(&|b| b[10..14].copy_from_slice(&0x0200_0001u32.to_be_bytes())),
            "kek-1",
            "limit",
        )
        .detail("32 MiB + 1"),
        case(
            "wrong-key",
            Input::Single(base.clone()),
            "kek-2",
            "no-recipient",
        )
        .detail("kek-2 is not a recipient"),
        case("body-bit-flip", edit(&|b| b[24] ^= 1), "kek-1", "unwrap")
            .detail("model name vector -> wector; aes256-kek binds body_digest"),
        case(
            "mac-bit-flip",
            edit(&|b| b[payload - 1] ^= 1),
            "kek-1",
            "header-auth",
        )
        .detail("last MAC byte"),
        case(
            "chunk-bit-flip",
            edit(&|b| b[payload + 10] ^= 1),
            "kek-1",
            "chunk-auth",
        )
        .detail("chunk 0"),
        case(
            "tag-bit-flip",
            edit(&|b| {
                let n = b.len();
                b[n - 1] ^= 1
            }),
            "kek-1",
            "chunk-auth",
        )
        .detail("tag of the final chunk"),
        case(
            "last-byte-removed",
            edit(&|b| {
                b.pop();
            }),
            "kek-1",
            "truncated",
        )
        .detail("one byte short"),
        case(
            "final-chunk-dropped",
            edit(&|b| b.truncate(b.len() - 17)),
            "kek-1",
            "truncated",
        )
        .detail("the 1-byte final chunk (17 bytes) removed"),
        case("byte-appended", edit(&|b| b.push(0)), "kek-1", "extended")
            .detail("trailing byte after the payload"),
        case(
            "chunk-appended",
            edit(&|b| {
                let c0 = b[payload..payload + full].to_vec();
                b.extend_from_slice(&c0);
            }),
            "kek-1",
            "extended",
        )
        .detail("a copy of chunk 0 appended"),
        case(
            "chunks-swapped",
            edit(&|b| {
                let c0: Vec<u8> = b[payload..payload + full].to_vec();
                let c1: Vec<u8> = b[payload + full..payload + 2 * full].to_vec();
                b[payload..payload + full].copy_from_slice(&c1);
                b[payload + full..payload + 2 * full].copy_from_slice(&c0);
            }),
            "kek-1",
            "chunk-auth",
        )
        .detail("chunks 0 and 1 swapped"),
        case(
            "chunk0-final-flag",
            edit(&|b| b[payload..payload + full].copy_from_slice(&chunk0_final)),
            "kek-1",
            "chunk-auth",
        )
        .detail("chunk 0 of 3 encrypted with last(i) = 1"),
    ]
}

/// Forged headers around `single-2c1`'s DEK: each breaks one rule of §5 or §8 while its stanza and
/// MAC are valid for its bytes.
fn header_rule_cases(v1: &Path, k: &Keys) -> Vec<Case> {
    let path = v1.join("single-2c1/encrypted.mseal");
    let base = fs::read(&path).unwrap();
    let o = open_authenticated(&path, &k.kek1).unwrap();
    let dek = &o.dek;
    let body = o.header.body_bytes.clone();
    let payload = base[o.envelope_len as usize..].to_vec();
    let kek2 = kek2();

    // A single-file envelope (payload kept) whose header is `header_bytes`.
    let single = |header_bytes: Vec<u8>| {
        let mut out = forge::envelope(&header_bytes, dek);
        out.extend_from_slice(&payload);
        Input::Single(out)
    };
    // The valid header for `body_bytes`, with a kek-1 stanza bound to it.
    let valid_header = |body_bytes: &[u8], case: &str| {
        let s = forge::stanza(&k.kek1, dek, body_bytes, case);
        forge::header(body_bytes, &[s])
    };
    let h = valid_header(&body, "cbor");
    let off = forge::stanzas_offset(&body);
    assert_eq!((h[1], h[off], h[off + 1]), (0x01, 0x02, 0x81));
    let entry = file_entry(".", 2 * u64::from(C) + 1);
    let single_body = |chunk: u64, extra: &[(u64, Vec<u8>)]| {
        forge::body(1, chunk, std::slice::from_ref(&entry), extra)
    };
    // A directory envelope whose body lists `paths` (all empty files).
    let dir = |paths: &[&str], case: &str| {
        let files: Vec<Vec<u8>> = paths.iter().map(|p| file_entry(p, 0)).collect();
        let b = forge::body(0, u64::from(C), &files, &[]);
        Input::EnvelopeOnly(forge::envelope(&valid_header(&b, case), dek))
    };
    let with_stanzas = |extra: Vec<super::Stanza>| {
        let mut all = vec![forge::stanza(&k.kek1, dek, &body, "stanzas")];
        all.extend(extra);
        single(forge::header(&body, &all))
    };
    let other_dek = DataKey::from_bytes(seed("negative other dek"));
    let mut flipped = forge::stanza(&k.kek1, dek, &body, "flip");
    flipped.wrapped[5] ^= 1;
    let mut under_kek1_id = forge::stanza(&kek2, dek, &body, "kek2");
    under_kek1_id.key_id = k.kek1.key_id().to_owned();
    let unknown = |i: usize| super::Stanza {
        stanza_type: "example.com/unknown".into(),
        key_id: format!("opaque-{i:02}"),
        wrapped: vec![0xA5; 40],
        params: Default::default(),
    };

    vec![
        case(
            "cbor-unsorted-keys",
            single([&[0xA2][..], &h[off..], &h[1..off]].concat()),
            "kek-1",
            "format",
        )
        .detail("header map keys 2 before 1; valid MAC"),
        case(
            "cbor-indefinite-array",
            single([&h[..off + 1], &[0x9F], &h[off + 2..], &[0xFF]].concat()),
            "kek-1",
            "format",
        )
        .detail("stanza array of indefinite length; valid MAC"),
        case(
            "cbor-non-shortest-int",
            single([&[0xA2, 0x18, 0x01][..], &h[2..]].concat()),
            "kek-1",
            "format",
        )
        .detail("header key 1 encoded as 0x18 0x01; valid MAC"),
        case(
            "cbor-duplicate-key",
            single([&[0xA3][..], &h[1..], &h[off..]].concat()),
            "kek-1",
            "format",
        )
        .detail("header key 2 twice; valid MAC"),
        case(
            "cbor-trailing-bytes",
            single([&h[..], &[0x00]].concat()),
            "kek-1",
            "format",
        )
        .detail("one byte after the header item, counted in header_len; valid MAC"),
        case(
            "body-unknown-key",
            single(valid_header(
                &single_body(u64::from(C), &[(5, uint(0))]),
                "k5",
            )),
            "kek-1",
            "format",
        )
        .detail("body key 5; stanza and MAC valid"),
        case(
            "chunk-size-6144",
            single(valid_header(&single_body(6144, &[]), "c6144")),
            "kek-1",
            "format",
        )
        .detail("chunk size not a power of two"),
        case(
            "chunk-size-2048",
            single(valid_header(&single_body(2048, &[]), "c2048")),
            "kek-1",
            "format",
        )
        .detail("chunk size below 4 KiB"),
        case("path-dotdot", dir(&["a/../b"], "p1"), "kek-1", "format").detail("component .."),
        case("path-absolute", dir(&["/a"], "p2"), "kek-1", "format").detail("leading /"),
        case("path-backslash", dir(&["a\\b"], "p3"), "kek-1", "format").detail("backslash"),
        case(
            "path-empty-component",
            dir(&["a//b"], "p4"),
            "kek-1",
            "format",
        )
        .detail("empty component"),
        case("paths-unsorted", dir(&["b", "a"], "p5"), "kek-1", "format").detail("b before a"),
        case("paths-duplicate", dir(&["a", "a"], "p6"), "kek-1", "format").detail("a twice"),
        case(
            "paths-file-and-dir",
            dir(&["a", "a/b"], "p7"),
            "kek-1",
            "format",
        )
        .detail("a is a file and a directory"),
        case(
            "path-reserved-envelope",
            dir(&["modelseal.envelope"], "p8"),
            "kek-1",
            "format",
        )
        .detail("the reserved envelope name"),
        case(
            "stanzas-65",
            with_stanzas((0..64).map(unknown).collect()),
            "kek-1",
            "limit",
        )
        .detail("kek-1 plus 64 stanzas of an unregistered type"),
        case(
            "stanza-duplicate",
            with_stanzas(vec![forge::stanza(&k.kek1, dek, &body, "dup")]),
            "kek-1",
            "format",
        )
        .detail("two kek-1 stanzas"),
        case(
            "stanza-wrapped-by-other-kek",
            single(forge::header(&body, &[under_kek1_id])),
            "kek-1",
            "unwrap",
        )
        .detail("kek-1's key_id, wrapped with kek-2"),
        case(
            "stanza-other-dek",
            single(forge::header(
                &body,
                &[forge::stanza(&k.kek1, &other_dek, &body, "other")],
            )),
            "kek-1",
            "header-auth",
        )
        .detail("the stanza unwraps to a different DEK than the MAC key's: key commitment"),
        case(
            "stanza-bit-flip",
            single(forge::header(&body, &[flipped])),
            "kek-1",
            "unwrap",
        )
        .detail("one bit of the aes256-kek wrapped key"),
    ]
}

/// Damaged copies of the directory base (`x`, `y` of equal size, `z/w`).
fn directory_cases(base: &'static Path) -> Vec<Case> {
    let d = |damage: Box<dyn Fn(&Path)>| Input::Dir(base, damage);
    let mut empty_dir = case("dir-extra-empty-dir", d(Box::new(|_| {})), "kek-1", "tree")
        .detail("an empty directory `empty` (made at test time: git keeps no empty directory)");
    empty_dir.mkdir = Some("empty");
    vec![
        case(
            "dir-files-swapped",
            d(Box::new(|e| {
                let (x, y) = (
                    fs::read(e.join("x")).unwrap(),
                    fs::read(e.join("y")).unwrap(),
                );
                fs::write(e.join("x"), y).unwrap();
                fs::write(e.join("y"), x).unwrap();
            })),
            "kek-1",
            "chunk-auth",
        )
        .detail("x and y (same size) swapped"),
        case(
            "dir-file-renamed",
            d(Box::new(|e| {
                fs::rename(e.join("z/w"), e.join("z/v")).unwrap()
            })),
            "kek-1",
            "tree",
        )
        .detail("z/w renamed to z/v"),
        case(
            "dir-file-missing",
            d(Box::new(|e| fs::remove_file(e.join("y")).unwrap())),
            "kek-1",
            "tree",
        )
        .detail("y removed"),
        case(
            "dir-extra-file",
            d(Box::new(|e| fs::write(e.join("extra.bin"), b"x").unwrap())),
            "kek-1",
            "tree",
        )
        .detail("an unlisted file"),
        empty_dir,
        case(
            "dir-symlink",
            d(Box::new(|e| {
                fs::remove_file(e.join("y")).unwrap();
                std::os::unix::fs::symlink("x", e.join("y")).unwrap();
            })),
            "kek-1",
            "tree",
        )
        .detail("y replaced by a symlink to x"),
    ]
}

fn kek2() -> KekWrapper {
    let private = private_copies(&super::vectors_dir().join("keys"));
    KekWrapper::from_file(&private.path().join("kek-2.hex"), &Default::default()).unwrap()
}
