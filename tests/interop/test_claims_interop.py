"""Claims files and in-model signatures against model-signing 1.1.1 (issue 16 item 5, issue 17
item 13): a signature written inside the model (`sign -o MODEL/bundle.sig`, what the public OMS
conformance suite does) verifies with 1.1.1, every line of a claims file is a bundle 1.1.1
verifies on its own, and `modelseal digest` prints the subject digest 1.1.1 records."""

from __future__ import annotations

import json
from pathlib import Path

from interop_helpers import build_model, expect_rc, subject_digest


def keypair(modelseal, directory: Path, name: str) -> tuple[Path, Path]:
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    expect_rc(modelseal.keygen("ec-p256", private, public), 0)
    return private, public


def test_signature_inside_the_model_verifies_with_the_reference(modelseal, reference, tmp_path):
    private, public = keypair(modelseal, tmp_path, "k")
    model = build_model(tmp_path, "nested")
    sig = model / "bundle.sig"
    expect_rc(modelseal.sign(model, private, sig), 0)
    expect_rc(reference.verify_key(model, sig, public), 0)
    expect_rc(modelseal.verify(model, sig, key=public), 0)


def test_each_claims_line_verifies_with_the_reference(modelseal, reference, tmp_path):
    model = build_model(tmp_path, "ordering")
    claims = tmp_path / "claims.jsonl"
    keys = [keypair(modelseal, tmp_path, name) for name in ("a", "b")]
    for private, _ in keys:
        expect_rc(modelseal.sign(model, private, claims, "--append"), 0)
    lines = claims.read_text().splitlines()
    assert len(lines) == 2
    for i, (line, (_, public)) in enumerate(zip(lines, keys)):
        one = tmp_path / f"line{i + 1}.sig"
        one.write_text(line)
        expect_rc(reference.verify_key(model, one, public), 0)
        report = modelseal.verify_json(model, claims, 0, key=public)
        assert report["line"] == i + 1


def test_digest_is_the_subject_digest_the_reference_records(modelseal, reference, tmp_path):
    private = keypair(modelseal, tmp_path, "k")[0]
    model = build_model(tmp_path, "names")
    sig = tmp_path / "ref.sig"
    expect_rc(reference.sign_key(model, private, sig), 0)
    proc = expect_rc(modelseal("digest", model, "--json"), 0)
    assert json.loads(proc.stdout)["root_digest"] == "sha256:" + subject_digest(sig)
