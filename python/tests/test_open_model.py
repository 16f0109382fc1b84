"""Verify on load: modelseal.open_model(...).load_safetensors / read / open.

Expected tensors come from the reference loader, safetensors.numpy.load_file, on the same file;
every tamper case must raise before any tensor or byte is returned.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
import subprocess
import sys

import numpy
import pytest
from safetensors.numpy import load_file, save_file

import modelseal


@pytest.fixture()
def keypair(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    private = tmp_path / "key.pem"
    public = tmp_path / "key.pub.pem"
    modelseal.keygen("ec-p256", private, public)
    return private, public


def make_model(root: pathlib.Path) -> pathlib.Path:
    model = root / "model"
    model.mkdir()
    rng = numpy.random.default_rng(7)
    save_file(
        {
            "embed": rng.standard_normal((64, 32)).astype(numpy.float32),
            "bias": numpy.arange(32, dtype=numpy.int64),
            "bias2": numpy.arange(32, 64, dtype=numpy.int64),
            "mask": rng.integers(0, 2, size=(8, 8)).astype(numpy.bool_),
            "half": rng.standard_normal(100).astype(numpy.float16),
        },
        str(model / "model.safetensors"),
        metadata={"format": "np"},
    )
    (model / "config.json").write_text('{"layers": 2}')
    return model


def signed(tmp_path, keypair, **sign_options):
    private, public = keypair
    model = make_model(tmp_path)
    modelseal.sign(model, private, **sign_options)
    return model, public


@pytest.mark.parametrize(
    "sign_options",
    [{}, {"hash": "blake2b"}, {"hash": "blake3"}, {"shards": True, "shard_size": 1000}],
    ids=["files-sha256", "files-blake2b", "files-blake3", "shards"],
)
def test_load_safetensors_equals_the_reference_loader(tmp_path, keypair, sign_options):
    model, public = signed(tmp_path, keypair, **sign_options)
    opened = modelseal.open_model(model, key=public)
    assert opened.files == ["config.json", "model.safetensors"]
    assert opened.info["root_digest"] == opened.root_digest
    assert opened.info["method"] == ("shards" if "shards" in sign_options else "files")
    tensors = opened.load_safetensors("model.safetensors")
    expected = load_file(str(model / "model.safetensors"))
    assert sorted(tensors) == sorted(expected)
    for name, array in expected.items():
        assert tensors[name].dtype == array.dtype
        assert tensors[name].shape == array.shape
        assert numpy.array_equal(tensors[name], array)
    assert opened.read("config.json") == b'{"layers": 2}'
    assert opened.open("config.json").read() == b'{"layers": 2}'


def test_arrays_share_the_verified_bytes_and_are_read_only(tmp_path, keypair):
    model, public = signed(tmp_path, keypair)
    tensors = modelseal.open_model(model, key=public).load_safetensors("model.safetensors")
    embed = tensors["embed"]
    assert not embed.flags.writeable
    owner = embed
    while isinstance(owner, numpy.ndarray):
        owner = owner.base
    # Every array is a view of one verified bytes object: the file's bytes, not a copy.
    assert type(owner) is bytes
    assert len(owner) == (tmp_path / "model" / "model.safetensors").stat().st_size
    assert all(_root(t) is owner for t in tensors.values())
    assert embed.copy().flags.writeable


def _root(array):
    while isinstance(array, numpy.ndarray):
        array = array.base
    return array


def flip_byte(path: pathlib.Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


def header_len(path: pathlib.Path) -> int:
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def tamper_tensor_byte(model: pathlib.Path) -> None:
    path = model / "model.safetensors"
    flip_byte(path, 8 + header_len(path) + 5)


def tamper_header(model: pathlib.Path) -> None:
    path = model / "model.safetensors"
    data = path.read_bytes()
    n = header_len(path)
    header = data[8 : 8 + n].replace(b'"np"', b'"pt"')
    assert header != data[8 : 8 + n]
    path.write_bytes(data[:8] + header + data[8 + n :])


def swap_tensors(model: pathlib.Path) -> None:
    # Two tensors of the same dtype and shape exchange their data ranges in the header: a valid
    # safetensors file that the reference loader reads without error, with the tensors swapped.
    path = model / "model.safetensors"
    data = path.read_bytes()
    n = header_len(path)
    header = json.loads(data[8 : 8 + n])
    header["bias"]["data_offsets"], header["bias2"]["data_offsets"] = (
        header["bias2"]["data_offsets"],
        header["bias"]["data_offsets"],
    )
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= n
    path.write_bytes(data[:8] + text.ljust(n) + data[8 + n :])
    swapped = load_file(str(path))
    assert numpy.array_equal(swapped["bias"], numpy.arange(32, 64))


def truncate(model: pathlib.Path) -> None:
    path = model / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1])


def extend(model: pathlib.Path) -> None:
    with open(model / "model.safetensors", "ab") as f:
        f.write(b"\0")


TAMPERS = [tamper_tensor_byte, tamper_header, swap_tensors, truncate, extend]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
@pytest.mark.parametrize("shards", [False, True], ids=["files", "shards"])
def test_tampered_file_raises_before_anything_is_returned(tmp_path, keypair, tamper, shards):
    options = {"shards": True, "shard_size": 1000} if shards else {}
    model, public = signed(tmp_path, keypair, **options)
    opened = modelseal.open_model(model, key=public)
    tamper(model)
    with pytest.raises(modelseal.VerificationError, match="model.safetensors"):
        opened.load_safetensors("model.safetensors")
    with pytest.raises(modelseal.VerificationError):
        opened.read("model.safetensors")
    with pytest.raises(modelseal.VerificationError):
        opened.open("model.safetensors")
    # Lazily: reading every tensor meets the change (under shards, in the tensor whose shards it
    # touches; test_safe_open_with_shards_fails_only_for_a_tampered_tensor has the rest).
    with pytest.raises(modelseal.VerificationError):
        with opened.safe_open("model.safetensors") as lazy:
            for name in lazy.keys():
                lazy.get_tensor(name)
    # The untouched file still loads: the failure is the tampered file's, not the model's.
    assert opened.read("config.json") == b'{"layers": 2}'


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_byte_changed_in_any_shard_fails_the_overlapped_read(tmp_path, keypair, where):
    # Shards are read side by side and hashed as they land: a change in a late shard (read in
    # the last round of its lane) fails the load as one in the first does, and nothing is
    # returned.
    model, public = signed(tmp_path, keypair, shards=True, shard_size=1000)
    opened = modelseal.open_model(model, key=public)
    path = model / "model.safetensors"
    data = bytearray(path.read_bytes())
    assert len(data) > 5000  # several shards per lane
    at = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}[where]
    data[at] ^= 1
    path.write_bytes(bytes(data))
    start = at // 1000 * 1000
    with pytest.raises(modelseal.VerificationError, match=f"bytes {start}\\.\\."):
        opened.load_safetensors("model.safetensors")


def test_extra_and_missing_files_fail_at_open(tmp_path, keypair):
    model, public = signed(tmp_path, keypair)
    (model / "extra.bin").write_bytes(b"x")
    with pytest.raises(modelseal.VerificationError, match="extra.bin"):
        modelseal.open_model(model, key=public)
    (model / "extra.bin").unlink()
    (model / "config.json").unlink()
    with pytest.raises(modelseal.VerificationError, match="config.json"):
        modelseal.open_model(model, key=public)


def test_untrusted_signer_fails_at_open(tmp_path, keypair):
    model, _ = signed(tmp_path, keypair)
    other = tmp_path / "other.pem"
    modelseal.keygen("ec-p256", other, tmp_path / "other.pub.pem")
    with pytest.raises(modelseal.VerificationError):
        modelseal.open_model(model, key=tmp_path / "other.pub.pem")


def test_a_name_the_signature_does_not_list_is_refused(tmp_path, keypair):
    model, public = signed(tmp_path, keypair)
    opened = modelseal.open_model(model, key=public)
    with pytest.raises(modelseal.VerificationError, match="nothere"):
        opened.read("nothere")


def test_a_verified_file_that_is_not_safetensors_is_a_format_error(tmp_path, keypair):
    model, public = signed(tmp_path, keypair)
    opened = modelseal.open_model(model, key=public)
    with pytest.raises(modelseal.FormatError, match="config.json"):
        opened.load_safetensors("config.json")


def test_single_file_model_and_explicit_signature(tmp_path, keypair):
    private, public = keypair
    model = make_model(tmp_path) / "model.safetensors"
    sig = tmp_path / "weights.sig"
    modelseal.sign(model, private, sig)
    opened = modelseal.open_model(model, sig, key=public)
    [name] = opened.files
    tensors = opened.load_safetensors(name)
    assert numpy.array_equal(tensors["bias"], load_file(str(model))["bias"])


def test_loading_writes_nothing(tmp_path, keypair):
    model, public = signed(tmp_path, keypair)
    before = sorted(p for p in tmp_path.rglob("*"))
    opened = modelseal.open_model(model, key=public)
    opened.load_safetensors("model.safetensors")
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_the_gil_is_released_while_reading(tmp_path, keypair):
    # A large file read while another Python thread counts: with the GIL held by the read, the
    # counter could not advance until the read returned.
    import threading

    private, public = keypair
    model = tmp_path / "big"
    model.mkdir()
    (model / "blob.bin").write_bytes(os.urandom(1 << 20) * 192)
    modelseal.sign(model, private)
    opened = modelseal.open_model(model, key=public)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)

    thread = threading.Thread(target=count)
    thread.start()
    data = opened.read("blob.bin")
    during = len(ticks)
    done.set()
    thread.join()
    assert len(data) == 192 << 20
    assert during > 100, during


def _bytes_read() -> int:
    """Bytes this process has read through read/pread so far (/proc/self/io `rchar`)."""
    for line in pathlib.Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_safe_open_equals_the_reference_and_reads_only_the_shards_it_needs(tmp_path, keypair):
    from safetensors import safe_open

    model, public = signed(tmp_path, keypair, shards=True, shard_size=1000)
    path = str(model / "model.safetensors")
    size = (model / "model.safetensors").stat().st_size
    with modelseal.open_model(model, key=public).safe_open("model.safetensors") as lazy, \
            safe_open(path, framework="numpy") as reference:
        assert sorted(lazy.keys()) == sorted(reference.keys())
        assert lazy.metadata() == reference.metadata()
        for key in reference.keys():
            before = _bytes_read()
            array = lazy.get_tensor(key)
            read = _bytes_read() - before
            assert numpy.array_equal(array, reference.get_tensor(key))
            # The shards a tensor overlaps: its bytes plus at most one shard on each side.
            assert read <= array.nbytes + 2 * 1000, (key, read, size)
        with pytest.raises(KeyError):
            lazy.get_tensor("nothere")


def test_safe_open_with_shards_fails_only_for_a_tampered_tensor(tmp_path, keypair):
    model, public = signed(tmp_path, keypair, shards=True, shard_size=1000)
    path = model / "model.safetensors"
    data = path.read_bytes()
    n = header_len(path)
    header = json.loads(data[8 : 8 + n])
    del header["__metadata__"]
    base = 8 + n
    last = max(header, key=lambda k: header[k]["data_offsets"][1])
    first = min(header, key=lambda k: header[k]["data_offsets"][0])
    tampered_at = base + header[last]["data_offsets"][1] - 1
    assert base + header[first]["data_offsets"][1] <= tampered_at // 1000 * 1000, "same shard"
    lazy = modelseal.open_model(model, key=public).safe_open("model.safetensors")
    flip_byte(path, tampered_at)
    assert numpy.array_equal(lazy.get_tensor(first), load_file(str(path))[first])
    with pytest.raises(modelseal.VerificationError, match="model.safetensors"):
        lazy.get_tensor(last)


def test_safe_open_with_files_verifies_the_whole_file_first(tmp_path, keypair):
    model, public = signed(tmp_path, keypair)
    opened = modelseal.open_model(model, key=public)
    with opened.safe_open("model.safetensors") as lazy:
        expected = load_file(str(model / "model.safetensors"))
        assert all(numpy.array_equal(lazy.get_tensor(k), expected[k]) for k in expected)
    tamper_tensor_byte(model)
    with pytest.raises(modelseal.VerificationError, match="model.safetensors"):
        opened.safe_open("model.safetensors")


@pytest.mark.parametrize("sign_options", [{}, {"shards": True, "shard_size": 1000}],
                         ids=["files", "shards"])
def test_get_slice_equals_the_reference(tmp_path, keypair, sign_options):
    from safetensors import safe_open

    model, public = signed(tmp_path, keypair, **sign_options)
    path = str(model / "model.safetensors")
    indexes = [slice(3, 9), (slice(None), slice(2, 5)), 0, -1, slice(60, 100), slice(None),
               (slice(1, 4), 7), slice(None, None, 2), (Ellipsis, 1)]
    with modelseal.open_model(model, key=public).safe_open("model.safetensors") as lazy, \
            safe_open(path, framework="numpy") as reference:
        for key in reference.keys():
            ours, theirs = lazy.get_slice(key), reference.get_slice(key)
            assert ours.get_shape() == list(theirs.get_shape())
            assert ours.get_dtype() == theirs.get_dtype()
        embed, expected = lazy.get_slice("embed"), reference.get_tensor("embed")
        for index in indexes:
            assert numpy.array_equal(embed[index], expected[index]), index
        with pytest.raises(IndexError):
            embed[64]
        with pytest.raises(KeyError):
            lazy.get_slice("nothere")


def test_get_slice_reads_only_the_rows_it_returns(tmp_path, keypair):
    model, public = signed(tmp_path, keypair, shards=True, shard_size=1000)
    lazy = modelseal.open_model(model, key=public).safe_open("model.safetensors")
    embed = lazy.get_slice("embed")  # 64 rows of 32 float32: 128 bytes a row
    before = _bytes_read()
    rows = embed[10:14]
    assert rows.shape == (4, 32)
    # 512 bytes of rows: at most the two shards they can straddle.
    assert _bytes_read() - before <= 2 * 1000


def test_a_shard_that_tensors_share_is_read_and_verified_once(tmp_path, keypair):
    model, public = signed(tmp_path, keypair, shards=True, shard_size=1000)
    size = (model / "model.safetensors").stat().st_size
    before = _bytes_read()
    lazy = modelseal.open_model(model, key=public).safe_open("model.safetensors")
    for key in lazy.keys():
        lazy.get_tensor(key)
    # Every shard once (the verified-shard cache), though tensors and the header share shards.
    assert _bytes_read() - before <= size + 4096  # + the signature file
    before = _bytes_read()
    lazy.get_tensor("embed")
    # All cached (64 MiB ceiling): nothing read but /proc/self/io itself (embed spans 9 shards).
    assert _bytes_read() - before < 1000
