/*-------------------------------------------------------------------------
 *
 * tam_ddl.c
 *	  Storage lifecycle of aegis tables (CREATE, TRUNCATE, SET TABLESPACE,
 *	  DROP), sizes for the planner, TOAST, and the object-access hook that
 *	  learns about drops.
 *
 * Every relfilenode of an aegis table gets aegis storage (relation
 * directory entry, files) and an empty PostgreSQL storage stub
 * (RelationCreateStorage), so PostgreSQL's own relfilenode bookkeeping
 * keeps working.  New aegis storage is dropped at abort, replaced or
 * dropped storage at commit (transaction_storage.c); PostgreSQL handles the
 * stub the same way with its pending deletes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/multixact.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "access/xlog.h"
#include "storage/lmgr.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "storage/smgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

static object_access_hook_type prev_object_access_hook = NULL;

AegisNewRelationOptions_hook_type AegisNewRelationOptions_hook = NULL;

/* Create the PostgreSQL storage stub of a new relfilenode (as heap does). */
static void
create_stub(const RelFileNode *rnode, char persistence)
{
	SMgrRelation srel = RelationCreateStorage(*rnode, persistence, true);

	if (persistence == RELPERSISTENCE_UNLOGGED)
	{
		PGAlignedBlock zero;

		smgrcreate(srel, INIT_FORKNUM, false);
		log_smgrcreate(rnode, INIT_FORKNUM);
		smgrimmedsync(srel, INIT_FORKNUM);

		/*
		 * One durable block in the main fork: PostgreSQL's reset after a
		 * crash copies the empty init fork over it, and an empty main fork
		 * is how aegis tells (AegisTamCheckReset).
		 */
		memset(zero.data, 0, BLCKSZ);
		smgrextend(srel, MAIN_FORKNUM, 0, zero.data, false);
		smgrimmedsync(srel, MAIN_FORKNUM);
	}
	smgrclose(srel);
}

/*
 * If 'rel' is the transient table of a rewrite of an aegis table (ALTER
 * TABLE ... TYPE, SET LOGGED/UNLOGGED, REFRESH MATERIALIZED VIEW), copy the
 * old table's storage choices into *info and return true.  PostgreSQL's
 * make_new_heap names that table "pg_temp_<OID of the table rewritten>".
 */
static bool
rewrite_source_info(Relation rel, AegisRelInfo *info)
{
	const char *name = RelationGetRelationName(rel);
	Oid			oldoid;
	char		extra;
	HeapTuple	tp;
	bool		found = false;

	Form_pg_class form;

	if (sscanf(name, "pg_temp_%u%c", &oldoid, &extra) != 1)
		return false;
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(oldoid));
	if (!HeapTupleIsValid(tp))
		return false;
	form = (Form_pg_class) GETSTRUCT(tp);
	if (form->relam == rel->rd_rel->relam && OidIsValid(form->relfilenode))
	{
		AegisRelKey key;

		key.spcOid = form->reltablespace;
		key.dbOid = MyDatabaseId;
		key.relNumber = form->relfilenode;
		found = AegisStorageGetInfo(&key, info);
	}
	ReleaseSysCache(tp);
	return found;
}

/*
 * Create aegis storage for 'key', logging its creation (temporary relations
 * write no WAL), and drop it again if the (sub)transaction aborts.
 */
static void
create_storage(const AegisRelKey *key, AegisStorageKind storage, AegisCodec codec,
			   int level, char persistence)
{
	TransactionId xid = GetCurrentTransactionId();
	XLogRecPtr	create_lsn;

	if (persistence == RELPERSISTENCE_TEMP)
		create_lsn = GetXLogInsertRecPtr();
	else
	{
		create_lsn = AegisWalLogCreate(key, storage, codec, level, persistence);

		/*
		 * The block map, written durably next, names our xid: its CREATE
		 * record must be durable first.  Else a crash could leave the map
		 * and no WAL after the last (shutdown) checkpoint: no redo runs, the
		 * xid is beyond the commit log, and deciding the storage's fate
		 * fails ("could not access status of transaction") until the xid is
		 * handed out again - to a transaction that then decides it.
		 */
		XLogFlush(create_lsn);
	}
	AegisStorageCreate(key, storage, codec, level, persistence, create_lsn, xid);
	AegisPendingCreate(key);
}

void
aegis_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
								char persistence, TransactionId *freezeXid,
								MultiXactId *minmulti)
{
	AegisRelKey oldkey = AegisRelKeyOf(rel);
	AegisRelKey newkey = AegisRelKeyFromNode(newrnode);
	AegisRelInfo old;
	AegisStorageKind storage;
	AegisCodec	codec;
	int			level;
	bool		replacing;

	AegisCheckPreloaded();
	*freezeXid = RecentXmin;
	*minmulti = GetOldestMultiXactId();

	/*
	 * TRUNCATE and rewrites keep the table's choices; a new table takes its
	 * WITH options or the aegis.* defaults.
	 */
	replacing = memcmp(&oldkey, &newkey, sizeof(AegisRelKey)) != 0 &&
		AegisStorageGetInfo(&oldkey, &old);
	if (replacing || rewrite_source_info(rel, &old))
	{
		storage = old.storage;
		codec = old.codec;
		level = old.level;
	}
	else
	{
		if (AegisNewRelationOptions_hook == NULL)
			elog(ERROR, "aegis option hooks are not installed");
		AegisNewRelationOptions_hook(rel, &storage, &codec, &level);
	}

	create_stub(newrnode, persistence);
	create_storage(&newkey, storage, codec, level, persistence);
	if (replacing)
		AegisPendingDrop(&oldkey);
}

/*
 * Empty the visibility map fork of the stub, as RelationTruncate(rel, 0)
 * does for heap (logged as an XLOG_SMGR_TRUNCATE of the map only: the stub's
 * main fork must keep its size, AegisTamCheckReset reads it).  The relation
 * may carry a map copied by SET TABLESPACE earlier in this transaction.
 */
static void
truncate_visibility_map(Relation rel)
{
	SMgrRelation srel = RelationGetSmgr(rel);
	ForkNumber	fork = VISIBILITYMAP_FORKNUM;
	BlockNumber nblocks;
	int			saved_flags = MyProc->delayChkptFlags;

	if (!smgrexists(srel, VISIBILITYMAP_FORKNUM))
		return;
	nblocks = visibilitymap_prepare_truncate(rel, 0);
	if (!BlockNumberIsValid(nblocks))
		return;
	/* no checkpoint between the record and the truncation (RelationTruncate) */
	MyProc->delayChkptFlags |= DELAY_CHKPT_START | DELAY_CHKPT_COMPLETE;
	START_CRIT_SECTION();
	if (RelationNeedsWAL(rel))
	{
		xl_smgr_truncate xlrec;

		xlrec.blkno = 0;
		xlrec.rnode = rel->rd_node;
		xlrec.flags = SMGR_TRUNCATE_VM;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, sizeof(xlrec));
		XLogFlush(XLogInsert(RM_SMGR_ID, XLOG_SMGR_TRUNCATE | XLR_SPECIAL_REL_UPDATE));
	}
	smgrtruncate(RelationGetSmgr(rel), &fork, 1, &nblocks);
	END_CRIT_SECTION();
	MyProc->delayChkptFlags = saved_flags;
}

/*
 * What AegisStorageTruncate does first for TRUNCATE, under sync_lock: drop
 * the pages from the buffer pool and log the record.  Dropped under the
 * lock, so an aegis checkpoint that misses their changes (its write-back
 * ran after the drop) syncs the map only after the record: then its redo
 * pointer precedes the record, and redo's TRUNCATE discards the pages.
 */
static XLogRecPtr
log_truncate(void *arg)
{
	const AegisRelInfo *info = (const AegisRelInfo *) arg;

	AegisBufferDropRelation(&info->key);
	return AegisWalLogTruncate(&info->key, info->create_lsn);
}

/* TRUNCATE of a table created (or truncated) in this transaction. */
void
aegis_relation_nontransactional_truncate(Relation rel)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	AegisRelInfo info;
	bool		logged = RelationNeedsWAL(rel);

	if (!AegisStorageGetInfo(&key, &info))
		(void) AegisStorageNPages(&key);	/* raises "does not exist" */
	truncate_visibility_map(rel);
	/* as RelationTruncate: logged only if changes to the relation are */
	if (logged)
		AegisWalWaitGuarded();	/* no waiting for the guards under sync_lock */
	else
		AegisBufferDropRelation(&key);
	AegisStorageTruncate(&key, logged ? log_truncate : NULL, &info);
	RelationSetTargetBlock(rel, InvalidBlockNumber);
}

/*
 * AegisPageWriterBegin
 *		Start appending whole pages to the new, empty storage of 'rnode'
 *		(created in this transaction, not yet visible to anyone else), as
 *		heap's bulk writers do (RelationCopyStorage, rewriteheap.c): pages go
 *		straight to the storage backend, each logged whole when the relation
 *		needs WAL (log_newpage's rule), and AegisPageWriterFinish makes them
 *		durable before commit.
 */
void
AegisPageWriterBegin(AegisPageWriter *writer, const RelFileNode *rnode,
					 BackendId backend, char persistence)
{
	AegisRelKey key = AegisRelKeyFromNode(rnode);

	AegisPageWriterBeginKey(writer, &key, rnode, backend, persistence);
}

/*
 * AegisPageWriterBeginKey
 *		AegisPageWriterBegin for storage 'key' whose stub is 'rnode' when the
 *		key cannot be derived from the stub in this backend (another
 *		database's: AegisRelKeyFromNode maps only this database's default
 *		tablespace to 0).
 */
void
AegisPageWriterBeginKey(AegisPageWriter *writer, const AegisRelKey *key,
						const RelFileNode *rnode, BackendId backend, char persistence)
{
	AegisRelInfo info;

	writer->rnode = *rnode;
	writer->backend = backend;
	writer->key = *key;
	if (!AegisStorageGetInfo(&writer->key, &info))
		elog(ERROR, "aegis storage of relation " AEGIS_REL_KEY_FMT " does not exist",
			 AEGIS_REL_KEY_ARGS(&writer->key));
	writer->log_pages = info.storage == AEGIS_STORAGE_LOCAL &&
		persistence == RELPERSISTENCE_PERMANENT && XLogIsNeeded();
	writer->npages = info.npages;
	writer->last_lsn = InvalidXLogRecPtr;
}

/*
 * AegisPageWriterAppend
 *		Append 'page' (BLCKSZ bytes, the caller's; stamped with its WAL
 *		record's LSN when logged) as the next page.  Errors as
 *		AegisStorageWritePage (full disk, memory budget).
 */
void
AegisPageWriterAppend(AegisPageWriter *writer, Page page)
{
	BlockNumber pageno = AegisStorageExtend(&writer->key, GetXLogInsertRecPtr());

	if (pageno != writer->npages)
		elog(ERROR, "aegis storage of relation " AEGIS_REL_KEY_FMT " changed during a bulk write",
			 AEGIS_REL_KEY_ARGS(&writer->key));
	if (writer->log_pages && !PageIsNew(page))
	{
		/* redo stores the pages in the columns form too (wal.h) */
		if (writer->last_lsn == InvalidXLogRecPtr)
		{
			AegisPageLayout layout;

			if (AegisStorageGetLayout(&writer->key, &layout))
				(void) AegisWalLogLayout(&writer->key, &layout);
		}
		writer->last_lsn = AegisWalLogPageImage(&writer->key, pageno, page);
	}
	AegisStorageWritePage(&writer->key, pageno, (const char *) page, false);
	writer->npages++;
	/* new storage past a dictionary size trains one from what it has */
	if (AegisWalDictDue(writer->npages))
		AegisWalDictMaybeTrain(&writer->key, writer->log_pages);
}

/*
 * AegisPageWriterFinish
 *		Extend the storage stub over the pages written (invariant 2), flush
 *		the WAL up to the last page image and sync the pages and their block
 *		map, so the new storage is durable before the transaction commits.
 */
void
AegisPageWriterFinish(AegisPageWriter *writer)
{
	if (writer->npages > 0)
	{
		PGAlignedBlock zero;
		SMgrRelation srel = smgropen(writer->rnode, writer->backend);

		memset(zero.data, 0, BLCKSZ);
		if (smgrnblocks(srel, MAIN_FORKNUM) < writer->npages)
			smgrextend(srel, MAIN_FORKNUM, writer->npages - 1, zero.data, true);
		if (writer->log_pages)
			AegisWalLogStub(&writer->rnode, writer->npages);
	}
	if (writer->last_lsn != InvalidXLogRecPtr)
		XLogFlush(writer->last_lsn);
	AegisStorageSyncRelation(&writer->key, NULL);
}

/*
 * Append pages [0, npages) of storage 'src', read through the buffer pool,
 * to 'writer' and finish it (durable before commit).
 */
static void
copy_pages(const AegisRelKey *src, BlockNumber npages, AegisPageWriter *writer)
{
	PGAlignedBlock copy;
	AegisPageLayout layout;

	/* the copy's pages have the same columns (block_pax.c) */
	if (AegisStorageGetLayout(src, &layout))
		AegisStorageSetLayout(&writer->key, &layout);

	for (BlockNumber p = 0; p < npages; p++)
	{
		AegisBuffer buf = AegisBufferRead(src, p);

		CHECK_FOR_INTERRUPTS();
		AegisBufferLock(buf, LW_SHARED);
		memcpy(copy.data, AegisBufferGetPage(buf), BLCKSZ);
		AegisBufferUnlockRelease(buf);
		AegisPageWriterAppend(writer, (Page) copy.data);
	}
	AegisPageWriterFinish(writer);
}

/*
 * Copy every page of 'rel' into new storage 'newrnode' created with the
 * given storage choices (each page recompressed with the new codec), with
 * the visibility map; the old storage and stub go at commit.  Caller holds
 * AccessExclusiveLock on 'rel'.
 */
static void
copy_data(Relation rel, const RelFileNode *newrnode, AegisStorageKind storage,
		  AegisCodec codec, int level)
{
	AegisRelKey oldkey = AegisRelKeyOf(rel);
	AegisRelInfo info;
	AegisPageWriter writer;

	AegisTamCheckReset(rel);
	if (!AegisStorageGetInfo(&oldkey, &info))
		elog(ERROR, "aegis storage of \"%s\" does not exist", RelationGetRelationName(rel));
	create_stub(newrnode, rel->rd_rel->relpersistence);
	{
		AegisRelKey newkey = AegisRelKeyFromNode(newrnode);

		create_storage(&newkey, storage, codec, level, rel->rd_rel->relpersistence);
	}
	AegisPageWriterBegin(&writer, newrnode, rel->rd_backend, rel->rd_rel->relpersistence);
	copy_pages(&oldkey, info.npages, &writer);

	/* the visibility map travels with the pages it describes, as heap's */
	if (smgrexists(RelationGetSmgr(rel), VISIBILITYMAP_FORKNUM))
	{
		SMgrRelation dst = smgropen(*newrnode, rel->rd_backend);

		FlushRelationBuffers(rel);
		smgrcreate(dst, VISIBILITYMAP_FORKNUM, false);
		if (rel->rd_rel->relpersistence == RELPERSISTENCE_PERMANENT)
			log_smgrcreate(newrnode, VISIBILITYMAP_FORKNUM);
		RelationCopyStorage(RelationGetSmgr(rel), dst, VISIBILITYMAP_FORKNUM,
							rel->rd_rel->relpersistence);
		smgrclose(dst);
	}
	/* the old stub goes at commit, as heapam_relation_copy_data's storage */
	RelationDropStorage(rel);
	AegisPendingDrop(&oldkey);
}

/* ALTER TABLE ... SET TABLESPACE: copy every page into new storage. */
void
aegis_relation_copy_data(Relation rel, const RelFileNode *newrnode)
{
	AegisRelKey oldkey = AegisRelKeyOf(rel);
	AegisRelInfo info;

	if (!AegisStorageGetInfo(&oldkey, &info))
		elog(ERROR, "aegis storage of \"%s\" does not exist", RelationGetRelationName(rel));
	copy_data(rel, newrnode, info.storage, info.codec, info.level);
}

/*
 * AegisRelationChangeOptions
 *		ALTER TABLE ... SET/RESET (storage_backend, compression,
 *		compression_level): move 'rel' to a new relfilenode whose storage has
 *		the new choices, copying every page (recompressed with the new codec)
 *		and the visibility map, as ALTER TABLE ... SET TABLESPACE does
 *		(ATExecSetTableSpace): transactional (the old storage goes at commit,
 *		the new at abort), crash safe and replicated like it, and TIDs do not
 *		change, so indexes stay valid.  Caller holds AccessExclusiveLock on
 *		'rel'.  Errors as the page copy (full disk, memory budget).
 */
void
AegisRelationChangeOptions(Relation rel, AegisStorageKind storage, AegisCodec codec,
						   int level)
{
	Oid			newrelfilenode;
	RelFileNode newrnode;
	Relation	pg_class;
	HeapTuple	tuple;

	Assert(CheckRelationLockedByMe(rel, AccessExclusiveLock, false));
	newrelfilenode = GetNewRelFileNode(rel->rd_rel->reltablespace, NULL,
									   rel->rd_rel->relpersistence);
	newrnode = rel->rd_node;
	newrnode.relNode = newrelfilenode;
	copy_data(rel, &newrnode, storage, codec, level);

	/* point pg_class at the new relfilenode (SetRelationTableSpace's update) */
	pg_class = table_open(RelationRelationId, RowExclusiveLock);
	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(RelationGetRelid(rel)));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", RelationGetRelid(rel));
	((Form_pg_class) GETSTRUCT(tuple))->relfilenode = newrelfilenode;
	CatalogTupleUpdate(pg_class, &tuple->t_self, tuple);
	heap_freetuple(tuple);
	table_close(pg_class, RowExclusiveLock);
	RelationAssumeNewRelfilenode(rel);
}

/*
 * AegisCopyDatabaseStorage
 *		CREATE DATABASE: give database 'dstdb' (default tablespace
 *		'dst_default_spc') a copy of the aegis storage of each relation of
 *		template 'srcdb' whose storage stub PostgreSQL copied into it (both
 *		strategies copy a relation's files under the same relfilenode:
 *		WAL_LOG the relations pg_class lists, FILE_COPY every file), with
 *		its backend, codec and level.  Pages are read through the buffer
 *		pool and written as AegisPageWriter writes them (logged whole for
 *		permanent local tables, synced before commit), each new storage
 *		created with a CREATE record and dropped again if the transaction
 *		aborts; recovery and standbys replay the copy after PostgreSQL's
 *		own record of the database.  PostgreSQL has made sure no session is
 *		connected to the template.  Errors as the page copy (full disk,
 *		memory budget).
 */
void
AegisCopyDatabaseStorage(Oid srcdb, Oid dstdb, Oid dst_default_spc)
{
	int			n;
	AegisRelInfo *all = AegisStorageListAll(&n);

	for (int i = 0; i < n; i++)
	{
		AegisRelInfo info;
		AegisRelKey dst;
		RelFileNode rnode;
		SMgrRelation stub;
		AegisPageWriter writer;

		if (all[i].key.dbOid != srcdb || all[i].persistence == RELPERSISTENCE_TEMP)
			continue;
		/* look it up again: the list may be stale */
		if (!AegisStorageGetInfo(&all[i].key, &info) || AegisStorageDropCommitted(&info))
			continue;
		rnode.spcNode = OidIsValid(info.key.spcOid) ? info.key.spcOid : dst_default_spc;
		rnode.dbNode = dstdb;
		rnode.relNode = info.key.relNumber;
		stub = smgropen(rnode, InvalidBackendId);
		if (!smgrexists(stub, MAIN_FORKNUM))
			continue;			/* not a relation of the template */

		dst = info.key;
		dst.dbOid = dstdb;
		create_storage(&dst, info.storage, info.codec, info.level, info.persistence);
		AegisPageWriterBeginKey(&writer, &dst, &rnode, InvalidBackendId, info.persistence);
		copy_pages(&info.key, AegisStorageNPages(&info.key), &writer);
		/* PostgreSQL's copy of the stub wrote its zeros: no session uses it yet */
		(void) AegisLocalDigStubHoles(rnode);
	}
	pfree(all);
}

/*
 * relation_size in bytes: aegis pages x BLCKSZ for the main fork; the other
 * forks (the visibility map) are PostgreSQL's own files of the stub;
 * InvalidForkNumber sums them all, as table_block_relation_size does.
 */
uint64
aegis_relation_size(Relation rel, ForkNumber forkNumber)
{
	AegisRelKey key = AegisRelKeyOf(rel);
	uint64		size = 0;

	if (forkNumber == MAIN_FORKNUM || forkNumber == InvalidForkNumber)
	{
		AegisTamCheckReset(rel);
		size = (uint64) AegisStorageNPages(&key) * BLCKSZ;
	}
	for (ForkNumber f = MAIN_FORKNUM + 1; f <= MAX_FORKNUM; f++)
		if ((forkNumber == f || forkNumber == InvalidForkNumber) &&
			smgrexists(RelationGetSmgr(rel), f))
			size += (uint64) smgrnblocks(RelationGetSmgr(rel), f) * BLCKSZ;
	return size;
}

/* Same decision as heap: a TOAST table if a row could exceed the threshold. */
bool
aegis_relation_needs_toast_table(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int32		data_length = 0;
	bool		maxlength_unknown = false;
	bool		has_toastable_attrs = false;
	int32		tuple_length;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		data_length = att_align_nominal(data_length, att->attalign);
		if (att->attlen > 0)
			data_length += att->attlen;
		else
		{
			int32		maxlen = type_maximum_size(att->atttypid, att->atttypmod);

			if (maxlen < 0)
				maxlength_unknown = true;
			else
				data_length += maxlen;
			if (att->attstorage != TYPSTORAGE_PLAIN)
				has_toastable_attrs = true;
		}
	}
	if (!has_toastable_attrs)
		return false;
	if (maxlength_unknown)
		return true;
	tuple_length = MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(tupdesc->natts)) +
		MAXALIGN(data_length);
	return tuple_length > TOAST_TUPLE_THRESHOLD;
}

/* TOAST tables of aegis tables are heap tables. */
Oid
aegis_relation_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

/* Planner estimate from the real page count, with heap's tuple overheads. */
void
aegis_relation_estimate_size(Relation rel, int32 *attr_widths, BlockNumber *pages,
							 double *tuples, double *allvisfrac)
{
	table_block_relation_estimate_size(rel, attr_widths, pages, tuples, allvisfrac,
									   sizeof(ItemIdData) + SizeofHeapTupleHeader,
									   BLCKSZ - SizeOfPageHeaderData);
}

/* The OID of the aegis access method, or InvalidOid if not installed. */
static Oid
aegis_am_oid(void)
{
	return get_table_am_oid("aegis", true);
}

/*
 * Object access hook: a dropped aegis relation's current storage, and a
 * dropped database's aegis directory, go away at commit.
 */
static void
aegis_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_DROP)
		return;

	if (classId == RelationRelationId && subId == 0)
	{
		HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(objectId));
		Form_pg_class form;
		Oid			am;

		if (!HeapTupleIsValid(tp))
			return;
		form = (Form_pg_class) GETSTRUCT(tp);
		if (form->relam != InvalidOid && RELKIND_HAS_TABLE_AM(form->relkind) &&
			form->relfilenode != InvalidOid && (am = aegis_am_oid()) == form->relam)
		{
			AegisRelKey key;

			key.spcOid = form->reltablespace;
			key.dbOid = MyDatabaseId;
			key.relNumber = form->relfilenode;
			AegisPendingDrop(&key);
		}
		ReleaseSysCache(tp);
	}
	else if (classId == DatabaseRelationId)
		AegisPendingDropDatabase(objectId);
}

/*
 * AegisTamCheckReset
 *		PostgreSQL empties unlogged relations after a crash by copying each
 *		one's init fork over its main fork (ResetUnloggedRelations).  The
 *		first time an unlogged aegis relation is used in a server lifetime,
 *		compare it with its stub: a stub reset to its empty init fork while
 *		the relation has pages means a crash happened (the stub is created
 *		with one durable block, create_stub), and its aegis storage is
 *		emptied too (its indexes were reset by PostgreSQL the same way).
 *		Also fills rel's AegisRelGetCache, which publishes the tuples'
 *		attribute layout (so a hot standby's sessions publish it too).
 *		Callers: every table AM entry that reads or writes the relation.
 */
void
AegisTamCheckReset(Relation rel)
{
	AegisRelWalCache *c;
	AegisRelKey key;

	c = AegisRelGetCache(rel);
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_UNLOGGED)
		return;
	if (c->reset_checked)
		return;
	key = AegisRelKeyOf(rel);
	if (AegisStorageResetPending(&key))
	{
		LockRelationForExtension(rel, ExclusiveLock);
		if (AegisStorageResetPending(&key))
		{
			if (AegisStorageNPages(&key) > 0 &&
				smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM) == 0)
			{
				AegisBufferDropRelation(&key);
				AegisStorageTruncate(&key, NULL, NULL);
				elog(DEBUG1, "aegis: unlogged table \"%s\" emptied after a crash",
					 RelationGetRelationName(rel));
			}
			AegisStorageResetDone(&key);
		}
		UnlockRelationForExtension(rel, ExclusiveLock);
	}
	c->reset_checked = true;
}

void
AegisInstallDdlHooks(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = aegis_object_access;
}
