"""modelseal: sign and verify machine-learning models (OpenSSF Model Signing format).

Every function here is a thin, typed wrapper over the Rust core; the heavy work (hashing, signing,
verifying) runs with the GIL released. Errors are ``modelseal.Error`` or one of its subclasses.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Iterable, Optional, Sequence, Union

from . import _modelseal
from ._modelseal import (
    DecryptionError,
    Error,
    FormatError,
    KeyAccessError,
    VerificationError,
)

__all__ = [
    "DecryptionError",
    "Error",
    "FormatError",
    "KeyAccessError",
    "VerificationError",
    "VerificationResult",
    "keygen",
    "public_key",
    "sign",
    "verify",
]

__version__: str = _modelseal.__version__

StrPath = Union[str, "os.PathLike[str]"]


@dataclasses.dataclass(frozen=True)
class VerificationResult:
    """A model that verified: its signer was trusted and every file matched the signature."""

    model: pathlib.Path
    signature: pathlib.Path
    model_name: str
    root_digest: str
    resources: int
    signer_method: str
    signer_algorithm: str
    key_hint: str
    certificate_subject: Optional[str]
    method: str
    hash_type: str
    shard_size: Optional[int] = None


def _paths(paths: Iterable[StrPath]) -> list[str]:
    return [os.fspath(p) for p in paths]


def sign(
    model: StrPath,
    key: str | os.PathLike[str],
    signature: Optional[StrPath] = None,
    *,
    hash: str = "sha256",
    shards: bool = False,
    shard_size: Optional[int] = None,
    ignore: Iterable[StrPath] = (),
    allow_symlinks: bool = False,
    cert: Optional[StrPath] = None,
    cert_chain: Iterable[StrPath] = (),
    key_password_file: Optional[StrPath] = None,
    allow_insecure_key_permissions: bool = False,
) -> pathlib.Path:
    """Sign ``model`` (a directory or a file) with ``key`` and write an OMS signature.

    ``key`` is a key reference (a private key file path). The signature goes to ``signature``,
    by default ``<model>.sig`` beside the model. Returns the signature path.
    """
    path = _modelseal.sign(
        os.fspath(model),
        os.fspath(key),
        None if signature is None else os.fspath(signature),
        hash,
        shards,
        shard_size,
        _paths(ignore),
        allow_symlinks,
        None if cert is None else os.fspath(cert),
        _paths(cert_chain),
        None if key_password_file is None else os.fspath(key_password_file),
        allow_insecure_key_permissions,
    )
    return pathlib.Path(path)


def verify(
    model: StrPath,
    signature: StrPath,
    *,
    key: Optional[str | os.PathLike[str]] = None,
    cert_chain: Optional[Union[StrPath, Sequence[StrPath]]] = None,
    ignore: Iterable[StrPath] = (),
    ignore_unsigned_files: bool = False,
) -> VerificationResult:
    """Verify ``model`` against ``signature``, trusting ``key`` or the roots in ``cert_chain``.

    Raises ``VerificationError`` when the model or signature is not what the trusted signer signed,
    ``FormatError`` for a malformed signature file, ``KeyAccessError`` for unreadable trust material.
    """
    if cert_chain is None:
        chain: list[str] = []
    elif isinstance(cert_chain, (str, os.PathLike)):
        chain = [os.fspath(cert_chain)]
    else:
        chain = _paths(cert_chain)
    fields = _modelseal.verify(
        os.fspath(model),
        os.fspath(signature),
        None if key is None else os.fspath(key),
        chain,
        _paths(ignore),
        ignore_unsigned_files,
    )
    fields["model"] = pathlib.Path(fields["model"])
    fields["signature"] = pathlib.Path(fields["signature"])
    return VerificationResult(**fields)


def keygen(
    algorithm: str,
    out: StrPath,
    public_out: Optional[StrPath] = None,
    *,
    force: bool = False,
) -> str:
    """Generate a key pair (``ec-p256``, ``ec-p384``, ``ec-p521`` or ``ed25519``).

    The private key is written as PKCS#8 PEM with mode 0600; an existing file is only replaced
    with ``force=True``. Returns the public key's OMS key hint.
    """
    return _modelseal.keygen(
        algorithm,
        os.fspath(out),
        None if public_out is None else os.fspath(public_out),
        force,
    )


def public_key(
    key: str | os.PathLike[str],
    *,
    key_password_file: Optional[StrPath] = None,
    allow_insecure_key_permissions: bool = False,
) -> str:
    """The SPKI PEM public key of a key reference."""
    return _modelseal.public_key(
        os.fspath(key),
        None if key_password_file is None else os.fspath(key_password_file),
        allow_insecure_key_permissions,
    )
