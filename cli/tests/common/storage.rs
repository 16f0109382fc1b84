//! The object-storage emulators of the CLI tests (issue 19): moto's server (S3), fake-gcs-server
//! (GCS) and Azurite (Azure Blob), each started by `scripts/storage_emulator.py` on a free port of
//! 127.0.0.1 behind the script's logging, fault-injecting proxy, with the store's standard
//! variables pointing a `modelseal` process at it. A missing emulator fails the test
//! (scripts/setup.sh installs them).

use super::moto::{python, repo};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// Variables a developer's shell may hold that would point a client elsewhere; tests set their own.
pub const STORE_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "MODELSEAL_STORAGE_CHUNK_MIB",
    "MODELSEAL_STORAGE_CONCURRENCY",
];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Store {
    S3,
    Gcs,
    Azure,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::S3 => "s3",
            Store::Gcs => "gcs",
            Store::Azure => "azure",
        }
    }
    pub fn scheme(self) -> &'static str {
        match self {
            Store::S3 => "s3",
            Store::Gcs => "gs",
            Store::Azure => "az",
        }
    }
}

/// A running emulator behind the proxy; killed when dropped.
pub struct Emulator {
    pub store: Store,
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start(store: Store, faults: &str) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(dir.path().join("emulator.err")).unwrap();
        let mut child = Command::new(python())
            .arg(repo().join("scripts/storage_emulator.py"))
            .arg(store.name())
            .arg("--request-log")
            .arg(dir.path().join("requests.log"))
            .arg("--faults")
            .arg(faults)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start scripts/storage_emulator.py with the project venv's python");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let err =
                    std::fs::read_to_string(dir.path().join("emulator.err")).unwrap_or_default();
                panic!("storage_emulator.py did not report its port: {line:?}\n{err}")
            });
        Emulator {
            store,
            child,
            port,
            dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, bucket_and_prefix: &str) -> String {
        format!("{}://{bucket_and_prefix}", self.store.scheme())
    }

    pub fn admin(&self, args: &[&str]) {
        let out = Command::new(python())
            .arg(repo().join("scripts/storage_admin.py"))
            .arg(self.store.name())
            .arg(self.endpoint())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "storage_admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The store's standard variables, pointing at this emulator.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for var in STORE_VARS {
            cmd.env_remove(var);
        }
        match self.store {
            Store::S3 => cmd
                .env("AWS_ENDPOINT_URL", self.endpoint())
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1"),
            Store::Gcs => cmd.env("STORAGE_EMULATOR_HOST", self.endpoint()),
            Store::Azure => cmd.env(
                "AZURE_STORAGE_CONNECTION_STRING",
                format!(
                    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
                     AccountKey={AZURITE_KEY};BlobEndpoint={}/devstoreaccount1;",
                    self.endpoint()
                ),
            ),
        }
    }

    pub fn modelseal(&self, args: &[&str]) -> Output {
        self.modelseal_with(&[], args)
    }

    /// [`Emulator::modelseal`] with more variables (or overriding the store's).
    pub fn modelseal_with(&self, vars: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        self.env(&mut cmd);
        for (var, value) in vars {
            cmd.env(var, value);
        }
        cmd.args(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.modelseal(args);
        assert!(
            out.status.success(),
            "modelseal {args:?} failed: {}",
            stderr(&out)
        );
        out
    }

    pub fn requests(&self) -> Vec<String> {
        super::lines_of(&self.dir.path().join("requests.log"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Azurite's published development account key (the same in every installation; not a secret).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
