/*-------------------------------------------------------------------------
 *
 * wal_decode.c
 *	  Check and decode the body of an XLOG_AEGIS_PAGE record, and apply a
 *	  page delta: the part of page redo that reads bytes from the WAL.
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

/*
 * AegisWalApplyDelta
 *		Apply a delta of 'len' bytes to the page at 'page' (BLCKSZ bytes), or
 *		only check it if page is NULL; false if it is malformed.  A delta is
 *		a list of regions (xl_aegis_page): (uint16 offset, uint16 length,
 *		bytes), or with AEGIS_DELTA_COPY in the offset (uint16 offset,
 *		uint16 length, uint16 source) to copy within the page; no region and
 *		no source lies before AEGIS_DELTA_FIRST (pd_lsn) or past the page.
 */
bool
AegisWalApplyDelta(char *page, const char *delta, Size len)
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
		if (off & AEGIS_DELTA_COPY)
		{
			uint16		src;

			off &= ~AEGIS_DELTA_COPY;
			if (pos + 6 > len)
				return false;
			memcpy(&src, delta + pos + 4, 2);
			if (off < AEGIS_DELTA_FIRST || (Size) off + n > BLCKSZ ||
				src < AEGIS_DELTA_FIRST || (Size) src + n > BLCKSZ)
				return false;
			if (page != NULL)
				memmove(page + off, page + src, n);
			pos += 6;
			continue;
		}
		if (off < AEGIS_DELTA_FIRST || (Size) off + n > BLCKSZ || pos + 4 + n > len)
			return false;
		if (page != NULL)
			memcpy(page + off, delta + pos + 4, n);
		pos += 4 + n;
	}
	return true;
}

/*
 * AegisWalPageParse
 *		Check the 'datalen' bytes of an XLOG_AEGIS_PAGE record's data at
 *		'data': the header (copied into *xlrec), the tablespace of a record
 *		that changes the visibility map (into *vm_spc, else InvalidOid), the
 *		lengths, the LZ4 payload (decompressed into 'unpacked',
 *		AEGIS_WAL_UNPACKED_SIZE bytes) and both deltas.  Returns NULL and
 *		points *delta1 and *delta2 at the deltas (into 'data' or 'unpacked'),
 *		or says what is wrong.
 */
const char *
AegisWalPageParse(const char *data, Size datalen, xl_aegis_page *xlrec, Oid *vm_spc,
				  char *unpacked, const char **delta1, const char **delta2)
{
	Size		head = sizeof(*xlrec);

	*vm_spc = InvalidOid;
	if (datalen < sizeof(*xlrec))
		return "is too short";
	memcpy(xlrec, data, sizeof(*xlrec));
	if (xlrec->flags & ~AEGIS_PAGE_KNOWN_FLAGS)
		return "has flags this build does not know (written by a newer aegis_storage? upgrade standbys before primaries)";
	if (xlrec->flags & AEGIS_PAGE_VM_FLAGS)
	{
		if (datalen < head + sizeof(Oid))
			return "is too short";
		memcpy(vm_spc, data + head, sizeof(Oid));
		head += sizeof(Oid);
	}
	if (head + xlrec->stored_len != datalen ||
		(!(xlrec->flags & AEGIS_PAGE_LZ4) &&
		 xlrec->stored_len != xlrec->delta1_len + xlrec->delta2_len))
		return "has invalid lengths";
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
	if (!AegisWalApplyDelta(NULL, *delta1, xlrec->delta1_len) ||
		!AegisWalApplyDelta(NULL, *delta2, xlrec->delta2_len))
		return "has an invalid page delta";
	return NULL;
}
