/* drivetribe--1.1--1.2.sql: no hot row serialises writers, cards read at
 * primary-key speed (issue "Clarkson scale").  See docs/design.md, "Hot
 * keys" and "Reads". */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.2'" to load this file. \quit

------------------------------------------------------------------------
-- Counter stripes.  A counter change (a view, a bump, a follow, a join,
-- ...) updates its row in place when the row is free; when another
-- transaction holds the row it adds to its own backend's stripe of the
-- key instead of waiting: one row per (key, backend id), updated in
-- place, which no other writer touches.  A count is its row plus the sum
-- of its stripes: exact at any snapshot.  Stripes are folded back into
-- their rows (and deleted) by drivetribe.fold_stripes() (pg_cron job
-- drivetribe-fold-stripes) and by rebuild().  fillfactor 10: a hot key's
-- stripes (one per backend) spread over several pages instead of sharing
-- one page's lock, and their in-place updates stay HOT.
------------------------------------------------------------------------
CREATE TABLE drivetribe.article_stripes (
    article_id bigint NOT NULL,
    stripe     integer NOT NULL,   -- the backend id that wrote it
    views      bigint NOT NULL DEFAULT 0,
    comments   bigint NOT NULL DEFAULT 0,
    bumps      bigint NOT NULL DEFAULT 0,
    CONSTRAINT article_stripes_pkey PRIMARY KEY (article_id, stripe)
) WITH (fillfactor = 10);
COMMENT ON TABLE drivetribe.article_stripes IS
  'counter changes of articles made while the article row was held by another writer, one row per backend';

CREATE TABLE drivetribe.user_stripes (
    user_id        bigint NOT NULL,
    stripe         integer NOT NULL,
    articles       bigint NOT NULL DEFAULT 0,
    comments       bigint NOT NULL DEFAULT 0,
    bumps_given    bigint NOT NULL DEFAULT 0,
    bumps_received bigint NOT NULL DEFAULT 0,
    followers      bigint NOT NULL DEFAULT 0,
    following      bigint NOT NULL DEFAULT 0,
    tribes         bigint NOT NULL DEFAULT 0,
    CONSTRAINT user_stripes_pkey PRIMARY KEY (user_id, stripe)
) WITH (fillfactor = 10);
COMMENT ON TABLE drivetribe.user_stripes IS
  'counter changes of users made while the user row was held by another writer, one row per backend';

CREATE TABLE drivetribe.tribe_stripes (
    tribe_id bigint NOT NULL,
    stripe   integer NOT NULL,
    members  bigint NOT NULL DEFAULT 0,
    articles bigint NOT NULL DEFAULT 0,
    CONSTRAINT tribe_stripes_pkey PRIMARY KEY (tribe_id, stripe)
) WITH (fillfactor = 10);
COMMENT ON TABLE drivetribe.tribe_stripes IS
  'counter changes of tribes made while the tribe row was held by another writer, one row per backend';

SELECT pg_catalog.pg_extension_config_dump('drivetribe.article_stripes', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.user_stripes', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.tribe_stripes', '');


------------------------------------------------------------------------
-- A celebrity's followers: 1.0's index on followee_id alone keeps one
-- followee's entries in heap order, so every new follower of the same
-- user inserted into the same (last) leaf page of that key.  Keyed on
-- (followee_id, follower_id) they spread over the key's pages by follower,
-- and the index also lists a user's followers in order.
DROP INDEX drivetribe.follows_followee_idx;
CREATE INDEX follows_followee_idx
    ON drivetribe.follows (followee_id, follower_id);

-- Reads: a count is its row plus its stripes.  For one key the
-- planner pushes the key into the grouped subquery (an index probe of a
-- handful of rows at most); for a whole scan it hashes the groups.
------------------------------------------------------------------------
-- The score is SPEC's formula over the exact counts, written out in SQL
-- (pg_catalog's functions, which every reader may call) rather than
-- through drivetribe.score(), whose EXECUTE a reader does not have.
CREATE OR REPLACE VIEW drivetribe.article_view AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name,
       a.author_id, u.name AS author_name, a.title, a.posted_at,
       c.views, c.comments, c.bumps,
       -- (OPERATOR() has one precedence for all: every product is parenthesised)
       pg_catalog.log10(GREATEST(
           (10 OPERATOR(pg_catalog.*) c.bumps) OPERATOR(pg_catalog.+)
           (5 OPERATOR(pg_catalog.*) c.comments) OPERATOR(pg_catalog.+) c.views,
           1)::pg_catalog.float8)
       OPERATOR(pg_catalog.+)
       (EXTRACT(epoch FROM a.posted_at) OPERATOR(pg_catalog./) 45000)::pg_catalog.float8
         AS score
  FROM drivetribe.articles a
  JOIN drivetribe.tribes t ON t.tribe_id OPERATOR(pg_catalog.=) a.tribe_id
  JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) a.author_id
  LEFT JOIN (SELECT x.article_id,
                    pg_catalog.sum(x.views)::pg_catalog.int8 AS views,
                    pg_catalog.sum(x.comments)::pg_catalog.int8 AS comments,
                    pg_catalog.sum(x.bumps)::pg_catalog.int8 AS bumps
               FROM drivetribe.article_stripes x GROUP BY x.article_id) d
         ON d.article_id OPERATOR(pg_catalog.=) a.article_id
  CROSS JOIN LATERAL (
    SELECT a.views OPERATOR(pg_catalog.+) COALESCE(d.views, 0) AS views,
           a.comments OPERATOR(pg_catalog.+) COALESCE(d.comments, 0) AS comments,
           a.bumps OPERATOR(pg_catalog.+) COALESCE(d.bumps, 0) AS bumps) c
 WHERE NOT a.deleted;

-- The stored, generated articles.score goes: every counter update of an
-- article recomputed it (and re-read its expression), and with stripes it
-- would only be the rank of the row's own share.  Reads compute the score
-- from the exact counts (above); the feeds will keep their own ranking.
ALTER TABLE drivetribe.articles DROP COLUMN score;

CREATE OR REPLACE VIEW drivetribe.user_stats AS
SELECT u.user_id, u.name,
       u.articles OPERATOR(pg_catalog.+) COALESCE(d.articles, 0) AS articles,
       u.comments OPERATOR(pg_catalog.+) COALESCE(d.comments, 0) AS comments,
       u.bumps_given OPERATOR(pg_catalog.+) COALESCE(d.bumps_given, 0) AS bumps_given,
       u.bumps_received OPERATOR(pg_catalog.+) COALESCE(d.bumps_received, 0) AS bumps_received,
       u.followers OPERATOR(pg_catalog.+) COALESCE(d.followers, 0) AS followers,
       u.following OPERATOR(pg_catalog.+) COALESCE(d.following, 0) AS following,
       u.tribes OPERATOR(pg_catalog.+) COALESCE(d.tribes, 0) AS tribes
  FROM drivetribe.users u
  LEFT JOIN (SELECT x.user_id,
                    pg_catalog.sum(x.articles)::pg_catalog.int8 AS articles,
                    pg_catalog.sum(x.comments)::pg_catalog.int8 AS comments,
                    pg_catalog.sum(x.bumps_given)::pg_catalog.int8 AS bumps_given,
                    pg_catalog.sum(x.bumps_received)::pg_catalog.int8 AS bumps_received,
                    pg_catalog.sum(x.followers)::pg_catalog.int8 AS followers,
                    pg_catalog.sum(x.following)::pg_catalog.int8 AS following,
                    pg_catalog.sum(x.tribes)::pg_catalog.int8 AS tribes
               FROM drivetribe.user_stripes x GROUP BY x.user_id) d
         ON d.user_id OPERATOR(pg_catalog.=) u.user_id;

CREATE OR REPLACE VIEW drivetribe.tribe_stats AS
SELECT t.tribe_id, t.name, t.owner_id,
       t.members OPERATOR(pg_catalog.+) COALESCE(d.members, 0) AS members,
       t.articles OPERATOR(pg_catalog.+) COALESCE(d.articles, 0) AS articles
  FROM drivetribe.tribes t
  LEFT JOIN (SELECT x.tribe_id,
                    pg_catalog.sum(x.members)::pg_catalog.int8 AS members,
                    pg_catalog.sum(x.articles)::pg_catalog.int8 AS articles
               FROM drivetribe.tribe_stripes x GROUP BY x.tribe_id) d
         ON d.tribe_id OPERATOR(pg_catalog.=) t.tribe_id;

-- article(id) and has_bumped() run a plan prepared once per backend (C),
-- instead of planning the view's joins on every call.
CREATE OR REPLACE FUNCTION drivetribe.article(article_id bigint)
RETURNS SETOF drivetribe.article_view
LANGUAGE c STABLE STRICT ROWS 1
AS 'MODULE_PATHNAME', 'drivetribe_article';

CREATE OR REPLACE FUNCTION drivetribe.has_bumped(article_id bigint, user_id bigint)
RETURNS boolean
LANGUAGE c STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_has_bumped';

------------------------------------------------------------------------
-- Folding: the stripes of rows no writer holds, folded into their rows.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.fold_stripes()
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_fold_stripes';
COMMENT ON FUNCTION drivetribe.fold_stripes() IS
  'fold counter stripes into the rows no writer holds; returns the number of rows folded into';

CREATE OR REPLACE FUNCTION drivetribe.run_maintenance(job text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
  ELSIF job OPERATOR(pg_catalog.=) 'prune-cron-history' THEN
    DELETE FROM cron.job_run_details d
     WHERE d.end_time OPERATOR(pg_catalog.<)
           (pg_catalog.now() OPERATOR(pg_catalog.-) '14 days'::pg_catalog.interval)
       AND d.jobid OPERATOR(pg_catalog.=) ANY (
           SELECT j.jobid FROM cron.job j
            WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                  SELECT m.jobname FROM drivetribe.maintenance_jobs() m));
  ELSE
    RAISE EXCEPTION 'unknown drivetribe maintenance job "%"', job
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION drivetribe.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  VALUES
    ('drivetribe-verify', '17 3 * * *',
     'SELECT drivetribe.run_maintenance(''verify'')'),
    ('drivetribe-fold-stripes', '* * * * *',
     'SELECT drivetribe.run_maintenance(''fold-stripes'')'),
    ('drivetribe-prune-noop-calls', '29 * * * *',
     'SELECT drivetribe.run_maintenance(''prune-noop-calls'')'),
    ('drivetribe-prune-cron-history', '41 4 * * *',
     'SELECT drivetribe.run_maintenance(''prune-cron-history'')')
$fn$;

-- Jobs registered before: register the new set.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_extension e
              WHERE e.extname::pg_catalog.text OPERATOR(pg_catalog.=) 'pg_cron') THEN
    IF EXISTS (SELECT FROM cron.job j
                WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                      SELECT m.jobname FROM drivetribe.maintenance_jobs() m)) THEN
      PERFORM drivetribe.schedule_maintenance();
    END IF;
  END IF;
END
$$;

REVOKE ALL ON FUNCTION drivetribe.fold_stripes() FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.article(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.has_bumped(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.article_stripes, drivetribe.user_stripes,
                    drivetribe.tribe_stripes FROM PUBLIC;
