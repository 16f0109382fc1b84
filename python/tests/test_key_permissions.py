"""``allow_insecure_key_permissions=`` on encrypt, decrypt, rewrap, seal and unseal: a key file that
group or others can read (0644) is refused with ``KeyAccessError`` naming the file, its mode and the
override, and accepted with ``allow_insecure_key_permissions=True``."""

from __future__ import annotations

import os
import pathlib

import pytest

import modelseal

POLICY = """version = 1
[signers.release]
key = "release.pub.pem"
[[models]]
name = "prod/*"
require = ["release"]
"""


@pytest.fixture
def env(tmp_path: pathlib.Path) -> pathlib.Path:
    model = tmp_path / "llm"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(30_000))
    (model / "sub" / "config.json").write_text("{}")
    modelseal.keygen("ec-p256", tmp_path / "release.pem", tmp_path / "release.pub.pem")
    for name in ("a.kek", "b.kek"):
        modelseal.keygen("aes256-kek", tmp_path / name)
    modelseal.keygen("x25519", tmp_path / "deploy.pem")
    (tmp_path / "trust.toml").write_text(POLICY)
    return tmp_path


def refused_then_allowed(key: pathlib.Path, call):  # type: ignore[no-untyped-def]
    """``call(allow)`` with ``key`` at 0644: refused without the override, done with it."""
    os.chmod(key, 0o644)
    with pytest.raises(modelseal.KeyAccessError) as err:
        call(False)
    message = str(err.value)
    assert f"{key}: permissions 644" in message
    assert "allow_insecure_key_permissions=True" in message
    result = call(True)
    os.chmod(key, 0o600)
    return result


def test_encrypt_decrypt_rewrap(env: pathlib.Path) -> None:
    kek, other, enc, out = env / "a.kek", env / "b.kek", env / "enc", env / "out"
    refused_then_allowed(
        kek,
        lambda allow: modelseal.encrypt(
            env / "llm", enc, [kek], allow_insecure_key_permissions=allow
        ),
    )
    result = refused_then_allowed(
        kek,
        lambda allow: modelseal.decrypt(enc, out, kek, allow_insecure_key_permissions=allow),
    )
    assert result.files == 2
    assert (out / "weights.bin").read_bytes() == (env / "llm" / "weights.bin").read_bytes()
    recipients = refused_then_allowed(
        kek,
        lambda allow: modelseal.rewrap(
            enc, kek, add=[other], allow_insecure_key_permissions=allow
        ),
    )
    assert len(recipients) == 2


def test_decrypt_refusal_writes_nothing(env: pathlib.Path) -> None:
    kek = env / "a.kek"
    modelseal.encrypt(env / "llm", env / "enc", [kek])
    os.chmod(kek, 0o640)
    with pytest.raises(modelseal.KeyAccessError, match="permissions 640"):
        modelseal.decrypt(env / "enc", env / "out", kek)
    assert not (env / "out").exists()


def test_seal_and_unseal(env: pathlib.Path) -> None:
    enc, out = env / "enc", env / "out"
    policy = modelseal.Policy.load(env / "trust.toml")
    sealed = refused_then_allowed(
        env / "a.kek",
        lambda allow: modelseal.seal(
            env / "llm",
            enc,
            str(env / "release.pem"),
            [env / "a.kek", env / "deploy.pem.pub"],
            model_name="prod/llm",
            allow_insecure_key_permissions=allow,
        ),
    )
    assert sealed["sealed"] is True
    result = refused_then_allowed(
        env / "deploy.pem",
        lambda allow: modelseal.unseal(
            enc,
            out,
            policy=policy,
            key=env / "deploy.pem",
            allow_insecure_key_permissions=allow,
        ),
    )
    assert result["unsealed"] is True
    assert (out / "weights.bin").read_bytes() == (env / "llm" / "weights.bin").read_bytes()
    # The signing key of seal is covered by the same override.
    os.chmod(env / "release.pem", 0o644)
    with pytest.raises(modelseal.KeyAccessError, match="permissions 644"):
        modelseal.seal(env / "llm", env / "enc2", str(env / "release.pem"), [env / "b.kek"])
    assert not (env / "enc2").exists()
    modelseal.seal(
        env / "llm",
        env / "enc2",
        str(env / "release.pem"),
        [env / "b.kek"],
        allow_insecure_key_permissions=True,
    )
