-- examples/trending/trending.sql: what is trending in each tribe, a read
-- model written in SQL and registered with drivetribe.create_projection()
-- (docs/projections.md).  README.md beside this file explains it.
--
--   psql -X -v ON_ERROR_STOP=1 -f examples/trending/trending.sql mydb
--
-- Run it as a role that may register projections: a superuser, or a role
-- given drivetribe.grant_projector() and CREATE on the database (for the
-- schema).  Everything it creates belongs to that role, and the handler
-- runs as it.  Running it again is harmless: the tables and their data
-- stay, the functions are replaced, the projection is registered only once
-- (a backfill that was interrupted goes on), and the pg_cron job is
-- rescheduled under the same name.
--
-- What it keeps: per tribe, per UTC hour, per article, how many views,
-- bumps and comments happened in that hour (activity: events, not state),
-- for the window, the current hour and the 23 before it.  Time is the
-- event's own occurred_at, never the time the handler runs, so the backfill
-- of old history and the inline path put an event in the same bucket.  A
-- deleted article leaves trending at once and never comes back.

\set ON_ERROR_STOP on
\set QUIET on
-- Nothing below relies on the caller's search_path: every object is
-- qualified, and an unqualified CREATE would fail here instead of landing
-- in someone's schema.
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS trending;
COMMENT ON SCHEMA trending IS
  'examples/trending: views, bumps and comments per tribe, hour and article over the last 24 hours';

------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------
-- One row per (tribe, hour, article) that had activity in the window.  The
-- primary key serves the read (a tribe's buckets of the window) and the
-- handler's ON CONFLICT; an update changes only counters, none of them
-- indexed, so it can be a HOT update.  Rows of hours before the window are
-- ignored by the read and deleted by trending.expire().
CREATE TABLE IF NOT EXISTS trending.buckets (
    tribe_id   bigint NOT NULL,
    bucket     timestamptz NOT NULL,        -- the start of a UTC hour
    article_id bigint NOT NULL,
    views      bigint NOT NULL DEFAULT 0,
    bumps      bigint NOT NULL DEFAULT 0,
    comments   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tribe_id, bucket, article_id)
);
-- a deletion removes the article's rows through this
CREATE INDEX IF NOT EXISTS buckets_article_id_idx ON trending.buckets (article_id);
COMMENT ON TABLE trending.buckets IS
  'views, bumps and comments (events) per tribe, UTC hour and article; hours before the window are expired hourly';

-- Every article deleted, for good.  The log reaches a handler in read_log()
-- order, (txid, seq), not commit order: a view that committed before the
-- deletion can come after it (its transaction got its id later), and must
-- not bring the article back.  About one row per hundred articles.
CREATE TABLE IF NOT EXISTS trending.deleted_articles (
    article_id bigint PRIMARY KEY
);
COMMENT ON TABLE trending.deleted_articles IS
  'articles deleted: no activity of theirs is counted any more';

------------------------------------------------------------------------
-- The window
------------------------------------------------------------------------
-- Hours are UTC hours, whatever the session's TimeZone: the handler runs in
-- every writer's session, and date_trunc('hour', ...) would cut at :30 in
-- Asia/Kolkata.  date_bin() with a UTC origin is immutable and cuts at UTC
-- hours everywhere.
CREATE OR REPLACE FUNCTION trending.hour_of(at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.date_bin('1 hour'::interval, at, '2000-01-01 00:00:00+00'::timestamptz);
COMMENT ON FUNCTION trending.hour_of(timestamptz) IS
  'the start of the UTC hour that holds a time: the bucket of an event';

-- The window at a time: the hour that holds it and the 23 before it (24
-- buckets; between 23 and 24 hours of history).  (STABLE, not IMMUTABLE:
-- timestamptz - interval is STABLE, and an IMMUTABLE SQL function over a
-- STABLE operator is never inlined.)
CREATE OR REPLACE FUNCTION trending.window_start(at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN trending.hour_of(at) - '23 hours'::interval;
COMMENT ON FUNCTION trending.window_start(timestamptz) IS
  'the first bucket of the window at a time (the window: 24 UTC hours, the current one included)';

------------------------------------------------------------------------
-- The handler
------------------------------------------------------------------------
-- Set-based: a batch of the backfill (up to drivetribe.projection_batch_size
-- events) and an inline event go through the same two steps, each a
-- statement or two over unnest(events), never a loop over the events; every
-- row is written once per call (a row updated many times in one transaction
-- would walk its version chain every time).
--
-- "Now" is the transaction's now(): the handler's only use of it is to skip
-- events whose hour is already out of the window (so that the backfill of 28
-- days writes one day of buckets).  Inline, the event's occurred_at is the
-- writer's now(), so nothing is skipped; in a backfill, what is skipped is
-- out of the window for every later reader too.  The bucket itself comes
-- from occurred_at alone, so backfill, inline and reset give the same rows
-- for every hour of the window.
CREATE OR REPLACE FUNCTION trending.apply(events drivetribe.events[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  since timestamptz := trending.window_start(pg_catalog.now());
  deleted bigint[];
BEGIN
  -- 1. Deletions, first: an article deleted in this batch gets no row from
  -- step 2.  (No event of an article follows its deletion in time; one may
  -- follow it in the log, see trending.deleted_articles.)
  deleted := ARRAY(SELECT e.article_id FROM pg_catalog.unnest(events) e
                    WHERE e.kind = 'article_deleted');
  IF pg_catalog.cardinality(deleted) > 0 THEN
    INSERT INTO trending.deleted_articles (article_id)
    SELECT DISTINCT d FROM pg_catalog.unnest(deleted) d
    ON CONFLICT (article_id) DO NOTHING;
    DELETE FROM trending.buckets b WHERE b.article_id = ANY (deleted);
  END IF;

  -- 2. Activity: one row per (tribe, hour, article) of the batch, added to
  -- the bucket.  Every event of these kinds names its article's tribe
  -- (drivetribe.events.tribe_id), so no lookup is needed.
  INSERT INTO trending.buckets AS b (tribe_id, bucket, article_id, views, bumps, comments)
  SELECT e.tribe_id, trending.hour_of(e.occurred_at), e.article_id,
         pg_catalog.count(*) FILTER (WHERE e.kind = 'article_viewed'),
         pg_catalog.count(*) FILTER (WHERE e.kind = 'article_bumped'),
         pg_catalog.count(*) FILTER (WHERE e.kind = 'comment_posted')
    FROM pg_catalog.unnest(events) e
   WHERE e.kind IN ('article_viewed', 'article_bumped', 'comment_posted')
     AND e.occurred_at >= since
     AND NOT EXISTS (SELECT FROM trending.deleted_articles d WHERE d.article_id = e.article_id)
   GROUP BY 1, 2, 3
  ON CONFLICT (tribe_id, bucket, article_id) DO UPDATE
     SET views = b.views + excluded.views,
         bumps = b.bumps + excluded.bumps,
         comments = b.comments + excluded.comments;
END
$$;
COMMENT ON FUNCTION trending.apply(drivetribe.events[]) IS
  'projection handler (drivetribe.create_projection): adds views, bumps and comments of the window to their buckets; a deleted article''s buckets go';

-- reset_projection('trending') runs this, then backfills from the start.
-- DELETE, not TRUNCATE: a reader's snapshot keeps seeing the old rows until
-- the backfill commits (TRUNCATE is not MVCC-safe), and the tables are small.
CREATE OR REPLACE FUNCTION trending.reset()
RETURNS void
LANGUAGE sql
BEGIN ATOMIC
  DELETE FROM trending.buckets;
  DELETE FROM trending.deleted_articles;
END;
COMMENT ON FUNCTION trending.reset() IS
  'empties the trending tables (drivetribe.reset_projection(''trending'') calls it before the backfill)';

------------------------------------------------------------------------
-- The read
------------------------------------------------------------------------
-- The top n articles of a tribe over the window at the transaction's
-- now(), with their counts in the window and
--     score = views + 5 * comments + 10 * bumps
-- the engagement weights of the site's rank (SPEC, "Ranking") without its
-- age term: the window is the age term.  Ties go to the higher article_id
-- (the newer article, as in the feeds), so the order is total.  Reads only
-- rows of the window, so the result does not depend on when expiry last
-- ran.  n NULL: every article of the window.  PL/pgSQL so that its plan is
-- cached for the session.
CREATE OR REPLACE FUNCTION trending.trending(tribe_id bigint, n integer DEFAULT 10)
RETURNS TABLE (article_id bigint, views bigint, bumps bigint, comments bigint, score bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN QUERY
  SELECT w.article_id, w.views, w.bumps, w.comments,
         w.views + 5 * w.comments + 10 * w.bumps
    FROM (SELECT b.article_id,
                 pg_catalog.sum(b.views)::bigint AS views,
                 pg_catalog.sum(b.bumps)::bigint AS bumps,
                 pg_catalog.sum(b.comments)::bigint AS comments
            FROM trending.buckets b
           WHERE b.tribe_id = trending.tribe_id
             AND b.bucket >= trending.window_start(pg_catalog.now())
           GROUP BY b.article_id) w
   ORDER BY w.views + 5 * w.comments + 10 * w.bumps DESC, w.article_id DESC
   LIMIT trending.n;
END
$$;
COMMENT ON FUNCTION trending.trending(bigint, integer) IS
  'the top n articles of a tribe over the last 24 hours (24 UTC hours): views, bumps, comments in the window and score = views + 5 comments + 10 bumps, highest first, then article_id descending';

------------------------------------------------------------------------
-- Expiry
------------------------------------------------------------------------
-- Deletes the buckets of hours before the window; returns how many.  The
-- read ignores them anyway: this only keeps the table at a day of rows.
-- (Deleted articles are kept: see trending.deleted_articles.)
CREATE OR REPLACE FUNCTION trending.expire()
RETURNS bigint
LANGUAGE sql
BEGIN ATOMIC
  WITH gone AS (
    DELETE FROM trending.buckets b
     WHERE b.bucket < trending.window_start(pg_catalog.now())
    RETURNING 1)
  SELECT pg_catalog.count(*) FROM gone;
END;
COMMENT ON FUNCTION trending.expire() IS
  'deletes the buckets of hours before the window (pg_cron job trending-expire, hourly); returns how many';

-- Only the owner runs these (the extension calls the handler and the reset
-- function as their owner; pg_cron runs the job as the role that
-- scheduled it).  Writing the tables needs the owner's rights anyway.
REVOKE ALL ON FUNCTION trending.apply(drivetribe.events[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION trending.reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION trending.expire() FROM PUBLIC;

------------------------------------------------------------------------
-- Expiry, every hour, by pg_cron (when this database has it)
------------------------------------------------------------------------
-- A named job: scheduling it again updates it (pg_cron keys names by
-- role).  It runs as this role, in this database, at minute 3 of every hour
-- (pg_cron's times are GMT).  pg_cron can live in one database of a cluster
-- only (cron.database_name): elsewhere, and for a role without USAGE on
-- schema cron, this says so and goes on.  (cron.schedule is only parsed
-- where pg_cron is installed: a DO block, not a plain SELECT.)
SET client_min_messages = notice;
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension x WHERE x.extname = 'pg_cron') THEN
    RAISE NOTICE 'trending: pg_cron is not installed in database %: expiry is not scheduled', pg_catalog.current_database()
      USING HINT = pg_catalog.format(
        'Run SELECT trending.expire(); every hour some other way, or, as a superuser in pg_cron''s database (cron.database_name): '
        'SELECT cron.schedule_in_database(''trending-expire'', ''3 * * * *'', ''SELECT trending.expire()'', %L, %L);',
        pg_catalog.current_database(), current_user);
  ELSIF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
    RAISE NOTICE 'trending: role % may not use pg_cron: expiry is not scheduled', current_user
      USING HINT = pg_catalog.format('A superuser can run GRANT USAGE ON SCHEMA cron TO %I; then run this script again.',
                                     current_user);
  ELSE
    PERFORM cron.schedule('trending-expire', '3 * * * *', 'SELECT trending.expire()');
  END IF;
END
$$;

------------------------------------------------------------------------
-- Registration: the backfill over the whole log, then inline
------------------------------------------------------------------------
-- create_projection() is a procedure that commits after every batch: it
-- runs here at the top level of psql, not in a transaction block.  The
-- projection gets only the kinds the handler reads.  Inline, every view
-- runs the handler in the writer's transaction; CALL
-- drivetribe.alter_projection('trending', 'async') hands it to the
-- projection worker instead (README.md, "Inline or async").
SELECT EXISTS (SELECT FROM drivetribe.projections p WHERE p.name = 'trending') AS trending_registered,
       EXISTS (SELECT FROM drivetribe.projections p
                WHERE p.name = 'trending' AND p.state IN ('paused', 'failed')) AS trending_stopped,
       EXISTS (SELECT FROM drivetribe.projections p
                WHERE p.name = 'trending' AND p.state = 'backfilling') AS trending_backfilling
\gset
\if :trending_stopped
  -- registered, but its backfill stopped (a cancel, an error, a crash:
  -- paused) or, async, its handler failed: the functions are replaced
  -- above, go on from where it stopped
  CALL drivetribe.resume_projection('trending');
\elif :trending_backfilling
  \echo 'trending: projection trending is being backfilled by another session (functions replaced)'
\elif :trending_registered
  \echo 'trending: projection trending is already registered (functions replaced, data kept)'
\else
  -- rows left by an earlier registration (dropped with drop_projection(),
  -- tables kept) would be counted twice: the backfill starts from scratch
  DO $$ BEGIN PERFORM trending.reset(); END $$;
  CALL drivetribe.create_projection('trending', 'trending.apply(drivetribe.events[])',
                                    kinds => ARRAY['article_viewed', 'article_bumped',
                                                   'comment_posted', 'article_deleted'],
                                    reset_handler => 'trending.reset()');
\endif
