/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  Ranked feeds: drivetribe.feed(user, ...) and drivetribe.tribe_feed().
 *
 * A feed is the live articles of the reader's sources (the tribes they
 * are a member of, the authors they follow), each once, by (score DESC,
 * article_id DESC), keyset-paginated.  Nothing is fanned out: a post, a
 * view or a join writes no row per member or follower.  Instead each
 * source keeps its own ranking, an index of the live articles by rank
 * (articles_tribe_rank_idx, articles_author_rank_idx on articles.score,
 * which the writers keep: counters.c), and a page merges the reader's
 * sources on read: from each source at most page_size rows after the
 * cursor (the page's rows are among them, since a source's order is the
 * feed's order restricted to it), then the best page_size of the union,
 * then their cards by primary key.  So a page reads at most page_size
 * index rows per source plus page_size cards, whatever the number of
 * articles and however deep the page; joining or following writes one
 * row and brings the source's articles in on the next read.
 *
 * One statement per page (statements.c, prepared once per backend): it
 * reads under the caller's snapshot, so a page agrees with every other
 * read of the same transaction.  SECURITY DEFINER: a reader has no
 * privilege on memberships and follows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"

#include "feed.h"

/*
 * Check the arguments of a feed call; returns whether the page starts
 * after a cursor (after_score and after_article_id are given).
 */
static bool
feed_arguments(FunctionCallInfo fcinfo, const char *id_name)
{
	int32		page_size;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", id_name)));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("page_size must not be null")));
	page_size = PG_GETARG_INT32(1);
	if (page_size < 1 || page_size > DT_FEED_MAX_PAGE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must be between 1 and %d, got %d",
						DT_FEED_MAX_PAGE_SIZE, page_size)));
	if (PG_ARGISNULL(2) != PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null when %s is given",
						PG_ARGISNULL(2) ? "after_score" : "after_article_id",
						PG_ARGISNULL(2) ? "after_article_id" : "after_score"),
				 errhint("Pass both values of the last row of the previous page, or neither for the first page.")));
	return !PG_ARGISNULL(2);
}

/*
 * One page of a feed into the call's tuplestore.  `exists` reads the
 * source (user or tribe) by id; `first` and `after` are the page
 * statements without and with a cursor.
 */
static void
feed_page(FunctionCallInfo fcinfo, const char *what, DtStatement exists,
		  DtStatement first, DtStatement after)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		has_cursor;
	char		id_name[NAMEDATALEN];
	Datum		values[4];
	uint64		row;

	snprintf(id_name, sizeof(id_name), "%s_id", what);
	has_cursor = feed_arguments(fcinfo, id_name);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	if (has_cursor)
	{
		values[2] = PG_GETARG_DATUM(2);
		values[3] = PG_GETARG_DATUM(3);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_exec(exists, values, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("%s " INT64_FORMAT " does not exist",
						what, PG_GETARG_INT64(0))));
	dt_exec(has_cursor ? after : first, values, NULL, true, 0);
	if (SPI_tuptable->tupdesc->natts != rsinfo->setDesc->natts)
		elog(ERROR, "drivetribe: article_view has %d columns, the feed returns %d",
			 SPI_tuptable->tupdesc->natts, rsinfo->setDesc->natts);
	for (row = 0; row < SPI_processed; row++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[row]);
	SPI_finish();
}

/*
 * drivetribe.feed(user_id, page_size, after_score, after_article_id)
 * returns SETOF drivetribe.article_view: one page of the user's feed.
 */
PG_FUNCTION_INFO_V1(drivetribe_feed);
Datum
drivetribe_feed(PG_FUNCTION_ARGS)
{
	feed_page(fcinfo, "user", DT_SQL_USER_GET, DT_SQL_FEED_FIRST,
			  DT_SQL_FEED_AFTER);
	return (Datum) 0;
}

/*
 * drivetribe.tribe_feed(tribe_id, page_size, after_score, after_article_id)
 * returns SETOF drivetribe.article_view: one page of the tribe's articles.
 */
PG_FUNCTION_INFO_V1(drivetribe_tribe_feed);
Datum
drivetribe_tribe_feed(PG_FUNCTION_ARGS)
{
	feed_page(fcinfo, "tribe", DT_SQL_TRIBE_GET, DT_SQL_TRIBE_FEED_FIRST,
			  DT_SQL_TRIBE_FEED_AFTER);
	return (Datum) 0;
}
