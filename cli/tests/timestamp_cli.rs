//! `sign --tsa-url`, `seal --tsa-url`, `verify --tsa-roots/--require-timestamp` and `inspect`
//! against a real RFC 3161 TSA (OpenSSL's, see tests/tsa/tsa.rs) on 127.0.0.1.

mod common;
#[path = "../../tests/tsa/tsa.rs"]
mod tsa;

use common::{code, json, keygen_p256, modelseal, ok, s};
use std::path::{Path, PathBuf};
use tsa::Tsa;

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary directory with a TSA `tsa` started by `start`, a one-file model and a P-256 key
/// pair: `(dir, tsa, model, key, public)`.
fn setup(start: fn(&Path, &str) -> Tsa) -> (tempfile::TempDir, Tsa, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tsa = start(dir.path(), "tsa");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("w.bin"), b"weights").unwrap();
    let (key, public) = keygen_p256(dir.path(), "k");
    (dir, tsa, model, key, public)
}

#[test]
fn sign_with_a_tsa_and_verify_with_and_without_its_roots() {
    let (dir, tsa, model, key, public) = setup(Tsa::start);
    let d = dir.path();
    let other = Tsa::start(d, "other-tsa");
    let sig = d.join("model.sig");
    ok(&[
        "sign",
        s(&model),
        "--key",
        s(&key),
        "-o",
        s(&sig),
        "--tsa-url",
        &tsa.url,
        "--tsa-roots",
        s(&tsa.root),
        "--quiet",
    ]);
    // Signing refuses an answer from a TSA that --tsa-roots does not trust, and writes nothing.
    let refused = d.join("refused.sig");
    let out = modelseal(&[
        "sign",
        s(&model),
        "--key",
        s(&key),
        "-o",
        s(&refused),
        "--tsa-url",
        &tsa.url,
        "--tsa-roots",
        s(&other.root),
    ]);
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!refused.exists());

    // inspect shows the timestamp's claims.
    let out = ok(&["inspect", s(&sig)]);
    assert!(
        text(&out).contains("timestamp:") && text(&out).contains("CN=tsa"),
        "{}",
        text(&out)
    );
    let v = json(&ok(&["inspect", s(&sig), "--json"]));
    assert_eq!(v["timestamps"][0]["tsa"], "CN=tsa");

    // With the TSA's roots: verified, and the JSON carries the signing time and TSA.
    let base = [
        "verify",
        s(&model),
        "--signature",
        s(&sig),
        "--key",
        s(&public),
    ];
    let with_roots = [&base[..], &["--tsa-roots", s(&tsa.root)]].concat();
    let v = json(&ok(&[&with_roots[..], &["--json"]].concat()));
    assert_eq!(v["signer"]["timestamp_authority"], "CN=tsa");
    let time = v["signer"]["signing_time"].as_str().unwrap().to_string();
    assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    assert!(text(&ok(&with_roots)).contains("timestamped"));
    ok(&[&with_roots[..], &["--require-timestamp"]].concat());

    // Without roots the timestamp is ignored, and the output says so.
    let out = ok(&base);
    assert!(
        text(&out).contains("1 timestamp(s) ignored"),
        "{}",
        text(&out)
    );
    let v = json(&ok(&[&base[..], &["--json"]].concat()));
    assert_eq!(v["signer"]["unchecked_timestamps"], 1);
    assert!(v["signer"].get("signing_time").is_none());
    let out = modelseal(&[&base[..], &["--require-timestamp"]].concat());
    assert_eq!(code(&out), 1);

    // Another TSA's roots: the timestamp does not verify, so neither does the signature.
    let out = modelseal(&[&base[..], &["--tsa-roots", s(&other.root)]].concat());
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("timestamp not trusted"));
}

#[test]
fn seal_timestamps_both_signatures() {
    let (dir, tsa, model, key, public) = setup(Tsa::start);
    let d = dir.path();
    ok(&[
        "keygen",
        "--algorithm",
        "x25519",
        "--out",
        s(&d.join("r.pem")),
    ]);
    let sealed = d.join("sealed");
    ok(&[
        "seal",
        s(&model),
        "--key",
        s(&key),
        "--recipient",
        s(&d.join("r.pem.pub")),
        "-o",
        s(&sealed),
        "--tsa-url",
        &tsa.url,
        "--quiet",
    ]);
    let outer = d.join("sealed.sig");
    let v = json(&ok(&[
        "verify",
        s(&sealed),
        "--signature",
        s(&outer),
        "--key",
        s(&public),
        "--tsa-roots",
        s(&tsa.root),
        "--require-timestamp",
        "--json",
    ]));
    assert_eq!(v["signer"]["timestamp_authority"], "CN=tsa");
    // The inner signature (unsealed) carries one too.
    let plain = d.join("plain");
    ok(&[
        "decrypt",
        s(&sealed),
        "--key",
        s(&d.join("r.pem")),
        "-o",
        s(&plain),
        "--quiet",
    ]);
    let inner = std::fs::read_dir(&plain)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sig"))
        .expect("the inner signature in the sealed model");
    let v = json(&ok(&["inspect", s(&inner), "--json"]));
    assert_eq!(v["timestamps"][0]["tsa"], "CN=tsa");
}

#[test]
fn policy_signers_name_their_tsa_roots_and_the_flags_do_not_combine_with_policy() {
    let (dir, tsa, model, key, public) = setup(Tsa::start);
    let d = dir.path();
    let stamped = d.join("stamped.sig");
    let bare = d.join("bare.sig");
    for (sig, tsa_url) in [(&stamped, Some(&tsa.url)), (&bare, None)] {
        let mut argv = vec!["sign", s(&model), "--key", s(&key), "-o", s(sig), "--quiet"];
        if let Some(url) = tsa_url {
            argv.extend(["--tsa-url", url.as_str()]);
        }
        ok(&argv);
    }
    let policy = d.join("trust.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[signers.release]\nkey = {:?}\ntsa_roots = {:?}\nrequire_timestamp = true\n[[models]]\nname = \"*\"\nrequire = [\"release\"]\n",
            s(&public),
            s(&tsa.root)
        ),
    )
    .unwrap();
    let verify = |sig: &Path, extra: &[&str]| {
        modelseal(
            &[
                &[
                    "verify",
                    s(&model),
                    "--signature",
                    s(sig),
                    "--policy",
                    s(&policy),
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let out = verify(&stamped, &[]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    // The signer requires a timestamp: a bare signature does not count.
    let out = verify(&bare, &[]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("timestamp"), "{err}");
    // The command-line TSA flags are refused with --policy, saying where TSA roots go.
    for extra in [
        &["--tsa-roots", s(&tsa.root)][..],
        &["--require-timestamp"][..],
    ] {
        let out = verify(&stamped, extra);
        assert_eq!(code(&out), 2);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            err.contains("do not combine with --policy") && err.contains("tsa_roots"),
            "{err}"
        );
    }
}

#[test]
fn sign_with_an_https_tsa_verifies_its_certificate_against_ssl_cert_file() {
    let (dir, tsa, model, key, public) = setup(Tsa::start_https);
    let d = dir.path();
    let sign = |sig: &Path, ca: Option<&Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelseal"));
        command.args([
            "sign",
            s(&model),
            "--key",
            s(&key),
            "-o",
            s(sig),
            "--tsa-url",
            &tsa.url,
            "--tsa-roots",
            s(&tsa.root),
            "--quiet",
        ]);
        // The test CA stands in for the system store, as SSL_CERT_FILE makes it.
        command.env_remove("SSL_CERT_DIR");
        match ca {
            Some(ca) => command.env("SSL_CERT_FILE", ca),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        command.output().unwrap()
    };
    let sig = d.join("model.sig");
    let out = sign(&sig, tsa.tls_root.as_deref());
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    ok(&[
        "verify",
        s(&model),
        "--signature",
        s(&sig),
        "--key",
        s(&public),
        "--tsa-roots",
        s(&tsa.root),
        "--require-timestamp",
        "--quiet",
    ]);
    // Without the test CA the TSA's TLS certificate is not trusted: nothing is written.
    let refused = d.join("refused.sig");
    let out = sign(&refused, None);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains(&tsa.url) && err.contains("certificate"),
        "{err}"
    );
    assert!(!refused.exists());
}
