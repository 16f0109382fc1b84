"""The first hour in Python (issue 22): ``ignore="README.md"`` is one path, ``policy=`` takes a path,
errors name keyword arguments and are ``FileNotFoundError``/``PermissionError`` where a file is
missing or closed, the signed name binds, and a second ``unseal`` into its own output succeeds."""

from __future__ import annotations

import os
import pathlib

import pytest

import modelseal

POLICY = """version = 1
[signers.release]
key = "release.pub.pem"
[[models]]
name = "prod/**"
require = ["release"]
"""


@pytest.fixture
def env(tmp_path: pathlib.Path) -> pathlib.Path:
    model = tmp_path / "llm"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(30_000))
    (model / "README.md").write_text("# a model\n")
    modelseal.keygen("ec-p256", tmp_path / "release.pem", tmp_path / "release.pub.pem")
    modelseal.keygen("x25519", tmp_path / "deploy.pem")
    (tmp_path / "trust.toml").write_text(POLICY)
    return tmp_path


def test_a_str_for_ignore_is_one_path(env: pathlib.Path) -> None:
    sig = modelseal.sign(env / "llm", env / "release.pem", ignore="README.md")
    result = modelseal.verify(env / "llm", sig, key=env / "release.pub.pem", ignore="README.md")
    assert result.resources == 1
    # A path-like is one path too, and a list still works.
    # (Each re-sign replaces the signature: an existing one is refused without force=.)
    sig = modelseal.sign(env / "llm", env / "release.pem", ignore=pathlib.Path("README.md"),
                         force=True)
    assert modelseal.verify(env / "llm", sig, key=env / "release.pub.pem", ignore=["README.md"]).resources == 1
    # "." is not a list of characters either: the whole model signed with nothing ignored.
    sig = modelseal.sign(env / "llm", env / "release.pem", force=True)
    assert modelseal.verify(env / "llm", sig, key=env / "release.pub.pem").resources == 2


def test_policy_takes_a_path(env: pathlib.Path) -> None:
    modelseal.seal(env / "llm", env / "llm.enc", env / "release.pem", env / "deploy.pem.pub",
                   model_name="prod/llm")
    result = modelseal.verify(env / "llm.enc", env / "llm.enc.sig", policy=env / "trust.toml")
    assert result["allowed"] and result["signed_name"] == "prod/llm"
    result = modelseal.verify(env / "llm.enc", env / "llm.enc.sig", policy=str(env / "trust.toml"))
    assert result["allowed"]
    out = modelseal.unseal(env / "llm.enc", env / "run", policy=env / "trust.toml", key=env / "deploy.pem")
    assert out["already_unsealed"] is False
    # A restarted init container: the same call again finds the model already unsealed.
    again = modelseal.unseal(env / "llm.enc", env / "run", policy=env / "trust.toml", key=env / "deploy.pem")
    assert again["already_unsealed"] is True
    with pytest.raises(TypeError, match="policy= takes"):
        modelseal.verify(env / "llm.enc", env / "llm.enc.sig", policy=42)  # type: ignore[call-overload]


def test_the_signed_name_binds(env: pathlib.Path) -> None:
    modelseal.seal(env / "llm", env / "llm.enc", env / "release.pem", env / "deploy.pem.pub",
                   model_name="prod/vision/resnet")
    (env / "loose.toml").write_text(POLICY.replace('"prod/**"', '"dev/**"'))
    with pytest.raises(modelseal.VerificationError, match='"dev/x" is not the signed name'):
        modelseal.verify(env / "llm.enc", env / "llm.enc.sig", policy=env / "loose.toml", model_name="dev/x")
    with pytest.raises(modelseal.VerificationError, match="is not the signed name"):
        modelseal.unseal(env / "llm.enc", env / "run", policy=env / "loose.toml", key=env / "deploy.pem",
                         model_name="dev/x")
    assert not (env / "run").exists()


def test_errors_name_keyword_arguments(env: pathlib.Path) -> None:
    os.chmod(env / "release.pem", 0o644)
    with pytest.raises(modelseal.KeyAccessError) as err:
        modelseal.sign(env / "llm", env / "release.pem")
    assert "allow_insecure_key_permissions=True" in str(err.value)
    assert "--allow" not in str(err.value)
    with pytest.raises(modelseal.Error) as err:
        modelseal.keygen("x25519", env / "deploy.pem")
    assert "force=True" in str(err.value) and "--force" not in str(err.value)


def test_missing_and_closed_files_are_os_errors_too(env: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        modelseal.verify(env / "nope", env / "nope.sig", key=env / "release.pub.pem")
    assert isinstance(err.value, modelseal.Error)
    with pytest.raises(FileNotFoundError) as err:
        modelseal.sign(env / "llm", env / "missing.pem")
    assert isinstance(err.value, modelseal.KeyAccessError), type(err.value).__mro__
    with pytest.raises(FileNotFoundError):
        modelseal.Policy.load(env / "missing.toml")


def test_allow_symlinks_encrypts_and_seals_a_hugging_face_cache_snapshot(env: pathlib.Path) -> None:
    repo = env / "models--org--tiny"
    (repo / "blobs").mkdir(parents=True)
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "blobs" / "aa11").write_bytes(b"w" * 5000)
    os.symlink("../../blobs/aa11", snapshot / "model.safetensors")
    with pytest.raises(modelseal.Error, match="allow_symlinks=True"):
        modelseal.encrypt(snapshot, env / "snap.enc", env / "deploy.pem.pub")
    modelseal.encrypt(snapshot, env / "snap.enc", env / "deploy.pem.pub", allow_symlinks=True)
    modelseal.seal(snapshot, env / "tiny.enc", env / "release.pem", env / "deploy.pem.pub",
                   model_name="prod/tiny", allow_symlinks=True)
    out = modelseal.unseal(env / "tiny.enc", env / "run", policy=env / "trust.toml", key=env / "deploy.pem")
    assert out["model_name"] == "prod/tiny"
    assert (env / "run" / "model.safetensors").read_bytes() == b"w" * 5000
