-- drivetribe benchmark, case "rebuild": the baseline.  What a user would
-- write instead of drivetribe.rebuild(): a set-based SQL recomputation of
-- the projection tables from drivetribe.events, into copies of them (schema
-- rc: the same columns, keys and indexes as drivetribe 1.3's tables, the
-- stored score as a generated column, articles with fillfactor 70 and
-- their three rank indexes), one transaction.  Two scans of the log (views are counted apart,
-- the rest copied to a temp table), then each table once, edges before the
-- counters that count them.  Relies on the log being valid (what the
-- events_valid check and the write API guarantee): a bump/unbump, follow/
-- unfollow or join/leave history of one pair alternates, so the pair is
-- current when its sum is positive.
--   psql -v step=schema -f test/bench/recompute.sql DB   (create rc: untimed)
--   psql -v step=run    -f test/bench/recompute.sql DB   (the timed part)
--   psql -v step=check  -f test/bench/recompute.sql DB   (differences from
--                              drivetribe's read API: prints one count)
\set ON_ERROR_STOP 1
SELECT :'step' = 'schema' AS is_schema, :'step' = 'run' AS is_run, :'step' = 'check' AS is_check \gset

\if :is_schema
DROP SCHEMA IF EXISTS rc CASCADE;
CREATE SCHEMA rc;
CREATE TABLE rc.users (
    user_id        bigint      NOT NULL PRIMARY KEY,
    name           text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    articles       bigint      NOT NULL DEFAULT 0,
    comments       bigint      NOT NULL DEFAULT 0,
    bumps_given    bigint      NOT NULL DEFAULT 0,
    bumps_received bigint      NOT NULL DEFAULT 0,
    followers      bigint      NOT NULL DEFAULT 0,
    following      bigint      NOT NULL DEFAULT 0,
    tribes         bigint      NOT NULL DEFAULT 0
);
CREATE TABLE rc.tribes (
    tribe_id   bigint      NOT NULL PRIMARY KEY,
    owner_id   bigint      NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    members    bigint      NOT NULL DEFAULT 0,
    articles   bigint      NOT NULL DEFAULT 0
);
CREATE TABLE rc.articles (
    article_id bigint      NOT NULL PRIMARY KEY,
    tribe_id   bigint      NOT NULL,
    author_id  bigint      NOT NULL,
    title      text        NOT NULL,
    posted_at  timestamptz NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    views      bigint      NOT NULL DEFAULT 0,
    comments   bigint      NOT NULL DEFAULT 0,
    bumps      bigint      NOT NULL DEFAULT 0,
    score      double precision GENERATED ALWAYS AS
               (drivetribe.score(bumps, comments, views, posted_at)) STORED
) WITH (fillfactor = 70);
CREATE INDEX ON rc.articles (score DESC, article_id DESC) WHERE NOT deleted;
CREATE INDEX ON rc.articles (tribe_id, score DESC, article_id DESC) WHERE NOT deleted;
CREATE INDEX ON rc.articles (author_id, score DESC, article_id DESC) WHERE NOT deleted;
CREATE TABLE rc.comments (
    comment_id bigint      NOT NULL PRIMARY KEY,
    article_id bigint      NOT NULL,
    author_id  bigint      NOT NULL,
    body       text        NOT NULL,
    posted_at  timestamptz NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false
);
CREATE INDEX ON rc.comments (article_id, posted_at, comment_id) WHERE NOT deleted;
CREATE TABLE rc.memberships (
    tribe_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    PRIMARY KEY (tribe_id, user_id)
);
CREATE INDEX ON rc.memberships (user_id, tribe_id);
CREATE TABLE rc.follows (
    follower_id bigint NOT NULL,
    followee_id bigint NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX ON rc.follows (followee_id, follower_id);
CREATE TABLE rc.bumps (
    article_id bigint NOT NULL,
    user_id    bigint NOT NULL,
    PRIMARY KEY (article_id, user_id)
);
\endif

\if :is_run
BEGIN;
SET LOCAL work_mem = '256MB';
TRUNCATE rc.users, rc.tribes, rc.articles, rc.comments, rc.memberships, rc.follows, rc.bumps;

CREATE TEMP TABLE ev ON COMMIT DROP AS
SELECT seq, kind, occurred_at, user_id, tribe_id, article_id, comment_id, target_id, body
  FROM drivetribe.events
 WHERE kind <> 'article_viewed';
CREATE TEMP TABLE views ON COMMIT DROP AS
SELECT article_id, count(*) AS n
  FROM drivetribe.events
 WHERE kind = 'article_viewed'
 GROUP BY article_id;
ANALYZE ev;
ANALYZE views;

INSERT INTO rc.bumps (article_id, user_id)
SELECT article_id, user_id FROM ev
 WHERE kind IN ('article_bumped', 'article_unbumped')
 GROUP BY article_id, user_id
HAVING sum(CASE kind WHEN 'article_bumped' THEN 1 ELSE -1 END) > 0;

INSERT INTO rc.follows (follower_id, followee_id)
SELECT user_id, target_id FROM ev
 WHERE kind IN ('user_followed', 'user_unfollowed')
 GROUP BY user_id, target_id
HAVING sum(CASE kind WHEN 'user_followed' THEN 1 ELSE -1 END) > 0;

INSERT INTO rc.memberships (tribe_id, user_id)
SELECT tribe_id, user_id FROM ev
 WHERE kind IN ('tribe_created', 'tribe_joined', 'tribe_left')
 GROUP BY tribe_id, user_id
HAVING sum(CASE kind WHEN 'tribe_left' THEN -1 ELSE 1 END) > 0;

INSERT INTO rc.comments (comment_id, article_id, author_id, body, posted_at, deleted)
SELECT p.comment_id, p.article_id, p.user_id, p.body, p.occurred_at, d.comment_id IS NOT NULL
  FROM ev p
  LEFT JOIN (SELECT comment_id FROM ev WHERE kind = 'comment_deleted') d USING (comment_id)
 WHERE p.kind = 'comment_posted';

INSERT INTO rc.articles (article_id, tribe_id, author_id, title, posted_at, deleted, views, comments, bumps)
SELECT p.article_id, p.tribe_id, p.user_id, coalesce(t.body, p.body), p.occurred_at,
       d.article_id IS NOT NULL, coalesce(v.n, 0), coalesce(c.n, 0), coalesce(b.n, 0)
  FROM ev p
  LEFT JOIN (SELECT DISTINCT ON (article_id) article_id, body FROM ev
              WHERE kind = 'article_edited' ORDER BY article_id, seq DESC) t USING (article_id)
  LEFT JOIN (SELECT article_id FROM ev WHERE kind = 'article_deleted') d USING (article_id)
  LEFT JOIN views v USING (article_id)
  LEFT JOIN (SELECT article_id, count(*) AS n FROM rc.comments WHERE NOT deleted
              GROUP BY article_id) c USING (article_id)
  LEFT JOIN (SELECT article_id, count(*) AS n FROM rc.bumps GROUP BY article_id) b USING (article_id)
 WHERE p.kind = 'article_posted';

INSERT INTO rc.tribes (tribe_id, owner_id, name, created_at, members, articles)
SELECT p.tribe_id, p.user_id, coalesce(r.body, p.body), p.occurred_at, coalesce(m.n, 0), coalesce(a.n, 0)
  FROM ev p
  LEFT JOIN (SELECT DISTINCT ON (tribe_id) tribe_id, body FROM ev
              WHERE kind = 'tribe_renamed' ORDER BY tribe_id, seq DESC) r USING (tribe_id)
  LEFT JOIN (SELECT tribe_id, count(*) AS n FROM rc.memberships GROUP BY tribe_id) m USING (tribe_id)
  LEFT JOIN (SELECT tribe_id, count(*) AS n FROM rc.articles WHERE NOT deleted
              GROUP BY tribe_id) a USING (tribe_id)
 WHERE p.kind = 'tribe_created';

INSERT INTO rc.users (user_id, name, registered_at, articles, comments, bumps_given,
                      bumps_received, followers, following, tribes)
SELECT p.user_id, coalesce(r.body, p.body), p.occurred_at, coalesce(a.n, 0), coalesce(c.n, 0),
       coalesce(bg.n, 0), coalesce(br.n, 0), coalesce(fr.n, 0), coalesce(fg.n, 0), coalesce(m.n, 0)
  FROM ev p
  LEFT JOIN (SELECT DISTINCT ON (user_id) user_id, body FROM ev
              WHERE kind = 'user_renamed' ORDER BY user_id, seq DESC) r USING (user_id)
  LEFT JOIN (SELECT author_id AS user_id, count(*) AS n FROM rc.articles WHERE NOT deleted
              GROUP BY author_id) a USING (user_id)
  LEFT JOIN (SELECT author_id AS user_id, count(*) AS n FROM rc.comments WHERE NOT deleted
              GROUP BY author_id) c USING (user_id)
  LEFT JOIN (SELECT user_id, count(*) AS n FROM rc.bumps GROUP BY user_id) bg USING (user_id)
  LEFT JOIN (SELECT ar.author_id AS user_id, count(*) AS n
               FROM rc.bumps b JOIN rc.articles ar USING (article_id)
              WHERE NOT ar.deleted GROUP BY ar.author_id) br USING (user_id)
  LEFT JOIN (SELECT followee_id AS user_id, count(*) AS n FROM rc.follows
              GROUP BY followee_id) fr USING (user_id)
  LEFT JOIN (SELECT follower_id AS user_id, count(*) AS n FROM rc.follows
              GROUP BY follower_id) fg USING (user_id)
  LEFT JOIN (SELECT user_id, count(*) AS n FROM rc.memberships GROUP BY user_id) m USING (user_id)
 WHERE p.kind = 'user_registered';
COMMIT;
\endif

\if :is_check
-- rows of drivetribe's read API that the recomputation does not reproduce,
-- and the other way round (0 = the same projections)
SELECT
  (SELECT count(*) FROM (
     (SELECT user_id, name, articles, comments, bumps_given, bumps_received, followers, following, tribes
        FROM drivetribe.user_stats
      EXCEPT ALL
      SELECT user_id, name, articles, comments, bumps_given, bumps_received, followers, following, tribes
        FROM rc.users)
     UNION ALL
     (SELECT user_id, name, articles, comments, bumps_given, bumps_received, followers, following, tribes
        FROM rc.users
      EXCEPT ALL
      SELECT user_id, name, articles, comments, bumps_given, bumps_received, followers, following, tribes
        FROM drivetribe.user_stats)) d)
+ (SELECT count(*) FROM (
     (SELECT tribe_id, name, owner_id, members, articles FROM drivetribe.tribe_stats
      EXCEPT ALL SELECT tribe_id, name, owner_id, members, articles FROM rc.tribes)
     UNION ALL
     (SELECT tribe_id, name, owner_id, members, articles FROM rc.tribes
      EXCEPT ALL SELECT tribe_id, name, owner_id, members, articles FROM drivetribe.tribe_stats)) d)
+ (SELECT count(*) FROM (
     (SELECT article_id, tribe_id, tribe_name, author_id, author_name, title, posted_at, views, comments, bumps
        FROM drivetribe.article_view
      EXCEPT ALL
      SELECT a.article_id, a.tribe_id, t.name, a.author_id, u.name, a.title, a.posted_at, a.views, a.comments, a.bumps
        FROM rc.articles a JOIN rc.tribes t USING (tribe_id) JOIN rc.users u ON u.user_id = a.author_id
       WHERE NOT a.deleted)
     UNION ALL
     (SELECT a.article_id, a.tribe_id, t.name, a.author_id, u.name, a.title, a.posted_at, a.views, a.comments, a.bumps
        FROM rc.articles a JOIN rc.tribes t USING (tribe_id) JOIN rc.users u ON u.user_id = a.author_id
       WHERE NOT a.deleted
      EXCEPT ALL
      SELECT article_id, tribe_id, tribe_name, author_id, author_name, title, posted_at, views, comments, bumps
        FROM drivetribe.article_view)) d) AS differences;
\endif
