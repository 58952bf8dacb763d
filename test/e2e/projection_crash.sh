#!/usr/bin/env bash
# A projection backfilled over a log of >= 1M events under 8 writers, with a
# server crash in the middle (issue 21, item 6).  In a cluster of its own
# (synchronous_commit on: a batch whose commit was acknowledged survives the
# crash):
#
#  1. test/bench/gen_log.sql writes a consistent log of >= 1,000,000 events
#     set-based, and drivetribe.rebuild() makes the projections consistent,
#     so that the write API works on its users, articles and comments.
#  2. A role with no privilege but grant_projector() (and grant_writer(),
#     only so that a handler's write call is refused as recursion, 55000,
#     not for want of a grant) owns the tables and the handler: per-article
#     views, comments - deletions and bumps - unbumps, set-based over the
#     batch; it also keeps every seq it was given and every call's size.
#     The handler is hostile too: on every batch (and 1 inline call in 50)
#     it tries to append to the log, rewrite it, move its own cursor, write
#     a projection of the extension, call the write API, SET ROLE, make its
#     role a superuser, grant itself more, and create a temporary table;
#     each attempt must fail with the SQLSTATE expected (every attempt ends
#     in an error of its own, so that nothing it did can stay).
#  3. 8 pgbench clients, as a role with grant_writer() only, call a mix of
#     the write API on the generated ids (views, 20 hot articles, bumps and
#     unbumps, comments posted and deleted, follows, renames, rare article
#     deletes; 55000/23503/23505 of a random pick are counted and
#     tolerated, any other error fails the test) for the whole test, at
#     1,000 calls/s in all (pgbench --rate: unthrottled, they leave the
#     backfill a fraction of the 2 cores and the test takes twice as long).
#  4. The projector runs CALL drivetribe.create_projection(...) with
#     drivetribe.projection_batch_size = 2000 in a background psql; once its
#     position (events_read) passes 30% of the log, `pg_ctl stop -m
#     immediate`.  After the restart the registry still says backfilling
#     (the view shows it paused: no session runs its backfill), at a
#     position no earlier than the last one seen before the crash, and its
#     table is exactly the independent computation over the events up to
#     its cursor (read_log()'s (txid, seq) order): the committed batches,
#     nothing of the one in flight.
#  5. Writers again; CALL drivetribe.resume_projection(...) until live;
#     writers go on a few seconds (applied inline), then stop.  The table
#     equals a GROUP BY over drivetribe.events (EXCEPT both ways: no row),
#     the handler got every event of its kinds exactly once (the seqs it
#     kept against the log), events_read is the log up to its cursor, some
#     events were applied inline, verify() is empty, no backend crashed.
# Prints the log's size, the batches, events/s, the writers' calls and
# their longest call during the backfill (not an assertion beyond a
# generous 30 s: it is not a timed test), and the time of each step.
#
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed
# (its binaries are used) and DT_ROOT, the repository.  Environment:
# DT_PROJ_CRASH_PORT (the own cluster's port, default PGPORT + 21),
# DT_PROJ_CRASH_EVENTS (gen_log's size knob, default 1002000: 1,001,991
# events), DT_PROJ_CRASH_BATCH (default 2000), DT_PROJ_CRASH_CLIENTS
# (default 8), DT_PROJ_CRASH_AT (percent of the log read before the crash,
# default 30), DT_PROJ_CRASH_INLINE_SECONDS (writers after the handover,
# default 3), DT_PROJ_CRASH_RATE (the writers' calls/s in all, default 1000;
# 0: as fast as they can).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_proj_crash
events_knob=${DT_PROJ_CRASH_EVENTS:-1002000}
batch=${DT_PROJ_CRASH_BATCH:-2000}
clients=${DT_PROJ_CRASH_CLIENTS:-8}
crash_at=${DT_PROJ_CRASH_AT:-30}
inline_seconds=${DT_PROJ_CRASH_INLINE_SECONDS:-3}
rate=${DT_PROJ_CRASH_RATE:-1000}; [ "$rate" != 0 ] || rate=
projector=dt_e2e_projector
writer=dt_e2e_writer
proj=article_counts
kinds="ARRAY['article_viewed', 'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped']"
T0=$SECONDS
work=$(mktemp -d)
chmod 755 "$work"
mkdir "$work/lat"
bg=()
cleanup() {
  local p
  touch "$work/stop.1" "$work/stop.2" 2>/dev/null || true
  for p in "${bg[@]}"; do
    pkill -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}

fail() { echo "projection_crash: FAILED: $*"; exit 1; }
step() { printf 'projection_crash: [%3d s] %s\n' $((SECONDS - T0)) "$*"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The binaries of the server under test (the cluster of our own must run
# the same installation).
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/gen_log.sh"
e2e_use_server_bindir
. "$root/scripts/cluster.sh"
if ! DT_PG_CONF="synchronous_commit = on" dt_cluster_temp "${DT_PROJ_CRASH_PORT:-$((PGPORT + 21))}" postgres test; then
  rm -rf "$work"
  fail "could not start a cluster of our own"
fi
trap 'cleanup; dt__cleanup_temp' EXIT
dir=$DT_CLUSTER_DIR
[ "$(psql -X -At -d postgres -c "SHOW synchronous_commit")" = on ] || fail "synchronous_commit is not on"
createdb "$db"

# ---------------------------------------------------------------- 1. the log
q >/dev/null <<SQL
CREATE EXTENSION drivetribe CASCADE;
CREATE ROLE $projector LOGIN;
CREATE ROLE $writer LOGIN;
SELECT drivetribe.grant_projector('$projector');
SELECT drivetribe.grant_writer('$projector');
SELECT drivetribe.grant_writer('$writer');
SQL
dt_gen_log "$events_knob"

# ---------------------------------------------------------------- 2. the projector's tables and handler
q >/dev/null <<SQL
CREATE SCHEMA app AUTHORIZATION $projector;
SET ROLE $projector;
CREATE TABLE app.article_counts (
  article_id bigint PRIMARY KEY,
  views bigint NOT NULL,
  comments bigint NOT NULL,
  bumps bigint NOT NULL);
CREATE TABLE app.seen (seq bigint NOT NULL);               -- every event given, once per time
CREATE TABLE app.calls (events int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE app.probes (batch boolean NOT NULL, probe text NOT NULL, sqlstate text NOT NULL);

CREATE FUNCTION app.count_events(batch drivetribe.events[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$\$
DECLARE
  p text;
  st text;
BEGIN
  INSERT INTO app.calls (events) VALUES (cardinality(batch));
  INSERT INTO app.seen SELECT e.seq FROM unnest(batch) e;
  INSERT INTO app.article_counts AS c
  SELECT e.article_id,
         count(*) FILTER (WHERE e.kind = 'article_viewed'),
         count(*) FILTER (WHERE e.kind = 'comment_posted') - count(*) FILTER (WHERE e.kind = 'comment_deleted'),
         count(*) FILTER (WHERE e.kind = 'article_bumped') - count(*) FILTER (WHERE e.kind = 'article_unbumped')
    FROM unnest(batch) e
   GROUP BY e.article_id
  ON CONFLICT (article_id) DO UPDATE
     SET views = c.views + excluded.views, comments = c.comments + excluded.comments,
         bumps = c.bumps + excluded.bumps;
  -- hostile: every batch, and 1 inline call in 50
  IF cardinality(batch) = 1 AND random() >= 0.02 THEN
    RETURN;
  END IF;
  FOREACH p IN ARRAY ARRAY['append to the log', 'rewrite the log', 'move its cursor',
                           'write a projection of the extension', 'call the write API',
                           'set role', 'become superuser', 'grant itself', 'temp table'] LOOP
    BEGIN
      CASE p
        WHEN 'append to the log' THEN
          INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, body, context)
          VALUES (gen_random_uuid(), 'user_registered', now(), 999999999, 'intruder', '{}');
        WHEN 'rewrite the log' THEN
          UPDATE drivetribe.events SET body = 'rewritten' WHERE seq = batch[1].seq;
        WHEN 'move its cursor' THEN
          UPDATE drivetribe.projection_registry SET cursor_seq = 0, cursor_txid = '0';
        WHEN 'write a projection of the extension' THEN
          UPDATE drivetribe.articles SET title = 'defaced';
        WHEN 'call the write API' THEN
          PERFORM drivetribe.view_article(batch[1].article_id);
        WHEN 'set role' THEN
          SET ROLE postgres;
        WHEN 'become superuser' THEN
          ALTER ROLE $projector SUPERUSER;
        WHEN 'grant itself' THEN
          PERFORM drivetribe.grant_projector('$writer');
        WHEN 'temp table' THEN
          CREATE TEMP TABLE stash (x int);
      END CASE;
      -- it worked: undo it, and say so
      RAISE EXCEPTION 'probe "%" was not refused', p USING ERRCODE = 'XX001';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
      INSERT INTO app.probes VALUES (cardinality(batch) > 1, p, st);
    END;
  END LOOP;
END
\$\$;
RESET ROLE;

-- The independent computations, from the log alone: all of it, or the part
-- up to a read_log() cursor.
CREATE FUNCTION public.expected(upto_txid xid8 DEFAULT NULL, upto_seq bigint DEFAULT NULL)
RETURNS TABLE (article_id bigint, views bigint, comments bigint, bumps bigint)
LANGUAGE sql STABLE AS \$\$
  SELECT e.article_id,
         count(*) FILTER (WHERE e.kind = 'article_viewed'),
         count(*) FILTER (WHERE e.kind = 'comment_posted') - count(*) FILTER (WHERE e.kind = 'comment_deleted'),
         count(*) FILTER (WHERE e.kind = 'article_bumped') - count(*) FILTER (WHERE e.kind = 'article_unbumped')
    FROM drivetribe.events e
   WHERE e.kind IN ('article_viewed', 'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped')
     AND (upto_txid IS NULL OR ROW(e.txid, e.seq) <= ROW(upto_txid, upto_seq))
   GROUP BY e.article_id
\$\$;
-- rows of the projection's table not in the computation, and the other way
CREATE FUNCTION public.differences(upto_txid xid8 DEFAULT NULL, upto_seq bigint DEFAULT NULL)
RETURNS TABLE (side text, article_id bigint, views bigint, comments bigint, bumps bigint)
LANGUAGE sql STABLE AS \$\$
  WITH x AS MATERIALIZED (SELECT * FROM public.expected(upto_txid, upto_seq))
  (SELECT 'projection only', * FROM app.article_counts EXCEPT SELECT 'projection only', * FROM x)
  UNION ALL
  (SELECT 'log only', * FROM x EXCEPT SELECT 'log only', * FROM app.article_counts)
\$\$;
-- the seqs the handler got against the log's events of its kinds: given
-- twice, or never
CREATE FUNCTION public.seen_wrong(upto_txid xid8 DEFAULT NULL, upto_seq bigint DEFAULT NULL)
RETURNS TABLE (seq bigint, given bigint)
LANGUAGE sql STABLE AS \$\$
  SELECT coalesce(s.seq, e.seq), coalesce(s.n, 0)
    FROM (SELECT seq, count(*) AS n FROM app.seen GROUP BY seq) s
    FULL JOIN (SELECT e.seq FROM drivetribe.events e
                WHERE e.kind IN ('article_viewed', 'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped')
                  AND (upto_txid IS NULL OR ROW(e.txid, e.seq) <= ROW(upto_txid, upto_seq))) e
      ON e.seq = s.seq
   WHERE s.n IS DISTINCT FROM 1 OR e.seq IS NULL
\$\$;

-- ---- the writers: one call of the write API on the generated world
CREATE SEQUENCE public.new_ids START 1000000000;
CREATE UNLOGGED TABLE public.refused (op int NOT NULL, sqlstate text NOT NULL);
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
      IF b % 2 = 0 THEN
        -- a comment of the generated log (gen_log.sql's kind hash of row c)
        c := a % $ncomments + 1;
        WHILE ((c * 2654435761) / 65536) % 100 NOT BETWEEN 70 AND 81 LOOP
          c := c % $ncomments + 1;
        END LOOP;
      ELSE
        -- one of ours (maybe not posted yet: 23503)
        c := 1000000000 + b % 5000;
      END IF;
      PERFORM drivetribe.delete_comment(c);
    WHEN op = 12 THEN IF u <> v THEN PERFORM drivetribe.follow_user(u, v); END IF;
    WHEN op = 13 THEN IF u <> v THEN PERFORM drivetribe.unfollow_user(u, v); END IF;
    WHEN op = 14 THEN
      IF b % 400 = 0 AND a % $narticles + 1 > 20 THEN
        PERFORM drivetribe.delete_article(a % $narticles + 1);
      ELSE
        PERFORM drivetribe.rename_user(u, 'renamed ' || b % 7);
      END IF;
    ELSE PERFORM drivetribe.view_article(art);
  END CASE;
EXCEPTION
  -- SPEC's errors of a random pick: a deleted article, an unknown comment,
  -- a taken id.  Anything else reaches pgbench and aborts its client.
  WHEN object_not_in_prerequisite_state OR foreign_key_violation OR unique_violation THEN
    INSERT INTO public.refused VALUES (op, SQLSTATE);
END
\$\$;
GRANT USAGE, UPDATE ON SEQUENCE public.new_ids TO $writer;
GRANT INSERT ON public.refused TO $writer;
GRANT EXECUTE ON FUNCTION public.write_call(int, bigint, bigint) TO $writer;
SQL
base_seq=$(q -c "SELECT max(seq) FROM drivetribe.events")

cat >"$work/mix.sql" <<'EOF'
\set op random(0, 15)
\set a random(1, 1000000000)
\set b random(1, 1000000000)
SELECT public.write_call(:op, :a, :b);
EOF
# writers PHASE: pgbench runs of 2 s back to back until $work/stop.PHASE
# exists or a run fails (the crash); per-call latencies in $work/lat/PHASE.*
writers() {
  local phase=$1 run=0
  while [ ! -e "$work/stop.$phase" ]; do
    run=$((run + 1))
    if ! pgbench -n -U "$writer" -c "$clients" -j 2 -T 2 ${rate:+--rate="$rate"} -l --log-prefix="$work/lat/$phase.$run" \
                 -f "$work/mix.sql" "$db" >"$work/pgbench.$phase.$run.out" 2>&1; then
      echo "$run" >"$work/failed.$phase"
      break
    fi
  done
}
# calls logged by PHASE's pgbench runs [completed before/after epoch T]:
# "calls longest_ms"
calls_of() {  # PHASE [before|after T]
  local files=("$work"/lat/"$1".*)
  [ -e "${files[0]}" ] || { echo "0 0"; return; }
  awk -v side="${2:-}" -v t="${3:-0}" '
    $3 ~ /^[0-9]+$/ {
      # with --rate, $3 counts from the scheduled start: less the lag ($7)
      lat = $3 - (NF >= 7 ? $7 : 0)
      end = $5 + $6 / 1e6
      if (side == "before" && end >= t) next
      if (side == "after" && end < t) next
      n++; if (lat > max) max = lat
    }
    END { printf "%d %d\n", n, max / 1000 }' "${files[@]}"
}
# any error a writer did not expect (a server shutting down is expected at
# the crash only: FATAL/connection lines, never ERROR)
writer_errors() {  # PHASE
  cat "$work"/pgbench."$1".*.out 2>/dev/null | grep -E 'ERROR|deadlock' | head -n 5 || true
}

# ---------------------------------------------------------------- 3, 4. backfill, writers, crash
writers 1 & bg+=($!); w1=$!
for _ in $(seq 1 200); do
  [ "$(q -c "SELECT count(*) >= 200 FROM drivetribe.events WHERE seq > $base_seq")" = t ] && break
  sleep 0.05
done
[ "$(q -c "SELECT count(*) > 0 FROM drivetribe.events WHERE seq > $base_seq")" = t ] ||
  { cat "$work"/pgbench.1.*.out | tail -20; fail "the writers appended nothing"; }
t_backfill=$(now)
psql -X -q -v ON_ERROR_STOP=1 -U "$projector" -d "$db" \
     -c "SET drivetribe.projection_batch_size = $batch" \
     -c "CALL drivetribe.create_projection('$proj', 'app.count_events(drivetribe.events[])', $kinds)" \
     >"$work/create.out" 2>&1 & bg+=($!); creator=$!
threshold=$((log_events * crash_at / 100))
# Wait in one session, server-side, reading the registry (the view counts
# the lag over the log after the position: seconds under this load, and a
# new connection alone can take a second): the kill follows the sample by
# the time pg_ctl takes to start.
sample=$(q -F ' ' 2>&1 <<SQL
CREATE FUNCTION pg_temp.wait_read(threshold bigint)
RETURNS TABLE (state text, applied bigint, cursor_seq bigint, rate bigint) LANGUAGE plpgsql AS \$\$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    -- (each statement of a volatile function takes a new snapshot)
    SELECT r.state, r.applied, r.cursor_seq, round(r.last_batch_events / nullif(r.last_batch_seconds, 0))
      INTO state, applied, cursor_seq, rate
      FROM drivetribe.projection_registry r WHERE r.name = '$proj';
    IF state IS DISTINCT FROM 'backfilling' AND state IS NOT NULL OR applied >= threshold THEN
      RETURN NEXT;
      RETURN;
    END IF;
    IF clock_timestamp() - t0 > interval '240 s' OR (state IS NULL AND clock_timestamp() - t0 > interval '30 s') THEN
      RAISE EXCEPTION 'the backfill has read % events after %', coalesce(applied, 0), clock_timestamp() - t0;
    END IF;
    PERFORM pg_sleep(0.02);
  END LOOP;
END
\$\$;
SELECT * FROM pg_temp.wait_read($threshold);
SQL
) || { cat "$work/create.out"; fail "waiting for the backfill: $sample"; }
dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
t_crash=$(now)
read -r seen_state seen_read seen_pos seen_rate <<<"$sample"
[ "$seen_state" = backfilling ] ||
  { cat "$work/create.out"; fail "the projection was $seen_state before the crash (the backfill was too fast to crash it: lower DT_PROJ_CRASH_AT)"; }
wait "$creator" && { cat "$work/create.out"; fail "create_projection() succeeded although the server was killed during it"; }
grep -q 'is live' "$work/create.out" && { cat "$work/create.out"; fail "the backfill ended before the crash"; }
wait "$w1" || true
[ -e "$work/failed.1" ] || fail "the writers were not running at the crash"
read -r calls1 longest1 <<<"$(calls_of 1)"
err=$(writer_errors 1)
[ -z "$err" ] || fail "a writer got an error it did not expect before the crash: $err"
step "crashed (immediate shutdown) $(secs "$t_backfill" "$t_crash") s into the backfill, just after seeing $seen_read events read (at seq $seen_pos, ${seen_rate} events/s in the last batch); $calls1 writer calls so far"

dt_cluster_start "$dir" || fail "the server did not start again after the crash"
for _ in $(seq 1 300); do pg_isready -q -d "$db" && break; sleep 0.1; done
pg_isready -q -d "$db" || fail "the server does not accept connections after the crash"
grep -q 'database system was interrupted\|redo starts\|not properly shut down' "$dir/server.log" ||
  fail "the server did not run crash recovery"

# Still backfilling (the registry), shown as paused (the view: no session
# runs its backfill; a build older than that shows backfilling), at its
# last committed batch, and its table is exactly the log up to there.
reg_state=$(q -c "SELECT state FROM drivetribe.projection_registry WHERE name = '$proj'")
[ "$reg_state" = backfilling ] || fail "after the crash the registry says '$reg_state', not backfilling"
read -r state read_c pos_txid pos_seq rate_c last_error <<<"$(q -F ' ' -c "SELECT state, events_read, position_txid, position_seq,
       round(coalesce(last_batch_events_per_s, 0)), coalesce(last_error, '-') FROM drivetribe.projections WHERE name = '$proj'")"
case $state in
  paused|backfilling) ;;
  *) fail "after the crash the projection shows as '$state', not paused" ;;
esac
[ "$pos_seq" -gt 0 ] && [ "$read_c" -gt 0 ] || fail "after the crash the position is reset: seq $pos_seq, $read_c events read"
[ "$read_c" -ge "$seen_read" ] ||
  fail "after the crash $read_c events read, fewer than the $seen_read seen committed before it"
[ "$read_c" -lt "$(q -c "SELECT count(*) FROM drivetribe.events")" ] || fail "after the crash nothing is left to backfill"
[ "$last_error" = - ] || fail "after the crash the projection has an error: $last_error"
n=$(q -c "SELECT count(*) FROM drivetribe.events WHERE ROW(txid, seq) <= ROW('$pos_txid'::xid8, $pos_seq)")
[ "$n" = "$read_c" ] || fail "after the crash: events_read $read_c, but the log holds $n events up to the cursor ($pos_txid, $pos_seq)"
n=$(q -c "SELECT count(*) FROM public.differences('$pos_txid', $pos_seq)")
if [ "$n" != 0 ]; then
  psql -X -d "$db" -c "SELECT * FROM public.differences('$pos_txid', $pos_seq) ORDER BY article_id, side LIMIT 20"
  fail "after the crash the projection's table differs from the log up to its cursor in $n rows"
fi
n=$(q -c "SELECT count(*) FROM public.seen_wrong('$pos_txid', $pos_seq)")
[ "$n" = 0 ] || fail "after the crash $n events up to the cursor were given to the handler other than once"
writer_before=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base_seq")
step "after the restart: $state at ($pos_txid, $pos_seq), $read_c events read (>= $seen_read seen; last batch ${rate_c} events/s), table = log up to the cursor; $writer_before events by the writers survived"

# ---------------------------------------------------------------- 5. resume, live, inline
writers 2 & bg+=($!); w2=$!
sleep 0.5
t_resume=$(now)
timeout 300 psql -X -q -v ON_ERROR_STOP=1 -U "$projector" -d "$db" \
     -c "SET drivetribe.projection_batch_size = $batch" \
     -c "CALL drivetribe.resume_projection('$proj')" >"$work/resume.out" 2>&1 ||
  { cat "$work/resume.out"; fail "resume_projection() failed"; }
t_live=$(now)
read -r state read_l pos_txid pos_seq rate_l <<<"$(q -F ' ' -c "SELECT state, events_read, position_txid, position_seq,
       round(coalesce(last_batch_events_per_s, 0)) FROM drivetribe.projections WHERE name = '$proj'")"
[ "$state" = live ] || fail "after resume_projection() the projection is '$state', not live"
step "resumed: live after $(secs "$t_resume" "$t_live") s at ($pos_txid, $pos_seq), $read_l events read"
sleep "$inline_seconds"
touch "$work/stop.2"
wait "$w2" || true
[ ! -e "$work/failed.2" ] || { tail -20 "$work/pgbench.2.$(cat "$work/failed.2").out"; fail "a pgbench run of the writers failed after the restart"; }
err=$(writer_errors 2)
[ -z "$err" ] || fail "a writer got an error it did not expect after the restart: $err"
read -r calls2 longest2 <<<"$(calls_of 2 before "$t_live")"
read -r calls3 longest3 <<<"$(calls_of 2 after "$t_live")"
[ "$calls1" -gt 0 ] && [ "$calls2" -gt 0 ] || fail "no writer call during the backfill ($calls1 before the crash, $calls2 during resume)"
[ "$calls3" -gt 0 ] || fail "no writer call after the handover"

# ---------------------------------------------------------------- the checks
t_check=$(now)
total=$(q -c "SELECT count(*) FROM drivetribe.events")
n=$(q -c "SELECT count(*) FROM public.differences()")
if [ "$n" != 0 ]; then
  psql -X -d "$db" -c "SELECT * FROM public.differences() ORDER BY article_id, side LIMIT 20"
  fail "the projection's table differs from the independent computation over the log in $n rows"
fi
rows=$(q -c "SELECT count(*) FROM app.article_counts")
[ "$rows" -gt 0 ] || fail "the projection's table is empty"
n=$(q -c "SELECT count(*) FROM public.seen_wrong()")
if [ "$n" != 0 ]; then
  psql -X -d "$db" -c "SELECT * FROM public.seen_wrong() ORDER BY seq LIMIT 20"
  fail "$n events of the projection's kinds were given to its handler other than once"
fi
n=$(q -c "SELECT count(*) FROM drivetribe.events WHERE ROW(txid, seq) <= ROW('$pos_txid'::xid8, $pos_seq)")
[ "$n" = "$read_l" ] || fail "events_read is $read_l, but the log holds $n events up to the cursor"
# (events after the cursor the handover ended at: only a write call can
# have given them to the handler)
inline=$(q -c "SELECT count(*) FROM drivetribe.events
                WHERE ROW(txid, seq) > ROW('$pos_txid'::xid8, $pos_seq) AND kind IN ('article_viewed', 'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped')")
[ "$inline" -gt 0 ] || fail "no event of the projection's kinds after the handover: nothing was applied inline"
# the hostile handler got nothing
n=$(q -c "SELECT count(*) FROM app.probes")
[ "$n" -gt 0 ] || fail "the handler's probes never ran"
bad=$(q -F ' ' -c "SELECT probe || ': ' || string_agg(DISTINCT sqlstate, ',') FROM app.probes
                    WHERE sqlstate <> CASE probe WHEN 'call the write API' THEN '55000' ELSE '42501' END
                    GROUP BY probe")
[ -z "$bad" ] || fail "a hostile handler's attempt was not refused as expected: $bad"
probes_inline=$(q -c "SELECT count(*) FROM app.probes WHERE NOT batch")
[ "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$projector'")" = f ] || fail "the projector became a superuser"
n=$(q -c "SELECT count(*) FROM drivetribe.events WHERE body IN ('intruder', 'rewritten') OR user_id = 999999999")
[ "$n" = 0 ] || fail "the hostile handler changed the log"
n=$(q -c "SELECT count(*) FROM drivetribe.projectors WHERE role = '$writer'::regrole")
[ "$n" = 0 ] || fail "the hostile handler granted a role"
n=$(q -c "SET client_min_messages = warning" -c "SELECT count(*) FROM drivetribe.verify()")
if [ "$n" != 0 ]; then
  psql -X -d "$db" -c "SELECT * FROM drivetribe.verify() LIMIT 20"
  fail "verify() found $n differences"
fi
check_s=$(secs "$t_check" "$(now)")
if grep -qE "terminated by signal|terminated by exception" "$dir/server.log"; then
  grep -E "terminated by signal|terminated by exception" "$dir/server.log" | head -n 5
  fail "a backend crashed"
fi

batches=$(q -c "SELECT count(*) FROM app.calls WHERE events > 1")
appended=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base_seq")
refused=$(q -F ' ' -c "SELECT coalesce(string_agg(sqlstate || ' ' || n, ', ' ORDER BY sqlstate), 'none')
                        FROM (SELECT sqlstate, count(*) AS n FROM public.refused GROUP BY 1) s")
backfill_s=$(awk -v a="$t_backfill" -v b="$t_crash" -v c="$t_resume" -v d="$t_live" 'BEGIN { printf "%.1f", (b - a) + (d - c) }')
step "log: $log_events generated + $appended by the writers = $total events; batch size $batch: $batches batches of more than one event, $read_l events read"
step "events/s (projections view, last batch before the crash): $rate_c; overall $(awk -v n="$read_l" -v s="$backfill_s" 'BEGIN { printf "%d", n / s }') over ${backfill_s} s of backfill (with the writers)"
step "writers ($clients clients, ${rate:-unlimited} calls/s): $calls1 calls before the crash (longest ${longest1} ms), $calls2 during resume (longest ${longest2} ms), $calls3 after the handover (longest ${longest3} ms); refused: $refused"
longest=$(( longest1 > longest2 ? longest1 : longest2 ))
[ "$longest" -lt 30000 ] || fail "a write call took ${longest} ms during the backfill"
step "checks: table = log ($rows articles), every event once, $inline events applied inline, verify() empty, $(q -c "SELECT count(*) FROM app.probes") hostile attempts refused ($probes_inline inline) in ${check_s} s"
echo "projection_crash: gen ${gen_s} s, rebuild ${rebuild_s} s, backfill ${backfill_s} s, whole test $((SECONDS - T0)) s: passed"
