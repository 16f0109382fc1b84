"""``progress=`` (issue 22, CI ergonomics): every long operation tells a callable
``(bytes_done, total_bytes)`` while the GIL is released, ends with the final counts, and a callable
that raises is reported after the work, never silently dropped."""

from __future__ import annotations

import os
import pathlib

import pytest

import modelseal

SIZE = 3 * 1024 * 1024 + 17 + 10


@pytest.fixture
def env(tmp_path: pathlib.Path) -> pathlib.Path:
    model = tmp_path / "llm"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (model / "README.md").write_text("# a model\n")
    modelseal.keygen("ec-p256", tmp_path / "release.pem", tmp_path / "release.pub.pem")
    modelseal.keygen("x25519", tmp_path / "deploy.pem")
    (tmp_path / "trust.toml").write_text(
        'version = 1\n[signers.release]\nkey = "release.pub.pem"\n'
        '[[models]]\nname = "prod/**"\nrequire = ["release"]\n'
    )
    return tmp_path


class Calls:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.seen.append((done, total))

    def final(self) -> tuple[int, int]:
        assert self.seen, "the callback was never called"
        done = [d for d, _ in self.seen]
        assert done == sorted(done), f"bytes done went backwards: {self.seen}"
        return self.seen[-1]


def test_sign_verify_digest_count_every_byte(env: pathlib.Path) -> None:
    calls = Calls()
    sig = modelseal.sign(env / "llm", env / "release.pem", progress=calls)
    assert calls.final() == (SIZE, SIZE)
    calls = Calls()
    modelseal.verify(env / "llm", sig, key=env / "release.pub.pem", progress=calls)
    assert calls.final() == (SIZE, SIZE)
    calls = Calls()
    modelseal.verify(env / "llm", sig, policy=env / "trust.toml", model_name="prod/llm", progress=calls)
    assert calls.final() == (SIZE, SIZE)
    calls = Calls()
    modelseal.digest(env / "llm", progress=calls)
    assert calls.final() == (SIZE, SIZE)


def test_encrypt_decrypt_seal_unseal_end_complete(env: pathlib.Path) -> None:
    calls = Calls()
    modelseal.encrypt(env / "llm", env / "llm.enc", env / "deploy.pem.pub", progress=calls)
    assert calls.final() == (SIZE, SIZE)
    calls = Calls()
    modelseal.decrypt(env / "llm.enc", env / "plain", env / "deploy.pem", progress=calls)
    assert calls.final() == (SIZE, SIZE)
    # seal: one pass over the plaintext (the ciphertext hashed as written), then the envelope and
    # the inner signature read back; unseal: the envelope, then one decryption pass. Each stage
    # adds to the total.
    calls = Calls()
    modelseal.seal(env / "llm", env / "llm.sealed", env / "release.pem", env / "deploy.pem.pub",
                   model_name="prod/llm", progress=calls)
    done, total = calls.final()
    assert done == total and SIZE < total < 2 * SIZE
    calls = Calls()
    modelseal.unseal(env / "llm.sealed", env / "run", policy=env / "trust.toml",
                     key=env / "deploy.pem", progress=calls)
    done, total = calls.final()
    assert done == total and SIZE < total < 2 * SIZE


def test_a_callback_that_raises_is_raised_after_the_work(env: pathlib.Path) -> None:
    def broken(done: int, total: int) -> None:
        raise ValueError(f"callback failed at {done}/{total}")

    with pytest.raises(ValueError, match="callback failed"):
        modelseal.sign(env / "llm", env / "release.pem", progress=broken)
    # The work itself completed: the signature is there and verifies.
    modelseal.verify(env / "llm", env / "llm.sig", key=env / "release.pub.pem")
