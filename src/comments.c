/*-------------------------------------------------------------------------
 *
 * comments.c
 *	  Comment pages that never skip a comment that commits late (1.7):
 *	  drivetribe.article_comments(), and the lock post_comment takes so
 *	  that it can be exact.
 *
 * Up to 1.6 a page was ordered by (posted_at, comment_id), posted_at
 * being the writer's transaction start.  A comment whose transaction
 * started first and committed last landed behind a reader's cursor and
 * never appeared on "next page".
 *
 * Positions.  Since 1.7 every comment has a position, comments.pos: the
 * seq of its comment_posted event, so a replay of the log gives it back
 * (rebuild(), verify()).  Pages are in pos order (oldest first = log
 * order) and after_comment_id resumes after that comment's pos.
 *
 * Writers (post_comment only).  From just before the event's seq is
 * drawn (the append) until the comment's row is in the table and its
 * index, the writer holds the article's comment order lock
 * (DT_LOCK_COMMENT_ORDER on the article id, exclusive), then releases it
 * at once (dt_comment_order_begin/end; the live sink releases it).  So
 * per article, positions are drawn and index entries made in the same
 * order.  The lock covers two inserts and nothing else: no user code, no
 * COMMIT or PREPARE, no lock wait (the inserts' unique checks cannot wait
 * for another transaction: the event_id's lock and the comment id's lock
 * DT_LOCK_COMMENT_ID, both held to commit, were taken before it).
 * Commenters of one hot article queue only for those two inserts, never
 * for each other's commits, and a prepared transaction never holds it.
 * It relies on event_seq handing out increasing values (CACHE 1, the
 * default: with a per-backend cache two backends' values would not
 * follow the order they were drawn in).
 *
 * Readers.  article_comments() scans the index (article_id, pos) from
 * the cursor with SnapshotAny, in pos order, and classifies each row
 * version against the caller's snapshot:
 *
 *	- visible: on the page (unless deleted);
 *	- a later version of a row (an UPDATE's: HEAP_UPDATED) that is not
 *	  visible: passed over, the row's older version decides;
 *	- an insert the snapshot does not see whose transaction aborted (or
 *	  was lost in a crash), or which the snapshot sees as deleted or
 *	  replaced: passed over;
 *	- any other insert the snapshot does not see (in progress, prepared,
 *	  or committed after the snapshot was taken; or the caller's own,
 *	  from a later command): the page stops there.  Everything after it
 *	  waits for it; the next call shows it.  Nothing ever waits.
 *
 * Why this never skips: if comment Y has a smaller pos than a comment X
 * the snapshot sees, Y's writer held the order lock before X's (seq
 * values increase), so Y's index entry was made before X's pos was drawn,
 * hence before X committed and before the snapshot was taken; the scan
 * meets it.  Then either Y is on this page, or it is gone for good
 * (aborted, deleted), or the page stopped at Y and X is not on it.  A
 * page that shows X therefore has every earlier comment on it or on an
 * earlier page, and "after X" can only miss comments after X.
 *
 * The price: an open or prepared transaction's comment holds back the
 * later comments of that one article on pages (they are counted in
 * article_view.comments at once) until it commits or rolls back.
 * docs/design.md says how to find such a transaction.
 *
 * A database still at SQL 1.6 (no comments.pos, found by the index's
 * absence) keeps 1.6's behaviour: its article_comments() is 1.6's SQL
 * function, and post_comment takes no order lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "comments.h"
#include "drivetribe.h"
#include "locks.h"

/* page_size bounds, as feed()'s */
#define COMMENTS_MAX_PAGE_SIZE 1000

/* ---------- writers ---------- */

/*
 * dt_comments_positioned: whether this database's comments have positions
 * (SQL 1.7 and later), found by the index article_comments() reads.
 */
bool
dt_comments_positioned(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);

	return OidIsValid(nsp) &&
		OidIsValid(get_relname_relid(DT_COMMENTS_POS_INDEX, nsp));
}

/*
 * dt_comment_order_begin: called by post_comment right before it appends
 * its event.  Takes comments' ROW EXCLUSIVE lock (the insert's, taken
 * early: if an ALTER EXTENSION UPDATE that adds positions commits while
 * this waits for it, the catalog lookup after it sees them), finds out
 * whether comments have positions, and if so takes the article's comment
 * order lock, exclusive.  Caller holds the log's ROW EXCLUSIVE lock and
 * every lock of its call that is held to commit (see "Lock order"); it
 * must call dt_comment_order_end() as soon as the comment's row is
 * inserted (the live sink does), and wait for nothing in between.
 */
void
dt_comment_order_begin(int64 article_id, DtCommentOrder *order)
{
	Oid			nsp = get_namespace_oid("drivetribe", false);
	Oid			comments = get_relname_relid("comments", nsp);

	order->held = false;
	if (OidIsValid(comments))
		LockRelationOid(comments, RowExclusiveLock);
	order->positioned = dt_comments_positioned();
	if (!order->positioned)
		return;
	dt_lock_tag(&order->tag, MyDatabaseId, DT_LOCK_COMMENT_ORDER,
				dt_lock_key_ids(article_id, 0));
	(void) LockAcquire(&order->tag, ExclusiveLock, false, false);
	order->held = true;
}

/*
 * dt_comment_order_end: release the article's comment order lock, if held,
 * before the end of the transaction (a transaction-scoped lock may be
 * released early; an error before this releases it with the transaction
 * or subtransaction).
 */
void
dt_comment_order_end(DtCommentOrder *order)
{
	if (!order->held)
		return;
	(void) LockRelease(&order->tag, ExclusiveLock, false);
	order->held = false;
}

/* ---------- readers ---------- */

/* what a row version found in the index means for a page */
typedef enum RowState
{
	ROW_VISIBLE,				/* the snapshot sees it */
	ROW_PASSED,					/* not on the page, and nothing to wait for */
	ROW_PENDING					/* an insert the snapshot does not see yet */
} RowState;

/*
 * row_state: classify one row version of comments against the snapshot.
 * Caller holds a share lock on the tuple's buffer.
 */
static RowState
row_state(HeapTuple tuple, Snapshot snapshot, Buffer buffer)
{
	HeapTupleHeader h = tuple->t_data;
	TransactionId xmin;

	if (HeapTupleSatisfiesVisibility(tuple, snapshot, buffer))
		return ROW_VISIBLE;
	/* an UPDATE's new version: the row's insert is an older version's */
	if (h->t_infomask & HEAP_UPDATED)
		return ROW_PASSED;
	/* the insert aborted */
	if (HeapTupleHeaderXminInvalid(h))
		return ROW_PASSED;
	/* inserted long ago: deleted or replaced as the snapshot sees it */
	if (HeapTupleHeaderXminFrozen(h))
		return ROW_PASSED;
	xmin = HeapTupleHeaderGetRawXmin(h);
	if (!TransactionIdIsNormal(xmin))
		return ROW_PASSED;
	/* the caller's own: from a later command, or deleted since */
	if (TransactionIdIsCurrentTransactionId(xmin))
		return HeapTupleHeaderGetCmin(h) >= snapshot->curcid ?
			ROW_PENDING : ROW_PASSED;
	/* ended before the snapshot: committed (then deleted since) or aborted */
	if (!XidInMVCCSnapshot(xmin, snapshot))
		return ROW_PASSED;
	/* running at the snapshot, or begun later: stop unless it aborted */
	if (TransactionIdIsInProgress(xmin) || TransactionIdDidCommit(xmin))
		return ROW_PENDING;
	return ROW_PASSED;
}

/* the attribute number of a column of comments, checking its type */
static AttrNumber
comments_column(Relation heap, const char *name, Oid type)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(heap), name);

	if (attnum == InvalidAttrNumber || get_atttype(RelationGetRelid(heap), attnum) != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("drivetribe.comments has no column \"%s\" of type %s",
						name, format_type_be(type)),
				 errhint("ALTER EXTENSION drivetribe UPDATE, or reinstall the extension.")));
	return attnum;
}

/*
 * page_ids: the comment ids of one page, scanning comments_article_pos_idx
 * from after `after_pos` (when has_cursor) as the file banner says.
 * Returns how many were stored in ids (at most page_size).
 */
static int
page_ids(int64 article_id, bool has_cursor, int64 after_pos, int page_size,
		 Datum *ids)
{
	Oid			nsp = get_namespace_oid("drivetribe", false);
	Oid			heap_oid = get_relname_relid("comments", nsp);
	Oid			index_oid = get_relname_relid(DT_COMMENTS_POS_INDEX, nsp);
	Snapshot	snapshot = GetActiveSnapshot();
	Relation	heap;
	Relation	index;
	AttrNumber	att_comment,
				att_article,
				att_pos,
				att_deleted;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int			n = 0;

	if (!OidIsValid(heap_oid) || !OidIsValid(index_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("drivetribe.%s does not exist", DT_COMMENTS_POS_INDEX),
				 errhint("ALTER EXTENSION drivetribe UPDATE, or reinstall the extension.")));
	heap = table_open(heap_oid, AccessShareLock);
	index = index_open(index_oid, AccessShareLock);

	/* a table or index altered by hand: refuse rather than misread it */
	att_comment = comments_column(heap, "comment_id", INT8OID);
	att_article = comments_column(heap, "article_id", INT8OID);
	att_pos = comments_column(heap, "pos", INT8OID);
	att_deleted = comments_column(heap, "deleted", BOOLOID);
	if (heap->rd_rel->relam != HEAP_TABLE_AM_OID ||
		index->rd_rel->relam != BTREE_AM_OID ||
		index->rd_index->indrelid != heap_oid ||
		index->rd_index->indnkeyatts < 2 ||
		index->rd_index->indkey.values[0] != att_article ||
		index->rd_index->indkey.values[1] != att_pos ||
		index->rd_opcintype[0] != INT8OID || index->rd_opcintype[1] != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("drivetribe.%s is not a btree index on drivetribe.comments (article_id, pos)",
						DT_COMMENTS_POS_INDEX),
				 errhint("ALTER EXTENSION drivetribe UPDATE, or reinstall the extension.")));

	/*
	 * The scan reads with SnapshotAny, which takes no predicate lock: a
	 * SERIALIZABLE caller gets one on the whole table instead.
	 */
	if (IsolationIsSerializable())
		PredicateLockRelation(heap, snapshot);

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(article_id));
	ScanKeyInit(&keys[1], 2, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after_pos));
	scan = index_beginscan(heap, index, SnapshotAny, has_cursor ? 2 : 1, 0);
	index_rescan(scan, keys, has_cursor ? 2 : 1, NULL, 0);
	slot = table_slot_create(heap, NULL);
	if (!TTS_IS_BUFFERTUPLE(slot))
		elog(ERROR, "drivetribe: unexpected slot type for drivetribe.comments");

	while (n < page_size && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
		HeapTuple	tuple = bslot->base.tuple;
		Buffer		buffer = bslot->buffer;
		TupleDesc	desc = RelationGetDescr(heap);
		RowState	state;
		bool		live = false;
		int64		id = 0;

		CHECK_FOR_INTERRUPTS();
		if (tuple == NULL || !BufferIsValid(buffer))
			continue;
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		state = row_state(tuple, snapshot, buffer);
		if (state == ROW_VISIBLE)
		{
			bool		null_article,
						null_pos,
						null_deleted,
						null_id;
			Datum		article = heap_getattr(tuple, att_article, desc, &null_article);
			Datum		pos = heap_getattr(tuple, att_pos, desc, &null_pos);
			Datum		deleted = heap_getattr(tuple, att_deleted, desc, &null_deleted);
			Datum		comment = heap_getattr(tuple, att_comment, desc, &null_id);

			/* the row the index entry promised, and live */
			live = !null_article && !null_pos && !null_deleted && !null_id &&
				DatumGetInt64(article) == article_id &&
				(!has_cursor || DatumGetInt64(pos) > after_pos) &&
				!DatumGetBool(deleted);
			id = live ? DatumGetInt64(comment) : 0;
		}
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		if (state == ROW_PENDING)
			break;
		if (live)
			ids[n++] = Int64GetDatum(id);
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, NoLock);
	table_close(heap, NoLock);
	return n;
}

/*
 * drivetribe.article_comments(article_id, page_size, after_comment_id):
 * a page of an article's live comments in pos order, after the cursor
 * comment's pos.  22004 for a NULL article_id or page_size, 22023 for a
 * page_size outside 1..1000 or a cursor comment of another article, 23503
 * for an unknown article or cursor comment; a deleted article has no
 * rows.  Reads under the caller's snapshot; SECURITY DEFINER (a reader
 * has no privilege on the tables).
 */
PG_FUNCTION_INFO_V1(drivetribe_article_comments);
Datum
drivetribe_article_comments(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		article_id;
	int32		page_size;
	bool		has_cursor = !PG_ARGISNULL(2);
	int64		after_pos = 0;
	Datum		v[1];
	Datum	   *ids;
	int			n;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("article_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("page_size must not be null")));
	article_id = PG_GETARG_INT64(0);
	page_size = PG_GETARG_INT32(1);
	if (page_size < 1 || page_size > COMMENTS_MAX_PAGE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must be between 1 and %d, got %d",
						COMMENTS_MAX_PAGE_SIZE, page_size)));

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");

	v[0] = Int64GetDatum(article_id);
	dt_exec(DT_SQL_ARTICLE_GET, v, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("article " INT64_FORMAT " does not exist", article_id),
				 dt_errentity(DT_ENTITY_ARTICLE)));
	if (dt_result_bool(0, 4))
	{
		/* a deleted article is gone from every read: no rows */
		SPI_finish();
		return (Datum) 0;
	}

	if (has_cursor)
	{
		int64		after_id = PG_GETARG_INT64(2);
		int64		cursor_article;
		bool		null_pos;

		v[0] = Int64GetDatum(after_id);
		dt_exec(DT_SQL_COMMENT_POSITION, v, NULL, true, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("comment " INT64_FORMAT " does not exist", after_id),
					 dt_errentity(DT_ENTITY_COMMENT)));
		cursor_article = dt_result_int64(0, 1, NULL);
		after_pos = dt_result_int64(0, 2, &null_pos);
		if (cursor_article != article_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("after_comment_id " INT64_FORMAT " is a comment of article "
							INT64_FORMAT ", not of article " INT64_FORMAT,
							after_id, cursor_article, article_id),
					 errhint("Pass the comment_id of the last row of the previous page of this article, or NULL for the first page.")));
		if (null_pos)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("drivetribe comment " INT64_FORMAT " has no position", after_id),
					 errhint("Run drivetribe.verify() to see the differences and drivetribe.rebuild() to repair them.")));
	}

	ids = palloc(sizeof(Datum) * page_size);
	n = page_ids(article_id, has_cursor, after_pos, page_size, ids);
	if (n > 0)
	{
		Datum		arg[1];
		uint64		row;

		arg[0] = PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64),
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		/* 1.9's article_comments() adds parent_comment_id and replies */
		dt_exec(rsinfo->setDesc->natts == 7 ? DT_SQL_COMMENT_PAGE_1_9 :
				DT_SQL_COMMENT_PAGE, arg, NULL, true, 0);
		if (SPI_tuptable->tupdesc->natts != rsinfo->setDesc->natts)
			elog(ERROR, "drivetribe: a comment page has %d columns, article_comments() returns %d",
				 SPI_tuptable->tupdesc->natts, rsinfo->setDesc->natts);
		for (row = 0; row < SPI_processed; row++)
			tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[row]);
	}
	SPI_finish();
	return (Datum) 0;
}
