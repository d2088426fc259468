/*-------------------------------------------------------------------------
 *
 * wal_decode.c
 *	  Check and decode the body of a page record (XLOG_AEGIS_PAGE or
 *	  XLOG_AEGIS_PAGE_PACKED), and apply a page delta: the part of page
 *	  redo that reads bytes from the WAL.
 *
 * Pure (no I/O, no allocation, no error raised), so it can be fuzzed on
 * its own (test/fuzz/fuzz_wal.c); AegisWalPageRedo (wal_page.c) calls it
 * before it touches any page.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4.h>

#include "access/htup_details.h"
#include "aegis/wal.h"
#include "storage/bufpage.h"

/* Append 'v' as a varint (xl_aegis_page) at 'out'; returns its bytes. */
static Size
put_varint(char *out, uint32 v)
{
	Size		n = 0;

	while (v >= 0x80)
	{
		out[n++] = (char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	out[n++] = (char) v;
	return n;
}

/* Read a varint at data[*pos] (before 'len'); false if cut or too long. */
static bool
get_varint(const char *data, Size len, Size *pos, uint32 *v)
{
	uint64		result = 0;

	for (int shift = 0; shift < 35; shift += 7)
	{
		uint8		b;

		if (*pos >= len)
			return false;
		b = (uint8) data[(*pos)++];
		result |= (uint64) (b & 0x7F) << shift;
		if (!(b & 0x80))
		{
			if (result > PG_UINT32_MAX)
				return false;
			*v = (uint32) result;
			return true;
		}
	}
	return false;
}

/*
 * The bytes of a tuple header a tuple header region covers: t_xmin, t_xmax,
 * t_cid, t_ctid, t_infomask2 and t_infomask (not t_hoff: a new tuple's
 * t_hoff and the data after it go in the literal that follows).
 */
#define TUPLE_REGION_LEN	offsetof(HeapTupleHeaderData, t_hoff)

StaticAssertDecl(TUPLE_REGION_LEN == AEGIS_TUPLE_REGION_LEN, "tuple header region length");

/* A tuple header field's bytes, read from or written to a header. */
#define TH_XMIN		offsetof(HeapTupleHeaderData, t_choice.t_heap.t_xmin)
#define TH_XMAX		offsetof(HeapTupleHeaderData, t_choice.t_heap.t_xmax)
#define TH_CID		offsetof(HeapTupleHeaderData, t_choice.t_heap.t_field3)
#define TH_CTID		offsetof(HeapTupleHeaderData, t_ctid)
#define TH_MASKS	offsetof(HeapTupleHeaderData, t_infomask2)

/*
 * Apply (page not NULL) or check one tuple header region at page offset
 * 'off': its field byte and fields at delta[*pos].  False if malformed.
 */
static bool
apply_tuple_header(char *page, uint32 off, const char *delta, Size len, Size *pos,
				   const AegisDeltaForm *form)
{
	char		hdr[TUPLE_REGION_LEN];
	bool		set[TUPLE_REGION_LEN] = {0};
	uint8		f;
	uint32		v;

	if (off < AEGIS_DELTA_FIRST || off + TUPLE_REGION_LEN > BLCKSZ || *pos >= len)
		return false;
	f = (uint8) delta[(*pos)++];
	if (f == 0 || ((f & AEGIS_TH_CTID_BLOCK) && !(f & AEGIS_TH_CTID)))
		return false;
	/* xmin, then xmax: kept, the record's xid, 4 literal bytes or zero */
	for (int k = 0; k < 2; k++)
	{
		int			at = k == 0 ? TH_XMIN : TH_XMAX;
		TransactionId x;

		switch ((f >> (2 * k)) & AEGIS_TH_XID_MASK)
		{
			case AEGIS_TH_XID_KEEP:
				continue;
			case AEGIS_TH_XID_RECORD:
				if (!TransactionIdIsValid(form->xid))
					return false;
				x = form->xid;
				break;
			case AEGIS_TH_XID_LITERAL:
				if (len - *pos < sizeof(x))
					return false;
				memcpy(&x, delta + *pos, sizeof(x));
				*pos += sizeof(x);
				break;
			default:
				x = InvalidTransactionId;
				break;
		}
		memcpy(hdr + at, &x, sizeof(x));
		memset(set + at, 1, sizeof(x));
	}
	if (f & AEGIS_TH_CID)
	{
		if (!get_varint(delta, len, pos, &v))
			return false;
		memcpy(hdr + TH_CID, &v, sizeof(v));
		memset(set + TH_CID, 1, sizeof(v));
	}
	if (f & AEGIS_TH_CTID)
	{
		ItemPointerData tid;
		BlockNumber blk = form->pageno;

		if (!get_varint(delta, len, pos, &v) || v > PG_UINT16_MAX)
			return false;
		if (f & AEGIS_TH_CTID_BLOCK)
		{
			if (len - *pos < sizeof(blk))
				return false;
			memcpy(&blk, delta + *pos, sizeof(blk));
			*pos += sizeof(blk);
		}
		ItemPointerSet(&tid, blk, (OffsetNumber) v);
		memcpy(hdr + TH_CTID, &tid, sizeof(tid));
		memset(set + TH_CTID, 1, sizeof(tid));
	}
	if (f & AEGIS_TH_MASKS)
	{
		if (len - *pos < 4)
			return false;
		memcpy(hdr + TH_MASKS, delta + *pos, 4);
		memset(set + TH_MASKS, 1, 4);
		*pos += 4;
	}
	if (page != NULL)
	{
		for (int i = 0; i < TUPLE_REGION_LEN; i++)
			if (set[i])
				page[off + i] = hdr[i];
	}
	return true;
}

/*
 * Apply an item region: the line pointer at page offset 'off' points to a
 * new tuple of 'n' bytes at the top of the free space, as PageAddItem puts
 * it: pd_upper moves down by MAXALIGN(n) and pd_lower up past the line
 * pointer.  A page whose bounds leave no room (it is not the page the
 * record was written for: a restored backup before consistency) is left
 * as it is; redo replaces it later (wal_page.c, AegisWalPageRedo).
 */
static void
apply_item(char *page, uint32 off, uint32 n)
{
	PageHeader	ph = (PageHeader) page;
	ItemIdData	lp;
	uint32		lower = Max(ph->pd_lower, off + sizeof(ItemIdData));

	if (ph->pd_upper > BLCKSZ || ph->pd_upper < MAXALIGN(n) ||
		ph->pd_upper - MAXALIGN(n) < lower)
		return;
	ItemIdSetNormal(&lp, ph->pd_upper - MAXALIGN(n), n);
	memcpy(page + off, &lp, sizeof(lp));
	ph->pd_upper -= MAXALIGN(n);
	ph->pd_lower = lower;
}

/* The offset number of the line pointer at page offset 'at'. */
#define LP_OFFSET_NUMBER(at) \
	((OffsetNumber) (((at) - SizeOfPageHeaderData) / sizeof(ItemIdData) + 1))

/*
 * Apply (page not NULL) or check an item run whose line pointers start at
 * page offset 'off': its count, cid and tuples at delta[*pos]
 * (AegisWalPutItemRun); the count into *count.  Each tuple goes where
 * PageAddItem puts it, with the header an INSERT writes; once one does not
 * fit (not the page the record was written for, as in apply_item), the
 * rest of the run is read but not applied.  False if malformed.
 */
static bool
apply_item_run(char *page, uint32 off, const char *delta, Size len, Size *pos,
			   const AegisDeltaForm *form, uint32 *count)
{
	PageHeader	ph = (PageHeader) page;
	bool		room = page != NULL;
	uint32		k;
	uint32		cid;

	if (!TransactionIdIsValid(form->xid) ||
		!get_varint(delta, len, pos, &k) || k < 1 ||
		k > (BLCKSZ - off) / sizeof(ItemIdData) ||
		!get_varint(delta, len, pos, &cid))
		return false;
	for (uint32 i = 0; i < k; i++)
	{
		uint32		tlen;
		uint32		lp_at = off + i * sizeof(ItemIdData);

		if (!get_varint(delta, len, pos, &tlen) || tlen < SizeofHeapTupleHeader ||
			tlen > BLCKSZ || len - *pos < 4 + tlen - TUPLE_REGION_LEN)
			return false;
		if (room)
		{
			uint32		lower = Max(ph->pd_lower, lp_at + sizeof(ItemIdData));

			room = ph->pd_upper <= BLCKSZ && ph->pd_upper >= MAXALIGN(tlen) &&
				ph->pd_upper - MAXALIGN(tlen) >= lower;
			if (room)
			{
				uint32		at = ph->pd_upper - MAXALIGN(tlen);
				char		hdr[TUPLE_REGION_LEN];
				TransactionId zero = InvalidTransactionId;
				ItemPointerData tid;
				ItemIdData	lp;

				memcpy(hdr + TH_XMIN, &form->xid, sizeof(TransactionId));
				memcpy(hdr + TH_XMAX, &zero, sizeof(TransactionId));
				memcpy(hdr + TH_CID, &cid, sizeof(cid));
				ItemPointerSet(&tid, form->pageno, LP_OFFSET_NUMBER(lp_at));
				memcpy(hdr + TH_CTID, &tid, sizeof(tid));
				memcpy(hdr + TH_MASKS, delta + *pos, 4);
				memcpy(page + at, hdr, TUPLE_REGION_LEN);
				memcpy(page + at + TUPLE_REGION_LEN, delta + *pos + 4, tlen - TUPLE_REGION_LEN);
				memset(page + at + tlen, 0, MAXALIGN(tlen) - tlen);
				ItemIdSetNormal(&lp, at, tlen);
				memcpy(page + lp_at, &lp, sizeof(lp));
				ph->pd_upper = at;
				ph->pd_lower = lower;
			}
		}
		*pos += 4 + tlen - TUPLE_REGION_LEN;
	}
	*count = k;
	return true;
}

/*
 * AegisWalApplyDelta
 *		Apply a delta of 'len' bytes to the page at 'page' (BLCKSZ bytes), or
 *		only check it if page is NULL; false if it is malformed.  A delta is
 *		a list of regions in page order, each a literal (bytes to write at
 *		an offset), a copy (bytes to copy within the page from a source
 *		offset) or, in the typed form, a tuple header (the fields of a
 *		HeapTupleHeader that changed, AegisWalPutTupleHeader); no region and
 *		no source lies before AEGIS_DELTA_FIRST (pd_lsn) or past the page.
 *		Wide regions (XLOG_AEGIS_PAGE): uint16 offset, uint16 length, then
 *		the bytes, or with AEGIS_DELTA_COPY in the offset, uint16 source.
 *		Packed regions (XLOG_AEGIS_PAGE_PACKED): varint (gap << 1 | copy),
 *		the gap counted from the end of the previous region (from
 *		AEGIS_DELTA_FIRST for the first), varint length, then the bytes or,
 *		for a copy, varint source.  Typed regions (packed, with
 *		AEGIS_PACKED_TYPED): varint (gap << 2 | kind), AEGIS_REGION_*; a
 *		tuple header region has no length (AEGIS_TUPLE_REGION_LEN bytes of
 *		the page) but a field byte and the fields; an item region is a line
 *		pointer (its offset) and varint the new tuple's length
 *		(apply_item), or with length 0 and AEGIS_PACKED_RUNS an item run
 *		(apply_item_run).
 */
bool
AegisWalApplyDelta(char *page, const char *delta, Size len, const AegisDeltaForm *form)
{
	Size		pos = 0;
	uint32		prev_end = AEGIS_DELTA_FIRST;

	while (pos < len)
	{
		uint32		off,
					n,
					src = 0;
		bool		is_copy;

		if (form->packed)
		{
			uint32		v;
			uint32		kind;
			int			shift = form->typed ? 2 : 1;

			if (!get_varint(delta, len, &pos, &v))
				return false;
			kind = v & ((1 << shift) - 1);
			if ((v >> shift) > BLCKSZ)
				return false;
			off = prev_end + (v >> shift);
			if (kind == AEGIS_REGION_TUPLE)
			{
				if (!apply_tuple_header(page, off, delta, len, &pos, form))
					return false;
				prev_end = off + TUPLE_REGION_LEN;
				continue;
			}
			if (!get_varint(delta, len, &pos, &n))
				return false;
			if (kind == AEGIS_REGION_ITEM)
			{
				if (off < SizeOfPageHeaderData || (off - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0 ||
					off + sizeof(ItemIdData) > BLCKSZ || n > BLCKSZ)
					return false;
				if (n == 0)
				{
					uint32		count;

					if (!form->runs || !apply_item_run(page, off, delta, len, &pos, form, &count))
						return false;
					prev_end = off + count * sizeof(ItemIdData);
					continue;
				}
				if (page != NULL)
					apply_item(page, off, n);
				prev_end = off + sizeof(ItemIdData);
				continue;
			}
			is_copy = kind == AEGIS_REGION_COPY;
			if (is_copy && !get_varint(delta, len, &pos, &src))
				return false;
		}
		else
		{
			uint16		o16,
						n16,
						s16;

			if (pos + 4 > len)
				return false;
			memcpy(&o16, delta + pos, 2);
			memcpy(&n16, delta + pos + 2, 2);
			pos += 4;
			is_copy = (o16 & AEGIS_DELTA_COPY) != 0;
			off = o16 & ~AEGIS_DELTA_COPY;
			n = n16;
			if (is_copy)
			{
				if (pos + 2 > len)
					return false;
				memcpy(&s16, delta + pos, 2);
				pos += 2;
				src = s16;
			}
		}
		if (off < AEGIS_DELTA_FIRST || n > BLCKSZ || off + n > BLCKSZ)
			return false;
		if (is_copy)
		{
			if (src < AEGIS_DELTA_FIRST || src > BLCKSZ || src + n > BLCKSZ)
				return false;
			if (page != NULL)
				memmove(page + off, page + src, n);
		}
		else
		{
			if (n > len - pos)
				return false;
			if (page != NULL)
				memcpy(page + off, delta + pos, n);
			pos += n;
		}
		prev_end = off + n;
	}
	return true;
}

/*
 * AegisWalPutRegion
 *		Append one region of a packed delta (AegisWalApplyDelta) at
 *		out[*len]: 'n' bytes at page offset 'off', literal ('bytes') or, if
 *		'bytes' is NULL, copied from page offset 'src'; in the typed form if
 *		'typed'.  *prev_end is the end of the previous region
 *		(AEGIS_DELTA_FIRST before the first); regions come in page order.
 *		Takes at most AEGIS_REGION_MAX_HEAD + n bytes.
 */
void
AegisWalPutRegion(char *out, Size *len, uint32 *prev_end, uint32 off, uint32 n,
				  const char *bytes, uint32 src, bool typed)
{
	uint32		kind = bytes == NULL ? AEGIS_REGION_COPY : AEGIS_REGION_LITERAL;

	Assert(off >= *prev_end);
	*len += put_varint(out + *len, ((off - *prev_end) << (typed ? 2 : 1)) | kind);
	*len += put_varint(out + *len, n);
	if (bytes == NULL)
		*len += put_varint(out + *len, src);
	else
	{
		memcpy(out + *len, bytes, n);
		*len += n;
	}
	*prev_end = off + n;
}

/*
 * AegisWalPutItem
 *		Append an item region of a typed delta at out[*len]: the line
 *		pointer at page offset 'off' points to a new tuple of 'n' bytes put
 *		at the top of the free space, and pd_upper and pd_lower moved, as
 *		PageAddItem does (apply_item).  The delta's other regions must not
 *		write pd_lower or pd_upper.  Takes at most 6 bytes.
 */
void
AegisWalPutItem(char *out, Size *len, uint32 *prev_end, uint32 off, uint32 n)
{
	Assert(off >= *prev_end);
	*len += put_varint(out + *len, ((off - *prev_end) << 2) | AEGIS_REGION_ITEM);
	*len += put_varint(out + *len, n);
	*prev_end = off + sizeof(ItemIdData);
}

/*
 * AegisWalPutItemRun
 *		Append an item run of a typed delta at out[*len] (with
 *		AEGIS_PACKED_RUNS): the 'count' line pointers of 'page' from page
 *		offset 'off' on point to tuples added one after another at the top
 *		of the free space, which began at 'upper' (PageAddItem's order:
 *		each MAXALIGNed below the one before, padding zero), and each
 *		tuple's header is what an insert of transaction 'xid' writes on
 *		page 'pageno': xmin 'xid', xmax zero, the first tuple's command id,
 *		ctid its own TID.  Redo (apply_item_run) rebuilds those tuples,
 *		line pointers and the bounds pd_lower (past the last line pointer,
 *		if it was below) and pd_upper (the last tuple), so no other region
 *		of the delta may write them.  Nothing is appended, and false
 *		returned, if the page is not so.  Takes at most
 *		AEGIS_REGION_MAX_HEAD + 6 + 6 bytes per tuple plus the tuples'
 *		bytes past their first AEGIS_TUPLE_REGION_LEN.
 */
bool
AegisWalPutItemRun(char *out, Size *len, uint32 *prev_end, uint32 off, int count,
				   const char *page, uint32 upper, TransactionId xid, BlockNumber pageno)
{
	Size		n = *len;
	uint32		cid = 0;

	Assert(off >= *prev_end);
	if (count < 1 || !TransactionIdIsValid(xid) || off < SizeOfPageHeaderData ||
		(off - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0 ||
		off + count * sizeof(ItemIdData) > BLCKSZ)
		return false;
	/* every tuple first: the run is all or nothing */
	for (int i = 0; i < count; i++)
	{
		ItemIdData	lp;
		uint32		at;
		uint32		tlen;
		TransactionId x;
		uint32		c;
		ItemPointerData tid;

		memcpy(&lp, page + off + i * sizeof(ItemIdData), sizeof(lp));
		tlen = ItemIdGetLength(&lp);
		if (!ItemIdIsNormal(&lp) || tlen < SizeofHeapTupleHeader || upper < MAXALIGN(tlen) ||
			ItemIdGetOffset(&lp) != upper - MAXALIGN(tlen))
			return false;
		at = ItemIdGetOffset(&lp);
		for (uint32 b = at + tlen; b < at + MAXALIGN(tlen); b++)
			if (page[b] != 0)
				return false;
		memcpy(&x, page + at + TH_XMIN, sizeof(x));
		if (x != xid)
			return false;
		memcpy(&x, page + at + TH_XMAX, sizeof(x));
		if (x != InvalidTransactionId)
			return false;
		memcpy(&c, page + at + TH_CID, sizeof(c));
		if (i == 0)
			cid = c;
		else if (c != cid)
			return false;
		memcpy(&tid, page + at + TH_CTID, sizeof(tid));
		if (ItemPointerGetBlockNumberNoCheck(&tid) != pageno ||
			ItemPointerGetOffsetNumberNoCheck(&tid) !=
			LP_OFFSET_NUMBER(off + i * sizeof(ItemIdData)))
			return false;
		upper = at;
	}
	n += put_varint(out + n, ((off - *prev_end) << 2) | AEGIS_REGION_ITEM);
	n += put_varint(out + n, 0);
	n += put_varint(out + n, (uint32) count);
	n += put_varint(out + n, cid);
	for (int i = 0; i < count; i++)
	{
		ItemIdData	lp;
		uint32		tlen;

		memcpy(&lp, page + off + i * sizeof(ItemIdData), sizeof(lp));
		tlen = ItemIdGetLength(&lp);
		n += put_varint(out + n, tlen);
		memcpy(out + n, page + ItemIdGetOffset(&lp) + TH_MASKS, 4);
		n += 4;
		memcpy(out + n, page + ItemIdGetOffset(&lp) + TUPLE_REGION_LEN, tlen - TUPLE_REGION_LEN);
		n += tlen - TUPLE_REGION_LEN;
	}
	*len = n;
	*prev_end = off + count * sizeof(ItemIdData);
	return true;
}

/* The code of a transaction id field whose bytes are 'now' (was 'then'). */
static int
xid_code(const char *now, const char *then, TransactionId record_xid, char *lit, Size *litlen)
{
	TransactionId x;

	if (then != NULL && memcmp(now, then, sizeof(x)) == 0)
		return AEGIS_TH_XID_KEEP;
	memcpy(&x, now, sizeof(x));
	if (x == InvalidTransactionId)
		return AEGIS_TH_XID_ZERO;
	if (TransactionIdIsValid(record_xid) && x == record_xid)
		return AEGIS_TH_XID_RECORD;
	memcpy(lit + *litlen, now, sizeof(x));
	*litlen += sizeof(x);
	return AEGIS_TH_XID_LITERAL;
}

/*
 * AegisWalPutTupleHeader
 *		Append a tuple header region of a typed delta at out[*len] for the
 *		header at page offset 'off' whose first AEGIS_TUPLE_REGION_LEN bytes
 *		are 'after' and were 'before' (NULL: not known, every field is
 *		written): the fields that changed, an xid equal to the record's
 *		('xid', what XLogInsert will put in xl_xid) or zero as a code, a
 *		ctid on page 'pageno' without its block.  Redo rebuilds exactly
 *		'after' from the page that holds 'before'.  Nothing is appended, and
 *		false returned, if the region would take more than 'limit' bytes
 *		(head included); true with nothing appended if no field changed.
 *		Takes at most AEGIS_REGION_MAX_HEAD + 22 bytes.
 */
bool
AegisWalPutTupleHeader(char *out, Size *len, uint32 *prev_end, uint32 off, const char *after,
					   const char *before, TransactionId xid, BlockNumber pageno, Size limit)
{
	char		fields[32];
	char		head[5];
	Size		n = 0;
	Size		headlen;
	uint8		f = 0;

	Assert(off >= *prev_end);
	f |= xid_code(after + TH_XMIN, before ? before + TH_XMIN : NULL, xid, fields, &n);
	f |= xid_code(after + TH_XMAX, before ? before + TH_XMAX : NULL, xid, fields, &n) << 2;
	if (before == NULL || memcmp(after + TH_CID, before + TH_CID, sizeof(uint32)) != 0)
	{
		uint32		cid;

		memcpy(&cid, after + TH_CID, sizeof(cid));
		n += put_varint(fields + n, cid);
		f |= AEGIS_TH_CID;
	}
	if (before == NULL || memcmp(after + TH_CTID, before + TH_CTID, sizeof(ItemPointerData)) != 0)
	{
		ItemPointerData tid;
		BlockNumber blk;

		memcpy(&tid, after + TH_CTID, sizeof(tid));
		blk = ItemPointerGetBlockNumberNoCheck(&tid);
		n += put_varint(fields + n, ItemPointerGetOffsetNumberNoCheck(&tid));
		f |= AEGIS_TH_CTID;
		if (blk != pageno)
		{
			memcpy(fields + n, &blk, sizeof(blk));
			n += sizeof(blk);
			f |= AEGIS_TH_CTID_BLOCK;
		}
	}
	if (before == NULL || memcmp(after + TH_MASKS, before + TH_MASKS, 4) != 0)
	{
		memcpy(fields + n, after + TH_MASKS, 4);
		n += 4;
		f |= AEGIS_TH_MASKS;
	}
	if (f == 0)
		return true;
	headlen = put_varint(head, ((off - *prev_end) << 2) | AEGIS_REGION_TUPLE);
	if (headlen + 1 + n > limit)
		return false;
	memcpy(out + *len, head, headlen);
	out[*len + headlen] = (char) f;
	memcpy(out + *len + headlen + 1, fields, n);
	*len += headlen + 1 + n;
	*prev_end = off + TUPLE_REGION_LEN;
	return true;
}

/*
 * AegisWalPagePackHeader
 *		Write the header of an XLOG_AEGIS_PAGE_PACKED record for 'xlrec'
 *		(flags, identity, conflict xid, delta lengths; stored_len is not
 *		part of it) and 'vm_spc' (with AEGIS_PAGE_VM_*) to 'out', which has
 *		room for AEGIS_PACKED_MAX_HEAD bytes.  Returns the bytes written.
 */
Size
AegisWalPagePackHeader(const xl_aegis_page *xlrec, Oid vm_spc, char *out)
{
	uint8		flags = xlrec->flags & (AEGIS_PAGE_KNOWN_FLAGS | AEGIS_PACKED_TYPED |
										AEGIS_PACKED_RUNS);
	Size		n = 1;

	if (TransactionIdIsValid(xlrec->conflict_xid))
		flags |= AEGIS_PACKED_CONFLICT;
	if (xlrec->delta1_len > 0)
		flags |= AEGIS_PACKED_DELTA1;
	out[0] = (char) flags;
	n += put_varint(out + n, xlrec->key.spcOid);
	n += put_varint(out + n, xlrec->key.dbOid);
	n += put_varint(out + n, xlrec->key.relNumber);
	n += put_varint(out + n, xlrec->pageno);
	if (flags & AEGIS_PACKED_CONFLICT)
	{
		memcpy(out + n, &xlrec->conflict_xid, sizeof(TransactionId));
		n += sizeof(TransactionId);
	}
	if (flags & AEGIS_PACKED_DELTA1)
		n += put_varint(out + n, xlrec->delta1_len);
	if (flags & AEGIS_PAGE_LZ4)
		n += put_varint(out + n, xlrec->delta1_len + xlrec->delta2_len);
	if (flags & AEGIS_PAGE_VM_FLAGS)
		n += put_varint(out + n, vm_spc);
	Assert(n <= AEGIS_PACKED_MAX_HEAD);
	return n;
}

/*
 * AegisWalPageParseHeader
 *		Check and decode the header of a page record's 'datalen' bytes at
 *		'data', XLOG_AEGIS_PAGE_PACKED if 'packed' else XLOG_AEGIS_PAGE, into
 *		*xlrec (every field, stored_len included) and *vm_spc (InvalidOid
 *		without AEGIS_PAGE_VM_*); *head is where the deltas start.  Returns
 *		NULL, or says what is wrong.  The lengths are checked against the
 *		record's; the deltas themselves are not read.
 */
const char *
AegisWalPageParseHeader(const char *data, Size datalen, bool packed, xl_aegis_page *xlrec,
						Oid *vm_spc, Size *head)
{
	static const char *const newer = "has flags this build does not know (written by a newer aegis_storage? upgrade standbys before primaries)";
	uint32		v;
	Size		pos;

	*vm_spc = InvalidOid;
	memset(xlrec, 0, sizeof(*xlrec));
	if (!packed)
	{
		pos = sizeof(*xlrec);
		if (datalen < pos)
			return "is too short";
		memcpy(xlrec, data, sizeof(*xlrec));
		if (xlrec->flags & ~AEGIS_PAGE_KNOWN_FLAGS)
			return newer;
		if (xlrec->flags & AEGIS_PAGE_VM_FLAGS)
		{
			if (datalen < pos + sizeof(Oid))
				return "is too short";
			memcpy(vm_spc, data + pos, sizeof(Oid));
			pos += sizeof(Oid);
		}
		if (pos + xlrec->stored_len != datalen ||
			(!(xlrec->flags & AEGIS_PAGE_LZ4) &&
			 xlrec->stored_len != xlrec->delta1_len + xlrec->delta2_len))
			return "has invalid lengths";
		*head = pos;
		return NULL;
	}

	if (datalen < 1)
		return "is too short";
	if ((uint8) data[0] & ~AEGIS_PACKED_KNOWN_FLAGS)
		return newer;
	xlrec->flags = (uint8) data[0] & (AEGIS_PAGE_KNOWN_FLAGS | AEGIS_PACKED_TYPED |
									  AEGIS_PACKED_RUNS);
	pos = 1;
	if (!get_varint(data, datalen, &pos, &xlrec->key.spcOid) ||
		!get_varint(data, datalen, &pos, &xlrec->key.dbOid) ||
		!get_varint(data, datalen, &pos, &xlrec->key.relNumber) ||
		!get_varint(data, datalen, &pos, &xlrec->pageno))
		return "is too short";
	if ((uint8) data[0] & AEGIS_PACKED_CONFLICT)
	{
		if (datalen < pos + sizeof(TransactionId))
			return "is too short";
		memcpy(&xlrec->conflict_xid, data + pos, sizeof(TransactionId));
		pos += sizeof(TransactionId);
	}
	v = 0;
	if (((uint8) data[0] & AEGIS_PACKED_DELTA1) && !get_varint(data, datalen, &pos, &v))
		return "is too short";
	if (v > AEGIS_WAL_UNPACKED_SIZE)
		return "has invalid lengths";
	xlrec->delta1_len = v;
	if (xlrec->flags & AEGIS_PAGE_LZ4)
	{
		if (!get_varint(data, datalen, &pos, &v))
			return "is too short";
		if (v > AEGIS_WAL_UNPACKED_SIZE || v < xlrec->delta1_len)
			return "has invalid lengths";
		xlrec->delta2_len = v - xlrec->delta1_len;
	}
	if (xlrec->flags & AEGIS_PAGE_VM_FLAGS)
	{
		if (!get_varint(data, datalen, &pos, &v))
			return "is too short";
		*vm_spc = v;
	}
	if (datalen - pos > PG_UINT16_MAX)
		return "has invalid lengths";
	xlrec->stored_len = datalen - pos;
	if (!(xlrec->flags & AEGIS_PAGE_LZ4))
	{
		if (xlrec->stored_len < xlrec->delta1_len)
			return "has invalid lengths";
		xlrec->delta2_len = xlrec->stored_len - xlrec->delta1_len;
	}
	*head = pos;
	return NULL;
}

/*
 * AegisWalDeltaFormOf
 *		How the deltas of a page record whose header parsed into 'xlrec'
 *		(XLOG_AEGIS_PAGE_PACKED if 'packed') are read: into *form, with the
 *		record's xid 'xid' (XLogRecGetXid).
 */
void
AegisWalDeltaFormOf(const xl_aegis_page *xlrec, bool packed, TransactionId xid,
					AegisDeltaForm *form)
{
	form->packed = packed;
	form->typed = packed && (xlrec->flags & AEGIS_PACKED_TYPED) != 0;
	form->runs = form->typed && (xlrec->flags & AEGIS_PACKED_RUNS) != 0;
	form->xid = xid;
	form->pageno = xlrec->pageno;
}

/*
 * AegisWalPageParse
 *		Check the 'datalen' bytes of a page record's data at 'data'
 *		(XLOG_AEGIS_PAGE_PACKED if 'packed', else XLOG_AEGIS_PAGE; 'xid' the
 *		record's, XLogRecGetXid): the
 *		header (decoded into *xlrec), the tablespace of a record that changes
 *		the visibility map (into *vm_spc, else InvalidOid), the lengths, the
 *		LZ4 payload (decompressed into 'unpacked', AEGIS_WAL_UNPACKED_SIZE
 *		bytes) and both deltas.  Returns NULL and points *delta1 and *delta2
 *		at the deltas (into 'data' or 'unpacked'), or says what is wrong.
 */
const char *
AegisWalPageParse(const char *data, Size datalen, bool packed, TransactionId xid,
				  xl_aegis_page *xlrec, Oid *vm_spc, char *unpacked, const char **delta1,
				  const char **delta2)
{
	Size		head;
	const char *bad;
	AegisDeltaForm form;

	bad = AegisWalPageParseHeader(data, datalen, packed, xlrec, vm_spc, &head);
	if (bad)
		return bad;
	*delta1 = data + head;
	if (xlrec->flags & AEGIS_PAGE_LZ4)
	{
		int			want = xlrec->delta1_len + xlrec->delta2_len;

		if (want > AEGIS_WAL_UNPACKED_SIZE ||
			LZ4_decompress_safe(*delta1, unpacked, xlrec->stored_len, want) != want)
			return "does not decompress";
		*delta1 = unpacked;
	}
	*delta2 = *delta1 + xlrec->delta1_len;
	AegisWalDeltaFormOf(xlrec, packed, xid, &form);
	if (!AegisWalApplyDelta(NULL, *delta1, xlrec->delta1_len, &form) ||
		!AegisWalApplyDelta(NULL, *delta2, xlrec->delta2_len, &form))
		return "has an invalid page delta";
	return NULL;
}
