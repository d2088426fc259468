/*-------------------------------------------------------------------------
 *
 * backend_dir.c
 *	  The relation directory: every aegis relation's storage backend, codec,
 *	  size and block map, in a shared hash table; and checkpoints.
 *
 * The directory is a dshash table in a DSA area placed in the main shared
 * memory segment (like PostgreSQL's cumulative statistics).  An entry's lock
 * is the dshash partition lock: it is held only to read or change the entry
 * and its block map, never across I/O.
 *
 * Local backend blocks are appended to the relation's data file of the
 * current generation; a block the last checkpoint refers to is never
 * overwritten (invariant 6).  A checkpoint flushes the buffer pool, fsyncs
 * the data files, then writes each changed block map durably (temp file,
 * fsync, durable_rename); only then are superseded generations unlinked.
 * Compaction copies live blocks into a new generation when more than half
 * of a data file is superseded.
 *
 * Lock order: AegisDir->checkpoint_lock, then AegisDir->file_lock, then a
 * dshash partition lock, then the DSA area's lock.  Readers and writers of
 * local blocks hold file_lock shared; compaction and file unlinks hold it
 * exclusive, so no reader ever opens a generation that is being removed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aegis/aegis.h"
#include "aegis/backend.h"
#include "aegis/block.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "aegis/wal.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "storage/procarray.h"
#include "lib/dshash.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define AEGIS_DIR_DSA_INIT_SIZE (1024 * 1024)
#define AEGIS_COMPACT_MIN_BYTES (1024 * 1024)

typedef struct AegisRelEntry
{
	AegisRelKey key;			/* hash key; must be first */
	uint8		storage;		/* AegisStorageKind */
	uint8		codec;			/* AegisCodec */
	int16		level;
	BlockNumber npages;			/* pages, new ones included */
	BlockNumber map_capacity;	/* entries allocated at 'map' */
	dsa_pointer map;			/* AegisBlockLoc[map_capacity] */
	uint32		generation;		/* local: current data file generation */
	uint32		ckpt_generation;	/* local: generation the durable map names */
	uint64		file_end;		/* local: append offset of 'generation' */
	uint64		stored_blocks;	/* map entries with a block */
	uint64		stored_bytes;	/* sum of their lengths */
	bool		map_dirty;		/* changed since the last checkpoint */
	BlockNumber free_hint;		/* lowest page VACUUM freed space on */
	char		persistence;	/* RELPERSISTENCE_* */
	AegisLsn	create_lsn;		/* end LSN of the CREATE record */
	TransactionId create_xid;	/* until known committed */
	TransactionId drop_xid;		/* DROP logged at pre-commit of this xid */
	BlockNumber ext_pages;		/* covered by a durable EXTEND record */
	BlockNumber insert_floor;	/* see AegisStorageSettle */
} AegisRelEntry;

#define AEGIS_EXTEND_STEP	128 /* pages one EXTEND record covers */

/* True in the process replaying the WAL: nothing is logged then. */
bool		AegisInRecovery = false;

typedef struct AegisDirShared
{
	int			dsa_tranche;
	int			hash_tranche;
	int			lock_tranche;
	dshash_table_handle hash_handle;
	LWLock		checkpoint_lock;	/* one checkpoint at a time; load */
	LWLock		file_lock;		/* see header comment */
	bool		loaded;			/* local storage read at first use */
	pid_t		checkpointer_pid;
	pg_atomic_uint64 memory_bytes;	/* memory backend blocks, bytes */
	pg_atomic_uint64 file_epoch;	/* bumped whenever a local file is unlinked */
	uint64		checkpoints;
	char		dsa_space[FLEXIBLE_ARRAY_MEMBER];
} AegisDirShared;

static AegisDirShared *AegisDir = NULL;
static dsa_area *dir_area = NULL;
static void ensure_loaded(void);
static dshash_table *dir_hash = NULL;

static dshash_parameters dir_params = {
	sizeof(AegisRelKey),
	sizeof(AegisRelEntry),
	dshash_memcmp,
	dshash_memhash,
	0							/* tranche set at attach */
};


Size
AegisDirShmemSize(void)
{
	return add_size(offsetof(AegisDirShared, dsa_space), AEGIS_DIR_DSA_INIT_SIZE);
}

/*
 * AegisDirShmemInit
 *		Create the directory's DSA area and hash table in shared memory.
 *		Runs in the postmaster, under AddinShmemInitLock.
 */
void
AegisDirShmemInit(void)
{
	bool		found;

	AegisDir = ShmemInitStruct("aegis relation directory", AegisDirShmemSize(), &found);
	if (!found)
	{
		dsa_area   *area;
		dshash_table *hash;

		AegisDir->dsa_tranche = LWLockNewTrancheId();
		AegisDir->hash_tranche = LWLockNewTrancheId();
		AegisDir->lock_tranche = LWLockNewTrancheId();
		LWLockInitialize(&AegisDir->checkpoint_lock, AegisDir->lock_tranche);
		LWLockInitialize(&AegisDir->file_lock, AegisDir->lock_tranche);
		AegisDir->loaded = false;
		AegisDir->checkpointer_pid = 0;
		AegisDir->checkpoints = 0;
		pg_atomic_init_u64(&AegisDir->memory_bytes, 0);
		pg_atomic_init_u64(&AegisDir->file_epoch, 0);

		area = dsa_create_in_place(AegisDir->dsa_space, AEGIS_DIR_DSA_INIT_SIZE,
								   AegisDir->dsa_tranche, NULL);
		dsa_pin(area);
		/* the hash table's first allocation must fit in place */
		dsa_set_size_limit(area, AEGIS_DIR_DSA_INIT_SIZE);
		dir_params.tranche_id = AegisDir->hash_tranche;
		hash = dshash_create(area, &dir_params, NULL);
		AegisDir->hash_handle = dshash_get_hash_table_handle(hash);
		dsa_set_size_limit(area, -1);
		dshash_detach(hash);
		dsa_detach(area);
	}
}

/*
 * Attach this process to the directory, and make sure aegis recovery has
 * completed in this server lifetime (ensure_loaded): every way to aegis
 * storage passes here, so no statement runs on a directory that recovery
 * did not finish.
 */
static void
dir_attach(void)
{
	MemoryContext old;

	if (dir_hash != NULL)
	{
		ensure_loaded();
		return;
	}
	AegisCheckPreloaded();
	if (AegisDir == NULL)
		elog(ERROR, "aegis relation directory is not initialized");

	LWLockRegisterTranche(AegisDir->dsa_tranche, "aegis_directory_dsa");
	LWLockRegisterTranche(AegisDir->hash_tranche, "aegis_directory");
	LWLockRegisterTranche(AegisDir->lock_tranche, "aegis_checkpoint");

	old = MemoryContextSwitchTo(TopMemoryContext);
	dir_area = dsa_attach_in_place(AegisDir->dsa_space, NULL);
	dsa_pin_mapping(dir_area);
	dir_params.tranche_id = AegisDir->hash_tranche;
	dir_hash = dshash_attach(dir_area, &dir_params, AegisDir->hash_handle, NULL);
	MemoryContextSwitchTo(old);

	ensure_loaded();
}

dsa_area *
AegisDirArea(void)
{
	dir_attach();
	return dir_area;
}

/*
 * Forget everything a failed recovery put into the directory and the
 * buffer pool, so the next attempt starts again from the block maps.  What
 * it wrote to disk is harmless: rebuilt maps are complete and durable,
 * blocks appended beyond a map's end are never read, and drops it replayed
 * would be replayed again.
 */
static void
reset_directory(void)
{
	dshash_seq_status status;
	AegisRelEntry *e;

	/* the failed read or redo may have left pins of ours */
	AegisBufferReleaseAll(false);
	AegisBufferDropAll();
	dshash_seq_init(&status, dir_hash, true);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (DsaPointerIsValid(e->map))
			dsa_free(dir_area, e->map);
		dshash_delete_current(&status);
	}
	dshash_seq_term(&status);
}

/*
 * Read the local storage backend's block maps into the directory and replay
 * the WAL, once per server start, before any session touches an aegis table
 * (they wait on checkpoint_lock meanwhile).  A recovery that fails leaves the
 * directory empty and 'loaded' false: the next statement of any session
 * tries again, and fails the same way until the cause is repaired.
 */
static void
ensure_loaded(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	if (AegisDir->loaded || AegisInRecovery)
		return;
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aegis tables cannot be accessed while the server is in recovery"),
				 errdetail("The aegis WAL is not part of PostgreSQL's WAL stream: hot standbys, point-in-time recovery and base backups do not carry aegis tables."),
				 errhint("Read aegis tables on the primary server.")));
	LWLockAcquire(&AegisDir->checkpoint_lock, LW_EXCLUSIVE);
	if (!AegisDir->loaded)
	{
		AegisInRecovery = true;
		PG_TRY();
		{
			AegisLocalLoadAll();
			AegisWalRecover();
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			const char *note = "while recovering aegis storage after the server started; every use of aegis tables fails until recovery succeeds";

			AegisInRecovery = false;
			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			edata->context = edata->context ? psprintf("%s\n%s", edata->context, note) : pstrdup(note);
			reset_directory();
			ReThrowError(edata);
		}
		PG_END_TRY();
		AegisInRecovery = false;
		pg_write_barrier();
		AegisDir->loaded = true;
	}
	LWLockRelease(&AegisDir->checkpoint_lock);
}

/*
 * Did 'xid' commit?  PostgreSQL's commit log decides; an xid older than the
 * oldest one the commit log still holds committed long ago (an aborted
 * creator or dropper would have removed the storage, or cleared the mark,
 * long before).
 */
static bool
xid_committed(TransactionId xid)
{
	if (!TransactionIdIsNormal(xid))
		return false;
	if (TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
		return true;
	return TransactionIdDidCommit(xid);
}

static AegisBlockLoc *
entry_map(AegisRelEntry *e)
{
	return (AegisBlockLoc *) dsa_get_address(dir_area, e->map);
}

/* Grow e's block map to hold at least 'need' entries; entry locked. */
static void
entry_reserve(AegisRelEntry *e, BlockNumber need)
{
	BlockNumber newcap;
	dsa_pointer newmap;
	AegisBlockLoc *m;

	if (need <= e->map_capacity)
		return;
	newcap = Max(need, Max(e->map_capacity * 2, 64));
	newmap = dsa_allocate_extended(dir_area, (Size) newcap * sizeof(AegisBlockLoc),
								   DSA_ALLOC_HUGE | DSA_ALLOC_ZERO | DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(newmap))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of shared memory for the aegis block map of relation " AEGIS_REL_KEY_FMT,
						AEGIS_REL_KEY_ARGS(&e->key))));
	m = dsa_get_address(dir_area, newmap);
	if (DsaPointerIsValid(e->map))
	{
		memcpy(m, entry_map(e), (Size) e->npages * sizeof(AegisBlockLoc));
		dsa_free(dir_area, e->map);
	}
	e->map = newmap;
	e->map_capacity = newcap;
}

/* Find 'key', raising an error if it has no storage. */
static AegisRelEntry *
entry_find(const AegisRelKey *key, bool exclusive)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, exclusive);
	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis storage of relation " AEGIS_REL_KEY_FMT " does not exist",
						AEGIS_REL_KEY_ARGS(key)),
				 errdetail("The table's storage was lost or never created, for example by a crash before the first aegis checkpoint or by copying a database that contains aegis tables."),
				 errhint("Recreate the table, or TRUNCATE it to give it new, empty storage.")));
	return e;
}

static void
entry_info(AegisRelEntry *e, AegisRelInfo *info)
{
	info->key = e->key;
	info->storage = e->storage;
	info->codec = e->codec;
	info->level = e->level;
	info->npages = e->npages;
	info->persistence = e->persistence;
	info->create_lsn = e->create_lsn;
	info->create_xid = e->create_xid;
	info->drop_xid = e->drop_xid;
	info->ext_pages = e->ext_pages;
	info->insert_floor = e->insert_floor;
}

/*
 * Fill a new entry from 'info' (but not its pages: the map starts empty and
 * the caller fills it) and the local data file's generation and end.
 */
static void
entry_init(AegisRelEntry *e, const AegisRelInfo *info, uint32 generation,
		   uint64 file_end)
{
	e->storage = info->storage;
	e->codec = info->codec;
	e->level = info->level;
	e->npages = 0;
	e->map_capacity = 0;
	e->map = InvalidDsaPointer;
	e->generation = generation;
	e->ckpt_generation = generation;
	e->file_end = file_end;
	e->stored_blocks = 0;
	e->stored_bytes = 0;
	e->map_dirty = false;
	e->free_hint = InvalidBlockNumber;
	e->persistence = info->persistence;
	e->create_lsn = info->create_lsn;
	e->create_xid = info->create_xid;
	e->drop_xid = info->drop_xid;
	e->ext_pages = info->ext_pages;
	e->insert_floor = info->insert_floor;
}

/* The storage backend of an entry. */
static const AegisStorageBackend *
backend_of(AegisStorageKind storage)
{
	return storage == AEGIS_STORAGE_MEMORY ? &AegisMemoryBackend : &AegisLocalBackend;
}

/* Remove a generation's files; file_lock held exclusively. */
static void
drop_generation(const AegisStorageBackend *ops, const AegisRelKey *key, uint32 generation)
{
	if (ops->drop_relation == NULL)
		return;
	AegisDirBumpFileEpoch();
	ops->drop_relation(key, generation);
}

/* Delete every block of an entry (drop, truncate); entry locked exclusive. */
static void
entry_delete_blocks(AegisRelEntry *e)
{
	const AegisStorageBackend *ops = backend_of(e->storage);
	AegisBlockLoc *m;

	if (ops->delete_block == NULL || !DsaPointerIsValid(e->map))
		return;
	m = entry_map(e);
	for (BlockNumber p = 0; p < e->npages; p++)
		if (m[p].length > 0)
			ops->delete_block(&e->key, &m[p]);
}

/*
 * AegisStorageCreate
 *		Create empty storage for 'key' of a relation of 'persistence'
 *		(RELPERSISTENCE_*).  A CREATE record gives the storage its
 *		incarnation (create_lsn); the empty block map, which names the
 *		creating xid, is made durable at once, so recovery finds the storage
 *		and drops it unless that xid committed.  The caller registers the
 *		pending delete.
 */
void
AegisStorageCreate(const AegisRelKey *key, AegisStorageKind storage,
				   AegisCodec codec, int level, char persistence)
{
	AegisRelEntry *e;
	AegisRelInfo info;
	bool		found;
	AegisWalStorageRec rec;
	TransactionId xid = GetCurrentTransactionId();
	AegisLsn	create_lsn;

	dir_attach();
	memset(&rec, 0, sizeof(rec));
	rec.key = *key;
	create_lsn = AegisWalInsert(AEGIS_WAL_CREATE, 0, (char *) &rec, sizeof(rec), NULL, 0);
	memset(&info, 0, sizeof(info));
	info.key = *key;
	info.storage = storage;
	info.codec = codec;
	info.level = level;
	info.persistence = persistence;
	info.create_lsn = create_lsn;
	info.create_xid = xid;
	LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
	e = dshash_find_or_insert(dir_hash, key, &found);
	if (found)
	{
		dshash_release_lock(dir_hash, e);
		LWLockRelease(&AegisDir->file_lock);
		elog(ERROR, "aegis storage of relation " AEGIS_REL_KEY_FMT " already exists",
			 AEGIS_REL_KEY_ARGS(key));
	}
	entry_init(e, &info, 1, 0);
	dshash_release_lock(dir_hash, e);

	/* memory tables get a map too, so they come back (empty) after a restart */
	PG_TRY();
	{
		AegisLocalWriteMap(key, &info, 1, 0, NULL);
	}
	PG_CATCH();
	{
		dshash_delete_key(dir_hash, key);
		PG_RE_THROW();
	}
	PG_END_TRY();
	LWLockRelease(&AegisDir->file_lock);
}

/* AegisStorageGetInfo: copy key's entry into *info; false if none. */
bool
AegisStorageGetInfo(const AegisRelKey *key, AegisRelInfo *info)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return false;
	entry_info(e, info);
	dshash_release_lock(dir_hash, e);
	return true;
}

/* AegisStorageNPages: the relation's size in pages; error if no storage. */
BlockNumber
AegisStorageNPages(const AegisRelKey *key)
{
	AegisRelEntry *e = entry_find(key, false);
	BlockNumber n = e->npages;

	dshash_release_lock(dir_hash, e);
	return n;
}

/*
 * AegisStorageExtend
 *		Add one new page to the relation and return its number.  The page has
 *		no block yet: it reads as new until its buffer is written back.
 */
BlockNumber
AegisStorageExtend(const AegisRelKey *key)
{
	AegisRelEntry *e = entry_find(key, true);
	BlockNumber p;

	/*
	 * A page of a WAL-logged relation is used only once a durable EXTEND
	 * record covers it: after a crash, inserts then start beyond every page
	 * an index entry made before the crash can point to (AegisStorageSettle).
	 */
	if (!AegisInRecovery && e->storage == AEGIS_STORAGE_LOCAL &&
		e->persistence == RELPERSISTENCE_PERMANENT && e->npages >= e->ext_pages)
	{
		AegisWalStorageRec rec;
		AegisLsn	end;

		memset(&rec, 0, sizeof(rec));
		rec.key = *key;
		rec.npages = e->npages + AEGIS_EXTEND_STEP;
		rec.create_lsn = e->create_lsn;
		dshash_release_lock(dir_hash, e);
		end = AegisWalInsert(AEGIS_WAL_EXTEND, 0, (char *) &rec, sizeof(rec), NULL, 0);
		AegisWalFlush(end);
		e = entry_find(key, true);
		if (e->ext_pages < rec.npages)
			e->ext_pages = rec.npages;
		e->map_dirty = true;
	}

	if (e->npages >= MaxBlockNumber)
	{
		dshash_release_lock(dir_hash, e);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend aegis relation " AEGIS_REL_KEY_FMT " beyond %u pages",
						AEGIS_REL_KEY_ARGS(key), MaxBlockNumber)));
	}
	entry_reserve(e, e->npages + 1);
	p = e->npages;
	memset(&entry_map(e)[p], 0, sizeof(AegisBlockLoc));
	e->npages++;
	e->map_dirty = true;
	dshash_release_lock(dir_hash, e);
	return p;
}

/*
 * AegisStorageTruncate
 *		Make the relation empty in place (TRUNCATE of a table created in the
 *		same transaction).  The caller has dropped its buffers.  A local data
 *		file the last checkpoint refers to is kept until the next checkpoint.
 */
void
AegisStorageTruncate(const AegisRelKey *key)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	uint32		unlink_gen = 0;

	if (!AegisInRecovery)
	{
		AegisWalStorageRec rec;

		e = entry_find(key, false);
		memset(&rec, 0, sizeof(rec));
		rec.key = *key;
		rec.create_lsn = e->create_lsn;
		dshash_release_lock(dir_hash, e);
		(void) AegisWalInsert(AEGIS_WAL_TRUNCATE, 0, (char *) &rec, sizeof(rec), NULL, 0);
	}
	LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
	e = entry_find(key, true);
	ops = backend_of(e->storage);
	entry_delete_blocks(e);
	if (ops->append_only)
	{
		/* the generation the durable map names stays until a checkpoint */
		if (e->generation != e->ckpt_generation)
			unlink_gen = e->generation;
		e->generation++;
		e->file_end = 0;
	}
	e->npages = 0;
	e->stored_blocks = 0;
	e->stored_bytes = 0;
	e->map_dirty = true;
	e->free_hint = InvalidBlockNumber;
	e->insert_floor = 0;
	dshash_release_lock(dir_hash, e);
	if (unlink_gen != 0)
		drop_generation(ops, key, unlink_gen);
	LWLockRelease(&AegisDir->file_lock);
}

/*
 * AegisStorageLogDrop
 *		At pre-commit of a transaction that drops 'key': write the DROP record
 *		(flushed with the transaction's WAL before its commit record) and
 *		mark the entry, so a checkpoint taken meanwhile keeps the mark.
 *		Recovery then drops the storage if the transaction committed.
 */
void
AegisStorageLogDrop(const AegisRelKey *key)
{
	AegisRelEntry *e;
	AegisWalStorageRec rec;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.key = *key;
	rec.create_lsn = e->create_lsn;
	e->drop_xid = GetTopTransactionId();
	e->map_dirty = true;
	dshash_release_lock(dir_hash, e);
	(void) AegisWalInsert(AEGIS_WAL_DROP, 0, (char *) &rec, sizeof(rec), NULL, 0);
}

/* AegisStorageLogDropDatabase: the same for DROP DATABASE. */
void
AegisStorageLogDropDatabase(Oid dbOid)
{
	dshash_seq_status status;
	AegisRelEntry *e;
	AegisWalStorageRec rec;
	TransactionId xid = GetTopTransactionId();

	dir_attach();
	dshash_seq_init(&status, dir_hash, true);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (e->key.dbOid != dbOid)
			continue;
		e->drop_xid = xid;
		e->map_dirty = true;
	}
	dshash_seq_term(&status);
	memset(&rec, 0, sizeof(rec));
	rec.key.dbOid = dbOid;
	(void) AegisWalInsert(AEGIS_WAL_DROP_DATABASE, 0, (char *) &rec, sizeof(rec), NULL, 0);
}

/*
 * AegisStorageDrop
 *		Remove the relation's storage: its entry, blocks and files.  The
 *		caller has dropped its buffers.  Missing storage is not an error.
 *		Called at commit of the dropping transaction: raises no error for
 *		file problems (they become WARNINGs).
 */
void
AegisStorageDrop(const AegisRelKey *key)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	uint32		gen,
				ckpt_gen;

	dir_attach();
	LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
	{
		LWLockRelease(&AegisDir->file_lock);
		return;
	}
	ops = backend_of(e->storage);
	gen = e->generation;
	ckpt_gen = e->ckpt_generation;
	entry_delete_blocks(e);
	if (DsaPointerIsValid(e->map))
		dsa_free(dir_area, e->map);
	dshash_delete_entry(dir_hash, e);
	/* data files first: files without a map are taken for a lost map */
	drop_generation(ops, key, gen);
	if (ckpt_gen != gen)
		drop_generation(ops, key, ckpt_gen);
	AegisLocalUnlinkMap(key);
	LWLockRelease(&AegisDir->file_lock);
}

/*
 * AegisStorageDropDatabase
 *		Remove the storage of every relation of database 'dbOid' and its
 *		directory (DROP DATABASE, at commit).
 */
void
AegisStorageDropDatabase(Oid dbOid)
{
	dshash_seq_status status;
	AegisRelEntry *e;

	dir_attach();
	LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
	dshash_seq_init(&status, dir_hash, true);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (e->key.dbOid != dbOid)
			continue;
		entry_delete_blocks(e);
		if (DsaPointerIsValid(e->map))
			dsa_free(dir_area, e->map);
		dshash_delete_current(&status);
	}
	dshash_seq_term(&status);
	AegisLocalRemoveDatabase(dbOid);
	LWLockRelease(&AegisDir->file_lock);
}

/*
 * AegisStorageReadPage
 *		Read page 'pageno' from its storage backend into 'page' (BLCKSZ bytes,
 *		caller's memory), verifying and decompressing the block.  Returns
 *		false, leaving 'page' untouched, if the page has no block yet.
 *		Raises ERRCODE_DATA_CORRUPTED for a bad block.
 */
bool
AegisStorageReadPage(const AegisRelKey *key, BlockNumber pageno, char *page)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	AegisBlockLoc loc;
	char		block[AEGIS_BLOCK_MAX_SIZE];
	char	   *location;

	e = entry_find(key, false);
	if (pageno >= e->npages)
	{
		BlockNumber n = e->npages;

		dshash_release_lock(dir_hash, e);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("page %u of aegis relation " AEGIS_REL_KEY_FMT " is beyond its end (%u pages)",
						pageno, AEGIS_REL_KEY_ARGS(key), n)));
	}
	loc = entry_map(e)[pageno];
	if (loc.length == 0)
	{
		dshash_release_lock(dir_hash, e);
		return false;
	}
	if (loc.length > AEGIS_BLOCK_MAX_SIZE)
	{
		dshash_release_lock(dir_hash, e);
		elog(ERROR, "aegis block map entry of relation " AEGIS_REL_KEY_FMT " page %u has length %u",
			 AEGIS_REL_KEY_ARGS(key), pageno, loc.length);
	}
	ops = backend_of(e->storage);
	if (ops->read_under_entry_lock)
	{
		/* a concurrent write-back may delete the old block right after */
		ops->read_block(key, &loc, block);
		dshash_release_lock(dir_hash, e);
	}
	else
	{
		dshash_release_lock(dir_hash, e);
		LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
		/* compaction may have moved the block meanwhile: read the map again */
		e = entry_find(key, false);
		loc = entry_map(e)[pageno];
		dshash_release_lock(dir_hash, e);
		ops->read_block(key, &loc, block);
		LWLockRelease(&AegisDir->file_lock);
	}
	location = ops->location(key, &loc);
	AegisBlockDecode(block, loc.length, key, pageno, location, page);
	return true;
}

/*
 * AegisStorageWritePage
 *		Encode 'page' with the relation's codec and store it as page 'pageno'.
 *		The caller holds the page stable (a pinned, share-locked buffer or a
 *		private copy).  The block that the map named before is superseded,
 *		never overwritten.  A relation dropped meanwhile is ignored.
 */
void
AegisStorageWritePage(const AegisRelKey *key, BlockNumber pageno, const char *page)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	AegisRelInfo info;
	char		block[AEGIS_BLOCK_MAX_SIZE];
	uint32		len;
	AegisBlockLoc loc;
	AegisBlockLoc *slot;

	if (!AegisStorageGetInfo(key, &info))
		return;
	ops = backend_of(info.storage);
	len = AegisBlockEncode(key, pageno, page, info.codec, info.level,
						   info.persistence, block);
	loc.length = len;
	loc.generation = 0;
	loc.offset = 0;

	/* errors below release file_lock with every LWLock at abort */
	LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
	if (ops->append_only)
	{
		/* reserve room at the end of the current generation */
		e = dshash_find(dir_hash, key, true);
		if (e == NULL || pageno >= e->npages)
		{
			if (e)
				dshash_release_lock(dir_hash, e);
			LWLockRelease(&AegisDir->file_lock);
			return;
		}
		loc.generation = e->generation;
		loc.offset = e->file_end;
		e->file_end += len;
		dshash_release_lock(dir_hash, e);
	}
	ops->write_block(key, &loc, block);

	e = dshash_find(dir_hash, key, true);
	if (e == NULL || pageno >= e->npages ||
		(ops->append_only && e->generation != loc.generation))
	{
		/* truncated or dropped while we wrote: the new block is garbage */
		if (e)
			dshash_release_lock(dir_hash, e);
		if (ops->delete_block)
			ops->delete_block(key, &loc);
		LWLockRelease(&AegisDir->file_lock);
		return;
	}
	slot = &entry_map(e)[pageno];
	if (slot->length > 0 && ops->delete_block)
		ops->delete_block(key, slot);
	if (slot->length == 0)
		e->stored_blocks++;
	e->stored_bytes += (int64) len - (int64) slot->length;
	*slot = loc;
	e->map_dirty = true;
	dshash_release_lock(dir_hash, e);
	LWLockRelease(&AegisDir->file_lock);
}

/*
 * AegisStorageNoteFreeSpace
 *		VACUUM freed space on 'pageno': inserts look there (and onwards)
 *		before extending the relation.
 */
void
AegisStorageNoteFreeSpace(const AegisRelKey *key, BlockNumber pageno)
{
	AegisRelEntry *e = entry_find(key, true);

	if (e->free_hint == InvalidBlockNumber || pageno < e->free_hint)
		e->free_hint = pageno;
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageFreeHint
 *		The page an insert should try for free space, or InvalidBlockNumber.
 *		If 'full' is a valid page that had no room, the hint moves past it.
 *		If npages is not NULL it receives the relation's page count.
 */
BlockNumber
AegisStorageFreeHint(const AegisRelKey *key, BlockNumber full, BlockNumber *npages,
					 BlockNumber *floor)
{
	AegisRelEntry *e = entry_find(key, full != InvalidBlockNumber);
	BlockNumber hint;

	if (full != InvalidBlockNumber && e->free_hint == full)
		e->free_hint = (full + 1 < e->npages) ? full + 1 : InvalidBlockNumber;
	hint = e->free_hint;
	if (hint != InvalidBlockNumber && hint < e->insert_floor)
		hint = e->free_hint = (e->insert_floor < e->npages) ? e->insert_floor : InvalidBlockNumber;
	if (npages)
		*npages = e->npages;
	if (floor)
		*floor = e->insert_floor;
	dshash_release_lock(dir_hash, e);
	return hint;
}

/*
 * AegisStorageClearFloor
 *		VACUUM removed the index entries that a crash may have left pointing
 *		below 'floor' (the floor when it started): pages below it take new
 *		tuples again.
 */
void
AegisStorageClearFloor(const AegisRelKey *key, BlockNumber floor)
{
	AegisRelEntry *e = entry_find(key, true);

	if (e->insert_floor == floor)
	{
		e->insert_floor = 0;
		e->map_dirty = true;
	}
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageGetStats
 *		Figures for aegis_table_stats(); false if 'key' has no storage.
 */
bool
AegisStorageGetStats(const AegisRelKey *key, AegisRelStats *stats)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return false;
	entry_info(e, &stats->info);
	stats->stored_blocks = e->stored_blocks;
	stats->raw_bytes = e->stored_blocks * BLCKSZ;
	stats->stored_bytes = e->stored_bytes;
	stats->file_bytes = backend_of(e->storage)->append_only ? e->file_end : e->stored_bytes;
	dshash_release_lock(dir_hash, e);
	return true;
}

/*
 * Copy a local relation's live blocks into a new data file generation, so
 * the space of superseded blocks is given back.  Holds file_lock exclusive:
 * write-backs and reads of local blocks wait meanwhile.
 */
static void
compact_relation(const AegisRelKey *key)
{
	AegisRelEntry *e;
	AegisBlockLoc *copy;
	BlockNumber npages;
	uint32		oldgen,
				newgen,
				unlink_gen = 0;
	uint64		off = 0;
	char		block[AEGIS_BLOCK_MAX_SIZE];

	LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
	{
		LWLockRelease(&AegisDir->file_lock);
		return;
	}
	npages = e->npages;
	oldgen = e->generation;
	newgen = oldgen + 1;
	copy = palloc(Max(npages, 1) * sizeof(AegisBlockLoc));
	memcpy(copy, entry_map(e), npages * sizeof(AegisBlockLoc));
	dshash_release_lock(dir_hash, e);

	/* nobody changes the map of an append-only relation without file_lock */
	for (BlockNumber p = 0; p < npages; p++)
	{
		if (copy[p].length == 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		AegisLocalBackend.read_block(key, &copy[p], block);
		copy[p].offset = off;
		copy[p].generation = newgen;
		AegisLocalBackend.write_block(key, &copy[p], block);
		off += copy[p].length;
	}
	AegisLocalBackend.sync(key, newgen);

	e = dshash_find(dir_hash, key, true);
	if (e != NULL)
	{
		memcpy(entry_map(e), copy, npages * sizeof(AegisBlockLoc));
		if (oldgen != e->ckpt_generation)
			unlink_gen = oldgen;
		e->generation = newgen;
		e->file_end = off;
		e->map_dirty = true;
		dshash_release_lock(dir_hash, e);
	}
	if (unlink_gen != 0)
		drop_generation(&AegisLocalBackend, key, unlink_gen);
	LWLockRelease(&AegisDir->file_lock);
	pfree(copy);
}

/*
 * Make one local relation's state durable: fsync its data file, write its
 * block map (temp file, fsync, durable_rename), then unlink the generation
 * the previous durable map named, if it changed.
 */
static void
checkpoint_relation(const AegisRelKey *key)
{
	AegisRelEntry *e;
	AegisRelInfo info;
	AegisBlockLoc *copy;
	uint32		gen,
				old_ckpt_gen;
	uint64		file_end;
	bool		compact;

	TransactionId create_xid;
	bool		durable;

	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return;
	durable = backend_of(e->storage)->durable;
	compact = durable && e->file_end > AEGIS_COMPACT_MIN_BYTES &&
		e->file_end - e->stored_bytes > e->stored_bytes / 4;
	create_xid = e->create_xid;
	dshash_release_lock(dir_hash, e);
	if (compact)
		compact_relation(key);

	/* the creator is known to have committed: the map need not name it */
	if (TransactionIdIsValid(create_xid) && !TransactionIdIsCurrentTransactionId(create_xid) &&
		!TransactionIdIsInProgress(create_xid) && xid_committed(create_xid))
	{
		e = dshash_find(dir_hash, key, true);
		if (e != NULL && e->create_xid == create_xid)
		{
			e->create_xid = InvalidTransactionId;
			e->map_dirty = true;
		}
		if (e)
			dshash_release_lock(dir_hash, e);
	}

	LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
	e = dshash_find(dir_hash, key, true);
	if (e == NULL || !e->map_dirty)
	{
		if (e)
			dshash_release_lock(dir_hash, e);
		LWLockRelease(&AegisDir->file_lock);
		return;
	}
	entry_info(e, &info);
	gen = e->generation;
	old_ckpt_gen = e->ckpt_generation;
	file_end = e->file_end;
	if (!durable)
		info.npages = 0;		/* volatile: only the entry is remembered */
	copy = palloc(Max(info.npages, 1) * sizeof(AegisBlockLoc));
	memcpy(copy, entry_map(e), info.npages * sizeof(AegisBlockLoc));
	/* cleared before the write: a change made meanwhile dirties it again */
	e->map_dirty = false;
	dshash_release_lock(dir_hash, e);

	PG_TRY();
	{
		if (durable)
			backend_of(info.storage)->sync(key, gen);
		AegisLocalWriteMap(key, &info, gen, file_end, copy);
	}
	PG_CATCH();
	{
		e = dshash_find(dir_hash, key, true);
		if (e)
		{
			e->map_dirty = true;
			dshash_release_lock(dir_hash, e);
		}
		LWLockRelease(&AegisDir->file_lock);
		PG_RE_THROW();
	}
	PG_END_TRY();
	LWLockRelease(&AegisDir->file_lock);

	if (durable && old_ckpt_gen != gen)
	{
		LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
		e = dshash_find(dir_hash, key, true);
		if (e != NULL)
		{
			e->ckpt_generation = gen;
			dshash_release_lock(dir_hash, e);
			drop_generation(backend_of(info.storage), key, old_ckpt_gen);
		}
		LWLockRelease(&AegisDir->file_lock);
	}
	pfree(copy);
}

/* A palloc'd copy of every directory entry's public part; count in *n. */
static AegisRelInfo *
all_entries(int *n)
{
	dshash_seq_status status;
	AegisRelEntry *e;
	int			max = 64;
	AegisRelInfo *infos = palloc(max * sizeof(AegisRelInfo));

	*n = 0;
	dshash_seq_init(&status, dir_hash, false);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (*n == max)
		{
			max *= 2;
			infos = repalloc(infos, max * sizeof(AegisRelInfo));
		}
		entry_info(e, &infos[(*n)++]);
	}
	dshash_seq_term(&status);
	return infos;
}

/*
 * AegisStorageSyncRelation
 *		Make one relation's current blocks and map durable now (for storage
 *		filled without WAL, like ALTER TABLE SET TABLESPACE's copy, which
 *		PostgreSQL likewise syncs at once).  The caller has written the pages
 *		with AegisStorageWritePage.
 */
void
AegisStorageSyncRelation(const AegisRelKey *key)
{
	dir_attach();
	checkpoint_relation(key);
}

/*
 * AegisStorageCheckpoint
 *		Take an aegis checkpoint (one at a time): see the Internal variant.
 */
void
AegisStorageCheckpoint(bool shutdown)
{
	dir_attach();
	LWLockAcquire(&AegisDir->checkpoint_lock, LW_EXCLUSIVE);
	PG_TRY();
	{
		AegisStorageCheckpointInternal(shutdown);
	}
	PG_FINALLY();
	{
		LWLockRelease(&AegisDir->checkpoint_lock);
	}
	PG_END_TRY();
	if (shutdown)
		elog(LOG, "aegis shutdown checkpoint complete");
}

/*
 * AegisStorageCheckpointInternal
 *		The redo LSN is the WAL insert position now; every page dirtied by a
 *		record before it is written back (WAL first), the local data files
 *		are fsynced and every changed block map written durably; then the
 *		control file names the new redo LSN, and WAL segments before it are
 *		removed.  The caller holds checkpoint_lock (or is recovery).  Raises
 *		the I/O errors it meets; a failed checkpoint leaves the previous one
 *		valid.
 */
void
AegisStorageCheckpointInternal(bool shutdown)
{
	AegisRelInfo *infos;
	int			n;
	AegisLsn	redo;
	TimestampTz start = GetCurrentTimestamp();

	redo = AegisWalInsertLsn();
	AegisBufferFlushAll();
	AEGIS_CRASH_AT(AEGIS_CRASH_CHECKPOINT_AFTER_FLUSH);

	infos = all_entries(&n);
	for (int i = 0; i < n; i++)
		checkpoint_relation(&infos[i].key);
	pfree(infos);
	AEGIS_CRASH_AT(AEGIS_CRASH_CHECKPOINT_AFTER_MAPS);

	AegisWalWriteControl(redo, shutdown ? AEGIS_STATE_SHUTDOWN : AEGIS_STATE_IN_PRODUCTION);
	AEGIS_CRASH_AT(AEGIS_CRASH_CHECKPOINT_AFTER_CONTROL);
	AegisWalRemoveBefore(redo);
	AegisDir->checkpoints++;
	AegisWalNoteCheckpoint(redo,
						   (double) (GetCurrentTimestamp() - start) / 1000.0);
}

/* ---------------------------------------------------------------------
 * Redo of storage records, and settlement after recovery
 * ---------------------------------------------------------------------
 */

/* Drop key's storage and buffers (recovery). */
static void
redo_drop(const AegisRelKey *key)
{
	AegisBufferDropRelation(key);
	AegisStorageDrop(key);
}

/*
 * Does a storage record of incarnation 'create_lsn' apply to storage of
 * incarnation 'have'?  Storage whose block map was rebuilt from its data
 * files has an unknown incarnation (0): records for its key apply to it.
 */
static bool
same_incarnation(AegisLsn have, AegisLsn create_lsn)
{
	return have == create_lsn || have == 0;
}

/*
 * AegisStorageRedoDrop: DROP record of 'xid'; done if xid committed.  Storage
 * whose map was rebuilt is kept (with a WARNING): it cannot be told apart
 * from a later relation that reused the key, and data is never removed on
 * a guess.
 */
void
AegisStorageRedoDrop(const AegisRelKey *key, AegisLsn create_lsn, TransactionId xid)
{
	AegisRelInfo info;

	if (!AegisStorageGetInfo(key, &info) || !same_incarnation(info.create_lsn, create_lsn))
		return;
	if (!xid_committed(xid))
		return;
	if (info.create_lsn == 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis storage " AEGIS_REL_KEY_FMT " was rebuilt from its data files and a committed transaction dropped a relation with that key; the storage is kept",
						AEGIS_REL_KEY_ARGS(key)),
				 errhint("If no table uses relfilenode %u any more, its files under aegis.data_directory can be removed.",
						 key->relNumber)));
		return;
	}
	redo_drop(key);
}

/*
 * AegisStorageRedoDropDatabase
 *		DROP_DATABASE record at 'lsn' of 'xid': if xid committed, drop every
 *		storage of the database created before the record, and the
 *		database's directory if nothing is left in it.
 */
void
AegisStorageRedoDropDatabase(Oid dbOid, AegisLsn lsn, TransactionId xid)
{
	dshash_seq_status status;
	AegisRelEntry *e;
	List	   *drop = NIL;
	bool		left = false;
	ListCell   *lc;

	if (!xid_committed(xid))
		return;
	dshash_seq_init(&status, dir_hash, false);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (e->key.dbOid != dbOid)
			continue;
		if (e->create_lsn < lsn)
		{
			AegisRelKey *k = palloc(sizeof(AegisRelKey));

			*k = e->key;
			drop = lappend(drop, k);
		}
		else
			left = true;
	}
	dshash_seq_term(&status);
	foreach(lc, drop)
		redo_drop((AegisRelKey *) lfirst(lc));
	list_free_deep(drop);
	if (!left)
	{
		AegisBufferDropDatabase(dbOid);
		AegisLocalRemoveDatabase(dbOid);
	}
}

/* AegisStorageRedoTruncate: TRUNCATE record (in-place truncation). */
void
AegisStorageRedoTruncate(const AegisRelKey *key, AegisLsn create_lsn)
{
	AegisRelInfo info;

	if (!AegisStorageGetInfo(key, &info) || !same_incarnation(info.create_lsn, create_lsn))
		return;
	AegisBufferDropRelation(key);
	AegisStorageTruncate(key);
}

/* AegisStorageRedoExtend: EXTEND record. */
void
AegisStorageRedoExtend(const AegisRelKey *key, AegisLsn create_lsn, BlockNumber npages)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return;
	if (same_incarnation(e->create_lsn, create_lsn) && e->ext_pages < npages)
	{
		e->ext_pages = npages;
		e->map_dirty = true;
	}
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageSettle
 *		After the WAL is replayed: drop storage whose creating transaction did
 *		not commit, or whose dropping transaction did; drop temporary
 *		relations' storage (as PostgreSQL removes temporary files at every
 *		start).  After a crash ('crashed'), also empty unlogged relations
 *		(as PostgreSQL resets them from their init fork) and raise each
 *		logged relation's insert floor past every page an index entry
 *		written before the crash may point to: a transaction that did not
 *		commit may have its index entries in PostgreSQL's durable WAL while
 *		its aegis tuples were lost, and those TIDs must not be given to other
 *		tuples before VACUUM has removed the entries.
 */
void
AegisStorageSettle(bool crashed)
{
	AegisRelEntry *e;
	AegisRelInfo *infos;
	int			n;

	dir_attach();
	infos = all_entries(&n);
	for (int i = 0; i < n; i++)
	{
		AegisRelInfo *info = &infos[i];
		bool		drop = false;

		if (info->persistence == RELPERSISTENCE_TEMP)
			drop = true;
		else if (TransactionIdIsValid(info->create_xid) && !xid_committed(info->create_xid))
			drop = true;
		else if (TransactionIdIsValid(info->drop_xid) && xid_committed(info->drop_xid))
			drop = true;
		if (drop)
		{
			elog(DEBUG1, "aegis recovery: dropping storage " AEGIS_REL_KEY_FMT,
				 AEGIS_REL_KEY_ARGS(&info->key));
			redo_drop(&info->key);
			continue;
		}
		if (crashed && info->persistence == RELPERSISTENCE_UNLOGGED &&
			info->storage == AEGIS_STORAGE_LOCAL)
		{
			AegisBufferDropRelation(&info->key);
			AegisStorageTruncate(&info->key);
		}

		e = dshash_find(dir_hash, &info->key, true);
		if (e == NULL)
			continue;
		if (TransactionIdIsValid(e->drop_xid))
		{
			e->drop_xid = InvalidTransactionId;
			e->map_dirty = true;
		}
		if (crashed && e->storage == AEGIS_STORAGE_LOCAL &&
			e->persistence == RELPERSISTENCE_PERMANENT)
		{
			BlockNumber floor = Max(e->npages, e->ext_pages);

			if (floor > 0)
			{
				entry_reserve(e, floor);
				for (BlockNumber p = e->npages; p < floor; p++)
					memset(&entry_map(e)[p], 0, sizeof(AegisBlockLoc));
				e->npages = floor;
				e->insert_floor = floor;
				e->free_hint = InvalidBlockNumber;
				e->map_dirty = true;
			}
		}
		dshash_release_lock(dir_hash, e);
	}
	pfree(infos);
}

/* Counter of the memory backend's bytes (backend_memory.c owns its use). */
pg_atomic_uint64 *
AegisDirMemoryCounter(void)
{
	return &AegisDir->memory_bytes;
}

/* Epoch of local files: a change tells backends to close cached files. */
uint64
AegisDirFileEpoch(void)
{
	return pg_atomic_read_u64(&AegisDir->file_epoch);
}

void
AegisDirBumpFileEpoch(void)
{
	pg_atomic_fetch_add_u64(&AegisDir->file_epoch, 1);
}

/*
 * AegisDirLoadEntry
 *		Called by AegisLocalLoadAll for each valid map file read.
 */
void
AegisDirLoadEntry(const AegisRelInfo *info, uint32 generation, uint64 file_end,
				  const AegisBlockLoc *map)
{
	AegisRelEntry *e;
	bool		found;

	e = dshash_find_or_insert(dir_hash, &info->key, &found);
	if (found)
	{
		dshash_release_lock(dir_hash, e);
		return;
	}
	entry_init(e, info, generation, file_end);
	entry_reserve(e, 1);
	if (info->storage != AEGIS_STORAGE_LOCAL)
	{
		/* volatile by contract: a memory table comes back empty */
		dshash_release_lock(dir_hash, e);
		return;
	}
	entry_reserve(e, Max(info->npages, 1));
	if (info->npages > 0)
		memcpy(entry_map(e), map, info->npages * sizeof(AegisBlockLoc));
	e->npages = info->npages;
	for (BlockNumber p = 0; p < info->npages; p++)
	{
		if (map[p].length > 0)
		{
			e->stored_blocks++;
			e->stored_bytes += map[p].length;
		}
	}
	dshash_release_lock(dir_hash, e);
}

/* ---------------------------------------------------------------------
 * The checkpointer background worker
 * ---------------------------------------------------------------------
 */

/*
 * AegisRegisterCheckpointer
 *		Register the worker that checkpoints on aegis.checkpoint_timeout and
 *		at shutdown.  Called from _PG_init in the postmaster.
 */
void
AegisRegisterCheckpointer(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "aegis_storage");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "AegisCheckpointerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "aegis checkpointer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "aegis checkpointer");
	RegisterBackgroundWorker(&worker);
}

/* Backends other than walsenders still running, this process excluded. */
static int
other_backends(void)
{
	int			n = CountDBConnections(InvalidOid);

	for (int i = 0; WalSndCtl != NULL && i < max_wal_senders; i++)
		if (WalSndCtl->walsnds[i].pid != 0)
			n--;
	return n;
}

/*
 * AegisCheckpointerMain
 *		Checkpoint every aegis.checkpoint_timeout, and whenever more than
 *		aegis.max_wal_size of WAL was written since the last checkpoint's
 *		redo LSN (checked every second); at shutdown (SIGTERM), wait
 *		until the other backends have exited, then checkpoint a last time so
 *		a clean shutdown loses nothing.
 */
void
AegisCheckpointerMain(Datum arg)
{
	TimestampTz last = GetCurrentTimestamp();

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	dir_attach();
	AegisDir->checkpointer_pid = MyProcPid;

	while (!ShutdownRequestPending)
	{
		long		timeout_ms;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		timeout_ms = (long) aegis_checkpoint_timeout * 1000L;
		if (!ShutdownRequestPending &&
			(TimestampDifferenceExceeds(last, GetCurrentTimestamp(), timeout_ms) ||
			 AegisWalBytesSinceRedo() > (uint64) aegis_max_wal_size * 1024 * 1024))
		{
			AegisStorageCheckpoint(false);
			last = GetCurrentTimestamp();
		}
	}

	/* Shutdown: backends may still be finishing; they are being terminated. */
	while (other_backends() > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	AegisStorageCheckpoint(true);
	proc_exit(0);
}
