#!/usr/bin/env bash
# The modelseal demo: generate a small model, sign it, verify it (with modelseal and with the
# reference implementation model-signing 1.1.1), inspect the signature, then show that tampering
# with a weight, adding a file or swapping the key is detected. Then encrypt the model, inspect the
# encrypted copy, decrypt it, compare, and show that one flipped ciphertext byte makes decryption
# fail (exit 1) without writing anything. Everything stays in .work/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh
cargo build --release --quiet -p modelseal-cli
ms="$root/target/release/modelseal"

demo="$root/.work/demo"
rm -rf "$demo" && mkdir -p "$demo" && cd "$demo"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }
expect_fail() { # runs a command that must exit 1 (verification failed)
  printf '$ %s\n' "$*"
  set +e; "$@"; local code=$?; set -e
  echo "(exit code $code)"
  [ "$code" -eq 1 ] || { echo "demo: expected exit code 1, got $code" >&2; exit 1; }
}

echo "== a model: config, tokenizer and 3 x 16 MiB of weights"
mkdir -p model/weights
printf '{"architectures": ["DemoForCausalLM"], "hidden_size": 256}\n' > model/config.json
printf 'hello\nworld\n' > model/tokenizer.txt
for i in 1 2 3; do head -c $((16 << 20)) /dev/urandom > "model/weights/shard-$i.safetensors"; done
ls -lR model | sed 's/^/  /'

step "a P-256 signing key" "$ms" keygen --algorithm ec-p256 --out release.pem --public-out release.pub.pem
step "sign the model (files + sha256, like model-signing's CLI)" "$ms" sign model --key release.pem
step "inspect the signature (no model, no key needed; unverified)" "$ms" inspect model.sig
step "verify with modelseal" "$ms" verify model --signature model.sig --key release.pub.pem
step "verify with the reference implementation, model-signing 1.1.1" \
  "$root/.venv/bin/model_signing" verify key model --signature model.sig --public_key release.pub.pem

echo; echo "== tamper detection"
cp model/weights/shard-2.safetensors shard-2.orig
printf '\x01' | dd of=model/weights/shard-2.safetensors bs=1 seek=1000 conv=notrunc status=none
expect_fail "$ms" verify model --signature model.sig --key release.pub.pem
mv shard-2.orig model/weights/shard-2.safetensors
echo 'sneaky' > model/weights/extra.py
expect_fail "$ms" verify model --signature model.sig --key release.pub.pem --json
rm model/weights/extra.py
"$ms" keygen --algorithm ec-p256 --out attacker.pem --public-out attacker.pub.pem >/dev/null
"$ms" sign model --key attacker.pem -o forged.sig --quiet
expect_fail "$ms" verify model --signature forged.sig --key release.pub.pem

step "restored model verifies again" "$ms" verify model --signature model.sig --key release.pub.pem

echo; echo "== envelope encryption"
step "an X25519 key pair for the deployment (public half: deploy.pem.pub)" \
  "$ms" keygen --algorithm x25519 --out deploy.pem
step "an AES-256 key-encryption key for the registry" "$ms" keygen --algorithm aes256-kek --out registry.kek
step "encrypt for both recipients" "$ms" encrypt model --recipient deploy.pem.pub --recipient registry.kek -o model.enc
step "inspect the encrypted model (no key; unauthenticated)" "$ms" inspect model.enc
step "decrypt with the deployment's private key" "$ms" decrypt model.enc --key deploy.pem -o model.dec
step "the decrypted model is byte-identical (diff -r compares every file's bytes)" diff -r model model.dec
echo "(identical)"
printf '\x01' | dd of=model.enc/weights/shard-1.safetensors bs=1 seek=5000000 conv=notrunc status=none
echo "flipped one ciphertext byte of model.enc/weights/shard-1.safetensors"
expect_fail "$ms" decrypt model.enc --key deploy.pem -o model.tampered
[ ! -e model.tampered ] && ! ls -a | grep -q 'model.tampered.modelseal-tmp' \
  && echo "nothing written: no model.tampered, no temporary"
echo; echo "demo finished: everything above behaved as expected (files in $demo)"
