-- Feeds (SPEC "Read API"): feed(user) = live articles in a tribe the user is
-- a member of, or written by a user they follow, each once, ordered by
-- score DESC, article_id DESC, with keyset pages after (score, article_id);
-- tribe_feed(tribe) the same for one tribe. Rows are shaped like
-- article_view, names current, scores exactly SPEC's formula.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(36);

CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) SELECT drivetribe.register_user(u, 'user' || u) FROM generate_series(1, 6) u ORDER BY u;
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(11, 2, 'Bikes'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(12, 3, 'Boats'));
-- user 6 is a member of tribe 10 and follows user 3
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(6, 10));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(6, 3));
INSERT INTO _r(v) VALUES (drivetribe.post_article(100, 1, 10, 'cars by 1'));      -- member tribe
INSERT INTO _r(v) VALUES (drivetribe.post_article(101, 2, 11, 'bikes by 2'));     -- not in 6's feed
INSERT INTO _r(v) VALUES (drivetribe.post_article(102, 3, 12, 'boats by 3'));     -- followed author
INSERT INTO _r(v) VALUES (drivetribe.post_article(103, 3, 10, 'cars by 3'));      -- both reasons: once
INSERT INTO _r(v) VALUES (drivetribe.post_article(104, 2, 10, 'cars by 2'));      -- member tribe, deleted below
INSERT INTO _r(v) VALUES (drivetribe.post_article(105, 4, 10, 'cars by 4'));      -- member tribe
INSERT INTO _r(v) VALUES (drivetribe.post_article(106, 3, 11, 'bikes by 3'));     -- followed author, deleted below
-- distinct engagement: 100: 4 bumps (40); 102: 4 views; 103: 3 views; 105: 2 views; 104: 9 bumps
INSERT INTO _r(v) SELECT drivetribe.bump(100, u) FROM generate_series(2, 5) u ORDER BY u;
INSERT INTO _r(v) SELECT drivetribe.view_article(102) FROM generate_series(1, 4) ORDER BY 1;
INSERT INTO _r(v) SELECT drivetribe.view_article(103) FROM generate_series(1, 3) ORDER BY 1;
INSERT INTO _r(v) SELECT drivetribe.view_article(105) FROM generate_series(1, 2) ORDER BY 1;
INSERT INTO _r(v) SELECT drivetribe.bump(104, u) FROM generate_series(1, 6) u ORDER BY u;
INSERT INTO _r(v) VALUES (drivetribe.delete_article(104));
INSERT INTO _r(v) VALUES (drivetribe.delete_article(106));
-- renames show in feed rows
INSERT INTO _r(v) VALUES (drivetribe.rename_user(3, 'Carla'));
INSERT INTO _r(v) VALUES (drivetribe.rename_tribe(10, 'Motors'));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 41::bigint, 'setup accepted');
-- scores follow the counts once folded (the rank worker does it within
-- 2 s of a commit; in this test's own transaction: explicitly)
SELECT drivetribe.fold_stripes() AS folded \gset

CREATE TEMP TABLE _f AS SELECT f.ordinality AS o, f.* FROM drivetribe.feed(6) WITH ORDINALITY f;
SELECT results_eq('SELECT article_id::bigint FROM _f ORDER BY o',
  $$VALUES (100::bigint), (102), (103), (105)$$,
  'feed(6): member tribe or followed author, live, once each, by score');
SELECT results_eq('SELECT article_id::bigint FROM _f ORDER BY o',
  $$SELECT article_id::bigint FROM drivetribe.article_view
     WHERE tribe_id IN (SELECT tribe_id FROM drivetribe.memberships WHERE user_id = 6)
        OR author_id IN (SELECT followee_id FROM drivetribe.follows WHERE follower_id = 6)
     ORDER BY score DESC, article_id DESC$$, 'feed(6) equals its definition over article_view');
SELECT results_eq(
  $$SELECT article_id::bigint, tribe_id::bigint, tribe_name::text, author_id::bigint, author_name::text, title::text,
           posted_at, views::bigint, comments::bigint, bumps::bigint, score::float8 FROM _f ORDER BY o$$,
  $$SELECT article_id::bigint, tribe_id::bigint, tribe_name::text, author_id::bigint, author_name::text, title::text,
           posted_at, views::bigint, comments::bigint, bumps::bigint, score::float8
      FROM drivetribe.article_view WHERE article_id IN (100, 102, 103, 105) ORDER BY score DESC, article_id DESC$$,
  'feed rows are shaped like article_view (all SPEC columns equal)');
SELECT results_eq(
  'SELECT article_id::bigint, tribe_name::text, author_name::text FROM _f ORDER BY o',
  $$VALUES (100::bigint, 'Motors', 'user1'), (102, 'Boats', 'Carla'), (103, 'Motors', 'Carla'), (105, 'Motors', 'user4')$$,
  'feed rows carry the current names');
SELECT is(
  (SELECT count(*) FROM _f
    WHERE score IS DISTINCT FROM log10(greatest(10*bumps + 5*comments + views, 1)) + extract(epoch from posted_at) / 45000),
  0::bigint, 'feed scores equal SPEC''s formula exactly');

-- keyset pages
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.feed(6, 2)',
  $$VALUES (100::bigint), (102)$$, 'feed page 1 of 2');
SELECT results_eq(
  $$SELECT article_id::bigint FROM drivetribe.feed(6, 2, (SELECT score FROM _f WHERE article_id = 102), 102)$$,
  $$VALUES (103::bigint), (105)$$, 'feed page 2 after (score, id) of the last row');
SELECT is_empty(
  $$SELECT * FROM drivetribe.feed(6, 2, (SELECT score FROM _f WHERE article_id = 105), 105)$$,
  'feed page 3 is empty');
SELECT results_eq(
  $$SELECT article_id::bigint FROM drivetribe.feed(6, 20, (SELECT score FROM _f WHERE article_id = 103), 104)$$,
  $$VALUES (103::bigint), (105)$$,
  'cursor (score of 103, id 104): 103 has the same score and a smaller id, so it comes after');
SELECT results_eq(
  $$SELECT article_id::bigint FROM drivetribe.feed(6, 20, (SELECT score FROM _f WHERE article_id = 103), 103)$$,
  $$VALUES (105::bigint)$$, 'cursor on 103 itself: strictly after it');
SELECT results_eq(
  $$SELECT article_id::bigint FROM drivetribe.feed(6, 20, 1e9::float8, 1)$$,
  $$VALUES (100::bigint), (102), (103), (105)$$, 'cursor above every score: everything');
SELECT is_empty($$SELECT * FROM drivetribe.feed(6, 20, -1e9::float8, 1)$$, 'cursor below every score: nothing');
-- walking pages of 1 visits every row once, in order
CREATE TEMP TABLE _walk (o serial, article_id bigint);
DO $$
DECLARE s float8 := NULL; a bigint := NULL; p int := 0; r record;
BEGIN
  LOOP
    p := p + 1;
    SELECT f.score, f.article_id INTO r FROM drivetribe.feed(6, 1, s, a) f;
    EXIT WHEN NOT FOUND OR p > 20;
    INSERT INTO _walk(article_id) VALUES (r.article_id);
    s := r.score; a := r.article_id;
  END LOOP;
END $$;
SELECT results_eq('SELECT article_id FROM _walk ORDER BY o',
  $$VALUES (100::bigint), (102), (103), (105)$$, 'walking pages of 1 returns every row once, in order');
SELECT is_empty('SELECT * FROM drivetribe.feed(5)', 'a user with no tribes and no follows: empty feed');

-- tribe_feed
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.tribe_feed(10, 20)',
  $$VALUES (100::bigint), (103), (105)$$, 'tribe_feed(10): live articles of the tribe by score');
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.tribe_feed(10)',
  $$VALUES (100::bigint), (103), (105)$$, 'tribe_feed defaults');
SELECT results_eq(
  $$SELECT article_id::bigint FROM drivetribe.tribe_feed(10, 1, (SELECT score FROM _f WHERE article_id = 100), 100)$$,
  $$VALUES (103::bigint)$$, 'tribe_feed keyset page');
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.tribe_feed(12, 20)',
  $$VALUES (102::bigint)$$, 'tribe_feed(12)');
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.tribe_feed(11, 20)',
  $$VALUES (101::bigint)$$, 'tribe_feed(11): deleted 106 gone');
SELECT results_eq(
  $$SELECT article_id::bigint, tribe_name::text, author_name::text, score::float8 FROM drivetribe.tribe_feed(10, 20)$$,
  $$SELECT article_id::bigint, tribe_name::text, author_name::text, score::float8 FROM drivetribe.article_view
     WHERE tribe_id = 10 ORDER BY score DESC, article_id DESC$$,
  'tribe_feed rows equal article_view rows (names, score), in order');
-- issue 10: an unknown user or tribe is 23503, a bad page size 22004/22023
SELECT throws_ok('SELECT * FROM drivetribe.tribe_feed(424242)', '23503',
                 'tribe 424242 does not exist', 'tribe_feed of an unknown tribe: 23503');
SELECT throws_ok('SELECT * FROM drivetribe.feed(424242)', '23503',
                 'user 424242 does not exist', 'feed of an unknown user: 23503');
SELECT throws_ok('SELECT * FROM drivetribe.feed(4, NULL)', '22004', NULL, 'feed: NULL page size: 22004');
SELECT throws_ok('SELECT * FROM drivetribe.tribe_feed(10, 0)', '22023', NULL, 'tribe_feed: page size 0: 22023');

-- the feed follows membership and follows at once, engagement once folded
INSERT INTO _r(v) VALUES (drivetribe.leave_tribe(6, 10));
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.feed(6)',
  $$VALUES (102::bigint), (103)$$, 'after leaving tribe 10: only the followed author');
INSERT INTO _r(v) VALUES (drivetribe.unfollow_user(6, 3));
SELECT is_empty('SELECT * FROM drivetribe.feed(6)', 'after unfollowing too: empty');
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(6, 11));
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.feed(6)',
  $$VALUES (101::bigint)$$, 'after joining tribe 11: its live article');
INSERT INTO _r(v) SELECT drivetribe.view_article(105) FROM generate_series(1, 10) ORDER BY 1;
SELECT drivetribe.fold_stripes() AS folded \gset
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.tribe_feed(10)',
  $$VALUES (100::bigint), (105), (103)$$, 'more views move 105 above 103 once folded');
INSERT INTO _r(v) VALUES (drivetribe.delete_article(100));
SELECT results_eq('SELECT article_id::bigint FROM drivetribe.tribe_feed(10)',
  $$VALUES (105::bigint), (103)$$, 'a deleted article leaves the tribe feed at once');
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 55::bigint, 'changes accepted');

-- default page size 20, and each article once even with both reasons
INSERT INTO _r(v) SELECT drivetribe.post_article(200 + i, 5, 12, 'bulk ' || i) FROM generate_series(1, 22) i ORDER BY i;
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(4, 12));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(4, 5));
SELECT is((SELECT count(*) FROM drivetribe.tribe_feed(12)), 20::bigint, 'tribe_feed default page size is 20');
SELECT is((SELECT count(*) FROM drivetribe.feed(4)), 20::bigint, 'feed default page size is 20');
SELECT is((SELECT count(DISTINCT article_id) FROM drivetribe.feed(4, 100)),
          (SELECT count(*) FROM drivetribe.feed(4, 100)), 'feed rows are distinct');
SELECT is((SELECT count(*) FROM drivetribe.feed(4, 100)), 23::bigint,
          'feed(4): 22 bulk articles (tribe 12 and followed author, each once) + 102 (tribe 12)');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
