/*-------------------------------------------------------------------------
 *
 * block_group.c
 *	  Group blocks: several pages of a relation compressed as one payload.
 *
 * A codec that sees one page at a time finds only the repetition inside
 * that page; a column store compresses a column over thousands of rows.  A
 * group block gives the codec up to AEGIS_GROUP_MAX_PAGES pages at once:
 * the members' forms (the page, or its rows or columns form, block_pax.c)
 * one after the other, compressed with the relation's codec, dictionary and
 * cold level.  The relation directory makes groups of pages that VACUUM
 * found all-visible, which are likely to stay as they are
 * (src/backend/README, "Group blocks"); a page changed later is written
 * back alone and the group's other members stay where they are.
 *
 * Layout (block.h): the usual AegisBlockHeader with AEGIS_BLOCK_GROUP, then
 * an uncompressed AegisGroupDirectory (members' page numbers in ascending
 * order, form lengths and flags, page LSNs: what a block map rebuilt from
 * the data files and redo of a restored backup need without decompressing),
 * then the dictionary prefix and the codec's output.  The CRC-32C of the
 * header covers everything, as for a single page's block.  Every field is
 * checked before a byte is decompressed (the directory by
 * AegisGroupCheckDirectory, in block_format.c with the other format
 * checks); nothing here can crash on bad input (test/fuzz/fuzz_block.c).
 * AegisBlockDecode, which reads either kind of block, is here too: this
 * file uses block_format.c, never the other way round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aegis/block.h"
#include "block_internal.h"
#include "storage/bufpage.h"

StaticAssertDecl(sizeof(AegisGroupMember) == 24, "a group member is 24 bytes on disk");
StaticAssertDecl(offsetof(AegisGroupDirectory, members) == 8, "a group directory opens with 8 bytes");



/*
 * AegisGroupEncode
 *		Make a group block of 'n' pages (1 .. AEGIS_GROUP_MAX_PAGES) of
 *		relation 'key' at 'dst' (at most 'cap' bytes, at most
 *		AEGIS_GROUP_MAX_SIZE): page pagenos[i] (ascending) in its form
 *		forms[i], as AegisBlockDecodeForm gives it.  'codec' (lz4 or zstd),
 *		'level' and 'persistence' are the relation's, recorded as in
 *		AegisBlockEncode; the payload is compressed at 'page_level' with
 *		'dict' (or none).  Returns the block's length in bytes, or 0 if it
 *		does not fit in 'cap' (the caller keeps the pages' own blocks).
 *		Raises only out of memory.
 */
uint32
AegisGroupEncode(const AegisRelKey *key, int n, const AegisPageForm *forms,
				 const BlockNumber *pagenos, AegisCodec codec, int level, int page_level,
				 char persistence, const AegisBlockDict *dict, char *dst, uint32 cap)
{
	static char *raw = NULL;
	AegisBlockHeader hdr;
	AegisGroupDirectory *dir;
	uint32		dir_len = AEGIS_GROUP_DIRECTORY_SIZE(n);
	uint32		prefix;
	uint32		raw_len = 0;
	uint32		head;
	uint32		m;
	uint64		max_lsn = 0;
	char	   *payload = dst + sizeof(AegisBlockHeader);
	pg_crc32c	crc;

	Assert(n >= 1 && n <= AEGIS_GROUP_MAX_PAGES);
	if (codec == AEGIS_CODEC_NONE || n < 1 || n > AEGIS_GROUP_MAX_PAGES)
		return 0;
	cap = Min(cap, AEGIS_GROUP_MAX_SIZE);
	prefix = dict ? AegisDictPrefix(codec) : 0;
	head = sizeof(AegisBlockHeader) + dir_len + prefix;
	if (cap <= head)
		return 0;
	if (raw == NULL && (raw = malloc(AEGIS_GROUP_MAX_RAW)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for a group block")));

	dir = (AegisGroupDirectory *) palloc0(dir_len);
	dir->nmembers = n;
	for (int i = 0; i < n; i++)
	{
		Assert(i == 0 || pagenos[i] > pagenos[i - 1]);
		Assert(forms[i].len <= AEGIS_PAX_MAX_SIZE);
		memcpy(raw + raw_len, forms[i].data, forms[i].len);
		raw_len += forms[i].len;
		dir->members[i].pageno = pagenos[i];
		dir->members[i].form_len = forms[i].len;
		dir->members[i].lsn = (forms[i].flags & AEGIS_BLOCK_PG_LSN) ? forms[i].lsn : 0;
		dir->members[i].flags = forms[i].flags & (AEGIS_BLOCK_PAX | AEGIS_BLOCK_PG_LSN);
		max_lsn = Max(max_lsn, dir->members[i].lsn);
	}
	m = AegisBlockCompress(raw, raw_len, codec, page_level, dict, dst + head, cap - head);
	if (m == 0)
	{
		pfree(dir);
		return 0;
	}
	memcpy(payload, dir, dir_len);
	pfree(dir);
	if (dict)
	{
		uint16		id = AegisBlockDictId(dict);
		uint32		content_id = AegisBlockDictContentId(dict);

		memcpy(payload + dir_len, &id, sizeof(id));
		if (prefix == DICT_PREFIX_LZ4)
			memcpy(payload + dir_len + sizeof(id), &content_id, sizeof(content_id));
	}

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = AEGIS_BLOCK_MAGIC;
	hdr.version = AEGIS_BLOCK_VERSION;
	hdr.codec = (uint8) codec;
	hdr.flags = AEGIS_BLOCK_HAS_REL_INFO | AEGIS_BLOCK_PG_LSN | AEGIS_BLOCK_GROUP |
		(dict ? AEGIS_BLOCK_DICT : 0);
	hdr.rel_codec = (uint8) codec;
	hdr.rel_level = (int16) level;
	hdr.rel_persistence = persistence;
	hdr.key = *key;
	hdr.pageno = pagenos[0];
	hdr.lsn = max_lsn;
	hdr.raw_len = raw_len;
	hdr.stored_len = dir_len + prefix + m;
	hdr.crc = 0;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &hdr, sizeof(hdr));
	COMP_CRC32C(crc, payload, hdr.stored_len);
	FIN_CRC32C(crc);
	hdr.crc = crc;
	memcpy(dst, &hdr, sizeof(hdr));
	return sizeof(AegisBlockHeader) + hdr.stored_len;
}

/*
 * AegisBlockIsGroup
 *		Does the block at 'src' (len bytes, not yet verified) say it is a
 *		group block?  Only a hint for which decoder to call: both verify.
 */
bool
AegisBlockIsGroup(const char *src, uint32 len)
{
	AegisBlockHeader hdr;

	if (len < sizeof(hdr))
		return false;
	memcpy(&hdr, src, sizeof(hdr));
	return hdr.magic == AEGIS_BLOCK_MAGIC && (hdr.flags & AEGIS_BLOCK_GROUP) != 0;
}

/*
 * AegisGroupDecode
 *		Verify the group block at 'src' (len bytes) of relation 'key' and
 *		decompress its members' forms into out->raw (AEGIS_GROUP_MAX_RAW
 *		bytes, caller's), with its directory and each form's offset.
 *		'pageno' (the page the caller wants from it) and 'location' name it
 *		in errors; 'lookup' as AegisBlockDecode.  Raises
 *		ERRCODE_DATA_CORRUPTED on any mismatch.
 */
void
AegisGroupDecode(const char *src, uint32 len, const AegisRelKey *key, BlockNumber pageno,
				 const char *location, AegisDictLookup lookup, AegisGroupForms *out)
{
	AegisBlockHeader hdr;
	uint32		n;
	uint32		dir_len;
	uint32		off = 0;
	const char *bad;

	AegisBlockVerify(src, len, key, pageno, location, &hdr);
	if (!(hdr.flags & AEGIS_BLOCK_GROUP))
		AegisBlockReportCorrupt(key, pageno, location, "a page's block where a group block was expected");
	if (memcmp(&hdr.key, key, sizeof(AegisRelKey)) != 0)
		AegisBlockReportCorrupt(key, pageno, location,
								psprintf("group block holds relation " AEGIS_REL_KEY_FMT,
										 AEGIS_REL_KEY_ARGS(&hdr.key)));
	if (hdr.raw_len == 0 || hdr.raw_len > AEGIS_GROUP_MAX_RAW)
		AegisBlockReportCorrupt(key, pageno, location,
								psprintf("group block of %u bytes decompressed", hdr.raw_len));
	bad = AegisGroupCheckDirectory(&hdr, src + sizeof(AegisBlockHeader), &n, out->members);
	if (bad)
		AegisBlockReportCorrupt(key, pageno, location, bad);
	dir_len = AEGIS_GROUP_DIRECTORY_SIZE(n);
	AegisBlockDecompress(&hdr, src + sizeof(AegisBlockHeader) + dir_len,
						 hdr.stored_len - dir_len, key, pageno, location, lookup, out->raw);
	out->nmembers = n;
	out->raw_len = hdr.raw_len;
	for (uint32 i = 0; i < n; i++)
	{
		out->offset[i] = off;
		off += out->members[i].form_len;
	}
}

/* AegisGroupFind: the index of page 'pageno' among g's members, or -1. */
int
AegisGroupFind(const AegisGroupForms *g, BlockNumber pageno)
{
	for (int i = 0; i < g->nmembers; i++)
		if (g->members[i].pageno == pageno)
			return i;
	return -1;
}

/*
 * AegisBlockDecode
 *		Verify the block at 'src' (len bytes) and decompress it into 'page'.
 *
 * 'key' and 'pageno' are what the caller expects the block to hold, and
 * 'location' names where it was read from (a file path, or "memory") for the
 * error message.  A block compressed with a dictionary gets it from
 * 'lookup' (NULL: the relation has none) once the block is verified, so a
 * damaged block is reported as such, not as a dictionary that is missing.
 * A group block (AEGIS_BLOCK_GROUP) is decoded and the member 'pageno' of
 * it taken.  Raises ERRCODE_DATA_CORRUPTED on any mismatch.
 */
void
AegisBlockDecode(const char *src, uint32 len, const AegisRelKey *key,
				 BlockNumber pageno, const char *location, AegisDictLookup lookup,
				 char *page)
{
	static char data[AEGIS_PAX_MAX_SIZE];
	AegisPageForm form;

	if (AegisBlockIsGroup(src, len))
	{
		AegisGroupForms g;
		int			i;

		g.raw = palloc(AEGIS_GROUP_MAX_RAW);
		AegisGroupDecode(src, len, key, pageno, location, lookup, &g);
		i = AegisGroupFind(&g, pageno);
		if (i < 0)
			AegisBlockReportCorrupt(key, pageno, location, "the group block does not hold the page");
		AegisPageFormToPage(g.raw + g.offset[i], g.members[i].form_len, g.members[i].flags,
							key, pageno, location, page);
		pfree(g.raw);
		return;
	}
	form.data = data;
	AegisBlockDecodeForm(src, len, key, pageno, location, lookup, &form);
	AegisPageFormToPage(form.data, form.len, form.flags, key, pageno, location, page);
}
