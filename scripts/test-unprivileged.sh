#!/usr/bin/env bash
# Runs the Rust tests that have `unprivileged` in their names as the user nobody (run by
# scripts/test.sh as root, after the other tests; needs the ci-profile test build it made).
#
# Why: root (CAP_DAC_OVERRIDE) reads, writes and removes regardless of mode bits, so a test of
# what modelseal does with read-only (0500) directories — the cleanup of what a killed unseal left —
# passes as root whatever modelseal does. Those tests assert first that mode bits bind them, so
# as root they fail instead of passing unchecked; scripts/test.sh leaves them out of its root run.
#
# nobody must reach the test binaries and the files their paths name (compiled in: the CLI binary,
# test-vectors/): every directory above the repository gets the search (x) bit for others where it
# lacks it (CI's fresh clone under /root, mode 0700), and each change is printed. Temporary files
# go to a directory of nobody's own (TMPDIR, also HOME), removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "scripts/test-unprivileged.sh: run as root (it switches to nobody)" >&2; exit 2; }
user=nobody group=nogroup
getent group "$group" >/dev/null || group=nobody
as_nobody=(setpriv --reuid="$user" --regid="$group" --clear-groups)

d=$root
while [ "$d" != / ]; do
  if ! "${as_nobody[@]}" test -x "$d"; then
    echo "   chmod o+x $d (so that $user reaches the test binaries)"
    chmod o+x "$d"
  fi
  d=$(dirname "$d")
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/modelseal-unprivileged.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chown "$user:$group" "$tmp"
chmod 0700 "$tmp"

# The test binaries of the build scripts/test.sh just made (nothing is rebuilt).
mapfile -t binaries < <(cargo test --profile ci --quiet --workspace --exclude modelseal-python --lib --bins --tests \
  --no-run --message-format=json 2>/dev/null \
  | "$root/.venv/bin/python" -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')
[ ${#binaries[@]} -gt 0 ] || { echo "no test binaries found" >&2; exit 1; }

ran=0
for bin in "${binaries[@]}"; do
  # Only binaries that hold such tests (listing them is cheap and needs no privilege).
  tests=$("$bin" --list --format terse unprivileged 2>/dev/null | grep -c ': test$' || true)
  [ "$tests" -gt 0 ] || continue
  echo "   $(basename "$bin"): $tests test(s) as $user"
  (cd "$tmp" && env TMPDIR="$tmp" HOME="$tmp" "${as_nobody[@]}" "$bin" --quiet unprivileged)
  ran=$((ran + tests))
done
# Never pass silently: the tests exist, so none found means the naming or this script broke.
[ "$ran" -gt 0 ] || { echo "no test named unprivileged found in ${binaries[*]}" >&2; exit 1; }
echo "   $ran unprivileged test(s) passed as $user"
