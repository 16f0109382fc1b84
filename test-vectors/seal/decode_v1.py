"""Independent decoder for the modelseal encrypted format v1 (docs/FORMAT.md), for the test vectors.

Uses only Python `cryptography` (AES-GCM, HKDF, HMAC, HPKE, RSA-OAEP) and `cbor2`. Decrypts every
positive vector with every key it names and compares with the plaintext, recomputes the values in
vector.json, and checks every negative vector fails with its expected class.

Run: /work/main/.venv/bin/python -m pytest test-vectors/seal/decode_v1.py
"""

import hashlib
import hmac as std_hmac
import json
import os
import re
import shutil
import tempfile
import struct
import subprocess
import sys
from pathlib import Path

import cbor2
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).parent
MAGIC = b"\x89MSEAL\r\n"
MAX_HEADER_LEN = 32 * 1024 * 1024


class Fail(Exception):
    def __init__(self, cls, detail=""):
        super().__init__(f"[{cls}] {detail}")
        self.cls = cls


def lp(x):
    return struct.pack(">I", len(x)) + x


def hkdf(ikm, salt, info, n):
    return HKDF(hashes.SHA256(), n, salt or None, info).derive(ikm)


def strict_cbor(b):
    """§5.1: decode, then require the deterministic re-encoding to equal the input."""
    try:
        v = cbor2.loads(b)
    except Exception as e:
        raise Fail("format", f"CBOR: {e}")
    if cbor2.dumps(v, canonical=True) != b:
        raise Fail("format", "not deterministic CBOR")
    return v


def parse(data, single):
    if data[:8] != MAGIC:
        raise Fail("format", "magic")
    ver = struct.unpack(">H", data[8:10])[0]
    if ver != 1:
        raise Fail("version", str(ver))
    hl = struct.unpack(">I", data[10:14])[0]
    if hl == 0 or hl > MAX_HEADER_LEN:
        raise Fail("limit", "header_len")
    if 46 + hl > len(data) or (not single and 46 + hl != len(data)):
        raise Fail("format", "length")
    header = strict_cbor(data[14 : 14 + hl])
    if not isinstance(header, dict) or set(header) != {1, 2}:
        raise Fail("format", "header keys")
    if not 1 <= len(header[2]) <= 64:
        raise Fail("limit", f"{len(header[2])} stanzas")
    check_stanzas(header[2])
    body = strict_cbor(header[1])
    if not isinstance(body, dict) or set(body) != {1, 2, 3, 4}:
        raise Fail("format", "body keys")
    c = body[3]
    if c & (c - 1) or not 4096 <= c <= 1 << 24:
        raise Fail("format", "chunk size")
    if body[1] != (1 if single else 0):
        raise Fail("format", "layout")
    check_files(body[4], single)
    return data[: 14 + hl], data[14 + hl : 46 + hl], header, body, 46 + hl


def check_stanzas(stanzas):
    """§5.4 rule 8 (generic part): type grammar, printable key ids, unique (type, key_id)."""
    seen = set()
    for s in stanzas:
        t, kid = s[1], s[2]
        if not re.fullmatch(r"[a-z0-9][a-z0-9./-]*", t) or not re.fullmatch(r"[\x21-\x7e]+", kid):
            raise Fail("format", "stanza type or key id")
        if (t, kid) in seen:
            raise Fail("format", "duplicate stanza")
        seen.add((t, kid))


def check_files(files, single):
    """§5.4 rules 3-7: the single-file entry, path grammar, component-wise order, no file-as-dir."""
    if single:
        if len(files) != 1 or files[0][1] != ".":
            raise Fail("format", "single-file entry")
        return
    keys = []
    for f in files:
        p = f[1]
        parts = p.split("/")
        if not 1 <= len(p.encode()) <= 4096 or any(
            not 1 <= len(c.encode()) <= 255 or c in (".", "..") or "\0" in c or "\\" in c for c in parts
        ):
            raise Fail("format", f"path {p!r}")
        if parts[0] == "modelseal.envelope":
            raise Fail("format", "reserved name")
        if f[2] > 1 << 40:
            raise Fail("format", "file size")
        keys.append(tuple(parts))
    for a, b in zip(keys, keys[1:]):
        if not a < b:
            raise Fail("format", "paths not strictly ascending")
        if b[: len(a)] == a:
            raise Fail("format", "a file is also a directory")


GIT_NAMES = {".git", ".gitattributes", ".github", ".gitignore"}


def inventory(root, listed):
    """§10 step 9: every listed path a regular file, nothing unlisted (symlinks not followed)."""
    dirs = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    for cur, subdirs, names in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(cur, root)
        for name in subdirs + names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            full = os.path.join(cur, name)
            if rel == "modelseal.envelope" or rel.split("/")[0] in GIT_NAMES and rel not in listed:
                if name in subdirs:
                    subdirs.remove(name)
                continue
            if rel in listed:
                if os.path.islink(full) or not os.path.isfile(full):
                    raise Fail("tree", f"{rel} is not a regular file")
            elif rel in dirs and not os.path.islink(full):
                continue
            else:
                raise Fail("tree", f"extra entry {rel}")
    for p in listed:
        if not os.path.lexists(os.path.join(root, p)):
            raise Fail("tree", f"missing file {p}")


def stanza_context(t, kid, digest):
    return lp(b"modelseal/v1/stanza") + lp(t.encode()) + lp(kid.encode()) + lp(digest)


def key_id(t, material):
    return hashlib.sha256(lp(f"modelseal/v1/key-id/{t}".encode()) + material).hexdigest()[:32]


def load_identity(name):
    """Returns (type, key_id, unwrap(stanza, digest) -> dek)."""
    keys = HERE / "keys"
    if name.startswith("kek"):
        kek = bytes.fromhex((keys / f"{name}.hex").read_text().strip())
        kid = key_id("aes256-kek", kek)

        def unwrap(s, digest):
            if len(s[3]) != 48 or len(s[4][1]) != 12:
                raise Fail("format", "kek stanza shape")
            try:
                return AESGCM(kek).decrypt(s[4][1], s[3], stanza_context("aes256-kek", kid, digest))
            except Exception:
                raise Fail("unwrap")

        return "aes256-kek", kid, unwrap
    sk = serialization.load_pem_private_key((keys / f"{name}.pem").read_bytes(), None)
    if isinstance(sk, x25519.X25519PrivateKey):
        pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = key_id("x25519-hpke", pk)
        suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)

        def unwrap(s, digest):
            try:
                return suite.decrypt(s[4][1] + s[3], sk, info=stanza_context("x25519-hpke", kid, digest))
            except Exception:
                raise Fail("unwrap")

        return "x25519-hpke", kid, unwrap
    assert isinstance(sk, rsa.RSAPrivateKey)
    spki = sk.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = key_id("rsa-oaep", spki)

    def unwrap(s, digest):
        h = {"sha256": hashes.SHA256(), "sha1": hashes.SHA1()}[s[4][1]]
        if len(s[3]) != sk.key_size // 8:
            raise Fail("format", "rsa length")
        try:
            return sk.decrypt(s[3], padding.OAEP(padding.MGF1(h), h, None))
        except Exception:
            raise Fail("unwrap")

    return "rsa-oaep", kid, unwrap


def decrypt(path, key_name):
    """Returns {relative path: plaintext} or raises Fail."""
    path = Path(path)
    single = path.is_file()
    data = (path.read_bytes() if single else (path / "modelseal.envelope").read_bytes())
    mac_input, mac, header, body, env_len = parse(data, single)
    digest = hashlib.sha256(header[1]).digest()
    t, kid, unwrap = load_identity(key_name)
    matches = [s for s in header[2] if s[1] == t and s[2] == kid]
    if not matches:
        raise Fail("no-recipient")
    dek = unwrap(matches[0], digest)
    if len(dek) != 32:
        raise Fail("unwrap")
    kmac = hkdf(dek, b"", lp(b"modelseal/v1/header-mac"), 32)
    h = hmac.HMAC(kmac, hashes.SHA256())
    h.update(mac_input)
    if not std_hmac.compare_digest(h.finalize(), mac):
        raise Fail("header-auth")
    c = body[3]
    if not single:
        inventory(path, {f[1] for f in body[4]})
    out = {}
    for f in body[4]:
        p, size, salt = f[1], f[2], f[3]
        n = max(1, -(-size // c))
        ct_len = size + 16 * n
        if single:
            blob = data[env_len:]
        else:
            blob = (path / p).read_bytes()
        if len(blob) < ct_len:
            raise Fail("truncated")
        if len(blob) > ct_len:
            raise Fail("extended")
        k = hkdf(dek, salt, lp(b"modelseal/v1/file-key") + lp(p.encode()), 32)
        np_ = hkdf(dek, salt, lp(b"modelseal/v1/file-nonce") + lp(p.encode()), 7)
        pt = b""
        for i in range(n):
            chunk = blob[i * (c + 16) : min((i + 1) * (c + 16), ct_len)]
            nonce = np_ + struct.pack(">I", i) + (b"\x01" if i == n - 1 else b"\x00")
            try:
                pt += AESGCM(k).decrypt(nonce, chunk, b"")
            except Exception:
                raise Fail("chunk-auth", f"{p} chunk {i}")
        out[p] = pt
    return out


def key_names(vector):
    return [k.split(" ")[0] for k in vector["keys"]]


def test_positive_vectors():
    seen = 0
    for d in sorted((HERE / "v1").iterdir()):
        v = json.loads((d / "vector.json").read_text())
        enc = d / "encrypted.mseal" if (d / "encrypted.mseal").exists() else d / "encrypted"
        for name in key_names(v):
            got = decrypt(enc, name)
            if enc.is_file():
                assert got == {".": (d / "input.bin").read_bytes()}, d.name
            else:
                assert got == {p: (d / "input" / p).read_bytes() for p in got}, d.name
                assert sorted(got) == sorted(f["path"] for f in v["files"])
            seen += 1
        # Recompute the intermediate values of vector.json from the DEK.
        dek = bytes.fromhex(v["DEK"])
        assert hkdf(dek, b"", lp(b"modelseal/v1/header-mac"), 32).hex() == v["K_mac"]
        for f in v["files"]:
            salt, p = bytes.fromhex(f["salt"]), f["path"].encode()
            assert hkdf(dek, salt, lp(b"modelseal/v1/file-key") + lp(p), 32).hex() == f["K_file"]
            assert hkdf(dek, salt, lp(b"modelseal/v1/file-nonce") + lp(p), 7).hex() == f["NP"]
        digest = bytes.fromhex(v["body_digest"])
        for s in v["stanzas"]:
            assert stanza_context(s["type"], s["key_id"], digest).hex() == s["stanza_context"]
    assert seen >= 12


def test_negative_vectors():
    for d in sorted((HERE / "negative").iterdir()):
        exp = json.loads((d / "expected.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            enc = d / "encrypted.mseal"
            if not enc.exists():
                # A private copy, so that `mkdir` (an empty directory git cannot keep) can be added.
                enc = Path(tmp) / "encrypted"
                shutil.copytree(d / "encrypted", enc, symlinks=True)
                if "mkdir" in exp:
                    (enc / exp["mkdir"]).mkdir()
            try:
                decrypt(enc, exp["key"])
            except Fail as e:
                assert e.cls == exp["error"], f"{d.name}: {e}"
            else:
                raise AssertionError(f"{d.name}: decrypted")


def header_bytes(enc):
    data = enc.read_bytes() if enc.is_file() else (enc / "modelseal.envelope").read_bytes()
    return data[14 : 14 + struct.unpack(">I", data[10:14])[0]]


def zcbor_validate(cddl, header, tmp):
    """Runs `zcbor validate -t header` (0.9.1 reads binary files wrongly, so hex it)."""
    hexfile = Path(tmp) / "header.cborhex"
    hexfile.write_text(header.hex())
    zcbor = Path(sys.executable).parent / "zcbor"
    r = subprocess.run([zcbor, "validate", "-c", cddl, "-t", "header", "-i", hexfile], capture_output=True, text=True)
    return r.returncode == 0, r.stderr


def test_cddl_accepts_positive_headers_and_rejects_out_of_range_ones():
    """§5.2: the CDDL in FORMAT.md, extracted verbatim, validates every positive header."""
    text = (HERE / "../../docs/FORMAT.md").read_text()
    cddl_text = text.split("```cddl\n", 1)[1].split("```", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        cddl = Path(tmp) / "format.cddl"
        cddl.write_text(cddl_text)
        checked = 0
        for d in sorted((HERE / "v1").iterdir()):
            for enc in [d / "encrypted.mseal", d / "encrypted", d / "before"]:
                if enc.exists():
                    ok, err = zcbor_validate(cddl, header_bytes(enc), tmp)
                    assert ok, f"{enc}: {err}"
                    checked += 1
        assert checked >= 10
        # Limits that the CDDL itself states: chunk size range, 1*64 stanzas.
        for name in ["chunk-size-2048", "stanzas-65"]:
            ok, err = zcbor_validate(cddl, header_bytes(HERE / "negative" / name / "encrypted.mseal"), tmp)
            assert not ok and "CddlValidationError" in err, name


if __name__ == "__main__":
    test_positive_vectors()
    test_negative_vectors()
    print("ok")
