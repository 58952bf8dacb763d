-- Maintenance (SPEC): verify() reports every difference between the live
-- projections and a replay of the log; rebuild() recomputes the projections
-- from the log alone. Projections are corrupted here by hand (as superuser).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(37);

CREATE FUNCTION pg_temp.snap() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT 'u ' || t::text x FROM drivetribe.users t UNION ALL
    SELECT 't ' || t::text FROM drivetribe.tribes t UNION ALL
    SELECT 'a ' || t::text FROM drivetribe.articles t UNION ALL
    SELECT 'c ' || t::text FROM drivetribe.comments t UNION ALL
    SELECT 'm ' || t::text FROM drivetribe.memberships t UNION ALL
    SELECT 'f ' || t::text FROM drivetribe.follows t UNION ALL
    SELECT 'b ' || t::text FROM drivetribe.bumps t) s
$$;

-- empty log
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() on an empty log: no rows');
SELECT lives_ok('SELECT drivetribe.rebuild()', 'rebuild() on an empty log');
SELECT is(pg_temp.snap(), NULL, 'projections still empty');

-- a small world
CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) SELECT drivetribe.register_user(u, 'user' || u) FROM generate_series(1, 5) u ORDER BY u;
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(11, 2, 'Bikes'));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(3, 10));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(4, 10));
INSERT INTO _r(v) VALUES (drivetribe.leave_tribe(4, 10));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(3, 1));
INSERT INTO _r(v) VALUES (drivetribe.follow_user(4, 1));
INSERT INTO _r(v) VALUES (drivetribe.unfollow_user(4, 1));
INSERT INTO _r(v) VALUES (drivetribe.post_article(100, 1, 10, 'A'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(101, 2, 10, 'B'));
INSERT INTO _r(v) VALUES (drivetribe.post_article(102, 3, 11, 'C'));
INSERT INTO _r(v) VALUES (drivetribe.edit_article(101, 'B2'));
INSERT INTO _r(v) SELECT drivetribe.view_article(100, NULL) FROM generate_series(1, 5) ORDER BY 1;
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1000, 100, 2, 'x'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1001, 100, 3, 'y'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(1002, 102, 3, 'z'));
INSERT INTO _r(v) VALUES (drivetribe.delete_comment(1001));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(100, 3));
INSERT INTO _r(v) VALUES (drivetribe.bump(102, 2));
INSERT INTO _r(v) VALUES (drivetribe.unbump(100, 3));
INSERT INTO _r(v) VALUES (drivetribe.delete_article(102));
INSERT INTO _r(v) VALUES (drivetribe.rename_user(2, 'Bobby'));
INSERT INTO _r(v) VALUES (drivetribe.rename_tribe(11, 'Bicycles'));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 33::bigint, 'setup accepted');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify(): consistent');

-- fold the counter stripes first: rebuild() folds them (raw rows change,
-- no read does)
SELECT drivetribe.fold_stripes() AS folded \gset
CREATE TEMP TABLE _good AS SELECT pg_temp.snap() AS s, (SELECT count(*) FROM drivetribe.events) AS nev;
SELECT lives_ok('SELECT drivetribe.rebuild()', 'rebuild() of a consistent world');
SELECT is(pg_temp.snap(), (SELECT s FROM _good), 'rebuild() of a consistent world changes nothing');

-- each corruption is reported by verify() and repaired by rebuild()
-- verify() must name the projection (table) and the key of the damaged row
CREATE FUNCTION pg_temp.corrupt_and_repair(label text, proj text, key_id text, dml text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE n bigint; good bigint;
BEGIN
  EXECUTE dml;
  -- an article's rank row follows its row: a damaged article may show
  -- in article_ranks as well
  SELECT count(*), count(*) FILTER (WHERE (projection = proj OR (proj = 'articles' AND projection = 'article_ranks'))
                                      AND key ~ ('(^|[^0-9])' || key_id || '([^0-9]|$)'))
    INTO n, good FROM drivetribe.verify();
  RETURN NEXT ok(n > 0 AND good = n, format('verify() reports %s (%s %s): %s rows, %s naming it', label, proj, key_id, n, good));
  PERFORM drivetribe.rebuild();
  RETURN NEXT ok(pg_temp.snap() = (SELECT s FROM _good)
                 AND NOT EXISTS (SELECT FROM drivetribe.verify()),
                 'rebuild() repairs: ' || label);
END $$;

SELECT pg_temp.corrupt_and_repair('a user counter', 'users', '1',
  'UPDATE drivetribe.users SET comments = comments + 7 WHERE user_id = 1');
SELECT pg_temp.corrupt_and_repair('a user name', 'users', '2',
  'UPDATE drivetribe.users SET name = ''mallory'' WHERE user_id = 2');
SELECT pg_temp.corrupt_and_repair('a user registration time', 'users', '3',
  'UPDATE drivetribe.users SET registered_at = registered_at - interval ''1 day'' WHERE user_id = 3');
SELECT pg_temp.corrupt_and_repair('an article view count', 'articles', '100',
  'UPDATE drivetribe.articles SET views = 999 WHERE article_id = 100');
SELECT pg_temp.corrupt_and_repair('an article post time', 'articles', '101',
  'UPDATE drivetribe.articles SET posted_at = posted_at - interval ''1 hour'' WHERE article_id = 101');
SELECT pg_temp.corrupt_and_repair('an undeleted article', 'articles', '102',
  'UPDATE drivetribe.articles SET deleted = false WHERE article_id = 102');
SELECT pg_temp.corrupt_and_repair('a tribe name and member count', 'tribes', '10',
  'UPDATE drivetribe.tribes SET name = ''Hacked'', members = 42 WHERE tribe_id = 10');
SELECT pg_temp.corrupt_and_repair('a missing bump', 'bumps', '100',
  'DELETE FROM drivetribe.bumps WHERE article_id = 100 AND user_id = 2');
SELECT pg_temp.corrupt_and_repair('an extra follow', 'follows', '5',
  'INSERT INTO drivetribe.follows (follower_id, followee_id) VALUES (5, 1)');
SELECT pg_temp.corrupt_and_repair('a missing membership', 'memberships', '10',
  'DELETE FROM drivetribe.memberships WHERE tribe_id = 10 AND user_id = 3');
SELECT pg_temp.corrupt_and_repair('a deleted comment marked live', 'comments', '1001',
  'UPDATE drivetribe.comments SET deleted = false WHERE comment_id = 1001');
SELECT pg_temp.corrupt_and_repair('a comment body', 'comments', '1000',
  'UPDATE drivetribe.comments SET body = ''spam'' WHERE comment_id = 1000');
SELECT pg_temp.corrupt_and_repair('a user with no event', 'users', '77',
  'INSERT INTO drivetribe.users (user_id, name, registered_at) VALUES (77, ''ghost'', now())');
SELECT pg_temp.corrupt_and_repair('a missing article row', 'articles', '101',
  'DELETE FROM drivetribe.articles WHERE article_id = 101');

SELECT is((SELECT count(*) FROM drivetribe.events), (SELECT nev FROM _good), 'rebuild() and verify() appended nothing');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify(): consistent at the end');

SELECT * FROM finish();
ROLLBACK;
