/*-------------------------------------------------------------------------
 *
 * replay.h
 *	  The replay behind verify() and rebuild(): the projections recomputed
 *	  from the log into memory (replay.c), then compared with the live
 *	  tables, and for rebuild() corrected row by row (reconcile.c).
 *
 * Memory is bounded by the number of projection rows, not by the length
 * of the log or of its text: an entry holds ids, counters and times, and
 * for each text column (a name, a title, a body) only a 64-bit hash of
 * the value and the seq of the event whose body holds it.  The text itself
 * is read back from the log only for a row that differs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_REPLAY_H
#define DRIVETRIBE_REPLAY_H

#include "drivetribe.h"

#include "utils/hsearch.h"

/* events fetched per batch: 1,000 rows of at most 10,000-character bodies
 * keep the batch near 10 MB */
#define DT_REPLAY_BATCH 1000

/* a text column's replayed value: its hash and the event that holds it */
typedef struct ReplayText
{
	uint64		hash;
	int64		seq;			/* the event whose body is the value */
} ReplayText;

typedef struct ReplayUser
{
	int64		user_id;		/* hash key */
	ReplayText	name;
	TimestampTz registered_at;
	DtUserCounts counts;
	bool		seen;			/* matched with a live row */
} ReplayUser;

typedef struct ReplayTribe
{
	int64		tribe_id;		/* hash key */
	int64		owner_id;
	ReplayText	name;
	TimestampTz created_at;
	DtTribeCounts counts;
	bool		seen;
} ReplayTribe;

typedef struct ReplayArticle
{
	int64		article_id;		/* hash key */
	int64		tribe_id;
	int64		author_id;
	ReplayText	title;
	TimestampTz posted_at;
	DtArticleCounts counts;
	bool		deleted;
	bool		seen;
} ReplayArticle;

typedef struct ReplayComment
{
	int64		comment_id;		/* hash key */
	int64		article_id;
	int64		author_id;
	ReplayText	body;
	TimestampTz posted_at;
	int64		pos;			/* 1.7: the seq of its comment_posted */
	int64		parent_comment_id;	/* 1.9: the comment it replies to, or 0 */
	int64		replies;		/* 1.9: its live replies */
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
	MemoryContext cxt;			/* everything below lives here */
	MemoryContext batch_cxt;	/* a batch of events being folded */
	HTAB	   *users;
	HTAB	   *tribes;
	HTAB	   *articles;
	HTAB	   *comments;
	HTAB	   *edges[DT_NUM_EDGES];
	int64		events;			/* events replayed */
	int64		seq;			/* the event being applied */
	bool		read_only;		/* under the caller's snapshot (verify) */
} ReplayState;

extern const char *const dt_edge_tables[DT_NUM_EDGES];
extern const char *const dt_edge_key_names[DT_NUM_EDGES][2];

/* replay.c */
extern ReplayState *dt_replay_begin(bool read_only);
extern void dt_replay_rows(ReplayState *state);
extern void dt_replay_done(ReplayState *state);
extern ReplayState *dt_replay_log(bool read_only);
extern uint64 dt_text_hash(const char *s, Size len);
extern char *dt_replayed_text(const ReplayState *state, const ReplayText *t);

/* rows rebuild() wrote */
typedef struct DtReconcileCounts
{
	int64		inserted;
	int64		updated;
	int64		deleted;
} DtReconcileCounts;

/* called after each batch of rows rebuild() inserts; may commit */
typedef void (*DtBetweenBatches) (void *arg);

/* reconcile.c */
extern int64 dt_reconcile(ReplayState *state, bool repair,
						  ReturnSetInfo *rsinfo, DtReconcileCounts *counts,
						  DtBetweenBatches between, void *between_arg);

#endif							/* DRIVETRIBE_REPLAY_H */
