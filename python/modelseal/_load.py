"""Verify on load: ``modelseal.open_model`` and the :class:`VerifiedModel` it returns.

The signature and its trust are checked once, when the model is opened; each file is then read
once, hashed in that same read, and handed out only if it is the signed file. Nothing is written
to disk. See docs/serving.md.
"""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any, Iterable, Optional, Sequence, Union

from . import _modelseal
from ._modelseal import FormatError

StrPath = Union[str, "os.PathLike[str]"]

# safetensors dtypes that numpy represents natively (as safetensors.numpy does).
_NUMPY_DTYPES = {
    "BOOL": "?",
    "U8": "u1",
    "I8": "i1",
    "U16": "<u2",
    "I16": "<i2",
    "F16": "<f2",
    "U32": "<u4",
    "I32": "<i4",
    "F32": "<f4",
    "U64": "<u8",
    "I64": "<i8",
    "F64": "<f8",
}

# The largest safetensors header accepted (the format's own reference limit is 100 MB).
_MAX_HEADER = 100_000_000


def _one_or_many(value: Union[None, StrPath, Iterable[StrPath]]) -> list[str]:
    """A path or a list of paths as a list of strings: a ``str`` is one path, never characters."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


class VerifiedModel:
    """A model opened by :func:`open_model`: its signature verified under the trust given and
    its file list matched the signed one. Every read verifies the file it returns."""

    def __init__(self, opened: Any) -> None:
        self._opened = opened

    @property
    def files(self) -> list[str]:
        """The signed files' names (as the signature lists them), sorted."""
        return list(self._opened.files())

    @property
    def root_digest(self) -> str:
        """The signed root digest (lowercase hex SHA-256)."""
        return str(self._opened.root_digest())

    @property
    def info(self) -> dict:
        """What verified, as the dict :func:`modelseal.verify` describes (signer, digest, …)."""
        return dict(self._opened.info())

    def read(self, name: str) -> bytes:
        """The whole file ``name``, read once and verified in that read (the GIL is released).

        Raises ``VerificationError`` — and returns nothing — when the file is not the signed
        one (changed, truncated, extended, replaced while read) or not in the signature.
        """
        return self._opened.read(name)

    def open(self, name: str) -> io.BytesIO:
        """A read-only binary file object over the verified bytes of ``name`` (GGUF, ONNX, …).

        The whole file is read and verified when this is called; no byte is returned before
        that, and the buffer is shared with the verified ``bytes``, not copied.
        """
        return io.BytesIO(self.read(name))

    def load_safetensors(self, name: str, framework: str = "numpy") -> dict:
        """The tensors of the safetensors file ``name`` as NumPy arrays, from one verified read.

        The dict is returned only if the file is the signed one (else ``VerificationError``);
        a file that verifies but is not valid safetensors raises ``FormatError``. The arrays are
        read-only views of the verified bytes (no copy); ``array.copy()`` gives a writable one,
        ``torch.from_numpy(array.copy())`` a tensor.
        """
        if framework != "numpy":
            raise ValueError(f"framework={framework!r}: only 'numpy' is supported")
        return _parse_safetensors(self.read(name), name)


def _parse_safetensors(data: bytes, name: str) -> dict:
    import numpy

    def bad(reason: str) -> FormatError:
        return FormatError(f"{name}: not a valid safetensors file: {reason}")

    if len(data) < 8:
        raise bad("shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER, len(data) - 8):
        raise bad(f"header length {header_len} exceeds the file")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except ValueError as e:
        raise bad(f"header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    base = 8 + header_len
    body = len(data) - base
    tensors = {}
    spans = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise bad(f"tensor {key!r} is not an object")
        dtype = _NUMPY_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise bad(f"tensor {key!r} has dtype {entry.get('dtype')!r}, which NumPy cannot hold")
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)):
            raise bad(f"tensor {key!r} has a malformed shape or data_offsets")
        begin, end = offsets
        itemsize = numpy.dtype(dtype).itemsize
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= body or end - begin != count * itemsize:
            raise bad(f"tensor {key!r}: data_offsets {offsets} do not fit its shape or the file")
        spans.append((begin, end, key))
        tensors[key] = (
            numpy.frombuffer(data, dtype=dtype, count=count, offset=base + begin).reshape(shape)
        )
    # The format requires the tensors to tile the body: no overlap, no gap, nothing after.
    position = 0
    for begin, end, key in sorted(spans):
        if begin != position:
            raise bad(f"tensor {key!r} starts at {begin}, expected {position} (overlap or gap)")
        position = end
    if position != body:
        raise bad(f"{body - position} bytes after the last tensor")
    return tensors


def open_model(
    model: StrPath,
    signature: Optional[StrPath] = None,
    *,
    key: Optional[StrPath] = None,
    cert_chain: Union[None, StrPath, Sequence[StrPath]] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),
    ignore_unsigned_files: bool = False,
    sigstore_identity: Optional[str] = None,
    sigstore_issuer: Optional[str] = None,
    trusted_root: Optional[StrPath] = None,
) -> VerifiedModel:
    """Open ``model`` for verified loading: verify ``signature`` (default: where
    :func:`modelseal.sign` writes it, ``MODEL.sig``) under the trust given — the keywords mean
    what they mean in :func:`modelseal.verify` — and compare the model's file list with the signed
    one. Reads no weights yet: :meth:`VerifiedModel.load_safetensors`, :meth:`VerifiedModel.read`
    and :meth:`VerifiedModel.open` verify each file in the read that loads it.

    Raises ``VerificationError`` when the signature is not trusted or files are missing or extra,
    ``FormatError`` for a malformed signature, ``KeyAccessError`` for unreadable trust material.
    """
    opened = _modelseal.open_model(
        os.fspath(model),
        None if signature is None else os.fspath(signature),
        None if key is None else os.fspath(key),
        _one_or_many(cert_chain),
        _one_or_many(ignore),
        ignore_unsigned_files,
        sigstore_identity,
        sigstore_issuer,
        None if trusted_root is None else os.fspath(trusted_root),
    )
    return VerifiedModel(opened)
