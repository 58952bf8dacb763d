--
-- 82_malformed_rows: issue 8, item 3.  The owner may INSERT into
-- drivetribe.events (pg_restore's COPY must), and 1.0 accepted rows that
-- the replay behind verify() and rebuild() then dereferenced and crashed
-- on.  Every row is now checked when it is inserted (CHECK events_valid:
-- 23514 naming the seq, the kind and what is wrong), also under
-- session_replication_role = replica and by COPY; and a row the replay
-- cannot apply (one that got in with the check dropped deliberately, or
-- from a 1.0 log) makes verify() and rebuild() raise data_corrupted
-- (XX001) naming its seq, and the server stays up.
--
-- Rows are given explicit seqs far above the log's, so that messages do
-- not depend on earlier tests.
--
\pset null NULL
\set orig_db :DBNAME
SELECT pg_postmaster_start_time() AS server_started \gset
SELECT dt_mark() IS NOT NULL AS marked;
SELECT max(seq) < 900000000 AS seqs_below_ours FROM drivetribe.events;
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = 'drivetribe.events'::regclass AND contype = 'c' ORDER BY conname;

-- A user_renamed without its new name (1.0: verify() and rebuild() crashed).
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000001, 'e8200000-0000-4000-8000-000000000001', 'user_renamed', now(), 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- (the rest without DETAIL and HINT, which are the same every time)
\set VERBOSITY terse
-- a user_registered without its user
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000002, 'e8200000-0000-4000-8000-000000000002', 'user_registered', now(), NULL, 'nobody');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- ids that are not positive
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000003, 'e8200000-0000-4000-8000-000000000003', 'user_registered', now(), -1, 'negative');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, tribe_id, article_id, target_id)
VALUES (900000004, 'e8200000-0000-4000-8000-000000000004', 'article_viewed', now(), 10, 0, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, target_id, recipient_id)
VALUES (900000005, 'e8200000-0000-4000-8000-000000000005', 'tribe_joined', now(), 2, -10, 1, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id)
VALUES (900000006, 'e8200000-0000-4000-8000-000000000006', 'article_bumped', now(), 2, 10, 100, 1, -1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- a kind that is not an event kind (the 1.0 CHECK on kind already refused
-- it; the validator refuses it too)
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000007, 'e8200000-0000-4000-8000-000000000007', 'user_deleted', now(), 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe_internal.event_is_valid(900000007, 'user_deleted', 1, NULL, NULL, NULL, NULL, NULL, NULL, '{}');
SELECT :'SQLSTATE' AS sqlstate;
-- titles, names and bodies outside SPEC's limits
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body)
VALUES (900000008, 'e8200000-0000-4000-8000-000000000008', 'article_posted', now(), 1, 10, 820, repeat('t', 301));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body)
VALUES (900000009, 'e8200000-0000-4000-8000-000000000009', 'article_posted', now(), 1, 10, 820, '   ');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body)
VALUES (900000010, 'e8200000-0000-4000-8000-000000000010', 'article_edited', now(), 1, 10, 100, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- (no-break space and ideographic space are blank too)
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body)
VALUES (900000011, 'e8200000-0000-4000-8000-000000000011', 'article_edited', now(), 1, 10, 100, chr(160) || chr(12288));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000012, 'e8200000-0000-4000-8000-000000000012', 'user_renamed', now(), 1, repeat('n', 65));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000013, 'e8200000-0000-4000-8000-000000000013', 'tribe_renamed', now(), NULL, 'no tribe');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, comment_id, target_id, recipient_id, body)
VALUES (900000014, 'e8200000-0000-4000-8000-000000000014', 'comment_posted', now(), 2, 10, 100, 8200, 1, 1, repeat('c', 10001));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, comment_id, target_id, recipient_id)
VALUES (900000015, 'e8200000-0000-4000-8000-000000000015', 'comment_posted', now(), 2, 10, 100, 8200, 1, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- an article_deleted that does not say how many bumps it took away
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, context)
VALUES (900000016, 'e8200000-0000-4000-8000-000000000016', 'article_deleted', now(), 1, 10, 100, '{}');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, context)
VALUES (900000017, 'e8200000-0000-4000-8000-000000000017', 'article_deleted', now(), 1, 10, 100, '{"bumps": -1}');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, context)
VALUES (900000018, 'e8200000-0000-4000-8000-000000000018', 'article_deleted', now(), 1, 10, 100, '{"bumps": "2"}');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, context)
VALUES (900000019, 'e8200000-0000-4000-8000-000000000019', 'article_deleted', now(), 1, 10, 100, '{"bumps": 1.5}');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- a self-follow
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, target_id, recipient_id)
VALUES (900000020, 'e8200000-0000-4000-8000-000000000020', 'user_followed', now(), 1, 1, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, target_id)
VALUES (900000021, 'e8200000-0000-4000-8000-000000000021', 'user_unfollowed', now(), 2, 2);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- a recipient other than the target, and a missing recipient
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id)
VALUES (900000022, 'e8200000-0000-4000-8000-000000000022', 'article_bumped', now(), 2, 10, 100, 1, 3);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, target_id)
VALUES (900000023, 'e8200000-0000-4000-8000-000000000023', 'tribe_joined', now(), 2, 10, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- fields the kind does not have
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, article_id, body)
VALUES (900000024, 'e8200000-0000-4000-8000-000000000024', 'user_registered', now(), 820, 100, 'extra');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, target_id, recipient_id)
VALUES (900000025, 'e8200000-0000-4000-8000-000000000025', 'tribe_left', now(), 2, 10, 1, 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id, body)
VALUES (900000026, 'e8200000-0000-4000-8000-000000000026', 'article_bumped', now(), 2, 10, 100, 1, 1, 'a body');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- a context that is not a JSON object
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body, context)
VALUES (900000027, 'e8200000-0000-4000-8000-000000000027', 'user_registered', now(), 820, 'ctx', '[1]');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- several rows in one statement: the first bad one is named
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000028, 'e8200000-0000-4000-8000-000000000028', 'user_registered', now(), 821, 'fine'),
       (900000029, 'e8200000-0000-4000-8000-000000000029', 'user_renamed', now(), 821, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- With the seq from the log's sequence (the column default), the message
-- names the seq the row was given.
DO $$
BEGIN
  INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id)
  VALUES ('e8200000-0000-4000-8000-000000000030', 'user_renamed', now(), 1);
EXCEPTION WHEN check_violation THEN
  RAISE NOTICE 'names its seq: %', SQLERRM = format(
    'malformed drivetribe event seq %s (user_renamed): body is missing',
    currval('drivetribe.event_seq'));
END
$$;
SELECT dt_unchanged() AS unchanged;

-- session_replication_role = replica switches off ordinary triggers, not
-- the check.
SET session_replication_role = replica;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000031, 'e8200000-0000-4000-8000-000000000031', 'user_renamed', now(), 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000032, 'e8200000-0000-4000-8000-000000000032', 'user_registered', now(), NULL, 'nobody');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id)
VALUES (900000033, 'e8200000-0000-4000-8000-000000000033', 'article_bumped', now(), 2, 10, 100, 1, 3);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
RESET session_replication_role;

-- COPY, as pg_restore loads the log, is checked too.
COPY drivetribe.events (seq, event_id, kind, occurred_at, user_id, body) FROM stdin;
900000034	e8200000-0000-4000-8000-000000000034	user_registered	2026-01-01 00:00:00+00	822	copied
900000035	e8200000-0000-4000-8000-000000000035	user_renamed	2026-01-01 00:00:00+00	822	\N
\.
-- (psql sets no SQLSTATE variable for a failed COPY: the message above is
-- the check's; neither row was loaded)
SELECT dt_unchanged() AS unchanged;
SELECT count(*) AS loaded FROM drivetribe.events WHERE seq IN (900000034, 900000035);
\set VERBOSITY default

-- A well-formed row passes the check (pg_restore loads every row the
-- write API appended).  One that the projections do not follow is a
-- difference verify() reports; one that refers to what no earlier event
-- created is corrupt: verify() and rebuild() raise data_corrupted naming
-- its seq.  (Rolled back: the log keeps no row.)
BEGIN;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000036, 'e8200000-0000-4000-8000-000000000036', 'user_registered', now(), 823, 'by hand');
SELECT projection, key FROM drivetribe.verify();
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
VALUES (900000037, 'e8200000-0000-4000-8000-000000000037', 'user_renamed', now(), 824, 'ghost');
SAVEPOINT s;
SELECT * FROM drivetribe.verify();
ROLLBACK TO SAVEPOINT s;
SELECT drivetribe.rebuild();
ROLLBACK TO SAVEPOINT s;
SELECT 1 AS still_connected;
ROLLBACK;
SELECT dt_unchanged() AS unchanged;

-- The documented override: a superuser who means it drops the check in
-- one transaction.  Each malformed row that then gets in makes verify()
-- and rebuild() raise XX001 naming its seq, never crash.
-- dt_replay_of(insert): in a subtransaction that is always rolled back,
-- run the INSERT, then verify(), then rebuild(); the SQLSTATE (state)
-- and message of each.
CREATE FUNCTION dt_replay_of(ins text) RETURNS TABLE (step text, state text, message text)
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  BEGIN
    EXECUTE ins;
    FOREACH step IN ARRAY ARRAY['verify', 'rebuild'] LOOP
      BEGIN
        IF step = 'verify' THEN
          SELECT count(*) INTO n FROM drivetribe.verify();
        ELSE
          n := drivetribe.rebuild();
        END IF;
        state := '00000';
        message := 'returned ' || n;
      EXCEPTION WHEN OTHERS THEN
        state := SQLSTATE;
        message := SQLERRM;
      END;
      RETURN NEXT;
    END LOOP;
    RAISE EXCEPTION 'dt_replay_of: roll back';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
END
$$;
BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
ALTER TABLE drivetribe.events DROP CONSTRAINT events_valid;
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
  VALUES (900000041, 'e8200000-0000-4000-8000-000000000041', 'user_renamed', now(), 1)$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
  VALUES (900000042, 'e8200000-0000-4000-8000-000000000042', 'user_registered', now(), NULL, 'nobody')$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, body)
  VALUES (900000043, 'e8200000-0000-4000-8000-000000000043', 'user_registered', now(), -5, 'negative')$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, context)
  VALUES (900000044, 'e8200000-0000-4000-8000-000000000044', 'article_deleted', now(), 1, 10, 100, '{}')$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, comment_id, target_id, recipient_id)
  VALUES (900000045, 'e8200000-0000-4000-8000-000000000045', 'comment_posted', now(), 2, 10, 100, 8200, 1, 1)$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, target_id, recipient_id)
  VALUES (900000046, 'e8200000-0000-4000-8000-000000000046', 'user_followed', now(), 1, 1, 1)$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id, context)
  VALUES (900000047, 'e8200000-0000-4000-8000-000000000047', 'article_bumped', now(), 2, 10, 100, 1, 3, '"a string"')$$);
SELECT * FROM dt_replay_of($$INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, recipient_id)
  VALUES (900000048, 'e8200000-0000-4000-8000-000000000048', 'article_bumped', now(), 2, 10, 999999, 1, 1)$$);
-- the HINT of data_corrupted is the way out: with the override, disable
-- the immutability trigger, delete the row, enable it ALWAYS again.
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000049, 'e8200000-0000-4000-8000-000000000049', 'user_renamed', now(), 1);
SELECT * FROM drivetribe.verify();
ROLLBACK;
SELECT pg_postmaster_start_time() = :'server_started' AS same_server, 1 AS still_up;
SELECT dt_unchanged() AS unchanged;
-- the check is back, as it was
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = 'drivetribe.events'::regclass AND contype = 'c' ORDER BY conname;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000050, 'e8200000-0000-4000-8000-000000000050', 'user_renamed', now(), 1);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
ALTER TABLE drivetribe.events DROP CONSTRAINT events_valid;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000051, 'e8200000-0000-4000-8000-000000000051', 'user_renamed', now(), 1);
SAVEPOINT s;
SELECT * FROM drivetribe.verify();
ROLLBACK TO SAVEPOINT s;
ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable;
DELETE FROM drivetribe.events WHERE seq = 900000051;
ALTER TABLE drivetribe.events ENABLE ALWAYS TRIGGER events_are_immutable;
SELECT * FROM drivetribe.verify();
ROLLBACK;
SELECT dt_unchanged() AS unchanged;
DROP FUNCTION dt_replay_of(text);

-- A 1.0 log that already holds a malformed row (only its owner could have
-- inserted it) still upgrades: a WARNING names the row, the check stays
-- NOT VALID (new rows are checked all the same), verify() reports the row
-- as data_corrupted; removed as the HINT says, the check validates.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_dt_upgrade_malformed;
RESET client_min_messages;
CREATE DATABASE regress_dt_upgrade_malformed;
\c regress_dt_upgrade_malformed
\pset null NULL
\set SHOW_CONTEXT never
CREATE EXTENSION drivetribe VERSION '1.0';
SELECT drivetribe.register_user(1, 'alice') AS seq;
-- (bob first: since 1.7 the write API appends nothing behind a seq already
-- in the log, and the owner's row below has a seq far above the sequence)
SELECT drivetribe.register_user(2, 'bob') AS seq;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000061, 'e8200000-0000-4000-8000-000000000061', 'user_renamed', now(), 1);
ALTER EXTENSION drivetribe UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'drivetribe';
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = 'drivetribe.events'::regclass AND contype = 'c' ORDER BY conname;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id)
VALUES (900000062, 'e8200000-0000-4000-8000-000000000062', 'user_renamed', now(), 2);
SELECT count(*) AS events FROM drivetribe.events;
SELECT * FROM drivetribe.verify();
SELECT drivetribe.rebuild();
SELECT name FROM drivetribe.user_stats ORDER BY user_id;
BEGIN;
SET LOCAL drivetribe.allow_log_ddl = on;
ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable;
DELETE FROM drivetribe.events WHERE seq = 900000061;
ALTER TABLE drivetribe.events ENABLE ALWAYS TRIGGER events_are_immutable;
ALTER TABLE drivetribe.events VALIDATE CONSTRAINT events_valid;
COMMIT;
SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = 'drivetribe.events'::regclass AND contype = 'c' ORDER BY conname;
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'drivetribe.events'::regclass AND NOT tgisinternal ORDER BY tgname;
SELECT * FROM drivetribe.verify();
SELECT drivetribe.rebuild() AS replayed;
\c :orig_db
DROP DATABASE regress_dt_upgrade_malformed;
SELECT pg_postmaster_start_time() = :'server_started' AS same_server;
SELECT dt_unchanged() AS unchanged;
