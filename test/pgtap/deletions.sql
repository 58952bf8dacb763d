-- Deletions: a deleted article is gone from every read, its bumps stop
-- counting in the author's bumps_received, and tribe/user article counts
-- drop; a deleted comment drops the article's and the commenter's counts.
-- Choices from docs/design.md: comments of a deleted article stay live
-- (user_stats.comments), bumps_given keeps counting bumps on deleted
-- articles, has_bumped of a deleted article is false.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(41);

CREATE TEMP VIEW av AS
  SELECT article_id::bigint, tribe_id::bigint, author_id::bigint, views::bigint, comments::bigint, bumps::bigint
  FROM drivetribe.article_view;
CREATE TEMP VIEW us AS
  SELECT user_id::bigint, articles::bigint, comments::bigint, bumps_given::bigint, bumps_received::bigint
  FROM drivetribe.user_stats;
CREATE TEMP VIEW ts AS
  SELECT tribe_id::bigint, members::bigint, articles::bigint FROM drivetribe.tribe_stats;
CREATE FUNCTION pg_temp.nev() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM drivetribe.events';

CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) VALUES (drivetribe.register_user(1, 'alice'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(2, 'bob'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(3, 'carol'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(2, 10));
INSERT INTO _r(v) VALUES (drivetribe.post_article(100, 1, 10, 'first'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(101, 1, 10, 'second'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(102, 2, 10, 'bob''s'));
INSERT INTO _r(v) VALUES (drivetribe.view_article(100));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 3));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 1));
INSERT INTO _r(v) VALUES (drivetribe.bump(101, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(102, 1));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1000, 100, 2, 'c0'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1001, 100, 3, 'c1'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1002, 101, 3, 'c2'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1003, 101, 2, 'c3'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1004, 102, 3, 'c4'));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 19::bigint, 'setup accepted');

SELECT results_eq('SELECT * FROM us ORDER BY user_id', $$VALUES
  (1::bigint, 2::bigint, 0::bigint, 2::bigint, 4::bigint),
  (2, 1, 2, 2, 1),
  (3, 0, 3, 1, 0)$$, 'user_stats before deletions');
SELECT results_eq('SELECT * FROM ts', $$VALUES (10::bigint, 2::bigint, 3::bigint)$$, 'tribe_stats before');

-- delete article 100 (1 view, 3 bumps incl. a self bump, 2 comments)
SELECT ok(drivetribe.delete_article(100) > (SELECT max(v) FROM _r), 'delete_article returns a new seq');
SELECT is(pg_temp.nev(), 20::bigint, 'one event appended');
SELECT is((SELECT kind::text FROM drivetribe.events ORDER BY seq DESC LIMIT 1), 'article_deleted', 'of kind article_deleted');

SELECT results_eq('SELECT article_id FROM av ORDER BY article_id',
  $$VALUES (101::bigint), (102)$$, 'article_view: deleted article gone');
SELECT is_empty('SELECT * FROM drivetribe.article(100)', 'article(100): no row');
SELECT is_empty('SELECT * FROM drivetribe.article_comments(100)', 'article_comments of a deleted article: no rows (design)');
SELECT is(drivetribe.has_bumped(100, 2), false, 'has_bumped of a deleted article is false (design)');
SELECT is(drivetribe.has_bumped(100, 1), false, 'has_bumped of a deleted article is false, self bump too');
SELECT results_eq('SELECT * FROM us ORDER BY user_id', $$VALUES
  (1::bigint, 1::bigint, 0::bigint, 2::bigint, 1::bigint),
  (2, 1, 2, 2, 1),
  (3, 0, 3, 1, 0)$$,
  'user_stats: author loses the article and its 3 bumps received; bumps_given and comments kept (design)');
SELECT results_eq('SELECT * FROM ts', $$VALUES (10::bigint, 2::bigint, 2::bigint)$$, 'tribe_stats: articles drops to 2');
SELECT results_eq('SELECT * FROM av ORDER BY article_id', $$VALUES
  (101::bigint, 10::bigint, 1::bigint, 0::bigint, 2::bigint, 1::bigint),
  (102, 10, 2, 0, 1, 1)$$, 'other articles untouched');
SELECT ok((SELECT deleted FROM drivetribe.articles WHERE article_id = 100), 'row kept with deleted = true (design)');

-- deleting again is a no-op; using it is 55000; its id stays taken
SELECT is(drivetribe.delete_article(100), NULL::bigint, 'delete again: NULL');
SELECT throws_ok('SELECT drivetribe.view_article(100)', '55000', NULL, 'view deleted: 55000');
SELECT throws_ok('SELECT drivetribe.bump(100, 3)', '55000', NULL, 'bump deleted: 55000');
SELECT throws_ok('SELECT drivetribe.unbump(100, 2)', '55000', NULL, 'unbump deleted: 55000');
SELECT throws_ok('SELECT drivetribe.edit_article(100, ''x'')', '55000', NULL, 'edit deleted: 55000');
SELECT throws_ok('SELECT drivetribe.post_comment(1010, 100, 2, ''x'')', '55000', NULL, 'comment on deleted: 55000');
SELECT throws_ok('SELECT drivetribe.post_article(100, 2, 10, ''x'')', '23505', NULL, 'deleted article id stays taken: 23505');
SELECT is(pg_temp.nev(), 20::bigint, 'nothing appended by the no-op and the rejected calls');

-- delete comment 1002 (on live article 101, by carol)
SELECT ok(drivetribe.delete_comment(1002) > 0, 'delete_comment returns a seq');
SELECT is((SELECT comments FROM av WHERE article_id = 101), 1::bigint, 'article comments drops');
SELECT is((SELECT comments FROM us WHERE user_id = 3), 2::bigint, 'commenter comments drops');
SELECT results_eq('SELECT comment_id::bigint FROM drivetribe.article_comments(101)',
  $$VALUES (1003::bigint)$$, 'deleted comment gone from article_comments');
SELECT is(drivetribe.delete_comment(1002), NULL::bigint, 'delete comment again: NULL');
SELECT throws_ok('SELECT drivetribe.post_comment(1002, 101, 3, ''again'')', '23505', NULL, 'deleted comment id stays taken');
SELECT throws_ok('SELECT drivetribe.delete_comment(424242)', '23503', NULL, 'unknown comment: 23503');
SELECT is(pg_temp.nev(), 21::bigint, 'only the first delete_comment appended');

-- a comment on a deleted article can still be deleted (SPEC: 55000 is only for
-- view/bump/unbump/comment/edit); the commenter's count drops
SELECT ok(drivetribe.delete_comment(1001) > 0, 'delete a comment of a deleted article');
SELECT is((SELECT comments FROM us WHERE user_id = 3), 1::bigint, 'commenter count drops');

-- delete the last comment of an article, then the article: counts reach zero
SELECT ok(drivetribe.delete_comment(1004) > 0, 'delete comment 1004');
SELECT is((SELECT comments FROM av WHERE article_id = 102), 0::bigint, 'article 102 has 0 comments');
SELECT ok(drivetribe.delete_article(102) > 0, 'delete article 102');
SELECT ok(drivetribe.delete_article(101) > 0, 'delete article 101');
SELECT is_empty('SELECT * FROM drivetribe.article_view', 'article_view empty');
SELECT results_eq('SELECT * FROM us ORDER BY user_id', $$VALUES
  (1::bigint, 0::bigint, 0::bigint, 2::bigint, 0::bigint),
  (2, 0, 2, 2, 0),
  (3, 0, 0, 1, 0)$$, 'user_stats: no articles, no bumps received');
SELECT results_eq('SELECT * FROM ts', $$VALUES (10::bigint, 2::bigint, 0::bigint)$$, 'tribe_stats: no articles');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
