import io
import os
import pathlib
from typing import Any, BinaryIO, Callable, Iterable, Optional, Sequence, Union, overload

StrPath = Union[str, os.PathLike[str]]
#: ``progress=``: called with ``(bytes_done, total_bytes)`` at most five times a second and once at
#: the end; an exception it raises is raised when the operation returns.
ProgressCallback = Callable[[int, int], None]

__version__: str

class Error(Exception):
    """Base class of every modelseal error."""

class VerificationError(Error):
    """The model or signature is not what a trusted signer signed."""

class DecryptionError(Error):
    """An encrypted model failed to decrypt or authenticate."""

class KeyAccessError(Error):
    """A key could not be read, parsed or used (also: a PKCS#11 module, token, PIN or object)."""

class FormatError(Error):
    """A signature or encrypted file is malformed."""

class ScanError(Error):
    """The content gate found credentials in the model: nothing was signed or written."""

class NotFoundError(Error, FileNotFoundError):
    """A file or directory modelseal needs does not exist. A key file that does not exist raises a
    class derived from both ``KeyAccessError`` and this one."""

class PermissionDeniedError(Error, PermissionError):
    """A file or directory modelseal needs cannot be opened (likewise combined with the error's own
    class)."""

class VerificationResult:
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
    shard_size: Optional[int]
    sigstore_identity: Optional[str]
    sigstore_issuer: Optional[str]
    signing_time: Optional[str]
    log_index: Optional[int]
    timestamp_authority: Optional[str]
    line: Optional[int]
    formats: tuple[dict[str, Any], ...]  # path, format, names, globals, note: from the verified bytes
    format_names: tuple[str, ...]

def sign(
    model: StrPath,
    key: StrPath,  # a key file, or "pkcs11:token=…;object=…?module-path=…&pin-source=file:…"
    signature: Optional[StrPath] = None,
    *,
    hash: str = "sha256",
    shards: bool = False,
    shard_size: Optional[int] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),  # one str is one path
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
    tensor_aligned: bool = False,  # with shards=True: shard size from the safetensors tensors
) -> Union[pathlib.Path, str]: ...
def scan(
    model: StrPath,
    *,
    allow: Optional[StrPath] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),
    allow_symlinks: bool = False,
) -> dict[str, Any]: ...
def digest(
    model: StrPath,
    *,
    hash: str = "sha256",
    shards: bool = False,
    shard_size: Optional[int] = None,
    ignore: Iterable[StrPath] = (),
    allow_symlinks: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> dict[str, Any]: ...
@overload
def verify(
    model: StrPath,
    signature: StrPath,
    *,
    key: Optional[StrPath] = None,
    cert_chain: Optional[Union[StrPath, Sequence[StrPath]]] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),  # one str is one path
    ignore_unsigned_files: bool = False,
    sigstore_identity: Optional[str] = None,
    sigstore_issuer: Optional[str] = None,
    trusted_root: Optional[StrPath] = None,
    audit_log: Optional[StrPath] = None,
    tsa_roots: Iterable[StrPath] = (),
    require_timestamp: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> VerificationResult: ...
@overload
def verify(
    model: StrPath,
    signature: Union[StrPath, Sequence[StrPath]],
    *,
    policy: Union[Policy, StrPath],
    model_name: Optional[str] = None,
    ignore: Union[StrPath, Iterable[StrPath]] = (),  # one str is one path
    audit_log: Optional[StrPath] = None,
    progress: Optional[ProgressCallback] = None,
) -> dict[str, Any]: ...

def harden_process() -> None:
    """PR_SET_DUMPABLE 0 and RLIMIT_CORE 0 for this process (never called implicitly)."""

class Policy:
    @classmethod
    def load(
        cls,
        path: StrPath,
        *,
        allow_pkcs11_modules: Iterable[StrPath] = ...,
        allow_insecure_key_permissions: bool = ...,
    ) -> Policy: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def audit_log(self) -> Optional[pathlib.Path]: ...
    @property
    def signers(self) -> list[str]: ...

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
) -> dict[str, Any]: ...
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
) -> dict[str, Any]: ...
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
) -> dict[str, Any]: ...
def keygen(
    algorithm: str,
    out: StrPath,
    public_out: Optional[StrPath] = None,
    *,
    force: bool = False,
) -> str: ...
def public_key(
    key: StrPath,
    *,
    key_password_file: Optional[StrPath] = None,
    key_password: Optional[str] = None,
    allow_insecure_key_permissions: bool = False,
) -> str: ...

class EncryptResult:
    out: Union[pathlib.Path, str]
    files: int
    bytes: int
    body_digest: str
    recipients: list[tuple[str, str]]

class DecryptResult:
    out: Union[pathlib.Path, str]
    model_name: str
    files: int
    bytes: int
    body_digest: str
    recipient: tuple[str, str]

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
) -> EncryptResult: ...
def decrypt(
    enc: StrPath,
    out: StrPath,
    key: StrPath,
    *,
    force: bool = False,
    allow_insecure_key_permissions: bool = False,
    audit_log: Optional[StrPath] = None,
    progress: Optional[ProgressCallback] = None,
) -> DecryptResult: ...
def rewrap(
    enc: StrPath,
    key: StrPath,
    *,
    add: Union[StrPath, Iterable[StrPath]] = (),
    remove: Union[StrPath, Iterable[StrPath]] = (),  # key ids or key references
    allow_insecure_key_permissions: bool = False,
    audit_log: Optional[StrPath] = None,
) -> list[tuple[str, str]]: ...
def open(enc_file: StrPath, key: StrPath) -> BinaryIO: ...

class VerifiedModel:
    """A model opened by `open_model`: signature and trust verified, file list matched; every
    read verifies the file it returns (`VerificationError` otherwise, and nothing returned)."""
    @property
    def files(self) -> list[str]: ...
    @property
    def root_digest(self) -> str: ...
    @property
    def info(self) -> dict[str, Any]: ...
    @property
    def policy_decisions(self) -> list[dict[str, Any]]: ...
    def read(self, name: str) -> bytes: ...
    def open(self, name: str) -> io.BytesIO: ...
    def load_safetensors(self, name: str, framework: str = "numpy") -> dict[str, Any]: ...
    def safe_open(self, name: str, framework: str = "numpy") -> SafeOpen: ...

def open_model(
    model: StrPath,
    signature: Union[None, StrPath, Sequence[StrPath]] = None,
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
    policy: Optional[Union[Policy, StrPath]] = None,
    model_name: Optional[str] = None,
) -> VerifiedModel: ...

class SafeOpen:
    """Lazy verified tensors of one safetensors file (`VerifiedModel.safe_open`)."""
    def keys(self) -> list[str]: ...
    def metadata(self) -> dict[str, str]: ...
    def get_tensor(self, key: str) -> Any: ...
    def get_slice(self, key: str) -> TensorSlice: ...
    def __enter__(self) -> SafeOpen: ...
    def __exit__(self, *exc: object) -> None: ...

class TensorSlice:
    """One tensor of a `SafeOpen`, read (and verified) only as far as it is indexed."""
    def get_shape(self) -> list[int]: ...
    def get_dtype(self) -> str: ...
    def __getitem__(self, index: Any) -> Any: ...
