--
-- 89_progress: progress and logging of rebuild() and verify() (issue 12,
-- item 2).  The setting drivetribe.progress_interval (default, bounds,
-- units); a quick call sends no NOTICE; the LOG lines of the start, the
-- end (with the result: events, differences, rows inserted, updated and
-- deleted) and of an error in the middle, seen by the client with
-- client_min_messages = log.  Times and rates are in the DETAIL of those
-- lines, hidden by VERBOSITY terse; the progress NOTICEs themselves depend
-- on time (test/e2e/progress.sh shows them, and what other sessions see).
-- A fresh database, so that the counts are this file's own.
--
-- a quick call (the library is loaded now): no NOTICE, no row
SELECT * FROM drivetribe.verify();
SHOW drivetribe.progress_interval;
SET drivetribe.progress_interval = -1;
SET drivetribe.progress_interval = '2h';
SET drivetribe.progress_interval = '1h';
SHOW drivetribe.progress_interval;
SET drivetribe.progress_interval = 0;
SHOW drivetribe.progress_interval;
SET drivetribe.progress_interval = 250;
SHOW drivetribe.progress_interval;
RESET drivetribe.progress_interval;

\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_progress;
RESET client_min_messages;
CREATE DATABASE dt_progress;
-- no rank worker there: rebuild() folds every stripe itself (and says so)
ALTER DATABASE dt_progress SET drivetribe.rank_worker = off;
\c dt_progress
\pset null NULL
CREATE EXTENSION drivetribe;
SELECT drivetribe.register_user(u, 'user ' || u) IS NOT NULL AS appended FROM generate_series(1, 4) u;
SELECT drivetribe.create_tribe(1, 1, 'tribe') IS NOT NULL AS appended;
SELECT drivetribe.post_article(10, 2, 1, 'title') IS NOT NULL AS appended;
SELECT drivetribe.bump(10, 3) IS NOT NULL AS appended;
SELECT drivetribe.follow_user(4, 2) IS NOT NULL AS appended;

\set VERBOSITY terse
SET client_min_messages = log;
SELECT * FROM drivetribe.verify();
SELECT drivetribe.rebuild();
-- drifted projections: a row changed, one missing, one extra
BEGIN;
UPDATE drivetribe.users SET name = 'drifted' WHERE user_id = 1;
DELETE FROM drivetribe.follows;
INSERT INTO drivetribe.bumps (article_id, user_id) VALUES (10, 4);
SELECT projection, key FROM drivetribe.verify() ORDER BY 1, 2;
SELECT drivetribe.rebuild();
SELECT count(*) AS differences FROM drivetribe.verify();
ROLLBACK;
-- one of a kind reads in the singular (issue 19: "1 differences"): one
-- difference, one row corrected, one event replayed
BEGIN;
UPDATE drivetribe.users SET name = 'drifted' WHERE user_id = 1;
SELECT projection, key FROM drivetribe.verify() ORDER BY 1, 2;
SELECT drivetribe.rebuild();
ROLLBACK;
RESET client_min_messages;
CREATE DATABASE dt_progress_one;
\c dt_progress_one
SET drivetribe.rank_worker = off;
CREATE EXTENSION drivetribe;
SELECT drivetribe.register_user(1, 'only one') IS NOT NULL AS appended;
\set VERBOSITY terse
SET client_min_messages = log;
SELECT count(*) AS differences FROM drivetribe.verify();
RESET client_min_messages;
\c dt_progress
DROP DATABASE dt_progress_one;
\set VERBOSITY terse
SET client_min_messages = log;
-- an error in the middle (the log cannot be replayed), caught by a
-- handler: the subtransaction's abort logs it before the handler runs.
-- (Uncaught, the LOG line follows the ERROR, and psql may print the two
-- in either order: test/e2e/progress.sh checks that case.)
BEGIN;
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, body)
VALUES (gen_random_uuid(), 'user_renamed', now(), 99, 'nobody');
DO $$
BEGIN
  PERFORM drivetribe.verify();
EXCEPTION WHEN data_corrupted THEN
  PERFORM pg_stat_clear_snapshot();
  RAISE NOTICE 'caught: %; query text restored: %', SQLERRM,
    (SELECT query = current_query() FROM pg_stat_activity WHERE pid = pg_backend_pid());
END $$;
DO $$
BEGIN
  PERFORM drivetribe.rebuild();
EXCEPTION WHEN data_corrupted THEN
  PERFORM pg_stat_clear_snapshot();
  RAISE NOTICE 'caught: %; query text restored: %', SQLERRM,
    (SELECT query = current_query() FROM pg_stat_activity WHERE pid = pg_backend_pid());
END $$;
ROLLBACK;
-- the next call is tracked as usual
SELECT drivetribe.rebuild();
RESET client_min_messages;
\set VERBOSITY default

-- pg_stat_activity shows the statement again once the call is over
SELECT count(*) AS differences,
       (SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()) = current_query() AS query_restored
  FROM drivetribe.verify();

\c :orig_db
SET client_min_messages = warning;
DROP DATABASE dt_progress;
RESET client_min_messages;
