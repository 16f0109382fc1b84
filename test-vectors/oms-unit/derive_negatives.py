"""Derives the negative vectors (neg-*.sig) from 1.1.1's positive ones; run by generate.sh.

Each negative changes one thing; where the change would also break the subject digest, the digest
is recomputed so that exactly the intended rule is what fails. Signatures are left stale: these
vectors test parsing, and a parser must not depend on the signature to reject them.
"""

import base64
import hashlib
import json


def load(name):
    with open(name, encoding="utf-8") as f:
        return json.load(f)


def save(name, bundle):
    with open(name, "w", encoding="utf-8") as f:
        f.write(json.dumps(bundle, separators=(",", ":")))


def statement(bundle):
    return json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))


def with_statement(bundle, st, fix_root=True):
    if fix_root:
        raw = b"".join(bytes.fromhex(r["digest"]) for r in st["predicate"]["resources"])
        st["subject"][0]["digest"]["sha256"] = hashlib.sha256(raw).hexdigest()
    out = json.loads(json.dumps(bundle))
    out["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    return out


key = load("key-files-sha256.sig")
shards = load("key-shards-sha256.sig")

b = json.loads(json.dumps(key))
b["dsseEnvelope"]["signatures"] *= 2
save("neg-two-signatures.sig", b)

b = json.loads(json.dumps(key))
b["dsseEnvelope"]["signatures"] = []
save("neg-no-signature.sig", b)

b = json.loads(json.dumps(key))
b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"
save("neg-media-type-v0.2.sig", b)

b = json.loads(json.dumps(key))
stripped = False
for holder, field in [(b["dsseEnvelope"], "payload"), (b["dsseEnvelope"]["signatures"][0], "sig")]:
    if holder[field].endswith("="):
        holder[field] = holder[field].rstrip("=")
        stripped = True
assert stripped, "no padded base64 field to strip; rerun generate.sh"
save("neg-unpadded-base64.sig", b)

st = statement(key)
st["predicate"]["resources"][0]["digest"] = hashlib.sha256(b"tampered").hexdigest()
save("neg-root-mismatch.sig", with_statement(key, st, fix_root=False))

st = statement(key)
st["predicate"]["resources"][0]["name"] = "../" + st["predicate"]["resources"][0]["name"]
save("neg-dotdot-name.sig", with_statement(key, st))

st = statement(key)
st["predicate"]["resources"].append(dict(st["predicate"]["resources"][0]))
save("neg-duplicate-resource.sig", with_statement(key, st))

st = statement(key)
st["subject"].append(dict(st["subject"][0]))
save("neg-two-subjects.sig", with_statement(key, st))

st = statement(shards)
first = st["predicate"]["resources"][0]
path = first["name"].rsplit(":", 2)[0]
first["name"] = f"{path}:2:4"
save("neg-shard-misaligned.sig", with_statement(shards, st))

st = statement(shards)
st["predicate"]["serialization"]["shard_size"] = 4.5
save("neg-shard-size-fraction.sig", with_statement(shards, st))
