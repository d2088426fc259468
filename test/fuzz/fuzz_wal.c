/*
 * fuzz_wal.c
 *	  libFuzzer target for the page redo decoder (src/wal/wal_decode.c):
 *	  AegisWalPageParse on an arbitrary record body, then the deltas it
 *	  accepts applied to a page.  With bit 0 of the first byte the
 *	  record's stored_len is set to match the input, so the LZ4 and delta
 *	  checks behind the length check are reached.
 */
#include "postgres.h"

#include "aegis/wal.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[2 * BLCKSZ + sizeof(xl_aegis_page)];
	static char unpacked[AEGIS_WAL_UNPACKED_SIZE];
	static PGAlignedBlock page;
	xl_aegis_page xlrec;
	Oid			spc;
	const char *d1;
	const char *d2;
	uint8		mode;

	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	mode = data[0];
	memcpy(buf, data + 1, size - 1);
	size--;
	if ((mode & 1) && size >= sizeof(xlrec))
	{
		Size		head = sizeof(xlrec);

		memcpy(&xlrec, buf, sizeof(xlrec));
		if (xlrec.flags & AEGIS_PAGE_VM_FLAGS)
			head += sizeof(Oid);
		if (size < head || size - head > PG_UINT16_MAX)
			goto parse;
		xlrec.stored_len = size - head;
		if (!(xlrec.flags & AEGIS_PAGE_LZ4) && xlrec.delta1_len <= xlrec.stored_len)
			xlrec.delta2_len = xlrec.stored_len - xlrec.delta1_len;
		memcpy(buf, &xlrec, sizeof(xlrec));
	}
parse:
	if (AegisWalPageParse(buf, size, &xlrec, &spc, unpacked, &d1, &d2) == NULL)
	{
		memset(page.data, 0, BLCKSZ);
		if (!AegisWalApplyDelta(page.data, d1, xlrec.delta1_len) ||
			!AegisWalApplyDelta(page.data, d2, xlrec.delta2_len))
			abort();			/* accepted deltas apply */
	}
	return 0;
}
