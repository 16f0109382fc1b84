"""Verify on load of encrypted and sealed models: open_model(..., decryption_key=KEY).

The expected tensors come from safetensors.numpy.load_file on the plaintext the test wrote. Every
tamper case — of the plaintext (encrypted again with the same recipient key, which anyone holding
a public recipient key can do) or of the ciphertext — must raise before any tensor is returned, for
eager and lazy loading; and no plaintext may reach the file system while an encrypted model loads
(inotify watches every directory the process could write to).
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import struct
import tempfile

import numpy
import pytest
from safetensors.numpy import load_file

import modelseal
from test_open_model import (  # the plaintext tests' model and tampers
    flip_byte,
    make_model,
    swap_tensors,
    tamper_header,
    tamper_tensor_byte,
    truncate,
)

NAME = "model.safetensors"
FAILED = (modelseal.VerificationError, modelseal.DecryptionError)


@pytest.fixture()
def keys(tmp_path: pathlib.Path):
    """(signing key, its public key, encryption key: an X25519 pair, private and public)."""
    private, public = tmp_path / "key.pem", tmp_path / "key.pub.pem"
    modelseal.keygen("ec-p256", private, public)
    secret = tmp_path / "x25519.key"
    modelseal.keygen("x25519", secret)
    return private, public, secret, pathlib.Path(f"{secret}.pub")


class Encrypted:
    """A plaintext model signed then encrypted (kind "encrypted", `modelseal encrypt`), or sealed
    (kind "sealed", `modelseal seal`); `open()` opens it with the decryption key."""

    def __init__(self, tmp_path, keys, kind, sign_options):
        self.private, self.public, self.secret, self.recipient = keys
        self.kind = kind
        self.sign_options = sign_options
        self.model = make_model(tmp_path)
        self.enc = tmp_path / "enc"
        self.signature = tmp_path / "model.sig"
        self.expected = load_file(str(self.model / NAME))
        self.make()

    def make(self):
        """Makes the encrypted model from the plaintext."""
        if self.kind == "sealed":
            modelseal.seal(self.model, self.enc, self.private, [self.recipient])
            self.signature = pathlib.Path(f"{self.enc}.sig")
        else:
            modelseal.sign(self.model, self.private, self.signature, **self.sign_options)
            modelseal.encrypt(self.model, self.enc, [self.recipient], chunk_size=4096)

    def tamper_plaintext(self, tamper):
        """Changes the plaintext with `tamper` and encrypts it again for the same recipient,
        keeping the signatures: what anyone holding the public recipient key can do. A sealed
        model is decrypted first (its inner signature comes along, as it is)."""
        plain = self.model
        if self.kind == "sealed":
            plain = self.enc.parent / "plain"
            modelseal.decrypt(self.enc, plain, self.secret)
        tamper(plain)
        shutil.rmtree(self.enc)
        modelseal.encrypt(plain, self.enc, [self.recipient], chunk_size=4096)

    def open(self):
        return modelseal.open_model(self.enc, self.signature, key=self.public,
                                    decryption_key=self.secret)


KINDS = [("encrypted", {}), ("encrypted", {"shards": True, "shard_size": 1000}), ("sealed", {})]
KIND_IDS = ["encrypted-files", "encrypted-shards", "sealed"]


@pytest.fixture(params=KINDS, ids=KIND_IDS)
def encrypted(request, tmp_path, keys):
    kind, options = request.param
    return Encrypted(tmp_path, keys, kind, options)


def assert_equal(tensors, expected):
    assert sorted(tensors) == sorted(expected)
    for key, array in expected.items():
        assert tensors[key].dtype == array.dtype and tensors[key].shape == array.shape
        assert numpy.array_equal(tensors[key], array), key


def test_encrypted_loads_equal_the_reference_loader_on_the_plaintext(encrypted):
    opened = encrypted.open()
    assert opened.files == ["config.json", NAME]
    assert_equal(opened.load_safetensors(NAME), encrypted.expected)
    assert opened.read("config.json") == b'{"layers": 2}'
    assert opened.open("config.json").read() == b'{"layers": 2}'
    with opened.safe_open(NAME) as lazy:
        assert_equal({k: lazy.get_tensor(k) for k in lazy.keys()}, encrypted.expected)
        assert lazy.metadata() == {"format": "np"}
        embed = lazy.get_slice("embed")
        assert embed.get_shape() == [64, 32] and embed.get_dtype() == "F32"
        assert numpy.array_equal(embed[3:9], encrypted.expected["embed"][3:9])
        assert numpy.array_equal(embed[:, 2:5], encrypted.expected["embed"][:, 2:5])
        assert numpy.array_equal(embed[-1], encrypted.expected["embed"][-1])


# Tampers of the plaintext, encrypted again with the same recipient key.
def extra_file(model: pathlib.Path) -> None:
    (model / "extra.bin").write_bytes(b"x")


def missing_file(model: pathlib.Path) -> None:
    (model / "config.json").unlink()


PLAINTEXT_TAMPERS = [tamper_tensor_byte, tamper_header, swap_tensors, truncate, extra_file,
                     missing_file]


# Tampers of the encrypted model as it is stored.
def changed_ciphertext_chunk(enc: pathlib.Path) -> None:
    flip_byte(enc / NAME, 4096 + 16 + 100)  # in chunk 1


def truncated_ciphertext(enc: pathlib.Path) -> None:
    path = enc / NAME
    path.write_bytes(path.read_bytes()[:-1])


def extra_encrypted_file(enc: pathlib.Path) -> None:
    (enc / "extra.bin").write_bytes(b"x")


def missing_encrypted_file(enc: pathlib.Path) -> None:
    (enc / "config.json").unlink()


CIPHERTEXT_TAMPERS = [changed_ciphertext_chunk, truncated_ciphertext, extra_encrypted_file,
                      missing_encrypted_file]


def load_everything(encrypted, mode, returned):
    """Opens the model and loads every tensor (eagerly, or lazily one by one), appending what is
    returned to `returned`, and raises the first failure."""
    opened = encrypted.open()
    if mode == "eager":
        returned.append(opened.load_safetensors(NAME))
        return
    lazy = opened.safe_open(NAME)
    failure = None
    for key in lazy.keys():
        try:
            returned.append((key, lazy.get_tensor(key)))
        except FAILED as e:
            failure = failure or e
    if failure is not None:
        raise failure


def assert_nothing_unverified(encrypted, mode, returned):
    """Nothing was returned — except, lazily under shards, tensors whose shards are intact, which
    must then be exactly the signed tensors."""
    if mode == "lazy" and encrypted.sign_options.get("shards"):
        for key, array in returned:
            assert numpy.array_equal(array, encrypted.expected[key]), key
    else:
        assert returned == []


@pytest.mark.parametrize("mode", ["eager", "lazy"])
@pytest.mark.parametrize("tamper", PLAINTEXT_TAMPERS, ids=[t.__name__ for t in PLAINTEXT_TAMPERS])
def test_a_tampered_plaintext_encrypted_again_raises_before_any_tensor(encrypted, tamper, mode):
    encrypted.tamper_plaintext(tamper)
    returned: list = []
    with pytest.raises(FAILED):
        load_everything(encrypted, mode, returned)
    assert_nothing_unverified(encrypted, mode, returned)


@pytest.mark.parametrize("mode", ["eager", "lazy"])
@pytest.mark.parametrize("tamper", CIPHERTEXT_TAMPERS, ids=[t.__name__ for t in CIPHERTEXT_TAMPERS])
def test_a_tampered_ciphertext_raises_before_any_tensor(encrypted, tamper, mode):
    tamper(encrypted.enc)
    returned: list = []
    with pytest.raises(FAILED, match="model.safetensors|extra.bin|config.json"):
        load_everything(encrypted, mode, returned)
    assert_nothing_unverified(encrypted, mode, returned)


def test_lazy_loading_under_shards_fails_only_for_tensors_in_a_changed_chunk(tmp_path, keys):
    encrypted = Encrypted(tmp_path, keys, "encrypted", {"shards": True, "shard_size": 1000})
    lazy = encrypted.open().safe_open(NAME)
    changed_ciphertext_chunk(encrypted.enc)  # plaintext bytes 4096..8191
    header = 8 + struct.unpack("<Q", (encrypted.model / NAME).read_bytes()[:8])[0]
    loaded, failed = [], []
    for key in lazy.keys():
        begin, end = lazy._header.tensors[key][3:]
        try:
            array = lazy.get_tensor(key)
        except modelseal.VerificationError as e:
            assert "chunk 1" in str(e)
            failed.append(key)
            continue
        assert numpy.array_equal(array, encrypted.expected[key])
        loaded.append(key)
        # A tensor that loaded lies in shards the changed chunk does not touch.
        first_shard, last_shard = (header + begin) // 1000, (header + end - 1) // 1000
        assert last_shard * 1000 + 1000 <= 4096 or first_shard * 1000 >= 8192, key
    assert failed and loaded


class Inotify:
    """Every creation, write or rename into the watched directories, through Linux inotify
    (ctypes; the standard library has no binding)."""

    MASK = 0x2 | 0x8 | 0x80 | 0x100  # IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE

    def __init__(self, directories):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.names = {}
        for directory in directories:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(directory), self.MASK)
            assert wd >= 0, (directory, os.strerror(ctypes.get_errno()))
            self.names[wd] = directory

    def events(self) -> list[str]:
        out = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            at = 0
            while at < len(data):
                wd, mask, _, length = struct.unpack_from("iIII", data, at)
                name = data[at + 16 : at + 16 + length].rstrip(b"\0").decode()
                out.append(f"{self.names.get(wd)}/{name} (mask {mask:#x})")
                at += 16 + length

    def close(self):
        os.close(self.fd)


def writable_directories(*roots: pathlib.Path) -> list[str]:
    """The directories a loader could write plaintext to: under the test's roots (the model's
    and the encrypted model's directories), the working directory, the temporary directory and
    /dev/shm."""
    dirs = {os.getcwd(), tempfile.gettempdir(), "/dev/shm"}
    for root in roots:
        dirs.add(str(root))
        dirs.update(str(p) for p in root.rglob("*") if p.is_dir())
    return sorted(d for d in dirs if os.path.isdir(d))


def test_no_plaintext_reaches_the_file_system_while_an_encrypted_model_loads(
    encrypted, tmp_path, monkeypatch
):
    # A private temporary directory (TMPDIR is what the loader would use, Rust's and Python's):
    # the shared /tmp also sees other processes' files, which the watch would report.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    watched = writable_directories(tmp_path)
    before = sorted((p, p.stat().st_size) for p in tmp_path.rglob("*"))
    inotify = Inotify(watched)
    try:
        opened = encrypted.open()
        tensors = opened.load_safetensors(NAME)
        with opened.safe_open(NAME) as lazy:
            lazy_tensors = {k: lazy.get_tensor(k) for k in lazy.keys()}
        opened.read("config.json")
        during = inotify.events()
        # The watch sees a decryption to disk: the check above can fail.
        modelseal.decrypt(encrypted.enc, tmp_path / "decrypted", encrypted.secret)
        control = inotify.events()
    finally:
        inotify.close()
    assert during == []
    assert any("decrypted" in event for event in control), control
    assert_equal(tensors, encrypted.expected)
    assert_equal(lazy_tensors, encrypted.expected)
    shutil.rmtree(tmp_path / "decrypted")
    assert sorted((p, p.stat().st_size) for p in tmp_path.rglob("*")) == before


def test_a_sealed_model_loads_with_an_aws_kms_key(tmp_path, keys, monkeypatch):
    # The decryption key is any reference `decrypt` takes: here an AWS KMS key (the local KMS).
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "kms"))
    from local_kms import LocalKms, apply_env

    kms = LocalKms(tmp_path / "moto")
    try:
        apply_env(monkeypatch, kms.env())
        kms.create_key("SYMMETRIC_DEFAULT", "alias/py-open-model")
        private, public, _, _ = keys
        model = make_model(tmp_path)
        enc = tmp_path / "enc"
        modelseal.seal(model, enc, private, ["awskms:///alias/py-open-model"])
        opened = modelseal.open_model(enc, key=public,
                                      decryption_key="awskms:///alias/py-open-model")
        assert_equal(opened.load_safetensors(NAME), load_file(str(model / NAME)))
        changed_ciphertext_chunk(enc)
        with pytest.raises(modelseal.VerificationError, match=NAME):
            opened.load_safetensors(NAME)
    finally:
        kms.close()
