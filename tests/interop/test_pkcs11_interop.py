"""Signing inside a SoftHSM2 token: `modelseal sign MODEL --key pkcs11:…` then
`model_signing verify key MODEL --signature S --public_key P` (1.1.1) with P from
`modelseal pubkey pkcs11:…` succeeds, and fails after tampering; the PIN shows in no output."""

from __future__ import annotations

import pytest

from interop_helpers import build_model, expect_rc, tamper
from softhsm_token import Token


@pytest.fixture(scope="module")
def token(tmp_path_factory) -> Token:
    return Token(tmp_path_factory.mktemp("softhsm") / "hsm")


@pytest.mark.parametrize("obj", ["ec-p256", "ec-p384"])
@pytest.mark.parametrize("how", ["changed", "added", "removed"])
def test_hsm_signature_verifies_with_model_signing(modelseal, reference, token, tmp_path, obj, how):
    model = build_model(tmp_path, "nested")
    sig, pub = tmp_path / "model.sig", tmp_path / "pub.pem"
    outputs = []
    outputs.append(expect_rc(modelseal("pubkey", token.uri(obj), "-o", pub), 0))
    outputs.append(expect_rc(modelseal("sign", model, "--key", token.uri(obj), "-o", sig), 0))
    outputs.append(expect_rc(reference.verify_key(model, sig, pub), 0))
    tamper(model, how)
    proc = reference.verify_key(model, sig, pub)
    assert proc.returncode != 0, "model_signing accepted a tampered model"
    outputs.append(expect_rc(modelseal("verify", model, "--signature", sig, "--key", pub), 1))
    pin = token.pin()
    for p in outputs:
        assert pin not in p.stdout and pin not in p.stderr and pin not in " ".join(map(str, p.args))
