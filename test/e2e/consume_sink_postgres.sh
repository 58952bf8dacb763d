#!/usr/bin/env bash
# drivetribe-consume --postgres end to end: exactly once into a receiving
# database.  In a cluster of its own (port PGPORT + 11): the source is the
# database postgres, the receiver the database receiver of the same server.
#
# The receiver applies batches with its own function (--postgres-function),
# which inserts into a table WITHOUT a unique key and counts the events it
# was given: an event applied twice shows up in both.  While 6 pgbench
# clients run the commit/rollback/savepoint mix:
#   - a killer SIGKILLs the consumer every 0.3-1.2 s (>= 10 times), and a
#     supervisor starts it again at once;
#   - the receiver's function raises for 2 s (a flag table says so), then
#     the receiver refuses connections for 2 s (ALLOW_CONNECTIONS false);
#   - the server is crashed once (pg_ctl stop -m immediate) and started;
#   - the receiver's COMMIT is held (synchronous_standby_names names a
#     standby that never comes, for the receiver database only: the commit
#     is written locally, its answer never comes), the consumer is killed
#     then, and the commit released: the batch is in the receiver and not
#     in the consumer's state file, so the restarted consumer delivers it
#     again and must find it applied ("was applied before").
# Then the consumer runs to --endpos (the final WAL position), and the
# receiver must hold every committed event of the log exactly once (seq,
# event_id, kind), nothing else; the function's counter equals the number
# of rows (no batch applied twice); the progress row's end_lsn >= the state
# file's position.  Last, the table mode (--postgres-table, created when
# missing) on a second slot reads the same log to --endpos: every event
# once.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
consume=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}
seconds=${DT_CONSUME_SECONDS:-8}
slot=dt_pgsink
work=$(mktemp -d)
chmod 755 "$work"
name=consume_sink_postgres
fail() { echo "$name: FAILED: $*"; exit 1; }
step() { echo "$name: $*"; }
[ -x "$consume" ] || fail "$consume is not installed"

. "$root/scripts/cluster.sh"
# synchronous_commit local: a commit acknowledged is a commit kept, and no
# session but the receiver's waits for the (absent) synchronous standby
DT_PG_CONF="synchronous_commit = local" dt_cluster_temp "${DT_PGSINK_PORT:-$((${PGPORT:-5432} + 11))}" postgres test ||
  fail "could not start a cluster of its own"
dir=$DT_CLUSTER_DIR
db=postgres
cleanup() {
  [ -f "$work/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$work/pids"
  [ -f "$work/consumer.pid" ] && kill -9 "$(cat "$work/consumer.pid")" 2>/dev/null || true
  dt__cleanup_temp
  if [ -n "${DT_CONSUME_KEEP:-}" ]; then echo "$name: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
r() { psql -X -q -At -v ON_ERROR_STOP=1 -d receiver "$@"; }
state_lsn() { sed -n 's/^confirmed_lsn //p' "$1" 2>/dev/null; }

stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" \
  -c "SELECT 'init' FROM pg_create_logical_replication_slot('${slot}_table', 'drivetribe')" >/dev/null ||
  fail "could not create the drivetribe slots"
base=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")
q -c "CREATE DATABASE receiver" -c "ALTER DATABASE receiver SET synchronous_commit = on" >/dev/null
r <<'SQL' >/dev/null
CREATE SCHEMA rcv;
CREATE TABLE rcv.got (seq bigint, event_id uuid, kind text);  -- no unique key: doubles stay
CREATE TABLE rcv.counter (n bigint NOT NULL);
INSERT INTO rcv.counter VALUES (0);
CREATE TABLE rcv.flag (failing boolean NOT NULL);
INSERT INTO rcv.flag VALUES (false);
CREATE FUNCTION rcv.apply(batch jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT failing FROM rcv.flag) THEN
    RAISE EXCEPTION 'the receiver is failing on purpose';
  END IF;
  INSERT INTO rcv.got SELECT (e ->> 'seq')::bigint, (e ->> 'event_id')::uuid, e ->> 'kind'
    FROM jsonb_array_elements(batch) e;
  UPDATE rcv.counter SET n = n + jsonb_array_length(batch);
END $$;
SQL
opts=(-d "dbname=$db" -S "$slot" -s "$work/state" --postgres "dbname=receiver"
  --postgres-function rcv.apply --postgres-timeout 3 --batch-events 100
  --status-interval 1 --heartbeat-interval 1 --retry-max 1 --report-interval 0)

# ------------------------------------------------------------------ load
: >"$work/runs"
(
  run=0
  while [ ! -f "$work/stop" ]; do
    run=$((run + 1))
    "$consume" "${opts[@]}" 2>>"$work/consume.log" &
    echo $! >"$work/consumer.pid"
    rc=0; wait $! 2>/dev/null || rc=$?
    echo "$run $rc" >>"$work/runs"
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || [ "$rc" = 137 ] || { echo "$rc" >"$work/bad_exit"; break; }
    [ "$rc" = 2 ] && sleep 0.3
  done
) &
supervisor=$!
echo $supervisor >>"$work/pids"
(
  while [ ! -f "$work/stop_killing" ]; do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + (r % 90) / 100 }')"
    [ -f "$work/pause_killing" ] || kill -9 "$(cat "$work/consumer.pid" 2>/dev/null)" 2>/dev/null || true
  done
) &
killer=$!
echo $killer >>"$work/pids"

stream_mix "$work/mix.sql"
pgbench -n -c 6 -j 2 -R 200 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench1.out" 2>&1 &
load=$!
sleep 2
r -c "UPDATE rcv.flag SET failing = true" >/dev/null
sleep 2
r -c "UPDATE rcv.flag SET failing = false" >/dev/null
q -c "ALTER DATABASE receiver ALLOW_CONNECTIONS false" >/dev/null
sleep 2
q -c "ALTER DATABASE receiver ALLOW_CONNECTIONS true" >/dev/null
sleep 1
dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
wait "$load" || true
dt_cluster_start "$dir" || fail "the server did not start again after the crash"
for _ in $(seq 1 300); do pg_isready -q -d "$db" && break; sleep 0.1; done
grep -q 'database system was interrupted\|redo starts\|not properly shut down' "$dir/server.log" ||
  fail "the server did not run crash recovery"
pgbench -n -c 6 -j 2 -R 200 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench2.out" 2>&1 &
load=$!
sleep 2

# a COMMIT written in the receiver whose answer never comes: kill then
touch "$work/pause_killing"
q -c "ALTER SYSTEM SET synchronous_standby_names = 'nobody_comes'" -c "SELECT pg_reload_conf()" >/dev/null
held=0
for _ in $(seq 1 100); do
  held=$(q -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'receiver' AND wait_event = 'SyncRep'")
  [ "$held" -gt 0 ] && break
  sleep 0.05
done
kill -9 "$(cat "$work/consumer.pid")" 2>/dev/null || true
sleep 0.5
q -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
rm -f "$work/pause_killing"
[ "$held" -gt 0 ] || fail "no receiver COMMIT was held by the synchronous standby wait"

wait "$load" || { tail -5 "$work/pgbench2.out"; fail "the write mix after the crash failed"; }
touch "$work/stop_killing"
wait "$killer" 2>/dev/null || true
stream_stop_supervised "$work" "$supervisor"
[ ! -f "$work/bad_exit" ] || { tail -20 "$work/consume.log"; fail "the consumer exited with status $(cat "$work/bad_exit")"; }

# ------------------------------------------------------------------ the end
end=$(q -c "SELECT drivetribe.heartbeat()" -c "SELECT pg_current_wal_lsn()" | tail -1)
rc=0
timeout 60 "$consume" "${opts[@]}" --endpos "$end" 2>>"$work/consume.log" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$work/consume.log"; fail "the last run to --endpos $end exited with status $rc"; }
runs=$(wc -l <"$work/runs")
killed=$(grep -c ' 137$' "$work/runs" || true)
[ "$killed" -ge 10 ] || fail "the consumer was SIGKILLed only $killed times"
raised=$(grep -c 'the receiver is failing on purpose' "$work/consume.log" || true)
refused=$(grep -c 'receiving database: could not connect' "$work/consume.log" || true)
again=$(grep -c 'was applied before\|were applied before' "$work/consume.log" || true)
[ "$raised" -ge 1 ] || fail "the receiver's function never failed"
[ "$refused" -ge 1 ] || fail "the receiver never refused a connection"

# the receiver's rows, compared with the log in the source database
r -c "\\copy rcv.got TO '$work/got.tsv'" >/dev/null
q -c "CREATE TABLE public.got (seq bigint, event_id uuid, kind text)" \
  -c "\\copy public.got FROM '$work/got.tsv'" >/dev/null
read -r rows distinct missing extra <<<"$(q -F ' ' -c "
  SELECT count(*), count(DISTINCT event_id),
         (SELECT count(*) FROM drivetribe.events e WHERE e.seq > $base
             AND NOT EXISTS (SELECT FROM public.got g WHERE g.event_id = e.event_id)),
         (SELECT count(*) FROM public.got g WHERE NOT EXISTS (
             SELECT FROM drivetribe.events e WHERE e.event_id = g.event_id AND e.seq = g.seq AND e.kind = g.kind))
    FROM public.got")"
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
counter=$(r -c "SELECT n FROM rcv.counter")
[ "$committed" -gt 200 ] || fail "only $committed events committed by the mix"
[ "$missing" = 0 ] || fail "$missing committed events are not in the receiver"
[ "$extra" = 0 ] || fail "$extra rows of the receiver are no committed event"
[ "$rows" = "$distinct" ] || fail "the receiver holds $rows rows for $distinct events: some were applied twice"
[ "$distinct" = "$committed" ] || fail "$distinct distinct events in the receiver, $committed committed"
[ "$counter" = "$rows" ] || fail "the function was given $counter events for $rows rows"
# checked after the data: with the check removed, the data must fail first
[ "$again" -ge 1 ] || { tail -20 "$work/consume.log"; fail "no batch came again after being applied (the held COMMIT)"; }
# the state file may be ahead of the progress row by transactions without
# events (heartbeats: the delivery thread records them without the sink);
# then both must know the same last event
read -r progress progress_seq <<<"$(r -F ' ' -c "SELECT end_lsn, last_seq FROM drivetribe_sink.applied WHERE slot = '$slot'")"
confirmed=$(state_lsn "$work/state")
confirmed_seq=$(sed -n 's/^last_seq //p' "$work/state")
[ -n "$progress" ] && [ -n "$confirmed" ] || fail "no progress row ($progress) or no state file position ($confirmed)"
[ "$(q -c "SELECT '$progress'::pg_lsn >= '$confirmed'::pg_lsn OR $progress_seq = $confirmed_seq")" = t ] ||
  fail "the progress row is at $progress (last seq $progress_seq), behind the state file at $confirmed (last seq $confirmed_seq)"
[ "$progress_seq" -ge "$confirmed_seq" ] || fail "the progress row's last seq $progress_seq is behind the state file's $confirmed_seq"
step "function mode: $committed committed events, each in the receiver once ($counter given to the function), $runs runs, $killed SIGKILLs, a server crash, $raised failed tries of a raising receiver, $refused refused connections, $again batches found applied before; progress row at $progress (seq $progress_seq), state file at $confirmed (seq $confirmed_seq)"

# ------------------------------------------------------------------ table mode
rc=0
timeout 60 "$consume" -d "dbname=$db" -S "${slot}_table" -s "$work/state_table" --postgres "dbname=receiver" \
  --endpos "$end" --report-interval 0 2>>"$work/consume_table.log" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$work/consume_table.log"; fail "table mode: exit status $rc"; }
r -c "\\copy (SELECT seq, event_id, kind FROM drivetribe_sink.events) TO '$work/table.tsv'" >/dev/null
q -c "TRUNCATE public.got" -c "\\copy public.got FROM '$work/table.tsv'" >/dev/null
read -r rows distinct missing extra <<<"$(q -F ' ' -c "
  SELECT count(*), count(DISTINCT event_id),
         (SELECT count(*) FROM drivetribe.events e WHERE e.seq > $base
             AND NOT EXISTS (SELECT FROM public.got g WHERE g.event_id = e.event_id)),
         (SELECT count(*) FROM public.got g WHERE NOT EXISTS (
             SELECT FROM drivetribe.events e WHERE e.event_id = g.event_id AND e.seq = g.seq AND e.kind = g.kind))
    FROM public.got")"
[ "$missing" = 0 ] && [ "$extra" = 0 ] && [ "$rows" = "$committed" ] ||
  fail "table mode: $rows rows, $missing missing, $extra extra, $committed committed"
[ "$(r -c "SELECT events FROM drivetribe_sink.applied WHERE slot = '${slot}_table'")" = "$committed" ] ||
  fail "table mode: the progress row does not count $committed events"
step "table mode: drivetribe_sink.events created, $rows events once each"
step "all passed"
