/*-------------------------------------------------------------------------
 *
 * block_pax.c
 *	  The column-major ("PAX") form of a page, which compresses better than
 *	  the page itself: the tuples' header fields and attribute values are
 *	  grouped by column before the codec sees them.
 *
 * A heap page interleaves tuple headers and values of different columns;
 * a general-purpose codec finds few long matches in it.  Grouping the
 * values of each column (and each header field) together, and storing
 * fixed-width columns of 2, 4 or 8 bytes as deltas between consecutive
 * tuples split into byte planes, gives the codec long runs of similar bytes
 * (a bulk-loaded table's tuple headers become almost nothing).  This is the
 * layout of PAX (Ailamaki et al., "Weaving Relations for Cache
 * Performance", VLDB 2001) inside one block; the page above the block
 * layer stays a PostgreSQL page and is restored byte for byte.
 *
 * The columns form needs each attribute's length and alignment (the
 * relation's AegisPageLayout); the form carries them, so decoding needs
 * nothing but the bytes.  The rows form (natts 0) needs nothing: it groups
 * only the header fields and keeps each tuple's data in one piece, in
 * tuple order, which suits tables whose values repeat together across rows
 * (a key and the columns that depend on it).  Tuples the layout does not describe (a column
 * added after the layout was taken, a header that is not the standard
 * one, padding that is not zero) and everything that is not a tuple stay
 * in a "gap" stream in page order.  The encoder decodes its own output and
 * gives up (returns 0) unless the page comes back exactly, so a page it
 * misreads is stored as a plain page, never changed.
 *
 * The form (every length in bytes):
 *   uint8  version (1)
 *   uint16 natts, then natts x (int16 attlen, char attalign)
 *   the page header (as on the page), the line pointers as a delta column
 *   a bitmap over the line pointers: the tuples stored by column
 *   the header fields of those tuples, each as a delta column (below):
 *     t_xmin, t_xmax, t_cid (4), ctid block XOR page number (4),
 *     ctid offset XOR own offset (2), t_infomask2 (2), t_infomask (2)
 *   uint16 length, then the null bitmaps of the tuples that have one
 *   per attribute: uint16 length, then its non-null values in tuple order
 *     (fixed 2, 4 or 8 bytes: a delta column; else the values as stored);
 *     rows form: one stream, each tuple's data after t_hoff
 *   the gap stream: every byte from pd_upper on that is not part of a
 *   tuple stored by column, in page order
 * The hole between pd_lower and pd_upper must be zero (aegis zeroes it);
 * t_hoff and alignment padding are implied.  A delta column of m values of
 * w bytes holds v[i] - v[i-1] (v[-1] = 0, modulo 2^(8w)) as w byte planes:
 * byte 0 of every delta, then byte 1, ...
 *
 * Pure: no allocation, no error raised (the caller reports a form that
 * does not decode); fuzzed by test/fuzz/fuzz_block.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "aegis/block.h"
#include "port/pg_bitutils.h"
#include "storage/bufpage.h"

#if defined(__x86_64__) || defined(_M_AMD64)
/* SSE2 is part of x86-64 (PostgreSQL 16's port/simd.h decides the same) */
#include <emmintrin.h>
#define PAX_USE_SSE2
#endif

#define PAX_VERSION		1
#define PAX_MAX_TUPLES	MaxHeapTuplesPerPage
#define PAX_HDR_COLS	7

static const int pax_hdr_width[PAX_HDR_COLS] = {4, 4, 4, 4, 2, 2, 2};

/* A tuple of the page: where its line pointer says it is. */
typedef struct PaxTuple
{
	uint16		lp;				/* line pointer index, from 0 */
	uint16		off;			/* lp_off */
	uint16		len;			/* lp_len */
	bool		columns;		/* stored by column */
} PaxTuple;

/* Per-process scratch (the transform runs in one process at a time). */
static PaxTuple tuples[PAX_MAX_TUPLES];
static PaxTuple *by_off[PAX_MAX_TUPLES];
static uint16 value_off[PAX_MAX_TUPLES][AEGIS_PAX_MAX_ATTS];
static uint16 value_len[PAX_MAX_TUPLES][AEGIS_PAX_MAX_ATTS];
static uint32 hdr_vals[PAX_HDR_COLS][PAX_MAX_TUPLES];
/*
 * decoding: the last three header fields (2 bytes; hdr_vals holds the
 * first four); per tuple stored by column, in line pointer order, its
 * index in tuples[], where its next value goes, its end and the attributes
 * it has (bit a: a < natts and not null); the values of the delta columns,
 * one column after another
 */
static uint16 hdr_vals16[PAX_HDR_COLS - 4][PAX_MAX_TUPLES];
static uint16 col_tuple[PAX_MAX_TUPLES];
static uint32 cursor[PAX_MAX_TUPLES];
static uint32 tup_end[PAX_MAX_TUPLES];
static uint64 tup_present[PAX_MAX_TUPLES];
static char delta_vals[AEGIS_PAX_MAX_ATTS * BLCKSZ];
static char column_buf[BLCKSZ] pg_attribute_aligned(MAXIMUM_ALIGNOF);

static bool
valid_align(char a)
{
	return a == TYPALIGN_CHAR || a == TYPALIGN_SHORT || a == TYPALIGN_INT || a == TYPALIGN_DOUBLE;
}

static uint32
align_to(uint32 off, char a)
{
	switch (a)
	{
		case TYPALIGN_SHORT:
			return SHORTALIGN(off);
		case TYPALIGN_INT:
			return INTALIGN(off);
		case TYPALIGN_DOUBLE:
			return DOUBLEALIGN(off);
		default:
			return off;
	}
}

/*
 * The length of the value of an attribute of 'attlen' whose first byte is
 * at p (at most 'avail' bytes readable), and whether it is stored
 * unaligned (a varlena with a 1-byte header, as heap_fill_tuple stores
 * short and external ones).  0 if it is not a valid value.
 */
static inline uint32
value_length(int attlen, const char *p, uint32 avail, bool *unaligned)
{
	*unaligned = false;
	if (avail == 0)
		return 0;
	if (attlen > 0)
		return (uint32) attlen <= avail ? (uint32) attlen : 0;
	if (attlen == -2)
	{
		const char *nul = memchr(p, '\0', avail);

		return nul ? (uint32) (nul - p) + 1 : 0;
	}
	if (VARATT_IS_1B_E(p))
	{
		*unaligned = true;
		if (avail < VARHDRSZ_EXTERNAL || VARTAG_1B_E(p) != VARTAG_ONDISK)
			return 0;
		return VARHDRSZ_EXTERNAL + sizeof(varatt_external) <= avail ?
			VARHDRSZ_EXTERNAL + sizeof(varatt_external) : 0;
	}
	if (VARATT_IS_1B(p))
	{
		uint32		n = VARSIZE_1B(p);

		*unaligned = true;
		return n >= VARHDRSZ_SHORT && n <= avail ? n : 0;
	}
	if (avail < VARHDRSZ)
		return 0;
	{
		uint32		hdr;			/* aligned copy: p need not be aligned */
		uint32		n;

		memcpy(&hdr, p, sizeof(hdr));
#ifdef WORDS_BIGENDIAN
		n = hdr & 0x3FFFFFFF;	/* as VARSIZE_4B */
#else
		n = (hdr >> 2) & 0x3FFFFFFF;	/* as VARSIZE_4B */
#endif
		return n >= VARHDRSZ && n <= avail ? n : 0;
	}
}

/*
 * Append m values of w bytes (1 to 8) at 'vals' to out as a delta column;
 * the common width 4 has its own loop.
 */
static void
put_delta_column(char *out, const char *vals, int m, int w)
{
	if (w == 4)
	{
		uint32		prev = 0;
		uint8	   *o = (uint8 *) out;

		for (int i = 0; i < m; i++)
		{
			uint32		v;
			uint32		d;

			memcpy(&v, vals + (Size) i * 4, 4);
			d = v - prev;
			prev = v;
			o[i] = (uint8) d;
			o[m + i] = (uint8) (d >> 8);
			o[2 * m + i] = (uint8) (d >> 16);
			o[3 * m + i] = (uint8) (d >> 24);
		}
		return;
	}
	{
		uint64		prev = 0;

		for (int i = 0; i < m; i++)
		{
			uint64		v = 0;
			uint64		d;

			memcpy(&v, vals + (Size) i * w, w);
			d = v - prev;
			prev = v;
			for (int b = 0; b < w; b++)
				out[(Size) b * m + i] = (char) (d >> (8 * b));
		}
	}
}

#ifdef PAX_USE_SSE2
/*
 * Running sums of the 4, 2 or 8 lanes of x plus the lanes of *carry (the
 * previous total in every lane); *carry becomes the new total.
 */
static pg_attribute_always_inline __m128i
sum_lanes32(__m128i x, __m128i *carry)
{
	x = _mm_add_epi32(x, _mm_slli_si128(x, 4));
	x = _mm_add_epi32(x, _mm_slli_si128(x, 8));
	x = _mm_add_epi32(x, *carry);
	*carry = _mm_shuffle_epi32(x, _MM_SHUFFLE(3, 3, 3, 3));
	return x;
}

static pg_attribute_always_inline __m128i
sum_lanes64(__m128i x, __m128i *carry)
{
	x = _mm_add_epi64(x, _mm_slli_si128(x, 8));
	x = _mm_add_epi64(x, *carry);
	*carry = _mm_unpackhi_epi64(x, x);
	return x;
}

static pg_attribute_always_inline __m128i
sum_lanes16(__m128i x, __m128i *carry)
{
	__m128i		last;

	x = _mm_add_epi16(x, _mm_slli_si128(x, 2));
	x = _mm_add_epi16(x, _mm_slli_si128(x, 4));
	x = _mm_add_epi16(x, _mm_slli_si128(x, 8));
	x = _mm_add_epi16(x, *carry);
	last = _mm_shufflehi_epi16(x, _MM_SHUFFLE(3, 3, 3, 3));
	*carry = _mm_unpackhi_epi64(last, last);
	return x;
}

/* 16 bytes at 'in' (unaligned) */
static pg_attribute_always_inline __m128i
load16(const uint8 *in)
{
	return _mm_loadu_si128((const __m128i *) in);
}

/* store x at 'out' (16 bytes, unaligned) */
static pg_attribute_always_inline void
store16(char *out, __m128i x)
{
	_mm_storeu_si128((__m128i *) out, x);
}

/*
 * Values i to i+15 of a delta column of m values of 4 bytes (planes at p)
 * into vals, 'carry' the value before them in every lane; returns value
 * i+15 in every lane.
 */
static pg_attribute_always_inline __m128i
delta_step4(const uint8 *p, int m, int i, char *vals, __m128i carry)
{
	__m128i		b0 = load16(p + i);
	__m128i		b1 = load16(p + m + i);
	__m128i		b2 = load16(p + 2 * m + i);
	__m128i		b3 = load16(p + 3 * m + i);
	__m128i		lo01 = _mm_unpacklo_epi8(b0, b1);
	__m128i		hi01 = _mm_unpackhi_epi8(b0, b1);
	__m128i		lo23 = _mm_unpacklo_epi8(b2, b3);
	__m128i		hi23 = _mm_unpackhi_epi8(b2, b3);
	char	   *o = vals + (Size) i * 4;

	store16(o, sum_lanes32(_mm_unpacklo_epi16(lo01, lo23), &carry));
	store16(o + 16, sum_lanes32(_mm_unpackhi_epi16(lo01, lo23), &carry));
	store16(o + 32, sum_lanes32(_mm_unpacklo_epi16(hi01, hi23), &carry));
	store16(o + 48, sum_lanes32(_mm_unpackhi_epi16(hi01, hi23), &carry));
	return carry;
}

/* delta_step4 for values of 8 bytes */
static pg_attribute_always_inline __m128i
delta_step8(const uint8 *p, int m, int i, char *vals, __m128i carry)
{
	/* bytes 2k and 2k+1 of values 0-7 (lo) and 8-15 (hi) */
	__m128i		lo0 = _mm_unpacklo_epi8(load16(p + i), load16(p + m + i));
	__m128i		hi0 = _mm_unpackhi_epi8(load16(p + i), load16(p + m + i));
	__m128i		lo1 = _mm_unpacklo_epi8(load16(p + 2 * m + i), load16(p + 3 * m + i));
	__m128i		hi1 = _mm_unpackhi_epi8(load16(p + 2 * m + i), load16(p + 3 * m + i));
	__m128i		lo2 = _mm_unpacklo_epi8(load16(p + 4 * m + i), load16(p + 5 * m + i));
	__m128i		hi2 = _mm_unpackhi_epi8(load16(p + 4 * m + i), load16(p + 5 * m + i));
	__m128i		lo3 = _mm_unpacklo_epi8(load16(p + 6 * m + i), load16(p + 7 * m + i));
	__m128i		hi3 = _mm_unpackhi_epi8(load16(p + 6 * m + i), load16(p + 7 * m + i));

	/* bytes 0-3 (l) and 4-7 (h) of values 0-3, 4-7, 8-11, 12-15 */
	__m128i		l0 = _mm_unpacklo_epi16(lo0, lo1);
	__m128i		l1 = _mm_unpackhi_epi16(lo0, lo1);
	__m128i		l2 = _mm_unpacklo_epi16(hi0, hi1);
	__m128i		l3 = _mm_unpackhi_epi16(hi0, hi1);
	__m128i		h0 = _mm_unpacklo_epi16(lo2, lo3);
	__m128i		h1 = _mm_unpackhi_epi16(lo2, lo3);
	__m128i		h2 = _mm_unpacklo_epi16(hi2, hi3);
	__m128i		h3 = _mm_unpackhi_epi16(hi2, hi3);
	char	   *o = vals + (Size) i * 8;

	store16(o, sum_lanes64(_mm_unpacklo_epi32(l0, h0), &carry));
	store16(o + 16, sum_lanes64(_mm_unpackhi_epi32(l0, h0), &carry));
	store16(o + 32, sum_lanes64(_mm_unpacklo_epi32(l1, h1), &carry));
	store16(o + 48, sum_lanes64(_mm_unpackhi_epi32(l1, h1), &carry));
	store16(o + 64, sum_lanes64(_mm_unpacklo_epi32(l2, h2), &carry));
	store16(o + 80, sum_lanes64(_mm_unpackhi_epi32(l2, h2), &carry));
	store16(o + 96, sum_lanes64(_mm_unpacklo_epi32(l3, h3), &carry));
	store16(o + 112, sum_lanes64(_mm_unpackhi_epi32(l3, h3), &carry));
	return carry;
}

/* delta_step4 for values of 2 bytes */
static pg_attribute_always_inline __m128i
delta_step2(const uint8 *p, int m, int i, char *vals, __m128i carry)
{
	__m128i		b0 = load16(p + i);
	__m128i		b1 = load16(p + m + i);
	char	   *o = vals + (Size) i * 2;

	store16(o, sum_lanes16(_mm_unpacklo_epi8(b0, b1), &carry));
	store16(o + 16, sum_lanes16(_mm_unpackhi_epi8(b0, b1), &carry));
	return carry;
}

/*
 * get_delta_column for m >= 16 values of w bytes (2, 4 or 8; a constant
 * where inlined): 16 values a step, then, if m is not a multiple of 16, the
 * last 16 again from the value before them.
 */
static pg_attribute_always_inline void
delta_column_sse2(const uint8 *p, char *vals, int m, int w)
{
	__m128i		carry = _mm_setzero_si128();
	const char *before;
	int			i;

	for (i = 0; i + 16 <= m; i += 16)
		carry = w == 2 ? delta_step2(p, m, i, vals, carry) :
			w == 4 ? delta_step4(p, m, i, vals, carry) : delta_step8(p, m, i, vals, carry);
	if (i == m)
		return;
	before = vals + (Size) (m - 17) * w;	/* m > 16 here */
	if (w == 2)
	{
		uint16		prev;

		memcpy(&prev, before, 2);
		delta_step2(p, m, m - 16, vals, _mm_set1_epi16((int16) prev));
	}
	else if (w == 4)
	{
		uint32		prev;

		memcpy(&prev, before, 4);
		delta_step4(p, m, m - 16, vals, _mm_set1_epi32((int32) prev));
	}
	else
	{
		uint64		prev;

		memcpy(&prev, before, 8);
		delta_step8(p, m, m - 16, vals, _mm_set1_epi64x((int64) prev));
	}
}
#endif

/*
 * Decode a delta column of m values of w bytes at 'in' into 'vals': the
 * byte planes put back together, then summed up.  Widths 2, 4 and 8 have
 * their own loops.  With SSE2, a column of 16 values or more goes 16 values
 * a step (the planes interleaved by unpacking, running sums within each
 * register, the total carried to the next), and its last 16 values are
 * done again from the one before them if m is not a multiple of 16 (those
 * already written come out the same).
 */
static void
get_delta_column(const char *in, char *vals, int m, int w)
{
	const uint8 *p = (const uint8 *) in;

	if (w == 4)
	{
		uint32		prev = 0;

#ifdef PAX_USE_SSE2
		if (m >= 16)
		{
			delta_column_sse2(p, vals, m, 4);
			return;
		}
#endif
		for (int i = 0; i < m; i++)
		{
			prev += (uint32) p[i] | (uint32) p[m + i] << 8 |
				(uint32) p[2 * m + i] << 16 | (uint32) p[3 * m + i] << 24;
			memcpy(vals + (Size) i * 4, &prev, 4);
		}
		return;
	}
	if (w == 8)
	{
		uint64		prev = 0;

#ifdef PAX_USE_SSE2
		if (m >= 16)
		{
			delta_column_sse2(p, vals, m, 8);
			return;
		}
#endif
		for (int i = 0; i < m; i++)
		{
			uint64		d = (uint64) p[i] | (uint64) p[m + i] << 8 |
				(uint64) p[2 * m + i] << 16 | (uint64) p[3 * m + i] << 24 |
				(uint64) p[4 * m + i] << 32 | (uint64) p[5 * m + i] << 40 |
				(uint64) p[6 * m + i] << 48 | (uint64) p[7 * m + i] << 56;

			prev += d;
			memcpy(vals + (Size) i * 8, &prev, 8);
		}
		return;
	}
	if (w == 2)
	{
		uint16		prev = 0;

#ifdef PAX_USE_SSE2
		if (m >= 16)
		{
			delta_column_sse2(p, vals, m, 2);
			return;
		}
#endif
		for (int i = 0; i < m; i++)
		{
			prev = (uint16) (prev + ((uint16) p[i] | (uint16) p[m + i] << 8));
			memcpy(vals + (Size) i * 2, &prev, 2);
		}
		return;
	}
	{
		uint64		prev = 0;
		uint64		mask = w == 8 ? PG_UINT64_MAX : ((uint64) 1 << (8 * w)) - 1;

		for (int i = 0; i < m; i++)
		{
			uint64		d = 0;

			for (int b = 0; b < w; b++)
				d |= (uint64) (uint8) in[(Size) b * m + i] << (8 * b);
			prev = (prev + d) & mask;
			memcpy(vals + (Size) i * w, &prev, w);
		}
	}
}

static bool
is_delta_width(int attlen)
{
	return attlen == 2 || attlen == 4 || attlen == 8;
}

/*
 * The tuple starting at each MAXALIGNed page offset (find_tuples), or -1:
 * a counting sort by offset, where qsort had taken a third of the CPU time
 * of an io worker writing pages that updates had left out of order.
 */
static int16 tuple_at[BLCKSZ / MAXIMUM_ALIGNOF];

/*
 * The page's candidate tuples (normal line pointers to at least a tuple
 * header, within [pd_upper, BLCKSZ)) into tuples[] and, sorted by offset,
 * by_off[]; their count, or -1 if the page is not one this form describes
 * (header bounds, overlapping tuples).  Reads only the page header and the
 * line pointers, so encoder and decoder find the same list.
 */
static int
find_tuples(const char *page)
{
	PageHeader	ph = (PageHeader) page;
	uint32		upper = ph->pd_upper;
	int			nlp;
	int			n = 0;
	int			sorted;
	bool		descending = true;
	uint32		last_off = BLCKSZ;	/* of the last tuple found */

	if (ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > BLCKSZ || ph->pd_special != BLCKSZ ||
		(ph->pd_lower - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0)
		return -1;
	nlp = (ph->pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	if (nlp > PAX_MAX_TUPLES)
		return -1;
	for (int i = 0; i < nlp; i++)
	{
		ItemIdData	lp;
		uint32		off;
		uint32		len;

		memcpy(&lp, page + SizeOfPageHeaderData + i * sizeof(ItemIdData), sizeof(lp));
		off = lp.lp_off;
		len = lp.lp_len;
		if (lp.lp_flags != LP_NORMAL || len < SizeofHeapTupleHeader ||
			off < upper || off + len > BLCKSZ || off % MAXIMUM_ALIGNOF != 0)
			continue;

		/*
		 * Usually in reverse (tuples are added downwards from the page end):
		 * then each must end where the one before it begins, at the latest.
		 * (Two tuples that overlap are found in any order.)
		 */
		if (descending)
		{
			if (off >= last_off)
				descending = false;
			else if (off + len > last_off)
				return -1;
			last_off = off;
		}
		tuples[n].lp = i;
		tuples[n].off = off;
		tuples[n].len = len;
		tuples[n].columns = false;
		n++;
	}
	if (descending)
	{
		for (int k = 0; k < n; k++)
			by_off[k] = &tuples[n - 1 - k];
		return n;
	}
	/* every tuple starts at or above pd_upper, at a MAXALIGNed offset */
	for (uint32 b = upper / MAXIMUM_ALIGNOF; b < lengthof(tuple_at); b++)
		tuple_at[b] = -1;
	for (int k = 0; k < n; k++)
	{
		uint32		b = tuples[k].off / MAXIMUM_ALIGNOF;

		if (tuple_at[b] >= 0)
			return -1;			/* two tuples start there: they overlap */
		tuple_at[b] = (int16) k;
	}
	sorted = 0;
	for (uint32 b = upper / MAXIMUM_ALIGNOF; b < lengthof(tuple_at); b++)
		if (tuple_at[b] >= 0)
			by_off[sorted++] = &tuples[tuple_at[b]];
	Assert(sorted == n);
	for (int k = 1; k < n; k++)
		if (by_off[k]->off < by_off[k - 1]->off + by_off[k - 1]->len)
			return -1;
	return n;
}

/*
 * Can tuple t be stored by column under 'layout'?  Fills value_off/len[]
 * (0 length: null or absent) if so.  The rules are the decoder's: t_hoff
 * as heap_form_tuple sets it, zero padding, each value where
 * heap_deform_tuple would look for it, and nothing after the last.
 */
static bool
parse_tuple(const char *page, int ti, const AegisPageLayout *layout)
{
	const PaxTuple *t = &tuples[ti];
	const char *tup = page + t->off;
	HeapTupleHeaderData h;
	int			natts;
	bool		hasnull;
	uint32		hoff;
	uint32		pos;
	uint32		end = t->off + t->len;

	memcpy(&h, tup, SizeofHeapTupleHeader);
	natts = HeapTupleHeaderGetNatts(&h);
	hasnull = (h.t_infomask & HEAP_HASNULL) != 0;
	if ((layout->natts > 0 && natts > layout->natts) || (h.t_infomask & HEAP_HASOID_OLD))
		return false;
	hoff = MAXALIGN(SizeofHeapTupleHeader + (hasnull ? BITMAPLEN(natts) : 0));
	if (h.t_hoff != hoff || hoff > t->len)
		return false;
	for (uint32 i = SizeofHeapTupleHeader + (hasnull ? BITMAPLEN(natts) : 0); i < hoff; i++)
		if (tup[i] != 0)
			return false;
	pos = t->off + hoff;
	if (layout->natts == 0)
	{
		/* rows form: the data as it is, after the header */
		value_off[ti][0] = pos;
		value_len[ti][0] = end - pos;
		return true;
	}
	for (int a = 0; a < layout->natts; a++)
	{
		bool		unaligned;
		uint32		start;
		uint32		n;

		value_off[ti][a] = 0;
		value_len[ti][a] = 0;
		if (a >= natts ||
			(hasnull && att_isnull(a, (bits8 *) (tup + SizeofHeapTupleHeader))))
			continue;
		/*
		 * Where heap_deform_tuple looks for the value: a varlena with a
		 * 1-byte header right where the previous value ended, else at the
		 * attribute's alignment (relative to the data start).
		 */
		n = 0;
		if (layout->attlen[a] == -1)
		{
			n = value_length(-1, page + pos, end - pos, &unaligned);
			start = pos;
		}
		if (n == 0 || !unaligned)
		{
			start = align_to(pos - (t->off + hoff), layout->attalign[a]) + t->off + hoff;
			if (start >= end)
				return false;
			n = value_length(layout->attlen[a], page + start, end - start, &unaligned);
			if (unaligned && start != pos)
				return false;
		}
		if (n == 0)
			return false;
		for (uint32 i = pos; i < start; i++)
			if (page[i] != 0)
				return false;
		value_off[ti][a] = start;
		value_len[ti][a] = n;
		pos = start + n;
	}
	return pos == end;
}

/*
 * AegisPaxEncode
 *		Write the column-major form of 'page' (BLCKSZ bytes, page number
 *		'pageno') under 'layout' into 'out' (AEGIS_PAX_MAX_SIZE bytes).
 *		Returns its length in bytes, or 0 if the page is not one the form
 *		describes or no tuple could be stored by column (store the page
 *		itself).  Verified: the form decodes to exactly 'page' ('check' is
 *		BLCKSZ bytes of scratch).
 */
uint32
AegisPaxEncode(const char *page, BlockNumber pageno, const AegisPageLayout *layout,
			   char *out, char *check)
{
	static const AegisPageLayout rows_layout = {0};
	PageHeader	ph = (PageHeader) page;
	int			n;
	int			m = 0;
	int			ncols;
	uint32		len = 0;
	uint16		u16;
	uint32		bitmap_at;
	uint32		cur;

	if (layout == NULL)
		layout = &rows_layout;
	if (layout->natts < 0 || layout->natts > AEGIS_PAX_MAX_ATTS)
		return 0;
	ncols = layout->natts > 0 ? layout->natts : 1;
	n = find_tuples(page);
	if (n <= 0)
		return 0;
	for (int i = ph->pd_lower; i < ph->pd_upper; i++)
		if (page[i] != 0)
			return 0;
	for (int k = 0; k < n; k++)
		if ((tuples[k].columns = parse_tuple(page, k, layout)))
			m++;
	if (m == 0)
		return 0;

	out[len++] = PAX_VERSION;
	u16 = layout->natts;
	memcpy(out + len, &u16, 2);
	len += 2;
	for (int a = 0; a < layout->natts; a++)
	{
		memcpy(out + len, &layout->attlen[a], 2);
		out[len + 2] = layout->attalign[a];
		len += 3;
	}
	memcpy(out + len, page, SizeOfPageHeaderData);
	len += SizeOfPageHeaderData;
	{
		int			nlp = (ph->pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
		int			nbytes = (nlp + 7) / 8;

		put_delta_column(out + len, page + SizeOfPageHeaderData, nlp, sizeof(ItemIdData));
		len += nlp * sizeof(ItemIdData);

		memset(out + len, 0, nbytes);
		for (int k = 0; k < n; k++)
			if (tuples[k].columns)
				out[len + tuples[k].lp / 8] |= (char) (1 << (tuples[k].lp % 8));
		len += nbytes;
	}

	/* header fields */
	{
		int			j = 0;

		for (int k = 0; k < n; k++)
		{
			HeapTupleHeaderData h;

			if (!tuples[k].columns)
				continue;
			memcpy(&h, page + tuples[k].off, SizeofHeapTupleHeader);
			hdr_vals[0][j] = h.t_choice.t_heap.t_xmin;
			hdr_vals[1][j] = h.t_choice.t_heap.t_xmax;
			hdr_vals[2][j] = h.t_choice.t_heap.t_field3.t_cid;
			hdr_vals[3][j] = BlockIdGetBlockNumber(&h.t_ctid.ip_blkid) ^ pageno;
			hdr_vals[4][j] = (uint16) (h.t_ctid.ip_posid ^ (tuples[k].lp + 1));
			hdr_vals[5][j] = h.t_infomask2;
			hdr_vals[6][j] = h.t_infomask;
			j++;
		}
		for (int c = 0; c < PAX_HDR_COLS; c++)
		{
			int			w = pax_hdr_width[c];

			if (w == 4)
				put_delta_column(out + len, (char *) hdr_vals[c], m, 4);
			else
			{
				uint16	   *v16 = (uint16 *) column_buf;

				for (int i = 0; i < m; i++)
					v16[i] = (uint16) hdr_vals[c][i];
				put_delta_column(out + len, column_buf, m, 2);
			}
			len += (uint32) m * w;
		}
	}

	/* null bitmaps */
	bitmap_at = len;
	len += 2;
	for (int k = 0; k < n; k++)
	{
		HeapTupleHeaderData h;

		if (!tuples[k].columns)
			continue;
		memcpy(&h, page + tuples[k].off, SizeofHeapTupleHeader);
		if (h.t_infomask & HEAP_HASNULL)
		{
			int			nb = BITMAPLEN(HeapTupleHeaderGetNatts(&h));

			memcpy(out + len, page + tuples[k].off + SizeofHeapTupleHeader, nb);
			len += nb;
		}
	}
	u16 = len - bitmap_at - 2;
	memcpy(out + bitmap_at, &u16, 2);

	/* attribute columns (rows form: one, the tuples' data) */
	for (int a = 0; a < ncols; a++)
	{
		uint32		clen = 0;
		int			cm = 0;

		for (int k = 0; k < n; k++)
		{
			if (!tuples[k].columns || value_len[k][a] == 0)
				continue;
			memcpy(column_buf + clen, page + value_off[k][a], value_len[k][a]);
			clen += value_len[k][a];
			cm++;
		}
		u16 = clen;
		memcpy(out + len, &u16, 2);
		len += 2;
		if (layout->natts > 0 && is_delta_width(layout->attlen[a]))
			put_delta_column(out + len, column_buf, cm, layout->attlen[a]);
		else
			memcpy(out + len, column_buf, clen);
		len += clen;
	}

	/* the gap stream */
	cur = ph->pd_upper;
	for (int k = 0; k < n; k++)
	{
		if (!by_off[k]->columns)
			continue;
		memcpy(out + len, page + cur, by_off[k]->off - cur);
		len += by_off[k]->off - cur;
		cur = by_off[k]->off + by_off[k]->len;
	}
	memcpy(out + len, page + cur, BLCKSZ - cur);
	len += BLCKSZ - cur;
	Assert(len <= AEGIS_PAX_MAX_SIZE);

	if (AegisPaxDecode(out, len, pageno, check) != NULL ||
		memcmp(check, page, BLCKSZ) != 0)
		return 0;
	return len;
}

/* Bounded reader of the form. */
typedef struct PaxReader
{
	const char *in;
	uint32		len;
	uint32		pos;
} PaxReader;

static const char *
take(PaxReader *r, uint32 n)
{
	const char *p;

	if (n > r->len - r->pos)
		return NULL;
	p = r->in + r->pos;
	r->pos += n;
	return p;
}

/*
 * Copy n bytes (w <= n <= 2w) from src to dst as two moves of w bytes, the
 * first n and the last n bytes, which may overlap each other but not leave
 * either range.  With w a constant each move is one load and one store.
 */
static pg_attribute_always_inline void
copy_ends(char *dst, const char *src, uint32 n, uint32 w)
{
	char		head[8];
	char		tail[8];

	memcpy(head, src, w);
	memcpy(tail, src + n - w, w);
	memcpy(dst, head, w);
	memcpy(dst + n - w, tail, w);
}

/*
 * Copy n bytes from src to dst (not overlapping), as memcpy would; the
 * short lengths of most values and gaps inline (copy_ends).
 */
static pg_attribute_always_inline void
copy_bytes(char *dst, const char *src, uint32 n)
{
	if (n > 16)
		memcpy(dst, src, n);
	else if (n >= 8)
		copy_ends(dst, src, n, 8);
	else if (n >= 4)
		copy_ends(dst, src, n, 4);
	else if (n >= 2)
		copy_ends(dst, src, n, 2);
	else if (n == 1)
		*dst = *src;
}

/*
 * Place the values of one attribute (the column of 'clen' bytes at 'col')
 * into the tuples stored by column that have it (tup_present bit 'bit'; 0:
 * all of them), each where heap_deform_tuple looks for it: at its tuple's
 * cursor, aligned by 'mask' unless a varlena with a 1-byte header.  Returns
 * NULL, or what is wrong; *used is the bytes of the column taken.  Inlined
 * with attlen (and bit 0) constant where it pays: the copies of 2, 4 and 8
 * bytes become single moves.
 */
static pg_attribute_always_inline const char *
place_column(char *page, const char *col, uint32 clen, int m, int attlen,
			 uint32 mask, uint64 bit, uint32 *used)
{
	uint32		cpos = 0;

	for (int i = 0; i < m; i++)
	{
		const char *v = col + cpos;
		uint32		avail = clen - cpos;
		uint32		start;
		uint32		vlen;

		if (bit != 0 && !(tup_present[i] & bit))
			continue;
		if (attlen > 0)
		{
			vlen = attlen;
			if (vlen > avail)
				return "column cut short";
			start = (cursor[i] + mask) & ~mask;
		}
		else if (attlen == -1 && avail > 0 && VARATT_IS_1B(v) && !VARATT_IS_1B_E(v))
		{
			/* the common case: a short varlena, unaligned (value_length's) */
			vlen = VARSIZE_1B(v);
			if (vlen > avail)
				return "invalid value in a column";
			start = cursor[i];
		}
		else
		{
			bool		unaligned;

			vlen = value_length(attlen, v, avail, &unaligned);
			if (vlen == 0)
				return "invalid value in a column";
			start = unaligned ? cursor[i] : (cursor[i] + mask) & ~mask;
		}
		if (start + vlen > tup_end[i])
			return "values overrun their tuple";
		if (attlen > 0)
			memcpy(page + start, v, attlen);
		else
			copy_bytes(page + start, v, vlen);
		cpos += vlen;
		cursor[i] = start + vlen;
	}
	*used = cpos;
	return NULL;
}

/*
 * place_column for an attribute of a fixed width that every tuple stored
 * by column has: m values of 'attlen' bytes at 'v'.  false if one would
 * overrun its tuple.
 */
static pg_attribute_always_inline bool
place_dense_column(char *page, const char *v, int m, int attlen, uint32 mask)
{
	for (int i = 0; i < m; i++)
	{
		uint32		start = (cursor[i] + mask) & ~mask;

		if (start + attlen > tup_end[i])
			return false;
		memcpy(page + start, v, attlen);
		v += attlen;
		cursor[i] = start + attlen;
	}
	return true;
}

/*
 * AegisPaxDecode
 *		Restore the page (BLCKSZ bytes at 'page', page number 'pageno') from
 *		its column-major form ('len' bytes at 'in').  Returns NULL, or what
 *		is wrong with the form (the page is then garbage).
 */
const char *
AegisPaxDecode(const char *in, uint32 len, BlockNumber pageno, char *page)
{
	PaxReader	r = {in, len, 0};
	AegisPageLayout layout;
	const char *p;
	uint16		u16;
	uint16		pd_lower;
	int			n;
	int			m = 0;
	int			nlp;
	int			marked = 0;
	const char *bitmaps;
	uint32		bitmaps_len;
	uint32		bpos = 0;
	const char *cols[AEGIS_PAX_MAX_ATTS];
	uint32		col_len[AEGIS_PAX_MAX_ATTS];
	uint32		delta_pos = 0;
	uint32		rows_pos = 0;
	const char *gap;
	uint32		gap_len;
	uint32		cur;
	int			ncols;
	uint32		amask[AEGIS_PAX_MAX_ATTS];	/* alignment - 1 per attribute */
	uint64		all_present = PG_UINT64_MAX;	/* attributes no tuple lacks */

	if ((p = take(&r, 3)) == NULL || p[0] != PAX_VERSION)
		return "unknown column-major form";
	memcpy(&u16, p + 1, 2);
	if (u16 > AEGIS_PAX_MAX_ATTS)
		return "invalid number of attributes";
	layout.natts = u16;
	ncols = layout.natts > 0 ? layout.natts : 1;
	for (int a = 0; a < layout.natts; a++)
	{
		if ((p = take(&r, 3)) == NULL)
			return "is cut short";
		memcpy(&layout.attlen[a], p, 2);
		layout.attalign[a] = p[2];
		if ((layout.attlen[a] <= 0 && layout.attlen[a] != -1 && layout.attlen[a] != -2) ||
			!valid_align(layout.attalign[a]))
			return "invalid attribute layout";
		amask[a] = align_to(1, layout.attalign[a]) - 1;
	}
	if (r.len - r.pos < SizeOfPageHeaderData)
		return "is cut short";
	memcpy(&pd_lower, r.in + r.pos + offsetof(PageHeaderData, pd_lower), 2);
	if (pd_lower < SizeOfPageHeaderData || pd_lower > BLCKSZ ||
		(pd_lower - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0 ||
		(p = take(&r, SizeOfPageHeaderData)) == NULL)
		return "invalid page header";
	/*
	 * From pd_lower on, everything is written below but the hole and the
	 * padding within tuples stored by column, which must be zero.
	 */
	memcpy(page, p, SizeOfPageHeaderData);
	memset(page + pd_lower, 0, BLCKSZ - pd_lower);
	nlp = (pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	if ((p = take(&r, nlp * sizeof(ItemIdData))) == NULL)
		return "is cut short";
	get_delta_column(p, page + SizeOfPageHeaderData, nlp, sizeof(ItemIdData));
	n = find_tuples(page);
	if (n < 0)
		return "invalid page header or line pointers";

	/* the tuples stored by column: every line pointer marked is a tuple */
	if ((p = take(&r, (nlp + 7) / 8)) == NULL)
		return "is cut short";
	for (int b = 0; b < nlp / 8; b++)
		marked += pg_number_of_ones[(uint8) p[b]];
	if (nlp % 8 != 0)
		marked += pg_number_of_ones[(uint8) p[nlp / 8] & ((1 << (nlp % 8)) - 1)];
	for (int k = 0; k < n; k++)
	{
		/* tuples[] are in line pointer order */
		if (p[tuples[k].lp / 8] & (1 << (tuples[k].lp % 8)))
		{
			tuples[k].columns = true;
			col_tuple[m++] = k;
		}
	}
	if (marked != m)
		return "marks a line pointer that is not a tuple";

	for (int c = 0; c < PAX_HDR_COLS; c++)
	{
		int			w = pax_hdr_width[c];

		if ((p = take(&r, (uint32) m * w)) == NULL)
			return "is cut short";
		/* the first four 4 bytes wide, the rest 2 */
		get_delta_column(p, w == 4 ? (char *) hdr_vals[c] : (char *) hdr_vals16[c - 4], m, w);
	}
	if ((p = take(&r, 2)) == NULL)
		return "is cut short";
	memcpy(&u16, p, 2);
	bitmaps_len = u16;
	if ((bitmaps = take(&r, bitmaps_len)) == NULL)
		return "is cut short";
	for (int a = 0; a < ncols; a++)
	{
		if ((p = take(&r, 2)) == NULL)
			return "is cut short";
		memcpy(&u16, p, 2);
		col_len[a] = u16;
		if ((cols[a] = take(&r, col_len[a])) == NULL)
			return "is cut short";
		if (layout.natts > 0 && is_delta_width(layout.attlen[a]))
		{
			if (col_len[a] % layout.attlen[a] != 0 || col_len[a] > BLCKSZ)
				return "invalid column length";
			get_delta_column(cols[a], delta_vals + delta_pos, col_len[a] / layout.attlen[a],
							 layout.attlen[a]);
			cols[a] = delta_vals + delta_pos;
			delta_pos += col_len[a];
		}
	}
	gap = r.in + r.pos;
	gap_len = r.len - r.pos;

	/* the tuples stored by column, in line pointer order: their headers */
	for (int j = 0; j < m; j++)
	{
		const PaxTuple *t = &tuples[col_tuple[j]];
		char	   *tup = page + t->off;
		uint32		end = t->off + t->len;
		uint32		blk = hdr_vals[3][j] ^ pageno;
		uint16		bi_hi = (uint16) (blk >> 16);
		uint16		bi_lo = (uint16) blk;
		uint16		posid = (uint16) (hdr_vals16[0][j] ^ (t->lp + 1));
		uint16		infomask2 = hdr_vals16[1][j];
		uint16		infomask = hdr_vals16[2][j];
		int			natts = infomask2 & HEAP_NATTS_MASK;
		bool		hasnull = (infomask & HEAP_HASNULL) != 0;
		int			nb = hasnull ? BITMAPLEN(natts) : 0;
		uint32		hoff = MAXALIGN(SizeofHeapTupleHeader + nb);
		uint32		pos = t->off + hoff;

		/* field by field into the page: no copy of a whole header */
		memcpy(tup + offsetof(HeapTupleHeaderData, t_choice.t_heap.t_xmin), &hdr_vals[0][j], 4);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_choice.t_heap.t_xmax), &hdr_vals[1][j], 4);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_choice.t_heap.t_field3), &hdr_vals[2][j], 4);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_ctid.ip_blkid.bi_hi), &bi_hi, 2);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_ctid.ip_blkid.bi_lo), &bi_lo, 2);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_ctid.ip_posid), &posid, 2);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_infomask2), &infomask2, 2);
		memcpy(tup + offsetof(HeapTupleHeaderData, t_infomask), &infomask, 2);
		if (layout.natts > 0 && natts > layout.natts)
			return "tuple has more attributes than the layout";
		if (hoff > t->len)
			return "tuple header longer than the tuple";
		tup[offsetof(HeapTupleHeaderData, t_hoff)] = (char) hoff;
		if (nb > bitmaps_len - bpos)
			return "null bitmaps cut short";
		if (hasnull)
			copy_bytes(tup + SizeofHeapTupleHeader, bitmaps + bpos, nb);
		if (layout.natts == 0)
		{
			/* rows form */
			if (end - pos > col_len[0] - rows_pos)
				return "rows cut short";
			memcpy(page + pos, cols[0] + rows_pos, end - pos);
			rows_pos += end - pos;
			pos = end;
		}
		else
		{
			/* natts <= 64: the attributes it has, as a mask */
			uint64		present = natts == 64 ? PG_UINT64_MAX : ((uint64) 1 << natts) - 1;

			if (hasnull)
			{
				uint64		bits = 0;

				for (int b = 0; b < nb; b++)
					bits |= (uint64) (uint8) bitmaps[bpos + b] << (8 * b);
				present &= bits;
			}
			tup_present[j] = present;
			all_present &= present;
		}
		bpos += nb;
		cursor[j] = pos;
		tup_end[j] = end;
	}
	if (bpos != bitmaps_len)
		return "null bitmaps left over";
	if (layout.natts == 0 && rows_pos != col_len[0])
		return "values left over in a column";

	/*
	 * Columns form: the values, a column at a time (one attribute's length
	 * and alignment for a whole loop), each tuple's cursor where its next
	 * value goes.  Tuples and t_hoff are MAXALIGNed, so page offsets align
	 * as data offsets do.
	 */
	for (int a = 0; a < layout.natts; a++)
	{
		int			attlen = layout.attlen[a];
		uint32		mask = amask[a];
		uint64		bit = (uint64) 1 << a;
		const char *bad;
		uint32		used;

		if (attlen > 0 && (all_present & bit))
		{
			bool		ok;

			/* a fixed-width value in every tuple */
			if ((uint64) attlen * m != col_len[a])
				return (uint64) attlen * m > col_len[a] ?
					"column cut short" : "values left over in a column";
			switch (attlen)
			{
				case 2:
					ok = place_dense_column(page, cols[a], m, 2, mask);
					break;
				case 4:
					ok = place_dense_column(page, cols[a], m, 4, mask);
					break;
				case 8:
					ok = place_dense_column(page, cols[a], m, 8, mask);
					break;
				default:
					ok = place_dense_column(page, cols[a], m, attlen, mask);
			}
			if (!ok)
				return "values overrun their tuple";
			continue;
		}
		switch (attlen)
		{
			case 2:
				bad = place_column(page, cols[a], col_len[a], m, 2, mask, bit, &used);
				break;
			case 4:
				bad = place_column(page, cols[a], col_len[a], m, 4, mask, bit, &used);
				break;
			case 8:
				bad = place_column(page, cols[a], col_len[a], m, 8, mask, bit, &used);
				break;
			case -1:
				if (all_present & bit)
					bad = place_column(page, cols[a], col_len[a], m, -1, mask, 0, &used);
				else
					bad = place_column(page, cols[a], col_len[a], m, -1, mask, bit, &used);
				break;
			default:
				bad = place_column(page, cols[a], col_len[a], m, attlen, mask, bit, &used);
		}
		if (bad)
			return bad;
		if (used != col_len[a])
			return "values left over in a column";
	}
	for (int i = 0; i < m; i++)
		if (cursor[i] != tup_end[i])
			return "values do not fill their tuple";

	/* the gap stream fills the rest, in page order */
	cur = ((PageHeader) page)->pd_upper;
	{
		uint32		gpos = 0;

		for (int k = 0; k < n; k++)
		{
			uint32		glen;

			if (!by_off[k]->columns)
				continue;
			glen = by_off[k]->off - cur;
			if (glen > gap_len - gpos)
				return "gap stream cut short";
			copy_bytes(page + cur, gap + gpos, glen);
			gpos += glen;
			cur = by_off[k]->off + by_off[k]->len;
		}
		if (BLCKSZ - cur != gap_len - gpos)
			return "gap stream of the wrong length";
		memcpy(page + cur, gap + gpos, BLCKSZ - cur);
	}
	return NULL;
}

/*
 * AegisPaxStreamLength
 *		A rows or columns form split into its streams, in order: 0 the
 *		version, layout and page header; 1 the line pointers; 2 the bitmap
 *		of the tuples stored by column; 3 .. 9 the header fields; 10 the null
 *		bitmaps (with their length); then one per attribute column (rows
 *		form: one, the tuples' data; with its length); last the gap stream.
 *		A form of natts attributes has 12 + Max(natts, 1) streams.  Group
 *		blocks store their members' forms stream by stream (block_group.c).
 *
 *		Sets *len to the length in bytes of stream 's' of a form of
 *		'form_len' bytes whose streams 0 .. s-1 are 'prefix' (prefix_len
 *		bytes) and whose stream s opens with 'head' (head_len bytes readable
 *		there), and *nstreams to the form's number of streams.  Returns
 *		false if the bytes are not those of a form's streams (the caller
 *		reports it; a form that passes may still fail AegisPaxDecode).  Pure,
 *		bounded: reads nothing outside the buffers given.
 */
bool
AegisPaxStreamLength(const char *prefix, uint32 prefix_len, uint32 form_len, int s,
					 const char *head, uint32 head_len, uint32 *len, int *nstreams)
{
	uint16		natts;
	uint16		u16;
	uint32		pre;			/* bytes of stream 0 */
	uint16		pd_lower;
	uint32		nlp;

	if (prefix_len > form_len)
		return false;
	/* stream 0 opens with the version and natts */
	if (s == 0)
	{
		if (head_len < 3 || head[0] != PAX_VERSION)
			return false;
		memcpy(&natts, head + 1, 2);
	}
	else
	{
		if (prefix_len < 3)
			return false;
		memcpy(&natts, prefix + 1, 2);
	}
	if (natts > AEGIS_PAX_MAX_ATTS)
		return false;
	*nstreams = 12 + Max(natts, 1);
	pre = 3 + 3 * (uint32) natts + SizeOfPageHeaderData;
	if (s >= *nstreams || s < 0)
		return false;
	if (s == 0)
	{
		*len = pre;
		return pre <= form_len;
	}
	if (s == *nstreams - 1)
	{
		*len = form_len - prefix_len;	/* the gap stream: the rest */
		return true;
	}
	if (prefix_len < pre)
		return false;
	memcpy(&pd_lower, prefix + pre - SizeOfPageHeaderData + offsetof(PageHeaderData, pd_lower), 2);
	if (pd_lower < SizeOfPageHeaderData || pd_lower > BLCKSZ ||
		(pd_lower - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0)
		return false;
	nlp = (pd_lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	if (s == 1)
		*len = nlp * sizeof(ItemIdData);
	else if (s == 2)
		*len = (nlp + 7) / 8;
	else if (s <= 2 + PAX_HDR_COLS)
	{
		const char *bits = prefix + pre + nlp * sizeof(ItemIdData);
		uint32		marked = 0;

		if (prefix_len < pre + nlp * sizeof(ItemIdData) + (nlp + 7) / 8)
			return false;
		for (uint32 b = 0; b < nlp / 8; b++)
			marked += pg_number_of_ones[(uint8) bits[b]];
		if (nlp % 8 != 0)
			marked += pg_number_of_ones[(uint8) bits[nlp / 8] & ((1 << (nlp % 8)) - 1)];
		*len = marked * pax_hdr_width[s - 3];
	}
	else
	{
		/* null bitmaps and columns: a uint16 length, then that many bytes */
		if (head_len < 2)
			return false;
		memcpy(&u16, head, 2);
		*len = 2 + (uint32) u16;
	}
	return *len <= form_len - prefix_len;
}
