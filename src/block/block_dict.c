/*-------------------------------------------------------------------------
 *
 * block_dict.c
 *	  Compression dictionaries: trained per relation from its own pages, so
 *	  a page compressed alone starts from what its table's pages share.
 *
 * A codec that compresses one 8 kB page at a time finds matches only inside
 * that page: what repeats across a table's pages (the values of a small
 * domain, common words, the pattern of tuple headers) is paid for again on
 * every page.  Zstd's dictionary builder (ZDICT_trainFromBuffer, the COVER
 * algorithm: Liao, Petri, Moffat and Wirth, "Effective Construction of
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
 * decompression, a ZSTD_CDict per compression level (created on first
 * use).  zstd stores the dictionary's id in every frame (ZDICT derives it
 * from the dictionary's content) and refuses to decompress a frame with a
 * different dictionary, so a block decoded with the wrong dictionary fails
 * (ERRCODE_DATA_CORRUPTED) instead of producing a wrong page.
 *
 * Only zstd uses dictionaries: LZ4's dictionary API needs a prepared
 * stream copied per page, and lz4 tables are chosen for speed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zdict.h>

#include "block_internal.h"

struct AegisBlockDict
{
	uint16		id;				/* the relation's number for it, >= 1 */
	uint32		len;			/* bytes */
	char	   *bytes;			/* malloc'd copy */
	ZSTD_DDict *ddict;
	ZSTD_CDict *cdict;			/* for cdict_level, NULL until used */
	int			cdict_level;
};

/*
 * AegisBlockDictTrain
 *		Train a dictionary of at most 'capacity' bytes into 'dict' from
 *		'nsamples' samples laid end to end at 'samples' (sizes[i] bytes
 *		each).  Returns its length, or 0 if zstd could not build one (too
 *		few samples, or samples with nothing in common); raises nothing.
 */
uint32
AegisBlockDictTrain(const char *samples, const size_t *sizes, int nsamples,
					char *dict, uint32 capacity)
{
	size_t		n;

	if (nsamples < 8)
		return 0;
	n = ZDICT_trainFromBuffer(dict, capacity, samples, sizes, (unsigned) nsamples);
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
	if (dict->cdict)
		ZSTD_freeCDict(dict->cdict);
	if (dict->ddict)
		ZSTD_freeDDict(dict->ddict);
	free(dict->bytes);
	free(dict);
}

/* AegisBlockDictId: the relation's number of the dictionary. */
uint16
AegisBlockDictId(const AegisBlockDict *dict)
{
	return dict->id;
}

/* AegisBlockDictLength: its bytes. */
uint32
AegisBlockDictLength(const AegisBlockDict *dict)
{
	return dict->len;
}

/*
 * AegisDictCompress
 *		Compress 'len' bytes with 'dict' at zstd 'level' (0: zstd's default)
 *		into at most 'cap' bytes at 'dst'; returns the length, 0 if it did
 *		not fit.  Out of memory for the digested dictionary raises an error.
 */
uint32
AegisDictCompress(const AegisBlockDict *dict, int level, const char *src, uint32 len,
				  char *dst, uint32 cap)
{
	AegisBlockDict *d = (AegisBlockDict *) dict;	/* its digest cache */
	size_t		n;

	if (level == 0)
		level = ZSTD_CLEVEL_DEFAULT;
	if (d->cdict == NULL || d->cdict_level != level)
	{
		if (d->cdict)
			ZSTD_freeCDict(d->cdict);
		d->cdict = ZSTD_createCDict(d->bytes, d->len, level);
		if (d->cdict == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory preparing a zstd compression dictionary")));
		d->cdict_level = level;
	}
	n = ZSTD_compress_usingCDict(AegisZstdCCtx(), dst, cap, src, len, d->cdict);
	return ZSTD_isError(n) ? 0 : (uint32) n;
}

/*
 * AegisDictDecompress
 *		Decompress 'len' bytes at 'src' with 'dict' into exactly 'raw_len'
 *		bytes at 'dst'.  False if the input is not a frame of that length
 *		compressed with this dictionary; raises nothing.
 */
bool
AegisDictDecompress(const AegisBlockDict *dict, const char *src, uint32 len,
					char *dst, uint32 raw_len)
{
	size_t		n = ZSTD_decompress_usingDDict(AegisZstdDCtx(), dst, raw_len, src, len,
											   dict->ddict);

	return !ZSTD_isError(n) && n == raw_len;
}
