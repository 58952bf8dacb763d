# shellcheck shell=bash
# The stream tests' world, write mix and checks (sourced by test/e2e/stream.sh
# and the consume*.sh tests).

# stream_world_sql: 30 users, 4 tribes, 20 articles, a busy other table and
# public.random_call(a, b), one write call chosen by b (errors of the
# call's preconditions swallowed)
stream_world_sql() {
  cat <<'SQL'
CREATE EXTENSION drivetribe CASCADE;
SELECT drivetribe.register_user(u, 'user ' || u) FROM generate_series(1, 30) u;
SELECT drivetribe.create_tribe(t, t, 'tribe ' || t) FROM generate_series(1, 4) t;
SELECT drivetribe.post_article(a, a % 30 + 1, a % 4 + 1, 'article ' || a) FROM generate_series(1, 20) a;
CREATE SEQUENCE public.ids START 1000;
CREATE TABLE public.busy (id bigserial PRIMARY KEY, payload text);
CREATE FUNCTION public.random_call(a bigint, b bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  u bigint := a % 30 + 1;
  v bigint := b % 30 + 1;
  art bigint := a % 20 + 1;
BEGIN
  CASE b % 7
    WHEN 0 THEN PERFORM drivetribe.bump(art, u);
    WHEN 1 THEN PERFORM drivetribe.unbump(art, u);
    WHEN 2 THEN PERFORM drivetribe.view_article(art, u);
    WHEN 3 THEN PERFORM drivetribe.post_comment(nextval('public.ids'), art, u, 'comment ' || a);
    WHEN 4 THEN IF u <> v THEN PERFORM drivetribe.follow_user(u, v); END IF;
    WHEN 5 THEN PERFORM drivetribe.join_tribe(u, b % 4 + 1);
    ELSE PERFORM drivetribe.rename_user(u, 'user ' || u || ' ' || b);
  END CASE;
EXCEPTION WHEN object_not_in_prerequisite_state OR foreign_key_violation OR unique_violation THEN
  NULL;
END $$;
SQL
}

# stream_mix FILE: a pgbench script of two calls per transaction that
# commits (1/3), rolls back its second call's savepoint (1/3), or rolls
# back (1/3)
stream_mix() {
  cat >"$1" <<'B'
\set a random(1, 1000000)
\set b random(1, 1000000)
\set fate random(1, 3)
BEGIN;
SELECT public.random_call(:a, :b);
SAVEPOINT s;
SELECT public.random_call(:b, :a);
\if :fate = 2
ROLLBACK TO SAVEPOINT s;
\endif
\if :fate = 3
ROLLBACK;
\else
COMMIT;
\endif
B
}

# stream_delivered_vs_log TABLE BASE_SEQ: compares the objects in TABLE
# (column o jsonb) with the log's events after BASE_SEQ; prints
# "objects distinct_event_ids missing extra" (missing: committed events
# never in TABLE; extra: objects that are no committed event, or differ)
stream_delivered_vs_log() {
  q -F ' ' -c "
  SELECT count(*), count(DISTINCT o ->> 'event_id'),
         (SELECT count(*) FROM drivetribe.events e WHERE e.seq > $2
             AND NOT EXISTS (SELECT FROM $1 g WHERE (g.o ->> 'event_id')::uuid = e.event_id)),
         (SELECT count(*) FROM $1 g WHERE NOT EXISTS (
             SELECT FROM drivetribe.events e WHERE e.event_id = (g.o ->> 'event_id')::uuid
               AND e.seq = (g.o ->> 'seq')::bigint AND e.kind = g.o ->> 'kind'))
    FROM $1"
}

# stream_stop_supervised WORK SUPERVISOR_PID: end a kill loop's supervisor
# (a subshell that starts the consumer again while WORK/stop is missing and
# writes each one's PID to WORK/consumer.pid).  A single kill could miss a
# consumer the supervisor starts just then, which would run for ever: kill
# whatever consumer.pid names until the supervisor has ended (at most 10 s).
stream_stop_supervised() {
  local work=$1 supervisor=$2
  touch "$work/stop"
  for _ in $(seq 1 100); do
    kill -9 "$(cat "$work/consumer.pid" 2>/dev/null)" 2>/dev/null || true
    kill -0 "$supervisor" 2>/dev/null || break
    sleep 0.1
  done
  wait "$supervisor" 2>/dev/null || true
}
