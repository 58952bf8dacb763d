/* drivetribe--1.8--1.9.sql: change without downtime (issue 22) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.9'" to load this file. \quit

------------------------------------------------------------------------
-- An update that does not stop writers (docs/design.md, "Updates that do
-- not stop writers").  ALTER EXTENSION runs this script in one
-- transaction and holds every lock it takes to the end, so:
--   * everything that needs no lock a writer conflicts with comes first;
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
-- The locks, with tries (see the top).  lock_timeout is this
-- transaction's for the tries only; the caller's setting comes back.
------------------------------------------------------------------------
DO $$
DECLARE
  saved text := pg_catalog.current_setting('lock_timeout');
  tries int := 0;
BEGIN
  PERFORM pg_catalog.set_config('lock_timeout', '200ms', true);
  LOOP
    BEGIN
      LOCK TABLE drivetribe.events, drivetribe.comments IN ACCESS EXCLUSIVE MODE;
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      tries := tries OPERATOR(pg_catalog.+) 1;
      IF tries OPERATOR(pg_catalog.>=) 150 THEN
        RAISE EXCEPTION 'could not lock drivetribe.events and drivetribe.comments for the update in % tries of 200 ms', tries
          USING ERRCODE = 'lock_not_available',
                DETAIL = 'A transaction held one of them the whole time (drivetribe.log_horizon shows the oldest).',
                HINT = 'End that transaction and run ALTER EXTENSION drivetribe UPDATE again: nothing was changed.';
      END IF;
      PERFORM pg_catalog.pg_sleep(0.05 OPERATOR(pg_catalog.*) tries::float8);
    END;
  END LOOP;
  PERFORM pg_catalog.set_config('lock_timeout', saved, true);
END
$$;

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
