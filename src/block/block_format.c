/*-------------------------------------------------------------------------
 *
 * block_format.c
 *	  Encode a page into a block (header, codec, CRC-32C) and decode it back
 *	  to its form and page; check blocks (a group block's directory too).
 *	  AegisBlockDecode, for either kind of block, is in block_group.c.
 *
 * A block is verified completely (length, magic, version, identity, CRC)
 * before a byte of it is decompressed, and the decompressed length must be
 * exactly what the header says.  Any failure raises ERRCODE_DATA_CORRUPTED naming the
 * relation key, page and location; nothing here can crash on bad input.
 *
 * Codec state (zstd contexts) is per backend and lives for the process.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include "aegis/block.h"
#include "block_internal.h"
#include "catalog/pg_class.h"
#include "storage/bufpage.h"

StaticAssertDecl(sizeof(AegisBlockHeader) == 48, "AegisBlockHeader is 48 bytes on disk");
StaticAssertDecl(AEGIS_BLOCK_MAX_SIZE >= sizeof(AegisBlockHeader) + BLCKSZ,
				 "room for an uncompressed page");

/*
 * The forms a page can be compressed in: the page itself, or its rows or
 * columns form (block_pax.c).  Compressing all three costs three times one;
 * pages of a relation mostly prefer the same form, so a process tries all
 * of them only on every FORM_TRIAL_EVERY-th page it writes of the same
 * relation (writes come in runs per relation: checkpoints and bulk loads),
 * and in between only the one the last trial kept.
 */
#define FORM_PLAIN		0
#define FORM_ROWS		1
#define FORM_COLUMNS	2
#define FORM_TRIAL_EVERY 16

static struct
{
	bool		valid;
	AegisRelKey key;
	int			best;
	int			pages;			/* written since the last trial */
} form_hint;

/*
 * AegisBlockCompress
 *		Compress 'len' bytes with 'codec' at 'level', with 'dict' if not
 *		NULL; returns the payload length, or 0 if it did not fit in 'cap'
 *		bytes (codec none: always 0).
 */
uint32
AegisBlockCompress(const char *page, uint32 len, AegisCodec codec, int level,
				   const AegisBlockDict *dict, char *dst, uint32 cap)
{
	if (dict != NULL && codec != AEGIS_CODEC_NONE)
		return AegisDictCompress(dict, codec, level, page, len, dst, cap);
	switch (codec)
	{
		case AEGIS_CODEC_NONE:
			return 0;
		case AEGIS_CODEC_LZ4:
			{
				int			n;

				if (level <= 1)
					n = LZ4_compress_default(page, dst, len, cap);
				else
					n = LZ4_compress_HC(page, dst, len, cap, level);
				return n > 0 ? (uint32) n : 0;
			}
		case AEGIS_CODEC_ZSTD:
			{
				size_t		n;

				n = ZSTD_compressCCtx(AegisZstdCCtx(), dst, cap, page, len,
									  level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
				return ZSTD_isError(n) ? 0 : (uint32) n;
			}
	}
	return 0;
}

/*
 * AegisBlockCompressSegments
 *		AegisBlockCompress of src[0 .. seg_end[nseg - 1]) that, with zstd,
 *		gives each segment its own zstd blocks and so its own entropy tables
 *		(AegisZstdCompressSegments); LZ4, which has none, compresses it
 *		whole.
 */
uint32
AegisBlockCompressSegments(const char *src, const uint32 *seg_end, int nseg, AegisCodec codec,
						   int level, const AegisBlockDict *dict, char *dst, uint32 cap)
{
	if (nseg < 1)
		return 0;
	if (codec != AEGIS_CODEC_ZSTD || nseg == 1)
		return AegisBlockCompress(src, seg_end[nseg - 1], codec, level, dict, dst, cap);
	return AegisZstdCompressSegments(src, seg_end, nseg, level,
									 dict ? AegisDictZstdDigest(dict, level) : NULL, dst, cap);
}

/*
 * AegisBlockEncode
 *		Turn one page (BLCKSZ bytes) into a block at 'dst'.
 *
 * 'dst' must have AEGIS_BLOCK_MAX_SIZE bytes.  The page is stored raw (codec
 * none in the header) when compression would not make it smaller.  The
 * page's rows form and, with a 'layout' (the relation's, or NULL), its
 * columns form (block_pax.c) are compressed too, on trial pages (see
 * form_hint), and the smallest is kept (AEGIS_BLOCK_PAX for a form).  The
 * page LSN is taken from the page header.  'codec', 'level' and
 * 'persistence' (RELPERSISTENCE_*) are the relation's; they are also
 * recorded in the header, so a lost block map can be rebuilt.  The page is
 * compressed at 'page_level': 'level', or a higher one for a page that is
 * likely to stay as it is (AegisCodecColdLevel).  With
 * 'dict' (the relation's current compression dictionary, or NULL), every
 * form is compressed with the dictionary and the block says which one
 * (AEGIS_BLOCK_DICT: its number, and for LZ4, which has no dictionary id
 * of its own, the dictionary's CRC-32C).  Returns the block length in bytes.
 */
uint32
AegisBlockEncode(const AegisRelKey *key, BlockNumber pageno, const char *page,
				 AegisCodec codec, int level, int page_level, char persistence,
				 const AegisPageLayout *layout, const AegisBlockDict *dict, char *dst)
{
	static char pax[AEGIS_PAX_MAX_SIZE];
	static char scratch[AEGIS_BLOCK_MAX_SIZE];
	static PGAlignedBlock check;
	bool		trial;
	int			best = FORM_PLAIN;
	AegisBlockHeader hdr;
	char	   *payload = dst + sizeof(AegisBlockHeader);
	char	   *body;
	uint32		prefix;
	uint32		n;
	uint32		raw_len = BLCKSZ;
	uint8		flags = AEGIS_BLOCK_HAS_REL_INFO | AEGIS_BLOCK_PG_LSN;
	pg_crc32c	crc;
	AegisCodec	rel_codec = codec;

	/* a dictionary's number (LZ4: and CRC-32C) opens the payload */
	if (codec == AEGIS_CODEC_NONE)
		dict = NULL;
	prefix = dict == NULL ? 0 : codec == AEGIS_CODEC_LZ4 ? DICT_PREFIX_LZ4 : DICT_PREFIX_ZSTD;
	body = payload + prefix;

	/*
	 * Which forms to compress: all of them on a trial page (the first of a
	 * relation, then every FORM_TRIAL_EVERY-th one), else only the one the
	 * last trial kept, and the plain page if that one fails.
	 */
	trial = !form_hint.valid || memcmp(&form_hint.key, key, sizeof(AegisRelKey)) != 0 ||
		++form_hint.pages >= FORM_TRIAL_EVERY;
	n = 0;
	for (int form = FORM_PLAIN; form <= FORM_COLUMNS; form++)
	{
		const char *src = page;
		uint32		src_len = BLCKSZ;
		uint32		m;

		if (!trial && form != form_hint.best)
			continue;
		if (form != FORM_PLAIN)
		{
			if (codec == AEGIS_CODEC_NONE ||
				(form == FORM_COLUMNS && (layout == NULL || layout->natts == 0)))
				continue;
			src_len = AegisPaxEncode(page, pageno, form == FORM_ROWS ? NULL : layout, pax,
									 check.data);
			if (src_len == 0)
				continue;
			src = pax;
		}
		m = AegisBlockCompress(src, src_len, codec, page_level, dict, scratch,
						  (n > 0 ? n : BLCKSZ - prefix) - 1);
		if (m == 0)
			continue;
		memcpy(body, scratch, m);
		n = m;
		raw_len = src_len;
		best = form;
	}
	/* not a trial, and the hinted form did not fit: the plain page */
	if (n == 0 && !trial && form_hint.best != FORM_PLAIN)
	{
		n = AegisBlockCompress(page, BLCKSZ, codec, page_level, dict, body, BLCKSZ - prefix - 1);
		raw_len = BLCKSZ;
		best = FORM_PLAIN;
	}
	if (best != FORM_PLAIN)
		flags |= AEGIS_BLOCK_PAX;
	if (trial)
	{
		form_hint.valid = true;
		form_hint.key = *key;
		form_hint.best = best;
		form_hint.pages = 0;
	}
	if (n == 0)
	{
		codec = AEGIS_CODEC_NONE;
		memcpy(payload, page, BLCKSZ);
		n = BLCKSZ;
		flags &= ~AEGIS_BLOCK_PAX;
	}
	else if (dict)
	{
		uint16		id = AegisBlockDictId(dict);
		uint32		content_id = AegisBlockDictContentId(dict);

		memcpy(payload, &id, sizeof(id));
		if (prefix == DICT_PREFIX_LZ4)
			memcpy(payload + sizeof(id), &content_id, sizeof(content_id));
		n += prefix;
		flags |= AEGIS_BLOCK_DICT;
	}

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = AEGIS_BLOCK_MAGIC;
	hdr.version = AEGIS_BLOCK_VERSION;
	hdr.codec = (uint8) codec;
	hdr.flags = flags;
	hdr.rel_codec = (uint8) rel_codec;
	hdr.rel_level = (int16) level;
	hdr.rel_persistence = persistence;
	hdr.key = *key;
	hdr.pageno = pageno;
	hdr.lsn = PageXLogRecPtrGet(((PageHeader) page)->pd_lsn);
	hdr.raw_len = raw_len;
	hdr.stored_len = n;
	hdr.crc = 0;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &hdr, sizeof(hdr));
	COMP_CRC32C(crc, payload, n);
	FIN_CRC32C(crc);
	hdr.crc = crc;
	memcpy(dst, &hdr, sizeof(hdr));
	return sizeof(AegisBlockHeader) + n;
}

void
AegisBlockReportCorrupt(const AegisRelKey *key, BlockNumber pageno, const char *location,
						const char *detail)
{
	char	   *what = AegisRelKeyDescribe(key);

	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid aegis block for %s, page %u, in \"%s\"",
					what, pageno, location),
			 errdetail_internal("%s", detail),
			 errhint("Restore the table from a backup.")));
}

#define report_corrupt AegisBlockReportCorrupt

/*
 * AegisBlockVerify
 *		Check the block at 'src' (len bytes): length, magic, version, CRC;
 *		copies its header to *hdr.  Raises ERRCODE_DATA_CORRUPTED naming
 *		'key', 'pageno' (what the caller expects) and 'location'.
 */
void
AegisBlockVerify(const char *src, uint32 len, const AegisRelKey *key, BlockNumber pageno,
				 const char *location, AegisBlockHeader *hdr)
{
	pg_crc32c	crc;
	pg_crc32c	expected;

	if (len < sizeof(AegisBlockHeader))
		report_corrupt(key, pageno, location, psprintf("block is %u bytes, shorter than its header", len));
	memcpy(hdr, src, sizeof(*hdr));
	if (hdr->magic != AEGIS_BLOCK_MAGIC)
		report_corrupt(key, pageno, location, psprintf("bad magic number 0x%08x", hdr->magic));
	if (hdr->version != AEGIS_BLOCK_VERSION)
		report_corrupt(key, pageno, location, psprintf("unsupported block format version %u", hdr->version));
	if (hdr->stored_len != len - sizeof(AegisBlockHeader))
		report_corrupt(key, pageno, location,
					   psprintf("payload length %u does not match block length %u", hdr->stored_len, len));

	expected = hdr->crc;
	hdr->crc = 0;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, hdr, sizeof(*hdr));
	COMP_CRC32C(crc, src + sizeof(AegisBlockHeader), hdr->stored_len);
	FIN_CRC32C(crc);
	hdr->crc = expected;
	if (!EQ_CRC32C(crc, expected))
		report_corrupt(key, pageno, location,
					   psprintf("checksum mismatch: stored %08x, computed %08x", expected, crc));
}

/*
 * AegisBlockDecompress
 *		Decompress the codec's part of a verified block's payload ('payload',
 *		'len' bytes: the dictionary prefix with AEGIS_BLOCK_DICT, then the
 *		codec's output) into exactly hdr->raw_len bytes at 'out'.  Raises
 *		ERRCODE_DATA_CORRUPTED as AegisBlockDecode.
 */
void
AegisBlockDecompress(const AegisBlockHeader *hdr, const char *payload, uint32 len,
					 const AegisRelKey *key, BlockNumber pageno, const char *location,
					 AegisDictLookup lookup, char *out)
{
	if (hdr->flags & AEGIS_BLOCK_DICT)
	{
		uint32		prefix = AegisDictPrefix(hdr->codec);
		uint16		id;
		uint32		content_id;
		const AegisBlockDict *dict;

		if (prefix == 0 || len <= prefix)
			report_corrupt(key, pageno, location,
						   psprintf("dictionary-compressed payload of %u bytes with codec %u",
									len, hdr->codec));
		memcpy(&id, payload, sizeof(id));
		dict = lookup ? lookup(key, id) : NULL;
		if (dict == NULL || AegisBlockDictId(dict) != id)
			report_corrupt(key, pageno, location,
						   psprintf("compressed with dictionary %u of the relation, which is not available", id));
		if (prefix == DICT_PREFIX_LZ4)
		{
			memcpy(&content_id, payload + sizeof(id), sizeof(content_id));
			if (content_id != AegisBlockDictContentId(dict))
				report_corrupt(key, pageno, location,
							   psprintf("compressed with dictionary %u of CRC %08x, not the relation's of CRC %08x",
										id, content_id, AegisBlockDictContentId(dict)));
		}
		if (!AegisDictDecompress(dict, (AegisCodec) hdr->codec, payload + prefix, len - prefix,
								 out, hdr->raw_len))
			report_corrupt(key, pageno, location,
						   psprintf("%s payload does not decompress with dictionary %u",
									AegisCodecName(hdr->codec), id));
		return;
	}
	switch (hdr->codec)
	{
		case AEGIS_CODEC_NONE:
			if (len != hdr->raw_len)
				report_corrupt(key, pageno, location, "uncompressed payload is not one page");
			memcpy(out, payload, len);
			break;
		case AEGIS_CODEC_LZ4:
			if (LZ4_decompress_safe(payload, out, len, hdr->raw_len) != (int) hdr->raw_len)
				report_corrupt(key, pageno, location, "lz4 payload does not decompress to one page");
			break;
		case AEGIS_CODEC_ZSTD:
			{
				size_t		n;

				n = ZSTD_decompressDCtx(AegisZstdDCtx(), out, hdr->raw_len, payload, len);
				if (ZSTD_isError(n) || n != hdr->raw_len)
					report_corrupt(key, pageno, location, "zstd payload does not decompress to one page");
				break;
			}
		default:
			report_corrupt(key, pageno, location, psprintf("unknown codec %u", hdr->codec));
	}
}

/*
 * AegisBlockDecodeForm
 *		Verify the single-page block at 'src' (len bytes), which must hold
 *		page 'pageno' of 'key', and decompress it into its form: the page
 *		or its rows or columns form, in form->data (AEGIS_PAX_MAX_SIZE
 *		bytes, caller's), with its length, flags and LSN.  Raises
 *		ERRCODE_DATA_CORRUPTED as AegisBlockDecode (also for a group block).
 */
void
AegisBlockDecodeForm(const char *src, uint32 len, const AegisRelKey *key,
					 BlockNumber pageno, const char *location, AegisDictLookup lookup,
					 AegisPageForm *form)
{
	AegisBlockHeader hdr;

	AegisBlockVerify(src, len, key, pageno, location, &hdr);
	if (hdr.flags & AEGIS_BLOCK_GROUP)
		report_corrupt(key, pageno, location, "a group block where a page's block was expected");
	if (memcmp(&hdr.key, key, sizeof(AegisRelKey)) != 0 || hdr.pageno != pageno)
		report_corrupt(key, pageno, location,
					   psprintf("block holds relation " AEGIS_REL_KEY_FMT " page %u",
								AEGIS_REL_KEY_ARGS(&hdr.key), hdr.pageno));
	if (hdr.flags & AEGIS_BLOCK_PAX)
	{
		if (hdr.raw_len == 0 || hdr.raw_len > AEGIS_PAX_MAX_SIZE || hdr.codec == AEGIS_CODEC_NONE)
			report_corrupt(key, pageno, location,
						   psprintf("column-major form of %u bytes with codec %u", hdr.raw_len, hdr.codec));
	}
	else if (hdr.raw_len != BLCKSZ)
		report_corrupt(key, pageno, location, psprintf("page length %u is not %d", hdr.raw_len, BLCKSZ));
	AegisBlockDecompress(&hdr, src + sizeof(AegisBlockHeader), hdr.stored_len, key, pageno,
						 location, lookup, form->data);
	form->len = hdr.raw_len;
	form->flags = hdr.flags & (AEGIS_BLOCK_PAX | AEGIS_BLOCK_PG_LSN);
	form->lsn = (hdr.flags & AEGIS_BLOCK_PG_LSN) ? hdr.lsn : 0;
}

/*
 * AegisPageFormToPage
 *		Restore page 'pageno' into 'page' (BLCKSZ bytes) from its form
 *		('len' bytes; 'flags' as AegisPageForm's).  An LSN of the old aegis
 *		WAL (no AEGIS_BLOCK_PG_LSN) reads as 0.  Raises
 *		ERRCODE_DATA_CORRUPTED for a form that does not decode.
 */
void
AegisPageFormToPage(const char *form, uint32 len, uint8 flags, const AegisRelKey *key,
					BlockNumber pageno, const char *location, char *page)
{
	if (flags & AEGIS_BLOCK_PAX)
	{
		const char *bad;

		if (len == 0 || len > AEGIS_PAX_MAX_SIZE)
			report_corrupt(key, pageno, location,
						   psprintf("column-major form of %u bytes", len));
		bad = AegisPaxDecode(form, len, pageno, page);
		if (bad)
			report_corrupt(key, pageno, location,
						   psprintf("column-major form does not decode: %s", bad));
	}
	else
	{
		if (len != BLCKSZ)
			report_corrupt(key, pageno, location, psprintf("page length %u is not %d", len, BLCKSZ));
		memcpy(page, form, BLCKSZ);
	}
	/* an LSN of the old aegis WAL means nothing in PostgreSQL's WAL */
	if (!(flags & AEGIS_BLOCK_PG_LSN))
		PageSetLSN((Page) page, (XLogRecPtr) 0);
}

/*
 * AegisGroupCheckDirectory
 *		Check the directory of a group block (block_group.c) whose header
 *		'hdr' and CRC are verified ('payload': hdr->stored_len bytes) and
 *		copy it to 'members' (AEGIS_GROUP_MAX_PAGES entries); NULL if it is
 *		consistent, else what is wrong (palloc'd or a constant).  Raises
 *		nothing.
 */
const char *
AegisGroupCheckDirectory(const AegisBlockHeader *hdr, const char *payload, uint32 *nmembers,
						 AegisGroupMember *members)
{
	uint32		n;
	uint64		total = 0;
	uint64		max_lsn = 0;
	uint32		prefix = (hdr->flags & AEGIS_BLOCK_DICT) ? AegisDictPrefix(hdr->codec) : 0;

	if (hdr->codec == AEGIS_CODEC_NONE || hdr->codec >= AEGIS_NUM_CODECS)
		return psprintf("group block with codec %u", hdr->codec);
	if (!(hdr->flags & AEGIS_BLOCK_PG_LSN))
		return "group block without PostgreSQL LSNs";
	if (sizeof(AegisBlockHeader) + (Size) hdr->stored_len > AEGIS_GROUP_MAX_SIZE)
		return psprintf("group block of %u bytes", hdr->stored_len);
	if ((hdr->flags & AEGIS_BLOCK_DICT) && prefix == 0)
		return psprintf("dictionary-compressed group block with codec %u", hdr->codec);
	if (hdr->stored_len < AEGIS_GROUP_DIRECTORY_SIZE(1))
		return "group block too short for its directory";
	memcpy(&n, payload, sizeof(n));
	if (n < 1 || n > AEGIS_GROUP_MAX_PAGES)
		return psprintf("group block of %u pages", n);
	if (hdr->stored_len <= AEGIS_GROUP_DIRECTORY_SIZE(n) + prefix)
		return psprintf("group block of %u bytes too short for %u pages", hdr->stored_len, n);
	memcpy(members, payload + offsetof(AegisGroupDirectory, members), n * sizeof(AegisGroupMember));
	for (uint32 i = 0; i < n; i++)
	{
		AegisGroupMember *m = &members[i];

		if (m->pageno >= MaxBlockNumber || (i > 0 && m->pageno <= members[i - 1].pageno))
			return psprintf("group member %u is page %u, not in ascending order", i, m->pageno);
		if ((m->flags & AEGIS_BLOCK_PAX) ?
			(m->form_len == 0 || m->form_len > AEGIS_PAX_MAX_SIZE) : m->form_len != BLCKSZ)
			return psprintf("group member %u (page %u) has a form of %u bytes", i, m->pageno,
							m->form_len);
		if ((m->flags & ~(AEGIS_BLOCK_PAX | AEGIS_BLOCK_PG_LSN | AEGIS_BLOCK_STRIPED)) != 0 ||
			(!(m->flags & AEGIS_BLOCK_PG_LSN) && m->lsn != 0) ||
			(m->flags & AEGIS_BLOCK_STRIPED) != (members[0].flags & AEGIS_BLOCK_STRIPED) ||
			((m->flags & AEGIS_BLOCK_STRIPED) && !(m->flags & AEGIS_BLOCK_PAX)))
			return psprintf("group member %u (page %u) has flags 0x%02x", i, m->pageno, m->flags);
		total += m->form_len;
		max_lsn = Max(max_lsn, m->lsn);
	}
	if (members[0].pageno != hdr->pageno)
		return psprintf("group block of page %u opens with page %u", hdr->pageno, members[0].pageno);
	if (total != hdr->raw_len)
		return psprintf("group members' forms add up to %llu bytes, not %u",
						(unsigned long long) total, hdr->raw_len);
	if (max_lsn != hdr->lsn)
		return "group block LSN is not its members' highest";
	*nmembers = n;
	return NULL;
}

/*
 * For AegisBlockCheck: the members of the verified group block with
 *		header 'hdr' and payload 'payload' into id's member arrays; false
 *		if its directory is not consistent.  Raises nothing.
 */
static bool
group_members(const AegisBlockHeader *hdr, const char *payload, AegisBlockIdentity *id)
{
	AegisGroupMember members[AEGIS_GROUP_MAX_PAGES];
	uint32		n;
	const char *bad;

	if (hdr->raw_len > AEGIS_GROUP_MAX_RAW)
		return false;
	bad = AegisGroupCheckDirectory(hdr, payload, &n, members);
	if (bad)
		return false;
	id->nmembers = n;
	for (uint32 i = 0; i < n; i++)
	{
		id->member_pageno[i] = members[i].pageno;
		id->member_lsn[i] = members[i].lsn;
	}
	return true;
}

/*
 * AegisBlockCheck
 *		Is there a valid block at 'src' (at most 'avail' bytes readable)?
 *		Checks magic, version, lengths and the CRC, raises nothing, and
 *		fills *id from the header if so.  Used to find the blocks of a data
 *		file whose block map was lost (backend_local.c); the payload is not
 *		decompressed (AegisBlockDecode does that when the page is read).
 *		For a group block, *id also lists its members (their page numbers
 *		and LSNs) once its directory is found consistent.
 */
bool
AegisBlockCheck(const char *src, Size avail, AegisBlockIdentity *id)
{
	AegisBlockHeader hdr;
	pg_crc32c	crc;
	bool		group;

	if (avail < sizeof(AegisBlockHeader))
		return false;
	memcpy(&hdr, src, sizeof(hdr));
	group = (hdr.flags & AEGIS_BLOCK_GROUP) != 0;
	if (hdr.magic != AEGIS_BLOCK_MAGIC || hdr.version != AEGIS_BLOCK_VERSION ||
		hdr.stored_len == 0 || hdr.codec >= AEGIS_NUM_CODECS ||
		sizeof(AegisBlockHeader) + (Size) hdr.stored_len > avail)
		return false;
	if (group)
	{
		if (hdr.raw_len == 0 || hdr.raw_len > AEGIS_GROUP_MAX_RAW ||
			sizeof(AegisBlockHeader) + (Size) hdr.stored_len > AEGIS_GROUP_MAX_SIZE)
			return false;
	}
	else if (((hdr.flags & AEGIS_BLOCK_PAX) ? hdr.raw_len > AEGIS_PAX_MAX_SIZE : hdr.raw_len != BLCKSZ) ||
			 hdr.stored_len > BLCKSZ ||
			 ((hdr.flags & AEGIS_BLOCK_DICT) &&
			  (AegisDictPrefix(hdr.codec) == 0 || hdr.stored_len <= AegisDictPrefix(hdr.codec))))
		return false;
	INIT_CRC32C(crc);
	{
		pg_crc32c	expected = hdr.crc;

		hdr.crc = 0;
		COMP_CRC32C(crc, &hdr, sizeof(hdr));
		COMP_CRC32C(crc, src + sizeof(AegisBlockHeader), hdr.stored_len);
		FIN_CRC32C(crc);
		if (!EQ_CRC32C(crc, expected))
			return false;
	}
	id->nmembers = 0;
	if (group && !group_members(&hdr, src + sizeof(AegisBlockHeader), id))
		return false;
	id->key = hdr.key;
	id->pageno = hdr.pageno;
	id->lsn = (hdr.flags & AEGIS_BLOCK_PG_LSN) ? hdr.lsn : 0;
	id->length = sizeof(AegisBlockHeader) + hdr.stored_len;
	id->has_rel_info = (hdr.flags & AEGIS_BLOCK_HAS_REL_INFO) != 0 &&
		hdr.rel_codec < AEGIS_NUM_CODECS;
	id->rel_codec = id->has_rel_info ? (AegisCodec) hdr.rel_codec : (AegisCodec) hdr.codec;
	id->rel_level = id->has_rel_info ? hdr.rel_level : 0;
	id->rel_persistence = id->has_rel_info ? hdr.rel_persistence : RELPERSISTENCE_PERMANENT;
	return true;
}

/*
 * AegisBlockTrainingSample
 *		The bytes a compression dictionary is to be trained on for 'page'
 *		(page number 'pageno' of a relation of the given 'codec' (lz4 or
 *		zstd), 'level' and 'layout', which may be NULL): the form of the
 *		page AegisBlockEncode
 *		would keep without a dictionary, i.e. the plain page or its rows or
 *		columns form, whichever compresses smallest.  Writes them to 'out'
 *		(AEGIS_PAX_MAX_SIZE bytes) and returns their length.
 */
uint32
AegisBlockTrainingSample(const char *page, BlockNumber pageno, AegisCodec codec, int level,
						 const AegisPageLayout *layout, char *out)
{
	static char scratch[AEGIS_BLOCK_MAX_SIZE];
	static PGAlignedBlock check;
	uint32		best_len = BLCKSZ;
	uint32		best_size = UINT32_MAX;
	int			best = FORM_PLAIN;

	for (int form = FORM_PLAIN; form <= FORM_COLUMNS; form++)
	{
		const char *src = page;
		uint32		src_len = BLCKSZ;
		uint32		m;

		if (form == FORM_COLUMNS && (layout == NULL || layout->natts == 0))
			continue;
		if (form != FORM_PLAIN)
		{
			src_len = AegisPaxEncode(page, pageno, form == FORM_ROWS ? NULL : layout, out,
									 check.data);
			if (src_len == 0)
				continue;
			src = out;
		}
		m = AegisBlockCompress(src, src_len, codec, level, NULL, scratch, BLCKSZ);
		if (m != 0 && m < best_size)
		{
			best_size = m;
			best = form;
			best_len = src_len;
		}
	}
	if (best == FORM_PLAIN)
		memcpy(out, page, BLCKSZ);
	else
		best_len = AegisPaxEncode(page, pageno, best == FORM_ROWS ? NULL : layout, out,
								  check.data);
	return best_len;
}
