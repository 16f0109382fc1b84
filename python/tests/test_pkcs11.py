"""The Python package with keys in a SoftHSM2 token (scripts/softhsm-init.sh): `sign(model,
key="pkcs11:…")` works as with a file, encryption to HSM keys round-trips, and HSM access problems
raise KeyAccessError without the PIN in the message."""

from __future__ import annotations

import pathlib
import sys

import pytest

import modelseal

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "interop"))
from softhsm_token import Token  # noqa: E402


@pytest.fixture(scope="module")
def token(tmp_path_factory) -> Token:
    return Token(tmp_path_factory.mktemp("softhsm") / "hsm")


def make_model(root: pathlib.Path) -> pathlib.Path:
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(bytes(range(256)) * 16)
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    return model


def test_sign_with_a_token_key_verifies(token: Token, tmp_path: pathlib.Path):
    model = make_model(tmp_path)
    sig = modelseal.sign(model, key=token.uri("ec-p256"), signature=tmp_path / "m.sig")
    pub = tmp_path / "pub.pem"
    pub.write_text(modelseal.public_key(token.uri("ec-p256")))
    result = modelseal.verify(model, sig, key=pub)
    assert result.resources == 2
    (model / "weights.bin").write_bytes(b"tampered")
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(model, sig, key=pub)


def test_encrypt_to_token_keys_round_trips(token: Token, tmp_path: pathlib.Path):
    model = make_model(tmp_path)
    aes, rsa = token.uri("aes-wrap"), token.uri("rsa-3072")
    enc = modelseal.encrypt(model, tmp_path / "enc", [aes, rsa])
    assert [t for t, _ in enc.recipients] == ["pkcs11-aes", "rsa-oaep"]
    for i, key in enumerate([aes, rsa]):
        out = tmp_path / f"dec{i}"
        modelseal.decrypt(tmp_path / "enc", out, key)
        assert (out / "weights.bin").read_bytes() == (model / "weights.bin").read_bytes()


def test_access_problems_raise_key_access_error(token: Token, tmp_path: pathlib.Path):
    model = make_model(tmp_path)
    pin = token.pin()
    with pytest.raises(modelseal.KeyAccessError, match="no private key matches") as err:
        modelseal.sign(model, key=token.uri("no-such-key"))
    assert pin not in str(err.value)
    with pytest.raises(modelseal.KeyAccessError, match="pin-value is refused") as err:
        modelseal.sign(model, key=f"pkcs11:token={token.token};object=ec-p256?pin-value={pin}")
    assert pin not in str(err.value)
    with pytest.raises(modelseal.KeyAccessError, match="AES-256 secret key or an RSA key"):
        modelseal.encrypt(model, tmp_path / "enc", token.uri("ec-p256"))
