//! A local AWS emulator for the CLI tests: moto's server, started by `scripts/moto_kms.py` on a
//! free port of 127.0.0.1 (KMS, Secrets Manager, STS, IAM), with an environment that keeps every
//! process of a test on it: no inherited AWS settings, no profile files, no instance metadata.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository root (above `cli/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The project venv's Python (scripts/setup.sh), or `MODELSEAL_PYTHON`.
pub fn python() -> PathBuf {
    std::env::var_os("MODELSEAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"))
}

/// Credential and endpoint variables a developer's shell may hold; the tests set their own.
pub const AWS_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_STS",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// A running moto server; killed when dropped (and it exits by itself when our stdin pipe closes).
pub struct Moto {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// [`Moto::start`] with extra environment variables for the server (moto's settings).
    pub fn start_with(vars: &[(&str, &str)]) -> Moto {
        let dir = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(dir.path().join("moto.err")).unwrap();
        let mut child = Command::new(python())
            .arg(repo().join("scripts/moto_kms.py"))
            .arg("--request-log")
            .arg(dir.path().join("requests.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .envs(vars.iter().copied())
            .spawn()
            .expect("start scripts/moto_kms.py with the project venv's python (scripts/setup.sh)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let err = std::fs::read_to_string(dir.path().join("moto.err")).unwrap_or_default();
                panic!("moto_kms.py did not report its port: {line:?}\n{err}")
            });
        Moto { child, port, dir }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment every process of a test gets: no inherited AWS settings, no profile files,
    /// no instance metadata, region us-east-1, the local endpoint for every service.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for var in AWS_VARS {
            cmd.env_remove(var);
        }
        let none = self.dir.path().join("no-such-aws-file");
        cmd.env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
    }

    /// [`Moto::env`] with moto's dummy static credentials.
    pub fn static_env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        self.env(cmd)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
    }

    /// Runs the Python script `script` (a path from the repository root, e.g.
    /// `scripts/storage_admin.py`) with `args` and moto's static credentials; its stdout.
    pub fn script(&self, script: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(python());
        cmd.arg(repo().join(script)).args(args);
        let out = self.static_env(&mut cmd).output().unwrap();
        assert!(
            out.status.success(),
            "{script} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// [`Moto::env`] with web identity: an OIDC token written into `dir` as GitHub Actions or
    /// EKS would write it (moto does not check its signature) and a role to assume with it.
    pub fn web_identity_env<'c>(&self, cmd: &'c mut Command, dir: &Path) -> &'c mut Command {
        let token = dir.join("token");
        std::fs::write(
            &token,
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm1sL21vZGVsIn0.c2ln",
        )
        .unwrap();
        self.env(cmd)
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env(
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/model-release",
            )
            .env("AWS_ROLE_SESSION_NAME", "ci")
    }

    /// Every request the server saw so far, as "<service> <action>".
    pub fn requests(&self) -> Vec<String> {
        super::lines_of(&self.dir.path().join("requests.log"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
