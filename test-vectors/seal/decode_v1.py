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
import struct
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
    if set(header) != {1, 2}:
        raise Fail("format", "header keys")
    body = strict_cbor(header[1])
    if set(body) != {1, 2, 3, 4}:
        raise Fail("format", "body keys")
    c = body[3]
    if c & (c - 1) or not 4096 <= c <= 1 << 24:
        raise Fail("format", "chunk size")
    if body[1] != (1 if single else 0):
        raise Fail("format", "layout")
    return data[: 14 + hl], data[14 + hl : 46 + hl], header, body, 46 + hl


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
        try:
            decrypt(d / "encrypted.mseal", exp["key"])
        except Fail as e:
            assert e.cls == exp["error"], f"{d.name}: {e}"
        else:
            raise AssertionError(f"{d.name}: decrypted")


if __name__ == "__main__":
    test_positive_vectors()
    test_negative_vectors()
    print("ok")
