/*-------------------------------------------------------------------------
 *
 * tam_options.c
 *	  Per-table choices: storage_backend, compression, compression_level, in
 *	  CREATE TABLE (AS) ... USING aegis WITH (...) and ALTER TABLE ...
 *	  SET/RESET (...).
 *
 * PostgreSQL 15 validates a table's options against heap's list (a table
 * access method has no amoptions), so the ProcessUtility hook takes aegis's
 * option names out of CREATE TABLE, CREATE TABLE AS and ALTER TABLE before
 * PostgreSQL sees them, and validates them itself.  CREATE keeps them for
 * the aegis relation the statement creates (options not named come from
 * aegis.default_backend, aegis.default_compression and
 * aegis.compression_level); ALTER TABLE moves the table to new storage with
 * the new choices (AegisRelationChangeOptions).  The options named are
 * recorded in pg_class.reloptions, where pg_dump and psql read them; during
 * an ALTER TABLE that also changes heap's options they are taken out of
 * pg_class for PostgreSQL's merge and validation and put back after.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/htup_details.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "aegis/backend.h"
#include "aegis/checkpoint.h"
#include "aegis/guc.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "aegis/page.h"
#include "aegis/tam.h"
#include "aegis/transaction.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/tablespace.h"
#include "nodes/parsenodes.h"
#include "common/file_utils.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/md.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/*
 * Aegis options named by one statement: values given (has_*) and, for
 * ALTER TABLE ... RESET, options reset (reset_*).
 */
typedef struct AegisOptionSet
{
	bool		has_storage;
	bool		has_codec;
	bool		has_level;
	bool		reset_storage;
	bool		reset_codec;
	bool		reset_level;
	AegisStorageKind storage;
	AegisCodec	codec;
	int			level;
} AegisOptionSet;

/* What the utility statement being processed (innermost) has to do. */
typedef struct AegisStatementState
{
	bool		in_statement;	/* inside aegis_process_utility */
	bool		creating;		/* a CREATE that targets aegis */
	AegisOptionSet create;		/* its WITH options */
	List	   *created;		/* OIDs of aegis tables it created, in
								 * TopTransactionContext */
} AegisStatementState;

static AegisStatementState state;
static ProcessUtility_hook_type prev_process_utility = NULL;

static const char *const aegis_option_names[] = {
	"storage_backend", "compression", "compression_level"
};

static bool
is_aegis_option(const char *name)
{
	for (int i = 0; i < lengthof(aegis_option_names); i++)
		if (strcmp(name, aegis_option_names[i]) == 0)
			return true;
	return false;
}

/* The aegis_option_names index of "name=value", or -1 if not ours. */
static int
aegis_option_index(const char *opt)
{
	for (int i = 0; i < lengthof(aegis_option_names); i++)
	{
		size_t		len = strlen(aegis_option_names[i]);

		if (strncmp(opt, aegis_option_names[i], len) == 0 && opt[len] == '=')
			return i;
	}
	return -1;
}

/* Is "name=value" (a pg_class.reloptions element) an aegis option? */
static bool
is_aegis_option_text(const char *opt)
{
	return aegis_option_index(opt) >= 0;
}

/* Parse the value of aegis option 'def' into 'set' (errors: bad value). */
static void
parse_option(DefElem *def, AegisOptionSet *set)
{
	char	   *v = defGetString(def);

	if (strcmp(def->defname, "storage_backend") == 0)
	{
		if (!AegisStorageKindFromName(v, &set->storage))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for aegis option \"storage_backend\": \"%s\"", v),
					 errhint("Valid values are \"local\" and \"memory\".")));
		set->has_storage = true;
		set->reset_storage = false;
	}
	else if (strcmp(def->defname, "compression") == 0)
	{
		if (!AegisCodecFromName(v, &set->codec))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for aegis option \"compression\": \"%s\"", v),
					 errhint("Valid values are \"none\", \"lz4\" and \"zstd\".")));
		set->has_codec = true;
		set->reset_codec = false;
	}
	else
	{
		/* an integer, also quoted as pg_dump writes reloptions; no fraction */
		char	   *end;
		long		level;

		errno = 0;
		level = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || level < PG_INT32_MIN ||
			level > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for aegis option \"compression_level\": \"%s\"", v),
					 errhint("The level is an integer; 0 selects the codec's default.")));
		set->level = (int) level;
		set->has_level = true;
		set->reset_level = false;
	}
}

/*
 * Take aegis options out of 'options' (one WITH, SET or RESET list) into
 * 'set' (values, or for RESET the names; a later SET or RESET of the same
 * option in the statement wins, as PostgreSQL applies subcommands in
 * order); return the rest, which PostgreSQL validates as heap's options.
 * As PostgreSQL's reloption parsing: an option twice in one list, or RESET
 * with a value, is an error.
 */
static List *
extract_options(List *options, AegisOptionSet *set, bool reset)
{
	List	   *rest = NIL;
	List	   *seen = NIL;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->defnamespace != NULL || !is_aegis_option(def->defname))
		{
			rest = lappend(rest, def);
			continue;
		}
		if (list_member(seen, makeString(def->defname)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" specified more than once", def->defname)));
		seen = lappend(seen, makeString(def->defname));
		if (!reset)
			parse_option(def, set);
		else if (def->arg != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("RESET must not include values for parameters")));
		else if (strcmp(def->defname, "storage_backend") == 0)
		{
			set->reset_storage = true;
			set->has_storage = false;
		}
		else if (strcmp(def->defname, "compression") == 0)
		{
			set->reset_codec = true;
			set->has_codec = false;
		}
		else
		{
			set->reset_level = true;
			set->has_level = false;
		}
	}
	return rest;
}

static bool
option_set_empty(const AegisOptionSet *set)
{
	return !(set->has_storage || set->has_codec || set->has_level ||
			 set->reset_storage || set->reset_codec || set->reset_level);
}

static bool
targets_aegis(const char *accessMethod)
{
	const char *am = accessMethod ? accessMethod : default_table_access_method;

	return am != NULL && strcmp(am, "aegis") == 0;
}

/* Is 'rv' an existing aegis table?  (No lock: ALTER TABLE takes its own.) */
static bool
is_aegis_relation(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	HeapTuple	tp;
	bool		result = false;

	if (!OidIsValid(relid))
		return false;
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tp))
	{
		Oid			am = ((Form_pg_class) GETSTRUCT(tp))->relam;

		result = OidIsValid(am) && am == get_table_am_oid("aegis", true);
		ReleaseSysCache(tp);
	}
	return result;
}

/*
 * The text[] elements of pg_class.reloptions of 'tuple' (a pg_class row), as
 * a List of palloc'd "name=value" strings.
 */
static List *
reloption_texts(HeapTuple tuple)
{
	List	   *result = NIL;
	Datum		datum;
	bool		isnull;
	Datum	   *elems;
	int			nelems;

	datum = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_reloptions, &isnull);
	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(datum), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, NULL, &nelems);
	for (int i = 0; i < nelems; i++)
		result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

/* Store 'texts' ("name=value" strings) as pg_class.reloptions of 'tuple'. */
static void
store_reloption_texts(Relation classrel, HeapTuple tuple, List *texts)
{
	Datum		values[Natts_pg_class] = {0};
	bool		nulls[Natts_pg_class] = {0};
	bool		replace[Natts_pg_class] = {0};
	ArrayBuildState *astate = NULL;
	HeapTuple	newtuple;
	ListCell   *lc;

	foreach(lc, texts)
		astate = accumArrayResult(astate, CStringGetTextDatum(lfirst(lc)), false,
								  TEXTOID, CurrentMemoryContext);
	replace[Anum_pg_class_reloptions - 1] = true;
	if (astate)
		values[Anum_pg_class_reloptions - 1] = makeArrayResult(astate, CurrentMemoryContext);
	else
		nulls[Anum_pg_class_reloptions - 1] = true;
	newtuple = heap_modify_tuple(tuple, RelationGetDescr(classrel), values, nulls, replace);
	CatalogTupleUpdate(classrel, &newtuple->t_self, newtuple);
	heap_freetuple(newtuple);
}

/* The entry of 'texts' for aegis option 'name' replaced by 'text' (NULL: removed). */
static List *
set_entry(List *texts, const char *name, char *text)
{
	List	   *result = NIL;
	ListCell   *lc;
	size_t		len = strlen(name);
	bool		done = false;

	foreach(lc, texts)
	{
		char	   *t = lfirst(lc);

		if (strncmp(t, name, len) == 0 && t[len] == '=')
		{
			if (text && !done)
				result = lappend(result, text);
			done = true;
		}
		else
			result = lappend(result, t);
	}
	if (text && !done)
		result = lappend(result, text);
	return result;
}

/*
 * record_reloptions
 *		Record in pg_class.reloptions of 'relid' the aegis options a
 *		statement named, as PostgreSQL records a table's explicitly set
 *		options and only those (a default follows the aegis.* settings, as
 *		heap's fillfactor or default_toast_compression do): "storage_backend=..",
 *		"compression=..", "compression_level=.." after heap's options.  That
 *		is where pg_dump, psql's \d+ and pg_options_to_table() read them;
 *		the relation directory stays the engine's record, and PostgreSQL's
 *		relcache ignores options heap does not know (heap_reloptions without
 *		validation).
 *
 *		'base' is the table's aegis entries before the statement (NIL: read
 *		them from the row); 'named' what the statement set or reset; when
 *		'codec_changed' without a level named, a recorded level goes (the
 *		codec's default level applies, as in CREATE).  The values recorded
 *		are those the engine uses (the relation directory's), and a level
 *		is recorded with its codec.  A table that is no longer an aegis
 *		table (SET ACCESS METHOD) loses them all.  Updates
 *		the row only if it changes; the caller holds a lock on the relation
 *		that keeps concurrent DDL out.
 */
static void
record_reloptions(Oid relid, List *base, bool base_given, const AegisOptionSet *named,
				  bool codec_changed)
{
	Relation	classrel;
	HeapTuple	tuple;
	Form_pg_class form;
	List	   *oldtexts;
	List	   *newtexts = NIL;
	List	   *aegis = NIL;
	ListCell   *lc;
	bool		changed;

	classrel = table_open(RelationRelationId, RowExclusiveLock);
	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
	{
		table_close(classrel, RowExclusiveLock);
		return;
	}
	form = (Form_pg_class) GETSTRUCT(tuple);
	oldtexts = reloption_texts(tuple);
	foreach(lc, oldtexts)
	{
		if (!is_aegis_option_text(lfirst(lc)))
			newtexts = lappend(newtexts, lfirst(lc));
		else if (!base_given)
			aegis = lappend(aegis, lfirst(lc));
	}
	if (base_given)
		aegis = base;

	if (OidIsValid(form->relam) && form->relam == get_table_am_oid("aegis", true) &&
		RELKIND_HAS_STORAGE(form->relkind) && OidIsValid(form->relfilenode))
	{
		AegisRelKey key;
		AegisRelInfo info;
		bool		present[lengthof(aegis_option_names)] = {0};

		if (named->has_storage)
			aegis = set_entry(aegis, "storage_backend",
							  psprintf("storage_backend=%s", AegisStorageKindName(named->storage)));
		else if (named->reset_storage)
			aegis = set_entry(aegis, "storage_backend", NULL);
		if (named->has_codec)
			aegis = set_entry(aegis, "compression",
							  psprintf("compression=%s", AegisCodecName(named->codec)));
		else if (named->reset_codec)
			aegis = set_entry(aegis, "compression", NULL);
		if (named->has_level)
			aegis = set_entry(aegis, "compression_level",
							  psprintf("compression_level=%d", named->level));
		else if (named->reset_level || codec_changed)
			aegis = set_entry(aegis, "compression_level", NULL);

		/*
		 * The values are what the engine uses (a statement nested in this
		 * one, an event trigger's, may have changed them meanwhile), in a
		 * fixed order, and a recorded level comes with its codec: restored
		 * under another default codec, a level alone could be out of range.
		 */
		key.spcOid = form->reltablespace;
		key.dbOid = MyDatabaseId;
		key.relNumber = form->relfilenode;
		if (AegisStorageGetInfo(&key, &info))
		{
			foreach(lc, aegis)
				present[aegis_option_index(lfirst(lc))] = true;
			present[1] |= present[2];
			aegis = NIL;
			if (present[0])
				aegis = lappend(aegis, psprintf("storage_backend=%s", AegisStorageKindName(info.storage)));
			if (present[1])
				aegis = lappend(aegis, psprintf("compression=%s", AegisCodecName(info.codec)));
			if (present[2])
				aegis = lappend(aegis, psprintf("compression_level=%d", info.level));
		}
		newtexts = list_concat(newtexts, aegis);
	}

	changed = list_length(oldtexts) != list_length(newtexts);
	for (int i = 0; !changed && i < list_length(newtexts); i++)
		changed = strcmp(list_nth(oldtexts, i), list_nth(newtexts, i)) != 0;
	if (changed)
		store_reloption_texts(classrel, tuple, newtexts);
	heap_freetuple(tuple);
	table_close(classrel, RowExclusiveLock);
}

/*
 * Resolve the storage choices a statement's options give: 'cur' holds the
 * table's current ones (ALTER TABLE) or NULL (a new table).  Options not
 * named keep their value (ALTER) or come from the aegis.* defaults (CREATE,
 * RESET).  A codec named without a level gets the codec's default level.
 * Raises ERRCODE_INVALID_PARAMETER_VALUE for a level the codec does not
 * accept.
 */
static void
resolve_options(const AegisOptionSet *set, const AegisRelInfo *cur,
				AegisStorageKind *storage, AegisCodec *codec, int *level)
{
	bool		codec_changed;

	if (set->has_storage)
		*storage = set->storage;
	else if (cur && !set->reset_storage)
		*storage = cur->storage;
	else
		*storage = (AegisStorageKind) aegis_default_backend;

	if (set->has_codec)
		*codec = set->codec;
	else if (cur && !set->reset_codec)
		*codec = cur->codec;
	else
		*codec = (AegisCodec) aegis_default_compression;
	codec_changed = cur == NULL || *codec != cur->codec;

	if (set->has_level)
		*level = set->level;
	else if (set->has_codec && codec_changed)
		*level = 0;				/* a codec named gets its own default */
	else if (cur && !set->reset_level && !codec_changed)
		*level = cur->level;
	else
		*level = aegis_compression_level;
	if (*codec == AEGIS_CODEC_NONE && !set->has_level)
		*level = 0;
	*level = AegisCodecCheckLevel(*codec, *level);
}

/*
 * Refuse to publish an aegis table on the memory storage backend, as
 * PostgreSQL refuses an unlogged table (check_publication_add_relation):
 * it writes no WAL, so its changes could not be decoded.  A FOR ALL TABLES
 * publication leaves it out, as it leaves out unlogged tables.
 */
static void
check_publication_tables(List *pubobjects)
{
	ListCell   *lc;

	foreach(lc, pubobjects)
	{
		PublicationObjSpec *obj = lfirst_node(PublicationObjSpec, lc);
		AegisRelInfo info;
		AegisRelKey key;
		Relation	rel;
		Oid			relid;

		if (obj->pubobjtype != PUBLICATIONOBJ_TABLE || obj->pubtable == NULL ||
			!is_aegis_relation(obj->pubtable->relation))
			continue;
		relid = RangeVarGetRelid(obj->pubtable->relation, NoLock, true);
		rel = try_relation_open(relid, AccessShareLock);
		if (rel == NULL)
			continue;
		key = AegisRelKeyOf(rel);
		if (rel->rd_rel->relpersistence == RELPERSISTENCE_PERMANENT &&
			AegisStorageGetInfo(&key, &info) && info.storage == AEGIS_STORAGE_MEMORY)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot add aegis table \"%s\" to publication",
							RelationGetRelationName(rel)),
					 errdetail("Its storage backend is memory, which writes no WAL, so its changes cannot be replicated (as for unlogged tables)."),
					 errhint("Publish a table created WITH (storage_backend = 'local').")));
		relation_close(rel, AccessShareLock);
	}
}

/* An ALTER TABLE of an aegis table, between prepare_alter and finish_alter. */
typedef struct AegisAlter
{
	Oid			relid;			/* InvalidOid: nothing to finish */
	AegisOptionSet set;			/* aegis options it sets or resets */
	bool		stripped;		/* aegis entries taken out of reloptions */
	List	   *entries;		/* ... these */
} AegisAlter;

/*
 * ALTER TABLE on aegis table 'stmt->relation', before PostgreSQL sees it:
 * take the aegis options out of its SET/RESET (...) into alter->set, drop
 * subcommands left empty, and if it touches reloptions lock the table (as
 * ALTER TABLE will, or ACCESS EXCLUSIVE when it names aegis options: the
 * table may be rewritten) and, if PostgreSQL will merge reloptions, take the
 * aegis entries out of pg_class.reloptions (it validates the merged list
 * against heap's options; finish_alter puts them back, so the statement's
 * event triggers see them missing).  Sets alter->relid
 * if finish_alter must follow the statement.
 */
static void
prepare_alter(AlterTableStmt *stmt, AegisAlter *alter)
{
	List	   *cmds = NIL;
	ListCell   *lc;
	bool		touches_reloptions = false;
	bool		sets_am = false;
	LOCKMODE	lockmode;
	Oid			relid;

	memset(alter, 0, sizeof(*alter));
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_SetRelOptions || cmd->subtype == AT_ResetRelOptions ||
			cmd->subtype == AT_ReplaceRelOptions)
		{
			touches_reloptions = true;
			cmd->def = (Node *) extract_options((List *) cmd->def, &alter->set,
												cmd->subtype == AT_ResetRelOptions);
			if (cmd->def == NULL)
				continue;
		}
		else if (cmd->subtype == AT_SetAccessMethod)
			sets_am = true;
		cmds = lappend(cmds, cmd);
	}
	stmt->cmds = cmds;
	if (!touches_reloptions)
	{
		if (sets_am)
			alter->relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		return;
	}

	lockmode = option_set_empty(&alter->set) ? AlterTableGetLockLevel(cmds) : AccessExclusiveLock;
	relid = RangeVarGetRelidExtended(stmt->relation, lockmode,
									 stmt->missing_ok ? RVR_MISSING_OK : 0,
									 RangeVarCallbackOwnsRelation, NULL);
	alter->relid = relid;
	if (OidIsValid(relid) && cmds != NIL)
	{
		/* leave PostgreSQL only heap's options to merge and validate */
		Relation	classrel = table_open(RelationRelationId, RowExclusiveLock);
		HeapTuple	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));

		if (HeapTupleIsValid(tuple))
		{
			List	   *heap_texts = NIL;

			foreach(lc, reloption_texts(tuple))
			{
				if (is_aegis_option_text(lfirst(lc)))
					alter->entries = lappend(alter->entries, lfirst(lc));
				else
					heap_texts = lappend(heap_texts, lfirst(lc));
			}
			alter->stripped = true;
			if (alter->entries != NIL)
			{
				store_reloption_texts(classrel, tuple, heap_texts);
				CommandCounterIncrement();
			}
		}
		table_close(classrel, RowExclusiveLock);
	}
}

/*
 * Refuse the memory backend for a table that cannot have it: without the
 * privilege (check_memory_backend_allowed), or a permanent table that a
 * publication includes: explicitly (as check_publication_tables refuses
 * adding one), through its schema or a partitioned ancestor, or FOR ALL
 * TABLES (where its changes would be refused, see tam_dml.c).
 */
static void check_memory_backend_allowed(void);

static void
check_memory_backend_for(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	List	   *rels = list_make1_oid(relid);
	bool		published = GetAllTablesPublications() != NIL;
	ListCell   *lc;

	check_memory_backend_allowed();
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		return;
	if (rel->rd_rel->relispartition)
		rels = list_concat(rels, get_partition_ancestors(relid));
	foreach(lc, rels)
		published |= GetRelationPublications(lfirst_oid(lc)) != NIL ||
			GetSchemaPublications(get_rel_namespace(lfirst_oid(lc))) != NIL;
	if (published)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot move aegis table \"%s\" to the memory storage backend",
						RelationGetRelationName(rel)),
				 errdetail("A publication includes it, and the memory backend writes no WAL, so its changes could not be replicated."),
				 errhint("Remove the table from its publications first.")));
}

/*
 * After ALTER TABLE on aegis table alter->relid (lock held; PostgreSQL has
 * run its checks and the rest of the statement, and its event triggers have
 * fired): apply the aegis options it set or reset (a rewrite into new
 * storage when they change anything, AegisRelationChangeOptions) and record
 * them in pg_class.reloptions.  Raises ERRCODE_FEATURE_NOT_SUPPORTED for
 * another session's temporary table, ERRCODE_WRONG_OBJECT_TYPE if the
 * statement made it a heap table, and what the copy raises.
 */
static void
finish_alter(const AegisAlter *alter)
{
	const AegisOptionSet *set = &alter->set;
	bool		codec_changed = false;

	CommandCounterIncrement();
	/* an event trigger of the statement may have dropped the table */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(alter->relid)))
		return;
	if (!option_set_empty(set))
	{
		Relation	rel = relation_open(alter->relid, NoLock);
		AegisRelKey key;
		AegisRelInfo info;
		AegisStorageKind storage;
		AegisCodec	codec;
		int			level;

		if (rel->rd_rel->relam != get_table_am_oid("aegis", true))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is no longer an aegis table", RelationGetRelationName(rel)),
					 errdetail("storage_backend, compression and compression_level are options of aegis tables.")));
		if (RELATION_IS_OTHER_TEMP(rel))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot alter temporary tables of other sessions")));
		key = AegisRelKeyOf(rel);
		if (!AegisStorageGetInfo(&key, &info))
			(void) AegisStorageNPages(&key);	/* raises "does not exist" */
		resolve_options(set, &info, &storage, &codec, &level);
		codec_changed = codec != info.codec;
		if (storage == AEGIS_STORAGE_MEMORY && info.storage != AEGIS_STORAGE_MEMORY)
			check_memory_backend_for(rel);
		if (storage != info.storage || codec != info.codec || level != info.level)
			AegisRelationChangeOptions(rel, storage, codec, level);
		relation_close(rel, NoLock);
		CommandCounterIncrement();
	}
	record_reloptions(alter->relid, alter->entries, alter->stripped, set, codec_changed);
	CommandCounterIncrement();
}

/*
 * Remove what CREATE DATABASE made of database 'db' (which the aborting
 * transaction created): its pages in shared buffers, its pending fsync
 * requests and its directory in every tablespace, as PostgreSQL's
 * createdb_failure_callback and remove_dbtablespaces do.
 */
static void
remove_database_files(Oid db)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	DropDatabaseBuffers(db);
	ForgetDatabaseSyncRequests(db);
	rel = table_open(TableSpaceRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Oid			spcoid = ((Form_pg_tablespace) GETSTRUCT(tuple))->oid;
		char	   *path;
		struct stat st;

		if (spcoid == GLOBALTABLESPACE_OID)
			continue;
		path = GetDatabasePath(db, spcoid);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && !rmtree(path, true))
			ereport(WARNING,
					(errmsg("some useless files may be left behind in old database directory \"%s\"",
							path)));
		pfree(path);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * PG_ENSURE_ERROR_CLEANUP callback of copy_template_storage.  The aegis
 * storage copied so far, and its directory, go at abort
 * (AegisPendingCreateDatabase): here the error may have left aegis locks
 * held that only the abort releases.
 */
static void
copy_failure_callback(int code, Datum arg)
{
	remove_database_files(DatumGetObjectId(arg));
}

/*
 * After CREATE DATABASE: copy the template's aegis storage into the new
 * database (AegisCopyDatabaseStorage), in the same transaction.  If that
 * fails, the new database's files are removed before the error goes on.
 */
static void
copy_template_storage(CreatedbStmt *stmt)
{
	const char *template = "template1";	/* createdb()'s default */
	ListCell   *lc;
	Oid			dst;
	HeapTuple	tup;
	Oid			spc;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
			template = defGetString(def);
	}
	dst = get_database_oid(stmt->dbname, false);
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dst));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for database %u", dst);
	spc = ((Form_pg_database) GETSTRUCT(tup))->dattablespace;
	ReleaseSysCache(tup);
	/*
	 * PostgreSQL's own clean-up of a failed CREATE DATABASE
	 * (createdb_failure_callback) has ended with createdb(): on an error or
	 * a FATAL exit during the copy, do what it does, so nothing of the
	 * database that will not exist stays behind.
	 */
	AegisPendingCreateDatabase(dst);
	PG_ENSURE_ERROR_CLEANUP(copy_failure_callback, ObjectIdGetDatum(dst));
	{
		/* FILE_COPY copied the template's aegis files as they are: not ours */
		AegisLocalCleanDatabaseCopy(dst);
		AegisCopyDatabaseStorage(get_database_oid(template, false), dst, spc);
	}
	PG_END_ENSURE_ERROR_CLEANUP(copy_failure_callback, ObjectIdGetDatum(dst));
}

/*
 * ALTER DATABASE ... SET TABLESPACE (movedb) copies the database directory
 * of its default tablespace to the new one and removes the old: aegis
 * files there would move under every process that has them open, and
 * standbys replay the move without telling aegis.  Refused before
 * PostgreSQL does anything while the database has aegis storage in its
 * default tablespace.
 */
static void
check_move_database(AlterDatabaseStmt *stmt)
{
	ListCell   *lc;
	Oid			target = InvalidOid;
	Oid			db;
	HeapTuple	tup;
	Oid			current;
	int			n;
	int			count = 0;
	AegisRelInfo *all;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "tablespace") == 0)
			target = get_tablespace_oid(defGetString(def), true);
	}
	db = OidIsValid(target) ? get_database_oid(stmt->dbname, true) : InvalidOid;

	/*
	 * PostgreSQL's own refusals and its no-op come first, before any lock:
	 * a missing database or tablespace, not the owner, the current
	 * database, the database's own tablespace.
	 */
	if (!OidIsValid(db) || !pg_database_ownercheck(db, GetUserId()) || db == MyDatabaseId)
		return;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(db));
	if (!HeapTupleIsValid(tup))
		return;
	current = ((Form_pg_database) GETSTRUCT(tup))->dattablespace;
	ReleaseSysCache(tup);
	if (current == target)
		return;

	/*
	 * As movedb: no new connection from here on (the lock), and none left
	 * (waiting a few seconds for them to go), so no aegis table can appear
	 * in the database between this count and the move.  The lock is
	 * movedb's, which this backend then takes again.
	 */
	LockSharedObject(DatabaseRelationId, db, 0, AccessExclusiveLock);
	if (CountOtherDBBackends(db, &n, &count))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("database \"%s\" is being accessed by other users", stmt->dbname),
				 errdetail("There are %d other sessions and %d prepared transactions using the database.",
						   n, count)));
	count = 0;
	all = AegisStorageListAll(&n);
	for (int i = 0; i < n; i++)
		if (all[i].key.dbOid == db && !OidIsValid(all[i].key.spcOid) &&
			!AegisStorageDropCommitted(&all[i]))
			count++;
	pfree(all);
	if (count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot move database \"%s\" to another tablespace: it has aegis storage in its default tablespace",
						stmt->dbname),
				 errdetail("%d aegis relations (tables, TOAST tables) of the database are stored in its default tablespace.", count),
				 errhint("Move its aegis tables to another tablespace with ALTER TABLE ... SET TABLESPACE first (not to the target: it must hold none of the database's tables), or dump and restore them.")));
}

static void
aegis_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *queryEnv, DestReceiver *dest,
					  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	AegisStatementState saved = state;
	AegisAlter	alter;

	if (IsA(parsetree, CreatePublicationStmt))
		check_publication_tables(((CreatePublicationStmt *) parsetree)->pubobjects);
	else if (IsA(parsetree, AlterDatabaseStmt))
		check_move_database((AlterDatabaseStmt *) parsetree);
	else if (IsA(parsetree, AlterPublicationStmt) &&
			 ((AlterPublicationStmt *) parsetree)->action != AP_DropObjects)
		check_publication_tables(((AlterPublicationStmt *) parsetree)->pubobjects);

	memset(&state, 0, sizeof(state));
	state.in_statement = true;
	memset(&alter, 0, sizeof(alter));

	PG_TRY();
	{
		if (IsA(parsetree, CreateStmt) || IsA(parsetree, CreateTableAsStmt) ||
			IsA(parsetree, AlterTableStmt))
		{
			if (readOnlyTree)
			{
				pstmt = copyObject(pstmt);
				parsetree = pstmt->utilityStmt;
				readOnlyTree = false;
			}
			if (IsA(parsetree, CreateStmt))
			{
				CreateStmt *stmt = (CreateStmt *) parsetree;

				if (targets_aegis(stmt->accessMethod))
				{
					state.creating = true;
					stmt->options = extract_options(stmt->options, &state.create, false);
				}
			}
			else if (IsA(parsetree, CreateTableAsStmt))
			{
				IntoClause *into = ((CreateTableAsStmt *) parsetree)->into;

				if (into && targets_aegis(into->accessMethod))
				{
					state.creating = true;
					into->options = extract_options(into->options, &state.create, false);
				}
			}
			else
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				if (is_aegis_relation(stmt->relation))
				{
					prepare_alter(stmt, &alter);
				}
			}
		}

		/*
		 * Also an ALTER TABLE left without subcommands goes through
		 * PostgreSQL: its read-only and permission checks, relation-kind
		 * check (ALTER VIEW of a table), in-use check and event triggers.
		 */
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);

		/* a COPY that added pages leaves exact stubs, as a DML statement */
		AegisPageTrimStubs();
		if (OidIsValid(alter.relid))
			finish_alter(&alter);
		if (IsA(parsetree, CreatedbStmt))
			copy_template_storage((CreatedbStmt *) parsetree);
		/* the prepared transaction's storage is settled now, not at a checkpoint */
		if (IsA(parsetree, TransactionStmt) &&
			(((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED ||
			 ((TransactionStmt *) parsetree)->kind == TRANS_STMT_ROLLBACK_PREPARED))
			AegisSettleFinishedTransactions();
		if (state.created != NIL)
		{
			ListCell   *lc;

			CommandCounterIncrement();
			foreach(lc, state.created)
				record_reloptions(lfirst_oid(lc), NIL, false, &state.create, false);
			CommandCounterIncrement();
		}
	}
	PG_FINALLY();
	{
		state = saved;
	}
	PG_END_TRY();
}

/*
 * Raise ERRCODE_INSUFFICIENT_PRIVILEGE unless the current user may create a
 * memory-backend table: a superuser, or a member of aegis.memory_backend_role.
 * Memory storage is one budget for the whole server, like a tablespace that
 * needs CREATE privilege, so it is not open to every role by default.
 */
static void
check_memory_backend_allowed(void)
{
	Oid			role = InvalidOid;

	if (superuser())
		return;
	if (aegis_memory_backend_role && aegis_memory_backend_role[0] != '\0')
		role = get_role_oid(aegis_memory_backend_role, true);
	if (OidIsValid(role) && has_privs_of_role(GetUserId(), role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to create a memory-backend aegis table"),
			 errdetail("Memory-backend tables share aegis.memory_backend_size among all sessions; only superusers and members of the role named by aegis.memory_backend_role may create them."),
			 errhint("Create the table WITH (storage_backend = 'local'), or ask for membership in the role named by aegis.memory_backend_role.")));
}

/*
 * AegisOptionsForNewRelation (AegisNewRelationOptions_hook)
 *		Storage backend, codec and level for new aegis relation 'rel': the
 *		statement's WITH options, else the aegis.* defaults
 *		(resolve_options).  The options named are recorded in
 *		pg_class.reloptions of 'rel' when the statement ends.  Raises
 *		ERRCODE_INVALID_PARAMETER_VALUE for a level the codec does not
 *		accept; the memory backend needs privilege
 *		(ERRCODE_INSUFFICIENT_PRIVILEGE, check_memory_backend_allowed).
 */
static void
AegisOptionsForNewRelation(Relation rel, AegisStorageKind *storage, AegisCodec *codec,
						   int *level)
{
	AegisOptionSet none;

	memset(&none, 0, sizeof(none));
	resolve_options(state.creating ? &state.create : &none, NULL, storage, codec, level);
	if (*storage == AEGIS_STORAGE_MEMORY)
		check_memory_backend_allowed();

	if (state.in_statement && state.creating && !option_set_empty(&state.create))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		state.created = lappend_oid(state.created, RelationGetRelid(rel));
		MemoryContextSwitchTo(old);
	}
}

void
AegisInstallOptionHooks(void)
{
	AegisNewRelationOptions_hook = AegisOptionsForNewRelation;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = aegis_process_utility;
}
