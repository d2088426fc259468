/*-------------------------------------------------------------------------
 *
 * tam_dml.c
 *	  INSERT, COPY (multi-insert), UPDATE, DELETE and row locks on aegis
 *	  tables, and the fetch-by-TID callbacks.
 *
 * The rules are heap's (heapam.c, README.tuplock), on aegis buffers:
 *
 * - A change happens under the page's exclusive content lock inside a
 *   critical section, then the buffer is marked dirty.
 * - A tuple being changed by another transaction (TM_BeingModified) is
 *   waited for through PostgreSQL's heavyweight locks: first the tuple lock
 *   (queue position), then the modifier's transaction lock
 *   (XactLockTableWait), so deadlocks are detected and lock_timeout works;
 *   after the wait the tuple is examined again.
 * - UPDATE never uses HOT: the new version gets new index entries.  When
 *   the new version goes to another page, the old one is first marked
 *   locked by us (so nobody else updates it while its page is unlocked),
 *   then the new version is placed, then the old one gets its final xmax
 *   and ctid.
 * - INSERT ... ON CONFLICT inserts speculatively (token in t_ctid, seen by
 *   dirty snapshots) and then finishes or kills the tuple, as heap does.
 * - Row locks are stored as a lock-only xmax with heap's infomask bits;
 *   compatible lockers (and a non-key update beside FOR KEY SHARE lockers)
 *   share the tuple through a MultiXact; waits go to conflicting members.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/datum.h"
#include "utils/relcache.h"
#include "nodes/bitmapset.h"
#include "access/multixact.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

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
 * Set up 'tuple' for the item at 'tid' on the locked page of 'buf'.  A TID
 * that names no tuple is an internal error: callers pass TIDs of tuples
 * they saw.
 */
static void
tuple_at(Relation rel, AegisBuffer buf, ItemPointer tid, HeapTuple tuple)
{
	if (!AegisPageGetTuple(AegisBufferGetPage(buf), ItemPointerGetBlockNumber(tid),
						   ItemPointerGetOffsetNumber(tid), RelationGetRelid(rel), tuple))
		elog(ERROR, "no tuple at (%u,%u) in aegis table \"%s\"",
			 ItemPointerGetBlockNumber(tid), ItemPointerGetOffsetNumber(tid),
			 RelationGetRelationName(rel));
}

/*
 * heap_prepare_insert's work: stamp xmin, cmin and infomask on a new tuple
 * and toast it if it has external values or is too wide.  Returns the tuple
 * to store (a new palloc'd one if toasted).
 */
static HeapTuple
prepare_insert(Relation rel, HeapTuple tup, TransactionId xid, CommandId cid,
			   int options)
{
	tup->t_data->t_infomask &= ~HEAP_XACT_MASK;
	tup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	tup->t_data->t_infomask |= HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tup->t_data, xid);
	if (options & TABLE_INSERT_FROZEN)
		HeapTupleHeaderSetXminFrozen(tup->t_data);
	HeapTupleHeaderSetCmin(tup->t_data, cid);
	HeapTupleHeaderSetXmax(tup->t_data, 0);
	tup->t_tableOid = RelationGetRelid(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_MATVIEW)
		return tup;
	if (HeapTupleHasExternal(tup) || tup->t_len > TOAST_TUPLE_THRESHOLD)
		return heap_toast_insert_or_update(rel, tup, NULL, options);
	return tup;
}

static void
check_writable(Relation rel)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot modify aegis table \"%s\" during recovery",
						RelationGetRelationName(rel))));
}

/*
 * Insert one tuple; with a nonzero specToken, as a speculative insertion
 * (INSERT ... ON CONFLICT): the token stays in t_ctid until
 * aegis_tuple_complete_speculative finishes or kills the tuple.
 */
static void
insert_one(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
		   uint32 specToken)
{
	AegisPageChange *chg;
	bool		shouldFree = true;
	HeapTuple	tuple;
	HeapTuple	heaptup;
	AegisBuffer buf;

	check_writable(rel);
	/* SERIALIZABLE: readers of the whole relation conflict with an insert */
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);
	tuple = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	slot->tts_tableOid = RelationGetRelid(rel);
	if (specToken != 0)
		HeapTupleHeaderSetSpeculativeToken(tuple->t_data, specToken);
	heaptup = prepare_insert(rel, tuple, GetCurrentTransactionId(), cid, options);

	buf = AegisPageGetBufferForTuple(rel, heaptup->t_len);
	chg = AegisWalPageBegin(rel, buf);
	START_CRIT_SECTION();
	AegisPagePutTuple(rel, buf, heaptup);
	AegisBufferMarkDirty(buf);
	AegisWalPageLog(chg);
	END_CRIT_SECTION();
	AegisBufferUnlockRelease(buf);

	slot->tts_tid = heaptup->t_self;
	if (heaptup != tuple)
	{
		tuple->t_self = heaptup->t_self;
		heap_freetuple(heaptup);
	}
	if (shouldFree)
		pfree(tuple);
	pgstat_count_heap_insert(rel, 1);
}

void
aegis_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
				   int options, struct BulkInsertStateData *bistate)
{
	insert_one(rel, slot, cid, options, 0);
}

void
aegis_tuple_insert_speculative(Relation rel, TupleTableSlot *slot, CommandId cid,
							   int options, struct BulkInsertStateData *bistate,
							   uint32 specToken)
{
	insert_one(rel, slot, cid, options, specToken);
}

/*
 * Finish a speculative insertion: on success the token in t_ctid becomes
 * the tuple's own TID (heap_finish_speculative); on a conflict the tuple is
 * killed at once by setting its xmin to InvalidTransactionId, so that every
 * snapshot, and any inserter waiting on the token, sees it as never
 * inserted (heap_abort_speculative).
 */
void
aegis_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
								 uint32 specToken, bool succeeded)
{
	AegisPageChange *chg;
	AegisRelKey key = AegisRelKeyOf(rel);
	ItemPointer tid = &slot->tts_tid;
	AegisBuffer buf = AegisBufferRead(&key, ItemPointerGetBlockNumber(tid));
	Page		page;
	HeapTupleData tp;

	AegisBufferLock(buf, LW_EXCLUSIVE);
	page = AegisBufferGetPage(buf);
	tuple_at(rel, buf, tid, &tp);
	if (!HeapTupleHeaderIsSpeculative(tp.t_data))
		elog(ERROR, "attempted to complete a non-speculative tuple in aegis table \"%s\"",
			 RelationGetRelationName(rel));
	if (succeeded)
	{
		chg = AegisWalPageBegin(rel, buf);
		START_CRIT_SECTION();
		tp.t_data->t_ctid = *tid;
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
		return;
	}

	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tp.t_data)))
		elog(ERROR, "attempted to kill a tuple inserted by another transaction");
	chg = AegisWalPageBegin(rel, buf);
	START_CRIT_SECTION();
	/* dead at once: let a prune remove it */
	PageSetPrunable(page, TransactionIdPrecedes(TransactionXmin, rel->rd_rel->relfrozenxid)
					? rel->rd_rel->relfrozenxid : TransactionXmin);
	tp.t_data->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	tp.t_data->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	HeapTupleHeaderSetXmin(tp.t_data, InvalidTransactionId);
	tp.t_data->t_ctid = tp.t_self;
	AegisBufferMarkDirty(buf);
	AegisWalPageLog(chg);
	END_CRIT_SECTION();
	AegisBufferUnlock(buf);
	/* the pin keeps the tuple's bytes in place */
	if (HeapTupleHasExternal(&tp))
		heap_toast_delete(rel, &tp, true);
	AegisBufferRelease(buf);
	pgstat_count_heap_delete(rel);
}

/*
 * Multi-insert (COPY FROM, INSERT ... SELECT batches): fill each page with
 * as many tuples as fit while holding its lock once.
 */
void
aegis_multi_insert(Relation rel, TupleTableSlot **slots, int ntuples,
				   CommandId cid, int options, struct BulkInsertStateData *bistate)
{
	AegisPageChange *chg;
	TransactionId xid;
	HeapTuple  *tuples;
	AegisBuffer buf;

	check_writable(rel);
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);
	xid = GetCurrentTransactionId();
	tuples = palloc(ntuples * sizeof(HeapTuple));
	for (int i = 0; i < ntuples; i++)
	{
		HeapTuple	tuple = ExecFetchSlotHeapTuple(slots[i], true, NULL);

		slots[i]->tts_tableOid = RelationGetRelid(rel);
		tuples[i] = prepare_insert(rel, tuple, xid, cid, options);
	}

	/* fill a page at a time: one critical section and one WAL record each */
	for (int i = 0; i < ntuples;)
	{
		Page		page;

		buf = AegisPageGetBufferForTuple(rel, tuples[i]->t_len);
		page = AegisBufferGetPage(buf);
		chg = AegisWalPageBegin(rel, buf);
		START_CRIT_SECTION();
		do
		{
			AegisPagePutTuple(rel, buf, tuples[i]);
			slots[i]->tts_tid = tuples[i]->t_self;
			i++;
		} while (i < ntuples &&
				 PageGetHeapFreeSpace(page) >= MAXALIGN(tuples[i]->t_len));
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
	}
	pfree(tuples);
	pgstat_count_heap_insert(rel, ntuples);
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
 * Running transactions (not ours) in the xmax of 'tup' that conflict with
 * 'want': palloc'd array, count in *n.  Lockers conflict as their lock
 * modes do (DoLockModesConflict, as heap's MultiXact checks); a running
 * updater always does (README: aegis waits where heap would lock an old
 * version while its non-key update is in progress).
 */
static TransactionId *
xmax_conflicts(HeapTupleHeader tup, MultiXactStatus want, int *n)
{
	uint16		im = tup->t_infomask;
	TransactionId xmax = HeapTupleHeaderGetRawXmax(tup);
	TransactionId *out;

	*n = 0;
	if (im & HEAP_XMAX_INVALID)
		return NULL;
	if (im & HEAP_XMAX_IS_MULTI)
	{
		MultiXactMember *m;
		int			nm = GetMultiXactIdMembers(xmax, &m, false, HEAP_XMAX_IS_LOCKED_ONLY(im));

		out = palloc(sizeof(TransactionId) * Max(nm, 1));
		for (int i = 0; i < nm; i++)
		{
			if (TransactionIdIsCurrentTransactionId(m[i].xid) ||
				!TransactionIdIsInProgress(m[i].xid))
				continue;
			if (ISUPDATE_from_mxstatus(m[i].status) ||
				DoLockModesConflict(status_hwlock(m[i].status), status_hwlock(want)))
				out[(*n)++] = m[i].xid;
		}
		if (nm > 0)
			pfree(m);
		return out;
	}
	out = palloc(sizeof(TransactionId));
	if (!TransactionIdIsCurrentTransactionId(xmax) && TransactionIdIsInProgress(xmax))
	{
		MultiXactStatus st = single_xmax_status(im, tup->t_infomask2);

		if (ISUPDATE_from_mxstatus(st) || DoLockModesConflict(status_hwlock(st), status_hwlock(want)))
			out[(*n)++] = xmax;
	}
	return out;
}

/*
 * The xmax (and its infomask bits) to store when 'xid' takes 'status' on a
 * tuple whose xmax was 'oldxmax' with 'oldim'/'oldim2': a single xid, or a
 * MultiXact that keeps the lockers still running (other transactions, or
 * our own subtransactions, whose locks must survive our rollback).  Heap's
 * compute_new_xmax_infomask for the cases aegis produces.  May allocate.
 */
static TransactionId
compute_new_xmax(TransactionId oldxmax, uint16 oldim, uint16 oldim2,
				 TransactionId xid, MultiXactStatus status,
				 uint16 *im, uint16 *im2)
{
	bool		keep = false;
	MultiXactId multi;
	MultiXactMember *m;
	int			nm;
	LockTupleMode strongest = LockTupleKeyShare;
	bool		has_update = false;

	*im = 0;
	*im2 = 0;
	if (!(oldim & HEAP_XMAX_INVALID) && HEAP_XMAX_IS_LOCKED_ONLY(oldim))
	{
		if (oldim & HEAP_XMAX_IS_MULTI)
			keep = MultiXactIdIsRunning(oldxmax, true);
		else
			keep = !TransactionIdEquals(oldxmax, xid) && TransactionIdIsInProgress(oldxmax);
	}
	if (!keep)
	{
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

	if (oldim & HEAP_XMAX_IS_MULTI)
		multi = MultiXactIdExpand(oldxmax, xid, status);
	else
		multi = MultiXactIdCreate(oldxmax, single_xmax_status(oldim, oldim2), xid, status);
	/* aegis WAL naming the MultiXact waits for its PostgreSQL WAL record */
	AegisWalNoteMultiXact();

	/* hint bits from the members, as heap's GetMultiXactIdHintBits */
	nm = GetMultiXactIdMembers(multi, &m, false, false);
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
	*im = HEAP_XMAX_IS_MULTI;
	if (strongest >= LockTupleNoKeyExclusive)
		*im |= HEAP_XMAX_EXCL_LOCK;
	else if (strongest == LockTupleShare)
		*im |= HEAP_XMAX_SHR_LOCK;
	else
		*im |= HEAP_XMAX_KEYSHR_LOCK;
	if (!has_update)
		*im |= HEAP_XMAX_LOCK_ONLY;
	return multi;
}

/* Store a computed xmax; inside a critical section. */
static void
store_xmax(HeapTupleHeader tup, TransactionId xmax, uint16 im, uint16 im2)
{
	tup->t_infomask &= ~(HEAP_XMAX_BITS | HEAP_MOVED);
	tup->t_infomask2 &= ~HEAP_KEYS_UPDATED;
	tup->t_infomask |= im;
	tup->t_infomask2 |= im2;
	HeapTupleHeaderClearHotUpdated(tup);
	HeapTupleHeaderSetXmax(tup, xmax);
}

/*
 * Did an UPDATE change a column of a unique index usable by a foreign key
 * (heap's key columns)?  If not, it takes the weaker NoKeyExclusive lock,
 * so FOR KEY SHARE lockers (foreign-key checks) do not block it.
 */
static bool
key_columns_changed(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	Bitmapset  *keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_KEY);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		changed = false;
	int			x = -1;

	while (!changed && (x = bms_next_member(keys, x)) >= 0)
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
	bms_free(keys);
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
 * 'tup' (buffer exclusively locked) is locked or being changed by other
 * transactions.  If none of them conflicts with 'want', return true with the
 * buffer still locked: the caller goes ahead (sharing the tuple through a
 * MultiXact).  Otherwise unlock the buffer, take the tuple's heavyweight
 * lock once (*have_tuple_lock: queue position, as heap_acquire_tuplock),
 * wait for each conflicting transaction per 'policy', and return false for
 * the caller to look again; *would_block is set if SKIP LOCKED gave up.
 * NOWAIT raises ERRCODE_LOCK_NOT_AVAILABLE.
 */
static bool
wait_for_conflicts(Relation rel, AegisBuffer buf, HeapTuple tup, LockTupleMode mode,
				   MultiXactStatus want, LockWaitPolicy policy, XLTW_Oper oper,
				   bool *have_tuple_lock, bool *would_block)
{
	ItemPointerData tid = tup->t_self;
	int			n;
	TransactionId *xids = xmax_conflicts(tup->t_data, want, &n);

	*would_block = false;
	if (n == 0)
	{
		if (xids)
			pfree(xids);
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup->t_data->t_infomask))
			return true;		/* only compatible or finished lockers */

		/*
		 * The updater finished since the tuple was examined: never share a
		 * tuple with an update; the caller looks again (and then sees the
		 * committed update, or the abort).
		 */
		AegisBufferUnlock(buf);
		return false;
	}
	AegisBufferUnlock(buf);

	if (!*have_tuple_lock)
	{
		if (policy == LockWaitBlock)
			LockTuple(rel, &tid, tuple_hwlock(mode));
		else if (!ConditionalLockTuple(rel, &tid, tuple_hwlock(mode)))
		{
			if (policy == LockWaitError)
				report_lock_not_available(rel);
			*would_block = true;
			pfree(xids);
			return false;
		}
		*have_tuple_lock = true;
	}
	for (int i = 0; i < n && !*would_block; i++)
		*would_block = !wait_for_xact(rel, xids[i], &tid, policy, oper);
	pfree(xids);
	return false;
}

/* Fill *tmfd for a failed change, as heap does. */
static void
fill_failure(HeapTuple tup, TM_Result result, TM_FailureData *tmfd)
{
	tmfd->ctid = tup->t_data->t_ctid;
	tmfd->xmax = HeapTupleHeaderGetUpdateXid(tup->t_data);
	tmfd->cmax = (result == TM_SelfModified) ? HeapTupleHeaderGetCmax(tup->t_data)
		: InvalidCommandId;
	tmfd->traversed = false;
}

/*
 * Lock the tuple at 'tid' for a change by this command: returns with 'buf'
 * pinned and exclusively locked and the TM_Result of the tuple, having
 * waited for concurrent modifiers if 'wait'.
 */
static TM_Result
lock_for_change(Relation rel, AegisBuffer buf, ItemPointer tid, HeapTuple tup,
				CommandId cid, Snapshot crosscheck, bool wait, XLTW_Oper oper,
				bool *have_tuple_lock, const char *what, HeapTuple newtup,
				MultiXactStatus *want)
{
	TM_Result	result;
	bool		decided = false;

	for (;;)
	{
		bool		would_block;

		AegisBufferLock(buf, LW_EXCLUSIVE);
		tuple_at(rel, buf, tid, tup);
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
			*want = (newtup != NULL && !key_columns_changed(rel, tup, newtup))
				? MultiXactStatusNoKeyUpdate : MultiXactStatusUpdate;
			decided = true;
		}
		if (result != TM_BeingModified || !wait)
			break;
		if (wait_for_conflicts(rel, buf, tup, status_mode[*want], *want, LockWaitBlock,
							   oper, have_tuple_lock, &would_block))
		{
			result = TM_Ok;		/* only compatible lockers, or ourselves */
			break;
		}
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
	return result;
}

TM_Result
aegis_tuple_delete(Relation rel, ItemPointer tid, CommandId cid, Snapshot snapshot,
				   Snapshot crosscheck, bool wait, TM_FailureData *tmfd,
				   bool changingPart)
{
	AegisPageChange *chg;
	AegisRelKey key = AegisRelKeyOf(rel);
	TransactionId xid;
	AegisBuffer buf;
	HeapTupleData tp;
	TM_Result	result;
	bool		have_tuple_lock = false;
	bool		iscombo;
	MultiXactStatus want;
	TransactionId new_xmax;
	uint16		im,
				im2;

	check_writable(rel);
	xid = GetCurrentTransactionId();
	buf = AegisBufferRead(&key, ItemPointerGetBlockNumber(tid));
	result = lock_for_change(rel, buf, tid, &tp, cid, crosscheck, wait, XLTW_Delete,
							 &have_tuple_lock, "delete", NULL, &want);
	if (result != TM_Ok)
	{
		fill_failure(&tp, result, tmfd);
		AegisBufferUnlockRelease(buf);
		if (have_tuple_lock)
			UnlockTuple(rel, tid, tuple_hwlock(status_mode[want]));
		return result;
	}

	new_xmax = compute_new_xmax(HeapTupleHeaderGetRawXmax(tp.t_data), tp.t_data->t_infomask,
								tp.t_data->t_infomask2, xid, want, &im, &im2);
	HeapTupleHeaderAdjustCmax(tp.t_data, &cid, &iscombo);
	chg = AegisWalPageBegin(rel, buf);
	START_CRIT_SECTION();
	store_xmax(tp.t_data, new_xmax, im, im2);
	HeapTupleHeaderSetCmax(tp.t_data, cid, iscombo);
	tp.t_data->t_ctid = tp.t_self;
	if (changingPart)
		HeapTupleHeaderSetMovedPartitions(tp.t_data);
	PageSetPrunable(AegisBufferGetPage(buf), xid);
	AegisBufferMarkDirty(buf);
	AegisWalPageLog(chg);
	END_CRIT_SECTION();
	AegisBufferUnlock(buf);

	/* the pin keeps the tuple's bytes in place */
	if (HeapTupleHasExternal(&tp))
		heap_toast_delete(rel, &tp, false);
	AegisBufferRelease(buf);
	if (have_tuple_lock)
		UnlockTuple(rel, tid, tuple_hwlock(status_mode[want]));
	pgstat_count_heap_delete(rel);
	return TM_Ok;
}

TM_Result
aegis_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
				   CommandId cid, Snapshot snapshot, Snapshot crosscheck,
				   bool wait, TM_FailureData *tmfd, LockTupleMode *lockmode,
				   bool *update_indexes)
{
	AegisPageChange *chg;
	AegisRelKey key = AegisRelKeyOf(rel);
	TransactionId xid;
	bool		shouldFree = true;
	HeapTuple	newtup;
	HeapTuple	heaptup;
	HeapTupleData oldtup;
	AegisBuffer buf;
	TM_Result	result;
	bool		have_tuple_lock = false;
	bool		iscombo;
	bool		need_toast;
	bool		fits;
	bool		floor_blocks;
	BlockNumber floor;
	CommandId	oldcid = cid;
	MultiXactStatus want;
	TransactionId orig_xmax,
				final_xmax;
	uint16		orig_im,
				orig_im2,
				fim,
				fim2;

	check_writable(rel);
	xid = GetCurrentTransactionId();
	*update_indexes = true;
	newtup = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	slot->tts_tableOid = RelationGetRelid(rel);
	newtup->t_tableOid = RelationGetRelid(rel);

	buf = AegisBufferRead(&key, ItemPointerGetBlockNumber(otid));
	result = lock_for_change(rel, buf, otid, &oldtup, cid, crosscheck, wait,
							 XLTW_Update, &have_tuple_lock, "update", newtup, &want);
	*lockmode = status_mode[want];
	if (result != TM_Ok)
	{
		fill_failure(&oldtup, result, tmfd);
		AegisBufferUnlockRelease(buf);
		if (have_tuple_lock)
			UnlockTuple(rel, otid, tuple_hwlock(status_mode[want]));
		if (shouldFree)
			heap_freetuple(newtup);
		return result;
	}

	newtup->t_data->t_infomask &= ~HEAP_XACT_MASK;
	newtup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	newtup->t_data->t_infomask |= (HEAP_XMAX_INVALID | HEAP_UPDATED);
	HeapTupleHeaderSetXmin(newtup->t_data, xid);
	HeapTupleHeaderSetCmin(newtup->t_data, cid);
	HeapTupleHeaderSetXmax(newtup->t_data, 0);
	orig_xmax = HeapTupleHeaderGetRawXmax(oldtup.t_data);
	orig_im = oldtup.t_data->t_infomask;
	orig_im2 = oldtup.t_data->t_infomask2;
	final_xmax = compute_new_xmax(orig_xmax, orig_im, orig_im2, xid, want, &fim, &fim2);
	HeapTupleHeaderAdjustCmax(oldtup.t_data, &oldcid, &iscombo);

	need_toast = HeapTupleHasExternal(&oldtup) || HeapTupleHasExternal(newtup) ||
		newtup->t_len > TOAST_TUPLE_THRESHOLD;
	/* after a crash, the new version may not go below the insert floor */
	(void) AegisStorageFreeHint(&key, InvalidBlockNumber, NULL, &floor);
	floor_blocks = ItemPointerGetBlockNumber(otid) < floor;
	fits = !need_toast && !floor_blocks &&
		PageGetHeapFreeSpace(AegisBufferGetPage(buf)) >= MAXALIGN(newtup->t_len);
	if (!need_toast && !floor_blocks && !fits && AegisPagePrune(rel, buf))
	{
		/* pruning moved the tuples of the page: find ours again */
		tuple_at(rel, buf, otid, &oldtup);
		fits = PageGetHeapFreeSpace(AegisBufferGetPage(buf)) >= MAXALIGN(newtup->t_len);
	}

	if (fits)
	{
		/* new version on the same page, all under one lock */
		heaptup = newtup;
		chg = AegisWalPageBegin(rel, buf);
		START_CRIT_SECTION();
		AegisPagePutTuple(rel, buf, heaptup);
		store_xmax(oldtup.t_data, final_xmax, fim, fim2);
		HeapTupleHeaderSetCmax(oldtup.t_data, oldcid, iscombo);
		oldtup.t_data->t_ctid = heaptup->t_self;
		PageSetPrunable(AegisBufferGetPage(buf), xid);
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
	}
	else
	{
		AegisBuffer newbuf;

		/*
		 * Keep others off the old version while its page is unlocked: lock it
		 * in the mode of our update (other lockers stay, in a MultiXact).
		 */
		TransactionId lock_xmax;
		uint16		lim,
					lim2;

		lock_xmax = compute_new_xmax(orig_xmax, orig_im, orig_im2, xid,
									 lock_info[status_mode[want]].lockstatus, &lim, &lim2);
		chg = AegisWalPageBegin(rel, buf);
		START_CRIT_SECTION();
		store_xmax(oldtup.t_data, lock_xmax, lim, lim2);
		HeapTupleHeaderSetCmax(oldtup.t_data, oldcid, iscombo);
		oldtup.t_data->t_ctid = oldtup.t_self;
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlock(buf);

		heaptup = need_toast ? heap_toast_insert_or_update(rel, newtup, &oldtup, 0) : newtup;
		newbuf = AegisPageGetBufferForTuple(rel, heaptup->t_len);
		chg = AegisWalPageBegin(rel, newbuf);
		START_CRIT_SECTION();
		AegisPagePutTuple(rel, newbuf, heaptup);
		AegisBufferMarkDirty(newbuf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(newbuf);

		AegisBufferLock(buf, LW_EXCLUSIVE);
		chg = AegisWalPageBegin(rel, buf);
		START_CRIT_SECTION();
		store_xmax(oldtup.t_data, final_xmax, fim, fim2);
		HeapTupleHeaderSetCmax(oldtup.t_data, oldcid, iscombo);
		oldtup.t_data->t_ctid = heaptup->t_self;
		PageSetPrunable(AegisBufferGetPage(buf), xid);
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
	}

	if (have_tuple_lock)
		UnlockTuple(rel, otid, tuple_hwlock(status_mode[want]));
	pgstat_count_heap_update(rel, false);

	slot->tts_tid = heaptup->t_self;
	if (heaptup != newtup)
	{
		newtup->t_self = heaptup->t_self;
		heap_freetuple(heaptup);
	}
	if (shouldFree)
		heap_freetuple(newtup);
	return TM_Ok;
}

/*
 * aegis_tuple_lock follows heapam_tuple_lock's contract: with
 * TUPLE_LOCK_FLAG_FIND_LAST_VERSION it locks the newest version and sets
 * *tid to it (the executor refetches the row by that TID), and
 * tmfd->traversed says whether it moved.
 *
 * Follow the update chain from tmfd->ctid to the newest version that a
 * dirty snapshot sees (heapam_tuple_lock's TUPLE_LOCK_FLAG_FIND_LAST_VERSION
 * walk).  Returns TM_Ok with *tid set to that version, or the result to
 * report.
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
		if (ItemPointerGetBlockNumber(&ctid) >= AegisStorageNPages(key))
			return TM_Deleted;
		buf = AegisBufferRead(key, ItemPointerGetBlockNumber(&ctid));
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
			ItemPointerEquals(&tup.t_self, &tup.t_data->t_ctid) ||
			HeapTupleHeaderIndicatesMovedPartitions(tup.t_data))
		{
			AegisBufferUnlockRelease(buf);
			return TM_Deleted;
		}
		ctid = tup.t_data->t_ctid;
		priorXmax = HeapTupleHeaderGetUpdateXid(tup.t_data);
		AegisBufferUnlockRelease(buf);
	}
}

TM_Result
aegis_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
				 TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
				 LockWaitPolicy wait_policy, uint8 flags, TM_FailureData *tmfd)
{
	AegisPageChange *chg;
	AegisRelKey key = AegisRelKeyOf(rel);
	TransactionId xid;
	ItemPointerData cur = *tid;
	bool		traversed = false;

	check_writable(rel);
	xid = GetCurrentTransactionId();
	for (;;)
	{
		AegisBuffer buf;
		HeapTupleData tup;
		TM_Result	result;
		bool		have_tuple_lock = false;
		bool		would_block = false;
		HeapTuple	copy;
		TransactionId new_xmax;
		uint16		im = 0,
					im2 = 0;

		if (ItemPointerGetBlockNumber(&cur) >= AegisStorageNPages(&key))
			return TM_Deleted;
		buf = AegisBufferRead(&key, ItemPointerGetBlockNumber(&cur));
		for (;;)
		{
			AegisBufferLock(buf, LW_EXCLUSIVE);
			tuple_at(rel, buf, &cur, &tup);
			result = AegisTupleSatisfiesUpdate(&tup, cid, buf);
			if (result != TM_BeingModified)
				break;
			if (wait_for_conflicts(rel, buf, &tup, mode, lock_info[mode].lockstatus,
								   wait_policy, XLTW_Lock, &have_tuple_lock, &would_block))
			{
				result = TM_Ok;	/* only compatible lockers, or ourselves */
				break;
			}
			if (would_block)
			{
				AegisBufferRelease(buf);
				if (have_tuple_lock)
					UnlockTuple(rel, &cur, tuple_hwlock(mode));
				tmfd->traversed = traversed;
				return TM_WouldBlock;
			}
		}

		if (result != TM_Ok)
		{
			/*
			 * Like heapam_tuple_lock, leave the tuple in the slot whatever
			 * the result: ON CONFLICT DO UPDATE reads its xmin after
			 * TM_Invisible to tell "affects a row a second time".
			 */
			copy = heap_copytuple(&tup);
			ExecStoreHeapTuple(copy, slot, true);
			slot->tts_tableOid = RelationGetRelid(rel);
			if (result != TM_Invisible)
				fill_failure(&tup, result, tmfd);
			AegisBufferUnlockRelease(buf);
			if (have_tuple_lock)
				UnlockTuple(rel, &cur, tuple_hwlock(mode));
			if (result == TM_Updated && (flags & TUPLE_LOCK_FLAG_FIND_LAST_VERSION) &&
				!ItemPointerEquals(&tmfd->ctid, &cur))
			{
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				result = find_last_version(rel, &key, &cur, cid, wait_policy, tmfd);
				if (result == TM_Ok)
				{
					/* like heapam_tuple_lock, tell the caller the new TID */
					*tid = cur;
					traversed = true;
					continue;	/* lock the newest version */
				}
			}
			tmfd->traversed = traversed;
			return result;
		}

		/* already locked by this very transaction in a mode at least as strong? */
		if (HEAP_XMAX_IS_LOCKED_ONLY(tup.t_data->t_infomask) &&
			!(tup.t_data->t_infomask & (HEAP_XMAX_INVALID | HEAP_XMAX_IS_MULTI)) &&
			TransactionIdEquals(HeapTupleHeaderGetRawXmax(tup.t_data), xid) &&
			status_mode[single_xmax_status(tup.t_data->t_infomask,
										   tup.t_data->t_infomask2)] >= mode)
		{
			new_xmax = InvalidTransactionId;
		}
		else
			new_xmax = compute_new_xmax(HeapTupleHeaderGetRawXmax(tup.t_data),
										tup.t_data->t_infomask, tup.t_data->t_infomask2,
										xid, lock_info[mode].lockstatus, &im, &im2);
		if (TransactionIdIsValid(new_xmax))
		{
			chg = AegisWalPageBegin(rel, buf);
			START_CRIT_SECTION();
			store_xmax(tup.t_data, new_xmax, im, im2);
			tup.t_data->t_ctid = tup.t_self;
			AegisBufferMarkDirty(buf);
			AegisWalPageLog(chg);
			END_CRIT_SECTION();
		}
		copy = heap_copytuple(&tup);
		AegisBufferUnlockRelease(buf);
		if (have_tuple_lock)
			UnlockTuple(rel, &cur, tuple_hwlock(mode));

		ExecStoreHeapTuple(copy, slot, true);
		slot->tts_tableOid = RelationGetRelid(rel);
		tmfd->traversed = traversed;
		return TM_Ok;
	}
}

bool
aegis_tuple_fetch_row_version(Relation rel, ItemPointer tid, Snapshot snapshot,
							  TupleTableSlot *slot)
{
	AegisRelKey key = AegisRelKeyOf(rel);

	BlockNumber npages = 0;

	return AegisFetchTuple(rel, &key, tid, snapshot, slot, NULL, &npages);
}

bool
aegis_tuple_tid_valid(TableScanDesc scan, ItemPointer tid)
{
	return ItemPointerIsValid(tid) &&
		ItemPointerGetBlockNumber(tid) < ((AegisScanDesc) scan)->nblocks;
}

/* heap_get_latest_tid: the newest version of *tid that the snapshot sees. */
void
aegis_tuple_get_latest_tid(TableScanDesc sscan, ItemPointer tid)
{
	Relation	rel = sscan->rs_rd;
	Snapshot	snapshot = sscan->rs_snapshot;
	AegisRelKey key = AegisRelKeyOf(rel);
	ItemPointerData ctid = *tid;
	TransactionId priorXmax = InvalidTransactionId;

	for (;;)
	{
		AegisBuffer buf;
		HeapTupleData tp;
		bool		stop;

		if (ItemPointerGetBlockNumber(&ctid) >= AegisStorageNPages(&key))
			return;
		buf = AegisBufferRead(&key, ItemPointerGetBlockNumber(&ctid));
		AegisBufferLock(buf, LW_SHARED);
		if (!AegisPageGetTuple(AegisBufferGetPage(buf), ItemPointerGetBlockNumber(&ctid),
							   ItemPointerGetOffsetNumber(&ctid), RelationGetRelid(rel), &tp))
		{
			AegisBufferUnlockRelease(buf);
			return;
		}
		if (TransactionIdIsValid(priorXmax) &&
			!TransactionIdEquals(priorXmax, HeapTupleHeaderGetXmin(tp.t_data)))
		{
			AegisBufferUnlockRelease(buf);
			return;
		}
		if (AegisTupleSatisfiesVisibility(&tp, snapshot, buf))
		{
			*tid = ctid;
			AegisCheckConflictOut(true, rel, &tp, buf, snapshot);
		}
		else
			AegisCheckConflictOut(false, rel, &tp, buf, snapshot);
		stop = (tp.t_data->t_infomask & HEAP_XMAX_INVALID) ||
			HeapTupleHeaderIsOnlyLocked(tp.t_data) ||
			HeapTupleHeaderIndicatesMovedPartitions(tp.t_data) ||
			ItemPointerEquals(&tp.t_self, &tp.t_data->t_ctid);
		if (!stop)
		{
			ctid = tp.t_data->t_ctid;
			priorXmax = HeapTupleHeaderGetUpdateXid(tp.t_data);
		}
		AegisBufferUnlockRelease(buf);
		if (stop)
			return;
	}
}

/* Does 'snapshot' see the tuple version stored in 'slot' (by its TID)? */
bool
aegis_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot, Snapshot snapshot)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	AegisBuffer buf;
	HeapTupleData tp;
	bool		res;

	buf = AegisBufferRead(&key, ItemPointerGetBlockNumber(&slot->tts_tid));
	AegisBufferLock(buf, LW_SHARED);
	tuple_at(rel, buf, &slot->tts_tid, &tp);
	res = AegisTupleSatisfiesVisibility(&tp, snapshot, buf);
	AegisBufferUnlockRelease(buf);
	return res;
}
