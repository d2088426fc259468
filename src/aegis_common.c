/*-------------------------------------------------------------------------
 *
 * aegis_common.c
 *	  What every module uses: the preload check, relation keys, the names
 *	  of codecs and storage kinds, and the end of the WAL inserted so far.
 *
 * This file calls no other aegis module: it is the bottom of the module
 * order (DESIGN.md), so any file may call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "aegis/aegis.h"
#include "commands/tablespace.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/relfilenodemap.h"

/* set by _PG_init when loaded through shared_preload_libraries */
bool		aegis_preloaded = false;

/*
 * AegisCheckPreloaded
 *		Raise an error unless the library was loaded at postmaster start.
 */
void
AegisCheckPreloaded(void)
{
	if (!aegis_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("aegis_storage must be loaded via shared_preload_libraries"),
				 errhint("Add aegis_storage to shared_preload_libraries and restart the server.")));
}

/*
 * AegisRelKeyFromNode
 *		The relation key of a relfilenode; the database's default tablespace
 *		becomes 0.  Only valid in a backend connected to node->dbNode.
 */
AegisRelKey
AegisRelKeyFromNode(const RelFileNode *node)
{
	AegisRelKey key;

	key.spcOid = (node->spcNode == MyDatabaseTableSpace) ? 0 : node->spcNode;
	key.dbOid = node->dbNode;
	key.relNumber = node->relNode;
	return key;
}

AegisRelKey
AegisRelKeyOf(Relation rel)
{
	return AegisRelKeyFromNode(&rel->rd_node);
}

/*
 * AegisRelKeyDescribe
 *		A palloc'd name of relation 'key' for error messages:
 *		'table "schema.name" (aegis relation spc/db/relfilenode)' when this
 *		process can look the table up (in a transaction, outside a critical
 *		section, connected to the key's database), else 'aegis relation
 *		spc/db/relfilenode' (the checkpointer, the startup process, another
 *		database).  The lookup is RelidByRelfilenode's, as
 *		pg_filenode_relation() does; it may change errno, and raises only
 *		what a catalog read raises.  Call it before ereport, not inside.
 */
char *
AegisRelKeyDescribe(const AegisRelKey *key)
{
	char	   *keyname = psprintf("aegis relation " AEGIS_REL_KEY_FMT, AEGIS_REL_KEY_ARGS(key));
	Oid			relid;
	char	   *rel;
	char	   *nsp;

	if (!IsTransactionState() || CritSectionCount > 0 || !OidIsValid(MyDatabaseId) ||
		key->dbOid != MyDatabaseId)
		return keyname;
	relid = RelidByRelfilenode(key->spcOid, key->relNumber);
	if (!OidIsValid(relid) || (rel = get_rel_name(relid)) == NULL ||
		(nsp = get_namespace_name(get_rel_namespace(relid))) == NULL)
		return keyname;
	return psprintf("table \"%s\" (%s)", quote_qualified_identifier(nsp, rel), keyname);
}

const char *
AegisCodecName(AegisCodec codec)
{
	switch (codec)
	{
		case AEGIS_CODEC_NONE:
			return "none";
		case AEGIS_CODEC_LZ4:
			return "lz4";
		case AEGIS_CODEC_ZSTD:
			return "zstd";
	}
	return "unknown";
}

const char *
AegisStorageKindName(AegisStorageKind kind)
{
	return kind == AEGIS_STORAGE_MEMORY ? "memory" : "local";
}

bool
AegisCodecFromName(const char *name, AegisCodec *codec)
{
	for (int c = 0; c < AEGIS_NUM_CODECS; c++)
	{
		if (pg_strcasecmp(name, AegisCodecName(c)) == 0)
		{
			*codec = c;
			return true;
		}
	}
	return false;
}

bool
AegisStorageKindFromName(const char *name, AegisStorageKind *kind)
{
	if (pg_strcasecmp(name, "local") == 0)
		*kind = AEGIS_STORAGE_LOCAL;
	else if (pg_strcasecmp(name, "memory") == 0)
		*kind = AEGIS_STORAGE_MEMORY;
	else
		return false;
	return true;
}

/*
 * AegisWalInsertedEnd
 *		The LSN up to which WAL has been inserted: a position XLogFlush
 *		accepts.  GetXLogInsertRecPtr gives where the next record will
 *		begin, which at a page boundary (after pg_switch_wal, or a record
 *		that ended there) lies past the next page's header, and XLogFlush
 *		raises "xlog flush request ... is not satisfied" for it until some
 *		record is written there.  This is that position with the header
 *		taken off (as XLogBytePosToEndRecPtr, static in xlog.c, computes it).
 */
XLogRecPtr
AegisWalInsertedEnd(void)
{
	XLogRecPtr	ptr = GetXLogInsertRecPtr();

	if (XLogSegmentOffset(ptr, wal_segment_size) == SizeOfXLogLongPHD)
		return ptr - SizeOfXLogLongPHD;
	if (ptr % XLOG_BLCKSZ == SizeOfXLogShortPHD)
		return ptr - SizeOfXLogShortPHD;
	return ptr;
}
