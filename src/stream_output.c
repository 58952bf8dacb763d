/*-------------------------------------------------------------------------
 *
 * stream_output.c
 *	  The drivetribe logical decoding output plugin.
 *
 *	  SELECT pg_create_logical_replication_slot('notify', 'drivetribe');
 *
 * For each committed transaction, in commit order, one JSON object per
 * row it inserted into drivetribe.events, in the order of the inserts
 * (which is seq order: the write API appends under its locks), one per
 * line of pg_recvlogical's output:
 *
 *	{"seq":71,"event_id":"...","kind":"article_bumped","occurred_at":"...",
 *	 "user_id":2,"tribe_id":10,"article_id":100,"target_id":1,
 *	 "recipient_id":1,"body":null,"context":{"user_name":"..."},
 *	 "lsn":"0/1A2B3C8"}
 *
 * Every id of the event is present (null where the kind has none);
 * recipient_id only for the kinds that notify someone (SPEC "Stream");
 * "lsn" is the commit record's LSN, the same for every event of a
 * transaction, so (lsn, seq) orders the stream and a consumer can resume
 * and dedupe without trusting the slot's position (event_id and seq are
 * unique).  Nothing is emitted for other tables, for aborted work
 * (logical decoding only replays committed transactions; a rolled-back
 * subtransaction's rows are not replayed either) or for a transaction
 * that inserted no event: no BEGIN/COMMIT frames at all.
 *
 * Options: kinds 'k1,k2,...' (only these kinds), include_xid and
 * include_commit_time (booleans: add "xid" and "commit_time"), and
 * include_commits (boolean): after the last object of each transaction
 * it emitted something for, {"commit":true,"events":N,"end_lsn":"...",
 * "lsn":"..."}, so a consumer knows a transaction is complete and can
 * confirm end_lsn (drivetribe-consume does; pg_recvlogical users need
 * not).  No
 * streaming or two-phase callbacks: a transaction is decoded once it
 * committed.
 *
 * Heartbeats: a transactional logical message with prefix
 * DT_HEARTBEAT_PREFIX (drivetribe.heartbeat(), run by the pg_cron job
 * drivetribe-heartbeat and by consumers while idle) becomes
 * {"heartbeat":true,"lsn":"..."}: a consumer skips it but may confirm
 * its LSN, so a slot keeps advancing while the event table is quiet.
 * While it skips other tables' changes the plugin reports progress every
 * DT_STREAM_PROGRESS_EVERY changes and at the commit of a transaction it
 * emitted nothing for, so the walsender can confirm past them.
 *
 * Memory: a change is formatted in a memory context reset after each
 * change, so a transaction of a million events or an event with a
 * 10,000-character body costs one event's worth of memory here (the
 * reorder buffer spills large transactions to disk by itself,
 * logical_decoding_work_mem).
 *
 * The event table is recognised by OID, looked up by name (schema
 * drivetribe) under the decoding snapshot on first use and forgotten when
 * its relcache entry is invalidated (a dropped and re-created extension).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "stream.h"

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/* the columns of drivetribe.events the plugin reads, by name */
typedef enum EventColumn
{
	EC_SEQ,
	EC_EVENT_ID,
	EC_KIND,
	EC_OCCURRED_AT,
	EC_USER_ID,
	EC_TRIBE_ID,
	EC_ARTICLE_ID,
	EC_COMMENT_ID,
	EC_TARGET_ID,
	EC_RECIPIENT_ID,
	EC_BODY,
	EC_CONTEXT,
	EC_NUM
} EventColumn;

static const char *const event_column_names[EC_NUM] = {
	"seq", "event_id", "kind", "occurred_at", "user_id", "tribe_id",
	"article_id", "comment_id", "target_id", "recipient_id", "body", "context"
};

/* the kinds that notify someone (SPEC "Stream") */
static bool
kind_notifies(DtEventKind k)
{
	return k == DT_ARTICLE_BUMPED || k == DT_COMMENT_POSTED ||
		k == DT_USER_FOLLOWED || k == DT_TRIBE_JOINED;
}

/* one slot's decoding state */
typedef struct StreamState
{
	MemoryContext change_cxt;	/* reset after every change */
	bool		filter_kinds;	/* the kinds option was given */
	bool		kinds[DT_NUM_KINDS];	/* with it: the kinds to emit */
	bool		include_xid;
	bool		include_commit_time;
	bool		include_commits;	/* a commit object ends each transaction */
	int			skipped;		/* changes skipped since the last progress report */
	bool		emitted;		/* the current transaction emitted something */
	int64		events;			/* events emitted for the current transaction */
} StreamState;

static void append_int64(StringInfo out, int64 value);
static void append_transaction(StringInfo out, StreamState *state,
							   ReorderBufferTXN *txn, XLogRecPtr lsn);

/*
 * The event table's OID and its columns' positions, per backend (a
 * walsender or a SQL decoding session decodes one database); reset by
 * any relcache invalidation.
 */
static Oid	events_relid = InvalidOid;
static int	events_attnum[EC_NUM];
static bool events_columns_mapped = false;
static bool invalidation_registered = false;

static void
forget_events_relid(Datum arg, Oid relid)
{
	/* InvalidOid: the whole relcache was reset */
	if (!OidIsValid(relid) || relid == events_relid)
		events_relid = InvalidOid;
}

/* is this the event log?  caller is in a decoding callback */
static bool
is_event_log(Relation relation)
{
	TupleDesc	desc;
	int			c;

	if (!OidIsValid(events_relid))
	{
		Oid			nsp = get_namespace_oid("drivetribe", true);

		if (!invalidation_registered)
		{
			CacheRegisterRelcacheCallback(forget_events_relid, (Datum) 0);
			invalidation_registered = true;
		}
		events_relid = OidIsValid(nsp) ? get_relname_relid("events", nsp) : InvalidOid;
		events_columns_mapped = false;
		if (!OidIsValid(events_relid))
			return false;
	}
	if (RelationGetRelid(relation) != events_relid)
		return false;
	if (events_columns_mapped)
		return true;
	/* map the columns by name, once */
	desc = RelationGetDescr(relation);
	for (c = 0; c < EC_NUM; c++)
	{
		int			i;

		events_attnum[c] = -1;
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped &&
				strcmp(NameStr(att->attname), event_column_names[c]) == 0)
				events_attnum[c] = i;
		}
		if (events_attnum[c] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("drivetribe.events has no column \"%s\"",
							event_column_names[c])));
	}
	events_columns_mapped = true;
	return true;
}

static bool
parse_bool_option(DefElem *elem)
{
	bool		value;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" of the drivetribe plugin must be a boolean, got \"%s\"",
						elem->defname, strVal(elem->arg))));
	return value;
}

static void
parse_kinds_option(StreamState *state, DefElem *elem)
{
	char	   *list;
	char	   *kind;
	char	   *save;

	if (elem->arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"kinds\" of the drivetribe plugin needs a value"),
				 errhint("Pass a comma-separated list of event kinds, such as 'article_bumped,comment_posted'.")));
	state->filter_kinds = true;
	list = pstrdup(strVal(elem->arg));
	for (kind = strtok_r(list, ", ", &save); kind != NULL;
		 kind = strtok_r(NULL, ", ", &save))
	{
		DtEventKind k = dt_kind_from_name(kind);

		if (k == DT_NUM_KINDS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is not an event kind", kind),
					 errdetail("The drivetribe plugin's option \"kinds\" lists event kinds such as article_bumped.")));
		else
			state->kinds[k] = true;
	}
	pfree(list);
}

static void
stream_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
			   bool is_init)
{
	StreamState *state = palloc0(sizeof(StreamState));
	ListCell   *option;

	state->change_cxt = AllocSetContextCreate(ctx->context,
											  "drivetribe stream change",
											  ALLOCSET_DEFAULT_SIZES);
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
	foreach(option, ctx->output_plugin_options)
	{
		DefElem    *elem = lfirst(option);

		if (strcmp(elem->defname, "kinds") == 0)
			parse_kinds_option(state, elem);
		else if (strcmp(elem->defname, "include_xid") == 0 ||
				 strcmp(elem->defname, "include-xid") == 0)
			state->include_xid = parse_bool_option(elem);
		else if (strcmp(elem->defname, "include_commit_time") == 0 ||
				 strcmp(elem->defname, "include-commit-time") == 0)
			state->include_commit_time = parse_bool_option(elem);
		else if (strcmp(elem->defname, "include_commits") == 0 ||
				 strcmp(elem->defname, "include-commits") == 0)
			state->include_commits = parse_bool_option(elem);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the drivetribe plugin has no option \"%s\"", elem->defname),
					 errhint("Its options are kinds, include_xid, include_commit_time and include_commits.")));
	}
	ctx->output_plugin_private = state;
}

static void
stream_shutdown(LogicalDecodingContext *ctx)
{
	StreamState *state = ctx->output_plugin_private;

	MemoryContextDelete(state->change_cxt);
}

static void
stream_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	StreamState *state = ctx->output_plugin_private;

	/* no frame: a transaction shows only through its events */
	state->emitted = false;
	state->events = 0;
}

static void
stream_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			  XLogRecPtr commit_lsn)
{
	StreamState *state = ctx->output_plugin_private;

	/* nothing sent for it: let the walsender confirm past it */
	if (!state->emitted)
		OutputPluginUpdateProgress(ctx, true);
	else if (state->include_commits)
	{
		/*
		 * The transaction's end, for a consumer that confirms whole
		 * transactions only: confirming end_lsn (this message's own LSN)
		 * means the server will not send this transaction again.
		 */
		OutputPluginPrepareWrite(ctx, true);
		appendStringInfoString(ctx->out, "{\"commit\":true,\"events\":");
		append_int64(ctx->out, state->events);
		appendStringInfo(ctx->out, ",\"end_lsn\":\"%X/%X\"",
						 LSN_FORMAT_ARGS(txn->end_lsn));
		append_transaction(ctx->out, state, txn, commit_lsn);
		appendStringInfoChar(ctx->out, '}');
		OutputPluginWrite(ctx, true);
	}
	state->skipped = 0;
}

/* an int8 in decimal, without a format string */
static void
append_int64(StringInfo out, int64 value)
{
	char		digits[MAXINT8LEN + 1];

	appendBinaryStringInfo(out, digits, pg_lltoa(value, digits));
}

/*
 * ,"name": (the key given with its quotes and colon), then null when the
 * column is; returns whether the caller must append the value
 */
static bool
append_key_or_null(StringInfo out, const char *key, bool *nulls, EventColumn c)
{
	appendStringInfoString(out, key);
	if (!nulls[events_attnum[c]])
		return true;
	appendStringInfoString(out, "null");
	return false;
}

/* ,"name":<int8 or null> */
static void
append_id(StringInfo out, const char *key, Datum *values, bool *nulls,
		  EventColumn c)
{
	if (append_key_or_null(out, key, nulls, c))
		append_int64(out, DatumGetInt64(values[events_attnum[c]]));
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
static void
append_uuid(StringInfo out, const pg_uuid_t *uuid)
{
	static const char hex[] = "0123456789abcdef";
	char		text[UUID_LEN * 2 + 6];
	int			n = 0;
	int			i;

	text[n++] = '"';
	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			text[n++] = '-';
		text[n++] = hex[uuid->data[i] >> 4];
		text[n++] = hex[uuid->data[i] & 0x0f];
	}
	text[n++] = '"';
	appendBinaryStringInfo(out, text, n);
}

/* ,"lsn":"X/X" and the optional fields of the transaction */
static void
append_transaction(StringInfo out, StreamState *state, ReorderBufferTXN *txn,
				   XLogRecPtr lsn)
{
	appendStringInfo(out, ",\"lsn\":\"%X/%X\"", LSN_FORMAT_ARGS(lsn));
	if (txn == NULL)			/* a non-transactional message */
		return;
	if (state->include_xid)
		appendStringInfo(out, ",\"xid\":%u", txn->xid);
	if (state->include_commit_time)
		appendStringInfo(out, ",\"commit_time\":\"%s\"",
						 timestamptz_to_str(txn->xact_time.commit_time));
}

static void
stream_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			  Relation relation, ReorderBufferChange *change)
{
	StreamState *state = ctx->output_plugin_private;
	MemoryContext old;
	HeapTuple	tuple;
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *values;
	bool	   *nulls;
	char	   *kind;
	DtEventKind k;
	StringInfo	out;
	char		buf[MAXDATELEN + 1];

	if (change->action != REORDER_BUFFER_CHANGE_INSERT ||
		change->data.tp.newtuple == NULL || !is_event_log(relation))
	{
		/* another table's change (or the log's impossible UPDATE/DELETE) */
		if (++state->skipped >= DT_STREAM_PROGRESS_EVERY)
		{
			OutputPluginUpdateProgress(ctx, false);
			state->skipped = 0;
		}
		return;
	}

	old = MemoryContextSwitchTo(state->change_cxt);
	tuple = &change->data.tp.newtuple->tuple;
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, values, nulls);
	kind = nulls[events_attnum[EC_KIND]] ? "" :
		TextDatumGetCString(values[events_attnum[EC_KIND]]);
	k = dt_kind_from_name(kind);
	if (state->filter_kinds && (k == DT_NUM_KINDS || !state->kinds[k]))
	{
		MemoryContextSwitchTo(old);
		MemoryContextReset(state->change_cxt);
		return;
	}

	OutputPluginPrepareWrite(ctx, true);
	out = ctx->out;
	append_id(out, "{\"seq\":", values, nulls, EC_SEQ);
	if (append_key_or_null(out, ",\"event_id\":", nulls, EC_EVENT_ID))
		append_uuid(out, DatumGetUUIDP(values[events_attnum[EC_EVENT_ID]]));
	appendStringInfoString(out, ",\"kind\":");
	escape_json(out, kind);
	if (append_key_or_null(out, ",\"occurred_at\":", nulls, EC_OCCURRED_AT))
	{
		JsonEncodeDateTime(buf, values[events_attnum[EC_OCCURRED_AT]],
						   TIMESTAMPTZOID, NULL);
		appendStringInfoChar(out, '"');
		appendStringInfoString(out, buf);
		appendStringInfoChar(out, '"');
	}
	append_id(out, ",\"user_id\":", values, nulls, EC_USER_ID);
	append_id(out, ",\"tribe_id\":", values, nulls, EC_TRIBE_ID);
	append_id(out, ",\"article_id\":", values, nulls, EC_ARTICLE_ID);
	append_id(out, ",\"comment_id\":", values, nulls, EC_COMMENT_ID);
	append_id(out, ",\"target_id\":", values, nulls, EC_TARGET_ID);
	if (kind_notifies(k))
		append_id(out, ",\"recipient_id\":", values, nulls, EC_RECIPIENT_ID);
	if (append_key_or_null(out, ",\"body\":", nulls, EC_BODY))
		escape_json(out, TextDatumGetCString(values[events_attnum[EC_BODY]]));
	if (append_key_or_null(out, ",\"context\":", nulls, EC_CONTEXT))
	{
		Jsonb	   *context = DatumGetJsonbP(values[events_attnum[EC_CONTEXT]]);

		JsonbToCString(out, &context->root, VARSIZE(context));
	}
	append_transaction(out, state, txn, txn->final_lsn);
	appendStringInfoChar(out, '}');
	OutputPluginWrite(ctx, true);
	state->emitted = true;
	state->events++;

	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_cxt);
}

static void
stream_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			   XLogRecPtr message_lsn, bool transactional, const char *prefix,
			   Size message_size, const char *message)
{
	StreamState *state = ctx->output_plugin_private;

	if (strcmp(prefix, DT_HEARTBEAT_PREFIX) != 0)
		return;
	OutputPluginPrepareWrite(ctx, true);
	appendStringInfoString(ctx->out, "{\"heartbeat\":true");
	append_transaction(ctx->out, state, txn,
					   transactional && txn != NULL ? txn->final_lsn : message_lsn);
	appendStringInfoChar(ctx->out, '}');
	OutputPluginWrite(ctx, true);
	state->emitted = true;
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	AssertVariableIsOfType(&_PG_output_plugin_init, LogicalOutputPluginInit);

	cb->startup_cb = stream_startup;
	cb->begin_cb = stream_begin;
	cb->change_cb = stream_change;
	cb->commit_cb = stream_commit;
	cb->message_cb = stream_message;
	cb->shutdown_cb = stream_shutdown;
	/* no stream_*, prepare or truncate callbacks: committed work only */
}
