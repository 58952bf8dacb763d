#!/usr/bin/env bash
# Install missing dependencies, build the extension and install it into the
# PostgreSQL 15 installation (make as the caller, make install as root or
# through sudo).  Builds are serialised on /tmp/dt-build.lock when usable, for
# several people or agents sharing one tree.  Quiet; the log shows on failure.
#   bash scripts/build.sh [--no-deps]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

if [ "${1:-}" != --no-deps ]; then
  bash scripts/install-deps.sh || { echo "build: installing dependencies failed" >&2; exit 1; }
fi

PG_CONFIG=${DT_PGBIN:-/usr/lib/postgresql/15/bin}/pg_config
SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
LOCK=/tmp/dt-build.lock
locked() {
  if command -v flock >/dev/null 2>&1 && { [ -r "$LOCK" ] || { [ ! -e "$LOCK" ] && touch "$LOCK" 2>/dev/null; }; }; then
    flock "$LOCK" "$@"
  else
    "$@"
  fi
}
log=$(mktemp "${TMPDIR:-/tmp}/dt-build.XXXXXX.log")
step() {  # step DESCRIPTION COMMAND...
  local what=$1; shift
  echo "build: $what"
  if ! locked "$@" >>"$log" 2>&1; then
    echo "build: FAILED: $what -- end of the log ($log):" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
step "make" make -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG"
step "make install" "${SUDO[@]}" make install PG_CONFIG="$PG_CONFIG"
rm -f "$log"
