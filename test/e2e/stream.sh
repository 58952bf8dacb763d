#!/usr/bin/env bash
# The stream end to end with the real pg_recvlogical (issue 11).
#
#  1. pg_recvlogical reads a drivetribe slot into a file while 6 pgbench
#     clients run a mix of write calls for a few seconds, each in a
#     transaction that commits, rolls back, or rolls back a savepoint
#     holding a second call.  Then: every event of the log is in the file
#     exactly once (nothing lost, nothing duplicated: pg_recvlogical ran
#     without a restart), nothing else is (no rolled-back work: the log
#     holds only committed events), the objects of one transaction are
#     consecutive, in seq order, with one LSN, and transactions come in
#     commit order (their LSNs grow).
#  2. No pinned WAL: 10 s of writes to another table and no event, with
#     drivetribe.heartbeat() every second: the file gets heartbeat objects
#     and no new event; after a checkpoint (which logs the running
#     transactions the slot's restart point moves on) the slot retains
#     under 3 segments of WAL and its confirmed position is within one.
#  3. With pg_recvlogical stopped, the slot keeps what was not confirmed:
#     events written meanwhile arrive when it starts again.
# Needs PGHOST/PGPORT/PGUSER of a running server (wal_level = logical,
# drivetribe allowed in output_plugin_libraries) with drivetribe installed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
PATH=/usr/lib/postgresql/15/bin:$PATH
db=dt_e2e_stream
slot=dt_e2e_stream
seconds=${DT_STREAM_SECONDS:-5}
work=$(mktemp -d)
recv=
cleanup() {
  [ -n "$recv" ] && kill "$recv" 2>/dev/null && wait "$recv" 2>/dev/null
  psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1 || true
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "stream: FAILED: $*"; exit 1; }
# a command that fails outside a check (set -e) names itself
trap 'echo "stream: FAILED: line $LINENO: $BASH_COMMAND exited with status $?"' ERR
step() { echo "stream: $*"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot (is drivetribe in output_plugin_libraries?)"
start_recv() {
  pg_recvlogical -d "$db" --slot "$slot" --start -f "$1" -F 1 -s 1 --no-loop 2>>"$work/recv.err" &
  recv=$!
}
stop_recv() {
  kill -INT "$recv" 2>/dev/null || true
  wait "$recv" 2>/dev/null || true
  recv=
}
# wait until the file holds N event objects
wait_for_events() {
  local n=$2 i
  for i in $(seq 1 100); do
    [ "$(grep -c '"seq"' "$1" 2>/dev/null || true)" -ge "$n" ] && return 0
    sleep 0.1
  done
  return 1
}

# ------------------------------------------------------------------ 1
start_recv "$work/out1.jsonl"
first_seq=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")
stream_mix "$work/mix.sql"
pgbench -n -c 6 -j 2 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench.out" 2>&1 ||
  { tail -5 "$work/pgbench.out"; fail "the write mix failed"; }
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $first_seq")
[ "$committed" -gt 100 ] || fail "only $committed events committed by the mix"
wait_for_events "$work/out1.jsonl" "$committed" || true
stop_recv
q -c "CREATE TABLE public.got (n serial, o jsonb)" >/dev/null
q -c "\\copy public.got (o) FROM '$work/out1.jsonl' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" >/dev/null ||
  fail "pg_recvlogical's output is not one JSON object per line"
read -r got distinct missing extra <<<"$(stream_delivered_vs_log public.got "$first_seq")"
[ "$missing" = 0 ] || fail "$missing committed events are not in the stream"
[ "$extra" = 0 ] || fail "$extra objects in the stream are no committed event (or differ from it)"
[ "$got" = "$distinct" ] || fail "$((got - distinct)) events came twice"
[ "$got" = "$committed" ] || fail "the stream has $got objects, the log $committed events"
# per transaction (one LSN): consecutive, seq ascending; LSNs grow
read -r lsn_runs lsns seq_back lsn_back <<<"$(q -F ' ' -c "
  WITH g AS (SELECT n, o ->> 'lsn' AS lsn, (o ->> 'seq')::bigint AS seq,
                    lag(o ->> 'lsn') OVER (ORDER BY n) AS prev_lsn,
                    lag((o ->> 'seq')::bigint) OVER (ORDER BY n) AS prev_seq FROM public.got)
  SELECT count(*) FILTER (WHERE prev_lsn IS DISTINCT FROM lsn), count(DISTINCT lsn),
         count(*) FILTER (WHERE prev_lsn = lsn AND seq < prev_seq),
         count(*) FILTER (WHERE prev_lsn <> lsn AND lsn::pg_lsn < prev_lsn::pg_lsn) FROM g")"
[ "$lsn_runs" = "$lsns" ] || fail "the events of a transaction are not consecutive ($lsn_runs runs of $lsns LSNs)"
[ "$seq_back" = 0 ] || fail "$seq_back events of a transaction out of seq order"
[ "$lsn_back" = 0 ] || fail "$lsn_back transactions out of commit order"
out_of_seq=$(q -c "SELECT count(*) FROM (SELECT (o ->> 'seq')::bigint < lag((o ->> 'seq')::bigint) OVER (ORDER BY n) AS back FROM public.got) s WHERE back")
step "part 1: $committed events of $(q -c "SELECT count(DISTINCT o ->> 'lsn') FROM public.got") transactions, each exactly once, in commit order ($out_of_seq times a smaller seq came after a larger one: commit order is not seq order)"

# ------------------------------------------------------------------ 2
start_recv "$work/out2.jsonl"
sleep 1
base=$(q -c "SELECT max(seq) FROM drivetribe.events")
for i in $(seq 1 10); do
  q -c "INSERT INTO public.busy (payload) SELECT repeat('x', 200) FROM generate_series(1, 20000)" >/dev/null
  q -c "SELECT drivetribe.heartbeat()" >/dev/null
  sleep 1
done
# a checkpoint logs the running transactions, which lets decoding move
# the slot's restart point; then one more heartbeat to confirm past it
# (again every 5 s: on a loaded machine the first one can come before
# the walsender has decoded past the transactions running at it)
q -c "CHECKPOINT" >/dev/null
for i in $(seq 1 20); do
  [ $((i % 5)) = 0 ] && q -c "CHECKPOINT" >/dev/null
  q -c "SELECT drivetribe.heartbeat()" >/dev/null
  sleep 1
  read -r retained lag <<<"$(q -F ' ' -c "SELECT retained_bytes, lag_bytes FROM drivetribe.stream_slots WHERE slot_name = '$slot'")"
  [ "$retained" -lt $((3 * 16 * 1024 * 1024)) ] && [ "$lag" -lt $((16 * 1024 * 1024)) ] && break
done
written=$(q -c "SELECT pg_size_pretty(pg_total_relation_size('public.busy'))")
stop_recv
[ "$(q -c "SELECT max(seq) FROM drivetribe.events")" = "$base" ] || fail "part 2 wrote events"
beats=$(grep -c '"heartbeat":true' "$work/out2.jsonl" || true)
[ "$beats" -ge 5 ] || fail "part 2: only $beats heartbeats in the stream"
# (events of part 1 that pg_recvlogical had not confirmed when it stopped
# come again: at-least-once; nothing newer may come)
# (no event at all is the usual case: grep finds nothing, which pipefail
# must not take for a failure)
newer=$( { grep -o '"seq":[0-9]*' "$work/out2.jsonl" || true; } | cut -d: -f2 | awk -v b="$base" '$1 > b' | wc -l)
[ "$newer" = 0 ] || fail "part 2: $newer events newer than the log's head in the stream of a quiet log"
again=$(grep -c '"seq"' "$work/out2.jsonl" || true)
[ "$retained" -lt $((3 * 16 * 1024 * 1024)) ] ||
  fail "part 2: the slot retains $retained bytes of WAL after 10 s of other writes"
[ "$lag" -lt $((16 * 1024 * 1024)) ] ||
  fail "part 2: the slot's confirmed position is $lag bytes behind after 10 s of other writes"
step "part 2: 10 s of other tables' writes ($written) and no event: $beats heartbeats, no new event ($again of part 1's unconfirmed tail again); the slot retains $retained bytes, confirmed $lag bytes behind"

# ------------------------------------------------------------------ 3
q -c "SELECT drivetribe.register_user(9001, 'while nobody listened')" >/dev/null
start_recv "$work/out3.jsonl"
for i in $(seq 1 100); do grep -q '"user_id":9001' "$work/out3.jsonl" 2>/dev/null && break; sleep 0.1; done
stop_recv
grep -q '"user_id":9001' "$work/out3.jsonl" || fail "part 3: the event written while pg_recvlogical was stopped never came"
step "part 3: an event written while nobody read the slot arrived when pg_recvlogical started again"
echo "stream: passed"
