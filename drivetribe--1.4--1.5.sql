/* drivetribe--1.4--1.5.sql: the operator's view (issue 12) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.5'" to load this file. \quit

------------------------------------------------------------------------
-- Settings as rows.  A library's GUCs exist only in backends that loaded
-- it; calling this C function loads it, so status shows them in any
-- session (pg_settings alone may not).
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.settings()
RETURNS TABLE (name text, setting text, unit text, description text)
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'drivetribe_settings';
COMMENT ON FUNCTION drivetribe.settings() IS
  'every drivetribe.* setting: name, current value, unit and what it does';

------------------------------------------------------------------------
-- verify()'s history: each finished verify() adds a row (as this table's
-- owner, whoever called it; not on a standby or in a read-only
-- transaction).  Rows older than 90 days are pruned by the next run.
------------------------------------------------------------------------
CREATE TABLE drivetribe.verify_runs (
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    differences bigint      NOT NULL,   -- rows verify() returned
    events      bigint      NOT NULL,   -- events replayed
    run_by      name        NOT NULL    -- session user
);
CREATE INDEX verify_runs_finished_idx ON drivetribe.verify_runs (finished_at DESC);
COMMENT ON TABLE drivetribe.verify_runs IS
  'one row per finished verify(): when, how many differences, how many events replayed, by whom (90 days kept)';

------------------------------------------------------------------------
-- DROP EXTENSION removes the pg_cron jobs.  At sql_drop an extension's
-- own event trigger is already gone, so this one runs at ddl_command_start
-- and reads the statement's parse tree (src/monitor.c): same transaction,
-- so a drop that fails keeps the jobs.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.drop_cleanup()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_drop_cleanup';
COMMENT ON FUNCTION drivetribe.drop_cleanup() IS
  'internal (event trigger): on DROP EXTENSION drivetribe, unschedule the maintenance jobs in the same transaction';
CREATE EVENT TRIGGER drivetribe_drop_cleanup ON ddl_command_start
  WHEN TAG IN ('DROP EXTENSION')
  EXECUTE FUNCTION drivetribe.drop_cleanup();
ALTER EVENT TRIGGER drivetribe_drop_cleanup ENABLE ALWAYS;

------------------------------------------------------------------------
-- heartbeat() on a hot standby: 25006 like every write, not the internal
-- "cannot assign TransactionIds during recovery".
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION drivetribe.heartbeat()
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF pg_catalog.pg_is_in_recovery() THEN
    RAISE EXCEPTION 'cannot execute drivetribe.heartbeat() on a hot standby'
      USING ERRCODE = 'read_only_sql_transaction',
            HINT = 'Send heartbeats to the primary: the slots live there.';
  END IF;
  RETURN pg_catalog.pg_logical_emit_message(true, 'drivetribe.heartbeat', '');
END
$$;

------------------------------------------------------------------------
-- The first seq appended at or after a time, by bisection over seq (a few
-- index probes).  Assumes occurred_at grows with seq, which holds for the
-- write API (it stamps now() at append).
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.first_seq_since(since timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  lo bigint;
  hi bigint;
  mid bigint;
  found_seq bigint;
  found_at timestamptz;
BEGIN
  SELECT min(e.seq), max(e.seq) INTO lo, hi FROM drivetribe.events e;
  IF hi IS NULL THEN
    RETURN NULL;
  END IF;
  hi := hi OPERATOR(pg_catalog.+) 1;          -- the answer lies in [lo, hi]
  WHILE lo OPERATOR(pg_catalog.<) hi LOOP
    mid := lo OPERATOR(pg_catalog.+) ((hi OPERATOR(pg_catalog.-) lo) OPERATOR(pg_catalog./) 2);
    SELECT e.seq, e.occurred_at INTO found_seq, found_at
      FROM drivetribe.events e
     WHERE e.seq OPERATOR(pg_catalog.>=) mid
     ORDER BY e.seq LIMIT 1;
    IF found_at OPERATOR(pg_catalog.>=) since THEN
      hi := mid;
    ELSE
      lo := found_seq OPERATOR(pg_catalog.+) 1;
    END IF;
  END LOOP;
  RETURN lo;
END
$$;
COMMENT ON FUNCTION drivetribe.first_seq_since(timestamptz) IS
  'internal (status): the first seq appended at or after a time, by bisection over seq';

------------------------------------------------------------------------
-- drivetribe.status: one row per fact, for psql and for monitoring.
-- area | item | value | detail; every row documented in docs/design.md
-- ("The operator's view").  SECURITY DEFINER: it reads pg_cron's tables,
-- every session's wait state and the slots; a monitoring role needs only
-- grant_monitor().
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  last_seq bigint;
  hour_start bigint;
  minute_start bigint;
  plugins text;
BEGIN
  ---------------------------------------------------------------- log
  SELECT max(e.seq) INTO last_seq FROM drivetribe.events e;
  area := 'log'; item := 'last seq'; value := coalesce(last_seq::text, 'none');
  detail := 'the last event appended'; RETURN NEXT;
  item := 'size';
  SELECT pg_size_pretty(pg_total_relation_size(c.oid)),
         pg_total_relation_size(c.oid) OPERATOR(pg_catalog.||) ' bytes with indexes, about '
           OPERATOR(pg_catalog.||) greatest(c.reltuples, 0)::bigint OPERATOR(pg_catalog.||) ' events (planner estimate)'
    INTO value, detail
    FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass;
  RETURN NEXT;
  hour_start := drivetribe.first_seq_since(now() OPERATOR(pg_catalog.-) '1 hour'::interval);
  minute_start := drivetribe.first_seq_since(now() OPERATOR(pg_catalog.-) '1 minute'::interval);
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
           FROM drivetribe.events e
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
  detail := 'their stored score and rank lag their counts until the next fold (drivetribe.fold_interval)';
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
  detail := 'folds stripes every drivetribe.fold_interval while there are any; started by the next counter change';
  RETURN NEXT;

  ---------------------------------------------------------------- stream
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
                   ELSE 'the drivetribe plugin is NOT allowed: slots cannot be created or read; add drivetribe to output_plugin_libraries and reload' END;
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
  IF EXISTS (SELECT FROM pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    -- (nested: cron.job is only parsed where pg_cron is installed)
    RETURN QUERY
    SELECT 'job', m.jobname,
           coalesce(j.schedule, 'not scheduled'),
           CASE WHEN j.jobid IS NULL THEN 'run SELECT drivetribe.schedule_maintenance()'
                WHEN r.status IS NULL THEN 'no run yet'
                ELSE 'last run ' OPERATOR(pg_catalog.||) r.status OPERATOR(pg_catalog.||) ' at '
                     OPERATOR(pg_catalog.||) r.start_time::text
                     OPERATOR(pg_catalog.||) coalesce(': ' OPERATOR(pg_catalog.||) left(r.return_message, 200), '') END
      FROM drivetribe.maintenance_jobs() m
      LEFT JOIN cron.job j ON j.jobname::text OPERATOR(pg_catalog.=) m.jobname
      LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.return_message
                           FROM cron.job_run_details d
                          WHERE d.jobid OPERATOR(pg_catalog.=) j.jobid
                          ORDER BY d.start_time DESC NULLS LAST LIMIT 1) r ON true
     ORDER BY m.jobname;
  ELSE
    RETURN QUERY
    SELECT 'job', m.jobname, 'not scheduled', 'pg_cron is not installed in this database'
      FROM drivetribe.maintenance_jobs() m ORDER BY m.jobname;
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.status_rows() IS
  'the rows of drivetribe.status (area, item, value, detail)';

CREATE VIEW drivetribe.status AS
SELECT s.area, s.item, s.value, s.detail FROM drivetribe.status_rows() s;
COMMENT ON VIEW drivetribe.status IS
  'one row per fact for operators: the log (last seq, size, events per kind in the last hour and minute), each projection''s rows and size, the hottest keys and lock waits, the rank lag, the stream''s slots and the server''s plugin settings, drivetribe''s settings, the last verify(), the maintenance jobs and their last runs';
COMMENT ON COLUMN drivetribe.status.area IS 'log, projection, hot key, rank, stream, setting, verify or job';
COMMENT ON COLUMN drivetribe.status.item IS 'what the row is about (a kind, a table, a key, a slot, a setting, a job)';
COMMENT ON COLUMN drivetribe.status.value IS 'the figure or state';
COMMENT ON COLUMN drivetribe.status.detail IS 'what the value means, with the unit, and what to do when it is bad';

------------------------------------------------------------------------
-- A monitoring role: status, the slots and the log horizon, nothing else.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.grant_monitor(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA drivetribe TO %s', role);
  EXECUTE pg_catalog.format(
    'GRANT SELECT ON drivetribe.status, drivetribe.stream_slots, drivetribe.log_horizon TO %s', role);
  EXECUTE pg_catalog.format(
    'GRANT EXECUTE ON FUNCTION drivetribe.status_rows(), drivetribe.settings() TO %s', role);
END
$$;
COMMENT ON FUNCTION drivetribe.grant_monitor(regrole) IS
  'let a role read drivetribe.status, drivetribe.stream_slots and drivetribe.log_horizon (no data of the projections, no writes)';

CREATE FUNCTION drivetribe.revoke_monitor(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE SELECT ON drivetribe.status, drivetribe.stream_slots, drivetribe.log_horizon FROM %s', role);
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.status_rows(), drivetribe.settings() FROM %s', role);
END
$$;
COMMENT ON FUNCTION drivetribe.revoke_monitor(regrole) IS
  'undo grant_monitor() (the schema''s USAGE stays: other grants may need it)';

REVOKE ALL ON FUNCTION drivetribe.settings() FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.drop_cleanup() FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.first_seq_since(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.status_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.grant_monitor(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.revoke_monitor(regrole) FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.status FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.verify_runs FROM PUBLIC;
