/*-------------------------------------------------------------------------
 *
 * page_space.c
 *	  Where an insert goes: free-space search over aegis pages, and placing
 *	  a heap-format tuple on a page.
 *
 * The search tries, in order, the page this backend inserted into last
 * (PostgreSQL's per-relation target block), the relation's last page (so
 * room left by other sessions' inserts is used), then extends the relation.
 * A candidate page without room is pruned first (AegisPagePrune) if a deleter
 * on it may be old enough.  Space freed by VACUUM is found through the
 * relation's free-space hint
 * (the lowest page VACUUM freed space on, kept in the relation directory),
 * which walks forward past pages that turn out to be full.
 *
 * Extending the relation also keeps its PostgreSQL storage stub at least as
 * long as the relation (DESIGN.md invariant 2), growing it sparsely in
 * chunks of AEGIS_STUB_CHUNK pages under the relation extension lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "aegis/backend.h"
#include "aegis/page.h"
#include "aegis/wal.h"
#include "aegis/transaction.h"
#include "access/relation.h"
#include "access/xact.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "storage/bufpage.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define AEGIS_STUB_CHUNK 128	/* pages (1 MB): stub growth step */

/*
 * The pages a stub grown to cover 'npages' pages gets: 'npages' rounded up
 * to the next AEGIS_STUB_CHUNK pages, 0 for an empty relation.
 */
static BlockNumber
stub_chunk_pages(BlockNumber npages)
{
	if (npages == 0)
		return 0;
	return ((npages - 1) / AEGIS_STUB_CHUNK + 1) * AEGIS_STUB_CHUNK;
}

/*
 * Relations whose stub this transaction grew (Oids, TopTransactionContext):
 * AegisPageTrimStubs cuts them to their pages before commit.
 */
static List *stubs_grown = NIL;

/* Remember 'rel' for AegisPageTrimStubs. */
static void
note_stub_grown(Relation rel)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	stubs_grown = list_append_unique_oid(stubs_grown, RelationGetRelid(rel));
	MemoryContextSwitchTo(old);
}

/* Grow the stub of 'rel' to cover 'npages' pages; extension lock held. */
static void
extend_stub_locked(Relation rel, BlockNumber npages)
{
	SMgrRelation srel = RelationGetSmgr(rel);
	BlockNumber want = stub_chunk_pages(npages);
	PGAlignedBlock zero;

	if (smgrnblocks(srel, MAIN_FORKNUM) >= npages)
		return;
	memset(zero.data, 0, BLCKSZ);
	/* one block at the end: md.c leaves the rest as a hole */
	smgrextend(srel, MAIN_FORKNUM, want - 1, zero.data, true);
	/* redo extends it too (a standby's and a recovered stub) */
	if (RelationNeedsWAL(rel))
		AegisWalLogStub(&rel->rd_node, want);
	note_stub_grown(rel);
}

/*
 * AegisPageExtendStub
 *		Grow the PostgreSQL stub of 'rel' so that it covers pages [0,
 *		npages), to stub_chunk_pages(npages) pages, sparsely (one zero
 *		block written at the end), and log it so that redo grows it too;
 *		before commit AegisPageTrimStubs cuts it to the relation's pages.
 *		Takes the relation extension lock: never call it with a content
 *		lock held.  Raises md.c's I/O errors (a full disk).
 */
void
AegisPageExtendStub(Relation rel, BlockNumber npages)
{
	LockRelationForExtension(rel, ExclusiveLock);
	extend_stub_locked(rel, npages);
	UnlockRelationForExtension(rel, ExclusiveLock);
}

/*
 * Cut the main fork of the stub 'srel' of 'rel' from 'have' to 'npages'
 * pages.  Within one segment the file is cut in place (ftruncate): unlike
 * smgrtruncate, no scan of shared_buffers (a stub's blocks are never read
 * into them); across a segment boundary, smgrtruncate.  A failure is only
 * a WARNING: a stub longer than its relation is harmless.
 */
static void
cut_stub(Relation rel, SMgrRelation srel, BlockNumber have, BlockNumber npages)
{
	BlockNumber segno = npages / RELSEG_SIZE;
	char	   *path;
	char	   *segpath;
	int			fd;

	if ((have - 1) / RELSEG_SIZE != segno)
	{
		ForkNumber	fork = MAIN_FORKNUM;

		smgrtruncate(srel, &fork, 1, &npages);
		return;
	}
	path = relpathbackend(rel->rd_node, rel->rd_backend, MAIN_FORKNUM);
	segpath = segno == 0 ? path : psprintf("%s.%u", path, segno);
	fd = OpenTransientFile(segpath, O_RDWR | PG_BINARY);
	if (fd < 0 || ftruncate(fd, (off_t) (npages - segno * RELSEG_SIZE) * BLCKSZ) < 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not cut the storage stub \"%s\" to %u blocks: %m",
						segpath, npages)));
	if (fd >= 0)
		CloseTransientFile(fd);
	/* md.c trusts a cached size only in recovery; forget it anyway */
	srel->smgr_cached_nblocks[MAIN_FORKNUM] = InvalidBlockNumber;
}

/*
 * Cut the stub of 'rel' to the relation's pages, if it is longer and 'rel'
 * has aegis storage.
 */
static void
trim_stub(Relation rel)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	AegisRelInfo info;
	SMgrRelation srel;
	BlockNumber have;

	/* the record would wait for the checkpoint guards: keep it longer */
	if (RelationNeedsWAL(rel) && !AegisWalIsGuarded())
		return;
	LockRelationForExtension(rel, ExclusiveLock);
	srel = RelationGetSmgr(rel);
	if (AegisStorageGetInfo(&key, &info) && smgrexists(srel, MAIN_FORKNUM) &&
		(have = smgrnblocks(srel, MAIN_FORKNUM)) > info.npages)
	{
		if (RelationNeedsWAL(rel))
			AegisWalLogStubTrim(&rel->rd_node, info.npages);
		cut_stub(rel, srel, have, info.npages);
		/*
		 * Another backend may have added a page after we read the count and
		 * checked the stub before we cut it (it adds pages without this
		 * lock): look again, and grow the stub back over it.
		 */
		if (AegisStorageGetInfo(&key, &info))
			extend_stub_locked(rel, info.npages);
	}
	UnlockRelationForExtension(rel, ExclusiveLock);
}

/*
 * AegisPageTrimStubs
 *		At the end of every statement and before commit (or PREPARE): cut
 *		the stub of every relation whose stub grew since to exactly its
 *		pages, so that pg_relation_size is pages x BLCKSZ, as heap's, also
 *		later in the same transaction (inserts grow stubs by 128-page
 *		chunks).
 *		Relations dropped meanwhile are skipped.  Raises only what taking the
 *		extension lock or writing WAL raises.
 */
void
AegisPageTrimStubs(void)
{
	ListCell   *lc;

	if (stubs_grown == NIL || !IsTransactionState())
		return;
	foreach(lc, stubs_grown)
	{
		Relation	rel = try_relation_open(lfirst_oid(lc), NoLock);

		if (rel == NULL)
			continue;
		/* a relation with no aegis storage (a new access method) is left alone */
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
			trim_stub(rel);
		relation_close(rel, NoLock);
	}
	list_free(stubs_grown);
	stubs_grown = NIL;
}

/*
 * AegisPageNoteStub
 *		Have the commit cut the stub of 'rel' if it is longer than 'npages',
 *		the relation's pages (VACUUM: a stub grown by a statement that
 *		failed stays longer until then).
 */
void
AegisPageNoteStub(Relation rel, BlockNumber npages)
{
	SMgrRelation srel = RelationGetSmgr(rel);

	if (smgrexists(srel, MAIN_FORKNUM) && smgrnblocks(srel, MAIN_FORKNUM) > npages)
		note_stub_grown(rel);
}

/* AegisPageForgetStubs: at transaction end (its list went with its memory). */
void
AegisPageForgetStubs(void)
{
	stubs_grown = NIL;
}

/* Is there room for 'len' more bytes of tuple on the locked page? */
static bool
page_has_room(Page page, Size len)
{
	return PageGetHeapFreeSpace(page) >= MAXALIGN(len);
}

/*
 * AegisPageGetBufferForTuple
 *		Return a pinned, exclusively locked buffer of 'rel' with room for a
 *		tuple of 'len' bytes (target page, free-space hint, last page, else
 *		a new page; a full candidate is pruned first if it can be).  As in
 *		RelationGetBufferForTuple, an existing page must keep the free space
 *		the table's fillfactor reserves; a new page takes any tuple.  Raises
 *		ERRCODE_PROGRAM_LIMIT_EXCEEDED if no page can hold such a tuple, and
 *		ERRCODE_DISK_FULL if 'rel' is a memory-backend table and the memory
 *		backend is full (AegisBufferCheckRoom).
 */
AegisBuffer
AegisPageGetBufferForTuple(Relation rel, Size len)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	BlockNumber npages;
	BlockNumber floor;
	BlockNumber candidates[3];
	AegisBuffer buf;
	BlockNumber pageno;
	Size		save = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
	Size		nearly_empty = MaxHeapTupleSize - (MaxHeapTuplesPerPage / 8 * sizeof(ItemIdData));
	Size		need;

	if (len > MaxHeapTupleSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu",
						len, (Size) MaxHeapTupleSize)));
	/* a nearly empty page always qualifies (hio.c's nearlyEmptyFreeSpace) */
	need = MAXALIGN(len);
	need = (need + save > nearly_empty) ? Max(need, nearly_empty) : need + save;

	candidates[1] = AegisStorageFreeHint(&key, InvalidBlockNumber, &npages, &floor);
	candidates[0] = RelationGetTargetBlock(rel);
	candidates[2] = npages > 0 ? npages - 1 : InvalidBlockNumber;
	for (int i = 0; i < 3; i++)
	{
		BlockNumber p = candidates[i];

		/* after a crash, no new tuple below the floor (AegisStorageSettle) */
		while (p != InvalidBlockNumber && p < npages && p >= floor)
		{
			/* the hint is tried even if it is the target: a miss advances it */
			if (i == 2 && (p == candidates[0] || p == candidates[1]))
				break;
			buf = AegisBufferReadRel(rel, &key, p);
			AegisBufferLock(buf, LW_EXCLUSIVE);
			if (page_has_room(AegisBufferGetPage(buf), need) ||
				(AegisPagePrune(rel, buf) && page_has_room(AegisBufferGetPage(buf), need)))
			{
				RelationSetTargetBlock(rel, p);
				AegisBufferCheckRoom(buf);
				return buf;
			}
			AegisBufferUnlockRelease(buf);
			/* walk the free-space hint forward past full pages */
			p = (i == 1) ? AegisStorageFreeHint(&key, p, NULL, NULL) : InvalidBlockNumber;
		}
	}

	/*
	 * A table about to grow past a dictionary size has its compression
	 * dictionary trained, by a background worker (src/wal/wal_dict.c); no
	 * content lock is held here.
	 */
	if (AegisWalDictDue(npages))
		AegisWalDictRequest(rel, &key);
	buf = AegisBufferExtend(&key, &pageno);
	/*
	 * A new chunk, or a stub cut to the relation's pages at the end of a
	 * statement (AegisPageTrimStubs); one lseek per new page.
	 */
	if (pageno % AEGIS_STUB_CHUNK == 0 ||
		smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM) <= pageno)
	{
		/* the stub's extension lock must not be waited for under a content lock */
		AegisBufferUnlock(buf);
		AegisPageExtendStub(rel, pageno + 1);
		AegisBufferLock(buf, LW_EXCLUSIVE);
	}
	if (!page_has_room(AegisBufferGetPage(buf), len))
	{
		/* only possible if another backend filled our new page meanwhile */
		AegisBufferUnlockRelease(buf);
		return AegisPageGetBufferForTuple(rel, len);
	}
	RelationSetTargetBlock(rel, pageno);
	AegisBufferCheckRoom(buf);
	/* pages a bulk insert left behind: an I/O worker compresses them now */
	AegisBufferWriteBehind(rel, &key, pageno);
	return buf;
}

/*
 * AegisPagePutTuple
 *		Place 'tuple' on the exclusively locked page of 'buf' and set its
 *		t_self (and the on-page t_ctid) to its new TID.  Call inside a
 *		critical section; the caller marks the buffer dirty.
 */
OffsetNumber
AegisPagePutTuple(Relation rel, AegisBuffer buf, HeapTuple tuple)
{
	Page		page = AegisBufferGetPage(buf);
	OffsetNumber off;
	HeapTupleHeader onpage;

	off = PageAddItem(page, (Item) tuple->t_data, tuple->t_len,
					  InvalidOffsetNumber, false, true);
	if (off == InvalidOffsetNumber)
		elog(PANIC, "failed to add tuple to aegis page %u of \"%s\"",
			 AegisBufferGetPageNo(buf), RelationGetRelationName(rel));
	ItemPointerSet(&tuple->t_self, AegisBufferGetPageNo(buf), off);
	/* a speculative tuple keeps its token in t_ctid until it is finished */
	onpage = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
	if (!HeapTupleHeaderIsSpeculative(onpage))
		onpage->t_ctid = tuple->t_self;
	return off;
}
