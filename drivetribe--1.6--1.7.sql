/* drivetribe--1.6--1.7.sql: no role can stall the extension (issue 18) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.7'" to load this file. \quit

------------------------------------------------------------------------
-- ranking: a score that lags its counts by at most 2 s in every case
------------------------------------------------------------------------
-- The rank moves out of the articles row into a table only the rank
-- worker (and post/delete) writes.  Up to 1.6 the score was a column of
-- articles, so a writer holding the row (an open transaction that viewed
-- the article in place, or edited it) kept every fold away from it and
-- the score stale for as long as it stayed open.  Since 1.7 an article's
-- counter changes always go to the writer's stripe (never in place), a
-- stripe is "this article's score is due", and the worker sets
-- article_ranks.score from the row plus its stripes whoever holds what.
-- Counter updates of articles no longer change an indexed column: HOT.
CREATE TABLE drivetribe.article_ranks (
    article_id bigint PRIMARY KEY,
    tribe_id   bigint NOT NULL,
    author_id  bigint NOT NULL,
    score      double precision NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('drivetribe.article_ranks', '');
COMMENT ON TABLE drivetribe.article_ranks IS
  'internal (projection): the rank of every live article, SPEC''s score over its counts, set by the rank worker at most about drivetribe.fold_interval after a change';
COMMENT ON COLUMN drivetribe.article_ranks.article_id IS 'a live article';
COMMENT ON COLUMN drivetribe.article_ranks.tribe_id IS 'its tribe (for the tribe''s ranking)';
COMMENT ON COLUMN drivetribe.article_ranks.author_id IS 'its author (for the author''s ranking)';
COMMENT ON COLUMN drivetribe.article_ranks.score IS 'log10(greatest(10*bumps + 5*comments + views, 1)) + epoch(posted_at)/45000 over its counts';

-- exact at once: SPEC's score over each live article's counts (1.6's
-- article_view: row plus stripes)
INSERT INTO drivetribe.article_ranks (article_id, tribe_id, author_id, score)
SELECT v.article_id, v.tribe_id, v.author_id,
       pg_catalog.log10(GREATEST(
         (10 OPERATOR(pg_catalog.*) v.bumps) OPERATOR(pg_catalog.+)
         (5 OPERATOR(pg_catalog.*) v.comments) OPERATOR(pg_catalog.+) v.views,
         1)::pg_catalog.float8) OPERATOR(pg_catalog.+)
       (EXTRACT(epoch FROM v.posted_at) OPERATOR(pg_catalog./) 45000)::pg_catalog.float8
  FROM drivetribe.article_view v;

CREATE INDEX article_ranks_rank_idx
    ON drivetribe.article_ranks (score DESC, article_id DESC);
CREATE INDEX article_ranks_tribe_rank_idx
    ON drivetribe.article_ranks (tribe_id, score DESC, article_id DESC);
CREATE INDEX article_ranks_author_rank_idx
    ON drivetribe.article_ranks (author_id, score DESC, article_id DESC);
COMMENT ON INDEX drivetribe.article_ranks_rank_idx IS 'internal: the site''s ranking (feed() walks it)';
COMMENT ON INDEX drivetribe.article_ranks_tribe_rank_idx IS 'internal: one tribe''s ranking (tribe_feed(), feed()''s merge)';
COMMENT ON INDEX drivetribe.article_ranks_author_rank_idx IS 'internal: one author''s ranking (feed()''s merge)';

-- the card's score comes from the rank; counts stay exact (row + stripes)
CREATE OR REPLACE VIEW drivetribe.article_view AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name,
       a.author_id, u.name AS author_name, a.title, a.posted_at,
       c.views, c.comments, c.bumps, r.score
  FROM drivetribe.articles a
  JOIN drivetribe.article_ranks r ON r.article_id OPERATOR(pg_catalog.=) a.article_id
  JOIN drivetribe.tribes t ON t.tribe_id OPERATOR(pg_catalog.=) a.tribe_id
  JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) a.author_id
  LEFT JOIN (SELECT x.article_id,
                    pg_catalog.sum(x.views)::pg_catalog.int8 AS views,
                    pg_catalog.sum(x.comments)::pg_catalog.int8 AS comments,
                    pg_catalog.sum(x.bumps)::pg_catalog.int8 AS bumps
               FROM drivetribe.article_stripes x GROUP BY x.article_id) d
         ON d.article_id OPERATOR(pg_catalog.=) a.article_id
  CROSS JOIN LATERAL (
    SELECT a.views OPERATOR(pg_catalog.+) COALESCE(d.views, 0) AS views,
           a.comments OPERATOR(pg_catalog.+) COALESCE(d.comments, 0) AS comments,
           a.bumps OPERATOR(pg_catalog.+) COALESCE(d.bumps, 0) AS bumps) c
 WHERE NOT a.deleted;
COMMENT ON VIEW drivetribe.article_view IS
  'one card per live article: names, exact counts and the rank score (lags its counts by at most 2 s)';

DROP INDEX drivetribe.articles_rank_idx;
DROP INDEX drivetribe.articles_tribe_rank_idx;
DROP INDEX drivetribe.articles_author_rank_idx;
ALTER TABLE drivetribe.articles DROP COLUMN score;

-- Stripe ids: unique for a backend's life (and renewed after it prepares
-- a transaction, and per transaction under REPEATABLE READ), so no stripe
-- row a prepared transaction holds is ever written by anyone else, and a
-- fold never deletes a stripe a snapshot-isolated writer is about to
-- change.  Up to 1.6 the stripe was the backend id.
CREATE SEQUENCE drivetribe.stripe_ids AS integer CYCLE;
COMMENT ON SEQUENCE drivetribe.stripe_ids IS
  'internal: ids of counter stripes (one per backend life, see docs/design.md "Hot keys")';
COMMENT ON FUNCTION drivetribe.score(bigint, bigint, bigint, timestamptz) IS
  'SPEC''s rank score of an article from its bumps, comments, views and posting time (stored in article_ranks.score)';
COMMENT ON COLUMN drivetribe.article_view.score IS 'the rank score (what feeds order by): SPEC''s score over the counts, at most 2 s behind them';

------------------------------------------------------------------------
-- comments: paging that never skips a comment that commits late
------------------------------------------------------------------------
-- (src/comments.c; docs/design.md "Comment pages")
--
-- Every comment gets a position, pos: the seq of its comment_posted
-- event (a replay of the log gives it back).  article_comments() pages in
-- pos order from the cursor comment's pos, and stops a page at a comment
-- whose transaction the caller's snapshot does not see yet, so a comment
-- that commits late is never behind a reader's cursor.  post_comment
-- draws the position and inserts the row under the article's comment
-- order lock, held for those two inserts only.
--
-- The log first, as writers take it (ROW EXCLUSIVE on events, then
-- comments) and as rebuild() does: no event is appended while existing
-- comments get their positions, and the update does not wait for
-- comments while holding what a writer waits for.
LOCK TABLE drivetribe.events IN EXCLUSIVE MODE;

ALTER TABLE drivetribe.comments ADD COLUMN pos bigint;
-- the position of every existing comment, from the log in one pass
UPDATE drivetribe.comments c
   SET pos = p.seq
  FROM (SELECT e.comment_id, pg_catalog.min(e.seq) AS seq
          FROM ONLY drivetribe.events e
         WHERE e.kind OPERATOR(pg_catalog.=) 'comment_posted'
         GROUP BY e.comment_id) p
 WHERE c.comment_id OPERATOR(pg_catalog.=) p.comment_id;
-- a row the log does not have (a projection edited by hand) goes first;
-- verify() reports it and rebuild() removes it
UPDATE drivetribe.comments SET pos = 0 WHERE pos IS NULL;
ALTER TABLE drivetribe.comments ALTER COLUMN pos SET NOT NULL;
COMMENT ON COLUMN drivetribe.comments.pos IS
  'its position on the article''s pages (article_comments(), oldest first): the seq of its comment_posted event';

-- 1.0's index ordered pages by (posted_at, comment_id); pages now go by pos
DROP INDEX drivetribe.comments_article_idx;
CREATE INDEX comments_article_pos_idx
    ON drivetribe.comments (article_id, pos)
    WHERE NOT deleted;
COMMENT ON INDEX drivetribe.comments_article_pos_idx IS
  'article_comments(): an article''s live comments in page order; its presence tells the library that comments have positions';

-- the same signature, arguments, defaults and columns (SPEC), now in C;
-- CREATE OR REPLACE keeps the grants (read API, grant_reader)
CREATE OR REPLACE FUNCTION drivetribe.article_comments(article_id bigint,
                                                       page_size int DEFAULT 20,
                                                       after_comment_id bigint DEFAULT NULL)
RETURNS TABLE (comment_id bigint, author_id bigint, author_name text,
               body text, posted_at timestamptz)
LANGUAGE c STABLE SECURITY DEFINER ROWS 20
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'drivetribe_article_comments';
REVOKE ALL ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) FROM PUBLIC;
COMMENT ON FUNCTION drivetribe.article_comments(bigint, integer, bigint) IS
  'read API: a page of an article''s live comments, oldest first (log order), after after_comment_id (keyset paging that never skips a comment committed late), with author names; page_size 1..1000; 23503 for an unknown article or cursor comment; no rows for a deleted article';

------------------------------------------------------------------------
-- privileges, the log's guard, pg_cron jobs and hints, small edges
------------------------------------------------------------------------

-- Item 5: the log gets a grant of its own.  read_log() returns whole
-- events (deleted titles and comment bodies, every viewer's id) and
-- log_horizon shows other roles' sessions: neither belongs to the read API,
-- which shows only what SPEC's reads show.  grant_log_reader(role) gives
-- both; grant_reader() and grant_writer() no longer do, and the update
-- takes them back from every role that got them that way (see below).
CREATE OR REPLACE FUNCTION drivetribe.api_functions(writer boolean)
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
    'drivetribe.delete_comment(bigint,uuid)',
    'drivetribe.bump(bigint,bigint,uuid)',
    'drivetribe.unbump(bigint,bigint,uuid)']) AS f
   WHERE writer
$$;
COMMENT ON FUNCTION drivetribe.api_functions(boolean) IS
  'internal (grants): the functions of the read API, and of the write API too when writer (read_log() is not among them: grant_log_reader())';

CREATE OR REPLACE FUNCTION drivetribe.grant_api(role regrole, writer boolean)
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

CREATE OR REPLACE FUNCTION drivetribe.revoke_api(role regrole, writer boolean)
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
  FOR fn IN SELECT * FROM drivetribe.api_functions(writer) LOOP
    IF writer AND fn OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT * FROM drivetribe.api_functions(false))) THEN
      CONTINUE;                 -- revoke_writer keeps the read API
    END IF;
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', fn, role);
  END LOOP;
  IF NOT writer THEN
    EXECUTE pg_catalog.format(
      'REVOKE SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats FROM %s',
      role);
  END IF;
END
$$;

-- whether a role holds a privilege on an object by a grant of its own (not
-- through PUBLIC, a membership or superuser): revoke_log_reader() and
-- revoke_monitor() share log_horizon and keep it for the other grant
CREATE FUNCTION drivetribe.granted_directly(role regrole, acl pg_catalog.aclitem[], privilege text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM pg_catalog.aclexplode(acl) a
                  WHERE a.grantee OPERATOR(pg_catalog.=) role::pg_catalog.oid
                    AND a.privilege_type OPERATOR(pg_catalog.=) privilege)
$$;
COMMENT ON FUNCTION drivetribe.granted_directly(regrole, pg_catalog.aclitem[], text) IS
  'internal (revoke_log_reader, revoke_monitor): whether an ACL grants the privilege to the role itself';

CREATE FUNCTION drivetribe.grant_log_reader(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA drivetribe TO %s', role);
  EXECUTE pg_catalog.format(
    'GRANT EXECUTE ON FUNCTION drivetribe.read_log(pg_catalog.xid8,bigint,integer) TO %s', role);
  EXECUTE pg_catalog.format('GRANT SELECT ON drivetribe.log_horizon TO %s', role);
END
$$;
COMMENT ON FUNCTION drivetribe.grant_log_reader(regrole) IS
  'let a role page through the whole event log with read_log() (every field of every event: deleted titles and comment bodies, viewers'' ids) and read log_horizon (other roles'' sessions); not part of grant_reader()';

CREATE FUNCTION drivetribe.revoke_log_reader(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.read_log(pg_catalog.xid8,bigint,integer) FROM %s', role);
  -- a monitor (grant_monitor()) keeps log_horizon
  IF NOT drivetribe.granted_directly(role,
           (SELECT p.proacl FROM pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=) 'drivetribe.status_rows()'::pg_catalog.regprocedure),
           'EXECUTE') THEN
    EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', role);
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.revoke_log_reader(regrole) IS
  'undo grant_log_reader() (log_horizon stays for a role that grant_monitor() gave it; USAGE on the schema stays: other grants may need it)';

CREATE OR REPLACE FUNCTION drivetribe.revoke_monitor(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE SELECT ON drivetribe.status, drivetribe.stream_slots FROM %s', role);
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.status_rows(), drivetribe.settings() FROM %s', role);
  -- a log reader (grant_log_reader()) keeps log_horizon
  IF NOT drivetribe.granted_directly(role,
           (SELECT p.proacl FROM pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=)
                   'drivetribe.read_log(pg_catalog.xid8,bigint,integer)'::pg_catalog.regprocedure),
           'EXECUTE') THEN
    EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', role);
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.revoke_monitor(regrole) IS
  'undo grant_monitor() (log_horizon stays for a role that grant_log_reader() gave it; the schema''s USAGE stays: other grants may need it)';

-- A security fix, so the update takes read_log() back from every role
-- that holds it: up to 1.6 only grant_reader() and grant_writer() gave it.
-- log_horizon likewise, except from monitors (grant_monitor() gives it
-- too).  A role that polls the log needs SELECT
-- drivetribe.grant_log_reader('role') after the update (CHANGELOG 1.7);
-- a WARNING names each role (NOTICEs do not reach the client from an
-- extension script).
DO $$
DECLARE
  r regrole;
  reader boolean;
  monitor boolean;
BEGIN
  FOR r IN
    SELECT g.grantee FROM (
    SELECT a.grantee::pg_catalog.regrole
      FROM pg_catalog.pg_proc p,
           LATERAL pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid OPERATOR(pg_catalog.=)
           'drivetribe.read_log(pg_catalog.xid8,bigint,integer)'::pg_catalog.regprocedure
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
       AND a.grantee OPERATOR(pg_catalog.<>) 0
    UNION
    SELECT a.grantee::pg_catalog.regrole
      FROM pg_catalog.pg_class c,
           LATERAL pg_catalog.aclexplode(c.relacl) a
     WHERE c.oid OPERATOR(pg_catalog.=) 'drivetribe.log_horizon'::pg_catalog.regclass
       AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'
       AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
       AND a.grantee OPERATOR(pg_catalog.<>) 0) g(grantee)
     ORDER BY g.grantee::pg_catalog.text COLLATE pg_catalog."C"
  LOOP
    reader := drivetribe.granted_directly(r,
                (SELECT p.proacl FROM pg_catalog.pg_proc p
                  WHERE p.oid OPERATOR(pg_catalog.=)
                        'drivetribe.read_log(pg_catalog.xid8,bigint,integer)'::pg_catalog.regprocedure),
                'EXECUTE');
    monitor := drivetribe.granted_directly(r,
                 (SELECT p.proacl FROM pg_catalog.pg_proc p
                   WHERE p.oid OPERATOR(pg_catalog.=) 'drivetribe.status_rows()'::pg_catalog.regprocedure),
                 'EXECUTE');
    CONTINUE WHEN monitor AND NOT reader;     -- a monitor's log_horizon stays
    IF reader THEN
      EXECUTE pg_catalog.format(
        'REVOKE EXECUTE ON FUNCTION drivetribe.read_log(pg_catalog.xid8,bigint,integer) FROM %s', r);
    END IF;
    IF NOT monitor THEN
      EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', r);
    END IF;
    RAISE WARNING 'drivetribe 1.7: role % may no longer %', r,
                  CASE WHEN reader AND NOT monitor THEN 'call read_log() nor read log_horizon'
                       WHEN reader THEN 'call read_log()'
                       ELSE 'read log_horizon' END
      USING DETAIL = 'grant_reader() and grant_writer() gave them up to 1.6; they show every field of every event, and other roles'' sessions.',
            HINT = pg_catalog.format('If the role polls the log, run SELECT drivetribe.grant_log_reader(%L);', r::pg_catalog.text);
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION drivetribe.granted_directly(regrole, pg_catalog.aclitem[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.grant_log_reader(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.revoke_log_reader(regrole) FROM PUBLIC;

-- Item 11: the log's guard is complete.
-- (a) A table that inherits from the log (CREATE TABLE ... INHERITS,
-- ALTER TABLE ... INHERIT) would add rows that every plain read of the log
-- counts, that can be updated and deleted, and that the stream never
-- sees: the guard refuses it like other DDL on the log, and every read of
-- the extension says ONLY drivetribe.events (read_log() and status here,
-- the C code's statements in the library), so a child made with
-- allow_log_ddl, or before 1.7, is not part of the log either.
CREATE OR REPLACE FUNCTION drivetribe.guard_log_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  -- The log and its sequence by identity, not by name (a rename must not
  -- lose them): the first two relations the 1.0 script marked with
  -- pg_extension_config_dump, which a dump and restore marks again.  Only
  -- catalogs are read, so any role's DDL passes through here.
  config pg_catalog.oid[] := (SELECT e.extconfig FROM pg_catalog.pg_extension e
                               WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name);
  log_oid pg_catalog.oid := config[1];
  seq_oid pg_catalog.oid := config[2];
  cmd record;
BEGIN
  IF log_oid IS NULL
     OR pg_catalog.current_setting('drivetribe.allow_log_ddl', true) OPERATOR(pg_catalog.=) 'on' THEN
    RETURN;
  END IF;
  IF TG_EVENT OPERATOR(pg_catalog.=) 'table_rewrite' THEN
    -- refuse before the rewrite, not after it
    IF pg_catalog.pg_event_trigger_table_rewrite_oid() OPERATOR(pg_catalog.=) log_oid THEN
      RAISE EXCEPTION 'rewriting drivetribe.events is not allowed: it is the append-only source of truth'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'DDL could rewrite the log or remove its guards (the append-only trigger, the events_valid check).',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END IF;
  ELSIF TG_EVENT OPERATOR(pg_catalog.=) 'ddl_command_end' THEN
    FOR cmd IN
      SELECT c.command_tag, c.object_identity
        FROM pg_catalog.pg_event_trigger_ddl_commands() c
       WHERE NOT c.in_extension
         AND c.command_tag OPERATOR(pg_catalog.<>) ALL (ARRAY['COMMENT', 'GRANT', 'REVOKE', 'SECURITY LABEL'])
         AND (c.objid OPERATOR(pg_catalog.=) ANY (ARRAY[log_oid, seq_oid])
              OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_trigger t
                               WHERE t.oid OPERATOR(pg_catalog.=) c.objid
                                 AND t.tgrelid OPERATOR(pg_catalog.=) log_oid))
              OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_rewrite r
                               WHERE r.oid OPERATOR(pg_catalog.=) c.objid
                                 AND r.ev_class OPERATOR(pg_catalog.=) log_oid))
              OR (c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_policy p
                               WHERE p.oid OPERATOR(pg_catalog.=) c.objid
                                 AND p.polrelid OPERATOR(pg_catalog.=) log_oid)))
    LOOP
      RAISE EXCEPTION '% % is not allowed: drivetribe.events is the append-only source of truth',
                      cmd.command_tag, cmd.object_identity
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'DDL could rewrite the log or remove its guards (the append-only trigger, the events_valid check).',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END LOOP;
    -- (1.7) a relation that now inherits from the log, whatever the
    -- command made it so (CREATE TABLE / FOREIGN TABLE ... INHERITS,
    -- ALTER TABLE ... INHERIT)
    FOR cmd IN
      SELECT c.command_tag, c.object_identity
        FROM pg_catalog.pg_event_trigger_ddl_commands() c
       WHERE NOT c.in_extension
         AND c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
         AND EXISTS (SELECT FROM pg_catalog.pg_inherits i
                      WHERE i.inhrelid OPERATOR(pg_catalog.=) c.objid
                        AND i.inhparent OPERATOR(pg_catalog.=) log_oid)
    LOOP
      RAISE EXCEPTION '% % is not allowed: a table may not inherit from drivetribe.events',
                      cmd.command_tag, cmd.object_identity
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'Its rows would read as events of the log, could be updated and deleted, and would never reach the stream.',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END LOOP;
  ELSIF TG_EVENT OPERATOR(pg_catalog.=) 'sql_drop' THEN
    FOR cmd IN
      SELECT d.object_type, d.object_identity
        FROM pg_catalog.pg_event_trigger_dropped_objects() d
       WHERE d.original
         AND d.object_type OPERATOR(pg_catalog.=) ANY (ARRAY['trigger', 'rule', 'policy', 'table constraint'])
         AND EXISTS (SELECT FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) log_oid
                        AND d.address_names[2] OPERATOR(pg_catalog.=) c.relname::pg_catalog.text
                        AND d.address_names[1] OPERATOR(pg_catalog.=)
                            (SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n
                              WHERE n.oid OPERATOR(pg_catalog.=) c.relnamespace))
    LOOP
      RAISE EXCEPTION 'dropping % % is not allowed: drivetribe.events is the append-only source of truth',
                      cmd.object_type, cmd.object_identity
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A superuser who means it can run SET LOCAL drivetribe.allow_log_ddl = on first.';
    END LOOP;
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe.guard_log_ddl() IS
  'internal: event trigger refusing DDL that could rewrite or unguard drivetribe.events, or make a table inherit from it';

-- A child made before 1.7 stays (dropping a user's table is not an
-- update's business), and is no part of the log from here on: say so.
DO $$
DECLARE
  child pg_catalog.regclass;
BEGIN
  FOR child IN SELECT i.inhrelid::pg_catalog.regclass FROM pg_catalog.pg_inherits i
                WHERE i.inhparent OPERATOR(pg_catalog.=) 'drivetribe.events'::pg_catalog.regclass
                ORDER BY 1 LOOP
    RAISE WARNING 'table % inherits from drivetribe.events: its rows are no events of the log', child
      USING DETAIL = 'Since 1.7 the extension reads ONLY drivetribe.events: verify(), rebuild(), read_log() and status no longer count them.',
            HINT = 'Drop the table or detach it (ALTER TABLE ... NO INHERIT drivetribe.events) if it is not needed.';
  END LOOP;
END
$$;

-- (b) setval('drivetribe.event_seq', 1) is a function call, not DDL: no
-- event trigger sees it.  What it would cause is refused instead, in the
-- library (every SQL version): the write API appends an event only when
-- its new seq exceeds every seq already in the log.  Readers of the log
-- read ONLY drivetribe.events from here on.
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
  -- ONLY: a table that inherits from the log is no part of it.
  RETURN QUERY
  SELECT e.*
    FROM ONLY drivetribe.events e
   WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(read_log.after_txid, read_log.after_seq)
     AND e.txid OPERATOR(pg_catalog.<)
         pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())
   ORDER BY e.txid, e.seq
   LIMIT read_log.max_rows;
END
$$;
COMMENT ON FUNCTION drivetribe.read_log(pg_catalog.xid8, bigint, integer) IS
  'the whole log for a role granted grant_log_reader(): up to max_rows events after the cursor (after_txid, after_seq) in (txid, seq) order, only those no running transaction can precede; pass the last row''s txid and seq for the next call';

CREATE OR REPLACE FUNCTION drivetribe.first_seq_since(since timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  lo bigint;
  hi bigint;
  mid bigint;
  found_seq bigint;
  found_at timestamptz;
BEGIN
  SELECT min(e.seq), max(e.seq) INTO lo, hi FROM ONLY drivetribe.events e;
  IF hi IS NULL THEN
    RETURN NULL;
  END IF;
  hi := hi OPERATOR(pg_catalog.+) 1;          -- the answer lies in [lo, hi]
  WHILE lo OPERATOR(pg_catalog.<) hi LOOP
    mid := lo OPERATOR(pg_catalog.+) ((hi OPERATOR(pg_catalog.-) lo) OPERATOR(pg_catalog./) 2);
    SELECT e.seq, e.occurred_at INTO found_seq, found_at
      FROM ONLY drivetribe.events e
     WHERE e.seq OPERATOR(pg_catalog.>=) mid
     ORDER BY e.seq LIMIT 1;
    IF found_at OPERATOR(pg_catalog.>=) since THEN
      hi := mid;
    ELSE
      lo := found_seq OPERATOR(pg_catalog.+) 1;
    END IF;
  END LOOP;
  RETURN lo;
END
$$;

-- Item 8: jobs that no role can squat.  pg_cron lets any role with USAGE
-- on schema cron schedule a job of any name, including
-- "drivetribe-verify" before the extension does: up to 1.6,
-- schedule_maintenance() took such a job for its own (it changed its
-- command, and the role still owned it and could change it back) and
-- status listed it.  A job is the extension's when it has one of the names
-- of maintenance_jobs(), lives in this database, and belongs to a
-- superuser or to the extension's owner; schedule_maintenance() removes
-- (with a WARNING naming it and its owner) a job of such a name that
-- belongs to any other role, then registers its own.
CREATE FUNCTION drivetribe.maintenance_cron_jobs()
RETURNS TABLE (jobid bigint, jobname text, username text, schedule text,
               command text, ours boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e
                  WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron'::pg_catalog.name) THEN
    RETURN;
  END IF;
  -- (cron.job is only parsed where pg_cron is installed)
  RETURN QUERY
  SELECT j.jobid, j.jobname::pg_catalog.text, j.username::pg_catalog.text,
         j.schedule::pg_catalog.text, j.command::pg_catalog.text,
         EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) j.username::pg_catalog.text
                    AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) x.extowner))
    FROM cron.job j
    LEFT JOIN pg_catalog.pg_extension x
      ON x.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name
   WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
         SELECT m.jobname FROM drivetribe.maintenance_jobs() m)
     AND j.database::pg_catalog.text OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text;
END
$$;
COMMENT ON FUNCTION drivetribe.maintenance_cron_jobs() IS
  'internal (schedule_maintenance, unschedule_maintenance, status): the pg_cron jobs of this database named like a maintenance job, and whether each is the extension''s (owned by a superuser or the extension''s owner)';

CREATE OR REPLACE FUNCTION drivetribe.schedule_maintenance()
RETURNS SETOF bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job record;
  existing record;
  found_one boolean;
BEGIN
  PERFORM drivetribe.require_pg_cron();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.oid OPERATOR(pg_catalog.=) current_user::pg_catalog.regrole::pg_catalog.oid
                    AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) (
                         SELECT e.extowner FROM pg_catalog.pg_extension e
                          WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name))) THEN
    RAISE EXCEPTION 'drivetribe.schedule_maintenance() must be run by a superuser or the extension''s owner'
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'pg_cron runs a job as the role that scheduled it; only such a role''s jobs count as the extension''s.';
  END IF;
  -- another role's job of one of the names: not ours, removed
  FOR existing IN SELECT c.jobid, c.jobname, c.username
                    FROM drivetribe.maintenance_cron_jobs() c
                   WHERE NOT c.ours ORDER BY c.jobname, c.username LOOP
    PERFORM cron.unschedule(existing.jobid);
    RAISE WARNING 'removed pg_cron job "%" of role "%": only a superuser''s job can be a drivetribe maintenance job',
                  existing.jobname, existing.username
      USING DETAIL = 'A job of that name owned by another role runs that role''s command, whatever drivetribe registers.';
  END LOOP;
  FOR job IN SELECT * FROM drivetribe.maintenance_jobs() LOOP
    found_one := false;
    FOR existing IN SELECT c.jobid FROM drivetribe.maintenance_cron_jobs() c
                     WHERE c.ours AND c.jobname OPERATOR(pg_catalog.=) job.jobname
                     ORDER BY c.jobid LOOP
      PERFORM cron.alter_job(existing.jobid, schedule => job.schedule,
                             command => job.command);
      found_one := true;
      RETURN NEXT existing.jobid;
    END LOOP;
    IF NOT found_one THEN
      RETURN NEXT cron.schedule(job.jobname, job.schedule, job.command);
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION drivetribe.schedule_maintenance() IS
  'register (or update) the extension''s pg_cron jobs (run by a superuser or the extension''s owner); another role''s job of one of their names is removed with a WARNING; returns their job ids';

CREATE OR REPLACE FUNCTION drivetribe.unschedule_maintenance()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  removed bigint := 0;
  job record;
BEGIN
  PERFORM drivetribe.require_pg_cron();
  FOR job IN SELECT c.jobid FROM drivetribe.maintenance_cron_jobs() c WHERE c.ours LOOP
    PERFORM cron.unschedule(job.jobid);
    removed := removed OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN removed;
END
$$;
COMMENT ON FUNCTION drivetribe.unschedule_maintenance() IS
  'remove the extension''s pg_cron jobs (not another role''s job of the same name); returns how many were removed';

-- status lists only the extension's own jobs (and ONLY drivetribe.events)
CREATE OR REPLACE FUNCTION drivetribe.status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  last_seq bigint;
  hour_start bigint;
  minute_start bigint;
  plugins text;
  awaiting bigint;
BEGIN
  ---------------------------------------------------------------- log
  SELECT max(e.seq) INTO last_seq FROM ONLY drivetribe.events e;
  area := 'log'; item := 'last seq'; value := coalesce(last_seq::text, 'none');
  detail := 'the last event appended'; RETURN NEXT;
  item := 'size';
  SELECT pg_size_pretty(pg_total_relation_size(c.oid)),
         pg_total_relation_size(c.oid) OPERATOR(pg_catalog.||) ' bytes with indexes, about '
           OPERATOR(pg_catalog.||) greatest(c.reltuples, 0)::bigint OPERATOR(pg_catalog.||) ' events (planner estimate)'
    INTO value, detail
    FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass;
  RETURN NEXT;
  hour_start := drivetribe.first_seq_since(now() OPERATOR(pg_catalog.-) '1 hour'::interval);
  minute_start := drivetribe.first_seq_since(now() OPERATOR(pg_catalog.-) '1 minute'::interval);
  RETURN QUERY
  WITH kinds(kind, n) AS (
         SELECT k.kind, k.n FROM unnest(ARRAY[
                'user_registered', 'user_renamed', 'tribe_created', 'tribe_renamed',
                'tribe_joined', 'tribe_left', 'user_followed', 'user_unfollowed',
                'article_posted', 'article_edited', 'article_deleted', 'article_viewed',
                'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped'])
                WITH ORDINALITY AS k(kind, n)),
       recent AS (
         SELECT e.kind, count(*) AS last_hour,
                count(*) FILTER (WHERE e.seq OPERATOR(pg_catalog.>=) minute_start) AS last_minute
           FROM ONLY drivetribe.events e
          WHERE e.seq OPERATOR(pg_catalog.>=) hour_start
          GROUP BY e.kind),
       estimated AS (
         SELECT v.kind, round(v.freq::numeric OPERATOR(pg_catalog.*) greatest(c.reltuples, 0)::numeric)::bigint AS total
           FROM pg_stats s
           CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(kind, freq)
           JOIN pg_class c ON c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass
          WHERE s.schemaname OPERATOR(pg_catalog.=) 'drivetribe' AND s.tablename OPERATOR(pg_catalog.=) 'events'
            AND s.attname OPERATOR(pg_catalog.=) 'kind')
  SELECT 'log', 'events ' OPERATOR(pg_catalog.||) k.kind,
         coalesce(r.last_hour, 0)::text,
         'last hour; last minute ' OPERATOR(pg_catalog.||) coalesce(r.last_minute, 0)
           OPERATOR(pg_catalog.||) coalesce('; about ' OPERATOR(pg_catalog.||) x.total OPERATOR(pg_catalog.||) ' in all (planner estimate)', '')
    FROM kinds k
    LEFT JOIN recent r ON r.kind OPERATOR(pg_catalog.=) k.kind
    LEFT JOIN estimated x ON x.kind OPERATOR(pg_catalog.=) k.kind
   ORDER BY k.n;

  ---------------------------------------------------------------- projections
  RETURN QUERY
  SELECT 'projection', c.relname::text,
         coalesce(s.n_live_tup, 0)::text,
         'rows (statistics); ' OPERATOR(pg_catalog.||) pg_size_pretty(pg_total_relation_size(c.oid))
           OPERATOR(pg_catalog.||) ' with indexes'
    FROM pg_class c
    LEFT JOIN pg_stat_all_tables s ON s.relid OPERATOR(pg_catalog.=) c.oid
   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'drivetribe'::regnamespace
     AND c.relkind OPERATOR(pg_catalog.=) 'r'
     AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['events', 'verify_runs'])
   ORDER BY c.relname;

  ---------------------------------------------------------------- hot keys
  RETURN QUERY
  SELECT 'hot key', 'article ' OPERATOR(pg_catalog.||) p.article_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(a.title, '?')
    FROM (SELECT s.article_id, count(*) AS stripes,
                 sum(abs(s.views) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps)) AS pending
            FROM drivetribe.article_stripes s GROUP BY s.article_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.articles a ON a.article_id OPERATOR(pg_catalog.=) p.article_id
   ORDER BY p.pending DESC;
  RETURN QUERY
  SELECT 'hot key', 'user ' OPERATOR(pg_catalog.||) p.user_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(u.name, '?')
    FROM (SELECT s.user_id, count(*) AS stripes,
                 sum(abs(s.articles) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps_given)
                     OPERATOR(pg_catalog.+) abs(s.bumps_received) OPERATOR(pg_catalog.+) abs(s.followers)
                     OPERATOR(pg_catalog.+) abs(s.following) OPERATOR(pg_catalog.+) abs(s.tribes)) AS pending
            FROM drivetribe.user_stripes s GROUP BY s.user_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) p.user_id
   ORDER BY p.pending DESC;
  RETURN QUERY
  SELECT 'hot key', 'tribe ' OPERATOR(pg_catalog.||) p.tribe_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(t.name, '?')
    FROM (SELECT s.tribe_id, count(*) AS stripes,
                 sum(abs(s.members) OPERATOR(pg_catalog.+) abs(s.articles)) AS pending
            FROM drivetribe.tribe_stripes s GROUP BY s.tribe_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.tribes t ON t.tribe_id OPERATOR(pg_catalog.=) p.tribe_id
   ORDER BY p.pending DESC;
  area := 'hot key'; item := 'lock waits now';
  SELECT coalesce(sum(w.n), 0)::text,
         'sessions of this database waiting for a lock, by what they wait for: '
           OPERATOR(pg_catalog.||) coalesce(string_agg(w.wait_event OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) w.n, ', '), 'none')
    INTO value, detail
    FROM (SELECT a.wait_event, count(*) AS n FROM pg_stat_activity a
           WHERE a.datname OPERATOR(pg_catalog.=) current_database()
             AND a.wait_event_type OPERATOR(pg_catalog.=) 'Lock'
           GROUP BY a.wait_event) w;
  RETURN NEXT;

  ---------------------------------------------------------------- rank
  area := 'rank'; item := 'articles awaiting fold';
  SELECT count(DISTINCT s.article_id)::text INTO value FROM drivetribe.article_stripes s;
  awaiting := value::bigint;
  detail := 'counter changes whose article''s score (article_ranks) the next fold sets: within 2 s while a rank worker runs';
  RETURN NEXT;
  item := 'largest rank lag';
  SELECT coalesce(max(p.pending), 0)::text,
         coalesce('article ' OPERATOR(pg_catalog.||) (array_agg(p.article_id ORDER BY p.pending DESC))[1]
                  OPERATOR(pg_catalog.||) ': counter changes not yet in its score', 'none: every score is current')
    INTO value, detail
    FROM (SELECT s.article_id, sum(abs(s.views) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps)) AS pending
            FROM drivetribe.article_stripes s GROUP BY s.article_id) p;
  RETURN NEXT;
  item := 'rank worker';
  SELECT coalesce(string_agg('pid ' OPERATOR(pg_catalog.||) a.pid, ', '), 'not running') INTO value
    FROM pg_stat_activity a
   WHERE a.backend_type OPERATOR(pg_catalog.=) 'drivetribe rank worker'
     AND a.datname OPERATOR(pg_catalog.=) current_database();
  detail := CASE
    WHEN value OPERATOR(pg_catalog.<>) 'not running' THEN
      'sets the scores of articles with pending counter changes every drivetribe.fold_interval ('
      OPERATOR(pg_catalog.||) pg_catalog.current_setting('drivetribe.fold_interval', true) OPERATOR(pg_catalog.||) ')'
    WHEN pg_catalog.current_setting('drivetribe.rank_worker', true) OPERATOR(pg_catalog.=) 'off' THEN
      'drivetribe.rank_worker is off here: scores follow their counts only when drivetribe.fold_stripes() runs (the pg_cron job, every minute)'
    WHEN awaiting OPERATOR(pg_catalog.>) 0 THEN
      'NOT RUNNING while articles await a fold: their scores lag their counts.  It needs a free max_worker_processes slot '
      OPERATOR(pg_catalog.||) '(see "worker slots" and the server log); SELECT drivetribe.fold_stripes() sets the scores now; '
      OPERATOR(pg_catalog.||) 'shared_preload_libraries = ''drivetribe'' with drivetribe.rank_databases reserves a worker for this database'
    ELSE 'none needed now: the next counter change of an article, or a feed read that finds one pending, starts one' END;
  RETURN NEXT;
  item := 'worker slots';
  SELECT pg_catalog.count(*)::text INTO value FROM pg_stat_activity a
   WHERE a.backend_type NOT IN ('client backend', 'checkpointer', 'background writer', 'walwriter',
                                'autovacuum launcher', 'startup', 'archiver', 'walsender', 'walreceiver',
                                'autovacuum worker', 'logger', 'stats collector');
  value := value OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) pg_catalog.current_setting('max_worker_processes') OPERATOR(pg_catalog.||) ' in use';
  detail := 'background workers (parallel query, logical replication, pg_cron, the rank worker) share max_worker_processes; leave one free for each database''s rank worker, or reserve it with drivetribe.rank_databases';
  RETURN NEXT;

  ---------------------------------------------------------------- stream
  RETURN QUERY
  SELECT 'stream', 'slot ' OPERATOR(pg_catalog.||) s.slot_name,
         coalesce(pg_size_pretty(s.lag_bytes), 'unknown'),
         'behind the server; keeps ' OPERATOR(pg_catalog.||) coalesce(pg_size_pretty(s.retained_bytes), '?')
           OPERATOR(pg_catalog.||) ' of WAL (' OPERATOR(pg_catalog.||) coalesce(s.wal_status, '?') OPERATOR(pg_catalog.||) '); '
           OPERATOR(pg_catalog.||) CASE WHEN s.active THEN 'consumer connected, last reply '
                                        OPERATOR(pg_catalog.||) coalesce(date_trunc('second', s.reply_age)::text OPERATOR(pg_catalog.||) ' ago', 'unknown')
                                   ELSE 'no consumer connected' END
           OPERATOR(pg_catalog.||) ' (database ' OPERATOR(pg_catalog.||) s.database OPERATOR(pg_catalog.||) ')'
    FROM drivetribe.stream_slots s
   ORDER BY s.slot_name;
  area := 'stream'; item := 'output_plugin_libraries';
  SELECT st.setting INTO plugins FROM pg_settings st WHERE st.name OPERATOR(pg_catalog.=) 'output_plugin_libraries';
  IF plugins IS NULL THEN
    value := 'not a setting of this server';
    detail := 'before 15.19 every installed plugin may be used: the drivetribe plugin is allowed';
  ELSE
    value := plugins;
    detail := CASE WHEN EXISTS (SELECT FROM unnest(string_to_array(plugins, ',')) p(name)
                                 WHERE btrim(p.name) OPERATOR(pg_catalog.=) 'drivetribe'
                                    OR btrim(p.name) OPERATOR(pg_catalog.~~) '%/drivetribe')
                   THEN 'the drivetribe plugin is allowed'
                   ELSE 'the drivetribe plugin is NOT allowed: slots cannot be created or read; add drivetribe to output_plugin_libraries and reload' END;
  END IF;
  RETURN NEXT;
  item := 'max_slot_wal_keep_size'; value := current_setting('max_slot_wal_keep_size');
  detail := CASE WHEN value OPERATOR(pg_catalog.=) '-1'
                 THEN 'unlimited: a slot whose consumer stopped keeps WAL until the disk is full; set a bound'
                 ELSE 'a slot that falls further behind is invalidated (its consumer must start over)' END;
  RETURN NEXT;

  ---------------------------------------------------------------- settings
  RETURN QUERY
  SELECT 'setting', g.name, g.setting OPERATOR(pg_catalog.||) coalesce(' ' OPERATOR(pg_catalog.||) g.unit, ''), g.description
    FROM drivetribe.settings() g
   ORDER BY g.name;

  ---------------------------------------------------------------- verify
  area := 'verify'; item := 'last run';
  SELECT v.finished_at::text,
         CASE WHEN v.differences OPERATOR(pg_catalog.=) 0 THEN 'no differences'
              ELSE v.differences OPERATOR(pg_catalog.||) ' differences: run SELECT * FROM drivetribe.verify() to see them, drivetribe.rebuild() to repair' END
           OPERATOR(pg_catalog.||) '; ' OPERATOR(pg_catalog.||) v.events OPERATOR(pg_catalog.||) ' events replayed in '
           OPERATOR(pg_catalog.||) date_trunc('millisecond', v.finished_at OPERATOR(pg_catalog.-) v.started_at)
           OPERATOR(pg_catalog.||) ' by ' OPERATOR(pg_catalog.||) v.run_by
    INTO value, detail
    FROM drivetribe.verify_runs v
   ORDER BY v.finished_at DESC LIMIT 1;
  IF NOT FOUND THEN
    value := 'never'; detail := 'no verify() has finished since 1.5 was installed';
  END IF;
  RETURN NEXT;

  ---------------------------------------------------------------- jobs
  IF EXISTS (SELECT FROM pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    -- (nested: cron.job_run_details is only parsed where pg_cron is
    -- installed).  Only the extension's own jobs (1.7: owned by a
    -- superuser or the extension's owner); another role's job of the same
    -- name is named in the detail, never shown as the job.
    RETURN QUERY
    WITH c AS (SELECT * FROM drivetribe.maintenance_cron_jobs())
    SELECT 'job', m.jobname,
           coalesce(j.schedule, 'not scheduled'),
           CASE WHEN j.jobid IS NULL THEN 'run SELECT drivetribe.schedule_maintenance()'
                WHEN r.status IS NULL THEN 'no run yet'
                ELSE 'last run ' OPERATOR(pg_catalog.||) r.status OPERATOR(pg_catalog.||) ' at '
                     OPERATOR(pg_catalog.||) r.start_time::text
                     OPERATOR(pg_catalog.||) coalesce(': ' OPERATOR(pg_catalog.||) left(r.return_message, 200), '') END
             OPERATOR(pg_catalog.||) coalesce('; ' OPERATOR(pg_catalog.||) o.others, '')
      FROM drivetribe.maintenance_jobs() m
      LEFT JOIN c j ON j.ours AND j.jobname OPERATOR(pg_catalog.=) m.jobname
      LEFT JOIN LATERAL (SELECT 'not drivetribe''s: a job of the same name owned by role '
                                  OPERATOR(pg_catalog.||) string_agg(quote_ident(f.username), ', ' ORDER BY f.username)
                                  OPERATOR(pg_catalog.||) ' (schedule_maintenance() removes it)' AS others
                           FROM c f
                          WHERE NOT f.ours AND f.jobname OPERATOR(pg_catalog.=) m.jobname) o ON true
      LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.return_message
                           FROM cron.job_run_details d
                          WHERE d.jobid OPERATOR(pg_catalog.=) j.jobid
                          ORDER BY d.start_time DESC NULLS LAST LIMIT 1) r ON true
     ORDER BY m.jobname, j.jobid;
  ELSE
    RETURN QUERY
    SELECT 'job', m.jobname, 'not scheduled', 'pg_cron is not installed in this database'
      FROM drivetribe.maintenance_jobs() m ORDER BY m.jobname;
  END IF;
END
$$;

-- Jobs registered before 1.7, the extension's or another role's that
-- schedule_maintenance() took for its own: register them again, the 1.7
-- way (another role's job of one of the names is removed).
DO $$
BEGIN
  IF EXISTS (SELECT FROM drivetribe.maintenance_cron_jobs() c
              WHERE c.ours
                 OR c.command OPERATOR(pg_catalog.=) ANY (SELECT m.command FROM drivetribe.maintenance_jobs() m)) THEN
    PERFORM drivetribe.schedule_maintenance();
  END IF;
END
$$;

REVOKE ALL ON FUNCTION drivetribe.maintenance_cron_jobs() FROM PUBLIC;

------------------------------------------------------------------------
-- the stream
------------------------------------------------------------------------

------------------------------------------------------------------------
-- updates under load: ALTER EXTENSION drivetribe UPDATE runs every script
-- of its path in one transaction while writers keep calling the library.
-- Writers take their table locks first, in the order the scripts of the
-- path lock tables against them (src/locks.c, update_locks; docs/design.md
-- "Lock order").  A statement here that locks a table of the schema in
-- SHARE mode or stronger (ALTER TABLE, DROP INDEX, CREATE INDEX without
-- CONCURRENTLY, LOCK TABLE, ...) must be listed there, in this script's
-- order, with a relation this script creates in version_marks;
-- test/e2e/upgrade_under_load.sh checks the list against pg_locks.
-- Nothing to run here.
------------------------------------------------------------------------

------------------------------------------------------------------------
-- comments that point to the project's own docs (issue 19, item 1): the
-- contract a user reads is docs/reference.md
------------------------------------------------------------------------
COMMENT ON FUNCTION drivetribe.score(bigint, bigint, bigint, timestamptz) IS
  'the rank score of an article from its bumps, comments, views and posting time: log10(greatest(10*bumps + 5*comments + views, 1)) + epoch(posted_at)/45000 (docs/reference.md, "Ranking"; stored in article_ranks.score)';
COMMENT ON COLUMN drivetribe.events.kind IS 'one of the 16 event kinds (docs/reference.md, "Identifiers and events")';
COMMENT ON TABLE drivetribe.article_ranks IS
  'internal (projection): the rank of every live article, the ranking formula over its counts, set by the rank worker at most about drivetribe.fold_interval after a change';
COMMENT ON COLUMN drivetribe.article_view.score IS 'the rank score (what feeds order by): the ranking formula over the counts, at most 2 s behind them; page with the exact float8 value';

------------------------------------------------------------------------
-- a catalog a person can browse
------------------------------------------------------------------------
-- (Runs before the operator's view below, which uses the new schema.)
-- \df drivetribe.* lists the API, not its helpers: every function whose
-- comment says "internal" moves to the schema drivetribe_internal, created
-- here, so a member of the extension (DROP EXTENSION drops it).  PUBLIC
-- gets no USAGE on it; the functions keep their grants (none to PUBLIC),
-- owners and comments.  Triggers, the events_valid CHECK and the event
-- triggers refer to their functions by oid and follow them; every SQL
-- caller is redefined below.  The pg_cron jobs' command,
-- drivetribe.run_maintenance(job), stays where operators see it (cron.job)
-- and becomes API: it runs one job now.  Moving a function locks no table
-- (src/locks.c's update_locks does not change).  The C library calls none
-- of the moved functions by name (it calls unschedule_maintenance(), which
-- stays), so it serves every SQL version alike.
CREATE SCHEMA drivetribe_internal;
REVOKE ALL ON SCHEMA drivetribe_internal FROM PUBLIC;
COMMENT ON SCHEMA drivetribe_internal IS
  'internal: helpers of the drivetribe extension (triggers, grants, maintenance, status); not an API: call the functions of schema drivetribe';

ALTER FUNCTION drivetribe.api_functions(boolean) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.grant_api(regrole, boolean) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.revoke_api(regrole, boolean) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.granted_directly(regrole, pg_catalog.aclitem[], text) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.maintenance_jobs() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.maintenance_cron_jobs() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.require_pg_cron() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.first_seq_since(timestamptz) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.events_are_immutable() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.event_is_valid(bigint, text, bigint, bigint, bigint, bigint, bigint, bigint, text, jsonb) SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.guard_log_ddl() SET SCHEMA drivetribe_internal;
ALTER FUNCTION drivetribe.drop_cleanup() SET SCHEMA drivetribe_internal;

-- every caller of a moved function, as 1.7 defined it but for the schema
-- (CREATE OR REPLACE keeps grants and comments)
CREATE OR REPLACE FUNCTION drivetribe_internal.grant_api(role regrole, writer boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
  FOR fn IN SELECT * FROM drivetribe_internal.api_functions(writer) LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
  END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe_internal.revoke_api(role regrole, writer boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  fn regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  FOR fn IN SELECT * FROM drivetribe_internal.api_functions(writer) LOOP
    IF writer AND fn OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT * FROM drivetribe_internal.api_functions(false))) THEN
      CONTINUE;                 -- revoke_writer keeps the read API
    END IF;
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', fn, role);
  END LOOP;
  IF NOT writer THEN
    EXECUTE pg_catalog.format(
      'REVOKE SELECT ON drivetribe.article_view, drivetribe.user_stats, drivetribe.tribe_stats FROM %s',
      role);
  END IF;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe_internal.maintenance_cron_jobs()
 RETURNS TABLE(jobid bigint, jobname text, username text, schedule text, command text, ours boolean)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e
                  WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron'::pg_catalog.name) THEN
    RETURN;
  END IF;
  -- (cron.job is only parsed where pg_cron is installed)
  RETURN QUERY
  SELECT j.jobid, j.jobname::pg_catalog.text, j.username::pg_catalog.text,
         j.schedule::pg_catalog.text, j.command::pg_catalog.text,
         EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) j.username::pg_catalog.text
                    AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) x.extowner))
    FROM cron.job j
    LEFT JOIN pg_catalog.pg_extension x
      ON x.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name
   WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
         SELECT m.jobname FROM drivetribe_internal.maintenance_jobs() m)
     AND j.database::pg_catalog.text OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.grant_writer(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.grant_api($1, true) $function$;

CREATE OR REPLACE FUNCTION drivetribe.grant_reader(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.grant_api($1, false) $function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_writer(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.revoke_api(role, true) $function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_reader(role regrole)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ SELECT drivetribe_internal.revoke_api(role, true); SELECT drivetribe_internal.revoke_api(role, false) $function$;

CREATE OR REPLACE FUNCTION drivetribe.schedule_maintenance()
 RETURNS SETOF bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  job record;
  existing record;
  found_one boolean;
BEGIN
  PERFORM drivetribe_internal.require_pg_cron();
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                  WHERE r.oid OPERATOR(pg_catalog.=) current_user::pg_catalog.regrole::pg_catalog.oid
                    AND (r.rolsuper OR r.oid OPERATOR(pg_catalog.=) (
                         SELECT e.extowner FROM pg_catalog.pg_extension e
                          WHERE e.extname OPERATOR(pg_catalog.=) 'drivetribe'::pg_catalog.name))) THEN
    RAISE EXCEPTION 'drivetribe.schedule_maintenance() must be run by a superuser or the extension''s owner'
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'pg_cron runs a job as the role that scheduled it; only such a role''s jobs count as the extension''s.';
  END IF;
  -- another role's job of one of the names: not ours, removed
  FOR existing IN SELECT c.jobid, c.jobname, c.username
                    FROM drivetribe_internal.maintenance_cron_jobs() c
                   WHERE NOT c.ours ORDER BY c.jobname, c.username LOOP
    PERFORM cron.unschedule(existing.jobid);
    RAISE WARNING 'removed pg_cron job "%" of role "%": only a superuser''s job can be a drivetribe maintenance job',
                  existing.jobname, existing.username
      USING DETAIL = 'A job of that name owned by another role runs that role''s command, whatever drivetribe registers.';
  END LOOP;
  FOR job IN SELECT * FROM drivetribe_internal.maintenance_jobs() LOOP
    found_one := false;
    FOR existing IN SELECT c.jobid FROM drivetribe_internal.maintenance_cron_jobs() c
                     WHERE c.ours AND c.jobname OPERATOR(pg_catalog.=) job.jobname
                     ORDER BY c.jobid LOOP
      PERFORM cron.alter_job(existing.jobid, schedule => job.schedule,
                             command => job.command);
      found_one := true;
      RETURN NEXT existing.jobid;
    END LOOP;
    IF NOT found_one THEN
      RETURN NEXT cron.schedule(job.jobname, job.schedule, job.command);
    END IF;
  END LOOP;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.unschedule_maintenance()
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  removed bigint := 0;
  job record;
BEGIN
  PERFORM drivetribe_internal.require_pg_cron();
  FOR job IN SELECT c.jobid FROM drivetribe_internal.maintenance_cron_jobs() c WHERE c.ours LOOP
    PERFORM cron.unschedule(job.jobid);
    removed := removed OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN removed;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.run_maintenance(job text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF job OPERATOR(pg_catalog.=) 'verify' THEN
    IF EXISTS (SELECT FROM drivetribe.verify()) THEN
      RAISE EXCEPTION 'drivetribe.verify() found differences'
        USING ERRCODE = 'data_corrupted',
              HINT = 'Run SELECT * FROM drivetribe.verify() to see them and drivetribe.rebuild() to repair them.';
    END IF;
  ELSIF job OPERATOR(pg_catalog.=) 'prune-noop-calls' THEN
    PERFORM drivetribe.prune_noop_calls();
  ELSIF job OPERATOR(pg_catalog.=) 'fold-stripes' THEN
    PERFORM drivetribe.fold_stripes();
  ELSIF job OPERATOR(pg_catalog.=) 'heartbeat' THEN
    PERFORM drivetribe.heartbeat();
  ELSIF job OPERATOR(pg_catalog.=) 'prune-cron-history' THEN
    DELETE FROM cron.job_run_details d
     WHERE d.end_time OPERATOR(pg_catalog.<)
           (pg_catalog.now() OPERATOR(pg_catalog.-) '14 days'::pg_catalog.interval)
       AND d.jobid OPERATOR(pg_catalog.=) ANY (
           SELECT j.jobid FROM cron.job j
            WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
                  SELECT m.jobname FROM drivetribe_internal.maintenance_jobs() m));
  ELSE
    RAISE EXCEPTION 'unknown drivetribe maintenance job "%"', job
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_monitor(role regrole)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE SELECT ON drivetribe.status, drivetribe.stream_slots FROM %s', role);
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.status_rows(), drivetribe.settings() FROM %s', role);
  -- a log reader (grant_log_reader()) keeps log_horizon
  IF NOT drivetribe_internal.granted_directly(role,
           (SELECT p.proacl FROM pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=)
                   'drivetribe.read_log(pg_catalog.xid8,bigint,integer)'::pg_catalog.regprocedure),
           'EXECUTE') THEN
    EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', role);
  END IF;
END
$function$;

CREATE OR REPLACE FUNCTION drivetribe.revoke_log_reader(role regrole)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  EXECUTE pg_catalog.format(
    'REVOKE EXECUTE ON FUNCTION drivetribe.read_log(pg_catalog.xid8,bigint,integer) FROM %s', role);
  -- a monitor (grant_monitor()) keeps log_horizon
  IF NOT drivetribe_internal.granted_directly(role,
           (SELECT p.proacl FROM pg_catalog.pg_proc p
             WHERE p.oid OPERATOR(pg_catalog.=) 'drivetribe.status_rows()'::pg_catalog.regprocedure),
           'EXECUTE') THEN
    EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.log_horizon FROM %s', role);
  END IF;
END
$function$;

COMMENT ON FUNCTION drivetribe.run_maintenance(text) IS
  'run one of the extension''s maintenance jobs now (the command of each pg_cron job of schedule_maintenance(): verify, fold-stripes, heartbeat, prune-noop-calls, prune-cron-history); verify fails when verify() finds differences';

------------------------------------------------------------------------
-- the operator's view: drivetribe.status checks the server's settings
------------------------------------------------------------------------
-- (docs/design.md "The operator's view")  status checks the server's
-- settings, each row with its fix: wal_level (the stream), pg_cron
-- (installed, preloaded, cron.database_name, created here, jobs scheduled),
-- the plugin allowed (output_plugin_libraries), worker headroom for the
-- rank worker.  The body moves to drivetribe_internal.status_rows(); the
-- API's drivetribe.status_rows() (what the view and grant_monitor() name)
-- calls it, so \df+ drivetribe.* is not as wide as its source.
CREATE FUNCTION drivetribe_internal.status_rows()
 RETURNS TABLE(area text, item text, value text, detail text)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
  last_seq bigint;
  hour_start bigint;
  minute_start bigint;
  plugins text;
  awaiting bigint;
  -- (1.7, issue 19) the server's settings
  preload text[] := pg_catalog.string_to_array(pg_catalog.replace(
                      pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',');
  cron_db text := pg_catalog.current_setting('cron.database_name', true);
  jobs_ours bigint;
  jobs_all bigint;
  workers_used bigint;
  workers_max bigint := pg_catalog.current_setting('max_worker_processes')::bigint;
  rank_running boolean;
  reserved boolean;
BEGIN
  ---------------------------------------------------------------- log
  SELECT max(e.seq) INTO last_seq FROM ONLY drivetribe.events e;
  area := 'log'; item := 'last seq'; value := coalesce(last_seq::text, 'none');
  detail := 'the last event appended'; RETURN NEXT;
  item := 'size';
  SELECT pg_size_pretty(pg_total_relation_size(c.oid)),
         pg_total_relation_size(c.oid) OPERATOR(pg_catalog.||) ' bytes with indexes, about '
           OPERATOR(pg_catalog.||) greatest(c.reltuples, 0)::bigint OPERATOR(pg_catalog.||) ' events (planner estimate)'
    INTO value, detail
    FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass;
  RETURN NEXT;
  hour_start := drivetribe_internal.first_seq_since(now() OPERATOR(pg_catalog.-) '1 hour'::interval);
  minute_start := drivetribe_internal.first_seq_since(now() OPERATOR(pg_catalog.-) '1 minute'::interval);
  RETURN QUERY
  WITH kinds(kind, n) AS (
         SELECT k.kind, k.n FROM unnest(ARRAY[
                'user_registered', 'user_renamed', 'tribe_created', 'tribe_renamed',
                'tribe_joined', 'tribe_left', 'user_followed', 'user_unfollowed',
                'article_posted', 'article_edited', 'article_deleted', 'article_viewed',
                'comment_posted', 'comment_deleted', 'article_bumped', 'article_unbumped'])
                WITH ORDINALITY AS k(kind, n)),
       recent AS (
         SELECT e.kind, count(*) AS last_hour,
                count(*) FILTER (WHERE e.seq OPERATOR(pg_catalog.>=) minute_start) AS last_minute
           FROM ONLY drivetribe.events e
          WHERE e.seq OPERATOR(pg_catalog.>=) hour_start
          GROUP BY e.kind),
       estimated AS (
         SELECT v.kind, round(v.freq::numeric OPERATOR(pg_catalog.*) greatest(c.reltuples, 0)::numeric)::bigint AS total
           FROM pg_stats s
           CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(kind, freq)
           JOIN pg_class c ON c.oid OPERATOR(pg_catalog.=) 'drivetribe.events'::regclass
          WHERE s.schemaname OPERATOR(pg_catalog.=) 'drivetribe' AND s.tablename OPERATOR(pg_catalog.=) 'events'
            AND s.attname OPERATOR(pg_catalog.=) 'kind')
  SELECT 'log', 'events ' OPERATOR(pg_catalog.||) k.kind,
         coalesce(r.last_hour, 0)::text,
         'last hour; last minute ' OPERATOR(pg_catalog.||) coalesce(r.last_minute, 0)
           OPERATOR(pg_catalog.||) coalesce('; about ' OPERATOR(pg_catalog.||) x.total OPERATOR(pg_catalog.||) ' in all (planner estimate)', '')
    FROM kinds k
    LEFT JOIN recent r ON r.kind OPERATOR(pg_catalog.=) k.kind
    LEFT JOIN estimated x ON x.kind OPERATOR(pg_catalog.=) k.kind
   ORDER BY k.n;

  ---------------------------------------------------------------- projections
  RETURN QUERY
  SELECT 'projection', c.relname::text,
         coalesce(s.n_live_tup, 0)::text,
         'rows (statistics); ' OPERATOR(pg_catalog.||) pg_size_pretty(pg_total_relation_size(c.oid))
           OPERATOR(pg_catalog.||) ' with indexes'
    FROM pg_class c
    LEFT JOIN pg_stat_all_tables s ON s.relid OPERATOR(pg_catalog.=) c.oid
   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'drivetribe'::regnamespace
     AND c.relkind OPERATOR(pg_catalog.=) 'r'
     AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['events', 'verify_runs'])
   ORDER BY c.relname;

  ---------------------------------------------------------------- hot keys
  RETURN QUERY
  SELECT 'hot key', 'article ' OPERATOR(pg_catalog.||) p.article_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(a.title, '?')
    FROM (SELECT s.article_id, count(*) AS stripes,
                 sum(abs(s.views) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps)) AS pending
            FROM drivetribe.article_stripes s GROUP BY s.article_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.articles a ON a.article_id OPERATOR(pg_catalog.=) p.article_id
   ORDER BY p.pending DESC;
  RETURN QUERY
  SELECT 'hot key', 'user ' OPERATOR(pg_catalog.||) p.user_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(u.name, '?')
    FROM (SELECT s.user_id, count(*) AS stripes,
                 sum(abs(s.articles) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps_given)
                     OPERATOR(pg_catalog.+) abs(s.bumps_received) OPERATOR(pg_catalog.+) abs(s.followers)
                     OPERATOR(pg_catalog.+) abs(s.following) OPERATOR(pg_catalog.+) abs(s.tribes)) AS pending
            FROM drivetribe.user_stripes s GROUP BY s.user_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.users u ON u.user_id OPERATOR(pg_catalog.=) p.user_id
   ORDER BY p.pending DESC;
  RETURN QUERY
  SELECT 'hot key', 'tribe ' OPERATOR(pg_catalog.||) p.tribe_id, p.pending::text,
         'pending counter changes in ' OPERATOR(pg_catalog.||) p.stripes OPERATOR(pg_catalog.||) ' stripes: '
           OPERATOR(pg_catalog.||) coalesce(t.name, '?')
    FROM (SELECT s.tribe_id, count(*) AS stripes,
                 sum(abs(s.members) OPERATOR(pg_catalog.+) abs(s.articles)) AS pending
            FROM drivetribe.tribe_stripes s GROUP BY s.tribe_id
           ORDER BY 3 DESC LIMIT 5) p
    LEFT JOIN drivetribe.tribes t ON t.tribe_id OPERATOR(pg_catalog.=) p.tribe_id
   ORDER BY p.pending DESC;
  area := 'hot key'; item := 'lock waits now';
  SELECT coalesce(sum(w.n), 0)::text,
         'sessions of this database waiting for a lock, by what they wait for: '
           OPERATOR(pg_catalog.||) coalesce(string_agg(w.wait_event OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) w.n, ', '), 'none')
    INTO value, detail
    FROM (SELECT a.wait_event, count(*) AS n FROM pg_stat_activity a
           WHERE a.datname OPERATOR(pg_catalog.=) current_database()
             AND a.wait_event_type OPERATOR(pg_catalog.=) 'Lock'
           GROUP BY a.wait_event) w;
  RETURN NEXT;

  ---------------------------------------------------------------- rank
  area := 'rank'; item := 'articles awaiting fold';
  SELECT count(DISTINCT s.article_id)::text INTO value FROM drivetribe.article_stripes s;
  awaiting := value::bigint;
  detail := 'counter changes whose article''s score (article_ranks) the next fold sets: within 2 s while a rank worker runs';
  RETURN NEXT;
  item := 'largest rank lag';
  SELECT coalesce(max(p.pending), 0)::text,
         coalesce('article ' OPERATOR(pg_catalog.||) (array_agg(p.article_id ORDER BY p.pending DESC))[1]
                  OPERATOR(pg_catalog.||) ': counter changes not yet in its score', 'none: every score is current')
    INTO value, detail
    FROM (SELECT s.article_id, sum(abs(s.views) OPERATOR(pg_catalog.+) abs(s.comments) OPERATOR(pg_catalog.+) abs(s.bumps)) AS pending
            FROM drivetribe.article_stripes s GROUP BY s.article_id) p;
  RETURN NEXT;
  item := 'rank worker';
  SELECT coalesce(string_agg('pid ' OPERATOR(pg_catalog.||) a.pid, ', '), 'not running') INTO value
    FROM pg_stat_activity a
   WHERE a.backend_type OPERATOR(pg_catalog.=) 'drivetribe rank worker'
     AND a.datname OPERATOR(pg_catalog.=) current_database();
  detail := CASE
    WHEN value OPERATOR(pg_catalog.<>) 'not running' THEN
      'sets the scores of articles with pending counter changes every drivetribe.fold_interval ('
      OPERATOR(pg_catalog.||) pg_catalog.current_setting('drivetribe.fold_interval', true) OPERATOR(pg_catalog.||) ')'
    WHEN pg_catalog.current_setting('drivetribe.rank_worker', true) OPERATOR(pg_catalog.=) 'off' THEN
      'drivetribe.rank_worker is off here: scores follow their counts only when drivetribe.fold_stripes() runs (the pg_cron job, every minute)'
    WHEN awaiting OPERATOR(pg_catalog.>) 0 THEN
      'NOT RUNNING while articles await a fold: their scores lag their counts.  It needs a free max_worker_processes slot '
      OPERATOR(pg_catalog.||) '(see "worker slots" and the server log); SELECT drivetribe.fold_stripes() sets the scores now; '
      OPERATOR(pg_catalog.||) 'shared_preload_libraries = ''drivetribe'' with drivetribe.rank_databases reserves a worker for this database'
    ELSE 'none needed now: the next counter change of an article, or a feed read that finds one pending, starts one' END;
  RETURN NEXT;
  rank_running := value OPERATOR(pg_catalog.<>) 'not running';
  item := 'worker slots';
  SELECT pg_catalog.count(*) INTO workers_used FROM pg_stat_activity a
   WHERE a.backend_type NOT IN ('client backend', 'checkpointer', 'background writer', 'walwriter',
                                'autovacuum launcher', 'startup', 'archiver', 'walsender', 'walreceiver',
                                'autovacuum worker', 'logger', 'stats collector');
  -- (1.7, issue 19) a database named in drivetribe.rank_databases (the library
  -- preloaded) has a worker of its own, started with the server
  reserved := 'drivetribe' OPERATOR(pg_catalog.=) ANY (preload)
              AND pg_catalog.current_database()::text OPERATOR(pg_catalog.=) ANY (pg_catalog.string_to_array(
                    pg_catalog.replace(coalesce(pg_catalog.current_setting('drivetribe.rank_databases', true), ''), ' ', ''), ','));
  value := workers_used OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) workers_max OPERATOR(pg_catalog.||) ' in use';
  detail := CASE
    WHEN reserved THEN
      'this database''s rank worker has a slot of its own (drivetribe.rank_databases, drivetribe preloaded)'
    WHEN rank_running OR workers_used OPERATOR(pg_catalog.<) workers_max THEN
      (workers_max OPERATOR(pg_catalog.-) workers_used) OPERATOR(pg_catalog.||) ' free'
      OPERATOR(pg_catalog.||) CASE WHEN rank_running THEN '; the rank worker has one' ELSE ': enough for the rank worker' END
      OPERATOR(pg_catalog.||) '. Background workers (parallel query, logical replication, pg_cron, every database''s rank worker) share '
      OPERATOR(pg_catalog.||) 'max_worker_processes: keep one free for each database''s rank worker, or reserve it: '
      OPERATOR(pg_catalog.||) 'shared_preload_libraries = ''drivetribe'' and drivetribe.rank_databases = '''
      OPERATOR(pg_catalog.||) pg_catalog.current_database() OPERATOR(pg_catalog.||) ''' (restart)'
    ELSE
      'NONE FREE: this database''s rank worker cannot start, and scores lag their counts until one is free. '
      OPERATOR(pg_catalog.||) 'Raise max_worker_processes (restart), or reserve a worker: shared_preload_libraries = ''drivetribe'' '
      OPERATOR(pg_catalog.||) 'and drivetribe.rank_databases = ''' OPERATOR(pg_catalog.||) pg_catalog.current_database()
      OPERATOR(pg_catalog.||) ''' (restart)' END;
  RETURN NEXT;

  ---------------------------------------------------------------- stream
  -- (1.7, issue 19) the stream needs logical decoding
  area := 'stream'; item := 'wal_level'; value := pg_catalog.current_setting('wal_level');
  detail := CASE WHEN value OPERATOR(pg_catalog.=) 'logical'
                 THEN 'logical decoding is on: the stream''s slots can be created'
                 ELSE 'the stream needs wal_level = logical: set it in postgresql.conf and restart the server (everything else works without it)' END;
  RETURN NEXT;
  RETURN QUERY
  SELECT 'stream', 'slot ' OPERATOR(pg_catalog.||) s.slot_name,
         coalesce(pg_size_pretty(s.lag_bytes), 'unknown'),
         'behind the server; keeps ' OPERATOR(pg_catalog.||) coalesce(pg_size_pretty(s.retained_bytes), '?')
           OPERATOR(pg_catalog.||) ' of WAL (' OPERATOR(pg_catalog.||) coalesce(s.wal_status, '?') OPERATOR(pg_catalog.||) '); '
           OPERATOR(pg_catalog.||) CASE WHEN s.active THEN 'consumer connected, last reply '
                                        OPERATOR(pg_catalog.||) coalesce(date_trunc('second', s.reply_age)::text OPERATOR(pg_catalog.||) ' ago', 'unknown')
                                   ELSE 'no consumer connected' END
           OPERATOR(pg_catalog.||) ' (database ' OPERATOR(pg_catalog.||) s.database OPERATOR(pg_catalog.||) ')'
    FROM drivetribe.stream_slots s
   ORDER BY s.slot_name;
  area := 'stream'; item := 'output_plugin_libraries';
  SELECT st.setting INTO plugins FROM pg_settings st WHERE st.name OPERATOR(pg_catalog.=) 'output_plugin_libraries';
  IF plugins IS NULL THEN
    value := 'not a setting of this server';
    detail := 'before 15.19 every installed plugin may be used: the drivetribe plugin is allowed';
  ELSE
    value := plugins;
    detail := CASE WHEN EXISTS (SELECT FROM unnest(string_to_array(plugins, ',')) p(name)
                                 WHERE btrim(p.name) OPERATOR(pg_catalog.=) 'drivetribe'
                                    OR btrim(p.name) OPERATOR(pg_catalog.~~) '%/drivetribe')
                   THEN 'the drivetribe plugin is allowed'
                   ELSE 'the drivetribe plugin is NOT allowed: slots cannot be created or read; add drivetribe to the list, '
                        OPERATOR(pg_catalog.||) 're-listing the plugins it has (a new value replaces the default): output_plugin_libraries = '''
                        OPERATOR(pg_catalog.||) plugins OPERATOR(pg_catalog.||) ', drivetribe'' in postgresql.conf, then SELECT pg_reload_conf()' END;
  END IF;
  RETURN NEXT;
  item := 'max_slot_wal_keep_size'; value := current_setting('max_slot_wal_keep_size');
  detail := CASE WHEN value OPERATOR(pg_catalog.=) '-1'
                 THEN 'unlimited: a slot whose consumer stopped keeps WAL until the disk is full; set a bound'
                 ELSE 'a slot that falls further behind is invalidated (its consumer must start over)' END;
  RETURN NEXT;

  ---------------------------------------------------------------- settings
  RETURN QUERY
  SELECT 'setting', g.name, g.setting OPERATOR(pg_catalog.||) coalesce(' ' OPERATOR(pg_catalog.||) g.unit, ''), g.description
    FROM drivetribe.settings() g
   ORDER BY g.name;

  ---------------------------------------------------------------- verify
  area := 'verify'; item := 'last run';
  SELECT v.finished_at::text,
         CASE WHEN v.differences OPERATOR(pg_catalog.=) 0 THEN 'no differences'
              WHEN v.differences OPERATOR(pg_catalog.=) 1 THEN '1 difference: run SELECT * FROM drivetribe.verify() to see it, drivetribe.rebuild() to repair it'
              ELSE v.differences OPERATOR(pg_catalog.||) ' differences: run SELECT * FROM drivetribe.verify() to see them, drivetribe.rebuild() to repair' END
           OPERATOR(pg_catalog.||) '; ' OPERATOR(pg_catalog.||) v.events OPERATOR(pg_catalog.||) ' events replayed in '
           OPERATOR(pg_catalog.||) date_trunc('millisecond', v.finished_at OPERATOR(pg_catalog.-) v.started_at)
           OPERATOR(pg_catalog.||) ' by ' OPERATOR(pg_catalog.||) v.run_by
    INTO value, detail
    FROM drivetribe.verify_runs v
   ORDER BY v.finished_at DESC LIMIT 1;
  IF NOT FOUND THEN
    value := 'never'; detail := 'no verify() has finished since 1.5 was installed';
  END IF;
  RETURN NEXT;

  ---------------------------------------------------------------- jobs
  -- (1.7, issue 19) pg_cron: installed, preloaded, running in this database, the
  -- extension created here, the jobs scheduled; the first that is not so
  -- is the value, with its fix
  SELECT pg_catalog.count(DISTINCT c.jobname) FILTER (WHERE c.ours)
    INTO jobs_ours FROM drivetribe_internal.maintenance_cron_jobs() c;
  SELECT pg_catalog.count(*) INTO jobs_all FROM drivetribe_internal.maintenance_jobs();
  area := 'job'; item := 'pg_cron';
  IF NOT EXISTS (SELECT FROM pg_available_extensions x WHERE x.name OPERATOR(pg_catalog.=) 'pg_cron') THEN
    value := 'not installed';
    detail := 'the maintenance jobs need pg_cron: install it (Debian: postgresql-15-cron), then shared_preload_libraries = ''pg_cron'' '
              OPERATOR(pg_catalog.||) 'and cron.database_name = ''' OPERATOR(pg_catalog.||) pg_catalog.current_database()
              OPERATOR(pg_catalog.||) ''' in postgresql.conf, restart, CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance(); '
              OPERATOR(pg_catalog.||) 'without it, run drivetribe.verify() yourself';
  ELSIF NOT 'pg_cron' OPERATOR(pg_catalog.=) ANY (preload) THEN
    value := 'not preloaded';
    detail := 'pg_cron is installed but not in shared_preload_libraries: set shared_preload_libraries = ''pg_cron'' '
              OPERATOR(pg_catalog.||) '(with the libraries it has) and cron.database_name = ''' OPERATOR(pg_catalog.||) pg_catalog.current_database()
              OPERATOR(pg_catalog.||) ''' in postgresql.conf, restart the server, then CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance();';
  ELSIF cron_db IS DISTINCT FROM pg_catalog.current_database()::text THEN
    value := 'runs in database ' OPERATOR(pg_catalog.||) coalesce(pg_catalog.quote_ident(cron_db), '?');
    detail := 'pg_cron runs jobs of its cron.database_name only: set cron.database_name = '''
              OPERATOR(pg_catalog.||) pg_catalog.current_database() OPERATOR(pg_catalog.||) ''' in postgresql.conf and restart '
              OPERATOR(pg_catalog.||) '(one database per cluster), then CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance();';
  ELSIF NOT EXISTS (SELECT FROM pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    value := 'not created';
    detail := 'pg_cron is preloaded for this database: run CREATE EXTENSION pg_cron; SELECT drivetribe.schedule_maintenance();';
  ELSIF jobs_ours OPERATOR(pg_catalog.<) jobs_all THEN
    value := jobs_ours OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) jobs_all OPERATOR(pg_catalog.||) ' jobs scheduled';
    detail := 'run SELECT drivetribe.schedule_maintenance(); (as a superuser or the extension''s owner)';
  ELSE
    value := 'ready';
    detail := jobs_all OPERATOR(pg_catalog.||) ' of ' OPERATOR(pg_catalog.||) jobs_all
              OPERATOR(pg_catalog.||) ' jobs scheduled: see the job rows for their last runs';
  END IF;
  RETURN NEXT;
  IF EXISTS (SELECT FROM pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    -- (nested: cron.job_run_details is only parsed where pg_cron is
    -- installed).  Only the extension's own jobs (1.7: owned by a
    -- superuser or the extension's owner); another role's job of the same
    -- name is named in the detail, never shown as the job.
    RETURN QUERY
    WITH c AS (SELECT * FROM drivetribe_internal.maintenance_cron_jobs())
    SELECT 'job', m.jobname,
           coalesce(j.schedule, 'not scheduled'),
           CASE WHEN j.jobid IS NULL THEN 'run SELECT drivetribe.schedule_maintenance()'
                WHEN r.status IS NULL THEN 'no run yet'
                ELSE 'last run ' OPERATOR(pg_catalog.||) r.status OPERATOR(pg_catalog.||) ' at '
                     OPERATOR(pg_catalog.||) r.start_time::text
                     OPERATOR(pg_catalog.||) coalesce(': ' OPERATOR(pg_catalog.||) left(r.return_message, 200), '') END
             OPERATOR(pg_catalog.||) coalesce('; ' OPERATOR(pg_catalog.||) o.others, '')
      FROM drivetribe_internal.maintenance_jobs() m
      LEFT JOIN c j ON j.ours AND j.jobname OPERATOR(pg_catalog.=) m.jobname
      LEFT JOIN LATERAL (SELECT 'not drivetribe''s: a job of the same name owned by role '
                                  OPERATOR(pg_catalog.||) string_agg(quote_ident(f.username), ', ' ORDER BY f.username)
                                  OPERATOR(pg_catalog.||) ' (schedule_maintenance() removes it)' AS others
                           FROM c f
                          WHERE NOT f.ours AND f.jobname OPERATOR(pg_catalog.=) m.jobname) o ON true
      LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.return_message
                           FROM cron.job_run_details d
                          WHERE d.jobid OPERATOR(pg_catalog.=) j.jobid
                          ORDER BY d.start_time DESC NULLS LAST LIMIT 1) r ON true
     ORDER BY m.jobname, j.jobid;
  ELSE
    RETURN QUERY
    SELECT 'job', m.jobname, 'not scheduled', 'pg_cron is not installed in this database'
      FROM drivetribe_internal.maintenance_jobs() m ORDER BY m.jobname;
  END IF;
END
$function$;

COMMENT ON FUNCTION drivetribe_internal.status_rows() IS
  'internal (drivetribe.status_rows, the status view): the rows of drivetribe.status';
REVOKE ALL ON FUNCTION drivetribe_internal.status_rows() FROM PUBLIC;

CREATE OR REPLACE FUNCTION drivetribe.status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'SELECT * FROM drivetribe_internal.status_rows()';

------------------------------------------------------------------------
-- reads: keyset paging that cannot be mistyped
------------------------------------------------------------------------
