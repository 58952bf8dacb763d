--
-- 30_follows: follow_user, unfollow_user.
-- (Idioms: see 10_users.)
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- follow_user: event user_followed (user_id = follower, target_id and
-- recipient_id = followee).
SELECT * FROM dt_ev(drivetribe.follow_user(4, 1));
SELECT * FROM dt_ev(drivetribe.follow_user(2, 1));
SELECT * FROM dt_ev(drivetribe.follow_user(1, 2));
SELECT * FROM dt_ev(drivetribe.follow_user(5, 3));
SELECT * FROM dt_ev(drivetribe.follow_user(6, 3));
-- no-op: already following
SELECT * FROM dt_ev(drivetribe.follow_user(4, 1));

-- unfollow_user: event user_unfollowed (target_id = followee, no recipient).
SELECT * FROM dt_ev(drivetribe.unfollow_user(6, 3));
-- no-ops: not following any more; never followed; the reverse direction
SELECT * FROM dt_ev(drivetribe.unfollow_user(6, 3));
SELECT * FROM dt_ev(drivetribe.unfollow_user(6, 1));
SELECT * FROM dt_ev(drivetribe.unfollow_user(3, 5));
-- follow again after unfollow
SELECT * FROM dt_ev(drivetribe.follow_user(6, 3));
SELECT * FROM dt_ev(drivetribe.unfollow_user(6, 3));

-- Errors.
SELECT drivetribe.follow_user(NULL, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(4, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(0, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(4, -1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(1, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(99, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(1, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: self-follow (a value error) before unknown user
SELECT drivetribe.follow_user(99, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(NULL, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(4, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(-4, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(4, 0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(1, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(99, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(1, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Follows: 4 -> 1, 2 -> 1, 1 -> 2, 5 -> 3.
SELECT user_id, followers, following FROM drivetribe.user_stats ORDER BY user_id;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
