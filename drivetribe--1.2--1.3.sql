/* drivetribe--1.2--1.3.sql: ranked feeds (issue 10) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.3'" to load this file. \quit

------------------------------------------------------------------------
-- The rank.  articles.score is SPEC's score over the article's counts,
-- stored and kept by the writers: a counter change made in place sets it
-- from the row and its stripes (exact when no other writer holds the
-- article), a change made in a stripe leaves it to folding, which sets it
-- again from the row and every stripe (the fold runs in the extension's
-- rank worker about every second while stripes exist, and from pg_cron
-- every minute).  Every read shows this one score, so a feed's order
-- always agrees with the scores it shows.
------------------------------------------------------------------------
ALTER TABLE drivetribe.articles ADD COLUMN score double precision;

UPDATE drivetribe.articles a
   SET score = pg_catalog.log10(GREATEST(
           (10 OPERATOR(pg_catalog.*) (a.bumps OPERATOR(pg_catalog.+) COALESCE(s.bumps, 0)))
           OPERATOR(pg_catalog.+)
           (5 OPERATOR(pg_catalog.*) (a.comments OPERATOR(pg_catalog.+) COALESCE(s.comments, 0)))
           OPERATOR(pg_catalog.+) (a.views OPERATOR(pg_catalog.+) COALESCE(s.views, 0)),
           1)::pg_catalog.float8)
       OPERATOR(pg_catalog.+)
       (EXTRACT(epoch FROM a.posted_at) OPERATOR(pg_catalog./) 45000)::pg_catalog.float8
  FROM drivetribe.articles r
  LEFT JOIN (SELECT x.article_id,
                    pg_catalog.sum(x.views)::pg_catalog.int8 AS views,
                    pg_catalog.sum(x.comments)::pg_catalog.int8 AS comments,
                    pg_catalog.sum(x.bumps)::pg_catalog.int8 AS bumps
               FROM drivetribe.article_stripes x GROUP BY x.article_id) s
         ON s.article_id OPERATOR(pg_catalog.=) r.article_id
 WHERE r.article_id OPERATOR(pg_catalog.=) a.article_id;

ALTER TABLE drivetribe.articles ALTER COLUMN score SET NOT NULL;

-- The score is indexed, so a counter change of an article made in place is
-- not a HOT update; room on the page lets the new row version stay on the
-- same page (measured: view_article spread 0.59 -> 0.64 of a bare INSERT
-- of its event row).  Applies to pages filled from now on.
ALTER TABLE drivetribe.articles SET (fillfactor = 70);

-- The rankings a feed page reads: every live article best first (a
-- reader with many sources finds their page by walking it), and the live
-- articles of one tribe and of one author (merged for a reader whose
-- sources are a small part of the site).  src/feed.c has the plan.
CREATE INDEX articles_rank_idx
    ON drivetribe.articles (score DESC, article_id DESC)
    WHERE NOT deleted;
CREATE INDEX articles_tribe_rank_idx
    ON drivetribe.articles (tribe_id, score DESC, article_id DESC)
    WHERE NOT deleted;
CREATE INDEX articles_author_rank_idx
    ON drivetribe.articles (author_id, score DESC, article_id DESC)
    WHERE NOT deleted;

-- A user's tribes, in order (the feed's sources; memberships_user_idx
-- held only the user).
DROP INDEX drivetribe.memberships_user_idx;
CREATE INDEX memberships_user_idx
    ON drivetribe.memberships (user_id, tribe_id);

CREATE OR REPLACE VIEW drivetribe.article_view AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name,
       a.author_id, u.name AS author_name, a.title, a.posted_at,
       c.views, c.comments, c.bumps, a.score
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
COMMENT ON VIEW drivetribe.article_view IS
  'one card per live article: names, exact counts and the rank score (may lag its counts by at most a few seconds while the article is written concurrently)';

------------------------------------------------------------------------
-- Feeds (C, src/feed.c): one call, one page of complete cards.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.feed(user_id bigint, page_size int DEFAULT 20,
                                after_score double precision DEFAULT NULL,
                                after_article_id bigint DEFAULT NULL)
RETURNS SETOF drivetribe.article_view
LANGUAGE c STABLE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_feed';
COMMENT ON FUNCTION drivetribe.feed(bigint, integer, double precision, bigint) IS
  'one page of the live articles in the user''s tribes or by users they follow, best first (score DESC, article_id DESC); pass the last row''s score and article_id for the next page';

CREATE FUNCTION drivetribe.tribe_feed(tribe_id bigint, page_size int DEFAULT 20,
                                      after_score double precision DEFAULT NULL,
                                      after_article_id bigint DEFAULT NULL)
RETURNS SETOF drivetribe.article_view
LANGUAGE c STABLE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_tribe_feed';
COMMENT ON FUNCTION drivetribe.tribe_feed(bigint, integer, double precision, bigint) IS
  'one page of the live articles of one tribe, best first (score DESC, article_id DESC); pass the last row''s score and article_id for the next page';

CREATE OR REPLACE FUNCTION drivetribe.api_functions(writer boolean)
RETURNS SETOF regprocedure
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.article(bigint)',
    'drivetribe.article_comments(bigint,integer,bigint)',
    'drivetribe.has_bumped(bigint,bigint)',
    'drivetribe.feed(bigint,integer,double precision,bigint)',
    'drivetribe.tribe_feed(bigint,integer,double precision,bigint)']) AS f
  UNION ALL
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.register_user(bigint,text,uuid)',
    'drivetribe.rename_user(bigint,text,uuid)',
    'drivetribe.create_tribe(bigint,bigint,text,uuid)',
    'drivetribe.rename_tribe(bigint,text,uuid)',
    'drivetribe.join_tribe(bigint,bigint,uuid)',
    'drivetribe.leave_tribe(bigint,bigint,uuid)',
    'drivetribe.follow_user(bigint,bigint,uuid)',
    'drivetribe.unfollow_user(bigint,bigint,uuid)',
    'drivetribe.post_article(bigint,bigint,bigint,text,uuid)',
    'drivetribe.edit_article(bigint,text,uuid)',
    'drivetribe.delete_article(bigint,uuid)',
    'drivetribe.view_article(bigint,bigint,uuid)',
    'drivetribe.post_comment(bigint,bigint,bigint,text,uuid)',
    'drivetribe.delete_comment(bigint,uuid)',
    'drivetribe.bump(bigint,bigint,uuid)',
    'drivetribe.unbump(bigint,bigint,uuid)']) AS f
   WHERE writer
$$;

-- Roles granted the read API before 1.3 (they can execute article())
-- get the feeds too.
DO $$
DECLARE
  r regrole;
BEGIN
  FOR r IN
    SELECT a.grantee::pg_catalog.regrole
      FROM pg_catalog.pg_proc p,
           LATERAL pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid OPERATOR(pg_catalog.=) 'drivetribe.article(bigint)'::pg_catalog.regprocedure
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
       AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format(
      'GRANT EXECUTE ON FUNCTION drivetribe.feed(bigint,integer,double precision,bigint), '
      'drivetribe.tribe_feed(bigint,integer,double precision,bigint) TO %s', r);
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION drivetribe.feed(bigint, integer, double precision, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.tribe_feed(bigint, integer, double precision, bigint) FROM PUBLIC;
