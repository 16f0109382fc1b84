#!/usr/bin/env bash
# Regenerates every file in test-vectors/oms-unit/ (see README.md there for what each one is).
#
#   PYTHON   a python with model-signing==1.1.1 and pyOpenSSL (default: $MODELSEAL_PYTHON, then
#            <repo>/.venv/bin/python)
#   MT_REPO  a git clone of github.com/sigstore/model-transparency holding tag v1.1.1 (only for the
#            upstream/ copies; skipped with a notice when unset)
#
# Positive vectors come straight from model-signing 1.1.1 (CLI where it can, its Python API for the
# hashing configurations its CLI cannot choose). Negative vectors are derived from those by
# derive_negatives.py, never edited by hand. Keys are fresh on every run, so signatures change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-${MODELSEAL_PYTHON:-$repo/.venv/bin/python}}"
cd "$here"

rm -rf model one.bin keys ./*.sig
mkdir -p model/sub keys

# The model: small files whose digests a test recomputes independently.
printf 'hello' > model/a.txt
printf 'world\n' > model/sub/b.bin
: > model/empty
printf 'colon in the name' > 'model/x:y.bin'
printf '0123456789' > one.bin

# Keys: a P-256 signing key, a CA, and a leaf certificate for the signing key (digitalSignature,
# codeSigning), all with openssl.
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out keys/signing-key.pem
openssl ec -in keys/signing-key.pem -pubout -out keys/signing-key.pub 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out keys/ca-key.pem
openssl req -x509 -new -key keys/ca-key.pem -subj "/CN=modelseal oms-unit test root" -days 36500 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out keys/ca.pem
openssl req -new -key keys/signing-key.pem -subj "/CN=modelseal oms-unit signer" -out keys/leaf.csr
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > keys/leaf.ext
openssl x509 -req -in keys/leaf.csr -CA keys/ca.pem -CAkey keys/ca-key.pem -set_serial 2 -days 36500 \
  -extfile keys/leaf.ext -out keys/leaf.pem 2>/dev/null
openssl x509 -in keys/leaf.pem -outform DER -out keys/leaf.der
openssl x509 -in keys/ca.pem -outform DER -out keys/ca.der
rm keys/leaf.csr keys/leaf.ext keys/ca-key.pem

ms() { "$PYTHON" -m model_signing "$@" >/dev/null; }
ms sign key --private_key keys/signing-key.pem --signature key-files-sha256.sig model
ms sign certificate --private_key keys/signing-key.pem --signing_certificate keys/leaf.pem \
  --certificate_chain keys/ca.pem --signature cert-files-sha256.sig model
ms sign key --private_key keys/signing-key.pem --signature key-single-file.sig one.bin

# Configurations the 1.1.1 CLI cannot select: through its Python API.
api() { # api OUT MODEL HASH METHOD [SHARD_SIZE]
  "$PYTHON" - "$@" <<'PY'
import sys
from model_signing import hashing, signing
out, model, hash_name, method = sys.argv[1:5]
config = hashing.Config()
if method == "shards":
    config = config.use_shard_serialization(hashing_algorithm=hash_name, shard_size=int(sys.argv[5]))
else:
    config = config.use_file_serialization(hashing_algorithm=hash_name)
signing.Config().use_elliptic_key_signer(private_key="keys/signing-key.pem").set_hashing_config(config).sign(model, out)
PY
}
api key-shards-sha256.sig model sha256 shards 4
api key-files-blake2b.sig model blake2 files
api key-shards-blake2b.sig model blake2 shards 3
api key-files-blake3.sig model blake3 files
api key-single-file-shards.sig one.bin sha256 shards 4

"$PYTHON" derive_negatives.py

if [ -n "${MT_REPO:-}" ]; then
  rm -rf upstream && mkdir -p upstream
  for v in v0.2.0-certificate v0.3.1-elliptic-key v1.0.1-certificate v1.0.1-elliptic-key \
           v1.1.0-certificate v1.1.0-elliptic-key v1.1.0-sigstore; do
    git -C "$MT_REPO" show "v1.1.1:scripts/tests/$v/model.sig" > "upstream/$v.sig"
  done
  # Only the PEM block: the upstream file continues with certtool's text dump of the key.
  git -C "$MT_REPO" show v1.1.1:scripts/tests/keys/certificate/signing-key-pub.pem \
    | sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' | head -n 5 > upstream/signing-key-pub.pem
  git -C "$MT_REPO" show v1.1.1:scripts/tests/keys/certificate/signing-key-cert.pem \
    | openssl x509 -outform DER -out upstream/signing-key-cert.der
  git -C "$MT_REPO" show v1.1.1:LICENSE > upstream/LICENSE
else
  echo "MT_REPO unset: upstream/ not regenerated" >&2
fi
echo "done"
