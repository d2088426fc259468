/*-------------------------------------------------------------------------
 *
 * backend_local.c
 *	  The local storage backend: blocks in files under aegis.data_directory.
 *
 * Layout: <data_directory>/<database oid>/<tablespace>_<relfilenode>.<gen>
 * holds a relation's blocks, appended one after another (copy-on-write, see
 * backend_dir.c); <tablespace>_<relfilenode>.map is the block map of the
 * last checkpoint: a header (magic, version, codec, pages, generation, the
 * storage's incarnation and the xids that create or drop it, the LSN of
 * its last cut, CRC) followed
 * by one AegisBlockLoc per page.  Maps are written temp -> fsync ->
 * durable_rename, so a map on disk is always complete.
 *
 * Each backend caches open files (PostgreSQL virtual file descriptors) per
 * (relation key, generation); the cache is dropped whenever the shared file
 * epoch changes, i.e. whenever any process unlinked a file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aegis/backend.h"
#include "aegis/block.h"
#include "aegis/guc.h"
#include "common/file_utils.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "utils/elog.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "map_format.h"

StaticAssertDecl(sizeof(AegisBlockLoc) == 16, "block map entry is 16 bytes");

typedef struct OpenFileKey
{
	AegisRelKey key;
	uint32		generation;
} OpenFileKey;

typedef struct OpenFileEntry
{
	OpenFileKey key;
	File		file;
} OpenFileEntry;

static HTAB *open_files = NULL;
static uint64 open_files_epoch = 0;

/*
 * Shared counter bumped whenever a local file is unlinked, so every process
 * closes its cached files; the directory hands it over (AegisLocalAttach).
 */
static pg_atomic_uint64 *file_epoch = NULL;

/* Where AegisLocalLoadAll enters each map it reads (the directory). */
static AegisMapLoadCallback map_enter = NULL;

void
AegisLocalAttach(pg_atomic_uint64 *epoch)
{
	file_epoch = epoch;
}

/* palloc'd path of a data file generation */
static char *
data_path(const AegisRelKey *key, uint32 generation)
{
	return psprintf("%s/%u/%u_%u.%u", aegis_data_directory, key->dbOid,
					key->spcOid, key->relNumber, generation);
}

/* palloc'd path of a relation's block map file */
static char *
map_path(const AegisRelKey *key)
{
	return psprintf("%s/%u/%u_%u.map", aegis_data_directory, key->dbOid,
					key->spcOid, key->relNumber);
}

/* Create a directory if it is missing, durably. */
static void
ensure_directory(const char *path, const char *parent)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return;
	if (MakePGDirectory(path) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create aegis directory \"%s\": %m", path)));
	fsync_fname(path, true);
	if (parent)
		fsync_fname(parent, true);
}

static void
ensure_database_directory(Oid dbOid)
{
	char	   *dbdir = psprintf("%s/%u", aegis_data_directory, dbOid);

	ensure_directory(aegis_data_directory, ".");
	ensure_directory(dbdir, aegis_data_directory);
	pfree(dbdir);
}

static void
close_all_files(void)
{
	HASH_SEQ_STATUS status;
	OpenFileEntry *ent;

	if (open_files == NULL)
		return;
	hash_seq_init(&status, open_files);
	while ((ent = hash_seq_search(&status)) != NULL)
	{
		FileClose(ent->file);
		hash_search(open_files, &ent->key, HASH_REMOVE, NULL);
	}
}

/* Open (and cache) a data file generation; create it if 'create'. */
static File
open_data_file(const AegisRelKey *key, uint32 generation, bool create)
{
	OpenFileKey fkey;
	OpenFileEntry *ent;
	bool		found;
	uint64		epoch;
	char	   *path;
	File		file;

	if (open_files == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(OpenFileKey);
		ctl.entrysize = sizeof(OpenFileEntry);
		ctl.hcxt = TopMemoryContext;
		open_files = hash_create("aegis open files", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (file_epoch == NULL)
		elog(ERROR, "aegis local storage used before the relation directory was attached");
	epoch = pg_atomic_read_u64(file_epoch);
	if (epoch != open_files_epoch)
	{
		close_all_files();
		open_files_epoch = epoch;
	}

	memset(&fkey, 0, sizeof(fkey));
	fkey.key = *key;
	fkey.generation = generation;
	ent = hash_search(open_files, &fkey, HASH_FIND, &found);
	if (found)
		return ent->file;

	if (create)
		ensure_database_directory(key->dbOid);
	path = data_path(key, generation);
	file = PathNameOpenFile(path, O_RDWR | PG_BINARY | (create ? O_CREAT : 0));
	if (file < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis data file \"%s\": %m", path)));
	pfree(path);
	ent = hash_search(open_files, &fkey, HASH_ENTER, NULL);
	ent->file = file;
	return file;
}

/*
 * Write loc->length bytes of 'block' at loc->offset of the data file of
 * loc->generation, creating the file if needed.  Not fsynced (local_sync).
 * Raises the write error, e.g. ENOSPC.
 */
static void
local_write_block(const AegisRelKey *key, AegisBlockLoc *loc, const char *block,
				  bool reserved)
{
	File		file = open_data_file(key, loc->generation, true);
	int			n;

	errno = 0;
	n = FileWrite(file, (char *) block, loc->length, (off_t) loc->offset, PG_WAIT_EXTENSION);
	if (n != (int) loc->length)
	{
		int			save_errno = (n >= 0 && errno == 0) ? ENOSPC : errno;
		char	   *what = AegisRelKeyDescribe(key);

		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write %u bytes at offset " UINT64_FORMAT " of aegis data file \"%s\" of %s: %m",
						loc->length, loc->offset, FilePathName(file), what)));
	}
}

/*
 * Read the block 'loc' names into 'block' (loc->length bytes).  A short
 * read is corruption: the map names bytes the file does not have.
 */
static void
local_read_block(const AegisRelKey *key, const AegisBlockLoc *loc, char *block)
{
	File		file = open_data_file(key, loc->generation, false);
	int			n;

	n = FileRead(file, block, loc->length, (off_t) loc->offset, PG_WAIT_EXTENSION);
	if (n != (int) loc->length)
	{
		int			save_errno = errno;
		char	   *what = AegisRelKeyDescribe(key);

		errno = save_errno;
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read aegis data file \"%s\" of %s: %m", FilePathName(file), what)));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis data file \"%s\" of %s is truncated: read %d of %u bytes at offset " UINT64_FORMAT,
						FilePathName(file), what, n, loc->length, loc->offset),
				 errhint("Restore the table from a backup.")));
	}
}

/*
 * fsync a data file generation if it exists.  An fsync failure is a PANIC,
 * as it is for PostgreSQL's own data files (data_sync_elevel).
 */
static void
local_sync(const AegisRelKey *key, uint32 generation)
{
	char	   *path = data_path(key, generation);
	struct stat st;

	if (stat(path, &st) == 0)
	{
		File		file = open_data_file(key, generation, false);

		if (FileSync(file, PG_WAIT_EXTENSION) < 0)
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync aegis data file \"%s\": %m", path)));
	}
	pfree(path);
}

static void
unlink_path(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove aegis file \"%s\": %m", path)));
}

/*
 * Remove a data file generation; WARNING on failure.  The caller holds
 * file_lock exclusive, so nobody reads the generation.  Other processes
 * close their cached descriptors of it only when they next open an aegis
 * file, so the file is first truncated to zero bytes and its space given
 * back at once, as PostgreSQL's mdunlink does for the same reason.
 */
static void
local_drop_relation(const AegisRelKey *key, uint32 generation)
{
	char	   *path = data_path(key, generation);

	/* other processes close their cached files of it */
	pg_atomic_fetch_add_u64(file_epoch, 1);
	close_all_files();
	if (truncate(path, 0) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not truncate aegis file \"%s\": %m", path)));
	unlink_path(path);
	pfree(path);
}

/* AegisLocalUnlinkMap: remove a relation's block map; WARNING on failure. */
void
AegisLocalUnlinkMap(const AegisRelKey *key)
{
	char	   *path = map_path(key);

	unlink_path(path);
	pfree(path);
}

/* AegisLocalRemoveDatabase: remove a database's directory and all in it. */
void
AegisLocalRemoveDatabase(Oid dbOid)
{
	char	   *dbdir = psprintf("%s/%u", aegis_data_directory, dbOid);
	struct stat st;

	pg_atomic_fetch_add_u64(file_epoch, 1);
	close_all_files();
	if (stat(dbdir, &st) == 0 && !rmtree(dbdir, true))
		ereport(WARNING,
				(errmsg("could not remove aegis directory \"%s\"", dbdir)));
	pfree(dbdir);
}

/*
 * AegisLocalWriteMap
 *		Durably replace a relation's block map file with 'map' (info->npages
 *		entries; may be NULL when there are none): temp file, fsync,
 *		durable_rename.  Raises the I/O error; the old map stays valid then.
 */
void
AegisLocalWriteMap(const AegisRelKey *key, const AegisRelInfo *info,
				   uint32 generation, uint64 file_end, const AegisBlockLoc *map)
{
	AegisMapFileHeader hdr;
	char	   *path = map_path(key);
	Size		maplen = (Size) info->npages * sizeof(AegisBlockLoc);
	pg_crc32c	crc;

	ensure_database_directory(key->dbOid);

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = AEGIS_MAP_MAGIC;
	hdr.version = AEGIS_MAP_VERSION;
	hdr.storage = info->storage;
	hdr.codec = info->codec;
	hdr.level = info->level;
	hdr.key = *key;
	hdr.npages = info->npages;
	hdr.generation = generation;
	hdr.file_end = file_end;
	hdr.persistence = (uint8) info->persistence;
	hdr.create_lsn = info->create_lsn;
	hdr.create_xid = info->create_xid;
	hdr.drop_xid = info->drop_xid;
	hdr.insert_floor = info->insert_floor;
	hdr.cut_lsn = info->cut_lsn;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &hdr, sizeof(hdr));
	if (maplen > 0)
		COMP_CRC32C(crc, map, maplen);
	FIN_CRC32C(crc);
	hdr.crc = crc;

	AegisWriteFileDurably(path, "aegis block map", (const char *) &hdr, sizeof(hdr),
						  (const char *) map, maplen);
	pfree(path);
}

/*
 * AegisWriteFileDurably
 *		Replace the file 'path' with part1 then part2 (len1 + len2 bytes;
 *		part2 may be NULL): written to "<path>.tmp", fsynced, then
 *		durable_rename'd, so the file on disk is always complete.  'what'
 *		names the file in messages.  Raises the I/O error (an fsync failure
 *		as data_sync_elevel); the old file stays valid then.
 */
void
AegisWriteFileDurably(const char *path, const char *what, const char *part1,
					  Size len1, const char *part2, Size len2)
{
	char	   *tmppath = psprintf("%s.tmp", path);
	int			fd;

	fd = OpenTransientFile(tmppath, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create %s \"%s\": %m", what, tmppath)));
	errno = 0;
	if (write(fd, part1, len1) != (ssize_t) len1 ||
		(len2 > 0 && write(fd, part2, len2) != (ssize_t) len2))
	{
		int			save_errno = errno ? errno : ENOSPC;

		CloseTransientFile(fd);
		unlink(tmppath);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write %s \"%s\": %m", what, tmppath)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync %s \"%s\": %m", what, tmppath)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close %s \"%s\": %m", what, tmppath)));
	(void) durable_rename(tmppath, path, ERROR);
	pfree(tmppath);
}

/*
 * Read and verify one map file; false if it is invalid.  On success, fill
 * *info and *generation and, with 'enter', enter the relation into the
 * directory.
 */
static bool
load_map(const char *path, bool enter, AegisRelInfo *info_out, uint32 *generation)
{
	AegisMapFileHeader hdr;
	AegisBlockLoc *map;
	const char *entries;
	AegisRelInfo info;
	struct stat st;
	char	   *buf = NULL;
	bool		ok = false;
	int			fd;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis block map \"%s\": %m", path)));
	if (fstat(fd, &st) == 0 && st.st_size >= 0 &&
		(uint64) st.st_size <= AEGIS_MAP_MAX_FILE_SIZE)
	{
		buf = palloc_extended(Max(st.st_size, 1), MCXT_ALLOC_HUGE);
		ok = read(fd, buf, st.st_size) == (ssize_t) st.st_size &&
			AegisMapParse(buf, st.st_size, &hdr, &entries);
	}
	CloseTransientFile(fd);
	if (!ok)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis block map \"%s\" is invalid", path),
				 errdetail("It is rebuilt from the relation's data files.")));
		if (buf)
			pfree(buf);
		return false;
	}
	map = palloc_extended(Max((Size) hdr.npages * sizeof(AegisBlockLoc), 1), MCXT_ALLOC_HUGE);
	memcpy(map, entries, (Size) hdr.npages * sizeof(AegisBlockLoc));
	pfree(buf);
	info.key = hdr.key;
	info.storage = hdr.storage;
	info.codec = hdr.codec;
	info.level = hdr.level;
	info.npages = hdr.npages;
	info.persistence = (char) hdr.persistence;
	/* an LSN of the old aegis WAL means nothing now: incarnation unknown */
	info.create_lsn = hdr.version >= 3 ? hdr.create_lsn : InvalidXLogRecPtr;
	info.cut_lsn = hdr.cut_lsn;
	info.create_xid = hdr.create_xid;
	info.drop_xid = hdr.drop_xid;
	info.insert_floor = hdr.insert_floor;
	if (enter)
		map_enter(&info, hdr.generation, hdr.file_end, map);
	*generation = hdr.generation;
	*info_out = info;
	pfree(map);
	return true;
}

/* Why a block map is rebuilt from the data files. */
typedef enum RebuildReason
{
	REBUILD_DAMAGED,			/* the map fails its checks */
	REBUILD_MISSING,			/* there is no map */
	REBUILD_RESTORE				/* a base backup: maps and data files were
								 * copied at different moments */
} RebuildReason;

/* The files of one relation found in a database directory. */
typedef struct RelFiles
{
	Oid			spcOid;			/* hash key: tablespace, relfilenode */
	Oid			relNumber;
	bool		map_seen;		/* a .map file exists */
	bool		map_valid;		/* ... and is valid */
	AegisRelInfo map_info;		/* what a valid map says */
	uint32		map_generation; /* the generation a valid map names */
	List	   *generations;	/* data file generations present (uint32) */
} RelFiles;

/* The newest valid block found so far for one page, while rebuilding. */
typedef struct RebuildSlot
{
	uint64		lsn;
	uint32		generation;
	uint64		offset;
	uint32		length;			/* 0: no block found */
} RebuildSlot;

#define REBUILD_CHUNK	(4 * 1024 * 1024)

/*
 * Read the whole of 'fd' from 'pos' into buf (up to 'len' bytes); bytes read.
 */
static Size
read_at(int fd, char *buf, Size len, off_t pos, const char *path)
{
	Size		got = 0;

	while (got < len)
	{
		ssize_t		r = pg_pread(fd, buf + got, len - got, pos + got);

		if (r < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read aegis data file \"%s\": %m", path)));
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

/*
 * Find every valid block of relation 'key' in data file generation 'gen'
 * and keep, per page, the newest one (highest page LSN; on a tie the later
 * generation and offset, i.e. the later copy).  Bytes that are not a valid
 * block (a write cut short, a damaged block) are skipped by looking for
 * the next block header.  Grows *slots / *nslots as pages appear; fills
 * *info's codec, level and persistence from the newest block that has them.
 */
static void
scan_generation(const AegisRelKey *key, uint32 gen, RebuildSlot **slots,
				BlockNumber *nslots, AegisRelInfo *info, uint64 *info_lsn,
				uint64 *nblocks)
{
	char	   *path = data_path(key, gen);
	char	   *buf = palloc(REBUILD_CHUNK);
	off_t		base = 0;		/* file offset of buf[0] */
	Size		have;
	int			fd;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis data file \"%s\": %m", path)));
	have = read_at(fd, buf, REBUILD_CHUNK, base, path);
	while (have > 0)
	{
		Size		pos = 0;
		bool		eof = have < REBUILD_CHUNK;

		/* a block is at most AEGIS_BLOCK_MAX_SIZE bytes: keep that in view */
		while (pos < have && (eof || have - pos >= AEGIS_BLOCK_MAX_SIZE))
		{
			AegisBlockIdentity id;
			RebuildSlot *slot;

			if (!AegisBlockCheck(buf + pos, have - pos, &id) ||
				memcmp(&id.key, key, sizeof(AegisRelKey)) != 0 ||
				id.pageno >= MaxBlockNumber)
			{
				pos++;
				continue;
			}
			if (id.pageno >= *nslots)
			{
				BlockNumber newn = Max(id.pageno + 1, *nslots * 2);

				*slots = repalloc_huge(*slots, (Size) newn * sizeof(RebuildSlot));
				memset(*slots + *nslots, 0, (Size) (newn - *nslots) * sizeof(RebuildSlot));
				*nslots = newn;
			}
			slot = &(*slots)[id.pageno];
			if (slot->length == 0 || id.lsn > slot->lsn ||
				(id.lsn == slot->lsn &&
				 (gen > slot->generation ||
				  (gen == slot->generation && base + pos > slot->offset))))
			{
				slot->lsn = id.lsn;
				slot->generation = gen;
				slot->offset = base + pos;
				slot->length = id.length;
			}
			if (id.has_rel_info && id.lsn >= *info_lsn)
			{
				*info_lsn = id.lsn;
				info->codec = id.rel_codec;
				info->level = id.rel_level;
				info->persistence = id.rel_persistence;
			}
			if (id.pageno + 1 > info->npages)
				info->npages = id.pageno + 1;
			(*nblocks)++;
			pos += id.length;
		}
		if (eof)
			break;
		base += pos;
		have = read_at(fd, buf, REBUILD_CHUNK, base, path);
		CHECK_FOR_INTERRUPTS();
	}
	CloseTransientFile(fd);
	pfree(buf);
	pfree(path);
}

/*
 * Rebuild the block map of relation 'key' from its data files, because its
 * map is damaged ('map_seen') or missing.  Every block of every generation
 * present is checked (header, CRC); per page the newest one is copied into
 * a new generation, which is fsynced, then a new map naming it is written
 * durably (the damaged map is kept as "<map>.damaged"), and only then are
 * the old generations removed.  The relation enters the directory with an
 * unknown incarnation (create_lsn 0, see backend_dir.c) and is reported in
 * a WARNING.
 */
static void
rebuild_map(const AegisRelKey *key, List *generations, RebuildReason why,
			const AegisRelInfo *from_map, uint32 from_map_generation)
{
	bool		map_seen = why == REBUILD_DAMAGED;
	RebuildSlot *slots;
	BlockNumber nslots = 64;
	AegisRelInfo info;
	uint64		info_lsn = 0;
	uint64		nblocks = 0;
	uint64		stored = 0;
	uint32		newgen = 0;
	uint64		off = 0;
	AegisBlockLoc *map;
	char	   *mpath = map_path(key);
	char	   *newpath;
	char		block[AEGIS_BLOCK_MAX_SIZE];
	int			out;
	ListCell   *lc;

	memset(&info, 0, sizeof(info));
	info.key = *key;
	info.storage = AEGIS_STORAGE_LOCAL;
	info.codec = AEGIS_CODEC_NONE;
	info.persistence = RELPERSISTENCE_PERMANENT;
	slots = palloc_extended((Size) nslots * sizeof(RebuildSlot), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	foreach(lc, generations)
	{
		uint32		gen = (uint32) lfirst_oid(lc);

		scan_generation(key, gen, &slots, &nslots, &info, &info_lsn, &nblocks);
		newgen = Max(newgen, gen + 1);
	}
	if (from_map != NULL)
	{
		info.storage = from_map->storage;
		/*
		 * A valid map copied by a base backup: its settings and the xids
		 * that create or drop the relation hold; its incarnation is left
		 * unknown (the data files may be of another one, see README).
		 */
		info.codec = from_map->codec;
		info.level = from_map->level;
		info.persistence = from_map->persistence;
		info.create_xid = from_map->create_xid;
		info.drop_xid = from_map->drop_xid;
		info.insert_floor = from_map->insert_floor;
		/*
		 * Its cut LSN still holds: a page past both the map and the data
		 * files was cut by then (map_format.h, AegisWalPageRedo).
		 */
		info.cut_lsn = from_map->cut_lsn;

		/*
		 * A block of a page past the map, older than the cut, is of a page
		 * the cut removed (VACUUM wrote it back as a new page first): leave
		 * it out, the page does not exist.
		 */
		if (info.npages > from_map->npages)
		{
			BlockNumber keep = from_map->npages;

			for (BlockNumber p = from_map->npages; p < info.npages; p++)
			{
				if (slots[p].length > 0 && slots[p].lsn < from_map->cut_lsn)
					memset(&slots[p], 0, sizeof(RebuildSlot));
				else if (slots[p].length > 0)
					keep = p + 1;
			}
			info.npages = keep;
		}
		info.npages = Max(info.npages, from_map->npages);
		if (info.npages > nslots)
		{
			slots = repalloc_huge(slots, (Size) info.npages * sizeof(RebuildSlot));
			memset(slots + nslots, 0, (Size) (info.npages - nslots) * sizeof(RebuildSlot));
			nslots = info.npages;
		}
	}

	if (info.storage != AEGIS_STORAGE_LOCAL)
	{
		/* memory storage: volatile, only the entry comes back */
		info.npages = 0;
		AegisLocalWriteMap(key, &info, 1, 0, NULL);
		map_enter(&info, 1, 0, NULL);
		pfree(mpath);
		pfree(slots);
		return;
	}
	if (newgen == 0)
		newgen = from_map ? from_map_generation + 1 : 1;

	/* copy the newest block of each page into the new generation */
	map = palloc_extended(Max((Size) info.npages, 1) * sizeof(AegisBlockLoc), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	newpath = data_path(key, newgen);
	out = OpenTransientFile(newpath, O_RDWR | O_CREAT | O_TRUNC | PG_BINARY);
	if (out < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create aegis data file \"%s\": %m", newpath)));
	PG_TRY();
	{
		for (BlockNumber p = 0; p < info.npages; p++)
		{
			RebuildSlot *slot = &slots[p];
			char	   *src;
			int			in;

			if (slot->length == 0)
				continue;
			src = data_path(key, slot->generation);
			in = OpenTransientFile(src, O_RDONLY | PG_BINARY);
			if (in < 0 || read_at(in, block, slot->length, slot->offset, src) != slot->length)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read aegis data file \"%s\": %m", src)));
			CloseTransientFile(in);
			pfree(src);
			errno = 0;
			if (pg_pwrite(out, block, slot->length, off) != (ssize_t) slot->length)
			{
				if (errno == 0)
					errno = ENOSPC;
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write aegis data file \"%s\": %m", newpath)));
			}
			map[p].offset = off;
			map[p].length = slot->length;
			map[p].generation = newgen;
			off += slot->length;
			stored++;
		}
		if (pg_fsync(out) != 0)
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync aegis data file \"%s\": %m", newpath)));
	}
	PG_CATCH();
	{
		/* a partial copy must not keep a full disk full; the sources stay */
		(void) unlink(newpath);
		PG_RE_THROW();
	}
	PG_END_TRY();
	CloseTransientFile(out);

	/* the damaged map is kept for inspection; then the new one is durable */
	if (map_seen)
	{
		char	   *damaged = psprintf("%s.damaged", mpath);

		(void) durable_rename(mpath, damaged, ERROR);
		pfree(damaged);
	}
	AegisLocalWriteMap(key, &info, newgen, off, map);

	/* only now may the old generations go */
	foreach(lc, generations)
	{
		char	   *old = data_path(key, (uint32) lfirst_oid(lc));

		unlink_path(old);
		pfree(old);
	}
	map_enter(&info, newgen, off, map);

	if (why == REBUILD_RESTORE)
		ereport(DEBUG1,
				(errmsg("aegis block map \"%s\" rebuilt from the data files: %u pages",
						mpath, info.npages)));
	else
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("aegis block map \"%s\" was %s; rebuilt it from the data files of relation " AEGIS_REL_KEY_FMT,
					mpath, map_seen ? "invalid" : "missing", AEGIS_REL_KEY_ARGS(key)),
			 errdetail("%u pages, " UINT64_FORMAT " of them with a block, from " UINT64_FORMAT " valid blocks in %d data files; the newest block of each page was kept.%s",
					   info.npages, stored, nblocks, list_length(generations),
					   map_seen ? " The damaged map was kept with the suffix \".damaged\"." : ""),
			 errhint("Check the table: the relation key is tablespace/database/relfilenode, and pg_filenode_relation() names it.")));
	pfree(newpath);
	pfree(mpath);
	pfree(map);
	pfree(slots);
}

/*
 * Load the maps of one database directory.  Data files of generations a
 * valid map does not name (written after the last checkpoint, or left by
 * compaction) and temp files are removed.  A relation whose map is damaged
 * or missing while data files exist gets its map rebuilt from them
 * (rebuild_map): a data file is never removed on the word of a map that
 * cannot be read.
 */
static void
load_database_directory(const char *dbdir, Oid dbOid, bool rebuild)
{
	DIR		   *dir;
	struct dirent *de;
	HTAB	   *rels;
	HASHCTL		ctl;
	HASH_SEQ_STATUS status;
	RelFiles   *rf;

	ctl.keysize = 2 * sizeof(Oid);
	ctl.entrysize = sizeof(RelFiles);
	ctl.hcxt = CurrentMemoryContext;
	rels = hash_create("aegis relation files", 64, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	dir = AllocateDir(dbdir);
	while ((de = ReadDir(dir, dbdir)) != NULL)
	{
		Oid			k[2];
		char		rest[16];
		uint32		gen;
		char		extra;
		bool		found;
		char	   *path = psprintf("%s/%s", dbdir, de->d_name);

		if (sscanf(de->d_name, "%u_%u.%15s", &k[0], &k[1], rest) != 3)
		{
			pfree(path);
			continue;
		}
		if (strcmp(rest, "map.tmp") == 0)
		{
			elog(DEBUG1, "removing unreferenced aegis file \"%s\"", path);
			unlink_path(path);
		}
		else if (strcmp(rest, "map") == 0)
		{
			rf = hash_search(rels, k, HASH_ENTER, &found);
			if (!found)
				rf->generations = NIL;
			rf->map_seen = true;
			rf->map_valid = load_map(path, !rebuild, &rf->map_info, &rf->map_generation);
		}
		else if (sscanf(rest, "%u%c", &gen, &extra) == 1)
		{
			rf = hash_search(rels, k, HASH_ENTER, &found);
			if (!found)
			{
				rf->generations = NIL;
				rf->map_seen = false;
				rf->map_valid = false;
			}
			rf->generations = lappend_oid(rf->generations, (Oid) gen);
		}
		pfree(path);
	}
	FreeDir(dir);

	hash_seq_init(&status, rels);
	while ((rf = hash_seq_search(&status)) != NULL)
	{
		AegisRelKey key;
		ListCell   *lc;

		key.spcOid = rf->spcOid;
		key.dbOid = dbOid;
		key.relNumber = rf->relNumber;
		if (!rf->map_valid || rebuild)
		{
			/*
			 * From a base backup every map is rebuilt, also when no data
			 * file was copied: its pages then come from replay.
			 */
			if (rf->generations != NIL || rf->map_valid)
				rebuild_map(&key, rf->generations,
							rf->map_valid ? REBUILD_RESTORE :
							rf->map_seen ? REBUILD_DAMAGED : REBUILD_MISSING,
							rf->map_valid ? &rf->map_info : NULL,
							rf->map_generation);
			continue;
		}
		foreach(lc, rf->generations)
		{
			uint32		gen = (uint32) lfirst_oid(lc);

			if (gen != rf->map_generation)
			{
				char	   *path = data_path(&key, gen);

				elog(DEBUG1, "removing unreferenced aegis file \"%s\"", path);
				unlink_path(path);
				pfree(path);
			}
		}
	}
	hash_destroy(rels);
}

static char *
local_location(const AegisRelKey *key, const AegisBlockLoc *loc)
{
	return data_path(key, loc->generation);
}

/*
 * The local storage backend: blocks appended to files, made durable by
 * checkpoints, never overwritten while a durable map names them.
 */
const AegisStorageBackend AegisLocalBackend = {
	.name = "local",
	.durable = true,
	.append_only = true,
	.read_under_entry_lock = false,
	.write_block = local_write_block,
	.read_block = local_read_block,
	.delete_block = NULL,
	.sync = local_sync,
	.drop_relation = local_drop_relation,
	.location = local_location,
};

/*
 * The control file of the build that kept its own WAL files
 * (<data_directory>/aegis_control): magic, version, state, then the redo
 * LSN of its last checkpoint.  This build keeps no control file; it takes
 * over a data directory that build shut down cleanly.
 */
#define LEGACY_CONTROL_MAGIC	0x43474541	/* "AEGC" */
#define LEGACY_STATE_SHUTDOWN	1

typedef struct LegacyControlFile
{
	uint32		magic;
	uint32		version;
	uint32		state;
	uint32		reserved;
	uint64		redo_lsn;
	int64		time;
	pg_crc32c	crc;
	uint32		reserved2;
} LegacyControlFile;

/*
 * If the build that kept its own WAL files left its control file, make sure
 * it shut down cleanly (its WAL cannot be replayed by this build) and return
 * true; raise an error that says what to do otherwise.
 */
static bool
check_legacy_control(void)
{
	char	   *path = psprintf("%s/aegis_control", aegis_data_directory);
	LegacyControlFile cf;
	pg_crc32c	crc;
	int			fd;
	int			r;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open \"%s\": %m", path)));
		pfree(path);
		return false;
	}
	r = read(fd, &cf, sizeof(cf));
	CloseTransientFile(fd);
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &cf, offsetof(LegacyControlFile, crc));
	FIN_CRC32C(crc);
	if (r != sizeof(cf) || cf.magic != LEGACY_CONTROL_MAGIC || !EQ_CRC32C(crc, cf.crc) ||
		cf.state != LEGACY_STATE_SHUTDOWN)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("aegis data directory \"%s\" was not shut down cleanly by the previous version of aegis_storage",
						aegis_data_directory),
				 errdetail("That version kept its own WAL in \"%s/wal\", which this version cannot replay.",
						   aegis_data_directory),
				 errhint("Start the server once more with the previous version, let it recover, shut it down cleanly, then install this version.")));
	pfree(path);
	return true;
}

/*
 * AegisLocalLoadAll
 *		Enter every relation of the local backend into the directory, from
 *		the block maps on disk; with 'rebuild', from the data files instead
 *		(a restored base backup).  Called once per server lifetime by the
 *		process that loads the directory (backend_dir.c).  Takes over a data
 *		directory of the build that kept its own WAL files if it was shut
 *		down cleanly: its maps are read (format versions 1 and 2), its
 *		blocks' LSNs are read as 0 (AEGIS_BLOCK_PG_LSN), and its WAL and
 *		control file are removed.
 */
void
AegisLocalLoadAll(bool rebuild, AegisMapLoadCallback enter)
{
	DIR		   *dir;
	struct dirent *de;
	struct stat st;
	bool		legacy;

	if (stat(aegis_data_directory, &st) != 0)
	{
		ensure_directory(aegis_data_directory, ".");
		return;
	}
	legacy = check_legacy_control();
	map_enter = enter;
	dir = AllocateDir(aegis_data_directory);
	while ((de = ReadDir(dir, aegis_data_directory)) != NULL)
	{
		Oid			dbOid;
		char		extra;
		char	   *dbdir;

		if (sscanf(de->d_name, "%u%c", &dbOid, &extra) != 1)
			continue;
		dbdir = psprintf("%s/%s", aegis_data_directory, de->d_name);
		load_database_directory(dbdir, dbOid, rebuild);
		pfree(dbdir);
	}
	FreeDir(dir);

	if (legacy)
	{
		char	   *waldir = psprintf("%s/wal", aegis_data_directory);
		char	   *control = psprintf("%s/aegis_control", aegis_data_directory);

		if (stat(waldir, &st) == 0 && !rmtree(waldir, true))
			ereport(WARNING,
					(errmsg("could not remove the old aegis WAL directory \"%s\"", waldir)));
		unlink_path(control);
		fsync_fname(aegis_data_directory, true);
		ereport(LOG,
				(errmsg("aegis: took over the data directory of the previous version, which kept its own WAL")));
		pfree(waldir);
		pfree(control);
	}
}
