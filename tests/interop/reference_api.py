"""Drive model-signing 1.1.1's Python API from a subprocess, for the interop tests.

The 1.1.1 CLI always hashes files+sha256, so shards, BLAKE2b and BLAKE3 signatures can only be
made and checked through its API with an explicit hashing configuration. The tests run this
script with the reference venv's python, so the test process never imports model_signing itself.

Usage: python reference_api.py JSON   where JSON is one operation or a list of them:
  {"op": "sign",   "model": P, "signature": P, "private_key": P,
                   ["cert": P, "chain": [P, ...]], ["serialization": S], ["ignore": [rel, ...]]}
  {"op": "verify", "model": P, "signature": P, ("public_key": P | "roots": P),
                   ["serialization": S], ["ignore_unsigned_files": bool]}
  {"op": "digest", "model": P, ["serialization": S]}       -> the root digest 1.1.1 computes
with S = {"method": "files"|"shards", "hash": "sha256"|"blake2b"|"blake3", ["shard_size": N]}
(default files+sha256). Prints a JSON list with one {"ok", "error", ["root_digest"]} per
operation; exits 0 whenever the operations ran, whatever their outcome.
"""

import json
import pathlib
import sys

import model_signing
from model_signing._signing import signing as _signing

# 1.1.1's API spells BLAKE2b "blake2"; OMS payloads and modelseal say "blake2b".
_API_HASH = {"sha256": "sha256", "blake2b": "blake2", "blake3": "blake3"}


def _hashing(op: dict) -> "model_signing.hashing.Config":
    ser = op.get("serialization") or {"method": "files", "hash": "sha256"}
    cfg = model_signing.hashing.Config()
    if op.get("ignore"):
        cfg.set_ignored_paths(paths=op["ignore"])
    algorithm = _API_HASH[ser["hash"]]
    if ser["method"] == "shards":
        return cfg.use_shard_serialization(
            hashing_algorithm=algorithm, shard_size=int(ser["shard_size"])
        )
    return cfg.use_file_serialization(hashing_algorithm=algorithm)


def _sign(op: dict) -> dict:
    cfg = model_signing.signing.Config()
    if op.get("cert"):
        cfg.use_certificate_signer(
            private_key=op["private_key"],
            signing_certificate=op["cert"],
            certificate_chain=op.get("chain", []),
        )
    else:
        cfg.use_elliptic_key_signer(private_key=op["private_key"])
    cfg.set_hashing_config(_hashing(op)).sign(pathlib.Path(op["model"]), op["signature"])
    return {"ok": True, "error": ""}


def _verify(op: dict) -> dict:
    cfg = model_signing.verifying.Config()
    if op.get("roots"):
        cfg.use_certificate_verifier(certificate_chain=[op["roots"]])
    else:
        cfg.use_elliptic_key_verifier(public_key=op["public_key"])
    cfg.set_hashing_config(_hashing(op))
    cfg.set_ignore_unsigned_files(bool(op.get("ignore_unsigned_files")))
    cfg.verify(pathlib.Path(op["model"]), pathlib.Path(op["signature"]))
    return {"ok": True, "error": ""}


def _digest(op: dict) -> dict:
    manifest = _hashing(op).hash(pathlib.Path(op["model"]))
    statement = _signing.Payload(manifest).statement.pb
    return {"ok": True, "error": "", "root_digest": statement.subject[0].digest["sha256"]}


_OPS = {"sign": _sign, "verify": _verify, "digest": _digest}


def main() -> None:
    if model_signing.__version__ != "1.1.1":
        sys.exit(f"reference_api.py: need model-signing 1.1.1, found {model_signing.__version__}")
    request = json.loads(sys.argv[1])
    ops = request if isinstance(request, list) else [request]
    results = []
    for op in ops:
        try:
            results.append(_OPS[op["op"]](op))
        except Exception as err:  # 1.1.1 raises ValueError, InvalidSignature, OpenSSL errors...
            results.append({"ok": False, "error": f"{type(err).__name__}: {err}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
