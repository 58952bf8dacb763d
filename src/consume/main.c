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
 * The receive loop (this file, the receive thread) reads the stream's
 * messages: an event object goes into the batch being filled; a heartbeat
 * opens a transaction with nothing to deliver; a commit object ends the
 * transaction (it carries the position to confirm).  A batch of whole
 * transactions is handed to the delivery thread (deliver.c) as soon as
 * that thread is free and the batch is --batch-delay old (default 0: at
 * once), or full (--batch-events, --batch-bytes); while the delivery thread
 * works, the next batch fills, and a full one stops the reading (the server
 * waits) until it can be handed over.  When the delivery thread has
 * recorded a batch, this thread confirms its end to the server.  A
 * keepalive that moves past everything received, with nothing pending, is
 * confirmed too (at most once per --status-interval, or at once when it
 * reaches --endpos), so the slot follows WAL written by other tables even
 * without heartbeats.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
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
			"drivetribe-consume reads a drivetribe stream slot and hands batches of events to a\n"
			"downstream, confirming a position to the server only after the downstream has it.\n\n"
			"Usage:\n"
			"  drivetribe-consume -d DBNAME|CONNSTR -S SLOT -s STATEFILE {-c|--pipe} COMMAND [OPTION]...\n"
			"  drivetribe-consume -d DBNAME|CONNSTR -S SLOT -s STATEFILE --http=URL [OPTION]...\n"

			"  drivetribe-consume -d DBNAME|CONNSTR -S SLOT -s STATEFILE --postgres=CONNSTR [OPTION]...\n"
			"  drivetribe-consume -d DBNAME|CONNSTR -S SLOT -s STATEFILE --redis=HOST:PORT [OPTION]...\n"
			"  drivetribe-consume -d DBNAME|CONNSTR -S SLOT -s STATEFILE --nats=HOST:PORT [OPTION]...\n\n"
			"  -d, --dbname=CONNSTR        database to connect to (libpq's PG* variables apply)\n"
			"  -S, --slot=SLOT             the drivetribe logical replication slot\n"
			"  -s, --state=FILE            where the confirmed position is kept (created if missing)\n"
			"The downstream, one of:\n"
			"  -c, --command=COMMAND       run by /bin/sh for each batch, the batch on stdin, one JSON\n"
			"                              event per line; exit 0 = delivered, else retry the batch\n"
			"      --pipe=COMMAND          run by /bin/sh once, kept running: batches on its stdin,\n"
			"                              \"ack N\" lines on its stdout (docs/design.md: the line\n"
			"                              protocol); restarted with backoff when it dies\n"
			"      --http=URL              POST each batch to URL, one JSON document; a 2xx status\n"
			"                              = delivered, else retry the batch (docs/sink-http.md)\n"
			"      --postgres=CONNSTR      apply each batch to this receiving database in one\n"
			"                              transaction, exactly once (docs/sink-postgres.md)\n"
			"      --postgres-table=SCHEMA.TABLE  insert the events into this table (default\n"
			"                              drivetribe_sink.events, created when missing)...\n"
			"      --postgres-function=SCHEMA.FUNC  ... or call FUNC(jsonb) once per batch with\n"
			"                              the batch's events as one JSON array\n"
			"      --postgres-timeout=S    the receiver's statement_timeout (default 60)\n"
			"      --redis=HOST:PORT       a Redis stream, each event one XADD entry, exactly once\n"
			"                              (docs/sink-redis.md); HOST:PORT, [IPV6]:PORT, HOST\n"
			"                              (port 6379) or a Unix socket's path\n"
			"      --redis-stream=KEY      --redis: the stream's key (default drivetribe:events);\n"
			"                              the progress key is KEY:applied:SLOT\n"
			"      --redis-password-file=FILE  --redis: AUTH with the first line of FILE\n"
			"      --redis-timeout=S       --redis: connecting and each command, at most S s\n"
			"                              (default 30); then the try fails and is retried\n"
			"      --nats=HOST:PORT        a NATS JetStream stream, each event one message with\n"
			"                              Nats-Msg-Id: event_id, deduplicated within the stream's\n"
			"                              duplicate window (docs/sink-nats.md); plain TCP, no TLS\n"
			"                              or authentication; HOST alone: port 4222\n"
			"      --nats-subject=SUBJ     --nats: publish to SUBJ (default drivetribe.events); a\n"
			"                              stream must listen on it\n"
			"      --nats-timeout=S        --nats: connecting, and each try of a batch (its publishes\n"
			"                              and their acknowledgements), at most S s (default 30)\n"
			"Options:\n"
			"      --create-slot           create the slot when it is missing (first start only)\n"
			"      --kinds=K1,K2           only these event kinds (the plugin's kinds option)\n"
			"      --include-commit-time   add \"commit_time\" to every event\n"
			"      --batch-events=N        at most N events in a batch (default 1000)...\n"
			"      --batch-bytes=N         ... and N bytes (default 4194304; a bigger transaction\n"
			"                              is a batch of its own)\n"
			"      --batch-memory=N        a batch over N bytes moves from memory to a file in\n"
			"                              $TMPDIR (default 33554432)\n"
			"      --batch-delay=MS        wait up to MS ms for more before delivering (default 0:\n"
			"                              deliver as soon as the downstream is free)\n"
			"      --ack-timeout=S         --pipe: a batch not acknowledged within S s is a failed\n"
			"                              try; the process is ended and started again (default 60)\n"
			"      --http-timeout=S        --http: a whole request, at most S s (default 30)\n"
			"      --http-header=H         --http: send header H ('Name: value') too; repeatable\n"
			"      --http-secret-file=FILE --http: sign each body with the key in FILE\n"
			"                              (X-Drivetribe-Signature: sha256=HMAC)\n"
			"      --status-interval=S     confirm to the server at least every S s (default 10)\n"
			"      --heartbeat-interval=S  when nothing arrived for S s, send drivetribe.heartbeat()\n"
			"                              on an ordinary connection (default 60, 0 = never)\n"
			"      --retry-max=S           longest wait between two retries of a batch (default 60)\n"
			"      --max-tries=N           give up on a batch after N failed tries (default 0: never):\n"
			"                              exit with status 7 naming its seqs, or with --dead-letter...\n"
			"      --dead-letter=FILE      ... append the batch to FILE (JSON lines) and go on\n"
			"      --status-file=FILE      keep metrics in FILE (Prometheus text format, every second)\n"
			"      --report-interval=S     log a progress line every S s (default 10, 0 = never)\n"
			"      --endpos=LSN            exit 0 once everything up to LSN is confirmed\n"
			"  -v, --verbose               log every batch\n\n"
			"Exit status:\n"
			"  0  stopped by SIGTERM/SIGINT (after the batch being delivered) or --endpos reached\n"
			"  1  bad arguments, a bad state file, or the state file could not be written\n"
			"  2  the first connection failed (later ones are retried with backoff)\n"
			"  3  the slot does not exist\n"
			"  4  the slot is ahead of what this consumer confirmed (recreated, advanced, shared)\n"
			"  5  another server, or one restored to before what this consumer confirmed\n"
			"  6  the server refuses the plugin (output_plugin_libraries), or the slot is not a\n"
			"     drivetribe slot of this database\n"
			"  7  the downstream failed --max-tries times on one batch (no --dead-letter); the\n"
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


/*
 * parse_host_port: "HOST:PORT", "[IPV6]:PORT" or "HOST" (default_port)
 * into host (at most host_size bytes with its NUL) and *port.  NULL when
 * it parses, else why not; host_expected is the reason when no host is
 * there (or it is too long).  The --redis and --nats sinks use it.
 */
const char *
parse_host_port(const char *text, long default_port, char *host,
				size_t host_size, long *port, const char *host_expected)
{
	const char *colon;
	const char *host_start = text;
	size_t		host_len;
	char	   *end;
	long		p = default_port;

	if (text[0] == '[')
	{
		const char *close = strchr(text, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return "an IPv6 address is written [ADDRESS]:PORT";
		host_start = text + 1;
		host_len = close - host_start;
		colon = close[1] == ':' ? close + 1 : NULL;
	}
	else
	{
		colon = strrchr(text, ':');
		host_len = colon != NULL ? (size_t) (colon - text) : strlen(text);
	}
	if (colon != NULL)
	{
		errno = 0;
		p = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535)
			return "the port is not a number from 1 to 65535";
	}
	if (host_len == 0 || host_len >= host_size)
		return host_expected;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	*port = p;
	return NULL;
}

/*
 * SCHEMA.NAME or NAME for --postgres-table/--postgres-function: parts not
 * empty, at most one dot (each part is one identifier, quoted as it is)
 */
static bool
valid_qualified_name(const char *option, const char *text)
{
	const char *dot = strchr(text, '.');

	if (*text == '\0' || dot == text || (dot != NULL && (dot[1] == '\0' || strchr(dot + 1, '.') != NULL)) ||
		strlen(text) > 127)
	{
		log_msg("invalid value \"%s\" for --%s: SCHEMA.NAME or NAME is expected (taken as they are, case included, no quotes)",
				text, option);
		return false;
	}
	return true;
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

static bool
parse_long_option(const char *name, const char *value, long min, long *out)
{
	char	   *end;
	long long	v = strtoll(value, &end, 10);

	if (*value == '\0' || *end != '\0' || v < min || v > (1LL << 40))
	{
		log_msg("invalid value \"%s\" for --%s: an integer of at least %ld is expected",
				value, name, min);
		return false;
	}
	*out = (long) v;
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
		{"pipe", required_argument, NULL, 12},
		{"batch-bytes", required_argument, NULL, 13},
		{"ack-timeout", required_argument, NULL, 14},
		{"status-file", required_argument, NULL, 15},
		{"report-interval", required_argument, NULL, 16},
		{"http", required_argument, NULL, 17},
		{"http-timeout", required_argument, NULL, 18},
		{"http-header", required_argument, NULL, 19},
		{"http-secret-file", required_argument, NULL, 20},
		{"postgres", required_argument, NULL, 21},
		{"postgres-table", required_argument, NULL, 22},
		{"postgres-function", required_argument, NULL, 23},
		{"postgres-timeout", required_argument, NULL, 24},
		{"redis", required_argument, NULL, 25},
		{"redis-stream", required_argument, NULL, 26},
		{"redis-password-file", required_argument, NULL, 27},
		{"redis-timeout", required_argument, NULL, 28},
		{"batch-memory", required_argument, NULL, 29},
		{"nats", required_argument, NULL, 30},
		{"nats-subject", required_argument, NULL, 31},
		{"nats-timeout", required_argument, NULL, 32},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			sinks = 0;
	bool		nats_timeout_given = false;

	memset(opts, 0, sizeof(*opts));

	opts->batch_events = 1000;
	opts->batch_bytes = 4L * 1024 * 1024;
	opts->batch_memory = 32L * 1024 * 1024;
	opts->batch_delay_ms = 0;
	opts->ack_timeout_s = 60;
	opts->report_interval_s = 10;
	opts->status_interval_s = 10;
	opts->heartbeat_interval_s = 60;
	opts->retry_max_s = 60;
	opts->http_timeout_s = 30;
	opts->postgres_timeout_s = 60;
	opts->http_headers = calloc(argc + 1, sizeof(const char *));
	if (opts->http_headers == NULL)
	{
		log_msg("out of memory");
		return DT_EXIT_USAGE;
	}
	opts->redis_stream = "drivetribe:events";
	opts->redis_timeout_s = 30;
	opts->nats_timeout_s = 30;
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
				opts->sink = SINK_COMMAND;
				sinks++;
				break;
			case 12:
				opts->command = optarg;
				opts->sink = SINK_PIPE;
				sinks++;
				break;
			case 13:
				ok = parse_long_option("batch-bytes", optarg, 1, &opts->batch_bytes);
				break;
			case 29:
				ok = parse_long_option("batch-memory", optarg, 0, &opts->batch_memory);
				break;
			case 14:
				ok = parse_int_option("ack-timeout", optarg, 1, &opts->ack_timeout_s);
				break;
			case 15:
				opts->status_file = optarg;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--status-file needs a file name");
				break;
			case 16:
				ok = parse_int_option("report-interval", optarg, 0, &opts->report_interval_s);
				break;
			case 17:
				opts->http_url = optarg;
				opts->sink = SINK_HTTP;
				sinks++;
				ok = strncasecmp(optarg, "http://", 7) == 0 ||
					strncasecmp(optarg, "https://", 8) == 0;
				if (!ok)
					log_msg("invalid value for --http: a URL that starts with http:// or https:// is expected");
				break;
			case 18:
				ok = parse_int_option("http-timeout", optarg, 1, &opts->http_timeout_s);
				break;
			case 19:
				opts->http_headers[opts->http_header_count++] = optarg;
				break;
			case 20:
				opts->http_secret_file = optarg;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--http-secret-file needs a file name");
				break;
			case 21:
				opts->postgres = optarg;
				opts->sink = SINK_POSTGRES;
				sinks++;
				break;
			case 22:
				opts->postgres_table = optarg;
				ok = valid_qualified_name("postgres-table", optarg);
				break;
			case 23:
				opts->postgres_function = optarg;
				ok = valid_qualified_name("postgres-function", optarg);
				break;
			case 24:
				ok = parse_int_option("postgres-timeout", optarg, 1, &opts->postgres_timeout_s);
				break;
			case 25:
				opts->redis_address = optarg;
				opts->sink = SINK_REDIS;
				sinks++;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--redis needs HOST:PORT or a socket path");
				break;
			case 26:
				opts->redis_stream = optarg;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--redis-stream needs a key");
				break;
			case 27:
				opts->redis_password_file = optarg;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--redis-password-file needs a file name");
				break;
			case 28:
				ok = parse_int_option("redis-timeout", optarg, 1, &opts->redis_timeout_s);
				break;
			case 30:
				opts->nats_address = optarg;
				opts->sink = SINK_NATS;
				sinks++;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--nats needs HOST:PORT");
				break;
			case 31:
				opts->nats_subject = optarg;
				ok = *optarg != '\0';
				if (!ok)
					log_msg("--nats-subject needs a subject");
				break;
			case 32:
				ok = parse_int_option("nats-timeout", optarg, 1, &opts->nats_timeout_s);
				nats_timeout_given = true;
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
	if (opts->slot == NULL || opts->state_path == NULL || sinks == 0)
	{
		log_msg("--slot, --state and a downstream (--command, --pipe, --http, --postgres, --redis or --nats) are required (see --help)");
		return DT_EXIT_USAGE;
	}
	if (sinks > 1)
	{
		log_msg("--command, --pipe, --http, --postgres, --redis and --nats each name the downstream: give one of them, once");
		return DT_EXIT_USAGE;
	}
	if (opts->sink != SINK_HTTP &&
		(opts->http_header_count > 0 || opts->http_secret_file != NULL))
	{
		log_msg("--http-header and --http-secret-file go with --http");
		return DT_EXIT_USAGE;
	}
	if (opts->sink != SINK_REDIS && opts->redis_password_file != NULL)
	{
		log_msg("--redis-password-file goes with --redis");
		return DT_EXIT_USAGE;
	}
	if (opts->sink != SINK_NATS && (opts->nats_subject != NULL || nats_timeout_given))
	{
		log_msg("--nats-subject and --nats-timeout go with --nats");
		return DT_EXIT_USAGE;
	}
	if (opts->sink == SINK_NATS && opts->nats_subject == NULL)
		opts->nats_subject = "drivetribe.events";
	if ((opts->postgres_table != NULL || opts->postgres_function != NULL) &&
		opts->sink != SINK_POSTGRES)
	{
		log_msg("--postgres-table and --postgres-function need --postgres");
		return DT_EXIT_USAGE;
	}
	if (opts->postgres_table != NULL && opts->postgres_function != NULL)
	{
		log_msg("--postgres-table and --postgres-function are two ways to apply a batch: give one of them");
		return DT_EXIT_USAGE;
	}
	if (opts->sink == SINK_POSTGRES && opts->postgres_function == NULL &&
		opts->postgres_table == NULL)
		opts->postgres_table = "drivetribe_sink.events";
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

/* whole transactions received and not confirmed yet (events or not) */
static bool
batch_ready(const Batch *batch, const Stream *stream)
{
	return !batch->txn_open &&
		(batch->events > 0 || batch->end > stream->confirmed);
}

/* the batch being filled may take no more (at a transaction end) */
static bool
batch_full(const ConsumeOptions *opts, const Batch *batch)
{
	return batch->events >= opts->batch_events ||
		batch->complete_bytes >= opts->batch_bytes;
}

/* what the receive thread knows of the delivery thread */
typedef struct Receiver
{
	Pipeline   *pipeline;
	Batch	   *fill;			/* the batch being filled */
	int64_t		next_number;	/* of the next batch handed over */
	bool		in_flight;		/* a batch is with the delivery thread */
	bool		recording;		/* a delivered end is not recorded yet */
	double		in_flight_first_at; /* when its first event arrived */
} Receiver;

/*
 * Take in what the delivery thread published: the position it recorded
 * (confirmed to the server at once) and whether it wants the consumer to
 * stop.  Returns the delivery thread's reason to stop (DT_EXIT_*, -1 for
 * "stopped with a batch undelivered") or 0.
 */
static int
receiver_sync(Receiver *r, Stream *stream)
{
	char		drain[64];
	Lsn			confirmed;
	int			fatal;

	while (read(r->pipeline->wake_receiver[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&r->pipeline->lock);
	confirmed = r->pipeline->confirmed;
	fatal = r->pipeline->fatal;
	if (r->pipeline->pending == NULL && r->in_flight)
		r->in_flight = false;
	r->recording = r->pipeline->record_end > r->pipeline->confirmed;
	pthread_mutex_unlock(&r->pipeline->lock);
	if (confirmed > stream->confirmed && stream->conn != NULL)
		(void) stream_send_feedback(stream, confirmed, false);
	return fatal;
}

/* hand the batch being filled to the delivery thread (it is free) */
static void
receiver_hand_over(Receiver *r)
{
	Batch	   *batch = r->fill;

	if (batch->events > 0)
		batch->number = ++r->next_number;
	pthread_mutex_lock(&r->pipeline->lock);
	r->fill = r->pipeline->spare;
	r->pipeline->spare = NULL;
	r->pipeline->pending = batch;
	pthread_cond_signal(&r->pipeline->wake_delivery);
	pthread_mutex_unlock(&r->pipeline->lock);
	r->in_flight = true;
	r->in_flight_first_at = batch->first_at;
}

/*
 * Wait until the delivery and recorder threads are idle (everything
 * delivered is recorded); their reason to stop, or 0
 */
static int
receiver_drain(Receiver *r, Stream *stream)
{
	int			fatal;

	while ((fatal = receiver_sync(r, stream)) == 0 && (r->in_flight || r->recording))
	{
		struct pollfd wake = {r->pipeline->wake_receiver[0], POLLIN, 0};

		(void) poll(&wake, 1, 100);
		if (stream->conn != NULL &&
			now_seconds() - stream->last_feedback >= 1)
			(void) stream_send_feedback(stream, stream->confirmed, false);
	}
	return fatal;
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
run_stream(const ConsumeOptions *opts, Receiver *r, Stream *stream,
		   PGconn **heartbeat_conn)
{
	double		last_state_save = now_seconds();
	double		last_status = 0;
	double		last_log = now_seconds();
	bool		final_handed = false;
	int			rc;

	for (;;)
	{
		char	   *buf = NULL;
		int			len = 0;
		double		now = now_seconds();
		Batch	   *fill = r->fill;
		bool		full;
		int			fatal = receiver_sync(r, stream);

		if (fatal != 0)
			return fatal < 0 ? DT_EXIT_OK : fatal;

		/* reports */
		if (now - last_status >= 1)
		{
			bool		log_line = opts->report_interval_s > 0 &&
				now - last_log >= opts->report_interval_s;
			double		oldest = r->in_flight ? r->in_flight_first_at : fill->first_at;

			if (oldest == 0)
				oldest = fill->first_at;
			report_progress(opts, r->pipeline, stream->received_end, oldest,
							true, log_line);
			last_status = now;
			if (log_line)
				last_log = now;
		}

		if (consume_stop_requested)
		{
			/* what is whole goes to the sink, then we end */
			if (!r->in_flight && !final_handed && batch_ready(fill, stream))
			{
				receiver_hand_over(r);
				final_handed = true;
			}
			if (!r->in_flight && !r->recording)
			{
				(void) stream_send_feedback(stream, stream->confirmed, false);
				return DT_EXIT_OK;
			}
		}
		else if (opts->endpos != 0 && stream->confirmed >= opts->endpos)
		{
			log_verbose(opts, "confirmed " LSN_FMT ", past --endpos", LSN_ARGS(stream->confirmed));
			return DT_EXIT_OK;
		}

		/* hand over when the delivery thread is free */
		full = !fill->txn_open && batch_full(opts, fill);
		if (!consume_stop_requested && !r->in_flight && batch_ready(fill, stream) &&
			(full || fill->events == 0 ||
			 now - fill->first_at >= opts->batch_delay_ms / 1000.0))
		{
			receiver_hand_over(r);
			continue;
		}

		/* read unless the batch is full (then the server waits) */
		if (!full && !consume_stop_requested)
			len = PQgetCopyData(stream->conn, &buf, 1);
		if (len > 0)
		{
			rc = DT_EXIT_OK;
			if (buf[0] == 'w' && len >= 25)
			{
				stream->received_end = get_be64(buf + 9);
				stream->last_data = now;
				rc = handle_object(fill, buf + 25, (size_t) len - 25);
			}
			else if (buf[0] == 'k' && len >= 18)
			{
				Lsn			wal_end = get_be64(buf + 1);
				bool		reply = buf[17] != 0;

				stream->received_end = wal_end;
				/* nothing pending: confirm what the server has moved past */
				if (!r->in_flight && !fill->txn_open && fill->events == 0 &&
					fill->end <= stream->confirmed && wal_end > stream->confirmed &&
					(reply || now - last_state_save >= opts->status_interval_s ||
					 (opts->endpos != 0 && wal_end >= opts->endpos)))
				{
					fill->end = wal_end;
					receiver_hand_over(r);
					last_state_save = now;
				}
				else if (reply)
					(void) stream_send_feedback(stream, stream->confirmed, false);
			}
			PQfreemem(buf);
			if (rc != DT_EXIT_OK)
				return rc;
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

		/* nothing to read now: look at the clocks, then wait */
		if (now - stream->last_feedback >= (full || r->in_flight ? 1 : opts->status_interval_s))
			(void) stream_send_feedback(stream, stream->confirmed, false);
		if (opts->heartbeat_interval_s > 0 && !full &&
			now - stream->last_data >= opts->heartbeat_interval_s)
		{
			send_heartbeat(opts, heartbeat_conn);
			stream->last_data = now;
		}

		{
			struct pollfd fds[2];
			int			nfds = 0;
			int			timeout_ms = 100;
			int			sock = PQsocket(stream->conn);

			if (sock < 0)
			{
				log_msg("the connection to the server is gone: %s",
						PQerrorMessage(stream->conn));
				return -1;
			}
			fds[nfds].fd = r->pipeline->wake_receiver[0];
			fds[nfds++].events = POLLIN;
			if (!full && !consume_stop_requested)
			{
				fds[nfds].fd = sock;
				fds[nfds++].events = POLLIN;
			}
			/* a batch waiting out --batch-delay */
			if (!r->in_flight && batch_ready(fill, stream) && fill->events > 0)
			{
				double		left = fill->first_at + opts->batch_delay_ms / 1000.0 - now;

				timeout_ms = left <= 0 ? 0 : (int) (left * 1000) + 1;
				if (timeout_ms > 100)
					timeout_ms = 100;
			}
			if (poll(fds, nfds, timeout_ms) < 0 && errno != EINTR)
			{
				log_msg("poll failed: %s", strerror(errno));
				return -1;
			}
			if (nfds > 1 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) &&
				!PQconsumeInput(stream->conn))
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
	static Batch batches[2];
	static Pipeline pipeline;
	Receiver	receiver;
	PGconn	   *heartbeat_conn = NULL;
	bool		first = true;
	double		backoff = 1;
	int			rc;
	struct sigaction sa;

	/*
	 * First of all: a SIGTERM that comes while the consumer starts must
	 * stop it cleanly (exit 0 once nothing is in flight), not kill it.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

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
	if (!batch_open(&batches[0], opts.batch_memory) ||
		!batch_open(&batches[1], opts.batch_memory))
		return DT_EXIT_USAGE;

	memset(&receiver, 0, sizeof(receiver));
	receiver.pipeline = &pipeline;
	receiver.fill = &batches[0];
	pipeline.spare = &batches[1];
	if ((rc = delivery_start(&pipeline, &opts, &state)) != DT_EXIT_OK)
		return rc;

	for (;;)
	{
		Stream		stream;
		Lsn			start = 0;

		memset(&stream, 0, sizeof(stream));
		stream.conn = stream_connect(opts.conninfo, true);
		if (stream.conn == NULL && first)
		{
			rc = DT_EXIT_CONNECT;
			break;
		}
		if (stream.conn != NULL)
		{
			/* the delivery and recorder threads are idle: the state is ours */
			rc = stream_check(stream.conn, &opts, &state, &start);
			if (rc == DT_EXIT_OK)
				rc = state_save(opts.state_path, &state);
			if (rc == DT_EXIT_OK)
				rc = stream_start(stream.conn, &opts, &state, start);
			if (rc == DT_EXIT_OK)
			{
				log_msg("streaming slot \"%s\" from " LSN_FMT " into the %s downstream",
						opts.slot, LSN_ARGS(start),
						opts.sink == SINK_PIPE ? "pipe" :
						opts.sink == SINK_HTTP ? "http" :
						opts.sink == SINK_REDIS ? "redis" :
						opts.sink == SINK_NATS ? "nats" :
						opts.sink == SINK_POSTGRES ? "postgres" : "command");
				first = false;
				backoff = 1;
				stream.confirmed = start;
				stream.last_feedback = now_seconds();
				stream.last_data = now_seconds();
				pthread_mutex_lock(&pipeline.lock);
				pipeline.confirmed = state.confirmed;
				if (pipeline.record_end < state.confirmed)
					pipeline.record_end = state.confirmed;
				pthread_mutex_unlock(&pipeline.lock);
				rc = run_stream(&opts, &receiver, &stream, &heartbeat_conn);
			}
			/* let the batch with the delivery thread finish first */
			{
				int			fatal = receiver_drain(&receiver, &stream);

				if (fatal != 0 && rc < 0)
					rc = fatal < 0 ? DT_EXIT_OK : fatal;
			}
			PQfinish(stream.conn);
			if (rc >= 0)
				break;
		}
		/* lost: what was not confirmed will be received again */
		batch_reset(receiver.fill);
		report_progress(&opts, &pipeline, stream.received_end, 0, false, false);
		log_msg("reconnecting in %.0f s", backoff);
		if (!backoff_sleep(backoff))
		{
			rc = DT_EXIT_OK;
			break;
		}
		backoff = backoff * 2 > 30 ? 30 : backoff * 2;
	}
	delivery_stop(&pipeline);
	report_progress(&opts, &pipeline, 0, 0, false, false);
	if (heartbeat_conn != NULL)
		PQfinish(heartbeat_conn);
	return rc;
}
