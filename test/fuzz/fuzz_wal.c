/*
 * fuzz_wal.c
 *	  libFuzzer target for the page redo decoder (src/wal/wal_decode.c):
 *	  AegisWalPageParse on an arbitrary record body, then the deltas it
 *	  accepts applied to a page.  Bit 1 of the first byte selects the
 *	  packed header (XLOG_AEGIS_PAGE_PACKED) instead of the wide one.  With
 *	  bit 0, a wide record's stored_len is set to match the input, so the
 *	  LZ4 and delta checks behind the length check are reached (the packed
 *	  header derives its lengths from the input).  With bit 2, the input
 *	  is a header to write instead: AegisWalPagePackHeader's output plus a
 *	  body must parse back to the same fields.  With bit 3, the input
 *	  describes regions: written with AegisWalPutRegion and applied, they
 *	  must change a page exactly as applying them directly does; with bit
 *	  4 as well, they are typed regions and may be tuple headers
 *	  (AegisWalPutTupleHeader), against the page's header or none, and
 *	  items (AegisWalPutItem); with bit 5 too, item runs
 *	  (AegisWalPutItemRun) of tuples added as an INSERT adds them.  Parsed
 *	  records get the xid of the input's first four bytes.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "aegis/wal.h"
#include "storage/bufpage.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[2 * BLCKSZ + sizeof(xl_aegis_page)];
	static char unpacked[AEGIS_WAL_UNPACKED_SIZE];
	static PGAlignedBlock page;
	xl_aegis_page xlrec;
	Oid			spc;
	const char *d1;
	const char *d2;
	uint8		mode;
	bool		packed;
	TransactionId xid;

	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	mode = data[0];
	memcpy(buf, data + 1, size - 1);
	size--;
	if ((mode & 4) && size >= sizeof(xlrec) + sizeof(Oid))
	{
		xl_aegis_page in;
		xl_aegis_page out;
		Oid			vm_in;
		Oid			vm_out;
		Size		head;
		Size		n;

		memcpy(&in, buf, sizeof(in));
		memcpy(&vm_in, buf + sizeof(in), sizeof(Oid));
		in.flags &= (AEGIS_PAGE_KNOWN_FLAGS | AEGIS_PACKED_TYPED) & ~AEGIS_PAGE_LZ4;
		in.delta1_len %= 1000;
		in.delta2_len %= 1000;
		in.stored_len = in.delta1_len + in.delta2_len;
		if (!(in.flags & AEGIS_PAGE_VM_FLAGS))
			vm_in = InvalidOid;
		n = AegisWalPagePackHeader(&in, vm_in, buf);
		if (n > AEGIS_PACKED_MAX_HEAD)
			abort();
		memset(buf + n, 0, in.stored_len);
		if (AegisWalPageParseHeader(buf, n + in.stored_len, true, &out, &vm_out, &head) != NULL ||
			head != n || vm_out != vm_in || out.flags != in.flags ||
			out.key.spcOid != in.key.spcOid || out.key.dbOid != in.key.dbOid ||
			out.key.relNumber != in.key.relNumber || out.pageno != in.pageno ||
			out.conflict_xid != in.conflict_xid || out.delta1_len != in.delta1_len ||
			out.delta2_len != in.delta2_len || out.stored_len != in.stored_len)
			abort();			/* what is written parses back */
		return 0;
	}
	if (mode & 8)
	{
		static char delta[6 * BLCKSZ];	/* input bytes + 8 per 6 */
		static PGAlignedBlock direct;
		Size		dlen = 0;
		Size		pos = 0;
		uint32		prev = AEGIS_DELTA_FIRST;
		AegisDeltaForm form = {true, (mode & 16) != 0, (mode & 48) == 48, InvalidTransactionId, 0};

		for (int i = 0; i < BLCKSZ; i++)
			page.data[i] = direct.data[i] = (char) (i * 7);
		if (form.typed && size >= 8)
		{
			memcpy(&form.xid, buf, sizeof(TransactionId));
			memcpy(&form.pageno, buf + 4, sizeof(BlockNumber));
			pos = 8;
			/* bounds item regions can move, unless the input writes them */
			((PageHeader) direct.data)->pd_lower = SizeOfPageHeaderData + 40;
			((PageHeader) direct.data)->pd_upper = BLCKSZ / 2 + 8 * (form.pageno % 256);
			memcpy(page.data, direct.data, SizeOfPageHeaderData);
		}
		while (pos + 6 <= size)
		{
			uint16		gap,
						n,
						src;
			uint32		off;

			memcpy(&gap, buf + pos, 2);
			memcpy(&n, buf + pos + 2, 2);
			memcpy(&src, buf + pos + 4, 2);
			pos += 6;
			off = prev + gap % 300;
			n %= 300;
			if (form.runs && (src & 7) == 7)
			{
				/* tuples an INSERT adds at pd_upper, as one item run */
				PageHeader	ph = (PageHeader) direct.data;
				uint32		at = ph->pd_lower;
				uint32		upper = ph->pd_upper;
				uint32		lower = at;
				int			count = 1 + (gap >> 8) % 4;
				uint32		need = 0;
				bool		fits;

				if (at < prev || at < SizeOfPageHeaderData ||
					(at - SizeOfPageHeaderData) % sizeof(ItemIdData) != 0 ||
					!TransactionIdIsValid(form.xid))
					break;
				fits = upper <= BLCKSZ && (upper - SizeOfPageHeaderData) % MAXIMUM_ALIGNOF == 0;
				for (int i = 0; i < count && fits; i++)
				{
					uint32		tlen = SizeofHeapTupleHeader + (n + 37 * i) % 200;

					lower += sizeof(ItemIdData);
					fits = upper >= MAXALIGN(tlen) && upper - MAXALIGN(tlen) >= lower;
					upper -= MAXALIGN(tlen);
					need += 4 + tlen - AEGIS_TUPLE_REGION_LEN;
				}
				if (!fits || pos + need > size)
					break;
				upper = ph->pd_upper;
				for (int i = 0; i < count; i++)
				{
					uint32		tlen = SizeofHeapTupleHeader + (n + 37 * i) % 200;
					uint32		t = ph->pd_upper - MAXALIGN(tlen);
					uint32		lp_at = ph->pd_lower;
					HeapTupleHeaderData h;

					memset(&h, 0, sizeof(h));
					HeapTupleHeaderSetXmin(&h, form.xid);
					h.t_choice.t_heap.t_field3.t_cid = src >> 3;
					ItemPointerSet(&h.t_ctid, form.pageno,
								   (lp_at - SizeOfPageHeaderData) / sizeof(ItemIdData) + 1);
					memcpy(&h.t_infomask2, buf + pos, 4);
					memcpy(direct.data + t, &h, AEGIS_TUPLE_REGION_LEN);
					memcpy(direct.data + t + AEGIS_TUPLE_REGION_LEN, buf + pos + 4,
						   tlen - AEGIS_TUPLE_REGION_LEN);
					memset(direct.data + t + tlen, 0, MAXALIGN(tlen) - tlen);
					pos += 4 + tlen - AEGIS_TUPLE_REGION_LEN;
					ItemIdSetNormal((ItemId) (direct.data + lp_at), t, tlen);
					ph->pd_upper = t;
					ph->pd_lower = lp_at + sizeof(ItemIdData);
				}
				if (!AegisWalPutItemRun(delta, &dlen, &prev, at, count, direct.data, upper,
										form.xid, form.pageno))
					abort();	/* such tuples make a run */
				continue;
			}
			if (form.typed && (src & 3) == 3)
			{
				/* a line pointer to a new tuple at pd_upper (PageAddItem) */
				PageHeader	ph = (PageHeader) direct.data;
				uint32		at = SizeOfPageHeaderData + sizeof(ItemIdData) * (gap % 64);
				uint32		lower;

				n = 1 + n % 300;
				if (at < prev)
					break;
				AegisWalPutItem(delta, &dlen, &prev, at, n);
				lower = Max(ph->pd_lower, at + sizeof(ItemIdData));
				if (ph->pd_upper <= BLCKSZ && ph->pd_upper >= MAXALIGN(n) &&
					ph->pd_upper - MAXALIGN(n) >= lower)
				{
					ItemIdSetNormal((ItemId) (direct.data + at), ph->pd_upper - MAXALIGN(n), n);
					ph->pd_upper -= MAXALIGN(n);
					ph->pd_lower = lower;
				}
				continue;
			}
			if (form.typed && (src & 3) == 2)
			{
				/* a tuple header: its new bytes from the input */
				if (off + AEGIS_TUPLE_REGION_LEN > BLCKSZ || pos + AEGIS_TUPLE_REGION_LEN > size)
					break;
				if (!AegisWalPutTupleHeader(delta, &dlen, &prev, off, buf + pos,
											(src & 4) ? direct.data + off : NULL,
											form.xid, form.pageno, 64))
					abort();	/* never more than 64 bytes */
				memcpy(direct.data + off, buf + pos, AEGIS_TUPLE_REGION_LEN);
				pos += AEGIS_TUPLE_REGION_LEN;
				continue;
			}
			if (off + n > BLCKSZ)
				break;
			if (src & 1)
			{
				src = AEGIS_DELTA_FIRST + (src >> 1) % (BLCKSZ - AEGIS_DELTA_FIRST - n + 1);
				memmove(direct.data + off, direct.data + src, n);
				AegisWalPutRegion(delta, &dlen, &prev, off, n, NULL, src, form.typed);
			}
			else
			{
				if (pos + n > size)
					break;
				memcpy(direct.data + off, buf + pos, n);
				AegisWalPutRegion(delta, &dlen, &prev, off, n, buf + pos, 0, form.typed);
				pos += n;
			}
		}
		if (!AegisWalApplyDelta(page.data, delta, dlen, &form) ||
			memcmp(page.data, direct.data, BLCKSZ) != 0)
			abort();			/* written regions apply as meant */
		return 0;
	}
	packed = (mode & 2) != 0;
	if (!packed && (mode & 1) && size >= sizeof(xlrec))
	{
		Size		head = sizeof(xlrec);

		memcpy(&xlrec, buf, sizeof(xlrec));
		if (xlrec.flags & AEGIS_PAGE_VM_FLAGS)
			head += sizeof(Oid);
		if (size < head || size - head > PG_UINT16_MAX)
			goto parse;
		xlrec.stored_len = size - head;
		if (!(xlrec.flags & AEGIS_PAGE_LZ4) && xlrec.delta1_len <= xlrec.stored_len)
			xlrec.delta2_len = xlrec.stored_len - xlrec.delta1_len;
		memcpy(buf, &xlrec, sizeof(xlrec));
	}
parse:
	xid = InvalidTransactionId;
	if (size >= sizeof(xid))
		memcpy(&xid, data + 1, sizeof(xid));
	if (AegisWalPageParse(buf, size, packed, xid, &xlrec, &spc, unpacked, &d1, &d2) == NULL)
	{
		AegisDeltaForm form;

		AegisWalDeltaFormOf(&xlrec, packed, xid, &form);
		memset(page.data, 0, BLCKSZ);
		if (!AegisWalApplyDelta(page.data, d1, xlrec.delta1_len, &form) ||
			!AegisWalApplyDelta(page.data, d2, xlrec.delta2_len, &form))
			abort();			/* accepted deltas apply */
	}
	return 0;
}
