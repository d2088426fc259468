/*-------------------------------------------------------------------------
 *
 * block_codec.c
 *	  This process's zstd contexts, which block_format.c and block_dict.c
 *	  share.
 *
 * A zstd context keeps its working memory from one call to the next, so
 * each process creates one for compression and one for decompression on
 * first use and keeps them for its life (malloc'd by zstd).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "block_internal.h"

static ZSTD_CCtx *zstd_cctx = NULL;
static ZSTD_DCtx *zstd_dctx = NULL;

/* AegisZstdCCtx: this process's zstd compression context. */
ZSTD_CCtx *
AegisZstdCCtx(void)
{
	if (zstd_cctx == NULL)
	{
		zstd_cctx = ZSTD_createCCtx();
		if (zstd_cctx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory creating a zstd compression context")));
	}
	return zstd_cctx;
}

/* AegisZstdDCtx: this process's zstd decompression context. */
ZSTD_DCtx *
AegisZstdDCtx(void)
{
	if (zstd_dctx == NULL)
	{
		zstd_dctx = ZSTD_createDCtx();
		if (zstd_dctx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory creating a zstd decompression context")));
	}
	return zstd_dctx;
}
