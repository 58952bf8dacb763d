--
-- 50_comments: post_comment, delete_comment, article_comments.
-- (Idioms: see 10_users.)
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- post_comment: event comment_posted (user_id = commenter, target_id and
-- recipient_id = the article's author, comment_id, article_id, tribe_id,
-- body = the comment).
SELECT * FROM dt_ev(drivetribe.post_comment(1000, 101, 1, 'Great build!'));
SELECT * FROM dt_ev(drivetribe.post_comment(1001, 101, 3, 'Which engine?'));
-- the author comments on their own article
SELECT * FROM dt_ev(drivetribe.post_comment(1002, 101, 2, 'Thanks!'));
SELECT * FROM dt_ev(drivetribe.post_comment(1003, 100, 4, 'Nice'));
-- exactly 10000 characters (30000 bytes); one character
SELECT * FROM dt_ev(drivetribe.post_comment(1004, 102, 5, repeat(chr(20320), 10000)));
SELECT * FROM dt_ev(drivetribe.post_comment(1007, 102, 6, '!'));
-- comments stored as given, multi-line
SELECT * FROM dt_ev(drivetribe.post_comment(1008, 102, 1, E'  line one\nline two  '));

-- article_comments: live comments, oldest first, with the author's name.
SELECT comment_id, author_id, author_name, body, posted_at IS NOT NULL AS has_time
FROM drivetribe.article_comments(101);
SELECT comment_id, author_id, left(body, 5) AS body, length(body) AS chars
FROM drivetribe.article_comments(102);
-- pages of 2: the next page starts strictly after the given comment
SELECT comment_id FROM drivetribe.article_comments(101, 2);
SELECT comment_id FROM drivetribe.article_comments(101, 2, 1001);
SELECT comment_id FROM drivetribe.article_comments(101, 2, 1002);
-- page_size outside 1..1000 or NULL: rejected (1.7; 1.6 gave no rows for
-- 0); every argument error: 51_article_comments
SELECT count(*) FROM drivetribe.article_comments(101, 0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(101, -1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT count(*) FROM drivetribe.article_comments(101, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- no comments: no rows; an unknown article: 23503 (1.7; 1.6 gave no rows)
SELECT count(*) AS rows FROM drivetribe.article_comments(104);
SELECT count(*) AS rows FROM drivetribe.article_comments(999);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Oldest first when ids do not follow time: 1005 is posted before 995.
SELECT * FROM dt_ev(drivetribe.post_comment(1005, 103, 1, 'first'));
SELECT * FROM dt_ev(drivetribe.post_comment(995, 103, 2, 'second, lower id'));
SELECT comment_id, body FROM drivetribe.article_comments(103);
SELECT comment_id, body FROM drivetribe.article_comments(103, 1);
SELECT comment_id, body FROM drivetribe.article_comments(103, 1, 1005);

-- Counts: article_view.comments and user_stats.comments.
SELECT article_id, comments FROM drivetribe.article_view ORDER BY article_id;
SELECT user_id, comments FROM drivetribe.user_stats ORDER BY user_id;

-- Errors of post_comment.
SELECT drivetribe.post_comment(NULL, 101, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, NULL, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, NULL, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 1, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(0, 101, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, -101, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 0, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 1, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 1, E'\n  \n\t');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 1, repeat('b', 10001));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 1, repeat(chr(20320), 10001));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 999, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 101, 99, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1000, 101, 1, 'Great build!');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1000, 100, 3, 'another article');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1010, 105, 1, 'on a deleted article');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: value, unknown, taken, deleted
SELECT drivetribe.post_comment(1000, 999, 1, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1000, 999, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(1000, 105, 1, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- delete_comment: event comment_deleted (user_id = commenter, target_id =
-- article author, no recipient, comment_id, article_id, tribe_id).
SELECT * FROM dt_ev(drivetribe.delete_comment(1001));
SELECT comment_id FROM drivetribe.article_comments(101);
SELECT article_id, comments FROM drivetribe.article_view WHERE article_id = 101;
SELECT user_id, comments FROM drivetribe.user_stats WHERE user_id = 3;
-- no-op: already deleted
SELECT * FROM dt_ev(drivetribe.delete_comment(1001));
-- a deleted comment keeps its id
SELECT drivetribe.post_comment(1001, 101, 3, 'Which engine?');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- Errors of delete_comment.
SELECT drivetribe.delete_comment(NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_comment(0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_comment(-1000);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_comment(9999);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Comments of an article that gets deleted: article_comments shows none,
-- the comment stays counted in the commenter's user_stats (docs/design.md),
-- no more comments can be posted, and the comment can still be deleted.
SELECT * FROM dt_ev(drivetribe.post_comment(1006, 107, 3, 'Goodbye'));
SELECT user_id, comments FROM drivetribe.user_stats WHERE user_id = 3;
SELECT * FROM dt_ev(drivetribe.delete_article(107));
SELECT count(*) AS rows FROM drivetribe.article_comments(107);
SELECT user_id, comments FROM drivetribe.user_stats WHERE user_id = 3;
SELECT drivetribe.post_comment(1011, 107, 3, 'Hello?');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT * FROM dt_ev(drivetribe.delete_comment(1006));
SELECT user_id, comments FROM drivetribe.user_stats WHERE user_id = 3;

SELECT article_id, comments FROM drivetribe.article_view ORDER BY article_id;
SELECT user_id, articles, comments FROM drivetribe.user_stats ORDER BY user_id;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
