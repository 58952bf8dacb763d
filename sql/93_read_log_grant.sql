--
-- 93_read_log_grant (1.7, issue 18 item 5): the read API shows nothing
-- SPEC removes.  read_log() returns whole events (a deleted comment's
-- body, a deleted article's title, every viewer's id) and log_horizon
-- other roles' sessions: up to 1.6 grant_reader() gave both.  Now a role
-- with grant_reader() (or grant_writer()) gets neither; grant_log_reader()
-- gives both, revoke_log_reader() takes them back (a monitor keeps
-- log_horizon); the update to 1.7 takes them back from the roles that had
-- them from grant_reader()/grant_writer(), with a WARNING each.
--
\pset null NULL
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_plain_reader;
DROP ROLE IF EXISTS regress_dt_plain_writer;
DROP ROLE IF EXISTS regress_dt_log_reader;
DROP ROLE IF EXISTS regress_dt_nobody;
DROP ROLE IF EXISTS regress_dt_monitor;
RESET client_min_messages;
CREATE ROLE regress_dt_plain_reader;
CREATE ROLE regress_dt_plain_writer;
CREATE ROLE regress_dt_log_reader;
CREATE ROLE regress_dt_nobody;
CREATE ROLE regress_dt_monitor;
SELECT drivetribe.grant_reader('regress_dt_plain_reader');
SELECT drivetribe.grant_writer('regress_dt_plain_writer');
SELECT drivetribe.grant_log_reader('regress_dt_log_reader');
SELECT drivetribe.grant_log_reader(NULL);
SELECT drivetribe.revoke_log_reader(NULL);

-- what SPEC's reads no longer show: a deleted comment, a deleted article,
-- who viewed
SELECT drivetribe.register_user(9351, 'Poster') IS NOT NULL AS appended;
SELECT drivetribe.register_user(9352, 'Viewer') IS NOT NULL AS appended;
SELECT drivetribe.create_tribe(9351, 9351, 'Secrets') IS NOT NULL AS appended;
SELECT drivetribe.post_article(9351, 9351, 9351, 'A title regretted') IS NOT NULL AS appended;
SELECT drivetribe.post_article(9352, 9351, 9351, 'Still here') IS NOT NULL AS appended;
SELECT drivetribe.post_comment(9351, 9352, 9351, 'A comment regretted') IS NOT NULL AS appended;
SELECT drivetribe.view_article(9352, 9352) IS NOT NULL AS appended;
SELECT drivetribe.delete_comment(9351) IS NOT NULL AS appended;
SELECT drivetribe.delete_article(9351) IS NOT NULL AS appended;

-- who may, by the catalog
SELECT r AS role,
       has_function_privilege(r, 'drivetribe.read_log(xid8,bigint,integer)', 'EXECUTE') AS read_log,
       has_table_privilege(r, 'drivetribe.log_horizon', 'SELECT') AS log_horizon,
       has_function_privilege(r, 'drivetribe.article(bigint)', 'EXECUTE') AS read_api
  FROM unnest(ARRAY['public', 'regress_dt_nobody', 'regress_dt_plain_reader',
                    'regress_dt_plain_writer', 'regress_dt_log_reader']) AS r;

-- and by trying, as each role
CREATE FUNCTION pg_temp.try_reads() RETURNS TABLE (what text, outcome text)
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  BEGIN
    SELECT count(*) INTO n FROM drivetribe.read_log('0', 0, 10000) e
     WHERE e.body IN ('A comment regretted', 'A title regretted')
        OR (e.kind = 'article_viewed' AND e.user_id = 9352);
    what := 'read_log'; outcome := 'read ' || n || ' secrets';
  EXCEPTION WHEN OTHERS THEN
    what := 'read_log'; outcome := SQLSTATE;
  END;
  RETURN NEXT;
  BEGIN
    SELECT count(*) INTO n FROM drivetribe.log_horizon;
    what := 'log_horizon'; outcome := 'read';
  EXCEPTION WHEN OTHERS THEN
    what := 'log_horizon'; outcome := SQLSTATE;
  END;
  RETURN NEXT;
  BEGIN
    SELECT count(*) INTO n FROM drivetribe.article_comments(9352);
    what := 'article_comments'; outcome := 'read ' || n || ' comments';
  EXCEPTION WHEN OTHERS THEN
    what := 'article_comments'; outcome := SQLSTATE;
  END;
  RETURN NEXT;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try_reads() TO PUBLIC;
SET ROLE regress_dt_nobody;
SELECT 'nobody' AS role, * FROM pg_temp.try_reads();
SET ROLE regress_dt_plain_reader;
SELECT 'plain reader' AS role, * FROM pg_temp.try_reads();
SET ROLE regress_dt_plain_writer;
SELECT 'plain writer' AS role, * FROM pg_temp.try_reads();
SET ROLE regress_dt_log_reader;
SELECT 'log reader' AS role, * FROM pg_temp.try_reads();
RESET ROLE;

-- revoke_log_reader(); a role that is also a monitor keeps log_horizon
SELECT drivetribe.grant_monitor('regress_dt_plain_reader');
SELECT drivetribe.grant_log_reader('regress_dt_plain_reader');
SELECT drivetribe.revoke_log_reader('regress_dt_plain_reader');
SELECT drivetribe.revoke_log_reader('regress_dt_log_reader');
-- and revoke_monitor() leaves a log reader its log_horizon
SELECT drivetribe.grant_log_reader('regress_dt_plain_writer');
SELECT drivetribe.grant_monitor('regress_dt_plain_writer');
SELECT drivetribe.revoke_monitor('regress_dt_plain_writer');
SELECT r AS role,
       has_function_privilege(r, 'drivetribe.read_log(xid8,bigint,integer)', 'EXECUTE') AS read_log,
       has_table_privilege(r, 'drivetribe.log_horizon', 'SELECT') AS log_horizon,
       has_table_privilege(r, 'drivetribe.status', 'SELECT') AS status
  FROM unnest(ARRAY['regress_dt_plain_reader', 'regress_dt_plain_writer', 'regress_dt_log_reader']) AS r;
SELECT drivetribe.revoke_monitor('regress_dt_plain_reader');
SELECT drivetribe.revoke_log_reader('regress_dt_plain_writer');

------------------------------------------------------------------------
-- The update to 1.7 takes read_log() and log_horizon back from the roles
-- grant_reader() and grant_writer() gave them to (a monitor keeps
-- log_horizon).
------------------------------------------------------------------------
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_read_log_grant;
RESET client_min_messages;
CREATE DATABASE dt_read_log_grant;
\c dt_read_log_grant
\set SHOW_CONTEXT never
CREATE EXTENSION drivetribe VERSION '1.6';
SELECT drivetribe.grant_reader('regress_dt_plain_reader');
SELECT drivetribe.grant_writer('regress_dt_plain_writer');
SELECT drivetribe.grant_monitor('regress_dt_plain_writer');
SELECT drivetribe.grant_monitor('regress_dt_monitor');
SELECT r AS role,
       has_function_privilege(r, 'drivetribe.read_log(xid8,bigint,integer)', 'EXECUTE') AS read_log,
       has_table_privilege(r, 'drivetribe.log_horizon', 'SELECT') AS log_horizon
  FROM unnest(ARRAY['regress_dt_plain_reader', 'regress_dt_plain_writer', 'regress_dt_monitor']) AS r;
-- (no WARNING for the monitor: it never had read_log() and keeps log_horizon)
ALTER EXTENSION drivetribe UPDATE TO '1.7';
SELECT r AS role,
       has_function_privilege(r, 'drivetribe.read_log(xid8,bigint,integer)', 'EXECUTE') AS read_log,
       has_table_privilege(r, 'drivetribe.log_horizon', 'SELECT') AS log_horizon,
       has_function_privilege(r, 'drivetribe.article(bigint)', 'EXECUTE') AS read_api,
       has_function_privilege(r, 'drivetribe.bump(bigint,bigint,uuid)', 'EXECUTE') AS write_api
  FROM unnest(ARRAY['regress_dt_plain_reader', 'regress_dt_plain_writer', 'regress_dt_monitor']) AS r;
\c :orig_db
SET client_min_messages = warning;
DROP DATABASE dt_read_log_grant;
RESET client_min_messages;

REVOKE ALL ON SCHEMA drivetribe FROM regress_dt_plain_reader, regress_dt_plain_writer,
  regress_dt_log_reader, regress_dt_nobody;
REVOKE ALL ON ALL TABLES IN SCHEMA drivetribe FROM regress_dt_plain_reader, regress_dt_plain_writer,
  regress_dt_log_reader, regress_dt_nobody;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA drivetribe FROM regress_dt_plain_reader, regress_dt_plain_writer,
  regress_dt_log_reader, regress_dt_nobody;
DROP ROLE regress_dt_plain_reader;
DROP ROLE regress_dt_plain_writer;
DROP ROLE regress_dt_log_reader;
DROP ROLE regress_dt_nobody;
DROP ROLE regress_dt_monitor;
