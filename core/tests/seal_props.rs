//! Property tests of `modelseal::envelope` (STYLE.md §7): random models round-trip; any single bit
//! flip, truncation, chunk swap or stanza removal in the encrypted output makes decryption fail and
//! leaves no output.

use modelseal::envelope::{
    decrypt, encrypt, plaintext_from_path, DecryptOptions, EncryptOptions, Plaintext,
};
use modelseal::internals::envelope::format::{
    decode_prefix, encode_prefix, Header, ENVELOPE_NAME, PREFIX_LEN,
};
use modelseal::internals::keys::file::kek::KekWrapper;
use modelseal::keys::Identity;
use proptest::prelude::*;
use std::fs;
use std::path::Path;

const C: usize = 4096;

fn opts() -> EncryptOptions {
    EncryptOptions {
        chunk_size: C as u32,
        ..EncryptOptions::default()
    }
}

fn kek(b: u8) -> KekWrapper {
    KekWrapper::from_bytes([b; 32])
}

/// Encrypts `pt` as a single-file model; returns (dir, encrypted path).
fn seal_single(pt: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.bin");
    fs::write(&p, pt).unwrap();
    let enc = dir.path().join("m.mseal");
    encrypt(&Plaintext::File(p), &[&kek(1)], &enc, &opts()).unwrap();
    (dir, enc)
}

/// Decryption must fail and leave neither the output nor a temporary.
fn must_fail(enc: &Path, id: &dyn Identity) -> String {
    let out = enc.with_extension("out");
    let names = || {
        let mut names: Vec<_> = fs::read_dir(enc.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = names();
    let err = decrypt(enc, id, &out, &DecryptOptions::default()).unwrap_err();
    assert!(!out.exists());
    // Exactly what was there before: a temporary is caught whatever its name.
    assert_eq!(names(), before, "left after {err}");
    err.code().to_owned()
}

fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(0usize),
        1..C,
        Just(C),
        Just(2 * C),
        (2 * C + 1)..(3 * C + 100)
    ]
    .prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn single_file_round_trips(pt in plaintext()) {
        let (_d, enc) = seal_single(&pt);
        let out = enc.with_extension("out");
        decrypt(&enc, &kek(1), &out, &DecryptOptions::default()).unwrap();
        prop_assert_eq!(fs::read(&out).unwrap(), pt);
    }

    #[test]
    fn any_bit_flip_fails(pt in plaintext(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (_d, enc) = seal_single(&pt);
        let mut bytes = fs::read(&enc).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        fs::write(&enc, bytes).unwrap();
        must_fail(&enc, &kek(1));
    }

    #[test]
    fn any_truncation_or_extension_fails(pt in plaintext(), at in any::<prop::sample::Index>(), extra in 1usize..40) {
        let (_d, enc) = seal_single(&pt);
        let bytes = fs::read(&enc).unwrap();
        fs::write(&enc, &bytes[..at.index(bytes.len())]).unwrap();
        must_fail(&enc, &kek(1));
        let mut longer = bytes.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        fs::write(&enc, longer).unwrap();
        prop_assert_eq!(must_fail(&enc, &kek(1)), "extended");
    }

    #[test]
    fn chunk_swap_fails(n in 2usize..5, tail in 1..C, a in 0usize..5, b in 0usize..5) {
        let pt: Vec<u8> = (0..(n - 1) * C + tail).map(|i| (i % 253) as u8).collect();
        let (a, b) = (a % n, b % n);
        prop_assume!(a < b && b < n - 1); // full chunks only: equal lengths
        let (_d, enc) = seal_single(&pt);
        let mut bytes = fs::read(&enc).unwrap();
        let hl = decode_prefix(&bytes[..PREFIX_LEN], &enc).unwrap();
        let base = PREFIX_LEN + hl + 32;
        let s = C + 16;
        let ca: Vec<u8> = bytes[base + a * s..base + (a + 1) * s].to_vec();
        let cb: Vec<u8> = bytes[base + b * s..base + (b + 1) * s].to_vec();
        bytes[base + a * s..base + (a + 1) * s].copy_from_slice(&cb);
        bytes[base + b * s..base + (b + 1) * s].copy_from_slice(&ca);
        fs::write(&enc, bytes).unwrap();
        prop_assert_eq!(must_fail(&enc, &kek(1)), "chunk-auth");
    }

    #[test]
    fn directory_bit_flip_in_any_file_fails(
        sizes in proptest::collection::vec(0usize..(2 * C + 10), 1..4),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("model");
        fs::create_dir_all(m.join("sub")).unwrap();
        for (i, s) in sizes.iter().enumerate() {
            fs::write(m.join(format!("sub/f{i}")), vec![i as u8; *s]).unwrap();
        }
        let enc = dir.path().join("enc");
        encrypt(&plaintext_from_path(&m).unwrap(), &[&kek(1)], &enc, &opts()).unwrap();
        let mut files: Vec<_> = (0..sizes.len()).map(|i| enc.join(format!("sub/f{i}"))).collect();
        files.push(enc.join(ENVELOPE_NAME));
        let f = &files[which.index(files.len())];
        let mut bytes = fs::read(f).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 0x80;
        fs::write(f, bytes).unwrap();
        must_fail(&enc, &kek(1));
    }
}

#[test]
fn stanza_removal_with_old_mac_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.bin");
    fs::write(&p, b"weights").unwrap();
    let enc = dir.path().join("m.mseal");
    encrypt(&Plaintext::File(p), &[&kek(1), &kek(2)], &enc, &opts()).unwrap();
    let bytes = fs::read(&enc).unwrap();
    let hl = decode_prefix(&bytes[..PREFIX_LEN], &enc).unwrap();
    let mut header = Header::decode(&bytes[PREFIX_LEN..PREFIX_LEN + hl], &enc).unwrap();
    header.stanzas.remove(0);
    let hb = header.encode().unwrap();
    let mut out = encode_prefix(hb.len()).unwrap().to_vec();
    out.extend_from_slice(&hb);
    out.extend_from_slice(&bytes[PREFIX_LEN + hl..]); // old MAC, then the payload
    fs::write(&enc, out).unwrap();
    assert_eq!(must_fail(&enc, &kek(2)), "header-auth");
    assert_eq!(must_fail(&enc, &kek(1)), "no-recipient");
}
