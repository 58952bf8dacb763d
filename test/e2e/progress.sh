#!/usr/bin/env bash
# Progress, logging and cancellation of rebuild() and verify() (issue 12,
# item 2).  On a generated log (test/bench/gen_log.sql, DT_PROGRESS_EVENTS
# events, default 400,000) whose projections have drifted (every row of
# users, articles, bumps and follows removed behind the API's back, so
# that rebuild() has real work in both of its phases):
#
#  1. rebuild() in one session (drivetribe.progress_interval = 200 ms,
#     client_min_messages = log) is watched from another: its
#     pg_stat_activity.query shows "drivetribe.rebuild(): phase 1 of 2,
#     replaying the log: N of M events (P%)"; pg_cancel_backend() then
#     ends it with 57014, the session's pg_stat_activity.query is its
#     statement again (the session stays open, idle), its client got the
#     LOG lines of the start and of the error, and every projection is
#     exactly as before (a fingerprint of every table of the schema but
#     the log; verify() reports the same differences).
#  2. the same, cancelled in phase 2 ("correcting the projections"),
#     while it writes rows: nothing it wrote remains.
#  3. verify() shows its progress too and is cancelled the same way.
#  4. rebuild() runs to the end while a writer waits for its lock: the
#     writer's blocker (pg_blocking_pids) shows the progress, the client
#     got progress NOTICEs with counts, rate and time, a closing NOTICE
#     and the LOG line of the end with the rows inserted; the writer then
#     completes and verify() is empty.
#
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed
# (a superuser: the drift is made behind the API's back).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_progress
events=${DT_PROGRESS_EVENTS:-400000}
T0=$SECONDS
work=$(mktemp -d)
chmod 755 "$work"
bg_pid=
cleanup() {
  if [ -n "$bg_pid" ]; then kill "$bg_pid" 2>/dev/null || true; fi
  exec 3>&- 2>/dev/null || true
  rm -rf "$work"
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() { echo "progress: FAILED: $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
step() { printf 'progress: [%3d s] %s\n' $((SECONDS - T0)) "$*"; }

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
q -c "CREATE EXTENSION drivetribe"

step "generating a log of about $events events"
export PGOPTIONS="-c client_min_messages=warning"
q -v step=setup -v events="$events" -f "$root/test/bench/gen_log.sql" >/dev/null
q -v step=activity -v part=0 -v parts=1 -f "$root/test/bench/gen_log.sql" >/dev/null
q -v step=finish -f "$root/test/bench/gen_log.sql" >/dev/null
unset PGOPTIONS
q -c "VACUUM ANALYZE drivetribe.events"
n=$(q -c "SELECT count(*) FROM drivetribe.events")
step "$n events; first rebuild()"
q -c "SELECT drivetribe.rebuild()" >/dev/null
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() not empty after the first rebuild()"

# the drift: rebuild() must re-insert these rows in its phase 2
q <<'SQL'
SET drivetribe.allow_log_ddl = on;
DELETE FROM drivetribe.bumps;
DELETE FROM drivetribe.follows;
DELETE FROM drivetribe.comments;
DELETE FROM drivetribe.articles;
DELETE FROM drivetribe.users;
SQL
q <<'SQL'
-- a fingerprint of every table of the schema but the log and verify()'s
-- own history (verify_runs, 1.5)
CREATE FUNCTION public.fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; acc text := '';
BEGIN
  FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'drivetribe' AND c.relkind = 'r' AND c.relname NOT IN ('events', 'verify_runs')
            ORDER BY c.relname LOOP
    EXECUTE format('SELECT %L || '':'' || count(*) || '':'' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), '''') FROM drivetribe.%I t',
                   r.relname, r.relname) INTO STRICT r;
    acc := acc || r::text || ' ';
  END LOOP;
  RETURN md5(acc);
END $$;
SQL
before=$(q -c "SELECT public.fingerprint()")
diffs=$(q -c "SELECT count(*) FROM drivetribe.verify()")
[ "$diffs" -gt 1000 ] || fail "the drift made only $diffs differences"
step "drifted: $diffs differences"

# the session under test: psql reading statements from a fifo, so that it
# stays open (idle) after an error
open_session() {  # NAME
  mkfifo "$work/in"
  PGAPPNAME=$1 psql -X -d "$db" <"$work/in" >"$work/$1.out" 2>"$work/$1.err" &
  bg_pid=$!
  exec 3>"$work/in"
  echo "SET drivetribe.progress_interval = 200; SET client_min_messages = log; SET lock_timeout = '60s';" >&3
}
close_session() {
  echo '\q' >&3
  exec 3>&-
  wait "$bg_pid" || true
  bg_pid=
  rm -f "$work/in"
}
# the backend's query text, by application name
activity() { q -c "SELECT query FROM pg_stat_activity WHERE application_name = '$1'"; }
# wait (at most $3 s) until the session's query text matches the regexp $2
wait_activity() {  # NAME REGEXP SECONDS
  local deadline=$((SECONDS + $3)) a
  while [ $SECONDS -lt $deadline ]; do
    a=$(activity "$1")
    if [[ $a =~ $2 ]]; then echo "$a"; return 0; fi
    sleep 0.02
  done
  echo "last seen: $a" >&2
  return 1
}
# cancel the session's backend; wait until it is idle again
cancel() {  # NAME
  [ "$(q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$1'")" = t ] ||
    fail "pg_cancel_backend($1) did not signal"
  local deadline=$((SECONDS + 30))
  while [ "$(q -c "SELECT state FROM pg_stat_activity WHERE application_name = '$1'")" != idle ]; do
    [ $SECONDS -lt $deadline ] || fail "$1 not idle 30 s after the cancel: $(q -c "SELECT format('state %s, wait %s/%s, query %s', state, wait_event_type, wait_event, left(query, 200)) FROM pg_stat_activity WHERE application_name = '$1'")"
    sleep 0.05
  done
}

cancel_round() {  # LABEL FUNCTION_CALL REGEXP
  local label=$1 call=$2 re=$3 seen after
  open_session "$label"
  echo "$call" >&3
  seen=$(wait_activity "$label" "$re" 60) || fail "$label: pg_stat_activity never showed /$re/"
  step "$label: another session sees: $seen"
  cancel "$label"
  after=$(activity "$label")
  [ "$after" = "$call" ] || fail "$label: query text after the cancel is '$after', not '$call'"
  close_session
  grep -q 'ERROR:  canceling statement due to user request' "$work/$label.err" ||
    { cat "$work/$label.err"; fail "$label: no cancel error"; }
  grep -qE "LOG:  drivetribe\.[a-z]+\(\): started, phase 1 of 2: replaying the log, about [0-9,]+ events" "$work/$label.err" ||
    { cat "$work/$label.err"; fail "$label: no LOG line of the start"; }
  grep -qE "LOG:  drivetribe\.[a-z]+\(\): ended by an error, rolled back" "$work/$label.err" ||
    { cat "$work/$label.err"; fail "$label: no LOG line of the error"; }
  grep -q 'ERROR:  canceling statement due to user request' "$work/$label.err"
  [ "$(q -c "SELECT public.fingerprint()")" = "$before" ] || fail "$label: the projections changed"
  [ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = "$diffs" ] || fail "$label: verify() changed"
  step "$label: 57014, query text restored, projections unchanged ($diffs differences still)"
}

# the sqlstate of the cancel, once, with VERBOSITY verbose
open_session rebuild_sqlstate
echo '\set VERBOSITY verbose' >&3
echo "SELECT drivetribe.rebuild();" >&3
wait_activity rebuild_sqlstate '^drivetribe\.rebuild\(\): phase 1 of 2' 60 >/dev/null || fail "rebuild never showed phase 1"
cancel rebuild_sqlstate
close_session
grep -q 'ERROR:  57014: canceling statement due to user request' "$work/rebuild_sqlstate.err" ||
  { cat "$work/rebuild_sqlstate.err"; fail "the cancel is not 57014"; }

cancel_round rebuild_phase1 "SELECT drivetribe.rebuild();" \
  '^drivetribe\.rebuild\(\): phase 1 of 2, replaying the log: [0-9,]+ of [0-9,]+ events \([0-9.]+%\)'
cancel_round rebuild_phase2 "SELECT drivetribe.rebuild();" \
  '^drivetribe\.rebuild\(\): phase 2 of 2, correcting the projections \(([a-z]+)\): [1-9][0-9,]* of [0-9,]+ rows'
cancel_round verify "SELECT count(*) FROM drivetribe.verify();" \
  '^drivetribe\.verify\(\): phase [12] of 2, '

# ---------------------------------------------------------------- to the end
open_session rebuild_full
echo "SELECT drivetribe.rebuild();" >&3
wait_activity rebuild_full '^drivetribe\.rebuild\(\): phase 1 of 2' 60 >/dev/null || fail "rebuild never showed phase 1"
# a writer arrives: it waits for the log's lock; its blocker shows progress
PGAPPNAME=writer psql -X -q -At -d "$db" -c "SELECT drivetribe.register_user(900000001, 'waited') IS NOT NULL" \
  >"$work/writer.out" 2>&1 &
wpid=$!
blocker=
for _ in $(seq 1 500); do
  blocker=$(q -c "SELECT b.query FROM pg_stat_activity w, pg_stat_activity b
                   WHERE w.application_name = 'writer' AND b.pid = ANY (pg_blocking_pids(w.pid))")
  [ -n "$blocker" ] && break
  sleep 0.02
done
[[ $blocker =~ ^drivetribe\.rebuild\(\):\ phase\ [12]\ of\ 2 ]] || fail "the writer's blocker shows '$blocker'"
step "the waiting writer's blocker: $blocker"
wait "$wpid" || fail "the writer failed: $(cat "$work/writer.out")"
[ "$(cat "$work/writer.out")" = t ] || fail "the writer returned $(cat "$work/writer.out")"
close_session
grep -qE "^$n\$" <(grep -E '^ *[0-9]+$' "$work/rebuild_full.out" | tr -d ' ') ||
  { cat "$work/rebuild_full.out"; fail "rebuild() did not return $n"; }
grep -qE 'NOTICE:  drivetribe\.rebuild\(\): phase [12] of 2, [a-z ()]+: [0-9,]+ of [0-9,]+ (events|rows) \([0-9.]+%\), [0-9,]+ (events|rows)/s, [0-9]+ s$' \
  "$work/rebuild_full.err" || { cat "$work/rebuild_full.err"; fail "no progress NOTICE"; }
grep -qE "NOTICE:  drivetribe\.rebuild\(\): finished, $n events replayed, [0-9]+ rows corrected \([1-9][0-9]* inserted, 0 updated, 0 deleted\)" \
  "$work/rebuild_full.err" || { cat "$work/rebuild_full.err"; fail "no closing NOTICE"; }
grep -qE "LOG:  drivetribe\.rebuild\(\): finished, $n events replayed" "$work/rebuild_full.err" ||
  { cat "$work/rebuild_full.err"; fail "no LOG line of the end"; }
grep -E 'NOTICE:  drivetribe.rebuild\(\): (phase|finished)' "$work/rebuild_full.err" | sed 's/^/  | /' | tail -n 4
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() not empty after rebuild()"
[ "$(q -c "SELECT name FROM drivetribe.user_stats WHERE user_id = 900000001")" = waited ] || fail "the writer's user is missing"
step "ok"
