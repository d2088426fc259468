/*-------------------------------------------------------------------------
 *
 * backend_dir.c
 *	  The relation directory: every aegis relation's storage backend, codec,
 *	  size and block map, in a shared hash table, and its durable state (the
 *	  block map files of the local backend).
 *
 * The directory is a dshash table in a DSA area placed in the main shared
 * memory segment (like PostgreSQL's cumulative statistics).  An entry's lock
 * is the dshash partition lock: it is held only to read or change the entry
 * and its block map, never across I/O.
 *
 * Local backend blocks are appended to the relation's data file of the
 * current generation; a block the durable map refers to is never
 * overwritten (invariant 6).  AegisStorageSyncRelation makes one relation
 * durable: it compacts the data file when much of it is superseded (live
 * blocks copied into a new generation), fsyncs it, writes the block map
 * durably (temp file, fsync, rename, directory fsync), and only then unlinks the
 * generation the previous map named.  When that happens is decided above
 * (src/checkpoint): this file logs nothing and runs no checkpoint.
 *
 * The directory is loaded once per server lifetime: by the startup process
 * before redo (AegisStorageLoad, called from the resource manager's
 * rm_startup), or, when the server started without recovery, by the first
 * process that uses aegis storage (ensure_loaded), which then also drops
 * what no transaction left alive (AegisStorageShouldDrop).
 *
 * Lock order: AegisDir->load_lock, then AegisDir->sync_lock, then
 * AegisDir->file_lock, then a dshash partition lock, then the DSA area's
 * lock.  Readers and writers of local blocks hold file_lock shared;
 * compaction and file unlinks hold it exclusive, so no reader ever opens a
 * generation that is being removed.  sync_lock serializes
 * AegisStorageSyncRelation, so maps are written in the order they change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "aegis/aegis.h"
#include "aegis/backend.h"
#include "aegis/block.h"
#include "aegis/buffer.h"
#include "aegis/guc.h"
#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_tablespace_d.h"
#include "common/controldata_utils.h"
#include "lib/dshash.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

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
	uint64		stored_bytes;	/* sum of their blocks' lengths (a group's
								 * whole, less the shares of members that
								 * left it since it was counted) */
	uint32		regroup_hint;	/* pending blocks written, group members
								 * superseded, since AegisStorageRegroupBegin */
	/* local: which blocks are new to a grouping pass ("Group blocks") */
	bool		mark_known;		/* mark_*: 'generation' and 'file_end' at the */
	uint32		mark_generation;	/* last AegisStorageRegroupBegin */
	uint64		mark_end;
	bool		fresh_known;	/* fresh_*: blocks of 'fresh_generation' below */
	uint32		fresh_generation;	/* 'fresh_below' were written before the */
	uint64		fresh_below;	/* pass before this one began */
	bool		map_dirty;		/* changed since the last checkpoint */
	BlockNumber free_hint;		/* lowest page VACUUM freed space on */
	char		persistence;	/* RELPERSISTENCE_* */
	bool		reset_checked;	/* unlogged: compared with its stub */
	XLogRecPtr	create_lsn;		/* end LSN of the CREATE record, 0 if unknown */
	TransactionId create_xid;	/* until known committed */
	TransactionId drop_xid;		/* DROP logged at pre-commit of this xid */
	BlockNumber insert_floor;	/* set by the previous build, see README */
	XLogRecPtr	cut_lsn;		/* end LSN of the last cut's record */
	AegisPageLayout layout;		/* of its tuples, as a backend last saw it
								 * (AegisStorageSetLayout); natts 0: unknown */
	XLogRecPtr	layout_lsn;		/* end of the last XLOG_AEGIS_REL_INFO of
								 * 'layout', written or replayed; 0 none */
	uint16		dict_id;		/* current compression dictionary, 0 none */
	bool		dict_known;		/* dict_id and dict_bytes counted from files */
	bool		dict_busy;		/* a process is making the next one */
	bool		dict_refused;	/* files of the previous builds: none */
	uint64		dict_bytes;		/* file bytes of its dictionaries */
	BlockNumber dict_failed;	/* pages when training last failed, or 0 */
} AegisRelEntry;

typedef struct AegisDirShared
{
	int			dsa_tranche;
	int			hash_tranche;
	int			lock_tranche;
	dshash_table_handle hash_handle;
	LWLock		load_lock;		/* loading the directory */
	LWLock		sync_lock;		/* AegisStorageSyncRelation */
	LWLock		file_lock;		/* see header comment */
	bool		loaded;			/* the directory holds every relation */
	pg_atomic_uint64 memory_bytes;	/* memory backend blocks, bytes */
	pg_atomic_uint64 file_epoch;	/* bumped whenever a local file is unlinked */
	char		dsa_space[FLEXIBLE_ARRAY_MEMBER];
} AegisDirShared;

static AegisDirShared *AegisDir = NULL;
static dsa_area *dir_area = NULL;
static void ensure_loaded(void);
static void load_entry(const AegisRelInfo *info, uint32 generation,
					   uint64 file_end, const AegisBlockLoc *map);
static AegisRelInfo *all_entries(int *n);
static void drop_storage(const AegisRelKey *key);
static void clear_drop(const AegisRelKey *key);
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
		LWLockInitialize(&AegisDir->load_lock, AegisDir->lock_tranche);
		LWLockInitialize(&AegisDir->sync_lock, AegisDir->lock_tranche);
		LWLockInitialize(&AegisDir->file_lock, AegisDir->lock_tranche);
		AegisDir->loaded = false;
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
	LWLockRegisterTranche(AegisDir->lock_tranche, "aegis_directory_load");

	old = MemoryContextSwitchTo(TopMemoryContext);
	dir_area = dsa_attach_in_place(AegisDir->dsa_space, NULL);
	dsa_pin_mapping(dir_area);
	dir_params.tranche_id = AegisDir->hash_tranche;
	dir_hash = dshash_attach(dir_area, &dir_params, AegisDir->hash_handle, NULL);
	MemoryContextSwitchTo(old);
	AegisMemoryAttach(dir_area, &AegisDir->memory_bytes);
	AegisLocalAttach(&AegisDir->file_epoch);

	ensure_loaded();
}

/*
 * Forget everything a failed load put into the directory, so the next
 * attempt starts again from the block maps.  What it wrote to disk is
 * harmless: rebuilt maps are complete and durable.  Nothing else uses the
 * directory before it is loaded, so no buffer holds its pages.
 */
static void
reset_directory(void)
{
	dshash_seq_status status;
	AegisRelEntry *e;

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
 * Load the directory (AegisLocalLoadAll) under load_lock; 'rebuild' as for
 * AegisStorageLoad.  A load that raises an error leaves the directory empty
 * and 'loaded' false, with the context "while loading aegis storage": the
 * next use of aegis storage in any session tries again, and fails the same
 * way until the cause is repaired.  With 'settle', what no transaction
 * left alive is dropped once loaded (a start without recovery).
 */
static void
load_directory(bool rebuild, bool settle)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	LWLockAcquire(&AegisDir->load_lock, LW_EXCLUSIVE);
	if (AegisDir->loaded)
	{
		LWLockRelease(&AegisDir->load_lock);
		return;
	}
	PG_TRY();
	{
		AegisLocalLoadAll(rebuild, load_entry);
		if (settle)
		{
			AegisRelInfo *infos;
			int			n;
			bool		infer = AegisStorageMayInferAborts();

			infos = all_entries(&n);
			for (int i = 0; i < n; i++)
			{
				if (infos[i].persistence == RELPERSISTENCE_TEMP ||
					AegisStorageShouldDrop(&infos[i], infer))
					drop_storage(&infos[i].key);
				else if (infer)
					clear_drop(&infos[i].key);
			}
			pfree(infos);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		const char *note = "while loading aegis storage; every use of aegis tables fails until this succeeds";

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->context = edata->context ? psprintf("%s\n%s", edata->context, note) : pstrdup(note);
		reset_directory();
		ReThrowError(edata);
	}
	PG_END_TRY();
	pg_write_barrier();
	AegisDir->loaded = true;
	LWLockRelease(&AegisDir->load_lock);
}

/*
 * Make sure the directory is loaded.  During recovery the startup process
 * loads it (AegisStorageLoad from rm_startup) before any redo, and hot
 * standby sessions start only after that; without recovery, the first
 * process that uses aegis storage loads it.
 */
static void
ensure_loaded(void)
{
	if (likely(AegisDir->loaded))
		return;
	if (!RecoveryInProgress())
		load_directory(false, true);
	else if (!AmStartupProcess())
	{
		/*
		 * A hot standby session before the startup process reached its first
		 * record (rm_startup runs then): the maps are consistent unless a
		 * base backup is being restored, and then rm_startup rebuilds them.
		 */
		if (AegisStorageRestoringBackup())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("aegis storage is not loaded yet"),
					 errdetail("The server restores a base backup and has not replayed WAL yet."),
					 errhint("Try again once recovery has progressed.")));
		load_directory(false, false);
	}
}

/*
 * AegisStorageRestoringBackup
 *		Does this server recover from a base backup that has not reached its
 *		end yet?  pg_control names a backup start point until then (written
 *		before redo starts).  Its maps and data files were copied at
 *		different moments: rebuild them (AegisStorageLoad).
 */
bool
AegisStorageRestoringBackup(void)
{
	bool		crc_ok;
	ControlFileData *cf = get_controlfile(DataDir, &crc_ok);
	bool		restoring;

	restoring = crc_ok && (!XLogRecPtrIsInvalid(cf->backupStartPoint) || cf->backupEndRequired);
	pfree(cf);
	return restoring;
}

/*
 * AegisStorageLoadEarly
 *		For a background worker just after the server started (buffer_io.c):
 *		if no recovery is running, load the directory now, as the first
 *		statement on an aegis table would (ensure_loaded, with its settle),
 *		so that statement does not wait for the block maps of every aegis
 *		relation of the cluster to be read.  In recovery the startup process
 *		loads it.  Raises what a load raises (the load is then retried by
 *		the next use, as after any failed load).
 */
void
AegisStorageLoadEarly(void)
{
	if (!RecoveryInProgress())
		dir_attach();
}

/* AegisStorageLoaded: has the directory been loaded in this server lifetime? */
bool
AegisStorageLoaded(void)
{
	AegisCheckPreloaded();
	return AegisDir->loaded;
}

/*
 * AegisStorageLoad
 *		Load the directory from the block maps of the local backend, in the
 *		startup process before redo (rm_startup).  With 'rebuild', every
 *		relation's map is rebuilt from its data files instead (a restored
 *		base backup: maps and data files were copied at different times).
 *		Raises the I/O errors it meets.
 */
void
AegisStorageLoad(bool rebuild)
{
	dir_attach();
	load_directory(rebuild, false);
	if (rebuild)
		AegisStorageDigStubHoles();
}

/*
 * AegisStorageDigStubHoles
 *		A restored base backup copied every relation's PostgreSQL storage
 *		stub with all its zeros (sparse on the primary): give their disk
 *		space back (AegisLocalDigStubHoles) for every permanent local
 *		relation.  A key that names the database's default tablespace (0)
 *		is looked for in pg_default and in every tablespace, which the
 *		startup process cannot tell apart: digging only punches out ranges
 *		of zeros, harmless in any file.  Logs what it freed.  Startup
 *		process, before redo.
 */
void
AegisStorageDigStubHoles(void)
{
	int			n;
	AegisRelInfo *infos = all_entries(&n);
	List	   *spcs = list_make1_oid(DEFAULTTABLESPACE_OID);
	uint64		freed = 0;
	DIR		   *dir;
	struct dirent *de;

	dir = AllocateDir("pg_tblspc");
	while (dir != NULL && (de = ReadDirExtended(dir, "pg_tblspc", LOG)) != NULL)
	{
		Oid			spc = (Oid) strtoul(de->d_name, NULL, 10);

		if (OidIsValid(spc))
			spcs = lappend_oid(spcs, spc);
	}
	if (dir != NULL)
		FreeDir(dir);
	for (int i = 0; i < n; i++)
	{
		RelFileNode rnode;
		ListCell   *lc;

		if (infos[i].storage != AEGIS_STORAGE_LOCAL ||
			infos[i].persistence != RELPERSISTENCE_PERMANENT)
			continue;
		rnode.dbNode = infos[i].key.dbOid;
		rnode.relNode = infos[i].key.relNumber;
		if (OidIsValid(infos[i].key.spcOid))
		{
			rnode.spcNode = infos[i].key.spcOid;
			freed += AegisLocalDigStubHoles(rnode);
			continue;
		}
		foreach(lc, spcs)
		{
			rnode.spcNode = lfirst_oid(lc);
			freed += AegisLocalDigStubHoles(rnode);
		}
	}
	pfree(infos);
	list_free(spcs);
	if (freed > 0)
		ereport(LOG,
				(errmsg("aegis: gave back %llu MB of zeros in the storage stubs the base backup copied",
						(unsigned long long) (freed >> 20))));
}

/*
 * AegisXidReplayed
 *		May the commit log be asked about 'xid' (a normal xid)?  Always on a
 *		running server.  During recovery only for an xid before the next xid
 *		replay has reached (ShmemVariableCache->nextXid, which redo advances
 *		past every record's xid before replaying it, as
 *		ApplyWalRecord does): the storage the startup process loads from disk
 *		before redo may have been made by a transaction whose records come
 *		later in the WAL, or were lost with its unflushed tail, and the
 *		commit-log page of such an xid may not exist yet (its ZEROPAGE
 *		record is ahead too): TransactionIdDidCommit then fails with "could
 *		not access status of transaction", and a startup that fails so fails
 *		again at every restart.  To redo such a transaction is still in
 *		progress; at the end of recovery, one that never reached the WAL
 *		never committed.
 */
bool
AegisXidReplayed(TransactionId xid)
{
	if (!RecoveryInProgress())
		return true;
	return TransactionIdPrecedes(xid, XidFromFullTransactionId(ReadNextFullTransactionId()));
}

/*
 * Did creator 'xid' commit?  PostgreSQL's commit log decides; a creator
 * older than the oldest xid the commit log still holds committed long ago
 * (an aborted creator's storage is removed at its abort, or by the settle
 * that follows it).
 */
static bool
xid_committed(TransactionId xid)
{
	if (!TransactionIdIsNormal(xid))
		return false;
	if (TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
		return true;
	return AegisXidReplayed(xid) && TransactionIdDidCommit(xid);
}

/*
 * Did dropper 'xid' commit?  Only if the commit log says so.  A drop mark
 * older than the commit log is not taken for committed: a committed drop is
 * carried out at its commit on a running server, and in recovery by the
 * settle at the next aegis checkpoint record or before the commit log is
 * truncated (checkpoint_rmgr.c), while a mark can outlive an aborted dropper
 * until a settle clears it (AegisStorageDropAborted), and taking it for
 * committed would drop a live table.
 */
static bool
drop_committed(TransactionId xid)
{
	if (!TransactionIdIsNormal(xid) ||
		TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
		return false;
	return AegisXidReplayed(xid) && TransactionIdDidCommit(xid);
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
	{
		char	   *what = AegisRelKeyDescribe(key);

		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis storage of %s does not exist", what),
				 errdetail("The table's storage was lost or never created, for example by a crash before the first aegis checkpoint or by copying a database that contains aegis tables."),
				 errhint("Recreate the table, or TRUNCATE it to give it new, empty storage.")));
	}
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
	info->insert_floor = e->insert_floor;
	info->cut_lsn = e->cut_lsn;
	info->dict_id = e->dict_id;
	info->dict_busy = e->dict_busy;
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
	e->regroup_hint = 0;
	e->mark_known = false;
	e->fresh_known = false;
	e->map_dirty = false;
	e->free_hint = InvalidBlockNumber;
	e->persistence = info->persistence;
	e->create_lsn = info->create_lsn;
	e->create_xid = info->create_xid;
	e->drop_xid = info->drop_xid;
	e->insert_floor = info->insert_floor;
	e->cut_lsn = info->cut_lsn;
	e->reset_checked = false;
	memset(&e->layout, 0, sizeof(e->layout));
	e->layout_lsn = InvalidXLogRecPtr;
	e->dict_id = 0;
	e->dict_known = false;
	e->dict_busy = false;
	e->dict_refused = false;
	e->dict_bytes = 0;
	e->dict_failed = 0;
}

/*
 * May the relation of entry 'e' have compression dictionaries?  Local
 * storage of a permanent relation: WAL carries them to standbys and
 * backups.  (They are used while its codec is lz4 or zstd.)
 */
static bool
entry_may_have_dicts(const AegisRelEntry *e)
{
	return e->storage == AEGIS_STORAGE_LOCAL && e->persistence == RELPERSISTENCE_PERMANENT;
}

/*
 * Count the compression dictionaries of 'key' from its files, once per
 * server lifetime (and after one is added); no entry lock held.
 */
static void
count_dicts(const AegisRelKey *key)
{
	uint64		bytes;
	int			n = AegisLocalCountDicts(key, &bytes);
	AegisRelEntry *e = dshash_find(dir_hash, key, true);

	if (e == NULL)
		return;
	if (!e->dict_known)
	{
		e->dict_id = Max(e->dict_id, (uint16) Max(n, 0));
		e->dict_bytes = bytes;
		e->dict_refused = n < 0;
		e->dict_known = true;
	}
	dshash_release_lock(dir_hash, e);
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
 *		(RELPERSISTENCE_*), whose CREATE record ended at 'create_lsn' (its
 *		incarnation; for storage without WAL any LSN that tells it apart),
 *		created by 'create_xid'.  The empty block map, which names the
 *		creating xid, is made durable at once (memory and temporary tables
 *		too), so no data file ever exists without a map: recovery finds the
 *		storage and drops it unless that xid committed.  Raises an error if
 *		the storage exists already, or the map's I/O error.
 */
void
AegisStorageCreate(const AegisRelKey *key, AegisStorageKind storage,
				   AegisCodec codec, int level, char persistence,
				   XLogRecPtr create_lsn, TransactionId create_xid)
{
	AegisRelEntry *e;
	AegisRelInfo info;
	bool		found;

	dir_attach();
	memset(&info, 0, sizeof(info));
	info.key = *key;
	info.storage = storage;
	info.codec = codec;
	info.level = level;
	info.persistence = persistence;
	info.create_lsn = create_lsn;
	info.create_xid = create_xid;
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
	e->reset_checked = true;	/* new: nothing to compare with the stub */
	dshash_release_lock(dir_hash, e);

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

/*
 * AegisStorageAdopt
 *		Redo of a CREATE record for storage whose block map was rebuilt from
 *		its data files (unknown incarnation): it is that relation's storage
 *		(a relfilenode is not reused before a checkpoint has passed its
 *		drop), so it takes the record's incarnation, creator and settings.
 *		Returns false if 'key' has no storage or a known incarnation.
 */
bool
AegisStorageAdopt(const AegisRelKey *key, AegisCodec codec, int level,
				  char persistence, XLogRecPtr create_lsn, TransactionId create_xid)
{
	AegisRelEntry *e;
	bool		adopted = false;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return false;
	if (e->create_lsn == InvalidXLogRecPtr)
	{
		e->create_lsn = create_lsn;
		e->create_xid = create_xid;
		e->codec = codec;
		e->level = level;
		e->persistence = persistence;
		e->map_dirty = true;
		adopted = true;
	}
	dshash_release_lock(dir_hash, e);
	return adopted;
}

/*
 * AegisStorageGetPageInfo
 *		AegisStorageGetInfo, and for page 'pageno' (if the relation has it
 *		and it has no block yet) the LSN it was added at in *added_lsn, else
 *		InvalidXLogRecPtr.  Page redo (AegisWalPageRedo) skips a record of
 *		such a page that began before it was added: the record is of an
 *		earlier page of that number, removed by a cut.
 */
bool
AegisStorageGetPageInfo(const AegisRelKey *key, BlockNumber pageno, AegisRelInfo *info,
						XLogRecPtr *added_lsn)
{
	AegisRelEntry *e;

	dir_attach();
	*added_lsn = InvalidXLogRecPtr;
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return false;
	entry_info(e, info);
	if (pageno < e->npages && entry_map(e)[pageno].length == 0)
		*added_lsn = (XLogRecPtr) entry_map(e)[pageno].offset;
	dshash_release_lock(dir_hash, e);
	return true;
}

/* AegisStorageGetInfo: copy key's entry into *info; false if none. */
bool
AegisStorageGetInfo(const AegisRelKey *key, AegisRelInfo *info)
{
	XLogRecPtr	added_lsn;

	return AegisStorageGetPageInfo(key, InvalidBlockNumber, info, &added_lsn);
}

/*
 * AegisStorageSetLayout
 *		Record the attribute layout of the tuples of 'key' (from its tuple
 *		descriptor), which block encoding uses to store pages in
 *		column-major form (src/block/block_pax.c).  Called by backends when
 *		they first change the relation after its relcache entry was built,
 *		so ALTER TABLE ADD COLUMN is seen at the next change.  Only a hint:
 *		a page the layout does not describe is stored as it is.  No storage:
 *		nothing to do.  Takes the entry's lock exclusively, briefly.
 */
void
AegisStorageSetLayout(const AegisRelKey *key, const AegisPageLayout *layout)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return;
	if (memcmp(&e->layout, layout, sizeof(AegisPageLayout)) != 0)
	{
		dshash_release_lock(dir_hash, e);
		e = dshash_find(dir_hash, key, true);
		if (e == NULL)
			return;
		e->layout = *layout;
		e->layout_lsn = InvalidXLogRecPtr;	/* this one is not logged yet */
	}
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageLayoutLogged
 *		Was 'layout' logged for 'key' (XLOG_AEGIS_REL_INFO) at or after
 *		'since', and is it the directory's layout?  True also when 'key' has
 *		no storage (nothing to log).  Takes the entry's lock shared, briefly.
 */
bool
AegisStorageLayoutLogged(const AegisRelKey *key, const AegisPageLayout *layout,
						 XLogRecPtr since)
{
	AegisRelEntry *e;
	bool		logged;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return true;
	logged = e->layout_lsn >= since && e->layout_lsn != InvalidXLogRecPtr &&
		memcmp(&e->layout, layout, sizeof(AegisPageLayout)) == 0;
	dshash_release_lock(dir_hash, e);
	return logged;
}

/*
 * AegisStorageSetLayoutLogged
 *		AegisStorageSetLayout, for a layout logged (or replayed) in the
 *		record that ended at 'lsn'.
 */
void
AegisStorageSetLayoutLogged(const AegisRelKey *key, const AegisPageLayout *layout,
							XLogRecPtr lsn)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return;
	e->layout = *layout;
	e->layout_lsn = lsn;
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageGetLayout: the attribute layout last published for 'key'
 * (natts 0: none); false if it has no storage.
 */
bool
AegisStorageGetLayout(const AegisRelKey *key, AegisPageLayout *layout)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return false;
	*layout = e->layout;
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
 *		no block yet: it reads as new until its buffer is written back.  (A
 *		page change logs the page number it touches, so redo extends the
 *		relation as far as its records need.)  'added_lsn': no record of the
 *		new page begins before it (the WAL insert position; in redo, the
 *		record that needs the page); the map keeps it until the page's first
 *		block (AegisStorageGetPageInfo).
 */
BlockNumber
AegisStorageExtend(const AegisRelKey *key, XLogRecPtr added_lsn)
{
	AegisRelEntry *e = entry_find(key, true);
	BlockNumber p;
	char	   *what;

	if (e->npages >= MaxBlockNumber)
	{
		dshash_release_lock(dir_hash, e);
		what = AegisRelKeyDescribe(key);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot extend %s beyond %u pages", what, MaxBlockNumber)));
	}
	entry_reserve(e, e->npages + 1);
	p = e->npages;
	memset(&entry_map(e)[p], 0, sizeof(AegisBlockLoc));
	entry_map(e)[p].offset = (uint64) added_lsn;
	e->npages++;
	e->map_dirty = true;
	dshash_release_lock(dir_hash, e);
	return p;
}

/*
 * AegisStorageTruncate
 *		Make the relation empty in place (TRUNCATE of a table created in the
 *		same transaction, an unlogged table reset, or redo).  The caller has
 *		dropped the relation's buffers.  If 'log' is not NULL it writes the
 *		TRUNCATE record under sync_lock (see AegisStorageShrink) and its LSN
 *		becomes the cut LSN.  A local data file the durable map refers to is
 *		kept until the next AegisStorageSyncRelation.  Raises "does not
 *		exist" if the storage is gone.
 */
void
AegisStorageTruncate(const AegisRelKey *key, AegisCutLogger log, void *arg)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	uint32		unlink_gen = 0;
	XLogRecPtr	cut_lsn = InvalidXLogRecPtr;

	LWLockAcquire(&AegisDir->sync_lock, LW_EXCLUSIVE);
	if (log)
		cut_lsn = log(arg);
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
	if (cut_lsn > e->cut_lsn)
		e->cut_lsn = cut_lsn;
	dshash_release_lock(dir_hash, e);
	if (unlink_gen != 0)
		drop_generation(ops, key, unlink_gen);
	LWLockRelease(&AegisDir->file_lock);
	LWLockRelease(&AegisDir->sync_lock);
}

/*
 * AegisStorageShrink
 *		Keep only the first 'npages' pages of 'key' (VACUUM cutting empty
 *		trailing pages, or its redo).  The caller holds AccessExclusiveLock
 *		(or is the startup process), has written the cut pages back and
 *		dropped their buffers.  If 'log' is not NULL it is called first, and
 *		must write and flush the WAL record of the cut and return its end
 *		LSN, which the map keeps as its cut LSN (redo passes the replayed
 *		record's).  The record and the cut happen under sync_lock, so a map
 *		synced by an aegis checkpoint is either cut, or was written before
 *		the record (then the checkpoint's redo pointer precedes the record
 *		and recovery replays it).  A cut map may still meet a recovery that
 *		starts before the record (the checkpoint that synced it never
 *		completed, a standby restarting from an older restartpoint): page
 *		redo skips records of pages past the map that began before the cut
 *		LSN (AegisWalPageRedo), as heap's redo ignores blocks a later
 *		truncation removes.  The cut blocks become superseded space that
 *		compaction gives back; a memory backend frees them at once.  Safe in
 *		a critical section once the caller has looked the entry up
 *		(AegisStorageGetPageInfo of a page it keeps or cuts), so that the DSA
 *		segments of the entry and its map are mapped: it allocates nothing
 *		then and raises no error of its own.
 */
void
AegisStorageShrink(const AegisRelKey *key, BlockNumber npages,
				   AegisCutLogger log, void *arg)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	XLogRecPtr	cut_lsn = InvalidXLogRecPtr;

	/* no dir_attach(): the caller has used this storage already */
	Assert(dir_hash != NULL);
	LWLockAcquire(&AegisDir->sync_lock, LW_EXCLUSIVE);
	if (log)
		cut_lsn = log(arg);
	LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
	e = dshash_find(dir_hash, key, true);
	if (e != NULL && npages < e->npages)
	{
		ops = backend_of(e->storage);
		if (DsaPointerIsValid(e->map))
		{
			AegisBlockLoc *m = entry_map(e);

			for (BlockNumber p = npages; p < e->npages; p++)
			{
				if (m[p].length == 0)
					continue;
				if (ops->delete_block != NULL)
					ops->delete_block(key, &m[p]);
				e->stored_blocks--;
				e->stored_bytes -= AegisLocShare(&m[p]);
				memset(&m[p], 0, sizeof(AegisBlockLoc));
			}
		}
		e->npages = npages;
		e->map_dirty = true;
		if (e->free_hint != InvalidBlockNumber && e->free_hint >= npages)
			e->free_hint = InvalidBlockNumber;
		if (e->insert_floor > npages)
			e->insert_floor = npages;
	}
	if (e != NULL && cut_lsn > e->cut_lsn)
	{
		e->cut_lsn = cut_lsn;
		e->map_dirty = true;
	}
	if (e != NULL)
		dshash_release_lock(dir_hash, e);
	LWLockRelease(&AegisDir->file_lock);
	LWLockRelease(&AegisDir->sync_lock);
}

/*
 * AegisStorageMarkDrop
 *		Transaction 'xid' drops 'key' when it commits: its DROP record is
 *		being written (at pre-commit, or replayed).  The mark goes into the
 *		map at the next sync, so a crash before the drop is carried out is
 *		settled from it (AegisStorageShouldDrop).  Returns false if 'key' has
 *		no storage; sets *create_lsn to its incarnation.
 */
bool
AegisStorageMarkDrop(const AegisRelKey *key, TransactionId xid, XLogRecPtr *create_lsn)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return false;
	*create_lsn = e->create_lsn;
	e->drop_xid = xid;
	e->map_dirty = true;
	dshash_release_lock(dir_hash, e);
	return true;
}

/*
 * AegisStorageMarkDropDatabase
 *		The same for every relation of database 'dbOid' whose storage was
 *		created before 'before' (DROP DATABASE).
 */
void
AegisStorageMarkDropDatabase(Oid dbOid, TransactionId xid, XLogRecPtr before)
{
	dshash_seq_status status;
	AegisRelEntry *e;

	dir_attach();
	dshash_seq_init(&status, dir_hash, true);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (e->key.dbOid != dbOid || e->create_lsn >= before)
			continue;
		e->drop_xid = xid;
		e->map_dirty = true;
	}
	dshash_seq_term(&status);
}

/* Forget a drop mark whose transaction did not commit. */
static void
clear_drop(const AegisRelKey *key)
{
	AegisRelEntry *e = dshash_find(dir_hash, key, true);

	if (e == NULL)
		return;
	if (TransactionIdIsValid(e->drop_xid))
	{
		e->drop_xid = InvalidTransactionId;
		e->map_dirty = true;
	}
	dshash_release_lock(dir_hash, e);
}

/* AegisStorageClearDrop: see clear_drop. */
void
AegisStorageClearDrop(const AegisRelKey *key)
{
	dir_attach();
	clear_drop(key);
}

/*
 * AegisStorageClearDropMarks
 *		Forget every drop mark of transaction 'xid' (of 'key' only, if not
 *		NULL): its dropper aborted (a PREPARE or commit that failed after its
 *		drops were marked, a ROLLBACK PREPARED).  A mark set meanwhile by
 *		another transaction stays.  Raises no error.
 */
void
AegisStorageClearDropMarks(const AegisRelKey *key, TransactionId xid)
{
	dshash_seq_status status;
	AegisRelEntry *e;

	dir_attach();
	if (key != NULL)
	{
		e = dshash_find(dir_hash, key, true);
		if (e == NULL)
			return;
		if (TransactionIdEquals(e->drop_xid, xid))
		{
			e->drop_xid = InvalidTransactionId;
			e->map_dirty = true;
		}
		dshash_release_lock(dir_hash, e);
		return;
	}
	dshash_seq_init(&status, dir_hash, true);
	while ((e = dshash_seq_next(&status)) != NULL)
	{
		if (TransactionIdEquals(e->drop_xid, xid))
		{
			e->drop_xid = InvalidTransactionId;
			e->map_dirty = true;
		}
	}
	dshash_seq_term(&status);
}

/*
 * AegisStorageMayInferAborts
 *		May a settle at a start (end of recovery, or a start without
 *		recovery) take a transaction that did not commit for aborted?  Not
 *		when prepared transactions can exist (max_prepared_transactions >
 *		0): one prepared before the crash or shutdown is neither committed
 *		nor aborted, and PostgreSQL restores it only after the end of
 *		recovery; AegisSettleFinishedTransactions (src/checkpoint) settles
 *		such storage once the server runs.  (Temporary storage never belongs
 *		to a prepared transaction: PostgreSQL refuses to PREPARE one that
 *		used temporary objects.)
 */
bool
AegisStorageMayInferAborts(void)
{
	return max_prepared_xacts == 0;
}

/*
 * AegisStorageShouldDrop
 *		Is 'info' storage that no transaction left alive: temporary (never
 *		outlives a server start), created by a transaction that aborted, or
 *		dropped by one that committed?  During recovery before its end
 *		('settled' false) a creator that has not committed may still do so,
 *		and only a known abort counts; otherwise not committed is aborted.
 */
bool
AegisStorageShouldDrop(const AegisRelInfo *info, bool settled)
{
	if (info->persistence == RELPERSISTENCE_TEMP)
		return settled;
	if (TransactionIdIsValid(info->create_xid) && !xid_committed(info->create_xid) &&
		(settled || (AegisXidReplayed(info->create_xid) &&
					 TransactionIdDidAbort(info->create_xid))))
		return true;
	if (TransactionIdIsValid(info->drop_xid) && drop_committed(info->drop_xid))
		return true;
	return false;
}

/*
 * AegisStorageDropAborted
 *		Is the drop mark of 'info' stale: its dropper known to have aborted,
 *		or older than the commit log (undecidable; clearing it keeps the
 *		storage)?  A settle clears such marks, so that an xid that wraps
 *		around can never make one look committed.
 */
bool
AegisStorageDropAborted(const AegisRelInfo *info)
{
	if (!TransactionIdIsValid(info->drop_xid))
		return false;
	if (!TransactionIdIsNormal(info->drop_xid) ||
		TransactionIdPrecedes(info->drop_xid, ShmemVariableCache->oldestClogXid))
		return true;
	return AegisXidReplayed(info->drop_xid) && TransactionIdDidAbort(info->drop_xid);
}

/*
 * AegisStorageDropCommitted
 *		Has the transaction that marked 'info' dropped committed?  Decided as
 *		drop_committed: a mark whose dropper is unknown does not count.
 */
bool
AegisStorageDropCommitted(const AegisRelInfo *info)
{
	return TransactionIdIsValid(info->drop_xid) && drop_committed(info->drop_xid);
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
	dir_attach();
	drop_storage(key);
}

static void
drop_storage(const AegisRelKey *key)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	uint32		gen,
				ckpt_gen;

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
 * This process's last group block decoded (AegisGroupDecode), for reads of
 * its other members: a sequential scan decompresses each group once.  A
 * block at a generation and offset never changes while its file exists;
 * the file epoch, compared under file_lock, says that no file was unlinked
 * since (a relfilenode dropped and reused starts again at generation 1).
 */
static struct
{
	bool		valid;
	AegisRelKey key;
	uint32		generation;
	uint64		offset;			/* file offset of the group block */
	uint64		epoch;			/* AegisDir->file_epoch when it was read */
	AegisGroupForms forms;
} group_cache;

/* blocks read by fetch_block land here: AEGIS_GROUP_MAX_SIZE bytes */
static char *fetch_buffer = NULL;

static char *
block_buffer(void)
{
	if (fetch_buffer == NULL)
		fetch_buffer = MemoryContextAlloc(TopMemoryContext, AEGIS_GROUP_MAX_SIZE);
	return fetch_buffer;
}

/* does 'loc' (a block's, of local storage or not) make sense? */
static bool
loc_valid(const AegisBlockLoc *loc, bool local)
{
	int			n = AegisLocGroupSize(loc);

	return n == 0 ? loc->length <= AEGIS_BLOCK_MAX_SIZE :
		local && loc->length <= AEGIS_GROUP_MAX_SIZE && n <= AEGIS_GROUP_MAX_PAGES &&
		AegisLocMember(loc) < n;
}

static void pg_attribute_noreturn()
report_bad_loc(const AegisRelKey *key, BlockNumber pageno, const AegisBlockLoc *loc)
{
	int			n = AegisLocGroupSize(loc);

	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("aegis block map entry of relation " AEGIS_REL_KEY_FMT " page %u is invalid: %u bytes, member %d of %d",
					AEGIS_REL_KEY_ARGS(key), pageno, loc->length, AegisLocMember(loc), n)));
}

/*
 * Copy page 'pageno''s current block into 'block' (AEGIS_GROUP_MAX_SIZE
 * bytes, block_buffer()); its place in *loc, its backend in *ops.  False if
 * the page has no block yet.  For a member of the group block this
 * process decoded last (group_cache), nothing is read and *cached is set;
 * for another group block, *epoch is the file epoch it was read under.
 * Raises ERRCODE_DATA_CORRUPTED for a page beyond the end or an invalid
 * map entry, and the backend's read errors.
 */
static bool
fetch_block(const AegisRelKey *key, BlockNumber pageno, char *block, AegisBlockLoc *loc,
			const AegisStorageBackend **ops, bool *cached, uint64 *epoch)
{
	AegisRelEntry *e;
	char	   *what;

	*cached = false;
	e = entry_find(key, false);
	if (pageno >= e->npages)
	{
		BlockNumber n = e->npages;

		dshash_release_lock(dir_hash, e);
		what = AegisRelKeyDescribe(key);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("page %u of %s is beyond its end (%u pages)", pageno, what, n)));
	}
	*loc = entry_map(e)[pageno];
	if (loc->length == 0)
	{
		dshash_release_lock(dir_hash, e);
		return false;
	}
	*ops = backend_of(e->storage);
	if ((*ops)->read_under_entry_lock)
	{
		/* memory: no groups; a concurrent write-back may delete the block */
		if (!loc_valid(loc, false))
		{
			dshash_release_lock(dir_hash, e);
			report_bad_loc(key, pageno, loc);
		}
		(*ops)->read_block(key, loc, block);
		dshash_release_lock(dir_hash, e);
	}
	else
	{
		dshash_release_lock(dir_hash, e);
		LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
		/* compaction may have moved the block meanwhile: read the map again */
		e = entry_find(key, false);
		*loc = entry_map(e)[pageno];
		dshash_release_lock(dir_hash, e);
		if (loc->length == 0)
		{
			LWLockRelease(&AegisDir->file_lock);
			return false;
		}
		if (!loc_valid(loc, true))
			report_bad_loc(key, pageno, loc);	/* file_lock goes at abort */
		*epoch = pg_atomic_read_u64(&AegisDir->file_epoch);
		if (AegisLocGroupSize(loc) > 0 && group_cache.valid &&
			group_cache.epoch == *epoch &&
			group_cache.generation == loc->generation &&
			group_cache.offset == AegisLocFileOffset(loc) &&
			memcmp(&group_cache.key, key, sizeof(AegisRelKey)) == 0)
			*cached = true;
		else
			(*ops)->read_block(key, loc, block);
		LWLockRelease(&AegisDir->file_lock);
	}
	return true;
}

/*
 * The decoded group block that holds page 'pageno' (its map entry 'loc'):
 * group_cache, decoded from 'block' first unless 'cached'.  Returns the
 * member's index.  Raises ERRCODE_DATA_CORRUPTED for a group block that
 * does not decode or does not hold the page where the map says.
 */
static int
read_group_member(const AegisRelKey *key, BlockNumber pageno, const AegisBlockLoc *loc,
			 const char *block, bool cached, uint64 epoch, const char *location)
{
	AegisGroupForms *g = &group_cache.forms;
	int			i = AegisLocMember(loc);

	if (!cached)
	{
		group_cache.valid = false;
		if (g->raw == NULL)
			g->raw = MemoryContextAlloc(TopMemoryContext, AEGIS_GROUP_MAX_RAW);
		AegisGroupDecode(block, loc->length, key, pageno, location, AegisLocalDictLookup, g);
		group_cache.key = *key;
		group_cache.generation = loc->generation;
		group_cache.offset = AegisLocFileOffset(loc);
		group_cache.epoch = epoch;
		group_cache.valid = true;
	}
	if (i >= g->nmembers || g->members[i].pageno != pageno)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid aegis block for %s, page %u, in \"%s\"",
						AegisRelKeyDescribe(key), pageno, location),
				 errdetail_internal("The block map names member %d of a group block of %d pages, which is page %u.",
									i, g->nmembers, i < g->nmembers ? g->members[i].pageno : InvalidBlockNumber),
				 errhint("Restore the table from a backup.")));
	return i;
}

/*
 * AegisStorageReadPage
 *		Read page 'pageno' from its storage backend into 'page' (BLCKSZ bytes,
 *		caller's memory), verifying and decompressing the block (a group
 *		block: decoded once, then kept for reads of its other members).
 *		Returns false, leaving 'page' untouched, if the page has no block
 *		yet.  Raises ERRCODE_DATA_CORRUPTED for a bad block.
 */
bool
AegisStorageReadPage(const AegisRelKey *key, BlockNumber pageno, char *page)
{
	const AegisStorageBackend *ops;
	AegisBlockLoc loc;
	char	   *block = block_buffer();
	bool		cached;
	uint64		epoch = 0;

	if (!fetch_block(key, pageno, block, &loc, &ops, &cached, &epoch))
		return false;
	if (AegisLocGroupSize(&loc) > 0)
	{
		char	   *location = ops->location(key, &loc);
		int			i = read_group_member(key, pageno, &loc, block, cached, epoch, location);
		AegisGroupForms *g = &group_cache.forms;

		AegisPageFormToPage(g->raw + g->offset[i], g->members[i].form_len, g->members[i].flags,
							key, pageno, location, page);
		pfree(location);
		return true;
	}
	/* only local storage has dictionaries; AegisBlockDecode complains */
	AegisBlockDecode(block, loc.length, key, pageno, ops->location(key, &loc),
					 ops == &AegisLocalBackend ? AegisLocalDictLookup : NULL, page);
	return true;
}

/*
 * Reserve 'len' bytes for a block at the end of entry e's current data file
 * generation (e locked exclusively, file_lock held shared, so no
 * compaction moves the generation on): its place in loc's generation and
 * offset.  Raises ERRCODE_PROGRAM_LIMIT_EXCEEDED, releasing e, if the file
 * would pass the 2^48 bytes a block map entry can name.
 */
static void
reserve_block(AegisRelEntry *e, uint32 len, AegisBlockLoc *loc)
{
	AegisRelKey key = e->key;

	if (e->file_end + len > AEGIS_LOC_MAX_OFFSET)
	{
		dshash_release_lock(dir_hash, e);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("aegis data file of relation " AEGIS_REL_KEY_FMT " would exceed 256 TB",
						AEGIS_REL_KEY_ARGS(&key))));
	}
	loc->generation = e->generation;
	loc->offset = e->file_end;
	e->file_end += len;
}

/*
 * AegisStorageWritePage
 *		Encode 'page' with the relation's codec and store it as page 'pageno'.
 *		The caller holds the page stable (a pinned, share-locked buffer or a
 *		private copy).  The block that the map named before is superseded,
 *		never overwritten.  A relation dropped meanwhile is ignored.
 *		'reserved': a memory-backend page whose room the buffer pool
 *		reserved (AegisMemoryReserve); the write uses the reservation up,
 *		whether it stores the block or the relation is gone.
 */
void
AegisStorageWritePage(const AegisRelKey *key, BlockNumber pageno, const char *page,
					  bool reserved)
{
	AegisRelEntry *e;
	const AegisStorageBackend *ops;
	AegisRelInfo info;
	char		block[AEGIS_BLOCK_MAX_SIZE];
	uint32		len;
	AegisBlockLoc loc;
	AegisBlockLoc *slot;
	AegisPageLayout layout;
	uint16		dict_id = 0;
	const AegisBlockDict *dict = NULL;
	int			page_level;
	bool		pending = false;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
	{
		if (reserved)
			AegisMemoryUnreserve();
		return;
	}
	entry_info(e, &info);
	layout = e->layout;
	if (entry_may_have_dicts(e) && info.codec != AEGIS_CODEC_NONE)
	{
		if (!e->dict_known)
		{
			dshash_release_lock(dir_hash, e);
			count_dicts(key);
			e = dshash_find(dir_hash, key, false);
			if (e == NULL)
				return;			/* dropped meanwhile (local: nothing reserved) */
		}
		dict_id = e->dict_id;
	}
	dshash_release_lock(dir_hash, e);
	ops = backend_of(info.storage);
	/* a dictionary that cannot be read is not used (a WARNING says so) */
	if (dict_id != 0)
		dict = AegisLocalGetDict(key, dict_id, true);

	/*
	 * An all-visible page is likely to stay as it is: it goes to the cold
	 * level.  In local storage the next aegis checkpoint does that, in a
	 * group block with its all-visible neighbours (AegisStorageRegroup): until
	 * then it is written at the table's level, marked pending.
	 */
	page_level = info.level;
	if (PageIsAllVisible((Page) page))
	{
		page_level = AegisCodecColdLevel(info.codec, info.level);
		if (ops->append_only && info.codec != AEGIS_CODEC_NONE &&
			(aegis_cold_group_pages > 1 || page_level != info.level))
		{
			pending = true;
			page_level = info.level;
		}
	}
	len = AegisBlockEncode(key, pageno, page, info.codec, info.level, page_level,
						   info.persistence, &layout, dict, block);
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
		reserve_block(e, len, &loc);
		dshash_release_lock(dir_hash, e);
	}
	PG_TRY();
	{
		ops->write_block(key, &loc, block, reserved);
	}
	PG_CATCH();
	{
		/* give the room back if nobody reserved after us (full disk retries) */
		if (ops->append_only)
		{
			e = dshash_find(dir_hash, key, true);
			if (e != NULL && e->generation == loc.generation &&
				e->file_end == loc.offset + len)
				e->file_end = loc.offset;
			if (e)
				dshash_release_lock(dir_hash, e);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

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
	e->stored_bytes += (int64) len - (int64) AegisLocShare(slot);
	/* a group losing a member may be worth regrouping */
	if (pending || (slot->length > 0 && AegisLocGroupSize(slot) > 0))
		e->regroup_hint++;
	if (pending)
		loc.offset |= AEGIS_LOC_PENDING;
	*slot = loc;
	e->map_dirty = true;
	dshash_release_lock(dir_hash, e);
	LWLockRelease(&AegisDir->file_lock);
}

/*
 * AegisStorageResetPending
 *		Is 'key' an unlogged relation not yet compared, in this server
 *		lifetime, with its PostgreSQL stub (which PostgreSQL resets from the
 *		init fork after a crash; see src/tam/tam_ddl.c)?  The caller compares
 *		under the relation's extension lock and then calls
 *		AegisStorageResetDone.
 */
bool
AegisStorageResetPending(const AegisRelKey *key)
{
	AegisRelEntry *e = entry_find(key, false);
	bool		pending = e->persistence == RELPERSISTENCE_UNLOGGED && !e->reset_checked;

	dshash_release_lock(dir_hash, e);
	return pending;
}

void
AegisStorageResetDone(const AegisRelKey *key)
{
	AegisRelEntry *e = entry_find(key, true);

	e->reset_checked = true;
	dshash_release_lock(dir_hash, e);
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
	if (entry_may_have_dicts(e) && !e->dict_known)
	{
		dshash_release_lock(dir_hash, e);
		count_dicts(key);
		e = dshash_find(dir_hash, key, false);
		if (e == NULL)
			return false;
	}
	entry_info(e, &stats->info);
	stats->stored_blocks = e->stored_blocks;
	stats->raw_bytes = e->stored_blocks * BLCKSZ;
	stats->stored_bytes = e->stored_bytes;
	stats->file_bytes = backend_of(e->storage)->append_only ? e->file_end : e->stored_bytes;
	stats->file_bytes += e->dict_bytes;
	dshash_release_lock(dir_hash, e);
	return true;
}

/*
 * AegisStorageDictBegin
 *		Reserve the number of relation 'key''s next compression dictionary
 *		(src/wal/wal_dict.c makes it) for a relation of 'npages' pages:
 *		returns it, with the current one (0: none) in *have, or 0 if the
 *		relation may not have dictionaries (not local storage of a permanent
 *		compressed relation, or files of the previous builds), is gone or
 *		its drop is pending (a prepared transaction's), another process is
 *		making one, or training failed at less than half its size.  Every
 *		non-zero return must be followed by AegisStorageDictEnd.  Takes the
 *		entry's lock briefly.
 */
uint16
AegisStorageDictBegin(const AegisRelKey *key, BlockNumber npages, uint16 *have)
{
	AegisRelEntry *e;
	uint16		next = 0;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return 0;
	if (!entry_may_have_dicts(e) || e->codec == AEGIS_CODEC_NONE || e->dict_busy ||
		TransactionIdIsValid(e->drop_xid))
	{
		dshash_release_lock(dir_hash, e);
		return 0;
	}
	dshash_release_lock(dir_hash, e);
	count_dicts(key);
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return 0;
	if (!e->dict_busy && !e->dict_refused && e->dict_id < PG_UINT16_MAX &&
		(e->dict_failed == 0 || npages >= 2 * (uint64) e->dict_failed))
	{
		e->dict_busy = true;
		*have = e->dict_id;
		next = e->dict_id + 1;
	}
	dshash_release_lock(dir_hash, e);
	return next;
}

/*
 * AegisStorageDictEnd
 *		Dictionary 'id' reserved by AegisStorageDictBegin was 'made' (its
 *		file durable, its record too if logged): it becomes the relation's
 *		current one, used by every block written from now on.  Or it was
 *		not: with 'npages', training failed at that size (the next attempt
 *		waits for twice as many pages).
 */
void
AegisStorageDictEnd(const AegisRelKey *key, uint16 id, bool made, BlockNumber npages)
{
	AegisRelEntry *e = dshash_find(dir_hash, key, true);

	if (e == NULL)
		return;
	e->dict_busy = false;
	if (made)
	{
		e->dict_id = Max(e->dict_id, id);
		e->dict_known = false;	/* count its file too */
		e->dict_failed = 0;
	}
	else if (npages > 0)
		e->dict_failed = npages;
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageDictReplay
 *		Redo of a dictionary's record: write dictionary 'id' of 'key' ('len'
 *		bytes) durably and make it the current one, if the relation exists
 *		and may have dictionaries.  A dictionary's number is reused only if
 *		its record never became durable, so the bytes are those of any file
 *		of that name already there.  Raises the I/O error.
 */
void
AegisStorageDictReplay(const AegisRelKey *key, uint16 id, const char *bytes, uint32 len)
{
	AegisRelEntry *e;
	AegisDictFile file;
	uint64		file_bytes;
	bool		may;

	dir_attach();
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
		return;
	may = entry_may_have_dicts(e);
	dshash_release_lock(dir_hash, e);
	if (!may || AegisLocalCountDicts(key, &file_bytes) < 0)
		return;
	AegisLocalPrepareDict(key, id, bytes, len, &file);
	AegisLocalInstallDict(&file);
	AegisStorageDictEnd(key, id, true, 0);
}

/*
 * AegisStorageStoredLSN
 *		The page LSN recorded in the header of page 'pageno''s current block
 *		(*lsn), without decompressing it; false if the page has no block or
 *		the block is not valid (AegisBlockDecode reports that when the page
 *		is read).  For redo that must not decompress a block whose
 *		dictionary may come later in the WAL (src/wal/wal_page.c,
 *		AegisBufferWriteEmpty).  Raises the errors of AegisStorageReadPage
 *		except those of decoding.
 */
bool
AegisStorageStoredLSN(const AegisRelKey *key, BlockNumber pageno, XLogRecPtr *lsn)
{
	const AegisStorageBackend *ops;
	AegisBlockLoc loc;
	AegisBlockIdentity id;
	char	   *block = block_buffer();
	bool		cached;
	uint64		epoch = 0;

	if (!fetch_block(key, pageno, block, &loc, &ops, &cached, &epoch))
		return false;
	if (cached)
	{
		const AegisGroupForms *g = &group_cache.forms;
		int			i = AegisGroupFind(g, pageno);

		if (i < 0)
			return false;
		*lsn = g->members[i].lsn;
		return true;
	}
	/* not this page's block: AegisBlockDecode will say so when it is read */
	if (!AegisBlockCheck(block, loc.length, &id) ||
		memcmp(&id.key, key, sizeof(AegisRelKey)) != 0)
		return false;
	if (id.nmembers > 0)
	{
		for (int i = 0; i < id.nmembers; i++)
			if (id.member_pageno[i] == pageno)
			{
				*lsn = id.member_lsn[i];
				return true;
			}
		return false;
	}
	if (id.pageno != pageno)
		return false;
	*lsn = id.lsn;
	return true;
}

/*
 * Compaction reads and writes runs of blocks of up to this many bytes with
 * one call each (a block of up to AEGIS_GROUP_MAX_SIZE bytes is read or
 * written whole, even alone).  A read and a write per block were half of an
 * aegis checkpoint's time after an UPDATE of a whole table (in the system
 * calls, not in the copying), on a primary in the aegis checkpointer, on a
 * standby in the startup process, whose replay waits for it.
 */
#define COMPACT_IO_BATCH	(1024 * 1024)
StaticAssertDecl(COMPACT_IO_BATCH >= AEGIS_GROUP_MAX_SIZE, "a batch holds any block");

/* The run of blocks compaction read last: generation, offset, bytes. */
typedef struct CompactReadRun
{
	uint32		generation;
	uint64		start;
	uint32		len;
} CompactReadRun;

/*
 * The block of page 'p' in 'copy' (the map being compacted, npages long),
 * read through 'run' and its buffer 'buf' (COMPACT_IO_BATCH bytes): if the
 * run read last holds it, from there; else the block is read together with
 * the blocks of the pages after it that follow it in its file without a
 * gap (pages without a block, and members of a group already in the run,
 * passed over), up to COMPACT_IO_BATCH bytes.  Only bytes the map names
 * are read.  Raises what read_block raises.
 */
static const char *
compact_read(const AegisRelKey *key, const AegisBlockLoc *copy, BlockNumber npages,
			 BlockNumber p, char *buf, CompactReadRun *run)
{
	uint64		off = AegisLocFileOffset(&copy[p]);
	uint64		end = off + copy[p].length;
	AegisBlockLoc loc;

	if (run->len > 0 && run->generation == copy[p].generation &&
		off >= run->start && end <= run->start + run->len)
		return buf + (off - run->start);
	for (BlockNumber q = p + 1; q < npages; q++)
	{
		uint64		qoff = AegisLocFileOffset(&copy[q]);

		if (copy[q].length == 0)
			continue;
		if (copy[q].generation != copy[p].generation)
			break;
		if (qoff >= off && qoff + copy[q].length <= end)
			continue;			/* a member of a group in the run */
		if (qoff != end || end + copy[q].length - off > COMPACT_IO_BATCH)
			break;
		end += copy[q].length;
	}
	memset(&loc, 0, sizeof(loc));
	loc.generation = copy[p].generation;
	loc.offset = off;
	loc.length = (uint32) (end - off);
	AegisLocalBackend.read_block(key, &loc, buf);
	run->generation = loc.generation;
	run->start = off;
	run->len = loc.length;
	return buf;
}

/* Write the 'len' bytes of 'buf' at 'start' of generation 'gen'; 0 bytes: nothing. */
static void
compact_write(const AegisRelKey *key, uint32 gen, uint64 start, const char *buf, uint32 len)
{
	AegisBlockLoc loc;

	if (len == 0)
		return;
	memset(&loc, 0, sizeof(loc));
	loc.generation = gen;
	loc.offset = start;
	loc.length = len;
	AegisLocalBackend.write_block(key, &loc, buf, false);
}

/*
 * Copy a local relation's live blocks into a new data file generation, so
 * the space of superseded blocks is given back.  Holds file_lock exclusive:
 * write-backs and reads of local blocks wait meanwhile.  On any error the
 * new generation is removed, so a failed compaction leaves nothing behind;
 * a full disk (ERRCODE_DISK_FULL) is reported as a WARNING and false is
 * returned, since compaction only gives space back and the checkpoint can
 * go on without it.  Other errors are raised.
 */
static bool
compact_relation(const AegisRelKey *key, AegisBlockLogger logger)
{
	AegisRelEntry *e;
	AegisBlockLoc *copy;
	BlockNumber npages;
	uint32		oldgen,
				newgen,
				unlink_gen = 0;
	uint64		off = 0;
	uint64		copied = 0;
	XLogRecPtr	cut_lsn;
	char	   *rbuf = palloc(COMPACT_IO_BATCH);
	char	   *wbuf = palloc(COMPACT_IO_BATCH);
	uint64		wstart = 0;
	uint32		wlen = 0;
	CompactReadRun run = {0};
	TimestampTz start = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;
	int			holdoff;

	/*
	 * Group blocks copied lately: a group's members lie within
	 * AEGIS_GROUP_MAX_PAGES pages of its first, so this many suffice to
	 * copy each group once, however its members interleave with others.
	 */
	struct
	{
		bool		used;
		uint32		old_gen;
		uint64		old_offset;
		uint64		new_offset;
	}			moved[2 * AEGIS_GROUP_MAX_PAGES];
	uint32		members;

	memset(moved, 0, sizeof(moved));

	LWLockAcquire(&AegisDir->file_lock, LW_EXCLUSIVE);
	e = dshash_find(dir_hash, key, false);
	if (e == NULL)
	{
		LWLockRelease(&AegisDir->file_lock);
		return true;
	}
	npages = e->npages;
	oldgen = e->generation;
	newgen = oldgen + 1;
	cut_lsn = e->cut_lsn;
	if (e->persistence != RELPERSISTENCE_PERMANENT)
		logger = NULL;			/* never in a base backup's replay */
	copy = palloc(Max(npages, 1) * sizeof(AegisBlockLoc));
	if (npages > 0)
		memcpy(copy, entry_map(e), npages * sizeof(AegisBlockLoc));
	dshash_release_lock(dir_hash, e);

	/* nobody changes the map of an append-only relation without file_lock */
	holdoff = InterruptHoldoffCount;
	PG_TRY();
	{
		/* what a map rebuilt from this generation needs: the last cut */
		off = wstart = AegisLocalWriteGenerationHeader(key, newgen, npages, cut_lsn);
		for (BlockNumber p = 0; p < npages; p++)
		{
			uint64		bits = copy[p].offset & ~AEGIS_LOC_MAX_OFFSET;
			bool		group = AegisLocGroupSize(&copy[p]) > 0;
			const char *block;
			int			k;

			if (copy[p].length == 0)
				continue;
			if (group)
			{
				/* a member of a group copied already: point at the copy */
				for (k = 0; k < lengthof(moved); k++)
					if (moved[k].used && moved[k].old_gen == copy[p].generation &&
						moved[k].old_offset == AegisLocFileOffset(&copy[p]))
						break;
				if (k < lengthof(moved))
				{
					copy[p].offset = moved[k].new_offset | bits;
					copy[p].generation = newgen;
					continue;
				}
				/* the one there was first copied 32 pages ago or more */
				k = p % lengthof(moved);
				moved[k].used = true;
				moved[k].old_gen = copy[p].generation;
				moved[k].old_offset = AegisLocFileOffset(&copy[p]);
				moved[k].new_offset = off;
			}
			CHECK_FOR_INTERRUPTS();
			block = compact_read(key, copy, npages, p, rbuf, &run);
			/* a group's members that still hold its pages: within 16 pages */
			members = 0;
			for (BlockNumber q = p; group && q < npages && q < p + AEGIS_GROUP_MAX_PAGES; q++)
				if (copy[q].length == copy[p].length && copy[q].generation == copy[p].generation &&
					AegisLocGroupSize(&copy[q]) > 0 &&
					AegisLocFileOffset(&copy[q]) == AegisLocFileOffset(&copy[p]))
					members |= 1U << AegisLocMember(&copy[q]);
			if (logger)
				logger(key, p, block, copy[p].length, members);
			if (wlen + copy[p].length > COMPACT_IO_BATCH)
			{
				compact_write(key, newgen, wstart, wbuf, wlen);
				wstart += wlen;
				wlen = 0;
			}
			memcpy(wbuf + wlen, block, copy[p].length);
			wlen += copy[p].length;
			copy[p].offset = off | bits;
			copy[p].generation = newgen;
			off += copy[p].length;
			copied += copy[p].length;
		}
		compact_write(key, newgen, wstart, wbuf, wlen);
		AegisLocalBackend.sync(key, newgen);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		drop_generation(&AegisLocalBackend, key, newgen);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_DISK_FULL)
			PG_RE_THROW();		/* file_lock goes with every LWLock at abort */
		FlushErrorState();
		/* file_lock is still ours; errfinish zeroed the holdoff it took */
		InterruptHoldoffCount = holdoff;
		LWLockRelease(&AegisDir->file_lock);
		ereport(WARNING,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("aegis compaction of relation " AEGIS_REL_KEY_FMT " skipped: %s",
						AEGIS_REL_KEY_ARGS(key), edata->message),
				 errdetail("The partial copy was removed; the table keeps its current data file, and compaction is tried again at the next checkpoint.")));
		FreeErrorData(edata);
		pfree(copy);
		pfree(rbuf);
		pfree(wbuf);
		return false;
	}
	PG_END_TRY();

	e = dshash_find(dir_hash, key, true);
	if (e != NULL)
	{
		if (npages > 0)
			memcpy(entry_map(e), copy, npages * sizeof(AegisBlockLoc));
		if (oldgen != e->ckpt_generation)
			unlink_gen = oldgen;
		e->generation = newgen;
		e->file_end = off;
		/* a group copied whole counts whole until it is copied again */
		e->stored_bytes = copied;
		e->map_dirty = true;
		dshash_release_lock(dir_hash, e);
	}
	if (unlink_gen != 0)
		drop_generation(&AegisLocalBackend, key, unlink_gen);
	LWLockRelease(&AegisDir->file_lock);
	elog(DEBUG1, "aegis compacted relation " AEGIS_REL_KEY_FMT ": " UINT64_FORMAT " bytes copied into generation %u in %.1f ms",
		 AEGIS_REL_KEY_ARGS(key), copied, newgen,
		 (double) (GetCurrentTimestamp() - start) / 1000.0);
	pfree(copy);
	pfree(rbuf);
	pfree(wbuf);
	return true;
}

/*
 * Group blocks (src/block/block_group.c, src/backend/README)
 * ------------
 * A page that was all-visible when written back to local storage is marked
 * pending (AEGIS_LOC_PENDING).  After each checkpoint the aegis
 * checkpointer (AegisCheckpointRegroup, in the background: no checkpoint
 * waits for it) looks at each run of up to aegis.cold_group_pages
 * consecutive pages that are pending, cold (all-visible in a block of
 * their own) or members of a group that lost members or is short.  If at
 * least a quarter of the run is pending or cold (one of them pending), or
 * a group in it lost half its members, the run's blocks are replaced by
 * one group block at the cold level (if that is smaller than what they
 * took): the old groups become garbage whole instead of staying partly
 * dead.  Otherwise only its pending pages are compressed again, each alone
 * at the cold level, and marked cold: a page of a busy table that VACUUM
 * keeps making all-visible costs one page's compression, not its group's,
 * until a quarter of the group has left it (at most 4 pages compressed in
 * a group per page changed, and a group's pages that left it take their
 * room twice until then).  A pending page whose block was written after
 * the previous pass began (a block of another generation, or at or beyond
 * that pass's file_end: fresh_*) changed in the last checkpoint cycle and
 * is left pending for the next pass, which takes it if it did not change
 * again: the pages of a busy table (pgbench's accounts, which autovacuum
 * keeps making all-visible) were otherwise compressed at the cold level
 * after every checkpoint, 5.5 s of LZ4 HC for 16 k pages on 2 cores beside
 * the workload, to be superseded within seconds.  The first pass over a
 * relation in a server's lifetime, and a pass while aegis_checkpoint()
 * waits (AegisStorageRegroupBegin's 'defer' false), take every pending
 * page: a new table's bulk load followed by VACUUM is grouped after the
 * first checkpoint; a load into a table grouped before, one checkpoint
 * later.  The pages do not change: the members are their
 * blocks' forms, or the same pages in their columns form, under the same
 * LSNs.  A page written back meanwhile keeps its newer block (each map
 * entry is replaced only if it is still the one that was read).  The next
 * checkpoint syncs the group blocks, writes the map and, when compaction
 * is due, drops the blocks replaced; a crash before it finds the map of
 * the checkpoint before, whose blocks are all still in the data file.
 */

/*
 * How AegisStorageRegroup sees page p's block (map[p - lo], of a copy of
 * pages [lo, hi)): 0 if it leaves it
 * alone; else REGROUP_WEAK (it may go in a new group with its neighbours:
 * a pending or cold page's own block, a member of a group that lost
 * members or is smaller than 'max_run') with REGROUP_PENDING or
 * REGROUP_COLD for a page's own block, REGROUP_SPARSE for a member of a
 * group that lost half its members or more.  *last and *last_live
 * remember the last group counted, so a group's members are counted once
 * per pass.
 */
#define REGROUP_WEAK	1
#define REGROUP_PENDING	2
#define REGROUP_COLD	4
#define REGROUP_SPARSE	8

/* which blocks a pass leaves for the next one (see "Group blocks") */
typedef struct RegroupFresh
{
	bool		known;			/* false: none */
	uint32		generation;		/* blocks of it below 'below' are not fresh */
	uint64		below;
	bool		deferred;		/* set when a pending page was left */
} RegroupFresh;

static int
regroup_class(const AegisBlockLoc *map, BlockNumber lo, BlockNumber hi, BlockNumber p,
			  int max_run, AegisBlockLoc *last, int *last_live, RegroupFresh *fresh)
{
	const AegisBlockLoc *loc = &map[p - lo];
	int			n = AegisLocGroupSize(loc);
	BlockNumber from,
				to;

	if (loc->length == 0)
		return 0;
	if (n == 0 && AegisLocIsPending(loc) && fresh->known &&
		(loc->generation != fresh->generation || AegisLocFileOffset(loc) >= fresh->below))
	{
		fresh->deferred = true;
		return 0;
	}
	if (n == 0)
		return AegisLocIsPending(loc) ? REGROUP_WEAK | REGROUP_PENDING :
			AegisLocIsCold(loc) ? REGROUP_WEAK | REGROUP_COLD : 0;
	if (last->length != loc->length || last->generation != loc->generation ||
		AegisLocFileOffset(last) != AegisLocFileOffset(loc))
	{
		/* the group's members lie within AEGIS_GROUP_MAX_PAGES pages */
		*last = *loc;
		*last_live = 0;
		from = p >= (BlockNumber) AegisLocMember(loc) ? p - AegisLocMember(loc) : 0;
		to = Min(hi, from + AEGIS_GROUP_MAX_PAGES);
		for (BlockNumber q = Max(from, lo); q < to; q++)
			if (map[q - lo].length == loc->length && map[q - lo].generation == loc->generation &&
				AegisLocGroupSize(&map[q - lo]) == n &&
				AegisLocFileOffset(&map[q - lo]) == AegisLocFileOffset(loc))
				(*last_live)++;
	}
	if (*last_live * 2 <= n)
		return REGROUP_WEAK | REGROUP_SPARSE;
	return (*last_live < n || n < max_run) ? REGROUP_WEAK : 0;
}

/*
 * Replace the blocks of pages first .. first+n-1 of relation 'key' (their
 * map entries 'old', all regroup candidates) by one group block, or a run
 * of one by a block at the cold level; see above.  'info' and 'layout' are
 * the relation's, 'dict_id' its current dictionary (or 0).  Nothing is
 * logged: a base backup's copy of the data file still holds the blocks
 * replaced (until compaction, which logs what it moves), and a restored
 * backup rebuilds its maps from its data files.  Raises the read, decode
 * and write errors.
 */
static void
regroup_run(const AegisRelKey *key, const AegisRelInfo *info, const AegisPageLayout *layout,
			uint16 dict_id, const AegisBlockLoc *old, BlockNumber first, int n)
{
	const AegisBlockDict *dict = NULL;
	AegisPageForm forms[AEGIS_GROUP_MAX_PAGES];
	BlockNumber pagenos[AEGIS_GROUP_MAX_PAGES];
	char	   *blocks[AEGIS_GROUP_MAX_PAGES];
	char	   *formbuf = palloc((Size) n * AEGIS_PAX_MAX_SIZE);
	char	   *newblock = palloc(AEGIS_GROUP_MAX_SIZE);
	AegisGroupForms g;
	bool		g_valid = false;
	uint32		g_gen = 0;
	uint64		g_off = 0;
	uint64		old_bytes = 0;
	uint32		len = 0;
	int			cold = AegisCodecColdLevel(info->codec, info->level);
	AegisRelEntry *e;
	AegisBlockLoc newloc;
	bool		group;
	char	   *location;

	/* read the blocks (a group once), then decode them outside the lock */
	LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		blocks[i] = NULL;
		for (int j = 0; j < i && AegisLocGroupSize(&old[i]) > 0; j++)
			if (old[j].generation == old[i].generation &&
				AegisLocFileOffset(&old[j]) == AegisLocFileOffset(&old[i]))
				blocks[i] = blocks[j];
		if (blocks[i] == NULL)
		{
			blocks[i] = palloc(old[i].length);
			AegisLocalBackend.read_block(key, &old[i], blocks[i]);
		}
	}
	LWLockRelease(&AegisDir->file_lock);

	g.raw = NULL;
	for (int i = 0; i < n; i++)
	{
		pagenos[i] = first + i;
		forms[i].data = formbuf + (Size) i * AEGIS_PAX_MAX_SIZE;
		old_bytes += AegisLocShare(&old[i]);
		location = AegisLocalBackend.location(key, &old[i]);
		if (AegisLocGroupSize(&old[i]) > 0)
		{
			int			m = AegisLocMember(&old[i]);

			if (!g_valid || g_gen != old[i].generation || g_off != AegisLocFileOffset(&old[i]))
			{
				if (g.raw == NULL)
					g.raw = palloc(AEGIS_GROUP_MAX_RAW);
				g_valid = false;
				AegisGroupDecode(blocks[i], old[i].length, key, first + i, location,
								 AegisLocalDictLookup, &g);
				g_valid = true;
				g_gen = old[i].generation;
				g_off = AegisLocFileOffset(&old[i]);
			}
			if (m >= g.nmembers || g.members[m].pageno != first + i)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid aegis block for %s, page %u, in \"%s\"",
								AegisRelKeyDescribe(key), first + i, location),
						 errdetail_internal("The block map names member %d of a group block of %d pages.",
											m, g.nmembers)));
			memcpy(forms[i].data, g.raw + g.offset[m], g.members[m].form_len);
			forms[i].len = g.members[m].form_len;
			forms[i].flags = g.members[m].flags;
			forms[i].lsn = g.members[m].lsn;
		}
		else
			AegisBlockDecodeForm(blocks[i], old[i].length, key, first + i, location,
								 AegisLocalDictLookup, &forms[i]);
		pfree(location);
	}

	/*
	 * The dictionary last: any call into backend_local.c (reading a block,
	 * naming its file) may free the ones it keeps when a file was unlinked.
	 * One that cannot be read is not used (a WARNING says so).
	 */
	if (dict_id != 0)
		dict = AegisLocalGetDict(key, dict_id, true);
	group = n >= 2 && aegis_cold_group_pages >= 2;
	if (group)
		len = AegisGroupEncode(key, n, forms, pagenos, info->codec, info->level, cold,
							   info->persistence, layout, dict, newblock,
							   (uint32) Min(old_bytes - 1, (uint64) AEGIS_GROUP_MAX_SIZE));
	else if (AegisLocGroupSize(&old[0]) > 0 || cold != info->level)
	{
		PGAlignedBlock page;

		AegisPageFormToPage(forms[0].data, forms[0].len, forms[0].flags, key, first,
							"regroup", page.data);
		len = AegisBlockEncode(key, first, page.data, info->codec, info->level, cold,
							   info->persistence, layout, dict, newblock);
		/* a group member must leave its group; a pending page, gain room */
		if (AegisLocGroupSize(&old[0]) == 0 && len >= old_bytes)
			len = 0;
	}

	/*
	 * file_lock is held from here until the map is updated, so no TRUNCATE,
	 * cut, compaction or drop comes between the check and the update.
	 */
	LWLockAcquire(&AegisDir->file_lock, LW_SHARED);
	if (len > 0)
	{
		bool		still = false;

		/*
		 * Append it to the current generation, as AegisStorageWritePage,
		 * only if that is still the generation the blocks were read from
		 * and one of them is still its page's: otherwise its pages' old
		 * contents would sit in a generation that replaced them (TRUNCATE in
		 * place, compaction), where a map rebuilt from the data files could
		 * take them.
		 */
		e = dshash_find(dir_hash, key, true);
		if (e == NULL)
		{
			LWLockRelease(&AegisDir->file_lock);
			goto done;
		}
		for (int i = 0; i < n && !still; i++)
			still = first + i < e->npages && old[i].generation == e->generation &&
				memcmp(&entry_map(e)[first + i], &old[i], sizeof(AegisBlockLoc)) == 0;
		if (!still)
		{
			dshash_release_lock(dir_hash, e);
			LWLockRelease(&AegisDir->file_lock);
			goto done;
		}
		newloc.length = len;
		reserve_block(e, len, &newloc);
		dshash_release_lock(dir_hash, e);
		AegisLocalBackend.write_block(key, &newloc, newblock, false);
	}

	e = dshash_find(dir_hash, key, true);
	if (e != NULL)
	{
		AegisBlockLoc *map = entry_map(e);

		for (int i = 0; i < n; i++)
		{
			BlockNumber p = first + i;
			AegisBlockLoc loc;

			/* written back meanwhile, cut, or moved: leave it */
			if (p >= e->npages || memcmp(&map[p], &old[i], sizeof(AegisBlockLoc)) != 0)
				continue;
			if (len == 0 || e->generation != newloc.generation)
			{
				/* nothing better: it stays; no longer pending, but cold */
				if (AegisLocIsPending(&map[p]))
				{
					map[p].offset &= ~AEGIS_LOC_PENDING;
					map[p].offset |= AEGIS_LOC_COLD;
					e->map_dirty = true;
				}
				continue;
			}
			loc = newloc;
			if (group)
				loc.offset = AegisLocGroupOffset(newloc.offset, i, n);
			else
				loc.offset |= AEGIS_LOC_COLD;
			/* a group left behind partly (a part's edge): look at it again */
			if (AegisLocGroupSize(&map[p]) > 0)
				e->regroup_hint++;
			e->stored_bytes += (int64) AegisLocShare(&loc) - (int64) AegisLocShare(&map[p]);
			map[p] = loc;
			e->map_dirty = true;
		}
		dshash_release_lock(dir_hash, e);
	}
	LWLockRelease(&AegisDir->file_lock);

done:
	/* a group's block is shared by its members: freed at its first */
	for (int i = 0; i < n; i++)
	{
		bool		seen = false;

		for (int j = 0; j < i && !seen; j++)
			seen = blocks[j] == blocks[i];
		if (!seen)
			pfree(blocks[i]);
	}
	if (g.raw)
		pfree(g.raw);
	pfree(formbuf);
	pfree(newblock);
}

/*
 * AegisStorageRegroupBegin
 *		Is relation 'key' due for regrouping (see "Group blocks" above): a
 *		local lz4 or zstd relation that had pending pages written, or group
 *		members superseded, since the last time?  Returns its pages if so,
 *		and clears the mark (a failure sets it again), else 0.  The aegis
 *		checkpointer calls it for every relation after each checkpoint,
 *		then AegisStorageRegroup for the pages, a range at a time
 *		(AegisCheckpointRegroup); the next checkpoint syncs what it wrote.
 *		A pass over a relation that is due starts its next one: with
 *		'defer', pending pages written since the previous pass over it began
 *		are left to the next pass; without (aegis_checkpoint() waits), and
 *		in the first pass over the relation in this server's lifetime, none
 *		are.  Raises nothing.
 */
BlockNumber
AegisStorageRegroupBegin(const AegisRelKey *key, bool defer)
{
	AegisRelEntry *e;
	BlockNumber npages = 0;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return 0;
	if (e->regroup_hint > 0 && e->storage == AEGIS_STORAGE_LOCAL &&
		e->codec != AEGIS_CODEC_NONE)
	{
		e->regroup_hint = 0;
		npages = e->npages;
		/* blocks written since the last pass that was due are fresh */
		e->fresh_known = defer && e->mark_known;
		e->fresh_generation = e->mark_generation;
		e->fresh_below = e->mark_end;
		e->mark_known = true;
		e->mark_generation = e->generation;
		e->mark_end = e->file_end;
	}
	dshash_release_lock(dir_hash, e);
	return npages;
}

/*
 * AegisStorageRegroupLater
 *		Mark relation 'key' due for regrouping again: a pass stopped before
 *		it had gone through the pages AegisStorageRegroupBegin gave (a
 *		checkpoint was asked for, shutdown, no memory, a failed range).
 *		Raises nothing once the directory is attached (every caller has
 *		used it before).
 */
void
AegisStorageRegroupLater(const AegisRelKey *key)
{
	AegisRelEntry *e;

	dir_attach();
	e = dshash_find(dir_hash, key, true);
	if (e == NULL)
		return;
	e->regroup_hint++;
	dshash_release_lock(dir_hash, e);
}

/*
 * AegisStorageRegroup
 *		Put the pending pages among pages [from, to) of local relation 'key'
 *		in group blocks, with the members of groups that lost members (see
 *		above).  Writes no WAL (see regroup_run).  Processes may
 *		regroup disjoint ranges of one relation at once: each map entry is
 *		replaced only if it is still the one read.  Holds no lock across
 *		the work but file_lock shared while it reads or appends blocks, so
 *		TRUNCATE, VACUUM's cut and compaction go on meanwhile (an entry they
 *		changed is left alone).  An error (a damaged block, a full disk) is
 *		reported as a WARNING and leaves the rest of the range as it was,
 *		marked due again; a cancel is raised.  A shutdown request
 *		(ShutdownRequestPending), or 'give_way' (if not NULL) returning true
 *		before a run of pages, stops it likewise.
 */
void
AegisStorageRegroup(const AegisRelKey *key, BlockNumber from,
					BlockNumber to, bool (*give_way) (void))
{
	AegisRelEntry *e;
	AegisRelInfo info;
	AegisPageLayout layout;
	AegisBlockLoc *copy;
	BlockNumber lo,
				hi;
	uint16		dict_id = 0;
	bool		dict_known;
	int			max_run = aegis_cold_group_pages;
	MemoryContext cxt = CurrentMemoryContext;
	int			holdoff = InterruptHoldoffCount;
	AegisBlockLoc last;
	int			last_live = 0;
	uint32		generation;
	XLogRecPtr	create_lsn;
	RegroupFresh fresh;

	memset(&last, 0, sizeof(last));
	dir_attach();
	if (from >= to)
		return;

	/*
	 * A copy of the map around the range (a group's members lie within 16
	 * pages), allocated without the entry's lock.
	 */
	lo = from > AEGIS_GROUP_MAX_PAGES ? from - AEGIS_GROUP_MAX_PAGES : 0;
	hi = to + AEGIS_GROUP_MAX_PAGES;
	copy = palloc_extended((Size) (hi - lo) * sizeof(AegisBlockLoc),
						   MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (copy == NULL)
	{
		/* due again (AegisStorageRegroupBegin cleared it) */
		AegisStorageRegroupLater(key);
		ereport(WARNING,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory to group the all-visible pages of aegis relation " AEGIS_REL_KEY_FMT,
						AEGIS_REL_KEY_ARGS(key))));
		return;
	}
	e = dshash_find(dir_hash, key, false);
	if (e == NULL || e->storage != AEGIS_STORAGE_LOCAL || e->codec == AEGIS_CODEC_NONE ||
		e->npages <= from)
	{
		if (e)
			dshash_release_lock(dir_hash, e);
		pfree(copy);
		return;
	}
	hi = Min(hi, e->npages);
	to = Min(to, hi);
	memcpy(copy, entry_map(e) + lo, (Size) (hi - lo) * sizeof(AegisBlockLoc));
	entry_info(e, &info);
	generation = e->generation;
	create_lsn = e->create_lsn;
	layout = e->layout;
	dict_known = e->dict_known;
	dict_id = e->dict_id;
	fresh.known = e->fresh_known;
	fresh.generation = e->fresh_generation;
	fresh.below = e->fresh_below;
	fresh.deferred = false;
	dshash_release_lock(dir_hash, e);
	if (info.persistence != RELPERSISTENCE_PERMANENT)
		dict_id = 0;			/* only permanent tables have dictionaries */

	if (unlikely(aegis_debug_regroup_delay > 0))
		pg_usleep(aegis_debug_regroup_delay * 1000L);
	PG_TRY();
	{
		if (info.persistence == RELPERSISTENCE_PERMANENT && !dict_known)
		{
			count_dicts(key);
			e = dshash_find(dir_hash, key, false);
			if (e != NULL)
			{
				dict_id = e->dict_id;
				dshash_release_lock(dir_hash, e);
			}
		}
		for (BlockNumber p = from; p < to;)
		{
			int			n = 0;
			int			all = 0;
			int			own = 0;	/* pending or cold pages */
			int			c[AEGIS_GROUP_MAX_PAGES];

			while (p + n < to && n < max_run &&
				   (c[n] = regroup_class(copy, lo, hi, p + n, max_run, &last, &last_live,
										&fresh)) != 0)
			{
				all |= c[n];
				own += (c[n] & (REGROUP_PENDING | REGROUP_COLD)) ? 1 : 0;
				n++;
			}
			if (n == 0)
			{
				p++;
				continue;
			}
			CHECK_FOR_INTERRUPTS();
			if (ShutdownRequestPending || (give_way != NULL && give_way()))
			{
				/* the rest later: shutdown and checkpoints must not wait */
				AegisStorageRegroupLater(key);
				break;
			}
			if ((all & REGROUP_SPARSE) || ((all & REGROUP_PENDING) && own * 4 >= n))
				regroup_run(key, &info, &layout, dict_id, copy + (p - lo), p, n);
			else if (all & REGROUP_PENDING)
			{
				/* its pending pages alone, at the cold level */
				for (int i = 0; i < n; i++)
					if (c[i] & REGROUP_PENDING)
						regroup_run(key, &info, &layout, dict_id, copy + (p + i - lo), p + i, 1);
			}
			p += n;
		}
		/* pages changed since the previous pass: the next one looks again */
		if (fresh.deferred)
			AegisStorageRegroupLater(key);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		gone;
		bool		moved;

		/*
		 * Grouping only saves room: a block that cannot be read or a full
		 * disk must not fail the checkpoint.  No map entry changed but
		 * atomically, and no lock but file_lock is held across a call that
		 * raises errors.
		 */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			AegisStorageRegroupLater(key);	/* due again: the next pass tries */
			PG_RE_THROW();
		}
		FlushErrorState();
		/* as it was on entry, plus file_lock's own if it is still held */
		InterruptHoldoffCount = holdoff;
		if (LWLockHeldByMe(&AegisDir->file_lock))
		{
			HOLD_INTERRUPTS();
			LWLockRelease(&AegisDir->file_lock);
		}

		/*
		 * A relation dropped, rewritten, truncated or compacted since the map
		 * was copied may have lost the data file the copy names (a probe saw
		 * "could not open aegis data file" a second after ALTER TABLE ...
		 * TYPE and after DROP DATABASE): nothing is wrong then, and a
		 * relation that is gone is not due again.
		 */
		e = dshash_find(dir_hash, key, false);
		gone = e == NULL || TransactionIdIsValid(e->drop_xid) || e->create_lsn != create_lsn;
		moved = !gone && e->generation != generation;
		if (e != NULL)
			dshash_release_lock(dir_hash, e);
		if (!gone)
			AegisStorageRegroupLater(key);	/* due again: the next pass tries */
		ereport(gone || moved ? DEBUG1 : WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("aegis could not group the all-visible pages of relation " AEGIS_REL_KEY_FMT ": %s",
						AEGIS_REL_KEY_ARGS(key), edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("Their blocks stay as they are; the grouping after the next checkpoint tries again.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	pfree(copy);
}

/*
 * Make one relation's state durable: compact it if much of its data file is
 * superseded, fsync the data file, write its block map (temp file, fsync,
 * rename, directory fsync), then unlink the generation the previous durable map
 * named, if it changed.  The caller holds sync_lock.
 */
static void
sync_relation(const AegisRelKey *key, AegisBlockLogger logger)
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
		(void) compact_relation(key, logger);

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
	if (info.npages > 0)		/* a memory table's entry may have no map */
		memcpy(copy, entry_map(e), info.npages * sizeof(AegisBlockLoc));
	/* cleared before the write: a change made meanwhile dirties it again */
	e->map_dirty = false;
	dshash_release_lock(dir_hash, e);

	PG_TRY();
	{
		if (durable)
			backend_of(info.storage)->sync(key, gen);

		/*
		 * The map names LSNs (its cut LSN, the LSN each page without a block
		 * was added at) that redo compares with records: WAL up to them must
		 * be durable first, or a crash could end the WAL before them and
		 * new records after it would look older than the page.
		 */
		if (!RecoveryInProgress())
		{
			XLogRecPtr	named = info.cut_lsn;

			for (BlockNumber p = 0; p < info.npages; p++)
				if (copy[p].length == 0 && copy[p].offset > named)
					named = (XLogRecPtr) copy[p].offset;

			/*
			 * A drop mark names its dropper's xid, which has WAL records
			 * before the mark was set (the catalog changes of the DROP): the
			 * map must not be durable before they are, or a crash with no
			 * WAL after the last checkpoint would leave an xid beyond the
			 * commit log in the map (see create_storage in tam_ddl.c).
			 */
			if (TransactionIdIsValid(info.drop_xid))
				named = Max(named, AegisWalInsertedEnd());
			/* an LSN taken at a WAL page boundary lies past the next header */
			named = Min(named, AegisWalInsertedEnd());
			if (!XLogRecPtrIsInvalid(named))
				XLogFlush(named);
		}
		AegisLocalWriteMap(key, &info, gen, file_end, copy);
	}
	PG_CATCH();
	{
		/* file_lock is released with every LWLock at abort */
		e = dshash_find(dir_hash, key, true);
		if (e)
		{
			e->map_dirty = true;
			dshash_release_lock(dir_hash, e);
		}
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
 *		Make the blocks of 'key' that were written back (AegisStorageWritePage)
 *		and its block map durable: compaction when due, fsync of the data
 *		file, the map written durably, the superseded generation unlinked.
 *		Used by checkpoints for every relation (src/checkpoint), and for
 *		storage filled without WAL (ALTER TABLE SET TABLESPACE's copy, a
 *		table created under wal_level = minimal), which PostgreSQL likewise
 *		syncs at once.  Syncs of one relation are serialized (sync_lock).
 *		When a compaction copies the blocks of a permanent relation into a
 *		new generation, 'logger' (if not NULL) is given each block as it is
 *		copied, before the old generation can be unlinked: a base backup
 *		copying the files meanwhile may miss both generations, and replay
 *		restores the blocks from those records (src/checkpoint/README).
 *		Raises the I/O errors it meets (an fsync failure as
 *		data_sync_elevel); the previous durable map stays valid then.
 */
void
AegisStorageSyncRelation(const AegisRelKey *key, AegisBlockLogger logger)
{
	dir_attach();
	/* an error releases sync_lock with every LWLock at abort */
	LWLockAcquire(&AegisDir->sync_lock, LW_EXCLUSIVE);
	sync_relation(key, logger);
	LWLockRelease(&AegisDir->sync_lock);
}

/*
 * AegisStorageListAll
 *		A palloc'd copy of every directory entry's public part; the count in
 *		*n.  The list can be stale by the time it is used: callers look each
 *		relation up again.
 */
AegisRelInfo *
AegisStorageListAll(int *n)
{
	dir_attach();
	return all_entries(n);
}

/*
 * Does a page before p (within the AEGIS_GROUP_MAX_PAGES - 1 before it,
 * where its group's members lie) name the group block map[p] names?
 */
static bool
group_seen(const AegisBlockLoc *map, BlockNumber p)
{
	for (BlockNumber q = p > AEGIS_GROUP_MAX_PAGES ? p - AEGIS_GROUP_MAX_PAGES : 0; q < p; q++)
		if (map[q].length == map[p].length && map[q].generation == map[p].generation &&
			AegisLocGroupSize(&map[q]) > 0 &&
			AegisLocFileOffset(&map[q]) == AegisLocFileOffset(&map[p]))
			return true;
	return false;
}

/*
 * load_entry
 *		Enter a relation read from its block map (or rebuilt from its data
 *		files); AegisLocalLoadAll calls it for each.  An entry already
 *		present wins.
 */
static void
load_entry(const AegisRelInfo *info, uint32 generation, uint64 file_end,
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
			/* a group counts whole, once, as compaction counts it */
			if (AegisLocGroupSize(&map[p]) == 0)
				e->stored_bytes += map[p].length;
			else if (!group_seen(map, p))
				e->stored_bytes += map[p].length;
			if (AegisLocIsPending(&map[p]))
				e->regroup_hint++;
		}
	}
	dshash_release_lock(dir_hash, e);
}
