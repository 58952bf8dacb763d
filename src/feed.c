/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  Ranked feeds: drivetribe.feed(user, ...) and drivetribe.tribe_feed().
 *
 * A feed is the live articles of the reader's sources (the tribes they
 * are a member of, the authors they follow), each once, by (score DESC,
 * article_id DESC), keyset-paginated.  Nothing is fanned out: a post, a
 * view or a join writes no row per member or follower, and joining or
 * following brings a source's articles in on the next read.  Instead the
 * articles are ranked by their stored score (articles.score, kept by the
 * writers: counters.c) in three indexes: every live article, the live
 * articles of one tribe, of one author.  A page is read in two phases:
 *
 *	1. Walk: the global ranking from the cursor down, keeping the articles
 *	   of the reader's sources (looked up in the sorted arrays of their
 *	   ids), until the page is full or drivetribe.feed_walk_rows (default
 *	   4) rows per source were read.  For a reader whose sources write a good share of
 *	   the site (the heavy reader) this fills the page in a few dozen rows,
 *	   whatever the number of sources.
 *	2. Merge, if the walk stopped short: from each source at most the rows
 *	   still missing, taken from its own ranking after the walk's last row
 *	   (everything above it was examined), then the best of their union.
 *	   A source's order is the feed's order restricted to it, so the page's
 *	   rows are among them.
 *
 * So a page reads at most (feed_walk_rows + page_size) index
 * rows per source of the reader, plus its page_size cards by primary key,
 * however many articles there are and however deep the page.  tribe_feed
 * has one source: its ranking, read from the cursor.
 *
 * Everything reads under the caller's snapshot (read-only SPI, STABLE),
 * so a page agrees with every other read of its transaction, and the
 * scores a page shows are the ones it was ordered by.  SECURITY DEFINER:
 * a reader has no privilege on memberships and follows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "counters.h"
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

/* the feed's user or tribe must exist (23503); caller is connected to SPI */
static void
require_source(DtEntity entity, DtStatement get, int64 id)
{
	Datum		v[1] = {Int64GetDatum(id)};

	dt_exec(get, v, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("%s " INT64_FORMAT " does not exist",
						dt_entity_noun(entity), id),
				 dt_errentity(entity)));
}

/* one page of a tribe's feed into the call's tuplestore */
static void
tribe_page(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		has_cursor = feed_arguments(fcinfo, "tribe_id");
	Datum		values[4];

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
	dt_rank_worker_wanted_by_reader();
	require_source(DT_ENTITY_TRIBE, DT_SQL_TRIBE_GET, PG_GETARG_INT64(0));
	dt_exec(dt_rank_statement(has_cursor ? DT_SQL_TRIBE_FEED_AFTER :
							  DT_SQL_TRIBE_FEED_FIRST),
			values, NULL, true, 0);
	dt_put_result_rows(rsinfo, "tribe_feed()");
	SPI_finish();
}

/*
 * drivetribe.feed_walk_rows: how many rows of the global ranking the walk
 * may read per source of the reader (0: always merge)
 */
int			dt_feed_walk_rows = 4;

/* rows fetched from the walk's cursor at a time */
#define FEED_WALK_BATCH 64

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static bool
contains(const int64 *sorted, int n, int64 id)
{
	return n > 0 && bsearch(&id, sorted, n, sizeof(int64), compare_int64) != NULL;
}

/*
 * The ids of one page of a user's feed, in order, into ids[] (room for
 * page_size); returns how many.  Caller is connected to SPI.
 */
static int
user_page_ids(int64 user_id, int32 page_size, bool has_cursor,
			  float8 after_score, int64 after_id, int64 *ids)
{
	Datum		v[4];
	int64	   *tribes;
	int64	   *authors;
	int			ntribes = 0;
	int			nauthors = 0;
	int64		budget;
	int64		walked = 0;
	int			found = 0;
	bool		exhausted = false;
	Portal		portal;
	uint64		row;

	/* the sources, sorted */
	v[0] = Int64GetDatum(user_id);
	dt_exec(DT_SQL_FEED_SOURCES, v, NULL, true, 0);
	tribes = palloc(sizeof(int64) * (SPI_processed + 1));
	authors = palloc(sizeof(int64) * (SPI_processed + 1));
	for (row = 0; row < SPI_processed; row++)
	{
		int64		id = dt_result_int64((int) row, 2, NULL);

		if (dt_result_int64((int) row, 1, NULL) == 0)
			tribes[ntribes++] = id;
		else
			authors[nauthors++] = id;
	}
	if (ntribes + nauthors == 0)
		return 0;
	qsort(tribes, ntribes, sizeof(int64), compare_int64);
	qsort(authors, nauthors, sizeof(int64), compare_int64);

	/* 1. walk the global ranking */
	budget = (int64) dt_feed_walk_rows * (ntribes + nauthors);
	v[0] = Float8GetDatum(after_score);
	v[1] = Int64GetDatum(after_id);
	portal = SPI_cursor_open(NULL, dt_plan(dt_rank_statement(has_cursor ?
													 DT_SQL_RANK_SCAN_AFTER :
													 DT_SQL_RANK_SCAN_FIRST)),
							 v, NULL, true);
	while (found < page_size && walked < budget)
	{
		SPI_cursor_fetch(portal, true, (long) Min(FEED_WALK_BATCH, budget - walked));
		if (SPI_processed == 0)
		{
			exhausted = true;
			break;
		}
		for (row = 0; row < SPI_processed && found < page_size; row++)
		{
			int64		id = dt_result_int64((int) row, 1, NULL);
			bool		isnull;

			after_score = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[row],
													   SPI_tuptable->tupdesc, 2,
													   &isnull));
			after_id = id;
			walked++;
			if (contains(tribes, ntribes, dt_result_int64((int) row, 3, NULL)) ||
				contains(authors, nauthors, dt_result_int64((int) row, 4, NULL)))
				ids[found++] = id;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	/* 2. the rest from each source's ranking, after the walk's last row */
	if (found < page_size && !exhausted)
	{
		v[0] = Int64GetDatum(user_id);
		v[1] = Int32GetDatum(page_size - found);
		v[2] = Float8GetDatum(after_score);
		v[3] = Int64GetDatum(after_id);
		dt_exec(dt_rank_statement(walked > 0 || has_cursor ?
								  DT_SQL_FEED_MERGE : DT_SQL_FEED_MERGE_FIRST),
				v, NULL, true, 0);
		for (row = 0; row < SPI_processed && found < page_size; row++)
			ids[found++] = dt_result_int64((int) row, 1, NULL);
	}
	return found;
}

/* the cards of ids[0 .. n-1], in that order, into the call's tuplestore */
static void
page_cards(ReturnSetInfo *rsinfo, const int64 *ids, int n)
{
	Datum	   *elems;
	Datum		v[1];
	int			i;

	if (n == 0)
		return;
	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	v[0] = PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	dt_exec(DT_SQL_PAGE_CARDS, v, NULL, true, 0);
	dt_put_result_rows(rsinfo, "feed()");
}

/*
 * drivetribe.feed(user_id, page_size, after_score, after_article_id)
 * returns SETOF drivetribe.article_view: one page of the user's feed.
 */
PG_FUNCTION_INFO_V1(drivetribe_feed);
Datum
drivetribe_feed(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		has_cursor = feed_arguments(fcinfo, "user_id");
	int32		page_size = PG_GETARG_INT32(1);
	int64		user_id = PG_GETARG_INT64(0);
	int64	   *ids;
	int			n;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_rank_worker_wanted_by_reader();
	require_source(DT_ENTITY_USER, DT_SQL_USER_GET, user_id);
	ids = palloc(sizeof(int64) * page_size);
	n = user_page_ids(user_id, page_size, has_cursor,
					  has_cursor ? PG_GETARG_FLOAT8(2) : 0,
					  has_cursor ? PG_GETARG_INT64(3) : 0, ids);
	page_cards(rsinfo, ids, n);
	SPI_finish();
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
	tribe_page(fcinfo);
	return (Datum) 0;
}
