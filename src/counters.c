/*-------------------------------------------------------------------------
 *
 * counters.c
 *	  Counter changes that never wait for another writer.
 *
 * Every counter change of the write API (a view, a bump, a comment, a
 * follow, a join, a post, a delete) goes through dt_counters_add(), one
 * statement per row:
 *
 *	- At READ COMMITTED it tries the row with FOR NO KEY UPDATE SKIP LOCKED.
 *	  When it gets the lock it folds every committed pending delta of the
 *	  key into the row (DELETE ... RETURNING) and adds its own change, in
 *	  place: the row is exact and its stored score too.  When another
 *	  transaction holds the row (a concurrent writer of the same key, a
 *	  rename, a delete), it appends its change to <table>_deltas instead:
 *	  an insert, which waits for nobody.
 *	- At REPEATABLE READ and SERIALIZABLE it always appends a delta: an
 *	  in-place update of a row changed since the snapshot would fail with
 *	  40001, an append never does.
 *
 * So no writer ever waits for another writer's counter row, whatever the
 * key's heat, and a counter lock can never take part in a deadlock.  A
 * row holder has only the deltas that committed before its statement to
 * fold; the deltas of writers that overlapped the last holder stay
 * pending until the next writer of the key, drivetribe.fold_deltas() (the
 * pg_cron job drivetribe-fold-deltas, every minute) or rebuild() folds
 * them.  The number pending for one key is therefore bounded by the
 * writers that overlapped its last row holder, about the number of
 * concurrent writers, and a read (row + sum of deltas, see the views)
 * stays a primary-key lookup plus a short index range.
 *
 * Folding never loses or double-counts: the deltas folded are exactly
 * those the DELETE removed, the row update that adds them is in the same
 * statement and transaction, and only the row's lock holder folds (a
 * second folder would have to hold the same row lock).  A rollback undoes
 * both; a crash loses neither.
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
#include "lib/stringinfo.h"

#include "counters.h"

typedef struct CounterTable
{
	const char *table;			/* drivetribe.<table> */
	const char *deltas;			/* drivetribe.<deltas> */
	const char *key;
	int			ncounters;
	const char *counters[DT_MAX_COUNTERS];
} CounterTable;

static const CounterTable counter_tables[DT_NUM_COUNTER_TABLES] = {
	[DT_COUNTERS_ARTICLES] = {"articles", "article_deltas", "article_id", 3,
	{"views", "comments", "bumps"}},
	[DT_COUNTERS_USERS] = {"users", "user_deltas", "user_id", 7,
		{"articles", "comments", "bumps_given", "bumps_received", "followers",
	"following", "tribes"}},
	[DT_COUNTERS_TRIBES] = {"tribes", "tribe_deltas", "tribe_id", 2,
	{"members", "articles"}},
};

typedef enum CounterStatement
{
	CS_ADD,						/* in place if free, else a delta */
	CS_APPEND,					/* a delta */
	CS_FOLD,					/* fold every pending delta of free rows */
	CS_ORPHANS,					/* keys of deltas without a row */
	CS_DROP_ORPHANS,			/* delete those deltas */
	CS_NUM
} CounterStatement;

static SPIPlanPtr plans[DT_NUM_COUNTER_TABLES][CS_NUM];

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

/* "pg_catalog.sum(c1)::pg_catalog.int8 AS c1, ..." */
static void
append_sums(StringInfo sql, const CounterTable *t, bool zero_if_none)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
		appendStringInfo(sql, zero_if_none ?
						 "%sCOALESCE(pg_catalog.sum(%s), 0)::pg_catalog.int8 AS %s" :
						 "%spg_catalog.sum(%s)::pg_catalog.int8 AS %s",
						 i ? ", " : "", t->counters[i], t->counters[i]);
}

/* "$2, $3, ..." */
static void
append_params(StringInfo sql, const CounterTable *t)
{
	int			i;

	for (i = 0; i < t->ncounters; i++)
		appendStringInfo(sql, "%s$%d", i ? ", " : "", i + 2);
}

/* the CTEs "target" (the key's row, if free) and "folded" (its deltas) */
static void
append_lock_and_fold(StringInfo sql, const CounterTable *t, const char *keys)
{
	appendStringInfo(sql,
					 "WITH target AS (SELECT r.%s FROM drivetribe.%s r WHERE r.%s%s "
					 "FOR NO KEY UPDATE OF r SKIP LOCKED), "
					 "folded AS (DELETE FROM drivetribe.%s d USING target "
					 "WHERE d.%s" EQ "target.%s RETURNING d.%s, ",
					 t->key, t->table, t->key, keys, t->deltas, t->key, t->key,
					 t->key);
	append_columns(sql, t, "d.");
	appendStringInfoString(sql, ")");
}

static char *
build_sql(const CounterTable *t, CounterStatement which)
{
	StringInfoData sql;
	int			i;

	initStringInfo(&sql);
	switch (which)
	{
		case CS_ADD:
			append_lock_and_fold(&sql, t, EQ "$1");
			appendStringInfoString(&sql, ", pending AS (SELECT ");
			append_sums(&sql, t, true);
			appendStringInfo(&sql, " FROM folded), updated AS (UPDATE drivetribe.%s r SET ",
							 t->table);
			for (i = 0; i < t->ncounters; i++)
				appendStringInfo(&sql, "%s%s = r.%s" PLUS "$%d" PLUS "pending.%s",
								 i ? ", " : "", t->counters[i], t->counters[i],
								 i + 2, t->counters[i]);
			appendStringInfo(&sql, " FROM target, pending WHERE r.%s" EQ "target.%s "
							 "RETURNING 1) INSERT INTO drivetribe.%s (%s, ",
							 t->key, t->key, t->deltas, t->key);
			append_columns(&sql, t, "");
			appendStringInfoString(&sql, ") SELECT $1, ");
			append_params(&sql, t);
			appendStringInfoString(&sql, " WHERE NOT EXISTS (SELECT FROM updated)");
			break;
		case CS_APPEND:
			appendStringInfo(&sql, "INSERT INTO drivetribe.%s (%s, ", t->deltas, t->key);
			append_columns(&sql, t, "");
			appendStringInfoString(&sql, ") VALUES ($1, ");
			append_params(&sql, t);
			appendStringInfoString(&sql, ")");
			break;
		case CS_FOLD:
			append_lock_and_fold(&sql, t,
								 psprintf(EQ "ANY (SELECT x.%s FROM drivetribe.%s x)",
										  t->key, t->deltas));
			appendStringInfo(&sql, ", sums AS (SELECT %s, ", t->key);
			append_sums(&sql, t, false);
			appendStringInfo(&sql, " FROM folded GROUP BY %s) UPDATE drivetribe.%s r SET ",
							 t->key, t->table);
			for (i = 0; i < t->ncounters; i++)
				appendStringInfo(&sql, "%s%s = r.%s" PLUS "sums.%s",
								 i ? ", " : "", t->counters[i], t->counters[i],
								 t->counters[i]);
			appendStringInfo(&sql, " FROM sums WHERE r.%s" EQ "sums.%s",
							 t->key, t->key);
			break;
		case CS_ORPHANS:
		case CS_DROP_ORPHANS:
			if (which == CS_ORPHANS)
				appendStringInfo(&sql, "SELECT DISTINCT d.%s FROM drivetribe.%s d ",
								 t->key, t->deltas);
			else
				appendStringInfo(&sql, "DELETE FROM drivetribe.%s d ", t->deltas);
			appendStringInfo(&sql, "WHERE NOT EXISTS (SELECT FROM drivetribe.%s r "
							 "WHERE r.%s" EQ "d.%s)", t->table, t->key, t->key);
			break;
		case CS_NUM:
			elog(ERROR, "drivetribe: invalid counter statement");
	}
	return sql.data;
}

/* the kept plan of one counter statement; caller is connected to SPI */
static SPIPlanPtr
counter_plan(DtCounterTable table, CounterStatement which)
{
	const CounterTable *t = &counter_tables[table];
	Oid			types[DT_MAX_COUNTERS + 1];
	int			nargs = 0;
	SPIPlanPtr	plan;
	char	   *sql;
	int			i;

	if (plans[table][which] != NULL)
		return plans[table][which];
	if (which == CS_ADD || which == CS_APPEND)
	{
		nargs = t->ncounters + 1;
		for (i = 0; i < nargs; i++)
			types[i] = INT8OID;
	}
	sql = build_sql(t, which);
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "drivetribe: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "drivetribe: SPI_keepplan failed");
	plans[table][which] = plan;
	pfree(sql);
	return plan;
}

static int
run(DtCounterTable table, CounterStatement which, Datum *values)
{
	int			rc = SPI_execute_plan(counter_plan(table, which), values, NULL,
									  false, 0);

	if (rc < 0)
		elog(ERROR, "drivetribe: counter statement %d of %s failed: %s",
			 (int) which, counter_tables[table].table,
			 SPI_result_code_string(rc));
	return rc;
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
	Datum		values[DT_MAX_COUNTERS + 1];
	bool		any = false;
	int			i;

	values[0] = Int64GetDatum(key);
	for (i = 0; i < t->ncounters; i++)
	{
		values[i + 1] = Int64GetDatum(deltas[i]);
		any |= deltas[i] != 0;
	}
	if (!any)
		return;
	run(table, IsolationUsesXactSnapshot() ? CS_APPEND : CS_ADD, values);
}

/*
 * dt_counters_fold: fold the pending deltas of every row of the table
 * that no other transaction holds; returns the number of rows folded into.
 */
int64
dt_counters_fold(DtCounterTable table)
{
	run(table, CS_FOLD, NULL);
	return (int64) SPI_processed;
}

/* delete deltas whose row does not exist; returns how many */
int64
dt_counters_drop_orphans(DtCounterTable table)
{
	run(table, CS_DROP_ORPHANS, NULL);
	return (int64) SPI_processed;
}

/* the plan listing keys of deltas without a row (for verify) */
SPIPlanPtr
dt_counters_orphans_plan(DtCounterTable table)
{
	return counter_plan(table, CS_ORPHANS);
}

const char *
dt_counters_delta_table(DtCounterTable table)
{
	return counter_tables[table].deltas;
}

const char *
dt_counters_key(DtCounterTable table)
{
	return counter_tables[table].key;
}

/*
 * drivetribe.fold_deltas() returns bigint: fold pending deltas into every
 * row no other transaction holds; returns the number of rows folded into.
 * Run every minute by the pg_cron job drivetribe-fold-deltas.
 */
PG_FUNCTION_INFO_V1(drivetribe_fold_deltas);
Datum
drivetribe_fold_deltas(PG_FUNCTION_ARGS)
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
