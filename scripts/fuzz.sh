#!/usr/bin/env bash
# Fuzzes every parser of untrusted input with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    run each target for SECONDS (default 20) in turn
#
# The machine has only the stable toolchain; cargo-fuzz needs `-Z` flags, which stable accepts
# with RUSTC_BOOTSTRAP=1 (the AddressSanitizer runtime ships with stable's rust-std). cargo-fuzz
# is installed into ~/.cargo/bin on first use (pinned, --locked). Seed corpora come from
# test-vectors/ (copied into fuzz/corpus/<target>, which libFuzzer then grows). A crash stops the
# run with exit 1 and leaves its input in fuzz/artifacts/<target>/; after the fix, commit it as a
# regression input in fuzz/regressions/<target>/ (with a unit test of the fix in core): every run
# copies those into the corpus, so libFuzzer replays them first, in CI's smoke run too.
# Prints one summary line per target: executions, coverage (cov/ft), corpus size.
# Built with --release --debug-assertions (-a): optimized, but every debug_assert! runs and integer
# overflow panics (rustc's overflow checks follow debug assertions), so a wrap-around on an
# attacker-controlled length is a crash the fuzzer reports, not a silent wrong value.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MODELSEAL_LOG_NAME=modelseal-fuzz
cd "$MODELSEAL_ROOT"

seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(oms_bundle oms_statement seal_header seal_chunks seal_decrypt key_reference policy)

cargo_fuzz_version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
  log "installing cargo-fuzz $cargo_fuzz_version"
  # --debug: it only drives cargo and libFuzzer, and builds in a third of the time.
  cargo install --quiet --locked --debug --version "$cargo_fuzz_version" cargo-fuzz </dev/null
fi
export RUSTC_BOOTSTRAP=1

seed() {
  local target=$1 dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  case "$target" in
    oms_bundle) find test-vectors/oms test-vectors/oms-unit -name '*.sig' -o -name '*.json' -path '*oms*' ;;
    oms_statement)
      # DSSE payloads of the reference vectors.
      find test-vectors/oms -name '*.sig' | while read -r sig; do
        .venv/bin/python -c 'import base64,json,sys; b=json.load(open(sys.argv[1])); sys.stdout.buffer.write(base64.b64decode(b["dsseEnvelope"]["payload"]))' "$sig" \
          >"$dir/payload-$(basename "$(dirname "$sig")")-$(basename "$sig")" 2>/dev/null || true
      done ;;
    seal_header)
      find test-vectors/seal -name '*.mseal' -o -name modelseal.envelope | while read -r f; do
        .venv/bin/python -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); n=struct.unpack(">I",d[10:14])[0]; sys.stdout.buffer.write(d[14:14+n])' "$f" \
          >"$dir/header-$(echo "$f" | tr / _)" 2>/dev/null || true
      done ;;
    seal_chunks | seal_decrypt) find test-vectors/seal -name '*.mseal' ;;
    policy) find docs -name '*.md' -exec awk '/^```toml/{f=1;next} /^```/{f=0} f' {} + >"$dir/docs-examples.toml" ;;
    key_reference) printf '%s\n' 'keys/release.pem' 'file:///abs/key.pem' \
      'pkcs11:token=ml;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin' \
      'awskms:///alias/model-release' 'awskms://127.0.0.1:4566/arn:aws:kms:us-east-1:1:key/k' >"$dir/refs" ;;
  esac | while read -r f; do [ -f "$f" ] && cp -n "$f" "$dir/$(echo "$f" | tr / _)"; done
  if [ -d "fuzz/regressions/$target" ]; then
    cp -n "fuzz/regressions/$target"/* "$dir/"
  fi
}

# One build of every target (one cargo invocation: the dependencies are shared, and both cores
# stay busy), then each target's binary is run directly. 16 codegen units instead of cargo-fuzz's
# default of 1: LLVM then works on one crate on every core (modelseal, the largest, is compiled
# last and alone), for somewhat fewer executions per second.
mkdir -p fuzz/target
log "building ${#targets[@]} targets (instrumented, AddressSanitizer, debug assertions)"
build_start=$SECONDS
one=()
[ ${#targets[@]} -ne 1 ] || one=("${targets[0]}")
if ! (cd fuzz && cargo fuzz build --release --debug-assertions --codegen-units 16 "${one[@]}" </dev/null \
      >target/build.log 2>&1); then
  tail -n 40 fuzz/target/build.log >&2
  log "the fuzz targets did not build (fuzz/target/build.log)"
  exit 1
fi
log "built in $((SECONDS - build_start)) s"
bin_dir="${CARGO_TARGET_DIR:-fuzz/target}/$(rustc -vV | sed -n 's/^host: //p')/release"
# What `cargo fuzz run` sets for AddressSanitizer (Rust's statics trip its ODR check).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

status=0
for t in "${targets[@]}"; do
  seed "$t"
  log "running $t for ${seconds}s"
  logfile="fuzz/target/$t.log"
  mkdir -p "fuzz/artifacts/$t"
  if ! "$bin_dir/$t" -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$seconds" -max_len=65536 \
        -rss_limit_mb=1024 -print_final_stats=1 "fuzz/corpus/$t" </dev/null >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    log "$t FAILED: crash input in fuzz/artifacts/$t/"
    status=1
    continue
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logfile" | grep -o '[0-9]*$' || echo '?')
  line=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$logfile" | tail -n1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
  printf '%-14s %8s execs in %ss  %s\n' "$t" "$execs" "$seconds" "$line"
done
exit $status
