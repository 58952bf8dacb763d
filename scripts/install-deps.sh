#!/usr/bin/env bash
# Install what drivetribe needs to build, test and demo, on Debian 12:
# build tools, PostgreSQL 15 server and headers, pg_cron, pgTAP + pg_prove,
# wal2json, python3-psycopg2 (the stream's psycopg2 example and its test),
# libcurl4-openssl-dev + libssl-dev (drivetribe-consume's --http sink).
# libhiredis-dev (drivetribe-consume's Redis sink), redis-server (its test),
# nats-server (the NATS sink's test; the sink needs no library),
# procps (pgrep: the tests look for processes a consumer must not leave).
# Installs only what is missing (apt-get update only then), as root
# directly or through sudo, non-interactively.  Quiet: one line per step; the
# apt log is shown when a step fails.
#   bash scripts/install-deps.sh          (idempotent; fast when all is there)
set -euo pipefail

PGV=15
PGLIB=/usr/lib/postgresql/$PGV/lib
PGSHARE=/usr/share/postgresql/$PGV

say() { printf 'deps: %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  say "not root and sudo is missing: cannot install packages" >&2
  exit 1
fi

# package -> file (or command) whose presence proves it is installed.
# postgresql-server-dev-15 is checked by postgres.h: pgxs.mk also comes with
# the client package and proves nothing.
missing=()
need() {  # need PACKAGE TEST...
  local pkg=$1; shift
  if "$@" >/dev/null 2>&1; then return 0; fi
  missing+=("$pkg")
}
need build-essential                         bash -c 'command -v gcc && command -v make && test -e /usr/include/stdio.h'
need postgresql-$PGV                         test -x /usr/lib/postgresql/$PGV/bin/postgres
need postgresql-server-dev-$PGV              test -f /usr/include/postgresql/$PGV/server/postgres.h
need postgresql-$PGV-cron                    test -f $PGLIB/pg_cron.so
need postgresql-$PGV-pgtap                   test -f $PGSHARE/extension/pgtap.control
need libtap-parser-sourcehandler-pgtap-perl  bash -c 'command -v pg_prove'
need postgresql-$PGV-wal2json                test -f $PGLIB/wal2json.so
need python3-psycopg2                        test -f /usr/lib/python3/dist-packages/psycopg2/__init__.py
need libcurl4-openssl-dev                    bash -c 'ls /usr/include/*/curl/curl.h /usr/include/curl/curl.h 2>/dev/null | grep -q .'
need libssl-dev                              test -f /usr/include/openssl/hmac.h
need libhiredis-dev                          test -f /usr/include/hiredis/hiredis.h
need redis-server                            bash -c 'command -v redis-server && command -v redis-cli'
need nats-server                             test -x /usr/sbin/nats-server
need procps                                  bash -c 'command -v pgrep && command -v pkill'

if [ ${#missing[@]} -eq 0 ]; then
  say "all present (PostgreSQL $(/usr/lib/postgresql/$PGV/bin/postgres --version | awk '{print $3}'))"
  exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/dt-install-deps.XXXXXX.log")
run() {  # run STEP-DESCRIPTION COMMAND...
  local what=$1; shift
  say "$what"
  if ! "$@" >>"$log" 2>&1; then
    say "FAILED: $what -- log ($log):" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
     -o DPkg::Lock::Timeout=300
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

run "apt-get update" "${APT[@]}" update
run "installing ${missing[*]}" "${APT[@]}" install --no-install-recommends "${missing[@]}"

# check again: a package that installed but did not bring its file is an error
missing=()
need build-essential                         bash -c 'command -v gcc && command -v make'
need postgresql-$PGV                         test -x /usr/lib/postgresql/$PGV/bin/postgres
need postgresql-server-dev-$PGV              test -f /usr/include/postgresql/$PGV/server/postgres.h
need postgresql-$PGV-cron                    test -f $PGLIB/pg_cron.so
need postgresql-$PGV-pgtap                   test -f $PGSHARE/extension/pgtap.control
need libtap-parser-sourcehandler-pgtap-perl  bash -c 'command -v pg_prove'
need postgresql-$PGV-wal2json                test -f $PGLIB/wal2json.so
need python3-psycopg2                        test -f /usr/lib/python3/dist-packages/psycopg2/__init__.py
need libcurl4-openssl-dev                    bash -c 'ls /usr/include/*/curl/curl.h /usr/include/curl/curl.h 2>/dev/null | grep -q .'
need libssl-dev                              test -f /usr/include/openssl/hmac.h
need libhiredis-dev                          test -f /usr/include/hiredis/hiredis.h
need redis-server                            bash -c 'command -v redis-server && command -v redis-cli'
need nats-server                             test -x /usr/sbin/nats-server
need procps                                  bash -c 'command -v pgrep && command -v pkill'
if [ ${#missing[@]} -ne 0 ]; then
  say "still missing after install: ${missing[*]} (log: $log)" >&2
  exit 1
fi
rm -f "$log"
say "done (PostgreSQL $(/usr/lib/postgresql/$PGV/bin/postgres --version | awk '{print $3}'))"
