#!/usr/bin/env bash
# The blue/green rebuild, CALL drivetribe.rebuild(concurrently => true), over
# a log of >= 1M events under 16 writers, cancelled once in its load and
# once in its catch-up (issue 22, item 3):
#
#  1. test/bench/gen_log.sql writes a consistent log of >= 1,000,000 events
#     set-based; drivetribe.rebuild() makes the projections of it.
#  2. 16 pgbench clients, as a role with grant_writer() only, call a mix of
#     the write API for the whole test (views, 20 hot articles, bumps and
#     unbumps, comments with fresh ids, replies to live comments of the
#     generated log on their article, deletes of their own comments,
#     follows and unfollows) at DT_BG_RATE calls/s in all.  Every error of
#     a call is caught and kept (SQLSTATE, message): only 55000 (an article
#     of the log deleted) and 23503 (a comment of ours not posted yet) may
#     occur.  DT_BG_READERS clients (default 2), as a role with
#     grant_reader() only, read at DT_BG_READ_RATE reads/s in all: a card
#     of article_view, article(), a user_stats row, an article's comments,
#     has_bumped(), a feed page; none of them may fail.
#  3. CALL rebuild(concurrently => true), cancelled (pg_cancel_backend)
#     while it replays the log (pg_stat_activity says so): the CALL fails
#     with 57014, the session goes on and no longer runs one
#     (green_running()), rebuild_state says 'created', the live tables are
#     the same tables.
#  4. A burst of 30,000 calls in one transaction that commits once the
#     next load has taken its snapshot, so that the catch-up has batches
#     to do; CALL again: it starts the load over; once a batch of the
#     catch-up has committed (rebuild_state.after_seq > 0, or a round is
#     done) it is cancelled: 57014, rebuild_state 'catching_up' at some
#     round and seq, the live tables the same tables.
#  5. CALL again: it goes on from that round and seq (its NOTICE says
#     which) and switches.  The writers go on a few seconds, then stop.
#  6. Checks: the live tables are new tables; nothing is left of the
#     rebuild (no state row, no relation in drivetribe_green, no schema
#     drivetribe_blue, no session running one); pg_extension.extconfig
#     names the same tables as before, each an existing table, and every
#     projection table is a member of the extension; verify() is empty;
#     the reads equal a recomputation from the log in plain SQL: per
#     article views, live comments and current bumps against a GROUP BY
#     over drivetribe.events, every comment's live replies, the bumps,
#     follows and memberships, and user_stats / tribe_stats /
#     article_view against test/bench/recompute.sql; a plain rebuild()
#     afterwards corrects 0 rows (its LOG line) and leaves every read as
#     it was (a checksum of them); every writer call succeeded or failed
#     with 55000/23503 (no 42P01, no 40P01, nothing else), every read
#     succeeded, and every pgbench run ended normally; a pg_dump of the database restores into
#     a new one where verify() is empty and the reads are the same.
# Prints the writers' (and readers') longest single call (pgbench --log; the 1 s goal is
# a benchmark's, not asserted here), the catch-up rounds, and the time of
# each step.
#
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed
# and DT_ROOT, the repository.  Environment: DT_BG_EVENTS (gen_log's size
# knob, default 1002000: 1,001,991 events), DT_BG_CLIENTS (default 16),
# DT_BG_RATE (the writers' calls/s in all, default 1000; 0: as fast as they
# can, which on 2 cores leaves the rebuild too little to catch up),
# DT_BG_READERS (default 2; 0: none), DT_BG_READ_RATE (default 200),
# DT_BG_AFTER_SECONDS (writers after the switch, default 3), DT_BG_DUMP
# (1: the pg_dump check, default 1).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_bluegreen
restored=dt_e2e_bluegreen_restored
writer=dt_e2e_bg_writer
reader=dt_e2e_bg_reader
app=dt_bg_rebuild
events_knob=${DT_BG_EVENTS:-1002000}
clients=${DT_BG_CLIENTS:-16}
rate=${DT_BG_RATE:-1000}; [ "$rate" != 0 ] || rate=
readers=${DT_BG_READERS:-2}
read_rate=${DT_BG_READ_RATE:-200}; [ "$read_rate" != 0 ] || read_rate=
after_seconds=${DT_BG_AFTER_SECONDS:-3}
dump=${DT_BG_DUMP:-1}
T0=$SECONDS
work=$(mktemp -d)
chmod 755 "$work"
mkdir "$work/lat"
bg=()
cleanup() {
  local p
  touch "$work/stop" 2>/dev/null || true
  for p in "${bg[@]}"; do
    pkill -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
  dropdb --if-exists --force "$db" >/dev/null 2>&1 || true
  dropdb --if-exists --force "$restored" >/dev/null 2>&1 || true
  psql -X -q -d postgres -c "DROP ROLE IF EXISTS $writer" -c "DROP ROLE IF EXISTS $reader" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() { echo "bluegreen_rebuild: FAILED: $*"; exit 1; }
step() { printf 'bluegreen_rebuild: [%3d s] %s\n' $((SECONDS - T0)) "$*"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/gen_log.sh"
e2e_use_server_bindir

dropdb --if-exists "$db" >/dev/null 2>&1 || true
dropdb --if-exists "$restored" >/dev/null 2>&1 || true
createdb "$db"

# ---------------------------------------------------------------- 1. the log
q >/dev/null <<SQL
CREATE EXTENSION drivetribe CASCADE;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$writer') THEN CREATE ROLE $writer LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$reader') THEN CREATE ROLE $reader LOGIN; END IF;
END \$\$;
SELECT drivetribe.grant_writer('$writer');
SELECT drivetribe.grant_reader('$reader');
SQL
dt_gen_log "$events_knob"

# ---------------------------------------------------------------- 2. writers
q >/dev/null <<SQL
CREATE SEQUENCE public.new_ids START 1000000000;
CREATE UNLOGGED TABLE public.call_errors (op int NOT NULL, sqlstate text NOT NULL, message text NOT NULL,
                                          at timestamptz NOT NULL DEFAULT clock_timestamp());
-- One call of the write API on the generated world.  Every error is kept,
-- not raised: the checks say which may occur.
CREATE FUNCTION public.write_call(op int, a bigint, b bigint) RETURNS void
LANGUAGE plpgsql AS \$\$
DECLARE
  u bigint := a % $nusers + 1;
  v bigint := b % $nusers + 1;
  -- 30% of the calls on 20 hot articles (none of them deleted)
  art bigint := CASE WHEN b % 10 < 3 THEN a % 20 + 1 ELSE a % $narticles + 1 END;
  c bigint;
BEGIN
  CASE
    WHEN op < 6 THEN PERFORM drivetribe.view_article(art, CASE WHEN b % 4 = 0 THEN NULL ELSE u END);
    WHEN op < 8 THEN PERFORM drivetribe.bump(art, u);
    WHEN op = 8 THEN PERFORM drivetribe.unbump(art, u);
    WHEN op < 11 THEN PERFORM drivetribe.post_comment(nextval('public.new_ids'), art, u, 'e2e comment ' || b);
    WHEN op = 11 THEN
      -- a reply to a live comment of the generated log, on its article
      -- (gen_log.sql: row c is a comment when its hash is in 70..81, on
      -- article 13c % A + 1; every 10th is deleted, and every 100th article)
      c := a % $ncomments + 1;
      WHILE ((c * 2654435761) / 65536) % 100 NOT BETWEEN 70 AND 81 OR c % 10 = 0
            OR ((13 * c) % $narticles + 1) % 100 = 0 LOOP
        c := c % $ncomments + 1;
      END LOOP;
      PERFORM drivetribe.post_comment(nextval('public.new_ids'), (13 * c) % $narticles + 1, u, 'e2e reply ' || b, c);
    WHEN op = 12 THEN IF u <> v THEN PERFORM drivetribe.follow_user(u, v); END IF;
    WHEN op = 13 THEN IF u <> v THEN PERFORM drivetribe.unfollow_user(u, v); END IF;
    -- one of ours (maybe not posted yet: 23503)
    WHEN op = 14 THEN PERFORM drivetribe.delete_comment(1000000000 + b % 20000);
    ELSE PERFORM drivetribe.view_article(art);
  END CASE;
EXCEPTION WHEN OTHERS THEN
  INSERT INTO public.call_errors (op, sqlstate, message) VALUES (op, SQLSTATE, SQLERRM);
END
\$\$;
GRANT USAGE, UPDATE ON SEQUENCE public.new_ids TO $writer;
GRANT INSERT ON public.call_errors TO $writer, $reader;
GRANT EXECUTE ON FUNCTION public.write_call(int, bigint, bigint) TO $writer;
-- One read (op 100 and up in call_errors): none may fail.
CREATE FUNCTION public.read_call(op int, a bigint, b bigint) RETURNS void
LANGUAGE plpgsql AS \$\$
DECLARE
  u bigint := a % $nusers + 1;
  art bigint := CASE WHEN b % 10 < 3 THEN a % 20 + 1 ELSE a % $narticles + 1 END;
BEGIN
  CASE op
    WHEN 0 THEN PERFORM * FROM drivetribe.article_view WHERE article_id = art;
    WHEN 1 THEN PERFORM * FROM drivetribe.article(art);
    WHEN 2 THEN PERFORM * FROM drivetribe.user_stats WHERE user_id = u;
    WHEN 3 THEN PERFORM * FROM drivetribe.article_comments(art);
    WHEN 4 THEN PERFORM drivetribe.has_bumped(art, u);
    ELSE PERFORM * FROM drivetribe.feed(u);
  END CASE;
EXCEPTION WHEN OTHERS THEN
  INSERT INTO public.call_errors (op, sqlstate, message) VALUES (100 + op, SQLSTATE, SQLERRM);
END
\$\$;
GRANT EXECUTE ON FUNCTION public.read_call(int, bigint, bigint) TO $reader;

-- the projection tables, by name, with their relation ids
CREATE TABLE public.tables_before AS
SELECT t AS name, format('drivetribe.%I', t)::regclass::oid AS relid
  FROM unnest(drivetribe_internal.green_tables()) t;
CREATE TABLE public.extconfig_before AS
SELECT o, c::regclass::text AS name FROM pg_extension, unnest(extconfig) WITH ORDINALITY x(c, o)
 WHERE extname = 'drivetribe';

-- The session of a CALL (application_name $app): wait for what (load: it
-- replays the log; catch-up: a batch or a round of the catch-up has
-- committed), then cancel it.  Returns the state it saw and its activity.
CREATE FUNCTION public.cancel_when(what text, timeout_s int)
RETURNS TABLE (phase text, rounds int, after_seq bigint, activity text)
LANGUAGE plpgsql AS \$\$
DECLARE
  t0 timestamptz := clock_timestamp();
  p int;
  a text;
  st record;
BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT s.pid, s.query INTO p, a FROM pg_stat_activity s
     WHERE s.application_name = '$app' AND s.datname = current_database() AND s.state = 'active';
    SELECT * INTO st FROM drivetribe.rebuild_state;
    IF p IS NOT NULL AND (what = 'load' AND st.phase = 'created' AND a LIKE '%replaying the log%'
                          OR what = 'catch-up' AND st.phase = 'catching_up' AND (st.after_seq > 0 OR st.rounds > 0)) THEN
      PERFORM pg_cancel_backend(p);
      phase := st.phase; rounds := st.rounds; after_seq := st.after_seq; activity := a;
      RETURN NEXT;
      RETURN;
    END IF;
    IF clock_timestamp() - t0 > make_interval(secs => timeout_s) THEN
      RAISE EXCEPTION 'no % to cancel after % s: session %, activity "%", state %', what, timeout_s, p, a, st;
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
END
\$\$;
SQL
base_seq=$(q -c "SELECT max(seq) FROM drivetribe.events")

cat >"$work/mix.sql" <<'EOF'
\set op random(0, 15)
\set a random(1, 1000000000)
\set b random(1, 1000000000)
SELECT public.write_call(:op, :a, :b);
EOF
cat >"$work/read.sql" <<'EOF'
\set op random(0, 5)
\set a random(1, 1000000000)
\set b random(1, 1000000000)
SELECT public.read_call(:op, :a, :b);
EOF
# pgbench_loop TAG ROLE CLIENTS THREADS RATE SCRIPT: pgbench runs of 3 s
# back to back until $work/stop exists; per-call latencies in
# $work/lat/TAG.*; a run that fails leaves its name in $work/failed
pgbench_loop() {
  local tag=$1 role=$2 n=$3 threads=$4 calls_per_s=$5 script=$6 run=0
  while [ ! -e "$work/stop" ]; do
    run=$((run + 1))
    if ! pgbench -n -U "$role" -c "$n" -j "$threads" -T 3 ${calls_per_s:+--rate="$calls_per_s"} -l \
                 --log-prefix="$work/lat/$tag.$run" -f "$script" "$db" >"$work/pgbench.$tag$run.out" 2>&1; then
      echo "$tag$run" >>"$work/failed"
    fi
  done
}
writers() { pgbench_loop w "$writer" "$clients" 2 "$rate" "$work/mix.sql"; }
readers() { pgbench_loop r "$reader" "$readers" 1 "$read_rate" "$work/read.sql"; }
writers & bg+=($!); wpid=$!
rpid=
if [ "$readers" -gt 0 ]; then readers & bg+=($!); rpid=$!; fi
for _ in $(seq 1 200); do
  [ "$(q -c "SELECT count(*) >= 200 FROM drivetribe.events WHERE seq > $base_seq")" = t ] && break
  sleep 0.05
done
[ "$(q -c "SELECT count(*) > 0 FROM drivetribe.events WHERE seq > $base_seq")" = t ] ||
  { cat "$work"/pgbench.*.out | tail -20; fail "the writers appended nothing"; }
step "writers: $clients clients, ${rate:-unlimited} calls/s in all; readers: $readers clients, ${read_rate:-unlimited} reads/s"

# a CALL in the background (psql goes on after an error: the last command
# says whether the session still runs one)
call() {  # N
  PGAPPNAME=$app psql -X -At -d "$db" -c "SET client_min_messages = log" \
    -c "CALL drivetribe.rebuild(concurrently => true)" \
    -c "SELECT 'running afterwards: ' || drivetribe_internal.green_running()" >"$work/call.$1.out" 2>&1
}
live_same() {  # the live projection tables are still the ones of the start: count of the others
  q -c "SELECT count(*) FROM public.tables_before b WHERE format('drivetribe.%I', b.name)::regclass::oid <> b.relid"
}

# ---------------------------------------------------------------- 3. cancel in the load
t_call1=$(now)
call 1 & bg+=($!); c1=$!
seen=$(q -F ' ' -c "SELECT phase, rounds, after_seq FROM public.cancel_when('load', 120)" 2>&1) ||
  { cat "$work/call.1.out"; fail "cancelling the load: $seen"; }
wait "$c1" || true
grep -q 'canceling statement due to user request' "$work/call.1.out" ||
  { cat "$work/call.1.out"; fail "the first CALL was not cancelled"; }
grep -q 'loading the green tables' "$work/call.1.out" || { cat "$work/call.1.out"; fail "the first CALL did not load"; }
! grep -q 'building the green tables' "$work/call.1.out" || { cat "$work/call.1.out"; fail "the first CALL was cancelled after its load"; }
grep -q 'running afterwards: false' "$work/call.1.out" ||
  { cat "$work/call.1.out"; fail "after the cancel its session still runs a blue/green rebuild (green_running())"; }
st=$(q -F ' ' -c "SELECT phase, rounds, after_seq FROM drivetribe.rebuild_state")
[ "$st" = "created 0 0" ] || fail "after the cancel in the load rebuild_state is '$st', not 'created 0 0'"
[ "$(live_same)" = 0 ] || fail "after the cancel in the load the live tables are other tables"
[ "$(q -c "SELECT drivetribe_internal.green_running()")" = f ] || fail "a blue/green rebuild still runs after the cancel"
step "CALL 1 cancelled $(secs "$t_call1" "$(now)") s after its start, replaying the log: state $st, live tables untouched"

# ---------------------------------------------------------------- 4. a burst, cancel in the catch-up
# 30,000 calls in one transaction that commits only once the next CALL's
# load has taken its snapshot: they are all the catch-up's
psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" >"$work/burst.out" 2>&1 <<SQL & bg+=($!); burst=$!
DO \$\$
DECLARE
  t0 timestamptz;
BEGIN
  PERFORM drivetribe.view_article(x % 99 + 1, x % $nusers + 1) FROM generate_series(1, 20000) x;
  PERFORM drivetribe.post_comment(nextval('public.new_ids'), x % 99 + 1, x % $nusers + 1, 'burst ' || x)
     FROM generate_series(1, 10000) x;
  t0 := clock_timestamp();
  LOOP
    PERFORM pg_stat_clear_snapshot();
    -- (its activity names a phase once it has taken its snapshot)
    EXIT WHEN EXISTS (SELECT FROM pg_stat_activity WHERE application_name = '$app' AND datname = current_database()
                                                     AND query LIKE 'drivetribe.rebuild(concurrently): phase %')
           OR EXISTS (SELECT FROM drivetribe.rebuild_state WHERE phase = 'catching_up');
    IF clock_timestamp() - t0 > interval '120 s' THEN
      RAISE EXCEPTION 'the second CALL never loaded';
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
END
\$\$;
SQL
t_call2=$(now)
call 2 & bg+=($!); c2=$!
seen=$(q -F ' ' -c "SELECT phase, rounds, after_seq FROM public.cancel_when('catch-up', 240)" 2>&1) ||
  { cat "$work/call.2.out" "$work/burst.out"; fail "cancelling the catch-up: $seen"; }
wait "$c2" || true
wait "$burst" || { cat "$work/burst.out"; fail "the burst failed"; }
grep -q 'canceling statement due to user request' "$work/call.2.out" ||
  { cat "$work/call.2.out"; fail "the second CALL was not cancelled"; }
grep -q 'loading the green tables' "$work/call.2.out" ||
  { cat "$work/call.2.out"; fail "after a cancel in the load, the next CALL did not start the load over"; }
! grep -q 'going on from' "$work/call.2.out" || { cat "$work/call.2.out"; fail "the second CALL went on instead of loading"; }
! grep -q 'switched' "$work/call.2.out" || { cat "$work/call.2.out"; fail "the second CALL switched: the cancel came too late"; }
grep -q 'running afterwards: false' "$work/call.2.out" ||
  { cat "$work/call.2.out"; fail "after the cancel its session still runs a blue/green rebuild (green_running())"; }
read -r phase2 rounds2 seq2 caught2 <<<"$(q -F ' ' -c "SELECT phase, rounds, after_seq, events_caught_up FROM drivetribe.rebuild_state")"
[ "$phase2" = catching_up ] || fail "after the cancel in the catch-up rebuild_state is '$phase2', not catching_up"
[ "$caught2" -gt 0 ] || fail "the cancelled catch-up had committed no event"
[ "$(live_same)" = 0 ] || fail "after the cancel in the catch-up the live tables are other tables"
rounds_seen=$(grep -c 'catch-up round' "$work/call.2.out" || true)
step "CALL 2 loaded again and was cancelled in the catch-up $(secs "$t_call2" "$(now)") s after its start (seen: $seen): state round $((rounds2 + 1)) after seq $seq2, $caught2 events caught up, $rounds_seen rounds done"

# ---------------------------------------------------------------- 5. resume, switch
t_call3=$(now)
call 3 || true
t_switched=$(now)
grep -q "going on from round $((rounds2 + 1)), seq $seq2\$" "$work/call.3.out" ||
  { cat "$work/call.3.out"; fail "the third CALL did not go on from round $((rounds2 + 1)), seq $seq2"; }
! grep -q 'loading the green tables' "$work/call.3.out" || { cat "$work/call.3.out"; fail "the third CALL loaded again"; }
grep -q 'switched' "$work/call.3.out" || { cat "$work/call.3.out"; fail "the third CALL did not switch"; }
grep -q '^CALL$' "$work/call.3.out" || { cat "$work/call.3.out"; fail "the third CALL failed"; }
switched=$(sed -n 's/.*switched (\([0-9]*\) events in the last step, \([0-9]*\) after the load in all).*/\1 \2/p' "$work/call.3.out")
read -r last_step after_load <<<"$switched"
[ "$after_load" -ge 30000 ] || { cat "$work/call.3.out"; fail "only $after_load events were caught up after the load (the burst alone had 30,000)"; }
rounds3=$(grep -c 'catch-up round' "$work/call.3.out" || true)
step "CALL 3 went on from round $((rounds2 + 1)), seq $seq2 and switched after $(secs "$t_call3" "$t_switched") s: $rounds3 more rounds, $last_step events in the switch's own step, $after_load after the load in all"
sleep "$after_seconds"
touch "$work/stop"
wait "$wpid" || true
[ -z "$rpid" ] || wait "$rpid" || true

# ---------------------------------------------------------------- 6. checks
# pgbench: every run ended normally; every call's error an expected one
[ ! -e "$work/failed" ] || { tail -20 "$work/pgbench.$(head -1 "$work/failed").out"; fail "pgbench runs failed: $(tr '\n' ' ' <"$work/failed")"; }
if grep -hE 'aborted|ERROR|FATAL' "$work"/pgbench.*.out | head -5 | grep -q .; then
  grep -hE 'aborted|ERROR|FATAL' "$work"/pgbench.*.out | head -5
  fail "a writer client failed"
fi
bad=$(q -F ' ' -c "SELECT sqlstate || ' (' || count(*) || ', op ' || min(op) || '): ' || min(message)
                     FROM public.call_errors WHERE op < 100 AND sqlstate NOT IN ('55000', '23503') GROUP BY sqlstate")
[ -z "$bad" ] || fail "writer calls failed with errors not expected: $bad"
bad=$(q -F ' ' -c "SELECT sqlstate || ' (' || count(*) || ', read ' || min(op) - 100 || '): ' || min(message)
                     FROM public.call_errors WHERE op >= 100 GROUP BY sqlstate")
[ -z "$bad" ] || fail "reads failed: $bad"
errors=$(q -F ' ' -c "SELECT coalesce(string_agg(sqlstate || ' ' || n, ', ' ORDER BY sqlstate), 'none')
                       FROM (SELECT sqlstate, count(*) AS n FROM public.call_errors WHERE op < 100 GROUP BY 1) s")
read_calls=0; read_longest=0
if compgen -G "$work/lat/r.*" >/dev/null; then
  read -r read_calls read_longest <<<"$(awk '$3 ~ /^[0-9]+$/ { lat = $3 - (NF >= 7 ? $7 : 0); n++; if (lat > max) max = lat }
                                           END { printf "%d %d\n", n, max / 1000 }' "$work"/lat/r.*)"
fi
read -r calls longest <<<"$(awk '$3 ~ /^[0-9]+$/ { lat = $3 - (NF >= 7 ? $7 : 0); n++; if (lat > max) max = lat }
                                 END { printf "%d %d\n", n, max / 1000 }' "$work"/lat/w.*)"
[ "$calls" -gt 0 ] || fail "no writer call logged"
# the 3 longest calls, with the time they ended, relative to the end of the switch
awk -v s="$t_switched" '$3 ~ /^[0-9]+$/ { lat = $3 - (NF >= 7 ? $7 : 0);
       printf "%d %.1f\n", lat / 1000, $5 + $6 / 1e6 - s }' "$work"/lat/w.* | sort -rn >"$work/latencies"
longest3=$(awk 'NR <= 3 { printf "%s%s ms (ended %+.1f s)", (NR > 1 ? ", " : ""), $1, $2 }' "$work/latencies")
appended=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base_seq")
step "writers stopped: $calls calls ($appended events appended), errors kept: $errors; longest call ${longest} ms: $longest3 (relative to the end of CALL 3); readers: $read_calls reads, longest ${read_longest} ms"

t=$(now)
n=$(live_same)
[ "$n" = "$(q -c "SELECT count(*) FROM public.tables_before")" ] || fail "after the switch only $n of the projection tables are new tables"
read -r state_rows green_rels blue_schema running <<<"$(q -F ' ' -c "SELECT (SELECT count(*) FROM drivetribe.rebuild_state),
    (SELECT count(*) FROM pg_class WHERE relnamespace = 'drivetribe_green'::regnamespace),
    (SELECT count(*) FROM pg_namespace WHERE nspname = 'drivetribe_blue'),
    drivetribe_internal.green_running()")"
[ "$state_rows $green_rels $blue_schema $running" = "0 0 0 f" ] ||
  fail "something of the rebuild is left: $state_rows state rows, $green_rels relations in drivetribe_green, $blue_schema drivetribe_blue schemas, running $running"
# extconfig: the same names in the same order, each an existing table of drivetribe
n=$(q -c "WITH now AS (SELECT o, c, c::regclass::text AS name FROM pg_extension, unnest(extconfig) WITH ORDINALITY x(c, o)
                        WHERE extname = 'drivetribe')
          SELECT count(*) FROM now FULL JOIN public.extconfig_before b USING (o)
           WHERE now.name IS DISTINCT FROM b.name
              OR NOT EXISTS (SELECT FROM pg_class r WHERE r.oid = now.c AND r.relnamespace = 'drivetribe'::regnamespace)")
if [ "$n" != 0 ]; then
  q -c "SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'drivetribe'"
  fail "pg_extension.extconfig differs from before the rebuild in $n entries"
fi
n=$(q -c "SELECT count(*) FROM public.tables_before b
           WHERE format('drivetribe.%I', b.name)::regclass::oid NOT IN
                 (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'drivetribe')
              OR NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                AND d.objid = format('drivetribe.%I', b.name)::regclass
                                AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')")
[ "$n" = 0 ] || fail "$n projection tables are not in extconfig or not members of the extension"

n=$(q -c "SET client_min_messages = warning" -c "SELECT count(*) FROM drivetribe.verify()")
if [ "$n" != 0 ]; then
  psql -X -d "$db" -c "SELECT * FROM drivetribe.verify() LIMIT 20"
  fail "verify() found $n differences"
fi
step "the switch: new tables, nothing left, extconfig and members right, verify() empty ($(secs "$t" "$(now)") s)"

# the reads against plain SQL over the log
t=$(now)
q >/dev/null <<'SQL'
CREATE TABLE public.differences AS
WITH e AS MATERIALIZED (SELECT seq, kind, user_id, tribe_id, article_id, comment_id, target_id, parent_comment_id
                          FROM drivetribe.events WHERE kind <> 'article_viewed'),
counts AS (  -- per article of the log: views, live comments, current bumps
  SELECT p.article_id, coalesce(v.n, 0) AS views, coalesce(c.n, 0) AS comments, coalesce(b.n, 0) AS bumps
    FROM e p
    LEFT JOIN (SELECT article_id, count(*) AS n FROM drivetribe.events WHERE kind = 'article_viewed'
                GROUP BY article_id) v USING (article_id)
    LEFT JOIN (SELECT article_id, count(*) FILTER (WHERE kind = 'comment_posted')
                                  - count(*) FILTER (WHERE kind = 'comment_deleted') AS n
                 FROM e WHERE kind IN ('comment_posted', 'comment_deleted') GROUP BY article_id) c USING (article_id)
    LEFT JOIN (SELECT article_id, count(*) FILTER (WHERE kind = 'article_bumped')
                                  - count(*) FILTER (WHERE kind = 'article_unbumped') AS n
                 FROM e WHERE kind IN ('article_bumped', 'article_unbumped') GROUP BY article_id) b USING (article_id)
   WHERE p.kind = 'article_posted'
     AND NOT EXISTS (SELECT FROM e d WHERE d.kind = 'article_deleted' AND d.article_id = p.article_id)),
replies AS (  -- per comment: its live replies
  SELECT p.comment_id, count(r.comment_id) FILTER (WHERE r.comment_id IS NOT NULL AND rd.comment_id IS NULL) AS replies
    FROM e p
    LEFT JOIN e r ON r.kind = 'comment_posted' AND r.parent_comment_id = p.comment_id
    LEFT JOIN e rd ON rd.kind = 'comment_deleted' AND rd.comment_id = r.comment_id
   WHERE p.kind = 'comment_posted'
   GROUP BY p.comment_id),
edges AS (
  SELECT 'bump' AS edge, article_id AS a, user_id AS b FROM e WHERE kind IN ('article_bumped', 'article_unbumped')
   GROUP BY 1, 2, 3 HAVING sum(CASE kind WHEN 'article_bumped' THEN 1 ELSE -1 END) > 0
  UNION ALL
  SELECT 'follow', user_id, target_id FROM e WHERE kind IN ('user_followed', 'user_unfollowed')
   GROUP BY 1, 2, 3 HAVING sum(CASE kind WHEN 'user_followed' THEN 1 ELSE -1 END) > 0
  UNION ALL
  SELECT 'member', tribe_id, user_id FROM e WHERE kind IN ('tribe_created', 'tribe_joined', 'tribe_left')
   GROUP BY 1, 2, 3 HAVING sum(CASE kind WHEN 'tribe_left' THEN -1 ELSE 1 END) > 0),
live_edges AS (
  SELECT 'bump' AS edge, article_id AS a, user_id AS b FROM drivetribe.bumps
  UNION ALL SELECT 'follow', follower_id, followee_id FROM drivetribe.follows
  UNION ALL SELECT 'member', tribe_id, user_id FROM drivetribe.memberships)
(SELECT 'article_view only' AS what, (article_id, views, comments, bumps)::text AS row
   FROM (SELECT article_id, views, comments, bumps FROM drivetribe.article_view EXCEPT SELECT * FROM counts) x)
UNION ALL
(SELECT 'log only (articles)', (article_id, views, comments, bumps)::text
   FROM (SELECT * FROM counts EXCEPT SELECT article_id, views, comments, bumps FROM drivetribe.article_view) x)
UNION ALL
(SELECT 'comments only', (comment_id, replies)::text
   FROM (SELECT comment_id, replies FROM drivetribe.comments EXCEPT SELECT * FROM replies) x)
UNION ALL
(SELECT 'log only (replies)', (comment_id, replies)::text
   FROM (SELECT * FROM replies EXCEPT SELECT comment_id, replies FROM drivetribe.comments) x)
UNION ALL
(SELECT 'projection only', (edge, a, b)::text FROM (SELECT * FROM live_edges EXCEPT SELECT * FROM edges) x)
UNION ALL
(SELECT 'log only (edges)', (edge, a, b)::text FROM (SELECT * FROM edges EXCEPT SELECT * FROM live_edges) x);
SQL
n=$(q -c "SELECT count(*) FROM public.differences")
if [ "$n" != 0 ]; then
  q -c "SELECT what, row FROM public.differences ORDER BY 1, 2 LIMIT 20"
  fail "the reads differ from the log in $n rows (counts per article, replies per comment, edges)"
fi
psql -X -q -v ON_ERROR_STOP=1 -v step=schema -f "$root/test/bench/recompute.sql" "$db" >/dev/null 2>&1 || fail "recompute.sql schema failed"
psql -X -q -v ON_ERROR_STOP=1 -v step=run -f "$root/test/bench/recompute.sql" "$db" >/dev/null 2>&1 || fail "recompute.sql run failed"
n=$(psql -X -q -At -v ON_ERROR_STOP=1 -v step=check -f "$root/test/bench/recompute.sql" "$db") || fail "recompute.sql check failed"
[ "$n" = 0 ] || fail "user_stats, tribe_stats and article_view differ from test/bench/recompute.sql in $n rows"
q -c "DROP SCHEMA rc CASCADE" >/dev/null 2>&1
replies=$(q -c "SELECT count(*) FROM drivetribe.comments WHERE parent_comment_id IS NOT NULL")
[ "$replies" -gt 0 ] || fail "no reply was posted"
step "reads = plain SQL over the log (counts per article, $replies replies, edges, every stats row) ($(secs "$t" "$(now)") s)"

# a plain rebuild() corrects nothing and changes no read
t=$(now)
checksum="SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (
  SELECT 'u' || u::text AS r FROM drivetribe.user_stats u UNION ALL
  SELECT 't' || t::text FROM drivetribe.tribe_stats t UNION ALL
  SELECT 'a' || a::text FROM drivetribe.article_view a UNION ALL
  SELECT 'd' || a.article_id FROM drivetribe.articles a WHERE a.deleted UNION ALL
  SELECT 'c' || c::text FROM drivetribe.comments c UNION ALL
  SELECT 'm' || m::text FROM drivetribe.memberships m UNION ALL
  SELECT 'f' || f::text FROM drivetribe.follows f UNION ALL
  SELECT 'b' || b::text FROM drivetribe.bumps b) s"
before=$(q -c "$checksum")
psql -X -At -d "$db" -c "SET client_min_messages = log" -c "SELECT drivetribe.rebuild()" >"$work/plain.out" 2>&1 ||
  { cat "$work/plain.out"; fail "rebuild() failed"; }
grep -q 'finished, [0-9]* events replayed, 0 rows corrected' "$work/plain.out" ||
  { cat "$work/plain.out"; fail "a plain rebuild() after the blue/green one corrected rows"; }
after=$(q -c "$checksum")
[ "$before" = "$after" ] || fail "a plain rebuild() changed the reads: $before -> $after"
step "plain rebuild(): 0 rows corrected, reads unchanged ($(secs "$t" "$(now)") s)"

if [ "$dump" = 1 ]; then
  t=$(now)
  pg_dump -Fc -Z0 -f "$work/dump" "$db" 2>"$work/dump.err" || { cat "$work/dump.err"; fail "pg_dump failed"; }
  createdb "$restored"
  pg_restore -j 2 -d "$restored" "$work/dump" 2>"$work/restore.err" || { head -20 "$work/restore.err"; fail "pg_restore failed"; }
  n=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$restored" -c "SET client_min_messages = warning" -c "SELECT count(*) FROM drivetribe.verify()")
  [ "$n" = 0 ] || fail "verify() finds $n differences in the restored database"
  restored_sum=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$restored" -c "$checksum")
  [ "$restored_sum" = "$after" ] || fail "the restored database reads otherwise than the dumped one"
  rm -f "$work/dump"
  dropdb "$restored"
  step "pg_dump | pg_restore: verify() empty, the same reads ($(secs "$t" "$(now)") s)"
fi

echo "bluegreen_rebuild: $log_events + $appended events; CALLs: 1 cancelled in the load, 2 in the catch-up (round $((rounds2 + 1)), seq $seq2), 3 switched in $(secs "$t_call3" "$t_switched") s; writers' longest call ${longest} ms; whole test $((SECONDS - T0)) s: passed"
