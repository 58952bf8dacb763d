/*-------------------------------------------------------------------------
 *
 * idempotency.c
 *	  A write call's event_id: retries return the first call's result.
 *
 * docs/reference.md: a call repeated with the same event_id and the same arguments
 * returns the first call's result and changes nothing; the same event_id
 * with other arguments is 23505.  A call that appended an event is
 * remembered by the log itself (events.event_id is unique and the log is
 * never pruned).  A call that changed nothing (it returned NULL) appends
 * nothing, so its event_id is remembered in drivetribe.noop_calls for
 * drivetribe.idempotency_retention; without that, a retry after a newer
 * state change would act on an intention the caller already had answered
 * ("unbump" that was a no-op, then a bump by the same user, then the
 * unbump's retry would remove the new bump).
 *
 * Locking: dt_call_replay() takes a transaction-scoped lock on the
 * event_id (class DT_LOCK_EVENT_ID, key a hash of the uuid; locks.h)
 * before it looks the id up, and holds it to the end of the transaction,
 * so two calls with one event_id run one after the other: the second
 * sees the first one's event or no-op record once it has committed, and
 * nothing once it rolled back.  The lookups use the latest snapshot, not
 * the transaction's: a REPEATABLE READ or SERIALIZABLE retry of a call
 * that committed after its snapshot was taken returns the first call's
 * result instead of re-running it (under SERIALIZABLE the read may instead
 * raise 40001, which the client retries).  Collisions of the 32-bit key
 * only make unrelated calls wait for each other.
 *
 * A database still at SQL version 1.0 has no noop_calls table: there,
 * no-op calls are not remembered (1.0's behaviour).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "drivetribe.h"
#include "locks.h"


/*
 * reused_for_another_call: 23505; the fields name where the earlier call is
 * recorded: the log (events.event_id, events_event_id_key) or, for a call
 * that changed nothing, noop_calls (noop_calls_pkey).  column_name is
 * event_id either way.
 */
static void
reused_for_another_call(const pg_uuid_t *event_id, DtEntity recorded_in,
						const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("event_id %s was already used for another call",
					dt_uuid_to_cstring(event_id)),
			 errdetail_internal("%s", detail),
			 errhint("Use a new event_id for a new call; reuse one only to retry the same call."),
			 dt_errentity(recorded_in)));
}

/* whether drivetribe.noop_calls exists (SQL version 1.1 and later) */
static bool
noop_calls_exist(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("noop_calls", nsp));
}


/*
 * dt_call_replay: what an earlier call with this event_id did, if the
 * caller gave one.  DT_CALL_APPENDED sets *seq; a different call with the
 * same event_id is an error (23505).  Caller is connected to SPI and holds
 * no row locks yet (the advisory lock must come first in the lock order).
 */
DtCallOutcome
dt_call_replay(const DtEvent *call, bool given, int64 *seq)
{
	DtEvent		logged;
	Datum		v[1];
	LOCKTAG		tag;

	if (!given)
		return DT_CALL_NEW;
	dt_lock_tag(&tag, MyDatabaseId, DT_LOCK_EVENT_ID,
				hash_bytes(call->event_id.data, UUID_LEN));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (dt_event_lookup(&call->event_id, &logged))
	{
		if (!dt_event_same_call(call, &logged))
			reused_for_another_call(&call->event_id, DT_ENTITY_EVENT_ID,
									psprintf("It is logged as %s event with seq " INT64_FORMAT ".",
											 dt_kind_names[logged.kind], logged.seq));
		*seq = logged.seq;
		return DT_CALL_APPENDED;
	}
	if (!noop_calls_exist())
		return DT_CALL_NEW;

	v[0] = UUIDPGetDatum((pg_uuid_t *) &call->event_id);
	dt_exec_latest(DT_SQL_NOOP_BY_ID, v, NULL);
	if (SPI_processed == 0)
		return DT_CALL_NEW;
	{
		char	   *kind = dt_result_text(0, 1);

		memset(&logged, 0, sizeof(logged));
		logged.kind = dt_kind_from_name(kind);
		logged.user_id = dt_result_int64(0, 2, NULL);
		logged.tribe_id = dt_result_int64(0, 3, NULL);
		logged.article_id = dt_result_int64(0, 4, NULL);
		logged.comment_id = dt_result_int64(0, 5, NULL);
		logged.target_id = dt_result_int64(0, 6, NULL);
		logged.body = dt_result_text(0, 7);
		if (logged.kind == DT_NUM_KINDS || !dt_event_same_call(call, &logged))
			reused_for_another_call(&call->event_id, DT_ENTITY_NOOP_CALL,
									psprintf("It was used by an earlier call that changed nothing (%s).",
											 kind));
	}
	return DT_CALL_NOOP;
}

/*
 * dt_call_remember_noop: remember that the call with this event_id changed
 * nothing, so that its retries return NULL too.  Caller holds the
 * event_id's advisory lock (dt_call_replay) and is connected to SPI.
 */
void
dt_call_remember_noop(const DtEvent *call, bool given)
{
	Datum		v[8];
	char		n[8];

	if (!given || !noop_calls_exist())
		return;
	memset(n, ' ', sizeof(n));
	v[0] = UUIDPGetDatum((pg_uuid_t *) &call->event_id);
	v[1] = CStringGetTextDatum(dt_kind_names[call->kind]);
	v[2] = dt_id_datum(call->user_id, &n[2]);
	v[3] = dt_id_datum(call->tribe_id, &n[3]);
	v[4] = dt_id_datum(call->article_id, &n[4]);
	v[5] = dt_id_datum(call->comment_id, &n[5]);
	v[6] = dt_id_datum(call->target_id, &n[6]);
	v[7] = call->body ? CStringGetTextDatum(call->body) : (Datum) 0;
	n[7] = call->body ? ' ' : 'n';
	dt_exec_expect(DT_SQL_NOOP_INSERT, v, n, 1);
}

/*
 * drivetribe.prune_noop_calls() returns bigint: forget the event_ids of
 * no-op calls older than drivetribe.idempotency_retention; returns how
 * many were forgotten.  Run hourly by the drivetribe-prune-noop-calls job.
 */
PG_FUNCTION_INFO_V1(drivetribe_prune_noop_calls);
Datum
drivetribe_prune_noop_calls(PG_FUNCTION_ARGS)
{
	Datum		v[1] = {Float8GetDatum((double) dt_idempotency_retention)};
	uint64		pruned;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "drivetribe: SPI_connect failed");
	dt_exec(DT_SQL_NOOP_PRUNE, v, NULL, false, 0);
	pruned = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) pruned);
}
