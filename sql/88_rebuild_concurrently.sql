--
-- 88_rebuild_concurrently: the blue/green rebuild, CALL
-- drivetribe.rebuild(concurrently => true) (issue 22, item 3), on the
-- database the write tests left (after 88_rebuild: consistent, stripes
-- folded).  It gives back the same reads (article_view, user_stats,
-- tribe_stats, every article's comments) and the same raw rows
-- (dt_state()), verify() is empty, and the projection tables it put in
-- place are new tables that look exactly like the old ones: extension
-- members at the same place of extconfig, their columns, defaults,
-- constraints, indexes (same names and definitions), comments, owner,
-- storage parameters and privileges (an administrator's grant on one of
-- them, and a grant_reader() role reading article_view), and the same
-- initial privileges for pg_dump (pg_init_privs).  Then its refusals: a
-- role that is not a superuser (42501, also with EXECUTE granted),
-- inside a transaction block (2D000, the COMMIT of a procedure called in
-- one; nothing is left behind), concurrently => NULL (22004); and
-- concurrently => false runs the plain rebuild().
--
\pset null NULL
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_dt_bg_reader;
DROP ROLE IF EXISTS regress_dt_bg_admin_grant;
DROP ROLE IF EXISTS regress_dt_bg_plain;
RESET client_min_messages;
CREATE ROLE regress_dt_bg_reader;
CREATE ROLE regress_dt_bg_admin_grant;
CREATE ROLE regress_dt_bg_plain;
SELECT drivetribe.grant_reader('regress_dt_bg_reader');
-- an administrator's own grant on a projection table
GRANT USAGE ON SCHEMA drivetribe TO regress_dt_bg_admin_grant, regress_dt_bg_plain;
GRANT SELECT ON drivetribe.articles TO regress_dt_bg_admin_grant;

SELECT drivetribe.fold_stripes() >= 0 AS folded;
SELECT * FROM drivetribe.verify();

-- the reads, as rows of text
CREATE TEMP TABLE reads (what text, r text);
CREATE FUNCTION pg_temp.reads() RETURNS SETOF reads LANGUAGE sql AS $$
  SELECT 'article_view', a::text FROM drivetribe.article_view a
  UNION ALL SELECT 'user_stats', u::text FROM drivetribe.user_stats u
  UNION ALL SELECT 'tribe_stats', t::text FROM drivetribe.tribe_stats t
  UNION ALL SELECT 'article_comments', (a.article_id, c)::text
              FROM drivetribe.article_view a, drivetribe.article_comments(a.article_id, 1000) c
$$;
-- what the catalogs say of each projection table (by name, not oid)
CREATE TEMP TABLE catalog (what text, item text);
CREATE FUNCTION pg_temp.catalog() RETURNS SETOF catalog LANGUAGE sql AS $$
  WITH t AS (
    SELECT c.oid, c.relname FROM pg_class c
     WHERE c.relnamespace = 'drivetribe'::regnamespace
       AND c.relname = ANY (drivetribe_internal.green_tables()))
  SELECT 'table', concat_ws(' ', t.relname, c.relkind, c.relpersistence, c.relreplident, c.relrowsecurity,
                            c.relowner::regrole, c.reloptions, obj_description(t.oid, 'pg_class'))
    FROM t JOIN pg_class c ON c.oid = t.oid
  UNION ALL
  -- effective privileges (an ACL left at its default reads as the owner's)
  SELECT 'privilege', concat_ws(' ', t.relname, x.grantor::regrole, x.grantee, x.privilege_type, x.is_grantable)
    FROM t JOIN pg_class c ON c.oid = t.oid, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x
  UNION ALL
  SELECT 'column', concat_ws(' ', t.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                             a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attstorage, a.attstattarget,
                             a.attcollation, a.attidentity, a.attgenerated, a.attacl,
                             col_description(t.oid, a.attnum))
    FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
  UNION ALL
  SELECT 'constraint', concat_ws(' ', t.relname, k.conname, k.contype, pg_get_constraintdef(k.oid),
                                 k.convalidated, obj_description(k.oid, 'pg_constraint'))
    FROM t JOIN pg_constraint k ON k.conrelid = t.oid
  UNION ALL
  SELECT 'index', concat_ws(' ', t.relname, i.indexrelid::regclass, pg_get_indexdef(i.indexrelid),
                            i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, ic.reloptions,
                            obj_description(i.indexrelid, 'pg_class'))
    FROM t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid
  UNION ALL
  SELECT 'trigger', concat_ws(' ', t.relname, g.tgname, pg_get_triggerdef(g.oid))
    FROM t JOIN pg_trigger g ON g.tgrelid = t.oid AND NOT g.tgisinternal
  UNION ALL
  SELECT 'policy', concat_ws(' ', t.relname, p.polname) FROM t JOIN pg_policy p ON p.polrelid = t.oid
  UNION ALL
  SELECT 'statistics', concat_ws(' ', t.relname, s.stxname) FROM t JOIN pg_statistic_ext s ON s.stxrelid = t.oid
  UNION ALL
  -- a member of the extension, in extconfig at the same place with the same condition
  SELECT 'extension', concat_ws(' ', t.relname,
           (SELECT d.deptype FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid
               AND d.objsubid = 0 AND d.refclassid = 'pg_extension'::regclass),
           (SELECT x.o || ' ' || coalesce(e.extcondition[x.o], '') FROM pg_extension e,
                   unnest(e.extconfig) WITH ORDINALITY x(c, o)
             WHERE e.extname = 'drivetribe' AND x.c = t.oid))
    FROM t
  UNION ALL
  -- the views over them: their text
  SELECT 'view', concat_ws(' ', v.oid::regclass, pg_get_viewdef(v.oid))
    FROM pg_class v WHERE v.relnamespace = 'drivetribe'::regnamespace AND v.relkind = 'v'
$$;
-- the initial privileges pg_dump compares the ACLs with
CREATE TEMP TABLE init_privs (item text);
CREATE FUNCTION pg_temp.init_privs() RETURNS SETOF init_privs LANGUAGE sql AS $$
  SELECT concat_ws(' ', c.relname, p.objsubid, p.privtype, p.initprivs)
    FROM pg_init_privs p JOIN pg_class c ON c.oid = p.objoid AND p.classoid = 'pg_class'::regclass
   WHERE c.relnamespace = 'drivetribe'::regnamespace
     AND c.relname = ANY (drivetribe_internal.green_tables())
$$;
INSERT INTO reads SELECT * FROM pg_temp.reads();
INSERT INTO catalog SELECT * FROM pg_temp.catalog();
INSERT INTO init_privs SELECT * FROM pg_temp.init_privs();
CREATE TEMP TABLE oids AS
SELECT t, format('drivetribe.%I', t)::regclass::oid AS relid FROM unnest(drivetribe_internal.green_tables()) t;
SELECT what, count(*) AS rows FROM reads GROUP BY what ORDER BY what;
SELECT what, count(*) AS items FROM catalog GROUP BY what ORDER BY what;
SELECT dt_mark() IS NOT NULL AS marked;

-- the rebuild (its NOTICEs show times)
SET client_min_messages = warning;
CALL drivetribe.rebuild(concurrently => true);
RESET client_min_messages;

SELECT * FROM drivetribe.verify();
SELECT dt_unchanged() AS same_rows_and_events;
-- new tables, nothing left behind
SELECT count(*) FILTER (WHERE format('drivetribe.%I', t)::regclass::oid <> relid) AS new_tables,
       count(*) AS tables
  FROM oids;
SELECT (SELECT count(*) FROM drivetribe.rebuild_state) AS state_rows,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'drivetribe_green'::regnamespace) AS green_relations,
       (SELECT count(*) FROM pg_namespace WHERE nspname = 'drivetribe_blue') AS blue_schemas,
       drivetribe_internal.green_running() AS running;
-- the same reads
(SELECT 'before only' AS side, * FROM reads EXCEPT SELECT 'before only', * FROM pg_temp.reads())
UNION ALL
(SELECT 'after only', * FROM pg_temp.reads() EXCEPT SELECT 'after only', * FROM reads)
ORDER BY 1, 2, 3;
-- the same catalog entries
(SELECT 'before only' AS side, * FROM catalog EXCEPT SELECT 'before only', * FROM pg_temp.catalog())
UNION ALL
(SELECT 'after only', * FROM pg_temp.catalog() EXCEPT SELECT 'after only', * FROM catalog)
ORDER BY 1, 2, 3;
-- the same initial privileges: an administrator's grant made after
-- CREATE EXTENSION is not one of them (pg_dump would leave it out)
(SELECT 'before only' AS side, * FROM init_privs EXCEPT SELECT 'before only', * FROM pg_temp.init_privs())
UNION ALL
(SELECT 'after only', * FROM pg_temp.init_privs() EXCEPT SELECT 'after only', * FROM init_privs)
ORDER BY 1, 2;
-- the grants work
SET ROLE regress_dt_bg_reader;
SELECT count(*) > 0 AS reader_reads FROM drivetribe.article_view;
RESET ROLE;
SET ROLE regress_dt_bg_admin_grant;
SELECT count(*) > 0 AS admin_grant_reads FROM drivetribe.articles;
RESET ROLE;
-- and writes go on
SELECT drivetribe.view_article(100) IS NOT NULL AS viewed;
SELECT * FROM drivetribe.verify();
SELECT drivetribe.fold_stripes() >= 0 AS folded;
SELECT dt_mark() IS NOT NULL AS marked;
CREATE TEMP TABLE green_oids AS
SELECT t, format('drivetribe.%I', t)::regclass::oid AS relid FROM unnest(drivetribe_internal.green_tables()) t;

-- not a superuser: refused (without EXECUTE by PostgreSQL, with it by
-- the rebuild itself)
SET ROLE regress_dt_bg_plain;
CALL drivetribe.rebuild(concurrently => true);
SELECT :'SQLSTATE' AS sqlstate;
RESET ROLE;
GRANT EXECUTE ON PROCEDURE drivetribe.rebuild(boolean) TO regress_dt_bg_plain;
SET ROLE regress_dt_bg_plain;
CALL drivetribe.rebuild(concurrently => true);
SELECT :'SQLSTATE' AS sqlstate;
RESET ROLE;
REVOKE EXECUTE ON PROCEDURE drivetribe.rebuild(boolean) FROM regress_dt_bg_plain;

-- in a transaction block: its first COMMIT fails, and the rollback
-- leaves nothing
BEGIN;
CALL drivetribe.rebuild(concurrently => true);
\echo sqlstate :SQLSTATE
ROLLBACK;
SELECT (SELECT count(*) FROM drivetribe.rebuild_state) AS state_rows,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'drivetribe_green'::regnamespace) AS green_relations,
       drivetribe_internal.green_running() AS running,
       dt_unchanged() AS unchanged;

-- concurrently => NULL
CALL drivetribe.rebuild(concurrently => NULL);
SELECT :'SQLSTATE' AS sqlstate;

-- concurrently => false: the plain rebuild(), in place
CALL drivetribe.rebuild(concurrently => false);
SELECT dt_unchanged() AS unchanged,
       (SELECT count(*) FILTER (WHERE format('drivetribe.%I', t)::regclass::oid = relid) FROM green_oids) AS same_tables;
SELECT * FROM drivetribe.verify();

-- a rebuild left in its catch-up by another version of the extension,
-- with a green row the log does not have, and old tables a switch left
-- in drivetribe_blue: the next CALL drops those, loads the green tables
-- again and switches
DO $$
BEGIN
  PERFORM drivetribe_internal.green_create();
  PERFORM drivetribe_internal.green_index(true);
END $$;
INSERT INTO drivetribe_green.users (user_id, name, registered_at) VALUES (999, 'not in the log', now());
INSERT INTO drivetribe.rebuild_state (phase, since_snapshot, loaded_at, extension_version)
VALUES ('catching_up', pg_current_snapshot(), now(), '1.8');
CREATE SCHEMA drivetribe_blue;
CREATE TABLE drivetribe_blue.users (LIKE drivetribe.users);
ALTER EXTENSION drivetribe ADD TABLE drivetribe_blue.users;
SET client_min_messages = warning;
CALL drivetribe.rebuild(concurrently => true);
RESET client_min_messages;
SELECT (SELECT count(*) FROM drivetribe.rebuild_state) AS state_rows,
       to_regnamespace('drivetribe_blue') IS NULL AS no_blue_schema,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'drivetribe_green'::regnamespace) AS green_relations,
       (SELECT count(*) FROM drivetribe.users WHERE user_id = 999) AS row_not_in_the_log,
       dt_unchanged() AS unchanged;
SELECT * FROM drivetribe.verify();

SET client_min_messages = warning;
DISCARD TEMP;
DROP OWNED BY regress_dt_bg_reader, regress_dt_bg_admin_grant, regress_dt_bg_plain;
DROP ROLE regress_dt_bg_reader;
DROP ROLE regress_dt_bg_admin_grant;
DROP ROLE regress_dt_bg_plain;
RESET client_min_messages;
