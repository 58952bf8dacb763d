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

------------------------------------------------------------------------
-- comments that point to the project's own docs (issue 19, item 1): the
-- contract a user reads is docs/reference.md
------------------------------------------------------------------------
COMMENT ON FUNCTION drivetribe.score(bigint, bigint, bigint, timestamptz) IS
  'the rank score of an article from its bumps, comments, views and posting time: log10(greatest(10*bumps + 5*comments + views, 1)) + epoch(posted_at)/45000 (docs/reference.md, "Ranking"; stored in article_ranks.score)';
COMMENT ON COLUMN drivetribe.events.kind IS 'one of the 16 event kinds (docs/reference.md, "Identifiers and events")';
COMMENT ON TABLE drivetribe.article_ranks IS
  'internal (projection): the rank of every live article, the ranking formula over its counts, set by the rank worker at most about drivetribe.fold_interval after a change';
COMMENT ON COLUMN drivetribe.article_view.score IS 'the rank score (what feeds order by): the ranking formula over the counts, at most 2 s behind them; page with the exact float8 value';
