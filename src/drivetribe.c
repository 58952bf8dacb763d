/*-------------------------------------------------------------------------
 *
 * drivetribe.c
 *	  Module entry: settings, the rank score and the guard of the
 *	  append-only log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include <math.h>

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/numeric.h"

#include "counters.h"
#include "projection.h"
#include "feed.h"
#include "progress.h"

PG_MODULE_MAGIC;

/* drivetribe.allow_log_ddl: let a superuser run DDL on the log */
bool		dt_allow_log_ddl = false;

/* drivetribe.idempotency_retention: how long no-op event_ids are kept */
int			dt_idempotency_retention = 86400;

/* drivetribe.hot_key_memory: how long a backend sends a held key's counter changes straight to its stripe */
int			dt_hot_key_memory = 1000;
int			dt_switch_lock_timeout = 200;

/* drivetribe.rank_databases: databases with a permanent rank worker (preloaded) */
static char *dt_rank_databases = NULL;

void		_PG_init(void);

/*
 * _PG_init: define the extension's settings.  Both are superuser-only:
 * one switches off a guard, the other decides how long retries stay
 * idempotent (set it in postgresql.conf or with ALTER DATABASE ... SET, so
 * that the pg_cron job that prunes sees it).
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("drivetribe.allow_log_ddl",
							 "Allows DDL that could rewrite or unguard drivetribe.events.",
							 "Off: ALTER TABLE of the log, and triggers, rules and "
							 "policies on it, are refused outside the extension's scripts.",
							 &dt_allow_log_ddl,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.idempotency_retention",
							"How long the event_id of a write call that changed nothing is remembered.",
							"A retry within this time returns NULL again; later, the "
							"event_id may be used again.  Calls that appended an event "
							"are remembered for ever by the log.",
							&dt_idempotency_retention,
							86400,
							60,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.projection_batch_size",
							"How many events of the log a projection's backfill gives its handler at a time.",
							"Each batch is one transaction of the backfill; a writer waits at most one "
							"batch when the projection is handed over to live maintenance.",
							&dt_projection_batch_size,
							10000,
							1,
							1000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.hot_key_memory",
							"How long a backend sends a counter change of a key it found held straight to its own stripe.",
							"Saves a failed in-place attempt per change of a hot key and keeps the hot row "
							"from being rewritten by every writer; 0 tries the row every time.",
							&dt_hot_key_memory,
							1000,
							0,
							60000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.switch_lock_timeout",
							"How long each try of a blue/green rebuild's switch waits for its locks.",
							"The switch locks the log (writers wait from then to its commit) and the "
							"projection tables; a try that does not get them in time lets go and tries "
							"again, so that writers never queue behind a long wait.  0: one try that "
							"waits as long as lock_timeout allows.",
							&dt_switch_lock_timeout,
							200,
							0,
							60000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("drivetribe.rank_worker",
							 "Whether writers and readers start the rank worker of their database.",
							 "Off: no worker is started and scores are set only by "
							 "drivetribe.fold_stripes() (the pg_cron job drivetribe-fold-stripes), so "
							 "they lag their counts by up to a minute.  For tests that must not "
							 "see a fold happen by itself.",
							 &dt_rank_worker_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("drivetribe.projection_worker",
							 "Whether writers and projection switches start the projection worker of their database.",
							 "Off: live async projections are not applied until a session "
							 "with it on starts the worker (alter_projection() to inline "
							 "catches one up).  For tests that must not see the worker "
							 "apply events by itself.",
							 &dt_projection_worker_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.fold_interval",
							"How often the rank worker folds counter stripes and sets the scores of their articles.",
							"An article's score is set by a fold: it lags its counts by about this much "
							"plus the fold's own time (the documented bound is 2 s).",
							&dt_fold_interval,
							500,
							10,
							1500,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.feed_walk_rows",
							"How many rows of the global ranking a feed page may walk per source of the reader.",
							"A reader whose sources write a good share of the site finds a page by walking "
							"the ranking of every article; past this many rows per source the page merges "
							"the rankings of the reader's sources instead.  0 always merges.",
							&dt_feed_walk_rows,
							4,
							0,
							1000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("drivetribe.progress_interval",
							"How often rebuild() and verify() send a progress NOTICE.",
							"Each NOTICE gives the phase, the events or rows done of the total, "
							"the rate and the time so far; a call that ran this long also ends "
							"with a NOTICE of its result.  0 sends none.  Other sessions see the "
							"progress in pg_stat_activity.query whatever this is.",
							&dt_progress_interval,
							5000,
							0,
							3600000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	dt_progress_init();
	/* a postmaster setting can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("drivetribe.rank_databases",
								   "Databases that get a permanent rank worker at server start.",
								   "Needs drivetribe in shared_preload_libraries.  Each named database "
								   "gets a rank worker with a reserved slot, running from the moment "
								   "the server accepts connections (after a crash too); other "
								   "databases start one when they need it, if a max_worker_processes "
								   "slot is free.",
								   &dt_rank_databases,
								   "",
								   PGC_POSTMASTER,
								   GUC_LIST_INPUT,
								   NULL, NULL, NULL);
	MarkGUCPrefixReserved("drivetribe");
	if (process_shared_preload_libraries_in_progress)
		dt_rank_workers_register_permanent(dt_rank_databases);
}

/*
 * drivetribe.score(bumps, comments, views, posted_at): the ranking formula of docs/reference.md,
 *	 log10(greatest(10*bumps + 5*comments + views, 1))
 *	   + extract(epoch from posted_at) / 45000
 * computed through the same numeric and float8 steps as that SQL
 * expression, so the stored score equals what a reader computes in SQL.
 * Immutable: the epoch of a timestamptz does not depend on the time zone.
 */
PG_FUNCTION_INFO_V1(drivetribe_score);
Datum
drivetribe_score(PG_FUNCTION_ARGS)
{
	int64		bumps = PG_GETARG_INT64(0);
	int64		comments = PG_GETARG_INT64(1);
	int64		views = PG_GETARG_INT64(2);
	TimestampTz posted_at = PG_GETARG_TIMESTAMPTZ(3);
	double		engagement;
	Datum		epoch;
	Datum		age;

	engagement = (double) (10 * bumps + 5 * comments + views);
	if (engagement < 1)
		engagement = 1;
	epoch = DirectFunctionCall2(extract_timestamptz,
								CStringGetTextDatum("epoch"),
								TimestampTzGetDatum(posted_at));
	age = DirectFunctionCall2(numeric_div, epoch,
							  NumericGetDatum(int64_to_numeric(45000)));
	PG_RETURN_FLOAT8(log10(engagement) +
					 DatumGetFloat8(DirectFunctionCall1(numeric_float8, age)));
}

/*
 * drivetribe.events_are_immutable(): BEFORE UPDATE OR DELETE OR TRUNCATE
 * statement trigger on drivetribe.events, ENABLE ALWAYS so that
 * session_replication_role does not switch it off.  INSERT (the write API,
 * and the COPY of a pg_restore) is not affected.
 */
PG_FUNCTION_INFO_V1(drivetribe_events_are_immutable);
Datum
drivetribe_events_are_immutable(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "drivetribe_events_are_immutable: not called as a trigger");
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		op = "TRUNCATE";
	else
		op = "this change";

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("drivetribe.events is append-only: %s is not allowed", op),
			 errdetail("The event log is the source of truth; its rows are never changed or removed."),
			 errhint("Record a correction by calling the write API, which appends a new event."),
			 dt_errentity(DT_ENTITY_LOG)));
	PG_RETURN_NULL();
}
