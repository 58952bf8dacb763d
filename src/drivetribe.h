/*-------------------------------------------------------------------------
 *
 * drivetribe.h
 *	  Shared declarations of the drivetribe extension: the event, the
 *	  projection sink interface, and the SPI statement catalogue.
 *
 * The event log (drivetribe.events) is the only source of truth.  Every
 * write function validates its call, locks the rows its decision depends
 * on, appends one event and hands that event to dt_project_event(), which
 * knows what each kind of event means for the projections and says so
 * through a DtSink.  Two sinks exist: the live sink (sink_live.c) applies
 * the effects to the projection tables at once, inside the caller's
 * transaction; the replay sink (replay.c) folds them into in-memory hash
 * tables so that rebuild() and verify() write or compare each row once.
 * The projection logic therefore exists once, and it needs nothing but the
 * event: every event is self-contained.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_H
#define DRIVETRIBE_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* Event kinds; the order is that of dt_kind_names[] */
typedef enum DtEventKind
{
	DT_USER_REGISTERED,
	DT_USER_RENAMED,
	DT_TRIBE_CREATED,
	DT_TRIBE_RENAMED,
	DT_TRIBE_JOINED,
	DT_TRIBE_LEFT,
	DT_USER_FOLLOWED,
	DT_USER_UNFOLLOWED,
	DT_ARTICLE_POSTED,
	DT_ARTICLE_EDITED,
	DT_ARTICLE_DELETED,
	DT_ARTICLE_VIEWED,
	DT_COMMENT_POSTED,
	DT_COMMENT_DELETED,
	DT_ARTICLE_BUMPED,
	DT_ARTICLE_UNBUMPED,
	DT_NUM_KINDS
} DtEventKind;

extern const char *const dt_kind_names[DT_NUM_KINDS];

/*
 * One event.  Ids are positive; 0 means "not part of this kind" (or, for
 * the viewer of article_viewed, anonymous).  See docs/design.md for which
 * field each kind uses.
 */
typedef struct DtEvent
{
	int64		seq;
	pg_uuid_t	event_id;
	DtEventKind kind;
	int			version;		/* the shape it was logged in (event_shapes.c) */
	TimestampTz occurred_at;

	int64		user_id;		/* the acting or subject user */
	int64		tribe_id;
	int64		article_id;
	int64		comment_id;
	int64		target_id;		/* the other user: followee, author, owner */
	int64		recipient_id;	/* whom a notifying kind notifies */
	const char *body;			/* new name, title or comment body */
	int64		parent_comment_id;	/* comment kinds (v2): the comment replied to */

	/* context: display names as of the event, and derived amounts */
	const char *user_name;
	const char *target_name;
	const char *tribe_name;
	const char *title;
	int64		bumps;			/* article_deleted: bumps the article had */
} DtEvent;

/* Counter deltas for one row of each projection table */
typedef struct DtUserCounts
{
	int64		articles;
	int64		comments;
	int64		bumps_given;
	int64		bumps_received;
	int64		followers;
	int64		following;
	int64		tribes;
} DtUserCounts;

typedef struct DtTribeCounts
{
	int64		members;
	int64		articles;
} DtTribeCounts;

typedef struct DtArticleCounts
{
	int64		views;
	int64		comments;
	int64		bumps;
} DtArticleCounts;

typedef enum DtEdgeKind
{
	DT_EDGE_MEMBERSHIP,			/* (tribe_id, user_id) */
	DT_EDGE_FOLLOW,				/* (follower_id, followee_id) */
	DT_EDGE_BUMP,				/* (article_id, user_id) */
	DT_NUM_EDGES
} DtEdgeKind;

/*
 * What an event does to the projections, one call per effect.  Counter
 * callbacks for several users of one event are made in ascending user_id
 * order (the lock order of the live sink).
 */
typedef struct DtSink
{
	void		(*user_created) (void *ctx, int64 user_id, const char *name,
								 TimestampTz at);
	void		(*user_renamed) (void *ctx, int64 user_id, const char *name);
	void		(*tribe_created) (void *ctx, int64 tribe_id, int64 owner_id,
								  const char *name, TimestampTz at);
	void		(*tribe_renamed) (void *ctx, int64 tribe_id, const char *name);
	void		(*article_created) (void *ctx, int64 article_id, int64 tribe_id,
									int64 author_id, const char *title,
									TimestampTz at);
	void		(*article_retitled) (void *ctx, int64 article_id,
									 const char *title);
	void		(*article_deleted) (void *ctx, int64 article_id);
	/* parent_comment_id: the comment it replies to, or 0 */
	void		(*comment_created) (void *ctx, int64 comment_id, int64 article_id,
									int64 author_id, const char *body,
									TimestampTz at, int64 pos,
									int64 parent_comment_id);
	void		(*comment_deleted) (void *ctx, int64 comment_id,
									int64 parent_comment_id);
	void		(*edge_set) (void *ctx, DtEdgeKind kind, int64 a, int64 b,
							 bool present);
	void		(*user_counts) (void *ctx, int64 user_id, const DtUserCounts *d);
	void		(*tribe_counts) (void *ctx, int64 tribe_id, const DtTribeCounts *d);
	void		(*article_counts) (void *ctx, int64 article_id,
								   const DtArticleCounts *d);
	void	   *ctx;
} DtSink;

/* worker.c: the owner of this database's extension, or InvalidOid */
extern Oid	dt_extension_owner(void);

/* project.c */
extern void dt_project_event(const DtEvent *ev, const DtSink *sink);

/* sink_live.c */
extern const DtSink dt_live_sink;

/* event.c */
extern DtEventKind dt_kind_from_name(const char *name);	/* DT_NUM_KINDS if none */
extern void dt_event_init(DtEvent *ev, DtEventKind kind);
extern void dt_event_new_id(DtEvent *ev);
extern int64 dt_event_append(DtEvent *ev);
extern bool dt_event_lookup(const pg_uuid_t *event_id, DtEvent *out);
extern void dt_event_from_row(int row, DtEvent *ev);
extern bool dt_event_same_call(const DtEvent *a, const DtEvent *b);
extern char *dt_uuid_to_cstring(const pg_uuid_t *uuid);
extern Datum dt_id_datum(int64 id, char *null);

/*
 * event_shapes.c: the shape (version) of each kind's events, and the one
 * place that reads an older shape as the current one.  Every reader of the
 * log calls dt_event_upcast() (a DtEvent) or dt_shape_upcast() (the
 * fields of a row) on what it read, before using it.
 */
#define DT_EVENT_VERSION_MAX 2	/* the highest version of any kind */

/* the fields a shape change has touched so far */
typedef struct DtShapeFields
{
	int64		parent_comment_id;	/* 0: none */
	int64		recipient_id;	/* 0: none */
} DtShapeFields;

extern int	dt_event_current_version(DtEventKind kind);
extern void dt_shape_upcast(DtEventKind kind, int version, DtShapeFields *fields);
extern void dt_event_upcast(DtEvent *ev);
extern bool dt_events_versioned(void);

/* the text limits of docs/reference.md, in characters */
#define DT_USER_NAME_LIMIT	64
#define DT_TRIBE_NAME_LIMIT 100
#define DT_TITLE_LIMIT		300
#define DT_BODY_LIMIT		10000

/*
 * What an API error is about (validate.c).  dt_errentity(), used inside an
 * ereport() after its errcode(), sets the error fields a driver exposes, so
 * that an application can tell "user 7 does not exist" from "article 7 does
 * not exist" without parsing the message: schema_name (drivetribe),
 * table_name (the entity's table), column_name (its key column, when the
 * error is about one key) and, for integrity constraint violations (SQLSTATE
 * class 23) only, constraint_name (the constraint the call was checked
 * against).  docs/design.md, "Errors", lists every error and its fields.
 */
typedef enum DtEntity
{
	DT_ENTITY_USER,				/* users.user_id, users_pkey */
	DT_ENTITY_TRIBE,			/* tribes.tribe_id, tribes_pkey */
	DT_ENTITY_ARTICLE,			/* articles.article_id, articles_pkey */
	DT_ENTITY_COMMENT,			/* comments.comment_id, comments_pkey */
	DT_ENTITY_EVENT_ID,			/* events.event_id, events_event_id_key */
	DT_ENTITY_NOOP_CALL,		/* noop_calls.event_id, noop_calls_pkey */
	DT_ENTITY_LOG,				/* events as a whole; CHECK events_valid */
	DT_NUM_ENTITIES
} DtEntity;

extern const char *dt_entity_noun(DtEntity entity);
extern int	dt_errentity(DtEntity entity);

/* validate.c */
extern bool dt_is_blank(const char *s, int bytes);
extern char *dt_clip(const char *s);
extern char *dt_text_problem(const char *what, const char *s, int limit);
extern char *dt_event_problem(const DtEvent *ev);
extern int64 dt_parse_count(const char *s);

/*
 * idempotency.c: a call's event_id.  dt_call_replay() takes the event_id's
 * advisory lock and looks the id up, in the log and among remembered
 * no-op calls, under the latest snapshot (so that a REPEATABLE READ
 * transaction sees a retry that committed after its snapshot).
 */
typedef enum DtCallOutcome
{
	DT_CALL_NEW,				/* not seen before: go ahead */
	DT_CALL_APPENDED,			/* the same call appended event *seq */
	DT_CALL_NOOP				/* the same call changed nothing (NULL) */
} DtCallOutcome;

extern DtCallOutcome dt_call_replay(const DtEvent *call, bool given,
									int64 *seq);
extern void dt_call_remember_noop(const DtEvent *call, bool given);

/* GUCs (drivetribe.c) */
extern bool dt_allow_log_ddl;
extern int	dt_idempotency_retention;
extern int	dt_hot_key_memory;
extern int	dt_switch_lock_timeout;

/*
 * statements.c: every SQL statement the C code runs, prepared once per
 * backend and kept.  All names are schema-qualified and operators pinned
 * to pg_catalog, so a caller's search_path cannot redirect them.
 */
typedef enum DtStatement
{
	/* event log */
	DT_SQL_EVENT_INSERT,
	DT_SQL_EVENT_BY_ID,
	DT_SQL_EVENT_BODY,
	/* idempotency keys of no-op calls */
	DT_SQL_NOOP_BY_ID,
	DT_SQL_NOOP_INSERT,
	DT_SQL_NOOP_PRUNE,
	/* decision reads and locks of the write API */
	DT_SQL_USER_GET,
	DT_SQL_USER_LOCK,
	DT_SQL_TRIBE_GET,
	DT_SQL_TRIBE_LOCK,
	DT_SQL_ARTICLE_LOCK,
	DT_SQL_ARTICLE_GET,
	DT_SQL_ARTICLE_EXISTS,
	DT_SQL_COMMENT_LOCK,
	DT_SQL_COMMENT_EXISTS,
	DT_SQL_MEMBERSHIP_EXISTS,
	DT_SQL_FOLLOW_EXISTS,
	DT_SQL_BUMP_EXISTS,
	/* live sink */
	DT_SQL_USER_INSERT,
	DT_SQL_USER_RENAME,
	DT_SQL_TRIBE_INSERT,
	DT_SQL_TRIBE_RENAME,
	DT_SQL_ARTICLE_INSERT,
	DT_SQL_ARTICLE_RETITLE,
	DT_SQL_ARTICLE_DELETE,
	DT_SQL_ARTICLE_CARD,
	DT_SQL_HAS_BUMPED,
	DT_SQL_COMMENT_INSERT,
	DT_SQL_COMMENT_DELETE,
	DT_SQL_MEMBERSHIP_INSERT,
	DT_SQL_MEMBERSHIP_DELETE,
	DT_SQL_FOLLOW_INSERT,
	DT_SQL_FOLLOW_DELETE,
	DT_SQL_BUMP_INSERT,
	DT_SQL_BUMP_DELETE,
	/* replay: read the log, write whole rows */
	DT_SQL_REPLAY_EVENTS,
	DT_SQL_LOG_EXTENT,
	DT_SQL_USER_RESTORE,
	DT_SQL_TRIBE_RESTORE,
	DT_SQL_ARTICLE_RESTORE,
	DT_SQL_COMMENT_RESTORE,
	DT_SQL_MEMBERSHIP_RESTORE,
	DT_SQL_FOLLOW_RESTORE,
	DT_SQL_BUMP_RESTORE,
	DT_SQL_USER_CORRECT,
	DT_SQL_TRIBE_CORRECT,
	DT_SQL_ARTICLE_CORRECT,
	DT_SQL_COMMENT_CORRECT,
	DT_SQL_USER_REMOVE,
	DT_SQL_TRIBE_REMOVE,
	DT_SQL_ARTICLE_REMOVE,
	DT_SQL_COMMENT_REMOVE,
	/* verify: read every projection row */
	DT_SQL_COMMENTS_ALL,
	DT_SQL_MEMBERSHIPS_ALL,
	DT_SQL_FOLLOWS_ALL,
	DT_SQL_BUMPS_ALL,
	/* 1.3 and later: articles carry their rank (articles.score) */
	DT_SQL_ARTICLE_INSERT_RANKED,
	DT_SQL_ARTICLE_RESTORE_RANKED,
	DT_SQL_ARTICLE_CORRECT_RANKED,
	DT_SQL_ARTICLE_STRIPES_EXIST,
	/* feeds (feed.c) */
	DT_SQL_FEED_SOURCES,
	DT_SQL_RANK_SCAN_FIRST,
	DT_SQL_RANK_SCAN_AFTER,
	DT_SQL_PAGE_CARDS,
	DT_SQL_FEED_MERGE_FIRST,
	DT_SQL_FEED_MERGE,
	DT_SQL_TRIBE_FEED_FIRST,
	DT_SQL_TRIBE_FEED_AFTER,
	/* 1.7 and later: the same over article_ranks (dt_rank_statement()) */
	DT_SQL_RANK_SCAN_FIRST_1_7,
	DT_SQL_RANK_SCAN_AFTER_1_7,
	DT_SQL_FEED_MERGE_FIRST_1_7,
	DT_SQL_FEED_MERGE_1_7,
	DT_SQL_TRIBE_FEED_FIRST_1_7,
	DT_SQL_TRIBE_FEED_AFTER_1_7,
	/* 1.7 and later: an article's rank row */
	DT_SQL_RANK_INSERT,
	DT_SQL_RANK_DELETE,
	DT_SQL_RANK_DIFFERENCES,
	DT_SQL_RANK_REPAIR,
	/* 1.7 and later: comments carry their position (comments.c) */
	DT_SQL_COMMENT_INSERT_POS,
	DT_SQL_COMMENT_RESTORE_POS,
	DT_SQL_COMMENT_CORRECT_POS,
	DT_SQL_COMMENTS_ALL_POS,
	DT_SQL_COMMENT_POSITION,
	DT_SQL_COMMENT_PAGE,
	/* 1.8 and later: registered projections (projection.c) */
	DT_SQL_PROJECTION_INSERT,
	DT_SQL_PROJECTION_IS_PROJECTOR,
	DT_SQL_PROJECTION_GET,
	DT_SQL_PROJECTION_BATCH,
	DT_SQL_PROJECTION_ADVANCE,
	DT_SQL_PROJECTION_REMAINING,
	DT_SQL_PROJECTION_SET_LIVE,
	DT_SQL_PROJECTION_NOTE_ERROR,
	DT_SQL_PROJECTION_RESET,
	DT_SQL_PROJECTION_DELETE,
	DT_SQL_PROJECTION_INLINE_LIST,
	DT_SQL_PROJECTION_EVENT,
	DT_SQL_PROJECTION_SET_STATE,
	DT_SQL_PROJECTION_TO_ASYNC,
	DT_SQL_PROJECTION_ASYNC_LIST,
	DT_SQL_PROJECTION_ASYNC_PENDING,
	/* 1.9 and later: events carry their version, comments their parent
	 * (dt_versioned_statement()) */
	DT_SQL_EVENT_INSERT_1_9,
	DT_SQL_EVENT_BY_ID_1_9,
	DT_SQL_REPLAY_EVENTS_1_9,
	DT_SQL_COMMENT_LOCK_1_9,
	DT_SQL_COMMENT_INSERT_1_9,
	DT_SQL_COMMENT_REPLIES,
	DT_SQL_COMMENT_RESTORE_1_9,
	DT_SQL_COMMENT_CORRECT_1_9,
	DT_SQL_COMMENTS_ALL_1_9,
	DT_SQL_COMMENT_PAGE_1_9,
	DT_SQL_PROJECTION_BATCH_1_9,
	DT_SQL_PROJECTION_EVENT_1_9,
	DT_NUM_STATEMENTS
} DtStatement;

/*
 * What this database's SQL version has, for the statements that differ:
 * one library serves every installed version (docs/reference.md, "Versions").
 */
typedef enum DtSchemaLevel
{
	DT_SCHEMA_PLAIN,			/* 1.0, 1.1: counters in their rows only */
	DT_SCHEMA_STRIPED,			/* 1.2: counter stripes */
	DT_SCHEMA_RANKED,			/* 1.3 to 1.6: stripes and articles.score */
	DT_SCHEMA_RANK_TABLE,		/* 1.7 and later: article_ranks */
	DT_NUM_SCHEMA_LEVELS
} DtSchemaLevel;

extern DtSchemaLevel dt_schema_level(void);
extern DtStatement dt_rank_statement(DtStatement stmt);
extern DtStatement dt_versioned_statement(DtStatement stmt);

/*
 * the ranking formula (docs/reference.md) as SQL over three int8 expressions and a timestamptz one,
 * pg_catalog's functions only (every reader may call them).  Every
 * statement that stores or checks a score uses this one text, so equal
 * counts give bit-equal scores.
 */
#define DT_SCORE_SQL(bumps, comments, views, posted_at) \
	"(pg_catalog.log10(GREATEST((10 OPERATOR(pg_catalog.*) (" bumps ")) " \
	"OPERATOR(pg_catalog.+) (5 OPERATOR(pg_catalog.*) (" comments ")) " \
	"OPERATOR(pg_catalog.+) (" views "), 1)::pg_catalog.float8) " \
	"OPERATOR(pg_catalog.+) (EXTRACT(epoch FROM " posted_at ") " \
	"OPERATOR(pg_catalog./) 45000)::pg_catalog.float8)"

extern SPIPlanPtr dt_plan(DtStatement stmt);

/* blue/green rebuild (rebuild.c): statements against the green tables */
extern void dt_target_green(bool green);
extern bool dt_targets_green(void);
extern char *dt_green_sql(const char *sql);
extern int	dt_projection_relations(const char *const **names);
extern int	dt_exec(DtStatement stmt, Datum *values, const char *nulls,
					bool read_only, long tcount);
extern int	dt_exec_latest(DtStatement stmt, Datum *values, const char *nulls);
extern int	dt_exec_latest_rows(DtStatement stmt, Datum *values,
								const char *nulls, long tcount);
extern int	dt_exec_expect(DtStatement stmt, Datum *values, const char *nulls,
						   int expected);

/* Convenience for reading SPI results */
extern int64 dt_result_int64(int row, int col, bool *isnull);
extern char *dt_result_text(int row, int col);
extern bool dt_result_text_equals(int row, int col, const char *s);
extern bool dt_result_bool(int row, int col);
extern void dt_put_result_rows(ReturnSetInfo *rsinfo, const char *what);

#endif							/* DRIVETRIBE_H */
