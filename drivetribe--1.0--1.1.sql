/* drivetribe--1.0--1.1.sql: robustness (issue "Never escalate, never crash,
 * never show a half-built projection").  A fresh CREATE EXTENSION runs
 * drivetribe--1.0.sql and then this script, so a new install and an
 * upgraded one are the same. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------
-- 1. Every event row is validated when it is inserted, by the write API
-- or by anyone else (the owner, pg_restore's COPY): a CHECK constraint
-- whose C function raises check_violation naming the seq, the kind and
-- what is wrong.  Constraints are not switched off by
-- session_replication_role, and DDL that would drop it is refused (4).
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.event_is_valid(seq bigint, kind text,
                                          user_id bigint, tribe_id bigint,
                                          article_id bigint, comment_id bigint,
                                          target_id bigint, recipient_id bigint,
                                          body text, context jsonb)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'drivetribe_event_is_valid';
COMMENT ON FUNCTION drivetribe.event_is_valid(bigint, text, bigint, bigint, bigint, bigint, bigint, bigint, text, jsonb) IS
  'internal: the CHECK of drivetribe.events; true, or an error (23514) saying what is wrong with the row';

-- Added NOT VALID, then validated here: a 1.0 log that already holds a
-- malformed row (only its owner could have inserted one) still upgrades,
-- with a WARNING naming the row; new rows are checked either way, and
-- verify()/rebuild() report such a row as data_corrupted.
ALTER TABLE drivetribe.events
  ADD CONSTRAINT events_valid CHECK (drivetribe.event_is_valid(
        seq, kind, user_id, tribe_id, article_id, comment_id, target_id,
        recipient_id, body, context)) NOT VALID;
-- events_valid checks the kind too: 1.0's events_kind_check (an IN list
-- of 16 strings, whose stored expression every INSERT statement re-read)
-- has nothing left to say.
ALTER TABLE drivetribe.events DROP CONSTRAINT events_kind_check;
DO $$
BEGIN
  ALTER TABLE drivetribe.events VALIDATE CONSTRAINT events_valid;
EXCEPTION WHEN check_violation THEN
  RAISE WARNING 'drivetribe.events holds a malformed row; constraint events_valid stays NOT VALID'
    USING DETAIL = SQLERRM,
          HINT = 'verify() and rebuild() will report the row as data_corrupted.';
END
$$;

------------------------------------------------------------------------
-- 2. Idempotency keys of calls that changed nothing.  A call that
-- appended an event is remembered by the log itself (events.event_id);
-- a no-op (NULL) call with an event_id is remembered here, so that its
-- retry returns NULL again instead of acting on newer state.  Kept for
-- drivetribe.idempotency_retention (default 1 day), pruned by the
-- maintenance job drivetribe-prune-noop-calls.
------------------------------------------------------------------------
CREATE TABLE drivetribe.noop_calls (
    event_id   uuid        NOT NULL,
    kind       text        NOT NULL,  -- the event kind the call would have appended
    user_id    bigint,                -- the call's arguments, as an event's fields
    tribe_id   bigint,
    article_id bigint,
    comment_id bigint,
    target_id  bigint,
    body       text,
    called_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT noop_calls_pkey PRIMARY KEY (event_id)
);
CREATE INDEX noop_calls_called_at_idx ON drivetribe.noop_calls (called_at);
COMMENT ON TABLE drivetribe.noop_calls IS
  'idempotency keys of write calls that changed nothing (returned NULL), kept for drivetribe.idempotency_retention';
SELECT pg_catalog.pg_extension_config_dump('drivetribe.noop_calls', '');

CREATE FUNCTION drivetribe.prune_noop_calls()
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_prune_noop_calls';
COMMENT ON FUNCTION drivetribe.prune_noop_calls() IS
  'delete idempotency keys of no-op calls older than drivetribe.idempotency_retention; returns how many';

------------------------------------------------------------------------
-- 3. Maintenance jobs that no search_path can hijack.  pg_cron runs a
-- job's command as the role that scheduled it (a superuser), with the
-- default search_path: each command is now a single call of a
-- schema-qualified function whose own search_path is pinned, so no
-- operator, cast or function of another schema takes part.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.run_maintenance(job text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF job OPERATOR(pg_catalog.=) 'verify' THEN
    IF EXISTS (SELECT FROM drivetribe.verify()) THEN
      RAISE EXCEPTION 'drivetribe.verify() found differences'
        USING ERRCODE = 'data_corrupted',
              HINT = 'Run SELECT * FROM drivetribe.verify() to see them and drivetribe.rebuild() to repair them.';
    END IF;
  ELSIF job OPERATOR(pg_catalog.=) 'prune-noop-calls' THEN
    PERFORM drivetribe.prune_noop_calls();
  ELSIF job OPERATOR(pg_catalog.=) 'prune-cron-history' THEN
    -- only this extension's jobs; cron.job.jobname is of type name:
    -- compared as text with pg_catalog's operator
    DELETE FROM cron.job_run_details d
     WHERE d.end_time OPERATOR(pg_catalog.<)
           (pg_catalog.now() OPERATOR(pg_catalog.-) '14 days'::pg_catalog.interval)
       AND d.jobid OPERATOR(pg_catalog.=) ANY (
           SELECT j.jobid FROM cron.job j
            WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                  SELECT m.jobname FROM drivetribe.maintenance_jobs() m));
  ELSE
    RAISE EXCEPTION 'unknown drivetribe maintenance job "%"', job
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.run_maintenance(text) IS
  'internal: the body of one pg_cron job of schedule_maintenance() (verify, prune-noop-calls, prune-cron-history)';

CREATE OR REPLACE FUNCTION drivetribe.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  VALUES
    ('drivetribe-verify', '17 3 * * *',
     'SELECT drivetribe.run_maintenance(''verify'')'),
    ('drivetribe-prune-noop-calls', '29 * * * *',
     'SELECT drivetribe.run_maintenance(''prune-noop-calls'')'),
    ('drivetribe-prune-cron-history', '41 4 * * *',
     'SELECT drivetribe.run_maintenance(''prune-cron-history'')')
$fn$;

CREATE OR REPLACE FUNCTION drivetribe.require_pg_cron()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e
                  WHERE e.extname::pg_catalog.text OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Preload pg_cron (shared_preload_libraries), set cron.database_name to this database, and CREATE EXTENSION pg_cron.';
  END IF;
END
$$;

-- pg_cron keys a job name by the user who scheduled it: the extension's
-- jobs are found by name whoever scheduled them (another superuser, the
-- one who ran an older version), and changed or removed by job id.
CREATE OR REPLACE FUNCTION drivetribe.schedule_maintenance()
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job record;
  existing record;
  found_one boolean;
BEGIN
  PERFORM drivetribe.require_pg_cron();
  FOR job IN SELECT * FROM drivetribe.maintenance_jobs() LOOP
    found_one := false;
    FOR existing IN SELECT j.jobid FROM cron.job j
                     WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) job.jobname
                     ORDER BY j.jobid LOOP
      PERFORM cron.alter_job(existing.jobid, schedule => job.schedule,
                             command => job.command);
      found_one := true;
      RETURN NEXT existing.jobid;
    END LOOP;
    IF NOT found_one THEN
      RETURN NEXT cron.schedule(job.jobname, job.schedule, job.command);
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION drivetribe.unschedule_maintenance()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  removed bigint := 0;
  job record;
BEGIN
  PERFORM drivetribe.require_pg_cron();
  FOR job IN SELECT j.jobid FROM cron.job j
              WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                    SELECT m.jobname FROM drivetribe.maintenance_jobs() m) LOOP
    PERFORM cron.unschedule(job.jobid);
    removed := removed OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN removed;
END
$$;

-- Jobs registered by 1.0 carry commands that a search_path can hijack:
-- re-register every job of the extension with the new commands.
DO $$
BEGIN
  -- (nested: cron.job is only parsed where pg_cron is installed)
  IF EXISTS (SELECT FROM pg_catalog.pg_extension e
              WHERE e.extname::pg_catalog.text OPERATOR(pg_catalog.=) 'pg_cron') THEN
    IF EXISTS (SELECT FROM cron.job j
                WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                      ARRAY['drivetribe-verify', 'drivetribe-prune-cron-history'])) THEN
      PERFORM drivetribe.schedule_maintenance();
    END IF;
  END IF;
END
$$;

------------------------------------------------------------------------
-- 4. DDL that could rewrite or unguard the log is refused outside the
-- extension's own scripts: ALTER TABLE of drivetribe.events (column
-- types, DISABLE TRIGGER, dropping the CHECK, row level security, ...),
-- ALTER SEQUENCE of its sequence, and creating, altering or dropping a
-- trigger, rule or policy on it.  A superuser who means it sets
-- drivetribe.allow_log_ddl = on for that transaction (SET LOCAL).
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.guard_log_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- The log and its sequence by identity, not by name (a rename must not
  -- lose them): the first two relations the 1.0 script marked with
  -- pg_extension_config_dump, which a dump and restore marks again.  Only
  -- catalogs are read, so any role's DDL passes through here.
  config pg_catalog.oid[] := (SELECT e.extconfig FROM pg_catalog.pg_extension e
                               WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name);
  log_oid pg_catalog.oid := config[1];
  seq_oid pg_catalog.oid := config[2];
  cmd record;
BEGIN
  IF log_oid IS NULL
     OR pg_catalog.current_setting('drivetribe.allow_log_ddl', true) OPERATOR(pg_catalog.=) 'on' THEN
    RETURN;
  END IF;
  IF TG_EVENT OPERATOR(pg_catalog.=) 'table_rewrite' THEN
    -- refuse before the rewrite, not after it
    IF pg_catalog.pg_event_trigger_table_rewrite_oid() OPERATOR(pg_catalog.=) log_oid THEN
      RAISE EXCEPTION 'rewriting drivetribe.events is not allowed: it is the append-only source of truth'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'DDL could rewrite the log or remove its guards (the append-only trigger, the events_valid check).',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END IF;
  ELSIF TG_EVENT OPERATOR(pg_catalog.=) 'ddl_command_end' THEN
    FOR cmd IN
      SELECT c.command_tag, c.object_identity
        FROM pg_catalog.pg_event_trigger_ddl_commands() c
       WHERE NOT c.in_extension
         AND c.command_tag OPERATOR(pg_catalog.<>) ALL (ARRAY['COMMENT', 'GRANT', 'REVOKE', 'SECURITY LABEL'])
         AND (c.objid OPERATOR(pg_catalog.=) ANY (ARRAY[log_oid, seq_oid])
              OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_trigger t
                               WHERE t.oid OPERATOR(pg_catalog.=) c.objid
                                 AND t.tgrelid OPERATOR(pg_catalog.=) log_oid))
              OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_rewrite r
                               WHERE r.oid OPERATOR(pg_catalog.=) c.objid
                                 AND r.ev_class OPERATOR(pg_catalog.=) log_oid))
              OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_policy p
                               WHERE p.oid OPERATOR(pg_catalog.=) c.objid
                                 AND p.polrelid OPERATOR(pg_catalog.=) log_oid)))
    LOOP
      RAISE EXCEPTION '% % is not allowed: drivetribe.events is the append-only source of truth',
                      cmd.command_tag, cmd.object_identity
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'DDL could rewrite the log or remove its guards (the append-only trigger, the events_valid check).',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END LOOP;
  ELSIF TG_EVENT OPERATOR(pg_catalog.=) 'sql_drop' THEN
    FOR cmd IN
      SELECT d.object_type, d.object_identity
        FROM pg_catalog.pg_event_trigger_dropped_objects() d
       WHERE d.original
         AND d.object_type OPERATOR(pg_catalog.=) ANY (ARRAY['trigger', 'rule', 'policy', 'table constraint'])
         AND EXISTS (SELECT FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) log_oid
                        AND d.address_names[2] OPERATOR(pg_catalog.=) c.relname::pg_catalog.text
                        AND d.address_names[1] OPERATOR(pg_catalog.=)
                            (SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n
                              WHERE n.oid OPERATOR(pg_catalog.=) c.relnamespace))
    LOOP
      RAISE EXCEPTION 'dropping % % is not allowed: drivetribe.events is the append-only source of truth',
                      cmd.object_type, cmd.object_identity
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END LOOP;
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.guard_log_ddl() IS
  'internal: event trigger refusing DDL that could rewrite or unguard drivetribe.events';

CREATE EVENT TRIGGER drivetribe_guard_log_ddl ON ddl_command_end
  EXECUTE FUNCTION drivetribe.guard_log_ddl();
CREATE EVENT TRIGGER drivetribe_guard_log_drop ON sql_drop
  EXECUTE FUNCTION drivetribe.guard_log_ddl();
CREATE EVENT TRIGGER drivetribe_guard_log_rewrite ON table_rewrite
  EXECUTE FUNCTION drivetribe.guard_log_ddl();
-- also under session_replication_role = replica (or local)
ALTER EVENT TRIGGER drivetribe_guard_log_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER drivetribe_guard_log_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER drivetribe_guard_log_rewrite ENABLE ALWAYS;

------------------------------------------------------------------------
-- 5. Small ones: has_bumped(NULL, x) is NULL, not false.
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION drivetribe.has_bumped(article_id bigint, user_id bigint)
RETURNS boolean
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (
    SELECT FROM drivetribe.bumps b
      JOIN drivetribe.articles a ON a.article_id OPERATOR(pg_catalog.=) b.article_id
     WHERE b.article_id OPERATOR(pg_catalog.=) $1
       AND b.user_id OPERATOR(pg_catalog.=) $2
       AND NOT a.deleted)
$$;

------------------------------------------------------------------------
-- Least privilege for what this version added.
------------------------------------------------------------------------
REVOKE ALL ON FUNCTION drivetribe.event_is_valid(bigint, text, bigint, bigint, bigint, bigint, bigint, bigint, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.prune_noop_calls() FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.run_maintenance(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.guard_log_ddl() FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.noop_calls FROM PUBLIC;
