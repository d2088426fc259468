/*
 * fuzz_map.c
 *	  libFuzzer target for the block map file decoder
 *	  (src/backend/map_format.c: AegisMapParse) and the generation header
 *	  decoder (AegisGenerationHeaderParse) on arbitrary bytes.  With
 *	  bit 0 of the first byte, the magic, a known version and the CRC are
 *	  made right so the checks behind them are reached.
 */
#include "postgres.h"

#include "map_format.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[64 * 1024];
	AegisMapFileHeader hdr;
	const char *entries;
	uint8		mode;

	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	mode = data[0];
	memcpy(buf, data + 1, size - 1);
	size--;
	if ((mode & 1) && size >= ((mode & 2) ? AEGIS_MAP_HEADER_V3_SIZE : sizeof(AegisMapFileHeader)))
	{
		AegisMapFileHeader h;
		Size		maplen;
		pg_crc32c	crc;
		Size		hlen;

		memcpy(&h, buf, sizeof(h));
		h.magic = AEGIS_MAP_MAGIC;
		h.version = (mode & 2) ? ((mode & 4) ? 2 : 3) : AEGIS_MAP_VERSION;
		hlen = (mode & 2) ? AEGIS_MAP_HEADER_V3_SIZE : sizeof(h);
		h.npages %= (size - hlen) / sizeof(AegisBlockLoc) + 1;
		h.crc = 0;
		maplen = (Size) h.npages * sizeof(AegisBlockLoc);
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, &h, hlen);
		COMP_CRC32C(crc, buf + hlen, maplen);
		FIN_CRC32C(crc);
		h.crc = crc;
		memcpy(buf, &h, hlen);
	}
	if (AegisMapParse(buf, size, &hdr, &entries))
	{
		/* the entries it points at lie within the file */
		if (entries < buf ||
			entries + (Size) hdr.npages * sizeof(AegisBlockLoc) > buf + size ||
			hdr.codec >= AEGIS_NUM_CODECS)
			abort();
		/* only version 4 has a cut LSN */
		if (hdr.version < AEGIS_MAP_VERSION && hdr.cut_lsn != 0)
			abort();
	}
	/* the same bytes as the start of a data file generation */
	{
		AegisGenerationHeader g;

		if (AegisGenerationHeaderParse(buf, size, &g) &&
			(g.magic != AEGIS_GEN_MAGIC || g.npages > MaxBlockNumber))
			abort();
	}
	return 0;
}
