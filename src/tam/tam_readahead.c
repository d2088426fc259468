/*-------------------------------------------------------------------------
 *
 * tam_readahead.c
 *	  Read-ahead for sequential scans: background workers that read and
 *	  decompress the pages a scan will want next into the aegis buffer
 *	  pool, so a scan of a table that is not in the pool spends its time on
 *	  tuples while another core decompresses.
 *
 * A heap scan's read-ahead is the kernel's (and PostgreSQL's prefetching
 * of later pages); for aegis the cost of a page that is not in the pool is
 * mostly its decompression (5-30 us of CPU per page), which the kernel
 * cannot do for us.  So, as PostgreSQL 18's I/O workers do for reads:
 * aegis.read_ahead_workers background workers ("aegis read-ahead N") take
 * requests from a queue in shared memory and read pages with
 * AegisBufferRead, which decompresses them into the pool.
 *
 * The protocol:
 *   - a forward sequential scan (not parallel, not of a temporary table)
 *     goes in chunks of READ_AHEAD_CHUNK pages: it reads one chunk itself
 *     and, as it starts it, asks the workers for the next N chunks (N =
 *     aegis.read_ahead_workers), then goes through those (AegisReadAheadScan);
 *     so N + 1 processes decompress at once.  A chunk whose first and last
 *     pages are in the pool already is not asked for.  A full queue drops
 *     the request: the scan reads the pages itself, as without read-ahead.
 *   - a worker takes a chunk, takes AccessShareLock on the relation as a
 *     session lock without waiting (ConditionalLock: a DROP, TRUNCATE or
 *     rewrite waiting or holding its lock wins, the chunk is dropped),
 *     checks that the storage is still the incarnation the scan saw
 *     (create LSN), and reads each page that is not in the pool.  Under
 *     that lock the storage cannot be dropped or cut, as for any reader.
 *   - the scan and a worker that want the same page meet in the buffer
 *     pool: one reads it, the other waits for that read (start_io), so a
 *     page is decompressed once, and a scan that overtakes the worker
 *     reads pages itself.
 * Read-ahead never changes a page or what a scan returns: pages come into
 * the pool as any read brings them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "aegis/tam.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define READ_AHEAD_CHUNK	16		/* pages per request */
#define READ_AHEAD_QUEUE	64		/* requests waiting, at most */
#define READ_AHEAD_MIN_PAGES 32		/* smaller tables are read by the scan */

/* One request: pages [from, to) of storage 'key' of relation 'relid'. */
typedef struct ReadAheadRequest
{
	AegisRelKey key;
	Oid			relid;
	XLogRecPtr	create_lsn;		/* the storage's incarnation the scan saw */
	BlockNumber from;
	BlockNumber to;
} ReadAheadRequest;

typedef struct ReadAheadShared
{
	slock_t		mutex;
	uint32		head;			/* next request to take */
	uint32		count;			/* requests waiting */
	uint32		next_worker;	/* whom to wake next */
	ReadAheadRequest queue[READ_AHEAD_QUEUE];
	Latch	   *latches[AEGIS_READ_AHEAD_MAX_WORKERS];
	pg_atomic_uint64 requests;	/* chunks queued */
	pg_atomic_uint64 dropped;	/* chunks not queued: queue full */
	pg_atomic_uint64 pages;		/* pages read by the workers */
} ReadAheadShared;

static ReadAheadShared *RaShared = NULL;

/* AegisReadAheadShmemSize: shared memory of the queue, bytes. */
Size
AegisReadAheadShmemSize(void)
{
	return MAXALIGN(sizeof(ReadAheadShared));
}

/* AegisReadAheadShmemInit: attach to (or create) the queue. */
void
AegisReadAheadShmemInit(void)
{
	bool		found;

	RaShared = ShmemInitStruct("aegis read-ahead", sizeof(ReadAheadShared), &found);
	if (!found)
	{
		memset(RaShared, 0, sizeof(ReadAheadShared));
		SpinLockInit(&RaShared->mutex);
		pg_atomic_init_u64(&RaShared->requests, 0);
		pg_atomic_init_u64(&RaShared->dropped, 0);
		pg_atomic_init_u64(&RaShared->pages, 0);
	}
}

/*
 * AegisReadAheadRegisterWorkers
 *		Register aegis.read_ahead_workers workers; from _PG_init in the
 *		postmaster.  They start once the server is consistent (a hot
 *		standby's scans use them too) and are restarted after a second if
 *		they exit.
 */
void
AegisReadAheadRegisterWorkers(void)
{
	for (int i = 0; i < aegis_read_ahead_workers; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = 1;
		worker.bgw_main_arg = Int32GetDatum(i);
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "aegis_storage");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "AegisReadAheadMain");
		snprintf(worker.bgw_name, BGW_MAXLEN, "aegis read-ahead %d", i + 1);
		snprintf(worker.bgw_type, BGW_MAXLEN, "aegis read-ahead");
		RegisterBackgroundWorker(&worker);
	}
}

/* Queue 'req' and wake a worker; false if the queue is full or none runs. */
static bool
post(const ReadAheadRequest *req)
{
	Latch	   *latch = NULL;
	bool		queued = false;

	bool		full;

	SpinLockAcquire(&RaShared->mutex);
	full = RaShared->count >= READ_AHEAD_QUEUE;
	if (!full)
	{
		for (int n = 0; n < AEGIS_READ_AHEAD_MAX_WORKERS && latch == NULL; n++)
		{
			int			i = (RaShared->next_worker + n) % AEGIS_READ_AHEAD_MAX_WORKERS;

			if (RaShared->latches[i] != NULL)
			{
				latch = RaShared->latches[i];
				RaShared->next_worker = i + 1;
			}
		}
		if (latch != NULL)
		{
			RaShared->queue[(RaShared->head + RaShared->count) % READ_AHEAD_QUEUE] = *req;
			RaShared->count++;
			queued = true;
		}
	}
	SpinLockRelease(&RaShared->mutex);
	if (queued)
	{
		SetLatch(latch);
		pg_atomic_fetch_add_u64(&RaShared->requests, 1);
	}
	else if (full)
		pg_atomic_fetch_add_u64(&RaShared->dropped, 1);
	return queued;
}

/* Take the oldest request into *req; false if none waits. */
static bool
take(ReadAheadRequest *req)
{
	bool		got = false;

	SpinLockAcquire(&RaShared->mutex);
	if (RaShared->count > 0)
	{
		*req = RaShared->queue[RaShared->head];
		RaShared->head = (RaShared->head + 1) % READ_AHEAD_QUEUE;
		RaShared->count--;
		got = true;
	}
	SpinLockRelease(&RaShared->mutex);
	return got;
}

/*
 * AegisReadAheadScan
 *		A forward sequential scan of 'rel' (storage 'key') that ends before
 *		page 'end' is about to read page 'blkno'.  The scan reads chunks of
 *		READ_AHEAD_CHUNK pages itself and, as it starts each of its own,
 *		asks the workers for the next aegis.read_ahead_workers chunks, so
 *		that while it decompresses its chunk each worker decompresses one of
 *		the following (*next: where the scan's next own chunk starts, 0 at
 *		its start; *create_lsn: the storage's incarnation, 0 until first
 *		looked up).  A chunk whose first and last pages are in the pool is
 *		not asked for (a warm table costs the workers nothing).  The caller
 *		holds the relation's lock (as every scan does) and no buffer pin.
 *		Raises no error; does nothing when aegis.read_ahead_workers is 0.
 */
void
AegisReadAheadScan(Relation rel, const AegisRelKey *key, BlockNumber blkno,
				   BlockNumber end, BlockNumber *next, XLogRecPtr *create_lsn)
{
	BlockNumber from;

	if (blkno < *next || aegis_read_ahead_workers == 0 || RaShared == NULL ||
		end < READ_AHEAD_MIN_PAGES || rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return;
	from = blkno + READ_AHEAD_CHUNK;
	for (int w = 0; w < aegis_read_ahead_workers && from < end; w++)
	{
		ReadAheadRequest req;

		memset(&req, 0, sizeof(req));
		req.key = *key;
		req.relid = RelationGetRelid(rel);
		req.from = from;
		req.to = Min(end, from + READ_AHEAD_CHUNK);
		from = req.to;
		if (AegisBufferIsCached(key, req.from) && AegisBufferIsCached(key, req.to - 1))
			continue;
		if (*create_lsn == InvalidXLogRecPtr)
		{
			AegisRelInfo info;

			if (!AegisStorageGetInfo(key, &info))
				break;
			*create_lsn = info.create_lsn;
		}
		req.create_lsn = *create_lsn;
		if (!post(&req))
			break;
	}
	*next = from;
}

/*
 * Read the pages of 'req' that are not in the pool, under a session
 * AccessShareLock on its relation taken without waiting.
 */
static void
serve(const ReadAheadRequest *req)
{
	LOCKTAG		tag;
	AegisRelInfo info;

	SET_LOCKTAG_RELATION(tag, req->key.dbOid, req->relid);
	if (LockAcquire(&tag, AccessShareLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return;
	if (AegisStorageGetInfo(&req->key, &info) && info.create_lsn == req->create_lsn)
	{
		BlockNumber to = Min(req->to, info.npages);

		for (BlockNumber p = req->from; p < to; p++)
		{
			CHECK_FOR_INTERRUPTS();
			if (ShutdownRequestPending)
				break;
			if (AegisBufferIsCached(&req->key, p))
				continue;
			AegisBufferRelease(AegisBufferRead(&req->key, p));
			pg_atomic_fetch_add_u64(&RaShared->pages, 1);
		}
	}
	LockRelease(&tag, AccessShareLock, true);
}

static void
worker_exit(int code, Datum arg)
{
	int			i = DatumGetInt32(arg);

	SpinLockAcquire(&RaShared->mutex);
	RaShared->latches[i] = NULL;
	SpinLockRelease(&RaShared->mutex);
}

/*
 * AegisReadAheadMain
 *		A read-ahead worker (arg: its number from 0): serve requests until
 *		shutdown.  An error (a damaged block, a missing file) is logged and
 *		drops its request; the scan that reaches the page raises it to its
 *		user.
 */
void
AegisReadAheadMain(Datum arg)
{
	int			i = DatumGetInt32(arg);
	MemoryContext cxt;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	cxt = AllocSetContextCreate(TopMemoryContext, "aegis read-ahead", ALLOCSET_DEFAULT_SIZES);
	before_shmem_exit(worker_exit, Int32GetDatum(i));
	SpinLockAcquire(&RaShared->mutex);
	RaShared->latches[i] = MyLatch;
	SpinLockRelease(&RaShared->mutex);

	while (!ShutdownRequestPending)
	{
		ReadAheadRequest req;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!take(&req))
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			serve(&req);
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			LWLockReleaseAll();
			ConditionVariableCancelSleep();
			AegisBufferReleaseAll(false);
			AtEOXact_Files(false);
			LockReleaseAll(DEFAULT_LOCKMETHOD, true);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(cxt);
	}
	proc_exit(0);
}
