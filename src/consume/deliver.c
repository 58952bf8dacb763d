/*-------------------------------------------------------------------------
 *
 * deliver.c
 *	  drivetribe-consume's delivery thread: one batch at a time into the
 *	  sink, retried with backoff, then recorded in the state file.
 *
 * The delivery thread waits for the receive thread to hand a batch over
 * (Pipeline.pending), delivers it (sink.h), and once the sink has it:
 * moves Pipeline.record_end to the batch's end, gives the emptied batch
 * back (Pipeline.spare) and wakes the receive thread through its pipe, so
 * the next batch can come at once.  The recorder thread advances the
 * state file to record_end (fsync'd: state.c; several batches delivered
 * meanwhile are recorded by one write), publishes that position in
 * Pipeline.confirmed and wakes the receive thread, which then confirms it
 * to the server.  So the fsync of batch N overlaps the delivery of batch
 * N+1, and nothing is recorded or confirmed before the sink has it.  A
 * batch without events (a position to confirm: heartbeats, other tables'
 * WAL) goes straight to the recorder.
 *
 * A failed try is logged with the batch's seqs and retried after 1, 2, 4
 * ... seconds (at most --retry-max): forever, or --max-tries times in all.
 * Then, with --dead-letter FILE, the batch is appended to FILE (as it is:
 * JSON lines, fsync'd) and counts as delivered; without it the consumer
 * stops with DT_EXIT_DOWNSTREAM.  A stop request (SIGTERM) during a backoff
 * ends the thread's work on the batch undelivered and unrecorded.
 *
 * Locking: Pipeline.lock is held only to read or publish Pipeline fields,
 * never while the sink works or the state file is written.  The
 * ConsumeState is the recorder's while it records.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

typedef struct Delivery
{
	Pipeline   *pipeline;
	const ConsumeOptions *opts;
	ConsumeState *state;
	Sink		sink;
	Lsn			delivered;		/* the end of the last batch the sink has */
	pthread_t	thread;
	pthread_t	recorder;
} Delivery;

static Delivery delivery;

/* sleep seconds unless told to stop; false if told to */
static bool
sleep_unless_stopped(double seconds)
{
	double		until = now_seconds() + seconds;

	while (now_seconds() < until)
	{
		if (consume_stop_requested)
			return false;
		usleep(20000);
	}
	return !consume_stop_requested;
}

/*
 * Append the batch to the dead-letter file and fsync it.  Returns
 * DT_EXIT_OK or DT_EXIT_USAGE (after a message: nothing may be confirmed).
 */
static int
dead_letter(const ConsumeOptions *opts, Batch *batch)
{
	FILE	   *out = fopen(opts->dead_letter, "a");
	bool		ok;

	if (out == NULL)
	{
		log_msg("could not open dead-letter file \"%s\": %s", opts->dead_letter,
				strerror(errno));
		return DT_EXIT_USAGE;
	}
	ok = batch_copy_to(batch, out);
	ok = ok && fflush(out) == 0 && fsync(fileno(out)) == 0;
	if (fclose(out) != 0 || !ok)
	{
		log_msg("could not write dead-letter file \"%s\": %s", opts->dead_letter,
				strerror(errno));
		return DT_EXIT_USAGE;
	}
	return DT_EXIT_OK;
}

/* publish the last error; a failed try of a batch counts as one */
static void
note_error(Pipeline *pipeline, const char *error, bool failed_try)
{
	pthread_mutex_lock(&pipeline->lock);
	if (failed_try)
		pipeline->stats.failed_tries++;
	pipeline->stats.last_error_at = now_seconds();
	snprintf(pipeline->stats.last_error, sizeof(pipeline->stats.last_error), "%s", error);
	pthread_mutex_unlock(&pipeline->lock);
}

/*
 * Deliver one batch with events until the sink has it, or --max-tries
 * times.  Returns DT_EXIT_OK once delivered or set aside in the dead-letter
 * file, -1 when told to stop first (not delivered: nothing may be
 * recorded), DT_EXIT_DOWNSTREAM after --max-tries failed tries without a
 * dead-letter file, or DT_EXIT_USAGE when a file could not be written.
 */
static int
deliver_batch(Delivery *d, Batch *batch)
{
	const ConsumeOptions *opts = d->opts;
	double		backoff = 1;
	char		seqs[512];

	batch_describe_seqs(batch, seqs, sizeof(seqs));
	for (int attempt = 1;; attempt++)
	{
		char		error[1024];
		char		next[64];
		double		started = now_seconds();
		bool		last = opts->max_tries > 0 && attempt >= opts->max_tries;

		error[0] = '\0';
		d->sink.start_lsn = d->delivered;
		if (d->sink.deliver(&d->sink, batch, attempt, error, sizeof(error)))
		{
			double		took = now_seconds() - started;

			pthread_mutex_lock(&d->pipeline->lock);
			d->pipeline->stats.events += batch->events;
			d->pipeline->stats.batches++;
			d->pipeline->stats.last_delivery_at = now_seconds();
			d->pipeline->stats.last_batch_seconds = took;
			d->pipeline->stats.last_batch_events = batch->events;
			pthread_mutex_unlock(&d->pipeline->lock);
			log_verbose(opts, "delivered batch %lld: %lld events of %lld transactions up to " LSN_FMT " in %.1f ms (attempt %d)",
						(long long) batch->number, (long long) batch->events,
						(long long) batch->transactions, LSN_ARGS(batch->end),
						took * 1000, attempt);
			return DT_EXIT_OK;
		}
		note_error(d->pipeline, error, true);
		if (last)
			snprintf(next, sizeof(next), "that was the last of --max-tries %d",
					 opts->max_tries);
		else
			snprintf(next, sizeof(next), "retrying in %.0f s", backoff);
		log_msg("%s on a batch of %lld events (%s) ending at " LSN_FMT " (attempt %d); %s",
				error, (long long) batch->events, seqs, LSN_ARGS(batch->end),
				attempt, next);
		if (last)
			break;
		if (!sleep_unless_stopped(backoff))
			return -1;
		backoff = backoff * 2 > opts->retry_max_s ? opts->retry_max_s : backoff * 2;
	}

	/* --max-tries failed tries */
	if (opts->dead_letter == NULL)
	{
		log_msg("giving up: the %s sink failed %d times on a batch of %lld events (%s) ending at " LSN_FMT "; nothing after " LSN_FMT " is confirmed, and the next start tries this batch again (pass --dead-letter to set such a batch aside and go on)",
				d->sink.name, opts->max_tries, (long long) batch->events, seqs,
				LSN_ARGS(batch->end), LSN_ARGS(d->delivered));
		return DT_EXIT_DOWNSTREAM;
	}
	if (dead_letter(opts, batch) != DT_EXIT_OK)
		return DT_EXIT_USAGE;
	pthread_mutex_lock(&d->pipeline->lock);
	d->pipeline->stats.dead_lettered += batch->events;
	pthread_mutex_unlock(&d->pipeline->lock);
	log_msg("the %s sink failed %d times on a batch of %lld events (%s) ending at " LSN_FMT ": appended it to dead-letter file \"%s\" and going on",
			d->sink.name, opts->max_tries, (long long) batch->events, seqs,
			LSN_ARGS(batch->end), opts->dead_letter);
	return DT_EXIT_OK;
}

static void *
delivery_main(void *arg)
{
	Delivery   *d = arg;
	Pipeline   *pipeline = d->pipeline;

	/* the first event should not wait for a process to start */
	if (d->sink.prepare != NULL)
	{
		char		error[1024];

		error[0] = '\0';
		d->sink.start_lsn = d->delivered;
		if (!d->sink.prepare(&d->sink, error, sizeof(error)))
		{
			note_error(pipeline, error, false);
			log_msg("%s; the first batch tries again", error);
		}
	}

	for (;;)
	{
		Batch	   *batch;
		int			rc = DT_EXIT_OK;

		pthread_mutex_lock(&pipeline->lock);
		while (pipeline->pending == NULL && !pipeline->quit)
			pthread_cond_wait(&pipeline->wake_delivery, &pipeline->lock);
		batch = pipeline->pending;
		pthread_mutex_unlock(&pipeline->lock);
		if (batch == NULL)
			break;				/* quit, nothing handed over */

		if (batch->events > 0)
			rc = deliver_batch(d, batch);
		if (rc == DT_EXIT_OK && batch->end > d->delivered)
			d->delivered = batch->end;

		pthread_mutex_lock(&pipeline->lock);
		if (rc == DT_EXIT_OK)
		{
			/* for the recorder: never past what the sink has */
			if (batch->end > pipeline->record_end)
				pipeline->record_end = batch->end;
			if (batch->max_seq > pipeline->record_seq)
				pipeline->record_seq = batch->max_seq;
			pthread_cond_signal(&pipeline->wake_recorder);
		}
		else
			pipeline->fatal = rc;	/* -1: stopped with the batch undelivered */
		batch_reset(batch);
		pipeline->spare = batch;
		pipeline->pending = NULL;
		pthread_mutex_unlock(&pipeline->lock);
		(void) !write(pipeline->wake_receiver[1], "x", 1);
	}
	d->sink.shutdown(&d->sink);
	return NULL;
}

/* the recorder thread: record_end into the state file, then confirmed */
static void *
recorder_main(void *arg)
{
	Delivery   *d = arg;
	Pipeline   *pipeline = d->pipeline;

	for (;;)
	{
		Lsn			end;
		int64_t		seq;
		int			rc;

		pthread_mutex_lock(&pipeline->lock);
		while (pipeline->record_end <= pipeline->confirmed &&
			   !pipeline->recorder_quit)
			pthread_cond_wait(&pipeline->wake_recorder, &pipeline->lock);
		end = pipeline->record_end;
		seq = pipeline->record_seq;
		pthread_mutex_unlock(&pipeline->lock);
		if (end <= d->state->confirmed)
			break;				/* quit, nothing left to record */

		d->state->confirmed = end;
		if (seq > d->state->last_seq)
			d->state->last_seq = seq;
		rc = state_save(d->opts->state_path, d->state);

		pthread_mutex_lock(&pipeline->lock);
		if (rc == DT_EXIT_OK)
		{
			pipeline->confirmed = end;
			pipeline->last_seq = d->state->last_seq;
		}
		else
		{
			pipeline->fatal = rc;
			pipeline->recorder_quit = true;
			pipeline->record_end = pipeline->confirmed;	/* nothing recorded */
		}
		pthread_mutex_unlock(&pipeline->lock);
		(void) !write(pipeline->wake_receiver[1], "x", 1);
		if (rc != DT_EXIT_OK)
			break;
	}
	return NULL;
}

/* end the recorder once it has recorded everything delivered */
static void
delivery_stop_recorder(Pipeline *pipeline)
{
	pthread_mutex_lock(&pipeline->lock);
	pipeline->recorder_quit = true;
	pthread_cond_signal(&pipeline->wake_recorder);
	pthread_mutex_unlock(&pipeline->lock);
	pthread_join(delivery.recorder, NULL);
}

/*
 * Start the delivery thread.  Call once, before the first hand-over.
 * Returns DT_EXIT_OK or DT_EXIT_USAGE (after a message).
 */
int
delivery_start(Pipeline *pipeline, const ConsumeOptions *opts,
			   ConsumeState *state)
{
	sigset_t	signals,
				old;
	int			err;

	pthread_mutex_init(&pipeline->lock, NULL);
	pthread_cond_init(&pipeline->wake_delivery, NULL);
	pthread_cond_init(&pipeline->wake_recorder, NULL);
	if (pipe2(pipeline->wake_receiver, O_CLOEXEC | O_NONBLOCK) != 0)
	{
		log_msg("could not create a pipe: %s", strerror(errno));
		return DT_EXIT_USAGE;
	}
	pipeline->confirmed = pipeline->record_end = state->confirmed;
	pipeline->last_seq = pipeline->record_seq = state->last_seq;
	delivery.delivered = state->confirmed;

	delivery.pipeline = pipeline;
	delivery.opts = opts;
	delivery.state = state;
	if (opts->sink == SINK_PIPE)
		sink_pipe_init(&delivery.sink, opts);
	else if (opts->sink == SINK_HTTP)
	{
		/* before pthread_create: curl_global_init is not thread safe */
		if (!sink_http_init(&delivery.sink, opts))
			return DT_EXIT_USAGE;
	}
	else if (opts->sink == SINK_POSTGRES)
		sink_postgres_init(&delivery.sink, opts);
	else if (opts->sink == SINK_REDIS)
	{
		char		error[1024];

		if (!sink_redis_init(&delivery.sink, opts, error, sizeof(error)))
		{
			log_msg("%s", error);
			delivery.sink.shutdown(&delivery.sink);
			return DT_EXIT_USAGE;
		}
	}
	else if (opts->sink == SINK_NATS)
	{
		char		error[1024];

		if (!sink_nats_init(&delivery.sink, opts, error, sizeof(error)))
		{
			log_msg("%s", error);
			delivery.sink.shutdown(&delivery.sink);
			return DT_EXIT_USAGE;
		}
	}
	else
		sink_command_init(&delivery.sink, opts);

	/* SIGTERM and SIGINT are the receive thread's to handle */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, &old);
	err = pthread_create(&delivery.recorder, NULL, recorder_main, &delivery);
	if (err == 0 &&
		(err = pthread_create(&delivery.thread, NULL, delivery_main, &delivery)) != 0)
	{
		delivery_stop_recorder(pipeline);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
	{
		log_msg("could not start the delivery threads: %s", strerror(err));
		return DT_EXIT_USAGE;
	}
	return DT_EXIT_OK;
}

/*
 * End the delivery thread once it is idle (the batch it holds, if any, is
 * finished or given up first), let the sink shut down, and end the
 * recorder once it has recorded what was delivered.
 */
void
delivery_stop(Pipeline *pipeline)
{
	pthread_mutex_lock(&pipeline->lock);
	pipeline->quit = true;
	pthread_cond_signal(&pipeline->wake_delivery);
	pthread_mutex_unlock(&pipeline->lock);
	pthread_join(delivery.thread, NULL);
	delivery_stop_recorder(pipeline);
}
