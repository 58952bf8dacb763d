/*-------------------------------------------------------------------------
 *
 * rank_worker.c
 *	  The rank worker: folds counter stripes about once a second while
 *	  there are any, so that a stored score catches up with its counts.
 *
 * A counter change made in an article's stripe (the article was held by
 * another writer: counters.c) does not set the article's stored score;
 * folding does.  SPEC lets the score lag its counts by at most 5 s while
 * the article is written concurrently, and pg_cron runs a job at most
 * once a minute, so the extension folds by itself: every counter change
 * calls dt_rank_worker_wanted(), which (at most once a second per backend,
 * and only when there are article stripes) starts a dynamic background
 * worker for the database unless one is
 * running.  The worker folds every drivetribe.fold_interval (default
 * 1 s) and exits after two folds that found nothing; no configuration is
 * needed (no shared_preload_libraries), only a free slot of
 * max_worker_processes.  Without one, a warning says so and the pg_cron
 * job drivetribe-fold-stripes (every minute) still folds.
 *
 * One worker per database: it holds a session advisory lock (class
 * DT_LOCK_RANK_WORKER) for its life; a writer that can take the lock
 * (and drops it at once) knows there is none.  Two writers may both start
 * one; the second finds the lock taken and exits.  The worker connects as
 * the role the writer's call ran as (the extension's owner: the write API
 * is SECURITY DEFINER) and folds with the same statements as
 * drivetribe.fold_stripes(), in short transactions of its own: every fold
 * is exact, whatever else commits or rolls back (counters.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "counters.h"
#include "locks.h"


/*
 * A worker exits after this many folds in a row that found nothing to
 * fold: a connected worker holds its database (DROP DATABASE waits 5 s
 * for other sessions to leave, then fails), so it leaves soon after the
 * last stripe; the next writer of a stripe starts another.
 */
#define RANK_WORKER_EMPTY_FOLDS 2

/* drivetribe.fold_interval: how often the worker folds, in ms */
int			dt_fold_interval = 1000;

static void
rank_worker_locktag(LOCKTAG *tag, Oid database)
{
	dt_lock_tag(tag, database, DT_LOCK_RANK_WORKER, 0);
}

/* whether a rank worker holds this database's lock right now */
static bool
rank_worker_running(void)
{
	LOCKTAG		tag;

	rank_worker_locktag(&tag, MyDatabaseId);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, false);
	return false;
}

/*
 * dt_rank_worker_wanted: called by every counter change (wrote_stripe:
 * it was made in an article stripe); makes sure a rank worker runs for
 * this database when there are article stripes to fold.  Looks at most
 * once a second per backend (a lock-table probe, and for a change made in
 * place a probe of article_stripes), so writers pay nothing measurable,
 * and the first write after a restart starts the worker that folds the
 * stripes a crash left behind.  Caller is connected to SPI.
 */
void
dt_rank_worker_wanted(bool wrote_stripe)
{
	static TimestampTz next_check = 0;
	static bool warned = false;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	BackgroundWorker worker;
	Oid			role = GetUserId();

	if (now < next_check)
		return;
	next_check = now + (TimestampTz) 1000 * 1000;
	/* stripes left from before (a crash, a stopped worker) want one too */
	if (!wrote_stripe)
	{
		dt_exec(DT_SQL_ARTICLE_STRIPES_EXIST, NULL, NULL, true, 1);
		if (!dt_result_bool(0, 1))
			return;
	}
	if (rank_worker_running())
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "drivetribe");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "dt_rank_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "drivetribe rank worker for database %u",
			 MyDatabaseId);
	snprintf(worker.bgw_type, BGW_MAXLEN, "drivetribe rank worker");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, &role, sizeof(role));
	worker.bgw_notify_pid = 0;
	if (!RegisterDynamicBackgroundWorker(&worker, NULL) && !warned)
	{
		warned = true;
		ereport(WARNING,
				(errmsg("could not start the drivetribe rank worker"),
				 errdetail("Every background worker slot is in use."),
				 errhint("Raise max_worker_processes.  Until a worker runs, the scores of articles "
						 "written concurrently catch up only when the pg_cron job "
						 "drivetribe-fold-stripes runs (every minute).")));
	}
}

/*
 * Take, without waiting, the table locks a fold needs (ROW EXCLUSIVE on the
 * stripes and their rows' tables), before any statement runs; false when
 * one is held or awaited in a conflicting mode.  A fold that waited for a
 * table lock in the middle, holding others, could deadlock with DDL that
 * locks the same tables in another order (DROP EXTENSION, ALTER EXTENSION
 * UPDATE); this fold is skipped instead, and the next one tries again.
 * The caller is in a transaction.
 */
static bool
rank_worker_lock_tables(void)
{
	static const char *const tables[] = {
		"article_stripes", "user_stripes", "tribe_stripes",
		"articles", "users", "tribes"
	};
	Oid			nsp = get_namespace_oid("drivetribe", true);

	if (!OidIsValid(nsp))
		return false;
	for (int i = 0; i < lengthof(tables); i++)
	{
		Oid			relid = get_relname_relid(tables[i], nsp);

		if (!OidIsValid(relid) ||
			!ConditionalLockRelationOid(relid, RowExclusiveLock))
			return false;
	}
	return true;
}

/*
 * One fold of every counter table in a transaction of its own; returns
 * the number of rows folded into, or -1 when this database has no
 * drivetribe with stripes (any more).
 */
static int64
rank_worker_fold(void)
{
	int64		folded = 0;
	int			i;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "drivetribe: folding counter stripes");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	if (dt_schema_level() == DT_SCHEMA_PLAIN)
		folded = -1;
	else if (rank_worker_lock_tables())
		for (i = 0; i < DT_NUM_COUNTER_TABLES; i++)
			folded += dt_counters_fold((DtCounterTable) i);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return folded;
}

/*
 * dt_rank_worker_main: the worker's life.  Started by
 * dt_rank_worker_wanted() with the database in main_arg and the role in
 * bgw_extra.
 */
void
dt_rank_worker_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	Oid			role;
	LOCKTAG		tag;
	LockAcquireResult got;
	int			empty_folds = 0;

	memcpy(&role, MyBgworkerEntry->bgw_extra, sizeof(role));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, role, 0);

	/* one worker per database: the lock is ours until we exit */
	rank_worker_locktag(&tag, database);
	StartTransactionCommand();
	got = LockAcquire(&tag, ExclusiveLock, true, true);
	CommitTransactionCommand();
	if (got == LOCKACQUIRE_NOT_AVAIL)
		proc_exit(0);

	while (empty_folds < RANK_WORKER_EMPTY_FOLDS)
	{
		int64		folded;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		folded = rank_worker_fold();
		if (folded < 0)
			break;
		empty_folds = folded > 0 ? 0 : empty_folds + 1;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 dt_fold_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}
