//! End-to-end tests of `modelseal::envelope`: encrypt → decrypt round trips in both layouts, every
//! recipient type, rewrap, the seekable reader, and tampering of the on-disk encrypted model
//! (each must fail with the right class and leave nothing at the target).

use modelseal::envelope::{
    decrypt, encrypt, open_file, plaintext_from_path, rewrap, DecryptOptions, EncryptOptions,
    SealError,
};
use modelseal::internals::envelope::format::ENVELOPE_NAME;
use modelseal::internals::keys::file::hpke::X25519Identity;
use modelseal::internals::keys::file::kek::KekWrapper;
use modelseal::internals::keys::file::rsa::{OaepHash, RsaOaepIdentity};
use modelseal::keys::{Identity, Recipient, StanzaKey};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn opts() -> EncryptOptions {
    EncryptOptions {
        chunk_size: 4096,
        ..EncryptOptions::default()
    }
}

/// A model directory whose component-wise order differs from bytewise order.
fn model(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    fs::create_dir_all(m.join("a")).unwrap();
    fs::write(m.join("B"), data(100, 1)).unwrap();
    fs::write(m.join("a/b"), data(4096, 2)).unwrap();
    fs::write(m.join("a-b"), b"").unwrap();
    fs::write(m.join("a.txt"), data(3 * 4096 + 7, 3)).unwrap();
    fs::create_dir_all(m.join(".git")).unwrap();
    fs::write(m.join(".git/HEAD"), b"ref").unwrap();
    m
}

fn kek(b: u8) -> KekWrapper {
    KekWrapper::from_bytes([b; 32])
}

fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn go(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    go(root, root, &mut out);
    out.sort();
    out
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `dir` holds exactly `expected`: no temporary, whatever its name (the temporaries' names are
/// the library's business, and a check by name stops seeing them when they are renamed).
fn no_leftovers(dir: &Path, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(names(dir), expected, "left in {}", dir.display());
}

#[test]
fn directory_round_trip_every_recipient_type() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let x = X25519Identity::from_secret([5; 32]);
    let rsa = RsaOaepIdentity::generate_3072().unwrap();
    let rsa1 = RsaOaepIdentity::generate_3072()
        .unwrap()
        .with_hash(OaepHash::Sha1);
    let k = kek(1);
    let recipients: Vec<&dyn Recipient> = vec![&k, &x, &rsa, &rsa1];
    let identities: Vec<&dyn Identity> = vec![&k, &x, &rsa, &rsa1];
    let enc = dir.path().join("enc");
    let input = plaintext_from_path(&m).unwrap();
    let s = encrypt(&input, &recipients, &enc, &opts()).unwrap();
    assert_eq!(s.files, 4);
    // Same names, no suffix; the envelope beside them; ignored .git not encrypted.
    assert!(enc.join("a/b").is_file() && enc.join(ENVELOPE_NAME).is_file());
    assert!(!enc.join(".git").exists());
    assert_eq!(
        fs::metadata(enc.join("a.txt")).unwrap().len(),
        3 * 4096 + 7 + 4 * 16
    );
    let mut want = tree(&m);
    want.retain(|(n, _)| !n.starts_with(".git"));
    for (i, id) in identities.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let d = decrypt(&enc, *id, &out, &DecryptOptions::default()).unwrap();
        assert_eq!(d.model_name, "model");
        assert_eq!(tree(&out), want);
    }
    no_leftovers(
        dir.path(),
        &["enc", "model", "out0", "out1", "out2", "out3"],
    );
}

#[test]
fn single_file_round_trip_and_reader() {
    let dir = tempfile::tempdir().unwrap();
    for size in [0usize, 1, 8192, 8193] {
        let p = dir.path().join(format!("w{size}.bin"));
        fs::write(&p, data(size, 9)).unwrap();
        let enc = dir.path().join(format!("w{size}.mseal"));
        let k = kek(2);
        encrypt(&plaintext_from_path(&p).unwrap(), &[&k], &enc, &opts()).unwrap();
        let out = dir.path().join(format!("w{size}.out"));
        decrypt(&enc, &k, &out, &DecryptOptions::default()).unwrap();
        assert_eq!(fs::read(&out).unwrap(), data(size, 9));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut r = open_file(&enc, None, &k).unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, data(size, 9));
        if size > 100 {
            r.seek(SeekFrom::Start(size as u64 - 100)).unwrap();
            let mut tail = Vec::new();
            r.read_to_end(&mut tail).unwrap();
            assert_eq!(tail, data(size, 9)[size - 100..]);
        }
    }
}

#[test]
fn reader_on_one_file_of_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let enc = dir.path().join("enc");
    let k = kek(1);
    encrypt(&plaintext_from_path(&m).unwrap(), &[&k], &enc, &opts()).unwrap();
    let mut r = open_file(&enc, Some("a.txt"), &k).unwrap();
    r.seek(SeekFrom::Start(4090)).unwrap();
    let mut buf = [0u8; 20];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(buf[..], data(3 * 4096 + 7, 3)[4090..4110]);
}

/// Decrypts `enc` to `out`, which must fail and leave the directory of `out` as it was.
fn err_class(enc: &Path, id: &dyn Identity, out: &Path) -> SealError {
    let parent = out.parent().unwrap();
    let before = names(parent);
    let e = decrypt(enc, id, out, &DecryptOptions::default()).unwrap_err();
    assert!(!out.exists(), "output must not exist after {e}");
    assert_eq!(names(parent), before, "left after {e}");
    e
}

#[test]
fn wrong_keys_fail_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let enc = dir.path().join("enc");
    encrypt(&plaintext_from_path(&m).unwrap(), &[&kek(1)], &enc, &opts()).unwrap();
    let out = dir.path().join("out");
    let e = err_class(&enc, &kek(2), &out);
    assert_eq!(e.code(), "no-recipient");
    assert!(e.class().is_failure());
    let x = X25519Identity::from_secret([1; 32]);
    assert_eq!(err_class(&enc, &x, &out).code(), "no-recipient");
}

#[test]
fn tampering_with_the_tree_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let k = kek(1);
    let enc = dir.path().join("enc");
    encrypt(&plaintext_from_path(&m).unwrap(), &[&k], &enc, &opts()).unwrap();
    let out = dir.path().join("out");
    type Edit = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("chunk-auth", Box::new(|e| flip(&e.join("a.txt"), 5000))),
        (
            "chunk-auth",
            Box::new(|e| flip(&e.join("a.txt"), 3 * 4096 + 7 + 63)),
        ),
        ("truncated", Box::new(|e| truncate(&e.join("a.txt"), 1))),
        ("extended", Box::new(|e| append(&e.join("a/b"), b"x"))),
        // A body bit: aes256-kek binds body_digest, so the unwrap itself fails (§16).
        ("unwrap", Box::new(|e| flip(&e.join(ENVELOPE_NAME), 40))),
        (
            "header-auth",
            Box::new(|e| {
                let p = e.join(ENVELOPE_NAME);
                let n = fs::metadata(&p).unwrap().len();
                flip(&p, n - 1)
            }),
        ),
        ("tree", Box::new(|e| fs::remove_file(e.join("B")).unwrap())),
        (
            "tree",
            Box::new(|e| fs::write(e.join("extra"), b"").unwrap()),
        ),
        (
            "tree",
            Box::new(|e| fs::create_dir(e.join("emptydir")).unwrap()),
        ),
        (
            "tree",
            Box::new(|e| fs::rename(e.join("B"), e.join("C")).unwrap()),
        ),
        (
            "tree",
            Box::new(|e| {
                fs::remove_file(e.join("B")).unwrap();
                std::os::unix::fs::symlink(e.join("a-b"), e.join("B")).unwrap();
            }),
        ),
    ];
    for (class, edit) in cases {
        let copy = dir.path().join("copy");
        let _ = fs::remove_dir_all(&copy);
        copy_dir(&enc, &copy);
        edit(&copy);
        let e = err_class(&copy, &k, &out);
        assert_eq!(e.code(), class, "{e}");
    }
    // Swapping two encrypted files of equal size (different names) fails at their chunks: each
    // file's key and nonces are bound to its name, so the swapped bytes do not authenticate.
    let pair = dir.path().join("pair");
    fs::create_dir(&pair).unwrap();
    fs::write(pair.join("x"), data(100, 4)).unwrap();
    fs::write(pair.join("y"), data(100, 5)).unwrap();
    let pair_enc = dir.path().join("pair.enc");
    encrypt(
        &plaintext_from_path(&pair).unwrap(),
        &[&k],
        &pair_enc,
        &opts(),
    )
    .unwrap();
    let (x, y) = (pair_enc.join("x"), pair_enc.join("y"));
    let (x_bytes, y_bytes) = (fs::read(&x).unwrap(), fs::read(&y).unwrap());
    assert_eq!(
        x_bytes.len(),
        y_bytes.len(),
        "the swapped files have one size"
    );
    fs::write(&x, y_bytes).unwrap();
    fs::write(&y, x_bytes).unwrap();
    assert_eq!(err_class(&pair_enc, &k, &out).code(), "chunk-auth");
    // Unlisted .git content is skipped; caller skip paths too.
    let copy = dir.path().join("git");
    copy_dir(&enc, &copy);
    fs::create_dir_all(copy.join(".git/objects")).unwrap();
    fs::write(copy.join("model.sig"), b"{}").unwrap();
    let o = DecryptOptions {
        skip: vec!["model.sig".into()],
        ..DecryptOptions::default()
    };
    decrypt(&copy, &k, &dir.path().join("gitout"), &o).unwrap();
}

#[test]
fn overwrite_is_explicit_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let k = kek(1);
    let enc = dir.path().join("enc");
    let input = plaintext_from_path(&m).unwrap();
    encrypt(&input, &[&k], &enc, &opts()).unwrap();
    assert_eq!(
        encrypt(&input, &[&k], &enc, &opts()).unwrap_err().code(),
        "usage"
    );
    let o = EncryptOptions {
        overwrite: true,
        ..opts()
    };
    encrypt(&input, &[&k], &enc, &o).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("old"), b"old").unwrap();
    let e = decrypt(&enc, &k, &out, &DecryptOptions::default()).unwrap_err();
    assert_eq!(e.code(), "usage");
    let d = DecryptOptions {
        overwrite: true,
        ..DecryptOptions::default()
    };
    decrypt(&enc, &k, &out, &d).unwrap();
    assert!(!out.join("old").exists() && out.join("a/b").exists());
    no_leftovers(dir.path(), &["enc", "model", "out"]);
}

#[test]
fn rewrap_changes_only_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path());
    let (k1, k2, k3) = (kek(1), kek(2), kek(3));
    for single in [false, true] {
        let enc = dir.path().join(format!("enc{single}"));
        let input = if single {
            plaintext_from_path(&m.join("a.txt")).unwrap()
        } else {
            plaintext_from_path(&m).unwrap()
        };
        encrypt(&input, &[&k1, &k2], &enc, &opts()).unwrap();
        let before = if single {
            None
        } else {
            Some(fs::read(enc.join("a.txt")).unwrap())
        };
        let r = rewrap(
            &enc,
            &k1,
            &[&k3],
            &[("aes256-kek".into(), k2.key_id().into())],
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        if let Some(b) = before {
            assert_eq!(fs::read(enc.join("a.txt")).unwrap(), b);
        }
        let out = dir.path().join(format!("out{single}"));
        assert_eq!(err_class(&enc, &k2, &out).code(), "no-recipient");
        decrypt(&enc, &k3, &out, &DecryptOptions::default()).unwrap();
        // Removing the last recipient or an absent one, or adding a present one, is refused.
        assert!(rewrap(&enc, &k1, &[&k3], &[]).is_err());
        assert!(rewrap(&enc, &k1, &[], &[("aes256-kek".into(), "nope".into())]).is_err());
    }
    no_leftovers(
        dir.path(),
        &["encfalse", "enctrue", "model", "outfalse", "outtrue"],
    );
}

fn flip(p: &Path, at: u64) {
    let mut b = fs::read(p).unwrap();
    b[at as usize] ^= 0x01;
    fs::write(p, b).unwrap();
}
fn truncate(p: &Path, by: u64) {
    let f = fs::OpenOptions::new().write(true).open(p).unwrap();
    let n = f.metadata().unwrap().len();
    f.set_len(n - by).unwrap();
}
fn append(p: &Path, extra: &[u8]) {
    let mut b = fs::read(p).unwrap();
    b.extend_from_slice(extra);
    fs::write(p, b).unwrap();
}
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Rewrites the start of a file in place (same size) the first time encryption reports progress.
struct RewriteWhileEncrypting {
    path: PathBuf,
    done: std::sync::atomic::AtomicBool,
}

impl modelseal::progress::Progress for RewriteWhileEncrypting {
    fn advance(&self, _bytes: u64) {
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            use std::os::unix::fs::FileExt;
            // Past one coarse clock tick, for kernels without multigrain timestamps.
            std::thread::sleep(std::time::Duration::from_millis(20));
            let f = fs::OpenOptions::new().write(true).open(&self.path).unwrap();
            f.write_all_at(&[0xEE; 100], 0).unwrap();
        }
    }
}

#[test]
fn a_same_size_rewrite_during_encryption_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("weights.bin");
    fs::write(&input, data(3 << 20, 9)).unwrap();
    let out = dir.path().join("weights.mseal");
    let progress = RewriteWhileEncrypting {
        path: input.clone(),
        done: Default::default(),
    };
    let options = EncryptOptions {
        chunk_size: 4096,
        ..EncryptOptions::default()
    };
    let err = modelseal::envelope::encrypt_with_progress(
        &plaintext_from_path(&input).unwrap(),
        &[&kek(1)],
        &out,
        &options,
        &progress,
    )
    .unwrap_err();
    assert_eq!(err.code(), "changed", "{err}");
    assert!(err.to_string().contains("weights.bin"), "{err}");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the input remains");
}

/// `Debug` of every seal type that holds a secret shows what it is, never the secret (raw bytes
/// as hex in either case, or base64).
#[test]
fn debug_output_of_seal_secrets_holds_no_key_material() {
    use base64::Engine as _;
    use modelseal::internals::envelope::keyschedule::KeySchedule;
    use modelseal::keys::DataKey;
    let secret = [0x3c_u8; 32];
    let forms = |b: &[u8]| {
        [
            hex::encode(b),
            hex::encode_upper(b),
            base64::engine::general_purpose::STANDARD.encode(b),
            format!("{:?}", b),
        ]
    };
    let dek = DataKey::from_bytes(secret);
    let file_keys = dek.file_keys("a", &[1; 32]);
    let kek = KekWrapper::from_bytes(secret);
    let dir = tempfile::tempdir().unwrap();
    let x = modelseal::internals::keys::file::generate(
        modelseal::keys::KeyKind::X25519,
        &dir.path().join("x"),
        None,
        false,
    )
    .unwrap();
    let x_pem = fs::read_to_string(&x.secret).unwrap();
    let x_body: String = x_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let x_der = base64::engine::general_purpose::STANDARD
        .decode(&x_body)
        .unwrap();
    let x_secret = X25519Identity::from_pkcs8_der(&x_der, &x.secret).unwrap();
    for debug in [
        format!("{dek:?}"),
        format!("{file_keys:?}"),
        format!("{kek:?}"),
        format!("{x_secret:?}"),
    ] {
        for form in forms(&secret)
            .iter()
            .chain(forms(file_keys.key.as_ref()).iter())
        {
            assert!(!debug.contains(form.as_str()), "{debug}");
        }
        assert!(!debug.contains(&x_body), "{debug}");
        // The raw X25519 scalar is the last 32 bytes of its PKCS#8 encoding.
        for form in forms(&x_der[x_der.len() - 32..]) {
            assert!(!debug.contains(form.as_str()), "{debug}");
        }
    }
}

/// The header of an encrypted model and the context its stanzas are bound to.
fn header_of(
    enc: &Path,
) -> (
    modelseal::internals::envelope::format::Header,
    [u8; 32],
    String,
) {
    use modelseal::internals::envelope::format::{decode_prefix, Header, PREFIX_LEN};
    let path = enc.join(ENVELOPE_NAME);
    let bytes = fs::read(&path).unwrap();
    let n = decode_prefix(&bytes[..PREFIX_LEN], &path).unwrap();
    let header = Header::decode(&bytes[PREFIX_LEN..PREFIX_LEN + n], &path).unwrap();
    let summary = modelseal::envelope::inspect_encrypted(enc).unwrap();
    (header, summary.body_digest, summary.model_name)
}

/// "Stolen ciphertext reveals nothing" (THREAT-MODEL) rests on fresh randomness: with the real OS
/// entropy (what `encrypt` uses; the vectors inject theirs), two encryptions of one model, and two
/// identical files in one model, share no data key, no salt and no ciphertext byte string.
#[test]
fn encryptions_and_identical_files_get_fresh_keys_salts_and_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("twins");
    fs::create_dir(&m).unwrap();
    let content = data(3 * 4096 + 5, 7);
    fs::write(m.join("x"), &content).unwrap();
    fs::write(m.join("y"), &content).unwrap();
    let k = kek(1);
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    for enc in [&one, &two] {
        encrypt(&plaintext_from_path(&m).unwrap(), &[&k], enc, &opts()).unwrap();
    }
    let mut salts = Vec::new();
    let mut keys = Vec::new();
    for enc in [&one, &two] {
        let (header, body_digest, model_name) = header_of(enc);
        salts.extend(header.body.files.iter().map(|f| f.salt));
        let ctx = modelseal::keys::WrapContext {
            body_digest,
            model_name: &model_name,
        };
        keys.push(*k.unwrap(&header.stanzas[0], &ctx).unwrap().expose());
    }
    assert_ne!(keys[0], keys[1], "two encryptions, one data key");
    assert_eq!(salts.len(), 4);
    for (i, a) in salts.iter().enumerate() {
        for (j, b) in salts.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "salts {i} and {j} are equal");
        }
    }
    let ciphertexts =
        [one.join("x"), one.join("y"), two.join("x"), two.join("y")].map(|p| fs::read(p).unwrap());
    for (i, a) in ciphertexts.iter().enumerate() {
        for (j, b) in ciphertexts.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "ciphertexts {i} and {j}");
            // Not even one 16-byte block in common at the same place.
            let same = a
                .chunks(16)
                .zip(b.chunks(16))
                .filter(|(a, b)| a == b)
                .count();
            assert_eq!(same, 0, "ciphertexts {i} and {j} share {same} blocks");
        }
    }
    assert_ne!(
        fs::read(one.join(ENVELOPE_NAME)).unwrap(),
        fs::read(two.join(ENVELOPE_NAME)).unwrap()
    );
    for enc in [&one, &two] {
        let out = dir.path().join(format!("{}.out", enc.display()));
        decrypt(enc, &k, &out, &DecryptOptions::default()).unwrap();
        assert_eq!(fs::read(out.join("y")).unwrap(), content);
    }
}
