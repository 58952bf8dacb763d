--
-- 99_drop: DROP EXTENSION drivetribe leaves nothing behind, and CREATE
-- EXTENSION works again afterwards.  dt_catalog_before was taken in
-- 00_install just before CREATE EXTENSION.
--
\pset null NULL
-- DROP EXTENSION removes the pg_cron jobs schedule_maintenance() made
-- (1.5's event trigger), in the same transaction: a rolled-back drop keeps
-- them.  Other jobs stay.
-- pg_cron usable here (installed in this cluster, and this database is its
-- cron.database_name)?  If not, this part is skipped (expected/*_1.out).
-- (preloaded: cron.database_name may be set while pg_cron is not loaded;
-- coalesce: where pg_cron is not preloaded, cron.database_name is usually
-- no setting, the test is NULL, and \gset would leave :have_cron unset,
-- which \if rejects)
SELECT coalesce(EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron')
       AND 'pg_cron' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
       AND current_setting('cron.database_name', true) = current_database(), false) AS have_cron \gset
\if :have_cron
CREATE EXTENSION pg_cron;
SELECT cron.schedule('regress_other_job', '0 3 * * *', 'SELECT 1') > 0 AS scheduled;
SELECT count(*) AS jobs_scheduled FROM drivetribe.schedule_maintenance();
BEGIN;
DROP EXTENSION drivetribe;
SELECT count(*) AS jobs_in_the_drop FROM cron.job WHERE jobname LIKE 'drivetribe-%';
ROLLBACK;
SELECT count(*) AS jobs_after_rollback FROM cron.job WHERE jobname LIKE 'drivetribe-%';
-- dropping another extension leaves them
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP EXTENSION pgcrypto;
SELECT count(*) AS jobs_after_other_drop FROM cron.job WHERE jobname LIKE 'drivetribe-%';
DROP EXTENSION drivetribe;
SELECT jobname FROM cron.job ORDER BY jobname;
SELECT cron.unschedule('regress_other_job');
DROP EXTENSION pg_cron;
\else
\echo 'skipped: pg_cron is not usable in this database'
DROP EXTENSION drivetribe;
\endif
SELECT count(*) AS drivetribe_schemas FROM pg_namespace WHERE nspname = 'drivetribe';
SELECT count(*) AS drivetribe_extensions FROM pg_extension WHERE extname = 'drivetribe';
-- objects that exist now but did not before CREATE EXTENSION
SELECT * FROM dt_catalog() EXCEPT SELECT * FROM dt_catalog_before ORDER BY 1, 2;
-- objects that existed before but are gone now
SELECT * FROM dt_catalog_before EXCEPT SELECT * FROM dt_catalog() ORDER BY 1, 2;
-- nothing refers to the extension's library any more
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.probin LIKE '%drivetribe%';

-- CREATE EXTENSION again: a fresh, empty, working log.
CREATE EXTENSION drivetribe;
SELECT count(*) AS events FROM drivetribe.events;
SELECT count(*) AS users FROM drivetribe.user_stats;
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.register_user(1, 'alice'));
SELECT * FROM dt_ev(drivetribe.create_tribe(10, 1, 'Supercars'));
SELECT * FROM dt_ev(drivetribe.post_article(100, 1, 10, 'Hello again'));
SELECT article_id, tribe_name, author_name, title FROM drivetribe.article_view;
SELECT * FROM drivetribe.verify();

-- and DROP again leaves nothing either
DROP EXTENSION drivetribe;
SELECT * FROM dt_catalog() EXCEPT SELECT * FROM dt_catalog_before ORDER BY 1, 2;
SELECT * FROM dt_catalog_before EXCEPT SELECT * FROM dt_catalog() ORDER BY 1, 2;
