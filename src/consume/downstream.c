/*-------------------------------------------------------------------------
 *
 * downstream.c
 *	  drivetribe-consume's batches and the downstream command.
 *
 * A batch is an unlinked temporary file (in $TMPDIR, else /tmp) of event
 * objects, one per line, holding whole transactions only when it is
 * delivered (a transaction is
 * whole once the plugin's commit object arrived), so memory stays bounded
 * whatever the size of a transaction.  Delivery runs the command with
 * /bin/sh -c, the batch on its standard input and these variables set:
 *
 *	DRIVETRIBE_SLOT		the slot
 *	DRIVETRIBE_EVENTS	the number of events (lines)
 *	DRIVETRIBE_END_LSN	the position confirmed once the command succeeds
 *	DRIVETRIBE_ATTEMPT	1 for the first try of this batch, 2 for the next...
 *
 * Exit status 0 means done; anything else (or death by a signal) means
 * "again": the same batch is retried after 1, 2, 4 ... seconds (at most
 * --retry-max), forever, or --max-tries times in all.  Then, with
 * --dead-letter FILE, the batch is appended to FILE (as it is: JSON lines,
 * fsync'd) and counts as delivered; without it the consumer stops with
 * DT_EXIT_DOWNSTREAM.  Either way the log names the batch's seqs, and every
 * failed try names them too.  While the command runs or waits for a retry, the
 * consumer keeps confirming its old position to the server, so the
 * walsender does not time the connection out.  The command is killed if
 * the consumer dies (PR_SET_PDEATHSIG), so a restarted consumer never
 * races an orphan of the previous one into the same sink.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "consume.h"

bool
batch_open(Batch *batch)
{
	const char *dir = getenv("TMPDIR");
	char		path[4096];
	int			fd;

	memset(batch, 0, sizeof(*batch));
	snprintf(path, sizeof(path), "%s/drivetribe-consume.XXXXXX",
			 dir != NULL && dir[0] != '\0' ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || unlink(path) != 0 || (batch->file = fdopen(fd, "w+")) == NULL)
	{
		log_msg("could not create a temporary file for batches in \"%s\": %s",
				path, strerror(errno));
		return false;
	}
	return true;
}

/* the seq of an event object of the plugin (it starts {"seq":N), or 0 */
static int64_t
event_seq(const char *line, size_t len)
{
	static const char key[] = "{\"seq\":";
	int64_t		seq = 0;

	if (len <= strlen(key) || strncmp(line, key, strlen(key)) != 0)
		return 0;
	for (size_t i = strlen(key); i < len && line[i] >= '0' && line[i] <= '9'; i++)
		seq = seq * 10 + (line[i] - '0');
	return seq;
}

/* append one event object (a line without its newline) */
bool
batch_add_event(Batch *batch, const char *line, size_t len)
{
	int64_t		seq = event_seq(line, len);

	if (batch->first_at == 0)
		batch->first_at = now_seconds();
	if (seq > 0 && (batch->min_seq == 0 || seq < batch->min_seq))
		batch->min_seq = seq;
	if (seq > batch->max_seq)
		batch->max_seq = seq;
	batch->txn_open = true;
	batch->open_events++;
	if (fwrite(line, 1, len, batch->file) != len || putc('\n', batch->file) == EOF)
	{
		log_msg("could not write to the batch file: %s", strerror(errno));
		return false;
	}
	return true;
}

/* the plugin's commit object arrived: the transaction is whole */
void
batch_end_transaction(Batch *batch, Lsn end)
{
	batch->events += batch->open_events;
	batch->open_events = 0;
	batch->txn_open = false;
	batch->end = end;
	batch->complete_bytes = ftell(batch->file);
}

/* empty the batch (delivered, or to be received again after a reconnect) */
void
batch_reset(Batch *batch)
{
	FILE	   *file = batch->file;

	if (fflush(file) != 0 || ftruncate(fileno(file), 0) != 0)
		log_msg("could not empty the batch file: %s", strerror(errno));
	rewind(file);
	memset(batch, 0, sizeof(*batch));
	batch->file = file;
}

/* sleep up to seconds, keeping the connection alive; false if told to stop */
static bool
wait_keeping_alive(const ConsumeOptions *opts, Stream *stream, double seconds,
				   pid_t child, int *status)
{
	double		until = now_seconds() + seconds;
	useconds_t	nap = 1000;		/* a quick command is seen quickly */

	while (child > 0 || now_seconds() < until)
	{
		if (child > 0)
		{
			pid_t		done = waitpid(child, status, WNOHANG);

			if (done == child)
				return true;
			if (done < 0 && errno != EINTR)
			{
				log_msg("waitpid failed: %s", strerror(errno));
				*status = -1;
				return true;
			}
		}
		else if (consume_stop_requested)
			return false;
		if (now_seconds() - stream->last_feedback >= opts->status_interval_s)
			(void) stream_send_feedback(stream, stream->confirmed, false);
		usleep(nap);
		if (nap < 20000)
			nap *= 2;
	}
	return true;
}

static pid_t
start_command(const ConsumeOptions *opts, Batch *batch, int attempt)
{
	pid_t		parent = getpid();
	pid_t		pid;
	char		number[32];

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid != 0)
		return pid;

	/* the child: die with the consumer, read the batch from the start */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (lseek(fileno(batch->file), 0, SEEK_SET) != 0 ||
		dup2(fileno(batch->file), STDIN_FILENO) < 0)
		_exit(127);
	setenv("DRIVETRIBE_SLOT", opts->slot, 1);
	snprintf(number, sizeof(number), "%lld", (long long) batch->events);
	setenv("DRIVETRIBE_EVENTS", number, 1);
	snprintf(number, sizeof(number), LSN_FMT, LSN_ARGS(batch->end));
	setenv("DRIVETRIBE_END_LSN", number, 1);
	snprintf(number, sizeof(number), "%d", attempt);
	setenv("DRIVETRIBE_ATTEMPT", number, 1);
	execl("/bin/sh", "sh", "-c", opts->command, (char *) NULL);
	_exit(127);
}

/*
 * The batch's seqs for a message: every one for a small batch ("seq 70, 72,
 * 75"), else the range ("seq 70 to 1204").  Reads the batch file again:
 * never while a command runs, whose standard input shares the file's offset.
 */
static void
describe_seqs(const Batch *batch, char *out, size_t size)
{
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	size_t		used;
	int64_t		n = 0;

	if (batch->events > 20 || fseek(batch->file, 0, SEEK_SET) != 0)
	{
		snprintf(out, size, "seq %lld to %lld", (long long) batch->min_seq,
				 (long long) batch->max_seq);
		return;
	}
	used = (size_t) snprintf(out, size, "seq");
	while (used < size && (len = getline(&line, &cap, batch->file)) > 0)
		used += (size_t) snprintf(out + used, size - used, "%s %lld",
								  n++ > 0 ? "," : "",
								  (long long) event_seq(line, (size_t) len));
	free(line);
	fseek(batch->file, 0, SEEK_END);
}

/*
 * Append the batch to the dead-letter file and fsync it.  Returns
 * DT_EXIT_OK or DT_EXIT_USAGE (after a message: nothing may be confirmed).
 */
static int
dead_letter(const ConsumeOptions *opts, Batch *batch)
{
	char		buf[65536];
	size_t		n;
	FILE	   *out;
	bool		ok;

	out = fopen(opts->dead_letter, "a");
	if (out == NULL)
	{
		log_msg("could not open dead-letter file \"%s\": %s", opts->dead_letter,
				strerror(errno));
		return DT_EXIT_USAGE;
	}
	ok = fseek(batch->file, 0, SEEK_SET) == 0;
	while (ok && (n = fread(buf, 1, sizeof(buf), batch->file)) > 0)
		ok = fwrite(buf, 1, n, out) == n;
	ok = ok && !ferror(batch->file) && fflush(out) == 0 && fsync(fileno(out)) == 0;
	fseek(batch->file, 0, SEEK_END);
	if (fclose(out) != 0 || !ok)
	{
		log_msg("could not write dead-letter file \"%s\": %s", opts->dead_letter,
				strerror(errno));
		return DT_EXIT_USAGE;
	}
	return DT_EXIT_OK;
}

/*
 * Run the command over the batch until it succeeds, or --max-tries times.
 * Returns DT_EXIT_OK once it exited 0 or the batch went to the dead-letter
 * file (confirm the batch), -1 when told to stop first (the batch is not
 * delivered and must not be confirmed), DT_EXIT_DOWNSTREAM when it failed
 * --max-tries times without a dead-letter file, or DT_EXIT_USAGE when the
 * batch or dead-letter file could not be written.
 */
int
batch_deliver(const ConsumeOptions *opts, Batch *batch, Stream *stream)
{
	double		backoff = 1;
	char		seqs[512];

	if (fflush(batch->file) != 0)
	{
		log_msg("could not write the batch file: %s", strerror(errno));
		return DT_EXIT_USAGE;
	}
	describe_seqs(batch, seqs, sizeof(seqs));
	for (int attempt = 1;; attempt++)
	{
		pid_t		pid = start_command(opts, batch, attempt);
		int			status = 0;
		bool		last = opts->max_tries > 0 && attempt >= opts->max_tries;
		char		next[64];

		if (last)
			snprintf(next, sizeof(next), "that was the last of --max-tries %d",
					 opts->max_tries);
		else
			snprintf(next, sizeof(next), "retrying in %.0f s", backoff);
		if (pid < 0)
			log_msg("could not start the downstream command: %s; %s", strerror(errno), next);
		else
		{
			(void) wait_keeping_alive(opts, stream, 0, pid, &status);
			if (status == 0)
			{
				log_verbose(opts, "delivered %lld events up to " LSN_FMT " (attempt %d)",
							(long long) batch->events, LSN_ARGS(batch->end), attempt);
				return DT_EXIT_OK;
			}
			if (WIFEXITED(status))
				log_msg("downstream command exited with status %d on a batch of %lld events (%s) ending at " LSN_FMT " (attempt %d); %s",
						WEXITSTATUS(status), (long long) batch->events, seqs,
						LSN_ARGS(batch->end), attempt, next);
			else
				log_msg("downstream command was killed by signal %d on a batch of %lld events (%s) ending at " LSN_FMT " (attempt %d); %s",
						WIFSIGNALED(status) ? WTERMSIG(status) : -1,
						(long long) batch->events, seqs, LSN_ARGS(batch->end),
						attempt, next);
		}
		if (last)
			break;
		if (consume_stop_requested ||
			!wait_keeping_alive(opts, stream, backoff, 0, &status))
			return -1;
		backoff = backoff * 2 > opts->retry_max_s ? opts->retry_max_s : backoff * 2;
	}

	/* --max-tries failed tries */
	if (opts->dead_letter == NULL)
	{
		log_msg("giving up: the downstream command failed %d times on a batch of %lld events (%s) ending at " LSN_FMT "; nothing after " LSN_FMT " is confirmed, and the next start tries this batch again (pass --dead-letter to set such a batch aside and go on)",
				opts->max_tries, (long long) batch->events, seqs,
				LSN_ARGS(batch->end), LSN_ARGS(stream->confirmed));
		return DT_EXIT_DOWNSTREAM;
	}
	if (dead_letter(opts, batch) != DT_EXIT_OK)
		return DT_EXIT_USAGE;
	log_msg("the downstream command failed %d times on a batch of %lld events (%s) ending at " LSN_FMT ": appended it to dead-letter file \"%s\" and going on",
			opts->max_tries, (long long) batch->events, seqs,
			LSN_ARGS(batch->end), opts->dead_letter);
	return DT_EXIT_OK;
}
