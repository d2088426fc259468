/*-------------------------------------------------------------------------
 *
 * wal_dict.c
 *	  A relation's compression dictionaries: when one is trained, from which
 *	  pages, and its WAL record (XLOG_AEGIS_DICTIONARY) and redo.
 *
 * A compressed (lz4 or zstd) table gets a dictionary trained on its own
 * pages (src/block/block_dict.c) when it reaches DICT_FIRST_PAGES pages,
 * and a larger one at DICT_SECOND_PAGES; every block written afterwards is
 * compressed with the current one and names it, so older blocks keep
 * theirs.  Each one is trained once, from up to DICT_MAX_SAMPLES pages
 * spread over the table, read through the buffer pool (the newest pages
 * are often there only).
 * Where: for the backend that is about to add the page (inserts, COPY:
 * src/page/page_space.c), by a dynamic background worker that it starts
 * (AegisWalDictRequest, AegisDictWorkerMain), so the load goes on while
 * zstd trains; by bulk writes of new storage (rewrites and copies,
 * src/tam/tam_ddl.c), which write compressed blocks at once and so train
 * first; and by VACUUM, for tables that grew before dictionaries existed
 * or whose training was skipped.
 *
 * Making one (AegisWalDictMaybeTrain), as PostgreSQL's relation mapper
 * writes a new pg_filenode.map (write_relmap_file: checkpoint held off,
 * then in one critical section the WAL record, its flush and the file):
 *   1. reserve its number in the relation directory (AegisStorageDictBegin:
 *      one process at a time per relation), train it;
 *   2. write it to a temp file, fsynced (AegisLocalPrepareDict): a full
 *      disk fails here, before anything is logged;
 *   3. with DELAY_CHKPT_START set, in a critical section: insert
 *      XLOG_AEGIS_DICTIONARY (its bytes), flush it, and rename the temp
 *      file into place durably (AegisLocalInstallDict); any failure there
 *      is a PANIC, and crash recovery writes the file from the record;
 *   4. make it current (AegisStorageDictEnd), also if an error comes after
 *      step 3.
 * So a dictionary's file exists only if its record is durable, and its
 * record is durable only if its file exists or recovery writes it (the
 * checkpoint that could move the redo pointer past the record waits for
 * step 3).  A number is reused only when its record never became durable,
 * and then no standby, archive or file has the first one: redo may
 * overwrite a file of the same number, it has the same bytes.
 *
 * Every data directory that holds a block naming a dictionary can get it:
 * - the primary: the file exists before any block names it;
 * - a standby: its blocks are its own, written after it replayed the
 *   record (which made the dictionary current there);
 * - a restored base backup (or a target of pg_rewind): it copied the
 *   file, or the file was made after the copy began, after the backup's
 *   redo pointer, so the WAL it replays has the record.  Until then, a
 *   block naming the dictionary is not decompressed: the block was written
 *   after step 4, so every record of its page up to the block's LSN is
 *   skipped on that LSN, read from the block's header (AegisWalPageRedo,
 *   AegisWalImageRedo, while the backup is not yet consistent), and every
 *   later record of the page, made after the block was written, comes
 *   after the dictionary's record, whose redo wrote the file.  Redo that
 *   replaces a page whole (XLOG_AEGIS_EMPTY, AegisBufferWriteEmpty;
 *   XLOG_AEGIS_IMAGE) judges a page not in the pool by the block's LSN too
 *   and does not read it (AegisBufferReadZero).
 * Relations without WAL of their own (created in the same transaction
 * under wal_level = minimal) get the file only; temporary, unlogged and
 * memory-backend tables get no dictionaries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/bufpage.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

/* the first dictionary at 2 MB of pages, a larger one at 64 MB */
#define DICT_FIRST_PAGES	256
#define DICT_FIRST_SIZE		(32 * 1024)
#define DICT_SECOND_PAGES	8192
#define DICT_SECOND_SIZE	(64 * 1024)
#define DICT_MAX_SAMPLES	512		/* pages read to train one */

/*
 * A background worker trains for a growing table only when the buffer pool
 * holds this many pages (64 MB) or more: the pages a load adds while zstd
 * trains (some 20-40 MB at full speed) are then still in the pool when the
 * dictionary is ready.  A smaller pool would evict and write them without
 * it, so there the backend trains itself.
 */
#define DICT_WORKER_MIN_POOL	8192

/*
 * At most this many dictionary workers run at once (a load into many
 * partitions would otherwise take every worker slot): a requester reserves
 * a place before it registers one (a worker that never starts keeps its
 * place until the server restarts); beyond them a session trains itself.
 * A worker waits at most DICT_WORKER_LOCK_WAIT_MS for its relation lock,
 * then leaves the table to VACUUM.
 */
#define DICT_MAX_WORKERS		2
#define DICT_WORKER_NICE		10	/* setpriority() of a worker: below the load's */
#define DICT_WORKER_LOCK_WAIT_MS 60000

typedef struct DictShared
{
	pg_atomic_uint32 workers;	/* dictionary workers running */
} DictShared;

static DictShared *DictShmem = NULL;

/* AegisWalDictShmemSize: bytes of the dictionary workers' shared state. */
Size
AegisWalDictShmemSize(void)
{
	return MAXALIGN(sizeof(DictShared));
}

/* AegisWalDictShmemInit: attach to (or create) it. */
void
AegisWalDictShmemInit(void)
{
	bool		found;

	DictShmem = ShmemInitStruct("aegis dictionary workers", sizeof(DictShared), &found);
	if (!found)
		pg_atomic_init_u32(&DictShmem->workers, 0);
}

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
train(const AegisRelKey *key, BlockNumber npages, AegisCodec codec, int level,
	  uint32 capacity, char *dict)
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
		sizes[got] = AegisBlockTrainingSample(page.data, p, codec, level, &layout,
											  samples + off);
		off += sizes[got];
		got++;
	}
	len = AegisBlockDictTrain(samples, sizes, got, dict, capacity);
	pfree(sizes);
	pfree(samples);
	return len;
}

/* Insert XLOG_AEGIS_DICTIONARY for dictionary 'id' of 'key' and flush it. */
static void
log_dict(const AegisRelKey *key, XLogRecPtr create_lsn, uint16 id, const char *dict,
		 uint32 len)
{
	xl_aegis_dict xlrec;
	XLogRecPtr	end;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.id = id;
	xlrec.length = len;
	xlrec.create_lsn = create_lsn;
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, sizeof(xlrec));
	XLogRegisterData((char *) dict, len);
	end = XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_DICTIONARY);
	AegisWalCount(sizeof(xlrec) + len, false, false);
	XLogFlush(end);
}

static void make_dict(const AegisRelKey *key, bool log);

/* What the error cleanup of AegisWalDictMaybeTrain undoes. */
typedef struct DictMaking
{
	AegisRelKey key;
	uint16		id;
	bool		prepared;		/* its temp file was written */
	bool		installed;		/* its file is in place (and logged) */
	AegisDictFile file;
} DictMaking;

/*
 * Error or exit (FATAL included) while making a dictionary: give its number
 * back and remove its temp file, or, once it is in place, make it current
 * all the same; let checkpoints go on.
 */
static void
dict_cleanup(int code, Datum arg)
{
	DictMaking *m = (DictMaking *) DatumGetPointer(arg);

	MyProc->delayChkptFlags &= ~DELAY_CHKPT_START;
	if (m->prepared && !m->installed)
		AegisLocalDiscardDict(&m->file);
	AegisStorageDictEnd(&m->key, m->id, m->installed, 0);
}

/*
 * AegisWalDictMaybeTrain
 *		Give storage 'key' a new compression dictionary if it wants one now
 *		(aegis.compression_dictionaries on, local storage of a permanent
 *		lz4 or zstd table, grown past a size in wanted_size, no other
 *		process at it) and zstd can make one; 'log': write its WAL record (the
 *		relation's changes are WAL-logged).  Reads pages through the buffer
 *		pool: the caller holds no content lock.  Not in recovery.  Takes
 *		some 0.1-1 s.  Raises the errors of reading pages and of writing the
 *		temp file (ERRCODE_DISK_FULL): the relation then has no new
 *		dictionary and nothing is left behind; a failure to rename the file
 *		into place after its record is a PANIC (see the header comment).
 */
void
AegisWalDictMaybeTrain(const AegisRelKey *key, bool log)
{
	if (aegis_compression_dictionaries)
		make_dict(key, log);
}

/* AegisWalDictMaybeTrain without the setting's check (workers: the requester's). */
static void
make_dict(const AegisRelKey *key, bool log)
{
	AegisRelInfo info;
	uint16		have = 0;
	uint32		have_len = 0;
	uint32		capacity = 0;
	uint32		len = 0;
	char	   *dict = NULL;
	DictMaking *m;

	if (RecoveryInProgress() ||
		!AegisStorageGetInfo(key, &info) || info.codec == AEGIS_CODEC_NONE ||
		info.npages < DICT_FIRST_PAGES)
		return;
	m = palloc0(sizeof(DictMaking));
	m->key = *key;
	m->id = AegisStorageDictBegin(key, info.npages, &have);
	if (m->id == 0)
	{
		pfree(m);
		return;
	}
	PG_ENSURE_ERROR_CLEANUP(dict_cleanup, PointerGetDatum(m));
	{
		if (log)
			AegisWalWaitGuarded();
		if (have != 0)
		{
			const AegisBlockDict *current = AegisLocalGetDict(key, have, true);

			have_len = current ? AegisBlockDictLength(current) : DICT_SECOND_SIZE;
		}
		capacity = wanted_size(info.npages, have, have_len);
		if (capacity > 0)
		{
			dict = palloc(capacity);
			len = train(key, info.npages, info.codec, info.level, capacity, dict);
		}
		if (len > 0)
		{
			AegisLocalPrepareDict(key, m->id, dict, len, &m->file);
			m->prepared = true;
			/* from the record to the file in place, nothing may fail */
			MyProc->delayChkptFlags |= DELAY_CHKPT_START;
			START_CRIT_SECTION();
			if (log)
				log_dict(key, info.create_lsn, m->id, dict, len);
			AegisLocalInstallDict(&m->file);
			m->installed = true;
			END_CRIT_SECTION();
			MyProc->delayChkptFlags &= ~DELAY_CHKPT_START;
			elog(DEBUG1, "aegis relation " AEGIS_REL_KEY_FMT ": compression dictionary %u of %u bytes trained on %u pages",
				 AEGIS_REL_KEY_ARGS(key), m->id, len, Min(info.npages, DICT_MAX_SAMPLES));
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(dict_cleanup, PointerGetDatum(m));
	/* made, or training failed at this size (wanted, but zstd made none) */
	AegisStorageDictEnd(key, m->id, len > 0, (len == 0 && capacity > 0) ? info.npages : 0);
	if (dict)
		pfree(dict);
	pfree(m);
}

/* What a backend asks of a dictionary worker (bgw_extra). */
typedef struct DictRequest
{
	AegisRelKey key;			/* the storage to train for */
	Oid			relid;			/* its relation, locked while training */
	bool		log;			/* write the WAL record */
} DictRequest;

StaticAssertDecl(sizeof(DictRequest) <= BGW_EXTRALEN, "dictionary request fits bgw_extra");

/*
 * Start a dynamic background worker that trains 'req'; false if none could
 * be registered (max_worker_processes in use, or not under a postmaster).
 */
static bool
start_worker(const DictRequest *req)
{
	BackgroundWorker worker;
	uint32		running;

	if (!IsUnderPostmaster || IsBackgroundWorker || DictShmem == NULL)
		return false;
	/* reserve a place; the worker gives it back when it exits */
	running = pg_atomic_read_u32(&DictShmem->workers);
	do
	{
		if (running >= DICT_MAX_WORKERS)
			return false;
	} while (!pg_atomic_compare_exchange_u32(&DictShmem->workers, &running, running + 1));
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "aegis_storage");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "AegisDictWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "aegis dictionary trainer for relation %u",
			 req->relid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "aegis dictionary trainer");
	memcpy(worker.bgw_extra, req, sizeof(*req));
	if (RegisterDynamicBackgroundWorker(&worker, NULL))
		return true;
	pg_atomic_fetch_sub_u32(&DictShmem->workers, 1);
	return false;
}

/*
 * AegisWalDictRequest
 *		A backend is about to add page 'npages' to 'rel' (storage 'key'; INSERT,
 *		COPY) and AegisWalDictDue said a dictionary may be due: have it trained
 *		in a background worker, so the load goes on while zstd trains (0.1-1 s,
 *		on another core); pages written before the worker is done keep no
 *		dictionary, as older blocks do.  The worker holds AccessShareLock on
 *		the relation while it trains, so a DROP, TRUNCATE or rewrite waits
 *		for it or comes first (it then finds the storage gone and quits).
 *		Trains here and now instead (AegisWalDictMaybeTrain) when the
 *		relation's storage was made in this transaction or this session
 *		holds AccessExclusiveLock on it (the worker's lock would wait for
 *		its commit), the buffer pool is small (DICT_WORKER_MIN_POOL),
 *		DICT_MAX_WORKERS run already or no worker can be started.  Caller
 *		holds no content lock.  Errors: those of AegisWalDictMaybeTrain when
 *		it trains here.
 */
void
AegisWalDictRequest(Relation rel, const AegisRelKey *key)
{
	DictRequest req;
	AegisRelInfo info;

	if (!aegis_compression_dictionaries || RecoveryInProgress() ||
		rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT ||
		!AegisStorageGetInfo(key, &info) || info.codec == AEGIS_CODEC_NONE ||
		info.storage != AEGIS_STORAGE_LOCAL)
		return;
	memset(&req, 0, sizeof(req));
	req.key = *key;
	req.relid = RelationGetRelid(rel);
	req.log = AegisRelNeedsWal(rel);
	if (aegis_buffer_pool_size < DICT_WORKER_MIN_POOL ||
		CheckRelationLockedByMe(rel, AccessExclusiveLock, false) ||
		rel->rd_createSubid != InvalidSubTransactionId ||
		rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId ||
		!start_worker(&req))
		make_dict(key, req.log);
}

/* A dictionary worker exits: give back the place its requester reserved. */
static void
dict_worker_exit(int code, Datum arg)
{
	pg_atomic_fetch_sub_u32(&DictShmem->workers, 1);
}

/*
 * AegisDictWorkerMain
 *		Dynamic background worker started by AegisWalDictRequest: connects to
 *		the relation's database, locks the relation (AccessShareLock, waiting
 *		up to DICT_WORKER_LOCK_WAIT_MS) in a transaction, which also gives it
 *		the virtual xid that makes DELAY_CHKPT_START hold a checkpoint, and
 *		trains; storage dropped meanwhile, or whose drop is pending (a
 *		prepared transaction's), gets none (AegisStorageDictBegin).  SIGTERM
 *		is die(): honoured outside the critical section only; SIGINT is
 *		ignored.  Errors end the worker and are logged; the relation then
 *		has no new dictionary (VACUUM tries again).
 */

void
AegisDictWorkerMain(Datum arg)
{
	DictRequest req;
	TimestampTz since;

	memcpy(&req, MyBgworkerEntry->bgw_extra, sizeof(req));
	before_shmem_exit(dict_worker_exit, (Datum) 0);
	pqsignal(SIGTERM, die);
	/* zstd cannot be interrupted: a cancel would only come after the work */
	pqsignal(SIGINT, SIG_IGN);
	BackgroundWorkerUnblockSignals();

	/*
	 * Training is work for later pages, not for the load that asked for it:
	 * on a machine whose cores the load and the I/O workers keep busy, a
	 * trainer at the same priority took a third of the loading session's
	 * core (the session's COPY of a 37 MB table took 13-25% longer).  A
	 * niceness of DICT_WORKER_NICE lets it use what they leave.  Failure
	 * (a platform without it) changes nothing but that.
	 */
	if (setpriority(PRIO_PROCESS, 0, DICT_WORKER_NICE) != 0)
		elog(DEBUG1, "aegis dictionary trainer could not lower its priority: %m");
	BackgroundWorkerInitializeConnectionByOid(req.key.dbOid, InvalidOid, 0);
	pgstat_report_appname("aegis dictionary trainer");
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "training a compression dictionary");
	/* a transaction holding the table exclusively (a DROP, a prepared one) */
	since = GetCurrentTimestamp();
	while (!ConditionalLockRelationOid(req.relid, AccessShareLock))
	{
		if (TimestampDifferenceExceeds(since, GetCurrentTimestamp(), DICT_WORKER_LOCK_WAIT_MS))
		{
			elog(DEBUG1, "aegis dictionary trainer: relation %u stayed locked, left to VACUUM",
				 req.relid);
			CommitTransactionCommand();
			proc_exit(0);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	make_dict(&req.key, req.log);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
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
		AegisWalSameIncarnation(info.create_lsn, xlrec.create_lsn) &&
		!(info.create_lsn > record->ReadRecPtr))
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
