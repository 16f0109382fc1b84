#!/usr/bin/env bash
# Creates a private SoftHSM2 token for modelseal's PKCS#11 tests, in DIR (created if missing, must be
# empty): DIR/softhsm2.conf (point SOFTHSM2_CONF at it), DIR/tokens/, DIR/user.pin (mode 0400, a fresh
# random user PIN; the SO PIN is random too and thrown away) and DIR/env (shell lines: SOFTHSM2_CONF,
# MODELSEAL_PKCS11_MODULE, MODELSEAL_TEST_TOKEN, MODELSEAL_TEST_PIN_FILE).
#
# Token `modelseal-test`, objects (label, CKA_ID hex):
#   ec-p256 01, ec-p384 02   EC key pairs for signing (private key CKA_SIGN)
#   aes-wrap 03              AES-256, sensitive, not extractable: CKA_WRAP/UNWRAP/ENCRYPT/DECRYPT
#   rsa-3072 04              RSA-3072 key pair for decryption (CKA_DECRYPT/UNWRAP)
#   ec-k256 05               EC secp256k1 key pair: a curve modelseal does not sign with (tests)
#   aes-extractable 06       AES-256, extractable and not sensitive, TEST ONLY: lets a test read the
#                            KEK and check the token's AES-KWP output against an independent RFC 5649
#
# The PIN never reaches argv: pkcs11-tool reads it from an environment variable (`--pin env:NAME`).
# Installs softhsm2 and opensc (pkcs11-tool) when missing. Quiet unless something fails.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MODELSEAL_LOG_NAME=softhsm-init

[ $# -eq 1 ] || die "usage: $0 DIR"
dir="$1"
ensure_apt softhsm2 opensc

module=""
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
  /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
  if [ -f "$candidate" ]; then module="$candidate"; break; fi
done
[ -n "$module" ] || die "libsofthsm2.so not found after installing softhsm2"

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
[ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
umask 077
mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
  "$dir" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"

# Fresh random PINs; only the user PIN is kept, in a 0400 file.
MODELSEAL_INIT_SO_PIN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
MODELSEAL_INIT_USER_PIN="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export MODELSEAL_INIT_SO_PIN MODELSEAL_INIT_USER_PIN
printf '%s\n' "$MODELSEAL_INIT_USER_PIN" >"$dir/user.pin"
chmod 0400 "$dir/user.pin"

token=modelseal-test
out="$dir/init.log"
p11() { pkcs11-tool --module "$module" "$@" </dev/null >>"$out" 2>&1 || { cat "$out" >&2; die "pkcs11-tool $1 $2 failed"; }; }
user() { p11 --token-label "$token" --login --pin env:MODELSEAL_INIT_USER_PIN "$@"; }

p11 --init-token --label "$token" --so-pin env:MODELSEAL_INIT_SO_PIN
p11 --token-label "$token" --login --login-type so --so-pin env:MODELSEAL_INIT_SO_PIN \
  --init-pin --pin env:MODELSEAL_INIT_USER_PIN
user --keypairgen --key-type EC:prime256v1 --label ec-p256 --id 01 --usage-sign
user --keypairgen --key-type EC:secp384r1 --label ec-p384 --id 02 --usage-sign
user --keygen --key-type AES:32 --label aes-wrap --id 03 --usage-wrap --usage-decrypt --sensitive
user --keypairgen --key-type RSA:3072 --label rsa-3072 --id 04 --usage-decrypt --usage-wrap
user --keypairgen --key-type EC:secp256k1 --label ec-k256 --id 05 --usage-sign
user --keygen --key-type AES:32 --label aes-extractable --id 06 --usage-wrap --usage-decrypt --extractable
rm -f "$out"

cat >"$dir/env" <<EOF
SOFTHSM2_CONF=$dir/softhsm2.conf
MODELSEAL_PKCS11_MODULE=$module
MODELSEAL_TEST_TOKEN=$token
MODELSEAL_TEST_PIN_FILE=$dir/user.pin
EOF
chmod 0644 "$dir/env"
