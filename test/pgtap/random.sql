-- Randomized test: a seeded PL/pgSQL loop drives 10,000 mixed write calls
-- (valid and invalid), each in its own BEGIN .. EXCEPTION block, against an
-- independent model of the world kept in temp tables by this test.
--
-- Per call: the outcome (new seq / NULL / first seq of an event_id replay /
-- SQLSTATE) must be what SPEC and docs/design.md say given the model; errors
-- only ever carry SPEC's SQLSTATEs; a failed or no-op call appends nothing;
-- a new seq is the new log head, of the right kind, carrying the caller's
-- event_id and the recipient SPEC asks for.
-- At the end: projections equal the model, verify() is empty, and rebuild()
-- reproduces every projection table exactly.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(36);

-- ---------------------------------------------------------------- model
CREATE TEMP TABLE m_users    (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TEMP TABLE m_tribes   (id bigint PRIMARY KEY, owner bigint NOT NULL, name text NOT NULL);
CREATE TEMP TABLE m_articles (id bigint PRIMARY KEY, author bigint NOT NULL, tribe bigint NOT NULL,
                              title text NOT NULL, deleted boolean NOT NULL DEFAULT false,
                              views bigint NOT NULL DEFAULT 0);
CREATE TEMP TABLE m_comments (id bigint PRIMARY KEY, article bigint NOT NULL, author bigint NOT NULL,
                              body text NOT NULL, deleted boolean NOT NULL DEFAULT false);
CREATE TEMP TABLE m_members  (tribe bigint, usr bigint, PRIMARY KEY (tribe, usr));
CREATE TEMP TABLE m_follows  (follower bigint, followee bigint, PRIMARY KEY (follower, followee));
CREATE TEMP TABLE m_bumps    (article bigint, usr bigint, PRIMARY KEY (article, usr));
CREATE TEMP TABLE m_eids     (k_eid uuid PRIMARY KEY, k_fn text, k_a1 bigint, k_a2 bigint, k_a3 bigint, k_t text, k_seq bigint);
-- one row per call, and one row per problem found
CREATE TEMP TABLE r_calls    (n int PRIMARY KEY, fn text, retry boolean, expected text, actual text);
CREATE TEMP TABLE r_problems (n int, fn text, a1 bigint, a2 bigint, a3 bigint, t text, tlen int,
                              eid uuid, expected text, actual text, msg text, problem text);

CREATE FUNCTION pg_temp.kind_of(fn text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE fn
    WHEN 'register_user' THEN 'user_registered'  WHEN 'rename_user'    THEN 'user_renamed'
    WHEN 'create_tribe'  THEN 'tribe_created'    WHEN 'rename_tribe'   THEN 'tribe_renamed'
    WHEN 'join_tribe'    THEN 'tribe_joined'     WHEN 'leave_tribe'    THEN 'tribe_left'
    WHEN 'follow_user'   THEN 'user_followed'    WHEN 'unfollow_user'  THEN 'user_unfollowed'
    WHEN 'post_article'  THEN 'article_posted'   WHEN 'edit_article'   THEN 'article_edited'
    WHEN 'delete_article' THEN 'article_deleted' WHEN 'view_article'   THEN 'article_viewed'
    WHEN 'post_comment'  THEN 'comment_posted'   WHEN 'delete_comment' THEN 'comment_deleted'
    WHEN 'bump'          THEN 'article_bumped'   WHEN 'unbump'         THEN 'article_unbumped' END $$;

-- a random element of arr (90%), else a random id in 1..maxv (maybe unknown)
CREATE FUNCTION pg_temp.pick(arr bigint[], maxv int) RETURNS bigint LANGUAGE sql AS $$
  SELECT CASE WHEN cardinality(arr) > 0 AND random() < 0.9
              THEN arr[1 + floor(random() * cardinality(arr))::int]
              ELSE 1 + floor(random() * maxv)::bigint END $$;

CREATE FUNCTION pg_temp.rand_uuid() RETURNS uuid LANGUAGE sql AS $$
  SELECT md5(random()::text || random()::text)::uuid $$;

-- ---------------------------------------------------------------- the loop
DO $loop$
DECLARE
  n_calls   CONSTANT int := 10000;
  max_u     CONSTANT int := 60;
  max_t     CONSTANT int := 25;
  max_a     CONSTANT int := 450;
  max_c     CONSTANT int := 1500;
  utf8      CONSTANT boolean := current_setting('server_encoding') = 'UTF8';
  fns       CONSTANT text[] := ARRAY['register_user', 'rename_user', 'create_tribe', 'rename_tribe',
                                     'join_tribe', 'leave_tribe', 'follow_user', 'unfollow_user',
                                     'post_article', 'edit_article', 'delete_article', 'view_article',
                                     'post_comment', 'delete_comment', 'bump', 'unbump'];
  -- cumulative weights (per mille) for fns
  cum       CONSTANT int[] := ARRAY[40, 70, 100, 115, 195, 235, 305, 335, 435, 465, 480, 615, 735, 775, 915, 1000];
  known_u   bigint[] := '{}';
  known_t   bigint[] := '{}';
  known_a   bigint[] := '{}';
  known_c   bigint[] := '{}';
  eids      uuid[]   := '{}';
  i int; j int; w int; x float8;
  fn text; a1 bigint; a2 bigint; a3 bigint; t text; eid uuid; retry boolean;
  has_a2 boolean; has_a3 boolean; has_t boolean; a2_opt boolean; tlim int;
  expected text; actual text; res bigint; st text; msg text; problem text;
  head0 bigint; head1 bigint; ev record; rec record; want_recipient bigint;
  cur text; flag boolean;
BEGIN
  PERFORM setseed(0.4242);
  FOR i IN 1 .. n_calls LOOP
    a1 := NULL; a2 := NULL; a3 := NULL; t := NULL; eid := NULL; retry := false;

    IF cardinality(eids) > 0 AND random() < 0.04 THEN
      -- retry a logged call by its event_id: same args, or one arg changed
      eid := eids[1 + floor(random() * cardinality(eids))::int];
      SELECT * INTO STRICT rec FROM m_eids WHERE k_eid = eid;
      fn := rec.k_fn; a1 := rec.k_a1; a2 := rec.k_a2; a3 := rec.k_a3; t := rec.k_t; eid := rec.k_eid; retry := true;
      x := random();
      IF x < 0.25 THEN
        a1 := a1 + 1;
      ELSIF x < 0.4 AND t IS NOT NULL THEN
        t := t || '!';
      ELSIF x < 0.5 AND fn = 'view_article' THEN
        a2 := CASE WHEN a2 IS NULL THEN pg_temp.pick(known_u, max_u) ELSE NULL END;
      END IF;
    ELSE
      w := floor(random() * 1000)::int;
      j := 1;
      WHILE w >= cum[j] LOOP j := j + 1; END LOOP;
      fn := fns[j];
      CASE fn
        WHEN 'register_user' THEN a1 := 1 + floor(random() * max_u); t := 'user ' || floor(random() * 3);
        WHEN 'rename_user'   THEN a1 := pg_temp.pick(known_u, max_u); t := 'user ' || floor(random() * 3);
        WHEN 'create_tribe'  THEN a1 := 1 + floor(random() * max_t); a2 := pg_temp.pick(known_u, max_u);
                                  t := 'tribe ' || floor(random() * 3);
        WHEN 'rename_tribe'  THEN a1 := pg_temp.pick(known_t, max_t); t := 'tribe ' || floor(random() * 3);
        WHEN 'join_tribe', 'leave_tribe' THEN
                                  a1 := pg_temp.pick(known_u, max_u); a2 := pg_temp.pick(known_t, max_t);
          IF fn = 'leave_tribe' AND random() < 0.4 THEN   -- often an existing membership
            j := floor(random() * (SELECT count(*) FROM m_members))::int;
            SELECT usr, tribe INTO a1, a2 FROM m_members ORDER BY tribe, usr OFFSET j LIMIT 1;
            IF NOT FOUND THEN a1 := pg_temp.pick(known_u, max_u); a2 := pg_temp.pick(known_t, max_t); END IF;
          END IF;
        WHEN 'follow_user', 'unfollow_user' THEN
                                  a1 := pg_temp.pick(known_u, max_u); a2 := pg_temp.pick(known_u, max_u);
          IF fn = 'unfollow_user' AND random() < 0.5 THEN   -- often an existing follow
            j := floor(random() * (SELECT count(*) FROM m_follows))::int;
            SELECT follower, followee INTO a1, a2 FROM m_follows ORDER BY follower, followee OFFSET j LIMIT 1;
            IF NOT FOUND THEN a1 := pg_temp.pick(known_u, max_u); a2 := pg_temp.pick(known_u, max_u); END IF;
          END IF;
        WHEN 'post_article'  THEN a1 := 1 + floor(random() * max_a); a2 := pg_temp.pick(known_u, max_u);
                                  a3 := pg_temp.pick(known_t, max_t); t := 'title ' || floor(random() * 3);
        WHEN 'edit_article'  THEN a1 := pg_temp.pick(known_a, max_a); t := 'title ' || floor(random() * 3);
        WHEN 'delete_article' THEN a1 := pg_temp.pick(known_a, max_a);
        WHEN 'view_article'  THEN a1 := pg_temp.pick(known_a, max_a);
                                  IF random() < 0.6 THEN a2 := pg_temp.pick(known_u, max_u); END IF;
        WHEN 'post_comment'  THEN a1 := 1 + floor(random() * max_c); a2 := pg_temp.pick(known_a, max_a);
                                  a3 := pg_temp.pick(known_u, max_u); t := 'comment ' || floor(random() * 5);
        WHEN 'delete_comment' THEN a1 := pg_temp.pick(known_c, max_c);
        WHEN 'bump', 'unbump' THEN a1 := pg_temp.pick(known_a, max_a); a2 := pg_temp.pick(known_u, max_u);
          IF fn = 'unbump' AND random() < 0.5 THEN   -- mostly an existing bump
            j := floor(random() * (SELECT count(*) FROM m_bumps))::int;
            SELECT article, usr INTO a1, a2 FROM m_bumps ORDER BY article, usr OFFSET j LIMIT 1;
            IF NOT FOUND THEN a1 := pg_temp.pick(known_a, max_a); a2 := pg_temp.pick(known_u, max_u); END IF;
          END IF;
      END CASE;
    END IF;

    has_a2 := fn IN ('create_tribe', 'join_tribe', 'leave_tribe', 'follow_user', 'unfollow_user',
                     'post_article', 'view_article', 'post_comment', 'bump', 'unbump');
    a2_opt := fn = 'view_article';
    has_a3 := fn IN ('post_article', 'post_comment');
    has_t  := fn IN ('register_user', 'rename_user', 'create_tribe', 'rename_tribe',
                     'post_article', 'edit_article', 'post_comment');
    tlim   := CASE WHEN fn IN ('register_user', 'rename_user') THEN 64
                   WHEN fn IN ('create_tribe', 'rename_tribe') THEN 100
                   WHEN fn IN ('post_article', 'edit_article') THEN 300
                   WHEN fn = 'post_comment' THEN 10000 END;

    IF NOT retry THEN
      -- perturb: NULLs, bad values, edge values, self-follows, event_ids
      x := random();
      IF x < 0.02 THEN
        j := 1 + floor(random() * 4)::int;
        IF j = 1 THEN a1 := NULL;
        ELSIF j = 2 AND has_a2 THEN a2 := NULL;
        ELSIF j = 3 AND has_a3 THEN a3 := NULL;
        ELSIF has_t THEN t := NULL;
        ELSE a1 := NULL; END IF;
      ELSIF x < 0.05 THEN
        IF has_t AND random() < 0.6 THEN
          j := floor(random() * 6)::int;
          t := CASE j WHEN 0 THEN '' WHEN 1 THEN ' ' WHEN 2 THEN E'\t\n \r'
                      WHEN 3 THEN repeat('x', tlim + 1)
                      WHEN 4 THEN CASE WHEN utf8 THEN repeat(U&'\00e9', tlim + 1) ELSE repeat('y', tlim + 1) END
                      ELSE repeat(' ', tlim) END;
        ELSE
          j := 1 + floor(random() * 3)::int;
          IF j = 2 AND has_a2 AND a2 IS NOT NULL THEN a2 := -floor(random() * 3);
          ELSIF j = 3 AND has_a3 THEN a3 := 0;
          ELSE a1 := CASE WHEN random() < 0.5 THEN 0 ELSE -1 - floor(random() * 100) END; END IF;
        END IF;
      ELSIF x < 0.07 AND has_t THEN
        j := floor(random() * 3)::int;
        t := CASE j WHEN 0 THEN repeat('m', tlim)
                    WHEN 1 THEN CASE WHEN utf8 THEN repeat(U&'\00e9', tlim) ELSE repeat('n', tlim) END
                    ELSE '  padded ' || floor(random() * 2) || E'\t' END;
      END IF;
      IF fn IN ('follow_user', 'unfollow_user') AND random() < 0.05 THEN a2 := a1; END IF;
      x := random();
      IF x < 0.15 THEN
        eid := pg_temp.rand_uuid();
      ELSIF x < 0.18 AND cardinality(eids) > 0 THEN
        eid := eids[1 + floor(random() * cardinality(eids))::int];   -- reused with other args
      END IF;
    END IF;

    -- ---------------- what SPEC + design say must happen
    expected := NULL;
    IF a1 IS NULL OR (has_a2 AND NOT a2_opt AND a2 IS NULL) OR (has_a3 AND a3 IS NULL) OR (has_t AND t IS NULL) THEN
      expected := 'E22004';
    ELSIF a1 <= 0 OR a2 <= 0 OR a3 <= 0
       OR (has_t AND (char_length(t) < 1 OR char_length(t) > tlim OR t ~ '^[[:space:]]*$'))
       OR (fn IN ('follow_user', 'unfollow_user') AND a1 = a2) THEN
      expected := 'E22023';
    ELSIF eid IS NOT NULL AND EXISTS (SELECT FROM m_eids WHERE k_eid = eid) THEN
      SELECT CASE WHEN k_fn = fn AND k_a1 IS NOT DISTINCT FROM a1 AND k_a2 IS NOT DISTINCT FROM a2
                   AND k_a3 IS NOT DISTINCT FROM a3 AND k_t IS NOT DISTINCT FROM t
                  THEN 'R' || k_seq ELSE 'E23505' END
        INTO expected FROM m_eids WHERE k_eid = eid;
    ELSE
      CASE fn
        WHEN 'register_user' THEN
          expected := CASE WHEN EXISTS (SELECT FROM m_users WHERE id = a1) THEN 'E23505' ELSE 'S' END;
        WHEN 'rename_user' THEN
          SELECT name INTO cur FROM m_users WHERE id = a1;
          expected := CASE WHEN NOT FOUND THEN 'E23503' WHEN cur = t THEN 'N' ELSE 'S' END;
        WHEN 'create_tribe' THEN
          expected := CASE WHEN NOT EXISTS (SELECT FROM m_users WHERE id = a2) THEN 'E23503'
                           WHEN EXISTS (SELECT FROM m_tribes WHERE id = a1) THEN 'E23505' ELSE 'S' END;
        WHEN 'rename_tribe' THEN
          SELECT name INTO cur FROM m_tribes WHERE id = a1;
          expected := CASE WHEN NOT FOUND THEN 'E23503' WHEN cur = t THEN 'N' ELSE 'S' END;
        WHEN 'join_tribe', 'leave_tribe' THEN
          IF NOT EXISTS (SELECT FROM m_users WHERE id = a1) OR NOT EXISTS (SELECT FROM m_tribes WHERE id = a2) THEN
            expected := 'E23503';
          ELSE
            flag := EXISTS (SELECT FROM m_members WHERE tribe = a2 AND usr = a1);
            expected := CASE WHEN flag = (fn = 'join_tribe') THEN 'N' ELSE 'S' END;
          END IF;
        WHEN 'follow_user', 'unfollow_user' THEN
          IF NOT EXISTS (SELECT FROM m_users WHERE id = a1) OR NOT EXISTS (SELECT FROM m_users WHERE id = a2) THEN
            expected := 'E23503';
          ELSE
            flag := EXISTS (SELECT FROM m_follows WHERE follower = a1 AND followee = a2);
            expected := CASE WHEN flag = (fn = 'follow_user') THEN 'N' ELSE 'S' END;
          END IF;
        WHEN 'post_article' THEN
          expected := CASE WHEN NOT EXISTS (SELECT FROM m_users WHERE id = a2)
                             OR NOT EXISTS (SELECT FROM m_tribes WHERE id = a3) THEN 'E23503'
                           WHEN EXISTS (SELECT FROM m_articles WHERE id = a1) THEN 'E23505' ELSE 'S' END;
        WHEN 'edit_article' THEN
          SELECT title, deleted INTO cur, flag FROM m_articles WHERE id = a1;
          expected := CASE WHEN NOT FOUND THEN 'E23503' WHEN flag THEN 'E55000' WHEN cur = t THEN 'N' ELSE 'S' END;
        WHEN 'delete_article' THEN
          SELECT deleted INTO flag FROM m_articles WHERE id = a1;
          expected := CASE WHEN NOT FOUND THEN 'E23503' WHEN flag THEN 'N' ELSE 'S' END;
        WHEN 'view_article' THEN
          SELECT deleted INTO flag FROM m_articles WHERE id = a1;
          expected := CASE WHEN NOT FOUND THEN 'E23503'
                           WHEN a2 IS NOT NULL AND NOT EXISTS (SELECT FROM m_users WHERE id = a2) THEN 'E23503'
                           WHEN flag THEN 'E55000' ELSE 'S' END;
        WHEN 'post_comment' THEN
          SELECT deleted INTO flag FROM m_articles WHERE id = a2;
          expected := CASE WHEN NOT FOUND THEN 'E23503'
                           WHEN NOT EXISTS (SELECT FROM m_users WHERE id = a3) THEN 'E23503'
                           WHEN EXISTS (SELECT FROM m_comments WHERE id = a1) THEN 'E23505'
                           WHEN flag THEN 'E55000' ELSE 'S' END;
        WHEN 'delete_comment' THEN
          SELECT deleted INTO flag FROM m_comments WHERE id = a1;
          expected := CASE WHEN NOT FOUND THEN 'E23503' WHEN flag THEN 'N' ELSE 'S' END;
        WHEN 'bump', 'unbump' THEN
          SELECT deleted INTO flag FROM m_articles WHERE id = a1;
          IF NOT FOUND OR NOT EXISTS (SELECT FROM m_users WHERE id = a2) THEN
            expected := 'E23503';
          ELSIF flag THEN
            expected := 'E55000';
          ELSE
            flag := EXISTS (SELECT FROM m_bumps WHERE article = a1 AND usr = a2);
            expected := CASE WHEN flag = (fn = 'bump') THEN 'N' ELSE 'S' END;
          END IF;
      END CASE;
    END IF;

    -- ---------------- the call
    head0 := coalesce((SELECT max(seq) FROM drivetribe.events), 0);
    res := NULL; msg := NULL; st := NULL;
    BEGIN
      CASE fn
        WHEN 'register_user'  THEN res := drivetribe.register_user(a1, t, eid);
        WHEN 'rename_user'    THEN res := drivetribe.rename_user(a1, t, eid);
        WHEN 'create_tribe'   THEN res := drivetribe.create_tribe(a1, a2, t, eid);
        WHEN 'rename_tribe'   THEN res := drivetribe.rename_tribe(a1, t, eid);
        WHEN 'join_tribe'     THEN res := drivetribe.join_tribe(a1, a2, eid);
        WHEN 'leave_tribe'    THEN res := drivetribe.leave_tribe(a1, a2, eid);
        WHEN 'follow_user'    THEN res := drivetribe.follow_user(a1, a2, eid);
        WHEN 'unfollow_user'  THEN res := drivetribe.unfollow_user(a1, a2, eid);
        WHEN 'post_article'   THEN res := drivetribe.post_article(a1, a2, a3, t, eid);
        WHEN 'edit_article'   THEN res := drivetribe.edit_article(a1, t, eid);
        WHEN 'delete_article' THEN res := drivetribe.delete_article(a1, eid);
        WHEN 'view_article'   THEN res := drivetribe.view_article(a1, a2, eid);
        WHEN 'post_comment'   THEN res := drivetribe.post_comment(a1, a2, a3, t, eid);
        WHEN 'delete_comment' THEN res := drivetribe.delete_comment(a1, eid);
        WHEN 'bump'           THEN res := drivetribe.bump(a1, a2, eid);
        WHEN 'unbump'         THEN res := drivetribe.unbump(a1, a2, eid);
      END CASE;
      actual := CASE WHEN res IS NULL THEN 'N' WHEN res <= head0 THEN 'R' || res ELSE 'S' END;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
      actual := 'E' || st;
    END;
    head1 := coalesce((SELECT max(seq) FROM drivetribe.events), 0);

    -- ---------------- per-call checks
    problem := NULL;
    IF st IS NOT NULL AND st NOT IN ('22004', '22023', '23503', '23505', '55000') THEN
      problem := 'unexpected sqlstate';
    ELSIF st IS NOT NULL AND head1 <> head0 THEN
      problem := 'failed call appended';
    ELSIF actual = 'N' AND head1 <> head0 THEN
      problem := 'no-op appended';
    ELSIF actual LIKE 'R%' AND head1 <> head0 THEN
      problem := 'replay appended';
    ELSIF actual = 'S' THEN
      SELECT * INTO ev FROM drivetribe.events WHERE seq = res;
      want_recipient := CASE fn
        WHEN 'bump'         THEN (SELECT author FROM m_articles WHERE id = a1)
        WHEN 'post_comment' THEN (SELECT author FROM m_articles WHERE id = a2)
        WHEN 'follow_user'  THEN a2
        WHEN 'join_tribe'   THEN (SELECT owner FROM m_tribes WHERE id = a2) END;
      IF res <> head1 OR res <= head0 THEN
        problem := 'new seq is not the new log head';
      ELSIF (SELECT count(*) FROM drivetribe.events WHERE seq > head0) <> 1 THEN
        problem := 'more than one event appended';
      ELSIF ev.kind IS DISTINCT FROM pg_temp.kind_of(fn) THEN
        problem := 'wrong kind ' || coalesce(ev.kind, 'NULL');
      ELSIF eid IS NOT NULL AND ev.event_id IS DISTINCT FROM eid THEN
        problem := 'event_id not stored';
      ELSIF eid IS NULL AND ev.event_id IS NULL THEN
        problem := 'no event_id generated';
      ELSIF fn IN ('bump', 'post_comment', 'follow_user', 'join_tribe')
            AND ev.recipient_id IS DISTINCT FROM want_recipient THEN
        problem := 'recipient_id ' || coalesce(ev.recipient_id::text, 'NULL') || ' want ' || coalesce(want_recipient::text, 'NULL');
      END IF;
    END IF;
    IF problem IS NULL AND actual IS DISTINCT FROM expected THEN
      problem := 'outcome differs from model';
    END IF;

    INSERT INTO r_calls VALUES (i, fn, retry, expected, actual);
    IF problem IS NOT NULL THEN
      INSERT INTO r_problems VALUES (i, fn, a1, a2, a3, left(t, 20), char_length(t), eid, expected, actual, msg, problem);
    END IF;

    -- ---------------- the model follows every call that appended an event
    IF actual = 'S' THEN
      IF eid IS NOT NULL THEN
        INSERT INTO m_eids VALUES (eid, fn, a1, a2, a3, t, res) ON CONFLICT (k_eid) DO NOTHING;
        eids := eids || eid;
      END IF;
      CASE fn
        WHEN 'register_user' THEN
          INSERT INTO m_users VALUES (a1, t) ON CONFLICT (id) DO UPDATE SET name = excluded.name;
          IF NOT a1 = ANY (known_u) THEN known_u := known_u || a1; END IF;
        WHEN 'rename_user'  THEN UPDATE m_users SET name = t WHERE id = a1;
        WHEN 'create_tribe' THEN
          INSERT INTO m_tribes VALUES (a1, a2, t) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, name = excluded.name;
          INSERT INTO m_members VALUES (a1, a2) ON CONFLICT DO NOTHING;
          IF NOT a1 = ANY (known_t) THEN known_t := known_t || a1; END IF;
        WHEN 'rename_tribe'  THEN UPDATE m_tribes SET name = t WHERE id = a1;
        WHEN 'join_tribe'    THEN INSERT INTO m_members VALUES (a2, a1) ON CONFLICT DO NOTHING;
        WHEN 'leave_tribe'   THEN DELETE FROM m_members WHERE tribe = a2 AND usr = a1;
        WHEN 'follow_user'   THEN INSERT INTO m_follows VALUES (a1, a2) ON CONFLICT DO NOTHING;
        WHEN 'unfollow_user' THEN DELETE FROM m_follows WHERE follower = a1 AND followee = a2;
        WHEN 'post_article'  THEN
          INSERT INTO m_articles VALUES (a1, a2, a3, t) ON CONFLICT (id) DO UPDATE
            SET author = excluded.author, tribe = excluded.tribe, title = excluded.title;
          IF NOT a1 = ANY (known_a) THEN known_a := known_a || a1; END IF;
        WHEN 'edit_article'   THEN UPDATE m_articles SET title = t WHERE id = a1;
        WHEN 'delete_article' THEN UPDATE m_articles SET deleted = true WHERE id = a1;
        WHEN 'view_article'   THEN UPDATE m_articles SET views = views + 1 WHERE id = a1;
        WHEN 'post_comment'   THEN
          INSERT INTO m_comments VALUES (a1, a2, a3, t) ON CONFLICT (id) DO UPDATE
            SET article = excluded.article, author = excluded.author, body = excluded.body;
          IF NOT a1 = ANY (known_c) THEN known_c := known_c || a1; END IF;
        WHEN 'delete_comment' THEN UPDATE m_comments SET deleted = true WHERE id = a1;
        WHEN 'bump'           THEN INSERT INTO m_bumps VALUES (a1, a2) ON CONFLICT DO NOTHING;
        WHEN 'unbump'         THEN DELETE FROM m_bumps WHERE article = a1 AND usr = a2;
      END CASE;
    END IF;
  END LOOP;
END
$loop$;

-- ---------------------------------------------------------------- per-call results
SELECT is((SELECT count(*) FROM r_calls), 10000::bigint, '10,000 calls driven');
SELECT is_empty($$SELECT n, fn, actual, msg FROM r_problems WHERE problem = 'unexpected sqlstate' ORDER BY n LIMIT 20$$,
  'errors only carry SPEC''s SQLSTATEs (22004, 22023, 23503, 23505, 55000)');
SELECT is_empty($$SELECT n, fn, actual, msg FROM r_problems WHERE problem = 'failed call appended' ORDER BY n LIMIT 20$$,
  'a failed call appended nothing');
SELECT is_empty($$SELECT n, fn, a1, a2, a3, t FROM r_problems WHERE problem = 'no-op appended' ORDER BY n LIMIT 20$$,
  'a call returning NULL appended nothing');
SELECT is_empty($$SELECT n, fn, eid, actual FROM r_problems WHERE problem = 'replay appended' ORDER BY n LIMIT 20$$,
  'an event_id replay appended nothing');
SELECT is_empty($$SELECT n, fn, problem FROM r_problems
                   WHERE problem IN ('new seq is not the new log head', 'more than one event appended')
                   ORDER BY n LIMIT 20$$,
  'every new seq is positive, grows, and is the one event appended');
SELECT is_empty($$SELECT n, fn, problem FROM r_problems WHERE problem LIKE 'wrong kind%' ORDER BY n LIMIT 20$$,
  'every new event has the kind of its call');
SELECT is_empty($$SELECT n, fn, eid, problem FROM r_problems
                   WHERE problem IN ('event_id not stored', 'no event_id generated') ORDER BY n LIMIT 20$$,
  'events carry the given event_id or a generated one');
SELECT is_empty($$SELECT n, fn, a1, a2, problem FROM r_problems WHERE problem LIKE 'recipient_id%' ORDER BY n LIMIT 20$$,
  'notifying events name their recipient (author, followee, tribe owner)');
SELECT is_empty($$SELECT n, fn, a1, a2, a3, t, tlen, eid, expected, actual, msg FROM r_problems
                   WHERE problem = 'outcome differs from model' ORDER BY n LIMIT 30$$,
  'every call''s outcome (seq / NULL / replayed seq / SQLSTATE) is the one SPEC and design prescribe');
SELECT is((SELECT count(*) FROM drivetribe.events), (SELECT count(*) FROM r_calls WHERE actual = 'S'),
  'log length = number of calls that returned a new seq');
SELECT results_eq(
  $$SELECT kind::text, count(*) FROM drivetribe.events GROUP BY 1 ORDER BY 1$$,
  $$SELECT pg_temp.kind_of(fn), count(*) FROM r_calls WHERE actual = 'S' GROUP BY 1 ORDER BY 1$$,
  'events per kind = accepted calls per function');
SELECT is((SELECT count(*) FROM (SELECT seq FROM drivetribe.events) s), (SELECT count(DISTINCT event_id) FROM drivetribe.events),
  'event_ids are unique');

-- coverage of the random mix
SELECT is_empty($$SELECT f FROM unnest(ARRAY['register_user', 'rename_user', 'create_tribe', 'rename_tribe',
                     'join_tribe', 'leave_tribe', 'follow_user', 'unfollow_user', 'post_article', 'edit_article',
                     'delete_article', 'view_article', 'post_comment', 'delete_comment', 'bump', 'unbump']) f
                   WHERE (SELECT count(*) FROM r_calls WHERE fn = f AND actual = 'S') < 15$$,
  'coverage: every write function accepted at least 15 times');
SELECT is_empty($$SELECT s FROM unnest(ARRAY['E22004', 'E22023', 'E23503', 'E23505', 'E55000']) s
                   WHERE (SELECT count(*) FROM r_calls WHERE actual = s) < 30$$,
  'coverage: every SPEC SQLSTATE raised at least 30 times');
SELECT ok((SELECT count(*) FROM r_calls WHERE actual = 'N') >= 300, 'coverage: at least 300 no-op calls');
SELECT ok((SELECT count(*) FROM r_calls WHERE actual LIKE 'R%') >= 100, 'coverage: at least 100 event_id replays');
SELECT ok((SELECT count(*) FROM r_calls WHERE retry AND actual = 'E23505') >= 50,
  'coverage: at least 50 event_id retries with other arguments');
SELECT ok((SELECT count(*) FROM m_articles WHERE deleted) >= 20 AND (SELECT count(*) FROM m_comments WHERE deleted) >= 20,
  'coverage: deleted articles and comments exist');

-- ---------------------------------------------------------------- projections vs model
SELECT results_eq(
  $$SELECT user_id::bigint, name::text, articles::bigint, comments::bigint, bumps_given::bigint,
           bumps_received::bigint, followers::bigint, following::bigint, tribes::bigint
      FROM drivetribe.user_stats ORDER BY user_id$$,
  $$SELECT u.id, u.name,
           (SELECT count(*) FROM m_articles a WHERE a.author = u.id AND NOT a.deleted),
           (SELECT count(*) FROM m_comments c WHERE c.author = u.id AND NOT c.deleted),
           (SELECT count(*) FROM m_bumps b WHERE b.usr = u.id),
           (SELECT count(*) FROM m_bumps b JOIN m_articles a ON a.id = b.article WHERE a.author = u.id AND NOT a.deleted),
           (SELECT count(*) FROM m_follows f WHERE f.followee = u.id),
           (SELECT count(*) FROM m_follows f WHERE f.follower = u.id),
           (SELECT count(*) FROM m_members m WHERE m.usr = u.id)
      FROM m_users u ORDER BY u.id$$,
  'user_stats = model');
SELECT results_eq(
  $$SELECT tribe_id::bigint, name::text, owner_id::bigint, members::bigint, articles::bigint
      FROM drivetribe.tribe_stats ORDER BY tribe_id$$,
  $$SELECT t.id, t.name, t.owner,
           (SELECT count(*) FROM m_members m WHERE m.tribe = t.id),
           (SELECT count(*) FROM m_articles a WHERE a.tribe = t.id AND NOT a.deleted)
      FROM m_tribes t ORDER BY t.id$$,
  'tribe_stats = model');
SELECT results_eq(
  $$SELECT article_id::bigint, tribe_id::bigint, tribe_name::text, author_id::bigint, author_name::text,
           title::text, views::bigint, comments::bigint, bumps::bigint
      FROM drivetribe.article_view ORDER BY article_id$$,
  $$SELECT a.id, a.tribe, t.name, a.author, u.name, a.title, a.views,
           (SELECT count(*) FROM m_comments c WHERE c.article = a.id AND NOT c.deleted),
           (SELECT count(*) FROM m_bumps b WHERE b.article = a.id)
      FROM m_articles a JOIN m_tribes t ON t.id = a.tribe JOIN m_users u ON u.id = a.author
     WHERE NOT a.deleted ORDER BY a.id$$,
  'article_view = model (live articles, names, views, comments, bumps)');
-- scores follow the counts once folded (the rank worker does it within
-- 2 s of a commit; in this test's own transaction: explicitly)
SELECT drivetribe.fold_stripes() AS folded \gset
SELECT is(
  (SELECT count(*) FROM drivetribe.article_view v
    WHERE v.score IS DISTINCT FROM log10(greatest(10*v.bumps + 5*v.comments + v.views, 1)) + extract(epoch from v.posted_at) / 45000),
  0::bigint, 'article_view.score = SPEC formula for every article');
SELECT results_eq(
  $$SELECT article_id::bigint, author_id::bigint, tribe_id::bigint, title::text, deleted FROM drivetribe.articles ORDER BY 1$$,
  $$SELECT id, author, tribe, title, deleted FROM m_articles ORDER BY 1$$,
  'drivetribe.articles (incl. deleted) = model');
SELECT results_eq(
  $$SELECT comment_id::bigint, article_id::bigint, author_id::bigint, body::text, deleted FROM drivetribe.comments ORDER BY 1$$,
  $$SELECT id, article, author, body, deleted FROM m_comments ORDER BY 1$$,
  'drivetribe.comments (incl. deleted) = model');
SELECT set_eq('SELECT tribe_id::bigint, user_id::bigint FROM drivetribe.memberships',
              'SELECT tribe, usr FROM m_members', 'memberships = model');
SELECT set_eq('SELECT follower_id::bigint, followee_id::bigint FROM drivetribe.follows',
              'SELECT follower, followee FROM m_follows', 'follows = model');
SELECT set_eq('SELECT article_id::bigint, user_id::bigint FROM drivetribe.bumps',
              'SELECT article, usr FROM m_bumps', 'bumps = model');
SELECT is(
  (SELECT count(*) FROM m_articles a CROSS JOIN m_users u
    WHERE drivetribe.has_bumped(a.id, u.id)
          IS DISTINCT FROM (NOT a.deleted AND EXISTS (SELECT FROM m_bumps b WHERE b.article = a.id AND b.usr = u.id))),
  0::bigint, 'has_bumped = model for every (article, user) pair');
SELECT set_eq(
  $$SELECT a.id, c.comment_id::bigint, c.author_id::bigint, c.author_name::text, c.body::text
      FROM m_articles a CROSS JOIN LATERAL drivetribe.article_comments(a.id, 1000) c$$,
  $$SELECT c.article, c.id, c.author, u.name, c.body
      FROM m_comments c JOIN m_articles a ON a.id = c.article JOIN m_users u ON u.id = c.author
     WHERE NOT c.deleted AND NOT a.deleted$$,
  'article_comments of every article = model (live comments of live articles)');

-- ---------------------------------------------------------------- verify and rebuild
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference after 10,000 calls');

CREATE TEMP TABLE s_users       AS SELECT * FROM drivetribe.users;
CREATE TEMP TABLE s_tribes      AS SELECT * FROM drivetribe.tribes;
CREATE TEMP TABLE s_articles    AS SELECT * FROM drivetribe.articles;
CREATE TEMP TABLE s_comments    AS SELECT * FROM drivetribe.comments;
CREATE TEMP TABLE s_memberships AS SELECT * FROM drivetribe.memberships;
CREATE TEMP TABLE s_follows     AS SELECT * FROM drivetribe.follows;
CREATE TEMP TABLE s_bumps       AS SELECT * FROM drivetribe.bumps;
CREATE FUNCTION pg_temp.tbl_md5(tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM drivetribe.%I t', tbl)
     INTO r;
  RETURN r;
END $$;
CREATE TEMP TABLE s_md5 AS
  SELECT tbl, pg_temp.tbl_md5(tbl) AS md5
    FROM unnest(ARRAY['users', 'tribes', 'articles', 'comments', 'memberships', 'follows', 'bumps']) tbl;
CREATE TEMP TABLE s_events AS SELECT count(*) AS n, max(seq) AS head FROM drivetribe.events;

SELECT lives_ok('SELECT drivetribe.rebuild()', 'rebuild() runs');

SELECT results_eq(
  'SELECT tbl, pg_temp.tbl_md5(tbl) FROM s_md5 ORDER BY 1',
  'SELECT tbl, md5 FROM s_md5 ORDER BY 1',
  'rebuild(): md5 of every projection table (all columns, ordered rows) unchanged');
SELECT ok(
  (SELECT count(*) FROM (TABLE s_users EXCEPT ALL TABLE drivetribe.users) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.users EXCEPT ALL TABLE s_users) x) = 0 AND
  (SELECT count(*) FROM (TABLE s_tribes EXCEPT ALL TABLE drivetribe.tribes) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.tribes EXCEPT ALL TABLE s_tribes) x) = 0 AND
  (SELECT count(*) FROM (TABLE s_articles EXCEPT ALL TABLE drivetribe.articles) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.articles EXCEPT ALL TABLE s_articles) x) = 0 AND
  (SELECT count(*) FROM (TABLE s_comments EXCEPT ALL TABLE drivetribe.comments) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.comments EXCEPT ALL TABLE s_comments) x) = 0 AND
  (SELECT count(*) FROM (TABLE s_memberships EXCEPT ALL TABLE drivetribe.memberships) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.memberships EXCEPT ALL TABLE s_memberships) x) = 0 AND
  (SELECT count(*) FROM (TABLE s_follows EXCEPT ALL TABLE drivetribe.follows) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.follows EXCEPT ALL TABLE s_follows) x) = 0 AND
  (SELECT count(*) FROM (TABLE s_bumps EXCEPT ALL TABLE drivetribe.bumps) x) = 0 AND
  (SELECT count(*) FROM (TABLE drivetribe.bumps EXCEPT ALL TABLE s_bumps) x) = 0,
  'rebuild(): every projection table has the very same rows (row-by-row EXCEPT ALL)');
SELECT results_eq('SELECT count(*), max(seq) FROM drivetribe.events', 'SELECT n, head FROM s_events',
  'rebuild() appended nothing to the log');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference after rebuild()');

SELECT * FROM finish();
ROLLBACK;
