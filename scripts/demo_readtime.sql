-- drivetribe demo: the read-time baseline of the closing comparison.
-- Plain normalised tables, as an application without projections would
-- keep them: entities, the edges, and one row per view taken from the
-- log; counts and the score are computed when a card or a page is read
-- (the shapes of test/bench/run.sh's "vote" and "feeds" baselines, with
-- the same indexes).  Recreated on every run of the demo, so that they
-- hold exactly what the projections hold.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS readtime CASCADE;
CREATE SCHEMA readtime;
COMMENT ON SCHEMA readtime IS 'drivetribe demo: plain tables for the read-time baseline (scripts/demo_readtime.sql; recreated by every run of the demo)';
CREATE TABLE readtime.users AS SELECT user_id, name FROM drivetribe.users;
ALTER TABLE readtime.users ADD PRIMARY KEY (user_id);
CREATE TABLE readtime.tribes AS SELECT tribe_id, name FROM drivetribe.tribes;
ALTER TABLE readtime.tribes ADD PRIMARY KEY (tribe_id);
CREATE TABLE readtime.articles AS
  SELECT article_id, tribe_id, author_id, title, posted_at, deleted FROM drivetribe.articles;
ALTER TABLE readtime.articles ADD PRIMARY KEY (article_id);
CREATE INDEX ON readtime.articles (tribe_id);
CREATE INDEX ON readtime.articles (author_id);
CREATE TABLE readtime.memberships AS SELECT user_id, tribe_id FROM drivetribe.memberships;
ALTER TABLE readtime.memberships ADD PRIMARY KEY (user_id, tribe_id);
CREATE TABLE readtime.follows AS SELECT follower_id, followee_id FROM drivetribe.follows;
ALTER TABLE readtime.follows ADD PRIMARY KEY (follower_id, followee_id);
CREATE TABLE readtime.views AS
  SELECT article_id, user_id, occurred_at AS viewed_at FROM drivetribe.events WHERE kind = 'article_viewed';
CREATE INDEX ON readtime.views (article_id);
CREATE TABLE readtime.bumps AS SELECT article_id, user_id FROM drivetribe.bumps;
ALTER TABLE readtime.bumps ADD PRIMARY KEY (article_id, user_id);
CREATE TABLE readtime.comments AS SELECT comment_id, article_id, deleted FROM drivetribe.comments;
ALTER TABLE readtime.comments ADD PRIMARY KEY (comment_id);
CREATE INDEX ON readtime.comments (article_id) WHERE NOT deleted;

-- a card at read time: joins for the names, count() for the counters,
-- SPEC's score
CREATE VIEW readtime.card AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name, a.author_id, u.name AS author_name, a.title, a.posted_at,
       c.views, c.comments, c.bumps,
       log10(greatest(10 * c.bumps + 5 * c.comments + c.views, 1)) + extract(epoch FROM a.posted_at) / 45000 AS score
  FROM readtime.articles a
  JOIN readtime.tribes t ON t.tribe_id = a.tribe_id
  JOIN readtime.users u ON u.user_id = a.author_id
  CROSS JOIN LATERAL (SELECT (SELECT count(*) FROM readtime.views v WHERE v.article_id = a.article_id) AS views,
                             (SELECT count(*) FROM readtime.comments m WHERE m.article_id = a.article_id AND NOT m.deleted) AS comments,
                             (SELECT count(*) FROM readtime.bumps b WHERE b.article_id = a.article_id) AS bumps) c
 WHERE NOT a.deleted;
-- the write side: a bare INSERT of the event row view_article appends,
-- into a plain table with the log's columns, a primary key on seq and a
-- unique event_id (test/bench/run.sh's "ceiling" baseline)
CREATE SEQUENCE readtime.events_plain_seq;
CREATE TABLE readtime.events_plain (LIKE drivetribe.events INCLUDING DEFAULTS);
ALTER TABLE readtime.events_plain ALTER seq SET DEFAULT nextval('readtime.events_plain_seq'),
  ADD PRIMARY KEY (seq), ADD UNIQUE (event_id);
VACUUM ANALYZE readtime.users, readtime.tribes, readtime.articles, readtime.memberships,
               readtime.follows, readtime.views, readtime.bumps, readtime.comments;
