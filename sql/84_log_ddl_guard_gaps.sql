--
-- 84_log_ddl_guard_gaps: issue 8, item 3, the ways around the DDL guard
-- (and the guard's cost for everyone else) found while writing
-- 83_log_ddl_guard.  Every attempt runs in a subtransaction that is always
-- rolled back, so this file leaves the log as it found it whatever the
-- guard does.
--   * the guard is an event trigger enabled for origin sessions only:
--     with session_replication_role = replica (which 80_immutability shows
--     does not switch off the append-only trigger) it does not run at all,
--     so DISABLE TRIGGER, and then DELETE, go through;
--   * renaming the log or its sequence, or moving it to another schema,
--     is not refused (the guard finds the log by name after the command),
--     and then nothing guards it any more;
--   * a role without USAGE on schema drivetribe can run no DDL at all in
--     the database, not even CREATE TEMP TABLE: the guard function runs as
--     that role and resolves drivetribe names.
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- dt_ddl_try(statements): run them in order, as the current role, in a
-- subtransaction that is always rolled back; 'ALLOWED' when all
-- succeeded, else the SQLSTATE of the first that failed.
CREATE FUNCTION dt_ddl_try(VARIADIC stmts text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  s text;
BEGIN
  BEGIN
    FOREACH s IN ARRAY stmts LOOP
      EXECUTE s;
    END LOOP;
    RAISE EXCEPTION 'dt_ddl_try: allowed';
  EXCEPTION WHEN OTHERS THEN
    IF SQLERRM = 'dt_ddl_try: allowed' THEN
      RETURN 'ALLOWED';
    END IF;
    RETURN SQLSTATE;
  END;
END
$$;

-- DDL on the log in replica mode: refused like in origin mode.
SELECT dt_ddl_try('SET LOCAL session_replication_role = replica',
                  'ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable') AS disable_trigger;
SELECT dt_ddl_try('SET LOCAL session_replication_role = replica',
                  'ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable',
                  'DELETE FROM drivetribe.events') AS disable_trigger_then_delete;
SELECT dt_ddl_try('SET LOCAL session_replication_role = replica',
                  'ALTER TABLE drivetribe.events DROP CONSTRAINT events_valid') AS drop_check;
SELECT dt_ddl_try('SET LOCAL session_replication_role = replica',
                  'DROP TRIGGER events_are_immutable ON drivetribe.events') AS drop_trigger;
SELECT dt_ddl_try('SET LOCAL session_replication_role = replica',
                  'CREATE RULE dt_swallow AS ON INSERT TO drivetribe.events DO INSTEAD NOTHING') AS create_rule;
SELECT dt_ddl_try('SET LOCAL session_replication_role = replica',
                  'ALTER SEQUENCE drivetribe.event_seq RESTART') AS restart_sequence;
SELECT dt_ddl_try('SET LOCAL session_replication_role = local',
                  'ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable') AS disable_trigger_local;

-- Renaming or moving the log or its sequence: refused, and the guard
-- still holds for the next command.
SELECT dt_ddl_try('ALTER TABLE drivetribe.events RENAME TO dt_renamed') AS rename_log;
SELECT dt_ddl_try('ALTER TABLE drivetribe.events RENAME TO dt_renamed',
                  'ALTER TABLE drivetribe.dt_renamed DISABLE TRIGGER events_are_immutable') AS rename_then_disable;
SELECT dt_ddl_try('ALTER TABLE drivetribe.events SET SCHEMA public') AS move_log;
SELECT dt_ddl_try('ALTER TABLE drivetribe.events SET SCHEMA public',
                  'ALTER TABLE public.events DROP CONSTRAINT events_valid') AS move_then_drop_check;
SELECT dt_ddl_try('ALTER SEQUENCE drivetribe.event_seq RENAME TO dt_renamed_seq') AS rename_sequence;
SELECT dt_ddl_try('ALTER SEQUENCE drivetribe.event_seq RENAME TO dt_renamed_seq',
                  'ALTER SEQUENCE drivetribe.dt_renamed_seq RESTART') AS rename_then_restart;

-- A role without any privilege on the extension runs DDL on its own
-- objects as before.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_plain;
RESET client_min_messages;
CREATE ROLE regress_dt_plain;
CREATE SCHEMA regress_dt_plain_s AUTHORIZATION regress_dt_plain;
SET ROLE regress_dt_plain;
SELECT dt_ddl_try('CREATE TEMP TABLE dt_tmp (a int)') AS create_temp_table;
SELECT dt_ddl_try('CREATE TABLE regress_dt_plain_s.t (a int)') AS create_table;
SELECT dt_ddl_try('CREATE TABLE regress_dt_plain_s.t (a int)',
                  'ALTER TABLE regress_dt_plain_s.t ADD COLUMN b int',
                  'CREATE INDEX ON regress_dt_plain_s.t (b)',
                  'DROP TABLE regress_dt_plain_s.t') AS alter_and_drop_table;
SELECT dt_ddl_try('CREATE FUNCTION regress_dt_plain_s.f() RETURNS int LANGUAGE sql AS ''SELECT 1''') AS create_function;
SELECT dt_ddl_try('CREATE VIEW regress_dt_plain_s.v AS SELECT 1 AS one') AS create_view;
RESET ROLE;
DROP SCHEMA regress_dt_plain_s CASCADE;
DROP ROLE regress_dt_plain;

-- Nothing changed.
DROP FUNCTION dt_ddl_try(text[]);
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'drivetribe.events'::regclass AND tgname = 'events_are_immutable';
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = 'drivetribe.events'::regclass AND conname = 'events_valid';
SELECT dt_unchanged() AS unchanged;
