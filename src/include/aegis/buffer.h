/*-------------------------------------------------------------------------
 *
 * buffer.h
 *	  The aegis buffer pool: shared-memory frames for aegis pages.
 *
 * Protocol (see src/buffer/README): a page is used while pinned; its bytes
 * are read under a shared content lock and changed under an exclusive one,
 * inside a critical section, followed by AegisBufferMarkDirty.  Pins are
 * backend-local resources released by AegisBufferRelease, and at
 * transaction end by AegisBufferReleaseAll (AegisBufferReleaseTransient at
 * a subtransaction's abort, which keeps the held pins of outer scans).  A
 * dirty page is written back to its storage backend when its frame is
 * chosen by the clock sweep or at checkpoint.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_BUFFER_H
#define AEGIS_BUFFER_H

#include "aegis/aegis.h"
#include "storage/block.h"
#include "storage/bufpage.h"
#include "storage/lwlock.h"
#include "utils/relcache.h"

typedef int AegisBuffer;		/* frame index; -1 is invalid */

#define InvalidAegisBuffer (-1)

/*
 * A pin a scan keeps between table AM callbacks, on the page its tuples
 * point into (heap's rs_cbuf).  It belongs to the resource owner current
 * when it was taken (AegisBufferHold) and is released by
 * AegisBufferReleaseHeld or when that owner is released, as PostgreSQL's
 * buffer pins are (ResourceOwnerRememberBuffer): so a subtransaction's
 * abort keeps the pins of an outer cursor's scan.  A handle whose pin was
 * released that way is stale (AegisBufferHeldValid is false).
 */
typedef struct AegisHeldPin
{
	int32		slot;			/* -1: no pin */
	uint32		gen;
	uint32		lost;			/* AegisHeldPinsLost when last known valid */
} AegisHeldPin;

#define AegisHeldPinInit(h) ((h)->slot = -1, (h)->gen = 0, (h)->lost = 0)

/*
 * Held pins this backend released other than by AegisBufferReleaseHeld
 * (with a resource owner, a subtransaction's abort, a drop): while it has
 * not changed since a handle was taken, the handle is valid, which a scan
 * checks for every row with one comparison (AegisBufferHeldSure).
 */
extern PGDLLIMPORT uint32 AegisHeldPinsLost;

static inline bool
AegisBufferHeldSure(const AegisHeldPin *held)
{
	return held->lost == AegisHeldPinsLost;
}

/* Counters reported by aegis_buffer_stats(). */
typedef struct AegisBufferStats
{
	uint64		hits;
	uint64		misses;
	uint64		evictions;
	uint64		writebacks;
	int			frames;
	int			frames_used;
	int			frames_dirty;
} AegisBufferStats;

/* A ring of frames a bulk reader reuses (buffer_pool.c), as BAS_BULKREAD. */
typedef struct AegisBufferRing AegisBufferRing;

/* frames of a sequential scan's ring: 256 kB, as BAS_BULKREAD's */
#define AEGIS_SCAN_RING_FRAMES	(256 * 1024 / BLCKSZ)

extern AegisBuffer AegisBufferRead(const AegisRelKey *key, BlockNumber pageno);
extern AegisBuffer AegisBufferReadRing(const AegisRelKey *key, BlockNumber pageno,
									   AegisBufferRing *ring);
extern AegisBufferRing *AegisBufferRingCreate(int nframes, BlockNumber relpages);
extern AegisBuffer AegisBufferReadZero(const AegisRelKey *key, BlockNumber pageno);
extern bool AegisBufferIsCached(const AegisRelKey *key, BlockNumber pageno);
extern bool AegisBufferPinRecent(Relation rel, AegisBuffer recent,
								 const AegisRelKey *key, BlockNumber pageno);
extern AegisBuffer AegisBufferReadRel(Relation rel, const AegisRelKey *key,
									  BlockNumber pageno);
extern AegisBuffer AegisBufferReadRelIfExists(Relation rel, const AegisRelKey *key,
											  BlockNumber pageno);
extern AegisBuffer AegisBufferReadRelRing(Relation rel, const AegisRelKey *key,
										  BlockNumber pageno, AegisBufferRing *ring);
extern AegisBuffer AegisBufferExtend(const AegisRelKey *key, BlockNumber *pageno);
extern void AegisBufferLock(AegisBuffer buf, LWLockMode mode);
extern bool AegisBufferConditionalLockExclusive(AegisBuffer buf);
extern void AegisBufferCheckRoom(AegisBuffer buf);
extern bool AegisBufferIsCleanupOK(AegisBuffer buf);
extern void AegisBufferUnlock(AegisBuffer buf);
extern void AegisBufferRelease(AegisBuffer buf);
extern void AegisBufferUnlockRelease(AegisBuffer buf);
extern Page AegisBufferGetPage(AegisBuffer buf);
extern BlockNumber AegisBufferGetPageNo(AegisBuffer buf);
extern void AegisBufferGetTag(AegisBuffer buf, AegisRelKey *key, BlockNumber *pageno);
extern void AegisBufferMarkDirty(AegisBuffer buf);
extern void AegisBufferMarkDirtyHint(AegisBuffer buf);
extern void AegisBufferDropRelation(const AegisRelKey *key);
extern void AegisBufferDropRelationFrom(const AegisRelKey *key, BlockNumber from);
extern void AegisBufferWriteEmpty(const AegisRelKey *key, BlockNumber from,
								  BlockNumber to, XLogRecPtr lsn);
extern void AegisBufferDropDatabase(Oid dbOid);
extern void AegisBufferDropAll(void);
extern int	AegisBufferFlushAll(bool backward);
extern int	AegisBufferNFrames(void);
extern void AegisBufferFlushRelation(const AegisRelKey *key);
extern void AegisBufferFlushRelationFrom(const AegisRelKey *key, BlockNumber from);
extern void AegisBufferReleaseAll(bool warn);
extern void AegisBufferReleaseTransient(void);
extern void AegisBufferHold(AegisBuffer buf, AegisHeldPin *held);
extern bool AegisBufferHeldValid(const AegisHeldPin *held);
extern void AegisBufferReleaseHeld(AegisHeldPin *held);
extern void AegisBufferGetStats(AegisBufferStats *stats);
extern int	AegisBufferFlushFrames(int from, int to);
extern int	AegisBufferPrefault(int from, int to);
extern int	AegisBufferWritePages(const AegisRelKey *key, BlockNumber from,
								  BlockNumber to);

/* buffer_io.c: the I/O workers */
extern Size AegisIoShmemSize(void);
extern void AegisIoShmemInit(void);
extern void AegisIoRegisterWorkers(void);
extern void AegisBufferReadAhead(Relation rel, const AegisRelKey *key, BlockNumber blkno,
								 BlockNumber end, BlockNumber *next, XLogRecPtr *create_lsn,
								 bool ring);
extern void AegisBufferWriteBehind(Relation rel, const AegisRelKey *key,
								   BlockNumber pageno);
extern bool AegisIoFlushHelp(int nframes, uint64 *flushed0);
extern uint64 AegisIoFlushDone(uint64 flushed0);
extern PGDLLEXPORT void AegisIoWorkerMain(Datum arg);

#endif							/* AEGIS_BUFFER_H */
