--
-- 97_encodings: issue 8, item 6.  Blank means only Unicode white space,
-- whatever the database encoding: 1.0 read the bytes of single-byte
-- encodings as code points, so in WIN1252 '…' (0x85, NEL as a code point)
-- and in WIN866 'а' (0xA0) or KOI8R '═' (0xA0, NBSP as a code point) were
-- refused as blank, while a real NBSP (0xFF in WIN866, 0x9A in KOI8R)
-- passed; in EUC_JP the ideographic space U+3000 passed.  One database per
-- encoding; this file is UTF-8 and the client encoding UTF8, so the server
-- converts every literal.  Lengths count characters of the database
-- encoding.  The databases are dropped at the end.
--
\set orig_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_dt_win1252;
DROP DATABASE IF EXISTS regress_dt_win866;
DROP DATABASE IF EXISTS regress_dt_koi8r;
DROP DATABASE IF EXISTS regress_dt_eucjp;
RESET client_min_messages;
CREATE DATABASE regress_dt_win1252 ENCODING 'WIN1252' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE regress_dt_win866 ENCODING 'WIN866' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE regress_dt_koi8r ENCODING 'KOI8R' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE regress_dt_eucjp ENCODING 'EUC_JP' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';

-- WIN1252
\c regress_dt_win1252
SET client_encoding = 'UTF8';
\pset null NULL
SELECT getdatabaseencoding() AS encoding;
CREATE EXTENSION drivetribe;
-- the bytes: '…' is 0x85 (NEL as a code point), NBSP 0xA0
SELECT encode(convert_to('…', 'WIN1252'), 'hex') AS ellipsis,
       encode(convert_to(U&'\00A0', 'WIN1252'), 'hex') AS nbsp;
-- refused as blank on 1.0: now accepted
SELECT drivetribe.register_user(1, '…') AS seq;
SELECT drivetribe.register_user(2, '……') AS seq;
SELECT drivetribe.create_tribe(10, 1, '…') AS seq;
-- letters of the upper half
SELECT drivetribe.register_user(3, 'Ölçü Žák') AS seq;
SELECT drivetribe.register_user(4, 'Œuvre ‰ €') AS seq;
SELECT drivetribe.post_article(100, 1, 10, '… and then') AS seq;
-- NBSP (0xA0) only: blank
SELECT drivetribe.register_user(5, U&'\00A0');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.register_user(5, U&'\00A0 \00A0' || E'\t');
SELECT :'SQLSTATE' AS sqlstate;
-- 64 characters of one byte each: the limit counts characters
SELECT drivetribe.register_user(6, repeat('…', 64)) AS seq;
SELECT drivetribe.register_user(7, repeat('…', 65));
SELECT :'SQLSTATE' AS sqlstate;
SELECT user_id, name, length(name) AS chars, octet_length(name) AS bytes
FROM drivetribe.user_stats ORDER BY user_id;
SELECT name FROM drivetribe.tribe_stats;
SELECT title, author_name, tribe_name FROM drivetribe.article_view;
SELECT * FROM drivetribe.verify();

-- WIN866
\c regress_dt_win866
SET client_encoding = 'UTF8';
\pset null NULL
SELECT getdatabaseencoding() AS encoding;
CREATE EXTENSION drivetribe;
-- the bytes: Cyrillic 'а' is 0xA0 (NBSP as a code point), NBSP 0xFF
SELECT encode(convert_to('а', 'WIN866'), 'hex') AS cyrillic_a,
       encode(convert_to(U&'\00A0', 'WIN866'), 'hex') AS nbsp;
-- refused as blank on 1.0: now accepted
SELECT drivetribe.register_user(1, 'а') AS seq;
SELECT drivetribe.register_user(2, 'Алёша') AS seq;
SELECT drivetribe.create_tribe(10, 1, 'Трибуна ░▒▓') AS seq;
-- NBSP is 0xFF here: blank (accepted on 1.0)
SELECT drivetribe.register_user(3, U&'\00A0');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.register_user(3, U&'\00A0 \00A0');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.rename_user(1, U&'\00A0');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.register_user(3, repeat('я', 64)) AS seq;
SELECT drivetribe.register_user(4, repeat('я', 65));
SELECT :'SQLSTATE' AS sqlstate;
SELECT user_id, name, length(name) AS chars FROM drivetribe.user_stats ORDER BY user_id;
SELECT name FROM drivetribe.tribe_stats;
SELECT * FROM drivetribe.verify();

-- KOI8R
\c regress_dt_koi8r
SET client_encoding = 'UTF8';
\pset null NULL
SELECT getdatabaseencoding() AS encoding;
CREATE EXTENSION drivetribe;
-- the bytes: '═' is 0xA0 (NBSP as a code point), NBSP 0x9A
SELECT encode(convert_to('═', 'KOI8R'), 'hex') AS box_double,
       encode(convert_to(U&'\00A0', 'KOI8R'), 'hex') AS nbsp;
-- refused as blank on 1.0: now accepted
SELECT drivetribe.register_user(1, '═') AS seq;
SELECT drivetribe.register_user(2, 'Пётр') AS seq;
SELECT drivetribe.create_tribe(10, 1, '═══') AS seq;
-- NBSP is 0x9A here: blank (accepted on 1.0)
SELECT drivetribe.register_user(3, U&'\00A0');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.register_user(3, U&'\00A0\00A0 ');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.rename_tribe(10, U&'\00A0');
SELECT :'SQLSTATE' AS sqlstate;
SELECT user_id, name, length(name) AS chars FROM drivetribe.user_stats ORDER BY user_id;
SELECT name FROM drivetribe.tribe_stats;
SELECT * FROM drivetribe.verify();

-- EUC_JP
\c regress_dt_eucjp
SET client_encoding = 'UTF8';
\pset null NULL
SELECT getdatabaseencoding() AS encoding;
CREATE EXTENSION drivetribe;
-- the ideographic space U+3000 only: blank (accepted on 1.0)
SELECT encode(convert_to(U&'\3000', 'EUC_JP'), 'hex') AS ideographic_space;
SELECT drivetribe.register_user(1, U&'\3000');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.register_user(1, U&'\3000 \3000');
SELECT :'SQLSTATE' AS sqlstate;
-- Japanese names and titles are accepted; limits count characters
SELECT drivetribe.register_user(1, '山田太郎') AS seq;
SELECT drivetribe.register_user(2, U&'\3000' || 'さくら' || U&'\3000') AS seq;
SELECT drivetribe.create_tribe(10, 1, '車好き') AS seq;
SELECT drivetribe.post_article(100, 1, 10, '新しい車') AS seq;
SELECT drivetribe.post_comment(1000, 100, 2, 'いいね！') AS seq;
SELECT drivetribe.edit_article(100, U&'\3000');
SELECT :'SQLSTATE' AS sqlstate;
SELECT drivetribe.register_user(3, repeat('字', 64)) AS seq;
SELECT drivetribe.register_user(4, repeat('字', 65));
SELECT :'SQLSTATE' AS sqlstate;
SELECT user_id, name, length(name) AS chars FROM drivetribe.user_stats ORDER BY user_id;
SELECT title, author_name, tribe_name, comments FROM drivetribe.article_view;
SELECT comment_id, author_name, body FROM drivetribe.article_comments(100);
SELECT * FROM drivetribe.verify();

\c :orig_db
DROP DATABASE regress_dt_win1252;
DROP DATABASE regress_dt_win866;
DROP DATABASE regress_dt_koi8r;
DROP DATABASE regress_dt_eucjp;
SELECT count(*) AS databases_left FROM pg_database WHERE datname LIKE 'regress_dt_%';
