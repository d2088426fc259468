/*-------------------------------------------------------------------------
 *
 * tam_options.c
 *	  Per-table choices: CREATE TABLE ... USING aegis WITH (storage_backend,
 *	  compression, compression_level).
 *
 * PostgreSQL 15 validates a table's WITH options against heap's list, so
 * the ProcessUtility hook takes aegis's own option names out of CREATE
 * TABLE and CREATE TABLE AS before PostgreSQL sees them, validates them, and
 * keeps them for the one aegis relation that statement creates.  Options
 * not given come from aegis.default_backend, aegis.default_compression and
 * aegis.compression_level.  ALTER TABLE ... SET of these options is refused
 * (see README, limitations).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "aegis/backend.h"
#include "aegis/guc.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "aegis/tam.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/syscache.h"

typedef struct AegisCreateOptions
{
	bool		active;			/* inside a CREATE that targets aegis */
	bool		has_storage;
	bool		has_codec;
	bool		has_level;
	AegisStorageKind storage;
	AegisCodec	codec;
	int			level;
} AegisCreateOptions;

static AegisCreateOptions create_options;
static ProcessUtility_hook_type prev_process_utility = NULL;

static bool
is_aegis_option(const char *name)
{
	return strcmp(name, "storage_backend") == 0 ||
		strcmp(name, "compression") == 0 ||
		strcmp(name, "compression_level") == 0;
}

/* Take aegis options out of 'options' into create_options; return the rest. */
static List *
extract_options(List *options)
{
	List	   *rest = NIL;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->defnamespace != NULL || !is_aegis_option(def->defname))
		{
			rest = lappend(rest, def);
			continue;
		}
		if (strcmp(def->defname, "storage_backend") == 0)
		{
			char	   *v = defGetString(def);

			if (!AegisStorageKindFromName(v, &create_options.storage))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for aegis option \"storage_backend\": \"%s\"", v),
						 errhint("Valid values are \"local\" and \"memory\".")));
			create_options.has_storage = true;
		}
		else if (strcmp(def->defname, "compression") == 0)
		{
			char	   *v = defGetString(def);

			if (!AegisCodecFromName(v, &create_options.codec))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for aegis option \"compression\": \"%s\"", v),
						 errhint("Valid values are \"none\", \"lz4\" and \"zstd\".")));
			create_options.has_codec = true;
		}
		else
		{
			create_options.level = defGetInt32(def);
			create_options.has_level = true;
		}
	}
	return rest;
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

static void
aegis_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *queryEnv, DestReceiver *dest,
					  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	AegisCreateOptions saved = create_options;

	if (IsA(parsetree, CreatePublicationStmt))
		check_publication_tables(((CreatePublicationStmt *) parsetree)->pubobjects);
	else if (IsA(parsetree, AlterPublicationStmt) &&
			 ((AlterPublicationStmt *) parsetree)->action != AP_DropObjects)
		check_publication_tables(((AlterPublicationStmt *) parsetree)->pubobjects);

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
				memset(&create_options, 0, sizeof(create_options));
				create_options.active = true;
				stmt->options = extract_options(stmt->options);
			}
		}
		else if (IsA(parsetree, CreateTableAsStmt))
		{
			IntoClause *into = ((CreateTableAsStmt *) parsetree)->into;

			if (into && targets_aegis(into->accessMethod))
			{
				memset(&create_options, 0, sizeof(create_options));
				create_options.active = true;
				into->options = extract_options(into->options);
			}
		}
		else if (is_aegis_relation(((AlterTableStmt *) parsetree)->relation))
		{
			ListCell   *lc;

			foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
				ListCell   *oc;

				if (cmd->subtype != AT_SetRelOptions && cmd->subtype != AT_ResetRelOptions)
					continue;
				foreach(oc, (List *) cmd->def)
				{
					DefElem    *def = lfirst_node(DefElem, oc);

					if (def->defnamespace == NULL && is_aegis_option(def->defname))
						ereport(ERROR,
								(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								 errmsg("cannot change aegis option \"%s\" of an existing table", def->defname),
								 errhint("Create a new table WITH (%s = ...) and copy the rows into it.",
										 def->defname)));
				}
			}
		}
	}

	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
								 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		create_options = saved;
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
 * AegisOptionsForNewRelation
 *		Storage backend, codec and level for a relation being created: the
 *		statement's WITH options, else the aegis.* defaults.  The level is
 *		checked against the codec (raises ERRCODE_INVALID_PARAMETER_VALUE);
 *		the memory backend needs privilege (ERRCODE_INSUFFICIENT_PRIVILEGE,
 *		check_memory_backend_allowed).
 */
void
AegisOptionsForNewRelation(AegisStorageKind *storage, AegisCodec *codec, int *level)
{
	bool		use = create_options.active;

	*storage = (use && create_options.has_storage) ? create_options.storage
		: (AegisStorageKind) aegis_default_backend;
	*codec = (use && create_options.has_codec) ? create_options.codec
		: (AegisCodec) aegis_default_compression;
	if (use && create_options.has_level)
		*level = create_options.level;
	else if (use && create_options.has_codec)
		*level = 0;				/* a codec named in WITH gets its own default */
	else
		*level = aegis_compression_level;
	if (*codec == AEGIS_CODEC_NONE && !(use && create_options.has_level))
		*level = 0;
	*level = AegisCodecCheckLevel(*codec, *level);
	if (*storage == AEGIS_STORAGE_MEMORY)
		check_memory_backend_allowed();
}

void
AegisInstallOptionHooks(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = aegis_process_utility;
}
