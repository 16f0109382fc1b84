# shellcheck shell=bash
# Shared helpers for modelseal's scripts: quiet logging, root-aware apt installs.
# Source it: `. "$(dirname "$0")/lib.sh"`. Every helper is silent when there is nothing to do.

# Repository root (the directory above scripts/).
MODELSEAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MODELSEAL_ROOT

# log MESSAGE... — one line on stderr, prefixed so CI logs say who spoke.
log() { printf '%s: %s\n' "${MODELSEAL_LOG_NAME:-modelseal-setup}" "$*" >&2; }

# die MESSAGE... — log and exit non-zero.
die() { log "error: $*"; exit 1; }

# as_root CMD... — run CMD as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    die "need root to run: $*"
  fi
}

# apt_missing PKG... — print the packages that dpkg does not list as installed.
apt_missing() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
      printf '%s\n' "$pkg"
    fi
  done
}

# ensure_apt PKG... — install the missing ones; `apt-get update` only when something is missing.
# Non-interactive, so it works under CI=true with no stdin. Silent unless it installs or fails.
ensure_apt() {
  local missing out
  missing="$(apt_missing "$@" | tr '\n' ' ')"
  missing="${missing% }"
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages ($missing) and no apt-get to install them"
  log "installing apt packages: $missing"
  out="$(mktemp)"
  # $missing is split into package names on purpose.
  # shellcheck disable=SC2086
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >"$out" 2>&1 \
    || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
         $missing </dev/null >>"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "apt-get install failed: $missing"
  fi
  rm -f "$out"
}
