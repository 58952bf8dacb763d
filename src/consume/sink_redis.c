/*-------------------------------------------------------------------------
 *
 * sink_redis.c
 *	  The Redis Streams sink (--redis=HOST:PORT): each event becomes one
 *	  entry of a Redis stream, exactly once.
 *
 * Each event of a batch becomes one XADD entry (ID "*": Redis numbers them
 * in the order they are added, which is commit order) with four fields:
 *
 *	seq			the event's seq
 *	event_id	its event_id (a UUID; "" when null)
 *	kind		its kind
 *	event		the JSON object as the plugin wrote it
 *
 * A batch is applied by ONE Lua script call (EVALSHA; the script is loaded
 * with SCRIPT LOAD, and sent whole with EVAL when Redis answers NOSCRIPT,
 * e.g. after a restart emptied its script cache).  The script reads the
 * progress key "<stream>:applied:<slot>", which holds the end LSN of the
 * last batch applied (a decimal number: 64 bits, compared exactly as
 * digits, never as a Lua double).  If the batch's end LSN is not past it
 * the script answers "already applied" and writes nothing; otherwise it
 * XADDs the batch's events whose transaction committed after the
 * progress key (all of them, unless the batch is a re-delivery that
 * overlaps what was applied: see redis_script) and sets the progress key.
 * Redis runs a script atomically, so a batch is applied wholly or not at
 * all, and the progress key moves with it: what comes again (the consumer
 * was killed after Redis applied a batch and before it recorded it, or a
 * reply was lost to a timeout while Redis applied the batch anyway) is
 * skipped, event by event.  The whole batch goes in one call (its events
 * as ARGV): a batch is at most --batch-bytes (4 MB by default; a bigger
 * transaction is a batch of its own), far below Redis's limits (512 MB per
 * argument, 1 GB per request by default).
 *
 * Durability: the guarantee is as good as Redis's memory of what it
 * acknowledged.  With appendonly yes and appendfsync always, a batch is on
 * disk before the script's reply, and nothing acknowledged is lost when
 * Redis crashes.  Otherwise (RDB snapshots, appendfsync everysec) a Redis
 * crash can lose batches it acknowledged and the consumer confirmed to
 * PostgreSQL: they are not sent again (the progress key goes back with
 * them, so later batches are applied, leaving a hole).
 *
 * The connection is kept across batches; connecting, and each command,
 * time out after --redis-timeout seconds.  Any error (refused, timed out,
 * a Redis error reply, a reply of an unexpected type) frees the
 * connection and fails the try with the message; the next try connects
 * again.  A password is read from --redis-password-file (never taken from
 * the command line) and sent with AUTH after connecting.
 *
 * Standalone Redis (or a primary) only: a cluster's MOVED reply is an
 * error.  Both keys are passed as KEYS, so a stream name with a hash tag
 * ({drivetribe}:events) keeps them in one cluster slot if a proxy routes.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "sink.h"

/*
 * KEYS[1] the stream, KEYS[2] the progress key; ARGV[1] the batch's end
 * LSN, then five arguments per event: its transaction's commit LSN (the
 * event's "lsn"), seq, event_id, kind, event.  LSNs are decimal numbers,
 * compared as digit strings (exact for 64 bits; a Lua number is not).
 * Returns -1 ("already applied": nothing written) or the number of
 * entries added.
 *
 * The check is per batch AND per event: a batch that comes again after a
 * crash need not be the batch that was applied.  It starts where the
 * consumer's state file says, and may end further (more had arrived) or
 * elsewhere, so it can hold transactions applied before and new ones.
 * The progress key is the end LSN of the last transaction applied, P; a
 * transaction T after it has its commit record after P's, so its commit
 * LSN is >= P, while the commit LSN of P itself, or of any transaction
 * before it, is < P.  So the events whose "lsn" is below the progress key
 * are skipped, and the rest are added.  The batch-level check keeps the
 * progress key from ever moving back.
 */
static const char redis_script[] =
"local function past(a, b)\n"
"  if #a ~= #b then return #a > #b end\n"
"  return a > b\n"
"end\n"
"local applied = redis.call('GET', KEYS[2])\n"
"if applied and not past(ARGV[1], applied) then\n"
"  return -1\n"
"end\n"
"local n = 0\n"
"for i = 2, #ARGV - 4, 5 do\n"
"  if not applied or not past(applied, ARGV[i]) then\n"
"    redis.call('XADD', KEYS[1], '*', 'seq', ARGV[i + 1], 'event_id', ARGV[i + 2],\n"
"               'kind', ARGV[i + 3], 'event', ARGV[i + 4])\n"
"    n = n + 1\n"
"  end\n"
"end\n"
"redis.call('SET', KEYS[2], ARGV[1])\n"
"return n\n";

/* the decimal form of an LSN fits in this, with its terminator */
#define LSN_DECIMAL_SIZE 24

typedef struct RedisSink
{
	redisContext *conn;			/* NULL: not connected */
	char		sha[64];		/* the script's SHA1 ("" until loaded) */
	char		progress_key[512];
	char		host[256];		/* or a Unix socket's path */
	int			port;			/* 0: host is a Unix socket */
	char	   *password;		/* from --redis-password-file, or NULL */
	/* the batch read back (reused from batch to batch) */
	char	   *text;
	size_t		text_cap;
	char	   *lsns;			/* LSN_DECIMAL_SIZE bytes per event */
	size_t		lsns_cap;
	const char **argv;
	size_t	   *argvlen;
	size_t		argv_cap;
	int			connects;
} RedisSink;

/*
 * Parse --redis: "HOST:PORT", "[IPV6]:PORT", "HOST" (port 6379), or a
 * Unix socket's path (starts with '/').  false with the reason in error.
 */
static bool
redis_parse_address(const char *text, char *host, size_t host_size, int *port,
					char *error, size_t error_size)
{
	const char *reason;
	long		p;

	if (text[0] == '/')
	{
		if (strlen(text) >= host_size)
		{
			snprintf(error, error_size, "the socket path is too long");
			return false;
		}
		snprintf(host, host_size, "%s", text);
		*port = 0;
		return true;
	}
	reason = parse_host_port(text, 6379, host, host_size, &p,
							 "HOST:PORT or a socket path is expected");
	if (reason != NULL)
	{
		snprintf(error, error_size, "%s", reason);
		return false;
	}
	*port = (int) p;
	return true;
}

/* forget the connection (the next try connects again) */
static void
redis_disconnect(RedisSink *rs)
{
	if (rs->conn != NULL)
		redisFree(rs->conn);
	rs->conn = NULL;
}

/*
 * Run one command (argv form) and check its reply's type: returns the
 * reply (the caller frees it), or NULL with error set and the connection
 * freed.
 */
static redisReply *
redis_run(RedisSink *rs, int argc, const char **argv, const size_t *argvlen,
		  const char *what, char *error, size_t error_size)
{
	redisReply *reply = redisCommandArgv(rs->conn, argc, argv, argvlen);

	if (reply == NULL)
	{
		snprintf(error, error_size, "redis: %s failed: %s", what,
				 rs->conn->errstr[0] != '\0' ? rs->conn->errstr : "no reply");
		redis_disconnect(rs);
		return NULL;
	}
	if (reply->type == REDIS_REPLY_ERROR)
	{
		snprintf(error, error_size, "redis: %s failed: %.*s", what,
				 (int) (reply->len > 400 ? 400 : reply->len), reply->str);
		freeReplyObject(reply);
		redis_disconnect(rs);
		return NULL;
	}
	return reply;
}

/* connect, authenticate, load the script; false with error set */
static bool
redis_connect(Sink *sink, RedisSink *rs, char *error, size_t error_size)
{
	struct timeval tv = {sink->opts->redis_timeout_s, 0};
	redisReply *reply;

	if (rs->port == 0)
		rs->conn = redisConnectUnixWithTimeout(rs->host, tv);
	else
		rs->conn = redisConnectWithTimeout(rs->host, rs->port, tv);
	if (rs->conn == NULL || rs->conn->err)
	{
		snprintf(error, error_size, "redis: could not connect to %s%s%.0d: %s",
				 rs->host, rs->port ? ":" : "", rs->port,
				 rs->conn != NULL ? rs->conn->errstr : "out of memory");
		redis_disconnect(rs);
		return false;
	}
	if (redisSetTimeout(rs->conn, tv) != REDIS_OK)
	{
		snprintf(error, error_size, "redis: could not set the timeout");
		redis_disconnect(rs);
		return false;
	}
	if (rs->password != NULL)
	{
		const char *argv[] = {"AUTH", rs->password};
		size_t		argvlen[] = {4, strlen(rs->password)};

		if ((reply = redis_run(rs, 2, argv, argvlen, "AUTH", error, error_size)) == NULL)
			return false;
		freeReplyObject(reply);
	}
	{
		const char *argv[] = {"SCRIPT", "LOAD", redis_script};
		size_t		argvlen[] = {6, 4, strlen(redis_script)};

		if ((reply = redis_run(rs, 3, argv, argvlen, "SCRIPT LOAD", error, error_size)) == NULL)
			return false;
		if (reply->type != REDIS_REPLY_STRING || reply->len >= sizeof(rs->sha))
		{
			snprintf(error, error_size, "redis: SCRIPT LOAD answered no SHA1");
			freeReplyObject(reply);
			redis_disconnect(rs);
			return false;
		}
		memcpy(rs->sha, reply->str, reply->len);
		rs->sha[reply->len] = '\0';
		freeReplyObject(reply);
	}
	if (rs->connects++ > 0)
		log_msg("connected to redis %s%s%.0d again", rs->host, rs->port ? ":" : "", rs->port);
	else
		log_verbose(sink->opts, "connected to redis %s%s%.0d", rs->host,
					rs->port ? ":" : "", rs->port);
	return true;
}

/*
 * The value of a string member at the head of an event line, e.g. the
 * "abc" of ..."kind":"abc"...: its bytes between the quotes (escapes left
 * as they are), or "" for null or when absent.
 */
static void
redis_field(const char *line, size_t len, const char *key, const char **value,
			size_t *value_len)
{
	const char *p = memmem(line, len, key, strlen(key));
	const char *end = line + len;

	*value = "";
	*value_len = 0;
	if (p == NULL)
		return;
	p += strlen(key);
	if (p < end && *p == '"')
	{
		const char *q = ++p;

		while (q < end && *q != '"')
			q += (*q == '\\' && q + 1 < end) ? 2 : 1;
		if (q >= end)
			return;
		*value = p;
		*value_len = q - p;
	}
}

/*
 * The commit LSN of an event's transaction, in decimal: its top-level
 * "lsn" member, the last one in the line (members before it, such as
 * context, may hold an "lsn" of their own; inside a JSON string the quotes
 * would be escaped).  false when there is none.
 */
static bool
redis_event_lsn(const char *line, size_t len, char *out)
{
	static const char key[] = "\"lsn\":\"";
	const char *found = NULL;
	const char *p = line;
	const char *end = line + len;
	unsigned long long hi = 0,
				lo = 0;
	int			digits = 0;

	while (p < end && (p = memmem(p, end - p, key, strlen(key))) != NULL)
	{
		found = p;
		p += strlen(key);
	}
	if (found == NULL)
		return false;
	for (p = found + strlen(key); p < end && *p != '/' && digits <= 8; p++, digits++)
	{
		if (!isxdigit((unsigned char) *p))
			return false;
		hi = hi * 16 + (isdigit((unsigned char) *p) ? *p - '0' : (tolower((unsigned char) *p) - 'a' + 10));
	}
	if (p >= end || digits == 0 || digits > 8)
		return false;
	for (p++, digits = 0; p < end && *p != '"' && digits <= 8; p++, digits++)
	{
		if (!isxdigit((unsigned char) *p))
			return false;
		lo = lo * 16 + (isdigit((unsigned char) *p) ? *p - '0' : (tolower((unsigned char) *p) - 'a' + 10));
	}
	if (p >= end || digits == 0 || digits > 8)
		return false;
	snprintf(out, LSN_DECIMAL_SIZE, "%llu", (hi << 32) | lo);
	return true;
}

/* make room for n arguments; false when out of memory */
static bool
redis_reserve(RedisSink *rs, size_t n)
{
	const char **argv;
	size_t	   *argvlen;
	size_t		cap = rs->argv_cap ? rs->argv_cap : 256;

	if (n <= rs->argv_cap)
		return true;
	while (cap < n)
		cap *= 2;
	argv = realloc(rs->argv, cap * sizeof(*argv));
	if (argv == NULL)
		return false;
	rs->argv = argv;
	argvlen = realloc(rs->argvlen, cap * sizeof(*argvlen));
	if (argvlen == NULL)
		return false;
	rs->argvlen = argvlen;
	rs->argv_cap = cap;
	return true;
}

/*
 * Read the batch back: its lines into rs->text (one after another), then
 * the script's arguments pointing into it.  Returns the number of
 * arguments, or -1 with error set.
 */
static long
redis_build_args(RedisSink *rs, Batch *batch, char *end_lsn, char *error,
				 size_t error_size)
{
	const char *line;
	ssize_t		len;
	size_t		used = 0;
	size_t		argc;
	size_t		offset;
	size_t		events = 0;

	if (!batch_rewind(batch))
	{
		snprintf(error, error_size, "could not read the batch file");
		return -1;
	}
	/* pass 1: the text, each line followed by its length */
	while ((len = batch_next_line(batch, &line)) > 0)
	{
		size_t		need = used + len + sizeof(size_t);

		if (need > rs->text_cap)
		{
			size_t		cap = rs->text_cap ? rs->text_cap : 65536;
			char	   *text;

			while (cap < need)
				cap *= 2;
			if ((text = realloc(rs->text, cap)) == NULL)
			{
				snprintf(error, error_size, "out of memory reading a batch of %zu bytes", need);
				return -1;
			}
			rs->text = text;
			rs->text_cap = cap;
		}
		memcpy(rs->text + used, &len, sizeof(size_t));
		memcpy(rs->text + used + sizeof(size_t), line, len);
		used = need;
	}
	if (len < 0)
	{
		snprintf(error, error_size, "could not read the batch file");
		return -1;
	}

	/* pass 2: EVALSHA sha 2 stream progress end_lsn, then 5 per event */
	if (!redis_reserve(rs, 6 + 5 * (size_t) (batch->events > 0 ? batch->events : 0)))
	{
		snprintf(error, error_size, "out of memory for a batch of %lld events",
				 (long long) batch->events);
		return -1;
	}
	if ((size_t) batch->events * LSN_DECIMAL_SIZE > rs->lsns_cap)
	{
		size_t		cap = (size_t) batch->events * LSN_DECIMAL_SIZE * 2;
		char	   *lsns = realloc(rs->lsns, cap);

		if (lsns == NULL)
		{
			snprintf(error, error_size, "out of memory for a batch of %lld events",
					 (long long) batch->events);
			return -1;
		}
		rs->lsns = lsns;
		rs->lsns_cap = cap;
	}
	argc = 6;
	rs->argv[4] = rs->progress_key;
	rs->argvlen[4] = strlen(rs->progress_key);
	rs->argv[5] = end_lsn;
	rs->argvlen[5] = strlen(end_lsn);
	for (offset = 0; offset < used;)
	{
		size_t		n;
		const char *ev;
		size_t		digits = 0;
		char	   *lsn;

		memcpy(&n, rs->text + offset, sizeof(size_t));
		ev = rs->text + offset + sizeof(size_t);
		offset += sizeof(size_t) + n;
		if (events >= (size_t) batch->events || !redis_reserve(rs, argc + 5))
		{
			snprintf(error, error_size, "the batch holds more lines than its %lld events",
					 (long long) batch->events);
			return -1;
		}
		lsn = rs->lsns + events++ * LSN_DECIMAL_SIZE;
		if (!redis_event_lsn(ev, n, lsn))
		{
			snprintf(error, error_size, "an event has no \"lsn\": %.200s", ev);
			return -1;
		}
		rs->argv[argc] = lsn;
		rs->argvlen[argc++] = strlen(lsn);
		/* seq: the digits after {"seq": */
		if (n > 7 && strncmp(ev, "{\"seq\":", 7) == 0)
			while (7 + digits < n && ev[7 + digits] >= '0' && ev[7 + digits] <= '9')
				digits++;
		rs->argv[argc] = digits > 0 ? ev + 7 : "";
		rs->argvlen[argc++] = digits;
		redis_field(ev, n, "\"event_id\":", &rs->argv[argc], &rs->argvlen[argc]);
		argc++;
		redis_field(ev, n, "\"kind\":", &rs->argv[argc], &rs->argvlen[argc]);
		argc++;
		rs->argv[argc] = ev;
		rs->argvlen[argc++] = n;
	}
	return (long) argc;
}

static bool
redis_deliver(Sink *sink, Batch *batch, int attempt, char *error,
			  size_t error_size)
{
	RedisSink  *rs = sink->private_data;
	char		end_lsn[32];
	long		argc;
	redisReply *reply;

	(void) attempt;
	snprintf(end_lsn, sizeof(end_lsn), "%llu", (unsigned long long) batch->end);
	if ((argc = redis_build_args(rs, batch, end_lsn, error, error_size)) < 0)
		return false;
	if (rs->conn == NULL && !redis_connect(sink, rs, error, error_size))
		return false;
	rs->argv[0] = "EVALSHA";
	rs->argvlen[0] = 7;
	rs->argv[1] = rs->sha;
	rs->argvlen[1] = strlen(rs->sha);
	rs->argv[2] = "2";
	rs->argvlen[2] = 1;
	rs->argv[3] = sink->opts->redis_stream;
	rs->argvlen[3] = strlen(sink->opts->redis_stream);
	reply = redisCommandArgv(rs->conn, (int) argc, rs->argv, rs->argvlen);
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
		strncmp(reply->str, "NOSCRIPT", 8) == 0)
	{
		/* the script cache was emptied (a restart, SCRIPT FLUSH): send it */
		freeReplyObject(reply);
		log_msg("redis: NOSCRIPT (its script cache was emptied): sending the script with EVAL");
		rs->argv[0] = "EVAL";
		rs->argvlen[0] = 4;
		rs->argv[1] = redis_script;
		rs->argvlen[1] = strlen(redis_script);
		reply = redisCommandArgv(rs->conn, (int) argc, rs->argv, rs->argvlen);
	}
	if (reply == NULL)
	{
		snprintf(error, error_size, "redis: the batch's script failed: %s",
				 rs->conn->errstr[0] != '\0' ? rs->conn->errstr : "no reply");
		redis_disconnect(rs);
		return false;
	}
	if (reply->type != REDIS_REPLY_INTEGER)
	{
		if (reply->type == REDIS_REPLY_ERROR)
			snprintf(error, error_size, "redis: the batch's script failed: %.*s",
					 (int) (reply->len > 400 ? 400 : reply->len), reply->str);
		else
			snprintf(error, error_size, "redis: the batch's script answered a reply of type %d, not a number",
					 reply->type);
		freeReplyObject(reply);
		redis_disconnect(rs);
		return false;
	}
	if (reply->integer < 0)
		log_msg("redis: batch %lld (%lld events up to " LSN_FMT ") was already applied: skipped",
				(long long) batch->number, (long long) batch->events,
				LSN_ARGS(batch->end));
	else if (reply->integer != batch->events)
		log_msg("redis: batch %lld (%lld events up to " LSN_FMT ") was partly applied before: added its %lld later events, skipped the others",
				(long long) batch->number, (long long) batch->events,
				LSN_ARGS(batch->end), (long long) reply->integer);
	freeReplyObject(reply);
	return true;
}

static bool
redis_prepare(Sink *sink, char *error, size_t error_size)
{
	RedisSink  *rs = sink->private_data;

	return rs->conn != NULL || redis_connect(sink, rs, error, error_size);
}

static void
redis_shutdown(Sink *sink)
{
	RedisSink  *rs = sink->private_data;

	if (rs == NULL)
		return;
	redis_disconnect(rs);
	if (rs->password != NULL)
	{
		explicit_bzero(rs->password, strlen(rs->password));
		free(rs->password);
	}
	free(rs->text);
	free(rs->lsns);
	free(rs->argv);
	free(rs->argvlen);
	free(rs);
	sink->private_data = NULL;
}

/*
 * Read the password: the file's first line (without its line end).
 * Returns NULL with error set when it cannot be read or is empty.
 */
static char *
redis_read_password(const char *path, char *error, size_t error_size)
{
	FILE	   *f = fopen(path, "r");
	char		buf[1024];
	char	   *password;
	size_t		len;

	if (f == NULL)
	{
		snprintf(error, error_size, "could not open --redis-password-file \"%s\": %s",
				 path, strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0)
	{
		snprintf(error, error_size, "--redis-password-file \"%s\" holds no password on its first line",
				 path);
		return NULL;
	}
	password = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (password == NULL)
		snprintf(error, error_size, "out of memory");
	return password;
}

/*
 * Set up the Redis sink: parse the address, read the password.  Returns
 * false with the reason in error (a usage error: nothing is connected
 * yet; the delivery thread connects when it starts: redis_prepare).
 */
bool
sink_redis_init(Sink *sink, const ConsumeOptions *opts, char *error,
				size_t error_size)
{
	RedisSink  *rs = calloc(1, sizeof(RedisSink));

	memset(sink, 0, sizeof(*sink));
	sink->name = "redis";
	sink->deliver = redis_deliver;
	sink->prepare = redis_prepare;
	sink->shutdown = redis_shutdown;
	sink->opts = opts;
	if (rs == NULL)
	{
		snprintf(error, error_size, "out of memory");
		return false;
	}
	sink->private_data = rs;
	if (!redis_parse_address(opts->redis_address, rs->host, sizeof(rs->host),
							 &rs->port, error, error_size))
		return false;
	if (snprintf(rs->progress_key, sizeof(rs->progress_key), "%s:applied:%s",
				 opts->redis_stream, opts->slot) >= (int) sizeof(rs->progress_key))
	{
		snprintf(error, error_size, "--redis-stream is too long");
		return false;
	}
	if (opts->redis_password_file != NULL &&
		(rs->password = redis_read_password(opts->redis_password_file,
											error, error_size)) == NULL)
		return false;
	return true;
}
