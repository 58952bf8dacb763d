--
-- 20_tribes: create_tribe, rename_tribe, join_tribe, leave_tribe.
-- (Idioms: see 10_users.)
--
\pset null NULL
SELECT dt_mark() IS NOT NULL AS marked;

-- create_tribe: event tribe_created (user_id = owner, body = name); the
-- owner becomes a member (no second event).
SELECT * FROM dt_ev(drivetribe.create_tribe(10, 1, 'Supercars'));
SELECT * FROM dt_ev(drivetribe.create_tribe(11, 2, 'Classics'));
SELECT * FROM dt_ev(drivetribe.create_tribe(12, 3, 'Off-road'));
-- exactly 100 characters (200 bytes)
SELECT * FROM dt_ev(drivetribe.create_tribe(13, 5, repeat(chr(252), 100)));
-- one character; any user may own several tribes
SELECT * FROM dt_ev(drivetribe.create_tribe(14, 1, 'X'));

SELECT tribe_id, left(name, 20) AS name, length(name) AS chars, owner_id, members, articles
FROM drivetribe.tribe_stats ORDER BY tribe_id;
SELECT user_id, tribes FROM drivetribe.user_stats WHERE user_id IN (1, 2, 3, 4, 5) ORDER BY user_id;

-- Errors of create_tribe.
SELECT drivetribe.create_tribe(NULL, 1, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, NULL, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 1, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(0, 1, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(-20, 1, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 0, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, -1, 'T');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 1, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 1, E'\n\n');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 1, repeat('t', 101));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 1, repeat(chr(252), 101));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(20, 99, 'Ghost town');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(10, 2, 'Supercars again');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(10, 1, 'Supercars');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
-- check order: value before unknown owner, unknown owner before taken id
SELECT drivetribe.create_tribe(20, 99, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.create_tribe(10, 99, 'Supercars');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- rename_tribe: event tribe_renamed (tribe_id, target_id = owner, body = name).
SELECT * FROM dt_ev(drivetribe.rename_tribe(11, 'Classic Cars'));
SELECT tribe_id, name FROM drivetribe.tribe_stats WHERE tribe_id = 11;
-- no-op: same name
SELECT * FROM dt_ev(drivetribe.rename_tribe(11, 'Classic Cars'));
SELECT * FROM dt_ev(drivetribe.rename_tribe(13, repeat(chr(252), 100)));

-- Errors of rename_tribe.
SELECT drivetribe.rename_tribe(NULL, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(11, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(11, '');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(11, '   ');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(11, repeat('t', 101));
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(0, 'x');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.rename_tribe(99, 'Nowhere');
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- join_tribe: event tribe_joined (user_id = member, target_id and
-- recipient_id = the tribe's owner).
SELECT * FROM dt_ev(drivetribe.join_tribe(4, 11));
SELECT * FROM dt_ev(drivetribe.join_tribe(1, 11));
SELECT * FROM dt_ev(drivetribe.join_tribe(3, 10));
SELECT * FROM dt_ev(drivetribe.join_tribe(6, 12));
-- no-ops: already a member; the owner of a tribe is a member
SELECT * FROM dt_ev(drivetribe.join_tribe(4, 11));
SELECT * FROM dt_ev(drivetribe.join_tribe(1, 10));
SELECT * FROM dt_ev(drivetribe.join_tribe(5, 13));

-- leave_tribe: event tribe_left (target_id = owner, no recipient).
SELECT * FROM dt_ev(drivetribe.leave_tribe(6, 12));
-- no-ops: not a member (any more), never a member
SELECT * FROM dt_ev(drivetribe.leave_tribe(6, 12));
SELECT * FROM dt_ev(drivetribe.leave_tribe(2, 10));
-- the owner may leave their own tribe; and join it again
SELECT * FROM dt_ev(drivetribe.leave_tribe(5, 13));
SELECT * FROM dt_ev(drivetribe.leave_tribe(1, 14));
SELECT * FROM dt_ev(drivetribe.join_tribe(1, 14));
SELECT * FROM dt_ev(drivetribe.leave_tribe(1, 14));

-- Errors of join_tribe and leave_tribe.
SELECT drivetribe.join_tribe(NULL, 10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.join_tribe(4, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.join_tribe(0, 10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.join_tribe(4, -10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.join_tribe(99, 10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.join_tribe(4, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(NULL, 10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(4, NULL);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(-4, 10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(4, 0);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(99, 10);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;
SELECT drivetribe.leave_tribe(4, 99);
SELECT :'SQLSTATE' AS sqlstate, dt_unchanged() AS unchanged;

-- Members: 10 = {1, 3}, 11 = {1, 2, 4}, 12 = {3}, 13 = {}, 14 = {}.
SELECT tribe_id, left(name, 20) AS name, owner_id, members, articles
FROM drivetribe.tribe_stats ORDER BY tribe_id;
SELECT user_id, tribes FROM drivetribe.user_stats ORDER BY user_id;
SELECT kind, count(*) FROM drivetribe.events GROUP BY kind ORDER BY kind;
SELECT * FROM drivetribe.verify();
