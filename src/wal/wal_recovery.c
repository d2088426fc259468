/*-------------------------------------------------------------------------
 *
 * wal_recovery.c
 *	  The control file, and crash recovery: replay of the aegis WAL.
 *
 * The control file (<data_directory>/aegis_control) names the redo LSN of
 * the last completed checkpoint and whether the server shut down cleanly
 * after it.  It is written temp -> fsync -> durable_rename after every
 * checkpoint's block maps are durable, so it never names a checkpoint that
 * did not complete.
 *
 * Recovery runs once per server start (after every crash too: the
 * postmaster then reinitializes shared memory), in the first process that
 * attaches to the relation directory, under its checkpoint_lock, after
 * PostgreSQL's own recovery has finished (the commit log is needed).  It
 * loads the block maps of the last checkpoint (backend_local.c), replays
 * every valid record from the redo LSN, stops at the first record that is
 * missing, torn or damaged (as PostgreSQL's recovery does, saying where),
 * settles storage created or dropped by transactions (AegisStorageSettle)
 * and takes a checkpoint.  No session touches an aegis table before that:
 * they all wait on checkpoint_lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "aegis/backend.h"
#include "aegis/guc.h"
#include "aegis/wal.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "utils/timestamp.h"

#define AEGIS_CONTROL_MAGIC		0x43474541	/* "AEGC" little-endian */
#define AEGIS_CONTROL_VERSION	1

typedef struct AegisControlFile
{
	uint32		magic;
	uint32		version;
	uint32		state;			/* AegisControlState */
	uint32		reserved;
	uint64		redo_lsn;		/* replay starts here */
	int64		time;			/* of the checkpoint (TimestampTz) */
	pg_crc32c	crc;			/* of the fields above */
	uint32		reserved2;
} AegisControlFile;

StaticAssertDecl(sizeof(AegisControlFile) == 40, "aegis control file is 40 bytes");
StaticAssertDecl(sizeof(AegisWalRecord) == 24, "aegis WAL record header is 24 bytes");

static char *
control_path(void)
{
	return psprintf("%s/aegis_control", aegis_data_directory);
}

/*
 * AegisWalReadControl
 *		Read the control file; false if there is none (a new installation).
 *		Raises ERRCODE_DATA_CORRUPTED if it is damaged: recovery cannot know
 *		where to start, and guessing could lose committed rows.
 */
bool
AegisWalReadControl(AegisLsn *redo, AegisControlState *state)
{
	char	   *path = control_path();
	AegisControlFile cf;
	pg_crc32c	crc;
	int			fd;
	int			r;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis control file \"%s\": %m", path)));
	}
	r = read(fd, &cf, sizeof(cf));
	CloseTransientFile(fd);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &cf, offsetof(AegisControlFile, crc));
	FIN_CRC32C(crc);
	if (r != sizeof(cf) || cf.magic != AEGIS_CONTROL_MAGIC ||
		cf.version != AEGIS_CONTROL_VERSION || !EQ_CRC32C(crc, cf.crc))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis control file \"%s\" is invalid", path),
				 errdetail("Recovery of aegis tables needs the redo position it records."),
				 errhint("Restore the aegis data directory from a backup.")));
	*redo = cf.redo_lsn;
	*state = cf.state;
	pfree(path);
	return true;
}

/*
 * AegisWalWriteControl
 *		Durably replace the control file (temp file, fsync, durable_rename).
 *		Raises the I/O error; the previous control file stays valid then.
 */
void
AegisWalWriteControl(AegisLsn redo, AegisControlState state)
{
	char	   *path = control_path();
	AegisControlFile cf;

	memset(&cf, 0, sizeof(cf));
	cf.magic = AEGIS_CONTROL_MAGIC;
	cf.version = AEGIS_CONTROL_VERSION;
	cf.state = state;
	cf.redo_lsn = redo;
	cf.time = GetCurrentTimestamp();
	INIT_CRC32C(cf.crc);
	COMP_CRC32C(cf.crc, &cf, offsetof(AegisControlFile, crc));
	FIN_CRC32C(cf.crc);

	AegisWriteFileDurably(path, "aegis control file", (const char *) &cf, sizeof(cf),
						  NULL, 0);
	pfree(path);
}

/* Lowest and highest segment numbers in the WAL directory; false if none. */
static bool
segment_range(uint64 *lo, uint64 *hi)
{
	char	   *dir = psprintf("%s/wal", aegis_data_directory);
	DIR		   *d;
	struct dirent *de;
	bool		any = false;

	d = AllocateDir(dir);
	while (d != NULL && (de = ReadDir(d, dir)) != NULL)
	{
		uint64		segno;

		if (!AegisWalParseSegmentName(de->d_name, &segno))
			continue;
		if (!any || segno < *lo)
			*lo = segno;
		if (!any || segno > *hi)
			*hi = segno;
		any = true;
	}
	if (d != NULL)
		FreeDir(d);
	pfree(dir);
	return any;
}

/* Read segment 'segno' into 'buf' (AEGIS_WAL_SEG_SIZE bytes); bytes read. */
static Size
read_segment(uint64 segno, char *buf)
{
	char	   *path = AegisWalSegmentPath(segno);
	int			fd;
	Size		got = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open aegis WAL segment \"%s\": %m", path)));
		pfree(path);
		return 0;
	}
	while (got < AEGIS_WAL_SEG_SIZE)
	{
		ssize_t		r = read(fd, buf + got, AEGIS_WAL_SEG_SIZE - got);

		if (r < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read aegis WAL segment \"%s\": %m", path)));
		if (r == 0)
			break;
		got += r;
	}
	CloseTransientFile(fd);
	pfree(path);
	return got;
}

/*
 * Zero segment bytes after 'end' and remove later segments, so records left
 * beyond the end of the valid WAL are never replayed after new ones are
 * written over the start of that area.
 */
static void
discard_after(AegisLsn end, uint64 hiseg)
{
	uint64		segno = end / AEGIS_WAL_SEG_SIZE;
	char	   *path = AegisWalSegmentPath(segno);
	int			fd;

	fd = OpenTransientFile(path, O_RDWR | PG_BINARY);
	if (fd >= 0)
	{
		static const PGAlignedXLogBlock zeros;
		off_t		off = end % AEGIS_WAL_SEG_SIZE;

		while (off < AEGIS_WAL_SEG_SIZE)
		{
			Size		n = Min(XLOG_BLCKSZ - off % XLOG_BLCKSZ, AEGIS_WAL_SEG_SIZE - off);

			if (pg_pwrite(fd, zeros.data, n, off) != (ssize_t) n)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write aegis WAL segment \"%s\": %m", path)));
			off += n;
		}
		if (pg_fsync(fd) != 0)
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync aegis WAL segment \"%s\": %m", path)));
		CloseTransientFile(fd);
	}
	pfree(path);
	for (uint64 s = segno + 1; s <= hiseg; s++)
	{
		path = AegisWalSegmentPath(s);
		if (unlink(path) != 0 && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove aegis WAL segment \"%s\": %m", path)));
		pfree(path);
	}
}

/* Replay one valid record that starts at 'pos'. */
static void
redo_record(const AegisWalRecord *hdr, const char *payload, AegisLsn pos)
{
	AegisWalStorageRec srec;
	AegisLsn	end = pos + hdr->tot_len;

	if (hdr->type != AEGIS_WAL_PAGE && hdr->type != AEGIS_WAL_PAD)
	{
		if (hdr->tot_len < sizeof(AegisWalRecord) + sizeof(srec))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("aegis WAL record at %X/%08X is too short", AEGIS_LSN_ARGS(pos))));
		memcpy(&srec, payload, sizeof(srec));
	}
	switch (hdr->type)
	{
		case AEGIS_WAL_PAD:
		case AEGIS_WAL_CREATE:
			break;
		case AEGIS_WAL_PAGE:
			AegisWalPageRedo(hdr, payload, end);
			break;
		case AEGIS_WAL_DROP:
			AegisStorageRedoDrop(&srec.key, srec.create_lsn, hdr->xid);
			break;
		case AEGIS_WAL_DROP_DATABASE:
			AegisStorageRedoDropDatabase(srec.key.dbOid, pos, hdr->xid);
			break;
		case AEGIS_WAL_TRUNCATE:
			AegisStorageRedoTruncate(&srec.key, srec.create_lsn);
			break;
		case AEGIS_WAL_EXTEND:
			AegisStorageRedoExtend(&srec.key, srec.create_lsn, srec.npages);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("aegis WAL record at %X/%08X has unknown type %u",
							AEGIS_LSN_ARGS(pos), hdr->type),
					 errhint("The WAL was written by a newer version of aegis_storage.")));
	}
}

/*
 * AegisWalRecover
 *		Replay the WAL from the last checkpoint and settle storage; see the
 *		file header.  Called with checkpoint_lock held and AegisInRecovery
 *		set, after the block maps are loaded.  Raises errors for damage it
 *		cannot get past (a bad block, a damaged control file); the server
 *		keeps running and the next use of an aegis table tries again.
 */
void
AegisWalRecover(void)
{
	AegisLsn	redo;
	AegisControlState state = AEGIS_STATE_SHUTDOWN;
	bool		have_control;
	bool		crashed;
	uint64		loseg = 0,
				hiseg = 0;
	bool		have_segments;
	char	   *seg;
	uint64		cur_segno = 0;
	Size		cur_len = 0;
	bool		loaded = false;
	AegisLsn	pos;
	uint64		records = 0;
	const char *stop = "end of WAL";
	bool		damaged = false;
	TimestampTz start = GetCurrentTimestamp();
	double		ms;

	have_control = AegisWalReadControl(&redo, &state);
	have_segments = segment_range(&loseg, &hiseg);
	if (!have_control)
		redo = have_segments ? loseg * AEGIS_WAL_SEG_SIZE : AEGIS_WAL_FIRST_LSN;
	crashed = have_control ? state != AEGIS_STATE_SHUTDOWN : have_segments;

	seg = palloc(AEGIS_WAL_SEG_SIZE);
	pos = redo;
	for (;;)
	{
		uint64		segno = pos / AEGIS_WAL_SEG_SIZE;
		Size		off = pos % AEGIS_WAL_SEG_SIZE;
		AegisWalRecord hdr;
		pg_crc32c	crc;

		if (AEGIS_WAL_SEG_SIZE - off < sizeof(AegisWalRecord))
		{
			pos = (segno + 1) * AEGIS_WAL_SEG_SIZE;
			continue;
		}
		if (!loaded || segno != cur_segno)
		{
			cur_len = read_segment(segno, seg);
			cur_segno = segno;
			loaded = true;
		}
		if (off + sizeof(AegisWalRecord) > cur_len)
			break;
		memcpy(&hdr, seg + off, sizeof(hdr));
		if (hdr.tot_len == 0 && hdr.lsn == 0)
			break;				/* zeros: the end */
		if (hdr.lsn != pos || hdr.tot_len < sizeof(AegisWalRecord) ||
			hdr.tot_len > AEGIS_WAL_MAX_RECORD + AEGIS_WAL_SEG_SIZE ||
			off + hdr.tot_len > cur_len)
		{
			stop = "invalid record header";
			break;
		}
		{
			/* PAD: the header alone; others: payload (padding included), then header */
			AegisWalRecord h0 = hdr;

			h0.crc = 0;
			INIT_CRC32C(crc);
			if (hdr.type != AEGIS_WAL_PAD)
				COMP_CRC32C(crc, seg + off + sizeof(hdr), hdr.tot_len - sizeof(hdr));
			COMP_CRC32C(crc, &h0, sizeof(h0));
			FIN_CRC32C(crc);
			if (!EQ_CRC32C(crc, hdr.crc))
			{
				AegisWalRecord nexthdr;
				Size		nextoff = off + hdr.tot_len;

				/*
				 * A torn last write ends the WAL; a valid record right after
				 * this one means the WAL was damaged in the middle.
				 */
				stop = "incorrect record checksum";
				if (nextoff + sizeof(nexthdr) <= cur_len)
				{
					memcpy(&nexthdr, seg + nextoff, sizeof(nexthdr));
					damaged = nexthdr.lsn == pos + hdr.tot_len;
				}
				else
					damaged = hiseg > segno;
				break;
			}
		}
		CHECK_FOR_INTERRUPTS();
		redo_record(&hdr, seg + off + sizeof(hdr), pos);
		records++;
		pos += hdr.tot_len;
	}
	pfree(seg);

	if (damaged)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis redo stopped at damaged WAL record at %X/%08X (segment %016llX offset %u): %s",
						AEGIS_LSN_ARGS(pos), (unsigned long long) (pos / AEGIS_WAL_SEG_SIZE),
						(unsigned) (pos % AEGIS_WAL_SEG_SIZE), stop),
				 errdetail("Changes logged after this point are lost; aegis tables hold what was logged before it."),
				 errhint("Restore the aegis data directory from a backup if those changes matter.")));
	else if (crashed || records > 0)
		ereport(LOG,
				(errmsg("aegis redo done at %X/%08X (segment %016llX offset %u): %s",
						AEGIS_LSN_ARGS(pos), (unsigned long long) (pos / AEGIS_WAL_SEG_SIZE),
						(unsigned) (pos % AEGIS_WAL_SEG_SIZE), stop)));

	if (have_segments)
		discard_after(pos, hiseg);
	AegisWalStartAt(pos);
	AegisStorageSettle(crashed);
	AegisStorageCheckpointInternal(false);

	ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
	AegisWalNoteRecovery(ms, records, pos - redo);
	if (crashed || records > 0)
		ereport(LOG,
				(errmsg("aegis recovery complete: %s, " UINT64_FORMAT " records (" UINT64_FORMAT " bytes) replayed in %.0f ms",
						crashed ? "after a crash" : "after a clean shutdown",
						records, pos - redo, ms)));
}
