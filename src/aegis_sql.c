/*-------------------------------------------------------------------------
 *
 * aegis_sql.c
 *	  SQL-callable functions: figures for users, checkpoint on request.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "commands/defrem.h"
#include "aegis/aegis.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/checkpoint.h"
#include "aegis/wal.h"
#include "access/xlog.h"
#include "postmaster/bgwriter.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(aegis_check_preloaded);
PG_FUNCTION_INFO_V1(aegis_table_stats);
PG_FUNCTION_INFO_V1(aegis_table_stats_or_error);
PG_FUNCTION_INFO_V1(aegis_buffer_stats);
PG_FUNCTION_INFO_V1(aegis_checkpoint);

/* Called by the install script so CREATE EXTENSION fails without preload. */
Datum
aegis_check_preloaded(PG_FUNCTION_ARGS)
{
	AegisCheckPreloaded();
	PG_RETURN_VOID();
}

/*
 * May the current user see the storage figures of relation 'relid'?  Those
 * who may SELECT it and members of pg_read_all_stats: sizes and compression
 * ratios tell about the contents (a compression oracle), so they are shown
 * as pg_stat_statements shows query texts, not to everyone.  *missing is set
 * if the relation no longer exists.
 */
static bool
may_read_stats(Oid relid, bool *missing)
{
	bool		is_missing = false;
	AclResult	acl;

	acl = pg_class_aclcheck_ext(relid, GetUserId(), ACL_SELECT, &is_missing);
	*missing = is_missing;
	if (is_missing)
		return false;
	return acl == ACLCHECK_OK ||
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/* Fill the nine figures of aegis_table_stats() from 'st'. */
static void
stats_values(const AegisRelStats *st, Datum *values, bool *nulls)
{
	values[0] = CStringGetTextDatum(AegisStorageKindName(st->info.storage));
	values[1] = CStringGetTextDatum(AegisCodecName(st->info.codec));
	values[2] = Int32GetDatum(st->info.level);
	values[3] = Int64GetDatum(st->info.npages);
	values[4] = Int64GetDatum(st->stored_blocks);
	values[5] = Int64GetDatum(st->raw_bytes);
	values[6] = Int64GetDatum(st->stored_bytes);
	values[7] = Int64GetDatum(st->file_bytes);
	if (st->stored_bytes > 0)
		values[8] = Float8GetDatum((double) st->raw_bytes / (double) st->stored_bytes);
	else
		nulls[8] = true;
}

static bool
is_aegis_relation(Relation rel)
{
	return rel->rd_tableam != NULL &&
		strcmp(get_am_name(rel->rd_rel->relam), "aegis") == 0;
}

/*
 * aegis_table_stats(regclass): storage backend, codec, level, pages,
 * stored blocks, raw (uncompressed) bytes, stored bytes, bytes of the data
 * file, and compression ratio (raw / stored) of one aegis table.  Pages
 * still only in the buffer pool count once written back (aegis_checkpoint()
 * writes them all).  Raises ERRCODE_INSUFFICIENT_PRIVILEGE unless the user
 * may SELECT the table or is a member of pg_read_all_stats; takes
 * AccessShareLock on it.
 */
Datum
aegis_table_stats(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	AegisRelKey key;
	AegisRelStats st;
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {0};
	bool		missing;

	AegisCheckPreloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!may_read_stats(relid, &missing) && !missing)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", get_rel_name(relid)),
				 errdetail("aegis_table_stats() reports only tables the current user may SELECT."),
				 errhint("Grant SELECT on the table, or membership in pg_read_all_stats.")));
	rel = relation_open(relid, AccessShareLock);
	if (!is_aegis_relation(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an aegis table", RelationGetRelationName(rel))));
	key = AegisRelKeyOf(rel);
	if (!AegisStorageGetStats(&key, &st))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis storage of \"%s\" does not exist", RelationGetRelationName(rel))));
	relation_close(rel, AccessShareLock);

	stats_values(&st, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * aegis_table_stats_or_error(oid): for the aegis_tables view, the figures of
 * aegis_table_stats() and an "error" column; no row for a relation that is
 * gone, not an aegis table, or that the user may not see (may_read_stats).
 * A table whose storage is missing gives a row with NULL figures and the
 * reason in "error", so one broken table does not fail the view.
 */
Datum
aegis_table_stats_or_error(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	AegisRelKey key;
	AegisRelStats st;
	Datum		values[10];
	bool		nulls[10] = {0};
	bool		missing;

	AegisCheckPreloaded();
	InitMaterializedSRF(fcinfo, 0);
	if (!may_read_stats(relid, &missing))
		PG_RETURN_VOID();
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		PG_RETURN_VOID();
	if (!is_aegis_relation(rel))
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_VOID();
	}
	key = AegisRelKeyOf(rel);
	if (AegisStorageGetStats(&key, &st))
	{
		stats_values(&st, values, nulls);
		nulls[9] = true;
	}
	else
	{
		for (int i = 0; i < 9; i++)
			nulls[i] = true;
		values[9] = CStringGetTextDatum("aegis storage of this table does not exist; recreate the table, or TRUNCATE it to give it new, empty storage");
	}
	relation_close(rel, AccessShareLock);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_VOID();
}

/* aegis_buffer_stats(): the buffer pool's counters since server start. */
Datum
aegis_buffer_stats(PG_FUNCTION_ARGS)
{
	AegisBufferStats st;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	uint64		lookups;

	AegisCheckPreloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	AegisBufferGetStats(&st);
	lookups = st.hits + st.misses;
	values[0] = Int32GetDatum(st.frames);
	values[1] = Int32GetDatum(st.frames_used);
	values[2] = Int32GetDatum(st.frames_dirty);
	values[3] = Int64GetDatum(st.hits);
	values[4] = Int64GetDatum(st.misses);
	values[5] = Int64GetDatum(st.evictions);
	values[6] = Int64GetDatum(st.writebacks);
	if (lookups > 0)
		values[7] = Float8GetDatum((double) st.hits / (double) lookups);
	else
		nulls[7] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * aegis_checkpoint(): run PostgreSQL's CHECKPOINT (immediate, forced, and
 * waited for), which the checkpoint guards make cover every aegis page;
 * then, on a primary, wait until the aegis checkpointer has put the
 * all-visible pages that checkpoint wrote into group blocks, which it does
 * in the background after every checkpoint (AegisCheckpointWaitRegrouped;
 * AegisCheckpointRegroupAll first, so that pages changed since the last
 * grouping pass, which a plain checkpoint's pass leaves for the next one,
 * are grouped too),
 * and run a second CHECKPOINT, which makes the group blocks durable and
 * compacts away the blocks they replaced.  A plain CHECKPOINT does not
 * wait for the grouping.
 */
Datum
aegis_checkpoint(PG_FUNCTION_ARGS)
{
	AegisCheckPreloaded();
	if (!RecoveryInProgress())
		AegisCheckpointRegroupAll();
	RequestCheckpoint(CHECKPOINT_IMMEDIATE | CHECKPOINT_FORCE | CHECKPOINT_WAIT);
	if (!RecoveryInProgress())
	{
		AegisCheckpointWaitRegrouped();
		RequestCheckpoint(CHECKPOINT_IMMEDIATE | CHECKPOINT_FORCE | CHECKPOINT_WAIT);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(aegis_wal_stats);

/*
 * aegis_wal_stats(): aegis records written into PostgreSQL's WAL since the
 * server started (all, page changes, LZ4-compressed ones) and their payload
 * bytes; aegis checkpoints (runs, pages written, the last one's and the
 * total duration, how long PostgreSQL's last checkpoint waited for it, the
 * redo pointer aegis state is durable up to, guard hand-overs); and the
 * last recovery's aegis records, bytes and duration.
 */
Datum
aegis_wal_stats(PG_FUNCTION_ARGS)
{
	AegisWalCounters wc;
	AegisCheckpointStats cs;
	TupleDesc	tupdesc;
	Datum		values[15];
	bool		nulls[15] = {0};

	AegisCheckPreloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	AegisWalGetCounters(&wc);
	AegisCheckpointGetStats(&cs);
	values[0] = Int64GetDatum(wc.records);
	values[1] = Int64GetDatum(wc.bytes);
	values[2] = Int64GetDatum(wc.page_records);
	values[3] = Int64GetDatum(wc.compressed_records);
	values[4] = Int64GetDatum(cs.checkpoints);
	values[5] = Int64GetDatum(cs.pages_written);
	values[6] = Float8GetDatum(cs.last_ms);
	values[7] = Float8GetDatum(cs.total_ms);
	values[8] = Float8GetDatum(cs.last_wait_ms);
	if (cs.done_redo != InvalidXLogRecPtr)
		values[9] = LSNGetDatum(cs.done_redo);
	else
		nulls[9] = true;
	values[10] = Int64GetDatum(cs.guard_cycles);
	values[11] = Float8GetDatum(cs.last_recovery_ms);
	values[12] = Int64GetDatum(cs.last_recovery_records);
	values[13] = Int64GetDatum(cs.last_recovery_bytes);
	values[14] = BoolGetDatum(AegisWalIsGuarded());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(aegis_page_items);

/*
 * aegis_page_items(regclass, page): the line pointers of one page of an
 * aegis table, like pageinspect's heap_page_items: offset, flags, length,
 * xmin, xmax, infomask, infomask2, ctid.  Superuser only (install script).
 */
Datum
aegis_page_items(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		pageno = PG_GETARG_INT64(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel;
	AegisRelKey key;
	AegisBuffer buf;
	PGAlignedBlock copy;
	Page		page = (Page) copy.data;

	AegisCheckPreloaded();
	InitMaterializedSRF(fcinfo, 0);
	rel = relation_open(relid, AccessShareLock);
	if (strcmp(get_am_name(rel->rd_rel->relam), "aegis") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an aegis table", RelationGetRelationName(rel))));
	key = AegisRelKeyOf(rel);
	if (pageno < 0 || pageno >= AegisStorageNPages(&key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page " INT64_FORMAT " is out of range for \"%s\"",
						pageno, RelationGetRelationName(rel))));
	buf = AegisBufferRead(&key, (BlockNumber) pageno);
	AegisBufferLock(buf, LW_SHARED);
	memcpy(copy.data, AegisBufferGetPage(buf), BLCKSZ);
	AegisBufferUnlockRelease(buf);
	relation_close(rel, AccessShareLock);

	for (OffsetNumber off = FirstOffsetNumber;
		 !PageIsNew(page) && off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		lp = PageGetItemId(page, off);
		Datum		values[8];
		bool		nulls[8] = {0};

		values[0] = Int32GetDatum(off);
		values[1] = Int32GetDatum(ItemIdGetFlags(lp));
		values[2] = Int32GetDatum(ItemIdGetLength(lp));
		if (ItemIdIsNormal(lp))
		{
			HeapTupleHeader tup = (HeapTupleHeader) PageGetItem(page, lp);

			values[3] = TransactionIdGetDatum(HeapTupleHeaderGetRawXmin(tup));
			values[4] = TransactionIdGetDatum(HeapTupleHeaderGetRawXmax(tup));
			values[5] = Int32GetDatum(tup->t_infomask);
			values[6] = Int32GetDatum(tup->t_infomask2);
			values[7] = PointerGetDatum(&tup->t_ctid);
		}
		else
			nulls[3] = nulls[4] = nulls[5] = nulls[6] = nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
