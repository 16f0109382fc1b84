"""The "model-signing 1.1.1 does" column of docs/oms-conformance.md, checked against the real 1.1.1.

Each test signs with 1.1.1 (CLI, or its API for shards), then edits the statement the way one row
of the table says, re-signs it with the same key (so that only the edited rule is exercised), and
records what 1.1.1's verifier answers. modelseal's side of each row is tested in Rust
(core/src/oms/*.rs, core/tests/oms_conformance.rs).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Callable, Optional

import pytest

from interop_helpers import Reference

PAYLOAD_TYPE = b"application/vnd.in-toto+json"


@pytest.fixture()
def key(tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "k.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "k.pub").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private


def write_model(parent: Path, name: str, files: dict[str, bytes]) -> Path:
    root = parent / name
    root.mkdir()
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def statement(sig: Path) -> dict:
    return json.loads(base64.b64decode(json.loads(sig.read_text())["dsseEnvelope"]["payload"]))


def resign(key, sig: Path, out: Path, edit: Callable[[dict], None],
           edit_bundle: Optional[Callable[[dict], None]] = None, keep_root: bool = False) -> Path:
    """Apply `edit` to the statement of `sig`, recompute the root digest (unless `keep_root`),
    sign the new payload with `key` and write the bundle to `out`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    bundle = json.loads(sig.read_text())
    st = statement(sig)
    edit(st)
    if not keep_root:
        digests = b"".join(bytes.fromhex(r["digest"]) for r in st["predicate"]["resources"])
        st["subject"][0]["digest"]["sha256"] = hashlib.sha256(digests).hexdigest()
    payload = json.dumps(st).encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE, len(payload), payload)
    envelope = bundle["dsseEnvelope"]
    envelope["payload"] = base64.b64encode(payload).decode()
    envelope["signatures"][0]["sig"] = base64.b64encode(
        key.sign(pae, ec.ECDSA(hashes.SHA256()))).decode()
    if edit_bundle:
        edit_bundle(bundle)
    out.write_text(json.dumps(bundle))
    return out


def verifies(reference: Reference, model: Path, sig: Path) -> bool:
    return reference.verify_key(model, sig, sig.parent / "k.pub").returncode == 0


@pytest.fixture()
def signed(reference: Reference, key, tmp_path: Path):
    """A files/sha256 bundle by 1.1.1 over a model whose component-wise and code-point orders
    differ."""
    model = write_model(tmp_path, "ordering",
                        {"B": b"B\n", "a/b": b"a/b\n", "a-b": b"a-b\n", "a.txt": b"a.txt\n"})
    sig = tmp_path / "model.sig"
    proc = reference.sign_key(model, tmp_path / "k.pem", sig)
    assert proc.returncode == 0, proc.stderr
    return model, sig


def test_1_1_1_writes_component_wise_order_and_reads_any(reference, key, signed, tmp_path):
    model, sig = signed
    assert [r["name"] for r in statement(sig)["predicate"]["resources"]] == \
        ["B", "a/b", "a-b", "a.txt"]
    code_point = resign(key, sig, tmp_path / "cp.sig",
                        lambda s: s["predicate"]["resources"].sort(key=lambda r: r["name"]))
    assert [r["name"] for r in statement(code_point)["predicate"]["resources"]] == \
        ["B", "a-b", "a.txt", "a/b"]
    assert verifies(reference, model, code_point)


@pytest.mark.parametrize("where", ["statement", "predicate", "serialization", "resource"])
def test_1_1_1_ignores_unknown_fields(reference, key, signed, tmp_path, where):
    model, sig = signed
    edits = {
        "statement": lambda s: s.__setitem__("extra", 1),
        "predicate": lambda s: s["predicate"].__setitem__("model_card", {"a": 1}),
        "serialization": lambda s: s["predicate"]["serialization"].__setitem__("future", True),
        "resource": lambda s: s["predicate"]["resources"][0].__setitem__("uri", "x"),
    }
    assert verifies(reference, model, resign(key, sig, tmp_path / "x.sig", edits[where]))


def test_1_1_1_refuses_unknown_bundle_fields_and_reads_the_first_signature(
        reference, key, signed, tmp_path):
    model, sig = signed
    extra = resign(key, sig, tmp_path / "extra.sig", lambda s: None,
                   edit_bundle=lambda b: b.__setitem__("extra", 1))
    assert not verifies(reference, model, extra)
    junk = {"sig": base64.b64encode(b"junk").decode(), "keyid": ""}
    two = resign(key, sig, tmp_path / "two.sig", lambda s: None,
                 edit_bundle=lambda b: b["dsseEnvelope"]["signatures"].append(junk))
    assert verifies(reference, model, two)
    no_keyid = resign(key, sig, tmp_path / "nokeyid.sig", lambda s: None,
                      edit_bundle=lambda b: b["dsseEnvelope"]["signatures"][0].pop("keyid"))
    assert verifies(reference, model, no_keyid)


def test_1_1_1_subject_rules(reference, key, signed, tmp_path):
    model, sig = signed

    def upper(s):
        digest = s["subject"][0]["digest"]
        digest["sha256"] = digest["sha256"].upper()

    assert not verifies(reference, model, resign(key, sig, tmp_path / "up.sig", upper,
                                                 keep_root=True))
    unnamed = resign(key, sig, tmp_path / "unnamed.sig",
                     lambda s: s["subject"][0].__setitem__("name", ""))
    assert verifies(reference, model, unnamed)


def test_1_1_1_reads_an_empty_ignore_path_as_the_whole_model(reference, key, signed, tmp_path):
    model, sig = signed
    empty = resign(key, sig, tmp_path / "empty.sig",
                   lambda s: s["predicate"]["serialization"].__setitem__("ignore_paths", [""]))
    proc = reference.verify_key(model, empty, tmp_path / "k.pub")
    assert proc.returncode != 0 and "Missing files" in proc.stdout + proc.stderr


def test_1_1_1_signs_and_verifies_an_empty_model(reference, key, tmp_path):
    for name, files in [("empty", {}), ("all-ignored", {".gitignore": b"x"})]:
        model = write_model(tmp_path, name, files)
        sig = tmp_path / f"{name}.sig"
        assert reference.sign_key(model, tmp_path / "k.pem", sig).returncode == 0
        assert statement(sig)["predicate"]["resources"] == []
        assert verifies(reference, model, sig)


def test_1_1_1_names_a_single_file_dot_and_refuses_its_basename(reference, key, tmp_path):
    model = tmp_path / "single.bin"
    model.write_bytes(b"0123456789")
    sig = tmp_path / "s.sig"
    assert reference.sign_key(model, tmp_path / "k.pem", sig).returncode == 0
    assert [r["name"] for r in statement(sig)["predicate"]["resources"]] == ["."]
    basename = resign(key, sig, tmp_path / "base.sig",
                      lambda s: s["predicate"]["resources"][0].__setitem__("name", "single.bin"))
    assert not verifies(reference, model, basename)


def test_1_1_1_shard_forms(reference: Reference, key, tmp_path):
    model = write_model(tmp_path, "sh", {"a.bin": bytes(range(50)), "zero": b""})
    serialization = {"method": "shards", "hash": "sha256", "shard_size": 4}
    sig = tmp_path / "sh.sig"
    reference.api_ok({"op": "sign", "model": model, "signature": sig,
                      "private_key": tmp_path / "k.pem", "serialization": serialization})
    st = statement(sig)
    assert st["predicate"]["serialization"]["shard_size"] == 4.0
    assert isinstance(st["predicate"]["serialization"]["shard_size"], float)
    resources = st["predicate"]["resources"]
    assert {r["algorithm"] for r in resources} == {"sha256-sharded-4"}
    # Numeric offset order, one resource per 4 bytes, none for the empty file.
    assert [r["name"] for r in resources][:4] == ["a.bin:0:4", "a.bin:4:8", "a.bin:8:12",
                                                   "a.bin:12:16"]
    assert len(resources) == 13

    def verify(bundle: Path) -> bool:
        (result,) = reference.api({"op": "verify", "model": model, "signature": bundle,
                                   "public_key": tmp_path / "k.pub",
                                   "serialization": serialization})
        return result["ok"]

    def edited(name, edit):
        return resign(key, sig, tmp_path / name, edit)

    assert verify(sig)
    # The spec's plain algorithm string: refused (1.1.1 compares the algorithm too).
    assert not verify(edited("plain.sig", lambda s: [r.__setitem__("algorithm", "sha256")
                                                    for r in s["predicate"]["resources"]]))
    # An integer shard_size, code-point order: read.
    assert verify(edited("int.sig", lambda s: s["predicate"]["serialization"]
                         .__setitem__("shard_size", 4)))
    assert verify(edited("cp.sig", lambda s: s["predicate"]["resources"]
                         .sort(key=lambda r: r["name"])))
    # No shard_size: refused (a KeyError inside 1.1.1).
    assert not verify(edited("nosize.sig", lambda s: s["predicate"]["serialization"]
                             .pop("shard_size")))


UPSTREAM = Path(__file__).resolve().parents[2] / "test-vectors" / "oms-unit" / "upstream"


@pytest.mark.parametrize("sig", ["v0.2.0-certificate.sig", "v1.1.0-certificate.sig"])
def test_1_1_1_accepts_its_ca_leaf_and_its_v0_2_0_format(reference: Reference, sig):
    # The leaf of model-signing's test PKI is CA:TRUE; v0.2.0 signed Digests/v0.1 statements
    # over its own PAE encoding. 1.1.1 verifies both (its test-verify-*-certificate.sh scripts).
    model = UPSTREAM / "model-certificate"
    proc = reference.verify_certificate(model, UPSTREAM / sig, UPSTREAM / "ca-cert.pem",
                                        "--ignore-paths", model / "ignore-me")
    assert proc.returncode == 0, proc.stdout + proc.stderr
