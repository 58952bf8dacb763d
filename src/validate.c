/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  What a valid name, title, body and event is, in one place.
 *
 * The write API checks its text arguments here (22023 on failure); the
 * CHECK constraint events_valid of drivetribe.events calls
 * drivetribe.event_is_valid() for every inserted row, whoever inserts it
 * (the write API, the owner, pg_restore's COPY), and the replay behind
 * verify() and rebuild() checks every event it reads with the same
 * dt_event_problem(), so a row the replay cannot apply is reported as
 * data_corrupted with its seq instead of being dereferenced.
 *
 * Text is measured in characters of the database encoding.  Blank means
 * only Unicode White_Space; text in another server encoding is converted
 * to UTF-8 first, so that a byte of a single-byte encoding is not taken
 * for the code point of the same number.
 *
 * Also here: dt_errentity(), the error fields (schema, table, column,
 * constraint) that name the entity an API error is about, so that a
 * driver can tell an unknown user from an unknown article without parsing
 * the message (docs/design.md, "Errors").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "drivetribe.h"

/* ---------- error fields ---------- */

typedef struct DtEntityDef
{
	const char *noun;			/* in messages: "user 7 does not exist" */
	const char *table;
	const char *column;			/* NULL: not about one key */
	const char *constraint;		/* reported on class 23 errors only */
} DtEntityDef;

static const DtEntityDef entity_defs[DT_NUM_ENTITIES] = {
	[DT_ENTITY_USER] = {"user", "users", "user_id", "users_pkey"},
	[DT_ENTITY_TRIBE] = {"tribe", "tribes", "tribe_id", "tribes_pkey"},
	[DT_ENTITY_ARTICLE] = {"article", "articles", "article_id", "articles_pkey"},
	[DT_ENTITY_COMMENT] = {"comment", "comments", "comment_id", "comments_pkey"},
	[DT_ENTITY_EVENT_ID] = {"event_id", "events", "event_id", "events_event_id_key"},
	[DT_ENTITY_NOOP_CALL] = {"event_id", "noop_calls", "event_id", "noop_calls_pkey"},
	[DT_ENTITY_LOG] = {"event", "events", NULL, "events_valid"},
};

/* the entity's name in messages ("user", "article", ...) */
const char *
dt_entity_noun(DtEntity entity)
{
	Assert(entity >= 0 && entity < DT_NUM_ENTITIES);
	return entity_defs[entity].noun;
}

/*
 * dt_errentity: inside an ereport(), after errcode(), the fields that name
 * the entity the error is about (see drivetribe.h).  The generic form of
 * the fields needs no open relation (errtable() does), and the names are
 * those of every SQL version: the tables and constraints all come from
 * drivetribe--1.0.sql or 1.1 (noop_calls), and none was ever renamed.
 * A unique or foreign key violation names the key constraint the id was
 * checked against, as an INSERT into the table would for a taken id; a
 * deleted article (55000) is not about a constraint, so it names none.
 */
int
dt_errentity(DtEntity entity)
{
	const DtEntityDef *def;

	Assert(entity >= 0 && entity < DT_NUM_ENTITIES);
	def = &entity_defs[entity];
	err_generic_string(PG_DIAG_SCHEMA_NAME, "drivetribe");
	err_generic_string(PG_DIAG_TABLE_NAME, def->table);
	if (def->column != NULL)
		err_generic_string(PG_DIAG_COLUMN_NAME, def->column);
	if (def->constraint != NULL &&
		ERRCODE_TO_CATEGORY(geterrcode()) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
		err_generic_string(PG_DIAG_CONSTRAINT_NAME, def->constraint);
	return 0;					/* return value does not matter */
}

/* characters of a value quoted in a message before it is cut short */
#define SHOWN_CHARS 40

/*
 * is_white_space: Unicode White_Space (ASCII \t \n \v \f \r and space,
 * NEL, no-break spaces, the typographic spaces, line and paragraph
 * separators, ideographic space).
 */
static bool
is_white_space(pg_wchar c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 ||
		c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
		c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* whether UTF-8 text holds only white space */
static bool
utf8_is_blank(const char *s, int bytes)
{
	while (bytes > 0)
	{
		int			len = pg_utf_mblen((const unsigned char *) s);

		if (len > bytes || !is_white_space(utf8_to_unicode((const unsigned char *) s)))
			return false;
		s += len;
		bytes -= len;
	}
	return true;
}

/*
 * dt_is_blank: whether text in the database encoding is empty or holds
 * only white space.  SQL_ASCII gives bytes no meaning beyond ASCII, so
 * only ASCII white space counts there.
 */
bool
dt_is_blank(const char *s, int bytes)
{
	int			encoding = GetDatabaseEncoding();
	const char *p;
	char	   *utf8;
	bool		blank;

	/* cheap exit: most values start with a visible ASCII character */
	for (p = s; p < s + bytes; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x80)
			break;
		if (!is_white_space(c))
			return false;
	}
	if (p == s + bytes)
		return true;
	if (encoding == PG_UTF8)
		return utf8_is_blank(p, bytes - (int) (p - s));
	if (encoding == PG_SQL_ASCII)
		return false;
	utf8 = pg_server_to_any(p, bytes - (int) (p - s), PG_UTF8);
	blank = utf8_is_blank(utf8, strlen(utf8));
	if (utf8 != p)
		pfree(utf8);
	return blank;
}

/*
 * dt_clip: a value as a message shows it: whole when short, else its
 * first SHOWN_CHARS characters (of the database encoding, never part of
 * one) and "...".  (Up to 1.6 this cut at SHOWN_CHARS bytes:
 * pg_mbcliplen() counts bytes, pg_mbcharcliplen() characters.)
 */
char *
dt_clip(const char *s)
{
	int			bytes = strlen(s);
	int			shown = pg_mbcharcliplen(s, bytes, SHOWN_CHARS);

	if (shown >= bytes)
		return pstrdup(s);
	return psprintf("%.*s...", shown, s);
}

/*
 * dt_text_problem: why a name, title or body is not acceptable (NULL when
 * it is): blank, or more than `limit` characters.
 */
char *
dt_text_problem(const char *what, const char *s, int limit)
{
	int			bytes = strlen(s);
	int			chars;

	if (dt_is_blank(s, bytes))
		return psprintf("%s must not be empty or blank: \"%s\"", what, dt_clip(s));
	chars = pg_mbstrlen_with_len(s, bytes);
	if (chars > limit)
		return psprintf("%s \"%s\" is too long: %d characters (the limit is %d)",
						what, dt_clip(s), chars, limit);
	return NULL;
}

/* ---------- events ---------- */

#define F_USER		(1 << 0)
#define F_TRIBE		(1 << 1)
#define F_ARTICLE	(1 << 2)
#define F_COMMENT	(1 << 3)
#define F_TARGET	(1 << 4)
#define F_RECIPIENT	(1 << 5)
#define F_BODY		(1 << 6)
#define F_PARENT	(1 << 7)	/* parent_comment_id (v2 comment kinds) */

typedef struct KindShape
{
	int			required;		/* fields every event of the kind has */
	int			optional;		/* fields it may have */
	const char *body_name;		/* what the body is */
	int			body_limit;
} KindShape;

#define USER_NAME	"name", DT_USER_NAME_LIMIT
#define TRIBE_NAME	"name", DT_TRIBE_NAME_LIMIT
#define TITLE		"title", DT_TITLE_LIMIT
#define BODY		"body", DT_BODY_LIMIT

/* the shape of each kind: docs/design.md, "Event fields per kind" */
static const KindShape kind_shapes[DT_NUM_KINDS] = {
	[DT_USER_REGISTERED] = {F_USER | F_BODY, 0, USER_NAME},
	[DT_USER_RENAMED] = {F_USER | F_BODY, 0, USER_NAME},
	[DT_TRIBE_CREATED] = {F_TRIBE | F_USER | F_BODY, 0, TRIBE_NAME},
	[DT_TRIBE_RENAMED] = {F_TRIBE | F_TARGET | F_BODY, 0, TRIBE_NAME},
	[DT_TRIBE_JOINED] = {F_USER | F_TRIBE | F_TARGET | F_RECIPIENT, 0, NULL, 0},
	[DT_TRIBE_LEFT] = {F_USER | F_TRIBE | F_TARGET, 0, NULL, 0},
	[DT_USER_FOLLOWED] = {F_USER | F_TARGET | F_RECIPIENT, 0, NULL, 0},
	[DT_USER_UNFOLLOWED] = {F_USER | F_TARGET, 0, NULL, 0},
	[DT_ARTICLE_POSTED] = {F_ARTICLE | F_USER | F_TRIBE | F_BODY, 0, TITLE},
	[DT_ARTICLE_EDITED] = {F_ARTICLE | F_USER | F_TRIBE | F_BODY, 0, TITLE},
	[DT_ARTICLE_DELETED] = {F_ARTICLE | F_USER | F_TRIBE, 0, NULL, 0},
	[DT_ARTICLE_VIEWED] = {F_ARTICLE | F_TARGET | F_TRIBE, F_USER, NULL, 0},
	[DT_COMMENT_POSTED] = {F_COMMENT | F_ARTICLE | F_USER | F_TARGET |
	F_RECIPIENT | F_TRIBE | F_BODY, F_PARENT, BODY},
	[DT_COMMENT_DELETED] = {F_COMMENT | F_ARTICLE | F_USER | F_TARGET |
	F_TRIBE, F_PARENT, NULL, 0},
	[DT_ARTICLE_BUMPED] = {F_ARTICLE | F_USER | F_TARGET | F_RECIPIENT |
	F_TRIBE, 0, NULL, 0},
	[DT_ARTICLE_UNBUMPED] = {F_ARTICLE | F_USER | F_TARGET | F_TRIBE, 0,
	NULL, 0},
};

static const struct
{
	int			flag;
	const char *name;
}			field_names[] = {
	{F_USER, "user_id"},
	{F_TRIBE, "tribe_id"},
	{F_ARTICLE, "article_id"},
	{F_COMMENT, "comment_id"},
	{F_TARGET, "target_id"},
	{F_RECIPIENT, "recipient_id"},
	{F_BODY, "body"},
	{F_PARENT, "parent_comment_id"},
};

static int64
field_value(const DtEvent *ev, int flag)
{
	switch (flag)
	{
		case F_USER:
			return ev->user_id;
		case F_TRIBE:
			return ev->tribe_id;
		case F_ARTICLE:
			return ev->article_id;
		case F_COMMENT:
			return ev->comment_id;
		case F_TARGET:
			return ev->target_id;
		case F_RECIPIENT:
			return ev->recipient_id;
		case F_BODY:
			return ev->body != NULL;
		case F_PARENT:
			return ev->parent_comment_id;
	}
	return 0;
}

/*
 * dt_event_problem: what is wrong with an event (NULL when nothing is):
 * an unknown kind, a missing field the kind needs, a field the kind does
 * not have, an id that is not positive, a body that breaks the limits of docs/reference.md,
 * a recipient other than the target, a self-follow, a deleted article's
 * bump count missing.  An id of 0 in the event means SQL NULL.
 */
char *
dt_event_problem(const DtEvent *ev)
{
	const KindShape *shape;
	int			i;

	if ((int) ev->kind < 0 || ev->kind >= DT_NUM_KINDS)
		return pstrdup("its kind is not an event kind");
	if (ev->version < 1 || ev->version > dt_event_current_version(ev->kind))
		return psprintf("version %d is not a version of %s events (1 to %d)",
						ev->version, dt_kind_names[ev->kind],
						dt_event_current_version(ev->kind));
	shape = &kind_shapes[ev->kind];
	for (i = 0; i < lengthof(field_names); i++)
	{
		int			flag = field_names[i].flag;
		int64		v = field_value(ev, flag);

		if ((shape->required & flag) && v == 0)
			return psprintf("%s is missing", field_names[i].name);
		if (!((shape->required | shape->optional) & flag) && v != 0)
			return psprintf("%s is set, but %s events have none",
							field_names[i].name, dt_kind_names[ev->kind]);
		if (v < 0)
			return psprintf("%s must be positive, got " INT64_FORMAT,
							field_names[i].name, v);
	}
	if (ev->parent_comment_id != 0 && ev->version < 2)
		return psprintf("parent_comment_id is set, but version %d of %s events has none",
						ev->version, dt_kind_names[ev->kind]);
	if (ev->parent_comment_id != 0 && ev->parent_comment_id == ev->comment_id)
		return psprintf("comment " INT64_FORMAT " is its own parent", ev->comment_id);
	/* a reply notifies the parent's author, every other kind its target */
	if (ev->recipient_id != 0 && ev->recipient_id != ev->target_id &&
		!(ev->kind == DT_COMMENT_POSTED && ev->parent_comment_id != 0))
		return psprintf("recipient_id " INT64_FORMAT " is not target_id " INT64_FORMAT,
						ev->recipient_id, ev->target_id);
	if ((ev->kind == DT_USER_FOLLOWED || ev->kind == DT_USER_UNFOLLOWED) &&
		ev->user_id == ev->target_id)
		return psprintf("user " INT64_FORMAT " follows themselves", ev->user_id);
	if (ev->kind == DT_ARTICLE_DELETED && ev->bumps < 0)
		return pstrdup("context.bumps (the bumps the article had) is missing or not a non-negative integer");
	if (shape->body_name != NULL)
		return dt_text_problem(shape->body_name, ev->body, shape->body_limit);
	return NULL;
}

/*
 * dt_parse_count: a non-negative integer written in decimal digits, or -1
 * for anything else (NULL included).
 */
int64
dt_parse_count(const char *s)
{
	int64		v = 0;
	int			n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++, n++)
	{
		if (*s < '0' || *s > '9' || n >= 18)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* the "bumps" member of an event's context, or -1 */
static int64
context_bumps(Jsonb *context)
{
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(context) || JB_ROOT_IS_SCALAR(context))
		return -1;
	v = getKeyJsonValueFromContainer(&context->root, "bumps", 5, NULL);
	if (v == NULL || v->type != jbvNumeric)
		return -1;
	return dt_parse_count(DatumGetCString(DirectFunctionCall1(numeric_out,
															  NumericGetDatum(v->val.numeric))));
}

/*
 * drivetribe.event_is_valid(seq, kind, user_id, tribe_id, article_id,
 * comment_id, target_id, recipient_id, body, context [, version,
 * parent_comment_id]) returns boolean (the last two from 1.9):
 * the CHECK constraint events_valid.  Returns true for a valid row and
 * raises check_violation, naming the seq and the problem, for any other:
 * a bare "false" would leave the inserter guessing.
 */
PG_FUNCTION_INFO_V1(drivetribe_event_is_valid);
Datum
drivetribe_event_is_valid(PG_FUNCTION_ARGS)
{
	static const char *const id_names[] = {"user_id", "tribe_id", "article_id",
	"comment_id", "target_id", "recipient_id"};
	DtEvent		ev;
	int64		ids[6];
	int64		seq = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	char	   *kind;
	char	   *problem = NULL;
	int			i;

	memset(&ev, 0, sizeof(ev));
	kind = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	ev.kind = kind ? dt_kind_from_name(kind) : DT_NUM_KINDS;
	for (i = 0; i < 6; i++)
	{
		ids[i] = PG_ARGISNULL(i + 2) ? 0 : PG_GETARG_INT64(i + 2);
		if (!PG_ARGISNULL(i + 2) && ids[i] <= 0 && problem == NULL)
			problem = psprintf("%s must be positive, got " INT64_FORMAT,
							   id_names[i], ids[i]);
	}
	ev.user_id = ids[0];
	ev.tribe_id = ids[1];
	ev.article_id = ids[2];
	ev.comment_id = ids[3];
	ev.target_id = ids[4];
	ev.recipient_id = ids[5];
	ev.body = PG_ARGISNULL(8) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(8));
	/* 1.9's constraint passes the version and the parent too; 1.1's did not */
	ev.version = 1;
	if (PG_NARGS() >= 12)
	{
		ev.version = PG_ARGISNULL(10) ? 0 : PG_GETARG_INT16(10);
		ev.parent_comment_id = PG_ARGISNULL(11) ? 0 : PG_GETARG_INT64(11);
		if (!PG_ARGISNULL(11) && ev.parent_comment_id <= 0 && problem == NULL)
			problem = psprintf("parent_comment_id must be positive, got " INT64_FORMAT,
							   ev.parent_comment_id);
	}
	if (PG_ARGISNULL(9))
		ev.bumps = -1;
	else
	{
		Jsonb	   *context = PG_GETARG_JSONB_P(9);

		if (!JB_ROOT_IS_OBJECT(context) || JB_ROOT_IS_SCALAR(context))
			problem = problem ? problem : pstrdup("context is not a JSON object");
		ev.bumps = context_bumps(context);
	}
	if (problem == NULL)
		problem = dt_event_problem(&ev);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("malformed drivetribe event seq " INT64_FORMAT " (%s): %s",
						seq, kind ? dt_clip(kind) : "no kind", problem),
				 errdetail("Every row of drivetribe.events must be an event the write API could have appended."),
				 errhint("Append events through the write API (drivetribe.register_user(), drivetribe.bump(), ...)."),
				 dt_errentity(DT_ENTITY_LOG)));
	PG_RETURN_BOOL(true);
}
