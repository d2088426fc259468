/*-------------------------------------------------------------------------
 *
 * checkpoint_run.c
 *	  What an aegis checkpoint does, and settling storage that no
 *	  transaction left alive.
 *
 * An aegis checkpoint for PostgreSQL redo pointer R (AegisCheckpointRun)
 * makes every aegis change before R durable in aegis storage, the way
 * CheckPointGuts does for PostgreSQL's own buffers:
 *
 *   1. every dirty page of local storage is written back (the buffer pool
 *      flushes PostgreSQL's WAL up to the page LSN first);
 *   2. every relation whose all-visible pages are due goes into group
 *      blocks (AegisStorageRegroup, parts of it done by the I/O workers;
 *      not in recovery);
 *   3. every relation is synced: compaction when due (each block it moves
 *      logged as an XLOG_AEGIS_IMAGE record, for base backups), fsync of
 *      its data file, its block map written durably, the superseded
 *      generation unlinked (AegisStorageSyncRelation);
 *   4. an XLOG_AEGIS_CHECKPOINT record (redo R) is written, so a standby
 *      replaying it makes its own aegis pages durable before it can create
 *      a restartpoint at the PostgreSQL checkpoint record that follows.
 *
 * On the primary the aegis checkpointer runs it when the checkpoint guards
 * see a new redo pointer, and PostgreSQL's checkpoint waits for it
 * (checkpoint_worker.c); the startup process runs it (without steps 2
 * and 4) when
 * it replays an aegis checkpoint record and at the end of recovery
 * (checkpoint_rmgr.c).  One run at a time (run_lock).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/checkpoint.h"
#include "aegis/guc.h"
#include "aegis/wal.h"
#include "checkpoint_internal.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/procarray.h"
#include "storage/shmem.h"

AegisCheckpointShared *AegisCkpt = NULL;

static bool tranche_registered = false;

Size
AegisCheckpointShmemSize(void)
{
	return MAXALIGN(sizeof(AegisCheckpointShared));
}

/* AegisCheckpointShmemInit: postmaster, under AddinShmemInitLock. */
void
AegisCheckpointShmemInit(void)
{
	bool		found;

	AegisCkpt = ShmemInitStruct("aegis checkpoint", AegisCheckpointShmemSize(), &found);
	if (found)
		return;
	memset(AegisCkpt, 0, sizeof(AegisCheckpointShared));
	AegisCkpt->tranche = LWLockNewTrancheId();
	LWLockInitialize(&AegisCkpt->run_lock, AegisCkpt->tranche);
	ConditionVariableInit(&AegisCkpt->done_cv);
	SpinLockInit(&AegisCkpt->mutex);
}

/* AegisCheckpointAttach: register the module's LWLock tranche here. */
void
AegisCheckpointAttach(void)
{
	AegisCheckPreloaded();
	if (!tranche_registered)
	{
		LWLockRegisterTranche(AegisCkpt->tranche, "aegis_checkpoint");
		tranche_registered = true;
	}
}

/*
 * AegisCheckpointRun
 *		Make every aegis change made so far durable in aegis storage (steps
 *		1-2 of the file header), then, with 'log_record' and outside
 *		recovery, write the XLOG_AEGIS_CHECKPOINT record for redo pointer
 *		'redo' (a PostgreSQL LSN: every change before it is covered).
 *		Waits for a run in progress.  Raises the I/O errors it meets; a
 *		failed run leaves the previous durable state valid.
 */
void
AegisCheckpointRun(XLogRecPtr redo, bool log_record)
{
	AegisRelInfo *infos;
	int			n;
	int			written;
	bool		helped;
	uint64		flushed0;
	TimestampTz start;
	double		ms;
	AegisBlockLogger logger;

	AegisCheckpointAttach();
	LWLockAcquire(&AegisCkpt->run_lock, LW_EXCLUSIVE);
	start = GetCurrentTimestamp();

	/*
	 * Storage that was never loaded in this server lifetime (nobody used it,
	 * or loading fails) has no change to make durable.
	 */
	written = 0;
	if (AegisStorageLoaded())
	{
		AegisSettleFinishedTransactions();
		/*
		 * The buffer pool's I/O workers write chunks of frames from the
		 * first on while we go from the last (src/buffer/README); our pass
		 * covers every frame whatever they do.
		 */
		helped = AegisIoFlushHelp(AegisBufferNFrames(), &flushed0);
		written = AegisBufferFlushAll(helped);
		if (helped)
			written += (int) AegisIoFlushDone(flushed0);
		AEGIS_CRASH_AT(AEGIS_CRASH_CHECKPOINT_AFTER_FLUSH);
		if (aegis_debug_checkpoint_delay > 0 && !RecoveryInProgress())
			pg_usleep(aegis_debug_checkpoint_delay * 1000L);
		/* compaction's block copies are logged when a backup could need them */
		logger = (!RecoveryInProgress() && XLogIsNeeded()) ? AegisWalLogBlockImage : NULL;
		infos = AegisStorageListAll(&n);
		for (int i = 0; i < n; i++)
		{
			BlockNumber npages;

			CHECK_FOR_INTERRUPTS();

			/*
			 * All-visible pages into group blocks, with the I/O workers; by
			 * the primary only (replay would lag behind meanwhile, and
			 * pages stay pending until a promotion), not at shutdown (the
			 * map keeps them pending for the next start).
			 */
			if (!RecoveryInProgress() && !ShutdownRequestPending &&
				(npages = AegisStorageRegroupBegin(&infos[i].key)) > 0)
			{
				BlockNumber own = AegisIoRegroupHelp(&infos[i].key, npages);

				AegisStorageRegroup(&infos[i].key, own, npages);
				if (own > 0)
					AegisIoRegroupDone();
			}
			AegisStorageSyncRelation(&infos[i].key, logger);
		}
		pfree(infos);
		AEGIS_CRASH_AT(AEGIS_CRASH_CHECKPOINT_AFTER_MAPS);
	}

	if (log_record && !RecoveryInProgress())
	{
		xl_aegis_checkpoint xlrec;

		xlrec.redo = redo;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, sizeof(xlrec));
		(void) XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_CHECKPOINT);
		AegisWalCount(sizeof(xlrec), false, false);
	}

	ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->checkpoints++;
	AegisCkpt->pages_written += written;
	AegisCkpt->last_ms = ms;
	AegisCkpt->total_ms += ms;
	if (redo > AegisCkpt->done_redo)
		AegisCkpt->done_redo = redo;
	SpinLockRelease(&AegisCkpt->mutex);
	LWLockRelease(&AegisCkpt->run_lock);
	ConditionVariableBroadcast(&AegisCkpt->done_cv);
}

/*
 * AegisCheckpointSettle
 *		Drop the storage that no transaction left alive, with its buffers
 *		(AegisStorageShouldDrop): relations dropped by a transaction that
 *		committed, created by one that aborted, and at the end of recovery
 *		('end_of_recovery') also temporary ones and, unless prepared
 *		transactions may exist (AegisStorageMayInferAborts), those whose
 *		creator never committed; there, drop marks of transactions that did
 *		not commit are cleared, and otherwise those of droppers known to have
 *		aborted or older than the commit log (AegisStorageDropAborted), so a
 *		standby does not keep them.  The startup process calls it when it
 *		replays an aegis checkpoint record, before it replays a truncation
 *		of the commit log, and at the end of recovery.
 */
void
AegisCheckpointSettle(bool end_of_recovery)
{
	AegisRelInfo *infos;
	int			n;
	bool		infer = end_of_recovery && AegisStorageMayInferAborts();

	infos = AegisStorageListAll(&n);
	for (int i = 0; i < n; i++)
	{
		if ((end_of_recovery && infos[i].persistence == RELPERSISTENCE_TEMP) ||
			AegisStorageShouldDrop(&infos[i], infer))
		{
			elog(DEBUG1, "aegis recovery: dropping storage " AEGIS_REL_KEY_FMT,
				 AEGIS_REL_KEY_ARGS(&infos[i].key));
			AegisBufferDropRelation(&infos[i].key);
			AegisStorageDrop(&infos[i].key);
		}
		else if (infer)
			AegisStorageClearDrop(&infos[i].key);
		else if (AegisStorageDropAborted(&infos[i]))
			AegisStorageClearDropMarks(&infos[i].key, infos[i].drop_xid);
	}
	pfree(infos);
	AegisWalSettleDatabases(end_of_recovery);
}

/*
 * The outcome of 'xid': 0 while it may still be in progress (a prepared
 * transaction is), 1 committed, -1 aborted or crashed.  An xid older than
 * the clog keeps is 'old_outcome': committed for a creator (as
 * AegisStorageShouldDrop takes it), aborted for a dropper (its outcome is
 * unknown; clearing the mark keeps the storage, as AegisStorageDropAborted
 * decides).
 *
 * Not TransactionIdIsInProgress: the aegis checkpointer is a background
 * worker without a database connection, so it is not in the proc array,
 * yet TransactionIdIsInProgress skips the proc-array slot at
 * MyProc->pgxactoff as "ourselves" -- 0 in that process (never set), i.e.
 * the client backend with the lowest PGPROC number.  A table that backend
 * was creating was taken for one whose creator aborted, and its storage
 * dropped under the committing transaction.
 *
 * Instead, the horizon below which no xid can be running is taken first
 * (under ProcArrayLock; it counts every proc array entry, prepared
 * transactions' too, and does not depend on MyProc): an xid below it has
 * its final status in the clog (written before the proc array entry is
 * cleared), so not committed there is aborted or crashed.  An xid at or
 * above it counts only once the clog says committed or aborted; anything
 * else waits for a later settle.
 */
static int
xid_outcome(TransactionId xid, int old_outcome)
{
	TransactionId horizon;

	if (!TransactionIdIsNormal(xid) ||
		TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
		return old_outcome;
	horizon = GetOldestTransactionIdConsideredRunning();
	if (TransactionIdDidCommit(xid))
		return 1;
	if (TransactionIdDidAbort(xid) || TransactionIdPrecedes(xid, horizon))
		return -1;
	return 0;
}

/*
 * AegisSettleFinishedTransactions
 *		On a running server (not in recovery): drop the storage whose
 *		creator aborted (or crashed) and whose dropper committed, and clear
 *		the drop marks of droppers that aborted, for transactions that
 *		finished without their backend settling them: prepared transactions
 *		(COMMIT / ROLLBACK PREPARED, in any session or after a restart) and
 *		what a start left for later (AegisStorageMayInferAborts).  A backend that
 *		ends its own transaction drops the same storage right after; both
 *		drops are idempotent.  Temporary storage is its session's business.
 *		Called after COMMIT/ROLLBACK PREPARED and by every aegis checkpoint.
 */
void
AegisSettleFinishedTransactions(void)
{
	AegisRelInfo *infos;
	int			n;

	if (RecoveryInProgress() || !AegisStorageLoaded())
		return;
	infos = AegisStorageListAll(&n);
	for (int i = 0; i < n; i++)
	{
		AegisRelInfo *info = &infos[i];
		int			drop_outcome = 0;

		if (info->persistence == RELPERSISTENCE_TEMP)
			continue;
		if (TransactionIdIsValid(info->drop_xid))
			drop_outcome = xid_outcome(info->drop_xid, -1);
		if ((TransactionIdIsValid(info->create_xid) && xid_outcome(info->create_xid, 1) < 0) ||
			drop_outcome > 0)
		{
			elog(DEBUG1, "aegis: dropping storage " AEGIS_REL_KEY_FMT " of a finished transaction",
				 AEGIS_REL_KEY_ARGS(&info->key));
			AegisBufferDropRelation(&info->key);
			AegisStorageDrop(&info->key);
		}
		else if (drop_outcome < 0)
			AegisStorageClearDropMarks(&info->key, info->drop_xid);
	}
	pfree(infos);
}

/* AegisCheckpointGetStats: figures for aegis_wal_stats(). */
void
AegisCheckpointGetStats(AegisCheckpointStats *stats)
{
	AegisCheckPreloaded();
	SpinLockAcquire(&AegisCkpt->mutex);
	stats->done_redo = AegisCkpt->done_redo;
	stats->checkpoints = AegisCkpt->checkpoints;
	stats->pages_written = AegisCkpt->pages_written;
	stats->last_ms = AegisCkpt->last_ms;
	stats->total_ms = AegisCkpt->total_ms;
	stats->last_wait_ms = AegisCkpt->last_wait_ms;
	stats->guard_cycles = AegisCkpt->guard_cycles;
	stats->last_recovery_ms = AegisCkpt->last_recovery_ms;
	stats->last_recovery_records = AegisCkpt->recovery_records;
	stats->last_recovery_bytes = AegisCkpt->recovery_bytes;
	SpinLockRelease(&AegisCkpt->mutex);
}
