/*-------------------------------------------------------------------------
 *
 * wal_dict.c
 *	  A relation's compression dictionaries: when one is trained, from which
 *	  pages, and its WAL record (XLOG_AEGIS_DICTIONARY) and redo.
 *
 * A zstd table gets a dictionary trained on its own pages (src/block/
 * block_dict.c) when it reaches DICT_FIRST_PAGES pages, and a larger one at
 * DICT_SECOND_PAGES; every block written afterwards is compressed with the
 * current one and names it, so older blocks keep theirs.  Each one is
 * trained once, from up to DICT_MAX_SAMPLES pages spread over the table,
 * read through the buffer pool (the newest pages are often there only).
 * Where: by the backend that is about to add the page (inserts, COPY:
 * src/page/page_space.c), by bulk writes of new storage (rewrites and
 * copies, src/tam/tam_ddl.c), and by VACUUM, for tables that grew before
 * dictionaries existed or whose training was skipped.
 *
 * Making one (AegisWalDictMaybeTrain):
 *   1. reserve its number in the relation directory (AegisStorageDictBegin:
 *      one process at a time per relation);
 *   2. write its file durably (AegisLocalWriteDict: temp, fsync, rename);
 *   3. insert XLOG_AEGIS_DICTIONARY with its bytes;
 *   4. make it current (AegisStorageDictEnd).
 * No block names it before 4, and the file is durable before the record is
 * written, so:
 * - after a crash, the file of every dictionary a block names exists (a
 *   file whose record was lost is current again after the restart: no
 *   harm, the numbers stay without gaps);
 * - a base backup that copied a block naming it either copied the file
 *   (made before the block) or started before the file was made, and then
 *   before its record, which its WAL replays: redo writes the file;
 * - a standby and a PITR replay the record before any page record that
 *   their own writes could compress with it (the standby's blocks are its
 *   own; the dictionary becomes current there at replay, step 4).
 * No XLogFlush is needed: nothing depends on the record but a standby's and
 * a backup's copies, which get it with the WAL that follows.
 *
 * Relations without WAL of their own (created in the same transaction
 * under wal_level = minimal) get the file only; temporary, unlogged and
 * memory-backend tables get no dictionaries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "storage/bufpage.h"
#include "utils/memutils.h"

/* the first dictionary at 2 MB of pages, a larger one at 64 MB */
#define DICT_FIRST_PAGES	256
#define DICT_FIRST_SIZE		(32 * 1024)
#define DICT_SECOND_PAGES	8192
#define DICT_SECOND_SIZE	(64 * 1024)
#define DICT_MAX_SAMPLES	512		/* pages read to train one */

StaticAssertDecl(DICT_SECOND_SIZE <= AEGIS_DICT_MAX_SIZE, "dictionary size limit");

/*
 * AegisWalDictDue
 *		Should a relation that is about to grow past 'npages' pages check
 *		whether it wants a dictionary (AegisWalDictMaybeTrain)?  True at the
 *		sizes where one is made, so growing tables check twice in all.
 */
bool
AegisWalDictDue(BlockNumber npages)
{
	return npages == DICT_FIRST_PAGES || npages == DICT_SECOND_PAGES;
}

/*
 * Bytes of the dictionary a relation of 'npages' pages whose current
 * dictionary is 'have' (0: none; 'have_len' bytes) should get now, 0 if
 * none.
 */
static uint32
wanted_size(BlockNumber npages, uint16 have, uint32 have_len)
{
	if (have == 0 && npages >= DICT_SECOND_PAGES)
		return DICT_SECOND_SIZE;
	if (have == 0 && npages >= DICT_FIRST_PAGES)
		return DICT_FIRST_SIZE;
	if (have == 1 && npages >= DICT_SECOND_PAGES && have_len < DICT_SECOND_SIZE)
		return DICT_SECOND_SIZE;
	return 0;
}

/*
 * Train a dictionary of at most 'capacity' bytes into 'dict' from up to
 * DICT_MAX_SAMPLES pages of 'key' spread over its 'npages' pages, each in
 * the form its block would take (AegisBlockTrainingSample).  Returns its
 * length, 0 if zstd could not make one.
 */
static uint32
train(const AegisRelKey *key, BlockNumber npages, int level, uint32 capacity, char *dict)
{
	AegisPageLayout layout;
	int			n = (int) Min(npages, DICT_MAX_SAMPLES);
	char	   *samples = palloc((Size) n * AEGIS_PAX_MAX_SIZE);
	size_t	   *sizes = palloc(n * sizeof(size_t));
	PGAlignedBlock page;
	Size		off = 0;
	int			got = 0;
	uint32		len;

	if (!AegisStorageGetLayout(key, &layout))
		layout.natts = 0;
	for (int i = 0; i < n; i++)
	{
		BlockNumber p = (BlockNumber) ((uint64) i * npages / n);
		AegisBuffer buf;

		CHECK_FOR_INTERRUPTS();
		buf = AegisBufferRead(key, p);
		AegisBufferLock(buf, LW_SHARED);
		memcpy(page.data, AegisBufferGetPage(buf), BLCKSZ);
		AegisBufferUnlockRelease(buf);
		if (PageIsNew((Page) page.data))
			continue;
		sizes[got] = AegisBlockTrainingSample(page.data, p, level, &layout, samples + off);
		off += sizes[got];
		got++;
	}
	len = AegisBlockDictTrain(samples, sizes, got, dict, capacity);
	pfree(sizes);
	pfree(samples);
	return len;
}

/* Insert XLOG_AEGIS_DICTIONARY for dictionary 'id' of 'key'. */
static void
log_dict(const AegisRelKey *key, XLogRecPtr create_lsn, uint16 id, const char *dict,
		 uint32 len)
{
	xl_aegis_dict xlrec;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.id = id;
	xlrec.length = len;
	xlrec.create_lsn = create_lsn;
	AegisWalWaitGuarded();
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, sizeof(xlrec));
	XLogRegisterData((char *) dict, len);
	(void) XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_DICTIONARY);
	AegisWalCount(sizeof(xlrec) + len, false, false);
}

/*
 * AegisWalDictMaybeTrain
 *		Give storage 'key' a new compression dictionary if it wants one now
 *		(aegis.compression_dictionaries on, local storage of a permanent
 *		zstd table, grown past a size in wanted_size, no other process at
 *		it) and zstd can make one; 'log': write its WAL record (the
 *		relation's changes are WAL-logged).  Reads pages through the buffer
 *		pool: the caller holds no content lock.  Not in recovery.  Takes
 *		some 0.1-1 s.  Raises the errors of reading pages and writing the
 *		file (ERRCODE_DISK_FULL); the relation then has no new dictionary.
 */
void
AegisWalDictMaybeTrain(const AegisRelKey *key, bool log)
{
	AegisRelInfo info;
	uint16		have = 0;
	uint16		id;
	uint32		have_len = 0;
	uint32		capacity;
	uint32		len = 0;
	char	   *dict;

	if (!aegis_compression_dictionaries || RecoveryInProgress() ||
		!AegisStorageGetInfo(key, &info) || info.codec != AEGIS_CODEC_ZSTD ||
		info.npages < DICT_FIRST_PAGES)
		return;
	id = AegisStorageDictBegin(key, &have);
	if (id == 0)
		return;
	PG_TRY();
	{
		if (have != 0)
			have_len = AegisBlockDictLength(AegisLocalGetDict(key, have, false));
		capacity = wanted_size(info.npages, have, have_len);
		if (capacity > 0)
		{
			dict = palloc(capacity);
			len = train(key, info.npages, info.level, capacity, dict);
			if (len > 0 && !AegisLocalWriteDict(key, id, dict, len))
				len = 0;
			if (len > 0)
			{
				if (log)
					log_dict(key, info.create_lsn, id, dict, len);
				elog(DEBUG1, "aegis relation " AEGIS_REL_KEY_FMT ": compression dictionary %u of %u bytes trained on %u pages",
					 AEGIS_REL_KEY_ARGS(key), id, len, Min(info.npages, DICT_MAX_SAMPLES));
			}
			pfree(dict);
		}
	}
	PG_CATCH();
	{
		AegisStorageDictEnd(key, id, 0);
		PG_RE_THROW();
	}
	PG_END_TRY();
	AegisStorageDictEnd(key, id, len);
}

/* Read the record's fields; ERRCODE_DATA_CORRUPTED if it is malformed. */
static const char *
parse_dict(XLogReaderState *record, xl_aegis_dict *xlrec)
{
	char	   *data = XLogRecGetData(record);
	Size		len = XLogRecGetDataLen(record);

	if (len >= sizeof(*xlrec))
		memcpy(xlrec, data, sizeof(*xlrec));
	if (len < sizeof(*xlrec) || xlrec->id == 0 || xlrec->length == 0 ||
		xlrec->length > AEGIS_DICT_MAX_SIZE || len != sizeof(*xlrec) + xlrec->length)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis dictionary WAL record at %X/%X is malformed (%zu bytes)",
						LSN_FORMAT_ARGS(record->ReadRecPtr), len)));
	return data + sizeof(*xlrec);
}

/*
 * AegisWalDictRedo
 *		Replay XLOG_AEGIS_DICTIONARY: write the dictionary's file and make it
 *		current, if the storage of that incarnation exists (a later drop
 *		may have removed it).  Startup process.
 */
void
AegisWalDictRedo(XLogReaderState *record)
{
	xl_aegis_dict xlrec;
	const char *bytes = parse_dict(record, &xlrec);
	AegisRelInfo info;

	if (AegisStorageGetInfo(&xlrec.key, &info) &&
		AegisWalSameIncarnation(info.create_lsn, xlrec.create_lsn))
		AegisStorageDictReplay(&xlrec.key, xlrec.id, bytes, xlrec.length);
}

/* AegisWalDictDesc: rm_desc of XLOG_AEGIS_DICTIONARY. */
void
AegisWalDictDesc(StringInfo buf, XLogReaderState *record)
{
	xl_aegis_dict xlrec;
	Size		len = XLogRecGetDataLen(record);

	if (len < sizeof(xlrec))
		return;
	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT "; created at %X/%X; dictionary %u, %u bytes",
					 AEGIS_REL_KEY_ARGS(&xlrec.key), LSN_FORMAT_ARGS(xlrec.create_lsn),
					 xlrec.id, xlrec.length);
}
