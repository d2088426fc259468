/*-------------------------------------------------------------------------
 *
 * wal.h
 *	  The aegis WAL records, which travel in PostgreSQL's WAL stream as the
 *	  custom resource manager "aegis_storage", and their redo.
 *
 * Every change to an aegis page and every storage lifecycle event is an
 * XLogInsert record of resource manager AEGIS_RMGR_ID.  Page LSNs are
 * PostgreSQL LSNs: the end of the last record that changed the page (as
 * PageSetLSN does for heap).  PostgreSQL's commit record follows a
 * transaction's aegis records in the same stream, so its commit flush
 * (group commit, synchronous_commit, synchronous replicas) covers them, and
 * its redo advances nextXid past every xid they carry.  See src/wal/README
 * for the page-change recipe; the resource manager itself (redo dispatch,
 * start-up and end of recovery) is src/checkpoint/checkpoint_rmgr.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_WAL_H
#define AEGIS_WAL_H

#include "access/htup.h"
#include "access/xlogreader.h"
#include "aegis/aegis.h"
#include "aegis/block.h"
#include "aegis/buffer.h"
#include "lib/stringinfo.h"
#include "storage/relfilenode.h"
#include "utils/rel.h"

/* Our custom resource manager id (RegisterCustomRmgr). */
#define AEGIS_RMGR_ID				203

/*
 * Record types, in the high nibble of xl_info.  0x00 is the RESERVE_XIDS
 * record of the build that kept its own WAL files: still understood (its
 * redo advances nextXid), never written.
 */
#define XLOG_AEGIS_RESERVE_XIDS		0x00
#define XLOG_AEGIS_PAGE				0x10	/* a change to one page */
#define XLOG_AEGIS_CREATE			0x20	/* storage created */
#define XLOG_AEGIS_DROP				0x30	/* storage dropped at commit of xid */
#define XLOG_AEGIS_DROP_DATABASE	0x40	/* a database's storage, at commit */
#define XLOG_AEGIS_TRUNCATE			0x50	/* storage emptied in place */
#define XLOG_AEGIS_CHECKPOINT		0x60	/* aegis state durable up to redo */
#define XLOG_AEGIS_STUB				0x70	/* PostgreSQL stub extended */
#define XLOG_AEGIS_IMAGE			0x80	/* a block moved by compaction */
#define XLOG_AEGIS_LOGICAL			0x90	/* a row change, for logical decoding */
#define XLOG_AEGIS_SHRINK			0xA0	/* empty trailing pages cut (VACUUM) */
#define XLOG_AEGIS_STUB_TRIM		0xB0	/* PostgreSQL stub cut to the pages */
#define XLOG_AEGIS_EMPTY			0xC0	/* pages about to be cut made empty */
#define XLOG_AEGIS_PAGE_PACKED		0xD0	/* XLOG_AEGIS_PAGE, packed header */
#define XLOG_AEGIS_DICTIONARY		0xE0	/* a compression dictionary made */
#define XLOG_AEGIS_REL_INFO			0xF0	/* facts about a relation (the last
											 * free opcode: later record types
											 * go in as new 'kind's of it) */
#define XLOG_AEGIS_OPMASK			0xF0

/*
 * XLOG_AEGIS_PAGE: the page's identity, then the change.  Written by builds
 * before XLOG_AEGIS_PAGE_PACKED and still replayed; this struct is also
 * what AegisWalPageParse decodes either form into.
 *
 * XLOG_AEGIS_PAGE_PACKED carries the same fields in as few bytes as they
 * need (most page records are 60-150 bytes, so the 28-byte fixed header was
 * a fifth of the aegis WAL):
 *   uint8 flags (AEGIS_PAGE_* and AEGIS_PACKED_*),
 *   varint spcOid, dbOid, relNumber, pageno,
 *   [uint32 conflict_xid]          with AEGIS_PACKED_CONFLICT,
 *   [varint delta1_len]            with AEGIS_PACKED_DELTA1 (else 0),
 *   [varint delta1_len + delta2_len] with AEGIS_PAGE_LZ4,
 *   [varint vm_spc]                with AEGIS_PAGE_VM_*,
 *   the deltas (LZ4-compressed or not): the rest of the record, their
 *   regions packed too (AegisWalApplyDelta).
 * A varint is 7 bits per byte, least significant first, the high bit set
 * on every byte but the last, at most 5 bytes.  Without LZ4, delta2_len is
 * what remains after delta1.
 */
typedef struct xl_aegis_page
{
	AegisRelKey key;
	uint32		pageno;
	TransactionId conflict_xid; /* newest xid of row versions removed, or 0 */
	uint16		delta1_len;		/* bytes of delta before the compaction */
	uint16		delta2_len;		/* bytes of delta after it */
	uint16		stored_len;		/* bytes that follow (LZ4-compressed or not) */
	uint8		flags;			/* AEGIS_PAGE_* */
	uint8		reserved;
	/*
	 * With AEGIS_PAGE_VM_*: the Oid of the stub's tablespace (the key says
	 * 0 for the database's default, which redo cannot look up).  Then
	 * delta1, then delta2; a delta is a list of regions, each either
	 * (uint16 off, uint16 len, bytes) or, with AEGIS_DELTA_COPY set in off,
	 * (uint16 off, uint16 len, uint16 src): len bytes copied from offset
	 * src of the page as the delta finds it (row data a new row version
	 * shares with the old one, as heap's update records log only the
	 * changed middle of the new tuple).  Packed records write the same
	 * regions in fewer bytes (AegisWalApplyDelta).
	 */
} xl_aegis_page;

#define AEGIS_PAGE_COMPACT		0x01	/* compact between the deltas */
#define AEGIS_PAGE_LZ4			0x02	/* the deltas are LZ4-compressed */
#define AEGIS_PAGE_VM_CLEARED	0x04	/* clear the page's visibility map bits */
#define AEGIS_PAGE_VM_SET		0x08	/* set its ALL_VISIBLE bit */
#define AEGIS_PAGE_VM_FLAGS		(AEGIS_PAGE_VM_CLEARED | AEGIS_PAGE_VM_SET)
#define AEGIS_PAGE_KNOWN_FLAGS	(AEGIS_PAGE_COMPACT | AEGIS_PAGE_LZ4 | AEGIS_PAGE_VM_FLAGS)
#define AEGIS_PACKED_CONFLICT	0x10	/* packed: a conflict xid follows */
#define AEGIS_PACKED_DELTA1		0x20	/* packed: delta1's length follows */
#define AEGIS_PACKED_TYPED		0x40	/* packed: typed regions (below) */
#define AEGIS_PACKED_RUNS		0x80	/* packed, typed: item runs (below) */
#define AEGIS_PACKED_KNOWN_FLAGS (AEGIS_PAGE_KNOWN_FLAGS | AEGIS_PACKED_CONFLICT | \
								  AEGIS_PACKED_DELTA1 | AEGIS_PACKED_TYPED | \
								  AEGIS_PACKED_RUNS)
#define AEGIS_PACKED_MAX_HEAD	(1 + 4 * 5 + 4 + 3 * 5)	/* bytes */
#define AEGIS_REGION_MAX_HEAD	8	/* bytes before a packed region's data */
#define AEGIS_WAL_COMPRESS_MIN	512 /* bytes of deltas worth compressing */
#define AEGIS_DELTA_FIRST		8	/* pd_lsn is not part of a delta */
#define AEGIS_DELTA_COPY		0x8000	/* in a region's off: a copy region */
#define AEGIS_WAL_UNPACKED_SIZE (2 * (BLCKSZ + 512))	/* largest deltas */

/*
 * Typed regions (AEGIS_PACKED_TYPED, every page record since the build that
 * wrote them): a region's first varint is (gap << 2 | kind), and besides
 * literals and copies a region may be a tuple header: the fields of a
 * HeapTupleHeader's first AEGIS_TUPLE_REGION_LEN bytes that changed, with
 * a transaction id equal to the record's (xl_xid) or zero written as a code
 * and a ctid's block left out when it is the record's page.  A field byte
 * (AEGIS_TH_*) says which follow: [uint32 xmin] [uint32 xmax] [varint cid]
 * [varint ctid offset [uint32 ctid block]] [uint16 infomask2, uint16
 * infomask].  A HOT update's two headers took 41 literal bytes; they take
 * about 15.  An item region stands for a new tuple's line pointer and the
 * page's pd_lower and pd_upper, which redo derives from its length.
 *
 * An item run (AEGIS_PACKED_RUNS; an item region of length 0) stands for
 * new tuples added one after another at the top of the free space with
 * line pointers appended in order, each as an INSERT or COPY writes it:
 * xmin the record's xid, xmax zero, one command id for all, ctid its own
 * TID.  It holds varint count, varint cid, then per tuple varint length,
 * uint16 infomask2, uint16 infomask and the bytes from t_hoff on; redo
 * writes the headers, the tuples (padding zeroed), the line pointers and
 * the page's bounds (AegisWalPutItemRun).  Besides its bytes from t_bits
 * on, a COPY's tuple took about 15 bytes as a line pointer, a tuple header
 * region and a literal's head; in a run it takes 6-7 (heap's multi-insert
 * record 7-8).
 */
#define AEGIS_REGION_LITERAL	0
#define AEGIS_REGION_COPY		1
#define AEGIS_REGION_TUPLE		2
#define AEGIS_REGION_ITEM		3	/* a line pointer to a tuple added at
									 * pd_upper, which moves (PageAddItem) */
#define AEGIS_TUPLE_REGION_LEN	22	/* t_xmin .. t_infomask */
#define AEGIS_TH_XID_KEEP		0	/* xmin (bits 0-1), xmax (bits 2-3): kept */
#define AEGIS_TH_XID_RECORD		1	/* the record's xid */
#define AEGIS_TH_XID_LITERAL	2	/* 4 bytes follow */
#define AEGIS_TH_XID_ZERO		3	/* InvalidTransactionId */
#define AEGIS_TH_XID_MASK		3
#define AEGIS_TH_CID			0x10	/* t_cid (t_field3) follows as a varint */
#define AEGIS_TH_CTID			0x20	/* t_ctid's offset follows as a varint */
#define AEGIS_TH_CTID_BLOCK		0x40	/* then its block (else the record's page) */
#define AEGIS_TH_MASKS			0x80	/* t_infomask2 and t_infomask follow */

/* How a delta is read (AegisWalDeltaFormOf). */
typedef struct AegisDeltaForm
{
	bool		packed;			/* packed regions (XLOG_AEGIS_PAGE_PACKED) */
	bool		typed;			/* typed regions (AEGIS_PACKED_TYPED) */
	bool		runs;			/* item runs too (AEGIS_PACKED_RUNS) */
	TransactionId xid;			/* the record's xid (xl_xid), or invalid */
	BlockNumber pageno;			/* the page it changes */
} AegisDeltaForm;

/* wal_decode.c: the pure part of page redo (fuzzed by test/fuzz) */
extern Size AegisWalPagePackHeader(const xl_aegis_page *xlrec, Oid vm_spc, char *out);
extern const char *AegisWalPageParseHeader(const char *data, Size datalen, bool packed,
										   xl_aegis_page *xlrec, Oid *vm_spc, Size *head);
extern void AegisWalDeltaFormOf(const xl_aegis_page *xlrec, bool packed, TransactionId xid,
								AegisDeltaForm *form);
extern const char *AegisWalPageParse(const char *data, Size datalen, bool packed,
									 TransactionId xid, xl_aegis_page *xlrec, Oid *vm_spc,
									 char *unpacked, const char **delta1, const char **delta2);
extern bool AegisWalApplyDelta(char *page, const char *delta, Size len,
							   const AegisDeltaForm *form);
extern void AegisWalPutRegion(char *out, Size *len, uint32 *prev_end, uint32 off, uint32 n,
							  const char *bytes, uint32 src, bool typed);
extern void AegisWalPutItem(char *out, Size *len, uint32 *prev_end, uint32 off, uint32 n);
extern bool AegisWalPutItemRun(char *out, Size *len, uint32 *prev_end, uint32 off, int count,
							   const char *page, uint32 upper, TransactionId xid,
							   BlockNumber pageno);
extern bool AegisWalPutTupleHeader(char *out, Size *len, uint32 *prev_end, uint32 off,
								   const char *after, const char *before, TransactionId xid,
								   BlockNumber pageno, Size limit);

/* XLOG_AEGIS_CREATE; the record's end LSN is the storage's incarnation. */
typedef struct xl_aegis_create
{
	AegisRelKey key;
	uint8		storage;		/* AegisStorageKind */
	uint8		codec;			/* AegisCodec */
	int16		level;
	char		persistence;	/* RELPERSISTENCE_* */
	char		reserved[3];
} xl_aegis_create;

/* XLOG_AEGIS_DROP, XLOG_AEGIS_TRUNCATE (DROP_DATABASE: only key.dbOid). */
typedef struct xl_aegis_storage
{
	AegisRelKey key;
	uint32		reserved;
	XLogRecPtr	create_lsn;		/* incarnation of the storage */
} xl_aegis_storage;

/*
 * XLOG_AEGIS_STUB: the stub of 'node' covers pages [0, npages).
 * XLOG_AEGIS_STUB_TRIM: the stub of 'node' is cut to 'npages' pages (if
 * longer): at the end of a statement and before commit, a stub grown by
 * chunks is cut to the relation's pages.
 */
typedef struct xl_aegis_stub
{
	RelFileNode node;			/* real tablespace, never 0 */
	uint32		npages;
} xl_aegis_stub;

/*
 * XLOG_AEGIS_SHRINK: VACUUM cut 'key' to its first 'npages' pages.  Redo
 * cuts the storage (same incarnation only), the stub's visibility map to
 * 'npages' pages and the stub's main fork to 'stub_pages' (if longer; never
 * below 'npages', invariant 2), as smgr_redo does for heap.
 */
typedef struct xl_aegis_shrink
{
	AegisRelKey key;
	uint32		npages;			/* pages kept */
	XLogRecPtr	create_lsn;		/* incarnation of the storage */
	RelFileNode node;			/* the stub: real tablespace, never 0 */
	uint32		stub_pages;		/* the stub's main fork is cut to this */
} xl_aegis_shrink;

/*
 * XLOG_AEGIS_EMPTY: pages [from, to) of 'key' lose their visibility map
 * bits and become new, empty pages (PageInit) stamped with the record's end
 * LSN, and are written back; VACUUM logs it before it cuts them (SHRINK), so
 * a block map rebuilt from the data files finds no old content under those
 * page numbers, on the primary and on standbys alike, whether or not the
 * cut follows.
 */
typedef struct xl_aegis_empty
{
	AegisRelKey key;
	uint32		from;
	uint32		to;
	Oid			vm_spc;			/* the stub's tablespace (never 0) */
	XLogRecPtr	create_lsn;		/* incarnation of the storage */
} xl_aegis_empty;

/*
 * XLOG_AEGIS_IMAGE: the stored block (header and payload) follows; for a
 * group block, then a uint32 mask of the members to replay (bit i: member
 * i; the others are pages the block no longer holds).
 */
typedef struct xl_aegis_image
{
	AegisRelKey key;
	uint32		pageno;
	uint32		block_len;		/* bytes of the block that follows */
} xl_aegis_image;

/*
 * XLOG_AEGIS_LOGICAL (wal_logical.c): then 'ntuples' new tuples and, with
 * AEGIS_LOGICAL_HAS_OLD, the old replica identity; each tuple as a uint32
 * length in bytes and the tuple (header and data).  Redo ignores it.
 */
typedef struct xl_aegis_logical
{
	RelFileNode node;			/* the relation, as PostgreSQL names it */
	uint8		action;			/* AEGIS_LOGICAL_* */
	uint8		flags;
	uint16		reserved;
	uint32		ntuples;
} xl_aegis_logical;

#define AEGIS_LOGICAL_INSERT		1
#define AEGIS_LOGICAL_SPEC_INSERT	2
#define AEGIS_LOGICAL_SPEC_CONFIRM	3
#define AEGIS_LOGICAL_SPEC_ABORT	4
#define AEGIS_LOGICAL_UPDATE		5
#define AEGIS_LOGICAL_DELETE		6

#define AEGIS_LOGICAL_HAS_OLD		0x01

/*
 * XLOG_AEGIS_REL_INFO: a fact about storage 'key' that processes without a
 * relcache need to store its pages well.  kind AEGIS_REL_INFO_LAYOUT: the
 * attribute layout of its tuples (the columns form needs it, block_pax.c):
 * 'natts' pairs (int16 attlen, char attalign) follow.  Logged before a
 * table's first change after each redo pointer (as a full-page image is),
 * so the startup process that writes the pages its redo changed, and a
 * standby, know it: without it they stored the rows form.  Only a hint
 * (a page the layout does not describe is stored as it is), so a record
 * of a layout since changed is harmless.
 */
typedef struct xl_aegis_rel_info
{
	AegisRelKey key;
	uint8		kind;			/* AEGIS_REL_INFO_* */
	uint8		reserved;
	int16		natts;
} xl_aegis_rel_info;

#define AEGIS_REL_INFO_LAYOUT	1

/* XLOG_AEGIS_CHECKPOINT */
typedef struct xl_aegis_checkpoint
{
	XLogRecPtr	redo;			/* every aegis change before it is durable */
} xl_aegis_checkpoint;

/*
 * A change to one page, logged following the recipe in src/wal/README:
 *
 *		chg = AegisWalPageBegin(rel, buf);		-- exclusive content lock held
 *		START_CRIT_SECTION();
 *		... change the page; AegisWalPageCompact(chg) to defragment ...
 *		AegisBufferMarkDirty(buf);
 *		AegisWalPageLog(chg);
 *		END_CRIT_SECTION();
 *
 * A change that only adds tuples (PageAddItem: INSERT, COPY) may begin with
 * AegisWalPageBeginAppend, which copies and compares only the page header,
 * the line pointers and the free space the new tuples will take.
 * A change to an all-visible page clears PD_ALL_VISIBLE and the page's
 * visibility map bits unless it hides no version and says so
 * (AegisWalPageBeginKeepVisible); VACUUM sets them (AegisWalPageSetVisible).
 */
/* new tuples an AegisPageChange remembers by their line pointers */
#define AEGIS_CHANGE_NOTED 4

typedef struct AegisPageChange
{
	AegisBuffer buf;
	Relation	rel;
	bool		needs_wal;		/* false: unlogged, temp, memory, or skipped */
	bool		compacted;
	bool		keep_visible;	/* the change hides no version */
	bool		set_visible;	/* the change makes the page all-visible */
	bool		delta1_runs;	/* delta1 holds an item run */
	bool		append;			/* AegisWalPageBeginAppend, ..Tuple or
								 * ..Prune: only the page header, the line
								 * pointers, new tuples and one tuple header
								 * change; before holds [0, append_lo_end),
								 * [append_hi_start, append_upper) and
								 * [touch_start, touch_end) */
	uint16		append_lower;	/* pd_lower and pd_upper at Begin */
	uint16		append_upper;
	uint16		append_lo_end;
	uint16		append_hi_start;
	uint16		touch_start;	/* the header of the tuple whose header the
								 * change may rewrite (equal: none) */
	uint16		touch_end;
	int			nadded;			/* tuples AegisWalPageAdded noted since Begin
								 * or the compaction, -1 if more than
								 * AEGIS_CHANGE_NOTED */
	OffsetNumber added[AEGIS_CHANGE_NOTED];
	Buffer		vmbuf;			/* map page: pinned by Begin to clear, or
								 * the caller's to set */
	TransactionId conflict_xid; /* for standby queries (AegisWalPageConflict) */
	/* AegisWalPageSameData: row data of the new version (dst) and the old */
	uint16		copy_dst;
	uint16		copy_dst_len;
	uint16		copy_src;
	uint16		copy_src_len;
	uint16		delta1_len;
	char		delta1[BLCKSZ + 512];
	PGAlignedBlock before;		/* the page as it was before the change
								 * (append: only the ranges above) */
} AegisPageChange;

/* Facts about a relation cached in its rd_amcache (AegisRelGetCache). */
typedef struct AegisRelWalCache
{
	Oid			relNumber;		/* the relfilenode they are about */
	bool		local;			/* local storage backend */
	bool		reset_checked;	/* unlogged: compared with its stub */
	XLogRecPtr	layout_redo;	/* its layout was logged since this redo
								 * pointer (AegisWalPageBegin) */
	AegisCodec	codec;			/* its pages' codec (AEGIS_CODEC_NONE if it
								 * has no storage) */
	int			toast_threshold;	/* bytes, AegisTamToastThreshold; 0 until
									 * the table AM computes it */
} AegisRelWalCache;

/* Counters reported by aegis_wal_stats() (wal_page.c, wal_storage.c). */
typedef struct AegisWalCounters
{
	uint64		records;		/* aegis records inserted since start */
	uint64		bytes;			/* their payload bytes */
	uint64		page_records;
	uint64		compressed_records; /* page records stored LZ4-compressed */
} AegisWalCounters;

/* wal_page.c */
extern Size AegisWalShmemSize(void);
extern void AegisWalShmemInit(void);
extern bool AegisRelNeedsWal(Relation rel);
extern AegisRelWalCache *AegisRelGetCache(Relation rel);
extern void AegisWalPublishLayout(Relation rel, const AegisRelKey *key);
extern XLogRecPtr AegisWalLogLayout(const AegisRelKey *key, const AegisPageLayout *layout);
extern void AegisWalRelInfoRedo(XLogReaderState *record);
extern void AegisWalRelInfoDesc(StringInfo buf, XLogReaderState *record);
extern XLogRecPtr AegisWalLogPageImage(const AegisRelKey *key, BlockNumber pageno,
									   Page page);
extern AegisPageChange *AegisWalPageBegin(Relation rel, AegisBuffer buf);
extern AegisPageChange *AegisWalPageBeginPrune(Relation rel, AegisBuffer buf, bool keep_visible);
extern AegisPageChange *AegisWalPageBeginTuple(Relation rel, AegisBuffer buf, OffsetNumber off,
											   Size tuple_space, bool keep_visible);
extern void AegisWalPageCompact(AegisPageChange *chg);
extern void AegisWalPageAdded(AegisPageChange *chg, OffsetNumber off);
extern void AegisWalPageConflict(AegisPageChange *chg, TransactionId xid);
extern void AegisWalPageSameData(AegisPageChange *chg, OffsetNumber newoff,
								 OffsetNumber oldoff);
extern void AegisWalPageLog(AegisPageChange *chg);
extern AegisPageChange *AegisWalPageBeginKeepVisible(Relation rel, AegisBuffer buf);
extern AegisPageChange *AegisWalPageBeginAppend(Relation rel, AegisBuffer buf,
												Size tuple_space);
extern void AegisWalPageSetVisible(AegisPageChange *chg, Buffer vmbuf,
								   TransactionId cutoff_xid);
extern void AegisPageCompact(Page page);
extern void AegisWalPageRedo(XLogReaderState *record, bool tolerant);
extern uint64 AegisWalRedoSkippedCut(bool reset);
extern void AegisWalPageDesc(StringInfo buf, XLogReaderState *record);
extern void AegisWalLogBlockImage(const AegisRelKey *key, BlockNumber pageno,
								  const char *block, uint32 len, uint32 members);
extern void AegisWalImageRedo(XLogReaderState *record);
extern void AegisWalImageDesc(StringInfo buf, XLogReaderState *record);
extern void AegisWalCount(Size bytes, bool page, bool compressed);
extern void AegisWalGetCounters(AegisWalCounters *counters);
extern void AegisWalSetGuarded(bool guarded);
extern void AegisWalWaitGuarded(void);
extern bool AegisWalIsGuarded(void);
extern bool AegisWalWasGuarded(void);
extern void AegisWalCheckGuarded(void);

/* wal_visibility.c (AegisVmUsable: wal_page.c) */
extern bool AegisVmUsable(Relation rel);
extern Buffer AegisVmPinIfExists(Relation rel, BlockNumber pageno);
extern void AegisVmClearRange(Relation rel, BlockNumber from, BlockNumber to);
extern void AegisVmSetAllVisible(Buffer vmbuf, BlockNumber pageno, XLogRecPtr lsn);
extern void AegisVmRedo(const AegisRelKey *key, Oid spc, BlockNumber pageno,
						XLogRecPtr lsn, bool set);

/* wal_storage.c */
extern XLogRecPtr AegisWalLogCreate(const AegisRelKey *key, AegisStorageKind storage,
									AegisCodec codec, int level, char persistence);
extern void AegisWalLogDrop(const AegisRelKey *key, XLogRecPtr create_lsn);
extern void AegisWalLogDropDatabase(Oid dbOid);
extern XLogRecPtr AegisWalLogTruncate(const AegisRelKey *key, XLogRecPtr create_lsn);
extern void AegisWalLogStub(const RelFileNode *node, BlockNumber npages);
extern void AegisWalLogStubTrim(const RelFileNode *node, BlockNumber npages);
extern XLogRecPtr AegisWalLogShrink(const xl_aegis_shrink *xlrec);
extern XLogRecPtr AegisWalLogEmpty(const AegisRelKey *key, XLogRecPtr create_lsn,
								   BlockNumber from, BlockNumber to, Oid vm_spc);
extern void AegisStubTruncate(struct SMgrRelationData *srel, BlockNumber main_pages,
							  BlockNumber vm_pages);
extern void AegisWalStorageRedo(XLogReaderState *record);
extern void AegisWalSettleDatabases(bool end_of_recovery);
extern void AegisWalStorageDesc(StringInfo buf, XLogReaderState *record);

/*
 * XLOG_AEGIS_DICTIONARY: compression dictionary 'id' of storage 'key' was
 * made; its 'length' bytes follow.
 */
typedef struct xl_aegis_dict
{
	AegisRelKey key;
	uint16		id;
	uint16		reserved;
	uint32		length;
	XLogRecPtr	create_lsn;		/* incarnation of the storage */
} xl_aegis_dict;

/* wal_dict.c */
extern void AegisWalDictMaybeTrain(const AegisRelKey *key, bool log);
extern void AegisWalDictRequest(Relation rel, const AegisRelKey *key);
extern Size AegisWalDictShmemSize(void);
extern void AegisWalDictShmemInit(void);
extern PGDLLEXPORT void AegisDictWorkerMain(Datum arg);
extern bool AegisWalDictDue(BlockNumber npages);
extern void AegisWalDictRedo(XLogReaderState *record);
extern void AegisWalDictDesc(StringInfo buf, XLogReaderState *record);
extern bool AegisWalSameIncarnation(XLogRecPtr have, XLogRecPtr create_lsn);

/* wal_logical.c */
struct LogicalDecodingContext;
struct XLogRecordBuffer;
extern bool AegisWalLogicalWanted(Relation rel);
extern void AegisWalLogicalCheckPublished(Relation rel, CmdType cmd);
extern HeapTuple AegisWalLogicalOldKey(Relation rel, HeapTuple oldtup, HeapTuple newtup);
extern void AegisWalLogicalInsert(Relation rel, HeapTuple *tuples, int ntuples,
								  bool speculative);
extern void AegisWalLogicalSpecEnd(Relation rel, bool confirmed);
extern void AegisWalLogicalUpdate(Relation rel, HeapTuple newtup, HeapTuple oldkey);
extern void AegisWalLogicalDelete(Relation rel, HeapTuple oldkey);
extern void AegisWalLogicalDecode(struct LogicalDecodingContext *ctx,
								  struct XLogRecordBuffer *buf);
extern void AegisWalLogicalDesc(StringInfo buf, XLogReaderState *record);

#endif							/* AEGIS_WAL_H */
