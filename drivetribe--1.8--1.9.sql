/* drivetribe--1.8--1.9.sql: change without downtime (issue 22) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.9'" to load this file. \quit

------------------------------------------------------------------------
-- An update that does not stop writers (docs/design.md, "Updates that do
-- not stop writers").  ALTER EXTENSION runs this script in one
-- transaction and holds every lock it takes to the end, so:
--   * everything that needs no lock a writer conflicts with comes first
--     (functions, views, the blue/green machinery), and the two tables
--     that change come last;
--   * the two tables that change (the log and comments) are then locked
--     ACCESS EXCLUSIVE with 200 ms tries, so that a long transaction
--     holding them makes the update retry instead of queueing every
--     writer behind its lock request;
--   * what follows the lock is catalog work only: new columns with no
--     default or a constant one (no rewrite), a CHECK added NOT VALID (no
--     scan), functions.  Writers wait a few milliseconds.
-- Writers of a 1.8 database take the log's lock, then comments' (the
-- order below), before any other lock (locks.c, update_locks).
------------------------------------------------------------------------

------------------------------------------------------------------------
-- Event versions (src/event_shapes.c).  Every event records the version
-- of its kind's shape; the write API stamps the current one; every reader
-- of the log reads an older shape as the current one.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe_internal.event_shapes()
RETURNS TABLE (kind text, version smallint, change text, older_read_as text)
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'drivetribe_event_shapes';
REVOKE ALL ON FUNCTION drivetribe_internal.event_shapes() FROM PUBLIC;
COMMENT ON FUNCTION drivetribe_internal.event_shapes() IS
  'internal: the shapes of the event kinds, from the library (src/event_shapes.c); read through the view drivetribe.event_versions';

-- a version mark too (locks.c, version_marks): its presence means 1.9
CREATE VIEW drivetribe.event_versions AS
SELECT s.kind, s.version, s.change, s.older_read_as,
       s.version OPERATOR(pg_catalog.=) pg_catalog.max(s.version)
         OVER (PARTITION BY s.kind) AS current
  FROM drivetribe_internal.event_shapes() s;
COMMENT ON VIEW drivetribe.event_versions IS
  'the shape versions of each event kind: what each version changed, how an event of the version before is read, and which one the write API stamps now (current)';
COMMENT ON COLUMN drivetribe.event_versions.kind IS 'an event kind';
COMMENT ON COLUMN drivetribe.event_versions.version IS 'a version of its shape (drivetribe.events.version)';
COMMENT ON COLUMN drivetribe.event_versions.change IS 'what this version carries that the one before did not';
COMMENT ON COLUMN drivetribe.event_versions.older_read_as IS 'how every reader of the log reads an event of the version before (NULL for version 1)';
COMMENT ON COLUMN drivetribe.event_versions.current IS 'the version the write API stamps on new events of the kind';

-- 1.1's CHECK with the two new columns; the same C function (it reads the
-- version and the parent when it gets them)
CREATE FUNCTION drivetribe_internal.event_is_valid(seq bigint, kind text,
                                          user_id bigint, tribe_id bigint,
                                          article_id bigint, comment_id bigint,
                                          target_id bigint, recipient_id bigint,
                                          body text, context jsonb,
                                          version smallint,
                                          parent_comment_id bigint)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'drivetribe_event_is_valid';
REVOKE ALL ON FUNCTION drivetribe_internal.event_is_valid(bigint, text, bigint, bigint, bigint, bigint, bigint, bigint, text, jsonb, smallint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe_internal.event_is_valid(bigint, text, bigint, bigint, bigint, bigint, bigint, bigint, text, jsonb, smallint, bigint) IS
  'internal: the CHECK of drivetribe.events (1.9: with the version and the parent comment); true, or an error (23514) saying what is wrong with the row';

------------------------------------------------------------------------
-- Every SQL reader of the log gets the current shape: read_log(), and
-- the batches of registered projections (statements.c).
------------------------------------------------------------------------
CREATE FUNCTION drivetribe_internal.event_as_current(e drivetribe.events)
RETURNS drivetribe.events
LANGUAGE c STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'drivetribe_event_as_current';
REVOKE ALL ON FUNCTION drivetribe_internal.event_as_current(drivetribe.events) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe_internal.event_as_current(drivetribe.events) IS
  'internal: an event of the log in the current shape of its kind (its version column stays as logged)';

CREATE OR REPLACE FUNCTION drivetribe.read_log(after_txid pg_catalog.xid8 DEFAULT '0',
                                               after_seq bigint DEFAULT 0,
                                               max_rows integer DEFAULT 1000)
RETURNS SETOF drivetribe.events
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 1000
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF after_txid IS NULL THEN
    RAISE EXCEPTION 'after_txid must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''0'' and 0 to read from the start of the log.';
  ELSIF after_seq IS NULL THEN
    RAISE EXCEPTION 'after_seq must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''0'' and 0 to read from the start of the log.';
  ELSIF max_rows IS NULL THEN
    RAISE EXCEPTION 'max_rows must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  ELSIF max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 10000 THEN
    RAISE EXCEPTION 'max_rows must be between 1 and 10000, got %', max_rows
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- One snapshot: the rows read and the xmin they are cut at.  Every
  -- transaction with an id below xmin has ended, and its events are in
  -- this snapshot if it committed; a transaction that appends later has a
  -- larger id than any here, so nothing can appear behind the cursor.
  -- ONLY: a table that inherits from the log is no part of it.  Each
  -- event in the current shape of its kind (1.9), its version as logged.
  RETURN QUERY
  SELECT c.*
    FROM ONLY drivetribe.events e,
         LATERAL drivetribe_internal.event_as_current(e) c
   WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(read_log.after_txid, read_log.after_seq)
     AND e.txid OPERATOR(pg_catalog.<)
         pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
   ORDER BY e.txid, e.seq
   LIMIT read_log.max_rows;
END
$$;
COMMENT ON FUNCTION drivetribe.read_log(pg_catalog.xid8, bigint, integer) IS
  'the whole log for a role granted grant_log_reader(): up to max_rows events after the cursor (after_txid, after_seq) in (txid, seq) order, only those no running transaction can precede, each in the current shape of its kind (version: the shape it was logged in); pass the last row''s txid and seq for the next call';

------------------------------------------------------------------------
-- Replies (docs/reference.md, "Write API").  post_comment keeps its 1.0
-- form and gains two: the reply, with parent_comment_id before event_id;
-- and the 1.0 form with event_id text, which a call with an untyped
-- fifth argument (a quoted literal, an untyped parameter, NULL) resolves
-- to, as it resolved to event_id in 1.8: PostgreSQL prefers a text
-- parameter for an untyped argument, where uuid against bigint would be
-- ambiguous.  Every call of 1.8 keeps working and keeps its meaning.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe.post_comment(comment_id bigint, article_id bigint,
                                        author_id bigint, body text,
                                        parent_comment_id bigint,
                                        event_id uuid DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_post_reply';
REVOKE ALL ON FUNCTION drivetribe.post_comment(bigint, bigint, bigint, text, bigint, uuid) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe.post_comment(bigint, bigint, bigint, text, bigint, uuid) IS
  'write API: a comment that replies to parent_comment_id (a live comment of the same article; NULL: a comment on the article) -> comment_posted (version 2; the parent''s author is its recipient); returns the event''s seq';

CREATE FUNCTION drivetribe.post_comment(comment_id bigint, article_id bigint,
                                        author_id bigint, body text,
                                        event_id text)
RETURNS bigint LANGUAGE c VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_post_comment_text_id';
REVOKE ALL ON FUNCTION drivetribe.post_comment(bigint, bigint, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe.post_comment(bigint, bigint, bigint, text, text) IS
  'write API: post_comment(comment_id, article_id, author_id, body, event_id) called with an untyped event_id (read as a uuid), as before 1.9; returns the event''s seq';

-- article_comments() gains two columns: a new function, given the old
-- one's grants, and so are the new forms of post_comment the grants of
-- its 1.0 form (roles made writers or readers before the update)
ALTER FUNCTION drivetribe.article_comments(bigint, integer, bigint)
  RENAME TO article_comments_1_8;
CREATE FUNCTION drivetribe.article_comments(article_id bigint,
                                            page_size int DEFAULT 20,
                                            after_comment_id bigint DEFAULT NULL)
RETURNS TABLE (comment_id bigint, author_id bigint, author_name text,
               body text, posted_at timestamptz,
               parent_comment_id bigint, replies bigint)
LANGUAGE c STABLE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_article_comments';
REVOKE ALL ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) IS
  'read API: a page of an article''s live comments, oldest first (log order), after after_comment_id (keyset paging that never skips a comment committed late), with author names, the comment each replies to (parent_comment_id, NULL for a comment on the article) and its live replies; page_size 1..1000; 23503 for an unknown article or cursor comment; no rows for a deleted article';

DO $$
DECLARE
  g record;
BEGIN
  FOR g IN
    SELECT a.grantee::pg_catalog.regrole AS role, f.fn
      FROM (VALUES ('drivetribe.article_comments_1_8(bigint,integer,bigint)'::pg_catalog.regprocedure,
                    'drivetribe.article_comments(bigint,integer,bigint)'),
                   ('drivetribe.post_comment(bigint,bigint,bigint,text,uuid)',
                    'drivetribe.post_comment(bigint,bigint,bigint,text,bigint,uuid)'),
                   ('drivetribe.post_comment(bigint,bigint,bigint,text,uuid)',
                    'drivetribe.post_comment(bigint,bigint,bigint,text,text)')) AS f(old, fn),
           pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid OPERATOR(pg_catalog.=) f.old
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) 0
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
  LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', g.fn, g.role);
  END LOOP;
END
$$;
DROP FUNCTION drivetribe.article_comments_1_8(bigint, integer, bigint);

-- grant_reader() and grant_writer() give the new forms
CREATE OR REPLACE FUNCTION drivetribe_internal.api_functions(writer boolean)
RETURNS SETOF regprocedure
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT f::pg_catalog.regprocedure FROM pg_catalog.unnest(ARRAY[
    'drivetribe.article(bigint)',
    'drivetribe.article_comments(bigint,integer,bigint)',
    'drivetribe.has_bumped(bigint,bigint)',
    'drivetribe.feed(bigint,integer,double precision,bigint)',
    'drivetribe.tribe_feed(bigint,integer,double precision,bigint)']) AS f
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
    'drivetribe.post_comment(bigint,bigint,bigint,text,text)',
    'drivetribe.post_comment(bigint,bigint,bigint,text,bigint,uuid)',
    'drivetribe.delete_comment(bigint,uuid)',
    'drivetribe.bump(bigint,bigint,uuid)',
    'drivetribe.unbump(bigint,bigint,uuid)']) AS f
   WHERE writer
$$;
COMMENT ON FUNCTION drivetribe_internal.api_functions(boolean) IS
  'internal (grants): the functions of the read API, and of the write API too when writer (read_log() is not among them: grant_log_reader())';

------------------------------------------------------------------------
-- Locks with tries (this update's and the blue/green switch's): each try
-- runs the statements of locks, all in one subtransaction, waiting at most
-- try_timeout for each ('0': one try that waits as lock_timeout allows);
-- a try that times out lets go of what it took, sleeps a little longer
-- each time, and tries again, up to 150 times.  So a long transaction
-- holding a table makes the caller retry instead of queueing every writer
-- behind its lock request.  lock_timeout is the caller's again afterwards.
------------------------------------------------------------------------
CREATE FUNCTION drivetribe_internal.lock_with_tries(locks text[], try_timeout text,
                                                    what text, hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  saved text := pg_catalog.current_setting('lock_timeout');
  tries int := 0;
  stmt text;
BEGIN
  IF try_timeout OPERATOR(pg_catalog.<>) '0' THEN
    PERFORM pg_catalog.set_config('lock_timeout', try_timeout, true);
  END IF;
  LOOP
    BEGIN
      FOREACH stmt IN ARRAY locks LOOP
        EXECUTE stmt;
      END LOOP;
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      tries := tries OPERATOR(pg_catalog.+) 1;
      IF try_timeout OPERATOR(pg_catalog.=) '0' OR tries OPERATOR(pg_catalog.>=) 150 THEN
        RAISE EXCEPTION 'could not lock % in % tries%', what, tries,
                        CASE WHEN try_timeout OPERATOR(pg_catalog.=) '0' THEN ''
                             ELSE ' of ' OPERATOR(pg_catalog.||) try_timeout END
          USING ERRCODE = 'lock_not_available',
                DETAIL = 'A transaction held one of them the whole time (drivetribe.log_horizon shows the oldest).',
                HINT = hint;
      END IF;
      PERFORM pg_catalog.pg_sleep(0.05 OPERATOR(pg_catalog.*) tries::float8);
    END;
  END LOOP;
  PERFORM pg_catalog.set_config('lock_timeout', saved, true);
END
$$;
REVOKE ALL ON FUNCTION drivetribe_internal.lock_with_tries(text[], text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe_internal.lock_with_tries(text[], text, text, text) IS
  'internal (updates, the blue/green switch): run the LOCK statements in tries of try_timeout, letting go between tries, up to 150';

------------------------------------------------------------------------
-- The blue/green rebuild (src/rebuild.c; docs/design.md, "The blue/green
-- rebuild"): CALL drivetribe.rebuild(concurrently => true) replays the
-- log into green copies of the projection tables in schema
-- drivetribe_green while the live (blue) ones serve every read and write,
-- catches up with the events committed meanwhile, and swaps the two sets
-- in one short transaction.  Cancellable at any point and resumable: the
-- state below and the green tables commit with every step.
------------------------------------------------------------------------
CREATE SCHEMA drivetribe_green;
COMMENT ON SCHEMA drivetribe_green IS
  'internal: the green projection tables a blue/green rebuild (CALL drivetribe.rebuild(concurrently => true)) builds beside the live ones; empty otherwise';
REVOKE ALL ON SCHEMA drivetribe_green FROM PUBLIC;

CREATE TABLE drivetribe.rebuild_state (
    only_row          boolean     NOT NULL DEFAULT true,
    phase             text        NOT NULL,
    since_snapshot    pg_catalog.pg_snapshot,
    upto_snapshot     pg_catalog.pg_snapshot,
    after_seq         bigint      NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    loaded_at         timestamptz,
    events_caught_up  bigint      NOT NULL DEFAULT 0,
    rounds            integer     NOT NULL DEFAULT 0,
    round_events      bigint      NOT NULL DEFAULT 0,
    round_started_at  timestamptz,
    last_round_events bigint,
    last_round_seconds double precision,
    extension_version text        NOT NULL,
    CONSTRAINT rebuild_state_pkey PRIMARY KEY (only_row),
    CONSTRAINT rebuild_state_one_row CHECK (only_row),
    CONSTRAINT rebuild_state_phase CHECK (phase IN ('created', 'catching_up'))
);
COMMENT ON TABLE drivetribe.rebuild_state IS
  'the blue/green rebuild in progress, if any (one row): what the next CALL drivetribe.rebuild(concurrently => true) goes on from';
COMMENT ON COLUMN drivetribe.rebuild_state.only_row IS 'always true: one row at most';
COMMENT ON COLUMN drivetribe.rebuild_state.phase IS 'created (green tables being loaded: a CALL starts the load over) or catching_up';
COMMENT ON COLUMN drivetribe.rebuild_state.since_snapshot IS 'the green tables hold (catching_up) or are being loaded with (created) every event of the transactions visible in this snapshot';
COMMENT ON COLUMN drivetribe.rebuild_state.upto_snapshot IS 'the round in progress: the events of the transactions visible in it and not in since_snapshot';
COMMENT ON COLUMN drivetribe.rebuild_state.after_seq IS 'the round in progress has applied its events up to this seq';
COMMENT ON COLUMN drivetribe.rebuild_state.started_at IS 'when this rebuild started';
COMMENT ON COLUMN drivetribe.rebuild_state.loaded_at IS 'when its green tables were loaded from the log';
COMMENT ON COLUMN drivetribe.rebuild_state.events_caught_up IS 'events applied to the green tables after the load';
COMMENT ON COLUMN drivetribe.rebuild_state.rounds IS 'catch-up rounds done';
COMMENT ON COLUMN drivetribe.rebuild_state.round_events IS 'events the round in progress has applied';
COMMENT ON COLUMN drivetribe.rebuild_state.round_started_at IS 'when the round in progress started';
COMMENT ON COLUMN drivetribe.rebuild_state.last_round_events IS 'events the last finished round applied';
COMMENT ON COLUMN drivetribe.rebuild_state.last_round_seconds IS 'how long the last finished round took';
COMMENT ON COLUMN drivetribe.rebuild_state.extension_version IS 'the version of the extension its green tables were made for: after an ALTER EXTENSION UPDATE the next CALL loads them again';
REVOKE ALL ON drivetribe.rebuild_state FROM PUBLIC;

-- the projection tables, in the order the switch moves them
CREATE FUNCTION drivetribe_internal.green_tables()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT ARRAY['users', 'tribes', 'articles', 'article_ranks', 'comments',
               'memberships', 'follows', 'bumps', 'article_stripes',
               'user_stripes', 'tribe_stripes']
$$;
COMMENT ON FUNCTION drivetribe_internal.green_tables() IS
  'internal (blue/green rebuild): the projection tables it rebuilds (the same list as projection_relnames in src/statements.c)';

CREATE FUNCTION drivetribe_internal.green_claim(done boolean)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_green_claim';
COMMENT ON FUNCTION drivetribe_internal.green_claim(boolean) IS
  'internal (blue/green rebuild): take (55P03 if another session runs one) or, with done, release this session''s run; refuses a caller that is not a superuser';

CREATE FUNCTION drivetribe_internal.green_running()
RETURNS boolean
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_green_running';
COMMENT ON FUNCTION drivetribe_internal.green_running() IS
  'internal (blue/green rebuild): whether a session runs one now';

CREATE FUNCTION drivetribe_internal.green_hold_log(hold boolean)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_green_hold_log';
COMMENT ON FUNCTION drivetribe_internal.green_hold_log(boolean) IS
  'internal (blue/green rebuild): take (hold) or let go of a session lock on the log in SHARE mode, held across the switch''s two transactions';

-- a procedure: it commits at least every second (src/rebuild.c)
CREATE PROCEDURE drivetribe_internal.green_load()
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_green_load';
COMMENT ON PROCEDURE drivetribe_internal.green_load() IS
  'internal (blue/green rebuild): replay the events of one snapshot into the empty green tables, committing as it goes; records that snapshot as rebuild_state.since_snapshot';

CREATE FUNCTION drivetribe_internal.green_catch_up(since pg_catalog.pg_snapshot,
                                                   upto pg_catalog.pg_snapshot,
                                                   after_seq bigint, max_events integer)
RETURNS bigint[]
LANGUAGE c
AS 'MODULE_PATHNAME', 'drivetribe_green_catch_up';
COMMENT ON FUNCTION drivetribe_internal.green_catch_up(pg_catalog.pg_snapshot, pg_catalog.pg_snapshot, bigint, integer) IS
  'internal (blue/green rebuild): apply to the green tables up to max_events events after after_seq of the transactions visible in upto and not in since; returns {events applied, last seq}';

-- a grantee of aclexplode() as GRANT and REVOKE name it
CREATE FUNCTION drivetribe_internal.acl_grantee(grantee pg_catalog.oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
              ELSE grantee::pg_catalog.regrole::pg_catalog.text END
$$;
REVOKE ALL ON FUNCTION drivetribe_internal.acl_grantee(pg_catalog.oid) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe_internal.acl_grantee(pg_catalog.oid) IS
  'internal (blue/green rebuild): a grantee of aclexplode() as GRANT and REVOKE name it (0: PUBLIC)';

-- The green tables: the live ones' columns, defaults, constraints,
-- storage, statistics targets, comments, owner, grants (the extension's
-- initial ones recorded as such) and storage parameters, without their
-- indexes (built after the load).  Made members of the extension at once,
-- so DROP EXTENSION removes them.
CREATE FUNCTION drivetribe_internal.green_create()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t text;
  blue pg_catalog.oid;
  c record;
  a record;
BEGIN
  FOREACH t IN ARRAY drivetribe_internal.green_tables() LOOP
    IF pg_catalog.to_regclass(pg_catalog.format('drivetribe_green.%I', t)) IS NOT NULL THEN
      EXECUTE pg_catalog.format('ALTER EXTENSION drivetribe DROP TABLE drivetribe_green.%I', t);
      EXECUTE pg_catalog.format('DROP TABLE drivetribe_green.%I', t);
    END IF;
    blue := pg_catalog.format('drivetribe.%I', t)::pg_catalog.regclass;
    SELECT r.reloptions, r.relowner::pg_catalog.regrole AS owner, r.relacl,
           (SELECT i.initprivs FROM pg_catalog.pg_init_privs i
             WHERE i.objoid OPERATOR(pg_catalog.=) r.oid
               AND i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
               AND i.objsubid OPERATOR(pg_catalog.=) 0) AS initprivs,
           pg_catalog.obj_description(r.oid, 'pg_class') AS comment
      INTO c FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) blue;
    EXECUTE pg_catalog.format(
      'CREATE TABLE drivetribe_green.%I (LIKE drivetribe.%I INCLUDING ALL EXCLUDING INDEXES)%s',
      t, t, CASE WHEN c.reloptions IS NULL THEN ''
                 ELSE pg_catalog.format(' WITH (%s)', pg_catalog.array_to_string(c.reloptions, ', ')) END);
    EXECUTE pg_catalog.format('ALTER TABLE drivetribe_green.%I OWNER TO %s', t, c.owner);
    -- the extension's own privileges first, so that ADD records them as
    -- its initial ones (pg_init_privs: pg_dump dumps the others); an
    -- explicit ACL (REVOKE from PUBLIC makes the default one explicit) where
    -- the live table has initial privileges ...
    IF c.initprivs IS NOT NULL THEN
      EXECUTE pg_catalog.format('REVOKE ALL ON drivetribe_green.%I FROM PUBLIC', t);
    END IF;
    FOR a IN SELECT x.grantee, x.privilege_type FROM pg_catalog.aclexplode(c.initprivs) x
              WHERE x.grantee OPERATOR(pg_catalog.<>) c.owner::pg_catalog.oid LOOP
      EXECUTE pg_catalog.format('GRANT %s ON drivetribe_green.%I TO %s', a.privilege_type, t,
                                drivetribe_internal.acl_grantee(a.grantee));
    END LOOP;
    EXECUTE pg_catalog.format('ALTER EXTENSION drivetribe ADD TABLE drivetribe_green.%I', t);
    -- ... then the ones granted or revoked since
    FOR a IN SELECT x.grantee, x.privilege_type, true AS grant
               FROM pg_catalog.aclexplode(c.relacl) x
              WHERE x.grantee OPERATOR(pg_catalog.<>) c.owner::pg_catalog.oid
             EXCEPT
             SELECT x.grantee, x.privilege_type, true FROM pg_catalog.aclexplode(c.initprivs) x
             UNION ALL
             (SELECT x.grantee, x.privilege_type, false FROM pg_catalog.aclexplode(c.initprivs) x
               WHERE x.grantee OPERATOR(pg_catalog.<>) c.owner::pg_catalog.oid
              EXCEPT
              SELECT x.grantee, x.privilege_type, false FROM pg_catalog.aclexplode(c.relacl) x) LOOP
      EXECUTE pg_catalog.format(CASE WHEN a.grant THEN 'GRANT %s ON drivetribe_green.%I TO %s'
                                     ELSE 'REVOKE %s ON drivetribe_green.%I FROM %s' END,
                                a.privilege_type, t, drivetribe_internal.acl_grantee(a.grantee));
    END LOOP;
    IF c.comment IS NOT NULL THEN
      EXECUTE pg_catalog.format('COMMENT ON TABLE drivetribe_green.%I IS %L', t, c.comment);
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION drivetribe_internal.green_create() IS
  'internal (blue/green rebuild): (re)create the green tables, empty and without indexes';

-- Their indexes and key constraints, named as the live ones (the names
-- are per schema): with keys, those of the primary and unique keys (the
-- load's upserts need them), else the others, then ANALYZE.
CREATE FUNCTION drivetribe_internal.green_index(keys boolean, only_table text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t text;
  blue pg_catalog.oid;
  i record;
BEGIN
  FOREACH t IN ARRAY drivetribe_internal.green_tables() LOOP
    CONTINUE WHEN t OPERATOR(pg_catalog.<>) COALESCE(only_table, t);
    blue := pg_catalog.format('drivetribe.%I', t)::pg_catalog.regclass;
    FOR i IN
      SELECT ic.relname AS name, pg_catalog.pg_get_indexdef(x.indexrelid) AS def,
             k.conname, k.contype, pg_catalog.obj_description(x.indexrelid, 'pg_class') AS icomment,
             pg_catalog.obj_description(k.oid, 'pg_constraint') AS ccomment
        FROM pg_catalog.pg_index x
        JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) x.indexrelid
        LEFT JOIN pg_catalog.pg_constraint k ON k.conindid OPERATOR(pg_catalog.=) x.indexrelid
                                             AND k.conrelid OPERATOR(pg_catalog.=) blue
       WHERE x.indrelid OPERATOR(pg_catalog.=) blue
         AND (COALESCE(k.contype IN ('p', 'u'), false) OPERATOR(pg_catalog.=) keys)
    LOOP
      EXECUTE pg_catalog.replace(i.def,
                                 pg_catalog.format(' ON drivetribe.%I USING ', t),
                                 pg_catalog.format(' ON drivetribe_green.%I USING ', t));
      IF i.contype IN ('p', 'u') THEN
        EXECUTE pg_catalog.format('ALTER TABLE drivetribe_green.%I ADD CONSTRAINT %I %s USING INDEX %I',
                                  t, i.conname,
                                  CASE i.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, i.name);
        IF i.ccomment IS NOT NULL THEN
          EXECUTE pg_catalog.format('COMMENT ON CONSTRAINT %I ON drivetribe_green.%I IS %L',
                                    i.conname, t, i.ccomment);
        END IF;
      END IF;
      IF i.icomment IS NOT NULL THEN
        EXECUTE pg_catalog.format('COMMENT ON INDEX drivetribe_green.%I IS %L', i.name, i.icomment);
      END IF;
    END LOOP;
    -- not the counter stripes: they fill and empty every second, and
    -- statistics of the empty tables of the load would make the planner
    -- take them for empty for good (a fresh installation's are never
    -- analyzed before autovacuum sees them busy)
    IF NOT keys AND t NOT LIKE '%\_stripes' THEN
      EXECUTE pg_catalog.format('ANALYZE drivetribe_green.%I', t);
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION drivetribe_internal.green_index(boolean, text) IS
  'internal (blue/green rebuild): the green tables'' (or only_table''s) key constraints (keys), or their other indexes and ANALYZE (not of the counter stripes), as the live ones';

-- The views over the live projection tables (the switch defines them again)
CREATE FUNCTION drivetribe_internal.green_views()
RETURNS pg_catalog.oid[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(DISTINCT r.ev_class), '{}')
    FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                               AND d.objid OPERATOR(pg_catalog.=) r.oid
    JOIN pg_catalog.pg_class w ON w.oid OPERATOR(pg_catalog.=) r.ev_class
   WHERE w.relkind OPERATOR(pg_catalog.=) 'v'
     AND d.refobjid OPERATOR(pg_catalog.=) ANY (
           SELECT pg_catalog.format('drivetribe.%I', t)::pg_catalog.regclass::pg_catalog.oid
             FROM pg_catalog.unnest(drivetribe_internal.green_tables()) t)
$$;
COMMENT ON FUNCTION drivetribe_internal.green_views() IS
  'internal (blue/green rebuild): the views over the live projection tables';

-- The switch's locks, with tries of drivetribe.switch_lock_timeout (200
-- ms): SHARE on the log (writers wait, and it waits for the writers in
-- progress), then ACCESS EXCLUSIVE on the views over the projections and
-- on every live projection table (readers wait a moment): the views
-- first, as a reader takes them.  All or none.
CREATE FUNCTION drivetribe_internal.green_lock(hold_log boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM drivetribe_internal.lock_with_tries(
    CASE WHEN hold_log THEN ARRAY['SELECT drivetribe_internal.green_hold_log(true)']
         ELSE ARRAY['LOCK TABLE drivetribe.events IN SHARE MODE']
              OPERATOR(pg_catalog.||)
              (SELECT pg_catalog.array_agg(pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE',
                                                             v::pg_catalog.regclass))
                 FROM pg_catalog.unnest(drivetribe_internal.green_views()) v)
              OPERATOR(pg_catalog.||)
              (SELECT pg_catalog.array_agg(pg_catalog.format('LOCK TABLE drivetribe.%I IN ACCESS EXCLUSIVE MODE', t)
                                           ORDER BY o)
                 FROM pg_catalog.unnest(drivetribe_internal.green_tables()) WITH ORDINALITY AS g(t, o)) END,
    pg_catalog.current_setting('drivetribe.switch_lock_timeout'),
    'drivetribe.events and the projections for the switch',
    'End that transaction and CALL drivetribe.rebuild(concurrently => true) again: it goes on where it stopped.');
END
$$;
COMMENT ON FUNCTION drivetribe_internal.green_lock(boolean) IS
  'internal (blue/green rebuild): the switch''s locks, with tries: with hold_log, the session lock on the log; else the log, the views and the tables for this transaction';

-- The swap: the live tables move to a schema of their own, the green ones
-- into drivetribe (with their index and constraint names), the views over
-- them are defined again (by the same text, now naming the green tables),
-- the extension's configuration tables (pg_dump dumps their rows) become
-- the green ones, and the old tables are dropped.  Caller holds
-- green_lock()'s locks.
CREATE FUNCTION drivetribe_internal.green_swap()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t text;
  views pg_catalog.oid[];
  defs text[];
  blue pg_catalog.oid[] := '{}';
  green pg_catalog.oid[] := '{}';
BEGIN
  FOREACH t IN ARRAY drivetribe_internal.green_tables() LOOP
    blue := blue OPERATOR(pg_catalog.||) pg_catalog.format('drivetribe.%I', t)::pg_catalog.regclass::pg_catalog.oid;
    green := green OPERATOR(pg_catalog.||) pg_catalog.format('drivetribe_green.%I', t)::pg_catalog.regclass::pg_catalog.oid;
  END LOOP;
  -- the views over the live tables, as their text reads now
  views := drivetribe_internal.green_views();
  SELECT pg_catalog.array_agg(pg_catalog.pg_get_viewdef(w.oid) ORDER BY w.n) INTO defs
    FROM pg_catalog.unnest(views) WITH ORDINALITY AS w(oid, n);
  CREATE SCHEMA drivetribe_blue;
  FOREACH t IN ARRAY drivetribe_internal.green_tables() LOOP
    EXECUTE pg_catalog.format('ALTER TABLE drivetribe.%I SET SCHEMA drivetribe_blue', t);
    EXECUTE pg_catalog.format('ALTER TABLE drivetribe_green.%I SET SCHEMA drivetribe', t);
  END LOOP;
  FOR i IN 1 .. COALESCE(pg_catalog.array_length(views, 1), 0) LOOP
    EXECUTE pg_catalog.format('CREATE OR REPLACE VIEW %s AS %s', views[i]::pg_catalog.regclass, defs[i]);
  END LOOP;
  UPDATE pg_catalog.pg_extension e
     SET extconfig = (SELECT pg_catalog.array_agg(COALESCE(green[pg_catalog.array_position(blue, x.c)], x.c) ORDER BY x.o)
                        FROM pg_catalog.unnest(e.extconfig) WITH ORDINALITY AS x(c, o))
   WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe';
END
$$;
COMMENT ON FUNCTION drivetribe_internal.green_swap() IS
  'internal (blue/green rebuild): make the green tables the live ones, the old ones moved to schema drivetribe_blue';

-- The old tables, dropped after the switch has committed and let the log
-- go (unlinking their files at commit would make the writers wait), or
-- left by a switch cancelled before it.  No statement reads them any
-- more, but a session's cached plan still names them until it is planned
-- again, and revalidating it locks them first: they are locked with
-- tries, all at once, so that such a reader and the drop never deadlock.
-- If they stay busy, they are left for the next CALL.
CREATE FUNCTION drivetribe_internal.green_drop_blue()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t text;
BEGIN
  IF pg_catalog.to_regnamespace('drivetribe_blue') IS NULL THEN
    RETURN;
  END IF;
  BEGIN
    PERFORM drivetribe_internal.lock_with_tries(
      (SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE',
                                                              c.oid::pg_catalog.regclass)
                                            ORDER BY c.relname), '{}')
         FROM pg_catalog.pg_class c
        WHERE c.relnamespace OPERATOR(pg_catalog.=) 'drivetribe_blue'::pg_catalog.regnamespace
          AND c.relkind OPERATOR(pg_catalog.=) 'r'),
      '200ms', 'the tables of schema drivetribe_blue',
      'The next CALL drivetribe.rebuild(concurrently => true) drops them.');
  EXCEPTION WHEN lock_not_available THEN
    RAISE NOTICE 'drivetribe.rebuild(concurrently): the old tables (schema drivetribe_blue) are busy; the next CALL drops them';
    RETURN;
  END;
  FOREACH t IN ARRAY drivetribe_internal.green_tables() LOOP
    IF pg_catalog.to_regclass(pg_catalog.format('drivetribe_blue.%I', t)) IS NOT NULL THEN
      EXECUTE pg_catalog.format('ALTER EXTENSION drivetribe DROP TABLE drivetribe_blue.%I', t);
      EXECUTE pg_catalog.format('DROP TABLE drivetribe_blue.%I', t);
    END IF;
  END LOOP;
  DROP SCHEMA drivetribe_blue;
END
$$;
COMMENT ON FUNCTION drivetribe_internal.green_drop_blue() IS
  'internal (blue/green rebuild): drop the tables the last switch replaced (schema drivetribe_blue), if any';

REVOKE ALL ON FUNCTION drivetribe_internal.green_tables(), drivetribe_internal.green_views(),
  drivetribe_internal.green_claim(boolean),
  drivetribe_internal.green_running(),
  drivetribe_internal.green_catch_up(pg_catalog.pg_snapshot, pg_catalog.pg_snapshot, bigint, integer),
  drivetribe_internal.green_create(), drivetribe_internal.green_index(boolean, text),
  drivetribe_internal.green_lock(boolean), drivetribe_internal.green_swap(),
  drivetribe_internal.green_drop_blue(), drivetribe_internal.green_hold_log(boolean) FROM PUBLIC;
REVOKE ALL ON PROCEDURE drivetribe_internal.green_load() FROM PUBLIC;

-- No SET clause and no SECURITY DEFINER: a procedure with either cannot
-- commit.  Every name is qualified.  A superuser's (green_claim()).
CREATE PROCEDURE drivetribe.rebuild(concurrently boolean)
LANGUAGE plpgsql
AS $$
DECLARE
  st record;
  snap pg_catalog.pg_snapshot;
  t text;
  r bigint[];
  batch constant integer := 10000;
BEGIN
  IF $1 IS NULL THEN
    RAISE EXCEPTION 'concurrently must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT $1 THEN
    PERFORM drivetribe.rebuild();
    RETURN;
  END IF;
  PERFORM drivetribe_internal.green_claim(false);
  PERFORM drivetribe_internal.green_drop_blue();
  SELECT * INTO st FROM drivetribe.rebuild_state;
  IF st.extension_version OPERATOR(pg_catalog.<>)
     (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe') THEN
    -- their tables may have another shape, their statements other text
    RAISE NOTICE 'drivetribe.rebuild(concurrently): the extension was updated from % since this rebuild started: loading again',
                 st.extension_version;
  END IF;
  IF st.phase IS NULL OR st.phase OPERATOR(pg_catalog.=) 'created'
     OR st.extension_version OPERATOR(pg_catalog.<>)
        (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe')
     OR pg_catalog.to_regclass('drivetribe_green.users') IS NULL THEN
    -- the load: green tables from the events of one snapshot, in steps
    -- that commit (no transaction holds the cleanup horizon for long)
    DELETE FROM drivetribe.rebuild_state;
    PERFORM drivetribe_internal.green_create();
    PERFORM drivetribe_internal.green_index(true);
    INSERT INTO drivetribe.rebuild_state (phase, extension_version)
    SELECT 'created', e.extversion FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe';
    COMMIT;
    RAISE NOTICE 'drivetribe.rebuild(concurrently): loading the green tables from the log';
    CALL drivetribe_internal.green_load();
    RAISE NOTICE 'drivetribe.rebuild(concurrently): building the green tables'' indexes';
    FOREACH t IN ARRAY drivetribe_internal.green_tables() LOOP
      PERFORM drivetribe_internal.green_index(false, t);
      COMMIT;
    END LOOP;
    UPDATE drivetribe.rebuild_state
       SET phase = 'catching_up', loaded_at = pg_catalog.clock_timestamp();
    COMMIT;
  ELSE
    RAISE NOTICE 'drivetribe.rebuild(concurrently): going on from round %, seq %',
                 st.rounds OPERATOR(pg_catalog.+) 1, st.after_seq;
  END IF;

  -- catch-up rounds, each committed batch by batch, until one is short
  LOOP
    SELECT * INTO st FROM drivetribe.rebuild_state;
    IF st.upto_snapshot IS NULL THEN
      UPDATE drivetribe.rebuild_state
         SET upto_snapshot = pg_catalog.pg_current_snapshot(), after_seq = 0, round_events = 0,
             round_started_at = pg_catalog.clock_timestamp()
       RETURNING * INTO st;
    END IF;
    r := drivetribe_internal.green_catch_up(st.since_snapshot, st.upto_snapshot, st.after_seq, batch);
    UPDATE drivetribe.rebuild_state
       SET after_seq = r[2], events_caught_up = events_caught_up OPERATOR(pg_catalog.+) r[1],
           round_events = round_events OPERATOR(pg_catalog.+) r[1]
     RETURNING * INTO st;
    IF r[1] OPERATOR(pg_catalog.<) batch THEN
      UPDATE drivetribe.rebuild_state
         SET since_snapshot = upto_snapshot, upto_snapshot = NULL, after_seq = 0,
             rounds = rounds OPERATOR(pg_catalog.+) 1, last_round_events = round_events,
             last_round_seconds = EXTRACT(epoch FROM pg_catalog.clock_timestamp()
                                                     OPERATOR(pg_catalog.-) round_started_at)
       RETURNING * INTO st;
      COMMIT;
      RAISE NOTICE 'drivetribe.rebuild(concurrently): catch-up round % applied % events in % s',
                   st.rounds, st.last_round_events, pg_catalog.round(st.last_round_seconds::numeric, 3);
      -- short enough: the switch applies the rest with writers held out
      EXIT WHEN st.last_round_events OPERATOR(pg_catalog.<) 1000
             OR st.last_round_seconds OPERATOR(pg_catalog.<) 0.2
             OR st.rounds OPERATOR(pg_catalog.>=) 50;
    ELSE
      COMMIT;
    END IF;
  END LOOP;

  -- the switch: writers wait from the log's session lock to the swap's
  -- commit; first the last events, committed, then the swap, which writes
  -- no row; the old tables are dropped after (unlinking their files is
  -- no one's wait)
  PERFORM drivetribe_internal.green_lock(true);
  SELECT * INTO st FROM drivetribe.rebuild_state;
  snap := pg_catalog.pg_current_snapshot();
  r := drivetribe_internal.green_catch_up(st.since_snapshot, snap, 0, 2147483647);
  UPDATE drivetribe.rebuild_state
     SET since_snapshot = snap, events_caught_up = events_caught_up OPERATOR(pg_catalog.+) r[1]
   RETURNING * INTO st;
  COMMIT;
  PERFORM drivetribe_internal.green_lock(false);
  PERFORM drivetribe_internal.green_swap();
  DELETE FROM drivetribe.rebuild_state;
  COMMIT;
  PERFORM drivetribe_internal.green_hold_log(false);
  PERFORM drivetribe_internal.green_drop_blue();
  COMMIT;
  PERFORM drivetribe_internal.green_claim(true);
  RAISE NOTICE 'drivetribe.rebuild(concurrently): switched (% events in the last step, % after the load in all)',
               r[1], st.events_caught_up;
END
$$;
REVOKE ALL ON PROCEDURE drivetribe.rebuild(boolean) FROM PUBLIC;
COMMENT ON PROCEDURE drivetribe.rebuild(boolean) IS
  'with concurrently => true, the blue/green rebuild: every projection replayed from the log into green tables while reads and writes go on, caught up, and switched in one short transaction; cancellable at any point, CALL again to go on; a superuser''s, outside a transaction block';

-- the operator's view: a row while a blue/green rebuild is in progress
CREATE FUNCTION drivetribe_internal.rebuild_status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT 'maintenance',
         'blue/green rebuild',
         CASE WHEN drivetribe_internal.green_running() THEN 'running' ELSE 'stopped' END
           OPERATOR(pg_catalog.||) ', ' OPERATOR(pg_catalog.||)
           CASE s.phase WHEN 'created' THEN 'loading' ELSE 'catching up' END,
         CASE WHEN s.phase OPERATOR(pg_catalog.=) 'created'
              THEN pg_catalog.format('started %s; loading the green tables from the log', s.started_at)
              ELSE pg_catalog.format('started %s, loaded %s; %s catch-up rounds, %s events applied since the load',
                                     s.started_at, s.loaded_at, s.rounds, s.events_caught_up) END
           OPERATOR(pg_catalog.||)
         CASE WHEN drivetribe_internal.green_running() THEN ''
              ELSE '.  CALL drivetribe.rebuild(concurrently => true) goes on (the live read models are untouched)' END
    FROM drivetribe.rebuild_state s
$$;
COMMENT ON FUNCTION drivetribe_internal.rebuild_status_rows() IS
  'internal (drivetribe.status_rows, the status view): a row while a blue/green rebuild is in progress: running or stopped, its phase, and what to do';
REVOKE ALL ON FUNCTION drivetribe_internal.rebuild_status_rows() FROM PUBLIC;

CREATE OR REPLACE FUNCTION drivetribe.status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT * FROM drivetribe_internal.status_rows()
  UNION ALL SELECT * FROM drivetribe_internal.projection_status_rows()
  UNION ALL SELECT * FROM drivetribe_internal.rebuild_status_rows()
$$;

------------------------------------------------------------------------
-- Last: the locks, with tries (see the top; lock_with_tries()), and the
-- two tables' new columns.  Writers wait from here to the commit: catalog
-- work only.
------------------------------------------------------------------------
SELECT drivetribe_internal.lock_with_tries(
  ARRAY['LOCK TABLE drivetribe.events, drivetribe.comments IN ACCESS EXCLUSIVE MODE'], '200ms',
  'drivetribe.events and drivetribe.comments for the update',
  'End that transaction and run ALTER EXTENSION drivetribe UPDATE again: nothing was changed.');

-- The log: a column of a constant default and a nullable one are catalog
-- changes (the rows of 1.8 read as version 1, parent NULL: no rewrite).
-- The CHECK is replaced NOT VALID: no scan of the log under the lock.
-- The rows already there passed 1.1's CHECK (or were reported by it) and
-- read as version 1 with no parent, which the new one accepts; verify()
-- and rebuild() check every row they replay anyway.  A log still empty
-- here (a new installation) is validated at once.  The log's DDL guard
-- refuses to drop its CHECK, even in an extension script: the script says
-- it means it, for this statement only.
SELECT pg_catalog.set_config('drivetribe.allow_log_ddl', 'on', true);
ALTER TABLE drivetribe.events
  ADD COLUMN version smallint NOT NULL DEFAULT 1,
  ADD COLUMN parent_comment_id bigint,
  DROP CONSTRAINT events_valid,
  ADD CONSTRAINT events_valid CHECK (drivetribe_internal.event_is_valid(
        seq, kind, user_id, tribe_id, article_id, comment_id, target_id,
        recipient_id, body, context, version, parent_comment_id)) NOT VALID;
SELECT pg_catalog.set_config('drivetribe.allow_log_ddl', 'off', true);
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM ONLY drivetribe.events) THEN
    ALTER TABLE drivetribe.events VALIDATE CONSTRAINT events_valid;
  END IF;
END
$$;
COMMENT ON COLUMN drivetribe.events.version IS
  'the version of its kind''s shape it was logged in (drivetribe.event_versions; 1 for every event logged before 1.9)';
COMMENT ON COLUMN drivetribe.events.parent_comment_id IS
  'comment_posted and comment_deleted (version 2): the comment replied to; NULL for a comment on the article itself';

-- Comments: the comment replied to, and each comment's live replies.
ALTER TABLE drivetribe.comments
  ADD COLUMN parent_comment_id bigint,
  ADD COLUMN replies bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN drivetribe.comments.parent_comment_id IS
  'the comment it replies to (a comment of the same article), or NULL';
COMMENT ON COLUMN drivetribe.comments.replies IS
  'its live (not deleted) replies';

