/*-------------------------------------------------------------------------
 *
 * wal_logical.c
 *	  Logical decoding of aegis tables: XLOG_AEGIS_LOGICAL records, written
 *	  beside the page changes of a logically logged relation, and the
 *	  resource manager's rm_decode, which turns them into reorder-buffer
 *	  changes.
 *
 * An aegis page record is a byte delta of a page; it cannot be decoded
 * without the page.  So when a relation is logically logged (as heap
 * decides it, RelationIsLogicallyLogged: wal_level = logical, a permanent
 * user table; and aegis writes WAL for it: not a memory-backend table),
 * every insert, update and delete also writes an XLOG_AEGIS_LOGICAL record
 * with what heap_insert, heap_update and heap_delete put into their own
 * records for decoding: the new tuple(s) as stored (TOAST pointers
 * included, the TOAST chunks being heap inserts into the TOAST table before
 * it), and the old tuple's replica identity under ExtractReplicaIdentity's
 * rules (the key columns when they change or on DELETE; the whole row,
 * detoasted, for REPLICA IDENTITY FULL; nothing for NOTHING).  Speculative
 * insertions (INSERT ... ON CONFLICT) write an insert, then a confirmation
 * or an abort, as heap's XLOG_HEAP_CONFIRM and super-delete do.
 *
 * rm_decode queues them exactly as PostgreSQL's decode.c queues heap's
 * (DecodeInsert, DecodeMultiInsert, DecodeUpdate, DecodeDelete,
 * DecodeSpecConfirm), so the reorder buffer, TOAST reassembly, streaming of
 * large transactions, output plugins (pgoutput, test_decoding) and
 * subscriptions need nothing else.  Redo ignores the records.  TRUNCATE is
 * decoded from the heap TRUNCATE record PostgreSQL itself writes for every
 * table access method.
 *
 * The record follows the page change it describes, outside that change's
 * critical section; what it carries is built (palloc'd) before.  An error
 * between the two aborts the transaction, and decoding only emits committed
 * transactions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/xloginsert.h"
#include "aegis/wal.h"
#include "catalog/catalog.h"
#include "catalog/pg_publication.h"
#include "nodes/bitmapset.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/reorderbuffer.h"
#include "replication/snapbuild.h"
#include "utils/datum.h"
#include "utils/relcache.h"

/*
 * AegisWalLogicalWanted
 *		Must changes to 'rel' be decodable?  When heap would log them for
 *		logical decoding and aegis writes WAL for the relation.
 */
bool
AegisWalLogicalWanted(Relation rel)
{
	return RelationIsLogicallyLogged(rel) && AegisRelNeedsWal(rel);
}

/*
 * AegisWalLogicalCheckPublished
 *		Raise ERRCODE_FEATURE_NOT_SUPPORTED before 'cmd' (CMD_INSERT,
 *		CMD_UPDATE or CMD_DELETE) changes 'rel' if a publication carries that
 *		change of 'rel' but aegis writes no WAL for it: a memory-backend
 *		table, which PostgreSQL counts as permanent and so puts in FOR ALL
 *		TABLES and TABLES IN SCHEMA publications (and in publications of a
 *		partitioned parent).  Without this the change would be skipped by
 *		logical replication without a word.  The publications come from the
 *		relcache (RelationBuildPublicationDesc, as CheckCmdReplicaIdentity
 *		uses), so the check costs little.
 */
void
AegisWalLogicalCheckPublished(Relation rel, CmdType cmd)
{
	PublicationDesc pubdesc;
	bool		published;

	if (!RelationIsLogicallyLogged(rel) || AegisRelNeedsWal(rel))
		return;
	RelationBuildPublicationDesc(rel, &pubdesc);
	published = cmd == CMD_INSERT ? pubdesc.pubactions.pubinsert :
		cmd == CMD_UPDATE ? pubdesc.pubactions.pubupdate :
		pubdesc.pubactions.pubdelete;
	if (published)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change aegis table \"%s\": a publication includes it, but its storage backend is memory",
						RelationGetRelationName(rel)),
				 errdetail("Memory-backend tables write no WAL, so logical replication cannot carry their changes; a FOR ALL TABLES or TABLES IN SCHEMA publication, or one of a partitioned parent, includes them."),
				 errhint("Use a table created WITH (storage_backend = 'local'), or publications that name their tables.")));
}

/*
 * Do the replica identity columns of 'newtup' differ from those of 'oldtup'
 * (heap_update's bms_overlap(modified_attrs, id_attrs))?  *external is set
 * if an identity column of the old tuple is stored externally, which heap
 * logs the old key for too.
 */
static bool
identity_changed(Relation rel, Bitmapset *idattrs, HeapTuple oldtup,
				 HeapTuple newtup, bool *external)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		changed = false;
	int			m = -1;

	*external = false;
	while ((m = bms_next_member(idattrs, m)) >= 0)
	{
		AttrNumber	attnum = m + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att;
		Datum		v1,
					v2;
		bool		n1,
					n2;

		if (attnum <= 0)
			continue;
		att = TupleDescAttr(desc, attnum - 1);
		v1 = heap_getattr(oldtup, attnum, desc, &n1);
		v2 = heap_getattr(newtup, attnum, desc, &n2);
		if (!n1 && att->attlen == -1 &&
			VARATT_IS_EXTERNAL((struct varlena *) DatumGetPointer(v1)))
			*external = true;
		if (n1 != n2 ||
			(!n1 && !datumIsEqual(v1, v2, att->attbyval, att->attlen)))
			changed = true;
	}
	return changed;
}

/*
 * AegisWalLogicalOldKey
 *		The replica identity of 'oldtup' that an UPDATE to 'newtup' (or a
 *		DELETE, newtup NULL) must log for decoding, as heap's
 *		ExtractReplicaIdentity: NULL if none is needed, else a palloc'd
 *		tuple in the relation's descriptor (key columns, the others null; or
 *		the whole row for REPLICA IDENTITY FULL), never with external
 *		values.  Call before the change, with the old tuple's page pinned.
 */
HeapTuple
AegisWalLogicalOldKey(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	char		replident = rel->rd_rel->relreplident;
	Bitmapset  *idattrs;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	key;
	bool		external;

	if (replident == REPLICA_IDENTITY_NOTHING)
		return NULL;
	if (replident == REPLICA_IDENTITY_FULL)
		return HeapTupleHasExternal(oldtup) ? toast_flatten_tuple(oldtup, desc)
			: heap_copytuple(oldtup);

	idattrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	if (bms_is_empty(idattrs))
		return NULL;
	if (newtup != NULL && !identity_changed(rel, idattrs, oldtup, newtup, &external) &&
		!external)
	{
		bms_free(idattrs);
		return NULL;
	}

	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(oldtup, desc, values, nulls);
	for (int i = 0; i < desc->natts; i++)
	{
		if (!bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, idattrs))
			nulls[i] = true;
	}
	key = heap_form_tuple(desc, values, nulls);
	pfree(values);
	pfree(nulls);
	bms_free(idattrs);
	if (HeapTupleHasExternal(key))
	{
		HeapTuple	flat = toast_flatten_tuple(key, desc);

		heap_freetuple(key);
		key = flat;
	}
	return key;
}

/* Append a tuple to a record body: its length in bytes, then the tuple. */
static void
append_tuple(StringInfo body, HeapTuple tup)
{
	uint32		len = tup->t_len;

	appendBinaryStringInfo(body, (char *) &len, sizeof(len));
	appendBinaryStringInfo(body, (char *) tup->t_data, len);
}

/*
 * Insert an XLOG_AEGIS_LOGICAL record: 'action' on 'rel', 'ntuples' new
 * tuples and the old key 'oldkey' (or NULL).  The record carries the
 * replication origin, as heap's do (filter_by_origin).
 */
static void
log_logical(Relation rel, uint8 action, HeapTuple *tuples, int ntuples,
			HeapTuple oldkey)
{
	xl_aegis_logical xlrec;
	StringInfoData body;

	memset(&xlrec, 0, sizeof(xlrec));
	xlrec.node = rel->rd_node;
	xlrec.action = action;
	xlrec.flags = oldkey != NULL ? AEGIS_LOGICAL_HAS_OLD : 0;
	xlrec.ntuples = ntuples;
	initStringInfo(&body);
	for (int i = 0; i < ntuples; i++)
		append_tuple(&body, tuples[i]);
	if (oldkey != NULL)
		append_tuple(&body, oldkey);

	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, sizeof(xlrec));
	if (body.len > 0)
		XLogRegisterData(body.data, body.len);
	XLogSetRecordFlags(XLOG_INCLUDE_ORIGIN);
	XLogInsert(AEGIS_RMGR_ID, XLOG_AEGIS_LOGICAL);
	AegisWalCount(sizeof(xlrec) + body.len, false, false);
	pfree(body.data);
}

/*
 * AegisWalLogicalInsert
 *		Log 'ntuples' tuples just stored into 'rel' (as stored: stamped and
 *		toasted) for decoding; 'speculative' for an INSERT ... ON CONFLICT
 *		insertion, which AegisWalLogicalSpecEnd then confirms or aborts.
 */
void
AegisWalLogicalInsert(Relation rel, HeapTuple *tuples, int ntuples, bool speculative)
{
	Assert(!speculative || ntuples == 1);
	log_logical(rel, speculative ? AEGIS_LOGICAL_SPEC_INSERT : AEGIS_LOGICAL_INSERT,
				tuples, ntuples, NULL);
}

/* AegisWalLogicalSpecEnd: a speculative insertion was confirmed or killed. */
void
AegisWalLogicalSpecEnd(Relation rel, bool confirmed)
{
	log_logical(rel, confirmed ? AEGIS_LOGICAL_SPEC_CONFIRM : AEGIS_LOGICAL_SPEC_ABORT,
				NULL, 0, NULL);
}

/*
 * AegisWalLogicalUpdate
 *		Log an UPDATE of 'rel' whose new version 'newtup' is stored; 'oldkey'
 *		from AegisWalLogicalOldKey (or NULL).
 */
void
AegisWalLogicalUpdate(Relation rel, HeapTuple newtup, HeapTuple oldkey)
{
	log_logical(rel, AEGIS_LOGICAL_UPDATE, &newtup, 1, oldkey);
}

/* AegisWalLogicalDelete: log a DELETE of 'rel'; 'oldkey' as for update. */
void
AegisWalLogicalDelete(Relation rel, HeapTuple oldkey)
{
	log_logical(rel, AEGIS_LOGICAL_DELETE, NULL, 0, oldkey);
}

/* Raise the error for a malformed XLOG_AEGIS_LOGICAL record. */
static void
bad_logical_record(XLogReaderState *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("aegis logical decoding record at %X/%X is malformed",
					LSN_FORMAT_ARGS(r->ReadRecPtr))));
}

/*
 * Read the tuple at *pos of a record's data (length 'end') into a new
 * reorder-buffer tuple, as decode.c's DecodeXLogTuple does for heap.
 */
static ReorderBufferTupleBuf *
read_tuple(LogicalDecodingContext *ctx, XLogReaderState *r, const char *data,
		   Size *pos, Size end)
{
	ReorderBufferTupleBuf *tb;
	uint32		len;

	if (end - *pos < sizeof(len))
		bad_logical_record(r);
	memcpy(&len, data + *pos, sizeof(len));
	*pos += sizeof(len);
	if (len < SizeofHeapTupleHeader || end - *pos < len)
		bad_logical_record(r);
	tb = ReorderBufferGetTupleBuf(ctx->reorder, len - SizeofHeapTupleHeader);
	tb->tuple.t_len = len;
	ItemPointerSetInvalid(&tb->tuple.t_self);
	tb->tuple.t_tableOid = InvalidOid;	/* known once the relation is */
	memcpy(tb->tuple.t_data, data + *pos, len);
	*pos += len;
	return tb;
}

/*
 * AegisWalLogicalDecode
 *		rm_decode of the aegis resource manager, run by a logical decoding
 *		process (walsender or pg_logical_slot_*_changes) for every aegis
 *		record: assigns the record's xid, as decode.c does for every
 *		record, and queues the changes of XLOG_AEGIS_LOGICAL records of the
 *		slot's database, with heap's conditions (a full snapshot, not
 *		fast-forwarding, SnapBuildProcessChange, the origin filter).
 *		Raises ERRCODE_DATA_CORRUPTED for a malformed record.
 */
void
AegisWalLogicalDecode(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	XLogReaderState *r = buf->record;
	TransactionId xid = XLogRecGetXid(r);
	const char *data = XLogRecGetData(r);
	Size		end = XLogRecGetDataLen(r);
	Size		pos = sizeof(xl_aegis_logical);
	xl_aegis_logical xlrec;
	ReorderBufferChange *change;

	ReorderBufferProcessXid(ctx->reorder, xid, buf->origptr);
	if ((XLogRecGetInfo(r) & XLOG_AEGIS_OPMASK) != XLOG_AEGIS_LOGICAL)
		return;
	if (SnapBuildCurrentState(ctx->snapshot_builder) < SNAPBUILD_FULL_SNAPSHOT)
		return;
	if (!SnapBuildProcessChange(ctx->snapshot_builder, xid, buf->origptr) ||
		ctx->fast_forward)
		return;
	if (end < sizeof(xlrec))
		bad_logical_record(r);
	memcpy(&xlrec, data, sizeof(xlrec));
	if (xlrec.node.dbNode != ctx->slot->data.database)
		return;
	if (ctx->callbacks.filter_by_origin_cb != NULL &&
		filter_by_origin_cb_wrapper(ctx, XLogRecGetOrigin(r)))
		return;

	switch (xlrec.action)
	{
		case AEGIS_LOGICAL_INSERT:
		case AEGIS_LOGICAL_SPEC_INSERT:
			if (xlrec.ntuples == 0 ||
				(xlrec.action == AEGIS_LOGICAL_SPEC_INSERT && xlrec.ntuples != 1))
				bad_logical_record(r);
			for (uint32 i = 0; i < xlrec.ntuples; i++)
			{
				change = ReorderBufferGetChange(ctx->reorder);
				change->action = xlrec.action == AEGIS_LOGICAL_INSERT
					? REORDER_BUFFER_CHANGE_INSERT
					: REORDER_BUFFER_CHANGE_INTERNAL_SPEC_INSERT;
				change->origin_id = XLogRecGetOrigin(r);
				change->data.tp.relnode = xlrec.node;
				change->data.tp.newtuple = read_tuple(ctx, r, data, &pos, end);
				/* TOAST chunks of the whole batch precede it: keep them */
				change->data.tp.clear_toast_afterwards = (i + 1 == xlrec.ntuples);
				ReorderBufferQueueChange(ctx->reorder, xid, buf->origptr, change, false);
			}
			break;
		case AEGIS_LOGICAL_UPDATE:
		case AEGIS_LOGICAL_DELETE:
		case AEGIS_LOGICAL_SPEC_CONFIRM:
		case AEGIS_LOGICAL_SPEC_ABORT:
			if (xlrec.ntuples != (xlrec.action == AEGIS_LOGICAL_UPDATE ? 1 : 0))
				bad_logical_record(r);
			change = ReorderBufferGetChange(ctx->reorder);
			switch (xlrec.action)
			{
				case AEGIS_LOGICAL_UPDATE:
					change->action = REORDER_BUFFER_CHANGE_UPDATE;
					break;
				case AEGIS_LOGICAL_DELETE:
					change->action = REORDER_BUFFER_CHANGE_DELETE;
					break;
				case AEGIS_LOGICAL_SPEC_CONFIRM:
					change->action = REORDER_BUFFER_CHANGE_INTERNAL_SPEC_CONFIRM;
					break;
				default:
					change->action = REORDER_BUFFER_CHANGE_INTERNAL_SPEC_ABORT;
					break;
			}
			change->origin_id = XLogRecGetOrigin(r);
			change->data.tp.relnode = xlrec.node;
			if (xlrec.ntuples == 1)
				change->data.tp.newtuple = read_tuple(ctx, r, data, &pos, end);
			if (xlrec.flags & AEGIS_LOGICAL_HAS_OLD)
				change->data.tp.oldtuple = read_tuple(ctx, r, data, &pos, end);
			change->data.tp.clear_toast_afterwards = true;
			ReorderBufferQueueChange(ctx->reorder, xid, buf->origptr, change, false);
			break;
		default:
			bad_logical_record(r);
	}
}

/* AegisWalLogicalDesc: rm_desc of an XLOG_AEGIS_LOGICAL record. */
void
AegisWalLogicalDesc(StringInfo buf, XLogReaderState *record)
{
	static const char *const actions[] = {
		"?", "insert", "speculative insert", "speculative confirm",
		"speculative abort", "update", "delete"
	};
	xl_aegis_logical xlrec;

	if (XLogRecGetDataLen(record) < sizeof(xlrec))
		return;
	memcpy(&xlrec, XLogRecGetData(record), sizeof(xlrec));
	appendStringInfo(buf, "rel %u/%u/%u; %s of %u tuple(s)%s",
					 xlrec.node.spcNode, xlrec.node.dbNode, xlrec.node.relNode,
					 xlrec.action < lengthof(actions) ? actions[xlrec.action] : "?",
					 xlrec.ntuples,
					 (xlrec.flags & AEGIS_LOGICAL_HAS_OLD) ? ", old key" : "");
}
