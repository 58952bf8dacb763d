-- Renames: a user or tribe rename (and an article edit) shows at once in
-- every read: article_view, article(), article_comments, user_stats,
-- tribe_stats (feeds: feeds.sql).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(28);

CREATE FUNCTION pg_temp.nev() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM drivetribe.events';
CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) VALUES (drivetribe.register_user(1, 'alice'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(2, 'bob'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(11, 2, 'Bikes'));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(2, 10));
INSERT INTO _r(v) VALUES (drivetribe.post_article(100, 1, 10, 'Old title'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(101, 2, 10, 'Bob in Cars'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(102, 1, 11, 'Alice in Bikes'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1000, 100, 2, 'bob says'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1001, 100, 1, 'alice says'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1002, 101, 2, 'bob again'));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 11::bigint, 'setup accepted');

SELECT results_eq(
  'SELECT article_id::bigint, tribe_name::text, author_name::text, title::text FROM drivetribe.article_view ORDER BY article_id',
  $$VALUES (100::bigint, 'Cars', 'alice', 'Old title'), (101, 'Cars', 'bob', 'Bob in Cars'),
           (102, 'Bikes', 'alice', 'Alice in Bikes')$$, 'names before renames');

INSERT INTO _r(v) VALUES (drivetribe.rename_user(1, 'Alicia'));
INSERT INTO _r(v) VALUES (drivetribe.rename_user(2, 'Robert'));
INSERT INTO _r(v) VALUES (drivetribe.rename_tribe(10, 'Automobiles'));
INSERT INTO _r(v) VALUES (drivetribe.edit_article(100, 'New title'));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 15::bigint, 'renames and edit accepted');
SELECT results_eq(
  $$SELECT kind::text FROM drivetribe.events ORDER BY seq DESC LIMIT 4$$,
  $$VALUES ('article_edited'), ('tribe_renamed'), ('user_renamed'), ('user_renamed')$$, 'event kinds');

SELECT results_eq(
  'SELECT article_id::bigint, tribe_name::text, author_name::text, title::text FROM drivetribe.article_view ORDER BY article_id',
  $$VALUES (100::bigint, 'Automobiles', 'Alicia', 'New title'), (101, 'Automobiles', 'Robert', 'Bob in Cars'),
           (102, 'Bikes', 'Alicia', 'Alice in Bikes')$$, 'article_view shows new names at once');
SELECT results_eq(
  'SELECT tribe_name::text, author_name::text, title::text FROM drivetribe.article(100)',
  $$VALUES ('Automobiles', 'Alicia', 'New title')$$, 'article(100) shows new names');
SELECT results_eq(
  'SELECT tribe_name::text, author_name::text FROM drivetribe.article(102)',
  $$VALUES ('Bikes', 'Alicia')$$, 'article(102) shows new author name');
SELECT results_eq(
  'SELECT comment_id::bigint, author_id::bigint, author_name::text, body::text FROM drivetribe.article_comments(100)',
  $$VALUES (1000::bigint, 2::bigint, 'Robert', 'bob says'), (1001, 1, 'Alicia', 'alice says')$$,
  'article_comments shows new commenter names');
SELECT results_eq(
  'SELECT author_name::text FROM drivetribe.article_comments(101)',
  $$VALUES ('Robert')$$, 'article_comments of another article too');
SELECT results_eq(
  'SELECT user_id::bigint, name::text FROM drivetribe.user_stats ORDER BY user_id',
  $$VALUES (1::bigint, 'Alicia'), (2, 'Robert')$$, 'user_stats shows new names');
SELECT results_eq(
  'SELECT tribe_id::bigint, name::text FROM drivetribe.tribe_stats ORDER BY tribe_id',
  $$VALUES (10::bigint, 'Automobiles'), (11, 'Bikes')$$, 'tribe_stats shows new name');
-- renames do not touch counters or membership
SELECT results_eq(
  'SELECT user_id::bigint, articles::bigint, comments::bigint, tribes::bigint FROM drivetribe.user_stats ORDER BY user_id',
  $$VALUES (1::bigint, 2::bigint, 1::bigint, 1::bigint), (2, 1, 2, 2)$$, 'counters unchanged by renames');
SELECT results_eq(
  'SELECT tribe_id::bigint, owner_id::bigint, members::bigint, articles::bigint FROM drivetribe.tribe_stats ORDER BY tribe_id',
  $$VALUES (10::bigint, 1::bigint, 2::bigint, 2::bigint), (11, 2, 1, 1)$$, 'tribe counters unchanged by renames');

-- no-op renames and rejected renames
SELECT is(drivetribe.rename_user(1, 'Alicia'), NULL::bigint, 'rename to the same name: NULL');
SELECT is(drivetribe.rename_tribe(10, 'Automobiles'), NULL::bigint, 'rename tribe to the same name: NULL');
SELECT is(drivetribe.edit_article(100, 'New title'), NULL::bigint, 'edit to the same title: NULL');
SELECT is(pg_temp.nev(), 15::bigint, 'no-op renames appended nothing');
SELECT throws_ok('SELECT drivetribe.rename_user(424242, ''x'')', '23503', NULL, 'rename unknown user');
SELECT throws_ok('SELECT drivetribe.rename_tribe(424242, ''x'')', '23503', NULL, 'rename unknown tribe');
SELECT throws_ok('SELECT drivetribe.rename_user(1, '' '')', '22023', NULL, 'rename to blank');
SELECT throws_ok('SELECT drivetribe.rename_tribe(10, NULL)', '22004', NULL, 'rename tribe to NULL');

-- a rename back and a case-only rename are real changes
SELECT ok(drivetribe.rename_user(1, 'alicia') > 0, 'case-only rename is a change');
SELECT ok(drivetribe.rename_tribe(10, 'Cars') > 0, 'rename back');
SELECT results_eq(
  'SELECT tribe_name::text, author_name::text FROM drivetribe.article_view WHERE article_id = 100',
  $$VALUES ('Cars', 'alicia')$$, 'article_view follows the second rename');
SELECT results_eq(
  'SELECT author_name::text FROM drivetribe.article_comments(100) WHERE comment_id = 1001',
  $$VALUES ('alicia')$$, 'article_comments follows the second rename');

-- names in the log: the rename events carry the new name
SELECT is((SELECT count(*) FROM drivetribe.events WHERE kind::text = 'user_renamed' AND body = 'alicia'),
          1::bigint, 'user_renamed event carries the new name (design: body)');
SELECT is(pg_temp.nev(), 17::bigint, 'log length');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
