/*-------------------------------------------------------------------------
 *
 * aegis_guc.c
 *	  Every aegis.* setting.
 *
 * Postmaster settings size shared memory once (buffer pool, memory backend)
 * or name the data directory; user settings choose what new tables get.  A
 * wrong value is rejected by the GUC machinery with the setting's name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include "aegis/aegis.h"
#include "aegis/block.h"
#include "aegis/guc.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include <signal.h>

int			aegis_buffer_pool_size = 16384; /* 128MB in pages */
char	   *aegis_data_directory = NULL;
int			aegis_default_backend = AEGIS_STORAGE_LOCAL;
int			aegis_default_compression = AEGIS_CODEC_LZ4;
int			aegis_compression_level = 0;
int			aegis_cold_compression_level = 9;
int			aegis_cold_group_pages = AEGIS_GROUP_MAX_PAGES;
bool		aegis_compression_dictionaries = true;
int			aegis_io_workers = 1;
bool		aegis_buffer_pool_prefault = true;
int			aegis_memory_backend_size = 1024 * 1024;	/* kB: 1GB */
char	   *aegis_memory_backend_role = NULL;
int			aegis_debug_crash_point = 0;	/* AegisCrashPoint, tests only */
int			aegis_debug_checkpoint_delay = 0;	/* ms, tests only */
int			aegis_debug_writeback_delay = 0;	/* ms, tests only */
int			aegis_debug_regroup_delay = 0;	/* ms, tests only */

static const struct config_enum_entry crash_point_options[] = {
	{"none", AEGIS_CRASH_NONE, false},
	{"commit_after_drop_logged", AEGIS_CRASH_COMMIT_AFTER_DROP_LOGGED, false},
	{"checkpoint_after_flush", AEGIS_CRASH_CHECKPOINT_AFTER_FLUSH, false},
	{"checkpoint_after_maps", AEGIS_CRASH_CHECKPOINT_AFTER_MAPS, false},
	{"vacuum_cut_logged", AEGIS_CRASH_VACUUM_CUT_LOGGED, false},
	{NULL, 0, false}
};

static const struct config_enum_entry storage_options[] = {
	{"local", AEGIS_STORAGE_LOCAL, false},
	{"memory", AEGIS_STORAGE_MEMORY, false},
	{NULL, 0, false}
};

static const struct config_enum_entry codec_options[] = {
	{"none", AEGIS_CODEC_NONE, false},
	{"lz4", AEGIS_CODEC_LZ4, false},
	{"zstd", AEGIS_CODEC_ZSTD, false},
	{NULL, 0, false}
};

/*
 * AegisCodecCheckLevel
 *		Validate 'level' for 'codec' and return the level to store.
 *
 * 0 means the codec's default (lz4: the fast compressor; zstd: level 3).  lz4
 * accepts 1 (fast) to 12 (levels above 1 use LZ4 HC); zstd accepts its
 * negative "fast" levels down to -7 and 1 to 22.  Raises
 * ERRCODE_INVALID_PARAMETER_VALUE otherwise.
 */
int
AegisCodecCheckLevel(int codec, int level)
{
	int			min = 0,
				max = 0;

	switch (codec)
	{
		case AEGIS_CODEC_NONE:
			min = max = 0;
			break;
		case AEGIS_CODEC_LZ4:
			min = 0;
			max = LZ4HC_CLEVEL_MAX;
			break;
		case AEGIS_CODEC_ZSTD:
			min = -7;
			max = ZSTD_maxCLevel();
			break;
	}
	if (level < min || level > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("compression level %d is out of range for codec \"%s\"",
						level, AegisCodecName(codec)),
				 errhint("Valid levels for \"%s\" are %d to %d; 0 selects the codec's default.",
						 AegisCodecName(codec), min, max)));
	return level;
}

/*
 * AegisCodecColdLevel
 *		The level a page of a table of 'codec' at 'level' (0: the codec's
 *		default) is compressed at when it is all-visible: VACUUM found every
 *		row version on it visible to everyone, so it is likely to be read
 *		many times before it changes again.  aegis.cold_compression_level
 *		if that is higher than the table's own level (LZ4: HC at that level,
 *		at most LZ4HC_CLEVEL_MAX), else 'level'.  Decompression is as fast
 *		at any level; compression at 9 takes about three times as long as at
 *		3, spent by whoever writes the page back (the checkpointer, an I/O
 *		worker, a backend evicting it).
 */
int
AegisCodecColdLevel(int codec, int level)
{
	int			cold = aegis_cold_compression_level;

	switch (codec)
	{
		case AEGIS_CODEC_ZSTD:
			if (cold > (level == 0 ? ZSTD_CLEVEL_DEFAULT : level))
				return Min(cold, ZSTD_maxCLevel());
			break;
		case AEGIS_CODEC_LZ4:
			/* levels 0 and 1 are LZ4's fast mode, 2 and up HC */
			cold = Min(cold, LZ4HC_CLEVEL_MAX);
			if (cold > Max(level, 1))
				return cold;
			break;
		default:
			break;
	}
	return level;
}

static bool
check_compression_level(int *newval, void **extra, GucSource source)
{
	if (*newval < -7 || *newval > ZSTD_maxCLevel())
		return false;
	return true;
}

/*
 * AegisDefineGucs
 *		Register the aegis.* settings; called once from _PG_init.
 */
void
AegisDefineGucs(void)
{
	DefineCustomIntVariable("aegis.buffer_pool_size",
							"Size of the aegis buffer pool.",
							"Pages of aegis tables are cached here, not in shared_buffers.",
							&aegis_buffer_pool_size,
							16384, 16, INT_MAX / 2,
							PGC_POSTMASTER,
							GUC_UNIT_BLOCKS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("aegis.buffer_pool_prefault",
							 "Map the whole aegis buffer pool into the I/O workers ahead of use.",
							 "While idle after the server starts, the I/O workers map every frame of the pool (the kernel zeroes the memory then), so the reads they do for scans take no page faults; the pool then takes its full size in memory at once instead of as it fills.",
							 &aegis_buffer_pool_prefault,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("aegis.data_directory",
							   "Directory where earlier versions kept the local storage backend's files, relative to the data directory.",
							   "Tables created by those versions keep their files there; new tables keep theirs in the database directory of their tablespace.",
							   &aegis_data_directory,
							   "pg_aegis",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomEnumVariable("aegis.default_backend",
							 "Storage backend of new aegis tables.",
							 "\"local\" keeps blocks in files; \"memory\" keeps them in shared memory and loses them at restart.",
							 &aegis_default_backend,
							 AEGIS_STORAGE_LOCAL,
							 storage_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("aegis.memory_backend_role",
							   "Role whose members may create memory-backend aegis tables, besides superusers.",
							   "Memory-backend tables share aegis.memory_backend_size among all sessions; empty: superusers only.",
							   &aegis_memory_backend_role,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomEnumVariable("aegis.default_compression",
							 "Codec of new aegis tables.",
							 NULL,
							 &aegis_default_compression,
							 AEGIS_CODEC_LZ4,
							 codec_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.compression_level",
							"Compression level of new aegis tables (0 = the codec's default).",
							"Checked against the codec when a table is created.",
							&aegis_compression_level,
							0, -7, 22,
							PGC_USERSET,
							0,
							check_compression_level, NULL, NULL);

	DefineCustomIntVariable("aegis.cold_compression_level",
							"Compression level of all-visible pages of lz4 and zstd tables (0 = the table's own level).",
							"A page VACUUM found all-visible is compressed at this level when it is written back, if that is higher than the table's level (lz4: HC at this level, at most 12).",
							&aegis_cold_compression_level,
							9, 0, 22,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.cold_group_pages",
							"Pages of lz4 and zstd tables compressed together once VACUUM found them all-visible (1 = each page alone).",
							"After each checkpoint, the aegis checkpointer compresses runs of up to this many consecutive all-visible pages as one group block, at aegis.cold_compression_level, in the background; a page changed later is written back alone.",
							&aegis_cold_group_pages,
							AEGIS_GROUP_MAX_PAGES, 1, AEGIS_GROUP_MAX_PAGES,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("aegis.compression_dictionaries",
							 "Train a compression dictionary for lz4 and zstd tables as they grow.",
							 "A compressed table gets a dictionary trained on its own pages when it reaches 2 MB, and a larger one at 64 MB; pages written afterwards are compressed with it.",
							 &aegis_compression_dictionaries,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.io_workers",
							"Background workers that decompress pages for sequential scans of aegis tables and compress pages for aegis checkpoints.",
							"Each is a background worker: leave room in max_worker_processes.  0: none; scans and checkpoints then do all the work themselves.",
							&aegis_io_workers,
							1, 0, AEGIS_IO_MAX_WORKERS,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.memory_backend_size",
							"Shared memory the memory storage backend may use for blocks.",
							NULL,
							&aegis_memory_backend_size,
							1024 * 1024, 1024, INT_MAX,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("aegis.debug_crash_point",
							 "Test only: the server process reaching this point exits as if the server crashed.",
							 "Used by the crash tests; never set it on a server you care about.",
							 &aegis_debug_crash_point,
							 AEGIS_CRASH_NONE,
							 crash_point_options,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.debug_checkpoint_delay",
							"Test only: the aegis checkpointer pauses this long in every checkpoint, after writing pages.",
							"Shows that PostgreSQL's checkpoints wait for aegis checkpoints; never set it on a server you care about.",
							&aegis_debug_checkpoint_delay,
							0, 0, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.debug_writeback_delay",
							"Test only: this session pauses this long in every page write-back, after taking the page and before writing it.",
							"Shows that checkpoints wait for write-backs in progress; never set it on a server you care about.",
							&aegis_debug_writeback_delay,
							0, 0, 600000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("aegis.debug_regroup_delay",
							"Test only: the grouping of all-visible pages pauses this long after copying a relation's block map.",
							"Lets tests drop or rewrite the relation meanwhile; never set it on a server you care about.",
							&aegis_debug_regroup_delay,
							0, 0, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("aegis");
}

/*
 * AegisCrashNow
 *		A fault point of aegis.debug_crash_point was reached: kill this
 *		process with SIGKILL, so the postmaster reinitializes shared memory
 *		and every aegis structure is rebuilt by recovery, exactly as after a
 *		real crash.
 */
void
AegisCrashNow(const char *where)
{
	ereport(LOG,
			(errmsg("aegis.debug_crash_point reached at %s: simulating a crash", where)));
	kill(MyProcPid, SIGKILL);
	for (;;)
		pg_usleep(1000L);
}
