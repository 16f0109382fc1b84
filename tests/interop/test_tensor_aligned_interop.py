"""`modelseal sign --shards --tensor-aligned` makes a standard OMS shards signature: its shard
size is chosen from the safetensors tensors' sizes (largest power of two at most half the
smallest tensor of 2 MiB or more, at least 1 MiB), and model-signing 1.1.1 verifies it by
re-sharding the files with that size, with the same root digest.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from interop_helpers import expect_rc, pseudo_bytes, statement, subject_digest

MIB = 1 << 20


def write_safetensors(path: Path, sizes: list[int]) -> None:
    """A safetensors file of U8 tensors of these byte sizes (pseudo-random bytes)."""
    header, at = {"__metadata__": {"format": "np"}}, 0
    for i, size in enumerate(sizes):
        header[f"t{i}"] = {"dtype": "U8", "shape": [size], "data_offsets": [at, at + size]}
        at += size
    raw = json.dumps(header).encode()
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for i, size in enumerate(sizes):
            out.write(pseudo_bytes(f"{path.name}/t{i}", size))


def test_tensor_aligned_shards_verify_with_reference_api(modelseal, reference, tmp_path):
    private, public = tmp_path / "key.pem", tmp_path / "key.pub.pem"
    expect_rc(modelseal.keygen("ec-p256", private, public), 0)
    model = tmp_path / "model"
    model.mkdir()
    # The smallest tensor that counts is 4 MiB + 3 bytes: shards of 2 MiB. The 16-byte one
    # (under 2 MiB) does not lower it; config.json is sharded like any file.
    write_safetensors(model / "model.safetensors", [16, 4 * MIB + 3, 9 * MIB])
    (model / "config.json").write_text('{"layers": 2}')
    sig = tmp_path / "model.sig"
    expect_rc(modelseal.sign(model, private, sig, "--shards", "--tensor-aligned"), 0)

    serialization = statement(sig)["predicate"]["serialization"]
    assert serialization["method"] == "shards" and serialization["shard_size"] == 2 * MIB
    assert set(serialization) <= {"method", "hash_type", "shard_size", "allow_symlinks", "ignore_paths"}
    ser = {"method": "shards", "hash": "sha256", "shard_size": 2 * MIB}
    verified, digest = reference.api(
        {"op": "verify", "model": model, "signature": sig, "public_key": public,
         "serialization": ser},
        {"op": "digest", "model": model, "serialization": ser},
    )
    assert verified["ok"], f"1.1.1 rejected a tensor-aligned signature: {verified['error']}"
    assert subject_digest(sig) == digest["root_digest"]

    # Without a safetensors file there is nothing to align to: refused, nothing written.
    (model / "model.safetensors").unlink()
    refused = expect_rc(modelseal.sign(model, private, tmp_path / "none.sig", "--shards", "--tensor-aligned"), 2)
    assert "no .safetensors file" in refused.stderr
    assert not (tmp_path / "none.sig").exists()
