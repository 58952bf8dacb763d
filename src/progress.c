/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Progress of a long call, for its client, for other sessions and for
 *	  the server log (see progress.h for the calling sequence).
 *
 * Other sessions see the call's progress as its pg_stat_activity.query:
 * the text is written into the backend's own status entry the way
 * pgstat_report_activity() writes it, but without changing the entry's
 * state, state_change or query_id, and the original text is put back at
 * the end (or, after an error, by the abort callback), so nothing of the
 * call outlives it there.  PostgreSQL 15 has no progress view an
 * extension can feed (pg_stat_progress_* serve built-in commands only).
 *
 * The client gets a NOTICE every drivetribe.progress_interval, and one
 * more when the call ends if it ran that long (a quick call stays quiet).
 * The server log gets the start of the first phase and the end, with the
 * result, at LOG; an error in the middle is logged too, with how far the
 * call had got.  Times and rates go in the DETAIL of the LOG lines.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "progress.h"

/* how often pg_stat_activity's text is refreshed while a call runs */
#define ACTIVITY_REFRESH_MS 100

int			dt_progress_interval = 5000;
int64		dt_progress_pending = 0;

typedef struct Progress
{
	bool		active;
	bool		across_commits; /* a procedure's: commits do not end it */
	SubTransactionId subid;		/* where dt_progress_begin() ran */
	const char *function;		/* static strings, from the caller */
	const char *status;			/* before the first phase */
	const char *phase_name;
	const char *unit;
	char		detail[NAMEDATALEN];
	int			phase;			/* 0: none yet */
	int			phases;
	int64		done;
	int64		total;
	TimestampTz started;
	TimestampTz phase_started;
	TimestampTz last_notice;
	TimestampTz last_activity;
	bool		noticed;		/* a progress NOTICE was sent */
	char	   *saved_activity; /* the query text at begin */
	bool		saved;
} Progress;

static Progress progress;

/* seconds between two timestamps */
static double
seconds(TimestampTz from, TimestampTz to)
{
	return (double) (to - from) / USECS_PER_SEC;
}

/* n with thousands separators: 10,095,147 */
static void
append_count(StringInfo buf, int64 n)
{
	char		digits[32];
	int			len;

	if (n < 0)
	{
		appendStringInfoChar(buf, '-');
		n = -n;
	}
	len = snprintf(digits, sizeof(digits), INT64_FORMAT, n);
	for (int i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, digits[i]);
	}
}

/* the noun for n of them: plural ("events") unless n is 1 ("event") */
static const char *
noun(int64 n, const char *plural)
{
	size_t		len = strlen(plural);

	if ((n == 1 || n == -1) && len > 1 && plural[len - 1] == 's')
		return pnstrdup(plural, len - 1);
	return plural;
}

/* see progress.h: "1 difference", "3 differences" */
char *
dt_count_noun(int64 n, const char *plural)
{
	return psprintf(INT64_FORMAT " %s", n, noun(n, plural));
}

/*
 * describe: "[drivetribe.rebuild(): ]phase 1 of 2, replaying the log: 3,200,000
 * of 10,095,147 events (31.7%), 128,000 events/s, 25 s" into buf.
 */
static void
describe(StringInfo buf, TimestampTz now, bool with_function)
{
	double		phase_secs = seconds(progress.phase_started, now);

	if (with_function)
		appendStringInfo(buf, "%s: ", progress.function);
	if (progress.phase == 0)
	{
		appendStringInfoString(buf, progress.status ? progress.status : "starting");
		return;
	}
	appendStringInfo(buf, "phase %d of %d, %s", progress.phase,
					 progress.phases, progress.phase_name);
	if (progress.detail[0] != '\0')
		appendStringInfo(buf, " (%s)", progress.detail);
	appendStringInfoString(buf, ": ");
	append_count(buf, progress.done);
	appendStringInfoString(buf, " of ");
	append_count(buf, progress.total);
	appendStringInfo(buf, " %s (%.1f%%)", progress.unit,
					 progress.total > 0 ?
					 100.0 * (double) progress.done / (double) progress.total : 100.0);
	if (phase_secs >= 0.001)
	{
		appendStringInfoString(buf, ", ");
		append_count(buf, (int64) (progress.done / phase_secs));
		appendStringInfo(buf, " %s/s", progress.unit);
	}
	appendStringInfo(buf, ", %.0f s", seconds(progress.started, now));
}

/*
 * set_activity: make text this backend's pg_stat_activity.query, as
 * pgstat_report_activity() does, leaving state, state_change and
 * query_id alone.  Caller is this backend (the only writer of its entry).
 */
static void
set_activity(const char *text)
{
	volatile PgBackendStatus *beentry = MyBEEntry;
	int			len;

	if (beentry == NULL || !pgstat_track_activities ||
		beentry->st_activity_raw == NULL)
		return;
	len = pg_mbcliplen(text, strlen(text), pgstat_track_activity_query_size - 1);
	PGSTAT_BEGIN_WRITE_ACTIVITY(beentry);
	memcpy((char *) beentry->st_activity_raw, text, len);
	beentry->st_activity_raw[len] = '\0';
	PGSTAT_END_WRITE_ACTIVITY(beentry);
}

/* the query text at begin, back in place */
static void
restore_activity(void)
{
	if (progress.saved)
		set_activity(progress.saved_activity);
	progress.saved = false;
}

/* refresh the activity text and, when due, send a NOTICE */
static void
report(TimestampTz now, bool force)
{
	StringInfoData buf;
	bool		notice = false;

	if (dt_progress_interval > 0 &&
		TimestampDifferenceExceeds(progress.last_notice, now, dt_progress_interval))
		notice = true;
	if (!notice && !force &&
		!TimestampDifferenceExceeds(progress.last_activity, now, ACTIVITY_REFRESH_MS))
		return;

	initStringInfo(&buf);
	describe(&buf, now, true);
	set_activity(buf.data);
	progress.last_activity = now;
	if (notice)
	{
		ereport(NOTICE,
				(errmsg_internal("%s", buf.data),
				 errhidestmt(true), errhidecontext(true)));
		progress.last_notice = now;
		progress.noticed = true;
	}
	pfree(buf.data);
}

/*
 * abort_callback: an error ended the call between begin and end (in its
 * own subtransaction, or the whole transaction): put the query text back
 * and say in the log how far it got.  Its writes are rolled back with
 * the (sub)transaction.
 */
static void
abort_call(void)
{
	TimestampTz now = GetCurrentTimestamp();
	StringInfoData buf;

	restore_activity();
	progress.active = false;
	initStringInfo(&buf);
	describe(&buf, now, false);
	ereport(LOG,
			(errmsg("%s: ended by an error, rolled back", progress.function),
			 errdetail_internal("After %.3f s, at %s.",
								seconds(progress.started, now), buf.data),
			 errhidestmt(true)));
	pfree(buf.data);
}

static void
xact_callback(XactEvent event, void *arg)
{
	if (!progress.active)
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		abort_call();
	else if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE ||
			  event == XACT_EVENT_PARALLEL_COMMIT) && !progress.across_commits)
	{
		/* cannot happen (end comes first); never leave the text behind */
		restore_activity();
		progress.active = false;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	if (progress.active && event == SUBXACT_EVENT_ABORT_SUB &&
		mySubid == progress.subid)
		abort_call();
}

/*
 * dt_progress_init: register the abort callbacks.  Caller is _PG_init.
 */
void
dt_progress_init(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/*
 * dt_progress_across_commits: the call being tracked commits as it goes
 * (a procedure's, SPI_commit()): a commit does not end it, an abort still
 * does.  Caller has called dt_progress_begin().
 */
void
dt_progress_across_commits(void)
{
	progress.across_commits = true;
}

/*
 * dt_progress_begin: start tracking a call named function (a static
 * string, e.g. "drivetribe.rebuild()").  Caller is inside a transaction;
 * it must call dt_progress_end() unless an error ends the call.  A call
 * that begins while another is tracked (cannot happen: neither runs the
 * other) takes over; the first one's saved query text is kept.
 */
void
dt_progress_begin(const char *function)
{
	TimestampTz now = GetCurrentTimestamp();
	volatile PgBackendStatus *beentry = MyBEEntry;

	if (progress.saved_activity == NULL)
		progress.saved_activity = MemoryContextAllocZero(TopMemoryContext,
														 pgstat_track_activity_query_size);
	if (!progress.saved)
	{
		if (beentry != NULL && beentry->st_activity_raw != NULL)
		{
			strlcpy(progress.saved_activity, (const char *) beentry->st_activity_raw,
					pgstat_track_activity_query_size);
			progress.saved = true;
		}
	}
	progress.active = true;
	progress.across_commits = false;
	progress.subid = GetCurrentSubTransactionId();
	progress.function = function;
	progress.status = NULL;
	progress.phase_name = NULL;
	progress.unit = NULL;
	progress.detail[0] = '\0';
	progress.phase = 0;
	progress.phases = 0;
	progress.done = 0;
	progress.total = 0;
	progress.started = now;
	progress.phase_started = now;
	progress.last_notice = now;
	progress.last_activity = now;
	progress.noticed = false;
	dt_progress_pending = 0;
	report(now, true);
}

/*
 * dt_progress_status: what the call does before its first phase (a
 * static string), shown at once.  Caller has begun a call.
 */
void
dt_progress_status(const char *status)
{
	if (!progress.active)
		return;
	progress.status = status;
	report(GetCurrentTimestamp(), true);
}

/*
 * dt_progress_phase: start phase (1-based) of phases: name (static)
 * counts total units (static name, e.g. "events"; total may be an
 * estimate).  Phase 1 logs the start of the call.  Caller has begun a
 * call.
 */
void
dt_progress_phase(int phase, int phases, const char *name, const char *unit,
				  int64 total)
{
	TimestampTz now;

	if (!progress.active)
		return;
	now = GetCurrentTimestamp();
	progress.phase = phase;
	progress.phases = phases;
	progress.phase_name = name;
	progress.unit = unit;
	progress.detail[0] = '\0';
	progress.done = 0;
	progress.total = total;
	progress.phase_started = now;
	dt_progress_pending = 0;
	if (phase == 1)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		append_count(&buf, total);
		ereport(LOG,
				(errmsg("%s: started, phase 1 of %d: %s, about %s %s",
						progress.function, phases, name, buf.data, noun(total, unit)),
				 errhidestmt(true)));
		pfree(buf.data);
	}
	report(now, true);
}

/*
 * dt_progress_detail: what part of the phase is under way (e.g. which
 * projection), copied.  Caller has begun a call.
 */
void
dt_progress_detail(const char *detail)
{
	if (!progress.active)
		return;
	progress.done += dt_progress_pending;
	dt_progress_pending = 0;
	strlcpy(progress.detail, detail, sizeof(progress.detail));
	report(GetCurrentTimestamp(), true);
}

/*
 * dt_progress_tick: account the pending units, check for interrupts, and
 * report when due.  Called by dt_progress_advance() every
 * DT_PROGRESS_TICKS units; works (and does nothing else) outside a call,
 * so shared code may advance unconditionally.
 */
void
dt_progress_tick(void)
{
	CHECK_FOR_INTERRUPTS();
	if (!progress.active)
	{
		dt_progress_pending = 0;
		return;
	}
	progress.done += dt_progress_pending;
	dt_progress_pending = 0;
	/* the total was an estimate */
	if (progress.done > progress.total)
		progress.total = progress.done;
	report(GetCurrentTimestamp(), false);
}

/*
 * dt_progress_end: the call succeeded with result (e.g. "3 differences"):
 * put the query text back, log the end, and send a last NOTICE if the call
 * ran for at least drivetribe.progress_interval.  events is the number of
 * events replayed, for the rate.  Caller has begun a call.
 */
void
dt_progress_end(const char *result, int64 events)
{
	TimestampTz now;
	double		secs;
	StringInfoData rate;

	if (!progress.active)
		return;
	now = GetCurrentTimestamp();
	secs = seconds(progress.started, now);
	restore_activity();
	progress.active = false;
	dt_progress_pending = 0;

	initStringInfo(&rate);
	append_count(&rate, events);
	appendStringInfo(&rate, " %s in ", noun(events, "events"));
	appendStringInfo(&rate, "%.3f s", secs);
	if (secs >= 0.001)
	{
		appendStringInfoString(&rate, ", ");
		append_count(&rate, (int64) (events / secs));
		appendStringInfoString(&rate, " events/s");
	}
	ereport(LOG,
			(errmsg("%s: finished, %s", progress.function, result),
			 errdetail_internal("%s.", rate.data),
			 errhidestmt(true)));
	if (progress.noticed ||
		(dt_progress_interval > 0 && secs * 1000.0 >= dt_progress_interval))
		ereport(NOTICE,
				(errmsg_internal("%s: finished, %s; %s", progress.function,
								 result, rate.data),
				 errhidestmt(true), errhidecontext(true)));
	pfree(rate.data);
}
