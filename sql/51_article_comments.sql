--
-- 51_article_comments: article_comments()'s arguments (issue 18 item 13)
-- and its order (item 7: log order, see also the isolation spec
-- comment_pages).  feed()'s rules: a NULL id or page_size is 22004, a
-- page_size outside 1..1000 is 22023, an unknown article 23503 (fields:
-- articles / article_id / articles_pkey); a deleted article has no rows
-- (SPEC: gone from every read).  The cursor comment must exist (23503,
-- comments / comment_id) and be on that article (22023).
-- Uses the world of 50_comments and changes nothing in it.
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- 22004: NULL article_id or page_size
SELECT count(*) FROM drivetribe.article_comments(NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(NULL, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(101, NULL, 1000);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- 22023: page_size outside 1..1000 (checked before the article)
SELECT count(*) FROM drivetribe.article_comments(101, 1001);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(999, -2147483648);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- the bounds themselves are fine
SELECT count(*) AS rows FROM drivetribe.article_comments(101, 1);
SELECT count(*) AS rows FROM drivetribe.article_comments(101, 1000);

-- 23503: an unknown article (any id: feed() does not check ids' sign)
SELECT count(*) FROM drivetribe.article_comments(0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(-101, 5, 1000);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- a deleted article: no rows, whatever the cursor
SELECT count(*) AS rows FROM drivetribe.article_comments(107);
SELECT count(*) AS rows FROM drivetribe.article_comments(107, 20, 424242);

-- the cursor: an unknown comment is 23503, a comment of another article
-- 22023; a deleted comment of the article is a valid cursor
SELECT count(*) FROM drivetribe.article_comments(101, 20, 424242);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(101, 20, 1003);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT comment_id FROM drivetribe.article_comments(101, 20, 1001);

-- the fields of these errors, as every error of the API carries them
CREATE FUNCTION pg_temp.fields(call text)
RETURNS TABLE (code text, message text, table_name text, column_name text,
               constraint_name text)
LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE 'SELECT count(*) FROM ' || call;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
      table_name = TABLE_NAME, column_name = COLUMN_NAME,
      constraint_name = CONSTRAINT_NAME;
    table_name := nullif(table_name, '');
    column_name := nullif(column_name, '');
    constraint_name := nullif(constraint_name, '');
    RETURN NEXT;
    RETURN;
  END;
  code := 'no error';
  RETURN NEXT;
END
$$;
SELECT c.call, f.* FROM (VALUES
  (1, 'drivetribe.article_comments(NULL)'),
  (2, 'drivetribe.article_comments(101, NULL)'),
  (3, 'drivetribe.article_comments(101, 0)'),
  (4, 'drivetribe.article_comments(101, 1001)'),
  (5, 'drivetribe.article_comments(999)'),
  (6, 'drivetribe.article_comments(101, 20, 424242)'),
  (7, 'drivetribe.article_comments(101, 20, 1003)')
) AS c(n, call), pg_temp.fields(c.call) f ORDER BY c.n;

-- Log order: a comment's position is the seq of its comment_posted, and
-- pages follow it whatever the ids and the transaction start times.
SELECT c.comment_id, c.pos = e.seq AS pos_is_seq
  FROM drivetribe.comments c
  JOIN drivetribe.events e ON e.kind = 'comment_posted' AND e.comment_id = c.comment_id
 WHERE c.article_id IN (101, 103)
 ORDER BY c.pos;
-- two comments posted in one transaction (one posted_at) come in call order
BEGIN;
SELECT drivetribe.post_comment(1021, 104, 2, 'one') IS NOT NULL AS posted;
SELECT drivetribe.post_comment(1020, 104, 3, 'two') IS NOT NULL AS posted;
-- read-your-writes, and paging by one
SELECT comment_id, body FROM drivetribe.article_comments(104);
SELECT comment_id, body FROM drivetribe.article_comments(104, 1);
SELECT comment_id, body FROM drivetribe.article_comments(104, 1, 1021);
SELECT comment_id, body FROM drivetribe.article_comments(104, 1, 1020);
SELECT count(*) AS differences FROM drivetribe.verify();
ROLLBACK;

-- verify() checks positions, rebuild() restores them
BEGIN;
UPDATE drivetribe.comments SET pos = pos + 1000000 WHERE comment_id = 1000;
SELECT projection, key, detail ~ '^pos: live [0-9]+, replayed [0-9]+$' AS pos_differs
  FROM drivetribe.verify();
SELECT drivetribe.rebuild() > 0 AS rebuilt;
SELECT count(*) AS differences FROM drivetribe.verify();
SELECT comment_id FROM drivetribe.article_comments(101);
ROLLBACK;

SELECT dt_unchanged() AS unchanged;
