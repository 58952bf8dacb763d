/*-------------------------------------------------------------------------
 *
 * write_api.c
 *	  The write API: one SQL-callable function per event kind.
 *
 * Every function follows the same steps, in this order:
 *
 *	1. check its arguments: NULLs first (22004), then values (22023); then
 *	   refuse a read-only transaction, e.g. on a hot standby (25006);
 *	2. if the caller gave an event_id, take a transaction advisory lock on
 *	   it and look it up (idempotency.c): the same call returns what it
 *	   returned the first time (the logged seq, or NULL for a no-op),
 *	   another call with that id fails (23505);
 *	3. take the locks that order the call against the calls it conflicts
 *	   with, then read what the decision depends on (decide()): unknown
 *	   ids fail (23503), taken ids fail (23505), deleted articles fail
 *	   (55000), each with the error fields that name the entity
 *	   (dt_errentity(): table, key column, key constraint), and a call
 *	   that would change nothing returns NULL (remembering its event_id,
 *	   if it had one);
 *	4. append the event (event.c) and apply it (project.c, live sink).
 *
 * The locks (in this order; see docs/design.md, "Lock order"): the
 * tables, first of all and in the order an ALTER EXTENSION drivetribe
 * UPDATE from this database's version would take them (connect_spi,
 * locks.c), then the log; the event_id's lock (idempotency.c); a comment's
 * row (delete_comment) or its id (post_comment); the article's lock,
 * shared to use the article and exclusive to delete it, then the
 * article's row to change its title or state; the lock of the pair an
 * edge joins ((article, user) bumps, (follower, followee) follows,
 * (tribe, user) memberships); a user's or tribe's row to rename it.
 * post_comment last takes the article's comment order lock for its append
 * and insert only (comments.c).  No call locks a
 * row another call merely counts on: counter changes go through
 * counters.c, which never waits.  Holding the conflict's lock from before
 * the append to commit makes the log's seq order agree with the order in
 * which the projections saw conflicting events (two renames of one user, a
 * bump racing a delete), so a replay of the log in seq order gives the
 * live projections back.  Users and tribes are never deleted, so reading
 * them for a name or an existence check needs no lock.  Any error aborts
 * the statement, so a failed call leaves nothing behind.
 *
 * The functions are SECURITY DEFINER with search_path pinned to
 * pg_catalog, pg_temp; the SQL they run is schema-qualified anyway.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "comments.h"
#include "counters.h"
#include "locks.h"
#include "projection.h"

#define USER_NAME_LIMIT		DT_USER_NAME_LIMIT
#define TRIBE_NAME_LIMIT	DT_TRIBE_NAME_LIMIT
#define TITLE_LIMIT			DT_TITLE_LIMIT
#define BODY_LIMIT			DT_BODY_LIMIT

/* ---------- argument checks ---------- */

/*
 * require_args: every named argument must be non-NULL (22004).  Runs before
 * any value check, so a NULL is reported whatever else is wrong.
 */
static void
require_args(FunctionCallInfo fcinfo, int nargs, const char *const *names)
{
	int			i;

	for (i = 0; i < nargs; i++)
		if (names[i] != NULL && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
}

static int64
id_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int64		id = PG_GETARG_INT64(argno);

	if (id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be positive, got " INT64_FORMAT, name, id)));
	return id;
}

/*
 * text_arg: a name, title or body of 1..limit characters, not only white
 * space (22023).  The message quotes the value, cut short when long.
 */
static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *name, int limit)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	char	   *s = text_to_cstring(t);
	int			bytes = strlen(s);
	int			chars;

	if (dt_is_blank(s, bytes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty or blank: \"%s\"", name,
						dt_clip(s))));
	chars = pg_mbstrlen_with_len(s, bytes);
	if (chars > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is too long: %d characters", name,
						dt_clip(s), chars),
				 errdetail("The limit is %d characters.", limit)));
	return s;
}

/*
 * event_id_arg: the optional trailing event_id argument, or a new random
 * one; returns whether the caller gave one.
 */
static bool
event_id_arg(FunctionCallInfo fcinfo, int argno, DtEvent *ev)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
	{
		dt_event_new_id(ev);
		return false;
	}
	memcpy(&ev->event_id, PG_GETARG_UUID_P(argno), sizeof(pg_uuid_t));
	return true;
}

/* ---------- reading and locking projection rows ---------- */

/*
 * An unknown id (23503) / an id a create call would take again (23505); the
 * fields name the entity (dt_errentity).  Macros, not functions: an error's
 * LOCATION names the function that found the id missing or taken (up to
 * 1.6 they were functions named unknown() and taken(), and LOCATION read
 * "unknown, write_api.c:150").
 */
#define report_unknown_id(entity, id) \
	ereport(ERROR, \
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION), \
			 errmsg("%s " INT64_FORMAT " does not exist", \
					dt_entity_noun(entity), (int64) (id)), \
			 dt_errentity(entity)))

#define report_id_taken(entity, id) \
	ereport(ERROR, \
			(errcode(ERRCODE_UNIQUE_VIOLATION), \
			 errmsg("%s " INT64_FORMAT " already exists", \
					dt_entity_noun(entity), (int64) (id)), \
			 dt_errentity(entity)))

/*
 * decide: run a read the call's decision depends on, after the locks that
 * order it.  At READ COMMITTED every statement takes a new snapshot, so
 * it sees what committed while the caller waited.  Under REPEATABLE READ
 * and SERIALIZABLE the transaction's snapshot may be older than the row:
 * the read is repeated under the latest snapshot and a difference is a
 * serialization failure (40001), as an UPDATE of a row changed since the
 * snapshot would be.  Leaves the transaction snapshot's result in
 * SPI_tuptable.
 */
static void
decide(DtStatement stmt, Datum *values)
{
	SPITupleTable *latest;
	uint64		latest_rows;
	bool		same;

	if (!IsolationUsesXactSnapshot())
	{
		dt_exec(stmt, values, NULL, false, 1);
		return;
	}
	dt_exec_latest(stmt, values, NULL);
	latest = SPI_tuptable;
	latest_rows = SPI_processed;
	dt_exec(stmt, values, NULL, false, 1);
	same = latest_rows == SPI_processed;
	for (int col = 1; same && SPI_processed > 0 && col <= SPI_tuptable->tupdesc->natts; col++)
	{
		Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, col - 1);
		bool		null1;
		bool		null2;
		Datum		d1 = SPI_getbinval(latest->vals[0], latest->tupdesc, col, &null1);
		Datum		d2 = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   col, &null2);

		same = null1 == null2 &&
			(null1 || datumIsEqual(d1, d2, att->attbyval, att->attlen));
	}
	SPI_freetuptable(latest);
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update"),
				 errdetail("A row this call depends on changed after the transaction's snapshot was taken."),
				 errhint("Retry the transaction.")));
}

/* the name of a user, locked FOR NO KEY UPDATE when `lock` (renames) */
static char *
user_name(int64 user_id, bool lock)
{
	Datum		v[1] = {Int64GetDatum(user_id)};

	if (lock)
		dt_exec(DT_SQL_USER_LOCK, v, NULL, false, 1);
	else
		decide(DT_SQL_USER_GET, v);
	if (SPI_processed == 0)
		report_unknown_id(DT_ENTITY_USER, user_id);
	return dt_result_text(0, 1);
}

typedef struct TribeRow
{
	int64		owner_id;
	char	   *name;
} TribeRow;

/* a tribe's owner and name, locked FOR NO KEY UPDATE when `lock` (renames) */
static void
read_tribe(int64 tribe_id, bool lock, TribeRow *row)
{
	Datum		v[1] = {Int64GetDatum(tribe_id)};

	if (lock)
		dt_exec(DT_SQL_TRIBE_LOCK, v, NULL, false, 1);
	else
		decide(DT_SQL_TRIBE_GET, v);
	if (SPI_processed == 0)
		report_unknown_id(DT_ENTITY_TRIBE, tribe_id);
	row->owner_id = dt_result_int64(0, 1, NULL);
	row->name = dt_result_text(0, 2);
}

typedef struct ArticleRow
{
	int64		tribe_id;
	int64		author_id;
	char	   *title;
	bool		deleted;
} ArticleRow;

/* the article row SPI_tuptable holds (ARTICLE_GET or ARTICLE_LOCK) */
static void
article_from_result(int64 article_id, ArticleRow *row)
{
	if (SPI_processed == 0)
		report_unknown_id(DT_ENTITY_ARTICLE, article_id);
	row->tribe_id = dt_result_int64(0, 1, NULL);
	row->author_id = dt_result_int64(0, 2, NULL);
	row->title = dt_result_text(0, 3);
	row->deleted = dt_result_bool(0, 4);
}

/* an article's tribe, author, title and state, without a lock */
static void
read_article(int64 article_id, ArticleRow *row)
{
	Datum		v[1] = {Int64GetDatum(article_id)};

	decide(DT_SQL_ARTICLE_GET, v);
	article_from_result(article_id, row);
}

/*
 * use_article: take the article's lock (shared to use it: view, bump,
 * comment, edit; exclusive to delete it) and read it.  A delete waits for
 * every call using the article to commit, and a call arriving while a
 * delete holds the lock waits and then sees the article deleted; calls
 * that use one article never wait for each other.  When `lock_row`, the
 * row itself is then locked FOR NO KEY UPDATE (edit and delete change it).
 */
static void
use_article(int64 article_id, LOCKMODE mode, bool lock_row, ArticleRow *row)
{
	Datum		v[1] = {Int64GetDatum(article_id)};

	dt_lock_ids(DT_LOCK_ARTICLE, article_id, 0, mode);
	if (!lock_row)
	{
		read_article(article_id, row);
		return;
	}
	dt_exec(DT_SQL_ARTICLE_LOCK, v, NULL, false, 1);
	article_from_result(article_id, row);
}

/*
 * article_bumps: an article's current bumps, its row plus its stripes.
 * Exact when the caller holds the article's lock exclusively (no bump or
 * unbump of it is in progress), under the latest snapshot: a bump that
 * committed after a REPEATABLE READ caller's snapshot went to a stripe and
 * changed no row the caller locked, so it would go unnoticed; there, a
 * count that differs from the snapshot's is a serialization failure.
 */
static int64
article_bumps(int64 article_id)
{
	DtArticleCounts latest;
	DtArticleCounts mine;

	if (!dt_counters_totals(DT_COUNTERS_ARTICLES, article_id, true,
							(int64 *) &latest))
		report_unknown_id(DT_ENTITY_ARTICLE, article_id);
	if (IsolationUsesXactSnapshot() &&
		(!dt_counters_totals(DT_COUNTERS_ARTICLES, article_id, false,
							 (int64 *) &mine) || mine.bumps != latest.bumps))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update"),
				 errdetail("Article " INT64_FORMAT " was bumped or unbumped after the transaction's snapshot was taken.",
						   article_id),
				 errhint("Retry the transaction.")));
	return latest.bumps;
}

static void
require_live(int64 article_id, const ArticleRow *row, const char *action)
{
	if (row->deleted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("article " INT64_FORMAT " is deleted", article_id),
				 errdetail("A deleted article cannot be %s.", action),
				 dt_errentity(DT_ENTITY_ARTICLE)));
}

/* whether an edge (or, with b = 0, an id) exists, decided as decide() says */
static bool
row_exists(DtStatement stmt, int64 a, int64 b)
{
	Datum		v[2] = {Int64GetDatum(a), Int64GetDatum(b)};

	decide(stmt, v);
	return SPI_processed > 0;
}

static void
require_new(DtStatement stmt, DtEntity entity, int64 id)
{
	if (row_exists(stmt, id, 0))
		report_id_taken(entity, id);
}

/* ---------- the last step, shared by every function ---------- */

/* append the event, project it, and return its seq to SQL */
static Datum
accept_event(DtEvent *ev)
{
	int64		seq;

	dt_event_append(ev);
	dt_project_event(ev, &dt_live_sink);
	dt_projections_inline(ev);
	seq = ev->seq;
	SPI_finish();
	PG_RETURN_INT64(seq);
}

/*
 * accept_comment: accept_event for comment_posted.  The article's comment
 * order lock (comments.c) is taken right before the append draws the
 * event's seq (the comment's position) and released by the live sink as
 * soon as the comment's row is inserted: per article, positions are drawn
 * and index entries made in the same order, which article_comments()
 * relies on.  Nothing in between waits for another transaction.
 */
static Datum
accept_comment(DtEvent *ev)
{
	DtSink		sink = dt_live_sink;
	DtCommentOrder order;
	int64		seq;

	dt_comment_order_begin(ev->article_id, &order);
	sink.ctx = &order;
	dt_event_append(ev);
	dt_project_event(ev, &sink);
	Assert(!order.held);
	dt_projections_inline(ev);
	seq = ev->seq;
	SPI_finish();
	PG_RETURN_INT64(seq);
}

/* the call changes nothing: remember its event_id, return NULL */
#define RETURN_NO_CHANGE() \
	do { \
		dt_call_remember_noop(&ev, given); \
		SPI_finish(); \
		PG_RETURN_NULL(); \
	} while (0)

/* a retry of an earlier call with this event_id: return what it returned */
#define RETURN_IF_LOGGED(ev, given) \
	do { \
		int64		logged_seq_; \
		switch (dt_call_replay(&(ev), (given), &logged_seq_)) \
		{ \
			case DT_CALL_NEW: \
				break; \
			case DT_CALL_APPENDED: \
				SPI_finish(); \
				PG_RETURN_INT64(logged_seq_); \
			case DT_CALL_NOOP: \
				SPI_finish(); \
				PG_RETURN_NULL(); \
		} \
	} while (0)

/*
 * connect_spi: refuse a read-only transaction (25006), connect to SPI and
 * take the call's table locks before any other lock (dt_lock_tables(),
 * locks.c): ROW EXCLUSIVE on the tables an ALTER EXTENSION drivetribe
 * UPDATE from this database's version would lock, in the update's order,
 * then on the log.  A writer therefore waits for an update running
 * meanwhile without holding a table it will lock, and the update waits
 * for writers already in progress, which wait for nothing it holds: no
 * deadlock.  rebuild() takes the same tables first too, with EXCLUSIVE on
 * the log, so a writer and a rebuild queue on the log's lock and never
 * deadlock.  On a database at the newest version the only lock is the
 * log's, the one the append would take anyway (a fast-path lock).  The
 * caller holds no lock of the extension yet in this call.
 */
static void
connect_spi(FunctionCallInfo fcinfo)
{
	/*
	 * A read-only transaction (every transaction of a hot standby, or SET
	 * TRANSACTION READ ONLY) refuses every write call here, before it
	 * reads anything: otherwise a call that would change nothing returned
	 * NULL there ("already so") while one that would append failed, and a
	 * client that sent a write to a standby by mistake could not tell.
	 */
	if (XactReadOnly)
	{
		const char *fn = fcinfo->flinfo ? get_func_name(fcinfo->flinfo->fn_oid) : NULL;

		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute drivetribe.%s() in a read-only transaction",
						fn ? fn : "write function"),
				 RecoveryInProgress() ?
				 errhint("This server is a hot standby: send writes to the primary.") : 0));
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_lock_tables(RowExclusiveLock, RowExclusiveLock, false);
	dt_projection_check_caller(fcinfo->flinfo ? fcinfo->flinfo->fn_oid : InvalidOid);
}

/* ---------- users ---------- */

PG_FUNCTION_INFO_V1(drivetribe_register_user);
Datum
drivetribe_register_user(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"user_id", "name"};
	DtEvent		ev;
	bool		given;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, DT_USER_REGISTERED);
	ev.user_id = id_arg(fcinfo, 0, "user_id");
	ev.body = text_arg(fcinfo, 1, "name", USER_NAME_LIMIT);
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	require_new(DT_SQL_USER_GET, DT_ENTITY_USER, ev.user_id);
	ev.user_name = ev.body;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_rename_user);
Datum
drivetribe_rename_user(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"user_id", "name"};
	DtEvent		ev;
	bool		given;
	char	   *old_name;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, DT_USER_RENAMED);
	ev.user_id = id_arg(fcinfo, 0, "user_id");
	ev.body = text_arg(fcinfo, 1, "name", USER_NAME_LIMIT);
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	old_name = user_name(ev.user_id, true);
	if (strcmp(old_name, ev.body) == 0)
		RETURN_NO_CHANGE();
	ev.user_name = ev.body;
	return accept_event(&ev);
}

/* ---------- tribes ---------- */

PG_FUNCTION_INFO_V1(drivetribe_create_tribe);
Datum
drivetribe_create_tribe(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tribe_id", "owner_id", "name"};
	DtEvent		ev;
	bool		given;

	require_args(fcinfo, 3, names);
	dt_event_init(&ev, DT_TRIBE_CREATED);
	ev.tribe_id = id_arg(fcinfo, 0, "tribe_id");
	ev.user_id = id_arg(fcinfo, 1, "owner_id");
	ev.body = text_arg(fcinfo, 2, "name", TRIBE_NAME_LIMIT);
	given = event_id_arg(fcinfo, 3, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	ev.user_name = user_name(ev.user_id, false);
	require_new(DT_SQL_TRIBE_GET, DT_ENTITY_TRIBE, ev.tribe_id);
	ev.tribe_name = ev.body;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_rename_tribe);
Datum
drivetribe_rename_tribe(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"tribe_id", "name"};
	DtEvent		ev;
	bool		given;
	TribeRow	tribe;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, DT_TRIBE_RENAMED);
	ev.tribe_id = id_arg(fcinfo, 0, "tribe_id");
	ev.body = text_arg(fcinfo, 1, "name", TRIBE_NAME_LIMIT);
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	read_tribe(ev.tribe_id, true, &tribe);
	if (strcmp(tribe.name, ev.body) == 0)
		RETURN_NO_CHANGE();
	ev.target_id = tribe.owner_id;
	ev.tribe_name = ev.body;
	return accept_event(&ev);
}

/*
 * join_tribe and leave_tribe: decided under the lock of the (tribe, user)
 * pair, so joins of one tribe by many users never wait for each other.
 */
static Datum
change_membership(FunctionCallInfo fcinfo, DtEventKind kind)
{
	static const char *const names[] = {"user_id", "tribe_id"};
	DtEvent		ev;
	bool		given;
	TribeRow	tribe;
	bool		member;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, kind);
	ev.user_id = id_arg(fcinfo, 0, "user_id");
	ev.tribe_id = id_arg(fcinfo, 1, "tribe_id");
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	dt_lock_ids(DT_LOCK_MEMBERSHIP, ev.tribe_id, ev.user_id, ExclusiveLock);
	read_tribe(ev.tribe_id, false, &tribe);
	ev.user_name = user_name(ev.user_id, false);
	member = row_exists(DT_SQL_MEMBERSHIP_EXISTS, ev.tribe_id, ev.user_id);
	if (member == (kind == DT_TRIBE_JOINED))
		RETURN_NO_CHANGE();
	ev.target_id = tribe.owner_id;
	if (kind == DT_TRIBE_JOINED)
		ev.recipient_id = tribe.owner_id;
	ev.tribe_name = tribe.name;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_join_tribe);
Datum
drivetribe_join_tribe(PG_FUNCTION_ARGS)
{
	return change_membership(fcinfo, DT_TRIBE_JOINED);
}

PG_FUNCTION_INFO_V1(drivetribe_leave_tribe);
Datum
drivetribe_leave_tribe(PG_FUNCTION_ARGS)
{
	return change_membership(fcinfo, DT_TRIBE_LEFT);
}

/* ---------- follows ---------- */

/*
 * follow_user and unfollow_user: decided under the lock of the (follower,
 * followee) pair, so a celebrity's new followers never wait for each other.
 */
static Datum
change_follow(FunctionCallInfo fcinfo, DtEventKind kind)
{
	static const char *const names[] = {"follower_id", "followee_id"};
	DtEvent		ev;
	bool		given;
	bool		following;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, kind);
	ev.user_id = id_arg(fcinfo, 0, "follower_id");
	ev.target_id = id_arg(fcinfo, 1, "followee_id");
	if (ev.user_id == ev.target_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user " INT64_FORMAT " cannot follow themselves",
						ev.user_id)));
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	dt_lock_ids(DT_LOCK_FOLLOW, ev.user_id, ev.target_id, ExclusiveLock);
	ev.user_name = user_name(ev.user_id, false);
	ev.target_name = user_name(ev.target_id, false);
	following = row_exists(DT_SQL_FOLLOW_EXISTS, ev.user_id, ev.target_id);
	if (following == (kind == DT_USER_FOLLOWED))
		RETURN_NO_CHANGE();
	if (kind == DT_USER_FOLLOWED)
		ev.recipient_id = ev.target_id;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_follow_user);
Datum
drivetribe_follow_user(PG_FUNCTION_ARGS)
{
	return change_follow(fcinfo, DT_USER_FOLLOWED);
}

PG_FUNCTION_INFO_V1(drivetribe_unfollow_user);
Datum
drivetribe_unfollow_user(PG_FUNCTION_ARGS)
{
	return change_follow(fcinfo, DT_USER_UNFOLLOWED);
}

/* ---------- articles ---------- */

PG_FUNCTION_INFO_V1(drivetribe_post_article);
Datum
drivetribe_post_article(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"article_id", "author_id", "tribe_id",
	"title"};
	DtEvent		ev;
	bool		given;
	TribeRow	tribe;

	require_args(fcinfo, 4, names);
	dt_event_init(&ev, DT_ARTICLE_POSTED);
	ev.article_id = id_arg(fcinfo, 0, "article_id");
	ev.user_id = id_arg(fcinfo, 1, "author_id");
	ev.tribe_id = id_arg(fcinfo, 2, "tribe_id");
	ev.body = text_arg(fcinfo, 3, "title", TITLE_LIMIT);
	given = event_id_arg(fcinfo, 4, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	ev.user_name = user_name(ev.user_id, false);
	read_tribe(ev.tribe_id, false, &tribe);
	require_new(DT_SQL_ARTICLE_EXISTS, DT_ENTITY_ARTICLE, ev.article_id);
	ev.tribe_name = tribe.name;
	ev.title = ev.body;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_edit_article);
Datum
drivetribe_edit_article(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"article_id", "title"};
	DtEvent		ev;
	bool		given;
	ArticleRow	article;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, DT_ARTICLE_EDITED);
	ev.article_id = id_arg(fcinfo, 0, "article_id");
	ev.body = text_arg(fcinfo, 1, "title", TITLE_LIMIT);
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	use_article(ev.article_id, ShareLock, true, &article);
	require_live(ev.article_id, &article, "edited");
	if (strcmp(article.title, ev.body) == 0)
		RETURN_NO_CHANGE();
	ev.user_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.title = ev.body;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_delete_article);
Datum
drivetribe_delete_article(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"article_id"};
	DtEvent		ev;
	bool		given;
	ArticleRow	article;

	require_args(fcinfo, 1, names);
	dt_event_init(&ev, DT_ARTICLE_DELETED);
	ev.article_id = id_arg(fcinfo, 0, "article_id");
	given = event_id_arg(fcinfo, 1, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	use_article(ev.article_id, ExclusiveLock, true, &article);
	if (article.deleted)
		RETURN_NO_CHANGE();
	ev.user_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.bumps = article_bumps(ev.article_id);
	ev.title = article.title;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_view_article);
Datum
drivetribe_view_article(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"article_id"};
	DtEvent		ev;
	bool		given;
	ArticleRow	article;

	require_args(fcinfo, 1, names);
	dt_event_init(&ev, DT_ARTICLE_VIEWED);
	ev.article_id = id_arg(fcinfo, 0, "article_id");
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		ev.user_id = id_arg(fcinfo, 1, "viewer_id");
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	use_article(ev.article_id, ShareLock, false, &article);
	if (ev.user_id != 0)
		ev.user_name = user_name(ev.user_id, false);
	require_live(ev.article_id, &article, "viewed");
	ev.target_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	return accept_event(&ev);
}

/* ---------- comments ---------- */

/*
 * lock_parent_comment: a reply's parent, locked FOR NO KEY UPDATE to
 * commit (a delete of the parent waits for the reply, and the reply adds
 * to the parent's live replies), checked as an id is: it exists (23503)
 * and is a comment of the same article (22023); whether it is live (55000)
 * the caller checks after the other calls' 23505 and 55000 checks
 * ("Errors": unknown ids first).  Caller holds the article's lock
 * (shared); a comment's row lock comes before its parent's everywhere
 * (delete_comment), so no two calls wait for each other in a circle.
 * Returns the parent's author; *deleted says whether it is deleted.
 */
static int64
lock_parent_comment(int64 parent_comment_id, int64 article_id, bool *deleted)
{
	Datum		v[1] = {Int64GetDatum(parent_comment_id)};
	int64		parent_article;

	dt_exec(DT_SQL_COMMENT_LOCK_1_9, v, NULL, false, 1);
	if (SPI_processed == 0)
		report_unknown_id(DT_ENTITY_COMMENT, parent_comment_id);
	parent_article = dt_result_int64(0, 1, NULL);
	if (parent_article != article_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parent_comment_id " INT64_FORMAT " is a comment of article "
						INT64_FORMAT ", not of article " INT64_FORMAT,
						parent_comment_id, parent_article, article_id),
				 errdetail("A reply is posted on the article of the comment it replies to."),
				 dt_errentity(DT_ENTITY_COMMENT)));
	*deleted = dt_result_bool(0, 3);
	return dt_result_int64(0, 2, NULL);
}

/*
 * post_comment in its three SQL forms (docs/reference.md, "Write API"):
 * (comment_id, article_id, author_id, body, event_id uuid) of 1.0;
 * the same with event_id text (1.9), which an untyped fifth argument
 * resolves to, so that a call of 1.0 with an untyped event_id still means
 * what it meant; and (..., body, parent_comment_id bigint, event_id uuid),
 * the reply of 1.9.  parent_argno is -1 for the first two.
 */
static Datum
post_comment(FunctionCallInfo fcinfo, int parent_argno, bool event_id_text)
{
	static const char *const names[] = {"comment_id", "article_id",
	"author_id", "body"};
	int			event_argno = parent_argno < 0 ? 4 : parent_argno + 1;
	DtEvent		ev;
	bool		given;
	ArticleRow	article;
	bool		parent_deleted = false;

	require_args(fcinfo, 4, names);
	dt_event_init(&ev, DT_COMMENT_POSTED);
	ev.comment_id = id_arg(fcinfo, 0, "comment_id");
	ev.article_id = id_arg(fcinfo, 1, "article_id");
	ev.user_id = id_arg(fcinfo, 2, "author_id");
	ev.body = text_arg(fcinfo, 3, "body", BODY_LIMIT);
	if (parent_argno >= 0 && !PG_ARGISNULL(parent_argno))
		ev.parent_comment_id = id_arg(fcinfo, parent_argno, "parent_comment_id");
	if (event_id_text && !PG_ARGISNULL(event_argno))
	{
		/* the uuid's own input function: its error (22P02) as in 1.0 */
		char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(event_argno));

		memcpy(&ev.event_id, DatumGetUUIDP(DirectFunctionCall1(uuid_in,
															   CStringGetDatum(s))),
			   sizeof(pg_uuid_t));
		given = true;
	}
	else
		given = event_id_arg(fcinfo, event_argno, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	/*
	 * Two calls posting one comment id wait for each other here, not in
	 * the insert's unique check, which comes under the article's comment
	 * order lock (comments.c)
	 */
	dt_lock_ids(DT_LOCK_COMMENT_ID, ev.comment_id, 0, ExclusiveLock);
	use_article(ev.article_id, ShareLock, false, &article);
	ev.user_name = user_name(ev.user_id, false);
	ev.target_id = article.author_id;
	ev.recipient_id = article.author_id;
	/* a reply notifies the author of the comment it replies to */
	if (ev.parent_comment_id != 0)
		ev.recipient_id = lock_parent_comment(ev.parent_comment_id, ev.article_id,
											  &parent_deleted);
	require_new(DT_SQL_COMMENT_EXISTS, DT_ENTITY_COMMENT, ev.comment_id);
	require_live(ev.article_id, &article, "commented on");
	if (parent_deleted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("comment " INT64_FORMAT " is deleted", ev.parent_comment_id),
				 errdetail("A deleted comment cannot be replied to."),
				 dt_errentity(DT_ENTITY_COMMENT)));
	ev.tribe_id = article.tribe_id;
	ev.title = article.title;
	return accept_comment(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_post_comment);
Datum
drivetribe_post_comment(PG_FUNCTION_ARGS)
{
	return post_comment(fcinfo, -1, false);
}

PG_FUNCTION_INFO_V1(drivetribe_post_comment_text_id);
Datum
drivetribe_post_comment_text_id(PG_FUNCTION_ARGS)
{
	return post_comment(fcinfo, -1, true);
}

PG_FUNCTION_INFO_V1(drivetribe_post_reply);
Datum
drivetribe_post_reply(PG_FUNCTION_ARGS)
{
	return post_comment(fcinfo, 4, false);
}

PG_FUNCTION_INFO_V1(drivetribe_delete_comment);
Datum
drivetribe_delete_comment(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"comment_id"};
	Datum		v[1];
	DtEvent		ev;
	bool		given;
	ArticleRow	article;
	DtStatement lock;

	require_args(fcinfo, 1, names);
	dt_event_init(&ev, DT_COMMENT_DELETED);
	ev.comment_id = id_arg(fcinfo, 0, "comment_id");
	given = event_id_arg(fcinfo, 1, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	v[0] = Int64GetDatum(ev.comment_id);
	lock = dt_versioned_statement(DT_SQL_COMMENT_LOCK);
	dt_exec(lock, v, NULL, false, 1);
	if (SPI_processed == 0)
		report_unknown_id(DT_ENTITY_COMMENT, ev.comment_id);
	ev.article_id = dt_result_int64(0, 1, NULL);
	ev.user_id = dt_result_int64(0, 2, NULL);
	if (dt_result_bool(0, 3))
		RETURN_NO_CHANGE();
	/* 1.9: a reply's parent loses a live reply (comment_deleted v2) */
	if (lock == DT_SQL_COMMENT_LOCK_1_9)
		ev.parent_comment_id = dt_result_int64(0, 4, NULL);
	read_article(ev.article_id, &article);
	ev.target_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.title = article.title;
	return accept_event(&ev);
}

/* ---------- bumps ---------- */

/*
 * bump and unbump: the article in use (shared), decided under the lock of
 * the (article, user) pair: bumps of one article never wait for each other.
 */
static Datum
change_bump(FunctionCallInfo fcinfo, DtEventKind kind)
{
	static const char *const names[] = {"article_id", "user_id"};
	DtEvent		ev;
	bool		given;
	ArticleRow	article;
	bool		bumped;

	require_args(fcinfo, 2, names);
	dt_event_init(&ev, kind);
	ev.article_id = id_arg(fcinfo, 0, "article_id");
	ev.user_id = id_arg(fcinfo, 1, "user_id");
	given = event_id_arg(fcinfo, 2, &ev);

	connect_spi(fcinfo);
	RETURN_IF_LOGGED(ev, given);
	use_article(ev.article_id, ShareLock, false, &article);
	ev.user_name = user_name(ev.user_id, false);
	require_live(ev.article_id, &article,
				 kind == DT_ARTICLE_BUMPED ? "bumped" : "unbumped");
	dt_lock_ids(DT_LOCK_BUMP, ev.article_id, ev.user_id, ExclusiveLock);
	bumped = row_exists(DT_SQL_BUMP_EXISTS, ev.article_id, ev.user_id);
	if (bumped == (kind == DT_ARTICLE_BUMPED))
		RETURN_NO_CHANGE();
	ev.target_id = article.author_id;
	if (kind == DT_ARTICLE_BUMPED)
		ev.recipient_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.title = article.title;
	return accept_event(&ev);
}

PG_FUNCTION_INFO_V1(drivetribe_bump);
Datum
drivetribe_bump(PG_FUNCTION_ARGS)
{
	return change_bump(fcinfo, DT_ARTICLE_BUMPED);
}

PG_FUNCTION_INFO_V1(drivetribe_unbump);
Datum
drivetribe_unbump(PG_FUNCTION_ARGS)
{
	return change_bump(fcinfo, DT_ARTICLE_UNBUMPED);
}
