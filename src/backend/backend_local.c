/*-------------------------------------------------------------------------
 *
 * backend_local.c
 *	  The local storage backend: blocks in files in the database directory of
 *	  the relation's tablespace.
 *
 * Layout.  A relation's files live where PostgreSQL keeps the database's
 * files in the relation's tablespace (GetDatabasePath): base/<db> for
 * pg_default, pg_tblspc/<spc>/PG_15_<catversion>/<db> otherwise; a relation
 * in the database's default tablespace (key spcOid 0) in that tablespace's
 * directory.  So a tablespace on another disk holds its tables' aegis data,
 * pg_database_size and pg_tablespace_size count it, DROP DATABASE removes
 * it, and base backups, pg_rewind and CREATE DATABASE ... STRATEGY
 * FILE_COPY carry it like any file there.
 *   aegis_<db>_<spc>_<relfilenode>.<gen>	blocks of generation <gen> (>= 1),
 *											appended one after another
 *											(copy-on-write, see backend_dir.c)
 *   aegis_<db>_<spc>_<relfilenode>_map		the block map of the last
 *											checkpoint: a header (magic,
 *											version, codec, pages, generation,
 *											the storage's incarnation and the
 *											xids that create or drop it, the
 *											LSN of its last cut, CRC), then
 *											one AegisBlockLoc per page
 *   aegis_<db>_<spc>_<relfilenode>_dict<n>	compression dictionary <n> (>= 1)
 *											of the relation: a header (magic,
 *											relation key, n, length, CRC),
 *											then the dictionary; written once,
 *											never changed, numbered 1, 2, ...
 *											without gaps
 * The names are chosen for PostgreSQL's own tools: no '.' but before a
 * generation number >= 1 (base backups parse what follows a '.' as a
 * segment number), nothing that reads as a relation fork, a temporary
 * relation or a relcache init file, and the database in the name, so a
 * FILE_COPY copy of a template's files into a new database is recognised
 * as foreign and removed (AegisLocalCleanDatabaseCopy).
 *
 * Chunked files.  Base backups (with data checksums) and pg_checksums read
 * every file of a database directory in 8 kB pages and verify the checksum
 * of each page that is not new (pd_upper != 0).  So the files are written
 * in 8 kB chunks whose first AEGIS_CHUNK_HEADER bytes are zero (a new page
 * to those tools) followed by AEGIS_CHUNK_PAYLOAD bytes of content, and
 * are padded to whole chunks.  Everything above this file (block offsets
 * in the map, file_end) is a logical offset into the content; file_io
 * translates.
 *
 * The previous builds kept every relation's files under aegis.data_directory
 * (<data_directory>/<db>/<spc>_<relfilenode>.<gen> and .map, plain bytes).
 * A relation whose map is found there keeps that layout until it gets new
 * storage (VACUUM FULL, CLUSTER, TRUNCATE, ALTER TABLE ... SET TABLESPACE).
 *
 * Maps are written temp -> fsync -> rename -> fsync of the directory, so a
 * map on disk is always complete.  Each backend caches open files
 * (PostgreSQL virtual file descriptors) per (relation key, generation) and where each relation's
 * files are; both caches are dropped whenever the shared file epoch
 * changes, i.e. whenever any process unlinked a file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aegis/backend.h"
#include "aegis/block.h"
#include "aegis/guc.h"
#include "access/xlogutils.h"
#include "catalog/catalog.h"
#include "catalog/pg_tablespace_d.h"
#include "commands/tablespace.h"
#include "common/file_utils.h"
#include "common/relpath.h"
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

/* The chunked format: zero bytes opening every BLCKSZ chunk, then content. */
#define AEGIS_CHUNK_HEADER	16
#define AEGIS_CHUNK_PAYLOAD (BLCKSZ - AEGIS_CHUNK_HEADER)
StaticAssertDecl(AEGIS_CHUNK_HEADER >= offsetof(PageHeaderData, pd_upper) + sizeof(LocationIndex),
				 "a chunk header covers pd_upper, so the chunk reads as a new page");

/* Where a relation's files are, and in which format. */
typedef struct AegisFileSet
{
	char		dir[MAXPGPATH];	/* directory, relative to the data directory */
	char		stem[64];		/* file name before ".<gen>" or "_map" */
	bool		chunked;		/* false: the previous builds' plain layout */
	Oid			spcOid;			/* chunked: the tablespace 'dir' belongs to */
	Oid			dbOid;
} AegisFileSet;

typedef struct OpenFileKey
{
	AegisRelKey key;
	uint32		generation;
} OpenFileKey;

typedef struct OpenFileEntry
{
	OpenFileKey key;
	File		file;
	bool		chunked;
	off_t		padded_to;		/* the file is known to reach this far */
} OpenFileEntry;

typedef struct FileSetEntry
{
	AegisRelKey key;
	AegisFileSet fs;
} FileSetEntry;

/* A compression dictionary file's header; its content follows. */
#define AEGIS_DICT_MAGIC	0x44474541	/* "AEGD" little-endian */
#define AEGIS_DICT_VERSION	1
typedef struct AegisDictFileHeader
{
	uint32		magic;
	uint16		version;
	uint16		id;				/* the relation's number of the dictionary */
	AegisRelKey key;
	uint32		length;			/* dictionary bytes after the header */
	pg_crc32c	crc;			/* of the header (crc 0) and the dictionary */
} AegisDictFileHeader;

/* This process's dictionaries in use, by relation key and number. */
typedef struct DictCacheKey
{
	AegisRelKey key;
	uint16		id;
} DictCacheKey;

typedef struct DictCacheEntry
{
	DictCacheKey key;
	AegisBlockDict *dict;
	uint64		last_use;
} DictCacheEntry;

/*
 * dictionaries a process keeps digested at once (each 0.2-1 MB once used
 * to compress: zstd's digest for compression at level 3 is 470 kB, for
 * decompression 90 kB; LZ4's prepared stream 16 kB)
 */
#define DICT_CACHE_SIZE 8

static HTAB *open_files = NULL;
static HTAB *file_sets = NULL;
static HTAB *dict_cache = NULL;
static uint64 dict_cache_clock = 0;
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

/* Physical offset of logical offset 'logical' of a chunked file. */
static inline off_t
chunk_physical(uint64 logical)
{
	return (off_t) (logical / AEGIS_CHUNK_PAYLOAD) * BLCKSZ +
		AEGIS_CHUNK_HEADER + (off_t) (logical % AEGIS_CHUNK_PAYLOAD);
}

/* Bytes of a chunked file holding 'len' logical bytes, padded. */
static inline uint64
chunked_file_size(uint64 len)
{
	return (len + AEGIS_CHUNK_PAYLOAD - 1) / AEGIS_CHUNK_PAYLOAD * BLCKSZ;
}

/*
 * A read or write of a chunked file that spans several chunks goes through
 * a buffer as one system call for the whole physical range, chunk headers
 * included (they are zeros, and are written as zeros), instead of one per
 * chunk: a compaction of 148 MB made 18,000 pwrite calls of 8 kB pieces, a
 * group block of 16 pages two or three reads.  At most FILE_IO_SPAN_CHUNKS
 * chunks at once: any 1 MB of content (a compaction batch) fits.  A span of
 * up to SPAN_KEEP_CHUNKS chunks (any one block, a group block included)
 * uses a buffer the process keeps; a longer one a buffer of its own.
 */
#define FILE_IO_SPAN_CHUNKS	130
#define SPAN_KEEP_CHUNKS	32
/* n bytes of content span at most 1 + ceil((n - 1) / AEGIS_CHUNK_PAYLOAD) chunks */
StaticAssertDecl((FILE_IO_SPAN_CHUNKS - 1) * AEGIS_CHUNK_PAYLOAD >= 1024 * 1024 - 1,
				 "1 MB of content spans at most FILE_IO_SPAN_CHUNKS chunks");
StaticAssertDecl((SPAN_KEEP_CHUNKS - 1) * AEGIS_CHUNK_PAYLOAD >= AEGIS_GROUP_MAX_SIZE - 1,
				 "a group block spans at most SPAN_KEEP_CHUNKS chunks");
static char *span_keep = NULL;

/* Payload bytes of a chunked file in physical range [from, to). */
static uint64
payload_between(off_t from, off_t to)
{
	uint64		n = 0;

	while (from < to)
	{
		off_t		chunk = from - from % BLCKSZ;
		off_t		start = Max(from, chunk + AEGIS_CHUNK_HEADER);
		off_t		end = Min(to, chunk + BLCKSZ);

		if (end > start)
			n += end - start;
		from = chunk + BLCKSZ;
	}
	return n;
}

/*
 * One system call for logical bytes [l, l + len) of a chunked file, which
 * span several chunks (at most FILE_IO_SPAN_CHUNKS): the physical range is
 * assembled in span_buf (write) or read into it and its payload copied out
 * (read).  Returns the logical bytes done, from the start, as file_io.
 */
static Size
chunked_span_io(bool write, File vfd, int fd, char *buf, Size len, uint64 l)
{
	off_t		ps = chunk_physical(l);
	off_t		pe = chunk_physical(l + len - 1) + 1;
	Size		span = (Size) (pe - ps);
	ssize_t		r;

	char	   *span_buf;

	Assert(span <= (Size) FILE_IO_SPAN_CHUNKS * BLCKSZ);
	if (span > (Size) SPAN_KEEP_CHUNKS * BLCKSZ)
		span_buf = palloc(span);
	else
	{
		if (span_keep == NULL)
			span_keep = MemoryContextAlloc(TopMemoryContext, (Size) SPAN_KEEP_CHUNKS * BLCKSZ);
		span_buf = span_keep;
	}
	if (write)
	{
		for (Size done = 0; done < len;)
		{
			uint64		at = l + done;
			Size		n = Min(len - done, (Size) (AEGIS_CHUNK_PAYLOAD - at % AEGIS_CHUNK_PAYLOAD));
			off_t		p = chunk_physical(at);

			if (at % AEGIS_CHUNK_PAYLOAD == 0 && p - AEGIS_CHUNK_HEADER >= ps)
				memset(span_buf + (p - AEGIS_CHUNK_HEADER - ps), 0, AEGIS_CHUNK_HEADER);
			memcpy(span_buf + (p - ps), buf + done, n);
			done += n;
		}
		r = vfd >= 0 ? FileWrite(vfd, span_buf, span, ps, PG_WAIT_EXTENSION) :
			pg_pwrite(fd, span_buf, span, ps);
	}
	else
		r = vfd >= 0 ? FileRead(vfd, span_buf, span, ps, PG_WAIT_EXTENSION) :
			pg_pread(fd, span_buf, span, ps);
	if (r <= 0)
	{
		int			save_errno = (r == 0 && write) ? ENOSPC : errno;

		if (span_buf != span_keep)
			pfree(span_buf);
		errno = save_errno;
		return 0;
	}
	len = Min(len, (Size) payload_between(ps, ps + r));
	if (!write)
	{
		for (Size done = 0; done < len;)
		{
			uint64		at = l + done;
			Size		n = Min(len - done, (Size) (AEGIS_CHUNK_PAYLOAD - at % AEGIS_CHUNK_PAYLOAD));

			memcpy(buf + done, span_buf + (chunk_physical(at) - ps), n);
			done += n;
		}
	}
	if (span_buf != span_keep)
		pfree(span_buf);
	return len;
}

/*
 * Read or write 'len' logical bytes at logical offset 'off' of an open file:
 * the virtual file descriptor 'vfd' if it is valid, else the kernel file
 * descriptor 'fd'.  Returns the bytes done; fewer at end of file or on an
 * error (errno set).
 */
static Size
file_io(bool write, bool chunked, File vfd, int fd, char *buf, Size len, uint64 off)
{
	Size		done = 0;

	while (done < len)
	{
		uint64		l = off + done;
		Size		n = Min(len - done, (Size) 1 << 30);
		off_t		p = (off_t) l;
		ssize_t		r;

		if (chunked)
		{
			Size		first = AEGIS_CHUNK_PAYLOAD - l % AEGIS_CHUNK_PAYLOAD;

			if (n > first)
			{
				/* several chunks: one call for up to FILE_IO_SPAN_CHUNKS of them */
				Size		m = Min(n, first + (Size) (FILE_IO_SPAN_CHUNKS - 1) * AEGIS_CHUNK_PAYLOAD);
				Size		got = chunked_span_io(write, vfd, fd, buf + done, m, l);

				done += got;
				if (got < m)
					break;
				continue;
			}
			p = chunk_physical(l);
		}
		if (vfd >= 0)
			r = write ? FileWrite(vfd, buf + done, n, p, PG_WAIT_EXTENSION) :
				FileRead(vfd, buf + done, n, p, PG_WAIT_EXTENSION);
		else
			r = write ? pg_pwrite(fd, buf + done, n, p) : pg_pread(fd, buf + done, n, p);
		if (r <= 0)
		{
			if (r == 0 && write)
				errno = ENOSPC;
			break;
		}
		done += r;
	}
	return done;
}

/* The stem and directory of the previous builds' layout. */
static void
legacy_file_set(const AegisRelKey *key, AegisFileSet *fs)
{
	memset(fs, 0, sizeof(*fs));
	snprintf(fs->dir, sizeof(fs->dir), "%s/%u", aegis_data_directory, key->dbOid);
	snprintf(fs->stem, sizeof(fs->stem), "%u_%u", key->spcOid, key->relNumber);
	fs->chunked = false;
	fs->dbOid = key->dbOid;
}

/* The file set of 'key' in 'dir', the directory of tablespace 'spcOid'. */
static void
chunked_file_set(const AegisRelKey *key, const char *dir, Oid spcOid, AegisFileSet *fs)
{
	memset(fs, 0, sizeof(*fs));
	strlcpy(fs->dir, dir, sizeof(fs->dir));
	snprintf(fs->stem, sizeof(fs->stem), "aegis_%u_%u_%u",
			 key->dbOid, key->spcOid, key->relNumber);
	fs->chunked = true;
	fs->spcOid = spcOid;
	fs->dbOid = key->dbOid;
}

/* palloc'd path of a data file generation */
static char *
data_path(const AegisFileSet *fs, uint32 generation)
{
	return psprintf("%s/%s.%u", fs->dir, fs->stem, generation);
}

/* palloc'd path of a relation's block map file, with 'suffix' appended */
static char *
map_path_suffix(const AegisFileSet *fs, const char *suffix)
{
	/* the plain layout's ".map", ".map.tmp", ".map.damaged" */
	return psprintf("%s/%s%smap%s%s", fs->dir, fs->stem, fs->chunked ? "_" : ".",
					suffix[0] ? (fs->chunked ? "_" : ".") : "", suffix);
}

static char *
map_path(const AegisFileSet *fs)
{
	return map_path_suffix(fs, "");
}

/*
 * The tablespace whose directory holds the files of relation 'key' of the
 * database's default tablespace (key->spcOid 0): the one whose database
 * directory has PG_VERSION (both CREATE DATABASE strategies put it there),
 * pg_default if none does.  A process connected to the database knows it
 * (MyDatabaseTableSpace); the others (checkpointer, startup process, CREATE
 * DATABASE's copy) look.  If two directories have PG_VERSION (ALTER
 * DATABASE ... SET TABLESPACE left the old one behind, as PostgreSQL warns
 * it may, e.g. when a crash loses its unflushed record of the old
 * directory's removal and a standby never removes it), the one holding the
 * relation's PostgreSQL stub is taken (always created first, by PostgreSQL
 * where the relation is, also in redo), else the one holding its block
 * map; if that does not decide, it is an error: files put in the wrong
 * directory would be lost.
 */
#define AEGIS_MAX_DEFAULT_CANDIDATES 8

static Oid
database_default_tablespace(const AegisRelKey *key)
{
	DIR		   *dir;
	struct dirent *de;
	char	   *path;
	struct stat st;
	Oid			cand[AEGIS_MAX_DEFAULT_CANDIDATES];
	int			ncand = 0;
	Oid			chosen = InvalidOid;
	int			nchosen = 0;

	if (key->dbOid == MyDatabaseId && OidIsValid(MyDatabaseTableSpace))
		return MyDatabaseTableSpace;
	path = psprintf("base/%u/PG_VERSION", key->dbOid);
	if (stat(path, &st) == 0)
		cand[ncand++] = DEFAULTTABLESPACE_OID;
	pfree(path);
	dir = AllocateDir("pg_tblspc");
	while (dir != NULL && (de = ReadDirExtended(dir, "pg_tblspc", LOG)) != NULL)
	{
		Oid			spc;
		char		extra;

		if (sscanf(de->d_name, "%u%c", &spc, &extra) != 1)
			continue;
		path = psprintf("pg_tblspc/%u/%s/%u/PG_VERSION", spc,
						TABLESPACE_VERSION_DIRECTORY, key->dbOid);
		if (stat(path, &st) == 0 && ncand < AEGIS_MAX_DEFAULT_CANDIDATES)
			cand[ncand++] = spc;
		pfree(path);
	}
	if (dir != NULL)
		FreeDir(dir);
	if (ncand <= 1)
		return ncand == 1 ? cand[0] : DEFAULTTABLESPACE_OID;

	for (int pass = 0; pass < 2 && nchosen != 1; pass++)
	{
		nchosen = 0;
		for (int i = 0; i < ncand; i++)
		{
			char	   *dbdir = GetDatabasePath(key->dbOid, cand[i]);

			/* the stub's first segment, then the block map */
			path = pass == 0 ? psprintf("%s/%u", dbdir, key->relNumber) :
				psprintf("%s/aegis_%u_0_%u_map", dbdir, key->dbOid, key->relNumber);
			if (stat(path, &st) == 0)
			{
				chosen = cand[i];
				nchosen++;
			}
			pfree(path);
			pfree(dbdir);
		}
	}
	if (nchosen != 1)
	{
		char	   *first = GetDatabasePath(key->dbOid, cand[0]);
		char	   *second = GetDatabasePath(key->dbOid, cand[1]);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database %u has a PG_VERSION file in more than one directory, \"%s\" and \"%s\"",
						key->dbOid, first, second),
				 errdetail("Aegis cannot tell which is the database's default tablespace, where aegis relation " AEGIS_REL_KEY_FMT " keeps its files.",
						   AEGIS_REL_KEY_ARGS(key)),
				 errhint("ALTER DATABASE ... SET TABLESPACE leaves the old directory behind when it cannot remove it (it warns that \"some useless files may be left behind\"); remove the directory that is not in the database's tablespace.")));
	}
	return chosen;
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

/* A hash table of this process, keyed by bytes, for the file caches. */
static HTAB *
process_cache(const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = TopMemoryContext;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void write_file_durably(const char *path, const char *tmppath, const char *what,
							   bool chunked, const char *part1, Size len1,
							   const char *part2, Size len2, bool rename);

/* Free this process's digested dictionaries. */
static void
forget_dicts(void)
{
	HASH_SEQ_STATUS status;
	DictCacheEntry *ent;

	if (dict_cache == NULL)
		return;
	hash_seq_init(&status, dict_cache);
	while ((ent = hash_seq_search(&status)) != NULL)
		AegisBlockDictFree(ent->dict);
	hash_destroy(dict_cache);
	dict_cache = NULL;
}

/*
 * Close this process's cached files, forget where relations' files are and
 * free its dictionaries (a relfilenode dropped may be reused, with other
 * dictionaries under the same numbers).
 */
static void
forget_files(void)
{
	close_all_files();
	if (file_sets != NULL)
	{
		hash_destroy(file_sets);
		file_sets = NULL;
	}
	forget_dicts();
}

/* Drop this process's caches if any process unlinked a file since. */
static void
check_file_epoch(void)
{
	uint64		epoch;

	if (file_epoch == NULL)
		elog(ERROR, "aegis local storage used before the relation directory was attached");
	epoch = pg_atomic_read_u64(file_epoch);
	if (epoch != open_files_epoch)
	{
		forget_files();
		open_files_epoch = epoch;
	}
}

/* Tell every process to drop its caches of files and file places. */
static void
bump_file_epoch(void)
{
	pg_atomic_fetch_add_u64(file_epoch, 1);
	forget_files();
}

/*
 * Where relation 'key''s files are: the previous builds' layout if its map
 * is there, else the database directory of its tablespace.  Cached until
 * the file epoch changes (a relation's map leaves the old layout only when
 * its storage is dropped, which bumps the epoch).
 */
static const AegisFileSet *
resolve_file_set(const AegisRelKey *key)
{
	FileSetEntry *ent;
	bool		found;
	AegisFileSet fs;
	char	   *path;
	struct stat st;

	check_file_epoch();
	if (file_sets == NULL)
		file_sets = process_cache("aegis file places", sizeof(AegisRelKey),
								  sizeof(FileSetEntry));
	ent = hash_search(file_sets, key, HASH_FIND, NULL);
	if (ent != NULL)
		return &ent->fs;

	legacy_file_set(key, &fs);
	path = map_path(&fs);
	if (stat(path, &st) != 0)
	{
		Oid			spc = OidIsValid(key->spcOid) ? key->spcOid :
			database_default_tablespace(key);
		char	   *dir = GetDatabasePath(key->dbOid, spc);

		chunked_file_set(key, dir, spc, &fs);
		pfree(dir);
	}
	pfree(path);
	ent = hash_search(file_sets, key, HASH_ENTER, &found);
	ent->fs = fs;
	return &ent->fs;
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

/*
 * Make sure the directory of 'fs' exists: a database directory in a
 * tablespace is created as PostgreSQL creates it for a relation file
 * (TablespaceCreateDbspace, which in recovery also creates a dropped
 * tablespace's directory, as it does for PostgreSQL's own files).
 */
static void
ensure_file_set_directory(const AegisFileSet *fs)
{
	if (fs->chunked)
		TablespaceCreateDbspace(fs->spcOid, fs->dbOid, InRecovery);
	else
	{
		ensure_directory(aegis_data_directory, ".");
		ensure_directory(fs->dir, aegis_data_directory);
	}
}

/* Open (and cache) a data file generation; create it if 'create'. */
static OpenFileEntry *
open_data_file(const AegisRelKey *key, uint32 generation, bool create)
{
	OpenFileKey fkey;
	OpenFileEntry *ent;
	bool		found;
	const AegisFileSet *fs;
	char	   *path;
	File		file;

	if (open_files == NULL)
		open_files = process_cache("aegis open files", sizeof(OpenFileKey),
								   sizeof(OpenFileEntry));
	check_file_epoch();

	memset(&fkey, 0, sizeof(fkey));
	fkey.key = *key;
	fkey.generation = generation;
	ent = hash_search(open_files, &fkey, HASH_FIND, &found);
	if (found)
		return ent;

	/* only a file not yet open needs to know where it is */
	fs = resolve_file_set(key);
	if (create)
		ensure_file_set_directory(fs);
	path = data_path(fs, generation);
	file = PathNameOpenFile(path, O_RDWR | PG_BINARY | (create ? O_CREAT : 0));
	if (file < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis data file \"%s\": %m", path)));
	pfree(path);
	ent = hash_search(open_files, &fkey, HASH_ENTER, NULL);
	ent->file = file;
	ent->chunked = fs->chunked;
	ent->padded_to = 0;
	return ent;
}

/*
 * Extend a chunked file to whole chunks through physical offset 'end'
 * (exclusive) without touching bytes already there: fallocate, which never
 * shrinks a file nor overwrites what another process appended meanwhile.
 * It reaches ahead by a sixteenth of the file (8 kB to 1 MB), so a file
 * being appended to costs one call per stride, not one per chunk; on a
 * full disk it reaches only to the end of the chunk.  Where the file
 * system cannot fallocate, the file keeps a partial last chunk, which base
 * backups warn about and pg_checksums refuses.  Returns false with errno
 * ENOSPC if even the chunk cannot be completed.
 */
#define AEGIS_PAD_MAX_STRIDE	(1024 * 1024)

static bool
pad_chunked_file(OpenFileEntry *ent, off_t end)
{
	off_t		stride;
	off_t		from;
	off_t		to;

	if (end <= ent->padded_to)
		return true;
	stride = Min(Max(end / 16, BLCKSZ), AEGIS_PAD_MAX_STRIDE);
	from = Max(ent->padded_to, (off_t) TYPEALIGN_DOWN(BLCKSZ, end - 1));
	to = (off_t) TYPEALIGN(BLCKSZ, end + stride - BLCKSZ);
#if defined(__linux__)
	{
		int			fd = FileGetRawDesc(ent->file);	/* open: just written */

		if (fallocate(fd, 0, from, to - from) != 0)
		{
			if (errno != ENOSPC)
				return true;	/* not supported here: a partial chunk */
			to = (off_t) TYPEALIGN(BLCKSZ, end);
			if (fallocate(fd, 0, from, to - from) != 0)
				return errno != ENOSPC;
		}
	}
#endif
	ent->padded_to = to;
	return true;
}

/*
 * Write loc->length bytes of 'block' at loc->offset (logical) of the data
 * file of loc->generation, creating the file if needed, and complete its
 * last chunk.  Not fsynced (local_sync).  Raises the write error, e.g.
 * ENOSPC.
 */
static void
local_write_block(const AegisRelKey *key, AegisBlockLoc *loc, const char *block,
				  bool reserved)
{
	OpenFileEntry *ent = open_data_file(key, loc->generation, true);
	File		file = ent->file;
	bool		ok;

	errno = 0;
	ok = file_io(true, ent->chunked, file, -1, (char *) block, loc->length,
				 AegisLocFileOffset(loc)) == loc->length &&
		(!ent->chunked ||
		 pad_chunked_file(ent, chunk_physical(AegisLocFileOffset(loc) + loc->length - 1) + 1));
	if (!ok)
	{
		int			save_errno = errno ? errno : ENOSPC;
		char	   *what = AegisRelKeyDescribe(key);

		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write %u bytes at offset " UINT64_FORMAT " of aegis data file \"%s\" of %s: %m",
						loc->length, AegisLocFileOffset(loc), FilePathName(file), what)));
	}
}

/* A generation header (map_format.h) with its CRC. */
static void
fill_generation_header(AegisGenerationHeader *hdr, const AegisRelKey *key,
					   uint32 generation, BlockNumber npages, XLogRecPtr cut_lsn)
{
	pg_crc32c	crc;

	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = AEGIS_GEN_MAGIC;
	hdr->version = AEGIS_GEN_VERSION;
	hdr->key = *key;
	hdr->generation = generation;
	hdr->npages = npages;
	hdr->cut_lsn = cut_lsn;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, hdr, sizeof(*hdr));
	FIN_CRC32C(crc);
	hdr->crc = crc;
}

/*
 * AegisLocalWriteGenerationHeader
 *		Write the header of data file generation 'generation' of 'key' (a
 *		new, empty one) at its offset 0: the relation's last cut
 *		('cut_lsn', a PostgreSQL LSN) and its pages then ('npages'), for a
 *		map rebuilt from the data files (map_format.h).  Returns its length
 *		in bytes, where the blocks start.  Not fsynced.  Raises the write
 *		error, e.g. ENOSPC (ERRCODE_DISK_FULL).
 */
uint64
AegisLocalWriteGenerationHeader(const AegisRelKey *key, uint32 generation,
								BlockNumber npages, XLogRecPtr cut_lsn)
{
	AegisGenerationHeader hdr;
	AegisBlockLoc loc;

	fill_generation_header(&hdr, key, generation, npages, cut_lsn);
	memset(&loc, 0, sizeof(loc));
	loc.generation = generation;
	loc.offset = 0;
	loc.length = sizeof(hdr);
	local_write_block(key, &loc, (const char *) &hdr, false);
	return sizeof(hdr);
}

/*
 * Read the block 'loc' names into 'block' (loc->length bytes).  A short
 * read is corruption: the map names bytes the file does not have.
 */
static void
local_read_block(const AegisRelKey *key, const AegisBlockLoc *loc, char *block)
{
	OpenFileEntry *ent = open_data_file(key, loc->generation, false);
	File		file = ent->file;
	Size		n;

	errno = 0;
	n = file_io(false, ent->chunked, file, -1, block, loc->length, AegisLocFileOffset(loc));
	if (n != loc->length)
	{
		int			save_errno = errno;
		char	   *what = AegisRelKeyDescribe(key);

		errno = save_errno;
		if (save_errno != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read aegis data file \"%s\" of %s: %m", FilePathName(file), what)));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis data file \"%s\" of %s is truncated: read %d of %u bytes at offset " UINT64_FORMAT,
						FilePathName(file), what, (int) n, loc->length, AegisLocFileOffset(loc)),
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
	char	   *path = data_path(resolve_file_set(key), generation);
	struct stat st;

	if (stat(path, &st) == 0)
	{
		File		file = open_data_file(key, generation, false)->file;

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
	char	   *path = data_path(resolve_file_set(key), generation);

	/* other processes close their cached files of it */
	bump_file_epoch();
	if (truncate(path, 0) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not truncate aegis file \"%s\": %m", path)));
	unlink_path(path);
	pfree(path);
}

/* palloc'd path of dictionary 'id' of a relation, "_tmp" appended if 'tmp' */
static char *
dict_path(const AegisFileSet *fs, uint16 id, bool tmp)
{
	return psprintf("%s/%s_dict%u%s", fs->dir, fs->stem, id, tmp ? "_tmp" : "");
}

/*
 * Count the dictionaries of the relation in file set 'fs' (numbered 1..n
 * without gaps) and their file bytes; -1 for the previous builds' layout,
 * which has none.
 */
static int
count_dicts(const AegisFileSet *fs, uint64 *bytes)
{
	int			n = 0;

	*bytes = 0;
	if (!fs->chunked)
		return -1;
	for (;;)
	{
		char	   *path = dict_path(fs, n + 1, false);
		struct stat st;
		bool		exists = stat(path, &st) == 0;

		pfree(path);
		if (!exists)
			break;
		*bytes += st.st_size;
		n++;
	}
	return n;
}

/*
 * AegisLocalCountDicts
 *		How many compression dictionaries relation 'key' has (they are
 *		numbered 1..n), and their file bytes in *bytes; -1 if its files are
 *		in the previous builds' layout, which has none.  A few stat calls.
 */
int
AegisLocalCountDicts(const AegisRelKey *key, uint64 *bytes)
{
	return count_dicts(resolve_file_set(key), bytes);
}

/*
 * AegisLocalPrepareDict
 *		Write compression dictionary 'id' of relation 'key' ('len' bytes) to
 *		its temp file, fsynced, and fill *file with its paths;
 *		AegisLocalInstallDict renames it into place, AegisLocalDiscardDict
 *		removes it.  Relations in the previous builds' layout have no
 *		dictionaries (AegisLocalCountDicts: -1): an error.  Splitting the two lets the caller
 *		WAL-log the dictionary between them, with nothing but a rename left
 *		that can fail afterwards (src/wal/wal_dict.c).  Raises the I/O
 *		error (ENOSPC as ERRCODE_DISK_FULL); the caller discards then.
 */
void
AegisLocalPrepareDict(const AegisRelKey *key, uint16 id, const char *bytes, uint32 len,
					  AegisDictFile *file)
{
	const AegisFileSet *fs = resolve_file_set(key);
	AegisDictFileHeader hdr;
	pg_crc32c	crc;

	if (!fs->chunked)
		elog(ERROR, "aegis relation " AEGIS_REL_KEY_FMT " has no compression dictionaries",
			 AEGIS_REL_KEY_ARGS(key));
	ensure_file_set_directory(fs);
	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = AEGIS_DICT_MAGIC;
	hdr.version = AEGIS_DICT_VERSION;
	hdr.id = id;
	hdr.key = *key;
	hdr.length = len;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &hdr, sizeof(hdr));
	COMP_CRC32C(crc, bytes, len);
	FIN_CRC32C(crc);
	hdr.crc = crc;
	snprintf(file->path, sizeof(file->path), "%s/%s_dict%u", fs->dir, fs->stem, id);
	snprintf(file->tmppath, sizeof(file->tmppath), "%s_tmp", file->path);
	write_file_durably(NULL, file->tmppath, "aegis compression dictionary", true,
					   (const char *) &hdr, sizeof(hdr), bytes, len, false);
}

/*
 * AegisLocalInstallDict
 *		Rename the temp file AegisLocalPrepareDict wrote into place, durably
 *		(durable_rename: the file, then its directory, fsynced).  Allocates
 *		no memory, so it may run in a critical section, where a failure is
 *		a PANIC (as PostgreSQL's relation mapper writes its map file).
 */
void
AegisLocalInstallDict(const AegisDictFile *file)
{
	(void) durable_rename(file->tmppath, file->path, ERROR);
}

/* AegisLocalDiscardDict: remove the temp file of a prepared dictionary, if any. */
void
AegisLocalDiscardDict(const AegisDictFile *file)
{
	unlink_path(file->tmppath);
}

/* Read and verify dictionary 'id' of 'key' from 'path'; NULL on any fault. */
static AegisBlockDict *
read_dict(const AegisRelKey *key, uint16 id, const char *path, const char **why)
{
	AegisDictFileHeader hdr;
	struct stat st;
	char	   *buf;
	Size		len;
	int			fd;
	pg_crc32c	crc;
	pg_crc32c	expected;
	AegisBlockDict *dict = NULL;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
		{
			*why = "the file is missing";
			return NULL;
		}
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis compression dictionary \"%s\": %m", path)));
	}
	if (fstat(fd, &st) != 0 || st.st_size % BLCKSZ != 0 ||
		st.st_size > (off_t) chunked_file_size(sizeof(hdr) + AEGIS_DICT_MAX_SIZE))
	{
		CloseTransientFile(fd);
		*why = "the file has an impossible length";
		return NULL;
	}
	len = (Size) (st.st_size / BLCKSZ) * AEGIS_CHUNK_PAYLOAD;
	buf = palloc(Max(len, 1));
	errno = 0;
	if (file_io(false, true, -1, fd, buf, len, 0) != len)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read aegis compression dictionary \"%s\": %m", path)));
	}
	CloseTransientFile(fd);
	*why = "its header or checksum is wrong";
	if (len >= sizeof(hdr))
	{
		memcpy(&hdr, buf, sizeof(hdr));
		expected = hdr.crc;
		hdr.crc = 0;
		if (hdr.magic == AEGIS_DICT_MAGIC && hdr.version == AEGIS_DICT_VERSION &&
			hdr.id == id && memcmp(&hdr.key, key, sizeof(AegisRelKey)) == 0 &&
			hdr.length > 0 && hdr.length <= AEGIS_DICT_MAX_SIZE &&
			sizeof(hdr) + hdr.length <= len)
		{
			INIT_CRC32C(crc);
			COMP_CRC32C(crc, &hdr, sizeof(hdr));
			COMP_CRC32C(crc, buf + sizeof(hdr), hdr.length);
			FIN_CRC32C(crc);
			if (EQ_CRC32C(crc, expected))
			{
				dict = AegisBlockDictCreate(buf + sizeof(hdr), hdr.length, id);
				if (dict == NULL)
					*why = "it is not a zstd dictionary, or memory ran out";
			}
		}
	}
	pfree(buf);
	return dict;
}

/*
 * AegisLocalGetDict
 *		Compression dictionary 'id' of relation 'key', read and digested on
 *		first use and kept by this process (up to DICT_CACHE_SIZE; dropped
 *		whenever any process unlinks an aegis file).  Valid until the next
 *		call into this file.  A dictionary that is missing or damaged makes
 *		every block compressed with it unreadable: raised as
 *		ERRCODE_DATA_CORRUPTED naming the file, or with 'missing_ok' (a
 *		writer, which can do without) reported once as a WARNING and NULL
 *		returned.
 */
const AegisBlockDict *
AegisLocalGetDict(const AegisRelKey *key, uint16 id, bool missing_ok)
{
	DictCacheKey dkey;
	DictCacheEntry *ent;
	AegisBlockDict *dict;
	const char *why = NULL;
	char	   *path;
	bool		found;

	check_file_epoch();
	memset(&dkey, 0, sizeof(dkey));
	dkey.key = *key;
	dkey.id = id;
	if (dict_cache != NULL)
	{
		ent = hash_search(dict_cache, &dkey, HASH_FIND, NULL);
		if (ent != NULL && (ent->dict != NULL || missing_ok))
		{
			ent->last_use = ++dict_cache_clock;
			return ent->dict;
		}
	}
	path = dict_path(resolve_file_set(key), id, false);
	dict = read_dict(key, id, path, &why);
	if (dict == NULL)
	{
		char	   *what = AegisRelKeyDescribe(key);

		ereport(missing_ok ? WARNING : ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("aegis compression dictionary %u of %s is not usable: %s", id, what, why),
				 errdetail("Blocks of the table compressed with it cannot be read; the file is \"%s\".", path),
				 errhint("Restore the table from a backup.")));
	}
	pfree(path);
	if (dict_cache == NULL)
		dict_cache = process_cache("aegis compression dictionaries", sizeof(DictCacheKey),
								   sizeof(DictCacheEntry));
	if (hash_get_num_entries(dict_cache) >= DICT_CACHE_SIZE)
	{
		HASH_SEQ_STATUS status;
		DictCacheEntry *oldest = NULL;

		hash_seq_init(&status, dict_cache);
		while ((ent = hash_seq_search(&status)) != NULL)
			if (oldest == NULL || ent->last_use < oldest->last_use)
				oldest = ent;
		AegisBlockDictFree(oldest->dict);
		hash_search(dict_cache, &oldest->key, HASH_REMOVE, NULL);
	}
	/* with missing_ok, the failure is kept: one WARNING per process */
	ent = hash_search(dict_cache, &dkey, HASH_ENTER, &found);
	ent->dict = dict;
	ent->last_use = ++dict_cache_clock;
	return dict;
}

/*
 * AegisLocalDictLookup: AegisLocalGetDict for AegisBlockDecode (an
 * AegisDictLookup): a dictionary that cannot be read is an error.
 */
const AegisBlockDict *
AegisLocalDictLookup(const AegisRelKey *key, uint16 id)
{
	return AegisLocalGetDict(key, id, false);
}

/*
 * AegisLocalUnlinkMap: remove a relation's compression dictionaries, then
 * its block map, and a temp or damaged map beside it; WARNING on failure.
 * Every process then forgets where the relation's files were.
 */
void
AegisLocalUnlinkMap(const AegisRelKey *key)
{
	const AegisFileSet *fs = resolve_file_set(key);
	char	   *path = map_path(fs);
	char	   *tmp = map_path_suffix(fs, "tmp");
	char	   *damaged = map_path_suffix(fs, "damaged");
	uint64		dict_bytes;
	int			ndicts = count_dicts(fs, &dict_bytes);

	/* the dictionaries, highest first: the numbers stay without gaps */
	if (fs->chunked)
	{
		for (int id = ndicts + 1; id >= 1; id--)
		{
			char	   *dpath = dict_path(fs, id, true);

			unlink_path(dpath);
			pfree(dpath);
			if (id <= ndicts)
			{
				dpath = dict_path(fs, id, false);
				unlink_path(dpath);
				pfree(dpath);
			}
		}
	}
	/* a temp file a failed write left, a damaged map kept for inspection */
	unlink_path(tmp);
	unlink_path(damaged);
	unlink_path(path);
	bump_file_epoch();
	pfree(damaged);
	pfree(tmp);
	pfree(path);
}

/*
 * Call 'fn' for every existing database directory of database 'dbOid'
 * (base/<db> and pg_tblspc/<spc>/PG_15_<cat>/<db>).
 */
static void
foreach_database_directory(Oid dbOid, void (*fn) (const char *dir, Oid dbOid))
{
	DIR		   *dir;
	struct dirent *de;
	struct stat st;
	char	   *path = GetDatabasePath(dbOid, DEFAULTTABLESPACE_OID);

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		fn(path, dbOid);
	pfree(path);
	dir = AllocateDir("pg_tblspc");
	while (dir != NULL && (de = ReadDir(dir, "pg_tblspc")) != NULL)
	{
		Oid			spc;
		char		extra;

		if (sscanf(de->d_name, "%u%c", &spc, &extra) != 1)
			continue;
		path = GetDatabasePath(dbOid, spc);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			fn(path, dbOid);
		pfree(path);
	}
	if (dir != NULL)
		FreeDir(dir);
}

/*
 * Unlink the aegis files in database directory 'dbdir': with 'foreign',
 * those named for another database than 'dbOid' (copied by CREATE
 * DATABASE ... STRATEGY FILE_COPY, which copies a template's files as
 * they are); else those of 'dbOid'.
 */
static void
remove_aegis_files(const char *dbdir, Oid dbOid, bool foreign)
{
	DIR		   *dir = AllocateDir(dbdir);
	struct dirent *de;
	bool		removed = false;

	while (dir != NULL && (de = ReadDir(dir, dbdir)) != NULL)
	{
		Oid			db;
		Oid			spc;
		Oid			rel;
		char		rest[16];

		/* the names load_database_directory knows */
		if (sscanf(de->d_name, "aegis_%u_%u_%u%15s", &db, &spc, &rel, rest) != 4 ||
			(db != dbOid) != foreign)
			continue;
		{
			char	   *path = psprintf("%s/%s", dbdir, de->d_name);

			elog(DEBUG1, "removing aegis file \"%s\"", path);
			unlink_path(path);
			pfree(path);
			removed = true;
		}
	}
	if (dir != NULL)
		FreeDir(dir);
	if (removed)
		fsync_fname(dbdir, true);
}

static void
remove_foreign_files(const char *dbdir, Oid dbOid)
{
	remove_aegis_files(dbdir, dbOid, true);
}

static void
remove_own_files(const char *dbdir, Oid dbOid)
{
	remove_aegis_files(dbdir, dbOid, false);
	/* PostgreSQL removed the directory; a sync meanwhile may have made it again */
	if (rmdir(dbdir) == 0)
		elog(DEBUG1, "removed empty database directory \"%s\"", dbdir);
}

/*
 * AegisLocalCleanDatabaseCopy
 *		Remove from every directory of database 'dbOid' the aegis files of
 *		other databases: CREATE DATABASE ... STRATEGY FILE_COPY copied the
 *		template's, which are not this database's storage (that is copied
 *		page by page, AegisCopyDatabaseStorage).  Called by CREATE DATABASE
 *		and by the redo of its copy (checkpoint_rmgr.c, aegis_dbase_redo).
 *		WARNING on an unlink failure.
 */
void
AegisLocalCleanDatabaseCopy(Oid dbOid)
{
	foreach_database_directory(dbOid, remove_foreign_files);
}

/*
 * AegisLocalRemoveDatabase: remove every aegis file of database 'dbOid' (DROP
 * DATABASE; PostgreSQL has removed its database directories already, except
 * in the cases where it warns that it left files behind) and its directory
 * of the previous builds' layout.
 */
void
AegisLocalRemoveDatabase(Oid dbOid)
{
	char	   *dbdir = psprintf("%s/%u", aegis_data_directory, dbOid);
	struct stat st;

	bump_file_epoch();
	if (stat(dbdir, &st) == 0 && !rmtree(dbdir, true))
		ereport(WARNING,
				(errmsg("could not remove aegis directory \"%s\"", dbdir)));
	pfree(dbdir);
	foreach_database_directory(dbOid, remove_own_files);
}

/*
 * Rename 'tmppath', written and fsynced by write_file_durably, over 'path'
 * and fsync their directory: the rename is then durable, and a crash
 * before that leaves the old file or the new one, each complete.  This is
 * durable_rename without its fsyncs of the file before (ours is fsynced
 * already) and after the rename, and of the file it replaces (a map made
 * durable when it was written): a checkpoint that syncs many relations
 * pays two fsyncs per map (the file, its directory) instead of five.
 * Raises the error (an fsync failure as data_sync_elevel, a PANIC by
 * default).
 */
static void
rename_durably(const char *tmppath, const char *path)
{
	char		dir[MAXPGPATH];

	if (rename(tmppath, path) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m", tmppath, path)));
	strlcpy(dir, path, sizeof(dir));
	get_parent_directory(dir);
	fsync_fname(dir[0] != '\0' ? dir : ".", true);
}

/*
 * Replace the file 'path' with part1 then part2 (len1 + len2 bytes; part2
 * may be NULL), chunked if 'chunked': written to 'tmppath', fsynced, then
 * renamed durably (rename_durably), so the file on disk is always
 * complete; without 'rename' the caller renames it.  'what' names the file in messages.
 * Raises the I/O error (an fsync failure as data_sync_elevel); the old file
 * stays valid then.
 */
static void
write_file_durably(const char *path, const char *tmppath, const char *what,
				   bool chunked, const char *part1, Size len1,
				   const char *part2, Size len2, bool rename)
{
	int			fd;
	bool		ok;

	fd = OpenTransientFile(tmppath, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create %s \"%s\": %m", what, tmppath)));
	errno = 0;
	ok = file_io(true, chunked, -1, fd, (char *) part1, len1, 0) == len1 &&
		(len2 == 0 || file_io(true, chunked, -1, fd, (char *) part2, len2, len1) == len2);
	/* pad the last chunk */
	if (ok && chunked && ftruncate(fd, (off_t) chunked_file_size(len1 + len2)) != 0)
		ok = false;
	if (!ok)
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
	if (rename)
		rename_durably(tmppath, path);
}

/* Durably write the block map of 'key' into file set 'fs' (AegisLocalWriteMap). */
static void
write_map(const AegisFileSet *fs, const AegisRelKey *key, const AegisRelInfo *info,
		  uint32 generation, uint64 file_end, const AegisBlockLoc *map)
{
	AegisMapFileHeader hdr;
	char	   *path = map_path(fs);
	char	   *tmppath = map_path_suffix(fs, "tmp");
	Size		maplen = (Size) info->npages * sizeof(AegisBlockLoc);
	pg_crc32c	crc;

	ensure_file_set_directory(fs);

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = AEGIS_MAP_MAGIC;
	/* version 4 while no block has group or pending bits: older builds read it */
	hdr.version = AEGIS_MAP_VERSION_PLAIN;
	for (BlockNumber p = 0; p < info->npages; p++)
		if (map[p].length > 0 && (map[p].offset & ~AEGIS_LOC_MAX_OFFSET) != 0)
		{
			hdr.version = AEGIS_MAP_VERSION;
			break;
		}
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

	write_file_durably(path, tmppath, "aegis block map", fs->chunked,
					   (const char *) &hdr, sizeof(hdr), (const char *) map, maplen, true);
	pfree(tmppath);
	pfree(path);
}

/*
 * AegisLocalWriteMap
 *		Durably replace a relation's block map file with 'map' (info->npages
 *		entries; may be NULL when there are none): temp file, fsync,
 *		rename, fsync of the directory.  Raises the I/O error; the old map
 *		stays valid then.
 */
void
AegisLocalWriteMap(const AegisRelKey *key, const AegisRelInfo *info,
				   uint32 generation, uint64 file_end, const AegisBlockLoc *map)
{
	write_map(resolve_file_set(key), key, info, generation, file_end, map);
}

/*
 * Read and verify one map file; false if it is invalid.  On success, fill
 * *info and *generation and, with 'enter', enter the relation into the
 * directory.
 */
static bool
load_map(const char *path, bool chunked, bool enter, AegisRelInfo *info_out,
		 uint32 *generation)
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
		(uint64) st.st_size <= chunked_file_size(AEGIS_MAP_MAX_FILE_SIZE))
	{
		/* the content: the whole file, or the payloads of its chunks */
		Size		len = chunked ? (Size) (st.st_size / BLCKSZ) * AEGIS_CHUNK_PAYLOAD :
			(Size) st.st_size;

		buf = palloc_extended(Max(len, 1), MCXT_ALLOC_HUGE);
		errno = 0;
		ok = file_io(false, chunked, -1, fd, buf, len, 0) == len &&
			AegisMapParse(buf, len, &hdr, &entries);
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
	/* temporary storage does not outlive a server start: not entered */
	if (enter && info.persistence != RELPERSISTENCE_TEMP)
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
	List	   *dicts;			/* dictionary files present (numbers) */
} RelFiles;

/* The newest valid block found so far for one page, while rebuilding. */
typedef struct RebuildSlot
{
	uint64		lsn;
	uint32		generation;
	uint64		offset;			/* file offset of the block */
	uint32		length;			/* 0: no block found */
	uint8		member;			/* a group block: the page's index in it */
	uint8		nmembers;		/* a group block: its members, else 0 */
} RebuildSlot;

#define REBUILD_CHUNK	(4 * 1024 * 1024)

/*
 * Read 'fd' (chunked or not) from logical offset 'pos' into buf, up to 'len'
 * bytes or the end of the file; bytes read.
 */
static Size
read_at(int fd, bool chunked, char *buf, Size len, uint64 pos, const char *path)
{
	Size		got;

	errno = 0;
	got = file_io(false, chunked, -1, fd, buf, len, pos);
	if (got < len && errno != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read aegis data file \"%s\": %m", path)));
	return got;
}

/*
 * Find every valid block of relation 'key' in data file generation 'gen'
 * and keep, per page, the newest one (highest page LSN; on a tie the later
 * generation and offset, i.e. the later copy).  Bytes that are not a valid
 * block (a write cut short, a damaged block) are skipped by looking for
 * the next block header.  Grows *slots / *nslots as pages appear; fills
 * *info's codec, level and persistence from the newest block that has them;
 * keeps in *gen_hdr the generation header of the newest generation that has
 * one (magic 0 while none).
 */
static void
scan_generation(const AegisFileSet *fs, const AegisRelKey *key, uint32 gen,
				RebuildSlot **slots, BlockNumber *nslots, AegisRelInfo *info,
				uint64 *info_lsn, uint64 *nblocks, AegisGenerationHeader *gen_hdr)
{
	char	   *path = data_path(fs, gen);
	char	   *buf = palloc(REBUILD_CHUNK);
	uint64		base = 0;		/* logical offset of buf[0] */
	Size		have;
	int			fd;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open aegis data file \"%s\": %m", path)));
	have = read_at(fd, fs->chunked, buf, REBUILD_CHUNK, base, path);
	{
		AegisGenerationHeader h;

		/* the newest generation's header (written by this build) */
		if (AegisGenerationHeaderParse(buf, have, &h) &&
			memcmp(&h.key, key, sizeof(AegisRelKey)) == 0 && h.generation == gen &&
			(gen_hdr->magic == 0 || h.generation > gen_hdr->generation))
			*gen_hdr = h;
	}
	while (have > 0)
	{
		Size		pos = 0;
		bool		eof = have < REBUILD_CHUNK;

		/* a block is at most AEGIS_GROUP_MAX_SIZE bytes: keep that in view */
		while (pos < have && (eof || have - pos >= AEGIS_GROUP_MAX_SIZE))
		{
			AegisBlockIdentity id;
			int			nm;

			if (!AegisBlockCheck(buf + pos, have - pos, &id) ||
				memcmp(&id.key, key, sizeof(AegisRelKey)) != 0 ||
				id.pageno >= MaxBlockNumber)
			{
				pos++;
				continue;
			}
			/* a page's block, or each member of a group block */
			nm = Max(id.nmembers, 1);
			for (int i = 0; i < nm; i++)
			{
				BlockNumber pageno = id.nmembers > 0 ? id.member_pageno[i] : id.pageno;
				uint64		lsn = id.nmembers > 0 ? id.member_lsn[i] : id.lsn;
				RebuildSlot *slot;

				if (pageno >= *nslots)
				{
					BlockNumber newn = Max(pageno + 1, *nslots * 2);

					*slots = repalloc_huge(*slots, (Size) newn * sizeof(RebuildSlot));
					memset(*slots + *nslots, 0, (Size) (newn - *nslots) * sizeof(RebuildSlot));
					*nslots = newn;
				}
				slot = &(*slots)[pageno];
				if (slot->length == 0 || lsn > slot->lsn ||
					(lsn == slot->lsn &&
					 (gen > slot->generation ||
					  (gen == slot->generation && base + pos > slot->offset))))
				{
					slot->lsn = lsn;
					slot->generation = gen;
					slot->offset = base + pos;
					slot->length = id.length;
					slot->member = (uint8) i;
					slot->nmembers = (uint8) id.nmembers;
				}
				if (pageno + 1 > info->npages)
					info->npages = pageno + 1;
			}
			if (id.has_rel_info && id.lsn >= *info_lsn)
			{
				*info_lsn = id.lsn;
				info->codec = id.rel_codec;
				info->level = id.rel_level;
				info->persistence = id.rel_persistence;
			}
			(*nblocks)++;
			pos += id.length;
		}
		if (eof)
			break;
		base += pos;
		have = read_at(fd, fs->chunked, buf, REBUILD_CHUNK, base, path);
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
 * a WARNING; in a restored base backup ('restore') in a LOG message, since
 * a map written while the backup copied the directory (storage made, or
 * a map rewritten, during it) is missing or torn there by design, as
 * PostgreSQL's torn pages are, and replay makes the pages right.
 */
static void
rebuild_map(const AegisFileSet *fs, const AegisRelKey *key, List *generations,
			RebuildReason why, bool restore, const AegisRelInfo *from_map,
			uint32 from_map_generation)
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
	AegisGenerationHeader gen_hdr;
	BlockNumber known_npages = 0;
	bool		known = false;
	char	   *mpath = map_path(fs);
	char	   *damaged_path;
	char	   *newpath;
	char	   *block = palloc(AEGIS_GROUP_MAX_SIZE);
	int			out;
	ListCell   *lc;

	memset(&info, 0, sizeof(info));
	info.key = *key;
	info.storage = AEGIS_STORAGE_LOCAL;
	info.codec = AEGIS_CODEC_NONE;
	info.persistence = RELPERSISTENCE_PERMANENT;
	slots = palloc_extended((Size) nslots * sizeof(RebuildSlot), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	memset(&gen_hdr, 0, sizeof(gen_hdr));
	foreach(lc, generations)
	{
		uint32		gen = (uint32) lfirst_oid(lc);

		scan_generation(fs, key, gen, &slots, &nslots, &info, &info_lsn, &nblocks,
						&gen_hdr);
		newgen = Max(newgen, gen + 1);
	}
	if (from_map == NULL && info.persistence == RELPERSISTENCE_TEMP)
	{
		/* temporary storage does not outlive a server start (load) */
		foreach(lc, generations)
		{
			char	   *old = data_path(fs, (uint32) lfirst_oid(lc));

			unlink_path(old);
			pfree(old);
		}
		unlink_path(mpath);
		pfree(mpath);
		pfree(slots);
		return;
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
		known_npages = from_map->npages;
		known = true;
	}
	else if (gen_hdr.magic != 0)
	{
		/*
		 * No map: the newest generation's header tells the last cut before
		 * it was written, and the pages then (compaction left the cut
		 * pages' blocks out, so the blocks cannot tell).
		 */
		info.cut_lsn = gen_hdr.cut_lsn;
		known_npages = gen_hdr.npages;
		known = true;
	}
	if (known)
	{
		/*
		 * A block of a page past the map, older than the cut, is of a page
		 * the cut removed (VACUUM wrote it back as a new page first): leave
		 * it out, the page does not exist.
		 */
		if (info.npages > known_npages)
		{
			BlockNumber keep = known_npages;

			for (BlockNumber p = known_npages; p < info.npages; p++)
			{
				if (slots[p].length > 0 && slots[p].lsn < info.cut_lsn)
					memset(&slots[p], 0, sizeof(RebuildSlot));
				else if (slots[p].length > 0)
					keep = p + 1;
			}
			info.npages = keep;
		}

		/*
		 * A valid map's pages stand, blockless ones too.  Without one, the
		 * pages past the last one with a block are left out: they had no
		 * block when the header was written, their records before the cut
		 * are then skipped as records of cut pages, and those after it add
		 * them again.
		 */
		if (from_map != NULL)
			info.npages = Max(info.npages, known_npages);
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
		write_map(fs, key, &info, 1, 0, NULL);
		map_enter(&info, 1, 0, NULL);
		pfree(mpath);
		pfree(slots);
		return;
	}
	if (newgen == 0)
		newgen = from_map ? from_map_generation + 1 : 1;

	/* copy the newest block of each page into the new generation */
	map = palloc_extended(Max((Size) info.npages, 1) * sizeof(AegisBlockLoc), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	newpath = data_path(fs, newgen);
	out = OpenTransientFile(newpath, O_RDWR | O_CREAT | O_TRUNC | PG_BINARY);
	if (out < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create aegis data file \"%s\": %m", newpath)));
	PG_TRY();
	{
		AegisGenerationHeader h;

		/* the new generation's header: the cut it knows, as compaction's */
		fill_generation_header(&h, key, newgen, info.npages, info.cut_lsn);
		errno = 0;
		if (file_io(true, fs->chunked, -1, out, (char *) &h, sizeof(h), 0) != sizeof(h))
		{
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write aegis data file \"%s\": %m", newpath)));
		}
		off = sizeof(h);
		for (BlockNumber p = 0; p < info.npages; p++)
		{
			RebuildSlot *slot = &slots[p];
			char	   *src;
			int			in;

			if (slot->length == 0)
				continue;
			if (slot->nmembers > 0)
			{
				/* a group copied already (for an earlier member): point at it */
				BlockNumber q = p;

				while (q > 0 && p - q < AEGIS_GROUP_MAX_PAGES)
				{
					q--;
					if (slots[q].length == slot->length && slots[q].nmembers > 0 &&
						slots[q].generation == slot->generation &&
						slots[q].offset == slot->offset)
						break;
				}
				if (q < p && slots[q].length == slot->length && slots[q].nmembers > 0 &&
					slots[q].generation == slot->generation && slots[q].offset == slot->offset)
				{
					map[p].offset = AegisLocGroupOffset(AegisLocFileOffset(&map[q]),
														slot->member, slot->nmembers);
					map[p].length = slot->length;
					map[p].generation = newgen;
					stored++;
					continue;
				}
			}
			src = data_path(fs, slot->generation);
			in = OpenTransientFile(src, O_RDONLY | PG_BINARY);
			if (in < 0 || read_at(in, fs->chunked, block, slot->length, slot->offset, src) != slot->length)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read aegis data file \"%s\": %m", src)));
			CloseTransientFile(in);
			pfree(src);
			errno = 0;
			if (file_io(true, fs->chunked, -1, out, block, slot->length, off) != slot->length)
			{
				if (errno == 0)
					errno = ENOSPC;
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write aegis data file \"%s\": %m", newpath)));
			}
			map[p].offset = slot->nmembers > 0 ?
				AegisLocGroupOffset(off, slot->member, slot->nmembers) : off;
			map[p].length = slot->length;
			map[p].generation = newgen;
			off += slot->length;
			stored++;
		}
		/* whole chunks (one process writes this file: ftruncate is safe) */
		if (fs->chunked && ftruncate(out, (off_t) chunked_file_size(off)) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write aegis data file \"%s\": %m", newpath)));
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
	damaged_path = map_path_suffix(fs, "damaged");
	if (map_seen)
		(void) durable_rename(mpath, damaged_path, ERROR);
	write_map(fs, key, &info, newgen, off, map);

	/* only now may the old generations go */
	foreach(lc, generations)
	{
		char	   *old = data_path(fs, (uint32) lfirst_oid(lc));

		unlink_path(old);
		pfree(old);
	}
	map_enter(&info, newgen, off, map);

	if (why == REBUILD_RESTORE)
		ereport(DEBUG1,
				(errmsg("aegis block map \"%s\" rebuilt from the data files: %u pages",
						mpath, info.npages)));
	else
	ereport(restore ? LOG : WARNING,
			(restore ? 0 : errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("aegis block map \"%s\" was %s; rebuilt it from the data files of relation " AEGIS_REL_KEY_FMT,
					mpath, map_seen ? "invalid" : "missing", AEGIS_REL_KEY_ARGS(key)),
			 errdetail("%u pages, " UINT64_FORMAT " of them with a block, from " UINT64_FORMAT " valid blocks in %d data files; the newest block of each page was kept.%s",
					   info.npages, stored, nblocks, list_length(generations),
					   map_seen ? psprintf(" The damaged map was kept as \"%s\".", damaged_path) : ""),
			 restore ? 0 :
			 errhint("Check the table: the relation key is tablespace/database/relfilenode, and pg_filenode_relation() names it.")));
	pfree(newpath);
	pfree(mpath);
	pfree(map);
	pfree(slots);
}

/*
 * Load the maps of one database directory: 'dbdir' of database 'dbOid', in
 * tablespace 'spcOid' with the chunked layout, or the previous builds'
 * directory ('chunked' false).  Data files of generations a valid map does
 * not name (written after the last checkpoint, or left by compaction),
 * temp files and files of other databases (a FILE_COPY copy of a
 * template's) are removed.  A relation whose map is damaged or missing
 * while data files exist gets its map rebuilt from them (rebuild_map): a
 * data file is never removed on the word of a map that cannot be read.
 */
/* The files found so far of relation (tablespace, relfilenode) 'k'. */
static RelFiles *
rel_files(HTAB *rels, const Oid *k)
{
	bool		found;
	RelFiles   *rf = hash_search(rels, k, HASH_ENTER, &found);

	if (!found)
	{
		rf->generations = NIL;
		rf->dicts = NIL;
		rf->map_seen = false;
		rf->map_valid = false;
	}
	return rf;
}

static void
load_database_directory(const char *dbdir, Oid dbOid, Oid spcOid, bool chunked,
						bool rebuild)
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
	if (dir == NULL && errno == ENOENT)
	{
		hash_destroy(rels);
		return;					/* dropped meanwhile */
	}
	while ((de = ReadDir(dir, dbdir)) != NULL)
	{
		Oid			k[2];
		Oid			db = dbOid;
		char		rest[16];
		uint32		gen;
		char		extra;
		bool		is_map = false;
		bool		is_temp = false;
		bool		is_data = false;
		bool		is_dict = false;
		char	   *path = psprintf("%s/%s", dbdir, de->d_name);

		if (chunked)
		{
			if (sscanf(de->d_name, "aegis_%u_%u_%u%15s", &db, &k[0], &k[1], rest) != 4)
			{
				pfree(path);
				continue;
			}
			is_map = strcmp(rest, "_map") == 0;
			is_data = sscanf(rest, ".%u%c", &gen, &extra) == 1;
			is_dict = sscanf(rest, "_dict%u%c", &gen, &extra) == 1 &&
				gen >= 1 && gen <= PG_UINT16_MAX;
			/* a map or dictionary a crash left half-written */
			is_temp = strcmp(rest, "_map_tmp") == 0 ||
				(sscanf(rest, "_dict%u%c", &gen, &extra) == 2 &&
				 strcmp(rest + strlen(rest) - 4, "_tmp") == 0);
		}
		else
		{
			if (sscanf(de->d_name, "%u_%u.%15s", &k[0], &k[1], rest) != 3)
			{
				pfree(path);
				continue;
			}
			is_map = strcmp(rest, "map") == 0;
			is_temp = strcmp(rest, "map.tmp") == 0;
			is_data = sscanf(rest, "%u%c", &gen, &extra) == 1;
		}
		if (db != dbOid)
		{
			/*
			 * A template's file copied by FILE_COPY.  Only the startup
			 * process removes it here: in a backend, a CREATE DATABASE may
			 * be copying it right now (it removes the copies itself).
			 */
			if (InRecovery)
			{
				elog(DEBUG1, "removing aegis file \"%s\" of another database", path);
				unlink_path(path);
			}
		}
		else if (is_temp)
		{
			elog(DEBUG1, "removing unreferenced aegis file \"%s\"", path);
			unlink_path(path);
		}
		else if (is_map)
		{
			rf = rel_files(rels, k);
			rf->map_seen = true;
			rf->map_valid = load_map(path, chunked, !rebuild, &rf->map_info,
									 &rf->map_generation);
		}
		else if (is_data)
		{
			rf = rel_files(rels, k);
			rf->generations = lappend_oid(rf->generations, (Oid) gen);
		}
		else if (is_dict)
		{
			rf = rel_files(rels, k);
			rf->dicts = lappend_oid(rf->dicts, (Oid) gen);
		}
		pfree(path);
	}
	FreeDir(dir);

	hash_seq_init(&status, rels);
	while ((rf = hash_seq_search(&status)) != NULL)
	{
		AegisRelKey key;
		AegisFileSet fs;
		ListCell   *lc;

		key.spcOid = rf->spcOid;
		key.dbOid = dbOid;
		key.relNumber = rf->relNumber;
		if (chunked)
			chunked_file_set(&key, dbdir, spcOid, &fs);
		else
			legacy_file_set(&key, &fs);
		if ((!rf->map_seen && rf->generations == NIL) ||
			(rf->map_valid && rf->map_info.persistence == RELPERSISTENCE_TEMP))
		{
			/* dictionaries of storage that is gone (a crash during its drop) */
			foreach(lc, rf->dicts)
			{
				char	   *path = dict_path(&fs, (uint16) lfirst_oid(lc), false);

				elog(DEBUG1, "removing unreferenced aegis file \"%s\"", path);
				unlink_path(path);
				pfree(path);
			}
			if (!rf->map_seen && rf->generations == NIL)
				continue;
		}
		if (rf->map_valid && rf->map_info.persistence == RELPERSISTENCE_TEMP)
		{
			/*
			 * Temporary storage never outlives a server start and no WAL
			 * names it: removed (base backups copy it, unlike PostgreSQL's
			 * own temporary files, and a standby would keep it).
			 */
			foreach(lc, rf->generations)
			{
				char	   *path = data_path(&fs, (uint32) lfirst_oid(lc));

				unlink_path(path);
				pfree(path);
			}
			{
				char	   *path = map_path(&fs);

				unlink_path(path);
				pfree(path);
			}
			continue;
		}
		if (!rf->map_valid || rebuild)
		{
			/*
			 * From a base backup every map is rebuilt, also when no data
			 * file was copied: its pages then come from replay.
			 */
			if (rf->generations != NIL || rf->map_valid)
				rebuild_map(&fs, &key, rf->generations,
							rf->map_valid ? REBUILD_RESTORE :
							rf->map_seen ? REBUILD_DAMAGED : REBUILD_MISSING,
							rebuild,
							rf->map_valid ? &rf->map_info : NULL,
							rf->map_generation);
			continue;
		}
		foreach(lc, rf->generations)
		{
			uint32		gen = (uint32) lfirst_oid(lc);

			char	   *path = data_path(&fs, gen);
			struct stat st;

			if (gen != rf->map_generation)
			{
				elog(DEBUG1, "removing unreferenced aegis file \"%s\"", path);
				unlink_path(path);
			}
			else if (chunked && stat(path, &st) == 0 && st.st_size % BLCKSZ != 0 &&
					 truncate(path, (off_t) TYPEALIGN(BLCKSZ, st.st_size)) != 0)
			{
				/* whole chunks again after a crash between a write and its padding */
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not extend aegis data file \"%s\" to whole chunks: %m", path)));
			}
			pfree(path);
		}
	}
	hash_destroy(rels);
}

static char *
local_location(const AegisRelKey *key, const AegisBlockLoc *loc)
{
	return data_path(resolve_file_set(key), loc->generation);
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
 * Is directory entry 'de' of 'parent' a directory named by an OID, written
 * as PostgreSQL writes it (no sign, no leading zero)?  Then set *oid.
 */
static bool
oid_directory(const char *parent, struct dirent *de, Oid *oid)
{
	char		canonical[16];
	char		extra;
	char	   *path;
	PGFileType	type;

	if (sscanf(de->d_name, "%u%c", oid, &extra) != 1)
		return false;
	snprintf(canonical, sizeof(canonical), "%u", *oid);
	if (strcmp(canonical, de->d_name) != 0)
		return false;
	path = psprintf("%s/%s", parent, de->d_name);
	type = get_dirent_type(path, de, true, LOG);
	pfree(path);
	return type == PGFILETYPE_DIR;
}

/*
 * AegisLocalLoadAll
 *		Enter every relation of the local backend into the directory, from
 *		the block maps on disk (every database directory of every
 *		tablespace, then the previous builds' aegis.data_directory); with
 *		'rebuild', from the data files instead (a restored base backup).
 *		Called once per server lifetime by the
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
	bool		legacy = false;
	bool		old_layout = stat(aegis_data_directory, &st) == 0;

	map_enter = enter;
	if (old_layout)
		legacy = check_legacy_control();

	/* the database directories of every tablespace */
	dir = AllocateDir("base");
	while ((de = ReadDir(dir, "base")) != NULL)
	{
		Oid			dbOid;
		char	   *dbdir;

		if (!oid_directory("base", de, &dbOid))
			continue;
		dbdir = GetDatabasePath(dbOid, DEFAULTTABLESPACE_OID);
		load_database_directory(dbdir, dbOid, DEFAULTTABLESPACE_OID, true, rebuild);
		pfree(dbdir);
	}
	FreeDir(dir);
	dir = AllocateDir("pg_tblspc");
	while (dir != NULL && (de = ReadDir(dir, "pg_tblspc")) != NULL)
	{
		Oid			spc;
		char	   *spcdir;
		DIR		   *sdir;
		struct dirent *sde;

		if (!oid_directory("pg_tblspc", de, &spc))
			continue;
		spcdir = psprintf("pg_tblspc/%u/%s", spc, TABLESPACE_VERSION_DIRECTORY);
		sdir = AllocateDir(spcdir);
		while (sdir != NULL && (sde = ReadDirExtended(sdir, spcdir, LOG)) != NULL)
		{
			Oid			dbOid;
			char	   *dbdir;

			if (!oid_directory(spcdir, sde, &dbOid))
				continue;
			dbdir = GetDatabasePath(dbOid, spc);
			load_database_directory(dbdir, dbOid, spc, true, rebuild);
			pfree(dbdir);
		}
		if (sdir != NULL)
			FreeDir(sdir);
		pfree(spcdir);
	}
	if (dir != NULL)
		FreeDir(dir);

	/* the previous builds' directory, if there is one */
	if (!old_layout)
		return;
	dir = AllocateDir(aegis_data_directory);
	while ((de = ReadDir(dir, aegis_data_directory)) != NULL)
	{
		Oid			dbOid;
		char	   *dbdir;

		if (!oid_directory(aegis_data_directory, de, &dbOid))
			continue;
		dbdir = psprintf("%s/%s", aegis_data_directory, de->d_name);
		load_database_directory(dbdir, dbOid, InvalidOid, false, rebuild);
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

#define DIG_CHUNK	(1024 * 1024)	/* bytes read, and punched if all zeros */

/* Dig the holes of one file (AegisLocalDigStubHoles); the bytes it freed. */
static uint64
dig_file_holes(const char *path, char *buf)
{
	uint64		freed = 0;
#ifdef FALLOC_FL_PUNCH_HOLE
	struct stat st;
	uint64		before;
	int			fd = OpenTransientFile(path, O_RDWR | PG_BINARY);

	if (fd < 0)
		return 0;				/* gone, or not ours to change: nothing to give */
	if (fstat(fd, &st) != 0)
	{
		CloseTransientFile(fd);
		return 0;
	}
	before = (uint64) st.st_blocks * 512;
	for (off_t off = 0; off < st.st_size; off += DIG_CHUNK)
	{
		off_t		data = lseek(fd, off, SEEK_DATA);
		ssize_t		n;
		bool		zero;

		/* holes already there are not read */
		if (data < 0)
			break;
		off = data - data % DIG_CHUNK;
		n = pg_pread(fd, buf, DIG_CHUNK, off);
		zero = n > 0;
		if (n <= 0)
			break;
		for (ssize_t i = 0; zero && i < n; i += sizeof(uint64))
			zero = *(uint64 *) (buf + i) == 0;
		if (zero && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, n) != 0)
			break;				/* not supported here: keep the file as it is */
	}
	if (fstat(fd, &st) == 0 && (uint64) st.st_blocks * 512 < before)
		freed = before - (uint64) st.st_blocks * 512;
	CloseTransientFile(fd);
#endif
	return freed;
}

/*
 * AegisLocalDigStubHoles
 *		Give back the disk space of the zeros in the PostgreSQL storage stub
 *		of relation 'rnode' (every segment of its main fork): its pages are
 *		never written, and on the primary the stub is sparse (src/page,
 *		extend_stub_locked), but a copy made by pg_basebackup or CREATE
 *		DATABASE writes every zero, as much disk as a heap table of the
 *		same pages.  Only 1 MB ranges that read as zeros are punched out
 *		(fallocate PUNCH_HOLE, as `fallocate --dig-holes`), so a file holding
 *		anything else keeps it; reads return the same bytes after.  Where
 *		the file system cannot punch holes, nothing changes.  Returns the
 *		bytes freed.  Raises no error.
 */
uint64
AegisLocalDigStubHoles(RelFileNode rnode)
{
	char	   *path = relpathperm(rnode, MAIN_FORKNUM);
	char	   *buf = palloc(DIG_CHUNK);
	uint64		freed = 0;

	for (int seg = 0;; seg++)
	{
		char	   *segpath = seg == 0 ? pstrdup(path) : psprintf("%s.%d", path, seg);
		struct stat st;

		if (stat(segpath, &st) != 0)
		{
			pfree(segpath);
			break;
		}
		freed += dig_file_holes(segpath, buf);
		pfree(segpath);
	}
	pfree(buf);
	pfree(path);
	return freed;
}
