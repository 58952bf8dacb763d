/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Dynamic background workers of one database: the rank worker
 *	  (rank_worker.c) and the projection worker (projection_worker.c).
 *
 * Both live the same way (see rank_worker.c's banner): one per database,
 * identified by a session lock of the extension's lock space that no SQL
 * caller can take, started by the backends that need one (no
 * shared_preload_libraries), connected as the extension's owner, gone
 * when there is nothing left to wait for.  worker.c starts them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_WORKER_H
#define DRIVETRIBE_WORKER_H

#include "locks.h"

/* how a kind of worker is started */
typedef struct DtWorkerKind
{
	DtLockClass identity;		/* the session lock the running one holds */
	DtLockClass registering;	/* held by the backend starting one */
	const char *function;		/* its main function in the library */
	const char *type;			/* bgw_type and the name's prefix */
	const char *no_slot_detail; /* errdetail when no slot is free */
} DtWorkerKind;

extern bool dt_worker_running(const DtWorkerKind *kind);
extern void dt_worker_start(const DtWorkerKind *kind);
extern void dt_worker_wanted(const DtWorkerKind *kind, LocalTransactionId *checked);

#endif							/* DRIVETRIBE_WORKER_H */
