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
from ._modelseal import FormatError, VerificationError

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


def _trust(
    key: Optional[StrPath],
    chain: list[str],
    sigstore_identity: Optional[str],
    sigstore_issuer: Optional[str],
    trusted_root: Optional[StrPath],
) -> dict[str, Any]:
    """The trust keywords of :func:`modelseal.verify` and :func:`open_model` as the native
    functions take them: one dict."""
    return {
        "key": None if key is None else os.fspath(key),
        "cert_chain": chain,
        "sigstore_identity": sigstore_identity,
        "sigstore_issuer": sigstore_issuer,
        "trusted_root": None if trusted_root is None else os.fspath(trusted_root),
    }


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
    def policy_decisions(self) -> list[dict]:
        """The policy's decisions that allowed the model when opened with ``policy=`` (a sealed
        model's: the outer signature's, then the inner one's), as ``verify(policy=)`` returns
        them; empty otherwise."""
        return [dict(d) for d in self._opened.policy_decisions()]

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

    def safe_open(self, name: str, framework: str = "numpy") -> SafeOpen:
        """Lazy, verified access to the tensors of ``name`` (see :class:`SafeOpen`)."""
        if framework != "numpy":
            raise ValueError(f"framework={framework!r}: only 'numpy' is supported")
        return SafeOpen(self._opened, name)

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


class _Header:
    """A parsed and checked safetensors header: tensors (dtype, shape, byte range in the body),
    metadata, and where the body starts."""

    def __init__(self, name: str, prefix: bytes, header_bytes: bytes, file_size: int) -> None:
        import numpy

        self.name = name
        (header_len,) = struct.unpack("<Q", prefix)
        self.base = 8 + header_len
        body = file_size - self.base
        try:
            header = json.loads(header_bytes)
        except ValueError as e:
            raise self.bad(f"header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise self.bad("header is not a JSON object")
        metadata = header.get("__metadata__", {})
        if not isinstance(metadata, dict):
            raise self.bad("__metadata__ is not an object")
        self.metadata: dict = metadata
        self.tensors: dict = {}
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            if not isinstance(entry, dict):
                raise self.bad(f"tensor {key!r} is not an object")
            dtype = _NUMPY_DTYPES.get(entry.get("dtype"))
            if dtype is None:
                raise self.bad(
                    f"tensor {key!r} has dtype {entry.get('dtype')!r}, which NumPy cannot hold")
            shape = entry.get("shape")
            offsets = entry.get("data_offsets")
            if (not isinstance(shape, list)
                    or not all(isinstance(d, int) and d >= 0 for d in shape)
                    or not isinstance(offsets, list) or len(offsets) != 2
                    or not all(isinstance(o, int) for o in offsets)):
                raise self.bad(f"tensor {key!r} has a malformed shape or data_offsets")
            begin, end = offsets
            count = 1
            for d in shape:
                count *= d
            if not 0 <= begin <= end <= body or end - begin != count * numpy.dtype(dtype).itemsize:
                raise self.bad(
                    f"tensor {key!r}: data_offsets {offsets} do not fit its shape or the file")
            self.tensors[key] = (dtype, shape, count, begin, end)
        # The format requires the tensors to tile the body: no overlap, no gap, nothing after.
        position = 0
        for key, (_, _, _, begin, end) in sorted(self.tensors.items(), key=lambda kv: kv[1][3:]):
            if begin != position:
                raise self.bad(
                    f"tensor {key!r} starts at {begin}, expected {position} (overlap or gap)")
            position = end
        if position != body:
            raise self.bad(f"{body - position} bytes after the last tensor")

    @staticmethod
    def length(name: str, prefix: bytes, file_size: int) -> int:
        """The header's length from the file's first 8 bytes, checked against the file."""
        if len(prefix) < 8:
            raise FormatError(f"{name}: not a valid safetensors file: shorter than 8 bytes")
        (header_len,) = struct.unpack("<Q", prefix[:8])
        if header_len > min(_MAX_HEADER, file_size - 8):
            raise FormatError(
                f"{name}: not a valid safetensors file: header length {header_len} exceeds the file")
        return header_len

    def bad(self, reason: str) -> FormatError:
        return FormatError(f"{self.name}: not a valid safetensors file: {reason}")

    def array(self, key: str, data: Any, offset: int = 0) -> Any:
        """Tensor `key` as a read-only NumPy view of `data`, whose byte `offset` is the tensor's
        first byte (for a whole file: the body start plus the tensor's begin offset)."""
        import numpy

        dtype, shape, count, _, _ = self.tensors[key]
        return numpy.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)


def _parse_safetensors(data: bytes, name: str) -> dict:
    header_len = _Header.length(name, data[:8], len(data))
    header = _Header(name, data[:8], data[8 : 8 + header_len], len(data))
    return {key: header.array(key, data, header.base + header.tensors[key][3])
            for key in header.tensors}


class SafeOpen:
    """Lazy access to the tensors of one safetensors file of a :class:`VerifiedModel`, in the
    shape of ``safetensors.safe_open``: ``keys()``, ``metadata()``, ``get_tensor(key)``,
    ``get_slice(key)``.

    Every byte returned has been verified. Under a ``shards`` signature a tensor read verifies
    exactly the shards it overlaps (each read whole from the file); under a ``files`` signature a
    file's digest covers only the whole file, so the first access reads and verifies the whole
    file once and later accesses are served from it.
    """

    def __init__(self, opened: Any, name: str) -> None:
        self._opened = opened
        self._name = name
        self._whole: Optional[bytes] = None
        if opened.sharded():
            size = self._size()
            prefix = opened.read_range(name, 0, min(8, size))
            header_len = _Header.length(name, prefix, size)
            header_bytes = opened.read_range(name, 8, 8 + header_len)
            self._header = _Header(name, prefix, header_bytes, size)
        else:
            self._whole = opened.read(name)
            header_len = _Header.length(name, self._whole[:8], len(self._whole))
            self._header = _Header(name, self._whole[:8], self._whole[8 : 8 + header_len],
                                   len(self._whole))

    def _size(self) -> int:
        size = self._opened.signed_size(self._name)
        if size is None:
            raise VerificationError(f"{self._name}: not a file of the signed model")
        return int(size)

    def keys(self) -> list[str]:
        """The tensor names, in the header's order."""
        return list(self._header.tensors)

    def metadata(self) -> dict:
        """The header's ``__metadata__`` (an empty dict when there is none)."""
        return dict(self._header.metadata)

    def get_tensor(self, key: str) -> Any:
        """Tensor ``key`` as a read-only NumPy array of verified bytes."""
        if key not in self._header.tensors:
            raise KeyError(key)
        _, _, _, begin, end = self._header.tensors[key]
        if self._whole is not None:
            return self._header.array(key, self._whole, self._header.base + begin)
        data = self._opened.read_range(self._name, self._header.base + begin,
                                       self._header.base + end)
        return self._header.array(key, data)

    def get_slice(self, key: str) -> "TensorSlice":
        """A lazy view of tensor ``key`` (``safetensors``' ``get_slice``): ``get_shape()``,
        ``get_dtype()``, and indexing (``[a:b]``, ``[:, a:b]``, ``[i]``, …) that returns a NumPy
        array of verified bytes. Indexing the first dimension with a step-1 slice or an integer
        reads and verifies only those rows' bytes (under shards: the shards they overlap); any
        other index reads and verifies the whole tensor, then indexes it."""
        if key not in self._header.tensors:
            raise KeyError(key)
        return TensorSlice(self, key)

    def _rows(self, key: str, start: int, stop: int) -> Any:
        """Rows ``start:stop`` of tensor ``key``'s first dimension, from verified bytes."""
        import numpy

        dtype, shape, count, begin, _ = self._header.tensors[key]
        row_items = count // shape[0] if shape[0] else 0
        row_bytes = row_items * numpy.dtype(dtype).itemsize
        first = self._header.base + begin + start * row_bytes
        last = self._header.base + begin + stop * row_bytes
        rows = [stop - start] + list(shape[1:])
        if self._whole is not None:
            data, offset = self._whole, first
        else:
            data, offset = self._opened.read_range(self._name, first, last), 0
        return numpy.frombuffer(data, dtype=dtype, count=(stop - start) * row_items,
                                offset=offset).reshape(rows)

    def __enter__(self) -> "SafeOpen":
        return self

    def __exit__(self, *exc: object) -> None:
        self._whole = None


class TensorSlice:
    """One tensor of a :class:`SafeOpen`, read only as far as it is indexed (see
    :meth:`SafeOpen.get_slice`)."""

    def __init__(self, lazy: SafeOpen, key: str) -> None:
        self._lazy = lazy
        self._key = key

    def get_shape(self) -> list[int]:
        """The tensor's shape, from the verified header."""
        return list(self._lazy._header.tensors[self._key][1])

    def get_dtype(self) -> str:
        """The tensor's safetensors dtype (``"F32"``, …)."""
        dtype = self._lazy._header.tensors[self._key][0]
        return next(k for k, v in _NUMPY_DTYPES.items() if v == dtype)

    def __getitem__(self, index: Any) -> Any:
        shape = self.get_shape()
        first, rest = (index[0], index[1:]) if isinstance(index, tuple) and index else (index, ())
        if shape and isinstance(first, slice) and first.step in (None, 1):
            start, stop, _ = first.indices(shape[0])
            rows = self._lazy._rows(self._key, start, max(start, stop))
            return rows[(slice(None),) + tuple(rest)] if rest else rows
        if shape and isinstance(first, int) and not isinstance(first, bool):
            row = first + shape[0] if first < 0 else first
            if not 0 <= row < shape[0]:
                raise IndexError(f"index {first} is out of bounds for dimension 0 of size {shape[0]}")
            rows = self._lazy._rows(self._key, row, row + 1)[0]
            return rows[tuple(rest)] if rest else rows
        return self._lazy.get_tensor(self._key)[index]


def open_model(
    model: StrPath,
    signature: Union[None, StrPath, Iterable[StrPath]] = None,
    *,
    key: Optional[StrPath] = None,
    cert_chain: Union[None, StrPath, Sequence[StrPath]] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),
    ignore_unsigned_files: bool = False,
    sigstore_identity: Optional[str] = None,
    sigstore_issuer: Optional[str] = None,
    trusted_root: Optional[StrPath] = None,
    decryption_key: Optional[StrPath] = None,
    allow_insecure_key_permissions: bool = False,
    policy: Any = None,
    model_name: Optional[str] = None,
) -> VerifiedModel:
    """Open ``model`` for verified loading: verify ``signature`` (default: where
    :func:`modelseal.sign` writes it, ``MODEL.sig``) under the trust given — the keywords mean
    what they mean in :func:`modelseal.verify` — and compare the model's file list with the signed
    one. Reads no weights yet: :meth:`VerifiedModel.load_safetensors`, :meth:`VerifiedModel.read`
    and :meth:`VerifiedModel.open` verify each file in the read that loads it.

    With ``decryption_key`` (a key reference, as :func:`modelseal.decrypt` takes: a key file,
    ``pkcs11:…`` or ``awskms://…``), ``model`` is a model encrypted by :func:`modelseal.encrypt`
    (``signature`` signs the plaintext model) or sealed by :func:`modelseal.seal` (``signature``
    is the outer one, default ``ENC.sig`` and/or ``ENC.sig.jsonl``, as :func:`modelseal.unseal`
    reads them; the inner signature inside, ``modelseal.sig`` or a co-signed seal's
    ``modelseal.sig.jsonl``, is verified too). For an encrypted model ``signature`` may be a list
    of signature files, judged together as ``unseal(signature=[...])`` judges them. Its files
    are decrypted in memory as they are read, each chunk authenticated and the plaintext hashed
    against the signed statement; nothing decrypted is written anywhere.

    With ``policy=`` (a :class:`modelseal.Policy`, or the path of a policy file, as
    :func:`modelseal.verify` takes it) the policy is the trust — leave out ``key=``,
    ``cert_chain=`` and the ``sigstore_*``/``trusted_root`` arguments — and judges the signature
    pinned for loading as ``verify(policy=)`` judges a model, without reading it again: its
    signers against the rule for ``model_name`` (default: the path's last component; for an
    encrypted or sealed model the envelope's signed name, which binds as in ``verify --policy``:
    a different ``model_name`` is refused unless the policy sets ``allow_name_override``). For a
    sealed model the outer signature is judged, then the inner one under the name the outer
    decision matched, exactly as :func:`modelseal.unseal` does: the rule's threshold counts the
    distinct signers of the outer signatures, and the inner one needs one signer of the rule. When
    the rule has ``deny_formats`` (or the policy Rego rules), the files' formats are told from
    bytes read and verified at open (decrypted in memory for an encrypted model): under a
    ``shards`` signature only the shards format detection looks at, under ``files`` each file
    whole, once. A denial raises ``VerificationError``
    before any tensor is returned, naming the rule and every reason; its ``result`` attribute
    holds the decision. :attr:`VerifiedModel.policy_decisions` holds the allowing decisions.

    Raises ``VerificationError`` when the signature is not trusted or files are missing or extra,
    ``FormatError`` for a malformed signature, ``KeyAccessError`` for unreadable trust material
    or decryption key, ``DecryptionError`` when the key does not open the envelope or it was
    tampered with.
    """
    if policy is not None:
        if (key is not None or cert_chain is not None or ignore_unsigned_files
                or sigstore_identity is not None or sigstore_issuer is not None
                or trusted_root is not None):
            raise _modelseal.Error(
                "policy= decides trust itself: leave out key=, cert_chain=, the sigstore_* "
                "arguments, trusted_root= and ignore_unsigned_files="
            )
        from . import _policy

        policy = _policy(policy)._inner
    elif model_name is not None:
        raise _modelseal.Error("model_name= selects a policy rule; it needs policy=")
    opened = _modelseal.open_model(
        os.fspath(model),
        _one_or_many(signature),
        _trust(key, _one_or_many(cert_chain), sigstore_identity, sigstore_issuer, trusted_root),
        _one_or_many(ignore),
        ignore_unsigned_files,
        None if decryption_key is None else os.fspath(decryption_key),
        allow_insecure_key_permissions,
        policy,
        model_name,
    )
    return VerifiedModel(opened)
