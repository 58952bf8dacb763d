/*-------------------------------------------------------------------------
 *
 * event.c
 *	  The event log: appending an event, reading one back, and telling
 *	  whether a retried call is the same call.
 *
 * drivetribe.events is append-only (a statement trigger rejects UPDATE,
 * DELETE and TRUNCATE, see drivetribe.c).  The columns are typed ids plus
 * a body and a jsonb context of display names, so that a consumer of the
 * stream needs no lookup and a replay reads plain columns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/uuid.h"

#include "drivetribe.h"

const char *const dt_kind_names[DT_NUM_KINDS] = {
	[DT_USER_REGISTERED] = "user_registered",
	[DT_USER_RENAMED] = "user_renamed",
	[DT_TRIBE_CREATED] = "tribe_created",
	[DT_TRIBE_RENAMED] = "tribe_renamed",
	[DT_TRIBE_JOINED] = "tribe_joined",
	[DT_TRIBE_LEFT] = "tribe_left",
	[DT_USER_FOLLOWED] = "user_followed",
	[DT_USER_UNFOLLOWED] = "user_unfollowed",
	[DT_ARTICLE_POSTED] = "article_posted",
	[DT_ARTICLE_EDITED] = "article_edited",
	[DT_ARTICLE_DELETED] = "article_deleted",
	[DT_ARTICLE_VIEWED] = "article_viewed",
	[DT_COMMENT_POSTED] = "comment_posted",
	[DT_COMMENT_DELETED] = "comment_deleted",
	[DT_ARTICLE_BUMPED] = "article_bumped",
	[DT_ARTICLE_UNBUMPED] = "article_unbumped",
};

/* Which fields of an event come from the caller's arguments, per kind */
#define ARG_USER	(1 << 0)
#define ARG_TRIBE	(1 << 1)
#define ARG_ARTICLE	(1 << 2)
#define ARG_COMMENT	(1 << 3)
#define ARG_TARGET	(1 << 4)
#define ARG_BODY	(1 << 5)
#define ARG_PARENT	(1 << 6)

static const int call_arguments[DT_NUM_KINDS] = {
	[DT_USER_REGISTERED] = ARG_USER | ARG_BODY,
	[DT_USER_RENAMED] = ARG_USER | ARG_BODY,
	[DT_TRIBE_CREATED] = ARG_TRIBE | ARG_USER | ARG_BODY,
	[DT_TRIBE_RENAMED] = ARG_TRIBE | ARG_BODY,
	[DT_TRIBE_JOINED] = ARG_USER | ARG_TRIBE,
	[DT_TRIBE_LEFT] = ARG_USER | ARG_TRIBE,
	[DT_USER_FOLLOWED] = ARG_USER | ARG_TARGET,
	[DT_USER_UNFOLLOWED] = ARG_USER | ARG_TARGET,
	[DT_ARTICLE_POSTED] = ARG_ARTICLE | ARG_USER | ARG_TRIBE | ARG_BODY,
	[DT_ARTICLE_EDITED] = ARG_ARTICLE | ARG_BODY,
	[DT_ARTICLE_DELETED] = ARG_ARTICLE,
	[DT_ARTICLE_VIEWED] = ARG_ARTICLE | ARG_USER,
	[DT_COMMENT_POSTED] = ARG_COMMENT | ARG_ARTICLE | ARG_USER | ARG_BODY | ARG_PARENT,
	[DT_COMMENT_DELETED] = ARG_COMMENT,
	[DT_ARTICLE_BUMPED] = ARG_ARTICLE | ARG_USER,
	[DT_ARTICLE_UNBUMPED] = ARG_ARTICLE | ARG_USER,
};

DtEventKind
dt_kind_from_name(const char *name)
{
	int			i;

	for (i = 0; i < DT_NUM_KINDS; i++)
		if (strcmp(name, dt_kind_names[i]) == 0)
			return (DtEventKind) i;
	return DT_NUM_KINDS;
}

/*
 * dt_event_init: an empty event of a kind, in the kind's current shape;
 * event_id is set by the caller
 */
void
dt_event_init(DtEvent *ev, DtEventKind kind)
{
	memset(ev, 0, sizeof(DtEvent));
	ev->kind = kind;
	ev->version = dt_event_current_version(kind);
}

/* dt_event_new_id: give the event a fresh random (version 4) event_id */
void
dt_event_new_id(DtEvent *ev)
{
	if (!pg_strong_random(ev->event_id.data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values for an event_id")));
	ev->event_id.data[6] = (ev->event_id.data[6] & 0x0f) | 0x40;
	ev->event_id.data[8] = (ev->event_id.data[8] & 0x3f) | 0x80;
}

char *
dt_uuid_to_cstring(const pg_uuid_t *uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out,
											   UUIDPGetDatum((pg_uuid_t *) uuid)));
}

/* dt_id_datum: an id as a bound parameter; 0 ("not part of it") is NULL */
Datum
dt_id_datum(int64 id, char *null)
{
	*null = (id == 0) ? 'n' : ' ';
	return Int64GetDatum(id);
}

static void
append_json_field(StringInfo buf, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

/*
 * dt_event_append: insert the event into the log; sets ev->seq and
 * ev->occurred_at.  Caller must be connected to SPI and must already hold
 * the locks that order this event among events on the same rows.
 */
int64
dt_event_append(DtEvent *ev)
{
	Datum		values[12];
	char		nulls[12];
	StringInfoData context;
	DtStatement stmt = dt_versioned_statement(DT_SQL_EVENT_INSERT);

	initStringInfo(&context);
	appendStringInfoChar(&context, '{');
	append_json_field(&context, "user_name", ev->user_name);
	append_json_field(&context, "target_name", ev->target_name);
	append_json_field(&context, "tribe_name", ev->tribe_name);
	append_json_field(&context, "title", ev->title);
	if (ev->kind == DT_ARTICLE_DELETED)
		appendStringInfo(&context, "%s\"bumps\":" INT64_FORMAT,
						 context.len > 1 ? "," : "", ev->bumps);
	appendStringInfoChar(&context, '}');

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(&ev->event_id);
	values[1] = CStringGetTextDatum(dt_kind_names[ev->kind]);
	values[2] = dt_id_datum(ev->user_id, &nulls[2]);
	values[3] = dt_id_datum(ev->tribe_id, &nulls[3]);
	values[4] = dt_id_datum(ev->article_id, &nulls[4]);
	values[5] = dt_id_datum(ev->comment_id, &nulls[5]);
	values[6] = dt_id_datum(ev->target_id, &nulls[6]);
	values[7] = dt_id_datum(ev->recipient_id, &nulls[7]);
	values[8] = ev->body ? CStringGetTextDatum(ev->body) : (Datum) 0;
	nulls[8] = ev->body ? ' ' : 'n';
	values[9] = CStringGetTextDatum(context.data);
	/* 1.9: the version of the kind's shape, and the parent comment */
	values[10] = Int16GetDatum((int16) ev->version);
	values[11] = dt_id_datum(ev->parent_comment_id, &nulls[11]);
	if (stmt == DT_SQL_EVENT_INSERT && ev->parent_comment_id != 0)
		elog(ERROR, "drivetribe: a reply cannot be logged before the update to 1.9");

	dt_exec(stmt, values, nulls, false, 0);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("drivetribe.event_seq is behind the log: its next value does not exceed every seq in drivetribe.events"),
				 errdetail("The sequence was moved back (setval); appending would reuse a seq or go behind events already appended."),
				 errhint("A superuser can move it past the log: SELECT pg_catalog.setval('drivetribe.event_seq', "
						 "(SELECT pg_catalog.max(e.seq) FROM ONLY drivetribe.events e));"),
				 dt_errentity(DT_ENTITY_LOG)));
	ev->seq = dt_result_int64(0, 1, NULL);
	ev->occurred_at = DatumGetTimestampTz(dt_result_int64(0, 2, NULL));
	return ev->seq;
}

/*
 * dt_event_from_row: fill an event from row `row` of SPI_tuptable, whose
 * columns are those of EVENT_COLUMNS (or EVENT_COLUMNS_1_9) in
 * statements.c, in the current shape (event_shapes.c).  Strings point into
 * memory of the current context.  Context names are not read back: only
 * the projection-relevant fields are.  Nothing is checked here: a field
 * the row lacks is 0 (ids), NULL (body) or -1 (bumps), and the caller
 * checks the event with dt_event_problem() before using it.
 */
void
dt_event_from_row(int row, DtEvent *ev)
{
	HeapTuple	tuple = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;
	char	   *kind;

	memset(ev, 0, sizeof(DtEvent));
	ev->seq = dt_result_int64(row, 1, NULL);
	d = SPI_getbinval(tuple, desc, 2, &isnull);
	memcpy(&ev->event_id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	kind = dt_result_text(row, 3);
	ev->kind = kind ? dt_kind_from_name(kind) : DT_NUM_KINDS;
	if (kind)
		pfree(kind);
	ev->occurred_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
	ev->user_id = dt_result_int64(row, 5, NULL);
	ev->tribe_id = dt_result_int64(row, 6, NULL);
	ev->article_id = dt_result_int64(row, 7, NULL);
	ev->comment_id = dt_result_int64(row, 8, NULL);
	ev->target_id = dt_result_int64(row, 9, NULL);
	ev->recipient_id = dt_result_int64(row, 10, NULL);
	ev->body = dt_result_text(row, 11);
	ev->bumps = dt_parse_count(dt_result_text(row, 12));
	/* 1.9 (EVENT_COLUMNS_1_9): the version and the parent comment */
	ev->version = 1;
	if (desc->natts >= 14)
	{
		d = SPI_getbinval(tuple, desc, 13, &isnull);
		ev->version = isnull ? 0 : DatumGetInt16(d);
		ev->parent_comment_id = dt_result_int64(row, 14, NULL);
	}
	dt_event_upcast(ev);
}

/*
 * dt_event_lookup: the logged event with this event_id, if any, under the
 * latest snapshot (a REPEATABLE READ caller finds an event that committed
 * after its snapshot).  Caller holds the advisory lock of the event_id
 * (idempotency.c), so a concurrent call with the same event_id has either
 * committed or not started.
 */
bool
dt_event_lookup(const pg_uuid_t *event_id, DtEvent *out)
{
	Datum		values[1];

	values[0] = UUIDPGetDatum((pg_uuid_t *) event_id);
	dt_exec_latest(dt_versioned_statement(DT_SQL_EVENT_BY_ID), values, NULL);
	if (SPI_processed == 0)
		return false;
	dt_event_from_row(0, out);
	return true;
}

static bool
same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * dt_event_same_call: whether two events record the same call: the same
 * kind and the same values of the fields the caller supplied.
 */
bool
dt_event_same_call(const DtEvent *a, const DtEvent *b)
{
	int			args;

	if (a->kind != b->kind)
		return false;
	args = call_arguments[a->kind];
	if ((args & ARG_USER) && a->user_id != b->user_id)
		return false;
	if ((args & ARG_TRIBE) && a->tribe_id != b->tribe_id)
		return false;
	if ((args & ARG_ARTICLE) && a->article_id != b->article_id)
		return false;
	if ((args & ARG_COMMENT) && a->comment_id != b->comment_id)
		return false;
	if ((args & ARG_TARGET) && a->target_id != b->target_id)
		return false;
	if ((args & ARG_BODY) && !same_text(a->body, b->body))
		return false;
	if ((args & ARG_PARENT) && a->parent_comment_id != b->parent_comment_id)
		return false;
	return true;
}
