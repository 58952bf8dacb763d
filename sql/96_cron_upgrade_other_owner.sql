--
-- 96_cron_upgrade_other_owner: issue 8, item 1, when the superuser who
-- runs ALTER EXTENSION drivetribe UPDATE is not the one who scheduled the
-- 1.0 jobs (a DBA team, a deploy role).  pg_cron keys a named job by
-- (jobname, username): re-scheduling under the updater's name must not
-- leave the scheduler's 1.0 jobs, with their hijackable commands (see
-- 96_cron_hijack), in cron.job; and unschedule_maintenance() removes the
-- extension's jobs whoever scheduled them.
--
-- Ends with drivetribe re-created at the newest version (empty) and
-- pg_cron dropped, as 99_drop expects.
--
-- pg_cron usable here (installed in this cluster, and this database is its
-- cron.database_name)?  If not, this test is skipped (expected/*_1.out).
-- (preloaded: cron.database_name may be set while pg_cron is not loaded;
-- coalesce: where pg_cron is not preloaded, cron.database_name is usually
-- no setting, the test is NULL, and \gset would leave :have_cron unset,
-- which \if rejects)
SELECT coalesce(EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron')
       AND 'pg_cron' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
       AND current_setting('cron.database_name', true) = current_database(), false) AS have_cron \gset
\if :have_cron
\pset null NULL
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_deployer;
RESET client_min_messages;
CREATE EXTENSION pg_cron;
CREATE ROLE regress_dt_deployer SUPERUSER;

DROP EXTENSION drivetribe;
CREATE EXTENSION drivetribe VERSION '1.0';
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SET ROLE regress_dt_deployer;
ALTER EXTENSION drivetribe UPDATE TO '1.1';
RESET ROLE;
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';

-- Every job of the extension carries a 1.1 command, once per job name.
SELECT j.jobname, j.command
FROM cron.job j
ORDER BY j.jobname::text, j.command;
SELECT count(*) AS jobs_with_an_old_command
FROM cron.job j
WHERE j.jobname::text LIKE 'drivetribe-%'
  AND j.command NOT IN (SELECT m.command FROM drivetribe.maintenance_jobs() m);

-- unschedule_maintenance() removes them all, without an error.
SELECT drivetribe.unschedule_maintenance() > 0 AS unscheduled;
SELECT :'SQLSTATE' AS sqlstate;
SELECT count(*) AS jobs_left FROM cron.job WHERE jobname::text LIKE 'drivetribe-%';

-- Clean up whatever is left: jobs, the extension (objects the update
-- created belong to the deployer), the role, pg_cron.
DELETE FROM cron.job;
DROP EXTENSION drivetribe;
CREATE EXTENSION drivetribe;
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
DROP ROLE regress_dt_deployer;
DROP EXTENSION pg_cron;
\else
\echo 'skipped: pg_cron is not usable in this database'
\endif
