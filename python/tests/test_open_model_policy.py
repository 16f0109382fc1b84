"""Verify on load under a trust policy: open_model(..., policy=, model_name=).

The policy judges the signature pinned for loading (plaintext: its signers against the rule for
the model name; sealed: the outer signature under the envelope's signed name, then the inner one,
as unseal does). A denial raises VerificationError before any tensor is returned, naming the rule
and the reason.
"""

from __future__ import annotations

import pathlib

import numpy
import pytest
from safetensors.numpy import load_file

import modelseal
from test_open_model import make_model

NAME = "model.safetensors"


@pytest.fixture()
def setup(tmp_path: pathlib.Path):
    """A model, signing keys ("release" and "ci" trusted by the policy, "outsider" trusted but
    required by no rule, "other" not trusted), an X25519 recipient, and a policy: prod/* needs
    release and ci (2 of 2), dev/** release alone."""
    keys = {}
    for name in ["release", "ci", "outsider", "other"]:
        private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
        modelseal.keygen("ec-p256", private, public)
        keys[name] = private
    secret = tmp_path / "x25519.key"
    modelseal.keygen("x25519", secret)
    policy = tmp_path / "trust.toml"
    policy.write_text(
        """
version = 1
[signers.release]
key = "release.pub.pem"
[signers.ci]
key = "ci.pub.pem"
[signers.outsider]
key = "outsider.pub.pem"
[[models]]
name = "prod/*"
require = ["release", "ci"]
threshold = 2
[[models]]
name = "dev/**"
require = ["release"]
"""
    )
    policy.chmod(0o600)
    return make_model(tmp_path), keys, secret, policy


def test_a_plaintext_model_loads_when_the_policy_allows_it(setup):
    model, keys, _, policy = setup
    modelseal.sign(model, keys["release"])
    opened = modelseal.open_model(model, policy=modelseal.Policy.load(policy), model_name="dev/llm")
    [decision] = opened.policy_decisions
    assert decision["allowed"] and decision["signers"] == ["release"]
    assert decision["rule"]["name"] == "dev/**" and decision["model_name"] == "dev/llm"
    tensors = opened.load_safetensors(NAME)
    for key, array in load_file(str(model / NAME)).items():
        assert numpy.array_equal(tensors[key], array)


@pytest.mark.parametrize(
    "signer, name, reason",
    [
        ("release", "prod/llm", 'rule models[0] "prod/*": 1 of the required 2 signers verified'),
        ("other", "dev/llm", "not signed by any signer of the policy"),
        ("release", "other/llm", 'no [[models]] rule covers model name "other/llm"'),
    ],
    ids=["threshold", "untrusted-signer", "no-rule"],
)
def test_a_plaintext_model_the_policy_denies_raises_naming_rule_and_reason(setup, signer, name, reason):
    model, keys, _, policy = setup
    modelseal.sign(model, keys[signer])
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(model, policy=policy, model_name=name)
    message = str(raised.value)
    assert "denied by the policy" in message and reason in message, message
    assert raised.value.result["allowed"] is False
    assert any(reason in r for r in raised.value.result["reasons"])


def sealed(setup, model_name):
    model, keys, secret, policy = setup
    enc = model.parent / "enc"
    modelseal.seal(model, enc, keys["release"], [f"{secret}.pub"], model_name=model_name)
    return enc, secret, policy


def test_a_sealed_model_loads_when_the_policy_allows_both_signatures(setup):
    enc, secret, policy = sealed(setup, "dev/vision/llm")
    opened = modelseal.open_model(enc, policy=policy, decryption_key=secret)
    outer, inner = opened.policy_decisions
    assert outer["signed_name"] == "dev/vision/llm" and outer["model_name"] == "dev/vision/llm"
    assert inner["model_name"] == "dev/vision/llm" and inner["signers"] == ["release"]
    tensors = opened.load_safetensors(NAME)
    for key, array in load_file(str(setup[0] / NAME)).items():
        assert numpy.array_equal(tensors[key], array)


def test_a_sealed_model_binds_its_signed_name_and_is_judged_under_it(setup):
    # Sealed as prod/llm: its rule needs two signers, and a looser caller's name is refused.
    enc, secret, policy = sealed(setup, "prod/llm")
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(enc, policy=policy, decryption_key=secret)
    assert 'encrypted model "prod/llm" denied' in str(raised.value)
    assert 'rule models[0] "prod/*": 1 of the required 2' in str(raised.value)
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(enc, policy=policy, decryption_key=secret, model_name="dev/llm")
    assert 'model name "dev/llm" is not the signed name "prod/llm"' in str(raised.value)
    # The policy may let callers choose the name.
    policy.write_text(policy.read_text().replace("version = 1\n", "version = 1\nallow_name_override = true\n"))
    opened = modelseal.open_model(enc, policy=policy, decryption_key=secret, model_name="dev/llm")
    assert [d["model_name"] for d in opened.policy_decisions] == ["dev/llm", "dev/llm"]


def test_a_sealed_model_signed_by_an_untrusted_key_is_denied(setup):
    model, keys, secret, policy = setup
    enc = model.parent / "enc"
    modelseal.seal(model, enc, keys["other"], [f"{secret}.pub"], model_name="dev/llm")
    with pytest.raises(modelseal.VerificationError, match="not signed by any signer of the policy"):
        modelseal.open_model(enc, policy=policy, decryption_key=secret)


def test_policy_is_the_trust(setup):
    model, keys, _, policy = setup
    modelseal.sign(model, keys["release"])
    with pytest.raises(modelseal.Error, match="policy= decides trust itself"):
        modelseal.open_model(model, policy=policy, key=keys["release"])
    with pytest.raises(modelseal.Error, match="model_name= selects a policy rule"):
        modelseal.open_model(model, key=keys["release"], model_name="dev/llm")
