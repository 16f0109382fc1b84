//! Issue 17 (hardening, second round), what the library guarantees about hostile storage: a file
//! swapped for a FIFO or a symlink between the walk and the open is an error at once.

use modelseal::digest::{hash_tree, HashAlgorithm, Method, SerializationConfig};
use modelseal::internals::tree::{walk, ModelFile, WalkOptions};
use modelseal::progress::NoProgress;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Item 2: a FIFO (or a symlink) swapped in for a model file between the walk and the open is an
/// error at once, not a hang (the open would block until a writer appeared) nor a read of where
/// the link points.
#[test]
fn a_special_file_swapped_in_after_the_walk_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.bin"), b"a").unwrap();
    std::fs::write(dir.path().join("b.bin"), b"b").unwrap();
    let options = WalkOptions {
        ignore_git_paths: true,
        ..WalkOptions::default()
    };
    let tree = walk(dir.path(), &options).unwrap();
    let files: Vec<ModelFile> = tree.files.clone();
    std::fs::remove_file(dir.path().join("a.bin")).unwrap();
    mkfifo(&dir.path().join("a.bin"));
    std::fs::remove_file(dir.path().join("b.bin")).unwrap();
    symlink("/etc/hostname", dir.path().join("b.bin")).unwrap();
    let config = SerializationConfig {
        method: Method::Files,
        hash: HashAlgorithm::Sha256,
        allow_symlinks: false,
        ignore_paths: Vec::new(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = hash_tree(&tree, &config, &NoProgress);
        let _ = tx.send(result.map(|_| ()).map_err(|e| e.to_string()));
    });
    let err = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("hashing blocked on a FIFO")
        .unwrap_err();
    assert!(
        err.contains("fifo") || err.contains("symbolic link"),
        "{err}"
    );
    for file in &files {
        let err = file.open().unwrap_err().to_string();
        assert!(
            err.contains("fifo") || err.contains("symbolic link"),
            "{}: {err}",
            file.path.display()
        );
    }
}
