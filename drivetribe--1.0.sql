/* drivetribe--1.0.sql: the event log, its projections and the API */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION drivetribe" to load this file. \quit

-- The schema belongs to the extension (the control file names pg_catalog,
-- as pg_cron does), so DROP EXTENSION leaves nothing behind.
CREATE SCHEMA drivetribe;
COMMENT ON SCHEMA drivetribe IS 'drivetribe: event log, projections and API';

-- Nothing here is granted to PUBLIC: grant_writer() and grant_reader()
-- give roles exactly the API.  Every function is created, then its
-- EXECUTE revoked from PUBLIC, at the end of the script.

------------------------------------------------------------------------
-- The rank score (SPEC: Ranking); used by the generated column below.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.score(bumps bigint, comments bigint, views bigint,
                                 posted_at timestamptz)
RETURNS double precision
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'drivetribe_score';

------------------------------------------------------------------------
-- The event log: the only source of truth.  Append-only.
------------------------------------------------------------------------
CREATE SEQUENCE drivetribe.event_seq AS bigint;

CREATE TABLE drivetribe.events (
    seq          bigint      NOT NULL DEFAULT pg_catalog.nextval('drivetribe.event_seq'),
    event_id     uuid        NOT NULL,
    kind         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    user_id      bigint,     -- the acting or subject user (NULL: anonymous viewer)
    tribe_id     bigint,
    article_id   bigint,
    comment_id   bigint,
    target_id    bigint,     -- the other user: followee, article author, tribe owner
    recipient_id bigint,     -- whom the event notifies, for notifying kinds
    body         text,       -- new name, title or comment body
    context      jsonb       NOT NULL DEFAULT '{}',  -- display names as of the event
    CONSTRAINT events_pkey PRIMARY KEY (seq),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_kind_check CHECK (kind IN (
        'user_registered', 'user_renamed', 'tribe_created', 'tribe_renamed',
        'tribe_joined', 'tribe_left', 'user_followed', 'user_unfollowed',
        'article_posted', 'article_edited', 'article_deleted', 'article_viewed',
        'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped'))
);
ALTER SEQUENCE drivetribe.event_seq OWNED BY drivetribe.events.seq;

COMMENT ON TABLE drivetribe.events IS
  'drivetribe event log: one row per accepted event, never updated or deleted';

CREATE FUNCTION drivetribe.events_are_immutable()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_events_are_immutable';

CREATE TRIGGER events_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON drivetribe.events
    FOR EACH STATEMENT EXECUTE FUNCTION drivetribe.events_are_immutable();
-- fire also under session_replication_role = replica
ALTER TABLE drivetribe.events ENABLE ALWAYS TRIGGER events_are_immutable;

------------------------------------------------------------------------
-- Projections: maintained by the write API in the writer's transaction,
-- recomputed by rebuild(), checked by verify().  No foreign keys: the
-- write API checks references, and FK checks would lock parent rows.
------------------------------------------------------------------------
CREATE TABLE drivetribe.users (
    user_id        bigint      NOT NULL,
    name           text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    articles       bigint      NOT NULL DEFAULT 0,  -- live articles
    comments       bigint      NOT NULL DEFAULT 0,  -- live comments
    bumps_given    bigint      NOT NULL DEFAULT 0,
    bumps_received bigint      NOT NULL DEFAULT 0,  -- on live articles
    followers      bigint      NOT NULL DEFAULT 0,
    following      bigint      NOT NULL DEFAULT 0,
    tribes         bigint      NOT NULL DEFAULT 0,
    CONSTRAINT users_pkey PRIMARY KEY (user_id)
);

CREATE TABLE drivetribe.tribes (
    tribe_id   bigint      NOT NULL,
    owner_id   bigint      NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    members    bigint      NOT NULL DEFAULT 0,
    articles   bigint      NOT NULL DEFAULT 0,      -- live articles
    CONSTRAINT tribes_pkey PRIMARY KEY (tribe_id)
);

CREATE TABLE drivetribe.articles (
    article_id bigint      NOT NULL,
    tribe_id   bigint      NOT NULL,
    author_id  bigint      NOT NULL,
    title      text        NOT NULL,
    posted_at  timestamptz NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    views      bigint      NOT NULL DEFAULT 0,
    comments   bigint      NOT NULL DEFAULT 0,      -- live comments
    bumps      bigint      NOT NULL DEFAULT 0,      -- current bumps
    score      double precision GENERATED ALWAYS AS
               (drivetribe.score(bumps, comments, views, posted_at)) STORED,
    CONSTRAINT articles_pkey PRIMARY KEY (article_id)
);

CREATE TABLE drivetribe.comments (
    comment_id bigint      NOT NULL,
    article_id bigint      NOT NULL,
    author_id  bigint      NOT NULL,
    body       text        NOT NULL,
    posted_at  timestamptz NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    CONSTRAINT comments_pkey PRIMARY KEY (comment_id)
);
-- article_comments(): live comments of one article, oldest first
CREATE INDEX comments_article_idx
    ON drivetribe.comments (article_id, posted_at, comment_id)
    WHERE NOT deleted;

CREATE TABLE drivetribe.memberships (
    tribe_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    CONSTRAINT memberships_pkey PRIMARY KEY (tribe_id, user_id)
);
CREATE INDEX memberships_user_idx ON drivetribe.memberships (user_id);

CREATE TABLE drivetribe.follows (
    follower_id bigint NOT NULL,
    followee_id bigint NOT NULL,
    CONSTRAINT follows_pkey PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee_idx ON drivetribe.follows (followee_id);

CREATE TABLE drivetribe.bumps (
    article_id bigint NOT NULL,
    user_id    bigint NOT NULL,
    CONSTRAINT bumps_pkey PRIMARY KEY (article_id, user_id)
);

-- pg_dump must carry the log, its sequence and the projections.
SELECT pg_catalog.pg_extension_config_dump('drivetribe.events', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.event_seq', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.users', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.tribes', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.articles', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.comments', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.memberships', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.follows', '');
SELECT pg_catalog.pg_extension_config_dump('drivetribe.bumps', '');

------------------------------------------------------------------------
-- Write API (C, SECURITY DEFINER: writers get no table privileges)
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.register_user(user_id bigint, name text,
                                         event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_register_user';

CREATE FUNCTION drivetribe.rename_user(user_id bigint, name text,
                                       event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_rename_user';

CREATE FUNCTION drivetribe.create_tribe(tribe_id bigint, owner_id bigint,
                                        name text, event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_create_tribe';

CREATE FUNCTION drivetribe.rename_tribe(tribe_id bigint, name text,
                                        event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_rename_tribe';

CREATE FUNCTION drivetribe.join_tribe(user_id bigint, tribe_id bigint,
                                      event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_join_tribe';

CREATE FUNCTION drivetribe.leave_tribe(user_id bigint, tribe_id bigint,
                                       event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_leave_tribe';

CREATE FUNCTION drivetribe.follow_user(follower_id bigint, followee_id bigint,
                                       event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_follow_user';

CREATE FUNCTION drivetribe.unfollow_user(follower_id bigint, followee_id bigint,
                                         event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_unfollow_user';

CREATE FUNCTION drivetribe.post_article(article_id bigint, author_id bigint,
                                        tribe_id bigint, title text,
                                        event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_post_article';

CREATE FUNCTION drivetribe.edit_article(article_id bigint, title text,
                                        event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_edit_article';

CREATE FUNCTION drivetribe.delete_article(article_id bigint,
                                          event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_delete_article';

CREATE FUNCTION drivetribe.view_article(article_id bigint,
                                        viewer_id bigint DEFAULT NULL,
                                        event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_view_article';

CREATE FUNCTION drivetribe.post_comment(comment_id bigint, article_id bigint,
                                        author_id bigint, body text,
                                        event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_post_comment';

CREATE FUNCTION drivetribe.delete_comment(comment_id bigint,
                                          event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_delete_comment';

CREATE FUNCTION drivetribe.bump(article_id bigint, user_id bigint,
                                event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_bump';

CREATE FUNCTION drivetribe.unbump(article_id bigint, user_id bigint,
                                  event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_unbump';

------------------------------------------------------------------------
-- Read API.  Views run with their owner's rights, so readers need only
-- SELECT on them; the functions are plain SQL over the views (inlinable)
-- or SECURITY DEFINER where they read a table.
------------------------------------------------------------------------
CREATE VIEW drivetribe.article_view AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name,
       a.author_id, u.name AS author_name,
       a.title, a.posted_at, a.views, a.comments, a.bumps, a.score
  FROM drivetribe.articles a
  JOIN drivetribe.tribes t ON t.tribe_id OPERATOR(pg_catalog.=) a.tribe_id
  JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) a.author_id
 WHERE NOT a.deleted;

CREATE VIEW drivetribe.user_stats AS
SELECT user_id, name, articles, comments, bumps_given, bumps_received,
       followers, following, tribes
  FROM drivetribe.users;

CREATE VIEW drivetribe.tribe_stats AS
SELECT tribe_id, name, owner_id, members, articles
  FROM drivetribe.tribes;

CREATE FUNCTION drivetribe.article(article_id bigint)
RETURNS SETOF drivetribe.article_view
LANGUAGE sql STABLE
AS $$
  SELECT * FROM drivetribe.article_view v
   WHERE v.article_id OPERATOR(pg_catalog.=) $1
$$;

CREATE FUNCTION drivetribe.article_comments(article_id bigint,
                                            page_size int DEFAULT 20,
                                            after_comment_id bigint DEFAULT NULL)
RETURNS TABLE (comment_id bigint, author_id bigint, author_name text,
               body text, posted_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF page_size IS NULL THEN
    RAISE EXCEPTION 'page_size must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  ELSIF page_size OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'page_size must not be negative, got %', page_size
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- oldest first: (posted_at, comment_id), keyset-paginated from the
  -- position of after_comment_id, on comments_article_idx
  RETURN QUERY
  SELECT c.comment_id, c.author_id, u.name, c.body, c.posted_at
    FROM drivetribe.comments c
    JOIN drivetribe.articles a ON a.article_id OPERATOR(pg_catalog.=) c.article_id
    JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) c.author_id
   WHERE c.article_id OPERATOR(pg_catalog.=) article_comments.article_id
     AND NOT c.deleted
     AND NOT a.deleted
     AND (article_comments.after_comment_id IS NULL
          OR ROW(c.posted_at, c.comment_id) OPERATOR(pg_catalog.>)
             (SELECT p.posted_at, p.comment_id FROM drivetribe.comments p
               WHERE p.comment_id OPERATOR(pg_catalog.=) article_comments.after_comment_id))
   ORDER BY c.posted_at, c.comment_id
   LIMIT page_size;
END
$$;

CREATE FUNCTION drivetribe.has_bumped(article_id bigint, user_id bigint)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (
    SELECT FROM drivetribe.bumps b
      JOIN drivetribe.articles a ON a.article_id OPERATOR(pg_catalog.=) b.article_id
     WHERE b.article_id OPERATOR(pg_catalog.=) $1
       AND b.user_id OPERATOR(pg_catalog.=) $2
       AND NOT a.deleted)
$$;

------------------------------------------------------------------------
-- Maintenance
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.rebuild()
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_rebuild';
COMMENT ON FUNCTION drivetribe.rebuild() IS
  'recompute every projection from the event log; returns the number of events replayed';

CREATE FUNCTION drivetribe.verify()
RETURNS TABLE (projection text, key text, detail text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_verify';
COMMENT ON FUNCTION drivetribe.verify() IS
  'one row per difference between the projections and a replay of the event log';

-- The API a role gets from grant_writer() / grant_reader().
CREATE FUNCTION drivetribe.api_functions(writer boolean)
RETURNS SETOF regprocedure
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.article(bigint)',
    'drivetribe.article_comments(bigint,integer,bigint)',
    'drivetribe.has_bumped(bigint,bigint)']) AS f
  UNION ALL
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.register_user(bigint,text,uuid)',
    'drivetribe.rename_user(bigint,text,uuid)',
    'drivetribe.create_tribe(bigint,bigint,text,uuid)',
    'drivetribe.rename_tribe(bigint,text,uuid)',
    'drivetribe.join_tribe(bigint,bigint,uuid)',
    'drivetribe.leave_tribe(bigint,bigint,uuid)',
    'drivetribe.follow_user(bigint,bigint,uuid)',
    'drivetribe.unfollow_user(bigint,bigint,uuid)',
    'drivetribe.post_article(bigint,bigint,bigint,text,uuid)',
    'drivetribe.edit_article(bigint,text,uuid)',
    'drivetribe.delete_article(bigint,uuid)',
    'drivetribe.view_article(bigint,bigint,uuid)',
    'drivetribe.post_comment(bigint,bigint,bigint,text,uuid)',
    'drivetribe.delete_comment(bigint,uuid)',
    'drivetribe.bump(bigint,bigint,uuid)',
    'drivetribe.unbump(bigint,bigint,uuid)']) AS f
   WHERE writer
$$;

CREATE FUNCTION drivetribe.grant_api(role regrole, writer boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA drivetribe TO %s', role);
  EXECUTE pg_catalog.format(
    'GRANT SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats TO %s',
    role);
  FOR fn IN SELECT * FROM drivetribe.api_functions(writer) LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
  END LOOP;
END
$$;

CREATE FUNCTION drivetribe.grant_writer(role regrole)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT drivetribe.grant_api($1, true) $$;
COMMENT ON FUNCTION drivetribe.grant_writer(regrole) IS
  'let a role call the write and read API, and nothing more';

CREATE FUNCTION drivetribe.grant_reader(role regrole)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT drivetribe.grant_api($1, false) $$;
COMMENT ON FUNCTION drivetribe.grant_reader(regrole) IS
  'let a role call the read API, and nothing more';

-- pg_cron jobs of the extension, by name.
CREATE FUNCTION drivetribe.maintenance_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
  VALUES
    ('drivetribe-verify', '17 3 * * *',
     $cmd$DO $do$BEGIN IF EXISTS (SELECT FROM drivetribe.verify()) THEN RAISE EXCEPTION 'drivetribe.verify() found differences; run SELECT * FROM drivetribe.verify()'; END IF; END$do$$cmd$),
    ('drivetribe-prune-cron-history', '41 4 * * *',
     $cmd$DELETE FROM cron.job_run_details WHERE end_time < pg_catalog.now() - interval '14 days' AND jobid IN (SELECT jobid FROM cron.job WHERE jobname LIKE 'drivetribe-%')$cmd$)
$fn$;

CREATE FUNCTION drivetribe.require_pg_cron()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Preload pg_cron (shared_preload_libraries), set cron.database_name to this database, and CREATE EXTENSION pg_cron.';
  END IF;
END
$$;

CREATE FUNCTION drivetribe.schedule_maintenance()
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job record;
BEGIN
  PERFORM drivetribe.require_pg_cron();
  -- cron.schedule() with an existing name updates that job: idempotent.
  FOR job IN SELECT * FROM drivetribe.maintenance_jobs() LOOP
    RETURN NEXT cron.schedule(job.jobname, job.schedule, job.command);
  END LOOP;
END
$$;
COMMENT ON FUNCTION drivetribe.schedule_maintenance() IS
  'register (or update) the extension''s pg_cron jobs; returns their job ids';

CREATE FUNCTION drivetribe.unschedule_maintenance()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  removed bigint := 0;
  job record;
BEGIN
  PERFORM drivetribe.require_pg_cron();
  FOR job IN SELECT j.jobname FROM cron.job j
              WHERE j.jobname IN (SELECT m.jobname FROM drivetribe.maintenance_jobs() m) LOOP
    PERFORM cron.unschedule(job.jobname);
    removed := removed + 1;
  END LOOP;
  RETURN removed;
END
$$;
COMMENT ON FUNCTION drivetribe.unschedule_maintenance() IS
  'remove the extension''s pg_cron jobs; returns how many were removed';

------------------------------------------------------------------------
-- Least privilege: PUBLIC gets nothing.
------------------------------------------------------------------------
DO $$
DECLARE
  fn regprocedure;
BEGIN
  FOR fn IN
    SELECT p.oid::regprocedure
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'drivetribe'::regnamespace
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
  END LOOP;
END
$$;
REVOKE ALL ON ALL TABLES IN SCHEMA drivetribe FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA drivetribe FROM PUBLIC;
