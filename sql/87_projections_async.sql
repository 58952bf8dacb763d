--
-- 87_projections_async (1.8, issue 21): async projections and mode
-- switches.  The projection worker applies a live async projection after
-- commit; a handler error stops that projection alone (failed, with the
-- error and the seq of the event), writes go on, and resume_projection()
-- goes on from the failed event once the handler is fixed.
-- alter_projection() switches inline <-> async with no event missed or
-- applied twice: after every step the projection equals an independent
-- count over the log.
--
\pset null NULL
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_projector;
DROP ROLE IF EXISTS regress_dt_stranger;
DROP SCHEMA IF EXISTS regress_async CASCADE;
RESET client_min_messages;
CREATE ROLE regress_dt_projector;
CREATE ROLE regress_dt_stranger;
SELECT drivetribe.grant_projector('regress_dt_projector');
SELECT drivetribe.grant_writer('regress_dt_projector');
CREATE SCHEMA regress_async AUTHORIZATION regress_dt_projector;
-- wait (10 s at most) until the worker has read every event of name
CREATE FUNCTION pg_temp.caught_up(name text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 200 LOOP
    IF (SELECT p.lag_events = 0 AND p.state = 'live' FROM drivetribe.projections p
         WHERE p.name = caught_up.name) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END
$$;
-- wait (10 s at most) until name is failed
CREATE FUNCTION pg_temp.failed(name text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 200 LOOP
    IF (SELECT p.state = 'failed' FROM drivetribe.projections p WHERE p.name = failed.name) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END
$$;

SET ROLE regress_dt_projector;
CREATE TABLE regress_async.views (article_id bigint PRIMARY KEY, n bigint NOT NULL);
CREATE FUNCTION regress_async.count_views(events drivetribe.events[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO regress_async.views AS v
  SELECT e.article_id, count(*) FROM unnest(events) e GROUP BY e.article_id
  ON CONFLICT (article_id) DO UPDATE SET n = v.n + excluded.n
$$;
RESET ROLE;
-- the views of each article in the log, and whether a projection equals them
CREATE FUNCTION pg_temp.matches_log() RETURNS boolean SECURITY DEFINER
LANGUAGE sql AS $$
  SELECT NOT EXISTS (
    (SELECT e.article_id, count(*) FROM drivetribe.events e
      WHERE e.kind = 'article_viewed' GROUP BY e.article_id
     EXCEPT SELECT article_id, n FROM regress_async.views)
    UNION ALL
    (SELECT article_id, n FROM regress_async.views
     EXCEPT SELECT e.article_id, count(*) FROM drivetribe.events e
      WHERE e.kind = 'article_viewed' GROUP BY e.article_id))
$$;
SET ROLE regress_dt_projector;

-- an async projection: backfilled, then live; writes reach it after commit
CALL drivetribe.create_projection('regress_async_views', 'regress_async.count_views(drivetribe.events[])',
                                  ARRAY['article_viewed'], 'async');
SELECT name, mode, state, lag_events, lag_seconds FROM drivetribe.projections;
SELECT pg_temp.matches_log() AS backfilled;
SELECT count(*) AS views FROM (SELECT drivetribe.view_article(101) FROM generate_series(1, 5)) v;
SELECT pg_temp.caught_up('regress_async_views') AS caught_up, pg_temp.matches_log() AS after_commit;
-- a rolled-back write never reaches it
BEGIN;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
ROLLBACK;
SELECT drivetribe.view_article(102) IS NOT NULL AS viewed;
SELECT pg_temp.caught_up('regress_async_views') AS caught_up, pg_temp.matches_log() AS rollback_not_seen;

-- a handler error: the projection fails alone, at that event; writes go on
CREATE OR REPLACE FUNCTION regress_async.count_views(events drivetribe.events[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM unnest(events) e WHERE e.article_id = 102) THEN
    RAISE EXCEPTION 'article 102 is not wanted here';
  END IF;
  INSERT INTO regress_async.views AS v
  SELECT e.article_id, count(*) FROM unnest(events) e GROUP BY e.article_id
  ON CONFLICT (article_id) DO UPDATE SET n = v.n + excluded.n;
END
$$;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT drivetribe.view_article(102) AS failing_seq \gset
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed_after;
SELECT pg_temp.failed('regress_async_views') AS failed;
SELECT state, failed_seq = :failing_seq AS failed_at_the_event, last_error, lag_events
  FROM drivetribe.projections;
-- drivetribe.status says so (without the error: the owner sees it above)
RESET ROLE;
SELECT area, item, value, detail LIKE 'its handler failed at seq ' || :failing_seq || ' %' AS says_where
  FROM drivetribe.status WHERE area = 'registered projection' AND item <> 'projection worker';
SET ROLE regress_dt_projector;
-- lag 2: the failing event and the one after it wait; the view of 102
-- before them was applied
SELECT n FROM regress_async.views WHERE article_id = 102;
-- resume: the handler still fails, the CALL says so and it stays failed
CALL drivetribe.resume_projection('regress_async_views');
SELECT state, failed_seq = :failing_seq AS failed_at_the_event FROM drivetribe.projections;
-- fixed: resume goes on from the failed event
CREATE OR REPLACE FUNCTION regress_async.count_views(events drivetribe.events[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO regress_async.views AS v
  SELECT e.article_id, count(*) FROM unnest(events) e GROUP BY e.article_id
  ON CONFLICT (article_id) DO UPDATE SET n = v.n + excluded.n
$$;
CALL drivetribe.resume_projection('regress_async_views');
SELECT state, failed_seq, last_error FROM drivetribe.projections;
SELECT pg_temp.caught_up('regress_async_views') AS caught_up, pg_temp.matches_log() AS resumed;

-- switches: async -> inline (caught up, then in the writer's transaction)
CALL drivetribe.alter_projection('regress_async_views', 'inline');
SELECT name, mode, state, lag_events FROM drivetribe.projections;
BEGIN;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT pg_temp.matches_log() AS inline_in_the_writers_transaction;
COMMIT;
-- inline -> async, and back, with writes between
CALL drivetribe.alter_projection('regress_async_views', 'async');
SELECT count(*) AS views FROM (SELECT drivetribe.view_article(101) FROM generate_series(1, 3)) v;
SELECT pg_temp.caught_up('regress_async_views') AS caught_up, pg_temp.matches_log() AS async_again;
CALL drivetribe.alter_projection('regress_async_views', 'inline');
SELECT drivetribe.view_article(102) IS NOT NULL AS viewed;
SELECT mode, state, pg_temp.matches_log() AS inline_again FROM drivetribe.projections;
-- the same mode again changes nothing
CALL drivetribe.alter_projection('regress_async_views', 'inline');
SELECT mode, state FROM drivetribe.projections;

-- refusals
CALL drivetribe.alter_projection('regress_async_views', 'sometimes');
CALL drivetribe.alter_projection('regress_nothing', 'async');
CALL drivetribe.alter_projection('regress_async_views', NULL);
BEGIN;
CALL drivetribe.alter_projection('regress_async_views', 'async');
ROLLBACK;
RESET ROLE;
SET ROLE regress_dt_stranger;
CALL drivetribe.alter_projection('regress_async_views', 'async');
RESET ROLE;
SELECT drivetribe.grant_projector('regress_dt_stranger');
SET ROLE regress_dt_stranger;
CALL drivetribe.alter_projection('regress_async_views', 'async');
RESET ROLE;
SELECT mode, state FROM drivetribe.projections;

-- dropped while async: the worker forgets it
SET ROLE regress_dt_projector;
CALL drivetribe.alter_projection('regress_async_views', 'async');
SELECT drivetribe.drop_projection('regress_async_views');
RESET ROLE;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT count(*) AS registered FROM drivetribe.projections;
SELECT drivetribe.revoke_projector('regress_dt_projector');
SELECT drivetribe.revoke_projector('regress_dt_stranger');
SELECT drivetribe.revoke_writer('regress_dt_projector');
DROP SCHEMA regress_async CASCADE;
DROP OWNED BY regress_dt_projector;
DROP ROLE regress_dt_projector;
DROP OWNED BY regress_dt_stranger;
DROP ROLE regress_dt_stranger;
