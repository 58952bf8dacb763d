--
-- 96_cron_squat (1.7, issue 18 items 8 and 13): the extension's pg_cron
-- jobs are matched by name AND owner, and what DROP EXTENSION prints is
-- safe.
--   * A role allowed to use pg_cron (USAGE on schema cron) schedules a job
--     named drivetribe-verify before the extension does.  Up to 1.6,
--     schedule_maintenance() took it for the extension's (it changed its
--     command; the role still owned it and could change it back) and
--     status listed it.  Now a job is the extension's only when a
--     superuser or the extension's owner owns it: schedule_maintenance()
--     removes another role's job of one of the names, with a WARNING
--     naming it and its owner, and registers its own; status and
--     unschedule_maintenance() never take another role's job for one.
--   * A role that does not own the extension runs DROP EXTENSION: "must be
--     owner", and nothing printed before it (1.6 printed pg_cron's
--     permission error as a WARNING first).
--   * When DROP EXTENSION cannot remove the jobs, its WARNING's hint is a
--     query a superuser can paste whatever search_path it has: 1.6's
--     (jobname LIKE 'drivetribe-%') ran a hostile role's ~~(name, name).
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
DROP ROLE IF EXISTS regress_squatter;
DROP ROLE IF EXISTS regress_dt_nobody;
DROP ROLE IF EXISTS regress_dt_owner;
RESET client_min_messages;
CREATE EXTENSION pg_cron;
CREATE ROLE regress_squatter NOSUPERUSER;
GRANT USAGE ON SCHEMA cron TO regress_squatter;
GRANT CREATE ON SCHEMA public TO regress_squatter;
CREATE ROLE regress_dt_nobody NOSUPERUSER;

-- pg_temp.jobs(): every job of this database, whose it is (mine: the
-- superuser running this test's), without ids or times
CREATE FUNCTION pg_temp.jobs() RETURNS TABLE (jobname text, owner text, command text)
LANGUAGE sql AS $$
  SELECT j.jobname::text,
         CASE WHEN j.username::text OPERATOR(pg_catalog.=) current_user::text THEN 'me' ELSE j.username::text END,
         j.command
    FROM cron.job j ORDER BY 1, 2
$$;

------------------------------------------------------------------------
-- A squatter's job, first.
------------------------------------------------------------------------
SET ROLE regress_squatter;
SELECT cron.schedule('drivetribe-verify', '* * * * *', 'SELECT ''squatted''') > 0 AS squatted;
RESET ROLE;
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SELECT * FROM pg_temp.jobs();
-- scheduling again changes nothing and removes nothing more
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SELECT count(*) AS jobs FROM cron.job;

-- The squatter comes back (pg_cron keys a name by its owner: both exist)
-- and changes its command at will: status shows the extension's job, and
-- names the other one.
SET ROLE regress_squatter;
SELECT cron.schedule('drivetribe-verify', '* * * * *', 'SELECT ''squatted again''') > 0 AS squatted;
SELECT cron.schedule('drivetribe-verify', '*/5 * * * *', 'SELECT ''changed''') > 0 AS changed;
RESET ROLE;
SELECT item, value, detail FROM drivetribe.status WHERE area = 'job' ORDER BY item;
-- unschedule_maintenance() removes the extension's five, not the squatter's
SELECT drivetribe.unschedule_maintenance() AS unscheduled;
SELECT * FROM pg_temp.jobs();
SELECT count(*) AS jobs FROM drivetribe.status WHERE area = 'job' AND item LIKE 'drivetribe-%' AND value <> 'not scheduled';
-- schedule_maintenance() is for a superuser (or the extension's owner):
-- another role granted it would schedule jobs that are not the extension's
GRANT USAGE ON SCHEMA drivetribe, drivetribe_internal TO regress_squatter;
GRANT EXECUTE ON FUNCTION drivetribe.schedule_maintenance(), drivetribe_internal.require_pg_cron(),
  drivetribe_internal.maintenance_cron_jobs(), drivetribe_internal.maintenance_jobs() TO regress_squatter;
SET ROLE regress_squatter;
SELECT count(*) FROM drivetribe.schedule_maintenance();
RESET ROLE;
REVOKE ALL ON FUNCTION drivetribe.schedule_maintenance(), drivetribe_internal.require_pg_cron(),
  drivetribe_internal.maintenance_cron_jobs(), drivetribe_internal.maintenance_jobs() FROM regress_squatter;
REVOKE USAGE ON SCHEMA drivetribe, drivetribe_internal FROM regress_squatter;
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SELECT * FROM pg_temp.jobs();

------------------------------------------------------------------------
-- DROP EXTENSION by a role that does not own it: only "must be owner".
------------------------------------------------------------------------
SET ROLE regress_dt_nobody;
DROP EXTENSION drivetribe;
SET ROLE regress_squatter;
DROP EXTENSION drivetribe;
RESET ROLE;
SELECT count(*) AS jobs_kept FROM cron.job WHERE username::text OPERATOR(pg_catalog.=) current_user::text;
SELECT drivetribe.unschedule_maintenance() AS unscheduled;

------------------------------------------------------------------------
-- DROP EXTENSION that cannot remove the jobs: a hint safe to paste.  The
-- extension's owner is no longer a superuser and may not use pg_cron; its
-- drop goes on with a WARNING.  A hostile role's operators wait in
-- schema public for a superuser's default search_path.
------------------------------------------------------------------------
CREATE TABLE public.regress_squat_calls (what text, by_superuser boolean);
GRANT INSERT ON public.regress_squat_calls TO PUBLIC;
SET ROLE regress_squatter;
CREATE FUNCTION public.regress_squat_like(name, name) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.regress_squat_calls
    SELECT '~~(name,name)', r.rolsuper FROM pg_catalog.pg_roles r
     WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
  RETURN $1::pg_catalog.text OPERATOR(pg_catalog.~~) $2::pg_catalog.text;
END
$$;
CREATE OPERATOR public.~~ (LEFTARG = name, RIGHTARG = name, FUNCTION = public.regress_squat_like);
CREATE FUNCTION public.regress_squat_eq(text, name) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.regress_squat_calls
    SELECT '=(text,name)', r.rolsuper FROM pg_catalog.pg_roles r
     WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
  RETURN $1 OPERATOR(pg_catalog.=) $2::pg_catalog.text;
END
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = name, FUNCTION = public.regress_squat_eq);
RESET ROLE;

DROP EXTENSION drivetribe;
CREATE ROLE regress_dt_owner SUPERUSER;
SET ROLE regress_dt_owner;
CREATE EXTENSION drivetribe;
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
RESET ROLE;
ALTER ROLE regress_dt_owner NOSUPERUSER;
SET ROLE regress_dt_owner;
DROP EXTENSION drivetribe;
RESET ROLE;
SELECT count(*) AS jobs_left FROM cron.job WHERE username::text OPERATOR(pg_catalog.=) 'regress_dt_owner';

-- Control (rolled back): 1.6's hint, pasted by a superuser, runs the
-- hostile operator as superuser.
BEGIN;
SET LOCAL search_path = DEFAULT;
SELECT count(cron.unschedule(jobid)) AS removed FROM cron.job WHERE jobname LIKE 'drivetribe-%';
SELECT what, by_superuser, count(*) > 0 AS called FROM public.regress_squat_calls GROUP BY 1, 2;
ROLLBACK;
-- The hint printed above, pasted as printed, with the same search_path:
-- nothing of public's runs, and the jobs are gone.
SET search_path = DEFAULT;
SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.~~) 'drivetribe-%' AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text;
RESET search_path;
SELECT count(*) AS trap_calls FROM public.regress_squat_calls;
SELECT * FROM pg_temp.jobs();

-- Clean up: the squatter's jobs and objects, the roles, the extension as
-- 99_drop expects it (newest version, fresh), pg_cron.
DELETE FROM cron.job;
CREATE EXTENSION drivetribe;
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
DROP TABLE public.regress_squat_calls;
DROP OWNED BY regress_squatter;
DROP ROLE regress_squatter;
DROP ROLE regress_dt_nobody;
DROP OWNED BY regress_dt_owner;
DROP ROLE regress_dt_owner;
SELECT count(*) AS public_operators_left FROM pg_operator WHERE oprnamespace = 'public'::regnamespace;
DROP EXTENSION pg_cron;
\else
\echo 'skipped: pg_cron is not usable in this database'
\endif
