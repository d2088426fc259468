/*-------------------------------------------------------------------------
 *
 * block_codec.c
 *	  This process's zstd contexts, which block_format.c and block_dict.c
 *	  share, and zstd compression in segments (group blocks).
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

/*
 * AegisZstdCompressSegments
 *		Compress src[0 .. seg_end[nseg - 1]) as one zstd frame into at most
 *		'cap' bytes at 'dst', ending a zstd block at each seg_end[i]
 *		(ZSTD_e_flush): each segment gets its own entropy tables (literals'
 *		Huffman table, sequences' FSE tables), as a column store compresses
 *		each column apart, while matches still reach into the segments
 *		before it.  With 'cdict' (a digest of the relation's dictionary) its
 *		parameters, else 'level' (0: zstd's default).  Decompresses as any
 *		frame does.  Returns the length, 0 if it did not fit or zstd failed.
 *		Raises only out of memory (the context).
 */
uint32
AegisZstdCompressSegments(const char *src, const uint32 *seg_end, int nseg, int level,
						  ZSTD_CDict *cdict, char *dst, uint32 cap)
{
	ZSTD_CCtx  *cctx = AegisZstdCCtx();
	ZSTD_outBuffer out = {dst, cap, 0};
	uint32		start = 0;
	bool		ok = true;

	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	if (cdict != NULL)
		ok = !ZSTD_isError(ZSTD_CCtx_refCDict(cctx, cdict));
	else
		ok = !ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
												  level == 0 ? ZSTD_CLEVEL_DEFAULT : level));
	if (ok)
		ok = !ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, nseg > 0 ? seg_end[nseg - 1] : 0));
	for (int i = 0; ok && i < nseg; i++)
	{
		ZSTD_inBuffer in = {src + start, seg_end[i] - start, 0};
		ZSTD_EndDirective mode = i == nseg - 1 ? ZSTD_e_end : ZSTD_e_flush;
		size_t		left;

		Assert(seg_end[i] >= start);
		do
		{
			left = ZSTD_compressStream2(cctx, &out, &in, mode);
			/* more to write, and no room left for it */
			if (ZSTD_isError(left) || (left != 0 && out.pos == out.size))
				ok = false;
		} while (ok && left != 0);
		start = seg_end[i];
	}
	/* the context forgets the digest, which its owner may free */
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	return ok && nseg > 0 ? (uint32) out.pos : 0;
}
