"""``key_password=`` (issue 21, docs/secrets.md): the passphrase of an encrypted key from a secret
reference — ``env:NAME`` and ``file:PATH`` here (``awssm://`` is tested through the CLI against
moto, cli/tests/secrets_cli.rs, and the same core code serves both doors) — the same as
``key_password_file=``; both at once, a malformed reference and an unset variable are refused
without showing the passphrase."""

from __future__ import annotations

import os
import pathlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import modelseal

PASSPHRASE = "correct horse battery staple 21"


@pytest.fixture
def key(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "enc.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    return path


def test_key_password_references_match_the_password_file(
    key: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSPHRASE + "\n")
    os.chmod(pw, 0o400)
    want = modelseal.public_key(key, key_password_file=pw)
    assert modelseal.public_key(key, key_password=f"file:{pw}") == want
    monkeypatch.setenv("MODELSEAL_TEST_PASSPHRASE", PASSPHRASE)
    assert modelseal.public_key(key, key_password="env:MODELSEAL_TEST_PASSPHRASE") == want
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"\x01" * 1000)
    sig = modelseal.sign(model, key, key_password="env:MODELSEAL_TEST_PASSPHRASE")
    public = tmp_path / "p.pem"
    public.write_text(want)
    assert modelseal.verify(model, key=public, signature=sig)


def test_bad_references_are_refused_without_the_passphrase(
    key: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(modelseal.Error, match="not both"):
        modelseal.public_key(key, key_password_file=tmp_path / "x", key_password="env:X")
    with pytest.raises(modelseal.KeyAccessError, match="not a secret reference"):
        modelseal.public_key(key, key_password=PASSPHRASE)
    monkeypatch.delenv("MODELSEAL_TEST_UNSET", raising=False)
    with pytest.raises(modelseal.KeyAccessError, match="MODELSEAL_TEST_UNSET is not set"):
        modelseal.public_key(key, key_password="env:MODELSEAL_TEST_UNSET")
    monkeypatch.setenv("MODELSEAL_TEST_WRONG", "zq-not-it-91")
    with pytest.raises(modelseal.KeyAccessError, match="wrong passphrase") as err:
        modelseal.public_key(key, key_password="env:MODELSEAL_TEST_WRONG")
    assert PASSPHRASE not in str(err.value) and "zq-not-it-91" not in str(err.value)
