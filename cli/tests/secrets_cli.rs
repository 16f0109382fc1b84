//! Secret references (issue 21, docs/secrets.md) through the CLI: a key passphrase and a SoftHSM
//! PIN from AWS Secrets Manager (moto's server on 127.0.0.1, secrets made with boto3 by
//! `tests/kms/sm_admin.py`), rotation and pinned versions, `json-key`, a missing secret and access
//! denied (exit 2, the secret named, its value nowhere); `env:` and `fd:`; and the Kubernetes Secret
//! volume layout as mounted (atomic-writer symlinks on a read-only bind mount), read by a non-root
//! user.

mod common;
#[path = "../../core/tests/softhsm/mod.rs"]
mod softhsm;

use common::moto::*;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The encrypted test key and its passphrase (test-vectors/pki/keys).
fn encrypted_key(dir: &Path) -> (PathBuf, String) {
    let keys = repo().join("test-vectors/pki/keys");
    let key = dir.join("enc.pem");
    std::fs::copy(keys.join("p256-encrypted-pbkdf2.pem"), &key).unwrap();
    chmod(&key, 0o600);
    let pass = std::fs::read_to_string(keys.join("password.txt")).unwrap();
    (key, pass.trim_end_matches('\n').to_string())
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The public key of the test key, read with its passphrase file (the reference result).
fn expected_pubkey(key: &Path, pass: &str, dir: &Path) -> String {
    let file = dir.join("pass.txt");
    std::fs::write(&file, format!("{pass}\n")).unwrap();
    chmod(&file, 0o400);
    let out = ok(&["pubkey", s(key), "--key-password-file", s(&file)]);
    String::from_utf8(out.stdout).unwrap()
}

impl Moto {
    /// Runs `tests/kms/sm_admin.py COMMAND ARGS` with `value` on stdin (never in argv), with
    /// `creds` (access key, secret key) or moto's dummy ones; its stdout, trimmed.
    fn sm_admin(&self, args: &[&str], value: &str, creds: Option<(&str, &str)>) -> String {
        let mut cmd = Command::new(python());
        cmd.arg(repo().join("tests/kms/sm_admin.py"))
            .arg(self.endpoint())
            .args(args);
        self.static_env(&mut cmd);
        if let Some((id, secret)) = creds {
            cmd.env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "sm_admin.py {args:?}: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Runs modelseal with moto's dummy credentials (or `creds`) and `extra` environment.
    fn run(&self, args: &[&str], creds: Option<(&str, &str)>, extra: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        self.static_env(&mut cmd);
        if let Some((id, secret)) = creds {
            cmd.env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        cmd.envs(extra.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// How many `GetSecretValue` requests the server has seen.
    fn secret_reads(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.as_str() == "secretsmanager GetSecretValue")
            .count()
    }
}

/// Asserts that `secret` appears in none of `outs`' stdout or stderr.
fn assert_never_shown(secret: &str, outs: &[&Output]) {
    for out in outs {
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(text).contains(secret),
                "the secret appeared in: {}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

#[test]
fn key_passphrase_from_secrets_manager_rotation_pinning_and_json_key() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, pass) = encrypted_key(dir.path());
    let want = expected_pubkey(&key, &pass, dir.path());

    // A wrong passphrase first, then a rotation to the right one.
    let v1 = moto.sm_admin(
        &["create", "release/key-pass"],
        "not-the-passphrase\n",
        None,
    );
    let reference = "awssm://release/key-pass";
    let pubkey = |r: &str| moto.run(&["pubkey", s(&key), "--key-password", r], None, &[]);
    let before = moto.secret_reads();
    let wrong = pubkey(reference);
    assert_eq!(code(&wrong), 2, "{}", stderr(&wrong));
    assert!(
        stderr(&wrong).contains("wrong passphrase"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(
        moto.secret_reads(),
        before + 1,
        "one request per secret per run"
    );

    let v2 = moto.sm_admin(&["put", "release/key-pass"], &pass, None);
    assert_ne!(v1, v2);
    // The next run picks up the new version, with exactly one request.
    let before = moto.secret_reads();
    let right = pubkey(reference);
    assert_eq!(code(&right), 0, "{}", stderr(&right));
    assert_eq!(String::from_utf8_lossy(&right.stdout), want);
    assert_eq!(moto.secret_reads(), before + 1);
    // A pinned version stays where it was pinned.
    let pinned = pubkey(&format!("{reference}?version-id={v1}"));
    assert_eq!(code(&pinned), 2, "{}", stderr(&pinned));
    let pinned = pubkey(&format!("{reference}?version-id={v2}"));
    assert_eq!(code(&pinned), 0, "{}", stderr(&pinned));

    // One string field of a JSON secret.
    let bundle = format!("{{\"passphrase\": \"{pass}\", \"other\": \"x\"}}");
    moto.sm_admin(&["create", "release/bundle"], &bundle, None);
    let field = pubkey("awssm://release/bundle?json-key=passphrase");
    assert_eq!(code(&field), 0, "{}", stderr(&field));
    assert_eq!(String::from_utf8_lossy(&field.stdout), want);
    let missing_field = pubkey("awssm://release/bundle?json-key=nope");
    assert_eq!(code(&missing_field), 2);
    assert!(
        stderr(&missing_field).contains("json-key=nope"),
        "{}",
        stderr(&missing_field)
    );

    // sign with the passphrase from Secrets Manager: one request for the whole run.
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("w.bin"), vec![3u8; 4096]).unwrap();
    let sig = dir.path().join("m.sig");
    let before = moto.secret_reads();
    let signed = moto.run(
        &[
            "sign",
            s(&model),
            "--key",
            s(&key),
            "--key-password",
            reference,
            "-o",
            s(&sig),
        ],
        None,
        &[],
    );
    assert_eq!(code(&signed), 0, "{}", stderr(&signed));
    assert_eq!(moto.secret_reads(), before + 1);
    let public = dir.path().join("p.pem");
    std::fs::write(&public, &want).unwrap();
    ok(&[
        "verify",
        s(&model),
        "--key",
        s(&public),
        "--signature",
        s(&sig),
    ]);

    // A missing secret: exit 2, named, no value.
    let missing = pubkey("awssm://release/no-such-secret");
    assert_eq!(code(&missing), 2, "{}", stderr(&missing));
    let text = stderr(&missing);
    assert!(
        text.contains("awssm://release/no-such-secret")
            && text.contains("ResourceNotFoundException"),
        "{text}"
    );
    assert_never_shown(
        &pass,
        &[
            &wrong,
            &right,
            &pinned,
            &field,
            &signed,
            &missing,
            &missing_field,
        ],
    );
}

#[test]
fn access_denied_names_the_secret_and_exits_2() {
    // moto checks IAM from the seventh request on: sm_admin.py's iam-setup makes the first six.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "6")]);
    let dir = tempfile::tempdir().unwrap();
    let (key, pass) = encrypted_key(dir.path());
    let keys = moto.sm_admin(&["iam-setup"], "", None);
    let keys: Vec<&str> = keys.split_whitespace().collect();
    let (admin, reader) = ((keys[0], keys[1]), (keys[2], keys[3]));
    moto.sm_admin(&["create", "release/locked"], &pass, Some(admin));
    let args = [
        "pubkey",
        s(&key),
        "--key-password",
        "awssm://release/locked",
    ];
    let denied = moto.run(&args, Some(reader), &[]);
    assert_eq!(code(&denied), 2, "{}", stderr(&denied));
    let text = stderr(&denied);
    assert!(text.contains("awssm://release/locked"), "{text}");
    // AWS answers AccessDeniedException; moto answers 403 with an XML body the SDK cannot read.
    assert!(
        text.contains("AccessDenied") || text.contains("HTTP 403 (access denied)"),
        "{text}"
    );
    assert_never_shown(&pass, &[&denied]);
    // The same secret with a principal that may read it.
    let allowed = moto.run(&args, Some(admin), &[]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));
}

#[test]
fn hsm_pin_from_secrets_manager_plain_and_json() {
    let moto = Moto::start();
    let hsm = softhsm::SoftHsm::init();
    let pin = hsm.pin();
    moto.sm_admin(&["create", "hsm/pin"], &pin, None);
    moto.sm_admin(
        &["create", "hsm/all"],
        &format!("{{\"pin\": \"{pin}\"}}"),
        None,
    );
    let conf = hsm.conf.to_str().unwrap();
    let uri = |source: &str| {
        format!(
            "pkcs11:token={};object=ec-p256?module-path={}&pin-source={source}",
            hsm.token, hsm.module
        )
    };
    let mut outs = Vec::new();
    for source in ["awssm://hsm/pin", "awssm://hsm/all%3Fjson-key%3Dpin"] {
        let out = moto.run(&["pubkey", &uri(source)], None, &[("SOFTHSM2_CONF", conf)]);
        assert_eq!(code(&out), 0, "{source}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN PUBLIC KEY"));
        outs.push(out);
    }
    // A PIN secret that does not exist: exit 2, the reference named, no login attempted.
    let out = moto.run(
        &["pubkey", &uri("awssm://hsm/gone")],
        None,
        &[("SOFTHSM2_CONF", conf)],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("awssm://hsm/gone"),
        "{}",
        stderr(&out)
    );
    outs.push(out);
    assert_never_shown(&pin, &outs.iter().collect::<Vec<_>>());
}

#[test]
fn key_passphrase_from_env_and_fd() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pass) = encrypted_key(dir.path());
    let want = expected_pubkey(&key, &pass, dir.path());
    let bin = env!("CARGO_BIN_EXE_modelseal");

    let out = Command::new(bin)
        .args([
            "pubkey",
            s(&key),
            "--key-password",
            "env:MODELSEAL_TEST_PASS",
        ])
        .env("MODELSEAL_TEST_PASS", &pass)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    let unset = Command::new(bin)
        .args([
            "pubkey",
            s(&key),
            "--key-password",
            "env:MODELSEAL_TEST_UNSET",
        ])
        .env_remove("MODELSEAL_TEST_UNSET")
        .output()
        .unwrap();
    assert_eq!(code(&unset), 2);
    assert!(
        stderr(&unset).contains("MODELSEAL_TEST_UNSET is not set"),
        "{}",
        stderr(&unset)
    );

    // fd:0 (a pipe on stdin) and fd:3 (a file the shell opened for the process).
    let mut child = Command::new(bin)
        .args(["pubkey", s(&key), "--key-password", "fd:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pass}\n").as_bytes())
        .unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(code(&piped), 0, "{}", stderr(&piped));
    assert_eq!(String::from_utf8_lossy(&piped.stdout), want);
    let file = dir.path().join("pass-for-fd");
    std::fs::write(&file, &pass).unwrap();
    let fd3 = Command::new("bash")
        .arg("-c")
        .arg("exec \"$0\" pubkey \"$1\" --key-password fd:3 3<\"$2\"")
        .args([bin, s(&key), s(&file)])
        .output()
        .unwrap();
    assert_eq!(code(&fd3), 0, "{}", stderr(&fd3));
    assert_eq!(String::from_utf8_lossy(&fd3.stdout), want);
    let closed = Command::new(bin)
        .args(["pubkey", s(&key), "--key-password", "fd:9"])
        .output()
        .unwrap();
    assert_eq!(code(&closed), 2, "{}", stderr(&closed));
    assert!(stderr(&closed).contains("fd:9"), "{}", stderr(&closed));
    // Both flags at once are refused by the parser.
    let both = modelseal(&[
        "pubkey",
        s(&key),
        "--key-password",
        "env:X",
        "--key-password-file",
        "f",
    ]);
    assert_eq!(code(&both), 2);
    assert_never_shown(&pass, &[&out, &unset, &piped, &fd3, &closed]);
}

/// A read-only bind mount of `source` at `target`, undone on drop.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(source: &Path, target: &Path) -> ReadOnlyMount {
        std::fs::create_dir_all(target).unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("mount").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "mount {args:?} (this test runs as root, as scripts/test.sh does): {}",
                stderr(&out)
            );
        };
        run(&["--bind", s(source), s(target)]);
        let mount = ReadOnlyMount(target.to_path_buf());
        run(&["-o", "remount,bind,ro", s(target)]);
        mount
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Builds Kubernetes' atomic-writer layout in `dir`: `..2026_12_06_09_00_00.000000001/NAME` for
/// each file, `..data -> ..2026_…`, and `NAME -> ..data/NAME`.
fn atomic_writer_layout(dir: &Path, files: &[(&str, &str)], uid: u32, gid: u32, mode: u32) {
    let stamp = dir.join("..2026_12_06_09_00_00.000000001");
    std::fs::create_dir_all(&stamp).unwrap();
    for (name, value) in files {
        let path = stamp.join(name);
        std::fs::write(&path, value).unwrap();
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        chmod(&path, mode);
        std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
    }
    std::os::unix::fs::symlink("..2026_12_06_09_00_00.000000001", dir.join("..data")).unwrap();
    chmod(&stamp, 0o755);
    chmod(dir, 0o1777); // what a Secret volume's root looks like; read-only, so harmless
}

/// The user the pod runs as (`runAsUser`), and a group for `fsGroup`.
const NOBODY: u32 = 65534;
const FS_GROUP: u32 = 2021;

/// Runs modelseal as `NOBODY` with `groups` as its supplementary groups (none when empty).
fn as_nobody(args: &[&str], groups: &[u32], conf: &Path) -> Output {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"));
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        cmd.arg(format!("--groups={}", list.join(",")));
    }
    cmd.arg(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Issue 21 item 2: an HSM PIN and a key passphrase read from a Kubernetes Secret volume as
/// mounted — the atomic-writer symlinks on a read-only bind mount — by a non-root process: 0400
/// files owned by the process's user (`runAsUser`), 0440 files of its group (`fsGroup`); refused
/// with the fix named when the mode is more open, the group is not the process's, or the 0440
/// file is not on a read-only mount.
#[test]
fn kubernetes_secret_volume_as_mounted_as_non_root() {
    assert_eq!(euid(), 0, "this test builds a bind mount: run it as root");
    let work = tempfile::tempdir().unwrap();
    chmod(work.path(), 0o755);
    let hsm = softhsm::SoftHsm::init();
    let pin = hsm.pin();
    // The token belongs to the pod's user, as an HSM client's state would.
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}"), s(&hsm.root)])
        .status()
        .unwrap();
    assert!(status.success());
    let mut up = hsm.root.clone();
    while let Some(parent) = up.parent() {
        if parent == Path::new("/") {
            break;
        }
        let _ = Command::new("chmod").args(["o+x", s(parent)]).status();
        up = parent.to_path_buf();
    }
    let (key, pass) = encrypted_key(work.path());
    std::os::unix::fs::chown(&key, Some(NOBODY), Some(NOBODY)).unwrap();
    let files = [("pin", pin.as_str()), ("key-pass", pass.as_str())];
    let conf = hsm.conf.clone();
    let pubkey_with = |dir: &Path, groups: &[u32]| {
        let uri = format!(
            "pkcs11:token={};object=ec-p256?module-path={}&pin-source=file:{}",
            hsm.token,
            hsm.module,
            dir.join("pin").display()
        );
        let hsm_out = as_nobody(&["pubkey", &uri], groups, &conf);
        let reference = format!("file:{}", dir.join("key-pass").display());
        let key_out = as_nobody(
            &["pubkey", s(&key), "--key-password", &reference],
            groups,
            &conf,
        );
        (hsm_out, key_out)
    };
    let mut seen = Vec::new();

    // runAsUser: 0400 files owned by the pod's user, on the read-only mount.
    let src = work.path().join("owned-src");
    atomic_writer_layout(&src, &files, NOBODY, NOBODY, 0o400);
    let mounted = work.path().join("owned");
    let _m1 = ReadOnlyMount::new(&src, &mounted);
    let (h, k) = pubkey_with(&mounted, &[]);
    assert_eq!(code(&h), 0, "HSM PIN, runAsUser: {}", stderr(&h));
    assert_eq!(code(&k), 0, "key passphrase, runAsUser: {}", stderr(&k));
    seen.extend([h, k]);

    // fsGroup: 0440 root-owned files of the pod's supplementary group, on the read-only mount.
    let src = work.path().join("group-src");
    atomic_writer_layout(&src, &files, 0, FS_GROUP, 0o440);
    let mounted = work.path().join("group");
    let _m2 = ReadOnlyMount::new(&src, &mounted);
    let (h, k) = pubkey_with(&mounted, &[FS_GROUP]);
    assert_eq!(code(&h), 0, "HSM PIN, fsGroup: {}", stderr(&h));
    assert_eq!(code(&k), 0, "key passphrase, fsGroup: {}", stderr(&k));
    seen.extend([h, k]);
    // The same files where they are not on a read-only mount: refused, the fix named.
    let (h, k) = pubkey_with(&src, &[FS_GROUP]);
    assert_refused(&h, &k, "writable mount", &["permissions 440", "fsGroup"]);
    seen.extend([h, k]);

    // The default mode 0644 (no defaultMode): refused even on the read-only mount, fix named.
    let src = work.path().join("open-src");
    atomic_writer_layout(&src, &files, NOBODY, NOBODY, 0o644);
    let mounted = work.path().join("open");
    let _m3 = ReadOnlyMount::new(&src, &mounted);
    let (h, k) = pubkey_with(&mounted, &[]);
    assert_refused(
        &h,
        &k,
        "0644",
        &["permissions 644", "defaultMode: 0400", "runAsUser"],
    );
    seen.extend([h, k]);
    for secret in [&pin, &pass] {
        assert_never_shown(secret, &seen.iter().collect::<Vec<_>>());
    }
}

/// Asserts that the PIN run `h` and the passphrase run `k` both exit 2 with every one of `words`.
fn assert_refused(h: &Output, k: &Output, case: &str, words: &[&str]) {
    for (what, out) in [("HSM PIN", h), ("key passphrase", k)] {
        assert_eq!(code(out), 2, "{what}, {case}: {}", stderr(out));
        for word in words {
            assert!(
                stderr(out).contains(word),
                "{what}, {case}: {}",
                stderr(out)
            );
        }
    }
}

/// The effective user id, from `id -u` (the test crate has no libc).
fn euid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
