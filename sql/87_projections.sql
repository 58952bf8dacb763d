--
-- 87_projections (1.8, issue 21): a projection the application team
-- writes in SQL.  A role with grant_projector() registers a handler of its
-- own; create_projection() backfills it from the whole log (here in
-- batches of 7 events) and hands it over to inline maintenance; a write
-- then reaches it in the writer's transaction, and a rolled-back write
-- does not.  Every refusal of registration, and what a hostile handler
-- gets: nothing.
--
\pset null NULL
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_projector;
DROP ROLE IF EXISTS regress_dt_stranger;
DROP SCHEMA IF EXISTS regress_proj CASCADE;
RESET client_min_messages;
CREATE ROLE regress_dt_projector;
CREATE ROLE regress_dt_stranger;
SELECT drivetribe.grant_projector('regress_dt_projector');
SELECT drivetribe.grant_projector(NULL);
CREATE SCHEMA regress_proj AUTHORIZATION regress_dt_projector;
GRANT USAGE ON SCHEMA regress_proj TO regress_dt_stranger;
-- an independent count of each article's views, from the log
CREATE FUNCTION pg_temp.views_in_log() RETURNS TABLE (article_id bigint, n bigint)
LANGUAGE sql AS $$
  SELECT e.article_id, count(*) FROM drivetribe.events e
   WHERE e.kind = 'article_viewed' GROUP BY e.article_id
$$;
SELECT count(*) > 0 AS the_log_has_views FROM pg_temp.views_in_log();

SET ROLE regress_dt_projector;
CREATE TABLE regress_proj.views (article_id bigint PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE regress_proj.calls (events int NOT NULL);
-- set-based over the batch
CREATE FUNCTION regress_proj.count_views(events drivetribe.events[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO regress_proj.calls VALUES (cardinality(events));
  INSERT INTO regress_proj.views AS v
  SELECT e.article_id, count(*) FROM unnest(events) e GROUP BY e.article_id
  ON CONFLICT (article_id) DO UPDATE SET n = v.n + excluded.n
$$;
CREATE FUNCTION regress_proj.reset_views() RETURNS void
LANGUAGE sql AS $$ DELETE FROM regress_proj.views; DELETE FROM regress_proj.calls $$;
CREATE FUNCTION regress_proj.wrong_signature(events bigint[]) RETURNS void
LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION regress_proj.appends(events drivetribe.events[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN PERFORM drivetribe.view_article(101); END $$;
CREATE FUNCTION regress_proj.escalates(events drivetribe.events[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN ALTER ROLE regress_dt_projector SUPERUSER; END $$;
CREATE FUNCTION regress_proj.writes_log(events drivetribe.events[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN DELETE FROM drivetribe.article_ranks; END $$;

-- refusals: each names the value, and registers nothing
CALL drivetribe.create_projection('Bad Name', 'regress_proj.count_views(drivetribe.events[])');
CALL drivetribe.create_projection('regress_views', 'regress_proj.count_views(drivetribe.events[])', ARRAY['article_looked_at']);
CALL drivetribe.create_projection('regress_views', 'regress_proj.count_views(drivetribe.events[])', ARRAY[]::text[]);
CALL drivetribe.create_projection('regress_views', 'regress_proj.count_views(drivetribe.events[])', NULL, 'sometimes');
CALL drivetribe.create_projection('regress_views', 'regress_proj.wrong_signature(bigint[])');
CALL drivetribe.create_projection('regress_views', NULL);
CALL drivetribe.create_projection(NULL, 'regress_proj.count_views(drivetribe.events[])');
-- a procedure that commits cannot run inside a transaction block
BEGIN;
CALL drivetribe.create_projection('regress_views', 'regress_proj.count_views(drivetribe.events[])', ARRAY['article_viewed']);
ROLLBACK;
SELECT count(*) AS registered FROM drivetribe.projections;

-- the backfill, in batches of 7, then live
SET drivetribe.projection_batch_size = 7;
SET client_min_messages = warning;
CALL drivetribe.create_projection('regress_views', 'regress_proj.count_views(drivetribe.events[])', ARRAY['article_viewed'],
                                  reset_handler => 'regress_proj.reset_views()');
RESET client_min_messages;
SELECT name, owner, kinds, mode, state FROM drivetribe.projections;
SELECT max(events) <= 7 AS batches_of_at_most_7, count(*) > 1 AS several_batches FROM regress_proj.calls;
-- a second registration of the name
CALL drivetribe.create_projection('regress_views', 'regress_proj.count_views(drivetribe.events[])');
RESET ROLE;
SELECT events_read = (SELECT count(*) FROM drivetribe.events) AS read_every_event
  FROM drivetribe.projections;
SELECT count(*) AS differences_from_the_log
  FROM regress_proj.views v FULL JOIN pg_temp.views_in_log() l USING (article_id)
 WHERE v.n IS DISTINCT FROM l.n;

-- inline: a view reaches it in the writer's transaction; a rollback undoes both
SELECT n AS before FROM regress_proj.views WHERE article_id = 101;
BEGIN;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT n AS in_the_same_transaction FROM regress_proj.views WHERE article_id = 101;
ROLLBACK;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT drivetribe.bump(101, 4) IS NOT NULL AS bumped;      -- another kind: not counted
SELECT count(*) AS differences_from_the_log
  FROM regress_proj.views v FULL JOIN pg_temp.views_in_log() l USING (article_id)
 WHERE v.n IS DISTINCT FROM l.n;
SELECT drivetribe.unbump(101, 4) IS NOT NULL AS unbumped;
-- reset: the reset function empties it, the backfill fills it again
SET ROLE regress_dt_projector;
SET client_min_messages = warning;
CALL drivetribe.reset_projection('regress_views');
RESET client_min_messages;
SELECT state, last_batch_events <= 7 AS small_batches FROM drivetribe.projections;
RESET ROLE;
SELECT count(*) AS differences_from_the_log
  FROM regress_proj.views v FULL JOIN pg_temp.views_in_log() l USING (article_id)
 WHERE v.n IS DISTINCT FROM l.n;

-- a role without the grant; then with it, but not the registrant
SET ROLE regress_dt_stranger;
CALL drivetribe.create_projection('regress_other', 'regress_proj.count_views(drivetribe.events[])');
RESET ROLE;
SELECT drivetribe.grant_projector('regress_dt_stranger');
SET ROLE regress_dt_stranger;
CALL drivetribe.create_projection('regress_other', 'regress_proj.count_views(drivetribe.events[])');
SELECT drivetribe.drop_projection('regress_views');
SELECT count(*) AS others_projections_seen FROM drivetribe.projections;
RESET ROLE;
SELECT drivetribe.revoke_projector('regress_dt_stranger');

-- hostile handlers, registered by the projector (a writer too, so that
-- appending is refused as recursion): each fails its own backfill and
-- gains nothing
SELECT drivetribe.grant_writer('regress_dt_projector');
SET ROLE regress_dt_projector;
CALL drivetribe.create_projection('regress_escalates', 'regress_proj.escalates(drivetribe.events[])');
CALL drivetribe.create_projection('regress_writes_log', 'regress_proj.writes_log(drivetribe.events[])');
CALL drivetribe.create_projection('regress_appends', 'regress_proj.appends(drivetribe.events[])');
SELECT name, state, last_error FROM drivetribe.projections ORDER BY name;
CALL drivetribe.reset_projection('regress_appends');
SELECT drivetribe.drop_projection('regress_escalates');
SELECT drivetribe.drop_projection('regress_writes_log');
SELECT drivetribe.drop_projection('regress_appends');
SELECT drivetribe.drop_projection('regress_nothing');
RESET ROLE;
SELECT rolsuper AS projector_is_superuser FROM pg_roles WHERE rolname = 'regress_dt_projector';
SELECT count(*) > 0 AS ranks_kept FROM drivetribe.article_ranks;

-- a handler error inline fails the write, which changes nothing
SET ROLE regress_dt_projector;
CREATE OR REPLACE FUNCTION regress_proj.count_views(events drivetribe.events[]) RETURNS void
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the views table is full'; END $$;
RESET ROLE;
SELECT max(seq) AS last_seq FROM drivetribe.events \gset
\set SHOW_CONTEXT errors
SELECT drivetribe.view_article(101);
\set SHOW_CONTEXT never
SELECT max(seq) = :last_seq AS nothing_appended FROM drivetribe.events;

-- dropped: writes go on without it
SET ROLE regress_dt_projector;
SELECT drivetribe.drop_projection('regress_views');
RESET ROLE;
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT count(*) AS registered FROM drivetribe.projections;
SELECT drivetribe.revoke_projector('regress_dt_projector');
SELECT drivetribe.revoke_writer('regress_dt_projector');
DROP SCHEMA regress_proj CASCADE;
DROP OWNED BY regress_dt_projector;
DROP ROLE regress_dt_projector;
DROP OWNED BY regress_dt_stranger;
DROP ROLE regress_dt_stranger;
