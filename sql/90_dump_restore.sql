--
-- 90_dump_restore: pg_dump -Fc of this database, pg_restore into a new one:
-- the log, its sequence and every projection come back exactly (the
-- restore neither loses events nor applies them twice), verify() is
-- empty, and writing continues after the old log.  A projection
-- registered in SQL (1.8) comes back registered and live, and the next
-- write reaches its handler.
--
\pset null NULL
\set orig_db :DBNAME
\setenv DT_ORIG_DB :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS dt_restore;
RESET client_min_messages;

-- a registered projection (its table and handler are ordinary objects)
CREATE TABLE public.regress_dump_views (article_id bigint PRIMARY KEY, n bigint NOT NULL);
CREATE FUNCTION public.regress_dump_count(events drivetribe.events[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO public.regress_dump_views AS v
  SELECT e.article_id, count(*) FROM unnest(events) e GROUP BY e.article_id
  ON CONFLICT (article_id) DO UPDATE SET n = v.n + excluded.n
$$;
SET client_min_messages = warning;
CALL drivetribe.create_projection('regress_dump', 'public.regress_dump_count(drivetribe.events[])',
                                  ARRAY['article_viewed']);
RESET client_min_messages;

SELECT dt_mark() IS NOT NULL AS marked;
SELECT dt_state() AS state_before,
       (SELECT count(*) FROM drivetribe.events) AS events_before,
       (SELECT max(seq) FROM drivetribe.events) AS max_seq_before
\gset
SELECT (SELECT count(*) FROM drivetribe.article_view) AS articles_before,
       (SELECT count(*) FROM drivetribe.user_stats) AS users_before,
       (SELECT count(*) FROM drivetribe.tribe_stats) AS tribes_before
\gset

-- One shell line: dump to a file under the working directory (named per
-- server port and shell pid, so that concurrent runs do not collide),
-- create the new database, restore, remove the file.  Any message of
-- pg_dump, createdb or pg_restore would show here.  The new database gets
-- 00_install's drivetribe.rank_worker = off (a dump of one database has no
-- ALTER DATABASE ... SET): a rank worker folding stripes between two
-- statements changed dt_state() under dt_unchanged() (a fresh CI run
-- failed so).
\! f="results/dt_dump_${PGPORT:-5432}_$$.pgc"; mkdir -p results && pg_dump -Fc -f "$f" "$DT_ORIG_DB" && createdb dt_restore && psql -X -q -d postgres -c 'ALTER DATABASE dt_restore SET drivetribe.rank_worker = off' && pg_restore -d dt_restore "$f"; rm -f "$f"; rmdir results 2>/dev/null; true

\c dt_restore
\pset null NULL
SELECT extname, extversion FROM pg_extension WHERE extname = 'drivetribe';
SELECT count(*) = :events_before AS same_events,
       max(seq) = :max_seq_before AS same_max_seq,
       count(DISTINCT event_id) = count(*) AS event_ids_unique
FROM drivetribe.events;
SELECT (SELECT count(*) FROM drivetribe.article_view) = :articles_before AS same_articles,
       (SELECT count(*) FROM drivetribe.user_stats) = :users_before AS same_users,
       (SELECT count(*) FROM drivetribe.tribe_stats) = :tribes_before AS same_tribes;
-- every table of the extension, row for row
SELECT dt_state() = :'state_before' AS same_state;
SELECT * FROM drivetribe.verify();
-- the log is still immutable
DELETE FROM drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
TRUNCATE drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- writing continues after the old log: new seq > old max
SELECT dt_mark() IS NOT NULL AS marked;
SELECT * FROM dt_ev(drivetribe.register_user(60, 'restored'));
SELECT max(seq) > :max_seq_before AS seq_grows FROM drivetribe.events;
SELECT * FROM dt_ev(drivetribe.post_article(600, 60, 10, 'After the restore'));
SELECT * FROM dt_ev(drivetribe.bump(101, 60));
SELECT article_id, bumps FROM drivetribe.article_view WHERE article_id = 101;
-- ids and event_ids restored are still taken
SELECT drivetribe.register_user(1, 'alice');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT (drivetribe.register_user(20, 'ida', event_id => 'a0000000-0000-4000-8000-000000000001')
        < :max_seq_before) AS replayed_old_seq, dt_unchanged() AS unchanged;
-- the projection came back live, and a view reaches it inline
SELECT name, owner = current_user::regrole AS registered_by_me, kinds, mode, state, last_error FROM drivetribe.projections;
SELECT n AS views_before FROM public.regress_dump_views WHERE article_id = 101 \gset
SELECT drivetribe.view_article(101) IS NOT NULL AS viewed;
SELECT n = :views_before + 1 AS counted FROM public.regress_dump_views WHERE article_id = 101;
SELECT n = (SELECT count(*) FROM drivetribe.events WHERE kind = 'article_viewed' AND article_id = 101)
       AS equals_the_log
  FROM public.regress_dump_views WHERE article_id = 101;
SELECT * FROM drivetribe.verify();

\c :orig_db
DROP DATABASE dt_restore;
SELECT dt_unchanged() AS unchanged;
SELECT drivetribe.drop_projection('regress_dump');
DROP FUNCTION public.regress_dump_count(drivetribe.events[]);
DROP TABLE public.regress_dump_views;
