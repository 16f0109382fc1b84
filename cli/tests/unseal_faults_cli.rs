//! Fault injection for `unseal`: SIGKILL at random points never leaves a partial DIR or plaintext
//! outside a private temporary, and the next unseal into the same DIR removes what killed runs
//! left — only theirs, never a live run's — and publishes a byte-identical model.

mod common;
use common::kill::{big_model, remove_all, KillTest};
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const POLICY: &str = "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"release\"]\n";

/// A sealed model of `files` × `mib` MiB in a fresh directory: (dir, model, ENC).
fn sealed(files: u8, mib: u8) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let model = big_model(dir.path(), files, mib);
    ok(&[
        "keygen",
        "--algorithm",
        "ec-p256",
        "--out",
        s(&p("release.pem")),
        "--public-out",
        s(&p("release.pub.pem")),
    ]);
    ok(&[
        "keygen",
        "--algorithm",
        "x25519",
        "--out",
        s(&p("deploy.pem")),
    ]);
    std::fs::write(p("trust.toml"), POLICY).unwrap();
    let enc = p("enc");
    ok(&[
        "seal",
        s(&model),
        "--key",
        s(&p("release.pem")),
        "--recipient",
        s(&p("deploy.pem.pub")),
        "-o",
        s(&enc),
        "--model-name",
        "prod/llm",
        "--quiet",
    ]);
    (dir, model, enc)
}

fn unseal_args(dir: &Path, enc: &Path, out: &Path) -> Vec<String> {
    let (policy, key) = (dir.join("trust.toml"), dir.join("deploy.pem"));
    [
        "unseal",
        s(enc),
        "--policy",
        s(&policy),
        "--key",
        s(&key),
        "--out",
        s(out),
        "--quiet",
    ]
    .map(String::from)
    .to_vec()
}

/// An unsealed DIR: the model's files byte for byte, mode 0400, plus the inner signature.
fn assert_unsealed(out: &Path, model: &Path) {
    let mut names = leftovers(out, &["modelseal.sig"]);
    names.sort();
    let mut expected = leftovers(model, &[]);
    expected.sort();
    assert_eq!(names, expected, "{}", out.display());
    assert!(out.join("modelseal.sig").is_file());
    for name in names {
        let path = out.join(&name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400, "{name}");
        assert!(
            std::fs::read(&path).unwrap() == std::fs::read(model.join(&name)).unwrap(),
            "{name} differs"
        );
    }
}

/// SIGKILL `unseal` at 50 random points (verifying the encrypted model, decrypting, verifying the
/// plaintext, publishing): DIR is absent or complete and byte-identical, anything beside it is a
/// private `.DIR.modelseal-tmp.*` temporary, and the next unseal into the same DIR removes it and
/// publishes a byte-identical model, leaving nothing else. Unprivileged: a kill while publishing
/// leaves read-only (0500) directories, which root removes whatever modelseal does
/// (scripts/test.sh runs it as `nobody`).
#[test]
fn unprivileged_killed_unseal_leaves_no_partial_dir_and_the_rerun_cleans_up() {
    let (dir, model, enc) = sealed(4, 8);
    assert_mode_bits_are_enforced(dir.path());
    let outdir = dir.path().join("run");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("model");
    let left = KillTest {
        args: unseal_args(dir.path(), &enc, &out),
        out: &out,
        same_as_input: &|out| assert_unsealed(out, &model),
        kills: 50,
        allow_temporaries: true,
    }
    .run();
    assert!(left > 0, "no kill landed while a temporary existed");
}

/// Temporaries of dead runs are removed even with read-only (0500) directories inside, as a kill
/// while publishing leaves them; a live process's temporary and other names are left alone.
/// Unprivileged: root removes read-only directories whatever modelseal does (scripts/test.sh runs
/// it as `nobody`).
#[test]
fn unprivileged_rerun_removes_only_temporaries_of_dead_runs() {
    let (dir, model, enc) = sealed(1, 1);
    assert_mode_bits_are_enforced(dir.path());
    let out = dir.path().join("out");
    // A pid above the kernel's maximum (4194304) never runs.
    let dead = dir.path().join(".out.modelseal-tmp.999999999.Ab3dE");
    std::fs::create_dir_all(dead.join("model/sub")).unwrap();
    std::fs::write(dead.join("model/sub/part-0.bin"), b"plaintext").unwrap();
    for d in ["model/sub", "model"] {
        std::fs::set_permissions(dead.join(d), std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    std::fs::set_permissions(&dead, std::fs::Permissions::from_mode(0o700)).unwrap();
    let live = dir
        .path()
        .join(format!(".out.modelseal-tmp.{}.xY12z", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    let other = dir.path().join(".other.modelseal-tmp.999999999.abcde");
    std::fs::create_dir(&other).unwrap();
    let args = unseal_args(dir.path(), &enc, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&args);
    assert_unsealed(&out, &model);
    assert!(!dead.exists(), "the dead run's temporary is removed");
    assert!(live.exists(), "a live process's temporary is kept");
    assert!(other.exists(), "another DIR's temporary is kept");
    // A rerun into the published DIR (already unsealed: exit 0, issue 22) still removes what a
    // dead run left.
    std::fs::create_dir(&dead).unwrap();
    let again = modelseal(&args);
    assert_eq!(
        code(&again),
        0,
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!dead.exists());
    remove_all(&out);
}
