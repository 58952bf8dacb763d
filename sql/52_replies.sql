--
-- 52_replies: replies to comments (1.9, issue 22).
--   post_comment(comment_id, article_id, author_id, body, parent_comment_id
--   bigint, event_id uuid DEFAULT NULL) posts a reply; the 1.0 form
--   (..., body, event_id uuid DEFAULT NULL) stays, and a form with event_id
--   text catches an untyped fifth argument (a quoted literal, NULL), so a
--   call of 1.8 keeps its meaning.  comment_posted and comment_deleted are
--   version 2 and carry parent_comment_id; a reply's recipient_id is the
--   parent comment's author.  drivetribe.comments and article_comments()
--   gain parent_comment_id and replies (live replies).  Every error of a
--   reply with its SQLSTATE and message; idempotency; read_log() rows;
--   event_versions; verify() and rebuild() over replies.
--
-- In a database of its own (dropped at the end), created at 1.8 and
-- updated to 1.9 after a few comments, so that the world of the other
-- tests does not change and events logged before the update are here too.
-- The default verbosity shows each error's message and DETAIL; the line
-- after a rejected call shows its SQLSTATE and whether the log and every
-- projection are exactly as before.
--
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_replies;
RESET client_min_messages;
CREATE DATABASE dt_replies;
ALTER DATABASE dt_replies SET drivetribe.rank_worker = off;
\c dt_replies
\pset null NULL
CREATE EXTENSION drivetribe VERSION '1.8';

-- Helpers of this database (as 00_install's): st() a fingerprint of every
-- table of schema drivetribe, mark() remembers it, unchanged() compares;
-- ev(seq) how a write call went (ret: new / existing / NULL, events
-- appended since the mark) and the event's fields, then marks.
CREATE FUNCTION st() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r regclass;
  h text;
  acc text := '';
BEGIN
  FOR r IN
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'drivetribe' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND c.relname <> 'verify_runs'
    ORDER BY c.relname
  LOOP
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s t', r)
      INTO h;
    acc := acc || r::text || ':' || h || ';';
  END LOOP;
  RETURN md5(acc);
END $$;
CREATE TABLE mark_t (state text, events bigint, maxseq bigint);
INSERT INTO mark_t VALUES (NULL, 0, 0);
CREATE FUNCTION mark() RETURNS bigint LANGUAGE sql AS $$
  UPDATE mark_t SET state = st(), events = (SELECT count(*) FROM drivetribe.events),
                    maxseq = (SELECT coalesce(max(seq), 0) FROM drivetribe.events)
  RETURNING events
$$;
CREATE FUNCTION unchanged() RETURNS boolean LANGUAGE sql AS $$
  SELECT m.events = (SELECT count(*) FROM drivetribe.events) AND m.state = st() FROM mark_t m
$$;
-- (version and parent_comment_id are read with to_jsonb: the columns do
-- not exist before the update)
CREATE FUNCTION ev(s bigint)
RETURNS TABLE (ret text, appended bigint, kind text, version int,
               user_id bigint, article_id bigint, comment_id bigint,
               target_id bigint, recipient_id bigint, parent_comment_id bigint,
               body text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  m mark_t;
  e jsonb;
BEGIN
  SELECT * INTO m FROM mark_t;
  ret := CASE WHEN s IS NULL THEN 'NULL'
              WHEN s = (SELECT max(x.seq) FROM drivetribe.events x) AND s > m.maxseq THEN 'new'
              WHEN s <= m.maxseq AND EXISTS (SELECT 1 FROM drivetribe.events x WHERE x.seq = s)
                THEN 'existing'
              ELSE 'unexpected ' || s END;
  appended := (SELECT count(*) FROM drivetribe.events) - m.events;
  SELECT to_jsonb(x) INTO e FROM drivetribe.events x WHERE x.seq = s;
  kind := e->>'kind';
  version := (e->>'version')::int;
  user_id := (e->>'user_id')::bigint;
  article_id := (e->>'article_id')::bigint;
  comment_id := (e->>'comment_id')::bigint;
  target_id := (e->>'target_id')::bigint;
  recipient_id := (e->>'recipient_id')::bigint;
  parent_comment_id := (e->>'parent_comment_id')::bigint;
  body := e->>'body';
  PERFORM mark();
  RETURN NEXT;
END $$;

------------------------------------------------------------------------
-- Under 1.8: a world and a few comments, one with an untyped event_id
-- (resolved to event_id uuid then), one deleted.
------------------------------------------------------------------------
SELECT drivetribe.register_user(u, n) IS NOT NULL AS registered
  FROM (VALUES (1, 'alice'), (2, 'bob'), (3, 'carol'), (4, 'dave')) AS v(u, n);
SELECT drivetribe.create_tribe(10, 1, 'Roadsters') IS NOT NULL AS created;
SELECT drivetribe.post_article(100, 1, 10, 'Alice''s build') IS NOT NULL AS posted;
SELECT drivetribe.post_article(101, 2, 10, 'Bob''s build') IS NOT NULL AS posted;
SELECT drivetribe.post_article(102, 3, 10, 'Soon deleted') IS NOT NULL AS posted;
SELECT drivetribe.post_comment(900, 100, 2, 'old comment') IS NOT NULL AS posted;
SELECT drivetribe.post_comment(901, 100, 3, 'old comment with an id', 'c0000000-0000-4000-8000-000000000901') AS seq_901 \gset
SELECT drivetribe.post_comment(902, 100, 4, 'old comment, deleted') IS NOT NULL AS posted;
SELECT drivetribe.delete_comment(902) IS NOT NULL AS deleted;
SELECT drivetribe.post_comment(903, 102, 4, 'on the article that goes') IS NOT NULL AS posted;
SELECT max(seq) AS last_1_8_seq FROM drivetribe.events \gset

ALTER EXTENSION drivetribe UPDATE TO '1.9';
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
SELECT * FROM drivetribe.verify();
SELECT mark() AS events;

------------------------------------------------------------------------
-- event_versions: comment_posted and comment_deleted are version 2
-- (current), every other kind version 1.
------------------------------------------------------------------------
SELECT kind, version, current, older_read_as IS NOT NULL AS has_older_read_as
  FROM drivetribe.event_versions ORDER BY kind, version;
SELECT kind, version, change, older_read_as
  FROM drivetribe.event_versions WHERE version > 1 ORDER BY kind;
SELECT count(DISTINCT kind) AS kinds, count(*) FILTER (WHERE current) AS current_rows
  FROM drivetribe.event_versions;

-- events logged before the update: version 1, no parent
SELECT seq, kind, version, comment_id, parent_comment_id
  FROM drivetribe.events WHERE comment_id IS NOT NULL ORDER BY seq;

------------------------------------------------------------------------
-- Posting.  A comment on the article (1.0 form): version 2, no parent,
-- recipient the article's author.
------------------------------------------------------------------------
SELECT * FROM ev(drivetribe.post_comment(1000, 100, 2, 'top-level'));
-- a reply, positional: recipient = the parent's author (bob), target_id
-- stays the article's author (alice)
SELECT * FROM ev(drivetribe.post_comment(1001, 100, 3, 'reply to 1000', 1000));
-- named parent_comment_id
SELECT * FROM ev(drivetribe.post_comment(1002, 100, 4, 'named reply to 1000', parent_comment_id => 1000));
-- a reply to a reply: recipient carol (1001's author)
SELECT * FROM ev(drivetribe.post_comment(1003, 100, 1, 'reply to 1001', 1001));
-- replying to one's own comment: recipient is the replier
SELECT * FROM ev(drivetribe.post_comment(1004, 100, 2, 'bob answers himself', 1000));
-- a reply to a comment logged before the update: recipient its author
SELECT * FROM ev(drivetribe.post_comment(1005, 100, 1, 'reply to an old comment', 900));
-- parent_comment_id NULL, named or positional: a comment on the article
SELECT * FROM ev(drivetribe.post_comment(1006, 100, 3, 'named NULL parent', parent_comment_id => NULL));
SELECT * FROM ev(drivetribe.post_comment(1007, 100, 4, 'positional NULL parent', NULL::bigint));
SELECT * FROM ev(drivetribe.post_comment(1008, 100, 1, 'NULL parent, NULL event_id', NULL, NULL));
-- an untyped NULL fifth argument is an event_id, as in 1.8: a comment on
-- the article with a generated event_id
SELECT * FROM ev(drivetribe.post_comment(1009, 100, 2, 'untyped NULL fifth argument', NULL));
-- on another article: its author is the recipient of a top-level comment
SELECT * FROM ev(drivetribe.post_comment(1100, 101, 1, 'on bob''s article'));
SELECT * FROM ev(drivetribe.post_comment(1101, 101, 3, 'reply on bob''s article', 1100));

------------------------------------------------------------------------
-- The three forms of post_comment and what a call resolves to (EXPLAIN
-- shows the argument types; the function is not run).
------------------------------------------------------------------------
SELECT p.oid::regprocedure AS form, pg_get_function_arguments(p.oid) AS arguments
  FROM pg_proc p WHERE p.oid IN (SELECT oid FROM pg_proc WHERE proname = 'post_comment'
                                   AND pronamespace = 'drivetribe'::regnamespace)
 ORDER BY p.pronargs, p.oid::regprocedure::text;
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x');
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', 'c0000000-0000-4000-8000-000000000001');
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', NULL);
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', 'c0000000-0000-4000-8000-000000000001'::uuid);
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', 1000);
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', 1000, 'c0000000-0000-4000-8000-000000000001');
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', event_id => 'c0000000-0000-4000-8000-000000000001');
EXPLAIN (VERBOSE, COSTS OFF) SELECT drivetribe.post_comment(1, 100, 1, 'x', parent_comment_id => NULL);

------------------------------------------------------------------------
-- event_id and retries.
------------------------------------------------------------------------
-- an untyped literal event_id (the text form): read as that uuid
SELECT * FROM ev(drivetribe.post_comment(1200, 100, 3, 'untyped event_id', 'c0000000-0000-4000-8000-000000001200'));
SELECT event_id FROM drivetribe.events WHERE comment_id = 1200;
-- its retry, untyped or typed (the same call): the first seq, nothing appended
SELECT * FROM ev(drivetribe.post_comment(1200, 100, 3, 'untyped event_id', 'c0000000-0000-4000-8000-000000001200'));
SELECT * FROM ev(drivetribe.post_comment(1200, 100, 3, 'untyped event_id', 'c0000000-0000-4000-8000-000000001200'::uuid));
SELECT * FROM ev(drivetribe.post_comment(1200, 100, 3, 'untyped event_id', event_id => 'c0000000-0000-4000-8000-000000001200'));
-- the same call in the reply form with no parent
SELECT * FROM ev(drivetribe.post_comment(1200, 100, 3, 'untyped event_id', NULL, 'c0000000-0000-4000-8000-000000001200'));
-- a call logged under 1.8 with an untyped event_id, retried as it was
-- written then (it now resolves to the text form): its seq
SELECT drivetribe.post_comment(901, 100, 3, 'old comment with an id', 'c0000000-0000-4000-8000-000000000901') = :seq_901 AS same_seq_as_under_1_8;
SELECT unchanged();
-- an untyped literal that is no uuid: 22P02, as in 1.8
SELECT drivetribe.post_comment(1201, 100, 3, 'bad id', 'not-a-uuid');
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- a reply with an event_id, and its retries: the first seq
SELECT * FROM ev(drivetribe.post_comment(1202, 100, 4, 'reply with an id', 1000, 'c0000000-0000-4000-8000-000000001202'));
SELECT * FROM ev(drivetribe.post_comment(1202, 100, 4, 'reply with an id', 1000, 'c0000000-0000-4000-8000-000000001202'));
SELECT * FROM ev(drivetribe.post_comment(event_id => 'c0000000-0000-4000-8000-000000001202', parent_comment_id => 1000,
                                         body => 'reply with an id', author_id => 4, article_id => 100, comment_id => 1202));
-- the same event_id with another parent, no parent, another body: 23505
SELECT drivetribe.post_comment(1202, 100, 4, 'reply with an id', 1001, 'c0000000-0000-4000-8000-000000001202');
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1202, 100, 4, 'reply with an id', NULL, 'c0000000-0000-4000-8000-000000001202');
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1202, 100, 4, 'reply with an id', 'c0000000-0000-4000-8000-000000001202');
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1202, 100, 4, 'reply with an id!', 1000, 'c0000000-0000-4000-8000-000000001202');
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- a comment posted without a parent, retried with one: 23505
SELECT drivetribe.post_comment(1200, 100, 3, 'untyped event_id', 1000, 'c0000000-0000-4000-8000-000000001200');
SELECT :'SQLSTATE' AS sqlstate, unchanged();

------------------------------------------------------------------------
-- Errors of a reply: message and SQLSTATE, nothing changed.
------------------------------------------------------------------------
-- an unknown parent: 23503
SELECT drivetribe.post_comment(1300, 100, 1, 'x', 9999);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- a parent of another article: 22023
SELECT drivetribe.post_comment(1300, 101, 1, 'x', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1300, 100, 1, 'x', 1100);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- a deleted parent (deleted under 1.8): 55000
SELECT drivetribe.post_comment(1300, 100, 1, 'x', 902);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- parent_comment_id not positive: 22023
SELECT drivetribe.post_comment(1300, 100, 1, 'x', 0);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1300, 100, 1, 'x', -1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1300, 100, 1, 'x', parent_comment_id => 0);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- a reply to itself does not exist yet: 23503
SELECT drivetribe.post_comment(1300, 100, 1, 'x', 1300);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- the other arguments keep their errors in the reply form
SELECT drivetribe.post_comment(NULL, 100, 1, 'x', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1300, 100, 1, '', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1300, 100, 99, 'x', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1300, 999, 1, 'x', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
SELECT drivetribe.post_comment(1001, 100, 1, 'x', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- NULL before value: a NULL body with a bad parent is 22004
SELECT drivetribe.post_comment(1300, 100, 1, NULL, 0);
SELECT :'SQLSTATE' AS sqlstate, unchanged();

------------------------------------------------------------------------
-- Reads: drivetribe.comments, article_comments() with its paging.
------------------------------------------------------------------------
SELECT comment_id, article_id, author_id, deleted, parent_comment_id, replies
  FROM drivetribe.comments ORDER BY comment_id;
SELECT comment_id, author_id, author_name, body, posted_at IS NOT NULL AS has_time,
       parent_comment_id, replies
  FROM drivetribe.article_comments(100);
-- oldest first, pages of 3 after a cursor
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100, 3);
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100, 3, 1000);
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100, 3, 1003);
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100, 3, 1007);
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100, 3, 1200);
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100, 3, 1202);
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(101);
-- counts: every live comment, replies included
SELECT article_id, comments FROM drivetribe.article_view ORDER BY article_id;
SELECT user_id, comments FROM drivetribe.user_stats ORDER BY user_id;

------------------------------------------------------------------------
-- Deleting.  A parent: gone from the page, its replies stay (with its
-- id); comment_deleted (version 2) carries the deleted comment's parent
-- (none here).
------------------------------------------------------------------------
SELECT * FROM ev(drivetribe.delete_comment(1000));
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100);
SELECT comment_id, deleted, replies FROM drivetribe.comments WHERE comment_id = 1000;
-- a deleted comment is still a cursor
SELECT comment_id FROM drivetribe.article_comments(100, 2, 1000);
-- a deleted parent cannot be replied to
SELECT drivetribe.post_comment(1301, 100, 1, 'x', 1000);
SELECT :'SQLSTATE' AS sqlstate, unchanged();
-- ... but a reply posted before it was deleted can be retried
SELECT * FROM ev(drivetribe.post_comment(1202, 100, 4, 'reply with an id', 1000, 'c0000000-0000-4000-8000-000000001202'));
-- a reply: its parent's count drops; the event names the parent
SELECT * FROM ev(drivetribe.delete_comment(1003));
SELECT comment_id, replies FROM drivetribe.comments WHERE comment_id IN (1001, 1003) ORDER BY 1;
-- a reply of the deleted parent: the deleted parent's count drops too
SELECT * FROM ev(drivetribe.delete_comment(1004));
SELECT comment_id, deleted, replies FROM drivetribe.comments WHERE comment_id = 1000;
-- no-op: already deleted
SELECT * FROM ev(drivetribe.delete_comment(1004));
-- a reply to an old comment, deleted: the old comment's count drops
SELECT * FROM ev(drivetribe.delete_comment(1005));
SELECT comment_id, parent_comment_id, replies FROM drivetribe.article_comments(100);
SELECT article_id, comments FROM drivetribe.article_view ORDER BY article_id;
SELECT user_id, comments FROM drivetribe.user_stats ORDER BY user_id;
-- a deleted article: no page; its comments can still be deleted
SELECT ret, appended, kind, article_id FROM ev(drivetribe.delete_article(102));
SELECT count(*) AS rows FROM drivetribe.article_comments(102);
SELECT * FROM ev(drivetribe.delete_comment(903));

------------------------------------------------------------------------
-- read_log(): every row with its version as logged and its parent (the
-- events of 1.8 read as version 1 with no parent).
------------------------------------------------------------------------
SELECT seq > :last_1_8_seq AS after_update, kind, version, comment_id, parent_comment_id, recipient_id
  FROM drivetribe.read_log('0', 0, 10000) WHERE kind LIKE 'comment%' ORDER BY seq;
SELECT kind, version, count(*) FROM drivetribe.read_log('0', 0, 10000) GROUP BY 1, 2 ORDER BY 1, 2;
-- read_log() rows are the log's rows
SELECT count(*) AS differing_rows FROM (
  (SELECT * FROM drivetribe.read_log('0', 0, 10000) EXCEPT SELECT * FROM drivetribe.events)
  UNION ALL
  (SELECT * FROM drivetribe.events EXCEPT SELECT * FROM drivetribe.read_log('0', 0, 10000))) d;

------------------------------------------------------------------------
-- verify() and rebuild().
------------------------------------------------------------------------
SELECT * FROM drivetribe.verify();
SELECT drivetribe.fold_stripes() >= 0 AS folded;
CREATE TEMP TABLE reads_before AS
SELECT 'page ' || a.article_id AS what, to_jsonb(c) AS r
  FROM (SELECT DISTINCT article_id FROM drivetribe.comments) a,
       LATERAL drivetribe.article_comments(a.article_id, 1000) WITH ORDINALITY AS c
UNION ALL SELECT 'comment', to_jsonb(c) FROM drivetribe.comments c
UNION ALL SELECT 'card', to_jsonb(v) FROM drivetribe.article_view v
UNION ALL SELECT 'user', to_jsonb(u) FROM drivetribe.user_stats u
UNION ALL SELECT 'tribe', to_jsonb(t) FROM drivetribe.tribe_stats t;
SELECT what, count(*) FROM reads_before GROUP BY 1 ORDER BY 1;
SELECT st() AS state_before \gset
SELECT drivetribe.rebuild() = (SELECT count(*) FROM drivetribe.events) AS replayed_every_event;
SELECT st() = :'state_before' AS projections_identical;
CREATE TEMP TABLE reads_after AS
SELECT 'page ' || a.article_id AS what, to_jsonb(c) AS r
  FROM (SELECT DISTINCT article_id FROM drivetribe.comments) a,
       LATERAL drivetribe.article_comments(a.article_id, 1000) WITH ORDINALITY AS c
UNION ALL SELECT 'comment', to_jsonb(c) FROM drivetribe.comments c
UNION ALL SELECT 'card', to_jsonb(v) FROM drivetribe.article_view v
UNION ALL SELECT 'user', to_jsonb(u) FROM drivetribe.user_stats u
UNION ALL SELECT 'tribe', to_jsonb(t) FROM drivetribe.tribe_stats t;
SELECT count(*) AS differing_reads FROM (
  (SELECT * FROM reads_before EXCEPT ALL SELECT * FROM reads_after)
  UNION ALL
  (SELECT * FROM reads_after EXCEPT ALL SELECT * FROM reads_before)) d;
SELECT * FROM drivetribe.verify();
-- verify() sees a wrong reply count and a wrong parent; rebuild() repairs them
BEGIN;
UPDATE drivetribe.comments SET replies = replies + 1 WHERE comment_id = 1001;
UPDATE drivetribe.comments SET parent_comment_id = 1001 WHERE comment_id = 1002;
UPDATE drivetribe.comments SET parent_comment_id = NULL WHERE comment_id = 1101;
SELECT projection, key, split_part(detail, ':', 1) AS field FROM drivetribe.verify() ORDER BY 1, 2, 3;
SELECT drivetribe.rebuild() = (SELECT count(*) FROM drivetribe.events) AS replayed_every_event;
SELECT * FROM drivetribe.verify();
SELECT st() = :'state_before' AS projections_identical;
ROLLBACK;

-- Registered projections get every event in the current shape, its
-- version as logged: the backfill gets the comments of 1.8 (version 1, no
-- parent) and of 1.9, an inline handler the next reply and its delete.
CREATE TABLE public.seen_comments (seq bigint, kind text, version smallint, parent bigint,
                                   recipient bigint);
CREATE FUNCTION public.note_comments(events drivetribe.events[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO public.seen_comments
  SELECT e.seq, e.kind, e.version, e.parent_comment_id, e.recipient_id FROM unnest(events) e
$$;
CALL drivetribe.create_projection('seen_comments', 'public.note_comments(drivetribe.events[])',
                                  ARRAY['comment_posted', 'comment_deleted']);
SELECT s.version, s.parent IS NULL AS no_parent, count(*)
  FROM public.seen_comments s GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) = (SELECT count(*) FROM drivetribe.events
                    WHERE kind IN ('comment_posted', 'comment_deleted')) AS every_comment_event_once
  FROM public.seen_comments;
TRUNCATE public.seen_comments;
SELECT drivetribe.post_comment(1900, 101, 2, 'seen inline', 1100) IS NOT NULL AS posted;
SELECT drivetribe.delete_comment(1900) IS NOT NULL AS deleted;
SELECT kind, version, parent, recipient FROM public.seen_comments ORDER BY seq;
SELECT drivetribe.drop_projection('seen_comments');

\c :orig_db
SET client_min_messages = warning;
DROP DATABASE dt_replies;
RESET client_min_messages;
