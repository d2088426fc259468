/*-------------------------------------------------------------------------
 *
 * block.h
 *	  The on-disk block: what a page becomes on a storage backend.
 *
 * A block is a fixed header followed by the page's bytes, compressed with the
 * relation's codec.  The header names the page it holds (relation key, page
 * number) and carries the page LSN, so a block read from the wrong place is
 * detected, and a CRC-32C over header and payload, so a damaged block is
 * detected before anything is decompressed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_BLOCK_H
#define AEGIS_BLOCK_H

#include "aegis/aegis.h"
#include "port/pg_crc32c.h"

#define AEGIS_BLOCK_MAGIC	0x42474541	/* "AEGB" little-endian */
#define AEGIS_BLOCK_VERSION 1

typedef struct AegisBlockHeader
{
	uint32		magic;			/* AEGIS_BLOCK_MAGIC */
	uint16		version;		/* AEGIS_BLOCK_VERSION */
	uint8		codec;			/* AegisCodec of the payload */
	uint8		flags;			/* AEGIS_BLOCK_HAS_REL_INFO, or 0 */
	AegisRelKey key;			/* relation the page belongs to */
	uint32		pageno;			/* page number within the relation */
	uint64		lsn;			/* page LSN (AEGIS_BLOCK_PG_LSN) */
	uint32		raw_len;		/* bytes after decompression (BLCKSZ) */
	uint32		stored_len;		/* payload bytes following the header */
	pg_crc32c	crc;			/* CRC-32C of header (crc = 0) + payload */
	/* the relation's settings when the block was written (see below) */
	uint8		rel_codec;		/* AegisCodec of the relation */
	char		rel_persistence;	/* RELPERSISTENCE_* */
	int16		rel_level;		/* compression level of the relation */
} AegisBlockHeader;

/*
 * flags: the rel_* fields are set.  Blocks written before they existed have
 * zeros there (the field was reserved); a block map lost or damaged is
 * rebuilt from the blocks, and these fields give the relation back its
 * codec, level and persistence.
 */
#define AEGIS_BLOCK_HAS_REL_INFO	0x01

/*
 * flags: the page LSN is a PostgreSQL LSN.  Blocks written by the build
 * that kept its own WAL files carry LSNs of that WAL instead; they are read
 * as LSN 0 (older than every record), see AegisBlockDecode.
 */
#define AEGIS_BLOCK_PG_LSN			0x02

/*
 * flags: the payload decompresses to the page's column-major form
 * (block_pax.c) of raw_len bytes, not to the page itself.  Builds before
 * it refuse such blocks (raw_len is not BLCKSZ).
 */
#define AEGIS_BLOCK_PAX				0x04

/*
 * flags: the payload opens with the uint16 number of the relation's
 * compression dictionary (block_dict.c) the codec's output that follows was
 * compressed with (LZ4: then the uint32 CRC-32C of the dictionary; zstd
 * frames carry zstd's own id of it).  Builds before it refuse such blocks (the
 * payload does not decompress).
 */
#define AEGIS_BLOCK_DICT			0x08

/*
 * flags: a group block (block_group.c): the pages of up to
 * AEGIS_GROUP_MAX_PAGES pages compressed as one payload, so the codec sees
 * more of the table than one page.  The header's pageno is its first
 * member's, lsn the highest member LSN, raw_len the bytes of all members'
 * forms.  The payload opens with an AegisGroupDirectory (not compressed),
 * then the dictionary prefix (with AEGIS_BLOCK_DICT) and the codec's output
 * of the members' forms one after the other.  Builds before it refuse such
 * blocks (raw_len is more than a page) and do not read the block maps
 * that name them (map format version 5).
 */
#define AEGIS_BLOCK_GROUP			0x10

/*
 * group member flags: the members' forms are stored stream by stream
 * (block_group.c): stream 0 of every member, then stream 1, ..., each a
 * rows or columns form (AegisPaxStreamLength), so the codec sees a column
 * of the whole group at once.  Set on every member of such a group or on
 * none.  Builds before it refuse such groups (unknown member flags).
 */
#define AEGIS_BLOCK_STRIPED			0x20

/* pages of a group block, at most */
#define AEGIS_GROUP_MAX_PAGES	16

/* one member of a group block: a page in its form (plain, rows, columns) */
typedef struct AegisGroupMember
{
	uint32		pageno;
	uint32		form_len;		/* bytes of its form in the payload */
	uint64		lsn;			/* page LSN (0 unless AEGIS_BLOCK_PG_LSN) */
	uint8		flags;			/* AEGIS_BLOCK_PAX: a rows or columns form,
								 * else the page; AEGIS_BLOCK_PG_LSN;
								 * AEGIS_BLOCK_STRIPED */
	uint8		reserved[7];
} AegisGroupMember;

typedef struct AegisGroupDirectory
{
	uint32		nmembers;		/* 1 .. AEGIS_GROUP_MAX_PAGES */
	uint32		reserved;
	AegisGroupMember members[FLEXIBLE_ARRAY_MEMBER];
} AegisGroupDirectory;

/* decompressed bytes of a group block, at most */
#define AEGIS_GROUP_MAX_RAW		(AEGIS_GROUP_MAX_PAGES * AEGIS_PAX_MAX_SIZE)

/* What one block says of itself, as AegisBlockCheck found it. */
typedef struct AegisBlockIdentity
{
	AegisRelKey key;
	BlockNumber pageno;			/* a group: its first member's */
	uint64		lsn;			/* page LSN, 0 if of the old WAL; a group:
								 * the highest member LSN */
	uint32		length;			/* bytes, header included */
	bool		has_rel_info;
	AegisCodec	rel_codec;
	int			rel_level;
	char		rel_persistence;
	int			nmembers;		/* a group block: its members, else 0 */
	BlockNumber member_pageno[AEGIS_GROUP_MAX_PAGES];
	uint64		member_lsn[AEGIS_GROUP_MAX_PAGES];
} AegisBlockIdentity;

/* Room a caller must provide for AegisBlockEncode's output, in bytes. */
#define AEGIS_BLOCK_MAX_SIZE (sizeof(AegisBlockHeader) + BLCKSZ + BLCKSZ / 8 + 256)

/*
 * A group block is at most this long: it is made only when it is shorter
 * than its members' blocks were.
 */
#define AEGIS_GROUP_MAX_SIZE	(AEGIS_GROUP_MAX_PAGES * AEGIS_BLOCK_MAX_SIZE)

/*
 * The attribute layout of a relation's tuples, which the column-major form
 * of a page needs (block_pax.c): attlen and attalign of each attribute,
 * dropped ones included, as in the relation's tuple descriptor.  natts 0:
 * unknown.  Tables of more than AEGIS_PAX_MAX_ATTS columns are stored as
 * plain pages.
 */
#define AEGIS_PAX_MAX_ATTS	64
typedef struct AegisPageLayout
{
	int16		natts;
	int16		attlen[AEGIS_PAX_MAX_ATTS];
	char		attalign[AEGIS_PAX_MAX_ATTS];
} AegisPageLayout;

/* bytes of a column-major form, at most */
#define AEGIS_PAX_MAX_SIZE	(BLCKSZ + 512)

/*
 * A relation's compression dictionary, ready to compress and decompress
 * with (block_dict.c).  Process memory (malloc'd, as the codecs' own
 * contexts are); whoever creates one frees it with AegisBlockDictFree.
 */
typedef struct AegisBlockDict AegisBlockDict;

/* bytes of a compression dictionary, at most */
#define AEGIS_DICT_MAX_SIZE	(128 * 1024)

extern uint32 AegisBlockEncode(const AegisRelKey *key, BlockNumber pageno,
							   const char *page, AegisCodec codec, int level,
							   int page_level, char persistence,
							   const AegisPageLayout *layout,
							   const AegisBlockDict *dict, char *dst);
/*
 * Where AegisBlockDecode gets the relation's dictionary number 'id' that a
 * block names, once the block is verified: NULL if there is none to be had
 * (the caller's lookup raises its own error for a file that is missing or
 * damaged).
 */
typedef const AegisBlockDict *(*AegisDictLookup) (const AegisRelKey *key, uint16 id);

extern bool AegisBlockCheck(const char *src, Size avail, AegisBlockIdentity *id);
extern void AegisBlockDecode(const char *src, uint32 len,
							 const AegisRelKey *key, BlockNumber pageno,
							 const char *location, AegisDictLookup lookup,
							 char *page);
extern uint32 AegisBlockTrainingSample(const char *page, BlockNumber pageno,
									   AegisCodec codec, int level,
									   const AegisPageLayout *layout, char *out);

/*
 * A page's form as stored in a block: the page itself, or its rows or
 * columns form (AEGIS_BLOCK_PAX in flags), with its LSN.  'data' is
 * caller's memory of AEGIS_PAX_MAX_SIZE bytes.
 */
typedef struct AegisPageForm
{
	char	   *data;
	uint32		len;
	uint8		flags;			/* AEGIS_BLOCK_PAX, AEGIS_BLOCK_PG_LSN */
	uint64		lsn;
} AegisPageForm;

extern void AegisBlockDecodeForm(const char *src, uint32 len, const AegisRelKey *key,
								 BlockNumber pageno, const char *location,
								 AegisDictLookup lookup, AegisPageForm *form);
extern void AegisPageFormToPage(const char *form, uint32 len, uint8 flags,
								const AegisRelKey *key, BlockNumber pageno,
								const char *location, char *page);

/*
 * A group block decoded (AegisGroupDecode): its directory and the members'
 * forms one after the other in 'raw' (offset[i] is member i's), in
 * process memory the caller owns (AEGIS_GROUP_MAX_RAW bytes).
 */
typedef struct AegisGroupForms
{
	int			nmembers;
	AegisGroupMember members[AEGIS_GROUP_MAX_PAGES];
	uint32		offset[AEGIS_GROUP_MAX_PAGES];
	char	   *raw;
	uint32		raw_len;
} AegisGroupForms;

/* block_group.c */
extern uint32 AegisGroupEncode(const AegisRelKey *key, int n, const AegisPageForm *forms,
							   const BlockNumber *pagenos, AegisCodec codec, int level,
							   int page_level, char persistence, const AegisPageLayout *layout,
							   const AegisBlockDict *dict, char *dst, uint32 cap);
extern bool AegisBlockIsGroup(const char *src, uint32 len);
extern void AegisGroupDecode(const char *src, uint32 len, const AegisRelKey *key,
							 BlockNumber pageno, const char *location,
							 AegisDictLookup lookup, AegisGroupForms *out);
extern int	AegisGroupFind(const AegisGroupForms *g, BlockNumber pageno);

/* block_dict.c */
extern uint32 AegisBlockDictTrain(const char *samples, const size_t *sizes,
								  int nsamples, char *dict, uint32 capacity);
extern AegisBlockDict *AegisBlockDictCreate(const char *bytes, uint32 len, uint16 id);
extern void AegisBlockDictFree(AegisBlockDict *dict);
extern uint16 AegisBlockDictId(const AegisBlockDict *dict);
extern uint32 AegisBlockDictLength(const AegisBlockDict *dict);

/* block_pax.c */
extern uint32 AegisPaxEncode(const char *page, BlockNumber pageno,
							 const AegisPageLayout *layout, char *out, char *check);
extern const char *AegisPaxDecode(const char *in, uint32 len, BlockNumber pageno,
								  char *page);
/* streams of a rows or columns form, at most (AegisPaxStreamLength) */
#define AEGIS_PAX_MAX_STREAMS	(12 + AEGIS_PAX_MAX_ATTS)
extern bool AegisPaxStreamLength(const char *prefix, uint32 prefix_len, uint32 form_len, int s,
								 const char *head, uint32 head_len, uint32 *len, int *nstreams);

#endif							/* AEGIS_BLOCK_H */
