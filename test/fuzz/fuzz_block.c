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
 */
#include "postgres.h"

#include "aegis/aegis.h"
#include "aegis/block.h"
#include "catalog/pg_class.h"
#include "port/pg_crc32c.h"
#include "fuzz.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[AEGIS_BLOCK_MAX_SIZE];
	static PGAlignedBlock page;
	static PGAlignedBlock again;
	AegisRelKey key = {0, 5, 16384};
	AegisBlockIdentity id;
	uint8		mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;

	if (mode & 4)
	{
		AegisCodec	codec = (AegisCodec) ((mode >> 3) % AEGIS_NUM_CODECS);
		uint32		len;

		memset(page.data, 0, BLCKSZ);
		memcpy(page.data, data, Min(size, (size_t) BLCKSZ));
		if (sigsetjmp(fuzz_error_jmp, 0) != 0)
			abort();			/* a page we encoded must decode */
		len = AegisBlockEncode(&key, 7, page.data, codec, 0, RELPERSISTENCE_PERMANENT, buf);
		if (len > AEGIS_BLOCK_MAX_SIZE || !AegisBlockCheck(buf, len, &id) || id.pageno != 7)
			abort();
		AegisBlockDecode(buf, len, &key, 7, "fuzz", again.data);
		if (memcmp(page.data, again.data, BLCKSZ) != 0)
			abort();
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
		AegisBlockDecode(buf, size, &key, 0, "fuzz", page.data);
	return 0;
}
