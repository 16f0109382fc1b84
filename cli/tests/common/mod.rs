//! Helpers shared by the CLI integration tests: run the built binary, read its exit code and JSON.
#![allow(dead_code)] // each test crate uses a different subset

pub mod kill;
pub mod moto;
pub mod storage;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod policy;

/// Runs `modelseal ARGS…` (the binary cargo built for these tests).
pub fn modelseal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .output()
        .expect("run modelseal")
}

/// The exit code (the tests never expect a death by signal here).
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

/// Runs `modelseal ARGS…` and asserts exit 0.
pub fn ok(args: &[&str]) -> Output {
    let out = modelseal(args);
    assert_eq!(
        code(&out),
        0,
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout parsed as the one JSON object `--json` promises.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `modelseal keygen --algorithm ec-p256` into `DIR/NAME.pem` and `DIR/NAME.pub.pem`; returns both.
pub fn keygen_p256(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, public) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.pub.pem")),
    );
    ok(&[
        "keygen",
        "--algorithm",
        "ec-p256",
        "--out",
        s(&key),
        "--public-out",
        s(&public),
    ]);
    (key, public)
}

/// A test path as a CLI argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts that mode bits bind the user running the tests: a file in a read-only (0500)
/// directory under `dir` cannot be removed. Tests of what modelseal does with read-only
/// directories call it first, because for root (or a user with CAP_DAC_OVERRIDE) such a test
/// passes whatever modelseal does. Those tests have `unprivileged` in their names: scripts/test.sh
/// runs them as `nobody` and leaves them out of the root run.
pub fn assert_mode_bits_are_enforced(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("mode-probe");
    std::fs::create_dir(&probe).unwrap();
    std::fs::write(probe.join("f"), b"").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o500)).unwrap();
    let removed = std::fs::remove_file(probe.join("f")).is_ok();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_dir_all(&probe).unwrap();
    assert!(
        !removed,
        "removed a file from a 0500 directory: mode bits are not enforced for this user (root?); \
         run this test as an unprivileged user, as scripts/test.sh does"
    );
}

/// Entries of `dir` other than `keep` (temporaries a run may have left).
pub fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// Waits until process `pid` has `path` mapped (`/proc/PID/maps`): the moment the hashing engine
/// reads it through a map, when a truncation would raise `SIGBUS` if it were not handled. False
/// if the process ended or `within` passed first.
pub fn wait_until_mapped(pid: u32, path: &Path, within: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    let needle = path.to_str().unwrap();
    while start.elapsed() < within {
        match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
            Ok(maps) if maps.lines().any(|l| l.ends_with(needle)) => return true,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
            Err(_) => return false,
        }
    }
    false
}

/// Truncates `path` to 4 KiB, as someone else would while it is read.
pub fn truncate_under(path: &Path) {
    resize(path, 4096);
}

/// Replaces the contents of the file at `path` with `len` bytes of written data (zeros, but
/// allocated, not holes): what a test needs when the hashing engine must map the file, since a
/// range with holes is read instead (see core/src/fs/mapped.rs).
pub fn write_data(path: &Path, len: u64) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let piece = vec![0u8; 8 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        file.write_all(&piece[..n]).unwrap();
        left -= n as u64;
    }
}

/// The lines of the text file at `path` (none if it does not exist yet): an emulator's request
/// log.
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Sets the length of the file at `path` (longer: a sparse tail of zeros).
pub fn resize(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}
