/*-------------------------------------------------------------------------
 *
 * buffer_pool.c
 *	  The aegis buffer pool: frames, page table, pins, content locks, clock
 *	  sweep replacement and write-back through the storage backends.
 *
 * Shared state, per frame: a buffer descriptor (tag, flags, pin count,
 * usage count) protected by its spinlock; a content LWLock for the page
 * bytes; a condition variable to wait for I/O.  The page table maps a tag
 * (relation key, page number) to a frame, in partitions whose LWLocks
 * protect the mapping, as in PostgreSQL's buf_table.c.  It is not a
 * dynahash as PostgreSQL's is, but chains through two compact arrays: a
 * bucket's first frame (an int32 per bucket, one bucket per frame rounded
 * up to a power of two) and per frame the next frame of its chain with the
 * tag's hash; the tag itself is the descriptor's, which a lookup reads to
 * pin the frame anyway.  For a 2 GB pool that is 3 MB instead of the
 * 14.5 MB of a dynahash's buckets and elements: a new backend, which must
 * fault in every page of shared memory it touches, maps a quarter as many
 * pages for its first lookups (PostgreSQL's buffer table it has mostly
 * mapped already, through its catalog and index reads).
 *
 * Lock order: partition lock(s) (lower index first), then a descriptor
 * spinlock.  Content locks are never taken while holding either.  Only one
 * process performs I/O on a frame at a time (BM_IO_IN_PROGRESS); others wait
 * on the frame's condition variable.  A frame is reused only when its pin
 * count is zero and it is clean; a dirty victim is written back first.
 *
 * Replacement is clock sweep over usage counts (capped at
 * AEGIS_MAX_USAGE), PostgreSQL's approximation of LRU.
 *
 * Free frames (holding no page: never used since the server started, or
 * emptied by a drop) are on a free list, taken before the clock sweep
 * looks for a victim, as PostgreSQL's StrategyGetBuffer takes its free
 * list's buffers first; a frame the sweep took meanwhile is passed over.
 *
 * Bulk reads go through a ring (AegisBufferRing), as PostgreSQL's
 * BAS_BULKREAD access strategy (freelist.c): a sequential or sample scan
 * of a table larger than a quarter of the pool, the I/O workers'
 * read-ahead for it, and ANALYZE's sample take their frames from a small
 * ring of their own, reusing a frame of it once nobody pins it, its usage
 * count is at most 1 and it is not BM_DIRTY; otherwise (or while the ring
 * fills) from the clock sweep, the frame then replacing the ring's.  Such
 * a reader's hits leave a frame's usage count at 1 at most, as PinBuffer
 * does with a strategy.  So a large scan does not push the pool's hot
 * pages out.  Unlike heap's, the ring is used only once no frame is free:
 * heap's ring buffers are refilled from the kernel's page cache for the
 * price of a copy, an aegis page costs its decompression, so while the
 * pool has room a large scan's pages are kept for the next one.  A ring
 * frame the scan changed (pruning: BM_DIRTY) is left in the pool for the
 * checkpoint, compressing it in the scan would cost more than heap's write
 * of a dirty ring buffer; one whose only change is hint bits
 * (BM_HINT_DIRTY) is reused and the hints are dropped, as a crash drops
 * them: the first scan after a bulk load hints every page, and writing
 * each back would compress the whole table in the scan.  A later scan sets
 * them again (cheap for a bulk load's single transaction: the commit log's
 * lookup cache) until VACUUM makes the pages all-visible.
 *
 * Pins are counted per backend too (local_pin_tab) so that an error releases
 * them: AegisBufferReleaseAll runs at transaction end,
 * AegisBufferReleaseTransient at a subtransaction's abort.  The pin a scan
 * keeps on its current page between table AM callbacks is a held pin
 * (AegisBufferHold): it belongs to a resource owner, as PostgreSQL's buffer
 * pins do, and is released with it.
 *
 * Memory-backend pages: a frame of one is changed only while it holds a
 * reservation in the memory budget (BM_RESERVED, AegisMemoryReserve), taken
 * when it is locked exclusively and kept until its write-back uses it up;
 * one that is unlocked clean, dropped or reused gives it back.  So evicting
 * a dirty memory page never fails for lack of memory storage, and a full
 * memory backend cannot pin the pool (src/backend/backend_memory.c).
 * Hint bits set on a clean memory page without a reservation do not dirty
 * it: they are lost at eviction, which is harmless.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "aegis/aegis.h"
#include "aegis/backend.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "access/xlog.h"
#include "executor/instrument.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "common/hashfn.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#define AEGIS_BUF_PARTITIONS 128
#define AEGIS_MAX_USAGE		5
#define AEGIS_PAGE_ALIGN	4096	/* frames start on a memory page */
#define FREENEXT_END		(-1)	/* the free list's last frame */
#define FREENEXT_NOT_IN_LIST (-2)	/* a frame not on the free list */

#define BM_TAG_VALID		(1U << 0)	/* tag names a page */
#define BM_VALID			(1U << 1)	/* page bytes are loaded */
#define BM_DIRTY			(1U << 2)	/* page differs from its block */
#define BM_IO_IN_PROGRESS	(1U << 3)	/* a process reads or writes it */
#define BM_PERMANENT		(1U << 4)	/* local storage: checkpoints write it */
#define BM_RESERVED			(1U << 5)	/* memory storage: room reserved */
#define BM_HINT_DIRTY		(1U << 6)	/* local storage: page differs from its
										 * block only by hint bits */

/* a frame of a memory-backend page */
#define IS_MEMORY_FRAME(flags) \
	(((flags) & (BM_TAG_VALID | BM_PERMANENT)) == BM_TAG_VALID)

typedef struct AegisBufferTag
{
	AegisRelKey key;
	BlockNumber pageno;
} AegisBufferTag;

/*
 * A frame's link in its page-table chain: the next frame of the bucket
 * (-1 at the end) and the hash of the frame's tag, compared before the tag
 * itself so a chain's other frames' descriptors are not read.  Both are
 * protected by the partition lock of the tag's hash, as is the tag while
 * the frame is in a chain.
 */
typedef struct AegisPageLink
{
	int32		next;
	uint32		hash;
} AegisPageLink;

/*
 * A frame's descriptor, a cache line each (as PostgreSQL pads BufferDesc):
 * pins of two hot frames by backends on different cores do not contend
 * for one line.  The page's content lock lives in it, in the same 64 bytes
 * as the tag, flags and pin count (BufferDesc holds its content_lock too):
 * a lookup that pins, locks, unlocks and unpins a frame touches one line
 * of shared memory and, in a new backend, faults in one page of it, where
 * a separate array of padded locks cost a second of each.
 */
typedef struct AegisBufferDesc
{
	AegisBufferTag tag;
	slock_t		hdr_lock;
	uint32		flags;
	int			refcount;		/* pins held, all backends */
	int			usage;			/* clock sweep usage count */
	ConditionVariable io_cv;
	LWLock		content_lock;	/* the page's contents */
} pg_attribute_aligned(PG_CACHE_LINE_SIZE) AegisBufferDesc;

StaticAssertDecl(sizeof(AegisBufferDesc) == PG_CACHE_LINE_SIZE,
				 "an aegis buffer descriptor fills one cache line");
#ifndef LOCK_DEBUG				/* LOCK_DEBUG makes an LWLock 32 bytes */
StaticAssertDecl(offsetof(AegisBufferDesc, content_lock) + sizeof(LWLock) <= 64,
				 "a frame's tag, pin count and content lock share 64 bytes");
#endif

typedef struct AegisBufferPool
{
	int			nframes;
	int			content_tranche;
	int			mapping_tranche;
	pg_atomic_uint32 next_victim;
	slock_t		free_lock;		/* protects first_free and FreeNext[] */
	int			first_free;		/* head of the free list, or FREENEXT_END */
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 writebacks;
} AegisBufferPool;

static AegisBufferPool *Pool = NULL;
static AegisBufferDesc *Descs = NULL;
static LWLockPadded *MappingLocks = NULL;
static int *FreeNext = NULL;	/* per frame: the next free one (free list) */
static char *Pages = NULL;
static int32 *PageHeads = NULL;	/* per bucket: its first frame, or -1 */
static AegisPageLink *PageLinks = NULL; /* per frame */
static uint32 PageBucketMask = 0;	/* buckets - 1 */

/* A ring of frames for bulk reads (see the file header). */
struct AegisBufferRing
{
	int			nframes;		/* slots */
	int			cur;			/* the slot used last */
	int			frames[FLEXIBLE_ARRAY_MEMBER];	/* frame ids, -1 while empty */
};

/* Which frames flush_frames writes back. */
typedef enum FlushWhich
{
	FLUSH_PERMANENT,			/* every frame of local storage */
	FLUSH_RELATION,				/* every frame of one relation */
	FLUSH_MEMORY				/* dirty memory frames not locked by us */
} FlushWhich;

static int	flush_frames(FlushWhich which, const AegisRelKey *key, BlockNumber from,
						 int except);
static int	flush_frame_range(FlushWhich which, const AegisRelKey *key, BlockNumber from,
							  int except, int b_from, int b_to, bool backward);
static void reserve_for_change(int b);
static bool pin_frame_capped(int b, const AegisRelKey *key, BlockNumber pageno,
							 uint32 *flags, int max_usage);
static void release_unused_reservation(int b);

/*
 * Per-backend pin counts: a small hash table (PostgreSQL's simplehash) of
 * the frames this backend pins, with their counts, as PostgreSQL's
 * PrivateRefCount keeps its pins in a small array and a hash instead of an
 * entry per buffer (see ensure_local_pins).
 */
typedef struct LocalPin
{
	int32		buf;			/* frame */
	int32		count;			/* pins of it, > 0 */
	char		status;			/* simplehash's */
} LocalPin;

#define SH_PREFIX localpins
#define SH_ELEMENT_TYPE LocalPin
#define SH_KEY_TYPE int32
#define SH_KEY buf
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) (key))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static localpins_hash *local_pin_tab = NULL;
static int	local_pins_total = 0;	/* sum of the counts */

/*
 * Held pins (AegisBufferHold): a slot per pin a scan keeps between table AM
 * callbacks, with the resource owner it belongs to.  A slot's generation
 * changes when it is freed, so the handle of a pin released with its owner
 * (the scan's memory may be gone, or the scan may outlive a subtransaction
 * it read in) is recognized as stale.  TopMemoryContext; a handful in use.
 */
typedef struct HeldSlot
{
	AegisBuffer buf;			/* InvalidAegisBuffer: free */
	uint32		gen;
	ResourceOwner owner;
} HeldSlot;

uint32		AegisHeldPinsLost = 0;

static HeldSlot *held_slots = NULL;
static int	held_nslots = 0;	/* allocated */
static int	held_inuse = 0;		/* slots holding a pin */

static void held_free(int i);
static void held_lose(int i);
static void held_release_callback(ResourceReleasePhase phase, bool isCommit,
								  bool isTopLevel, void *arg);

/*
 * Pool hits this backend counted and not yet added to Pool->hits: an atomic
 * add per hit cost a tenth of an index scan's time.  Added every
 * HITS_BATCH hits, at every transaction end (AegisBufferReleaseAll) and
 * before this backend reads the counters.
 */
#define HITS_BATCH 1024
static uint32 local_hits = 0;

static inline void
count_hit(void)
{
	if (++local_hits >= HITS_BATCH)
	{
		pg_atomic_fetch_add_u64(&Pool->hits, local_hits);
		local_hits = 0;
	}
}

static void
flush_hits(void)
{
	if (local_hits > 0 && Pool != NULL)
		pg_atomic_fetch_add_u64(&Pool->hits, local_hits);
	local_hits = 0;
}

static Size
pool_frames(void)
{
	return (Size) aegis_buffer_pool_size;
}

/*
 * The page table's buckets: one per frame, rounded up to a power of two
 * and to at least one per partition, so each bucket (hash & mask) belongs
 * to one partition (hash % AEGIS_BUF_PARTITIONS).
 */
static Size
page_buckets(void)
{
	Size		n = AEGIS_BUF_PARTITIONS;

	while (n < pool_frames())
		n <<= 1;
	return n;
}

Size
AegisBufferShmemSize(void)
{
	Size		size = MAXALIGN(sizeof(AegisBufferPool));

	size = add_size(size, mul_size(pool_frames(), sizeof(AegisBufferDesc)));
	size = add_size(size, mul_size(AEGIS_BUF_PARTITIONS, sizeof(LWLockPadded)));
	size = add_size(size, mul_size(pool_frames(), sizeof(int)));
	size = add_size(size, PG_CACHE_LINE_SIZE * 5 + AEGIS_PAGE_ALIGN);
	size = add_size(size, mul_size(pool_frames(), BLCKSZ));
	size = add_size(size, mul_size(page_buckets(), sizeof(int32)));
	size = add_size(size, mul_size(pool_frames(), sizeof(AegisPageLink)));
	return size;
}

/*
 * AegisBufferShmemInit
 *		Lay out the pool in shared memory; postmaster, under AddinShmemInitLock.
 */
void
AegisBufferShmemInit(void)
{
	bool		found;
	char	   *p;
	Size		nframes = pool_frames();
	Size		nbuckets = page_buckets();

	p = ShmemInitStruct("aegis buffer pool", AegisBufferShmemSize(), &found);
	Pool = (AegisBufferPool *) p;
	p += MAXALIGN(sizeof(AegisBufferPool));
	p = (char *) CACHELINEALIGN(p);
	Descs = (AegisBufferDesc *) p;
	p += nframes * sizeof(AegisBufferDesc);
	p = (char *) CACHELINEALIGN(p);
	MappingLocks = (LWLockPadded *) p;
	p += AEGIS_BUF_PARTITIONS * sizeof(LWLockPadded);
	FreeNext = (int *) p;
	p += nframes * sizeof(int);
	p = (char *) CACHELINEALIGN(p);
	PageHeads = (int32 *) p;
	p += nbuckets * sizeof(int32);
	p = (char *) CACHELINEALIGN(p);
	PageLinks = (AegisPageLink *) p;
	p += nframes * sizeof(AegisPageLink);
	p = (char *) TYPEALIGN(AEGIS_PAGE_ALIGN, p);
	Pages = p;
	PageBucketMask = (uint32) (nbuckets - 1);

	if (!found)
	{
		Pool->nframes = (int) nframes;
		Pool->content_tranche = LWLockNewTrancheId();
		Pool->mapping_tranche = LWLockNewTrancheId();
		pg_atomic_init_u32(&Pool->next_victim, 0);
		SpinLockInit(&Pool->free_lock);
		Pool->first_free = 0;
		pg_atomic_init_u64(&Pool->hits, 0);
		pg_atomic_init_u64(&Pool->misses, 0);
		pg_atomic_init_u64(&Pool->evictions, 0);
		pg_atomic_init_u64(&Pool->writebacks, 0);
		for (Size i = 0; i < nframes; i++)
		{
			AegisBufferDesc *d = &Descs[i];

			memset(&d->tag, 0, sizeof(d->tag));
			SpinLockInit(&d->hdr_lock);
			d->flags = 0;
			d->refcount = 0;
			d->usage = 0;
			FreeNext[i] = i + 1 < nframes ? (int) i + 1 : FREENEXT_END;
			ConditionVariableInit(&d->io_cv);
			LWLockInitialize(&d->content_lock, Pool->content_tranche);
			PageLinks[i].next = -1;
			PageLinks[i].hash = 0;
		}
		for (Size i = 0; i < nbuckets; i++)
			PageHeads[i] = -1;
		for (int i = 0; i < AEGIS_BUF_PARTITIONS; i++)
			LWLockInitialize(&MappingLocks[i].lock, Pool->mapping_tranche);
	}
}

#define PAGE_OF(b) ((Page) (Pages + (Size) (b) * BLCKSZ))

/* The hash of a tag (padding zeroed), which picks its bucket and partition. */
static inline uint32
page_hash(const AegisBufferTag *tag)
{
	return hash_bytes((const unsigned char *) tag, sizeof(AegisBufferTag));
}

/*
 * The frame that holds 'tag' (whose hash is 'hash'), or -1.  The caller
 * holds the partition lock of 'hash', shared or exclusive, which keeps the
 * chain and the tags of its frames as they are (dynahash's HASH_FIND).
 */
static inline int
page_table_find(const AegisBufferTag *tag, uint32 hash)
{
	for (int b = PageHeads[hash & PageBucketMask]; b >= 0; b = PageLinks[b].next)
	{
		if (PageLinks[b].hash == hash &&
			memcmp(&Descs[b].tag, tag, sizeof(AegisBufferTag)) == 0)
			return b;
	}
	return -1;
}

/*
 * Enter frame b, whose descriptor already holds the tag of hash 'hash', in
 * the page table (HASH_ENTER of a tag the caller found absent).  The caller
 * holds the partition lock of 'hash' exclusively.
 */
static inline void
page_table_insert(int b, uint32 hash)
{
	int32	   *head = &PageHeads[hash & PageBucketMask];

	PageLinks[b].hash = hash;
	PageLinks[b].next = *head;
	*head = b;
}

/*
 * Take frame b, entered with hash 'hash', out of the page table
 * (HASH_REMOVE), before its descriptor's tag changes.  The caller holds the
 * partition lock of 'hash' exclusively.  A frame not in the chain is a
 * corrupted page table: an error, as dynahash's "corrupted hash table".
 */
static void
page_table_remove(int b, uint32 hash)
{
	int32	   *link = &PageHeads[hash & PageBucketMask];

	while (*link >= 0 && *link != b)
		link = &PageLinks[*link].next;
	if (*link != b)
		elog(PANIC, "aegis buffer page table is corrupted: frame %d is not in its chain", b);
	*link = PageLinks[b].next;
	PageLinks[b].next = -1;
}

/*
 * The pin counts live in a table of a few slots in a memory context of
 * their own, allowed in critical sections (as the WAL insertion's).  They
 * were an int32 per frame of an anonymous mapping (1 MB for a 2 GB pool):
 * a new backend paid a zero-fill page fault for each 4 kB of it its pins
 * reached, up to 256 for a session that reads pages spread over a full
 * pool.  Kept for the life of the backend.
 */
static void
ensure_local_pins(void)
{
	MemoryContext cxt;

	if (local_pin_tab != NULL)
		return;
	AegisCheckPreloaded();
	cxt = AllocSetContextCreate(TopMemoryContext, "aegis buffer pins", ALLOCSET_SMALL_SIZES);
	MemoryContextAllowInCriticalSection(cxt, true);
	local_pin_tab = localpins_create(cxt, 64, NULL);
	RegisterResourceReleaseCallback(held_release_callback, NULL);
	LWLockRegisterTranche(Pool->content_tranche, "aegis_buffer_content");
	LWLockRegisterTranche(Pool->mapping_tranche, "aegis_buffer_mapping");
}

/* This backend's pins of frame b. */
static inline int32
local_pin_count(int b)
{
	LocalPin   *e = localpins_lookup(local_pin_tab, b);

	return e ? e->count : 0;
}

/*
 * Make room for one more frame in the table before a pin is taken, so the
 * insert does not grow it: the shared pin count must never go up with no
 * local count to give it back at an error.  May raise out of memory; so it
 * is called before the descriptor's spinlock is taken (PostgreSQL's
 * ReservePrivateRefCountEntry).
 */
static inline void
local_pin_reserve(void)
{
	if (local_pin_tab->members + 1 >= local_pin_tab->grow_threshold)
		localpins_grow(local_pin_tab, local_pin_tab->size * 2);
}

/* Add 'delta' to this backend's pins of frame b (its entry goes at 0). */
static void
local_pin_add(int b, int delta)
{
	LocalPin   *e;
	bool		found = true;

	local_pins_total += delta;
	e = delta > 0 ? localpins_insert(local_pin_tab, b, &found) :
		localpins_lookup(local_pin_tab, b);
	Assert(e != NULL);
	if (!found)
		e->count = 0;
	e->count += delta;
	Assert(e->count >= 0);
	if (e->count == 0)
		localpins_delete_item(local_pin_tab, e);
}

static inline LWLock *
partition_lock(uint32 hash)
{
	return &MappingLocks[hash % AEGIS_BUF_PARTITIONS].lock;
}

/*
 * Pin frame b if it holds page 'pageno' of 'key', valid (any content if key
 * is NULL); returns whether it did, and in *flags the frame's flags as the
 * pin found them.  Its spinlock must NOT be held.  BM_VALID stays set while
 * the pin is held (only a frame nobody else pins is emptied), so a caller
 * that sees it needs no start_io; nor can the tag change under the pin.
 */
static bool
pin_frame_if(int b, const AegisRelKey *key, BlockNumber pageno, uint32 *flags)
{
	return pin_frame_capped(b, key, pageno, flags, AEGIS_MAX_USAGE);
}

/*
 * pin_frame_if raising the usage count to 'max_usage' at most: 1 for a
 * reader with a ring, which leaves a frame's count as it finds it (at
 * least 1), as PostgreSQL's PinBuffer does with an access strategy.
 */
static bool
pin_frame_capped(int b, const AegisRelKey *key, BlockNumber pageno, uint32 *flags,
				 int max_usage)
{
	AegisBufferDesc *d = &Descs[b];
	bool		ok;

	/*
	 * Read the descriptor before taking its spinlock (an atomic write).  A
	 * backend's first touch of a page of shared memory is a page fault; the
	 * kernel maps the neighbouring pages of a read fault too (fault-around,
	 * 64 kB), a write fault's only its own.  Touched by a write first, every
	 * descriptor page (32 frames) a new backend reaches cost one fault:
	 * about 600 in a 2000-key index lookup.  PostgreSQL's PinBuffer reads
	 * the buffer's state before its compare-and-swap too.
	 */
	(void) *(volatile uint32 *) &d->flags;

	local_pin_reserve();
	SpinLockAcquire(&d->hdr_lock);
	ok = key == NULL ||
		((d->flags & (BM_TAG_VALID | BM_VALID)) == (BM_TAG_VALID | BM_VALID) &&
		 d->tag.pageno == pageno && memcmp(&d->tag.key, key, sizeof(AegisRelKey)) == 0);
	if (ok)
	{
		d->refcount++;
		if (d->usage < max_usage)
			d->usage++;
	}
	*flags = d->flags;
	SpinLockRelease(&d->hdr_lock);
	if (ok)
		local_pin_add(b, 1);
	return ok;
}

/* Pin frame b whatever it holds; returns its flags (pin_frame_if). */
static uint32
pin_frame(int b)
{
	uint32		flags;

	(void) pin_frame_if(b, NULL, InvalidBlockNumber, &flags);
	return flags;
}

static void
unpin_frame(int b)
{
	AegisBufferDesc *d = &Descs[b];

	Assert(local_pin_count(b) > 0);
	SpinLockAcquire(&d->hdr_lock);
	d->refcount--;
	SpinLockRelease(&d->hdr_lock);
	local_pin_add(b, -1);
}

/*
 * Become the process doing I/O on frame b (pinned by us), waiting for
 * another one to finish.  For a read ('forwrite' false) returns false if the
 * page became valid meanwhile; for a write, returns false if it is clean.
 */
static bool
start_io(int b, bool forwrite, uint32 dirty_mask)
{
	AegisBufferDesc *d = &Descs[b];
	bool		slept = false;

	for (;;)
	{
		SpinLockAcquire(&d->hdr_lock);
		if (!(d->flags & BM_IO_IN_PROGRESS))
			break;
		SpinLockRelease(&d->hdr_lock);

		/*
		 * The first call only prepares to sleep and returns, so the flag is
		 * checked again before really sleeping: a broadcast between our
		 * check and the sleep is not lost.
		 */
		slept = true;
		ConditionVariableSleep(&d->io_cv, PG_WAIT_IO);
	}
	if (slept)
		ConditionVariableCancelSleep();
	if (forwrite ? !(d->flags & dirty_mask) : (d->flags & BM_VALID))
	{
		SpinLockRelease(&d->hdr_lock);
		return false;
	}
	d->flags |= BM_IO_IN_PROGRESS;
	SpinLockRelease(&d->hdr_lock);
	return true;
}

static void
terminate_io(int b, uint32 set_flags)
{
	AegisBufferDesc *d = &Descs[b];

	SpinLockAcquire(&d->hdr_lock);
	d->flags &= ~BM_IO_IN_PROGRESS;
	d->flags |= set_flags;
	SpinLockRelease(&d->hdr_lock);
	ConditionVariableBroadcast(&d->io_cv);
}

/*
 * Write frame b (pinned by us) back to its storage backend if it is dirty
 * (with 'hints', also if only hint bits changed); true if it was written.
 * The page is copied under a share content lock and compressed outside it.
 * With 'nowait', a frame whose content lock is not free at once is left
 * alone (false).
 */
static bool
flush_frame(int b, bool nowait, bool hints)
{
	AegisBufferDesc *d = &Descs[b];
	PGAlignedBlock copy;
	AegisBufferTag tag;
	bool		reserved;

	if (!start_io(b, true, hints ? (BM_DIRTY | BM_HINT_DIRTY) : BM_DIRTY))
		return false;
	if (!nowait)
		LWLockAcquire(&Descs[b].content_lock, LW_SHARED);
	else if (!LWLockConditionalAcquire(&Descs[b].content_lock, LW_SHARED))
	{
		terminate_io(b, 0);
		return false;
	}
	SpinLockAcquire(&d->hdr_lock);
	/* the write uses the reservation up; a later change reserves anew */
	reserved = (d->flags & BM_RESERVED) != 0;
	d->flags &= ~(BM_DIRTY | BM_HINT_DIRTY | BM_RESERVED);
	tag = d->tag;
	SpinLockRelease(&d->hdr_lock);
	memcpy(copy.data, PAGE_OF(b), BLCKSZ);
	LWLockRelease(&Descs[b].content_lock);

	PG_TRY();
	{
		/*
		 * WAL before data (invariant 3): PostgreSQL's WAL up to the page LSN
		 * is made durable first, as FlushBuffer does; during recovery
		 * XLogFlush advances minRecoveryPoint instead.  Pages of relations
		 * without WAL have LSN 0.
		 */
		if (PageGetLSN((Page) copy.data) != InvalidXLogRecPtr)
			XLogFlush(PageGetLSN((Page) copy.data));
		if (unlikely(aegis_debug_writeback_delay > 0))
			pg_usleep(aegis_debug_writeback_delay * 1000L);
		AegisStorageWritePage(&tag.key, tag.pageno, copy.data, reserved);
		pgBufferUsage.shared_blks_written++;
	}
	PG_CATCH();
	{
		/* not written: the reservation is still ours (one per frame) */
		if (reserved)
		{
			bool		again;

			SpinLockAcquire(&d->hdr_lock);
			again = (d->flags & BM_RESERVED) != 0;
			d->flags |= BM_RESERVED;
			SpinLockRelease(&d->hdr_lock);
			if (again)
				AegisMemoryUnreserve();
		}
		terminate_io(b, BM_DIRTY);
		PG_RE_THROW();
	}
	PG_END_TRY();
	terminate_io(b, 0);
	pg_atomic_fetch_add_u64(&Pool->writebacks, 1);
	return true;
}

/*
 * Pin frame b, whose descriptor spinlock we hold (and release here), for a
 * victim search: its refcount is 0, so its usage count is left alone.  The
 * caller made room for it (local_pin_reserve) before taking the spinlock.
 */
static inline void
pin_locked_victim(int b)
{
	Descs[b].refcount++;
	SpinLockRelease(&Descs[b].hdr_lock);
	local_pin_add(b, 1);
}

/*
 * Choose a victim frame by clock sweep and return it pinned by us.  It may
 * still hold another page (clean or dirty).
 */
static int
clock_sweep(void)
{
	int			nframes = Pool->nframes;
	int			tries = nframes * (AEGIS_MAX_USAGE + 1) * 2;

	for (;;)
	{
		int			b = pg_atomic_fetch_add_u32(&Pool->next_victim, 1) % nframes;
		AegisBufferDesc *d = &Descs[b];

		SpinLockAcquire(&d->hdr_lock);
		if (d->refcount == 0)
		{
			if (d->usage > 0)
				d->usage--;
			else
			{
				pin_locked_victim(b);
				return b;
			}
		}
		SpinLockRelease(&d->hdr_lock);
		if (--tries <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("no unpinned aegis buffer is available"),
					 errhint("Raise aegis.buffer_pool_size.")));
	}
}

/*
 * Take a frame off the free list and return it pinned by us, or -1 if the
 * list is empty.  A frame on the list that the clock sweep took meanwhile
 * (it has a tag, or a pin) is dropped from the list, as StrategyGetBuffer
 * does.
 */
static int
take_free_frame(void)
{
	for (;;)
	{
		AegisBufferDesc *d;
		int			b;

		/* unlocked peek: the list is empty whenever the pool is full */
		if (*(volatile int *) &Pool->first_free < 0)
			return -1;
		SpinLockAcquire(&Pool->free_lock);
		b = Pool->first_free;
		if (b >= 0)
		{
			Pool->first_free = FreeNext[b];
			FreeNext[b] = FREENEXT_NOT_IN_LIST;
		}
		SpinLockRelease(&Pool->free_lock);
		if (b < 0)
			return -1;
		d = &Descs[b];
		SpinLockAcquire(&d->hdr_lock);
		if (d->refcount == 0 && !(d->flags & BM_TAG_VALID))
		{
			pin_locked_victim(b);
			return b;
		}
		SpinLockRelease(&d->hdr_lock);
	}
}

/*
 * Put frame b, which holds no page, on the free list (StrategyFreeBuffer);
 * its descriptor's spinlock must NOT be held.  A frame on it already stays
 * where it is.
 */
static void
put_free_frame(int b)
{
	SpinLockAcquire(&Pool->free_lock);
	if (FreeNext[b] == FREENEXT_NOT_IN_LIST)
	{
		FreeNext[b] = Pool->first_free;
		Pool->first_free = b;
	}
	SpinLockRelease(&Pool->free_lock);
}

/*
 * Choose a victim frame for a reader with 'ring' (NULL: none) and return it
 * pinned by us: a free frame if there is one; else for a ring, the ring's
 * next frame if nobody pins it, its usage count is at most 1 and it is not
 * BM_DIRTY (PostgreSQL's GetBufferFromRing), setting *reused; else one of
 * the clock sweep, which then takes that slot of the ring.
 */
static int
get_victim(AegisBufferRing *ring, bool *reused)
{
	int			b;

	*reused = false;
	local_pin_reserve();		/* for pin_locked_victim */
	/* while the pool has room there is no hot set to keep */
	b = take_free_frame();
	if (b >= 0)
		return b;
	if (ring == NULL)
		return clock_sweep();
	ring->cur = (ring->cur + 1) % ring->nframes;
	b = ring->frames[ring->cur];
	if (b >= 0)
	{
		AegisBufferDesc *d = &Descs[b];

		SpinLockAcquire(&d->hdr_lock);
		if (d->refcount == 0 && d->usage <= 1 &&
			!(d->flags & (BM_DIRTY | BM_IO_IN_PROGRESS)))
		{
			pin_locked_victim(b);
			*reused = true;
			return b;
		}
		SpinLockRelease(&d->hdr_lock);
	}
	b = clock_sweep();
	ring->frames[ring->cur] = b;
	return b;
}

/*
 * Return a pinned frame holding (key, pageno), reading it from storage on a
 * miss ('zero': not read, see AegisBufferReadZero), into a frame of 'ring'
 * if not NULL.  A page without a block
 * (new) is initialized empty.  *hit says
 * which; both count in pgBufferUsage (EXPLAIN's BUFFERS, pg_stat_statements)
 * as shared buffer hits and reads, as PostgreSQL's buffer manager counts.
 * With 'missing_ok', a page beyond the relation's end gives -1 (nothing
 * pinned, nothing counted) where it would raise an error; a valid frame
 * proves the page exists (see AegisBufferReadRelIfExists), so only a miss
 * or a frame not loaded yet looks the relation's size up.
 */
static int
read_frame(const AegisRelKey *key, BlockNumber pageno, bool *hit, bool zero,
		   AegisBufferRing *ring, bool missing_ok)
{
	AegisRelInfo info;
	AegisBufferTag tag;
	uint32		hash;
	LWLock	   *plock;
	int			b;
	bool		valid = false;

	ensure_local_pins();
	memset(&tag, 0, sizeof(tag));
	tag.key = *key;
	tag.pageno = pageno;
	hash = page_hash(&tag);
	plock = partition_lock(hash);

	for (;;)
	{
		AegisBufferDesc *d;
		AegisBufferTag oldtag;
		uint32		oldhash = 0;
		LWLock	   *oldlock = NULL;
		bool		hadtag;
		bool		unreserve;
		bool		reused;
		bool		found;

		LWLockAcquire(plock, LW_SHARED);
		b = page_table_find(&tag, hash);
		if (b >= 0)
		{
			uint32		flags;

			(void) pin_frame_capped(b, NULL, InvalidBlockNumber, &flags,
									ring ? 1 : AEGIS_MAX_USAGE);
			valid = (flags & BM_VALID) != 0;
			LWLockRelease(plock);
			if (!valid && missing_ok &&
				AegisStorageGetInfo(key, &info) && pageno >= info.npages)
			{
				unpin_frame(b);
				return -1;
			}
			count_hit();
			pgBufferUsage.shared_blks_hit++;
			*hit = true;
			break;
		}
		LWLockRelease(plock);

		/* miss: find a clean, unpinned victim */
		if (!AegisStorageGetInfo(key, &info))
			(void) AegisStorageNPages(key);	/* raises "does not exist" */
		if (missing_ok && pageno >= info.npages)
			return -1;
		b = get_victim(ring, &reused);
		d = &Descs[b];
		SpinLockAcquire(&d->hdr_lock);
		hadtag = (d->flags & BM_TAG_VALID) != 0;
		oldtag = d->tag;
		SpinLockRelease(&d->hdr_lock);
		if (hadtag)
		{
			/*
			 * hint bits reach storage when their page leaves the pool, but
			 * for a frame a ring reuses (see the file header)
			 */
			(void) flush_frame(b, false, !reused);
			oldhash = page_hash(&oldtag);
			oldlock = partition_lock(oldhash);
		}

		/* lock both partitions in index order */
		if (oldlock == NULL || oldlock == plock)
			LWLockAcquire(plock, LW_EXCLUSIVE);
		else if (oldlock < plock)
		{
			LWLockAcquire(oldlock, LW_EXCLUSIVE);
			LWLockAcquire(plock, LW_EXCLUSIVE);
		}
		else
		{
			LWLockAcquire(plock, LW_EXCLUSIVE);
			LWLockAcquire(oldlock, LW_EXCLUSIVE);
		}

		found = page_table_find(&tag, hash) >= 0;
		SpinLockAcquire(&d->hdr_lock);
		if (found || d->refcount != 1 ||
			(d->flags & (BM_DIRTY | (reused ? 0 : BM_HINT_DIRTY))) ||
			((d->flags & BM_TAG_VALID) != 0) != hadtag ||
			(hadtag && memcmp(&d->tag, &oldtag, sizeof(oldtag)) != 0))
		{
			/* someone loaded our page, or took or changed the victim: retry */
			SpinLockRelease(&d->hdr_lock);
			LWLockRelease(plock);
			if (oldlock && oldlock != plock)
				LWLockRelease(oldlock);
			unpin_frame(b);
			if (!hadtag)
				put_free_frame(b);	/* unused: free for the next one */
			continue;
		}
		if (hadtag)
		{
			page_table_remove(b, oldhash);
			pg_atomic_fetch_add_u64(&Pool->evictions, 1);
		}
		/* a clean frame still reserved (its locker failed): give it back */
		unreserve = (d->flags & BM_RESERVED) != 0;
		d->tag = tag;
		d->flags = BM_TAG_VALID |
			(info.storage == AEGIS_STORAGE_LOCAL ? BM_PERMANENT : 0);
		d->usage = 1;
		SpinLockRelease(&d->hdr_lock);
		page_table_insert(b, hash);
		LWLockRelease(plock);
		if (oldlock && oldlock != plock)
			LWLockRelease(oldlock);
		if (unreserve)
			AegisMemoryUnreserve();
		pg_atomic_fetch_add_u64(&Pool->misses, 1);
		pgBufferUsage.shared_blks_read++;
		*hit = false;
		break;
	}

	/* load the page unless it is valid already */
	if (!valid && start_io(b, false, 0))
	{
		PG_TRY();
		{
			if (zero || !AegisStorageReadPage(key, pageno, (char *) PAGE_OF(b)))
				PageInit(PAGE_OF(b), BLCKSZ, 0);
		}
		PG_CATCH();
		{
			terminate_io(b, 0);
			PG_RE_THROW();
		}
		PG_END_TRY();
		terminate_io(b, BM_VALID);
	}
	return b;
}

/*
 * AegisBufferRead
 *		Return a buffer holding page 'pageno' of relation 'key', pinned (not
 *		locked).  Raises ERRCODE_DATA_CORRUPTED for a bad block, and the
 *		storage backend's I/O errors.  Release with AegisBufferRelease.
 */
AegisBuffer
AegisBufferRead(const AegisRelKey *key, BlockNumber pageno)
{
	bool		hit;

	return read_frame(key, pageno, &hit, false, NULL, false);
}

/*
 * AegisBufferReadRing
 *		AegisBufferRead for a bulk reader with 'ring' (an I/O worker's
 *		read-ahead for a scan that has one); NULL is AegisBufferRead.
 */
AegisBuffer
AegisBufferReadRing(const AegisRelKey *key, BlockNumber pageno, AegisBufferRing *ring)
{
	bool		hit;

	return read_frame(key, pageno, &hit, false, ring, false);
}

/*
 * AegisBufferRingCreate
 *		A ring of 'nframes' frames for a bulk reader, allocated in the
 *		current memory context (free it with pfree): the ring itself holds
 *		no pin, so it may outlive any of its frames' uses; at most an
 *		eighth of the pool.  As heap's initscan asks for BAS_BULKREAD
 *		only for a relation larger than a quarter of shared_buffers, NULL
 *		is returned for a relation of 'relpages' pages (InvalidBlockNumber:
 *		not known, a ring is made) that fits in a quarter of the pool.
 */
AegisBufferRing *
AegisBufferRingCreate(int nframes, BlockNumber relpages)
{
	AegisBufferRing *ring;

	if (relpages <= (BlockNumber) (Pool->nframes / 4))
		return NULL;
	nframes = Min(nframes, Pool->nframes / 8);
	if (nframes < 1)
		return NULL;
	ring = palloc(offsetof(AegisBufferRing, frames) + nframes * sizeof(int));
	ring->nframes = nframes;
	ring->cur = 0;
	for (int i = 0; i < nframes; i++)
		ring->frames[i] = -1;
	return ring;
}

/*
 * AegisBufferReadZero
 *		AegisBufferRead for a caller that replaces the page's content
 *		whatever it is (as PostgreSQL's RBM_ZERO_AND_LOCK): if the page is
 *		not in the pool, it comes in as a new, empty page (LSN 0) without
 *		its block being read or decompressed.  A page in the pool is
 *		returned as it is.  Pinned, not locked.
 */
AegisBuffer
AegisBufferReadZero(const AegisRelKey *key, BlockNumber pageno)
{
	bool		hit;

	return read_frame(key, pageno, &hit, true, NULL, false);
}

/*
 * The frame holding page 'pageno' of 'key' now, or -1; with 'pin', pinned
 * (and *flags: its flags as the pin found them).
 */
static int
lookup_frame(const AegisRelKey *key, BlockNumber pageno, bool pin, uint32 *flags)
{
	AegisBufferTag tag;
	uint32		hash;
	LWLock	   *plock;
	int			b;

	memset(&tag, 0, sizeof(tag));
	tag.key = *key;
	tag.pageno = pageno;
	hash = page_hash(&tag);
	plock = partition_lock(hash);
	LWLockAcquire(plock, LW_SHARED);
	b = page_table_find(&tag, hash);
	if (b >= 0)
	{
		if (pin)
			*flags = pin_frame(b);
	}
	LWLockRelease(plock);
	return b;
}

/*
 * AegisBufferIsCached
 *		Is page 'pageno' of relation 'key' in the pool right now?  Only a
 *		hint unless nothing else can read it in meanwhile (the startup
 *		process's redo before hot standby connections).
 */
bool
AegisBufferIsCached(const AegisRelKey *key, BlockNumber pageno)
{
	return lookup_frame(key, pageno, false, NULL) >= 0;
}

/*
 * AegisBufferPinRecent
 *		Pin frame 'recent' if it still holds page 'pageno' of relation 'key',
 *		valid; returns whether it did (PostgreSQL's ReadRecentBuffer).  A
 *		caller that read the page a moment ago skips the page table's
 *		lookup and its partition lock.  Counted as AegisBufferReadRel counts
 *		a hit.
 */
bool
AegisBufferPinRecent(Relation rel, AegisBuffer recent, const AegisRelKey *key,
					 BlockNumber pageno)
{
	uint32		flags;

	if (recent < 0 || Pool == NULL || recent >= Pool->nframes)
		return false;
	ensure_local_pins();
	if (!pin_frame_if(recent, key, pageno, &flags))
		return false;
	count_hit();
	pgBufferUsage.shared_blks_hit++;
	pgstat_count_buffer_read(rel);
	pgstat_count_buffer_hit(rel);
	return true;
}

/*
 * AegisBufferReadRel
 *		AegisBufferRead on behalf of table 'rel', also counted where
 *		PostgreSQL counts a table's buffer reads (ReadBufferExtended):
 *		pg_statio_*_tables.heap_blks_read / heap_blks_hit.
 */
AegisBuffer
AegisBufferReadRel(Relation rel, const AegisRelKey *key, BlockNumber pageno)
{
	return AegisBufferReadRelRing(rel, key, pageno, NULL);
}

/*
 * AegisBufferReadRelRing
 *		AegisBufferReadRel for a bulk reader: a miss takes its frame from
 *		'ring' (see the file header), a hit leaves the frame's usage count
 *		at most 1.  'ring' NULL is AegisBufferReadRel.
 */
AegisBuffer
AegisBufferReadRelRing(Relation rel, const AegisRelKey *key, BlockNumber pageno,
					   AegisBufferRing *ring)
{
	bool		hit;
	AegisBuffer buf = read_frame(key, pageno, &hit, false, ring, false);

	pgstat_count_buffer_read(rel);
	if (hit)
		pgstat_count_buffer_hit(rel);
	return buf;
}

/*
 * AegisBufferReadRelIfExists
 *		AegisBufferReadRel of a page a TID names (an index entry, a ctid
 *		chain), or InvalidAegisBuffer if the page is beyond the relation's
 *		end, where heap's fetches check the TID's block against
 *		RelationGetNumberOfBlocks.  The caller holds a lock on 'rel', so the
 *		relation cannot be cut meanwhile (VACUUM's truncation and TRUNCATE
 *		take AccessExclusiveLock and drop the cut pages' frames first): a
 *		page found valid in the pool exists, and only a miss looks the
 *		relation's size up in the directory (a shared hash lookup that
 *		ctid-chain walks, row locks and fetch_row_version paid per fetch,
 *		and index scans per scan).  Pinned, not locked.
 */
AegisBuffer
AegisBufferReadRelIfExists(Relation rel, const AegisRelKey *key, BlockNumber pageno)
{
	bool		hit;
	AegisBuffer buf = read_frame(key, pageno, &hit, false, NULL, true);

	if (buf == InvalidAegisBuffer)
		return buf;
	pgstat_count_buffer_read(rel);
	if (hit)
		pgstat_count_buffer_hit(rel);
	return buf;
}

/*
 * AegisBufferExtend
 *		Add a new, empty page to the relation; return its buffer pinned and
 *		exclusively locked, and its number in *pageno.
 */
AegisBuffer
AegisBufferExtend(const AegisRelKey *key, BlockNumber *pageno)
{
	AegisBuffer buf;
	bool		hit;

	*pageno = AegisStorageExtend(key, GetXLogInsertRecPtr());
	buf = read_frame(key, *pageno, &hit, false, NULL, false);
	LWLockAcquire(&Descs[buf].content_lock, LW_EXCLUSIVE);
	reserve_for_change(buf);
	return buf;
}

/*
 * With the exclusive content lock of frame b held: if it holds a memory
 * page without a reservation, reserve room for its block (see the file
 * header).  Nobody else can set or clear BM_RESERVED meanwhile: they need
 * the exclusive lock, or a share lock (flush_frame), or no pin at all.
 */
static void
reserve_for_change(int b)
{
	AegisBufferDesc *d = &Descs[b];
	uint32		flags;

	SpinLockAcquire(&d->hdr_lock);
	flags = d->flags;
	SpinLockRelease(&d->hdr_lock);
	if (!IS_MEMORY_FRAME(flags) || (flags & BM_RESERVED))
		return;
	AegisMemoryReserve();
	SpinLockAcquire(&d->hdr_lock);
	d->flags |= BM_RESERVED;
	SpinLockRelease(&d->hdr_lock);
}

/*
 * Before the exclusive content lock of frame b is released: a memory page
 * that was not changed gives its reservation back.
 */
static void
release_unused_reservation(int b)
{
	AegisBufferDesc *d = &Descs[b];
	bool		give = false;

	/* only an exclusive holder sets the flag: an unlocked read is enough */
	if (!(d->flags & BM_RESERVED) ||
		!LWLockHeldByMeInMode(&Descs[b].content_lock, LW_EXCLUSIVE))
		return;
	SpinLockAcquire(&d->hdr_lock);
	if ((d->flags & (BM_RESERVED | BM_DIRTY)) == BM_RESERVED)
	{
		d->flags &= ~BM_RESERVED;
		give = true;
	}
	SpinLockRelease(&d->hdr_lock);
	if (give)
		AegisMemoryUnreserve();
}

/*
 * AegisBufferLock
 *		Take the content lock of a pinned buffer.  An exclusive lock of a
 *		memory-backend page reserves room for its block (never fails).
 */
void
AegisBufferLock(AegisBuffer buf, LWLockMode mode)
{
	Assert(local_pin_count(buf) > 0);
	LWLockAcquire(&Descs[buf].content_lock, mode);
	if (mode == LW_EXCLUSIVE)
		reserve_for_change(buf);
}

/*
 * AegisBufferConditionalLockExclusive
 *		Take the exclusive content lock of a pinned buffer if nobody holds
 *		its content lock (ConditionalLockBuffer); returns whether it did.
 */
bool
AegisBufferConditionalLockExclusive(AegisBuffer buf)
{
	Assert(local_pin_count(buf) > 0);
	if (!LWLockConditionalAcquire(&Descs[buf].content_lock, LW_EXCLUSIVE))
		return false;
	reserve_for_change(buf);
	return true;
}

/*
 * AegisBufferCheckRoom
 *		Before a tuple is added to the page of 'buf' (locked exclusively):
 *		if it is a memory-backend page, raise ERRCODE_DISK_FULL when the
 *		memory backend is full (AegisMemoryCheckRoom).
 */
void
AegisBufferCheckRoom(AegisBuffer buf)
{
	if (!IS_MEMORY_FRAME(Descs[buf].flags))
		return;
	/* dirty memory pages hold whole-block reservations: write them back */
	if (!AegisMemoryHasRoom())
		(void) flush_frames(FLUSH_MEMORY, NULL, 0, buf);
	AegisMemoryCheckRoom();
}

/*
 * AegisBufferIsCleanupOK
 *		With the exclusive content lock held, is ours the only pin?  Then no
 *		other backend holds pointers into the page and tuples may be moved
 *		(ConditionalLockBufferForCleanup's test).
 */
bool
AegisBufferIsCleanupOK(AegisBuffer buf)
{
	AegisBufferDesc *d = &Descs[buf];
	int			pins;

	Assert(LWLockHeldByMeInMode(&Descs[buf].content_lock, LW_EXCLUSIVE));
	if (local_pin_count(buf) != 1)
		return false;
	SpinLockAcquire(&d->hdr_lock);
	pins = d->refcount;
	SpinLockRelease(&d->hdr_lock);
	return pins == 1;
}

void
AegisBufferUnlock(AegisBuffer buf)
{
	release_unused_reservation(buf);
	LWLockRelease(&Descs[buf].content_lock);
}

/* AegisBufferRelease: drop one pin taken by this backend. */
void
AegisBufferRelease(AegisBuffer buf)
{
	unpin_frame(buf);
}

void
AegisBufferUnlockRelease(AegisBuffer buf)
{
	release_unused_reservation(buf);
	LWLockRelease(&Descs[buf].content_lock);
	unpin_frame(buf);
}

/* AegisBufferGetPage: the page of a pinned buffer (valid while pinned). */
Page
AegisBufferGetPage(AegisBuffer buf)
{
	return PAGE_OF(buf);
}

BlockNumber
AegisBufferGetPageNo(AegisBuffer buf)
{
	return Descs[buf].tag.pageno;
}

/* AegisBufferGetTag: the relation key and page number of a pinned buffer. */
void
AegisBufferGetTag(AegisBuffer buf, AegisRelKey *key, BlockNumber *pageno)
{
	*key = Descs[buf].tag.key;
	*pageno = Descs[buf].tag.pageno;
}

/*
 * AegisBufferMarkDirty
 *		Note that the page changed; caller holds the exclusive content lock.
 */
void
AegisBufferMarkDirty(AegisBuffer buf)
{
	AegisBufferDesc *d = &Descs[buf];

	Assert(LWLockHeldByMeInMode(&Descs[buf].content_lock, LW_EXCLUSIVE));
	SpinLockAcquire(&d->hdr_lock);
	Assert(!IS_MEMORY_FRAME(d->flags) || (d->flags & BM_RESERVED));
	if (!(d->flags & BM_DIRTY))
		pgBufferUsage.shared_blks_dirtied++;
	d->flags |= BM_DIRTY;
	SpinLockRelease(&d->hdr_lock);
}

/*
 * AegisBufferMarkDirtyHint
 *		Note a hint-bit change made under a share content lock.  Losing it is
 *		harmless; a concurrent write-back may or may not include it.  A page
 *		of local storage that only hint bits changed is written when it is
 *		evicted, not by checkpoints (BM_HINT_DIRTY): hint bits are never
 *		needed for durability, and rewriting (recompressing) every page a
 *		first scan after a bulk load hinted made that checkpoint as costly
 *		as the load's.  A clean memory-backend page without a reservation
 *		stays clean (file header).
 */
void
AegisBufferMarkDirtyHint(AegisBuffer buf)
{
	AegisBufferDesc *d = &Descs[buf];

	SpinLockAcquire(&d->hdr_lock);
	if (!IS_MEMORY_FRAME(d->flags))
	{
		if (!(d->flags & BM_DIRTY))
			d->flags |= BM_HINT_DIRTY;
	}
	else if (d->flags & (BM_RESERVED | BM_DIRTY))
		d->flags |= BM_DIRTY;
	SpinLockRelease(&d->hdr_lock);
}

/*
 * drop_frames found a frame of the storage it drops pinned by this backend,
 * which would wait for itself: the pins can only be held ones of scans that
 * can no longer run (the relation is being dropped; PostgreSQL refuses to
 * drop a relation an open query of this session uses), so they go.  Any
 * other pin is a bug: raise an error rather than wait forever.
 */
static void
release_own_pins_on(int b)
{
	for (int i = 0; held_inuse > 0 && i < held_nslots; i++)
		if (held_slots[i].buf == b)
		{
			unpin_frame(b);
			held_lose(i);
		}
	if (local_pin_count(b) > 0)
		elog(ERROR, "aegis buffer %d of a relation being dropped is pinned by this backend", b);
}

/*
 * Forget every frame whose tag matches 'key' (its pages 'from' and up), or
 * database 'dbOid', or (both invalid: key NULL and dbOid InvalidOid) every
 * frame; no write-back.
 * Waits for pins (a concurrent write-back or checkpoint) to go away.  The
 * caller holds a lock that keeps sessions away from the relation (or
 * database, or all aegis storage).
 */
static void
drop_frames(const AegisRelKey *key, Oid dbOid, BlockNumber from)
{
	ensure_local_pins();
	for (int b = 0; b < Pool->nframes; b++)
	{
		AegisBufferDesc *d = &Descs[b];

		for (;;)
		{
			AegisBufferTag tag;
			uint32		hash;
			LWLock	   *plock;
			bool		match;
			bool		unreserve;

			/* unlocked pre-check, as DropRelFileNodeBuffers does */
			tag = d->tag;
			if (key)
				match = memcmp(&tag.key, key, sizeof(AegisRelKey)) == 0 &&
					tag.pageno >= from;
			else if (OidIsValid(dbOid))
				match = tag.key.dbOid == dbOid;
			else
				match = (d->flags & BM_TAG_VALID) != 0;
			if (!match)
				break;
			hash = page_hash(&tag);
			plock = partition_lock(hash);
			LWLockAcquire(plock, LW_EXCLUSIVE);
			SpinLockAcquire(&d->hdr_lock);
			if (!(d->flags & BM_TAG_VALID) || memcmp(&d->tag, &tag, sizeof(tag)) != 0)
			{
				SpinLockRelease(&d->hdr_lock);
				LWLockRelease(plock);
				continue;		/* changed under us: look again */
			}
			if (d->refcount > 0)
			{
				SpinLockRelease(&d->hdr_lock);
				LWLockRelease(plock);
				if (local_pin_count(b) > 0)
					release_own_pins_on(b);
				pg_usleep(1000L);
				continue;
			}
			page_table_remove(b, hash);
			memset(&d->tag, 0, sizeof(d->tag));
			unreserve = (d->flags & BM_RESERVED) != 0;
			d->flags = 0;
			d->usage = 0;
			SpinLockRelease(&d->hdr_lock);
			LWLockRelease(plock);
			put_free_frame(b);
			if (unreserve)
				AegisMemoryUnreserve();
			break;
		}
	}
}

/* AegisBufferDropRelation: discard a relation's pages (drop, truncate). */
void
AegisBufferDropRelation(const AegisRelKey *key)
{
	drop_frames(key, InvalidOid, 0);
}

/*
 * AegisBufferDropRelationFrom
 *		Discard the pages of relation 'key' numbered 'from' and up, without
 *		writing them back (VACUUM cutting empty trailing pages, and its
 *		redo; the caller wrote them back first with
 *		AegisBufferFlushRelationFrom).  Waits for pins to go away; the
 *		caller holds AccessExclusiveLock on the relation.
 */
void
AegisBufferDropRelationFrom(const AegisRelKey *key, BlockNumber from)
{
	drop_frames(key, InvalidOid, from);
}

/*
 * AegisBufferWriteEmpty
 *		Before pages [from, to) of relation 'key' are cut (VACUUM truncation,
 *		XLOG_AEGIS_EMPTY and its redo): make each of them a new, empty page
 *		(PageInit, what read_frame gives a page without a block) and write
 *		them back, so a block map rebuilt from the data files finds no old
 *		content under those page numbers.  'lsn': the EMPTY record's end,
 *		stamped on the pages (a page already at or past it is left alone:
 *		redo); InvalidXLogRecPtr for a relation without WAL, whose pages
 *		keep their LSN.  The caller holds AccessExclusiveLock or is the
 *		startup process, and drops the pages afterwards
 *		(AegisBufferDropRelationFrom).  Raises the I/O errors of reads and
 *		writes.
 */
void
AegisBufferWriteEmpty(const AegisRelKey *key, BlockNumber from, BlockNumber to,
					  XLogRecPtr lsn)
{
	for (BlockNumber p = from; p < to; p++)
	{
		AegisBuffer buf;
		Page		page;
		XLogRecPtr	stamp = lsn;
		XLogRecPtr	stored;

		CHECK_FOR_INTERRUPTS();

		/*
		 * The content is replaced: a page not in the pool is judged by its
		 * block's header LSN and not decompressed (in a restored base
		 * backup its compression dictionary may come later in the WAL,
		 * src/wal/wal_dict.c).
		 */
		if (!AegisBufferIsCached(key, p) && AegisStorageStoredLSN(key, p, &stored))
		{
			if (!XLogRecPtrIsInvalid(lsn) && stored >= lsn)
				continue;
			if (XLogRecPtrIsInvalid(stamp))
				stamp = stored;
			buf = AegisBufferReadZero(key, p);
		}
		else
			buf = AegisBufferRead(key, p);
		AegisBufferLock(buf, LW_EXCLUSIVE);
		page = AegisBufferGetPage(buf);
		if (XLogRecPtrIsInvalid(stamp))
			stamp = PageGetLSN(page);
		if (PageGetLSN(page) < stamp || XLogRecPtrIsInvalid(lsn))
		{
			PageInit(page, BLCKSZ, 0);
			PageSetLSN(page, stamp);
			AegisBufferMarkDirty(buf);
		}
		AegisBufferUnlockRelease(buf);
	}
	AegisBufferFlushRelationFrom(key, from);
}

/* AegisBufferDropDatabase: discard every page of a database. */
void
AegisBufferDropDatabase(Oid dbOid)
{
	drop_frames(NULL, dbOid, 0);
}

/*
 * AegisBufferDropAll: discard every page (a failed recovery starts over).
 */
void
AegisBufferDropAll(void)
{
	drop_frames(NULL, InvalidOid, 0);
}

/*
 * Must a flush of every page (checkpoint, sync) visit a frame with these
 * flags?  A dirty one, and one another process is writing back: that
 * process cleared DIRTY when it copied the page but updates the block map
 * only when its write is done, so the flush waits for it (start_io) before
 * the caller syncs the map, as BufferSync waits for BM_IO_IN_PROGRESS.
 */
static inline bool
write_due(uint32 flags)
{
	return (flags & (BM_VALID | BM_DIRTY)) == (BM_VALID | BM_DIRTY) ||
		(flags & (BM_VALID | BM_IO_IN_PROGRESS)) == (BM_VALID | BM_IO_IN_PROGRESS);
}

/*
 * Write back the frames 'which' names (write_due for the first two, for
 * FLUSH_RELATION only pages 'from' and up; for FLUSH_MEMORY the dirty
 * memory-backend frames whose content lock is free at once, skipping
 * 'except' and every one we hold locked); returns how many were written.
 */
static int
flush_frames(FlushWhich which, const AegisRelKey *key, BlockNumber from, int except)
{
	return flush_frame_range(which, key, from, except, 0, Pool->nframes, false);
}

/*
 * flush_frames over frames [b_from, b_to) only, from the last one down
 * with 'backward'
 */
static int
flush_frame_range(FlushWhich which, const AegisRelKey *key, BlockNumber from, int except,
				  int b_from, int b_to, bool backward)
{
	int			written = 0;

	ensure_local_pins();
	for (int i = b_from; i < b_to; i++)
	{
		int			b = backward ? b_to - 1 - (i - b_from) : i;
		AegisBufferDesc *d = &Descs[b];
		uint32		f;
		bool		due;

		if (b == except)
			continue;
		local_pin_reserve();
		SpinLockAcquire(&d->hdr_lock);
		f = d->flags;
		if (which == FLUSH_MEMORY)
			due = IS_MEMORY_FRAME(f) && (f & (BM_VALID | BM_DIRTY)) == (BM_VALID | BM_DIRTY);
		else
			due = write_due(f) &&
				(which == FLUSH_PERMANENT ? (f & BM_PERMANENT) != 0 :
				 (f & BM_TAG_VALID) && d->tag.pageno >= from &&
				 memcmp(&d->tag.key, key, sizeof(AegisRelKey)) == 0);
		if (due)
			d->refcount++;
		SpinLockRelease(&d->hdr_lock);
		if (!due)
			continue;
		local_pin_add(b, 1);
		if (which != FLUSH_MEMORY)
			written += flush_frame(b, false, false) ? 1 : 0;
		else if (!LWLockHeldByMe(&Descs[b].content_lock))
			written += flush_frame(b, true, false) ? 1 : 0;
		unpin_frame(b);
	}
	return written;
}

/*
 * AegisBufferFlushAll
 *		Write back every dirty page of local storage (checkpoint), and wait
 *		for write-backs in progress; returns how many pages we wrote.
 *		'backward': from the last frame down, while the I/O workers write
 *		chunks from the first frame on (AegisIoFlushHelp).  Pages of the
 *		memory backend are volatile by contract and are written only when
 *		evicted, so a full memory backend never blocks a checkpoint.
 */
int
AegisBufferFlushAll(bool backward)
{
	return flush_frame_range(FLUSH_PERMANENT, NULL, 0, -1, 0, Pool->nframes, backward);
}

/* AegisBufferNFrames: frames in the pool (aegis.buffer_pool_size). */
int
AegisBufferNFrames(void)
{
	return Pool->nframes;
}

/*
 * AegisBufferPrefault
 *		Map frames [from, to) of the pool into this process's page table,
 *		writable, without reading or changing what they hold, so that the
 *		process takes no page fault at its first access to each 4 kB of
 *		them; memory no process touched yet is allocated and zeroed by the
 *		kernel now.  madvise(MADV_POPULATE_WRITE), Linux 5.14 and later.
 *		Returns 0, or the errno: EINVAL from an older kernel, ENOMEM when
 *		the memory cannot be had, EINTR when a signal came first (the range
 *		may be partly done; asking again is harmless).  Takes no lock: a
 *		frame in use is left exactly as it is.
 */
int
AegisBufferPrefault(int from, int to)
{
#ifdef MADV_POPULATE_WRITE
	Assert(0 <= from && from <= to && to <= Pool->nframes);
	/* Pages and BLCKSZ are multiples of AEGIS_PAGE_ALIGN */
	if (to > from &&
		madvise(Pages + (Size) from * BLCKSZ, (Size) (to - from) * BLCKSZ,
				MADV_POPULATE_WRITE) != 0)
		return errno;
	return 0;
#else
	return EINVAL;
#endif
}

/*
 * AegisBufferFlushFrames
 *		For an I/O worker helping the aegis checkpoint (buffer_io.c): write
 *		back the dirty frames of local storage among frames [from, to), as
 *		AegisBufferFlushAll does.  Returns how many were written.  Errors
 *		as a write-back (full disk, a page that cannot be written).
 */
int
AegisBufferFlushFrames(int from, int to)
{
	return flush_frame_range(FLUSH_PERMANENT, NULL, 0, -1, Max(from, 0),
							 Min(to, Pool->nframes), false);
}

/*
 * AegisBufferWritePages
 *		For an I/O worker writing behind a bulk insert (buffer_io.c): write
 *		back those of pages [from, to) of relation 'key' that are in the
 *		pool and dirty (not those only hint bits changed), as eviction
 *		would; a page whose content lock is held (being changed) is left
 *		for later.  The caller holds a lock that keeps the relation's
 *		storage from being dropped.  Returns how many were written.  Errors
 *		as a write-back (full disk, a page that cannot be written).
 */
int
AegisBufferWritePages(const AegisRelKey *key, BlockNumber from, BlockNumber to)
{
	int			written = 0;

	ensure_local_pins();
	for (BlockNumber p = from; p < to; p++)
	{
		uint32		flags = 0;
		int			b = lookup_frame(key, p, true, &flags);

		if (b < 0)
			continue;
		PG_TRY();
		{
			if ((flags & (BM_VALID | BM_DIRTY)) == (BM_VALID | BM_DIRTY) &&
				flush_frame(b, true, false))
				written++;
		}
		PG_FINALLY();
		{
			unpin_frame(b);
		}
		PG_END_TRY();
	}
	return written;
}

/*
 * AegisBufferFlushRelation
 *		Write back every dirty page of relation 'key' (storage filled
 *		without WAL that must be durable at commit).
 */
void
AegisBufferFlushRelation(const AegisRelKey *key)
{
	(void) flush_frames(FLUSH_RELATION, key, 0, -1);
}

/*
 * AegisBufferFlushRelationFrom
 *		Write back every dirty page of relation 'key' numbered 'from' and
 *		up, and wait for write-backs of them in progress (VACUUM, before it
 *		cuts those pages: their newest stored block must be the emptied
 *		page, so that a block map rebuilt from the data files finds no
 *		older content of them).  PostgreSQL's WAL is flushed up to each
 *		page's LSN first, as for every write-back.
 */
void
AegisBufferFlushRelationFrom(const AegisRelKey *key, BlockNumber from)
{
	(void) flush_frames(FLUSH_RELATION, key, from, -1);
}

/* Free held slot i (its pin is released or forgotten by the caller). */
static void
held_free(int i)
{
	held_slots[i].buf = InvalidAegisBuffer;
	held_slots[i].gen++;
	held_slots[i].owner = NULL;
	held_inuse--;
}

/* Free held slot i behind its scan's back: its handle becomes stale. */
static void
held_lose(int i)
{
	held_free(i);
	AegisHeldPinsLost++;
}

/*
 * Drop this backend's pins; with 'warn' (at commit) report each as a leak.
 * A reservation an error left between lock and change is given back.
 */
static void
release_local_pins(bool warn)
{
	localpins_iterator it;
	LocalPin   *e;

	if (local_pins_total == 0 || local_pin_tab == NULL)
		return;
	localpins_start_iterate(local_pin_tab, &it);
	while ((e = localpins_iterate(local_pin_tab, &it)) != NULL)
	{
		int			b = e->buf;
		int32		n = e->count;

		if (warn)
			elog(WARNING, "aegis buffer %d pinned %d times at transaction end",
				 b, n);
		/* an error between lock and change left a reservation: give it back */
		if ((Descs[b].flags & BM_RESERVED) &&
			LWLockConditionalAcquire(&Descs[b].content_lock, LW_EXCLUSIVE))
		{
			release_unused_reservation(b);
			LWLockRelease(&Descs[b].content_lock);
		}
		SpinLockAcquire(&Descs[b].hdr_lock);
		Descs[b].refcount -= n;
		SpinLockRelease(&Descs[b].hdr_lock);
		local_pins_total -= n;
	}
	localpins_reset(local_pin_tab);
}

/*
 * AegisBufferReleaseAll
 *		Drop every pin this backend holds, held pins too: at transaction end
 *		(and in background processes after an error).  With 'warn', a pin
 *		left at commit is reported as a leak (PostgreSQL's
 *		PrintBufferLeakWarning).  Also adds this backend's pending hits to
 *		the pool's counter.
 */
void
AegisBufferReleaseAll(bool warn)
{
	flush_hits();
	for (int i = 0; held_inuse > 0 && i < held_nslots; i++)
		if (held_slots[i].buf != InvalidAegisBuffer)
			held_lose(i);
	release_local_pins(warn);
}

/* Is 'owner' 'ancestor' or one of its descendants? */
static bool
owner_within(ResourceOwner owner, ResourceOwner ancestor)
{
	for (; owner != NULL; owner = ResourceOwnerGetParent(owner))
		if (owner == ancestor)
			return true;
	return false;
}

/*
 * AegisBufferReleaseTransient
 *		At a subtransaction's abort (CurrentResourceOwner is its owner, as
 *		AtSubAbort_ResourceOwner sets it): drop the pins an error left inside
 *		a table AM callback and the held pins of the subtransaction's own
 *		scans (its owner and the portals under it), before its storage is
 *		dropped (which waits for pins).  An outer cursor's scan keeps its
 *		page: its pin belongs to a portal of the parent.
 */
void
AegisBufferReleaseTransient(void)
{
	if (local_pins_total == 0 || local_pin_tab == NULL)
		return;
	for (int i = 0; held_inuse > 0 && i < held_nslots; i++)
		if (held_slots[i].buf != InvalidAegisBuffer &&
			owner_within(held_slots[i].owner, CurrentResourceOwner))
		{
			unpin_frame(held_slots[i].buf);
			held_lose(i);
		}
	/* hide the outer held pins from release_local_pins, then count them again */
	for (int i = 0; held_inuse > 0 && i < held_nslots; i++)
		if (held_slots[i].buf != InvalidAegisBuffer)
			local_pin_add(held_slots[i].buf, -1);
	release_local_pins(false);
	/* the table is empty now, with room for every held pin it had */
	for (int i = 0; held_inuse > 0 && i < held_nslots; i++)
		if (held_slots[i].buf != InvalidAegisBuffer)
			local_pin_add(held_slots[i].buf, 1);
}

/*
 * AegisBufferHold
 *		Keep the pin the caller holds on 'buf' beyond the current callback,
 *		as a pin of CurrentResourceOwner (ResourceOwnerRememberBuffer): the
 *		caller releases it with AegisBufferReleaseHeld; releasing the owner
 *		(a subtransaction's abort, a portal's drop, transaction end) releases
 *		it otherwise.  The page's tuples stay where they are while it is held:
 *		they move only under AegisBufferIsCleanupOK, which the pin denies.
 *		Raises out of memory (the caller's pin is then an ordinary one, which
 *		the abort releases).
 */
void
AegisBufferHold(AegisBuffer buf, AegisHeldPin *held)
{
	int			i = 0;

	Assert(local_pin_count(buf) > 0);
	if (held_inuse == held_nslots)
	{
		int			n = Max(8, held_nslots * 2);

		held_slots = held_slots == NULL ?
			MemoryContextAlloc(TopMemoryContext, n * sizeof(HeldSlot)) :
			repalloc(held_slots, n * sizeof(HeldSlot));
		for (int j = held_nslots; j < n; j++)
		{
			held_slots[j].buf = InvalidAegisBuffer;
			held_slots[j].gen = 0;
			held_slots[j].owner = NULL;
		}
		i = held_nslots;
		held_nslots = n;
	}
	while (held_slots[i].buf != InvalidAegisBuffer)
		i++;
	held_slots[i].buf = buf;
	held_slots[i].owner = CurrentResourceOwner;
	held_inuse++;
	held->slot = i;
	held->gen = held_slots[i].gen;
	held->lost = AegisHeldPinsLost;
}

/* AegisBufferHeldValid: does the handle still hold its pin? */
bool
AegisBufferHeldValid(const AegisHeldPin *held)
{
	return held->slot >= 0 && held_slots[held->slot].gen == held->gen &&
		held_slots[held->slot].buf != InvalidAegisBuffer;
}

/*
 * AegisBufferReleaseHeld
 *		Release a held pin, if the handle still holds one (a stale handle's
 *		pin went with its resource owner); the handle becomes empty.
 */
void
AegisBufferReleaseHeld(AegisHeldPin *held)
{
	if (AegisBufferHeldValid(held))
	{
		unpin_frame(held_slots[held->slot].buf);
		held_free(held->slot);
	}
	held->slot = -1;
}

/*
 * ResourceOwnerRelease calls this for every owner it releases, with
 * CurrentResourceOwner set to it: the held pins of that owner go, with a
 * leak warning at commit (the scan was not ended), as buffer pins do.
 */
static void
held_release_callback(ResourceReleasePhase phase, bool isCommit,
					  bool isTopLevel, void *arg)
{
	if (phase != RESOURCE_RELEASE_BEFORE_LOCKS || held_inuse == 0)
		return;
	for (int i = 0; held_inuse > 0 && i < held_nslots; i++)
	{
		if (held_slots[i].buf == InvalidAegisBuffer ||
			held_slots[i].owner != CurrentResourceOwner)
			continue;
		if (isCommit)
			elog(WARNING, "aegis buffer %d still held by a scan at resource owner release",
				 held_slots[i].buf);
		unpin_frame(held_slots[i].buf);
		held_lose(i);
	}
}

/* AegisBufferGetStats: counters since server start, and frame usage now. */
void
AegisBufferGetStats(AegisBufferStats *stats)
{
	AegisCheckPreloaded();
	flush_hits();
	stats->hits = pg_atomic_read_u64(&Pool->hits);
	stats->misses = pg_atomic_read_u64(&Pool->misses);
	stats->evictions = pg_atomic_read_u64(&Pool->evictions);
	stats->writebacks = pg_atomic_read_u64(&Pool->writebacks);
	stats->frames = Pool->nframes;
	stats->frames_used = 0;
	stats->frames_dirty = 0;
	for (int b = 0; b < Pool->nframes; b++)
	{
		uint32		f = Descs[b].flags;

		if (f & BM_VALID)
			stats->frames_used++;
		if (f & BM_DIRTY)
			stats->frames_dirty++;
	}
}
