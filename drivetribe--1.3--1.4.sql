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

------------------------------------------------------------------------
-- Polling the log without skipping (issue 11, item 4).  seq is given at
-- append, not at commit: a client polling "seq > last" moves past an
-- event whose transaction commits after a later one's.  Each event now
-- records its writer's top-level transaction id, and read_log() returns
-- only events whose transaction id is below the reading snapshot's xmin:
-- every such transaction has ended, and any transaction that can still
-- append gets a larger id.  A client keeps the last row's (txid, seq).
------------------------------------------------------------------------

-- A constant default is stored in the catalog (attmissingval): no row is
-- rewritten, and the rows of 1.3 read as txid 0, which sorts them first
-- and is below every snapshot's xmin (they are all final).  Then the
-- default becomes the writer's top-level transaction id: the write API's
-- INSERT names its columns and leaves txid to it.  An event appended in a
-- savepoint gets the top-level id too, which is what the xmin rule needs.
-- (The DDL guard lets the extension's own scripts through; a rewrite of
-- the log would still be refused by its table_rewrite trigger.)
ALTER TABLE drivetribe.events
  ADD COLUMN txid pg_catalog.xid8 NOT NULL DEFAULT '0'::pg_catalog.xid8;
ALTER TABLE drivetribe.events
  ALTER COLUMN txid SET DEFAULT pg_catalog.pg_current_xact_id();
COMMENT ON COLUMN drivetribe.events.txid IS
  'top-level transaction id of the writer (0 for events appended before 1.4); read_log() pages by (txid, seq)';

-- read_log()'s order.  (Built under the update's SHARE lock: writers wait
-- for it; on a large log, run the update at a quiet time.)
CREATE INDEX events_txid_seq_idx ON drivetribe.events (txid, seq);
COMMENT ON INDEX drivetribe.events_txid_seq_idx IS
  'read_log(): the log in (txid, seq) order';

CREATE FUNCTION drivetribe.read_log(after_txid pg_catalog.xid8 DEFAULT '0',
                                    after_seq bigint DEFAULT 0,
                                    max_rows integer DEFAULT 1000)
RETURNS SETOF drivetribe.events
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF after_txid IS NULL THEN
    RAISE EXCEPTION 'after_txid must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''0'' and 0 to read from the start of the log.';
  ELSIF after_seq IS NULL THEN
    RAISE EXCEPTION 'after_seq must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''0'' and 0 to read from the start of the log.';
  ELSIF max_rows IS NULL THEN
    RAISE EXCEPTION 'max_rows must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  ELSIF max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 10000 THEN
    RAISE EXCEPTION 'max_rows must be between 1 and 10000, got %', max_rows
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- One snapshot: the rows read and the xmin they are cut at.  Every
  -- transaction with an id below xmin has ended, and its events are in
  -- this snapshot if it committed; a transaction that appends later has a
  -- larger id than any here, so nothing can appear behind the cursor.
  RETURN QUERY
  SELECT e.*
    FROM drivetribe.events e
   WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(read_log.after_txid, read_log.after_seq)
     AND e.txid OPERATOR(pg_catalog.<)
         pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
   ORDER BY e.txid, e.seq
   LIMIT read_log.max_rows;
END
$$;
COMMENT ON FUNCTION drivetribe.read_log(pg_catalog.xid8, bigint, integer) IS
  'up to max_rows events after the cursor (after_txid, after_seq) in (txid, seq) order, only those no running transaction can precede; pass the last row''s txid and seq for the next call';

-- Why a poller waits: the oldest transaction that holds an id, in any
-- database of the cluster, or a prepared transaction.
CREATE VIEW drivetribe.log_horizon AS
SELECT h.safe_xid,
       h.next_xid,
       o.pid AS held_by_pid,
       o.gid AS held_by_prepared_gid,
       o.datname AS held_by_database,
       o.usename AS held_by_user,
       o.state AS held_by_state,
       o.xact_start AS held_since,
       pg_catalog.now() OPERATOR(pg_catalog.-) o.xact_start AS held_for,
       o.state_change AS state_since
  FROM (SELECT pg_catalog.pg_snapshot_xmin(s.s) AS safe_xid,
               pg_catalog.pg_snapshot_xmax(s.s) AS next_xid
          FROM pg_catalog.pg_current_snapshot() s(s)) h
  LEFT JOIN LATERAL (
    SELECT x.pid, x.gid, x.datname, x.usename, x.state, x.xact_start, x.state_change
      FROM (SELECT a.pid, NULL::pg_catalog.text AS gid, a.datname, a.usename,
                   a.state, a.xact_start, a.state_change, a.backend_xid AS xid
              FROM pg_catalog.pg_stat_activity a
             WHERE a.backend_xid IS NOT NULL
            UNION ALL
            SELECT NULL::pg_catalog.int4, p.gid, p.database, p.owner,
                   'prepared'::pg_catalog.text, p.prepared, p.prepared, p.transaction
              FROM pg_catalog.pg_prepared_xacts p) x
     ORDER BY pg_catalog.age(x.xid) DESC
     LIMIT 1) o ON true;
COMMENT ON VIEW drivetribe.log_horizon IS
  'read_log()''s safe high-water mark (safe_xid: events of lower txids are final) and the oldest transaction holding it back (a backend, or a prepared transaction), with its state and age';

------------------------------------------------------------------------
-- The read API gains read_log() and log_horizon.
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION drivetribe.api_functions(writer boolean)
RETURNS SETOF regprocedure
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.article(bigint)',
    'drivetribe.article_comments(bigint,integer,bigint)',
    'drivetribe.has_bumped(bigint,bigint)',
    'drivetribe.feed(bigint,integer,double precision,bigint)',
    'drivetribe.tribe_feed(bigint,integer,double precision,bigint)',
    'drivetribe.read_log(pg_catalog.xid8,bigint,integer)']) AS f
  UNION ALL
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.register_user(bigint,text,uuid)',
    'drivetribe.rename_user(bigint,text,uuid)',
    'drivetribe.create_tribe(bigint,bigint,text,uuid)',
    'drivetribe.rename_tribe(bigint,text,uuid)',
    'drivetribe.join_tribe(bigint,bigint,uuid)',
    'drivetribe.leave_tribe(bigint,bigint,uuid)',
    'drivetribe.follow_user(bigint,bigint,uuid)',
    'drivetribe.unfollow_user(bigint,bigint,uuid)',
    'drivetribe.post_article(bigint,bigint,bigint,text,uuid)',
    'drivetribe.edit_article(bigint,text,uuid)',
    'drivetribe.delete_article(bigint,uuid)',
    'drivetribe.view_article(bigint,bigint,uuid)',
    'drivetribe.post_comment(bigint,bigint,bigint,text,uuid)',
    'drivetribe.delete_comment(bigint,uuid)',
    'drivetribe.bump(bigint,bigint,uuid)',
    'drivetribe.unbump(bigint,bigint,uuid)']) AS f
   WHERE writer
$$;

CREATE OR REPLACE FUNCTION drivetribe.grant_api(role regrole, writer boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA drivetribe TO %s', role);
  EXECUTE pg_catalog.format(
    'GRANT SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats, '
    'drivetribe.log_horizon TO %s',
    role);
  FOR fn IN SELECT * FROM drivetribe.api_functions(writer) LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
  END LOOP;
END
$$;

-- Roles granted the read API before 1.4 (they can execute article())
-- get read_log() and log_horizon too.
DO $$
DECLARE
  r regrole;
BEGIN
  FOR r IN
    SELECT a.grantee::pg_catalog.regrole
      FROM pg_catalog.pg_proc p,
           LATERAL pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid OPERATOR(pg_catalog.=) 'drivetribe.article(bigint)'::pg_catalog.regprocedure
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
       AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format(
      'GRANT EXECUTE ON FUNCTION drivetribe.read_log(pg_catalog.xid8,bigint,integer) TO %s', r);
    EXECUTE pg_catalog.format('GRANT SELECT ON drivetribe.log_horizon TO %s', r);
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION drivetribe.read_log(pg_catalog.xid8, bigint, integer) FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.log_horizon FROM PUBLIC;
