/* drivetribe--1.6--1.7.sql: no role can stall the extension (issue 18) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.7'" to load this file. \quit

------------------------------------------------------------------------
-- ranking: a score that lags its counts by at most 2 s in every case
------------------------------------------------------------------------

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
