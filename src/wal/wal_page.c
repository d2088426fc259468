/*-------------------------------------------------------------------------
 *
 * wal_page.c
 *	  WAL records for page changes (byte-range deltas) in PostgreSQL's WAL
 *	  stream, and their redo.
 *
 * Every change to an aegis page of a WAL-logged relation is logged as the
 * difference between the page before and after the change, like
 * PostgreSQL's generic WAL (access/transam/generic_xlog.c): a list of
 * (offset, length, bytes) regions, in an XLOG_AEGIS_PAGE_PACKED record of our
 * custom resource manager.  Redo applies the regions to the page as
 * recovery finds it, which equals the page as it was before the change,
 * except possibly for hint bits (they are set without WAL).  Two rules keep
 * that difference harmless:
 *
 * - Defragmentation moves tuples, so it is not logged as bytes: the record
 *   says "compact here" (AEGIS_PAGE_COMPACT, between a delta before and
 *   one after), and redo runs the same deterministic compaction.
 * - Compaction zeroes the hole between pd_lower and pd_upper, and a new page
 *   has a zero hole, so the hole holds zeros on every page: bytes a later
 *   insert writes there never depend on what was there before.
 *
 * With PostgreSQL's wal_compression set (to any method: heap compresses its
 * full-page images with it), deltas of AEGIS_WAL_COMPRESS_MIN bytes or more
 * (new pages filled by COPY, compactions) are stored LZ4-compressed when
 * that saves space.  With it off, the default, they are not, as heap's
 * records are not: compressing them in the inserting backend had made a
 * COPY 6-8% slower than heap's (WAL 0.51x heap's, against 1.14x
 * uncompressed, for flights_wide).
 *
 * The page LSN is the end LSN of the last record that changed it, as for
 * heap pages; redo skips a record whose end LSN is not beyond the page LSN,
 * which makes it idempotent.  pd_lsn itself is never part of a delta.  A
 * record that removes row versions (pruning, VACUUM, freezing) carries the
 * newest xid they may be visible to, and its redo resolves the conflict
 * with hot standby queries first (ResolveRecoveryConflictWithSnapshot), as
 * heap's prune and freeze records do.
 *
 * Callers hold the buffer's exclusive content lock across Begin .. Log and
 * make the change, the MarkDirty and the Log inside one critical section.
 * This file also owns the counters of aegis_wal_stats() and the gate that
 * holds back aegis WAL until the checkpoint guards run (AegisWalSetGuarded).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4.h>

#include "access/htup_details.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "access/xlogutils.h"
#include "aegis/backend.h"
#include "aegis/block.h"
#include "aegis/buffer.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "storage/standby.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define DELTA_CHUNK		8		/* bytes compared at a time */
#define DELTA_SKIP		256		/* bytes compared at once to skip what is equal */
#define GUARD_WAIT_MS	60000	/* how long a writer waits for the guards */

/*
 * Shared counters, and the gate (see AegisWalSetGuarded).  The gate is read
 * by every change and index fetch and written about never: it has a cache
 * line of its own, apart from the counters every record updates (sharing
 * one, each record made every other core's next read of the gate miss).
 */
typedef struct AegisWalShared
{
	pg_atomic_uint32 guarded;	/* checkpoints wait for aegis: writes may go */
	pg_atomic_uint32 ever_guarded;	/* writes went since the server started */
	char		pad[PG_CACHE_LINE_SIZE - 2 * sizeof(pg_atomic_uint32)];
	pg_atomic_uint64 records;
	pg_atomic_uint64 bytes;
	pg_atomic_uint64 page_records;
	pg_atomic_uint64 compressed_records;
} AegisWalShared;

static AegisWalShared *WalShared = NULL;

Size
AegisWalShmemSize(void)
{
	return sizeof(AegisWalShared);
}

/* AegisWalShmemInit: postmaster, under AddinShmemInitLock. */
void
AegisWalShmemInit(void)
{
	bool		found;

	WalShared = ShmemInitStruct("aegis wal", sizeof(AegisWalShared), &found);
	if (found)
		return;
	pg_atomic_init_u32(&WalShared->guarded, 0);
	pg_atomic_init_u32(&WalShared->ever_guarded, 0);
	pg_atomic_init_u64(&WalShared->records, 0);
	pg_atomic_init_u64(&WalShared->bytes, 0);
	pg_atomic_init_u64(&WalShared->page_records, 0);
	pg_atomic_init_u64(&WalShared->compressed_records, 0);
}

/*
 * AegisWalSetGuarded
 *		The checkpoint guards (src/checkpoint) say whether PostgreSQL's
 *		checkpoints currently wait for aegis pages to be durable.  Until they
 *		do, no aegis WAL is written (AegisWalWaitGuarded), so no checkpoint
 *		can complete with an aegis change before its redo pointer that is
 *		not durable (DESIGN.md invariant 6).
 */
void
AegisWalSetGuarded(bool guarded)
{
	pg_atomic_write_u32(&WalShared->guarded, guarded ? 1 : 0);
	if (guarded)
		pg_atomic_write_u32(&WalShared->ever_guarded, 1);
}

/*
 * AegisWalWasGuarded: were aegis WAL writes allowed at some point since the
 * server started (so a guard leaving may leave changes uncovered)?
 */
bool
AegisWalWasGuarded(void)
{
	return pg_atomic_read_u32(&WalShared->ever_guarded) != 0;
}

/*
 * AegisWalCheckGuarded
 *		Raise an error if aegis WAL may not be written now; for callers that
 *		hold a content lock and must not wait (they passed
 *		AegisWalWaitGuarded earlier in the statement).
 */
void
AegisWalCheckGuarded(void)
{
	if (unlikely(pg_atomic_read_u32(&WalShared->guarded) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("aegis checkpoint guards are not running"),
				 errhint("The server is shutting down or restarting; retry.")));
}

/* AegisWalIsGuarded: do PostgreSQL's checkpoints wait for aegis now? */
bool
AegisWalIsGuarded(void)
{
	return pg_atomic_read_u32(&WalShared->guarded) != 0;
}

/*
 * AegisWalWaitGuarded
 *		Wait until aegis WAL may be written: during recovery nothing is
 *		written; otherwise wait for the checkpoint guards (normally already
 *		running: they start with the server).  Raises an error after
 *		GUARD_WAIT_MS if they do not come.  Outside critical sections only.
 */
void
AegisWalWaitGuarded(void)
{
	int			waited = 0;

	if (likely(pg_atomic_read_u32(&WalShared->guarded) != 0))
		return;
	while (pg_atomic_read_u32(&WalShared->guarded) == 0)
	{
		if (waited >= GUARD_WAIT_MS)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("aegis checkpoint guards are not running"),
					 errdetail("Changes to aegis tables wait for the background workers that make PostgreSQL's checkpoints cover aegis pages."),
					 errhint("Make sure max_worker_processes leaves room for the three aegis background workers, and check the server log.")));
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		waited += 10;
	}
}

/* AegisWalCount: one record of 'bytes' payload bytes was inserted. */
void
AegisWalCount(Size bytes, bool page, bool compressed)
{
	pg_atomic_fetch_add_u64(&WalShared->records, 1);
	pg_atomic_fetch_add_u64(&WalShared->bytes, bytes);
	if (page)
		pg_atomic_fetch_add_u64(&WalShared->page_records, 1);
	if (compressed)
		pg_atomic_fetch_add_u64(&WalShared->compressed_records, 1);
}

/* AegisWalGetCounters: figures for aegis_wal_stats(). */
void
AegisWalGetCounters(AegisWalCounters *counters)
{
	counters->records = pg_atomic_read_u64(&WalShared->records);
	counters->bytes = pg_atomic_read_u64(&WalShared->bytes);
	counters->page_records = pg_atomic_read_u64(&WalShared->page_records);
	counters->compressed_records = pg_atomic_read_u64(&WalShared->compressed_records);
}

/*
 * AegisRelNeedsWal
 *		Does a change to 'rel' need aegis WAL?  Exactly when PostgreSQL would
 *		log a change to a heap relation (RelationNeedsWAL: permanent, and not
 *		created in this transaction under wal_level = minimal) and the
 *		relation uses the local storage backend; memory storage is volatile
 *		(invariant 9).  The storage backend is cached in rel->rd_amcache.
 */
bool
AegisRelNeedsWal(Relation rel)
{
	if (!RelationNeedsWAL(rel))
		return false;
	return AegisRelGetCache(rel)->local;
}

/*
 * AegisVmUsable
 *		Does 'rel' keep a visibility map (wal_visibility.c)?  Tables of the
 *		local storage backend do (permanent, unlogged and temporary alike);
 *		memory-backend pages vanish at a restart, a map fork would not.
 */
bool
AegisVmUsable(Relation rel)
{
	return AegisRelGetCache(rel)->local;
}

static void report_bad_record(XLogReaderState *record, const char *what);

/* The attribute layout of rel's tuples (natts 0 if it has too many). */
static void
layout_of(Relation rel, AegisPageLayout *layout)
{
	TupleDesc	desc = RelationGetDescr(rel);

	memset(layout, 0, sizeof(*layout));
	if (desc->natts > AEGIS_PAX_MAX_ATTS)
		return;
	layout->natts = desc->natts;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		layout->attlen[a] = att->attlen;
		layout->attalign[a] = att->attalign;
	}
}

/*
 * AegisWalPublishLayout
 *		Tell the relation directory the attribute layout of rel's tuples
 *		for storage 'key' (rel's, or new storage being filled with them),
 *		which lets its pages be stored in column-major form
 *		(src/block/block_pax.c).  Tables of more columns than a layout
 *		holds get only the rows form.
 */
void
AegisWalPublishLayout(Relation rel, const AegisRelKey *key)
{
	AegisPageLayout layout;

	layout_of(rel, &layout);
	AegisStorageSetLayout(key, &layout);
}

/*
 * AegisWalLogLayout
 *		Log the attribute layout of storage 'key' (XLOG_AEGIS_REL_INFO) and
 *		record it in the relation directory as logged; returns the record's
 *		end LSN.  Nothing for a layout of no attributes (InvalidXLogRecPtr).
 */
XLogRecPtr
AegisWalLogLayout(const AegisRelKey *key, const AegisPageLayout *layout)
{
	xl_aegis_rel_info xlrec;
	char		atts[AEGIS_PAX_MAX_ATTS * 3];
	XLogRecPtr	end;

	if (layout->natts <= 0 || layout->natts > AEGIS_PAX_MAX_ATTS)
		return InvalidXLogRecPtr;
	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.kind = AEGIS_REL_INFO_LAYOUT;
	xlrec.natts = layout->natts;
	for (int a = 0; a < layout->natts; a++)
	{
		memcpy(atts + 3 * a, &layout->attlen[a], 2);
		atts[3 * a + 2] = layout->attalign[a];
	}
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, sizeof(xlrec));
	XLogRegisterData(atts, 3 * layout->natts);
	end = XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_REL_INFO);
	AegisWalCount(sizeof(xlrec) + 3 * layout->natts, false, false);
	AegisStorageSetLayoutLogged(key, layout, end);
	return end;
}

/*
 * Before the first logged change to 'rel' after a redo pointer, make sure
 * its layout was logged since (AegisWalLogLayout): by this backend (its
 * relcache entry remembers the redo pointer) or by another one (the
 * directory remembers the record).  The redo pointer is this backend's
 * copy (GetFullPageWriteInfo), possibly a checkpoint behind: then the
 * record comes at the next change, and redo of the changes between stores
 * their pages in the rows form, which is only larger.
 */
static void
ensure_layout_logged(Relation rel)
{
	AegisRelWalCache *c = AegisRelGetCache(rel);
	XLogRecPtr	redo;
	bool		fpw;
	AegisRelKey key;
	AegisPageLayout layout;

	GetFullPageWriteInfo(&redo, &fpw);
	if (c->layout_redo == redo)
		return;
	key = AegisRelKeyOf(rel);
	layout_of(rel, &layout);
	if (layout.natts > 0 && !AegisStorageLayoutLogged(&key, &layout, redo))
		(void) AegisWalLogLayout(&key, &layout);
	c->layout_redo = redo;
}

/*
 * AegisWalRelInfoRedo
 *		Replay XLOG_AEGIS_REL_INFO: record the layout in the relation
 *		directory (no storage: nothing to do).
 */
void
AegisWalRelInfoRedo(XLogReaderState *record)
{
	xl_aegis_rel_info xlrec;
	AegisPageLayout layout;
	const char *atts = XLogRecGetData(record) + sizeof(xlrec);

	if (XLogRecGetDataLen(record) < sizeof(xlrec))
		report_bad_record(record, "is too short");
	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	if (xlrec.kind != AEGIS_REL_INFO_LAYOUT)
		ereport(PANIC,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis WAL record at %X/%X has unknown relation information kind %u",
						LSN_FORMAT_ARGS(record->ReadRecPtr), xlrec.kind),
				 errhint("The WAL was written by a newer version of aegis_storage.")));
	if (xlrec.natts <= 0 || xlrec.natts > AEGIS_PAX_MAX_ATTS ||
		XLogRecGetDataLen(record) != sizeof(xlrec) + 3 * xlrec.natts)
		report_bad_record(record, "has an invalid layout");
	memset(&layout, 0, sizeof(layout));
	layout.natts = xlrec.natts;
	for (int a = 0; a < xlrec.natts; a++)
	{
		memcpy(&layout.attlen[a], atts + 3 * a, 2);
		layout.attalign[a] = atts[3 * a + 2];
	}
	AegisStorageSetLayoutLogged(&xlrec.key, &layout, record->EndRecPtr);
}

/* AegisWalRelInfoDesc: rm_desc of XLOG_AEGIS_REL_INFO. */
void
AegisWalRelInfoDesc(StringInfo buf, XLogReaderState *record)
{
	xl_aegis_rel_info xlrec;

	if (XLogRecGetDataLen(record) < sizeof(xlrec))
		return;
	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT "; ", AEGIS_REL_KEY_ARGS(&xlrec.key));
	if (xlrec.kind == AEGIS_REL_INFO_LAYOUT)
		appendStringInfo(buf, "layout of %d attributes", xlrec.natts);
	else
		appendStringInfo(buf, "kind %u", xlrec.kind);
}

/*
 * AegisRelGetCache
 *		Facts about 'rel' cached in rel->rd_amcache (CacheMemoryContext,
 *		freed by the relcache with the entry): whether it uses the local
 *		storage backend, its codec, and for the table AM whether it compared
 *		it with its stub (AegisTamCheckReset) and its TOAST threshold.
 *		Recomputed when the relfilenode changes and
 *		after every relcache rebuild (which frees rd_amcache); each time,
 *		the tuples' attribute layout is published (AegisWalPublishLayout).
 */
AegisRelWalCache *
AegisRelGetCache(Relation rel)
{
	AegisRelWalCache *c = (AegisRelWalCache *) rel->rd_amcache;

	if (c == NULL || c->relNumber != rel->rd_node.relNode)
	{
		AegisRelKey key = AegisRelKeyOf(rel);
		AegisRelInfo info;

		if (c == NULL)
		{
			c = MemoryContextAlloc(CacheMemoryContext, sizeof(AegisRelWalCache));
			rel->rd_amcache = c;
		}
		c->relNumber = rel->rd_node.relNode;
		if (AegisStorageGetInfo(&key, &info))
		{
			c->local = info.storage == AEGIS_STORAGE_LOCAL;
			c->codec = info.codec;
		}
		else
		{
			c->local = false;
			c->codec = AEGIS_CODEC_NONE;
		}
		c->toast_threshold = 0;
		c->reset_checked = false;
		c->layout_redo = InvalidXLogRecPtr;
		AegisWalPublishLayout(rel, &key);
	}
	return c;
}

/* a copy region (up to 7 bytes packed) pays for itself from this many bytes on */
#define DELTA_COPY_MIN	16

/*
 * Row data a new row version shares with the old one (AegisWalPageSameData):
 * the new version's data at dst (dst_len bytes) and the old version's at
 * src (src_len bytes), page offsets.  Copy regions cover the common prefix
 * and suffix.
 */
typedef struct DeltaCopy
{
	int			dst;
	int			dst_len;
	int			src;
	int			src_len;
	int			prefix;			/* bytes of dst equal to the start of src */
	int			suffix;			/* bytes of dst equal to the end of src */
} DeltaCopy;

/*
 * A delta being written: its bytes, their length, the end of the last
 * region, and the tuple headers among the bytes it may log (slots, in page
 * order; slot_before: 'before' holds what the header was), which it logs
 * as tuple header regions with the record's xid 'xid' and page 'pageno'.
 */
typedef struct DeltaOut
{
	char	   *out;
	Size		len;
	uint32		prev_end;
	const char *before;
	TransactionId xid;
	BlockNumber pageno;
	int			nslots;
	int			next_slot;		/* the first slot not passed yet */
	OffsetNumber new_lp;		/* the line pointer of the last new tuple */
	uint16		slot[MaxHeapTuplesPerPage + 1];
	bool		slot_before[MaxHeapTuplesPerPage + 1];
} DeltaOut;

/* a delta without tuple header slots */
#define DELTA_OUT_INIT(out) {(out), 0, AEGIS_DELTA_FIRST, NULL, InvalidTransactionId, 0, 0, 0}

/*
 * Append the bytes [start, end) of 'after' as literal regions, and the
 * tuple headers among them (the delta's slots) as tuple header regions
 * where those take fewer bytes: a new tuple's header, all of it written
 * over zeros, and an updated or deleted version's, whose xmax is the
 * record's xid and whose ctid is on the page, come to 8-16 bytes instead
 * of 18-23.  A slot's region covers its first AEGIS_TUPLE_REGION_LEN bytes
 * whole (every field that differs from 'before'; bytes of it a later range
 * holds are not logged again), and is taken only if it saves what a region
 * head costs before and after it (so the delta never grows).
 */
static void
put_literal(DeltaOut *d, const char *after, int start, int end)
{
	/* a tuple header region may have covered the start already */
	start = Max(start, (int) d->prev_end);
	while (d->next_slot < d->nslots &&
		   d->slot[d->next_slot] + AEGIS_TUPLE_REGION_LEN <= start)
		d->next_slot++;
	while (d->next_slot < d->nslots && d->slot[d->next_slot] < end)
	{
		int			h = d->slot[d->next_slot];
		int			covered = Min(end, h + AEGIS_TUPLE_REGION_LEN) - Max(start, h);
		const char *then = d->slot_before[d->next_slot] ? d->before + h : NULL;
		Size		before_len = d->len;
		uint32		before_end = d->prev_end;

		d->next_slot++;
		if (h < (int) d->prev_end)
			continue;
		if (start < h)
			AegisWalPutRegion(d->out, &d->len, &d->prev_end, start, h - start, after + start, 0, true);
		if (!AegisWalPutTupleHeader(d->out, &d->len, &d->prev_end, h, after + h, then,
									d->xid, d->pageno,
									covered > AEGIS_REGION_MAX_HEAD ? covered - AEGIS_REGION_MAX_HEAD : 0))
		{
			/* not worth it: back to one literal */
			d->len = before_len;
			d->prev_end = before_end;
			continue;
		}
		start = Max(start, h + AEGIS_TUPLE_REGION_LEN);
		if (start >= end)
			return;
	}
	if (end > start)
		AegisWalPutRegion(d->out, &d->len, &d->prev_end, start, end - start, after + start, 0, true);
}

/* Append one copy region: [start, end) of the page from 'src'. */
static void
put_copy(DeltaOut *d, int start, int end, int src)
{
	AegisWalPutRegion(d->out, &d->len, &d->prev_end, start, end - start, NULL, src, true);
}

/*
 * Append the changed bytes [start, end) of 'after': as one literal region,
 * or where they are the shared prefix or suffix of a new row version's data
 * ('copy'), as copy regions and literals around them.
 */
static void
put_changed(DeltaOut *d, const char *after, int start, int end, const DeltaCopy *copy)
{
	int			cuts[4];
	int			pos = start;

	if (copy == NULL)
	{
		put_literal(d, after, start, end);
		return;
	}
	/* the two copy ranges, in page order: prefix, then suffix */
	cuts[0] = copy->dst;
	cuts[1] = copy->dst + copy->prefix;
	cuts[2] = copy->dst + copy->dst_len - copy->suffix;
	cuts[3] = copy->dst + copy->dst_len;
	for (int r = 0; r < 2; r++)
	{
		int			from = Max(cuts[2 * r], pos);
		int			to = Min(cuts[2 * r + 1], end);
		int			src;

		if (from >= to || cuts[2 * r + 1] - cuts[2 * r] < DELTA_COPY_MIN)
			continue;
		src = r == 0 ? copy->src + (from - copy->dst) :
			copy->src + copy->src_len - (cuts[3] - from);
		put_literal(d, after, pos, from);
		put_copy(d, from, to, src);
		pos = to;
	}
	put_literal(d, after, pos, end);
}

/*
 * Append to 'd' the bytes of 'after' in [from, to) that differ from
 * 'before' (valid there), as regions (with 'copy', copy regions where the
 * new row version's data repeats the old one's).  False if the regions
 * would take more room than a page: the caller then logs the page whole.
 */
static bool
diff_range(DeltaOut *d, const char *before, const char *after, int from, int to,
		   const DeltaCopy *copy)
{
	int			i = from;

	while (i < to)
	{
		int			n = Min(DELTA_CHUNK, to - i);
		int			skip = Min(DELTA_SKIP - i % DELTA_SKIP, to - i);
		int			start;
		int			end;

		/*
		 * Most of a page is unchanged: skip it a block at a time, up to the
		 * next multiple of DELTA_SKIP at once.  Tried where the range starts
		 * and at each multiple only: tried at every chunk, a change late in
		 * a block made each chunk before it compare up to the change again.
		 */
		if ((i == from || i % DELTA_SKIP == 0) && skip > DELTA_CHUNK &&
			memcmp(before + i, after + i, skip) == 0)
		{
			i += skip;
			continue;
		}
		if (memcmp(before + i, after + i, n) == 0)
		{
			i += n;
			continue;
		}
		start = i;
		while (i < to && memcmp(before + i, after + i, Min(DELTA_CHUNK, to - i)) != 0)
			i += Min(DELTA_CHUNK, to - i);
		/* a change split by two copy regions takes at most five regions */
		if (d->len + (i - start) + AEGIS_REGION_MAX_HEAD * (copy ? 5 : 1) > BLCKSZ)
			return false;
		/* chunks found the change; its bytes are logged exactly */
		end = i;
		while (before[start] == after[start])
			start++;
		while (before[end - 1] == after[end - 1])
			end--;
		put_changed(d, after, start, end, copy);
	}
	return true;
}

/* Log the whole of 'after' but pd_lsn into 'd', replacing what it holds. */
static void
put_whole_page(DeltaOut *d, const char *after)
{
	d->len = 0;
	d->prev_end = AEGIS_DELTA_FIRST;
	d->nslots = 0;
	put_literal(d, after, AEGIS_DELTA_FIRST, BLCKSZ);
}

/*
 * Encode the difference between 'before' and 'after' (pages) into 'out'
 * (room for BLCKSZ + 512 bytes) as a packed delta (AegisWalApplyDelta);
 * returns its length in bytes.  With 'copy', the new row version's data is
 * copied from the old one's where they agree.  If the regions would take
 * more room than the page, one region covers it all.
 */
static uint16
compute_delta(const char *before, const char *after, char *out, const DeltaCopy *copy)
{
	DeltaOut	d = DELTA_OUT_INIT(out);

	if (!diff_range(&d, before, after, AEGIS_DELTA_FIRST, BLCKSZ, copy))
		put_whole_page(&d, after);
	return (uint16) d.len;
}

/* Are pd_lower and pd_upper of 'page' where a page's can be? */
static bool
page_sane_bounds(Page page)
{
	PageHeader	ph = (PageHeader) page;

	return ph->pd_lower >= SizeOfPageHeaderData && ph->pd_lower <= ph->pd_upper &&
		ph->pd_upper <= BLCKSZ;
}

/* qsort comparator of uint16 page offsets */
static int
cmp_offset(const void *a, const void *b)
{
	return (int) *(const uint16 *) a - (int) *(const uint16 *) b;
}

#ifdef USE_ASSERT_CHECKING
/* Did AegisWalPageAdded note every new tuple that a look at all finds? */
static bool
noted_all_added(const AegisPageChange *chg, Page page, int nslots)
{
	uint16		upper = ((PageHeader) page)->pd_upper;
	int			found = 0;

	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		uint16		at = ItemIdGetOffset(lp);

		if (ItemIdIsNormal(lp) && ItemIdGetLength(lp) >= SizeofHeapTupleHeader &&
			at >= upper && at + SizeofHeapTupleHeader <= chg->append_upper)
			found++;
	}
	return found == nslots;
}
#endif

/*
 * The tuple headers an append change's delta may log (DeltaOut's slots):
 * the new tuples' (below the page's tuples at Begin; 'before' holds zeros
 * for those in the copied free space).  The touched one is logged apart
 * (put_touched_header).  The record's xid is the one XLogInsert will log
 * (GetCurrentTransactionIdIfAny).
 */
static void
find_header_slots(const AegisPageChange *chg, const char *after, DeltaOut *d)
{
	Page		page = (Page) after;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	uint16		upper = ((PageHeader) page)->pd_upper;

	d->before = chg->before.data;
	d->xid = GetCurrentTransactionIdIfAny();
	d->pageno = AegisBufferGetPageNo(chg->buf);
	d->new_lp = InvalidOffsetNumber;
	if (upper < chg->append_upper)
	{
		/* the line pointers AegisWalPageAdded noted, else all of them */
		int			n = chg->nadded > 0 ? chg->nadded : maxoff;

		for (int i = 0; i < n; i++)
		{
			OffsetNumber off = chg->nadded > 0 ? chg->added[i] : FirstOffsetNumber + i;
			ItemId		lp;
			uint16		at;

			if (off > maxoff)
				continue;
			lp = PageGetItemId(page, off);
			at = ItemIdGetOffset(lp);
			if (ItemIdIsNormal(lp) && ItemIdGetLength(lp) >= SizeofHeapTupleHeader &&
				at >= upper && at + SizeofHeapTupleHeader <= chg->append_upper)
			{
				d->slot[d->nslots++] = at;
				if (off > d->new_lp)
					d->new_lp = off;
			}
		}
		Assert(chg->nadded <= 0 || noted_all_added(chg, page, d->nslots));
		/*
		 * PageAddItem puts each new tuple below the one before, so the
		 * slots, found in line pointer order (or in the order noted, the
		 * order of adding), are usually in descending page order: reversing them sorts them (a COPY's page of 150
		 * tuples had spent 4% of the load in qsort here).
		 */
		if (d->nslots > 1)
		{
			bool		descending = true;

			for (int i = 1; i < d->nslots && descending; i++)
				descending = d->slot[i] < d->slot[i - 1];
			if (descending)
			{
				for (int i = 0, j = d->nslots - 1; i < j; i++, j--)
				{
					uint16		t = d->slot[i];

					d->slot[i] = d->slot[j];
					d->slot[j] = t;
				}
			}
			else
				qsort(d->slot, d->nslots, sizeof(uint16), cmp_offset);
		}
		for (int i = 0; i < d->nslots; i++)
			d->slot_before[i] = d->slot[i] >= chg->append_hi_start;
	}
}

/*
 * If the change added one tuple at the top of the free space, with its
 * line pointer among the copied ones and pd_lower and pd_upper moved as
 * PageAddItem moves them, the page offset of that line pointer (the delta
 * logs it as an item region, AegisWalPutItem, and not the two bounds);
 * else 0.  After find_header_slots.
 */
static int
find_item(const AegisPageChange *chg, const char *after, const DeltaOut *d, uint32 *len)
{
	const PageHeader ph = (PageHeader) after;
	const PageHeader bh = (PageHeader) chg->before.data;
	ItemId		lp;
	int			at;

	if (d->nslots != 1 || d->slot[0] != ph->pd_upper)
		return 0;
	lp = PageGetItemId((Page) after, d->new_lp);
	at = (char *) lp - after;
	*len = ItemIdGetLength(lp);
	if (ItemIdGetOffset(lp) != ph->pd_upper ||
		chg->append_upper < MAXALIGN(*len) ||
		ph->pd_upper != chg->append_upper - MAXALIGN(*len) ||
		at + (int) sizeof(ItemIdData) > Min(ph->pd_lower, chg->append_lo_end) ||
		ph->pd_lower != Max(bh->pd_lower, at + sizeof(ItemIdData)))
		return 0;
	return at;
}

/*
 * If the change appended its new tuples as one item run can stand for them
 * (AegisWalPutItemRun: line pointers appended from pd_lower at Begin on,
 * each tuple added below the one before from pd_upper at Begin on, pd_lower
 * and pd_upper where that leaves them), the number of them; else 0.  After
 * find_header_slots, which found each new tuple a slot.
 */
static int
find_run(const AegisPageChange *chg, const char *after, const DeltaOut *d)
{
	const PageHeader ph = (PageHeader) after;
	int			count;

	if (d->nslots < 1 || chg->append_lower < SizeOfPageHeaderData ||
		(chg->append_lower - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0 ||
		ph->pd_lower <= chg->append_lower || d->slot[0] != ph->pd_upper)
		return 0;
	count = (ph->pd_lower - chg->append_lower) / sizeof(ItemIdData);
	if (count != d->nslots ||
		ph->pd_lower != chg->append_lower + count * sizeof(ItemIdData))
		return 0;
	return count;
}

/*
 * Append the changes of the touched tuple header [start, end) of an append
 * change (AegisWalPageBeginTuple): as one tuple header region if that is
 * shorter than the literals of its changed bytes (an update's or delete's
 * xmax and ctid with infomask are two ranges: 13 bytes as literals, 9 as a
 * region).  False if the delta would outgrow a page.
 */
static bool
put_touched_header(DeltaOut *d, const char *before, const char *after, int start, int end)
{
	Size		len0 = d->len;
	uint32		end0 = d->prev_end;
	char		region[AEGIS_REGION_MAX_HEAD + AEGIS_TUPLE_REGION_LEN];
	Size		n = 0;
	uint32		region_end = end0;

	if (end <= start)
		return true;
	if (!diff_range(d, before, after, start, end, NULL))
		return false;
	if (d->len == len0 ||
		memcmp(before + start + AEGIS_TUPLE_REGION_LEN, after + start + AEGIS_TUPLE_REGION_LEN,
			   end - start - AEGIS_TUPLE_REGION_LEN) != 0)
		return true;
	if (AegisWalPutTupleHeader(region, &n, &region_end, start, after + start, before + start,
							   d->xid, d->pageno, d->len - len0 - 1) && n > 0)
	{
		memcpy(d->out + len0, region, n);
		d->len = len0 + n;
		d->prev_end = region_end;
	}
	return true;
}

/*
 * The delta of an append change (AegisWalPageBeginAppend or ..Tuple, its
 * page bounds and copied ranges in 'chg'): the header, the line pointers,
 * the copied free space and the touched tuple header are compared with
 * what they were (so new tuples written over zeros log what a full
 * comparison logs); new line pointers or tuples beyond the copied ranges
 * are logged as they are.  With 'copy', a new row version's data is copied
 * from the old one's where they agree.  If the page's bounds moved any
 * other way, the whole page is logged.
 */
static uint16
compute_append_delta(const AegisPageChange *chg, const char *after, char *out,
					 const DeltaCopy *copy, bool *runs)
{
	const char *before = chg->before.data;
	PageHeader	ph = (PageHeader) after;
	static DeltaOut d;
	int			lo_end = chg->append_lo_end;
	int			hi_start = chg->append_hi_start;
	int			seg[2][2] = {{AEGIS_DELTA_FIRST, ph->pd_lower}, {ph->pd_upper, chg->append_upper}};
	int			item;
	uint32		item_len = 0;
	int			run;

	d.out = out;
	d.len = 0;
	d.prev_end = AEGIS_DELTA_FIRST;
	d.nslots = d.next_slot = 0;
	if (!page_sane_bounds((Page) after) || ph->pd_lower < chg->append_lower ||
		ph->pd_upper > chg->append_upper)
	{
		put_whole_page(&d, after);
		return (uint16) d.len;
	}
	find_header_slots(chg, after, &d);

	/*
	 * New tuples as an INSERT or COPY writes them: one item run (the page
	 * header's changes around the bounds it moves, then the run) stands for
	 * their line pointers, headers and bytes.  Not for an update whose new
	 * version can copy the old one's data.
	 */
	if (copy == NULL && (run = find_run(chg, after, &d)) > 0)
	{
		if (diff_range(&d, before, after, AEGIS_DELTA_FIRST, offsetof(PageHeaderData, pd_lower), NULL) &&
			diff_range(&d, before, after, offsetof(PageHeaderData, pd_special), chg->append_lower, NULL) &&
			AegisWalPutItemRun(d.out, &d.len, &d.prev_end, chg->append_lower, run, after,
							   chg->append_upper, d.xid, d.pageno))
		{
			*runs = true;
			if (!put_touched_header(&d, before, after, chg->touch_start, chg->touch_end))
				put_whole_page(&d, after);
			return (uint16) d.len;
		}
		/* not a run after all: start again */
		d.len = 0;
		d.prev_end = AEGIS_DELTA_FIRST;
		d.next_slot = 0;
	}
	item = find_item(chg, after, &d, &item_len);
	/* each changed range: compared where 'before' was kept, else as it is */
	for (int k = 0; k < 2; k++)
	{
		int			from = seg[k][0];
		int			to = seg[k][1];
		bool		ok;

		if (k == 0 && item > 0)
		{
			/* the item region moves pd_lower and pd_upper */
			ok = diff_range(&d, before, after, from, offsetof(PageHeaderData, pd_lower), NULL) &&
				diff_range(&d, before, after, offsetof(PageHeaderData, pd_special), item, NULL);
			if (ok)
				AegisWalPutItem(d.out, &d.len, &d.prev_end, item, item_len);
			ok = ok && diff_range(&d, before, after, item + sizeof(ItemIdData), Min(to, lo_end), NULL);
		}
		else
			ok = diff_range(&d, before, after, from, Min(to, lo_end), NULL);
		if (!ok)
		{
			put_whole_page(&d, after);
			return (uint16) d.len;
		}
		if (Max(from, lo_end) < Min(to, hi_start))
			put_changed(&d, after, Max(from, lo_end), Min(to, hi_start), copy);
		if (!diff_range(&d, before, after, Max(from, hi_start), to, copy))
		{
			put_whole_page(&d, after);
			return (uint16) d.len;
		}
	}
	/* the touched header lies among the tuples, after both ranges */
	if (!put_touched_header(&d, before, after, chg->touch_start, chg->touch_end))
		put_whole_page(&d, after);
	return (uint16) d.len;
}

#ifdef USE_ASSERT_CHECKING
/* The tuples on the page before an append change are as they were, but the touched header. */
static bool
append_tuples_unchanged(const AegisPageChange *chg, const char *after)
{
	const char *before = chg->before.data;
	int			upper = chg->append_upper;

	if (chg->touch_end == chg->touch_start)
		return memcmp(before + upper, after + upper, BLCKSZ - upper) == 0;
	return memcmp(before + upper, after + upper, chg->touch_start - upper) == 0 &&
		memcmp(before + chg->touch_end, after + chg->touch_end, BLCKSZ - chg->touch_end) == 0;
}
#endif

/*
 * The copy regions the change may use (AegisWalPageSameData), or NULL.  The
 * old version's data must be the same before and after the change, so redo
 * finds it where the record says: row data never changes in place, and
 * only tuple headers carry hint bits that redo's page may lack.  An append
 * change did not keep it, but leaves every tuple that was on the page as it
 * was, except the touched header (asserted in AegisWalPageLog).
 */
static const DeltaCopy *
delta_copy(const AegisPageChange *chg, const char *after, DeltaCopy *copy)
{
	int			max;

	if (chg->copy_dst_len == 0 || chg->compacted)
		return NULL;
	copy->dst = chg->copy_dst;
	copy->dst_len = chg->copy_dst_len;
	copy->src = chg->copy_src;
	copy->src_len = chg->copy_src_len;
	if (chg->append)
	{
		if (copy->src < chg->append_upper || copy->src + copy->src_len > BLCKSZ ||
			(copy->src < chg->touch_end && copy->src + copy->src_len > chg->touch_start))
			return NULL;
	}
	else if (memcmp(chg->before.data + copy->src, after + copy->src, copy->src_len) != 0)
		return NULL;
	max = Min(copy->dst_len, copy->src_len);
	copy->prefix = 0;
	while (copy->prefix < max &&
		   after[copy->dst + copy->prefix] == after[copy->src + copy->prefix])
		copy->prefix++;
	copy->suffix = 0;
	while (copy->suffix < max - copy->prefix &&
		   after[copy->dst + copy->dst_len - 1 - copy->suffix] ==
		   after[copy->src + copy->src_len - 1 - copy->suffix])
		copy->suffix++;
	if (copy->prefix < DELTA_COPY_MIN && copy->suffix < DELTA_COPY_MIN)
		return NULL;
	return copy;
}

/*
 * AegisWalPageSameData
 *		The change put a new version of the row at line pointer 'oldoff' at
 *		'newoff' of the same page (an update): its WAL record copies the data
 *		the two versions share instead of logging it.  After the new version
 *		is on the page, before AegisWalPageLog; in the critical section.
 */
void
AegisWalPageSameData(AegisPageChange *chg, OffsetNumber newoff, OffsetNumber oldoff)
{
	Page		page = AegisBufferGetPage(chg->buf);
	ItemId		nlp = PageGetItemId(page, newoff);
	ItemId		olp = PageGetItemId(page, oldoff);
	HeapTupleHeader ntup = (HeapTupleHeader) PageGetItem(page, nlp);
	HeapTupleHeader otup = (HeapTupleHeader) PageGetItem(page, olp);

	chg->copy_dst_len = 0;
	if (!chg->needs_wal || !ItemIdIsNormal(nlp) || !ItemIdIsNormal(olp) ||
		ItemIdGetLength(nlp) <= ntup->t_hoff || ItemIdGetLength(olp) <= otup->t_hoff)
		return;
	chg->copy_dst = ItemIdGetOffset(nlp) + ntup->t_hoff;
	chg->copy_dst_len = ItemIdGetLength(nlp) - ntup->t_hoff;
	chg->copy_src = ItemIdGetOffset(olp) + otup->t_hoff;
	chg->copy_src_len = ItemIdGetLength(olp) - otup->t_hoff;
}

/*
 * AegisPageCompact
 *		Defragment 'page' (PageRepairFragmentation) and zero its hole.  Runs
 *		the same at run time and in redo.
 */
void
AegisPageCompact(Page page)
{
	PageHeader	ph = (PageHeader) page;

	PageRepairFragmentation(page);
	if (ph->pd_upper > ph->pd_lower)
		memset((char *) page + ph->pd_lower, 0, ph->pd_upper - ph->pd_lower);
}

/*
 * The bounds [*start, *end) of the header of the tuple at 'off' of 'page'
 * (bounds checked by page_sane_bounds), if it is a normal tuple among the
 * tuples; false if not.
 */
static bool
tuple_header_range(Page page, OffsetNumber off, uint16 *start, uint16 *end)
{
	ItemId		lp;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return false;
	lp = PageGetItemId(page, off);
	if (!ItemIdIsNormal(lp) || ItemIdGetLength(lp) < SizeofHeapTupleHeader ||
		ItemIdGetOffset(lp) < ((PageHeader) page)->pd_upper ||
		ItemIdGetOffset(lp) + ItemIdGetLength(lp) > BLCKSZ)
		return false;
	*start = ItemIdGetOffset(lp);
	*end = *start + SizeofHeapTupleHeader;
	return true;
}

/*
 * Start a change to the page of 'buf'; 'keep_visible': it hides no row
 * version, so an all-visible page stays so and no map page is pinned.
 * 'narrow': an append change (only the page header and line pointers
 * changed, tuples added, at most tuple_space bytes of them, and the header
 * of the tuple at 'touched', if valid, rewritten); else any change.
 */
static AegisPageChange *
page_begin(Relation rel, AegisBuffer buf, bool keep_visible, bool narrow, Size tuple_space,
		   OffsetNumber touched)
{
	static AegisPageChange change;
	AegisPageChange *chg = &change;
	Page		page = AegisBufferGetPage(buf);

	chg->buf = buf;
	chg->rel = rel;
	chg->needs_wal = AegisRelNeedsWal(rel);
	chg->compacted = false;
	chg->keep_visible = keep_visible;
	chg->set_visible = false;
	chg->vmbuf = InvalidBuffer;
	chg->conflict_xid = InvalidTransactionId;
	chg->copy_dst_len = 0;
	chg->delta1_len = 0;
	chg->delta1_runs = false;
	chg->append = false;
	chg->touch_start = chg->touch_end = 0;
	chg->nadded = 0;
	if (chg->needs_wal)
	{
		AegisWalCheckGuarded();
		ensure_layout_logged(rel);
	}

	/* an all-visible page: pin the map page now, the bits go in the change */
	if (!keep_visible && PageIsAllVisible(page))
		chg->vmbuf = AegisVmPinIfExists(rel, AegisBufferGetPageNo(buf));
	if (!chg->needs_wal)
		return chg;
	if (narrow && page_sane_bounds(page) &&
		(!OffsetNumberIsValid(touched) ||
		 tuple_header_range(page, touched, &chg->touch_start, &chg->touch_end)))
	{
		PageHeader	ph = (PageHeader) page;

		/*
		 * The tuples on the page stay as they are, but for the touched
		 * header: keep only the page header, the line pointers (one more if
		 * tuples are added), the free space the new tuples will take, at
		 * its top, and the touched header.
		 */
		chg->append = true;
		chg->append_lower = ph->pd_lower;
		chg->append_upper = ph->pd_upper;
		chg->append_lo_end = Min(ph->pd_lower + (tuple_space > 0 ? sizeof(ItemIdData) : 0),
								 ph->pd_upper);
		chg->append_hi_start = ph->pd_upper - Min(tuple_space, ph->pd_upper - chg->append_lo_end);
		memcpy(chg->before.data, page, chg->append_lo_end);
		memcpy(chg->before.data + chg->append_hi_start, (char *) page + chg->append_hi_start,
			   chg->append_upper - chg->append_hi_start);
		memcpy(chg->before.data + chg->touch_start, (char *) page + chg->touch_start,
			   chg->touch_end - chg->touch_start);
#ifdef USE_ASSERT_CHECKING
		memcpy(chg->before.data + chg->append_upper, (char *) page + chg->append_upper,
			   BLCKSZ - chg->append_upper);
#endif
	}
	else
		memcpy(chg->before.data, page, BLCKSZ);
	return chg;
}

/*
 * AegisWalPageBegin
 *		Start a logged change to the page of 'buf' (pinned, exclusively
 *		locked) of 'rel'; returns the change, owned by this module (one per
 *		backend: changes never nest).  If the page is all-visible, the change
 *		clears that (wal_visibility.c); the map page is pinned here.  Outside
 *		a critical section; raises an error if the checkpoint guards stopped
 *		(the statement waited for them before it took the content lock:
 *		AegisTamCheckWritable).
 */
AegisPageChange *
AegisWalPageBegin(Relation rel, AegisBuffer buf)
{
	return page_begin(rel, buf, false, false, 0, InvalidOffsetNumber);
}

/*
 * AegisWalPageBeginTuple
 *		AegisWalPageBegin (or, with 'keep_visible', ..KeepVisible) for a
 *		change that rewrites the header of the tuple at 'off' (its xmax,
 *		cmax, ctid and infomask bits: a delete, a row lock, an update's old
 *		version) and the page header, and with 'tuple_space' > 0 adds tuples
 *		as AegisWalPageBeginAppend does: only those ranges are copied and
 *		compared, not the whole page (a TPC-B transaction makes five such
 *		changes).  The delta is what a full comparison finds, but for hint
 *		bits set meanwhile on other tuples (redo's page may lack those
 *		anyway).  A tuple at 'off' that is not a normal one among the tuples
 *		makes it an ordinary change.
 */
AegisPageChange *
AegisWalPageBeginTuple(Relation rel, AegisBuffer buf, OffsetNumber off, Size tuple_space,
					   bool keep_visible)
{
	return page_begin(rel, buf, keep_visible, true, tuple_space, off);
}

/*
 * AegisWalPageBeginAppend
 *		AegisWalPageBegin for a change that only adds tuples to the page
 *		(PageAddItem, and the new tuples' own bytes), 'tuple_space' bytes of
 *		them at most (BLCKSZ: the free space may fill up): the header, the
 *		line pointers and the free space change, the tuples on the page do
 *		not.  Only the header, the line pointers and the top 'tuple_space'
 *		bytes of the free space are copied and compared, and the delta is
 *		what a full comparison finds.  An INSERT had spent a fifth of its
 *		time copying and comparing whole pages.  Assert-enabled builds check
 *		that the tuples on the page did not change.
 */
AegisPageChange *
AegisWalPageBeginAppend(Relation rel, AegisBuffer buf, Size tuple_space)
{
	return page_begin(rel, buf, false, true, Max(tuple_space, 1), InvalidOffsetNumber);
}

/*
 * AegisWalPageBeginPrune
 *		AegisWalPageBegin (or, with 'keep_visible', ..KeepVisible) for a
 *		prune: a change to the page header and the line pointers only
 *		(redirects, LP_DEAD, LP_UNUSED), which may then compact the page
 *		(AegisWalPageCompact).  Only the header and the line pointers are
 *		copied and compared, before the compaction and after it, where a
 *		prune had copied and compared the whole page twice.
 */
AegisPageChange *
AegisWalPageBeginPrune(Relation rel, AegisBuffer buf, bool keep_visible)
{
	return page_begin(rel, buf, keep_visible, true, 0, InvalidOffsetNumber);
}

/*
 * AegisWalPageBeginKeepVisible
 *		AegisWalPageBegin for a change that hides no row version from any
 *		snapshot (a row lock, a freeze, a prune that only defragments): an
 *		all-visible page stays so.
 */
AegisPageChange *
AegisWalPageBeginKeepVisible(Relation rel, AegisBuffer buf)
{
	return page_begin(rel, buf, true, false, 0, InvalidOffsetNumber);
}

/*
 * AegisWalPageSetVisible
 *		VACUUM found every version on the page visible to all, the newest
 *		xmin being 'cutoff_xid': the change (begun with
 *		AegisWalPageBeginKeepVisible) sets PD_ALL_VISIBLE and the page's
 *		ALL_VISIBLE bit in the map page 'vmbuf' (pinned by the caller with
 *		visibilitymap_pin, kept pinned).  Hot standby queries whose snapshots
 *		are older than cutoff_xid conflict, as with heap's
 *		XLOG_HEAP2_VISIBLE.  Before the critical section.
 */
void
AegisWalPageSetVisible(AegisPageChange *chg, Buffer vmbuf, TransactionId cutoff_xid)
{
	Assert(chg->keep_visible && !BufferIsValid(chg->vmbuf));
	chg->set_visible = true;
	chg->vmbuf = vmbuf;
	AegisWalPageConflict(chg, cutoff_xid);
}

/*
 * AegisWalPageCompact
 *		Defragment the page as part of the change (AegisPageCompact), logged
 *		as an operation, not as bytes.  In the critical section.
 */
void
AegisWalPageCompact(AegisPageChange *chg)
{
	Page		page = AegisBufferGetPage(chg->buf);

	Assert(!chg->compacted);
	if (chg->needs_wal && chg->append)
	{
		/* what changed so far, from the ranges kept */
		Assert(append_tuples_unchanged(chg, (char *) page));
		chg->delta1_len = compute_append_delta(chg, (char *) page, chg->delta1, NULL,
											   &chg->delta1_runs);
	}
	else if (chg->needs_wal)
		chg->delta1_len = compute_delta(chg->before.data, (char *) page, chg->delta1, NULL);
	AegisPageCompact(page);
	if (chg->needs_wal && chg->append)
	{
		PageHeader	ph = (PageHeader) page;

		/* from here on only the page header and line pointers may change */
		chg->append_lower = chg->append_lo_end = ph->pd_lower;
		chg->append_upper = chg->append_hi_start = ph->pd_upper;
		chg->touch_start = chg->touch_end = 0;
		chg->nadded = 0;
		memcpy(chg->before.data, page, ph->pd_lower);
#ifdef USE_ASSERT_CHECKING
		memcpy(chg->before.data + ph->pd_upper, (char *) page + ph->pd_upper,
			   BLCKSZ - ph->pd_upper);
#endif
	}
	else if (chg->needs_wal)
		memcpy(chg->before.data, page, BLCKSZ);
	chg->compacted = chg->needs_wal;
}

/*
 * AegisWalPageAdded
 *		The change added a tuple at line pointer 'off' (AegisPagePutTuple's
 *		result).  The delta then finds the new tuples' headers from these
 *		line pointers, where it had looked at every line pointer of the page
 *		(a tenth of a TPC-B update's logging).  Noting is optional: with
 *		none noted, or more than AEGIS_CHANGE_NOTED, every line pointer is
 *		looked at.  In the critical section.
 */
void
AegisWalPageAdded(AegisPageChange *chg, OffsetNumber off)
{
	if (chg->nadded < 0)
		return;
	if (chg->nadded >= AEGIS_CHANGE_NOTED)
		chg->nadded = -1;
	else
		chg->added[chg->nadded++] = off;
}

/*
 * AegisWalPageConflict
 *		The change removes row versions (or freezes them) that snapshots
 *		older than 'xid' might still see: a hot standby cancels queries with
 *		such snapshots before replaying it (heap's latestRemovedXid).
 */
void
AegisWalPageConflict(AegisPageChange *chg, TransactionId xid)
{
	if (!TransactionIdIsNormal(xid))
		return;
	if (!TransactionIdIsValid(chg->conflict_xid) ||
		TransactionIdPrecedes(chg->conflict_xid, xid))
		chg->conflict_xid = xid;
}

/*
 * Insert an XLOG_AEGIS_PAGE_PACKED record: 'xlrec' (identity, conflict
 * xid, delta lengths, flags), 'vm_spc' with AEGIS_PAGE_VM_*, and the deltas
 * in 'body' (delta1_len + delta2_len bytes), LZ4-compressed when
 * wal_compression is set, they take AEGIS_WAL_COMPRESS_MIN bytes or more
 * and that saves space.  Stamps 'page' with the record's end LSN and
 * returns it.
 */
static XLogRecPtr
insert_page_record(xl_aegis_page *xlrec, Oid vm_spc, const char *body, Page page)
{
	static char packed[LZ4_COMPRESSBOUND(2 * (BLCKSZ + 512))];
	char		head[AEGIS_PACKED_MAX_HEAD];
	Size		headlen;
	const char *data = body;
	Size		len = xlrec->delta1_len + xlrec->delta2_len;
	XLogRecPtr	end;

	xlrec->stored_len = len;
	xlrec->flags |= AEGIS_PACKED_TYPED;
	if (len >= AEGIS_WAL_COMPRESS_MIN && wal_compression != WAL_COMPRESSION_NONE)
	{
		int			n = LZ4_compress_default(body, packed, len, sizeof(packed));

		if (n > 0 && (Size) n < len)
		{
			data = packed;
			xlrec->stored_len = n;
			xlrec->flags |= AEGIS_PAGE_LZ4;
		}
	}
	headlen = AegisWalPagePackHeader(xlrec, vm_spc, head);
	XLogBeginInsert();
	XLogRegisterData(head, headlen);
	if (xlrec->stored_len > 0)
		XLogRegisterData((char *) data, xlrec->stored_len);
	end = XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_PAGE_PACKED);
	PageSetLSN(page, end);
	AegisWalCount(headlen + xlrec->stored_len, true, (xlrec->flags & AEGIS_PAGE_LZ4) != 0);
	return end;
}


/*
 * AegisWalPageLog
 *		Log the change (XLogInsert) and stamp the page with the record's end
 *		LSN.  In the critical section, after AegisBufferMarkDirty.
 */
void
AegisWalPageLog(AegisPageChange *chg)
{
	static char body[2 * (BLCKSZ + 512)];
	xl_aegis_page xlrec;
	Page		page = AegisBufferGetPage(chg->buf);
	BlockNumber pageno = AegisBufferGetPageNo(chg->buf);
	XLogRecPtr	end = InvalidXLogRecPtr;
	bool		cleared = false;
	DeltaCopy	copy;

	/* the visibility map: cleared with any change that may hide a version */
	if (chg->set_visible)
		PageSetAllVisible(page);
	else if (!chg->keep_visible && PageIsAllVisible(page))
	{
		PageClearAllVisible(page);
		if (BufferIsValid(chg->vmbuf))
			visibilitymap_clear(chg->rel, pageno, chg->vmbuf, VISIBILITYMAP_VALID_BITS);
		cleared = true;
	}

	if (chg->needs_wal)
	{
		memset(&xlrec, 0, sizeof(xlrec));
		AegisBufferGetTag(chg->buf, &xlrec.key, &xlrec.pageno);
		xlrec.conflict_xid = chg->conflict_xid;
		xlrec.flags = chg->compacted ? AEGIS_PAGE_COMPACT : 0;
		if (cleared)
			xlrec.flags |= AEGIS_PAGE_VM_CLEARED;
		if (chg->set_visible)
			xlrec.flags |= AEGIS_PAGE_VM_SET;
		xlrec.delta1_len = chg->delta1_len;
		if (chg->delta1_runs)
			xlrec.flags |= AEGIS_PACKED_RUNS;
		memcpy(body, chg->delta1, chg->delta1_len);
		if (chg->append)
		{
			bool		runs = false;

			Assert(append_tuples_unchanged(chg, (char *) page));
			xlrec.delta2_len = compute_append_delta(chg, (char *) page, body + chg->delta1_len,
													delta_copy(chg, (char *) page, &copy), &runs);
			if (runs)
				xlrec.flags |= AEGIS_PACKED_RUNS;
		}
		else
			xlrec.delta2_len = compute_delta(chg->before.data, (char *) page, body + chg->delta1_len,
											 delta_copy(chg, (char *) page, &copy));
		end = insert_page_record(&xlrec, chg->rel->rd_node.spcNode, body, page);
	}

	if (chg->set_visible)
		AegisVmSetAllVisible(chg->vmbuf, pageno, end);
	else if (BufferIsValid(chg->vmbuf))
		ReleaseBuffer(chg->vmbuf);
	chg->vmbuf = InvalidBuffer;
}

/*
 * AegisWalLogPageImage
 *		Log the whole of 'page' as page 'pageno' of 'key' (a page written
 *		without going through the buffer pool, like ALTER TABLE SET
 *		TABLESPACE's copy: as log_newpage does for heap).  The record is a
 *		delta from the empty page a page without a block reads as, so redo
 *		rebuilds it exactly.  Stamps 'page' with the record's end LSN and
 *		returns it.  Outside critical sections.
 */
XLogRecPtr
AegisWalLogPageImage(const AegisRelKey *key, BlockNumber pageno, Page page)
{
	static char body[BLCKSZ + 512];
	PGAlignedBlock empty;
	xl_aegis_page xlrec;

	AegisWalWaitGuarded();
	PageInit((Page) empty.data, BLCKSZ, 0);
	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.pageno = pageno;
	xlrec.delta2_len = compute_delta(empty.data, (char *) page, body, NULL);
	return insert_page_record(&xlrec, InvalidOid, body, page);
}

/* A malformed record: the WAL is damaged. */
static void
report_bad_record(XLogReaderState *record, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("aegis WAL record at %X/%X %s",
					LSN_FORMAT_ARGS(record->ReadRecPtr), what)));
}

/*
 * Could PageRepairFragmentation run on 'page' without raising an error?
 * The checks it makes, made first.
 */
static bool
page_compactable(Page page)
{
	PageHeader	ph = (PageHeader) page;
	Size		total = 0;

	if (ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > ph->pd_special || ph->pd_special > BLCKSZ ||
		ph->pd_special != MAXALIGN(ph->pd_special))
		return false;
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		lp = PageGetItemId(page, off);

		if (!ItemIdHasStorage(lp))
			continue;
		if (ItemIdGetOffset(lp) < ph->pd_upper ||
			ItemIdGetOffset(lp) + ItemIdGetLength(lp) > ph->pd_special ||
			ItemIdGetOffset(lp) != MAXALIGN(ItemIdGetOffset(lp)))
			return false;
		total += MAXALIGN(ItemIdGetLength(lp));
	}
	return total <= (Size) (ph->pd_special - ph->pd_upper);
}

/*
 * Does the record that began at 'lsn' concern a page (pageno) of storage
 * 'info' that it no longer has: storage created after it (same key, a new
 * incarnation), a page past the storage's end that a later cut removed, or
 * a page of that number added again after such a cut, which has no block
 * yet ('added_lsn', AegisStorageGetPageInfo)?  A block map synced after a
 * cut (VACUUM's SHRINK, TRUNCATE) can meet a recovery that starts before
 * the cut: the checkpoint that synced it never completed, or a standby
 * restarts from an older restartpoint.  The page's records before the cut
 * describe content it lost; replayed onto a new zero page they would fail.
 * Heap's redo likewise ignores blocks missing from a file that a later
 * XLOG_SMGR_TRUNCATE cut (forget_invalid_pages).  A page added after the
 * cut is built from a zero page by its first record; once it has a block,
 * the block's LSN makes redo skip the older records.
 */
static uint64 skipped_cut = 0;	/* records of cut pages this recovery */

static bool
page_gone(const AegisRelInfo *info, BlockNumber pageno, XLogRecPtr lsn, XLogRecPtr added_lsn)
{
	if (info->create_lsn > lsn)
		return true;
	if ((pageno >= info->npages && lsn < info->cut_lsn) || lsn < added_lsn)
	{
		skipped_cut++;
		return true;
	}
	return false;
}

/*
 * AegisWalRedoSkippedCut
 *		Page records this process's redo skipped because their page was cut
 *		later (page_gone); 'reset' starts counting again.
 */
uint64
AegisWalRedoSkippedCut(bool reset)
{
	uint64		n = skipped_cut;

	if (reset)
		skipped_cut = 0;
	return n;
}

/*
 * AegisWalPageRedo
 *		Replay a page record (XLOG_AEGIS_PAGE_PACKED, or XLOG_AEGIS_PAGE of
 *		older builds; startup process).  The relation's storage may be gone
 *		(dropped later), newer than the record (created again with the same
 *		key), or cut since (page_gone): then there is nothing to do.
 *		With 'tolerant' (a restored base backup not yet consistent), a page
 *		whose block the copy lacked may have been rebuilt from deltas into
 *		something that cannot be defragmented; the compaction is then
 *		skipped, and the block image that compaction logged replaces the
 *		page later (src/checkpoint/README).  Raises ERRCODE_DATA_CORRUPTED
 *		for a malformed record.
 */
void
AegisWalPageRedo(XLogReaderState *record, bool tolerant)
{
	static char unpacked[AEGIS_WAL_UNPACKED_SIZE];
	xl_aegis_page xlrec;
	XLogRecPtr	end = record->EndRecPtr;
	AegisRelInfo info;
	XLogRecPtr	added_lsn;
	AegisBuffer buf;
	Page		page;
	const char *delta1;
	const char *delta2;
	const char *bad;
	Oid			vm_spc;
	AegisDeltaForm form;
	bool		packed = (XLogRecGetInfo(record) & XLOG_AEGIS_OPMASK) == XLOG_AEGIS_PAGE_PACKED;

	bad = AegisWalPageParse(XLogRecGetData(record), XLogRecGetDataLen(record), packed,
							XLogRecGetXid(record), &xlrec, &vm_spc, unpacked, &delta1, &delta2);
	if (bad)
		report_bad_record(record, bad);

	/* queries on a hot standby that may see the removed row versions */
	if (InHotStandby && TransactionIdIsValid(xlrec.conflict_xid))
	{
		RelFileNode node;

		node.spcNode = xlrec.key.spcOid;
		node.dbNode = xlrec.key.dbOid;
		node.relNode = xlrec.key.relNumber;
		ResolveRecoveryConflictWithSnapshot(xlrec.conflict_xid, node);
	}

	if (!AegisStorageGetPageInfo(&xlrec.key, xlrec.pageno, &info, &added_lsn) ||
		page_gone(&info, xlrec.pageno, record->ReadRecPtr, added_lsn))
		return;
	while (info.npages <= xlrec.pageno)
		info.npages = AegisStorageExtend(&xlrec.key, record->ReadRecPtr) + 1;

	/* the map bit goes first and whatever the page's LSN, as in heap's redo */
	if (xlrec.flags & AEGIS_PAGE_VM_CLEARED)
		AegisVmRedo(&xlrec.key, vm_spc, xlrec.pageno, end, false);

	/*
	 * A restored base backup may hold a block newer than this record that
	 * names a compression dictionary whose file the backup lacks: its record
	 * comes later in the WAL (src/wal/wal_dict.c).  Such a record is skipped
	 * on the block's LSN, without decompressing the block.
	 */
	if (tolerant && !AegisBufferIsCached(&xlrec.key, xlrec.pageno))
	{
		XLogRecPtr	stored;

		if (AegisStorageStoredLSN(&xlrec.key, xlrec.pageno, &stored) && stored >= end)
		{
			if (xlrec.flags & AEGIS_PAGE_VM_SET)
				AegisVmRedo(&xlrec.key, vm_spc, xlrec.pageno, end, true);
			return;
		}
	}

	AegisWalDeltaFormOf(&xlrec, packed, XLogRecGetXid(record), &form);
	buf = AegisBufferRead(&xlrec.key, xlrec.pageno);
	AegisBufferLock(buf, LW_EXCLUSIVE);
	page = AegisBufferGetPage(buf);
	if (PageGetLSN(page) < end)
	{
		START_CRIT_SECTION();
		AegisWalApplyDelta((char *) page, delta1, xlrec.delta1_len, &form);
		if ((xlrec.flags & AEGIS_PAGE_COMPACT) && (!tolerant || page_compactable(page)))
			AegisPageCompact(page);
		AegisWalApplyDelta((char *) page, delta2, xlrec.delta2_len, &form);
		PageSetLSN(page, end);
		AegisBufferMarkDirty(buf);
		END_CRIT_SECTION();
	}
	AegisBufferUnlockRelease(buf);
	if (xlrec.flags & AEGIS_PAGE_VM_SET)
		AegisVmRedo(&xlrec.key, vm_spc, xlrec.pageno, end, true);
}

/*
 * AegisWalLogBlockImage
 *		Log block 'block' (len bytes, as stored: header and compressed page)
 *		of page 'pageno' of 'key' (a group block: of its members' pages,
 *		'pageno' its first live one), which compaction is moving into a new
 *		data file generation (an AegisBlockLogger, called by the aegis
 *		checkpointer through AegisStorageSyncRelation).  'members': for a group block, those of
 *		its members whose pages it holds now (bit i: member i); redo
 *		replays only them, since a page that left the group may have been
 *		cut and added again since.  Only a restored
 *		base backup replays these records (AegisWalImageRedo).
 */
void
AegisWalLogBlockImage(const AegisRelKey *key, BlockNumber pageno, const char *block,
					  uint32 len, uint32 members)
{
	xl_aegis_image xlrec;
	bool		group = AegisBlockIsGroup(block, len);

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.pageno = pageno;
	xlrec.block_len = len;
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, sizeof(xlrec));
	XLogRegisterData((char *) block, len);
	if (group)
		XLogRegisterData((char *) &members, sizeof(members));
	(void) XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_IMAGE);
	AegisWalCount(sizeof(xlrec) + len + (group ? sizeof(members) : 0), false, false);
}

/*
 * Replace page 'pageno' of 'key' by 'image' (BLCKSZ bytes) in redo of an
 * XLOG_AEGIS_IMAGE record, unless its current state is newer.
 */
static bool
image_page_gone(XLogReaderState *record, const AegisRelKey *key, BlockNumber pageno)
{
	AegisRelInfo info;
	XLogRecPtr	added_lsn;

	return !AegisStorageGetPageInfo(key, pageno, &info, &added_lsn) ||
		page_gone(&info, pageno, record->ReadRecPtr, added_lsn);
}

static void
image_redo_page(XLogReaderState *record, const AegisRelKey *key, BlockNumber pageno,
				const char *image)
{
	AegisRelInfo info;
	XLogRecPtr	added_lsn;
	XLogRecPtr	stored;
	AegisBuffer buf;
	Page		page;

	if (!AegisStorageGetPageInfo(key, pageno, &info, &added_lsn) ||
		page_gone(&info, pageno, record->ReadRecPtr, added_lsn))
		return;
	while (info.npages <= pageno)
		info.npages = AegisStorageExtend(key, record->ReadRecPtr) + 1;

	/*
	 * A page not in the pool is judged by its block's header LSN, not
	 * decompressed (its dictionary may come later in the WAL, as in
	 * AegisWalPageRedo): a newer block wins; otherwise the image replaces it
	 * unread.
	 */
	if (!AegisBufferIsCached(key, pageno) &&
		AegisStorageStoredLSN(key, pageno, &stored))
	{
		if (stored > PageGetLSN((Page) image))
			return;
		buf = AegisBufferReadZero(key, pageno);
	}
	else
		buf = AegisBufferRead(key, pageno);
	AegisBufferLock(buf, LW_EXCLUSIVE);
	page = AegisBufferGetPage(buf);

	/*
	 * At the same LSN the image wins: the page may have been rebuilt from
	 * deltas replayed onto a block the copy lacked.
	 */
	if (PageGetLSN(page) <= PageGetLSN((Page) image))
	{
		START_CRIT_SECTION();
		memcpy(page, image, BLCKSZ);
		AegisBufferMarkDirty(buf);
		END_CRIT_SECTION();
	}
	AegisBufferUnlockRelease(buf);
}

/*
 * AegisWalImageRedo
 *		Replay an XLOG_AEGIS_IMAGE record where the block may be missing: the
 *		startup process of a restored base backup calls it until the backup
 *		is consistent (src/checkpoint/README).  The page is replaced unless
 *		its current state is newer than the block; for a group block, each
 *		member page alike.  Raises ERRCODE_DATA_CORRUPTED for a malformed
 *		record or an invalid block.
 */
void
AegisWalImageRedo(XLogReaderState *record)
{
	xl_aegis_image xlrec;
	char	   *data = XLogRecGetData(record);
	const char *block;
	PGAlignedBlock image;

	uint32		members = 0;

	if (XLogRecGetDataLen(record) < sizeof(xlrec))
		report_bad_record(record, "is too short");
	memcpy(&xlrec, data, sizeof(xlrec));
	if (xlrec.block_len > XLogRecGetDataLen(record) - sizeof(xlrec))
		report_bad_record(record, "has an invalid length");
	block = data + sizeof(xlrec);
	/* its dictionary's record came before it (src/wal/wal_dict.c) */
	if (AegisBlockIsGroup(block, xlrec.block_len))
	{
		AegisGroupForms g;
		AegisBlockIdentity id;
		bool		any = false;

		if (sizeof(xlrec) + (Size) xlrec.block_len + sizeof(members) != XLogRecGetDataLen(record))
			report_bad_record(record, "has an invalid length");
		memcpy(&members, block + xlrec.block_len, sizeof(members));
		/* pages gone since (their dictionaries too, maybe): not decoded */
		if (!AegisBlockCheck(block, xlrec.block_len, &id) || id.nmembers == 0)
			report_bad_record(record, "holds an invalid group block");
		for (int i = 0; i < id.nmembers && !any; i++)
			any = (members & (1U << i)) != 0 &&
				!image_page_gone(record, &xlrec.key, id.member_pageno[i]);
		if (!any)
			return;
		g.raw = palloc(AEGIS_GROUP_MAX_RAW);
		AegisGroupDecode(block, xlrec.block_len, &xlrec.key, xlrec.pageno, "WAL",
						 AegisLocalDictLookup, &g);
		for (int i = 0; i < g.nmembers; i++)
		{
			if (!(members & (1U << i)))
				continue;
			AegisPageFormToPage(g.raw + g.offset[i], g.members[i].form_len, g.members[i].flags,
								&xlrec.key, g.members[i].pageno, "WAL", image.data);
			image_redo_page(record, &xlrec.key, g.members[i].pageno, image.data);
		}
		pfree(g.raw);
		return;
	}
	if (sizeof(xlrec) + (Size) xlrec.block_len != XLogRecGetDataLen(record))
		report_bad_record(record, "has an invalid length");
	if (image_page_gone(record, &xlrec.key, xlrec.pageno))
		return;
	AegisBlockDecode(block, xlrec.block_len, &xlrec.key, xlrec.pageno,
					 "WAL", AegisLocalDictLookup, image.data);
	image_redo_page(record, &xlrec.key, xlrec.pageno, image.data);
}

/* AegisWalImageDesc: rm_desc of an XLOG_AEGIS_IMAGE record. */
void
AegisWalImageDesc(StringInfo buf, XLogReaderState *record)
{
	xl_aegis_image xlrec;

	if (XLogRecGetDataLen(record) < sizeof(xlrec))
		return;
	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT " page %u; block of %u bytes",
					 AEGIS_REL_KEY_ARGS(&xlrec.key), xlrec.pageno, xlrec.block_len);
}

/* AegisWalPageDesc: rm_desc of a page record (either form). */
void
AegisWalPageDesc(StringInfo buf, XLogReaderState *record)
{
	xl_aegis_page xlrec;
	Oid			vm_spc;
	Size		head;
	const char *bad;

	bad = AegisWalPageParseHeader(XLogRecGetData(record), XLogRecGetDataLen(record),
								  (XLogRecGetInfo(record) & XLOG_AEGIS_OPMASK) == XLOG_AEGIS_PAGE_PACKED,
								  &xlrec, &vm_spc, &head);
	if (bad)
	{
		appendStringInfo(buf, "malformed: %s", bad);
		return;
	}
	appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT " page %u; delta %u+%u bytes%s%s%s%s",
					 AEGIS_REL_KEY_ARGS(&xlrec.key), xlrec.pageno,
					 xlrec.delta1_len, xlrec.delta2_len,
					 (xlrec.flags & AEGIS_PAGE_COMPACT) ? ", compact" : "",
					 (xlrec.flags & AEGIS_PAGE_LZ4) ? ", lz4" : "",
					 (xlrec.flags & AEGIS_PAGE_VM_CLEARED) ? ", all-visible cleared" : "",
					 (xlrec.flags & AEGIS_PAGE_VM_SET) ? ", all-visible set" : "");
	if (TransactionIdIsValid(xlrec.conflict_xid))
		appendStringInfo(buf, "; conflict xid %u", xlrec.conflict_xid);
}
