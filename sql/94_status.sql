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
