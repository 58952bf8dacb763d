--
-- 85_grants: least privilege.  grant_writer / grant_reader; what a writer,
-- a reader and a role without grants can do; nobody writes the tables
-- directly; a hostile search_path does not subvert the SECURITY DEFINER
-- write functions.  Roles are cluster-wide: all are dropped at the end.
--
\pset null NULL
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_writer;
DROP ROLE IF EXISTS regress_dt_reader;
DROP ROLE IF EXISTS regress_dt_nobody;
DROP ROLE IF EXISTS regress_dt_hostile;
RESET client_min_messages;
CREATE ROLE regress_dt_writer;
CREATE ROLE regress_dt_reader;
CREATE ROLE regress_dt_nobody;
CREATE ROLE regress_dt_hostile;

-- PUBLIC can execute no function of the extension and has no privilege
-- on any of its relations.
SELECT p.oid::regprocedure AS executable_by_public
FROM pg_proc p
WHERE p.pronamespace = 'drivetribe'::regnamespace
  AND (p.proacl IS NULL
       OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
ORDER BY 1;
SELECT c.oid::regclass AS relation, a.privilege_type AS public_privilege
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'drivetribe'::regnamespace AND a.grantee = 0
ORDER BY 1, 2;

SELECT drivetribe.grant_writer('regress_dt_writer');
SELECT drivetribe.grant_reader('regress_dt_reader');
-- granting twice is harmless
SELECT drivetribe.grant_reader('regress_dt_reader');

-- dt_try(sql): run sql as the current role in a subtransaction that is
-- always rolled back; 'ALLOWED' when it succeeded, else its SQLSTATE.
CREATE FUNCTION dt_try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE q;
    RAISE EXCEPTION 'dt_try: allowed';
  EXCEPTION WHEN OTHERS THEN
    IF SQLERRM = 'dt_try: allowed' THEN
      RETURN 'ALLOWED';
    END IF;
    RETURN SQLSTATE;
  END;
END
$$;
CREATE TABLE dt_calls (n int, api text, call text);
INSERT INTO dt_calls VALUES
  (1, 'read', 'SELECT count(*) FROM drivetribe.article_view'),
  (2, 'read', 'SELECT count(*) FROM drivetribe.user_stats'),
  (3, 'read', 'SELECT count(*) FROM drivetribe.tribe_stats'),
  (4, 'read', 'SELECT count(*) FROM drivetribe.article(100)'),
  (5, 'read', 'SELECT count(*) FROM drivetribe.feed(1)'),
  (6, 'read', 'SELECT count(*) FROM drivetribe.tribe_feed(10)'),
  (7, 'read', 'SELECT count(*) FROM drivetribe.article_comments(101)'),
  (8, 'read', 'SELECT drivetribe.has_bumped(101, 1)'),
  (11, 'write', 'SELECT drivetribe.register_user(41, ''x'')'),
  (12, 'write', 'SELECT drivetribe.rename_user(1, ''x'')'),
  (13, 'write', 'SELECT drivetribe.create_tribe(41, 1, ''x'')'),
  (14, 'write', 'SELECT drivetribe.rename_tribe(10, ''x'')'),
  (15, 'write', 'SELECT drivetribe.join_tribe(6, 10)'),
  (16, 'write', 'SELECT drivetribe.leave_tribe(3, 10)'),
  (17, 'write', 'SELECT drivetribe.follow_user(6, 1)'),
  (18, 'write', 'SELECT drivetribe.unfollow_user(4, 1)'),
  (19, 'write', 'SELECT drivetribe.post_article(410, 1, 10, ''x'')'),
  (20, 'write', 'SELECT drivetribe.edit_article(100, ''x'')'),
  (21, 'write', 'SELECT drivetribe.delete_article(100)'),
  (22, 'write', 'SELECT drivetribe.view_article(100)'),
  (23, 'write', 'SELECT drivetribe.post_comment(4100, 100, 1, ''x'')'),
  (24, 'write', 'SELECT drivetribe.delete_comment(1000)'),
  (25, 'write', 'SELECT drivetribe.bump(100, 6)'),
  (26, 'write', 'SELECT drivetribe.unbump(100, 4)'),
  (31, 'maintenance', 'SELECT drivetribe.rebuild()'),
  (32, 'maintenance', 'SELECT drivetribe.grant_writer(''regress_dt_nobody'')'),
  (33, 'maintenance', 'SELECT drivetribe.grant_reader(''regress_dt_nobody'')'),
  (34, 'maintenance', 'SELECT drivetribe.schedule_maintenance()'),
  (35, 'maintenance', 'SELECT drivetribe.unschedule_maintenance()');
GRANT SELECT ON dt_calls TO PUBLIC;
-- dt_direct_writes(): try INSERT/UPDATE/DELETE/TRUNCATE on every table and
-- view of the extension, nextval/setval on every sequence, as the current role.
CREATE FUNCTION dt_direct_writes() RETURNS TABLE (rel text, op text, result text)
LANGUAGE plpgsql AS $$
DECLARE
  c record;
  col text;
BEGIN
  FOR c IN SELECT k.oid::regclass AS r, k.relkind FROM pg_class k
           WHERE k.relnamespace = 'drivetribe'::regnamespace
             AND k.relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY k.relname
  LOOP
    rel := c.r::text;
    IF c.relkind = 'S' THEN
      op := 'nextval'; result := public.dt_try(format('SELECT nextval(%L)', c.r)); RETURN NEXT;
      op := 'setval';  result := public.dt_try(format('SELECT setval(%L, 1)', c.r)); RETURN NEXT;
      CONTINUE;
    END IF;
    SELECT quote_ident(a.attname) INTO col FROM pg_attribute a
    WHERE a.attrelid = c.r AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1;
    op := 'INSERT'; result := public.dt_try(format('INSERT INTO %s DEFAULT VALUES', c.r)); RETURN NEXT;
    op := 'UPDATE'; result := public.dt_try(format('UPDATE %s SET %s = %s', c.r, col, col)); RETURN NEXT;
    op := 'DELETE'; result := public.dt_try(format('DELETE FROM %s', c.r)); RETURN NEXT;
    IF c.relkind IN ('r', 'p') THEN
      op := 'TRUNCATE'; result := public.dt_try(format('TRUNCATE %s', c.r)); RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

SELECT dt_mark() IS NOT NULL AS marked;

-- The writer calls the write and read API.
SET ROLE regress_dt_writer;
SELECT * FROM dt_ev(drivetribe.register_user(40, 'wendy'));
SELECT * FROM dt_ev(drivetribe.join_tribe(40, 10));
SELECT * FROM dt_ev(drivetribe.follow_user(40, 3));
SELECT * FROM dt_ev(drivetribe.post_article(400, 40, 10, 'Written by a writer'));
SELECT * FROM dt_ev(drivetribe.view_article(400, 1));
SELECT * FROM dt_ev(drivetribe.bump(400, 1));
SELECT * FROM dt_ev(drivetribe.post_comment(4000, 400, 1, 'Welcome'));
SELECT article_id, author_name, tribe_name, title, views, comments, bumps
FROM drivetribe.article_view WHERE article_id = 400;
SELECT article_id FROM drivetribe.article(400);
SELECT comment_id, author_name, body FROM drivetribe.article_comments(400);
SELECT name, articles, tribes, following FROM drivetribe.user_stats WHERE user_id = 40;
SELECT name, members, articles FROM drivetribe.tribe_stats WHERE tribe_id = 10;
SELECT drivetribe.has_bumped(400, 1) AS bumped;
-- errors come through as for the owner
SELECT drivetribe.register_user(40, 'wendy');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT api, call, dt_try(call) AS result FROM dt_calls ORDER BY n;
SELECT * FROM dt_direct_writes() WHERE result <> '42501' ORDER BY 1, 2;
UPDATE drivetribe.events SET kind = kind;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
DELETE FROM drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
TRUNCATE drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
RESET ROLE;

-- The reader reads; every write and maintenance call is 42501.
SET ROLE regress_dt_reader;
SELECT article_id, title FROM drivetribe.article_view WHERE article_id = 400;
SELECT drivetribe.view_article(400);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(41, 'rita');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT api, call, dt_try(call) AS result FROM dt_calls ORDER BY n;
SELECT * FROM dt_direct_writes() WHERE result <> '42501' ORDER BY 1, 2;
RESET ROLE;

-- A role without grants can call nothing.
SET ROLE regress_dt_nobody;
SELECT count(*) FROM drivetribe.article_view;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(42, 'nobody');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT api, call, dt_try(call) AS result FROM dt_calls ORDER BY n;
SELECT * FROM dt_direct_writes() WHERE result <> '42501' ORDER BY 1, 2;
RESET ROLE;
SELECT dt_unchanged() AS unchanged;

-- A hostile writer: CREATE on a schema put before pg_catalog in its
-- search_path, with a lying "=" and friends that log who called them, and
-- shadow tables (in that schema and as temp tables).
CREATE SCHEMA dt_evil;
GRANT USAGE, CREATE ON SCHEMA dt_evil TO regress_dt_hostile;
CREATE TABLE dt_evil.pwned (who text, what text);
GRANT ALL ON dt_evil.pwned TO PUBLIC;
SELECT drivetribe.grant_writer('regress_dt_hostile');
SET ROLE regress_dt_hostile;
CREATE FUNCTION dt_evil.lie(what text) RETURNS void LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO dt_evil.pwned VALUES (current_user, what); END $$;
CREATE FUNCTION dt_evil.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('bigint = bigint'); RETURN true; END $$;
CREATE OPERATOR dt_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = dt_evil.eq);
CREATE FUNCTION dt_evil.eq(bigint, integer) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('bigint = integer'); RETURN true; END $$;
CREATE OPERATOR dt_evil.= (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = dt_evil.eq);
CREATE FUNCTION dt_evil.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('text = text'); RETURN true; END $$;
CREATE OPERATOR dt_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = dt_evil.eq);
CREATE FUNCTION dt_evil.eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('uuid = uuid'); RETURN true; END $$;
CREATE OPERATOR dt_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = dt_evil.eq);
CREATE FUNCTION dt_evil.ne(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('bigint <> bigint'); RETURN false; END $$;
CREATE OPERATOR dt_evil.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = dt_evil.ne);
CREATE FUNCTION dt_evil.plus(bigint, integer) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('bigint + integer'); RETURN 1000; END $$;
CREATE OPERATOR dt_evil.+ (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = dt_evil.plus);
CREATE FUNCTION dt_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('now()'); RETURN '2000-01-01'; END $$;
CREATE FUNCTION dt_evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('clock_timestamp()'); RETURN '2000-01-01'; END $$;
CREATE FUNCTION dt_evil.length(text) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('length(text)'); RETURN 1; END $$;
CREATE FUNCTION dt_evil.char_length(text) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('char_length(text)'); RETURN 1; END $$;
CREATE FUNCTION dt_evil.btrim(text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('btrim(text)'); RETURN 'x'; END $$;
CREATE FUNCTION dt_evil.lower(text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('lower(text)'); RETURN 'x'; END $$;
CREATE FUNCTION dt_evil.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('gen_random_uuid()'); RETURN '00000000-0000-0000-0000-000000000000'; END $$;
CREATE FUNCTION dt_evil.nextval(regclass) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('nextval(regclass)'); RETURN 1; END $$;
CREATE FUNCTION dt_evil.log10(double precision) RETURNS double precision LANGUAGE plpgsql AS
$$ BEGIN PERFORM dt_evil.lie('log10(float8)'); RETURN 1000; END $$;
CREATE TABLE dt_evil.events (x int);
CREATE TABLE dt_evil.users (x int);
CREATE TABLE dt_evil.tribes (x int);
CREATE TABLE dt_evil.articles (x int);
CREATE TABLE dt_evil.comments (x int);
CREATE TABLE dt_evil.memberships (x int);
CREATE TABLE dt_evil.follows (x int);
CREATE TABLE dt_evil.bumps (x int);
CREATE TEMP TABLE events (x int);
CREATE TEMP TABLE users (x int);
CREATE TEMP TABLE tribes (x int);
CREATE TEMP TABLE articles (x int);
CREATE TEMP TABLE comments (x int);
CREATE TEMP TABLE memberships (x int);
CREATE TEMP TABLE follows (x int);
CREATE TEMP TABLE bumps (x int);
SET search_path = pg_temp, dt_evil, pg_catalog, public;
-- the traps are armed for unqualified SQL:
SELECT 1::bigint = 2::bigint AS one_equals_two, length('abc') AS length_abc,
       (SELECT count(*) FROM events) AS events_seen_unqualified;
SELECT count(*) AS trap_calls FROM dt_evil.pwned;
DELETE FROM dt_evil.pwned;
-- every write function, as the hostile writer
SELECT * FROM dt_ev(drivetribe.register_user(50, 'mallory'));
SELECT * FROM dt_ev(drivetribe.rename_user(50, 'mal'));
SELECT * FROM dt_ev(drivetribe.rename_user(50, 'mal'));
SELECT * FROM dt_ev(drivetribe.create_tribe(50, 50, 'Evil'));
SELECT * FROM dt_ev(drivetribe.rename_tribe(50, 'Evil Inc'));
SELECT * FROM dt_ev(drivetribe.join_tribe(50, 10));
SELECT * FROM dt_ev(drivetribe.join_tribe(50, 10));
SELECT * FROM dt_ev(drivetribe.leave_tribe(50, 50));
SELECT * FROM dt_ev(drivetribe.follow_user(50, 1));
SELECT * FROM dt_ev(drivetribe.follow_user(50, 1));
SELECT * FROM dt_ev(drivetribe.unfollow_user(50, 1));
SELECT * FROM dt_ev(drivetribe.post_article(500, 50, 10, 'Evil plans'));
SELECT * FROM dt_ev(drivetribe.edit_article(500, 'Evil plans, v2'));
SELECT * FROM dt_ev(drivetribe.view_article(500));
SELECT * FROM dt_ev(drivetribe.view_article(500, 50));
SELECT * FROM dt_ev(drivetribe.bump(500, 50));
SELECT * FROM dt_ev(drivetribe.bump(500, 50));
SELECT * FROM dt_ev(drivetribe.bump(500, 1));
SELECT * FROM dt_ev(drivetribe.unbump(500, 1));
SELECT * FROM dt_ev(drivetribe.post_comment(5000, 500, 50, 'Muahaha'));
SELECT * FROM dt_ev(drivetribe.post_comment(5001, 500, 50, 'Muahaha again'));
SELECT * FROM dt_ev(drivetribe.delete_comment(5001));
SELECT * FROM dt_ev(drivetribe.follow_user(50, 2, event_id => 'b0000000-0000-4000-8000-000000000001'));
SELECT * FROM dt_ev(drivetribe.follow_user(50, 2, event_id => 'b0000000-0000-4000-8000-000000000001'));
-- (terse: the DETAIL names a seq that depends on the tests before)
\set VERBOSITY terse
SELECT drivetribe.follow_user(50, 3, event_id => 'b0000000-0000-4000-8000-000000000001');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
\set VERBOSITY default
SELECT drivetribe.register_user(50, 'mallory');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(51, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(51, repeat('m', 65));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.follow_user(50, 50);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.bump(999, 50);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.view_article(105);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT * FROM dt_ev(drivetribe.delete_article(500));
SELECT * FROM dt_ev(drivetribe.post_article(501, 50, 10, 'Still here'));
-- the read API under the same search_path
SELECT count(*) AS comments FROM drivetribe.article_comments(500);
SELECT count(*) AS comments FROM drivetribe.article_comments(501);
SELECT drivetribe.has_bumped(501, 50) AS bumped;
SELECT article_id, title FROM drivetribe.article(501);
RESET ROLE;
RESET search_path;
-- nothing was subverted: no trap fired, no shadow table written, the role
-- gained nothing, and the projections are consistent.
SELECT who, what, count(*) FROM dt_evil.pwned GROUP BY 1, 2 ORDER BY 1, 2;
SELECT (SELECT count(*) FROM dt_evil.events) + (SELECT count(*) FROM dt_evil.users)
     + (SELECT count(*) FROM dt_evil.tribes) + (SELECT count(*) FROM dt_evil.articles)
     + (SELECT count(*) FROM dt_evil.comments) + (SELECT count(*) FROM dt_evil.memberships)
     + (SELECT count(*) FROM dt_evil.follows) + (SELECT count(*) FROM dt_evil.bumps) AS shadow_rows,
       (SELECT count(*) FROM pg_temp.events) + (SELECT count(*) FROM pg_temp.users)
     + (SELECT count(*) FROM pg_temp.tribes) + (SELECT count(*) FROM pg_temp.articles)
     + (SELECT count(*) FROM pg_temp.comments) + (SELECT count(*) FROM pg_temp.memberships)
     + (SELECT count(*) FROM pg_temp.follows) + (SELECT count(*) FROM pg_temp.bumps) AS temp_rows;
SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = 'regress_dt_hostile';
SELECT kind, user_id, tribe_id, article_id, comment_id, target_id, recipient_id, body,
       occurred_at > '2001-01-01' AS real_time,
       event_id <> '00000000-0000-0000-0000-000000000000' AS real_event_id
FROM drivetribe.events WHERE user_id = 50 OR tribe_id = 50 OR article_id IN (500, 501) ORDER BY seq;
SELECT name, articles, comments, bumps_given, bumps_received, followers, following, tribes
FROM drivetribe.user_stats WHERE user_id = 50;
SELECT name, owner_id, members, articles FROM drivetribe.tribe_stats WHERE tribe_id = 50;
SELECT article_id, title, views, comments, bumps,
       round((score - extract(epoch FROM posted_at)::float8 / 45000)::numeric, 6) AS score_log
FROM drivetribe.article_view WHERE article_id IN (500, 501) ORDER BY article_id;
SELECT * FROM drivetribe.verify();

-- Clean up: objects, privileges and roles.
SET client_min_messages = warning;
DROP SCHEMA dt_evil CASCADE;
DISCARD TEMP;
DROP FUNCTION dt_direct_writes();
DROP FUNCTION dt_try(text);
DROP TABLE dt_calls;
DROP OWNED BY regress_dt_writer, regress_dt_reader, regress_dt_nobody, regress_dt_hostile;
DROP ROLE regress_dt_writer;
DROP ROLE regress_dt_reader;
DROP ROLE regress_dt_nobody;
DROP ROLE regress_dt_hostile;
RESET client_min_messages;
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname LIKE 'regress_dt_%';
