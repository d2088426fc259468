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
 *   2. every relation is synced: compaction when due (each block it moves
 *      logged as an XLOG_AEGIS_IMAGE record, for base backups), fsync of
 *      its data file, its block map written durably, the superseded
 *      generation unlinked (AegisStorageSyncRelation);
 *   3. an XLOG_AEGIS_CHECKPOINT record (redo R) is written, so a standby
 *      replaying it makes its own aegis pages durable before it can create
 *      a restartpoint at the PostgreSQL checkpoint record that follows.
 *
 * On the primary the aegis checkpointer runs it when the checkpoint guards
 * see a new redo pointer, and PostgreSQL's checkpoint waits for it
 * (checkpoint_worker.c); the startup process runs it (without step 3)
 * when it replays an aegis checkpoint record and at the end of recovery
 * (checkpoint_rmgr.c).  One run at a time (run_lock).
 *
 * After a run, the primary's aegis checkpointer puts the all-visible pages
 * the run wrote into group blocks (AegisCheckpointRegroup), a range at a
 * time and giving way to the next checkpoint: no PostgreSQL checkpoint
 * waits for the compression of a VACUUMed table at the cold level, which
 * took seconds for 3 M rows and would take hours for a large table, all
 * that time keeping WAL from being recycled.  aegis_checkpoint() waits for
 * it (AegisCheckpointWaitRegrouped).
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
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/procarray.h"
#include "storage/shmem.h"

/* pages of a relation grouped under run_lock at once (8 MB of pages) */
#define REGROUP_CHUNK_PAGES	1024

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
			CHECK_FOR_INTERRUPTS();
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
 * Is a checkpoint waiting for the aegis checkpointer (a guard asked for a
 * run beyond the last one done)?
 */
static bool
checkpoint_requested(void)
{
	bool		requested;

	SpinLockAcquire(&AegisCkpt->mutex);
	requested = AegisCkpt->requested_redo > AegisCkpt->done_redo;
	SpinLockRelease(&AegisCkpt->mutex);
	return requested;
}

/*
 * AegisCheckpointRegroup
 *		Put the all-visible pages of every relation that is due into group
 *		blocks (AegisStorageRegroupBegin, AegisStorageRegroup), at most
 *		REGROUP_CHUNK_PAGES pages at a time, each range under run_lock so
 *		that it never overlaps a checkpoint run.  Before each run of up to
 *		16 pages it gives way: if a checkpoint asked for a run or shutdown
 *		was requested, the relation is marked due again
 *		(AegisStorageRegroupLater) and it returns false (the next pass
 *		starts the relation again from its first page, passing over what
 *		is grouped); true once every due relation went through.  Not in
 *		recovery (replay would lag behind meanwhile; pages stay pending
 *		until a promotion).  Writes no WAL (src/backend/backend_dir.c,
 *		"Group blocks"); the next checkpoint syncs what it wrote.  The aegis
 *		checkpointer calls it after each run.  Damaged blocks and a full
 *		disk are WARNINGs (the range stays due); other errors are raised.
 */
bool
AegisCheckpointRegroup(void)
{
	AegisRelInfo *infos;
	int			n;
	bool		complete = true;
	bool		defer;

	AegisCheckpointAttach();
	if (RecoveryInProgress() || !AegisStorageLoaded())
		return true;
	SpinLockAcquire(&AegisCkpt->mutex);
	defer = XLogRecPtrIsInvalid(AegisCkpt->regroup_all_until);
	SpinLockRelease(&AegisCkpt->mutex);
	infos = AegisStorageListAll(&n);
	for (int i = 0; i < n && complete; i++)
	{
		uint64		npages = AegisStorageRegroupBegin(&infos[i].key, defer);

		for (uint64 from = 0; from < npages; from += REGROUP_CHUNK_PAGES)
		{
			CHECK_FOR_INTERRUPTS();
			if (ShutdownRequestPending || checkpoint_requested())
			{
				AegisStorageRegroupLater(&infos[i].key);
				complete = false;
				break;
			}
			/* it also gives way between runs of pages inside the range */
			LWLockAcquire(&AegisCkpt->run_lock, LW_EXCLUSIVE);
			AegisStorageRegroup(&infos[i].key, (BlockNumber) from,
								(BlockNumber) Min(npages, from + REGROUP_CHUNK_PAGES),
								checkpoint_requested);
			LWLockRelease(&AegisCkpt->run_lock);
		}
		if (complete && checkpoint_requested())
			complete = false;	/* the last range gave way: it marked itself due */
	}
	pfree(infos);
	return complete;
}

/*
 * AegisCheckpointRegroupDone
 *		The aegis checkpointer went through every relation that was due
 *		after the run that made state durable up to 'redo': wake
 *		AegisCheckpointWaitRegrouped.
 */
void
AegisCheckpointRegroupDone(XLogRecPtr redo)
{
	SpinLockAcquire(&AegisCkpt->mutex);
	if (redo > AegisCkpt->regroup_done_redo)
		AegisCkpt->regroup_done_redo = redo;
	if (!XLogRecPtrIsInvalid(AegisCkpt->regroup_all_until) &&
		redo >= AegisCkpt->regroup_all_until)
		AegisCkpt->regroup_all_until = InvalidXLogRecPtr;
	SpinLockRelease(&AegisCkpt->mutex);
	ConditionVariableBroadcast(&AegisCkpt->done_cv);
}

/*
 * AegisCheckpointRegroupAll
 *		For aegis_checkpoint(), before it requests its checkpoint: the
 *		grouping passes until the one after that checkpoint's run (whose
 *		redo is at or beyond the WAL insert position now) leave no pending
 *		page for a later pass (AegisStorageRegroupBegin's 'defer'), so that
 *		AegisCheckpointWaitRegrouped returns with every page grouped.
 */
void
AegisCheckpointRegroupAll(void)
{
	XLogRecPtr	until = GetXLogInsertRecPtr();

	AegisCheckpointAttach();
	SpinLockAcquire(&AegisCkpt->mutex);
	if (until > AegisCkpt->regroup_all_until)
		AegisCkpt->regroup_all_until = until;
	SpinLockRelease(&AegisCkpt->mutex);
}

/*
 * AegisCheckpointWaitRegrouped
 *		Wait until the aegis checkpointer has grouped what was due after the
 *		last completed aegis checkpoint (AegisCheckpointRegroup); returns at
 *		once in recovery or when no aegis checkpointer runs.  For
 *		aegis_checkpoint(), after PostgreSQL's CHECKPOINT.  Interruptible.
 */
void
AegisCheckpointWaitRegrouped(void)
{
	XLogRecPtr	target;

	AegisCheckpointAttach();
	if (RecoveryInProgress())
		return;
	SpinLockAcquire(&AegisCkpt->mutex);
	target = AegisCkpt->done_redo;
	SpinLockRelease(&AegisCkpt->mutex);
	ConditionVariablePrepareToSleep(&AegisCkpt->done_cv);
	for (;;)
	{
		bool		done;

		SpinLockAcquire(&AegisCkpt->mutex);
		done = AegisCkpt->regroup_done_redo >= target || AegisCkpt->checkpointer_latch == NULL;
		SpinLockRelease(&AegisCkpt->mutex);
		if (done || RecoveryInProgress())
			break;
		/* timed: a checkpointer that exits broadcasts nothing */
		(void) ConditionVariableTimedSleep(&AegisCkpt->done_cv, 1000, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/*
 * Is 'xid' one recovery has not reached (AegisXidReplayed)?  An xid older
 * than the commit log is not: it is long decided (and compared with the
 * next xid it could look like a future one).
 */
static bool
xid_unreached(TransactionId xid)
{
	return TransactionIdIsNormal(xid) &&
		!TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid) &&
		!AegisXidReplayed(xid);
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
 *		of the commit log, and at the end of recovery.  A creator or dropper
 *		recovery never reached (AegisXidReplayed) is in progress to it until
 *		the end, and then one that did not commit.
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
		/*
		 * At the end of recovery, a creator or dropper redo never reached
		 * (AegisXidReplayed) wrote no commit or prepare record: it did not
		 * commit, whatever the commit log may later say of its xid, which
		 * the next transactions are given again.
		 */
		bool		creator_unseen = end_of_recovery && xid_unreached(infos[i].create_xid);
		bool		dropper_unseen = end_of_recovery && xid_unreached(infos[i].drop_xid);

		if ((end_of_recovery && infos[i].persistence == RELPERSISTENCE_TEMP) ||
			creator_unseen || AegisStorageShouldDrop(&infos[i], infer))
		{
			elog(DEBUG1, "aegis recovery: dropping storage " AEGIS_REL_KEY_FMT,
				 AEGIS_REL_KEY_ARGS(&infos[i].key));
			AegisBufferDropRelation(&infos[i].key);
			AegisStorageDrop(&infos[i].key);
		}
		else if (infer)
			AegisStorageClearDrop(&infos[i].key);
		else if (dropper_unseen || AegisStorageDropAborted(&infos[i]))
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
