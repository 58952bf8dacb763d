/*-------------------------------------------------------------------------
 *
 * main.c
 *	  drivetribe-consume: options, the receive loop, reconnection.
 *
 *	  drivetribe-consume -d DB -S SLOT -s STATEFILE -c 'COMMAND' [options]
 *
 * See consume.h for the design and the invariant between the state file
 * and the slot; usage() for the options and the exit codes.
 *
 * The receive loop reads the stream's messages: an event object goes into
 * the batch; a heartbeat opens a transaction with nothing to deliver; a
 * commit object ends the transaction (it carries the position to confirm).
 * The batch is delivered at a transaction end when nothing more is waiting
 * on the socket (low latency when the load is light), when it holds
 * --batch-events events, or when its first event is --batch-delay old.  A
 * keepalive that moves past everything received, with nothing pending, is
 * confirmed too (at most once per --status-interval), so the slot follows
 * WAL written by other tables even without heartbeats.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "consume.h"

volatile sig_atomic_t consume_stop_requested = 0;

double
now_seconds(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1000000.0;
}

static void log_va(const char *fmt, va_list args) __attribute__((format(printf, 1, 0)));

static void
log_va(const char *fmt, va_list args)
{
	char		text[4096];
	char		stamp[32];
	time_t		t = time(NULL);
	size_t		len;

	vsnprintf(text, sizeof(text), fmt, args);
	len = strlen(text);
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&t));
	fprintf(stderr, "drivetribe-consume %s: %s\n", stamp, text);
}

void
log_msg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	log_va(fmt, args);
	va_end(args);
}

void
log_verbose(const ConsumeOptions *opts, const char *fmt,...)
{
	va_list		args;

	if (!opts->verbose)
		return;
	va_start(args, fmt);
	log_va(fmt, args);
	va_end(args);
}

bool
parse_lsn(const char *text, Lsn *lsn)
{
	unsigned	hi,
				lo;
	int			n = 0;

	if (sscanf(text, "%X/%X%n", &hi, &lo, &n) != 2 || text[n] != '\0')
		return false;
	*lsn = ((Lsn) hi << 32) | lo;
	return true;
}

static uint64_t
get_be64(const char *in)
{
	uint64_t	value = 0;

	for (int i = 0; i < 8; i++)
		value = (value << 8) | (unsigned char) in[i];
	return value;
}

static void
handle_stop_signal(int signo)
{
	(void) signo;
	consume_stop_requested = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
			"drivetribe-consume reads a drivetribe stream slot and hands each batch of events\n"
			"to a command, confirming the position to the server only after it succeeded.\n\n"
			"Usage:\n"
			"  drivetribe-consume -d DBNAME|CONNSTR -S SLOT -s STATEFILE -c COMMAND [OPTION]...\n\n"
			"  -d, --dbname=CONNSTR        database to connect to (libpq's PG* variables apply)\n"
			"  -S, --slot=SLOT             the drivetribe logical replication slot\n"
			"  -s, --state=FILE            where the confirmed position is kept (created if missing)\n"
			"  -c, --command=COMMAND       run by /bin/sh with a batch on stdin, one JSON event per line;\n"
			"                              exit 0 = delivered; anything else = retry the same batch\n"
			"      --create-slot           create the slot when it is missing (first start only)\n"
			"      --kinds=K1,K2           only these event kinds (the plugin's kinds option)\n"
			"      --include-commit-time   add \"commit_time\" to every event\n"
			"      --batch-events=N        deliver once N events are waiting (default 1000)\n"
			"      --batch-delay=MS        ... or once the oldest has waited MS ms (default 1000)\n"
			"      --status-interval=S     confirm to the server at least every S s (default 10)\n"
			"      --heartbeat-interval=S  when nothing arrived for S s, send drivetribe.heartbeat()\n"
			"                              on an ordinary connection (default 60, 0 = never)\n"
			"      --retry-max=S           longest wait between two retries of a batch (default 60)\n"
			"      --max-tries=N           give up on a batch after N failed tries (default 0: never):\n"
			"                              exit with status 7 naming its seqs, or with --dead-letter...\n"
			"      --dead-letter=FILE      ... append the batch to FILE (JSON lines) and go on\n"
			"      --endpos=LSN            exit 0 once everything up to LSN is confirmed\n"
			"  -v, --verbose               log every batch\n\n"
			"Exit status:\n"
			"  0  stopped by SIGTERM/SIGINT (after the running command) or --endpos reached\n"
			"  1  bad arguments, a bad state file, or the state file could not be written\n"
			"  2  the first connection failed (later ones are retried with backoff)\n"
			"  3  the slot does not exist\n"
			"  4  the slot is ahead of what this consumer confirmed (recreated, advanced, shared)\n"
			"  5  another server, or one restored to before what this consumer confirmed\n"
			"  6  the server refuses the plugin (output_plugin_libraries), or the slot is not a\n"
			"     drivetribe slot of this database\n"
			"  7  the command failed --max-tries times on one batch (no --dead-letter); the\n"
			"     message names the batch's seqs, and the next start tries it again\n"
			"  8  the slot was invalidated (wal_status lost: max_slot_wal_keep_size); the\n"
			"     message says what this consumer had confirmed and what may be lost\n");
}

/* only [a-z0-9_], not empty (slot names) */
static bool
valid_slot_name(const char *text)
{
	if (*text == '\0')
		return false;
	for (; *text; text++)
		if (!(islower((unsigned char) *text) || *text == '_' ||
			  isdigit((unsigned char) *text)))
			return false;
	return true;
}

/*
 * Event kinds separated by commas: each [a-z_], none empty (',', 'a,,b' or
 * 'a,' would ask the plugin for nothing, or be refused by it)
 */
static bool
valid_kinds(const char *text)
{
	bool		empty = true;	/* the current element is empty so far */

	for (; *text; text++)
	{
		if (*text == ',')
		{
			if (empty)
				return false;
			empty = true;
		}
		else if (islower((unsigned char) *text) || *text == '_')
			empty = false;
		else
			return false;
	}
	return !empty;
}

static bool
parse_int_option(const char *name, const char *value, int min, int *out)
{
	char	   *end;
	long		v = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || v < min || v > 1000000000)
	{
		log_msg("invalid value \"%s\" for --%s: an integer of at least %d is expected",
				value, name, min);
		return false;
	}
	*out = (int) v;
	return true;
}

static int
parse_options(int argc, char **argv, ConsumeOptions *opts)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"slot", required_argument, NULL, 'S'},
		{"state", required_argument, NULL, 's'},
		{"command", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"create-slot", no_argument, NULL, 1},
		{"kinds", required_argument, NULL, 2},
		{"include-commit-time", no_argument, NULL, 3},
		{"batch-events", required_argument, NULL, 4},
		{"batch-delay", required_argument, NULL, 5},
		{"status-interval", required_argument, NULL, 6},
		{"heartbeat-interval", required_argument, NULL, 7},
		{"retry-max", required_argument, NULL, 8},
		{"endpos", required_argument, NULL, 9},
		{"max-tries", required_argument, NULL, 10},
		{"dead-letter", required_argument, NULL, 11},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(opts, 0, sizeof(*opts));
	opts->batch_events = 1000;
	opts->batch_delay_ms = 1000;
	opts->status_interval_s = 10;
	opts->heartbeat_interval_s = 60;
	opts->retry_max_s = 60;
	while ((c = getopt_long(argc, argv, "d:S:s:c:vh", long_options, NULL)) != -1)
	{
		bool		ok = true;

		switch (c)
		{
			case 'd':
				opts->conninfo = optarg;
				break;
			case 'S':
				opts->slot = optarg;
				break;
			case 's':
				opts->state_path = optarg;
				break;
			case 'c':
				opts->command = optarg;
				break;
			case 'v':
				opts->verbose = true;
				break;
			case 'h':
				usage(stdout);
				exit(DT_EXIT_OK);
			case 1:
				opts->create_slot = true;
				break;
			case 2:
				opts->kinds = optarg;
				ok = valid_kinds(optarg);
				if (!ok)
					log_msg("invalid value \"%s\" for --kinds: event kinds separated by commas are expected, none of them empty",
							optarg);
				break;
			case 3:
				opts->include_commit_time = true;
				break;
			case 4:
				ok = parse_int_option("batch-events", optarg, 1, &opts->batch_events);
				break;
			case 5:
				ok = parse_int_option("batch-delay", optarg, 0, &opts->batch_delay_ms);
				break;
			case 6:
				ok = parse_int_option("status-interval", optarg, 1, &opts->status_interval_s);
				break;
			case 7:
				ok = parse_int_option("heartbeat-interval", optarg, 0, &opts->heartbeat_interval_s);
				break;
			case 8:
				ok = parse_int_option("retry-max", optarg, 1, &opts->retry_max_s);
				break;
			case 9:
				ok = parse_lsn(optarg, &opts->endpos);
				if (!ok)
					log_msg("invalid value \"%s\" for --endpos: an LSN such as 0/1A2B3C8 is expected",
							optarg);
				break;
			case 10:
				ok = parse_int_option("max-tries", optarg, 0, &opts->max_tries);
				break;
			case 11:
				opts->dead_letter = optarg;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--dead-letter needs a file name");
				break;
			default:
				ok = false;
		}
		if (!ok)
			return DT_EXIT_USAGE;
	}
	if (optind < argc)
	{
		log_msg("unexpected argument \"%s\"", argv[optind]);
		return DT_EXIT_USAGE;
	}
	if (opts->conninfo == NULL)
		opts->conninfo = "";
	if (opts->slot == NULL || opts->state_path == NULL || opts->command == NULL)
	{
		log_msg("--slot, --state and --command are required (see --help)");
		return DT_EXIT_USAGE;
	}
	if (opts->dead_letter != NULL && opts->max_tries == 0)
	{
		log_msg("--dead-letter needs --max-tries: a batch goes to the dead-letter file after that many failed tries");
		return DT_EXIT_USAGE;
	}
	if (!valid_slot_name(opts->slot) || strlen(opts->slot) > 63)
	{
		log_msg("invalid slot name \"%s\": lower case letters, digits and underscores, at most 63",
				opts->slot);
		return DT_EXIT_USAGE;
	}
	return DT_EXIT_OK;
}

/*
 * Make position the confirmed one: into the state file first, then to the
 * server.  Returns DT_EXIT_OK or DT_EXIT_USAGE (state file not written:
 * nothing confirmed).
 */
static int
confirm(const ConsumeOptions *opts, ConsumeState *state, Stream *stream,
		Lsn position)
{
	int			rc;

	state->confirmed = position;
	if ((rc = state_save(opts->state_path, state)) != DT_EXIT_OK)
		return rc;
	(void) stream_send_feedback(stream, position, false);
	return DT_EXIT_OK;
}

/* whole transactions received and not confirmed yet (events or not) */
static bool
batch_ready(const Batch *batch, const Stream *stream)
{
	return !batch->txn_open &&
		(batch->events > 0 || batch->end > stream->confirmed);
}

/* deliver a batch of whole transactions and confirm its end */
static int
deliver_and_confirm(const ConsumeOptions *opts, ConsumeState *state,
					Stream *stream, Batch *batch)
{
	Lsn			end = batch->end;
	int64_t		max_seq = batch->max_seq;
	int			rc;

	/* -1: told to stop, not delivered; or a reason to stop */
	if (batch->events > 0 && (rc = batch_deliver(opts, batch, stream)) != DT_EXIT_OK)
		return rc;
	batch_reset(batch);
	if (max_seq > state->last_seq)
		state->last_seq = max_seq;
	if (end > stream->confirmed && (rc = confirm(opts, state, stream, end)) != DT_EXIT_OK)
		return rc;
	return DT_EXIT_OK;
}

/* the end position an object of the plugin carries, or 0 */
static Lsn
object_end_lsn(const char *data)
{
	const char *key = strstr(data, "\"end_lsn\":\"");
	char		text[32];
	size_t		len;
	Lsn			lsn;

	if (key == NULL)
		return 0;
	key += strlen("\"end_lsn\":\"");
	len = strcspn(key, "\"");
	if (len >= sizeof(text))
		return 0;
	memcpy(text, key, len);
	text[len] = '\0';
	return parse_lsn(text, &lsn) ? lsn : 0;
}

/*
 * One XLogData message: an event, a heartbeat or a commit object.
 * Returns DT_EXIT_OK or DT_EXIT_USAGE (batch file not writable).
 */
static int
handle_object(Batch *batch, const char *data, size_t len)
{
	if (strncmp(data, "{\"commit\":true", 14) == 0)
	{
		Lsn			end = object_end_lsn(data);

		if (end == 0)
		{
			log_msg("the plugin's commit object has no end_lsn: %.200s", data);
			return DT_EXIT_USAGE;
		}
		batch_end_transaction(batch, end);
	}
	else if (strncmp(data, "{\"heartbeat\":true", 17) == 0)
		batch->txn_open = true; /* nothing to deliver, a position to confirm */
	else if (!batch_add_event(batch, data, len))
		return DT_EXIT_USAGE;
	return DT_EXIT_OK;
}

/*
 * Stream until told to stop, --endpos, or the connection fails.  Returns
 * DT_EXIT_OK, a fatal DT_EXIT_* code, or -1 (reconnect).
 */
static int
run_stream(const ConsumeOptions *opts, ConsumeState *state, Stream *stream,
		   Batch *batch, PGconn **heartbeat_conn)
{
	double		last_state_save = now_seconds();
	int			rc;

	for (;;)
	{
		char	   *buf = NULL;
		int			len;
		double		now;

		if (consume_stop_requested)
		{
			if (batch_ready(batch, stream))
				(void) deliver_and_confirm(opts, state, stream, batch);
			(void) stream_send_feedback(stream, stream->confirmed, false);
			return DT_EXIT_OK;
		}
		if (opts->endpos != 0 && stream->confirmed >= opts->endpos)
		{
			log_verbose(opts, "confirmed " LSN_FMT ", past --endpos", LSN_ARGS(stream->confirmed));
			return DT_EXIT_OK;
		}

		len = PQgetCopyData(stream->conn, &buf, 1);
		now = now_seconds();
		if (len > 0)
		{
			rc = DT_EXIT_OK;
			if (buf[0] == 'w' && len >= 25)
			{
				stream->received_end = get_be64(buf + 9);
				stream->last_data = now;
				rc = handle_object(batch, buf + 25, (size_t) len - 25);
			}
			else if (buf[0] == 'k' && len >= 18)
			{
				Lsn			wal_end = get_be64(buf + 1);
				bool		reply = buf[17] != 0;

				stream->received_end = wal_end;
				/* nothing pending: confirm what the server has moved past */
				if (!batch->txn_open && batch->events == 0 &&
					batch->end <= stream->confirmed && wal_end > stream->confirmed &&
					(reply || now - last_state_save >= opts->status_interval_s))
				{
					rc = confirm(opts, state, stream, wal_end);
					last_state_save = now;
				}
				else if (reply)
					(void) stream_send_feedback(stream, stream->confirmed, false);
			}
			PQfreemem(buf);
			if (rc != DT_EXIT_OK)
				return rc;
			/* a full or old batch goes at once, at a transaction end */
			if (!batch->txn_open && batch->events > 0 &&
				(batch->events >= opts->batch_events ||
				 now - batch->first_at >= opts->batch_delay_ms / 1000.0))
			{
				if ((rc = deliver_and_confirm(opts, state, stream, batch)) != DT_EXIT_OK)
					return rc < 0 ? DT_EXIT_OK : rc;
				last_state_save = now_seconds();
			}
			continue;
		}
		if (len == -1)
		{
			PGresult   *res = PQgetResult(stream->conn);

			log_msg("the server ended the stream: %s",
					PQresultStatus(res) == PGRES_COMMAND_OK ? "no error" :
					PQerrorMessage(stream->conn));
			PQclear(res);
			return -1;
		}
		if (len < -1)
		{
			log_msg("could not read from the stream: %s", PQerrorMessage(stream->conn));
			return -1;
		}

		/* nothing waiting: deliver what is whole, then look at the clocks */
		if (batch_ready(batch, stream))
		{
			if ((rc = deliver_and_confirm(opts, state, stream, batch)) != DT_EXIT_OK)
				return rc < 0 ? DT_EXIT_OK : rc;
			last_state_save = now_seconds();
			continue;
		}
		if (now - stream->last_feedback >= opts->status_interval_s)
			(void) stream_send_feedback(stream, stream->confirmed, false);
		if (opts->heartbeat_interval_s > 0 &&
			now - stream->last_data >= opts->heartbeat_interval_s)
		{
			send_heartbeat(opts, heartbeat_conn);
			stream->last_data = now;
		}

		{
			int			sock = PQsocket(stream->conn);
			fd_set		readable;
			struct timeval timeout = {0, 100000};

			if (sock < 0 || sock >= FD_SETSIZE)
			{
				log_msg("the connection to the server is gone: %s",
						PQerrorMessage(stream->conn));
				return -1;
			}
			FD_ZERO(&readable);
			FD_SET(sock, &readable);
			if (select(sock + 1, &readable, NULL, NULL, &timeout) < 0 && errno != EINTR)
			{
				log_msg("select failed: %s", strerror(errno));
				return -1;
			}
			if (!PQconsumeInput(stream->conn))
			{
				log_msg("could not read from the server: %s", PQerrorMessage(stream->conn));
				return -1;
			}
		}
	}
}

/* sleep seconds unless told to stop; false if told to */
static bool
backoff_sleep(double seconds)
{
	double		until = now_seconds() + seconds;

	while (now_seconds() < until)
	{
		if (consume_stop_requested)
			return false;
		usleep(50000);
	}
	return !consume_stop_requested;
}

int
main(int argc, char **argv)
{
	ConsumeOptions opts;
	ConsumeState state;
	Batch		batch;
	PGconn	   *heartbeat_conn = NULL;
	bool		first = true;
	double		backoff = 1;
	int			rc;
	struct sigaction sa;

	if ((rc = parse_options(argc, argv, &opts)) != DT_EXIT_OK)
		return rc;
	if ((rc = state_load(opts.state_path, &state)) != DT_EXIT_OK)
		return rc;
	if (state.slot[0] != '\0' && strcmp(state.slot, opts.slot) != 0)
	{
		log_msg("state file \"%s\" belongs to slot \"%s\", not \"%s\"",
				opts.state_path, state.slot, opts.slot);
		return DT_EXIT_USAGE;
	}
	if (!batch_open(&batch))
		return DT_EXIT_USAGE;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (;;)
	{
		Stream		stream;
		Lsn			start = 0;

		memset(&stream, 0, sizeof(stream));
		stream.conn = stream_connect(opts.conninfo, true);
		if (stream.conn == NULL && first)
			return DT_EXIT_CONNECT;
		if (stream.conn != NULL)
		{
			rc = stream_check(stream.conn, &opts, &state, &start);
			if (rc == DT_EXIT_OK)
				rc = state_save(opts.state_path, &state);
			if (rc == DT_EXIT_OK)
				rc = stream_start(stream.conn, &opts, &state, start);
			if (rc == DT_EXIT_OK)
			{
				log_msg("streaming slot \"%s\" from " LSN_FMT, opts.slot, LSN_ARGS(start));
				first = false;
				backoff = 1;
				stream.confirmed = start;
				stream.last_feedback = now_seconds();
				stream.last_data = now_seconds();
				rc = run_stream(&opts, &state, &stream, &batch, &heartbeat_conn);
			}
			PQfinish(stream.conn);
			if (rc >= 0)
				break;
		}
		/* lost: what was not confirmed will be received again */
		batch_reset(&batch);
		log_msg("reconnecting in %.0f s", backoff);
		if (!backoff_sleep(backoff))
		{
			rc = DT_EXIT_OK;
			break;
		}
		backoff = backoff * 2 > 30 ? 30 : backoff * 2;
	}
	if (heartbeat_conn != NULL)
		PQfinish(heartbeat_conn);
	return rc;
}
