--
-- 94_status: drivetribe.status (1.5), grant_monitor()/revoke_monitor(),
-- settings(), verify()'s history.  Values that depend on timing or sizes
-- are shown as facts about them, not as numbers.
--
\pset null NULL
CREATE ROLE regress_monitor LOGIN;
SELECT drivetribe.grant_monitor(NULL);
SELECT drivetribe.grant_monitor('regress_monitor');

-- every area, and the rows that are always there
SET ROLE regress_monitor;
SELECT area, count(*) > 0 AS has_rows FROM drivetribe.status GROUP BY area ORDER BY area;
SELECT item FROM drivetribe.status WHERE area IN ('log', 'rank', 'verify')
   OR (area = 'stream' AND item NOT LIKE 'slot %') ORDER BY area, item;
SELECT item FROM drivetribe.status WHERE area = 'projection' ORDER BY item;
SELECT item FROM drivetribe.status WHERE area = 'job' ORDER BY item;
-- drivetribe's settings, loaded in any session
SELECT item, value FROM drivetribe.status
 WHERE area = 'setting' AND item IN ('drivetribe.fold_interval', 'drivetribe.feed_walk_rows') ORDER BY item;
-- a monitoring role reads status, not the data
SELECT count(*) FROM drivetribe.articles;
SELECT count(*) FROM drivetribe.article(1);
RESET ROLE;

-- events in the last minute: the kinds appended now are counted
SELECT (SELECT value::bigint FROM drivetribe.status WHERE item = 'events user_registered') AS before \gset
SELECT count(drivetribe.register_user(u, 'status user ' || u)) FROM generate_series(9401, 9403) u;
SELECT value::bigint - :before AS new_registrations,
       detail ~ 'last minute [0-9]+' AS minute_shown
  FROM drivetribe.status WHERE item = 'events user_registered';
SELECT value::bigint = (SELECT max(seq) FROM drivetribe.events) AS last_seq_is_max
  FROM drivetribe.status WHERE item = 'last seq';

-- verify(): each run is recorded (as the table's owner), the last shown
SELECT count(*) AS runs_before FROM drivetribe.verify_runs \gset
SELECT count(*) AS differences FROM drivetribe.verify();
SELECT count(*) - :runs_before AS new_runs, max(differences) FILTER (WHERE finished_at = (SELECT max(finished_at) FROM drivetribe.verify_runs)) AS last_differences
  FROM drivetribe.verify_runs;
SELECT value <> 'never' AS recorded, detail LIKE 'no differences; % events replayed in % by %' AS detail_shown
  FROM drivetribe.status WHERE area = 'verify';
-- not in a read-only transaction (nothing can be written there)
BEGIN TRANSACTION READ ONLY;
SELECT count(*) AS differences FROM drivetribe.verify();
COMMIT;
SELECT count(*) - :runs_before AS new_runs FROM drivetribe.verify_runs;

-- settings() directly
SELECT name, unit FROM drivetribe.settings() WHERE name = 'drivetribe.fold_interval';

-- revoke_monitor: nothing left
SELECT drivetribe.revoke_monitor('regress_monitor');
SET ROLE regress_monitor;
SELECT count(*) FROM drivetribe.status;
RESET ROLE;
REVOKE USAGE ON SCHEMA drivetribe FROM regress_monitor;
DROP ROLE regress_monitor;
-- the rank worker's row says why there is none (this database starts none)
SELECT value, detail LIKE 'drivetribe.rank_worker is off here%' AS says_why
  FROM drivetribe.status WHERE item = 'rank worker';
SELECT value ~ '^[0-9]+ of [0-9]+ in use$' AS slots FROM drivetribe.status WHERE item = 'worker slots';

-- (1.7) the server's settings, each with its fix.  Values depend on the
-- server: shown as facts about them.
-- wal_level: the setting; logical, or the line that fixes it
SELECT value = current_setting('wal_level') AS shows_setting,
       CASE WHEN value = 'logical' THEN detail LIKE 'logical decoding is on%'
            ELSE detail LIKE '%wal_level = logical%restart%' END AS fix_given
  FROM drivetribe.status WHERE area = 'stream' AND item = 'wal_level';
-- pg_cron: the first step missing, agreeing with the server, with its fix
SELECT value = CASE
         WHEN NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron') THEN 'not installed'
         WHEN NOT 'pg_cron' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
           THEN 'not preloaded'
         WHEN current_setting('cron.database_name', true) IS DISTINCT FROM current_database()
           THEN 'runs in database ' || quote_ident(current_setting('cron.database_name', true))
         WHEN NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN 'not created'
         ELSE value END AS state_agrees,
       value = 'ready' OR detail ~ 'shared_preload_libraries|cron\.database_name|CREATE EXTENSION pg_cron|schedule_maintenance'
         AS fix_given
  FROM drivetribe.status WHERE area = 'job' AND item = 'pg_cron';
-- the plugin row: allowed, or the line to paste
SELECT value = 'not a setting of this server' OR detail = 'the drivetribe plugin is allowed'
       OR detail LIKE '%output_plugin_libraries = ''%, drivetribe''%pg_reload_conf()%' AS plugin_fix_given
  FROM drivetribe.status WHERE item = 'output_plugin_libraries';
-- worker headroom: how many are free, or the reservation, or both fixes
SELECT detail ~ '^[0-9]+ free' OR detail LIKE '%has a slot of its own%'
       OR detail LIKE 'NONE FREE%max_worker_processes%drivetribe.rank_databases%' AS headroom_shown
  FROM drivetribe.status WHERE item = 'worker slots';
-- one difference reads in the singular (1.7: "1 differences")
BEGIN;
INSERT INTO drivetribe.verify_runs (started_at, finished_at, differences, events, run_by)
VALUES (now(), now() + interval '1 hour', 1, 1, 'regress');
SELECT detail LIKE '1 difference: run %' AS singular FROM drivetribe.status WHERE area = 'verify';
ROLLBACK;
