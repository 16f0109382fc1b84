"""Trust policy, seal and unseal from Python, against a wheel built by maturin (scripts/test.sh):
the result dict equals the CLI's JSON, denials raise VerificationError with the result attached,
unseal publishes 0400/0500 files or nothing."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess

import pytest

import modelseal

POLICY = """version = 1
[signers.release]
key = "release.pub.pem"
[signers.ci]
key = "ci.pub.pem"
[[models]]
name = "prod/*"
require = ["release", "ci"]
threshold = 2
[[models]]
name = "dev/*"
require = ["release"]
"""


@pytest.fixture
def env(tmp_path: pathlib.Path) -> pathlib.Path:
    model = tmp_path / "llm"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(50_000))
    (model / "sub" / "config.json").write_text('{"layers": 2}')
    for name in ("release", "ci"):
        modelseal.keygen("ec-p256", tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem")
    modelseal.keygen("x25519", tmp_path / "deploy.pem")
    (tmp_path / "trust.toml").write_text(POLICY)
    return tmp_path


def test_policy_verify_matches_the_cli_json(env: pathlib.Path) -> None:
    policy = modelseal.Policy.load(env / "trust.toml")
    assert policy.signers == ["ci", "release"]
    assert policy.audit_log is None
    release = modelseal.sign(env / "llm", key=str(env / "release.pem"), signature=env / "r.sig")
    ci = modelseal.sign(env / "llm", key=str(env / "ci.pem"), signature=env / "c.sig")
    result = modelseal.verify(
        env / "llm", [release, ci], policy=policy, model_name="prod/llm"
    )
    assert result["allowed"] is True
    assert result["signers"] == ["ci", "release"]
    assert result["rule"]["name"] == "prod/*"
    cli = subprocess.run(
        [os.environ.get("MODELSEAL_BIN", "modelseal"), "verify", str(env / "llm"),
         "--signature", str(release), "--signature", str(ci),
         "--policy", str(env / "trust.toml"), "--model-name", "prod/llm", "--json"],
        capture_output=True, check=True,
    )
    # The CLI prints the same decision inside the one JSON contract (docs/json.md): the envelope,
    # verify's other keys null, and its own random request_id.
    printed = json.loads(cli.stdout)
    assert (printed["schema"], printed["verb"], printed["ok"]) == ("modelseal.result/v1", "verify", True)
    same = {k: v for k, v in result.items() if k != "request_id"}
    assert {k: printed[k] for k in same} == same
    assert all(printed[k] is None for k in printed.keys() - result.keys()
               - {"schema", "verb", "ok", "error_class", "errors"})


def test_threshold_not_met_raises_with_the_result(env: pathlib.Path) -> None:
    policy = modelseal.Policy.load(env / "trust.toml")
    release = modelseal.sign(env / "llm", key=str(env / "release.pem"), signature=env / "r.sig")
    with pytest.raises(modelseal.VerificationError) as info:
        modelseal.verify(env / "llm", release, policy=policy, model_name="prod/llm")
    result = info.value.result
    assert result["allowed"] is False
    assert result["signers"] == ["release"]
    assert "1 of the required 2 signers verified" in result["reasons"][0]
    with pytest.raises(modelseal.VerificationError) as info:
        modelseal.verify(env / "llm", release, policy=policy, model_name="other/llm")
    assert info.value.result["reasons"] == ['no [[models]] rule covers model name "other/llm"']


def test_policy_load_errors_name_the_line(env: pathlib.Path) -> None:
    (env / "bad.toml").write_text('version = 1\n[[models]]\nname = "x"\nrequire = ["nobody"]\n')
    with pytest.raises(modelseal.Error, match=r"bad.toml:4: models\[0\].require: unknown signer"):
        modelseal.Policy.load(env / "bad.toml")


def test_seal_and_unseal(env: pathlib.Path) -> None:
    (env / "trust.toml").write_text(POLICY.replace('name = "dev/*"', 'name = "dev/**"'))
    policy = modelseal.Policy.load(env / "trust.toml")
    sealed = modelseal.seal(
        env / "llm", env / "llm.enc", env / "release.pem", env / "deploy.pem.pub",
        model_name="dev/llm",
    )
    assert sealed["sealed"] is True
    assert pathlib.Path(sealed["signature"]) == env / "llm.enc.sig"
    # The registry's check: no decryption key.
    outer = modelseal.verify(env / "llm.enc", env / "llm.enc.sig", policy=policy)
    assert outer["model_name"] == "dev/llm"
    result = modelseal.unseal(env / "llm.enc", env / "run", policy=policy, key=env / "deploy.pem")
    assert result["root_digest"] == sealed["root_digest"]
    for name in ("weights.bin", "sub/config.json"):
        assert (env / "run" / name).read_bytes() == (env / "llm" / name).read_bytes()
        assert stat.S_IMODE((env / "run" / name).stat().st_mode) == 0o400
    assert stat.S_IMODE((env / "run").stat().st_mode) == 0o500
    assert stat.S_IMODE((env / "run" / "sub").stat().st_mode) == 0o500

    # Tampered ciphertext: denied before decryption, nothing created.
    enc_file = env / "llm.enc" / "weights.bin"
    data = bytearray(enc_file.read_bytes())
    data[10] ^= 1
    enc_file.write_bytes(bytes(data))
    before = sorted(p.name for p in env.iterdir())
    with pytest.raises(modelseal.VerificationError, match="weights.bin: changed since signing"):
        modelseal.unseal(env / "llm.enc", env / "run2", policy=policy, key=env / "deploy.pem")
    assert not (env / "run2").exists()
    # Exactly what was there before: a temporary is caught whatever its name.
    assert sorted(p.name for p in env.iterdir()) == before


def _lines(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# Fields that must match between the CLI's line and Python's for the same operation (the time
# differs; `model` and paths inside reasons name the same files).
_SAME = ("operation", "model", "model_name", "root_digest", "key_ids", "policy", "rule",
         "signers", "outcome", "reasons")


def test_python_appends_the_same_audit_lines_as_the_cli(env: pathlib.Path) -> None:
    # The unseals below pick the dev/* rule by name: the policy lets callers override the signed name.
    policy_text = 'audit_log = "audit.jsonl"\nallow_name_override = true\n' + POLICY
    (env / "trust.toml").write_text(policy_text)
    policy = modelseal.Policy.load(env / "trust.toml")
    assert policy.audit_log == env / "audit.jsonl"
    cli_bin = os.environ.get("MODELSEAL_BIN", "modelseal")
    log = env / "audit.jsonl"

    def cli(*args: str) -> int:
        return subprocess.run([cli_bin, *args], capture_output=True).returncode

    # seal: only with an explicit log (there is no policy); same line from both.
    modelseal.seal(env / "llm", env / "py.enc", env / "release.pem", env / "deploy.pem.pub",
                   model_name="prod/llm", audit_log=log)
    assert cli("seal", str(env / "llm"), "--key", str(env / "release.pem"), "--recipient",
               str(env / "deploy.pem.pub"), "-o", str(env / "cli.enc"), "--model-name",
               "prod/llm", "--audit-log", str(log), "--quiet") == 0
    # verify under the policy (threshold 2, one signer: denied) — logged to the policy's log.
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(env / "py.enc", env / "py.enc.sig", policy=policy)
    assert cli("verify", str(env / "py.enc"), "--signature", str(env / "py.enc.sig"),
               "--policy", str(env / "trust.toml"), "--quiet") == 1
    # unseal denied (threshold) and unseal allowed (dev/* needs release only).
    with pytest.raises(modelseal.VerificationError, match="1 of the required 2"):
        modelseal.unseal(env / "py.enc", env / "run", policy=policy, key=env / "deploy.pem")
    assert cli("unseal", str(env / "py.enc"), "--policy", str(env / "trust.toml"), "--key",
               str(env / "deploy.pem"), "--out", str(env / "run"), "--quiet") == 1
    modelseal.unseal(env / "py.enc", env / "run", policy=policy, key=env / "deploy.pem",
                     model_name="dev/llm")
    assert cli("unseal", str(env / "py.enc"), "--policy", str(env / "trust.toml"), "--key",
               str(env / "deploy.pem"), "--out", str(env / "run2"), "--model-name",
               "dev/llm", "--quiet") == 0
    # A key error is logged too (outcome "error"), by both.
    with pytest.raises(modelseal.KeyAccessError):
        modelseal.unseal(env / "py.enc", env / "run3", policy=policy, key=env / "missing.pem")
    assert cli("unseal", str(env / "py.enc"), "--policy", str(env / "trust.toml"), "--key",
               str(env / "missing.pem"), "--out", str(env / "run3"), "--quiet") == 2

    lines = _lines(log)
    assert [(l["operation"], l["outcome"]) for l in lines] == [
        ("seal", "ok"), ("seal", "ok"),
        ("verify", "failed"), ("verify", "failed"),
        ("unseal", "failed"), ("unseal", "failed"),
        ("unseal", "ok"), ("unseal", "ok"),
        ("unseal", "error"), ("unseal", "error"),
    ]
    py, cl = lines[0::2], lines[1::2]
    # The seal lines differ only in the output they name; the rest come out the same.
    for p, c in zip(py, cl):
        for field in _SAME:
            if p["operation"] == "seal" and field == "key_ids":
                # The stanza key id is the recipient's, the same; the outputs differ.
                assert p[field] == c[field]
            elif p["operation"] == "unseal" and p["outcome"] == "error" and field == "reasons":
                assert "missing.pem" in p[field][0] and "missing.pem" in c[field][0]
            else:
                assert p[field] == c[field], (field, p, c)
    assert lines[6]["rule"] == 'models[1] "dev/*"'
    assert lines[6]["signers"] == ["release"]
    assert lines[6]["root_digest"] == lines[0]["root_digest"]

    # An explicit audit_log= wins over the policy's; without a policy it is recorded too.
    other = env / "other.jsonl"
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(env / "py.enc", env / "py.enc.sig", policy=policy, audit_log=other)
    assert [l["operation"] for l in _lines(other)] == ["verify"]
    assert len(_lines(log)) == len(lines)
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(env / "llm", env / "py.enc.sig", key=env / "release.pub.pem",
                         audit_log=other)
    assert [l["operation"] for l in _lines(other)] == ["verify", "verify"]


def test_co_signed_seal_and_endorse_meet_a_two_of_two_rule(env: pathlib.Path) -> None:
    policy = modelseal.Policy.load(env / "trust.toml")  # prod/*: release and ci, both
    # Both keys at seal: a list of keys; one claims file of two signatures beside ENC.
    sealed = modelseal.seal(
        env / "llm", env / "two.enc", [env / "release.pem", env / "ci.pem"], env / "deploy.pem.pub",
        model_name="prod/llm",
    )
    assert pathlib.Path(sealed["signature"]) == env / "two.enc.sig.jsonl"
    result = modelseal.unseal(env / "two.enc", env / "run", policy=policy, key=env / "deploy.pem")
    assert result["outer"]["counted"] == ["ci", "release"]
    assert (env / "run" / "modelseal.sig.jsonl").is_file()

    # One key at seal (a str is one key): refused naming ci, until ci endorses.
    modelseal.seal(
        env / "llm", env / "one.enc", str(env / "release.pem"), env / "deploy.pem.pub",
        model_name="prod/llm",
    )
    with pytest.raises(modelseal.VerificationError, match="missing: ci"):
        modelseal.unseal(env / "one.enc", env / "run2", policy=policy, key=env / "deploy.pem")
    kept = env / "ci.cosign.jsonl"
    log = env / "endorse-audit.jsonl"
    endorsed = modelseal.endorse(env / "one.enc", key=env / "ci.pem", signature=kept, audit_log=log)
    assert endorsed["endorsed"] is True and pathlib.Path(endorsed["signature"]) == kept
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    # The event names what the endorsement signs: the outer statement of the encrypted files.
    assert (line["operation"], line["outcome"]) == ("endorse", "ok")
    assert line["root_digest"] == endorsed["encrypted_root_digest"]
    assert endorsed["key_hint"] in line["key_ids"]
    result = modelseal.unseal(
        env / "one.enc", env / "run2", policy=policy, key=env / "deploy.pem",
        signature=[env / "one.enc.sig", kept],
    )
    assert result["outer"]["counted"] == ["ci", "release"]
    assert result["inner"]["counted"] == ["release"]
