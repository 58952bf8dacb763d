#!/usr/bin/env bash
# The polling read's bound (issue 11, item 4).  read_log() returns only
# events below the snapshot's xmin, so a transaction that holds an id and
# sits idle holds every poller back until it ends; the documented bound is
# idle_in_transaction_session_timeout.  Here:
#
#  1. a writer sets idle_in_transaction_session_timeout = '1s', appends an
#     event and goes idle in its transaction; another session appends one
#     and commits.  A poll right then returns neither (and returns at
#     once: read_log() never waits), and drivetribe.log_horizon names the
#     idle writer, its state and age.
#  2. the poller keeps polling every 0.1 s: once the timeout has ended the
#     writer's session, the committed event comes, within the timeout plus
#     a few seconds of slack of the writer going idle and not before the
#     timeout; the writer's (rolled-back) event never comes; the cursor
#     then reads nothing more.
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
PATH=/usr/lib/postgresql/15/bin:$PATH
db=dt_e2e_poll_bound
timeout_s=1
slack_s=${DT_POLL_SLACK:-4}
work=$(mktemp -d)
writer=
cleanup() {
  [ -n "$writer" ] && kill "$writer" 2>/dev/null && wait "$writer" 2>/dev/null
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "poll_bound: FAILED: $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now_ms() { date +%s%3N; }

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
q >/dev/null <<'SQL'
CREATE EXTENSION drivetribe CASCADE;
SELECT drivetribe.register_user(u, 'user ' || u) FROM generate_series(1, 3) u;
SQL
# the poller's cursor after everything so far
read -r cur_txid cur_seq < <(q -F ' ' -c "SELECT txid, seq FROM drivetribe.read_log() ORDER BY txid DESC, seq DESC LIMIT 1")
[ "$cur_seq" = 3 ] || fail "the first poll did not end at seq 3 (got '$cur_seq')"

# 1. the idle writer (psql sleeps inside its transaction; its COMMIT then
# finds the session ended)
psql -X -q -At -d "$db" >"$work/writer.out" 2>&1 <<SQL &
SET idle_in_transaction_session_timeout = '${timeout_s}s';
BEGIN;
SELECT drivetribe.register_user(100, 'idle writer');
\! sleep $((timeout_s + slack_s + 3))
COMMIT;
SQL
writer=$!
pid=
for _ in $(seq 1 100); do
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND state = 'idle in transaction'
                 AND backend_xid IS NOT NULL")
  [ -n "$pid" ] && break
  sleep 0.05
done
[ -n "$pid" ] || fail "the writer did not go idle in its transaction"
t_idle=$(now_ms)
q -c "SELECT drivetribe.register_user(200, 'committed meanwhile')" >/dev/null

t0=$(now_ms)
got=$(q -c "SELECT count(*) FROM drivetribe.read_log('$cur_txid', $cur_seq)")
t1=$(now_ms)
[ "$got" = 0 ] || fail "a poll while the idle writer is open returned $got events (expected none)"
[ $((t1 - t0)) -lt 1000 ] || fail "a poll took $((t1 - t0)) ms: read_log() must not wait"
horizon=$(q -F '|' -c "SELECT held_by_pid, held_by_state, held_for >= '0'::interval, held_by_database
                          FROM drivetribe.log_horizon")
[ "$horizon" = "$pid|idle in transaction|t|$db" ] ||
  fail "log_horizon does not name the idle writer $pid: $horizon"

# 2. poll until the committed event comes
got=
for _ in $(seq 1 $(( (timeout_s + slack_s) * 10 + 20 ))); do
  got=$(q -c "SELECT string_agg(body, ',' ORDER BY txid, seq) FROM drivetribe.read_log('$cur_txid', $cur_seq)")
  [ -n "$got" ] && break
  sleep 0.1
done
t_got=$(now_ms)
waited=$((t_got - t_idle))
[ "$got" = "committed meanwhile" ] ||
  fail "after the idle writer's timeout the poll returned '$got' (expected only the committed event)"
[ "$waited" -le $(( (timeout_s + slack_s) * 1000 )) ] ||
  fail "the poller waited $waited ms, over the ${timeout_s}s timeout plus ${slack_s}s"
[ "$waited" -ge $(( timeout_s * 1000 - 500 )) ] ||
  fail "the poller got the event after $waited ms, before the idle writer's ${timeout_s}s timeout ended it"
[ -z "$(q -c "SELECT pid FROM pg_stat_activity WHERE pid = $pid")" ] || fail "the idle writer's session still runs"
read -r cur_txid cur_seq < <(q -F ' ' -c "SELECT txid, seq FROM drivetribe.read_log('$cur_txid', $cur_seq) ORDER BY txid DESC, seq DESC LIMIT 1")
[ "$(q -c "SELECT count(*) FROM drivetribe.read_log('$cur_txid', $cur_seq)")" = 0 ] ||
  fail "the cursor after the committed event still reads events"
[ "$(q -c "SELECT count(*) FROM drivetribe.events WHERE body = 'idle writer'")" = 0 ] ||
  fail "the idle writer's event is in the log"
wait "$writer" 2>/dev/null || true
writer=
grep -q "idle-in-transaction timeout" "$work/writer.out" ||
  { cat "$work/writer.out"; fail "the writer's session did not end by idle_in_transaction_session_timeout"; }
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() not empty"

echo "poll_bound: an idle writer (idle_in_transaction_session_timeout = ${timeout_s}s) held the poller back, log_horizon named it, the committed event came ${waited} ms after the writer went idle, its rolled-back event never"
