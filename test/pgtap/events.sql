-- The event log (SPEC "Identifiers and events", docs/design.md "Event fields
-- per kind"): append-only whoever asks, one self-contained row per event.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(25);

SELECT has_table('drivetribe', 'events', 'drivetribe.events exists');
SELECT has_column('drivetribe', 'events', c, 'events has ' || c)
  FROM unnest(ARRAY['seq', 'event_id', 'kind', 'occurred_at']) c;
SELECT col_type_is('drivetribe', 'events', 'seq', 'bigint', 'seq is bigint');
SELECT col_type_is('drivetribe', 'events', 'event_id', 'uuid', 'event_id is uuid');
SELECT col_is_unique('drivetribe', 'events', ARRAY['event_id'], 'event_id is unique');

CREATE TEMP TABLE _r (k text PRIMARY KEY, v bigint);
INSERT INTO _r VALUES ('u1', drivetribe.register_user(1, 'alice'));
INSERT INTO _r VALUES ('u2', drivetribe.register_user(2, 'bob'));
INSERT INTO _r VALUES ('t',  drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r VALUES ('j',  drivetribe.join_tribe(2, 10));
INSERT INTO _r VALUES ('f',  drivetribe.follow_user(2, 1));
INSERT INTO _r VALUES ('p',  drivetribe.post_article(100, 1, 10, 'Hello'));
INSERT INTO _r VALUES ('va', drivetribe.view_article(100));
INSERT INTO _r VALUES ('vb', drivetribe.view_article(100, 2));
INSERT INTO _r VALUES ('c',  drivetribe.post_comment(1000, 100, 2, 'Nice one'));
INSERT INTO _r VALUES ('b',  drivetribe.bump(100, 2));
INSERT INTO _r VALUES ('rt', drivetribe.rename_tribe(10, 'Motors'));
CREATE FUNCTION pg_temp.ev(k text) RETURNS drivetribe.events LANGUAGE sql AS
  'SELECT e.* FROM drivetribe.events e JOIN _r ON _r.v = e.seq WHERE _r.k = $1';

-- append-only, whoever runs it
SELECT throws_ok('UPDATE drivetribe.events SET kind = kind', NULL, NULL, 'UPDATE of the log fails');
SELECT throws_ok('UPDATE drivetribe.events SET body = ''x'' WHERE seq = (SELECT v FROM _r WHERE k = ''c'')', NULL, NULL,
                 'UPDATE of one row fails');
SELECT throws_ok('DELETE FROM drivetribe.events', NULL, NULL, 'DELETE of the log fails');
SELECT throws_ok('DELETE FROM drivetribe.events WHERE false', NULL, NULL, 'even a DELETE touching no row fails');
SELECT throws_ok('TRUNCATE drivetribe.events', NULL, NULL, 'TRUNCATE of the log fails');
SET LOCAL session_replication_role = replica;
SELECT throws_ok('DELETE FROM drivetribe.events', NULL, NULL, 'DELETE fails under session_replication_role = replica');
SELECT throws_ok('TRUNCATE drivetribe.events', NULL, NULL, 'TRUNCATE fails under session_replication_role = replica');
RESET session_replication_role;
SELECT is((SELECT count(*) FROM drivetribe.events), 11::bigint, 'the log still has its 11 events');
SELECT is((SELECT body FROM drivetribe.events WHERE seq = (SELECT v FROM _r WHERE k = 'c')), 'Nice one',
          'and the comment event is unchanged');

-- self-contained events (design: typed ids, recipient for notifying kinds)
SELECT results_eq(
  $$SELECT (pg_temp.ev('b')).user_id, (pg_temp.ev('b')).article_id, (pg_temp.ev('b')).recipient_id$$,
  $$VALUES (2::bigint, 100::bigint, 1::bigint)$$, 'article_bumped: bumper, article and the author as recipient');
SELECT results_eq(
  $$SELECT (pg_temp.ev('c')).user_id, (pg_temp.ev('c')).comment_id, (pg_temp.ev('c')).article_id,
           (pg_temp.ev('c')).recipient_id, (pg_temp.ev('c')).body$$,
  $$VALUES (2::bigint, 1000::bigint, 100::bigint, 1::bigint, 'Nice one'::text)$$,
  'comment_posted: commenter, comment, article, author as recipient, body');
SELECT results_eq(
  $$SELECT (pg_temp.ev('f')).user_id, (pg_temp.ev('f')).recipient_id$$,
  $$VALUES (2::bigint, 1::bigint)$$, 'user_followed: follower, followee as recipient');
SELECT results_eq(
  $$SELECT (pg_temp.ev('j')).user_id, (pg_temp.ev('j')).tribe_id, (pg_temp.ev('j')).recipient_id$$,
  $$VALUES (2::bigint, 10::bigint, 1::bigint)$$, 'tribe_joined: member, tribe, owner as recipient');
SELECT results_eq(
  $$SELECT (pg_temp.ev('va')).user_id, (pg_temp.ev('va')).article_id, (pg_temp.ev('vb')).user_id$$,
  $$VALUES (NULL::bigint, 100::bigint, 2::bigint)$$, 'article_viewed: NULL viewer for anonymous, else the viewer');
SELECT results_eq(
  $$SELECT (pg_temp.ev('p')).user_id, (pg_temp.ev('p')).article_id, (pg_temp.ev('p')).tribe_id, (pg_temp.ev('p')).body$$,
  $$VALUES (1::bigint, 100::bigint, 10::bigint, 'Hello'::text)$$, 'article_posted: author, article, tribe, title');
SELECT results_eq(
  $$SELECT (pg_temp.ev('rt')).tribe_id, (pg_temp.ev('rt')).body$$,
  $$VALUES (10::bigint, 'Motors'::text)$$, 'tribe_renamed: tribe and new name');
SELECT is((SELECT count(*) FROM drivetribe.events WHERE occurred_at > clock_timestamp()), 0::bigint,
          'no event time in the future');

SELECT * FROM finish();
ROLLBACK;
