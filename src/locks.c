/*-------------------------------------------------------------------------
 *
 * locks.c
 *	  Lock tags of the extension's own locks (see locks.h): advisory tags
 *	  in a space (the tag's fourth field) that no SQL function reaches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"

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
