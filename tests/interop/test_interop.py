"""Interoperability of modelseal with the reference OMS implementation, model-signing 1.1.1.

Both directions, on the same small models: what modelseal signs, 1.1.1 verifies (its CLI for
files+sha256, its Python API with an explicit hashing configuration for shards/BLAKE2b/BLAKE3),
and what 1.1.1 signs (CLI and API), modelseal verifies with the same root digest. Tampering after
signing makes both tools fail, and every vector in test-vectors/oms/vectors.json gets the exit
code recorded there.

Run: MODELSEAL_BIN=$PWD/target/release/modelseal .venv/bin/python -m pytest tests/interop
(scripts/setup.sh makes the venv). Without MODELSEAL_BIN the modelseal tests fail, not skip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from interop_helpers import (
    SHARD_SIZE,
    VECTORS_DIR,
    build_model,
    describe,
    expect_rc,
    load_vectors,
    private_copy,
    spki_pem,
    statement,
    subject_digest,
    tamper,
    vector_ca,
    vector_key,
)

CURVES = ["ec-p256", "ec-p384", "ec-p521"]
TREES = ["ordering", "names", "nested", "single"]
HASHING = [
    pytest.param({"method": "shards", "hash": "sha256", "shard_size": SHARD_SIZE}, id="shards-sha256"),
    pytest.param({"method": "shards", "hash": "blake2b", "shard_size": SHARD_SIZE}, id="shards-blake2b"),
    pytest.param({"method": "files", "hash": "blake2b"}, id="files-blake2b"),
    pytest.param({"method": "files", "hash": "blake3"}, id="files-blake3"),
]
TAMPERING = ["changed", "added", "removed"]


def hashing_flags(ser: dict) -> list[object]:
    """modelseal sign flags for a serialization description."""
    flags: list[object] = ["--hash", ser["hash"]]
    if ser["method"] == "shards":
        flags += ["--shards", "--shard-size", ser["shard_size"]]
    return flags


@pytest.fixture(scope="session")
def keygen_keys(modelseal, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """One key pair per curve made by `modelseal keygen` (private, public)."""
    directory = tmp_path_factory.mktemp("keygen")
    keys = {}
    for algorithm in CURVES:
        private, public = directory / f"{algorithm}.pem", directory / f"{algorithm}.pub.pem"
        expect_rc(modelseal.keygen(algorithm, private, public), 0)
        keys[algorithm] = (private, public)
    return keys


def check_verified(report: dict, sig: Path) -> None:
    assert report["verified"] is True, report
    assert report["root_digest"] == subject_digest(sig), report
    assert report["errors"] == [], report


# ------------------------------------------------------------------------------------------------
# modelseal signs, model-signing 1.1.1 verifies
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", CURVES)
def test_keygen_public_key_is_the_spki_pem_of_the_private_key(keygen_keys, algorithm):
    private, public = keygen_keys[algorithm]
    # The key hint is a hash of this exact PEM text, so it must be byte-identical.
    assert public.read_bytes() == spki_pem(private)


@pytest.mark.parametrize("algorithm", CURVES)
def test_modelseal_key_signature_verifies_with_reference_cli(
    modelseal, reference, keygen_keys, tmp_path, algorithm
):
    private, public = keygen_keys[algorithm]
    model = build_model(tmp_path, "ordering")
    sig = tmp_path / "model.sig"
    expect_rc(modelseal.sign(model, private, sig), 0)

    assert modelseal_bundle_hint(sig) == hashlib.sha256(public.read_bytes()).hexdigest()
    expect_rc(reference.verify_key(model, sig, public), 0)


def modelseal_bundle_hint(sig: Path) -> str:
    return json.loads(sig.read_text())["verificationMaterial"]["publicKey"]["hint"]


@pytest.mark.parametrize("tree", TREES)
def test_modelseal_signs_each_tree_like_the_reference(
    modelseal, reference, keygen_keys, tmp_path, tree
):
    private, public = keygen_keys["ec-p256"]
    model = build_model(tmp_path, tree)
    sig = tmp_path / "tree.sig"
    expect_rc(modelseal.sign(model, private, sig), 0)

    expect_rc(reference.verify_key(model, sig, public), 0)
    expected = reference.api_ok({"op": "digest", "model": model})["root_digest"]
    assert subject_digest(sig) == expected
    names = [r["name"] for r in statement(sig)["predicate"]["resources"]]
    if tree == "ordering":
        assert names == ["B", "a/b", "a-b", "a.txt"]
    if tree == "single":
        assert names == ["."]
    if tree == "nested":
        assert "empty.bin" in names and "l1/l2/empty-too" in names


def test_pubkey_output_is_accepted_by_reference(modelseal, reference, tmp_path):
    private = tmp_path / "key.pem"
    expect_rc(modelseal.keygen("ec-p384", private), 0)
    public = tmp_path / "derived.pub.pem"
    expect_rc(modelseal("pubkey", private, "-o", public), 0)
    assert public.read_bytes() == spki_pem(private)

    model = build_model(tmp_path, "nested")
    sig = tmp_path / "nested.sig"
    expect_rc(modelseal.sign(model, private, sig), 0)
    expect_rc(reference.verify_key(model, sig, public), 0)


@pytest.mark.parametrize("name", ["p256", "p384", "p521"])
def test_pubkey_of_reference_keys_matches_committed_public_key(modelseal, tmp_path, name):
    private, public = vector_key(name, tmp_path)
    out = tmp_path / "out.pub.pem"
    expect_rc(modelseal("pubkey", private, "-o", out), 0)
    assert out.read_bytes() == public.read_bytes()


def test_default_signature_path_is_beside_the_model(modelseal, reference, keygen_keys, tmp_path):
    private, public = keygen_keys["ec-p256"]
    model = build_model(tmp_path, "ordering")
    expect_rc(modelseal.sign(model, private), 0)
    sig = tmp_path / "ordering.sig"
    assert sig.is_file(), f"modelseal sign without -o did not write {sig}"
    expect_rc(reference.verify_key(model, sig, public), 0)


@pytest.mark.parametrize(
    "leaf, chain",
    [
        pytest.param("leaf-p256", [], id="root-leaf-no-chain"),
        pytest.param("leaf-p256", ["root.pem"], id="root-leaf-with-root"),
        pytest.param("leaf-p384", ["intermediate.pem"], id="intermediate-leaf"),
    ],
)
def test_modelseal_certificate_signature_verifies_with_reference_cli(
    modelseal, reference, tmp_path, leaf, chain
):
    key = private_copy(vector_ca(f"{leaf}.key.pem"), tmp_path)
    model = build_model(tmp_path, "nested")
    sig = tmp_path / "cert.sig"
    extra: list[object] = ["--cert", vector_ca(f"{leaf}.pem")]
    if chain:
        chain_file = tmp_path / "chain.pem"
        chain_file.write_bytes(b"".join(vector_ca(c).read_bytes() for c in chain))
        extra += ["--cert-chain", chain_file]
    expect_rc(modelseal.sign(model, key, sig, *extra), 0)

    certificates = json.loads(sig.read_text())["verificationMaterial"]["x509CertificateChain"]
    assert len(certificates["certificates"]) == 1 + len(chain)
    expect_rc(reference.verify_certificate(model, sig, vector_ca("root.pem")), 0)
    check_verified(modelseal.verify_json(model, sig, 0, roots=vector_ca("root.pem")), sig)


@pytest.mark.parametrize("ser", HASHING)
def test_modelseal_hashing_configs_verify_with_reference_api(
    modelseal, reference, keygen_keys, tmp_path, ser
):
    private, public = keygen_keys["ec-p256"]
    model = build_model(tmp_path, "sharded")
    sig = tmp_path / "sharded.sig"
    expect_rc(modelseal.sign(model, private, sig, *hashing_flags(ser)), 0)

    verified, digest = reference.api(
        {"op": "verify", "model": model, "signature": sig, "public_key": public,
         "serialization": ser},
        {"op": "digest", "model": model, "serialization": ser},
    )
    assert verified["ok"], f"1.1.1 rejected modelseal's {ser} signature: {verified['error']}"
    assert subject_digest(sig) == digest["root_digest"]


def test_modelseal_ignore_paths_are_signed_and_honoured_by_reference(
    modelseal, reference, keygen_keys, tmp_path
):
    private, public = keygen_keys["ec-p256"]
    model = build_model(tmp_path, "ordering")
    (model / "README.md").write_text("not signed\n")
    sig = tmp_path / "ignored.sig"
    # cwd = the model, so "README.md" means the same file whether read relative to cwd or model.
    expect_rc(modelseal.sign(model, private, sig, "--ignore", "README.md", cwd=model), 0)

    assert "README.md" in statement(sig)["predicate"]["serialization"]["ignore_paths"]
    (model / "README.md").write_text("changed after signing, still ignored\n")
    expect_rc(reference.verify_key(model, sig, public), 0)
    check_verified(modelseal.verify_json(model, sig, 0, key=public), sig)


def test_ed25519_signing_warns_that_reference_cannot_verify(modelseal, reference, tmp_path):
    private, public = tmp_path / "ed.pem", tmp_path / "ed.pub.pem"
    expect_rc(modelseal.keygen("ed25519", private, public), 0)
    model = build_model(tmp_path, "ordering")
    sig = tmp_path / "ed.sig"
    proc = expect_rc(modelseal.sign(model, private, sig), 0)

    warning = proc.stderr.lower()
    assert "ed25519" in warning and any(
        name in warning for name in ("1.1.1", "model-signing", "model_signing")
    ), "signing with Ed25519 must warn that model-signing 1.1.1 cannot verify it" + describe(proc)
    check_verified(modelseal.verify_json(model, sig, 0, key=public), sig)
    # The warning is true: 1.1.1 refuses Ed25519 public keys.
    assert reference.verify_key(model, sig, public).returncode != 0


# ------------------------------------------------------------------------------------------------
# model-signing 1.1.1 signs, modelseal verifies
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tree, key",
    [(tree, "p256") for tree in TREES] + [("ordering", "p384"), ("ordering", "p521")],
)
def test_reference_cli_signature_verifies_with_modelseal(
    modelseal, reference, tmp_path, tree, key
):
    private, public = vector_key(key, tmp_path)
    model = build_model(tmp_path, tree)
    sig = tmp_path / "ref.sig"
    expect_rc(reference.sign_key(model, private, sig), 0)

    report = modelseal.verify_json(model, sig, 0, key=public)
    check_verified(report, sig)
    expect_rc(modelseal.verify(model, sig, key=public), 0)


@pytest.mark.parametrize(
    "leaf, chain",
    [
        pytest.param("leaf-p256", ["root.pem"], id="root-leaf"),
        pytest.param("leaf-p384", ["intermediate.pem"], id="intermediate-leaf"),
    ],
)
def test_reference_certificate_signature_verifies_with_modelseal(
    modelseal, reference, tmp_path, leaf, chain
):
    key = private_copy(vector_ca(f"{leaf}.key.pem"), tmp_path)
    model = build_model(tmp_path, "names")
    sig = tmp_path / "ref-cert.sig"
    expect_rc(
        reference.sign_certificate(model, key, vector_ca(f"{leaf}.pem"),
                                   [vector_ca(c) for c in chain], sig),
        0,
    )
    check_verified(modelseal.verify_json(model, sig, 0, roots=vector_ca("root.pem")), sig)
    # Another root did not issue this chain.
    expect_rc(modelseal.verify(model, sig, roots=vector_ca("other-root.pem")), 1)


@pytest.mark.parametrize("ser", HASHING)
def test_reference_api_hashing_configs_verify_with_modelseal(
    modelseal, reference, tmp_path, ser
):
    private, public = vector_key("p384", tmp_path)
    model = build_model(tmp_path, "sharded")
    sig = tmp_path / "ref-api.sig"
    reference.api_ok({"op": "sign", "model": model, "signature": sig, "private_key": private,
                      "serialization": ser})

    check_verified(modelseal.verify_json(model, sig, 0, key=public), sig)


def test_reference_ignore_paths_are_honoured_by_modelseal(modelseal, reference, tmp_path):
    private, public = vector_key("p256", tmp_path)
    model = build_model(tmp_path, "nested")
    (model / "notes").mkdir()
    (model / "notes" / "todo.txt").write_text("ignored\n")
    sig = tmp_path / "ref-ignored.sig"
    # 1.1.1 resolves --ignore-paths against its working directory.
    expect_rc(reference.sign_key(model, private, sig, "--ignore-paths", "notes", cwd=model), 0)

    assert "notes" in statement(sig)["predicate"]["serialization"]["ignore_paths"]
    (model / "notes" / "later.txt").write_text("added after signing, inside an ignored dir\n")
    check_verified(modelseal.verify_json(model, sig, 0, key=public), sig)


# ------------------------------------------------------------------------------------------------
# Tampering after signing: both tools must fail, whoever signed
# ------------------------------------------------------------------------------------------------


def check_both_reject(modelseal, reference, model: Path, sig: Path, public: Path) -> None:
    report = modelseal.verify_json(model, sig, 1, key=public)
    assert report["verified"] is False, report
    assert report["errors"], "a failed verification must say why"
    assert reference.verify_key(model, sig, public).returncode == 1


@pytest.mark.parametrize("how", TAMPERING)
def test_tamper_after_modelseal_signing_fails_in_both(
    modelseal, reference, keygen_keys, tmp_path, how
):
    private, public = keygen_keys["ec-p384"]
    model = build_model(tmp_path, "nested")
    sig = tmp_path / "t.sig"
    expect_rc(modelseal.sign(model, private, sig), 0)
    tamper(model, how)
    check_both_reject(modelseal, reference, model, sig, public)


@pytest.mark.parametrize("how", TAMPERING)
def test_tamper_after_reference_signing_fails_in_both(modelseal, reference, tmp_path, how):
    private, public = vector_key("p256", tmp_path)
    model = build_model(tmp_path, "ordering")
    sig = tmp_path / "t.sig"
    expect_rc(reference.sign_key(model, private, sig), 0)
    tamper(model, how)
    check_both_reject(modelseal, reference, model, sig, public)


def test_tamper_single_file_model_fails_in_both(modelseal, reference, tmp_path):
    private, public = vector_key("p256", tmp_path)
    model = build_model(tmp_path, "single")
    sig = tmp_path / "single.sig"
    expect_rc(reference.sign_key(model, private, sig), 0)
    tamper(model, "changed")
    check_both_reject(modelseal, reference, model, sig, public)


def test_tamper_after_modelseal_shard_signing_fails_in_both(
    modelseal, reference, keygen_keys, tmp_path
):
    private, public = keygen_keys["ec-p256"]
    ser = {"method": "shards", "hash": "sha256", "shard_size": SHARD_SIZE}
    model = build_model(tmp_path, "sharded")
    sig = tmp_path / "s.sig"
    expect_rc(modelseal.sign(model, private, sig, *hashing_flags(ser)), 0)
    tamper(model, "changed")

    assert modelseal.verify_json(model, sig, 1, key=public)["verified"] is False
    (result,) = reference.api({"op": "verify", "model": model, "signature": sig,
                               "public_key": public, "serialization": ser})
    assert not result["ok"]


def test_extra_file_is_accepted_only_with_ignore_unsigned_files(
    modelseal, reference, keygen_keys, tmp_path
):
    private, public = keygen_keys["ec-p256"]
    model = build_model(tmp_path, "ordering")
    ms_sig, ref_sig = tmp_path / "ms.sig", tmp_path / "ref.sig"
    ref_private, ref_public = vector_key("p256", tmp_path)
    expect_rc(modelseal.sign(model, private, ms_sig), 0)
    expect_rc(reference.sign_key(model, ref_private, ref_sig), 0)
    tamper(model, "added")

    expect_rc(modelseal.verify(model, ms_sig, key=public), 1)
    expect_rc(reference.verify_key(model, ms_sig, public, "--ignore_unsigned_files"), 0)
    expect_rc(modelseal.verify(model, ref_sig, key=ref_public, extra=["--ignore-unsigned-files"]), 0)


# ------------------------------------------------------------------------------------------------
# The committed vectors
# ------------------------------------------------------------------------------------------------

VECTORS = load_vectors()


def vector_material(vec: dict) -> dict:
    ver = vec["verification"]
    if ver["method"] == "key":
        return {"key": VECTORS_DIR / ver["public_key"]}
    return {"roots": VECTORS_DIR / ver["roots"]}


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_gets_its_recorded_exit_code(modelseal, vec):
    model, sig = VECTORS_DIR / vec["model"], VECTORS_DIR / vec["signature"]
    proc = modelseal.verify(model, sig, extra=["--json"], **vector_material(vec))
    assert proc.returncode == vec["exit_code"], (
        f"vector {vec['name']} ({vec['reason']}): expected exit {vec['exit_code']}" + describe(proc)
    )
    if vec["exit_code"] == 2:
        return  # malformed input: an error message, no verification report
    report = json.loads(proc.stdout)
    assert report["verified"] is (vec["exit_code"] == 0), report
    if vec["expect"] == "verify":
        assert report["root_digest"] == vec["root_digest"], report
        assert report["errors"] == [], report
    else:
        assert report["errors"], f"vector {vec['name']}: a failed verification must say why"


def test_vectors_still_agree_with_reference(reference):
    """Re-check every vector with 1.1.1's API (one process): the index must not go stale."""
    ops = []
    for vec in VECTORS:
        op = {"op": "verify", "model": VECTORS_DIR / vec["model"],
              "signature": VECTORS_DIR / vec["signature"], "serialization": vec["serialization"]}
        ver = vec["verification"]
        if ver["method"] == "key":
            op["public_key"] = VECTORS_DIR / ver["public_key"]
        else:
            op["roots"] = VECTORS_DIR / ver["roots"]
        ops.append(op)
    results = reference.api(*ops)
    disagree = [
        f"{vec['name']}: expected {vec['expect']}, 1.1.1 says ok={res['ok']} {res['error']}"
        for vec, res in zip(VECTORS, results)
        if res["ok"] != (vec["expect"] == "verify")
    ]
    assert not disagree, "\n".join(disagree)


def test_vector_roots_digests_match_reference_hashing(reference):
    positives = [v for v in VECTORS if v["expect"] == "verify"]
    results = reference.api(*[
        {"op": "digest", "model": VECTORS_DIR / v["model"], "serialization": v["serialization"],
         "ignore": statement(VECTORS_DIR / v["signature"])["predicate"]["serialization"]
         .get("ignore_paths", [])}
        for v in positives
    ])
    for vec, res in zip(positives, results):
        assert res["ok"], res
        assert res["root_digest"] == vec["root_digest"] == subject_digest(VECTORS_DIR / vec["signature"])


@pytest.mark.parametrize(
    "name",
    ["key-p256-files-sha256-cli-ordering", "cert-p384-intermediate-files-sha256-cli-nested",
     "key-p256-shards-sha256-api-sharded"],
)
def test_inspect_shows_the_root_digest(modelseal, name):
    vec = next(v for v in VECTORS if v["name"] == name)
    sig = VECTORS_DIR / vec["signature"]
    text = expect_rc(modelseal("inspect", sig), 0)
    assert vec["root_digest"] in text.stdout, describe(text)
    as_json = expect_rc(modelseal("inspect", sig, "--json"), 0)
    assert vec["root_digest"] in json.dumps(json.loads(as_json.stdout)), describe(as_json)
