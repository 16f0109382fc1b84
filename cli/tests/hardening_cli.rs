//! Issue 17 (hardening, second round), the parts the CLI shows: special files refused without
//! hanging (each run under a deadline, so a regression fails instead of blocking the suite), ignore
//! paths that would make a universal signature, trust material others can write, policy-chosen
//! PKCS#11 modules, aliased signers, model names not in normal form, and the process hardening of
//! a running verb.

mod common;
use common::policy::{Setup, TRUST_TOML};
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a refused special file may take: far more than the milliseconds it needs, far less
/// than forever.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `modelseal ARGS…`, killing it (and failing the test) if it outlives [`DEADLINE`].
fn run_bounded(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{args:?} still running after {DEADLINE:?} (blocked on a special file?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `verify MODEL --signature SIG --policy POLICY --model-name NAME EXTRA…`, bounded.
fn verify_policy(model: &Path, sig: &Path, policy: &Path, name: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify",
        s(model),
        "--signature",
        s(sig),
        "--policy",
        s(policy),
        "--model-name",
        name,
    ];
    args.extend_from_slice(extra);
    run_bounded(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Asserts exit 2 (an input error) with a message containing `needle`; returns the message.
fn input_error(out: &Output, needle: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 2, "{err}");
    assert!(err.contains(needle), "want {needle:?} in: {err}");
    err
}

/// Asserts exit 2 with a message naming the FIFO.
fn refused_as_fifo(out: &Output, args: &[&str]) {
    let err = input_error(out, "fifo");
    assert!(!err.is_empty(), "{args:?}");
}

#[test]
fn a_fifo_named_as_a_signature_is_refused_without_hanging() {
    let t = Setup::new();
    let trust = t.path("trust.toml");
    let fifo = t.path("sig.fifo");
    mkfifo(&fifo);
    let public = t.path("release.pub.pem");
    let args = [
        "verify",
        s(&t.model),
        "--signature",
        s(&fifo),
        "--key",
        s(&public),
    ];
    refused_as_fifo(&run_bounded(&args), &args);
    let out = verify_policy(&t.model, &fifo, &trust, "dev/llm", &[]);
    refused_as_fifo(&out, &["verify", "--policy"]);
    let args = ["inspect", s(&fifo)];
    let out = run_bounded(&args);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn a_fifo_as_modelseal_envelope_is_refused_without_hanging() {
    let t = Setup::new();
    let kek = t.path("kek");
    ok(&["keygen", "--algorithm", "aes256-kek", "--out", s(&kek)]);
    let enc = t.path("llm.enc");
    ok(&[
        "encrypt",
        s(&t.model),
        "--recipient",
        s(&kek),
        "--out",
        s(&enc),
        "--quiet",
    ]);
    let envelope = enc.join("modelseal.envelope");
    std::fs::remove_file(&envelope).unwrap();
    mkfifo(&envelope);
    let out_dir = t.path("plain");
    for args in [
        vec!["inspect", s(&enc)],
        vec!["decrypt", s(&enc), "--key", s(&kek), "--out", s(&out_dir)],
    ] {
        refused_as_fifo(&run_bounded(&args), &args);
    }
    assert!(!out_dir.exists());
}

#[test]
fn sign_refuses_ignore_paths_at_or_outside_the_model_root() {
    let t = Setup::new();
    let key = t.path("release.pem");
    let sig = t.path("out.sig");
    let model = s(&t.model).to_string();
    for ignore in [
        ".".to_string(),
        "./".to_string(),
        model.clone(),
        format!("{model}/"),
        "..".to_string(),
        "../llm".to_string(),
        "/".to_string(),
    ] {
        let args = [
            "sign",
            &model,
            "--key",
            s(&key),
            "-o",
            s(&sig),
            "--ignore",
            &ignore,
            "--quiet",
        ];
        let out = run_bounded(&args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "--ignore {ignore}: {err}");
        assert!(err.contains("--ignore"), "--ignore {ignore}: {err}");
        assert!(!sig.exists(), "--ignore {ignore}: a signature was written");
    }
    // A path inside the model is still fine.
    ok(&[
        "sign",
        &model,
        "--key",
        s(&key),
        "-o",
        s(&sig),
        "--ignore",
        "sub",
        "--quiet",
    ]);
}

#[test]
fn trust_material_others_can_write_is_refused_unless_allowed() {
    let t = Setup::new();
    let trust = t.path("trust.toml");
    let enc_out = t.path("enc");
    let sig = t.sign("release");
    let verify = |extra: &[&str]| verify_policy(&t.model, &sig, &trust, "dev/llm", extra);
    assert_eq!(code(&verify(&[])), 0, "{}", stderr(&verify(&[])));
    for file in ["trust.toml", "release.pub.pem"] {
        let path = t.path(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = verify(&[]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{file}: {err}");
        assert!(err.contains(file) && err.contains("666"), "{file}: {err}");
        let out = verify(&["--allow-insecure-key-permissions"]);
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // A writable directory lets others replace the files in it.
    std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = verify(&[]);
    input_error(&out, "directory");
    std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // A recipient public key others can write is refused at encryption.
    let x25519 = t.path("x.pem");
    let x25519_pub = t.path("x.pub.pem");
    ok(&[
        "keygen",
        "--algorithm",
        "x25519",
        "--out",
        s(&x25519),
        "--public-out",
        s(&x25519_pub),
    ]);
    std::fs::set_permissions(&x25519_pub, std::fs::Permissions::from_mode(0o646)).unwrap();
    let args = [
        "encrypt",
        s(&t.model),
        "--recipient",
        s(&x25519_pub),
        "--out",
        s(&enc_out),
        "--quiet",
    ];
    let out = run_bounded(&args);
    input_error(&out, "646");
}

#[test]
fn a_policy_cannot_choose_the_pkcs11_module_the_verifier_loads() {
    let t = Setup::new();
    let sig = t.sign("release");
    let module = t.path("evil.so");
    std::fs::write(&module, b"not a library").unwrap();
    let policy = t.path("module.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[signers.hsm]\nkey = \"pkcs11:token=t;object=o?module-path={}\"\n[[models]]\nname = \"dev/*\"\nrequire = [\"hsm\"]\n",
            module.display()
        ),
    )
    .unwrap();
    let out = verify_policy(&t.model, &sig, &policy, "dev/llm", &[]);
    let err = input_error(&out, "not an allowed PKCS#11 module");
    assert!(err.contains("--allow-pkcs11-module"), "{err}");
    // Allowed by the operator, the module is loaded (and fails as the junk it is), not refused.
    let allow = ["--allow-pkcs11-module", s(&module)];
    let out = verify_policy(&t.model, &sig, &policy, "dev/llm", &allow);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(!err.contains("not an allowed PKCS#11 module"), "{err}");
    // A module others can write is refused even when allowed.
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = verify_policy(&t.model, &sig, &policy, "dev/llm", &allow);
    input_error(&out, "666");
}

#[test]
fn two_signers_pinning_one_key_are_refused() {
    let t = Setup::new();
    let sig = t.sign("release");
    let policy = t.path("alias.toml");
    // `release.pem` is the private key of `release.pub.pem`: the same public key twice.
    std::fs::write(
        &policy,
        "version = 1\n[signers.a]\nkey = \"release.pub.pem\"\n[signers.b]\nkey = \"release.pem\"\n[[models]]\nname = \"prod/*\"\nrequire = [\"a\", \"b\"]\nthreshold = 2\n",
    )
    .unwrap();
    let out = verify_policy(&t.model, &sig, &policy, "prod/llm", &[]);
    let err = input_error(&out, "same public key");
    assert!(err.contains("\"a\"") && err.contains("\"b\""), "{err}");
}

#[test]
fn model_names_must_be_in_normal_form() {
    let t = Setup::new();
    let trust = t.path("trust.toml");
    let sig = t.sign("release");
    for name in [
        "dev/../prod/llm",
        "dev/",
        "",
        "dev//llm",
        "./dev/llm",
        "dev/\u{1b}[2Jllm",
    ] {
        let out = verify_policy(&t.model, &sig, &trust, name, &[]);
        input_error(&out, "model name");
    }
    // A rule pattern that is not in normal form is a load error.
    let policy = t.path("bad-rule.toml");
    std::fs::write(&policy, TRUST_TOML.replace("dev/*", "dev/../*")).unwrap();
    let out = verify_policy(&t.model, &sig, &policy, "dev/llm", &[]);
    input_error(&out, "models[1].name");
}

#[test]
fn a_running_verb_is_not_dumpable_and_has_no_core_limit() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let t = Setup::new();
    let trust = t.path("trust.toml");
    // Run as `nobody`, so that the owner of /proc/PID shows dumpability: the kernel makes a
    // non-dumpable process's /proc files root's.
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    std::fs::set_permissions(t.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelseal"))
        .args(["serve", "--policy", s(&trust)])
        .args(["--root", s(t.dir.path()), "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .uid(65534)
        .gid(65534)
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    let status = std::fs::read_to_string(format!("{proc_dir}/status")).unwrap();
    let limits = std::fs::read_to_string(format!("{proc_dir}/limits")).unwrap();
    let owner = std::fs::metadata(format!("{proc_dir}/status"))
        .unwrap()
        .uid();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("listening"), "{first}");
    assert!(status.contains("\nUid:\t65534"), "{status}");
    assert_eq!(
        owner, 0,
        "/proc/PID of a non-dumpable process belongs to root"
    );
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

#[test]
fn file_names_and_bundle_fields_are_escaped_in_human_output() {
    let t = Setup::new();
    let release_pub = t.path("release.pub.pem");
    let sig = t.sign("release");
    // A signature under a name that would clear the screen and fake a verdict.
    let evil = t.path("x\u{1b}[2J\nverified OK.sig");
    std::fs::copy(&sig, &evil).unwrap();
    let out = run_bounded(&["inspect", s(&evil)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\u{1b}') && !text.contains("\nverified OK"),
        "{text}"
    );
    assert!(text.contains("x\\e[2J\\nverified OK.sig"), "{text}");
    // An extra file whose name carries a CI log command and an ANSI sequence.
    std::fs::write(t.model.join("::error::pwned\u{1b}[31m"), b"x").unwrap();
    let out = run_bounded(&[
        "verify",
        s(&t.model),
        "--signature",
        s(&sig),
        "--key",
        s(&release_pub),
    ]);
    let err = stderr(&out);
    assert_ne!(code(&out), 0, "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("[31m"), "{err}");
}
