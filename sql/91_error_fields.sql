--
-- 91_error_fields: every 23503, 23505 and 55000 the API raises carries the
-- error fields a driver exposes (libpq's PG_DIAG_SCHEMA_NAME, TABLE_NAME,
-- COLUMN_NAME, CONSTRAINT_NAME; node-postgres: err.schema, err.table,
-- err.column, err.constraint), so that an application can tell which
-- entity is missing, taken or deleted without parsing the message.  One
-- case per call site: per function and per argument that can be unknown.
-- The fields are read with GET STACKED DIAGNOSTICS: psql's \set VERBOSITY
-- verbose would print them too, but with LOCATION lines naming C source
-- lines.  (The other tests run at the default verbosity, which shows none
-- of these fields: their expected files do not change.)
--
-- Uses the world the earlier tests built and changes nothing in it.
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- the ids to use: existing, deleted, and ones that exist nowhere
SELECT (SELECT min(user_id) FROM drivetribe.users) AS user_id,
       (SELECT min(tribe_id) FROM drivetribe.tribes) AS tribe_id,
       (SELECT min(article_id) FROM drivetribe.articles WHERE NOT deleted) AS article_id,
       (SELECT min(article_id) FROM drivetribe.articles WHERE deleted) AS deleted_article_id,
       (SELECT min(comment_id) FROM drivetribe.comments) AS comment_id,
       (SELECT event_id FROM drivetribe.events ORDER BY seq LIMIT 1) AS logged_event_id
\gset
SELECT :'deleted_article_id' <> '' AS have_a_deleted_article,
       :'comment_id' <> '' AS have_a_comment;
-- a member of the tribe, for a join that changes nothing (a no-op call)
SELECT min(user_id) AS member_id FROM drivetribe.memberships WHERE tribe_id = :tribe_id
\gset
\set nobody 9100001

-- pg_temp.fields(call): run SELECT <call>; the error it raises, with its
-- fields (event_ids in messages masked: they vary from run to run)
CREATE FUNCTION pg_temp.fields(call text)
RETURNS TABLE (code text, message text, schema_name text, table_name text,
               column_name text, constraint_name text)
LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE 'SELECT ' || call;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
      schema_name = SCHEMA_NAME, table_name = TABLE_NAME,
      column_name = COLUMN_NAME, constraint_name = CONSTRAINT_NAME;
    message := regexp_replace(message, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<event_id>');
    -- GET DIAGNOSTICS gives '' for a field that is not set
    schema_name := nullif(schema_name, '');
    table_name := nullif(table_name, '');
    column_name := nullif(column_name, '');
    constraint_name := nullif(constraint_name, '');
    RETURN NEXT;
    RETURN;
  END;
  code := 'no error';
  RETURN NEXT;
END
$$;

-- (in a transaction that is rolled back: the no-op call below remembers
-- its event_id in noop_calls)
BEGIN;

-- 23503 foreign_key_violation: unknown user, tribe, article, comment
SELECT c.call, f.* FROM (VALUES
  (1, format('drivetribe.rename_user(%s, %L)', :nobody, 'x')),
  (2, format('drivetribe.create_tribe(%s, %s, %L)', :nobody, :nobody, 'x')),
  (3, format('drivetribe.join_tribe(%s, %s)', :nobody, :tribe_id)),
  (4, format('drivetribe.leave_tribe(%s, %s)', :nobody, :tribe_id)),
  (5, format('drivetribe.follow_user(%s, %s)', :nobody, :user_id)),
  (6, format('drivetribe.follow_user(%s, %s)', :user_id, :nobody)),
  (7, format('drivetribe.unfollow_user(%s, %s)', :user_id, :nobody)),
  (8, format('drivetribe.post_article(%s, %s, %s, %L)', :nobody, :nobody, :tribe_id, 'x')),
  (9, format('drivetribe.view_article(%s, %s)', :article_id, :nobody)),
  (10, format('drivetribe.post_comment(%s, %s, %s, %L)', :nobody, :article_id, :nobody, 'x')),
  (11, format('drivetribe.bump(%s, %s)', :article_id, :nobody)),
  (12, format('drivetribe.unbump(%s, %s)', :article_id, :nobody)),
  (13, format('drivetribe.feed(%s)', :nobody)),
  (14, format('drivetribe.rename_tribe(%s, %L)', :nobody, 'x')),
  (15, format('drivetribe.join_tribe(%s, %s)', :user_id, :nobody)),
  (16, format('drivetribe.leave_tribe(%s, %s)', :user_id, :nobody)),
  (17, format('drivetribe.post_article(%s, %s, %s, %L)', :nobody, :user_id, :nobody, 'x')),
  (18, format('drivetribe.tribe_feed(%s)', :nobody)),
  (19, format('drivetribe.edit_article(%s, %L)', :nobody, 'x')),
  (20, format('drivetribe.delete_article(%s)', :nobody)),
  (21, format('drivetribe.view_article(%s)', :nobody)),
  (22, format('drivetribe.post_comment(%s, %s, %s, %L)', :nobody, :nobody, :user_id, 'x')),
  (23, format('drivetribe.bump(%s, %s)', :nobody, :user_id)),
  (24, format('drivetribe.unbump(%s, %s)', :nobody, :user_id)),
  (25, format('drivetribe.delete_comment(%s)', :nobody)),
  (26, format('drivetribe.article_comments(%s)', :nobody)),
  (27, format('drivetribe.article_comments(%s, 20, %s)', :article_id, :nobody))
) AS c(n, call), pg_temp.fields(c.call) f ORDER BY c.n;

-- 23505 unique_violation: an id taken by a create call
SELECT c.call, f.* FROM (VALUES
  (1, format('drivetribe.register_user(%s, %L)', :user_id, 'x')),
  (2, format('drivetribe.create_tribe(%s, %s, %L)', :tribe_id, :user_id, 'x')),
  (3, format('drivetribe.post_article(%s, %s, %s, %L)', :article_id, :user_id, :tribe_id, 'x')),
  (4, format('drivetribe.post_comment(%s, %s, %s, %L)', :comment_id, :article_id, :user_id, 'x'))
) AS c(n, call), pg_temp.fields(c.call) f ORDER BY c.n;

-- 23505 unique_violation: an event_id used by another call, one that was
-- logged and one that changed nothing (remembered in noop_calls)
SELECT drivetribe.join_tribe(:member_id, :tribe_id, 'e9100000-0000-4000-8000-000000000001') AS no_op;
SELECT replace(c.call, :'logged_event_id', '<logged event_id>') AS call, f.* FROM (VALUES
  (1, format('drivetribe.register_user(%s, %L, %L)', :nobody, 'x', :'logged_event_id')),
  (2, format('drivetribe.leave_tribe(%s, %s, %L)', :member_id, :tribe_id, 'e9100000-0000-4000-8000-000000000001'))
) AS c(n, call), pg_temp.fields(c.call) f ORDER BY c.n;

-- 55000 object_not_in_prerequisite_state: a deleted article
SELECT c.call, f.* FROM (VALUES
  (1, format('drivetribe.edit_article(%s, %L)', :deleted_article_id, 'x')),
  (2, format('drivetribe.view_article(%s)', :deleted_article_id)),
  (3, format('drivetribe.post_comment(%s, %s, %s, %L)', :nobody, :deleted_article_id, :user_id, 'x')),
  (4, format('drivetribe.bump(%s, %s)', :deleted_article_id, :user_id)),
  (5, format('drivetribe.unbump(%s, %s)', :deleted_article_id, :user_id))
) AS c(n, call), pg_temp.fields(c.call) f ORDER BY c.n;

-- the log's own errors: 23514 (the CHECK events_valid, whoever inserts),
-- 55000 (append-only, whoever updates, deletes or truncates)
CREATE FUNCTION pg_temp.log_fields(stmt text)
RETURNS TABLE (code text, message text, schema_name text, table_name text,
               column_name text, constraint_name text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  code := 'no error';
  RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
    schema_name = SCHEMA_NAME, table_name = TABLE_NAME,
    column_name = COLUMN_NAME, constraint_name = CONSTRAINT_NAME;
  schema_name := nullif(schema_name, '');
  table_name := nullif(table_name, '');
  column_name := nullif(column_name, '');
  constraint_name := nullif(constraint_name, '');
  RETURN NEXT;
END
$$;
SELECT left(c.stmt, 40) AS stmt, f.* FROM (VALUES
  (1, $$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
        VALUES (910000001, 'e9100000-0000-4000-8000-000000000002', 'user_renamed', now(), 1)$$),
  (2, 'UPDATE drivetribe.events SET kind = kind WHERE false'),
  (3, 'DELETE FROM drivetribe.events WHERE false'),
  (4, 'TRUNCATE drivetribe.events')
) AS c(n, stmt), pg_temp.log_fields(c.stmt) f ORDER BY c.n;

-- argument errors name the argument in the message and set no field
-- (column_name is a table's column; an argument is not one)
SELECT c.call, f.* FROM (VALUES
  (1, format('drivetribe.register_user(NULL, %L)', 'x')),
  (2, format('drivetribe.register_user(0, %L)', 'x')),
  (3, format('drivetribe.rename_user(%s, %L)', :user_id, '')),
  (4, format('drivetribe.follow_user(%s, %s)', :user_id, :user_id)),
  (5, format('drivetribe.feed(%s, 0)', :user_id)),
  (6, 'drivetribe.article_comments(NULL)'),
  (7, format('drivetribe.article_comments(%s, 1001)', :article_id))
) AS c(n, call), pg_temp.fields(c.call) f ORDER BY c.n;

ROLLBACK;

-- 25006: a read-only transaction, no field either
BEGIN READ ONLY;
SELECT * FROM pg_temp.fields(format('drivetribe.register_user(%s, %L)', :nobody, 'x'));
ROLLBACK;

SELECT dt_unchanged() AS unchanged;
