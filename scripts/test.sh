#!/usr/bin/env bash
# Runs every test of modelseal on a fresh Debian machine (root) or a developer machine:
# formatting, lints, Rust unit/property/integration tests, the Python package (built by maturin) and
# the interoperability tests against the real model-signing 1.1.1. One release build is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Each stage prints its name and, when it ends, its wall time, so a slow CI run shows where.
stage_name="" stage_start=$SECONDS
stage() {
  [ -z "$stage_name" ] || echo "   ($stage_name: $((SECONDS - stage_start)) s)"
  stage_name=$1 stage_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}

stage "set-up (scripts/setup.sh)"
scripts/setup.sh

stage "cargo fmt / clippy"
cargo fmt --all -- --check
# The `ci` profile (Cargo.toml: release without LTO, less optimization for crates the tests do not
# depend on for speed) for everything: clippy then shares every proc-macro build and build-script
# run (aws-lc-sys's C build among them) with the test build below, instead of doing them twice.
cargo clippy --profile ci --workspace --all-targets --quiet -- -D warnings
# Every test holds a check that can fail (CONTRIBUTING.md).
"$root/.venv/bin/python" scripts/lint_tests.py

stage "Rust tests (ci profile, shared with the CLI and wheel builds)"
export MODELSEAL_PYTHON="$root/.venv/bin/python"
# Builds target/ci/modelseal too (the CLI tests need it), with the same features as the tests:
# a separate `cargo build -p modelseal-cli` would unify features differently and build core twice.
# Examples are left out (clippy checks them); they are benchmark drivers, not tests.
# Tests with `unprivileged` in their names check what modelseal does against mode bits (read-only
# directories a killed unseal leaves behind), which root's override would hide: as root they are
# left out here and run as `nobody` in the next stage; they fail, rather than pass, if run as root.
skip=()
[ "$(id -u)" != 0 ] || skip=(-- --skip unprivileged)
cargo test --profile ci --quiet --workspace --exclude modelseal-python --lib --bins --tests "${skip[@]}"

if [ "$(id -u)" = 0 ]; then
  stage "Rust tests whose names say unprivileged, as nobody (mode bits bind, as for a real user)"
  scripts/test-unprivileged.sh
fi

stage "Python wheel"
rm -rf target/wheels
.venv/bin/maturin build --profile ci --quiet -m python/Cargo.toml -o target/wheels >target/maturin.log 2>&1 \
  || { cat target/maturin.log; exit 1; }
.venv/bin/pip install --quiet --force-reinstall --no-deps target/wheels/modelseal-*.whl

stage "pytest: Python package and interoperability with model-signing 1.1.1"
export MODELSEAL_BIN="$root/target/ci/modelseal"
# Run from the repo root: python/ holds the package source without the native module, and must
# not shadow the installed wheel.
"$root/.venv/bin/python" -m pytest -q -p no:cacheprovider --durations=10 "$root/python/tests" "$root/tests/interop" "$root/tests/kms" \
  "$root/test-vectors/seal/decode_v1.py"

stage "README walkthrough, verbatim, as an unprivileged user (scripts/readme_walkthrough.py)"
"$root/.venv/bin/python" scripts/readme_walkthrough.py

stage "docs/deploy.md's Kubernetes init container, run as the kubelet would, twice (scripts/kube_recipe.py)"
"$root/.venv/bin/python" scripts/kube_recipe.py "$root/target/ci/modelseal"

stage "fuzz smoke: every parser of untrusted input for a few seconds (scripts/fuzz.sh)"
# 5 s per target: the smoke replays every seed and regression input and explores briefly; a real
# fuzzing run is `scripts/fuzz.sh 600` (CI holds 30 minutes, and the instrumented build takes most of
# this stage).
scripts/fuzz.sh "${MODELSEAL_FUZZ_SECONDS:-5}"
stage ""
echo "== all tests passed in $SECONDS s"
