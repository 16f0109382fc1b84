"""Helpers for the interoperability tests: run modelseal and model-signing 1.1.1, build models.

Both tools are run as subprocesses, exactly as a user would run them: modelseal from
MODELSEAL_BIN, the reference from the project venv (scripts/setup.sh), its CLI for what the CLI
can do and `reference_api.py` (its Python API) for the hashing configurations the CLI cannot choose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
VECTORS_DIR = REPO / "test-vectors" / "oms"
REF_VENV = Path(os.environ.get("MODELSEAL_REF_VENV", REPO / ".venv"))
REF_PYTHON = REF_VENV / "bin" / "python"
REF_CLI = REF_VENV / "bin" / "model_signing"
REF_API = Path(__file__).resolve().parent / "reference_api.py"
TIMEOUT = 300
SHARD_SIZE = 4096


class Problem(Exception):
    """The test environment is not usable (binary or reference missing): a failure, never a skip."""


def modelseal_path() -> Path:
    value = os.environ.get("MODELSEAL_BIN")
    if not value:
        raise Problem(
            "MODELSEAL_BIN is not set: build the CLI (cargo build --release -p modelseal-cli) and "
            "run with MODELSEAL_BIN=$PWD/target/release/modelseal"
        )
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise Problem(f"MODELSEAL_BIN={value} is not an executable file")
    return path.resolve()


def reference_ready() -> None:
    if not REF_CLI.exists() or not REF_PYTHON.exists():
        raise Problem(f"model-signing 1.1.1 not found in {REF_VENV}: run scripts/setup.sh")


def run(argv: Sequence[object], cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
    )


def describe(proc: subprocess.CompletedProcess) -> str:
    """Everything needed to understand a failed command, for assertion messages."""
    return (
        f"\n$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )


def expect_rc(proc: subprocess.CompletedProcess, code: int) -> subprocess.CompletedProcess:
    assert proc.returncode == code, f"expected exit {code}" + describe(proc)
    return proc


class Modelseal:
    """The CLI under test, with the argument forms fixed by the project."""

    def __init__(self, binary: Path):
        self.binary = binary

    def __call__(self, *args: object, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
        return run([self.binary, *args], cwd=cwd)

    def keygen(self, algorithm: str, out: Path, public_out: Optional[Path] = None):
        args = ["keygen", "--algorithm", algorithm, "--out", out]
        if public_out is not None:
            args += ["--public-out", public_out]
        return self(*args)

    def sign(self, model: Path, key: Path, sig: Optional[Path] = None, *extra: object, cwd=None):
        args: list[object] = ["sign", model, "--key", key]
        if sig is not None:
            args += ["-o", sig]
        return self(*args, *extra, cwd=cwd)

    def verify(self, model: Path, sig: Path, *, key: Optional[Path] = None,
               roots: Optional[Path] = None, extra: Sequence[object] = ()):
        assert (key is None) != (roots is None), "exactly one of key / roots"
        material = ["--key", key] if key is not None else ["--cert-chain", roots]
        return self("verify", model, "--signature", sig, *material, *extra)

    def verify_json(self, model: Path, sig: Path, code: int, **kw) -> dict:
        """Verify with --json, check the exit code and return the parsed object."""
        extra = list(kw.pop("extra", ())) + ["--json"]
        proc = expect_rc(self.verify(model, sig, extra=extra, **kw), code)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as err:
            raise AssertionError(f"verify --json printed no JSON object ({err})" + describe(proc))
        for field in ("verified", "model", "root_digest", "signer", "serialization", "errors"):
            assert field in report, f"verify --json lacks {field!r}" + describe(proc)
        return report


class Reference:
    """model-signing 1.1.1: its CLI, and its Python API through reference_api.py."""

    def sign_key(self, model: Path, key: Path, sig: Path, *extra: object, cwd=None):
        return run([REF_CLI, "sign", "key", model, "--private_key", key, "--signature", sig,
                    *extra], cwd=cwd)

    def sign_certificate(self, model: Path, key: Path, cert: Path, chain: Sequence[Path],
                         sig: Path):
        args: list[object] = [REF_CLI, "sign", "certificate", model, "--private_key", key,
                              "--signing_certificate", cert, "--signature", sig]
        for c in chain:
            args += ["--certificate_chain", c]
        return run(args)

    def verify_key(self, model: Path, sig: Path, public_key: Path, *extra: object):
        return run([REF_CLI, "verify", "key", model, "--signature", sig,
                    "--public_key", public_key, *extra])

    def verify_certificate(self, model: Path, sig: Path, roots: Path, *extra: object):
        return run([REF_CLI, "verify", "certificate", model, "--signature", sig,
                    "--certificate_chain", roots, *extra])

    def api(self, *ops: dict) -> list[dict]:
        """Run operations through 1.1.1's Python API (see reference_api.py); one result each."""
        request = json.dumps([{k: _plain(v) for k, v in op.items()} for op in ops])
        proc = run([REF_PYTHON, REF_API, request])
        assert proc.returncode == 0, "reference API helper crashed" + describe(proc)
        results = json.loads(proc.stdout)
        assert len(results) == len(ops)
        return results

    def api_ok(self, op: dict) -> dict:
        (result,) = self.api(op)
        assert result["ok"], f"model-signing 1.1.1 API {op['op']} failed: {result['error']}"
        return result


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


def pseudo_bytes(label: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


MODEL_FILES: dict[str, dict[str, bytes]] = {
    # component-wise order: B, a/b, a-b, a.txt (a byte-wise sort differs)
    "ordering": {"B": b"B\n", "a/b": b"a/b\n", "a-b": b"a-b\n", "a.txt": b"a.txt\n"},
    # ':' and spaces in names (files mode only: 1.1.1 splits shard names on every ':')
    "names": {
        "weights:v1.bin": pseudo_bytes("w", 700),
        "config file.json": b"{}\n",
        "sub dir/tok:en izer.txt": b"t\n",
    },
    # empty files and nested directories
    "nested": {
        "empty.bin": b"",
        "top.txt": b"top\n",
        "l1/l2/l3/deep.bin": pseudo_bytes("deep", 3000),
        "l1/l2/empty-too": b"",
    },
    # files larger than the shard size, no ':' in names; empty files have no shard
    "sharded": {
        "big.bin": pseudo_bytes("big", 10000),
        "exact.bin": pseudo_bytes("exact", 2 * SHARD_SIZE),
        "sub/small.bin": pseudo_bytes("small", 100),
        "empty.bin": b"",
    },
}


def build_model(parent: Path, kind: str) -> Path:
    """Write a model of `kind` under `parent`; return its path ("single" returns a file)."""
    if kind == "single":
        path = parent / "single.bin"
        path.write_bytes(pseudo_bytes("single", 5000))
        return path
    root = parent / kind
    for rel, content in MODEL_FILES[kind].items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def a_file_of(model: Path) -> Path:
    """A non-empty regular file of the model (the model itself for a single-file model)."""
    if model.is_file():
        return model
    return next(p for p in sorted(model.rglob("*")) if p.is_file() and p.stat().st_size > 0)


def tamper(model: Path, how: str) -> None:
    """Change the model after signing: flip a byte, add a file, or remove a file."""
    if how == "changed":
        path = a_file_of(model)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif how == "added":
        (model / "added.bin").write_bytes(b"not signed\n")
    elif how == "removed":
        a_file_of(model).unlink()
    else:
        raise ValueError(how)


# ------------------------------------------------------------------------------------------------
# Keys, certificates, bundles
# ------------------------------------------------------------------------------------------------


def private_copy(src: Path, directory: Path) -> Path:
    """Copy a private key next to the test with mode 0600 (modelseal refuses readable keys)."""
    dst = directory / src.name
    shutil.copyfile(src, dst)
    dst.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return dst


def vector_key(name: str, directory: Path) -> tuple[Path, Path]:
    """A committed test key pair from test-vectors/oms/keys: (0600 private copy, public)."""
    return (private_copy(VECTORS_DIR / "keys" / f"{name}.key.pem", directory),
            VECTORS_DIR / "keys" / f"{name}.pub.pem")


def vector_ca(name: str) -> Path:
    return VECTORS_DIR / "ca" / name


def spki_pem(private_key_pem: Path) -> bytes:
    """The SubjectPublicKeyInfo PEM of a private key, computed by cryptography (independently)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_key_pem.read_bytes(), None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def bundle(sig: Path) -> dict:
    return json.loads(sig.read_text(encoding="utf-8"))


def statement(sig: Path) -> dict:
    return json.loads(base64.b64decode(bundle(sig)["dsseEnvelope"]["payload"]))


def subject_digest(sig: Path) -> str:
    return statement(sig)["subject"][0]["digest"]["sha256"]


def load_vectors() -> list[dict]:
    return json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))["vectors"]
