/*-------------------------------------------------------------------------
 *
 * block_dict.c
 *	  Compression dictionaries: trained per relation from its own pages, so
 *	  a page compressed alone starts from what its table's pages share.
 *
 * A codec that compresses one 8 kB page at a time finds matches only inside
 * that page: what repeats across a table's pages (the values of a small
 * domain, common words, the pattern of tuple headers) is paid for again on
 * every page.  Zstd's dictionary builder (FASTCOVER, a faster form of the
 * COVER algorithm: Liao, Petri, Moffat and Wirth, "Effective Construction of
 * Relative Lempel-Ziv Dictionaries", WWW 2016) selects, from sample pages,
 * the segments that recur most, and builds entropy tables from them; every
 * page is then compressed as if it followed the dictionary.  This is what
 * zstd's documentation recommends for many small records of one kind.
 *
 * The samples are the forms the relation's pages are stored in
 * (AegisBlockTrainingSample: the plain page, its rows or its columns form,
 * whichever compresses smallest).  Which relation a dictionary belongs to,
 * where it is kept and when it is trained is decided above this layer
 * (src/wal/wal_dict.c, src/backend); here it is bytes.
 *
 * A dictionary is digested once per process for each use: a ZSTD_DDict for
 * decompression, a ZSTD_CDict for the compression level in use (created
 * on first use).  zstd stores the dictionary's id in every frame (ZDICT
 * derives it from the dictionary's content) and refuses to decompress a
 * frame with a different dictionary, so a block decoded with the wrong
 * dictionary fails (ERRCODE_DATA_CORRUPTED) instead of producing a wrong
 * page.
 *
 * LZ4 uses the same bytes as a dictionary too (its window is 64 kB, our
 * dictionaries are no larger).  LZ4_loadDict indexes the dictionary, which
 * costs more than compressing a page, so it is done once per process into
 * a prepared stream that is copied into the working stream for each page
 * (what LZ4_attach_dictionary does, which Debian's liblz4 does not
 * export; the stream state holds no pointer into itself).  LZ4 frames
 * carry no dictionary id and no checksum: the block carries the
 * dictionary's CRC-32C after its number (AegisBlockDictContentId) and the
 * decoder compares it, and every page compressed with a dictionary is
 * decompressed again and compared before it is kept (a few microseconds).
 * HC levels do the same with an HC stream prepared for one level (the
 * level of all-visible pages, aegis.cold_compression_level): loading a
 * 64 kB dictionary into an HC stream for every page was a tenth of the
 * time spent compressing all-visible pages at level 9; copying the
 * prepared stream (256 kB) costs far less.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4.h>
#include <lz4hc.h>
/* ZDICT_trainFromBuffer_fastCover: exported, but declared for static linking only */
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>

#include "block_internal.h"
#include "port/pg_crc32c.h"

struct AegisBlockDict
{
	uint16		id;				/* the relation's number for it, >= 1 */
	pg_crc32c	content_id;		/* CRC-32C of all its bytes */
	uint32		len;			/* bytes */
	char	   *bytes;			/* malloc'd copy */
	ZSTD_DDict *ddict;
	ZSTD_CDict *cdict[2];		/* for cdict_level[i], NULL until used: the
								 * table's level and the one for all-visible
								 * pages (aegis.cold_compression_level) */
	int			cdict_level[2];
	int			cdict_last;		/* the slot used last */
	LZ4_stream_t *lz4_prepared;	/* LZ4_loadDict done, NULL until used */
	LZ4_streamHC_t *lz4hc_prepared; /* LZ4_loadDictHC done at lz4hc_level */
	int			lz4hc_level;
};

/* this process's LZ4 working streams */
static LZ4_stream_t *lz4_work = NULL;
static LZ4_streamHC_t *lz4hc_work = NULL;

/*
 * The dictionary builder's parameters (zstd's FASTCOVER): segments of
 * DICT_TRAIN_K bytes scored by their DICT_TRAIN_D-byte substrings, counted
 * in a table of 2^DICT_TRAIN_F entries (6 bytes each: 1.5 MB).
 * ZDICT_trainFromBuffer tries five segment sizes from 50 to 2000 bytes
 * with a 6 MB table, each dictionary scored by compressing a quarter of
 * the samples with it: 160-380 ms for a 32 kB dictionary of the peer data
 * sets, on the core beside the COPY that asked for it, which made the COPY
 * of debian_packages 20-25% slower (465-531 ms against 370-413 without
 * dictionaries; niced or not).  One training at 50 bytes, the size it
 * chose on gcide and debian_packages, with the smaller table takes 31-47
 * ms (that COPY: 419-447 ms); the tables came out 0.1-0.3% smaller there
 * and 0.8% larger on flights, where it had chosen 1024 (flights_wide:
 * 7.7% larger).  Measured after VACUUM and the grouping of all-visible
 * pages.  A two-step search (ZDICT_optimizeTrainFromBuffer_fastCover with
 * steps = 2 at these d and f: segments of 50 or 1025 bytes) came within
 * 0.2% of the five-way search's sizes on flights, gcide and
 * debian_packages in 77-147 ms, time the COPY of debian_packages, 0.96-0.98x
 * heap's with one training, cannot spare on two cores.
 */
#define DICT_TRAIN_K	50
#define DICT_TRAIN_D	8
#define DICT_TRAIN_F	18

/*
 * AegisBlockDictTrain
 *		Train a dictionary of at most 'capacity' bytes into 'dict' from
 *		'nsamples' samples laid end to end at 'samples' (sizes[i] bytes
 *		each), with zstd's FASTCOVER builder at fixed parameters (above).
 *		Returns its length, or 0 if zstd could not build one (too few
 *		samples, or samples with nothing in common); raises nothing.
 */
uint32
AegisBlockDictTrain(const char *samples, const size_t *sizes, int nsamples,
					char *dict, uint32 capacity)
{
	size_t		n;
	ZDICT_fastCover_params_t params;

	if (nsamples < 8)
		return 0;
	memset(&params, 0, sizeof(params));
	params.k = DICT_TRAIN_K;
	params.d = DICT_TRAIN_D;
	params.f = DICT_TRAIN_F;
	params.accel = 1;
	n = ZDICT_trainFromBuffer_fastCover(dict, capacity, samples, sizes,
										(unsigned) nsamples, params);
	if (ZDICT_isError(n) || n == 0 || n > capacity)
	{
		elog(DEBUG1, "zstd dictionary training failed: %s",
			 ZDICT_isError(n) ? ZDICT_getErrorName(n) : "empty");
		return 0;
	}
	return (uint32) n;
}

/*
 * AegisBlockDictCreate
 *		A dictionary ready for use from 'len' bytes at 'bytes' (copied),
 *		numbered 'id' (>= 1) in its relation.  Returns NULL if the bytes are
 *		not a zstd dictionary or memory ran out; the caller reports that.
 *		Free with AegisBlockDictFree.
 */
AegisBlockDict *
AegisBlockDictCreate(const char *bytes, uint32 len, uint16 id)
{
	AegisBlockDict *dict;

	if (id == 0 || len == 0 || len > AEGIS_DICT_MAX_SIZE ||
		ZSTD_getDictID_fromDict(bytes, len) == 0)
		return NULL;
	dict = malloc(sizeof(AegisBlockDict));
	if (dict == NULL)
		return NULL;
	memset(dict, 0, sizeof(*dict));
	dict->id = id;
	INIT_CRC32C(dict->content_id);
	COMP_CRC32C(dict->content_id, bytes, len);
	FIN_CRC32C(dict->content_id);
	dict->len = len;
	dict->bytes = malloc(len);
	if (dict->bytes == NULL)
	{
		free(dict);
		return NULL;
	}
	memcpy(dict->bytes, bytes, len);
	dict->ddict = ZSTD_createDDict(dict->bytes, len);
	if (dict->ddict == NULL)
	{
		AegisBlockDictFree(dict);
		return NULL;
	}
	return dict;
}

/* AegisBlockDictFree: free a dictionary made by AegisBlockDictCreate. */
void
AegisBlockDictFree(AegisBlockDict *dict)
{
	if (dict == NULL)
		return;
	for (int i = 0; i < 2; i++)
		if (dict->cdict[i])
			ZSTD_freeCDict(dict->cdict[i]);
	if (dict->ddict)
		ZSTD_freeDDict(dict->ddict);
	if (dict->lz4_prepared)
		LZ4_freeStream(dict->lz4_prepared);
	if (dict->lz4hc_prepared)
		LZ4_freeStreamHC(dict->lz4hc_prepared);
	free(dict->bytes);
	free(dict);
}

/* AegisBlockDictId: the relation's number of the dictionary. */
uint16
AegisBlockDictId(const AegisBlockDict *dict)
{
	return dict->id;
}

/*
 * AegisBlockDictContentId: the CRC-32C of all the dictionary's bytes, which
 * LZ4 blocks carry to check they get the right one (zstd frames carry zstd's
 * own id of the dictionary, which covers only its content section; LZ4
 * uses every byte).
 */
uint32
AegisBlockDictContentId(const AegisBlockDict *dict)
{
	return dict->content_id;
}

/* AegisBlockDictLength: its bytes. */
uint32
AegisBlockDictLength(const AegisBlockDict *dict)
{
	return dict->len;
}

/* out of memory for a codec's state */
static void
oom(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("out of memory preparing %s", what)));
}

/* LZ4 (level <= 1: fast, else HC at that level) with 'd'; 0 if it did not fit */
static uint32
lz4_compress(AegisBlockDict *d, int level, const char *src, uint32 len, char *dst, uint32 cap)
{
	static char *check = NULL;	/* AEGIS_GROUP_MAX_RAW bytes, once needed */
	int			n;

	if (level <= 1)
	{
		if (d->lz4_prepared == NULL)
		{
			d->lz4_prepared = LZ4_createStream();
			if (d->lz4_prepared == NULL)
				oom("an LZ4 dictionary");
			LZ4_loadDict(d->lz4_prepared, d->bytes, (int) d->len);
		}
		if (lz4_work == NULL && (lz4_work = LZ4_createStream()) == NULL)
			oom("an LZ4 stream");
		memcpy(lz4_work, d->lz4_prepared, sizeof(LZ4_stream_t));
		n = LZ4_compress_fast_continue(lz4_work, src, dst, (int) len, (int) cap, 1);
	}
	else
	{
		if (d->lz4hc_prepared == NULL || d->lz4hc_level != level)
		{
			if (d->lz4hc_prepared == NULL &&
				(d->lz4hc_prepared = LZ4_createStreamHC()) == NULL)
				oom("an LZ4 HC dictionary");
			LZ4_resetStreamHC_fast(d->lz4hc_prepared, level);
			LZ4_loadDictHC(d->lz4hc_prepared, d->bytes, (int) d->len);
			d->lz4hc_level = level;
		}
		if (lz4hc_work == NULL && (lz4hc_work = LZ4_createStreamHC()) == NULL)
			oom("an LZ4 HC stream");
		memcpy(lz4hc_work, d->lz4hc_prepared, sizeof(LZ4_streamHC_t));
		n = LZ4_compress_HC_continue(lz4hc_work, src, dst, (int) len, (int) cap);
	}
	if (n <= 0)
		return 0;
	/* LZ4 frames have no checksum: keep only what decompresses back */
	if (check == NULL && (check = malloc(AEGIS_GROUP_MAX_RAW)) == NULL)
		oom("an LZ4 check buffer");
	if (len > AEGIS_GROUP_MAX_RAW ||
		LZ4_decompress_safe_usingDict(dst, check, n, (int) len, d->bytes, (int) d->len) != (int) len ||
		memcmp(check, src, len) != 0)
		return 0;
	return (uint32) n;
}

/*
 * AegisDictZstdDigest
 *		The zstd digest (CDict) of 'dict' at 'level' (0: zstd's default),
 *		built on first use and kept with the dictionary (owned by it: valid
 *		until the next call for another level, or the dictionary is freed).
 *		Out of memory raises an error.
 */
ZSTD_CDict *
AegisDictZstdDigest(const AegisBlockDict *dict, int level)
{
	AegisBlockDict *d = (AegisBlockDict *) dict;	/* its digest cache */
	int			slot;

	if (level == 0)
		level = ZSTD_CLEVEL_DEFAULT;

	/*
	 * Two digests are kept, so that pages at the table's level and
	 * all-visible pages at the cold level do not rebuild one in turn (a
	 * CDict of a 64 kB dictionary takes about a millisecond); the one not
	 * used last makes room.
	 */
	slot = d->cdict[0] && d->cdict_level[0] == level ? 0 :
		d->cdict[1] && d->cdict_level[1] == level ? 1 : -1;
	if (slot < 0)
	{
		slot = d->cdict[0] == NULL ? 0 : d->cdict[1] == NULL ? 1 : 1 - d->cdict_last;
		if (d->cdict[slot])
			ZSTD_freeCDict(d->cdict[slot]);
		d->cdict[slot] = ZSTD_createCDict(d->bytes, d->len, level);
		if (d->cdict[slot] == NULL)
			oom("a zstd compression dictionary");
		d->cdict_level[slot] = level;
	}
	d->cdict_last = slot;
	return d->cdict[slot];
}

/*
 * AegisDictCompress
 *		Compress 'len' bytes with 'dict' and 'codec' (lz4 or zstd) at
 *		'level' (0: the codec's default) into at most 'cap' bytes at 'dst';
 *		returns the length, 0 if it did not fit (or, LZ4, did not
 *		decompress back).  Out of memory for a codec's state raises an
 *		error.
 */
uint32
AegisDictCompress(const AegisBlockDict *dict, AegisCodec codec, int level, const char *src,
				  uint32 len, char *dst, uint32 cap)
{
	AegisBlockDict *d = (AegisBlockDict *) dict;	/* its digest cache */
	size_t		n;

	if (codec == AEGIS_CODEC_LZ4)
		return lz4_compress(d, level, src, len, dst, cap);
	n = ZSTD_compress_usingCDict(AegisZstdCCtx(), dst, cap, src, len,
								 AegisDictZstdDigest(dict, level));
	return ZSTD_isError(n) ? 0 : (uint32) n;
}

/*
 * AegisDictDecompress
 *		Decompress 'len' bytes at 'src' with 'dict' and 'codec' into exactly
 *		'raw_len' bytes at 'dst'.  False if the input is not of that length
 *		(zstd: or was compressed with another dictionary); raises nothing.
 */
bool
AegisDictDecompress(const AegisBlockDict *dict, AegisCodec codec, const char *src,
					uint32 len, char *dst, uint32 raw_len)
{
	size_t		n;

	if (codec == AEGIS_CODEC_LZ4)
		return LZ4_decompress_safe_usingDict(src, dst, (int) len, (int) raw_len,
											 dict->bytes, (int) dict->len) == (int) raw_len;
	n = ZSTD_decompress_usingDDict(AegisZstdDCtx(), dst, raw_len, src, len, dict->ddict);
	return !ZSTD_isError(n) && n == raw_len;
}
