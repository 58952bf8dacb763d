-- Projection meaning: exact counters of article_view, article(), user_stats,
-- tribe_stats and has_bumped for a scripted scenario, then after changes.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(25);

CREATE TEMP VIEW av AS
  SELECT article_id::bigint, tribe_id::bigint, tribe_name::text, author_id::bigint, author_name::text,
         title::text, views::bigint, comments::bigint, bumps::bigint
  FROM drivetribe.article_view;
CREATE TEMP VIEW us AS
  SELECT user_id::bigint, name::text, articles::bigint, comments::bigint, bumps_given::bigint,
         bumps_received::bigint, followers::bigint, following::bigint, tribes::bigint
  FROM drivetribe.user_stats;
CREATE TEMP VIEW ts AS
  SELECT tribe_id::bigint, name::text, owner_id::bigint, members::bigint, articles::bigint
  FROM drivetribe.tribe_stats;

CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) VALUES (drivetribe.register_user(1, 'alice'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(2, 'bob'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(3, 'carol'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(4, 'dave'));

SELECT results_eq('SELECT * FROM us ORDER BY user_id', $$VALUES
  (1::bigint, 'alice', 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint),
  (2, 'bob',   0, 0, 0, 0, 0, 0, 0),
  (3, 'carol', 0, 0, 0, 0, 0, 0, 0),
  (4, 'dave',  0, 0, 0, 0, 0, 0, 0)$$, 'fresh users: all counters zero');

INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(11, 2, 'Bikes'));
SELECT results_eq('SELECT * FROM ts ORDER BY tribe_id', $$VALUES
  (10::bigint, 'Cars', 1::bigint, 1::bigint, 0::bigint),
  (11, 'Bikes', 2, 1, 0)$$, 'a new tribe counts its owner as a member');

INSERT INTO _r(v) VALUES (drivetribe.join_tribe(2, 10));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(3, 10));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(3, 11));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(2, 1));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(3, 1));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(1, 2));
INSERT INTO _r(v) VALUES (drivetribe.post_article(100, 1, 10, 'A'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(101, 2, 10, 'B'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(102, 3, 11, 'C'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(103, 4, 10, 'D'));   -- 4 is not a member of 10
INSERT INTO _r(v) VALUES (drivetribe.view_article(100));
INSERT INTO _r(v) VALUES (drivetribe.view_article(100, 2));
INSERT INTO _r(v) VALUES (drivetribe.view_article(100, 2));
INSERT INTO _r(v) VALUES (drivetribe.view_article(101, 1));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1000, 100, 2, 'first'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1001, 100, 3, 'second'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1002, 100, 2, 'third'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1003, 101, 1, 'on B'));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 3));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 1));                     -- self bump
INSERT INTO _r(v) VALUES (drivetribe.bump(101, 1));
INSERT INTO _r(v) VALUES (drivetribe.bump(102, 1));
INSERT INTO _r(v) VALUES (drivetribe.bump(102, 2));

SELECT is((SELECT count(*) FROM _r WHERE v > 0), 30::bigint, 'all 30 scripted writes accepted');

SELECT results_eq('SELECT * FROM av ORDER BY article_id', $$VALUES
  (100::bigint, 10::bigint, 'Cars', 1::bigint, 'alice', 'A', 3::bigint, 3::bigint, 3::bigint),
  (101, 10, 'Cars',  2, 'bob',   'B', 1, 1, 1),
  (102, 11, 'Bikes', 3, 'carol', 'C', 0, 0, 2),
  (103, 10, 'Cars',  4, 'dave',  'D', 0, 0, 0)$$, 'article_view: names and counters');

SELECT results_eq('SELECT * FROM us ORDER BY user_id', $$VALUES
  (1::bigint, 'alice', 1::bigint, 1::bigint, 3::bigint, 3::bigint, 2::bigint, 1::bigint, 1::bigint),
  (2, 'bob',   1, 2, 2, 1, 1, 1, 2),
  (3, 'carol', 1, 1, 1, 2, 0, 1, 2),
  (4, 'dave',  1, 0, 0, 0, 0, 0, 0)$$, 'user_stats: every counter');

SELECT results_eq('SELECT * FROM ts ORDER BY tribe_id', $$VALUES
  (10::bigint, 'Cars', 1::bigint, 3::bigint, 3::bigint),
  (11, 'Bikes', 2, 2, 1)$$, 'tribe_stats: members incl. owner, live articles');

SELECT results_eq(
  $$SELECT article_id::bigint, tribe_name::text, author_name::text, title::text, views::bigint,
           comments::bigint, bumps::bigint FROM drivetribe.article(100)$$,
  $$VALUES (100::bigint, 'Cars', 'alice', 'A', 3::bigint, 3::bigint, 3::bigint)$$,
  'article(100)');
SELECT results_eq(
  $$SELECT article_id::bigint, views::bigint, comments::bigint, bumps::bigint FROM drivetribe.article(102)$$,
  $$VALUES (102::bigint, 0::bigint, 0::bigint, 2::bigint)$$, 'article(102)');
SELECT is_empty('SELECT * FROM drivetribe.article(424242)', 'article() of an unknown id: no row');

SELECT results_eq(
  $$SELECT a, u, drivetribe.has_bumped(a, u) FROM (VALUES
      (100::bigint, 1::bigint), (100, 2), (100, 3), (100, 4),
      (101, 1), (101, 2), (102, 1), (102, 2), (102, 3), (103, 1), (103, 4)) x(a, u) ORDER BY a, u$$,
  $$VALUES (100::bigint, 1::bigint, true), (100, 2, true), (100, 3, true), (100, 4, false),
           (101, 1, true), (101, 2, false), (102, 1, true), (102, 2, true), (102, 3, false),
           (103, 1, false), (103, 4, false)$$,
  'has_bumped');

-- changes: unbump, leave (also by an owner), unfollow, more views, new tribe
INSERT INTO _r(v) VALUES (drivetribe.unbump(100, 3));
INSERT INTO _r(v) VALUES (drivetribe.leave_tribe(3, 10));
INSERT INTO _r(v) VALUES (drivetribe.leave_tribe(2, 11));              -- owner leaves own tribe (design)
INSERT INTO _r(v) VALUES (drivetribe.unfollow_user(3, 1));
INSERT INTO _r(v) VALUES (drivetribe.view_article(103));
INSERT INTO _r(v) VALUES (drivetribe.view_article(103, 4));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(12, 4, 'Boats'));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(4, 3));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(1, 3));
INSERT INTO _r(v) VALUES (drivetribe.bump(103, 4));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1004, 103, 4, 'own'));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 41::bigint, 'all 11 further writes accepted');

SELECT results_eq('SELECT * FROM av ORDER BY article_id', $$VALUES
  (100::bigint, 10::bigint, 'Cars', 1::bigint, 'alice', 'A', 3::bigint, 3::bigint, 2::bigint),
  (101, 10, 'Cars',  2, 'bob',   'B', 1, 1, 1),
  (102, 11, 'Bikes', 3, 'carol', 'C', 0, 0, 2),
  (103, 10, 'Cars',  4, 'dave',  'D', 2, 1, 1)$$, 'article_view after changes');

SELECT results_eq('SELECT * FROM us ORDER BY user_id', $$VALUES
  (1::bigint, 'alice', 1::bigint, 1::bigint, 3::bigint, 2::bigint, 1::bigint, 2::bigint, 1::bigint),
  (2, 'bob',   1, 2, 2, 1, 1, 1, 1),
  (3, 'carol', 1, 1, 0, 2, 2, 0, 1),
  (4, 'dave',  1, 1, 1, 1, 0, 1, 1)$$, 'user_stats after changes');

SELECT results_eq('SELECT * FROM ts ORDER BY tribe_id', $$VALUES
  (10::bigint, 'Cars', 1::bigint, 2::bigint, 3::bigint),
  (11, 'Bikes', 2, 1, 1),
  (12, 'Boats', 4, 1, 0)$$, 'tribe_stats after changes (owner_id kept after the owner left)');

SELECT is(drivetribe.has_bumped(100, 3), false, 'has_bumped false after unbump');
SELECT is(drivetribe.has_bumped(103, 4), true, 'has_bumped true after self bump');

-- re-join, re-follow, re-bump count again
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(3, 10));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(3, 1));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 3));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 44::bigint, 'rejoin, refollow and rebump accepted');
SELECT results_eq('SELECT tribes, following, bumps_given FROM us WHERE user_id = 3',
  $$VALUES (2::bigint, 1::bigint, 1::bigint)$$, 'carol counters back up');
SELECT results_eq('SELECT followers, bumps_received FROM us WHERE user_id = 1',
  $$VALUES (2::bigint, 3::bigint)$$, 'alice counters back up');
SELECT is((SELECT members FROM ts WHERE tribe_id = 10), 3::bigint, 'tribe 10 back to 3 members');
SELECT is((SELECT bumps FROM av WHERE article_id = 100), 3::bigint, 'article 100 back to 3 bumps');

-- the internal tables agree with the public reads (docs/design.md)
SELECT set_eq('SELECT tribe_id::bigint, user_id::bigint FROM drivetribe.memberships',
  $$VALUES (10::bigint, 1::bigint), (10, 2), (10, 3), (11, 3), (12, 4)$$, 'memberships table');
SELECT set_eq('SELECT follower_id::bigint, followee_id::bigint FROM drivetribe.follows',
  $$VALUES (2::bigint, 1::bigint), (1, 2), (4, 3), (1, 3), (3, 1)$$, 'follows table');
SELECT set_eq('SELECT article_id::bigint, user_id::bigint FROM drivetribe.bumps',
  $$VALUES (100::bigint, 2::bigint), (100, 1), (100, 3), (101, 1), (102, 1), (102, 2), (103, 4)$$, 'bumps table');

SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
