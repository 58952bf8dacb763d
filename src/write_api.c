/*-------------------------------------------------------------------------
 *
 * write_api.c
 *	  The write API: one SQL-callable function per event kind.
 *
 * Every function follows the same steps, in this order:
 *
 *	1. check its arguments: NULLs first (22004), then values (22023);
 *	2. if the caller gave an event_id, take a transaction advisory lock on
 *	   it and look it up (idempotency.c): the same call returns what it
 *	   returned the first time (the logged seq, or NULL for a no-op),
 *	   another call with that id fails (23505);
 *	3. read and lock the rows the decision depends on, in the global lock
 *	   order comments, articles, tribes, users (ascending id): unknown ids
 *	   fail (23503), taken ids fail (23505), deleted articles fail (55000),
 *	   and a call that would change nothing returns NULL (remembering its
 *	   event_id, if it had one);
 *	4. append the event (event.c) and apply it (project.c, live sink).
 *
 * Locking before appending makes the log's seq order agree with the order
 * in which the projections saw events on the same row (two renames of one
 * user, a bump racing a delete), so a replay of the log in seq order gives
 * the live projections back.  Rows only read for a name or an existence
 * check (users and tribes are never deleted) are not locked.  Edges
 * (memberships, follows, bumps) are decided under the lock of their parent
 * row: the tribe, both users in id order, the article.  Any error aborts
 * the statement, so a failed call leaves nothing behind.
 *
 * The functions are SECURITY DEFINER with search_path pinned to
 * pg_catalog, pg_temp; the SQL they run is schema-qualified anyway.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "drivetribe.h"

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

static void
unknown(const char *what, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("%s " INT64_FORMAT " does not exist", what, id)));
}

static void
taken(const char *what, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("%s " INT64_FORMAT " already exists", what, id)));
}

/* the name of a user, locked FOR NO KEY UPDATE when `lock` */
static char *
user_name(int64 user_id, const char *what, bool lock)
{
	Datum		v[1] = {Int64GetDatum(user_id)};

	dt_exec(lock ? DT_SQL_USER_LOCK : DT_SQL_USER_GET, v, NULL, false, 1);
	if (SPI_processed == 0)
		unknown(what, user_id);
	return dt_result_text(0, 1);
}

typedef struct TribeRow
{
	int64		owner_id;
	char	   *name;
} TribeRow;

static void
read_tribe(int64 tribe_id, bool lock, TribeRow *row)
{
	Datum		v[1] = {Int64GetDatum(tribe_id)};

	dt_exec(lock ? DT_SQL_TRIBE_LOCK : DT_SQL_TRIBE_GET, v, NULL, false, 1);
	if (SPI_processed == 0)
		unknown("tribe", tribe_id);
	row->owner_id = dt_result_int64(0, 1, NULL);
	row->name = dt_result_text(0, 2);
}

typedef struct ArticleRow
{
	int64		tribe_id;
	int64		author_id;
	char	   *title;
	bool		deleted;
	int64		bumps;
} ArticleRow;

/* lock an article FOR NO KEY UPDATE: it decides liveness and its edges */
static void
lock_article(int64 article_id, ArticleRow *row)
{
	Datum		v[1] = {Int64GetDatum(article_id)};

	dt_exec(DT_SQL_ARTICLE_LOCK, v, NULL, false, 1);
	if (SPI_processed == 0)
		unknown("article", article_id);
	row->tribe_id = dt_result_int64(0, 1, NULL);
	row->author_id = dt_result_int64(0, 2, NULL);
	row->title = dt_result_text(0, 3);
	row->deleted = dt_result_bool(0, 4);
	row->bumps = dt_result_int64(0, 5, NULL);
}

static void
require_live(int64 article_id, const ArticleRow *row, const char *action)
{
	if (row->deleted)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("article " INT64_FORMAT " is deleted", article_id),
				 errdetail("A deleted article cannot be %s.", action)));
}

static bool
row_exists(DtStatement stmt, int64 a, int64 b)
{
	Datum		v[2] = {Int64GetDatum(a), Int64GetDatum(b)};

	dt_exec(stmt, v, NULL, false, 1);
	return SPI_processed > 0;
}

static void
require_new(DtStatement stmt, const char *what, int64 id)
{
	if (row_exists(stmt, id, 0))
		taken(what, id);
}

/* ---------- the last step, shared by every function ---------- */

/* append the event, project it, and return its seq to SQL */
static Datum
accept_event(DtEvent *ev)
{
	int64		seq;

	dt_event_append(ev);
	dt_project_event(ev, &dt_live_sink);
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
 * connect_spi: connect to SPI and take the log's ROW EXCLUSIVE lock before
 * any row lock.  rebuild() takes EXCLUSIVE on the log before it touches
 * the projections, so a writer and a rebuild queue on the log's lock in
 * one order and never deadlock.  (The lock is the one the append would
 * take anyway; taking it first costs a fast-path lock.)
 */
static void
connect_spi(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	(void) RangeVarGetRelid(makeRangeVar("drivetribe", "events", -1),
							RowExclusiveLock, false);
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	require_new(DT_SQL_USER_GET, "user", ev.user_id);
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	old_name = user_name(ev.user_id, "user", true);
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	ev.user_name = user_name(ev.user_id, "user", false);
	require_new(DT_SQL_TRIBE_GET, "tribe", ev.tribe_id);
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	read_tribe(ev.tribe_id, true, &tribe);
	if (strcmp(tribe.name, ev.body) == 0)
		RETURN_NO_CHANGE();
	ev.target_id = tribe.owner_id;
	ev.tribe_name = ev.body;
	return accept_event(&ev);
}

/* join_tribe and leave_tribe: decided under the tribe's row lock */
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	ev.user_name = user_name(ev.user_id, "user", false);
	read_tribe(ev.tribe_id, true, &tribe);
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

/* follow_user and unfollow_user: decided under both users' row locks */
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	if (ev.user_id < ev.target_id)
	{
		ev.user_name = user_name(ev.user_id, "user", true);
		ev.target_name = user_name(ev.target_id, "user", true);
	}
	else
	{
		ev.target_name = user_name(ev.target_id, "user", true);
		ev.user_name = user_name(ev.user_id, "user", true);
	}
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	ev.user_name = user_name(ev.user_id, "user", false);
	read_tribe(ev.tribe_id, false, &tribe);
	require_new(DT_SQL_ARTICLE_EXISTS, "article", ev.article_id);
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	lock_article(ev.article_id, &article);
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	lock_article(ev.article_id, &article);
	if (article.deleted)
		RETURN_NO_CHANGE();
	ev.user_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.bumps = article.bumps;
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	lock_article(ev.article_id, &article);
	if (ev.user_id != 0)
		ev.user_name = user_name(ev.user_id, "user", false);
	require_live(ev.article_id, &article, "viewed");
	ev.target_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	return accept_event(&ev);
}

/* ---------- comments ---------- */

PG_FUNCTION_INFO_V1(drivetribe_post_comment);
Datum
drivetribe_post_comment(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"comment_id", "article_id",
	"author_id", "body"};
	DtEvent		ev;
	bool		given;
	ArticleRow	article;

	require_args(fcinfo, 4, names);
	dt_event_init(&ev, DT_COMMENT_POSTED);
	ev.comment_id = id_arg(fcinfo, 0, "comment_id");
	ev.article_id = id_arg(fcinfo, 1, "article_id");
	ev.user_id = id_arg(fcinfo, 2, "author_id");
	ev.body = text_arg(fcinfo, 3, "body", BODY_LIMIT);
	given = event_id_arg(fcinfo, 4, &ev);

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	lock_article(ev.article_id, &article);
	ev.user_name = user_name(ev.user_id, "user", false);
	require_new(DT_SQL_COMMENT_EXISTS, "comment", ev.comment_id);
	require_live(ev.article_id, &article, "commented on");
	ev.target_id = article.author_id;
	ev.recipient_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.title = article.title;
	return accept_event(&ev);
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

	require_args(fcinfo, 1, names);
	dt_event_init(&ev, DT_COMMENT_DELETED);
	ev.comment_id = id_arg(fcinfo, 0, "comment_id");
	given = event_id_arg(fcinfo, 1, &ev);

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	v[0] = Int64GetDatum(ev.comment_id);
	dt_exec(DT_SQL_COMMENT_LOCK, v, NULL, false, 1);
	if (SPI_processed == 0)
		unknown("comment", ev.comment_id);
	ev.article_id = dt_result_int64(0, 1, NULL);
	ev.user_id = dt_result_int64(0, 2, NULL);
	if (dt_result_bool(0, 3))
		RETURN_NO_CHANGE();
	lock_article(ev.article_id, &article);
	ev.target_id = article.author_id;
	ev.tribe_id = article.tribe_id;
	ev.title = article.title;
	return accept_event(&ev);
}

/* ---------- bumps ---------- */

/* bump and unbump: decided under the article's row lock */
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

	connect_spi();
	RETURN_IF_LOGGED(ev, given);
	lock_article(ev.article_id, &article);
	ev.user_name = user_name(ev.user_id, "user", false);
	require_live(ev.article_id, &article,
				 kind == DT_ARTICLE_BUMPED ? "bumped" : "unbumped");
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
