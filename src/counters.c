/*-------------------------------------------------------------------------
 *
 * counters.c
 *	  Counter changes that never wait for another writer.
 *
 * Every counter change of the write API (a view, a bump, a comment, a
 * follow, a join, a post, a delete) goes through dt_counters_add().  From
 * SQL version 1.7 on, a change of an article's counters always goes to
 * the writer's stripe (one statement): the stripe tells the rank worker
 * that the article's score is due (see rank_table_article_sql below).  A
 * user's or a tribe's change (and an article's before 1.7) is one
 * statement when the row is free, two when it is held:
 *
 *	- At READ COMMITTED it tries the row with FOR NO KEY UPDATE SKIP LOCKED
 *	  and, when it gets the lock, adds its change in place.  (For a second
 *	  after a backend found a key held, it skips that attempt for the key:
 *	  see hot_keys below.)  When another
 *	  transaction holds the row (a concurrent writer of the same key, a
 *	  rename, a delete), it adds its change to this backend's stripe of the
 *	  key instead: the row (key, stripe id) of <table>_stripes, inserted
 *	  the first time and updated in place afterwards.  A stripe id belongs
 *	  to one live backend (see "Stripe ids" below; before 1.7 it was the
 *	  backend id), so no other writer ever holds that row, and the upsert
 *	  waits for nobody.
 *	- At REPEATABLE READ and SERIALIZABLE it always adds to its stripe: an
 *	  in-place update of a row changed since the snapshot would fail with
 *	  40001; the stripe is only ever changed by this backend.
 *
 * So no writer waits for another writer's counter row, whatever the key's
 * heat, and a counter lock never takes part in a deadlock.  A key has at
 * most one stripe per backend that wrote it while it was held, so a read
 * (row + sum of stripes, see the views) stays a primary-key lookup plus a
 * short index range, and a cold key has no stripe at all.
 *
 * Folding (drivetribe.fold_stripes(), the pg_cron job drivetribe-fold-
 * stripes every minute, and rebuild()) moves stripes back into their
 * rows: for each row no writer holds, it deletes the stripes no writer
 * holds (DELETE ... RETURNING) and adds their sums to the row in the same
 * statement.  Nothing is lost or counted twice: what is added is exactly
 * what was deleted, in one transaction; a rollback undoes both and a crash
 * loses neither.  Folding changes no count a reader sees; it keeps the
 * stored score of the row (the feeds' rank) close to the counts and the
 * number of stripes small.
 *
 * The statements are built once per backend from the table descriptions
 * below and kept, like those of statements.c: schema-qualified, operators
 * pinned to pg_catalog, values bound.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/proc.h"
#include "catalog/namespace.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "counters.h"

typedef struct CounterTable
{
	const char *table;			/* drivetribe.<table> */
	const char *stripes;		/* drivetribe.<stripes> */
	const char *key;
	const char *others;			/* its other columns, as verify() reads them */
	int			nothers;		/* how many */
	int			ncounters;
	const char *counters[DT_MAX_COUNTERS];
} CounterTable;

static const CounterTable counter_tables[DT_NUM_COUNTER_TABLES] = {
	[DT_COUNTERS_ARTICLES] = {"articles", "article_stripes", "article_id",
		"r.tribe_id, r.author_id, r.title, r.posted_at, r.deleted", 5, 3,
	{"views", "comments", "bumps"}},
	[DT_COUNTERS_USERS] = {"users", "user_stripes", "user_id",
		"r.name, r.registered_at", 2, 7,
		{"articles", "comments", "bumps_given", "bumps_received", "followers",
	"following", "tribes"}},
	[DT_COUNTERS_TRIBES] = {"tribes", "tribe_stripes", "tribe_id",
		"r.owner_id, r.name, r.created_at", 3, 2,
	{"members", "articles"}},
};

typedef enum CounterStatement
{
	CS_ADD,						/* in place if the row is free */
	CS_STRIPE,					/* this backend's stripe */
	CS_FOLD,					/* fold the free stripes of free rows */
	CS_ORPHANS,					/* keys of stripes without a row */
	CS_DROP_ORPHANS,			/* delete those stripes */
	CS_LIVE_ROWS,				/* every row with its counts (verify) */
	CS_TOTALS,					/* one key's counts */
	CS_RESCORE,					/* ranked: rows' scores from their counts */
	CS_FOLD_KEYS,				/* CS_FOLD of the keys $1 only */
	CS_RANK_CLAIM,				/* 1.7: lock the free ranks of striped articles */
	CS_UNRANKED,				/* 1.7: striped articles without a rank row */
	CS_NUM
} CounterStatement;

/*
 * Kept plans, per table, statement and schema level: one library serves
 * every installed version.  Before 1.2 (no stripes) a counter change is
 * the 1.1 in-place update; from 1.3 on an article's change also keeps its
 * stored score (the feeds' rank).
 */
/* [1]: against the green projections of a blue/green rebuild (dt_target_green) */
static SPIPlanPtr plans[2][DT_NUM_COUNTER_TABLES][CS_NUM][DT_NUM_SCHEMA_LEVELS];

/*
 * Keys this backend recently found held by another writer.  For a while
 * (HOT_KEY_USECS) a change of such a key goes straight to the backend's
 * stripe: one statement instead of a failed in-place attempt and then the
 * stripe, and the hot row itself stops being rewritten by every writer
 * that happens to find it free (each rewrite is a new row version that
 * every reader of the card walks past).  A cold key never enters here.
 * "A while" is drivetribe.hot_key_memory (default 1 s; 0 turns it off).
 * A direct-mapped cache: a collision only costs one in-place attempt.
 */
#define HOT_KEY_SLOTS	256

/* changes of one row version chain in one transaction before a new one */
#define STRIPE_ROTATE_WRITES	64

typedef struct HotKey
{
	DtCounterTable table;
	int64		key;
	TimestampTz until;
	LocalTransactionId lxid;	/* the transaction that changed it in place */
	int			in_place;		/* how often, in that transaction */
} HotKey;

static HotKey hot_keys[HOT_KEY_SLOTS];

static HotKey *
hot_key_slot(DtCounterTable table, int64 key)
{
	uint64		h = (uint64) key * UINT64CONST(0x9E3779B97F4A7C15) + (uint64) table;

	return &hot_keys[(h >> 32) % HOT_KEY_SLOTS];
}

static bool
key_is_hot(DtCounterTable table, int64 key)
{
	HotKey	   *slot = hot_key_slot(table, key);

	return dt_hot_key_memory > 0 && slot->key == key && slot->table == table &&
		slot->until > GetCurrentTransactionStartTimestamp();
}

/*
 * one more in-place change of a key in this transaction; true once there
 * were STRIPE_ROTATE_WRITES of them: every in-place change of a row walks
 * the versions this transaction made of it, so many changes of one key in
 * one transaction (an import, a batch) would be quadratic; the key's
 * further changes go to the stripe instead
 */
static bool
key_changed_in_place_often(DtCounterTable table, int64 key)
{
	HotKey	   *slot = hot_key_slot(table, key);

	if (slot->key != key || slot->table != table || slot->lxid != MyProc->lxid)
	{
		slot->table = table;
		slot->key = key;
		slot->until = 0;
		slot->lxid = MyProc->lxid;
		slot->in_place = 0;
	}
	return ++slot->in_place > STRIPE_ROTATE_WRITES;
}

static void
mark_key_hot(DtCounterTable table, int64 key)
{
	HotKey	   *slot = hot_key_slot(table, key);

	if (slot->key != key || slot->table != table)
		slot->lxid = InvalidLocalTransactionId;
	slot->table = table;
	slot->key = key;
	slot->until = GetCurrentTransactionStartTimestamp() +
		(TimestampTz) dt_hot_key_memory * 1000;
}

#define EQ " OPERATOR(pg_catalog.=) "
#define PLUS " OPERATOR(pg_catalog.+) "

/* "c1, c2, ..." with an optional prefix per column */
static void
append_columns(StringInfo sql, const CounterTable *t, const char *prefix)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
		appendStringInfo(sql, "%s%s%s", i ? ", " : "", prefix, t->counters[i]);
}

/* "c1 = r.c1 + <prefix>c1<suffix>, ..." (suffix: a parameter number) */
static void
append_additions(StringInfo sql, const CounterTable *t, const char *alias,
				 const char *prefix, int first_param)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
	{
		appendStringInfo(sql, "%s%s = %s.%s" PLUS, i ? ", " : "",
						 t->counters[i], alias, t->counters[i]);
		if (first_param > 0)
			appendStringInfo(sql, "$%d", first_param + i);
		else
			appendStringInfo(sql, "%s%s", prefix, t->counters[i]);
	}
}

/* "$3, $4, ..." */
static void
append_params(StringInfo sql, const CounterTable *t, int first)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
		appendStringInfo(sql, "%s$%d", i ? ", " : "", first + i);
}

/*
 * "INSERT INTO <stripes> ... SELECT $1, $2, $3.. ON CONFLICT DO UPDATE":
 * add to this backend's stripe ($2) of the key ($1).  The stripe is
 * written by this backend only (MyBackendId is unique among live
 * backends), so the upsert waits for nobody.
 */
static void
append_stripe_upsert(StringInfo sql, const CounterTable *t)
{
	appendStringInfo(sql, "INSERT INTO drivetribe.%s AS s (%s, stripe, ",
					 t->stripes, t->key);
	append_columns(sql, t, "");
	appendStringInfoString(sql, ") SELECT $1, $2, ");
	append_params(sql, t, 3);
	appendStringInfo(sql, " ON CONFLICT (%s, stripe) DO UPDATE SET ", t->key);
	append_additions(sql, t, "s", "EXCLUDED.", 0);
}

/* "r.c1 + COALESCE(s.c1, 0) AS c1, ..." (without stripes: "r.c1, ...") */
static void
append_totals(StringInfo sql, const CounterTable *t, bool striped)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
		appendStringInfo(sql, striped ?
						 "%sr.%s" PLUS "COALESCE(s.%s, 0) AS %s" : "%sr.%s",
						 i ? ", " : "", t->counters[i], t->counters[i],
						 t->counters[i]);
}

/* "pg_catalog.sum(c1)::pg_catalog.int8 AS c1, ..." */
static void
append_sums(StringInfo sql, const CounterTable *t)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
		appendStringInfo(sql, "%spg_catalog.sum(%s)::pg_catalog.int8 AS %s",
						 i ? ", " : "", t->counters[i], t->counters[i]);
}

/* the statements of a database without stripes (SQL version before 1.2) */
static char *
build_unstriped_sql(const CounterTable *t, CounterStatement which)
{
	StringInfoData sql;

	initStringInfo(&sql);
	switch (which)
	{
		case CS_ADD:
		case CS_STRIPE:
			/* 1.1: in place, waiting for the row ($2, the stripe, unused) */
			appendStringInfo(&sql, "UPDATE drivetribe.%s r SET ", t->table);
			append_additions(&sql, t, "r", NULL, 3);
			appendStringInfo(&sql, " WHERE r.%s" EQ "$1", t->key);
			break;
		case CS_LIVE_ROWS:
		case CS_TOTALS:
			appendStringInfo(&sql, "SELECT r.%s, %s, ", t->key, t->others);
			append_totals(&sql, t, false);
			appendStringInfo(&sql, " FROM drivetribe.%s r", t->table);
			if (which == CS_TOTALS)
				appendStringInfo(&sql, " WHERE r.%s" EQ "$1", t->key);
			break;
		default:
			elog(ERROR, "drivetribe: counter statement %d needs stripes", (int) which);
	}
	return sql.data;
}

static char *
build_sql(const CounterTable *t, CounterStatement which)
{
	StringInfoData sql;

	initStringInfo(&sql);
	switch (which)
	{
		case CS_ADD:
			appendStringInfo(&sql,
							 "WITH target AS (SELECT r.%s FROM drivetribe.%s r WHERE r.%s" EQ "$1 "
							 "FOR NO KEY UPDATE OF r SKIP LOCKED), "
							 "updated AS (UPDATE drivetribe.%s r SET ",
							 t->key, t->table, t->key, t->table);
			append_additions(&sql, t, "r", NULL, 3);
			appendStringInfo(&sql, " FROM target WHERE r.%s" EQ "target.%s RETURNING 1) "
							 "SELECT FROM updated", t->key, t->key);
			break;
		case CS_STRIPE:
			append_stripe_upsert(&sql, t);
			break;
		case CS_FOLD:
		case CS_FOLD_KEYS:
			/* rows no writer holds, their stripes no writer holds */
			appendStringInfo(&sql,
							 "WITH target AS (SELECT r.%1$s FROM drivetribe.%2$s r "
							 "WHERE r.%1$s" EQ "ANY (%4$s) "
							 "FOR NO KEY UPDATE OF r SKIP LOCKED), "
							 "free AS (SELECT x.%1$s, x.stripe FROM drivetribe.%3$s x "
							 "JOIN target ON x.%1$s" EQ "target.%1$s "
							 "FOR UPDATE OF x SKIP LOCKED), "
							 "folded AS (DELETE FROM drivetribe.%3$s s USING free "
							 "WHERE s.%1$s" EQ "free.%1$s AND s.stripe" EQ "free.stripe "
							 "RETURNING s.%1$s, ",
							 t->key, t->table, t->stripes,
							 which == CS_FOLD_KEYS ? "$1" :
							 psprintf("SELECT x.%s FROM drivetribe.%s x",
									  t->key, t->stripes));
			append_columns(&sql, t, "s.");
			appendStringInfo(&sql, "), sums AS (SELECT %s, ", t->key);
			append_sums(&sql, t);
			appendStringInfo(&sql, " FROM folded GROUP BY %s) UPDATE drivetribe.%s r SET ",
							 t->key, t->table);
			append_additions(&sql, t, "r", "sums.", 0);
			appendStringInfo(&sql, " FROM sums WHERE r.%s" EQ "sums.%s "
							 "RETURNING r.%s", t->key, t->key, t->key);
			break;
		case CS_ORPHANS:
		case CS_DROP_ORPHANS:
			if (which == CS_ORPHANS)
				appendStringInfo(&sql, "SELECT DISTINCT d.%s FROM drivetribe.%s d ",
								 t->key, t->stripes);
			else
				appendStringInfo(&sql, "DELETE FROM drivetribe.%s d ", t->stripes);
			appendStringInfo(&sql, "WHERE NOT EXISTS (SELECT FROM drivetribe.%s r "
							 "WHERE r.%s" EQ "d.%s)", t->table, t->key, t->key);
			break;
		case CS_LIVE_ROWS:
		case CS_TOTALS:
			appendStringInfo(&sql, "SELECT r.%s, %s, ", t->key, t->others);
			append_totals(&sql, t, true);
			appendStringInfo(&sql, " FROM drivetribe.%s r LEFT JOIN (SELECT %s, ",
							 t->table, t->key);
			append_sums(&sql, t);
			appendStringInfo(&sql, " FROM drivetribe.%s", t->stripes);
			if (which == CS_TOTALS)
				appendStringInfo(&sql, " WHERE %s" EQ "$1", t->key);
			appendStringInfo(&sql, " GROUP BY %s) s ON s.%s" EQ "r.%s",
							 t->key, t->key, t->key);
			if (which == CS_TOTALS)
				appendStringInfo(&sql, " WHERE r.%s" EQ "$1", t->key);
			break;
		case CS_RESCORE:
		case CS_RANK_CLAIM:
		case CS_UNRANKED:
		case CS_NUM:
			elog(ERROR, "drivetribe: invalid counter statement %d for %s",
				 (int) which, t->table);
	}
	return sql.data;
}

/*
 * Articles from 1.3 on: their rows also hold the score (the feeds' rank),
 * the ranking formula (docs/reference.md) over the row's counts plus its stripes.  The invariant
 * verify() checks: an article's score is the formula over its counts, or
 * the article has stripes (folding will set it).  A statement that sets a
 * score must not mix snapshots: an UPDATE that found its row changed by a
 * transaction that committed after the statement's snapshot works on the
 * newest row version, while anything else it reads (a stripe sum) comes
 * from the snapshot, so a fold committed in between would be counted
 * twice.  Hence:
 *
 *	- In place (CS_ADD), only an article without stripes: the score is the
 *	  formula over the row alone, which is right for whichever version the
 *	  UPDATE lands on (a fold that committed meanwhile moved its stripes
 *	  into that version).  An article with stripes takes the change in
 *	  this backend's stripe instead, like a held one, until it is folded.
 *	- Folding: CS_FOLD, which keeps the rows it folded into locked, then
 *	  CS_RESCORE of those rows in a new statement (SPI takes a new
 *	  snapshot per non-read-only statement at READ COMMITTED): the rows
 *	  cannot change under it, and the only stripe changes it can miss are
 *	  ones still committing, which leave stripes behind.
 */
#define STRIPE_SUMS \
	"pg_catalog.sum(x.views)::pg_catalog.int8 AS views, " \
	"pg_catalog.sum(x.comments)::pg_catalog.int8 AS comments, " \
	"pg_catalog.sum(x.bumps)::pg_catalog.int8 AS bumps"

static const char *const ranked_article_sql[CS_NUM] = {
	[CS_ADD] =
	"WITH target AS (SELECT r.article_id FROM drivetribe.articles r "
	"WHERE r.article_id" EQ "$1 AND NOT EXISTS (SELECT FROM drivetribe.article_stripes x "
	"WHERE x.article_id" EQ "$1) FOR NO KEY UPDATE OF r SKIP LOCKED), "
	"updated AS (UPDATE drivetribe.articles r SET views = r.views" PLUS "$3, "
	"comments = r.comments" PLUS "$4, bumps = r.bumps" PLUS "$5, score = "
	DT_SCORE_SQL("r.bumps" PLUS "$5", "r.comments" PLUS "$4", "r.views" PLUS "$3",
				 "r.posted_at")
	" FROM target WHERE r.article_id" EQ "target.article_id RETURNING 1) "
	"SELECT FROM updated",
	[CS_RESCORE] =
	"UPDATE drivetribe.articles r SET score = "
	DT_SCORE_SQL("r.bumps" PLUS "COALESCE(s.bumps, 0)",
				 "r.comments" PLUS "COALESCE(s.comments, 0)",
				 "r.views" PLUS "COALESCE(s.views, 0)", "r.posted_at")
	" FROM (SELECT k.article_id, " STRIPE_SUMS " FROM pg_catalog.unnest($1) "
	"AS k(article_id) LEFT JOIN drivetribe.article_stripes x "
	"ON x.article_id" EQ "k.article_id GROUP BY k.article_id) s "
	"WHERE r.article_id" EQ "s.article_id",
	[CS_LIVE_ROWS] =
	"SELECT r.article_id, r.tribe_id, r.author_id, r.title, r.posted_at, "
	"r.deleted, r.views" PLUS "COALESCE(s.views, 0) AS views, "
	"r.comments" PLUS "COALESCE(s.comments, 0) AS comments, "
	"r.bumps" PLUS "COALESCE(s.bumps, 0) AS bumps, "
	"r.score, "
	/* the score follows from the counts, or stripes may be folding */
	"(s.article_id IS NOT NULL OR r.score" EQ
	DT_SCORE_SQL("r.bumps", "r.comments", "r.views", "r.posted_at")
	") AS score_ok "
	"FROM drivetribe.articles r LEFT JOIN (SELECT x.article_id, " STRIPE_SUMS
	" FROM drivetribe.article_stripes x GROUP BY x.article_id) s "
	"ON s.article_id" EQ "r.article_id",
};

/*
 * Articles from 1.7 on: the rank lives in article_ranks, a row per live
 * article that writers never hold (post_article inserts it, delete_article
 * deletes it), and every counter change of an article goes to the
 * writer's stripe: a stripe is "this article's score is due".  One fold
 * (dt_counters_fold) then, in one transaction:
 *
 *	1. CS_RANK_CLAIM locks the rank rows of the articles with stripes that
 *	   no one holds (only a delete in progress can, and while it waits
 *	   for nobody, nothing changes the counts: see write_api.c);
 *	2. CS_UNRANKED lists the articles with stripes and no rank row
 *	   (deleted ones);
 *	3. CS_FOLD_KEYS folds the free stripes of those articles' free rows
 *	   (a row held by an open edit_article or delete_article keeps its
 *	   stripes);
 *	4. CS_RESCORE sets the claimed ranks from row plus remaining stripes,
 *	   in a new statement, whose snapshot sees step 3 and every stripe
 *	   committed since.
 *
 * So a rank never waits for a writer: whoever holds the article's row or
 * a stripe, the score is the ranking formula (docs/reference.md) over what committed before the
 * fold's last statement.  An article whose rank row step 1 could not
 * claim keeps its stripes (step 3 leaves them), so the next fold finds it
 * again: no change is ever folded without its rank being set.
 */
static const char *const rank_table_article_sql[CS_NUM] = {
	[CS_RANK_CLAIM] =
	"SELECT r.article_id FROM drivetribe.article_ranks r "
	"WHERE r.article_id" EQ "ANY (SELECT x.article_id FROM drivetribe.article_stripes x) "
	"FOR NO KEY UPDATE OF r SKIP LOCKED",
	[CS_UNRANKED] =
	"SELECT DISTINCT x.article_id FROM drivetribe.article_stripes x "
	"WHERE NOT EXISTS (SELECT FROM drivetribe.article_ranks r "
	"WHERE r.article_id" EQ "x.article_id)",
	[CS_RESCORE] =
	"UPDATE drivetribe.article_ranks r SET score = n.score "
	"FROM (SELECT a.article_id, "
	DT_SCORE_SQL("a.bumps" PLUS "COALESCE(s.bumps, 0)",
				 "a.comments" PLUS "COALESCE(s.comments, 0)",
				 "a.views" PLUS "COALESCE(s.views, 0)", "a.posted_at")
	" AS score FROM (SELECT k.article_id, " STRIPE_SUMS " FROM pg_catalog.unnest($1) "
	"AS k(article_id) LEFT JOIN drivetribe.article_stripes x "
	"ON x.article_id" EQ "k.article_id GROUP BY k.article_id) s "
	"JOIN drivetribe.articles a ON a.article_id" EQ "s.article_id) n "
	"WHERE r.article_id" EQ "n.article_id AND r.score" " OPERATOR(pg_catalog.<>) " "n.score",
};

/*
 * the kept plan of one counter statement, for a schema with stripes or
 * without; caller is connected to SPI
 */
static SPIPlanPtr
counter_plan(DtCounterTable table, CounterStatement which, DtSchemaLevel level)
{
	const CounterTable *t = &counter_tables[table];
	Oid			types[DT_MAX_COUNTERS + 2];
	int			nargs = 0;
	SPIPlanPtr	plan;
	char	   *sql;
	int			i;

	int			green = dt_targets_green() ? 1 : 0;

	if (plans[green][table][which][level] != NULL)
		return plans[green][table][which][level];
	if (which == CS_ADD || which == CS_STRIPE)
	{
		nargs = t->ncounters + 2;
		for (i = 0; i < nargs; i++)
			types[i] = INT8OID;
		types[1] = INT4OID;
	}
	else if (which == CS_TOTALS)
	{
		nargs = 1;
		types[0] = INT8OID;
	}
	else if (which == CS_RESCORE || which == CS_FOLD_KEYS)
	{
		nargs = 1;
		types[0] = INT8ARRAYOID;
	}
	if (level == DT_SCHEMA_PLAIN)
		sql = build_unstriped_sql(t, which);
	else if (level == DT_SCHEMA_RANKED && table == DT_COUNTERS_ARTICLES &&
			 ranked_article_sql[which] != NULL)
		sql = pstrdup(ranked_article_sql[which]);
	else if (level == DT_SCHEMA_RANK_TABLE && table == DT_COUNTERS_ARTICLES &&
			 rank_table_article_sql[which] != NULL)
		sql = pstrdup(rank_table_article_sql[which]);
	else
		sql = build_sql(t, which);
	if (green)
	{
		char	   *green_sql = dt_green_sql(sql);

		pfree(sql);
		sql = green_sql;
	}
	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "drivetribe: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "drivetribe: SPI_keepplan failed");
	plans[green][table][which][level] = plan;
	pfree(sql);
	return plan;
}

static int
run(DtCounterTable table, CounterStatement which, DtSchemaLevel level,
	Datum *values)
{
	int			rc = SPI_execute_plan(counter_plan(table, which, level),
									  values, NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "drivetribe: counter statement %d of %s failed: %s",
			 (int) which, counter_tables[table].table,
			 SPI_result_code_string(rc));
	return rc;
}

/* the first column of the last statement's rows, as an int8[] */
static Datum
result_keys(void)
{
	Datum	   *keys = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
		keys[i] = Int64GetDatum(dt_result_int64((int) i, 1, NULL));
	return PointerGetDatum(construct_array(keys, (int) SPI_processed, INT8OID,
										   sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

/*
 * Stripe ids.  Up to SQL version 1.6 a backend's stripe was its backend
 * id, which the next backend with that id inherits: a stripe row a
 * PREPAREd transaction wrote stayed locked until COMMIT PREPARED, and
 * every later change of that key by a backend with the same id waited for
 * it, without a timeout.  From 1.7 on a backend draws its stripe id from
 * drivetribe.stripe_ids (which starts above any backend id) and keeps it
 * until:
 *
 *	- it prepares a transaction (the prepared one keeps the rows of that
 *	  id; the backend goes on with a new one);
 *	- a transaction has made STRIPE_ROTATE_WRITES changes through it: many
 *	  changes of one key in one transaction would otherwise make one row
 *	  version chain that every later change walks (quadratic); a new id
 *	  starts a new row;
 *	- or, under REPEATABLE READ and SERIALIZABLE, each new transaction:
 *	  a fold may delete a committed stripe of the id after the snapshot
 *	  was taken, and changing that row again would be a serialization
 *	  failure (40001) the caller did nothing to cause.  A stripe id of its
 *	  own transaction is one no fold has seen.
 *
 * An id belongs to one live backend, so no writer waits for another
 * writer's stripe; the sequence wraps around after 2^31 ids.
 */

static int32 stripe_id = 0;		/* 0: draw one at the next change */
static Oid	stripe_seq = InvalidOid;	/* the sequence it came from */
static LocalTransactionId stripe_lxid = InvalidLocalTransactionId;
static int	stripe_writes = 0;	/* changes through it in stripe_lxid */
static bool stripe_callback_registered = false;

static void
stripe_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PREPARE)
		stripe_id = 0;
}

/*
 * this backend's stripe id for a change at this schema level; caller is
 * in a transaction
 */
static int32
current_stripe_id(DtSchemaLevel level)
{
	Oid			seq;

	if (level != DT_SCHEMA_RANK_TABLE)
		return (int32) MyBackendId;
	if (!stripe_callback_registered)
	{
		RegisterXactCallback(stripe_xact_callback, NULL);
		stripe_callback_registered = true;
	}
	seq = get_relname_relid("stripe_ids", get_namespace_oid("drivetribe", false));
	if (stripe_lxid != MyProc->lxid)
	{
		stripe_lxid = MyProc->lxid;
		stripe_writes = 0;
		if (IsolationUsesXactSnapshot())
			stripe_id = 0;
	}
	if (stripe_id == 0 || seq != stripe_seq ||
		++stripe_writes > STRIPE_ROTATE_WRITES)
	{
		if (!OidIsValid(seq))
			elog(ERROR, "drivetribe: sequence drivetribe.stripe_ids is missing");
		stripe_id = (int32) nextval_internal(seq, false);
		stripe_seq = seq;
		stripe_writes = 1;
	}
	return stripe_id;
}

/*
 * dt_counters_add: add deltas[0 .. ncounters-1] to the counters of one
 * row (in the column order of the table's description).  Never waits for
 * another transaction.  Caller is connected to SPI and has decided, under
 * its own locks, that the change is due (the row exists).
 */
void
dt_counters_add(DtCounterTable table, int64 key, const int64 *deltas)
{
	const CounterTable *t = &counter_tables[table];
	Datum		values[DT_MAX_COUNTERS + 2];
	bool		any = false;
	DtSchemaLevel level;
	int			i;

	values[0] = Int64GetDatum(key);
	for (i = 0; i < t->ncounters; i++)
	{
		values[i + 2] = Int64GetDatum(deltas[i]);
		any |= deltas[i] != 0;
	}
	if (!any)
		return;
	level = dt_schema_level();
	if (level == DT_SCHEMA_PLAIN)
	{
		/* SQL version before 1.2: in place, waiting for the row, as 1.1 */
		values[1] = Int32GetDatum(0);
		run(table, CS_ADD, level, values);
		return;
	}
	values[1] = Int32GetDatum(current_stripe_id(level));
	if (level == DT_SCHEMA_RANK_TABLE && table == DT_COUNTERS_ARTICLES)
	{
		/* 1.7: always the stripe; the rank worker sets the score */
		run(table, CS_STRIPE, level, values);
		dt_rank_worker_wanted();
		return;
	}
	/* in place when the row is free (one statement, the common case) */
	if (!IsolationUsesXactSnapshot() && !key_is_hot(table, key) &&
		!key_changed_in_place_often(table, key))
	{
		run(table, CS_ADD, level, values);
		if (SPI_processed > 0)
			return;
		mark_key_hot(table, key);
	}
	/* held by another transaction, recently so, or a snapshot older than it */
	run(table, CS_STRIPE, level, values);
	if (level == DT_SCHEMA_RANKED && table == DT_COUNTERS_ARTICLES)
		dt_rank_worker_wanted();
}

/* the int8[] of the first column of the last statement's rows, plus more */
static ArrayType *
keys_array(Datum *more, int nmore)
{
	Datum	   *keys = palloc(sizeof(Datum) * (SPI_processed + nmore + 1));
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
		keys[i] = Int64GetDatum(dt_result_int64((int) i, 1, NULL));
	for (int j = 0; j < nmore; j++)
		keys[i + j] = more[j];
	return construct_array(keys, (int) (SPI_processed + nmore), INT8OID,
						   sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * fold_ranked_articles: one fold of article stripes at SQL version 1.7
 * and later (see rank_table_article_sql); returns the number of ranks
 * set plus rows folded into.  Caller is connected to SPI, at READ
 * COMMITTED (each statement its own snapshot).
 */
static int64
fold_ranked_articles(void)
{
	const DtSchemaLevel level = DT_SCHEMA_RANK_TABLE;
	ArrayType  *claimed;
	ArrayType  *keys;
	Datum	   *claimed_keys;
	int			nclaimed;
	int64		done = 0;
	Datum		arg;

	run(DT_COUNTERS_ARTICLES, CS_RANK_CLAIM, level, NULL);
	claimed = keys_array(NULL, 0);
	deconstruct_array(claimed, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &claimed_keys, NULL, &nclaimed);
	run(DT_COUNTERS_ARTICLES, CS_UNRANKED, level, NULL);
	if (nclaimed == 0 && SPI_processed == 0)
		return 0;
	keys = keys_array(claimed_keys, nclaimed);
	arg = PointerGetDatum(keys);
	run(DT_COUNTERS_ARTICLES, CS_FOLD_KEYS, level, &arg);
	done += (int64) SPI_processed;
	if (nclaimed > 0)
	{
		arg = PointerGetDatum(claimed);
		run(DT_COUNTERS_ARTICLES, CS_RESCORE, level, &arg);
		done += (int64) SPI_processed;
	}
	return done;
}

/*
 * dt_counters_fold: fold the stripes of every row of the table
 * that no other transaction holds; returns the number of rows folded into.
 */
int64
dt_counters_fold(DtCounterTable table)
{
	DtSchemaLevel level = dt_schema_level();
	int64		folded;

	if (level == DT_SCHEMA_PLAIN)
		return 0;
	if (level == DT_SCHEMA_RANK_TABLE && table == DT_COUNTERS_ARTICLES)
		return fold_ranked_articles();
	run(table, CS_FOLD, level, NULL);
	folded = (int64) SPI_processed;
	if (folded > 0 && level == DT_SCHEMA_RANKED && table == DT_COUNTERS_ARTICLES)
	{
		/* the rows stay locked: their scores under a newer snapshot */
		Datum		keys = result_keys();

		run(table, CS_RESCORE, level, &keys);
	}
	return folded;
}

/* delete stripes whose row does not exist; returns how many */
int64
dt_counters_drop_orphans(DtCounterTable table)
{
	DtSchemaLevel level = dt_schema_level();

	if (level == DT_SCHEMA_PLAIN)
		return 0;
	run(table, CS_DROP_ORPHANS, level, NULL);
	return (int64) SPI_processed;
}

/*
 * the plan listing keys of stripes without a row (for verify), or NULL
 * where there are no stripes
 */
SPIPlanPtr
dt_counters_orphans_plan(DtCounterTable table)
{
	DtSchemaLevel level = dt_schema_level();

	return level == DT_SCHEMA_PLAIN ? NULL : counter_plan(table, CS_ORPHANS, level);
}

/*
 * the plan of every row of the table with its counts (row plus stripes):
 * key, the other columns of the description, then the counters
 */
SPIPlanPtr
dt_counters_live_rows_plan(DtCounterTable table)
{
	return counter_plan(table, CS_LIVE_ROWS, dt_schema_level());
}

/*
 * dt_counters_totals: one row's counts, row plus stripes, into out[] (in
 * the description's column order); false when the row does not exist.
 * Under the latest snapshot when `latest`, else the transaction's.
 */
bool
dt_counters_totals(DtCounterTable table, int64 key, bool latest, int64 *out)
{
	const CounterTable *t = &counter_tables[table];
	Datum		v[1] = {Int64GetDatum(key)};
	SPIPlanPtr	plan = counter_plan(table, CS_TOTALS, dt_schema_level());
	int			rc;
	int			i;

	if (latest)
		rc = SPI_execute_snapshot(plan, v, NULL, GetLatestSnapshot(),
								  InvalidSnapshot, true, false, 1);
	else
		rc = SPI_execute_plan(plan, v, NULL, false, 1);
	if (rc < 0)
		elog(ERROR, "drivetribe: counter totals of %s failed: %s",
			 t->table, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	for (i = 0; i < t->ncounters; i++)
		out[i] = dt_result_int64(0, 2 + t->nothers + i, NULL);
	return true;
}

const char *
dt_counters_stripe_table(DtCounterTable table)
{
	return counter_tables[table].stripes;
}

const char *
dt_counters_key(DtCounterTable table)
{
	return counter_tables[table].key;
}

/*
 * drivetribe.fold_stripes() returns bigint: fold counter stripes into every
 * row no other transaction holds; returns the number of rows folded into.
 * Run every minute by the pg_cron job drivetribe-fold-stripes.
 */
PG_FUNCTION_INFO_V1(drivetribe_fold_stripes);
Datum
drivetribe_fold_stripes(PG_FUNCTION_ARGS)
{
	int64		folded = 0;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	for (i = 0; i < DT_NUM_COUNTER_TABLES; i++)
		folded += dt_counters_fold((DtCounterTable) i);
	SPI_finish();
	PG_RETURN_INT64(folded);
}
