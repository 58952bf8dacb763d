/* drivetribe--1.6--1.7.sql: no role can stall the extension (issue 18) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.7'" to load this file. \quit

------------------------------------------------------------------------
-- ranking: a score that lags its counts by at most 2 s in every case
------------------------------------------------------------------------
-- The rank moves out of the articles row into a table only the rank
-- worker (and post/delete) writes.  Up to 1.6 the score was a column of
-- articles, so a writer holding the row (an open transaction that viewed
-- the article in place, or edited it) kept every fold away from it and
-- the score stale for as long as it stayed open.  Since 1.7 an article's
-- counter changes always go to the writer's stripe (never in place), a
-- stripe is "this article's score is due", and the worker sets
-- article_ranks.score from the row plus its stripes whoever holds what.
-- Counter updates of articles no longer change an indexed column: HOT.
CREATE TABLE drivetribe.article_ranks (
    article_id bigint PRIMARY KEY,
    tribe_id   bigint NOT NULL,
    author_id  bigint NOT NULL,
    score      double precision NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('drivetribe.article_ranks', '');
COMMENT ON TABLE drivetribe.article_ranks IS
  'internal (projection): the rank of every live article, SPEC''s score over its counts, set by the rank worker at most about drivetribe.fold_interval after a change';
COMMENT ON COLUMN drivetribe.article_ranks.article_id IS 'a live article';
COMMENT ON COLUMN drivetribe.article_ranks.tribe_id IS 'its tribe (for the tribe''s ranking)';
COMMENT ON COLUMN drivetribe.article_ranks.author_id IS 'its author (for the author''s ranking)';
COMMENT ON COLUMN drivetribe.article_ranks.score IS 'log10(greatest(10*bumps + 5*comments + views, 1)) + epoch(posted_at)/45000 over its counts';

-- exact at once: SPEC's score over each live article's counts (1.6's
-- article_view: row plus stripes)
INSERT INTO drivetribe.article_ranks (article_id, tribe_id, author_id, score)
SELECT v.article_id, v.tribe_id, v.author_id,
       pg_catalog.log10(GREATEST(
         (10 OPERATOR(pg_catalog.*) v.bumps) OPERATOR(pg_catalog.+)
         (5 OPERATOR(pg_catalog.*) v.comments) OPERATOR(pg_catalog.+) v.views,
         1)::pg_catalog.float8) OPERATOR(pg_catalog.+)
       (EXTRACT(epoch FROM v.posted_at) OPERATOR(pg_catalog./) 45000)::pg_catalog.float8
  FROM drivetribe.article_view v;

CREATE INDEX article_ranks_rank_idx
    ON drivetribe.article_ranks (score DESC, article_id DESC);
CREATE INDEX article_ranks_tribe_rank_idx
    ON drivetribe.article_ranks (tribe_id, score DESC, article_id DESC);
CREATE INDEX article_ranks_author_rank_idx
    ON drivetribe.article_ranks (author_id, score DESC, article_id DESC);
COMMENT ON INDEX drivetribe.article_ranks_rank_idx IS 'internal: the site''s ranking (feed() walks it)';
COMMENT ON INDEX drivetribe.article_ranks_tribe_rank_idx IS 'internal: one tribe''s ranking (tribe_feed(), feed()''s merge)';
COMMENT ON INDEX drivetribe.article_ranks_author_rank_idx IS 'internal: one author''s ranking (feed()''s merge)';

-- the card's score comes from the rank; counts stay exact (row + stripes)
CREATE OR REPLACE VIEW drivetribe.article_view AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name,
       a.author_id, u.name AS author_name, a.title, a.posted_at,
       c.views, c.comments, c.bumps, r.score
  FROM drivetribe.articles a
  JOIN drivetribe.article_ranks r ON r.article_id OPERATOR(pg_catalog.=) a.article_id
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
  'one card per live article: names, exact counts and the rank score (lags its counts by at most 2 s)';

DROP INDEX drivetribe.articles_rank_idx;
DROP INDEX drivetribe.articles_tribe_rank_idx;
DROP INDEX drivetribe.articles_author_rank_idx;
ALTER TABLE drivetribe.articles DROP COLUMN score;

-- Stripe ids: unique for a backend's life (and renewed after it prepares
-- a transaction, and per transaction under REPEATABLE READ), so no stripe
-- row a prepared transaction holds is ever written by anyone else, and a
-- fold never deletes a stripe a snapshot-isolated writer is about to
-- change.  Up to 1.6 the stripe was the backend id.
CREATE SEQUENCE drivetribe.stripe_ids AS integer CYCLE;
COMMENT ON SEQUENCE drivetribe.stripe_ids IS
  'internal: ids of counter stripes (one per backend life, see docs/design.md "Hot keys")';
COMMENT ON FUNCTION drivetribe.score(bigint, bigint, bigint, timestamptz) IS
  'SPEC''s rank score of an article from its bumps, comments, views and posting time (stored in article_ranks.score)';
COMMENT ON COLUMN drivetribe.article_view.score IS 'the rank score (what feeds order by): SPEC''s score over the counts, at most 2 s behind them';

------------------------------------------------------------------------
-- comments: paging that never skips a comment that commits late
------------------------------------------------------------------------
-- (src/comments.c; docs/design.md "Comment pages")
--
-- Every comment gets a position, pos: the seq of its comment_posted
-- event (a replay of the log gives it back).  article_comments() pages in
-- pos order from the cursor comment's pos, and stops a page at a comment
-- whose transaction the caller's snapshot does not see yet, so a comment
-- that commits late is never behind a reader's cursor.  post_comment
-- draws the position and inserts the row under the article's comment
-- order lock, held for those two inserts only.
--
-- The log first, as writers take it (ROW EXCLUSIVE on events, then
-- comments) and as rebuild() does: no event is appended while existing
-- comments get their positions, and the update does not wait for
-- comments while holding what a writer waits for.
LOCK TABLE drivetribe.events IN EXCLUSIVE MODE;

ALTER TABLE drivetribe.comments ADD COLUMN pos bigint;
-- the position of every existing comment, from the log in one pass
UPDATE drivetribe.comments c
   SET pos = p.seq
  FROM (SELECT e.comment_id, pg_catalog.min(e.seq) AS seq
          FROM drivetribe.events e
         WHERE e.kind OPERATOR(pg_catalog.=) 'comment_posted'
         GROUP BY e.comment_id) p
 WHERE c.comment_id OPERATOR(pg_catalog.=) p.comment_id;
-- a row the log does not have (a projection edited by hand) goes first;
-- verify() reports it and rebuild() removes it
UPDATE drivetribe.comments SET pos = 0 WHERE pos IS NULL;
ALTER TABLE drivetribe.comments ALTER COLUMN pos SET NOT NULL;
COMMENT ON COLUMN drivetribe.comments.pos IS
  'its position on the article''s pages (article_comments(), oldest first): the seq of its comment_posted event';

-- 1.0's index ordered pages by (posted_at, comment_id); pages now go by pos
DROP INDEX drivetribe.comments_article_idx;
CREATE INDEX comments_article_pos_idx
    ON drivetribe.comments (article_id, pos)
    WHERE NOT deleted;
COMMENT ON INDEX drivetribe.comments_article_pos_idx IS
  'article_comments(): an article''s live comments in page order; its presence tells the library that comments have positions';

-- the same signature, arguments, defaults and columns (SPEC), now in C;
-- CREATE OR REPLACE keeps the grants (read API, grant_reader)
CREATE OR REPLACE FUNCTION drivetribe.article_comments(article_id bigint,
                                                       page_size int DEFAULT 20,
                                                       after_comment_id bigint DEFAULT NULL)
RETURNS TABLE (comment_id bigint, author_id bigint, author_name text,
               body text, posted_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_article_comments';
REVOKE ALL ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) IS
  'read API: a page of an article''s live comments, oldest first (log order), after after_comment_id (keyset paging that never skips a comment committed late), with author names; page_size 1..1000; 23503 for an unknown article or cursor comment; no rows for a deleted article';

------------------------------------------------------------------------
-- privileges, the log's guard, pg_cron jobs and hints, small edges
------------------------------------------------------------------------

------------------------------------------------------------------------
-- the stream
------------------------------------------------------------------------

------------------------------------------------------------------------
-- updates under load: ALTER EXTENSION drivetribe UPDATE runs every script
-- of its path in one transaction while writers keep calling the library.
-- Writers take their table locks first, in the order the scripts of the
-- path lock tables against them (src/locks.c, update_locks; docs/design.md
-- "Lock order").  A statement here that locks a table of the schema in
-- SHARE mode or stronger (ALTER TABLE, DROP INDEX, CREATE INDEX without
-- CONCURRENTLY, LOCK TABLE, ...) must be listed there, in this script's
-- order, with a relation this script creates in version_marks;
-- test/e2e/upgrade_under_load.sh checks the list against pg_locks.
-- Nothing to run here.
------------------------------------------------------------------------
