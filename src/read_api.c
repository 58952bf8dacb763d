/*-------------------------------------------------------------------------
 *
 * read_api.c
 *	  Reads that run a plan prepared once per backend.
 *
 * drivetribe.article(id) and drivetribe.has_bumped(article_id, user_id)
 * are the reads an application makes on every page.  As SQL functions
 * over the views, every call (with the simple query protocol) planned the
 * joins of article_view anew; here the query is prepared on a backend's
 * first call and kept (statements.c), so a call costs the function scan
 * and the execution of a cached plan: a few primary-key probes.  Plan
 * invalidation re-plans after DDL, and the result is exactly the view's.
 *
 * Both read under the caller's snapshot (read-only SPI): STABLE, like the
 * views they stand for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"

#include "counters.h"

/*
 * drivetribe.article(article_id) returns SETOF drivetribe.article_view:
 * the live article's card, or no row.  STRICT: a NULL id has no row.
 */
PG_FUNCTION_INFO_V1(drivetribe_article);
Datum
drivetribe_article(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		v[1] = {PG_GETARG_DATUM(0)};

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_rank_worker_wanted_by_reader();
	dt_exec(DT_SQL_ARTICLE_CARD, v, NULL, true, 1);
	dt_put_result_rows(rsinfo, "article()");
	SPI_finish();
	return (Datum) 0;
}

/*
 * drivetribe.has_bumped(article_id, user_id) returns boolean: whether the
 * user currently bumps the live article.  STRICT: NULL for a NULL id.
 */
PG_FUNCTION_INFO_V1(drivetribe_has_bumped);
Datum
drivetribe_has_bumped(PG_FUNCTION_ARGS)
{
	Datum		v[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	bool		bumped;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_exec(DT_SQL_HAS_BUMPED, v, NULL, true, 1);
	bumped = SPI_processed > 0 && dt_result_bool(0, 1);
	SPI_finish();
	PG_RETURN_BOOL(bumped);
}
