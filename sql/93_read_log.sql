--
-- 93_read_log: polling the log without skipping (issue 11, item 4).
-- read_log(after_txid, after_seq, max_rows) returns the events after the
-- cursor in (txid, seq) order, only below the snapshot's xmin; the caller
-- passes the last row's (txid, seq) back.  Bad arguments; paging through
-- the whole log returns every committed event once; an open transaction's
-- events (the reader's own too) wait for its end, a rolled-back one's never
-- come; txid is the writer's top-level transaction id; events appended
-- before the update to 1.4 have txid 0 and come first; log_horizon; grants.
-- Transaction ids vary from run to run: only relations between them show.
--
\pset null NULL

-- pg_temp.page_all(max_rows): every event read_log() returns from the
-- start, page by page: the seqs in the order returned, and the number of
-- pages
CREATE FUNCTION pg_temp.page_all(max_rows int)
RETURNS TABLE (seqs bigint[], pages int) LANGUAGE plpgsql AS $$
DECLARE
  t xid8 := '0';
  s bigint := 0;
  n int;
  e record;
BEGIN
  seqs := '{}';
  pages := 0;
  LOOP
    n := 0;
    FOR e IN SELECT * FROM drivetribe.read_log(t, s, max_rows) LOOP
      seqs := seqs || e.seq;
      t := e.txid;
      s := e.seq;
      n := n + 1;
    END LOOP;
    pages := pages + 1;
    EXIT WHEN n < max_rows;
  END LOOP;
  RETURN NEXT;
END $$;

-- bad arguments: SPEC's SQLSTATEs, the message names the value, nothing changes
SELECT dt_mark() IS NOT NULL AS marked;
CREATE FUNCTION pg_temp.state_of(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE call;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT c AS call, pg_temp.state_of(c) AS outcome FROM unnest(ARRAY[
  'SELECT * FROM drivetribe.read_log()',
  'SELECT * FROM drivetribe.read_log(NULL)',
  'SELECT * FROM drivetribe.read_log(''0'', NULL)',
  'SELECT * FROM drivetribe.read_log(''0'', 0, NULL)',
  'SELECT * FROM drivetribe.read_log(''0'', 0, 0)',
  'SELECT * FROM drivetribe.read_log(''0'', 0, -5)',
  'SELECT * FROM drivetribe.read_log(''0'', 0, 10001)',
  'SELECT * FROM drivetribe.read_log(''0'', 0, 10000)',
  'SELECT * FROM drivetribe.read_log(''0'', -1, 1)']) c;
SELECT dt_unchanged() AS unchanged;

-- Every committed event exactly once, whatever the page size, in
-- (txid, seq) order; an event's txid is never 0 here (all appended by 1.4)
SELECT p.max_rows,
       cardinality(x.seqs) = (SELECT count(*) FROM drivetribe.events) AS as_many_as_the_log,
       (SELECT count(DISTINCT v) FROM unnest(x.seqs) v) = cardinality(x.seqs) AS each_once,
       x.seqs = (SELECT array_agg(seq ORDER BY txid, seq) FROM drivetribe.events) AS in_txid_seq_order,
       x.pages = cardinality(x.seqs) / p.max_rows + 1 AS pages_as_expected
  FROM unnest(ARRAY[1, 7, 1000, 10000]) p(max_rows),
       LATERAL pg_temp.page_all(p.max_rows) x
 ORDER BY 1;
SELECT count(*) FILTER (WHERE txid = '0') AS txid_zero,
       count(*) FILTER (WHERE txid >= pg_snapshot_xmax(pg_current_snapshot())) AS txid_in_future
  FROM drivetribe.events;

-- The cursor after the last event; nothing more to read.
SELECT txid AS last_txid, seq AS last_seq FROM drivetribe.events ORDER BY txid DESC, seq DESC LIMIT 1 \gset
SELECT count(*) AS more FROM drivetribe.read_log(:'last_txid', :last_seq);

-- txid is the writer's top-level transaction id, in a savepoint too; the
-- reader's own open transaction holds its events back (its id is not
-- below its snapshot's xmin), and log_horizon names it.
BEGIN;
SELECT drivetribe.register_user(9301, 'Poller') IS NOT NULL AS appended;
SAVEPOINT s;
SELECT drivetribe.register_user(9302, 'In a savepoint') IS NOT NULL AS appended;
RELEASE SAVEPOINT s;
SELECT count(*) AS events, bool_and(txid = pg_current_xact_id()) AS txid_is_top_level_xid
  FROM drivetribe.events WHERE user_id IN (9301, 9302);
SELECT count(*) AS read_before_commit FROM drivetribe.read_log(:'last_txid', :last_seq);
SELECT safe_xid <= pg_current_xact_id() AS held_back,
       held_by_pid = pg_backend_pid() AS held_by_me,
       held_by_state, held_by_prepared_gid,
       held_for >= '0'::interval AS has_age
  FROM drivetribe.log_horizon;
COMMIT;
SELECT seq > :last_seq AS after_cursor, body
  FROM drivetribe.read_log(:'last_txid', :last_seq) ORDER BY txid, seq;
SELECT txid AS last_txid, seq AS last_seq FROM drivetribe.events ORDER BY txid DESC, seq DESC LIMIT 1 \gset

-- a rolled-back event never comes
BEGIN;
SELECT drivetribe.register_user(9303, 'Rolled back') IS NOT NULL AS appended;
ROLLBACK;
SELECT drivetribe.register_user(9304, 'After the rollback') IS NOT NULL AS appended;
SELECT body FROM drivetribe.read_log(:'last_txid', :last_seq) ORDER BY txid, seq;

-- Nothing running with a transaction id: the horizon is the next id.
SELECT safe_xid = next_xid AS nothing_running, held_by_pid, held_by_prepared_gid
  FROM drivetribe.log_horizon;

-- read_log() and log_horizon have a grant of their own since 1.7
-- (grant_log_reader(), see 93_read_log_grant): a log reader gets both,
-- PUBLIC neither; a log reader reads no table directly.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_poller;
RESET client_min_messages;
CREATE ROLE regress_dt_poller;
SELECT has_function_privilege('public', 'drivetribe.read_log(xid8,bigint,integer)', 'EXECUTE') AS public_read_log,
       has_table_privilege('public', 'drivetribe.log_horizon', 'SELECT') AS public_log_horizon;
SELECT drivetribe.grant_log_reader('regress_dt_poller');
SET ROLE regress_dt_poller;
SELECT count(*) > 0 AS reads FROM drivetribe.read_log('0', 0, 5);
SELECT count(*) AS horizon_rows FROM drivetribe.log_horizon;
SELECT pg_temp.state_of('SELECT count(*) FROM drivetribe.events') AS read_events_directly;
RESET ROLE;

------------------------------------------------------------------------
-- Events appended before the update to 1.4: txid 0, first in the order,
-- and roles granted the read API under 1.3 get read_log() on update.
------------------------------------------------------------------------
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_read_log;
RESET client_min_messages;
CREATE DATABASE dt_read_log;
\c dt_read_log
\pset null NULL
CREATE EXTENSION drivetribe VERSION '1.3';
SELECT drivetribe.grant_reader('regress_dt_poller');
SELECT drivetribe.register_user(u, 'before ' || u) IS NOT NULL AS appended FROM generate_series(1, 3) u;
SELECT relfilenode AS log_file FROM pg_class WHERE oid = 'drivetribe.events'::regclass \gset
ALTER EXTENSION drivetribe UPDATE TO '1.4';
-- the column was added without rewriting the log
SELECT relfilenode = :log_file AS not_rewritten FROM pg_class WHERE oid = 'drivetribe.events'::regclass;
SELECT drivetribe.register_user(u, 'after ' || u) IS NOT NULL AS appended FROM generate_series(4, 5) u;
BEGIN;
SELECT drivetribe.register_user(6, 'after, in one transaction') IS NOT NULL AS appended;
SELECT drivetribe.register_user(7, 'after, same transaction') IS NOT NULL AS appended;
COMMIT;
SELECT seq, body, txid = '0' AS txid_zero,
       txid = lag(txid) OVER (ORDER BY seq) AS same_txid_as_previous
  FROM drivetribe.events ORDER BY seq;
SET ROLE regress_dt_poller;
SELECT seq, body, txid = '0' AS txid_zero FROM drivetribe.read_log();
-- two at a time from the cursor
SELECT seq, body FROM drivetribe.read_log('0', 0, 2);
SELECT seq, body FROM drivetribe.read_log('0', 2, 2);
SELECT seq, body FROM drivetribe.read_log('0', 3, 2);
RESET ROLE;
SELECT * FROM drivetribe.verify();
SELECT drivetribe.rebuild() AS replayed;
SELECT * FROM drivetribe.verify();

\c :orig_db
SET client_min_messages = warning;
DROP DATABASE dt_read_log;
RESET client_min_messages;
REVOKE ALL ON SCHEMA drivetribe FROM regress_dt_poller;
REVOKE ALL ON ALL TABLES IN SCHEMA drivetribe FROM regress_dt_poller;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA drivetribe FROM regress_dt_poller;
DROP ROLE regress_dt_poller;
