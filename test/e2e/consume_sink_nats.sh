#!/usr/bin/env bash
# drivetribe-consume's NATS JetStream sink (--nats) end to end: each event
# once in the stream (Nats-Msg-Id dedupe within the duplicate window),
# whatever fails.  A cluster of its own (PGPORT + 17, synchronous_commit
# on) and a nats-server of its own (PGPORT + 18, on 127.0.0.1, JetStream
# with file storage in its own dir), both ended at exit.
#
# First a consumer runs before any stream listens on the subject: the
# server answers its publishes with 503 (no responders), and with
# --max-tries 1 it exits 7.  Then the stream DT is created over the
# protocol ($JS.API.STREAM.CREATE, duplicate_window 120 s), and while 6
# pgbench clients run the stream mix (commits, rollbacks, rolled back
# savepoints; 300 transactions/s) the consumer streams the slot into it
# (--nats-timeout 1, small batches).  A killer SIGKILLs it every 0.2-0.8 s
# (at least 10 times) and it is started again at once; nats-server is
# frozen (SIGSTOP) for 3 s (the killer pausing), so tries time out while
# the server holds publishes that it stores once thawed (their events come
# again and must be dropped as duplicates); the source server is crashed
# once (pg_ctl stop -m immediate) and started again; nats-server is
# SIGKILLed and, 2 s later, started again from its store.  Then a last run
# of the consumer reaches --endpos, and the stream, read back message by
# message ($JS.API.STREAM.MSG.GET, test/e2e/lib/nats_client.py), must hold
# every committed event of the source log exactly once, in commit order,
# nothing else, each with Nats-Msg-Id = its event_id; and the log must
# show that duplicates were dropped.  Publishing without the Nats-Msg-Id
# header makes this test fail (duplicates).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
consume=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}
seconds=${DT_CONSUME_SECONDS:-12}
slot=dt_nats
subject=drivetribe.events
natsc="$root/test/e2e/lib/nats_client.py"
fail() { echo "consume_sink_nats: FAILED: $*"; exit 1; }
step() { echo "consume_sink_nats: $*"; }
[ -x "$consume" ] || fail "$consume is not installed"
# Debian installs it in /usr/sbin, which an ordinary user's PATH lacks
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$nats_server" ] || fail "nats-server is needed (scripts/install-deps.sh installs it)"
command -v python3 >/dev/null || fail "python3 is needed (test/e2e/lib/nats_client.py)"
case "$("$consume" --help)" in *--nats=*) ;; *) false ;; esac || fail "$consume has no --nats (an older build?)"
work=$(mktemp -d)
chmod 755 "$work"
pgport=$((PGPORT + 17))
nport=$((PGPORT + 18))
nats_pid=""

. "$root/scripts/cluster.sh"
DT_PG_CONF="synchronous_commit = on" dt_cluster_temp "$pgport" postgres test ||
  fail "could not start a cluster of its own"
dir=$DT_CLUSTER_DIR
db=postgres
cleanup() {
  [ -f "$work/stop" ] || touch "$work/stop" "$work/stop_killing"
  [ -f "$work/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$work/pids"
  [ -f "$work/consumer.pid" ] && kill -9 "$(cat "$work/consumer.pid")" 2>/dev/null || true
  if [ -n "$nats_pid" ]; then kill -CONT "$nats_pid" 2>/dev/null || true; kill -9 "$nats_pid" 2>/dev/null || true; fi
  dt__cleanup_temp
  if [ -n "${DT_CONSUME_KEEP:-}" ]; then echo "consume_sink_nats: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
n() { timeout 60 python3 "$natsc" 127.0.0.1 "$nport" "$@"; }

# nats-server of our own: JetStream, file storage in $work/nats
nats_start() {
  "$nats_server" -js -sd "$work/nats" -p "$nport" -a 127.0.0.1 -l "$work/nats.log" &
  nats_pid=$!
  for _ in $(seq 1 100); do
    grep -q 'Server is ready' "$work/nats.log" 2>/dev/null && return 0
    kill -0 "$nats_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "nats-server did not start on port $nport (see below)$(echo; tail -5 "$work/nats.log")"
}
: >"$work/nats.log"
nats_start

stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot"
base=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")

consumer_args=(-d "dbname=$db" -S "$slot" -s "$work/state" --nats "127.0.0.1:$nport"
               --nats-subject "$subject" --nats-timeout 1 --batch-events 50
               --status-interval 1 --heartbeat-interval 1 --retry-max 1 --report-interval 0)

# no stream yet: publishes are answered 503 (no responders), a failed try
stream_mix "$work/mix.sql"
pgbench -n -c 2 -t 10 -f "$work/mix.sql" "$db" >"$work/pgbench0.out" 2>&1 || fail "the first writes failed"
end=$(q -c "SELECT drivetribe.heartbeat()")
rc=0
timeout 30 "$consume" "${consumer_args[@]}" --max-tries 1 --endpos "$end" 2>>"$work/consume.log" || rc=$?
[ "$rc" = 7 ] || { tail -5 "$work/consume.log"; fail "with no stream the consumer exited with status $rc, not 7 (--max-tries 1)"; }
grep -q "no stream listens on subject \"$subject\" (503 no responders)" "$work/consume.log" ||
  { tail -5 "$work/consume.log"; fail "no 503 (no responders) failure logged while no stream existed"; }

# the stream: file storage, a 2 min duplicate window
n create '{"name":"DT","subjects":["'"$subject"'"],"storage":"file","duplicate_window":120000000000}' \
  >"$work/create.json" || fail "could not create the stream"

# the supervisor: start the consumer again whenever it ends, until told
: >"$work/runs"
(
  run=0
  while [ ! -f "$work/stop" ]; do
    run=$((run + 1))
    "$consume" "${consumer_args[@]}" 2>>"$work/consume.log" &
    echo $! >"$work/consumer.pid"
    rc=0; wait $! 2>/dev/null || rc=$?
    echo "$run $rc" >>"$work/runs"
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || [ "$rc" = 137 ] || { echo "$rc" >"$work/bad_exit"; break; }
    [ "$rc" = 2 ] && sleep 0.3
  done
) &
supervisor=$!
echo $supervisor >>"$work/pids"
# the killer
(
  while [ ! -f "$work/stop_killing" ]; do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + (r % 60) / 100 }')"
    [ -f "$work/pause_killing" ] && continue
    kill -9 "$(cat "$work/consumer.pid" 2>/dev/null)" 2>/dev/null || true
  done
) &
killer=$!
echo $killer >>"$work/pids"

pgbench -n -c 6 -j 2 -R 300 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench1.out" 2>&1 &
load=$!
# nats-server frozen for 3 s: tries time out (the killer waits meanwhile,
# from 1 s before, so that a consumer is connected and publishing); the
# publishes it holds are stored when it is thawed, and come again
sleep 1
touch "$work/pause_killing"
sleep 1
kill -STOP "$nats_pid"
sleep 3
kill -CONT "$nats_pid"
sleep 1.5
rm "$work/pause_killing"
sleep $((seconds / 2 - 6 > 0 ? seconds / 2 - 6 : 0))
# the source server crashes
dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
wait "$load" || true
dt_cluster_start "$dir" || fail "the server did not start again after the crash"
for _ in $(seq 1 300); do pg_isready -q -d "$db" && break; sleep 0.1; done
grep -q 'database system was interrupted\|redo starts\|not properly shut down' "$dir/server.log" ||
  fail "the server did not run crash recovery"
# more load; nats-server is SIGKILLed, and 2 s later started from its store
pgbench -n -c 6 -j 2 -R 300 -T "$((seconds / 2))" -f "$work/mix.sql" "$db" >"$work/pgbench2.out" 2>&1 &
load=$!
sleep 2
kill -9 "$nats_pid"
wait "$nats_pid" 2>/dev/null || true
sleep 2
nats_start
wait "$load" || { tail -5 "$work/pgbench2.out"; fail "the write mix after the crash failed"; }
touch "$work/stop_killing"
wait "$killer" 2>/dev/null || true
stream_stop_supervised "$work" "$supervisor"
[ ! -f "$work/bad_exit" ] || { tail -20 "$work/consume.log"; fail "the consumer exited with status $(cat "$work/bad_exit")"; }

# the last run: up to a heartbeat after the last event, then exit 0
end=$(q -c "SELECT drivetribe.heartbeat()")
rc=0
timeout 60 "$consume" "${consumer_args[@]}" --endpos "$end" 2>>"$work/consume.log" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$work/consume.log"; fail "the last run did not reach --endpos $end (status $rc)"; }

runs=$(wc -l <"$work/runs")
killed=$(grep -c ' 137$' "$work/runs" || true)
[ "$killed" -ge 10 ] || fail "the consumer was SIGKILLed only $killed times"
timeouts=$(grep -c 'nats: timed out after 1 s (--nats-timeout): [0-9]* of the batch' "$work/consume.log" || true)
[ "$timeouts" -ge 1 ] || { tail -20 "$work/consume.log"; fail "no try timed out while nats-server was frozen"; }
failed=$(grep -c 'nats: .* (attempt [0-9]*); retrying' "$work/consume.log" || true)

# the stream, message by message: stream seq, subject, Nats-Msg-Id, data
n dump DT >"$work/got.tsv" || fail "could not read the stream back"
q -c "CREATE TABLE public.got (n bigint, subject text, msg_id text, o jsonb)" \
  -c "\\copy public.got FROM '$work/got.tsv'" >/dev/null || fail "a message's data is not a JSON object"
read -r delivered distinct missing extra <<<"$(stream_delivered_vs_log public.got "$base")"
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
[ "$committed" -gt 500 ] || fail "only $committed events committed by the mix"
[ "$missing" = 0 ] || fail "$missing committed events are not in the stream"
[ "$extra" = 0 ] || fail "$extra messages are no committed event"
[ "$distinct" = "$delivered" ] || fail "$((delivered - distinct)) events are in the stream twice or more ($delivered messages, $distinct events)"
[ "$delivered" = "$committed" ] || fail "$delivered messages, $committed committed events"
read -r msgs _ _ <<<"$(n info DT)"
[ "$msgs" = "$delivered" ] || fail "the stream's state says $msgs messages, not $delivered"
fields=$(q -c "SELECT count(*) FROM public.got WHERE msg_id <> o ->> 'event_id' OR subject <> '$subject'")
[ "$fields" = 0 ] || fail "$fields messages whose Nats-Msg-Id is not their event_id, or on another subject"
read -r lsn_back seq_back <<<"$(q -F ' ' -c "
  WITH g AS (SELECT (o ->> 'lsn')::pg_lsn AS lsn, (o ->> 'seq')::bigint AS seq,
                    lag((o ->> 'lsn')::pg_lsn) OVER w AS prev_lsn, lag((o ->> 'seq')::bigint) OVER w AS prev_seq
               FROM public.got WINDOW w AS (ORDER BY n))
  SELECT count(*) FILTER (WHERE lsn < prev_lsn), count(*) FILTER (WHERE lsn = prev_lsn AND seq <= prev_seq) FROM g")"
[ "$lsn_back" = 0 ] || fail "$lsn_back messages out of commit order"
[ "$seq_back" = 0 ] || fail "$seq_back messages out of seq order within a transaction"
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() is not empty"
# last: the stream is right, and it was so because events came again
dups=$(grep -c 'were in stream DT already (same Nats-Msg-Id): dropped as duplicates' "$work/consume.log" || true)
dropped=$(sed -n 's/.*): \([0-9]*\) of its events were in stream DT already.*/\1/p' "$work/consume.log" | awk '{ s += $1 } END { print s + 0 }')
[ "$dups" -ge 1 ] || fail "no event came again, so the Nats-Msg-Id dedupe was not exercised"
step "$committed committed events, each in the stream exactly once, in commit order, Nats-Msg-Id = event_id, nothing else; 503 with no stream; $runs runs, $killed SIGKILLs, a server crash, nats-server frozen ($timeouts timed out tries) and SIGKILLed; $failed failed tries in all; $dups batches came again with $dropped events dropped as duplicates"
step "all passed"
