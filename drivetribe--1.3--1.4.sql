/* drivetribe--1.3--1.4.sql: the stream (issue 11) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.4'" to load this file. \quit

------------------------------------------------------------------------
-- The output plugin lives in the extension's library (src/stream_output.c)
-- and needs no SQL object:
--   SELECT pg_create_logical_replication_slot('notify', 'drivetribe');
-- What follows keeps its slots moving and shows them to operators.
------------------------------------------------------------------------

-- A heartbeat: a transactional logical message that the drivetribe plugin
-- turns into {"heartbeat":true,"lsn":...}.  A consumer skips it and may
-- confirm its LSN, so a slot advances while the event table is quiet and
-- other tables are busy (a slot whose plugin emits nothing would pin WAL).
CREATE FUNCTION drivetribe.heartbeat()
RETURNS pg_lsn
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.pg_logical_emit_message(true, 'drivetribe.heartbeat', '') $$;
COMMENT ON FUNCTION drivetribe.heartbeat() IS
  'emit a heartbeat into the WAL: every drivetribe stream slot gets {"heartbeat":true,...} and can advance; returns its LSN';

-- The slots that use the plugin, with what they hold back.
CREATE VIEW drivetribe.stream_slots AS
SELECT s.slot_name,
       s.database,
       s.active,
       s.active_pid,
       s.confirmed_flush_lsn,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)::pg_catalog.int8
         AS lag_bytes,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::pg_catalog.int8
         AS retained_bytes,
       s.wal_status,
       s.safe_wal_size,
       r.reply_time AS last_reply,
       pg_catalog.now() OPERATOR(pg_catalog.-) r.reply_time AS reply_age,
       r.flush_lag
  FROM pg_catalog.pg_replication_slots s
  LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid OPERATOR(pg_catalog.=) s.active_pid
 WHERE s.plugin OPERATOR(pg_catalog.=) 'drivetribe';
COMMENT ON VIEW drivetribe.stream_slots IS
  'replication slots of the drivetribe output plugin: how far behind the server each consumer is (lag_bytes), how much WAL each keeps (retained_bytes), and when it last replied';

------------------------------------------------------------------------
-- Maintenance: a heartbeat every minute (pg_cron's granularity).
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION drivetribe.run_maintenance(job text)
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
  ELSIF job OPERATOR(pg_catalog.=) 'fold-stripes' THEN
    PERFORM drivetribe.fold_stripes();
  ELSIF job OPERATOR(pg_catalog.=) 'heartbeat' THEN
    PERFORM drivetribe.heartbeat();
  ELSIF job OPERATOR(pg_catalog.=) 'prune-cron-history' THEN
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

CREATE OR REPLACE FUNCTION drivetribe.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  VALUES
    ('drivetribe-verify', '17 3 * * *',
     'SELECT drivetribe.run_maintenance(''verify'')'),
    ('drivetribe-fold-stripes', '* * * * *',
     'SELECT drivetribe.run_maintenance(''fold-stripes'')'),
    ('drivetribe-heartbeat', '* * * * *',
     'SELECT drivetribe.run_maintenance(''heartbeat'')'),
    ('drivetribe-prune-noop-calls', '29 * * * *',
     'SELECT drivetribe.run_maintenance(''prune-noop-calls'')'),
    ('drivetribe-prune-cron-history', '41 4 * * *',
     'SELECT drivetribe.run_maintenance(''prune-cron-history'')')
$fn$;

-- Jobs registered before: register the new set.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_extension e
              WHERE e.extname::pg_catalog.text OPERATOR(pg_catalog.=) 'pg_cron') THEN
    IF EXISTS (SELECT FROM cron.job j
                WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                      SELECT m.jobname FROM drivetribe.maintenance_jobs() m)) THEN
      PERFORM drivetribe.schedule_maintenance();
    END IF;
  END IF;
END
$$;

REVOKE ALL ON FUNCTION drivetribe.heartbeat() FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.stream_slots FROM PUBLIC;
