"""A local KMS for modelseal's Python tests: scripts/moto_kms.py (moto's server on 127.0.0.1,
a free port) started as a child process, plus boto3 helpers to create keys and read the
server's request log. Both pytest suites that use KMS import this module."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import boto3

REPO = pathlib.Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "scripts" / "moto_kms.py"

# Settings of the developer's shell that would change what the SDK or boto3 does.
AWS_VARS = (
    "AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE "
    "AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS AWS_ENDPOINT_URL_STS "
    "AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME "
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI"
).split()


class LocalKms:
    """One moto server; `close()` (or the end of the test process) stops it."""

    def __init__(self, workdir: pathlib.Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "requests.log"
        self._stderr = open(workdir / "moto.err", "wb")
        # stdin stays a pipe: the launcher exits when it closes, even if this process is killed.
        self.proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "--request-log", str(self.log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(
                f"moto_kms.py did not start: {line!r}\n{(workdir / 'moto.err').read_text()}"
            )
        self.port = int(line.split()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.no_file = workdir / "no-such-aws-file"

    def env(self) -> dict[str, str | None]:
        """Environment for the SDK and boto3: dummy credentials, us-east-1, this endpoint, no
        profile files, no instance metadata. `None` means: unset."""
        env: dict[str, str | None] = {v: None for v in AWS_VARS}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=str(self.no_file),
            AWS_SHARED_CREDENTIALS_FILE=str(self.no_file),
        )
        return env

    def client(self):
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_key(self, spec: str, alias: str | None = None) -> str:
        """A new key (`SYMMETRIC_DEFAULT`, `ECC_NIST_P256`, ...), optionally aliased; its ARN."""
        usage = "ENCRYPT_DECRYPT" if spec == "SYMMETRIC_DEFAULT" else "SIGN_VERIFY"
        kms = self.client()
        arn = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]
        if alias:
            kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return arn

    def requests(self) -> list[str]:
        """Every request so far, as "<service> <action>"."""
        return self.log.read_text().splitlines() if self.log.exists() else []

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                stream.close()
        self._stderr.close()


def apply_env(monkeypatch, env: dict[str, str | None]) -> None:
    """Sets (or, for `None`, unsets) each variable for the test's duration."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
