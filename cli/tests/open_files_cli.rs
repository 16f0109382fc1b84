//! Open files stay bounded by a small constant whatever the number of model files (issue 17
//! item 5): a 100,000-file model (the format's `MAX_FILES`) encrypts and decrypts, and a
//! 99,999-file one (seal stores its signature as one more file) seals and unseals, all under
//! `ulimit -n 256`. One file more than the format allows is refused before any is read.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `modelseal ARGS…` with at most `descriptors` open descriptors.
fn limited(descriptors: u32, args: &[&str]) -> Output {
    let script = format!("ulimit -n {descriptors}; exec \"$0\" \"$@\"");
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .output()
        .unwrap()
}

fn ok_limited(args: &[&str]) -> Output {
    let out = limited(256, args);
    assert_eq!(
        code(&out),
        0,
        "{}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn content(i: usize) -> Vec<u8> {
    format!("file {i}\n").into_bytes()
}

fn file_name(i: usize) -> String {
    format!("d{:03}/f{i}.bin", i / 1000)
}

/// `n` small files in directories of 1000.
fn many_files(root: &Path, n: usize) {
    for i in 0..n {
        let path = root.join(file_name(i));
        if i % 1000 == 0 {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        std::fs::write(path, content(i)).unwrap();
    }
}

/// Every file of `many_files(_, n)` is in `root` with its content, and no other.
fn assert_all_there(root: &Path, n: usize) {
    let mut count = 0;
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            count += std::fs::read_dir(&dir).unwrap().count();
        }
    }
    assert_eq!(count, n, "{}", root.display());
    for i in (0..n).step_by(997).chain([n - 1]) {
        assert_eq!(std::fs::read(root.join(file_name(i))).unwrap(), content(i));
    }
}

/// tmpfs when there is one: 100,000 fsyncs on a disk would make this a test of the disk.
fn scratch() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}

#[test]
fn a_100000_file_model_encrypts_decrypts_seals_and_unseals_under_ulimit_n_256() {
    let dir = scratch();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let model = path("llm");
    many_files(&model, 100_000);
    ok(&[
        "keygen",
        "--algorithm",
        "x25519",
        "--out",
        s(&path("deploy.pem")),
    ]);
    keygen_p256(dir.path(), "release");
    std::fs::write(
        path("trust.toml"),
        "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n",
    )
    .unwrap();

    ok_limited(&[
        "encrypt",
        s(&model),
        "--recipient",
        s(&path("deploy.pem.pub")),
        "-o",
        s(&path("enc")),
        "-q",
    ]);
    ok_limited(&[
        "decrypt",
        s(&path("enc")),
        "--key",
        s(&path("deploy.pem")),
        "-o",
        s(&path("dec")),
        "-q",
    ]);
    assert_all_there(&path("dec"), 100_000);
    for done in ["enc", "dec"] {
        std::fs::remove_dir_all(path(done)).unwrap();
    }

    // seal adds its signature to the encrypted files: 99,999 model files are the most it takes.
    let last = model.join(file_name(99_999));
    std::fs::remove_file(&last).unwrap();
    ok_limited(&[
        "seal",
        s(&model),
        "--key",
        s(&path("release.pem")),
        "--recipient",
        s(&path("deploy.pem.pub")),
        "-o",
        s(&path("sealed")),
        "--model-name",
        "prod/llm",
        "--quiet",
    ]);
    ok_limited(&[
        "unseal",
        s(&path("sealed")),
        "--policy",
        s(&path("trust.toml")),
        "--key",
        s(&path("deploy.pem")),
        "--out",
        s(&path("unsealed")),
        "--json",
    ]);
    assert_all_there(&path("unsealed"), 99_999);
}

#[test]
fn more_files_than_the_format_allows_are_refused_before_any_is_read() {
    let dir = scratch();
    let model = dir.path().join("llm");
    many_files(&model, 100_001);
    ok(&[
        "keygen",
        "--algorithm",
        "x25519",
        "--out",
        s(&dir.path().join("r.pem")),
    ]);
    // A descriptor limit that reading even a few files at once would exceed.
    let out = limited(
        32,
        &[
            "encrypt",
            s(&model),
            "--recipient",
            s(&dir.path().join("r.pem.pub")),
            "-o",
            s(&dir.path().join("enc")),
            "-q",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(
        stderr.contains("100001 files, more than 100000"),
        "{stderr}"
    );
    assert!(!dir.path().join("enc").exists());
}
