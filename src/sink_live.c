/*-------------------------------------------------------------------------
 *
 * sink_live.c
 *	  The live sink: applies an event's effects to the projection tables
 *	  inside the writer's transaction.
 *
 * Each effect is one prepared statement touching one row.  Counters go
 * through counters.c, which never waits for another writer: in place when
 * the row is free, into this backend's stripe when it is held.  Names, titles,
 * flags and edges are written under the locks the write API (write_api.c)
 * took to decide the call.
 *
 * post_comment passes its DtCommentOrder (comments.c) as the ctx of a copy
 * of this sink: the comment's insert releases the article's comment order
 * lock.  Other callers use the sink as it is (ctx NULL).
 *
 * Every statement must touch exactly one row; anything else means the
 * projections disagree with the log and the call fails (see dt_exec_expect).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "comments.h"
#include "counters.h"

static void
live_user_created(void *ctx, int64 user_id, const char *name, TimestampTz at)
{
	Datum		v[3] = {Int64GetDatum(user_id), CStringGetTextDatum(name),
	TimestampTzGetDatum(at)};

	dt_exec_expect(DT_SQL_USER_INSERT, v, NULL, 1);
}

static void
live_user_renamed(void *ctx, int64 user_id, const char *name)
{
	Datum		v[2] = {Int64GetDatum(user_id), CStringGetTextDatum(name)};

	dt_exec_expect(DT_SQL_USER_RENAME, v, NULL, 1);
}

static void
live_tribe_created(void *ctx, int64 tribe_id, int64 owner_id,
				   const char *name, TimestampTz at)
{
	Datum		v[4] = {Int64GetDatum(tribe_id), Int64GetDatum(owner_id),
	CStringGetTextDatum(name), TimestampTzGetDatum(at)};

	dt_exec_expect(DT_SQL_TRIBE_INSERT, v, NULL, 1);
}

static void
live_tribe_renamed(void *ctx, int64 tribe_id, const char *name)
{
	Datum		v[2] = {Int64GetDatum(tribe_id), CStringGetTextDatum(name)};

	dt_exec_expect(DT_SQL_TRIBE_RENAME, v, NULL, 1);
}

static void
live_article_created(void *ctx, int64 article_id, int64 tribe_id,
					 int64 author_id, const char *title, TimestampTz at)
{
	Datum		v[5] = {Int64GetDatum(article_id), Int64GetDatum(tribe_id),
		Int64GetDatum(author_id), CStringGetTextDatum(title),
	TimestampTzGetDatum(at)};

	DtSchemaLevel level = dt_schema_level();

	dt_exec_expect(level == DT_SCHEMA_RANKED ?
				   DT_SQL_ARTICLE_INSERT_RANKED : DT_SQL_ARTICLE_INSERT,
				   v, NULL, 1);
	if (level == DT_SCHEMA_RANK_TABLE)
	{
		Datum		r[4] = {v[0], v[1], v[2], v[4]};

		dt_exec_expect(DT_SQL_RANK_INSERT, r, NULL, 1);
	}
}

static void
live_article_retitled(void *ctx, int64 article_id, const char *title)
{
	Datum		v[2] = {Int64GetDatum(article_id), CStringGetTextDatum(title)};

	dt_exec_expect(DT_SQL_ARTICLE_RETITLE, v, NULL, 1);
}

static void
live_article_deleted(void *ctx, int64 article_id)
{
	Datum		v[1] = {Int64GetDatum(article_id)};

	dt_exec_expect(DT_SQL_ARTICLE_DELETE, v, NULL, 1);
	if (dt_schema_level() == DT_SCHEMA_RANK_TABLE)
		dt_exec_expect(DT_SQL_RANK_DELETE, v, NULL, 1);
}

/* a parent comment's live replies change by delta (1.9) */
static void
comment_replies(int64 parent_comment_id, int64 delta)
{
	Datum		v[2] = {Int64GetDatum(parent_comment_id), Int64GetDatum(delta)};

	dt_exec_expect(DT_SQL_COMMENT_REPLIES, v, NULL, 1);
}

/*
 * A new comment's row, with its position where comments have one (1.7)
 * and its parent (1.9).  ctx is post_comment's DtCommentOrder
 * (comments.c), or NULL: the article's comment order lock is released as
 * soon as the row (and so its index entries) is in.  A reply adds one to
 * its parent's live replies: post_comment holds the parent's row.
 */
static void
live_comment_created(void *ctx, int64 comment_id, int64 article_id,
					 int64 author_id, const char *body, TimestampTz at,
					 int64 pos, int64 parent_comment_id)
{
	DtCommentOrder *order = ctx;
	Datum		v[7] = {Int64GetDatum(comment_id), Int64GetDatum(article_id),
		Int64GetDatum(author_id), CStringGetTextDatum(body),
	TimestampTzGetDatum(at), Int64GetDatum(pos), 0};
	char		nulls[7] = "      ";
	bool		positioned = order ? order->positioned : dt_comments_positioned();
	DtStatement stmt = positioned ?
		dt_versioned_statement(DT_SQL_COMMENT_INSERT_POS) : DT_SQL_COMMENT_INSERT;

	v[6] = dt_id_datum(parent_comment_id, &nulls[6]);
	dt_exec_expect(stmt, v, nulls, 1);
	if (order)
		dt_comment_order_end(order);
	if (parent_comment_id != 0)
		comment_replies(parent_comment_id, 1);
}

/* a deleted reply leaves its parent's live replies */
static void
live_comment_deleted(void *ctx, int64 comment_id, int64 parent_comment_id)
{
	Datum		v[1] = {Int64GetDatum(comment_id)};

	dt_exec_expect(DT_SQL_COMMENT_DELETE, v, NULL, 1);
	if (parent_comment_id != 0)
		comment_replies(parent_comment_id, -1);
}

static const DtStatement edge_statements[DT_NUM_EDGES][2] = {
	[DT_EDGE_MEMBERSHIP] = {DT_SQL_MEMBERSHIP_DELETE, DT_SQL_MEMBERSHIP_INSERT},
	[DT_EDGE_FOLLOW] = {DT_SQL_FOLLOW_DELETE, DT_SQL_FOLLOW_INSERT},
	[DT_EDGE_BUMP] = {DT_SQL_BUMP_DELETE, DT_SQL_BUMP_INSERT},
};

static void
live_edge_set(void *ctx, DtEdgeKind kind, int64 a, int64 b, bool present)
{
	Datum		v[2] = {Int64GetDatum(a), Int64GetDatum(b)};

	dt_exec_expect(edge_statements[kind][present ? 1 : 0], v, NULL, 1);
}

/*
 * Counter changes never wait for another writer (counters.c).  The count
 * structs are arrays of int64 in the column order of counters.c's table
 * descriptions.
 */
StaticAssertDecl(sizeof(DtUserCounts) == 7 * sizeof(int64), "DtUserCounts layout");
StaticAssertDecl(sizeof(DtTribeCounts) == 2 * sizeof(int64), "DtTribeCounts layout");
StaticAssertDecl(sizeof(DtArticleCounts) == 3 * sizeof(int64), "DtArticleCounts layout");

static void
live_user_counts(void *ctx, int64 user_id, const DtUserCounts *d)
{
	dt_counters_add(DT_COUNTERS_USERS, user_id, (const int64 *) d);
}

static void
live_tribe_counts(void *ctx, int64 tribe_id, const DtTribeCounts *d)
{
	dt_counters_add(DT_COUNTERS_TRIBES, tribe_id, (const int64 *) d);
}

static void
live_article_counts(void *ctx, int64 article_id, const DtArticleCounts *d)
{
	dt_counters_add(DT_COUNTERS_ARTICLES, article_id, (const int64 *) d);
}

const DtSink dt_live_sink = {
	.user_created = live_user_created,
	.user_renamed = live_user_renamed,
	.tribe_created = live_tribe_created,
	.tribe_renamed = live_tribe_renamed,
	.article_created = live_article_created,
	.article_retitled = live_article_retitled,
	.article_deleted = live_article_deleted,
	.comment_created = live_comment_created,
	.comment_deleted = live_comment_deleted,
	.edge_set = live_edge_set,
	.user_counts = live_user_counts,
	.tribe_counts = live_tribe_counts,
	.article_counts = live_article_counts,
	.ctx = NULL,
};
