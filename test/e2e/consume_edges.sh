#!/usr/bin/env bash
# drivetribe-consume's edges (issue 18, items 6 and 9), in a cluster of its
# own with max_slot_wal_keep_size = 1MB:
#  1. --kinds with an empty or blank element (',', 'a,,b', 'article_bumped,')
#     is a usage error (exit 1) and confirms nothing; 1.6 took ',' as "no
#     kind" and confirmed past every event.  A kind the plugin refuses is a
#     usage error too (1.6 reconnected for ever).
#  2. --max-tries: a command that always fails is tried that many times, then
#     the consumer exits 7 and names the batch's seqs; nothing is confirmed.
#  3. --dead-letter: a batch that fails --max-tries times goes to the file
#     (its JSON lines) and the consumer goes on; the others are delivered.
#  4. A slot the server invalidated (wal_status lost) while no consumer ran:
#     exit 8, saying what the consumer had confirmed (its LSN and last seq);
#     1.6 reconnected for ever.
#  5. The same while a consumer is connected (the checkpointer ends its
#     walsender): it exits 8 as well.
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
consume=$DT_PGBIN/drivetribe-consume
work=$(mktemp -d)
chmod 755 "$work"
fail() { echo "consume_edges: FAILED: $*"; exit 1; }
step() { echo "consume_edges: $*"; }
[ -x "$consume" ] || fail "$consume is not installed"

. "$root/scripts/cluster.sh"
DT_PG_CONF=$'synchronous_commit = on\nmax_slot_wal_keep_size = 1MB' \
  dt_cluster_temp "${DT_CONSUME_EDGES_PORT:-$((PGPORT + 6))}" postgres test ||
  fail "could not start a cluster of its own"
db=postgres
bg=
cleanup() {
  [ -z "$bg" ] || kill -9 "$bg" 2>/dev/null || true
  dt__cleanup_temp
  if [ -n "${DT_CONSUME_EDGES_KEEP:-}" ]; then echo "consume_edges: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
slot_lsn() { q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$1'"; }
state_lsn() { sed -n 's/^confirmed_lsn //p' "$1"; }

q >/dev/null <<'SQL'
CREATE EXTENSION drivetribe;
SELECT drivetribe.register_user(u, 'user ' || u) FROM generate_series(1, 5) u;
SELECT drivetribe.create_tribe(1, 1, 'tribe');
SELECT drivetribe.post_article(1, 1, 1, 'article');
CREATE TABLE public.filler (x text);
SQL
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('edges', 'drivetribe')" >/dev/null
# one transaction: one batch
q -c "BEGIN; SELECT drivetribe.bump(1, 2); SELECT drivetribe.post_comment(1, 1, 3, 'first'); COMMIT" >/dev/null
end=$(q -c "SELECT drivetribe.heartbeat()")
before=$(slot_lsn edges)

# ------------------------------------------------------------------ 1
for kinds in ',' ',,' 'article_bumped,' ',article_bumped' 'article_bumped,,comment_posted' '' ' ' 'article_bumped, comment_posted'; do
  rc=0
  timeout 20 "$consume" -d "dbname=$db" -S edges -s "$work/state1" --endpos "$end" --kinds "$kinds" \
    -c 'cat >/dev/null' 2>"$work/kinds.log" || rc=$?
  [ "$rc" = 1 ] || { cat "$work/kinds.log"; fail "--kinds '$kinds': exit $rc, not 1 (usage)"; }
  grep -q 'invalid value .* for --kinds' "$work/kinds.log" || fail "--kinds '$kinds': $(cat "$work/kinds.log")"
done
rc=0
timeout 20 "$consume" -d "dbname=$db" -S edges -s "$work/state1" --endpos "$end" --kinds article_bumped,nonsense \
  -c 'cat >/dev/null' 2>"$work/kinds.log" || rc=$?
[ "$rc" = 1 ] || { cat "$work/kinds.log"; fail "--kinds with an unknown kind: exit $rc, not 1"; }
grep -q '"nonsense" is not an event kind' "$work/kinds.log" || fail "unknown kind: $(cat "$work/kinds.log")"
[ "$(slot_lsn edges)" = "$before" ] || fail "a refused --kinds moved the slot"
step "--kinds with an empty element or an unknown kind: exit 1, nothing confirmed"

# ------------------------------------------------------------------ 2
seqs=$(q -c "SELECT string_agg(seq::text, ' ' ORDER BY seq) FROM drivetribe.events WHERE kind IN ('article_bumped', 'comment_posted')")
rc=0
timeout 30 "$consume" -d "dbname=$db" -S edges -s "$work/state" --endpos "$end" --max-tries 3 --retry-max 1 \
  -c 'cat >/dev/null; exit 3' 2>"$work/tries.log" || rc=$?
[ "$rc" = 7 ] || { cat "$work/tries.log"; fail "a command that always fails: exit $rc, not 7"; }
[ "$(grep -c 'downstream command exited with status 3' "$work/tries.log")" = 3 ] ||
  { cat "$work/tries.log"; fail "not 3 tries"; }
grep 'giving up' "$work/tries.log" >"$work/gave_up" || fail "no 'giving up' message: $(cat "$work/tries.log")"
for s in $seqs; do
  grep -qE "seq( [0-9]+,)* $s[,)]" "$work/gave_up" || fail "the message does not name seq $s: $(cat "$work/gave_up")"
done
[ "$(slot_lsn edges)" = "$before" ] || fail "a batch that was never delivered was confirmed"
[ "$(state_lsn "$work/state")" = "$before" ] || fail "the state file moved past an undelivered batch"
step "--max-tries 3: exit 7 after 3 tries, naming seqs $seqs; nothing confirmed"

# ------------------------------------------------------------------ 3
q -c "SELECT drivetribe.post_comment(2, 1, 3, 'fine')" >/dev/null
q -c "SELECT drivetribe.post_comment(3, 1, 4, 'poison')" >/dev/null
q -c "SELECT drivetribe.post_comment(4, 1, 5, 'fine too')" >/dev/null
poison=$(q -c "SELECT seq FROM drivetribe.events WHERE body = 'poison'")
last=$(q -c "SELECT max(seq) FROM drivetribe.events")
end=$(q -c "SELECT drivetribe.heartbeat()")
cat >"$work/sink.sh" <<'SH'
#!/bin/bash
in=$(cat)
case $in in *'"poison"'*) exit 1 ;; esac
printf '%s\n' "$in" >>"$1"
SH
chmod 755 "$work/sink.sh"
rc=0
timeout 30 "$consume" -d "dbname=$db" -S edges -s "$work/state" --endpos "$end" --batch-events 1 \
  --max-tries 2 --retry-max 1 --dead-letter "$work/dead" -c "$work/sink.sh $work/sink.out" 2>"$work/dead.log" || rc=$?
[ "$rc" = 0 ] || { cat "$work/dead.log"; fail "with --dead-letter: exit $rc, not 0"; }
[ "$(wc -l <"$work/dead")" = 1 ] || fail "the dead-letter file: $(cat "$work/dead")"
perl -MJSON::PP -ne '$o = JSON::PP->new->utf8->decode($_); exit($o->{body} eq "poison" && $o->{seq} == '"$poison"' ? 0 : 1)' \
  "$work/dead" || fail "the dead-letter file does not hold the poison event: $(cat "$work/dead")"
grep -q "appended it to dead-letter file" "$work/dead.log" || fail "no dead-letter message: $(cat "$work/dead.log")"
for body in first fine 'fine too'; do
  grep -q "\"body\":\"$body\"" "$work/sink.out" || fail "'$body' was not delivered"
done
grep -q '"poison"' "$work/sink.out" && fail "the poison event was delivered"
[ "$(sed -n 's/^last_seq //p' "$work/state")" = "$last" ] || fail "the state file's last_seq: $(cat "$work/state")"
step "--dead-letter: the failing batch (seq $poison) set aside, the others delivered, the slot confirmed past them"

# ------------------------------------------------------------------ 4
# generate_wal: fill and switch a few segments, then a checkpoint: a slot
# whose restart point is more than 1MB behind is invalidated
generate_wal() {
  for _ in 1 2 3; do
    q -c "INSERT INTO public.filler SELECT repeat('x', 100) FROM generate_series(1, 1000)" -c "SELECT pg_switch_wal()" >/dev/null
  done
  q -c "CHECKPOINT" >/dev/null
}
q -c "SELECT drivetribe.bump(1, 3)" -c "SELECT drivetribe.bump(1, 4)" >/dev/null   # to be lost
confirmed=$(state_lsn "$work/state")
generate_wal
for _ in $(seq 1 50); do
  [ "$(q -c "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'edges'")" = lost ] && break
  sleep 0.2; q -c "CHECKPOINT" >/dev/null
done
[ "$(q -c "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'edges'")" = lost ] ||
  fail "the slot was not invalidated: $(q -c "SELECT * FROM pg_replication_slots")"
rc=0
timeout 20 "$consume" -d "dbname=$db" -S edges -s "$work/state" -c "$work/sink.sh $work/sink.out" 2>"$work/lost.log" || rc=$?
[ "$rc" = 8 ] || { tail -5 "$work/lost.log"; fail "a lost slot: exit $rc, not 8"; }
grep -q "wal_status lost" "$work/lost.log" || fail "the message does not say the slot is lost: $(cat "$work/lost.log")"
grep -q "confirmed up to $confirmed" "$work/lost.log" || fail "the message does not say $confirmed: $(cat "$work/lost.log")"
grep -q "the last event it delivered was seq $last" "$work/lost.log" || fail "the message does not name seq $last: $(cat "$work/lost.log")"
grep -q "the log now ends at seq $((last + 2))" "$work/lost.log" || fail "the message does not say where the log ends: $(cat "$work/lost.log")"
step "a slot lost while no consumer ran: exit 8, naming $confirmed and seq $last"

# ------------------------------------------------------------------ 5
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('edges2', 'drivetribe')" >/dev/null
q -c "SELECT drivetribe.bump(1, 5)" -c "SELECT drivetribe.unbump(1, 5)" -c "SELECT drivetribe.bump(1, 5)" >/dev/null
# a slow command: the consumer is connected and behind while WAL passes
rc_file=$work/rc5
( rc=0; timeout 40 "$consume" -d "dbname=$db" -S edges2 -s "$work/state2" --batch-events 1 \
    -c 'cat >/dev/null; sleep 3' 2>"$work/lost2.log" || rc=$?; echo "$rc" >"$rc_file" ) &
bg=$!
for _ in $(seq 1 100); do
  [ "$(q -c "SELECT active FROM pg_replication_slots WHERE slot_name = 'edges2'")" = t ] && break
  sleep 0.1
done
[ "$(q -c "SELECT active FROM pg_replication_slots WHERE slot_name = 'edges2'")" = t ] || fail "the consumer did not connect"
generate_wal
wait "$bg" || true
bg=
rc=$(cat "$rc_file")
[ "$(q -c "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'edges2'")" = lost ] ||
  fail "the second slot was not invalidated"
[ "$rc" = 8 ] || { tail -5 "$work/lost2.log"; fail "a slot lost under a connected consumer: exit $rc, not 8"; }
grep -q "wal_status lost" "$work/lost2.log" || fail "no lost-slot message: $(cat "$work/lost2.log")"
step "a slot lost while the consumer was connected: it exits 8 too"
