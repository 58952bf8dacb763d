#!/usr/bin/env bash
# drivetribe-consume end to end (issue 11): nothing lost, nothing aborted,
# commit order, duplicates only from the unconfirmed batch, and a distinct
# stop for every way the slot can betray it.  In a cluster of its own
# (synchronous_commit on, so a commit acknowledged is a commit kept).
#
#  1. While 6 pgbench clients run a mix (300 transactions/s) that commits, rolls back, and rolls
#     back savepoints (and another table is written), the consumer reads a
#     slot into a sink that keeps each batch as a file (written whole, then
#     renamed) and fails an eighth of its first attempts.  A killer SIGKILLs
#     the consumer every 0.3-1.5 s and it is started again at once; the
#     server is crashed (pg_ctl stop -m immediate) once in the middle and
#     started again.  Then: every committed event of the log was delivered,
#     every delivered object is a committed event (same seq, event_id,
#     kind), each run of the consumer delivered in commit order (LSNs
#     grow, seq grows inside a transaction), and what a run delivered again
#     is a prefix of it (the one batch it had not confirmed).  The runs
#     take turns keeping batches in memory (the default), spilling most of
#     them to a file and back (--batch-memory 2048), and on disk from the
#     start (--batch-memory 0).
#  2. A failing downstream: the slot does not move while the command fails;
#     it is retried with backoff and the batch is confirmed once it succeeds.
#  3. The stops: slot missing (3), slot dropped and created again (4), a
#     state file from another server or ahead of the server's WAL (5), a
#     slot of another plugin (6), and on 15.19+ a server that does not list
#     the plugin in output_plugin_libraries (6).
#
# DT_CONSUME_MODE=pipe (test/e2e/consume_pipe.sh) runs part 1 with the pipe
# downstream instead (--pipe: one long-running process, the line protocol),
# which also dies now and then before acknowledging, refuses batches
# (nack), and leaves a process behind in its group and an orphan of it:
# none may outlive the consumer.  Then the pipe's own parts: a downstream
# that never acknowledges (--ack-timeout), one that answers about another
# batch, and a stop by SIGTERM.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
mode=${DT_CONSUME_MODE:-command}
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# the server under test's binaries (the cluster of our own must match)
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
consume=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}
seconds=${DT_CONSUME_SECONDS:-12}
slot=dt_consume
work=$(mktemp -d)
chmod 755 "$work"
fail() { echo "consume ($mode): FAILED: $*"; exit 1; }
step() { echo "consume ($mode): $*"; }
[ -x "$consume" ] || fail "$consume is not installed"

. "$root/scripts/cluster.sh"
offset=2; [ "$mode" = pipe ] && offset=3
DT_PG_CONF="synchronous_commit = on" dt_cluster_temp "${DT_CONSUME_PORT:-$((PGPORT + offset))}" postgres test ||
  fail "could not start a cluster of its own"
dir=$DT_CLUSTER_DIR
db=postgres
cleanup() {
  [ -f "$work/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$work/pids"
  pkill -9 -f "drivetribe-consume.*$work" 2>/dev/null || true
  dt__cleanup_temp
  if [ -n "${DT_CONSUME_KEEP:-}" ]; then echo "consume: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot"
base=$(q -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")

# the sink: one file per delivered batch, named by time and run, written
# whole then renamed (a killed sink leaves no file); fails a fifth of the
# first attempts (exit 1), which the consumer must retry
mkdir "$work/batches"
cat >"$work/sink.sh" <<'SH'
#!/bin/bash
run=$1 dir=$2
# (and always the first batch's first try: batches grow with the sink's
# latency, so a run may have few of them)
if [ "${DRIVETRIBE_ATTEMPT:-1}" = 1 ] && { [ ! -e "$dir/.failed_once" ] || [ $((RANDOM % 8)) = 0 ]; }; then
  touch "$dir/.failed_once"; exit 1
fi
name=$dir/$(date +%s%N).$run
cat >"$name.tmp" && mv "$name.tmp" "$name.batch"
SH
chmod 755 "$work/sink.sh"
# the same for the pipe: a batch file per acknowledged batch; an eighth of
# the batches it dies before acknowledging, another eighth it refuses;
# at its start it leaves a sleeper in its group and an orphaned one
marker=3600.$$
cat >"$work/sink.pl" <<PL
use strict; use warnings; use Time::HiRes qw(gettimeofday);
\$| = 1;
my (\$run, \$dir) = @ARGV;
exec("sleep", "$marker") if fork() == 0;
system("sh -c 'sleep $marker &'");
my @lines;
while (my \$line = <STDIN>) {
  if (\$line =~ /^\\{"batch":(\\d+),/) {
    my \$n = \$1;
    my \$fate = -e "\$dir/.died_once" ? int(rand(8)) : 0;
    if (\$fate == 0) { open(my \$m, '>', "\$dir/.died_once"); close(\$m); }
    exit 3 if \$fate == 0;
    if (\$fate == 1) { print "nack \$n not now\\n"; @lines = (); next; }
    my (\$s, \$us) = gettimeofday();
    my \$name = sprintf("%s/%d%06d000.%s", \$dir, \$s, \$us, \$run);
    open(my \$f, '>', "\$name.tmp") or exit 4;
    print \$f @lines;
    close(\$f) or exit 4;
    rename("\$name.tmp", "\$name.batch") or exit 4;
    @lines = ();
    print "ack \$n\\n";
  } else {
    push @lines, \$line;
  }
}
PL

# ------------------------------------------------------------------ 1
# the supervisor: start the consumer again whenever it ends, until told
: >"$work/runs"
(
  run=0
  while [ ! -f "$work/stop" ]; do
    run=$((run + 1))
    if [ "$mode" = pipe ]; then downstream=(--pipe "perl $work/sink.pl $run $work/batches")
    else downstream=(-c "$work/sink.sh $run $work/batches"); fi
    case $((run % 3)) in
      0) memory=() ;;
      1) memory=(--batch-memory 2048) ;;
      2) memory=(--batch-memory 0) ;;
    esac
    "$consume" -d "dbname=$db" -S "$slot" -s "$work/state" --batch-events 200 \
      --status-interval 1 --heartbeat-interval 1 --retry-max 1 \
      "${memory[@]}" "${downstream[@]}" 2>>"$work/consume.log" &
    echo $! >"$work/consumer.pid"
    rc=0; wait $! 2>/dev/null || rc=$?
    echo "$run $rc" >>"$work/runs"
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || [ "$rc" = 137 ] || { echo "$rc" >"$work/bad_exit"; break; }
    [ "$rc" = 2 ] && sleep 0.3
  done
) &
echo $! >>"$work/pids"
# the killer
(
  while [ ! -f "$work/stop_killing" ]; do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + (r % 120) / 100 }')"
    kill -9 "$(cat "$work/consumer.pid" 2>/dev/null)" 2>/dev/null || true
  done
) &
killer=$!
echo $killer >>"$work/pids"

stream_mix "$work/mix.sql"
pgbench -n -c 6 -j 2 -R 300 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench1.out" 2>&1 &
load=$!
( for _ in $(seq 1 $((seconds * 2))); do
    q -c "INSERT INTO public.busy (payload) SELECT repeat('x', 100) FROM generate_series(1, 2000)" >/dev/null 2>&1 || true
    sleep 0.5
  done ) &
echo $! >>"$work/pids"
sleep $((seconds / 2))
dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
wait "$load" || true
dt_cluster_start "$dir" || fail "the server did not start again after the crash"
for _ in $(seq 1 300); do pg_isready -q -d "$db" && break; sleep 0.1; done
grep -q 'database system was interrupted\|redo starts\|not properly shut down' "$dir/server.log" ||
  fail "the server did not run crash recovery"
# after the crash, more load with the killer still at work
pgbench -n -c 6 -j 2 -R 300 -T "$((seconds / 2))" -f "$work/mix.sql" "$db" >"$work/pgbench2.out" 2>&1 ||
  { tail -5 "$work/pgbench2.out"; fail "the write mix after the crash failed"; }
touch "$work/stop_killing"
wait "$killer" 2>/dev/null || true
# drain: a heartbeat after the last event; wait until the slot confirmed it
end=$(q -c "SELECT drivetribe.heartbeat()")
for _ in $(seq 1 600); do
  [ "$(q -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] && break
  [ -f "$work/bad_exit" ] && break
  sleep 0.1
done
touch "$work/stop"
kill -TERM "$(cat "$work/consumer.pid")" 2>/dev/null || true
for _ in $(seq 1 100); do pgrep -f "drivetribe-consume.*$work" >/dev/null || break; sleep 0.1; done
[ ! -f "$work/bad_exit" ] || { tail -20 "$work/consume.log"; fail "the consumer exited with status $(cat "$work/bad_exit")"; }
[ "$(q -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] ||
  { tail -20 "$work/consume.log"; fail "the consumer did not catch up with the log"; }
runs=$(wc -l <"$work/runs")
killed=$(grep -c ' 137$' "$work/runs" || true)
[ "$killed" -ge 5 ] || fail "the consumer was SIGKILLed only $killed times"
if [ "$mode" = pipe ]; then
  retries=$(grep -c 'refused batch\|ended its output before acknowledging' "$work/consume.log" || true)
  died=$(grep -c 'ended its output before acknowledging' "$work/consume.log" || true)
  [ "$died" -ge 1 ] || fail "the pipe's process never died before acknowledging"
  restarts=$(grep -c 'started the downstream process again' "$work/consume.log" || true)
  sleep 1   # a guardian killed with its consumer a moment ago
  orphans=$( { pgrep -f "sleep $marker" || true; } | wc -l)
  [ "$orphans" = 0 ] || fail "$orphans processes of the pipe's downstream outlived their consumers (pgrep -f 'sleep $marker')"
else
  retries=$(grep -c 'downstream command exited with status 1' "$work/consume.log" || true)
fi
[ "$retries" -ge 1 ] || fail "the sink never failed, so no retry was tested"

# load the deliveries: (run, n = order of delivery inside the run, object)
: >"$work/all.tsv"
for f in $(cd "$work/batches" && ls -- *.batch | sort); do
  r=${f%.batch}; r=${r##*.}
  awk -v r="$r" '{ gsub(/\\/, "\\\\"); gsub(/\t/, "\\t"); print r "\t" $0 }' "$work/batches/$f" >>"$work/all.tsv"
done
q -c "CREATE TABLE public.got (n bigserial, run int, o jsonb)" \
  -c "\\copy public.got (run, o) FROM '$work/all.tsv'" >/dev/null ||
  fail "the sink's batches are not one JSON object per line"
read -r delivered distinct missing extra <<<"$(stream_delivered_vs_log public.got "$base")"
committed=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base")
[ "$committed" -gt 200 ] || fail "only $committed events committed by the mix"
[ "$missing" = 0 ] || fail "$missing committed events were never delivered"
[ "$extra" = 0 ] || fail "$extra delivered objects are no committed event"
[ "$distinct" = "$committed" ] || fail "$distinct distinct events delivered, $committed committed"
# commit order inside each run; seq order inside a transaction
read -r lsn_back seq_back <<<"$(q -F ' ' -c "
  WITH g AS (SELECT (o ->> 'lsn')::pg_lsn AS lsn, (o ->> 'seq')::bigint AS seq,
                    lag((o ->> 'lsn')::pg_lsn) OVER w AS prev_lsn, lag((o ->> 'seq')::bigint) OVER w AS prev_seq
               FROM public.got WINDOW w AS (PARTITION BY run ORDER BY n))
  SELECT count(*) FILTER (WHERE lsn < prev_lsn), count(*) FILTER (WHERE lsn = prev_lsn AND seq <= prev_seq) FROM g")"
[ "$lsn_back" = 0 ] || fail "$lsn_back deliveries out of commit order within a run"
[ "$seq_back" = 0 ] || fail "$seq_back deliveries out of seq order within a transaction"
# what a run delivered again comes first in it: the batch it had not confirmed
not_prefix=$(q -c "
  WITH g AS (SELECT n, run, o ->> 'event_id' AS id,
                    EXISTS (SELECT FROM public.got p WHERE p.run < g0.run AND p.o ->> 'event_id' = g0.o ->> 'event_id') AS again
               FROM public.got g0),
       f AS (SELECT run, min(n) FILTER (WHERE NOT again) AS first_new FROM g GROUP BY run)
  SELECT count(*) FROM g JOIN f USING (run) WHERE g.again AND g.n > f.first_new")
[ "$not_prefix" = 0 ] || fail "$not_prefix events delivered again after new ones in the same run"
max_again=$(q -c "SELECT coalesce(max(c), 0) FROM (SELECT run, count(*) AS c FROM public.got g0
                  WHERE EXISTS (SELECT FROM public.got p WHERE p.run < g0.run AND p.o ->> 'event_id' = g0.o ->> 'event_id')
                  GROUP BY run) s")
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() is not empty"
step "part 1: $committed committed events, each delivered ($delivered deliveries, at most $max_again again in one run, always first), none aborted, commit order in every run; $runs runs, $killed SIGKILLs, a server crash, $retries failed sink attempts retried"

if [ "$mode" = pipe ]; then
  step "part 1 (pipe): the downstream died before acknowledging $died times (started again by the same consumer $restarts times), refused or lost $retries batches in all; no process of it outlived its consumer"
  # -------------------------------------------------------------- pipe 2
  pipe_consumer() {  # pipe_consumer STATEFILE COMMAND [OPTION]...: in the background, sets $cpid
    local state=$1 cmd=$2; shift 2
    "$consume" -d "dbname=$db" -S "$slot" -s "$state" --status-interval 1 --retry-max 1 \
      --pipe "$cmd" "$@" 2>>"$work/pipe2.log" &
    cpid=$!
  }
  slot_at() { q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'"; }
  # a downstream that reads and never answers.  The slot may move up to
  # the position the state file already had (the consumer confirms it when
  # it starts) and over transactions without events, but never past the
  # unanswered event: before = the WAL position just before it.
  pipe_consumer "$work/state" "cat >/dev/null" --ack-timeout 1
  before=$(q -c "SELECT pg_current_wal_lsn()")
  q -c "SELECT drivetribe.register_user(9903, 'Unanswered')" >/dev/null
  # a timeout (1 s), a backoff (1 s), a new process: allow a loaded machine 20 s
  for _ in $(seq 1 200); do grep -q 'started the downstream process again' "$work/pipe2.log" && break; sleep 0.1; done
  grep -q 'did not acknowledge batch 1 within --ack-timeout 1 s' "$work/pipe2.log" ||
    { cat "$work/pipe2.log"; fail "pipe 2: no acknowledgement and no timeout"; }
  grep -q 'started the downstream process again' "$work/pipe2.log" ||
    fail "pipe 2: the process was not started again after the timeout"
  [ "$(q -c "SELECT confirmed_flush_lsn <= '$before'::pg_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] ||
    fail "pipe 2: the slot moved past the unanswered event (from before $before to $(slot_at)) with nothing acknowledged"
  kill -TERM "$cpid"; rc=0; wait "$cpid" || rc=$?
  [ "$rc" = 0 ] || fail "pipe 2: SIGTERM ended the consumer with status $rc, not 0"
  pgrep -f "cat >/dev/null" -P "$cpid" >/dev/null 2>&1 && fail "pipe 2: the downstream outlived the stopped consumer"
  # a downstream deaf to EOF (it never reads): a SIGKILLed consumer's guardian
  # still ends it (the parent-death signal), orphans included
  pipe_consumer "$work/state" "sh -c 'sleep 1$marker &'; sleep 1$marker" --ack-timeout 30
  q -c "SELECT drivetribe.register_user(9904, 'Deaf')" >/dev/null   # the process starts with a batch
  for _ in $(seq 1 100); do [ "$( { pgrep -f "sleep 1$marker" || true; } | wc -l)" -ge 2 ] && break; sleep 0.1; done
  sleep 0.2
  [ "$( { pgrep -f "sleep 1$marker" || true; } | wc -l)" -ge 2 ] || fail "pipe 2: the deaf downstream did not start"
  kill -9 "$cpid"; wait "$cpid" 2>/dev/null || true
  for _ in $(seq 1 50); do [ "$( { pgrep -f "sleep 1$marker" || true; } | wc -l)" = 0 ] && break; sleep 0.1; done
  left=$( { pgrep -f "sleep 1$marker" || true; } | wc -l)
  [ "$left" = 0 ] || fail "pipe 2: $left processes of a downstream that ignores EOF outlived the SIGKILLed consumer"
  # a downstream that answers about another batch: a failed try, a new process
  : >"$work/pipe2.log"
  pipe_consumer "$work/state" "perl -ne 'BEGIN { \$| = 1 } print \"ack 999\\n\" if /^\\{\"batch\":/'"
  for _ in $(seq 1 200); do grep -q 'answered "ack 999"' "$work/pipe2.log" && break; sleep 0.1; done
  grep -q 'answered "ack 999" to batch 1' "$work/pipe2.log" ||
    { cat "$work/pipe2.log"; fail "pipe 2: an acknowledgement of another batch was not refused"; }
  [ "$(q -c "SELECT confirmed_flush_lsn <= '$before'::pg_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] ||
    fail "pipe 2: the slot moved past the unanswered event (to $(slot_at)) on a wrong acknowledgement"
  kill -TERM "$cpid"; wait "$cpid" || true
  # the right answer: delivered, confirmed, and a clean stop
  : >"$work/pipe2.log"
  pipe_consumer "$work/state" "perl -ne 'BEGIN { \$| = 1 } if (/^\\{\"batch\":(\\d+)/) { print \"ack \$1\\n\" } else { print STDERR \$_ }' 2>>$work/pipe2.jsonl"
  for _ in $(seq 1 200); do grep -q '"user_id":9903' "$work/pipe2.jsonl" 2>/dev/null && break; sleep 0.1; done
  grep -q '"user_id":9903' "$work/pipe2.jsonl" || fail "pipe 2: the event was not delivered once the downstream answered"
  lsn=$(q -c "SELECT pg_current_wal_lsn()")
  for _ in $(seq 1 50); do
    [ "$(q -c "SELECT confirmed_flush_lsn > '$before' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] && break
    sleep 0.1
  done
  [ "$(q -c "SELECT confirmed_flush_lsn > '$before' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] ||
    fail "pipe 2: the slot did not move after the acknowledgement"
  kill -TERM "$cpid"; rc=0; wait "$cpid" || rc=$?
  [ "$rc" = 0 ] || fail "pipe 2: SIGTERM ended the consumer with status $rc, not 0"
  step "pipe 2: a downstream deaf to EOF ends with its SIGKILLed consumer; no answer within --ack-timeout, and an answer about another batch, are failed tries (process started again, slot held); the right answer confirms; exit 0 on SIGTERM"
  step "all passed"
  exit 0
fi

# ------------------------------------------------------------------ 2
# a downstream that fails while a flag exists: the slot does not move
# past the batch until the command succeeds
run_consumer() {  # run_consumer STATEFILE COMMAND [OPTION]...: runs in the background, sets $cpid
  local state=$1 cmd=$2; shift 2
  "$consume" -d "dbname=$db" -S "$slot" -s "$state" --status-interval 1 --retry-max 1 -c "$cmd" "$@" \
    2>>"$work/consume2.log" &
  cpid=$!
}
touch "$work/failing"
run_consumer "$work/state" "[ ! -f $work/failing ] && cat >> $work/part2.jsonl"
sleep 1
q -c "SELECT drivetribe.register_user(9901, 'Retried')" >/dev/null
lsn=$(q -c "SELECT pg_current_wal_lsn()")
sleep 3
held=$(q -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")
[ ! -s "$work/part2.jsonl" ] || fail "part 2: the failing command delivered something"
attempts=$(grep -c 'downstream command exited with status 1' "$work/consume2.log" || true)
[ "$attempts" -ge 2 ] || fail "part 2: the failing command was tried $attempts times in 3 s"
rm "$work/failing"
for _ in $(seq 1 50); do
  [ "$(q -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] && break
  sleep 0.1
done
[ "$(q -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] ||
  fail "part 2: the slot did not move after the command succeeded"
grep -q '"user_id":9901' "$work/part2.jsonl" || fail "part 2: the event was not delivered after the retries"
# while the command failed, the slot stayed at or before the commit
commit=$(sed -n 's/.*"user_id":9901.*"lsn":"\([0-9A-F/]*\)".*/\1/p' "$work/part2.jsonl" | head -1)
[ "$(q -c "SELECT '$held'::pg_lsn <= '$commit'::pg_lsn")" = t ] ||
  fail "part 2: the slot moved to $held, past the commit at $commit, while the downstream command failed"
kill -TERM "$cpid"; rc=0; wait "$cpid" || rc=$?
[ "$rc" = 0 ] || fail "part 2: SIGTERM ended the consumer with status $rc, not 0"
step "part 2: a failing command tried $attempts times in 3 s, the slot held, delivered and confirmed once it succeeded, exit 0 on SIGTERM"

# ------------------------------------------------------------------ 3
expect_exit() {  # expect_exit CODE WHAT STATEFILE [OPTION]...
  local code=$1 what=$2 state=$3 rc=0; shift 3
  timeout 30 "$consume" -d "dbname=$db" -S "${SLOT:-$slot}" -s "$state" -c "cat >/dev/null" "$@" \
    2>"$work/stop.log" || rc=$?
  [ "$rc" = "$code" ] || { cat "$work/stop.log"; fail "part 3: $what: exit status $rc, expected $code"; }
  echo "    $what -> $code: $(sed 's/^drivetribe-consume [0-9: -]*: //' "$work/stop.log" | head -1 | cut -c1-150)"
}
step "part 3: the stops"
cp "$work/state" "$work/state.saved"
sed 's/^system_identifier .*/system_identifier 1234/' "$work/state.saved" >"$work/state.other"
expect_exit 5 "state file of another server" "$work/state.other"
sed 's/^confirmed_lsn .*/confirmed_lsn FFFF\/0/' "$work/state.saved" >"$work/state.future"
expect_exit 5 "state file ahead of the server's WAL" "$work/state.future"
q -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
expect_exit 3 "slot dropped" "$work/state"
expect_exit 3 "slot missing on a first start" "$work/state.none"
q -c "SELECT drivetribe.register_user(9902, 'Between')" >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null
expect_exit 4 "slot created again" "$work/state"
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('dt_consume_other', 'test_decoding')" >/dev/null
SLOT=dt_consume_other expect_exit 6 "slot of another plugin" "$work/state.other_plugin"
if dt_server_has_output_plugin_libraries; then
  q -c "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.5
  expect_exit 6 "plugin not in output_plugin_libraries" "$work/state.new"
  q -c "ALTER SYSTEM RESET output_plugin_libraries" -c "SELECT pg_reload_conf()" >/dev/null
fi
step "all passed"
