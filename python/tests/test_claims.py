"""Claims files (``.jsonl``), ``sign(force=, append=)`` and ``digest`` from Python (issue 16 items
5 and 6, issue 17 item 13)."""

from __future__ import annotations

import base64
import json
import pathlib

import pytest

import modelseal

VECTORS = pathlib.Path(__file__).resolve().parents[2] / "test-vectors"


def make_model(root: pathlib.Path) -> pathlib.Path:
    model = root / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(bytes(range(256)) * 16)
    (model / "config.json").write_text("{}")
    return model


def keys(root: pathlib.Path, *names: str) -> dict[str, tuple[pathlib.Path, pathlib.Path]]:
    out = {}
    for name in names:
        private, public = root / f"{name}.pem", root / f"{name}.pub.pem"
        modelseal.keygen("ec-p256", private, public)
        out[name] = (private, public)
    return out


def test_append_builds_a_claims_file_that_verifies_line_by_line(tmp_path):
    model = make_model(tmp_path)
    k = keys(tmp_path, "a", "b", "other")
    claims = tmp_path / "claims.jsonl"
    for name in ("a", "b"):
        assert modelseal.sign(model, k[name][0], claims, append=True) == claims
    assert len(claims.read_text().splitlines()) == 2
    result = modelseal.verify(model, claims, key=k["b"][1])
    assert result.line == 2
    assert result.signature == claims
    # Verified loading takes a claims file too: the first line that verifies.
    opened = modelseal.open_model(model, claims, key=k["b"][1])
    assert opened.read("config.json") == b"{}"
    single = modelseal.sign(model, k["a"][0], tmp_path / "m.sig")
    assert modelseal.verify(model, single, key=k["a"][1]).line is None
    with pytest.raises(modelseal.VerificationError) as info:
        modelseal.verify(model, claims, key=k["other"][1])
    assert "line 1: " in str(info.value) and "line 2: " in str(info.value)
    # A malformed line is a format error naming it.
    with claims.open("a") as f:
        f.write("not json\n")
    with pytest.raises(modelseal.FormatError, match="line 3"):
        modelseal.verify(model, claims, key=k["a"][1])


def test_claims_count_distinct_signers_under_a_policy(tmp_path):
    model = make_model(tmp_path)
    k = keys(tmp_path, "a", "b", "c")
    claims = tmp_path / "claims.jsonl"
    for name in ("a", "b", "c"):
        modelseal.sign(model, k[name][0], claims, append=True)
    policy_file = tmp_path / "trust.toml"
    policy_file.write_text(
        'version = 1\n[signers.a]\nkey = "a.pub.pem"\n[signers.b]\nkey = "b.pub.pem"\n'
        '[signers.c]\nkey = "c.pub.pem"\n[[models]]\nname = "*"\n'
        'require = ["a", "b", "c"]\nthreshold = 3\n'
    )
    policy = modelseal.Policy.load(policy_file)
    decision = modelseal.verify(model, claims, policy=policy)
    assert decision["allowed"] and decision["signers"] == ["a", "b", "c"]
    assert [s["line"] for s in decision["signatures"]] == [1, 2, 3]
    claims.write_text("".join(claims.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(model, claims, policy=policy)


def test_force_and_the_model_files(tmp_path):
    model = make_model(tmp_path)
    (private, public) = keys(tmp_path, "a")["a"]
    sig = tmp_path / "m.sig"
    sig.write_bytes(b"precious")
    with pytest.raises(modelseal.Error, match="already exists"):
        modelseal.sign(model, private, sig)
    assert sig.read_bytes() == b"precious"
    modelseal.sign(model, private, sig, force=True)
    modelseal.verify(model, sig, key=public)
    weights = model / "weights.bin"
    before = weights.read_bytes()
    with pytest.raises(modelseal.Error, match="file of the model"):
        modelseal.sign(model, private, weights, force=True)
    assert weights.read_bytes() == before
    with pytest.raises(modelseal.Error):
        modelseal.sign(model, private, sig, force=True, append=True)
    inside = modelseal.sign(model, private, model / "bundle.sig")
    assert modelseal.verify(model, inside, key=public).resources == 2


def test_digest_equals_the_reference_subject_digest():
    bundle = json.loads((VECTORS / "oms-v1.0/valid/key.bundle.json").read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    subject = statement["subject"][0]["digest"]["sha256"]
    model = VECTORS / "oms-unit/upstream/model-elliptic-key"
    out = modelseal.digest(model, ignore=["ignore-me"])
    assert out["root_digest"] == f"sha256:{subject}"
    assert out["resources"] == 2
    vectors = json.loads((VECTORS / "oms/vectors.json").read_text())
    sharded = next(v for v in vectors["vectors"] if v["name"] == "key-p384-shards-blake2b-api-sharded")
    out = modelseal.digest(VECTORS / "oms" / sharded["model"], hash="blake2b", shards=True,
                           shard_size=sharded["serialization"]["shard_size"])
    assert out["root_digest"] == "sha256:" + sharded["root_digest"]
    assert out["serialization"]["method"] == "shards"
    with pytest.raises(modelseal.Error):
        modelseal.digest(model, shard_size=10)
