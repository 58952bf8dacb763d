--
-- 10_users: register_user, rename_user, their errors and no-ops.
--
-- Idiom: SELECT * FROM dt_ev(<write call>) shows what the call returned
-- (ret: new / existing / NULL), how many events it appended, and the event.
-- After a rejected call, the next line prints the SQLSTATE psql saw and
-- whether the log and every projection are exactly as before.
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- Success: one user_registered event each; body = the name.
SELECT * FROM dt_ev(drivetribe.register_user(1, 'alice'));
SELECT * FROM dt_ev(drivetribe.register_user(2, 'bob'));
SELECT * FROM dt_ev(drivetribe.register_user(3, 'carol'));
SELECT * FROM dt_ev(drivetribe.register_user(4, 'dave'));
-- Exactly 64 characters (128 bytes): accepted, limits count characters.
SELECT * FROM dt_ev(drivetribe.register_user(5, repeat(chr(233), 64)));
SELECT * FROM dt_ev(drivetribe.register_user(6, 'frank'));
-- One character is enough; names are stored as given (not trimmed).
SELECT * FROM dt_ev(drivetribe.register_user(7, chr(937)));
SELECT * FROM dt_ev(drivetribe.register_user(8, '  spaced  out '));
-- 64 ASCII characters: accepted.
SELECT * FROM dt_ev(drivetribe.register_user(9, repeat('g', 64)));

SELECT user_id, name, length(name) AS chars, octet_length(name) AS bytes
FROM drivetribe.user_stats ORDER BY user_id;

-- Each event has a seq growing with each append, a generated event_id, a time.
SELECT count(*) AS events,
       count(DISTINCT seq) AS seqs,
       count(DISTINCT event_id) AS event_ids,
       count(occurred_at) AS times,
       bool_and(seq > 0) AS seq_positive
FROM drivetribe.events;
SELECT array_agg(user_id ORDER BY seq) AS users_in_seq_order FROM drivetribe.events;

-- Errors of register_user.
SELECT drivetribe.register_user(NULL, 'zed');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(10, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(NULL, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(10, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(10, ' ');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(10, E' \t\n\r  ');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- other white space: vertical tab, no-break space U+00A0, em space U+2003,
-- ideographic space U+3000 (Unicode White_Space).  Each in a transaction
-- that is rolled back, so that a wrong acceptance cannot leak further.
BEGIN;
SELECT drivetribe.register_user(10, chr(11));
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT drivetribe.register_user(10, chr(160));
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT drivetribe.register_user(10, chr(8195) || chr(12288));
\echo :SQLSTATE
ROLLBACK;
SELECT dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(10, repeat('x', 65));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(10, repeat(chr(233), 65));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(0, 'zed');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(-10, 'zed');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- id taken by register_user: with another name, and with the same name
SELECT drivetribe.register_user(1, 'alice2');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(1, 'alice');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: NULL before bad value before taken id
SELECT drivetribe.register_user(NULL, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(1, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.register_user(-1, 'alice');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- rename_user: event user_renamed, body = the new name; reads show it at once.
SELECT * FROM dt_ev(drivetribe.rename_user(2, 'Bob'));
SELECT user_id, name FROM drivetribe.user_stats WHERE user_id = 2;
SELECT * FROM dt_ev(drivetribe.rename_user(3, '  carol  '));
SELECT user_id, name, length(name) AS chars FROM drivetribe.user_stats WHERE user_id = 3;
SELECT * FROM dt_ev(drivetribe.rename_user(3, 'carol'));
-- rename to a 64-character multibyte name
SELECT * FROM dt_ev(drivetribe.rename_user(9, repeat(chr(8364), 64)));
SELECT user_id, length(name) AS chars, octet_length(name) AS bytes FROM drivetribe.user_stats WHERE user_id = 9;

-- No-op: renaming to the current name returns NULL and appends nothing.
SELECT * FROM dt_ev(drivetribe.rename_user(2, 'Bob'));
SELECT * FROM dt_ev(drivetribe.rename_user(5, repeat(chr(233), 64)));

-- Errors of rename_user.
SELECT drivetribe.rename_user(NULL, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(2, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(2, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(2, E'\t');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(2, repeat('y', 65));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(2, repeat(chr(8364), 65));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(0, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(-2, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_user(99, 'nobody');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: a bad value is reported before an unknown user
SELECT drivetribe.rename_user(99, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

SELECT * FROM drivetribe.user_stats ORDER BY user_id;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
