/*-------------------------------------------------------------------------
 *
 * monitor.c
 *	  For operators: the extension's settings as rows (drivetribe.status
 *	  shows them), the history of verify() runs, and the removal of the
 *	  extension's pg_cron jobs when the extension is dropped.
 *
 * Settings: a GUC of a library exists only in backends that loaded it, so
 * pg_settings alone may not list drivetribe's; calling a function of the
 * library loads it first.
 *
 * verify() history: each finished verify() adds a row to
 * drivetribe.verify_runs (1.5), written as the table's owner, so a role
 * allowed to call verify() needs no right on the table; skipped where the
 * database cannot be written (a standby, a read-only transaction).
 *
 * DROP EXTENSION: pg_cron's jobs live in pg_cron's tables and would
 * outlive the extension, failing every minute.  An event trigger cannot
 * see the drop of its own extension at sql_drop (it is gone by then), so
 * drivetribe_drop_cleanup runs at ddl_command_start, reads the statement's
 * parse tree, and when it drops the drivetribe extension calls
 * drivetribe.unschedule_maintenance() in the same transaction: a drop
 * that fails later rolls the unscheduling back with it.  If the jobs
 * cannot be removed (another role's jobs, pg_cron refusing), the drop
 * goes on with a WARNING that says how to remove them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "monitor.h"

/* the columns GetConfigOptionByNum fills (pg_settings' count, and room) */
#define DT_SETTINGS_FIELDS 32

/*
 * drivetribe.settings(): name, setting, unit and description of every
 * drivetribe.* setting the caller may see.
 */
PG_FUNCTION_INFO_V1(drivetribe_settings);
Datum
drivetribe_settings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = GetNumConfigOptions();

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		const char *fields[DT_SETTINGS_FIELDS] = {0};
		bool		noshow = false;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		GetConfigOptionByNum(i, fields, &noshow);
		if (noshow || fields[0] == NULL ||
			strncmp(fields[0], "drivetribe.", strlen("drivetribe.")) != 0)
			continue;
		/* name, setting, unit, short_desc: pg_settings' columns 0, 1, 2, 4 */
		for (int c = 0; c < 4; c++)
		{
			const char *text = fields[c == 3 ? 4 : c];

			nulls[c] = text == NULL;
			values[c] = text == NULL ? (Datum) 0 : CStringGetTextDatum(text);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* the owner of a relation, or InvalidOid */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * See monitor.h.  The caller is connected to SPI.  Runs as the table's
 * owner with SECURITY_LOCAL_USERID_CHANGE (what SECURITY DEFINER does), and
 * restores the caller's identity on error too.
 */
void
dt_note_verify_run(TimestampTz started, int64 differences, int64 events)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);
	Oid			relid;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	Datum		args[4];
	Oid			types[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID};

	if (!OidIsValid(nsp) || RecoveryInProgress() || XactReadOnly)
		return;
	relid = get_relname_relid("verify_runs", nsp);
	if (!OidIsValid(relid) || !OidIsValid(owner = relation_owner(relid)))
		return;					/* before 1.5 */

	args[0] = TimestampTzGetDatum(started);
	args[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[2] = Int64GetDatum(differences);
	args[3] = Int64GetDatum(events);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_execute_with_args(
								  "INSERT INTO drivetribe.verify_runs "
								  "(started_at, finished_at, differences, events, run_by) "
								  "VALUES ($1, $2, $3, $4, session_user)",
								  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "drivetribe: could not record the verify() run");
		/* a quarter's history is plenty */
		if (SPI_execute("DELETE FROM drivetribe.verify_runs WHERE finished_at "
						"OPERATOR(pg_catalog.<) (pg_catalog.now() "
						"OPERATOR(pg_catalog.-) '90 days'::pg_catalog.interval)",
						false, 0) != SPI_OK_DELETE)
			elog(ERROR, "drivetribe: could not prune verify_runs");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

/* does a DROP statement name the drivetribe extension? */
static bool
drops_drivetribe(DropStmt *stmt)
{
	ListCell   *cell;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(cell, stmt->objects)
	{
		Node	   *name = lfirst(cell);

		if (IsA(name, String) && strcmp(strVal(name), "drivetribe") == 0)
			return true;
	}
	return false;
}

/*
 * Whether the current user may drop the extension (its owner, or a
 * superuser).  Anyone else's DROP EXTENSION fails with "must be owner"
 * right after this trigger: nothing is tried and nothing printed before
 * it (up to 1.6 such a drop first printed pg_cron's permission error as a
 * WARNING).
 */
static bool
may_drop_drivetribe(void)
{
	Oid			extoid = get_extension_oid("drivetribe", true);

	return OidIsValid(extoid) && pg_extension_ownercheck(extoid, GetUserId());
}

/*
 * Remove the maintenance jobs in a subtransaction; a failure becomes a
 * WARNING (the drop itself must not fail because of pg_cron).
 */
static void
unschedule_jobs_or_warn(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "drivetribe: SPI_connect failed");
		if (SPI_execute("SELECT FROM pg_catalog.pg_extension "
						"WHERE extname OPERATOR(pg_catalog.=) 'pg_cron'",
						true, 1) == SPI_OK_SELECT && SPI_processed == 1 &&
			SPI_execute("SELECT drivetribe.unschedule_maintenance()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "drivetribe: unschedule_maintenance() failed");
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(cxt);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		/*
		 * The hint is pasted by a superuser, maybe with a search_path that
		 * a hostile role can write to: every name qualified, the name cast
		 * to text and the operators pinned (pg_catalog has no ~~(name,
		 * name) nor =(text, name): public's would win).
		 */
		ereport(WARNING,
				(errmsg("could not remove the pg_cron jobs of drivetribe: %s", error->message),
				 errhint("As a superuser, remove them with: SELECT cron.unschedule(j.jobid) FROM cron.job j "
						 "WHERE j.jobname::pg_catalog.text OPERATOR(pg_catalog.~~) 'drivetribe-%%' "
						 "AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()::pg_catalog.text;")));
		FreeErrorData(error);
	}
	PG_END_TRY();
}

/*
 * Event trigger on ddl_command_start for DROP EXTENSION: removes the
 * maintenance jobs when the statement drops drivetribe (see the banner).
 */
PG_FUNCTION_INFO_V1(drivetribe_drop_cleanup);
Datum
drivetribe_drop_cleanup(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("drop_cleanup() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree != NULL && IsA(trigdata->parsetree, DropStmt) &&
		drops_drivetribe((DropStmt *) trigdata->parsetree) &&
		may_drop_drivetribe())
		unschedule_jobs_or_warn();
	PG_RETURN_VOID();
}
