"""The one JSON contract (docs/json.md, issue 22 item 6): every verb, run with ``--json``, prints
exactly one object on stdout on every outcome — success, failure, a usage error (clap's included),
a key or policy that does not load — and each validates against docs/schema/result.schema.json;
the exit code agrees with ``ok``/``error_class``. ``serve``'s answers (405, 404, a decision) and its
own result when it stops are checked the same way.

Runs the CLI (``MODELSEAL_BIN``); a few seconds."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("MODELSEAL_BIN", str(ROOT / "target/ci/modelseal"))
SCHEMA = json.loads((ROOT / "docs/schema/result.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
VECTORS = ROOT / "test-vectors"


def run(*args: str, cwd: pathlib.Path, exit: int) -> dict:
    """Runs the CLI with ``--json``; checks one valid object on stdout and the exit code."""
    out = subprocess.run([CLI, *args, "--json"], cwd=cwd, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert len(lines) == 1, f"{args}: want one line on stdout, got {out.stdout!r} (stderr {out.stderr!r})"
    result = json.loads(lines[0])
    errors = sorted(VALIDATOR.iter_errors(result), key=lambda e: list(e.path))
    assert not errors, f"{args}: {[e.message for e in errors]}\n{result}"
    assert out.returncode == exit, f"{args}: exit {out.returncode}: {result} {out.stderr}"
    want_class = {0: None, 1: "failed", 2: ("input", "internal")}[exit]
    assert result["ok"] is (exit == 0), result
    assert result["error_class"] == want_class or result["error_class"] in (want_class or ()), result
    return result


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("contract")
    for src, name in [
        ("oms/keys/p256.key.pem", "signer.pem"),
        ("oms/keys/p256.pub.pem", "signer.pub.pem"),
        ("oms/keys/other-p256.pub.pem", "other.pub.pem"),
        ("seal/keys/kek-1.hex", "kek-1"),
        ("seal/keys/kek-2.hex", "kek-2"),
    ]:
        shutil.copy(VECTORS / src, d / name)
        (d / name).chmod(0o600)
    model = d / "llm"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(bytes(5000))
    (model / "sub/config.json").write_text('{"layers": 2}')
    policy = 'version = 1\n[signers.release]\nkey = "{}"\n[[models]]\nname = "prod/*"\nrequire = ["release"]\n'
    (d / "trust.toml").write_text(policy.format("signer.pub.pem"))
    (d / "other.toml").write_text(policy.replace("release", "other").format("other.pub.pem"))
    (d / "broken.toml").write_text("version = \n")
    (d / "leaky").mkdir()
    (d / "leaky/.env").write_text("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n")
    return d


def test_the_schema_file_is_generated_from_the_contract() -> None:
    before = (ROOT / "docs/schema/result.schema.json").read_text()
    subprocess.run([sys.executable, "scripts/json_schema.py"], cwd=ROOT, check=True, capture_output=True)
    assert (ROOT / "docs/schema/result.schema.json").read_text() == before, "run scripts/json_schema.py"


def test_every_verb_on_every_outcome(env: pathlib.Path) -> None:
    r = lambda *a, exit=0: run(*a, cwd=env, exit=exit)  # noqa: E731

    # keygen, pubkey
    assert r("keygen", "--algorithm", "ec-p256", "--out", "k.pem", "--public-out", "k.pub")["key_hint"]
    assert r("keygen", "--algorithm", "ec-p256", "--out", "k.pem", exit=2)["errors"][0]["code"] == "output_exists"
    assert r("keygen", "--algorithm", "nope", "--out", "x.pem", exit=2)["errors"][0]["code"] == "usage"
    assert r("pubkey", "signer.pem")["public_key_pem"].startswith("-----BEGIN PUBLIC KEY")
    assert r("pubkey", "missing.pem", exit=2)["errors"][0]["code"] == "key_not_found"
    r("pubkey", "--bogus", exit=2)

    # sign, verify (key and policy), inspect, digest
    sig = r("sign", "llm", "--key", "signer.pem")
    assert sig["signed"] is True and sig["findings"] is None
    assert r("sign", "llm", "--key", "signer.pem", exit=2)["errors"][0]["code"] == "output_exists"
    assert r("sign", "llm", "--key", "nosuch.pem", "-o", "x.sig", exit=2)["errors"][0]["code"] == "key_not_found"
    assert r("sign", "llm", exit=2)["verb"] == "sign"
    assert r("verify", "llm", "--key", "signer.pub.pem")["verified"] is True
    untrusted = r("verify", "llm", "--key", "other.pub.pem", exit=1)
    assert untrusted["errors"][0]["code"] == "untrusted_key" and untrusted["signer"] is None
    r("verify", "llm", "--key", "k.pub", "--policy", "trust.toml", exit=2)
    allowed = r("verify", "llm", "--policy", "trust.toml", "--model-name", "prod/llm")
    assert allowed["rule"]["name"] == "prod/*" and len(allowed["request_id"]) == 32
    assert allowed["signatures"][0]["key_id"] == sig["signer"]["key_hint"]
    denied = r("verify", "llm", "--policy", "other.toml", "--model-name", "prod/llm", exit=1)
    assert {"untrusted_key", "threshold_not_met"} <= {e["code"] for e in denied["errors"]}, denied
    assert denied["policy_digest"] != allowed["policy_digest"]
    broken = r("verify", "llm", "--policy", "broken.toml", exit=2)
    assert broken["errors"][0]["code"] == "policy_invalid" and broken["errors"][0]["path"] == "broken.toml"
    assert r("inspect", "llm.sig")["verified"] is False
    assert r("inspect", "missing.sig", exit=2)["errors"][0]["code"] == "not_found"
    r("inspect", exit=2)
    assert r("digest", "llm")["root_digest"].startswith("sha256:")
    assert r("digest", "missing", exit=2)["errors"][0]["code"] == "not_found"
    r("digest", "llm", "--shard-size", "10", exit=2)

    # the envelope verbs
    assert r("encrypt", "llm", "--recipient", "kek-1", "-o", "llm.enc")["encrypted"] is True
    assert r("encrypt", "llm", "--recipient", "nope", "-o", "x.enc", exit=2)["errors"][0]["code"] == "key_not_found"
    r("encrypt", "llm", "-o", "x.enc", exit=2)
    assert r("inspect", "llm.enc")["encrypted"] is True
    assert r("decrypt", "llm.enc", "--key", "kek-1", "-o", "plain")["decrypted"] is True
    wrong = r("decrypt", "llm.enc", "--key", "kek-2", "-o", "plain2", exit=1)
    assert wrong["errors"][0]["code"] == "not_a_recipient" and wrong["decrypted"] is False
    r("decrypt", "llm.enc", "-o", "plain3", exit=2)
    assert r("rewrap", "llm.enc", "--key", "kek-1", "--recipient", "kek-2")["rewrapped"] is True
    r("rewrap", "llm.enc", "--key", "nope", "--recipient", "kek-2", exit=2)
    r("rewrap", exit=2)
    sealed = r("seal", "llm", "--key", "signer.pem", "--recipient", "kek-1", "-o", "llm.sealed",
               "--model-name", "prod/llm")
    assert sealed["sealed"] is True
    assert r("seal", "llm", "--key", "signer.pem", "--recipient", "kek-1", "-o", "llm.sealed",
             exit=2)["errors"][0]["code"] == "output_exists"
    assert r("seal", "leaky", "--key", "signer.pem", "--recipient", "kek-1", "-o", "leaky.sealed",
             exit=1)["findings"]
    r("seal", "llm", "-o", "x", exit=2)
    unsealed = r("unseal", "llm.sealed", "--policy", "trust.toml", "--key", "kek-1", "--out", "run")
    assert unsealed["rule"]["name"] == "prod/*" and unsealed["signed_name"] == "prod/llm"
    denied = r("unseal", "llm.sealed", "--policy", "other.toml", "--key", "kek-1", "--out", "run2", exit=1)
    assert denied["denied"]["stage"] == "encrypted model" and denied["errors"][0]["code"] == "untrusted_key"
    assert r("unseal", "llm.sealed", "--policy", "broken.toml", "--key", "kek-1", "--out", "run3",
             exit=2)["errors"][0]["code"] == "policy_invalid"
    r("unseal", "llm.sealed", exit=2)

    # endorse: an outer co-signature on the sealed model, without a decryption key
    endorsed = r("endorse", "llm.sealed", "--key", "k.pem")
    assert endorsed["endorsed"] is True and endorsed["existing"][0]["path"].endswith("llm.sealed.sig")
    assert r("endorse", "missing.sealed", "--key", "k.pem", exit=2)["endorsed"] is False
    r("endorse", "llm.sealed", exit=2)

    # scan, serve's start-up errors, and no verb at all
    assert r("scan", "llm")["clean"] is True
    assert r("scan", "leaky", exit=1)["errors"][0]["code"] == "credentials_found"
    r("scan", exit=2)
    assert r("serve", "--policy", "missing.toml", "--root", ".", exit=2)["errors"][0]["code"] == "not_found"
    r("serve", "--policy", "trust.toml", "--root", ".", "--listen", "nowhere", exit=2)
    assert r("frobnicate", exit=2)["verb"] is None


def test_serve_answers_and_its_own_result(env: pathlib.Path) -> None:
    run("sign", "llm", "--key", "signer.pem", "-o", "serve.sig", "--force", cwd=env, exit=0)
    shutil.copy(env / "trust.toml", env / "serve.toml")
    server = subprocess.Popen(
        [CLI, "serve", "--policy", "serve.toml", "--root", ".", "--listen", "127.0.0.1:0", "--json"],
        cwd=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stderr is not None
        address = json.loads(server.stderr.readline())["address"]

        def ask(method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
            request = urllib.request.Request(f"http://{address}{path}", data=body, method=method)
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    return answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        for method, path, body, status, code in [
            ("GET", "/v1/verify", None, 405, "method_not_allowed"),
            ("GET", "/nope", None, 404, "not_found"),
            ("POST", "/v1/verify", b"{", 400, "request_malformed"),
            ("POST", "/v1/verify", json.dumps({"model": "llm", "signatures": ["serve.sig"], "model_name": "prod/llm"}).encode(), 200, None),
            ("POST", "/v1/verify", json.dumps({"model": "llm", "signatures": ["nope.sig"], "model_name": "prod/llm"}).encode(), 404, "not_found"),
        ]:
            got, answer = ask(method, path, body)
            assert got == status, (path, answer)
            errors = [e.message for e in VALIDATOR.iter_errors(answer)]
            assert not errors, (path, errors, answer)
            assert answer["verb"] == "verify"
            assert [e["code"] for e in answer["errors"]][:1] == ([code] if code else []), answer

        # A reload that fails leaves the old policy deciding, and /healthz says so until one works.
        def health_after_reload(want: int) -> dict:
            server.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while True:
                got, health = ask("GET", "/healthz")
                if got == want or time.monotonic() > deadline:
                    assert got == want, health
                    return health
                time.sleep(0.05)

        (env / "serve.toml").write_text("version = \n")
        degraded = health_after_reload(503)
        assert degraded["status"] == "degraded" and "reload failed" in degraded["reasons"][0], degraded
        shutil.copy(env / "trust.toml", env / "serve.toml")
        assert health_after_reload(200)["status"] == "ok"
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, _ = server.communicate(timeout=30)
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    result = json.loads(lines[0])
    assert not list(VALIDATOR.iter_errors(result)), result
    assert result["verb"] == "serve" and result["ok"] is True, result


def test_the_documented_rego_sees_the_file_list(env: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """docs/policy.md's Rego example, verbatim: pickles are denied by name and size, and a model
    nothing verified for still gets a file count (it printed "has only  file(s)" before)."""
    import pickle
    import re

    doc = (ROOT / "docs/policy.md").read_text()
    rego = re.search(r"```rego\n(package modelseal\n.*?)```", doc, re.S).group(1)
    for name in ("signer.pem", "signer.pub.pem", "other.pub.pem"):
        shutil.copy(env / name, tmp_path / name)
    (tmp_path / "deploy.rego").write_text(rego)
    policy = (env / "trust.toml").read_text() + '[rego]\nfile = "deploy.rego"\n'
    (tmp_path / "trust.toml").write_text(policy)
    (tmp_path / "other.toml").write_text(policy.replace('"signer.pub.pem"', '"other.pub.pem"'))
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.pkl").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    run("sign", "m", "--key", "signer.pem", cwd=tmp_path, exit=0)
    denied = run("verify", "m", "--policy", "trust.toml", "--model-name", "prod/m", cwd=tmp_path, exit=1)
    messages = {e["code"]: e["message"] for e in denied["errors"]}
    assert set(messages) == {"rego_denied"}, denied
    assert sorted(e["message"] for e in denied["errors"]) == [
        f"rego: model.pkl is a pickle ({(model / 'model.pkl').stat().st_size} bytes)",
        "rego: prod/m has only 1 file(s)",
    ], denied
    untrusted = run("verify", "m", "--policy", "other.toml", "--model-name", "prod/m", cwd=tmp_path, exit=1)
    assert "rego: prod/m has only 1 file(s)" in [e["message"] for e in untrusted["errors"]], untrusted
