/*-------------------------------------------------------------------------
 *
 * buffer_io.c
 *	  I/O workers of the aegis buffer pool: background processes that read
 *	  and decompress the pages a sequential scan will want next, and write
 *	  and compress dirty pages while the aegis checkpoint writes others, so
 *	  a scan or a checkpoint uses more than one core.
 *
 * For aegis the cost of reading a page that is not in the pool is mostly
 * its decompression (5-30 us of CPU per page), and the cost of writing one
 * its compression (20-130 us), neither of which the kernel's read-ahead or
 * write-back can do for us.  So, much as PostgreSQL 18's I/O workers do
 * for reads, aegis.io_workers background workers ("aegis io worker N")
 * take requests from a queue in shared memory:
 *
 *   - READ (AegisBufferReadAhead): a forward sequential scan (not parallel,
 *     not of a temporary table, of 32 pages or more) goes in chunks of
 *     IO_CHUNK_PAGES pages: it reads one chunk itself and, as it starts
 *     it, asks the workers for the next IO_WORKER_CHUNKS * N chunks (N =
 *     aegis.io_workers), then goes through those; so N + 1 processes
 *     decompress at once, the workers more pages than the scan, which
 *     also has its tuples to process (a scan that overtakes a worker reads
 *     the pages itself, the worker then skips them).  A chunk whose first
 *     and last pages are in the pool is not asked for.
 *     The worker takes, as session locks and without waiting,
 *     AccessShareLock on the database (DROP DATABASE holds it exclusively)
 *     and on the relation (DROP, TRUNCATE, rewrites, VACUUM's truncation
 *     hold it exclusively); a holder or a waiter wins and the chunk is
 *     dropped.  It then checks that the storage is the incarnation the
 *     scan saw (create LSN) and that no drop of it is pending (drop_xid:
 *     a prepared transaction's DROP, or a standby's replayed one, may
 *     remove the storage after its lock is gone), and reads each page not
 *     in the pool with AegisBufferRead; for a scan that reads through a
 *     ring (a table larger than a quarter of the pool, buffer_pool.c),
 *     with AegisBufferReadRing into the worker's own ring of
 *     IO_RING_FRAMES frames (at most an eighth of the pool): five times
 *     what one worker reads ahead of one scan (IO_WORKER_CHUNKS chunks),
 *     so several scans at once can overrun it, and then a page read ahead
 *     may be gone when its scan gets there, which reads it again.  Scan
 *     and worker meet in the pool:
 *     one reads a page, the other waits for that read (start_io).
 *   - WRITE (AegisBufferWriteBehind): a session that adds page n of a
 *     permanent relation of local storage (COPY, INSERT ... SELECT, any
 *     insert that extends it), n a multiple of IO_WRITE_PAGES, asks the
 *     workers to write back the dirty pages below n - IO_WRITE_LAG it has
 *     not asked for yet, IO_WRITE_PAGES at a time: the pages a bulk insert
 *     filled and left behind are compressed on another core now instead
 *     of all by the next checkpoint (the first checkpoint after a 3 M-row
 *     COPY had taken 2-5x heap's).  The lag keeps clear of pages still
 *     being filled and of WAL the WAL writer has not flushed yet (a page is
 *     written only after PostgreSQL's WAL up to its LSN, which the worker
 *     would otherwise flush itself).  The first IO_WRITE_MIN_PAGES pages
 *     are left to checkpoints: a zstd or lz4 table gets its first
 *     compression dictionary at that size (src/wal/wal_dict.c).  Until it
 *     has one, and while the next one is being made, nothing is asked for
 *     (the pages are asked for once it exists), and a worker drops a
 *     request it finds made meanwhile (those pages are left to the
 *     checkpoint), so blocks are not compressed without the dictionary
 *     that is about to exist.  Locks and checks as for READ.  A page
 *     changed again afterwards is simply written again.
 *   - FLUSH (AegisIoFlushHelp, from the aegis checkpoint; on a hot standby
 *     from the startup process's pass before a checkpoint record):
 *     the frames are split into chunks of IO_CHUNK_FRAMES, or more so that
 *     half the queue (32 chunks) covers the whole pool; the workers are
 *     given the chunks from the first frame on, the checkpoint writes from
 *     the last frame backwards, and they meet; chunks no worker took by the
 *     end of the pass are withdrawn (AegisIoFlushDone).  The checkpoint's
 *     own pass covers every frame whatever the workers did (a frame a
 *     worker writes is clean or in progress when the pass gets there, and
 *     the pass waits for writes in progress), so a worker that fails, is
 *     slow or is not running changes nothing but the time taken.
 *   - Idle, with aegis.buffer_pool_prefault: map the pool into the worker
 *     ahead of use, PREFAULT_FRAMES frames per step (prefault_step).
 *
 * What a scan returns or a checkpoint makes durable never depends on the
 * workers: they bring pages into the pool and write them back exactly as
 * any read or eviction does.  Pages a worker read count as buffer hits in
 * the scan's statistics (EXPLAIN's BUFFERS, pg_statio_*).  On a hot
 * standby a worker holds a relation lock for one chunk at most, and
 * recovery conflicts do not cancel it (it has no transaction); a startup
 * process that wants the lock waits that long.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#define IO_CHUNK_PAGES		16		/* pages per read request */
#define IO_MIN_SCAN_PAGES	32		/* smaller tables are read by the scan */
#define IO_WORKER_CHUNKS	3		/* chunks per worker for each of the scan's */
#define IO_CHUNK_FRAMES		2048	/* frames per flush request */
#define IO_QUEUE_SIZE		64		/* requests waiting, at most */
#define IO_RING_FRAMES		256		/* frames of a worker's ring */
#define IO_WRITE_PAGES		64		/* pages per write-behind request */
#define IO_WRITE_LAG		128		/* pages it stays behind the new page */
#define IO_WRITE_MIN_PAGES	256		/* pages below are left to checkpoints */
#define PREFAULT_FRAMES		256		/* frames mapped per idle step: 2 MB */
#define WRITE_BEHIND_RELS	4		/* relations a backend remembers */
#define CHECKPOINT_WORKERS	3		/* the aegis checkpointer and its two
									 * guards (src/checkpoint) */

typedef enum IoKind
{
	IO_READ,					/* pages [from, to) of 'key' */
	IO_WRITE,					/* dirty pages [from, to) of 'key' */
	IO_FLUSH					/* dirty permanent frames [from, to) */
} IoKind;

typedef struct IoRequest
{
	IoKind		kind;
	AegisRelKey key;			/* READ, WRITE: the storage, */
	Oid			relid;			/* its relation, */
	XLogRecPtr	create_lsn;		/* and its incarnation the scan saw */
	bool		ring;			/* READ: for a scan with a ring */
	uint32		from;
	uint32		to;
} IoRequest;

typedef struct IoShared
{
	slock_t		mutex;
	uint32		head;			/* next request to take */
	uint32		count;			/* requests waiting */
	uint32		next_worker;	/* whom to wake next */
	IoRequest	queue[IO_QUEUE_SIZE];
	Latch	   *latches[AEGIS_IO_MAX_WORKERS];	/* running workers' */
	pg_atomic_uint64 flushed;	/* pages the workers wrote for checkpoints */
	pg_atomic_uint32 pool_mapped;	/* worker 0 mapped the whole pool */
} IoShared;

static IoShared *Io = NULL;
static int	MyIoWorker = -1;
static AegisBufferRing *MyRing = NULL;	/* for requests of scans with one */

/* AegisIoShmemSize: shared memory of the queue, bytes. */
Size
AegisIoShmemSize(void)
{
	return MAXALIGN(sizeof(IoShared));
}

/* AegisIoShmemInit: attach to (or create) the queue. */
void
AegisIoShmemInit(void)
{
	bool		found;

	Io = ShmemInitStruct("aegis io workers", sizeof(IoShared), &found);
	if (!found)
	{
		memset(Io, 0, sizeof(IoShared));
		SpinLockInit(&Io->mutex);
		pg_atomic_init_u64(&Io->flushed, 0);
		pg_atomic_init_u32(&Io->pool_mapped, 0);
	}
}

/*
 * AegisIoRegisterWorkers
 *		Register aegis.io_workers workers; from _PG_init in the postmaster.
 *		They start once the server is consistent (a hot standby's scans use
 *		them too); one that exits (pg_terminate_backend, a FATAL error) is
 *		started again after a second, except at shutdown.
 */
void
AegisIoRegisterWorkers(void)
{
	/*
	 * The checkpointer and its guards are registered first; one slot stays
	 * for PostgreSQL's logical replication launcher.
	 */
	int			room = Max(max_worker_processes - CHECKPOINT_WORKERS - 1, 0);
	int			n = Min(aegis_io_workers, room);

	if (n < aegis_io_workers)
		ereport(WARNING,
				(errmsg("only %d of aegis.io_workers = %d I/O workers start", n, aegis_io_workers),
				 errdetail("max_worker_processes = %d, and the aegis checkpointer, its two checkpoint guards and PostgreSQL's logical replication launcher need background worker slots too.",
						   max_worker_processes),
				 errhint("Raise max_worker_processes, or lower aegis.io_workers; parallel query and aegis dictionary trainers also use these slots.")));
	for (int i = 0; i < n; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = 1;
		worker.bgw_main_arg = Int32GetDatum(i);
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "aegis_storage");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "AegisIoWorkerMain");
		snprintf(worker.bgw_name, BGW_MAXLEN, "aegis io worker %d", i + 1);
		snprintf(worker.bgw_type, BGW_MAXLEN, "aegis io worker");
		RegisterBackgroundWorker(&worker);
	}
}

/*
 * Queue 'req' and wake a worker; false if the queue is full or no worker
 * runs (then the caller does the work itself).
 */
static bool
post(const IoRequest *req)
{
	Latch	   *latch = NULL;

	SpinLockAcquire(&Io->mutex);
	if (Io->count < IO_QUEUE_SIZE)
	{
		for (int n = 0; n < AEGIS_IO_MAX_WORKERS && latch == NULL; n++)
		{
			int			i = (Io->next_worker + n) % AEGIS_IO_MAX_WORKERS;

			if (Io->latches[i] != NULL)
			{
				latch = Io->latches[i];
				Io->next_worker = i + 1;
			}
		}
		if (latch != NULL)
		{
			Io->queue[(Io->head + Io->count) % IO_QUEUE_SIZE] = *req;
			Io->count++;
		}
	}
	SpinLockRelease(&Io->mutex);
	if (latch == NULL)
		return false;
	SetLatch(latch);
	return true;
}

/* Take the oldest request into *req; false if none waits. */
static bool
take(IoRequest *req)
{
	bool		got = false;

	SpinLockAcquire(&Io->mutex);
	if (Io->count > 0)
	{
		*req = Io->queue[Io->head];
		Io->head = (Io->head + 1) % IO_QUEUE_SIZE;
		Io->count--;
		got = true;
	}
	SpinLockRelease(&Io->mutex);
	return got;
}

/*
 * AegisBufferReadAhead
 *		A forward sequential scan of 'rel' (storage 'key') that ends before
 *		page 'end' is about to read page 'blkno': at the start of each of
 *		its own chunks, ask the workers for the next IO_WORKER_CHUNKS *
 *		aegis.io_workers chunks (see the file header).  *next: where the
 *		scan's next own chunk starts, 0 at the scan's start; *create_lsn:
 *		the storage's incarnation, 0 until first looked up.  The caller holds the
 *		relation's lock (as every scan does) and no buffer pin.  Raises no
 *		error; does nothing when aegis.io_workers is 0.
 */
void
AegisBufferReadAhead(Relation rel, const AegisRelKey *key, BlockNumber blkno,
					 BlockNumber end, BlockNumber *next, XLogRecPtr *create_lsn,
					 bool ring)
{
	BlockNumber from;

	if (blkno < *next || aegis_io_workers == 0 || Io == NULL ||
		end < IO_MIN_SCAN_PAGES || rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return;
	from = blkno + IO_CHUNK_PAGES;
	for (int w = 0; w < IO_WORKER_CHUNKS * aegis_io_workers && from < end; w++)
	{
		IoRequest	req;

		memset(&req, 0, sizeof(req));
		req.kind = IO_READ;
		req.key = *key;
		req.relid = RelationGetRelid(rel);
		req.ring = ring;
		req.from = from;
		req.to = Min(end, from + IO_CHUNK_PAGES);
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
 * AegisBufferWriteBehind
 *		Relation 'rel' (storage 'key', its lock held) just got its new page
 *		'pageno': every IO_WRITE_PAGES pages, ask the workers to write back
 *		the pages a bulk insert left behind (see the file header), in
 *		requests of IO_WRITE_PAGES pages, from where this backend's last
 *		request for the relation ended (so pages passed over while a
 *		dictionary was made, or while the queue was full, are asked for
 *		later).  Only permanent relations of local storage; not in
 *		recovery.  Raises no error; does nothing when aegis.io_workers is 0.
 */
void
AegisBufferWriteBehind(Relation rel, const AegisRelKey *key, BlockNumber pageno)
{
	static struct
	{
		AegisRelKey key;
		BlockNumber next;		/* the first page not asked for yet */
	}			asked[WRITE_BEHIND_RELS];
	static int	clock = 0;
	AegisRelInfo info;
	BlockNumber end;
	int			i;

	if (aegis_io_workers == 0 || Io == NULL || pageno % IO_WRITE_PAGES != 0 ||
		pageno < IO_WRITE_MIN_PAGES + IO_WRITE_LAG + IO_WRITE_PAGES ||
		rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT || RecoveryInProgress())
		return;
	if (!AegisStorageGetInfo(key, &info) || info.storage != AEGIS_STORAGE_LOCAL ||
		info.dict_busy)
		return;
	/* a table that is to get its first dictionary waits for it */
	if (info.codec != AEGIS_CODEC_NONE && aegis_compression_dictionaries && info.dict_id == 0)
		return;

	/* where this backend's requests for the relation got to */
	for (i = 0; i < WRITE_BEHIND_RELS; i++)
		if (memcmp(&asked[i].key, key, sizeof(AegisRelKey)) == 0)
			break;
	if (i == WRITE_BEHIND_RELS)
	{
		i = clock++ % WRITE_BEHIND_RELS;
		asked[i].key = *key;
		asked[i].next = IO_WRITE_MIN_PAGES;
	}
	end = pageno - IO_WRITE_LAG;
	if (asked[i].next > end)
		asked[i].next = IO_WRITE_MIN_PAGES;	/* truncated meanwhile */
	/* what was left while a dictionary was made, or the queue was full */
	while (asked[i].next < end)
	{
		IoRequest	req;

		memset(&req, 0, sizeof(req));
		req.kind = IO_WRITE;
		req.key = *key;
		req.relid = RelationGetRelid(rel);
		req.create_lsn = info.create_lsn;
		req.from = asked[i].next;
		req.to = Min(end, req.from + IO_WRITE_PAGES);
		if (!post(&req))
			break;
		asked[i].next = req.to;
	}
}

/*
 * AegisIoFlushHelp
 *		The aegis checkpoint is about to write back the pool's 'nframes'
 *		frames: give the workers chunks from the first frame on, in at most
 *		half the queue (the rest stays for scans), of IO_CHUNK_FRAMES or
 *		more so that they cover the pool (with chunks of 2048 frames, the
 *		workers of a 1 GB pool never saw dirty pages past its first half,
 *		and the checkpoint compressed those alone).  True if they took any:
 *		the caller then goes from the last frame backwards, and calls
 *		AegisIoFlushDone when its pass is over (AegisBufferFlushAll(true)).
 *		*flushed0: the workers' count of pages written, to pass to
 *		AegisIoFlushDone.
 *		In recovery too: on a hot standby the workers run (they start at
 *		consistency) while the startup process makes replayed pages durable
 *		before each checkpoint record (src/checkpoint/checkpoint_rmgr.c), and
 *		replay waits for that pass, as a primary's aegis checkpoint never
 *		makes its sessions wait.  A worker's write in recovery advances
 *		minRecoveryPoint through XLogFlush, as the checkpointer's and the
 *		bgwriter's writes of heap pages on a standby do.  In crash recovery
 *		and before consistency no worker runs: post() finds none, nothing is
 *		posted.
 */
bool
AegisIoFlushHelp(int nframes, uint64 *flushed0)
{
	int			posted = 0;
	int			chunk = Max(IO_CHUNK_FRAMES,
							(nframes + IO_QUEUE_SIZE / 2 - 1) / (IO_QUEUE_SIZE / 2));

	*flushed0 = 0;
	if (aegis_io_workers == 0 || Io == NULL)
		return false;
	*flushed0 = pg_atomic_read_u64(&Io->flushed);
	for (int from = 0; from + chunk < nframes && posted < IO_QUEUE_SIZE / 2; from += chunk)
	{
		IoRequest	req;

		memset(&req, 0, sizeof(req));
		req.kind = IO_FLUSH;
		req.from = from;
		req.to = from + chunk;
		if (!post(&req))
			break;
		posted++;
	}
	return posted > 0;
}

/*
 * AegisIoFlushDone
 *		The checkpoint's pass is over: withdraw the FLUSH chunks no worker
 *		took (the pass wrote their frames; a later write would only write
 *		pages dirtied since), and return how many pages the workers wrote
 *		since AegisIoFlushHelp gave 'flushed0'.
 */
uint64
AegisIoFlushDone(uint64 flushed0)
{
	uint32		kept = 0;

	SpinLockAcquire(&Io->mutex);
	for (uint32 k = 0; k < Io->count; k++)
	{
		IoRequest  *r = &Io->queue[(Io->head + k) % IO_QUEUE_SIZE];

		if (r->kind != IO_FLUSH)
			Io->queue[(Io->head + kept++) % IO_QUEUE_SIZE] = *r;
	}
	Io->count = kept;
	SpinLockRelease(&Io->mutex);
	return pg_atomic_read_u64(&Io->flushed) - flushed0;
}

/*
 * Serve a READ or WRITE request: under session AccessShareLocks on its
 * database and relation taken without waiting, read the pages of 'req' that
 * are not in the pool, or write back those that are dirty.  Returns the
 * pages written.
 */
static int
serve_pages(const IoRequest *req)
{
	LOCKTAG		dbtag;
	LOCKTAG		reltag;
	AegisRelInfo info;
	int			written = 0;

	SET_LOCKTAG_OBJECT(dbtag, InvalidOid, DatabaseRelationId, req->key.dbOid, 0);
	if (LockAcquire(&dbtag, AccessShareLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return 0;
	SET_LOCKTAG_RELATION(reltag, req->key.dbOid, req->relid);
	if (LockAcquire(&reltag, AccessShareLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		LockRelease(&dbtag, AccessShareLock, true);
		return 0;
	}
	if (AegisStorageGetInfo(&req->key, &info) && info.create_lsn == req->create_lsn &&
		!TransactionIdIsValid(info.drop_xid))
	{
		BlockNumber to = Min(req->to, info.npages);

		if (req->kind == IO_WRITE)
		{
			/* a dictionary being made: leave the pages to the checkpoint */
			if (!info.dict_busy && req->from < to)
				written = AegisBufferWritePages(&req->key, req->from, to);
		}
		else
		{
			for (BlockNumber p = req->from; p < to; p++)
			{
				CHECK_FOR_INTERRUPTS();
				if (ShutdownRequestPending)
					break;
				if (!AegisBufferIsCached(&req->key, p))
					AegisBufferRelease(AegisBufferReadRing(&req->key, p,
														   req->ring ? MyRing : NULL));
			}
		}
	}
	LockRelease(&reltag, AccessShareLock, true);
	LockRelease(&dbtag, AccessShareLock, true);
	return written;
}

static void
worker_exit(int code, Datum arg)
{
	SpinLockAcquire(&Io->mutex);
	Io->latches[MyIoWorker] = NULL;
	SpinLockRelease(&Io->mutex);
	/* the session locks of a request cut short */
	LockReleaseAll(DEFAULT_LOCKMETHOD, true);
}

/* read_kb: the number after 'key' in a /proc or /sys file, in kB; -1 if none */
static int64
read_kb(const char *path, const char *key, int64 unit)
{
	FILE	   *f = AllocateFile(path, "r");
	char		line[256];
	int64		v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		long long	n;

		if (strncmp(line, key, strlen(key)) == 0 &&
			sscanf(line + strlen(key), " %lld", &n) == 1)
		{
			v = (int64) n * unit / 1024;
			break;
		}
	}
	FreeFile(f);
	return v;
}

/* kB of room not known: no limit, or no way to tell */
#define ROOM_UNKNOWN	PG_INT64_MAX

/*
 * cgroup_room_kb
 *		kB the cgroup 'path' (as /proc/self/cgroup names it) may still take
 *		under the memory limits of it and of every cgroup above it: for each
 *		level that has a limit, the limit less the usage less a tenth of the
 *		limit, the least of them (negative when the usage is that close to
 *		the limit).  The files are 'limit_file' and 'usage_file' of the
 *		level's directory under 'mount'.  ROOM_UNKNOWN if no level has a
 *		limit (no file, or v2's "max", which reads as no number).
 */
static int64
cgroup_room_kb(const char *mount, const char *path, const char *limit_file,
			   const char *usage_file)
{
	char		dir[MAXPGPATH];
	int64		room = ROOM_UNKNOWN;

	strlcpy(dir, path, sizeof(dir));
	for (;;)
	{
		char		f[MAXPGPATH];
		int64		max,
					cur;
		char	   *slash;

		snprintf(f, sizeof(f), "%s%s/%s", mount, dir, limit_file);
		max = read_kb(f, "", 1);
		snprintf(f, sizeof(f), "%s%s/%s", mount, dir, usage_file);
		cur = read_kb(f, "", 1);
		if (max >= 0 && cur >= 0)
			room = Min(room, max - cur - max / 10);
		slash = strrchr(dir, '/');
		if (slash == NULL || dir[1] == '\0')
			break;				/* the root done */
		if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
	}
	return room;
}

/*
 * prefault_headroom_kb
 *		kB of memory the server may still take without pressing on the
 *		machine or its cgroup: the kernel's MemAvailable less a tenth of
 *		MemTotal and, under cgroup memory limits (v2's memory.max, v1's
 *		memory.limit_in_bytes, of the server's cgroup or of one above it, as
 *		a container or a systemd unit sets), the room they leave
 *		(cgroup_room_kb): the least of these, negative when one is already
 *		short.  ROOM_UNKNOWN when none is known.
 */
static int64
prefault_headroom_kb(void)
{
	int64		avail = read_kb("/proc/meminfo", "MemAvailable:", 1024);
	int64		total = read_kb("/proc/meminfo", "MemTotal:", 1024);
	int64		room = (avail >= 0 && total >= 0) ? avail - total / 10 : ROOM_UNKNOWN;
	FILE	   *f = AllocateFile("/proc/self/cgroup", "r");
	char		line[MAXPGPATH];

	/* lines "id:controllers:path"; v2's is "0::path" */
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
	{
		char	   *controllers = strchr(line, ':');
		char	   *path = controllers ? strchr(controllers + 1, ':') : NULL;

		if (path == NULL)
			continue;
		*path++ = '\0';
		*controllers++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (path[0] != '/')
			continue;
		if (strcmp(line, "0") == 0 && controllers[0] == '\0')
		{
			/* v2 on its own, or beside v1 (hybrid: mounted at unified/) */
			int64		r = cgroup_room_kb("/sys/fs/cgroup", path, "memory.max", "memory.current");

			if (r == ROOM_UNKNOWN)
				r = cgroup_room_kb("/sys/fs/cgroup/unified", path, "memory.max", "memory.current");
			room = Min(room, r);
		}
		else
		{
			char	   *c = controllers;
			bool		memory = false;

			/* v1: the hierarchy whose controllers include memory */
			while (c != NULL && !memory)
			{
				memory = strncmp(c, "memory", 6) == 0 && (c[6] == ',' || c[6] == '\0');
				c = strchr(c, ',');
				if (c)
					c++;
			}
			if (memory)
				room = Min(room, cgroup_room_kb("/sys/fs/cgroup/memory", path,
												"memory.limit_in_bytes",
												"memory.usage_in_bytes"));
		}
	}
	if (f != NULL)
		FreeFile(f);
	return room;
}

/*
 * prefault_step
 *		A step of an idle worker's mapping of the pool (aegis.
 *		buffer_pool_prefault): map the PREFAULT_FRAMES frames from frame
 *		'next' into this process (AegisBufferPrefault) and return the frame
 *		to go on from, the pool's size when done or when it cannot be done.
 *		A worker decompresses a scan's pages into frames no process has
 *		used since the server started; each 4 kB of them cost it a page
 *		fault and the kernel's zeroing, 4-5 us on this project's test VM:
 *		up to 40% of its time in the first scan of a large table.  Done
 *		ahead, between requests, the worker writes frames at memory speed
 *		and a backend's first touch of a frame is a cheaper fault of memory
 *		that already exists.  PostgreSQL maps shared_buffers lazily too, but
 *		heap scans of large tables go through a small ring of them.
 *		Before the first step, the pool must fit in the memory the machine
 *		(and its cgroup) has to spare: a pool larger than that would
 *		otherwise have the kernel's OOM killer end the worker, and so the
 *		server, at every start, instead of when the pool fills.  Worker 0
 *		checks that and allocates the memory; the others map it into their
 *		own page tables once it has (pool_mapped), needing no more memory.
 */
static int
prefault_step(int next)
{
	int			to = Min(next + PREFAULT_FRAMES, AegisBufferNFrames());
	int			err;

	if (MyIoWorker > 0 && pg_atomic_read_u32(&Io->pool_mapped) == 0)
		return next;			/* not yet, or not at all */
	if (next == 0 && MyIoWorker == 0)
	{
		int64		pool_kb = (int64) AegisBufferNFrames() * (BLCKSZ / 1024);
		int64		room_kb = prefault_headroom_kb();

		if (pool_kb > room_kb)	/* never when not known: ROOM_UNKNOWN */
		{
			ereport(LOG,
					(errmsg("aegis io worker does not map the buffer pool ahead of use: its " INT64_FORMAT " MB are more than the " INT64_FORMAT " MB of memory to spare",
							pool_kb / 1024, Max(room_kb, 0) / 1024),
					 errdetail("Memory to spare: the kernel's MemAvailable less a tenth of MemTotal, or a cgroup memory limit (memory.max, memory.limit_in_bytes) of the server's cgroup or one above it, less its use, less a tenth of the limit."),
					 errhint("Frames are mapped as they are first used instead; set aegis.buffer_pool_prefault = off to silence this.")));
			return AegisBufferNFrames();
		}
	}
	err = AegisBufferPrefault(next, to);
	if (err == 0)
	{
		if (to == AegisBufferNFrames() && MyIoWorker == 0)
			pg_atomic_write_u32(&Io->pool_mapped, 1);
		return to;
	}
	if (err == EINTR)
		return next;
	errno = err;
	ereport(err == EINVAL ? DEBUG1 : LOG,
			(errmsg("aegis io worker could not map the buffer pool ahead of use: %m"),
			 errdetail("Frames are mapped as they are first used instead.")));
	return AegisBufferNFrames();
}

/*
 * recover_from_error
 *		After an error in a request or in the directory load at start: log
 *		it and let go of what the work held (lightweight locks, the session
 *		locks of a request, a condition variable, pins, files and
 *		directories opened with fd.c), so the worker goes on.  With
 *		'read_ahead' (the request was a READ), a shortage of resources
 *		(ERRCODE_INSUFFICIENT_RESOURCES: every frame of the pool pinned,
 *		from the clock sweep, or no file descriptor left) is logged at
 *		DEBUG1 only: the read-ahead is dropped, and the scan it ran for
 *		raises that error itself if it meets it, where a LOG line per
 *		queued request would flood the server log.
 */
static void
recover_from_error(bool read_ahead)
{
	if (read_ahead && geterrcode() == ERRCODE_INSUFFICIENT_RESOURCES)
	{
		FlushErrorState();
		elog(DEBUG1, "aegis io worker dropped a read-ahead: no unpinned aegis buffer is available");
	}
	else
	{
		EmitErrorReport();
		FlushErrorState();
	}
	LWLockReleaseAll();
	LockReleaseAll(DEFAULT_LOCKMETHOD, true);
	ConditionVariableCancelSleep();
	AegisBufferReleaseAll(false);
	AtEOXact_Files(false);
}

/*
 * AegisIoWorkerMain
 *		An I/O worker (arg: its number from 0): serve requests until
 *		shutdown.  An error (a damaged block, a full disk) is logged and
 *		ends its request only; the scan that reaches the page, or the
 *		checkpoint's own pass, meets it again and raises it.
 */
void
AegisIoWorkerMain(Datum arg)
{
	MemoryContext cxt;
	int			prefault_next = 0;

	MyIoWorker = DatumGetInt32(arg);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGINT, SIG_IGN);	/* pg_cancel_backend: nothing to cancel */
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	cxt = AllocSetContextCreate(TopMemoryContext, "aegis io worker", ALLOCSET_DEFAULT_SIZES);
	before_shmem_exit(worker_exit, (Datum) 0);
	MemoryContextSwitchTo(TopMemoryContext);
	MyRing = AegisBufferRingCreate(IO_RING_FRAMES, InvalidBlockNumber);
	SpinLockAcquire(&Io->mutex);
	Io->latches[MyIoWorker] = MyLatch;
	SpinLockRelease(&Io->mutex);

	/*
	 * The first worker loads the relation directory at once, off the path
	 * of the first statement (its block maps were ~20 ms of a first query
	 * here); a failure is logged and met again by that statement.
	 */
	if (MyIoWorker == 0)
	{
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			AegisStorageLoadEarly();
		}
		PG_CATCH();
		{
			recover_from_error(false);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(cxt);
	}

	while (!ShutdownRequestPending)
	{
		IoRequest	req;

		/* absorbs ProcSignalBarriers (DROP DATABASE waits for them) */
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!take(&req))
		{
			if (aegis_buffer_pool_prefault && prefault_next < AegisBufferNFrames())
			{
				int			was = prefault_next;

				prefault_next = prefault_step(prefault_next);
				if (prefault_next != was)
					continue;
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			if (req.kind == IO_READ)
				(void) serve_pages(&req);
			else if (req.kind == IO_WRITE)
			{
				int			n = serve_pages(&req);

				if (n > 0)
					elog(DEBUG1, "aegis io worker wrote %d pages of relation %u/%u/%u behind an insert",
						 n, req.key.spcOid, req.key.dbOid, req.key.relNumber);
			}
			else
			{
				int			n = AegisBufferFlushFrames((int) req.from, (int) req.to);

				pg_atomic_fetch_add_u64(&Io->flushed, n);
				if (n > 0)
					elog(DEBUG1, "aegis io worker wrote %d pages of frames %u-%u for a checkpoint",
						 n, req.from, req.to - 1);
			}
		}
		PG_CATCH();
		{
			recover_from_error(req.kind == IO_READ);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(cxt);
	}
	/* not 0: the postmaster would not start a terminated worker again */
	proc_exit(1);
}
