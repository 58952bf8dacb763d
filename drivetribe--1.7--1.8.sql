/* drivetribe--1.7--1.8.sql: from the demo to your own server (issue 19) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.8'" to load this file. \quit

------------------------------------------------------------------------
-- the operator's view: drivetribe.status checks the server's settings
------------------------------------------------------------------------

------------------------------------------------------------------------
-- a catalog a person can browse
------------------------------------------------------------------------

------------------------------------------------------------------------
-- reads: keyset paging that cannot be mistyped
------------------------------------------------------------------------
