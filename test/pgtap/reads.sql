-- Reads: article() and article_comments (oldest first, page_size,
-- after_comment_id, deleted comments gone).  Feeds: feeds.sql.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(30);

CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) SELECT drivetribe.register_user(u, 'user' || u) FROM generate_series(1, 6) u ORDER BY u;
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(11, 2, 'Bikes'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(12, 3, 'Boats'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(100, 1, 10, 'comments here'));
-- 25 comments, ids in posting order, authors cycling 1..5
INSERT INTO _r(v) SELECT drivetribe.post_comment(1000 + i, 100, 1 + (i - 1) % 5, 'body ' || i)
  FROM generate_series(1, 25) i ORDER BY i;
INSERT INTO _r(v) VALUES (drivetribe.delete_comment(1005));
INSERT INTO _r(v) VALUES (drivetribe.delete_comment(1010));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 37::bigint, 'setup accepted');

-- article(): the same row as article_view, or no row
SELECT results_eq('SELECT * FROM drivetribe.article(100)',
                  'SELECT * FROM drivetribe.article_view WHERE article_id = 100',
                  'article(id) is the article_view row');
SELECT is_empty('SELECT * FROM drivetribe.article(99)', 'article() of an unknown id: no row');
SELECT has_column('drivetribe', 'article_view', c, 'article_view has ' || c)
  FROM unnest(ARRAY['article_id', 'tribe_id', 'tribe_name', 'author_id', 'author_name', 'title',
                    'posted_at', 'views', 'comments', 'bumps', 'score']) c;
SELECT is((SELECT comments::bigint FROM drivetribe.article(100)), 23::bigint, 'comments counts live comments');

-- article_comments
SELECT results_eq(
  'SELECT comment_id::bigint FROM drivetribe.article_comments(100)',
  $$SELECT 1000 + i::bigint FROM generate_series(1, 25) i WHERE i NOT IN (5, 10) ORDER BY i LIMIT 20$$,
  'default page: first 20 live comments, oldest first');
SELECT results_eq(
  'SELECT comment_id::bigint FROM drivetribe.article_comments(100, 20, 1022)',
  $$VALUES (1023::bigint), (1024), (1025)$$, 'next page after the last row of page 1');
SELECT results_eq(
  'SELECT comment_id::bigint FROM drivetribe.article_comments(100, 5)',
  $$VALUES (1001::bigint), (1002), (1003), (1004), (1006)$$, 'page_size 5 skips the deleted comment');
SELECT results_eq(
  'SELECT comment_id::bigint FROM drivetribe.article_comments(100, 5, 1006)',
  $$VALUES (1007::bigint), (1008), (1009), (1011), (1012)$$, 'page 2 of 5');
SELECT results_eq(
  'SELECT comment_id::bigint FROM drivetribe.article_comments(100, 1, 1024)',
  $$VALUES (1025::bigint)$$, 'page_size 1');
SELECT is_empty('SELECT * FROM drivetribe.article_comments(100, 20, 1025)', 'after the last comment: empty');
SELECT results_eq(
  'SELECT comment_id::bigint, author_id::bigint, author_name::text, body::text FROM drivetribe.article_comments(100, 3)',
  $$VALUES (1001::bigint, 1::bigint, 'user1', 'body 1'), (1002, 2, 'user2', 'body 2'), (1003, 3, 'user3', 'body 3')$$,
  'comment columns: comment_id, author_id, author_name, body');
SELECT ok((SELECT bool_and(posted_at IS NOT NULL) FROM drivetribe.article_comments(100, 100)), 'posted_at present');
SELECT is(
  (SELECT count(*) FROM (SELECT c.posted_at, lag(c.posted_at) OVER (ORDER BY c.ordinality) p
                           FROM drivetribe.article_comments(100, 100) WITH ORDINALITY c) y
    WHERE posted_at < p), 0::bigint, 'posted_at never decreases down the list');
-- walking all pages visits each live comment once
CREATE TEMP TABLE _walk (page int, comment_id bigint);
DO $$
DECLARE last bigint := NULL; p int := 0; got int;
BEGIN
  LOOP
    p := p + 1;
    INSERT INTO _walk SELECT p, c.comment_id FROM drivetribe.article_comments(100, 4, last) c;
    GET DIAGNOSTICS got = ROW_COUNT;
    EXIT WHEN got = 0 OR p > 20;
    SELECT comment_id INTO last FROM _walk WHERE page = p ORDER BY comment_id DESC LIMIT 1;
  END LOOP;
END $$;
SELECT results_eq('SELECT comment_id FROM _walk ORDER BY page, comment_id',
  $$SELECT 1000 + i::bigint FROM generate_series(1, 25) i WHERE i NOT IN (5, 10) ORDER BY i$$,
  'walking pages of 4 returns every live comment once, in order');
SELECT is((SELECT max(page) FROM _walk), 6, '23 comments in pages of 4: 6 pages');
SELECT throws_ok('SELECT * FROM drivetribe.article_comments(424242)', '23503', 'article 424242 does not exist',
  'article_comments of an unknown article: 23503 (1.7; empty up to 1.6)');
SELECT ok(drivetribe.delete_comment(1001) > 0, 'delete the oldest comment');
SELECT results_eq(
  'SELECT comment_id::bigint FROM drivetribe.article_comments(100, 2)',
  $$VALUES (1002::bigint), (1003)$$, 'first page starts after it');

SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
