--
-- 40_articles: post_article, edit_article, delete_article; article_view,
-- article(); renames show at once in every read.
-- (Idioms: see 10_users.)  score is printed without its time part:
-- score_log = score - epoch(posted_at) / 45000 = log10(greatest(engagement, 1)).
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- post_article: event article_posted (user_id = author, article_id,
-- tribe_id, body = title).  The author need not be a member of the tribe.
SELECT * FROM dt_ev(drivetribe.post_article(100, 1, 10, 'Hello supercars'));
SELECT * FROM dt_ev(drivetribe.post_article(101, 2, 11, 'Restoring a 1967 Mustang'));
SELECT * FROM dt_ev(drivetribe.post_article(102, 3, 12, 'Mud season'));
SELECT * FROM dt_ev(drivetribe.post_article(103, 4, 12, 'Winch tips'));
SELECT * FROM dt_ev(drivetribe.post_article(104, 1, 11, 'Alice among the classics'));
SELECT * FROM dt_ev(drivetribe.post_article(105, 3, 10, 'To be deleted'));
-- exactly 300 characters (900 bytes); one character
SELECT * FROM dt_ev(drivetribe.post_article(106, 5, 13, repeat(chr(12354), 300)));
SELECT * FROM dt_ev(drivetribe.post_article(107, 2, 11, '?'));

SELECT article_id, tribe_id, left(tribe_name, 20) AS tribe_name, author_id, left(author_name, 10) AS author_name,
       left(title, 30) AS title, length(title) AS title_chars, views, comments, bumps,
       round((score - extract(epoch FROM posted_at)::float8 / 45000)::numeric, 6) AS score_log
FROM drivetribe.article_view ORDER BY article_id;

-- article(id): that row, or no row.
SELECT article_id, tribe_name, author_name, title, views, comments, bumps
FROM drivetribe.article(101);
SELECT count(*) AS rows FROM drivetribe.article(999);
SELECT (SELECT row_to_json(a)::text FROM drivetribe.article(104) a)
     = (SELECT row_to_json(v)::text FROM drivetribe.article_view v WHERE article_id = 104)
       AS article_equals_article_view;

-- Errors of post_article.
SELECT drivetribe.post_article(NULL, 1, 10, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, NULL, 10, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, NULL, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 10, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(0, 1, 10, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, -1, 10, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 0, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 10, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 10, E' \t ');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 10, repeat('t', 301));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 10, repeat(chr(12354), 301));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 99, 10, 'Ghost writer');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(110, 1, 99, 'Nowhere');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(100, 2, 11, 'Taken');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(100, 1, 10, 'Hello supercars');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: value, then unknown ids, then taken id
SELECT drivetribe.post_article(100, 99, 10, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(100, 99, 10, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- edit_article: event article_edited (user_id = author, article_id,
-- tribe_id, body = new title).
SELECT * FROM dt_ev(drivetribe.edit_article(101, 'Restoring a 1967 Mustang fastback'));
SELECT article_id, title FROM drivetribe.article_view WHERE article_id = 101;
-- no-op: same title
SELECT * FROM dt_ev(drivetribe.edit_article(101, 'Restoring a 1967 Mustang fastback'));
SELECT * FROM dt_ev(drivetribe.edit_article(106, repeat(chr(12354), 300)));
-- Errors of edit_article.
SELECT drivetribe.edit_article(NULL, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(101, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(0, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(101, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(101, '  ');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(101, repeat('t', 301));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(999, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Renames show at once in article_view (author_name, tribe_name).
SELECT * FROM dt_ev(drivetribe.rename_user(1, 'Alice'));
SELECT * FROM dt_ev(drivetribe.rename_tribe(12, 'Off-road & Overland'));
SELECT article_id, tribe_name, author_name FROM drivetribe.article_view
WHERE article_id IN (100, 102, 103, 104) ORDER BY article_id;
-- ... in the same transaction too
BEGIN;
SELECT drivetribe.rename_user(4, 'Dave') IS NOT NULL AS appended;
SELECT author_name FROM drivetribe.article(103);
ROLLBACK;
SELECT author_name FROM drivetribe.article(103);

-- delete_article: event article_deleted (user_id = author, article_id,
-- tribe_id); the article is gone from every read.
SELECT * FROM dt_ev(drivetribe.delete_article(105));
SELECT count(*) AS rows FROM drivetribe.article_view WHERE article_id = 105;
SELECT count(*) AS rows FROM drivetribe.article(105);
-- no-op: already deleted
SELECT * FROM dt_ev(drivetribe.delete_article(105));
-- Errors of delete_article.
SELECT drivetribe.delete_article(NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_article(0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_article(-105);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_article(999);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- A deleted article keeps its id: posting it again is 23505; editing is 55000.
SELECT drivetribe.post_article(105, 3, 10, 'To be deleted');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(105, 'Back from the dead');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: a bad value is reported before the deleted state
SELECT drivetribe.edit_article(105, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Live articles: 100, 101, 102, 103, 104, 106, 107.
SELECT article_id, tribe_id, left(tribe_name, 20) AS tribe_name, author_id, left(author_name, 10) AS author_name,
       left(title, 30) AS title, views, comments, bumps
FROM drivetribe.article_view ORDER BY article_id;
SELECT tribe_id, left(name, 20) AS name, members, articles FROM drivetribe.tribe_stats ORDER BY tribe_id;
SELECT user_id, left(name, 10) AS name, articles FROM drivetribe.user_stats ORDER BY user_id;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
