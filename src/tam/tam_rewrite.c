/*-------------------------------------------------------------------------
 *
 * tam_rewrite.c
 *	  VACUUM FULL and CLUSTER of aegis tables: copy every row version a
 *	  snapshot may still need into the new storage of the table's transient
 *	  copy, in physical order or in the order of an index.
 *
 * The protocol is heap's (heapam_relation_copy_for_cluster, rewriteheap.c);
 * PostgreSQL's cluster.c does the rest (the transient table, the swap of
 * relfilenodes, the index rebuild, dropping the old storage):
 *
 *   1. Read the old table with SnapshotAny, each version classified against
 *      OldestXmin (HeapTupleSatisfiesVacuum's rule): DEAD versions are left
 *      behind, LIVE and RECENTLY_DEAD ones (and those our own transaction is
 *      inserting or deleting) are copied.  CLUSTER reads in index order, or
 *      sorts with tuplesort_begin_cluster when the planner says that is
 *      cheaper.
 *   2. Each copied version keeps its visibility header; xids and MultiXacts
 *      older than the cutoffs are frozen (heap_freeze_tuple), so those
 *      cutoffs can become the new relfrozenxid / relminmxid.
 *   3. An update chain keeps its links: a version whose successor has not
 *      been written yet is held back until the successor's new TID is
 *      known; a successor written first leaves its new TID for its
 *      predecessor.  Versions still held at the end (their successor was
 *      dead) point to themselves.
 *   4. Full pages go to the new storage through AegisPageWriter: logged
 *      whole when the table needs WAL, durable before commit.
 *
 * The caller holds AccessExclusiveLock on the old table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/xact.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "aegis/wal.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufpage.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

/* A row version's identity in the old table: its xmin and TID. */
typedef struct VersionKey
{
	TransactionId xmin;
	ItemPointerData tid;
} VersionKey;

/* A version held back until its successor (key) is written. */
typedef struct HeldVersion
{
	VersionKey	key;
	ItemPointerData old_tid;	/* the held version's own old TID */
	HeapTuple	tuple;			/* formed for the new table */
} HeldVersion;

/* A successor written before its predecessor was seen. */
typedef struct WrittenVersion
{
	VersionKey	key;
	ItemPointerData new_tid;
} WrittenVersion;

typedef struct RewriteState
{
	Relation	old_rel;
	Relation	new_rel;
	AegisPageWriter writer;
	PGAlignedBlock page;		/* the page being filled */
	bool		page_used;		/* 'page' holds tuples not yet written */
	TransactionId oldest_xmin;
	TransactionId freeze_xid;
	MultiXactId cutoff_multi;
	HTAB	   *held;			/* HeldVersion by successor's VersionKey */
	HTAB	   *written;		/* WrittenVersion by its own VersionKey */
	MemoryContext cxt;			/* held tuples and both tables */
	int64		nwritten;
	Datum	   *values;			/* for reform_and_rewrite */
	bool	   *isnull;
	double		num_tuples;		/* what cluster.c reports */
	double		tups_vacuumed;
	double		tups_recently_dead;
} RewriteState;

static void
begin_rewrite(RewriteState *state, Relation old_rel, Relation new_rel,
			  TransactionId oldest_xmin, TransactionId freeze_xid,
			  MultiXactId cutoff_multi)
{
	HASHCTL		ctl;

	memset(state, 0, sizeof(RewriteState));
	state->old_rel = old_rel;
	state->new_rel = new_rel;
	state->oldest_xmin = oldest_xmin;
	state->freeze_xid = freeze_xid;
	state->cutoff_multi = cutoff_multi;
	state->cxt = AllocSetContextCreate(CurrentMemoryContext, "aegis rewrite",
									   ALLOCSET_DEFAULT_SIZES);
	state->values = palloc(sizeof(Datum) * Max(RelationGetDescr(old_rel)->natts,
											   RelationGetDescr(new_rel)->natts));
	state->isnull = palloc(sizeof(bool) * Max(RelationGetDescr(old_rel)->natts,
											  RelationGetDescr(new_rel)->natts));
	AegisPageWriterBegin(&state->writer, &new_rel->rd_node, new_rel->rd_backend,
						 new_rel->rd_rel->relpersistence);
	/* the rewritten pages can take the columns form (block_pax.c) */
	AegisWalPublishLayout(new_rel, &state->writer.key);

	ctl.keysize = sizeof(VersionKey);
	ctl.hcxt = state->cxt;
	ctl.entrysize = sizeof(HeldVersion);
	state->held = hash_create("aegis rewrite held versions", 128, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(WrittenVersion);
	state->written = hash_create("aegis rewrite written versions", 128, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
flush_page(RewriteState *state)
{
	if (!state->page_used)
		return;
	AegisPageWriterAppend(&state->writer, (Page) state->page.data);
	state->page_used = false;
}

/*
 * Toast 'tup' if needed (into the new table's TOAST table, as
 * raw_heap_insert does), add it to the page being filled and set its t_self
 * to its new TID.  An invalid t_ctid becomes that TID.
 */
static void
place_tuple(RewriteState *state, HeapTuple tup)
{
	Page		page = (Page) state->page.data;
	HeapTuple	heaptup = tup;
	OffsetNumber off;
	HeapTupleHeader onpage;

	if (HeapTupleHasExternal(tup) ||
		(tup->t_len > TOAST_TUPLE_THRESHOLD && tup->t_len > AegisTamToastThreshold(state->new_rel)))
		heaptup = heap_toast_insert_or_update(state->new_rel, tup, NULL,
											  HEAP_INSERT_SKIP_FSM | HEAP_INSERT_NO_LOGICAL);
	if (heaptup->t_len > MaxHeapTupleSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu",
						(Size) heaptup->t_len, (Size) MaxHeapTupleSize)));

	/* a page keeps the room the new table's fillfactor asks for */
	if (state->page_used &&
		PageGetHeapFreeSpace(page) < MAXALIGN(heaptup->t_len) +
		RelationGetTargetPageFreeSpace(state->new_rel, HEAP_DEFAULT_FILLFACTOR))
		flush_page(state);
	if (!state->page_used)
	{
		PageInit(page, BLCKSZ, 0);
		state->page_used = true;
	}
	off = PageAddItem(page, (Item) heaptup->t_data, heaptup->t_len,
					  InvalidOffsetNumber, false, true);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "failed to add a row version to the rewrite of \"%s\"",
			 RelationGetRelationName(state->old_rel));
	ItemPointerSet(&tup->t_self, state->writer.npages, off);
	onpage = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, off));
	if (!ItemPointerIsValid(&onpage->t_ctid))
		onpage->t_ctid = tup->t_self;
	if (heaptup != tup)
		heap_freetuple(heaptup);
	state->nwritten++;
}

/*
 * Copy one row version: 'old_tuple' as read from the old table (t_self its
 * old TID), 'new_tuple' its contents formed for the new table (modified).
 * rewrite_heap_tuple's protocol (step 3 above).
 */
static void
rewrite_version(RewriteState *state, HeapTuple old_tuple, HeapTuple new_tuple)
{
	HeapTupleHeader old = old_tuple->t_data;
	MemoryContext oldcxt = MemoryContextSwitchTo(state->cxt);
	ItemPointerData old_tid;
	VersionKey	key;
	bool		found;

	/* the visibility header travels; xids past the cutoffs are frozen */
	memcpy(&new_tuple->t_data->t_choice.t_heap, &old->t_choice.t_heap,
		   sizeof(HeapTupleFields));
	new_tuple->t_data->t_infomask &= ~HEAP_XACT_MASK;
	new_tuple->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	new_tuple->t_data->t_infomask |= old->t_infomask & HEAP_XACT_MASK;
	new_tuple->t_data->t_infomask2 |= old->t_infomask2 & HEAP_KEYS_UPDATED;
	heap_freeze_tuple(new_tuple->t_data,
					  state->old_rel->rd_rel->relfrozenxid,
					  state->old_rel->rd_rel->relminmxid,
					  state->freeze_xid, state->cutoff_multi);
	ItemPointerSetInvalid(&new_tuple->t_data->t_ctid);

	/* updated: link to the successor's new TID, or wait for it */
	if (!((old->t_infomask & HEAP_XMAX_INVALID) || HeapTupleHeaderIsOnlyLocked(old)) &&
		!HeapTupleHeaderIndicatesMovedPartitions(old) &&
		!ItemPointerEquals(&old_tuple->t_self, &old->t_ctid))
	{
		WrittenVersion *succ;

		memset(&key, 0, sizeof(key));
		key.xmin = HeapTupleHeaderGetUpdateXid(old);
		key.tid = old->t_ctid;
		succ = hash_search(state->written, &key, HASH_FIND, NULL);
		if (succ != NULL)
		{
			new_tuple->t_data->t_ctid = succ->new_tid;
			hash_search(state->written, &key, HASH_REMOVE, NULL);
		}
		else
		{
			HeldVersion *held = hash_search(state->held, &key, HASH_ENTER, &found);

			Assert(!found);
			held->old_tid = old_tuple->t_self;
			held->tuple = heap_copytuple(new_tuple);
			MemoryContextSwitchTo(oldcxt);
			return;
		}
	}

	/* write it, then any predecessor that was waiting for it, and so on */
	old_tid = old_tuple->t_self;
	new_tuple = heap_copytuple(new_tuple);
	for (;;)
	{
		HeldVersion *pred;

		place_tuple(state, new_tuple);

		/*
		 * A version made by an update whose predecessor may still be seen
		 * (its xmin, the predecessor's xmax, is not older than OldestXmin)
		 * is the successor of a chain link.
		 */
		if (!(new_tuple->t_data->t_infomask & HEAP_UPDATED) ||
			TransactionIdPrecedes(HeapTupleHeaderGetXmin(new_tuple->t_data),
								  state->oldest_xmin))
			break;
		memset(&key, 0, sizeof(key));
		key.xmin = HeapTupleHeaderGetXmin(new_tuple->t_data);
		key.tid = old_tid;
		pred = hash_search(state->held, &key, HASH_FIND, NULL);
		if (pred == NULL)
		{
			WrittenVersion *w = hash_search(state->written, &key, HASH_ENTER, &found);

			w->new_tid = new_tuple->t_self;
			break;
		}
		pred->tuple->t_data->t_ctid = new_tuple->t_self;
		heap_freetuple(new_tuple);
		new_tuple = pred->tuple;
		old_tid = pred->old_tid;
		hash_search(state->held, &key, HASH_REMOVE, NULL);
	}
	heap_freetuple(new_tuple);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * A DEAD version is not copied; if its predecessor is held waiting for it,
 * that predecessor is dead too (rewrite_heap_dead_tuple).  Returns true if
 * a held version was dropped.
 */
static bool
drop_dead_version(RewriteState *state, HeapTuple old_tuple)
{
	VersionKey	key;
	HeldVersion *pred;

	memset(&key, 0, sizeof(key));
	key.xmin = HeapTupleHeaderGetXmin(old_tuple->t_data);
	key.tid = old_tuple->t_self;
	pred = hash_search(state->held, &key, HASH_FIND, NULL);
	if (pred == NULL)
		return false;
	heap_freetuple(pred->tuple);
	hash_search(state->held, &key, HASH_REMOVE, NULL);
	return true;
}

/* Write what is still held (pointing to itself), the last page, sync. */
static void
end_rewrite(RewriteState *state)
{
	HASH_SEQ_STATUS seq;
	HeldVersion *held;

	hash_seq_init(&seq, state->held);
	while ((held = hash_seq_search(&seq)) != NULL)
	{
		ItemPointerSetInvalid(&held->tuple->t_data->t_ctid);
		place_tuple(state, held->tuple);
	}
	flush_page(state);
	AegisPageWriterFinish(&state->writer);
	MemoryContextDelete(state->cxt);
	pfree(state->values);
	pfree(state->isnull);
}

/*
 * Form 'tuple' (of the old table) for the new one, dropped columns as
 * NULLs (reform_and_rewrite_tuple), and copy it.
 */
static void
reform_and_rewrite(RewriteState *state, HeapTuple tuple)
{
	TupleDesc	old_desc = RelationGetDescr(state->old_rel);
	TupleDesc	new_desc = RelationGetDescr(state->new_rel);
	HeapTuple	copy;

	heap_deform_tuple(tuple, old_desc, state->values, state->isnull);
	for (int i = 0; i < new_desc->natts; i++)
		if (TupleDescAttr(new_desc, i)->attisdropped)
			state->isnull[i] = true;
	copy = heap_form_tuple(new_desc, state->values, state->isnull);
	rewrite_version(state, tuple, copy);
	heap_freetuple(copy);
	pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_TUPLES_WRITTEN, state->nwritten);
}

/*
 * Decide whether a classified version is copied, counting it as heap's
 * copy_for_cluster does.  Versions other transactions are inserting or
 * deleting cannot exist under our AccessExclusiveLock unless a prepared
 * transaction left them; they are kept (and warned about, as heap does).
 */
static bool
keep_version(Relation rel, HeapTuple tuple, HTSV_Result res, double *tups_recently_dead)
{
	switch (res)
	{
		case HEAPTUPLE_DEAD:
			return false;
		case HEAPTUPLE_RECENTLY_DEAD:
			*tups_recently_dead += 1;
			return true;
		case HEAPTUPLE_LIVE:
			return true;
		case HEAPTUPLE_INSERT_IN_PROGRESS:
			if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
				elog(WARNING, "concurrent insert in progress within table \"%s\"",
					 RelationGetRelationName(rel));
			return true;
		case HEAPTUPLE_DELETE_IN_PROGRESS:
			if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tuple->t_data)))
				elog(WARNING, "concurrent delete in progress within table \"%s\"",
					 RelationGetRelationName(rel));
			*tups_recently_dead += 1;
			return true;
	}
	return true;
}

/*
 * One version read from the old table, classified: copy it now, or hand it
 * to the sort ('tuplesort' non-NULL), or leave it behind, counting as
 * heapam_relation_copy_for_cluster does.
 */
static void
take_version(RewriteState *state, HeapTuple tuple, HTSV_Result res,
			 Tuplesortstate *tuplesort)
{
	if (!keep_version(state->old_rel, tuple, res, &state->tups_recently_dead))
	{
		state->tups_vacuumed += 1;
		if (drop_dead_version(state, tuple))
		{
			state->tups_vacuumed += 1;
			state->tups_recently_dead -= 1;
		}
		return;
	}
	state->num_tuples += 1;
	if (tuplesort != NULL)
		tuplesort_putheaptuple(tuplesort, tuple);
	else
		reform_and_rewrite(state, tuple);
}

/*
 * For an index-ordered CLUSTER: copies (palloc'd) of every version of the
 * HOT chain whose root is 'tid', in chain order, and their classes, into
 * versions[] / res[] (MaxHeapTuplesPerPage entries); returns how many.
 * SnapshotAny sees every version, as heapam's index fetch returns them one
 * by one to heapam_relation_copy_for_cluster.
 */
static int
fetch_chain(Relation rel, const AegisRelKey *key, BlockNumber npages,
			ItemPointer tid, TransactionId oldest_xmin, HeapTuple *versions,
			HTSV_Result *res)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(tid);
	OffsetNumber members[MaxHeapTuplesPerPage];
	bool		root_dead;
	AegisBuffer buf;
	Page		page;
	int			n;

	if (blkno >= npages)
		return 0;
	buf = AegisBufferReadRel(rel, key, blkno);
	AegisBufferLock(buf, LW_SHARED);
	page = AegisBufferGetPage(buf);
	n = AegisHotChainMembers(page, ItemPointerGetOffsetNumber(tid), members, &root_dead);
	for (int i = 0; i < n; i++)
	{
		HeapTupleData tuple;
		TransactionId dead_after;

		(void) AegisPageGetTuple(page, blkno, members[i], RelationGetRelid(rel), &tuple);
		res[i] = AegisTupleSatisfiesVacuum(&tuple, &dead_after, buf);
		if (res[i] == HEAPTUPLE_RECENTLY_DEAD && TransactionIdPrecedes(dead_after, oldest_xmin))
			res[i] = HEAPTUPLE_DEAD;
		versions[i] = heap_copytuple(&tuple);
	}
	AegisBufferUnlockRelease(buf);
	return n;
}

/*
 * aegis_relation_copy_for_cluster
 *		table_relation_copy_for_cluster for aegis (see the file header).
 *		'OldIndex' orders the copy (CLUSTER), read through the index or, with
 *		'use_sort', sorted.  OldestXmin decides which dead versions go;
 *		*xid_cutoff / *multi_cutoff are the freeze cutoffs, kept as given
 *		(they become the new table's relfrozenxid / relminmxid).  Returns the
 *		counts cluster.c reports.  Errors: those of reading the old table and
 *		writing the new one (full disk, memory budget), "row is too big".
 */
void
aegis_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
								Relation OldIndex, bool use_sort,
								TransactionId OldestXmin, TransactionId *xid_cutoff,
								MultiXactId *multi_cutoff, double *num_tuples,
								double *tups_vacuumed, double *tups_recently_dead)
{
	AegisRelKey key = AegisRelKeyOf(OldTable);
	RewriteState state;
	Tuplesortstate *tuplesort = NULL;
	int64		nscanned = 0;

	AegisTamCheckReset(OldTable);
	begin_rewrite(&state, OldTable, NewTable, OldestXmin, *xid_cutoff, *multi_cutoff);

	if (OldIndex != NULL && use_sort)
		tuplesort = tuplesort_begin_cluster(RelationGetDescr(OldTable), OldIndex,
											maintenance_work_mem, NULL, TUPLESORT_NONE);

	if (OldIndex != NULL && !use_sort)
	{
		/* CLUSTER through the index: versions in index order */
		BlockNumber npages = AegisStorageNPages(&key);
		IndexScanDesc iscan;
		ItemPointer tid;

		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_INDEX_SCAN_HEAP);
		iscan = index_beginscan(OldTable, OldIndex, SnapshotAny, 0, 0);
		index_rescan(iscan, NULL, 0, NULL, 0);
		while ((tid = index_getnext_tid(iscan, ForwardScanDirection)) != NULL)
		{
			HTSV_Result res[MaxHeapTuplesPerPage];
			HeapTuple	versions[MaxHeapTuplesPerPage];
			int			n;

			CHECK_FOR_INTERRUPTS();
			n = fetch_chain(OldTable, &key, npages, tid, OldestXmin, versions, res);
			for (int i = 0; i < n; i++)
			{
				pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_TUPLES_SCANNED, ++nscanned);
				take_version(&state, versions[i], res[i], NULL);
				heap_freetuple(versions[i]);
			}
		}
		index_endscan(iscan);
	}
	else
	{
		/* VACUUM FULL, or CLUSTER by sorting: versions in physical order */
		TableScanDesc scan = table_beginscan_strat(OldTable, SnapshotAny, 0, NULL,
												   true, false);
		AegisScanDesc ascan = (AegisScanDesc) scan;
		TupleTableSlot *slot = table_slot_create(OldTable, NULL);

		ascan->classify = true;
		ascan->classify_horizon = OldestXmin;
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_SEQ_SCAN_HEAP);
		pgstat_progress_update_param(PROGRESS_CLUSTER_TOTAL_HEAP_BLKS, ascan->nblocks);
		while (aegis_scan_getnextslot(scan, ForwardScanDirection, slot))
		{
			CHECK_FOR_INTERRUPTS();
			pgstat_progress_update_param(PROGRESS_CLUSTER_HEAP_TUPLES_SCANNED, ++nscanned);
			take_version(&state, &ascan->ctup, (HTSV_Result) ascan->htsv[ascan->cindex],
						 tuplesort);
		}
		ExecDropSingleTupleTableSlot(slot);
		table_endscan(scan);
	}

	if (tuplesort != NULL)
	{
		HeapTuple	tuple;

		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_SORT_TUPLES);
		tuplesort_performsort(tuplesort);
		pgstat_progress_update_param(PROGRESS_CLUSTER_PHASE,
									 PROGRESS_CLUSTER_PHASE_WRITE_NEW_HEAP);
		while ((tuple = tuplesort_getheaptuple(tuplesort, true)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			reform_and_rewrite(&state, tuple);
		}
		tuplesort_end(tuplesort);
	}

	*num_tuples = state.num_tuples;
	*tups_vacuumed = state.tups_vacuumed;
	*tups_recently_dead = state.tups_recently_dead;
	end_rewrite(&state);
}
