/*-------------------------------------------------------------------------
 *
 * sink_pipe.c
 *	  The pipe sink (--pipe COMMAND): one long-running downstream process
 *	  and a line protocol.
 *
 * The consumer starts /bin/sh -c COMMAND once (under a guardian: spawn.c)
 * with these variables set:
 *
 *	DRIVETRIBE_SLOT				the slot
 *	DRIVETRIBE_CONFIRMED_LSN	where the consumer starts: everything before
 *								it was acknowledged (by this process or an
 *								earlier one)
 *	DRIVETRIBE_PROTOCOL			1
 *
 * The protocol, version 1.  On its standard input the process reads
 * batches, one after another; a batch is its events, one JSON object per
 * line (each starts with {"seq":), then one line that ends the batch:
 *
 *	{"batch":7,"events":120,"end_lsn":"0/1A2B3C8"}
 *
 * For each batch it writes one line on its standard output:
 *
 *	ack 7			batch 7 is delivered for good: the consumer records it
 *					and confirms its end_lsn to the server
 *	nack 7 REASON	it is not: the consumer sends batch 7 again after a
 *					backoff (REASON goes to the consumer's log)
 *
 * The next batch is sent only after the acknowledgement of the previous
 * one.  Lines that start with neither "ack " nor "nack " go to the
 * consumer's log (the process's stderr goes there as it is).  An
 * acknowledgement of another batch, no acknowledgement within
 * --ack-timeout, or the process ending (EOF on its stdout) counts as a
 * failed try: the consumer ends the process's whole group, waits its
 * backoff, and starts the process again, which gets the batch again.  At
 * EOF on its stdin (the consumer stops) it should finish and exit; after 5
 * seconds its group is killed.
 *
 * So a batch may come twice, after a failure or a crash, never out of
 * order: a downstream that stores the end_lsn of the last batch it applied
 * with the batch itself, and skips a batch whose end_lsn is not past it,
 * is exactly once (each event's event_id serves the same purpose).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

typedef struct PipeSink
{
	Spawned		process;
	bool		running;
	int			starts;
	char		input[4096];	/* what came on its stdout, not a line yet */
	size_t		input_len;
} PipeSink;

static bool
pipe_start(Sink *sink, PipeSink *ps, char *error, size_t error_size)
{
	const ConsumeOptions *opts = sink->opts;
	char		slot[128],
				confirmed[64];
	char	   *env[] = {slot, confirmed, "DRIVETRIBE_PROTOCOL=1", NULL};

	snprintf(slot, sizeof(slot), "DRIVETRIBE_SLOT=%s", opts->slot);
	snprintf(confirmed, sizeof(confirmed), "DRIVETRIBE_CONFIRMED_LSN=" LSN_FMT,
			 LSN_ARGS(sink->start_lsn));
	if (!spawn_command(opts->command, env, -1, true, true, &ps->process,
					   error, error_size))
		return false;
	if (fcntl(ps->process.to_child, F_SETFL, O_NONBLOCK) != 0 ||
		fcntl(ps->process.from_child, F_SETFL, O_NONBLOCK) != 0)
	{
		snprintf(error, error_size, "fcntl failed: %s", strerror(errno));
		spawn_end(&ps->process, 0);
		return false;
	}
	ps->running = true;
	ps->input_len = 0;
	if (ps->starts++ > 0)
		log_msg("started the downstream process again (start %d)", ps->starts);
	else
		log_verbose(opts, "started the downstream process");
	return true;
}

/* the process failed us: end its group, say how it ended */
static void
pipe_fail(PipeSink *ps, char *error, size_t error_size)
{
	int			status = 0;
	char		how[64];
	size_t		used = strlen(error);

	if (!ps->running)
		return;
	ps->running = false;
	/* already ending? then its status says why */
	if (spawn_wait(&ps->process, 0.05, &status))
	{
		describe_status(status, how, sizeof(how));
		snprintf(error + used, error_size - used, " (the process %s)", how);
	}
	spawn_end(&ps->process, 0);
}

/*
 * One line from the process: returns 1 for "ack <number>", -1 for "nack
 * <number> ...", -2 for a protocol error (an answer about another batch),
 * error saying which, or 0 for a line to log and ignore.
 */
static int
pipe_line(const char *line, int64_t number, char *error, size_t error_size)
{
	char	   *end;
	long long	n;

	if (strncmp(line, "ack ", 4) == 0 || strncmp(line, "nack ", 5) == 0)
	{
		bool		ack = line[0] == 'a';

		n = strtoll(line + (ack ? 4 : 5), &end, 10);
		if (n != number || end == line + (ack ? 4 : 5) ||
			(ack && *end != '\0') || (!ack && *end != '\0' && *end != ' '))
		{
			snprintf(error, error_size,
					 "the downstream process answered \"%.100s\" to batch %lld (protocol: \"ack %lld\" or \"nack %lld REASON\")",
					 line, (long long) number, (long long) number, (long long) number);
			return -2;
		}
		if (ack)
			return 1;
		snprintf(error, error_size, "the downstream process refused batch %lld: %.300s",
				 (long long) number, *end == ' ' ? end + 1 : "(no reason given)");
		return -1;
	}
	log_msg("downstream: %.500s", line);
	return 0;
}

static bool
pipe_deliver(Sink *sink, Batch *batch, int attempt, char *error,
			 size_t error_size)
{
	const ConsumeOptions *opts = sink->opts;
	PipeSink   *ps = sink->private_data;
	char		out[65536];
	size_t		out_len = 0,
				out_done = 0;
	long		file_left = batch->complete_bytes;
	bool		trailer_sent = false;
	double		deadline = now_seconds() + opts->ack_timeout_s;

	(void) attempt;
	error[0] = '\0';
	if (!ps->running && !pipe_start(sink, ps, error, error_size))
		return false;
	if (!batch_rewind(batch))
	{
		snprintf(error, error_size, "could not read the batch file");
		return false;
	}

	for (;;)
	{
		struct pollfd fds[2];
		int			nfds = 0;
		int			timeout_ms;

		/* refill what goes to the process: the file, then the trailer */
		if (out_done == out_len && (file_left > 0 || !trailer_sent))
		{
			out_len = out_done = 0;
			if (file_left > 0)
			{
				size_t		want = file_left < (long) sizeof(out) ? (size_t) file_left : sizeof(out);

				out_len = fread(out, 1, want, batch->file);
				if (out_len == 0)
				{
					snprintf(error, error_size, "could not read the batch file: %s",
							 strerror(errno));
					return false;
				}
				file_left -= (long) out_len;
			}
			else
			{
				out_len = (size_t) snprintf(out, sizeof(out),
											"{\"batch\":%lld,\"events\":%lld,\"end_lsn\":\"" LSN_FMT "\"}\n",
											(long long) batch->number,
											(long long) batch->events,
											LSN_ARGS(batch->end));
				trailer_sent = true;
			}
		}

		fds[nfds].fd = ps->process.from_child;
		fds[nfds++].events = POLLIN;
		if (out_done < out_len)
		{
			fds[nfds].fd = ps->process.to_child;
			fds[nfds++].events = POLLOUT;
		}
		timeout_ms = (int) ((deadline - now_seconds()) * 1000);
		if (timeout_ms <= 0)
		{
			snprintf(error, error_size,
					 "the downstream process did not acknowledge batch %lld within --ack-timeout %d s",
					 (long long) batch->number, opts->ack_timeout_s);
			pipe_fail(ps, error, error_size);
			return false;
		}
		if (poll(fds, nfds, timeout_ms > 1000 ? 1000 : timeout_ms) < 0 && errno != EINTR)
		{
			snprintf(error, error_size, "poll failed: %s", strerror(errno));
			pipe_fail(ps, error, error_size);
			return false;
		}

		if (nfds > 1 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)))
		{
			ssize_t		n = write(ps->process.to_child, out + out_done, out_len - out_done);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
			{
				snprintf(error, error_size,
						 "the downstream process stopped reading batch %lld: %s",
						 (long long) batch->number, strerror(errno));
				pipe_fail(ps, error, error_size);
				return false;
			}
			if (n > 0)
				out_done += (size_t) n;
		}

		if (fds[0].revents & (POLLIN | POLLERR | POLLHUP))
		{
			ssize_t		n = read(ps->process.from_child, ps->input + ps->input_len,
								 sizeof(ps->input) - 1 - ps->input_len);
			char	   *nl;

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			{
				snprintf(error, error_size,
						 "the downstream process ended its output before acknowledging batch %lld",
						 (long long) batch->number);
				pipe_fail(ps, error, error_size);
				return false;
			}
			if (n > 0)
				ps->input_len += (size_t) n;
			ps->input[ps->input_len] = '\0';
			while ((nl = memchr(ps->input, '\n', ps->input_len)) != NULL)
			{
				size_t		line_len = (size_t) (nl - ps->input);
				int			verdict;

				*nl = '\0';
				if (line_len > 0 && ps->input[line_len - 1] == '\r')
					ps->input[line_len - 1] = '\0';
				verdict = pipe_line(ps->input, batch->number, error, error_size);
				memmove(ps->input, nl + 1, ps->input_len - line_len - 1);
				ps->input_len -= line_len + 1;
				if (verdict != 0 && (!trailer_sent || out_done < out_len))
				{
					snprintf(error, error_size,
							 "the downstream process answered before the end of batch %lld",
							 (long long) batch->number);
					verdict = -2;
				}
				if (verdict == 1)
					return true;
				if (verdict == -1)
					return false;	/* a nack: the process stays */
				if (verdict == -2)
				{
					pipe_fail(ps, error, error_size);
					return false;
				}
			}
			if (ps->input_len == sizeof(ps->input) - 1)
			{
				snprintf(error, error_size,
						 "the downstream process wrote a line of more than %zu bytes",
						 sizeof(ps->input) - 1);
				pipe_fail(ps, error, error_size);
				return false;
			}
		}
	}
}

static bool
pipe_prepare(Sink *sink, char *error, size_t error_size)
{
	PipeSink   *ps = sink->private_data;

	return ps->running || pipe_start(sink, ps, error, error_size);
}

static void
pipe_shutdown(Sink *sink)
{
	PipeSink   *ps = sink->private_data;

	if (ps->running)
		spawn_end(&ps->process, 5.0);
	ps->running = false;
}

void
sink_pipe_init(Sink *sink, const ConsumeOptions *opts)
{
	static PipeSink state;

	memset(sink, 0, sizeof(*sink));
	memset(&state, 0, sizeof(state));
	sink->name = "pipe";
	sink->deliver = pipe_deliver;
	sink->prepare = pipe_prepare;
	sink->shutdown = pipe_shutdown;
	sink->opts = opts;
	sink->private_data = &state;
}
