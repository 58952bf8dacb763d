--
-- 83_log_ddl_guard: issue 8, item 3.  DDL that could rewrite the log or
-- remove its guards (the ALWAYS trigger events_are_immutable, the CHECK
-- events_valid) is refused with 42501 outside the extension's scripts,
-- even for the superuser who owns the log, and changes nothing.  The
-- documented override: SET LOCAL drivetribe.allow_log_ddl = on
-- (superuser only).  DDL on other tables is not affected.
--
\pset null NULL
-- (no CONTEXT lines: they carry PL/pgSQL line numbers)
\set SHOW_CONTEXT never
-- (a boolean, not the role's name: any superuser may run the suite)
SELECT rolsuper AS i_am_superuser FROM pg_roles WHERE rolname = current_user;
SELECT dt_mark() IS NOT NULL AS marked;

-- dt_log_guards(): what guards the log, from the catalog.
CREATE FUNCTION dt_log_guards() RETURNS TABLE (what text, state text)
LANGUAGE sql AS $$
  SELECT 'relation', c.oid::regclass::text || ' owned by me ' || (pg_get_userbyid(c.relowner) = current_user)
         || ' persistence ' || c.relpersistence::text || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
    FROM pg_class c WHERE c.oid = 'drivetribe.events'::regclass
  UNION ALL
  SELECT 'columns', string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = 'drivetribe.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'trigger ' || t.tgname, 'enabled ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t WHERE t.tgrelid = 'drivetribe.events'::regclass AND NOT t.tgisinternal
  UNION ALL
  SELECT 'constraint ' || k.conname, 'validated ' || k.convalidated
    FROM pg_constraint k WHERE k.conrelid = 'drivetribe.events'::regclass
  UNION ALL
  SELECT 'rules', count(*)::text FROM pg_rewrite r WHERE r.ev_class = 'drivetribe.events'::regclass
  UNION ALL
  SELECT 'policies', count(*)::text FROM pg_policy p WHERE p.polrelid = 'drivetribe.events'::regclass
  UNION ALL
  SELECT 'sequence', s.seqrelid::regclass::text || ' start ' || s.seqstart || ' increment ' || s.seqincrement
         || ' min ' || s.seqmin || ' cycle ' || s.seqcycle
    FROM pg_sequence s WHERE s.seqrelid = 'drivetribe.event_seq'::regclass
  UNION ALL
  SELECT 'event trigger ' || e.evtname, e.evtevent || ' enabled ' || (e.evtenabled <> 'D')
    FROM pg_event_trigger e WHERE e.evtname LIKE 'drivetribe%'
$$;
SELECT * FROM dt_log_guards() ORDER BY what;
CREATE TABLE dt_guards_before AS SELECT * FROM dt_log_guards();
SELECT last_value AS seq_last_value FROM drivetribe.event_seq \gset
CREATE FUNCTION dt_noop_trigger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RETURN NEW; END $$;

-- Refused, whoever runs it (here the superuser who owns the log).
-- Rewriting history through a column's type: refused.
ALTER TABLE drivetribe.events ALTER COLUMN body TYPE text
  USING CASE WHEN kind = 'user_renamed' THEN 'rewritten' ELSE body END;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- (the rest without DETAIL and HINT, which are the same every time)
\set VERBOSITY terse
-- (a rewrite into rows that are no events already fails on the check
-- while the table is rewritten; the message names the first such row)
\set VERBOSITY sqlstate
ALTER TABLE drivetribe.events ALTER COLUMN body TYPE text USING 'x';
\set VERBOSITY terse
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events DISABLE TRIGGER ALL;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events DISABLE TRIGGER USER;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- (ENABLE would turn the ALWAYS trigger into one that replica mode skips)
ALTER TABLE drivetribe.events ENABLE TRIGGER events_are_immutable;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events ENABLE REPLICA TRIGGER events_are_immutable;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events DROP CONSTRAINT events_valid;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events DROP CONSTRAINT events_event_id_key;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
CREATE RULE dt_swallow AS ON INSERT TO drivetribe.events DO INSTEAD NOTHING;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
CREATE RULE dt_swallow AS ON DELETE TO drivetribe.events DO INSTEAD NOTHING;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
CREATE TRIGGER dt_rewrite BEFORE INSERT ON drivetribe.events
  FOR EACH ROW EXECUTE FUNCTION dt_noop_trigger();
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
DROP TRIGGER events_are_immutable ON drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TRIGGER events_are_immutable ON drivetribe.events RENAME TO dt_renamed;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events ENABLE ROW LEVEL SECURITY;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events FORCE ROW LEVEL SECURITY;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
CREATE POLICY dt_hide ON drivetribe.events USING (false);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER SEQUENCE drivetribe.event_seq RESTART;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER SEQUENCE drivetribe.event_seq INCREMENT BY -1 MINVALUE -100;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events ADD COLUMN dt_extra int;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events ALTER COLUMN seq DROP DEFAULT;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events RENAME COLUMN body TO dt_body;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events SET UNLOGGED;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
ALTER TABLE drivetribe.events OWNER TO pg_monitor;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- dropping a rule or a policy on the log is refused too (made here with
-- the override, which is then switched off again; rolled back)
BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
CREATE RULE dt_swallow AS ON INSERT TO drivetribe.events DO INSTEAD NOTHING;
CREATE POLICY dt_hide ON drivetribe.events USING (false);
SET LOCAL drivetribe.allow_log_ddl = off;
SAVEPOINT s;
DROP RULE dt_swallow ON drivetribe.events;
\echo sqlstate :SQLSTATE
ROLLBACK TO SAVEPOINT s;
DROP POLICY dt_hide ON drivetribe.events;
\echo sqlstate :SQLSTATE
ROLLBACK TO SAVEPOINT s;
ALTER POLICY dt_hide ON drivetribe.events USING (true);
\echo sqlstate :SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS rules_in_this_transaction FROM pg_rewrite WHERE ev_class = 'drivetribe.events'::regclass;
ROLLBACK;
\set VERBOSITY default

-- Every guard is intact: the catalog as before, the sequence not reset.
SELECT * FROM dt_log_guards() EXCEPT SELECT * FROM dt_guards_before ORDER BY 1;
SELECT * FROM dt_guards_before EXCEPT SELECT * FROM dt_log_guards() ORDER BY 1;
SELECT last_value = :seq_last_value AS sequence_unchanged FROM drivetribe.event_seq;
SELECT dt_unchanged() AS unchanged;
-- ... and still guard: the log cannot be changed, a malformed row cannot
-- get in (terse: the messages are those of 80_immutability and 82).
\set VERBOSITY terse
DELETE FROM drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SET session_replication_role = replica;
UPDATE drivetribe.events SET body = 'rewritten' WHERE body IS NOT NULL;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
RESET session_replication_role;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000101, 'e8300000-0000-4000-8000-000000000001', 'user_renamed', now(), 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
\set VERBOSITY default

-- The override: a superuser sets drivetribe.allow_log_ddl for one
-- transaction, and DDL on the log goes through (rolled back here).
SHOW drivetribe.allow_log_ddl;
BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
ALTER TABLE drivetribe.events ADD COLUMN dt_extra int;
SELECT count(*) AS dt_extra_columns FROM pg_attribute
WHERE attrelid = 'drivetribe.events'::regclass AND attname = 'dt_extra';
ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable;
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'drivetribe.events'::regclass AND tgname = 'events_are_immutable';
ROLLBACK;
-- ... for that transaction only
SHOW drivetribe.allow_log_ddl;
\set VERBOSITY terse
ALTER TABLE drivetribe.events ADD COLUMN dt_extra int;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
\set VERBOSITY default
SELECT * FROM dt_log_guards() EXCEPT SELECT * FROM dt_guards_before ORDER BY 1;
SELECT * FROM dt_guards_before EXCEPT SELECT * FROM dt_log_guards() ORDER BY 1;
-- Only a superuser can set it.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_ddl;
RESET client_min_messages;
CREATE ROLE regress_dt_ddl;
SET ROLE regress_dt_ddl;
SET drivetribe.allow_log_ddl = on;
SELECT :'SQLSTATE' AS sqlstate;
BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
ROLLBACK;
SHOW drivetribe.allow_log_ddl;
RESET ROLE;
DROP ROLE regress_dt_ddl;

-- DDL on other tables and sequences is not affected.
CREATE TABLE public.dt_ddl_other (a int);
ALTER TABLE public.dt_ddl_other ADD COLUMN b text;
ALTER TABLE public.dt_ddl_other ALTER COLUMN b TYPE varchar(10) USING 'x';
CREATE TRIGGER dt_other_trigger BEFORE INSERT ON public.dt_ddl_other
  FOR EACH ROW EXECUTE FUNCTION dt_noop_trigger();
ALTER TABLE public.dt_ddl_other DISABLE TRIGGER ALL;
CREATE RULE dt_other_rule AS ON DELETE TO public.dt_ddl_other DO INSTEAD NOTHING;
ALTER TABLE public.dt_ddl_other ENABLE ROW LEVEL SECURITY;
CREATE POLICY dt_other_policy ON public.dt_ddl_other USING (true);
DROP POLICY dt_other_policy ON public.dt_ddl_other;
DROP RULE dt_other_rule ON public.dt_ddl_other;
DROP TRIGGER dt_other_trigger ON public.dt_ddl_other;
ALTER TABLE public.dt_ddl_other RENAME TO dt_ddl_other2;
CREATE SEQUENCE public.dt_ddl_seq;
ALTER SEQUENCE public.dt_ddl_seq RESTART WITH 5;
SELECT nextval('public.dt_ddl_seq') AS nextval;
DROP SEQUENCE public.dt_ddl_seq;
DROP TABLE public.dt_ddl_other2;

-- Clean up.
DROP TABLE dt_guards_before;
DROP FUNCTION dt_noop_trigger();
DROP FUNCTION dt_log_guards();
SELECT dt_unchanged() AS unchanged;
SELECT * FROM drivetribe.verify();
