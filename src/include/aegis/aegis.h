/*-------------------------------------------------------------------------
 *
 * aegis.h
 *	  Types shared by every module of aegis_storage.
 *
 * Owns the relation key (how every storage object is named), the codec and
 * storage backend enumerations, and the few process-wide entry points that
 * src/aegis.c provides (preload check, shared-memory attachment).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AEGIS_AEGIS_H
#define AEGIS_AEGIS_H

#include "postgres.h"

#include "storage/relfilenode.h"
#include "utils/rel.h"

/*
 * Relation key: (tablespace, database, relfilenode).  Storage is keyed by this,
 * never by table OID, because TRUNCATE and rewrites give a table a new
 * relfilenode.  The database's default tablespace is written as 0, like
 * pg_class.reltablespace.
 */
typedef struct AegisRelKey
{
	Oid			spcOid;
	Oid			dbOid;
	Oid			relNumber;
} AegisRelKey;

/* Storage backend of a relation, fixed at creation. */
typedef enum AegisStorageKind
{
	AEGIS_STORAGE_LOCAL = 0,	/* files under aegis.data_directory */
	AEGIS_STORAGE_MEMORY = 1	/* blocks in shared memory, volatile */
} AegisStorageKind;

/* Codec of a relation's blocks, fixed at creation (changed by a rewrite). */
typedef enum AegisCodec
{
	AEGIS_CODEC_NONE = 0,
	AEGIS_CODEC_LZ4 = 1,
	AEGIS_CODEC_ZSTD = 2
} AegisCodec;

#define AEGIS_NUM_CODECS 3

#define AEGIS_REL_KEY_FMT "%u/%u/%u"
#define AEGIS_REL_KEY_ARGS(k) (k)->spcOid, (k)->dbOid, (k)->relNumber

/* aegis_common.c */
extern bool aegis_preloaded;
extern void AegisCheckPreloaded(void);
extern AegisRelKey AegisRelKeyFromNode(const RelFileNode *node);
extern AegisRelKey AegisRelKeyOf(Relation rel);
extern char *AegisRelKeyDescribe(const AegisRelKey *key);
extern const char *AegisCodecName(AegisCodec codec);
extern const char *AegisStorageKindName(AegisStorageKind kind);
extern bool AegisCodecFromName(const char *name, AegisCodec *codec);
extern bool AegisStorageKindFromName(const char *name, AegisStorageKind *kind);
extern XLogRecPtr AegisWalInsertedEnd(void);

/* Shared-memory pieces; each module requests and initializes its own. */
extern Size AegisBufferShmemSize(void);
extern void AegisBufferShmemInit(void);
extern Size AegisDirShmemSize(void);
extern void AegisDirShmemInit(void);

#endif							/* AEGIS_AEGIS_H */
