#!/usr/bin/env bash
# ALTER EXTENSION drivetribe UPDATE under concurrent writers (issue 18 item
# 10).  First, for every update script, the tables it locks against
# writers (pg_locks inside its transaction) must be the ones listed for it
# (src/locks.c's update_locks, docs/design.md "Lock order").  Then, for
# each starting version (DT_UPGRADE_LOAD_FROM, default "1.2 1.1
# 1.0"): installs that version with a generated community, starts 8 pgbench
# clients calling a random mix of every write function, runs
# `ALTER EXTENSION drivetribe UPDATE` (every script of the path in one
# transaction) in the middle of the load, and lets the writers go on after
# it.  Passes when the update finished (extversion is the default version),
# no writer got 40P01 or any error outside SPEC's table (pgbench ends every
# client normally, no failed transaction), writers appended events both
# before and after the update, and verify() is empty at the end.
# On 1.6's library the update from 1.2 deadlocks every time: the writers
# took the log's ROW EXCLUSIVE first and then waited for the update's
# ACCESS EXCLUSIVE on articles, while the update (1.3--1.4) wanted ACCESS
# EXCLUSIVE on the log.  See docs/design.md "Lock order".
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
PATH=/usr/lib/postgresql/15/bin:$PATH
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_upgrade_load
seconds=${DT_UPGRADE_LOAD_SECONDS:-7}
work=$(mktemp -d)
pgbench_pid=
cleanup() {
  [ -z "$pgbench_pid" ] || kill "$pgbench_pid" 2>/dev/null || true
  rm -rf "$work"
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() { echo "upgrade_under_load: FAILED: $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
newest=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$root/drivetribe.control")
[ -n "$newest" ] || fail "no default_version in drivetribe.control"

cat >"$work/mix.sql" <<'EOF'
\set op random(0, 15)
\set a random(1, 1000000)
\set b random(1, 1000000)
SELECT public.random_call(:op, :a, :b);
EOF

one_run() {  # FROM
  local from=$1
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  createdb "$db"
  q -c "CREATE EXTENSION drivetribe VERSION '$from'"
  psql -X -q -v ON_ERROR_STOP=1 -v users=150 -v tribes=10 -v articles=600 -v events=12000 -v batch=4000 \
       -f "$root/scripts/generate_community.sql" "$db" >/dev/null
  q >/dev/null <<'SQL'
CREATE SEQUENCE public.new_ids START 50000000;
-- One random call on the generated world (users 1..150, tribes 1..10,
-- articles 1..600).  SPEC's errors of a random mix (a deleted article, an
-- unknown comment, a taken id) are swallowed; anything else, a deadlock
-- above all, reaches pgbench, which reports it.
CREATE FUNCTION public.random_call(op int, a bigint, b bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  u bigint := a % 150 + 1;
  v bigint := b % 150 + 1;
  art bigint := a % 600 + 1;
  t bigint := b % 10 + 1;
BEGIN
  CASE op
    WHEN 0 THEN PERFORM drivetribe.bump(art, u);
    WHEN 1 THEN PERFORM drivetribe.unbump(art, u);
    WHEN 2 THEN PERFORM drivetribe.view_article(art, u);
    WHEN 3 THEN PERFORM drivetribe.post_comment(nextval('public.new_ids'), art, u, 'comment');
    WHEN 4 THEN PERFORM drivetribe.delete_comment(b % 12000 + 1);
    WHEN 5 THEN PERFORM drivetribe.join_tribe(u, t);
    WHEN 6 THEN PERFORM drivetribe.leave_tribe(u, t);
    WHEN 7 THEN IF u <> v THEN PERFORM drivetribe.follow_user(u, v); END IF;
    WHEN 8 THEN IF u <> v THEN PERFORM drivetribe.unfollow_user(u, v); END IF;
    WHEN 9 THEN PERFORM drivetribe.rename_user(u, 'name ' || b % 3);
    WHEN 10 THEN PERFORM drivetribe.rename_tribe(t, 'tribe name ' || a % 3);
    WHEN 11 THEN PERFORM drivetribe.edit_article(art, 'title ' || b % 3);
    WHEN 12 THEN IF b % 50 = 0 THEN PERFORM drivetribe.delete_article(art); END IF;
    WHEN 13 THEN PERFORM drivetribe.post_article(nextval('public.new_ids'), u, t, 'article');
    WHEN 14 THEN PERFORM drivetribe.register_user(nextval('public.new_ids'), 'newcomer');
    ELSE PERFORM drivetribe.view_article(art);
  END CASE;
EXCEPTION
  WHEN object_not_in_prerequisite_state OR foreign_key_violation
       OR unique_violation THEN NULL;
END
$$;
SQL
  local before_load
  before_load=$(q -c "SELECT count(*) FROM drivetribe.events")

  # the writers: 8 clients; a deadlock or any other error is reported
  # (--verbose-errors) and makes pgbench exit non-zero
  pgbench -n -c 8 -j 2 -T "$seconds" --failures-detailed --verbose-errors \
          -f "$work/mix.sql" "$db" >"$work/pgbench.out" 2>&1 &
  pgbench_pid=$!
  sleep 2
  local at_update t0 rc=0
  at_update=$(q -c "SELECT count(*) FROM drivetribe.events")
  t0=$(date +%s%N)
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "ALTER EXTENSION drivetribe UPDATE" >"$work/alter.out" 2>&1 || rc=$?
  local took
  took=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN {printf "%.1f", ns / 1e9}')
  local pg_rc=0
  wait "$pgbench_pid" || pg_rc=$?
  pgbench_pid=

  local version after deadlocks failed diffs
  version=$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")
  after=$(q -c "SELECT count(*) FROM drivetribe.events")
  deadlocks=$(grep -c 'deadlock detected' "$work/pgbench.out" "$work/alter.out" | awk -F: '{s += $2} END {print s}')
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")
  echo "  from $from: update took ${took}s (rc $rc), $((at_update - before_load)) calls appended before it," \
       "$((after - at_update)) during and after; pgbench rc $pg_rc, failed transactions ${failed:-?}, deadlocks $deadlocks"
  if [ "$deadlocks" != 0 ]; then
    grep -h -B1 -A3 'deadlock detected' "$work/alter.out" "$work/pgbench.out" | head -n 20 | sed 's/^/  | /'
    fail "from $from: $deadlocks deadlock(s) (40P01) during the update"
  fi
  if [ "$rc" != 0 ]; then sed 's/^/  | /' "$work/alter.out"; fail "from $from: ALTER EXTENSION drivetribe UPDATE failed"; fi
  [ "$version" = "$newest" ] || fail "from $from: extversion is $version, not $newest"
  if [ "$pg_rc" != 0 ] || [ "${failed:-x}" != 0 ]; then
    grep -E 'error|ERROR|aborted|failed' "$work/pgbench.out" | head -n 10 | sed 's/^/  | /'
    fail "from $from: a writer failed (pgbench rc $pg_rc, failed transactions ${failed:-?})"
  fi
  [ $((at_update - before_load)) -gt 0 ] || fail "from $from: no writer appended before the update"
  # events appended after the update carry their writer's txid (1.4 on)
  local post
  post=$(q -c "SELECT count(*) FROM drivetribe.events WHERE txid <> '0'")
  [ "$post" -gt 0 ] || fail "from $from: no writer appended after the update"
  diffs=$(q -c "SELECT count(*) FROM drivetribe.verify()")
  if [ "$diffs" != 0 ]; then
    psql -X -d "$db" -c "SELECT * FROM drivetribe.verify() LIMIT 20"
    fail "from $from: verify() found $diffs differences"
  fi
}

# ---------------------------------------------------------------- the list
# The tables each update script locks in a mode that conflicts with a
# writer's (SHARE and stronger; an index counts as its table), read from
# pg_locks inside the script's transaction: they must be the ones
# src/locks.c's update_locks lists for that script (docs/design.md "Lock
# order"), or writers may deadlock with an update whatever this load does.
expected_locks() {  # SCRIPT (e.g. 1.0--1.1)
  case $1 in
    1.0--1.1) echo "events" ;;
    1.1--1.2) echo "articles follows" ;;
    1.2--1.3) echo "articles memberships" ;;
    1.3--1.4) echo "events" ;;
    1.6--1.7) echo "articles comments events" ;;
    1.8--1.9) echo "comments events" ;;
    *) echo "" ;;
  esac
}
for script in "$root"/drivetribe--*--*.sql; do
  step=$(basename "$script" .sql); step=${step#drivetribe--}
  from=${step%--*}; to=${step#*--}
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  createdb "$db"
  q -c "CREATE EXTENSION drivetribe VERSION '$from'" >/dev/null 2>&1 || fail "CREATE EXTENSION drivetribe VERSION '$from'"
  got=$(q 2>/dev/null <<SQL | paste -sd ' '
CREATE TEMP TABLE old_rels AS
  SELECT c.oid, c.relkind, coalesce(t.relname, c.relname) AS tbl
    FROM pg_class c
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    LEFT JOIN pg_class t ON t.oid = i.indrelid
   WHERE c.relnamespace = 'drivetribe'::regnamespace AND c.relkind IN ('r', 'p', 'i', 'S');
BEGIN;
ALTER EXTENSION drivetribe UPDATE TO '$to';
SELECT DISTINCT o.tbl FROM pg_locks l JOIN old_rels o ON o.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
   AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
 ORDER BY 1;
ROLLBACK;
SQL
)
  [ "$got" = "$(expected_locks "$step")" ] ||
    fail "drivetribe--$step.sql locks [$got] against writers, expected [$(expected_locks "$step")]: update src/locks.c (update_locks), docs/design.md \"Lock order\" and expected_locks here"
done
echo "  every update script locks the tables src/locks.c lists for it"

# ---------------------------------------------------------------- under load
# every starting version runs (in a subshell: fail ends only its run)
failed_from=()
for from in ${DT_UPGRADE_LOAD_FROM:-1.2 1.1 1.0}; do
  ( one_run "$from" ) || failed_from+=("$from")
done
[ ${#failed_from[@]} = 0 ] || fail "the update deadlocked or failed from ${failed_from[*]}"
echo "upgrade_under_load: ALTER EXTENSION drivetribe UPDATE to $newest from ${DT_UPGRADE_LOAD_FROM:-1.2 1.1 1.0} under 8 writers: no deadlock, no failed call, verify() empty"
