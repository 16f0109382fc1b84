"""AWS KMS keys (`awskms://`) from Python: sign, public_key, encrypt, decrypt, rewrap, against the
local KMS that scripts/moto_kms.py starts (moto's server on 127.0.0.1). Keys are created with boto3;
public keys are cross-checked against boto3's GetPublicKey."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
from cryptography.hazmat.primitives import serialization

import modelseal

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "kms"))
from local_kms import LocalKms, apply_env  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    kms = LocalKms(tmp_path_factory.mktemp("moto"))
    yield kms
    kms.close()


@pytest.fixture
def kms(server, monkeypatch):
    apply_env(monkeypatch, server.env())
    return server


def make_model(root: pathlib.Path, name: str = "model") -> pathlib.Path:
    model = root / name
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(50_000))
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    return model


def files_of(root: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_sign_and_verify_with_a_kms_key(kms, tmp_path):
    arn = kms.create_key("ECC_NIST_P256", "alias/py-signer")
    model = make_model(tmp_path)
    sig = modelseal.sign(model, "awskms:///alias/py-signer", tmp_path / "model.sig")
    pem = modelseal.public_key(f"awskms://127.0.0.1:{kms.port}/{arn}")
    der = kms.client().get_public_key(KeyId=arn)["PublicKey"]
    expected = (
        serialization.load_der_public_key(der)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert pem == expected
    (tmp_path / "pub.pem").write_text(pem)
    result = modelseal.verify(model, sig, key=tmp_path / "pub.pem")
    assert result.resources == 2
    (model / "weights.bin").write_bytes(b"tampered")
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(model, sig, key=tmp_path / "pub.pem")


def test_encrypt_decrypt_rewrap_with_kms_recipients(kms, tmp_path):
    arn = kms.create_key("SYMMETRIC_DEFAULT", "alias/py-deploy")
    other = kms.create_key("SYMMETRIC_DEFAULT", "alias/py-registry")
    model = make_model(tmp_path)
    enc = tmp_path / "model.enc"
    result = modelseal.encrypt(model, enc, ["awskms:///alias/py-deploy"])
    assert result.recipients == [("awskms", arn)]
    out = modelseal.decrypt(enc, tmp_path / "plain", "awskms:///alias/py-deploy")
    assert out.recipient == ("awskms", arn)
    assert files_of(tmp_path / "plain") == files_of(model)

    recipients = modelseal.rewrap(enc, f"awskms:///{arn}", add=f"awskms:///{other}", remove=arn)
    assert recipients == [("awskms", other)]
    modelseal.decrypt(enc, tmp_path / "plain2", f"awskms:///{other}")
    assert files_of(tmp_path / "plain2") == files_of(model)
    with pytest.raises(modelseal.DecryptionError, match="not a recipient"):
        modelseal.decrypt(enc, tmp_path / "plain3", f"awskms:///{arn}")
    assert not (tmp_path / "plain3").exists()


def test_edited_body_is_a_decryption_error(kms, tmp_path):
    kms.create_key("SYMMETRIC_DEFAULT", "alias/py-context")
    model = make_model(tmp_path, "pymodelx")
    enc = tmp_path / "enc"
    modelseal.encrypt(model, enc, "awskms:///alias/py-context")
    envelope = enc / "modelseal.envelope"
    data = envelope.read_bytes()
    envelope.write_bytes(data.replace(b"pymodelx", b"pymodely", 1))
    with pytest.raises(modelseal.DecryptionError, match="InvalidCiphertextException"):
        modelseal.decrypt(enc, tmp_path / "plain", "awskms:///alias/py-context")
    assert not (tmp_path / "plain").exists()


def test_unknown_alias_is_a_key_access_error(kms, tmp_path):
    model = make_model(tmp_path)
    with pytest.raises(modelseal.KeyAccessError, match="alias/nope.*NotFoundException"):
        modelseal.encrypt(model, tmp_path / "enc", "awskms:///alias/nope")
    with pytest.raises(modelseal.KeyAccessError, match="NotFoundException"):
        modelseal.sign(model, "awskms:///alias/nope", tmp_path / "sig")
    with pytest.raises(modelseal.KeyAccessError, match="NotFoundException"):
        modelseal.public_key("awskms:///alias/nope")
    assert not (tmp_path / "enc").exists()
