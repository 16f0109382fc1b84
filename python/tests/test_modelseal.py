"""Tests of the Python package against a wheel built by maturin (see scripts/test.sh)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import threading

import pytest

import modelseal


def make_model(root: pathlib.Path) -> pathlib.Path:
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (model / "config.json").write_text('{"layers": 2}')
    (model / "sub" / "tokenizer.txt").write_text("hello world\n")
    (model / "empty").write_bytes(b"")
    return model


@pytest.fixture()
def keypair(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    private = tmp_path / "key.pem"
    public = tmp_path / "key.pub.pem"
    modelseal.keygen("ec-p256", private, public)
    return private, public


def bundle_subject_digest(signature: pathlib.Path) -> str:
    import base64

    bundle = json.loads(signature.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return statement["subject"][0]["digest"]["sha256"]


def test_sign_then_verify_with_pathlike_and_str(tmp_path, keypair):
    private, public = keypair
    model = make_model(tmp_path)
    sig = modelseal.sign(model, str(private))
    assert sig == tmp_path / "model.sig"
    result = modelseal.verify(str(model), sig, key=public)
    assert isinstance(result, modelseal.VerificationResult)
    assert result.resources == 4
    assert result.method == "files" and result.hash_type == "sha256"
    assert result.root_digest == bundle_subject_digest(sig)
    pem = public.read_text()
    assert result.key_hint == hashlib.sha256(pem.encode()).hexdigest()
    assert modelseal.public_key(private) == pem


@pytest.mark.parametrize("hash_name", ["sha256", "blake2b", "blake3"])
def test_hash_choices_round_trip(tmp_path, keypair, hash_name):
    private, public = keypair
    model = make_model(tmp_path)
    sig = modelseal.sign(model, private, tmp_path / "m.sig", hash=hash_name)
    assert modelseal.verify(model, sig, key=public).hash_type == hash_name


def test_shards_round_trip(tmp_path, keypair):
    private, public = keypair
    model = make_model(tmp_path)
    sig = modelseal.sign(model, private, tmp_path / "m.sig", shards=True, shard_size=1000)
    result = modelseal.verify(model, sig, key=public)
    assert result.method == "shards" and result.shard_size == 1000
    # 16384-byte weights → 17 shards; config (13 B) and tokenizer (12 B) one each; empty file none.
    assert result.resources == 17 + 1 + 1


def test_tampered_file_raises_verification_error(tmp_path, keypair):
    private, public = keypair
    model = make_model(tmp_path)
    sig = modelseal.sign(model, private)
    data = bytearray((model / "weights.bin").read_bytes())
    data[100] ^= 1
    (model / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(modelseal.VerificationError, match="weights.bin"):
        modelseal.verify(model, sig, key=public)


def test_extra_file_fails_unless_tolerated(tmp_path, keypair):
    private, public = keypair
    model = make_model(tmp_path)
    sig = modelseal.sign(model, private)
    (model / "new.txt").write_text("added later")
    with pytest.raises(modelseal.VerificationError, match="new.txt"):
        modelseal.verify(model, sig, key=public)
    assert modelseal.verify(model, sig, key=public, ignore_unsigned_files=True).resources == 4


def test_wrong_key_raises_verification_error(tmp_path, keypair):
    private, _ = keypair
    model = make_model(tmp_path)
    sig = modelseal.sign(model, private)
    other = tmp_path / "other.pub.pem"
    modelseal.keygen("ec-p384", tmp_path / "other.pem", other)
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(model, sig, key=other)


def test_malformed_signature_raises_format_error(tmp_path, keypair):
    _, public = keypair
    model = make_model(tmp_path)
    sig = tmp_path / "bad.sig"
    sig.write_text("{not json")
    with pytest.raises(modelseal.FormatError):
        modelseal.verify(model, sig, key=public)


def test_unreadable_key_raises_key_access_error(tmp_path):
    model = make_model(tmp_path)
    with pytest.raises(modelseal.KeyAccessError):
        modelseal.sign(model, tmp_path / "missing.pem")


def test_exception_hierarchy():
    for cls in (
        modelseal.VerificationError,
        modelseal.DecryptionError,
        modelseal.KeyAccessError,
        modelseal.FormatError,
    ):
        assert issubclass(cls, modelseal.Error)
    assert issubclass(modelseal.Error, Exception)


def test_keygen_refuses_to_overwrite_and_writes_0600(tmp_path):
    private = tmp_path / "k.pem"
    modelseal.keygen("ec-p384", private)
    assert os.stat(private).st_mode & 0o777 == 0o600
    before = private.read_bytes()
    with pytest.raises(modelseal.KeyAccessError, match="already exists"):
        modelseal.keygen("ec-p384", private)
    assert private.read_bytes() == before
    modelseal.keygen("ec-p384", private, force=True)
    assert private.read_bytes() != before


def test_gil_is_released_while_hashing(tmp_path, keypair):
    private, _ = keypair
    model = tmp_path / "big"
    model.mkdir()
    block = os.urandom(1 << 20)
    with open(model / "weights.bin", "wb") as f:
        for _ in range(256):
            f.write(block)
    started, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        started.set()
        try:
            modelseal.sign(model, private, tmp_path / "big.sig", hash="blake2b")
        except BaseException as e:  # re-raised below, in the test's thread
            failure.append(e)
        finally:
            done.set()  # also when sign raises: the loop below always ends

    thread = threading.Thread(target=work)
    thread.start()
    started.wait()
    ticks = 0
    # Counts how often this thread runs while the other is inside sign (1 ms naps). Had sign held
    # the GIL, this thread would be frozen for the whole call and count at most a tick or two;
    # hashing 256 MiB with BLAKE2b takes hundreds of such naps. No bound on time: it counts
    # turns, whatever the machine's speed (a 10-minute cap only keeps a hung sign from hanging
    # the suite).
    for _ in range(600_000):
        if done.wait(0.001):
            break
        ticks += 1
    thread.join(timeout=60)
    assert done.is_set(), "sign did not return within 10 minutes"
    if failure:
        raise failure[0]
    assert (tmp_path / "big.sig").is_file()
    assert ticks >= 10, f"this thread ran only {ticks} times while sign hashed 256 MiB"
