/*-------------------------------------------------------------------------
 *
 * replication.c
 *	  drivetribe-consume's side of the replication protocol: connecting,
 *	  checking the slot against the state file, starting the stream,
 *	  confirming positions, and heartbeats on a second connection.
 *
 * A replication connection (replication=database) accepts only the simple
 * query protocol, so the few catalogue queries made before START_REPLICATION
 * quote their one value with PQescapeLiteral.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "consume.h"

/* microseconds since 2000-01-01, the protocol's clock */
static int64_t
protocol_now(void)
{
	return (int64_t) ((now_seconds() - 946684800.0) * 1000000.0);
}

static void
put_be64(char *out, uint64_t value)
{
	for (int i = 7; i >= 0; i--)
	{
		out[i] = (char) (value & 0xff);
		value >>= 8;
	}
}

/*
 * Connect; with replication, a logical replication connection to the
 * database.  Returns NULL after a message on failure.
 */
PGconn *
stream_connect(const char *conninfo, bool replication)
{
	/* the list ends at the first NULL key: without replication, before it */
	const char *keys[] = {"dbname", "fallback_application_name",
	replication ? "replication" : NULL, NULL};
	const char *values[] = {conninfo, "drivetribe-consume", "database", NULL};
	PGconn	   *conn;

	conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		log_msg("could not connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* run a query expecting rows; NULL after a message on failure */
static PGresult *
query_rows(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_msg("query failed: %s", PQerrorMessage(conn));
		PQclear(res);
		return NULL;
	}
	return res;
}

/*
 * The slot was invalidated by the server (wal_status lost): say what this
 * consumer had confirmed, what the slot had, and where the log stands, so
 * that an operator can find the events it will never get from this slot.
 */
static void
report_slot_lost(PGconn *conn, const ConsumeOptions *opts,
				 const ConsumeState *state, const char *slot_confirmed)
{
	PGresult   *res;
	char		keep[64] = "?";
	char		log_end[64] = "";
	char		delivered[160] = "";

	res = PQexec(conn, "SELECT setting || coalesce(unit, '') FROM pg_catalog.pg_settings WHERE name = 'max_slot_wal_keep_size'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(keep, sizeof(keep), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	/* the role may not read the log: then the message goes without it */
	res = PQexec(conn, "SELECT max(seq) FROM drivetribe.events");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		!PQgetisnull(res, 0, 0))
		snprintf(log_end, sizeof(log_end), "; the log now ends at seq %s",
				 PQgetvalue(res, 0, 0));
	PQclear(res);
	if (state->last_seq > 0)
		snprintf(delivered, sizeof(delivered),
				 "the last event it delivered was seq %lld, so the events after it (and any with a smaller seq that committed later) may be missing downstream",
				 (long long) state->last_seq);
	else
		snprintf(delivered, sizeof(delivered),
				 "it has no record of a delivered event's seq");
	log_msg("replication slot \"%s\" was invalidated by the server (wal_status lost: it needed WAL beyond max_slot_wal_keep_size = %s) and can never be read again: this consumer confirmed up to " LSN_FMT " (the slot up to %s), and the events that committed after that are lost to it; %s%s; find them in drivetribe.events (or with drivetribe.read_log()), then drop the slot, create it again and remove the state file \"%s\"",
			opts->slot, keep, LSN_ARGS(state->confirmed),
			slot_confirmed[0] ? slot_confirmed : "an unknown position",
			delivered, log_end, opts->state_path);
}

/* does a comma-separated list of libraries name the drivetribe plugin? */
static bool
plugin_listed(const char *list)
{
	char	   *copy = strdup(list);
	char	   *item;
	char	   *save;
	bool		found = false;

	for (item = strtok_r(copy, ", ", &save); item != NULL && !found;
		 item = strtok_r(NULL, ", ", &save))
	{
		const char *base = strrchr(item, '/');

		found = strcmp(base ? base + 1 : item, "drivetribe") == 0;
	}
	free(copy);
	return found;
}

/*
 * The checks made before streaming (see consume.h): the server is the one
 * the state file knows and has not gone back in time, it allows the
 * plugin, the slot exists (or is created with --create-slot on a first
 * start), is a drivetribe slot of this database, and is not ahead of the
 * state file.  Sets *start and fills in the state.  Returns DT_EXIT_OK, a
 * DT_EXIT_* reason to stop (after a message), or -1 when the connection
 * failed (retry).
 */
int
stream_check(PGconn *conn, const ConsumeOptions *opts, ConsumeState *state,
			 Lsn *start)
{
	PGresult   *res;
	char	   *literal;
	char		sql[512];
	Lsn			server_end;
	Lsn			slot_confirmed;
	char		dbname[256];

	/* the server */
	if ((res = query_rows(conn, "IDENTIFY_SYSTEM")) == NULL)
		return -1;
	if (PQntuples(res) != 1 || PQnfields(res) < 4 ||
		!parse_lsn(PQgetvalue(res, 0, 2), &server_end))
	{
		log_msg("unexpected IDENTIFY_SYSTEM answer");
		PQclear(res);
		return DT_EXIT_USAGE;
	}
	snprintf(dbname, sizeof(dbname), "%s", PQgetvalue(res, 0, 3));
	if (state->system_identifier[0] != '\0' &&
		strcmp(state->system_identifier, PQgetvalue(res, 0, 0)) != 0)
	{
		log_msg("the server's system identifier is %s, but the state file \"%s\" was written against %s: this is another server (a restored copy or a new cluster); refusing to guess what it has already delivered",
				PQgetvalue(res, 0, 0), opts->state_path, state->system_identifier);
		PQclear(res);
		return DT_EXIT_SERVER_BEHIND;
	}
	snprintf(state->system_identifier, sizeof(state->system_identifier), "%s",
			 PQgetvalue(res, 0, 0));
	PQclear(res);
	if (state->confirmed != 0 && server_end < state->confirmed)
	{
		log_msg("the server's WAL ends at " LSN_FMT ", before " LSN_FMT ", which this consumer already confirmed: the server was restored to an earlier point; refusing to continue",
				LSN_ARGS(server_end), LSN_ARGS(state->confirmed));
		return DT_EXIT_SERVER_BEHIND;
	}

	/* the plugin allowed (15.19+ has output_plugin_libraries) */
	res = query_rows(conn, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'");
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1 && !plugin_listed(PQgetvalue(res, 0, 0)))
	{
		log_msg("the server does not allow the drivetribe output plugin: output_plugin_libraries is '%s'; add drivetribe to it (keeping what it lists: ALTER SYSTEM SET output_plugin_libraries = '%s%sdrivetribe', then reload)",
				PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 0),
				PQgetvalue(res, 0, 0)[0] ? ", " : "");
		PQclear(res);
		return DT_EXIT_PLUGIN;
	}
	PQclear(res);

	/* the slot */
	literal = PQescapeLiteral(conn, opts->slot, strlen(opts->slot));
	if (literal == NULL)
		return -1;
	snprintf(sql, sizeof(sql),
			 "SELECT plugin, database, confirmed_flush_lsn, wal_status FROM pg_catalog.pg_replication_slots WHERE slot_name = %s",
			 literal);
	PQfreemem(literal);
	if ((res = query_rows(conn, sql)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		if (!opts->create_slot || state->confirmed != 0)
		{
			if (state->confirmed != 0)
				log_msg("replication slot \"%s\" does not exist any more: this consumer confirmed up to " LSN_FMT " and what came after is gone with the slot; create the slot again and remove the state file \"%s\" to start from the new slot's position",
						opts->slot, LSN_ARGS(state->confirmed), opts->state_path);
			else
				log_msg("replication slot \"%s\" does not exist: create it with SELECT pg_create_logical_replication_slot('%s', 'drivetribe') or pass --create-slot",
						opts->slot, opts->slot);
			return DT_EXIT_SLOT_MISSING;
		}
		snprintf(sql, sizeof(sql),
				 "CREATE_REPLICATION_SLOT \"%s\" LOGICAL drivetribe (SNAPSHOT 'nothing')",
				 opts->slot);
		if ((res = query_rows(conn, sql)) == NULL)
			return DT_EXIT_PLUGIN;
		if (!parse_lsn(PQgetvalue(res, 0, 1), &slot_confirmed))
		{
			log_msg("unexpected CREATE_REPLICATION_SLOT answer");
			PQclear(res);
			return DT_EXIT_USAGE;
		}
		log_msg("created replication slot \"%s\" at " LSN_FMT,
				opts->slot, LSN_ARGS(slot_confirmed));
	}
	else
	{
		if (strcmp(PQgetvalue(res, 0, 0), "drivetribe") != 0 ||
			strcmp(PQgetvalue(res, 0, 1), dbname) != 0)
		{
			log_msg("replication slot \"%s\" uses plugin \"%s\" in database \"%s\"; drivetribe-consume reads slots of plugin \"drivetribe\" in this database (\"%s\")",
					opts->slot, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), dbname);
			PQclear(res);
			return DT_EXIT_PLUGIN;
		}
		if (strcmp(PQgetvalue(res, 0, 3), "lost") == 0)
		{
			ConsumeState known = *state;

			if (known.confirmed == 0)	/* a first start: the slot's is all */
				(void) parse_lsn(PQgetvalue(res, 0, 2), &known.confirmed);
			report_slot_lost(conn, opts, &known, PQgetvalue(res, 0, 2));
			PQclear(res);
			return DT_EXIT_SLOT_LOST;
		}
		if (!parse_lsn(PQgetvalue(res, 0, 2), &slot_confirmed))
		{
			log_msg("replication slot \"%s\" has no confirmed position yet", opts->slot);
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);

	if (state->confirmed == 0)
		state->confirmed = slot_confirmed;	/* a first start */
	else if (slot_confirmed > state->confirmed)
	{
		log_msg("replication slot \"%s\" is at " LSN_FMT ", ahead of " LSN_FMT ", the last position this consumer confirmed: the slot was created again, advanced, or read by another consumer, and the events between may never reach this consumer; remove the state file \"%s\" to accept that and start from the slot's position",
				opts->slot, LSN_ARGS(slot_confirmed), LSN_ARGS(state->confirmed),
				opts->state_path);
		return DT_EXIT_SLOT_AHEAD;
	}
	else if (slot_confirmed < state->confirmed)
		log_msg("replication slot \"%s\" is at " LSN_FMT ", behind " LSN_FMT ", which this consumer confirmed (the server restarted before saving the slot); starting at " LSN_FMT,
				opts->slot, LSN_ARGS(slot_confirmed), LSN_ARGS(state->confirmed),
				LSN_ARGS(state->confirmed));
	*start = state->confirmed;
	snprintf(state->slot, sizeof(state->slot), "%s", opts->slot);
	return DT_EXIT_OK;
}

/*
 * START_REPLICATION at start with the plugin's options.  Returns
 * DT_EXIT_OK, DT_EXIT_PLUGIN when the server refuses the plugin,
 * DT_EXIT_USAGE when the plugin refuses an option (22023),
 * DT_EXIT_SLOT_LOST when the slot was invalidated since stream_check(), or
 * -1 (retry: the connection failed or the slot is in use elsewhere).
 */
int
stream_start(PGconn *conn, const ConsumeOptions *opts,
			 const ConsumeState *state, Lsn start)
{
	char		sql[1024];
	PGresult   *res;
	const char *sqlstate;

	/* slot name and kinds were checked to hold only [a-z0-9_,] */
	snprintf(sql, sizeof(sql),
			 "START_REPLICATION SLOT \"%s\" LOGICAL " LSN_FMT
			 " (\"include_commits\" 'on'%s%s%s%s)",
			 opts->slot, LSN_ARGS(start),
			 opts->include_commit_time ? ", \"include_commit_time\" 'on'" : "",
			 opts->kinds ? ", \"kinds\" '" : "",
			 opts->kinds ? opts->kinds : "",
			 opts->kinds ? "'" : "");
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_COPY_BOTH)
	{
		PQclear(res);
		return DT_EXIT_OK;
	}
	sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	log_msg("could not start streaming from slot \"%s\": %s", opts->slot,
			PQerrorMessage(conn));
	if (sqlstate != NULL && strcmp(sqlstate, "42501") == 0)
	{
		log_msg("the server refuses the drivetribe output plugin or this role may not replicate: list drivetribe in output_plugin_libraries (15.19+) and give the role REPLICATION");
		PQclear(res);
		return DT_EXIT_PLUGIN;
	}
	if (sqlstate != NULL && strcmp(sqlstate, "22023") == 0)
	{
		log_msg("the drivetribe plugin refuses this consumer's options (see above): check --kinds");
		PQclear(res);
		return DT_EXIT_USAGE;
	}
	/* invalidated between stream_check() and now? */
	if (sqlstate != NULL && strcmp(sqlstate, "55000") == 0)
	{
		char	   *literal = PQescapeLiteral(conn, opts->slot, strlen(opts->slot));
		PGresult   *slot;

		PQclear(res);
		if (literal == NULL)
			return -1;
		snprintf(sql, sizeof(sql),
				 "SELECT confirmed_flush_lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = %s AND wal_status = 'lost'",
				 literal);
		PQfreemem(literal);
		slot = PQexec(conn, sql);
		if (PQresultStatus(slot) == PGRES_TUPLES_OK && PQntuples(slot) == 1)
		{
			report_slot_lost(conn, opts, state, PQgetvalue(slot, 0, 0));
			PQclear(slot);
			return DT_EXIT_SLOT_LOST;
		}
		PQclear(slot);
		return -1;
	}
	PQclear(res);
	return -1;
}

/*
 * Confirm position (write = flush = apply) to the server.  Callers hold
 * the invariant: position is in the state file already.
 */
bool
stream_send_feedback(Stream *stream, Lsn position, bool reply)
{
	char		msg[1 + 8 + 8 + 8 + 8 + 1];

	msg[0] = 'r';
	put_be64(msg + 1, position);
	put_be64(msg + 9, position);
	put_be64(msg + 17, position);
	put_be64(msg + 25, (uint64_t) protocol_now());
	msg[33] = reply ? 1 : 0;
	if (PQputCopyData(stream->conn, msg, sizeof(msg)) <= 0 ||
		PQflush(stream->conn) != 0)
	{
		log_msg("could not send feedback: %s", PQerrorMessage(stream->conn));
		return false;
	}
	stream->confirmed = position;
	stream->last_feedback = now_seconds();
	return true;
}

/*
 * SELECT drivetribe.heartbeat() on an ordinary connection (kept in *conn),
 * so an idle slot advances; a failure is reported and retried next time.
 */
void
send_heartbeat(const ConsumeOptions *opts, PGconn **conn)
{
	PGresult   *res;

	if (*conn == NULL && (*conn = stream_connect(opts->conninfo, false)) == NULL)
		return;
	res = PQexec(*conn, "SELECT drivetribe.heartbeat()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_msg("heartbeat failed (grant EXECUTE on drivetribe.heartbeat() to this role): %s",
				PQerrorMessage(*conn));
		PQfinish(*conn);
		*conn = NULL;
	}
	else
		log_verbose(opts, "heartbeat sent at %s", PQgetvalue(res, 0, 0));
	PQclear(res);
}
