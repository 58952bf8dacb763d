-- Replies to comments (1.9): every refusal of a reply with its SQLSTATE
-- (nothing changed), the valid forms of post_comment (the reply form, the
-- 1.0 form, the untyped-event_id form), reply counts and the counts of
-- article_view and user_stats through posts and deletes, the events'
-- version, parent and recipient, and the privileges of the three forms: a
-- role given grant_writer() calls each, a reader or a role with no grant
-- gets 42501.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(70);

CREATE FUNCTION pg_temp.nev() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM drivetribe.events';
CREATE FUNCTION pg_temp.proj_md5() RETURNS text LANGUAGE sql AS $$
  SELECT md5(
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.users t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.articles t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.comments t))
$$;
-- the live replies of a comment, as drivetribe.comments has them
CREATE FUNCTION pg_temp.replies(c bigint) RETURNS bigint LANGUAGE sql AS
  'SELECT replies FROM drivetribe.comments WHERE comment_id = c';

-- world: users 21 (ann), 22 (ben), 23 (cat); tribe 2100; articles 2200
-- (ann's), 2201 (ben's); comment 3000 by ben on 2200, 3001 by cat on
-- 2201, 3002 by cat on 2200 then deleted.
SELECT drivetribe.register_user(21, 'ann') IS NOT NULL AS ok \gset
SELECT drivetribe.register_user(22, 'ben') IS NOT NULL AS ok \gset
SELECT drivetribe.register_user(23, 'cat') IS NOT NULL AS ok \gset
SELECT drivetribe.create_tribe(2100, 21, 'Hot hatches') IS NOT NULL AS ok \gset
SELECT drivetribe.post_article(2200, 21, 2100, 'Ann writes') IS NOT NULL AS ok \gset
SELECT drivetribe.post_article(2201, 22, 2100, 'Ben writes') IS NOT NULL AS ok \gset
SELECT drivetribe.post_comment(3000, 2200, 22, 'top') IS NOT NULL AS ok \gset
SELECT drivetribe.post_comment(3001, 2201, 23, 'elsewhere') IS NOT NULL AS ok \gset
SELECT drivetribe.post_comment(3002, 2200, 23, 'gone') IS NOT NULL AS ok \gset
SELECT drivetribe.delete_comment(3002) IS NOT NULL AS ok \gset
SELECT drivetribe.post_comment(3003, 2200, 23, 'reply with an id', 3000,
                               'd0000000-0000-4000-8000-000000003003') IS NOT NULL AS ok \gset
SELECT is(pg_temp.nev(), 11::bigint, 'setup accepted');

------------------------------------------------------------------------
-- refusals: SQLSTATE and message; nothing changes
------------------------------------------------------------------------
CREATE TEMP TABLE _before AS SELECT pg_temp.nev() AS nev, pg_temp.proj_md5() AS md5;

SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 9999)$$,
                 '23503', 'comment 9999 does not exist', 'an unknown parent: 23503');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', parent_comment_id => 9999)$$,
                 '23503', 'comment 9999 does not exist', 'an unknown parent, named: 23503');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2201, 21, 'x', 3000)$$,
                 '22023', 'parent_comment_id 3000 is a comment of article 2200, not of article 2201',
                 'a parent of another article: 22023');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 3001)$$,
                 '22023', 'parent_comment_id 3001 is a comment of article 2201, not of article 2200',
                 'a parent of another article (the other way): 22023');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 3002)$$,
                 '55000', 'comment 3002 is deleted', 'a deleted parent: 55000');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 0)$$,
                 '22023', NULL, 'parent_comment_id 0: 22023');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', -3000)$$,
                 '22023', NULL, 'a negative parent_comment_id: 22023');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 3000, 'not-a-uuid')$$,
                 '22P02', NULL, 'a reply with an event_id that is no uuid: 22P02');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 'not-a-uuid')$$,
                 '22P02', NULL, 'an untyped fifth argument that is no uuid: 22P02');
-- the event_id of reply 3003 with another parent, with none, another body
SELECT throws_ok($$SELECT drivetribe.post_comment(3003, 2200, 23, 'reply with an id', 3001,
                                                  'd0000000-0000-4000-8000-000000003003')$$,
                 '23505', NULL, 'a logged event_id with another parent: 23505');
SELECT throws_ok($$SELECT drivetribe.post_comment(3003, 2200, 23, 'reply with an id', NULL,
                                                  'd0000000-0000-4000-8000-000000003003')$$,
                 '23505', NULL, 'a logged event_id with a NULL parent: 23505');
SELECT throws_ok($$SELECT drivetribe.post_comment(3003, 2200, 23, 'reply with an id',
                                                  'd0000000-0000-4000-8000-000000003003')$$,
                 '23505', NULL, 'a logged event_id in the 1.0 form (untyped): 23505');
SELECT throws_ok($$SELECT drivetribe.post_comment(3003, 2200, 23, 'reply with an id',
                                                  'd0000000-0000-4000-8000-000000003003'::uuid)$$,
                 '23505', NULL, 'a logged event_id in the 1.0 form (uuid): 23505');
SELECT throws_ok($$SELECT drivetribe.post_comment(3003, 2200, 23, 'another body', 3000,
                                                  'd0000000-0000-4000-8000-000000003003')$$,
                 '23505', NULL, 'a logged event_id with another body: 23505');
SELECT throws_ok($$SELECT drivetribe.post_comment(3000, 2200, 21, 'x', 3000)$$,
                 '23505', 'comment 3000 already exists', 'a taken comment id in the reply form: 23505');
SELECT throws_ok($$SELECT drivetribe.post_comment(NULL, 2200, 21, 'x', 3000)$$,
                 '22004', NULL, 'a NULL comment_id in the reply form: 22004');
SELECT results_eq('SELECT pg_temp.nev(), pg_temp.proj_md5()', 'SELECT nev, md5 FROM _before',
                  'no refusal appended an event or changed a projection');

------------------------------------------------------------------------
-- the valid forms
------------------------------------------------------------------------
SELECT lives_ok($$SELECT drivetribe.post_comment(3010, 2200, 21, 'reply, positional', 3000)$$,
                'a reply, positional');
SELECT lives_ok($$SELECT drivetribe.post_comment(3011, 2200, 23, 'reply, named', parent_comment_id => 3000)$$,
                'a reply, named parent_comment_id');
SELECT lives_ok($$SELECT drivetribe.post_comment(3012, 2200, 21, 'reply to a reply', 3010,
                                                 'd0000000-0000-4000-8000-000000003012')$$,
                'a reply to a reply, with an event_id');
SELECT lives_ok($$SELECT drivetribe.post_comment(3013, 2200, 22, 'top, NULL parent', parent_comment_id => NULL)$$,
                'parent_comment_id => NULL');
SELECT lives_ok($$SELECT drivetribe.post_comment(3014, 2200, 22, 'top, 1.0 form')$$,
                'the 1.0 form, no event_id');
SELECT lives_ok($$SELECT drivetribe.post_comment(3015, 2200, 22, 'top, typed uuid',
                                                 'd0000000-0000-4000-8000-000000003015'::uuid)$$,
                'the 1.0 form with a uuid');
SELECT lives_ok($$SELECT drivetribe.post_comment(3016, 2200, 22, 'top, untyped literal',
                                                 'd0000000-0000-4000-8000-000000003016')$$,
                'an untyped literal event_id');
SELECT lives_ok($$SELECT drivetribe.post_comment(3017, 2200, 22, 'top, untyped NULL', NULL)$$,
                'an untyped NULL fifth argument');
SELECT lives_ok($$SELECT drivetribe.post_comment(3018, 2201, 21, 'reply on ben''s article', 3001, NULL)$$,
                'a reply, NULL event_id');

-- what they logged
SELECT results_eq(
  $$SELECT comment_id, version::int, parent_comment_id, recipient_id, target_id
      FROM drivetribe.events WHERE kind = 'comment_posted' AND comment_id >= 3010 ORDER BY seq$$,
  $$VALUES (3010::bigint, 2, 3000::bigint, 22::bigint, 21::bigint),
           (3011, 2, 3000, 22, 21),
           (3012, 2, 3010, 21, 21),
           (3013, 2, NULL, 21, 21),
           (3014, 2, NULL, 21, 21),
           (3015, 2, NULL, 21, 21),
           (3016, 2, NULL, 21, 21),
           (3017, 2, NULL, 21, 21),
           (3018, 2, 3001, 23, 22)$$,
  'comment_posted: version 2, the parent, the parent''s author as recipient (the article''s for a top-level one)');
SELECT is((SELECT event_id FROM drivetribe.events WHERE comment_id = 3016),
          'd0000000-0000-4000-8000-000000003016'::uuid, 'an untyped literal event_id is the uuid logged');

-- retries: the first seq, nothing appended
CREATE TEMP TABLE _retry AS SELECT pg_temp.nev() AS nev;
SELECT is(drivetribe.post_comment(3012, 2200, 21, 'reply to a reply', 3010, 'd0000000-0000-4000-8000-000000003012'),
          (SELECT seq FROM drivetribe.events WHERE comment_id = 3012), 'a reply retried: its seq');
SELECT is(drivetribe.post_comment(3016, 2200, 22, 'top, untyped literal', 'd0000000-0000-4000-8000-000000003016'),
          (SELECT seq FROM drivetribe.events WHERE comment_id = 3016), 'an untyped-literal call retried: its seq');
SELECT is(drivetribe.post_comment(3016, 2200, 22, 'top, untyped literal', 'd0000000-0000-4000-8000-000000003016'::uuid),
          (SELECT seq FROM drivetribe.events WHERE comment_id = 3016), 'retried with a typed uuid: its seq');
SELECT is(drivetribe.post_comment(3015, 2200, 22, 'top, typed uuid', NULL, 'd0000000-0000-4000-8000-000000003015'),
          (SELECT seq FROM drivetribe.events WHERE comment_id = 3015), 'retried in the reply form with a NULL parent: its seq');
SELECT is(pg_temp.nev(), (SELECT nev FROM _retry), 'retries appended nothing');

------------------------------------------------------------------------
-- counts
------------------------------------------------------------------------
SELECT results_eq(
  $$SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(2200, 100)$$,
  $$VALUES (3000::bigint, NULL::bigint, 3::bigint), (3003, 3000, 0), (3010, 3000, 1), (3011, 3000, 0),
           (3012, 3010, 0), (3013, NULL, 0), (3014, NULL, 0), (3015, NULL, 0), (3016, NULL, 0), (3017, NULL, 0)$$,
  'article_comments(): every live comment oldest first, its parent and live replies');
SELECT results_eq(
  $$SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(2201)$$,
  $$VALUES (3001::bigint, NULL::bigint, 1::bigint), (3018, 3001, 0)$$,
  'article_comments() of the other article');
SELECT results_eq('SELECT article_id, comments FROM drivetribe.article_view ORDER BY 1',
                  $$VALUES (2200::bigint, 10::bigint), (2201, 2)$$, 'article_view.comments counts replies');
SELECT results_eq('SELECT user_id, comments FROM drivetribe.user_stats ORDER BY 1',
                  $$VALUES (21::bigint, 3::bigint), (22, 6), (23, 3)$$, 'user_stats.comments counts replies');

-- delete a reply: its parent's count drops; comment_deleted v2 names the parent
SELECT lives_ok('SELECT drivetribe.delete_comment(3011)', 'delete a reply');
SELECT is(pg_temp.replies(3000), 2::bigint, 'the parent''s replies drop by one');
SELECT results_eq(
  $$SELECT version::int, parent_comment_id FROM drivetribe.events WHERE kind = 'comment_deleted' AND comment_id = 3011$$,
  $$VALUES (2, 3000::bigint)$$, 'comment_deleted: version 2 with the deleted reply''s parent');
-- delete the parent: gone from the page, its replies stay
SELECT lives_ok('SELECT drivetribe.delete_comment(3000)', 'delete a parent');
SELECT results_eq(
  $$SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(2200, 100) WHERE comment_id < 3013$$,
  $$VALUES (3003::bigint, 3000::bigint, 0::bigint), (3010, 3000, 1), (3012, 3010, 0)$$,
  'a deleted parent leaves the page, its replies stay with its id');
SELECT results_eq(
  $$SELECT version::int, parent_comment_id FROM drivetribe.events WHERE kind = 'comment_deleted' AND comment_id = 3000$$,
  $$VALUES (2, NULL::bigint)$$, 'comment_deleted of a top-level comment: version 2, no parent');
SELECT throws_ok($$SELECT drivetribe.post_comment(3100, 2200, 21, 'x', 3000)$$,
                 '55000', 'comment 3000 is deleted', 'a parent deleted since: 55000');
SELECT lives_ok('SELECT drivetribe.delete_comment(3012)', 'delete a reply to a reply');
SELECT is(pg_temp.replies(3010), 0::bigint, 'its parent has no live reply left');
SELECT lives_ok('SELECT drivetribe.delete_comment(3003)', 'delete a reply of the deleted parent');
SELECT is(pg_temp.replies(3000), 1::bigint, 'the deleted parent''s count drops too');
SELECT results_eq('SELECT article_id, comments FROM drivetribe.article_view ORDER BY 1',
                  $$VALUES (2200::bigint, 6::bigint), (2201, 2)$$, 'article_view.comments after the deletes');
SELECT results_eq('SELECT user_id, comments FROM drivetribe.user_stats ORDER BY 1',
                  $$VALUES (21::bigint, 2::bigint), (22, 5), (23, 1)$$, 'user_stats.comments after the deletes');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

------------------------------------------------------------------------
-- privileges
------------------------------------------------------------------------
CREATE ROLE tap_reply_writer;
CREATE ROLE tap_reply_reader;
CREATE ROLE tap_reply_nobody;
CREATE ROLE tap_reply_usage;
SELECT drivetribe.grant_writer('tap_reply_writer');
SELECT drivetribe.grant_reader('tap_reply_reader');
GRANT USAGE ON SCHEMA drivetribe TO tap_reply_usage;

SET ROLE tap_reply_writer;
SELECT lives_ok($$SELECT drivetribe.post_comment(3200, 2201, 21, 'writer, 1.0 form')$$,
                'a writer: the 1.0 form');
SELECT lives_ok($$SELECT drivetribe.post_comment(3201, 2201, 21, 'writer, typed uuid', 'd0000000-0000-4000-8000-000000003201'::uuid)$$,
                'a writer: the 1.0 form with a uuid');
SELECT lives_ok($$SELECT drivetribe.post_comment(3202, 2201, 21, 'writer, untyped', 'd0000000-0000-4000-8000-000000003202')$$,
                'a writer: the untyped-event_id form');
SELECT lives_ok($$SELECT drivetribe.post_comment(3203, 2201, 22, 'writer, reply', 3200)$$,
                'a writer: the reply form');
SELECT lives_ok($$SELECT drivetribe.post_comment(3204, 2201, 23, 'writer, reply with id', 3203, 'd0000000-0000-4000-8000-000000003204')$$,
                'a writer: the reply form with an event_id');
SELECT results_eq($$SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(2201, 3, 3018)$$,
                  $$VALUES (3200::bigint, NULL::bigint, 1::bigint), (3201, NULL, 0), (3202, NULL, 0)$$,
                  'a writer reads the new columns');
SELECT throws_ok('UPDATE drivetribe.comments SET replies = 0', '42501', NULL,
                 'a writer cannot write drivetribe.comments directly');
RESET ROLE;

SET ROLE tap_reply_reader;
SELECT lives_ok('SELECT * FROM drivetribe.article_comments(2201)', 'a reader reads article_comments()');
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 3200)$$, '42501', NULL,
                 'a reader: the reply form is 42501');
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 'd0000000-0000-4000-8000-000000003300')$$,
                 '42501', NULL, 'a reader: the untyped-event_id form is 42501');
RESET ROLE;

SET ROLE tap_reply_nobody;
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x')$$, '42501', NULL,
                 'no grant: the 1.0 form is 42501');
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 'd0000000-0000-4000-8000-000000003300')$$,
                 '42501', NULL, 'no grant: the untyped-event_id form is 42501');
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 3200)$$, '42501', NULL,
                 'no grant: the reply form is 42501');
RESET ROLE;

-- with USAGE on the schema only, the refusal is the function's own
SET ROLE tap_reply_usage;
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 'd0000000-0000-4000-8000-000000003300'::uuid)$$,
                 '42501', 'permission denied for function post_comment', 'schema usage only: the 1.0 form is 42501');
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 'd0000000-0000-4000-8000-000000003300')$$,
                 '42501', 'permission denied for function post_comment', 'schema usage only: the untyped-event_id form is 42501');
SELECT throws_ok($$SELECT drivetribe.post_comment(3300, 2201, 21, 'x', 3200)$$,
                 '42501', 'permission denied for function post_comment', 'schema usage only: the reply form is 42501');
RESET ROLE;
SELECT is((SELECT count(*) FROM drivetribe.comments WHERE comment_id >= 3300), 0::bigint,
          'the refused roles posted nothing');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference at the end');

SELECT * FROM finish();
ROLLBACK;
