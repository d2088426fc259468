/*-------------------------------------------------------------------------
 *
 * map_format.h
 *	  On-disk format of aegis block map files (local storage backend).
 *
 * A map file is a header, then one AegisBlockLoc (16 bytes) per page; the
 * header's CRC-32C covers the header (with crc = 0) and the entries.
 * Version 5's header is version 4's; its entries may carry the group and
 * pending bits of AegisBlockLoc (backend.h), which builds before it would
 * take for file offsets, so a map is written as version 4 while none has
 * them.  Versions 1, 2 and 3 of earlier builds are still read: version 3's
 * header is version 4's without cut_lsn (80 bytes), version 2's the same
 * with an LSN of the old aegis WAL in create_lsn.  Internal to
 * src/backend; the fuzz target test/fuzz/fuzz_map.c reads it too.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_MAP_FORMAT_H
#define AEGIS_MAP_FORMAT_H

#include "aegis/backend.h"
#include "port/pg_crc32c.h"

#define AEGIS_MAP_MAGIC		0x4d474541	/* "AEGM" little-endian */
#define AEGIS_MAP_VERSION	5
/* written while no block has group or pending bits (AegisBlockLoc) */
#define AEGIS_MAP_VERSION_PLAIN	4

typedef struct AegisMapFileHeader
{
	uint32		magic;
	uint16		version;
	uint8		storage;
	uint8		codec;
	int32		level;
	AegisRelKey key;
	uint32		npages;
	uint32		generation;
	uint8		persistence;	/* RELPERSISTENCE_* */
	uint8		reserved[3];
	uint64		file_end;
	uint64		create_lsn;		/* incarnation: end LSN of CREATE (version 3:
								 * a PostgreSQL LSN; 2: of the old aegis WAL) */
	uint32		create_xid;		/* creator, until known committed */
	uint32		drop_xid;		/* dropper whose DROP record was written */
	uint32		reserved3;		/* version 2: pages covered by EXTEND records */
	uint32		insert_floor;	/* see AegisStorageSettle */
	pg_crc32c	crc;			/* of header (crc = 0) and the map */
	uint32		reserved2;
	uint64		cut_lsn;		/* version 4: end LSN of the record of the
								 * last cut (SHRINK, TRUNCATE), 0 if none */
} AegisMapFileHeader;

StaticAssertDecl(sizeof(AegisMapFileHeader) == 88, "map file header is 88 bytes");

/* bytes of a version 2 or 3 header: version 4's up to cut_lsn */
#define AEGIS_MAP_HEADER_V3_SIZE	offsetof(AegisMapFileHeader, cut_lsn)
StaticAssertDecl(AEGIS_MAP_HEADER_V3_SIZE == 80, "version 3 map file header is 80 bytes");

/*
 * Version 1 (before the aegis WAL): the same up to file_end, then the CRC.
 * Still read, so an upgrade keeps its tables; the next checkpoint rewrites
 * each map as version 2.
 */
typedef struct AegisMapFileHeaderV1
{
	uint32		magic;
	uint16		version;
	uint8		storage;
	uint8		codec;
	int32		level;
	AegisRelKey key;
	uint32		npages;
	uint32		generation;
	uint32		reserved;
	uint64		file_end;
	pg_crc32c	crc;
	uint32		reserved2;
} AegisMapFileHeaderV1;

StaticAssertDecl(sizeof(AegisMapFileHeaderV1) == 56, "version 1 map file header is 56 bytes");

/* the largest map file: a header and an entry for every possible page */
#define AEGIS_MAP_MAX_FILE_SIZE \
	((uint64) sizeof(AegisMapFileHeader) + (uint64) MaxBlockNumber * sizeof(AegisBlockLoc))

/*
 * The first bytes of a data file generation written by compaction or by a
 * map rebuild (from this build on): what a block map rebuilt from the data
 * files needs and the blocks cannot tell, the relation's last cut when the
 * generation was written and its pages then.  Compaction leaves out the
 * blocks of cut pages, so without it a rebuilt map would not know that
 * older records of those page numbers must be skipped (AegisWalPageRedo).
 * Not a block: scans for blocks skip it.
 */
#define AEGIS_GEN_MAGIC		0x47474541	/* "AEGG" */
#define AEGIS_GEN_VERSION	1

typedef struct AegisGenerationHeader
{
	uint32		magic;
	uint16		version;
	uint16		reserved;
	AegisRelKey key;
	uint32		generation;
	uint32		npages;			/* the relation's pages when written */
	uint32		reserved2;
	uint64		cut_lsn;		/* its last cut's record end LSN, 0 if none */
	pg_crc32c	crc;			/* of the header with crc = 0 */
	uint32		reserved3;
} AegisGenerationHeader;

StaticAssertDecl(sizeof(AegisGenerationHeader) == 48, "generation header is 48 bytes");

extern bool AegisGenerationHeaderParse(const char *buf, Size len,
									   AegisGenerationHeader *hdr);
extern bool AegisMapParse(const char *buf, Size len, AegisMapFileHeader *hdr,
						  const char **entries);

#endif							/* AEGIS_MAP_FORMAT_H */
