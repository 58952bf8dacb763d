--
-- 70_idempotency: event_id.  The same event_id with the same arguments
-- returns the first call's seq and changes nothing (whatever happened in
-- between); with other arguments (or another function) it is 23505.
-- (Idioms: see 10_users.)
--
\pset null NULL
-- Terse errors in this file: the DETAIL of a reused event_id names the
-- first event's seq, which depends on every test before this one.
\set VERBOSITY terse
\set u1  'a0000000-0000-4000-8000-000000000001'
\set u2  'a0000000-0000-4000-8000-000000000002'
\set u3  'a0000000-0000-4000-8000-000000000003'
\set u4  'a0000000-0000-4000-8000-000000000004'
\set u5  'a0000000-0000-4000-8000-000000000005'
\set u6  'a0000000-0000-4000-8000-000000000006'
\set u7  'a0000000-0000-4000-8000-000000000007'
\set u8  'a0000000-0000-4000-8000-000000000008'
\set u9  'a0000000-0000-4000-8000-000000000009'
\set u10 'a0000000-0000-4000-8000-000000000010'
\set u11 'a0000000-0000-4000-8000-000000000011'
\set u12 'a0000000-0000-4000-8000-000000000012'
\set u13 'a0000000-0000-4000-8000-000000000013'
\set u14 'a0000000-0000-4000-8000-000000000014'
\set u15 'a0000000-0000-4000-8000-000000000015'
\set u16 'a0000000-0000-4000-8000-000000000016'
\set u17 'a0000000-0000-4000-8000-000000000017'
\set u18 'a0000000-0000-4000-8000-000000000018'
\set u19 'a0000000-0000-4000-8000-000000000019'
\set u20 'a0000000-0000-4000-8000-000000000020'
SELECT dt_mark() IS NOT NULL AS marked;

-- register_user
SELECT drivetribe.register_user(20, 'ida', event_id => :'u1') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT event_id = :'u1' AS event_id_stored FROM drivetribe.events WHERE seq = :first;
SELECT drivetribe.register_user(20, 'ida', event_id => :'u1') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(20, 'ida2', event_id => :'u1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(21, 'ida', event_id => :'u1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: a bad value is reported before the event_id replay
SELECT drivetribe.register_user(20, '', event_id => :'u1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- after the user changed, a retry still returns the first seq (not "id taken")
SELECT * FROM dt_ev(drivetribe.rename_user(20, 'Ida'));
SELECT drivetribe.register_user(20, 'ida', event_id => :'u1') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT name FROM drivetribe.user_stats WHERE user_id = 20;

-- rename_user
SELECT drivetribe.rename_user(20, 'Ida B', event_id => :'u2') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.rename_user(20, 'Ida B', event_id => :'u2') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(20, 'Ida C', event_id => :'u2');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- same event_id, same argument values, another function
SELECT drivetribe.register_user(20, 'Ida B', event_id => :'u2');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- create_tribe, rename_tribe
SELECT * FROM dt_ev(drivetribe.register_user(21, 'jo'));
SELECT drivetribe.create_tribe(20, 20, 'Idempotent', event_id => :'u3') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.create_tribe(20, 20, 'Idempotent', event_id => :'u3') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 20, 'Other', event_id => :'u3');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(21, 20, 'Idempotent', event_id => :'u3');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 21, 'Idempotent', event_id => :'u3');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(20, 'Idem 2', event_id => :'u4') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.rename_tribe(20, 'Idem 2', event_id => :'u4') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(20, 'Idem 3', event_id => :'u4');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- join_tribe: a retry returns the first seq although the call is now a no-op.
SELECT drivetribe.join_tribe(21, 20, event_id => :'u5') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.join_tribe(21, 20, event_id => :'u5') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
-- the same ids for leave_tribe are other arguments
SELECT drivetribe.leave_tribe(21, 20, event_id => :'u5');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.join_tribe(20, 20, event_id => :'u5');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- a no-op call appends nothing, so its event_id is not recorded
SELECT * FROM dt_ev(drivetribe.join_tribe(21, 20, event_id => :'u6'));
SELECT count(*) AS recorded FROM drivetribe.events WHERE event_id = :'u6';
SELECT * FROM dt_ev(drivetribe.join_tribe(21, 20, event_id => :'u6'));
-- leave_tribe
SELECT drivetribe.leave_tribe(21, 20, event_id => :'u7') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.leave_tribe(21, 20, event_id => :'u7') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT tribe_id, members FROM drivetribe.tribe_stats WHERE tribe_id = 20;

-- follow_user, unfollow_user
SELECT drivetribe.follow_user(21, 20, event_id => :'u8') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.follow_user(21, 20, event_id => :'u8') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(21, 20, event_id => :'u8');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(20, 21, event_id => :'u8');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(21, 20, event_id => :'u9') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.unfollow_user(21, 20, event_id => :'u9') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT user_id, followers, following FROM drivetribe.user_stats WHERE user_id IN (20, 21) ORDER BY user_id;

-- post_article, edit_article
SELECT drivetribe.post_article(200, 20, 20, 'Idem article', event_id => :'u10') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.post_article(200, 20, 20, 'Idem article', event_id => :'u10') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(200, 20, 20, 'Other title', event_id => :'u10');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_article(200, 21, 20, 'Idem article', event_id => :'u10');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(200, 'Idem edited', event_id => :'u11') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.edit_article(200, 'Idem edited', event_id => :'u11') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.edit_article(200, 'Idem edited twice', event_id => :'u11');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- view_article counts every call, but not a retry.
SELECT drivetribe.view_article(200, 21, event_id => :'u12') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.view_article(200, 21, event_id => :'u12') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT views FROM drivetribe.article(200);
SELECT drivetribe.view_article(200, NULL, event_id => :'u12');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(200, 20, event_id => :'u12');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- anonymous: viewer omitted and viewer NULL are the same arguments
SELECT drivetribe.view_article(200, event_id => :'u13') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.view_article(200, NULL, event_id => :'u13') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT views FROM drivetribe.article(200);
-- without event_id every call counts
SELECT * FROM dt_ev(drivetribe.view_article(200, 21));
SELECT views FROM drivetribe.article(200);

-- bump: a retry after unbump returns the first seq and does not bump again.
SELECT drivetribe.bump(200, 21, event_id => :'u14') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.bump(200, 21, event_id => :'u14') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT * FROM dt_ev(drivetribe.unbump(200, 21));
SELECT drivetribe.bump(200, 21, event_id => :'u14') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.has_bumped(200, 21) AS bumped;
SELECT drivetribe.unbump(200, 21, event_id => :'u14');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- unbump
SELECT * FROM dt_ev(drivetribe.bump(200, 20));
SELECT drivetribe.unbump(200, 20, event_id => :'u15') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.unbump(200, 20, event_id => :'u15') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;

-- post_comment, delete_comment
SELECT drivetribe.post_comment(2000, 200, 21, 'idem', event_id => :'u16') AS first_comment \gset
SELECT * FROM dt_ev(:first_comment);
SELECT drivetribe.post_comment(2000, 200, 21, 'idem', event_id => :'u16') AS again \gset
SELECT :again = :first_comment AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(2000, 200, 21, 'idem!', event_id => :'u16');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(2001, 200, 21, 'idem', event_id => :'u16');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.delete_comment(2000, event_id => :'u17') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.delete_comment(2000, event_id => :'u17') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
-- without event_id: already deleted, a no-op
SELECT * FROM dt_ev(drivetribe.delete_comment(2000));
-- the comment is deleted: a retry of its post still returns the first seq
SELECT drivetribe.post_comment(2000, 200, 21, 'idem', event_id => :'u16') AS again \gset
SELECT :again = :first_comment AS same_seq, dt_unchanged() AS unchanged;

-- delete_article; then retries of calls on the (now deleted) article
-- return their first seq instead of 55000 (replay is checked first).
SELECT drivetribe.delete_article(200, event_id => :'u18') AS first \gset
SELECT * FROM dt_ev(:first);
SELECT drivetribe.delete_article(200, event_id => :'u18') AS again \gset
SELECT :again = :first AS same_seq, dt_unchanged() AS unchanged;
SELECT drivetribe.post_comment(2000, 200, 21, 'idem', event_id => :'u16') AS again \gset
SELECT :again = :first_comment AS same_seq, dt_unchanged() AS unchanged;
SELECT (drivetribe.view_article(200, 21, event_id => :'u12') IS NOT NULL) AS returned_seq,
       dt_unchanged() AS unchanged;
SELECT (drivetribe.bump(200, 21, event_id => :'u14') IS NOT NULL) AS returned_seq,
       dt_unchanged() AS unchanged;
-- ... while a new call is rejected
SELECT drivetribe.view_article(200, 21);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Retry inside the same transaction.
BEGIN;
SELECT drivetribe.register_user(22, 'kim', event_id => :'u19') AS first \gset
SELECT drivetribe.register_user(22, 'kim', event_id => :'u19') AS again \gset
SELECT :again = :first AS same_seq;
COMMIT;
SELECT count(*) AS recorded FROM drivetribe.events WHERE event_id = :'u19';
SELECT dt_mark() IS NOT NULL AS marked;

-- An explicit NULL event_id is generated, like the default.
SELECT * FROM dt_ev(drivetribe.register_user(23, 'lee', event_id => NULL));
SELECT event_id IS NOT NULL AS generated FROM drivetribe.events WHERE user_id = 23;

-- A rejected call does not record its event_id.
SELECT drivetribe.register_user(1, 'dup', event_id => :'u20');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT * FROM dt_ev(drivetribe.register_user(24, 'moe', event_id => :'u20'));

SELECT count(*) AS events, count(DISTINCT event_id) AS distinct_event_ids,
       count(event_id) AS non_null_event_ids
FROM drivetribe.events;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
