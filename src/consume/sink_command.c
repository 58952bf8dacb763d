/*-------------------------------------------------------------------------
 *
 * sink_command.c
 *	  The command sink (-c COMMAND): a process per batch.
 *
 * Runs /bin/sh -c COMMAND (under a guardian: spawn.c) with the batch on
 * its standard input, one JSON event per line, and these variables set:
 *
 *	DRIVETRIBE_SLOT		the slot
 *	DRIVETRIBE_EVENTS	the number of events (lines)
 *	DRIVETRIBE_END_LSN	the position confirmed once the command succeeds
 *	DRIVETRIBE_ATTEMPT	1 for the first try of this batch, 2 for the next...
 *
 * Exit status 0 means delivered; anything else (or death by a signal)
 * means "again".  Its stdout is the consumer's.  Simple and
 * at-least-once; a process per batch costs a few milliseconds, which the
 * consumer amortises by letting the next batch grow meanwhile.  The pipe
 * sink (sink_pipe.c) starts its process once.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

static bool
command_deliver(Sink *sink, Batch *batch, int attempt, char *error,
				size_t error_size)
{
	const ConsumeOptions *opts = sink->opts;
	char		slot[128],
				events[64],
				end[64],
				try[64];
	char	   *env[] = {slot, events, end, try, NULL};
	Spawned		spawned;
	int			status = 0;
	char		how[64];

	snprintf(slot, sizeof(slot), "DRIVETRIBE_SLOT=%s", opts->slot);
	snprintf(events, sizeof(events), "DRIVETRIBE_EVENTS=%lld", (long long) batch->events);
	snprintf(end, sizeof(end), "DRIVETRIBE_END_LSN=" LSN_FMT, LSN_ARGS(batch->end));
	snprintf(try, sizeof(try), "DRIVETRIBE_ATTEMPT=%d", attempt);
	if (!batch_rewind(batch) || lseek(fileno(batch->file), 0, SEEK_SET) != 0)
	{
		snprintf(error, error_size, "could not read the batch file");
		return false;
	}
	if (!spawn_command(opts->command, env, fileno(batch->file), false, false,
					   &spawned, error, error_size))
		return false;
	/* "after the running command": a stop request waits for it */
	(void) spawn_wait(&spawned, -1, &status);
	if (status == 0)
		return true;
	describe_status(status, how, sizeof(how));
	snprintf(error, error_size, "downstream command %s", how);
	return false;
}

static void
command_shutdown(Sink *sink)
{
	(void) sink;
}

void
sink_command_init(Sink *sink, const ConsumeOptions *opts)
{
	memset(sink, 0, sizeof(*sink));
	sink->name = "command";
	sink->deliver = command_deliver;
	sink->shutdown = command_shutdown;
	sink->opts = opts;
}
