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
 * Starting is serialised on a lock of class DT_LOCK_RANK_REGISTER, held
 * (without waiting for it) by the one backend that registers a worker
 * until the worker holds its identity or has stopped: the others see it
 * taken and go on, so one registration is in flight at a time and no
 * other backend asks for a slot meanwhile.
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

/* drivetribe.fold_interval: how often the worker folds, in ms */
int			dt_fold_interval = 500;

/* drivetribe.rank_worker: whether writers and readers start one */
bool		dt_rank_worker_enabled = true;

/* how long a registering backend waits for its worker to come up, in ms */
#define RANK_WORKER_START_WAIT	2000

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

/*
 * whether a rank worker holds this database's identity lock right now: a
 * probe of the lock table, which takes and drops the lock when it is free
 */
static bool
rank_worker_running(void)
{
	LOCKTAG		tag;

	dt_lock_tag(&tag, MyDatabaseId, DT_LOCK_RANK_WORKER, 0);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, false);
	return false;
}

/* the owner of this database's drivetribe extension, or InvalidOid */
Oid
dt_extension_owner(void)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("drivetribe"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * start_rank_worker: register a worker for this database unless another
 * backend is registering one or one runs, and wait (at most
 * RANK_WORKER_START_WAIT) until it holds its identity or has stopped.
 * When no slot is free, says so in a WARNING at most once a minute per
 * backend (drivetribe.status shows it too).  Caller is in a transaction.
 */
static void
start_rank_worker(void)
{
	static TimestampTz warned_at = 0;
	static TimestampTz next_attempt = 0;
	LOCKTAG		registering;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	Oid			owner;
	TimestampTz deadline;

	if (RecoveryInProgress() || GetCurrentTimestamp() < next_attempt)
		return;
	dt_lock_tag(&registering, MyDatabaseId, DT_LOCK_RANK_REGISTER, 0);
	if (LockAcquire(&registering, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;					/* another backend is starting one */
	owner = dt_extension_owner();
	if (rank_worker_running() || !OidIsValid(owner))
	{
		LockRelease(&registering, ExclusiveLock, false);
		return;
	}

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
	memcpy(worker.bgw_extra, &owner, sizeof(owner));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		TimestampTz now = GetCurrentTimestamp();

		LockRelease(&registering, ExclusiveLock, false);
		/* no slot: this backend tries again in a second, not at once */
		next_attempt = TimestampTzPlusMilliseconds(now, 1000);
		if (TimestampDifferenceExceeds(warned_at, now, 60 * 1000))
		{
			warned_at = now;
			ereport(WARNING,
					(errmsg("could not start the drivetribe rank worker"),
					 errdetail("Every background worker slot is in use: article scores lag "
							   "their counts until a slot is free."),
					 errhint("Raise max_worker_processes (server restart) to leave a slot for the "
							 "rank worker.  drivetribe.status shows whether it runs.")));
		}
		return;
	}

	/* wait until it holds its identity, so that no one else registers */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   RANK_WORKER_START_WAIT);
	for (;;)
	{
		pid_t		pid;
		BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED ||
			rank_worker_running() || GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(handle);
	LockRelease(&registering, ExclusiveLock, false);
}

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

	if (checked == MyProc->lxid || !dt_rank_worker_enabled)
		return;
	checked = MyProc->lxid;
	if (!rank_worker_running())
		start_rank_worker();
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
	if (rank_worker_running() || !OidIsValid(owner = dt_extension_owner()))
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
		start_rank_worker();
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
