/*-------------------------------------------------------------------------
 *
 * map_format.c
 *	  Verify and decode the bytes of an aegis block map file (map_format.h).
 *
 * Pure: no I/O, no allocation, no error raised, so it can be fuzzed on its
 * own (test/fuzz/fuzz_map.c).  backend_local.c reads the file and writes
 * new ones.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "map_format.h"

/* The current header equivalent to a version 1 header. */
static void
map_header_from_v1(const AegisMapFileHeaderV1 *v1, AegisMapFileHeader *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = v1->magic;
	hdr->version = 1;
	hdr->storage = v1->storage;
	hdr->codec = v1->codec;
	hdr->level = v1->level;
	hdr->key = v1->key;
	hdr->npages = v1->npages;
	hdr->generation = v1->generation;
	hdr->file_end = v1->file_end;
	hdr->persistence = RELPERSISTENCE_PERMANENT;
}

/*
 * AegisMapParse
 *		Check the 'len' bytes of a map file at 'buf': magic, a known version,
 *		codec and storage kind, room for the header and hdr->npages entries,
 *		the CRC, and the bits above the entries' file offsets (version 5:
 *		group members and pending blocks that make sense; none before).
 *		On success fill *hdr (a version 1 header converted;
 *		hdr->version tells which it was) and point *entries at the entries
 *		inside 'buf' (maybe unaligned: copy them out) and return true;
 *		otherwise return false.  Bytes past the entries are ignored.
 */
bool
AegisMapParse(const char *buf, Size len, AegisMapFileHeader *hdr, const char **entries)
{
	AegisMapFileHeaderV1 v1;
	char		h[sizeof(AegisMapFileHeader)];
	Size		hlen;
	Size		maplen;
	pg_crc32c	crc;
	pg_crc32c	expected;

	if (len < sizeof(v1))
		return false;
	memcpy(&v1, buf, sizeof(v1));
	if (v1.magic != AEGIS_MAP_MAGIC)
		return false;
	if (v1.version == 1)
	{
		map_header_from_v1(&v1, hdr);
		expected = v1.crc;
		v1.crc = 0;
		memcpy(h, &v1, sizeof(v1));
		hlen = sizeof(v1);
	}
	else if (v1.version >= 2 && v1.version <= AEGIS_MAP_VERSION)
	{
		AegisMapFileHeader zeroed;

		/* versions 2 and 3 end before cut_lsn: it stays 0 */
		hlen = v1.version >= 4 ? sizeof(*hdr) : AEGIS_MAP_HEADER_V3_SIZE;
		if (len < hlen)
			return false;
		memset(hdr, 0, sizeof(*hdr));
		memcpy(hdr, buf, hlen);
		expected = hdr->crc;
		zeroed = *hdr;
		zeroed.crc = 0;
		memcpy(h, &zeroed, hlen);
	}
	else
		return false;
	if (hdr->codec >= AEGIS_NUM_CODECS || hdr->storage > AEGIS_STORAGE_MEMORY)
		return false;
	maplen = (Size) hdr->npages * sizeof(AegisBlockLoc);
	if (hdr->npages > MaxBlockNumber || len - hlen < maplen)
		return false;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, h, hlen);
	if (maplen > 0)
		COMP_CRC32C(crc, buf + hlen, maplen);
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, expected))
		return false;
	/* the bits above a file offset (AegisBlockLoc): version 5 only, sane */
	for (uint32 p = 0; p < hdr->npages; p++)
	{
		AegisBlockLoc loc;

		memcpy(&loc, buf + hlen + (Size) p * sizeof(AegisBlockLoc), sizeof(loc));
		if (loc.length == 0 || (loc.offset & ~AEGIS_LOC_MAX_OFFSET) == 0)
			continue;
		if (hdr->version < 5 || hdr->storage != AEGIS_STORAGE_LOCAL ||
			AegisLocGroupSize(&loc) > AEGIS_GROUP_MAX_PAGES ||
			(AegisLocGroupSize(&loc) == 0 ?
			 (AegisLocMember(&loc) & ~1) != 0 || loc.length > AEGIS_BLOCK_MAX_SIZE ||
			 (AegisLocIsPending(&loc) && AegisLocIsCold(&loc)) :
			 AegisLocIsPending(&loc) || AegisLocMember(&loc) >= AegisLocGroupSize(&loc) ||
			 loc.length > AEGIS_GROUP_MAX_SIZE))
			return false;
	}
	*entries = buf + hlen;
	return true;
}

/*
 * AegisGenerationHeaderParse
 *		Is there a valid generation header (magic, version, CRC) at 'buf'
 *		('len' bytes)?  Then fill *hdr.  Pure, as AegisMapParse.
 */
bool
AegisGenerationHeaderParse(const char *buf, Size len, AegisGenerationHeader *hdr)
{
	pg_crc32c	crc;
	pg_crc32c	expected;

	if (len < sizeof(*hdr))
		return false;
	memcpy(hdr, buf, sizeof(*hdr));
	if (hdr->magic != AEGIS_GEN_MAGIC || hdr->version != AEGIS_GEN_VERSION)
		return false;
	expected = hdr->crc;
	hdr->crc = 0;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, hdr, sizeof(*hdr));
	FIN_CRC32C(crc);
	hdr->crc = expected;
	return EQ_CRC32C(crc, expected) && hdr->npages <= MaxBlockNumber;
}
