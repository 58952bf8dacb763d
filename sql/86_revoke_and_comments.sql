--
-- 86_revoke_and_comments (1.6): revoke_writer()/revoke_reader() take back
-- what grant_writer()/grant_reader() gave; every function, table, view and
-- column of the extension has a comment (\df+ and \d+ explain it).
--
\pset null NULL
CREATE ROLE regress_rw LOGIN;
CREATE ROLE regress_ro LOGIN;
SELECT drivetribe.grant_writer('regress_rw');
SELECT drivetribe.grant_reader('regress_ro');
SELECT drivetribe.revoke_writer(NULL);

-- what each role may execute / select, before and after
CREATE FUNCTION pg_temp.rights(r name) RETURNS TABLE (may_write bigint, may_read bigint, views bigint)
LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM drivetribe_internal.api_functions(true) f
           WHERE has_function_privilege(r, f, 'EXECUTE')
             AND f <> ALL (ARRAY(SELECT * FROM drivetribe_internal.api_functions(false)))),
         (SELECT count(*) FROM drivetribe_internal.api_functions(false) f WHERE has_function_privilege(r, f, 'EXECUTE')),
         (SELECT count(*) FROM unnest(ARRAY['drivetribe.article_view', 'drivetribe.user_stats',
                                             'drivetribe.tribe_stats', 'drivetribe.log_horizon']) v
           WHERE has_table_privilege(r, v, 'SELECT'))
$$;
SELECT 'rw' AS role, * FROM pg_temp.rights('regress_rw')
UNION ALL SELECT 'ro', * FROM pg_temp.rights('regress_ro');
SELECT drivetribe.revoke_writer('regress_rw');
SELECT 'rw' AS role, * FROM pg_temp.rights('regress_rw');
SET ROLE regress_rw;
SELECT drivetribe.register_user(8601, 'Revoked');
SELECT count(*) FROM drivetribe.article(1);
RESET ROLE;
SELECT drivetribe.revoke_reader('regress_rw');
SELECT drivetribe.revoke_reader('regress_ro');
SELECT 'rw' AS role, * FROM pg_temp.rights('regress_rw')
UNION ALL SELECT 'ro', * FROM pg_temp.rights('regress_ro');
SET ROLE regress_ro;
SELECT count(*) FROM drivetribe.article_view;
RESET ROLE;
-- and granting again works
SELECT drivetribe.grant_reader('regress_ro');
SELECT 'ro' AS role, * FROM pg_temp.rights('regress_ro');
SELECT drivetribe.revoke_reader('regress_ro');
REVOKE USAGE ON SCHEMA drivetribe FROM regress_rw, regress_ro;
DROP ROLE regress_rw;
DROP ROLE regress_ro;

-- every member function, table, view and column has a comment
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'drivetribe')
   AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.oid::regclass AS relation_without_comment
  FROM pg_class c
 WHERE c.relnamespace = 'drivetribe'::regnamespace AND c.relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT c.oid::regclass AS relation, a.attname AS column_without_comment
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'drivetribe'::regnamespace AND c.relkind IN ('r', 'v')
   AND col_description(c.oid, a.attnum) IS NULL;
-- internal helpers say so first, and (1.7) live in drivetribe_internal:
-- \df drivetribe.* lists the API only
SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('drivetribe', 'drivetribe_internal')
   AND obj_description(p.oid, 'pg_proc') LIKE 'internal%' ORDER BY 1, 2;
SELECT p.oid::regprocedure AS api_function_without_comment FROM pg_proc p
 WHERE p.pronamespace = 'drivetribe'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT p.oid::regprocedure AS not_internal_in_drivetribe_internal FROM pg_proc p
 WHERE p.pronamespace = 'drivetribe_internal'::regnamespace
   AND obj_description(p.oid, 'pg_proc') NOT LIKE 'internal%';
-- the schema belongs to the extension, PUBLIC cannot use it
SELECT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                  AND d.objid = 'drivetribe_internal'::regnamespace AND d.deptype = 'e') AS member,
       has_schema_privilege('public', 'drivetribe_internal', 'USAGE') AS public_usage;
-- \df+ drivetribe.*: the source column is as wide as its longest line; no
-- function of the API carries a body wider than 130 characters (1.7:
-- status_rows(), 219)
SELECT p.oid::regprocedure AS wide_source, max(length(l)) AS width
  FROM pg_proc p, regexp_split_to_table(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc), E'\n') l
 WHERE p.pronamespace = 'drivetribe'::regnamespace
 GROUP BY 1 HAVING max(length(l)) > 130;
