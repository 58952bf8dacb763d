--
-- 95_maintenance: schedule_maintenance() / unschedule_maintenance() and
-- pg_cron.  Registers named jobs idempotently; removes only its own jobs;
-- a clear error where pg_cron is not installed.  Jobs are not waited for;
-- their commands are run once by hand to show they are valid.
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
SELECT count(*) AS pg_cron_installed FROM pg_extension WHERE extname = 'pg_cron';
-- fold every counter stripe first: a fold (rebuild's, or the pg_cron job's)
-- changes raw rows, not what any read shows
SELECT drivetribe.fold_stripes() >= 0 AS folded;
SELECT dt_mark() IS NOT NULL AS marked;
-- (no CONTEXT lines: they carry PL/pgSQL line numbers of the extension)
\set SHOW_CONTEXT never
SELECT drivetribe.schedule_maintenance();
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unschedule_maintenance();
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
\set SHOW_CONTEXT errors

CREATE EXTENSION pg_cron;
-- CREATE EXTENSION drivetribe scheduled nothing.
SELECT count(*) AS jobs FROM cron.job;
-- somebody else's job, which drivetribe must leave alone
SELECT cron.schedule('regress_other_job', '0 3 * * *', 'SELECT 1') > 0 AS scheduled;

SELECT string_agg(j::text, ',' ORDER BY j) AS returned_ids
FROM drivetribe.schedule_maintenance() AS j \gset
SELECT jobname, schedule, database = current_database() AS this_db,
       username = current_user AS me, active
FROM cron.job ORDER BY jobname;
-- it returned the ids of its jobs
SELECT string_agg(jobid::text, ',' ORDER BY jobid) = :'returned_ids' AS returned_its_job_ids
FROM cron.job WHERE jobname <> 'regress_other_job';
SELECT count(*) AS jobs, string_agg(jobid::text, ',' ORDER BY jobid) AS jobids FROM cron.job \gset
-- idempotent: the same named jobs again, no new ones
SELECT count(*) AS returned FROM drivetribe.schedule_maintenance();
SELECT count(*) = :jobs AS same_count,
       string_agg(jobid::text, ',' ORDER BY jobid) = :'jobids' AS same_jobs
FROM cron.job;
SELECT count(*) AS unnamed_jobs FROM cron.job WHERE jobname IS NULL;

-- The commands are valid SQL that succeeds on a consistent database.
DO $$
DECLARE
  c text;
BEGIN
  FOR c IN SELECT command FROM cron.job WHERE jobname <> 'regress_other_job' ORDER BY jobname LOOP
    EXECUTE c;
  END LOOP;
END
$$;

-- unschedule removes the extension's jobs only
SELECT drivetribe.unschedule_maintenance();
SELECT jobname FROM cron.job ORDER BY jobname;
-- ... and is harmless when there is nothing to remove
SELECT drivetribe.unschedule_maintenance();
SELECT jobname FROM cron.job ORDER BY jobname;
-- scheduling again after unscheduling
SELECT count(*) AS returned FROM drivetribe.schedule_maintenance();
SELECT count(*) = :jobs AS same_count FROM cron.job;
SELECT drivetribe.unschedule_maintenance();
SELECT jobname FROM cron.job ORDER BY jobname;

-- None of this touched the log or the projections.
SELECT dt_unchanged() AS unchanged;
SELECT cron.unschedule('regress_other_job');
DROP EXTENSION pg_cron;
\else
\echo 'skipped: pg_cron is not usable in this database'
\endif
