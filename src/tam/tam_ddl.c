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
#include "access/tableam.h"
#include "access/xact.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/storage.h"
#include "catalog/storage_xlog.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "storage/smgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

static object_access_hook_type prev_object_access_hook = NULL;

/* Create the PostgreSQL storage stub of a new relfilenode (as heap does). */
static void
create_stub(const RelFileNode *rnode, char persistence)
{
	SMgrRelation srel = RelationCreateStorage(*rnode, persistence, true);

	if (persistence == RELPERSISTENCE_UNLOGGED)
	{
		smgrcreate(srel, INIT_FORKNUM, false);
		log_smgrcreate(rnode, INIT_FORKNUM);
		smgrimmedsync(srel, INIT_FORKNUM);
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
		AegisOptionsForNewRelation(&storage, &codec, &level);

	create_stub(newrnode, persistence);
	AegisStorageCreate(&newkey, storage, codec, level, persistence);
	AegisPendingCreate(&newkey);
	if (replacing)
		AegisPendingDrop(&oldkey);
}

/* TRUNCATE of a table created (or truncated) in this transaction. */
void
aegis_relation_nontransactional_truncate(Relation rel)
{
	AegisRelKey key = AegisRelKeyOf(rel);

	AegisBufferDropRelation(&key);
	AegisStorageTruncate(&key);
	RelationSetTargetBlock(rel, InvalidBlockNumber);
}

/* ALTER TABLE ... SET TABLESPACE: copy every page into new storage. */
void
aegis_relation_copy_data(Relation rel, const RelFileNode *newrnode)
{
	AegisRelKey oldkey = AegisRelKeyOf(rel);
	AegisRelKey newkey = AegisRelKeyFromNode(newrnode);
	AegisRelInfo info;
	PGAlignedBlock copy;
	SMgrRelation srel;

	if (!AegisStorageGetInfo(&oldkey, &info))
		elog(ERROR, "aegis storage of \"%s\" does not exist", RelationGetRelationName(rel));
	create_stub(newrnode, rel->rd_rel->relpersistence);
	AegisStorageCreate(&newkey, info.storage, info.codec, info.level,
					   rel->rd_rel->relpersistence);
	AegisPendingCreate(&newkey);

	for (BlockNumber p = 0; p < info.npages; p++)
	{
		AegisBuffer buf = AegisBufferRead(&oldkey, p);

		CHECK_FOR_INTERRUPTS();
		AegisBufferLock(buf, LW_SHARED);
		memcpy(copy.data, AegisBufferGetPage(buf), BLCKSZ);
		AegisBufferUnlockRelease(buf);
		if (AegisStorageExtend(&newkey) != p)
			elog(ERROR, "aegis storage of relation " AEGIS_REL_KEY_FMT " changed during copy",
				 AEGIS_REL_KEY_ARGS(&newkey));
		AegisStorageWritePage(&newkey, p, copy.data);
	}
	if (info.npages > 0)
	{
		/* the stub covers the relation (invariant 2) */
		srel = smgropen(*newrnode, rel->rd_backend);
		memset(copy.data, 0, BLCKSZ);
		smgrextend(srel, MAIN_FORKNUM, info.npages - 1, copy.data, true);
	}
	/* the pages were written without WAL: make them durable before commit */
	AegisStorageSyncRelation(&newkey);
	AegisPendingDrop(&oldkey);
}

void
aegis_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
								Relation OldIndex, bool use_sort,
								TransactionId OldestXmin, TransactionId *xid_cutoff,
								MultiXactId *multi_cutoff, double *num_tuples,
								double *tups_vacuumed, double *tups_recently_dead)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("VACUUM FULL and CLUSTER are not supported on aegis table \"%s\"",
					RelationGetRelationName(OldTable)),
			 errhint("Plain VACUUM reclaims space of dead rows; CREATE TABLE ... AS copies a table compactly.")));
}

/* relation_size: aegis pages x BLCKSZ for the main fork, 0 for others. */
uint64
aegis_relation_size(Relation rel, ForkNumber forkNumber)
{
	AegisRelKey key = AegisRelKeyOf(rel);

	if (forkNumber != MAIN_FORKNUM && forkNumber != InvalidForkNumber)
		return 0;
	return (uint64) AegisStorageNPages(&key) * BLCKSZ;
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

void
AegisInstallDdlHooks(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = aegis_object_access;
	AegisInstallOptionHooks();
}
