/*-------------------------------------------------------------------------
 *
 * wal_storage.c
 *	  WAL records of the storage lifecycle (CREATE, DROP, DROP DATABASE,
 *	  in-place TRUNCATE, PostgreSQL stub extension), and their redo.
 *
 * The relation directory (src/backend) creates, truncates and drops
 * storage; this file logs those events in PostgreSQL's WAL stream and
 * replays them, so a crash, a streaming standby and a restored base backup
 * all end up with the storage the primary had (DESIGN.md invariant 7):
 *
 * - CREATE: logged before the storage exists; its end LSN is the storage's
 *   incarnation (create_lsn) and its xid the creator.  Redo creates the
 *   storage, or, if its block map was rebuilt from data files (incarnation
 *   unknown), adopts it; storage of an older incarnation still present is
 *   the leftover of a drop that committed, and goes first.
 * - DROP / DROP DATABASE: logged at pre-commit of the dropping transaction,
 *   before its commit record.  The storage goes when the transaction
 *   commits: at run time right after the commit record, in recovery when
 *   the commit is known (AegisStorageShouldDrop, applied at every aegis
 *   checkpoint record and at the end of recovery, src/checkpoint).
 * - TRUNCATE: storage emptied in place (a table created in the same
 *   transaction); redo empties it too.
 * - STUB: the PostgreSQL storage stub was extended to cover N pages
 *   (invariant 2); redo extends it, so a standby's and a recovered
 *   server's stubs cover their relations too.
 * - STUB_TRIM: at the end of a statement and before commit, a stub grown
 *   by chunks is cut to the relation's pages (src/page/page_space.c), so
 *   pg_relation_size is exact.
 * - EMPTY: before it cuts them, VACUUM clears the map bits of the pages
 *   it will cut and makes them new, empty pages (src/tam/tam_vacuum.c).
 * - SHRINK: VACUUM cut empty trailing pages (src/tam/tam_vacuum.c): the
 *   storage, the stub's visibility map and the stub's main fork, in one
 *   record, as RelationTruncate's XLOG_SMGR_TRUNCATE does for heap.
 *
 * Temporary relations write no WAL.  Records of other types are in
 * wal_page.c; the resource manager that dispatches redo is
 * src/checkpoint/checkpoint_rmgr.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "access/xlogutils.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/wal.h"
#include "storage/smgr.h"
#include "utils/memutils.h"

/*
 * Databases whose DROP DATABASE record was replayed, with the dropping xid:
 * their aegis storage goes once the drop is known to have committed
 * (AegisWalSettleDatabases).  Startup process memory; redo of one record at
 * a time appends to it.
 */
typedef struct DroppedDatabase
{
	Oid			dbOid;
	TransactionId xid;
} DroppedDatabase;

static List *dropped_databases = NIL;

/* Insert one storage record of 'info' with 'len' bytes of 'data'. */
static XLogRecPtr
log_storage(uint8 info, const void *data, Size len)
{
	XLogRecPtr	end;

	AegisWalWaitGuarded();
	XLogBeginInsert();
	XLogRegisterData((char *) data, len);
	end = XLogInsert(AEGIS_RMGR_ID, info);
	AegisWalCount(len, false, false);
	return end;
}

/*
 * AegisWalLogCreate
 *		Log the creation of storage 'key' and return the record's end LSN,
 *		the storage's incarnation.  The record carries the current
 *		(sub)transaction's xid, which must be assigned.
 */
XLogRecPtr
AegisWalLogCreate(const AegisRelKey *key, AegisStorageKind storage, AegisCodec codec,
				  int level, char persistence)
{
	xl_aegis_create xlrec;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.storage = (uint8) storage;
	xlrec.codec = (uint8) codec;
	xlrec.level = (int16) level;
	xlrec.persistence = persistence;
	return log_storage(XLOG_AEGIS_CREATE, &xlrec, sizeof(xlrec));
}

/*
 * A DROP, DROP_DATABASE or TRUNCATE record of 'key' (incarnation
 * create_lsn); returns its end LSN.
 */
static XLogRecPtr
log_storage_op(uint8 info, const AegisRelKey *key, XLogRecPtr create_lsn)
{
	xl_aegis_storage xlrec;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.create_lsn = create_lsn;
	return log_storage(info, &xlrec, sizeof(xlrec));
}

/* AegisWalLogDrop: 'key' (incarnation 'create_lsn') goes if we commit. */
void
AegisWalLogDrop(const AegisRelKey *key, XLogRecPtr create_lsn)
{
	(void) log_storage_op(XLOG_AEGIS_DROP, key, create_lsn);
}

/* AegisWalLogDropDatabase: the storage of database 'dbOid' goes if we commit. */
void
AegisWalLogDropDatabase(Oid dbOid)
{
	AegisRelKey key = {InvalidOid, dbOid, InvalidOid};

	(void) log_storage_op(XLOG_AEGIS_DROP_DATABASE, &key, InvalidXLogRecPtr);
}

/*
 * AegisWalLogTruncate: 'key' is emptied in place; returns the record's end
 * LSN (the cut LSN, AegisStorageTruncate).  Not flushed: the relation was
 * created in this transaction, which only its commit makes durable.
 */
XLogRecPtr
AegisWalLogTruncate(const AegisRelKey *key, XLogRecPtr create_lsn)
{
	return log_storage_op(XLOG_AEGIS_TRUNCATE, key, create_lsn);
}

/* A STUB or STUB_TRIM record of the stub of 'node' and 'npages'. */
static void
log_stub(uint8 info, const RelFileNode *node, BlockNumber npages)
{
	xl_aegis_stub xlrec;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.node = *node;
	xlrec.npages = npages;
	(void) log_storage(info, &xlrec, sizeof(xlrec));
}

/* AegisWalLogStub: the stub of 'node' now covers 'npages' pages. */
void
AegisWalLogStub(const RelFileNode *node, BlockNumber npages)
{
	log_stub(XLOG_AEGIS_STUB, node, npages);
}

/*
 * AegisWalLogStubTrim
 *		The stub of 'node' is cut to 'npages' pages, the relation's (it grew
 *		by chunks during the statement).  Not flushed: a stub longer than
 *		the relation is harmless, so a lost record loses nothing.
 */
void
AegisWalLogStubTrim(const RelFileNode *node, BlockNumber npages)
{
	log_stub(XLOG_AEGIS_STUB_TRIM, node, npages);
}

/*
 * AegisWalSameIncarnation: does a record about incarnation 'create_lsn' concern storage of
 * incarnation 'have'?  Storage whose map was rebuilt from its data files
 * has an unknown incarnation (0), here or where the record was written:
 * records of its key concern it.
 */
bool
AegisWalSameIncarnation(XLogRecPtr have, XLogRecPtr create_lsn)
{
	return have == create_lsn || have == InvalidXLogRecPtr ||
		create_lsn == InvalidXLogRecPtr;
}

/* Redo of CREATE. */
static void
redo_create(XLogReaderState *record, const xl_aegis_create *xlrec)
{
	AegisRelInfo info;
	XLogRecPtr	create_lsn = record->EndRecPtr;
	TransactionId xid = XLogRecGetXid(record);

	if (AegisStorageGetInfo(&xlrec->key, &info))
	{
		if (info.create_lsn == create_lsn)
			return;
		/*
		 * Storage of unknown incarnation (rebuilt from data files) is this
		 * relation's, unless a drop of its key has committed: then it is
		 * the leftover of an older incarnation, as is storage of a known
		 * older one, and goes first.
		 */
		if (!AegisStorageShouldDrop(&info, false) &&
			AegisStorageAdopt(&xlrec->key, xlrec->codec, xlrec->level,
							  xlrec->persistence, create_lsn, xid))
			return;
		/* files go only once the WAL up to here is durable */
		XLogFlush(record->EndRecPtr);
		AegisBufferDropRelation(&xlrec->key);
		AegisStorageDrop(&xlrec->key);
	}
	AegisStorageCreate(&xlrec->key, (AegisStorageKind) xlrec->storage,
					   (AegisCodec) xlrec->codec, xlrec->level,
					   xlrec->persistence, create_lsn, xid);
}

/* Redo of STUB: extend the stub, creating it if needed (md.c is redo-safe). */
static void
redo_stub(const xl_aegis_stub *xlrec)
{
	SMgrRelation srel = smgropen(xlrec->node, InvalidBackendId);
	PGAlignedBlock zero;

	smgrcreate(srel, MAIN_FORKNUM, true);
	if (xlrec->npages > 0 && smgrnblocks(srel, MAIN_FORKNUM) < xlrec->npages)
	{
		memset(zero.data, 0, BLCKSZ);
		smgrextend(srel, MAIN_FORKNUM, xlrec->npages - 1, zero.data, false);
	}
}

/*
 * AegisWalLogShrink
 *		Log and flush the SHRINK record 'xlrec' (VACUUM cuts empty trailing
 *		pages).  Called by AegisStorageShrink under sync_lock, inside the
 *		caller's critical section, after the caller passed
 *		AegisWalCheckGuarded.  Flushed at once: nothing may be cut before
 *		its record is durable, as RelationTruncate flushes its record.
 *		Returns the record's end LSN (the cut LSN).  Not marked
 *		XLR_SPECIAL_REL_UPDATE: pg_rewind would refuse the whole WAL range
 *		(it stops at such a record of a resource manager it does not know),
 *		and it copies a stub whose size differs anyway.
 */
XLogRecPtr
AegisWalLogShrink(const xl_aegis_shrink *xlrec)
{
	XLogRecPtr	end;

	XLogBeginInsert();
	XLogRegisterData((char *) xlrec, sizeof(*xlrec));
	end = XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_SHRINK);
	AegisWalCount(sizeof(*xlrec), false, false);
	XLogFlush(end);
	return end;
}

/*
 * AegisStubTruncate
 *		Cut the stub 'srel': its main fork to 'main_pages' and its
 *		visibility map fork to 'vm_pages' (as visibilitymap_prepare_truncate
 *		returned it); InvalidBlockNumber leaves that fork alone.  Drops
 *		PostgreSQL's buffers of the cut blocks (smgrtruncate).  Used by
 *		VACUUM inside its critical section and by redo of SHRINK.
 */
void
AegisStubTruncate(SMgrRelation srel, BlockNumber main_pages, BlockNumber vm_pages)
{
	ForkNumber	forks[2];
	BlockNumber blocks[2];
	int			n = 0;

	if (BlockNumberIsValid(main_pages))
	{
		forks[n] = MAIN_FORKNUM;
		blocks[n++] = main_pages;
	}
	if (BlockNumberIsValid(vm_pages))
	{
		forks[n] = VISIBILITYMAP_FORKNUM;
		blocks[n++] = vm_pages;
	}
	if (n > 0)
		smgrtruncate(srel, forks, n, blocks);
}

/*
 * AegisWalLogEmpty
 *		Log that pages [from, to) of 'key' (incarnation 'create_lsn', stub in
 *		tablespace 'vm_spc') lose their visibility map bits and become new,
 *		empty pages before VACUUM cuts them; returns the record's end LSN,
 *		which the caller stamps on them (AegisBufferWriteEmpty), so their
 *		write-back flushes the record first.  The caller holds
 *		DELAY_CHKPT_START until the pages are changed, as for a page record.
 */
XLogRecPtr
AegisWalLogEmpty(const AegisRelKey *key, XLogRecPtr create_lsn, BlockNumber from,
				 BlockNumber to, Oid vm_spc)
{
	xl_aegis_empty xlrec;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.key = *key;
	xlrec.create_lsn = create_lsn;
	xlrec.from = from;
	xlrec.to = to;
	xlrec.vm_spc = vm_spc;
	return log_storage(XLOG_AEGIS_EMPTY, &xlrec, sizeof(xlrec));
}

/*
 * Redo of EMPTY: the same pages of the same incarnation, if it has them,
 * their map bits first (as heap's redo clears them whatever the page's LSN).
 */
static void
redo_empty(XLogReaderState *record, const xl_aegis_empty *xlrec)
{
	AegisRelInfo info;
	RelFileNode node;
	Relation	fake;
	BlockNumber to;

	if (!AegisStorageGetInfo(&xlrec->key, &info) ||
		!AegisWalSameIncarnation(info.create_lsn, xlrec->create_lsn) ||
		info.create_lsn > record->ReadRecPtr)
		return;
	to = Min(xlrec->to, info.npages);
	node.spcNode = xlrec->vm_spc;
	node.dbNode = xlrec->key.dbOid;
	node.relNode = xlrec->key.relNumber;
	fake = CreateFakeRelcacheEntry(node);
	AegisVmClearRange(fake, xlrec->from, to);
	FreeFakeRelcacheEntry(fake);
	AegisBufferWriteEmpty(&xlrec->key, xlrec->from, to, record->EndRecPtr);
}

/* The AegisCutLogger of redo: the replayed record's end LSN at 'arg'. */
static XLogRecPtr
replayed_cut(void *arg)
{
	return *(const XLogRecPtr *) arg;
}

/* A replayed TRUNCATE: its storage and end LSN. */
typedef struct ReplayedTruncate
{
	AegisRelKey key;
	XLogRecPtr	end;
} ReplayedTruncate;

/*
 * The AegisCutLogger of a replayed TRUNCATE: the pages leave the buffer
 * pool under sync_lock, as on the primary (tam_ddl.c, log_truncate).
 */
static XLogRecPtr
replayed_truncate(void *arg)
{
	ReplayedTruncate *t = (ReplayedTruncate *) arg;

	AegisBufferDropRelation(&t->key);
	return t->end;
}

/*
 * Redo of SHRINK: write back and drop the cut pages' buffers, cut the
 * storage if it is the incarnation the record names, then the stub's main
 * fork (only if longer) and its visibility map, as smgr_redo does.
 */
static void
redo_shrink(XLogReaderState *record, const xl_aegis_shrink *xlrec)
{
	AegisRelInfo info;
	SMgrRelation srel;
	Relation	fake;
	BlockNumber main_pages = InvalidBlockNumber;
	BlockNumber vm_pages = InvalidBlockNumber;

	/* once cut there is no going back: the WAL up to here first */
	XLogFlush(record->EndRecPtr);
	if (AegisStorageGetInfo(&xlrec->key, &info) &&
		AegisWalSameIncarnation(info.create_lsn, xlrec->create_lsn))
	{
		AegisBufferFlushRelationFrom(&xlrec->key, xlrec->npages);
		AegisBufferDropRelationFrom(&xlrec->key, xlrec->npages);
		AegisStorageShrink(&xlrec->key, xlrec->npages, replayed_cut, &record->EndRecPtr);
	}
	srel = smgropen(xlrec->node, InvalidBackendId);
	if (smgrexists(srel, MAIN_FORKNUM) &&
		smgrnblocks(srel, MAIN_FORKNUM) > xlrec->stub_pages)
		main_pages = xlrec->stub_pages;
	if (smgrexists(srel, VISIBILITYMAP_FORKNUM))
	{
		fake = CreateFakeRelcacheEntry(xlrec->node);
		vm_pages = visibilitymap_prepare_truncate(fake, xlrec->npages);
		FreeFakeRelcacheEntry(fake);
	}
	AegisStubTruncate(srel, main_pages, vm_pages);
}

/* Redo of STUB_TRIM: cut the stub's main fork if it is longer. */
static void
redo_stub_trim(XLogReaderState *record, const xl_aegis_stub *xlrec)
{
	SMgrRelation srel = smgropen(xlrec->node, InvalidBackendId);
	ForkNumber	fork = MAIN_FORKNUM;
	BlockNumber npages = xlrec->npages;

	if (!smgrexists(srel, MAIN_FORKNUM) || smgrnblocks(srel, MAIN_FORKNUM) <= npages)
		return;
	/* as smgr_redo: the minimum recovery point covers the cut first */
	XLogFlush(record->EndRecPtr);
	smgrtruncate(srel, &fork, 1, &npages);
}

/*
 * AegisWalStorageRedo
 *		Replay a storage record (startup process).  Raises
 *		ERRCODE_DATA_CORRUPTED for a malformed one.
 */
void
AegisWalStorageRedo(XLogReaderState *record)
{
	uint8		op = XLogRecGetInfo(record) & XLOG_AEGIS_OPMASK;
	char	   *data = XLogRecGetData(record);
	Size		len = XLogRecGetDataLen(record);
	Size		want;
	xl_aegis_storage srec;
	AegisRelInfo info;
	XLogRecPtr	create_lsn;

	want = op == XLOG_AEGIS_CREATE ? sizeof(xl_aegis_create) :
		(op == XLOG_AEGIS_STUB || op == XLOG_AEGIS_STUB_TRIM) ? sizeof(xl_aegis_stub) :
		op == XLOG_AEGIS_SHRINK ? sizeof(xl_aegis_shrink) :
		op == XLOG_AEGIS_EMPTY ? sizeof(xl_aegis_empty) : sizeof(xl_aegis_storage);
	if (len != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis WAL record at %X/%X has length %zu, not %zu",
						LSN_FORMAT_ARGS(record->ReadRecPtr), len, want)));

	switch (op)
	{
		case XLOG_AEGIS_CREATE:
			{
				xl_aegis_create xlrec;

				memcpy(&xlrec, data, sizeof(xlrec));
				redo_create(record, &xlrec);
				break;
			}
		case XLOG_AEGIS_STUB:
			{
				xl_aegis_stub xlrec;

				memcpy(&xlrec, data, sizeof(xlrec));
				redo_stub(&xlrec);
				break;
			}
		case XLOG_AEGIS_STUB_TRIM:
			{
				xl_aegis_stub xlrec;

				memcpy(&xlrec, data, sizeof(xlrec));
				redo_stub_trim(record, &xlrec);
				break;
			}
		case XLOG_AEGIS_SHRINK:
			{
				xl_aegis_shrink xlrec;

				memcpy(&xlrec, data, sizeof(xlrec));
				redo_shrink(record, &xlrec);
				break;
			}
		case XLOG_AEGIS_EMPTY:
			{
				xl_aegis_empty xlrec;

				memcpy(&xlrec, data, sizeof(xlrec));
				redo_empty(record, &xlrec);
				break;
			}
		case XLOG_AEGIS_DROP:
			memcpy(&srec, data, sizeof(srec));
			if (AegisStorageGetInfo(&srec.key, &info) &&
				AegisWalSameIncarnation(info.create_lsn, srec.create_lsn))
				(void) AegisStorageMarkDrop(&srec.key, XLogRecGetXid(record), &create_lsn);
			break;
		case XLOG_AEGIS_DROP_DATABASE:
			{
				DroppedDatabase *d;
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				memcpy(&srec, data, sizeof(srec));
				AegisStorageMarkDropDatabase(srec.key.dbOid, XLogRecGetXid(record),
											 record->ReadRecPtr);
				d = palloc(sizeof(DroppedDatabase));
				d->dbOid = srec.key.dbOid;
				d->xid = XLogRecGetXid(record);
				dropped_databases = lappend(dropped_databases, d);
				MemoryContextSwitchTo(old);
				break;
			}
		case XLOG_AEGIS_TRUNCATE:
			memcpy(&srec, data, sizeof(srec));
			if (AegisStorageGetInfo(&srec.key, &info) &&
				AegisWalSameIncarnation(info.create_lsn, srec.create_lsn))
			{
				ReplayedTruncate t;

				XLogFlush(record->EndRecPtr);
				t.key = srec.key;
				t.end = record->EndRecPtr;
				AegisStorageTruncate(&srec.key, replayed_truncate, &t);
			}
			break;
	}
}

/*
 * AegisWalSettleDatabases
 *		Remove the aegis storage and directory of every database whose
 *		replayed DROP DATABASE is known to have committed; at the end of
 *		recovery ('end_of_recovery') forget the drops that did not.  Called
 *		by the startup process where it settles relations (src/checkpoint).
 */
void
AegisWalSettleDatabases(bool end_of_recovery)
{
	ListCell   *lc;

	foreach(lc, dropped_databases)
	{
		DroppedDatabase *d = (DroppedDatabase *) lfirst(lc);

		if (TransactionIdDidCommit(d->xid))
		{
			AegisBufferDropDatabase(d->dbOid);
			AegisStorageDropDatabase(d->dbOid);
		}
		else if (!end_of_recovery && !TransactionIdDidAbort(d->xid))
			continue;
		dropped_databases = foreach_delete_current(dropped_databases, lc);
		pfree(d);
	}
}

/* AegisWalStorageDesc: rm_desc of a storage record. */
void
AegisWalStorageDesc(StringInfo buf, XLogReaderState *record)
{
	uint8		op = XLogRecGetInfo(record) & XLOG_AEGIS_OPMASK;
	char	   *data = XLogRecGetData(record);
	Size		len = XLogRecGetDataLen(record);

	if (op == XLOG_AEGIS_CREATE && len == sizeof(xl_aegis_create))
	{
		xl_aegis_create xlrec;

		memcpy(&xlrec, data, sizeof(xlrec));
		appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT "; %s, %s level %d, persistence %c",
						 AEGIS_REL_KEY_ARGS(&xlrec.key),
						 AegisStorageKindName(xlrec.storage), AegisCodecName(xlrec.codec),
						 xlrec.level, xlrec.persistence);
	}
	else if ((op == XLOG_AEGIS_STUB || op == XLOG_AEGIS_STUB_TRIM) &&
			 len == sizeof(xl_aegis_stub))
	{
		xl_aegis_stub xlrec;

		memcpy(&xlrec, data, sizeof(xlrec));
		appendStringInfo(buf, op == XLOG_AEGIS_STUB ? "stub %u/%u/%u covers %u pages" :
						 "stub %u/%u/%u cut to %u pages",
						 xlrec.node.spcNode, xlrec.node.dbNode, xlrec.node.relNode,
						 xlrec.npages);
	}
	else if (op == XLOG_AEGIS_EMPTY && len == sizeof(xl_aegis_empty))
	{
		xl_aegis_empty xlrec;

		memcpy(&xlrec, data, sizeof(xlrec));
		appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT "; created at %X/%X; pages %u to %u made empty",
						 AEGIS_REL_KEY_ARGS(&xlrec.key), LSN_FORMAT_ARGS(xlrec.create_lsn),
						 xlrec.from, xlrec.to - 1);
	}
	else if (op == XLOG_AEGIS_SHRINK && len == sizeof(xl_aegis_shrink))
	{
		xl_aegis_shrink xlrec;

		memcpy(&xlrec, data, sizeof(xlrec));
		appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT "; created at %X/%X; keeps %u pages; stub %u/%u/%u cut to %u pages",
						 AEGIS_REL_KEY_ARGS(&xlrec.key), LSN_FORMAT_ARGS(xlrec.create_lsn),
						 xlrec.npages, xlrec.node.spcNode, xlrec.node.dbNode,
						 xlrec.node.relNode, xlrec.stub_pages);
	}
	else if (len == sizeof(xl_aegis_storage))
	{
		xl_aegis_storage xlrec;

		memcpy(&xlrec, data, sizeof(xlrec));
		if (op == XLOG_AEGIS_DROP_DATABASE)
			appendStringInfo(buf, "database %u", xlrec.key.dbOid);
		else
			appendStringInfo(buf, "rel " AEGIS_REL_KEY_FMT "; created at %X/%X",
							 AEGIS_REL_KEY_ARGS(&xlrec.key), LSN_FORMAT_ARGS(xlrec.create_lsn));
	}
}
