/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The aegis.* settings (src/aegis_guc.c owns them all).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_GUC_H
#define AEGIS_GUC_H

#include "access/xlog.h"

extern int	aegis_buffer_pool_size;		/* pages (GUC_UNIT_BLOCKS) */
extern char *aegis_data_directory;	/* relative to PGDATA, or absolute */
extern int	aegis_default_backend;	/* AegisStorageKind */
extern int	aegis_default_compression;	/* AegisCodec */
extern int	aegis_compression_level;	/* 0 = the codec's default */
extern int	aegis_cold_compression_level;	/* all-visible pages; 0 = off */
extern int	aegis_cold_group_pages;	/* pages per group block, 1 = none */
extern bool aegis_compression_dictionaries; /* train them for zstd tables */
extern int	aegis_io_workers;	/* buffer pool I/O workers (buffer_io.c) */
extern bool aegis_buffer_pool_prefault; /* I/O workers map the pool at start */
#define AEGIS_IO_MAX_WORKERS 8
extern int	aegis_memory_backend_size;	/* kB of shared memory for blocks */
extern char *aegis_memory_backend_role; /* may create memory tables; "" = superusers */

extern int	aegis_debug_crash_point;	/* AegisCrashPoint */
extern int	aegis_debug_checkpoint_delay;	/* ms; tests only */
extern int	aegis_debug_writeback_delay;	/* ms; tests only */
extern int	aegis_debug_regroup_delay;	/* ms; tests only */

/* Fault points of aegis.debug_crash_point (crash tests only). */
typedef enum AegisCrashPoint
{
	AEGIS_CRASH_NONE = 0,
	AEGIS_CRASH_COMMIT_AFTER_DROP_LOGGED,	/* after commit, before unlink */
	AEGIS_CRASH_CHECKPOINT_AFTER_FLUSH, /* pages written, maps not */
	AEGIS_CRASH_CHECKPOINT_AFTER_MAPS,	/* maps durable, no aegis record,
										 * PostgreSQL's checkpoint waiting */
	AEGIS_CRASH_VACUUM_CUT_LOGGED	/* VACUUM's SHRINK record flushed, nothing
									 * cut yet */
} AegisCrashPoint;

/*
 * AEGIS_CRASH_AT: if the fault point is armed, exit at once without any
 * cleanup, like a process killed by SIGKILL; the postmaster then runs crash
 * recovery.  Never during recovery (the startup process runs checkpoints
 * too, and would crash again at every start).  Costs one comparison when
 * unarmed.
 */
#define AEGIS_CRASH_AT(point) \
	do { \
		if (unlikely(aegis_debug_crash_point == (point)) && !RecoveryInProgress()) \
			AegisCrashNow(#point); \
	} while (0)

extern void AegisCrashNow(const char *where) pg_attribute_noreturn();
extern void AegisDefineGucs(void);
extern int	AegisCodecCheckLevel(int codec, int level);
extern int	AegisCodecColdLevel(int codec, int level);

#endif							/* AEGIS_GUC_H */
