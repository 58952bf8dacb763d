--
-- 84_log_ddl_guard_inherit (1.7, issue 18 item 11): the last two ways
-- around the log's guard, for the superuser who owns it.
--   * A table that inherits from the log (CREATE TABLE ... INHERITS, ALTER
--     TABLE ... INHERIT): its rows read as events of the log, can be
--     updated and deleted, and never reach the stream.  Refused with 42501
--     unless drivetribe.allow_log_ddl is on; and every read of the
--     extension reads ONLY drivetribe.events, so a child made with the
--     setting on (or before 1.7) is no part of the log: verify() and
--     read_log() do not see its rows.
--   * setval('drivetribe.event_seq', ...) back into the log's range: a
--     function call, not DDL, so no event trigger sees it.  The appends it
--     would cause are refused (55000): an event is appended only when its
--     new seq exceeds every seq in the log, so no seq is ever reused and
--     none goes behind the high-water mark.
--
\pset null NULL
\set SHOW_CONTEXT never
SELECT dt_mark() IS NOT NULL AS marked;

-- dt_try(statements): run them in order in a subtransaction that is
-- always rolled back; 'ALLOWED' when all succeeded, else the SQLSTATE of
-- the first that failed.
CREATE FUNCTION pg_temp.dt_try(VARIADIC stmts text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  s text;
BEGIN
  BEGIN
    FOREACH s IN ARRAY stmts LOOP
      EXECUTE s;
    END LOOP;
    RAISE EXCEPTION 'dt_try: allowed';
  EXCEPTION WHEN OTHERS THEN
    IF SQLERRM = 'dt_try: allowed' THEN
      RETURN 'ALLOWED';
    END IF;
    RETURN SQLSTATE;
  END;
END
$$;

------------------------------------------------------------------------
-- Inheriting from the log: refused.
------------------------------------------------------------------------
CREATE TABLE public.dt_child () INHERITS (drivetribe.events);
SELECT :'SQLSTATE' AS sqlstate;
\set VERBOSITY terse
CREATE TABLE public.dt_child (extra int) INHERITS (drivetribe.events);
-- a table shaped like the log, then made its child
CREATE TABLE public.dt_lookalike (LIKE drivetribe.events INCLUDING CONSTRAINTS);
ALTER TABLE public.dt_lookalike INHERIT drivetribe.events;
\set VERBOSITY default
SELECT pg_temp.dt_try('CREATE TEMP TABLE dt_child_tmp () INHERITS (drivetribe.events)') AS temp_child,
       pg_temp.dt_try('SET LOCAL session_replication_role = replica',
                      'CREATE TABLE public.dt_child () INHERITS (drivetribe.events)') AS replica_child;
SELECT count(*) AS children FROM pg_inherits WHERE inhparent = 'drivetribe.events'::regclass;
-- and what stays allowed: a copy of the shape, a child leaving
SELECT pg_temp.dt_try('CREATE TABLE public.dt_copy (LIKE drivetribe.events INCLUDING ALL)') AS like_copy;
DROP TABLE public.dt_lookalike;
SELECT dt_unchanged() AS unchanged;

------------------------------------------------------------------------
-- With allow_log_ddl (rolled back): the child exists, its row is no event.
------------------------------------------------------------------------
BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
CREATE TABLE public.dt_child () INHERITS (drivetribe.events);
RESET drivetribe.allow_log_ddl;
SELECT max(seq) + 1000 AS ghost_seq FROM drivetribe.events \gset
INSERT INTO public.dt_child (seq, event_id, kind, occurred_at, user_id, body, context)
VALUES (:ghost_seq, '00000000-0000-4000-8000-000000000084', 'user_registered', now(), 84084,
        'Ghost', '{"user_name": "Ghost"}');
-- PostgreSQL's own reading of the parent includes it ...
SELECT count(*) AS ghost_rows_in_a_plain_select FROM drivetribe.events WHERE user_id = 84084;
-- ... the extension's reads do not
SELECT * FROM drivetribe.verify();
SELECT count(*) AS ghost_rows_in_read_log FROM drivetribe.read_log('0', 0, 10000) WHERE user_id = 84084;
SELECT value = (SELECT max(seq)::text FROM ONLY drivetribe.events) AS status_last_seq_is_the_logs
  FROM drivetribe.status WHERE area = 'log' AND item = 'last seq';
-- and the guard still holds for the next DDL without the setting
SELECT pg_temp.dt_try('ALTER TABLE public.dt_child NO INHERIT drivetribe.events') AS leaving_is_allowed,
       pg_temp.dt_try('CREATE TABLE public.dt_child2 () INHERITS (drivetribe.events)') AS another_child;
ROLLBACK;
SELECT dt_unchanged() AS unchanged;

------------------------------------------------------------------------
-- The sequence moved back: appends refused, nothing reused.
------------------------------------------------------------------------
-- a gap in the log: a rolled-back append keeps its seq
BEGIN;
SELECT drivetribe.register_user(8401, 'Rolled back') IS NOT NULL AS appended;
ROLLBACK;
SELECT last_value AS gap_seq FROM drivetribe.event_seq \gset
SELECT drivetribe.register_user(8402, 'After the gap') > :gap_seq AS appended_after_the_gap;
SELECT dt_mark() IS NOT NULL AS marked;
-- back into the gap (the next append would take it), and back to the start
SELECT setval('drivetribe.event_seq', :gap_seq - 1) = :gap_seq - 1 AS moved_back;
SELECT drivetribe.register_user(8403, 'Behind the high-water mark');
SELECT dt_unchanged() AS unchanged;
SELECT setval('drivetribe.event_seq', 1) = 1 AS moved_back;
\set VERBOSITY terse
SELECT drivetribe.register_user(8403, 'Reusing seq 2');
\set VERBOSITY sqlstate
SELECT drivetribe.create_tribe(8404, 8402, 'Behind');
\set VERBOSITY default
SELECT dt_unchanged() AS unchanged;
SELECT count(*) AS seqs_not_above_the_gap FROM drivetribe.events WHERE seq < :gap_seq AND user_id = 8403;
-- the hint's repair, pasted: appends work again, after every seq
SELECT pg_catalog.setval('drivetribe.event_seq', (SELECT pg_catalog.max(e.seq) FROM ONLY drivetribe.events e)) > :gap_seq AS repaired;
SELECT drivetribe.register_user(8403, 'After the repair') > :gap_seq AS appended_after_every_seq;
SELECT count(*) AS events_at_the_gap FROM drivetribe.events WHERE seq = :gap_seq;
SELECT * FROM drivetribe.verify();

------------------------------------------------------------------------
-- A child made under 1.6 (which allowed it): the update to 1.7 warns, and
-- from then on its rows are no events.
------------------------------------------------------------------------
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_guard_inherit;
RESET client_min_messages;
CREATE DATABASE dt_guard_inherit;
\c dt_guard_inherit
\set SHOW_CONTEXT never
CREATE EXTENSION drivetribe VERSION '1.6';
SELECT drivetribe.register_user(1, 'alice') IS NOT NULL AS appended;
CREATE TABLE public.dt_child () INHERITS (drivetribe.events);
INSERT INTO public.dt_child (seq, event_id, kind, occurred_at, user_id, body, context)
VALUES (1000, '00000000-0000-4000-8000-000000000085', 'user_registered', now(), 2,
        'Ghost', '{"user_name": "Ghost"}');
ALTER EXTENSION drivetribe UPDATE TO '1.7';
SELECT * FROM drivetribe.verify();
SELECT drivetribe.rebuild() AS replayed;
SELECT count(*) AS users FROM drivetribe.user_stats;
SELECT body FROM drivetribe.read_log();
\c :orig_db
SET client_min_messages = warning;
DROP DATABASE dt_guard_inherit;
RESET client_min_messages;
