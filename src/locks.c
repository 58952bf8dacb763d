/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  Lock tags of the extension's own locks (see locks.h): advisory tags
 *	  in a space (the tag's fourth field) that no SQL function reaches;
 *	  and the order of the table locks every call takes first, the
 *	  update's (update_locks, docs/design.md "Lock order").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "locks.h"

/*
 * dt_lock_tag: the tag of one drivetribe lock of a database.  The class
 * takes the field SQL's two-key advisory locks use for their first key,
 * prefixed "DT" as in 1.6 so that pg_locks reads the same.
 */
void
dt_lock_tag(LOCKTAG *tag, Oid database, DtLockClass lock_class, uint32 key)
{
	SET_LOCKTAG_ADVISORY(*tag, database, 0x44540000 | (uint32) lock_class,
						 key, DT_LOCKTAG_SPACE);
}

/* the 32-bit key of up to two ids (0 for an unused one) */
uint32
dt_lock_key_ids(int64 a, int64 b)
{
	int64		ids[2] = {a, b};

	return hash_bytes((const unsigned char *) ids, sizeof(ids));
}

/*
 * dt_lock_ids: take a transaction-scoped lock of one class on (a, b) in
 * this database, waiting for it; held to the end of the transaction.  The
 * caller must take its locks in the order of docs/design.md "Lock order".
 */
void
dt_lock_ids(DtLockClass lock_class, int64 a, int64 b, LOCKMODE mode)
{
	LOCKTAG		tag;

	dt_lock_tag(&tag, MyDatabaseId, lock_class, dt_lock_key_ids(a, b));
	(void) LockAcquire(&tag, mode, false, false);
}

/* ---------- table locks in the update's order ---------- */

/* an SQL version of the extension as a number: DT_VERSION(1, 7) is 107 */
#define DT_VERSION(major, minor)	((major) * 100 + (minor))

/* the log: every call appends to it */
#define DT_LOG_RELNAME		"events"

/*
 * The tables ALTER EXTENSION drivetribe UPDATE locks in a mode that
 * conflicts with a writer's (SHARE, SHARE ROW EXCLUSIVE, EXCLUSIVE or
 * ACCESS EXCLUSIVE: a writer takes ROW EXCLUSIVE, ROW SHARE and ACCESS
 * SHARE), in the order the update scripts first take them, each with the
 * version of the script that takes it.  The update runs every script of
 * its path in one transaction and holds each lock to its commit.
 *
 * dt_lock_tables() takes, before anything else, the tables of the scripts
 * this database has not run yet, in this order, then the log.  A writer
 * then never holds a table the update is about to lock while it waits for
 * one the update holds: it waits for the update, or the update for it,
 * and no deadlock can form (docs/design.md "Lock order").
 *
 * To extend: when an update script locks a table of schema drivetribe
 * (ALTER TABLE, DROP INDEX, CREATE INDEX, a non-concurrent REINDEX, LOCK
 * TABLE, ...; not COMMENT, which takes SHARE UPDATE EXCLUSIVE), add the
 * table here in the script's order, and give the script's version a mark
 * in version_marks (else a database already at that version keeps taking
 * the table's lock on every call: still correct, but a lock more).
 * Released scripts never change, so their entries never do either.
 * Checked against pg_locks by test/e2e/upgrade_under_load.sh.
 */
typedef struct DtUpdateLock
{
	int			script;			/* drivetribe--<older>--<script>.sql */
	const char *relname;		/* a table of schema drivetribe */
} DtUpdateLock;

static const DtUpdateLock update_locks[] = {
	/* drivetribe--1.0--1.1.sql: ADD CONSTRAINT events_valid */
	{DT_VERSION(1, 1), DT_LOG_RELNAME},
	/* drivetribe--1.1--1.2.sql: DROP INDEX follows_followee_idx, then DROP COLUMN score */
	{DT_VERSION(1, 2), "follows"},
	{DT_VERSION(1, 2), "articles"},
	/* drivetribe--1.2--1.3.sql: ADD COLUMN score, then DROP INDEX memberships_user_idx */
	{DT_VERSION(1, 3), "articles"},
	{DT_VERSION(1, 3), "memberships"},
	/* drivetribe--1.3--1.4.sql: ADD COLUMN txid */
	{DT_VERSION(1, 4), DT_LOG_RELNAME},
	/* drivetribe--1.4--1.5.sql, drivetribe--1.5--1.6.sql: none */
	/*
	 * drivetribe--1.6--1.7.sql: DROP INDEX articles_rank_idx (the rank
	 * moves to article_ranks), LOCK TABLE events (comment positions from
	 * the log), ADD COLUMN comments.pos
	 */
	{DT_VERSION(1, 7), "articles"},
	{DT_VERSION(1, 7), DT_LOG_RELNAME},
	{DT_VERSION(1, 7), "comments"},
	/*
	 * drivetribe--1.8--1.9.sql: LOCK TABLE events, comments (then ADD
	 * COLUMN version and parent_comment_id, ADD COLUMN parent_comment_id
	 * and replies)
	 */
	{DT_VERSION(1, 9), DT_LOG_RELNAME},
	{DT_VERSION(1, 9), "comments"},
};

/*
 * A relation each SQL version adds, newest first: the catalogs show the
 * installed version at the price of a syscache lookup or two per call
 * (pg_extension has no syscache).  1.6 added no relation and reads as
 * 1.5, which is all update_locks needs: no script of 1.6 locks a table.
 */
typedef struct DtVersionMark
{
	int			version;
	const char *relname;		/* a relation of schema drivetribe */
} DtVersionMark;

static const DtVersionMark version_marks[] = {
	{DT_VERSION(1, 9), "event_versions"},
	{DT_VERSION(1, 8), "projection_registry"},
	{DT_VERSION(1, 7), "article_ranks"},
	{DT_VERSION(1, 5), "verify_runs"},
	{DT_VERSION(1, 4), "events_txid_seq_idx"},
	{DT_VERSION(1, 3), "articles_tribe_rank_idx"},
	{DT_VERSION(1, 2), "article_stripes"},
	{DT_VERSION(1, 1), "noop_calls"},
};

/*
 * dt_installed_version: the newest version in version_marks whose mark this
 * database has (DT_VERSION(1, 0) when none), as committed: during an ALTER
 * EXTENSION ... UPDATE in another session, the version before it.
 */
int
dt_installed_version(void)
{
	Oid			nsp = get_namespace_oid("drivetribe", true);

	if (OidIsValid(nsp))
		for (int i = 0; i < lengthof(version_marks); i++)
			if (OidIsValid(get_relname_relid(version_marks[i].relname, nsp)))
				return version_marks[i].version;
	return DT_VERSION(1, 0);
}

/*
 * RangeVarGetRelidExtended callback: the privileges LOCK TABLE asks of the
 * current user for the mode, checked before the lock is requested.
 */
static void
check_lock_privilege(const RangeVar *rv, Oid relid, Oid oldrelid, void *arg)
{
	LOCKMODE	mode = *(LOCKMODE *) arg;
	AclMode		mask = ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE;

	if (!OidIsValid(relid))
		return;
	if (mode <= AccessShareLock)
		mask |= ACL_SELECT;
	if (mode <= RowExclusiveLock)
		mask |= ACL_INSERT;
	if (pg_class_aclcheck(relid, GetUserId(), mask) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   rv->relname);
}

/* lock one table of schema drivetribe; false if there is none of that name */
static bool
lock_table(const char *relname, LOCKMODE mode, bool missing_ok,
		   bool check_privileges)
{
	Oid			relid;

	relid = RangeVarGetRelidExtended(makeRangeVar("drivetribe", (char *) relname, -1),
									 mode, missing_ok ? RVR_MISSING_OK : 0,
									 check_privileges ? check_lock_privilege : NULL,
									 &mode);
	return OidIsValid(relid);
}

/*
 * dt_lock_tables: the first locks of a write call (and of verify() and
 * rebuild()): the tables an update from this database's version would lock (update_locks, in its order), in `mode`, then the log
 * in `log_mode` if it was not among them.  The caller holds no lock of the
 * extension yet in this call (no advisory lock, no row lock, no other
 * table); locks held from earlier calls of the same transaction are the
 * caller's business (docs/design.md "Lock order").  Each lock is held to
 * the end of the transaction; on a database at the newest version this is
 * the log's lock alone.  Errors if the log does not exist.  With
 * check_privileges, each table first needs the privileges LOCK TABLE would
 * ask of the current user (callers that are not SECURITY DEFINER).
 */
void
dt_lock_tables(LOCKMODE log_mode, LOCKMODE mode, bool check_privileges)
{
	int			version = dt_installed_version();
	bool		log_locked = false;

	for (int i = 0; i < lengthof(update_locks); i++)
	{
		const char *relname = update_locks[i].relname;
		bool		is_log = strcmp(relname, DT_LOG_RELNAME) == 0;
		bool		seen = false;

		if (update_locks[i].script <= version)
			continue;
		/* a table the path locks again keeps its first place */
		for (int j = 0; j < i && !seen; j++)
			seen = update_locks[j].script > version &&
				strcmp(update_locks[j].relname, relname) == 0;
		if (seen)
			continue;
		(void) lock_table(relname, is_log ? log_mode : mode, !is_log,
						  check_privileges);
		log_locked |= is_log;
	}
	if (!log_locked)
		(void) lock_table(DT_LOG_RELNAME, log_mode, false, check_privileges);
}
