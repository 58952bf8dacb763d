/*-------------------------------------------------------------------------
 *
 * reconcile.c
 *	  verify() and rebuild(): the live projections compared with a replay
 *	  of the log, and for rebuild() corrected where they differ.
 *
 * Both replay the log into memory (replay.c), then walk every live row of
 * every projection once, in batches through a cursor, and compare it with
 * the replayed entry of the same key.  verify() reports each difference;
 * rebuild() writes it: an UPDATE of a row that differs, a DELETE of a row
 * the log does not have, an INSERT of a row the projection lacks.  A
 * consistent projection therefore costs rebuild() no write at all, and
 * nothing is ever truncated: readers (at any isolation level, and a
 * pg_dump) keep seeing whole projections, old rows until rebuild()
 * commits and corrected ones afterwards.
 *
 * A live count is its row plus its counter stripes (counters.c): verify()
 * compares that sum, and reports stripes of a key without a row; rebuild()
 * first folds every stripe into its row (no writer holds one then) and
 * drops orphans, so its corrections write plain rows.  Folding changes no
 * count a reader sees.
 *
 * Locking.  verify() takes nothing beyond ACCESS SHARE: it reads the log
 * and the projections under the calling statement's snapshot, so writes
 * committed meanwhile cannot show as differences.  rebuild() first takes
 * EXCLUSIVE on drivetribe.events, which every writer's ROW EXCLUSIVE
 * waits for (writers take it before any row lock, see write_api.c), so no
 * event is appended while it replays and corrects; readers of the log and
 * of the projections never wait for it, and it waits only for writers
 * already in progress.  Its corrections take row locks on rows no writer
 * can hold (writers are kept out), so it cannot deadlock with them.  Both
 * take their first table locks as writers do (dt_lock_tables(), locks.c):
 * the tables an ALTER EXTENSION drivetribe UPDATE from this database's
 * version would lock, in the update's order, then the log, so neither
 * deadlocks with an update running meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "comments.h"
#include "counters.h"
#include "locks.h"
#include "monitor.h"
#include "progress.h"
#include "replay.h"

/* live rows fetched per batch (comment bodies: about 10 MB at most) */
#define RECONCILE_BATCH 1000

typedef struct Reconcile
{
	ReplayState *state;
	bool		repair;			/* rebuild(): correct, don't report */
	ReturnSetInfo *rsinfo;		/* verify(): where differences go */
	StringInfoData detail;		/* the differences of the current row */
	int64		differences;	/* rows found different */
	DtReconcileCounts counts;	/* rebuild(): rows written */
	MemoryContext row_cxt;		/* reset after every row */
	MemoryContext cxt;			/* the caller's, for what outlives a row */
	DtBetweenBatches between;	/* called after each batch of inserts */
	void	   *between_arg;
} Reconcile;

/* ---------- reporting ---------- */

static void
report(Reconcile *rc, const char *projection, const char *key,
	   const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	rc->differences++;
	if (rc->repair)
		return;
	values[0] = CStringGetTextDatum(projection);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(rc->rsinfo->setResult, rc->rsinfo->setDesc,
						 values, nulls);
}

static void
compare_int(Reconcile *rc, const char *column, int64 live, int64 replayed)
{
	if (live != replayed)
		appendStringInfo(&rc->detail, "%s%s: live " INT64_FORMAT
						 ", replayed " INT64_FORMAT,
						 rc->detail.len ? "; " : "", column, live, replayed);
}

/*
 * compare_text: compare a text column of SPI_tuptable's row with the
 * replayed value, by hash; on a difference, the detail quotes both values
 * (cut short), the replayed one read back from the log.
 */
static void
compare_text(Reconcile *rc, const char *column, int row, int col,
			 const ReplayText *replayed)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);
	text	   *t;

	if (!null)
	{
		t = DatumGetTextPP(d);
		if (dt_text_hash(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) == replayed->hash)
			return;
	}
	if (rc->repair)
	{
		/* the row is rewritten whole: no need to say how */
		appendStringInfoString(&rc->detail, column);
		return;
	}
	appendStringInfo(&rc->detail, "%s%s: live \"%s\", replayed \"%s\"",
					 rc->detail.len ? "; " : "", column,
					 null ? "(null)" : dt_clip(TextDatumGetCString(d)),
					 dt_clip(dt_replayed_text(rc->state, replayed)));
}

static void
compare_time(Reconcile *rc, const char *column, TimestampTz live,
			 TimestampTz replayed)
{
	if (live != replayed)
	{
		/* timestamptz_to_str returns a static buffer: copy the first */
		char	   *live_text = pstrdup(timestamptz_to_str(live));

		appendStringInfo(&rc->detail, "%s%s: live %s, replayed %s",
						 rc->detail.len ? "; " : "", column, live_text,
						 timestamptz_to_str(replayed));
	}
}

static TimestampTz
result_time(int row, int col)
{
	return DatumGetTimestampTz((Datum) dt_result_int64(row, col, NULL));
}

/*
 * row_differs: report the accumulated detail of one row, if any, reset it,
 * and say whether there was any.
 */
static bool
row_differs(Reconcile *rc, const char *projection, const char *key_name,
			int64 key)
{
	bool		differs = rc->detail.len > 0;

	if (differs)
		report(rc, projection, psprintf("%s=" INT64_FORMAT, key_name, key),
			   rc->detail.data);
	resetStringInfo(&rc->detail);
	return differs;
}

static const char *const MISSING = "in a replay of the log but not in the projection";
static const char *const EXTRA = "in the projection but not in a replay of the log";

/*
 * run_preserving: run a catalogued write statement for one row (touching
 * exactly one row) while the caller walks a batch of SPI results: the
 * caller's SPI_tuptable and SPI_processed are left as they were.
 */
static void
run_preserving(DtStatement stmt, Datum *values)
{
	SPITupleTable *saved_table = SPI_tuptable;
	uint64		saved_processed = SPI_processed;
	MemoryContext saved_cxt = CurrentMemoryContext;

	dt_exec_expect(stmt, values, NULL, 1);
	SPI_tuptable = saved_table;
	SPI_processed = saved_processed;
	MemoryContextSwitchTo(saved_cxt);
}

static void
remove_row(DtStatement stmt, int64 key)
{
	Datum		v[1] = {Int64GetDatum(key)};

	run_preserving(stmt, v);
}

/*
 * RowBatch: rows rebuild() inserts, gathered column by column and written
 * RESTORE_BATCH at a time by one statement over arrays (see the *_RESTORE
 * statements), instead of one statement per row.  Text columns travel as
 * the seq of the event holding the value; the statement joins the log.
 */
#define RESTORE_BATCH 5000
#define MAX_BATCH_COLUMNS 10

typedef struct RowBatch
{
	Reconcile  *rc;
	DtStatement stmt;
	int			ncolumns;
	Oid			types[MAX_BATCH_COLUMNS];	/* INT8OID, TIMESTAMPTZOID, BOOLOID */
	Datum	   *columns[MAX_BATCH_COLUMNS];
	int			rows;
} RowBatch;

/* a batch for a statement; its arrays live in rc->cxt (not a row's context) */
static void
batch_init(RowBatch *b, Reconcile *rc, DtStatement stmt, int ncolumns,
		   const Oid *types)
{
	b->rc = rc;
	b->stmt = stmt;
	b->ncolumns = ncolumns;
	b->rows = 0;
	for (int c = 0; c < ncolumns; c++)
	{
		b->types[c] = types[c];
		b->columns[c] = MemoryContextAlloc(rc->cxt, sizeof(Datum) * RESTORE_BATCH);
	}
}

/*
 * write the gathered rows; every one must be inserted.  Then the caller's
 * between-batches hook, which may commit (the blue/green load, rebuild.c):
 * no cursor is open and no hash table is being scanned while rows are
 * gathered (they are walked from arrays, unseen_entries()).
 */
static void
batch_flush(RowBatch *b)
{
	Datum		params[MAX_BATCH_COLUMNS];
	SPITupleTable *saved_table = SPI_tuptable;
	uint64		saved_processed = SPI_processed;
	MemoryContext saved_cxt = CurrentMemoryContext;

	if (b->rows == 0)
		return;
	for (int c = 0; c < b->ncolumns; c++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(b->types[c], &typlen, &typbyval, &typalign);
		params[c] = PointerGetDatum(construct_array(b->columns[c], b->rows,
													b->types[c], typlen,
													typbyval, typalign));
	}
	dt_exec_expect(b->stmt, params, NULL, b->rows);
	SPI_tuptable = saved_table;
	SPI_processed = saved_processed;
	MemoryContextSwitchTo(saved_cxt);
	b->rows = 0;
	if (b->rc->between != NULL)
		b->rc->between(b->rc->between_arg);
}

static void
batch_add(RowBatch *b, const Datum *row)
{
	for (int c = 0; c < b->ncolumns; c++)
		b->columns[c][b->rows] = row[c];
	if (++b->rows == RESTORE_BATCH)
		batch_flush(b);
}

static void
batch_free(RowBatch *b)
{
	for (int c = 0; c < b->ncolumns; c++)
		pfree(b->columns[c]);
}

/*
 * Every SPI call leaves CurrentMemoryContext at SPI's procedure context,
 * where what the caller allocates next would stay until SPI_finish (one
 * copy of every text compared, for the whole scan).  The helpers that run
 * SPI while rows are walked therefore put the caller's context back:
 * fetch_batch() the row context, the *_preserving() ones whatever was
 * current.
 */
static void
fetch_batch(Reconcile *rc, Portal portal)
{
	SPI_cursor_fetch(portal, true, RECONCILE_BATCH);
	MemoryContextSwitchTo(rc->row_cxt);
}

/* free a batch of live rows and fetch the next one */
static void
next_batch(Reconcile *rc, Portal portal)
{
	SPI_freetuptable(SPI_tuptable);
	CHECK_FOR_INTERRUPTS();
	fetch_batch(rc, portal);
}

/*
 * For each live row of one projection, in batches through a cursor: under
 * the caller's snapshot for verify(), under a new one (taken after the
 * log's lock) for rebuild().  The row's memory is reset after each row,
 * and each row counts as one unit of progress.
 */
#define FOR_EACH_LIVE_ROW(rc, plan, row) \
	for (Portal portal_ = SPI_cursor_open(NULL, (plan), NULL, NULL, \
										  !(rc)->repair); \
		 portal_ != NULL; SPI_cursor_close(portal_), portal_ = NULL) \
		for (fetch_batch((rc), portal_); SPI_processed > 0; \
			 next_batch((rc), portal_)) \
			for (int row = 0; row < (int) SPI_processed; \
				 row++, MemoryContextReset((rc)->row_cxt), \
				 dt_progress_advance(1))

/*
 * The replayed entries of a table that no live row matched, sorted by
 * compare (qsort_arg() over the entries' pointers, arg its argument):
 * the rows rebuild() inserts, gathered into an array so that no hash
 * table scan is open while they are written (a scan must not outlive a
 * transaction, and the blue/green load commits between batches).  Rows
 * with text go in the order of the events holding it (text_order): their
 * text is then fetched from the log in seq order, which is its physical
 * order, instead of at random; into an empty table (a green one, or
 * emptied projections) that is most of the cost of writing it.  Edges go
 * in key order (edge_order): their primary key is then filled at its
 * right end.  Returns an array of *n entries, allocated in rc->cxt.
 */
static int
text_order(const void *a, const void *b, void *arg)
{
	Size		offset = *(Size *) arg;
	int64		x = *(const int64 *) (*(char *const *) a + offset);
	int64		y = *(const int64 *) (*(char *const *) b + offset);

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
edge_order(const void *a, const void *b, void *arg)
{
	const EdgeKey *x = &(*(ReplayEdge *const *) a)->key;
	const EdgeKey *y = &(*(ReplayEdge *const *) b)->key;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

static void **
unseen_entries(Reconcile *rc, HTAB *table, Size seen_offset,
			   qsort_arg_comparator compare, void *arg, long *n)
{
	HASH_SEQ_STATUS scan;
	char	   *entry;
	void	  **entries;

	/* not in the row context, which each row resets */
	entries = MemoryContextAlloc(rc->cxt, sizeof(void *) *
								 Max(hash_get_num_entries(table), 1));

	*n = 0;
	hash_seq_init(&scan, table);
	while ((entry = hash_seq_search(&scan)) != NULL)
		if (!*(bool *) (entry + seen_offset))
			entries[(*n)++] = entry;
	qsort_arg(entries, *n, sizeof(void *), compare, arg);
	return entries;
}

/* unseen_entries() in the order of the events holding their text */
static void **
unseen_in_text_order(Reconcile *rc, HTAB *table, Size seen_offset,
					 Size seq_offset, long *n)
{
	return unseen_entries(rc, table, seen_offset, text_order, &seq_offset, n);
}

/* ---------- users ---------- */

/*
 * A replayed row as the parameters of its *_CORRECT (one row) and
 * *_RESTORE (arrays of rows) statements: the same columns in the same
 * order, a text column as the seq of the event holding it.
 */
static void
user_row(const ReplayUser *u, Datum *row)
{
	row[0] = Int64GetDatum(u->user_id);
	row[1] = Int64GetDatum(u->name.seq);
	row[2] = TimestampTzGetDatum(u->registered_at);
	row[3] = Int64GetDatum(u->counts.articles);
	row[4] = Int64GetDatum(u->counts.comments);
	row[5] = Int64GetDatum(u->counts.bumps_given);
	row[6] = Int64GetDatum(u->counts.bumps_received);
	row[7] = Int64GetDatum(u->counts.followers);
	row[8] = Int64GetDatum(u->counts.following);
	row[9] = Int64GetDatum(u->counts.tribes);
}

static const Oid user_types[10] = {INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID,
INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};

static void
reconcile_users(Reconcile *rc)
{
	void	  **missing;
	long		nmissing;
	ReplayUser *u;
	RowBatch	batch;

	FOR_EACH_LIVE_ROW(rc, dt_counters_live_rows_plan(DT_COUNTERS_USERS), row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		u = hash_search(rc->state->users, &id, HASH_FIND, NULL);
		if (u == NULL)
		{
			report(rc, "users", psprintf("user_id=" INT64_FORMAT, id), EXTRA);
			if (rc->repair)
			{
				remove_row(DT_SQL_USER_REMOVE, id);
				rc->counts.deleted++;
			}
			continue;
		}
		u->seen = true;
		compare_text(rc, "name", row, 2, &u->name);
		compare_time(rc, "registered_at", result_time(row, 3), u->registered_at);
		compare_int(rc, "articles", dt_result_int64(row, 4, NULL), u->counts.articles);
		compare_int(rc, "comments", dt_result_int64(row, 5, NULL), u->counts.comments);
		compare_int(rc, "bumps_given", dt_result_int64(row, 6, NULL), u->counts.bumps_given);
		compare_int(rc, "bumps_received", dt_result_int64(row, 7, NULL), u->counts.bumps_received);
		compare_int(rc, "followers", dt_result_int64(row, 8, NULL), u->counts.followers);
		compare_int(rc, "following", dt_result_int64(row, 9, NULL), u->counts.following);
		compare_int(rc, "tribes", dt_result_int64(row, 10, NULL), u->counts.tribes);
		if (row_differs(rc, "users", "user_id", id) && rc->repair)
		{
			Datum		v[10];

			user_row(u, v);
			run_preserving(DT_SQL_USER_CORRECT, v);
			rc->counts.updated++;
		}
	}
	batch_init(&batch, rc, DT_SQL_USER_RESTORE, 10, user_types);
	missing = unseen_in_text_order(rc, rc->state->users, offsetof(ReplayUser, seen),
								   offsetof(ReplayUser, name.seq), &nmissing);
	for (long i = 0; i < nmissing; i++)
	{
		u = missing[i];
		report(rc, "users", psprintf("user_id=" INT64_FORMAT, u->user_id), MISSING);
		if (rc->repair)
		{
			Datum		row[10];

			user_row(u, row);
			batch_add(&batch, row);
			rc->counts.inserted++;
		}
		MemoryContextReset(rc->row_cxt);
		dt_progress_advance(1);
	}
	batch_flush(&batch);
	batch_free(&batch);
	pfree(missing);
}

/* ---------- tribes ---------- */

static void
tribe_row(const ReplayTribe *t, Datum *row)
{
	row[0] = Int64GetDatum(t->tribe_id);
	row[1] = Int64GetDatum(t->owner_id);
	row[2] = Int64GetDatum(t->name.seq);
	row[3] = TimestampTzGetDatum(t->created_at);
	row[4] = Int64GetDatum(t->counts.members);
	row[5] = Int64GetDatum(t->counts.articles);
}

static const Oid tribe_types[6] = {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID,
INT8OID, INT8OID};

static void
reconcile_tribes(Reconcile *rc)
{
	void	  **missing;
	long		nmissing;
	ReplayTribe *t;
	RowBatch	batch;

	FOR_EACH_LIVE_ROW(rc, dt_counters_live_rows_plan(DT_COUNTERS_TRIBES), row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		t = hash_search(rc->state->tribes, &id, HASH_FIND, NULL);
		if (t == NULL)
		{
			report(rc, "tribes", psprintf("tribe_id=" INT64_FORMAT, id), EXTRA);
			if (rc->repair)
			{
				remove_row(DT_SQL_TRIBE_REMOVE, id);
				rc->counts.deleted++;
			}
			continue;
		}
		t->seen = true;
		compare_int(rc, "owner_id", dt_result_int64(row, 2, NULL), t->owner_id);
		compare_text(rc, "name", row, 3, &t->name);
		compare_time(rc, "created_at", result_time(row, 4), t->created_at);
		compare_int(rc, "members", dt_result_int64(row, 5, NULL), t->counts.members);
		compare_int(rc, "articles", dt_result_int64(row, 6, NULL), t->counts.articles);
		if (row_differs(rc, "tribes", "tribe_id", id) && rc->repair)
		{
			Datum		v[6];

			tribe_row(t, v);
			run_preserving(DT_SQL_TRIBE_CORRECT, v);
			rc->counts.updated++;
		}
	}
	batch_init(&batch, rc, DT_SQL_TRIBE_RESTORE, 6, tribe_types);
	missing = unseen_in_text_order(rc, rc->state->tribes, offsetof(ReplayTribe, seen),
								   offsetof(ReplayTribe, name.seq), &nmissing);
	for (long i = 0; i < nmissing; i++)
	{
		t = missing[i];
		report(rc, "tribes", psprintf("tribe_id=" INT64_FORMAT, t->tribe_id), MISSING);
		if (rc->repair)
		{
			Datum		row[6];

			tribe_row(t, row);
			batch_add(&batch, row);
			rc->counts.inserted++;
		}
		MemoryContextReset(rc->row_cxt);
		dt_progress_advance(1);
	}
	batch_flush(&batch);
	batch_free(&batch);
	pfree(missing);
}

/* ---------- articles ---------- */

static void
article_row(const ReplayArticle *a, Datum *row)
{
	row[0] = Int64GetDatum(a->article_id);
	row[1] = Int64GetDatum(a->tribe_id);
	row[2] = Int64GetDatum(a->author_id);
	row[3] = Int64GetDatum(a->title.seq);
	row[4] = TimestampTzGetDatum(a->posted_at);
	row[5] = BoolGetDatum(a->deleted);
	row[6] = Int64GetDatum(a->counts.views);
	row[7] = Int64GetDatum(a->counts.comments);
	row[8] = Int64GetDatum(a->counts.bumps);
}

static const Oid article_types[9] = {INT8OID, INT8OID, INT8OID, INT8OID,
TIMESTAMPTZOID, BOOLOID, INT8OID, INT8OID, INT8OID};

static void
reconcile_articles(Reconcile *rc)
{
	void	  **missing;
	long		nmissing;
	ReplayArticle *a;
	RowBatch	batch;
	bool		ranked = dt_schema_level() == DT_SCHEMA_RANKED;

	FOR_EACH_LIVE_ROW(rc, dt_counters_live_rows_plan(DT_COUNTERS_ARTICLES), row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		a = hash_search(rc->state->articles, &id, HASH_FIND, NULL);
		if (a == NULL)
		{
			report(rc, "articles", psprintf("article_id=" INT64_FORMAT, id), EXTRA);
			if (rc->repair)
			{
				remove_row(DT_SQL_ARTICLE_REMOVE, id);
				rc->counts.deleted++;
			}
			continue;
		}
		a->seen = true;
		compare_int(rc, "tribe_id", dt_result_int64(row, 2, NULL), a->tribe_id);
		compare_int(rc, "author_id", dt_result_int64(row, 3, NULL), a->author_id);
		compare_text(rc, "title", row, 4, &a->title);
		compare_time(rc, "posted_at", result_time(row, 5), a->posted_at);
		compare_int(rc, "deleted", dt_result_bool(row, 6), a->deleted);
		compare_int(rc, "views", dt_result_int64(row, 7, NULL), a->counts.views);
		compare_int(rc, "comments", dt_result_int64(row, 8, NULL), a->counts.comments);
		compare_int(rc, "bumps", dt_result_int64(row, 9, NULL), a->counts.bumps);
		/* the stored rank, where the counts are right (else they are the news) */
		if (ranked && rc->detail.len == 0 && !dt_result_bool(row, 11))
			appendStringInfo(&rc->detail, "score: live %s, not the ranking formula over its counts",
							 SPI_getvalue(SPI_tuptable->vals[row],
										  SPI_tuptable->tupdesc, 10));
		if (row_differs(rc, "articles", "article_id", id) && rc->repair)
		{
			Datum		v[9];

			article_row(a, v);
			run_preserving(ranked ? DT_SQL_ARTICLE_CORRECT_RANKED :
						   DT_SQL_ARTICLE_CORRECT, v);
			rc->counts.updated++;
		}
	}
	batch_init(&batch, rc,
			   ranked ? DT_SQL_ARTICLE_RESTORE_RANKED : DT_SQL_ARTICLE_RESTORE,
			   9, article_types);
	missing = unseen_in_text_order(rc, rc->state->articles, offsetof(ReplayArticle, seen),
								   offsetof(ReplayArticle, title.seq), &nmissing);
	for (long i = 0; i < nmissing; i++)
	{
		a = missing[i];
		report(rc, "articles", psprintf("article_id=" INT64_FORMAT, a->article_id), MISSING);
		if (rc->repair)
		{
			Datum		row[9];

			article_row(a, row);
			batch_add(&batch, row);
			rc->counts.inserted++;
		}
		MemoryContextReset(rc->row_cxt);
		dt_progress_advance(1);
	}
	batch_flush(&batch);
	batch_free(&batch);
	pfree(missing);
}

/* ---------- article ranks (1.7 and later) ---------- */

/*
 * reconcile_ranks: article_ranks is a projection of the articles rows
 * (one row per live article, the ranking formula (docs/reference.md) over its counts), compared
 * after them.  verify() lists each rank row that is missing, extra, of
 * another tribe or author, or off the formula while the article has no
 * counter stripe pending (a pending stripe is a change the rank worker has
 * yet to fold: at most about drivetribe.fold_interval old).  rebuild()
 * folded every stripe first, so it writes every rank exactly, in one
 * statement.  Caller is connected to SPI and has reconciled the articles.
 */
static void
reconcile_ranks(Reconcile *rc)
{
	uint64		i;

	if (dt_schema_level() != DT_SCHEMA_RANK_TABLE)
		return;
	if (rc->repair)
	{
		int64		gone;
		int64		put;

		dt_exec(DT_SQL_RANK_REPAIR, NULL, NULL, false, 0);
		gone = dt_result_int64(0, 1, NULL);
		put = dt_result_int64(0, 2, NULL);
		rc->counts.deleted += gone;
		rc->counts.updated += put;
		rc->differences += gone + put;
		return;
	}
	dt_exec(DT_SQL_RANK_DIFFERENCES, NULL, NULL, true, 0);
	for (i = 0; i < SPI_processed; i++)
		report(rc, "article_ranks",
			   psprintf("article_id=" INT64_FORMAT,
						dt_result_int64((int) i, 1, NULL)),
			   dt_result_text((int) i, 2));
}

/* ---------- comments ---------- */

static void
comment_row(const ReplayComment *c, Datum *row)
{
	row[0] = Int64GetDatum(c->comment_id);
	row[1] = Int64GetDatum(c->article_id);
	row[2] = Int64GetDatum(c->author_id);
	row[3] = Int64GetDatum(c->body.seq);
	row[4] = TimestampTzGetDatum(c->posted_at);
	row[5] = BoolGetDatum(c->deleted);
	row[6] = Int64GetDatum(c->pos);
	row[7] = Int64GetDatum(c->parent_comment_id);	/* 0: none (NULL) */
	row[8] = Int64GetDatum(c->replies);
}

static const Oid comment_types[9] = {INT8OID, INT8OID, INT8OID, INT8OID,
TIMESTAMPTZOID, BOOLOID, INT8OID, INT8OID, INT8OID};

/*
 * The columns of this database's comments: 6 (1.0), 7 with the position
 * (1.7), 9 with the parent and the live replies (1.9).
 */
static int
comment_columns(void)
{
	if (!dt_comments_positioned())
		return 6;
	return dt_events_versioned() ? 9 : 7;
}

static void
reconcile_comments(Reconcile *rc)
{
	void	  **missing;
	long		nmissing;
	ReplayComment *c;
	RowBatch	batch;
	int			columns = comment_columns();
	DtStatement all = columns == 6 ? DT_SQL_COMMENTS_ALL :
		dt_versioned_statement(DT_SQL_COMMENTS_ALL_POS);

	FOR_EACH_LIVE_ROW(rc, dt_plan(all), row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		c = hash_search(rc->state->comments, &id, HASH_FIND, NULL);
		if (c == NULL)
		{
			report(rc, "comments", psprintf("comment_id=" INT64_FORMAT, id), EXTRA);
			if (rc->repair)
			{
				remove_row(DT_SQL_COMMENT_REMOVE, id);
				rc->counts.deleted++;
			}
			continue;
		}
		c->seen = true;
		compare_int(rc, "article_id", dt_result_int64(row, 2, NULL), c->article_id);
		compare_int(rc, "author_id", dt_result_int64(row, 3, NULL), c->author_id);
		compare_text(rc, "body", row, 4, &c->body);
		compare_time(rc, "posted_at", result_time(row, 5), c->posted_at);
		compare_int(rc, "deleted", dt_result_bool(row, 6), c->deleted);
		if (columns >= 7)
		{
			bool		null_pos;
			int64		pos = dt_result_int64(row, 7, &null_pos);

			if (null_pos)
				appendStringInfo(&rc->detail, "%spos: live NULL, replayed " INT64_FORMAT,
								 rc->detail.len ? "; " : "", c->pos);
			else
				compare_int(rc, "pos", pos, c->pos);
		}
		if (columns >= 9)
		{
			/* NULL parent reads as 0, as the replay keeps it */
			compare_int(rc, "parent_comment_id", dt_result_int64(row, 8, NULL),
						c->parent_comment_id);
			compare_int(rc, "replies", dt_result_int64(row, 9, NULL), c->replies);
		}
		if (row_differs(rc, "comments", "comment_id", id) && rc->repair)
		{
			Datum		v[9];

			comment_row(c, v);
			run_preserving(columns == 9 ? DT_SQL_COMMENT_CORRECT_1_9 :
						   columns == 7 ? DT_SQL_COMMENT_CORRECT_POS :
						   DT_SQL_COMMENT_CORRECT, v);
			rc->counts.updated++;
		}
	}
	batch_init(&batch, rc,
			   columns == 9 ? DT_SQL_COMMENT_RESTORE_1_9 :
			   columns == 7 ? DT_SQL_COMMENT_RESTORE_POS : DT_SQL_COMMENT_RESTORE,
			   columns, comment_types);
	missing = unseen_in_text_order(rc, rc->state->comments, offsetof(ReplayComment, seen),
								   offsetof(ReplayComment, body.seq), &nmissing);
	for (long i = 0; i < nmissing; i++)
	{
		c = missing[i];
		report(rc, "comments", psprintf("comment_id=" INT64_FORMAT, c->comment_id), MISSING);
		if (rc->repair)
		{
			Datum		row[9];

			comment_row(c, row);
			batch_add(&batch, row);
			rc->counts.inserted++;
		}
		MemoryContextReset(rc->row_cxt);
		dt_progress_advance(1);
	}
	batch_flush(&batch);
	batch_free(&batch);
	pfree(missing);
}

/* ---------- edges: memberships, follows, bumps ---------- */

static void
report_edge(Reconcile *rc, DtEdgeKind kind, const EdgeKey *key,
			const char *detail)
{
	report(rc, dt_edge_tables[kind],
		   psprintf("%s=" INT64_FORMAT " %s=" INT64_FORMAT,
					dt_edge_key_names[kind][0], key->a,
					dt_edge_key_names[kind][1], key->b),
		   detail);
}

static void
set_edge_preserving(DtEdgeKind kind, const EdgeKey *key, bool present)
{
	SPITupleTable *saved_table = SPI_tuptable;
	uint64		saved_processed = SPI_processed;
	MemoryContext saved_cxt = CurrentMemoryContext;

	dt_live_sink.edge_set(NULL, kind, key->a, key->b, present);
	SPI_tuptable = saved_table;
	SPI_processed = saved_processed;
	MemoryContextSwitchTo(saved_cxt);
}

static const Oid edge_types[2] = {INT8OID, INT8OID};
static const DtStatement edge_restore[DT_NUM_EDGES] = {
	[DT_EDGE_MEMBERSHIP] = DT_SQL_MEMBERSHIP_RESTORE,
	[DT_EDGE_FOLLOW] = DT_SQL_FOLLOW_RESTORE,
	[DT_EDGE_BUMP] = DT_SQL_BUMP_RESTORE,
};

static void
reconcile_edges(Reconcile *rc, DtEdgeKind kind, DtStatement stmt)
{
	void	  **missing;
	long		nmissing;
	ReplayEdge *e;
	RowBatch	batch;

	FOR_EACH_LIVE_ROW(rc, dt_plan(stmt), row)
	{
		EdgeKey		key;

		key.a = dt_result_int64(row, 1, NULL);
		key.b = dt_result_int64(row, 2, NULL);
		e = hash_search(rc->state->edges[kind], &key, HASH_FIND, NULL);
		if (e != NULL)
		{
			e->seen = true;
			continue;
		}
		report_edge(rc, kind, &key, EXTRA);
		if (rc->repair)
		{
			set_edge_preserving(kind, &key, false);
			rc->counts.deleted++;
		}
	}
	batch_init(&batch, rc, edge_restore[kind], 2, edge_types);
	missing = unseen_entries(rc, rc->state->edges[kind], offsetof(ReplayEdge, seen),
							 edge_order, NULL, &nmissing);
	for (long i = 0; i < nmissing; i++)
	{
		e = missing[i];
		report_edge(rc, kind, &e->key, MISSING);
		if (rc->repair)
		{
			Datum		row[2] = {Int64GetDatum(e->key.a), Int64GetDatum(e->key.b)};

			batch_add(&batch, row);
			rc->counts.inserted++;
		}
		MemoryContextReset(rc->row_cxt);
		dt_progress_advance(1);
	}
	batch_flush(&batch);
	batch_free(&batch);
	pfree(missing);
}

/*
 * reconcile_orphan_stripes: counter stripes of a key that has no
 * row are a difference too (rebuild() has already dropped them).
 */
static void
reconcile_orphan_stripes(Reconcile *rc, DtCounterTable table)
{
	SPIPlanPtr	plan = dt_counters_orphans_plan(table);
	Portal		portal;

	if (plan == NULL)
		return;
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, !rc->repair);
	for (fetch_batch(rc, portal); SPI_processed > 0; next_batch(rc, portal))
		for (int row = 0; row < (int) SPI_processed; row++)
		{
			report(rc, dt_counters_stripe_table(table),
				   psprintf("%s=" INT64_FORMAT, dt_counters_key(table),
							dt_result_int64(row, 1, NULL)),
				   "counter stripes of a row the projection does not have");
			MemoryContextReset(rc->row_cxt);
			dt_progress_advance(1);
		}
	SPI_cursor_close(portal);
}

/*
 * dt_reconcile: compare every projection with the replayed state; report
 * the differences into rsinfo (verify) or correct them (repair, rebuild),
 * counting the rows written into *counts if not NULL.  Returns the number
 * of rows that differed.  Caller is connected to SPI and, for repair,
 * holds EXCLUSIVE on drivetribe.events, or writes green tables nobody
 * else writes (the blue/green load, whose between(between_arg), called
 * after every batch of inserted rows, may commit; NULL for none).  This is phase 2 of 2 of the
 * caller's progress (the replay was phase 1): every live row walked and
 * every replayed row the projection lacks is a unit.
 */
int64
dt_reconcile(ReplayState *state, bool repair, ReturnSetInfo *rsinfo,
			 DtReconcileCounts *counts, DtBetweenBatches between,
			 void *between_arg)
{
	Reconcile	rc;
	MemoryContext old;
	int64		rows = 0;

	memset(&rc, 0, sizeof(rc));
	rc.state = state;
	rc.repair = repair;
	rc.rsinfo = rsinfo;
	rc.between = between;
	rc.between_arg = between_arg;
	initStringInfo(&rc.detail);
	rc.cxt = CurrentMemoryContext;
	rc.row_cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "drivetribe reconcile row",
									   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(rc.row_cxt);

	/* as many units as replayed rows when the projections are consistent */
	rows = hash_get_num_entries(state->users) +
		hash_get_num_entries(state->tribes) +
		hash_get_num_entries(state->articles) +
		hash_get_num_entries(state->comments);
	for (int i = 0; i < DT_NUM_EDGES; i++)
		rows += hash_get_num_entries(state->edges[i]);
	dt_progress_phase(2, 2, repair ? "correcting the projections" :
					  "comparing the projections", "rows", rows);

	dt_progress_detail("users");
	reconcile_users(&rc);
	dt_progress_detail("tribes");
	reconcile_tribes(&rc);
	dt_progress_detail("articles");
	reconcile_articles(&rc);
	dt_progress_detail("article ranks");
	reconcile_ranks(&rc);
	dt_progress_detail("comments");
	reconcile_comments(&rc);
	dt_progress_detail("memberships");
	reconcile_edges(&rc, DT_EDGE_MEMBERSHIP, DT_SQL_MEMBERSHIPS_ALL);
	dt_progress_detail("follows");
	reconcile_edges(&rc, DT_EDGE_FOLLOW, DT_SQL_FOLLOWS_ALL);
	dt_progress_detail("bumps");
	reconcile_edges(&rc, DT_EDGE_BUMP, DT_SQL_BUMPS_ALL);
	dt_progress_detail("counter stripes");
	for (int i = 0; i < DT_NUM_COUNTER_TABLES; i++)
		reconcile_orphan_stripes(&rc, (DtCounterTable) i);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(rc.row_cxt);
	pfree(rc.detail.data);
	if (counts != NULL)
		*counts = rc.counts;
	return rc.differences;
}

/* EXCLUSIVE on every counter stripe table (none before 1.2) */
static void
lock_stripe_tables(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", false);

	for (int i = 0; i < DT_NUM_COUNTER_TABLES; i++)
	{
		Oid			relid = get_relname_relid(dt_counters_stripe_table((DtCounterTable) i), nsp);

		if (OidIsValid(relid))
			LockRelationOid(relid, ExclusiveLock);
	}
}

/*
 * drivetribe.rebuild() returns bigint: recompute every projection from the
 * log and correct the rows that differ; returns the number of events
 * replayed.  Must run at READ COMMITTED so that, once it holds its lock,
 * it reads every committed event.  Its progress shows in
 * pg_stat_activity and in NOTICEs (progress.c); everything it writes is
 * in the caller's transaction, so a cancel leaves nothing behind.
 */
PG_FUNCTION_INFO_V1(drivetribe_rebuild);
Datum
drivetribe_rebuild(PG_FUNCTION_ARGS)
{
	ReplayState *state;
	int64		events;
	int64		corrected;
	int64		folded = 0;
	int64		orphans = 0;
	DtReconcileCounts counts;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("drivetribe.rebuild() must run at READ COMMITTED isolation"),
				 errdetail("A transaction snapshot taken before its lock could miss committed events.")));

	dt_progress_begin("drivetribe.rebuild()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	/* a hot standby refuses it with 25006, as it did LOCK TABLE */
	PreventCommandDuringRecovery("drivetribe.rebuild()");
	dt_progress_status("waiting for EXCLUSIVE lock on drivetribe.events");
	/* ROW EXCLUSIVE on the tables an update would lock first, as writers */
	dt_lock_tables(ExclusiveLock, RowExclusiveLock, true);
	/*
	 * No writer holds a row now.  EXCLUSIVE on the stripe tables waits for
	 * a fold in progress (the rank worker's, fold_stripes()) and keeps new
	 * ones out (readers go on): every stripe is folded below, and the rows
	 * corrected afterwards are whole.  A fold never waits for rebuild()'s
	 * other locks, so this cannot deadlock.
	 */
	lock_stripe_tables();
	dt_progress_status("folding counter stripes");
	for (int i = 0; i < DT_NUM_COUNTER_TABLES; i++)
	{
		folded += dt_counters_fold((DtCounterTable) i);
		orphans += dt_counters_drop_orphans((DtCounterTable) i);
	}
	state = dt_replay_log(false);
	corrected = dt_reconcile(state, true, NULL, &counts, NULL, NULL);
	events = state->events;
	MemoryContextDelete(state->cxt);
	SPI_finish();
	elog(DEBUG1, "drivetribe rebuild: " INT64_FORMAT " events replayed, "
		 INT64_FORMAT " rows corrected", events, corrected);
	dt_progress_end(psprintf("%s replayed, %s corrected (" INT64_FORMAT
							 " inserted, " INT64_FORMAT " updated, " INT64_FORMAT
							 " deleted), counter stripes folded into %s, %s dropped",
							 dt_count_noun(events, "events"),
							 dt_count_noun(corrected, "rows"), counts.inserted,
							 counts.updated, counts.deleted,
							 dt_count_noun(folded, "rows"),
							 dt_count_noun(orphans, "orphan stripes")),
					events);
	PG_RETURN_INT64(events);
}

/*
 * drivetribe.verify() returns TABLE(projection text, key text, detail text):
 * one row per difference between the projections and a replay of the log.
 * Its progress shows as rebuild()'s does.
 */
PG_FUNCTION_INFO_V1(drivetribe_verify);
Datum
drivetribe_verify(PG_FUNCTION_ARGS)
{
	ReplayState *state;
	TimestampTz started = GetCurrentTimestamp();
	int64		events;
	int64		differences;

	InitMaterializedSRF(fcinfo, 0);
	dt_progress_begin("drivetribe.verify()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	/* its ACCESS SHARE locks in the update's order (docs/design.md "Lock order") */
	dt_lock_tables(AccessShareLock, AccessShareLock, true);
	state = dt_replay_log(true);
	differences = dt_reconcile(state, false,
							   (ReturnSetInfo *) fcinfo->resultinfo, NULL, NULL, NULL);
	events = state->events;
	dt_note_verify_run(started, differences, events);
	MemoryContextDelete(state->cxt);
	SPI_finish();
	/* "1 difference" (up to 1.6: "1 differences") */
	dt_progress_end(psprintf("%s replayed, %s",
							 dt_count_noun(events, "events"),
							 dt_count_noun(differences, "differences")),
					events);
	return (Datum) 0;
}
