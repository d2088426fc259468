/*-------------------------------------------------------------------------
 *
 * backend.h
 *	  Storage backends and the relation directory.
 *
 * The relation directory (backend_dir.c) is a shared hash table, keyed by
 * AegisRelKey, that says for every aegis relation which storage backend
 * holds it, its codec and level, how many pages it has, and where each page's
 * block lives (the block map).  The storage backends store the bytes:
 * backend_local.c in append-only files (copy-on-write), backend_memory.c in
 * shared memory.  Everything above this layer (the buffer pool) speaks in
 * whole pages; compression and checksums happen here, through block.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_BACKEND_H
#define AEGIS_BACKEND_H

#include "access/xlogdefs.h"
#include "aegis/aegis.h"
#include "aegis/block.h"
#include "storage/block.h"
#include "port/atomics.h"
#include "utils/dsa.h"

/*
 * Where one page's current block lives.  length == 0 means the page has never
 * been written back: it reads as a new (all-zero) page.  For the local
 * backend, offset is a byte offset in the relation's data file of generation
 * 'generation'; for the memory backend it is a dsa_pointer.
 */
/* A page that has no block yet keeps in 'offset' the LSN it was added at. */
typedef struct AegisBlockLoc
{
	uint64		offset;
	uint32		length;			/* bytes of the block, header included */
	uint32		generation;		/* local: data file generation */
} AegisBlockLoc;

/*
 * Local storage: the top 16 bits of a block's 'offset' say more of it
 * (block map format version 5; a file offset is below 2^48):
 * - bits 48-55: the page's index among the members of a group block
 *   (several pages compressed as one, src/block/block_group.c);
 * - bits 56-62: the group's members, 0 for the block of one page;
 * - bit 63 (AEGIS_LOC_PENDING): the block of one page that was all-visible
 *   when written back, at the table's own level; the next aegis checkpoint
 *   puts it in a group or compresses it again at the cold level
 *   (AegisStorageSyncRelation);
 * - bit 48 of the block of one page (AEGIS_LOC_COLD): an all-visible page
 *   that the checkpoint did not put in a group; it may join one with
 *   pending neighbours later.
 * The memory backend keeps a dsa_pointer there and no bits.
 */
#define AEGIS_LOC_OFFSET_BITS	48
#define AEGIS_LOC_MAX_OFFSET	((UINT64CONST(1) << AEGIS_LOC_OFFSET_BITS) - 1)
#define AEGIS_LOC_PENDING		(UINT64CONST(1) << 63)
#define AEGIS_LOC_COLD			(UINT64CONST(1) << 48)

/* byte offset of a local block in its data file generation */
static inline uint64
AegisLocFileOffset(const AegisBlockLoc *loc)
{
	return loc->offset & AEGIS_LOC_MAX_OFFSET;
}

/* members of the group block 'loc' names; 0 if it holds one page */
static inline int
AegisLocGroupSize(const AegisBlockLoc *loc)
{
	return (int) ((loc->offset >> 56) & 0x7F);
}

/* the page's index among the group's members */
static inline int
AegisLocMember(const AegisBlockLoc *loc)
{
	return (int) ((loc->offset >> 48) & 0xFF);
}

static inline bool
AegisLocIsPending(const AegisBlockLoc *loc)
{
	return (loc->offset & AEGIS_LOC_PENDING) != 0;
}

static inline bool
AegisLocIsCold(const AegisBlockLoc *loc)
{
	return AegisLocGroupSize(loc) == 0 && (loc->offset & AEGIS_LOC_COLD) != 0;
}

/* an offset with the group bits: member 'member' of 'nmembers' */
static inline uint64
AegisLocGroupOffset(uint64 file_offset, int member, int nmembers)
{
	return file_offset | ((uint64) member << 48) | ((uint64) nmembers << 56);
}

/*
 * The bytes of storage a page's block accounts for: the block's length, a
 * share of it for a member of a group (the first member also takes the
 * remainder), 0 without a block.
 */
static inline uint32
AegisLocShare(const AegisBlockLoc *loc)
{
	int			n;

	if (loc->length == 0)
		return 0;
	n = AegisLocGroupSize(loc);
	if (n == 0)
		return loc->length;
	return loc->length / n + (AegisLocMember(loc) == 0 ? loc->length % n : 0);
}

/* A copy of a directory entry's public part. */
typedef struct AegisRelInfo
{
	AegisRelKey key;
	AegisStorageKind storage;
	AegisCodec	codec;
	int			level;
	BlockNumber npages;
	char		persistence;	/* RELPERSISTENCE_* of the relation */
	XLogRecPtr	create_lsn;		/* end LSN of its CREATE record (the
								 * incarnation), 0 if unknown (map rebuilt) */
	TransactionId create_xid;	/* creating xid until known committed, or 0 */
	TransactionId drop_xid;		/* xid that drops it at commit, or 0 */
	BlockNumber insert_floor;	/* set by the previous build after a crash:
								 * no new tuple below this until VACUUM */
	XLogRecPtr	cut_lsn;		/* end LSN of the record of the last cut
								 * (VACUUM's SHRINK, TRUNCATE), 0 if none */
	uint16		dict_id;		/* its current compression dictionary, 0 if
								 * none or not counted yet; and whether */
	bool		dict_busy;		/* the next one is being made (both reported
								 * only; ignored as input) */
} AegisRelInfo;

/* Figures reported by aegis_table_stats(). */
typedef struct AegisRelStats
{
	AegisRelInfo info;
	uint64		stored_blocks;	/* pages that have a block */
	uint64		raw_bytes;		/* stored_blocks * BLCKSZ */
	uint64		stored_bytes;	/* bytes of the current blocks */
	uint64		file_bytes;		/* local: data file length plus compression
								 * dictionaries; memory: = stored */
} AegisRelStats;

/* backend_dir.c: the relation directory */
extern void AegisStorageLoad(bool rebuild);
extern bool AegisStorageLoaded(void);
extern void AegisStorageLoadEarly(void);
extern bool AegisStorageRestoringBackup(void);
extern void AegisStorageCreate(const AegisRelKey *key, AegisStorageKind storage,
							   AegisCodec codec, int level, char persistence,
							   XLogRecPtr create_lsn, TransactionId create_xid);
extern bool AegisStorageAdopt(const AegisRelKey *key, AegisCodec codec, int level,
							  char persistence, XLogRecPtr create_lsn,
							  TransactionId create_xid);
extern bool AegisStorageGetInfo(const AegisRelKey *key, AegisRelInfo *info);
extern void AegisStorageSetLayout(const AegisRelKey *key, const AegisPageLayout *layout);
extern bool AegisStorageGetLayout(const AegisRelKey *key, AegisPageLayout *layout);
extern bool AegisStorageLayoutLogged(const AegisRelKey *key, const AegisPageLayout *layout,
									 XLogRecPtr since);
extern void AegisStorageSetLayoutLogged(const AegisRelKey *key, const AegisPageLayout *layout,
										XLogRecPtr lsn);
extern BlockNumber AegisStorageNPages(const AegisRelKey *key);
extern bool AegisStorageGetPageInfo(const AegisRelKey *key, BlockNumber pageno,
									AegisRelInfo *info, XLogRecPtr *added_lsn);
extern BlockNumber AegisStorageExtend(const AegisRelKey *key, XLogRecPtr added_lsn);

/*
 * Writes and flushes the WAL record of a cut and returns its end LSN; called
 * under sync_lock by AegisStorageTruncate / AegisStorageShrink (redo passes
 * one that returns the replayed record's end).
 */
typedef XLogRecPtr (*AegisCutLogger) (void *arg);

extern void AegisStorageTruncate(const AegisRelKey *key, AegisCutLogger log, void *arg);
extern void AegisStorageShrink(const AegisRelKey *key, BlockNumber npages,
							   AegisCutLogger log, void *arg);
extern bool AegisStorageMarkDrop(const AegisRelKey *key, TransactionId xid,
								 XLogRecPtr *create_lsn);
extern void AegisStorageMarkDropDatabase(Oid dbOid, TransactionId xid, XLogRecPtr before);
extern void AegisStorageClearDrop(const AegisRelKey *key);
extern void AegisStorageClearDropMarks(const AegisRelKey *key, TransactionId xid);
extern bool AegisStorageDropCommitted(const AegisRelInfo *info);
extern bool AegisXidReplayed(TransactionId xid);
extern bool AegisStorageDropAborted(const AegisRelInfo *info);
extern bool AegisStorageMayInferAborts(void);
extern bool AegisStorageShouldDrop(const AegisRelInfo *info, bool settled);
extern void AegisStorageDrop(const AegisRelKey *key);
extern void AegisStorageDropDatabase(Oid dbOid);
extern bool AegisStorageReadPage(const AegisRelKey *key, BlockNumber pageno,
								 char *page);
extern void AegisStorageWritePage(const AegisRelKey *key, BlockNumber pageno,
								  const char *page, bool reserved);
/*
 * Logs a block that moves or replaces pages' blocks (XLOG_AEGIS_IMAGE):
 * 'members', for a group block, the members whose pages it holds now
 * (bit i: member i), 0 for a page's own block.
 */
typedef void (*AegisBlockLogger) (const AegisRelKey *key, BlockNumber pageno,
								  const char *block, uint32 len, uint32 members);
extern void AegisStorageSyncRelation(const AegisRelKey *key, AegisBlockLogger logger);
extern BlockNumber AegisStorageRegroupBegin(const AegisRelKey *key, bool defer);
extern void AegisStorageRegroup(const AegisRelKey *key, BlockNumber from, BlockNumber to,
								bool (*give_way) (void));
extern void AegisStorageRegroupLater(const AegisRelKey *key);
extern AegisRelInfo *AegisStorageListAll(int *n);
extern bool AegisStorageResetPending(const AegisRelKey *key);
extern void AegisStorageResetDone(const AegisRelKey *key);
extern void AegisStorageNoteFreeSpace(const AegisRelKey *key, BlockNumber pageno);
extern BlockNumber AegisStorageFreeHint(const AegisRelKey *key, BlockNumber full,
										BlockNumber *npages, BlockNumber *floor);
extern void AegisStorageClearFloor(const AegisRelKey *key, BlockNumber floor);
extern bool AegisStorageGetStats(const AegisRelKey *key, AegisRelStats *stats);
extern uint16 AegisStorageDictBegin(const AegisRelKey *key, BlockNumber npages,
									uint16 *have);
extern void AegisStorageDictEnd(const AegisRelKey *key, uint16 id, bool made,
								BlockNumber npages);
extern void AegisStorageDictReplay(const AegisRelKey *key, uint16 id, const char *bytes,
								   uint32 len);
extern bool AegisStorageStoredLSN(const AegisRelKey *key, BlockNumber pageno,
								  XLogRecPtr *lsn);

/*
 * A storage backend stores and returns the bytes of blocks; the relation
 * directory (backend_dir.c) decides where each block goes and keeps the
 * block map.  Every callback may raise an error; none is called while a
 * content lock is held.
 *
 * - write_block: store loc->length bytes of 'block'.  An append-only backend
 *   writes at loc->generation/loc->offset, which the directory reserved; any
 *   other backend chooses the place and sets loc->offset.  'reserved': the
 *   room was reserved beforehand (AegisMemoryReserve) and this write uses
 *   that reservation up, so it cannot fail for lack of budget.
 * - read_block: copy the block 'loc' names (loc->length bytes) into 'block'.
 * - delete_block: the block 'loc' names is superseded or its relation gone;
 *   NULL if nothing is to be done per block (append-only files are
 *   reclaimed by compaction and unlink).
 * - sync: make the blocks of a generation durable; NULL if not durable.
 * - drop_relation: remove what the relation holds beyond its blocks (files
 *   of a generation); NULL if nothing.  Raises no error (WARNING instead).
 * - location: palloc'd name of where 'loc' lives, for error messages.
 */
typedef struct AegisStorageBackend
{
	const char *name;
	bool		durable;		/* survives a restart; checkpoints cover it */
	bool		append_only;	/* blocks are appended at reserved offsets */
	bool		read_under_entry_lock;	/* reads are cheap memcpys that must
										 * not race with delete_block */
	void		(*write_block) (const AegisRelKey *key, AegisBlockLoc *loc,
								const char *block, bool reserved);
	void		(*read_block) (const AegisRelKey *key, const AegisBlockLoc *loc,
							   char *block);
	void		(*delete_block) (const AegisRelKey *key, const AegisBlockLoc *loc);
	void		(*sync) (const AegisRelKey *key, uint32 generation);
	void		(*drop_relation) (const AegisRelKey *key, uint32 generation);
	char	   *(*location) (const AegisRelKey *key, const AegisBlockLoc *loc);
} AegisStorageBackend;

extern const AegisStorageBackend AegisLocalBackend;
extern const AegisStorageBackend AegisMemoryBackend;

/*
 * The directory sits above the storage backends and hands them the shared
 * state they use when a process attaches to it: the memory backend's DSA
 * area and byte counter, the local backend's file epoch.
 */
extern void AegisMemoryAttach(dsa_area *area, pg_atomic_uint64 *used_bytes);
extern void AegisMemoryReserve(void);
extern void AegisMemoryUnreserve(void);
extern void AegisMemoryCheckRoom(void);
extern bool AegisMemoryHasRoom(void);
extern void AegisLocalAttach(pg_atomic_uint64 *file_epoch);

/* backend_local.c: block map files (the directory's durable record) */
extern void AegisLocalWriteMap(const AegisRelKey *key, const AegisRelInfo *info,
							   uint32 generation, uint64 file_end,
							   const AegisBlockLoc *map);
extern void AegisLocalUnlinkMap(const AegisRelKey *key);
/* Where a compression dictionary being made goes (AegisLocalPrepareDict). */
typedef struct AegisDictFile
{
	char		path[MAXPGPATH];
	char		tmppath[MAXPGPATH];
} AegisDictFile;
extern int	AegisLocalCountDicts(const AegisRelKey *key, uint64 *bytes);
extern void AegisLocalPrepareDict(const AegisRelKey *key, uint16 id, const char *bytes,
								  uint32 len, AegisDictFile *file);
extern void AegisLocalInstallDict(const AegisDictFile *file);
extern void AegisLocalDiscardDict(const AegisDictFile *file);
extern const AegisBlockDict *AegisLocalDictLookup(const AegisRelKey *key, uint16 id);
extern const AegisBlockDict *AegisLocalGetDict(const AegisRelKey *key, uint16 id,
											   bool missing_ok);
extern void AegisLocalCleanDatabaseCopy(Oid dbOid);
extern uint64 AegisLocalDigStubHoles(RelFileNode rnode);
extern void AegisStorageDigStubHoles(void);
extern uint64 AegisLocalWriteGenerationHeader(const AegisRelKey *key,
											  uint32 generation,
											  BlockNumber npages,
											  XLogRecPtr cut_lsn);
typedef void (*AegisMapLoadCallback) (const AegisRelInfo *info,
									  uint32 generation, uint64 file_end,
									  const AegisBlockLoc *map);
extern void AegisLocalLoadAll(bool rebuild, AegisMapLoadCallback enter);
extern void AegisLocalRemoveDatabase(Oid dbOid);

#endif							/* AEGIS_BACKEND_H */
