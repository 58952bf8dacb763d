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

extern void dt_projection_check_caller(Oid function);
extern void dt_projections_inline(const DtEvent *ev);

#endif							/* DRIVETRIBE_PROJECTION_H */
