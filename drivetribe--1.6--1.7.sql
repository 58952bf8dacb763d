/* drivetribe--1.6--1.7.sql: no role can stall the extension (issue 18) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.7'" to load this file. \quit

------------------------------------------------------------------------
-- ranking: a score that lags its counts by at most 2 s in every case
------------------------------------------------------------------------

------------------------------------------------------------------------
-- comments: paging that never skips a comment that commits late
------------------------------------------------------------------------

------------------------------------------------------------------------
-- privileges, the log's guard, pg_cron jobs and hints, small edges
------------------------------------------------------------------------

------------------------------------------------------------------------
-- the stream
------------------------------------------------------------------------

------------------------------------------------------------------------
-- updates under load: ALTER EXTENSION drivetribe UPDATE runs every script
-- of its path in one transaction while writers keep calling the library.
-- Writers take their table locks first, in the order the scripts of the
-- path lock tables against them (src/locks.c, update_locks; docs/design.md
-- "Lock order").  A statement here that locks a table of the schema in
-- SHARE mode or stronger (ALTER TABLE, DROP INDEX, CREATE INDEX without
-- CONCURRENTLY, LOCK TABLE, ...) must be listed there, in this script's
-- order, with a relation this script creates in version_marks;
-- test/e2e/upgrade_under_load.sh checks the list against pg_locks.
-- Nothing to run here.
------------------------------------------------------------------------
