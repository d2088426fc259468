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

/* block_dict.c */
extern uint32 AegisBlockDictContentId(const AegisBlockDict *dict);
extern uint32 AegisDictCompress(const AegisBlockDict *dict, AegisCodec codec, int level,
								const char *src, uint32 len, char *dst, uint32 cap);
extern bool AegisDictDecompress(const AegisBlockDict *dict, AegisCodec codec,
								const char *src, uint32 len, char *dst, uint32 raw_len);

#endif							/* AEGIS_BLOCK_INTERNAL_H */
