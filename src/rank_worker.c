/*-------------------------------------------------------------------------
 *
 * rank_worker.c
 *	  The rank worker: folds counter stripes and sets the scores of the
 *	  articles they belong to, about every drivetribe.fold_interval, for
 *	  as long as there may be any.
 *
 * docs/reference.md lets an article's score lag its counts by at most 2 seconds,
 * whoever writes and however.  Since SQL version 1.7 every counter change
 * of an article goes to the writer's stripe (counters.c) and only a fold
 * sets the score (article_ranks), so the bound is this worker's: a fold
 * every drivetribe.fold_interval (default 500 ms) in short transactions
 * of its own, which never wait for a writer (SKIP LOCKED, ConditionalLock*,
 * lock_timeout).
 *
 * Life.  One worker per database, identified by a session lock of class
 * DT_LOCK_RANK_WORKER in the extension's own lock space (locks.h): no SQL
 * caller can take it, so no role can stop the worker by holding it.  It
 * is a dynamic background worker (no shared_preload_libraries needed,
 * only a free max_worker_processes slot), started by:
 *
 *	- the first transaction that writes an article stripe while none runs
 *	  (dt_rank_worker_wanted: one lock-table probe per such transaction);
 *	- a read of the feeds or of a card that finds stripes and no worker
 *	  (at most once a second per backend): the first read after a restart
 *	  on a database nobody writes to.
 *
 * Starting is serialised on a lock of class DT_LOCK_RANK_REGISTER
 * (worker.c, which starts the projection worker the same way).
 *
 * The worker leaves when there has been nothing it could have to do for
 * RANK_WORKER_LINGER_MS: no article stripe it can see and no other
 * transaction holding a lock on article_stripes (a writer in progress, or
 * a prepared transaction, whose stripes will become visible at commit).  It releases its identity and
 * then looks again: a writer that found the identity held had already
 * locked article_stripes, so either the second look sees it, or the writer
 * found the identity free and started a new worker.  A worker that leaves
 * releases its database, which DROP DATABASE needs.
 *
 * The worker connects as the extension's owner and folds with the same
 * statements as drivetribe.fold_stripes(); every fold is exact, whatever
 * else commits or rolls back (counters.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
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
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "counters.h"
#include "locks.h"
#include "worker.h"

/* drivetribe.fold_interval: how often the worker folds, in ms */
int			dt_fold_interval = 500;

/* drivetribe.rank_worker: whether writers and readers start one */
bool		dt_rank_worker_enabled = true;

/* a fold or a look that waits longer than this for a lock gives up */
#define RANK_WORKER_LOCK_TIMEOUT "1s"

/*
 * a dynamic worker leaves after this long with nothing to do: a site that
 * writes now and then keeps one worker instead of starting one per write
 */
#define RANK_WORKER_LINGER_MS	2000

/* a worker whose folds fail this many times in a row leaves */
#define RANK_WORKER_MAX_ERRORS	10

static bool rank_worker_look(void);

static const DtWorkerKind rank_worker_kind = {
	.identity = DT_LOCK_RANK_WORKER,
	.registering = DT_LOCK_RANK_REGISTER,
	.function = "dt_rank_worker_main",
	.type = "drivetribe rank worker",
	.no_slot_detail = "Every background worker slot is in use: article scores lag "
	"their counts until a slot is free.",
};

/*
 * dt_rank_worker_wanted: called by every transaction that writes an
 * article stripe, after writing it (so it holds a lock on
 * article_stripes); makes sure a rank worker runs for this database.  One
 * lock-table probe per transaction.  Caller is connected to SPI.
 */
void
dt_rank_worker_wanted(void)
{
	static LocalTransactionId checked = InvalidLocalTransactionId;

	if (dt_rank_worker_enabled)
		dt_worker_wanted(&rank_worker_kind, &checked);
}

/*
 * dt_rank_worker_wanted_by_reader: called by the read API's C functions;
 * at most once a second per backend, starts a rank worker when there are
 * article stripes and none runs (stripes a crash or an immediate shutdown
 * left on a database nobody writes to).  Caller is connected to SPI.
 */
void
dt_rank_worker_wanted_by_reader(void)
{
	static TimestampTz next_check = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Oid			owner;
	Oid			caller;
	int			sec_context;
	bool		stripes = false;

	if (now < next_check || !dt_rank_worker_enabled || RecoveryInProgress() ||
		dt_schema_level() != DT_SCHEMA_RANK_TABLE)
		return;
	next_check = TimestampTzPlusMilliseconds(now, 1000);
	if (dt_worker_running(&rank_worker_kind) || !OidIsValid(owner = dt_extension_owner()))
		return;
	/* a reader has no privilege on the stripes: look as the owner */
	GetUserIdAndSecContext(&caller, &sec_context);
	SetUserIdAndSecContext(owner, sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		dt_exec(DT_SQL_ARTICLE_STRIPES_EXIST, NULL, NULL, true, 1);
		stripes = dt_result_bool(0, 1);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(caller, sec_context);
	}
	PG_END_TRY();
	if (stripes)
		dt_worker_start(&rank_worker_kind);
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
		"articles", "users", "tribes", "article_ranks"
	};
	Oid			nsp = get_namespace_oid("drivetribe", true);

	if (!OidIsValid(nsp))
		return false;
	for (int i = 0; i < lengthof(tables); i++)
	{
		Oid			relid = get_relname_relid(tables[i], nsp);

		/* article_ranks exists from 1.7 on */
		if (!OidIsValid(relid) && i == lengthof(tables) - 1)
			continue;
		if (!OidIsValid(relid) ||
			!ConditionalLockRelationOid(relid, RowExclusiveLock))
			return false;
	}
	return true;
}

/*
 * whether a fold may find work later: article stripes it can see, or
 * another transaction (in progress or prepared) holding a lock on
 * article_stripes (its stripes show at commit).  False when the database
 * has no drivetribe with stripes.  Caller is in a transaction, connected
 * to SPI.
 */
static bool
rank_work_pending(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);
	Oid			stripes;
	LOCKTAG		tag;
	int			holders = 0;

	if (!OidIsValid(nsp))
		return false;
	stripes = get_relname_relid("article_stripes", nsp);
	if (!OidIsValid(stripes))
		return false;
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, stripes);
	(void) GetLockConflicts(&tag, ShareLock, &holders);
	if (holders > 0)
		return true;
	/*
	 * Then the stripes, under a snapshot taken after that look: a writer
	 * holds its lock on article_stripes until after its commit is visible,
	 * so one the look did not see is in this snapshot.
	 */
	dt_exec_latest(DT_SQL_ARTICLE_STRIPES_EXIST, NULL, NULL);
	return dt_result_bool(0, 1);
}

/*
 * One fold of every counter table in a transaction of its own, then a
 * look at whether more may come (in another); returns false when there
 * is nothing left to wait for (or no drivetribe with stripes here).
 * Errors (a lock_timeout, a concurrent DROP EXTENSION) end the worker;
 * the next writer starts another.
 */
static bool
rank_worker_fold(void)
{
	bool		pending;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "drivetribe: folding counter stripes");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	if (dt_schema_level() != DT_SCHEMA_PLAIN && rank_worker_lock_tables())
		for (int i = 0; i < DT_NUM_COUNTER_TABLES; i++)
			(void) dt_counters_fold((DtCounterTable) i);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	pending = rank_worker_look();
	pgstat_report_activity(STATE_IDLE, NULL);
	return pending;
}

/* rank_work_pending() in a transaction of its own */
static bool
rank_worker_look(void)
{
	bool		pending;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	pending = dt_schema_level() != DT_SCHEMA_PLAIN && rank_work_pending();
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return pending;
}

/*
 * rank_worker_loop: fold every drivetribe.fold_interval while this worker
 * holds the database's identity.  A dynamic worker leaves when there is
 * nothing left to wait for (see the file banner); a permanent one (from
 * drivetribe.rank_databases) stays, and takes the identity whenever it is
 * free.  Caller is connected to the database.
 */
static void
rank_worker_loop(Oid database, bool permanent)
{
	LOCKTAG		identity;
	int			errors = 0;
	bool		held = false;
	TimestampTz last_work = GetCurrentTimestamp();

	SetConfigOption("lock_timeout", RANK_WORKER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "drivetribe rank worker", PGC_USERSET, PGC_S_OVERRIDE);
	dt_lock_tag(&identity, database, DT_LOCK_RANK_WORKER, 0);

	for (;;)
	{
		bool		pending = true;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* one worker per database: the identity is ours until we leave */
		if (!held)
		{
			StartTransactionCommand();
			held = LockAcquire(&identity, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
			CommitTransactionCommand();
			if (!held && !permanent)
				break;			/* another worker has it */
		}
		if (held)
		{
			PG_TRY();
			{
				pending = rank_worker_fold();
				errors = 0;
			}
			PG_CATCH();
			{
				/* say why, and try again at the next interval */
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
				pgstat_report_activity(STATE_IDLE, NULL);
				if (++errors >= RANK_WORKER_MAX_ERRORS && !permanent)
					break;
			}
			PG_END_TRY();
		}
		if (pending)
			last_work = GetCurrentTimestamp();
		else if (!permanent &&
				 TimestampDifferenceExceeds(last_work, GetCurrentTimestamp(),
											RANK_WORKER_LINGER_MS))
		{
			/* leave, unless work came between the look and the release */
			LockRelease(&identity, ExclusiveLock, true);
			held = false;
			if (!rank_worker_look())
				break;
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 dt_fold_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/*
 * dt_rank_worker_main: a dynamic worker's life.  Started by
 * start_rank_worker() with the database in main_arg and the extension's
 * owner in bgw_extra.
 */
void
dt_rank_worker_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	Oid			role;

	memcpy(&role, MyBgworkerEntry->bgw_extra, sizeof(role));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, role, 0);
	rank_worker_loop(database, false);
}

/*
 * dt_rank_worker_permanent_main: the life of a worker registered at server
 * start for a database of drivetribe.rank_databases (bgw_extra: its name).
 * It connects as the bootstrap superuser, folds whenever the database has
 * a drivetribe with stripes, and never leaves: its slot is reserved, and it
 * is there from the moment the server accepts connections again after a
 * crash.  The postmaster restarts it if it fails.
 */
void
dt_rank_worker_permanent_main(Datum main_arg)
{
	char		dbname[BGW_EXTRALEN];

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, sizeof(dbname));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	rank_worker_loop(MyDatabaseId, true);
}

/*
 * dt_rank_workers_register_permanent: from _PG_init while the library is
 * preloaded: one permanent worker per database named in
 * drivetribe.rank_databases (a comma-separated list).
 */
void
dt_rank_workers_register_permanent(const char *databases)
{
	char	   *list;
	List	   *names;
	ListCell   *lc;

	if (databases == NULL || databases[0] == '\0')
		return;
	list = pstrdup(databases);
	if (!SplitIdentifierString(list, ',', &names))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for drivetribe.rank_databases: \"%s\"", databases),
				 errdetail("It must be a comma-separated list of database names.")));
		return;
	}
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		BackgroundWorker worker;

		if (strlen(name) >= BGW_EXTRALEN)
		{
			ereport(WARNING,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("database name in drivetribe.rank_databases is too long: \"%s\"", name)));
			continue;
		}
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 5;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "drivetribe");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "dt_rank_worker_permanent_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "drivetribe rank worker for %s", name);
		snprintf(worker.bgw_type, BGW_MAXLEN, "drivetribe rank worker");
		strlcpy(worker.bgw_extra, name, BGW_EXTRALEN);
		RegisterBackgroundWorker(&worker);
	}
}
