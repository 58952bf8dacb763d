/*-------------------------------------------------------------------------
 *
 * statements.c
 *	  The catalogue of SQL statements run by the extension's C code.
 *
 * Each statement is prepared on first use in a backend and kept for the
 * life of the backend (SPI_keepplan); plan invalidation re-plans it when a
 * table changes, and a dropped and re-created extension is found again by
 * name.  Every relation is schema-qualified and every operator written as
 * OPERATOR(pg_catalog.x), so the SQL means the same thing under any
 * search_path.  Values are always bound parameters, never spliced text.
 *
 * The plan array is the only process-global state of the extension; it is
 * a cache and holds nothing that outlives a transaction semantically.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "access/xact.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "drivetribe.h"

#define DT_MAX_ARGS 12

typedef struct DtStatementDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[DT_MAX_ARGS];
	bool		fast_start;		/* read through a cursor, a few rows at a time */
} DtStatementDef;

#define EQ " OPERATOR(pg_catalog.=) "
#define PLUS " OPERATOR(pg_catalog.+) "
#define NE " OPERATOR(pg_catalog.<>) "

#define EVENT_COLUMNS \
	"seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, " \
	"comment_id, target_id, recipient_id, body, " \
	"context OPERATOR(pg_catalog.->>) 'bumps' AS bumps"
/* 1.9: and the shape's version and the parent comment (event_shapes.c) */
#define EVENT_COLUMNS_1_9 EVENT_COLUMNS ", version, parent_comment_id"

/*
 * Article rows, with and without the stored score of 1.3: COLS/VALS (or
 * SET) add the score's column and value.  RESTORE inserts many rows from
 * arrays, one per column, the title as the seq of the event holding it;
 * CORRECT rewrites one row, likewise.
 */
#define ARTICLE_INSERT_SQL(cols, vals) \
	"INSERT INTO drivetribe.articles (article_id, tribe_id, author_id, " \
	"title, posted_at" cols ") VALUES ($1, $2, $3, $4, $5" vals ")"

#define ARTICLE_RESTORE_SQL(cols, vals) \
	"INSERT INTO drivetribe.articles (article_id, tribe_id, author_id, " \
	"title, posted_at, deleted, views, comments, bumps" cols ") " \
	"SELECT r.id, r.tribe, r.author, e.body, r.at, r.deleted, r.v, r.c, r.b" vals " " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), " \
	"pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), " \
	"pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9)) " \
	"AS r(id, tribe, author, text_seq, at, deleted, v, c, b) " \
	"JOIN ONLY drivetribe.events e ON e.seq" EQ "r.text_seq"
#define ARTICLE_RESTORE_TYPES \
	{INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, \
	 TIMESTAMPTZARRAYOID, BOOLARRAYOID, INT8ARRAYOID, INT8ARRAYOID, \
	 INT8ARRAYOID}

#define ARTICLE_CORRECT_SQL(set) \
	"UPDATE drivetribe.articles r SET tribe_id = $2, author_id = $3, " \
	"title = e.body, posted_at = $5, deleted = $6, views = $7, " \
	"comments = $8, bumps = $9" set " " \
	"FROM ONLY drivetribe.events e WHERE r.article_id" EQ "$1 AND e.seq" EQ "$4"
#define ARTICLE_CORRECT_TYPES \
	{INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, \
	 INT8OID, INT8OID, INT8OID}

/* feeds: rows strictly after ($3, $4) in (score DESC, article_id DESC) */
#define AFTER_CURSOR \
	" AND ROW(a.score, a.article_id) OPERATOR(pg_catalog.<) ROW($3, $4)"

/*
 * Where the ranking lives: 1.3 to 1.6 in the live rows of articles, 1.7
 * on in article_ranks (one row per live article).  "FROM ... WHERE" up to
 * the first condition.
 */
#define RANKED_1_3	"drivetribe.articles a WHERE NOT a.deleted AND "
#define RANKED_1_7	"drivetribe.article_ranks a WHERE "

/* one source's best live articles: "a.<column> = <source>" */
#define SOURCE_TOP(ranked, column, source, after) \
	"SELECT a.article_id, a.score FROM " ranked \
	"a." column EQ source after " " \
	"ORDER BY a.score DESC, a.article_id DESC LIMIT $2"

/* the cards of a page (p: article_id, score), in page order */
#define PAGE_CARDS(page) \
	"SELECT v.* FROM (" page ") p " \
	"JOIN drivetribe.article_view v ON v.article_id" EQ "p.article_id " \
	"ORDER BY p.score DESC, p.article_id DESC"

#define FEED_MERGE_SQL(ranked, after) \
	"SELECT c.article_id, c.score FROM (" \
	"SELECT x.article_id, x.score FROM drivetribe.memberships m " \
	"CROSS JOIN LATERAL (" SOURCE_TOP(ranked, "tribe_id", "m.tribe_id", after) ") x " \
	"WHERE m.user_id" EQ "$1 " \
	"UNION " \
	"SELECT y.article_id, y.score FROM drivetribe.follows f " \
	"CROSS JOIN LATERAL (" SOURCE_TOP(ranked, "author_id", "f.followee_id", after) ") y " \
	"WHERE f.follower_id" EQ "$1" \
	") c ORDER BY c.score DESC, c.article_id DESC LIMIT $2"

#define RANK_SCAN(ranked, after) \
	"SELECT a.article_id, a.score, a.tribe_id, a.author_id " \
	"FROM " ranked "true" after " " \
	"ORDER BY a.score DESC, a.article_id DESC"

#define TRIBE_FEED_SQL(ranked, after) \
	PAGE_CARDS(SOURCE_TOP(ranked, "tribe_id", "$1", after))

#define RANK_AFTER \
	" AND ROW(a.score, a.article_id) OPERATOR(pg_catalog.<) ROW($1, $2)"

/* the ranking formula (docs/reference.md) over an article's row plus its stripes (alias a, sums d) */
#define LIVE_SCORE_SQL \
	DT_SCORE_SQL("a.bumps" PLUS "COALESCE(d.bumps, 0)", \
				 "a.comments" PLUS "COALESCE(d.comments, 0)", \
				 "a.views" PLUS "COALESCE(d.views, 0)", "a.posted_at")

/* every article's stripe sums (d), joined to articles a */
#define STRIPE_SUMS_JOIN \
	" LEFT JOIN (SELECT x.article_id, " \
	"pg_catalog.sum(x.views)::pg_catalog.int8 AS views, " \
	"pg_catalog.sum(x.comments)::pg_catalog.int8 AS comments, " \
	"pg_catalog.sum(x.bumps)::pg_catalog.int8 AS bumps " \
	"FROM drivetribe.article_stripes x GROUP BY x.article_id) d " \
	"ON d.article_id" EQ "a.article_id"

/* every live article's rank as it should be (rebuild, verify) */
#define RANKS_DUE_SQL \
	"SELECT a.article_id, a.tribe_id, a.author_id, " LIVE_SCORE_SQL " AS score, " \
	"d.article_id IS NOT NULL AS striped " \
	"FROM drivetribe.articles a" STRIPE_SUMS_JOIN " WHERE NOT a.deleted"

/*
 * Comment rows, with and without the position of 1.7 (comments.pos):
 * the RESTORE and CORRECT statements as for articles, the position ($7)
 * added at the end.
 */
#define COMMENT_RESTORE_SQL(cols, vals, arrays, names) \
	"INSERT INTO drivetribe.comments (comment_id, article_id, author_id, " \
	"body, posted_at, deleted" cols ") " \
	"SELECT r.id, r.article, r.author, e.body, r.at, r.deleted" vals " " \
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), " \
	"pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6)" arrays ") " \
	"AS r(id, article, author, text_seq, at, deleted" names ") " \
	"JOIN ONLY drivetribe.events e ON e.seq" EQ "r.text_seq"
#define COMMENT_RESTORE_TYPES \
	{INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, \
	 TIMESTAMPTZARRAYOID, BOOLARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}

#define COMMENT_CORRECT_SQL(set) \
	"UPDATE drivetribe.comments r SET article_id = $2, author_id = $3, " \
	"body = e.body, posted_at = $5, deleted = $6" set " " \
	"FROM ONLY drivetribe.events e WHERE r.comment_id" EQ "$1 AND e.seq" EQ "$4"
#define COMMENT_CORRECT_TYPES \
	{INT8OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, INT8OID, \
	 INT8OID, INT8OID}

/*
 * A projection's batch (see DT_SQL_PROJECTION_BATCH); from 1.9 each event
 * goes to the handler in the current shape (event_as_current(), one call
 * per event, the event itself when it is current).
 */
#define PROJECTION_BATCH_SQL(ev) \
	"SELECT pg_catalog.count(*), " \
	"((pg_catalog.max(ARRAY[b.txid::text::int8, b.seq]))[1])::text::pg_catalog.xid8, " \
	"(pg_catalog.max(ARRAY[b.txid::text::int8, b.seq]))[2], " \
	"pg_catalog.array_agg(" ev ") FILTER (WHERE b.seq OPERATOR(pg_catalog.>) $6 AND " \
	"($5 IS NULL OR b.kind OPERATOR(pg_catalog.=) ANY ($5))) " \
	"FROM (SELECT e AS ev, e.txid, e.seq, e.kind FROM ONLY drivetribe.events e " \
	"WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW($1, $2) " \
	"AND (NOT $4 OR e.txid OPERATOR(pg_catalog.<) " \
	"pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())) " \
	"AND (NOT $7 OR e.txid" EQ "(SELECT f.txid FROM ONLY drivetribe.events f " \
	"WHERE ROW(f.txid, f.seq) OPERATOR(pg_catalog.>) ROW($1, $2) " \
	"ORDER BY f.txid, f.seq LIMIT 1)) " \
	"ORDER BY e.txid, e.seq LIMIT $3) b"
#define PROJECTION_BATCH_TYPES \
	{XID8OID, INT8OID, INT8OID, BOOLOID, TEXTARRAYOID, INT8OID, BOOLOID}

/* the append (see DT_SQL_EVENT_INSERT); 1.9 adds version and parent */
#define EVENT_INSERT_SQL(cols, vals) \
	"INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, " \
	"tribe_id, article_id, comment_id, target_id, recipient_id, body, context" \
	cols ") " \
	"SELECT s.seq, $1, $2, pg_catalog.now(), $3, $4, $5, $6, $7, $8, $9, " \
	"$10::pg_catalog.jsonb" vals " " \
	"FROM (SELECT pg_catalog.nextval('drivetribe.event_seq'::pg_catalog.regclass) AS seq) s " \
	"WHERE NOT EXISTS (SELECT FROM ONLY drivetribe.events e " \
	"WHERE e.seq OPERATOR(pg_catalog.>=) s.seq) " \
	"RETURNING seq, occurred_at"
#define EVENT_INSERT_TYPES \
	{UUIDOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, \
	 INT8OID, TEXTOID, TEXTOID, INT2OID, INT8OID}

#define COMMENTS_ALL_SQL(cols) \
	"SELECT comment_id, article_id, author_id, body, posted_at, deleted" cols " " \
	"FROM drivetribe.comments"

static const DtStatementDef statement_defs[DT_NUM_STATEMENTS] = {
	/*
	 * The append.  Its seq is drawn here, not by the column's default, so
	 * that the row is inserted only when the seq exceeds every seq in the
	 * log (1.7): the statement's snapshot is taken before nextval(), so any
	 * row it sees drew its seq earlier, and a smaller one, unless the
	 * sequence was moved back (setval).  No row: dt_event_append() refuses.
	 */
	[DT_SQL_EVENT_INSERT] = {
		EVENT_INSERT_SQL("", ""),
		10, EVENT_INSERT_TYPES
	},
	[DT_SQL_EVENT_BY_ID] = {
		"SELECT " EVENT_COLUMNS " FROM ONLY drivetribe.events WHERE event_id" EQ "$1",
		1, {UUIDOID}
	},

	[DT_SQL_EVENT_BODY] = {
		"SELECT body FROM ONLY drivetribe.events WHERE seq" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_NOOP_BY_ID] = {
		"SELECT kind, user_id, tribe_id, article_id, comment_id, target_id, "
		"body FROM drivetribe.noop_calls WHERE event_id" EQ "$1",
		1, {UUIDOID}
	},
	[DT_SQL_NOOP_INSERT] = {
		"INSERT INTO drivetribe.noop_calls (event_id, kind, user_id, tribe_id, "
		"article_id, comment_id, target_id, body) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		8, {UUIDOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
		TEXTOID}
	},
	[DT_SQL_NOOP_PRUNE] = {
		"DELETE FROM drivetribe.noop_calls WHERE called_at OPERATOR(pg_catalog.<) "
		"(pg_catalog.now() OPERATOR(pg_catalog.-) "
		"pg_catalog.make_interval(secs => $1))",
		1, {FLOAT8OID}
	},

	[DT_SQL_USER_GET] = {
		"SELECT name FROM drivetribe.users WHERE user_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_USER_LOCK] = {
		"SELECT name FROM drivetribe.users WHERE user_id" EQ "$1 "
		"FOR NO KEY UPDATE",
		1, {INT8OID}
	},
	[DT_SQL_TRIBE_GET] = {
		"SELECT owner_id, name FROM drivetribe.tribes WHERE tribe_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_TRIBE_LOCK] = {
		"SELECT owner_id, name FROM drivetribe.tribes WHERE tribe_id" EQ "$1 "
		"FOR NO KEY UPDATE",
		1, {INT8OID}
	},
	[DT_SQL_ARTICLE_LOCK] = {
		"SELECT tribe_id, author_id, title, deleted "
		"FROM drivetribe.articles WHERE article_id" EQ "$1 FOR NO KEY UPDATE",
		1, {INT8OID}
	},
	[DT_SQL_ARTICLE_GET] = {
		"SELECT tribe_id, author_id, title, deleted "
		"FROM drivetribe.articles WHERE article_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_ARTICLE_CARD] = {
		"SELECT * FROM drivetribe.article_view v WHERE v.article_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_HAS_BUMPED] = {
		"SELECT EXISTS (SELECT FROM drivetribe.bumps b "
		"JOIN drivetribe.articles a ON a.article_id" EQ "b.article_id "
		"WHERE b.article_id" EQ "$1 AND b.user_id" EQ "$2 AND NOT a.deleted)",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_ARTICLE_EXISTS] = {
		"SELECT 1 FROM drivetribe.articles WHERE article_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_COMMENT_LOCK] = {
		"SELECT article_id, author_id, deleted FROM drivetribe.comments "
		"WHERE comment_id" EQ "$1 FOR NO KEY UPDATE",
		1, {INT8OID}
	},
	[DT_SQL_COMMENT_EXISTS] = {
		"SELECT 1 FROM drivetribe.comments WHERE comment_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_MEMBERSHIP_EXISTS] = {
		"SELECT 1 FROM drivetribe.memberships "
		"WHERE tribe_id" EQ "$1 AND user_id" EQ "$2",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_FOLLOW_EXISTS] = {
		"SELECT 1 FROM drivetribe.follows "
		"WHERE follower_id" EQ "$1 AND followee_id" EQ "$2",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_BUMP_EXISTS] = {
		"SELECT 1 FROM drivetribe.bumps "
		"WHERE article_id" EQ "$1 AND user_id" EQ "$2",
		2, {INT8OID, INT8OID}
	},

	[DT_SQL_USER_INSERT] = {
		"INSERT INTO drivetribe.users (user_id, name, registered_at) "
		"VALUES ($1, $2, $3)",
		3, {INT8OID, TEXTOID, TIMESTAMPTZOID}
	},
	[DT_SQL_USER_RENAME] = {
		"UPDATE drivetribe.users SET name = $2 WHERE user_id" EQ "$1",
		2, {INT8OID, TEXTOID}
	},
	[DT_SQL_TRIBE_INSERT] = {
		"INSERT INTO drivetribe.tribes (tribe_id, owner_id, name, created_at) "
		"VALUES ($1, $2, $3, $4)",
		4, {INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
	},
	[DT_SQL_TRIBE_RENAME] = {
		"UPDATE drivetribe.tribes SET name = $2 WHERE tribe_id" EQ "$1",
		2, {INT8OID, TEXTOID}
	},
	[DT_SQL_ARTICLE_INSERT] = {
		ARTICLE_INSERT_SQL("", ""),
		5, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
	},
	[DT_SQL_ARTICLE_RETITLE] = {
		"UPDATE drivetribe.articles SET title = $2 WHERE article_id" EQ "$1",
		2, {INT8OID, TEXTOID}
	},
	[DT_SQL_ARTICLE_DELETE] = {
		"UPDATE drivetribe.articles SET deleted = true "
		"WHERE article_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_COMMENT_INSERT] = {
		"INSERT INTO drivetribe.comments (comment_id, article_id, author_id, "
		"body, posted_at) VALUES ($1, $2, $3, $4, $5)",
		5, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
	},
	[DT_SQL_COMMENT_DELETE] = {
		"UPDATE drivetribe.comments SET deleted = true "
		"WHERE comment_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_MEMBERSHIP_INSERT] = {
		"INSERT INTO drivetribe.memberships (tribe_id, user_id) VALUES ($1, $2)",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_MEMBERSHIP_DELETE] = {
		"DELETE FROM drivetribe.memberships "
		"WHERE tribe_id" EQ "$1 AND user_id" EQ "$2",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_FOLLOW_INSERT] = {
		"INSERT INTO drivetribe.follows (follower_id, followee_id) "
		"VALUES ($1, $2)",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_FOLLOW_DELETE] = {
		"DELETE FROM drivetribe.follows "
		"WHERE follower_id" EQ "$1 AND followee_id" EQ "$2",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_BUMP_INSERT] = {
		"INSERT INTO drivetribe.bumps (article_id, user_id) VALUES ($1, $2)",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_BUMP_DELETE] = {
		"DELETE FROM drivetribe.bumps "
		"WHERE article_id" EQ "$1 AND user_id" EQ "$2",
		2, {INT8OID, INT8OID}
	},

	[DT_SQL_REPLAY_EVENTS] = {
		"SELECT " EVENT_COLUMNS " FROM ONLY drivetribe.events ORDER BY seq",
		0, {InvalidOid}
	},
	/* the replay's progress total: the seq range, read at both ends of the
	 * index (count(*) would scan the log); more than the events by the
	 * seqs of appends that rolled back */
	[DT_SQL_LOG_EXTENT] = {
		"SELECT COALESCE(pg_catalog.max(seq) OPERATOR(pg_catalog.-) "
		"pg_catalog.min(seq) OPERATOR(pg_catalog.+) 1, 0) FROM ONLY drivetribe.events",
		0, {InvalidOid}
	},

	/*
	 * rebuild(): rows the projection lacks, many per statement, from arrays
	 * (one per column, the same length); text columns come as the seq of
	 * the event whose body holds the value.
	 */
	[DT_SQL_USER_RESTORE] = {
		"INSERT INTO drivetribe.users (user_id, name, registered_at, articles, "
		"comments, bumps_given, bumps_received, followers, following, tribes) "
		"SELECT r.id, e.body, r.at, r.a, r.c, r.bg, r.br, r.fr, r.fg, r.t "
		"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
		"pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), "
		"pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), "
		"pg_catalog.unnest($10)) "
		"AS r(id, text_seq, at, a, c, bg, br, fr, fg, t) "
		"JOIN ONLY drivetribe.events e ON e.seq" EQ "r.text_seq",
		10, {INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID,
			INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
		INT8ARRAYOID}
	},
	[DT_SQL_TRIBE_RESTORE] = {
		"INSERT INTO drivetribe.tribes (tribe_id, owner_id, name, created_at, "
		"members, articles) SELECT r.id, r.owner, e.body, r.at, r.m, r.a "
		"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
		"pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6)) "
		"AS r(id, owner, text_seq, at, m, a) "
		"JOIN ONLY drivetribe.events e ON e.seq" EQ "r.text_seq",
		6, {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID,
		INT8ARRAYOID, INT8ARRAYOID}
	},
	[DT_SQL_ARTICLE_RESTORE] = {
		ARTICLE_RESTORE_SQL("", ""),
		9, ARTICLE_RESTORE_TYPES
	},
	[DT_SQL_COMMENT_RESTORE] = {
		COMMENT_RESTORE_SQL("", "", "", ""),
		6, COMMENT_RESTORE_TYPES
	},
	[DT_SQL_MEMBERSHIP_RESTORE] = {
		"INSERT INTO drivetribe.memberships (tribe_id, user_id) "
		"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))",
		2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	[DT_SQL_FOLLOW_RESTORE] = {
		"INSERT INTO drivetribe.follows (follower_id, followee_id) "
		"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))",
		2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	[DT_SQL_BUMP_RESTORE] = {
		"INSERT INTO drivetribe.bumps (article_id, user_id) "
		"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))",
		2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	/* rebuild(): one row that differs; text as the seq holding it */
	[DT_SQL_USER_CORRECT] = {
		"UPDATE drivetribe.users r SET name = e.body, registered_at = $3, "
		"articles = $4, comments = $5, bumps_given = $6, bumps_received = $7, "
		"followers = $8, following = $9, tribes = $10 "
		"FROM ONLY drivetribe.events e WHERE r.user_id" EQ "$1 AND e.seq" EQ "$2",
		10, {INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID,
		INT8OID, INT8OID, INT8OID, INT8OID}
	},
	[DT_SQL_TRIBE_CORRECT] = {
		"UPDATE drivetribe.tribes r SET owner_id = $2, name = e.body, "
		"created_at = $4, members = $5, articles = $6 "
		"FROM ONLY drivetribe.events e WHERE r.tribe_id" EQ "$1 AND e.seq" EQ "$3",
		6, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID, INT8OID}
	},
	[DT_SQL_ARTICLE_CORRECT] = {
		ARTICLE_CORRECT_SQL(""),
		9, ARTICLE_CORRECT_TYPES
	},
	[DT_SQL_COMMENT_CORRECT] = {
		COMMENT_CORRECT_SQL(""),
		6, COMMENT_CORRECT_TYPES
	},
	[DT_SQL_USER_REMOVE] = {
		"DELETE FROM drivetribe.users WHERE user_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_TRIBE_REMOVE] = {
		"DELETE FROM drivetribe.tribes WHERE tribe_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_ARTICLE_REMOVE] = {
		"DELETE FROM drivetribe.articles WHERE article_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_COMMENT_REMOVE] = {
		"DELETE FROM drivetribe.comments WHERE comment_id" EQ "$1",
		1, {INT8OID}
	},

	[DT_SQL_COMMENTS_ALL] = {
		COMMENTS_ALL_SQL(""),
		0, {InvalidOid}
	},
	[DT_SQL_MEMBERSHIPS_ALL] = {
		"SELECT tribe_id, user_id FROM drivetribe.memberships",
		0, {InvalidOid}
	},
	[DT_SQL_FOLLOWS_ALL] = {
		"SELECT follower_id, followee_id FROM drivetribe.follows",
		0, {InvalidOid}
	},
	[DT_SQL_BUMPS_ALL] = {
		"SELECT article_id, user_id FROM drivetribe.bumps",
		0, {InvalidOid}
	},

	/* 1.3 and later: the article's score stored with its counts */
	[DT_SQL_ARTICLE_INSERT_RANKED] = {
		ARTICLE_INSERT_SQL(", score", ", " DT_SCORE_SQL("0", "0", "0", "$5")),
		5, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}
	},
	[DT_SQL_ARTICLE_RESTORE_RANKED] = {
		ARTICLE_RESTORE_SQL(", score", ", " DT_SCORE_SQL("r.b", "r.c", "r.v", "r.at")),
		9, ARTICLE_RESTORE_TYPES
	},
	[DT_SQL_ARTICLE_CORRECT_RANKED] = {
		ARTICLE_CORRECT_SQL(", score = " DT_SCORE_SQL("$9", "$8", "$7", "$5")),
		9, ARTICLE_CORRECT_TYPES
	},

	[DT_SQL_ARTICLE_STRIPES_EXIST] = {
		"SELECT EXISTS (SELECT FROM drivetribe.article_stripes)",
		0, {InvalidOid}
	},

	/*
	 * Feeds (feed.c explains the plan).  $1 reader or tribe, $2 rows
	 * wanted, $3/$4 the position to start after.  The merge: from each
	 * source (a tribe the reader is a member of, an author they follow) at
	 * most $2 rows of its rank index, then the best $2 of their union.
	 */
	[DT_SQL_FEED_MERGE_FIRST] = {
		FEED_MERGE_SQL(RANKED_1_3, ""),
		2, {INT8OID, INT4OID}
	},
	[DT_SQL_FEED_MERGE] = {
		FEED_MERGE_SQL(RANKED_1_3, AFTER_CURSOR),
		4, {INT8OID, INT4OID, FLOAT8OID, INT8OID}
	},
	/* the reader's sources: 0 = a tribe, 1 = an author */
	[DT_SQL_FEED_SOURCES] = {
		"SELECT 0, m.tribe_id FROM drivetribe.memberships m WHERE m.user_id" EQ "$1 "
		"UNION ALL "
		"SELECT 1, f.followee_id FROM drivetribe.follows f WHERE f.follower_id" EQ "$1",
		1, {INT8OID}
	},
	/* every live article by rank, from the top or after ($1, $2) */
	[DT_SQL_RANK_SCAN_FIRST] = {
		RANK_SCAN(RANKED_1_3, ""),
		0, {InvalidOid}, true
	},
	[DT_SQL_RANK_SCAN_AFTER] = {
		RANK_SCAN(RANKED_1_3, RANK_AFTER),
		2, {FLOAT8OID, INT8OID}, true
	},
	/* the cards of a page's articles ($1), in the array's order */
	[DT_SQL_PAGE_CARDS] = {
		"SELECT v.* FROM pg_catalog.unnest($1) WITH ORDINALITY AS p(article_id, ord) "
		"JOIN drivetribe.article_view v ON v.article_id" EQ "p.article_id "
		"ORDER BY p.ord",
		1, {INT8ARRAYOID}
	},
	[DT_SQL_TRIBE_FEED_FIRST] = {
		TRIBE_FEED_SQL(RANKED_1_3, ""),
		2, {INT8OID, INT4OID}
	},
	[DT_SQL_TRIBE_FEED_AFTER] = {
		TRIBE_FEED_SQL(RANKED_1_3, AFTER_CURSOR),
		4, {INT8OID, INT4OID, FLOAT8OID, INT8OID}
	},

	/* 1.7 and later: the same statements over article_ranks */
	[DT_SQL_RANK_SCAN_FIRST_1_7] = {
		RANK_SCAN(RANKED_1_7, ""),
		0, {InvalidOid}, true
	},
	[DT_SQL_RANK_SCAN_AFTER_1_7] = {
		RANK_SCAN(RANKED_1_7, RANK_AFTER),
		2, {FLOAT8OID, INT8OID}, true
	},
	[DT_SQL_FEED_MERGE_FIRST_1_7] = {
		FEED_MERGE_SQL(RANKED_1_7, ""),
		2, {INT8OID, INT4OID}
	},
	[DT_SQL_FEED_MERGE_1_7] = {
		FEED_MERGE_SQL(RANKED_1_7, AFTER_CURSOR),
		4, {INT8OID, INT4OID, FLOAT8OID, INT8OID}
	},
	[DT_SQL_TRIBE_FEED_FIRST_1_7] = {
		TRIBE_FEED_SQL(RANKED_1_7, ""),
		2, {INT8OID, INT4OID}
	},
	[DT_SQL_TRIBE_FEED_AFTER_1_7] = {
		TRIBE_FEED_SQL(RANKED_1_7, AFTER_CURSOR),
		4, {INT8OID, INT4OID, FLOAT8OID, INT8OID}
	},

	/*
	 * 1.7 and later: a live article's rank row.  post_article inserts it
	 * (no counts yet), delete_article deletes it; the rank worker sets
	 * its score (counters.c).  rebuild() repairs every row at once and
	 * verify() lists the rows that differ from what the articles' rows
	 * and stripes say: missing, extra, another tribe or author, or a
	 * score off the ranking formula (docs/reference.md) over counts that have no stripe pending.
	 */
	[DT_SQL_RANK_INSERT] = {
		"INSERT INTO drivetribe.article_ranks (article_id, tribe_id, author_id, score) "
		"VALUES ($1, $2, $3, " DT_SCORE_SQL("0", "0", "0", "$4") ")",
		4, {INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID}
	},
	[DT_SQL_RANK_DELETE] = {
		"DELETE FROM drivetribe.article_ranks WHERE article_id" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_RANK_DIFFERENCES] = {
		"SELECT COALESCE(l.article_id, r.article_id), CASE "
		"WHEN r.article_id IS NULL THEN 'missing' "
		"WHEN l.article_id IS NULL THEN 'extra' "
		"WHEN r.tribe_id" NE "l.tribe_id OR r.author_id" NE "l.author_id THEN "
		"pg_catalog.format('tribe_id, author_id: live %s, %s; the article''s %s, %s', "
		"r.tribe_id, r.author_id, l.tribe_id, l.author_id) "
		"ELSE pg_catalog.format('score: live %s, not the ranking formula over its counts (%s)', "
		"r.score, l.score) END "
		"FROM (" RANKS_DUE_SQL ") l "
		"FULL JOIN drivetribe.article_ranks r ON r.article_id" EQ "l.article_id "
		"WHERE r.article_id IS NULL OR l.article_id IS NULL "
		"OR r.tribe_id" NE "l.tribe_id OR r.author_id" NE "l.author_id "
		"OR (NOT l.striped AND r.score" NE "l.score) "
		"ORDER BY 1",
		0, {InvalidOid}
	},
	[DT_SQL_RANK_REPAIR] = {
		"WITH due AS (" RANKS_DUE_SQL "), "
		"gone AS (DELETE FROM drivetribe.article_ranks r WHERE NOT EXISTS "
		"(SELECT FROM due WHERE due.article_id" EQ "r.article_id) RETURNING 1), "
		"put AS (INSERT INTO drivetribe.article_ranks AS r "
		"(article_id, tribe_id, author_id, score) "
		"SELECT due.article_id, due.tribe_id, due.author_id, due.score FROM due "
		"ON CONFLICT (article_id) DO UPDATE SET tribe_id = EXCLUDED.tribe_id, "
		"author_id = EXCLUDED.author_id, score = EXCLUDED.score "
		"WHERE (r.tribe_id, r.author_id, r.score) IS DISTINCT FROM "
		"(EXCLUDED.tribe_id, EXCLUDED.author_id, EXCLUDED.score) RETURNING 1) "
		"SELECT (SELECT pg_catalog.count(*) FROM gone), (SELECT pg_catalog.count(*) FROM put)",
		0, {InvalidOid}
	},

	/* 1.7 and later: a comment's position (comments.c) */
	[DT_SQL_COMMENT_INSERT_POS] = {
		"INSERT INTO drivetribe.comments (comment_id, article_id, author_id, "
		"body, posted_at, pos) VALUES ($1, $2, $3, $4, $5, $6)",
		6, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID}
	},
	[DT_SQL_COMMENT_RESTORE_POS] = {
		COMMENT_RESTORE_SQL(", pos", ", r.pos", ", pg_catalog.unnest($7)", ", pos"),
		7, COMMENT_RESTORE_TYPES
	},
	[DT_SQL_COMMENT_CORRECT_POS] = {
		COMMENT_CORRECT_SQL(", pos = $7"),
		7, COMMENT_CORRECT_TYPES
	},
	[DT_SQL_COMMENTS_ALL_POS] = {
		COMMENTS_ALL_SQL(", pos"),
		0, {InvalidOid}
	},
	/* article_comments(): the cursor comment's article and position */
	[DT_SQL_COMMENT_POSITION] = {
		"SELECT article_id, pos FROM drivetribe.comments WHERE comment_id" EQ "$1",
		1, {INT8OID}
	},
	/* article_comments(): the rows of a page's comments ($1), in its order */
	[DT_SQL_COMMENT_PAGE] = {
		"SELECT c.comment_id, c.author_id, u.name, c.body, c.posted_at "
		"FROM pg_catalog.unnest($1) WITH ORDINALITY AS p(comment_id, ord) "
		"JOIN drivetribe.comments c ON c.comment_id" EQ "p.comment_id "
		"JOIN drivetribe.users u ON u.user_id" EQ "c.author_id "
		"ORDER BY p.ord",
		1, {INT8ARRAYOID}
	},
	/* 1.8: registered projections (projection.c) */
	[DT_SQL_PROJECTION_INSERT] = {
		"INSERT INTO drivetribe.projection_registry "
		"(name, owner, handler, reset_handler, kinds, mode, state) "
		"VALUES ($1, $2, $3, $4, $5, $6, 'backfilling') ON CONFLICT (name) DO NOTHING",
		6, {TEXTOID, REGROLEOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID}
	},
	[DT_SQL_PROJECTION_IS_PROJECTOR] = {
		"SELECT EXISTS (SELECT FROM drivetribe.projectors p "
		"WHERE pg_catalog.pg_has_role($1, p.role, 'USAGE'))",
		1, {OIDOID}
	},
	[DT_SQL_PROJECTION_GET] = {
		"SELECT r.owner::pg_catalog.oid, "
		"pg_catalog.to_regprocedure(r.handler)::pg_catalog.oid, r.handler, r.kinds, "
		"r.mode, r.state, r.cursor_txid, r.cursor_seq, r.floor_seq "
		"FROM drivetribe.projection_registry r WHERE r.name" EQ "$1 FOR UPDATE NOWAIT",
		1, {TEXTOID}
	},
	[DT_SQL_PROJECTION_BATCH] = {
		/*
		 * One ordered index scan on (txid, seq), no sort: the events come
		 * to array_agg in read_log() order.  The cursor is the greatest
		 * (txid, seq) read, taken as an array maximum so that it does not
		 * depend on that order.  $7: only the first transaction after the
		 * cursor.
		 */
		PROJECTION_BATCH_SQL("b.ev"),
		7, PROJECTION_BATCH_TYPES
	},
	[DT_SQL_PROJECTION_ADVANCE] = {
		"UPDATE drivetribe.projection_registry SET cursor_txid = $2, cursor_seq = $3, "
		"applied = applied OPERATOR(pg_catalog.+) $4, last_batch_events = $4, "
		"last_batch_seconds = $5, last_batch_at = pg_catalog.now() "
		"WHERE name" EQ "$1",
		5, {TEXTOID, XID8OID, INT8OID, INT8OID, FLOAT8OID}
	},
	[DT_SQL_PROJECTION_REMAINING] = {
		"SELECT pg_catalog.count(*) FROM (SELECT FROM ONLY drivetribe.events e "
		"WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW($1, $2) LIMIT $3) s",
		3, {XID8OID, INT8OID, INT8OID}
	},
	[DT_SQL_PROJECTION_SET_LIVE] = {
		"UPDATE drivetribe.projection_registry SET state = 'live', "
		"floor_seq = $2, last_error = NULL, failed_seq = NULL WHERE name" EQ "$1",
		2, {TEXTOID, INT8OID}
	},
	[DT_SQL_PROJECTION_NOTE_ERROR] = {
		/* the seq: the first event after the cursor the handler gets */
		"UPDATE drivetribe.projection_registry r SET last_error = $2, "
		"state = CASE WHEN $3 THEN 'failed' ELSE r.state END, "
		"failed_seq = (SELECT e.seq FROM ONLY drivetribe.events e "
		"WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(r.cursor_txid, r.cursor_seq) "
		"AND e.seq OPERATOR(pg_catalog.>) r.floor_seq "
		"AND (r.kinds IS NULL OR e.kind OPERATOR(pg_catalog.=) ANY (r.kinds)) "
		"ORDER BY e.txid, e.seq LIMIT 1) WHERE r.name" EQ "$1",
		3, {TEXTOID, TEXTOID, BOOLOID}
	},
	[DT_SQL_PROJECTION_RESET] = {
		"UPDATE drivetribe.projection_registry SET state = 'backfilling', "
		"cursor_txid = '0', cursor_seq = 0, floor_seq = 0, applied = 0, last_error = NULL, failed_seq = NULL, "
		"last_batch_events = NULL, last_batch_seconds = NULL, last_batch_at = NULL "
		"WHERE name" EQ "$1 "
		"RETURNING pg_catalog.to_regprocedure(reset_handler)::pg_catalog.oid, reset_handler IS NULL",
		1, {TEXTOID}
	},
	[DT_SQL_PROJECTION_DELETE] = {
		"DELETE FROM drivetribe.projection_registry WHERE name" EQ "$1",
		1, {TEXTOID}
	},
	[DT_SQL_PROJECTION_INLINE_LIST] = {
		/* the live projections: inline ones first (async: only counted) */
		"SELECT r.name, r.owner::pg_catalog.oid, "
		"pg_catalog.to_regprocedure(r.handler)::pg_catalog.oid, r.kinds, "
		"r.mode" EQ "'async' "
		"FROM drivetribe.projection_registry r "
		"WHERE r.state" EQ "'live' ORDER BY r.mode" EQ "'async', r.name",
		0, {}
	},
	[DT_SQL_PROJECTION_EVENT] = {
		"SELECT ARRAY[e] FROM ONLY drivetribe.events e WHERE e.seq" EQ "$1",
		1, {INT8OID}
	},
	[DT_SQL_PROJECTION_SET_STATE] = {
		/* a projection made live has no error to show */
		"UPDATE drivetribe.projection_registry SET state = $2, mode = $3, "
		"last_error = CASE WHEN $2" EQ "'live' THEN NULL ELSE last_error END, "
		"failed_seq = CASE WHEN $2" EQ "'live' THEN NULL ELSE failed_seq END "
		"WHERE name" EQ "$1",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[DT_SQL_PROJECTION_TO_ASYNC] = {
		/*
		 * Caller holds SHARE on the registry: no write call is in
		 * progress, every event drawn so far was applied inline.  Later
		 * ones have a greater seq (floor) and a txid at or above the
		 * latest snapshot's xmin (cursor).
		 */
		"UPDATE drivetribe.projection_registry SET mode = 'async', "
		"floor_seq = COALESCE(pg_catalog.pg_sequence_last_value('drivetribe.event_seq'), 0), "
		"cursor_txid = pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()), "
		"cursor_seq = 0 WHERE name" EQ "$1",
		1, {TEXTOID}
	},
	[DT_SQL_PROJECTION_ASYNC_LIST] = {
		"SELECT r.name FROM drivetribe.projection_registry r "
		"WHERE r.mode" EQ "'async' AND r.state" EQ "'live' ORDER BY r.name",
		0, {}
	},
	[DT_SQL_PROJECTION_ASYNC_PENDING] = {
		/* whether a live async projection has an event after its cursor */
		"SELECT EXISTS (SELECT FROM drivetribe.projection_registry r "
		"WHERE r.mode" EQ "'async' AND r.state" EQ "'live' AND EXISTS ("
		"SELECT FROM ONLY drivetribe.events e "
		"WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(r.cursor_txid, r.cursor_seq)))",
		0, {}
	},

	/*
	 * 1.9: events carry their shape's version and comments their parent
	 * and live reply count (event_shapes.c, docs/design.md "Event
	 * versions"); dt_versioned_statement() picks these
	 */
	[DT_SQL_EVENT_INSERT_1_9] = {
		EVENT_INSERT_SQL(", version, parent_comment_id", ", $11, $12"),
		12, EVENT_INSERT_TYPES
	},
	[DT_SQL_EVENT_BY_ID_1_9] = {
		"SELECT " EVENT_COLUMNS_1_9 " FROM ONLY drivetribe.events WHERE event_id" EQ "$1",
		1, {UUIDOID}
	},
	[DT_SQL_REPLAY_EVENTS_1_9] = {
		"SELECT " EVENT_COLUMNS_1_9 " FROM ONLY drivetribe.events ORDER BY seq",
		0, {InvalidOid}
	},
	[DT_SQL_COMMENT_LOCK_1_9] = {
		"SELECT article_id, author_id, deleted, parent_comment_id FROM drivetribe.comments "
		"WHERE comment_id" EQ "$1 FOR NO KEY UPDATE",
		1, {INT8OID}
	},
	[DT_SQL_COMMENT_INSERT_1_9] = {
		"INSERT INTO drivetribe.comments (comment_id, article_id, author_id, "
		"body, posted_at, pos, parent_comment_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		7, {INT8OID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID}
	},
	/* a parent's live replies; the caller holds its row (post_comment, delete_comment) */
	[DT_SQL_COMMENT_REPLIES] = {
		"UPDATE drivetribe.comments SET replies = replies OPERATOR(pg_catalog.+) $2 "
		"WHERE comment_id" EQ "$1",
		2, {INT8OID, INT8OID}
	},
	[DT_SQL_COMMENT_RESTORE_1_9] = {
		COMMENT_RESTORE_SQL(", pos, parent_comment_id, replies",
							", r.pos, NULLIF(r.parent, 0), r.replies",
							", pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9)",
							", pos, parent, replies"),
		9, COMMENT_RESTORE_TYPES
	},
	[DT_SQL_COMMENT_CORRECT_1_9] = {
		COMMENT_CORRECT_SQL(", pos = $7, parent_comment_id = NULLIF($8, 0), replies = $9"),
		9, COMMENT_CORRECT_TYPES
	},
	[DT_SQL_COMMENTS_ALL_1_9] = {
		COMMENTS_ALL_SQL(", pos, parent_comment_id, replies"),
		0, {InvalidOid}
	},
	[DT_SQL_COMMENT_PAGE_1_9] = {
		"SELECT c.comment_id, c.author_id, u.name, c.body, c.posted_at, "
		"c.parent_comment_id, c.replies "
		"FROM pg_catalog.unnest($1) WITH ORDINALITY AS p(comment_id, ord) "
		"JOIN drivetribe.comments c ON c.comment_id" EQ "p.comment_id "
		"JOIN drivetribe.users u ON u.user_id" EQ "c.author_id "
		"ORDER BY p.ord",
		1, {INT8ARRAYOID}
	},
	[DT_SQL_PROJECTION_BATCH_1_9] = {
		PROJECTION_BATCH_SQL("drivetribe_internal.event_as_current(b.ev)"),
		7, PROJECTION_BATCH_TYPES
	},
	[DT_SQL_PROJECTION_EVENT_1_9] = {
		"SELECT ARRAY[drivetribe_internal.event_as_current(e)] "
		"FROM ONLY drivetribe.events e WHERE e.seq" EQ "$1",
		1, {INT8OID}
	},
};

/* the plans, for the live projections and for the green ones (rebuild.c) */
static SPIPlanPtr plans[DT_NUM_STATEMENTS];
static SPIPlanPtr green_plans[DT_NUM_STATEMENTS];

/*
 * The target of the statements that write or read projections: the live
 * tables (schema drivetribe), or the green ones a blue/green rebuild
 * builds beside them (schema drivetribe_green, rebuild.c).  Set only by
 * rebuild.c around its own work (dt_target_green()), reset at the end of
 * every transaction, so no error can leave a backend writing green.
 */
static bool target_green = false;
static bool target_callback_registered = false;

/* the projection tables a green build has, each named drivetribe.<name> */
static const char *const projection_relnames[] = {
	"users", "tribes", "articles", "comments", "memberships", "follows",
	"bumps", "article_ranks", "article_stripes", "user_stripes", "tribe_stripes"
};

static void
reset_target(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		target_green = false;
}

/*
 * dt_target_green: from now to the end of the transaction (or until called
 * with false), dt_plan() and the counters' plans run against the green
 * projection tables.
 */
void
dt_target_green(bool green)
{
	if (!target_callback_registered)
	{
		RegisterXactCallback(reset_target, NULL);
		target_callback_registered = true;
	}
	target_green = green;
}

bool
dt_targets_green(void)
{
	return target_green;
}

int
dt_projection_relations(const char *const **names)
{
	*names = projection_relnames;
	return lengthof(projection_relnames);
}

/*
 * dt_green_sql: a statement's text with every projection table
 * drivetribe.<name> read as drivetribe_green.<name> (the log and every
 * other table stay).  Names are matched whole: drivetribe.articles is not
 * drivetribe.article_ranks.
 */
char *
dt_green_sql(const char *sql)
{
	StringInfoData out;
	const char *p = sql;
	static const char prefix[] = "drivetribe.";

	initStringInfo(&out);
	while (*p)
	{
		bool		replaced = false;

		if (strncmp(p, prefix, sizeof(prefix) - 1) == 0 &&
			(p == sql || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')))
		{
			const char *name = p + sizeof(prefix) - 1;

			for (int i = 0; i < lengthof(projection_relnames); i++)
			{
				size_t		len = strlen(projection_relnames[i]);
				char		next = name[len];

				if (strncmp(name, projection_relnames[i], len) == 0 &&
					!(isalnum((unsigned char) next) || next == '_'))
				{
					appendStringInfo(&out, "drivetribe_green.%s", projection_relnames[i]);
					p = name + len;
					replaced = true;
					break;
				}
			}
		}
		if (!replaced)
			appendStringInfoChar(&out, *p++);
	}
	return out.data;
}

/*
 * dt_schema_level: what this database's SQL version has, found in the
 * catalogs by the objects each version adds.  A syscache lookup or two per
 * call: cheap, and right at once after ALTER EXTENSION ... UPDATE in
 * another session.
 */
DtSchemaLevel
dt_schema_level(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);

	if (!OidIsValid(nsp) ||
		!OidIsValid(get_relname_relid("article_stripes", nsp)))
		return DT_SCHEMA_PLAIN;
	if (OidIsValid(get_relname_relid("article_ranks", nsp)))
		return DT_SCHEMA_RANK_TABLE;
	if (!OidIsValid(get_relname_relid("articles_tribe_rank_idx", nsp)))
		return DT_SCHEMA_STRIPED;
	return DT_SCHEMA_RANKED;
}

/*
 * dt_rank_statement: the feeds' statement for this database's SQL
 * version: 1.3's over articles, or from 1.7 on the same over
 * article_ranks.
 */
DtStatement
dt_rank_statement(DtStatement stmt)
{
	if (dt_schema_level() != DT_SCHEMA_RANK_TABLE)
		return stmt;
	switch (stmt)
	{
		case DT_SQL_RANK_SCAN_FIRST:
			return DT_SQL_RANK_SCAN_FIRST_1_7;
		case DT_SQL_RANK_SCAN_AFTER:
			return DT_SQL_RANK_SCAN_AFTER_1_7;
		case DT_SQL_FEED_MERGE_FIRST:
			return DT_SQL_FEED_MERGE_FIRST_1_7;
		case DT_SQL_FEED_MERGE:
			return DT_SQL_FEED_MERGE_1_7;
		case DT_SQL_TRIBE_FEED_FIRST:
			return DT_SQL_TRIBE_FEED_FIRST_1_7;
		case DT_SQL_TRIBE_FEED_AFTER:
			return DT_SQL_TRIBE_FEED_AFTER_1_7;
		default:
			return stmt;
	}
}

/*
 * dt_versioned_statement: the statement for this database's SQL version:
 * from 1.9 on, the one that also reads or writes an event's version and
 * parent comment and a comment's parent and replies (dt_events_versioned()).
 */
DtStatement
dt_versioned_statement(DtStatement stmt)
{
	static const DtStatement map[][2] = {
		{DT_SQL_EVENT_INSERT, DT_SQL_EVENT_INSERT_1_9},
		{DT_SQL_EVENT_BY_ID, DT_SQL_EVENT_BY_ID_1_9},
		{DT_SQL_REPLAY_EVENTS, DT_SQL_REPLAY_EVENTS_1_9},
		{DT_SQL_COMMENT_LOCK, DT_SQL_COMMENT_LOCK_1_9},
		{DT_SQL_COMMENT_INSERT_POS, DT_SQL_COMMENT_INSERT_1_9},
		{DT_SQL_COMMENT_RESTORE_POS, DT_SQL_COMMENT_RESTORE_1_9},
		{DT_SQL_COMMENT_CORRECT_POS, DT_SQL_COMMENT_CORRECT_1_9},
		{DT_SQL_COMMENTS_ALL_POS, DT_SQL_COMMENTS_ALL_1_9},
		{DT_SQL_PROJECTION_BATCH, DT_SQL_PROJECTION_BATCH_1_9},
		{DT_SQL_PROJECTION_EVENT, DT_SQL_PROJECTION_EVENT_1_9},
	};

	if (!dt_events_versioned())
		return stmt;
	for (int i = 0; i < lengthof(map); i++)
		if (map[i][0] == stmt)
			return map[i][1];
	return stmt;
}

/*
 * dt_plan: the prepared plan of a statement.  Caller must be connected to
 * SPI.
 */
SPIPlanPtr
dt_plan(DtStatement stmt)
{
	const DtStatementDef *def;
	SPIPlanPtr	plan;

	SPIPlanPtr *cache = target_green ? green_plans : plans;
	const char *sql;

	if (cache[stmt] != NULL)
		return cache[stmt];

	def = &statement_defs[stmt];
	sql = target_green ? dt_green_sql(def->sql) : def->sql;
	plan = SPI_prepare_cursor(sql, def->nargs, (Oid *) def->argtypes,
							  CURSOR_OPT_GENERIC_PLAN |
							  (def->fast_start ? CURSOR_OPT_FAST_PLAN : 0));
	if (plan == NULL)
		elog(ERROR, "drivetribe: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "drivetribe: SPI_keepplan failed");
	cache[stmt] = plan;
	return plan;
}

/*
 * dt_exec: run a catalogued statement with bound values; returns the SPI
 * result code and leaves the rows in SPI_tuptable.  read_only = false takes
 * a new snapshot, so a statement sees what committed while the caller
 * waited for a lock.
 */
int
dt_exec(DtStatement stmt, Datum *values, const char *nulls, bool read_only,
		long tcount)
{
	int			rc;

	rc = SPI_execute_plan(dt_plan(stmt), values, nulls, read_only, tcount);
	if (rc < 0)
		elog(ERROR, "drivetribe: statement %d failed: %s",
			 (int) stmt, SPI_result_code_string(rc));
	return rc;
}

/*
 * dt_exec_latest: run a catalogued read-only statement under the latest
 * snapshot rather than the transaction's, so that a REPEATABLE READ or
 * SERIALIZABLE caller sees what committed after its snapshot was taken
 * (as foreign-key checks do).  Under SERIALIZABLE, reading a row written
 * by a concurrent transaction may raise a serialization failure (40001).
 */
int
dt_exec_latest(DtStatement stmt, Datum *values, const char *nulls)
{
	int			rc;

	rc = SPI_execute_snapshot(dt_plan(stmt), values, nulls, GetLatestSnapshot(),
							  InvalidSnapshot, true, false, 1);
	if (rc < 0)
		elog(ERROR, "drivetribe: statement %d failed: %s",
			 (int) stmt, SPI_result_code_string(rc));
	return rc;
}

/* dt_exec_latest for a statement of any number of rows (tcount 0: all) */
int
dt_exec_latest_rows(DtStatement stmt, Datum *values, const char *nulls,
					long tcount)
{
	int			rc;

	rc = SPI_execute_snapshot(dt_plan(stmt), values, nulls, GetLatestSnapshot(),
							  InvalidSnapshot, true, false, tcount);
	if (rc < 0)
		elog(ERROR, "drivetribe: statement %d failed: %s",
			 (int) stmt, SPI_result_code_string(rc));
	return rc;
}

/*
 * dt_exec_expect: run a write statement that must touch exactly `expected`
 * rows; anything else means a projection is out of step with the log.
 */
int
dt_exec_expect(DtStatement stmt, Datum *values, const char *nulls,
			   int expected)
{
	int			rc = dt_exec(stmt, values, nulls, false, 0);

	if ((int) SPI_processed != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("drivetribe projection is out of step with the event log"),
				 errdetail("Statement \"%s\" touched " UINT64_FORMAT " rows, expected %d.",
						   statement_defs[stmt].sql, SPI_processed, expected),
				 errhint("Run drivetribe.verify() to see the differences and drivetribe.rebuild() to repair them.")));
	return rc;
}

int64
dt_result_int64(int row, int col, bool *isnull)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);

	if (isnull)
		*isnull = null;
	return null ? 0 : DatumGetInt64(d);
}

char *
dt_result_text(int row, int col)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);

	return null ? NULL : TextDatumGetCString(d);
}

/*
 * dt_result_text_equals: whether a text column equals a C string, without
 * copying the value (verify() compares millions of names and bodies).
 */
bool
dt_result_text_equals(int row, int col, const char *s)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);
	text	   *t;
	bool		equal;

	if (null)
		return s == NULL;
	t = DatumGetTextPP(d);
	equal = s != NULL && VARSIZE_ANY_EXHDR(t) == strlen(s) &&
		memcmp(VARDATA_ANY(t), s, VARSIZE_ANY_EXHDR(t)) == 0;
	if ((Pointer) t != DatumGetPointer(d))
		pfree(t);
	return equal;
}

bool
dt_result_bool(int row, int col)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &null);

	return null ? false : DatumGetBool(d);
}

/*
 * dt_put_result_rows: the last statement's rows into a materialized SRF's
 * tuplestore (InitMaterializedSRF done), after checking they have the
 * function's columns; `what` names the function in the error.
 */
void
dt_put_result_rows(ReturnSetInfo *rsinfo, const char *what)
{
	uint64		row;

	if (SPI_tuptable->tupdesc->natts != rsinfo->setDesc->natts)
		elog(ERROR, "drivetribe: article_view has %d columns, %s returns %d",
			 SPI_tuptable->tupdesc->natts, what, rsinfo->setDesc->natts);
	for (row = 0; row < SPI_processed; row++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[row]);
}
