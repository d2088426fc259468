/*-------------------------------------------------------------------------
 *
 * wal.h
 *	  The aegis write-ahead log: records, insertion, group commit, the
 *	  control file and crash recovery.
 *
 * The aegis WAL is a byte stream addressed by a 64-bit LSN, stored in
 * segment files of AEGIS_WAL_SEG_SIZE bytes under <data_directory>/wal.
 * Every record starts with an AegisWalRecord header that carries its own
 * LSN and a CRC-32C, so a record read from a stale or damaged place is
 * recognised.  A record never crosses a segment boundary: the rest of a
 * segment too small for the next record is filled with a PAD record.
 * See src/wal/README for the protocols (the page-change recipe, commit,
 * checkpoint, recovery).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_WAL_H
#define AEGIS_WAL_H

#include "aegis/aegis.h"
#include "aegis/buffer.h"
#include "port/pg_crc32c.h"
#include "utils/rel.h"

#define AEGIS_WAL_SEG_SIZE		(16 * 1024 * 1024)	/* bytes */
#define AEGIS_WAL_FIRST_LSN		((AegisLsn) AEGIS_WAL_SEG_SIZE)
#define AEGIS_WAL_MAX_RECORD	(2 * BLCKSZ + 1024)	/* bytes, header included */

/* Record types */
typedef enum AegisWalRecType
{
	AEGIS_WAL_PAD = 1,			/* filler up to the end of a segment */
	AEGIS_WAL_PAGE = 2,			/* a change to one page (delta) */
	AEGIS_WAL_CREATE = 3,		/* storage created (informational, LSN) */
	AEGIS_WAL_DROP = 4,			/* storage dropped at commit of xid */
	AEGIS_WAL_DROP_DATABASE = 5,	/* all storage of a database, at commit */
	AEGIS_WAL_TRUNCATE = 6,		/* storage emptied in place */
	AEGIS_WAL_EXTEND = 7		/* relation may have pages up to 'npages' */
} AegisWalRecType;

typedef struct AegisWalRecord
{
	uint32		tot_len;		/* bytes, header included */
	uint8		type;			/* AegisWalRecType */
	uint8		flags;
	uint16		reserved;
	AegisLsn	lsn;			/* where this record starts */
	TransactionId xid;			/* inserting (sub)transaction, or 0 */
	pg_crc32c	crc;			/* of header (crc = 0) and payload */
} AegisWalRecord;

/* Payload of AEGIS_WAL_PAGE: the page's identity, then the change. */
typedef struct AegisWalPageRec
{
	AegisRelKey key;
	uint32		pageno;
	uint16		delta1_len;		/* bytes of delta before the compaction */
	uint16		delta2_len;		/* bytes of delta after it */
	uint16		stored_len;		/* bytes that follow (LZ4-compressed or not) */
	uint16		reserved;
	/* delta1, then delta2; a delta is a list of (uint16 off, uint16 len, bytes) */
} AegisWalPageRec;

#define AEGIS_WAL_PAGE_COMPACT	0x01	/* record flag: compact between deltas */
#define AEGIS_WAL_PAGE_LZ4		0x02	/* record flag: the deltas are LZ4-compressed */
#define AEGIS_WAL_COMPRESS_MIN	512 /* bytes of deltas worth compressing */

/* Payload of CREATE, DROP, TRUNCATE, EXTEND. */
typedef struct AegisWalStorageRec
{
	AegisRelKey key;			/* DROP_DATABASE: only dbOid */
	uint32		npages;			/* EXTEND: pages covered */
	AegisLsn	create_lsn;		/* incarnation of the storage */
} AegisWalStorageRec;

/*
 * A change to one page, logged following the recipe in src/wal/README:
 *
 *		chg = AegisWalPageBegin(rel, buf);		-- exclusive content lock held
 *		START_CRIT_SECTION();
 *		... change the page; AegisWalPageCompact(chg) to defragment ...
 *		AegisBufferMarkDirty(buf);
 *		AegisWalPageLog(chg);
 *		END_CRIT_SECTION();
 */
typedef struct AegisPageChange
{
	AegisBuffer buf;
	bool		needs_wal;		/* false: unlogged, temp or memory storage */
	bool		compacted;
	uint16		delta1_len;
	char		delta1[BLCKSZ + 512];
	PGAlignedBlock before;		/* the page as it was before the change */
} AegisPageChange;

/* Counters reported by aegis_wal_stats(). */
typedef struct AegisWalStats
{
	AegisLsn	insert_lsn;
	AegisLsn	flush_lsn;
	AegisLsn	redo_lsn;
	uint64		records;
	uint64		bytes;
	uint64		fsyncs;
	uint64		commits;		/* commits that needed the WAL flushed */
	uint64		pg_flushes;		/* PostgreSQL WAL flushes a flush waited for */
	uint64		checkpoints;
	double		last_checkpoint_ms;
	double		last_recovery_ms;
	uint64		last_recovery_records;
	uint64		last_recovery_bytes;
} AegisWalStats;

/* wal_insert.c */
extern Size AegisWalShmemSize(void);
extern void AegisWalShmemInit(void);
extern AegisLsn AegisWalInsert(uint8 type, uint8 flags, const char *payload1,
							   uint32 len1, const char *payload2, uint32 len2);
extern void AegisWalRegisterRmgr(void);
extern void AegisWalPrepareInsert(void);
extern void AegisWalFlush(AegisLsn upto);
extern AegisLsn AegisWalInsertLsn(void);
extern void AegisWalAtPreCommit(void);
extern void AegisWalAtXactEnd(void);
extern void AegisWalNoteMultiXact(void);
extern void AegisWalGetStats(AegisWalStats *stats);
extern void AegisWalStartAt(AegisLsn lsn);
extern void AegisWalRemoveBefore(AegisLsn redo);
extern void AegisWalNoteCheckpoint(AegisLsn redo, double ms);
extern void AegisWalNoteRecovery(double ms, uint64 records, uint64 bytes);
extern char *AegisWalSegmentPath(uint64 segno);
extern bool AegisWalParseSegmentName(const char *name, uint64 *segno);
extern uint64 AegisWalBytesSinceRedo(void);

/* wal_page.c */
extern bool AegisRelNeedsWal(Relation rel);
extern AegisPageChange *AegisWalPageBegin(Relation rel, AegisBuffer buf);
extern void AegisWalPageCompact(AegisPageChange *chg);
extern void AegisWalPageLog(AegisPageChange *chg);
extern void AegisWalPageRedo(const AegisWalRecord *rec, const char *payload,
							 AegisLsn end);
extern void AegisPageCompact(Page page);

/* wal_recovery.c */
typedef enum AegisControlState
{
	AEGIS_STATE_SHUTDOWN = 1,	/* clean shutdown checkpoint done */
	AEGIS_STATE_IN_PRODUCTION = 2	/* running, or crashed */
} AegisControlState;

extern bool AegisWalReadControl(AegisLsn *redo, AegisControlState *state);
extern void AegisWalWriteControl(AegisLsn redo, AegisControlState state);
extern void AegisWalRecover(void);

#endif							/* AEGIS_WAL_H */
