/*-------------------------------------------------------------------------
 *
 * locks.h
 *	  The extension's own lock identities: keys no SQL-level caller can
 *	  take.
 *
 * The write API orders conflicting calls with heavyweight locks on keys
 * (an article, a pair of users, an event_id), and the rank worker holds a
 * lock as its identity.  Up to 1.6 these were SQL advisory locks, whose
 * keys any role that can connect may take with pg_advisory_lock() and
 * hold for as long as it likes: a role with no grant at all could freeze
 * every write to one article or stop the rank worker.
 *
 * An advisory lock tag has four fields; the SQL functions only ever fill
 * the fourth with 1 (one int8 key) or 2 (two int4 keys).  Every lock of
 * the extension uses DT_LOCKTAG_SPACE there, so no SQL call can name it.
 * pg_locks still shows them (locktype advisory, objsubid 17492), which is
 * what an operator wants when a call waits.
 *
 * Keys are a class plus a 32-bit hash of up to two ids: a collision only
 * makes two unrelated calls wait for each other.
 *
 * Before any of these, a call takes its table locks, in the order an
 * ALTER EXTENSION drivetribe UPDATE from the database's version would
 * take them (dt_lock_tables(); the list is update_locks in locks.c), so
 * writers and an update running meanwhile never deadlock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_LOCKS_H
#define DRIVETRIBE_LOCKS_H

#include "storage/lock.h"

/* the advisory tag's fourth field of every drivetribe lock ("DT") */
#define DT_LOCKTAG_SPACE	0x4454

typedef enum DtLockClass
{
	DT_LOCK_EVENT_ID = 1,		/* (hash of the uuid): replay of a retry */
	DT_LOCK_ARTICLE = 2,		/* shared: use; exclusive: delete */
	DT_LOCK_BUMP = 3,			/* (article_id, user_id) */
	DT_LOCK_FOLLOW = 4,			/* (follower_id, followee_id) */
	DT_LOCK_MEMBERSHIP = 5,		/* (tribe_id, user_id) */
	DT_LOCK_RANK_WORKER = 6,	/* session: the database's rank worker */
	DT_LOCK_RANK_REGISTER = 7,	/* session: a rank worker is being started */
	DT_LOCK_COMMENT_ORDER = 8,	/* (article_id): a comment's position is
								 * drawn; held for two inserts only */
	DT_LOCK_COMMENT_ID = 9,		/* (comment_id): post_comment of that id */
	DT_LOCK_PROJECTION_WORKER = 10, /* session: the database's projection
									 * worker */
	DT_LOCK_PROJECTION_REGISTER = 11,	/* session: a projection worker is
										 * being started */
	DT_LOCK_PROJECTION_BACKFILL = 12,	/* session: (hash of a projection's
										 * name) its backfill runs */
	DT_LOCK_GREEN_REBUILD = 13	/* session: a blue/green rebuild runs
								 * (rebuild.c) */
} DtLockClass;

extern void dt_lock_tag(LOCKTAG *tag, Oid database, DtLockClass lock_class,
						uint32 key);
extern uint32 dt_lock_key_ids(int64 a, int64 b);
extern void dt_lock_ids(DtLockClass lock_class, int64 a, int64 b,
						LOCKMODE mode);

/*
 * Table locks in the update's order (locks.c, docs/design.md "Lock
 * order"): the first locks a write call takes.
 */
extern int	dt_installed_version(void);
extern void dt_lock_tables(LOCKMODE log_mode, LOCKMODE mode,
						   bool check_privileges);

#endif							/* DRIVETRIBE_LOCKS_H */
