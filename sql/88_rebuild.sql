--
-- 88_rebuild: at the end of all write tests, verify() is empty and
-- rebuild() recomputes every projection from the log to exactly what the
-- write path maintained.
--
\pset null NULL
SELECT count(*) > 100 AS many_events FROM drivetribe.events;
-- fold every counter stripe first: a fold (rebuild's, or the pg_cron job's)
-- changes raw rows, not what any read shows
SELECT drivetribe.fold_stripes() >= 0 AS folded;
SELECT * FROM drivetribe.verify();
SELECT dt_mark() IS NOT NULL AS marked;
SELECT dt_state() AS before \gset
SELECT count(*) AS articles, sum(views) AS views, sum(comments) AS comments, sum(bumps) AS bumps,
       round(sum(score)::numeric, 6) AS score_sum
FROM drivetribe.article_view \gset
SELECT drivetribe.rebuild() = (SELECT count(*) FROM drivetribe.events) AS replayed_every_event;
SELECT dt_state() = :'before' AS projections_identical, dt_unchanged() AS unchanged;
SELECT count(*) = :articles AS articles, sum(views) = :views AS views,
       sum(comments) = :comments AS comments, sum(bumps) = :bumps AS bumps,
       round(sum(score)::numeric, 6) = :score_sum AS score
FROM drivetribe.article_view;
SELECT * FROM drivetribe.verify();
-- twice in a row, and inside a transaction that also writes
SELECT drivetribe.rebuild() = (SELECT count(*) FROM drivetribe.events) AS replayed_every_event;
SELECT dt_state() = :'before' AS projections_identical;
BEGIN;
SELECT drivetribe.register_user(70, 'rebuilt') IS NOT NULL AS appended;
SELECT drivetribe.rebuild() = (SELECT count(*) FROM drivetribe.events) AS replayed_every_event;
SELECT name FROM drivetribe.user_stats WHERE user_id = 70;
SELECT * FROM drivetribe.verify();
ROLLBACK;
SELECT dt_state() = :'before' AS projections_identical;

-- verify() reports a projection that drifted from the log (the superuser
-- edits a projection table behind the API's back, then rebuild() repairs it).
BEGIN;
UPDATE drivetribe.articles SET views = views + 5 WHERE article_id = 100;
SELECT projection, key FROM drivetribe.verify();
SELECT drivetribe.rebuild() = (SELECT count(*) FROM drivetribe.events) AS replayed_every_event;
SELECT * FROM drivetribe.verify();
SELECT dt_state() = :'before' AS projections_identical;
ROLLBACK;
