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
