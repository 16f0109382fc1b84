"""Verify on load of sealed models under a policy, judged exactly as unseal judges them.

A sealed model has two stages (docs/policy.md §Sealed models): the rule's threshold counts the
distinct signers of the outer signatures (ENC.sig and ENC.sig.jsonl, where a co-signed seal and
endorse write them), and the inner signature (modelseal.sig, or a co-signed seal's
modelseal.sig.jsonl) needs one signer of the rule. A rule's deny_formats judges the plaintext
files' formats told from bytes the load verified (decrypted in memory), never from disk.
"""

from __future__ import annotations

import pathlib
import pickle

import numpy
import pytest
from safetensors.numpy import load_file

import modelseal
from test_open_model_policy import setup  # noqa: F401 (the fixture: keys, recipient, policy)

NAME = "model.safetensors"


def seal(setup, signers, model_name="prod/llm", endorsers=(), model=None, out="enc"):
    """Seals the model with `signers` (one key, or a co-signed seal) to `out`-SIGNERS, then
    endorses it with `endorsers`; returns the encrypted model."""
    default, keys, secret, _ = setup
    model = model or default
    enc = model.parent / f"{out}-{'-'.join(signers)}"
    key = keys[signers[0]] if len(signers) == 1 else [keys[s] for s in signers]
    modelseal.seal(model, enc, key, [f"{secret}.pub"], model_name=model_name)
    for endorser in endorsers:
        modelseal.endorse(enc, key=keys[endorser])
    return enc


def assert_loads(opened, model):
    tensors = opened.load_safetensors(NAME)
    for key, array in load_file(str(model / NAME)).items():
        assert numpy.array_equal(tensors[key], array)


def test_a_co_signed_seal_opens_under_a_two_of_two_rule(setup):
    model, _, secret, policy = setup
    enc = seal(setup, ["release", "ci"])
    assert (enc / "modelseal.envelope").exists() and pathlib.Path(f"{enc}.sig.jsonl").exists()
    opened = modelseal.open_model(enc, policy=policy, decryption_key=secret)
    outer, inner = opened.policy_decisions
    assert outer["allowed"] and outer["stage"] == "encrypted model", outer
    assert sorted(outer["counted"]) == ["ci", "release"], outer
    assert inner["allowed"] and inner["stage"] == "decrypted model", inner
    assert inner["model_name"] == "prod/llm"
    assert_loads(opened, model)


def test_one_signer_on_the_inner_signature_suffices_as_in_unseal(setup):
    # Sealed by release, endorsed by ci: the outer signatures meet 2 of 2, the inner one is
    # release's alone. unseal allows it; so does the load (before, the inner signature was held
    # to the full threshold and the load refused what unseal allows).
    model, _, secret, policy = setup
    enc = seal(setup, ["release"], endorsers=["ci"])
    opened = modelseal.open_model(enc, policy=policy, decryption_key=secret)
    outer, inner = opened.policy_decisions
    assert sorted(outer["counted"]) == ["ci", "release"], outer
    assert inner["signers"] == ["release"] and inner["counted"] == ["release"], inner
    assert_loads(opened, model)
    out = model.parent / "unsealed"
    modelseal.unseal(enc, out, key=secret, policy=policy)


def test_an_inner_signature_from_outside_the_rule_is_refused(setup):
    # The plaintext is signed only by outsider; release and ci co-sign the ciphertext.
    _, _, secret, policy = setup
    enc = seal(setup, ["outsider"], endorsers=["release", "ci"])
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(enc, policy=policy, decryption_key=secret)
    message = str(raised.value)
    assert 'decrypted model "prod/llm" denied' in message, message
    assert "from none of the rule's signers" in message, message
    assert raised.value.result["stage"] == "decrypted model"


def test_a_single_outer_signer_is_refused_under_two_of_two(setup):
    _, _, secret, policy = setup
    enc = seal(setup, ["release"])
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(enc, policy=policy, decryption_key=secret)
    message = str(raised.value)
    assert 'encrypted model "prod/llm" denied' in message, message
    assert "1 of the required 2 signers verified" in message and "missing: ci" in message, message
    # The co-signed seal's claims file alone (one of its two lines) counts both signers; named
    # explicitly, the single ENC.sig does not.
    cosigned = seal(setup, ["release", "ci"])
    with pytest.raises(modelseal.VerificationError, match="missing: "):
        modelseal.open_model(
            enc, [f"{enc}.sig"], policy=policy, decryption_key=secret
        )
    opened = modelseal.open_model(
        cosigned, [f"{cosigned}.sig.jsonl"], policy=policy, decryption_key=secret
    )
    assert len(opened.policy_decisions) == 2


def test_a_co_signed_seal_opens_under_a_key_trust(setup):
    # Not under a policy: the loader reads modelseal.sig.jsonl inside and ENC.sig.jsonl beside.
    model, keys, secret, _ = setup
    enc = seal(setup, ["release", "ci"])
    assert not pathlib.Path(f"{enc}.sig").exists()
    for signer in ["release", "ci"]:
        opened = modelseal.open_model(
            enc, key=keys[signer].with_suffix(".pub.pem"), decryption_key=secret
        )
        assert_loads(opened, model)
        lazy = opened.safe_open(NAME)
        assert numpy.array_equal(lazy.get_tensor("embed"), load_file(str(model / NAME))["embed"])
    with pytest.raises(modelseal.VerificationError):
        modelseal.open_model(enc, key=keys["outsider"].with_suffix(".pub.pem"), decryption_key=secret)


def with_pickle(setup) -> pathlib.Path:
    """The model with a (harmless) pickle beside its safetensors file."""
    model = setup[0]
    (model / "extra.pkl").write_bytes(pickle.dumps({"step": 3}, protocol=2))
    return model


def deny_pickle(policy: pathlib.Path) -> None:
    policy.write_text(policy.read_text().replace("version = 1\n", 'version = 1\ndeny_formats = ["pickle"]\n'))


def test_deny_formats_judges_a_sealed_models_plaintext_in_memory(setup):
    _, _, secret, policy = setup
    deny_pickle(policy)
    clean = seal(setup, ["release", "ci"])
    opened = modelseal.open_model(clean, policy=policy, decryption_key=secret)
    outer, inner = opened.policy_decisions
    assert outer["formats"] == [] and [f["format"] for f in inner["formats"]] == ["safetensors"], inner
    # A pickle inside the encrypted model: told from its decrypted, verified bytes.
    dirty = seal(setup, ["release", "ci"], model=with_pickle(setup), out="dirty")
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(dirty, policy=policy, decryption_key=secret)
    message = str(raised.value)
    assert 'decrypted model "prod/llm" denied' in message, message
    assert "extra.pkl: format pickle is denied by the policy's deny_formats" in message, message


@pytest.mark.parametrize("shards", [False, True], ids=["files", "shards"])
def test_deny_formats_judges_an_encrypted_models_plaintext_in_memory(setup, shards):
    model, keys, secret, policy = setup
    deny_pickle(policy)
    # Encrypted by `encrypt`, the envelope's (signed) name is the directory's: "model".
    policy.write_text(policy.read_text() + '[[models]]\nname = "model"\nrequire = ["release"]\n')
    modelseal.sign(model, keys["release"], shards=shards)
    clean = model.parent / "clean.enc"
    modelseal.encrypt(model, clean, [f"{secret}.pub"])
    opened = modelseal.open_model(
        clean, f"{model}.sig", policy=policy, decryption_key=secret
    )
    [decision] = opened.policy_decisions
    assert [f["format"] for f in decision["formats"]] == ["safetensors"], decision
    assert_loads(opened, model)

    with_pickle(setup)
    modelseal.sign(model, keys["release"], shards=shards, force=True)
    dirty = model.parent / "dirty.enc"
    modelseal.encrypt(model, dirty, [f"{secret}.pub"])
    with pytest.raises(modelseal.VerificationError, match="extra.pkl: format pickle is denied"):
        modelseal.open_model(dirty, f"{model}.sig", policy=policy, decryption_key=secret)


@pytest.mark.parametrize("shards", [False, True], ids=["files", "shards"])
def test_deny_formats_of_a_plaintext_model_come_from_verified_bytes(setup, shards):
    model, keys, _, policy = setup
    deny_pickle(policy)
    modelseal.sign(model, keys["release"], shards=shards)
    opened = modelseal.open_model(model, policy=policy, model_name="dev/llm")
    [decision] = opened.policy_decisions
    assert [f["format"] for f in decision["formats"]] == ["safetensors"], decision
    with_pickle(setup)
    modelseal.sign(model, keys["release"], shards=shards, force=True)
    with pytest.raises(modelseal.VerificationError, match="extra.pkl: format pickle is denied"):
        modelseal.open_model(model, policy=policy, model_name="dev/llm")
    # A file changed after signing fails as a read does: not judged from its new bytes.
    (model / "extra.pkl").write_bytes(b"plain text now, not a pickle")
    with pytest.raises(modelseal.VerificationError) as raised:
        modelseal.open_model(model, policy=policy, model_name="dev/llm")
    assert "extra.pkl" in str(raised.value) and "denied by the policy" not in str(raised.value)


def test_deny_formats_under_files_does_not_hold_a_file_in_memory(setup):
    # Under files, telling the formats reads each file once, verified, keeping only the first
    # and last bytes detection looks at: opening a model with a 96 MiB file grows the process
    # by far less than the file (before, each file was held whole while its format was told).
    # The open releases the GIL, so a thread samples the resident size while it runs.
    import os
    import threading

    model, keys, _, policy = setup
    deny_pickle(policy)
    (model / "big.bin").write_bytes(numpy.random.default_rng(3).bytes(96 << 20))
    modelseal.sign(model, keys["release"])
    page = os.sysconf("SC_PAGE_SIZE")

    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    base = resident()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident())
            done.wait(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        opened = modelseal.open_model(model, policy=policy, model_name="dev/llm")
    finally:
        done.set()
        sampler.join()
    [decision] = opened.policy_decisions
    assert [f["format"] for f in decision["formats"]] == ["safetensors"], decision
    grown = (peak[0] - base) >> 20
    assert grown < 32, f"opening grew the process by {grown} MiB while it told the formats"
