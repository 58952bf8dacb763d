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
 *	{"seq":71,"event_id":"...","kind":"article_bumped","version":1,
 *	 "occurred_at":"...","user_id":2,"tribe_id":10,"article_id":100,
 *	 "comment_id":null,"target_id":1,"parent_comment_id":null,
 *	 "recipient_id":1,"body":null,"context":{"user_name":"..."},
 *	 "lsn":"0/1A2B3C8"}
 *
 * "version" is the shape the event was logged in (1 for every event
 * logged before 1.9, when the log had no version column); the fields are
 * those of the current shape, older ones read as event_shapes.c says
 * (parent_comment_id null for a v1 comment).
 * Every id of the event is present (null where the kind has none);
 * recipient_id only for the kinds that notify someone (docs/reference.md, "The stream");
 * "lsn" is the commit record's LSN, the same for every event of a
 * transaction, so (lsn, seq) orders the stream and a consumer can resume
 * and dedupe without trusting the slot's position (event_id and seq are
 * unique).  Nothing is emitted for other tables, for aborted work
 * (logical decoding only replays committed transactions; a rolled-back
 * subtransaction's rows are not replayed either) or for a transaction
 * that inserted no event: no BEGIN/COMMIT frames at all.
 *
 * Text: UTF-8 JSON in every database encoding.  A UTF8 database's text
 * goes as it is; in any other encoding the object is ASCII only, every
 * other character converted to Unicode and written as a \uXXXX escape
 * (see append_json_as_ascii()), so that the same JSON is valid on the
 * replication protocol and as the text pg_logical_slot_get_changes()
 * returns.
 *
 * Options: kinds 'k1,k2,...' (only these kinds; an empty or blank list or
 * element is an error), include_xid and
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
#include "catalog/pg_conversion.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"
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
	/* 1.9 and later; absent from the log's rows decoded before the update */
	EC_VERSION,
	EC_PARENT_COMMENT_ID,
	EC_NUM
} EventColumn;

/* the first column a log of 1.0 to 1.8 lacks */
#define EC_FIRST_OPTIONAL EC_VERSION

static const char *const event_column_names[EC_NUM] = {
	"seq", "event_id", "kind", "occurred_at", "user_id", "tribe_id",
	"article_id", "comment_id", "target_id", "recipient_id", "body", "context",
	"version", "parent_comment_id"
};

/* the kinds that notify someone (docs/reference.md, "The stream") */
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
	Oid			to_utf8;		/* conversion proc from the database encoding
								 * to UTF-8, once looked up */
	bool		to_utf8_looked_up;
	int			skipped;		/* changes skipped since the last progress report */
	bool		emitted;		/* the current transaction emitted something */
	int64		events;			/* events emitted for the current transaction */
} StreamState;

static void append_int64(StringInfo out, int64 value);
static void append_jsonb_compact(StringInfo out, Jsonb *jb);
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
		if (c < EC_FIRST_OPTIONAL && events_attnum[c] < 0)
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

/*
 * kinds: a comma-separated list of event kinds, white space around each
 * ignored.  An empty or blank list, or an empty or blank element (',',
 * 'article_bumped,'), is an error: 1.6 read them as "no kind" and emitted
 * nothing, so a consumer confirmed past every event.
 */
static void
parse_kinds_option(StreamState *state, DefElem *elem)
{
	const char *value;
	char	   *list;
	char	   *element;
	int			n = 0;

	if (elem->arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"kinds\" of the drivetribe plugin needs a value"),
				 errhint("Pass a comma-separated list of event kinds, such as 'article_bumped,comment_posted'.")));
	value = strVal(elem->arg);
	state->filter_kinds = true;
	if (value[strspn(value, ", \t\n\r\f\v")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for option \"kinds\" of the drivetribe plugin", value),
				 errdetail("The list names no event kind."),
				 errhint("Pass a comma-separated list of event kinds, such as 'article_bumped,comment_posted', or leave the option out to get every kind.")));
	list = pstrdup(value);
	element = list;
	for (;;)
	{
		char	   *comma = strchr(element, ',');
		char	   *end;
		DtEventKind k;

		if (comma != NULL)
			*comma = '\0';
		n++;
		/* trim ASCII white space on both sides */
		while (*element != '\0' && scanner_isspace(*element))
			element++;
		end = element + strlen(element);
		while (end > element && scanner_isspace(end[-1]))
			*--end = '\0';
		if (*element == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value \"%s\" for option \"kinds\" of the drivetribe plugin", value),
					 errdetail("Element %d of the list is empty.", n),
					 errhint("Pass a comma-separated list of event kinds, such as 'article_bumped,comment_posted', or leave the option out to get every kind.")));
		k = dt_kind_from_name(element);
		if (k == DT_NUM_KINDS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is not an event kind", element),
					 errdetail("The drivetribe plugin's option \"kinds\" lists event kinds such as article_bumped.")));
		else
			state->kinds[k] = true;
		if (comma == NULL)
			break;
		element = comma + 1;
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
 * A jsonb value as compact JSON, like the rest of the object:
 * {"title":"x","user_name":"y"}, not jsonb's text output {"title": "x", ...}
 * (1.7; up to 1.6 context had jsonb's spaces).  Keys in jsonb's order.
 */
static void
append_jsonb_compact(StringInfo out, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		comma = false;	/* a sibling came before in this container */

	/* a scalar (never written by the API, but the column allows it) */
	if (JB_ROOT_IS_SCALAR(jb))
	{
		JsonbToCString(out, &jb->root, VARSIZE(jb));
		return;
	}
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				if (comma)
					appendStringInfoChar(out, ',');
				appendStringInfoChar(out, tok == WJB_BEGIN_OBJECT ? '{' : '[');
				comma = false;
				break;
			case WJB_END_OBJECT:
				appendStringInfoChar(out, '}');
				comma = true;
				break;
			case WJB_END_ARRAY:
				appendStringInfoChar(out, ']');
				comma = true;
				break;
			case WJB_KEY:
				if (comma)
					appendStringInfoChar(out, ',');
				escape_json(out, pnstrdup(v.val.string.val, v.val.string.len));
				appendStringInfoChar(out, ':');
				/* the value (or a container's opening) follows: no comma */
				comma = false;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (comma)
					appendStringInfoChar(out, ',');
				switch (v.type)
				{
					case jbvNull:
						appendStringInfoString(out, "null");
						break;
					case jbvString:
						escape_json(out, pnstrdup(v.val.string.val, v.val.string.len));
						break;
					case jbvNumeric:
						appendStringInfoString(out,
											   DatumGetCString(DirectFunctionCall1(numeric_out,
																				   NumericGetDatum(v.val.numeric))));
						break;
					case jbvBool:
						appendStringInfoString(out, v.val.boolean ? "true" : "false");
						break;
					default:
						elog(ERROR, "unexpected jsonb value type %d", (int) v.type);
				}
				comma = true;
				break;
			default:
				break;
		}
	}
}

/* whether the row has a value in a column (a log of 1.8 lacks some) */
static bool
has_value(bool *nulls, EventColumn c)
{
	return events_attnum[c] >= 0 && !nulls[events_attnum[c]];
}

/* an id column's value, 0 for NULL or absent */
static int64
column_int64(Datum *values, bool *nulls, EventColumn c)
{
	return has_value(nulls, c) ? DatumGetInt64(values[events_attnum[c]]) : 0;
}

/*
 * ,"name": (the key given with its quotes and colon), then null when the
 * column is; returns whether the caller must append the value
 */
static bool
append_key_or_null(StringInfo out, const char *key, bool *nulls, EventColumn c)
{
	appendStringInfoString(out, key);
	if (has_value(nulls, c))
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

/*
 * Text in the stream (docs/reference.md, "The stream": UTF-8 JSON whatever the database's
 * encoding).  In a UTF8 database the plugin writes the database's bytes,
 * which are UTF-8.  In any other encoding it writes ASCII only: every
 * character above ASCII, converted to Unicode, becomes a \uXXXX escape (a
 * surrogate pair above U+FFFF).  ASCII is UTF-8 and is also valid text in
 * every server encoding, which matters because pg_logical_slot_get_changes()
 * returns the output as text of the database's encoding (and converts it to
 * the client's): raw UTF-8 bytes would reach a client of a WIN1252 database
 * as "RenÃ©", and are not even valid EUC_JP.  So pg_recvlogical, a
 * consumer on the replication protocol and every SQL client get the same
 * JSON, which any JSON parser decodes to the right characters.
 *
 * Characters above ASCII only ever occur inside JSON strings (keys and
 * syntax are ASCII), so escaping them is always valid JSON; escape_json()
 * already escaped quotes, backslashes and control characters, which are
 * ASCII in every server encoding (all of them keep ASCII bytes for ASCII).
 * A character with no Unicode equivalent (WIN1252's five undefined bytes,
 * stored through a WIN1252 client) becomes U+FFFD instead of an error: an
 * error here would stop the slot for good, every retry decoding the same
 * row.  SQL_ASCII gives bytes no meaning: what is valid UTF-8 is read as
 * UTF-8, any other byte becomes U+FFFD.
 */

/* \uXXXX */
static void
append_unicode_escape(StringInfo out, pg_wchar c)
{
	static const char hex[] = "0123456789abcdef";
	char		text[6];

	text[0] = '\\';
	text[1] = 'u';
	text[2] = hex[(c >> 12) & 0xf];
	text[3] = hex[(c >> 8) & 0xf];
	text[4] = hex[(c >> 4) & 0xf];
	text[5] = hex[c & 0xf];
	appendBinaryStringInfo(out, text, 6);
}

/* UTF-8 text, ASCII as it is and every other character escaped */
static void
append_utf8_as_ascii(StringInfo out, const unsigned char *s, int len)
{
	int			i = 0;

	while (i < len)
	{
		int			start = i;
		int			l;
		pg_wchar	c;

		while (i < len && !IS_HIGHBIT_SET(s[i]))
			i++;
		appendBinaryStringInfo(out, (const char *) s + start, i - start);
		if (i >= len)
			break;
		l = pg_utf_mblen(s + i);
		if (l > len - i || !pg_utf8_islegal(s + i, l))
		{
			c = 0xFFFD;			/* not UTF-8 (SQL_ASCII): one byte */
			l = 1;
		}
		else
			c = utf8_to_unicode(s + i);
		if (c > 0xFFFF)
		{
			c -= 0x10000;
			append_unicode_escape(out, 0xD800 + (c >> 10));
			append_unicode_escape(out, 0xDC00 + (c & 0x3FF));
		}
		else
			append_unicode_escape(out, c);
		i += l;
	}
}

/*
 * The conversion function from the database encoding to UTF-8, found in
 * pg_catalog (not through search_path), or InvalidOid if there is none.
 * Caller is in a decoding callback (catalog access allowed).
 */
static Oid
conversion_to_utf8(StreamState *state)
{
	if (!state->to_utf8_looked_up)
	{
		/* (despite its name, this returns the conversion's function) */
		state->to_utf8 = FindDefaultConversion(PG_CATALOG_NAMESPACE,
											   GetDatabaseEncoding(), PG_UTF8);
		if (!OidIsValid(state->to_utf8))
			ereport(WARNING,
					(errmsg("no default conversion from encoding \"%s\" to UTF8 in pg_catalog",
							GetDatabaseEncodingName()),
					 errdetail("The drivetribe stream writes every character above ASCII as U+FFFD.")));
		state->to_utf8_looked_up = true;
	}
	return state->to_utf8;
}

/*
 * Append line, JSON in a database encoding other than UTF8, to out as
 * ASCII-only JSON (see above).  Caller is in a decoding callback.
 */
static void
append_json_as_ascii(StreamState *state, StringInfo out, const char *line,
					 int len)
{
	int			encoding = GetDatabaseEncoding();
	int			size = len * MAX_CONVERSION_GROWTH + 1;
	unsigned char *utf8;
	Oid			proc;
	int			pos = 0;

	if (encoding == PG_SQL_ASCII)
	{
		append_utf8_as_ascii(out, (const unsigned char *) line, len);
		return;
	}
	proc = conversion_to_utf8(state);
	utf8 = palloc(size);
	while (pos < len)
	{
		if (OidIsValid(proc))
		{
			int			done;

			done = pg_do_encoding_conversion_buf(proc, encoding, PG_UTF8,
												 (unsigned char *) line + pos,
												 len - pos, utf8, size, true);
			if (done > 0)
			{
				append_utf8_as_ascii(out, utf8, strlen((char *) utf8));
				pos += done;
				continue;
			}
		}
		/* a character the conversion refused (or no conversion at all) */
		if (!IS_HIGHBIT_SET(line[pos]))
			appendStringInfoChar(out, line[pos++]);
		else
		{
			append_unicode_escape(out, 0xFFFD);
			pos += Min(pg_encoding_mblen_bounded(encoding, line + pos), len - pos);
		}
	}
	pfree(utf8);
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
	bool		as_ascii = GetDatabaseEncoding() != PG_UTF8;
	int			version;
	DtShapeFields shape;

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

	/* in another encoding than UTF8, formatted first, then made ASCII */
	if (as_ascii)
		out = makeStringInfo();
	else
	{
		OutputPluginPrepareWrite(ctx, true);
		out = ctx->out;
	}
	append_id(out, "{\"seq\":", values, nulls, EC_SEQ);
	if (append_key_or_null(out, ",\"event_id\":", nulls, EC_EVENT_ID))
		append_uuid(out, DatumGetUUIDP(values[events_attnum[EC_EVENT_ID]]));
	appendStringInfoString(out, ",\"kind\":");
	escape_json(out, kind);
	/* the shape it was logged in: 1 before the update to 1.9 */
	version = has_value(nulls, EC_VERSION) ?
		DatumGetInt16(values[events_attnum[EC_VERSION]]) : 1;
	appendStringInfo(out, ",\"version\":%d", version);
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
	/* read in the current shape (event_shapes.c) */
	shape.parent_comment_id = column_int64(values, nulls, EC_PARENT_COMMENT_ID);
	shape.recipient_id = column_int64(values, nulls, EC_RECIPIENT_ID);
	if (k != DT_NUM_KINDS)
		dt_shape_upcast(k, version, &shape);
	appendStringInfoString(out, ",\"parent_comment_id\":");
	if (shape.parent_comment_id != 0)
		append_int64(out, shape.parent_comment_id);
	else
		appendStringInfoString(out, "null");
	if (kind_notifies(k))
	{
		appendStringInfoString(out, ",\"recipient_id\":");
		if (shape.recipient_id != 0)
			append_int64(out, shape.recipient_id);
		else
			appendStringInfoString(out, "null");
	}
	if (append_key_or_null(out, ",\"body\":", nulls, EC_BODY))
		escape_json(out, TextDatumGetCString(values[events_attnum[EC_BODY]]));
	if (append_key_or_null(out, ",\"context\":", nulls, EC_CONTEXT))
	{
		append_jsonb_compact(out, DatumGetJsonbP(values[events_attnum[EC_CONTEXT]]));
	}
	append_transaction(out, state, txn, txn->final_lsn);
	appendStringInfoChar(out, '}');
	if (as_ascii)
	{
		OutputPluginPrepareWrite(ctx, true);
		append_json_as_ascii(state, ctx->out, out->data, out->len);
	}
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
