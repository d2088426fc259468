/*-------------------------------------------------------------------------
 *
 * wal_page.c
 *	  WAL records for page changes: byte-range deltas, and their redo.
 *
 * Every change to an aegis page of a WAL-logged relation is logged as the
 * difference between the page before and after the change, like
 * PostgreSQL's generic WAL (access/transam/generic_xlog.c): a list of
 * (offset, length, bytes) regions.  Redo applies the regions to the page as
 * recovery finds it, which equals the page as it was before the change,
 * except possibly for hint bits (they are set without WAL).  Two rules keep
 * that difference harmless:
 *
 * - Defragmentation moves tuples, so it is not logged as bytes: the record
 *   says "compact here" (AEGIS_WAL_PAGE_COMPACT, between a delta before and
 *   one after), and redo runs the same deterministic compaction.
 * - Compaction zeroes the hole between pd_lower and pd_upper, and a new page
 *   has a zero hole, so the hole holds zeros on every page: bytes a later
 *   insert writes there never depend on what was there before.
 *
 * Deltas of AEGIS_WAL_COMPRESS_MIN bytes or more (new pages filled by COPY,
 * compactions) are stored LZ4-compressed when that saves space.
 *
 * The page LSN is the end LSN of the last record that changed it; redo
 * skips a record whose end LSN is not beyond the page LSN, which makes it
 * idempotent.  pd_lsn itself is never part of a delta.
 *
 * Callers hold the buffer's exclusive content lock across Begin .. Log and
 * make the change, the MarkDirty and the Log inside one critical section.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4.h>

#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define DELTA_CHUNK		8		/* bytes compared at a time */
#define DELTA_FIRST		8		/* pd_lsn is not part of a delta */

/* per-relation cache in rd_amcache */
typedef struct AegisRelWalCache
{
	Oid			relNumber;
	bool		needs_wal;
} AegisRelWalCache;

/*
 * AegisRelNeedsWal
 *		Does a change to 'rel' need aegis WAL?  Only permanent relations of
 *		the local storage backend are logged; unlogged and temporary ones and
 *		memory storage are not (invariant 9), and come back empty after a
 *		crash.  Cached in rel->rd_amcache.
 */
bool
AegisRelNeedsWal(Relation rel)
{
	AegisRelWalCache *c = (AegisRelWalCache *) rel->rd_amcache;
	AegisRelKey key;
	AegisRelInfo info;

	if (c != NULL && c->relNumber == rel->rd_node.relNode)
		return c->needs_wal;
	if (c == NULL)
	{
		c = MemoryContextAlloc(CacheMemoryContext, sizeof(AegisRelWalCache));
		rel->rd_amcache = c;
	}
	key = AegisRelKeyOf(rel);
	c->relNumber = rel->rd_node.relNode;
	c->needs_wal = rel->rd_rel->relpersistence == RELPERSISTENCE_PERMANENT &&
		AegisStorageGetInfo(&key, &info) && info.storage == AEGIS_STORAGE_LOCAL;
	return c->needs_wal;
}

/*
 * Encode the difference between 'before' and 'after' (pages) into 'out'
 * (room for BLCKSZ + 512 bytes); returns its length in bytes.  If the
 * regions would take more room than the page, one region covers it all.
 */
static uint16
compute_delta(const char *before, const char *after, char *out)
{
	Size		len = 0;
	int			i = DELTA_FIRST;

	while (i < BLCKSZ)
	{
		int			start;
		uint16		off,
					n;

		if (memcmp(before + i, after + i, DELTA_CHUNK) == 0)
		{
			i += DELTA_CHUNK;
			continue;
		}
		start = i;
		while (i < BLCKSZ && memcmp(before + i, after + i, DELTA_CHUNK) != 0)
			i += DELTA_CHUNK;
		if (len + 4 + (i - start) > BLCKSZ)
		{
			/* not worth it: the whole page but pd_lsn */
			off = DELTA_FIRST;
			n = BLCKSZ - DELTA_FIRST;
			memcpy(out, &off, 2);
			memcpy(out + 2, &n, 2);
			memcpy(out + 4, after + DELTA_FIRST, n);
			return 4 + n;
		}
		off = start;
		n = i - start;
		memcpy(out + len, &off, 2);
		memcpy(out + len + 2, &n, 2);
		memcpy(out + len + 4, after + start, n);
		len += 4 + n;
	}
	return (uint16) len;
}

/*
 * Apply a delta of 'len' bytes to 'page' (or only check it, if page is
 * NULL); false if it is malformed.
 */
static bool
apply_delta(Page page, const char *delta, Size len)
{
	Size		pos = 0;

	while (pos < len)
	{
		uint16		off,
					n;

		if (pos + 4 > len)
			return false;
		memcpy(&off, delta + pos, 2);
		memcpy(&n, delta + pos + 2, 2);
		if (off < DELTA_FIRST || (Size) off + n > BLCKSZ || pos + 4 + n > len)
			return false;
		if (page != NULL)
			memcpy((char *) page + off, delta + pos + 4, n);
		pos += 4 + n;
	}
	return true;
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
 * AegisWalPageBegin
 *		Start a logged change to the page of 'buf' (pinned, exclusively
 *		locked) of 'rel'; returns the change, owned by this module (one per
 *		backend: changes never nest).  Outside a critical section: may write
 *		to PostgreSQL's WAL (the xid reservation).
 */
AegisPageChange *
AegisWalPageBegin(Relation rel, AegisBuffer buf)
{
	static AegisPageChange change;
	AegisPageChange *chg = &change;

	chg->buf = buf;
	chg->needs_wal = AegisRelNeedsWal(rel);
	chg->compacted = false;
	chg->delta1_len = 0;
	if (!chg->needs_wal)
		return chg;
	AegisWalPrepareInsert();
	memcpy(chg->before.data, AegisBufferGetPage(buf), BLCKSZ);
	return chg;
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
	if (chg->needs_wal)
		chg->delta1_len = compute_delta(chg->before.data, (char *) page, chg->delta1);
	AegisPageCompact(page);
	if (chg->needs_wal)
	{
		memcpy(chg->before.data, page, BLCKSZ);
		chg->compacted = true;
	}
}

/*
 * AegisWalPageLog
 *		Log the change and stamp the page with the record's end LSN.  In the
 *		critical section, after AegisBufferMarkDirty (so a checkpoint that
 *		starts after this record was inserted finds the page dirty).
 */
void
AegisWalPageLog(AegisPageChange *chg)
{
	static char rec[sizeof(AegisWalPageRec) + 2 * (BLCKSZ + 512)];
	static char packed[LZ4_COMPRESSBOUND(2 * (BLCKSZ + 512))];
	AegisWalPageRec *pr = (AegisWalPageRec *) rec;
	Page		page = AegisBufferGetPage(chg->buf);
	char	   *body = rec + sizeof(AegisWalPageRec);
	Size		len;
	uint8		flags = chg->compacted ? AEGIS_WAL_PAGE_COMPACT : 0;
	AegisLsn	end;

	if (!chg->needs_wal)
		return;
	memset(pr, 0, sizeof(AegisWalPageRec));
	AegisBufferGetTag(chg->buf, &pr->key, &pr->pageno);
	pr->delta1_len = chg->delta1_len;
	memcpy(body, chg->delta1, chg->delta1_len);
	pr->delta2_len = compute_delta(chg->before.data, (char *) page, body + chg->delta1_len);
	len = pr->delta1_len + pr->delta2_len;
	pr->stored_len = len;
	if (len >= AEGIS_WAL_COMPRESS_MIN)
	{
		int			n = LZ4_compress_default(body, packed, len, sizeof(packed));

		if (n > 0 && (Size) n < len)
		{
			memcpy(body, packed, n);
			pr->stored_len = n;
			flags |= AEGIS_WAL_PAGE_LZ4;
		}
	}
	end = AegisWalInsert(AEGIS_WAL_PAGE, flags, rec,
						 sizeof(AegisWalPageRec) + pr->stored_len, NULL, 0);
	PageSetLSN(page, end);
}

/*
 * AegisWalPageRedo
 *		Replay a page record ending at 'end'.  The relation's storage may be
 *		gone (dropped later) or newer than the record (created again with
 *		the same key): then there is nothing to do.  Raises
 *		ERRCODE_DATA_CORRUPTED for a malformed record.
 */
void
AegisWalPageRedo(const AegisWalRecord *rec, const char *payload, AegisLsn end)
{
	AegisWalPageRec pr;
	AegisRelInfo info;
	AegisBuffer buf;
	Page		page;
	const char *delta1;
	const char *delta2;

	memcpy(&pr, payload, sizeof(pr));
	if (sizeof(pr) + pr.stored_len + sizeof(AegisWalRecord) > rec->tot_len ||
		(!(rec->flags & AEGIS_WAL_PAGE_LZ4) && pr.stored_len != pr.delta1_len + pr.delta2_len))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis WAL record at %X/%08X has invalid lengths", AEGIS_LSN_ARGS(rec->lsn))));
	delta1 = payload + sizeof(pr);
	if (rec->flags & AEGIS_WAL_PAGE_LZ4)
	{
		static char unpacked[2 * (BLCKSZ + 512)];
		int			want = pr.delta1_len + pr.delta2_len;

		if (want > (int) sizeof(unpacked) ||
			LZ4_decompress_safe(delta1, unpacked, pr.stored_len, want) != want)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("aegis WAL record at %X/%08X does not decompress", AEGIS_LSN_ARGS(rec->lsn))));
		delta1 = unpacked;
	}
	delta2 = delta1 + pr.delta1_len;
	if (!apply_delta(NULL, delta1, pr.delta1_len) ||
		!apply_delta(NULL, delta2, pr.delta2_len))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis WAL record at %X/%08X has an invalid page delta", AEGIS_LSN_ARGS(rec->lsn))));
	if (!AegisStorageGetInfo(&pr.key, &info) || info.create_lsn > rec->lsn)
		return;
	while (info.npages <= pr.pageno)
		info.npages = AegisStorageExtend(&pr.key) + 1;

	buf = AegisBufferRead(&pr.key, pr.pageno);
	AegisBufferLock(buf, LW_EXCLUSIVE);
	page = AegisBufferGetPage(buf);
	if (PageGetLSN(page) < end)
	{
		START_CRIT_SECTION();
		apply_delta(page, delta1, pr.delta1_len);
		if (rec->flags & AEGIS_WAL_PAGE_COMPACT)
			AegisPageCompact(page);
		apply_delta(page, delta2, pr.delta2_len);
		PageSetLSN(page, end);
		AegisBufferMarkDirty(buf);
		END_CRIT_SECTION();
	}
	AegisBufferUnlockRelease(buf);
}
