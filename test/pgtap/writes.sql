-- Write API return values (SPEC "Write API"): every accepted write returns a
-- positive seq that grows and appends exactly one event of the right kind;
-- a call that would change nothing returns NULL and appends nothing; a call
-- repeated with the same event_id and arguments returns the first seq and
-- changes nothing; the same event_id with other arguments is 23505.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(55);

CREATE TEMP TABLE _w (n serial PRIMARY KEY, k text UNIQUE, kind text, v bigint);
CREATE FUNCTION pg_temp.w(text) RETURNS bigint LANGUAGE sql AS 'SELECT v FROM _w WHERE k = $1';
CREATE FUNCTION pg_temp.nev() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM drivetribe.events';

-- one accepted call of every write function, in this order
INSERT INTO _w(k, kind, v) VALUES ('reg1',   'user_registered',  drivetribe.register_user(1, 'alice'));
INSERT INTO _w(k, kind, v) VALUES ('reg2',   'user_registered',  drivetribe.register_user(2, 'bob'));
INSERT INTO _w(k, kind, v) VALUES ('reg3',   'user_registered',  drivetribe.register_user(3, 'carol'));
INSERT INTO _w(k, kind, v) VALUES ('ren',    'user_renamed',     drivetribe.rename_user(1, 'alicia'));
INSERT INTO _w(k, kind, v) VALUES ('tribe',  'tribe_created',    drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _w(k, kind, v) VALUES ('rtribe', 'tribe_renamed',    drivetribe.rename_tribe(10, 'Motors'));
INSERT INTO _w(k, kind, v) VALUES ('join',   'tribe_joined',     drivetribe.join_tribe(2, 10));
INSERT INTO _w(k, kind, v) VALUES ('leave',  'tribe_left',       drivetribe.leave_tribe(2, 10));
INSERT INTO _w(k, kind, v) VALUES ('follow', 'user_followed',    drivetribe.follow_user(2, 1));
INSERT INTO _w(k, kind, v) VALUES ('unfol',  'user_unfollowed',  drivetribe.unfollow_user(2, 1));
INSERT INTO _w(k, kind, v) VALUES ('post',   'article_posted',   drivetribe.post_article(100, 1, 10, 'Hello'));
INSERT INTO _w(k, kind, v) VALUES ('edit',   'article_edited',   drivetribe.edit_article(100, 'Hello again'));
INSERT INTO _w(k, kind, v) VALUES ('view1',  'article_viewed',   drivetribe.view_article(100));
INSERT INTO _w(k, kind, v) VALUES ('view2',  'article_viewed',   drivetribe.view_article(100, 2));
INSERT INTO _w(k, kind, v) VALUES ('com',    'comment_posted',   drivetribe.post_comment(1000, 100, 2, 'Nice'));
INSERT INTO _w(k, kind, v) VALUES ('dcom',   'comment_deleted',  drivetribe.delete_comment(1000));
INSERT INTO _w(k, kind, v) VALUES ('bump',   'article_bumped',   drivetribe.bump(100, 2));
INSERT INTO _w(k, kind, v) VALUES ('unbump', 'article_unbumped', drivetribe.unbump(100, 2));
INSERT INTO _w(k, kind, v) VALUES ('post2',  'article_posted',   drivetribe.post_article(101, 1, 10, 'Bye'));
INSERT INTO _w(k, kind, v) VALUES ('del',    'article_deleted',  drivetribe.delete_article(101));

SELECT is((SELECT count(*) FROM _w WHERE v > 0), 20::bigint,
          'every accepted write returns a positive seq');
SELECT is((SELECT count(*) FROM (SELECT v, lag(v) OVER (ORDER BY n) AS p FROM _w) x WHERE v <= p),
          0::bigint, 'seqs grow strictly in call order');
SELECT is(pg_temp.nev(), 20::bigint, 'exactly one event appended per accepted write');
SELECT results_eq(
  'SELECT w.k, e.kind::text FROM _w w LEFT JOIN drivetribe.events e ON e.seq = w.v ORDER BY w.n',
  'SELECT k, kind FROM _w ORDER BY n',
  'the returned seq is the log row of the expected kind');
SELECT is((SELECT count(DISTINCT event_id) FROM drivetribe.events WHERE event_id IS NOT NULL),
          20::bigint, 'an event_id is generated for every call that gave none, all distinct');
SELECT is((SELECT count(*) FROM drivetribe.events WHERE occurred_at IS NULL OR kind IS NULL),
          0::bigint, 'every event has a kind and a time');
SELECT is((SELECT max(seq) FROM drivetribe.events), pg_temp.w('del'), 'last returned seq is the log head');
SELECT is((SELECT views::bigint FROM drivetribe.article(100)), 2::bigint, 'every view call counts (anonymous and named)');

-- no-ops: NULL and nothing appended
SELECT is(drivetribe.join_tribe(1, 10),        NULL::bigint, 'owner joining own tribe: no-op');
SELECT is(drivetribe.leave_tribe(2, 10),       NULL::bigint, 'leave when not a member: no-op');
SELECT is(drivetribe.unfollow_user(2, 1),      NULL::bigint, 'unfollow when not following: no-op');
SELECT is(drivetribe.unfollow_user(1, 3),      NULL::bigint, 'unfollow never followed: no-op');
SELECT is(drivetribe.unbump(100, 2),           NULL::bigint, 'unbump when not bumped: no-op');
SELECT is(drivetribe.unbump(100, 1),           NULL::bigint, 'unbump never bumped: no-op');
SELECT is(drivetribe.delete_article(101),      NULL::bigint, 'delete an already deleted article: no-op');
SELECT is(drivetribe.delete_comment(1000),     NULL::bigint, 'delete an already deleted comment: no-op');
SELECT is(drivetribe.rename_user(1, 'alicia'), NULL::bigint, 'rename user to current name: no-op (design)');
SELECT is(drivetribe.rename_tribe(10, 'Motors'), NULL::bigint, 'rename tribe to current name: no-op (design)');
SELECT is(drivetribe.edit_article(100, 'Hello again'), NULL::bigint, 'edit to current title: no-op (design)');
SELECT is(pg_temp.nev(), 20::bigint, 'no-ops appended nothing');

-- the second of two identical state changes is a no-op
INSERT INTO _w(k, kind, v) VALUES ('follow2', 'user_followed', drivetribe.follow_user(3, 1));
SELECT is(drivetribe.follow_user(3, 1), NULL::bigint, 'follow twice: second is a no-op');
INSERT INTO _w(k, kind, v) VALUES ('bump2', 'article_bumped', drivetribe.bump(100, 3));
SELECT is(drivetribe.bump(100, 3), NULL::bigint, 'bump twice: second is a no-op');
INSERT INTO _w(k, kind, v) VALUES ('join2', 'tribe_joined', drivetribe.join_tribe(3, 10));
SELECT is(drivetribe.join_tribe(3, 10), NULL::bigint, 'join twice: second is a no-op');
SELECT is(pg_temp.nev(), 23::bigint, 'only the first of each pair appended');
SELECT ok(pg_temp.w('follow2') > pg_temp.w('del') AND pg_temp.w('bump2') > pg_temp.w('follow2')
          AND pg_temp.w('join2') > pg_temp.w('bump2'), 'seqs keep growing');
SELECT ok(drivetribe.bump(100, 1) > pg_temp.w('join2'), 'an author may bump their own article');
SELECT is((SELECT bumps::bigint FROM drivetribe.article(100)), 2::bigint, 'self bump counted');

-- event_id idempotency
INSERT INTO _w(k, kind, v) VALUES ('e1', 'user_registered',
  drivetribe.register_user(5, 'eve', 'a0000000-0000-4000-8000-000000000001'));
SELECT is(pg_temp.nev(), 25::bigint, 'event_id call appended once');
SELECT is(drivetribe.register_user(5, 'eve', 'a0000000-0000-4000-8000-000000000001'),
          pg_temp.w('e1'), 'same event_id, same args: first seq returned');
SELECT is(drivetribe.register_user(5, 'eve', 'a0000000-0000-4000-8000-000000000001'),
          pg_temp.w('e1'), 'and again');
SELECT is(pg_temp.nev(), 25::bigint, 'retries appended nothing');
SELECT throws_ok($$SELECT drivetribe.register_user(5, 'eva', 'a0000000-0000-4000-8000-000000000001')$$,
          '23505', NULL, 'same event_id, other name: 23505');
SELECT throws_ok($$SELECT drivetribe.register_user(6, 'frank', 'a0000000-0000-4000-8000-000000000001')$$,
          '23505', NULL, 'same event_id, other user id: 23505');
SELECT throws_ok($$SELECT drivetribe.join_tribe(5, 10, 'a0000000-0000-4000-8000-000000000001')$$,
          '23505', NULL, 'same event_id on another function: 23505');
SELECT is((SELECT seq FROM drivetribe.events WHERE event_id = 'a0000000-0000-4000-8000-000000000001'),
          pg_temp.w('e1'), 'the given event_id is stored on the event');
SELECT is((SELECT name::text FROM drivetribe.user_stats WHERE user_id = 5), 'eve', 'failed retries changed nothing');

INSERT INTO _w(k, kind, v) VALUES ('e2', 'article_viewed',
  drivetribe.view_article(100, NULL, 'a0000000-0000-4000-8000-000000000002'));
SELECT is(drivetribe.view_article(100, NULL, 'a0000000-0000-4000-8000-000000000002'),
          pg_temp.w('e2'), 'view retried with same event_id: first seq');
SELECT is((SELECT views::bigint FROM drivetribe.article(100)), 3::bigint, 'retried view counted once');
SELECT throws_ok($$SELECT drivetribe.view_article(100, 5, 'a0000000-0000-4000-8000-000000000002')$$,
          '23505', NULL, 'same event_id, other viewer: 23505');

INSERT INTO _w(k, kind, v) VALUES ('e3', 'article_bumped',
  drivetribe.bump(100, 5, 'a0000000-0000-4000-8000-000000000003'));
INSERT INTO _w(k, kind, v) VALUES ('e3u', 'article_unbumped', drivetribe.unbump(100, 5));
SELECT is(drivetribe.bump(100, 5, 'a0000000-0000-4000-8000-000000000003'),
          pg_temp.w('e3'), 'bump retried after an unbump: first seq');
SELECT is(drivetribe.has_bumped(100, 5), false, 'the retry did not bump again');
SELECT is((SELECT bumps::bigint FROM drivetribe.article(100)), 2::bigint, 'bump count unchanged by the retry');

INSERT INTO _w(k, kind, v) VALUES ('e4', 'tribe_left',
  drivetribe.leave_tribe(3, 10, 'a0000000-0000-4000-8000-000000000004'));
SELECT is(drivetribe.leave_tribe(3, 10, 'a0000000-0000-4000-8000-000000000004'),
          pg_temp.w('e4'), 'retry of a call that would now be a no-op: first seq');
INSERT INTO _w(k, kind, v) VALUES ('e5', 'tribe_joined', drivetribe.join_tribe(3, 10));
SELECT is(drivetribe.leave_tribe(3, 10, 'a0000000-0000-4000-8000-000000000004'),
          pg_temp.w('e4'), 'retry when the call would change state again: still first seq, no change');
SELECT is((SELECT members::bigint FROM drivetribe.tribe_stats WHERE tribe_id = 10), 2::bigint,
          'member still in after the retry');

-- a retried create returns its seq (not 23505 "id taken"); a retried view
-- of an article deleted since returns its seq (not 55000) and counts nothing
INSERT INTO _w(k, kind, v) VALUES ('e6', 'article_posted',
  drivetribe.post_article(102, 1, 10, 'Third', 'a0000000-0000-4000-8000-000000000006'));
SELECT is(drivetribe.post_article(102, 1, 10, 'Third', 'a0000000-0000-4000-8000-000000000006'),
          pg_temp.w('e6'), 'create retried with the same event_id: first seq, not 23505');
INSERT INTO _w(k, kind, v) VALUES ('e7', 'article_viewed',
  drivetribe.view_article(102, 2, 'a0000000-0000-4000-8000-000000000007'));
INSERT INTO _w(k, kind, v) VALUES ('e7d', 'article_deleted', drivetribe.delete_article(102));
SELECT is(drivetribe.view_article(102, 2, 'a0000000-0000-4000-8000-000000000007'),
          pg_temp.w('e7'), 'view retried after the article was deleted: first seq, not 55000');
SELECT is((SELECT a.views + coalesce((SELECT sum(s.views) FROM drivetribe.article_stripes s
                                        WHERE s.article_id = 102), 0)
             FROM drivetribe.articles a WHERE a.article_id = 102)::bigint, 1::bigint,
          'the retried view counted nothing');
-- same event_id on the opposite call, or with a name differing only in case
INSERT INTO _w(k, kind, v) VALUES ('e8', 'user_followed',
  drivetribe.follow_user(5, 1, 'a0000000-0000-4000-8000-000000000008'));
SELECT throws_ok($$SELECT drivetribe.unfollow_user(5, 1, 'a0000000-0000-4000-8000-000000000008')$$,
          '23505', NULL, 'same event_id on the undoing call (same ids): 23505');
SELECT is((SELECT following::bigint FROM drivetribe.user_stats WHERE user_id = 5), 1::bigint, 'still following');
SELECT throws_ok($$SELECT drivetribe.register_user(5, 'EVE', 'a0000000-0000-4000-8000-000000000001')$$,
          '23505', NULL, 'same event_id, name differing only in case: 23505');

SELECT is(pg_temp.nev(), (SELECT count(*) FROM _w) + 1, 'log = accepted calls (+1 self bump)');
SELECT is((SELECT count(*) FROM _w w JOIN drivetribe.events e ON e.seq = w.v AND e.kind::text = w.kind),
          (SELECT count(*) FROM _w), 'every recorded seq has the right kind');
SELECT is((SELECT count(*) FROM (SELECT v, lag(v) OVER (ORDER BY n) AS p FROM _w) x WHERE v <= p),
          0::bigint, 'all seqs grow strictly');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
