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

/*
 * A zstd block of its own costs its entropy tables (up to some hundred
 * bytes): only segments of at least this many bytes get one.
 */
#define GROUP_SEGMENT_MIN	512

StaticAssertDecl(sizeof(AegisGroupMember) == 24, "a group member is 24 bytes on disk");
StaticAssertDecl(offsetof(AegisGroupDirectory, members) == 8, "a group directory opens with 8 bytes");



/*
 * Write the n forms to 'out' stream by stream (AegisPaxStreamLength):
 * stream 0 of each form, then stream 1 of each that has one, and so on.
 * Sets seg_end[0 .. *nseg) (AEGIS_PAX_MAX_STREAMS entries) to where the
 * segments the codec is to compress apart end: after stream s of every
 * member, once a segment holds GROUP_SEGMENT_MIN bytes.  Returns false,
 * having written part of it, if a form is not a rows or columns form that
 * splits into streams.
 */
static bool
group_stripe(int n, const AegisPageForm *forms, char *out, uint32 *seg_end, int *nseg)
{
	uint32		done[AEGIS_GROUP_MAX_PAGES] = {0};
	int			nstreams[AEGIS_GROUP_MAX_PAGES] = {0};
	uint32		pos = 0;
	bool		more = true;

	*nseg = 0;

	for (int s = 0; more; s++)
	{
		more = false;
		for (int i = 0; i < n; i++)
		{
			uint32		len;

			if (s > 0 && s >= nstreams[i])
				continue;
			if (!(forms[i].flags & AEGIS_BLOCK_PAX) ||
				!AegisPaxStreamLength(forms[i].data, done[i], forms[i].len, s,
									  forms[i].data + done[i], forms[i].len - done[i],
									  &len, &nstreams[i]))
				return false;
			memcpy(out + pos, forms[i].data + done[i], len);
			pos += len;
			done[i] += len;
			more |= s + 1 < nstreams[i];
		}
		/* a segment ends after a stream of every member, if long enough */
		if (pos - (*nseg > 0 ? seg_end[*nseg - 1] : 0) >= GROUP_SEGMENT_MIN || !more)
			seg_end[(*nseg)++] = pos;
	}
	for (int i = 0; i < n; i++)
		if (done[i] != forms[i].len)
			return false;
	return true;
}

/*
 * The inverse of group_stripe: the n members' forms, stored stream by
 * stream in 'in' (in_len bytes, the sum of their form lengths), written
 * one after the other to 'out'.  NULL if it went well, else what is wrong.
 * Bounded by the members' form lengths (checked against in_len by
 * AegisGroupCheckDirectory): reads and writes nothing outside them.
 */
static const char *
group_unstripe(const char *in, uint32 in_len, int n, const AegisGroupMember *members, char *out)
{
	uint32		start[AEGIS_GROUP_MAX_PAGES];
	uint32		done[AEGIS_GROUP_MAX_PAGES] = {0};
	int			nstreams[AEGIS_GROUP_MAX_PAGES] = {0};
	uint32		pos = 0;
	bool		more = true;

	for (int i = 0; i < n; i++)
		start[i] = i == 0 ? 0 : start[i - 1] + members[i - 1].form_len;
	for (int s = 0; more; s++)
	{
		more = false;
		for (int i = 0; i < n; i++)
		{
			uint32		len;

			if (s > 0 && s >= nstreams[i])
				continue;
			if (!AegisPaxStreamLength(out + start[i], done[i], members[i].form_len, s,
									  in + pos, in_len - pos, &len, &nstreams[i]) ||
				len > in_len - pos)
				return psprintf("group member %d (page %u): stream %d does not parse", i,
								members[i].pageno, s);
			memcpy(out + start[i] + done[i], in + pos, len);
			pos += len;
			done[i] += len;
			more |= s + 1 < nstreams[i];
		}
	}
	for (int i = 0; i < n; i++)
		if (done[i] != members[i].form_len)
			return psprintf("group member %d (page %u): streams of %u bytes, not %u", i,
							members[i].pageno, done[i], members[i].form_len);
	return NULL;
}

/*
 * Which members' forms a group block of a relation is made of: the forms
 * its pages had (rows form, columns form or the page, whichever compressed
 * a page alone best), or every page in its columns form.  A group block
 * stores a rows or columns form stream by stream and zstd gives each
 * stream of the group its own entropy tables, so the columns form, whose
 * streams are columns, often wins in a group where the rows form won for
 * one page (debian_packages); not where values repeat together across a
 * row (flights_wide).  Both are compressed on the first group of a
 * relation and every GROUP_TRIAL_EVERY groups after it (the other groups
 * take the last trial's winner), as AegisBlockEncode does for pages.
 */
#define GROUP_TRIAL_EVERY	8
enum
{
	GROUP_STORED_FORMS,
	GROUP_COLUMNS_FORMS
};
static struct
{
	bool		valid;
	AegisRelKey key;
	int			best;
	int			groups;			/* made since the last trial */
} group_hint;

/*
 * The payload of a group of the n forms, before compression, at 'raw':
 * with zstd, stream by stream if every form splits into streams
 * (*striped; seg_end and *nseg then say where its segments end), else one
 * form after the other (*nseg 1).  LZ4, which has no entropy stage to gain
 * from it, keeps the forms whole: striped, flights took 5% more room
 * (0.160 of heap against 0.152).  Returns its length.
 */
static uint32
group_raw(int n, const AegisPageForm *forms, AegisCodec codec, char *raw, bool *striped,
		  uint32 *seg_end, int *nseg)
{
	uint32		raw_len = 0;

	for (int i = 0; i < n; i++)
		raw_len += forms[i].len;
	*striped = codec == AEGIS_CODEC_ZSTD && group_stripe(n, forms, raw, seg_end, nseg);
	if (!*striped)
	{
		raw_len = 0;
		for (int i = 0; i < n; i++)
		{
			memcpy(raw + raw_len, forms[i].data, forms[i].len);
			raw_len += forms[i].len;
		}
		seg_end[0] = raw_len;
		*nseg = 1;
	}
	return raw_len;
}

/*
 * The n pages of 'forms' in their columns form (with 'layout') at 'cols',
 * whose data are n x AEGIS_PAX_MAX_SIZE bytes at 'buf'; a page the columns
 * form does not describe keeps its form.  Raises ERRCODE_DATA_CORRUPTED if a
 * form does not decode.
 */
static void
group_columns_forms(const AegisRelKey *key, int n, const AegisPageForm *forms,
					const BlockNumber *pagenos, const AegisPageLayout *layout,
					AegisPageForm *cols, char *buf)
{
	PGAlignedBlock page;
	PGAlignedBlock check;

	for (int i = 0; i < n; i++)
	{
		uint32		len;

		cols[i] = forms[i];
		cols[i].data = buf + (Size) i * AEGIS_PAX_MAX_SIZE;
		AegisPageFormToPage(forms[i].data, forms[i].len, forms[i].flags, key, pagenos[i],
							"a group block being made", page.data);
		len = AegisPaxEncode(page.data, pagenos[i], layout, cols[i].data, check.data);
		if (len > 0)
		{
			cols[i].len = len;
			cols[i].flags |= AEGIS_BLOCK_PAX;
		}
		else
			memcpy(cols[i].data, forms[i].data, forms[i].len);
	}
}

/*
 * AegisGroupEncode
 *		Make a group block of 'n' pages (1 .. AEGIS_GROUP_MAX_PAGES) of
 *		relation 'key' at 'dst' (at most 'cap' bytes, at most
 *		AEGIS_GROUP_MAX_SIZE): page pagenos[i] (ascending) in its form
 *		forms[i], as AegisBlockDecodeForm gives it, or in its columns form
 *		with 'layout' (the relation's, or NULL; see group_hint).  'codec'
 *		(lz4 or zstd), 'level' and 'persistence' are the relation's,
 *		recorded as in AegisBlockEncode; the payload is compressed at
 *		'page_level' with 'dict' (or none).  Returns the block's length in
 *		bytes, or 0 if it does not fit in 'cap' (the caller keeps the pages'
 *		own blocks).  Raises out of memory, and ERRCODE_DATA_CORRUPTED if a
 *		form does not decode.
 */
uint32
AegisGroupEncode(const AegisRelKey *key, int n, const AegisPageForm *forms,
				 const BlockNumber *pagenos, AegisCodec codec, int level, int page_level,
				 char persistence, const AegisPageLayout *layout, const AegisBlockDict *dict,
				 char *dst, uint32 cap)
{
	static char *raw = NULL;
	static char *colbuf = NULL;
	static char *scratch = NULL;
	AegisPageForm cols[AEGIS_GROUP_MAX_PAGES];
	const AegisPageForm *best_forms = NULL;
	AegisBlockHeader hdr;
	AegisGroupDirectory *dir;
	uint32		dir_len = AEGIS_GROUP_DIRECTORY_SIZE(n);
	uint32		prefix;
	uint32		raw_len = 0;
	uint32		head;
	uint32		m = 0;
	uint64		max_lsn = 0;
	char	   *payload = dst + sizeof(AegisBlockHeader);
	pg_crc32c	crc;
	uint32		seg_end[AEGIS_PAX_MAX_STREAMS];
	int			nseg;
	bool		striped = false;
	bool		trial;

	Assert(n >= 1 && n <= AEGIS_GROUP_MAX_PAGES);
	if (codec == AEGIS_CODEC_NONE || n < 1 || n > AEGIS_GROUP_MAX_PAGES)
		return 0;
	cap = Min(cap, AEGIS_GROUP_MAX_SIZE);
	prefix = dict ? AegisDictPrefix(codec) : 0;
	head = sizeof(AegisBlockHeader) + dir_len + prefix;
	if (cap <= head)
		return 0;
	if ((raw == NULL && (raw = malloc(AEGIS_GROUP_MAX_RAW)) == NULL) ||
		(colbuf == NULL && (colbuf = malloc(AEGIS_GROUP_MAX_RAW)) == NULL) ||
		(scratch == NULL && (scratch = malloc(AEGIS_GROUP_MAX_SIZE)) == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory for a group block")));

	if (layout == NULL || layout->natts == 0)
		trial = false;
	else
	{
		trial = !group_hint.valid || memcmp(&group_hint.key, key, sizeof(AegisRelKey)) != 0 ||
			++group_hint.groups >= GROUP_TRIAL_EVERY;
		if (trial)
		{
			group_hint.valid = false;
			group_hint.key = *key;
			group_hint.groups = 0;
		}
	}
	/*
	 * A trial compresses both kinds; otherwise the last trial's winner
	 * alone, and the other kind only if the winner does not fit.
	 */
	for (int i = 0; i < 2 * (GROUP_COLUMNS_FORMS + 1); i++)
	{
		int			kind = i % (GROUP_COLUMNS_FORMS + 1);
		bool		hinted = !trial && layout != NULL && layout->natts > 0 && group_hint.valid;
		const AegisPageForm *f = forms;
		uint32		len;
		bool		st;
		uint32		c;

		if (kind == GROUP_COLUMNS_FORMS && (layout == NULL || layout->natts == 0))
			continue;
		if (i <= GROUP_COLUMNS_FORMS ? (hinted && kind != group_hint.best) :
			(!hinted || kind == group_hint.best || m > 0))
			continue;
		if (kind == GROUP_COLUMNS_FORMS)
		{
			group_columns_forms(key, n, forms, pagenos, layout, cols, colbuf);
			f = cols;
		}
		len = group_raw(n, f, codec, raw, &st, seg_end, &nseg);
		c = AegisBlockCompressSegments(raw, seg_end, nseg, codec, page_level, dict, scratch,
									   (m > 0 ? m : cap - head + 1) - 1);
		if (c == 0)
			continue;
		memcpy(dst + head, scratch, c);
		m = c;
		raw_len = len;
		striped = st;
		best_forms = f;
		if (trial)
		{
			group_hint.valid = true;
			group_hint.best = kind;
		}
	}
	if (m == 0)
		return 0;

	dir = (AegisGroupDirectory *) palloc0(dir_len);
	dir->nmembers = n;
	for (int i = 0; i < n; i++)
	{
		Assert(i == 0 || pagenos[i] > pagenos[i - 1]);
		Assert(best_forms[i].len <= AEGIS_PAX_MAX_SIZE);
		dir->members[i].pageno = pagenos[i];
		dir->members[i].form_len = best_forms[i].len;
		dir->members[i].lsn = (best_forms[i].flags & AEGIS_BLOCK_PG_LSN) ? best_forms[i].lsn : 0;
		dir->members[i].flags = (best_forms[i].flags & (AEGIS_BLOCK_PAX | AEGIS_BLOCK_PG_LSN)) |
			(striped ? AEGIS_BLOCK_STRIPED : 0);
		max_lsn = Max(max_lsn, dir->members[i].lsn);
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
	if (out->members[0].flags & AEGIS_BLOCK_STRIPED)
	{
		static char *striped = NULL;

		if (striped == NULL && (striped = malloc(AEGIS_GROUP_MAX_RAW)) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory for a group block")));
		AegisBlockDecompress(&hdr, src + sizeof(AegisBlockHeader) + dir_len,
							 hdr.stored_len - dir_len, key, pageno, location, lookup, striped);
		bad = group_unstripe(striped, hdr.raw_len, n, out->members, out->raw);
		if (bad)
			AegisBlockReportCorrupt(key, pageno, location, bad);
		for (uint32 i = 0; i < n; i++)
			out->members[i].flags &= ~AEGIS_BLOCK_STRIPED;
	}
	else
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
