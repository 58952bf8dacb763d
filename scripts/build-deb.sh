#!/usr/bin/env bash
# Build the Debian package postgresql-15-drivetribe from debian/ (Debian 12),
# optionally install it and check it.  Installs the build dependencies that
# are missing (those of debian/control, through apt, as root or with sudo),
# copies the tree to build/deb/drivetribe-VERSION (the working tree stays
# clean) and runs dpkg-buildpackage -b there: the .deb lands in build/deb/.
# The package's build runs no tests (debian/rules).
#   bash scripts/build-deb.sh              build; prints the .deb's path
#   bash scripts/build-deb.sh --install    build, install it with apt, check
#                                          its files and CREATE EXTENSION in a
#                                          throwaway cluster
#   --no-deps                              do not install build dependencies
# The build log is build/deb/build.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

install=0 deps=1
for a in "$@"; do
  case $a in
    --install) install=1 ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb: unknown option $a" >&2; exit 2 ;;
  esac
done

say() { printf 'build-deb: %s\n' "$*"; }
die() { printf 'build-deb: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  SUDO=(false)   # fails with a message below, only if something must be installed
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
     -o DPkg::Lock::Timeout=300 -o APT::Install-Recommends=false
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

log=$(mktemp "${TMPDIR:-/tmp}/dt-build-deb.XXXXXX.log")
run() {  # run DESCRIPTION COMMAND...: quiet, the log's end on failure
  local what=$1; shift
  say "$what"
  if ! "$@" >>"$log" 2>&1; then
    say "FAILED: $what -- end of the log ($log):" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}

# the package's version: the first line of debian/changelog
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
[ -n "$version" ] || die "no version in debian/changelog"
pkg=postgresql-15-drivetribe
# the three places that name the version agree: the control file's
# default_version (1.5), debian/changelog (1.5.0) and META.json (1.5.0)
default=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" drivetribe.control)
meta=$(sed -n '0,/"version"/s/^ *"version": *"\([^"]*\)".*/\1/p' META.json)
case $version in
  "$default"|"$default".*) ;;
  *) die "debian/changelog says $version, drivetribe.control's default_version is $default" ;;
esac
[ "$meta" = "$version" ] || die "META.json says version $meta, debian/changelog $version"

# --- build dependencies (debian/control's Build-Depends, build-essential)
if [ "$deps" = 1 ]; then
  if command -v dpkg-checkbuilddeps >/dev/null 2>&1 && dpkg-checkbuilddeps >/dev/null 2>&1; then
    say "build dependencies present"
  else
    [ "${SUDO[0]:-}" != false ] || die "not root and sudo is missing: cannot install the build dependencies"
    run "apt-get update" "${APT[@]}" update
    run "installing the build dependencies (apt-get build-dep from debian/control)" \
      "${APT[@]}" build-dep "$ROOT"
  fi
fi
command -v dpkg-buildpackage >/dev/null 2>&1 || die "dpkg-buildpackage missing (run without --no-deps)"

# --- a clean copy of the tree: the files git knows (tracked and not ignored),
# or, outside a git checkout, everything but build/
out=$ROOT/build/deb
src=$out/drivetribe-$version
rm -rf "$src"
mkdir -p "$src"
rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes "$out/build.log"
if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar -C "$ROOT" --null -T - -cf - | tar -C "$src" -xf -
else
  tar -C "$ROOT" --exclude=./build -cf - . | tar -C "$src" -xf -
fi

# --- build (binary only, unsigned; the .deb goes to the copy's parent; its
# log in build/deb/build.log)
run "dpkg-buildpackage -us -uc -b (in build/deb/drivetribe-$version)" \
  bash -c "cd '$src' && dpkg-buildpackage -us -uc -b >'$out/build.log' 2>&1 || { cat '$out/build.log'; exit 1; }"
debs=("$out/${pkg}_${version}"_*.deb)
deb=${debs[0]}
[ -f "$deb" ] || die "no ${pkg}_${version}_*.deb in $out (log: $log)"
say "built $deb ($(du -k "$deb" | cut -f1) kB)"
dpkg-deb -c "$deb" | awk '{print $6}' | grep -E 'drivetribe(\.so|\.control|--.*\.sql|-consume)$' |
  sed 's/^\./  /'
# the documentation the README points to (issue 19): the guide, every
# docs/*.md and README.Debian (settings, first statements), compressed or not
doc=./usr/share/doc/$pkg
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in README.Debian README.md CHANGELOG.md $(cd "$ROOT" && ls docs/*.md | sed 's|^docs/||'); do
  printf '%s\n' "$contents" | grep -qxE "$doc/$f(\.gz)?" ||
    die "$(basename "$deb") lacks $doc/$f (debian/rules, dh_installdocs)"
done
say "docs: $(printf '%s\n' "$contents" | grep -c "^$doc/") files in /usr/share/doc/$pkg"
echo "$deb"

if [ "$install" = 0 ]; then
  rm -f "$log"
  exit 0
fi

# --- install it (apt resolves postgresql-15 and libpq5)
[ "${SUDO[0]:-}" != false ] || die "not root and sudo is missing: cannot install the package"
run "installing $(basename "$deb")" "${APT[@]}" install --reinstall "$deb"

# --- its files, from the package
bin=/usr/lib/postgresql/15/bin lib=/usr/lib/postgresql/15/lib ext=/usr/share/postgresql/15/extension
want=("$lib/drivetribe.so" "$ext/drivetribe.control" "$bin/drivetribe-consume")
for f in drivetribe--*.sql; do want+=("$ext/$f"); done
bad=0
for f in "${want[@]}"; do
  owner=$(dpkg -S "$f" 2>/dev/null | cut -d: -f1 || true)
  if [ -f "$f" ] && [ "$owner" = "$pkg" ]; then
    say "ok  $f"
  else
    say "MISSING or not from $pkg: $f" >&2; bad=1
  fi
done
if ! "$bin/drivetribe-consume" --help >/dev/null 2>&1; then
  say "$bin/drivetribe-consume --help failed" >&2; bad=1
fi
[ "$bad" = 0 ] || exit 1
say "installed: $(dpkg-query -W -f '${Package} ${Version}' "$pkg")"

# --- CREATE EXTENSION in a throwaway cluster (as postgres when root), fresh
# and from 1.0 through every update script
. scripts/cluster.sh
dt_cluster_temp 54397 postgres test || exit 1
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
got=$(psql_q -d postgres -c "CREATE EXTENSION drivetribe" \
             -c "SELECT drivetribe.register_user(1, 'Richard') IS NOT NULL" \
             -c "SELECT count(*) FROM drivetribe.verify()" \
             -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'" | tr '\n' ' ')
[ "$got" = "t 0 $default " ] || die "CREATE EXTENSION: expected 't 0 $default', got '$got'"
say "CREATE EXTENSION drivetribe: version $default, a write, verify() empty"
psql_q -d postgres -c "CREATE DATABASE upd" >/dev/null
got=$(psql_q -d upd -c "CREATE EXTENSION drivetribe VERSION '1.0'" \
                    -c "ALTER EXTENSION drivetribe UPDATE" \
                    -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")
[ "$got" = "$default" ] || die "1.0 updated to '$got', expected $default"
say "CREATE EXTENSION drivetribe VERSION '1.0' + ALTER EXTENSION UPDATE: version $default"
rm -f "$log"
say "done"
