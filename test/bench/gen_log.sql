-- drivetribe benchmark: a consistent event log of about :events events,
-- written set-based straight into drivetribe.events (as a superuser; every
-- row still passes the events_valid CHECK), for rebuild() to replay.
--   psql -v step=setup -v events=10000000 -f test/bench/gen_log.sql DB
--   psql -v step=activity -v part=0 -v parts=2 -f test/bench/gen_log.sql DB  (parts
--        may run at once, one session each: phase 6 has no order inside it)
--   psql -v step=finish -f test/bench/gen_log.sql DB
-- The database has the extension and nothing else.  The projections are NOT
-- maintained here: run drivetribe.rebuild() afterwards (the benchmark times
-- exactly that).
--
-- The log is one a live system could have written, in this order (each
-- phase one INSERT, so seq follows the phases):
--   1 user_registered      U = events/100 users
--   2 tribe_created        T = events/10000 tribes, tribe t owned by user t
--   3 tribe_joined         J = events/20 distinct (tribe, user), never the owner
--   4 user_followed        F = events/20 distinct pairs, never oneself
--   5 article_posted       A = events/50 articles, author and tribe by formula
--   6 activity, interleaved (kind picked by a hash of the row number):
--       70% article_viewed (power-law over articles; 30% anonymous),
--       12% comment_posted, 15% article_bumped (distinct (article, user)
--       pairs), 1% user_renamed, 1% article_edited, 1% tribe_renamed
--   7 undo: a fifth of the bumps unbumped, a tenth of the follows
--       unfollowed, of the joins left, of the comments deleted
--   8 article_deleted      every 100th article, context.bumps = its current bumps
-- context carries display names like the write API's (user_name, title, ...).
-- event_ids are made from a counter (time-ordered, like UUIDv7s).
-- Ids and names are formulas of row numbers, so no lookup is needed while
-- generating.  occurred_at is clock_timestamp(): it grows with seq.
\set ON_ERROR_STOP 1
SET synchronous_commit = on;
SET work_mem = '256MB';
SELECT :'step' = 'setup' AS is_setup, :'step' = 'activity' AS is_activity,
       :'step' = 'finish' AS is_finish \gset

-- author and tribe of article x; owner of tribe y is user y
CREATE FUNCTION pg_temp.author_of(x bigint, u bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $$ SELECT (x * 7) % u + 1 $$;
CREATE FUNCTION pg_temp.tribe_of(x bigint, t bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $$ SELECT x % t + 1 $$;
-- event_ids in generation order (the replay never reads them; appending to
-- the unique index is cheaper than inserting random UUIDs all over it);
-- gen.event_ids is created by the setup step
SET check_function_bodies = off;
CREATE FUNCTION pg_temp.eid() RETURNS uuid
  LANGUAGE sql VOLATILE AS
  $$ SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(nextval('gen.event_ids')), 12, '0'))::uuid $$;

\if :is_setup
DROP SCHEMA IF EXISTS gen CASCADE;
CREATE SCHEMA gen;
CREATE SEQUENCE gen.event_ids;
CREATE UNLOGGED TABLE gen.params AS
SELECT u, t, a, j, f,
       -- activity rows M such that the whole log is about :events rows: fixed
       -- phases U+T+J+F+A, activity M, undo 0.15M/5 + 0.12M/10 + (J+F)/10, deletes A/100
       greatest(((:events::bigint - (u + t + j + f + a) - (j + f) / 10 - a / 100) / 1.042)::bigint, 1000) AS m
  FROM (SELECT greatest(:events::bigint / 100, 100)    AS u,
               greatest(:events::bigint / 10000, 10)   AS t,
               greatest(:events::bigint / 50, 100) + 7 AS a,
               :events::bigint / 20                    AS j,
               :events::bigint / 20                    AS f) s;
\endif
SELECT * FROM gen.params \gset

\if :is_setup
-- 1 users
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, body, context)
SELECT pg_temp.eid(), 'user_registered', clock_timestamp(), x, 'user ' || x,
       jsonb_build_object('user_name', 'user ' || x)
  FROM generate_series(1, :u) x;

-- 2 tribes (owner = user with the tribe's number; the owner is a member)
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, body, context)
SELECT pg_temp.eid(), 'tribe_created', clock_timestamp(), x, x, 'tribe ' || x,
       jsonb_build_object('user_name', 'user ' || x, 'tribe_name', 'tribe ' || x)
  FROM generate_series(1, :t) x;

-- 3 joins: pair j -> user r = j % U + 1, tribe (j / U + 7 (j % U)) % T + 1:
-- distinct for j < U * T; the owner never joins
CREATE UNLOGGED TABLE gen.joins AS
SELECT j, j % :u + 1 AS user_id, (j / :u + 7 * (j % :u)) % :t + 1 AS tribe_id
  FROM generate_series(0, :j - 1) j;
DELETE FROM gen.joins WHERE user_id = tribe_id;
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, target_id, recipient_id, context)
SELECT pg_temp.eid(), 'tribe_joined', clock_timestamp(), user_id, tribe_id, tribe_id, tribe_id,
       jsonb_build_object('user_name', 'user ' || user_id, 'tribe_name', 'tribe ' || tribe_id)
  FROM gen.joins ORDER BY j;

-- 4 follows: pair f -> follower r + 1 (r = f % U), followee (r + 1 + 997 (f / U)) % U + 1
CREATE UNLOGGED TABLE gen.follows AS
SELECT f, f % :u + 1 AS follower, (f % :u + 1 + 997 * (f / :u)) % :u + 1 AS followee
  FROM generate_series(0, :f - 1) f;
DELETE FROM gen.follows WHERE follower = followee;
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, target_id, recipient_id, context)
SELECT pg_temp.eid(), 'user_followed', clock_timestamp(), follower, followee, followee,
       jsonb_build_object('user_name', 'user ' || follower, 'target_name', 'user ' || followee)
  FROM gen.follows ORDER BY f;

-- 5 articles
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id, body, context)
SELECT pg_temp.eid(), 'article_posted', clock_timestamp(),
       pg_temp.author_of(x, :u), pg_temp.tribe_of(x, :t), x, 'article ' || x,
       jsonb_build_object('user_name', 'user ' || pg_temp.author_of(x, :u),
                          'tribe_name', 'tribe ' || pg_temp.tribe_of(x, :t),
                          'title', 'article ' || x)
  FROM generate_series(1, :a) x;

-- 6 activity.  For row i: h = a hash in [0, 100) picks the kind.
--   view:    article floor(A ^ v) (v uniform from another hash: a power law), viewer or anonymous
--   comment: comment i on article (13 i) % A + 1 by user (17 i) % U + 1
--   bump:    user i % U + 1 on article (i / U + 7 (i % U)) % A + 1: distinct for i < U * A
CREATE UNLOGGED TABLE gen.activity AS
SELECT i,
       CASE WHEN h < 70 THEN 'article_viewed'
            WHEN h < 82 THEN 'comment_posted'
            WHEN h < 97 THEN 'article_bumped'
            WHEN h = 97 THEN 'user_renamed'
            WHEN h = 98 THEN 'article_edited'
            ELSE 'tribe_renamed' END AS kind
  FROM (SELECT i, ((i * 2654435761) / 65536) % 100 AS h
          FROM generate_series(1, :m::bigint) i) s;
\endif

\if :is_activity
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id,
                               comment_id, target_id, recipient_id, body, context)
SELECT pg_temp.eid(), kind, clock_timestamp(), user_id, tribe_id, article_id, comment_id,
       target_id, recipient_id, body, context
  FROM (SELECT g.i, g.kind, x.*
          FROM gen.activity g
          -- this session's share of the rows
          CROSS JOIN (SELECT :part::bigint AS part, :parts::bigint AS parts) pp
          CROSS JOIN LATERAL (
            SELECT CASE g.kind
                     WHEN 'article_viewed' THEN
                       least(greatest(floor(exp(ln(:a::float8) * (((g.i * 40503) % 1000003) / 1000003.0)))::bigint, 1), :a)
                     WHEN 'comment_posted' THEN (13 * g.i) % :a + 1
                     WHEN 'article_bumped' THEN (g.i / :u + 7 * (g.i % :u)) % :a + 1
                     WHEN 'article_edited' THEN g.i % :a + 1
                   END AS art) aa
          CROSS JOIN LATERAL (
            SELECT CASE g.kind
                     WHEN 'article_viewed' THEN CASE WHEN g.i % 10 < 3 THEN NULL ELSE (g.i * 31) % :u + 1 END
                     WHEN 'comment_posted' THEN (17 * g.i) % :u + 1
                     WHEN 'article_bumped' THEN g.i % :u + 1
                     WHEN 'user_renamed' THEN g.i % :u + 1
                     WHEN 'article_edited' THEN pg_temp.author_of(aa.art, :u)
                   END AS usr) uu
          CROSS JOIN LATERAL (
            SELECT uu.usr AS user_id,
                   CASE WHEN g.kind = 'tribe_renamed' THEN g.i % :t + 1
                        WHEN aa.art IS NOT NULL THEN pg_temp.tribe_of(aa.art, :t) END AS tribe_id,
                   aa.art AS article_id,
                   CASE WHEN g.kind = 'comment_posted' THEN g.i END AS comment_id,
                   CASE WHEN g.kind IN ('article_viewed', 'comment_posted', 'article_bumped')
                          THEN pg_temp.author_of(aa.art, :u)
                        WHEN g.kind = 'tribe_renamed' THEN g.i % :t + 1 END AS target_id,
                   CASE WHEN g.kind IN ('comment_posted', 'article_bumped')
                          THEN pg_temp.author_of(aa.art, :u) END AS recipient_id,
                   CASE g.kind
                     WHEN 'comment_posted' THEN 'comment ' || g.i || ' on article ' || aa.art
                     WHEN 'user_renamed' THEN 'user ' || uu.usr || ' aka ' || g.i
                     WHEN 'article_edited' THEN 'article ' || aa.art || ' (edit ' || g.i || ')'
                     WHEN 'tribe_renamed' THEN 'tribe ' || (g.i % :t + 1) || ' (renamed ' || g.i || ')'
                   END AS body,
                   CASE g.kind
                     WHEN 'article_viewed' THEN
                       CASE WHEN uu.usr IS NULL THEN '{}'::jsonb
                            ELSE jsonb_build_object('user_name', 'user ' || uu.usr) END
                     WHEN 'user_renamed' THEN jsonb_build_object('user_name', 'user ' || uu.usr || ' aka ' || g.i)
                     WHEN 'tribe_renamed' THEN jsonb_build_object('tribe_name', 'tribe ' || (g.i % :t + 1) || ' (renamed ' || g.i || ')',
                                                                  'target_name', 'user ' || (g.i % :t + 1))
                     ELSE jsonb_build_object('user_name', 'user ' || uu.usr, 'title', 'article ' || aa.art)
                   END AS context) x
         WHERE g.i % pp.parts = pp.part) s;
-- (no ORDER BY: a fresh table is scanned in the order it was written)
\endif

\if :is_finish

-- 7 undo: every 5th bump, every 10th follow, join and comment
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id,
                               comment_id, target_id, context)
SELECT pg_temp.eid(), kind, clock_timestamp(), user_id, tribe_id, article_id, comment_id, target_id, context
  FROM (
    SELECT 1 AS part, g.i AS n, 'article_unbumped' AS kind, g.i % :u + 1 AS user_id,
           pg_temp.tribe_of(b.art, :t) AS tribe_id, b.art AS article_id, NULL::bigint AS comment_id,
           pg_temp.author_of(b.art, :u) AS target_id,
           jsonb_build_object('user_name', 'user ' || (g.i % :u + 1), 'title', 'article ' || b.art) AS context
      FROM gen.activity g, LATERAL (SELECT (g.i / :u + 7 * (g.i % :u)) % :a + 1 AS art) b
     WHERE g.kind = 'article_bumped' AND g.i % 5 = 0
    UNION ALL
    SELECT 2, f, 'user_unfollowed', follower, NULL, NULL, NULL, followee,
           jsonb_build_object('user_name', 'user ' || follower, 'target_name', 'user ' || followee)
      FROM gen.follows WHERE f % 10 = 0
    UNION ALL
    SELECT 3, j, 'tribe_left', user_id, tribe_id, NULL, NULL, tribe_id,
           jsonb_build_object('user_name', 'user ' || user_id, 'tribe_name', 'tribe ' || tribe_id)
      FROM gen.joins WHERE j % 10 = 0
    UNION ALL
    SELECT 4, g.i, 'comment_deleted', (17 * g.i) % :u + 1, pg_temp.tribe_of((13 * g.i) % :a + 1, :t),
           (13 * g.i) % :a + 1, g.i, pg_temp.author_of((13 * g.i) % :a + 1, :u),
           jsonb_build_object('user_name', 'user ' || ((17 * g.i) % :u + 1), 'title', 'article ' || ((13 * g.i) % :a + 1))
      FROM gen.activity g
     WHERE g.kind = 'comment_posted' AND g.i % 10 = 0) s
 ORDER BY n, part;

-- 8 every 100th article deleted, with the bumps it has now (bumped - unbumped)
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id, context)
SELECT pg_temp.eid(), 'article_deleted', clock_timestamp(),
       pg_temp.author_of(x, :u), pg_temp.tribe_of(x, :t), x,
       jsonb_build_object('user_name', 'user ' || pg_temp.author_of(x, :u), 'title', 'article ' || x,
                          'bumps', coalesce(b.n, 0))
  FROM generate_series(100, :a, 100) x
  LEFT JOIN (SELECT article_id, sum(CASE kind WHEN 'article_bumped' THEN 1 ELSE -1 END) AS n
               FROM drivetribe.events
              WHERE kind IN ('article_bumped', 'article_unbumped') AND article_id % 100 = 0
              GROUP BY article_id) b ON b.article_id = x
 ORDER BY x;

DROP SCHEMA gen CASCADE;
\endif
