/*-------------------------------------------------------------------------
 *
 * report.c
 *	  What drivetribe-consume did, for people and for machines: a progress
 *	  line in its log every --report-interval seconds, and with
 *	  --status-file FILE the same figures in Prometheus' text format,
 *	  rewritten every second (written beside it and renamed over it, so a
 *	  reader never sees half of it; node_exporter's textfile collector reads
 *	  such files as they are).  docs/design.md lists the metrics.
 *
 * Called by the receive thread only; reads the delivery thread's counters
 * under Pipeline.lock.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consume.h"

typedef struct ReportMemory
{
	double		at;				/* the last log line */
	int64_t		events;			/* delivered then */
} ReportMemory;

static ReportMemory last_status;	/* the status file's rate */
static ReportMemory last_report;	/* the log line's */

/* events per second since *memory, which then moves to now */
static double
rate_since(ReportMemory *memory, int64_t events, double now)
{
	double		rate = 0;

	if (memory->at > 0 && now > memory->at)
		rate = (events - memory->events) / (now - memory->at);
	memory->at = now;
	memory->events = events;
	return rate;
}

/* a label value: backslash, double quote and newline escaped */
static void
label_value(const char *in, char *out, size_t size)
{
	size_t		n = 0;

	for (; *in && n + 3 < size; in++)
	{
		if (*in == '\\' || *in == '"')
		{
			out[n++] = '\\';
			out[n++] = *in;
		}
		else if (*in == '\n')
		{
			out[n++] = '\\';
			out[n++] = 'n';
		}
		else
			out[n++] = *in;
	}
	out[n] = '\0';
}

static void
write_status_file(const ConsumeOptions *opts, const DeliveryStats *stats,
				  Lsn confirmed, int64_t last_seq, Lsn server_end,
				  double oldest_pending_at, bool streaming, double rate)
{
	char		tmp[4096];
	char		slot[160];
	char		error[1100];
	double		now = now_seconds();
	FILE	   *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", opts->status_file) >= (int) sizeof(tmp))
		return;
	f = fopen(tmp, "w");
	if (f == NULL)
	{
		log_msg("could not write status file \"%s\": %s", tmp, strerror(errno));
		return;
	}
	label_value(opts->slot, slot, sizeof(slot));
	label_value(stats->last_error, error, sizeof(error));
#define METRIC(name, type, help, fmt, value) \
	fprintf(f, "# HELP drivetribe_consume_" name " " help "\n# TYPE drivetribe_consume_" name " " type "\n" \
			"drivetribe_consume_" name "{slot=\"%s\"} " fmt "\n", slot, value)
	METRIC("up", "gauge", "1 while connected to the server and streaming.", "%d", streaming ? 1 : 0);
	METRIC("events_delivered_total", "counter", "Events the sink acknowledged (or set aside with --dead-letter).", "%lld", (long long) stats->events);
	METRIC("batches_delivered_total", "counter", "Batches the sink acknowledged.", "%lld", (long long) stats->batches);
	METRIC("failed_tries_total", "counter", "Tries of a batch that failed (each is retried).", "%lld", (long long) stats->failed_tries);
	METRIC("dead_lettered_events_total", "counter", "Events appended to the --dead-letter file.", "%lld", (long long) stats->dead_lettered);
	METRIC("delivered_events_per_second", "gauge", "Events delivered per second over the last second or so.", "%.1f", rate);
	METRIC("last_batch_seconds", "gauge", "How long the last batch's delivery took.", "%.6f", stats->last_batch_seconds);
	METRIC("last_batch_events", "gauge", "Events in the last delivered batch.", "%lld", (long long) stats->last_batch_events);
	METRIC("confirmed_lsn", "gauge", "The position recorded in the state file and confirmed to the server, as a number.", "%llu", (unsigned long long) confirmed);
	METRIC("last_seq", "gauge", "The greatest seq of the events delivered.", "%lld", (long long) last_seq);
	METRIC("lag_bytes", "gauge", "WAL between the confirmed position and the server's end of WAL, as last reported by the server.", "%llu",
		   (unsigned long long) (server_end > confirmed ? server_end - confirmed : 0));
	METRIC("oldest_pending_seconds", "gauge", "Age of the oldest event received and not yet delivered (0: none).", "%.3f",
		   oldest_pending_at > 0 ? now - oldest_pending_at : 0.0);
	METRIC("last_delivery_timestamp_seconds", "gauge", "When a batch was last delivered (Unix time; 0: never).", "%.3f", stats->last_delivery_at);
	METRIC("last_error_timestamp_seconds", "gauge", "When a try last failed (Unix time; 0: never).", "%.3f", stats->last_error_at);
#undef METRIC
	fprintf(f, "# HELP drivetribe_consume_last_error_info The last failed try's message.\n"
			"# TYPE drivetribe_consume_last_error_info gauge\n"
			"drivetribe_consume_last_error_info{slot=\"%s\",error=\"%s\"} %d\n",
			slot, error, stats->last_error_at > 0 ? 1 : 0);
	if (fclose(f) != 0 || rename(tmp, opts->status_file) != 0)
		log_msg("could not write status file \"%s\": %s", opts->status_file, strerror(errno));
}

/*
 * Write the status file (when asked for) and, with log_line, a progress
 * line.  server_end: the server's end of WAL as last reported;
 * oldest_pending_at: when the oldest undelivered event arrived (0: none).
 */
void
report_progress(const ConsumeOptions *opts, Pipeline *pipeline,
				Lsn server_end, double oldest_pending_at, bool streaming,
				bool log_line)
{
	DeliveryStats stats;
	Lsn			confirmed;
	int64_t		last_seq;
	double		now = now_seconds();
	double		rate;
	double		since = now - last_report.at;

	pthread_mutex_lock(&pipeline->lock);
	stats = pipeline->stats;
	confirmed = pipeline->confirmed;
	last_seq = pipeline->last_seq;
	pthread_mutex_unlock(&pipeline->lock);

	rate = rate_since(&last_status, stats.events, now);
	if (opts->status_file != NULL)
		write_status_file(opts, &stats, confirmed, last_seq, server_end,
						  oldest_pending_at, streaming, rate);
	if (!log_line)
		return;
	rate = rate_since(&last_report, stats.events, now);
	if (since < now)			/* not the first call */
		log_msg("delivered %lld events in %lld batches (%.0f events/s over the last %.0f s), %lld failed tries, confirmed " LSN_FMT " (seq %lld), %llu bytes behind the server%s%s",
				(long long) stats.events, (long long) stats.batches, rate,
				since, (long long) stats.failed_tries,
				LSN_ARGS(confirmed), (long long) last_seq,
				(unsigned long long) (server_end > confirmed ? server_end - confirmed : 0),
				stats.last_error_at > 0 ? "; last error: " : "",
				stats.last_error_at > 0 ? stats.last_error : "");
}
