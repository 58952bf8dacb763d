/*-------------------------------------------------------------------------
 *
 * rebuild.c
 *	  The blue/green rebuild: CALL drivetribe.rebuild(concurrently => true).
 *
 * The live projections (blue, schema drivetribe) keep serving every read
 * and every write while a second set (green, schema drivetribe_green, the
 * same tables with the same columns, constraints, indexes, grants and
 * comments) is built from the log beside them:
 *
 *	1. load: the events of the transactions visible in one snapshot S0 are
 *	   replayed into memory (replay.c), and the green tables are written
 *	   from it in bulk, by the same reconcile code as rebuild()
 *	   (reconcile.c), its statements retargeted at the green tables
 *	   (dt_target_green(), statements.c); then their indexes are built and
 *	   they are analyzed.  The load is a procedure that commits at least
 *	   every LOAD_STEP_MS, keeping the replay in memory that survives
 *	   commits: S0 is kept as a value, not as the snapshot of a
 *	   transaction, and each step reads the log under a snapshot of its
 *	   own, the events of S0 only (the log is append-only: what S0 sees,
 *	   every later snapshot sees).
 *	2. catch up: the events committed since, applied to the green tables by
 *	   the live sink (the write path's own code, retargeted), in rounds.  A
 *	   round has two snapshots, since (the previous round's) and upto (taken
 *	   when it starts): its events are those of the transactions visible in
 *	   upto and not in since, the commit-safe cut of read_log(), in seq
 *	   order.  An event of a transaction that was running at since has a
 *	   smaller seq than some event already applied only when the two do
 *	   not conflict (conflicting calls hold a lock from before their append
 *	   to their commit, write_api.c), so applying it later gives what a
 *	   replay in seq order gives.  Each event is applied exactly once: a
 *	   transaction visible in since is visible in every later snapshot.
 *	3. switch: a session lock on the log in SHARE mode (writers wait; it
 *	   waits for the writers in progress), held across two short
 *	   transactions: the first applies the last round and commits it, the
 *	   second locks the views and tables (readers wait) and swaps the
 *	   schemas of the blue and green tables (drivetribe_internal.
 *	   green_swap(), SQL), writing no row, so that a reader that waited for
 *	   it sees every green row; every reader and writer then resolves the
 *	   names to the green tables.
 *
 * The state lives in drivetribe.rebuild_state and the green tables, and
 * every step commits with it, so a cancel (or an error, or a crash) at
 * any point leaves the live projections untouched and a later CALL goes
 * on from the last committed step.  One session at a time runs it: a
 * session lock of class DT_LOCK_GREEN_REBUILD, held from the first step,
 * released at the end, by an abort (a cancel) or by the session's end.
 *
 * The orchestration (steps, commits, the state) is the procedure's, in
 * SQL (drivetribe--1.8--1.9.sql); the steps that read the log are here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "drivetribe.h"
#include "locks.h"
#include "progress.h"
#include "replay.h"

/* an event's columns as dt_event_from_row() reads them (1.9) */
#define GREEN_EVENT_COLUMNS \
	"seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, " \
	"comment_id, target_id, recipient_id, body, " \
	"context OPERATOR(pg_catalog.->>) 'bumps' AS bumps, version, parent_comment_id "

/*
 * the events the load replays after seq $1: those of the transactions
 * visible in its snapshot ($3), none after the last of them ($2).  The
 * log is append-only, so any later snapshot sees each of them.  A cursor
 * reads LOAD_CURSOR_EVENTS at most: each is planned anew (for its seq
 * range), and a plan over the rest of a large log costs enough for JIT
 * compilation with optimization, a fraction of a second every time.
 */
#define LOAD_SQL \
	"SELECT " GREEN_EVENT_COLUMNS "FROM ONLY drivetribe.events e " \
	"WHERE e.seq OPERATOR(pg_catalog.>) $1 AND e.seq OPERATOR(pg_catalog.<=) $2 " \
	"AND pg_catalog.pg_visible_in_snapshot(e.txid, $3::pg_catalog.pg_snapshot) " \
	"ORDER BY e.seq LIMIT " CppAsString2(LOAD_CURSOR_EVENTS)
#define LOAD_CURSOR_EVENTS 100000

/*
 * The load commits at least this often (ms): a transaction that held its
 * snapshot or its transaction id over the whole load would hold the
 * cleanup horizon as long, and the writers' counter stripes, which every
 * view rewrites in place, would pile up versions that nothing can prune
 * (docs/benchmarks.md: at 10M events, writes waited 33 s).
 */
#define LOAD_STEP_MS 1000

/*
 * the events a catch-up round reads after a cursor; $1 since, $2 upto.
 * The round's events are found through the (txid, seq) index: their
 * transactions lie between since's xmin and upto's xmax (a range bounded
 * at both ends, which the planner takes for few rows), and they are read
 * in a CTE of their own, then sorted: with ORDER BY seq LIMIT over the
 * whole log, the planner may walk the log in seq order, or scan it, to
 * find the few recent ones (a third of a second per 2M events, and the
 * switch's last round runs with writers held out).
 */
#define CATCH_UP_SQL \
	"WITH round AS MATERIALIZED (" \
	"SELECT " GREEN_EVENT_COLUMNS "FROM ONLY drivetribe.events e " \
	"WHERE e.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin($1) " \
	"AND e.txid OPERATOR(pg_catalog.<) pg_catalog.pg_snapshot_xmax($2) " \
	"AND NOT pg_catalog.pg_visible_in_snapshot(e.txid, $1) " \
	"AND pg_catalog.pg_visible_in_snapshot(e.txid, $2) " \
	"AND e.seq OPERATOR(pg_catalog.>) $3) " \
	"SELECT * FROM round ORDER BY seq LIMIT $4"

/* ---------- who runs it ---------- */

static bool claimed = false;
static bool claim_callback = false;

static void
green_tag(LOCKTAG *tag)
{
	dt_lock_tag(tag, MyDatabaseId, DT_LOCK_GREEN_REBUILD, 0);
}

/* the log, held SHARE across the switch's two transactions, or InvalidOid */
static Oid	held_log = InvalidOid;

static void
release_log(void)
{
	LockRelId	relid;

	if (!OidIsValid(held_log))
		return;
	relid.dbId = MyDatabaseId;
	relid.relId = held_log;
	UnlockRelationIdForSession(&relid, ShareLock);
	held_log = InvalidOid;
}

static void
green_release(void)
{
	LOCKTAG		tag;

	release_log();
	if (!claimed)
		return;
	green_tag(&tag);
	LockRelease(&tag, ExclusiveLock, true);
	claimed = false;
}

/* a top-level abort (a cancel, an error) ends this session's run */
static void
green_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT)
		green_release();
}

/*
 * drivetribe_internal.green_claim(done boolean): take (55P03 when another
 * session runs a blue/green rebuild) or, with done, release this
 * session's claim.  Also refuses what the procedure cannot do: a caller
 * that is not a superuser (the switch moves tables and changes the
 * extension), a hot standby, an isolation level other than READ COMMITTED.
 */
PG_FUNCTION_INFO_V1(drivetribe_green_claim);
Datum
drivetribe_green_claim(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	if (!PG_ARGISNULL(0) && PG_GETARG_BOOL(0))
	{
		green_release();
		PG_RETURN_VOID();
	}
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for a blue/green rebuild"),
				 errdetail("Its switch moves the projection tables and changes the extension's members: only a superuser may run it."),
				 errhint("SELECT drivetribe.rebuild() rebuilds in place, holding writers out.")));
	PreventCommandDuringRecovery("CALL drivetribe.rebuild(concurrently => true)");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a blue/green rebuild must run at READ COMMITTED isolation"),
				 errdetail("Each step takes the snapshot it records.")));
	if (claimed)
		PG_RETURN_VOID();
	if (!claim_callback)
	{
		RegisterXactCallback(green_xact_callback, NULL);
		claim_callback = true;
	}
	green_tag(&tag);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("another session is running a blue/green rebuild of this database"),
				 errhint("pg_stat_activity shows it (\"drivetribe.rebuild(concurrently)\"); CALL again when it is over, or cancel it.")));
	claimed = true;
	PG_RETURN_VOID();
}

/* drivetribe_internal.green_running(): whether any session runs one now */
PG_FUNCTION_INFO_V1(drivetribe_green_running);
Datum
drivetribe_green_running(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	if (claimed)
		PG_RETURN_BOOL(true);
	green_tag(&tag);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		PG_RETURN_BOOL(true);
	LockRelease(&tag, ExclusiveLock, true);
	PG_RETURN_BOOL(false);
}

/*
 * drivetribe_internal.green_hold_log(hold boolean): take (hold) or let go
 * of a session lock on the log in SHARE mode: writers wait from here to the
 * release, across commits.  The switch's first transaction applies the
 * last events to the green tables and commits them, so that the second,
 * which swaps the tables, writes no row: a reader that waited for the swap
 * sees every green row with its snapshot.  Waits as lock_timeout allows
 * (the caller's tries).  An abort lets go (green_xact_callback).
 */
PG_FUNCTION_INFO_V1(drivetribe_green_hold_log);
Datum
drivetribe_green_hold_log(PG_FUNCTION_ARGS)
{
	bool		hold = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);

	if (!hold)
	{
		release_log();
		PG_RETURN_VOID();
	}
	if (!claimed)
		elog(ERROR, "drivetribe: green_hold_log() outside a blue/green rebuild");
	if (!OidIsValid(held_log))
	{
		Oid			nsp = get_namespace_oid("drivetribe", false);
		LockRelId	relid;

		relid.dbId = MyDatabaseId;
		relid.relId = get_relname_relid("events", nsp);
		if (!OidIsValid(relid.relId))
			elog(ERROR, "drivetribe: no drivetribe.events");
		LockRelationIdForSession(&relid, ShareLock);
		held_log = relid.relId;
	}
	PG_RETURN_VOID();
}

/* ---------- the steps ---------- */

/* the active snapshot as a pg_snapshot's text; caller is connected to SPI */
static char *
snapshot_text(void)
{
	if (SPI_execute("SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "drivetribe: could not read the snapshot");
	return dt_result_text(0, 1);
}

/*
 * The load's steps.  Caller is connected to SPI non-atomically and has
 * pushed the step's snapshot; no cursor is open.  Once the step has run
 * LOAD_STEP_MS, its work is committed and the next one starts with a new
 * snapshot (and, while the green tables are written, their statements
 * retargeted again: dt_target_green() ends with each transaction).
 */
typedef struct GreenLoad
{
	TimestampTz step_started;
	bool		writing;		/* the green tables are being written */
} GreenLoad;

static bool
load_step_due(GreenLoad *load)
{
	return TimestampDifferenceExceeds(load->step_started, GetCurrentTimestamp(),
									  LOAD_STEP_MS);
}

static void
load_next_step(void *arg)
{
	GreenLoad  *load = arg;

	if (!load_step_due(load))
		return;
	PopActiveSnapshot();
	SPI_commit();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (load->writing)
		dt_target_green(true);
	load->step_started = GetCurrentTimestamp();
}

/* its seq range under the active snapshot: {last seq, seqs from first to last} */
static void
log_extent(int64 *last, int64 *extent)
{
	if (SPI_execute("SELECT COALESCE(pg_catalog.max(seq), 0), "
					"COALESCE(pg_catalog.max(seq) OPERATOR(pg_catalog.-) "
					"pg_catalog.min(seq) OPERATOR(pg_catalog.+) 1, 0) "
					"FROM ONLY drivetribe.events", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "drivetribe: could not read the log's extent");
	*last = dt_result_int64(0, 1, NULL);
	*extent = dt_result_int64(0, 2, NULL);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * CALL drivetribe_internal.green_load(): phase 1.  Replays the events of
 * the transactions visible in one snapshot, S0, into memory, and writes
 * the (empty) green tables from it, committing as it goes; records S0 in
 * drivetribe.rebuild_state.since_snapshot (the first catch-up round's
 * since) in its first step.  Caller (the procedure, non-atomic) has
 * created the green tables with their keys and no other index, and
 * builds those next.  A cancel leaves the green tables part written: the
 * next CALL starts the load over.
 */
PG_FUNCTION_INFO_V1(drivetribe_green_load);
Datum
drivetribe_green_load(PG_FUNCTION_ARGS)
{
	static Oid	types[3] = {INT8OID, INT8OID, TEXTOID};
	GreenLoad	load = {0};
	ReplayState *state;
	DtReconcileCounts counts;
	Datum		args[3];
	char	   *snapshot;
	int64		last_seq;
	int64		extent;
	int64		events;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("drivetribe_internal.green_load() commits as it goes"),
				 errhint("CALL it outside a transaction block, as drivetribe.rebuild(concurrently => true) does.")));
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	/* in the SPI procedure context, which a non-atomic call's commits keep */
	dt_progress_begin("drivetribe.rebuild(concurrently)");
	dt_progress_across_commits();

	/* S0, the last seq it sees, and where the next round starts from */
	PushActiveSnapshot(GetTransactionSnapshot());
	load.step_started = GetCurrentTimestamp();
	snapshot = snapshot_text();
	log_extent(&last_seq, &extent);
	args[0] = CStringGetTextDatum(snapshot);
	if (SPI_execute_with_args("UPDATE drivetribe.rebuild_state "
							  "SET since_snapshot = $1::pg_catalog.pg_snapshot",
							  1, &types[2], args, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "drivetribe: drivetribe.rebuild_state has no row");

	/* the replay, a step at a time, each step's cursor after the last seq */
	state = dt_replay_begin(false);
	dt_progress_phase(1, 2, "replaying the log", "events", extent);
	args[1] = Int64GetDatum(last_seq);
	args[2] = CStringGetTextDatum(snapshot);
	for (;;)
	{
		Portal		portal;
		int64		read = 0;
		bool		due = false;

		args[0] = Int64GetDatum(state->seq);
		/* planned for its first rows: the (seq) index, not a sort of the log */
		portal = SPI_cursor_open_with_args(NULL, LOAD_SQL, 3, types, args,
										   NULL, true, CURSOR_OPT_FAST_PLAN);
		while (!due)
		{
			SPI_cursor_fetch(portal, true, DT_REPLAY_BATCH);
			if (SPI_processed == 0)
				break;
			read += SPI_processed;
			dt_replay_rows(state);
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
			due = load_step_due(&load);
		}
		SPI_cursor_close(portal);
		/* a cursor that ended short of its limit has read the last event */
		if (!due && read < LOAD_CURSOR_EVENTS)
			break;
		load_next_step(&load);
	}
	dt_replay_done(state);

	/* the green tables, from it, committing between batches */
	load.writing = true;
	dt_target_green(true);
	(void) dt_reconcile(state, true, NULL, &counts, load_next_step, &load);
	dt_target_green(false);
	events = state->events;
	MemoryContextDelete(state->cxt);
	PopActiveSnapshot();
	SPI_finish();
	dt_progress_end(psprintf("%s replayed into the green tables, %s written",
							 dt_count_noun(events, "events"),
							 dt_count_noun(counts.inserted, "rows")),
					events);
	PG_RETURN_VOID();
}

/*
 * drivetribe_internal.green_catch_up(since pg_snapshot, upto pg_snapshot,
 * after_seq bigint, max_events int) returns bigint[] {events applied, the
 * last seq applied}: phase 2, one batch of a round: up to max_events of
 * the events of transactions visible in upto and not in since, after
 * after_seq in seq order, applied to the green tables.  Caller commits
 * the batch with the round's new cursor.
 */
PG_FUNCTION_INFO_V1(drivetribe_green_catch_up);
Datum
drivetribe_green_catch_up(PG_FUNCTION_ARGS)
{
	static Oid	types[4] = {PG_SNAPSHOTOID, PG_SNAPSHOTOID, INT8OID, INT8OID};
	Datum		values[4];
	Datum		result[2];
	int64		applied = 0;
	int64		last_seq;
	uint64		row;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			elog(ERROR, "drivetribe: green_catch_up() needs every argument");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	values[3] = Int64GetDatum((int64) PG_GETARG_INT32(3));
	last_seq = PG_GETARG_INT64(2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	/*
	 * Planned for its values each time (no kept plan): with since's xmin
	 * known, the planner reads the few recent transactions through the
	 * (txid, seq) index; a generic plan may walk the whole log in seq order.
	 */
	if (SPI_execute_with_args(CATCH_UP_SQL, 4, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "drivetribe: the catch-up's read of the log failed");

	dt_target_green(true);
	{
		SPITupleTable *events = SPI_tuptable;
		uint64		n = SPI_processed;

		for (row = 0; row < n; row++)
		{
			DtEvent		ev;
			char	   *problem;

			SPI_tuptable = events;
			dt_event_from_row((int) row, &ev);
			problem = dt_event_problem(&ev);
			if (problem != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("drivetribe event log is corrupt at seq " INT64_FORMAT ": %s",
								ev.seq, problem),
						 errdetail("A blue/green rebuild applies every event it reads.")));
			dt_project_event(&ev, &dt_live_sink);
			last_seq = ev.seq;
			applied++;
		}
	}
	dt_target_green(false);
	SPI_finish();

	result[0] = Int64GetDatum(applied);
	result[1] = Int64GetDatum(last_seq);
	PG_RETURN_ARRAYTYPE_P(construct_array(result, 2, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
