/*-------------------------------------------------------------------------
 *
 * tam_index.c
 *	  Index support for aegis tables: fetching a tuple for an index entry,
 *	  building an index, and telling an index which entries are dead.
 *
 * There are no HOT chains: every tuple version has its own index entries,
 * so an index entry names exactly one tuple and a fetch checks just that
 * tuple's visibility.  A non-concurrent index build indexes every version
 * that is not dead, marking versions that are not live as such (so unique
 * checks ignore them), as heapam_index_build_range_scan does; a concurrent
 * one indexes what an MVCC snapshot sees and its validation pass adds the
 * versions committed since.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "access/heapam_xlog.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

typedef struct AegisIndexFetchData
{
	IndexFetchTableData xs_base;	/* must be first */
	AegisRelKey key;
	BlockNumber npages;			/* page count last seen, refreshed lazily */
} AegisIndexFetchData;

IndexFetchTableData *
aegis_index_fetch_begin(Relation rel)
{
	AegisIndexFetchData *scan = palloc0(sizeof(AegisIndexFetchData));

	AegisTamCheckReset(rel);
	scan->xs_base.rel = rel;
	scan->key = AegisRelKeyOf(rel);
	return &scan->xs_base;
}

void
aegis_index_fetch_reset(IndexFetchTableData *scan)
{
}

void
aegis_index_fetch_end(IndexFetchTableData *scan)
{
	pfree(scan);
}

bool
aegis_index_fetch_tuple(IndexFetchTableData *sscan, ItemPointer tid,
						Snapshot snapshot, TupleTableSlot *slot,
						bool *call_again, bool *all_dead)
{
	AegisIndexFetchData *scan = (AegisIndexFetchData *) sscan;

	*call_again = false;
	return AegisFetchTuple(scan->xs_base.rel, &scan->key, tid, snapshot, slot, all_dead,
						   &scan->npages);
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
		HeapTupleData tup;

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
		if (!AegisPageGetTuple(AegisBufferGetPage(buf), blk, off, RelationGetRelid(rel), &tup))
		{
			Page		page = AegisBufferGetPage(buf);

			/* a pruned tuple: dead to everyone, its deleter already past */
			if (!PageIsNew(page) && off >= FirstOffsetNumber &&
				off <= PageGetMaxOffsetNumber(page) && ItemIdIsDead(PageGetItemId(page, off)))
			{
				st->knowndeletable = true;
				finalndeltids = i + 1;
			}
			continue;
		}
		if (st->knowndeletable)
			HeapTupleHeaderAdvanceLatestRemovedXid(tup.t_data, &latest);
		else if (AegisTupleIsSurelyDead(&tup, vistest, buf))
		{
			st->knowndeletable = true;
			finalndeltids = i + 1;
			HeapTupleHeaderAdvanceLatestRemovedXid(tup.t_data, &latest);
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
 * adds what was committed later.  Without HOT every version has its own
 * index entries, so no chain needs a root.
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
	if (own_scan)
		aegis_scan_set_limits(scan, start_blockno, numblocks);

	while (aegis_scan_getnextslot(scan, ForwardScanDirection, ev.slot))
	{
		HeapTupleHeader tup = ascan->ctup.t_data;
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
					alive = anyvisible;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					/* our own insert, or one a prepared transaction holds */
					reltuples += 1;
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					if (!anyvisible &&
						TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup)))
						alive = false;
					else
						reltuples += 1;
					break;
			}
		}
		if (index_it && index_eval_tuple(&ev, index_info, values, isnull))
			callback(index_rel, &ascan->ctup.t_self, values, isnull, alive, callback_state);
	}

	table_endscan(scan);
	if (own_snapshot != NULL)
		UnregisterSnapshot(own_snapshot);
	index_eval_end(&ev, index_info);
	return reltuples;
}

/*
 * The second pass of CREATE INDEX CONCURRENTLY (validate_index): insert
 * into the index every version 'snapshot' sees whose TID the index lacks.
 * state->tuplesort holds the index's TIDs (itemptr_encode'd), sorted; the
 * scan returns versions in TID order, so one merge pass finds the missing
 * ones, as heapam_index_validate_scan does (without HOT chains: a version's
 * TID is its own).  Unique indexes check each insertion (UNIQUE_CHECK_YES).
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
	ItemPointerData indexcursor;
	bool		sort_done = false;

	index_eval_begin(&ev, table_rel, index_info);
	ItemPointerSetInvalid(&indexcursor);

	scan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true, false);
	while (aegis_scan_getnextslot(scan, ForwardScanDirection, ev.slot))
	{
		ItemPointer tid = &ev.slot->tts_tid;

		CHECK_FOR_INTERRUPTS();
		state->htups += 1;

		/* advance through the index's TIDs to this version's or past it */
		while (!sort_done &&
			   (!ItemPointerIsValid(&indexcursor) ||
				ItemPointerCompare(&indexcursor, tid) < 0))
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
			}
			else
				sort_done = true;
		}
		if (!sort_done && ItemPointerEquals(&indexcursor, tid))
			continue;			/* already indexed */
		if (!index_eval_tuple(&ev, index_info, values, isnull))
			continue;
		index_insert(index_rel, values, isnull, tid, table_rel,
					 index_info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, index_info);
		state->tups_inserted += 1;
	}

	table_endscan(scan);
	index_eval_end(&ev, index_info);
}
