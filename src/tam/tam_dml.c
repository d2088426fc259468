/*-------------------------------------------------------------------------
 *
 * tam_dml.c
 *	  INSERT, COPY (multi-insert), UPDATE and DELETE on aegis tables, and
 *	  the fetch-by-TID callbacks.
 *
 * The rules are heap's (heapam.c, README.tuplock), on aegis buffers:
 *
 * - A change happens under the page's exclusive content lock inside a
 *   critical section, then the buffer is marked dirty and the change
 *   logged.
 * - UPDATE and DELETE first make the tuple ready with AegisTamLockForChange
 *   (tam_lock.c): waits for conflicting transactions go through
 *   PostgreSQL's heavyweight locks; the new xmax keeps compatible lockers
 *   (AegisTamComputeXmax).
 * - UPDATE is a HOT update (heap's heap-only tuple, README.HOT) when the
 *   new version fits on the old one's page and no indexed column changed:
 *   the old version gets HEAP_HOT_UPDATED, the new one HEAP_ONLY_TUPLE and
 *   no index entries (page_prune.c follows and prunes the chains).
 *   Otherwise the new version gets new index entries.  When it goes to
 *   another page, the old one is first marked locked by us (so nobody else
 *   updates it while its page is unlocked), then the new version is placed,
 *   then the old one gets its final xmax and ctid.
 * - INSERT ... ON CONFLICT inserts speculatively (token in t_ctid, seen by
 *   dirty snapshots) and then finishes or kills the tuple, as heap does.
 * - Rows go through heap's toaster (heap_toast_insert_or_update) when they
 *   have external values or are longer than AegisTamToastThreshold: for a
 *   table whose pages are compressed, a page rather than heap's quarter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/xact.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/predicate.h"
#include "utils/syscache.h"

/*
 * Was toast_tuple_target named for 'rel' (pg_class.reloptions)?  rd_options
 * cannot tell: it holds the default where the option was not given.
 */
static bool
toast_target_named(Relation rel)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(RelationGetRelid(rel)));
	bool		named = false;

	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		opts = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_reloptions, &isnull);
		ListCell   *lc;

		if (!isnull)
			foreach(lc, untransformRelOptions(opts))
				named |= strcmp(((DefElem *) lfirst(lc))->defname, "toast_tuple_target") == 0;
		ReleaseSysCache(tuple);
	}
	return named;
}

/*
 * AegisTamToastThreshold
 *		The length in bytes above which a new row version of 'rel' goes
 *		through heap's toaster (heap_toast_insert_or_update: values
 *		compressed one by one, then moved to the TOAST table, until the row
 *		fits toast_tuple_target), where heap uses TOAST_TUPLE_THRESHOLD
 *		(2032).  A table whose pages are compressed keeps a row of up to a
 *		page (MaxHeapTupleSize) in its page as it is: the block codec then
 *		compresses its values together with their neighbours' and with the
 *		table's dictionary, not pglz or LZ4 one value at a time, whose
 *		output it cannot compress again (on Debian's dict-gcide, zstd: 0.375
 *		-> 0.348 of heap's bytes).  Heap's threshold stays for tables stored
 *		plain, for tables with toast_tuple_target set, which asks for heap's
 *		rule, and for tables with a column of STORAGE EXTERNAL, which asks
 *		for values out of line (fast substrings).  Cached with the
 *		relation (AegisRelGetCache); may read the syscache.
 */
Size
AegisTamToastThreshold(Relation rel)
{
	AegisRelWalCache *c = AegisRelGetCache(rel);

	if (c->toast_threshold == 0)
	{
		int			threshold = MaxHeapTupleSize;

		if (c->codec == AEGIS_CODEC_NONE || toast_target_named(rel))
			threshold = TOAST_TUPLE_THRESHOLD;
		for (int i = 0; i < RelationGetDescr(rel)->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), i);

			if (!att->attisdropped && att->attstorage == TYPSTORAGE_EXTERNAL)
				threshold = TOAST_TUPLE_THRESHOLD;
		}
		c->toast_threshold = threshold;
	}
	return c->toast_threshold;
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
	if (HeapTupleHasExternal(tup) ||
		(tup->t_len > TOAST_TUPLE_THRESHOLD && tup->t_len > AegisTamToastThreshold(rel)))
		return heap_toast_insert_or_update(rel, tup, NULL, options);
	return tup;
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

	AegisTamCheckWritable(rel);
	AegisWalLogicalCheckPublished(rel, CMD_INSERT);
	/* SERIALIZABLE: readers of the whole relation conflict with an insert */
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);
	tuple = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	slot->tts_tableOid = RelationGetRelid(rel);
	if (specToken != 0)
		HeapTupleHeaderSetSpeculativeToken(tuple->t_data, specToken);
	heaptup = prepare_insert(rel, tuple, GetCurrentTransactionId(), cid, options);

	buf = AegisPageGetBufferForTuple(rel, heaptup->t_len);
	chg = AegisWalPageBeginAppend(rel, buf, MAXALIGN(heaptup->t_len));
	START_CRIT_SECTION();
	AegisWalPageAdded(chg, AegisPagePutTuple(rel, buf, heaptup));
	AegisBufferMarkDirty(buf);
	AegisWalPageLog(chg);
	END_CRIT_SECTION();
	AegisBufferUnlockRelease(buf);
	if (AegisWalLogicalWanted(rel))
		AegisWalLogicalInsert(rel, &heaptup, 1, specToken != 0);

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
	AegisBuffer buf = AegisBufferReadRel(rel, &key, ItemPointerGetBlockNumber(tid));
	Page		page;
	HeapTupleData tp;

	AegisBufferLock(buf, LW_EXCLUSIVE);
	page = AegisBufferGetPage(buf);
	AegisTamTupleAt(rel, buf, tid, &tp);
	if (!HeapTupleHeaderIsSpeculative(tp.t_data))
		elog(ERROR, "attempted to complete a non-speculative tuple in aegis table \"%s\"",
			 RelationGetRelationName(rel));
	if (succeeded)
	{
		chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(tid), 0, false);
		START_CRIT_SECTION();
		tp.t_data->t_ctid = *tid;
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
		if (AegisWalLogicalWanted(rel))
			AegisWalLogicalSpecEnd(rel, true);
		return;
	}

	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tp.t_data)))
		elog(ERROR, "attempted to kill a tuple inserted by another transaction");
	chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(tid), 0, false);
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
	if (AegisWalLogicalWanted(rel))
		AegisWalLogicalSpecEnd(rel, false);
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
	Size		save = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);

	AegisTamCheckWritable(rel);
	AegisWalLogicalCheckPublished(rel, CMD_INSERT);
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
		chg = AegisWalPageBeginAppend(rel, buf, BLCKSZ);
		START_CRIT_SECTION();
		do
		{
			AegisWalPageAdded(chg, AegisPagePutTuple(rel, buf, tuples[i]));
			slots[i]->tts_tid = tuples[i]->t_self;
			i++;
		} while (i < ntuples &&
				 PageGetHeapFreeSpace(page) >= MAXALIGN(tuples[i]->t_len) + save);
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
	}
	if (AegisWalLogicalWanted(rel))
		AegisWalLogicalInsert(rel, tuples, ntuples, false);
	pfree(tuples);
	pgstat_count_heap_insert(rel, ntuples);
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
	LockTupleMode mode;
	TransactionId new_xmax;
	uint16		im,
				im2;
	HeapTuple	oldkey;

	AegisTamCheckWritable(rel);
	AegisWalLogicalCheckPublished(rel, CMD_DELETE);
	xid = GetCurrentTransactionId();
	buf = AegisBufferReadRel(rel, &key, ItemPointerGetBlockNumber(tid));
	result = AegisTamLockForChange(rel, buf, tid, &tp, cid, crosscheck, wait, XLTW_Delete,
								   &have_tuple_lock, "delete", NULL, &mode);
	if (result != TM_Ok)
	{
		AegisTamFillFailure(&tp, result, tmfd);
		AegisBufferUnlockRelease(buf);
		if (have_tuple_lock)
			AegisTamUnlockTuple(rel, tid, mode);
		return result;
	}

	oldkey = AegisWalLogicalWanted(rel) ? AegisWalLogicalOldKey(rel, &tp, NULL) : NULL;
	new_xmax = AegisTamComputeXmax(HeapTupleHeaderGetRawXmax(tp.t_data), tp.t_data->t_infomask,
								   tp.t_data->t_infomask2, mode, true, &im, &im2);
	HeapTupleHeaderAdjustCmax(tp.t_data, &cid, &iscombo);
	chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(&tp.t_self), 0, false);
	START_CRIT_SECTION();
	AegisTamStoreXmax(tp.t_data, new_xmax, im, im2);
	HeapTupleHeaderClearHotUpdated(tp.t_data);
	HeapTupleHeaderSetCmax(tp.t_data, cid, iscombo);
	tp.t_data->t_ctid = tp.t_self;
	if (changingPart)
		HeapTupleHeaderSetMovedPartitions(tp.t_data);
	PageSetPrunable(AegisBufferGetPage(buf), xid);
	AegisBufferMarkDirty(buf);
	AegisWalPageLog(chg);
	END_CRIT_SECTION();
	AegisBufferUnlock(buf);
	if (AegisWalLogicalWanted(rel))
	{
		AegisWalLogicalDelete(rel, oldkey);
		if (oldkey != NULL)
			heap_freetuple(oldkey);
	}

	/* the pin keeps the tuple's bytes in place */
	if (HeapTupleHasExternal(&tp))
		heap_toast_delete(rel, &tp, false);
	AegisBufferRelease(buf);
	if (have_tuple_lock)
		AegisTamUnlockTuple(rel, tid, mode);
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
	bool		hot;
	Bitmapset  *hot_attrs;
	bool		floor_blocks;
	BlockNumber floor;
	CommandId	oldcid = cid;
	LockTupleMode mode;
	TransactionId orig_xmax,
				final_xmax;
	uint16		orig_im,
				orig_im2,
				fim,
				fim2;
	bool		logical;
	HeapTuple	oldkey = NULL;
	Size		toast_threshold;

	AegisTamCheckWritable(rel);
	AegisWalLogicalCheckPublished(rel, CMD_UPDATE);
	toast_threshold = AegisTamToastThreshold(rel);	/* before the page is locked */
	xid = GetCurrentTransactionId();
	*update_indexes = true;
	newtup = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	slot->tts_tableOid = RelationGetRelid(rel);
	newtup->t_tableOid = RelationGetRelid(rel);

	/* as heap_update, before any content lock (it may open the indexes) */
	hot_attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_ALL);
	buf = AegisBufferReadRel(rel, &key, ItemPointerGetBlockNumber(otid));
	result = AegisTamLockForChange(rel, buf, otid, &oldtup, cid, crosscheck, wait,
								   XLTW_Update, &have_tuple_lock, "update", newtup, &mode);
	*lockmode = mode;
	if (result != TM_Ok)
	{
		AegisTamFillFailure(&oldtup, result, tmfd);
		AegisBufferUnlockRelease(buf);
		if (have_tuple_lock)
			AegisTamUnlockTuple(rel, otid, mode);
		if (shouldFree)
			heap_freetuple(newtup);
		bms_free(hot_attrs);
		return result;
	}

	/* the old replica identity for decoding, before the page changes */
	logical = AegisWalLogicalWanted(rel);
	if (logical)
		oldkey = AegisWalLogicalOldKey(rel, &oldtup, newtup);

	orig_xmax = HeapTupleHeaderGetRawXmax(oldtup.t_data);
	orig_im = oldtup.t_data->t_infomask;
	orig_im2 = oldtup.t_data->t_infomask2;
	final_xmax = AegisTamComputeXmax(orig_xmax, orig_im, orig_im2, mode, true, &fim, &fim2);

	/*
	 * The new version carries the old one's lockers that stay (FOR KEY
	 * SHARE beside a non-key update, and our own locks), as heap_update's
	 * xmax_new_tuple: a later DELETE of the new version waits for a
	 * foreign-key check in progress instead of orphaning its child row.
	 */
	newtup->t_data->t_infomask &= ~HEAP_XACT_MASK;
	newtup->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	newtup->t_data->t_infomask |= HEAP_UPDATED;
	HeapTupleHeaderSetXmin(newtup->t_data, xid);
	HeapTupleHeaderSetCmin(newtup->t_data, cid);
	AegisTamNewVersionXmax(orig_xmax, orig_im, newtup->t_data);
	HeapTupleHeaderAdjustCmax(oldtup.t_data, &oldcid, &iscombo);

	need_toast = HeapTupleHasExternal(&oldtup) || HeapTupleHasExternal(newtup) ||
		newtup->t_len > toast_threshold;
	/* after a crash, the new version may not go below the insert floor */
	(void) AegisStorageFreeHint(&key, InvalidBlockNumber, NULL, &floor);
	floor_blocks = ItemPointerGetBlockNumber(otid) < floor;
	fits = !need_toast && !floor_blocks &&
		PageGetHeapFreeSpace(AegisBufferGetPage(buf)) >= MAXALIGN(newtup->t_len);
	if (!need_toast && !floor_blocks && !fits && AegisPagePrune(rel, buf))
	{
		/* pruning moved the tuples of the page: find ours again */
		AegisTamTupleAt(rel, buf, otid, &oldtup);
		fits = PageGetHeapFreeSpace(AegisBufferGetPage(buf)) >= MAXALIGN(newtup->t_len);
	}

	/* no indexed column changed: a HOT update, without new index entries */
	hot = fits && !AegisTamColumnsChanged(rel, hot_attrs, &oldtup, newtup);
	bms_free(hot_attrs);

	if (fits)
	{
		/* new version on the same page, all under one lock */
		heaptup = newtup;
		if (hot)
			HeapTupleHeaderSetHeapOnly(heaptup->t_data);
		chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(&oldtup.t_self),
									 MAXALIGN(heaptup->t_len), false);
		START_CRIT_SECTION();
		AegisWalPageAdded(chg, AegisPagePutTuple(rel, buf, heaptup));
		AegisTamStoreXmax(oldtup.t_data, final_xmax, fim, fim2);
		HeapTupleHeaderSetCmax(oldtup.t_data, oldcid, iscombo);
		oldtup.t_data->t_ctid = heaptup->t_self;
		if (hot)
			HeapTupleHeaderSetHotUpdated(oldtup.t_data);
		else
			HeapTupleHeaderClearHotUpdated(oldtup.t_data);
		PageSetPrunable(AegisBufferGetPage(buf), xid);
		/* the record copies the data both versions share */
		AegisWalPageSameData(chg, ItemPointerGetOffsetNumber(&heaptup->t_self),
							 ItemPointerGetOffsetNumber(&oldtup.t_self));
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

		lock_xmax = AegisTamComputeXmax(orig_xmax, orig_im, orig_im2, mode, false,
										&lim, &lim2);
		chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(&oldtup.t_self), 0, false);
		START_CRIT_SECTION();
		AegisTamStoreXmax(oldtup.t_data, lock_xmax, lim, lim2);
		HeapTupleHeaderSetCmax(oldtup.t_data, oldcid, iscombo);
		oldtup.t_data->t_ctid = oldtup.t_self;
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlock(buf);

		heaptup = need_toast ? heap_toast_insert_or_update(rel, newtup, &oldtup, 0) : newtup;
		newbuf = AegisPageGetBufferForTuple(rel, heaptup->t_len);
		chg = AegisWalPageBeginAppend(rel, newbuf, MAXALIGN(heaptup->t_len));
		START_CRIT_SECTION();
		AegisWalPageAdded(chg, AegisPagePutTuple(rel, newbuf, heaptup));
		AegisBufferMarkDirty(newbuf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(newbuf);

		AegisBufferLock(buf, LW_EXCLUSIVE);
		chg = AegisWalPageBeginTuple(rel, buf, ItemPointerGetOffsetNumber(&oldtup.t_self), 0, false);
		START_CRIT_SECTION();
		AegisTamStoreXmax(oldtup.t_data, final_xmax, fim, fim2);
		HeapTupleHeaderClearHotUpdated(oldtup.t_data);
		HeapTupleHeaderSetCmax(oldtup.t_data, oldcid, iscombo);
		oldtup.t_data->t_ctid = heaptup->t_self;
		PageSetPrunable(AegisBufferGetPage(buf), xid);
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
	}

	if (logical)
	{
		AegisWalLogicalUpdate(rel, heaptup, oldkey);
		if (oldkey != NULL)
			heap_freetuple(oldkey);
	}
	if (have_tuple_lock)
		AegisTamUnlockTuple(rel, otid, mode);
	pgstat_count_heap_update(rel, hot);
	*update_indexes = !hot;

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

bool
aegis_tuple_fetch_row_version(Relation rel, ItemPointer tid, Snapshot snapshot,
							  TupleTableSlot *slot)
{
	AegisRelKey key = AegisRelKeyOf(rel);

	AegisTamCheckReset(rel);
	return AegisFetchTuple(rel, &key, tid, snapshot, slot, NULL);
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

		buf = AegisBufferReadRelIfExists(rel, &key, ItemPointerGetBlockNumber(&ctid));
		if (buf == InvalidAegisBuffer)
			return;
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

	buf = AegisBufferReadRel(rel, &key, ItemPointerGetBlockNumber(&slot->tts_tid));
	AegisBufferLock(buf, LW_SHARED);
	/* pruned meanwhile (no pin is held): no snapshot sees it */
	res = AegisPageGetTuple(AegisBufferGetPage(buf), ItemPointerGetBlockNumber(&slot->tts_tid),
							ItemPointerGetOffsetNumber(&slot->tts_tid), RelationGetRelid(rel), &tp) &&
		AegisTupleSatisfiesVisibility(&tp, snapshot, buf);
	AegisBufferUnlockRelease(buf);
	return res;
}
