/*
 * fuzz_block.c
 *	  libFuzzer target for the block decoder (src/block/block_format.c):
 *	  AegisBlockCheck and AegisBlockDecode on arbitrary bytes.
 *
 * The first input byte picks a mode:
 *   bit 0: make the header plausible (magic, version, identity, lengths)
 *          and its CRC right, so the codec payload decoders are reached;
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
 * Arbitrary blocks are decoded with that dictionary at hand (number 1), so
 * blocks that name it reach its decompressor.
 */
#include "postgres.h"

#include "access/htup_details.h"
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
 */
static void
build_page(char *page, const uint8_t *data, size_t size, const AegisPageLayout *layout)
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
		ItemPointerSet(&h->t_ctid, 7, nlp + 1);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[AEGIS_BLOCK_MAX_SIZE];
	static PGAlignedBlock page;
	static PGAlignedBlock again;
	AegisRelKey key = {0, 5, 16384};
	AegisBlockIdentity id;
	const AegisBlockDict *dict;
	uint8		mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;

	if (mode & 4)
	{
		AegisCodec	codec = (AegisCodec) ((mode >> 3) % AEGIS_NUM_CODECS);
		const AegisPageLayout *layout = (mode & 32) ? &layouts[mode >> 6] : NULL;
		uint32		len;

		memset(page.data, 0, BLCKSZ);
		if (layout && (mode & 2))
		{
			static char form[AEGIS_PAX_MAX_SIZE];

			build_page(page.data, data, size, layout);
			if (((PageHeader) page.data)->pd_lower > SizeOfPageHeaderData &&
				AegisPaxEncode(page.data, 7, layout, form, again.data) == 0)
				abort();		/* well-formed tuples are stored by column */
		}
		else
			memcpy(page.data, data, Min(size, (size_t) BLCKSZ));
		if (layout && !(mode & 2) && size >= 8)
		{
			PageHeader	ph = (PageHeader) page.data;

			ph->pd_lower = SizeOfPageHeaderData + (data[0] % 64) * sizeof(ItemIdData);
			ph->pd_upper = Max(ph->pd_lower, BLCKSZ - (data[1] * 32) % BLCKSZ);
			ph->pd_special = BLCKSZ;
			memset(page.data + ph->pd_lower, 0, ph->pd_upper - ph->pd_lower);
		}
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
		return 0;
	}

	if ((mode & 0x87) == 0x80)
	{
		static char form[AEGIS_PAX_MAX_SIZE];

		if (size > sizeof(form))
			return 0;
		memcpy(form, data, size);
		(void) AegisPaxDecode(form, size, 7, page.data);
		return 0;
	}
	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	if ((mode & 1) && size >= sizeof(AegisBlockHeader))
	{
		AegisBlockHeader hdr;
		pg_crc32c	crc;

		memcpy(&hdr, buf, sizeof(hdr));
		hdr.magic = AEGIS_BLOCK_MAGIC;
		hdr.version = AEGIS_BLOCK_VERSION;
		hdr.key = key;
		hdr.pageno = 0;
		hdr.raw_len = BLCKSZ;
		hdr.stored_len = size - sizeof(hdr);
		if (!(mode & 2))
			hdr.codec %= AEGIS_NUM_CODECS;
		hdr.crc = 0;
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, &hdr, sizeof(hdr));
		COMP_CRC32C(crc, buf + sizeof(hdr), hdr.stored_len);
		FIN_CRC32C(crc);
		hdr.crc = crc;
		memcpy(buf, &hdr, sizeof(hdr));
	}
	if (AegisBlockCheck(buf, size, &id) && id.length > size)
		abort();				/* a valid block lies within what was read */
	if (sigsetjmp(fuzz_error_jmp, 0) == 0)
		AegisBlockDecode(buf, size, &key, 0, "fuzz", lookup_test_dict, page.data);
	return 0;
}
