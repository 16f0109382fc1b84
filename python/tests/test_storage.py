"""Models in object storage from Python (issue 19), against the real emulators that
scripts/storage_emulator.py starts on 127.0.0.1 (moto's S3, fake-gcs-server, Azurite): the same
location strings as the CLI; a bucket model's statement equals its local copy's; a policy verifies a
bucket model; tampering raises VerificationError naming the object."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

import modelseal

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMES = {"s3": "s3", "gcs": "gs", "azure": "az"}
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STORE_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
              "STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING")


class Emulator:
    def __init__(self, store: str) -> None:
        self.store = store
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/storage_emulator.py"), store],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        assert line.startswith("PORT "), f"storage_emulator.py said {line!r}"
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def admin(self, *args: str) -> None:
        subprocess.run([sys.executable, str(ROOT / "scripts/storage_admin.py"), self.store,
                        self.endpoint, *args], check=True)

    def environment(self) -> dict[str, str]:
        if self.store == "s3":
            return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
        if self.store == "gcs":
            return {"STORAGE_EMULATOR_HOST": self.endpoint}
        return {"AZURE_STORAGE_CONNECTION_STRING":
                f"AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={self.endpoint}/devstoreaccount1"}

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(params=sorted(SCHEMES))
def bucket(request, tmp_path: pathlib.Path, monkeypatch):
    emulator = Emulator(request.param)
    for var in STORE_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in emulator.environment().items():
        monkeypatch.setenv(var, value)
    model = tmp_path / "llm"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(200_000))
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    modelseal.keygen("ec-p256", tmp_path / "release.pem", tmp_path / "release.pub.pem")
    emulator.admin("mkbucket", "models")
    emulator.admin("upload", "models", "prod/llm", str(model))
    yield emulator, f"{SCHEMES[request.param]}://models/prod/llm", tmp_path
    emulator.stop()


def payload(signature: pathlib.Path) -> str:
    return json.loads(signature.read_text())["dsseEnvelope"]["payload"]


def test_bucket_and_local_signatures_are_interchangeable(bucket) -> None:
    emulator, url, tmp = bucket
    key, public = tmp / "release.pem", tmp / "release.pub.pem"
    remote_sig = modelseal.sign(url, key, tmp / "bucket.sig")
    local_sig = modelseal.sign(tmp / "llm", key, tmp / "local.sig")
    assert payload(remote_sig) == payload(local_sig)
    modelseal.verify(tmp / "llm", remote_sig, key=public)
    modelseal.verify(url, local_sig, key=public)
    assert modelseal.digest(url)["root_digest"] == modelseal.digest(tmp / "llm")["root_digest"]

    # The default signature goes beside the model, in the bucket, and is returned as its location.
    in_bucket = modelseal.sign(url, key)
    assert str(in_bucket) == f"{url}.sig"
    modelseal.verify(url, f"{url}.sig", key=public)


def test_policy_verifies_a_bucket_model_and_tampering_names_the_object(bucket) -> None:
    emulator, url, tmp = bucket
    (tmp / "trust.toml").write_text(
        'version = 1\n[signers.release]\nkey = "release.pub.pem"\n'
        '[[models]]\nname = "prod/*"\nrequire = ["release"]\n'
    )
    signature = modelseal.sign(url, tmp / "release.pem", tmp / "llm.sig")
    policy = modelseal.Policy.load(tmp / "trust.toml")
    result = modelseal.verify(url, signature, policy=policy, model_name="prod/llm")
    assert result["allowed"] is True

    (tmp / "other").write_text('{"layers": 3}')
    emulator.admin("put", "models", "prod/llm/sub/config.json", str(tmp / "other"))
    with pytest.raises(modelseal.VerificationError, match="sub/config.json"):
        modelseal.verify(url, signature, key=tmp / "release.pub.pem")


def test_decrypt_and_unseal_from_a_bucket(bucket) -> None:
    """The init-container case from Python: an encrypted and a sealed model in the bucket are
    decrypted and unsealed into local directories, byte for byte the model; a tampered ciphertext
    object raises DecryptionError naming it and leaves no output."""
    emulator, url, tmp = bucket
    kek = tmp / "registry.kek"
    modelseal.keygen("aes256-kek", kek)
    modelseal.encrypt(tmp / "llm", tmp / "enc", [kek])
    modelseal.seal(tmp / "llm", tmp / "sealed", tmp / "release.pem", [kek], model_name="prod/llm")
    emulator.admin("upload", "models", "enc/llm", str(tmp / "enc"))
    emulator.admin("upload", "models", "sealed/llm", str(tmp / "sealed"))
    emulator.admin("put", "models", "sealed/llm.sig", str(tmp / "sealed.sig"))
    scheme = url.split("://")[0]

    def files(root: pathlib.Path) -> list:
        return sorted((p.relative_to(root), p.read_bytes()) for p in root.rglob("*") if p.is_file())

    modelseal.decrypt(f"{scheme}://models/enc/llm", tmp / "plain", kek)
    assert files(tmp / "plain") == files(tmp / "llm")
    (tmp / "trust.toml").write_text(
        'version = 1\n[signers.release]\nkey = "release.pub.pem"\n'
        '[[models]]\nname = "prod/*"\nrequire = ["release"]\n'
    )
    modelseal.unseal(f"{scheme}://models/sealed/llm", tmp / "run", policy=tmp / "trust.toml",
                     key=kek)
    assert [f for f in files(tmp / "run") if f[0].name != "modelseal.sig"] == files(tmp / "llm")

    (tmp / "other").write_bytes(b"x" * (tmp / "enc" / "weights.bin").stat().st_size)
    emulator.admin("put", "models", "enc/llm/weights.bin", str(tmp / "other"))
    with pytest.raises(modelseal.DecryptionError, match="weights.bin"):
        modelseal.decrypt(f"{scheme}://models/enc/llm", tmp / "tampered", kek)
    assert not (tmp / "tampered").exists()


def test_encrypt_and_seal_into_a_bucket(bucket) -> None:
    """`modelseal.encrypt(..., out="s3://…")` takes the same strings as the CLI: the ciphertext
    goes into the bucket (the result names the location as given), decrypts back to the model
    byte for byte; an output location holding objects raises Error unless force=True. `seal`
    into the bucket unseals from there."""
    emulator, url, tmp = bucket
    kek = tmp / "registry.kek"
    modelseal.keygen("aes256-kek", kek)
    scheme = url.split("://")[0]
    out = f"{scheme}://models/enc/llm"
    result = modelseal.encrypt(tmp / "llm", out, [kek])
    assert result.out == out
    assert result.files == 2

    def files(root: pathlib.Path) -> list:
        return sorted((p.relative_to(root), p.read_bytes()) for p in root.rglob("*") if p.is_file())

    modelseal.decrypt(out, tmp / "plain", kek)
    assert files(tmp / "plain") == files(tmp / "llm")
    with pytest.raises(modelseal.Error, match="already holds"):
        modelseal.encrypt(tmp / "llm", out, [kek])
    modelseal.encrypt(tmp / "llm", out, [kek], force=True)
    modelseal.decrypt(out, tmp / "again", kek)
    assert files(tmp / "again") == files(tmp / "llm")

    # seal into the bucket (outer signature beside the prefix), unseal from there.
    sealed = f"{scheme}://models/sealed/llm"
    modelseal.seal(tmp / "llm", sealed, tmp / "release.pem", [kek], model_name="prod/llm")
    (tmp / "trust.toml").write_text(
        'version = 1\n[signers.release]\nkey = "release.pub.pem"\n'
        '[[models]]\nname = "prod/*"\nrequire = ["release"]\n'
    )
    modelseal.unseal(sealed, tmp / "run", policy=tmp / "trust.toml", key=kek)
    assert [f for f in files(tmp / "run") if f[0].name != "modelseal.sig"] == files(tmp / "llm")


def test_decrypt_into_a_bucket(bucket) -> None:
    """`modelseal.decrypt(..., "s3://…")` writes the plaintext into the bucket, from a local and
    from a bucket encrypted model (the result names the location as given): the objects read back
    are the model; an occupied output raises Error unless force=True; a tampered model raises
    DecryptionError and leaves no object below the output."""
    emulator, url, tmp = bucket
    kek = tmp / "registry.kek"
    modelseal.keygen("aes256-kek", kek)
    modelseal.encrypt(tmp / "llm", tmp / "enc", [kek])
    emulator.admin("upload", "models", "enc/llm", str(tmp / "enc"))
    scheme = url.split("://")[0]

    def objects(prefix: str) -> list:
        into = pathlib.Path(tempfile.mkdtemp(dir=tmp))
        emulator.admin("download", "models", prefix, str(into))
        return sorted((p.relative_to(into), p.read_bytes()) for p in into.rglob("*") if p.is_file())

    model = sorted((p.relative_to(tmp / "llm"), p.read_bytes())
                   for p in (tmp / "llm").rglob("*") if p.is_file())
    out = f"{scheme}://models/plain/llm"
    result = modelseal.decrypt(tmp / "enc", out, kek)
    assert result.out == out
    assert objects("plain/llm") == model
    with pytest.raises(modelseal.Error, match="already holds"):
        modelseal.decrypt(f"{scheme}://models/enc/llm", out, kek)
    modelseal.decrypt(f"{scheme}://models/enc/llm", out, kek, force=True)
    assert objects("plain/llm") == model

    (tmp / "other").write_bytes(b"x" * (tmp / "enc" / "weights.bin").stat().st_size)
    emulator.admin("put", "models", "enc/llm/weights.bin", str(tmp / "other"))
    with pytest.raises(modelseal.DecryptionError, match="weights.bin"):
        modelseal.decrypt(f"{scheme}://models/enc/llm", f"{scheme}://models/plain/t", kek)
    assert objects("plain/t") == []
def test_encrypt_and_seal_from_a_bucket(bucket) -> None:
    """A model that lives in the bucket is encrypted and sealed from there (the same strings as
    the CLI): into a local directory and into the bucket, decrypting to the model byte for byte;
    seal (scan=False: the credential scan reads local files only, and says so) unseals to the
    model, its inner statement the one of the same files sealed from the local disk."""
    emulator, url, tmp = bucket
    kek = tmp / "registry.kek"
    modelseal.keygen("aes256-kek", kek)
    scheme = url.split("://")[0]

    def files(root: pathlib.Path) -> list:
        return sorted((p.relative_to(root), p.read_bytes()) for p in root.rglob("*") if p.is_file())

    modelseal.encrypt(url, tmp / "enc", [kek])
    modelseal.decrypt(tmp / "enc", tmp / "plain", kek)
    assert files(tmp / "plain") == files(tmp / "llm")
    out = f"{scheme}://models/enc/llm"
    modelseal.encrypt(url, out, [kek])
    modelseal.decrypt(out, tmp / "back", kek)
    assert files(tmp / "back") == files(tmp / "llm")

    sealed = f"{scheme}://models/sealed/llm"
    with pytest.raises(modelseal.Error, match="scan"):
        modelseal.seal(url, sealed, tmp / "release.pem", [kek], model_name="prod/llm")
    modelseal.seal(url, sealed, tmp / "release.pem", [kek], model_name="prod/llm", scan=False)
    modelseal.seal(tmp / "llm", tmp / "sealed", tmp / "release.pem", [kek], model_name="prod/llm",
                   scan=False)
    (tmp / "trust.toml").write_text(
        'version = 1\n[signers.release]\nkey = "release.pub.pem"\n'
        '[[models]]\nname = "prod/*"\nrequire = ["release"]\n'
    )
    modelseal.unseal(sealed, tmp / "run", policy=tmp / "trust.toml", key=kek)
    modelseal.unseal(tmp / "sealed", tmp / "run-local", policy=tmp / "trust.toml", key=kek)
    assert [f for f in files(tmp / "run") if f[0].name != "modelseal.sig"] == files(tmp / "llm")
    assert payload(tmp / "run" / "modelseal.sig") == payload(tmp / "run-local" / "modelseal.sig")
