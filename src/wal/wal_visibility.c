/*-------------------------------------------------------------------------
 *
 * wal_visibility.c
 *	  All-visible aegis pages and PostgreSQL's visibility map.
 *
 * An aegis page whose row versions are all visible to every snapshot,
 * present and future, carries PD_ALL_VISIBLE in its page header, and the
 * ALL_VISIBLE bit of that page is set in the visibility map fork of the
 * table's PostgreSQL storage stub (VISIBILITYMAP_FORKNUM, in visibilitymap.c's
 * format: two bits per page).  PostgreSQL reads that map itself: index-only
 * scans skip the table for such pages (VM_ALL_VISIBLE), bitmap scans that
 * need no column skip the fetch, and the planner's allvisfrac comes from
 * relallvisible.  Aegis's own sequential scans skip the per-tuple
 * visibility check on such pages, as heapgetpage does.
 *
 * The rules are heap's (the header comment of visibilitymap.c):
 *
 *   - Only VACUUM sets the flag and the bit, with the page exclusively
 *     locked, after checking every version, in one logged page change
 *     (AegisWalPageSetVisible); redo of that XLOG_AEGIS_PAGE record
 *     (AEGIS_PAGE_VM_SET) sets both.  The map page is stamped with the
 *     record's LSN, so it never reaches disk before the record.
 *   - Every other change of a page's row versions clears both, in the same
 *     critical section: AegisWalPageBegin pins the map page while the page
 *     is all-visible, AegisWalPageLog clears.  Its record says so
 *     (AEGIS_PAGE_VM_CLEARED) and redo clears the bit whatever the page's
 *     LSN, as heap's redo does.  Row locks, freezing and a prune that only
 *     defragments keep both (AegisWalPageBeginKeepVisible): they hide no
 *     version.
 *   - Only tables of the local storage backend use the map: the pages of a
 *     memory-backend table vanish at a restart, its map fork would not.
 *
 * This file knows the map's on-disk layout only to set a bit outside
 * recovery (visibilitymap_set insists on a heap buffer there); everything
 * else goes through visibilitymap.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/visibilitymap.h"
#include "access/xlogutils.h"
#include "aegis/wal.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/rel.h"

/* visibilitymap.c's layout: pages covered by one map page, bits per page */
#define VM_MAP_BYTES			(BLCKSZ - MAXALIGN(SizeOfPageHeaderData))
#define VM_PAGES_PER_BYTE		(BITS_PER_BYTE / BITS_PER_HEAPBLOCK)
#define VM_PAGES_PER_MAP_PAGE	(VM_MAP_BYTES * VM_PAGES_PER_BYTE)

/*
 * AegisVmPinIfExists
 *		Pin the visibility map page that covers page 'pageno' of 'rel', if
 *		the map fork has it; InvalidBuffer if not (then no bit is set).
 *		Never extends the map, so it may be called with an aegis page
 *		content lock held.  A map size this backend cached that covers the
 *		page is trusted, as vm_readbuf trusts it: the map only shrinks under
 *		AccessExclusiveLock, and the truncation's smgr invalidation reached
 *		this backend when it locked 'rel'.  A cached size that does not
 *		cover it is read afresh (smgrexists closes and reopens the fork, an
 *		lseek follows): another backend's VACUUM may have extended the map
 *		since, and its invalidation may not have been processed yet.
 */
Buffer
AegisVmPinIfExists(Relation rel, BlockNumber pageno)
{
	SMgrRelation srel = RelationGetSmgr(rel);
	BlockNumber mapblk = pageno / VM_PAGES_PER_MAP_PAGE;
	BlockNumber cached = srel->smgr_cached_nblocks[VISIBILITYMAP_FORKNUM];
	Buffer		vmbuf = InvalidBuffer;

	if ((cached == InvalidBlockNumber || cached <= mapblk) &&
		(!smgrexists(srel, VISIBILITYMAP_FORKNUM) ||
		 smgrnblocks(srel, VISIBILITYMAP_FORKNUM) <= mapblk))
		return InvalidBuffer;
	visibilitymap_pin(rel, pageno, &vmbuf);
	return vmbuf;
}

/*
 * AegisVmSetAllVisible
 *		Set the ALL_VISIBLE bit of page 'pageno' in the map page 'vmbuf'
 *		(pinned, from visibilitymap_pin) and stamp that map page with 'lsn',
 *		the end of the record that set PD_ALL_VISIBLE (InvalidXLogRecPtr for
 *		a relation that writes no WAL).  Takes the map page's content lock;
 *		may run in a critical section.
 */
void
AegisVmSetAllVisible(Buffer vmbuf, BlockNumber pageno, XLogRecPtr lsn)
{
	uint32		byte = (pageno % VM_PAGES_PER_MAP_PAGE) / VM_PAGES_PER_BYTE;
	int			shift = (pageno % VM_PAGES_PER_BYTE) * BITS_PER_HEAPBLOCK;
	Page		page;
	uint8	   *map;

	Assert(BufferGetBlockNumber(vmbuf) == pageno / VM_PAGES_PER_MAP_PAGE);
	LockBuffer(vmbuf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(vmbuf);
	map = (uint8 *) PageGetContents(page);
	map[byte] |= VISIBILITYMAP_ALL_VISIBLE << shift;
	MarkBufferDirty(vmbuf);
	if (!XLogRecPtrIsInvalid(lsn))
		PageSetLSN(page, lsn);
	LockBuffer(vmbuf, BUFFER_LOCK_UNLOCK);
}

/*
 * AegisVmClearRange
 *		Clear the visibility map bits of pages [from, to) of 'rel' (a real or
 *		fake relcache entry of the stub), without extending the map: VACUUM
 *		and redo of XLOG_AEGIS_EMPTY, whose pages become empty (an insert
 *		clears a page's bits only if the page says it is all-visible).  Not
 *		logged: the EMPTY record covers it, as heap records cover the bits
 *		they clear.
 */
void
AegisVmClearRange(Relation rel, BlockNumber from, BlockNumber to)
{
	Buffer		vmbuf = InvalidBuffer;

	if (!smgrexists(RelationGetSmgr(rel), VISIBILITYMAP_FORKNUM))
		return;
	for (BlockNumber p = from; p < to; p++)
	{
		if (visibilitymap_get_status(rel, p, &vmbuf) != 0)
			visibilitymap_clear(rel, p, vmbuf, VISIBILITYMAP_VALID_BITS);
	}
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
}

/*
 * AegisVmRedo
 *		Redo's part in the map (startup process): set ('set') or clear the
 *		bits of page 'pageno' of the relation 'key', whose stub lives in
 *		tablespace 'spc', extending the map if needed, as heap_xlog_visible
 *		and heap's insert/update/delete redo do.  'lsn' is the record's end;
 *		a set stamps the map page with it.
 */
void
AegisVmRedo(const AegisRelKey *key, Oid spc, BlockNumber pageno, XLogRecPtr lsn, bool set)
{
	RelFileNode rnode;
	Relation	reln;
	Buffer		vmbuf = InvalidBuffer;

	rnode.spcNode = spc;
	rnode.dbNode = key->dbOid;
	rnode.relNode = key->relNumber;
	reln = CreateFakeRelcacheEntry(rnode);
	visibilitymap_pin(reln, pageno, &vmbuf);
	if (set)
		visibilitymap_set(reln, pageno, InvalidBuffer, lsn, vmbuf,
						  InvalidTransactionId, VISIBILITYMAP_ALL_VISIBLE);
	else
		visibilitymap_clear(reln, pageno, vmbuf, VISIBILITYMAP_VALID_BITS);
	ReleaseBuffer(vmbuf);
	FreeFakeRelcacheEntry(reln);
}
