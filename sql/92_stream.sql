--
-- 92_stream: the drivetribe logical decoding output plugin (SPEC "Stream").
-- Needs wal_level = logical and, on 15.19+, drivetribe in
-- output_plugin_libraries (scripts/test.sh's cluster has both).
-- seq, event_id, times and LSNs vary from run to run: the output is shown
-- without them, and checked separately.
--
\pset null NULL
-- logical decoding usable here (wal_level = logical, and on 15.19+ the
-- plugin allowed)?  If not, this test is skipped (expected/92_stream_1.out).
SELECT current_setting('wal_level') = 'logical'
       AND coalesce((SELECT 'drivetribe' = ANY (string_to_array(replace(setting, ' ', ''), ','))
                       FROM pg_settings WHERE name = 'output_plugin_libraries'), true) AS have_decoding \gset
\if :have_decoding
-- decoding reads only flushed WAL: make every commit flush (the test
-- cluster runs with synchronous_commit off)
SET synchronous_commit = on;
SELECT 'init' AS slot FROM pg_create_logical_replication_slot('regress_stream', 'drivetribe');

-- pg_temp.changes(): the slot's new objects, without the varying fields,
-- and whether seq grows and the LSN stays within each transaction
CREATE FUNCTION pg_temp.changes(VARIADIC options text[] DEFAULT '{}')
RETURNS TABLE (n bigint, object jsonb, seq_grows boolean, same_lsn_as_previous boolean)
LANGUAGE sql AS $$
  SELECT n, d - 'seq' - 'event_id' - 'occurred_at' - 'lsn' - 'xid' - 'commit_time',
         (d ->> 'seq')::bigint > lag((d ->> 'seq')::bigint) OVER (ORDER BY n),
         d ->> 'lsn' = lag(d ->> 'lsn') OVER (ORDER BY n)
    FROM (SELECT row_number() OVER () AS n, data::jsonb AS d
            FROM pg_logical_slot_get_changes('regress_stream', NULL, NULL, VARIADIC options)) s
   ORDER BY n
$$;

-- one object per event, for committed work only
SELECT drivetribe.register_user(9201, 'Streamer') IS NOT NULL AS appended;
BEGIN;
SELECT drivetribe.register_user(9202, 'Rolled back') IS NOT NULL AS appended;
ROLLBACK;
-- a committed transaction with a rolled-back savepoint: the savepoint's
-- event is not in the stream, the others are, in seq order, one LSN
BEGIN;
SELECT drivetribe.register_user(9203, 'Kept') IS NOT NULL AS appended;
SAVEPOINT s;
SELECT drivetribe.register_user(9204, 'Undone') IS NOT NULL AS appended;
ROLLBACK TO SAVEPOINT s;
SELECT drivetribe.create_tribe(9201, 9201, 'Stream Tribe') IS NOT NULL AS appended;
SELECT drivetribe.join_tribe(9203, 9201) IS NOT NULL AS appended;
COMMIT;
-- other tables, other messages, a transaction without events: nothing
CREATE TABLE public.stream_other (x int);
INSERT INTO public.stream_other SELECT generate_series(1, 500);
SELECT pg_logical_emit_message(true, 'someone.else', 'hello') IS NOT NULL AS emitted;
SELECT * FROM pg_temp.changes();

-- every kind, with the names of its context and recipient_id where it
-- notifies someone
SELECT drivetribe.rename_user(9203, 'Kept Renamed') IS NOT NULL AS appended;
SELECT drivetribe.rename_tribe(9201, 'Stream Tribe II') IS NOT NULL AS appended;
SELECT drivetribe.follow_user(9203, 9201) IS NOT NULL AS appended;
SELECT drivetribe.post_article(92001, 9201, 9201, 'Streamed "quotes" and \ backslash') IS NOT NULL AS appended;
SELECT drivetribe.edit_article(92001, 'Streamed, edited') IS NOT NULL AS appended;
SELECT drivetribe.view_article(92001) IS NOT NULL AS appended;
SELECT drivetribe.view_article(92001, 9203) IS NOT NULL AS appended;
SELECT drivetribe.bump(92001, 9203) IS NOT NULL AS appended;
SELECT drivetribe.unbump(92001, 9203) IS NOT NULL AS appended;
SELECT drivetribe.post_comment(92001, 92001, 9203, E'multi\nline') IS NOT NULL AS appended;
SELECT drivetribe.delete_comment(92001) IS NOT NULL AS appended;
SELECT drivetribe.unfollow_user(9203, 9201) IS NOT NULL AS appended;
SELECT drivetribe.leave_tribe(9203, 9201) IS NOT NULL AS appended;
SELECT drivetribe.delete_article(92001) IS NOT NULL AS appended;
-- a no-op call appends nothing and streams nothing
SELECT drivetribe.leave_tribe(9203, 9201) IS NULL AS no_op;
SELECT * FROM pg_temp.changes();

-- kinds: only the kinds asked for
SELECT drivetribe.follow_user(9203, 9201) IS NOT NULL AS appended;
SELECT drivetribe.join_tribe(9203, 9201) IS NOT NULL AS appended;
SELECT drivetribe.rename_user(9201, 'Streamer Renamed') IS NOT NULL AS appended;
SELECT * FROM pg_temp.changes('kinds', 'user_followed,tribe_joined');

-- include_xid and include_commit_time add them; several events of one
-- transaction share xid, commit time and LSN
BEGIN;
SELECT drivetribe.register_user(9205, 'Batch One') IS NOT NULL AS appended;
SELECT drivetribe.register_user(9206, 'Batch Two') IS NOT NULL AS appended;
COMMIT;
SELECT count(*) AS objects, count(DISTINCT d ->> 'xid') AS xids,
       count(DISTINCT d ->> 'commit_time') AS commit_times, count(DISTINCT d ->> 'lsn') AS lsns,
       bool_and((d ->> 'commit_time')::timestamptz <= now()) AS commit_time_is_a_time
  FROM (SELECT data::jsonb AS d
          FROM pg_logical_slot_get_changes('regress_stream', NULL, NULL,
                                           'include_xid', 'true', 'include_commit_time', 'on')) s;

-- include_commits: a commit object after each transaction that emitted
-- something (events or a heartbeat), none for one that did not; its
-- end_lsn lies past its commit LSN (the position a consumer confirms)
BEGIN;
SELECT drivetribe.register_user(9208, 'Commit One') IS NOT NULL AS appended;
SELECT drivetribe.register_user(9209, 'Commit Two') IS NOT NULL AS appended;
COMMIT;
INSERT INTO public.stream_other VALUES (1);
SELECT drivetribe.heartbeat() IS NOT NULL AS sent;
SELECT n, d - 'seq' - 'event_id' - 'occurred_at' - 'lsn' - 'end_lsn' - 'context' AS object,
       (d ->> 'end_lsn')::pg_lsn > (d ->> 'lsn')::pg_lsn AS end_after_commit,
       d ->> 'lsn' = lag(d ->> 'lsn') OVER (ORDER BY n) AS same_lsn_as_previous
  FROM (SELECT row_number() OVER () AS n, data::jsonb AS d
          FROM pg_logical_slot_get_changes('regress_stream', NULL, NULL, 'include_commits', 'on')) s
 ORDER BY n;

-- bad options: 22023, naming the value
SELECT drivetribe.register_user(9207, 'Option Tester') IS NOT NULL AS appended;
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', 'article_bumped,nonsense');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'include_xid', 'maybe');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'include_commits', 'sometimes');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'format', 'v2');
-- an empty or blank kinds list, or an empty element, is an error (issue
-- 18: 1.6 read each as "no kind", and a consumer confirmed past every
-- event); white space around a kind is allowed
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', '');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', ',');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', ' ');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', E' ,\t, ');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', 'user_registered,');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', ',user_registered');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', 'user_registered,, article_bumped');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', 'user_registered, ,article_bumped');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', 'user_registered article_bumped');
SELECT count(*) FROM pg_logical_slot_peek_changes('regress_stream', NULL, NULL, 'kinds', ' user_registered , article_bumped ');
-- the peeks consumed nothing
SELECT object FROM pg_temp.changes();

SELECT pg_drop_replication_slot('regress_stream');
DROP TABLE public.stream_other;
\else
\echo 'skipped: logical decoding with the drivetribe plugin is not possible on this server'
\endif
