/* drivetribe--1.7--1.8.sql: from the demo to your own server (issue 19) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.8'" to load this file. \quit

------------------------------------------------------------------------
-- a catalog a person can browse
------------------------------------------------------------------------
-- (Runs before the operator's view below, which uses the new schema.)
-- \df drivetribe.* lists the API, not its helpers: every function whose
-- comment says "internal" moves to the schema drivetribe_internal, created
-- here, so a member of the extension (DROP EXTENSION drops it).  PUBLIC
-- gets no USAGE on it; the functions keep their grants (none to PUBLIC),
-- owners and comments.  Triggers, the events_valid CHECK and the event
-- triggers refer to their functions by oid and follow them; every SQL
-- caller is redefined below.  The pg_cron jobs' command,
-- drivetribe.run_maintenance(job), stays where operators see it (cron.job)
-- and becomes API: it runs one job now.  Moving a function locks no table
-- (src/locks.c's update_locks does not change).  The C library calls none
-- of the moved functions by name (it calls unschedule_maintenance(), which
-- stays), so it serves 1.7 and 1.8 alike.
CREATE SCHEMA drivetribe_internal;
REVOKE ALL ON SCHEMA drivetribe_internal FROM PUBLIC;
COMMENT ON SCHEMA drivetribe_internal IS
  'internal: helpers of the drivetribe extension (triggers, grants, maintenance, status); not an API: call the functions of schema drivetribe';

ALTER FUNCTION drivetribe.api_functions(boolean) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.grant_api(regrole, boolean) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.revoke_api(regrole, boolean) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.granted_directly(regrole, pg_catalog.aclitem[], text) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.maintenance_jobs() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.maintenance_cron_jobs() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.require_pg_cron() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.first_seq_since(timestamptz) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.events_are_immutable() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.event_is_valid(bigint, text, bigint, bigint, bigint, bigint, bigint, bigint, text, jsonb) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.guard_log_ddl() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.drop_cleanup() SET SCHEMA drivetribe_internal;

-- every caller of a moved function, as 1.7 defined it but for the schema
-- (CREATE OR REPLACE keeps grants and comments)
CREATE OR REPLACE FUNCTION drivetribe_internal.grant_api(role regrole, writer boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  fn regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA drivetribe TO %s', role);
  EXECUTE pg_catalog.format(
    'GRANT SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats TO %s',
    role);
  FOR fn IN SELECT * FROM drivetribe_internal.api_functions(writer) LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
  END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe_internal.revoke_api(role regrole, writer boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  fn regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  FOR fn IN SELECT * FROM drivetribe_internal.api_functions(writer) LOOP
    IF writer AND fn OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT * FROM drivetribe_internal.api_functions(false))) THEN
      CONTINUE;                 -- revoke_writer keeps the read API
    END IF;
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', fn, role);
  END LOOP;
  IF NOT writer THEN
    EXECUTE pg_catalog.format(
      'REVOKE SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats FROM %s',
      role);
  END IF;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe_internal.maintenance_cron_jobs()
 RETURNS TABLE(jobid bigint, jobname text, username text, schedule text, command text, ours boolean)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e
                  WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron'::pg_catalog.name) THEN
    RETURN;
  END IF;
  -- (cron.job is only parsed where pg_cron is installed)
  RETURN QUERY
  SELECT j.jobid, j.jobname::pg_catalog.text, j.username::pg_catalog.text,
         j.schedule::pg_catalog.text, j.command::pg_catalog.text,
         EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) j.username::pg_catalog.text
                    AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) x.extowner))
    FROM cron.job j
    LEFT JOIN pg_catalog.pg_extension x
      ON x.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name
   WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
         SELECT m.jobname FROM drivetribe_internal.maintenance_jobs() m)
     AND j.database::pg_catalog.text OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.grant_writer(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.grant_api($1, true) $function$;

CREATE OR REPLACE FUNCTION drivetribe.grant_reader(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.grant_api($1, false) $function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_writer(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.revoke_api(role, true) $function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_reader(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.revoke_api(role, true); SELECT drivetribe_internal.revoke_api(role, false) $function$;

CREATE OR REPLACE FUNCTION drivetribe.schedule_maintenance()
 RETURNS SETOF bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  job record;
  existing record;
  found_one boolean;
BEGIN
  PERFORM drivetribe_internal.require_pg_cron();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.oid OPERATOR(pg_catalog.=) current_user::pg_catalog.regrole::pg_catalog.oid
                    AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) (
                         SELECT e.extowner FROM pg_catalog.pg_extension e
                          WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name))) THEN
    RAISE EXCEPTION 'drivetribe.schedule_maintenance() must be run by a superuser or the extension''s owner'
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'pg_cron runs a job as the role that scheduled it; only such a role''s jobs count as the extension''s.';
  END IF;
  -- another role's job of one of the names: not ours, removed
  FOR existing IN SELECT c.jobid, c.jobname, c.username
                    FROM drivetribe_internal.maintenance_cron_jobs() c
                   WHERE NOT c.ours ORDER BY c.jobname, c.username LOOP
    PERFORM cron.unschedule(existing.jobid);
    RAISE WARNING 'removed pg_cron job "%" of role "%": only a superuser''s job can be a drivetribe maintenance job',
                  existing.jobname, existing.username
      USING DETAIL = 'A job of that name owned by another role runs that role''s command, whatever drivetribe registers.';
  END LOOP;
  FOR job IN SELECT * FROM drivetribe_internal.maintenance_jobs() LOOP
    found_one := false;
    FOR existing IN SELECT c.jobid FROM drivetribe_internal.maintenance_cron_jobs() c
                     WHERE c.ours AND c.jobname OPERATOR(pg_catalog.=) job.jobname
                     ORDER BY c.jobid LOOP
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
$function$;

CREATE OR REPLACE FUNCTION drivetribe.unschedule_maintenance()
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  removed bigint := 0;
  job record;
BEGIN
  PERFORM drivetribe_internal.require_pg_cron();
  FOR job IN SELECT c.jobid FROM drivetribe_internal.maintenance_cron_jobs() c WHERE c.ours LOOP
    PERFORM cron.unschedule(job.jobid);
    removed := removed OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN removed;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.run_maintenance(job text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
                  SELECT m.jobname FROM drivetribe_internal.maintenance_jobs() m));
  ELSE
    RAISE EXCEPTION 'unknown drivetribe maintenance job "%"', job
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_monitor(role regrole)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE SELECT ON drivetribe.status, drivetribe.stream_slots FROM %s', role);
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.status_rows(), drivetribe.settings() FROM %s', role);
  -- a log reader (grant_log_reader()) keeps log_horizon
  IF NOT drivetribe_internal.granted_directly(role,
           (SELECT p.proacl FROM pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=)
                   'drivetribe.read_log(pg_catalog.xid8,bigint,integer)'::pg_catalog.regprocedure),
           'EXECUTE') THEN
    EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', role);
  END IF;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_log_reader(role regrole)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.read_log(pg_catalog.xid8,bigint,integer) FROM %s', role);
  -- a monitor (grant_monitor()) keeps log_horizon
  IF NOT drivetribe_internal.granted_directly(role,
           (SELECT p.proacl FROM pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=) 'drivetribe.status_rows()'::pg_catalog.regprocedure),
           'EXECUTE') THEN
    EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', role);
  END IF;
END
$function$;

COMMENT ON FUNCTION drivetribe.run_maintenance(text) IS
  'run one of the extension''s maintenance jobs now (the command of each pg_cron job of schedule_maintenance(): verify, fold-stripes, heartbeat, prune-noop-calls, prune-cron-history); verify fails when verify() finds differences';

------------------------------------------------------------------------
-- the operator's view: drivetribe.status checks the server's settings
------------------------------------------------------------------------
-- (docs/design.md "The operator's view")  status checks the server's
-- settings, each row with its fix: wal_level (the stream), pg_cron
-- (installed, preloaded, cron.database_name, created here, jobs scheduled),
-- the plugin allowed (output_plugin_libraries), worker headroom for the
-- rank worker.  The body moves to drivetribe_internal.status_rows(); the
-- API's drivetribe.status_rows() (what the view and grant_monitor() name)
-- calls it, so \df+ drivetribe.* is not as wide as its source.
CREATE FUNCTION drivetribe_internal.status_rows()
 RETURNS TABLE(area text, item text, value text, detail text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  last_seq bigint;
  hour_start bigint;
  minute_start bigint;
  plugins text;
  awaiting bigint;
  -- (1.8) the server's settings
  preload text[] := pg_catalog.string_to_array(pg_catalog.replace(
                      pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',');
  cron_db text := pg_catalog.current_setting('cron.database_name', true);
  jobs_ours bigint;
  jobs_all bigint;
  workers_used bigint;
  workers_max bigint := pg_catalog.current_setting('max_worker_processes')::bigint;
  rank_running boolean;
  reserved boolean;
BEGIN
  ---------------------------------------------------------------- log
  SELECT max(e.seq) INTO last_seq FROM ONLY drivetribe.events e;
  area := 'log'; item := 'last seq'; value := coalesce(last_seq::text, 'none');
  detail := 'the last event appended'; RETURN NEXT;
  item := 'size';
  SELECT pg_size_pretty(pg_total_relation_size(c.oid)),
         pg_total_relation_size(c.oid) OPERATOR(pg_catalog.||) ' bytes with indexes, about '
           OPERATOR(pg_catalog.||) greatest(c.reltuples, 0)::bigint OPERATOR(pg_catalog.||) ' events (planner estimate)'
    INTO value, detail
    FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass;
  RETURN NEXT;
  hour_start := drivetribe_internal.first_seq_since(now() OPERATOR(pg_catalog.-) '1 hour'::interval);
  minute_start := drivetribe_internal.first_seq_since(now() OPERATOR(pg_catalog.-) '1 minute'::interval);
  RETURN QUERY
  WITH kinds(kind, n) AS (
         SELECT k.kind, k.n FROM unnest(ARRAY[
                'user_registered', 'user_renamed', 'tribe_created', 'tribe_renamed',
                'tribe_joined', 'tribe_left', 'user_followed', 'user_unfollowed',
                'article_posted', 'article_edited', 'article_deleted', 'article_viewed',
                'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped'])
                WITH ORDINALITY AS k(kind, n)),
       recent AS (
         SELECT e.kind, count(*) AS last_hour,
                count(*) FILTER (WHERE e.seq OPERATOR(pg_catalog.>=) minute_start) AS last_minute
           FROM ONLY drivetribe.events e
          WHERE e.seq OPERATOR(pg_catalog.>=) hour_start
          GROUP BY e.kind),
       estimated AS (
         SELECT v.kind, round(v.freq::numeric OPERATOR(pg_catalog.*) greatest(c.reltuples, 0)::numeric)::bigint AS total
           FROM pg_stats s
           CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(kind, freq)
           JOIN pg_class c ON c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass
          WHERE s.schemaname OPERATOR(pg_catalog.=) 'drivetribe' AND s.tablename OPERATOR(pg_catalog.=) 'events'
            AND s.attname OPERATOR(pg_catalog.=) 'kind')
  SELECT 'log', 'events ' OPERATOR(pg_catalog.||) k.kind,
         coalesce(r.last_hour, 0)::text,
         'last hour; last minute ' OPERATOR(pg_catalog.||) coalesce(r.last_minute, 0)
           OPERATOR(pg_catalog.||) coalesce('; about ' OPERATOR(pg_catalog.||) x.total OPERATOR(pg_catalog.||) ' in all (planner estimate)', '')
    FROM kinds k
    LEFT JOIN recent r ON r.kind OPERATOR(pg_catalog.=) k.kind
    LEFT JOIN estimated x ON x.kind OPERATOR(pg_catalog.=) k.kind
   ORDER BY k.n;

  ---------------------------------------------------------------- projections
  RETURN QUERY
  SELECT 'projection', c.relname::text,
         coalesce(s.n_live_tup, 0)::text,
         'rows (statistics); ' OPERATOR(pg_catalog.||) pg_size_pretty(pg_total_relation_size(c.oid))
           OPERATOR(pg_catalog.||) ' with indexes'
    FROM pg_class c
    LEFT JOIN pg_stat_all_tables s ON s.relid OPERATOR(pg_catalog.=) c.oid
   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'drivetribe'::regnamespace
     AND c.relkind OPERATOR(pg_catalog.=) 'r'
     AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['events', 'verify_runs'])
   ORDER BY c.relname;

  ---------------------------------------------------------------- hot keys
  RETURN QUERY
  SELECT 'hot key', 'article ' OPERATOR(pg_catalog.||) p.article_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(a.title, '?')
    FROM (SELECT s.article_id, count(*) AS stripes,
                 sum(abs(s.views) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps)) AS pending
            FROM drivetribe.article_stripes s GROUP BY s.article_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.articles a ON a.article_id OPERATOR(pg_catalog.=) p.article_id
   ORDER BY p.pending DESC;
  RETURN QUERY
  SELECT 'hot key', 'user ' OPERATOR(pg_catalog.||) p.user_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(u.name, '?')
    FROM (SELECT s.user_id, count(*) AS stripes,
                 sum(abs(s.articles) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps_given)
                     OPERATOR(pg_catalog.+) abs(s.bumps_received) OPERATOR(pg_catalog.+) abs(s.followers)
                     OPERATOR(pg_catalog.+) abs(s.following) OPERATOR(pg_catalog.+) abs(s.tribes)) AS pending
            FROM drivetribe.user_stripes s GROUP BY s.user_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) p.user_id
   ORDER BY p.pending DESC;
  RETURN QUERY
  SELECT 'hot key', 'tribe ' OPERATOR(pg_catalog.||) p.tribe_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(t.name, '?')
    FROM (SELECT s.tribe_id, count(*) AS stripes,
                 sum(abs(s.members) OPERATOR(pg_catalog.+) abs(s.articles)) AS pending
            FROM drivetribe.tribe_stripes s GROUP BY s.tribe_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.tribes t ON t.tribe_id OPERATOR(pg_catalog.=) p.tribe_id
   ORDER BY p.pending DESC;
  area := 'hot key'; item := 'lock waits now';
  SELECT coalesce(sum(w.n), 0)::text,
         'sessions of this database waiting for a lock, by what they wait for: '
           OPERATOR(pg_catalog.||) coalesce(string_agg(w.wait_event OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) w.n, ', '), 'none')
    INTO value, detail
    FROM (SELECT a.wait_event, count(*) AS n FROM pg_stat_activity a
           WHERE a.datname OPERATOR(pg_catalog.=) current_database()
             AND a.wait_event_type OPERATOR(pg_catalog.=) 'Lock'
           GROUP BY a.wait_event) w;
  RETURN NEXT;

  ---------------------------------------------------------------- rank
  area := 'rank'; item := 'articles awaiting fold';
  SELECT count(DISTINCT s.article_id)::text INTO value FROM drivetribe.article_stripes s;
  awaiting := value::bigint;
  detail := 'counter changes whose article''s score (article_ranks) the next fold sets: within 2 s while a rank worker runs';
  RETURN NEXT;
  item := 'largest rank lag';
  SELECT coalesce(max(p.pending), 0)::text,
         coalesce('article ' OPERATOR(pg_catalog.||) (array_agg(p.article_id ORDER BY p.pending DESC))[1]
                  OPERATOR(pg_catalog.||) ': counter changes not yet in its score', 'none: every score is current')
    INTO value, detail
    FROM (SELECT s.article_id, sum(abs(s.views) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps)) AS pending
            FROM drivetribe.article_stripes s GROUP BY s.article_id) p;
  RETURN NEXT;
  item := 'rank worker';
  SELECT coalesce(string_agg('pid ' OPERATOR(pg_catalog.||) a.pid, ', '), 'not running') INTO value
    FROM pg_stat_activity a
   WHERE a.backend_type OPERATOR(pg_catalog.=) 'drivetribe rank worker'
     AND a.datname OPERATOR(pg_catalog.=) current_database();
  detail := CASE
    WHEN value OPERATOR(pg_catalog.<>) 'not running' THEN
      'sets the scores of articles with pending counter changes every drivetribe.fold_interval ('
      OPERATOR(pg_catalog.||) pg_catalog.current_setting('drivetribe.fold_interval', true) OPERATOR(pg_catalog.||) ')'
    WHEN pg_catalog.current_setting('drivetribe.rank_worker', true) OPERATOR(pg_catalog.=) 'off' THEN
      'drivetribe.rank_worker is off here: scores follow their counts only when drivetribe.fold_stripes() runs (the pg_cron job, every minute)'
    WHEN awaiting OPERATOR(pg_catalog.>) 0 THEN
      'NOT RUNNING while articles await a fold: their scores lag their counts.  It needs a free max_worker_processes slot '
      OPERATOR(pg_catalog.||) '(see "worker slots" and the server log); SELECT drivetribe.fold_stripes() sets the scores now; '
      OPERATOR(pg_catalog.||) 'shared_preload_libraries = ''drivetribe'' with drivetribe.rank_databases reserves a worker for this database'
    ELSE 'none needed now: the next counter change of an article, or a feed read that finds one pending, starts one' END;
  RETURN NEXT;
  rank_running := value OPERATOR(pg_catalog.<>) 'not running';
  item := 'worker slots';
  SELECT pg_catalog.count(*) INTO workers_used FROM pg_stat_activity a
   WHERE a.backend_type NOT IN ('client backend', 'checkpointer', 'background writer', 'walwriter',
                                'autovacuum launcher', 'startup', 'archiver', 'walsender', 'walreceiver',
                                'autovacuum worker', 'logger', 'stats collector');
  -- (1.8) a database named in drivetribe.rank_databases (the library
  -- preloaded) has a worker of its own, started with the server
  reserved := 'drivetribe' OPERATOR(pg_catalog.=) ANY (preload)
              AND pg_catalog.current_database()::text OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(
                    pg_catalog.replace(coalesce(pg_catalog.current_setting('drivetribe.rank_databases', true), ''), ' ', ''), ','));
  value := workers_used OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) workers_max OPERATOR(pg_catalog.||) ' in use';
  detail := CASE
    WHEN reserved THEN
      'this database''s rank worker has a slot of its own (drivetribe.rank_databases, drivetribe preloaded)'
    WHEN rank_running OR workers_used OPERATOR(pg_catalog.<) workers_max THEN
      (workers_max OPERATOR(pg_catalog.-) workers_used) OPERATOR(pg_catalog.||) ' free'
      OPERATOR(pg_catalog.||) CASE WHEN rank_running THEN '; the rank worker has one' ELSE ': enough for the rank worker' END
      OPERATOR(pg_catalog.||) '. Background workers (parallel query, logical replication, pg_cron, every database''s rank worker) share '
      OPERATOR(pg_catalog.||) 'max_worker_processes: keep one free for each database''s rank worker, or reserve it: '
      OPERATOR(pg_catalog.||) 'shared_preload_libraries = ''drivetribe'' and drivetribe.rank_databases = '''
      OPERATOR(pg_catalog.||) pg_catalog.current_database() OPERATOR(pg_catalog.||) ''' (restart)'
    ELSE
      'NONE FREE: this database''s rank worker cannot start, and scores lag their counts until one is free. '
      OPERATOR(pg_catalog.||) 'Raise max_worker_processes (restart), or reserve a worker: shared_preload_libraries = ''drivetribe'' '
      OPERATOR(pg_catalog.||) 'and drivetribe.rank_databases = ''' OPERATOR(pg_catalog.||) pg_catalog.current_database()
      OPERATOR(pg_catalog.||) ''' (restart)' END;
  RETURN NEXT;

  ---------------------------------------------------------------- stream
  -- (1.8) the stream needs logical decoding
  area := 'stream'; item := 'wal_level'; value := pg_catalog.current_setting('wal_level');
  detail := CASE WHEN value OPERATOR(pg_catalog.=) 'logical'
                 THEN 'logical decoding is on: the stream''s slots can be created'
                 ELSE 'the stream needs wal_level = logical: set it in postgresql.conf and restart the server (everything else works without it)' END;
  RETURN NEXT;
  RETURN QUERY
  SELECT 'stream', 'slot ' OPERATOR(pg_catalog.||) s.slot_name,
         coalesce(pg_size_pretty(s.lag_bytes), 'unknown'),
         'behind the server; keeps ' OPERATOR(pg_catalog.||) coalesce(pg_size_pretty(s.retained_bytes), '?')
           OPERATOR(pg_catalog.||) ' of WAL (' OPERATOR(pg_catalog.||) coalesce(s.wal_status, '?') OPERATOR(pg_catalog.||) '); '
           OPERATOR(pg_catalog.||) CASE WHEN s.active THEN 'consumer connected, last reply '
                                        OPERATOR(pg_catalog.||) coalesce(date_trunc('second', s.reply_age)::text OPERATOR(pg_catalog.||) ' ago', 'unknown')
                                   ELSE 'no consumer connected' END
           OPERATOR(pg_catalog.||) ' (database ' OPERATOR(pg_catalog.||) s.database OPERATOR(pg_catalog.||) ')'
    FROM drivetribe.stream_slots s
   ORDER BY s.slot_name;
  area := 'stream'; item := 'output_plugin_libraries';
  SELECT st.setting INTO plugins FROM pg_settings st WHERE st.name OPERATOR(pg_catalog.=) 'output_plugin_libraries';
  IF plugins IS NULL THEN
    value := 'not a setting of this server';
    detail := 'before 15.19 every installed plugin may be used: the drivetribe plugin is allowed';
  ELSE
    value := plugins;
    detail := CASE WHEN EXISTS (SELECT FROM unnest(string_to_array(plugins, ',')) p(name)
                                 WHERE btrim(p.name) OPERATOR(pg_catalog.=) 'drivetribe'
                                    OR btrim(p.name) OPERATOR(pg_catalog.~~) '%/drivetribe')
                   THEN 'the drivetribe plugin is allowed'
                   ELSE 'the drivetribe plugin is NOT allowed: slots cannot be created or read; add drivetribe to the list, '
                        OPERATOR(pg_catalog.||) 're-listing the plugins it has (a new value replaces the default): output_plugin_libraries = '''
                        OPERATOR(pg_catalog.||) plugins OPERATOR(pg_catalog.||) ', drivetribe'' in postgresql.conf, then SELECT pg_reload_conf()' END;
  END IF;
  RETURN NEXT;
  item := 'max_slot_wal_keep_size'; value := current_setting('max_slot_wal_keep_size');
  detail := CASE WHEN value OPERATOR(pg_catalog.=) '-1'
                 THEN 'unlimited: a slot whose consumer stopped keeps WAL until the disk is full; set a bound'
                 ELSE 'a slot that falls further behind is invalidated (its consumer must start over)' END;
  RETURN NEXT;

  ---------------------------------------------------------------- settings
  RETURN QUERY
  SELECT 'setting', g.name, g.setting OPERATOR(pg_catalog.||) coalesce(' ' OPERATOR(pg_catalog.||) g.unit, ''), g.description
    FROM drivetribe.settings() g
   ORDER BY g.name;

  ---------------------------------------------------------------- verify
  area := 'verify'; item := 'last run';
  SELECT v.finished_at::text,
         CASE WHEN v.differences OPERATOR(pg_catalog.=) 0 THEN 'no differences'
              WHEN v.differences OPERATOR(pg_catalog.=) 1 THEN '1 difference: run SELECT * FROM drivetribe.verify() to see it, drivetribe.rebuild() to repair it'
              ELSE v.differences OPERATOR(pg_catalog.||) ' differences: run SELECT * FROM drivetribe.verify() to see them, drivetribe.rebuild() to repair' END
           OPERATOR(pg_catalog.||) '; ' OPERATOR(pg_catalog.||) v.events OPERATOR(pg_catalog.||) ' events replayed in '
           OPERATOR(pg_catalog.||) date_trunc('millisecond', v.finished_at OPERATOR(pg_catalog.-) v.started_at)
           OPERATOR(pg_catalog.||) ' by ' OPERATOR(pg_catalog.||) v.run_by
    INTO value, detail
    FROM drivetribe.verify_runs v
   ORDER BY v.finished_at DESC LIMIT 1;
  IF NOT FOUND THEN
    value := 'never'; detail := 'no verify() has finished since 1.5 was installed';
  END IF;
  RETURN NEXT;

  ---------------------------------------------------------------- jobs
  -- (1.8) pg_cron: installed, preloaded, running in this database, the
  -- extension created here, the jobs scheduled; the first that is not so
  -- is the value, with its fix
  SELECT pg_catalog.count(DISTINCT c.jobname) FILTER (WHERE c.ours)
    INTO jobs_ours FROM drivetribe_internal.maintenance_cron_jobs() c;
  SELECT pg_catalog.count(*) INTO jobs_all FROM drivetribe_internal.maintenance_jobs();
  area := 'job'; item := 'pg_cron';
  IF NOT EXISTS (SELECT FROM pg_available_extensions x WHERE x.name OPERATOR(pg_catalog.=) 'pg_cron') THEN
    value := 'not installed';
    detail := 'the maintenance jobs need pg_cron: install it (Debian: postgresql-15-cron), then shared_preload_libraries = ''pg_cron'' '
              OPERATOR(pg_catalog.||) 'and cron.database_name = ''' OPERATOR(pg_catalog.||) pg_catalog.current_database()
              OPERATOR(pg_catalog.||) ''' in postgresql.conf, restart, CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance(); '
              OPERATOR(pg_catalog.||) 'without it, run drivetribe.verify() yourself';
  ELSIF NOT 'pg_cron' OPERATOR(pg_catalog.=) ANY (preload) THEN
    value := 'not preloaded';
    detail := 'pg_cron is installed but not in shared_preload_libraries: set shared_preload_libraries = ''pg_cron'' '
              OPERATOR(pg_catalog.||) '(with the libraries it has) and cron.database_name = ''' OPERATOR(pg_catalog.||) pg_catalog.current_database()
              OPERATOR(pg_catalog.||) ''' in postgresql.conf, restart the server, then CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance();';
  ELSIF cron_db IS DISTINCT FROM pg_catalog.current_database()::text THEN
    value := 'runs in database ' OPERATOR(pg_catalog.||) coalesce(pg_catalog.quote_ident(cron_db), '?');
    detail := 'pg_cron runs jobs of its cron.database_name only: set cron.database_name = '''
              OPERATOR(pg_catalog.||) pg_catalog.current_database() OPERATOR(pg_catalog.||) ''' in postgresql.conf and restart '
              OPERATOR(pg_catalog.||) '(one database per cluster), then CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance();';
  ELSIF NOT EXISTS (SELECT FROM pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    value := 'not created';
    detail := 'pg_cron is preloaded for this database: run CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance();';
  ELSIF jobs_ours OPERATOR(pg_catalog.<) jobs_all THEN
    value := jobs_ours OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) jobs_all OPERATOR(pg_catalog.||) ' jobs scheduled';
    detail := 'run SELECT drivetribe.schedule_maintenance(); (as a superuser or the extension''s owner)';
  ELSE
    value := 'ready';
    detail := jobs_all OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) jobs_all
              OPERATOR(pg_catalog.||) ' jobs scheduled: see the job rows for their last runs';
  END IF;
  RETURN NEXT;
  IF EXISTS (SELECT FROM pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    -- (nested: cron.job_run_details is only parsed where pg_cron is
    -- installed).  Only the extension's own jobs (1.7: owned by a
    -- superuser or the extension's owner); another role's job of the same
    -- name is named in the detail, never shown as the job.
    RETURN QUERY
    WITH c AS (SELECT * FROM drivetribe_internal.maintenance_cron_jobs())
    SELECT 'job', m.jobname,
           coalesce(j.schedule, 'not scheduled'),
           CASE WHEN j.jobid IS NULL THEN 'run SELECT drivetribe.schedule_maintenance()'
                WHEN r.status IS NULL THEN 'no run yet'
                ELSE 'last run ' OPERATOR(pg_catalog.||) r.status OPERATOR(pg_catalog.||) ' at '
                     OPERATOR(pg_catalog.||) r.start_time::text
                     OPERATOR(pg_catalog.||) coalesce(': ' OPERATOR(pg_catalog.||) left(r.return_message, 200), '') END
             OPERATOR(pg_catalog.||) coalesce('; ' OPERATOR(pg_catalog.||) o.others, '')
      FROM drivetribe_internal.maintenance_jobs() m
      LEFT JOIN c j ON j.ours AND j.jobname OPERATOR(pg_catalog.=) m.jobname
      LEFT JOIN LATERAL (SELECT 'not drivetribe''s: a job of the same name owned by role '
                                  OPERATOR(pg_catalog.||) string_agg(quote_ident(f.username), ', ' ORDER BY f.username)
                                  OPERATOR(pg_catalog.||) ' (schedule_maintenance() removes it)' AS others
                           FROM c f
                          WHERE NOT f.ours AND f.jobname OPERATOR(pg_catalog.=) m.jobname) o ON true
      LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.return_message
                           FROM cron.job_run_details d
                          WHERE d.jobid OPERATOR(pg_catalog.=) j.jobid
                          ORDER BY d.start_time DESC NULLS LAST LIMIT 1) r ON true
     ORDER BY m.jobname, j.jobid;
  ELSE
    RETURN QUERY
    SELECT 'job', m.jobname, 'not scheduled', 'pg_cron is not installed in this database'
      FROM drivetribe_internal.maintenance_jobs() m ORDER BY m.jobname;
  END IF;
END
$function$;

COMMENT ON FUNCTION drivetribe_internal.status_rows() IS
  'internal (drivetribe.status_rows, the status view): the rows of drivetribe.status';
REVOKE ALL ON FUNCTION drivetribe_internal.status_rows() FROM PUBLIC;

CREATE OR REPLACE FUNCTION drivetribe.status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'SELECT * FROM drivetribe_internal.status_rows()';

------------------------------------------------------------------------
-- reads: keyset paging that cannot be mistyped
------------------------------------------------------------------------
