-- Score (SPEC "Ranking"):
--   score = log10(greatest(10*bumps + 5*comments + views, 1))
--           + extract(epoch from posted_at) / 45000
-- recomputed here independently from each row's own counters and posted_at.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(18);

CREATE FUNCTION pg_temp.formula(b bigint, c bigint, v bigint, t timestamptz) RETURNS float8
  LANGUAGE sql IMMUTABLE AS
  $$ SELECT log10(greatest(10*b + 5*c + v, 1)) + extract(epoch from t) / 45000 $$;
-- rows of a read whose score is not exactly the formula
CREATE FUNCTION pg_temp.off(q text) RETURNS TABLE (article_id bigint, score float8, want float8, diff float8)
  LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT article_id::bigint, score::float8, w, score::float8 - w
       FROM (SELECT r.*, pg_temp.formula(r.bumps::bigint, r.comments::bigint, r.views::bigint, r.posted_at) AS w
               FROM (%s) r) x
      WHERE score::float8 IS DISTINCT FROM w', q);
END $$;

CREATE TEMP TABLE _r (n serial, v bigint);
INSERT INTO _r(v) VALUES (drivetribe.register_user(1, 'alice'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(2, 'bob'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(3, 'carol'));
INSERT INTO _r(v) VALUES (drivetribe.register_user(4, 'dave'));
INSERT INTO _r(v) VALUES (drivetribe.create_tribe(10, 1, 'Cars'));
INSERT INTO _r(v) VALUES (drivetribe.join_tribe(2, 10));
INSERT INTO _r(v) SELECT drivetribe.post_article(a, 1, 10, 'article ' || a) FROM generate_series(200, 207) a ORDER BY a;
-- 200: nothing; 201: 1 view; 202: 7 views; 203: 1 comment; 204: 1 bump
INSERT INTO _r(v) VALUES (drivetribe.view_article(201));
INSERT INTO _r(v) SELECT drivetribe.view_article(202, 2) FROM generate_series(1, 7) ORDER BY 1;
INSERT INTO _r(v) VALUES (drivetribe.post_comment(3000, 203, 2, 'x'));
INSERT INTO _r(v) VALUES (drivetribe.bump(204, 2));
-- 205: 2 bumps, 1 comment, 3 views = 28
INSERT INTO _r(v) VALUES (drivetribe.bump(205, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(205, 3));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(3001, 205, 3, 'y'));
INSERT INTO _r(v) SELECT drivetribe.view_article(205) FROM generate_series(1, 3) ORDER BY 1;
-- 206: 3 bumps, 3 comments one deleted, 4 views = 30 + 10 + 4 = 44
INSERT INTO _r(v) VALUES (drivetribe.bump(206, 1));
INSERT INTO _r(v) VALUES (drivetribe.bump(206, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(206, 3));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(3002, 206, 2, 'a'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(3003, 206, 3, 'b'));
INSERT INTO _r(v) VALUES (drivetribe.post_comment(3004, 206, 4, 'c'));
INSERT INTO _r(v) VALUES (drivetribe.delete_comment(3003));
INSERT INTO _r(v) SELECT drivetribe.view_article(206, 4) FROM generate_series(1, 4) ORDER BY 1;
-- 207: bumped twice, one unbumped = 10
INSERT INTO _r(v) VALUES (drivetribe.bump(207, 2));
INSERT INTO _r(v) VALUES (drivetribe.bump(207, 3));
INSERT INTO _r(v) VALUES (drivetribe.unbump(207, 3));
SELECT is((SELECT count(*) FROM _r WHERE v > 0), 44::bigint, 'setup accepted');
-- scores follow the counts once folded (the rank worker does it within
-- 2 s of a commit; in this test's own transaction: explicitly)
SELECT drivetribe.fold_stripes() AS folded \gset

SELECT col_type_is('drivetribe', 'article_view', 'score', 'double precision', 'article_view.score is float8');

SELECT results_eq(
  'SELECT article_id::bigint, bumps::bigint, comments::bigint, views::bigint FROM drivetribe.article_view ORDER BY article_id',
  $$VALUES (200::bigint, 0::bigint, 0::bigint, 0::bigint), (201, 0, 0, 1), (202, 0, 0, 7), (203, 0, 1, 0),
           (204, 1, 0, 0), (205, 2, 1, 3), (206, 3, 2, 4), (207, 1, 0, 0)$$,
  'counters the scores are built from');

-- the engagement part alone (independent of posted_at), to 1e-9
SELECT results_eq(
  $$SELECT v.article_id::bigint, abs(v.score - extract(epoch from v.posted_at)::float8 / 45000 - log10(x.e)) < 1e-9
      FROM drivetribe.article_view v
      LEFT JOIN (VALUES (200::bigint, 1::float8), (201, 1), (202, 7), (203, 5),
                        (204, 10), (205, 28), (206, 44), (207, 10)) x(a, e) ON x.a = v.article_id
     ORDER BY 1$$,
  $$SELECT a, true FROM generate_series(200::bigint, 207) a ORDER BY a$$,
  'engagement part of the score: log10(max(10b+5c+v, 1))');

-- the full formula, exactly, on every read that carries a score
SELECT is_empty($$SELECT * FROM pg_temp.off('SELECT * FROM drivetribe.article_view')$$,
  'article_view.score equals the formula exactly');
SELECT is_empty($$SELECT * FROM pg_temp.off('SELECT a.* FROM generate_series(200, 207) i, drivetribe.article(i) a')$$,
  'article().score equals the formula exactly');
SELECT is(
  (SELECT count(*) FROM drivetribe.article_view v
    WHERE abs(v.score - pg_temp.formula(v.bumps::bigint, v.comments::bigint, v.views::bigint, v.posted_at)) > 1e-9),
  0::bigint, 'article_view.score within 1e-9 of the formula');
SELECT results_eq(
  'SELECT v.article_id::bigint, v.score::float8 FROM drivetribe.article_view v ORDER BY 1',
  'SELECT v.article_id::bigint, (drivetribe.score(v.bumps::bigint, v.comments::bigint, v.views::bigint, v.posted_at))::float8 FROM drivetribe.article_view v ORDER BY 1',
  'article_view.score is exactly drivetribe.score() over the same counts');

-- posted_at is the time the article_posted event was accepted
SELECT is(
  (SELECT count(*) FROM drivetribe.article_view v JOIN drivetribe.events e
      ON e.article_id = v.article_id AND e.kind::text = 'article_posted'
    WHERE e.occurred_at IS DISTINCT FROM v.posted_at),
  0::bigint, 'posted_at = occurred_at of the article_posted event');

-- the score follows every counter change, both ways
CREATE TEMP TABLE _s0 AS SELECT article_id, score FROM drivetribe.article_view;
SELECT ok(drivetribe.bump(200, 2) > 0, 'bump 200');
SELECT ok(drivetribe.view_article(201) > 0, 'view 201');
SELECT ok(drivetribe.post_comment(3005, 203, 4, 'z') > 0, 'comment on 203');
SELECT ok(drivetribe.delete_comment(3001) > 0, 'delete comment of 205');
SELECT ok(drivetribe.unbump(206, 1) > 0, 'unbump 206');
SELECT drivetribe.fold_stripes() AS folded \gset
SELECT results_eq(
  $$SELECT v.article_id::bigint, abs((v.score - s.score) - x.d) < 1e-9
      FROM drivetribe.article_view v JOIN _s0 s USING (article_id)
      LEFT JOIN (VALUES
      (200::bigint, log10(10::float8) - log10(1::float8)), (201, log10(2::float8) - log10(1::float8)),
      (202, 0::float8), (203, log10(10::float8) - log10(5::float8)), (204, 0), (205, log10(23::float8) - log10(28::float8)),
      (206, log10(34::float8) - log10(44::float8)), (207, 0)) x(a, d) ON x.a = v.article_id
     ORDER BY 1$$,
  $$SELECT a, true FROM generate_series(200::bigint, 207) a ORDER BY a$$,
  'score moves by exactly the log10 of the engagement change');
SELECT is_empty($$SELECT * FROM pg_temp.off('SELECT * FROM drivetribe.article_view')$$,
  'after changes: article_view.score equals the formula exactly');

SELECT ok((SELECT min(posted_at) FROM drivetribe.article_view) <= now()
          AND (SELECT max(posted_at) FROM drivetribe.article_view) <= clock_timestamp(),
          'posted_at is not in the future');
SELECT is_empty('SELECT * FROM drivetribe.verify()', 'verify() finds no difference');

SELECT * FROM finish();
ROLLBACK;
