/*
 * fuzz_block.c
 *	  libFuzzer target for the block decoder (src/block/block_format.c,
 *	  block_group.c): AegisBlockCheck, AegisBlockDecode and AegisGroupDecode
 *	  on arbitrary bytes, and round trips through the encoders.
 *
 * The first input byte picks a mode:
 *   bit 0: make the header plausible (magic, version, identity, lengths)
 *          and its CRC right, so the codec payload decoders are reached;
 *          with bit 3 too, make it a group block's header (first page,
 *          LSN and form lengths as its directory says), and with bit 4
 *          also its directory consistent (members ascending, flags and
 *          form lengths valid), so the group's payload is decompressed;
 *   bit 1: keep the codec byte as given (else modulo the known codecs);
 *   bit 2: round trip instead: the rest is a page, encoded with codec
 *          (byte >> 3) % 3 and decoded again; it must come back equal.
 *          With bit 5, under one of a few attribute layouts (byte >> 6),
 *          so the column-major form (block_pax.c) is tried, and with the
 *          page header made plausible (pd_lower, pd_upper, pd_special) and
 *          tuples laid out by a small heap_form_tuple when bit 1 is set.
 *          A round trip (lz4, zstd) of an input of odd length compresses
 *          with a dictionary (block_dict.c) trained once on generated
 *          records.
 *   bits 0-2 all clear and bit 7 set: the rest is a column-major form,
 *          given to AegisPaxDecode.
 *   bits 0-2 and 7 clear, bit 6 set: group round trip (fuzz_group): 1 to
 *          16 pages, each encoded alone (AegisBlockEncode) and turned into
 *          its form (AegisBlockDecodeForm), are made into a group block
 *          (AegisGroupEncode, zstd with bit 3 else lz4, with the dictionary
 *          with bit 4), which must decode to the same pages and refuse
 *          pages it does not hold; with bit 5 one byte of it is then
 *          changed (CRC made right again) and it is probed as arbitrary
 *          bytes are.
 *   anything else: the rest is arbitrary bytes (bits 0 and 1 above).
 * Arbitrary blocks are decoded with that dictionary at hand (number 1), so
 * blocks that name it reach its decompressor.  Every buffer handed to the
 * API is exactly as long as the API asks (AEGIS_BLOCK_MAX_SIZE,
 * AEGIS_GROUP_MAX_SIZE, AEGIS_GROUP_MAX_RAW, AEGIS_PAX_MAX_SIZE, BLCKSZ),
 * and arbitrary bytes and group blocks end where their buffer ends, so
 * ASan sees a byte read or written past them.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlogdefs.h"
#include "aegis/aegis.h"
#include "aegis/block.h"
#include "storage/bufpage.h"
#include "catalog/pg_class.h"
#include "port/pg_crc32c.h"
#include "fuzz.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const AegisPageLayout layouts[4] = {
	{2, {4, -1}, {'i', 'i'}},
	{5, {8, 4, 4, -1, -1}, {'d', 'i', 'i', 'i', 'i'}},
	{4, {-2, 2, -1, 8}, {'c', 's', 'i', 'd'}},
	{3, {1, 16, -1}, {'c', 'c', 'i'}},
};

/*
 * A dictionary trained once on generated records (numbered 1), as a
 * relation's would be on its pages.
 */
static const AegisBlockDict *
test_dict(void)
{
	static AegisBlockDict *dict = NULL;

	if (dict == NULL)
	{
		static char samples[200 * 1024];
		static size_t sizes[200];
		static char bytes[16 * 1024];
		uint32		seed = 12345;
		size_t		off = 0;
		uint32		len;

		for (int i = 0; i < 200; i++)
		{
			size_t		start = off;

			while (off - start < 900)
			{
				seed = seed * 1103515245 + 12345;
				off += snprintf(samples + off, 64, "flight=%u;origin=%s;delay=%d;",
								(seed >> 8) % 5000, (seed >> 20) % 3 ? "SFO" : "LAX",
								(int) ((seed >> 4) % 120) - 20);
			}
			sizes[i] = off - start;
		}
		len = AegisBlockDictTrain(samples, sizes, 200, bytes, sizeof(bytes));
		dict = len ? AegisBlockDictCreate(bytes, len, 1) : NULL;
		if (dict == NULL)
			abort();			/* the harness needs its dictionary */
	}
	return dict;
}

/* the AegisDictLookup of the harness: its one dictionary */
static const AegisBlockDict *
lookup_test_dict(const AegisRelKey *key, uint16 id)
{
	return test_dict();
}

/* the AegisDictLookup of a relation without dictionaries */
static const AegisBlockDict *
lookup_none(const AegisRelKey *key, uint16 id)
{
	return NULL;
}

/*
 * Lay out tuples of 'layout' on 'page' from the input bytes, roughly as
 * heap_form_tuple and PageAddItem would (values of random content, some
 * null, some varlenas short): valid pages for the column-major form.
 * 'pageno' is the page's number (the tuples' ctid).
 */
static void
build_page(char *page, const uint8_t *data, size_t size, const AegisPageLayout *layout,
		   BlockNumber pageno)
{
	PageHeader	ph = (PageHeader) page;
	size_t		pos = 0;
	int			nlp = 0;

	memset(page, 0, BLCKSZ);
	ph->pd_lower = SizeOfPageHeaderData;
	ph->pd_upper = BLCKSZ;
	ph->pd_special = BLCKSZ;
	while (pos + 8 <= size && nlp < 200)
	{
		char		tup[600];
		HeapTupleHeader h = (HeapTupleHeader) tup;
		uint8		nulls = data[pos];
		int			natts = 1 + data[pos + 1] % layout->natts;
		bool		hasnull = (nulls & ((1 << natts) - 1)) != 0 && (data[pos + 2] & 1);
		uint32		hoff = MAXALIGN(SizeofHeapTupleHeader + (hasnull ? BITMAPLEN(natts) : 0));
		uint32		len = hoff;
		ItemIdData	lp;

		memset(tup, 0, sizeof(tup));
		memcpy(&h->t_choice.t_heap.t_xmin, data + pos + 3, 4);
		h->t_infomask2 = natts;
		h->t_infomask = hasnull ? HEAP_HASNULL : 0;
		h->t_hoff = hoff;
		ItemPointerSet(&h->t_ctid, pageno, nlp + 1);
		pos += 7;
		for (int a = 0; a < natts; a++)
		{
			int			attlen = layout->attlen[a];
			uint32		n;

			if (hasnull && (nulls & (1 << a)))
				continue;
			if (hasnull)
				h->t_bits[a / 8] |= 1 << (a % 8);
			if (pos >= size)
				return;
			n = attlen > 0 ? attlen : 1 + data[pos] % 40;
			if (attlen == -1 && (data[pos] & 0x80))
			{
				/* a short varlena: 1-byte header, unaligned */
				SET_VARSIZE_SHORT(tup + len, n + 1);
				memcpy(tup + len + 1, data + pos, Min(n, size - pos));
				len += n + 1;
			}
			else if (attlen == -1)
			{
				len = att_align_nominal(len, layout->attalign[a]);
				SET_VARSIZE(tup + len, n + VARHDRSZ);
				memcpy(tup + len + VARHDRSZ, data + pos, Min(n, size - pos));
				len += n + VARHDRSZ;
			}
			else if (attlen == -2)
			{
				for (uint32 i = 0; i < n - 1; i++)
					tup[len + i] = 'a' + (data[(pos + i) % size] % 26);
				len += n;
			}
			else
			{
				len = att_align_nominal(len, layout->attalign[a]);
				memcpy(tup + len, data + pos, Min((size_t) n, size - pos));
				len += n;
			}
			pos += Min((size_t) n, size - pos);
		}
		if (hasnull)
			for (int a = 0; a < natts; a++)
				if (!(nulls & (1 << a)))
					h->t_bits[a / 8] |= 1 << (a % 8);
		if (ph->pd_upper - MAXALIGN(len) < ph->pd_lower + sizeof(ItemIdData))
			return;
		ph->pd_upper -= MAXALIGN(len);
		memcpy(page + ph->pd_upper, tup, len);
		lp.lp_off = ph->pd_upper;
		lp.lp_flags = LP_NORMAL;
		lp.lp_len = len;
		memcpy(page + ph->pd_lower, &lp, sizeof(lp));
		ph->pd_lower += sizeof(lp);
		nlp++;
	}
}

/* How fill_page makes a page of the input bytes */
#define PAGE_BYTES		0		/* the bytes themselves */
#define PAGE_HEADER		1		/* those, with a plausible page header */
#define PAGE_TUPLES		2		/* tuples of the layout (build_page) */
#define PAGE_NOISE		3		/* noise seeded by them: incompressible */

/*
 * Fill 'page' (BLCKSZ bytes, page number 'pageno') from 'size' input bytes
 * the way 'how' says; PAGE_TUPLES lays out tuples of 'layout'.
 */
static void
fill_page(char *page, int how, const uint8_t *data, size_t size,
		  const AegisPageLayout *layout, BlockNumber pageno)
{
	memset(page, 0, BLCKSZ);
	if (how == PAGE_TUPLES)
	{
		static char form[AEGIS_PAX_MAX_SIZE];
		static PGAlignedBlock check;

		build_page(page, data, size, layout, pageno);
		if (((PageHeader) page)->pd_lower > SizeOfPageHeaderData &&
			AegisPaxEncode(page, pageno, layout, form, check.data) == 0)
			abort();			/* well-formed tuples are stored by column */
	}
	else if (how == PAGE_NOISE)
	{
		uint64		x = UINT64CONST(0x9E3779B97F4A7C15);

		for (size_t i = 0; i < size; i++)
			x = (x ^ data[i]) * UINT64CONST(0x100000001B3);
		x |= 1;
		for (int i = 0; i < BLCKSZ; i += sizeof(x))
		{
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(page + i, &x, sizeof(x));
		}
	}
	else
		memcpy(page, data, Min(size, (size_t) BLCKSZ));
	if (how == PAGE_HEADER && size >= 8)
	{
		PageHeader	ph = (PageHeader) page;

		ph->pd_lower = SizeOfPageHeaderData + (data[0] % 64) * sizeof(ItemIdData);
		ph->pd_upper = Max(ph->pd_lower, BLCKSZ - (data[1] * 32) % BLCKSZ);
		ph->pd_special = BLCKSZ;
		memset(page + ph->pd_lower, 0, ph->pd_upper - ph->pd_lower);
	}
}

/*
 * A buffer of exactly 'len' bytes, allocated once: ASan sees a byte past
 * its end.
 */
static char *
exact_buffer(char **slot, size_t len)
{
	if (*slot == NULL && (*slot = malloc(len)) == NULL)
		abort();
	return *slot;
}

/* Set the CRC-32C of the block at 'block' ('len' bytes) as its encoder would. */
static void
set_block_crc(char *block, uint32 len)
{
	AegisBlockHeader hdr;
	pg_crc32c	crc;

	memcpy(&hdr, block, sizeof(hdr));
	hdr.crc = 0;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &hdr, sizeof(hdr));
	COMP_CRC32C(crc, block + sizeof(hdr), len - sizeof(hdr));
	FIN_CRC32C(crc);
	hdr.crc = crc;
	memcpy(block, &hdr, sizeof(hdr));
}

/*
 * The decoders, each either done (true) or ended by an ERROR (false); the
 * caller arms fuzz_error_jmp again before it calls anything that may raise.
 */
static bool
try_block_decode(const char *src, uint32 len, const AegisRelKey *key, BlockNumber pageno,
				 AegisDictLookup lookup, char *page)
{
	if (sigsetjmp(fuzz_error_jmp, 0) != 0)
		return false;
	AegisBlockDecode(src, len, key, pageno, "fuzz", lookup, page);
	return true;
}

static bool
try_decode_form(const char *src, uint32 len, const AegisRelKey *key, BlockNumber pageno,
				AegisDictLookup lookup, AegisPageForm *form)
{
	if (sigsetjmp(fuzz_error_jmp, 0) != 0)
		return false;
	AegisBlockDecodeForm(src, len, key, pageno, "fuzz", lookup, form);
	return true;
}

static bool
try_group_decode(const char *src, uint32 len, const AegisRelKey *key, BlockNumber pageno,
				 AegisDictLookup lookup, AegisGroupForms *g)
{
	if (sigsetjmp(fuzz_error_jmp, 0) != 0)
		return false;
	AegisGroupDecode(src, len, key, pageno, "fuzz", lookup, g);
	return true;
}

static bool
try_form_to_page(const AegisGroupForms *g, int i, const AegisRelKey *key, char *page)
{
	if (sigsetjmp(fuzz_error_jmp, 0) != 0)
		return false;
	AegisPageFormToPage(g->raw + g->offset[i], g->members[i].form_len, g->members[i].flags,
						key, g->members[i].pageno, "fuzz", page);
	return true;
}

/* What AegisBlockCheck says of a group block: 1 to 16 members, ascending. */
static bool
group_identity_ok(const AegisBlockIdentity *id)
{
	if (id->nmembers < 1 || id->nmembers > AEGIS_GROUP_MAX_PAGES ||
		id->pageno != id->member_pageno[0])
		return false;
	for (int i = 0; i < id->nmembers; i++)
		if (id->member_pageno[i] >= MaxBlockNumber ||
			(i > 0 && id->member_pageno[i] <= id->member_pageno[i - 1]))
			return false;
	return true;
}

/*
 * What AegisGroupDecode gives: 1 to 16 members, ascending, their forms one
 * after the other in raw and no longer than a form can be.
 */
static bool
group_forms_ok(const AegisGroupForms *g)
{
	uint64		off = 0;

	if (g->nmembers < 1 || g->nmembers > AEGIS_GROUP_MAX_PAGES)
		return false;
	for (int i = 0; i < g->nmembers; i++)
	{
		if ((i > 0 && g->members[i].pageno <= g->members[i - 1].pageno) ||
			g->offset[i] != off || g->members[i].form_len > AEGIS_PAX_MAX_SIZE)
			return false;
		off += g->members[i].form_len;
	}
	return off == g->raw_len && g->raw_len <= AEGIS_GROUP_MAX_RAW;
}

/*
 * Bytes that may or may not be a block ('len' bytes at 'src', which end
 * where their buffer ends): AegisBlockCheck, AegisGroupDecode and
 * AegisBlockDecode must each take them or raise a clean ERROR, and what
 * they take must hold together.  'pageno' is the page AegisBlockDecode is
 * asked for.
 */
static void
probe_block(const char *src, uint32 len, const AegisRelKey *key, BlockNumber pageno,
			AegisDictLookup lookup)
{
	static char *raw;
	static PGAlignedBlock page;
	static PGAlignedBlock again;
	AegisBlockIdentity id;
	AegisGroupForms g;
	bool		checked;

	checked = AegisBlockCheck(src, len, &id);
	if (checked && id.length > len)
		abort();				/* a valid block lies within what was read */
	if (checked && (AegisBlockIsGroup(src, len) ? !group_identity_ok(&id) : id.nmembers != 0))
		abort();
	g.raw = exact_buffer(&raw, AEGIS_GROUP_MAX_RAW);
	if (try_group_decode(src, len, key, pageno, lookup, &g))
	{
		if (!group_forms_ok(&g))
			abort();
		/* a block that reads must be found again when the block map is lost */
		if (!checked || id.nmembers != g.nmembers)
			abort();
		for (int i = 0; i < g.nmembers; i++)
		{
			bool		formed;

			if (id.member_pageno[i] != g.members[i].pageno ||
				id.member_lsn[i] != g.members[i].lsn ||
				AegisGroupFind(&g, g.members[i].pageno) != i)
				abort();
			/* a member reads as its form says, or not at all */
			formed = try_form_to_page(&g, i, key, page.data);
			if (try_block_decode(src, len, key, g.members[i].pageno, lookup, again.data) != formed ||
				(formed && memcmp(page.data, again.data, BLCKSZ) != 0))
				abort();
		}
	}
	(void) try_block_decode(src, len, key, pageno, lookup, page.data);
}

/* input bytes of fuzz_group before the members' descriptors */
#define GROUP_HEAD	10
/* bytes of a member's descriptor */
#define GROUP_DESC	4

/* compression levels the harness tries: the codec's default, fast, HC/more */
static const int levels[4] = {0, 1, 3, 9};

/*
 * Group round trip.  'data' (after the mode byte):
 *   [0]      members - 1 (modulo 16)
 *   [1..4]   the first member's page number
 *   [5]      bits 0-1: the group's level (levels[]); bits 2-3: its room,
 *            AEGIS_GROUP_MAX_SIZE, the sum of the members' blocks (what
 *            the storage backend gives), 16 * [6] bytes, or UINT32_MAX
 *            (which AegisGroupEncode must cut to AEGIS_GROUP_MAX_SIZE);
 *            with bit 6, the group is given layouts[bits 4-5] (members
 *            may then be stored in their columns form)
 *   [6]      see [5]
 *   [7..8]   with mode bit 5: where to change a byte of the group block
 *   [9]      and with what (xor; 0 reads as 0x80)
 *   then GROUP_DESC bytes for each member:
 *   d[0]     codec (% 3), fill_page's how (bits 2-3), layout (bits 4-5),
 *            encode under it (bit 6), with the dictionary (bit 7)
 *   d[1]     levels[] of the block (bits 0-1) and of its relation (2-3)
 *   d[2]     page number step from the member before, 1 .. 4
 *   d[3]     if not 0, the page LSN (else the page keeps its own)
 *   then the members' page bytes, the rest split evenly among them.
 */
static void
fuzz_group(uint8 mode, const uint8_t *data, size_t size)
{
	static char *blk;
	static char *gbuf;
	static char *raw;
	static char *form_data[AEGIS_GROUP_MAX_PAGES];
	static PGAlignedBlock expected[AEGIS_GROUP_MAX_PAGES];
	static PGAlignedBlock page;
	AegisRelKey key = {0, 5, 16384};
	AegisRelKey other = {0, 5, 16385};
	AegisPageForm forms[AEGIS_GROUP_MAX_PAGES];
	BlockNumber pagenos[AEGIS_GROUP_MAX_PAGES];
	AegisBlockIdentity id;
	AegisGroupForms g;
	AegisCodec	gcodec = (mode & 8) ? AEGIS_CODEC_ZSTD : AEGIS_CODEC_LZ4;
	const AegisBlockDict *gdict = (mode & 16) ? test_dict() : NULL;
	AegisDictLookup glookup = gdict ? lookup_test_dict : lookup_none;
	const AegisPageLayout *glayout = NULL;
	const uint8_t *desc;
	const uint8_t *body;
	size_t		chunk;
	int			n;
	uint32		first;
	uint32		cap;
	uint32		room;
	uint32		glen;
	uint64		blocks_len = 0;
	uint64		raw_len = 0;
	uint64		max_lsn = 0;
	char	   *dst;

	if (size < GROUP_HEAD)
		return;
	n = 1 + data[0] % AEGIS_GROUP_MAX_PAGES;
	if (size < GROUP_HEAD + n * GROUP_DESC)
		return;
	memcpy(&first, data + 1, sizeof(first));
	/* up to the highest page number a member can have */
	first = Min(first, MaxBlockNumber - 1 - 4 * (AEGIS_GROUP_MAX_PAGES - 1));
	if (data[5] & 0x40)
		glayout = &layouts[(data[5] >> 4) & 3];
	desc = data + GROUP_HEAD;
	body = desc + n * GROUP_DESC;
	chunk = (size - GROUP_HEAD - n * GROUP_DESC) / n;
	blk = exact_buffer(&blk, AEGIS_BLOCK_MAX_SIZE);

	if (sigsetjmp(fuzz_error_jmp, 0) != 0)
		abort();				/* what we encoded must decode */
	for (int i = 0; i < n; i++)
	{
		const uint8_t *d = desc + i * GROUP_DESC;
		AegisCodec	codec = (AegisCodec) (d[0] % AEGIS_NUM_CODECS);
		const AegisPageLayout *layout = &layouts[(d[0] >> 4) & 3];
		const AegisBlockDict *dict = (codec != AEGIS_CODEC_NONE && (d[0] & 0x80)) ? test_dict() : NULL;
		AegisDictLookup lookup = dict ? lookup_test_dict : lookup_none;
		uint32		len;

		pagenos[i] = i == 0 ? first : pagenos[i - 1] + 1 + d[2] % 4;
		fill_page(page.data, (d[0] >> 2) & 3, body + i * chunk, chunk, layout, pagenos[i]);
		if (d[3] != 0)
			PageSetLSN(page.data, ((XLogRecPtr) d[3] << 32) + i * 0x100 + d[3]);
		len = AegisBlockEncode(&key, pagenos[i], page.data, codec, levels[(d[1] >> 2) & 3],
							   levels[d[1] & 3], RELPERSISTENCE_PERMANENT,
							   (d[0] & 0x40) ? layout : NULL, dict, blk);
		if (len > AEGIS_BLOCK_MAX_SIZE || !AegisBlockCheck(blk, len, &id) ||
			id.nmembers != 0 || id.pageno != pagenos[i] ||
			id.lsn != PageGetLSN(page.data) || AegisBlockIsGroup(blk, len))
			abort();
		forms[i].data = exact_buffer(&form_data[i], AEGIS_PAX_MAX_SIZE);
		AegisBlockDecodeForm(blk, len, &key, pagenos[i], "fuzz", lookup, &forms[i]);
		if (forms[i].len > AEGIS_PAX_MAX_SIZE || forms[i].lsn != PageGetLSN(page.data))
			abort();
		AegisBlockDecode(blk, len, &key, pagenos[i], "fuzz", lookup, expected[i].data);
		if (memcmp(expected[i].data, page.data, BLCKSZ) != 0)
			abort();
		blocks_len += len;
		raw_len += forms[i].len;
		max_lsn = Max(max_lsn, forms[i].lsn);
	}

	switch ((data[5] >> 2) & 3)
	{
		case 0:
			cap = AEGIS_GROUP_MAX_SIZE;
			break;
		case 1:
			cap = (uint32) blocks_len;
			break;
		case 2:
			cap = 16 * (uint32) data[6];
			break;
		default:
			cap = UINT32_MAX;
			break;
	}
	/* the block ends where the room ends: a byte past 'cap' is past gbuf */
	room = Min(cap, AEGIS_GROUP_MAX_SIZE);
	dst = exact_buffer(&gbuf, AEGIS_GROUP_MAX_SIZE) + AEGIS_GROUP_MAX_SIZE - room;
	glen = AegisGroupEncode(&key, n, forms, pagenos, gcodec, 0, levels[data[5] & 3],
							RELPERSISTENCE_PERMANENT, glayout, gdict, dst, cap);
	if (glen == 0)
	{
		/* 16 forms of any bytes fit, compressed, in AEGIS_GROUP_MAX_SIZE */
		if (room == AEGIS_GROUP_MAX_SIZE)
			abort();
		return;
	}
	if (glen > room || glen < sizeof(AegisBlockHeader))
		abort();
	/* the group must sit at the end of gbuf for the probes below */
	if (glen < room)
	{
		memmove(gbuf + AEGIS_GROUP_MAX_SIZE - glen, dst, glen);
		dst = gbuf + AEGIS_GROUP_MAX_SIZE - glen;
	}

	/*
	 * forms of AegisPaxEncode always split into streams: a zstd group of
	 * only such forms is stored stream by stream; an LZ4 group, or one
	 * with a plain page, not
	 */
	{
		bool		all_pax = true;
		AegisGroupMember m0;

		for (int i = 0; i < n; i++)
			all_pax &= (forms[i].flags & AEGIS_BLOCK_PAX) != 0;
		memcpy(&m0, dst + sizeof(AegisBlockHeader) + offsetof(AegisGroupDirectory, members),
			   sizeof(m0));
		if (glayout == NULL &&
			(all_pax && gcodec == AEGIS_CODEC_ZSTD) != ((m0.flags & AEGIS_BLOCK_STRIPED) != 0))
			abort();
	}

	/* AegisBlockCheck finds the group and its members */
	if (!AegisBlockIsGroup(dst, glen) || !AegisBlockCheck(dst, glen, &id) ||
		id.nmembers != n || id.pageno != pagenos[0] || id.length != glen ||
		id.lsn != max_lsn || !id.has_rel_info || id.rel_codec != gcodec ||
		AegisBlockCheck(dst, glen - 1, &id))
		abort();
	for (int i = 0; i < n; i++)
		if (id.member_pageno[i] != pagenos[i] || id.member_lsn[i] != forms[i].lsn)
			abort();

	/* its forms are the members' forms, and give the members' pages */
	g.raw = exact_buffer(&raw, AEGIS_GROUP_MAX_RAW);
	AegisGroupDecode(dst, glen, &key, pagenos[0], "fuzz", glookup, &g);
	if (g.nmembers != n || (glayout == NULL && g.raw_len != raw_len) || !group_forms_ok(&g))
		abort();
	for (int i = 0; i < n; i++)
	{
		/* with a layout, a member may be in its columns form instead */
		if (AegisGroupFind(&g, pagenos[i]) != i || g.members[i].pageno != pagenos[i] ||
			g.members[i].lsn != forms[i].lsn ||
			(glayout == NULL &&
			 (g.members[i].form_len != forms[i].len || g.members[i].flags != forms[i].flags ||
			  memcmp(g.raw + g.offset[i], forms[i].data, forms[i].len) != 0)))
			abort();
		AegisPageFormToPage(g.raw + g.offset[i], g.members[i].form_len, g.members[i].flags,
							&key, pagenos[i], "fuzz", page.data);
		if (memcmp(page.data, expected[i].data, BLCKSZ) != 0)
			abort();
		AegisBlockDecode(dst, glen, &key, pagenos[i], "fuzz", glookup, page.data);
		if (memcmp(page.data, expected[i].data, BLCKSZ) != 0)
			abort();
	}

	/* pages it does not hold, another relation, no dictionary: ERRORs */
	if (AegisGroupFind(&g, pagenos[n - 1] + 1) != -1 ||
		try_block_decode(dst, glen, &key, pagenos[n - 1] + 1, glookup, page.data) ||
		(pagenos[0] > 0 &&
		 try_block_decode(dst, glen, &key, pagenos[0] - 1, glookup, page.data)) ||
		try_block_decode(dst, glen, &other, pagenos[0], glookup, page.data) ||
		(gdict && try_block_decode(dst, glen, &key, pagenos[0], lookup_none, page.data)) ||
		try_decode_form(dst, glen, &key, pagenos[0], glookup, &forms[0]))
		abort();
	for (int i = 0; i + 1 < n; i++)
	{
		if (pagenos[i] + 1 == pagenos[i + 1])
			continue;
		if (try_block_decode(dst, glen, &key, pagenos[i] + 1, glookup, page.data))
			abort();
		break;
	}

	/* one byte changed (and the CRC made right): read as any bytes are */
	if (mode & 32)
	{
		uint32		pos = (data[7] | (uint32) data[8] << 8) % glen;

		dst[pos] ^= data[9] ? data[9] : 0x80;
		set_block_crc(dst, glen);
		probe_block(dst, glen, &key, pagenos[data[7] % n], glookup);
	}
}

/*
 * Make the header of the group block at 'buf' ('size' bytes) say what its
 * directory says: first page, LSN and form lengths; with 'directory', make
 * the directory consistent first (as many members as fit, ascending,
 * valid flags and form lengths).
 */
static void
make_group_header(char *buf, size_t size, AegisBlockHeader *hdr, bool directory)
{
	char	   *payload = buf + sizeof(AegisBlockHeader);
	size_t		stored = size - sizeof(AegisBlockHeader);
	AegisGroupMember m;
	AegisGroupMember prev;
	uint32		n;
	uint64		total = 0;
	uint64		max_lsn = 0;

	memset(&prev, 0, sizeof(prev));
	hdr->flags |= AEGIS_BLOCK_GROUP;
	if (stored < offsetof(AegisGroupDirectory, members) + sizeof(AegisGroupMember))
		return;
	memcpy(&n, payload, sizeof(n));
	if (directory)
	{
		n = Min(1 + n % AEGIS_GROUP_MAX_PAGES,
				(stored - offsetof(AegisGroupDirectory, members)) / sizeof(AegisGroupMember));
		memcpy(payload, &n, sizeof(n));
	}
	if (n < 1 || n > AEGIS_GROUP_MAX_PAGES ||
		offsetof(AegisGroupDirectory, members) + n * sizeof(AegisGroupMember) > stored)
		return;
	for (uint32 i = 0; i < n; i++)
	{
		char	   *at = payload + offsetof(AegisGroupDirectory, members) + i * sizeof(m);

		memcpy(&m, at, sizeof(m));
		if (directory)
		{
			m.pageno = i == 0 ? m.pageno % 1000 : prev.pageno + 1 + m.pageno % 4;
			m.flags &= AEGIS_BLOCK_PAX | AEGIS_BLOCK_PG_LSN;
			m.form_len = (m.flags & AEGIS_BLOCK_PAX) ? 1 + m.form_len % AEGIS_PAX_MAX_SIZE : BLCKSZ;
			if (!(m.flags & AEGIS_BLOCK_PG_LSN))
				m.lsn = 0;
			memcpy(at, &m, sizeof(m));
		}
		if (i == 0)
			hdr->pageno = m.pageno;
		total += m.form_len;
		max_lsn = Max(max_lsn, m.lsn);
		prev = m;
	}
	hdr->raw_len = (uint32) total;
	hdr->lsn = max_lsn;
}

static void
fuzz_one(const uint8_t *data, size_t size)
{
	static char buf[AEGIS_BLOCK_MAX_SIZE];
	static char input[AEGIS_GROUP_MAX_SIZE];
	static PGAlignedBlock page;
	static PGAlignedBlock again;
	AegisRelKey key = {0, 5, 16384};
	AegisBlockIdentity id;
	const AegisBlockDict *dict;
	uint8		mode;
	char	   *src;

	if (size < 1)
		return;
	mode = data[0];
	data++;
	size--;

	if (mode & 4)
	{
		AegisCodec	codec = (AegisCodec) ((mode >> 3) % AEGIS_NUM_CODECS);
		const AegisPageLayout *layout = (mode & 32) ? &layouts[mode >> 6] : NULL;
		uint32		len;

		fill_page(page.data, layout ? ((mode & 2) ? PAGE_TUPLES : PAGE_HEADER) : PAGE_BYTES,
				  data, size, layout, 7);
		if (sigsetjmp(fuzz_error_jmp, 0) != 0)
			abort();			/* a page we encoded must decode */
		dict = (codec != AEGIS_CODEC_NONE && (size & 1)) ? test_dict() : NULL;
		/* the table's level or a cold one: both digests of a dictionary */
		len = AegisBlockEncode(&key, 7, page.data, codec, 0, (size & 2) ? 9 : 0,
							   RELPERSISTENCE_PERMANENT, layout, dict, buf);
		if (len > AEGIS_BLOCK_MAX_SIZE || !AegisBlockCheck(buf, len, &id) || id.pageno != 7)
			abort();
		/* a block names its dictionary (unless stored raw), and needs it */
		AegisBlockDecode(buf, len, &key, 7, "fuzz", dict ? lookup_test_dict : lookup_none,
						 again.data);
		if (memcmp(page.data, again.data, BLCKSZ) != 0)
			abort();
		return;
	}

	if ((mode & 0x87) == 0x80)
	{
		static char form[AEGIS_PAX_MAX_SIZE];

		if (size > sizeof(form))
			return;
		memcpy(form, data, size);
		(void) AegisPaxDecode(form, size, 7, page.data);
		return;
	}
	if ((mode & 0xc7) == 0x40)
	{
		fuzz_group(mode, data, size);
		return;
	}
	if (size > sizeof(input))
		return;
	/* the bytes end where the buffer ends */
	src = input + sizeof(input) - size;
	memcpy(src, data, size);
	if ((mode & 1) && size >= sizeof(AegisBlockHeader))
	{
		AegisBlockHeader hdr;

		memcpy(&hdr, src, sizeof(hdr));
		hdr.magic = AEGIS_BLOCK_MAGIC;
		hdr.version = AEGIS_BLOCK_VERSION;
		hdr.key = key;
		hdr.pageno = 0;
		hdr.raw_len = BLCKSZ;
		hdr.stored_len = size - sizeof(hdr);
		if (!(mode & 2))
			hdr.codec %= AEGIS_NUM_CODECS;
		if (mode & 8)
			make_group_header(src, size, &hdr, (mode & 16) != 0);
		memcpy(src, &hdr, sizeof(hdr));
		set_block_crc(src, size);
	}
	probe_block(src, size, &key, 0, lookup_test_dict);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one(data, size);
	fuzz_reset_memory();
	return 0;
}
