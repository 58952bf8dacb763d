--
-- 96_cron_hijack: issue 8, item 1.  pg_cron runs a job's command as the
-- role that scheduled it (here a superuser) with the default search_path
-- ("$user", public).  A role with CREATE on schema public defines operators
-- there whose function makes it superuser when a superuser calls it (1.0's
-- drivetribe-prune-cron-history compared cron.job.jobname, of type name,
-- with LIKE: pg_catalog has no ~~(name, name), so public's won).  Every
-- command schedule_maintenance() registers is run here exactly as pg_cron
-- would run it, and the role must stay what it was; also after an upgrade
-- from 1.0, whose jobs carried the hijackable commands.
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
-- (no CONTEXT lines: they carry PL/pgSQL line numbers)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_hostile;
RESET client_min_messages;
CREATE EXTENSION pg_cron;
CREATE ROLE regress_hostile NOSUPERUSER;
GRANT CREATE ON SCHEMA public TO regress_hostile;
-- (an application's read-only role; it needs USAGE on schema drivetribe
-- for any DDL at all while 1.1's DDL guard reads the catalog through
-- drivetribe names: see 84_log_ddl_guard_gaps)
SELECT drivetribe.grant_reader('regress_hostile');
-- where the traps write down that they ran, and whether for a superuser
CREATE TABLE public.regress_hostile_calls (what text, by_superuser boolean);
GRANT INSERT ON public.regress_hostile_calls TO PUBLIC;

-- The hostile role's traps, all in schema public.  Each is SECURITY
-- INVOKER: called by a superuser, it makes regress_hostile superuser;
-- called by anyone else, the ALTER ROLE fails quietly.  Then it answers
-- what pg_catalog's operator would have answered.
SET ROLE regress_hostile;
CREATE FUNCTION public.regress_hostile_trap(what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.regress_hostile_calls
    SELECT what, r.rolsuper FROM pg_catalog.pg_roles r
     WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
  BEGIN
    ALTER ROLE regress_hostile SUPERUSER;
  EXCEPTION WHEN OTHERS THEN
    NULL;
  END;
END
$$;
CREATE FUNCTION public.regress_hostile_like(name, name) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('~~(name,name)');
  RETURN $1::pg_catalog.text OPERATOR(pg_catalog.~~) $2::pg_catalog.text;
END
$$;
CREATE OPERATOR public.~~ (LEFTARG = name, RIGHTARG = name,
                           FUNCTION = public.regress_hostile_like);
CREATE FUNCTION public.regress_hostile_eq_name_text(name, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('=(name,text)');
  RETURN $1::pg_catalog.text OPERATOR(pg_catalog.=) $2;
END
$$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text,
                          FUNCTION = public.regress_hostile_eq_name_text);
CREATE FUNCTION public.regress_hostile_eq_name(name, name) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('=(name,name)');
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END
$$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name,
                          FUNCTION = public.regress_hostile_eq_name);
CREATE FUNCTION public.regress_hostile_eq_text(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('=(text,text)');
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text,
                          FUNCTION = public.regress_hostile_eq_text);
CREATE FUNCTION public.regress_hostile_eq_bigint(bigint, bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('=(bigint,bigint)');
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END
$$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint,
                          FUNCTION = public.regress_hostile_eq_bigint);
CREATE FUNCTION public.regress_hostile_lt(timestamptz, timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('<(timestamptz,timestamptz)');
  RETURN $1 OPERATOR(pg_catalog.<) $2;
END
$$;
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz,
                          FUNCTION = public.regress_hostile_lt);
CREATE FUNCTION public.regress_hostile_minus(timestamptz, interval) RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('-(timestamptz,interval)');
  RETURN $1 OPERATOR(pg_catalog.-) $2;
END
$$;
CREATE OPERATOR public.- (LEFTARG = timestamptz, RIGHTARG = interval,
                          FUNCTION = public.regress_hostile_minus);
-- functions of the same names as those the commands call
CREATE FUNCTION public.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('now()');
  RETURN pg_catalog.now();
END
$$;
CREATE FUNCTION public.run_maintenance(job text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('run_maintenance(text)');
END
$$;
CREATE FUNCTION public.verify() RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('verify()');
END
$$;
CREATE FUNCTION public.prune_noop_calls() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM public.regress_hostile_trap('prune_noop_calls()');
  RETURN 0;
END
$$;
-- called by the role itself, a trap records the call and changes nothing
SELECT 'drivetribe-x'::name LIKE 'drivetribe-%'::name AS hostile_like_works;
RESET ROLE;
SELECT what, by_superuser FROM public.regress_hostile_calls;
DELETE FROM public.regress_hostile_calls;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hostile';

-- Every job of schedule_maintenance(), run as pg_cron runs it.  (The
-- queries of this test that a hostile operator could reach cast name to
-- text or pin the operator.)
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SELECT jobname, command, username::text OPERATOR(pg_catalog.=) current_user::text AS my_job,
       database::text OPERATOR(pg_catalog.=) current_database()::text AS this_db
FROM cron.job ORDER BY jobname::text;
-- run history for the prune job to work on: one old run, one recent
-- (marked, in case pg_cron itself runs a job meanwhile)
INSERT INTO cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
SELECT jobid, database, username, command, 'succeeded', 'regress 96', t, t
FROM cron.job, (VALUES (now() - interval '30 days'), (now() - interval '1 day')) AS v(t)
WHERE jobname::text OPERATOR(pg_catalog.=) 'drivetribe-verify';
SET search_path = DEFAULT;
SHOW search_path;
SELECT command FROM cron.job
WHERE jobname::text OPERATOR(pg_catalog.~~) 'drivetribe-%' ORDER BY jobname::text \gexec
RESET search_path;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT what, by_superuser, count(*) FROM public.regress_hostile_calls GROUP BY 1, 2 ORDER BY 1, 2;
-- the prune job removed the old run and kept the recent one
SELECT count(*) AS runs_left, bool_and(end_time > now() - interval '14 days') AS recent
FROM cron.job_run_details WHERE return_message = 'regress 96';
DELETE FROM cron.job_run_details;
SELECT drivetribe.unschedule_maintenance() AS unscheduled;

-- The upgrade path: 1.0's jobs, then ALTER EXTENSION UPDATE re-registers
-- them with the new commands.
DROP EXTENSION drivetribe;
CREATE EXTENSION drivetribe VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
SELECT drivetribe.register_user(1, 'alice') IS NOT NULL AS appended;
SELECT drivetribe.create_tribe(10, 1, 'Supercars') IS NOT NULL AS appended;
SELECT drivetribe.post_article(100, 1, 10, 'Upgraded') IS NOT NULL AS appended;
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SELECT jobname, command FROM cron.job ORDER BY jobname::text;
SELECT jobid AS verify_jobid FROM cron.job WHERE jobname::text OPERATOR(pg_catalog.=) 'drivetribe-verify' \gset
INSERT INTO cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
SELECT jobid, database, username, command, 'succeeded', 'regress 96', t, t
FROM cron.job, (VALUES (now() - interval '30 days'), (now() - interval '1 day')) AS v(t)
WHERE jobname::text OPERATOR(pg_catalog.=) 'drivetribe-verify';
-- Control, rolled back: these 1.0 commands, run as pg_cron would, do make
-- the hostile role superuser.  (So the traps above are the real attack,
-- and the checks after the upgrade mean something.)
BEGIN;
SET LOCAL search_path = DEFAULT;
SELECT command FROM cron.job
WHERE jobname::text OPERATOR(pg_catalog.~~) 'drivetribe-%' ORDER BY jobname::text \gexec
SELECT rolsuper AS escalated_by_1_0_jobs FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT what, by_superuser, count(*) > 0 AS called FROM public.regress_hostile_calls GROUP BY 1, 2 ORDER BY 1, 2;
ROLLBACK;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT count(*) AS trap_calls FROM public.regress_hostile_calls;

ALTER EXTENSION drivetribe UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
-- the same jobs (the verify job kept its id), now with the new commands,
-- plus the job that prunes no-op idempotency keys
SELECT jobname, command, username::text OPERATOR(pg_catalog.=) current_user::text AS my_job
FROM cron.job ORDER BY jobname::text;
SELECT jobid OPERATOR(pg_catalog.=) :verify_jobid AS verify_job_kept_its_id
FROM cron.job WHERE jobname::text OPERATOR(pg_catalog.=) 'drivetribe-verify';
SET search_path = DEFAULT;
SELECT command FROM cron.job
WHERE jobname::text OPERATOR(pg_catalog.~~) 'drivetribe-%' ORDER BY jobname::text \gexec
RESET search_path;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT what, by_superuser, count(*) FROM public.regress_hostile_calls GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS runs_left, bool_and(end_time > now() - interval '14 days') AS recent
FROM cron.job_run_details WHERE return_message = 'regress 96';
DELETE FROM cron.job_run_details;
-- scheduling again at 1.1 changes nothing
SELECT count(*) AS jobs_registered FROM drivetribe.schedule_maintenance();
SELECT count(*) AS jobs FROM cron.job;
SELECT * FROM drivetribe.verify();

-- The verify job fails, loudly and without harm, when the projections
-- differ from the log (rolled back).
BEGIN;
UPDATE drivetribe.articles SET views = views + 1 WHERE article_id = 100;
SELECT drivetribe.run_maintenance('verify');
ROLLBACK;
SELECT drivetribe.run_maintenance('no-such-job');

-- Clean up: the jobs, the extension as 99_drop expects it (newest
-- version, fresh), the hostile role and everything it owns, pg_cron.
SELECT drivetribe.unschedule_maintenance() AS unscheduled;
SELECT count(*) AS jobs_left FROM cron.job;
DROP EXTENSION drivetribe;
CREATE EXTENSION drivetribe;
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
DROP TABLE public.regress_hostile_calls;
DROP OWNED BY regress_hostile;
DROP ROLE regress_hostile;
SELECT count(*) AS hostile_objects_left
FROM pg_proc WHERE proname::text OPERATOR(pg_catalog.~~) 'regress_hostile%'
   OR (pronamespace = 'public'::regnamespace
       AND proname::text = ANY (ARRAY['now', 'run_maintenance', 'verify', 'prune_noop_calls']));
SELECT count(*) AS public_operators_left FROM pg_operator WHERE oprnamespace = 'public'::regnamespace;
DROP EXTENSION pg_cron;
\else
\echo 'skipped: pg_cron is not usable in this database'
\endif
