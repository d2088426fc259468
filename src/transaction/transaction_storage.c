/*-------------------------------------------------------------------------
 *
 * transaction_storage.c
 *	  Aegis storage created or dropped when the asking (sub)transaction ends.
 *
 * This mirrors PostgreSQL's pending deletes (catalog/storage.c): creating
 * storage registers "drop at abort", dropping (DROP TABLE, the old
 * relfilenode of TRUNCATE or a rewrite, DROP DATABASE) registers "drop at
 * commit".  Each entry remembers the nesting level that registered it: a
 * subtransaction commit hands its entries to the parent, a subtransaction
 * abort performs its "at abort" entries and forgets the rest.  So ROLLBACK
 * (TO SAVEPOINT) of CREATE, TRUNCATE or DROP leaves the previous state.
 *
 * The list lives in TopMemoryContext and is private to the backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "catalog/pg_class.h"
#include "utils/memutils.h"

typedef struct PendingStorageOp
{
	AegisRelKey key;			/* relation, or only key.dbOid if is_database */
	bool		is_database;
	bool		at_commit;		/* drop at commit (true) or at abort */
	int			nest_level;
	struct PendingStorageOp *next;
} PendingStorageOp;

static PendingStorageOp *pending_ops = NULL;

/* the xid AegisPendingLogDrops marked drops with, until the transaction ends */
static TransactionId marked_xid = InvalidTransactionId;

static void
add_op(const AegisRelKey *key, bool is_database, bool at_commit)
{
	PendingStorageOp *op = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingStorageOp));

	op->key = *key;
	op->is_database = is_database;
	op->at_commit = at_commit;
	op->nest_level = GetCurrentTransactionNestLevel();
	op->next = pending_ops;
	pending_ops = op;
}

/* AegisPendingCreate: storage of 'key' was created; drop it at abort. */
void
AegisPendingCreate(const AegisRelKey *key)
{
	add_op(key, false, false);
}

/* AegisPendingDrop: drop the storage of 'key' at commit. */
void
AegisPendingDrop(const AegisRelKey *key)
{
	add_op(key, false, true);
}

/*
 * AegisPendingCreateDatabase: storage of database 'dbOid' is being created
 * (CREATE DATABASE copying a template's); drop all of it, and its
 * directory, at abort.
 */
void
AegisPendingCreateDatabase(Oid dbOid)
{
	AegisRelKey key = {InvalidOid, dbOid, InvalidOid};

	add_op(&key, true, false);
}

/* AegisPendingDropDatabase: drop all storage of 'dbOid' at commit. */
void
AegisPendingDropDatabase(Oid dbOid)
{
	AegisRelKey key = {InvalidOid, dbOid, InvalidOid};

	add_op(&key, true, true);
}

static void
perform_drop(PendingStorageOp *op)
{
	/* nothing was created or marked if the directory could not be loaded */
	if (!AegisStorageLoaded())
		return;
	if (op->is_database)
	{
		AegisBufferDropDatabase(op->key.dbOid);
		AegisStorageDropDatabase(op->key.dbOid);
	}
	else
	{
		AegisBufferDropRelation(&op->key);
		AegisStorageDrop(&op->key);
	}
}

/*
 * AegisPendingAtXactEnd
 *		Perform the drops due at this commit or abort and forget the rest.
 *		Runs after the commit record is written: raises no errors of its own.
 */
void
AegisPendingAtXactEnd(bool isCommit)
{
	PendingStorageOp *op = pending_ops;
	TransactionId marked = marked_xid;

	/*
	 * Forgotten first: should what follows fail, the abort that follows
	 * must not try it again (it would fail again, for ever).
	 */
	marked_xid = InvalidTransactionId;
	pending_ops = NULL;

	/*
	 * An abort after the drops were marked (a commit or PREPARE that failed
	 * past pre-commit): the marks go, so nothing later takes them for a
	 * committed drop.  If the directory could not be loaded (a block map
	 * that cannot be read), the statement that needed it failed before
	 * marking anything, and there is nothing to clear.
	 */
	if (!isCommit && TransactionIdIsValid(marked) && AegisStorageLoaded())
		AegisStorageClearDropMarks(NULL, marked);
	while (op != NULL)
	{
		PendingStorageOp *next = op->next;

		if (op->at_commit == isCommit)
			perform_drop(op);
		pfree(op);
		op = next;
	}
}

/*
 * AegisPendingForget
 *		At PREPARE TRANSACTION: forget the pending operations without
 *		performing them.  The transaction lives on without this backend;
 *		its storage carries its xid (created: create_xid; dropped: drop_xid,
 *		logged at pre-prepare), from which AegisSettleFinishedTransactions
 *		settles it when COMMIT or ROLLBACK PREPARED ends it.
 */
void
AegisPendingForget(void)
{
	PendingStorageOp *op = pending_ops;

	marked_xid = InvalidTransactionId;
	pending_ops = NULL;
	while (op != NULL)
	{
		PendingStorageOp *next = op->next;

		pfree(op);
		op = next;
	}
}

/*
 * AegisPendingAtSubXactEnd
 *		At subtransaction commit, hand this level's entries to the parent; at
 *		abort, perform its "at abort" drops and forget its other entries.
 */
void
AegisPendingAtSubXactEnd(bool isCommit)
{
	int			level = GetCurrentTransactionNestLevel();
	PendingStorageOp **prev = &pending_ops;
	PendingStorageOp *op;

	while ((op = *prev) != NULL)
	{
		if (op->nest_level < level)
		{
			prev = &op->next;
			continue;
		}
		if (isCommit)
		{
			op->nest_level = level - 1;
			prev = &op->next;
			continue;
		}
		*prev = op->next;
		if (!op->at_commit)
			perform_drop(op);
		pfree(op);
	}
}

/*
 * AegisPendingLogDrops
 *		At pre-commit: mark the storage dropped at commit with our xid and
 *		write the DROP records (not for temporary relations, which write no
 *		WAL), so they precede the commit record and recovery or a standby
 *		completes the drops once the commit is known.
 */
void
AegisPendingLogDrops(void)
{
	TransactionId xid = InvalidTransactionId;

	for (PendingStorageOp *op = pending_ops; op != NULL; op = op->next)
	{
		AegisRelInfo info;
		XLogRecPtr	create_lsn;

		if (!op->at_commit)
			continue;
		if (!TransactionIdIsValid(xid))
			xid = marked_xid = GetTopTransactionId();
		if (op->is_database)
		{
			AegisStorageMarkDropDatabase(op->key.dbOid, xid, GetXLogInsertRecPtr());
			AegisWalLogDropDatabase(op->key.dbOid);
		}
		else if (AegisStorageGetInfo(&op->key, &info) &&
				 AegisStorageMarkDrop(&op->key, xid, &create_lsn) &&
				 info.persistence != RELPERSISTENCE_TEMP)
			AegisWalLogDrop(&op->key, create_lsn);
	}
}

/*
 * AegisPendingSyncCreated
 *		At pre-commit under wal_level = minimal: storage this transaction
 *		created was filled without WAL (RelationNeedsWAL is false for it, as
 *		for heap), so it is written back and synced now, before the commit
 *		record, as PostgreSQL's smgrDoPendingSyncs does.
 */
void
AegisPendingSyncCreated(void)
{
	if (XLogIsNeeded())
		return;
	for (PendingStorageOp *op = pending_ops; op != NULL; op = op->next)
	{
		AegisRelInfo info;

		if (op->at_commit || op->is_database)
			continue;
		if (!AegisStorageGetInfo(&op->key, &info) ||
			info.storage != AEGIS_STORAGE_LOCAL ||
			info.persistence != RELPERSISTENCE_PERMANENT)
			continue;
		AegisBufferFlushRelation(&op->key);
		AegisStorageSyncRelation(&op->key, NULL);
	}
}

/* AegisPendingDropsAtCommit: will this transaction's commit drop storage? */
bool
AegisPendingDropsAtCommit(void)
{
	for (PendingStorageOp *op = pending_ops; op != NULL; op = op->next)
		if (op->at_commit)
			return true;
	return false;
}
