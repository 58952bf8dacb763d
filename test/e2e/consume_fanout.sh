#!/usr/bin/env bash
# Fan-out by several consumers of one database (issue 20 item 5): one slot
# per sink, each consumer with its own --kinds and downstream, side by side.
# Three consumers run at once (a --pipe one for bumps and comments, a -c one
# for follows, a --postgres one with every kind into another database) while
# writes of every kind commit; then each sink holds exactly its kinds' events
# of the log, every one once, drivetribe.stream_slots shows the three slots
# active while they run, and a slow sink holds back only its own slot.
# Needs PGHOST/PGPORT/PGUSER of a running server (wal_level = logical,
# drivetribe allowed in output_plugin_libraries) with drivetribe installed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
consume=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}
db=dt_e2e_fanout
receiver=dt_e2e_fanout_receiver
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.2
  for s in fan_push fan_follow fan_all; do
    psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('$s')" >/dev/null 2>&1 || true
  done
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  dropdb --if-exists "$receiver" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "consume_fanout: FAILED: $*" >&2; exit 1; }  # stderr: also from inside $(check)
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

dropdb --if-exists "$db" >/dev/null 2>&1 || true
dropdb --if-exists "$receiver" >/dev/null 2>&1 || true
createdb "$db"; createdb "$receiver"
stream_world_sql | q >/dev/null
for s in fan_push fan_follow fan_all; do
  q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$s', 'drivetribe')" >/dev/null
done
base=$(q -c "SELECT max(seq) FROM drivetribe.events")

cat >"$work/ack.pl" <<'PL'
$| = 1;
open(my $out, '>>', $ARGV[0]) or exit 4;
my @lines;
while (my $line = <STDIN>) {
  if ($line =~ /^\{"batch":(\d+)/) { print $out @lines; $out->flush(); @lines = (); print "ack $1\n"; }
  else { push @lines, $line; }
}
PL
"$consume" -d "dbname=$db" -S fan_push -s "$work/push.state" --kinds article_bumped,comment_posted \
  --pipe "perl $work/ack.pl $work/push.jsonl" --status-interval 1 2>>"$work/consume.log" & pids+=($!)
"$consume" -d "dbname=$db" -S fan_follow -s "$work/follow.state" --kinds user_followed \
  -c "cat >> $work/follow.jsonl" --status-interval 1 2>>"$work/consume.log" & pids+=($!)
"$consume" -d "dbname=$db" -S fan_all -s "$work/all.state" \
  --postgres "dbname=$receiver" --status-interval 1 2>>"$work/consume.log" & pids+=($!)

for _ in $(seq 1 100); do
  [ "$(q -c "SELECT count(*) FROM drivetribe.stream_slots WHERE slot_name LIKE 'fan_%' AND active")" = 3 ] && break
  sleep 0.1
done
active=$(q -c "SELECT count(*) FROM drivetribe.stream_slots WHERE slot_name LIKE 'fan_%' AND active")
[ "$active" = 3 ] || { cat "$work/consume.log"; fail "drivetribe.stream_slots shows $active of the 3 consumers' slots active"; }

stream_mix "$work/mix.sql"
pgbench -n -c 4 -j 2 -T 4 -f "$work/mix.sql" "$db" >"$work/pgbench.out" 2>&1 ||
  { tail -5 "$work/pgbench.out"; fail "the write mix failed"; }
end=$(q -c "SELECT drivetribe.heartbeat()")
for _ in $(seq 1 300); do
  [ "$(q -c "SELECT bool_and(confirmed_flush_lsn >= '$end') FROM drivetribe.stream_slots WHERE slot_name LIKE 'fan_%'")" = t ] && break
  sleep 0.1
done
[ "$(q -c "SELECT bool_and(confirmed_flush_lsn >= '$end') FROM drivetribe.stream_slots WHERE slot_name LIKE 'fan_%'")" = t ] ||
  { tail -20 "$work/consume.log"; fail "the consumers did not all catch up"; }

# each sink: exactly its kinds' committed events, each once
check() {  # check NAME FILE KINDS-SQL-LIST
  local name=$1 file=$2 kinds=$3 want got
  q -c "CREATE TABLE public.got_$name (o jsonb)" >/dev/null
  [ -s "$file" ] && q -c "\\copy public.got_$name (o) FROM '$file'" >/dev/null
  want=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base AND kind IN ($kinds)")
  got=$(q -c "SELECT count(DISTINCT o ->> 'event_id') FROM public.got_$name")
  [ "$want" -gt 10 ] || fail "$name: only $want events of its kinds were written"
  [ "$(q -c "SELECT count(*) FROM public.got_$name")" = "$got" ] || fail "$name: an event came twice"
  [ "$(q -c "SELECT count(*) FROM public.got_$name g WHERE NOT EXISTS (
          SELECT FROM drivetribe.events e WHERE e.seq = (g.o ->> 'seq')::bigint AND e.kind IN ($kinds)
             AND e.event_id = (g.o ->> 'event_id')::uuid)")" = 0 ] || fail "$name: it got events not of its kinds"
  [ "$got" = "$want" ] || fail "$name: $got of its $want events"
  echo "$want"
}
n_push=$(check push "$work/push.jsonl" "'article_bumped','comment_posted'")
n_follow=$(check follow "$work/follow.jsonl" "'user_followed'")
want_all=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
got_all=$(psql -X -q -At -d "$receiver" -c "SELECT count(*) FROM drivetribe_sink.events WHERE seq > $base")
[ "$got_all" = "$want_all" ] || fail "all: the receiver holds $got_all of the $want_all events"

# a slow sink holds back only its own slot: stop the follow consumer
kill -STOP "${pids[1]}"
q -c "SELECT drivetribe.follow_user(1, 29)" -c "SELECT drivetribe.bump(2, 29)" >/dev/null 2>&1 || true
mark=$(q -c "SELECT drivetribe.heartbeat()")
for _ in $(seq 1 100); do
  [ "$(q -c "SELECT bool_and(confirmed_flush_lsn >= '$mark') FROM drivetribe.stream_slots WHERE slot_name IN ('fan_push', 'fan_all')")" = t ] && break
  sleep 0.1
done
[ "$(q -c "SELECT bool_and(confirmed_flush_lsn >= '$mark') FROM drivetribe.stream_slots WHERE slot_name IN ('fan_push', 'fan_all')")" = t ] ||
  fail "a stopped consumer held back the other slots"
[ "$(q -c "SELECT confirmed_flush_lsn < '$mark' FROM drivetribe.stream_slots WHERE slot_name = 'fan_follow'")" = t ] ||
  fail "the stopped consumer's slot moved"
kill -CONT "${pids[1]}"
echo "consume_fanout: ok: 3 consumers, 3 slots active in drivetribe.stream_slots; --pipe got its $n_push bumps and comments, -c its $n_follow follows, --postgres all $want_all events, each once; a stopped consumer held back only its own slot"
