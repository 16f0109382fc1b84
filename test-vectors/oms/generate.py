#!/usr/bin/env python3
"""Generate modelseal's OMS test vectors with the real model-signing 1.1.1.

Run from anywhere with the project venv (scripts/setup.sh makes it):

    .venv/bin/python test-vectors/oms/generate.py

It rebuilds, beside this file:

- ``models/``      small deterministic model trees (same bytes on every run),
- ``keys/``        deterministic P-256/P-384/P-521 test keys (TEST ONLY, never use them for anything real),
- ``ca/``          a deterministic test PKI: root -> leaf, root -> intermediate -> leaf, and a bad leaf,
- ``signatures/``  one ``<vector>.sig`` per vector: positives signed by model-signing 1.1.1 (its CLI
                   for files+sha256, its Python API for the other hashing configurations), negatives
                   derived from the positives by code below (never by hand),
- ``vectors.json`` the machine-readable index: signature, model, verification material, expected
                   outcome and modelseal exit code, and what 1.1.1 itself said about each vector.

Every vector is checked with 1.1.1 before the index is written: positives must verify, negatives must
fail; the script stops with an error otherwise. ECDSA signatures made by 1.1.1 use random nonces, so the
``.sig`` files change on every run (and so does the key order inside their payloads); models,
keys, certificates and root digests do not.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Optional

import model_signing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
REFERENCE_VERSION = "1.1.1"
SHARD_SIZE = 4096
MAX_MODELS_BYTES = 1 << 20
# Outputs this script owns; everything else beside it (README.md, this file) is left alone.
GENERATED = ("models", "keys", "ca", "signatures", "vectors.json")


# --------------------------------------------------------------------------------------------
# Deterministic content
# --------------------------------------------------------------------------------------------


def pseudo_bytes(label: str, size: int) -> bytes:
    """`size` reproducible bytes for `label`: SHA-256 in counter mode."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


# Each model is {relative path: content}. Names and sizes are chosen to exercise one thing each.
MODELS: dict[str, dict[str, bytes]] = {
    # 1.1.1 sorts resources component-wise (B, a/b, a-b, a.txt); a byte-wise sort of the full
    # strings gives B, a-b, a.txt, a/b, so a signer sorting bytes gets a different root digest.
    "ordering": {
        "B": b"upper-case B sorts first\n",
        "a/b": b"a directory entry\n",
        "a-b": b"dash sorts after the a/ directory component-wise\n",
        "a.txt": b"dot sorts last\n",
    },
    # Colons and spaces in names: legal in files mode (never used in shard vectors, see README).
    "names": {
        "weights:v1.bin": pseudo_bytes("names/weights", 1500),
        "config file.json": b'{"layers": 2, "name": "with space"}\n',
        "sub dir/tok:en izer.txt": b"tokens with a colon and spaces in the path\n",
        "x:y:z": b"three colons\n",
    },
    # Empty files (they are resources in files mode) and nested directories.
    "nested": {
        "empty.bin": b"",
        "top.txt": b"top level\n",
        "l1/mid.txt": b"one level down\n",
        "l1/l2/empty-too": b"",
        "l1/l2/l3/deep.bin": pseudo_bytes("nested/deep", 3000),
    },
    # A model that is one file: the model path is the file and its resource is named ".".
    "single-file": {"model.bin": pseudo_bytes("single/model", 5000)},
    # Shards of SHARD_SIZE: 10000 = 3 shards (last short), 8192 = exactly 2, 4097 = 2 (last 1 byte),
    # 100 = 1 short shard, and an empty file, which has no resource at all in shard mode.
    "sharded": {
        "big.bin": pseudo_bytes("sharded/big", 10000),
        "exact.bin": pseudo_bytes("sharded/exact", 2 * SHARD_SIZE),
        "sub/part.bin": pseudo_bytes("sharded/part", SHARD_SIZE + 1),
        "small.txt": pseudo_bytes("sharded/small", 100),
        "empty.bin": b"",
    },
    # Signed with ignore paths: README.md and notes/ are not signed, and the signed
    # ignore_paths must be applied again at verification (they are present in the tree).
    "ignored": {
        "weights.bin": pseudo_bytes("ignored/weights", 2000),
        "README.md": b"# not signed, ignored at signing time\n",
        "notes/todo.txt": b"also ignored\n",
    },
}
SINGLE_FILE_MODEL = "models/single-file/model.bin"


def write_models() -> None:
    for model, files in MODELS.items():
        for rel, content in files.items():
            path = HERE / "models" / model / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def derive_model(source: str, target: str, change: Callable[[Path], None]) -> str:
    """Copy models/<source> to models/<target>, apply `change` to the copy, return its path."""
    dst = HERE / "models" / target
    shutil.copytree(HERE / "models" / source, dst)
    change(dst)
    return f"models/{target}"


def flip_byte(rel: str, offset: int) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / rel
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))

    return change


# --------------------------------------------------------------------------------------------
# Keys and certificates (cryptography; deterministic)
# --------------------------------------------------------------------------------------------

CURVES = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}
CA_NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
LEAF_NOT_BEFORE = datetime.datetime(2025, 1, 2, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2125, 1, 1, tzinfo=datetime.timezone.utc)


def derive_key(label: str, curve_name: str) -> ec.EllipticCurvePrivateKey:
    """A reproducible EC key: the scalar comes from SHA-512(label), kept below the group order.

    Taking (key_size - 8) bits (at most 512) keeps the scalar < n for P-256/384/521.
    """
    curve = CURVES[curve_name]
    bits = min(512, curve.key_size - 8)
    seed = hashlib.sha512(f"modelseal test key / {label}".encode()).digest()
    scalar = int.from_bytes(seed, "big") >> (512 - bits)
    return ec.derive_private_key(scalar, curve)


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_key(directory: str, name: str, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    """Write NAME.key.pem (PKCS#8, unencrypted) and NAME.pub.pem; return both relative paths."""
    (HERE / directory).mkdir(parents=True, exist_ok=True)
    private = f"{directory}/{name}.key.pem"
    public = f"{directory}/{name}.pub.pem"
    (HERE / private).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (HERE / public).write_bytes(public_pem(key))
    return private, public


def key_hint(key: ec.EllipticCurvePrivateKey) -> str:
    """1.1.1's publicKey.hint: hex SHA-256 of the SubjectPublicKeyInfo PEM text."""
    return hashlib.sha256(public_pem(key)).hexdigest()


@dataclasses.dataclass
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def issue(
    subject_cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: Optional[Issued],
    serial: int,
    *,
    ca_path_length: Optional[int] = None,
    signing_usage: bool = True,
) -> Issued:
    """Issue a certificate (self-signed when `issuer` is None) with fixed serial and validity.

    A CA gets BasicConstraints(ca, path_length) and keyCertSign/cRLSign. A leaf gets
    digitalSignature + EKU codeSigning and an e-mail SAN, or, with signing_usage=False,
    keyAgreement + EKU serverAuth only (no usage that 1.1.1 accepts for signing).
    """
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "modelseal test vectors"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject_cn),
        ]
    )
    is_ca = ca_path_length is not None
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(CA_NOT_BEFORE if is_ca else LEAF_NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if is_ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    elif signing_usage:
        usage.update(digital_signature=True)
    else:
        usage.update(key_agreement=True)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if not is_ca:
        eku = ExtendedKeyUsageOID.CODE_SIGNING if signing_usage else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("release@modelseal.test")]),
            critical=False,
        )
    digest = hashes.SHA384() if signer_key.curve.key_size >= 384 else hashes.SHA256()
    cert = builder.sign(signer_key, digest, ecdsa_deterministic=True)
    return Issued(key, cert)


def write_cert(rel: str, *certs: x509.Certificate) -> str:
    (HERE / rel).parent.mkdir(parents=True, exist_ok=True)
    (HERE / rel).write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return rel


@dataclasses.dataclass
class Material:
    """Paths (relative to HERE) of every key and certificate file the vectors use."""

    keys: dict[str, tuple[str, str]]  # name -> (private, public)
    hints: dict[str, str]
    certs: dict[str, str]  # name -> PEM path


def write_material() -> Material:
    keys = {
        "p256": derive_key("p256", "p256"),
        "p384": derive_key("p384", "p384"),
        "p521": derive_key("p521", "p521"),
        "other-p256": derive_key("other-p256", "p256"),
    }
    paths = {name: write_key("keys", name, key) for name, key in keys.items()}
    hints = {name: key_hint(key) for name, key in keys.items()}

    root = issue("modelseal test root CA", derive_key("ca/root", "p256"), None, 1, ca_path_length=1)
    inter = issue(
        "modelseal test intermediate CA", derive_key("ca/intermediate", "p384"), root, 2,
        ca_path_length=0,
    )
    leaf256 = issue("modelseal test leaf P-256", derive_key("ca/leaf-p256", "p256"), root, 3)
    leaf384 = issue("modelseal test leaf P-384", derive_key("ca/leaf-p384", "p384"), inter, 4)
    nousage = issue(
        "modelseal test leaf without signing usage", derive_key("ca/leaf-nousage", "p256"), root,
        5, signing_usage=False,
    )
    other_root = issue(
        "modelseal untrusted root CA", derive_key("ca/other-root", "p256"), None, 6, ca_path_length=1
    )
    for name, issued in (
        ("root", root), ("intermediate", inter), ("leaf-p256", leaf256), ("leaf-p384", leaf384),
        ("leaf-nousage", nousage), ("other-root", other_root),
    ):
        paths[f"ca/{name}"] = write_key("ca", name, issued.key)
    certs = {
        "root": write_cert("ca/root.pem", root.cert),
        "intermediate": write_cert("ca/intermediate.pem", inter.cert),
        "leaf-p256": write_cert("ca/leaf-p256.pem", leaf256.cert),
        "leaf-p384": write_cert("ca/leaf-p384.pem", leaf384.cert),
        "leaf-nousage": write_cert("ca/leaf-nousage.pem", nousage.cert),
        "other-root": write_cert("ca/other-root.pem", other_root.cert),
    }
    return Material(paths, hints, certs)


# --------------------------------------------------------------------------------------------
# Signing with model-signing 1.1.1
# --------------------------------------------------------------------------------------------

# 1.1.1's API spells BLAKE2b "blake2"; the OMS payload says "blake2b".
API_HASH_NAME = {"sha256": "sha256", "blake2b": "blake2", "blake3": "blake3"}


@dataclasses.dataclass
class Positive:
    name: str
    model: str
    method: str  # "key" | "certificate"
    key: str  # a key name in Material.keys, or a ca/<name> entry
    serialization: dict
    via: str  # "cli" | "api"
    reason: str
    cert: Optional[str] = None  # leaf certificate name (certificate method)
    chain: tuple[str, ...] = ()  # intermediate certificate names put in the bundle
    ignore: tuple[str, ...] = ()  # model-relative paths passed as ignore paths when signing


def cli() -> str:
    path = Path(sys.executable).parent / "model_signing"
    if not path.exists():
        sys.exit(f"generate.py: {path} not found: run with the venv python (.venv/bin/python)")
    return str(path)


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=HERE, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def hashing_config(ser: dict) -> "model_signing.hashing.Config":
    cfg = model_signing.hashing.Config()
    algorithm = API_HASH_NAME[ser["hash"]]
    if ser["method"] == "shards":
        return cfg.use_shard_serialization(hashing_algorithm=algorithm, shard_size=ser["shard_size"])
    return cfg.use_file_serialization(hashing_algorithm=algorithm)


def sign(vec: Positive, mat: Material, sig: str) -> tuple[str, str]:
    """Sign one positive vector with 1.1.1; return (how, exact command or API call)."""
    private = mat.keys[vec.key][0]
    if vec.via == "cli":
        assert vec.serialization == {"method": "files", "hash": "sha256"}, vec.name
        argv = [cli(), "sign", vec.method, vec.model, "--signature", sig, "--private_key", private]
        if vec.method == "certificate":
            argv += ["--signing_certificate", mat.certs[vec.cert]]
            for c in vec.chain:
                argv += ["--certificate_chain", mat.certs[c]]
        for p in vec.ignore:
            argv += ["--ignore-paths", f"{vec.model}/{p}"]
        done = run(argv)
        if done.returncode != 0:
            sys.exit(f"generate.py: 1.1.1 failed to sign {vec.name}: {done.stderr.strip()}")
        return "model_signing CLI", " ".join(["model_signing"] + [quote(a) for a in argv[1:]])

    cfg = model_signing.signing.Config()
    if vec.method == "key":
        cfg.use_elliptic_key_signer(private_key=HERE / private)
        call = f"use_elliptic_key_signer(private_key={private!r})"
    else:
        chain = [HERE / mat.certs[c] for c in vec.chain]
        cfg.use_certificate_signer(
            private_key=HERE / private,
            signing_certificate=HERE / mat.certs[vec.cert],
            certificate_chain=chain,
        )
        call = (
            f"use_certificate_signer(private_key={private!r}, "
            f"signing_certificate={mat.certs[vec.cert]!r}, "
            f"certificate_chain={[mat.certs[c] for c in vec.chain]!r})"
        )
    hcfg = hashing_config(vec.serialization)
    algorithm = API_HASH_NAME[vec.serialization["hash"]]
    if vec.serialization["method"] == "shards":
        hcall = f"use_shard_serialization(hashing_algorithm={algorithm!r}, shard_size={SHARD_SIZE})"
    else:
        hcall = f"use_file_serialization(hashing_algorithm={algorithm!r})"
    cfg.set_hashing_config(hcfg)
    # A relative model path keeps the subject name the model's basename, as the CLI does.
    cfg.sign(Path(vec.model), HERE / sig)
    return "model_signing Python API", (
        f"model_signing.signing.Config().{call}"
        f".set_hashing_config(model_signing.hashing.Config().{hcall})"
        f".sign({vec.model!r}, {sig!r})"
    )


def quote(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in " :") else arg


# --------------------------------------------------------------------------------------------
# Checking with model-signing 1.1.1
# --------------------------------------------------------------------------------------------


def reference_verify(vec: dict) -> dict:
    """Verify one vector with 1.1.1: its CLI for files+sha256, else its API with explicit hashing.

    The CLI always hashes files+sha256 and cannot verify other configurations, so those go
    through `model_signing.verifying.Config().set_hashing_config(...)`.
    """
    ver = vec["verification"]
    material = ver.get("public_key") or ver.get("roots")
    if vec["serialization"] == {"method": "files", "hash": "sha256"}:
        argv = [cli(), "verify", ver["method"], vec["model"], "--signature", vec["signature"]]
        argv += ["--public_key", material] if ver["method"] == "key" else ["--certificate_chain", material]
        done = run(argv)
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return {
            "checked_with": "model_signing CLI",
            "result": "verified" if done.returncode == 0 else "failed",
            "exit_code": done.returncode,
            "message": lines[-1][:300] if lines else "",
        }
    cfg = model_signing.verifying.Config()
    if ver["method"] == "key":
        cfg.use_elliptic_key_verifier(public_key=HERE / material)
    else:
        cfg.use_certificate_verifier(certificate_chain=[HERE / material])
    cfg.set_hashing_config(hashing_config(vec["serialization"]))
    try:
        cfg.verify(HERE / vec["model"], HERE / vec["signature"])
    except Exception as err:  # 1.1.1 raises ValueError, InvalidSignature, OpenSSL errors, ...
        return {
            "checked_with": "model_signing Python API",
            "result": "failed",
            "message": f"{type(err).__name__}: {err}".replace(str(HERE) + "/", "")[:300],
        }
    return {"checked_with": "model_signing Python API", "result": "verified", "message": ""}


# --------------------------------------------------------------------------------------------
# The vectors
# --------------------------------------------------------------------------------------------

FILES_SHA256 = {"method": "files", "hash": "sha256"}

POSITIVES = [
    Positive("key-p256-files-sha256-cli-ordering", "models/ordering", "key", "p256", FILES_SHA256,
             "cli", "component-wise resource order (B, a/b, a-b, a.txt); P-256 key"),
    Positive("key-p384-files-sha256-cli-names", "models/names", "key", "p384", FILES_SHA256,
             "cli", "names with ':' and spaces; P-384 key (ECDSA with SHA-384)"),
    Positive("key-p521-files-sha256-cli-nested", "models/nested", "key", "p521", FILES_SHA256,
             "cli", "empty files and nested directories; P-521 key (ECDSA with SHA-512)"),
    Positive("key-p256-files-sha256-cli-single-file", SINGLE_FILE_MODEL, "key", "p256",
             FILES_SHA256, "cli", "single-file model: the path is a file, its resource is named '.'"),
    Positive("key-p256-files-sha256-cli-ignored", "models/ignored", "key", "p256", FILES_SHA256,
             "cli", "signed with ignore paths README.md and notes; both are present at verification "
             "and must be ignored again from the signed ignore_paths", ignore=("README.md", "notes")),
    Positive("cert-p256-root-files-sha256-cli-ordering", "models/ordering", "certificate",
             "ca/leaf-p256", FILES_SHA256, "cli",
             "certificate method: leaf issued directly by the root, bundle chain = [leaf, root] "
             "(1.1.1 cannot sign with an empty chain)", cert="leaf-p256", chain=("root",)),
    Positive("cert-p384-intermediate-files-sha256-cli-nested", "models/nested", "certificate",
             "ca/leaf-p384", FILES_SHA256, "cli",
             "certificate method: P-384 leaf under an intermediate, bundle chain = [leaf, intermediate]",
             cert="leaf-p384", chain=("intermediate",)),
    Positive("key-p256-shards-sha256-api-sharded", "models/sharded", "key", "p256",
             {"method": "shards", "hash": "sha256", "shard_size": SHARD_SIZE}, "api",
             "shards of 4096 bytes: short last shard, exact multiple, 1-byte last shard, empty file "
             "(no resource)"),
    Positive("key-p384-shards-blake2b-api-sharded", "models/sharded", "key", "p384",
             {"method": "shards", "hash": "blake2b", "shard_size": SHARD_SIZE}, "api",
             "shards with BLAKE2b-512; algorithm 'blake2b-sharded-4096'"),
    Positive("key-p256-files-blake2b-api-nested", "models/nested", "key", "p256",
             {"method": "files", "hash": "blake2b"}, "api", "files with BLAKE2b-512"),
    Positive("key-p256-files-blake3-api-nested", "models/nested", "key", "p256",
             {"method": "files", "hash": "blake3"}, "api", "files with BLAKE3 (32-byte digests)"),
    Positive("cert-p256-root-shards-sha256-api-sharded", "models/sharded", "certificate",
             "ca/leaf-p256", {"method": "shards", "hash": "sha256", "shard_size": SHARD_SIZE}, "api",
             "certificate method with shards", cert="leaf-p256", chain=("root",)),
]


def verification_for(vec: Positive, mat: Material) -> dict:
    if vec.method == "key":
        return {"method": "key", "public_key": mat.keys[vec.key][1]}
    return {"method": "certificate", "roots": mat.certs["root"]}


def read_bundle(sig: str) -> dict:
    return json.loads((HERE / sig).read_text(encoding="utf-8"))


def write_bundle(sig: str, bundle: dict) -> None:
    (HERE / sig).write_text(json.dumps(bundle, separators=(",", ":")), encoding="utf-8")


def statement_of(bundle: dict) -> dict:
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def copy_sig(source: str, name: str) -> str:
    target = f"signatures/{name}.sig"
    shutil.copyfile(HERE / source, HERE / target)
    return target


def modify_payload_digest(source: str, name: str) -> str:
    """Change one hex digit of the first resource digest in the payload; keep the signature."""
    bundle = read_bundle(source)
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    digest = statement_of(bundle)["predicate"]["resources"][0]["digest"]
    assert payload.count(digest.encode()) == 1, "resource digest must occur once in the payload"
    flipped = ("1" if digest[0] != "1" else "2") + digest[1:]
    payload = payload.replace(digest.encode(), flipped.encode())
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    target = f"signatures/{name}.sig"
    write_bundle(target, bundle)
    return target


def replace_key_hint(source: str, name: str, hint: str) -> str:
    bundle = read_bundle(source)
    assert bundle["verificationMaterial"]["publicKey"]["hint"] != hint
    bundle["verificationMaterial"]["publicKey"]["hint"] = hint
    target = f"signatures/{name}.sig"
    write_bundle(target, bundle)
    return target


def corrupt_signature(source: str, name: str) -> str:
    """Flip the last byte of the DER ECDSA signature (the low byte of s)."""
    bundle = read_bundle(source)
    sig = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 0x01
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    target = f"signatures/{name}.sig"
    write_bundle(target, bundle)
    return target


def truncate(source: str, name: str) -> str:
    data = (HERE / source).read_bytes()
    target = f"signatures/{name}.sig"
    (HERE / target).write_bytes(data[: len(data) // 2])
    return target


def negatives(pos: dict[str, dict], mat: Material, sign_nousage: Callable[[], str]) -> list[dict]:
    """Negative vectors, each derived by code from a positive one (named in `derived_from`)."""
    base = pos["key-p256-files-sha256-cli-ordering"]
    shards = pos["key-p256-shards-sha256-api-sharded"]
    blake3 = pos["key-p256-files-blake3-api-nested"]
    cert = pos["cert-p256-root-files-sha256-cli-ordering"]
    out: list[dict] = []

    def neg(name: str, source: dict, reason: str, *, exit_code: int = 1, model=None, sig=None,
            verification=None, how: str) -> None:
        out.append({
            "name": name,
            "signature": sig or copy_sig(source["signature"], name),
            "model": model or source["model"],
            "verification": verification or source["verification"],
            "serialization": source["serialization"],
            "expect": "fail",
            "exit_code": exit_code,
            "reason": reason,
            "derived_from": source["name"],
            "made_by": how,
        })

    neg("neg-tampered-file", base, "one byte of a/b changed after signing",
        model=derive_model("ordering", "ordering-tampered", flip_byte("a/b", 0)),
        how="copy of models/ordering with byte 0 of a/b XOR 0x01; signature copied unchanged")
    neg("neg-tampered-shard", shards, "one byte in the second shard of big.bin changed after signing",
        model=derive_model("sharded", "sharded-tampered", flip_byte("big.bin", 5000)),
        how="copy of models/sharded with byte 5000 of big.bin XOR 0x01; signature copied unchanged")
    neg("neg-tampered-blake3", blake3, "one byte of l1/l2/l3/deep.bin changed (BLAKE3 files)",
        model=derive_model("nested", "nested-tampered", flip_byte("l1/l2/l3/deep.bin", 1234)),
        how="copy of models/nested with byte 1234 of l1/l2/l3/deep.bin XOR 0x01")
    neg("neg-signature-of-other-model", base, "a valid signature of models/ordering checked "
        "against models/nested: every resource differs", model="models/nested",
        how="signature of the source vector, used with another model")
    neg("neg-extra-file", base, "a file added after signing (not allowed without "
        "--ignore-unsigned-files)",
        model=derive_model("ordering", "ordering-extra",
                           lambda root: (root / "extra.bin").write_bytes(b"not signed\n")),
        how="copy of models/ordering plus extra.bin")
    neg("neg-missing-file", base, "a signed file (a.txt) removed after signing",
        model=derive_model("ordering", "ordering-missing", lambda root: (root / "a.txt").unlink()),
        how="copy of models/ordering without a.txt")
    neg("neg-modified-payload", base, "one hex digit of a resource digest changed in the DSSE "
        "payload; the signature no longer covers the payload",
        sig=modify_payload_digest(base["signature"], "neg-modified-payload"),
        how="payload base64-decoded, first hex digit of resources[0].digest changed, re-encoded; "
            "sig kept")
    neg("neg-corrupt-signature", base, "last byte of the DER ECDSA signature flipped",
        sig=corrupt_signature(base["signature"], "neg-corrupt-signature"),
        how="dsseEnvelope.signatures[0].sig decoded, last byte XOR 0x01, re-encoded")
    neg("neg-wrong-key-hint", base, "publicKey.hint names another key (the signature itself is "
        "valid for the given key): 1.1.1 rejects on the hint",
        sig=replace_key_hint(base["signature"], "neg-wrong-key-hint", mat.hints["other-p256"]),
        how="verificationMaterial.publicKey.hint replaced by the hint of keys/other-p256.pub.pem")
    neg("neg-wrong-public-key", base, "verified with a public key that did not sign",
        verification={"method": "key", "public_key": mat.keys["other-p256"][1]},
        how="source signature, verified with keys/other-p256.pub.pem")
    neg("neg-truncated-bundle", base, "signature file cut in half: not JSON", exit_code=2,
        sig=truncate(base["signature"], "neg-truncated-bundle"),
        how="first half of the source signature file's bytes")
    neg("neg-cert-untrusted-root", cert, "certificate chain checked against a root that did not "
        "issue the leaf",
        verification={"method": "certificate", "roots": mat.certs["other-root"]},
        how="source signature, verified with ca/other-root.pem as the only root")
    neg("neg-cert-no-signing-usage", cert, "leaf chains to the root but has neither KeyUsage "
        "digitalSignature nor EKU codeSigning", sig=sign_nousage(),
        how="model_signing sign certificate models/ordering with ca/leaf-nousage.{key.,}pem "
            "(1.1.1 signs it; its verifier refuses the leaf)")
    return out


def clean() -> None:
    for name in GENERATED:
        path = HERE / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    if model_signing.__version__ != REFERENCE_VERSION:
        sys.exit(f"generate.py: need model-signing {REFERENCE_VERSION}, "
                 f"found {model_signing.__version__}")
    os.chdir(HERE)
    clean()
    write_models()
    mat = write_material()
    (HERE / "signatures").mkdir()

    vectors: list[dict] = []
    by_name: dict[str, dict] = {}
    for p in POSITIVES:
        sig = f"signatures/{p.name}.sig"
        how, command = sign(p, mat, sig)
        statement = statement_of(read_bundle(sig))
        entry = {
            "name": p.name,
            "signature": sig,
            "model": p.model,
            "verification": verification_for(p, mat),
            "serialization": p.serialization,
            "expect": "verify",
            "exit_code": 0,
            "reason": p.reason,
            "root_digest": statement["subject"][0]["digest"]["sha256"],
            "made_by": f"{how}: {command}",
        }
        vectors.append(entry)
        by_name[p.name] = entry

    def sign_nousage() -> str:
        bad = Positive("neg-cert-no-signing-usage", "models/ordering", "certificate",
                       "ca/leaf-nousage", FILES_SHA256, "cli", "", cert="leaf-nousage",
                       chain=("root",))
        sig = f"signatures/{bad.name}.sig"
        sign(bad, mat, sig)
        return sig

    vectors += negatives(by_name, mat, sign_nousage)

    failures = []
    for vec in vectors:
        vec["reference"] = reference_verify(vec)
        want = "verified" if vec["expect"] == "verify" else "failed"
        if vec["reference"]["result"] != want:
            failures.append(f"{vec['name']}: 1.1.1 {vec['reference']}")
    if failures:
        sys.exit("generate.py: 1.1.1 disagrees with the expected outcome:\n  " + "\n  ".join(failures))

    size = tree_size(HERE / "models")
    if size > MAX_MODELS_BYTES:
        sys.exit(f"generate.py: models/ is {size} bytes, over the {MAX_MODELS_BYTES} budget")

    index = {
        "description": "OMS signature test vectors for modelseal; see README.md. Paths are "
                       "relative to this file's directory.",
        "generator": "test-vectors/oms/generate.py",
        "reference": f"model-signing {model_signing.__version__}",
        "shard_size": SHARD_SIZE,
        "exit_codes": {"0": "verified", "1": "verification failed", "2": "malformed input"},
        "vectors": vectors,
    }
    (HERE / "vectors.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    positives = sum(v["expect"] == "verify" for v in vectors)
    print(f"generate.py: {len(vectors)} vectors ({positives} positive, "
          f"{len(vectors) - positives} negative), models {size} bytes; all checked with "
          f"model-signing {model_signing.__version__}")


if __name__ == "__main__":
    # 1.1.1 keeps ignore paths in a frozenset, so their order in the payload follows Python's
    # string hash; a fixed seed makes payloads reproducible (only the ECDSA nonces still vary).
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env)
    main()
