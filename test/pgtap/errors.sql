-- SPEC "Errors (SQLSTATE)": every rejected call gets the documented SQLSTATE,
-- a message naming the offending value, and changes neither the log nor any
-- projection. Check order (docs/design.md): NULL (22004), values (22023),
-- event_id replay, unknown ids (23503), taken ids (23505), deleted (55000).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(158);

-- run q; return 'SQLSTATE message'. A call that does not fail is undone
-- (and reported as 'P0T01 no error'), so one wrong answer cannot cascade.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RAISE EXCEPTION USING ERRCODE = 'P0T01', MESSAGE = 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.nev() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM drivetribe.events';
-- checksum of every projection table's contents
CREATE FUNCTION pg_temp.proj_md5() RETURNS text LANGUAGE sql AS $$
  SELECT md5(
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.users t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.tribes t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.articles t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.comments t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.memberships t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.follows t) ||
    (SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM drivetribe.bumps t))
$$;

-- world: users 311, 312; tribe 7301 (owner 311); live article 88001 with
-- comment 99001; deleted article 88002 with comment 99002 posted before.
SELECT drivetribe.register_user(311, 'ann') IS NOT NULL AS ok \gset
SELECT drivetribe.register_user(312, 'ben') IS NOT NULL AS ok \gset
SELECT drivetribe.create_tribe(7301, 311, 'Trucks') IS NOT NULL AS ok \gset
SELECT drivetribe.post_article(88001, 311, 7301, 'Live') IS NOT NULL AS ok \gset
SELECT drivetribe.post_article(88002, 312, 7301, 'Doomed') IS NOT NULL AS ok \gset
SELECT drivetribe.post_comment(99001, 88001, 312, 'hi') IS NOT NULL AS ok \gset
SELECT drivetribe.post_comment(99002, 88002, 311, 'yo') IS NOT NULL AS ok \gset
SELECT drivetribe.bump(88002, 312) IS NOT NULL AS ok \gset
SELECT drivetribe.delete_article(88002) IS NOT NULL AS ok \gset
SELECT is(pg_temp.nev(), 9::bigint, 'setup accepted');

CREATE TEMP TABLE _before AS SELECT pg_temp.nev() AS nev, pg_temp.proj_md5() AS md5;

-- 22004: a required argument is NULL
SELECT matches(pg_temp.err(q), '^22004 ', '22004: ' || q) FROM (VALUES
  ('SELECT drivetribe.register_user(NULL, ''x'')'),
  ('SELECT drivetribe.register_user(313, NULL)'),
  ('SELECT drivetribe.rename_user(NULL, ''x'')'),
  ('SELECT drivetribe.rename_user(311, NULL)'),
  ('SELECT drivetribe.create_tribe(NULL, 311, ''x'')'),
  ('SELECT drivetribe.create_tribe(7302, NULL, ''x'')'),
  ('SELECT drivetribe.create_tribe(7302, 311, NULL)'),
  ('SELECT drivetribe.rename_tribe(NULL, ''x'')'),
  ('SELECT drivetribe.rename_tribe(7301, NULL)'),
  ('SELECT drivetribe.join_tribe(NULL, 7301)'),
  ('SELECT drivetribe.join_tribe(312, NULL)'),
  ('SELECT drivetribe.leave_tribe(NULL, 7301)'),
  ('SELECT drivetribe.leave_tribe(311, NULL)'),
  ('SELECT drivetribe.follow_user(NULL, 311)'),
  ('SELECT drivetribe.follow_user(312, NULL)'),
  ('SELECT drivetribe.unfollow_user(NULL, 311)'),
  ('SELECT drivetribe.unfollow_user(312, NULL)'),
  ('SELECT drivetribe.post_article(NULL, 311, 7301, ''t'')'),
  ('SELECT drivetribe.post_article(88003, NULL, 7301, ''t'')'),
  ('SELECT drivetribe.post_article(88003, 311, NULL, ''t'')'),
  ('SELECT drivetribe.post_article(88003, 311, 7301, NULL)'),
  ('SELECT drivetribe.edit_article(NULL, ''t'')'),
  ('SELECT drivetribe.edit_article(88001, NULL)'),
  ('SELECT drivetribe.delete_article(NULL)'),
  ('SELECT drivetribe.view_article(NULL)'),
  ('SELECT drivetribe.view_article(NULL, 311)'),
  ('SELECT drivetribe.post_comment(NULL, 88001, 311, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, NULL, 311, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, 88001, NULL, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 311, NULL)'),
  ('SELECT drivetribe.delete_comment(NULL)'),
  ('SELECT drivetribe.bump(NULL, 311)'),
  ('SELECT drivetribe.bump(88001, NULL)'),
  ('SELECT drivetribe.unbump(NULL, 311)'),
  ('SELECT drivetribe.unbump(88001, NULL)'),
  -- NULL is checked before values, unknown ids, taken ids and deleted articles
  ('SELECT drivetribe.register_user(-1, NULL)'),
  ('SELECT drivetribe.register_user(311, NULL)'),
  ('SELECT drivetribe.post_comment(99001, 88002, 424242, NULL)'),
  ('SELECT drivetribe.bump(88002, NULL)')
) v(q);

-- 22023: empty/blank/over-long text, non-positive id, self-follow
SELECT matches(pg_temp.err(q), '^22023 ', '22023: ' || left(q, 80)) FROM (VALUES
  ('SELECT drivetribe.register_user(0, ''x'')'),
  ('SELECT drivetribe.register_user(-5, ''x'')'),
  ('SELECT drivetribe.register_user(313, '''')'),
  ('SELECT drivetribe.register_user(313, ''   '')'),
  ('SELECT drivetribe.register_user(313, E''\t\n \r'')'),
  ('SELECT drivetribe.register_user(313, repeat(''x'', 65))'),
  ('SELECT drivetribe.register_user(313, E''\f'')'),
  ('SELECT drivetribe.register_user(313, E''\x0B'')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 311, E'' \t\x0B\n'')'),
  ('SELECT drivetribe.rename_user(311, '''')'),
  ('SELECT drivetribe.rename_user(311, '' '')'),
  ('SELECT drivetribe.rename_user(311, repeat(''x'', 65))'),
  ('SELECT drivetribe.rename_user(-311, ''x'')'),
  ('SELECT drivetribe.create_tribe(0, 311, ''x'')'),
  ('SELECT drivetribe.create_tribe(7302, -311, ''x'')'),
  ('SELECT drivetribe.create_tribe(7302, 311, '''')'),
  ('SELECT drivetribe.create_tribe(7302, 311, ''  '')'),
  ('SELECT drivetribe.create_tribe(7302, 311, repeat(''x'', 101))'),
  ('SELECT drivetribe.rename_tribe(7301, repeat(''x'', 101))'),
  ('SELECT drivetribe.rename_tribe(7301, E''\t'')'),
  ('SELECT drivetribe.rename_tribe(-7301, ''x'')'),
  ('SELECT drivetribe.join_tribe(0, 7301)'),
  ('SELECT drivetribe.join_tribe(312, -7301)'),
  ('SELECT drivetribe.leave_tribe(-312, 7301)'),
  ('SELECT drivetribe.leave_tribe(312, 0)'),
  ('SELECT drivetribe.follow_user(311, 311)'),
  ('SELECT drivetribe.follow_user(0, 311)'),
  ('SELECT drivetribe.follow_user(312, -1)'),
  ('SELECT drivetribe.unfollow_user(-312, 311)'),
  ('SELECT drivetribe.post_article(0, 311, 7301, ''t'')'),
  ('SELECT drivetribe.post_article(88003, -311, 7301, ''t'')'),
  ('SELECT drivetribe.post_article(88003, 311, 0, ''t'')'),
  ('SELECT drivetribe.post_article(88003, 311, 7301, '''')'),
  ('SELECT drivetribe.post_article(88003, 311, 7301, ''   '')'),
  ('SELECT drivetribe.post_article(88003, 311, 7301, repeat(''x'', 301))'),
  ('SELECT drivetribe.edit_article(88001, '''')'),
  ('SELECT drivetribe.edit_article(88001, repeat(''x'', 301))'),
  ('SELECT drivetribe.edit_article(0, ''t'')'),
  ('SELECT drivetribe.delete_article(0)'),
  ('SELECT drivetribe.delete_article(-88001)'),
  ('SELECT drivetribe.view_article(0)'),
  ('SELECT drivetribe.view_article(88001, 0)'),
  ('SELECT drivetribe.view_article(88001, -311)'),
  ('SELECT drivetribe.post_comment(0, 88001, 311, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, -88001, 311, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 0, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 311, '''')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 311, E'' \n '')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 311, repeat(''x'', 10001))'),
  ('SELECT drivetribe.delete_comment(0)'),
  ('SELECT drivetribe.bump(0, 311)'),
  ('SELECT drivetribe.bump(88001, -311)'),
  ('SELECT drivetribe.unbump(-88001, 311)'),
  ('SELECT drivetribe.unbump(88001, 0)'),
  -- values are checked before unknown ids, taken ids and deleted articles
  ('SELECT drivetribe.rename_user(424242, '''')'),
  ('SELECT drivetribe.follow_user(424242, 424242)'),
  ('SELECT drivetribe.register_user(311, '' '')'),
  ('SELECT drivetribe.post_comment(99001, 88002, 311, '''')'),
  ('SELECT drivetribe.edit_article(88002, repeat(''x'', 301))')
) v(q);

-- 23503: unknown user, tribe, article or comment; the message names the id
SELECT matches(pg_temp.err(q), '^23503 .*424242', '23503 naming 424242: ' || q) FROM (VALUES
  ('SELECT drivetribe.rename_user(424242, ''x'')'),
  ('SELECT drivetribe.create_tribe(7302, 424242, ''x'')'),
  ('SELECT drivetribe.rename_tribe(424242, ''x'')'),
  ('SELECT drivetribe.join_tribe(424242, 7301)'),
  ('SELECT drivetribe.join_tribe(312, 424242)'),
  ('SELECT drivetribe.leave_tribe(424242, 7301)'),
  ('SELECT drivetribe.leave_tribe(311, 424242)'),
  ('SELECT drivetribe.follow_user(312, 424242)'),
  ('SELECT drivetribe.follow_user(424242, 311)'),
  ('SELECT drivetribe.unfollow_user(312, 424242)'),
  ('SELECT drivetribe.unfollow_user(424242, 311)'),
  ('SELECT drivetribe.post_article(88003, 424242, 7301, ''t'')'),
  ('SELECT drivetribe.post_article(88003, 311, 424242, ''t'')'),
  ('SELECT drivetribe.edit_article(424242, ''t'')'),
  ('SELECT drivetribe.delete_article(424242)'),
  ('SELECT drivetribe.view_article(424242)'),
  ('SELECT drivetribe.view_article(88001, 424242)'),
  ('SELECT drivetribe.post_comment(99003, 424242, 311, ''b'')'),
  ('SELECT drivetribe.post_comment(99003, 88001, 424242, ''b'')'),
  ('SELECT drivetribe.delete_comment(424242)'),
  ('SELECT drivetribe.bump(424242, 311)'),
  ('SELECT drivetribe.bump(88001, 424242)'),
  ('SELECT drivetribe.unbump(424242, 311)'),
  ('SELECT drivetribe.unbump(88001, 424242)'),
  -- unknown ids are checked before taken ids and deleted articles
  ('SELECT drivetribe.create_tribe(7301, 424242, ''x'')'),
  ('SELECT drivetribe.post_article(88001, 424242, 7301, ''t'')'),
  ('SELECT drivetribe.post_comment(99001, 88001, 424242, ''b'')'),
  ('SELECT drivetribe.bump(88002, 424242)'),
  ('SELECT drivetribe.view_article(88002, 424242)')
) v(q);

-- 23505: id already taken by a create call (deleted rows keep their ids)
SELECT matches(pg_temp.err(q), '^23505 .*' || id, '23505 naming ' || id || ': ' || q) FROM (VALUES
  ('SELECT drivetribe.register_user(311, ''dup'')', '311'),
  ('SELECT drivetribe.create_tribe(7301, 312, ''dup'')', '7301'),
  ('SELECT drivetribe.post_article(88001, 312, 7301, ''dup'')', '88001'),
  ('SELECT drivetribe.post_article(88002, 312, 7301, ''dup'')', '88002'),
  ('SELECT drivetribe.post_comment(99001, 88001, 311, ''dup'')', '99001'),
  -- taken is checked before deleted
  ('SELECT drivetribe.post_comment(99002, 88002, 311, ''dup'')', '99002')
) v(q, id);

-- 55000: view, bump, unbump, comment on or edit a deleted article
SELECT matches(pg_temp.err(q), '^55000 .*88002', '55000 naming 88002: ' || q) FROM (VALUES
  ('SELECT drivetribe.view_article(88002)'),
  ('SELECT drivetribe.view_article(88002, 311)'),
  ('SELECT drivetribe.bump(88002, 311)'),
  ('SELECT drivetribe.unbump(88002, 312)'),
  ('SELECT drivetribe.unbump(88002, 311)'),
  ('SELECT drivetribe.edit_article(88002, ''new'')'),
  ('SELECT drivetribe.edit_article(88002, ''Doomed'')'),
  ('SELECT drivetribe.post_comment(99003, 88002, 311, ''late'')')
) v(q);

-- messages name the offending value for values too
SELECT matches(pg_temp.err('SELECT drivetribe.register_user(-5, ''x'')'), '^22023 .*-5', '22023 names the id -5');
SELECT matches(pg_temp.err('SELECT drivetribe.follow_user(311, 311)'), '^22023 .*311', 'self-follow names the user');

SELECT is(pg_temp.nev(), (SELECT nev FROM _before), 'no rejected call appended an event');
SELECT is(pg_temp.proj_md5(), (SELECT md5 FROM _before), 'no rejected call changed a projection');

-- limits are inclusive, counted in characters; stored as given
SELECT ok(drivetribe.register_user(313, repeat('x', 64)) > 0, 'user name of 64 characters accepted');
SELECT ok(drivetribe.create_tribe(7302, 313, repeat('t', 100)) > 0, 'tribe name of 100 characters accepted');
SELECT ok(drivetribe.post_article(88003, 313, 7302, repeat('a', 300)) > 0, 'title of 300 characters accepted');
SELECT ok(drivetribe.post_comment(99003, 88003, 313, repeat('b', 10000)) > 0, 'body of 10000 characters accepted');
SELECT ok(drivetribe.register_user(314, 'z') > 0, 'user name of 1 character accepted');
SELECT ok(drivetribe.register_user(315, '  padded  ') > 0, 'name with surrounding blanks accepted');
SELECT is((SELECT name::text FROM drivetribe.user_stats WHERE user_id = 315), '  padded  ', 'name stored as given');
SELECT CASE WHEN current_setting('server_encoding') = 'UTF8' THEN
  ok(drivetribe.register_user(316, repeat(U&'\00e9', 64)) > 0, '64 two-byte characters accepted (characters, not bytes)')
ELSE skip('server encoding is not UTF8', 1) END;
SELECT CASE WHEN current_setting('server_encoding') = 'UTF8' THEN
  matches(pg_temp.err($$SELECT drivetribe.register_user(317, repeat(U&'\00e9', 65))$$), '^22023 ', '65 two-byte characters rejected')
ELSE skip('server encoding is not UTF8', 1) END;
SELECT ok(drivetribe.post_article(88004, 313, 7302, 'x' || repeat(' ', 299)) > 0,
          'a title with trailing blanks within its limit is accepted');

SELECT CASE WHEN current_setting('server_encoding') = 'UTF8' THEN
  matches(pg_temp.err($$SELECT drivetribe.register_user(318, U&'\00A0\3000\2003')$$), '^22023 ',
          'only Unicode white space (no-break, ideographic, em space) is blank')
ELSE skip('server encoding is not UTF8', 1) END;
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
