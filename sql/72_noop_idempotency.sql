--
-- 72_noop_idempotency: issue 8, items 5b and 7.
-- 5b: a call that changed nothing (NULL) with event_id E is remembered
-- (drivetribe.noop_calls): its retry returns NULL and changes nothing, even
-- after a newer state change that would make the same call act now (1.0
-- appended the old intention after the newer one); E with other arguments
-- is 23505.  Keys are kept for drivetribe.idempotency_retention and pruned
-- by drivetribe.prune_noop_calls(); after that E may serve a new call.
-- 7: has_bumped() is NULL for a NULL argument; a huge blank value is
-- clipped in the error message; verify()'s timestamp detail shows both
-- values.
-- (Idioms: see 10_users.  Fresh ids 720..729 so that nothing earlier or
-- later depends on them.)
--
\pset null NULL
\set e1 'c7200000-0000-4000-8000-000000000001'
\set e2 'c7200000-0000-4000-8000-000000000002'
\set e3 'c7200000-0000-4000-8000-000000000003'
\set e4 'c7200000-0000-4000-8000-000000000004'
\set e5 'c7200000-0000-4000-8000-000000000005'
\set e6 'c7200000-0000-4000-8000-000000000006'
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.register_user(720, 'nora'));
SELECT * FROM dt_ev(drivetribe.register_user(721, 'otto'));
SELECT * FROM dt_ev(drivetribe.create_tribe(720, 720, 'Noop tribe'));
SELECT * FROM dt_ev(drivetribe.post_article(7200, 720, 720, 'Noop article'));

-- unbump (the issue's case): a no-op with E1 (unchanged is false: its
-- key is now in drivetribe.noop_calls) ...
SELECT * FROM dt_ev(drivetribe.unbump(7200, 721, event_id => :'e1'));
SELECT event_id = :'e1' AS e1, kind, user_id, article_id FROM drivetribe.noop_calls
WHERE event_id::text LIKE 'c72%' ORDER BY event_id;
SELECT dt_mark() IS NOT NULL AS marked;
-- ... its retry returns NULL and changes nothing ...
SELECT * FROM dt_ev(drivetribe.unbump(7200, 721, event_id => :'e1'));
-- ... then the same user bumps ...
SELECT * FROM dt_ev(drivetribe.bump(7200, 721));
-- ... and the retry of the old unbump still returns NULL: the bump stays.
SELECT * FROM dt_ev(drivetribe.unbump(7200, 721, event_id => :'e1'));
SELECT drivetribe.has_bumped(7200, 721) AS bumped;
SELECT bumps FROM drivetribe.article(7200);
SELECT bumps_given FROM drivetribe.user_stats WHERE user_id = 721;
-- E1 with other arguments, or for another function: 23505 naming E1.
SELECT drivetribe.unbump(7200, 720, event_id => :'e1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(7200, 721, event_id => :'e1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(7200, 720, event_id => :'e1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- a bad value is still reported before the event_id (design: check order)
SELECT drivetribe.unbump(7200, -1, event_id => :'e1');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- join_tribe: the owner is a member already (no-op), leaves, and the
-- retry does not make them join again.
SELECT * FROM dt_ev(drivetribe.join_tribe(720, 720, event_id => :'e2'));
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.leave_tribe(720, 720));
SELECT * FROM dt_ev(drivetribe.join_tribe(720, 720, event_id => :'e2'));
SELECT members FROM drivetribe.tribe_stats WHERE tribe_id = 720;
SELECT drivetribe.join_tribe(721, 720, event_id => :'e2');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(720, 720, event_id => :'e2');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- follow_user: already following (no-op), unfollows, the retry does not
-- follow again.
SELECT * FROM dt_ev(drivetribe.follow_user(721, 720));
SELECT * FROM dt_ev(drivetribe.follow_user(721, 720, event_id => :'e3'));
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.unfollow_user(721, 720));
SELECT * FROM dt_ev(drivetribe.follow_user(721, 720, event_id => :'e3'));
SELECT user_id, followers, following FROM drivetribe.user_stats
WHERE user_id IN (720, 721) ORDER BY user_id;
SELECT drivetribe.follow_user(720, 721, event_id => :'e3');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.unfollow_user(721, 720, event_id => :'e3');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- rename_user to the current name (no-op), a real rename, the retry
-- does not rename back.
SELECT * FROM dt_ev(drivetribe.rename_user(720, 'nora', event_id => :'e4'));
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.rename_user(720, 'Nora'));
SELECT * FROM dt_ev(drivetribe.rename_user(720, 'nora', event_id => :'e4'));
SELECT name FROM drivetribe.user_stats WHERE user_id = 720;
SELECT drivetribe.rename_user(720, 'Nora', event_id => :'e4');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(721, 'nora', event_id => :'e4');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- a no-op retried inside the transaction that made it
BEGIN;
SELECT * FROM dt_ev(drivetribe.delete_comment(2000, event_id => :'e5'));
SELECT * FROM dt_ev(drivetribe.delete_comment(2000, event_id => :'e5'));
COMMIT;

-- A call that appended an event is remembered by the log, not here.
SELECT drivetribe.unbump(7200, 721, event_id => :'e6') IS NOT NULL AS appended;
SELECT dt_mark() IS NOT NULL AS marked;
SELECT drivetribe.unbump(7200, 721, event_id => :'e6') IS NOT NULL AS same_seq_again,
       dt_unchanged() AS unchanged;
SELECT count(*) AS e6_in_noop_calls FROM drivetribe.noop_calls WHERE event_id = :'e6';

-- The keys of the no-op calls.
SELECT event_id, kind, user_id, tribe_id, article_id, comment_id, target_id, body,
       called_at > now() - interval '1 hour' AS recent
FROM drivetribe.noop_calls WHERE event_id::text LIKE 'c72%' ORDER BY event_id;

-- Pruning: recent keys stay ...
SELECT dt_mark() IS NOT NULL AS marked;
SHOW drivetribe.idempotency_retention;
SELECT drivetribe.prune_noop_calls() AS pruned;
SELECT dt_unchanged() AS unchanged;
-- ... keys older than the retention go.
UPDATE drivetribe.noop_calls SET called_at = now() - interval '2 days'
WHERE event_id::text LIKE 'c72%';
SET drivetribe.idempotency_retention = '3d';
SELECT drivetribe.prune_noop_calls() AS pruned_with_3_days;
RESET drivetribe.idempotency_retention;
SELECT drivetribe.prune_noop_calls() AS pruned;
SELECT count(*) AS keys_left FROM drivetribe.noop_calls WHERE event_id::text LIKE 'c72%';
-- the retention is at least a minute
SET drivetribe.idempotency_retention = 59;
SELECT :'SQLSTATE' AS sqlstate;
-- After the retention, E1 may be used for a new call.
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.bump(7200, 720, event_id => :'e1'));
SELECT event_id = :'e1' AS e1 FROM drivetribe.events WHERE seq = (SELECT max(seq) FROM drivetribe.events);

-- Item 7: has_bumped() of NULL is NULL (1.0: false).
SELECT drivetribe.has_bumped(NULL, 721) IS NULL AS null_article,
       drivetribe.has_bumped(7200, NULL) IS NULL AS null_user,
       drivetribe.has_bumped(NULL, NULL) IS NULL AS both_null,
       drivetribe.has_bumped(7200, 720) AS bumped,
       drivetribe.has_bumped(7200, 721) AS not_bumped;

-- Item 7: a 1 MB blank value is rejected (22023) with the value clipped
-- to 40 characters in the message, as a too-long one is.
SELECT dt_mark() IS NOT NULL AS marked;
DO $$
DECLARE
  calls text[] := ARRAY[
    $c$SELECT drivetribe.register_user(729, repeat(' ', 1000000))$c$,
    $c$SELECT drivetribe.rename_user(720, repeat(' ', 1000000))$c$,
    $c$SELECT drivetribe.rename_tribe(720, repeat(E'\t', 1000000))$c$,
    $c$SELECT drivetribe.edit_article(7200, repeat(chr(12288), 1000000))$c$,
    $c$SELECT drivetribe.post_comment(7209, 7200, 721, repeat(chr(160), 1000000))$c$,
    $c$SELECT drivetribe.register_user(729, repeat('x', 1000000))$c$];
  c text;
BEGIN
  FOREACH c IN ARRAY calls LOOP
    BEGIN
      EXECUTE c;
      RAISE NOTICE 'accepted: %', left(c, 60);
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '% %: message of % characters, short: %',
        SQLSTATE, substring(c FROM 'drivetribe\.[a-z_]+'), length(SQLERRM), length(SQLERRM) < 200;
    END;
  END LOOP;
END
$$;
SELECT dt_unchanged() AS unchanged;
-- the message itself (40 spaces, then "...")
SELECT drivetribe.register_user(729, repeat(' ', 1000000));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Item 7: verify()'s detail of a timestamp that differs shows the live
-- and the replayed value, which differ (1.0 printed the live one twice).
BEGIN;
UPDATE drivetribe.users SET registered_at = registered_at - interval '1 day' WHERE user_id = 720;
SELECT projection, key,
       m[1] <> m[2] AS values_differ,
       m[1]::timestamptz = (SELECT registered_at FROM drivetribe.users WHERE user_id = 720) AS live_is_the_row,
       m[2]::timestamptz - m[1]::timestamptz AS replayed_minus_live
FROM drivetribe.verify(),
     LATERAL regexp_match(detail, '^registered_at: live (.+), replayed (.+)$') AS m;
ROLLBACK;
BEGIN;
UPDATE drivetribe.articles SET posted_at = posted_at + interval '90 minutes' WHERE article_id = 7200;
SELECT projection, key, m[1] <> m[2] AS values_differ,
       m[1]::timestamptz - m[2]::timestamptz AS live_minus_replayed
FROM drivetribe.verify(),
     LATERAL regexp_match(detail, 'posted_at: live ([^,;]+), replayed ([^,;]+)') AS m;
ROLLBACK;

SELECT * FROM drivetribe.verify();
