"""Envelope encryption from Python: encrypt / decrypt / rewrap / open, against a wheel built by
maturin (see scripts/test.sh). Expected plaintext always comes from the files the test wrote."""

from __future__ import annotations

import io
import os
import pathlib
import stat
import threading
import time

import pytest

import modelseal


def make_model(root: pathlib.Path) -> pathlib.Path:
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(200_000))
    (model / "config.json").write_text('{"layers": 2}')
    (model / "sub" / "tokenizer.txt").write_text("hello world\n")
    (model / "empty").write_bytes(b"")
    return model


def files_of(root: pathlib.Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(params=["aes256-kek", "x25519", "rsa3072"])
def key(request, tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, str]:
    """(recipient reference, private key, key id) for each encryption key type."""
    secret = tmp_path / f"{request.param}.key"
    key_id = modelseal.keygen(request.param, secret)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    recipient = secret if request.param == "aes256-kek" else pathlib.Path(f"{secret}.pub")
    return recipient, secret, key_id


def test_directory_and_file_round_trip(tmp_path, key):
    recipient, secret, key_id = key
    model = make_model(tmp_path)
    result = modelseal.encrypt(model, tmp_path / "enc", [recipient], chunk_size=4096)
    assert isinstance(result, modelseal.EncryptResult)
    assert result.files == 4 and result.bytes == 200_000 + 13 + 12
    assert result.recipients[0][1] == key_id
    assert (tmp_path / "enc" / "modelseal.envelope").is_file()
    back = modelseal.decrypt(str(tmp_path / "enc"), tmp_path / "dec", secret)
    assert isinstance(back, modelseal.DecryptResult)
    assert back.recipient[1] == key_id and back.body_digest == result.body_digest
    assert files_of(tmp_path / "dec") == files_of(model)

    single = tmp_path / "w.mseal"
    modelseal.encrypt(model / "weights.bin", single, recipient)  # one reference, not a list
    modelseal.decrypt(single, tmp_path / "w.bin", secret)
    assert (tmp_path / "w.bin").read_bytes() == (model / "weights.bin").read_bytes()


def test_wrong_key_and_tampering_raise_decryption_error_and_write_nothing(tmp_path):
    model = make_model(tmp_path)
    good = tmp_path / "good.hex"
    bad = tmp_path / "bad.hex"
    modelseal.keygen("aes256-kek", good)
    modelseal.keygen("aes256-kek", bad)
    enc = tmp_path / "enc"
    modelseal.encrypt(model, enc, [good], chunk_size=4096)
    out = tmp_path / "out"
    with pytest.raises(modelseal.DecryptionError, match="not a recipient"):
        modelseal.decrypt(enc, out, bad)
    assert not out.exists()
    data = bytearray((enc / "weights.bin").read_bytes())
    data[-5] ^= 1
    (enc / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(modelseal.DecryptionError, match="weights.bin"):
        modelseal.decrypt(enc, out, good)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "modelseal-tmp" in p.name] == []
    assert issubclass(modelseal.DecryptionError, modelseal.Error)


def test_malformed_input_and_key_problems(tmp_path):
    kek = tmp_path / "k.hex"
    modelseal.keygen("aes256-kek", kek)
    for name, content in [("empty", b""), ("garbage", os.urandom(1000)), ("magic", b"\x89MSEAL\r\n\x00\x07" + bytes(40))]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(modelseal.FormatError):
            modelseal.decrypt(tmp_path / name, tmp_path / f"{name}.out", kek)
        assert not (tmp_path / f"{name}.out").exists()
    model = make_model(tmp_path)
    with pytest.raises(modelseal.KeyAccessError):
        modelseal.encrypt(model, tmp_path / "x", [tmp_path / "missing.pem"])
    with pytest.raises(modelseal.KeyAccessError):
        modelseal.encrypt(model, tmp_path / "x", ["pkcs11:token=t;object=o"])
    pair = tmp_path / "x.pem"
    modelseal.keygen("x25519", pair, tmp_path / "x.pub")
    modelseal.encrypt(model, tmp_path / "enc", [tmp_path / "x.pub"])
    with pytest.raises(modelseal.KeyAccessError, match="public key"):
        modelseal.decrypt(tmp_path / "enc", tmp_path / "out", tmp_path / "x.pub")
    os.chmod(kek, 0o644)
    with pytest.raises(modelseal.KeyAccessError, match="permissions 644"):
        modelseal.encrypt(model, tmp_path / "y", [kek])


def test_force(tmp_path):
    model = make_model(tmp_path)
    kek = tmp_path / "k.hex"
    modelseal.keygen("aes256-kek", kek)
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    with pytest.raises(modelseal.Error, match="already exists"):
        modelseal.encrypt(model, target, [kek])
    assert target.read_bytes() == b"keep"
    modelseal.encrypt(model, target, [kek], force=True)
    out = tmp_path / "out"
    out.write_bytes(b"keep")
    with pytest.raises(modelseal.Error, match="already exists"):
        modelseal.decrypt(target, out, kek)
    modelseal.decrypt(target, out, kek, force=True)
    assert files_of(out) == files_of(model)


def test_rewrap_add_then_remove(tmp_path):
    model = make_model(tmp_path)
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a_id = modelseal.keygen("x25519", a)
    b_id = modelseal.keygen("rsa3072", b)
    enc = tmp_path / "enc"
    modelseal.encrypt(model, enc, [f"{a}.pub"])
    recipients = modelseal.rewrap(enc, a, add=[f"{b}.pub"], remove=a_id)
    assert recipients == [("rsa-oaep", b_id)]
    with pytest.raises(modelseal.DecryptionError):
        modelseal.decrypt(enc, tmp_path / "old", a)
    modelseal.decrypt(enc, tmp_path / "new", b)
    assert files_of(tmp_path / "new") == files_of(model)
    with pytest.raises(modelseal.Error, match="not a recipient"):
        modelseal.rewrap(enc, b, remove=[a_id])
    with pytest.raises(ValueError):
        modelseal.rewrap(enc, b)


def test_open_reads_only_authenticated_bytes_and_seeks(tmp_path):
    model = make_model(tmp_path)
    kek = tmp_path / "k.hex"
    modelseal.keygen("aes256-kek", kek)
    enc = tmp_path / "enc"
    modelseal.encrypt(model, enc, [kek], chunk_size=4096)
    single = tmp_path / "w.mseal"
    modelseal.encrypt(model / "weights.bin", single, [kek], chunk_size=4096)
    expected = (model / "weights.bin").read_bytes()
    for path in [enc / "weights.bin", single]:
        with modelseal.open(path, kek) as f:
            assert f.readable() and f.seekable() and not f.writable()
            assert f.read(10) == expected[:10]
            f.seek(123_456)
            assert f.tell() == 123_456
            assert f.read(5000) == expected[123_456:128_456]
            f.seek(-100, io.SEEK_END)
            assert f.read() == expected[-100:]
            f.seek(0)
            buf = bytearray(4097)
            assert f.readinto(buf) == 4097 and bytes(buf) == expected[:4097]
            f.seek(0)
            assert f.read() == expected
            assert f.read(10) == b""
        assert f.closed
        with pytest.raises(ValueError):
            f.read(1)
    with modelseal.open(enc / "sub" / "tokenizer.txt", kek) as f:
        assert io.TextIOWrapper(f, encoding="utf-8").read() == "hello world\n"
    with modelseal.open(enc / "empty", kek) as f:
        assert f.read() == b""

    # A damaged chunk: earlier chunks still read, the damaged one raises, never returns bytes.
    data = bytearray(single.read_bytes())
    data[-100] ^= 1
    single.write_bytes(bytes(data))
    with modelseal.open(single, kek) as f:
        assert f.read(4096) == expected[:4096]
        with pytest.raises(modelseal.DecryptionError, match="chunk"):
            f.seek(len(expected) - 10)
            f.read(10)
    other = tmp_path / "other.hex"
    modelseal.keygen("aes256-kek", other)
    with pytest.raises(modelseal.DecryptionError):
        modelseal.open(enc / "weights.bin", other)
    with pytest.raises(modelseal.FormatError):
        modelseal.open(model / "weights.bin", kek)


def test_decrypt_releases_the_gil(tmp_path):
    model = tmp_path / "big"
    model.mkdir()
    for i in range(4):
        (model / f"part-{i}.bin").write_bytes(os.urandom(16 << 20))
    kek = tmp_path / "k.hex"
    modelseal.keygen("aes256-kek", kek)
    modelseal.encrypt(model, tmp_path / "enc", [kek])
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        modelseal.decrypt(tmp_path / "enc", tmp_path / "out", kek)
    finally:
        done.set()
        t.join()
    assert ticks > 5, "another Python thread ran while decrypting"
