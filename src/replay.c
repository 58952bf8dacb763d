/*-------------------------------------------------------------------------
 *
 * replay.c
 *	  The projections recomputed from the log alone, into memory.
 *
 * dt_replay_log() reads the whole log in seq order through a cursor and
 * feeds every event to the same dt_project_event() the write API uses,
 * with a sink that folds the effects into hash tables, one entry per
 * projection row.  reconcile.c then compares each entry with its live row
 * once (verify) and writes the rows that differ (rebuild): updating one
 * row once per event inside a single transaction would walk an ever
 * longer version chain, quadratic in the number of events per row.
 *
 * Nothing in the log is trusted: every event is checked with
 * dt_event_problem() before it is applied, and an event that cannot be
 * applied (a malformed row, a reference to something the log never
 * created, an id created twice, an edge added twice or removed while
 * absent) raises data_corrupted naming its seq.
 *
 * Memory: per projection row a fixed-size entry (see replay.h); text is
 * kept as a hash plus the seq of the event holding it, so a long history
 * of renames or long comment bodies cost nothing extra.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "progress.h"
#include "replay.h"

const char *const dt_edge_tables[DT_NUM_EDGES] = {
	[DT_EDGE_MEMBERSHIP] = "memberships",
	[DT_EDGE_FOLLOW] = "follows",
	[DT_EDGE_BUMP] = "bumps",
};

const char *const dt_edge_key_names[DT_NUM_EDGES][2] = {
	[DT_EDGE_MEMBERSHIP] = {"tribe_id", "user_id"},
	[DT_EDGE_FOLLOW] = {"follower_id", "followee_id"},
	[DT_EDGE_BUMP] = {"article_id", "user_id"},
};

/* dt_text_hash: the 64-bit hash by which replayed text is compared */
uint64
dt_text_hash(const char *s, Size len)
{
	return hash_bytes_extended((const unsigned char *) s, (int) len, 0);
}

/*
 * dt_replayed_text: the value of a replayed text column, read back from
 * the body of the event that set it, under the snapshot the replay read
 * the log with.  Caller is connected to SPI; the
 * caller's SPI result (SPI_tuptable, SPI_processed) is left as it was, so
 * this may be called while the caller walks a batch of rows.
 */
char *
dt_replayed_text(const ReplayState *state, const ReplayText *t)
{
	SPITupleTable *saved_table = SPI_tuptable;
	uint64		saved_processed = SPI_processed;
	MemoryContext caller_cxt = CurrentMemoryContext;
	Datum		v[1] = {Int64GetDatum(t->seq)};
	char	   *text;

	dt_exec(DT_SQL_EVENT_BODY, v, NULL, state->read_only, 1);
	if (SPI_processed != 1)
		elog(ERROR, "drivetribe: event seq " INT64_FORMAT " vanished during a replay",
			 t->seq);
	/* the copy goes to the caller's context, not SPI's (see reconcile.c) */
	MemoryContextSwitchTo(caller_cxt);
	text = dt_result_text(0, 1);
	SPI_freetuptable(SPI_tuptable);
	SPI_tuptable = saved_table;
	SPI_processed = saved_processed;
	return text;
}

static void
set_text(ReplayState *state, ReplayText *t, const char *s)
{
	t->hash = dt_text_hash(s, strlen(s));
	t->seq = state->seq;
}

static HTAB *
make_table(ReplayState *state, const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = state->cxt;
	return hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
corrupt(ReplayState *state, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("drivetribe event log is corrupt at seq " INT64_FORMAT ": %s",
					state->seq, problem),
			 errdetail("verify() and rebuild() replay the whole log and cannot apply this event."),
			 errhint("Such a row cannot come from the write API.  A superuser can remove it "
					 "deliberately, in one transaction: SET LOCAL drivetribe.allow_log_ddl = on; "
					 "ALTER TABLE drivetribe.events DISABLE TRIGGER events_are_immutable; "
					 "DELETE the row; ALTER TABLE drivetribe.events ENABLE ALWAYS TRIGGER events_are_immutable."),
			 dt_errentity(DT_ENTITY_LOG)));
}

/* find an entity the log says exists; a miss means the log is corrupt */
static void *
existing(ReplayState *state, HTAB *table, int64 id, const char *what)
{
	void	   *entry = hash_search(table, &id, HASH_FIND, NULL);

	if (entry == NULL)
		corrupt(state, psprintf("it refers to %s " INT64_FORMAT
								", which no earlier event created", what, id));
	return entry;
}

/* a new zeroed entry for an entity the log creates */
static void *
created(ReplayState *state, HTAB *table, int64 id, const char *what,
		Size entrysize)
{
	bool		found;
	char	   *entry = hash_search(table, &id, HASH_ENTER, &found);

	if (found)
		corrupt(state, psprintf("it creates %s " INT64_FORMAT
								", which an earlier event created", what, id));
	memset(entry + sizeof(int64), 0, entrysize - sizeof(int64));
	return entry;
}

/* ---------- the replay sink ---------- */

static void
replay_user_created(void *ctx, int64 user_id, const char *name, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayUser *u = created(state, state->users, user_id, "user",
							sizeof(ReplayUser));

	set_text(state, &u->name, name);
	u->registered_at = at;
}

static void
replay_user_renamed(void *ctx, int64 user_id, const char *name)
{
	ReplayState *state = ctx;
	ReplayUser *u = existing(state, state->users, user_id, "user");

	set_text(state, &u->name, name);
}

static void
replay_tribe_created(void *ctx, int64 tribe_id, int64 owner_id,
					 const char *name, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayTribe *t = created(state, state->tribes, tribe_id, "tribe",
							 sizeof(ReplayTribe));

	t->owner_id = owner_id;
	set_text(state, &t->name, name);
	t->created_at = at;
}

static void
replay_tribe_renamed(void *ctx, int64 tribe_id, const char *name)
{
	ReplayState *state = ctx;
	ReplayTribe *t = existing(state, state->tribes, tribe_id, "tribe");

	set_text(state, &t->name, name);
}

static void
replay_article_created(void *ctx, int64 article_id, int64 tribe_id,
					   int64 author_id, const char *title, TimestampTz at)
{
	ReplayState *state = ctx;
	ReplayArticle *a;

	/* an article's tribe and author must exist when it is posted */
	(void) existing(state, state->tribes, tribe_id, "tribe");
	(void) existing(state, state->users, author_id, "user");
	a = created(state, state->articles, article_id, "article",
				sizeof(ReplayArticle));
	a->tribe_id = tribe_id;
	a->author_id = author_id;
	set_text(state, &a->title, title);
	a->posted_at = at;
}

static void
replay_article_retitled(void *ctx, int64 article_id, const char *title)
{
	ReplayState *state = ctx;
	ReplayArticle *a = existing(state, state->articles, article_id, "article");

	set_text(state, &a->title, title);
}

static void
replay_article_deleted(void *ctx, int64 article_id)
{
	ReplayState *state = ctx;
	ReplayArticle *a = existing(state, state->articles, article_id, "article");

	a->deleted = true;
}

static void
replay_comment_created(void *ctx, int64 comment_id, int64 article_id,
					   int64 author_id, const char *body, TimestampTz at,
					   int64 pos, int64 parent_comment_id)
{
	ReplayState *state = ctx;
	ReplayComment *c;

	(void) existing(state, state->articles, article_id, "article");
	(void) existing(state, state->users, author_id, "user");
	if (parent_comment_id != 0)
	{
		/* what post_comment checks of a reply's parent (write_api.c) */
		ReplayComment *parent = existing(state, state->comments,
										 parent_comment_id, "comment");

		if (parent->article_id != article_id)
			corrupt(state, psprintf("its parent comment " INT64_FORMAT " is a comment of article "
									INT64_FORMAT ", not of article " INT64_FORMAT,
									parent_comment_id, parent->article_id, article_id));
		if (parent->deleted)
			corrupt(state, psprintf("its parent comment " INT64_FORMAT " is deleted",
									parent_comment_id));
		parent->replies++;
	}
	c = created(state, state->comments, comment_id, "comment",
				sizeof(ReplayComment));
	c->article_id = article_id;
	c->author_id = author_id;
	set_text(state, &c->body, body);
	c->posted_at = at;
	c->pos = pos;
	c->parent_comment_id = parent_comment_id;
}

static void
replay_comment_deleted(void *ctx, int64 comment_id, int64 parent_comment_id)
{
	ReplayState *state = ctx;
	ReplayComment *c = existing(state, state->comments, comment_id, "comment");

	/* v1 events name no parent: every comment of 1.8 and before had none */
	if (c->parent_comment_id != parent_comment_id)
		corrupt(state, psprintf("it names parent comment " INT64_FORMAT
								" of comment " INT64_FORMAT ", whose parent is " INT64_FORMAT,
								parent_comment_id, comment_id, c->parent_comment_id));
	c->deleted = true;
	if (parent_comment_id != 0)
		((ReplayComment *) existing(state, state->comments, parent_comment_id,
									  "comment"))->replies--;
}

static void
replay_edge_set(void *ctx, DtEdgeKind kind, int64 a, int64 b, bool present)
{
	ReplayState *state = ctx;
	EdgeKey		key = {a, b};
	bool		found;
	ReplayEdge *e;

	e = hash_search(state->edges[kind], &key,
					present ? HASH_ENTER : HASH_REMOVE, &found);
	if (found != !present)
		corrupt(state, psprintf("it %s %s row (%s " INT64_FORMAT ", %s " INT64_FORMAT
								"), which %s",
								present ? "adds" : "removes",
								dt_edge_tables[kind],
								dt_edge_key_names[kind][0], a,
								dt_edge_key_names[kind][1], b,
								present ? "is already there" : "is not there"));
	if (present)
		e->seen = false;
}

static void
replay_user_counts(void *ctx, int64 user_id, const DtUserCounts *d)
{
	ReplayState *state = ctx;
	ReplayUser *u = existing(state, state->users, user_id, "user");

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
	ReplayTribe *t = existing(state, state->tribes, tribe_id, "tribe");

	t->counts.members += d->members;
	t->counts.articles += d->articles;
}

static void
replay_article_counts(void *ctx, int64 article_id, const DtArticleCounts *d)
{
	ReplayState *state = ctx;
	ReplayArticle *a = existing(state, state->articles, article_id, "article");

	a->counts.views += d->views;
	a->counts.comments += d->comments;
	a->counts.bumps += d->bumps;
}

static const DtSink replay_sink = {
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
};

/*
 * dt_replay_begin: a new, empty ReplayState, in a memory context of its
 * own, a child of the current one (which must outlive the replay: a
 * replay that commits between batches, rebuild.c's, keeps it in a context
 * that survives commits).  read_only = true reads event bodies back under
 * the caller's snapshot (verify); false under a new one per statement.
 */
ReplayState *
dt_replay_begin(bool read_only)
{
	ReplayState *state = palloc0(sizeof(ReplayState));
	int			i;

	state->read_only = read_only;
	state->cxt = AllocSetContextCreate(CurrentMemoryContext,
									   "drivetribe replay",
									   ALLOCSET_DEFAULT_SIZES);
	state->batch_cxt = AllocSetContextCreate(state->cxt,
											 "drivetribe replay batch",
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
		state->edges[i] = make_table(state, dt_edge_tables[i], sizeof(EdgeKey),
									 sizeof(ReplayEdge));
	return state;
}

/*
 * dt_replay_rows: fold the events of the current SPI result (rows in
 * EVENT_COLUMNS order, in seq order, after every event folded so far) into
 * state; each is one unit of the caller's progress.  Caller is connected
 * to SPI; the result is left for the caller to free.
 */
void
dt_replay_rows(ReplayState *state)
{
	DtSink		sink = replay_sink;
	MemoryContext old;

	sink.ctx = state;
	old = MemoryContextSwitchTo(state->batch_cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		DtEvent		ev;
		char	   *problem;

		dt_event_from_row((int) row, &ev);
		state->seq = ev.seq;
		problem = dt_event_problem(&ev);
		if (problem != NULL)
			corrupt(state, psprintf("%s event: %s",
									ev.kind < DT_NUM_KINDS ?
									dt_kind_names[ev.kind] : "unknown",
									problem));
		dt_project_event(&ev, &sink);
	}
	state->events += SPI_processed;
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->batch_cxt);
	dt_progress_advance((int64) SPI_processed);
}

/*
 * dt_replay_log: fold the whole log, in seq order, into a new ReplayState
 * (dt_replay_begin()).  Caller is connected to SPI.  read_only = true
 * reads under the caller's snapshot (verify); false takes a new one
 * (rebuild, after its lock).
 */
ReplayState *
dt_replay_log(bool read_only)
{
	ReplayState *state = dt_replay_begin(read_only);
	Portal		portal;

	/* phase 1 of the caller's two (reconcile.c's is phase 2) */
	dt_exec(DT_SQL_LOG_EXTENT, NULL, NULL, read_only, 1);
	dt_progress_phase(1, 2, "replaying the log", "events",
					  SPI_processed == 1 ? dt_result_int64(0, 1, NULL) : 0);
	SPI_freetuptable(SPI_tuptable);
	portal = SPI_cursor_open(NULL, dt_plan(dt_versioned_statement(DT_SQL_REPLAY_EVENTS)), NULL, NULL,
							 read_only);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, DT_REPLAY_BATCH);
		if (SPI_processed == 0)
			break;
		dt_replay_rows(state);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	dt_replay_done(state);
	return state;
}

/* dt_replay_done: the replay's size, at DEBUG1 */
void
dt_replay_done(ReplayState *state)
{
	elog(DEBUG1, "drivetribe replay: " INT64_FORMAT " events into %ld users, "
		 "%ld tribes, %ld articles, %ld comments, %ld memberships, %ld follows, "
		 "%ld bumps; replay memory %zu bytes",
		 state->events, hash_get_num_entries(state->users),
		 hash_get_num_entries(state->tribes),
		 hash_get_num_entries(state->articles),
		 hash_get_num_entries(state->comments),
		 hash_get_num_entries(state->edges[DT_EDGE_MEMBERSHIP]),
		 hash_get_num_entries(state->edges[DT_EDGE_FOLLOW]),
		 hash_get_num_entries(state->edges[DT_EDGE_BUMP]),
		 MemoryContextMemAllocated(state->cxt, true));
}
