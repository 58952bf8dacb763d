/*-------------------------------------------------------------------------
 *
 * projection.h
 *	  Projections the application team registers in SQL (issue 21): a
 *	  handler function of the registrant, fed the log's events.
 *
 * projection.c has the design (and docs/projections.md the contract).
 * The write API calls two things of it: dt_projection_check_caller()
 * first (a handler may not append events) and dt_projections_inline()
 * after an event is applied to the extension's own projections.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_PROJECTION_H
#define DRIVETRIBE_PROJECTION_H

#include "drivetribe.h"

/* the registry's name in schema drivetribe: every writer locks it */
#define DT_PROJECTION_REGISTRY	"projection_registry"

/* drivetribe.projection_batch_size (drivetribe.c) */
extern int	dt_projection_batch_size;

/* a projection's registry row (dt_projection_get()) */
typedef struct DtProjection
{
	char	   *name;
	Oid			owner;
	Oid			handler;		/* InvalidOid: the function is gone */
	Datum		kinds;			/* text[], unless all_kinds */
	bool		all_kinds;
	char	   *mode;			/* inline or async */
	char	   *state;			/* backfilling, live, failed or paused */
	Datum		cursor_txid;	/* xid8: read_log()'s cursor */
	int64		cursor_seq;
	int64		floor_seq;		/* events at or below it are not read */
} DtProjection;

/* whether the error being raised (if any) came out of a handler */
extern bool dt_projection_handler_failed;

extern void dt_projection_check_caller(Oid function);
extern void dt_projections_inline(const DtEvent *ev);
extern void dt_projection_get(const char *name, DtProjection *r, bool by_worker);
extern int64 dt_projection_step(DtProjection *r, bool cut, int64 limit,
								bool latest, bool one_transaction);
extern void dt_projection_note_error(const char *name, const char *message,
									 bool failed);

/* projection_worker.c: the async projections' worker */
extern bool dt_projection_worker_enabled;
extern void dt_projection_worker_wanted(void);
extern PGDLLEXPORT void dt_projection_worker_main(Datum main_arg);

#endif							/* DRIVETRIBE_PROJECTION_H */
