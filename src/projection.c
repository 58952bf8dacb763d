/*-------------------------------------------------------------------------
 *
 * projection.c
 *	  Projections the application team registers in SQL (issue 21): a
 *	  handler of theirs, handler(events drivetribe.events[]), fed the
 *	  whole log once (the backfill) and then every new event.
 *
 * The registry (drivetribe.projection_registry, SQL 1.8) keeps each
 * projection's handler, registrant, kinds, mode, state and cursor: the
 * (txid, seq) of the last event read, in read_log()'s order.
 *
 * Backfill.  drivetribe.resume_projection() (a procedure) calls
 * projection_step() and commits, batch after batch.  A step reads up to
 * drivetribe.projection_batch_size events after the cursor whose txid is
 * below the snapshot's xmin (every such transaction has ended: nothing can
 * appear behind the cursor later, as in read_log()), gives the handler
 * those of its kinds, and moves the cursor, all in the caller's
 * transaction: a cancel, an error or a crash loses at most that batch,
 * and resume_projection() goes on from the last committed one.  The
 * registry row is locked FOR UPDATE NOWAIT, so two backfills of one
 * projection refuse each other; no writer waits for a step.
 *
 * Handover.  Every write call locks the registry in ROW EXCLUSIVE mode
 * (dt_projection_check_caller(), a fast-path lock) before it appends, and
 * holds it to its commit.  projection_handover(), once at most a batch is
 * left, locks the registry in SHARE mode: it waits for every writer in
 * progress to end, and new writers wait for it.  Then no transaction that
 * appended events is running, so every event after the cursor is final
 * and visible: it applies them all (without the xmin cut), marks the
 * projection live and commits; writers that waited then see it live (the
 * registry's relcache invalidation empties their cache of inline
 * projections when they get the lock) and apply their events inline.  No
 * event is missed (it is either after the cursor at the handover, or
 * appended by a writer that sees the projection live) or applied twice
 * (a writer that saw it backfilling had ended before the handover read).
 *
 * Inline.  After the extension's own projections, dt_projections_inline()
 * gives each live inline projection of the event's kind the event, in
 * the order of their names (one lock order for every writer), in the
 * writer's transaction: a handler's error fails the call, which changes
 * nothing.
 *
 * Who runs what.  None of the SQL functions here is SECURITY DEFINER: each
 * checks its caller (GetUserId()) and becomes the extension's owner only
 * to read the log and write the registry.  A handler always runs as its
 * registrant, with SECURITY_RESTRICTED_OPERATION (no SET ROLE, no SET
 * SESSION AUTHORIZATION, no temporary tables), inside a GUC nest level
 * (a SET search_path does not outlive the call), and with
 * handler_running set, which every write call refuses: a handler cannot
 * append events.  It is called through fmgr with one array argument,
 * never through SQL text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "locks.h"
#include "projection.h"

int			dt_projection_batch_size = 10000;

/* the projection whose handler runs in this backend now, or NULL */
static const char *handler_running = NULL;

/* whether the error being raised (if any) came out of a handler */
bool		dt_projection_handler_failed = false;

/* whether a live async projection exists (with the inline list) */
static bool async_live = false;

/* the live inline projections, from the registry (TopMemoryContext) */
typedef struct InlineProjection
{
	char	   *name;
	Oid			owner;
	Oid			handler;		/* InvalidOid: the function is gone */
	bool		all_kinds;
	bool		kinds[DT_NUM_KINDS];
} InlineProjection;

static InlineProjection *inline_list = NULL;
static int	inline_count = 0;
static bool inline_valid = false;
static bool inline_callback = false;

/* ---------- the registry and its cache ---------- */

/* the registry's OID once found (a database older than 1.8 has none) */
static Oid	registry_relid = InvalidOid;

/* relcache callback: a change of the registry empties the caches */
static void
registry_changed(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == registry_relid)
	{
		inline_valid = false;
		registry_relid = InvalidOid;
	}
}

/* syscache callback: a function changed, perhaps a handler: reload */
static void
function_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	inline_valid = false;
}

/*
 * The registry's OID, or InvalidOid.  Only a found OID is kept: a database
 * updated to 1.8 while this backend lives gets the table, whose creation
 * invalidates nothing we hold, so an absent registry is looked up again
 * on every call (two syscache lookups, on databases older than 1.8 only).
 */
static Oid
registry_oid(void)
{
	Oid			nsp;

	if (OidIsValid(registry_relid))
		return registry_relid;
	if (!inline_callback)
	{
		CacheRegisterRelcacheCallback(registry_changed, (Datum) 0);
		/* a handler dropped and created again has another OID */
		CacheRegisterSyscacheCallback(PROCOID, function_changed, (Datum) 0);
		inline_callback = true;
	}
	nsp = get_namespace_oid("drivetribe", true);
	if (OidIsValid(nsp))
		registry_relid = get_relname_relid(DT_PROJECTION_REGISTRY, nsp);
	return registry_relid;
}

/* tell every backend, at commit, that the registry changed */
static void
registry_announce(void)
{
	Oid			relid = registry_oid();

	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
}

/*
 * dt_projection_check_caller: the first step of every write call (function:
 * its OID, named only in the error).  Refuses a call from a projection's
 * handler (no recursion: 55000), then locks
 * the registry in ROW EXCLUSIVE mode to the end of the transaction, which
 * a handover waits for (nothing when the database is older than 1.8).
 */
void
dt_projection_check_caller(Oid function)
{
	Oid			relid;

	if (handler_running != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("drivetribe.%s() cannot be called by the handler of projection \"%s\"",
						OidIsValid(function) ? get_func_name(function) : "write function",
						handler_running),
				 errdetail("A projection handler reads events; it cannot append them.")));
	relid = registry_oid();
	if (OidIsValid(relid))
		LockRelationOid(relid, RowExclusiveLock);
}

/* (re)load the live inline projections; caller is connected to SPI */
static void
inline_load(void)
{
	/* the latest snapshot: a handover that committed while we waited */
	(void) dt_exec_latest_rows(DT_SQL_PROJECTION_INLINE_LIST, NULL, NULL, 0);
	for (int i = 0; i < inline_count; i++)
		pfree(inline_list[i].name);
	if (inline_list != NULL)
		pfree(inline_list);
	inline_list = NULL;
	inline_count = 0;
	async_live = false;
	if (SPI_processed > 0)
		inline_list = MemoryContextAllocZero(TopMemoryContext,
											 sizeof(InlineProjection) * SPI_processed);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		InlineProjection *p;
		bool		isnull;
		Datum		kinds;

		/* async ones come last: only whether there is one matters here */
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row],
									   SPI_tuptable->tupdesc, 5, &isnull)))
		{
			async_live = true;
			break;
		}
		p = &inline_list[inline_count++];

		p->name = MemoryContextStrdup(TopMemoryContext, dt_result_text(row, 1));
		p->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[row],
												  SPI_tuptable->tupdesc, 2, &isnull));
		p->handler = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[row],
													SPI_tuptable->tupdesc, 3, &isnull));
		if (isnull)
			p->handler = InvalidOid;
		kinds = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 4, &isnull);
		p->all_kinds = isnull;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(kinds), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &n);
			for (int k = 0; k < n; k++)
			{
				char	   *kind = nulls[k] ? NULL : TextDatumGetCString(elems[k]);
				DtEventKind id = kind ? dt_kind_from_name(kind) : DT_NUM_KINDS;

				if (id < DT_NUM_KINDS)
					p->kinds[id] = true;
			}
		}
	}
	inline_valid = true;
}

/* ---------- who is backfilling ---------- */

static char *text_arg(FunctionCallInfo fcinfo, int argno, const char *what);

/*
 * A session that steps a backfill holds a session lock of class
 * DT_LOCK_PROJECTION_BACKFILL on the hash of the projection's name from its
 * first step to the handover (across the batches' commits), or until its
 * transaction aborts (a cancel, an error raised out of the CALL) or the
 * session ends (a crash).  The projections view shows a backfilling
 * projection whose lock nobody holds as paused.  Two names of the same
 * hash share a lock: their backfills then run one at a time.
 */
static uint32 claimed[8];
static int	claimed_count = 0;
static bool claim_callback = false;

static void
backfill_tag(LOCKTAG *tag, const char *name)
{
	dt_lock_tag(tag, MyDatabaseId, DT_LOCK_PROJECTION_BACKFILL,
				DatumGetUInt32(hash_any((const unsigned char *) name, strlen(name))));
}

/* release every backfill lock this session holds */
static void
backfill_release_all(void)
{
	for (int i = 0; i < claimed_count; i++)
	{
		LOCKTAG		tag;

		dt_lock_tag(&tag, MyDatabaseId, DT_LOCK_PROJECTION_BACKFILL, claimed[i]);
		LockRelease(&tag, ExclusiveLock, true);
	}
	claimed_count = 0;
}

/* a top-level abort ends this session's backfills: they are paused */
static void
backfill_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT && claimed_count > 0)
		backfill_release_all();
}

/* take projection name's backfill lock (55P03 when another session has it) */
static void
backfill_claim(const char *name)
{
	LOCKTAG		tag;
	uint32		key = DatumGetUInt32(hash_any((const unsigned char *) name, strlen(name)));

	for (int i = 0; i < claimed_count; i++)
		if (claimed[i] == key)
			return;
	if (claimed_count == lengthof(claimed))
		backfill_release_all();
	if (!claim_callback)
	{
		RegisterXactCallback(backfill_xact_callback, NULL);
		claim_callback = true;
	}
	backfill_tag(&tag, name);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("projection \"%s\" is being backfilled by another session", name),
				 errhint("pg_stat_activity shows it: \"drivetribe: backfilling projection %s\".", name)));
	claimed[claimed_count++] = key;
}

/* the backfill of projection name is over (handed over, or not ours) */
static void
backfill_done(const char *name)
{
	uint32		key = DatumGetUInt32(hash_any((const unsigned char *) name, strlen(name)));

	for (int i = 0; i < claimed_count; i++)
		if (claimed[i] == key)
		{
			LOCKTAG		tag;

			backfill_tag(&tag, name);
			LockRelease(&tag, ExclusiveLock, true);
			claimed[i] = claimed[--claimed_count];
			return;
		}
}

PG_FUNCTION_INFO_V1(drivetribe_projection_running);

/* projection_running(name): whether a session is backfilling it now */
Datum
drivetribe_projection_running(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	LOCKTAG		tag;

	backfill_tag(&tag, name);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		PG_RETURN_BOOL(true);
	LockRelease(&tag, ExclusiveLock, false);
	PG_RETURN_BOOL(false);
}

/* ---------- calling a handler ---------- */

static void
handler_error_context(void *arg)
{
	errcontext("projection \"%s\"", (const char *) arg);
}

/*
 * Run projection name's handler on events (an array of drivetribe.events;
 * with_events false: a reset function, no argument) as owner, restricted, in a GUC nest level of its own.  Errors propagate
 * (the caller's transaction or subtransaction restores the user id and
 * the settings when it aborts).
 */
static void
call_handler(const char *name, Oid owner, Oid handler, Datum events, bool with_events)
{
	Oid			save_userid;
	int			save_sec;
	int			gucnest;
	FmgrInfo	flinfo;
	ErrorContextCallback errcb;
	const char *outer_handler = handler_running;

	LOCAL_FCINFO(fcinfo, 1);

	if (!OidIsValid(handler))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the handler of projection \"%s\" does not exist", name),
				 errhint("Register it again with drivetribe.create_projection(), or drop it with drivetribe.drop_projection().")));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	gucnest = NewGUCNestLevel();
	errcb.callback = handler_error_context;
	errcb.arg = (void *) name;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	handler_running = name;
	PG_TRY();
	{
		if (pg_proc_aclcheck(handler, owner, ACL_EXECUTE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the registrant of projection \"%s\" may not execute its handler %s",
							name, format_procedure(handler))));
		fmgr_info(handler, &flinfo);
		InitFunctionCallInfoData(*fcinfo, &flinfo, with_events ? 1 : 0,
								 InvalidOid, NULL, NULL);
		fcinfo->args[0].value = events;
		fcinfo->args[0].isnull = false;
		dt_projection_handler_failed = true;
		(void) FunctionCallInvoke(fcinfo);
		dt_projection_handler_failed = false;
	}
	PG_FINALLY();
	{
		handler_running = outer_handler;
	}
	PG_END_TRY();
	error_context_stack = errcb.previous;
	AtEOXact_GUC(true, gucnest);
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * dt_projections_inline: the event, appended and applied to the
 * extension's projections, to each live inline projection of its kind, in
 * name order, and makes sure the async worker runs when a live async
 * projection exists (it reads the event after commit).  Caller is a write
 * call connected to SPI (as the extension's owner: the write API is
 * SECURITY DEFINER) holding the registry's ROW EXCLUSIVE lock.
 */
void
dt_projections_inline(const DtEvent *ev)
{
	Datum		events = (Datum) 0;
	bool		isnull;

	if (!OidIsValid(registry_oid()))
		return;
	if (!inline_valid)
		inline_load();
	if (async_live)
		dt_projection_worker_wanted();
	for (int i = 0; i < inline_count; i++)
	{
		InlineProjection *p = &inline_list[i];

		if (!p->all_kinds && !p->kinds[ev->kind])
			continue;
		/* the event's row, read once for every projection that wants it */
		if (events == (Datum) 0)
		{
			Datum		seq = Int64GetDatum(ev->seq);

			(void) dt_exec(dt_versioned_statement(DT_SQL_PROJECTION_EVENT), &seq, NULL, false, 1);
			if (SPI_processed != 1)
				elog(ERROR, "drivetribe: event " INT64_FORMAT " is not in the log", ev->seq);
			events = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			events = datumCopy(events, false, -1);
		}
		call_handler(p->name, p->owner, p->handler, events, true);
	}
}

/* ---------- the SQL functions ---------- */

/* run fn's SPI work as the extension's owner (the registry, the log) */
#define AS_EXTENSION_OWNER(code) \
	do { \
		Oid			save_userid_; \
		int			save_sec_; \
		Oid			owner_ = dt_extension_owner(); \
		GetUserIdAndSecContext(&save_userid_, &save_sec_); \
		SetUserIdAndSecContext(owner_, save_sec_ | SECURITY_LOCAL_USERID_CHANGE); \
		code; \
		SetUserIdAndSecContext(save_userid_, save_sec_); \
	} while (0)

static char *
text_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * refuse_from_handler: the first step of every projection function but
 * projection_running(): a handler may not register, backfill, switch,
 * reset or drop projections (55000), or it could step its own projection
 * into giving it a batch twice.
 */
static void
refuse_from_handler(FunctionCallInfo fcinfo)
{
	if (handler_running != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s() cannot be called by the handler of projection \"%s\"",
						get_func_name(fcinfo->flinfo->fn_oid), handler_running),
				 errdetail("A projection handler reads events; it cannot manage projections.")));
}

/*
 * Check that func is the caller's, not a procedure, with one argument of
 * type argtype (InvalidOid: none) and returning void.
 */
static void
check_function(Oid func, Oid argtype, const char *role_of_it)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(func));
	Form_pg_proc proc;
	bool		ok;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %u does not exist", func)));
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	ok = proc->prokind == PROKIND_FUNCTION && proc->prorettype == VOIDOID &&
		!proc->proretset &&
		(OidIsValid(argtype) ? proc->pronargs == 1 && proc->proargtypes.values[0] == argtype
		 : proc->pronargs == 0);
	if (proc->proowner != GetUserId())
	{
		ReleaseSysCache(tuple);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s %s does not belong to role \"%s\"", role_of_it,
						format_procedure(func), GetUserNameFromId(GetUserId(), false)),
				 errdetail("A projection's functions must be owned by the role that registers it: they run as that role.")));
	}
	ReleaseSysCache(tuple);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s has the wrong signature", role_of_it, format_procedure(func)),
				 errhint(OidIsValid(argtype) ?
						 "A handler is a function (events drivetribe.events[]) RETURNS void." :
						 "A reset function is a function () RETURNS void.")));
}

/* refuse a mode that is neither inline nor async (22023) */
static void
check_mode(const char *mode)
{
	if (strcmp(mode, "inline") != 0 && strcmp(mode, "async") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid projection mode \"%s\"", mode),
				 errhint("The modes are 'inline' and 'async'.")));
}

/* the qualified signature text a function is kept as in the registry */
static char *
function_text(Oid func)
{
	return format_procedure_qualified(func);
}

PG_FUNCTION_INFO_V1(drivetribe_projection_register);

/*
 * projection_register(name, handler, kinds, mode, reset_handler): the
 * checks and the registry row of create_projection().  The caller must be
 * a projector (grant_projector()) or a superuser and own both functions.
 */
Datum
drivetribe_projection_register(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	char	   *mode = text_arg(fcinfo, 3, "mode");
	Oid			handler;
	Oid			events_array = get_array_type(get_rel_type_id(
															  get_relname_relid("events", get_namespace_oid("drivetribe", false))));
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		projector = superuser();
	Datum		user = ObjectIdGetDatum(GetUserId());
	int			len = strlen(name);

	refuse_from_handler(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("handler must not be null")));
	handler = PG_GETARG_OID(1);
	if (len == 0 || len > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len ||
		(name[0] >= '0' && name[0] <= '9'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid projection name \"%s\"", name),
				 errdetail("A name is 1 to 63 lower-case letters, digits and underscores, not starting with a digit.")));
	check_mode(mode);
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *kinds = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *elems;
		bool	   *knulls;
		int			n;

		deconstruct_array(kinds, TEXTOID, -1, false, TYPALIGN_INT, &elems, &knulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kinds must not be empty"),
					 errhint("Pass NULL for every kind.")));
		for (int k = 0; k < n; k++)
		{
			char	   *kind = knulls[k] ? NULL : TextDatumGetCString(elems[k]);

			if (kind == NULL || dt_kind_from_name(kind) == DT_NUM_KINDS)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown event kind \"%s\"", kind ? kind : "NULL")));
		}
		values[4] = PointerGetDatum(kinds);
	}
	else
		nulls[4] = 'n';
	check_function(handler, events_array, "handler");
	if (!PG_ARGISNULL(4))
	{
		check_function(PG_GETARG_OID(4), InvalidOid, "reset function");
		values[3] = CStringGetTextDatum(function_text(PG_GETARG_OID(4)));
	}
	else
		nulls[3] = 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	values[0] = CStringGetTextDatum(name);
	values[1] = user;
	values[2] = CStringGetTextDatum(function_text(handler));
	values[5] = CStringGetTextDatum(mode);
	AS_EXTENSION_OWNER({
		if (!projector)
		{
			(void) dt_exec(DT_SQL_PROJECTION_IS_PROJECTOR, &user, NULL, true, 1);
			projector = dt_result_bool(0, 1);
		}
		if (projector)
			(void) dt_exec(DT_SQL_PROJECTION_INSERT, values, nulls, false, 0);
	});
	if (!projector)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not register projections",
						GetUserNameFromId(GetUserId(), false)),
				 errhint("A superuser or the extension's owner grants it: SELECT drivetribe.grant_projector('%s').",
						 GetUserNameFromId(GetUserId(), false))));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("projection \"%s\" already exists", name)));
	SPI_finish();
	PG_RETURN_VOID();
}

/* set a projection's state and mode; caller is connected to SPI */
static void
set_state(const char *name, const char *state, const char *mode)
{
	Datum		values[3];

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(state);
	values[2] = CStringGetTextDatum(mode);
	AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_SET_STATE, values, NULL, false, 0));
}

/*
 * dt_projection_get: read and lock (FOR UPDATE NOWAIT: 55P03 when another
 * backfill, switch or the worker holds it) projection name's row.  Unless
 * by_worker, the caller must be its registrant (or a member of it) or a
 * superuser.  Caller is connected to SPI.
 */
void
dt_projection_get(const char *name, DtProjection *r, bool by_worker)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;

	AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_GET, &arg, NULL, false, 1));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("projection \"%s\" does not exist", name)));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	r->name = pstrdup(name);
	r->owner = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
	if (!by_worker && !has_privs_of_role(GetUserId(), r->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("projection \"%s\" belongs to role \"%s\"", name,
						GetUserNameFromId(r->owner, true) ? GetUserNameFromId(r->owner, true) : "?")));
	r->handler = DatumGetObjectId(SPI_getbinval(row, desc, 2, &isnull));
	if (isnull)
		r->handler = InvalidOid;
	r->kinds = SPI_getbinval(row, desc, 4, &r->all_kinds);
	if (!r->all_kinds)
		r->kinds = datumCopy(r->kinds, false, -1);
	r->mode = dt_result_text(0, 5);
	r->state = dt_result_text(0, 6);
	r->cursor_txid = SPI_getbinval(row, desc, 7, &isnull);
	r->cursor_seq = DatumGetInt64(SPI_getbinval(row, desc, 8, &isnull));
	r->floor_seq = DatumGetInt64(SPI_getbinval(row, desc, 9, &isnull));
}

/*
 * dt_projection_step: up to limit events after r's cursor (cut: only
 * below the snapshot's xmin; latest: under the latest snapshot; one
 * transaction: only the events of the first transaction after the cursor)
 * to its handler, and the cursor moved.  Returns the events read.  Caller
 * is connected to SPI and holds r's row (dt_projection_get()).
 */
int64
dt_projection_step(DtProjection *r, bool cut, int64 limit, bool latest,
				   bool one_transaction)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		read;
	bool		isnull;
	Datum		events = (Datum) 0;
	bool		none;
	TimestampTz started = GetCurrentTimestamp();
	DtStatement batch = dt_versioned_statement(DT_SQL_PROJECTION_BATCH);

	values[0] = r->cursor_txid;
	values[1] = Int64GetDatum(r->cursor_seq);
	values[2] = Int64GetDatum(limit);
	values[3] = BoolGetDatum(cut);
	values[4] = r->kinds;
	nulls[4] = r->all_kinds ? 'n' : ' ';
	values[5] = Int64GetDatum(r->floor_seq);
	values[6] = BoolGetDatum(one_transaction);
	if (latest)
		AS_EXTENSION_OWNER(dt_exec_latest_rows(batch, values, nulls, 1));
	else
		AS_EXTENSION_OWNER(dt_exec(batch, values, nulls, false, 1));
	read = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (read == 0)
		return 0;

	/*
	 * The batch's commit need not wait for its WAL to reach the disk: the
	 * handler's writes and the cursor commit together, so a crash that
	 * loses the commit loses both and the batch is read again; and a later
	 * commit that waits (a writer's) flushes this one first.  On a disk
	 * whose flush takes 20 ms, this is most of a backfill's time.
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	r->cursor_txid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	r->cursor_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	events = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &none);
	if (!none)
	{
		events = datumCopy(events, false, -1);
		call_handler(r->name, r->owner, r->handler, events, true);
	}
	{
		Datum		adv[5];
		long		secs;
		int			usecs;

		TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
		adv[0] = CStringGetTextDatum(r->name);
		adv[1] = r->cursor_txid;
		adv[2] = Int64GetDatum(r->cursor_seq);
		adv[3] = Int64GetDatum(read);
		adv[4] = Float8GetDatum(secs + usecs / 1e6);
		AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_ADVANCE, adv, NULL, false, 0));
	}
	return read;
}

PG_FUNCTION_INFO_V1(drivetribe_projection_step);

/*
 * projection_step(name, cut): one batch of a backfill; the events read.  A
 * failed async projection is backfilling again from the event it failed
 * on (resume_projection()): if the handler fails again, the batch rolls
 * back and it stays failed.
 */
Datum
drivetribe_projection_step(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	bool		cut = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	DtProjection r;
	int64		read = 0;

	refuse_from_handler(fcinfo);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_get(name, &r, false);
	if (strcmp(r.state, "live") != 0)
		backfill_claim(name);
	if (strcmp(r.state, "failed") == 0)
	{
		set_state(name, "backfilling", r.mode);
		r.state = "backfilling";
	}
	if (strcmp(r.state, "backfilling") == 0)
	{
		read = dt_projection_step(&r, cut, dt_projection_batch_size, false, false);
		pgstat_report_activity(STATE_RUNNING,
							   psprintf("drivetribe: backfilling projection %s, at seq " INT64_FORMAT,
										name, r.cursor_seq));
	}
	SPI_finish();
	PG_RETURN_INT64(read);
}

PG_FUNCTION_INFO_V1(drivetribe_projection_handover);

/*
 * projection_handover(name): false while more than a batch is left after
 * the cursor; else waits for the writers in progress, applies the rest,
 * makes the projection live, and returns true.
 */
Datum
drivetribe_projection_handover(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	DtProjection r;
	Datum		values[3];
	int64		left;
	bool		isnull;
	Oid			relid = registry_oid();

	refuse_from_handler(fcinfo);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_get(name, &r, false);
	if (strcmp(r.state, "backfilling") != 0)
	{
		backfill_done(name);
		SPI_finish();
		/* resume_projection() of a live async one: make sure it runs */
		if (strcmp(r.state, "live") == 0 && strcmp(r.mode, "async") == 0)
			dt_projection_worker_wanted();
		PG_RETURN_BOOL(true);
	}
	values[0] = r.cursor_txid;
	values[1] = Int64GetDatum(r.cursor_seq);
	values[2] = Int64GetDatum((int64) dt_projection_batch_size + 1);
	AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_REMAINING, values, NULL, false, 1));
	left = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (left > dt_projection_batch_size)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	if (strcmp(r.mode, "async") == 0)
	{
		/* the worker goes on from the cursor: no writer need wait */
		set_state(name, "live", "async");
		registry_announce();
		backfill_done(name);
		SPI_finish();
		dt_projection_worker_wanted();
		PG_RETURN_BOOL(true);
	}
	/*
	 * Every writer in progress ends first; new ones wait for our commit.
	 * Then the latest snapshot has every event a writer appended.
	 */
	LockRelationOid(relid, ShareLock);
	while (dt_projection_step(&r, false, dt_projection_batch_size, true, false) > 0)
		;
	{
		Datum		live[2];

		live[0] = CStringGetTextDatum(name);
		live[1] = Int64GetDatum(0);
		AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_SET_LIVE, live, NULL, false, 0));
	}
	registry_announce();
	backfill_done(name);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(drivetribe_projection_alter);

/*
 * projection_alter(name, mode): switch projection name to mode.  Returns
 * true when alter_projection() must then catch it up and hand it over
 * with resume_projection(); a projection backfilling (or failed) keeps
 * its state and gets the mode: its backfill hands it over in that mode.
 *
 *	- A live inline projection becomes async under a SHARE lock on the
 *	  registry (the writers in progress end first; the caller bounds the
 *	  wait with lock_timeout): every event drawn so far was applied
 *	  inline, so floor_seq becomes the sequence's last value and the
 *	  cursor the snapshot's xmin: the worker reads from there and skips
 *	  seqs at or below the floor.
 *	- A live or failed async projection becomes inline backfilling from
 *	  its cursor: the worker leaves it, and resume_projection() catches up
 *	  and hands it over inline as a backfill does.
 */
Datum
drivetribe_projection_alter(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	char	   *mode = text_arg(fcinfo, 1, "mode");
	DtProjection r;
	bool		catch_up = false;

	refuse_from_handler(fcinfo);
	check_mode(mode);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_get(name, &r, false);
	if (strcmp(r.mode, mode) == 0)
		;
	else if (strcmp(r.state, "live") == 0 && strcmp(mode, "async") == 0)
	{
		Datum		arg = CStringGetTextDatum(name);

		LockRelationOid(registry_oid(), ShareLock);
		AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_TO_ASYNC, &arg, NULL, false, 0));
		registry_announce();
		/* (no worker started here, under the lock writers wait for: the
		 * first write after the switch starts it, and every earlier event
		 * was applied inline) */
	}
	else if (strcmp(r.state, "live") == 0)
	{
		/* async to inline: the worker leaves it; catch up from the cursor */
		set_state(name, "backfilling", mode);
		registry_announce();
		catch_up = true;
	}
	else
	{
		/* a failed async one becomes inline backfilling from its cursor */
		set_state(name, strcmp(r.state, "failed") == 0 ? "backfilling" : r.state, mode);
		registry_announce();
	}
	SPI_finish();
	PG_RETURN_BOOL(catch_up);
}

PG_FUNCTION_INFO_V1(drivetribe_drop_projection);

/* drop_projection(name): its registrant or a superuser; its tables stay */
Datum
drivetribe_drop_projection(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	DtProjection r;
	Datum		arg;

	refuse_from_handler(fcinfo);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_get(name, &r, false);
	arg = CStringGetTextDatum(name);
	AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_DELETE, &arg, NULL, false, 0));
	registry_announce();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * dt_projection_note_error: what stopped projection name (its handler's
 * error message), and at which event: the first one after its cursor it
 * would get; failed: and its state becomes failed (async).  Caller is
 * connected to SPI.
 */
void
dt_projection_note_error(const char *name, const char *message, bool failed)
{
	Datum		values[3];

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(message ? message : "");
	values[2] = BoolGetDatum(failed);
	AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_NOTE_ERROR, values, NULL, false, 0));
}

PG_FUNCTION_INFO_V1(drivetribe_projection_note_error);

/*
 * projection_note_error(name, error): what stopped a backfill, for the
 * projections view (resume_projection() calls it, then commits and raises
 * the error again).  An async projection is failed until resumed.
 */
Datum
drivetribe_projection_note_error(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	DtProjection r;

	refuse_from_handler(fcinfo);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_get(name, &r, false);
	dt_projection_note_error(name, PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1)),
							 strcmp(r.mode, "async") == 0);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(drivetribe_projection_reset);

/*
 * projection_reset(name): waits for the writers in progress (SHARE lock on
 * the registry: none is then applying the projection inline), runs its
 * reset function as its registrant, and puts it back to the start of the
 * log, backfilling; reset_projection() then backfills it again.
 */
Datum
drivetribe_projection_reset(PG_FUNCTION_ARGS)
{
	char	   *name = text_arg(fcinfo, 0, "name");
	DtProjection r;
	Datum		arg;
	bool		isnull;
	bool		no_reset;
	Oid			reset;

	refuse_from_handler(fcinfo);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_projection_get(name, &r, false);
	LockRelationOid(registry_oid(), ShareLock);
	arg = CStringGetTextDatum(name);
	AS_EXTENSION_OWNER(dt_exec(DT_SQL_PROJECTION_RESET, &arg, NULL, false, 0));
	reset = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	no_reset = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (no_reset)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("projection \"%s\" has no reset function", name),
				 errhint("Register it with reset_handler => a () RETURNS void function that empties its tables, or drop it and create it again.")));
	call_handler(name, r.owner, isnull ? InvalidOid : reset, (Datum) 0, false);
	registry_announce();
	SPI_finish();
	PG_RETURN_VOID();
}
