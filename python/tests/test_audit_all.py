"""Python audits all seven operations like the CLI: for sign, verify, encrypt, decrypt, rewrap,
seal and unseal, the line ``audit_log=`` appends equals the line ``modelseal … --audit-log``
appends on the same inputs — every field but ``time``, after replacing each side's own directory
(two identical copies of one fixture) by ``$ROOT``."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import pytest

import modelseal

CLI = os.environ.get("MODELSEAL_BIN", "modelseal")

POLICY = """version = 1
[signers.release]
key = "signer.pub.pem"
[[models]]
name = "prod/*"
require = ["release"]
"""


@pytest.fixture
def sides(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Two identical directories, one for the CLI and one for Python."""
    base = tmp_path / "base"
    model = base / "llm"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(bytes(range(256)) * 40)
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    modelseal.keygen("ec-p256", base / "signer.pem", base / "signer.pub.pem")
    modelseal.keygen("ec-p256", base / "other.pem", base / "other.pub.pem")
    modelseal.keygen("aes256-kek", base / "kek")
    modelseal.keygen("aes256-kek", base / "kek2")
    (base / "trust.toml").write_text(POLICY)
    cli, py = tmp_path / "cli", tmp_path / "py"
    shutil.copytree(base, cli)
    shutil.copytree(base, py)
    return cli, py


def last_line(log: pathlib.Path, root: pathlib.Path) -> dict:
    line = log.read_text().splitlines()[-1]
    event = json.loads(line.replace(str(root), "$ROOT"))
    del event["time"]
    # Each decision has its own random id (32 hex digits); without a policy there is none.
    request_id = event.pop("request_id")
    assert request_id is None if event["policy"] is None else len(request_id) == 32, event
    return event


def cli(root: pathlib.Path, *args: str) -> int:
    argv = [CLI, *args, "--audit-log", str(root / "audit.jsonl")]
    return subprocess.run(argv, cwd=root, capture_output=True).returncode


def same_line(cli_root: pathlib.Path, py_root: pathlib.Path) -> dict:
    a = last_line(cli_root / "audit.jsonl", cli_root)
    b = last_line(py_root / "audit.jsonl", py_root)
    assert a == b
    return a


def test_all_seven_operations_write_the_cli_line(sides):
    c, p = sides
    log = p / "audit.jsonl"
    seen = []

    def check(operation: str, outcome: str) -> None:
        event = same_line(c, p)
        assert (event["operation"], event["outcome"]) == (operation, outcome), event
        seen.append((operation, outcome))

    assert cli(c, "sign", str(c / "llm"), "--key", str(c / "signer.pem"), "-o", str(c / "llm.sig")) == 0
    modelseal.sign(p / "llm", p / "signer.pem", p / "llm.sig", audit_log=log)
    check("sign", "ok")

    assert cli(c, "verify", str(c / "llm"), "--signature", str(c / "llm.sig"),
               "--key", str(c / "signer.pub.pem")) == 0
    modelseal.verify(p / "llm", p / "llm.sig", key=p / "signer.pub.pem", audit_log=log)
    check("verify", "ok")

    assert cli(c, "verify", str(c / "llm"), "--signature", str(c / "llm.sig"),
               "--key", str(c / "other.pub.pem")) == 1
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(p / "llm", p / "llm.sig", key=p / "other.pub.pem", audit_log=log)
    check("verify", "failed")

    assert cli(c, "verify", str(c / "llm"), "--signature", str(c / "llm.sig"),
               "--policy", str(c / "trust.toml"), "--model-name", "prod/llm") == 0
    modelseal.verify(p / "llm", p / "llm.sig", policy=modelseal.Policy.load(p / "trust.toml"),
                     model_name="prod/llm", audit_log=log)
    check("verify", "ok")

    assert cli(c, "encrypt", str(c / "llm"), "--recipient", str(c / "kek"), "-o", str(c / "enc")) == 0
    modelseal.encrypt(p / "llm", p / "enc", p / "kek", audit_log=log)
    check("encrypt", "ok")

    assert cli(c, "decrypt", str(c / "enc"), "--key", str(c / "kek"), "-o", str(c / "dec")) == 0
    modelseal.decrypt(p / "enc", p / "dec", p / "kek", audit_log=log)
    check("decrypt", "ok")

    assert cli(c, "decrypt", str(c / "enc"), "--key", str(c / "kek2"), "-o", str(c / "dec2")) == 1
    with pytest.raises(modelseal.DecryptionError):
        modelseal.decrypt(p / "enc", p / "dec2", p / "kek2", audit_log=log)
    check("decrypt", "failed")

    assert cli(c, "rewrap", str(c / "enc"), "--key", str(c / "kek"), "--recipient", str(c / "kek2")) == 0
    modelseal.rewrap(p / "enc", p / "kek", add=p / "kek2", audit_log=log)
    check("rewrap", "ok")

    assert cli(c, "seal", str(c / "llm"), "--key", str(c / "signer.pem"), "--recipient", str(c / "kek"),
               "--model-name", "prod/llm", "-o", str(c / "sealed")) == 0
    modelseal.seal(p / "llm", p / "sealed", p / "signer.pem", p / "kek", model_name="prod/llm",
                   audit_log=log)
    check("seal", "ok")

    assert cli(c, "unseal", str(c / "sealed"), "--policy", str(c / "trust.toml"), "--key", str(c / "kek"),
               "--out", str(c / "run")) == 0
    modelseal.unseal(p / "sealed", p / "run", policy=modelseal.Policy.load(p / "trust.toml"),
                     key=p / "kek", audit_log=log)
    check("unseal", "ok")

    (c / "other.toml").write_text(POLICY.replace("signer.pub.pem", "other.pub.pem"))
    (p / "other.toml").write_text(POLICY.replace("signer.pub.pem", "other.pub.pem"))
    assert cli(c, "unseal", str(c / "sealed"), "--policy", str(c / "other.toml"), "--key", str(c / "kek"),
               "--out", str(c / "run2")) == 1
    with pytest.raises(modelseal.VerificationError):
        modelseal.unseal(p / "sealed", p / "run2", policy=modelseal.Policy.load(p / "other.toml"),
                         key=p / "kek", audit_log=log)
    check("unseal", "failed")

    assert {op for op, _ in seen} == {"sign", "verify", "encrypt", "decrypt", "rewrap", "seal", "unseal"}
    assert len(log.read_text().splitlines()) == len(seen)


def test_an_unwritable_audit_log_fails_every_call(sides):
    _, p = sides
    log = p / "missing-dir" / "audit.jsonl"
    with pytest.raises(modelseal.Error, match="cannot append to the audit log"):
        modelseal.sign(p / "llm", p / "signer.pem", p / "llm.sig", audit_log=log)
    with pytest.raises(modelseal.Error, match="cannot append to the audit log"):
        modelseal.encrypt(p / "llm", p / "enc", p / "kek", audit_log=log)
    assert not log.exists()
