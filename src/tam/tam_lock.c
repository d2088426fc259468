/*-------------------------------------------------------------------------
 *
 * tam_lock.c
 *	  Row locks on aegis tables (SELECT ... FOR KEY SHARE / SHARE / NO KEY
 *	  UPDATE / UPDATE) and the xmax rules UPDATE and DELETE share with them.
 *
 * The rules are heap's (heapam.c, README.tuplock), on aegis buffers:
 *
 * - A lock is a lock-only xmax with heap's infomask bits.  Transactions
 *   whose locks (or a lock and an update) are compatible share the tuple
 *   through a MultiXact; an xmax keeps what must survive: running lockers,
 *   and a running or committed updater (AegisTamComputeXmax).
 * - A transaction that must wait first queues on the tuple's heavyweight
 *   lock (arrival order, so a waiter is not starved), then waits for each
 *   conflicting transaction with XactLockTableWait, with the page's content
 *   lock released; then it examines the tuple again.  So pg_locks, deadlock
 *   detection, lock_timeout and log_lock_waits work as on heap.
 * - FOR KEY SHARE does not wait for an UPDATE that changes no key column:
 *   it shares the old version with the updater and locks the versions the
 *   update made too (lock_update_chain), as heap_lock_updated_tuple does.
 * - Every change is made under the page's exclusive content lock in a
 *   critical section and logged (AegisWalPageBegin / AegisWalPageLog).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/xact.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "utils/datum.h"

/*
 * Per row-lock mode: the heavyweight lock that queues waiters on a tuple,
 * and the MultiXact status of a lock and of an update in that mode (heap's
 * tupleLockExtraInfo).
 */
static const struct
{
	LOCKMODE	hwlock;
	MultiXactStatus lockstatus;
	MultiXactStatus updstatus;
}			lock_info[] =
{
	[LockTupleKeyShare] = {AccessShareLock, MultiXactStatusForKeyShare, MultiXactStatusForKeyShare},
	[LockTupleShare] = {RowShareLock, MultiXactStatusForShare, MultiXactStatusForShare},
	[LockTupleNoKeyExclusive] = {ExclusiveLock, MultiXactStatusForNoKeyUpdate, MultiXactStatusNoKeyUpdate},
	[LockTupleExclusive] = {AccessExclusiveLock, MultiXactStatusForUpdate, MultiXactStatusUpdate}
};

/* The row-lock mode of each MultiXact status. */
static const LockTupleMode status_mode[] = {
	[MultiXactStatusForKeyShare] = LockTupleKeyShare,
	[MultiXactStatusForShare] = LockTupleShare,
	[MultiXactStatusForNoKeyUpdate] = LockTupleNoKeyExclusive,
	[MultiXactStatusForUpdate] = LockTupleExclusive,
	[MultiXactStatusNoKeyUpdate] = LockTupleNoKeyExclusive,
	[MultiXactStatusUpdate] = LockTupleExclusive
};

#define tuple_hwlock(mode) (lock_info[(mode)].hwlock)
/* the heavyweight lock mode equivalent to a MultiXact status */
#define status_hwlock(st) tuple_hwlock(status_mode[(st)])

/*
 * AegisTamTupleAt
 *		Set up 'tuple' for the item at 'tid' on the content-locked page of
 *		'buf'; 'tuple' points into the page.  A TID that names no tuple is
 *		an internal error (elog): callers pass TIDs of tuples they saw.
 */
void
AegisTamTupleAt(Relation rel, AegisBuffer buf, ItemPointer tid, HeapTuple tuple)
{
	if (!AegisPageGetTuple(AegisBufferGetPage(buf), ItemPointerGetBlockNumber(tid),
						   ItemPointerGetOffsetNumber(tid), RelationGetRelid(rel), tuple))
		elog(ERROR, "no tuple at (%u,%u) in aegis table \"%s\"",
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(rel));
}

/* Status of a single-xid xmax, from its infomask bits. */
static MultiXactStatus
single_xmax_status(uint16 infomask, uint16 infomask2)
{
	if (HEAP_XMAX_IS_LOCKED_ONLY(infomask))
	{
		if (HEAP_XMAX_IS_EXCL_LOCKED(infomask))
			return (infomask2 & HEAP_KEYS_UPDATED) ? MultiXactStatusForUpdate
				: MultiXactStatusForNoKeyUpdate;
		if (HEAP_XMAX_IS_SHR_LOCKED(infomask))
			return MultiXactStatusForShare;
		return MultiXactStatusForKeyShare;
	}
	return (infomask2 & HEAP_KEYS_UPDATED) ? MultiXactStatusUpdate
		: MultiXactStatusNoKeyUpdate;
}

/*
 * Has 'xid' committed?  TransactionIdIsInProgress first, as
 * heapam_visibility.c explains: a transaction is marked committed in clog
 * before it leaves the proc array.
 */
static bool
xact_committed(TransactionId xid)
{
	return !TransactionIdIsInProgress(xid) && TransactionIdDidCommit(xid);
}

/*
 * Running transactions (not ours) in the xmax 'xmax' (with infomask 'im',
 * 'im2') whose lock or update conflicts with 'want': palloc'd array, count
 * in *n; the members heap's MultiXactIdWait waits for.  A locker and an
 * updater conflict as their lock modes do (DoLockModesConflict on heap's
 * tupleLockExtraInfo modes), so a running non-key update does not conflict
 * with FOR KEY SHARE.  *ours is set if this transaction is a member.
 */
static TransactionId *
xmax_conflicts(TransactionId xmax, uint16 im, uint16 im2, MultiXactStatus want,
			   int *n, bool *ours)
{
	TransactionId *out;

	*n = 0;
	*ours = false;
	if (im & HEAP_XMAX_INVALID)
		return NULL;
	if (im & HEAP_XMAX_IS_MULTI)
	{
		MultiXactMember *m;
		int			nm = GetMultiXactIdMembers(xmax, &m, false, HEAP_XMAX_IS_LOCKED_ONLY(im));

		out = palloc(sizeof(TransactionId) * Max(nm, 1));
		for (int i = 0; i < nm; i++)
		{
			if (TransactionIdIsCurrentTransactionId(m[i].xid))
				*ours = true;
			else if (DoLockModesConflict(status_hwlock(m[i].status), status_hwlock(want)) &&
					 TransactionIdIsInProgress(m[i].xid))
				out[(*n)++] = m[i].xid;
		}
		if (nm > 0)
			pfree(m);
		return out;
	}
	out = palloc(sizeof(TransactionId));
	if (TransactionIdIsCurrentTransactionId(xmax))
		*ours = true;
	else if (DoLockModesConflict(status_hwlock(single_xmax_status(im, im2)), status_hwlock(want)) &&
			 TransactionIdIsInProgress(xmax))
		out[(*n)++] = xmax;
	return out;
}

/*
 * Does the MultiXact 'multi' hold anything that stops this transaction from
 * locking in 'mode' without waiting: a running conflicting locker, or a
 * conflicting updater that did not abort?  (heap's DoesMultiXactIdConflict)
 */
static bool
multi_conflicts(MultiXactId multi, uint16 im, LockTupleMode mode)
{
	MultiXactMember *m;
	int			nm = GetMultiXactIdMembers(multi, &m, false, HEAP_XMAX_IS_LOCKED_ONLY(im));
	bool		conflict = false;

	for (int i = 0; i < nm && !conflict; i++)
	{
		if (TransactionIdIsCurrentTransactionId(m[i].xid) ||
			!DoLockModesConflict(status_hwlock(m[i].status), tuple_hwlock(mode)))
			continue;
		if (ISUPDATE_from_mxstatus(m[i].status))
			conflict = !TransactionIdDidAbort(m[i].xid);
		else
			conflict = TransactionIdIsInProgress(m[i].xid);
	}
	if (nm > 0)
		pfree(m);
	return conflict;
}

/*
 * The strongest lock this transaction (or one of its subtransactions)
 * holds on a tuple whose xmax is 'xmax' ('im', 'im2'): true if it is at
 * least 'mode', so locking again changes nothing (heap_lock_tuple's first
 * check).  *weaker is set if a MultiXact holds a weaker lock of ours: then
 * the tuple's heavyweight lock must not be queued for, or a lock upgrade
 * would deadlock against a waiter queued behind us.
 */
static bool
own_lock_covers(TransactionId xmax, uint16 im, uint16 im2, LockTupleMode mode,
				bool *weaker)
{
	bool		covers = false;

	*weaker = false;
	if (im & HEAP_XMAX_INVALID)
		return false;
	if (im & HEAP_XMAX_IS_MULTI)
	{
		MultiXactMember *m;
		int			nm = GetMultiXactIdMembers(xmax, &m, false, HEAP_XMAX_IS_LOCKED_ONLY(im));

		for (int i = 0; i < nm; i++)
		{
			if (!TransactionIdIsCurrentTransactionId(m[i].xid))
				continue;
			if (status_mode[m[i].status] >= mode)
				covers = true;
			else
				*weaker = true;
		}
		if (nm > 0)
			pfree(m);
		return covers;
	}
	return HEAP_XMAX_IS_LOCKED_ONLY(im) && TransactionIdIsCurrentTransactionId(xmax) &&
		status_mode[single_xmax_status(im, im2)] >= mode;
}

/*
 * The infomask bits of a MultiXact xmax, from its members (heap's
 * GetMultiXactIdHintBits): the strongest lock, KEYS_UPDATED if a member
 * locks or changes the key, LOCK_ONLY if no member is an update.
 */
static void
multi_hint_bits(MultiXactId multi, uint16 *im, uint16 *im2)
{
	MultiXactMember *m;
	int			nm = GetMultiXactIdMembers(multi, &m, false, false);
	LockTupleMode strongest = LockTupleKeyShare;
	bool		has_update = false;

	*im = HEAP_XMAX_IS_MULTI;
	*im2 = 0;
	for (int i = 0; i < nm; i++)
	{
		if (status_mode[m[i].status] > strongest)
			strongest = status_mode[m[i].status];
		if (m[i].status == MultiXactStatusForUpdate || m[i].status == MultiXactStatusUpdate)
			*im2 |= HEAP_KEYS_UPDATED;
		if (ISUPDATE_from_mxstatus(m[i].status))
			has_update = true;
	}
	if (nm > 0)
		pfree(m);
	if (strongest >= LockTupleNoKeyExclusive)
		*im |= HEAP_XMAX_EXCL_LOCK;
	else if (strongest == LockTupleShare)
		*im |= HEAP_XMAX_SHR_LOCK;
	else
		*im |= HEAP_XMAX_KEYSHR_LOCK;
	if (!has_update)
		*im |= HEAP_XMAX_LOCK_ONLY;
}

/* The updater in a MultiXact, or InvalidTransactionId if only lockers. */
static TransactionId
multi_update_xid(MultiXactId multi)
{
	MultiXactMember *m;
	int			nm = GetMultiXactIdMembers(multi, &m, false, false);
	TransactionId upd = InvalidTransactionId;

	for (int i = 0; i < nm; i++)
	{
		if (ISUPDATE_from_mxstatus(m[i].status))
			upd = m[i].xid;
	}
	if (nm > 0)
		pfree(m);
	return upd;
}

/*
 * The xmax (and its infomask bits) to store when 'xid' takes 'status' (a
 * lock, or an update or delete) on a tuple whose xmax was 'oldxmax' with
 * 'oldim'/'oldim2'.  What must survive stays, in a MultiXact: lockers still
 * running (other transactions, or our own subtransactions, whose locks
 * must outlive our rollback) and an updater that is running or committed
 * (FOR KEY SHARE shares a tuple with a non-key update).  When 'xid' itself
 * held the old lock, it keeps the stronger of both modes.  Heap's
 * compute_new_xmax_infomask.  May create a MultiXact.
 */
static TransactionId
compute_new_xmax(TransactionId oldxmax, uint16 oldim, uint16 oldim2,
				 TransactionId xid, MultiXactStatus status,
				 uint16 *im, uint16 *im2)
{
	MultiXactId multi = InvalidMultiXactId;

	/*
	 * Before this transaction's xid can go into a MultiXact (ours or one
	 * another transaction makes from our xmax), as heap does.
	 */
	MultiXactIdSetOldestMember();
	if (oldim & HEAP_XMAX_INVALID)
		 /* no old xmax */ ;
	else if (oldim & HEAP_XMAX_IS_MULTI)
	{
		/* keep it unless no member runs and no committed update is in it */
		if (!HEAP_LOCKED_UPGRADED(oldim) &&
			(MultiXactIdIsRunning(oldxmax, HEAP_XMAX_IS_LOCKED_ONLY(oldim)) ||
			 (!HEAP_XMAX_IS_LOCKED_ONLY(oldim) &&
			  TransactionIdDidCommit(multi_update_xid(oldxmax)))))
			multi = MultiXactIdExpand(oldxmax, xid, status);
	}
	else if (!HEAP_XMAX_IS_LOCKED_ONLY(oldim) && (oldim & HEAP_XMAX_COMMITTED))
		multi = MultiXactIdCreate(oldxmax, single_xmax_status(oldim, oldim2), xid, status);
	else if (TransactionIdIsInProgress(oldxmax))
	{
		MultiXactStatus oldstatus = single_xmax_status(oldim, oldim2);

		if (TransactionIdEquals(oldxmax, xid))
		{
			/* our own lock: take the stronger of both modes */
			LockTupleMode mode = Max(status_mode[oldstatus], status_mode[status]);

			status = ISUPDATE_from_mxstatus(status) ? lock_info[mode].updstatus
				: lock_info[mode].lockstatus;
		}
		else
			multi = MultiXactIdCreate(oldxmax, oldstatus, xid, status);
	}
	else if (!HEAP_XMAX_IS_LOCKED_ONLY(oldim) && TransactionIdDidCommit(oldxmax))
		multi = MultiXactIdCreate(oldxmax, single_xmax_status(oldim, oldim2), xid, status);
	/* else a finished locker or an aborted updater: nothing to keep */

	if (MultiXactIdIsValid(multi))
	{
		multi_hint_bits(multi, im, im2);
		return multi;
	}

	*im = 0;
	*im2 = 0;
	switch (status)
	{
		case MultiXactStatusForKeyShare:
			*im = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_KEYSHR_LOCK;
			break;
		case MultiXactStatusForShare:
			*im = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_SHR_LOCK;
			break;
		case MultiXactStatusForNoKeyUpdate:
			*im = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_EXCL_LOCK;
			break;
		case MultiXactStatusForUpdate:
			*im = HEAP_XMAX_LOCK_ONLY | HEAP_XMAX_EXCL_LOCK;
			*im2 = HEAP_KEYS_UPDATED;
			break;
		case MultiXactStatusNoKeyUpdate:
			break;
		case MultiXactStatusUpdate:
			*im2 = HEAP_KEYS_UPDATED;
			break;
	}
	return xid;
}

/*
 * AegisTamComputeXmax
 *		The xmax and infomask bits (*im, *im2) to store when this
 *		transaction updates or deletes ('is_update') or locks a tuple in
 *		'mode', given the tuple's xmax 'oldxmax' and infomask 'oldim',
 *		'oldim2' (read under the page's content lock).  The result may be a
 *		new MultiXact keeping the running lockers and a running or
 *		committed updater.  Heap's compute_new_xmax_infomask.
 */
TransactionId
AegisTamComputeXmax(TransactionId oldxmax, uint16 oldim, uint16 oldim2,
					LockTupleMode mode, bool is_update, uint16 *im, uint16 *im2)
{
	return compute_new_xmax(oldxmax, oldim, oldim2, GetCurrentTransactionId(),
							is_update ? lock_info[mode].updstatus : lock_info[mode].lockstatus,
							im, im2);
}

/*
 * AegisTamNewVersionXmax
 *		Give the new version 'newtup' of an updated tuple the lockers of
 *		the old version that still run, from the old version's xmax
 *		'oldxmax' and infomask 'oldim' read before the update: heap_update's
 *		xmax_new_tuple.  An update went ahead only beside FOR KEY SHARE
 *		lockers and this transaction's own locks, so a single-xid locker
 *		holds FOR KEY SHARE; a MultiXact keeps its members' bits.  Without
 *		running lockers the new version's xmax is invalid.
 */
void
AegisTamNewVersionXmax(TransactionId oldxmax, uint16 oldim, HeapTupleHeader newtup)
{
	bool		lockers;
	uint16		im = HEAP_XMAX_INVALID,
				im2 = 0;

	if ((oldim & HEAP_XMAX_INVALID) || HEAP_LOCKED_UPGRADED(oldim))
		lockers = false;
	else if (oldim & HEAP_XMAX_IS_MULTI)
		lockers = MultiXactIdIsRunning(oldxmax, HEAP_XMAX_IS_LOCKED_ONLY(oldim));
	else
		lockers = HEAP_XMAX_IS_LOCKED_ONLY(oldim) &&
			(TransactionIdIsCurrentTransactionId(oldxmax) ||
			 TransactionIdIsInProgress(oldxmax));
	if (!lockers)
		oldxmax = InvalidTransactionId;
	else if (oldim & HEAP_XMAX_IS_MULTI)
		multi_hint_bits(oldxmax, &im, &im2);
	else
		im = HEAP_XMAX_KEYSHR_LOCK | HEAP_XMAX_LOCK_ONLY;
	newtup->t_infomask &= ~HEAP_XMAX_BITS;
	newtup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	newtup->t_infomask |= im;
	newtup->t_infomask2 |= im2;
	HeapTupleHeaderSetXmax(newtup, oldxmax);
}

/*
 * AegisTamStoreXmax
 *		Store an xmax computed by AegisTamComputeXmax (clearing the old xmax
 *		bits) in the tuple header 'tup'; inside the critical section of the
 *		page change, under the page's exclusive content lock.  t_ctid is
 *		the caller's.  A lock-only xmax ends the HOT chain here (an aborted
 *		update's link is gone), as in heap_lock_tuple; an xmax that keeps an
 *		update (a MultiXact of the updater and lockers) keeps the link.  An
 *		UPDATE or DELETE sets or clears HEAP_HOT_UPDATED itself.
 */
void
AegisTamStoreXmax(HeapTupleHeader tup, TransactionId xmax, uint16 im, uint16 im2)
{
	tup->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	tup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	tup->t_infomask |= im;
	tup->t_infomask2 |= im2;
	if (HEAP_XMAX_IS_LOCKED_ONLY(im))
		HeapTupleHeaderClearHotUpdated(tup);
	HeapTupleHeaderSetXmax(tup, xmax);
}

/*
 * AegisTamColumnsChanged
 *		Did an UPDATE from 'oldtup' to 'newtup' change one of the columns in
 *		'cols' (a RelationGetIndexAttrBitmap result, computed before any
 *		content lock is taken: computing it may open the indexes)?  Values
 *		are compared as stored (datumIsEqual), and a whole-row or system
 *		column reference counts as changed, as heap's
 *		HeapDetermineColumnsInfo decides.  INDEX_ATTR_BITMAP_KEY: a key
 *		column (the update then takes the strong lock, heap_update's
 *		key_attrs); INDEX_ATTR_BITMAP_ALL: any indexed column (no HOT update
 *		then, heap_update's hot_attrs).
 */
bool
AegisTamColumnsChanged(Relation rel, const Bitmapset *cols, HeapTuple oldtup,
					   HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		changed = false;
	int			x = -1;

	while (!changed && (x = bms_next_member(cols, x)) >= 0)
	{
		AttrNumber att = x + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute a;
		bool		n1,
					n2;
		Datum		d1,
					d2;

		if (att <= 0)
		{
			changed = true;
			break;
		}
		a = TupleDescAttr(desc, att - 1);
		d1 = heap_getattr(oldtup, att, desc, &n1);
		d2 = heap_getattr(newtup, att, desc, &n2);
		changed = n1 != n2 || (!n1 && !datumIsEqual(d1, d2, a->attbyval, a->attlen));
	}
	return changed;
}

static void
report_lock_not_available(Relation rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not obtain lock on row in relation \"%s\"",
					RelationGetRelationName(rel))));
}

/*
 * Wait for transaction 'xid' to end, per 'policy' (NOWAIT raises
 * ERRCODE_LOCK_NOT_AVAILABLE).  Returns false if SKIP LOCKED gave up.
 */
static bool
wait_for_xact(Relation rel, TransactionId xid, ItemPointer tid,
			  LockWaitPolicy policy, XLTW_Oper oper)
{
	if (policy == LockWaitBlock)
		XactLockTableWait(xid, rel, tid, oper);
	else if (!ConditionalXactLockTableWait(xid))
	{
		if (policy == LockWaitError)
			report_lock_not_available(rel);
		return false;
	}
	return true;
}

/*
 * Queue for the heavyweight lock of the tuple at 'tid' in 'mode', once
 * (*have_tuple_lock), per 'policy': heap_acquire_tuplock.  The first in
 * line waits for the tuple's lockers; the others wait here, so row locks
 * are granted in arrival order.  Returns false if SKIP LOCKED gave up;
 * NOWAIT raises ERRCODE_LOCK_NOT_AVAILABLE.
 */
static bool
acquire_tuple_lock(Relation rel, ItemPointer tid, LockTupleMode mode,
				   LockWaitPolicy policy, bool *have_tuple_lock)
{
	if (*have_tuple_lock)
		return true;
	if (policy == LockWaitBlock)
		LockTuple(rel, tid, tuple_hwlock(mode));
	else if (!ConditionalLockTuple(rel, tid, tuple_hwlock(mode)))
	{
		if (policy == LockWaitError)
			report_lock_not_available(rel);
		return false;
	}
	*have_tuple_lock = true;
	return true;
}

/*
 * Wait, per 'policy', for the running transactions in the xmax 'xmax'
 * ('im', 'im2') whose lock or update conflicts with 'want' (heap's
 * MultiXactIdWait, or XactLockTableWait for a single xid).  Called with no
 * content lock held.  Returns false if SKIP LOCKED gave up.
 */
static bool
wait_for_conflicts(Relation rel, ItemPointer tid, TransactionId xmax, uint16 im,
				   uint16 im2, MultiXactStatus want, LockWaitPolicy policy,
				   XLTW_Oper oper)
{
	int			n;
	bool		ours;
	bool		done = true;
	TransactionId *xids = xmax_conflicts(xmax, im, im2, want, &n, &ours);

	for (int i = 0; i < n && done; i++)
		done = wait_for_xact(rel, xids[i], tid, policy, oper);
	if (xids)
		pfree(xids);
	return done;
}

/*
 * AegisTamFillFailure
 *		Fill *tmfd for a change or lock that failed with 'result', from the
 *		tuple that made it fail, as heap does.
 */
void
AegisTamFillFailure(HeapTuple tup, TM_Result result, TM_FailureData *tmfd)
{
	tmfd->ctid = tup->t_data->t_ctid;
	tmfd->xmax = HeapTupleHeaderGetUpdateXid(tup->t_data);
	tmfd->cmax = (result == TM_SelfModified) ? HeapTupleHeaderGetCmax(tup->t_data)
		: InvalidCommandId;
	tmfd->traversed = false;
}

/* TM_Updated, or TM_Deleted for a tuple whose update left no new version. */
static TM_Result
updated_or_deleted(HeapTuple tup)
{
	return ItemPointerEquals(&tup->t_self, &tup->t_data->t_ctid) ? TM_Deleted : TM_Updated;
}

/*
 * AegisTamLockForChange
 *		Make the tuple at 'tid' ready for a change by this command
 *		(heap_update's and heap_delete's wait loop): 'buf' is pinned on entry and
 *		returned exclusively locked, 'tup' set to the tuple, and the
 *		TM_Result of the tuple returned.  *mode is the row-lock mode of the
 *		change: LockTupleNoKeyExclusive for an UPDATE ('newtup') that
 *		changes no key column, else LockTupleExclusive.  If 'wait', running
 *		transactions whose locks or update conflict are waited for (the
 *		tuple's heavyweight lock in *mode first, *have_tuple_lock set: the
 *		caller releases it with AegisTamUnlockTuple after the change).
 *		Lockers that do not conflict (FOR KEY SHARE beside a non-key UPDATE)
 *		stay and are not waited for; an update in the xmax that finished
 *		decides the result.  With 'crosscheck', a version that snapshot
 *		does not see is TM_Updated.  Raises an error for a tuple this
 *		command cannot see ('what' names the operation).
 */
TM_Result
AegisTamLockForChange(Relation rel, AegisBuffer buf, ItemPointer tid, HeapTuple tup,
					  CommandId cid, Snapshot crosscheck, bool wait, XLTW_Oper oper,
					  bool *have_tuple_lock, const char *what, HeapTuple newtup,
					  LockTupleMode *mode)
{
	TM_Result	result;
	bool		decided = false;
	MultiXactStatus want = MultiXactStatusUpdate;
	/* before the content lock: computing it may open the indexes */
	Bitmapset  *key_attrs = newtup ? RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_KEY) : NULL;

	AegisBufferLock(buf, LW_EXCLUSIVE);
	for (;;)
	{
		TransactionId *xids;
		int			n;
		bool		ours;

		AegisTamTupleAt(rel, buf, tid, tup);
		result = AegisTupleSatisfiesUpdate(tup, cid, buf);
		if (result == TM_Invisible)
		{
			AegisBufferUnlockRelease(buf);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("attempted to %s invisible tuple", what)));
		}
		if (!decided)
		{
			/* DELETE and key-changing UPDATE: Update; else NoKeyUpdate */
			want = (newtup != NULL && !AegisTamColumnsChanged(rel, key_attrs, tup, newtup))
				? MultiXactStatusNoKeyUpdate : MultiXactStatusUpdate;
			decided = true;
			bms_free(key_attrs);
		}
		if (result != TM_BeingModified || !wait)
			break;

		xids = xmax_conflicts(HeapTupleHeaderGetRawXmax(tup->t_data), tup->t_data->t_infomask,
							  tup->t_data->t_infomask2, want, &n, &ours);
		if (n == 0)
		{
			/*
			 * Only compatible lockers, or ourselves, still run: go ahead
			 * (they stay in the new xmax), unless an update in the xmax
			 * committed meanwhile.
			 */
			if (xids)
				pfree(xids);
			result = TM_Ok;
			if (!HEAP_XMAX_IS_LOCKED_ONLY(tup->t_data->t_infomask) &&
				xact_committed(HeapTupleHeaderGetUpdateXid(tup->t_data)))
				result = updated_or_deleted(tup);
			break;
		}
		AegisBufferUnlock(buf);

		/*
		 * Queue on the tuple's heavyweight lock first, unless we hold a
		 * lock on the tuple already: upgrading it must not wait behind a
		 * transaction that waits for us (heap_update's current_is_member).
		 */
		if (!ours)
			(void) acquire_tuple_lock(rel, tid, status_mode[want], LockWaitBlock,
									  have_tuple_lock);
		for (int i = 0; i < n; i++)
			XactLockTableWait(xids[i], rel, tid, oper);
		pfree(xids);
		AegisBufferLock(buf, LW_EXCLUSIVE);
	}
	if (result == TM_Ok && crosscheck != InvalidSnapshot &&
		!AegisTupleSatisfiesVisibility(tup, crosscheck, buf))
		result = TM_Updated;

	/*
	 * SERIALIZABLE: check for readers of this tuple before changing it; the
	 * exclusive content lock is held until the change is visible.
	 */
	if (result == TM_Ok)
		CheckForSerializableConflictIn(rel, tid, ItemPointerGetBlockNumber(tid));
	*mode = status_mode[want];
	return result;
}

/*
 * AegisTamUnlockTuple
 *		Release the heavyweight lock of the tuple at 'tid' taken in 'mode'
 *		by AegisTamLockForChange.
 */
void
AegisTamUnlockTuple(Relation rel, ItemPointer tid, LockTupleMode mode)
{
	UnlockTuple(rel, tid, tuple_hwlock(mode));
}

/*
 * Follow the update chain from tmfd->ctid to the newest version that a
 * dirty snapshot sees (heapam_tuple_lock's TUPLE_LOCK_FLAG_FIND_LAST_VERSION
 * walk).  Returns TM_Ok with *tid set to that version, or the result to
 * report.  A chain that leads to another partition (a partition-key
 * UPDATE) raises ERRCODE_T_R_SERIALIZATION_FAILURE, as heap does.
 */
static TM_Result
find_last_version(Relation rel, const AegisRelKey *key, ItemPointer tid,
				  CommandId cid, LockWaitPolicy wait_policy, TM_FailureData *tmfd)
{
	ItemPointerData ctid = tmfd->ctid;
	TransactionId priorXmax = tmfd->xmax;

	for (;;)
	{
		SnapshotData dirty;
		AegisBuffer buf;
		HeapTupleData tup;
		bool		visible;
		TransactionId xwait;

		CHECK_FOR_INTERRUPTS();
		if (ItemPointerIndicatesMovedPartitions(&ctid))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("tuple to be locked was already moved to another partition due to concurrent update")));
		buf = AegisBufferReadRelIfExists(rel, key, ItemPointerGetBlockNumber(&ctid));
		if (buf == InvalidAegisBuffer)
			return TM_Deleted;
		AegisBufferLock(buf, LW_SHARED);
		if (!AegisPageGetTuple(AegisBufferGetPage(buf), ItemPointerGetBlockNumber(&ctid),
							   ItemPointerGetOffsetNumber(&ctid), RelationGetRelid(rel), &tup))
		{
			AegisBufferUnlockRelease(buf);
			return TM_Deleted;
		}
		if (!TransactionIdEquals(HeapTupleHeaderGetXmin(tup.t_data), priorXmax))
		{
			/* the chain was broken: the updater aborted and the slot reused */
			AegisBufferUnlockRelease(buf);
			return TM_Deleted;
		}
		InitDirtySnapshot(dirty);
		visible = AegisTupleSatisfiesVisibility(&tup, &dirty, buf);
		if (visible)
		{
			if (TransactionIdIsValid(dirty.xmin))
			{
				/* inserter still running: wait for it, then look again */
				xwait = dirty.xmin;
				AegisBufferUnlockRelease(buf);
				if (!wait_for_xact(rel, xwait, &ctid, wait_policy, XLTW_FetchUpdated))
					return TM_WouldBlock;
				continue;
			}
			if (TransactionIdIsCurrentTransactionId(priorXmax) &&
				HeapTupleHeaderGetCmin(tup.t_data) >= cid)
			{
				tmfd->xmax = priorXmax;
				tmfd->cmax = HeapTupleHeaderGetCmin(tup.t_data);
				AegisBufferUnlockRelease(buf);
				return TM_SelfModified;
			}
			AegisBufferUnlockRelease(buf);
			*tid = ctid;
			return TM_Ok;
		}
		/* updated or deleted again: follow on, or give up */
		if ((tup.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIsOnlyLocked(tup.t_data) ||
			ItemPointerEquals(&tup.t_self, &tup.t_data->t_ctid))
		{
			AegisBufferUnlockRelease(buf);
			return TM_Deleted;
		}
		ctid = tup.t_data->t_ctid;
		priorXmax = HeapTupleHeaderGetUpdateXid(tup.t_data);
		AegisBufferUnlockRelease(buf);
	}
}

/*
 * May this transaction lock, in 'mode', a later version of an updated
 * tuple whose xmax holds 'xid' with 'status'?  heap's
 * test_lockmode_for_conflict: TM_SelfModified if it is our own (the
 * version is locked already), TM_Ok with *needwait if 'xid' runs and
 * conflicts, TM_Updated or TM_Deleted if it committed a conflicting update,
 * else TM_Ok.
 */
static TM_Result
chain_member_conflict(MultiXactStatus status, TransactionId xid, LockTupleMode mode,
					  HeapTuple tup, bool *needwait)
{
	bool		conflict = DoLockModesConflict(status_hwlock(status), tuple_hwlock(mode));

	*needwait = false;
	if (TransactionIdIsCurrentTransactionId(xid))
		return TM_SelfModified;
	if (TransactionIdIsInProgress(xid))
	{
		*needwait = conflict;
		return TM_Ok;
	}
	/* a finished locker holds nothing; an aborted update changed nothing */
	if (!ISUPDATE_from_mxstatus(status) || !conflict || !TransactionIdDidCommit(xid))
		return TM_Ok;
	return updated_or_deleted(tup);
}

/*
 * Lock, in 'mode', the later versions of a tuple whose update (by
 * 'prior_xmax') is in progress or committed, starting at 'ctid': heap's
 * heap_lock_updated_tuple.  A FOR KEY SHARE lock taken on the old version
 * must hold on the versions the update makes, or the updater could later
 * delete the key the lock protects.  Waits for running transactions whose
 * xmax on a later version conflicts (without the tuple's heavyweight lock,
 * as heap); returns TM_Ok at the end of the chain, or the TM_Result of a
 * committed conflicting update or delete.  Called with no content lock
 * held.
 */
static TM_Result
lock_update_chain(Relation rel, const AegisRelKey *key, TransactionId prior_xmax,
				  ItemPointerData ctid, LockTupleMode mode)
{
	TransactionId xid = GetCurrentTransactionId();

	if (ItemPointerIndicatesMovedPartitions(&ctid))
		return TM_Ok;			/* moved to another partition: nothing here */
	for (;;)
	{
		AegisBuffer buf;
		HeapTupleData tup;
		TransactionId xmax;
		uint16		im,
					im2;
		TM_Result	result = TM_Ok;
		bool		needwait = false;
		TransactionId waitxid = InvalidTransactionId;
		bool		mine = false;

		CHECK_FOR_INTERRUPTS();
		buf = AegisBufferReadRelIfExists(rel, key, ItemPointerGetBlockNumber(&ctid));
		if (buf == InvalidAegisBuffer)
			return TM_Ok;
		AegisBufferLock(buf, LW_EXCLUSIVE);

		/*
		 * The chain ends where the next version is gone (pruned after its
		 * inserter aborted), is another tuple in a reused slot, or was
		 * inserted by an aborted transaction.
		 */
		if (!AegisPageGetTuple(AegisBufferGetPage(buf), ItemPointerGetBlockNumber(&ctid),
							   ItemPointerGetOffsetNumber(&ctid), RelationGetRelid(rel), &tup) ||
			!TransactionIdEquals(HeapTupleHeaderGetXmin(tup.t_data), prior_xmax) ||
			TransactionIdDidAbort(HeapTupleHeaderGetXmin(tup.t_data)))
		{
			AegisBufferUnlockRelease(buf);
			return TM_Ok;
		}

		xmax = HeapTupleHeaderGetRawXmax(tup.t_data);
		im = tup.t_data->t_infomask;
		im2 = tup.t_data->t_infomask2;
		if (!(im & HEAP_XMAX_INVALID))
		{
			if (im & HEAP_XMAX_IS_MULTI)
			{
				MultiXactMember *m;
				int			nm = GetMultiXactIdMembers(xmax, &m, false,
													   HEAP_XMAX_IS_LOCKED_ONLY(im));

				for (int i = 0; i < nm && result == TM_Ok && !needwait && !mine; i++)
				{
					result = chain_member_conflict(m[i].status, m[i].xid, mode, &tup, &needwait);
					if (needwait)
						waitxid = m[i].xid;
					mine = result == TM_SelfModified;
				}
				if (nm > 0)
					pfree(m);
			}
			else
			{
				result = chain_member_conflict(single_xmax_status(im, im2), xmax, mode,
											   &tup, &needwait);
				waitxid = xmax;
				mine = result == TM_SelfModified;
			}
			if (needwait)
			{
				/* wait, then examine this version again */
				AegisBufferUnlockRelease(buf);
				XactLockTableWait(waitxid, rel, &ctid, XLTW_LockUpdated);
				continue;
			}
			if (result != TM_Ok && !mine)
			{
				AegisBufferUnlockRelease(buf);
				return result;
			}
		}

		/* lock this version, unless an earlier pass of ours did */
		if (!mine)
		{
			AegisPageChange *chg;
			TransactionId new_xmax;
			uint16		nim,
						nim2;

			new_xmax = compute_new_xmax(xmax, im, im2, xid, lock_info[mode].lockstatus,
										&nim, &nim2);
			/* a lock hides no version */
			chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(&tup.t_self), 0, true);
			START_CRIT_SECTION();
			AegisTamStoreXmax(tup.t_data, new_xmax, nim, nim2);
			AegisBufferMarkDirty(buf);
			AegisWalPageLog(chg);
			END_CRIT_SECTION();
		}

		/* the end of the chain, or on to the next version */
		if ((tup.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIndicatesMovedPartitions(tup.t_data) ||
			ItemPointerEquals(&tup.t_self, &tup.t_data->t_ctid) ||
			HeapTupleHeaderIsOnlyLocked(tup.t_data))
		{
			AegisBufferUnlockRelease(buf);
			return TM_Ok;
		}
		prior_xmax = HeapTupleHeaderGetUpdateXid(tup.t_data);
		ctid = tup.t_data->t_ctid;
		AegisBufferUnlockRelease(buf);
	}
}

/* Did the locking bits of an xmax change (heap's xmax_infomask_changed)? */
static bool
xmax_infomask_changed(uint16 new_im, uint16 old_im)
{
	const uint16 bits = HEAP_XMAX_IS_MULTI | HEAP_XMAX_LOCK_ONLY | HEAP_LOCK_MASK;

	return (new_im & bits) != (old_im & bits);
}

/*
 * Lock the tuple at 'tid' in 'mode' for this transaction: heap_lock_tuple's
 * rules.  From the tuple's xmax it decides whether to wait:
 *
 * - a lock this transaction holds already, at least as strong: done;
 * - FOR KEY SHARE on a tuple whose keys no update or lock claims: no wait,
 *   even beside a running or committed non-key update, whose old version
 *   it then shares in a MultiXact; with 'follow_updates' the later
 *   versions are locked too (lock_update_chain);
 * - FOR SHARE beside share lockers, FOR NO KEY UPDATE beside key-share
 *   lockers, or we are the only locker: no wait;
 * - otherwise a committed conflicting update fails (TM_Updated or
 *   TM_Deleted); a running one is waited for per 'wait_policy', through
 *   the tuple's heavyweight lock and then the transactions, and the tuple
 *   examined again.
 *
 * Stores a copy of the tuple in 'slot' whatever the result (ON CONFLICT DO
 * UPDATE reads the xmin after TM_Invisible) and fills *tmfd when the
 * result is not TM_Ok, but for a TID beyond the relation's end: TM_Deleted,
 * nothing stored.
 */
static TM_Result
lock_tuple_version(Relation rel, const AegisRelKey *key, ItemPointer tid,
				   CommandId cid, LockTupleMode mode, LockWaitPolicy wait_policy,
				   bool follow_updates, TupleTableSlot *slot, TM_FailureData *tmfd)
{
	AegisBuffer buf;
	HeapTupleData tup;
	TM_Result	result;
	bool		first_time = true;
	bool		skip_tuple_lock = false;
	bool		have_tuple_lock = false;
	bool		held = false;

	buf = AegisBufferReadRelIfExists(rel, key, ItemPointerGetBlockNumber(tid));
	if (buf == InvalidAegisBuffer)
		return TM_Deleted;		/* beyond the relation's end */
	AegisBufferLock(buf, LW_EXCLUSIVE);
	for (;;)
	{
		TransactionId xwait;
		TransactionId upd_xid = InvalidTransactionId;
		uint16		infomask,
					infomask2;
		ItemPointerData t_ctid;
		bool		updated;
		bool		chain;
		bool		require_sleep = true;
		TM_Result	waited;

		AegisTamTupleAt(rel, buf, tid, &tup);
		result = AegisTupleSatisfiesUpdate(&tup, cid, buf);
		if (result != TM_BeingModified && result != TM_Updated && result != TM_Deleted)
			break;				/* TM_Ok, TM_Invisible or TM_SelfModified */

		xwait = HeapTupleHeaderGetRawXmax(tup.t_data);
		infomask = tup.t_data->t_infomask;
		infomask2 = tup.t_data->t_infomask2;
		t_ctid = tup.t_data->t_ctid;
		updated = !HEAP_XMAX_IS_LOCKED_ONLY(infomask);
		if (updated)
			upd_xid = HeapTupleHeaderGetUpdateXid(tup.t_data);
		chain = follow_updates && updated && !ItemPointerEquals(&tup.t_self, &t_ctid);

		if (first_time)
		{
			first_time = false;
			if (own_lock_covers(xwait, infomask, infomask2, mode, &skip_tuple_lock))
			{
				held = true;
				result = TM_Ok;
				break;
			}
		}

		if (mode == LockTupleKeyShare && !(infomask2 & HEAP_KEYS_UPDATED))
		{
			if (chain)
			{
				AegisBufferUnlock(buf);
				result = lock_update_chain(rel, key, upd_xid, t_ctid, mode);
				AegisBufferLock(buf, LW_EXCLUSIVE);
				AegisTamTupleAt(rel, buf, tid, &tup);
				if (result != TM_Ok)
					break;

				/*
				 * Updated meanwhile (then the new versions need locking
				 * too), or its key updated or locked: look again.
				 */
				if (!HeapTupleHeaderIsOnlyLocked(tup.t_data) &&
					((tup.t_data->t_infomask2 & HEAP_KEYS_UPDATED) || !updated))
					continue;
			}
			require_sleep = false;
		}
		else if (mode == LockTupleShare)
			require_sleep = !HEAP_XMAX_IS_LOCKED_ONLY(infomask) ||
				HEAP_XMAX_IS_EXCL_LOCKED(infomask);
		else if (mode == LockTupleNoKeyExclusive)
		{
			if (infomask & HEAP_XMAX_IS_MULTI)
				require_sleep = multi_conflicts(xwait, infomask, mode);
			else
				require_sleep = !HEAP_XMAX_IS_KEYSHR_LOCKED(infomask);
		}
		/* the only locker is this transaction (a weaker lock of ours) */
		if (require_sleep && !(infomask & HEAP_XMAX_IS_MULTI) &&
			TransactionIdIsCurrentTransactionId(xwait))
			require_sleep = false;

		if (!require_sleep)
		{
			result = TM_Ok;
			break;
		}
		if (result != TM_BeingModified)
			break;				/* a committed update conflicts: no wait helps */

		AegisBufferUnlock(buf);
		waited = TM_Ok;
		if ((!skip_tuple_lock &&
			 !acquire_tuple_lock(rel, tid, mode, wait_policy, &have_tuple_lock)) ||
			!wait_for_conflicts(rel, tid, xwait, infomask, infomask2,
								lock_info[mode].lockstatus, wait_policy, XLTW_Lock))
			waited = TM_WouldBlock;
		else if (chain)
			waited = lock_update_chain(rel, key, upd_xid, t_ctid, mode);
		AegisBufferLock(buf, LW_EXCLUSIVE);
		AegisTamTupleAt(rel, buf, tid, &tup);
		if (waited != TM_Ok)
		{
			result = waited;	/* SKIP LOCKED gave up, or the chain failed */
			break;
		}

		/* locked or changed again while we waited: look again */
		if (xmax_infomask_changed(tup.t_data->t_infomask, infomask) ||
			!TransactionIdEquals(HeapTupleHeaderGetRawXmax(tup.t_data), xwait))
			continue;

		/* the conflicting transactions ended; a committed update stays */
		result = (updated && xact_committed(upd_xid)) ? updated_or_deleted(&tup) : TM_Ok;
		break;
	}

	if (result == TM_Ok && !held)
	{
		AegisPageChange *chg;
		TransactionId new_xmax;
		uint16		im,
					im2;

		new_xmax = compute_new_xmax(HeapTupleHeaderGetRawXmax(tup.t_data),
									tup.t_data->t_infomask, tup.t_data->t_infomask2,
									GetCurrentTransactionId(), lock_info[mode].lockstatus,
									&im, &im2);
		/* a lock hides no version */
		chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(&tup.t_self), 0, true);
		START_CRIT_SECTION();
		AegisTamStoreXmax(tup.t_data, new_xmax, im, im2);

		/*
		 * A lock-only xmax has no later version; an update's ctid (which
		 * the lock now shares) must stay.
		 */
		if (HEAP_XMAX_IS_LOCKED_ONLY(im))
			tup.t_data->t_ctid = tup.t_self;
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
	}

	/*
	 * Like heapam_tuple_lock, leave the tuple in the slot whatever the
	 * result: ON CONFLICT DO UPDATE reads its xmin after TM_Invisible.
	 */
	AegisStoreTuple(heap_copytuple(&tup), slot, true);
	if (result != TM_Ok && result != TM_Invisible)
		AegisTamFillFailure(&tup, result, tmfd);
	AegisBufferUnlockRelease(buf);
	if (have_tuple_lock)
		UnlockTuple(rel, tid, tuple_hwlock(mode));
	return result;
}

/*
 * AegisTamCheckWritable
 *		Raise ERRCODE_READ_ONLY_SQL_TRANSACTION if 'rel' cannot be changed
 *		because the server is in recovery; wait until aegis WAL may be
 *		written (AegisWalWaitGuarded); empty an unlogged relation that
 *		PostgreSQL reset after a crash before its first use
 *		(AegisTamCheckReset).
 */
void
AegisTamCheckWritable(Relation rel)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot modify aegis table \"%s\" during recovery",
						RelationGetRelationName(rel))));
	/* wait for the checkpoint guards here, before any content lock */
	if (AegisRelNeedsWal(rel))
		AegisWalWaitGuarded();
	AegisTamCheckReset(rel);
}

/*
 * aegis_tuple_lock follows heapam_tuple_lock's contract: the tuple at *tid
 * is locked in 'mode' (lock_tuple_version); TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS
 * lets FOR KEY SHARE lock the versions of a non-key update in progress;
 * with TUPLE_LOCK_FLAG_FIND_LAST_VERSION an updated tuple's newest version
 * is locked instead and *tid set to it (the executor refetches the row by
 * that TID), and tmfd->traversed says whether it moved.
 */
TM_Result
aegis_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
				 TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
				 LockWaitPolicy wait_policy, uint8 flags, TM_FailureData *tmfd)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	bool		follow_updates = (flags & TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS) != 0;
	bool		traversed = false;

	AegisTamCheckWritable(rel);
	(void) GetCurrentTransactionId();
	for (;;)
	{
		TM_Result	result;

		result = lock_tuple_version(rel, &key, tid, cid, mode, wait_policy,
									follow_updates, slot, tmfd);
		if (result == TM_Updated && (flags & TUPLE_LOCK_FLAG_FIND_LAST_VERSION) &&
			!ItemPointerEquals(&tmfd->ctid, tid))
		{
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			result = find_last_version(rel, &key, tid, cid, wait_policy, tmfd);
			if (result == TM_Ok)
			{
				traversed = true;
				continue;		/* lock the newest version, now at *tid */
			}
		}
		tmfd->traversed = traversed;
		return result;
	}
}
