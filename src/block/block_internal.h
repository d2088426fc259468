/*-------------------------------------------------------------------------
 *
 * block_internal.h
 *	  What block_format.c and block_dict.c share; nothing outside src/block
 *	  includes it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_BLOCK_INTERNAL_H
#define AEGIS_BLOCK_INTERNAL_H

#include <zstd.h>

#include "aegis/block.h"

/* block_codec.c: this process's zstd contexts, created on first use */
extern ZSTD_CCtx *AegisZstdCCtx(void);
extern ZSTD_DCtx *AegisZstdDCtx(void);
extern uint32 AegisZstdCompressSegments(const char *src, const uint32 *seg_end, int nseg,
										int level, ZSTD_CDict *cdict, char *dst, uint32 cap);

/* block_format.c, for block_group.c */
#define DICT_PREFIX_ZSTD	2
#define DICT_PREFIX_LZ4		6

/*
 * Bytes before the codec's output in a block compressed with a dictionary:
 * its uint16 number; LZ4 also its uint32 CRC-32C (zstd's frame has zstd's
 * id of it).  0 for a codec without dictionaries.
 */
static inline uint32
AegisDictPrefix(uint8 codec)
{
	return codec == AEGIS_CODEC_ZSTD ? DICT_PREFIX_ZSTD :
		codec == AEGIS_CODEC_LZ4 ? DICT_PREFIX_LZ4 : 0;
}

/* bytes of a group block's directory of n members */
#define AEGIS_GROUP_DIRECTORY_SIZE(n) \
	(offsetof(AegisGroupDirectory, members) + (n) * sizeof(AegisGroupMember))
extern void AegisBlockReportCorrupt(const AegisRelKey *key, BlockNumber pageno,
									const char *location, const char *detail) pg_attribute_noreturn();
extern void AegisBlockVerify(const char *src, uint32 len, const AegisRelKey *key,
							 BlockNumber pageno, const char *location, AegisBlockHeader *hdr);
extern void AegisBlockDecompress(const AegisBlockHeader *hdr, const char *payload, uint32 len,
								 const AegisRelKey *key, BlockNumber pageno,
								 const char *location, AegisDictLookup lookup, char *out);
extern uint32 AegisBlockCompress(const char *src, uint32 len, AegisCodec codec, int level,
								 const AegisBlockDict *dict, char *dst, uint32 cap);
extern uint32 AegisBlockCompressSegments(const char *src, const uint32 *seg_end, int nseg,
										 AegisCodec codec, int level,
										 const AegisBlockDict *dict, char *dst, uint32 cap);

extern const char *AegisGroupCheckDirectory(const AegisBlockHeader *hdr, const char *payload,
											uint32 *nmembers, AegisGroupMember *members);

/* block_dict.c */
extern uint32 AegisBlockDictContentId(const AegisBlockDict *dict);
extern uint32 AegisDictCompress(const AegisBlockDict *dict, AegisCodec codec, int level,
								const char *src, uint32 len, char *dst, uint32 cap);
extern ZSTD_CDict *AegisDictZstdDigest(const AegisBlockDict *dict, int level);
extern bool AegisDictDecompress(const AegisBlockDict *dict, AegisCodec codec,
								const char *src, uint32 len, char *dst, uint32 raw_len);

#endif							/* AEGIS_BLOCK_INTERNAL_H */
