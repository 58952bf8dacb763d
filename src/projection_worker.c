/*-------------------------------------------------------------------------
 *
 * projection_worker.c
 *	  The projection worker: applies the events of every live async
 *	  projection after they commit (issue 21), in read_log()'s order.
 *
 * Life.  One worker per database, like the rank worker (rank_worker.c's
 * banner, worker.c): a dynamic background worker identified by a session
 * lock of class DT_LOCK_PROJECTION_WORKER, connected as the extension's
 * owner, started by
 *
 *	- every transaction that appends an event while a live async
 *	  projection exists and no worker runs (dt_projection_worker_wanted(),
 *	  from dt_projections_inline(): one lock-table probe per transaction);
 *	- a backfill handed over to async, and resume_projection() of a live
 *	  async projection (not a switch to async: it holds the registry's
 *	  SHARE lock, which writers wait for; the first write after it starts
 *	  the worker).
 *
 * It leaves after PROJECTION_WORKER_LINGER_MS with nothing read, once no
 * writer holds a lock on the registry (a writer in progress: its event
 * shows at commit) and no live async projection has an event after its
 * cursor; a writer that found the identity held had locked the registry
 * first, so the look after the release sees it, or the writer found the
 * identity free and started a new worker.  A worker that leaves releases
 * its database, which DROP DATABASE needs.
 *
 * Work.  About every PROJECTION_WORKER_NAP_MS, for each live async
 * projection in name order, batches of the backfill's step
 * (dt_projection_step(), projection.c) in transactions of their own: up
 * to drivetribe.projection_batch_size events after its cursor, of
 * transactions below the snapshot's xmin (each has ended, so nothing
 * appears behind the cursor later: each transaction's events are read
 * once, whole, in (txid, seq) order), to the handler as its registrant,
 * and the cursor moved, in one transaction: a crash loses no event and
 * applies none twice.  The registry row is locked FOR UPDATE NOWAIT: a
 * resume_projection() or alter_projection() in progress makes the worker
 * skip that projection until it is done.
 *
 * Errors.  A handler's error in a batch rolls it back; the worker then
 * applies that batch a transaction at a time, so the events before the
 * failing transaction are applied, and marks the projection failed with
 * the error and the seq of the failing transaction's first event of its
 * kinds.  The others go on; resume_projection() retries it.  An error not
 * from a handler (a lock timeout, a serialization failure, a concurrent
 * DROP EXTENSION) is logged and the round tried again later.
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
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "projection.h"
#include "worker.h"

/* how long the worker sleeps between rounds, in ms */
#define PROJECTION_WORKER_NAP_MS	100

/* a worker with nothing to read for this long leaves */
#define PROJECTION_WORKER_LINGER_MS	2000

/* batches of one projection per round, so that every projection gets a turn */
#define PROJECTION_WORKER_ROUND_BATCHES	10

/* the worker's statements and handlers give up waiting for a lock after */
#define PROJECTION_WORKER_LOCK_TIMEOUT "5s"

/* drivetribe.projection_worker: whether writers and switches start one */
bool		dt_projection_worker_enabled = true;

static const DtWorkerKind projection_worker_kind = {
	.identity = DT_LOCK_PROJECTION_WORKER,
	.registering = DT_LOCK_PROJECTION_REGISTER,
	.function = "dt_projection_worker_main",
	.type = "drivetribe projection worker",
	.no_slot_detail = "Every background worker slot is in use: async projections "
	"lag until a slot is free.",
};

/*
 * dt_projection_worker_wanted: makes sure a projection worker runs for
 * this database; at most one lock-table probe per transaction.  Caller is
 * in a transaction.
 */
void
dt_projection_worker_wanted(void)
{
	static LocalTransactionId checked = InvalidLocalTransactionId;

	if (dt_projection_worker_enabled)
		dt_worker_wanted(&projection_worker_kind, &checked);
}

/* the names of the live async projections, in the caller's context */
static List *
async_projections(void)
{
	List	   *names = NIL;
	MemoryContext caller = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	if (OidIsValid(get_namespace_oid("drivetribe", true)) &&
		OidIsValid(get_relname_relid("projection_registry",
									 get_namespace_oid("drivetribe", true))))
	{
		(void) dt_exec(DT_SQL_PROJECTION_ASYNC_LIST, NULL, NULL, true, 0);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			char	   *name = dt_result_text(row, 1);
			MemoryContext old = MemoryContextSwitchTo(caller);

			names = lappend(names, pstrdup(name));
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return names;
}

/*
 * One batch of projection name in a transaction of its own (one
 * transaction: only the first transaction after its cursor).  Returns the
 * events read (0 when it is not live async or another session holds its
 * row); on an error, *error is its copy (in the caller's context) and
 * *from_handler says whether a handler raised it.
 */
static int64
async_batch(const char *name, bool one_transaction, ErrorData **error,
			bool *from_handler)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile int64 read = 0;

	*error = NULL;
	*from_handler = false;
	dt_projection_handler_failed = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		DtProjection r;

		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "drivetribe: SPI_connect failed");
		dt_projection_get(name, &r, true);
		if (strcmp(r.mode, "async") == 0 && strcmp(r.state, "live") == 0)
		{
			pgstat_report_activity(STATE_RUNNING,
								   psprintf("drivetribe: async projection %s, after seq " INT64_FORMAT,
											name, r.cursor_seq));
			read = dt_projection_step(&r, true, dt_projection_batch_size, false,
									  one_transaction);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		*error = CopyErrorData();
		*from_handler = dt_projection_handler_failed;
		FlushErrorState();
		AbortCurrentTransaction();
		read = 0;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return read;
}

/* whether an error is worth a retry rather than failing the projection */
static bool
transient(const ErrorData *error)
{
	return error->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		error->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		error->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		error->sqlerrcode == ERRCODE_QUERY_CANCELED;
}

/* mark projection name failed with error, in a transaction of its own */
static void
async_fail(const char *name, const ErrorData *error)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_note_error(name, error->message, true);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	ereport(LOG,
			(errmsg("drivetribe: async projection \"%s\" failed: %s", name, error->message),
			 errhint("Fix its handler, then CALL drivetribe.resume_projection('%s').", name)));
}

/*
 * Log an error the worker goes on after (not a handler's): 55P03 from a
 * row another session holds is expected and not logged.
 */
static void
async_log(const char *name, const ErrorData *error)
{
	if (error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		ereport(LOG,
				(errmsg("drivetribe: async projection \"%s\": %s (tried again later)",
						name, error->message)));
}

/*
 * Bring projection name up to date, PROJECTION_WORKER_ROUND_BATCHES
 * batches at most.  Returns the events read.
 */
static int64
async_apply(const char *name)
{
	int64		total = 0;

	for (int batch = 0; batch < PROJECTION_WORKER_ROUND_BATCHES; batch++)
	{
		ErrorData  *error;
		bool		from_handler;
		int64		read = async_batch(name, false, &error, &from_handler);

		total += read;
		if (error != NULL && (!from_handler || transient(error)))
		{
			async_log(name, error);
			break;
		}
		if (error != NULL)
		{
			/* the batch, a transaction at a time, to the failing one */
			FreeErrorData(error);
			for (int txn = 0; txn < dt_projection_batch_size; txn++)
			{
				read = async_batch(name, true, &error, &from_handler);
				total += read;
				if (error != NULL)
				{
					if (from_handler && !transient(error))
						async_fail(name, error);
					else
						async_log(name, error);
					FreeErrorData(error);
					break;
				}
				if (read == 0)
					break;
			}
			break;
		}
		if (read < dt_projection_batch_size)
			break;
	}
	return total;
}

/*
 * whether there may be work: a writer in progress (or prepared) holding a
 * lock on the registry, or a live async projection with an event after
 * its cursor.  In a transaction of its own.
 */
static bool
async_pending(void)
{
	bool		pending = false;
	Oid			nsp;
	Oid			registry = InvalidOid;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	nsp = get_namespace_oid("drivetribe", true);
	if (OidIsValid(nsp))
		registry = get_relname_relid(DT_PROJECTION_REGISTRY, nsp);
	if (OidIsValid(registry))
	{
		LOCKTAG		tag;
		int			holders = 0;

		SET_LOCKTAG_RELATION(tag, MyDatabaseId, registry);
		(void) GetLockConflicts(&tag, ShareLock, &holders);
		pending = holders > 0;
		if (!pending)
		{
			/* a writer that had the lock has committed: this snapshot sees it */
			PushActiveSnapshot(GetTransactionSnapshot());
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "drivetribe: SPI_connect failed");
			(void) dt_exec(DT_SQL_PROJECTION_ASYNC_PENDING, NULL, NULL, true, 1);
			pending = dt_result_bool(0, 1);
			SPI_finish();
			PopActiveSnapshot();
		}
	}
	CommitTransactionCommand();
	return pending;
}

/*
 * projection_worker_loop: rounds over the live async projections while
 * this worker holds the database's identity; leaves when there is nothing
 * to wait for (see the banner).  Caller is connected to the database.
 */
static void
projection_worker_loop(Oid database)
{
	LOCKTAG		identity;
	TimestampTz last_work = GetCurrentTimestamp();
	MemoryContext round_context = AllocSetContextCreate(TopMemoryContext,
														"drivetribe projection worker round",
														ALLOCSET_DEFAULT_SIZES);

	SetConfigOption("lock_timeout", PROJECTION_WORKER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "drivetribe projection worker", PGC_USERSET, PGC_S_OVERRIDE);
	dt_lock_tag(&identity, database, DT_LOCK_PROJECTION_WORKER, 0);
	StartTransactionCommand();
	if (LockAcquire(&identity, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		CommitTransactionCommand();
		proc_exit(0);			/* another worker has it */
	}
	CommitTransactionCommand();

	for (;;)
	{
		volatile int64 read = 0;
		List	   *names;
		ListCell   *lc;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		old = MemoryContextSwitchTo(round_context);
		PG_TRY();
		{
			names = async_projections();
			foreach(lc, names)
				read += async_apply((const char *) lfirst(lc));
		}
		PG_CATCH();
		{
			/* the list could not be read (DROP EXTENSION?): say why */
			MemoryContextSwitchTo(round_context);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		MemoryContextReset(round_context);
		pgstat_report_activity(STATE_IDLE, NULL);

		if (read > 0)
			last_work = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(last_work, GetCurrentTimestamp(),
											PROJECTION_WORKER_LINGER_MS))
		{
			bool		pending;

			/* leave, unless work came between the look and the release */
			LockRelease(&identity, ExclusiveLock, true);
			PG_TRY();
			{
				pending = async_pending();
			}
			PG_CATCH();
			{
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
				pending = false;
			}
			PG_END_TRY();
			if (!pending)
				break;
			StartTransactionCommand();
			if (LockAcquire(&identity, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
			{
				CommitTransactionCommand();
				break;			/* a writer started another */
			}
			CommitTransactionCommand();
			last_work = GetCurrentTimestamp();
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PROJECTION_WORKER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}

/*
 * dt_projection_worker_main: the worker's life.  Started by
 * dt_worker_start() with the database in main_arg and the extension's
 * owner in bgw_extra.
 */
void
dt_projection_worker_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	Oid			role;

	memcpy(&role, MyBgworkerEntry->bgw_extra, sizeof(role));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, role, 0);
	projection_worker_loop(database);
}
