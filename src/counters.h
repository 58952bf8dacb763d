/*-------------------------------------------------------------------------
 *
 * counters.h
 *	  Counters without a hot row: the counter columns of articles, users
 *	  and tribes, changed in place when their row is free and in a
 *	  per-backend stripe row when another writer holds it.
 *
 * A count is its row's column plus the sum of the key's stripes in
 * <table>_stripes; both are ordinary MVCC rows written in the writer's
 * transaction, so every count is exact at any snapshot and a rollback or
 * a crash takes a change back whole.  See counters.c for the protocol.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_COUNTERS_H
#define DRIVETRIBE_COUNTERS_H

#include "drivetribe.h"

typedef enum DtCounterTable
{
	DT_COUNTERS_ARTICLES,		/* views, comments, bumps */
	DT_COUNTERS_USERS,			/* articles .. tribes (DtUserCounts order) */
	DT_COUNTERS_TRIBES,			/* members, articles */
	DT_NUM_COUNTER_TABLES
} DtCounterTable;

#define DT_MAX_COUNTERS 7

extern void dt_counters_add(DtCounterTable table, int64 key,
							const int64 *deltas);
extern int64 dt_counters_fold(DtCounterTable table);
extern int64 dt_counters_drop_orphans(DtCounterTable table);
extern SPIPlanPtr dt_counters_orphans_plan(DtCounterTable table);
extern SPIPlanPtr dt_counters_live_rows_plan(DtCounterTable table);
extern bool dt_counters_totals(DtCounterTable table, int64 key, bool latest,
							   int64 *out);
extern const char *dt_counters_stripe_table(DtCounterTable table);
extern const char *dt_counters_key(DtCounterTable table);

/*
 * rank_worker.c: a background worker per database folds article stripes
 * about every drivetribe.fold_interval, so a stored score lags its counts
 * by about that much while the article is written concurrently.
 */
extern int	dt_fold_interval;
extern bool dt_rank_worker_enabled;
extern void dt_rank_worker_wanted(void);
extern void dt_rank_worker_wanted_by_reader(void);
extern PGDLLEXPORT void dt_rank_worker_main(Datum main_arg);
extern PGDLLEXPORT void dt_rank_worker_permanent_main(Datum main_arg);
extern void dt_rank_workers_register_permanent(const char *databases);

#endif							/* DRIVETRIBE_COUNTERS_H */
