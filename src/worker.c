/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Starting the dynamic background workers of one database (worker.h):
 *	  the rank worker and the projection worker.
 *
 * A worker is one per database: it holds a session lock of class
 * kind->identity (locks.h) for as long as it works.  Starting one is
 * serialised on a lock of class kind->registering, held (without waiting
 * for it) by the one backend that registers a worker until the worker
 * holds its identity or has stopped: the others see it taken and go on,
 * so one registration is in flight at a time and no other backend asks
 * for a slot meanwhile.  A worker connects as the extension's owner, read
 * here from pg_extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "drivetribe.h"
#include "worker.h"

/* how long a registering backend waits for its worker to come up, in ms */
#define WORKER_START_WAIT	2000

/* per lock class of a kind's identity: when this backend may try again */
#define WORKER_KINDS	16
static TimestampTz next_attempt[WORKER_KINDS];
static TimestampTz warned_at[WORKER_KINDS];

/*
 * whether a worker of kind holds this database's identity lock right now:
 * a probe of the lock table, which takes and drops the lock when it is free
 */
bool
dt_worker_running(const DtWorkerKind *kind)
{
	LOCKTAG		tag;

	dt_lock_tag(&tag, MyDatabaseId, kind->identity, 0);
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
 * dt_worker_start: register a worker of kind for this database unless
 * another backend is registering one or one runs, and wait (at most
 * WORKER_START_WAIT) until it holds its identity or has stopped.  The
 * worker's main function gets the database in main_arg and the
 * extension's owner in bgw_extra.  When no slot is free, says so in a
 * WARNING at most once a minute per backend, and tries again no sooner
 * than a second later.  Caller is in a transaction.
 */
void
dt_worker_start(const DtWorkerKind *kind)
{
	LOCKTAG		registering;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	Oid			owner;
	TimestampTz deadline;
	int			slot = (int) kind->identity % WORKER_KINDS;

	if (RecoveryInProgress() || GetCurrentTimestamp() < next_attempt[slot])
		return;
	dt_lock_tag(&registering, MyDatabaseId, kind->registering, 0);
	if (LockAcquire(&registering, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;					/* another backend is starting one */
	owner = dt_extension_owner();
	if (dt_worker_running(kind) || !OidIsValid(owner))
	{
		LockRelease(&registering, ExclusiveLock, false);
		return;
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "drivetribe");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", kind->function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %u", kind->type,
			 MyDatabaseId);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", kind->type);
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, &owner, sizeof(owner));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		TimestampTz now = GetCurrentTimestamp();

		LockRelease(&registering, ExclusiveLock, false);
		/* no slot: this backend tries again in a second, not at once */
		next_attempt[slot] = TimestampTzPlusMilliseconds(now, 1000);
		if (TimestampDifferenceExceeds(warned_at[slot], now, 60 * 1000))
		{
			warned_at[slot] = now;
			ereport(WARNING,
					(errmsg("could not start the %s", kind->type),
					 errdetail("%s", kind->no_slot_detail),
					 errhint("Raise max_worker_processes (server restart) to leave a slot for the "
							 "%s.  drivetribe.status shows whether it runs.", kind->type)));
		}
		return;
	}

	/* wait until it holds its identity, so that no one else registers */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WORKER_START_WAIT);
	for (;;)
	{
		pid_t		pid;
		BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED ||
			dt_worker_running(kind) || GetCurrentTimestamp() >= deadline)
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
 * dt_worker_wanted: makes sure a worker of kind runs for this database,
 * with at most one lock-table probe per transaction (*checked: the caller's
 * record of the last transaction that looked).  Caller is in a transaction.
 */
void
dt_worker_wanted(const DtWorkerKind *kind, LocalTransactionId *checked)
{
	if (*checked == MyProc->lxid)
		return;
	*checked = MyProc->lxid;
	if (!dt_worker_running(kind))
		dt_worker_start(kind);
}
