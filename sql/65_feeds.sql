--
-- 65_feeds: feed and tribe_feed: who sees what, order, pages.
-- Memberships: 10 = {1, 3}, 11 = {1, 2, 4}, 12 = {3}, 13 = {}, 14 = {}.
-- Follows: 4 -> 1, 2 -> 1, 1 -> 2, 5 -> 3.
-- Engagement: 101: 33, 100: 20, 104: 20 (posted after 100), 102: 15, 103: 10.
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- Two articles in one transaction with no engagement: equal scores when
-- posted_at is the transaction time; the tie goes to the higher id.
BEGIN;
SELECT drivetribe.post_article(110, 2, 11, 'Tie A') IS NOT NULL AS appended;
SELECT drivetribe.post_article(111, 2, 11, 'Tie B') IS NOT NULL AS appended;
COMMIT;
SELECT dt_mark() IS NOT NULL AS marked;

-- dave (4): member of 11, follows alice (1).  104 (alice, in 11) once.
SELECT article_id, tribe_id, author_id, title, views, comments, bumps,
       round((score - extract(epoch FROM posted_at)::float8 / 45000)::numeric, 6) AS score_log
FROM drivetribe.feed(4);
-- rows are article_view's rows, in score DESC, article_id DESC order
SELECT (SELECT array_agg(row_to_json(f)::text) FROM drivetribe.feed(4) f)
     = (SELECT array_agg(row_to_json(v)::text ORDER BY v.score DESC, v.article_id DESC)
        FROM drivetribe.article_view v WHERE v.article_id IN (100, 101, 104, 110, 111))
       AS feed_is_article_view_rows;
-- defaults are page_size 20 and no cursor
SELECT (SELECT array_agg(article_id) FROM drivetribe.feed(4))
     = (SELECT array_agg(article_id) FROM drivetribe.feed(4, 20, NULL, NULL)) AS same;

-- Pages of 2, each starting strictly after the last row of the previous one.
SELECT article_id FROM drivetribe.feed(4, 2);
SELECT score AS s, article_id AS a FROM drivetribe.feed(4, 2) OFFSET 1 \gset
SELECT article_id FROM drivetribe.feed(4, 2, :'s'::float8, :a);
SELECT score AS s, article_id AS a FROM drivetribe.feed(4, 2, :'s'::float8, :a) OFFSET 1 \gset
SELECT article_id FROM drivetribe.feed(4, 2, :'s'::float8, :a);
SELECT score AS s, article_id AS a FROM drivetribe.feed(4, 2, :'s'::float8, :a) \gset
SELECT count(*) AS rows FROM drivetribe.feed(4, 2, :'s'::float8, :a);
-- a page boundary inside the tie: after 111 comes 110
SELECT article_id FROM drivetribe.feed(4, 1, (SELECT score FROM drivetribe.article(111)), 111);

-- alice (1): tribes 10 and 11, follows bob (2): each article once.
SELECT article_id, author_id, tribe_id FROM drivetribe.feed(1);
-- carol (3): tribes 10 and 12, follows nobody; her own articles come via her tribes.
SELECT article_id, author_id, tribe_id FROM drivetribe.feed(3);
-- erin (5): no tribe, follows carol (3).
SELECT article_id, author_id, tribe_id FROM drivetribe.feed(5);
-- frank (6): no tribe, follows nobody.
SELECT count(*) AS rows FROM drivetribe.feed(6);

-- tribe_feed
SELECT article_id, author_id, title FROM drivetribe.tribe_feed(11, 20, NULL, NULL);
SELECT article_id FROM drivetribe.tribe_feed(12, 1, NULL, NULL);
SELECT score AS s, article_id AS a FROM drivetribe.tribe_feed(12, 1, NULL, NULL) \gset
SELECT article_id FROM drivetribe.tribe_feed(12, 1, :'s'::float8, :a);
SELECT score AS s, article_id AS a FROM drivetribe.tribe_feed(12, 1, :'s'::float8, :a) \gset
SELECT count(*) AS rows FROM drivetribe.tribe_feed(12, 1, :'s'::float8, :a);
SELECT article_id FROM drivetribe.tribe_feed(13, 20, NULL, NULL);
SELECT count(*) AS rows FROM drivetribe.tribe_feed(14, 20, NULL, NULL);
SELECT (SELECT array_agg(row_to_json(f)::text) FROM drivetribe.tribe_feed(11, 20, NULL, NULL) f)
     = (SELECT array_agg(row_to_json(v)::text ORDER BY v.score DESC, v.article_id DESC)
        FROM drivetribe.article_view v WHERE v.tribe_id = 11) AS tribe_feed_is_article_view_rows;

-- Feeds follow every event: engagement moves an article up once its score
-- follows its counts (the rank worker folds within 2 s; here explicitly) ...
SELECT * FROM dt_ev(drivetribe.bump(110, 1));
SELECT drivetribe.fold_stripes() > 0 AS folded;
SELECT article_id FROM drivetribe.tribe_feed(11, 20, NULL, NULL);
-- ... unfollow, leave, delete take articles out; follow, join put them back.
SELECT * FROM dt_ev(drivetribe.unfollow_user(4, 1));
SELECT article_id FROM drivetribe.feed(4);
SELECT * FROM dt_ev(drivetribe.leave_tribe(4, 11));
SELECT count(*) AS rows FROM drivetribe.feed(4);
SELECT * FROM dt_ev(drivetribe.follow_user(4, 1));
SELECT article_id FROM drivetribe.feed(4);
SELECT * FROM dt_ev(drivetribe.join_tribe(4, 11));
SELECT * FROM dt_ev(drivetribe.delete_article(111));
SELECT article_id FROM drivetribe.feed(4);
SELECT article_id FROM drivetribe.tribe_feed(11, 20, NULL, NULL);
-- read-your-writes inside a transaction
BEGIN;
SELECT drivetribe.delete_article(110) IS NOT NULL AS appended;
SELECT article_id FROM drivetribe.feed(4);
ROLLBACK;
SELECT article_id FROM drivetribe.feed(4);

SELECT * FROM drivetribe.verify();
