/*-------------------------------------------------------------------------
 *
 * backend_memory.c
 *	  The memory storage backend: blocks in shared memory.
 *
 * Blocks are allocated in the relation directory's DSA area; the block map
 * entry's offset is the dsa_pointer.  Memory tables are volatile by
 * contract (DESIGN.md invariant 9): nothing is written to disk, and after a
 * restart the directory no longer knows them, so they read as missing until
 * TRUNCATEd or recreated.  aegis.memory_backend_size bounds the bytes held.
 *
 * Callers hold the relation's directory entry lock while a block is read or
 * freed, so a block is never freed under a reader.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aegis/backend.h"
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
 * Copy a block into newly allocated shared memory; loc->offset is set to its
 * dsa_pointer.  Raises ERRCODE_DISK_FULL when aegis.memory_backend_size is
 * reached.
 */
static void
memory_write_block(const AegisRelKey *key, AegisBlockLoc *loc, const char *block)
{
	uint32		len = loc->length;
	dsa_area   *area = memory_area;
	pg_atomic_uint64 *used = memory_used;
	uint64		limit = (uint64) aegis_memory_backend_size * 1024;
	dsa_pointer dp;

	if (area == NULL)
		elog(ERROR, "aegis memory storage used before the relation directory was attached");
	if (pg_atomic_add_fetch_u64(used, len) > limit)
	{
		pg_atomic_sub_fetch_u64(used, len);
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("aegis memory storage is full"),
				 errdetail("Blocks of memory-backend tables use " UINT64_FORMAT " of " UINT64_FORMAT " bytes.",
						   pg_atomic_read_u64(used), limit),
				 errhint("Drop or truncate memory-backend tables, or raise aegis.memory_backend_size and restart.")));
	}
	dp = dsa_allocate_extended(area, len, DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(dp))
	{
		pg_atomic_sub_fetch_u64(used, len);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of shared memory for aegis memory storage")));
	}
	memcpy(dsa_get_address(area, dp), block, len);
	loc->offset = (uint64) dp;
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
