#!/usr/bin/env bash
# The Debian packaging's control files agree with each other and with the
# build, and the version is the same in its three places: debian/control is debian/control.in for PostgreSQL 15 (pg_buildext
# refuses to build a package otherwise: "debian/control needs updating",
# which a change of control.in alone once caused), and every library the
# consumer links (src/consume/Makefile's PG_LIBS) has its development
# package among the Build-Depends.  Needs no server.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail() { echo "packaging_control: FAILED: $*"; exit 1; }

diff <(sed 's/PGVERSION/15/g' "$root/debian/control.in") "$root/debian/control" >&2 ||
  fail "debian/control is not debian/control.in for PostgreSQL 15 (run: sed 's/PGVERSION/15/g' debian/control.in > debian/control)"

# the version in its three places: drivetribe.control's default_version
# (1.8), debian/changelog's first entry and META.json (1.8.0): build-deb.sh
# refuses a package when they disagree
default=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$root/drivetribe.control")
changelog=$(sed -n '1s/^drivetribe (\([^)]*\)).*/\1/p' "$root/debian/changelog")
meta=$(sed -n '0,/"version"/s/^ *"version": *"\([^"]*\)".*/\1/p' "$root/META.json")
case $changelog in "$default"|"$default".*) ;; *) fail "debian/changelog says $changelog, drivetribe.control's default_version is $default" ;; esac
[ "$meta" = "$changelog" ] || fail "META.json says $meta, debian/changelog $changelog"

# the -dev package of each library the consumer links (libpq-dev comes with
# postgresql-server-dev-15, which depends on it)
declare -A dev=([pq]=postgresql-server-dev-15 [curl]=libcurl4-openssl-dev [crypto]=libssl-dev [hiredis]=libhiredis-dev)
build_depends=$(awk '/^Build-Depends:/ { on = 1 } on && /^[A-Z][A-Za-z-]*:/ && !/^Build-Depends:/ { on = 0 } on' "$root/debian/control")
libs=$(sed -n 's/^PG_LIBS *= *//p' "$root/src/consume/Makefile")
[ -n "$libs" ] || fail "no PG_LIBS in src/consume/Makefile"
checked=0
for l in $libs; do
  name=${l#-l}
  [ "$name" = pthread ] && continue        # libc
  pkg=${dev[$name]:-}
  [ -n "$pkg" ] || fail "the consumer links -l$name: add its -dev package to this test's list and to debian/control.in"
  grep -qw -- "$pkg" <<<"$build_depends" || fail "-l$name is linked, but $pkg is not in Build-Depends"
  checked=$((checked + 1))
done
echo "packaging_control: version $changelog everywhere; debian/control matches control.in; $checked linked libraries have their -dev package in Build-Depends"
