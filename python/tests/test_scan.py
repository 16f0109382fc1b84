"""The content gate from Python (docs/scan.md): `modelseal.scan`, and `seal` (on by default) and
`sign(scan=True)` refusing a model with a planted credential (`ScanError`, nothing written)."""

from __future__ import annotations

import json
import pathlib

import pytest

import modelseal

# AWS's documented example access key id (never a real key).
EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"


def planted(root: pathlib.Path) -> pathlib.Path:
    model = root / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"hidden": 8}, indent=1) + "\n")
    (model / "notes.txt").write_text(f"upload with\naws_access_key_id = {EXAMPLE_KEY}\n")
    (model / "model.pkl").write_bytes(b"\x80\x02cos\nsystem\nq\x00.")
    return model


def test_scan_returns_findings_and_formats_without_the_secret(tmp_path):
    model = planted(tmp_path)
    result = modelseal.scan(model)
    assert result["clean"] is False
    [finding] = result["findings"]
    assert (finding["path"], finding["line"], finding["rule"]) == ("notes.txt", 2, "aws-access-key-id")
    assert EXAMPLE_KEY not in json.dumps(result)
    assert result["formats"] == [
        {"path": "model.pkl", "format": "pickle", "names": ["pickle"], "globals": ["os.system"]}
    ]
    allow = tmp_path / "allow.txt"
    allow.write_text(finding["fingerprint"] + "  # reviewed\n")
    assert modelseal.scan(model, allow=allow)["clean"] is True
    allow.write_text("nope\n")
    with pytest.raises(modelseal.Error, match="allow.txt:1"):
        modelseal.scan(model, allow=allow)


def test_seal_and_sign_refuse_a_planted_credential(tmp_path):
    model = planted(tmp_path)
    key = tmp_path / "k.pem"
    modelseal.keygen("ec-p256", key)
    kek = tmp_path / "kek"
    modelseal.keygen("aes256-kek", kek)
    out = tmp_path / "enc"
    with pytest.raises(modelseal.ScanError, match="notes.txt:2 aws-access-key-id") as err:
        modelseal.seal(model, out, key, kek)
    assert EXAMPLE_KEY not in str(err.value)
    assert not out.exists()
    modelseal.seal(model, out, key, kek, scan=False)
    assert out.exists()
    with pytest.raises(modelseal.ScanError):
        modelseal.sign(model, key, tmp_path / "m.sig", scan=True)
    assert not (tmp_path / "m.sig").exists()
    assert modelseal.sign(model, key, tmp_path / "m.sig").exists()


def test_plain_verify_lists_the_formats_of_the_verified_files(tmp_path):
    model = planted(tmp_path)
    key = tmp_path / "k.pem"
    modelseal.keygen("ec-p256", key, tmp_path / "k.pub.pem")
    sig = modelseal.sign(model, key, tmp_path / "m.sig")
    result = modelseal.verify(model, sig, key=tmp_path / "k.pub.pem")
    assert result.format_names == ("pickle",)
    assert result.formats == (
        {"path": "model.pkl", "format": "pickle", "names": ["pickle"], "globals": ["os.system"]},
    )
