-- drivetribe benchmark, case "plpgsql": the same event log and projections
-- written the way a competent user would write them without C: PL/pgSQL
-- functions that validate their arguments as SPEC says (22004, 22023,
-- 23503, 23505, 55000; NULL for a no-op), append an event to their own log,
-- and a row trigger on that log that maintains the projections (counters,
-- edges) in the same transaction.  Same tables, columns and indexes as
-- drivetribe 1.1, same event fields and display-name context, same privilege
-- model (SECURITY DEFINER with a pinned search_path, schema-qualified SQL).
-- Only the write functions the benchmark calls are written (register_user,
-- create_tribe, post_article for the world; view_article, bump, unbump,
-- post_comment measured); the trigger projects every kind.
-- event_id: a retry with the same event_id and arguments returns the logged
-- seq, other arguments are 23505; no-op calls are not remembered (drivetribe
-- keeps their keys in noop_calls).
--   psql -f test/bench/plpgsql_dt.sql DB
\set ON_ERROR_STOP 1

CREATE SCHEMA plpgsql_dt;

CREATE TABLE plpgsql_dt.events (
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    event_id     uuid        NOT NULL,
    kind         text        NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    user_id      bigint,
    tribe_id     bigint,
    article_id   bigint,
    comment_id   bigint,
    target_id    bigint,
    recipient_id bigint,
    body         text,
    context      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (seq),
    UNIQUE (event_id),
    CHECK (kind IN (
        'user_registered', 'user_renamed', 'tribe_created', 'tribe_renamed',
        'tribe_joined', 'tribe_left', 'user_followed', 'user_unfollowed',
        'article_posted', 'article_edited', 'article_deleted', 'article_viewed',
        'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped'))
);

CREATE FUNCTION plpgsql_dt.events_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'plpgsql_dt.events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_are_immutable
  BEFORE UPDATE OR DELETE OR TRUNCATE ON plpgsql_dt.events
  FOR EACH STATEMENT EXECUTE FUNCTION plpgsql_dt.events_are_immutable();

-- extract(epoch ...) is only STABLE in PostgreSQL 15's catalog (other fields
-- depend on the time zone); the epoch does not, so the usual wrapper.
CREATE FUNCTION plpgsql_dt.score(bumps bigint, comments bigint, views bigint, posted_at timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT log(greatest(10 * bumps + 5 * comments + views, 1)::double precision)
             + extract(epoch FROM posted_at)::double precision / 45000 $$;

CREATE TABLE plpgsql_dt.users (
    user_id        bigint      PRIMARY KEY,
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
CREATE TABLE plpgsql_dt.tribes (
    tribe_id   bigint      PRIMARY KEY,
    owner_id   bigint      NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    members    bigint      NOT NULL DEFAULT 0,
    articles   bigint      NOT NULL DEFAULT 0
);
CREATE TABLE plpgsql_dt.articles (
    article_id bigint      PRIMARY KEY,
    tribe_id   bigint      NOT NULL,
    author_id  bigint      NOT NULL,
    title      text        NOT NULL,
    posted_at  timestamptz NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    views      bigint      NOT NULL DEFAULT 0,
    comments   bigint      NOT NULL DEFAULT 0,
    bumps      bigint      NOT NULL DEFAULT 0,
    score      double precision GENERATED ALWAYS AS
               (plpgsql_dt.score(bumps, comments, views, posted_at)) STORED
);
CREATE TABLE plpgsql_dt.comments (
    comment_id bigint      PRIMARY KEY,
    article_id bigint      NOT NULL,
    author_id  bigint      NOT NULL,
    body       text        NOT NULL,
    posted_at  timestamptz NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false
);
CREATE INDEX ON plpgsql_dt.comments (article_id, posted_at, comment_id) WHERE NOT deleted;
CREATE TABLE plpgsql_dt.memberships (
    tribe_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    PRIMARY KEY (tribe_id, user_id)
);
CREATE INDEX ON plpgsql_dt.memberships (user_id);
CREATE TABLE plpgsql_dt.follows (
    follower_id bigint NOT NULL,
    followee_id bigint NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX ON plpgsql_dt.follows (followee_id);
CREATE TABLE plpgsql_dt.bumps (
    article_id bigint NOT NULL,
    user_id    bigint NOT NULL,
    PRIMARY KEY (article_id, user_id)
);

------------------------------------------------------------------------
-- The projection: one AFTER INSERT row trigger on the log.  Two users in
-- one UPDATE (... WHERE user_id IN (a, b)) are locked in index order, so
-- concurrent bumps and follows do not deadlock.
------------------------------------------------------------------------
CREATE FUNCTION plpgsql_dt.project_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  d int := 1;
BEGIN
  CASE NEW.kind
  WHEN 'article_viewed' THEN
    UPDATE plpgsql_dt.articles SET views = views + 1 WHERE article_id = NEW.article_id;

  WHEN 'article_bumped', 'article_unbumped' THEN
    IF NEW.kind = 'article_bumped' THEN
      INSERT INTO plpgsql_dt.bumps (article_id, user_id) VALUES (NEW.article_id, NEW.user_id);
    ELSE
      d := -1;
      DELETE FROM plpgsql_dt.bumps WHERE article_id = NEW.article_id AND user_id = NEW.user_id;
    END IF;
    UPDATE plpgsql_dt.articles SET bumps = bumps + d WHERE article_id = NEW.article_id;
    UPDATE plpgsql_dt.users
       SET bumps_given    = bumps_given    + CASE WHEN user_id = NEW.user_id   THEN d ELSE 0 END,
           bumps_received = bumps_received + CASE WHEN user_id = NEW.target_id THEN d ELSE 0 END
     WHERE user_id IN (NEW.user_id, NEW.target_id);

  WHEN 'comment_posted' THEN
    INSERT INTO plpgsql_dt.comments (comment_id, article_id, author_id, body, posted_at)
    VALUES (NEW.comment_id, NEW.article_id, NEW.user_id, NEW.body, NEW.occurred_at);
    UPDATE plpgsql_dt.articles SET comments = comments + 1 WHERE article_id = NEW.article_id;
    UPDATE plpgsql_dt.users SET comments = comments + 1 WHERE user_id = NEW.user_id;

  WHEN 'comment_deleted' THEN
    UPDATE plpgsql_dt.comments SET deleted = true WHERE comment_id = NEW.comment_id;
    UPDATE plpgsql_dt.articles SET comments = comments - 1 WHERE article_id = NEW.article_id;
    UPDATE plpgsql_dt.users SET comments = comments - 1 WHERE user_id = NEW.user_id;

  WHEN 'user_followed', 'user_unfollowed' THEN
    IF NEW.kind = 'user_followed' THEN
      INSERT INTO plpgsql_dt.follows (follower_id, followee_id) VALUES (NEW.user_id, NEW.target_id);
    ELSE
      d := -1;
      DELETE FROM plpgsql_dt.follows WHERE follower_id = NEW.user_id AND followee_id = NEW.target_id;
    END IF;
    UPDATE plpgsql_dt.users
       SET following = following + CASE WHEN user_id = NEW.user_id   THEN d ELSE 0 END,
           followers = followers + CASE WHEN user_id = NEW.target_id THEN d ELSE 0 END
     WHERE user_id IN (NEW.user_id, NEW.target_id);

  WHEN 'tribe_joined', 'tribe_left' THEN
    IF NEW.kind = 'tribe_joined' THEN
      INSERT INTO plpgsql_dt.memberships (tribe_id, user_id) VALUES (NEW.tribe_id, NEW.user_id);
    ELSE
      d := -1;
      DELETE FROM plpgsql_dt.memberships WHERE tribe_id = NEW.tribe_id AND user_id = NEW.user_id;
    END IF;
    UPDATE plpgsql_dt.tribes SET members = members + d WHERE tribe_id = NEW.tribe_id;
    UPDATE plpgsql_dt.users SET tribes = tribes + d WHERE user_id = NEW.user_id;

  WHEN 'article_posted' THEN
    INSERT INTO plpgsql_dt.articles (article_id, tribe_id, author_id, title, posted_at)
    VALUES (NEW.article_id, NEW.tribe_id, NEW.user_id, NEW.body, NEW.occurred_at);
    UPDATE plpgsql_dt.tribes SET articles = articles + 1 WHERE tribe_id = NEW.tribe_id;
    UPDATE plpgsql_dt.users SET articles = articles + 1 WHERE user_id = NEW.user_id;

  WHEN 'article_edited' THEN
    UPDATE plpgsql_dt.articles SET title = NEW.body WHERE article_id = NEW.article_id;

  WHEN 'article_deleted' THEN
    UPDATE plpgsql_dt.articles SET deleted = true WHERE article_id = NEW.article_id;
    UPDATE plpgsql_dt.tribes SET articles = articles - 1 WHERE tribe_id = NEW.tribe_id;
    UPDATE plpgsql_dt.users
       SET articles = articles - 1,
           bumps_received = bumps_received - (NEW.context ->> 'bumps')::bigint
     WHERE user_id = NEW.user_id;

  WHEN 'user_registered' THEN
    INSERT INTO plpgsql_dt.users (user_id, name, registered_at)
    VALUES (NEW.user_id, NEW.body, NEW.occurred_at);

  WHEN 'user_renamed' THEN
    UPDATE plpgsql_dt.users SET name = NEW.body WHERE user_id = NEW.user_id;

  WHEN 'tribe_created' THEN
    INSERT INTO plpgsql_dt.tribes (tribe_id, owner_id, name, created_at, members)
    VALUES (NEW.tribe_id, NEW.user_id, NEW.body, NEW.occurred_at, 1);
    INSERT INTO plpgsql_dt.memberships (tribe_id, user_id) VALUES (NEW.tribe_id, NEW.user_id);
    UPDATE plpgsql_dt.users SET tribes = tribes + 1 WHERE user_id = NEW.user_id;

  WHEN 'tribe_renamed' THEN
    UPDATE plpgsql_dt.tribes SET name = NEW.body WHERE tribe_id = NEW.tribe_id;
  END CASE;
  RETURN NULL;
END
$$;

CREATE TRIGGER project_event AFTER INSERT ON plpgsql_dt.events
  FOR EACH ROW EXECUTE FUNCTION plpgsql_dt.project_event();

------------------------------------------------------------------------
-- Argument checks and the event_id retry, shared by the write functions
------------------------------------------------------------------------
CREATE FUNCTION plpgsql_dt.check_id(what text, id bigint) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF id IS NULL THEN
    RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'null_value_not_allowed';
  ELSIF id <= 0 THEN
    RAISE EXCEPTION '% must be positive, got %', what, id USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$$;

CREATE FUNCTION plpgsql_dt.check_text(what text, value text, max_chars int) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'null_value_not_allowed';
  ELSIF value ~ '^[[:space:]\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$' THEN
    RAISE EXCEPTION '% must not be empty or blank: "%"', what, left(value, 40)
      USING ERRCODE = 'invalid_parameter_value';
  ELSIF char_length(value) > max_chars THEN
    RAISE EXCEPTION '% "%..." is too long: % characters', what, left(value, 40), char_length(value)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$$;

-- the seq of the logged event with this (given) event_id (NULL when none); an
-- event with other arguments is 23505.  The advisory lock makes a
-- concurrent retry wait for the first call.
CREATE FUNCTION plpgsql_dt.logged(p_event_id uuid, p_kind text, p_user_id bigint,
                                  p_tribe_id bigint, p_article_id bigint,
                                  p_comment_id bigint, p_target_id bigint, p_body text)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  e plpgsql_dt.events;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_event_id::text, 0));
  SELECT * INTO e FROM plpgsql_dt.events WHERE event_id = p_event_id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF e.kind IS DISTINCT FROM p_kind
     OR (p_user_id IS NOT NULL AND e.user_id IS DISTINCT FROM p_user_id)
     OR (p_tribe_id IS NOT NULL AND e.tribe_id IS DISTINCT FROM p_tribe_id)
     OR (p_article_id IS NOT NULL AND e.article_id IS DISTINCT FROM p_article_id)
     OR (p_comment_id IS NOT NULL AND e.comment_id IS DISTINCT FROM p_comment_id)
     OR (p_target_id IS NOT NULL AND e.target_id IS DISTINCT FROM p_target_id)
     OR (p_body IS NOT NULL AND e.body IS DISTINCT FROM p_body) THEN
    RAISE EXCEPTION 'event_id % was used by another call', p_event_id
      USING ERRCODE = 'unique_violation';
  END IF;
  RETURN e.seq;
END
$$;

-- the live article, locked: it decides liveness and its edges
CREATE FUNCTION plpgsql_dt.live_article(p_article_id bigint, action text)
RETURNS plpgsql_dt.articles
LANGUAGE plpgsql AS $$
DECLARE
  a plpgsql_dt.articles;
BEGIN
  SELECT * INTO a FROM plpgsql_dt.articles WHERE article_id = p_article_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'article % does not exist', p_article_id USING ERRCODE = 'foreign_key_violation';
  ELSIF a.deleted THEN
    RAISE EXCEPTION 'article % is deleted', p_article_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('A deleted article cannot be %s.', action);
  END IF;
  RETURN a;
END
$$;

CREATE FUNCTION plpgsql_dt.user_name(p_user_id bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  n text;
BEGIN
  SELECT name INTO n FROM plpgsql_dt.users WHERE user_id = p_user_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user % does not exist', p_user_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN n;
END
$$;

------------------------------------------------------------------------
-- Write functions
------------------------------------------------------------------------
CREATE FUNCTION plpgsql_dt.register_user(p_user_id bigint, p_name text, p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
BEGIN
  PERFORM plpgsql_dt.check_id('user_id', p_user_id);
  PERFORM plpgsql_dt.check_text('name', p_name, 64);
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'user_registered', p_user_id, NULL, NULL, NULL, NULL, p_name);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  IF EXISTS (SELECT FROM plpgsql_dt.users WHERE user_id = p_user_id) THEN
    RAISE EXCEPTION 'user % already exists', p_user_id USING ERRCODE = 'unique_violation';
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, body, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'user_registered', p_user_id, p_name,
          jsonb_build_object('user_name', p_name))
  RETURNING seq INTO s;
  RETURN s;
END
$$;

CREATE FUNCTION plpgsql_dt.create_tribe(p_tribe_id bigint, p_owner_id bigint, p_name text,
                                        p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  owner_name text;
BEGIN
  PERFORM plpgsql_dt.check_id('tribe_id', p_tribe_id);
  PERFORM plpgsql_dt.check_id('owner_id', p_owner_id);
  PERFORM plpgsql_dt.check_text('name', p_name, 100);
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'tribe_created', p_owner_id, p_tribe_id, NULL, NULL, NULL, p_name);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  SELECT name INTO owner_name FROM plpgsql_dt.users WHERE user_id = p_owner_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user % does not exist', p_owner_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF EXISTS (SELECT FROM plpgsql_dt.tribes WHERE tribe_id = p_tribe_id) THEN
    RAISE EXCEPTION 'tribe % already exists', p_tribe_id USING ERRCODE = 'unique_violation';
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, tribe_id, body, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'tribe_created', p_owner_id, p_tribe_id, p_name,
          jsonb_build_object('user_name', owner_name, 'tribe_name', p_name))
  RETURNING seq INTO s;
  RETURN s;
END
$$;

CREATE FUNCTION plpgsql_dt.post_article(p_article_id bigint, p_author_id bigint, p_tribe_id bigint,
                                        p_title text, p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  author_name text;
  tribe_name text;
BEGIN
  PERFORM plpgsql_dt.check_id('article_id', p_article_id);
  PERFORM plpgsql_dt.check_id('author_id', p_author_id);
  PERFORM plpgsql_dt.check_id('tribe_id', p_tribe_id);
  PERFORM plpgsql_dt.check_text('title', p_title, 300);
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'article_posted', p_author_id, p_tribe_id, p_article_id, NULL, NULL, p_title);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  SELECT name INTO tribe_name FROM plpgsql_dt.tribes WHERE tribe_id = p_tribe_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tribe % does not exist', p_tribe_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT name INTO author_name FROM plpgsql_dt.users WHERE user_id = p_author_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'user % does not exist', p_author_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF EXISTS (SELECT FROM plpgsql_dt.articles WHERE article_id = p_article_id) THEN
    RAISE EXCEPTION 'article % already exists', p_article_id USING ERRCODE = 'unique_violation';
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, tribe_id, article_id, body, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'article_posted', p_author_id, p_tribe_id,
          p_article_id, p_title,
          jsonb_build_object('user_name', author_name, 'tribe_name', tribe_name, 'title', p_title))
  RETURNING seq INTO s;
  RETURN s;
END
$$;

CREATE FUNCTION plpgsql_dt.view_article(p_article_id bigint, p_viewer_id bigint DEFAULT NULL,
                                        p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  a plpgsql_dt.articles;
  viewer_name text;
BEGIN
  PERFORM plpgsql_dt.check_id('article_id', p_article_id);
  IF p_viewer_id IS NOT NULL THEN
    PERFORM plpgsql_dt.check_id('viewer_id', p_viewer_id);
  END IF;
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'article_viewed', p_viewer_id, NULL, p_article_id, NULL, NULL, NULL);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  a := plpgsql_dt.live_article(p_article_id, 'viewed');
  IF p_viewer_id IS NOT NULL THEN
    viewer_name := plpgsql_dt.user_name(p_viewer_id);
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, tribe_id, article_id, target_id, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'article_viewed', p_viewer_id, a.tribe_id,
          p_article_id, a.author_id,
          CASE WHEN viewer_name IS NULL THEN '{}'::jsonb
               ELSE jsonb_build_object('user_name', viewer_name) END)
  RETURNING seq INTO s;
  RETURN s;
END
$$;

CREATE FUNCTION plpgsql_dt.bump(p_article_id bigint, p_user_id bigint, p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  a plpgsql_dt.articles;
  bumper_name text;
BEGIN
  PERFORM plpgsql_dt.check_id('article_id', p_article_id);
  PERFORM plpgsql_dt.check_id('user_id', p_user_id);
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'article_bumped', p_user_id, NULL, p_article_id, NULL, NULL, NULL);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  a := plpgsql_dt.live_article(p_article_id, 'bumped');
  bumper_name := plpgsql_dt.user_name(p_user_id);
  IF EXISTS (SELECT FROM plpgsql_dt.bumps WHERE article_id = p_article_id AND user_id = p_user_id) THEN
    RETURN NULL;
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, tribe_id, article_id, target_id, recipient_id, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'article_bumped', p_user_id, a.tribe_id,
          p_article_id, a.author_id, a.author_id,
          jsonb_build_object('user_name', bumper_name, 'title', a.title))
  RETURNING seq INTO s;
  RETURN s;
END
$$;

CREATE FUNCTION plpgsql_dt.unbump(p_article_id bigint, p_user_id bigint, p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  a plpgsql_dt.articles;
  bumper_name text;
BEGIN
  PERFORM plpgsql_dt.check_id('article_id', p_article_id);
  PERFORM plpgsql_dt.check_id('user_id', p_user_id);
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'article_unbumped', p_user_id, NULL, p_article_id, NULL, NULL, NULL);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  a := plpgsql_dt.live_article(p_article_id, 'unbumped');
  bumper_name := plpgsql_dt.user_name(p_user_id);
  IF NOT EXISTS (SELECT FROM plpgsql_dt.bumps WHERE article_id = p_article_id AND user_id = p_user_id) THEN
    RETURN NULL;
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, tribe_id, article_id, target_id, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'article_unbumped', p_user_id, a.tribe_id,
          p_article_id, a.author_id,
          jsonb_build_object('user_name', bumper_name, 'title', a.title))
  RETURNING seq INTO s;
  RETURN s;
END
$$;

CREATE FUNCTION plpgsql_dt.post_comment(p_comment_id bigint, p_article_id bigint, p_author_id bigint,
                                        p_body text, p_event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  a plpgsql_dt.articles;
  author_name text;
BEGIN
  PERFORM plpgsql_dt.check_id('comment_id', p_comment_id);
  PERFORM plpgsql_dt.check_id('article_id', p_article_id);
  PERFORM plpgsql_dt.check_id('author_id', p_author_id);
  PERFORM plpgsql_dt.check_text('body', p_body, 10000);
  IF p_event_id IS NOT NULL THEN
    s := plpgsql_dt.logged(p_event_id, 'comment_posted', p_author_id, NULL, p_article_id, p_comment_id, NULL, p_body);
    IF s IS NOT NULL THEN RETURN s; END IF;
  END IF;
  a := plpgsql_dt.live_article(p_article_id, 'commented on');
  author_name := plpgsql_dt.user_name(p_author_id);
  IF EXISTS (SELECT FROM plpgsql_dt.comments WHERE comment_id = p_comment_id) THEN
    RAISE EXCEPTION 'comment % already exists', p_comment_id USING ERRCODE = 'unique_violation';
  END IF;
  INSERT INTO plpgsql_dt.events (event_id, kind, user_id, tribe_id, article_id, comment_id,
                                 target_id, recipient_id, body, context)
  VALUES (coalesce(p_event_id, gen_random_uuid()), 'comment_posted', p_author_id, a.tribe_id,
          p_article_id, p_comment_id, a.author_id, a.author_id, p_body,
          jsonb_build_object('user_name', author_name, 'title', a.title))
  RETURNING seq INTO s;
  RETURN s;
END
$$;
