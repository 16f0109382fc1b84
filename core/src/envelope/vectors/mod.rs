//! Known-answer vectors (`docs/FORMAT.md` §16): a test-only generator that encrypts fixed inputs
//! with a seeded ChaCha20 RNG, and a test that regenerates every vector and compares it byte for
//! byte with `test-vectors/seal/`. Run with `MODELSEAL_REGEN_VECTORS=1` to (re)write them instead.
//! Never compiled outside tests.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::authenticate::open_authenticated;
use super::encrypt::{encrypt_with_entropy, EncryptOptions, Plaintext};
use super::format::{ParamValue, Stanza, DEFAULT_CHUNK_SIZE};
use super::keyschedule::{mac_key, KeySchedule};
use super::rewrap::rewrap_with_entropy;
use super::stream::ChunkLayout;
use super::{decrypt, DecryptOptions};
// The vectors are a test (`#[cfg(test)] mod vectors`) that encrypts with the file backend's keys,
// which the envelope itself never names: the attribute says so to the floor check too.
#[cfg(test)]
use crate::keys::file::{
    generate as generate_key,
    hpke::X25519Identity,
    kek::KekWrapper,
    load::{load_wrapping, WrappingKey},
    rsa::{OaepHash, RsaOaepIdentity},
};
use crate::keys::wrapping::{DataKey, Identity, Recipient, StanzaKey, WrapContext};
use crate::keys::KeyError;
use crate::rng::{Entropy, SeededEntropy};

mod forge;
mod negative;

const C: u32 = 4096;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/seal")
}

fn seed(name: &str) -> [u8; 32] {
    Sha256::digest(format!("modelseal test vector {name}")).into()
}

fn pattern(n: usize, k: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 ^ k)
        .collect()
}

/// A stanza of an unregistered type, to check that decoders skip it (§8.1).
struct Unknown;
impl StanzaKey for Unknown {
    fn stanza_type(&self) -> &str {
        "example.com/unknown"
    }
    fn key_id(&self) -> &str {
        "opaque-recipient-1"
    }
}
impl Recipient for Unknown {
    fn wrap(
        &self,
        _: &DataKey,
        _: &WrapContext<'_>,
        e: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        let mut wrapped = vec![0u8; 40];
        e.fill(&mut wrapped)?;
        Ok(Stanza {
            stanza_type: self.stanza_type().into(),
            key_id: self.key_id().into(),
            wrapped,
            params: BTreeMap::from([(7, ParamValue::Text("opaque".into()))]),
        })
    }
}
impl Identity for Unknown {
    fn unwrap(&self, _: &Stanza, _: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        Err(KeyError::Usage("unknown".into()))
    }
}

struct Keys {
    kek1: KekWrapper,
    x25519: X25519Identity,
    rsa: RsaOaepIdentity,
    rsa_sha1: RsaOaepIdentity,
}

/// Copies every file of `dir` into a fresh temporary directory with mode 0600.
fn private_copies(dir: &Path) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let from = entry.unwrap().path();
        let to = tmp.path().join(from.file_name().unwrap());
        fs::copy(&from, &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
    }
    tmp
}

/// Keys are inputs: committed once (made by `keys::file::generate` from the OS RNG), read from files.
fn keys(root: &Path, regen: bool) -> Keys {
    let k = root.join("keys");
    if regen && !k.join("kek-1.hex").exists() {
        fs::create_dir_all(&k).unwrap();
        use crate::keys::KeyKind;
        generate_key(KeyKind::Aes256Kek, &k.join("kek-1.hex"), None, false).unwrap();
        generate_key(KeyKind::Aes256Kek, &k.join("kek-2.hex"), None, false).unwrap();
        generate_key(KeyKind::X25519, &k.join("x25519-1.pem"), None, false).unwrap();
        generate_key(KeyKind::Rsa3072, &k.join("rsa3072-1.pem"), None, false).unwrap();
    }
    if regen && !k.join("rsa3072-2.pem").exists() {
        use crate::keys::KeyKind;
        generate_key(KeyKind::Rsa3072, &k.join("rsa3072-2.pem"), None, false).unwrap();
    }
    // A git checkout leaves the committed test keys 0644, which the key loaders rightly refuse:
    // load private copies instead.
    let private = private_copies(&k);
    let k = private.path();
    let der = {
        // A second key: (type, key_id) pairs are unique per header (§5.4 rule 8).
        let text = fs::read(k.join("rsa3072-2.pem")).unwrap();
        pkcs8::der::pem::decode_vec(&text).unwrap().1
    };
    Keys {
        kek1: KekWrapper::from_file(&k.join("kek-1.hex"), &Default::default()).unwrap(),
        x25519: match load_wrapping(&k.join("x25519-1.pem"), &Default::default()).unwrap() {
            WrappingKey::X25519Private(key) => key,
            _ => panic!("x25519-1.pem is not an X25519 private key"),
        },
        rsa: match load_wrapping(&k.join("rsa3072-1.pem"), &Default::default()).unwrap() {
            WrappingKey::RsaPrivate(key) => key,
            _ => panic!("rsa3072-1.pem is not an RSA private key"),
        },
        rsa_sha1: RsaOaepIdentity::from_pkcs8_der(&der, Path::new("rsa"))
            .unwrap()
            .with_hash(OaepHash::Sha1),
    }
}

fn write_dir_model(at: &Path) {
    // Component-wise order B, a/b, a-b, a.txt differs from bytewise order (§16).
    fs::create_dir_all(at.join("a")).unwrap();
    fs::write(at.join("B"), pattern(100, 1)).unwrap();
    fs::write(at.join("a/b"), pattern(C as usize, 2)).unwrap();
    fs::write(at.join("a-b"), b"").unwrap();
    fs::write(at.join("a.txt"), pattern(3 * C as usize + 7, 3)).unwrap();
}

fn dir_plaintext(root: &Path) -> Plaintext {
    let files = ["B", "a/b", "a-b", "a.txt"]
        .iter()
        .map(|n| (n.to_string(), root.join(n)))
        .collect();
    Plaintext::Directory {
        root: root.to_path_buf(),
        files,
    }
}

fn hexs(b: &[u8]) -> Value {
    Value::String(hex::encode(b))
}

/// vector.json: every intermediate value of §6–§8, recomputed by independent decoders.
fn describe(
    name: &str,
    encrypted: &Path,
    id: &dyn Identity,
    keys_used: &[&str],
    chunk: u32,
) -> Value {
    let o = open_authenticated(encrypted, id).unwrap();
    let files: Vec<Value> = o
        .header
        .body
        .files
        .iter()
        .map(|f| {
            let fk = o.dek.file_keys(&f.path, &f.salt);
            let l = ChunkLayout::new(chunk, f.size);
            json!({"path": f.path, "size": f.size, "salt": hexs(&f.salt), "K_file": hexs(&fk.key[..]),
                   "NP": hexs(&fk.nonce_prefix), "n": l.chunks(), "ct_len": l.ct_len()})
        })
        .collect();
    let ctx = WrapContext {
        body_digest: o.body_digest,
        model_name: &o.header.body.model_name,
    };
    let stanzas: Vec<Value> = o
        .header
        .stanzas
        .iter()
        .map(|s| {
            let params: serde_json::Map<String, Value> = s
                .params
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        ParamValue::Uint(n) => json!(n),
                        ParamValue::Bytes(b) => json!({"bytes": hex::encode(b)}),
                        ParamValue::Text(t) => json!(t),
                    };
                    (k.to_string(), v)
                })
                .collect();
            json!({"type": s.stanza_type, "key_id": s.key_id, "params": params,
                   "stanza_context": hexs(&ctx.stanza_context(&s.stanza_type, &s.key_id))})
        })
        .collect();
    let env = fs::read(&o.envelope_path).unwrap();
    let mac = &env[o.envelope_len as usize - 32..o.envelope_len as usize];
    json!({"name": name, "seed": hexs(&seed(name)), "keys": keys_used, "DEK": hexs(o.dek.expose()),
           "chunk_size": chunk, "model_name": o.header.body.model_name,
           "body_digest": hexs(&o.body_digest), "K_mac": hexs(&mac_key(&o.dek)[..]),
           "header_mac": hexs(mac), "files": files, "stanzas": stanzas})
}

fn write_json(path: &Path, v: &Value) {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    fs::write(path, s).unwrap();
}

fn opts(chunk: u32) -> EncryptOptions {
    EncryptOptions {
        chunk_size: chunk,
        model_name: Some("vector".into()),
        overwrite: false,
    }
}

/// Generates every vector under `out` (inputs and outputs), reading keys from `keys_root`.
fn generate(out: &Path, keys_root: &Path, regen: bool) {
    let k = keys(keys_root, regen);
    let v1 = out.join("v1");
    let single = |name: &str,
                  size: usize,
                  recips: Vec<&dyn Recipient>,
                  id: &dyn Identity,
                  names: &[&str]| {
        let d = v1.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("input.bin"), pattern(size, 0x5a)).unwrap();
        let enc = d.join("encrypted.mseal");
        let mut e = SeededEntropy::new(seed(name));
        encrypt_with_entropy(
            &Plaintext::File(d.join("input.bin")),
            &recips,
            &enc,
            &opts(C),
            &mut e,
        )
        .unwrap();
        write_json(&d.join("vector.json"), &describe(name, &enc, id, names, C));
    };
    single("single-empty", 0, vec![&k.kek1], &k.kek1, &["kek-1"]);
    single("single-1", 1, vec![&k.kek1], &k.kek1, &["kek-1"]);
    single(
        "single-2c",
        2 * C as usize,
        vec![&k.kek1],
        &k.kek1,
        &["kek-1"],
    );
    single(
        "single-2c1",
        2 * C as usize + 1,
        vec![&k.kek1],
        &k.kek1,
        &["kek-1"],
    );
    single(
        "four-stanzas",
        2 * C as usize + 1,
        vec![&k.kek1, &k.x25519, &k.rsa, &k.rsa_sha1],
        &k.kek1,
        &[
            "kek-1",
            "x25519-1",
            "rsa3072-1 (sha256)",
            "rsa3072-2 (sha1)",
        ],
    );
    single(
        "unknown-stanza",
        10,
        vec![&Unknown, &k.x25519],
        &k.x25519,
        &["x25519-1"],
    );
    for (name, chunk) in [("dir-order", C), ("dir-default-chunk", DEFAULT_CHUNK_SIZE)] {
        let d = v1.join(name);
        write_dir_model(&d.join("input"));
        let enc = d.join("encrypted");
        let mut e = SeededEntropy::new(seed(name));
        encrypt_with_entropy(
            &dir_plaintext(&d.join("input")),
            &[&k.kek1],
            &enc,
            &opts(chunk),
            &mut e,
        )
        .unwrap();
        write_json(
            &d.join("vector.json"),
            &describe(name, &enc, &k.kek1, &["kek-1"], chunk),
        );
    }
    // Rewrap: dir-order's encryption with kek-1 + x25519, then x25519 removed and rsa added.
    {
        let name = "rewrap";
        let d = v1.join(name);
        write_dir_model(&d.join("input"));
        let before = d.join("before");
        let mut e = SeededEntropy::new(seed(name));
        encrypt_with_entropy(
            &dir_plaintext(&d.join("input")),
            &[&k.kek1, &k.x25519],
            &before,
            &opts(C),
            &mut e,
        )
        .unwrap();
        copy_tree(&before, &d.join("encrypted"));
        let remove = [("x25519-hpke".to_string(), k.x25519.key_id().to_string())];
        rewrap_with_entropy(&d.join("encrypted"), &k.kek1, &[&k.rsa], &remove, &mut e).unwrap();
        write_json(
            &d.join("vector.json"),
            &describe(
                name,
                &d.join("encrypted"),
                &k.kek1,
                &["kek-1", "rsa3072-1"],
                C,
            ),
        );
    }
    negative::generate(out, &v1, &k);
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let kind = e.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else if kind.is_symlink() {
            let target = fs::read_link(e.path()).unwrap();
            std::os::unix::fs::symlink(target, to.join(e.file_name())).unwrap();
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file below `root` (relative path → bytes), skipping `keys/`, `README.md` and scripts.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn go(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if rel == "keys" || rel.ends_with(".md") || rel.ends_with(".py") || rel == "__pycache__"
            {
                continue;
            }
            if p.is_symlink() {
                let target = fs::read_link(&p).unwrap();
                out.insert(rel, format!("symlink -> {}", target.display()).into_bytes());
            } else if p.is_dir() {
                go(base, &p, out);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        go(root, root, &mut out);
    }
    out
}

#[test]
fn vectors_regenerate_byte_for_byte() {
    let root = vectors_dir();
    if std::env::var_os("MODELSEAL_REGEN_VECTORS").is_some() {
        for sub in ["v1", "negative"] {
            let _ = fs::remove_dir_all(root.join(sub));
        }
        generate(&root, &root, true);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), &root, false);
    let (want, got) = (snapshot(&root), snapshot(tmp.path()));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(
            got[name] == *bytes,
            "{name} differs from the regenerated vector"
        );
    }
}

#[test]
fn vectors_decrypt_and_negatives_fail_with_their_class() {
    let root = vectors_dir();
    let k = keys(&root, false);
    let private = private_copies(&root.join("keys"));
    let kek2 =
        KekWrapper::from_file(&private.path().join("kek-2.hex"), &Default::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(root.join("v1")).unwrap() {
        let d = entry.unwrap().path();
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let (enc, input) = if d.join("encrypted.mseal").exists() {
            (d.join("encrypted.mseal"), d.join("input.bin"))
        } else {
            (d.join("encrypted"), d.join("input"))
        };
        let ids: Vec<&dyn Identity> = match name.as_str() {
            "four-stanzas" => vec![&k.kek1, &k.x25519, &k.rsa, &k.rsa_sha1],
            "unknown-stanza" => vec![&k.x25519],
            "rewrap" => vec![&k.kek1, &k.rsa],
            _ => vec![&k.kek1],
        };
        for (i, id) in ids.iter().enumerate() {
            let out = tmp.path().join(format!("{name}-{i}"));
            decrypt(&enc, *id, &out, &DecryptOptions::default()).unwrap();
            if input.is_dir() {
                for f in ["B", "a/b", "a-b", "a.txt"] {
                    assert_eq!(
                        fs::read(out.join(f)).unwrap(),
                        fs::read(input.join(f)).unwrap()
                    );
                }
            } else {
                assert_eq!(fs::read(&out).unwrap(), fs::read(&input).unwrap(), "{name}");
            }
        }
    }
    for entry in fs::read_dir(root.join("negative")).unwrap() {
        let d = entry.unwrap().path();
        let exp: Value =
            serde_json::from_slice(&fs::read(d.join("expected.json")).unwrap()).unwrap();
        let id: &dyn Identity = if exp["key"] == "kek-2" {
            &kek2
        } else {
            &k.kek1
        };
        let enc = if d.join("encrypted.mseal").exists() {
            d.join("encrypted.mseal")
        } else {
            // A private copy, so that `mkdir` (an empty directory git cannot keep) can be added.
            let copy = tmp.path().join(d.file_name().unwrap());
            copy_tree(&d.join("encrypted"), &copy);
            if let Some(m) = exp["mkdir"].as_str() {
                fs::create_dir(copy.join(m)).unwrap();
            }
            copy
        };
        let out = tmp.path().join("neg");
        let err = decrypt(&enc, id, &out, &DecryptOptions::default()).unwrap_err();
        assert_eq!(err.code(), exp["error"], "{}: {err}", d.display());
        assert!(!out.exists());
    }
}
