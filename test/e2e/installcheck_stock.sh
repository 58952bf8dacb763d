#!/usr/bin/env bash
# `make installcheck` on a stock cluster, as the README promises (issue 19
# item 4): a cluster of its own where pg_cron is installed but not preloaded
# (shared_preload_libraries = ''), wal_level = replica (no logical decoding),
# and the suite runs as a superuser that is not named postgres (the usual
# `createuser -s $USER`).  Every regress test must pass there: the ones that
# need pg_cron or the stream take their _1 alternative output, and no
# expected output names the role that runs it.
# Needs drivetribe installed (scripts/test.sh builds and installs it).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$root"
. scripts/cluster.sh

fail() { echo "installcheck_stock: FAILED: $*"; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
# shellcheck disable=SC2034  # read by cluster.sh
DT_PG_CONF="shared_preload_libraries = ''
wal_level = replica" dt_cluster_temp "${DT_STOCK_PORT:-$((${PGPORT:-54310} + 7))}" contrib_regression test ||
  fail "could not start a cluster"
trap 'rm -rf "$work"; dt__cleanup_temp' EXIT

[ "$(psql -XAtc 'SHOW wal_level' postgres)" = replica ] || fail "wal_level is not replica"
[ -z "$(psql -XAtc 'SHOW shared_preload_libraries' postgres)" ] || fail "shared_preload_libraries is not empty"
[ "$(psql -XAtc "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'" postgres)" = 1 ] ||
  echo "installcheck_stock: note: pg_cron is not installed on this machine (the test still runs)"

# a superuser with a name of its own
role=dt_operator_$$
psql -XAq -v ON_ERROR_STOP=1 -c "CREATE ROLE $role LOGIN SUPERUSER" postgres
export PGUSER=$role

t0=$SECONDS
if ! make -s installcheck PG_CONFIG="$DT_PGBIN/pg_config" \
       EXTRA_REGRESS_OPTS="--outputdir=$work" >"$work/installcheck.log" 2>&1; then
  grep -E '^(test |     )[^ ]+ +\.\.\. ' "$work/installcheck.log" | grep -v '\.\.\. ok' || true
  tail -n 5 "$work/installcheck.log"
  if [ -s "$work/regression.diffs" ]; then
    keep=$(mktemp "${TMPDIR:-/tmp}/installcheck_stock.XXXXXX.diffs")
    cp "$work/regression.diffs" "$keep"
    # each failed test's first lines of difference
    awk '/^diff /{n=0; print; next} {if (++n <= 25) print}' "$work/regression.diffs" | head -n 400
    echo "installcheck_stock: the whole diff is in $keep"
  fi
  fail "make installcheck as $role with pg_cron not preloaded and wal_level = replica"
fi
n=$(grep -cE '^(test |     )[^ ]+ +\.\.\. ok' "$work/installcheck.log")
echo "installcheck_stock: ok: $n tests passed as role $role (pg_cron not preloaded, wal_level = replica) in $((SECONDS - t0)) s"
