--
-- 80_immutability: drivetribe.events is never updated, deleted or
-- truncated, not even by the superuser who owns it, not even with
-- session_replication_role = replica (which disables ordinary triggers).
--
\pset null NULL
-- (a boolean, not the role's name: any superuser may run the suite)
SELECT rolsuper AS i_am_superuser FROM pg_roles WHERE rolname = current_user;
SELECT pg_get_userbyid(relowner) = current_user AS i_own_events
FROM pg_class WHERE oid = 'drivetribe.events'::regclass;
SELECT dt_mark() IS NOT NULL AS marked;

UPDATE drivetribe.events SET kind = kind WHERE seq = (SELECT min(seq) FROM drivetribe.events);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
UPDATE drivetribe.events SET body = 'rewritten history' WHERE body IS NOT NULL;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
UPDATE drivetribe.events SET event_id = event_id;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
DELETE FROM drivetribe.events WHERE seq = (SELECT max(seq) FROM drivetribe.events);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
DELETE FROM drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
TRUNCATE drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
TRUNCATE drivetribe.events CASCADE;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
WITH d AS (DELETE FROM drivetribe.events RETURNING *) SELECT count(*) FROM d;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- statements that match no row fail too
UPDATE drivetribe.events SET kind = kind WHERE false;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
DELETE FROM drivetribe.events WHERE false;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

SET session_replication_role = replica;
UPDATE drivetribe.events SET kind = kind WHERE seq = (SELECT min(seq) FROM drivetribe.events);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
DELETE FROM drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
TRUNCATE drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
RESET session_replication_role;

SET session_replication_role = local;
DELETE FROM drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
TRUNCATE drivetribe.events;
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
RESET session_replication_role;

-- A failed attempt inside a transaction leaves nothing behind either.
BEGIN;
SAVEPOINT s;
DELETE FROM drivetribe.events;
ROLLBACK TO SAVEPOINT s;
SELECT count(*) > 0 AS events_still_there FROM drivetribe.events;
COMMIT;
SELECT dt_unchanged() AS unchanged;

-- Appending still works afterwards.
SELECT * FROM dt_ev(drivetribe.register_user(30, 'after the attempts'));
SELECT * FROM drivetribe.verify();
