"""Lazy loading from a tensor-aligned shards signature reads less than twice the tensor.

`modelseal.sign(..., shards=True, tensor_aligned=True)` picks the shard size from the tensors'
sizes; `safe_open(...).get_tensor(k)` then reads (and verifies) only the shards the tensor
overlaps. The bound is checked on the kernel's count of bytes this process read (rchar in
/proc/self/io), not on timing: plaintext, and encrypted (ciphertext chunks and their tags).
"""

from __future__ import annotations

import json
import pathlib

import numpy
import pytest
from safetensors.numpy import load_file, save_file

import modelseal

MIB = 1 << 20
NAME = "model.safetensors"


def bytes_read() -> int:
    for line in pathlib.Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no rchar")


@pytest.fixture()
def model(tmp_path: pathlib.Path):
    """A model whose smallest tensor of 2 MiB or more is just over 4 MiB (shards of 2 MiB)."""
    model = tmp_path / "model"
    model.mkdir()
    rng = numpy.random.default_rng(3)
    save_file(
        {
            "bias": numpy.arange(4, dtype=numpy.int32),
            "a": rng.integers(0, 255, size=4 * MIB + 3, dtype=numpy.uint8),
            "big": rng.integers(0, 255, size=9 * MIB, dtype=numpy.uint8),
            "z": rng.standard_normal(MIB, dtype=numpy.float32),  # 4 MiB
        },
        str(model / NAME),
    )
    private, public = tmp_path / "key.pem", tmp_path / "key.pub.pem"
    modelseal.keygen("ec-p256", private, public)
    signature = tmp_path / "model.sig"
    modelseal.sign(model, private, signature, shards=True, tensor_aligned=True)
    return model, signature, public


def shard_size(signature: pathlib.Path) -> int:
    import base64

    payload = json.loads(signature.read_text())["dsseEnvelope"]["payload"]
    return json.loads(base64.b64decode(payload))["predicate"]["serialization"]["shard_size"]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
def test_one_tensor_reads_less_than_twice_its_bytes(tmp_path, model, encrypted):
    model, signature, public = model
    assert shard_size(signature) == 2 * MIB
    expected = load_file(str(model / NAME))
    options = {}
    if encrypted:
        secret = tmp_path / "x25519.key"
        modelseal.keygen("x25519", secret)
        enc = tmp_path / "enc"
        modelseal.encrypt(model, enc, [f"{secret}.pub"])
        model, options = enc, {"decryption_key": secret}
    with modelseal.open_model(model, signature, key=public, **options).safe_open(NAME) as lazy:
        for key in ["z", "a"]:
            before = bytes_read()
            tensor = lazy.get_tensor(key)
            read = bytes_read() - before
            assert numpy.array_equal(tensor, expected[key])
            assert 0 < read <= 2 * tensor.nbytes, (key, read, tensor.nbytes)


def test_tensor_aligned_needs_shards_and_safetensors(tmp_path, model):
    model, _, _ = model
    key = tmp_path / "key.pem"
    with pytest.raises(modelseal.Error, match="needs shards=True"):
        modelseal.sign(model, key, tmp_path / "x.sig", tensor_aligned=True)
    with pytest.raises(modelseal.Error, match="needs shards=True"):
        modelseal.sign(model, key, tmp_path / "x.sig", shards=True, shard_size=MIB, tensor_aligned=True)
    (model / NAME).unlink()
    (model / "config.json").write_text("{}")
    with pytest.raises(modelseal.Error, match="no .safetensors file"):
        modelseal.sign(model, key, tmp_path / "x.sig", shards=True, tensor_aligned=True)
