"""Generates the adversarial OMS bundles of test-vectors/adversarial/ (issue 9): each is signed
with a valid P-256 signature by test-vectors/oms/keys/p256.key.pem over a statement (or a bundle
shape) that a verifier must refuse, so that the refusal comes from the check under test, never from
a bad signature. The model they claim to sign is test-vectors/oms/models/ordering.

Run: .venv/bin/python test-vectors/adversarial/generate.py   (rewrites bundles/ and cases.json)

ECDSA signatures are randomized, so regenerating changes signature bytes, never verdicts;
tests/interop/test_adversarial.py checks every verdict against modelseal and model-signing 1.1.1.
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).parent
OMS = HERE.parent / "oms"
MODEL = OMS / "models" / "ordering"
KEY = serialization.load_pem_private_key((OMS / "keys" / "p256.key.pem").read_bytes(), None)
PUB_PEM = (OMS / "keys" / "p256.pub.pem").read_bytes()
PAYLOAD_TYPE = "application/vnd.in-toto+json"
FILES = ["B", "a/b", "a-b", "a.txt"]


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(payload_type: str, payload: bytes) -> str:
    der = KEY.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode()


def resources(names=FILES):
    out = []
    for n in names:
        data = (MODEL / n).read_bytes() if (MODEL / n).is_file() else b""
        out.append({"name": n, "digest": hashlib.sha256(data).hexdigest(), "algorithm": "sha256"})
    return out


def statement(res, **override):
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in res)).hexdigest()
    s = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "ordering", "digest": {"sha256": root}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": {
                "ignore_paths": [".gitattributes", ".github", ".git", ".gitignore"],
                "allow_symlinks": False,
                "hash_type": "sha256",
                "method": "files",
            },
            "resources": res,
        },
    }
    s.update(override)
    return json.dumps(s, indent=2).encode()


def bundle(payload: bytes, payload_type=PAYLOAD_TYPE, signatures=None, material=None):
    hint = hashlib.sha256(PUB_PEM).hexdigest()
    sigs = signatures if signatures is not None else [{"sig": sign(payload_type, payload), "keyid": ""}]
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": material or {"publicKey": {"hint": hint}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": payload_type,
                "signatures": sigs,
            },
        }
    ).encode()


def nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def cases():
    good = statement(resources())
    s1 = {"sig": sign(PAYLOAD_TYPE, good), "keyid": ""}
    res_dup = resources() + [resources(["B"])[0]]
    # Sorted like a signer would, so only the duplicate is wrong.
    res_dup.sort(key=lambda r: tuple(r["name"].split("/")))
    yield "two-signatures", bundle(good, signatures=[s1, dict(s1)]), "expected exactly one"
    yield "no-signature", bundle(good, signatures=[]), "expected exactly one"
    yield "wrong-payload-type", bundle(good, payload_type="application/json"), "payload type"
    yield "dotdot-resource", bundle(statement(resources() + [{"name": "../etc/passwd", "digest": "00" * 32, "algorithm": "sha256"}])), "'..' component"
    yield "absolute-resource", bundle(statement([{"name": "/etc/passwd", "digest": "00" * 32, "algorithm": "sha256"}] + resources())), "absolute"
    yield "duplicate-resource", bundle(statement(res_dup)), "listed twice"
    # A lone surrogate is how JSON spells a name that is not valid UTF-8.
    yield "non-utf8-name", bundle(statement(resources()).replace(b'"a.txt"', b'"a\\udcff.txt"')), "surrogate"
    yield "deeply-nested-json", b'{"mediaType": ' + nested(100000) + b"}", "not valid JSON"
    yield "deeply-nested-payload", bundle(nested(100000)), "not valid JSON"


SEAL = HERE.parent / "seal"


def envelope_parts(data: bytes):
    n = int.from_bytes(data[10:14], "big")
    return data[:14], data[14 : 14 + n], data[14 + n : 46 + n], data[46 + n :]


def sealed_cases():
    """Encrypted models an attacker could make without any key (no MAC can be recomputed)."""
    base = (SEAL / "v1" / "single-2c1" / "encrypted.mseal").read_bytes()
    other = (SEAL / "v1" / "four-stanzas" / "encrypted.mseal").read_bytes()
    prefix, header, mac, payload = envelope_parts(base)
    o_prefix, o_header, o_mac, _ = envelope_parts(other)
    import cbor2

    h = cbor2.loads(header)
    oh = cbor2.loads(o_header)
    # The kek-1 stanza of another encryption (another DEK, another body) in place of ours.
    swapped = dict(h)
    swapped[2] = [oh[2][0]]
    swapped = cbor2.dumps(swapped, canonical=True)
    yield "swapped-stanza", prefix[:10] + len(swapped).to_bytes(4, "big") + swapped + mac + payload, 1, "cannot unwrap"
    # The header MAC of another file.
    yield "mac-from-other-file", prefix + header + o_mac + payload, 1, "header authentication failed"
    # A CBOR byte string that declares 2^62 bytes inside a 20-byte header: no allocation may follow it.
    huge = bytes([0xA2, 0x01, 0x5B]) + (1 << 62).to_bytes(8, "big") + b"\x00" * 9
    yield "huge-declared-length", prefix[:10] + len(huge).to_bytes(4, "big") + huge + b"\x00" * 32, 2, "declares more bytes than the header holds"
    # Reused nonce prefix: the second file's salt replaced by the first's in a directory model.
    d = (SEAL / "v1" / "dir-order" / "encrypted" / "modelseal.envelope").read_bytes()
    dp, dh, dm, _ = envelope_parts(d)
    hh = cbor2.loads(dh)
    body = cbor2.loads(hh[1])
    body[4][1][3] = body[4][0][3]
    hh[1] = cbor2.dumps(body, canonical=True)
    reused = cbor2.dumps(hh, canonical=True)
    yield "reused-nonce-prefix", dp[:10] + len(reused).to_bytes(4, "big") + reused + dm, 1, "cannot unwrap"


def main():
    out = HERE / "bundles"
    out.mkdir(exist_ok=True)
    meta = []
    for name, data, reason in cases():
        (out / f"{name}.sig").write_bytes(data)
        # model-signing 1.1.1 verifies these two (checked by tests/interop/test_adversarial.py):
        # it uses the first of several signatures and compares resources as a dict, so a duplicate
        # collapses. modelseal refuses both, as the OMS spec allows exactly one signature and one
        # entry per file.
        reference_accepts = name in ("two-signatures", "duplicate-resource")
        meta.append({"name": name, "model": "../oms/models/ordering", "public_key": "../oms/keys/p256.pub.pem",
                     "reason": reason, "reference_accepts": reference_accepts})
    enc = HERE / "encrypted"
    enc.mkdir(exist_ok=True)
    for name, data, code, reason in sealed_cases():
        if name == "reused-nonce-prefix":
            # A directory model: the other files are the unchanged ciphertexts of dir-order.
            import shutil

            target = enc / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(SEAL / "v1" / "dir-order" / "encrypted", target)
            (target / "modelseal.envelope").write_bytes(data)
        else:
            (enc / f"{name}.mseal").write_bytes(data)
        meta.append({"name": name, "encrypted": True, "key": "../seal/keys/kek-1.hex", "exit": code, "reason": reason})
    (HERE / "cases.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(meta)} bundles", file=sys.stderr)


if __name__ == "__main__":
    main()
