/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The aegis.* settings (src/aegis_guc.c owns them all).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_GUC_H
#define AEGIS_GUC_H

extern int	aegis_buffer_pool_size;		/* pages (GUC_UNIT_BLOCKS) */
extern char *aegis_data_directory;	/* relative to PGDATA, or absolute */
extern int	aegis_default_backend;	/* AegisStorageKind */
extern int	aegis_default_compression;	/* AegisCodec */
extern int	aegis_compression_level;	/* 0 = the codec's default */
extern int	aegis_checkpoint_timeout;	/* seconds */
extern int	aegis_memory_backend_size;	/* kB of shared memory for blocks */

extern void AegisDefineGucs(void);
extern int	AegisCodecCheckLevel(int codec, int level);

#endif							/* AEGIS_GUC_H */
