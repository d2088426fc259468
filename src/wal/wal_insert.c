/*-------------------------------------------------------------------------
 *
 * wal_insert.c
 *	  Aegis WAL insertion, writing, group commit and segment files.
 *
 * Records are copied into a ring buffer in shared memory (aegis.wal_buffers)
 * under insert_lock; the byte at LSN x lives at ring[x % ring_size].  A
 * process that needs the WAL durable up to some LSN calls AegisWalFlush: the
 * first to get write_lock writes and fsyncs everything inserted so far, and
 * the others, woken when it releases the lock, find their LSN already
 * durable.  That is group commit, as in PostgreSQL's XLogFlush
 * (LWLockAcquireOrWait).
 *
 * Invariant 5 of DESIGN.md: an xid that appears in durable aegis WAL must be
 * known to durable PostgreSQL WAL, or PostgreSQL could hand it out again
 * after a crash.  Xids are reserved in PostgreSQL's WAL by records of our
 * custom resource manager (see "Transaction id reservations" below), and an
 * aegis flush first makes PostgreSQL's WAL durable as far as the records it
 * writes need: the reservation and any MultiXact their transactions created.
 *
 * Segment files are <data_directory>/wal/<segment number, 16 hex digits>,
 * AEGIS_WAL_SEG_SIZE bytes each, zero-filled when created (so a write into
 * an existing segment cannot fail for lack of space); the next segment is
 * created ahead of need, outside critical sections.
 *
 * Lock order: write_lock, then insert_lock.  Neither is held while waiting
 * for anything but the other or I/O.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "aegis/guc.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

/*
 * For every record: its end LSN and the PostgreSQL WAL position that must be
 * durable before it is (the maximum over it and all earlier records, so the
 * values only grow).  A flush writes the longest prefix of the WAL that
 * PostgreSQL's flushed WAL already covers, so a committer rarely waits for
 * the reservations and MultiXacts of transactions still running.
 */
#define AEGIS_WAL_REQ_SLOTS 8192

typedef struct AegisWalReq
{
	AegisLsn	end;
	XLogRecPtr	pg_needed;
} AegisWalReq;

typedef struct AegisWalShared
{
	LWLock		insert_lock;	/* insert_lsn, ring bytes, pg_lsn_required */
	LWLock		write_lock;		/* one writer at a time */
	int			tranche;
	AegisLsn	insert_lsn;		/* next byte to insert */
	XLogRecPtr	pg_lsn_required;	/* PG WAL to flush before ours */
	pg_atomic_uint64 write_lsn; /* bytes before are in segment files */
	pg_atomic_uint64 flush_lsn; /* bytes before are durable */
	AegisLsn	redo_lsn;		/* of the last checkpoint */
	uint64		records;		/* under insert_lock */
	uint64		bytes;
	pg_atomic_uint64 fsyncs;
	pg_atomic_uint64 commits;
	pg_atomic_uint64 pg_flushes;	/* XLogFlush calls for invariant 5 */
	pg_atomic_uint64 ready_segno;	/* segments up to this one exist */
	slock_t		xid_lock;		/* the three fields below */
	TransactionId reserved_upto;	/* xids up to this one are reserved */
	XLogRecPtr	reserve_start;	/* by the PG WAL record starting here */
	XLogRecPtr	reserve_end;	/* and ending here */
	slock_t		stats_lock;		/* the figures below */
	uint64		checkpoints;
	double		last_checkpoint_ms;
	double		last_recovery_ms;
	uint64		last_recovery_records;
	uint64		last_recovery_bytes;
	uint64		nreqs;			/* records ever entered into reqs */
	AegisWalReq reqs[AEGIS_WAL_REQ_SLOTS];	/* the last ones, circular */
	Size		ring_size;
	char		ring[FLEXIBLE_ARRAY_MEMBER];
} AegisWalShared;

static AegisWalShared *Wal = NULL;

/* this backend */
static TransactionId reserved_xid = InvalidTransactionId;	/* last xid checked */
static XLogRecPtr reserve_needed = InvalidXLogRecPtr;	/* PG WAL reserving it */
static XLogRecPtr multi_needed = InvalidXLogRecPtr; /* MultiXacts we created */
static AegisLsn xact_last_lsn = 0;	/* end of this transaction's last record */
static int	seg_fd = -1;
static uint64 seg_fd_no = 0;
static bool tranche_registered = false;

static Size
ring_size(void)
{
	return (Size) aegis_wal_buffers * 1024;
}

Size
AegisWalShmemSize(void)
{
	return add_size(offsetof(AegisWalShared, ring), ring_size());
}

/* AegisWalShmemInit: postmaster, under AddinShmemInitLock. */
void
AegisWalShmemInit(void)
{
	bool		found;

	Wal = ShmemInitStruct("aegis wal", AegisWalShmemSize(), &found);
	if (found)
		return;
	memset(Wal, 0, offsetof(AegisWalShared, ring));
	Wal->tranche = LWLockNewTrancheId();
	LWLockInitialize(&Wal->insert_lock, Wal->tranche);
	LWLockInitialize(&Wal->write_lock, Wal->tranche);
	Wal->insert_lsn = AEGIS_WAL_FIRST_LSN;
	pg_atomic_init_u64(&Wal->write_lsn, AEGIS_WAL_FIRST_LSN);
	pg_atomic_init_u64(&Wal->flush_lsn, AEGIS_WAL_FIRST_LSN);
	pg_atomic_init_u64(&Wal->fsyncs, 0);
	pg_atomic_init_u64(&Wal->commits, 0);
	pg_atomic_init_u64(&Wal->pg_flushes, 0);
	pg_atomic_init_u64(&Wal->ready_segno, 0);
	SpinLockInit(&Wal->stats_lock);
	SpinLockInit(&Wal->xid_lock);
	Wal->reserved_upto = InvalidTransactionId;
	Wal->redo_lsn = AEGIS_WAL_FIRST_LSN;
	Wal->ring_size = ring_size();
}

static void
wal_attach(void)
{
	if (!tranche_registered)
	{
		LWLockRegisterTranche(Wal->tranche, "aegis_wal");
		tranche_registered = true;
	}
}

/* palloc'd path of segment 'segno' */
char *
AegisWalSegmentPath(uint64 segno)
{
	return psprintf("%s/wal/%016llX", aegis_data_directory,
					(unsigned long long) segno);
}

/* AegisWalParseSegmentName: is 'name' a segment file's name?  Sets *segno. */
bool
AegisWalParseSegmentName(const char *name, uint64 *segno)
{
	unsigned long long n;
	char		extra;

	if (strlen(name) != 16 || sscanf(name, "%16llX%c", &n, &extra) != 1)
		return false;
	*segno = n;
	return true;
}

/*
 * Open segment 'segno' for writing, creating it zero-filled if needed.
 * Raises the I/O error (ENOSPC while creating a segment is an ERROR; inside
 * a critical section it becomes a PANIC).
 */
static int
open_segment(uint64 segno, bool cache)
{
	char	   *path = AegisWalSegmentPath(segno);
	int			fd;
	struct stat st;

	if (cache && seg_fd >= 0 && seg_fd_no == segno)
	{
		pfree(path);
		return seg_fd;
	}
	if (cache && seg_fd >= 0)
	{
		close(seg_fd);
		seg_fd = -1;
	}
	fd = BasicOpenFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (fd < 0)
	{
		char	   *dir = psprintf("%s/wal", aegis_data_directory);

		/* first segment ever: make the directory */
		if (errno == ENOENT && MakePGDirectory(dir) == 0)
		{
			fsync_fname(aegis_data_directory, true);
			fd = BasicOpenFile(path, O_RDWR | O_CREAT | PG_BINARY);
		}
		pfree(dir);
		if (fd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open aegis WAL segment \"%s\": %m", path)));
	}
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat aegis WAL segment \"%s\": %m", path)));
	if (st.st_size < AEGIS_WAL_SEG_SIZE)
	{
		static const PGAlignedXLogBlock zeros;
		off_t		off = st.st_size - st.st_size % XLOG_BLCKSZ;

		pgstat_report_wait_start(WAIT_EVENT_WAL_INIT_WRITE);
		while (off < AEGIS_WAL_SEG_SIZE)
		{
			errno = 0;
			if (pg_pwrite(fd, zeros.data, XLOG_BLCKSZ, off) != XLOG_BLCKSZ)
			{
				int			save_errno = errno ? errno : ENOSPC;

				pgstat_report_wait_end();
				/* give the space back: a short segment is re-filled later */
				if (ftruncate(fd, st.st_size) != 0)
					elog(LOG, "could not truncate \"%s\": %m", path);
				close(fd);
				errno = save_errno;
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create aegis WAL segment \"%s\": %m", path),
						 errhint("Free disk space in the file system of aegis.data_directory; the statement can be retried then.")));
			}
			off += XLOG_BLCKSZ;
		}
		pgstat_report_wait_end();
		if (pg_fsync(fd) != 0)
			ereport(PANIC,
					(errcode_for_file_access(),
					 errmsg("could not fsync aegis WAL segment \"%s\": %m", path)));
		pfree(path);
		path = psprintf("%s/wal", aegis_data_directory);
		fsync_fname(path, true);
	}
	pfree(path);
	if (cache)
	{
		seg_fd = fd;
		seg_fd_no = segno;
	}
	return fd;
}

/* Make sure segment 'segno' exists (outside critical sections only). */
static void
preallocate_segment(uint64 segno)
{
	int			fd;

	if (CritSectionCount > 0)
		return;
	fd = open_segment(segno, false);
	close(fd);
}

/*
 * Write ring bytes [from, upto) to the segment files and fdatasync them.
 * Caller holds write_lock.  A write error is an ERROR (the bytes stay in the
 * ring and are written by the next flush); an fsync error is a PANIC, as in
 * PostgreSQL, because the kernel may have dropped the dirty pages.
 */
static void
write_and_sync(AegisLsn from, AegisLsn upto)
{
	AegisLsn	pos = from;

	while (pos < upto)
	{
		uint64		segno = pos / AEGIS_WAL_SEG_SIZE;
		AegisLsn	seg_end = (segno + 1) * AEGIS_WAL_SEG_SIZE;
		AegisLsn	end = Min(upto, seg_end);
		int			fd = open_segment(segno, true);

		while (pos < end)
		{
			Size		ringoff = pos % Wal->ring_size;
			Size		n = Min(end - pos, Wal->ring_size - ringoff);
			ssize_t		w;

			pgstat_report_wait_start(WAIT_EVENT_WAL_WRITE);
			errno = 0;
			if (unlikely(aegis_debug_fail_wal_write))
			{
				w = -1;
				errno = ENOSPC;
			}
			else
				w = pg_pwrite(fd, Wal->ring + ringoff, n, pos % AEGIS_WAL_SEG_SIZE);
			pgstat_report_wait_end();
			if (w != (ssize_t) n)
			{
				if (errno == 0)
					errno = ENOSPC;
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write aegis WAL segment %016llX at offset %u: %m",
								(unsigned long long) segno,
								(unsigned) (pos % AEGIS_WAL_SEG_SIZE)),
						 errdetail("The transaction is rolled back; the WAL written so far stays valid."),
						 errhint("Free disk space in the file system of aegis.data_directory, then retry.")));
			}
			pos += n;
		}
		pgstat_report_wait_start(WAIT_EVENT_WAL_SYNC);
		if (pg_fdatasync(fd) != 0)
			ereport(PANIC,
					(errcode_for_file_access(),
					 errmsg("could not fdatasync aegis WAL segment %016llX: %m",
							(unsigned long long) segno)));
		pgstat_report_wait_end();
		pg_atomic_fetch_add_u64(&Wal->fsyncs, 1);
	}
}

/*
 * How far a flush that must cover 'upto' should write.  Returns the end of
 * the longest run of records whose PostgreSQL requirements are durable
 * already, or 'upto' rounded up to a record end if that is further; sets
 * *pgneed to the PostgreSQL WAL position that must be flushed first for the
 * returned target (InvalidXLogRecPtr if none).  Takes insert_lock shared.
 */
static AegisLsn
choose_target(AegisLsn upto, XLogRecPtr *pgneed)
{
	XLogRecPtr	flushed = RecoveryInProgress() ? InvalidXLogRecPtr : GetFlushRecPtr(NULL);
	AegisLsn	target;
	uint64		lo,
				hi,
				first;

	LWLockAcquire(&Wal->insert_lock, LW_SHARED);
	target = Wal->insert_lsn;
	*pgneed = Wal->pg_lsn_required;
	first = Wal->nreqs > AEGIS_WAL_REQ_SLOTS ? Wal->nreqs - AEGIS_WAL_REQ_SLOTS : 0;
	if (*pgneed <= flushed || Wal->nreqs == 0 ||
		Wal->reqs[first % AEGIS_WAL_REQ_SLOTS].end > upto)
	{
		/* all covered, nothing recorded, or 'upto' older than what is kept */
		LWLockRelease(&Wal->insert_lock);
		if (*pgneed <= flushed)
			*pgneed = InvalidXLogRecPtr;
		return target;
	}

	/* the first record ending at or after 'upto' (ends only grow) */
	lo = first;
	hi = Wal->nreqs - 1;
	while (lo < hi)
	{
		uint64		mid = lo + (hi - lo) / 2;

		if (Wal->reqs[mid % AEGIS_WAL_REQ_SLOTS].end >= upto)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (Wal->reqs[lo % AEGIS_WAL_REQ_SLOTS].pg_needed > flushed)
	{
		/* PostgreSQL must flush first; then write up to that record */
		*pgneed = Wal->reqs[lo % AEGIS_WAL_REQ_SLOTS].pg_needed;
		target = Wal->reqs[lo % AEGIS_WAL_REQ_SLOTS].end;
		LWLockRelease(&Wal->insert_lock);
		return Max(target, upto);
	}

	/* the last record whose requirement is durable (requirements only grow) */
	hi = Wal->nreqs - 1;
	while (lo < hi)
	{
		uint64		mid = lo + (hi - lo + 1) / 2;

		if (Wal->reqs[mid % AEGIS_WAL_REQ_SLOTS].pg_needed <= flushed)
			lo = mid;
		else
			hi = mid - 1;
	}
	target = Wal->reqs[lo % AEGIS_WAL_REQ_SLOTS].end;
	LWLockRelease(&Wal->insert_lock);
	*pgneed = InvalidXLogRecPtr;
	return Max(target, upto);
}

/*
 * AegisWalFlush
 *		Make the aegis WAL durable up to 'upto' (an LSN, exclusive).  Flushes
 *		PostgreSQL's WAL first (invariant 5).  Concurrent callers share one
 *		write and fsync.  Raises write errors (ERROR) and fsync errors (PANIC).
 */
void
AegisWalFlush(AegisLsn upto)
{
	wal_attach();
	for (;;)
	{
		AegisLsn	target;
		AegisLsn	from;
		XLogRecPtr	pgneed;

		if (pg_atomic_read_u64(&Wal->flush_lsn) >= upto)
			return;
		if (!LWLockAcquireOrWait(&Wal->write_lock, LW_EXCLUSIVE))
			continue;			/* another process flushed: look again */
		if (pg_atomic_read_u64(&Wal->flush_lsn) >= upto)
		{
			LWLockRelease(&Wal->write_lock);
			return;
		}

		/* PostgreSQL's WAL first (invariant 5), as far as 'upto' needs */
		if (!RecoveryInProgress())
		{
			choose_target(upto, &pgneed);
			if (pgneed != InvalidXLogRecPtr)
			{
				XLogFlush(pgneed);
				pg_atomic_fetch_add_u64(&Wal->pg_flushes, 1);
			}
		}
		target = choose_target(upto, &pgneed);
		Assert(target >= upto);
		from = pg_atomic_read_u64(&Wal->write_lsn);
		write_and_sync(from, target);
		pg_atomic_write_u64(&Wal->write_lsn, target);
		pg_atomic_write_u64(&Wal->flush_lsn, target);
		LWLockRelease(&Wal->write_lock);

		/*
		 * Keep the next segment ready, so that a flush forced inside a
		 * critical section (a full ring) never has to create one.
		 */
		if (pg_atomic_read_u64(&Wal->ready_segno) < target / AEGIS_WAL_SEG_SIZE + 1 &&
			CritSectionCount == 0)
		{
			preallocate_segment(target / AEGIS_WAL_SEG_SIZE + 1);
			pg_atomic_write_u64(&Wal->ready_segno, target / AEGIS_WAL_SEG_SIZE + 1);
		}
		return;
	}
}

/* Copy 'len' bytes to the ring at LSN 'pos'; insert_lock held. */
static void
ring_copy(AegisLsn pos, const char *src, Size len)
{
	while (len > 0)
	{
		Size		off = pos % Wal->ring_size;
		Size		n = Min(len, Wal->ring_size - off);

		if (src)
			memcpy(Wal->ring + off, src, n);
		else
			memset(Wal->ring + off, 0, n);
		pos += n;
		len -= n;
		if (src)
			src += n;
	}
}

/* ---------------------------------------------------------------------
 * Transaction id reservations (invariant 5)
 *
 * PostgreSQL's redo advances nextXid past the xid of every record it
 * replays; an xid that only aegis WAL names would be handed out again after
 * a crash.  So before aegis WAL naming xid X becomes durable, a record of
 * our custom WAL resource manager must be durable in PostgreSQL's WAL,
 * saying "xids up to U >= X are reserved"; its redo advances nextXid past U.
 * One record covers up to AEGIS_XID_RESERVE xids (never beyond X's commit
 * log and commit timestamp pages, whose creation PostgreSQL logs itself).
 * A record before PostgreSQL's current redo pointer is not replayed after a
 * crash; the xids it covered were assigned before that checkpoint read
 * nextXid, so the checkpoint covers them, and later xids get a new record.
 * ---------------------------------------------------------------------
 */
#define AEGIS_RMGR_ID			203
#define XLOG_AEGIS_RESERVE_XIDS	0x00
#define AEGIS_XID_RESERVE		255
#define AEGIS_CLOG_XACTS_PER_PAGE	(BLCKSZ * 4)
#define AEGIS_COMMIT_TS_XACTS_PER_PAGE	(BLCKSZ / 10)

typedef struct xl_aegis_reserve_xids
{
	TransactionId upto;
} xl_aegis_reserve_xids;

static void
aegis_rmgr_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	xl_aegis_reserve_xids xlrec;

	if (info != XLOG_AEGIS_RESERVE_XIDS)
		elog(PANIC, "aegis_rmgr_redo: unknown op code %u", info);
	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	AdvanceNextFullTransactionIdPastXid(xlrec.upto);
}

static void
aegis_rmgr_desc(StringInfo buf, XLogReaderState *record)
{
	xl_aegis_reserve_xids xlrec;

	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	appendStringInfo(buf, "xids up to %u", xlrec.upto);
}

static const char *
aegis_rmgr_identify(uint8 info)
{
	return (info & ~XLR_INFO_MASK) == XLOG_AEGIS_RESERVE_XIDS ? "RESERVE_XIDS" : NULL;
}

static RmgrData aegis_rmgr = {
	.rm_name = "aegis_storage",
	.rm_redo = aegis_rmgr_redo,
	.rm_desc = aegis_rmgr_desc,
	.rm_identify = aegis_rmgr_identify,
};

/*
 * AegisWalRegisterRmgr
 *		Register the custom WAL resource manager (id AEGIS_RMGR_ID); from
 *		_PG_init while shared_preload_libraries are loaded.  PostgreSQL
 *		refuses to start if another extension registered the same id.
 */
void
AegisWalRegisterRmgr(void)
{
	RegisterCustomRmgr(AEGIS_RMGR_ID, &aegis_rmgr);
}

/* The last xid one reservation record starting at 'xid' may cover. */
static TransactionId
reserve_limit(TransactionId xid)
{
	uint64		x = xid;
	uint64		upto = x + AEGIS_XID_RESERVE;

	upto = Min(upto, (x / AEGIS_CLOG_XACTS_PER_PAGE + 1) * AEGIS_CLOG_XACTS_PER_PAGE - 1);
	upto = Min(upto, (x / AEGIS_COMMIT_TS_XACTS_PER_PAGE + 1) * AEGIS_COMMIT_TS_XACTS_PER_PAGE - 1);
	return (TransactionId) upto;
}

/*
 * AegisWalPrepareInsert
 *		Make sure the current (sub)transaction's xid is covered by a
 *		reservation that PostgreSQL replays after a crash, writing one if
 *		needed, and remember the PostgreSQL WAL position that must be
 *		durable before aegis WAL naming the xid is.  Call outside critical
 *		sections, before changing a page.
 */
void
AegisWalPrepareInsert(void)
{
	TransactionId xid = GetCurrentTransactionIdIfAny();
	TransactionId upto;
	XLogRecPtr	start,
				end;
	xl_aegis_reserve_xids xlrec;

	if (!TransactionIdIsNormal(xid) || xid == reserved_xid)
		return;
	SpinLockAcquire(&Wal->xid_lock);
	upto = Wal->reserved_upto;
	start = Wal->reserve_start;
	end = Wal->reserve_end;
	SpinLockRelease(&Wal->xid_lock);

	if (!TransactionIdIsValid(upto) || TransactionIdPrecedes(upto, xid) ||
		start < GetRedoRecPtr())
	{
		xlrec.upto = reserve_limit(xid);
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, sizeof(xlrec));
		end = XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_RESERVE_XIDS);
		start = ProcLastRecPtr;
		SpinLockAcquire(&Wal->xid_lock);
		if (start > Wal->reserve_start)
		{
			Wal->reserved_upto = xlrec.upto;
			Wal->reserve_start = start;
			Wal->reserve_end = end;
		}
		SpinLockRelease(&Wal->xid_lock);
	}
	reserve_needed = end;
	reserved_xid = xid;
}

/*
 * AegisWalInsert
 *		Append a record of 'type' whose payload is payload1 then payload2
 *		(len1 + len2 bytes; payload2 may be NULL) and return its end LSN.
 *		The record carries the current (sub)transaction's xid, if any.
 *		May be called in a critical section (the xid must then have been
 *		reserved before it, see AegisWalPageBegin).  Waits
 *		for a flush when the ring is full.
 */
AegisLsn
AegisWalInsert(uint8 type, uint8 flags, const char *payload1, uint32 len1,
			   const char *payload2, uint32 len2)
{
	AegisWalRecord hdr;
	uint32		tot = MAXALIGN(sizeof(AegisWalRecord) + len1 + len2);
	pg_crc32c	crc;
	XLogRecPtr	pgpos;
	AegisLsn	start,
				end;

	Assert(tot <= AEGIS_WAL_MAX_RECORD);
	wal_attach();
	if (CritSectionCount == 0)
		AegisWalPrepareInsert();
	memset(&hdr, 0, sizeof(hdr));
	hdr.tot_len = tot;
	hdr.type = type;
	hdr.flags = flags;
	hdr.xid = GetCurrentTransactionIdIfAny();

	/*
	 * CRC of the payload (with its zero padding) now, of the header once its
	 * LSN is known
	 */
	INIT_CRC32C(crc);
	if (len1 > 0)
		COMP_CRC32C(crc, payload1, len1);
	if (len2 > 0)
		COMP_CRC32C(crc, payload2, len2);
	if (tot > sizeof(hdr) + len1 + len2)
	{
		static const char zeros[MAXIMUM_ALIGNOF];

		COMP_CRC32C(crc, zeros, tot - (sizeof(hdr) + len1 + len2));
	}
	/*
	 * PostgreSQL WAL that must be durable first: the reservation covering
	 * our xid and the MultiXacts this transaction created (their ids must
	 * not be handed out again either).  Without an xid (VACUUM), all of this
	 * backend's PostgreSQL WAL, which covers MultiXacts that freezing made.
	 */
	pgpos = TransactionIdIsValid(hdr.xid) ? Max(reserve_needed, multi_needed) : XactLastRecEnd;

	for (;;)
	{
		AegisLsn	pos,
					orig;
		Size		seg_left;
		Size		need;

		LWLockAcquire(&Wal->insert_lock, LW_EXCLUSIVE);
		pos = orig = Wal->insert_lsn;
		seg_left = AEGIS_WAL_SEG_SIZE - pos % AEGIS_WAL_SEG_SIZE;
		need = (seg_left < tot) ? seg_left + tot : tot;
		if (pos + need - pg_atomic_read_u64(&Wal->write_lsn) > Wal->ring_size)
		{
			/* ring full: write out what is there, then retry */
			LWLockRelease(&Wal->insert_lock);
			AegisWalFlush(pos);
			continue;
		}
		if (seg_left < tot)
		{
			/* pad the segment's tail; the reader skips to the next one */
			ring_copy(pos, NULL, seg_left);
			if (seg_left >= sizeof(AegisWalRecord))
			{
				AegisWalRecord pad;
				pg_crc32c	padcrc;

				memset(&pad, 0, sizeof(pad));
				pad.tot_len = seg_left;
				pad.type = AEGIS_WAL_PAD;
				pad.lsn = pos;
				INIT_CRC32C(padcrc);
				COMP_CRC32C(padcrc, &pad, sizeof(pad));
				FIN_CRC32C(padcrc);
				pad.crc = padcrc;
				ring_copy(pos, (char *) &pad, sizeof(pad));
			}
			pos += seg_left;
		}
		start = pos;
		hdr.lsn = start;
		COMP_CRC32C(crc, &hdr, sizeof(hdr));
		FIN_CRC32C(crc);
		hdr.crc = crc;
		ring_copy(start, (char *) &hdr, sizeof(hdr));
		if (len1 > 0)
			ring_copy(start + sizeof(hdr), payload1, len1);
		if (len2 > 0)
			ring_copy(start + sizeof(hdr) + len1, payload2, len2);
		if (tot > sizeof(hdr) + len1 + len2)
			ring_copy(start + sizeof(hdr) + len1 + len2, NULL,
					  tot - (sizeof(hdr) + len1 + len2));
		end = start + tot;
		Wal->insert_lsn = end;
		if (pgpos > Wal->pg_lsn_required)
			Wal->pg_lsn_required = pgpos;
		Wal->reqs[Wal->nreqs % AEGIS_WAL_REQ_SLOTS].end = end;
		Wal->reqs[Wal->nreqs % AEGIS_WAL_REQ_SLOTS].pg_needed = Wal->pg_lsn_required;
		Wal->nreqs++;
		Wal->records++;
		Wal->bytes += end - orig;
		LWLockRelease(&Wal->insert_lock);
		break;
	}
	if (TransactionIdIsValid(hdr.xid))
		xact_last_lsn = end;
	return end;
}

/* AegisWalInsertLsn: where the next record will start (or a pad before it). */
AegisLsn
AegisWalInsertLsn(void)
{
	AegisLsn	lsn;

	wal_attach();
	LWLockAcquire(&Wal->insert_lock, LW_SHARED);
	lsn = Wal->insert_lsn;
	LWLockRelease(&Wal->insert_lock);
	return lsn;
}

/*
 * AegisWalAtPreCommit
 *		At XACT_EVENT_PRE_COMMIT and PRE_PREPARE: make this transaction's
 *		aegis WAL durable before PostgreSQL writes its commit (or prepare)
 *		record (invariant 4), and make PostgreSQL flush that record too
 *		(ForceSyncCommit), even if the transaction wrote no PostgreSQL WAL.
 */
void
AegisWalAtPreCommit(void)
{
	if (xact_last_lsn == 0)
		return;
	AEGIS_CRASH_AT(AEGIS_CRASH_COMMIT_BEFORE_WAL_FLUSH);
	/* the commit record must be flushed even if we wrote no other PG WAL */
	ForceSyncCommit();
	AegisWalFlush(xact_last_lsn);
	pg_atomic_fetch_add_u64(&Wal->commits, 1);
	AEGIS_CRASH_AT(AEGIS_CRASH_COMMIT_AFTER_WAL_FLUSH);
}

/* AegisWalAtXactEnd: forget this transaction's WAL position. */
void
AegisWalAtXactEnd(void)
{
	xact_last_lsn = 0;
	multi_needed = InvalidXLogRecPtr;
}

/*
 * AegisWalNoteMultiXact
 *		The caller just created a MultiXact (MultiXactIdCreate/Expand wrote
 *		its PostgreSQL WAL record): aegis WAL written from now on in this
 *		transaction waits for that record to be durable.
 */
void
AegisWalNoteMultiXact(void)
{
	multi_needed = XactLastRecEnd;
}

/*
 * AegisWalStartAt
 *		After recovery: the next record goes at 'lsn' (the end of the last
 *		valid record).  Everything before is durable.
 */
void
AegisWalStartAt(AegisLsn lsn)
{
	wal_attach();
	LWLockAcquire(&Wal->write_lock, LW_EXCLUSIVE);
	LWLockAcquire(&Wal->insert_lock, LW_EXCLUSIVE);
	Wal->insert_lsn = lsn;
	pg_atomic_write_u64(&Wal->write_lsn, lsn);
	pg_atomic_write_u64(&Wal->flush_lsn, lsn);
	LWLockRelease(&Wal->insert_lock);
	LWLockRelease(&Wal->write_lock);
	if (seg_fd >= 0)
	{
		close(seg_fd);
		seg_fd = -1;
	}
}

/*
 * AegisWalRemoveBefore
 *		Remove the segments that hold only WAL before 'redo' (the redo LSN of
 *		a completed checkpoint).  Failures are LOGged: a leftover segment is
 *		harmless, its records are never replayed.
 */
void
AegisWalRemoveBefore(AegisLsn redo)
{
	uint64		last = redo / AEGIS_WAL_SEG_SIZE;	/* first segment kept */
	char	   *dir = psprintf("%s/wal", aegis_data_directory);
	DIR		   *d;
	struct dirent *de;

	d = AllocateDir(dir);
	while (d != NULL && (de = ReadDir(d, dir)) != NULL)
	{
		uint64		segno;

		if (!AegisWalParseSegmentName(de->d_name, &segno))
			continue;
		if (segno < last)
		{
			char	   *path = psprintf("%s/%s", dir, de->d_name);

			if (unlink(path) != 0)
				ereport(LOG,
						(errcode_for_file_access(),
						 errmsg("could not remove aegis WAL segment \"%s\": %m", path)));
			pfree(path);
		}
	}
	if (d != NULL)
		FreeDir(d);
	pfree(dir);
	if (seg_fd >= 0 && seg_fd_no < last)
	{
		close(seg_fd);
		seg_fd = -1;
	}
}

/* AegisWalNoteCheckpoint: a checkpoint with redo LSN 'redo' is complete. */
void
AegisWalNoteCheckpoint(AegisLsn redo, double ms)
{
	wal_attach();
	LWLockAcquire(&Wal->insert_lock, LW_EXCLUSIVE);
	Wal->redo_lsn = redo;
	LWLockRelease(&Wal->insert_lock);
	SpinLockAcquire(&Wal->stats_lock);
	Wal->checkpoints++;
	Wal->last_checkpoint_ms = ms;
	SpinLockRelease(&Wal->stats_lock);
}

/* AegisWalNoteRecovery: figures of the recovery that just finished. */
void
AegisWalNoteRecovery(double ms, uint64 records, uint64 bytes)
{
	SpinLockAcquire(&Wal->stats_lock);
	Wal->last_recovery_ms = ms;
	Wal->last_recovery_records = records;
	Wal->last_recovery_bytes = bytes;
	SpinLockRelease(&Wal->stats_lock);
}

/* AegisWalBytesSinceRedo: WAL inserted since the last checkpoint's redo. */
uint64
AegisWalBytesSinceRedo(void)
{
	uint64		n;

	wal_attach();
	LWLockAcquire(&Wal->insert_lock, LW_SHARED);
	n = Wal->insert_lsn - Wal->redo_lsn;
	LWLockRelease(&Wal->insert_lock);
	return n;
}

/* AegisWalGetStats: figures for aegis_wal_stats(). */
void
AegisWalGetStats(AegisWalStats *stats)
{
	wal_attach();
	LWLockAcquire(&Wal->insert_lock, LW_SHARED);
	stats->insert_lsn = Wal->insert_lsn;
	stats->redo_lsn = Wal->redo_lsn;
	stats->records = Wal->records;
	stats->bytes = Wal->bytes;
	LWLockRelease(&Wal->insert_lock);
	stats->flush_lsn = pg_atomic_read_u64(&Wal->flush_lsn);
	stats->fsyncs = pg_atomic_read_u64(&Wal->fsyncs);
	stats->commits = pg_atomic_read_u64(&Wal->commits);
	stats->pg_flushes = pg_atomic_read_u64(&Wal->pg_flushes);
	SpinLockAcquire(&Wal->stats_lock);
	stats->checkpoints = Wal->checkpoints;
	stats->last_checkpoint_ms = Wal->last_checkpoint_ms;
	stats->last_recovery_ms = Wal->last_recovery_ms;
	stats->last_recovery_records = Wal->last_recovery_records;
	stats->last_recovery_bytes = Wal->last_recovery_bytes;
	SpinLockRelease(&Wal->stats_lock);
}
