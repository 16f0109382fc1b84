//! Models in object storage (issue 19) through the CLI, against real emulators started by
//! `scripts/storage_emulator.py` on a free port of 127.0.0.1: moto's server (S3), fake-gcs-server
//! (GCS) and Azurite (Azure Blob), each behind the script's logging, fault-injecting proxy.
//! Buckets and objects are made with `scripts/storage_admin.py`. Nothing is skipped: a missing
//! emulator fails the test (scripts/setup.sh installs them).

mod common;

use common::moto::python;
use common::storage::{Emulator, Store, AZURITE_KEY};
use common::{keygen_p256, s};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// `#[test]`s running one scenario on each store named: `store_tests!(scenario: test => Store, …)`
/// defines `fn test() { scenario(Store::…) }` for each pair.
macro_rules! store_tests {
    ($scenario:ident: $($test:ident => $store:ident),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                $scenario(Store::$store);
            }
        )+
    };
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small model named `llm`: three files in two directories (one of 300 KB, read in ranges).
fn model(dir: &Path) -> PathBuf {
    let m = dir.join("llm");
    std::fs::create_dir_all(m.join("sub")).unwrap();
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(m.join("weights.bin"), weights).unwrap();
    std::fs::write(m.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
    std::fs::write(m.join(".hidden"), b"x").unwrap();
    m
}

/// The DSSE payload (the statement) of a signature file.
fn statement(sig: &Path) -> serde_json::Value {
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sig).unwrap()).unwrap();
    bundle["dsseEnvelope"]["payload"].clone()
}

/// A trust policy in the set-up's directory: models named `prod/*` need the release key.
fn release_policy(t: &Setup) -> PathBuf {
    let policy = t.dir.path().join("trust.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[signers.release]\nkey = \"{}\"\n[[models]]\nname = \"prod/*\"\n\
             require = [\"release\"]\n",
            t.public.display()
        ),
    )
    .unwrap();
    policy
}

/// A model uploaded to `models/prod/llm` of a fresh emulator, with a key pair.
struct Setup {
    emulator: Emulator,
    dir: tempfile::TempDir,
    local: PathBuf,
    key: PathBuf,
    public: PathBuf,
    url: String,
}

fn setup(store: Store, faults: &str) -> Setup {
    let emulator = Emulator::start(store, faults);
    let dir = tempfile::tempdir().unwrap();
    let local = model(dir.path());
    let (key, public) = keygen_p256(dir.path(), "release");
    emulator.admin(&["mkbucket", "models"]);
    emulator.admin(&["upload", "models", "prod/llm", s(&local)]);
    let url = emulator.url("models/prod/llm");
    Setup {
        emulator,
        dir,
        local,
        key,
        public,
        url,
    }
}

/// Sign in the bucket ↔ verify the local copy, both ways; the statements are byte-identical, and
/// a signature written into the bucket verifies from there.
fn round_trip(store: Store) {
    let t = setup(store, "");
    let e = &t.emulator;
    let bucket_sig = t.dir.path().join("bucket.sig");
    let local_sig = t.dir.path().join("local.sig");
    let pubkey = s(&t.public);
    e.ok(&["sign", &t.url, "--key", s(&t.key), "-o", s(&bucket_sig)]);
    e.ok(&["sign", s(&t.local), "--key", s(&t.key), "-o", s(&local_sig)]);
    assert_eq!(statement(&bucket_sig), statement(&local_sig), "{store:?}");
    e.ok(&[
        "verify",
        s(&t.local),
        "--signature",
        s(&bucket_sig),
        "--key",
        pubkey,
    ]);
    e.ok(&[
        "verify",
        &t.url,
        "--signature",
        s(&local_sig),
        "--key",
        pubkey,
    ]);

    // The default signature path of a bucket model is beside it, in the bucket.
    e.ok(&["sign", &t.url, "--key", s(&t.key)]);
    let in_bucket = format!("{}.sig", t.url);
    e.ok(&["verify", &t.url, "--signature", &in_bucket, "--key", pubkey]);
    // A signature stored inside the model's prefix is left out of the listing by name, as a
    // local walk leaves out a signature inside the model directory: recorded in `ignore_paths`
    // when signing, exempt when verifying; the statement signs the same three files (the local copy verifies).
    let inside = format!("{}/model.sig", t.url);
    e.ok(&["sign", &t.url, "--key", s(&t.key), "-o", &inside]);
    e.ok(&["verify", &t.url, "--signature", &inside, "--key", pubkey]);
    e.ok(&[
        "verify",
        s(&t.local),
        "--signature",
        &inside,
        "--key",
        pubkey,
    ]);
    let again = e.modelseal(&["sign", &t.url, "--key", s(&t.key)]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

store_tests!(round_trip:
    s3_round_trip_both_ways => S3,
    gcs_round_trip_both_ways => Gcs,
    azure_round_trip_both_ways => Azure,
);

/// A changed, an extra and a missing object each fail verification (exit 1) naming the object.
#[test]
fn s3_tampering_fails_verification_naming_the_object() {
    let t = setup(Store::S3, "");
    let e = &t.emulator;
    let sig = t.dir.path().join("llm.sig");
    e.ok(&["sign", &t.url, "--key", s(&t.key), "-o", s(&sig)]);
    let verify = || {
        e.modelseal(&[
            "verify",
            &t.url,
            "--signature",
            s(&sig),
            "--key",
            s(&t.public),
        ])
    };

    let changed = t.dir.path().join("changed");
    std::fs::write(&changed, b"{\"layers\": 3}").unwrap();
    e.admin(&["put", "models", "prod/llm/sub/config.json", s(&changed)]);
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("sub/config.json"), "{}", stderr(&out));
    e.admin(&[
        "put",
        "models",
        "prod/llm/sub/config.json",
        s(&t.local.join("sub/config.json")),
    ]);
    e.ok(&[
        "verify",
        &t.url,
        "--signature",
        s(&sig),
        "--key",
        s(&t.public),
    ]);

    e.admin(&["put", "models", "prod/llm/extra.bin", s(&changed)]);
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("extra.bin"), "{}", stderr(&out));
    e.admin(&["delete", "models", "prod/llm/extra.bin"]);

    e.admin(&["delete", "models", "prod/llm/.hidden"]);
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(".hidden"), "{}", stderr(&out));
}

/// A missing bucket is an input error (exit 2) naming the location.
#[test]
fn s3_missing_bucket_is_an_input_error() {
    let t = setup(Store::S3, "");
    let out = t.emulator.modelseal(&[
        "sign",
        "s3://no-such-bucket/m",
        "--key",
        s(&t.key),
        "-o",
        s(&t.dir.path().join("x.sig")),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s3://no-such-bucket/m"),
        "{}",
        stderr(&out)
    );
}

/// 503 SlowDown, 500 and a dropped connection on the first ranged GETs are retried: signing
/// succeeds with the same statement, and the proxy saw the extra GETs.
#[test]
fn s3_throttling_errors_and_dropped_connections_are_retried() {
    let t = setup(Store::S3, "503,500,drop");
    let e = &t.emulator;
    let sig = t.dir.path().join("llm.sig");
    let local_sig = t.dir.path().join("local.sig");
    e.ok(&["sign", &t.url, "--key", s(&t.key), "-o", s(&sig)]);
    e.ok(&["sign", s(&t.local), "--key", s(&t.key), "-o", s(&local_sig)]);
    assert_eq!(statement(&sig), statement(&local_sig));
    let gets = e
        .requests()
        .iter()
        .filter(|r| r.contains(" range="))
        .count();
    assert_eq!(
        gets,
        3 + 3,
        "three objects, three faults: {:?}",
        e.requests()
    );
}

/// One LIST for a model of fewer than 1,000 objects and one GET per range (64 KiB chunks here:
/// the 300 KB file takes 5), as the emulator's request log shows.
#[test]
fn s3_request_count_is_one_list_and_one_get_per_range() {
    let t = setup(Store::S3, "");
    let e = &t.emulator;
    let before = e.requests().len();
    let out = e.modelseal_with(&[("MODELSEAL_STORAGE_CHUNK_MIB", "1")], &["digest", &t.url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let requests: Vec<String> = e.requests().split_off(before);
    let lists = requests
        .iter()
        .filter(|r| r.contains("list-type=2"))
        .count();
    let gets = requests.iter().filter(|r| r.contains(" range=")).count();
    assert_eq!((lists, gets), (1, 3), "{requests:?}");
    assert_eq!(requests.len(), 4, "{requests:?}");
}

/// model-signing 1.1.1 verifies the local copy of a model signed in the bucket.
#[test]
fn model_signing_verifies_the_local_copy_of_a_bucket_signed_model() {
    let t = setup(Store::S3, "");
    let sig = t.dir.path().join("llm.sig");
    t.emulator
        .ok(&["sign", &t.url, "--key", s(&t.key), "-o", s(&sig)]);
    let out = Command::new(python().parent().unwrap().join("model_signing"))
        .args([
            "verify",
            "key",
            s(&t.local),
            "--signature",
            s(&sig),
            "--public_key",
            s(&t.public),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "model_signing: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// An object replaced between the listing and its read (the proxy overwrites it just before the
/// first ranged GET) fails signing naming the object: the GETs are pinned to the listed ETag.
#[test]
fn s3_object_replaced_mid_run_is_an_error_naming_it() {
    let t = setup(Store::S3, "replace");
    let sig = t.dir.path().join("llm.sig");
    let out = t.emulator.modelseal_with(
        &[("RAYON_NUM_THREADS", "1")],
        &["sign", &t.url, "--key", s(&t.key), "-o", s(&sig)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("changed while it was being hashed"), "{err}");
    assert!(err.contains("s3://models/prod/llm/"), "{err}");
    assert!(!sig.exists(), "no signature over a replaced object");
}

/// Azurite refuses a wrong account key: an input error (exit 2) saying access was denied,
/// without the key in the message.
#[test]
fn azure_wrong_credentials_are_access_denied_without_the_key() {
    let t = setup(Store::Azure, "");
    let wrong = "d3JvbmcgYWNjb3VudCBrZXkgZm9yIHRoZSB0ZXN0cw==";
    let settings = format!(
        "AccountName=devstoreaccount1;AccountKey={wrong};BlobEndpoint={}/devstoreaccount1",
        t.emulator.endpoint()
    );
    let out = t.emulator.modelseal_with(
        &[("AZURE_STORAGE_CONNECTION_STRING", &settings)],
        &["digest", &t.url],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("az://models/prod/llm"), "{err}");
    assert!(err.contains("access denied"), "{err}");
    assert!(!err.contains(wrong) && !err.contains(AZURITE_KEY), "{err}");
}

/// The files below `dir`, `/`-separated names with their bytes.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// An encrypted directory (`models/enc/llm`), an encrypted single file (`models/enc/w.mseal`)
/// and a sealed model with its outer signature beside it (`models/sealed/llm`, `….sig`), made
/// locally from the setup's model and uploaded; returns the KEK and the policy.
fn upload_encrypted(t: &Setup) -> (PathBuf, PathBuf) {
    let e = &t.emulator;
    let p = |name: &str| t.dir.path().join(name);
    let kek = p("registry.kek");
    e.ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&kek)]);
    let recipient = ["--recipient", s(&kek)];
    let (enc, single, sealed) = (p("enc"), p("w.mseal"), p("sealed"));
    e.ok(&[&["encrypt", s(&t.local)][..], &recipient, &["-o", s(&enc)]].concat());
    let weights = t.local.join("weights.bin");
    e.ok(&[
        &["encrypt", s(&weights)][..],
        &recipient,
        &["-o", s(&single)],
    ]
    .concat());
    e.ok(&[
        &["seal", s(&t.local), "--key", s(&t.key)][..],
        &recipient,
        &["-o", s(&sealed), "--model-name", "prod/llm"],
    ]
    .concat());
    e.admin(&["upload", "models", "enc/llm", s(&enc)]);
    e.admin(&["put", "models", "enc/w.mseal", s(&single)]);
    e.admin(&["upload", "models", "sealed/llm", s(&sealed)]);
    e.admin(&["put", "models", "sealed/llm.sig", s(&p("sealed.sig"))]);
    let policy = release_policy(t);
    (kek, policy)
}

/// Decrypt (a directory and a single file) and unseal (outer signature in the bucket) from the
/// bucket into local directories: the plaintext is the model's, byte for byte; `inspect` reads an
/// encrypted model in the bucket without a key.
fn decrypt_and_unseal_round_trip(store: Store) -> (Setup, PathBuf) {
    let t = setup(store, "");
    let e = &t.emulator;
    let (kek, policy) = upload_encrypted(&t);
    let p = |name: &str| t.dir.path().join(name);
    let url = |key: &str| e.url(&format!("models/{key}"));

    e.ok(&[
        "decrypt",
        &url("enc/llm"),
        "--key",
        s(&kek),
        "-o",
        s(&p("plain")),
    ]);
    assert_eq!(files_of(&p("plain")), files_of(&t.local), "{store:?}");
    let single = p("w.bin");
    e.ok(&[
        "decrypt",
        &url("enc/w.mseal"),
        "--key",
        s(&kek),
        "-o",
        s(&single),
    ]);
    assert_eq!(
        std::fs::read(&single).unwrap(),
        std::fs::read(t.local.join("weights.bin")).unwrap()
    );

    let shown = e.ok(&["inspect", &url("enc/llm"), "--json"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("sub/config.json"), "{shown}");

    let run = p("run");
    e.ok(&[
        "unseal",
        &url("sealed/llm"),
        "--policy",
        s(&policy),
        "--key",
        s(&kek),
        "--out",
        s(&run),
    ]);
    let mut unsealed = files_of(&run);
    unsealed.retain(|(name, _)| name != "modelseal.sig");
    assert_eq!(unsealed, files_of(&t.local), "{store:?}");
    (t, kek)
}

// The round trip on S3 (GCS and Azure run it inside their tampering tests).
store_tests!(decrypt_and_unseal_round_trip:
    s3_decrypt_and_unseal_from_the_bucket => S3,
);

/// After the round trip: a changed, an extra and a missing ciphertext object each fail `decrypt`
/// from the bucket (exit 1) naming the object, and no output appears.
fn decrypt_tampering_is_refused(store: Store) {
    let (t, kek) = decrypt_and_unseal_round_trip(store);
    let e = &t.emulator;
    let out_dir = t.dir.path().join("tampered");
    let url = e.url("models/enc/llm");
    let decrypt = || e.modelseal(&["decrypt", &url, "--key", s(&kek), "-o", s(&out_dir)]);
    let refused = |what: &str, name: &str| {
        let out = decrypt();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{store:?} {what}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(name),
            "{store:?} {what}: {}",
            stderr(&out)
        );
        assert!(!out_dir.exists(), "{store:?} {what}: no output");
    };
    let enc = t.dir.path().join("enc");
    let config = "enc/llm/sub/config.json";
    let mut bytes = std::fs::read(enc.join("sub/config.json")).unwrap();
    bytes[0] ^= 1;
    let flipped = t.dir.path().join("flipped");
    std::fs::write(&flipped, &bytes).unwrap();
    e.admin(&["put", "models", config, s(&flipped)]);
    refused("changed", "sub/config.json");
    e.admin(&["put", "models", config, s(&enc.join("sub/config.json"))]);

    e.admin(&["put", "models", "enc/llm/extra.bin", s(&flipped)]);
    refused("extra", "extra.bin");
    e.admin(&["delete", "models", "enc/llm/extra.bin"]);

    e.admin(&["delete", "models", "enc/llm/.hidden"]);
    refused("missing", ".hidden");
}

store_tests!(decrypt_tampering_is_refused:
    gcs_decrypt_and_unseal_from_the_bucket_and_tampering => Gcs,
    azure_decrypt_and_unseal_from_the_bucket_and_tampering => Azure,
);

/// Through the fault proxy: the envelope's GET meets 503, 500 and a dropped connection and is
/// retried (the decryption goes on), then the next GET's object is replaced before it is served:
/// the decryption fails naming that object (exit 1), and no output appears.
fn decrypt_retries_and_pins(store: Store) {
    let t = setup(store, "503,500,drop,pass,replace");
    let e = &t.emulator;
    let (kek, _) = upload_encrypted(&t);
    let out_dir = t.dir.path().join("plain");
    let out = e.modelseal_with(
        &[("RAYON_NUM_THREADS", "1")],
        &[
            "decrypt",
            &e.url("models/enc/llm"),
            "--key",
            s(&kek),
            "-o",
            s(&out_dir),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{store:?}: {err}");
    assert!(
        err.contains("changed while it was being read"),
        "{store:?}: {err}"
    );
    assert!(err.contains("/models/enc/llm/"), "{store:?}: {err}");
    assert!(!out_dir.exists());
    let gets = e
        .requests()
        .iter()
        .filter(|r| r.contains(" range="))
        .count();
    assert!(
        gets >= 5,
        "three faults retried, then two GETs: {:?}",
        e.requests()
    );
}

store_tests!(decrypt_retries_and_pins:
    gcs_decrypt_retries_faults_and_pins_objects => Gcs,
    azure_decrypt_retries_faults_and_pins_objects => Azure,
);

/// Object keys below `prefix` of the emulator's bucket `models`, as the store lists them.
fn visible(e: &Emulator, prefix: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    e.admin(&["download", "models", prefix, s(dir.path())]);
    files_of(dir.path())
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// A new AES-256 KEK in `dir`.
fn kek(e: &Emulator, dir: &Path) -> PathBuf {
    let kek = dir.join("registry.kek");
    e.ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&kek)]);
    kek
}

/// Encrypt a local model into the bucket (a directory and a single file), decrypt it from there:
/// the plaintext is the model's, byte for byte; the envelope is the last object written; an
/// output location that holds objects is refused without `--force` (exit 2, naming it) and
/// replaced with it, the stale object removed (decrypt, which refuses extra objects, succeeds).
/// Then seal into the bucket (the outer signature written after the envelope) and unseal from
/// there; a second seal onto the same prefix is refused.
fn encrypt_into_the_bucket(store: Store) {
    let t = setup(store, "");
    let e = &t.emulator;
    let p = |name: &str| t.dir.path().join(name);
    let kek = kek(e, t.dir.path());
    let out = e.url("models/enc/llm");
    let encrypt = |model: &Path, out: &str, extra: &[&str]| {
        let args = [
            &["encrypt", s(model), "--recipient", s(&kek), "-o", out][..],
            extra,
        ]
        .concat();
        e.modelseal(&args)
    };
    let before = e.requests().len();
    let run = encrypt(&t.local, &out, &[]);
    assert!(run.status.success(), "{store:?}: {}", stderr(&run));
    let writes: Vec<String> = e.requests()[before..]
        .iter()
        .filter(|r| r.starts_with("PUT ") || r.starts_with("POST "))
        .cloned()
        .collect();
    assert!(
        writes
            .last()
            .is_some_and(|w| w.contains("modelseal.envelope")),
        "{store:?}: the envelope is written last: {writes:?}"
    );
    e.ok(&["decrypt", &out, "--key", s(&kek), "-o", s(&p("plain"))]);
    assert_eq!(files_of(&p("plain")), files_of(&t.local), "{store:?}");

    let single = e.url("models/enc/w.mseal");
    let weights = t.local.join("weights.bin");
    let run = encrypt(&weights, &single, &[]);
    assert!(run.status.success(), "{store:?}: {}", stderr(&run));
    e.ok(&["decrypt", &single, "--key", s(&kek), "-o", s(&p("w.bin"))]);
    assert_eq!(
        std::fs::read(p("w.bin")).unwrap(),
        std::fs::read(&weights).unwrap()
    );

    let again = encrypt(&t.local, &out, &[]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{store:?}: {}",
        stderr(&again)
    );
    assert!(
        stderr(&again).contains(&out) && stderr(&again).contains("already holds"),
        "{store:?}: {}",
        stderr(&again)
    );
    let stale = p("stale.bin");
    std::fs::write(&stale, b"left from an older model").unwrap();
    e.admin(&["put", "models", "enc/llm/old/stale.bin", s(&stale)]);
    std::fs::write(t.local.join("weights.bin"), b"new weights").unwrap();
    let forced = encrypt(&t.local, &out, &["--force"]);
    assert!(forced.status.success(), "{store:?}: {}", stderr(&forced));
    assert!(
        !visible(e, "enc/llm").iter().any(|k| k.contains("stale")),
        "{store:?}: {:?}",
        visible(e, "enc/llm")
    );
    e.ok(&["decrypt", &out, "--key", s(&kek), "-o", s(&p("new"))]);
    assert_eq!(files_of(&p("new")), files_of(&t.local), "{store:?}");

    // seal into the bucket: the encrypted model, then its outer signature beside the prefix;
    // unseal from there under a policy into a local directory.
    let sealed = e.url("models/sealed/llm");
    e.ok(&[
        "seal",
        s(&t.local),
        "--key",
        s(&t.key),
        "--recipient",
        s(&kek),
        "-o",
        &sealed,
        "--model-name",
        "prod/llm",
    ]);
    let writes: Vec<String> = e
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT ") || r.starts_with("POST "))
        .cloned()
        .collect();
    let envelope = writes
        .iter()
        .rposition(|w| w.contains("modelseal.envelope"))
        .unwrap();
    assert!(
        writes[envelope + 1..].iter().all(|w| w.contains("llm.sig")) && envelope + 1 < writes.len(),
        "{store:?}: the outer signature follows the envelope: {writes:?}"
    );
    let policy = release_policy(&t);
    let run = p("run");
    e.ok(&[
        "unseal",
        &sealed,
        "--policy",
        s(&policy),
        "--key",
        s(&kek),
        "--out",
        s(&run),
    ]);
    let mut unsealed = files_of(&run);
    unsealed.retain(|(name, _)| name != "modelseal.sig");
    assert_eq!(unsealed, files_of(&t.local), "{store:?}");
    let again = e.modelseal(&[
        "seal",
        s(&t.local),
        "--key",
        s(&t.key),
        "--recipient",
        s(&kek),
        "-o",
        &sealed,
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{store:?}: {}",
        stderr(&again)
    );
    // A co-signed seal with --force writes `llm.sig.jsonl` and removes the earlier `llm.sig`
    // (unseal reads both by default, so a stale one would be judged with the new).
    let (second, _) = keygen_p256(t.dir.path(), "ci");
    e.ok(&[
        "seal",
        s(&t.local),
        "--key",
        s(&t.key),
        "--key",
        s(&second),
        "--recipient",
        s(&kek),
        "-o",
        &sealed,
        "--force",
    ]);
    let signatures: Vec<String> = visible(e, "sealed")
        .into_iter()
        .filter(|k| k.contains("llm.sig"))
        .collect();
    assert_eq!(signatures, ["llm.sig.jsonl"], "{store:?}");
}

store_tests!(encrypt_into_the_bucket:
    s3_encrypt_into_the_bucket_and_decrypt_back => S3,
    gcs_encrypt_into_the_bucket_and_decrypt_back => Gcs,
    azure_encrypt_into_the_bucket_and_decrypt_back => Azure,
);

/// A 20 MiB file is uploaded in parts (8 MiB each: three), as the request log shows: S3's
/// CreateMultipartUpload, three UploadParts, one CompleteMultipartUpload; it decrypts back.
#[test]
fn s3_a_large_file_is_a_multipart_upload() {
    let t = setup(Store::S3, "");
    let e = &t.emulator;
    let kek = kek(e, t.dir.path());
    let big = t.dir.path().join("big.bin");
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let out = e.url("models/big.mseal");
    let before = e.requests().len();
    e.ok(&["encrypt", s(&big), "--recipient", s(&kek), "-o", &out]);
    let requests: Vec<String> = e.requests().split_off(before);
    let count = |pattern: &str| requests.iter().filter(|r| r.contains(pattern)).count();
    assert_eq!(
        (
            count("?uploads"),
            count("partNumber="),
            count("POST /models/big.mseal?uploadId=")
        ),
        (1, 3, 1),
        "{requests:?}"
    );
    let plain = t.dir.path().join("big.out");
    e.ok(&["decrypt", &out, "--key", s(&kek), "-o", s(&plain)]);
    assert!(std::fs::read(&plain).unwrap() == data);
}

/// An upload killed mid-way (the process killed while the proxy holds the first upload part,
/// once the other file's object is complete) leaves no visible object of the stalled
/// file and no envelope: the reader says the prefix is incomplete.
fn killed_upload_leaves_nothing_visible(store: Store) {
    let t = setup(store, "stall");
    let e = &t.emulator;
    let kek = kek(e, t.dir.path());
    let model = big_model(t.dir.path());
    let out = e.url("models/enc/big");
    let args = ["encrypt", s(&model), "--recipient", s(&kek), "-o", &out];
    let mut child = run_until_an_upload_part(e, &args, || !visible(e, "enc/big").is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    // Whichever file's part the proxy held is invisible; the other one is whole; no envelope.
    let left = visible(e, "enc/big");
    assert!(
        left == ["config.json"] || left == ["weights.bin"],
        "{store:?}: {left:?}"
    );
    let run = e.modelseal(&[
        "decrypt",
        &out,
        "--key",
        s(&kek),
        "-o",
        s(&t.dir.path().join("x")),
    ]);
    assert!(!run.status.success(), "{store:?}");
    assert!(
        stderr(&run).contains("incomplete"),
        "{store:?}: {}",
        stderr(&run)
    );
}

/// A model of two files in `dir/big`: a 10 MiB one (two upload parts) and a small one.
fn big_model(dir: &Path) -> PathBuf {
    let model = dir.join("big");
    std::fs::create_dir_all(&model).unwrap();
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(model.join("weights.bin"), &data).unwrap();
    std::fs::write(model.join("config.json"), b"{}").unwrap();
    model
}

/// Starts `modelseal ARGS` and returns it, still running, once the emulator saw an upload part
/// (which the proxy's fault `stall` holds) and `also()` holds.
fn run_until_an_upload_part(e: &Emulator, args: &[&str], also: impl Fn() -> bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
    e.env(&mut cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    let part = |r: &String| {
        r.starts_with("PUT ")
            && (r.contains("partNumber=") || r.contains("comp=block&") || r.contains("upload_id="))
    };
    while !e.requests().iter().any(part) || !also() {
        assert!(
            started.elapsed().as_secs() < 60,
            "{:?}: no upload part: {:?}",
            e.store,
            e.requests()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{:?}: ended early",
            e.store
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

store_tests!(killed_upload_leaves_nothing_visible:
    s3_killed_upload_leaves_nothing_visible => S3,
    gcs_killed_upload_leaves_nothing_visible => Gcs,
    azure_killed_upload_leaves_nothing_visible => Azure,
);

/// One AWS identity per process (issue 19, item 4): signing an `s3://` model with an
/// `awskms://` key under web identity assumes the role once — S3 and KMS ask the same cached
/// credentials — and verifying it again (a second process) once more.
#[test]
fn s3_and_kms_share_one_web_identity_per_process() {
    let moto = common::moto::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let local = model(dir.path());
    let endpoint = moto.endpoint();
    let kms_admin = "tests/kms/kms_admin.py";
    moto.script(
        kms_admin,
        &[&endpoint, "create", "ECC_NIST_P256", "alias/ci-signer"],
    );
    let s3_admin = |args: &[&str]| {
        let args = [&["s3", endpoint.as_str()][..], args].concat();
        moto.script("scripts/storage_admin.py", &args);
    };
    s3_admin(&["mkbucket", "models"]);
    s3_admin(&["upload", "models", "prod/llm", s(&local)]);
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        moto.web_identity_env(&mut cmd, dir.path());
        let out = cmd.args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    let assumed = |requests: &[String]| {
        requests
            .iter()
            .filter(|r| *r == "sts AssumeRoleWithWebIdentity")
            .count()
    };
    let sig = dir.path().join("llm.sig");
    let key = "awskms:///alias/ci-signer";
    run(&["sign", "s3://models/prod/llm", "--key", key, "-o", s(&sig)]);
    let requests = moto.requests();
    assert_eq!(
        assumed(&requests),
        1,
        "one role assumption for S3 and KMS: {requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("kms ")),
        "KMS signed: {requests:?}"
    );
    run(&[
        "verify",
        "s3://models/prod/llm",
        "--signature",
        s(&sig),
        "--key",
        key,
    ]);
    let requests = moto.requests();
    assert_eq!(
        assumed(&requests),
        2,
        "one more for the second process: {requests:?}"
    );
}

/// The objects below `prefix` of the bucket `models`, read back: names relative to the prefix
/// with their bytes.
fn objects(e: &Emulator, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    e.admin(&["download", "models", prefix, s(dir.path())]);
    files_of(dir.path())
}

/// Decrypt into the bucket, from the bucket and from a local encrypted model (a directory and a
/// single file): the objects read back are the plaintext; every upload completes only after
/// every part of every file was stored (S3's request log); an occupied output is refused (exit
/// 2, naming it) and replaced with `--force` (a stale object removed); a tampered ciphertext
/// chunk fails (exit 1) with no plaintext object visible below the output.
fn decrypt_into_the_bucket(store: Store) {
    let t = setup(store, "");
    let e = &t.emulator;
    let (kek, _) = upload_encrypted(&t);
    let p = |name: &str| t.dir.path().join(name);
    let url = |key: &str| e.url(&format!("models/{key}"));
    let decrypt = |enc: &str, out: &str, extra: &[&str]| {
        let args = [&["decrypt", enc, "--key", s(&kek), "-o", out][..], extra].concat();
        e.modelseal(&args)
    };
    let ok = |run: Output| assert!(run.status.success(), "{store:?}: {}", stderr(&run));

    let before = e.requests().len();
    ok(decrypt(&url("enc/llm"), &url("plain/llm"), &[]));
    assert_eq!(objects(e, "plain/llm"), files_of(&t.local), "{store:?}");
    if store == Store::S3 {
        let requests = e.requests().split_off(before);
        let last_part = requests.iter().rposition(|r| r.contains("partNumber="));
        let first_complete = requests
            .iter()
            .position(|r| r.starts_with("POST /models/plain/llm/") && r.contains("uploadId="));
        assert!(
            last_part.is_some() && last_part < first_complete,
            "every file stored before any completes: {requests:?}"
        );
    }
    ok(decrypt(s(&p("enc")), &url("plain/local"), &[]));
    assert_eq!(objects(e, "plain/local"), files_of(&t.local), "{store:?}");
    ok(decrypt(&url("enc/w.mseal"), &url("plain1/w.bin"), &[]));
    let weights = std::fs::read(t.local.join("weights.bin")).unwrap();
    assert_eq!(objects(e, "plain1"), [("w.bin".to_owned(), weights)]);

    let again = decrypt(&url("enc/llm"), &url("plain/llm"), &[]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{store:?}: {}",
        stderr(&again)
    );
    assert!(
        stderr(&again).contains(&url("plain/llm")) && stderr(&again).contains("already holds"),
        "{store:?}: {}",
        stderr(&again)
    );
    let stale = p("stale.bin");
    std::fs::write(&stale, b"left from an older model").unwrap();
    e.admin(&["put", "models", "plain/llm/old/stale.bin", s(&stale)]);
    ok(decrypt(s(&p("enc")), &url("plain/llm"), &["--force"]));
    assert_eq!(objects(e, "plain/llm"), files_of(&t.local), "{store:?}");

    // A flipped byte in the last chunk of the largest file: the other files authenticate (and
    // are stored), but none of them becomes visible.
    let mut bytes = std::fs::read(p("enc/weights.bin")).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    std::fs::write(p("flipped"), &bytes).unwrap();
    e.admin(&["put", "models", "enc/llm/weights.bin", s(&p("flipped"))]);
    let run = decrypt(&url("enc/llm"), &url("plain/t"), &[]);
    assert_eq!(run.status.code(), Some(1), "{store:?}: {}", stderr(&run));
    assert!(
        stderr(&run).contains("weights.bin"),
        "{store:?}: {}",
        stderr(&run)
    );
    assert_eq!(visible(e, "plain/t"), Vec::<String>::new(), "{store:?}");
}

store_tests!(decrypt_into_the_bucket:
    s3_decrypt_into_the_bucket => S3,
    gcs_decrypt_into_the_bucket => Gcs,
    azure_decrypt_into_the_bucket => Azure,
);

/// A decrypt into the bucket killed while the proxy holds its first upload part (fault `stall`),
/// the other file decrypted by then, leaves no object visible below the output: uploads complete
/// only after every file authenticated.
fn killed_decrypt_leaves_nothing_visible(store: Store) {
    let t = setup(store, "stall");
    let e = &t.emulator;
    let kek = kek(e, t.dir.path());
    let model = big_model(t.dir.path());
    let enc = t.dir.path().join("big.enc");
    e.ok(&["encrypt", s(&model), "--recipient", s(&kek), "-o", s(&enc)]);
    let out = e.url("models/plain/big");
    let args = ["decrypt", s(&enc), "--key", s(&kek), "-o", &out];
    let mut child = run_until_an_upload_part(e, &args, || true);
    // Time for the other file to be decrypted and stored (it would be visible by now were each
    // file completed on its own).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "{store:?}: ended early"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(visible(e, "plain/big"), Vec::<String>::new(), "{store:?}");
}

store_tests!(killed_decrypt_leaves_nothing_visible:
    s3_killed_decrypt_leaves_nothing_visible => S3,
    gcs_killed_decrypt_leaves_nothing_visible => Gcs,
    azure_killed_decrypt_leaves_nothing_visible => Azure,
);

/// The ranged GETs of the requests from `before` on, each with the object it reads.
fn ranged_gets(e: &Emulator, before: usize) -> Vec<String> {
    e.requests()[before..]
        .iter()
        .filter(|r| r.contains(" range="))
        .cloned()
        .collect()
}

/// Encrypt and seal a model that lives in the bucket (issue 19, the source side): encrypt the
/// prefix into a local directory and into the bucket, a single object into a local file, each
/// decrypting to the model's bytes, every object fetched by one ranged GET (1 MiB ranges, small
/// objects); seal the prefix into the bucket — each object again read once, hashed and encrypted
/// in the same pass — and unseal it: the inner signature's statement is the one of the same
/// files sealed from the local disk.
fn encrypt_and_seal_from_the_bucket(store: Store) {
    let t = setup(store, "");
    let e = &t.emulator;
    let p = |name: &str| t.dir.path().join(name);
    let kek = kek(e, t.dir.path());
    let chunk = [("MODELSEAL_STORAGE_CHUNK_MIB", "1")];
    let run = |args: &[&str]| {
        let out = e.modelseal_with(&chunk, args);
        assert!(out.status.success(), "{store:?} {args:?}: {}", stderr(&out));
    };
    // The model's objects (seal's outer signature reads back what it wrote in `sealed/`).
    let once = |before: usize, objects: usize| {
        let mut gets = ranged_gets(e, before);
        gets.retain(|g| !g.contains("sealed"));
        let mut unique = gets.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            (gets.len(), unique.len()),
            (objects, objects),
            "{store:?}: one GET per object: {gets:?}"
        );
    };

    let before = e.requests().len();
    run(&[
        "encrypt",
        &t.url,
        "--recipient",
        s(&kek),
        "-o",
        s(&p("enc")),
    ]);
    once(before, 3);
    run(&[
        "decrypt",
        s(&p("enc")),
        "--key",
        s(&kek),
        "-o",
        s(&p("plain")),
    ]);
    assert_eq!(files_of(&p("plain")), files_of(&t.local), "{store:?}");

    let into = e.url("models/enc/llm");
    let before = e.requests().len();
    run(&["encrypt", &t.url, "--recipient", s(&kek), "-o", &into]);
    let gets = ranged_gets(e, before);
    assert_eq!(gets.len(), 3, "{store:?}: {gets:?}");
    run(&["decrypt", &into, "--key", s(&kek), "-o", s(&p("back"))]);
    assert_eq!(files_of(&p("back")), files_of(&t.local), "{store:?}");

    let object = format!("{}/weights.bin", t.url);
    run(&[
        "encrypt",
        &object,
        "--recipient",
        s(&kek),
        "-o",
        s(&p("w.mseal")),
    ]);
    run(&[
        "decrypt",
        s(&p("w.mseal")),
        "--key",
        s(&kek),
        "-o",
        s(&p("w.bin")),
    ]);
    assert_eq!(
        std::fs::read(p("w.bin")).unwrap(),
        std::fs::read(t.local.join("weights.bin")).unwrap(),
        "{store:?}"
    );

    let sealed = e.url("models/sealed/llm");
    let seal = |model: &str, out: &str| {
        run(&[
            "seal",
            model,
            "--key",
            s(&t.key),
            "--recipient",
            s(&kek),
            "-o",
            out,
            "--model-name",
            "prod/llm",
            "--no-scan",
        ])
    };
    // The credential scan reads local files only: refused for a bucket model, before any read.
    let scanned = e.modelseal(&[
        "seal",
        &t.url,
        "--key",
        s(&t.key),
        "--recipient",
        s(&kek),
        "-o",
        &sealed,
    ]);
    assert_eq!(
        scanned.status.code(),
        Some(2),
        "{store:?}: {}",
        stderr(&scanned)
    );
    assert!(
        stderr(&scanned).contains("--no-scan"),
        "{store:?}: {}",
        stderr(&scanned)
    );
    let before = e.requests().len();
    seal(&t.url, &sealed);
    once(before, 3);
    seal(s(&t.local), s(&p("sealed-locally")));
    let policy = release_policy(&t);
    let unseal = |from: &str, to: &Path| {
        run(&[
            "unseal",
            from,
            "--policy",
            s(&policy),
            "--key",
            s(&kek),
            "--out",
            s(to),
        ])
    };
    unseal(&sealed, &p("run"));
    unseal(s(&p("sealed-locally")), &p("run-local"));
    let mut unsealed = files_of(&p("run"));
    unsealed.retain(|(name, _)| name != "modelseal.sig");
    assert_eq!(unsealed, files_of(&t.local), "{store:?}");
    assert_eq!(
        statement(&p("run").join("modelseal.sig")),
        statement(&p("run-local").join("modelseal.sig")),
        "{store:?}: the inner statement of a bucket seal is the local one's"
    );
}

store_tests!(encrypt_and_seal_from_the_bucket:
    s3_encrypt_and_seal_from_the_bucket => S3,
    gcs_encrypt_and_seal_from_the_bucket => Gcs,
    azure_encrypt_and_seal_from_the_bucket => Azure,
);

/// An object replaced between the listing and its read (the proxy overwrites it before the
/// first ranged GET) fails encrypt and seal naming it, and nothing is published: no local
/// output, no object at the output prefix.
fn replaced_source_publishes_nothing(store: Store) {
    // Every ranged GET replaces its object first: each run fails at its first read.
    let t = setup(store, &["replace"; 8].join(","));
    let e = &t.emulator;
    let p = |name: &str| t.dir.path().join(name);
    let kek = kek(e, t.dir.path());
    let failed = |args: &[&str]| {
        let out = e.modelseal_with(&[("RAYON_NUM_THREADS", "1")], args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{store:?} {args:?}");
        assert!(err.contains("changed"), "{store:?}: {err}");
        assert!(err.contains("/models/prod/llm/"), "{store:?}: {err}");
    };
    failed(&[
        "encrypt",
        &t.url,
        "--recipient",
        s(&kek),
        "-o",
        s(&p("enc")),
    ]);
    assert!(!p("enc").exists(), "{store:?}");
    let sealed = e.url("models/sealed/llm");
    failed(&[
        "seal",
        &t.url,
        "--key",
        s(&t.key),
        "--recipient",
        s(&kek),
        "-o",
        &sealed,
        "--no-scan",
    ]);
    assert_eq!(visible(e, "sealed"), Vec::<String>::new(), "{store:?}");
}

store_tests!(replaced_source_publishes_nothing:
    s3_a_source_object_replaced_mid_run_publishes_nothing => S3,
    gcs_a_source_object_replaced_mid_run_publishes_nothing => Gcs,
    azure_a_source_object_replaced_mid_run_publishes_nothing => Azure,
);
