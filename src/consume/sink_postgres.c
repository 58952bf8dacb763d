/*-------------------------------------------------------------------------
 *
 * sink_postgres.c
 *	  The PostgreSQL sink (--postgres CONNSTR): each batch applied to a
 *	  receiving database in one transaction, exactly once.
 *
 * The receiver (any PostgreSQL database: another database of the source's
 * server or another server) keeps what it has applied in a progress
 * table, one row per slot:
 *
 *	drivetribe_sink.applied (slot text PRIMARY KEY, end_lsn pg_lsn NOT NULL,
 *							 last_seq bigint, events bigint,
 *							 applied_at timestamptz)
 *
 * A batch is applied in ONE transaction of the receiver:
 *
 *	BEGIN
 *	SELECT end_lsn ... WHERE slot = $1 FOR UPDATE	(the row is inserted
 *													 first when missing)
 *	if end_lsn >= the batch's end: COMMIT, delivered (applied before)
 *	apply the batch's transactions whose commit lies at or after end_lsn
 *	UPDATE ... SET end_lsn = the batch's end, last_seq, events
 *	COMMIT
 *
 * and the batch counts as delivered only once COMMIT returned.  The
 * progress row changes in the same transaction as the data, so the
 * receiver holds a batch's events if and only if its row says so, whatever
 * crashes: a consumer killed between the receiver's COMMIT and its own
 * state file gets the batch again after its restart, finds its end at or
 * before end_lsn and only records it.  A batch made of different
 * transactions after a restart (batches are cut by size and timing) may
 * overlap what was applied: its events whose transaction committed before
 * end_lsn (each event's "lsn" is its commit's LSN, and a commit's LSN is at
 * or after the end of every earlier commit) are left out.  The row lock
 * serialises two consumers of the same slot name.  A failed COMMIT (the
 * connection broke) is no problem either: the next try asks the row.
 *
 * Guarantee: exactly once, per slot, by commit position; the dedupe key is
 * the progress row's end_lsn (and in table mode event_id too, the table's
 * primary key: INSERT ... ON CONFLICT (event_id) DO NOTHING as a second
 * guard).  It holds as long as the progress row belongs to this slot of
 * this source: a row left from another source server (or from before a
 * slot was created again on another server) must be deleted by hand.
 *
 * Two ways to apply (one bound jsonb parameter per batch: the batch's
 * events as one JSON array, set-based on the server, never a statement
 * per event):
 *
 *	--postgres-table=SCHEMA.TABLE	(default drivetribe_sink.events)
 *		INSERT INTO t (seq, event_id, kind, event)
 *		SELECT ... FROM jsonb_array_elements($1::jsonb)
 *		ON CONFLICT (event_id) DO NOTHING
 *	--postgres-function=SCHEMA.FUNC
 *		SELECT schema.func($1::jsonb)	(the receiver's own projection)
 *
 * Names from the options are split at their first dot and quoted with
 * PQescapeIdentifier; there is no other dynamic SQL.  The schema
 * drivetribe_sink, the progress table and (table mode) the events table
 * are created when missing, on each new connection (nothing is tried when
 * they exist, so a receiver role without CREATE is fine once they do).
 *
 * The connection is opened in the delivery thread on the first try and
 * kept across batches (application_name drivetribe-consume unless the
 * connection string says otherwise; connect_timeout 10 and TCP keepalives
 * unless it says otherwise).  Each session sets statement_timeout to
 * --postgres-timeout (default 60 s), so a stuck receiver (a lock, a
 * server that stopped answering) becomes a failed try, and
 * synchronous_commit to on when it was off (a COMMIT the receiver could
 * forget would break the guarantee).  Any error closes the connection and
 * fails the try with the server's message; the delivery thread retries
 * with backoff and the next try connects again.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

#define PROGRESS_TABLE "drivetribe_sink.applied"

typedef struct PgSink
{
	PGconn	   *conn;
	char	   *apply_sql;		/* the table's INSERT or the function's call */
	char	   *create_sql;		/* what is created when missing */
	char	   *target;			/* the table or function, quoted (messages) */
	char	   *array;			/* the batch as one JSON array */
	size_t		array_len;
	size_t		array_cap;
	int			connects;
} PgSink;

/* copy the connection's last error into error, without its newline */
static void
pg_error(PgSink *ps, const char *what, char *error, size_t error_size)
{
	const char *msg = ps->conn != NULL ? PQerrorMessage(ps->conn) : "out of memory";
	size_t		len;

	snprintf(error, error_size, "receiving database: %s: %s", what,
			 msg[0] != '\0' ? msg : "unknown error");
	len = strlen(error);
	while (len > 0 && (error[len - 1] == '\n' || error[len - 1] == ' '))
		error[--len] = '\0';
}

/* an error: close the connection (a retry opens a new one) */
static bool
pg_fail(PgSink *ps, const char *what, char *error, size_t error_size)
{
	pg_error(ps, what, error, error_size);
	if (ps->conn != NULL)
		PQfinish(ps->conn);
	ps->conn = NULL;
	return false;
}

/*
 * "schema.name" (or "name") quoted for this connection's encoding into a
 * malloc'd string; NULL on a failure (the connection's message says why)
 */
static char *
quote_qualified(PGconn *conn, const char *name)
{
	const char *dot = strchr(name, '.');
	char	   *first,
			   *second = NULL,
			   *out;
	size_t		size;

	first = PQescapeIdentifier(conn, name, dot != NULL ? (size_t) (dot - name) : strlen(name));
	if (first == NULL)
		return NULL;
	if (dot != NULL && (second = PQescapeIdentifier(conn, dot + 1, strlen(dot + 1))) == NULL)
	{
		PQfreemem(first);
		return NULL;
	}
	size = strlen(first) + (second != NULL ? strlen(second) + 1 : 0) + 1;
	out = malloc(size);
	if (out != NULL)
		snprintf(out, size, "%s%s%s", first, second != NULL ? "." : "",
				 second != NULL ? second : "");
	PQfreemem(first);
	if (second != NULL)
		PQfreemem(second);
	return out;
}

/* printf into a new malloc'd string (NULL when out of memory) */
static char *
format_sql(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static char *
format_sql(const char *fmt,...)
{
	va_list		args;
	int			len;
	char	   *out;

	va_start(args, fmt);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (len < 0 || (out = malloc((size_t) len + 1)) == NULL)
		return NULL;
	va_start(args, fmt);
	vsnprintf(out, (size_t) len + 1, fmt, args);
	va_end(args);
	return out;
}

/* build the statements that name the table or function (per connection) */
static bool
pg_build_sql(Sink *sink, PgSink *ps, char *error, size_t error_size)
{
	const ConsumeOptions *opts = sink->opts;
	bool		function = opts->postgres_function != NULL;
	char	   *target,
			   *schema = NULL;

	free(ps->apply_sql);
	free(ps->create_sql);
	free(ps->target);
	ps->apply_sql = ps->create_sql = ps->target = NULL;

	target = quote_qualified(ps->conn, function ? opts->postgres_function : opts->postgres_table);
	if (target == NULL)
		return pg_fail(ps, "could not quote the table or function name", error, error_size);
	ps->target = target;
	if (function)
	{
		ps->apply_sql = format_sql("SELECT %s($1::jsonb)", target);
		ps->create_sql = format_sql("CREATE SCHEMA IF NOT EXISTS drivetribe_sink; "
									"CREATE TABLE IF NOT EXISTS " PROGRESS_TABLE " ("
									"slot text PRIMARY KEY, end_lsn pg_lsn NOT NULL, "
									"last_seq bigint, events bigint, applied_at timestamptz)");
	}
	else
	{
		const char *dot = strchr(opts->postgres_table, '.');

		if (dot != NULL)
		{
			char	   *name = strndup(opts->postgres_table, (size_t) (dot - opts->postgres_table));

			schema = name != NULL ? PQescapeIdentifier(ps->conn, name, strlen(name)) : NULL;
			free(name);
			if (schema == NULL)
				return pg_fail(ps, "could not quote the schema name", error, error_size);
		}
		ps->apply_sql = format_sql("INSERT INTO %s (seq, event_id, kind, event) "
								   "SELECT (e ->> 'seq')::bigint, (e ->> 'event_id')::uuid, e ->> 'kind', e "
								   "FROM pg_catalog.jsonb_array_elements($1::jsonb) AS a(e) "
								   "ON CONFLICT (event_id) DO NOTHING", target);
		ps->create_sql = format_sql("CREATE SCHEMA IF NOT EXISTS drivetribe_sink; "
									"CREATE TABLE IF NOT EXISTS " PROGRESS_TABLE " ("
									"slot text PRIMARY KEY, end_lsn pg_lsn NOT NULL, "
									"last_seq bigint, events bigint, applied_at timestamptz); "
									"%s%s%s"
									"CREATE TABLE IF NOT EXISTS %s ("
									"seq bigint NOT NULL, event_id uuid PRIMARY KEY, kind text NOT NULL, "
									"event jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())",
									schema != NULL ? "CREATE SCHEMA IF NOT EXISTS " : "",
									schema != NULL ? schema : "",
									schema != NULL ? "; " : "",
									target);
		if (schema != NULL)
			PQfreemem(schema);
	}
	if (ps->apply_sql == NULL || ps->create_sql == NULL)
	{
		snprintf(error, error_size, "out of memory");
		PQfinish(ps->conn);
		ps->conn = NULL;
		return false;
	}
	return true;
}

/* COMMIT, and make sure it was one (not a ROLLBACK); false after pg_fail */
static bool
pg_commit(PgSink *ps, char *error, size_t error_size)
{
	PGresult   *res = PQexec(ps->conn, "COMMIT");
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK &&
		strcmp(PQcmdStatus(res), "COMMIT") == 0;

	PQclear(res);
	return ok || pg_fail(ps, "could not commit", error, error_size);
}

/* run a statement without parameters or rows; false after pg_fail */
static bool
pg_command(PgSink *ps, const char *sql, const char *what, char *error,
		   size_t error_size)
{
	PGresult   *res = PQexec(ps->conn, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	return ok || pg_fail(ps, what, error, error_size);
}

/*
 * Connect, set the session up and create what is missing.  False after
 * writing why into error (and closing what was opened).
 */
static bool
pg_connect(Sink *sink, PgSink *ps, char *error, size_t error_size)
{
	const ConsumeOptions *opts = sink->opts;
	/* defaults first: what the connection string (dbname, expanded) says wins */
	const char *const keywords[] = {
		"fallback_application_name", "connect_timeout", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "dbname", NULL
	};
	const char *const values[] = {
		"drivetribe-consume", "10", "30", "10", "3", opts->postgres, NULL
	};
	char		setup[256];
	PGresult   *res;
	bool		missing;

	ps->conn = PQconnectdbParams(keywords, values, 1);
	if (ps->conn == NULL || PQstatus(ps->conn) != CONNECTION_OK)
		return pg_fail(ps, "could not connect", error, error_size);
	snprintf(setup, sizeof(setup),
			 "SET statement_timeout = %d; SET client_min_messages = warning; "
			 "SELECT pg_catalog.set_config('synchronous_commit', 'on', false) "
			 "WHERE pg_catalog.current_setting('synchronous_commit') = 'off'",
			 opts->postgres_timeout_s * 1000);
	if (!pg_command(ps, setup, "could not set the session up", error, error_size) ||
		!pg_build_sql(sink, ps, error, error_size))
		return false;

	/* create the schema and tables when missing (table mode: its table too) */
	{
		const char *params[2] = {PROGRESS_TABLE, ps->target};

		res = PQexecParams(ps->conn,
						   opts->postgres_function != NULL ?
						   "SELECT pg_catalog.to_regclass($1) IS NULL" :
						   "SELECT pg_catalog.to_regclass($1) IS NULL OR pg_catalog.to_regclass($2) IS NULL",
						   opts->postgres_function != NULL ? 1 : 2, NULL, params,
						   NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		PQclear(res);
		return pg_fail(ps, "could not look for the progress table", error, error_size);
	}
	missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (missing)
	{
		if (!pg_command(ps, "BEGIN", "could not begin", error, error_size) ||
			!pg_command(ps, ps->create_sql, "could not create the progress table or the events table",
						error, error_size) ||
			!pg_command(ps, "COMMIT", "could not commit the creation of the tables", error, error_size))
			return false;
		log_msg("created what was missing of " PROGRESS_TABLE "%s%s in the receiving database",
				opts->postgres_function != NULL ? "" : " and ",
				opts->postgres_function != NULL ? "" : ps->target);
	}
	if (ps->connects++ > 0)
		log_msg("connected to the receiving database again (connection %d)", ps->connects);
	else
		log_verbose(opts, "connected to the receiving database");
	return true;
}

/* append to the JSON array being built; false when out of memory */
static bool
array_append(PgSink *ps, const char *data, size_t len)
{
	if (ps->array_len + len + 1 > ps->array_cap)
	{
		size_t		cap = ps->array_cap > 0 ? ps->array_cap : 65536;
		char	   *grown;

		while (cap < ps->array_len + len + 1)
			cap *= 2;
		if ((grown = realloc(ps->array, cap)) == NULL)
			return false;
		ps->array = grown;
		ps->array_cap = cap;
	}
	memcpy(ps->array + ps->array_len, data, len);
	ps->array_len += len;
	ps->array[ps->array_len] = '\0';
	return true;
}

/*
 * The commit LSN of an event line: its last "lsn" key (the plugin writes
 * it after the event's own fields, and only optional fields of the
 * transaction follow it).  0 when it has none.
 */
static Lsn
line_commit_lsn(const char *line, size_t len)
{
	static const char key[] = ",\"lsn\":\"";
	size_t		klen = sizeof(key) - 1;
	unsigned	hi,
				lo;

	for (size_t i = len >= klen ? len - klen + 1 : 0; i-- > 0;)
	{
		if (memcmp(line + i, key, klen) == 0)
		{
			if (sscanf(line + i + klen, "%X/%X", &hi, &lo) == 2)
				return ((Lsn) hi << 32) | lo;
			return 0;
		}
	}
	return 0;
}

/*
 * The batch's events whose transaction committed at or after applied, as
 * one JSON array in ps->array; their number in *count.  False on an I/O
 * error or out of memory (error says which).
 */
static bool
build_array(PgSink *ps, Batch *batch, Lsn applied, int64_t *count,
			char *error, size_t error_size)
{
	const char *line;
	ssize_t		len;

	*count = 0;
	ps->array_len = 0;
	if (!batch_rewind(batch) || !array_append(ps, "[", 1))
	{
		snprintf(error, error_size, "could not read the batch file, or out of memory");
		return false;
	}
	while ((len = batch_next_line(batch, &line)) > 0)
	{
		Lsn			lsn = line_commit_lsn(line, (size_t) len);

		/* committed before what the receiver has: applied before */
		if (lsn != 0 && lsn < applied)
			continue;
		if ((*count > 0 && !array_append(ps, ",", 1)) ||
			!array_append(ps, line, (size_t) len))
		{
			snprintf(error, error_size, "out of memory for a batch of %lld events",
					 (long long) batch->events);
			return false;
		}
		(*count)++;
	}
	if (len < 0 || !array_append(ps, "]", 1))
	{
		snprintf(error, error_size, "could not read the batch file, or out of memory");
		return false;
	}
	return true;
}

/*
 * Lock the slot's progress row (inserting it when missing) and read its
 * end_lsn into *applied.  Inside the batch's transaction.
 */
static bool
lock_progress(PgSink *ps, const char *slot, Lsn *applied, char *error,
			  size_t error_size)
{
	const char *params[1] = {slot};

	for (int round = 0; round < 2; round++)
	{
		PGresult   *res = PQexecParams(ps->conn,
									   "SELECT end_lsn FROM " PROGRESS_TABLE " WHERE slot = $1 FOR UPDATE",
									   1, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			PQclear(res);
			return pg_fail(ps, "could not lock the progress row", error, error_size);
		}
		if (PQntuples(res) == 1)
		{
			bool		ok = parse_lsn(PQgetvalue(res, 0, 0), applied);

			PQclear(res);
			if (!ok)
			{
				snprintf(error, error_size, "receiving database: the progress row's end_lsn is not an LSN");
				PQfinish(ps->conn);
				ps->conn = NULL;
			}
			return ok;
		}
		PQclear(res);
		if (round > 0)
			break;
		res = PQexecParams(ps->conn,
						   "INSERT INTO " PROGRESS_TABLE " (slot, end_lsn, last_seq, events, applied_at) "
						   "VALUES ($1, '0/0', 0, 0, now()) ON CONFLICT (slot) DO NOTHING",
						   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			PQclear(res);
			return pg_fail(ps, "could not insert the progress row", error, error_size);
		}
		PQclear(res);
	}
	snprintf(error, error_size, "receiving database: the progress row of slot \"%s\" vanished", slot);
	PQfinish(ps->conn);
	ps->conn = NULL;
	return false;
}

/* apply the batch in one transaction of the receiver (see the banner) */
static bool
pg_deliver(Sink *sink, Batch *batch, int attempt, char *error,
		   size_t error_size)
{
	const ConsumeOptions *opts = sink->opts;
	PgSink	   *ps = sink->private_data;
	Lsn			applied = 0;
	int64_t		count = 0;
	char		end[32],
				last_seq[32],
				events[32];
	const char *params[4];
	PGresult   *res;

	(void) attempt;
	error[0] = '\0';
	if (ps->conn == NULL && !pg_connect(sink, ps, error, error_size))
		return false;
	if (!pg_command(ps, "BEGIN", "could not begin", error, error_size) ||
		!lock_progress(ps, opts->slot, &applied, error, error_size))
		return false;

	if (applied >= batch->end)
	{
		/* applied before: the consumer stopped before recording it */
		if (!pg_commit(ps, error, error_size))
			return false;
		log_msg("batch %lld (%lld events up to " LSN_FMT ") was applied before: the receiver's progress is at " LSN_FMT "; not applied again",
				(long long) batch->number, (long long) batch->events,
				LSN_ARGS(batch->end), LSN_ARGS(applied));
		return true;
	}

	if (!build_array(ps, batch, applied, &count, error, error_size))
	{
		PQfinish(ps->conn);
		ps->conn = NULL;
		return false;
	}
	if (count < batch->events)
		log_msg("batch %lld: %lld of its %lld events were applied before (the receiver's progress is at " LSN_FMT "): applying the other %lld",
				(long long) batch->number, (long long) (batch->events - count),
				(long long) batch->events, LSN_ARGS(applied), (long long) count);
	if (count > 0)
	{
		params[0] = ps->array;
		res = PQexecParams(ps->conn, ps->apply_sql, 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			char		what[200];

			PQclear(res);
			snprintf(what, sizeof(what), "could not apply batch %lld to %s",
					 (long long) batch->number, ps->target);
			return pg_fail(ps, what, error, error_size);
		}
		PQclear(res);
	}

	snprintf(end, sizeof(end), LSN_FMT, LSN_ARGS(batch->end));
	snprintf(last_seq, sizeof(last_seq), "%lld", (long long) batch->max_seq);
	snprintf(events, sizeof(events), "%lld", (long long) count);
	params[0] = opts->slot;
	params[1] = end;
	params[2] = last_seq;
	params[3] = events;
	res = PQexecParams(ps->conn,
					   "UPDATE " PROGRESS_TABLE " SET end_lsn = $2::pg_lsn, "
					   "last_seq = greatest(last_seq, $3::bigint), "
					   "events = coalesce(events, 0) + $4::bigint, applied_at = now() "
					   "WHERE slot = $1",
					   4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0)
	{
		PQclear(res);
		return pg_fail(ps, "could not update the progress row", error, error_size);
	}
	PQclear(res);
	/* a COMMIT whose answer is lost is found out by the next try's lock */
	return pg_commit(ps, error, error_size);
}

/* the consumer is ending: close the connection */
static void
pg_shutdown(Sink *sink)
{
	PgSink	   *ps = sink->private_data;

	if (ps->conn != NULL)
		PQfinish(ps->conn);
	ps->conn = NULL;
	free(ps->apply_sql);
	free(ps->create_sql);
	free(ps->target);
	free(ps->array);
	memset(ps, 0, sizeof(*ps));
}

static bool
pg_prepare(Sink *sink, char *error, size_t error_size)
{
	PgSink	   *ps = sink->private_data;

	return ps->conn != NULL || pg_connect(sink, ps, error, error_size);
}

/* the PostgreSQL sink; it connects when the delivery thread starts */
void
sink_postgres_init(Sink *sink, const ConsumeOptions *opts)
{
	static PgSink state;

	memset(sink, 0, sizeof(*sink));
	memset(&state, 0, sizeof(state));
	sink->name = "postgres";
	sink->deliver = pg_deliver;
	sink->prepare = pg_prepare;
	sink->shutdown = pg_shutdown;
	sink->opts = opts;
	sink->private_data = &state;
}
