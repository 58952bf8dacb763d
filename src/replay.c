/*-------------------------------------------------------------------------
 *
 * replay.c
 *	  rebuild() and verify(): the projections recomputed from the log alone.
 *
 * Both read the whole log in seq order and feed every event to the same
 * dt_project_event() the write API uses, with a sink that folds effects
 * into in-memory hash tables (one entry per projection row).  Each row is
 * then written once (rebuild) or compared once (verify): updating one row
 * once per event inside a single transaction would walk an ever longer
 * version chain, quadratic in the number of events per row.
 *
 * rebuild() takes an EXCLUSIVE lock on drivetribe.events (writers wait,
 * readers of the log do not), truncates the projections and writes them
 * anew.  verify() takes no lock beyond ACCESS SHARE: it reads the log and
 * every projection under the calling statement's snapshot (read-only SPI),
 * so writes committed meanwhile cannot show as differences.
 *
 * Memory: the replay state lives in its own context, about 100 bytes per
 * user, tribe, article, comment, membership, follow and bump.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "drivetribe.h"

#define REPLAY_BATCH 10000

typedef struct ReplayUser
{
	int64		user_id;		/* hash key */
	char	   *name;
	TimestampTz registered_at;
	DtUserCounts counts;
	bool		seen;
} ReplayUser;

typedef struct ReplayTribe
{
	int64		tribe_id;		/* hash key */
	int64		owner_id;
	char	   *name;
	TimestampTz created_at;
	DtTribeCounts counts;
	bool		seen;
} ReplayTribe;

typedef struct ReplayArticle
{
	int64		article_id;		/* hash key */
	int64		tribe_id;
	int64		author_id;
	char	   *title;
	TimestampTz posted_at;
	bool		deleted;
	DtArticleCounts counts;
	bool		seen;
} ReplayArticle;

typedef struct ReplayComment
{
	int64		comment_id;		/* hash key */
	int64		article_id;
	int64		author_id;
	char	   *body;
	TimestampTz posted_at;
	bool		deleted;
	bool		seen;
} ReplayComment;

typedef struct EdgeKey
{
	int64		a;
	int64		b;
} EdgeKey;

typedef struct ReplayEdge
{
	EdgeKey		key;			/* hash key */
	bool		seen;
} ReplayEdge;

typedef struct ReplayState
{
	MemoryContext cxt;
	HTAB	   *users;
	HTAB	   *tribes;
	HTAB	   *articles;
	HTAB	   *comments;
	HTAB	   *edges[DT_NUM_EDGES];
	int64		events;
} ReplayState;

static const char *const edge_tables[DT_NUM_EDGES] = {
	[DT_EDGE_MEMBERSHIP] = "memberships",
	[DT_EDGE_FOLLOW] = "follows",
	[DT_EDGE_BUMP] = "bumps",
};

static const char *const edge_key_names[DT_NUM_EDGES][2] = {
	[DT_EDGE_MEMBERSHIP] = {"tribe_id", "user_id"},
	[DT_EDGE_FOLLOW] = {"follower_id", "followee_id"},
	[DT_EDGE_BUMP] = {"article_id", "user_id"},
};

static HTAB *
make_table(ReplayState *state, const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = state->cxt;
	return hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* find an entity the log says exists; a miss means the log is corrupt */
static void *
existing(HTAB *table, int64 id, const char *what)
{
	void	   *entry = hash_search(table, &id, HASH_FIND, NULL);

	if (entry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("drivetribe event log refers to unknown %s " INT64_FORMAT,
						what, id)));
	return entry;
}

static void *
created(HTAB *table, int64 id, const char *what)
{
	bool		found;
	void	   *entry = hash_search(table, &id, HASH_ENTER, &found);

	if (found)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("drivetribe event log creates %s " INT64_FORMAT " twice",
						what, id)));
	return entry;
}

/* ---------- the replay sink ---------- */

static void
replay_user_created(void *ctx, int64 user_id, const char *name, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayUser *u = created(state->users, user_id, "user");

	u->name = MemoryContextStrdup(state->cxt, name);
	u->registered_at = at;
	memset(&u->counts, 0, sizeof(u->counts));
	u->seen = false;
}

static void
replay_user_renamed(void *ctx, int64 user_id, const char *name)
{
	ReplayState *state = ctx;
	ReplayUser *u = existing(state->users, user_id, "user");

	u->name = MemoryContextStrdup(state->cxt, name);
}

static void
replay_tribe_created(void *ctx, int64 tribe_id, int64 owner_id,
					 const char *name, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayTribe *t = created(state->tribes, tribe_id, "tribe");

	t->owner_id = owner_id;
	t->name = MemoryContextStrdup(state->cxt, name);
	t->created_at = at;
	memset(&t->counts, 0, sizeof(t->counts));
	t->seen = false;
}

static void
replay_tribe_renamed(void *ctx, int64 tribe_id, const char *name)
{
	ReplayState *state = ctx;
	ReplayTribe *t = existing(state->tribes, tribe_id, "tribe");

	t->name = MemoryContextStrdup(state->cxt, name);
}

static void
replay_article_created(void *ctx, int64 article_id, int64 tribe_id,
					   int64 author_id, const char *title, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayArticle *a = created(state->articles, article_id, "article");

	a->tribe_id = tribe_id;
	a->author_id = author_id;
	a->title = MemoryContextStrdup(state->cxt, title);
	a->posted_at = at;
	a->deleted = false;
	memset(&a->counts, 0, sizeof(a->counts));
	a->seen = false;
}

static void
replay_article_retitled(void *ctx, int64 article_id, const char *title)
{
	ReplayState *state = ctx;
	ReplayArticle *a = existing(state->articles, article_id, "article");

	a->title = MemoryContextStrdup(state->cxt, title);
}

static void
replay_article_deleted(void *ctx, int64 article_id)
{
	ReplayState *state = ctx;
	ReplayArticle *a = existing(state->articles, article_id, "article");

	a->deleted = true;
}

static void
replay_comment_created(void *ctx, int64 comment_id, int64 article_id,
					   int64 author_id, const char *body, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayComment *c = created(state->comments, comment_id, "comment");

	c->article_id = article_id;
	c->author_id = author_id;
	c->body = MemoryContextStrdup(state->cxt, body);
	c->posted_at = at;
	c->deleted = false;
	c->seen = false;
}

static void
replay_comment_deleted(void *ctx, int64 comment_id)
{
	ReplayState *state = ctx;
	ReplayComment *c = existing(state->comments, comment_id, "comment");

	c->deleted = true;
}

static void
replay_edge_set(void *ctx, DtEdgeKind kind, int64 a, int64 b, bool present)
{
	ReplayState *state = ctx;
	EdgeKey		key = {a, b};
	ReplayEdge *e;

	e = hash_search(state->edges[kind], &key,
					present ? HASH_ENTER : HASH_REMOVE, NULL);
	if (present)
		e->seen = false;
}

static void
replay_user_counts(void *ctx, int64 user_id, const DtUserCounts *d)
{
	ReplayState *state = ctx;
	ReplayUser *u = existing(state->users, user_id, "user");

	u->counts.articles += d->articles;
	u->counts.comments += d->comments;
	u->counts.bumps_given += d->bumps_given;
	u->counts.bumps_received += d->bumps_received;
	u->counts.followers += d->followers;
	u->counts.following += d->following;
	u->counts.tribes += d->tribes;
}

static void
replay_tribe_counts(void *ctx, int64 tribe_id, const DtTribeCounts *d)
{
	ReplayState *state = ctx;
	ReplayTribe *t = existing(state->tribes, tribe_id, "tribe");

	t->counts.members += d->members;
	t->counts.articles += d->articles;
}

static void
replay_article_counts(void *ctx, int64 article_id, const DtArticleCounts *d)
{
	ReplayState *state = ctx;
	ReplayArticle *a = existing(state->articles, article_id, "article");

	a->counts.views += d->views;
	a->counts.comments += d->comments;
	a->counts.bumps += d->bumps;
}

/*
 * replay_log: fold the whole log, in seq order, into a new ReplayState.
 * Caller is connected to SPI.  read_only = true reads under the caller's
 * snapshot (verify); false takes a new one (rebuild, after its lock).
 */
static ReplayState *
replay_log(bool read_only)
{
	ReplayState *state = palloc0(sizeof(ReplayState));
	DtSink		sink = {
		.user_created = replay_user_created,
		.user_renamed = replay_user_renamed,
		.tribe_created = replay_tribe_created,
		.tribe_renamed = replay_tribe_renamed,
		.article_created = replay_article_created,
		.article_retitled = replay_article_retitled,
		.article_deleted = replay_article_deleted,
		.comment_created = replay_comment_created,
		.comment_deleted = replay_comment_deleted,
		.edge_set = replay_edge_set,
		.user_counts = replay_user_counts,
		.tribe_counts = replay_tribe_counts,
		.article_counts = replay_article_counts,
		.ctx = state,
	};
	MemoryContext batch_cxt;
	MemoryContext old;
	Portal		portal;
	int			i;

	state->cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "drivetribe replay",
									   ALLOCSET_DEFAULT_SIZES);
	state->users = make_table(state, "drivetribe users", sizeof(int64),
							  sizeof(ReplayUser));
	state->tribes = make_table(state, "drivetribe tribes", sizeof(int64),
							   sizeof(ReplayTribe));
	state->articles = make_table(state, "drivetribe articles", sizeof(int64),
								 sizeof(ReplayArticle));
	state->comments = make_table(state, "drivetribe comments", sizeof(int64),
								 sizeof(ReplayComment));
	for (i = 0; i < DT_NUM_EDGES; i++)
		state->edges[i] = make_table(state, edge_tables[i], sizeof(EdgeKey),
									 sizeof(ReplayEdge));

	batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
									  "drivetribe replay batch",
									  ALLOCSET_DEFAULT_SIZES);
	portal = SPI_cursor_open(NULL, dt_plan(DT_SQL_REPLAY_EVENTS), NULL, NULL,
							 read_only);
	for (;;)
	{
		uint64		row;

		SPI_cursor_fetch(portal, true, REPLAY_BATCH);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		for (row = 0; row < SPI_processed; row++)
		{
			DtEvent		ev;

			dt_event_from_row((int) row, &ev);
			dt_project_event(&ev, &sink);
		}
		state->events += SPI_processed;
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(batch_cxt);
	return state;
}

/* ---------- rebuild ---------- */

static void
write_rows(ReplayState *state)
{
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "drivetribe rebuild row",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(row_cxt);
	HASH_SEQ_STATUS scan;
	ReplayUser *u;
	ReplayTribe *t;
	ReplayArticle *a;
	ReplayComment *c;
	ReplayEdge *e;
	int			i;

	hash_seq_init(&scan, state->users);
	while ((u = hash_seq_search(&scan)) != NULL)
	{
		Datum		v[10] = {Int64GetDatum(u->user_id),
			CStringGetTextDatum(u->name), TimestampTzGetDatum(u->registered_at),
			Int64GetDatum(u->counts.articles), Int64GetDatum(u->counts.comments),
			Int64GetDatum(u->counts.bumps_given),
			Int64GetDatum(u->counts.bumps_received),
			Int64GetDatum(u->counts.followers),
			Int64GetDatum(u->counts.following),
		Int64GetDatum(u->counts.tribes)};

		dt_exec_expect(DT_SQL_USER_RESTORE, v, NULL, 1);
		MemoryContextReset(row_cxt);
	}

	hash_seq_init(&scan, state->tribes);
	while ((t = hash_seq_search(&scan)) != NULL)
	{
		Datum		v[6] = {Int64GetDatum(t->tribe_id), Int64GetDatum(t->owner_id),
			CStringGetTextDatum(t->name), TimestampTzGetDatum(t->created_at),
		Int64GetDatum(t->counts.members), Int64GetDatum(t->counts.articles)};

		dt_exec_expect(DT_SQL_TRIBE_RESTORE, v, NULL, 1);
		MemoryContextReset(row_cxt);
	}

	hash_seq_init(&scan, state->articles);
	while ((a = hash_seq_search(&scan)) != NULL)
	{
		Datum		v[9] = {Int64GetDatum(a->article_id),
			Int64GetDatum(a->tribe_id), Int64GetDatum(a->author_id),
			CStringGetTextDatum(a->title), TimestampTzGetDatum(a->posted_at),
			BoolGetDatum(a->deleted), Int64GetDatum(a->counts.views),
		Int64GetDatum(a->counts.comments), Int64GetDatum(a->counts.bumps)};

		dt_exec_expect(DT_SQL_ARTICLE_RESTORE, v, NULL, 1);
		MemoryContextReset(row_cxt);
	}

	hash_seq_init(&scan, state->comments);
	while ((c = hash_seq_search(&scan)) != NULL)
	{
		Datum		v[6] = {Int64GetDatum(c->comment_id),
			Int64GetDatum(c->article_id), Int64GetDatum(c->author_id),
			CStringGetTextDatum(c->body), TimestampTzGetDatum(c->posted_at),
		BoolGetDatum(c->deleted)};

		dt_exec_expect(DT_SQL_COMMENT_RESTORE, v, NULL, 1);
		MemoryContextReset(row_cxt);
	}

	for (i = 0; i < DT_NUM_EDGES; i++)
	{
		hash_seq_init(&scan, state->edges[i]);
		while ((e = hash_seq_search(&scan)) != NULL)
			dt_live_sink.edge_set(NULL, (DtEdgeKind) i, e->key.a, e->key.b, true);
		CHECK_FOR_INTERRUPTS();
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(row_cxt);
}

/*
 * drivetribe.rebuild() returns bigint: recompute every projection from the
 * log; returns the number of events replayed.  Must run at READ COMMITTED
 * so that, once it holds its lock, it reads every committed event.
 */
PG_FUNCTION_INFO_V1(drivetribe_rebuild);
Datum
drivetribe_rebuild(PG_FUNCTION_ARGS)
{
	ReplayState *state;
	int64		events;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("drivetribe.rebuild() must run at READ COMMITTED isolation"),
				 errdetail("A transaction snapshot taken before its lock could miss committed events.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	SPI_execute("LOCK TABLE drivetribe.events IN EXCLUSIVE MODE", false, 0);
	SPI_execute("TRUNCATE drivetribe.users, drivetribe.tribes, "
				"drivetribe.articles, drivetribe.comments, "
				"drivetribe.memberships, drivetribe.follows, drivetribe.bumps",
				false, 0);
	state = replay_log(false);
	write_rows(state);
	events = state->events;
	MemoryContextDelete(state->cxt);
	SPI_finish();
	PG_RETURN_INT64(events);
}

/* ---------- verify ---------- */

typedef struct Differences
{
	ReturnSetInfo *rsinfo;
	StringInfoData detail;
} Differences;

static void
report(Differences *diff, const char *projection, const char *key,
	   const char *detail)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(projection);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(diff->rsinfo->setResult, diff->rsinfo->setDesc,
						 values, nulls);
}

static void
compare_int(Differences *diff, const char *column, int64 live, int64 replayed)
{
	if (live != replayed)
		appendStringInfo(&diff->detail, "%s%s: live " INT64_FORMAT
						 ", replayed " INT64_FORMAT,
						 diff->detail.len ? "; " : "", column, live, replayed);
}

/* compare a text column of SPI_tuptable's row with the replayed value */
static void
compare_text(Differences *diff, const char *column, int row, int col,
			 const char *replayed)
{
	if (!dt_result_text_equals(row, col, replayed))
		appendStringInfo(&diff->detail, "%s%s: live \"%s\", replayed \"%s\"",
						 diff->detail.len ? "; " : "", column,
						 dt_result_text(row, col), replayed);
}

static void
compare_time(Differences *diff, const char *column, TimestampTz live,
			 TimestampTz replayed)
{
	if (live != replayed)
		appendStringInfo(&diff->detail, "%s%s: live %s, replayed %s",
						 diff->detail.len ? "; " : "", column,
						 timestamptz_to_str(live), timestamptz_to_str(replayed));
}

static TimestampTz
result_time(int row, int col)
{
	return DatumGetTimestampTz((Datum) dt_result_int64(row, col, NULL));
}

/* report the accumulated detail of one row, if any, and reset it */
static void
flush_row(Differences *diff, const char *projection, const char *key_name,
		  int64 key)
{
	if (diff->detail.len > 0)
	{
		char		key_text[64];

		snprintf(key_text, sizeof(key_text), "%s=" INT64_FORMAT, key_name, key);
		report(diff, projection, key_text, diff->detail.data);
	}
	resetStringInfo(&diff->detail);
}

static void
report_missing(Differences *diff, const char *projection, const char *key_name,
			   int64 key)
{
	appendStringInfoString(&diff->detail,
						   "in a replay of the log but not in the projection");
	flush_row(diff, projection, key_name, key);
}

static void
report_extra(Differences *diff, const char *projection, const char *key_name,
			 int64 key)
{
	appendStringInfoString(&diff->detail,
						   "in the projection but not in a replay of the log");
	flush_row(diff, projection, key_name, key);
}

/*
 * For each live row of one projection, compare it with the replayed entry
 * of the same key.  The rows come from a read-only cursor under the
 * caller's snapshot, in batches.
 */
#define FOR_EACH_LIVE_ROW(stmt, row) \
	for (Portal portal_ = SPI_cursor_open(NULL, dt_plan(stmt), NULL, NULL, true); \
		 portal_ != NULL; SPI_cursor_close(portal_), portal_ = NULL) \
		for (SPI_cursor_fetch(portal_, true, REPLAY_BATCH); SPI_processed > 0; \
			 SPI_freetuptable(SPI_tuptable), \
			 SPI_cursor_fetch(portal_, true, REPLAY_BATCH)) \
			for (int row = 0; row < (int) SPI_processed; row++)

static void
verify_users(ReplayState *state, Differences *diff)
{
	HASH_SEQ_STATUS scan;
	ReplayUser *u;

	FOR_EACH_LIVE_ROW(DT_SQL_USERS_ALL, row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		u = hash_search(state->users, &id, HASH_FIND, NULL);
		if (u == NULL)
		{
			report_extra(diff, "users", "user_id", id);
			continue;
		}
		u->seen = true;
		compare_text(diff, "name", row, 2, u->name);
		compare_time(diff, "registered_at", result_time(row, 3), u->registered_at);
		compare_int(diff, "articles", dt_result_int64(row, 4, NULL), u->counts.articles);
		compare_int(diff, "comments", dt_result_int64(row, 5, NULL), u->counts.comments);
		compare_int(diff, "bumps_given", dt_result_int64(row, 6, NULL), u->counts.bumps_given);
		compare_int(diff, "bumps_received", dt_result_int64(row, 7, NULL), u->counts.bumps_received);
		compare_int(diff, "followers", dt_result_int64(row, 8, NULL), u->counts.followers);
		compare_int(diff, "following", dt_result_int64(row, 9, NULL), u->counts.following);
		compare_int(diff, "tribes", dt_result_int64(row, 10, NULL), u->counts.tribes);
		flush_row(diff, "users", "user_id", id);
	}
	hash_seq_init(&scan, state->users);
	while ((u = hash_seq_search(&scan)) != NULL)
		if (!u->seen)
			report_missing(diff, "users", "user_id", u->user_id);
}

static void
verify_tribes(ReplayState *state, Differences *diff)
{
	HASH_SEQ_STATUS scan;
	ReplayTribe *t;

	FOR_EACH_LIVE_ROW(DT_SQL_TRIBES_ALL, row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		t = hash_search(state->tribes, &id, HASH_FIND, NULL);
		if (t == NULL)
		{
			report_extra(diff, "tribes", "tribe_id", id);
			continue;
		}
		t->seen = true;
		compare_int(diff, "owner_id", dt_result_int64(row, 2, NULL), t->owner_id);
		compare_text(diff, "name", row, 3, t->name);
		compare_time(diff, "created_at", result_time(row, 4), t->created_at);
		compare_int(diff, "members", dt_result_int64(row, 5, NULL), t->counts.members);
		compare_int(diff, "articles", dt_result_int64(row, 6, NULL), t->counts.articles);
		flush_row(diff, "tribes", "tribe_id", id);
	}
	hash_seq_init(&scan, state->tribes);
	while ((t = hash_seq_search(&scan)) != NULL)
		if (!t->seen)
			report_missing(diff, "tribes", "tribe_id", t->tribe_id);
}

static void
verify_articles(ReplayState *state, Differences *diff)
{
	HASH_SEQ_STATUS scan;
	ReplayArticle *a;

	FOR_EACH_LIVE_ROW(DT_SQL_ARTICLES_ALL, row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		a = hash_search(state->articles, &id, HASH_FIND, NULL);
		if (a == NULL)
		{
			report_extra(diff, "articles", "article_id", id);
			continue;
		}
		a->seen = true;
		compare_int(diff, "tribe_id", dt_result_int64(row, 2, NULL), a->tribe_id);
		compare_int(diff, "author_id", dt_result_int64(row, 3, NULL), a->author_id);
		compare_text(diff, "title", row, 4, a->title);
		compare_time(diff, "posted_at", result_time(row, 5), a->posted_at);
		compare_int(diff, "deleted", dt_result_bool(row, 6), a->deleted);
		compare_int(diff, "views", dt_result_int64(row, 7, NULL), a->counts.views);
		compare_int(diff, "comments", dt_result_int64(row, 8, NULL), a->counts.comments);
		compare_int(diff, "bumps", dt_result_int64(row, 9, NULL), a->counts.bumps);
		flush_row(diff, "articles", "article_id", id);
	}
	hash_seq_init(&scan, state->articles);
	while ((a = hash_seq_search(&scan)) != NULL)
		if (!a->seen)
			report_missing(diff, "articles", "article_id", a->article_id);
}

static void
verify_comments(ReplayState *state, Differences *diff)
{
	HASH_SEQ_STATUS scan;
	ReplayComment *c;

	FOR_EACH_LIVE_ROW(DT_SQL_COMMENTS_ALL, row)
	{
		int64		id = dt_result_int64(row, 1, NULL);

		c = hash_search(state->comments, &id, HASH_FIND, NULL);
		if (c == NULL)
		{
			report_extra(diff, "comments", "comment_id", id);
			continue;
		}
		c->seen = true;
		compare_int(diff, "article_id", dt_result_int64(row, 2, NULL), c->article_id);
		compare_int(diff, "author_id", dt_result_int64(row, 3, NULL), c->author_id);
		compare_text(diff, "body", row, 4, c->body);
		compare_time(diff, "posted_at", result_time(row, 5), c->posted_at);
		compare_int(diff, "deleted", dt_result_bool(row, 6), c->deleted);
		flush_row(diff, "comments", "comment_id", id);
	}
	hash_seq_init(&scan, state->comments);
	while ((c = hash_seq_search(&scan)) != NULL)
		if (!c->seen)
			report_missing(diff, "comments", "comment_id", c->comment_id);
}

static void
report_edge(Differences *diff, DtEdgeKind kind, const EdgeKey *key,
			const char *detail)
{
	char		key_text[96];

	snprintf(key_text, sizeof(key_text), "%s=" INT64_FORMAT " %s=" INT64_FORMAT,
			 edge_key_names[kind][0], key->a, edge_key_names[kind][1], key->b);
	report(diff, edge_tables[kind], key_text, detail);
}

static void
verify_edges(ReplayState *state, Differences *diff, DtEdgeKind kind,
			 DtStatement stmt)
{
	HASH_SEQ_STATUS scan;
	ReplayEdge *e;

	FOR_EACH_LIVE_ROW(stmt, row)
	{
		EdgeKey		key;

		key.a = dt_result_int64(row, 1, NULL);
		key.b = dt_result_int64(row, 2, NULL);
		e = hash_search(state->edges[kind], &key, HASH_FIND, NULL);
		if (e == NULL)
			report_edge(diff, kind, &key,
						"in the projection but not in a replay of the log");
		else
			e->seen = true;
	}
	hash_seq_init(&scan, state->edges[kind]);
	while ((e = hash_seq_search(&scan)) != NULL)
		if (!e->seen)
			report_edge(diff, kind, &e->key,
						"in a replay of the log but not in the projection");
}

/*
 * drivetribe.verify() returns TABLE(projection text, key text, detail text):
 * one row per difference between the projections and a replay of the log.
 */
PG_FUNCTION_INFO_V1(drivetribe_verify);
Datum
drivetribe_verify(PG_FUNCTION_ARGS)
{
	Differences diff;
	ReplayState *state;

	InitMaterializedSRF(fcinfo, 0);
	diff.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	initStringInfo(&diff.detail);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	state = replay_log(true);
	verify_users(state, &diff);
	verify_tribes(state, &diff);
	verify_articles(state, &diff);
	verify_comments(state, &diff);
	verify_edges(state, &diff, DT_EDGE_MEMBERSHIP, DT_SQL_MEMBERSHIPS_ALL);
	verify_edges(state, &diff, DT_EDGE_FOLLOW, DT_SQL_FOLLOWS_ALL);
	verify_edges(state, &diff, DT_EDGE_BUMP, DT_SQL_BUMPS_ALL);
	MemoryContextDelete(state->cxt);
	SPI_finish();
	return (Datum) 0;
}
