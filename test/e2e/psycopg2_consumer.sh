#!/usr/bin/env bash
# The README's psycopg2 consumer (examples/psycopg2/consume.py) against the
# real plugin (issue 19, item 6): it confirms the commit object's end_lsn
# after its downstream (a file) is durable, so a restart resumes right after
# the last transaction it confirmed.
#
#  1. While 4 pgbench clients run the stream tests' mix (commits, rollbacks,
#     rolled-back savepoints), the consumer runs, is SIGKILLed mid-way and
#     started again.  Then: every committed event is in the file at least
#     once, nothing else is; the second run starts at the position the slot
#     had confirmed when the first was killed (none of its events belongs to
#     a transaction that committed before it), and what it delivered again
#     is only what the first run had not confirmed.
#  2. Every object's context is compact JSON ({"a":"b"}, no spaces), like
#     the rest of the object.
#  3. The README's advice: confirming the first message's data_start (the
#     event's LSN) gets the last transaction again; confirming the commit
#     object's end_lsn does not.
# Needs PGHOST/PGPORT/PGUSER of a running server (wal_level = logical,
# drivetribe allowed in output_plugin_libraries) with drivetribe installed,
# and python3-psycopg2 (scripts/install-deps.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
db=dt_e2e_psycopg2
slot=dt_e2e_psycopg2
work=$(mktemp -d)
consumer=
fail() { echo "psycopg2_consumer: FAILED: $*"; exit 1; }
step() { echo "psycopg2_consumer: $*"; }
cleanup() {
  [ -n "$consumer" ] && kill -9 "$consumer" 2>/dev/null && wait "$consumer" 2>/dev/null
  for s in "$slot" "${slot}_probe"; do
    psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('$s')" >/dev/null 2>&1 || true
  done
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# Debian's python3-psycopg2 is for /usr/bin/python3 (a python3 earlier in
# PATH, pyenv's say, may lack it)
py=
for p in ${DT_PYTHON:-} python3 /usr/bin/python3; do
  "$p" -c 'import psycopg2' 2>/dev/null && { py=$p; break; }
done
[ -n "$py" ] || fail "no python3 with psycopg2 (Debian: python3-psycopg2; bash scripts/install-deps.sh)"
example=$root/examples/psycopg2/consume.py
dsn="dbname=$db"

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot (is drivetribe in output_plugin_libraries?)"
base=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")
confirmed() { q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'"; }
start_consumer() {  # FILE
  "$py" "$example" "$dsn" "$slot" "$1" 2>>"$work/consumer.err" &
  consumer=$!
}
wait_inactive() {
  local i
  for i in $(seq 1 100); do
    [ "$(q -c "SELECT active FROM pg_replication_slots WHERE slot_name = '$slot'")" = f ] && return 0
    sleep 0.1
  done
  return 1
}

# ------------------------------------------------------------------ 1
stream_mix "$work/mix.sql"
pgbench -n -c 4 -j 2 -T 6 -R 150 -f "$work/mix.sql" "$db" >"$work/pgbench.out" 2>&1 &
bench=$!
start_consumer "$work/run1.jsonl"
sleep 3
kill -9 "$consumer"; wait "$consumer" 2>/dev/null || true; consumer=
wait_inactive || fail "the slot is still active 10 s after the consumer was killed"
c1=$(confirmed)
n1=$(grep -c '"seq"' "$work/run1.jsonl" || true)
[ "$n1" -gt 0 ] || { cat "$work/consumer.err"; fail "the first run delivered nothing in 2.5 s"; }
step "run 1 SIGKILLed after $n1 events; the slot had confirmed $c1"
sleep 1                                  # events committed while no one reads
start_consumer "$work/run2.jsonl"
wait "$bench" || { tail -5 "$work/pgbench.out"; fail "the write mix failed"; }
end=$(q -c "SELECT drivetribe.heartbeat()")
for i in $(seq 1 200); do
  [ "$(q -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] && break
  [ "$i" = 200 ] && { cat "$work/consumer.err"; fail "the consumer did not confirm the heartbeat at $end within 20 s (slot at $(confirmed))"; }
  sleep 0.1
done
kill -TERM "$consumer"; wait "$consumer" 2>/dev/null || true; consumer=

q -c "CREATE TABLE public.got (n serial, run int, o jsonb, line text)" >/dev/null
for r in 1 2; do
  q -c "CREATE TEMP TABLE raw (line text)" \
    -c "\\copy raw FROM '$work/run$r.jsonl' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" \
    -c "INSERT INTO public.got (run, o, line) SELECT $r, line::jsonb, line FROM raw" >/dev/null ||
    fail "run $r's file is not one JSON object per line"
done
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
[ "$committed" -gt 100 ] || fail "only $committed events committed by the mix"
read -r got distinct missing extra <<<"$(stream_delivered_vs_log public.got "$base")"
[ "$missing" = 0 ] || fail "$missing of $committed committed events never arrived"
[ "$extra" = 0 ] || fail "$extra delivered objects are no committed event (or differ from it)"
# run 2 starts at what was confirmed: nothing from a transaction that
# committed before c1 (its commit record starts before c1)
early=$(q -c "SELECT count(*) FROM public.got WHERE run = 2 AND (o ->> 'lsn')::pg_lsn < '$c1'")
[ "$early" = 0 ] || fail "run 2 got $early events of transactions confirmed before it ($c1)"
# duplicates: only run 1's unconfirmed tail (transactions from c1 on)
dups=$(q -c "SELECT count(*) FROM public.got a JOIN public.got b ON a.o ->> 'event_id' = b.o ->> 'event_id' AND a.n < b.n")
baddup=$(q -c "SELECT count(*) FROM public.got a WHERE run = 1 AND (o ->> 'lsn')::pg_lsn < '$c1'
                 AND EXISTS (SELECT FROM public.got b WHERE b.run = 2 AND b.o ->> 'event_id' = a.o ->> 'event_id')")
[ "$baddup" = 0 ] || fail "$baddup events confirmed by run 1 were delivered again"
unconfirmed=$(q -c "SELECT count(*) FROM public.got WHERE run = 1 AND (o ->> 'lsn')::pg_lsn >= '$c1'")
[ "$unconfirmed" -lt "$n1" ] || fail "run 1 confirmed none of its $n1 events in 3 s (the example sends its position every second)"
# the transaction right after c1 is run 2's first (none skipped at the seam)
first2=$(q -c "SELECT (o ->> 'lsn') FROM public.got WHERE run = 2 ORDER BY n LIMIT 1")
nextlsn=$(q -c "SELECT min((o ->> 'lsn')::pg_lsn) FROM public.got WHERE (o ->> 'lsn')::pg_lsn >= '$c1'")
[ "$first2" = "$nextlsn" ] || fail "run 2 began with the transaction at $first2, not the first one after $c1 ($nextlsn)"
step "ok: $committed committed events, $got delivered ($distinct distinct), none missing; run 2 resumed at $c1 with the transaction at $first2; $dups delivered twice (run 1 wrote $unconfirmed it had not confirmed)"

# ------------------------------------------------------------------ 2
loose=$(q -c "SELECT count(*) FROM public.got WHERE line !~ '\"context\":[{n]' OR line ~ '\"context\":[{][^}]*\": '")
[ "$loose" = 0 ] || fail "$loose objects with a context not printed compactly, e.g. $(q -c "SELECT line FROM public.got WHERE line ~ '\"context\":[{][^}]*\": ' LIMIT 1")"
q -c "SELECT drivetribe.register_user(990001, 'Spaced \"Name\": x')" >/dev/null
# (the test cluster commits asynchronously: decoding sees a commit once
# the WAL writer has flushed it, within wal_writer_delay)
line=
for _ in $(seq 1 50); do
  line=$(q -c "SELECT data FROM pg_logical_slot_get_changes('$slot', NULL, NULL) WHERE data LIKE '%990001%'")
  [ -n "$line" ] && break
  sleep 0.1
done
want='"context":{"user_name":"Spaced \"Name\": x"}'
case $line in *"$want"*) ;; *) fail "context is not compact JSON: $line" ;; esac
step "ok: context is compact JSON ($want)"

# ------------------------------------------------------------------ 3
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('${slot}_probe', 'drivetribe')" >/dev/null
q -c "SELECT drivetribe.register_user(990002, 'Probe')" >/dev/null
probe() {  # MODE: read the first transaction, confirm per MODE, print its first seq
  "$py" - "$dsn" "${slot}_probe" "$1" <<'PY'
import json, sys, psycopg2, psycopg2.extras
dsn, slot, mode = sys.argv[1:4]
conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
cur = conn.cursor()
cur.start_replication(slot_name=slot, decode=True, options={"include_commits": "on"})
first = None
def handle(msg):
    global first
    obj = json.loads(msg.payload)
    if "seq" in obj and first is None:
        first = (obj["seq"], msg.data_start)
    elif obj.get("commit") and first is not None:
        hi, lo = obj["end_lsn"].split("/")
        end = (int(hi, 16) << 32) | int(lo, 16)
        msg.cursor.send_feedback(flush_lsn=first[1] if mode == "data_start" else end, force=True)
        print(first[0])
        raise psycopg2.extras.StopReplication()
try:
    cur.consume_stream(handle)
except psycopg2.extras.StopReplication:
    pass
conn.close()
PY
}
s1=$(probe data_start); s2=$(probe end_lsn); s3=$(q -c "SELECT count(*) FROM pg_logical_slot_peek_changes('${slot}_probe', NULL, NULL) WHERE data LIKE '%990002%'")
[ -n "$s1" ] && [ "$s1" = "$s2" ] || fail "confirming data_start should deliver seq $s1 again, the next start got '$s2'"
[ "$s3" = 0 ] || fail "after confirming end_lsn the transaction of seq $s2 is still in the slot"
step "ok: confirming data_start re-delivered seq $s1; confirming end_lsn did not"
