/*-------------------------------------------------------------------------
 *
 * checkpoint_rmgr.c
 *	  The custom WAL resource manager "aegis_storage": start-up, redo
 *	  dispatch and end of recovery, run by PostgreSQL's startup process.
 *
 * Aegis recovery is PostgreSQL's recovery (DESIGN.md): there is no aegis
 * recovery pass and no aegis control file.
 *
 * - rm_startup, before the first record is replayed: the relation directory
 *   is loaded from the block maps of the local backend.  When the server
 *   starts from a base backup (pg_control names a backup start point), the
 *   maps and data files were copied at different moments, so every map is
 *   rebuilt from the data files instead (the newest valid block of each
 *   page; blocks are never overwritten, so the copy holds every block the
 *   backup's checkpoint made durable, src/checkpoint/README).
 * - rm_redo replays aegis records from PostgreSQL's redo pointer: page
 *   changes (wal_page.c), storage lifecycle (wal_storage.c), blocks that
 *   compaction moved (only while a restored base backup is not yet
 *   consistent: its copy may lack both the old and the new generation),
 *   and aegis checkpoint records, whose redo makes the aegis pages replayed so far
 *   durable and settles committed drops, so a standby's restartpoint at
 *   the PostgreSQL checkpoint record that follows never needs WAL before
 *   it.
 * - rm_cleanup, at the end of recovery: storage no transaction left alive
 *   is dropped (creators that never committed, committed drops) and every
 *   aegis page is made durable, because the end-of-recovery checkpoint
 *   that follows runs before the checkpoint guards start.
 *
 * Unlogged relations are emptied after a crash by comparing them with
 * their PostgreSQL stub, which PostgreSQL resets (src/tam/tam_ddl.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/clog.h"

#include "access/rmgr.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/checkpoint.h"
#include "aegis/wal.h"
#include "catalog/pg_control.h"
#include "commands/dbcommands_xlog.h"
#include "checkpoint_internal.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

static MemoryContext redo_cxt = NULL;
static bool restoring = false;	/* this recovery started from a base backup */
static uint64 redo_records = 0;
static uint64 redo_bytes = 0;
static TimestampTz redo_start = 0;

static void
aegis_rm_startup(void)
{
	bool		rebuild = AegisStorageRestoringBackup();

	restoring = rebuild;

	redo_cxt = AllocSetContextCreate(TopMemoryContext, "aegis redo",
									 ALLOCSET_DEFAULT_SIZES);
	redo_records = 0;
	redo_bytes = 0;
	(void) AegisWalRedoSkippedCut(true);
	redo_start = GetCurrentTimestamp();
	if (rebuild)
		ereport(LOG,
				(errmsg("aegis: starting from a base backup, rebuilding block maps from the data files")));
	AegisStorageLoad(rebuild);
}

/*
 * An aegis checkpoint record: the primary made its aegis state durable up
 * to its redo pointer.  Settle drops known to have committed (the pages
 * are made durable at the PostgreSQL checkpoint record that follows, see
 * aegis_xlog_redo).
 */
static void
redo_checkpoint(XLogReaderState *record)
{
	if (XLogRecGetDataLen(record) != sizeof(xl_aegis_checkpoint))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis WAL record at %X/%X has an invalid length",
						LSN_FORMAT_ARGS(record->ReadRecPtr))));
	XLogFlush(record->EndRecPtr);
	AegisCheckpointSettle(false);
}

/*
 * PostgreSQL's own XLOG redo, wrapped (AegisRegisterRmgr).  A standby or an
 * archive recovery may create a restartpoint at any checkpoint record it
 * replays (RecoveryRestartPoint, called from xlog_redo), and restartpoints
 * wait for nobody: so before such a record is replayed, every aegis change
 * replayed so far is made durable here, in the startup process.  This
 * holds whoever wrote the checkpoint record, the end-of-recovery one of a
 * primary that crashed included.
 */
static void (*xlog_redo_prev) (XLogReaderState *record) = NULL;

static void
aegis_xlog_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	if ((info == XLOG_CHECKPOINT_SHUTDOWN || info == XLOG_CHECKPOINT_ONLINE) &&
		ArchiveRecoveryRequested && redo_cxt != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(redo_cxt);
		CheckPoint	checkpoint;

		memcpy(&checkpoint, XLogRecGetData(record), sizeof(CheckPoint));
		/* drops run after the WAL up to here is durable, as xact_redo_commit */
		XLogFlush(record->EndRecPtr);
		AegisCheckpointSettle(false);
		AegisCheckpointRun(checkpoint.redo, false);
		MemoryContextSwitchTo(old);
		MemoryContextReset(redo_cxt);
	}
	xlog_redo_prev(record);
}

/*
 * PostgreSQL's commit-log redo is wrapped too: before a truncation of the
 * commit log is replayed, storage whose dropper committed is dropped while
 * the commit log still says so (a standby settles otherwise only at aegis
 * checkpoint records, and a drop mark older than the commit log is never
 * taken for committed), and stale marks are cleared.
 */
static void (*clog_redo_prev) (XLogReaderState *record) = NULL;

static void
aegis_clog_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	if (info == CLOG_TRUNCATE && redo_cxt != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(redo_cxt);

		/* drops run after the WAL up to here is durable, as xact_redo_commit */
		XLogFlush(record->EndRecPtr);
		AegisCheckpointSettle(false);
		MemoryContextSwitchTo(old);
		MemoryContextReset(redo_cxt);
	}
	clog_redo_prev(record);
}

/*
 * PostgreSQL's database redo, wrapped too.  Aegis files live in the
 * database directories (backend_local.c), which the redo of CREATE
 * DATABASE ... STRATEGY FILE_COPY empties and refills with a copy of the
 * template's directory: before it, the new database's aegis storage
 * (loaded at the start of recovery, or made by records replayed since) is
 * dropped with its buffers, as the database's directory is (every aegis
 * record of the new database follows its copy records: AegisCopyDatabase-
 * Storage runs after createdb); after it, the template's aegis files the
 * copy brought along are removed.  ALTER DATABASE ... SET TABLESPACE logs
 * a copy of a database onto itself and a drop of its old directory: aegis
 * refuses it while aegis files are in that directory (tam_options.c), so
 * neither touches aegis storage.  The drop of a database is settled by the
 * aegis record logged when DROP DATABASE commits (wal_storage.c).
 */
static void (*dbase_redo_prev) (XLogReaderState *record) = NULL;

static void
aegis_dbase_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	Oid			db = InvalidOid;

	if (info == XLOG_DBASE_CREATE_FILE_COPY)
	{
		xl_dbase_create_file_copy_rec *rec =
			(xl_dbase_create_file_copy_rec *) XLogRecGetData(record);

		if (rec->src_db_id != rec->db_id)
			db = rec->db_id;	/* CREATE DATABASE, not a move */
	}
	if (OidIsValid(db))
	{
		AegisBufferDropDatabase(db);
		AegisStorageDropDatabase(db);
	}
	dbase_redo_prev(record);
	if (OidIsValid(db))
		AegisLocalCleanDatabaseCopy(db);
}

static void
aegis_rm_redo(XLogReaderState *record)
{
	uint8		op = XLogRecGetInfo(record) & XLOG_AEGIS_OPMASK;
	MemoryContext old;

	if (redo_cxt == NULL)
		aegis_rm_startup();
	old = MemoryContextSwitchTo(redo_cxt);
	switch (op)
	{
		case XLOG_AEGIS_RESERVE_XIDS:
			{
				TransactionId upto;

				/* written by the build that kept its own WAL files */
				memcpy(&upto, XLogRecGetData(record), sizeof(upto));
				AdvanceNextFullTransactionIdPastXid(upto);
				break;
			}
		case XLOG_AEGIS_PAGE:
		case XLOG_AEGIS_PAGE_PACKED:
			AegisWalPageRedo(record, restoring && !reachedConsistency);
			break;
		case XLOG_AEGIS_CREATE:
		case XLOG_AEGIS_DROP:
		case XLOG_AEGIS_DROP_DATABASE:
		case XLOG_AEGIS_TRUNCATE:
		case XLOG_AEGIS_SHRINK:
		case XLOG_AEGIS_EMPTY:
		case XLOG_AEGIS_STUB_TRIM:
		case XLOG_AEGIS_STUB:
			AegisWalStorageRedo(record);
			break;
		case XLOG_AEGIS_CHECKPOINT:
			redo_checkpoint(record);
			break;
		case XLOG_AEGIS_LOGICAL:
			/* for logical decoding only (wal_logical.c) */
			break;
		case XLOG_AEGIS_DICTIONARY:
			AegisWalDictRedo(record);
			break;
		case XLOG_AEGIS_REL_INFO:
			AegisWalRelInfoRedo(record);
			break;
		case XLOG_AEGIS_IMAGE:

			/*
			 * A block compaction moved: only a base backup can lack it, and
			 * only until it is consistent (the copy is complete by then).
			 */
			if (restoring && !reachedConsistency)
				AegisWalImageRedo(record);
			break;
		default:
			ereport(PANIC,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("aegis WAL record at %X/%X has unknown type 0x%02X",
							LSN_FORMAT_ARGS(record->ReadRecPtr), op),
					 errhint("The WAL was written by a newer version of aegis_storage.")));
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(redo_cxt);
	redo_records++;
	redo_bytes += XLogRecGetTotalLen(record);
}

static void
aegis_rm_cleanup(void)
{
	double		ms;

	if (redo_cxt == NULL)
		aegis_rm_startup();
	XLogFlush(GetXLogReplayRecPtr(NULL));
	AegisCheckpointSettle(true);
	AegisCheckpointRun(GetXLogReplayRecPtr(NULL), false);
	ms = (double) (GetCurrentTimestamp() - redo_start) / 1000.0;
	SpinLockAcquire(&AegisCkpt->mutex);
	AegisCkpt->last_recovery_ms = ms;
	AegisCkpt->recovery_records = redo_records;
	AegisCkpt->recovery_bytes = redo_bytes;
	SpinLockRelease(&AegisCkpt->mutex);
	if (redo_records > 0)
	{
		uint64		skipped = AegisWalRedoSkippedCut(false);

		if (skipped > 0)
			ereport(LOG,
					(errmsg("aegis recovery complete: " UINT64_FORMAT " aegis records (" UINT64_FORMAT " bytes) replayed, %.0f ms from start of redo",
							redo_records, redo_bytes, ms),
					 errdetail(UINT64_FORMAT " page records were skipped: their pages were cut later (VACUUM truncation or TRUNCATE).",
							   skipped)));
		else
			ereport(LOG,
					(errmsg("aegis recovery complete: " UINT64_FORMAT " aegis records (" UINT64_FORMAT " bytes) replayed, %.0f ms from start of redo",
							redo_records, redo_bytes, ms)));
	}
	MemoryContextDelete(redo_cxt);
	redo_cxt = NULL;
}

static void
aegis_rm_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		op = XLogRecGetInfo(record) & XLOG_AEGIS_OPMASK;

	switch (op)
	{
		case XLOG_AEGIS_RESERVE_XIDS:
			{
				TransactionId upto;

				memcpy(&upto, XLogRecGetData(record), sizeof(upto));
				appendStringInfo(buf, "xids up to %u", upto);
				break;
			}
		case XLOG_AEGIS_PAGE:
		case XLOG_AEGIS_PAGE_PACKED:
			AegisWalPageDesc(buf, record);
			break;
		case XLOG_AEGIS_IMAGE:
			AegisWalImageDesc(buf, record);
			break;
		case XLOG_AEGIS_LOGICAL:
			AegisWalLogicalDesc(buf, record);
			break;
		case XLOG_AEGIS_DICTIONARY:
			AegisWalDictDesc(buf, record);
			break;
		case XLOG_AEGIS_REL_INFO:
			AegisWalRelInfoDesc(buf, record);
			break;
		case XLOG_AEGIS_CHECKPOINT:
			{
				xl_aegis_checkpoint xlrec;

				memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
				appendStringInfo(buf, "redo %X/%X", LSN_FORMAT_ARGS(xlrec.redo));
				break;
			}
		default:
			AegisWalStorageDesc(buf, record);
	}
}

static const char *
aegis_rm_identify(uint8 info)
{
	switch (info & XLOG_AEGIS_OPMASK)
	{
		case XLOG_AEGIS_RESERVE_XIDS:
			return "RESERVE_XIDS";
		case XLOG_AEGIS_PAGE:
			return "PAGE_WIDE";
		case XLOG_AEGIS_PAGE_PACKED:
			return "PAGE";
		case XLOG_AEGIS_CREATE:
			return "CREATE";
		case XLOG_AEGIS_DROP:
			return "DROP";
		case XLOG_AEGIS_DROP_DATABASE:
			return "DROP_DATABASE";
		case XLOG_AEGIS_TRUNCATE:
			return "TRUNCATE";
		case XLOG_AEGIS_CHECKPOINT:
			return "CHECKPOINT";
		case XLOG_AEGIS_STUB:
			return "STUB";
		case XLOG_AEGIS_SHRINK:
			return "SHRINK";
		case XLOG_AEGIS_STUB_TRIM:
			return "STUB_TRIM";
		case XLOG_AEGIS_EMPTY:
			return "EMPTY";
		case XLOG_AEGIS_IMAGE:
			return "IMAGE";
		case XLOG_AEGIS_LOGICAL:
			return "LOGICAL";
		case XLOG_AEGIS_DICTIONARY:
			return "DICTIONARY";
		case XLOG_AEGIS_REL_INFO:
			return "REL_INFO";
	}
	return NULL;
}

static RmgrData aegis_rmgr = {
	.rm_name = "aegis_storage",
	.rm_redo = aegis_rm_redo,
	.rm_desc = aegis_rm_desc,
	.rm_identify = aegis_rm_identify,
	.rm_startup = aegis_rm_startup,
	.rm_cleanup = aegis_rm_cleanup,
	.rm_decode = AegisWalLogicalDecode,
};

/*
 * AegisRegisterRmgr
 *		Register the custom WAL resource manager (id AEGIS_RMGR_ID); from
 *		_PG_init while shared_preload_libraries are loaded.  PostgreSQL
 *		refuses to start if another extension registered the same id, and
 *		cannot replay aegis records without this library preloaded.  Also
 *		wraps PostgreSQL's XLOG redo (aegis_xlog_redo), so replay makes aegis
 *		pages durable before any checkpoint record, its commit-log redo
 *		(aegis_clog_redo) and its database redo (aegis_dbase_redo); the table is writable in
 *		PostgreSQL 15 because custom resource managers are entered in it.
 */
void
AegisRegisterRmgr(void)
{
	RegisterCustomRmgr(AEGIS_RMGR_ID, &aegis_rmgr);
	xlog_redo_prev = RmgrTable[RM_XLOG_ID].rm_redo;
	RmgrTable[RM_XLOG_ID].rm_redo = aegis_xlog_redo;
	clog_redo_prev = RmgrTable[RM_CLOG_ID].rm_redo;
	RmgrTable[RM_CLOG_ID].rm_redo = aegis_clog_redo;
	dbase_redo_prev = RmgrTable[RM_DBASE_ID].rm_redo;
	RmgrTable[RM_DBASE_ID].rm_redo = aegis_dbase_redo;
}
