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

#include "aegis/wal.h"

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
 * AegisWalApplyDelta
 *		Apply a delta of 'len' bytes to the page at 'page' (BLCKSZ bytes), or
 *		only check it if page is NULL; false if it is malformed.  A delta is
 *		a list of regions in page order, each a literal (bytes to write at
 *		an offset) or a copy (bytes to copy within the page from a source
 *		offset); no region and no source lies before AEGIS_DELTA_FIRST
 *		(pd_lsn) or past the page.
 *		Wide regions (XLOG_AEGIS_PAGE): uint16 offset, uint16 length, then
 *		the bytes, or with AEGIS_DELTA_COPY in the offset, uint16 source.
 *		Packed regions ('packed', XLOG_AEGIS_PAGE_PACKED): varint (gap << 1
 *		| copy), the gap counted from the end of the previous region (from
 *		AEGIS_DELTA_FIRST for the first), varint length, then the bytes or,
 *		for a copy, varint source.
 */
bool
AegisWalApplyDelta(char *page, const char *delta, Size len, bool packed)
{
	Size		pos = 0;
	uint32		prev_end = AEGIS_DELTA_FIRST;

	while (pos < len)
	{
		uint32		off,
					n,
					src = 0;
		bool		is_copy;

		if (packed)
		{
			uint32		v;

			if (!get_varint(delta, len, &pos, &v) || !get_varint(delta, len, &pos, &n))
				return false;
			is_copy = (v & 1) != 0;
			if ((v >> 1) > BLCKSZ)
				return false;
			off = prev_end + (v >> 1);
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
 *		'bytes' is NULL, copied from page offset 'src'.  *prev_end is the end
 *		of the previous region (AEGIS_DELTA_FIRST before the first); regions
 *		come in page order.  Takes at most AEGIS_REGION_MAX_HEAD + n bytes.
 */
void
AegisWalPutRegion(char *out, Size *len, uint32 *prev_end, uint32 off, uint32 n,
				  const char *bytes, uint32 src)
{
	Assert(off >= *prev_end);
	*len += put_varint(out + *len, ((off - *prev_end) << 1) | (bytes == NULL ? 1 : 0));
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
 * AegisWalPagePackHeader
 *		Write the header of an XLOG_AEGIS_PAGE_PACKED record for 'xlrec'
 *		(flags, identity, conflict xid, delta lengths; stored_len is not
 *		part of it) and 'vm_spc' (with AEGIS_PAGE_VM_*) to 'out', which has
 *		room for AEGIS_PACKED_MAX_HEAD bytes.  Returns the bytes written.
 */
Size
AegisWalPagePackHeader(const xl_aegis_page *xlrec, Oid vm_spc, char *out)
{
	uint8		flags = xlrec->flags & AEGIS_PAGE_KNOWN_FLAGS;
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
	xlrec->flags = (uint8) data[0] & AEGIS_PAGE_KNOWN_FLAGS;
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
 * AegisWalPageParse
 *		Check the 'datalen' bytes of a page record's data at 'data'
 *		(XLOG_AEGIS_PAGE_PACKED if 'packed', else XLOG_AEGIS_PAGE): the
 *		header (decoded into *xlrec), the tablespace of a record that changes
 *		the visibility map (into *vm_spc, else InvalidOid), the lengths, the
 *		LZ4 payload (decompressed into 'unpacked', AEGIS_WAL_UNPACKED_SIZE
 *		bytes) and both deltas.  Returns NULL and points *delta1 and *delta2
 *		at the deltas (into 'data' or 'unpacked'), or says what is wrong.
 */
const char *
AegisWalPageParse(const char *data, Size datalen, bool packed, xl_aegis_page *xlrec,
				  Oid *vm_spc, char *unpacked, const char **delta1, const char **delta2)
{
	Size		head;
	const char *bad;

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
	if (!AegisWalApplyDelta(NULL, *delta1, xlrec->delta1_len, packed) ||
		!AegisWalApplyDelta(NULL, *delta2, xlrec->delta2_len, packed))
		return "has an invalid page delta";
	return NULL;
}
