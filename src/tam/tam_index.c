/*-------------------------------------------------------------------------
 *
 * tam_index.c
 *	  Index support for aegis tables: fetching a tuple for an index entry,
 *	  building an index, and telling an index which entries are dead.
 *
 * An index entry names the root of a HOT chain (page_prune.c): a fetch
 * returns the chain's version the snapshot sees, as heapam_index_fetch_tuple
 * does.  A non-concurrent index build indexes every version that is not
 * dead, under its chain's root TID, marking versions that are not live as
 * such (so unique checks ignore them); a HOT-updated version that only old
 * snapshots see is left out and the index marked unusable for them
 * (ii_BrokenHotChain), as heapam_index_build_range_scan does.  A concurrent
 * build indexes what an MVCC snapshot sees and its validation pass adds the
 * versions committed since.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "aegis/buffer.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "access/heapam_xlog.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "storage/procarray.h"
#include "executor/executor.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

typedef struct AegisIndexFetchData
{
	IndexFetchTableData xs_base;	/* must be first */
	AegisRelKey key;
	/*
	 * The page of the last fetch.  On a primary, once a second fetch in a
	 * row is from it, its pin is kept until a fetch moves to another page
	 * or the scan is reset or ended, as heap keeps xs_cbuf ('hold'; a
	 * resource owner's release takes it, then the handle is stale).
	 * Otherwise it is only ReadRecentBuffer's hint.
	 */
	BlockNumber last_blk;
	AegisBuffer last_buf;
	AegisHeldPin hold;
	/*
	 * The version 'buf_slot' (the first slot a fetch stored into) holds: its
	 * bytes copied into 'tupbuf' (BLCKSZ, allocated then), which the next
	 * fetch into that slot reuses instead of a palloc'd copy per row that
	 * the slot frees.  Fetches into other slots store palloc'd copies.
	 */
	HeapTupleData ctup;
	char	   *tupbuf;
	TupleTableSlot *buf_slot;
	/* the chain of the last fetch, for a non-MVCC snapshot's next call */
	ItemPointerData root;		/* the index entry's TID */
	int			nreturned;		/* versions of it returned so far */
	OffsetNumber ret_off[AEGIS_HOT_MAX_RETURNED];	/* their offsets */
	TransactionId ret_xmin[AEGIS_HOT_MAX_RETURNED]; /* and xmins */
} AegisIndexFetchData;

IndexFetchTableData *
aegis_index_fetch_begin(Relation rel)
{
	/* ret_off and ret_xmin are read only up to nreturned */
	AegisIndexFetchData *scan = palloc(sizeof(AegisIndexFetchData));

	memset(scan, 0, offsetof(AegisIndexFetchData, ret_off));
	AegisTamCheckReset(rel);
	scan->xs_base.rel = rel;
	scan->key = AegisRelKeyOf(rel);
	scan->last_blk = InvalidBlockNumber;
	scan->last_buf = InvalidAegisBuffer;
	AegisHeldPinInit(&scan->hold);
	scan->tupbuf = NULL;
	scan->buf_slot = NULL;
	return &scan->xs_base;
}

void
aegis_index_fetch_reset(IndexFetchTableData *sscan)
{
	AegisIndexFetchData *scan = (AegisIndexFetchData *) sscan;

	AegisBufferReleaseHeld(&scan->hold);
	scan->last_blk = InvalidBlockNumber;
}

void
aegis_index_fetch_end(IndexFetchTableData *sscan)
{
	AegisIndexFetchData *scan = (AegisIndexFetchData *) sscan;

	/*
	 * A caller may read the slot after the end (unique_key_recheck does):
	 * if it still points to our buffer, it gets its own copy first.
	 */
	if (scan->buf_slot != NULL && !TTS_EMPTY(scan->buf_slot) &&
		((HeapTupleTableSlot *) scan->buf_slot)->tuple == &scan->ctup)
		ExecMaterializeSlot(scan->buf_slot);
	AegisBufferReleaseHeld(&scan->hold);
	if (scan->tupbuf != NULL)
		pfree(scan->tupbuf);
	pfree(scan);
}

/*
 * Fetch the version of the HOT chain rooted at *tid that 'snapshot' sees,
 * as heapam_index_fetch_tuple: on success *tid becomes that version's TID.
 * A non-MVCC snapshot may see several versions of one chain: then
 * *call_again is set, and the next call (with *call_again still set)
 * returns the next one: it walks the chain again from its root, starts
 * after the version returned last and passes over every version returned
 * before (AegisHotSearch), so a chain cut or pruned meanwhile never returns
 * a version twice.  *all_dead as heap_hot_search_buffer's.
 *
 * The first fetch from a page releases its pin at the end, so a statement
 * that fetches one row and updates it (a hot row) leaves the page free to
 * be pruned for room by its own update and by the other backends' (held
 * as heap holds xs_cbuf, that workload ran 4-5% slower).  A fetch from the
 * page of the last one pins its frame again without a page-table lookup
 * (AegisBufferPinRecent), and on a primary keeps that pin until a fetch
 * moves to another page: a range over rows stored together pins each page
 * about once, as heapam_index_fetch_tuple does (a pin and its release per
 * row had cost 250 of the 8,000 instructions per row of a 1% range of
 * flights).  The kept pin is a held one (AegisBufferHold), so a
 * subtransaction's abort takes it only from the subtransaction's own
 * scans.  On a standby no pin is kept between calls: redo waits for none.
 * A page is pruned when a fetch moves to it, not again, as heap.  The version
 * found is copied, under the content lock, into the fetch's own buffer,
 * which the slot points to (not owns) until the next fetch into it; at the
 * end of the fetch a slot still pointing there is materialized.  A
 * palloc'd copy per row, freed when the slot is stored into again, had
 * cost a range scan 2-3% of its time.
 */
bool
aegis_index_fetch_tuple(IndexFetchTableData *sscan, ItemPointer tid,
						Snapshot snapshot, TupleTableSlot *slot,
						bool *call_again, bool *all_dead)
{
	AegisIndexFetchData *scan = (AegisIndexFetchData *) sscan;
	Relation	rel = scan->xs_base.rel;
	bool		first = !*call_again;
	BlockNumber blk;
	AegisBuffer buf;
	HeapTupleData tuple;
	bool		found;
	HeapTuple	copy = NULL;

	*call_again = false;
	if (all_dead)
		*all_dead = false;
	if (first)
	{
		scan->root = *tid;
		scan->nreturned = 0;
	}
	else if (scan->nreturned >= AEGIS_HOT_MAX_RETURNED)
		return false;			/* every version of the chain was returned */
	blk = ItemPointerGetBlockNumber(&scan->root);
	/* a held pin of another page, or one a resource owner took, goes */
	if (scan->hold.slot >= 0 &&
		!(blk == scan->last_blk && AegisBufferHeldSure(&scan->hold)))
	{
		if (blk == scan->last_blk && AegisBufferHeldValid(&scan->hold))
			scan->hold.lost = AegisHeldPinsLost;	/* another scan's pin went */
		else
			AegisBufferReleaseHeld(&scan->hold);
	}
	if (scan->hold.slot >= 0)
		buf = scan->last_buf;	/* pinned since the second fetch there */
	else
	{
		if (blk == scan->last_blk &&
			AegisBufferPinRecent(rel, scan->last_buf, &scan->key, blk))
		{
			buf = scan->last_buf;	/* pruned at the first fetch there, as heap */
			if (!RecoveryInProgress())
				AegisBufferHold(buf, &scan->hold);
		}
		else
		{
			buf = AegisBufferReadRelIfExists(rel, &scan->key, blk);
			if (buf == InvalidAegisBuffer)
				return false;	/* beyond the relation's end */
			if (first)
				AegisPagePruneOpt(rel, buf);	/* keeps chains short, as heap */
			scan->last_blk = blk;
			scan->last_buf = buf;
		}
	}
	AegisBufferLock(buf, LW_SHARED);
	found = AegisHotSearch(rel, buf, ItemPointerGetOffsetNumber(&scan->root),
						   scan->ret_off, scan->ret_xmin, scan->nreturned, snapshot, &tuple,
						   first ? all_dead : NULL);
	if (found)
	{
		if (scan->buf_slot == NULL)
		{
			scan->tupbuf = MemoryContextAlloc(GetMemoryChunkContext(scan), BLCKSZ);
			scan->buf_slot = slot;
		}
		if (slot == scan->buf_slot)
		{
			/* that slot's last tuple is done with: its bytes are overwritten */
			Assert(tuple.t_len <= BLCKSZ);
			memcpy(scan->tupbuf, tuple.t_data, tuple.t_len);
			scan->ctup = tuple;
			scan->ctup.t_data = (HeapTupleHeader) scan->tupbuf;
			copy = &scan->ctup;
		}
		else
			copy = heap_copytuple(&tuple);
	}
	if (scan->hold.slot >= 0)
		AegisBufferUnlock(buf);
	else
		AegisBufferUnlockRelease(buf);
	if (!found)
		return false;

	*tid = copy->t_self;
	scan->ret_off[scan->nreturned] = ItemPointerGetOffsetNumber(&copy->t_self);
	scan->ret_xmin[scan->nreturned] = HeapTupleHeaderGetXmin(copy->t_data);
	scan->nreturned++;
	/* only a non-MVCC snapshot can see more than one version of a chain */
	*call_again = !IsMVCCSnapshot(snapshot);
	AegisStoreTuple(copy, slot, copy != &scan->ctup);
	return true;
}

/*
 * Is every version of the HOT chain rooted at 'root' on the locked page of
 * 'buf' dead to all transactions ('vistest'; NULL: the caller knows it is)?
 * An LP_DEAD root is: pruning removed the chain, its deleters already
 * accounted for.  If dead, *latest advances to the newest xid a version of
 * the chain had (heap_index_delete_tuples' latestRemovedXid).  A root that
 * holds no tuple (unused: a TID VACUUM already cleared, or lost in a crash)
 * is not reported dead.
 */
static bool
chain_is_dead(Relation rel, AegisBuffer buf, OffsetNumber root,
			  GlobalVisState *vistest, TransactionId *latest)
{
	Page		page = AegisBufferGetPage(buf);
	BlockNumber blk = AegisBufferGetPageNo(buf);
	OffsetNumber members[MaxHeapTuplesPerPage];
	bool		root_dead;
	int			n = AegisHotChainMembers(page, root, members, &root_dead);
	TransactionId newest = InvalidTransactionId;

	if (root_dead)
		return true;
	if (n == 0)
		return false;
	for (int i = 0; i < n; i++)
	{
		HeapTupleData tup;

		(void) AegisPageGetTuple(page, blk, members[i], RelationGetRelid(rel), &tup);
		if (vistest != NULL && !AegisTupleIsSurelyDead(&tup, vistest, buf))
			return false;
		HeapTupleHeaderAdvanceLatestRemovedXid(tup.t_data, &newest);
	}
	if (TransactionIdIsValid(newest) &&
		(!TransactionIdIsValid(*latest) || TransactionIdPrecedes(*latest, newest)))
		*latest = newest;
	return true;
}

/*
 * Which of the index entries in delstate point to tuples dead to everyone?
 * Marks those knowndeletable and returns the newest xid among their
 * deleters (for recovery conflicts of the index's own WAL), following
 * heap_index_delete_tuples' contract: entries the index AM already marked
 * knowndeletable (LP_DEAD index tuples of a simple deletion) stay so, and
 * ndeltids is cut after the last deletable entry (zero when none is, which
 * bottom-up callers rely on).
 */
TransactionId
aegis_index_delete_tuples(Relation rel, TM_IndexDeleteOp *delstate)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	GlobalVisState *vistest = GlobalVisTestFor(rel);
	TransactionId latest = InvalidTransactionId;
	BlockNumber npages = AegisStorageNPages(&key);
	AegisBuffer buf = InvalidAegisBuffer;
	BlockNumber bufblk = InvalidBlockNumber;
	int			finalndeltids = 0;

	for (int i = 0; i < delstate->ndeltids; i++)
	{
		TM_IndexDelete *d = &delstate->deltids[i];
		TM_IndexStatus *st = &delstate->status[d->id];
		BlockNumber blk = ItemPointerGetBlockNumber(&d->tid);
		OffsetNumber off = ItemPointerGetOffsetNumber(&d->tid);

		if (!delstate->bottomup && st->knowndeletable)
			finalndeltids = i + 1;
		else
			st->knowndeletable = false;
		if (blk >= npages)
			continue;
		if (blk != bufblk)
		{
			if (buf != InvalidAegisBuffer)
				AegisBufferUnlockRelease(buf);
			buf = AegisBufferReadRel(rel, &key, blk);
			AegisBufferLock(buf, LW_SHARED);
			bufblk = blk;
		}
		if (st->knowndeletable)
			chain_is_dead(rel, buf, off, NULL, &latest);
		else if (chain_is_dead(rel, buf, off, vistest, &latest))
		{
			st->knowndeletable = true;
			finalndeltids = i + 1;
		}
	}
	if (buf != InvalidAegisBuffer)
		AegisBufferUnlockRelease(buf);
	delstate->ndeltids = finalndeltids;
	return latest;
}

/* What evaluating an index's expressions and predicate over a table needs. */
typedef struct IndexEval
{
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;		/* the table's tuple, the expressions' input */
	ExprState  *predicate;		/* partial index, or NULL */
} IndexEval;

static void
index_eval_begin(IndexEval *ev, Relation table_rel, IndexInfo *index_info)
{
	ev->estate = CreateExecutorState();
	ev->econtext = GetPerTupleExprContext(ev->estate);
	ev->slot = table_slot_create(table_rel, NULL);
	ev->econtext->ecxt_scantuple = ev->slot;
	ev->predicate = ExecPrepareQual(index_info->ii_Predicate, ev->estate);
}

/*
 * Does the index take the tuple in ev->slot?  If so, its datums go into
 * values/isnull (FormIndexDatum).
 */
static bool
index_eval_tuple(IndexEval *ev, IndexInfo *index_info, Datum *values, bool *isnull)
{
	MemoryContextReset(ev->econtext->ecxt_per_tuple_memory);
	if (ev->predicate != NULL && !ExecQual(ev->predicate, ev->econtext))
		return false;
	FormIndexDatum(index_info, ev->slot, ev->estate, values, isnull);
	return true;
}

static void
index_eval_end(IndexEval *ev, IndexInfo *index_info)
{
	ExecDropSingleTupleTableSlot(ev->slot);
	FreeExecutorState(ev->estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
}

/*
 * Build an index over the relation's tuples (pages [start_blockno,
 * start_blockno + numblocks)), as heapam_index_build_range_scan does.
 * A plain build reads with SnapshotAny and indexes every version that is
 * not dead, marking those that are not live (unique checks skip them).  A
 * concurrent build (CREATE INDEX / REINDEX CONCURRENTLY, amcheck's
 * heapallindexed) reads with an MVCC snapshot, its own or the given scan's,
 * and indexes exactly what that snapshot sees; aegis_index_validate_scan
 * adds what was committed later.  A heap-only version is indexed under its
 * chain's root TID (AegisHotRootOffsets, heap_get_root_tuples).
 */
double
aegis_index_build_range_scan(Relation table_rel, Relation index_rel,
							 struct IndexInfo *index_info, bool allow_sync,
							 bool anyvisible, bool progress,
							 BlockNumber start_blockno, BlockNumber numblocks,
							 IndexBuildCallback callback, void *callback_state,
							 TableScanDesc scan)
{
	IndexEval	ev;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	double		reltuples = 0;
	AegisScanDesc ascan;
	bool		own_scan = (scan == NULL);
	Snapshot	own_snapshot = NULL;
	bool		mvcc;

	index_eval_begin(&ev, table_rel, index_info);

	if (own_scan)
	{
		if (index_info->ii_Concurrent)
			own_snapshot = RegisterSnapshot(GetTransactionSnapshot());
		scan = table_beginscan_strat(table_rel, own_snapshot ? own_snapshot : SnapshotAny,
									 0, NULL, true, false);
	}
	ascan = (AegisScanDesc) scan;
	mvcc = IsMVCCSnapshot(scan->rs_snapshot);
	ascan->classify = !mvcc;
	/* as heap: versions deleted before every snapshot's horizon are dead */
	if (!mvcc)
		ascan->classify_horizon = GetOldestNonRemovableTransactionId(table_rel);
	ascan->want_roots = true;
	if (own_scan)
		aegis_scan_set_limits(scan, start_blockno, numblocks);

	while (aegis_scan_getnextslot(scan, ForwardScanDirection, ev.slot))
	{
		HeapTupleHeader tup = ascan->ctup.t_data;
		ItemPointerData tid = ascan->ctup.t_self;
		bool		index_it = true;
		bool		alive = true;

		CHECK_FOR_INTERRUPTS();
		if (mvcc)
			reltuples += 1;		/* the snapshot sees it */
		else
		{
			switch ((HTSV_Result) ascan->htsv[ascan->cindex])
			{
				case HEAPTUPLE_DEAD:
					index_it = false;
					break;
				case HEAPTUPLE_LIVE:
					reltuples += 1;
					break;
				case HEAPTUPLE_RECENTLY_DEAD:

					/*
					 * Old snapshots may still need it.  But of a HOT chain
					 * only the last version is indexed (under the root's
					 * TID): the index is then not safe for snapshots that
					 * might see an older one (pg_index.indcheckxmin).
					 */
					if (HeapTupleHeaderIsHotUpdated(tup))
					{
						index_it = false;
						index_info->ii_BrokenHotChain = true;
					}
					alive = anyvisible;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					/* our own insert, or one a prepared transaction holds */
					reltuples += 1;
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					if (anyvisible)
						reltuples += 1;
					else if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup)))
					{
						/* our own delete: as if it were recently dead */
						if (HeapTupleHeaderIsHotUpdated(tup))
						{
							index_it = false;
							index_info->ii_BrokenHotChain = true;
						}
						alive = false;
					}
					else if (HeapTupleHeaderIsHotUpdated(tup))
					{
						/*
						 * Our lock keeps writers out, so only a prepared
						 * transaction can hold this update: which version of
						 * the chain to index depends on how it ends.
						 */
						ereport(ERROR,
								(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
								 errmsg("cannot build an index on \"%s\" while a prepared transaction updates it",
										RelationGetRelationName(table_rel)),
								 errhint("Commit or roll back the prepared transaction first (pg_prepared_xacts).")));
					}
					else
						reltuples += 1;
					break;
			}
		}
		if (!index_it || !index_eval_tuple(&ev, index_info, values, isnull))
			continue;
		/* a heap-only version is indexed under its chain's root */
		if (HeapTupleHeaderIsHeapOnly(tup))
		{
			OffsetNumber root = ascan->roots[ItemPointerGetOffsetNumber(&tid) - 1];

			if (!OffsetNumberIsValid(root))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg_internal("failed to find parent tuple for heap-only tuple at (%u,%u) in table \"%s\"",
										 ItemPointerGetBlockNumber(&tid),
										 ItemPointerGetOffsetNumber(&tid),
										 RelationGetRelationName(table_rel))));
			ItemPointerSetOffsetNumber(&tid, root);
		}
		callback(index_rel, &tid, values, isnull, alive, callback_state);
	}

	table_endscan(scan);
	if (own_snapshot != NULL)
		UnregisterSnapshot(own_snapshot);
	index_eval_end(&ev, index_info);
	return reltuples;
}

/*
 * The second pass of CREATE INDEX CONCURRENTLY (validate_index): insert
 * into the index every version 'snapshot' sees whose chain's root TID the
 * index lacks.  state->tuplesort holds the index's TIDs (itemptr_encode'd),
 * sorted; the scan returns versions in TID order, so one merge pass finds
 * the missing ones, as heapam_index_validate_scan does.  Within a page the
 * roots of heap-only versions may come out of order: in_index[] remembers
 * which root TIDs of the current page the index has.  Unique indexes check
 * each insertion (UNIQUE_CHECK_YES).
 */
void
aegis_index_validate_scan(Relation table_rel, Relation index_rel,
						  struct IndexInfo *index_info, Snapshot snapshot,
						  struct ValidateIndexState *state)
{
	IndexEval	ev;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	TableScanDesc scan;
	AegisScanDesc ascan;
	ItemPointerData indexcursor;
	bool		sort_done = false;
	BlockNumber root_blkno = InvalidBlockNumber;
	bool		in_index[MaxHeapTuplesPerPage];

	index_eval_begin(&ev, table_rel, index_info);
	ItemPointerSetInvalid(&indexcursor);

	scan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true, false);
	ascan = (AegisScanDesc) scan;
	ascan->want_roots = true;
	while (aegis_scan_getnextslot(scan, ForwardScanDirection, ev.slot))
	{
		ItemPointerData root = ascan->ctup.t_self;
		OffsetNumber root_off = ItemPointerGetOffsetNumber(&root);

		CHECK_FOR_INTERRUPTS();
		state->htups += 1;
		if (ItemPointerGetBlockNumber(&root) != root_blkno)
		{
			root_blkno = ItemPointerGetBlockNumber(&root);
			memset(in_index, 0, sizeof(in_index));
			/* the index TID read past the previous page may be on this one */
			if (!sort_done && ItemPointerIsValid(&indexcursor) &&
				ItemPointerGetBlockNumber(&indexcursor) == root_blkno)
				in_index[ItemPointerGetOffsetNumber(&indexcursor) - 1] = true;
		}
		if (HeapTupleHeaderIsHeapOnly(ascan->ctup.t_data))
		{
			root_off = ascan->roots[root_off - 1];
			if (!OffsetNumberIsValid(root_off))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg_internal("failed to find parent tuple for heap-only tuple at (%u,%u) in table \"%s\"",
										 root_blkno, ItemPointerGetOffsetNumber(&ascan->ctup.t_self),
										 RelationGetRelationName(table_rel))));
			ItemPointerSetOffsetNumber(&root, root_off);
		}

		/* advance through the index's TIDs to this root's or past it */
		while (!sort_done &&
			   (!ItemPointerIsValid(&indexcursor) ||
				ItemPointerCompare(&indexcursor, &root) < 0))
		{
			Datum		val;
			bool		null;

			if (tuplesort_getdatum(state->tuplesort, true, &val, &null, NULL))
			{
				Assert(!null);
				itemptr_decode(&indexcursor, DatumGetInt64(val));
#ifndef USE_FLOAT8_BYVAL
				pfree(DatumGetPointer(val));
#endif
				if (ItemPointerGetBlockNumber(&indexcursor) == root_blkno)
					in_index[ItemPointerGetOffsetNumber(&indexcursor) - 1] = true;
			}
			else
				sort_done = true;
		}
		if ((!sort_done && ItemPointerCompare(&indexcursor, &root) == 0) ||
			in_index[root_off - 1])
			continue;			/* already indexed */
		if (!index_eval_tuple(&ev, index_info, values, isnull))
			continue;
		index_insert(index_rel, values, isnull, &root, table_rel,
					 index_info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, index_info);
		state->tups_inserted += 1;
	}

	table_endscan(scan);
	index_eval_end(&ev, index_info);
}
