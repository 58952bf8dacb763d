--
-- 00_install: test helpers, CREATE EXTENSION, the documented API exists.
--
-- Helpers (schema public, not part of the extension).  They are PL/pgSQL
-- or catalog-only SQL so that they record no dependency on the extension,
-- and SECURITY DEFINER with a fixed search_path so that 85_grants can call
-- them under SET ROLE and a hostile search_path.
--   dt_state()      fingerprint (md5) of every table of schema drivetribe
--   dt_mark()       remember that fingerprint and the event count; returns the count
--   dt_unchanged()  true when nothing changed since the last mark
--   dt_ev(seq)      how a write call went: ret = 'new' (seq is a new last
--                   event), 'existing' (seq of an event older than the mark),
--                   'NULL' (no-op); appended = events since the mark;
--                   unchanged; then that event's fields.  Marks afterwards.
--   dt_catalog()    names of catalog objects, for the DROP EXTENSION check
--
-- Multibyte names below are built with chr() and depend on a UTF8 database.
SELECT getdatabaseencoding() AS encoding;

-- The rank worker folds counter stripes by itself, between any two
-- statements of a test; these tests fold explicitly
-- (drivetribe.fold_stripes()) where they check scores, so no worker is
-- started in this database.  test/e2e/rank_lag.sh tests the worker.
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET drivetribe.rank_worker = off', current_database());
END $$;
SET drivetribe.rank_worker = off;

CREATE FUNCTION dt_state() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r regclass;
  h text;
  acc text := '';
BEGIN
  FOR r IN
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'drivetribe' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND c.relname <> 'verify_runs'   -- verify()'s history (1.5), not data
    ORDER BY c.relname
  LOOP
    EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s t', r)
      INTO h;
    acc := acc || r::text || ':' || h || ';';
  END LOOP;
  RETURN md5(acc);
END
$$;

CREATE TABLE dt_mark_t (state text, events bigint, maxseq bigint);
INSERT INTO dt_mark_t VALUES (NULL, 0, 0);

CREATE FUNCTION dt_mark() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  n bigint;
  mx bigint;
BEGIN
  EXECUTE 'SELECT count(*), coalesce(max(seq), 0) FROM drivetribe.events' INTO n, mx;
  UPDATE public.dt_mark_t SET state = public.dt_state(), events = n, maxseq = mx;
  RETURN n;
END
$$;

CREATE FUNCTION dt_unchanged() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  m public.dt_mark_t;
  n bigint;
BEGIN
  SELECT * INTO m FROM public.dt_mark_t;
  EXECUTE 'SELECT count(*) FROM drivetribe.events' INTO n;
  RETURN n = m.events AND public.dt_state() = m.state;
END
$$;

CREATE FUNCTION dt_ev(s bigint)
RETURNS TABLE (ret text, appended bigint, unchanged boolean, kind text,
               user_id bigint, tribe_id bigint, article_id bigint,
               comment_id bigint, target_id bigint, recipient_id bigint,
               body text, context jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  m public.dt_mark_t;
  n bigint;
  mx bigint;
  st text;
BEGIN
  SELECT * INTO m FROM public.dt_mark_t;
  SELECT count(*), coalesce(max(e.seq), 0) INTO n, mx FROM drivetribe.events e;
  st := public.dt_state();
  ret := CASE WHEN s IS NULL THEN 'NULL'
              WHEN s = mx AND s > m.maxseq THEN 'new'
              WHEN s <= m.maxseq AND EXISTS (SELECT 1 FROM drivetribe.events e WHERE e.seq = s)
                THEN 'existing'
              ELSE 'unexpected ' || s END;
  appended := n - m.events;
  unchanged := (st = m.state);
  IF s IS NOT NULL THEN
    SELECT e.kind::text, e.user_id, e.tribe_id, e.article_id, e.comment_id,
           e.target_id, e.recipient_id, e.body, e.context
      INTO kind, user_id, tribe_id, article_id, comment_id,
           target_id, recipient_id, body, context
      FROM drivetribe.events e WHERE e.seq = s;
  END IF;
  IF length(body) > 40 THEN
    body := left(body, 20) || '...(' || length(body) || ' chars)';
  END IF;
  UPDATE public.dt_mark_t SET state = st, events = n, maxseq = mx;
  RETURN NEXT;
END
$$;

CREATE FUNCTION dt_catalog() RETURNS TABLE (catalog text, name text)
LANGUAGE sql AS $$
  WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname !~ '^pg_(toast_)?temp_' AND nspname <> 'pg_toast')
  SELECT 'pg_namespace', nspname::text FROM ns
  UNION ALL
  SELECT 'pg_class', c.oid::regclass::text FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  UNION ALL
  SELECT 'pg_type', t.oid::regtype::text FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
  UNION ALL
  SELECT 'pg_proc', p.oid::regprocedure::text FROM pg_proc p
  UNION ALL
  SELECT 'pg_operator', o.oid::regoperator::text FROM pg_operator o
  UNION ALL
  SELECT 'pg_cast', format_type(castsource, NULL) || ' -> ' || format_type(casttarget, NULL) FROM pg_cast
  UNION ALL
  SELECT 'pg_event_trigger', evtname::text FROM pg_event_trigger
  UNION ALL
  SELECT 'pg_publication', pubname::text FROM pg_publication
  UNION ALL
  SELECT 'pg_extension', extname::text FROM pg_extension
  UNION ALL
  SELECT 'pg_foreign_server', srvname::text FROM pg_foreign_server
  UNION ALL
  SELECT 'pg_replication_slots', slot_name::text FROM pg_replication_slots
  UNION ALL
  SELECT 'pg_roles', rolname::text FROM pg_roles WHERE rolname ~* 'drivetribe'
$$;

CREATE TABLE dt_catalog_before (catalog text, name text);
INSERT INTO dt_catalog_before SELECT * FROM dt_catalog();

-- The extension.
CREATE EXTENSION drivetribe CASCADE;
SELECT extname, extversion, extrelocatable
FROM pg_extension WHERE extname = 'drivetribe';
-- every member object of the extension lives in schema drivetribe
SELECT DISTINCT coalesce(pn.nspname, cn.nspname, tn.nspname) AS member_schema
FROM pg_depend d
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
LEFT JOIN pg_namespace pn ON pn.oid = p.pronamespace
LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
LEFT JOIN pg_namespace cn ON cn.oid = c.relnamespace
LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
LEFT JOIN pg_namespace tn ON tn.oid = t.typnamespace
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'drivetribe')
  AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass);

-- Fresh: empty log, consistent projections.
SELECT count(*) AS events FROM drivetribe.events;
SELECT * FROM drivetribe.verify();
SELECT dt_mark() AS events;

-- Every function and relation of SPEC exists with its documented signature.
SELECT sig, to_regprocedure(sig) IS NOT NULL AS exists
FROM (VALUES
  ('drivetribe.register_user(bigint,text,uuid)'),
  ('drivetribe.rename_user(bigint,text,uuid)'),
  ('drivetribe.create_tribe(bigint,bigint,text,uuid)'),
  ('drivetribe.rename_tribe(bigint,text,uuid)'),
  ('drivetribe.join_tribe(bigint,bigint,uuid)'),
  ('drivetribe.leave_tribe(bigint,bigint,uuid)'),
  ('drivetribe.follow_user(bigint,bigint,uuid)'),
  ('drivetribe.unfollow_user(bigint,bigint,uuid)'),
  ('drivetribe.post_article(bigint,bigint,bigint,text,uuid)'),
  ('drivetribe.edit_article(bigint,text,uuid)'),
  ('drivetribe.delete_article(bigint,uuid)'),
  ('drivetribe.view_article(bigint,bigint,uuid)'),
  ('drivetribe.post_comment(bigint,bigint,bigint,text,uuid)'),
  ('drivetribe.delete_comment(bigint,uuid)'),
  ('drivetribe.bump(bigint,bigint,uuid)'),
  ('drivetribe.unbump(bigint,bigint,uuid)'),
  ('drivetribe.article(bigint)'),
  ('drivetribe.article_comments(bigint,integer,bigint)'),
  ('drivetribe.has_bumped(bigint,bigint)'),
  ('drivetribe.feed(bigint,integer,double precision,bigint)'),
  ('drivetribe.tribe_feed(bigint,integer,double precision,bigint)'),
  ('drivetribe.rebuild()'),
  ('drivetribe.verify()'),
  ('drivetribe.schedule_maintenance()'),
  ('drivetribe.unschedule_maintenance()'),
  ('drivetribe.grant_writer(regrole)'),
  ('drivetribe.grant_reader(regrole)')
) AS f(sig)
ORDER BY sig;

-- Every write function returns bigint (the seq) and ends with event_id uuid DEFAULT NULL.
SELECT p.proname, pg_get_function_result(p.oid) AS result,
       (pg_get_function_arguments(p.oid) ~ 'event_id uuid DEFAULT NULL::uuid$') AS event_id_last
FROM pg_proc p
WHERE p.pronamespace = 'drivetribe'::regnamespace
  AND p.proname IN ('register_user', 'rename_user', 'create_tribe', 'rename_tribe',
                    'join_tribe', 'leave_tribe', 'follow_user', 'unfollow_user',
                    'post_article', 'edit_article', 'delete_article', 'view_article',
                    'post_comment', 'delete_comment', 'bump', 'unbump')
ORDER BY p.proname;

SELECT pg_get_function_arguments('drivetribe.view_article(bigint,bigint,uuid)'::regprocedure) AS view_article_args;

SELECT c.relname, c.relkind
FROM pg_class c
WHERE c.relnamespace = 'drivetribe'::regnamespace
  AND c.relname IN ('events', 'article_view', 'user_stats', 'tribe_stats')
ORDER BY c.relname;

-- The read relations have at least SPEC's columns, in any order (no row = all there).
SELECT r.rel, r.col AS missing_column
FROM (VALUES
  ('events', 'seq'), ('events', 'event_id'), ('events', 'kind'),
  ('article_view', 'article_id'), ('article_view', 'tribe_id'),
  ('article_view', 'tribe_name'), ('article_view', 'author_id'),
  ('article_view', 'author_name'), ('article_view', 'title'),
  ('article_view', 'posted_at'), ('article_view', 'views'),
  ('article_view', 'comments'), ('article_view', 'bumps'), ('article_view', 'score'),
  ('user_stats', 'user_id'), ('user_stats', 'name'), ('user_stats', 'articles'),
  ('user_stats', 'comments'), ('user_stats', 'bumps_given'),
  ('user_stats', 'bumps_received'), ('user_stats', 'followers'),
  ('user_stats', 'following'), ('user_stats', 'tribes'),
  ('tribe_stats', 'tribe_id'), ('tribe_stats', 'name'), ('tribe_stats', 'owner_id'),
  ('tribe_stats', 'members'), ('tribe_stats', 'articles')
) AS r(rel, col)
WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = ('drivetribe.' || r.rel)::regclass
                    AND a.attname = r.col AND a.attnum > 0 AND NOT a.attisdropped);

-- Every SECURITY DEFINER function pins search_path to pg_catalog first, pg_temp last.
SELECT p.oid::regprocedure AS secdef_without_safe_search_path
FROM pg_proc p
WHERE p.pronamespace = 'drivetribe'::regnamespace AND p.prosecdef
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                  WHERE c ~ '^search_path=pg_catalog, *(.*, *)?pg_temp$');
