#!/usr/bin/env bash
# drivetribe-consume's Redis Streams sink (--redis) end to end: exactly once
# per stream, whatever fails.  A cluster of its own (PGPORT + 15,
# synchronous_commit on) and a redis-server of its own (PGPORT + 16, on
# 127.0.0.1, its own dir, AOF with appendfsync always, no RDB), both ended
# at exit.
#
# While 6 pgbench clients run the stream mix (commits, rollbacks, rolled
# back savepoints; 300 transactions/s), the consumer streams the slot into
# a Redis stream (--redis-timeout 1, small batches).  A killer SIGKILLs it
# every 0.2-0.8 s (at least 10 times) and it is started again at once; the
# source server is crashed once (pg_ctl stop -m immediate) and started
# again; redis-server is frozen (SIGSTOP) for 3 s (the killer pausing), so
# tries time out while Redis holds the script calls that it runs once it is
# thawed (their batches come again and must be skipped), its script cache
# is flushed (NOSCRIPT: EVAL), and it is shut down and started again from its AOF.
# Then a last run of the consumer reaches --endpos, and XRANGE must hold
# every committed event of the source log exactly once (the fields seq,
# event_id, kind equal to the event's), in commit order, and nothing else;
# the progress key holds the last end LSN.  Removing the "already applied"
# check from the sink's script makes this test fail (duplicates).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
consume=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}
seconds=${DT_CONSUME_SECONDS:-12}
slot=dt_redis
key='dt:events'
fail() { echo "consume_sink_redis: FAILED: $*"; exit 1; }
step() { echo "consume_sink_redis: $*"; }
[ -x "$consume" ] || fail "$consume is not installed"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
  fail "redis-server and redis-cli are needed (scripts/install-deps.sh installs them)"
case "$("$consume" --help)" in *--redis=*) ;; *) false ;; esac || fail "$consume has no --redis (built without the Redis sink?)"
work=$(mktemp -d)
chmod 755 "$work"
pgport=$((PGPORT + 15))
rport=$((PGPORT + 16))
redis_pid=""

. "$root/scripts/cluster.sh"
DT_PG_CONF="synchronous_commit = on" dt_cluster_temp "$pgport" postgres test ||
  fail "could not start a cluster of its own"
dir=$DT_CLUSTER_DIR
db=postgres
cleanup() {
  [ -f "$work/stop" ] || touch "$work/stop" "$work/stop_killing"
  [ -f "$work/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$work/pids"
  [ -f "$work/consumer.pid" ] && kill -9 "$(cat "$work/consumer.pid")" 2>/dev/null || true
  if [ -n "$redis_pid" ]; then kill -CONT "$redis_pid" 2>/dev/null || true; kill -9 "$redis_pid" 2>/dev/null || true; fi
  dt__cleanup_temp
  if [ -n "${DT_CONSUME_KEEP:-}" ]; then echo "consume_sink_redis: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
r() { timeout 10 redis-cli -h 127.0.0.1 -p "$rport" "$@"; }

# redis-server of our own: AOF fsync'd on every write, so a shutdown and
# a start keep what it acknowledged
mkdir "$work/redis"
redis_start() {
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --save '' \
    --appendonly yes --appendfsync always --daemonize no --protected-mode no \
    --logfile "$work/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do [ "$(r ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
  fail "redis-server did not start on port $rport (see below)$(echo; tail -5 "$work/redis.log")"
}
redis_start

stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot"
base=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")

consumer_args=(-d "dbname=$db" -S "$slot" -s "$work/state" --redis "127.0.0.1:$rport"
               --redis-stream "$key" --redis-timeout 1 --batch-events 50
               --status-interval 1 --heartbeat-interval 1 --retry-max 1 --report-interval 0)

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

stream_mix "$work/mix.sql"
pgbench -n -c 6 -j 2 -R 300 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench1.out" 2>&1 &
load=$!
# Redis frozen for 3 s: tries time out (the killer waits meanwhile); the
# script calls it holds run when it is thawed, and their batches come again
sleep 2
touch "$work/pause_killing"
kill -STOP "$redis_pid"
sleep 3
kill -CONT "$redis_pid"
# the script cache emptied under a connected consumer (still unkilled)
sleep 1.5
r script flush >/dev/null || fail "SCRIPT FLUSH failed"
sleep 1
rm "$work/pause_killing"
sleep $((seconds / 2 - 7 > 0 ? seconds / 2 - 7 : 0))
# the source server crashes
dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
wait "$load" || true
dt_cluster_start "$dir" || fail "the server did not start again after the crash"
for _ in $(seq 1 300); do pg_isready -q -d "$db" && break; sleep 0.1; done
grep -q 'database system was interrupted\|redo starts\|not properly shut down' "$dir/server.log" ||
  fail "the server did not run crash recovery"
# more load; redis-server is shut down for 2 s and started from its AOF
pgbench -n -c 6 -j 2 -R 300 -T "$((seconds / 2))" -f "$work/mix.sql" "$db" >"$work/pgbench2.out" 2>&1 &
load=$!
sleep 2
r shutdown >/dev/null 2>&1 || true
for _ in $(seq 1 100); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$redis_pid" 2>/dev/null && fail "redis-server did not shut down within 10 s"
wait "$redis_pid" 2>/dev/null || true
sleep 2
redis_start
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
timeouts=$(grep -c 'redis: .*\(timed out\|Resource temporarily unavailable\)' "$work/consume.log" || true)
[ "$timeouts" -ge 1 ] || { tail -20 "$work/consume.log"; fail "no try timed out while redis-server was frozen"; }
failed=$(grep -c 'redis: .* (attempt [0-9]*); retrying' "$work/consume.log" || true)
grep -q 'NOSCRIPT' "$work/consume.log" || fail "the EVAL fallback after SCRIPT FLUSH was not used"

# the stream, entry by entry: id, then seq, event_id, kind, event
r --raw xrange "$key" - + >"$work/xrange.txt" || fail "XRANGE failed"
awk 'BEGIN { OFS = "\t" }
     { l[NR % 9] = $0 }
     NR % 9 == 0 {
       if (l[2] != "seq" || l[4] != "event_id" || l[6] != "kind" || l[8] != "event") { print "bad entry " l[1] > "/dev/stderr"; exit 1 }
       e = l[0]; gsub(/\\/, "\\\\", e); gsub(/\t/, "\\t", e)
       print NR / 9, l[1], l[3], l[5], l[7], e
     }
     END { if (NR % 9 != 0) { print "truncated" > "/dev/stderr"; exit 1 } }' \
  "$work/xrange.txt" >"$work/got.tsv" || fail "XRANGE's entries are not seq, event_id, kind, event"
q -c "CREATE TABLE public.got (n bigint, id text, seq text, event_id text, kind text, o jsonb)" \
  -c "\\copy public.got FROM '$work/got.tsv'" >/dev/null || fail "an entry's event is not a JSON object"
read -r delivered distinct missing extra <<<"$(stream_delivered_vs_log public.got "$base")"
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
[ "$committed" -gt 500 ] || fail "only $committed events committed by the mix"
[ "$missing" = 0 ] || fail "$missing committed events are not in the stream"
[ "$extra" = 0 ] || fail "$extra entries are no committed event"
[ "$distinct" = "$delivered" ] || fail "$((delivered - distinct)) events are in the stream twice or more ($delivered entries, $distinct events)"
[ "$delivered" = "$committed" ] || fail "$delivered entries, $committed committed events"
[ "$(r xlen "$key")" = "$delivered" ] || fail "XLEN is not $delivered"
fields=$(q -c "SELECT count(*) FROM public.got WHERE seq <> o ->> 'seq' OR event_id <> o ->> 'event_id' OR kind <> o ->> 'kind'")
[ "$fields" = 0 ] || fail "$fields entries whose seq, event_id or kind differ from their event's"
read -r lsn_back seq_back <<<"$(q -F ' ' -c "
  WITH g AS (SELECT (o ->> 'lsn')::pg_lsn AS lsn, seq::bigint AS seq,
                    lag((o ->> 'lsn')::pg_lsn) OVER w AS prev_lsn, lag(seq::bigint) OVER w AS prev_seq
               FROM public.got WINDOW w AS (ORDER BY n))
  SELECT count(*) FILTER (WHERE lsn < prev_lsn), count(*) FILTER (WHERE lsn = prev_lsn AND seq <= prev_seq) FROM g")"
[ "$lsn_back" = 0 ] || fail "$lsn_back entries out of commit order"
[ "$seq_back" = 0 ] || fail "$seq_back entries out of seq order within a transaction"
# nothing else in Redis: the stream and its progress key, at the end
keys=$(r --raw keys '*' | sort | tr '\n' ' ')
[ "$keys" = "$key $key:applied:$slot " ] || fail "Redis holds other keys: $keys"
applied=$(r get "$key:applied:$slot")
# (the end of the last batch: past the last event's commit, not past the WAL)
[ "$(q -c "SELECT '$applied'::numeric > max((o ->> 'lsn')::pg_lsn - '0/0') AND '$applied'::numeric <= pg_current_wal_lsn() - '0/0' FROM public.got")" = t ] ||
  fail "the progress key holds $applied: not past the last event's commit $(q -c "SELECT max((o ->> 'lsn')::pg_lsn) FROM public.got"), or past the WAL (heartbeat at $end)"
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() is not empty"
# last: the stream is right, and it was so because batches came again
skipped=$(grep -c 'was already applied: skipped' "$work/consume.log" || true)
partly=$(grep -c 'was partly applied before' "$work/consume.log" || true)
[ "$skipped" -ge 1 ] || fail "no batch came again whole, so the already-applied check was not exercised"
step "$committed committed events, each in the stream exactly once, in commit order, nothing else; $runs runs, $killed SIGKILLs, a server crash, redis frozen ($timeouts timed out tries), flushed (NOSCRIPT) and restarted; $failed failed tries in all; $skipped batches came again and were skipped, $partly partly"
step "all passed"
