--
-- 60_bumps_views: bump, unbump, has_bumped, view_article; counters and score.
-- (Idioms: see 10_users.)
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- bump: event article_bumped (user_id = bumper, target_id and recipient_id
-- = the article's author, article_id, tribe_id).
SELECT * FROM dt_ev(drivetribe.bump(101, 1));
SELECT * FROM dt_ev(drivetribe.bump(101, 3));
-- an author may bump their own article (recipient: themselves)
SELECT * FROM dt_ev(drivetribe.bump(101, 2));
-- no-op: already bumped
SELECT * FROM dt_ev(drivetribe.bump(101, 1));
SELECT drivetribe.has_bumped(101, 1) AS b101_1, drivetribe.has_bumped(101, 3) AS b101_3,
       drivetribe.has_bumped(101, 4) AS b101_4, drivetribe.has_bumped(100, 1) AS b100_1;

-- unbump: event article_unbumped (target_id = author, no recipient).
SELECT * FROM dt_ev(drivetribe.unbump(101, 3));
SELECT drivetribe.has_bumped(101, 3) AS b101_3;
-- no-ops: not bumped any more; never bumped
SELECT * FROM dt_ev(drivetribe.unbump(101, 3));
SELECT * FROM dt_ev(drivetribe.unbump(100, 4));
-- bump again after unbump
SELECT * FROM dt_ev(drivetribe.bump(101, 3));
SELECT * FROM dt_ev(drivetribe.unbump(101, 3));

SELECT * FROM dt_ev(drivetribe.bump(100, 4));
SELECT * FROM dt_ev(drivetribe.bump(104, 4));
SELECT * FROM dt_ev(drivetribe.bump(104, 2));

-- view_article: event article_viewed (user_id = viewer or NULL for
-- anonymous, target_id = author, article_id, tribe_id).  Every call counts.
SELECT * FROM dt_ev(drivetribe.view_article(101));
SELECT * FROM dt_ev(drivetribe.view_article(101, 4));
SELECT * FROM dt_ev(drivetribe.view_article(101, 4));
SELECT * FROM dt_ev(drivetribe.view_article(100, NULL));
SELECT * FROM dt_ev(drivetribe.view_article(100, 2));
SELECT * FROM dt_ev(drivetribe.view_article(100, 3));
SELECT * FROM dt_ev(drivetribe.view_article(100, 1));
SELECT * FROM dt_ev(drivetribe.view_article(100));
SELECT article_id, views FROM drivetribe.article_view WHERE article_id IN (100, 101) ORDER BY article_id;

-- Errors of bump, unbump, view_article.
SELECT drivetribe.bump(NULL, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(101, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(0, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(101, -1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(999, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(101, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(105, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(NULL, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(101, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(-101, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(101, 0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(999, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(101, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unbump(105, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(NULL, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(101, 0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(101, -4);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(999);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(101, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(105);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(105, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: value before unknown before deleted
SELECT drivetribe.bump(999, 0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(105, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(105, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Deleting a bumped article: the bumps leave bumps_received at once,
-- bumps_given keeps counting them (docs/design.md), has_bumped is false,
-- and the article_deleted event records the bumps it took away.
SELECT * FROM dt_ev(drivetribe.post_article(108, 1, 10, 'Bumped, then deleted'));
SELECT * FROM dt_ev(drivetribe.bump(108, 4));
SELECT * FROM dt_ev(drivetribe.bump(108, 3));
SELECT * FROM dt_ev(drivetribe.view_article(108, 3));
SELECT user_id, bumps_given, bumps_received FROM drivetribe.user_stats WHERE user_id IN (1, 3, 4) ORDER BY user_id;
SELECT * FROM dt_ev(drivetribe.delete_article(108));
SELECT user_id, bumps_given, bumps_received FROM drivetribe.user_stats WHERE user_id IN (1, 3, 4) ORDER BY user_id;
SELECT drivetribe.has_bumped(108, 4) AS b108_4;
SELECT drivetribe.unbump(108, 4);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(108, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Counters and score of the live articles; engagement = 10*bumps + 5*comments + views.
-- Counts are exact at once; a score follows them when the stripes are
-- folded (by the rank worker within 2 s; this database has none: explicitly).
SELECT drivetribe.fold_stripes() > 0 AS folded;
SELECT article_id, views, comments, bumps, 10 * bumps + 5 * comments + views AS engagement,
       round((score - extract(epoch FROM posted_at)::float8 / 45000)::numeric, 6) AS score_log
FROM drivetribe.article_view ORDER BY article_id;
SELECT count(*) AS articles,
       count(*) FILTER (WHERE abs(score - (log10(greatest(10 * bumps + 5 * comments + views, 1))
                                           + extract(epoch FROM posted_at)::float8 / 45000)) < 1e-9)
         AS score_as_documented
FROM drivetribe.article_view;
SELECT * FROM drivetribe.user_stats ORDER BY user_id;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
