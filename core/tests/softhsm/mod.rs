//! A private SoftHSM2 token for a test process, made by the project's `scripts/softhsm-init.sh`
//! (which installs SoftHSM2 and OpenSC when missing): shared by core and CLI integration tests.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A token directory with its config, module, token label and PIN file (see the script's header).
pub struct SoftHsm {
    _dir: tempfile::TempDir,
    /// The token directory (holds softhsm2.conf, tokens/, user.pin).
    pub root: PathBuf,
    /// `SOFTHSM2_CONF` for this token.
    pub conf: PathBuf,
    /// The PKCS#11 library.
    pub module: String,
    /// The token label.
    pub token: String,
    /// The 0400 file with the user PIN.
    pub pin_file: PathBuf,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

impl SoftHsm {
    /// Runs `scripts/softhsm-init.sh` into a new temporary directory.
    pub fn init() -> SoftHsm {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("hsm");
        let out = Command::new(repo_root().join("scripts/softhsm-init.sh"))
            .arg(&root)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run scripts/softhsm-init.sh");
        assert!(
            out.status.success(),
            "softhsm-init.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(root.join("env")).unwrap();
        let get = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} missing from env"))
                .to_string()
        };
        SoftHsm {
            conf: get("SOFTHSM2_CONF").into(),
            module: get("MODELSEAL_PKCS11_MODULE"),
            token: get("MODELSEAL_TEST_TOKEN"),
            pin_file: get("MODELSEAL_TEST_PIN_FILE").into(),
            root,
            _dir: dir,
        }
    }

    /// `pkcs11:token=…;object=OBJECT?module-path=…&pin-source=file:…`.
    pub fn uri(&self, object: &str) -> String {
        self.uri_with(object, &self.pin_file)
    }

    /// Like [`SoftHsm::uri`] with another PIN file.
    pub fn uri_with(&self, object: &str, pin_file: &Path) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={}&pin-source=file:{}",
            self.token,
            self.module,
            pin_file.display()
        )
    }

    /// The PIN itself, only to check that it appears nowhere.
    pub fn pin(&self) -> String {
        std::fs::read_to_string(&self.pin_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// Runs `pkcs11-tool --module … ARGS` against this token (PIN, if needed, from `env:`), one
    /// at a time in this process: two pkcs11-tool processes on one SoftHSM2 token at once can
    /// make one of them miss the token ("No slot with token named …").
    pub fn pkcs11_tool(&self, args: &[&str]) -> std::process::Output {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(&self.module)
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .env("MODELSEAL_TEST_PIN", self.pin())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run pkcs11-tool")
    }

    /// The test-only extractable AES-256 key `aes-extractable`, read out with pkcs11-tool through a
    /// file in `dir` (removed again), so tests can unwrap stanzas independently of modelseal.
    pub fn extractable_kek(&self, dir: &Path) -> Vec<u8> {
        let path = dir.join("kek.bin");
        let out = self.pkcs11_tool(&[
            "--token-label",
            &self.token,
            "--login",
            "--pin",
            "env:MODELSEAL_TEST_PIN",
            "--read-object",
            "--type",
            "secrkey",
            "--label",
            "aes-extractable",
            "-o",
            path.to_str().expect("UTF-8 test path"),
        ]);
        assert!(out.status.success(), "{out:?}");
        let kek = std::fs::read(&path).expect("read the exported key");
        std::fs::remove_file(&path).expect("remove the exported key");
        assert_eq!(kek.len(), 32);
        kek
    }
}

/// One token per test process; `SOFTHSM2_CONF` points at it (the library reads it once, at load).
pub fn shared() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let hsm = SoftHsm::init();
        std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
        hsm
    })
}
