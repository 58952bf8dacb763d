-- drivetribe benchmark, case "projections": the baseline of the backfill.
-- What a user would write instead of registering examples/trending as a
-- projection: the same tables computed set-based from drivetribe.events,
-- one INSERT ... SELECT ... GROUP BY (tribe, UTC hour, article) into copies
-- of trending's tables (schema trending_sql: LIKE ... INCLUDING ALL, so
-- the same primary key and article_id index), with the same rules: views,
-- bumps and comments of the window (the current UTC hour and the 23
-- before it, by occurred_at), none of an article ever deleted.
--   psql -v step=schema -f test/bench/trending_sql.sql DB   (the empty copies: untimed;
--                              needs examples/trending/trending.sql installed)
--   psql -v step=run    -f test/bench/trending_sql.sql DB   (the timed part, one transaction)
--   psql -v step=check  -f test/bench/trending_sql.sql DB   (prints one count: the rows
--                              of trending.buckets and trending.deleted_articles not in
--                              the copies, and of the copies not in them; 0 = equal)
\set ON_ERROR_STOP 1
SELECT :'step' = 'schema' AS is_schema, :'step' = 'run' AS is_run, :'step' = 'check' AS is_check \gset

\if :is_schema
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS trending_sql CASCADE;
CREATE SCHEMA trending_sql;
CREATE TABLE trending_sql.buckets (LIKE trending.buckets INCLUDING ALL);
CREATE TABLE trending_sql.deleted_articles (LIKE trending.deleted_articles INCLUDING ALL);
\endif

\if :is_run
BEGIN;
-- as the rebuild case's recomputation does: room for the aggregate
SET LOCAL work_mem = '256MB';
INSERT INTO trending_sql.deleted_articles (article_id)
SELECT DISTINCT e.article_id FROM drivetribe.events e WHERE e.kind = 'article_deleted';
INSERT INTO trending_sql.buckets (tribe_id, bucket, article_id, views, bumps, comments)
SELECT e.tribe_id, date_bin('1 hour', e.occurred_at, '2000-01-01 00:00:00+00'), e.article_id,
       count(*) FILTER (WHERE e.kind = 'article_viewed'),
       count(*) FILTER (WHERE e.kind = 'article_bumped'),
       count(*) FILTER (WHERE e.kind = 'comment_posted')
  FROM drivetribe.events e
 WHERE e.kind IN ('article_viewed', 'article_bumped', 'comment_posted')
   AND e.occurred_at >= date_bin('1 hour', now(), '2000-01-01 00:00:00+00') - interval '23 hours'
   AND NOT EXISTS (SELECT FROM trending_sql.deleted_articles d WHERE d.article_id = e.article_id)
 GROUP BY 1, 2, 3;
COMMIT;
\endif

\if :is_check
SELECT (SELECT count(*) FROM (SELECT * FROM trending.buckets EXCEPT ALL SELECT * FROM trending_sql.buckets) a)
     + (SELECT count(*) FROM (SELECT * FROM trending_sql.buckets EXCEPT ALL SELECT * FROM trending.buckets) b)
     + (SELECT count(*) FROM (SELECT * FROM trending.deleted_articles EXCEPT ALL SELECT * FROM trending_sql.deleted_articles) c)
     + (SELECT count(*) FROM (SELECT * FROM trending_sql.deleted_articles EXCEPT ALL SELECT * FROM trending.deleted_articles) d);
\endif
