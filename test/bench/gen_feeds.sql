-- drivetribe benchmark: the feeds world, a consistent event log written
-- set-based into drivetribe.events (every row passes the events_valid
-- CHECK); run drivetribe.rebuild() afterwards to build the projections.
--   psql -v users=1000000 -v tribes=1000 -v articles=100000 -v authors=10000 \
--        -v big_articles=100000 -v prolific=10000 -v views=1000000 \
--        -v bumps=200000 -v comments=100000 -v typical_tribes=50 \
--        -v typical_follows=200 -v heavy_tribes=200 -v heavy_follows=5000 \
--        -f test/bench/gen_feeds.sql DB
-- The database has the extension and nothing else.
--
-- Who is who (ids the benchmark's scripts use):
--   user 1     a celebrity: every other user follows them; owns tribe 1
--   user 2     an author nobody follows; owns tribe 2
--   user 4     a prolific author: :prolific articles
--   user 5     a new author: no article, no follower
--   tribe 1    every user is a member (:users members)
--   tribe 2    10 members
--   tribe 3    :big_articles articles
--   tribe 4    no article
--   users 101..200  typical readers: :typical_tribes tribes, :typical_follows followees
--   users 201..210  heavy readers:   :heavy_tribes tribes,   :heavy_follows followees
--   (every reader is also in tribe 1 and follows user 1)
--   articles 1..:articles  by authors 11.. (power law over :authors
--              authors) in tribes 5..:tribes; then tribe 3's; then user 4's
-- Articles are posted over the last 28 days (interleaved), engagement is
-- power-law over the articles (Zipf-like: a few articles get most views,
-- bumps and comments).  event_ids come from a counter.
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
SET work_mem = '256MB';

SELECT :articles::bigint + :big_articles::bigint + :prolific::bigint AS total_articles \gset

CREATE SCHEMA gen;
CREATE SEQUENCE gen.event_ids;
CREATE FUNCTION gen.eid() RETURNS uuid LANGUAGE sql VOLATILE AS
  $$ SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(nextval('gen.event_ids')), 12, '0'))::uuid $$;
-- a hash of x in [0, 1)
CREATE FUNCTION gen.h(x bigint, salt bigint) RETURNS float8 LANGUAGE sql IMMUTABLE AS
  $$ SELECT ((x * 2654435761 + salt * 40503) % 1000003) / 1000003.0 $$;

-- articles: id, author, tribe, posted_at
CREATE UNLOGGED TABLE gen.articles AS
SELECT x AS article_id,
       CASE WHEN x > :articles + :big_articles THEN 4
            ELSE 11 + least(floor(exp(ln(:authors::float8) * gen.h(x, 1)))::bigint - 1, :authors - 1) END AS author_id,
       CASE WHEN x > :articles AND x <= :articles + :big_articles THEN 3
            ELSE 5 + (x * 7919) % (:tribes - 4) END AS tribe_id,
       now() - interval '28 days' + gen.h(x, 3) * interval '28 days' AS posted_at
  FROM generate_series(1, :total_articles) x;

-- users
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, body, context)
SELECT gen.eid(), 'user_registered', now() - interval '60 days', x, 'user ' || x,
       jsonb_build_object('user_name', 'user ' || x)
  FROM generate_series(1, :users) x;
-- tribes: tribe t owned by user t
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, body, context)
SELECT gen.eid(), 'tribe_created', now() - interval '59 days', x, x, 'tribe ' || x,
       jsonb_build_object('user_name', 'user ' || x, 'tribe_name', 'tribe ' || x)
  FROM generate_series(1, :tribes) x;

-- memberships: everyone in tribe 1; users 3..11 in tribe 2; the readers
CREATE UNLOGGED TABLE gen.joins AS
SELECT x AS user_id, 1::bigint AS tribe_id FROM generate_series(2, :users) x
UNION ALL
SELECT x, 2 FROM generate_series(3, 11) x
UNION ALL
SELECT r, 5 + (r * 13 + k * 7) % (:tribes - 4) FROM generate_series(101, 200) r, generate_series(0, :typical_tribes - 1) k
UNION ALL
SELECT r, 5 + (r * 13 + k * 7) % (:tribes - 4) FROM generate_series(201, 210) r, generate_series(0, :heavy_tribes - 1) k;
DELETE FROM gen.joins WHERE user_id = tribe_id;
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, target_id, recipient_id, context)
SELECT gen.eid(), 'tribe_joined', now() - interval '58 days', user_id, tribe_id, tribe_id, tribe_id,
       jsonb_build_object('user_name', 'user ' || user_id, 'tribe_name', 'tribe ' || tribe_id)
  FROM (SELECT DISTINCT user_id, tribe_id FROM gen.joins) j;

-- follows: everyone follows user 1; the readers follow authors
CREATE UNLOGGED TABLE gen.follows AS
SELECT x AS follower, 1::bigint AS followee FROM generate_series(2, :users) x
UNION ALL
SELECT r, 11 + (r * 31 + k * 97) % :authors FROM generate_series(101, 200) r, generate_series(0, :typical_follows - 1) k
UNION ALL
SELECT r, 11 + (r * 31 + k * 97) % :authors FROM generate_series(201, 210) r, generate_series(0, :heavy_follows - 1) k;
DELETE FROM gen.follows WHERE follower = followee;
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, target_id, recipient_id, context)
SELECT gen.eid(), 'user_followed', now() - interval '58 days', follower, followee, followee,
       jsonb_build_object('user_name', 'user ' || follower, 'target_name', 'user ' || followee)
  FROM (SELECT DISTINCT follower, followee FROM gen.follows) f;

-- articles, in posting order
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id, body, context)
SELECT gen.eid(), 'article_posted', posted_at, author_id, tribe_id, article_id, 'article ' || article_id,
       jsonb_build_object('user_name', 'user ' || author_id, 'tribe_name', 'tribe ' || tribe_id,
                          'title', 'article ' || article_id)
  FROM gen.articles ORDER BY posted_at, article_id;

-- engagement, power-law over the articles: article floor(A ^ h)
CREATE FUNCTION gen.popular(i bigint, salt bigint, a bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS
  $$ SELECT least(greatest(floor(exp(ln(a::float8) * gen.h(i, salt)))::bigint, 1), a) $$;
-- views (anonymous)
INSERT INTO drivetribe.events (event_id, kind, occurred_at, article_id, tribe_id, target_id, context)
SELECT gen.eid(), 'article_viewed', now(), a.article_id, a.tribe_id, a.author_id, '{}'::jsonb
  FROM generate_series(1, :views) i
  JOIN gen.articles a ON a.article_id = gen.popular(i, 4, :total_articles);
-- bumps: distinct (article, user) pairs
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id, context)
SELECT gen.eid(), 'article_bumped', now(), b.user_id, a.tribe_id, a.article_id, a.author_id, a.author_id,
       jsonb_build_object('user_name', 'user ' || b.user_id, 'title', 'article ' || a.article_id)
  FROM (SELECT DISTINCT gen.popular(i, 5, :total_articles) AS article_id, 12 + (i * 7) % (:users - 12) AS user_id
          FROM generate_series(1, :bumps) i) b
  JOIN gen.articles a USING (article_id);
-- comments
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id, comment_id,
                               target_id, recipient_id, body, context)
SELECT gen.eid(), 'comment_posted', now(), c.user_id, a.tribe_id, a.article_id, c.i, a.author_id, a.author_id,
       'comment ' || c.i, jsonb_build_object('user_name', 'user ' || c.user_id, 'title', 'article ' || a.article_id)
  FROM (SELECT i, gen.popular(i, 6, :total_articles) AS article_id, 12 + (i * 11) % (:users - 12) AS user_id
          FROM generate_series(1, :comments) i) c
  JOIN gen.articles a USING (article_id);

DROP SCHEMA gen CASCADE;
