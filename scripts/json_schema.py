#!/usr/bin/env python3
"""Writes docs/schema/result.schema.json from the contract's key lists (core/src/report/contract.rs)
and reason codes (core/src/error.rs). Run from the repository root after changing either;
python/tests/test_json_contract.py checks every verb's output against the file."""
import json, re
src = open('core/src/report/contract.rs').read()
body = src[src.index('pub fn keys(self)'):src.index('/// How one run of a verb ended')]
verbs = {}
for m in re.finditer(r'Verb::(\w+) => &\[(.*?)\]', body, re.S):
    verbs[m.group(1).lower()] = re.findall(r'"(\w+)"', m.group(2))
codes = re.findall(r'ErrorCode::\w+ => "(\w+)"', open('core/src/error.rs').read())
def n(t): return {"type": [t, "null"]}
S, B, I, A, O = n("string"), n("boolean"), n("integer"), n("array"), n("object")
strs = {"type": ["array", "null"], "items": {"type": "string"}}
types = {
 "model": S, "out": S, "signature": S, "root_digest": S, "model_name": S, "signed_name": S,
 "policy": S, "policy_digest": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
 "request_id": {"type": ["string", "null"], "pattern": "^[0-9a-f]{32}$"},
 "verified": B, "allowed": B, "signed": B, "sealed": B, "unsealed": B, "already_unsealed": B,
 "decrypted": B, "rewrapped": B, "clean": B, "authenticated": B,
 "resources": I, "line": I, "bytes": I, "chunk_size": I, "certificates": I, "format_version": I,
 "total_bytes": I, "bytes_read": I, "allowed_count": I,
 "signers": strs, "reasons": strs, "warnings": strs, "exempt_files": strs, "format_names": strs,
 "skipped": strs, "partial": strs,
 "rule": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/rule"}]},
 "signatures": A, "formats": A, "findings": A, "recipients": A, "timestamps": A,
 "serialization": O, "signer": O, "recipient": O, "outer": O, "inner": O, "denied": O,
 "algorithm": S, "private_key": S, "public_key": S, "key_hint": S, "key_id": S, "key": S,
 "public_key_pem": S, "body_digest": S, "encrypted_root_digest": S, "method": S,
 "certificate_subject": S, "payload_type": S, "statement_error": S, "path": S, "envelope": S,
 "layout": S, "allow_list": S, "listen": S, "endorsed": B, "existing": A,
}
verb_types = {  # keys whose type differs by verb
 ("scan", "allowed"): I, ("encrypt", "encrypted"): B, ("inspect", "encrypted"): B,
 ("decrypt", "encrypted"): S, ("rewrap", "encrypted"): S, ("unseal", "encrypted"): S,
 ("verify", "files"): I, ("encrypt", "files"): I, ("decrypt", "files"): I, ("seal", "files"): I,
 ("scan", "files"): I, ("inspect", "files"): A,
}
branches = []
for verb, keys in verbs.items():
    props = {}
    for k in keys:
        props[k] = verb_types.get((verb, k)) or types.get(k) or {}
    branches.append({"if": {"properties": {"verb": {"const": verb}}, "required": ["verb"]},
                     "then": {"properties": props, "required": keys}})
branches.append({"if": {"properties": {"verb": {"type": "null"}}, "required": ["verb"]},
                 "then": {"properties": {"ok": {"const": False}}}})
branches.append({"if": {"properties": {"ok": {"const": True}}, "required": ["ok"]},
                 "then": {"properties": {"error_class": {"type": "null"}, "errors": {"maxItems": 0}}},
                 "else": {"properties": {"error_class": {"enum": ["failed", "input", "internal"]}}}})
schema = {
 "$schema": "https://json-schema.org/draft/2020-12/schema",
 "$id": "https://github.com/modelseal/modelseal/docs/schema/result.schema.json",
 "title": "modelseal --json result (modelseal.result/v1)",
 "description": "The one object every modelseal verb prints on stdout with --json, on every outcome; and every answer of `serve` to POST /v1/verify (verb `verify`). Generated from core/src/report/contract.rs and core/src/error.rs by scripts/json_schema.py; docs/json.md explains it.",
 "type": "object",
 "required": ["schema", "verb", "ok", "error_class", "errors"],
 "properties": {
  "schema": {"const": "modelseal.result/v1"},
  "verb": {"enum": list(verbs) + [None]},
  "ok": {"type": "boolean"},
  "error_class": {"enum": ["failed", "input", "internal", None]},
  "errors": {"type": "array", "items": {"$ref": "#/$defs/error"}},
 },
 "allOf": branches,
 "unevaluatedProperties": False,
 "$defs": {
  "error": {"type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {"code": {"enum": codes}, "message": {"type": "string"},
                           "path": {"type": "string"}}},
  "rule": {"type": "object", "required": ["index", "name", "require", "threshold"],
           "additionalProperties": False,
           "properties": {"index": {"type": "integer"}, "name": {"type": "string"},
                          "require": {"type": "array", "items": {"type": "string"}},
                          "threshold": {"type": "integer"}}},
 },
}
open('docs/schema/result.schema.json', 'w').write(json.dumps(schema, indent=2) + "\n")
print(len(verbs), "verbs,", len(codes), "codes")
