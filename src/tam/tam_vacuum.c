/*-------------------------------------------------------------------------
 *
 * tam_vacuum.c
 *	  Plain VACUUM of aegis tables: remove dead tuples, freeze old ones.
 *
 * The protocol is lazy VACUUM's (vacuumlazy.c):
 *
 *   1. Scan every page under an exclusive content lock; prune it by the HOT
 *      chain rules (page_prune.c: versions no snapshot can see go, heap-only
 *      ones at once, roots as LP_DEAD or redirects) and collect the TIDs of
 *      LP_DEAD line pointers, new or left by earlier prunes; freeze tuples
 *      older than the freeze limit (heap_prepare_freeze_tuple /
 *      heap_execute_freeze_tuple).
 *   2. Remove the index entries of the collected TIDs (index_bulk_delete).
 *   3. Only then mark those line pointers unused, so a TID is never reused
 *      while an index entry still points to it (invariant 1).  This needs
 *      only an exclusive lock; the page is defragmented when ours is the
 *      only pin, else by a later prune.  VACUUM never waits for a cleanup
 *      lock: a backend holding a pin may be waiting for a row lock, and
 *      buffer-pin waits are invisible to the deadlock detector.
 *
 * A page whose versions are then all visible to every snapshot (each LIVE,
 * its xmin committed and older than OldestXmin, no dead line pointer) is
 * marked all-visible, in step 1 or after step 3 (heap's
 * heap_page_is_all_visible rule; src/wal/wal_visibility.c for the flag, the
 * visibility map and their WAL).
 *
 * Steps 2 and 3 run whenever the dead-TID array reaches
 * maintenance_work_mem (autovacuum_work_mem in autovacuum workers, if set),
 * so memory stays bounded.  Every page is scanned, so
 * relfrozenxid/relminmxid advance to what the scan observed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/visibilitymap.h"
#include "aegis/backend.h"
#include "aegis/guc.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "commands/dbcommands.h"
#include "commands/vacuum.h"
#include "executor/instrument.h"
#include "postmaster/autovacuum.h"
#include "utils/lsyscache.h"
#include "utils/pg_rusage.h"
#include "utils/timestamp.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* what pruning does to a line pointer, in VACUUM's first pass */
#define PLANNED_DEAD		1
#define PLANNED_UNUSED		2
#define PLANNED_REDIRECT	3

typedef struct DeadItems
{
	ItemPointerData *tids;		/* sorted by block, then offset */
	int			ntids;
	int			maxtids;
	/*
	 * While indexes are vacuumed: where each block's TIDs begin.  Blocks
	 * dir_first.. are in buckets of 2^dir_shift blocks; the TIDs of bucket b
	 * are tids[dir[b] .. dir[b + 1]).  At most DIR_ENTRIES(ntids) entries.
	 */
	uint32	   *dir;
	BlockNumber dir_first;
	BlockNumber dir_last;
	int			dir_shift;
	int			index_scans;	/* passes over the indexes so far */
	/*
	 * Leave index entries and LP_DEAD line pointers to a later VACUUM:
	 * INDEX_CLEANUP OFF, or the wraparound failsafe (heap's rules).
	 */
	bool		skip_indexes;
	bool		failsafe;		/* the failsafe is what set it */
	/* after a crash: pages below 'floor' and their line pointer counts */
	BlockNumber floor;
	uint16	   *maxoff;			/* per page below floor; 0xFFFF: not seen */
} DeadItems;

/* What VACUUM needs for the visibility map, and what it counts. */
typedef struct VacVisibility
{
	bool		usable;			/* the table keeps a map (AegisVmUsable) */
	TransactionId oldest_xmin;	/* versions older than it are seen by all */
	Buffer		vmbuf;			/* map page pinned, or InvalidBuffer */
	BlockNumber all_visible;	/* pages all-visible after this VACUUM */
} VacVisibility;

/*
 * The block directory's size: at most one uint32 per two dead TIDs, so the
 * TIDs and their directory together take 8 bytes per TID (maxtids is sized
 * for that), within VACUUM's memory bound (maintenance_work_mem or
 * autovacuum_work_mem).
 */
#define DIR_ENTRIES(ntids)	((ntids) / 2 + 2)

static int
tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * Build dead->dir over the sorted dead->tids: the finest bucket size (a
 * power of two, in blocks) whose directory fits DIR_ENTRIES.  With VACUUM's
 * usual density (a few dead TIDs on many pages) a bucket is one block.
 */
static void
build_block_directory(DeadItems *dead)
{
	BlockNumber range;
	uint32		nbuckets;
	int			i = 0;

	dead->dir = NULL;
	if (dead->ntids == 0)
		return;
	dead->dir_first = ItemPointerGetBlockNumber(&dead->tids[0]);
	dead->dir_last = ItemPointerGetBlockNumber(&dead->tids[dead->ntids - 1]);
	range = dead->dir_last - dead->dir_first;	/* blocks - 1 */
	dead->dir_shift = 0;
	while ((range >> dead->dir_shift) + 2 > DIR_ENTRIES(dead->ntids))
		dead->dir_shift++;
	nbuckets = (range >> dead->dir_shift) + 1;
	dead->dir = palloc_extended(sizeof(uint32) * (nbuckets + 1), MCXT_ALLOC_HUGE);
	for (uint32 b = 0; b < nbuckets; b++)
	{
		dead->dir[b] = i;
		while (i < dead->ntids &&
			   ((ItemPointerGetBlockNumber(&dead->tids[i]) - dead->dir_first) >>
				dead->dir_shift) == b)
			i++;
	}
	dead->dir[nbuckets] = i;
	Assert(i == dead->ntids);
}

/*
 * index_bulk_delete's callback: is this index entry's TID dead?  Called
 * once per index entry, so it is most of an index's vacuum: the block
 * directory narrows the search to the TIDs of one bucket (heap's
 * vac_tid_reaped bsearches all of them).
 */
static bool
tid_is_dead(ItemPointer itemptr, void *state)
{
	DeadItems  *dead = (DeadItems *) state;
	BlockNumber blk = ItemPointerGetBlockNumber(itemptr);
	OffsetNumber off = ItemPointerGetOffsetNumber(itemptr);
	uint32		b;
	int			lo,
				hi;

	/*
	 * An index entry pointing past the line pointers a page had after a
	 * crash was made by a transaction whose tuple was lost: remove it.
	 */
	if (blk < dead->floor && dead->maxoff[blk] != 0xFFFF &&
		off > dead->maxoff[blk])
		return true;
	if (dead->dir == NULL || blk < dead->dir_first || blk > dead->dir_last)
		return false;
	b = (blk - dead->dir_first) >> dead->dir_shift;
	lo = dead->dir[b];
	hi = dead->dir[b + 1];
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		BlockNumber mblk = ItemPointerGetBlockNumber(&dead->tids[mid]);
		OffsetNumber moff = ItemPointerGetOffsetNumber(&dead->tids[mid]);

		if (mblk == blk && moff == off)
			return true;
		if (mblk < blk || (mblk == blk && moff < off))
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static IndexVacuumInfo
index_vacuum_info(Relation index, double reltuples, bool estimated,
				  BufferAccessStrategy bstrategy)
{
	IndexVacuumInfo ivinfo;

	ivinfo.index = index;
	ivinfo.analyze_only = false;
	ivinfo.report_progress = false;
	ivinfo.estimated_count = estimated;
	ivinfo.message_level = DEBUG2;
	ivinfo.num_heap_tuples = reltuples;
	ivinfo.strategy = bstrategy;
	return ivinfo;
}

/*
 * A LIVE version is visible to every snapshot, present and future, if its
 * xmin is committed (hinted: the commit record is flushed) and older than
 * OldestXmin; *cutoff tracks the newest such xmin on the page.
 */
static bool
xmin_visible_to_all(HeapTupleHeader tup, TransactionId oldest_xmin, TransactionId *cutoff)
{
	TransactionId xmin;

	if (!HeapTupleHeaderXminCommitted(tup))
		return false;
	xmin = HeapTupleHeaderGetXmin(tup);
	if (!TransactionIdPrecedes(xmin, oldest_xmin))
		return false;
	if (TransactionIdFollows(xmin, *cutoff))
		*cutoff = xmin;
	return true;
}

/*
 * Will every version on the exclusively locked page be visible to all once
 * its 'nours' dead line pointers (ours to set unused) are gone?  Heap's
 * heap_page_is_all_visible; *cutoff gets the newest xmin.  Outside
 * critical sections (it may consult the commit log).
 */
static bool
page_all_visible(Relation rel, AegisBuffer buf, BlockNumber blk, int nours,
				 TransactionId oldest_xmin, TransactionId *cutoff)
{
	Page		page = AegisBufferGetPage(buf);
	OffsetNumber maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
	int			ndead = 0;

	*cutoff = InvalidTransactionId;
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		HeapTupleData tup;
		TransactionId dead_after;

		if (!ItemIdIsUsed(lp) || ItemIdIsRedirected(lp))
			continue;
		if (!ItemIdIsNormal(lp))
		{
			if (++ndead > nours)
				return false;
			continue;
		}
		(void) AegisPageGetTuple(page, blk, off, RelationGetRelid(rel), &tup);
		if (AegisTupleSatisfiesVacuum(&tup, &dead_after, buf) != HEAPTUPLE_LIVE ||
			!xmin_visible_to_all(tup.t_data, oldest_xmin, cutoff))
			return false;
	}
	return true;
}

/*
 * heap's lazy_check_wraparound_failsafe: once the table's relfrozenxid or
 * relminmxid is older than vacuum_failsafe_age (vacuum_multixact_failsafe_
 * age), VACUUM does only what advances them: no more index vacuuming (nor
 * truncation), and no cost-based delay.  Checked at the start and before
 * each pass over the indexes.
 */
static void
check_failsafe(Relation rel, DeadItems *dead, int nindexes)
{
	if (dead->failsafe ||
		!vacuum_xid_failsafe_check(rel->rd_rel->relfrozenxid, rel->rd_rel->relminmxid))
		return;
	dead->failsafe = true;
	if (nindexes > 0)
		dead->skip_indexes = true;
	VacuumCostActive = false;
	VacuumCostBalance = 0;
	ereport(WARNING,
			(errmsg("bypassing nonessential maintenance of table \"%s.%s.%s\" as a failsafe after %d index scans",
					get_database_name(MyDatabaseId),
					get_namespace_name(RelationGetNamespace(rel)),
					RelationGetRelationName(rel), dead->index_scans),
			 errdetail("The table's relfrozenxid or relminmxid is too far in the past."),
			 errhint("Consider increasing configuration parameter \"maintenance_work_mem\" or \"autovacuum_work_mem\".\n"
					 "You might also need to consider other ways for VACUUM to keep up with the allocation of transaction IDs.")));
}

/*
 * Steps 2 and 3 for the TIDs collected so far.  With dead->skip_indexes
 * (INDEX_CLEANUP OFF, the failsafe) and indexes, neither: the TIDs stay
 * LP_DEAD, as heap leaves them, for a VACUUM that vacuums the indexes.
 */
static void
reap_dead_items(Relation rel, const AegisRelKey *key, Relation *indrels,
				int nindexes, IndexBulkDeleteResult **stats, DeadItems *dead,
				VacVisibility *vis, double reltuples, BufferAccessStrategy bstrategy,
				bool force)
{
	int			i = 0;

	if (dead->ntids == 0 && !force)
		return;
	check_failsafe(rel, dead, nindexes);
	if (dead->skip_indexes)
	{
		/* the line pointers stay LP_DEAD: their index entries still exist */
		dead->ntids = 0;
		return;
	}
	qsort(dead->tids, dead->ntids, sizeof(ItemPointerData), tid_cmp);

	if (nindexes > 0)
	{
		build_block_directory(dead);
		dead->index_scans++;
	}
	for (int ix = 0; ix < nindexes; ix++)
	{
		IndexVacuumInfo ivinfo = index_vacuum_info(indrels[ix], reltuples, true, bstrategy);

		stats[ix] = index_bulk_delete(&ivinfo, stats[ix], tid_is_dead, dead);
	}
	if (dead->dir)
		pfree(dead->dir);
	dead->dir = NULL;

	while (i < dead->ntids)
	{
		BlockNumber blk = ItemPointerGetBlockNumber(&dead->tids[i]);
		AegisBuffer buf = AegisBufferReadRel(rel, key, blk);
		Page		page;
		AegisPageChange *chg;
		int			nours = 0;
		bool		set_visible;
		TransactionId cutoff;

		vacuum_delay_point();
		if (vis->usable)
			visibilitymap_pin(rel, blk, &vis->vmbuf);	/* may extend the map */
		AegisBufferLock(buf, LW_EXCLUSIVE);
		page = AegisBufferGetPage(buf);
		while (i + nours < dead->ntids &&
			   ItemPointerGetBlockNumber(&dead->tids[i + nours]) == blk)
			nours++;
		set_visible = vis->usable && blk >= dead->floor &&
			page_all_visible(rel, buf, blk, nours, vis->oldest_xmin, &cutoff);
		if (set_visible)
		{
			chg = AegisWalPageBeginKeepVisible(rel, buf);
			AegisWalPageSetVisible(chg, vis->vmbuf, cutoff);
			vis->all_visible++;
		}
		else
			chg = AegisWalPageBegin(rel, buf);
		START_CRIT_SECTION();
		for (; i < dead->ntids && ItemPointerGetBlockNumber(&dead->tids[i]) == blk; i++)
			ItemIdSetUnused(PageGetItemId(page, ItemPointerGetOffsetNumber(&dead->tids[i])));
		/*
		 * Moving tuples needs ours to be the only pin; never wait for that (a
		 * pin holder may be waiting for a lock we cannot see).  Otherwise the
		 * space is reclaimed by a later prune (PD_HAS_FREE_LINES says so).
		 */
		if (AegisBufferIsCleanupOK(buf))
			AegisWalPageCompact(chg);
		else
			PageSetHasFreeLinePointers(page);
		AegisBufferMarkDirty(buf);
		AegisWalPageLog(chg);
		END_CRIT_SECTION();
		AegisBufferUnlockRelease(buf);
		AegisStorageNoteFreeSpace(key, blk);
	}
	dead->ntids = 0;
}

/* heap's thresholds and timings (vacuumlazy.c) */
#define TRUNCATE_MIN_PAGES		1000	/* REL_TRUNCATE_MINIMUM */
#define TRUNCATE_MIN_FRACTION	16		/* REL_TRUNCATE_FRACTION */
#define TRUNCATE_CHECK_MS		20	/* VACUUM_TRUNCATE_LOCK_CHECK_INTERVAL */
#define TRUNCATE_WAIT_MS		50	/* VACUUM_TRUNCATE_LOCK_WAIT_INTERVAL */
#define TRUNCATE_TIMEOUT_MS		5000	/* VACUUM_TRUNCATE_LOCK_TIMEOUT */

/* Does the page hold a line pointer in use (heap's "hastup")? */
static bool
page_in_use(Page page)
{
	if (PageIsNew(page))
		return false;
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		if (ItemIdIsUsed(PageGetItemId(page, off)))
			return true;
	return false;
}

/*
 * The number of pages before the trailing run of pages with no line pointer
 * in use, scanning back from 'npages' and not below 'floor'.  With
 * 'waiters', give up when another backend waits for our lock, as
 * count_nondeletable_pages does: then *waiter is set and the pages behind
 * the scan are known empty.
 */
static BlockNumber
count_nonempty_pages(Relation rel, const AegisRelKey *key, BlockNumber npages,
					 BlockNumber floor, bool waiters, bool *waiter)
{
	instr_time	start,
				now;

	INSTR_TIME_SET_CURRENT(start);
	*waiter = false;
	while (npages > floor)
	{
		AegisBuffer buf;
		bool		used;

		if (waiters && npages % 32 == 0)
		{
			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			if (INSTR_TIME_GET_MILLISEC(now) >= TRUNCATE_CHECK_MS)
			{
				if (LockHasWaitersRelation(rel, AccessExclusiveLock))
				{
					*waiter = true;
					break;
				}
				INSTR_TIME_SET_CURRENT(start);
			}
		}
		CHECK_FOR_INTERRUPTS();
		buf = AegisBufferReadRel(rel, key, npages - 1);
		AegisBufferLock(buf, LW_SHARED);
		used = page_in_use(AegisBufferGetPage(buf));
		AegisBufferUnlockRelease(buf);
		if (used)
			break;
		npages--;
	}
	return npages;
}

/* What AegisStorageShrink logs for VACUUM, under sync_lock. */
static XLogRecPtr
log_shrink(void *arg)
{
	XLogRecPtr	end = AegisWalLogShrink((const xl_aegis_shrink *) arg);

	AEGIS_CRASH_AT(AEGIS_CRASH_VACUUM_CUT_LOGGED);
	return end;
}

/*
 * Cut 'rel' to its first 'keep' pages; the caller holds AccessExclusiveLock
 * and has checked that the pages from 'keep' on have no line pointer in
 * use, so no index entry points there.
 *
 *  1. The cut pages become new, empty pages and are written back, logged
 *     first (XLOG_AEGIS_EMPTY; AegisBufferWriteEmpty), so a block map
 *     rebuilt from the data files (restored base backup, lost map) finds
 *     no older content of them, on the primary and on standbys, and a page
 *     added again later is built by redo from the page its records expect
 *     (an emptied page written back as it was could hold old tuple bytes
 *     if pruning could not defragment it, and PD_ALL_VISIBLE).  Logged,
 *     the primary's and a standby's pages stay alike if the cut does not
 *     follow (an error, a cancel).  Then their buffers are dropped, the
 *     stub grown if it is short of 'keep' pages, and the visibility map's
 *     last page cleared beyond 'keep' (visibilitymap_prepare_truncate).
 *  2. With checkpoints held off from starting and from completing
 *     (DELAY_CHKPT_START | DELAY_CHKPT_COMPLETE, as RelationTruncate) and,
 *     if the table's pages are logged, in a critical section: the SHRINK
 *     record, written and flushed under sync_lock together with the
 *     storage's cut (AegisStorageShrink, which keeps the record's LSN in
 *     the map for redo), then the stub's main fork and its visibility map
 *     cut to 'keep' pages.  So a crash leaves either nothing cut or a
 *     record that redo completes, and a checkpoint whose redo pointer is
 *     past the record has the cut map and cut forks.  Memory storage (no
 *     page WAL, nothing to recover) frees its blocks outside a critical
 *     section: dsa_free may give a segment back.
 */
static void
cut_relation(Relation rel, const AegisRelKey *key, XLogRecPtr create_lsn,
			 BlockNumber keep)
{
	SMgrRelation srel;
	AegisRelInfo info;
	XLogRecPtr	added_lsn;
	XLogRecPtr	lsn;
	BlockNumber npages;
	BlockNumber stub_pages = keep;
	BlockNumber main_pages = InvalidBlockNumber;
	BlockNumber vm_pages = InvalidBlockNumber;
	bool		logged = RelationNeedsWAL(rel);
	bool		crit = AegisRelNeedsWal(rel);
	xl_aegis_shrink xlrec;
	int			saved_flags = MyProc->delayChkptFlags;

	npages = AegisStorageNPages(key);
	if (crit)
		AegisWalCheckGuarded();

	/*
	 * The EMPTY record, then the change it describes, with no interrupt in
	 * between and no checkpoint starting (DELAY_CHKPT_START, as for any
	 * logged change): a cancel or an error (cleared at abort) leaves
	 * emptied pages without map bits, the same on a standby.
	 */
	HOLD_INTERRUPTS();
	MyProc->delayChkptFlags |= DELAY_CHKPT_START;
	lsn = crit ? AegisWalLogEmpty(key, create_lsn, keep, npages, rel->rd_node.spcNode) :
		InvalidXLogRecPtr;
	AegisVmClearRange(rel, keep, npages);
	AegisBufferWriteEmpty(key, keep, npages, lsn);
	MyProc->delayChkptFlags = saved_flags;
	RESUME_INTERRUPTS();
	AegisBufferDropRelationFrom(key, keep);
	srel = RelationGetSmgr(rel);
	if (smgrnblocks(srel, MAIN_FORKNUM) < stub_pages)
		AegisPageExtendStub(rel, keep);
	srel = RelationGetSmgr(rel);
	if (smgrnblocks(srel, MAIN_FORKNUM) > stub_pages)
		main_pages = stub_pages;
	if (smgrexists(srel, VISIBILITYMAP_FORKNUM))
		vm_pages = visibilitymap_prepare_truncate(rel, keep);
	if (crit)
		AegisWalCheckGuarded();

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.npages = keep;
	xlrec.create_lsn = create_lsn;
	xlrec.node = rel->rd_node;
	xlrec.stub_pages = stub_pages;

	/*
	 * Look the entry and its map up now: their DSA segments are then mapped
	 * in this process, and AegisStorageShrink allocates nothing in the
	 * critical section.
	 */
	(void) AegisStorageGetPageInfo(key, keep, &info, &added_lsn);

	MyProc->delayChkptFlags |= DELAY_CHKPT_START | DELAY_CHKPT_COMPLETE;
	if (crit)
		START_CRIT_SECTION();
	AegisStorageShrink(key, keep, logged ? log_shrink : NULL, &xlrec);
	AegisStubTruncate(RelationGetSmgr(rel), main_pages, vm_pages);
	if (crit)
		END_CRIT_SECTION();
	MyProc->delayChkptFlags = saved_flags;
	RelationSetTargetBlock(rel, InvalidBlockNumber);
}

/*
 * Give empty trailing pages back, as lazy_truncate_heap does: only when at
 * least TRUNCATE_MIN_PAGES or a TRUNCATE_MIN_FRACTION of the pages are
 * empty at the end, only with AccessExclusiveLock got without waiting
 * (tried every 50 ms for 5 s: readers keep the pages), counted again under
 * it, and while the count finds nobody waiting for the lock; a waiter gets
 * it once the part counted so far is cut, then VACUUM tries again.
 * VACUUM (TRUNCATE false) and the vacuum_truncate option turn it off.
 * Returns the pages left.
 */
static BlockNumber
truncate_empty_tail(Relation rel, const AegisRelKey *key, BlockNumber npages,
					VacuumParams *params, bool verbose)
{
	int			elevel = verbose ? INFO : DEBUG2;
	bool		waiter;
	BlockNumber keep;

	if (params->truncate == VACOPTVALUE_DISABLED || old_snapshot_threshold >= 0)
		return npages;
	keep = count_nonempty_pages(rel, key, npages, 0, false, &waiter);
	if (keep == npages ||
		(npages - keep < TRUNCATE_MIN_PAGES && npages - keep < npages / TRUNCATE_MIN_FRACTION))
		return npages;

	do
	{
		AegisRelInfo info;
		int			waited = 0;
		BlockNumber floor;

		while (!ConditionalLockRelation(rel, AccessExclusiveLock))
		{
			if (waited >= TRUNCATE_TIMEOUT_MS)
			{
				ereport(elevel,
						(errmsg("\"%s\": stopping truncate due to conflicting lock request",
								RelationGetRelationName(rel))));
				return npages;
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 TRUNCATE_WAIT_MS, WAIT_EVENT_VACUUM_TRUNCATE);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			waited += TRUNCATE_WAIT_MS;
		}

		/* rows may have come meanwhile: count again, under the lock */
		if (!AegisStorageGetInfo(key, &info))
			(void) AegisStorageNPages(key); /* raises "does not exist" */
		if (info.npages != npages)
		{
			/* extended meanwhile: give up, as heap does */
			UnlockRelation(rel, AccessExclusiveLock);
			return info.npages;
		}
		/* an unlogged table's stub keeps a block: an empty one means a reset */
		floor = rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED ? 1 : 0;
		keep = count_nonempty_pages(rel, key, npages, floor, true, &waiter);
		if (keep >= npages || info.insert_floor > 0)
		{
			UnlockRelation(rel, AccessExclusiveLock);
			return npages;
		}
		cut_relation(rel, key, info.create_lsn, keep);
		UnlockRelation(rel, AccessExclusiveLock);
		ereport(elevel,
				(errmsg("table \"%s\": truncated %u to %u pages",
						RelationGetRelationName(rel), npages, keep)));
		npages = keep;
		if (waiter)
			ereport(elevel,
					(errmsg("table \"%s\": suspending truncate due to conflicting lock request",
							RelationGetRelationName(rel))));
	} while (waiter && keep > count_nonempty_pages(rel, key, npages, 0, false, &waiter));
	return npages;
}

/*
 * What VACUUM VERBOSE prints (INFO) and autovacuum logs past
 * log_autovacuum_min_duration (LOG), in the shape of heap's report
 * (heap_vacuum_rel): table, pages, row versions, cutoffs, indexes, buffer
 * and WAL usage, resources.
 */
static void
report_vacuum(Relation rel, VacuumParams *params, bool verbose, TimestampTz start,
			  PGRUsage *ru0, BufferUsage *buf0, WalUsage *wal0, BlockNumber scanned,
			  BlockNumber npages,
			  double removed, double live, double recently_dead, BlockNumber all_visible,
			  TransactionId oldest_xmin, TransactionId new_frozen_xid,
			  Relation *indrels, int nindexes, IndexBulkDeleteResult **stats,
			  int index_scans)
{
	BufferUsage bufusage;
	WalUsage	walusage;
	StringInfoData buf;

	if (!verbose &&
		!(IsAutoVacuumWorkerProcess() && params->log_min_duration >= 0 &&
		  TimestampDifferenceExceeds(start, GetCurrentTimestamp(), params->log_min_duration)))
		return;
	memset(&bufusage, 0, sizeof(bufusage));
	BufferUsageAccumDiff(&bufusage, &pgBufferUsage, buf0);
	memset(&walusage, 0, sizeof(walusage));
	WalUsageAccumDiff(&walusage, &pgWalUsage, wal0);

	initStringInfo(&buf);
	/* heap's first line, which log analyzers parse */
	appendStringInfo(&buf, verbose ? _("finished vacuuming \"%s.%s.%s\": index scans: %d\n") :
					 _("automatic vacuum of table \"%s.%s.%s\": index scans: %d\n"),
					 get_database_name(MyDatabaseId),
					 get_namespace_name(RelationGetNamespace(rel)),
					 RelationGetRelationName(rel), index_scans);
	appendStringInfo(&buf, _("pages: %u removed, %u remain, %u scanned (100.00%% of total), %u all-visible\n"),
					 scanned > npages ? scanned - npages : 0, npages, scanned, all_visible);
	appendStringInfo(&buf, _("tuples: %.0f removed, %.0f remain, %.0f are dead but not yet removable\n"),
					 removed, live, recently_dead);
	appendStringInfo(&buf, _("removable cutoff: %u, which was %d XIDs old when operation ended\n"),
					 oldest_xmin, (int32) (ReadNextTransactionId() - oldest_xmin));
	appendStringInfo(&buf, _("new relfrozenxid: %u\n"), new_frozen_xid);
	for (int ix = 0; ix < nindexes; ix++)
		if (stats[ix] != NULL)
			appendStringInfo(&buf, _("index \"%s\": pages: %u in total, %u newly deleted, %u currently deleted, %u reusable\n"),
							 RelationGetRelationName(indrels[ix]), stats[ix]->num_pages,
							 stats[ix]->pages_newly_deleted, stats[ix]->pages_deleted,
							 stats[ix]->pages_free);
	appendStringInfo(&buf, _("buffer usage: %lld hits, %lld misses, %lld dirtied\n"),
					 (long long) bufusage.shared_blks_hit, (long long) bufusage.shared_blks_read,
					 (long long) bufusage.shared_blks_dirtied);
	appendStringInfo(&buf, _("WAL usage: %lld records, %lld full page images, %llu bytes\n"),
					 (long long) walusage.wal_records, (long long) walusage.wal_fpi,
					 (unsigned long long) walusage.wal_bytes);
	appendStringInfo(&buf, _("system usage: %s"), pg_rusage_show(ru0));
	ereport(verbose ? INFO : LOG, (errmsg_internal("%s", buf.data)));
	pfree(buf.data);
}

void
aegis_relation_vacuum(Relation rel, struct VacuumParams *params,
					  BufferAccessStrategy bstrategy)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	TransactionId oldest_xmin,
				freeze_limit,
				new_frozen_xid;
	MultiXactId oldest_mxact,
				multi_cutoff,
				new_min_mxid;
	GlobalVisState *vistest;
	BlockNumber npages;
	BlockNumber scanned;
	Relation   *indrels;
	int			nindexes;
	IndexBulkDeleteResult **stats;
	DeadItems	dead;
	int			work_mem_kb;
	VacVisibility vis;
	double		live = 0,
				removed = 0,
				recently_dead = 0;
	xl_heap_freeze_tuple *frozen;
	AegisPrunePlan plan;
	char		planned[MaxHeapTuplesPerPage + 1] = {0};
	bool		verbose = (params->options & VACOPT_VERBOSE) != 0;
	TimestampTz start = GetCurrentTimestamp();
	PGRUsage	ru0;
	BufferUsage buf0 = pgBufferUsage;
	WalUsage	wal0 = pgWalUsage;

	pg_rusage_init(&ru0);
	/*
	 * A table grown before it could get a compression dictionary (or whose
	 * training was skipped) gets it now, so the pages this VACUUM rewrites
	 * use it.
	 */
	AegisWalDictMaybeTrain(&key, AegisRelNeedsWal(rel));
	if (verbose)
		ereport(INFO,
				(errmsg("vacuuming \"%s.%s.%s\"", get_database_name(MyDatabaseId),
						get_namespace_name(RelationGetNamespace(rel)),
						RelationGetRelationName(rel))));
	AegisTamCheckReset(rel);
	if (AegisRelNeedsWal(rel))
		AegisWalWaitGuarded();
	(void) vacuum_set_xid_limits(rel, params->freeze_min_age, params->freeze_table_age,
								 params->multixact_freeze_min_age,
								 params->multixact_freeze_table_age,
								 &oldest_xmin, &oldest_mxact, &freeze_limit, &multi_cutoff);
	vistest = GlobalVisTestFor(rel);
	new_frozen_xid = oldest_xmin;
	new_min_mxid = oldest_mxact;
	vis.usable = AegisVmUsable(rel);
	vis.oldest_xmin = oldest_xmin;
	vis.vmbuf = InvalidBuffer;
	vis.all_visible = 0;

	vac_open_indexes(rel, RowExclusiveLock, &nindexes, &indrels);
	/* indexes are vacuumed by this process; heap says so for temp tables */
	if (nindexes > 1 && params->index_cleanup != VACOPTVALUE_DISABLED &&
		params->nworkers > 0 && RelationUsesLocalBuffers(rel))
		ereport(WARNING,
				(errmsg("disabling parallel option of vacuum on \"%s\" --- cannot vacuum temporary tables in parallel",
						RelationGetRelationName(rel))));
	stats = palloc0(sizeof(IndexBulkDeleteResult *) * Max(nindexes, 1));
	/*
	 * 8 bytes per TID: the TID and its share of the block directory, within
	 * autovacuum_work_mem in an autovacuum worker if that is set, else
	 * maintenance_work_mem (heap's dead_items_max_items)
	 */
	work_mem_kb = IsAutoVacuumWorkerProcess() && autovacuum_work_mem != -1 ?
		autovacuum_work_mem : maintenance_work_mem;
	dead.maxtids = Max(MaxHeapTuplesPerPage,
					   (int) Min((Size) work_mem_kb * 1024L /
								 (sizeof(ItemPointerData) + 2),
								 MaxAllocSize / sizeof(ItemPointerData)));
	dead.dir = NULL;
	dead.index_scans = 0;
	dead.skip_indexes = nindexes > 0 && params->index_cleanup == VACOPTVALUE_DISABLED;
	dead.failsafe = false;
	check_failsafe(rel, &dead, nindexes);
	dead.tids = palloc(sizeof(ItemPointerData) * dead.maxtids);
	dead.ntids = 0;
	frozen = palloc(sizeof(xl_heap_freeze_tuple) * MaxHeapTuplesPerPage);

	(void) AegisStorageFreeHint(&key, InvalidBlockNumber, &npages, &dead.floor);
	dead.maxoff = NULL;
	if (dead.floor > 0)
	{
		dead.maxoff = palloc_extended(sizeof(uint16) * dead.floor, MCXT_ALLOC_HUGE);
		memset(dead.maxoff, 0xFF, sizeof(uint16) * dead.floor);
	}
	for (BlockNumber blk = 0; blk < npages; blk++)
	{
		AegisBuffer buf;
		Page		page;
		OffsetNumber maxoff;
		OffsetNumber frozen_off[MaxHeapTuplesPerPage];
		int			nfrozen = 0;
		bool		prunes;
		bool		all_visible = true; /* every version visible to all */
		bool		has_dead = false;	/* dead versions or line pointers */
		TransactionId cutoff = InvalidTransactionId;
		bool		set_visible;
		bool		clear_mark;

		vacuum_delay_point();
		if (dead.ntids + MaxHeapTuplesPerPage > dead.maxtids)
			reap_dead_items(rel, &key, indrels, nindexes, stats, &dead, &vis, live,
							bstrategy, false);

		buf = AegisBufferReadRel(rel, &key, blk);
		if (vis.usable)
			visibilitymap_pin(rel, blk, &vis.vmbuf);	/* may extend the map */
		AegisBufferLock(buf, LW_EXCLUSIVE);
		page = AegisBufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		if (blk < dead.floor)
			dead.maxoff[blk] = maxoff;
		/* what pruning removes, by the HOT chain rules (page_prune.c) */
		AegisPrunePlanPage(rel, buf, vistest, &plan);
		for (int i = 0; i < plan.ndead; i++)
			planned[plan.nowdead[i]] = PLANNED_DEAD;
		for (int i = 0; i < plan.nunused; i++)
			planned[plan.nowunused[i]] = PLANNED_UNUSED;
		for (int i = 0; i < plan.nredirected; i++)
			planned[plan.redirected[i * 2]] = PLANNED_REDIRECT;
		removed += plan.nremoved;
		prunes = plan.nredirected > 0 || plan.ndead > 0 || plan.nunused > 0;

		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HeapTupleData tup;
			bool		totally_frozen;
			ItemId		lp = PageGetItemId(page, off);
			char		fate = planned[off];

			planned[off] = 0;
			if (fate == PLANNED_UNUSED || fate == PLANNED_REDIRECT)
				continue;
			if (fate == PLANNED_DEAD || ItemIdIsDead(lp) ||
				(blk < dead.floor && !ItemIdIsUsed(lp)))
			{
				/*
				 * Dead: only its index entries are left to remove.  Below the
				 * floor, unused ones too: a tuple lost in a crash may have
				 * taken the slot and left an index entry.  (ItemPointerSet is
				 * a macro that evaluates its pointer argument more than once:
				 * no side effects in it.)
				 */
				ItemPointerSet(&dead.tids[dead.ntids], blk, off);
				dead.ntids++;
				all_visible = false;
				has_dead = true;
				continue;
			}
			if (!AegisPageGetTuple(page, blk, off, RelationGetRelid(rel), &tup))
				continue;		/* a redirect that stays */
			switch ((HTSV_Result) plan.htsv[off])
			{
				case HEAPTUPLE_DEAD:

					/*
					 * A dead version pruning cannot reach (a broken chain):
					 * left for a later prune, never frozen (heap freezes no
					 * dead tuple).
					 */
					recently_dead += 1;
					all_visible = false;
					has_dead = true;
					continue;
				case HEAPTUPLE_LIVE:
					live += 1;
					if (all_visible)
						all_visible = xmin_visible_to_all(tup.t_data, oldest_xmin, &cutoff);
					break;
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					live += 1;
					all_visible = false;
					break;
				case HEAPTUPLE_RECENTLY_DEAD:
					recently_dead += 1;
					all_visible = false;
					break;
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					all_visible = false;
					break;
			}
			if (heap_prepare_freeze_tuple(tup.t_data, rel->rd_rel->relfrozenxid,
										  rel->rd_rel->relminmxid, freeze_limit,
										  multi_cutoff, &frozen[nfrozen],
										  &totally_frozen, &new_frozen_xid,
										  &new_min_mxid))
				frozen_off[nfrozen++] = off;
		}

		/*
		 * All-visible: set the flag and the map bit unless both are set.
		 * Marks that contradict the page are cleared, as heap's VACUUM
		 * does: a page with dead items marked all-visible (by the change
		 * below), a map bit set for a page not marked.
		 */
		set_visible = vis.usable && all_visible && blk >= dead.floor && maxoff > 0 &&
			(!PageIsAllVisible(page) || !VM_ALL_VISIBLE(rel, blk, &vis.vmbuf));
		clear_mark = has_dead && PageIsAllVisible(page);
		if (clear_mark)
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("page %u of table \"%s\" has dead row versions but is marked all-visible; clearing the mark",
							blk, RelationGetRelationName(rel))));
		else if (vis.usable && !all_visible && !PageIsAllVisible(page) &&
				 VM_ALL_VISIBLE(rel, blk, &vis.vmbuf))
		{
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("page %u of table \"%s\" is not marked all-visible but its visibility map bit is set; clearing the bit",
							blk, RelationGetRelationName(rel))));
			visibilitymap_clear(rel, blk, vis.vmbuf, VISIBILITYMAP_VALID_BITS);
		}
		if (set_visible || (PageIsAllVisible(page) && !clear_mark))
			vis.all_visible++;

		if (nfrozen > 0 || prunes || set_visible || clear_mark)
		{
			/* freezing hides nothing; dead items clear a wrong mark */
			AegisPageChange *chg = has_dead ? AegisWalPageBegin(rel, buf) :
				AegisWalPageBeginKeepVisible(rel, buf);

			if (set_visible)
				AegisWalPageSetVisible(chg, vis.vmbuf, cutoff);

			/* as heap's prune and freeze records: standby queries conflict */
			AegisWalPageConflict(chg, plan.latest_removed);
			if (nfrozen > 0)
			{
				TransactionId horizon = freeze_limit;

				TransactionIdRetreat(horizon);
				AegisWalPageConflict(chg, horizon);
			}
			START_CRIT_SECTION();
			for (int i = 0; i < nfrozen; i++)
				heap_execute_freeze_tuple((HeapTupleHeader) PageGetItem(page, PageGetItemId(page, frozen_off[i])),
										  &frozen[i]);
			/* no snapshot can see what pruning removes: at once */
			AegisPruneApply(page, &plan);
			/* moving tuples needs the only pin; else a later prune compacts */
			if (prunes && AegisBufferIsCleanupOK(buf))
				AegisWalPageCompact(chg);
			else if (prunes)
				PageSetHasFreeLinePointers(page);
			((PageHeader) page)->pd_prune_xid = plan.new_prune_xid;
			PageClearFull(page);	/* as heap_page_prune: pruned now */
			AegisBufferMarkDirty(buf);
			AegisWalPageLog(chg);
			END_CRIT_SECTION();
		}
		AegisBufferUnlockRelease(buf);
	}
	reap_dead_items(rel, &key, indrels, nindexes, stats, &dead, &vis, live, bstrategy,
					dead.floor > 0 && nindexes > 0);
	if (BufferIsValid(vis.vmbuf))
		ReleaseBuffer(vis.vmbuf);
	if (dead.floor > 0 && !dead.skip_indexes)
		AegisStorageClearFloor(&key, dead.floor);

	for (int ix = 0; ix < nindexes && !dead.skip_indexes; ix++)
	{
		IndexVacuumInfo ivinfo = index_vacuum_info(indrels[ix], live, false, bstrategy);

		stats[ix] = index_vacuum_cleanup(&ivinfo, stats[ix]);
		if (stats[ix] && !stats[ix]->estimated_count)
			vac_update_relstats(indrels[ix], stats[ix]->num_pages, stats[ix]->num_index_tuples,
								0, false, InvalidTransactionId, InvalidMultiXactId,
								NULL, NULL, false);
	}

	scanned = npages;
	if (dead.floor == 0 && !dead.failsafe)
		npages = truncate_empty_tail(rel, &key, npages, params, verbose);
	AegisPageNoteStub(rel, npages);
	if (npages < scanned && vis.usable)
	{
		/* pages cut: count what the map says, as heap_vacuum_rel does */
		BlockNumber counted;

		visibilitymap_count(rel, &counted, NULL);
		vis.all_visible = counted;
	}
	vac_update_relstats(rel, npages, live, Min(vis.all_visible, npages), nindexes > 0,
						new_frozen_xid, new_min_mxid, NULL, NULL, false);
	pgstat_report_vacuum(RelationGetRelid(rel), rel->rd_rel->relisshared,
						 (PgStat_Counter) live, (PgStat_Counter) recently_dead);
	report_vacuum(rel, params, verbose, start, &ru0, &buf0, &wal0, scanned, npages, removed,
				  live, recently_dead, Min(vis.all_visible, npages), oldest_xmin, new_frozen_xid,
				  indrels, nindexes, stats, dead.index_scans);
	vac_close_indexes(nindexes, indrels, NoLock);
}
