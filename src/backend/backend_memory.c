/*-------------------------------------------------------------------------
 *
 * backend_memory.c
 *	  The memory storage backend: blocks in shared memory.
 *
 * Blocks are allocated in the relation directory's DSA area; the block map
 * entry's offset is the dsa_pointer.  Memory tables are volatile by
 * contract (DESIGN.md invariant 9): nothing is written to disk, and after a
 * restart the directory no longer knows them, so they read as missing until
 * TRUNCATEd or recreated.  aegis.memory_backend_size bounds the bytes held
 * plus the bytes reserved.
 *
 * Reservations keep a full memory backend from pinning the shared buffer
 * pool: a memory-backend page may be changed only in a frame that holds a
 * reservation of AEGIS_BLOCK_MAX_SIZE bytes (taken by the buffer pool when
 * the frame is locked for a change, AegisMemoryReserve), and its write-back
 * uses that reservation up instead of asking for room.  So writing back a
 * dirty memory page, which any session may have to do to evict it, never
 * fails for lack of room; the statement that wants to change a page when
 * no room is left fails instead, before it changes anything.
 *
 * Callers hold the relation's directory entry lock while a block is read or
 * freed, so a block is never freed under a reader.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aegis/backend.h"
#include "aegis/block.h"
#include "aegis/guc.h"

/* the directory's DSA area and the bytes held, set by AegisMemoryAttach */
static dsa_area *memory_area = NULL;
static pg_atomic_uint64 *memory_used = NULL;

void
AegisMemoryAttach(dsa_area *area, pg_atomic_uint64 *used_bytes)
{
	memory_area = area;
	memory_used = used_bytes;
}

/*
 * Take 'len' bytes of the budget (0: only check that some is left); raises
 * ERRCODE_DISK_FULL if that would pass aegis.memory_backend_size.
 */
static void
take_room(uint64 len)
{
	uint64		limit = (uint64) aegis_memory_backend_size * 1024;
	uint64		now;

	if (memory_used == NULL)
		elog(ERROR, "aegis memory storage used before the relation directory was attached");
	now = len > 0 ? pg_atomic_add_fetch_u64(memory_used, len) : pg_atomic_read_u64(memory_used);
	if (now > limit || (len == 0 && now == limit))
	{
		if (len > 0)
			now = pg_atomic_sub_fetch_u64(memory_used, len);
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("aegis memory storage is full"),
				 errdetail("Memory-backend tables hold or have reserved " UINT64_FORMAT " of " UINT64_FORMAT " bytes (aegis.memory_backend_size).",
						   now, limit),
				 errhint("Delete from, truncate or drop memory-backend tables, or raise aegis.memory_backend_size and restart.")));
	}
}

/*
 * AegisMemoryReserve
 *		Reserve room for one block of a memory-backend page (the largest a
 *		block can be, AEGIS_BLOCK_MAX_SIZE bytes) in the memory budget.
 *		Never fails: the buffer pool reserves for every memory page it locks
 *		for a change, so reservations are bounded by the pool's frames and
 *		may take the budget past aegis.memory_backend_size by that much; the
 *		statements that add data check the budget first
 *		(AegisMemoryCheckRoom), so DELETE, VACUUM and row locks still work
 *		when it is full.  The reservation is used up by the page's write-back
 *		(write_block with 'reserved') or given back (AegisMemoryUnreserve).
 */
void
AegisMemoryReserve(void)
{
	pg_atomic_add_fetch_u64(memory_used, AEGIS_BLOCK_MAX_SIZE);
}

/*
 * AegisMemoryCheckRoom
 *		Raise ERRCODE_DISK_FULL if memory-backend tables hold or have
 *		reserved aegis.memory_backend_size bytes or more; called before a
 *		tuple is added to a memory-backend table, so the statement that
 *		needs more room fails and nothing else does.
 */
void
AegisMemoryCheckRoom(void)
{
	take_room(0);
}

/* AegisMemoryHasRoom: would AegisMemoryCheckRoom pass now? */
bool
AegisMemoryHasRoom(void)
{
	return memory_used != NULL &&
		pg_atomic_read_u64(memory_used) < (uint64) aegis_memory_backend_size * 1024;
}

/* AegisMemoryUnreserve: give back one AegisMemoryReserve.  Never fails. */
void
AegisMemoryUnreserve(void)
{
	pg_atomic_sub_fetch_u64(memory_used, AEGIS_BLOCK_MAX_SIZE);
}

/*
 * Copy a block into newly allocated shared memory; loc->offset is set to its
 * dsa_pointer.  With 'reserved', the block takes the place of a reservation
 * (it is never larger); otherwise raises ERRCODE_DISK_FULL when
 * aegis.memory_backend_size is reached.  Raises ERRCODE_OUT_OF_MEMORY if
 * the DSA area cannot grow; the reservation is kept then.
 */
static void
memory_write_block(const AegisRelKey *key, AegisBlockLoc *loc, const char *block,
				   bool reserved)
{
	uint32		len = loc->length;
	dsa_area   *area = memory_area;
	dsa_pointer dp;

	Assert(len <= AEGIS_BLOCK_MAX_SIZE);
	if (area == NULL)
		elog(ERROR, "aegis memory storage used before the relation directory was attached");
	if (!reserved)
		take_room(len);
	dp = dsa_allocate_extended(area, len, DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(dp))
	{
		if (!reserved)
			pg_atomic_sub_fetch_u64(memory_used, len);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of shared memory for aegis memory storage")));
	}
	memcpy(dsa_get_address(area, dp), block, len);
	loc->offset = (uint64) dp;
	if (reserved)
		pg_atomic_sub_fetch_u64(memory_used, AEGIS_BLOCK_MAX_SIZE - len);
}

/* Copy the block 'loc' names into 'block'; entry lock held (see above). */
static void
memory_read_block(const AegisRelKey *key, const AegisBlockLoc *loc, char *block)
{
	memcpy(block, dsa_get_address(memory_area, (dsa_pointer) loc->offset),
		   loc->length);
}

/* Give back the memory of the block 'loc' names. */
static void
memory_delete_block(const AegisRelKey *key, const AegisBlockLoc *loc)
{
	dsa_free(memory_area, (dsa_pointer) loc->offset);
	pg_atomic_sub_fetch_u64(memory_used, loc->length);
}

static char *
memory_location(const AegisRelKey *key, const AegisBlockLoc *loc)
{
	return pstrdup("shared memory");
}

/* The memory storage backend: volatile, nothing to sync or unlink. */
const AegisStorageBackend AegisMemoryBackend = {
	.name = "memory",
	.durable = false,
	.append_only = false,
	.read_under_entry_lock = true,
	.write_block = memory_write_block,
	.read_block = memory_read_block,
	.delete_block = memory_delete_block,
	.sync = NULL,
	.drop_relation = NULL,
	.location = memory_location,
};
