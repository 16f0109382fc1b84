"""modelseal: sign and verify machine-learning models (OpenSSF Model Signing format), and
envelope-encrypt them.

Every function here is a thin, typed wrapper over the Rust core; the heavy work (hashing, signing,
verifying, encrypting, decrypting) runs with the GIL released. Errors are ``modelseal.Error`` or one
of its subclasses: ``DecryptionError`` when an encrypted model fails to authenticate (wrong key,
tampered, truncated), ``FormatError`` for malformed input, ``KeyAccessError`` for key problems.
A file that does not exist or cannot be opened also raises the built-in ``FileNotFoundError`` or
``PermissionError`` (the raised class derives from both), and messages name this module's keyword
arguments (``allow_insecure_key_permissions=True``), not the command line's flags.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import io
import os
import pathlib
import re
from typing import Any, BinaryIO, Callable, Iterable, Optional, Sequence, Union

from . import _modelseal as _native
from ._load import _trust
from ._modelseal import (
    DecryptionError,
    Error,
    FormatError,
    KeyAccessError,
    ScanError,
    VerificationError,
)

__all__ = [
    "DecryptionError",
    "DecryptResult",
    "EncryptResult",
    "Error",
    "FormatError",
    "KeyAccessError",
    "NotFoundError",
    "Policy",
    "PermissionDeniedError",
    "ScanError",
    "VerificationError",
    "VerificationResult",
    "VerifiedModel",
    "decrypt",
    "digest",
    "encrypt",
    "harden_process",
    "keygen",
    "open",
    "open_model",
    "public_key",
    "rewrap",
    "scan",
    "seal",
    "sign",
    "unseal",
    "endorse",
    "verify",
]

__version__: str = _native.__version__

StrPath = Union[str, "os.PathLike[str]"]
#: ``progress=`` of the long operations: called with ``(bytes_done, total_bytes)`` at most five
#: times a second from a worker thread (holding the GIL for the call), and once at the end. An
#: exception it raises does not stop the work; the first one is raised when the operation returns.
ProgressCallback = Callable[[int, int], None]


class NotFoundError(Error, builtins.FileNotFoundError):
    """A file or directory that modelseal needs does not exist (also a ``FileNotFoundError``)."""


class PermissionDeniedError(Error, builtins.PermissionError):
    """A file or directory that modelseal needs cannot be opened (also a ``PermissionError``)."""


# The command line's flags as this module's keyword arguments: the core writes its messages for the
# CLI, and a Python caller must read the name it can pass.
_FLAGS_AS_KEYWORDS = [
    ("--allow-insecure-key-permissions", "allow_insecure_key_permissions=True"),
    ("--allow-symlinks", "allow_symlinks=True"),
    ("--force", "force=True"),
    ("--model-name", "model_name="),
    ("--ignore-unsigned-files", "ignore_unsigned_files=True"),
    ("--key-password-file", "key_password_file="),
]

# Rust spells an operating-system error "… (os error N)".
_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_OS_CLASSES = {2: NotFoundError, 1: PermissionDeniedError, 13: PermissionDeniedError}
_combined: dict[tuple[type, type], type] = {}


def _in_python_terms(err: Error) -> Error:
    """``err`` with keyword names for flags, as a ``FileNotFoundError``/``PermissionError`` when an
    operating-system error of that kind caused it (keeping its own class: a missing key file is a
    ``KeyAccessError`` and a ``FileNotFoundError``)."""
    message = str(err)
    for flag, keyword in _FLAGS_AS_KEYWORDS:
        message = re.sub(re.escape(flag) + r"(?![\w-])", keyword, message)
    found = _OS_ERROR.search(message)
    os_class = _OS_CLASSES.get(int(found.group(1))) if found else None
    cls: type = type(err)
    if os_class is not None and not issubclass(cls, os_class):
        if cls is Error:
            cls = os_class
        else:
            key = (cls, os_class)
            if key not in _combined:
                _combined[key] = type(cls.__name__, (cls, os_class), {"__module__": "modelseal"})
            cls = _combined[key]
    if os_class is not None:
        new = cls(int(found.group(1)), message)  # type: ignore[call-arg]
    else:
        new = cls(message)
    new.__dict__.update(err.__dict__)
    return new


def _translated(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Error as err:
            raise _in_python_terms(err) from None

    return call


class _Native:
    """The compiled module, its functions raising errors in Python's terms."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(_native, name)
        if callable(value) and not isinstance(value, type):
            return _translated(value)
        return value


_modelseal = _Native()


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
    sigstore_identity: Optional[str] = None
    sigstore_issuer: Optional[str] = None
    signing_time: Optional[str] = None
    log_index: Optional[int] = None
    timestamp_authority: Optional[str] = None
    line: Optional[int] = None
    """The line of a claims file (``.jsonl``) whose signature verified; ``None`` for a single
    bundle."""
    formats: tuple = ()
    """Each verified file in a recognized serialization format, as a dict: ``path``, ``format``,
    ``names`` (what a policy's ``deny_formats`` matches: ``pickle`` for anything that unpickles),
    ``globals`` a pickle imports and a ``note``; told from the bytes that were verified."""
    format_names: tuple = ()
    """The distinct names of ``formats`` (``("pickle", "pytorch")``)."""


def harden_process() -> None:
    """Keep this process's secrets out of core dumps: ``PR_SET_DUMPABLE 0`` and ``RLIMIT_CORE 0``.

    The ``modelseal`` command does this in every verb that may load a secret. A library does not
    change its host process on its own: call this once, early, in a program that signs, decrypts or
    unseals with private keys, KEKs or PINs. It also stops other processes of the same user from
    attaching a debugger (``ptrace``) or reading ``/proc/<pid>/mem``. Linux only; irreversible.
    """
    _modelseal.harden_process()


def _paths(paths: Union[StrPath, Iterable[StrPath]]) -> list[str]:
    """A list of paths; one ``str`` or path-like is one path (``ignore="README.md"``), never its
    characters."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        return [os.fspath(paths)]  # type: ignore[list-item]
    return [os.fspath(p) for p in paths]


def _password_ref(key_password_file: Optional[StrPath], key_password: Optional[str]) -> Optional[str]:
    """The passphrase's secret reference: ``key_password`` (``file:PATH``, ``fd:N``, ``env:NAME``,
    ``awssm://SECRET-ID[?version-id=V][&json-key=K]``; docs/secrets.md) or ``file:`` +
    ``key_password_file``; never both."""
    if key_password_file is not None and key_password is not None:
        raise Error("give key_password_file= or key_password=, not both")
    if key_password_file is not None:
        return "file:" + os.fspath(key_password_file)
    return key_password


def sign(
    model: StrPath,
    key: str | os.PathLike[str],
    signature: Optional[StrPath] = None,
    *,
    hash: str = "sha256",
    shards: bool = False,
    shard_size: Optional[int] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),
    allow_symlinks: bool = False,
    cert: Optional[StrPath] = None,
    cert_chain: Union[StrPath, Iterable[StrPath]] = (),
    key_password_file: Optional[StrPath] = None,
    key_password: Optional[str] = None,
    allow_insecure_key_permissions: bool = False,
    audit_log: Optional[StrPath] = None,
    tsa_url: Optional[str] = None,
    force: bool = False,
    append: bool = False,
    progress: Optional[ProgressCallback] = None,
    scan: bool = False,
    scan_allow: Optional[StrPath] = None,
    tensor_aligned: bool = False,
) -> Union[pathlib.Path, str]:
    """Sign ``model`` (a directory or a file) with ``key`` and write an OMS signature.

    ``key`` is a key reference: a private key file path, a ``pkcs11:`` URI (RFC 7512) of an EC
    key in a PKCS#11 token, which signs inside the token (docs/pkcs11.md), or
    ``awskms:///<key-id|alias/name|arn>`` for an AWS KMS ECC_NIST_P256/P384 key (docs/kms.md); HSM or
    KMS access problems raise ``KeyAccessError``. The signature goes to ``signature``,
    by default ``<model>.sig`` beside the model. Returns the signature path (for a signature in
    object storage, its location string: ``s3://…``, ``gs://…``, ``az://…``, docs/storage.md).
    With ``audit_log``, appends one line to it (also when signing fails), as ``modelseal sign --audit-log`` does.
    With ``tsa_url`` (an ``http://`` or ``https://`` RFC 3161 time-stamping authority; an https
    server's certificate is checked against the system's roots, or ``SSL_CERT_FILE``), the
    signature is timestamped and the token stored in the bundle, as ``sign --tsa-url`` does.

    An existing ``signature`` is refused unless ``force=True`` (replace it) or ``append=True``
    (add the signature as one more line of a ``.jsonl`` claims file, created if missing; earlier
    lines are never rewritten, concurrent signers are safe). A file of the model is never
    replaced: inside the model only a new path is allowed, and it is left out of the signed files.

    With ``scan=True`` (or a ``scan_allow`` allow-list file), the model is first searched for
    credentials (``modelseal.scan``) and a finding not in the allow-list raises ``ScanError``
    with nothing signed or written (docs/scan.md).

    With ``shards=True, tensor_aligned=True`` (safetensors models) the shard size is chosen from
    the tensors' sizes so that lazily loading one tensor (:meth:`VerifiedModel.safe_open`)
    verifies less than twice its bytes: the largest power of two at most half the smallest
    tensor of 2 MiB or more, between 1 MiB and 1 GiB (docs/serving.md). The signature is a
    standard OMS shards signature that any OMS verifier accepts.
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
        _password_ref(key_password_file, key_password),
        allow_insecure_key_permissions,
        _opt_path(audit_log),
        force,
        append,
        tsa_url,
        progress=progress,
        scan=scan,
        scan_allow=_opt_path(scan_allow),
        tensor_aligned=tensor_aligned,
    )
    return _location_or_path(path)


def _location_or_path(path: str) -> Union[pathlib.Path, str]:
    """A local path as a ``pathlib.Path``; an object-storage location (``s3://``, ``gs://``,
    ``az://``) as the string itself, which a ``Path`` would mangle (``s3:/b/k``)."""
    if path.startswith(("s3://", "gs://", "az://")):
        return path
    return pathlib.Path(path)


def scan(
    model: StrPath,
    *,
    allow: Optional[StrPath] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),
    allow_symlinks: bool = False,
) -> dict:
    """Search ``model`` for credentials and list its files' serialization formats: the dict
    ``modelseal scan --json`` prints. ``result["clean"]`` is false when a finding is not in the
    ``allow`` list (a file of fingerprints). Findings name the file, line, offset or metadata
    field, the rule and a fingerprint, never the secret; ``result["formats"]`` lists pickles with
    the globals they import (docs/scan.md). Nothing is executed or written."""
    return _modelseal.scan(os.fspath(model), _opt_path(allow), _paths(ignore), allow_symlinks)


def digest(
    model: StrPath,
    *,
    hash: str = "sha256",
    shards: bool = False,
    shard_size: Optional[int] = None,
    ignore: Iterable[StrPath] = (),
    allow_symlinks: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> dict:
    """The root digest of ``model`` as signing with the same options would record it (OMS v1.0
    §6.5.1): the dict ``modelseal digest --json`` prints, ``{"root_digest": "sha256:<hex>",
    "resources": N, "serialization": {...}}``. No key needed; nothing is written."""
    return _modelseal.digest(
        os.fspath(model), hash, shards, shard_size, _paths(ignore), allow_symlinks, progress=progress
    )


def verify(
    model: StrPath,
    signature: StrPath,
    *,
    key: Optional[str | os.PathLike[str]] = None,
    cert_chain: Optional[Union[StrPath, Sequence[StrPath]]] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),
    ignore_unsigned_files: bool = False,
    sigstore_identity: Optional[str] = None,
    sigstore_issuer: Optional[str] = None,
    trusted_root: Optional[StrPath] = None,
    policy: Optional[Union[Policy, StrPath]] = None,
    model_name: Optional[str] = None,
    audit_log: Optional[StrPath] = None,
    tsa_roots: Iterable[StrPath] = (),
    require_timestamp: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> Union[VerificationResult, dict]:
    """Verify ``model`` against ``signature``, trusting ``key`` or the roots in ``cert_chain`` —
    or, for a Sigstore keyless signature, the signer ``sigstore_identity`` vouched for by
    ``sigstore_issuer``, offline against ``trusted_root`` (a ``trusted_root.json`` or
    ClientTrustConfig; default: the public-good production root shipped with modelseal).

    With ``policy=`` (a :class:`Policy`, or the path of a policy file), ``signature`` may be one path or a list (co-signers), and
    the result is the dict ``modelseal verify --policy --json`` prints (``allowed``, ``model_name``,
    ``root_digest``, ``signers``, ``rule``, ``reasons``, …); a denial raises ``VerificationError``
    whose ``result`` attribute holds that dict.

    With ``audit_log`` (under a policy, by default the policy's ``audit_log``), the call appends
    one line to that log, also when verification fails, as ``modelseal verify --audit-log`` does.

    With ``tsa_roots`` (PEM roots of RFC 3161 time-stamping authorities, or a Sigstore
    ``trusted_root.json``), the signature's timestamps must verify and a certificate chain is judged
    at the timestamp's time (``signing_time``, ``timestamp_authority`` in the result); without it
    timestamps are ignored. ``require_timestamp`` fails a signature without a verified one.

    Raises ``VerificationError`` when the model or signature is not what the trusted signer signed,
    ``FormatError`` for a malformed signature file, ``KeyAccessError`` for unreadable trust material.
    """
    tsa_root_paths = _paths(tsa_roots)
    if policy is not None:
        if (key is not None or cert_chain is not None or ignore_unsigned_files
                or sigstore_identity is not None or sigstore_issuer is not None or trusted_root is not None
                or tsa_root_paths or require_timestamp):
            raise Error("policy= decides trust itself: leave out key=, cert_chain=, the sigstore_* "
                        "arguments, tsa_roots=, require_timestamp= and ignore_unsigned_files=")
        return _verify_policy(model, signature, _policy(policy), model_name, ignore, audit_log, progress)
    if model_name is not None:
        raise Error("model_name= selects a policy rule; it needs policy=")
    if cert_chain is None:
        chain: list[str] = []
    elif isinstance(cert_chain, (str, os.PathLike)):
        chain = [os.fspath(cert_chain)]
    else:
        chain = _paths(cert_chain)
    fields = _modelseal.verify(
        os.fspath(model),
        os.fspath(signature),
        _trust(key, chain, sigstore_identity, sigstore_issuer, trusted_root),
        _paths(ignore),
        ignore_unsigned_files,
        _opt_path(audit_log),
        tsa_root_paths,
        require_timestamp,
        progress=progress,
    )
    fields["model"] = pathlib.Path(fields["model"])
    fields["signature"] = pathlib.Path(fields["signature"])
    fields["formats"] = tuple(fields.get("formats", ()))
    fields["format_names"] = tuple(fields.get("format_names", ()))
    return VerificationResult(**fields)


class Policy:
    """A trust policy (``docs/policy.md``): trusted signers, rules per model name, optional Rego."""

    def __init__(self, inner: _native.Policy) -> None:
        self._inner = inner

    @classmethod
    def load(
        cls,
        path: StrPath,
        *,
        allow_pkcs11_modules: Iterable[StrPath] = (),
        allow_insecure_key_permissions: bool = False,
    ) -> "Policy":
        """Load and check the policy file; errors (``modelseal.Error``) name the file, line, field.

        A signer's ``module-path`` is refused unless it is one of ``allow_pkcs11_modules`` (a
        policy file must not choose a library this process loads). A policy, Rego or key file that
        group or others can write is refused unless ``allow_insecure_key_permissions``.
        """
        return cls(
            _translated(_native.Policy.load)(
                os.fspath(path),
                _paths(allow_pkcs11_modules),
                allow_insecure_key_permissions,
            )
        )

    @property
    def path(self) -> pathlib.Path:
        return pathlib.Path(self._inner.path)

    @property
    def audit_log(self) -> Optional[pathlib.Path]:
        log = self._inner.audit_log
        return None if log is None else pathlib.Path(log)

    @property
    def signers(self) -> list[str]:
        return list(self._inner.signers)


def _policy(policy: Union[Policy, StrPath]) -> Policy:
    """A :class:`Policy`, or the policy file at a path, loaded."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, (str, os.PathLike)):
        return Policy.load(policy)
    raise TypeError(f"policy= takes a modelseal.Policy or a path, not {type(policy).__name__}")


def _opt_path(path: Optional[StrPath]) -> Optional[str]:
    return None if path is None else os.fspath(path)


def _verify_policy(
    model: StrPath,
    signature: Union[StrPath, Sequence[StrPath]],
    policy: Policy,
    model_name: Optional[str],
    ignore: Union[StrPath, Iterable[StrPath]],
    audit_log: Optional[StrPath],
    progress: Optional[ProgressCallback] = None,
) -> dict:
    if isinstance(signature, (str, os.PathLike)):
        signatures = [os.fspath(signature)]
    else:
        signatures = _paths(signature)
    allowed, result = _modelseal.verify_policy(
        os.fspath(model), signatures, policy._inner, model_name, _paths(ignore), _opt_path(audit_log),
        progress=progress,
    )
    if not allowed:
        err = VerificationError("denied by the policy: " + "; ".join(result["reasons"]))
        err.result = result  # type: ignore[attr-defined]
        raise err
    return result


def seal(
    model: StrPath,
    out: StrPath,
    key: Union[StrPath, Iterable[StrPath]],
    recipients: Union[StrPath, Iterable[StrPath]],
    *,
    model_name: Optional[str] = None,
    signature: Optional[StrPath] = None,
    cert: Optional[StrPath] = None,
    cert_chain: Union[StrPath, Iterable[StrPath]] = (),
    audit_log: Optional[StrPath] = None,
    allow_insecure_key_permissions: bool = False,
    force: bool = False,
    allow_symlinks: bool = False,
    tsa_url: Optional[str] = None,
    progress: Optional[ProgressCallback] = None,
    scan: bool = True,
    scan_allow: Optional[StrPath] = None,
) -> dict:
    """Sign ``model``, encrypt it with that signature inside for ``recipients`` to ``out``, and
    sign ``out`` (``signature``, default ``out + ".sig"``). Returns the ``modelseal seal --json`` dict.

    ``key`` is one signing key reference or a list of them (a ``str`` or path-like is one key):
    with several, every key signs both the plaintext and ``out``, and the signatures are claims
    files of one signature per key (``modelseal.sig.jsonl`` inside, ``out + ".sig.jsonl"`` beside,
    the default ``signature`` then), which a policy rule requiring several signers counts at
    :func:`unseal`. :func:`endorse` adds a co-signature later.
    An existing ``out`` or ``signature`` is refused unless ``force=True``. With ``tsa_url``, both
    signatures carry an RFC 3161 timestamp from that time-stamping authority (as ``--tsa-url``).
    With ``audit_log``, appends one line to it (also when sealing fails), as ``--audit-log`` does.

    A signing key or KEK file that group or others can read is refused (``KeyAccessError``)
    unless ``allow_insecure_key_permissions=True``.

    The model is first searched for credentials (``scan=False`` turns that off for one call): a
    finding not in the ``scan_allow`` allow-list raises ``ScanError`` and nothing is written."""
    return _modelseal.seal(
        os.fspath(model),
        os.fspath(out),
        _keys(key),
        _keys(recipients),
        model_name,
        None if signature is None else os.fspath(signature),
        None if cert is None else os.fspath(cert),
        _paths(cert_chain),
        _opt_path(audit_log),
        allow_insecure_key_permissions,
        force,
        allow_symlinks,
        tsa_url,
        progress=progress,
        scan=scan,
        scan_allow=_opt_path(scan_allow),
    )


def unseal(
    enc: StrPath,
    out: StrPath,
    *,
    policy: Union[Policy, StrPath],
    key: StrPath,
    model_name: Optional[str] = None,
    signature: Union[StrPath, Iterable[StrPath], None] = None,
    audit_log: Optional[StrPath] = None,
    allow_insecure_key_permissions: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> dict:
    """Verify ``enc`` under ``policy`` (a :class:`Policy` or a policy file's path), decrypt it,
    verify the plaintext, then publish it at ``out`` (files 0400, directories 0500). An existing
    ``out`` that holds exactly the sealed model is left as it is and the dict says
    ``already_unsealed``; any other existing ``out`` raises ``modelseal.Error`` naming the
    difference. On any failure ``out`` is not created and nothing decrypted
    remains: ``VerificationError`` (denied), ``DecryptionError`` (tampered, wrong key), or another
    ``modelseal.Error``. Returns the ``modelseal unseal --json`` dict. Appends one line to the
    audit log ``audit_log`` (default: the policy's ``audit_log``), also when unsealing fails.

    ``signature`` is the outer signature file, or a list of them (a ``.jsonl`` claims file holds
    several); default: ``enc + ".sig"`` and/or ``enc + ".sig.jsonl"``, whichever exist. A rule's
    threshold counts the distinct signers of all outer signatures; the plaintext signature must
    come from at least one signer of the rule (docs/policy.md, "Sealed models: two stages").

    A key file that group or others can read is refused (``KeyAccessError``) unless
    ``allow_insecure_key_permissions=True``."""
    return _modelseal.unseal(
        os.fspath(enc),
        os.fspath(out),
        _policy(policy)._inner,
        os.fspath(key),
        model_name,
        [] if signature is None else _paths(signature),
        _opt_path(audit_log),
        allow_insecure_key_permissions,
        progress=progress,
    )


def endorse(
    enc: StrPath,
    *,
    key: StrPath,
    signature: Optional[StrPath] = None,
    cert: Optional[StrPath] = None,
    cert_chain: Union[StrPath, Iterable[StrPath]] = (),
    allow_insecure_key_permissions: bool = False,
    tsa_url: Optional[str] = None,
    audit_log: Optional[StrPath] = None,
    progress: Optional[ProgressCallback] = None,
) -> dict:
    """Co-sign the sealed model ``enc`` with ``key`` without decrypting it: the statement its
    outer signatures sign is checked against ``enc``'s files and, when they match, signed with
    ``key`` and appended to the claims file ``signature`` (default ``enc + ".sig.jsonl"``), which
    :func:`unseal` reads by default. Returns the ``modelseal endorse --json`` dict.

    A ciphertext file changed since sealing raises ``VerificationError`` naming it, and nothing
    is written. Not sigstore's ``cosign``: an OMS signature of the encrypted model. With
    ``audit_log``, appends one line to it (also when endorsing fails), as ``modelseal endorse
    --audit-log`` does."""
    return _modelseal.endorse(
        os.fspath(enc),
        os.fspath(key),
        _opt_path(signature),
        _opt_path(cert),
        _paths(cert_chain),
        allow_insecure_key_permissions,
        tsa_url,
        _opt_path(audit_log),
        progress=progress,
    )


def keygen(
    algorithm: str,
    out: StrPath,
    public_out: Optional[StrPath] = None,
    *,
    force: bool = False,
) -> str:
    """Generate a signing key pair (``ec-p256``, ``ec-p384``, ``ec-p521`` or ``ed25519``) or an
    encryption key (``aes256-kek``, ``x25519``, ``rsa3072``).

    The private key is written with mode 0600; an existing file is only replaced with
    ``force=True``. Signing keys: the public key goes to ``public_out`` when given, and the public
    key's OMS key hint is returned. Encryption key pairs: the public key goes to ``public_out``,
    by default ``<out>.pub`` (``aes256-kek`` has none), and the key id is returned.
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
    key_password: Optional[str] = None,
    allow_insecure_key_permissions: bool = False,
) -> str:
    """The SPKI PEM public key of a key reference (a key file, a ``pkcs11:`` URI of an EC key pair, or
    an ``awskms://`` signing key)."""
    return _modelseal.public_key(
        os.fspath(key),
        _password_ref(key_password_file, key_password),
        allow_insecure_key_permissions,
    )


@dataclasses.dataclass(frozen=True)
class EncryptResult:
    """What ``encrypt`` wrote (``out``: a local path, or the object-storage location as given)."""

    out: Union[pathlib.Path, str]
    files: int
    bytes: int
    body_digest: str
    recipients: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class DecryptResult:
    """What ``decrypt`` wrote; every byte of it authenticated (``out``: a local path, or the
    object-storage location as given)."""

    out: Union[pathlib.Path, str]
    model_name: str
    files: int
    bytes: int
    body_digest: str
    recipient: tuple[str, str]


def _keys(refs: Union[StrPath, Iterable[StrPath]]) -> list[str]:
    return _paths(refs)


def encrypt(
    model: StrPath,
    out: StrPath,
    recipients: Union[StrPath, Iterable[StrPath]],
    *,
    chunk_size: Optional[int] = None,
    force: bool = False,
    allow_insecure_key_permissions: bool = False,
    audit_log: Optional[StrPath] = None,
    allow_symlinks: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> EncryptResult:
    """Encrypt ``model`` (a directory or a file) to ``out`` for every recipient.

    A recipient is a key reference: an aes256-kek key file, an X25519 or RSA public key file, or a
    ``pkcs11:`` URI of an AES-256 or RSA key in a PKCS#11 token, or a symmetric AWS KMS key
    (``awskms:///<key-id|alias/name|arn>``, one KMS ``Encrypt`` per model).
    ``out`` appears only when complete; an existing ``out`` is replaced (atomically) only with
    ``force=True``. ``out`` may be an object-storage location (``"s3://BUCKET/PREFIX"``, ``gs://``,
    ``az://``; docs/storage.md): the ciphertext is uploaded, the envelope last, and a location
    that holds objects is refused unless ``force=True``. With ``allow_symlinks=True`` a symlink to a file is encrypted as its target's
    bytes (a Hugging Face cache snapshot) instead of refused. ``chunk_size`` is a power of two from 4096 to 16 MiB (default 1 MiB).
    A KEK file that group or others can read is refused (``KeyAccessError``) unless
    ``allow_insecure_key_permissions=True``. With ``audit_log``, appends one line to it (also when
    encryption fails), as ``modelseal encrypt --audit-log`` does.
    """
    fields = _modelseal.encrypt(
        os.fspath(model),
        os.fspath(out),
        _keys(recipients),
        chunk_size,
        force,
        allow_insecure_key_permissions,
        _opt_path(audit_log),
        allow_symlinks,
        progress=progress,
    )
    fields["out"] = _location_or_path(fields["out"])
    fields["recipients"] = [tuple(r) for r in fields["recipients"]]
    return EncryptResult(**fields)


def decrypt(
    enc: StrPath,
    out: StrPath,
    key: StrPath,
    *,
    force: bool = False,
    allow_insecure_key_permissions: bool = False,
    audit_log: Optional[StrPath] = None,
    progress: Optional[ProgressCallback] = None,
) -> DecryptResult:
    """Decrypt ``enc`` with the private key reference ``key`` (a key file or ``awskms://…``) into ``out``.

    ``out`` appears only after every chunk of every file authenticated; on any failure nothing is
    left there. ``enc`` and ``out`` may be object-storage locations (``s3://``, ``gs://``,
    ``az://``): into a bucket, every file's object is completed only after the whole model
    authenticated (docs/storage.md), and ``out`` in the result is the location string. Raises ``DecryptionError`` for a wrong key or a tampered or truncated model, and
    ``KeyAccessError`` for a key file that group or others can read unless
    ``allow_insecure_key_permissions=True``. With ``audit_log``, appends one line to it (also when
    decryption fails), as ``modelseal decrypt --audit-log`` does.
    """
    fields = _modelseal.decrypt(
        os.fspath(enc),
        os.fspath(out),
        os.fspath(key),
        force,
        allow_insecure_key_permissions,
        _opt_path(audit_log),
        progress=progress,
    )
    fields["out"] = _location_or_path(fields["out"])
    fields["recipient"] = tuple(fields["recipient"])
    return DecryptResult(**fields)


def rewrap(
    enc: StrPath,
    key: StrPath,
    *,
    add: Union[StrPath, Iterable[StrPath]] = (),
    remove: Union[StrPath, Iterable[StrPath]] = (),
    allow_insecure_key_permissions: bool = False,
    audit_log: Optional[StrPath] = None,
) -> list[tuple[str, str]]:
    """Add recipients (key references) and remove recipients (key ids, as ``inspect`` shows them,
    or key references such as ``"deploy.pem.pub"``) of ``enc``, unwrapping its data key with ``key``. Only the envelope changes. Returns the
    recipients afterwards as ``(type, key_id)`` pairs. Key files that group or others can read are
    refused unless ``allow_insecure_key_permissions=True``. With ``audit_log``, appends one line to
    it (also when rewrapping fails), as ``modelseal rewrap --audit-log`` does.
    """
    removed = _paths(remove)
    return [
        tuple(r)
        for r in _modelseal.rewrap(
            os.fspath(enc),
            os.fspath(key),
            _keys(add),
            removed,
            allow_insecure_key_permissions,
            _opt_path(audit_log),
        )
    ]


class _SealedRaw(io.RawIOBase):
    """``io.RawIOBase`` over the native authenticated reader, so that ``io.BufferedReader`` and
    everything that takes a binary file work with it."""

    def __init__(self, reader: "_native.SealedReader", name: str) -> None:
        super().__init__()
        self._reader = reader
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        view = memoryview(buffer).cast("B")
        data = self._reader.read1(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        return self._reader.read(-1 if size is None else size)

    def readall(self) -> bytes:
        return self._reader.read(-1)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._reader.seek(offset, whence)

    def tell(self) -> int:
        return self._reader.tell()

    def close(self) -> None:
        self._reader.close()
        super().close()


def open(enc_file: StrPath, key: StrPath) -> BinaryIO:
    """Open one encrypted file for reading: a single-file model, or a file inside an encrypted
    directory (found from its path). Read-only and seekable; every byte returned has been
    authenticated (its whole chunk verified first). Use it with ``with``.

    Opening authenticates the envelope, so a wrong key raises ``DecryptionError`` here; a damaged
    chunk raises ``DecryptionError`` when it is read.
    """
    path = os.fspath(enc_file)
    reader = _translated(_native.SealedReader)(path, os.fspath(key))
    return io.BufferedReader(_SealedRaw(reader, path), buffer_size=1 << 20)  # type: ignore[return-value]


# Verify on load (docs/serving.md); at the end, as it uses nothing above.
from ._load import VerifiedModel, open_model  # noqa: E402
