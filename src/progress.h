/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  Progress of a long call (rebuild(), verify()): NOTICEs to its own
 *	  client, its pg_stat_activity.query text for every other session, and
 *	  its start and end in the server log (progress.c).
 *
 * One call at a time per backend is tracked:
 *
 *	dt_progress_begin("drivetribe.rebuild()");
 *	dt_progress_status("waiting for EXCLUSIVE on drivetribe.events");
 *	dt_progress_phase(1, 2, "replaying the log", "events", total);
 *	for (...) dt_progress_advance(n);
 *	dt_progress_phase(2, 2, "correcting projections", "rows", total);
 *	dt_progress_detail("articles");
 *	for (...) dt_progress_advance(1);
 *	dt_progress_end(result, events);
 *
 * dt_progress_advance() is cheap enough to call per row: it reads the
 * clock once per DT_PROGRESS_TICKS units, and only then checks for
 * interrupts, refreshes pg_stat_activity (at most every 100 ms) and sends
 * a NOTICE (at most every drivetribe.progress_interval).  An error between
 * begin and end (a cancel, say) puts the backend's query text back and
 * logs how far the call got, from a transaction abort callback.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_PROGRESS_H
#define DRIVETRIBE_PROGRESS_H

#include "postgres.h"

/* units of work between two looks at the clock */
#define DT_PROGRESS_TICKS 1024

/* drivetribe.progress_interval: ms between progress NOTICEs, 0 = none */
extern int	dt_progress_interval;

extern void dt_progress_init(void);
extern void dt_progress_begin(const char *function);
extern void dt_progress_across_commits(void);
extern void dt_progress_status(const char *status);
extern void dt_progress_phase(int phase, int phases, const char *name,
							  const char *unit, int64 total);
extern void dt_progress_detail(const char *detail);
extern void dt_progress_tick(void);
extern void dt_progress_end(const char *result, int64 events);

/*
 * "1 difference", "3 differences": n and the noun, singular for 1 (a plural
 * noun ending in "s" loses it); palloc'd
 */
extern char *dt_count_noun(int64 n, const char *plural);

/* advance the current phase by n units; cheap unless the clock is due */
extern int64 dt_progress_pending;

static inline void
dt_progress_advance(int64 n)
{
	dt_progress_pending += n;
	if (dt_progress_pending >= DT_PROGRESS_TICKS)
		dt_progress_tick();
}

#endif							/* DRIVETRIBE_PROGRESS_H */
