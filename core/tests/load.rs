//! Verify on load (`modelseal::load`): a file's bytes are handed over only when the read that
//! loaded them matched the signed digests, also when the file changes between opening and reading.

use modelseal::digest::{HashAlgorithm, Method};
use modelseal::internals::keys::{self, KeyAlgorithm, KeyOptions, KeyRef};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use modelseal::trust::Trust;
use modelseal::verify::{VerifyError, VerifyOptions};
use modelseal::{open_model, ErrorClass, OpenedModel};
use std::io::Write;
use std::path::PathBuf;

const WEIGHTS: &str = "weights.bin";

fn weights() -> Vec<u8> {
    (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// A signed two-file model, opened; the temporary directory lives as long as the result.
fn opened(method: Method) -> (tempfile::TempDir, PathBuf, OpenedModel) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join(WEIGHTS), weights()).unwrap();
    std::fs::write(model.join("config.json"), b"{}").unwrap();
    let key = dir.path().join("key.pem");
    let public = keys::file::generate_signing_key(KeyAlgorithm::EcP256, &key, None, false).unwrap();
    let signer = keys::open_signer(&KeyRef::File(key), &KeyOptions::default()).unwrap();
    let options = SignOptions {
        hash: HashAlgorithm::Sha256,
        method,
        ..SignOptions::default()
    };
    let outcome = sign_model(&model, signer.as_ref(), &options, &NoProgress).unwrap();
    let trust = Trust::PublicKey(public);
    let opened = open_model(
        &model,
        &outcome.signature_path,
        &trust,
        &VerifyOptions::default(),
    )
    .unwrap();
    (dir, model, opened)
}

fn methods() -> [Method; 2] {
    [
        Method::Files,
        Method::Shards {
            shard_size: 1 << 20,
        },
    ]
}

fn assert_changed(err: VerifyError, reason: &str) {
    assert_eq!(err.class(), ErrorClass::Failed, "{err}");
    let text = err.to_string();
    assert!(text.contains(WEIGHTS) && text.contains(reason), "{text}");
}

#[test]
fn a_read_returns_exactly_the_signed_bytes() {
    for method in methods() {
        let (_dir, _model, opened) = opened(method);
        assert_eq!(
            opened.file_names().collect::<Vec<_>>(),
            ["config.json", WEIGHTS]
        );
        assert_eq!(opened.read_file(WEIGHTS).unwrap(), weights());
        assert_eq!(opened.read_file("config.json").unwrap(), b"{}");
    }
}

#[test]
fn a_file_extended_after_opening_fails_in_the_read() {
    for method in methods() {
        let (_dir, model, opened) = opened(method);
        let file = opened.open_file(WEIGHTS).unwrap();
        let mut buffer = vec![0; file.size() as usize];
        std::fs::OpenOptions::new()
            .append(true)
            .open(model.join(WEIGHTS))
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert_changed(file.read_into(&mut buffer).unwrap_err(), "longer");
    }
}

#[test]
fn a_file_truncated_after_opening_fails_in_the_read() {
    for method in methods() {
        let (_dir, model, opened) = opened(method);
        let file = opened.open_file(WEIGHTS).unwrap();
        let mut buffer = vec![0; file.size() as usize];
        std::fs::OpenOptions::new()
            .write(true)
            .open(model.join(WEIGHTS))
            .unwrap()
            .set_len(1000)
            .unwrap();
        assert_changed(file.read_into(&mut buffer).unwrap_err(), "shorter");
    }
}

#[test]
fn a_byte_changed_after_opening_fails_in_the_read() {
    for method in methods() {
        let (_dir, model, opened) = opened(method);
        let file = opened.open_file(WEIGHTS).unwrap();
        let mut buffer = vec![0; file.size() as usize];
        let mut changed = weights();
        changed[2_500_000] ^= 1;
        std::fs::write(model.join(WEIGHTS), &changed).unwrap();
        assert_changed(file.read_into(&mut buffer).unwrap_err(), "differs");
    }
}

#[test]
fn a_buffer_of_another_size_is_refused() {
    let (_dir, _model, opened) = opened(Method::Files);
    let file = opened.open_file(WEIGHTS).unwrap();
    let mut buffer = vec![0; file.size() as usize - 1];
    assert_changed(file.read_into(&mut buffer).unwrap_err(), "size");
}

#[test]
fn a_symlink_swapped_in_after_opening_the_model_is_refused() {
    let (dir, model, opened) = opened(Method::Files);
    let elsewhere = dir.path().join("elsewhere.bin");
    std::fs::write(&elsewhere, weights()).unwrap();
    std::fs::remove_file(model.join(WEIGHTS)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, model.join(WEIGHTS)).unwrap();
    let err = opened.open_file(WEIGHTS).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Input, "{err}");
}

#[test]
fn a_range_under_shards_verifies_only_the_shards_it_overlaps() {
    let (_dir, model, opened) = opened(Method::Shards {
        shard_size: 1 << 20,
    });
    let all = weights();
    assert_eq!(opened.signed_size(WEIGHTS), Some(all.len() as u64));
    let range = 1_000_000..1_100_000u64;
    assert_eq!(
        opened.read_range(WEIGHTS, range.start, range.end).unwrap(),
        all[1_000_000..1_100_000]
    );
    // A byte changed in the third shard: ranges in the first two still read, the third fails.
    let mut changed = all.clone();
    changed[2_500_000] ^= 1;
    std::fs::write(model.join(WEIGHTS), &changed).unwrap();
    assert_eq!(
        opened.read_range(WEIGHTS, 0, 2 << 20).unwrap(),
        all[..2 << 20]
    );
    assert_changed(
        opened
            .read_range(WEIGHTS, 2_400_000, 2_400_001)
            .unwrap_err(),
        "differ",
    );
    assert_changed(
        opened
            .read_range(WEIGHTS, 0, all.len() as u64 + 1)
            .unwrap_err(),
        "signed bytes",
    );
}

#[test]
fn a_range_under_files_verifies_the_whole_file() {
    let (_dir, model, opened) = opened(Method::Files);
    assert_eq!(opened.signed_size(WEIGHTS), None);
    assert_eq!(
        opened.read_range(WEIGHTS, 10, 20).unwrap(),
        weights()[10..20]
    );
    let mut changed = weights();
    changed[2_999_999] ^= 1;
    std::fs::write(model.join(WEIGHTS), &changed).unwrap();
    assert_changed(opened.read_range(WEIGHTS, 10, 20).unwrap_err(), "differs");
}

#[test]
fn an_eager_read_under_many_shards_fails_for_a_byte_changed_in_any_of_them() {
    // 30 shards of 100 kB read side by side, several per lane: a change in the first, a middle
    // or the last shard fails the read, naming that shard's range.
    let (_dir, model, opened) = opened(Method::Shards {
        shard_size: 100_000,
    });
    for at in [0usize, 1_550_000, 2_999_999] {
        let mut changed = weights();
        changed[at] ^= 1;
        std::fs::write(model.join(WEIGHTS), &changed).unwrap();
        let start = at / 100_000 * 100_000;
        let range = format!("bytes {start}..{}", start + 100_000);
        let err = opened.read_file(WEIGHTS).unwrap_err();
        assert_changed(err, &range);
    }
    std::fs::write(model.join(WEIGHTS), weights()).unwrap();
    assert_eq!(opened.read_file(WEIGHTS).unwrap(), weights());
}

/// A destination that records the parts it hands out (offset, length), over a plain slice.
struct Recording<'b> {
    rest: &'b mut [u8],
    at: usize,
    parts: std::sync::Arc<std::sync::Mutex<Vec<(usize, usize)>>>,
}

impl<'b> modelseal::load::Destination<'b> for Recording<'b> {
    fn len(&self) -> usize {
        self.rest.len()
    }

    fn take_front(&mut self, n: usize) -> &'b mut [u8] {
        self.parts.lock().unwrap().push((self.at, n));
        self.at += n;
        let (front, rest) = std::mem::take(&mut self.rest).split_at_mut(n);
        self.rest = rest;
        front
    }

    fn split_at(self, at: usize) -> (Self, Self) {
        let (front, back) = self.rest.split_at_mut(at);
        let parts = self.parts;
        let back = Recording {
            rest: back,
            at: self.at + at,
            parts: parts.clone(),
        };
        (
            Recording {
                rest: front,
                at: self.at,
                parts,
            },
            back,
        )
    }
}

#[test]
fn a_read_into_a_destination_takes_every_byte_once() {
    for method in [
        Method::Files,
        Method::Shards {
            shard_size: 100_000,
        },
    ] {
        let (_dir, _model, opened) = opened(method);
        let file = opened.open_file(WEIGHTS).unwrap();
        let mut buffer = vec![0; file.size() as usize];
        let parts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let destination = Recording {
            rest: &mut buffer,
            at: 0,
            parts: parts.clone(),
        };
        file.read_into_destination(destination).unwrap();
        assert_eq!(buffer, weights());
        let mut parts = parts.lock().unwrap().clone();
        parts.sort();
        let mut at = 0;
        for (start, len) in parts {
            assert_eq!(start, at, "{method:?}: parts overlap or leave a gap");
            at += len;
        }
        assert_eq!(at, buffer.len());
    }
}
