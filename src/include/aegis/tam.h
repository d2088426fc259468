/*-------------------------------------------------------------------------
 *
 * tam.h
 *	  The table access method `aegis`: callbacks shared between the tam/
 *	  files and the hooks they install.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_TAM_H
#define AEGIS_TAM_H

#include "access/relscan.h"
#include "access/tableam.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "storage/lmgr.h"

/*
 * AegisStoreTuple
 *		Store 'tuple' (t_self and t_tableOid set) in 'slot', a heap tuple slot
 *		(TTSOpsHeapTuple, what aegis_slot_callbacks returns), as
 *		ExecStoreHeapTuple does: with shouldFree the slot owns the tuple
 *		(palloc'd; freed when the slot is cleared); without, the caller keeps
 *		the tuple's bytes valid until the slot is cleared or stored into
 *		again (a scan's held page pin, as heap's rs_cbuf).  Unlike
 *		ExecStoreHeapTuple, reads nothing of the tuple: PostgreSQL 15.20's
 *		ExecStoreHeapTuple reads t_infomask (a check meant for composite
 *		datums), a cache miss per row of a count(*) that heap's
 *		ExecStoreBufferHeapTuple does not pay.  Not a buffer heap tuple slot
 *		with no buffer: copying such a slot into another keeps a pointer to
 *		the tuple and relies on the buffer pin (tts_buffer_heap_copyslot),
 *		while a heap tuple slot's copy copies the bytes.  Raises an error for
 *		any other kind of slot.
 */
static inline TupleTableSlot *
AegisStoreTuple(HeapTuple tuple, TupleTableSlot *slot, bool shouldFree)
{
	HeapTupleTableSlot *hslot = (HeapTupleTableSlot *) slot;

	if (unlikely(!TTS_IS_HEAPTUPLE(slot)))
		elog(ERROR, "trying to store an aegis tuple into a slot that is not a heap tuple slot");
	if (TTS_SHOULDFREE(slot))
		ExecClearTuple(slot);	/* frees the tuple the slot owned */
	slot->tts_flags &= ~(TTS_FLAG_EMPTY | TTS_FLAG_SHOULDFREE);
	if (shouldFree)
		slot->tts_flags |= TTS_FLAG_SHOULDFREE;
	slot->tts_nvalid = 0;
	hslot->tuple = tuple;
	hslot->off = 0;
	slot->tts_tid = tuple->t_self;
	slot->tts_tableOid = tuple->t_tableOid;
	return slot;
}

/*
 * A sequential, bitmap, sample or ANALYZE scan.  Visibility is decided on
 * the shared page, share-locked; tuples are then served from 'cpage': on a
 * primary the shared page itself, kept pinned until the scan moves on
 * ('hold', as heap's rs_cbuf: its tuples do not move while the pin is held);
 * during recovery, and for ANALYZE, a private copy ('page'), because redo
 * may move tuples without waiting for pins.
 */
typedef struct AegisScanDescData
{
	TableScanDescData rs_base;	/* must be first */
	AegisRelKey key;
	BlockNumber nblocks;		/* pages when the scan started */
	BlockNumber startblock;		/* first page (setscanlimits) */
	BlockNumber numblocks;		/* pages to scan, or InvalidBlockNumber */
	BlockNumber cblock;			/* current page, InvalidBlockNumber if none */
	bool		inited;
	int			ntuples;		/* entries in vistuples */
	int			cindex;			/* next (or current) entry */
	bool		classify;		/* compute HTSV instead of visibility */
	TransactionId classify_horizon; /* if valid: RECENTLY_DEAD before it is
									 * DEAD (HeapTupleSatisfiesVacuum) */
	bool		want_roots;		/* fill roots[] for every page loaded */
	HeapTupleData ctup;			/* current tuple, points into 'cpage' */
	Page		cpage;			/* the page tuples are served from */
	AegisHeldPin hold;			/* pin on the shared page, if cpage is it */
	ParallelBlockTableScanWorkerData *pbscanwork;
	BlockNumber ra_next;		/* read-ahead: where the scan's next own
								 * chunk starts (AegisBufferReadAhead) */
	XLogRecPtr	ra_create_lsn;	/* read-ahead: the storage's incarnation */
	AegisBufferRing *ring;		/* a large sequential scan's ring, or NULL */
	/* filled for each page loaded; not zeroed at the start (10 kB) */
	OffsetNumber vistuples[MaxHeapTuplesPerPage];
	/*
	 * where each one's bytes are, read under the lock: VACUUM may change
	 * line pointers of tuples a non-MVCC snapshot saw while we only pin
	 */
	uint16		tupoff[MaxHeapTuplesPerPage];
	uint16		tuplen[MaxHeapTuplesPerPage];
	uint8		htsv[MaxHeapTuplesPerPage];	/* classify mode: HTSV_Result */
	OffsetNumber roots[MaxHeapTuplesPerPage];	/* AegisHotRootOffsets */
	PGAlignedBlock page;
} AegisScanDescData;

typedef AegisScanDescData *AegisScanDesc;

/* tam_scan.c */
extern TableScanDesc aegis_scan_begin(Relation rel, Snapshot snapshot, int nkeys,
									  struct ScanKeyData *key,
									  ParallelTableScanDesc pscan, uint32 flags);
extern void aegis_scan_end(TableScanDesc scan);
extern void aegis_scan_rescan(TableScanDesc scan, struct ScanKeyData *key,
							  bool set_params, bool allow_strat,
							  bool allow_sync, bool allow_pagemode);
extern bool aegis_scan_getnextslot(TableScanDesc scan, ScanDirection direction,
								   TupleTableSlot *slot);
extern void aegis_scan_set_limits(TableScanDesc scan, BlockNumber start,
								  BlockNumber numblocks);
extern void aegis_scan_set_tidrange(TableScanDesc scan, ItemPointer mintid,
									ItemPointer maxtid);
extern bool aegis_scan_getnextslot_tidrange(TableScanDesc scan, ScanDirection direction,
											TupleTableSlot *slot);
extern bool aegis_scan_bitmap_next_block(TableScanDesc scan,
										 struct TBMIterateResult *tbmres);
extern bool aegis_scan_bitmap_next_tuple(TableScanDesc scan,
										 struct TBMIterateResult *tbmres,
										 TupleTableSlot *slot);
extern bool aegis_scan_sample_next_block(TableScanDesc scan,
										 struct SampleScanState *scanstate);
extern bool aegis_scan_sample_next_tuple(TableScanDesc scan,
										 struct SampleScanState *scanstate,
										 TupleTableSlot *slot);
extern bool aegis_scan_analyze_next_block(TableScanDesc scan, BlockNumber blockno,
										  BufferAccessStrategy bstrategy);
extern bool aegis_scan_analyze_next_tuple(TableScanDesc scan, TransactionId OldestXmin,
										  double *liverows, double *deadrows,
										  TupleTableSlot *slot);
extern bool AegisFetchTuple(Relation rel, const AegisRelKey *key, ItemPointer tid,
							Snapshot snapshot, TupleTableSlot *slot,
							bool *all_dead);

/* tam_dml.c */
extern void aegis_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
							   int options, struct BulkInsertStateData *bistate);
extern void aegis_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
										   CommandId cid, int options,
										   struct BulkInsertStateData *bistate,
										   uint32 specToken);
extern void aegis_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
											 uint32 specToken, bool succeeded);
extern void aegis_multi_insert(Relation rel, TupleTableSlot **slots, int ntuples,
							   CommandId cid, int options,
							   struct BulkInsertStateData *bistate);
extern TM_Result aegis_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
									Snapshot snapshot, Snapshot crosscheck, bool wait,
									TM_FailureData *tmfd, bool changingPart);
extern TM_Result aegis_tuple_update(Relation rel, ItemPointer otid,
									TupleTableSlot *slot, CommandId cid,
									Snapshot snapshot, Snapshot crosscheck,
									bool wait, TM_FailureData *tmfd,
									LockTupleMode *lockmode, bool *update_indexes);
extern bool aegis_tuple_fetch_row_version(Relation rel, ItemPointer tid,
										  Snapshot snapshot, TupleTableSlot *slot);
extern bool aegis_tuple_tid_valid(TableScanDesc scan, ItemPointer tid);
extern void aegis_tuple_get_latest_tid(TableScanDesc scan, ItemPointer tid);
extern bool aegis_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
										   Snapshot snapshot);
extern Size AegisTamToastThreshold(Relation rel);

/* tam_lock.c */
extern void AegisTamCheckWritable(Relation rel);
extern TM_Result aegis_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
								  TupleTableSlot *slot, CommandId cid,
								  LockTupleMode mode, LockWaitPolicy wait_policy,
								  uint8 flags, TM_FailureData *tmfd);
extern void AegisTamTupleAt(Relation rel, AegisBuffer buf, ItemPointer tid,
							HeapTuple tuple);
extern TM_Result AegisTamLockForChange(Relation rel, AegisBuffer buf, ItemPointer tid,
									   HeapTuple tup, CommandId cid, Snapshot crosscheck,
									   bool wait, XLTW_Oper oper, bool *have_tuple_lock,
									   const char *what, HeapTuple newtup,
									   LockTupleMode *mode);
extern bool AegisTamColumnsChanged(Relation rel, const Bitmapset *cols,
								   HeapTuple oldtup, HeapTuple newtup);
extern void AegisTamUnlockTuple(Relation rel, ItemPointer tid, LockTupleMode mode);
extern TransactionId AegisTamComputeXmax(TransactionId oldxmax, uint16 oldim,
										 uint16 oldim2, LockTupleMode mode,
										 bool is_update, uint16 *im, uint16 *im2);
extern void AegisTamNewVersionXmax(TransactionId oldxmax, uint16 oldim,
								   HeapTupleHeader newtup);
extern void AegisTamStoreXmax(HeapTupleHeader tup, TransactionId xmax, uint16 im,
							  uint16 im2);
extern void AegisTamFillFailure(HeapTuple tup, TM_Result result, TM_FailureData *tmfd);

/* tam_index.c */
extern IndexFetchTableData *aegis_index_fetch_begin(Relation rel);
extern void aegis_index_fetch_reset(IndexFetchTableData *scan);
extern void aegis_index_fetch_end(IndexFetchTableData *scan);
extern bool aegis_index_fetch_tuple(IndexFetchTableData *scan, ItemPointer tid,
									Snapshot snapshot, TupleTableSlot *slot,
									bool *call_again, bool *all_dead);
extern TransactionId aegis_index_delete_tuples(Relation rel, TM_IndexDeleteOp *delstate);
extern double aegis_index_build_range_scan(Relation table_rel, Relation index_rel,
										   struct IndexInfo *index_info,
										   bool allow_sync, bool anyvisible,
										   bool progress, BlockNumber start_blockno,
										   BlockNumber numblocks,
										   IndexBuildCallback callback,
										   void *callback_state, TableScanDesc scan);
extern void aegis_index_validate_scan(Relation table_rel, Relation index_rel,
									  struct IndexInfo *index_info, Snapshot snapshot,
									  struct ValidateIndexState *state);

/* tam_rewrite.c */
extern void aegis_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
											Relation OldIndex, bool use_sort,
											TransactionId OldestXmin,
											TransactionId *xid_cutoff,
											MultiXactId *multi_cutoff,
											double *num_tuples,
											double *tups_vacuumed,
											double *tups_recently_dead);

/* tam_ddl.c */

/* Appends whole pages to new storage (see AegisPageWriterBegin). */
typedef struct AegisPageWriter
{
	RelFileNode rnode;
	BackendId	backend;
	AegisRelKey key;
	bool		log_pages;		/* log each page whole */
	BlockNumber npages;			/* pages written so far */
	XLogRecPtr	last_lsn;		/* end of the last page image, or invalid */
} AegisPageWriter;

extern void AegisPageWriterBegin(AegisPageWriter *writer, const RelFileNode *rnode,
								 BackendId backend, char persistence);
extern void AegisPageWriterBeginKey(AegisPageWriter *writer, const AegisRelKey *key,
									const RelFileNode *rnode, BackendId backend,
									char persistence);
extern void AegisPageWriterAppend(AegisPageWriter *writer, Page page);
extern void AegisPageWriterFinish(AegisPageWriter *writer);
extern void aegis_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
											char persistence,
											TransactionId *freezeXid,
											MultiXactId *minmulti);
extern void aegis_relation_nontransactional_truncate(Relation rel);
extern void aegis_relation_copy_data(Relation rel, const RelFileNode *newrnode);
extern uint64 aegis_relation_size(Relation rel, ForkNumber forkNumber);
extern bool aegis_relation_needs_toast_table(Relation rel);
extern Oid	aegis_relation_toast_am(Relation rel);
extern void aegis_relation_estimate_size(Relation rel, int32 *attr_widths,
										 BlockNumber *pages, double *tuples,
										 double *allvisfrac);
extern void AegisInstallDdlHooks(void);
extern void AegisCopyDatabaseStorage(Oid srcdb, Oid dstdb, Oid dst_default_spc);
extern void AegisRelationChangeOptions(Relation rel, AegisStorageKind storage,
									   AegisCodec codec, int level);
extern void AegisTamCheckReset(Relation rel);

/* tam_vacuum.c */
extern void aegis_relation_vacuum(Relation rel, struct VacuumParams *params,
								  BufferAccessStrategy bstrategy);

/*
 * Storage choices for a relation that gets new aegis storage of its own
 * (not TRUNCATE or a rewrite, which keep the old ones): tam_options.c, which
 * knows the statement's WITH options, sets this when the library loads; it
 * is the one call from tam_ddl.c up into tam_options.c, inverted through a
 * hook pointer as PostgreSQL's shmem_startup_hook does.
 */
typedef void (*AegisNewRelationOptions_hook_type) (Relation rel, AegisStorageKind *storage,
												   AegisCodec *codec, int *level);
extern PGDLLIMPORT AegisNewRelationOptions_hook_type AegisNewRelationOptions_hook;

/* tam_options.c */
extern void AegisInstallOptionHooks(void);

#endif							/* AEGIS_TAM_H */
