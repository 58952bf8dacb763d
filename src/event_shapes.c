/*-------------------------------------------------------------------------
 *
 * event_shapes.c
 *	  The shape of each kind's events, and the one place that reads an
 *	  event logged in an older shape as the current one.
 *
 * An event is never rewritten: the log keeps the shape each event was
 * appended in, and drivetribe.events.version records it (SQL 1.9; the rows
 * appended before it read as version 1, the column's default).  The
 * write API stamps the current version of the kind.  Every reader of the
 * log sees the current shape, because every one of them passes what it
 * read through this file before using it:
 *
 *	- the replay behind rebuild() and verify(), and the idempotency check of
 *	  a retried call: dt_event_from_row() calls dt_event_upcast();
 *	- the output plugin (stream_output.c): dt_shape_upcast() on the row's
 *	  fields, so a stream object has the current shape's fields;
 *	- read_log() and the batches handed to registered projections (SQL
 *	  readers): drivetribe_internal.event_as_current(), below.
 *
 * Those readers keep the logged version in what they pass on ("version"
 * in a stream object, the version column of a read_log() row or of a
 * handler's event): a consumer can tell an event that had no parent
 * comment field from one that had it and named none.
 *
 * The shapes, one row per change (docs/design.md, "Event versions"):
 *
 *	kind			 version  what changed					how an older one is read
 *	---------------  -------  -----------------------------	------------------------------
 *	every kind		 1		  the first shape (1.0 to 1.8)	-
 *	comment_posted	 2		  parent_comment_id: the		v1: a comment on the article
 *							  comment it replies to (NULL:	itself: parent_comment_id NULL;
 *							  on the article); recipient_id	recipient_id as logged (the
 *							  is then the parent's author	article's author)
 *	comment_deleted	 2		  parent_comment_id: the		v1: a comment with no parent
 *							  deleted comment's parent, so	(parent_comment_id NULL)
 *							  that its live reply count
 *							  drops
 *
 * To change a shape: add a row to shape_changes[] (and to the table above
 * and docs/design.md), make dt_shape_upcast() read the older versions, add
 * the field to DtShapeFields if it is new, and raise DT_EVENT_VERSION_MAX
 * when needed.  A field that needs a column of the log comes with the
 * update script that adds it (nullable or with a constant default: no
 * rewrite of the log; docs/design.md, "Updates that do not stop writers").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "drivetribe.h"

typedef struct DtShapeChange
{
	DtEventKind kind;
	int			version;		/* the version this change introduced */
	const char *change;			/* what the new version carries */
	const char *older_read_as;	/* how an event of the version before reads */
} DtShapeChange;

static const DtShapeChange shape_changes[] = {
	{DT_COMMENT_POSTED, 2,
		"parent_comment_id: the comment it replies to (NULL: a comment on the article); "
		"recipient_id is then the parent's author",
	"a comment on the article: parent_comment_id NULL, recipient_id as logged (the article's author)"},
	{DT_COMMENT_DELETED, 2,
		"parent_comment_id: the deleted comment's parent (NULL: none), whose live replies drop by one",
	"a comment with no parent: parent_comment_id NULL"},
};

/* dt_event_current_version: the version the write API stamps on a kind */
int
dt_event_current_version(DtEventKind kind)
{
	int			version = 1;

	for (int i = 0; i < lengthof(shape_changes); i++)
		if (shape_changes[i].kind == kind && shape_changes[i].version > version)
			version = shape_changes[i].version;
	return version;
}

/*
 * dt_shape_upcast: the fields of an event of `kind` logged in `version`,
 * as the current shape has them.  Fields a version did not have are read
 * as the table above says.  A version this library does not know (newer
 * than the current one, or below 1) is left alone: the event's check
 * (dt_event_problem) reports it.
 */
void
dt_shape_upcast(DtEventKind kind, int version, DtShapeFields *fields)
{
	switch (kind)
	{
		case DT_COMMENT_POSTED:
		case DT_COMMENT_DELETED:
			/* v1 had no parent: every comment was on the article itself */
			if (version == 1)
				fields->parent_comment_id = 0;
			break;
		default:
			break;
	}
}

/* dt_event_upcast: the event in the current shape; ev->version stays as logged */
void
dt_event_upcast(DtEvent *ev)
{
	DtShapeFields fields;

	fields.parent_comment_id = ev->parent_comment_id;
	fields.recipient_id = ev->recipient_id;
	dt_shape_upcast(ev->kind, ev->version, &fields);
	ev->parent_comment_id = fields.parent_comment_id;
	ev->recipient_id = fields.recipient_id;
}

/*
 * dt_events_versioned: whether this database's log has versions (SQL 1.9
 * and later: drivetribe.events.version, added in the same script as the
 * comments' parent and replies).  A syscache lookup or two; right at once
 * after an ALTER EXTENSION ... UPDATE that committed while the caller
 * waited for the log's lock.
 */
bool
dt_events_versioned(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);
	Oid			events;

	if (!OidIsValid(nsp))
		return false;
	events = get_relname_relid("events", nsp);
	return OidIsValid(events) && get_attnum(events, "version") != InvalidAttrNumber;
}

/*
 * drivetribe_internal.event_as_current(drivetribe.events) returns
 * drivetribe.events: the SQL readers' upcast (read_log(), projection
 * batches).  The row itself when its shape is current, which is every
 * event logged since the update that introduced the shape.
 */
PG_FUNCTION_INFO_V1(drivetribe_event_as_current);
Datum
drivetribe_event_as_current(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	TupleDesc	desc;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	int			kind_col = -1,
				version_col = -1,
				parent_col = -1,
				recipient_col = -1;
	DtEventKind kind;
	int			version;
	DtShapeFields fields;
	HeapTuple	result;

	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row),
								  HeapTupleHeaderGetTypMod(row));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		if (strcmp(name, "kind") == 0)
			kind_col = i;
		else if (strcmp(name, "version") == 0)
			version_col = i;
		else if (strcmp(name, "parent_comment_id") == 0)
			parent_col = i;
		else if (strcmp(name, "recipient_id") == 0)
			recipient_col = i;
	}
	if (kind_col < 0 || version_col < 0 || parent_col < 0 || recipient_col < 0)
	{
		ReleaseTupleDesc(desc);
		elog(ERROR, "drivetribe: event_as_current() needs a row of drivetribe.events");
	}

	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(&tuple, desc, values, nulls);

	kind = nulls[kind_col] ? DT_NUM_KINDS :
		dt_kind_from_name(TextDatumGetCString(values[kind_col]));
	version = nulls[version_col] ? 1 : DatumGetInt16(values[version_col]);
	if (kind == DT_NUM_KINDS || version == dt_event_current_version(kind))
	{
		ReleaseTupleDesc(desc);
		PG_RETURN_HEAPTUPLEHEADER(row);
	}

	fields.parent_comment_id = nulls[parent_col] ? 0 : DatumGetInt64(values[parent_col]);
	fields.recipient_id = nulls[recipient_col] ? 0 : DatumGetInt64(values[recipient_col]);
	dt_shape_upcast(kind, version, &fields);
	values[parent_col] = Int64GetDatum(fields.parent_comment_id);
	nulls[parent_col] = fields.parent_comment_id == 0;
	values[recipient_col] = Int64GetDatum(fields.recipient_id);
	nulls[recipient_col] = fields.recipient_id == 0;

	result = heap_form_tuple(desc, values, nulls);
	ReleaseTupleDesc(desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * drivetribe_internal.event_shapes() returns (kind, version, change,
 * older_read_as): the table above, for the view drivetribe.event_versions.
 * One row per kind at its current version, and one per change.
 */
PG_FUNCTION_INFO_V1(drivetribe_event_shapes);
Datum
drivetribe_event_shapes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < DT_NUM_KINDS; k++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, true};

		values[0] = CStringGetTextDatum(dt_kind_names[k]);
		values[1] = Int16GetDatum(1);
		values[2] = CStringGetTextDatum("the first shape (1.0)");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		for (int i = 0; i < lengthof(shape_changes); i++)
		{
			if (shape_changes[i].kind != (DtEventKind) k)
				continue;
			values[1] = Int16GetDatum(shape_changes[i].version);
			values[2] = CStringGetTextDatum(shape_changes[i].change);
			values[3] = CStringGetTextDatum(shape_changes[i].older_read_as);
			nulls[3] = false;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
