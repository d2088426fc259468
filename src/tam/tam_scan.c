/*-------------------------------------------------------------------------
 *
 * tam_scan.c
 *	  Sequential, parallel, bitmap, sample and ANALYZE scans of aegis
 *	  tables, and the fetch of one tuple by TID.
 *
 * Page-at-a-time, like heap's page mode: a page is pinned and share-locked,
 * visibility (or, for ANALYZE and index builds, the vacuum classification)
 * of every tuple is decided on the shared page, and the lock is dropped
 * before the first tuple is returned.  On a primary the pin is kept (a held
 * pin, AegisBufferHold) until the scan moves to another page, and tuples
 * point into the shared page, as heap's do: nothing moves tuples on a page
 * somebody else pins.  During recovery redo may (it waits for no pin), so
 * a standby's scan, and ANALYZE's, copy the page and drop the pin.
 *
 * SERIALIZABLE follows heap: sequential and sample scans take a relation
 * predicate lock, fetches and bitmap scans lock the TIDs they return, and
 * every tuple examined is checked for rw-conflicts (AegisCheckConflictOut).  Tuples
 * returned stay valid until the scan moves to another page.  No lock is
 * held between callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tsmapi.h"
#include "access/valid.h"
#include "access/xact.h"
#include "aegis/buffer.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "executor/tuptable.h"
#include "nodes/tidbitmap.h"
#include "pgstat.h"
#include "storage/predicate.h"
#include "utils/snapmgr.h"

/*
 * Dead versions a scan must meet on a page, more than the versions it reads
 * there, before it asks for the page to be pruned (load_page).
 */
#define AEGIS_PRUNE_HINT_GONE 8

static void
init_scan(AegisScanDesc scan, bool keep_startblock)
{
	ParallelTableScanDesc pscan = scan->rs_base.rs_parallel;

	if (pscan != NULL)
		scan->nblocks = ((ParallelBlockTableScanDesc) pscan)->phs_nblocks;
	else
		scan->nblocks = AegisStorageNPages(&scan->key);
	if (!keep_startblock)
	{
		scan->startblock = 0;
		scan->numblocks = InvalidBlockNumber;
	}
	AegisBufferReleaseHeld(&scan->hold);
	scan->cblock = InvalidBlockNumber;
	scan->inited = false;
	scan->ra_next = 0;
	scan->ntuples = 0;
	scan->cindex = -1;

	/*
	 * A sequential or sample scan allowed a strategy (SO_ALLOW_STRAT) of a
	 * table larger than a quarter of the pool reads through a ring, as
	 * initscan gives heap's a BAS_BULKREAD strategy: it does not push the
	 * pool's hot pages out.
	 */
	if (scan->ring != NULL)
	{
		pfree(scan->ring);		/* a rescan decides again, as initscan */
		scan->ring = NULL;
	}
	if (scan->rs_base.rs_flags & SO_ALLOW_STRAT)
		scan->ring = AegisBufferRingCreate(AEGIS_SCAN_RING_FRAMES, scan->nblocks);
	if (scan->rs_base.rs_flags & SO_TYPE_SEQSCAN)
		pgstat_count_heap_scan(scan->rs_base.rs_rd);
}

TableScanDesc
aegis_scan_begin(Relation rel, Snapshot snapshot, int nkeys,
				 struct ScanKeyData *key, ParallelTableScanDesc pscan, uint32 flags)
{
	AegisScanDesc scan;

	AegisTamCheckReset(rel);
	/* the per-page arrays and the page copy are filled before they are read */
	scan = palloc(sizeof(AegisScanDescData));
	memset(scan, 0, offsetof(AegisScanDescData, vistuples));
	scan->rs_base.rs_rd = rel;
	scan->rs_base.rs_snapshot = snapshot;
	scan->rs_base.rs_nkeys = nkeys;
	scan->rs_base.rs_flags = flags;
	scan->rs_base.rs_parallel = pscan;
	scan->key = AegisRelKeyOf(rel);
	scan->classify = (flags & SO_TYPE_ANALYZE) != 0;
	if (nkeys > 0)
	{
		scan->rs_base.rs_key = palloc(sizeof(ScanKeyData) * nkeys);
		memcpy(scan->rs_base.rs_key, key, sizeof(ScanKeyData) * nkeys);
	}
	if (pscan != NULL)
		scan->pbscanwork = palloc0(sizeof(ParallelBlockTableScanWorkerData));
	scan->ctup.t_tableOid = RelationGetRelid(rel);
	AegisHeldPinInit(&scan->hold);
	init_scan(scan, false);

	/*
	 * SERIALIZABLE: a sequential or sample scan reads the whole relation, so
	 * it takes a relation-level predicate lock, as heap_beginscan does.
	 */
	if (snapshot && (flags & (SO_TYPE_SEQSCAN | SO_TYPE_SAMPLESCAN)))
		PredicateLockRelation(rel, snapshot);
	return (TableScanDesc) scan;
}

void
aegis_scan_end(TableScanDesc sscan)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;

	AegisBufferReleaseHeld(&scan->hold);
	if (scan->rs_base.rs_flags & SO_TEMP_SNAPSHOT)
		UnregisterSnapshot(scan->rs_base.rs_snapshot);
	if (scan->rs_base.rs_key)
		pfree(scan->rs_base.rs_key);
	if (scan->pbscanwork)
		pfree(scan->pbscanwork);
	if (scan->ring)
		pfree(scan->ring);
	pfree(scan);
}

void
aegis_scan_rescan(TableScanDesc sscan, struct ScanKeyData *key, bool set_params,
				  bool allow_strat, bool allow_sync, bool allow_pagemode)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;

	if (key != NULL && scan->rs_base.rs_nkeys > 0)
		memcpy(scan->rs_base.rs_key, key, sizeof(ScanKeyData) * scan->rs_base.rs_nkeys);
	/* as heap_rescan */
	if (set_params)
	{
		if (allow_strat)
			scan->rs_base.rs_flags |= SO_ALLOW_STRAT;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_STRAT;
		if (allow_sync)
			scan->rs_base.rs_flags |= SO_ALLOW_SYNC;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_SYNC;
		if (allow_pagemode)
			scan->rs_base.rs_flags |= SO_ALLOW_PAGEMODE;
		else
			scan->rs_base.rs_flags &= ~SO_ALLOW_PAGEMODE;
	}
	init_scan(scan, true);
}

/* heap_setscanlimits: scan only pages [start, start + numblocks). */
void
aegis_scan_set_limits(TableScanDesc sscan, BlockNumber start, BlockNumber numblocks)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;

	scan->startblock = start;
	scan->numblocks = numblocks;
}

/*
 * scan_set_tidrange: a TID range scan (WHERE ctid > '(10,0)' ...) reads
 * only the pages of [mintid, maxtid], clamped to the relation, as
 * heap_set_tidrange does; aegis_scan_getnextslot_tidrange filters the
 * first and last pages.
 */
void
aegis_scan_set_tidrange(TableScanDesc sscan, ItemPointer mintid, ItemPointer maxtid)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;
	ItemPointerData lowest;
	ItemPointerData highest;

	if (scan->nblocks == 0)
	{
		aegis_scan_set_limits(sscan, 0, 0);
		return;
	}
	ItemPointerSet(&lowest, 0, FirstOffsetNumber);
	ItemPointerSet(&highest, scan->nblocks - 1, MaxOffsetNumber);
	if (ItemPointerCompare(mintid, &lowest) > 0)
		lowest = *mintid;
	if (ItemPointerCompare(maxtid, &highest) < 0)
		highest = *maxtid;
	if (ItemPointerCompare(&highest, &lowest) < 0)
	{
		aegis_scan_set_limits(sscan, 0, 0);
		return;
	}
	aegis_scan_set_limits(sscan, ItemPointerGetBlockNumberNoCheck(&lowest),
						  ItemPointerGetBlockNumberNoCheck(&highest) -
						  ItemPointerGetBlockNumberNoCheck(&lowest) + 1);
	sscan->rs_mintid = lowest;
	sscan->rs_maxtid = highest;
}

/* scan_getnextslot_tidrange: the next version in the range, either way. */
bool
aegis_scan_getnextslot_tidrange(TableScanDesc sscan, ScanDirection direction,
								TupleTableSlot *slot)
{
	while (aegis_scan_getnextslot(sscan, direction, slot))
	{
		if (ItemPointerCompare(&slot->tts_tid, &sscan->rs_mintid) < 0)
		{
			/* below the range: later ones backwards are lower still */
			if (ScanDirectionIsBackward(direction))
				break;
			continue;
		}
		if (ItemPointerCompare(&slot->tts_tid, &sscan->rs_maxtid) > 0)
		{
			if (ScanDirectionIsForward(direction))
				break;
			continue;
		}
		return true;
	}
	ExecClearTuple(slot);
	return false;
}

/* Does 'tuple' pass the scan keys (if any) the scan was started with? */
static bool
keys_match(AegisScanDesc scan, HeapTuple tuple)
{
	bool		ok = true;

	if (scan->rs_base.rs_nkeys > 0)
		HeapKeyTest(tuple, RelationGetDescr(scan->rs_base.rs_rd), scan->rs_base.rs_nkeys,
					scan->rs_base.rs_key, ok);
	return ok;
}

/* Make 'tuple' (on 'page') entry n of the page's list. */
static inline void
note_tuple(AegisScanDesc scan, int n, Page page, HeapTuple tuple)
{
	scan->vistuples[n] = ItemPointerGetOffsetNumber(&tuple->t_self);
	scan->tupoff[n] = (uint16) ((char *) tuple->t_data - (char *) page);
	scan->tuplen[n] = (uint16) tuple->t_len;
}

/*
 * Load page 'blkno' into the scan: decide which tuples qualify (visible to
 * the snapshot, or in classify mode all with their HTSV result), among the
 * 'noffsets' offsets given or, if offsets is NULL, all of them.
 */
static void
load_page(AegisScanDesc scan, BlockNumber blkno, const OffsetNumber *offsets,
		  int noffsets)
{
	Relation	rel = scan->rs_base.rs_rd;
	Snapshot	snapshot = scan->rs_base.rs_snapshot;
	AegisBuffer buf;
	Page		page;
	OffsetNumber maxoff;
	HeapTupleData tuple;
	int			n = 0;
	bool		all_visible;
	bool		ssi;
	bool		has_keys;
	bool		keep;
	bool		mvcc;
	int			ngone = 0;

	/* the last page's pin first: an error below leaves the scan pinless */
	AegisBufferReleaseHeld(&scan->hold);
	scan->cblock = InvalidBlockNumber;
	scan->ntuples = 0;
	buf = AegisBufferReadRelRing(rel, &scan->key, blkno, scan->ring);
	if (!scan->classify)
		AegisPagePruneOpt(rel, buf);	/* as heapgetpage */
	AegisBufferLock(buf, LW_SHARED);
	page = AegisBufferGetPage(buf);
	maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);

	/*
	 * On an all-visible page every version is visible to any MVCC snapshot,
	 * as heapgetpage decides; like heap, a snapshot taken during recovery
	 * does not trust the page's flag (index-only scans there trust the map).
	 */
	all_visible = !scan->classify && PageIsAllVisible(page) && IsMVCCSnapshot(snapshot) &&
		!snapshot->takenDuringRecovery;
	/* once per page what heapgetpage asks per tuple (it cannot turn true) */
	ssi = !scan->classify && offsets == NULL &&
		CheckForSerializableConflictOutNeeded(rel, snapshot);
	has_keys = scan->rs_base.rs_nkeys > 0;
	mvcc = !scan->classify && snapshot != NULL && snapshot->snapshot_type == SNAPSHOT_MVCC;

	for (int i = 0; offsets ? i < noffsets : i < maxoff; i++)
	{
		OffsetNumber off = offsets ? offsets[i] : (OffsetNumber) (i + 1);

		if (offsets != NULL && !scan->classify)
		{
			/*
			 * A bitmap scan's exact page: each offset is an index entry's
			 * TID, the root of a HOT chain; the version the snapshot sees
			 * is read (and predicate-locked), as in heapam's
			 * heapam_scan_bitmap_next_block.
			 */
			if (!AegisHotSearch(rel, buf, off, NULL, NULL, 0, snapshot, &tuple, NULL))
				continue;
			if (!keys_match(scan, &tuple))
				continue;
			note_tuple(scan, n++, page, &tuple);
			continue;
		}

		if (!AegisPageGetTuple(page, blkno, off, RelationGetRelid(rel), &tuple))
			continue;

		if (scan->classify)
		{
			TransactionId dead_after;

			HTSV_Result res = AegisTupleSatisfiesVacuum(&tuple, &dead_after, buf);

			if (res == HEAPTUPLE_RECENTLY_DEAD &&
				TransactionIdIsValid(scan->classify_horizon) &&
				TransactionIdPrecedes(dead_after, scan->classify_horizon))
				res = HEAPTUPLE_DEAD;
			scan->htsv[n] = (uint8) res;
			note_tuple(scan, n++, page, &tuple);
		}
		else
		{
			bool		visible;

			if (all_visible)
				visible = true;
			else if (mvcc && AegisTupleGoneBefore(tuple.t_data, snapshot->xmin))
			{
				visible = false;
				ngone++;
			}
			else
				visible = AegisTupleSatisfiesVisibility(&tuple, snapshot, buf);
			if (ssi)
				AegisCheckConflictOut(visible, rel, &tuple, buf, snapshot);
			if (!visible || (has_keys && !keys_match(scan, &tuple)))
				continue;
			/* a bitmap scan reads single tuples: lock them, as heap does */
			if (scan->rs_base.rs_flags & SO_TYPE_BITMAPSCAN)
				PredicateLockTID(rel, &tuple.t_self, snapshot,
								 HeapTupleHeaderGetXmin(tuple.t_data));
			note_tuple(scan, n++, page, &tuple);
		}
	}
	if (scan->want_roots)
		AegisHotRootOffsets(page, scan->roots);

	/*
	 * More versions deleted before our snapshot than versions we read: ask
	 * the next reader to prune the page (AegisPagePruneOpt), as heap_update
	 * asks with PD_PAGE_FULL when a page has no room left.  Otherwise a
	 * small table that is updated all the time keeps up to a page of dead
	 * versions per page until its free space runs low, and every scan of
	 * it (the plan the planner prefers for a few pages) reads them all: a
	 * TPC-B transaction's scans of pgbench_tellers and pgbench_branches met
	 * 600 versions on 9 pages, 110 of them live.  A hint, not logged, set
	 * under the shared lock (no other change to pd_flags takes less than
	 * the exclusive lock) and not marking the page dirty: lost if the page
	 * leaves the pool first.  The prune clears it.  Not on a standby, which
	 * never prunes.
	 */
	keep = !scan->classify && !RecoveryInProgress();
	if (keep && ngone >= AEGIS_PRUNE_HINT_GONE && ngone > n && !PageIsFull(page))
		PageSetFull(page);
	if (keep)
	{
		AegisBufferUnlock(buf);
		AegisBufferHold(buf, &scan->hold);
		scan->cpage = page;
	}
	else
	{
		memcpy(scan->page.data, page, BLCKSZ);
		AegisBufferUnlockRelease(buf);
		scan->cpage = (Page) scan->page.data;
	}

	scan->cblock = blkno;
	scan->ntuples = n;
	scan->cindex = -1;
}

/*
 * The page the scan serves tuples from.  A held pin goes with its resource
 * owner; one that went while the scan lives on (which no path is known to
 * do: FETCH runs under its portal's owner, a portal that failed is not run
 * again, and a cursor a procedure keeps across COMMIT is materialized
 * first; so this is a safety net no test reaches) is taken again.  The
 * tuples' bytes may have moved meanwhile: their places are read again from
 * the line pointers, which stay for every version an MVCC snapshot sees; a
 * tuple gone is an error, never garbage.
 */
static pg_noinline void
repin_page(AegisScanDesc scan)
{
	if (AegisBufferHeldValid(&scan->hold))
		scan->hold.lost = AegisHeldPinsLost;	/* another scan's pin went */
	else
	{
		AegisBuffer buf = AegisBufferReadRelRing(scan->rs_base.rs_rd, &scan->key,
												 scan->cblock, scan->ring);
		Page		page = AegisBufferGetPage(buf);
		OffsetNumber maxoff;

		AegisBufferHold(buf, &scan->hold);
		AegisBufferLock(buf, LW_SHARED);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (int i = 0; i < scan->ntuples; i++)
		{
			ItemId		lp;

			if (scan->vistuples[i] > maxoff ||
				!ItemIdIsNormal(lp = PageGetItemId(page, scan->vistuples[i])))
			{
				AegisBufferUnlock(buf);
				elog(ERROR, "tuple (%u,%u) of \"%s\" was removed while the scan was away",
					 scan->cblock, scan->vistuples[i],
					 RelationGetRelationName(scan->rs_base.rs_rd));
			}
			scan->tupoff[i] = ItemIdGetOffset(lp);
			scan->tuplen[i] = ItemIdGetLength(lp);
		}
		AegisBufferUnlock(buf);
		scan->cpage = page;
	}
}

/* current_page: one comparison per row while no held pin was lost */
static inline Page
current_page(AegisScanDesc scan)
{
	if (unlikely(scan->hold.slot >= 0 && !AegisBufferHeldSure(&scan->hold)))
		repin_page(scan);
	return scan->cpage;
}

/* Point the scan's current tuple at vistuples[cindex] and store it in slot. */
static void
serve_tuple(AegisScanDesc scan, TupleTableSlot *slot)
{
	Page		page = current_page(scan);
	int			i = scan->cindex;

	scan->ctup.t_data = (HeapTupleHeader) ((char *) page + scan->tupoff[i]);
	scan->ctup.t_len = scan->tuplen[i];
	ItemPointerSet(&scan->ctup.t_self, scan->cblock, scan->vistuples[i]);
	AegisStoreTuple(&scan->ctup, slot, false);
}

/* The page after the scan's last (nblocks, or the limits' end). */
static BlockNumber
scan_end(AegisScanDesc scan)
{
	BlockNumber end = scan->nblocks;

	if (scan->numblocks != InvalidBlockNumber)
		end = Min(end, scan->startblock + scan->numblocks);
	return end;
}

/* The next page to read in 'direction', or InvalidBlockNumber at the end. */
static BlockNumber
next_block(AegisScanDesc scan, ScanDirection direction)
{
	BlockNumber end = scan_end(scan);

	if (scan->rs_base.rs_parallel != NULL)
	{
		ParallelBlockTableScanDesc pbscan =
			(ParallelBlockTableScanDesc) scan->rs_base.rs_parallel;

		if (!scan->inited)
			table_block_parallelscan_startblock_init(scan->rs_base.rs_rd,
													 scan->pbscanwork, pbscan);
		scan->inited = true;
		return table_block_parallelscan_nextpage(scan->rs_base.rs_rd,
												 scan->pbscanwork, pbscan);
	}
	if (ScanDirectionIsBackward(direction))
	{
		if (!scan->inited)
		{
			scan->inited = true;
			return end > scan->startblock ? end - 1 : InvalidBlockNumber;
		}
		if (scan->cblock == InvalidBlockNumber || scan->cblock <= scan->startblock)
			return InvalidBlockNumber;
		return scan->cblock - 1;
	}
	if (!scan->inited)
	{
		scan->inited = true;
		return scan->startblock < end ? scan->startblock : InvalidBlockNumber;
	}
	if (scan->cblock == InvalidBlockNumber || scan->cblock + 1 >= end)
		return InvalidBlockNumber;
	return scan->cblock + 1;
}

bool
aegis_scan_getnextslot(TableScanDesc sscan, ScanDirection direction,
					   TupleTableSlot *slot)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;
	bool		backward = ScanDirectionIsBackward(direction);

	for (;;)
	{
		BlockNumber blk;

		if (scan->cblock != InvalidBlockNumber)
		{
			if (!backward && scan->cindex + 1 < scan->ntuples)
			{
				scan->cindex++;
				serve_tuple(scan, slot);
				pgstat_count_heap_getnext(scan->rs_base.rs_rd);
				return true;
			}
			if (backward && scan->cindex > 0)
			{
				scan->cindex--;
				serve_tuple(scan, slot);
				pgstat_count_heap_getnext(scan->rs_base.rs_rd);
				return true;
			}
		}
		CHECK_FOR_INTERRUPTS();
		blk = next_block(scan, direction);
		if (blk == InvalidBlockNumber)
		{
			/*
			 * Ran off an end: the next call starts again from the end it
			 * faces, as heapgettup_pagemode resets rs_inited, so a SCROLL
			 * cursor that turns around (FETCH LAST, FETCH BACKWARD after
			 * FETCH ALL) sees the rows again.
			 */
			ExecClearTuple(slot);
			AegisBufferReleaseHeld(&scan->hold);
			scan->cblock = InvalidBlockNumber;
			scan->inited = false;
			scan->ra_next = 0;
			return false;
		}
		/* a forward sequential scan has the pages after this one read ahead */
		if (!backward && scan->rs_base.rs_parallel == NULL &&
			(scan->rs_base.rs_flags & SO_TYPE_SEQSCAN))
			AegisBufferReadAhead(scan->rs_base.rs_rd, &scan->key, blk, scan_end(scan),
								 &scan->ra_next, &scan->ra_create_lsn, scan->ring != NULL);
		load_page(scan, blk, NULL, 0);
		if (backward)
			scan->cindex = scan->ntuples;
	}
}

bool
aegis_scan_bitmap_next_block(TableScanDesc sscan, struct TBMIterateResult *tbmres)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;

	if (tbmres->blockno >= scan->nblocks)
		return false;
	if (tbmres->ntuples >= 0)
		load_page(scan, tbmres->blockno, tbmres->offsets, tbmres->ntuples);
	else
		load_page(scan, tbmres->blockno, NULL, 0);
	return scan->ntuples > 0;
}

bool
aegis_scan_bitmap_next_tuple(TableScanDesc sscan, struct TBMIterateResult *tbmres,
							 TupleTableSlot *slot)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;

	if (scan->cindex + 1 >= scan->ntuples)
		return false;
	scan->cindex++;
	serve_tuple(scan, slot);
	pgstat_count_heap_fetch(scan->rs_base.rs_rd);
	return true;
}

bool
aegis_scan_sample_next_block(TableScanDesc sscan, struct SampleScanState *scanstate)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	BlockNumber blk;

	if (scan->nblocks == 0)
		return false;
	if (tsm->NextSampleBlock)
	{
		blk = tsm->NextSampleBlock(scanstate, scan->nblocks);
		scan->inited = true;
	}
	else
		blk = next_block(scan, ForwardScanDirection);
	if (!BlockNumberIsValid(blk) || blk >= scan->nblocks)
	{
		AegisBufferReleaseHeld(&scan->hold);
		scan->cblock = InvalidBlockNumber;
		return false;
	}
	load_page(scan, blk, NULL, 0);
	return true;
}

bool
aegis_scan_sample_next_tuple(TableScanDesc sscan, struct SampleScanState *scanstate,
							 TupleTableSlot *slot)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;
	TsmRoutine *tsm = scanstate->tsmroutine;
	Page		page = current_page(scan);
	OffsetNumber maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);

	for (;;)
	{
		OffsetNumber off;
		int			lo = 0,
					hi = scan->ntuples - 1;

		CHECK_FOR_INTERRUPTS();
		off = tsm->NextSampleTuple(scanstate, scan->cblock, maxoff);
		if (!OffsetNumberIsValid(off))
		{
			ExecClearTuple(slot);
			return false;
		}
		/* vistuples is in offset order: is 'off' a visible tuple? */
		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;

			if (scan->vistuples[mid] == off)
			{
				scan->cindex = mid;
				serve_tuple(scan, slot);
				return true;
			}
			if (scan->vistuples[mid] < off)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
}

bool
aegis_scan_analyze_next_block(TableScanDesc sscan, BlockNumber blockno,
							  BufferAccessStrategy bstrategy)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;

	if (blockno >= scan->nblocks)
		return false;

	/*
	 * ANALYZE reads its sample of pages through a ring whatever the table's
	 * size, as heap's reads them with the vacuum strategy it is given
	 */
	if (bstrategy != NULL && scan->ring == NULL)
		scan->ring = AegisBufferRingCreate(AEGIS_SCAN_RING_FRAMES, InvalidBlockNumber);
	load_page(scan, blockno, NULL, 0);
	return true;
}

/* Sample live tuples the way heapam_scan_analyze_next_tuple counts them. */
bool
aegis_scan_analyze_next_tuple(TableScanDesc sscan, TransactionId OldestXmin,
							  double *liverows, double *deadrows,
							  TupleTableSlot *slot)
{
	AegisScanDesc scan = (AegisScanDesc) sscan;
	Page		page = current_page(scan);

	while (scan->cindex + 1 < scan->ntuples)
	{
		HeapTupleHeader tup;
		bool		sample = false;

		scan->cindex++;
		tup = (HeapTupleHeader) ((char *) page + scan->tupoff[scan->cindex]);
		switch ((HTSV_Result) scan->htsv[scan->cindex])
		{
			case HEAPTUPLE_LIVE:
				sample = true;
				*liverows += 1;
				break;
			case HEAPTUPLE_DEAD:
			case HEAPTUPLE_RECENTLY_DEAD:
				*deadrows += 1;
				break;
			case HEAPTUPLE_INSERT_IN_PROGRESS:
				if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup)))
				{
					sample = true;
					*liverows += 1;
				}
				break;
			case HEAPTUPLE_DELETE_IN_PROGRESS:
				if (TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tup)))
					*deadrows += 1;
				else
				{
					sample = true;
					*liverows += 1;
				}
				break;
		}
		if (sample)
		{
			serve_tuple(scan, slot);
			return true;
		}
	}
	ExecClearTuple(slot);
	return false;
}

/*
 * AegisFetchTuple
 *		Fetch the tuple at 'tid' into 'slot' (as a copy the slot owns) if
 *		'snapshot' sees it.  Returns false for a TID past the end of the
 *		relation or on an unused line pointer.  If all_dead is given it is
 *		set when the tuple is dead to every transaction (the index may then
 *		kill its entry).  The caller holds a lock on 'rel'.
 */
bool
AegisFetchTuple(Relation rel, const AegisRelKey *key, ItemPointer tid,
				Snapshot snapshot, TupleTableSlot *slot, bool *all_dead)
{
	BlockNumber blk = ItemPointerGetBlockNumber(tid);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	AegisBuffer buf;
	HeapTupleData tuple;
	HeapTuple	copy = NULL;

	if (all_dead)
		*all_dead = false;
	buf = AegisBufferReadRelIfExists(rel, key, blk);
	if (buf == InvalidAegisBuffer)
		return false;
	AegisBufferLock(buf, LW_SHARED);
	if (!AegisPageGetTuple(AegisBufferGetPage(buf), blk, off, RelationGetRelid(rel), &tuple))
	{
		Page		page = AegisBufferGetPage(buf);

		/* a pruned tuple (LP_DEAD) is dead to everyone */
		if (all_dead && !PageIsNew(page) && off >= FirstOffsetNumber &&
			off <= PageGetMaxOffsetNumber(page))
			*all_dead = ItemIdIsDead(PageGetItemId(page, off));
		AegisBufferUnlockRelease(buf);
		return false;
	}
	if (AegisTupleSatisfiesVisibility(&tuple, snapshot, buf))
	{
		copy = heap_copytuple(&tuple);
		PredicateLockTID(rel, &tuple.t_self, snapshot, HeapTupleHeaderGetXmin(tuple.t_data));
	}
	AegisCheckConflictOut(copy != NULL, rel, &tuple, buf, snapshot);

	/*
	 * Tell the index when no snapshot can see the tuple any more, so it can
	 * mark its entry dead (kill_prior_tuple), as heap_hot_search_buffer does.
	 */
	if (copy == NULL && all_dead)
		*all_dead = AegisTupleIsSurelyDead(&tuple, GlobalVisTestFor(rel), buf);
	AegisBufferUnlockRelease(buf);

	if (copy == NULL)
		return false;
	AegisStoreTuple(copy, slot, true);
	return true;
}
