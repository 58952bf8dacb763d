/*-------------------------------------------------------------------------
 *
 * monitor.h
 *	  What operators see and what cleans up after the extension
 *	  (monitor.c): the settings as rows, verify()'s history, and the
 *	  removal of the pg_cron jobs when the extension is dropped.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_MONITOR_H
#define DRIVETRIBE_MONITOR_H

#include "drivetribe.h"

/*
 * Record a finished verify() in drivetribe.verify_runs (1.5 and later),
 * as the table's owner, when the database can be written: not on a
 * standby, not in a read-only transaction.  The caller is inside SPI.
 */
extern void dt_note_verify_run(TimestampTz started, int64 differences,
							   int64 events);

#endif							/* DRIVETRIBE_MONITOR_H */
