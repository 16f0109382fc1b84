#!/usr/bin/env bash
# Prepare a machine for modelseal's tests: SoftHSM2 and OpenSC (pkcs11-tool) for the PKCS#11 tests,
# strace for the secret-hygiene test,
# the reference implementation model-signing 1.1.1 and the tools in scripts/requirements-test.txt,
# in <repo>/.venv.
#
# Idempotent and quiet: a stamp file named after the hash of the requirements marks a
# finished install, so a second run does nothing and prints nothing. Prints only when it
# does work or fails. Runs unattended (CI=true, no stdin) as root on a fresh Debian.
#
# Environment: MODELSEAL_VENV overrides the venv location (default <repo>/.venv);
#              MODELSEAL_VENV_PYTHON: the interpreter that creates it (default python3).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="${MODELSEAL_VENV:-$MODELSEAL_ROOT/.venv}"
requirements="$MODELSEAL_ROOT/scripts/requirements-test.txt"
python="${MODELSEAL_VENV_PYTHON:-python3}"
uv_version=0.9.30

# PKCS#11 test token tools (scripts/softhsm-init.sh makes the tokens); a dpkg query when present.
ensure_apt softhsm2 opensc
# strace records the argv of every process the secret-hygiene test runs (tests/interop).
ensure_apt strace

# Azurite (the Azure Blob emulator of the object-storage tests, scripts/storage_emulator.py), from
# npm into <repo>/.emulators; Node comes from Debian when missing. Its own check keeps reruns quiet.
azurite_version=3.37.0
emulators="$MODELSEAL_ROOT/.emulators"
if [ ! -f "$emulators/node_modules/azurite/package.json" ] \
  || ! grep -q "\"version\": \"$azurite_version\"" "$emulators/node_modules/azurite/package.json"; then
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
  log "installing azurite $azurite_version into $emulators"
  mkdir -p "$emulators"
  npm_out="$(mktemp)"
  if ! npm install --silent --no-audit --no-fund --prefix "$emulators" "azurite@$azurite_version" \
    </dev/null >"$npm_out" 2>&1; then
    cat "$npm_out" >&2
    rm -f "$npm_out"
    die "npm install azurite@$azurite_version failed"
  fi
  rm -f "$npm_out"
fi

# The stamp covers the requirements and this script's own version of the recipe.
recipe_hash="$(cat "$requirements" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
stamp="$venv/.modelseal-setup-$recipe_hash"

# Fast path: nothing to do. Only file tests here, so a rerun costs milliseconds.
if [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

# A Python that can create venvs with pip. Debian splits `venv`/`ensurepip` into python3-venv;
# other interpreters (pyenv, the python.org builds) ship them.
if ! command -v "$python" >/dev/null 2>&1; then
  ensure_apt python3 python3-venv
  python=python3
fi
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  ensure_apt python3-venv
fi

# A venv whose interpreter no longer runs (the machine changed under it) is rebuilt.
if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "recreating broken venv $venv"
  rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv"
  "$python" -m venv "$venv" || die "could not create venv $venv with $python"
fi

log "installing Python test requirements into $venv"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# uv (pinned) installs the ~90 packages with parallel downloads: 11 s on a cold cache where pip
# took 290 s (measured on this machine kind). pip remains the fallback where uv has no wheel.
if "$venv/bin/python" -m pip install -q "uv==$uv_version" </dev/null >"$out" 2>&1 \
  && "$venv/bin/uv" pip install -q --python "$venv/bin/python" -r "$requirements" </dev/null >"$out" 2>&1; then
  :
else
  log "uv unavailable ($(tail -n1 "$out")); installing with pip"
  if ! "$venv/bin/python" -m pip install -q -r "$requirements" </dev/null >"$out" 2>&1; then
    cat "$out" >&2
    die "pip install -r $requirements failed"
  fi
fi

# Prove the reference CLI imports (it dies at import without pyOpenSSL) before stamping.
if ! "$venv/bin/model_signing" --version >"$out" 2>&1; then
  cat "$out" >&2
  die "model_signing does not start in $venv"
fi

rm -f "$venv"/.modelseal-setup-*
: >"$stamp"
log "done ($("$venv/bin/model_signing" --version 2>/dev/null | tail -n1))"
