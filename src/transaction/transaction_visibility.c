/*-------------------------------------------------------------------------
 *
 * transaction_visibility.c
 *	  MVCC visibility of aegis tuples: PostgreSQL's heap rules on aegis pages.
 *
 * Aegis tuples carry HeapTupleHeaderData, so xmin/xmax, command ids, combo
 * CIDs, MultiXacts and infomask bits mean what they mean on heap, and every
 * snapshot type decides exactly as heapam_visibility.c does (its comments
 * explain the rules; this file restates them for aegis buffers).
 *
 * Hint bits: a committed/invalid hint is set only when the hinted xid's
 * commit record is flushed (XLogNeedsFlush false), the condition heap uses
 * for pages without an LSN interlock; the buffer is then marked dirty as a
 * hint.  Callers hold a pin and at least a share content lock on 'buf'.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/clog.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "aegis/transaction.h"
#include "access/subtrans.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

/*
 * Set hint bits unless 'xid' (if valid) committed asynchronously and its
 * commit record is not flushed yet, exactly heap's SetHintBits rule: a page
 * whose LSN is at or past the commit record cannot reach disk before it
 * (the buffer pool flushes the WAL up to the page LSN first), so hinting
 * it is safe; a page of a relation without WAL has LSN 0 and is never
 * replayed, so it may be hinted at once.
 */
static inline void
set_hint(HeapTupleHeader tup, AegisBuffer buf, uint16 infomask, TransactionId xid)
{
	if (TransactionIdIsValid(xid))
	{
		XLogRecPtr	commit_lsn = TransactionIdGetCommitLSN(xid);
		XLogRecPtr	page_lsn = PageGetLSN(AegisBufferGetPage(buf));

		if (page_lsn != InvalidXLogRecPtr && page_lsn < commit_lsn &&
			XLogNeedsFlush(commit_lsn))
			return;
	}
	tup->t_infomask |= infomask;
	AegisBufferMarkDirtyHint(buf);
}

/*
 * Status of xmin for the rules shared by Self, Dirty and Update: returns
 * true if xmin is committed (hinting it), false if the tuple is invisible
 * because xmin aborted or is still running in another transaction.  For our
 * own transaction's inserts it returns true and sets *ours.
 */
static bool
xmin_committed_or_ours(HeapTupleHeader tup, AegisBuffer buf, bool *ours,
					   bool *in_progress)
{
	TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);

	*ours = false;
	*in_progress = false;
	if (HeapTupleHeaderXminCommitted(tup))
		return true;
	if (HeapTupleHeaderXminInvalid(tup))
		return false;
	if (TransactionIdIsCurrentTransactionId(xmin))
	{
		*ours = true;
		return true;
	}
	if (TransactionIdIsInProgress(xmin))
	{
		*in_progress = true;
		return false;
	}
	if (TransactionIdDidCommit(xmin))
	{
		set_hint(tup, buf, HEAP_XMIN_COMMITTED, xmin);
		return true;
	}
	set_hint(tup, buf, HEAP_XMIN_INVALID, InvalidTransactionId);
	return false;
}

/*
 * For a tuple our own transaction inserted, is it deleted by us (Self and
 * Dirty rules; command ids are not considered)?
 */
static bool
own_insert_visible(HeapTupleHeader tup, AegisBuffer buf)
{
	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return true;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return true;
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
		return !TransactionIdIsCurrentTransactionId(HeapTupleGetUpdateXid(tup));
	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tup)))
	{
		/* the deleting subtransaction aborted */
		set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return true;
	}
	return false;
}

/* SnapshotSelf and SnapshotDirty (which also reports in-progress xids). */
static bool
satisfies_self_or_dirty(HeapTupleHeader tup, Snapshot snapshot, AegisBuffer buf)
{
	bool		dirty = snapshot->snapshot_type == SNAPSHOT_DIRTY;
	bool		ours,
				in_progress;
	TransactionId xmax;

	if (dirty)
	{
		snapshot->xmin = snapshot->xmax = InvalidTransactionId;
		snapshot->speculativeToken = 0;
	}
	if (!xmin_committed_or_ours(tup, buf, &ours, &in_progress))
	{
		if (dirty && in_progress)
		{
			if (HeapTupleHeaderIsSpeculative(tup))
				snapshot->speculativeToken = HeapTupleHeaderGetSpeculativeToken(tup);
			snapshot->xmin = HeapTupleHeaderGetRawXmin(tup);
			return true;
		}
		return false;
	}
	if (ours)
		return own_insert_visible(tup, buf);

	/* xmin committed: look at xmax */
	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return true;
	if (tup->t_infomask & HEAP_XMAX_COMMITTED)
		return HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask);
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return true;
		xmax = HeapTupleGetUpdateXid(tup);
		if (TransactionIdIsCurrentTransactionId(xmax))
			return false;
		if (TransactionIdIsInProgress(xmax))
		{
			if (dirty)
				snapshot->xmax = xmax;
			return true;
		}
		return !TransactionIdDidCommit(xmax);
	}
	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (TransactionIdIsCurrentTransactionId(xmax))
		return HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask);
	if (TransactionIdIsInProgress(xmax))
	{
		if (dirty && !HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			snapshot->xmax = xmax;
		return true;
	}
	if (!TransactionIdDidCommit(xmax))
	{
		set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return true;
	}
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
	{
		set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return true;
	}
	set_hint(tup, buf, HEAP_XMAX_COMMITTED, xmax);
	return false;
}

/* An MVCC snapshot: committed before the snapshot, or ours before curcid. */
static bool
satisfies_mvcc(HeapTupleHeader tup, Snapshot snapshot, AegisBuffer buf)
{
	TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);
	TransactionId xmax;

	/* the version most often met that the snapshot cannot see */
	if (AegisTupleGoneBefore(tup, snapshot->xmin))
		return false;

	if (!HeapTupleHeaderXminCommitted(tup))
	{
		if (HeapTupleHeaderXminInvalid(tup))
			return false;
		if (TransactionIdIsCurrentTransactionId(xmin))
		{
			if (HeapTupleHeaderGetCmin(tup) >= snapshot->curcid)
				return false;	/* inserted after the scan started */
			if (tup->t_infomask & HEAP_XMAX_INVALID)
				return true;
			if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
				return true;
			if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
			{
				xmax = HeapTupleGetUpdateXid(tup);
				if (!TransactionIdIsCurrentTransactionId(xmax))
					return true;	/* updating subtransaction aborted */
				return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
			}
			if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tup)))
			{
				set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
				return true;
			}
			return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
		}
		if (XidInMVCCSnapshot(xmin, snapshot))
			return false;
		if (TransactionIdDidCommit(xmin))
			set_hint(tup, buf, HEAP_XMIN_COMMITTED, xmin);
		else
		{
			set_hint(tup, buf, HEAP_XMIN_INVALID, InvalidTransactionId);
			return false;
		}
	}
	else if (!HeapTupleHeaderXminFrozen(tup) && XidInMVCCSnapshot(xmin, snapshot))
		return false;			/* committed, but after our snapshot */

	/* xmin is visible: now xmax */
	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return true;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		return true;
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		xmax = HeapTupleGetUpdateXid(tup);
		if (TransactionIdIsCurrentTransactionId(xmax))
			return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
		if (XidInMVCCSnapshot(xmax, snapshot))
			return true;
		return !TransactionIdDidCommit(xmax);
	}
	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (!(tup->t_infomask & HEAP_XMAX_COMMITTED))
	{
		if (TransactionIdIsCurrentTransactionId(xmax))
			return HeapTupleHeaderGetCmax(tup) >= snapshot->curcid;
		if (XidInMVCCSnapshot(xmax, snapshot))
			return true;
		if (!TransactionIdDidCommit(xmax))
		{
			set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
			return true;
		}
		set_hint(tup, buf, HEAP_XMAX_COMMITTED, xmax);
	}
	else if (XidInMVCCSnapshot(xmax, snapshot))
		return true;
	return false;
}

/*
 * AegisTupleSatisfiesVacuum
 *		Classify a tuple for VACUUM, index builds and ANALYZE, as
 *		HeapTupleSatisfiesVacuumHorizon does.  For RECENTLY_DEAD, *dead_after
 *		is the xid after which it may be removed.
 */
HTSV_Result
AegisTupleSatisfiesVacuum(HeapTuple tuple, TransactionId *dead_after, AegisBuffer buf)
{
	HeapTupleHeader tup = tuple->t_data;
	TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);
	TransactionId xmax;

	*dead_after = InvalidTransactionId;
	if (!HeapTupleHeaderXminCommitted(tup))
	{
		if (HeapTupleHeaderXminInvalid(tup))
			return HEAPTUPLE_DEAD;
		if (TransactionIdIsCurrentTransactionId(xmin))
		{
			if (tup->t_infomask & HEAP_XMAX_INVALID)
				return HEAPTUPLE_INSERT_IN_PROGRESS;
			if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask) || HeapTupleHeaderIsOnlyLocked(tup))
				return HEAPTUPLE_INSERT_IN_PROGRESS;
			if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup)))
				return HEAPTUPLE_DELETE_IN_PROGRESS;
			return HEAPTUPLE_INSERT_IN_PROGRESS;
		}
		if (TransactionIdIsInProgress(xmin))
			return HEAPTUPLE_INSERT_IN_PROGRESS;
		if (TransactionIdDidCommit(xmin))
			set_hint(tup, buf, HEAP_XMIN_COMMITTED, xmin);
		else
		{
			set_hint(tup, buf, HEAP_XMIN_INVALID, InvalidTransactionId);
			return HEAPTUPLE_DEAD;
		}
	}

	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return HEAPTUPLE_LIVE;
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
	{
		if (!(tup->t_infomask & HEAP_XMAX_COMMITTED))
		{
			if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
			{
				if (MultiXactIdIsRunning(HeapTupleHeaderGetRawXmax(tup), true))
					return HEAPTUPLE_LIVE;
			}
			else if (TransactionIdIsInProgress(HeapTupleHeaderGetRawXmax(tup)))
				return HEAPTUPLE_LIVE;
			set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		}
		return HEAPTUPLE_LIVE;
	}
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		xmax = HeapTupleGetUpdateXid(tup);
		if (TransactionIdIsCurrentTransactionId(xmax) || TransactionIdIsInProgress(xmax))
			return HEAPTUPLE_DELETE_IN_PROGRESS;
		if (TransactionIdDidCommit(xmax))
		{
			*dead_after = xmax;
			return HEAPTUPLE_RECENTLY_DEAD;
		}
		if (!MultiXactIdIsRunning(HeapTupleHeaderGetRawXmax(tup), false))
			set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return HEAPTUPLE_LIVE;
	}
	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (!(tup->t_infomask & HEAP_XMAX_COMMITTED))
	{
		if (TransactionIdIsCurrentTransactionId(xmax) || TransactionIdIsInProgress(xmax))
			return HEAPTUPLE_DELETE_IN_PROGRESS;
		if (TransactionIdDidCommit(xmax))
			set_hint(tup, buf, HEAP_XMAX_COMMITTED, xmax);
		else
		{
			set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
			return HEAPTUPLE_LIVE;
		}
	}
	*dead_after = xmax;
	return HEAPTUPLE_RECENTLY_DEAD;
}

/*
 * AegisTupleIsSurelyDead
 *		True if no snapshot can see the tuple any more (vistest decides).
 */
bool
AegisTupleIsSurelyDead(HeapTuple tuple, GlobalVisState *vistest, AegisBuffer buf)
{
	TransactionId dead_after;
	HTSV_Result res = AegisTupleSatisfiesVacuum(tuple, &dead_after, buf);

	if (res == HEAPTUPLE_DEAD)
		return true;
	return res == HEAPTUPLE_RECENTLY_DEAD &&
		GlobalVisTestIsRemovableXid(vistest, dead_after);
}

/*
 * AegisTupleSatisfiesVisibility
 *		Does 'snapshot' see 'tuple'?  The counterpart of
 *		HeapTupleSatisfiesVisibility for every snapshot type aegis tables
 *		meet; historic (logical decoding) snapshots are refused.
 */
bool
AegisTupleSatisfiesVisibility(HeapTuple tuple, Snapshot snapshot, AegisBuffer buf)
{
	HeapTupleHeader tup = tuple->t_data;

	switch (snapshot->snapshot_type)
	{
		case SNAPSHOT_MVCC:
			return satisfies_mvcc(tup, snapshot, buf);
		case SNAPSHOT_SELF:
		case SNAPSHOT_DIRTY:
			return satisfies_self_or_dirty(tup, snapshot, buf);
		case SNAPSHOT_ANY:
			return true;
		case SNAPSHOT_NON_VACUUMABLE:
			return !AegisTupleIsSurelyDead(tuple, snapshot->vistest, buf);
		case SNAPSHOT_TOAST:
			/* only TOAST tables use it, and those are heap tables */
			return true;
		case SNAPSHOT_HISTORIC_MVCC:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("aegis tables cannot be read by a logical decoding output plugin"),
					 errdetail("Reading a table under a historic snapshot (user_catalog_table) is not supported for aegis tables; their changes are decoded as usual.")));
	}
	return false;
}

/*
 * AegisTupleSatisfiesUpdate
 *		May the current command update/delete/lock 'tuple'?  Returns a
 *		TM_Result as HeapTupleSatisfiesUpdate does: TM_Ok, TM_Invisible,
 *		TM_SelfModified, TM_Updated, TM_Deleted or TM_BeingModified.
 */
TM_Result
AegisTupleSatisfiesUpdate(HeapTuple tuple, CommandId curcid, AegisBuffer buf)
{
	HeapTupleHeader tup = tuple->t_data;
	TransactionId xmin = HeapTupleHeaderGetRawXmin(tup);
	TransactionId xmax;

	if (!HeapTupleHeaderXminCommitted(tup))
	{
		if (HeapTupleHeaderXminInvalid(tup))
			return TM_Invisible;
		if (TransactionIdIsCurrentTransactionId(xmin))
		{
			if (HeapTupleHeaderGetCmin(tup) >= curcid)
				return TM_Invisible;
			if (tup->t_infomask & HEAP_XMAX_INVALID)
				return TM_Ok;
			if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			{
				xmax = HeapTupleHeaderGetRawXmax(tup);
				if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
					return MultiXactIdIsRunning(xmax, true) ? TM_BeingModified : TM_Ok;
				return TransactionIdIsInProgress(xmax) ? TM_BeingModified : TM_Ok;
			}
			if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
			{
				xmax = HeapTupleGetUpdateXid(tup);
				if (!TransactionIdIsCurrentTransactionId(xmax))
					return MultiXactIdIsRunning(HeapTupleHeaderGetRawXmax(tup), false)
						? TM_BeingModified : TM_Ok;
				return HeapTupleHeaderGetCmax(tup) >= curcid ? TM_SelfModified : TM_Invisible;
			}
			if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmax(tup)))
			{
				set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
				return TM_Ok;
			}
			return HeapTupleHeaderGetCmax(tup) >= curcid ? TM_SelfModified : TM_Invisible;
		}
		if (TransactionIdIsInProgress(xmin))
			return TM_Invisible;
		if (TransactionIdDidCommit(xmin))
			set_hint(tup, buf, HEAP_XMIN_COMMITTED, xmin);
		else
		{
			set_hint(tup, buf, HEAP_XMIN_INVALID, InvalidTransactionId);
			return TM_Invisible;
		}
	}

	if (tup->t_infomask & HEAP_XMAX_INVALID)
		return TM_Ok;
	if (tup->t_infomask & HEAP_XMAX_COMMITTED)
	{
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return TM_Ok;
		return ItemPointerEquals(&tuple->t_self, &tup->t_ctid) ? TM_Deleted : TM_Updated;
	}
	if (tup->t_infomask & HEAP_XMAX_IS_MULTI)
	{
		xmax = HeapTupleHeaderGetRawXmax(tup);
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
		{
			if (MultiXactIdIsRunning(xmax, true))
				return TM_BeingModified;
			set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
			return TM_Ok;
		}
		xmax = HeapTupleGetUpdateXid(tup);
		if (TransactionIdIsCurrentTransactionId(xmax))
			return HeapTupleHeaderGetCmax(tup) >= curcid ? TM_SelfModified : TM_Invisible;
		if (MultiXactIdIsRunning(HeapTupleHeaderGetRawXmax(tup), false))
			return TM_BeingModified;
		if (TransactionIdDidCommit(xmax))
			return ItemPointerEquals(&tuple->t_self, &tup->t_ctid) ? TM_Deleted : TM_Updated;
		set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return TM_Ok;
	}
	xmax = HeapTupleHeaderGetRawXmax(tup);
	if (TransactionIdIsCurrentTransactionId(xmax))
	{
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
			return TM_BeingModified;
		return HeapTupleHeaderGetCmax(tup) >= curcid ? TM_SelfModified : TM_Invisible;
	}
	if (TransactionIdIsInProgress(xmax))
		return TM_BeingModified;
	if (!TransactionIdDidCommit(xmax))
	{
		set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return TM_Ok;
	}
	if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_infomask))
	{
		set_hint(tup, buf, HEAP_XMAX_INVALID, InvalidTransactionId);
		return TM_Ok;
	}
	set_hint(tup, buf, HEAP_XMAX_COMMITTED, xmax);
	return ItemPointerEquals(&tuple->t_self, &tup->t_ctid) ? TM_Deleted : TM_Updated;
}

/*
 * AegisCheckConflictOut
 *		For a serializable transaction that examined 'tuple' ('visible' says
 *		whether its snapshot saw it): if that depends on a concurrent
 *		transaction, report the rw-conflict to the predicate lock manager.
 *		The same decision as HeapCheckForSerializableConflictOut.  'buf' is
 *		pinned and at least share-locked.  Raises a serialization failure.
 */
void
AegisCheckConflictOut(bool visible, Relation rel, HeapTuple tuple, AegisBuffer buf,
					  Snapshot snapshot)
{
	TransactionId xid;
	TransactionId dead_after;
	HTSV_Result res;

	if (!CheckForSerializableConflictOutNeeded(rel, snapshot))
		return;
	res = AegisTupleSatisfiesVacuum(tuple, &dead_after, buf);
	if (res == HEAPTUPLE_RECENTLY_DEAD && TransactionIdPrecedes(dead_after, TransactionXmin))
		res = HEAPTUPLE_DEAD;
	switch (res)
	{
		case HEAPTUPLE_LIVE:
			if (visible)
				return;
			xid = HeapTupleHeaderGetXmin(tuple->t_data);
			break;
		case HEAPTUPLE_RECENTLY_DEAD:
		case HEAPTUPLE_DELETE_IN_PROGRESS:
			xid = visible ? HeapTupleHeaderGetUpdateXid(tuple->t_data)
				: HeapTupleHeaderGetXmin(tuple->t_data);
			if (TransactionIdPrecedes(xid, TransactionXmin))
				return;
			break;
		case HEAPTUPLE_INSERT_IN_PROGRESS:
			xid = HeapTupleHeaderGetXmin(tuple->t_data);
			break;
		case HEAPTUPLE_DEAD:
		default:
			return;
	}
	if (!TransactionIdIsValid(xid) || TransactionIdEquals(xid, GetTopTransactionIdIfAny()))
		return;
	xid = SubTransGetTopmostTransaction(xid);
	if (TransactionIdPrecedes(xid, TransactionXmin))
		return;
	CheckForSerializableConflictOut(rel, xid, snapshot);
}
