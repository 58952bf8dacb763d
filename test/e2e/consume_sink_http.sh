#!/usr/bin/env bash
# drivetribe-consume --http end to end: the HTTP webhook sink against a real
# local HTTP server (test/e2e/lib/webhook_receiver.py, Python 3 standard
# library), in a cluster of its own (PGPORT + 13; the HTTP server listens on
# 127.0.0.1:PGPORT + 14).
#
#  1. While 6 pgbench clients run the stream mix (commits, rollbacks,
#     rolled back savepoints, another table written), the consumer POSTs
#     batches, signed with a secret, to the server, which checks the
#     signature and records (fsync) each accepted batch.  A killer SIGKILLs
#     the consumer every 0.15-0.75 s (12 times or more; fewer than 10
#     fails the test) and it is started again at once; the server answers
#     500 for 2 s, hangs once longer than --http-timeout (the batch is
#     recorded, the answer comes too late), and is itself SIGKILLed and
#     started again once.  Then a run with --endpos
#     ends the consumer at the log's end.  Checks: every committed event of
#     the log was received, nothing else was, and every event received
#     again came in a request with the same Idempotency-Key as an earlier
#     one (a retried batch), or in a later run of the consumer that started
#     before the end_lsn of the batch that first brought it (a batch that
#     was not confirmed).
#  2. A wrong secret: a consumer with another secret file gets 401 on every
#     try, nothing is recorded, the slot's confirmed_flush_lsn does not
#     move, and it exits 7 after --max-tries; the right one then delivers.
#  3. Option errors exit 1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/stream_world.sh"
root=${DT_ROOT:-$(cd "$here/../.." && pwd)}
. "$here/lib/server.sh"
e2e_use_server_bindir
consume=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}
seconds=${DT_HTTP_SECONDS:-12}
slot=dt_http
work=$(mktemp -d)
chmod 755 "$work"
fail() { echo "consume_sink_http: FAILED: $*"; exit 1; }
step() { echo "consume_sink_http: $*"; }
[ -x "$consume" ] || fail "$consume is not installed"
# (not --help | grep -q: grep ends first and SIGPIPE fails the pipeline)
"$consume" --help >"$work/help" 2>&1 || true
grep -q -- '--http=URL' "$work/help" || fail "$consume has no --http sink"
command -v python3 >/dev/null || fail "python3 is missing"

. "$root/scripts/cluster.sh"
DT_PG_CONF="synchronous_commit = on" dt_cluster_temp "${DT_HTTP_PGPORT:-$((PGPORT + 13))}" postgres test ||
  fail "could not start a cluster of its own"
db=postgres
hport=${DT_HTTP_PORT:-$((PGPORT + 14))}
url="http://127.0.0.1:$hport/hook"
cleanup() {
  [ -f "$work/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$work/pids"
  for f in consumer.pid receiver.pid; do
    [ -f "$work/$f" ] && kill -9 "$(cat "$work/$f")" 2>/dev/null || true
  done
  dt__cleanup_temp
  if [ -n "${DT_HTTP_KEEP:-}" ]; then echo "consume_sink_http: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot"
base=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")
printf 'right-%s-%s\n' "$RANDOM" "$RANDOM" >"$work/secret"
printf 'wrong-%s-%s\n' "$RANDOM" "$RANDOM" >"$work/wrong_secret"
chmod 600 "$work/secret" "$work/wrong_secret"
: >"$work/got.jsonl"
: >"$work/requests.log"
echo ok >"$work/control"

start_receiver() {
  python3 "$here/lib/webhook_receiver.py" --port "$hport" --secret-file "$work/secret" \
    --out "$work/got.jsonl" --control "$work/control" --requests "$work/requests.log" \
    2>>"$work/receiver.log" &
  echo $! >"$work/receiver.pid"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$hport") 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$work/receiver.log"
  fail "the HTTP server did not start on port $hport"
}
start_receiver

# ------------------------------------------------------------------ 1
# the supervisor: start the consumer again whenever it ends; once the file
# endpos exists, the next run gets --endpos and ends the loop with status 0
: >"$work/runs"
(
  run=0
  while [ ! -f "$work/stop" ]; do
    run=$((run + 1))
    endpos=()
    [ -f "$work/endpos" ] && endpos=(--endpos "$(cat "$work/endpos")")
    "$consume" -d "dbname=$db" -S "$slot" -s "$work/state" --batch-events 200 \
      --status-interval 1 --heartbeat-interval 1 --retry-max 1 --report-interval 0 \
      --http "$url" --http-timeout 2 --http-secret-file "$work/secret" \
      --http-header "X-Run: $run" "${endpos[@]}" 2>"$work/log.$run" &
    echo $! >"$work/consumer.pid"
    rc=0; wait $! 2>/dev/null || rc=$?
    echo "$run $rc ${#endpos[@]}" >>"$work/runs"
    if [ "$rc" = 0 ] && [ ${#endpos[@]} -gt 0 ]; then touch "$work/reached"; break; fi
    # 143: the end's SIGTERM (below) reached a run between its fork and
    # exec, before the consumer could handle it: a stop all the same
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || [ "$rc" = 137 ] || { [ "$rc" = 143 ] && [ -f "$work/endpos" ]; } ||
      { echo "$rc" >"$work/bad_exit"; break; }
    [ "$rc" = 2 ] && sleep 0.3
  done
) &
echo $! >>"$work/pids"
# the killer (paused while the file no_kill exists)
(
  while [ ! -f "$work/stop_killing" ]; do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.15 + (r % 60) / 100 }')"
    [ -f "$work/no_kill" ] && continue
    kill -9 "$(cat "$work/consumer.pid" 2>/dev/null)" 2>/dev/null || true
  done
) &
killer=$!
echo $killer >>"$work/pids"

stream_mix "$work/mix.sql"
pgbench -n -c 6 -j 2 -R 300 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench.out" 2>&1 &
load=$!
( for _ in $(seq 1 $((seconds * 2))); do
    q -c "INSERT INTO public.busy (payload) SELECT repeat('x', 100) FROM generate_series(1, 2000)" >/dev/null 2>&1 || true
    sleep 0.5
  done ) &
echo $! >>"$work/pids"

# the server fails for 2 s
sleep 2
echo fail >"$work/control"
sleep 2
echo ok >"$work/control"
# the server hangs once (the killer pauses so that the consumer sees it)
touch "$work/no_kill"
echo "hang 1" >"$work/control"
for _ in $(seq 1 50); do grep -q '^0 ' "$work/requests.log" && break; sleep 0.1; done
grep -q '^0 ' "$work/requests.log" || fail "no request came while the server was to hang"
for _ in $(seq 1 100); do
  cat "$work"/log.* | grep -q 'http request timed out' && break
  sleep 0.1
done
echo ok >"$work/control"
rm -f "$work/no_kill"
sleep 1
# the server is killed and started again (the killer pauses so that the
# consumer sees it down)
touch "$work/no_kill"
kill -9 "$(cat "$work/receiver.pid")"
wait "$(cat "$work/receiver.pid")" 2>/dev/null || true
sleep 1.5
start_receiver
sleep 0.5
rm -f "$work/no_kill"
wait "$load" || { tail -5 "$work/pgbench.out"; fail "the write mix failed"; }
# go on killing (the backlog's catch-up) until 12 SIGKILLs, 15 s at most
for _ in $(seq 1 150); do
  [ "$(grep -c '^[0-9]* 137 ' "$work/runs" || true)" -ge 12 ] && break
  sleep 0.1
done
touch "$work/stop_killing"
wait "$killer" 2>/dev/null || true

# the end: a heartbeat after the last event; the next run stops at it
end=$(q -c "SELECT drivetribe.heartbeat()")
echo "$end" >"$work/endpos"
kill -TERM "$(cat "$work/consumer.pid")" 2>/dev/null || true
for _ in $(seq 1 300); do
  [ -f "$work/reached" ] || [ -f "$work/bad_exit" ] && break
  sleep 0.1
done
touch "$work/stop"
last=$(tail -1 "$work/runs" | cut -d' ' -f1)
[ ! -f "$work/bad_exit" ] || { tail -20 "$work/log.$last"; fail "the consumer exited with status $(cat "$work/bad_exit")"; }
[ -f "$work/reached" ] || { tail -20 "$work/log.$last"; fail "the consumer did not reach --endpos $end within 30 s"; }
[ "$(q -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] ||
  fail "the slot did not confirm --endpos $end"

runs=$(wc -l <"$work/runs")
killed=$(grep -c '^[0-9]* 137 ' "$work/runs" || true)
[ "$killed" -ge 10 ] || fail "the consumer was SIGKILLed only $killed times"
cat "$work"/log.* >"$work/consume.log"
n500=$(grep -c 'http status 500: failing on purpose' "$work/consume.log" || true)
ntimeout=$(grep -c 'http request timed out after 2 s' "$work/consume.log" || true)
nrefused=$(grep -c 'http request failed' "$work/consume.log" || true)
[ "$n500" -ge 1 ] || fail "no try failed with status 500 while the server failed"
[ "$ntimeout" -ge 1 ] || fail "no try timed out while the server hung"
[ "$nrefused" -ge 1 ] || fail "no try failed while the server was down"
grep -q '^401 ' "$work/requests.log" && fail "the right secret's signature was refused"

# load what the server recorded: one row per received event
awk '{ gsub(/\\/, "\\\\"); print }' "$work/got.jsonl" >"$work/got.copy"
q -c "CREATE TABLE public.req (n bigserial, r jsonb)" \
  -c "\\copy public.req (r) FROM '$work/got.copy'" >/dev/null ||
  fail "the server's record is not JSON lines"
q -c "CREATE TABLE public.got AS
        SELECT n, i, r ->> 'key' AS key, (r ->> 'run')::int AS run,
               (r ->> 'end_lsn')::pg_lsn AS end_lsn, e.o
          FROM public.req, jsonb_array_elements(r -> 'events') WITH ORDINALITY e(o, i)" >/dev/null
# each run's start position, from its log
q -c "CREATE TABLE public.starts (run int, start_lsn pg_lsn)" >/dev/null
for f in "$work"/log.*; do
  r=${f##*.}
  s=$(sed -n 's/.*streaming slot "[a-z_0-9]*" from \([0-9A-F]*\/[0-9A-F]*\) into the http downstream.*/\1/p' "$f" | head -1)
  [ -n "$s" ] && q -c "INSERT INTO public.starts VALUES ($r, '$s')" >/dev/null
done
read -r received distinct missing extra <<<"$(stream_delivered_vs_log public.got "$base")"
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
[ "$committed" -gt 200 ] || fail "only $committed events committed by the mix"
[ "$missing" = 0 ] || fail "$missing committed events were never received"
[ "$extra" = 0 ] || fail "$extra received objects are no committed event"
[ "$distinct" = "$committed" ] || fail "$distinct distinct events received, $committed committed"
bad_key=$(q -c "SELECT count(*) FROM public.req WHERE r ->> 'key' <> '$slot/' || (r ->> 'end_lsn')")
[ "$bad_key" = 0 ] || fail "$bad_key requests whose Idempotency-Key is not slot/end_lsn"
# a second reception: a retried batch (same key), or a later run that
# started before the end of the batch that brought it first
read -r again same_key unconfirmed bad <<<"$(q -F ' ' -c "
  WITH d AS (
    SELECT g2.n, g2.i, g2.key, g2.run,
           bool_or(g1.key = g2.key) AS same_key,
           bool_or(g2.run > g1.run AND g1.end_lsn > s.start_lsn) AS unconfirmed
      FROM public.got g2
      JOIN public.got g1 ON g1.o ->> 'event_id' = g2.o ->> 'event_id' AND g1.n < g2.n
      LEFT JOIN public.starts s ON s.run = g2.run
     GROUP BY g2.n, g2.i, g2.key, g2.run)
  SELECT count(*), count(*) FILTER (WHERE same_key),
         count(*) FILTER (WHERE unconfirmed AND NOT same_key),
         count(*) FILTER (WHERE NOT same_key AND NOT coalesce(unconfirmed, false))
    FROM d")"
[ "$bad" = 0 ] || fail "$bad events received again neither in a retried batch nor from an unconfirmed one"
reqs=$(wc -l <"$work/requests.log")
accepted=$(q -c "SELECT count(*) FROM public.req")
step "part 1: $committed committed events, each received ($received receptions in $accepted accepted requests of $reqs; $again again: $same_key in a retried batch, same Idempotency-Key, $unconfirmed from an unconfirmed batch after a restart), nothing else; $runs runs, $killed SIGKILLs, $n500 tries answered 500, $ntimeout timed out, $nrefused failed while the server was down (restarted once), --endpos reached"

# ------------------------------------------------------------------ 2
q -c "SELECT drivetribe.register_user(9901, 'Signed')" >/dev/null
lsn=$(q -c "SELECT pg_current_wal_lsn()")
held=$(q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")
lines=$(wc -l <"$work/got.jsonl")
rejected=$(grep -c '^401 ' "$work/requests.log" || true)
rc=0
timeout 30 "$consume" -d "dbname=$db" -S "$slot" -s "$work/state" --status-interval 1 --retry-max 1 \
  --max-tries 3 --http "$url" --http-timeout 2 --http-secret-file "$work/wrong_secret" \
  2>"$work/wrong.log" || rc=$?
[ "$rc" = 7 ] || { cat "$work/wrong.log"; fail "part 2: the consumer with a wrong secret exited $rc, not 7"; }
grep -q 'http status 401: bad signature' "$work/wrong.log" || { cat "$work/wrong.log"; fail "part 2: no 401 in the log"; }
now401=$(grep -c '^401 ' "$work/requests.log" || true)
[ $((now401 - rejected)) -ge 3 ] || fail "part 2: $((now401 - rejected)) requests refused, 3 expected"
[ "$(wc -l <"$work/got.jsonl")" = "$lines" ] || fail "part 2: a batch with a wrong signature was recorded"
now=$(q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")
[ "$now" = "$held" ] || fail "part 2: the slot moved from $held to $now with a wrong secret"
timeout 30 "$consume" -d "dbname=$db" -S "$slot" -s "$work/state" --status-interval 1 --retry-max 1 \
  --http "$url" --http-secret-file "$work/secret" --endpos "$lsn" 2>"$work/right.log" ||
  { cat "$work/right.log"; fail "part 2: the consumer with the right secret did not reach --endpos"; }
tail -1 "$work/got.jsonl" | grep -q '"user_id":9901' || fail "part 2: the event was not received with the right secret"
step "part 2: a wrong secret: $((now401 - rejected)) tries refused with 401, nothing recorded, the slot held at $held, exit 7; the right secret then delivered it"

# ------------------------------------------------------------------ 3
usage_error() {  # usage_error WHAT OPTION...
  local what=$1 rc=0; shift
  "$consume" -d "dbname=$db" -S "$slot" -s "$work/state.u" "$@" 2>"$work/usage.log" || rc=$?
  [ "$rc" = 1 ] || { cat "$work/usage.log"; fail "part 3: $what: exit $rc, not 1"; }
}
usage_error "--http with -c" --http "$url" -c cat
usage_error "a URL of another scheme" --http "ftp://127.0.0.1/"
usage_error "--http-header without --http" -c cat --http-header "A: b"
usage_error "a header without a colon" --http "$url" --http-header "Authorization"
usage_error "a header of the consumer's" --http "$url" --http-header "Idempotency-Key: x"
usage_error "a missing secret file" --http "$url" --http-secret-file "$work/none"
: >"$work/empty"
usage_error "an empty secret file" --http "$url" --http-secret-file "$work/empty"
step "part 3: option errors exit 1"
step "all passed"
