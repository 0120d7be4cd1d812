/*-------------------------------------------------------------------------
 *
 * utility.c
 *		Layer 2: ProcessUtility_hook.
 *
 * Refuses, before any work is done, the DDL that would switch the guard
 * off or rewrite a protected table's rows, for everyone but the table's
 * designated owner; TRUNCATE of a protected table for everyone; and the
 * statements that set session_replication_role = replica while protected
 * tables exist.  After a statement it keeps partitions in step: a new or
 * attached partition of a protected table is protected, a detached one
 * keeps its guard, and a table its designated owner dropped leaves the
 * registry.
 *
 * Statements that cannot concern a protected table return at once, before
 * the registry cache is consulted.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "parser/parse_type.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Depth of ALTER EXTENSION audit_guard UPDATE statements running: the
 * update marks the extension's row before it runs the extension's own,
 * installed script, which cannot weaken the guard.
 */
int			audit_guard_updating_extension = 0;

/* The utility statement running at the current nesting level, or NULL. */
static Node *running_statement = NULL;

/*
 * Utility statements running, nested ones included, and how many of them
 * are VACUUM FULL or CLUSTER, and ALTER TABLE retyping a column.  The
 * post-statement check may run inside a nested statement and judge what
 * an outer one changed: what it allows, every statement running must.
 * DO and CALL are not counted: they change no relation themselves, and
 * each statement they run is checked at its own end.
 */
static int	statements_running = 0;
static int	rewrites_running = 0;
static int	retypes_running = 0;

/* The relation a RangeVar names, or InvalidOid; takes no lock. */
static Oid
relid_of(RangeVar *rv)
{
	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/* relid, and its inheritance children unless the statement said ONLY. */
static List *
targets_of(RangeVar *rv)
{
	Oid			relid = relid_of(rv);

	if (!OidIsValid(relid))
		return NIL;
	if (!rv->inh || !has_subclass(relid))
		return list_make1_oid(relid);
	return find_all_inheritors(relid, NoLock, NULL);
}

/* True when relid has a trigger named tgname that is a guard trigger. */
static bool
is_guard_trigger_name(Oid relid, const char *tgname)
{
	Relation	tgrel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		result = false;

	if (tgname == NULL)
		return false;
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(tgname));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL,
							  2, keys);
	if ((tuple = systable_getnext(scan)) != NULL)
		result = audit_guard_is_guard_trigger((Form_pg_trigger) GETSTRUCT(tuple));
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return result;
}

/*
 * The operation an ALTER TABLE subcommand performs on relid, when it is one
 * only the designated owner may perform; NULL otherwise.
 */
static const char *
guarded_alter_operation(AlterTableCmd *cmd, Oid relid)
{
	switch (cmd->subtype)
	{
		case AT_DisableTrig:
			return is_guard_trigger_name(relid, cmd->name) ?
				"DISABLE TRIGGER" : NULL;
		case AT_EnableTrig:
		case AT_EnableReplicaTrig:
			/* would downgrade the guard from ENABLE ALWAYS */
			return is_guard_trigger_name(relid, cmd->name) ?
				"ENABLE [REPLICA] TRIGGER" : NULL;
		case AT_DisableTrigAll:
		case AT_DisableTrigUser:
			return "DISABLE TRIGGER ALL/USER";
		case AT_EnableTrigAll:
		case AT_EnableTrigUser:
			return "ENABLE TRIGGER ALL/USER";
		case AT_AlterColumnType:
			return "ALTER COLUMN TYPE";
		case AT_DropColumn:
			return "DROP COLUMN";
		case AT_DropExpression:
#if AG_HAS_SET_EXPRESSION
		case AT_SetExpression:
#endif
			return "changing a generated column";
		case AT_SetUnLogged:
			return "SET UNLOGGED";
		case AT_DetachPartition:
		case AT_DetachPartitionFinalize:
			return "DETACH PARTITION";
		case AT_ChangeOwner:
			/* handing the table to its designated owner weakens nothing */
			return is_member_of_role_nosuper(get_rolespec_oid(cmd->newowner, false),
											 audit_guard_owner_of(relid)) ?
				NULL : "OWNER TO";
		case AT_AddInherit:
		case AT_DropInherit:
			return "INHERIT/NO INHERIT";
		case AT_EnableRule:
		case AT_EnableAlwaysRule:
		case AT_EnableReplicaRule:
		case AT_DisableRule:
			return "ENABLE/DISABLE RULE";
		default:
			return NULL;
	}
}

/* The partition a DETACH subcommand names. */
static Oid
detached_partition(AlterTableCmd *cmd)
{
	if (cmd->subtype != AT_DetachPartition &&
		cmd->subtype != AT_DetachPartitionFinalize)
		return InvalidOid;
	return relid_of(((PartitionCmd *) cmd->def)->name);
}

/*
 * The protected typed tables of the composite type typrelid: a change of
 * one of its attributes with CASCADE (ALTER TYPE ... RENAME, ALTER
 * ATTRIBUTE ... TYPE) changes their column of that name.  Refused when it
 * is the time column of a retention, as on the table itself.
 */
static void
check_typed_tables_column(Oid typrelid, const char *column, const char *operation)
{
	Oid			typid = get_rel_type_id(typrelid);
	Relation	deprel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	if (!OidIsValid(typid) || column == NULL)
		return;
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 2, keys);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		HeapTuple	reltup;
		bool		typed;

		if (dep->classid != RelationRelationId || dep->objsubid != 0 ||
			!OidIsValid(audit_guard_owner_of(dep->objid)))
			continue;
		reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(dep->objid));
		if (!HeapTupleIsValid(reltup))
			continue;
		typed = ((Form_pg_class) GETSTRUCT(reltup))->reloftype == typid;
		ReleaseSysCache(reltup);
		if (typed)
			audit_guard_check_retention_column(dep->objid, column, operation);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
}

/*
 * ALTER COLUMN ... TYPE (also through ALTER TYPE ... ALTER ATTRIBUTE ...
 * CASCADE) and SET EXPRESSION rewrite every value of a column: of the time
 * column of a retention, they would age young rows (USING at - interval
 * '100 years') or make them unreadable as times, and the rows could then
 * be dropped.  Refused for everyone, as DROP and RENAME COLUMN of it are.
 */
static void
check_time_column_rewrite(AlterTableCmd *cmd, Oid relid)
{
	const char *operation = NULL;

	if (cmd->subtype == AT_AlterColumnType)
		operation = "alter the type of column";
#if AG_HAS_SET_EXPRESSION
	else if (cmd->subtype == AT_SetExpression)
		operation = "change the expression of column";
#endif
	if (operation == NULL)
		return;
	if (get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
		check_typed_tables_column(relid, cmd->name, operation);
	else if (OidIsValid(audit_guard_owner_of(relid)))
		audit_guard_check_retention_column(relid, cmd->name, operation);
}

/* A protected table's partitions must be local tables. */
static void
check_local_partition(Oid parent, Oid child)
{
	if (OidIsValid(audit_guard_owner_of(parent)) &&
		get_rel_relkind(child) == RELKIND_FOREIGN_TABLE)
		audit_guard_refuse_foreign_partition(parent,
											 audit_guard_table_name(child));
}

/*
 * DETACH PARTITION of a protected table, or from a protected one: for its
 * designated owner.  CONCURRENTLY is refused under a retention here,
 * before its first transaction commits.  Whether a plain DETACH takes rows
 * younger than a retention away is decided after it ran, on the table it
 * actually detached and holds locked (postcheck.c): the names given here
 * may resolve to other tables once DETACH has waited for its locks.
 */
static void
check_detach(AlterTableCmd *cmd, Oid partition)
{
	audit_guard_require_owner(partition, "DETACH PARTITION");
	if (cmd->subtype == AT_DetachPartition &&
		((PartitionCmd *) cmd->def)->concurrent &&
		OidIsValid(audit_guard_owner_of(partition)))
		audit_guard_check_retention_detach_concurrently(partition);
}

/* True when stmt has a subcommand of type subtype. */
static bool
has_subcommand(AlterTableStmt *stmt, AlterTableType subtype)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
		if (lfirst_node(AlterTableCmd, lc)->subtype == subtype)
			return true;
	return false;
}

/* ALTER TABLE: refuse guarded subcommands on any protected target. */
static void
check_alter_table(AlterTableStmt *stmt)
{
	List	   *targets;
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	targets = targets_of(stmt->relation);
	if (stmt->objtype == OBJECT_TYPE && targets != NIL)
		/* ALTER TYPE ... CASCADE reaches the typed tables of the type */
		targets = lappend_oid(targets,
							  audit_guard_protected_user_of_type(get_rel_type_id(linitial_oid(targets)), 0));
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			partition = detached_partition(cmd);
		ListCell   *tc;

		foreach(tc, targets)
		{
			Oid			relid = lfirst_oid(tc);
			const char *operation;

			if (!OidIsValid(audit_guard_owner_of(relid)))
			{
				/* ALTER TYPE: the type's typed tables */
				check_time_column_rewrite(cmd, relid);
				continue;
			}
			operation = guarded_alter_operation(cmd, relid);
			if (operation)
				audit_guard_require_owner(relid, operation);
			/*
			 * ALTER TYPE reaches this table through a column of the type,
			 * not through a column of the attribute's name: its typed
			 * tables were checked with the type, above.
			 */
			if (stmt->objtype != OBJECT_TYPE)
				check_time_column_rewrite(cmd, relid);
		}
		if (OidIsValid(partition))
			check_detach(cmd, partition);
		if (cmd->subtype == AT_AttachPartition)
			check_local_partition(relid_of(stmt->relation),
								  relid_of(((PartitionCmd *) cmd->def)->name));
	}
}

/*
 * Refuse operation unless the user is the designated owner of every
 * protected table in schema nspid, or owned by role ownerid.
 */
static void
check_tables_where(Oid nspid, Oid ownerid, const char *operation)
{
	ListCell   *lc;

	if (!OidIsValid(nspid) && !OidIsValid(ownerid))
		return;
	foreach(lc, audit_guard_protected_tables())
	{
		Oid			relid = lfirst_oid(lc);
		HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		Form_pg_class form;
		bool		hit;

		if (!HeapTupleIsValid(tuple))
			continue;
		form = (Form_pg_class) GETSTRUCT(tuple);
		hit = form->relnamespace == nspid || form->relowner == ownerid;
		ReleaseSysCache(tuple);
		if (hit)
			audit_guard_require_owner(relid, operation);
	}
}

/* The OIDs of a list of RoleSpecs (CURRENT_USER and friends included). */
static List *
role_oids(List *rolespecs)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, rolespecs)
		result = lappend_oid(result,
							 get_rolespec_oid(lfirst_node(RoleSpec, lc), true));
	return result;
}

/* DROP OWNED BY: refuse when it would drop a protected table. */
static void
check_drop_owned(DropOwnedStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	foreach(lc, role_oids(stmt->roles))
		check_tables_where(InvalidOid, lfirst_oid(lc), "DROP OWNED");
}

/* REASSIGN OWNED BY: refuse when it would move a protected table. */
static void
check_reassign_owned(ReassignOwnedStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	foreach(lc, role_oids(stmt->roles))
		check_tables_where(InvalidOid, lfirst_oid(lc), "REASSIGN OWNED");
}

/* The table a DROP TRIGGER name list ([schema.]table.trigger) names. */
static Oid
trigger_table(List *names)
{
	return relid_of(makeRangeVarFromNameList(list_truncate(list_copy(names),
														   list_length(names) - 1)));
}

/*
 * DROP TRIGGER of a guard trigger, DROP TABLE of a protected table, DROP
 * EXTENSION audit_guard: refused here first, so that the message names what
 * the user asked for.  The object-access hook refuses the same drops when
 * they are reached by a cascade.
 */
static void
check_drop(DropStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	foreach(lc, stmt->objects)
	{
		if (stmt->removeType == OBJECT_TRIGGER)
		{
			List	   *names = (List *) lfirst(lc);
			Oid			relid = trigger_table(names);

			if (OidIsValid(audit_guard_owner_of(relid)) &&
				is_guard_trigger_name(relid, strVal(llast(names))))
				audit_guard_require_owner(relid, "DROP TRIGGER");
		}
		else if (stmt->removeType == OBJECT_TABLE)
			audit_guard_require_owner(relid_of(makeRangeVarFromNameList((List *) lfirst(lc))),
									  "DROP TABLE");
		else if (stmt->removeType == OBJECT_SCHEMA)
			check_tables_where(get_namespace_oid(strVal(lfirst(lc)), true),
							   InvalidOid, "DROP SCHEMA");
		else if (stmt->removeType == OBJECT_EXTENSION &&
				 strcmp(strVal(lfirst(lc)), "audit_guard") == 0)
			audit_guard_refuse_extension_change("drop");
	}
}

/* True for a trigger that could drop or alter rows as they are inserted. */
static bool
fires_before_insert(CreateTrigStmt *stmt)
{
	return stmt->row && stmt->timing == TRIGGER_TYPE_BEFORE &&
		(stmt->events & TRIGGER_TYPE_INSERT) != 0;
}

/*
 * CREATE OR REPLACE TRIGGER over a guard trigger, and any BEFORE INSERT row
 * trigger: returning NULL it would swallow every later insert, as an ON
 * INSERT DO INSTEAD NOTHING rule would.  Other new triggers cannot undo
 * the guard and stay allowed (pg_restore creates them).
 */
static void
check_create_trigger(CreateTrigStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	foreach(lc, targets_of(stmt->relation))
	{
		Oid			relid = lfirst_oid(lc);

		if (!OidIsValid(audit_guard_owner_of(relid)))
			continue;
		if (stmt->replace && is_guard_trigger_name(relid, stmt->trigname))
			audit_guard_require_owner(relid, "CREATE OR REPLACE TRIGGER");
		if (fires_before_insert(stmt))
			audit_guard_require_owner(relid, "CREATE TRIGGER ... BEFORE INSERT");
	}
}

/*
 * ALTER TRIGGER ... RENAME of a guard trigger; ALTER TABLE ... RENAME
 * COLUMN of a retention's time column, and ALTER TYPE ... RENAME
 * ATTRIBUTE ... CASCADE of it in a typed table.
 */
static void
check_rename(RenameStmt *stmt)
{
	Oid			relid;

	if (!audit_guard_any_protected())
		return;
	if (stmt->renameType == OBJECT_COLUMN)
	{
		relid = relid_of(stmt->relation);
		if (OidIsValid(audit_guard_owner_of(relid)))
			audit_guard_check_retention_column(relid, stmt->subname, "rename column");
		return;
	}
	if (stmt->renameType == OBJECT_ATTRIBUTE)
	{
		check_typed_tables_column(relid_of(stmt->relation), stmt->subname,
								  "rename column");
		return;
	}
	if (stmt->renameType != OBJECT_TRIGGER)
		return;
	relid = relid_of(stmt->relation);
	if (OidIsValid(audit_guard_owner_of(relid)) &&
		is_guard_trigger_name(relid, stmt->subname))
		audit_guard_require_owner(relid, "ALTER TRIGGER ... RENAME");
}

/* CREATE RULE: a DO INSTEAD rule would bypass or swallow writes. */
static void
check_create_rule(RuleStmt *stmt)
{
	if (!audit_guard_any_protected())
		return;
	audit_guard_require_owner(relid_of(stmt->relation), "CREATE RULE");
}

/*
 * The tables a TRUNCATE would empty: those named, their inheritance
 * children unless ONLY, and with CASCADE every table that references one of
 * them by foreign key, to the fixpoint, as ExecuteTruncate() computes it.
 */
static List *
truncate_targets(TruncateStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;

	foreach(lc, stmt->relations)
		targets = list_concat_unique_oid(targets,
										 targets_of(lfirst_node(RangeVar, lc)));
	if (stmt->behavior == DROP_CASCADE)
	{
		List	   *more = targets;

		while ((more = list_difference_oid(heap_truncate_find_FKs(more),
										   targets)) != NIL)
			targets = list_concat(targets, more);
	}
	return targets;
}

/*
 * True when relid holds no block at all, checked under the lock TRUNCATE
 * takes anyway: truncating it removes nothing.  pg_restore -j truncates
 * each table it has just created before loading it, and the registry's
 * rows may already be loaded by then.  The new storage is then allowed to
 * the post-statement check for this relation only.
 */
static bool
empty_under_lock(Oid relid)
{
	Relation	rel;
	bool		empty;

	if (get_rel_relkind(relid) != RELKIND_RELATION)
		return false;
	LockRelationOid(relid, AccessExclusiveLock);
	rel = relation_open(relid, NoLock);
	empty = RelationGetNumberOfBlocks(rel) == 0;
	relation_close(rel, NoLock);
	if (empty)
		audit_guard_postcheck_allow_new_storage(relid);
	return empty;
}

/*
 * TRUNCATE: refused for everyone, before any table is emptied,
 * when a protected table or one of audit_guard's own is among the tables
 * it would empty.
 */
static void
check_truncate(TruncateStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_extension_ready())
		return;
	foreach(lc, truncate_targets(stmt))
	{
		Oid			relid = lfirst_oid(lc);
		bool		empty;

		if (IsCatalogRelationOid(relid) && audit_guard_any_protected())
			audit_guard_refuse_catalog_truncate(relid);
		if (audit_guard_is_own_table(relid))
			audit_guard_refuse_own_table(relid, "truncate");
		/* every target: another session may protect it while we wait */
		empty = empty_under_lock(relid);
		if (OidIsValid(audit_guard_owner_of(relid)) && !empty)
			audit_guard_refuse_change(relid, "truncate");
	}
}

/*
 * True when stmt would make session_replication_role replica.  For a SET
 * in the session that includes RESET and DEFAULT when the value they fall
 * back to is replica; for stored settings only an explicit value counts.
 */
static bool
sets_replica(VariableSetStmt *stmt, bool in_session)
{
	const char *value = NULL;

	if (stmt == NULL)
		return false;
	if (stmt->kind == VAR_RESET_ALL)
		return in_session &&
			pg_strcasecmp(GetConfigOptionResetString("session_replication_role"),
						  "replica") == 0;
	if (stmt->name == NULL ||
		pg_strcasecmp(stmt->name, "session_replication_role") != 0)
		return false;
	if (stmt->kind == VAR_SET_VALUE)
		value = ExtractSetVariableArgs(stmt);
	else if (in_session &&
			 (stmt->kind == VAR_SET_DEFAULT || stmt->kind == VAR_RESET))
		value = GetConfigOptionResetString("session_replication_role");
	else if (stmt->kind == VAR_SET_CURRENT)
		value = GetConfigOption("session_replication_role", false, false);
	return value != NULL && pg_strcasecmp(value, "replica") == 0;
}

/*
 * True when an ALTER SYSTEM would leave shared_preload_libraries without
 * audit_guard: RESET ALL, a RESET, or a list that does not name it.
 */
static bool
drops_preload(VariableSetStmt *stmt)
{
	List	   *names;
	ListCell   *lc;
	char	   *value;

	if (stmt == NULL)
		return false;
	if (stmt->kind == VAR_RESET_ALL)
		return true;
	if (stmt->name == NULL ||
		pg_strcasecmp(stmt->name, "shared_preload_libraries") != 0)
		return false;
	if (stmt->kind != VAR_SET_VALUE)
		return true;
	value = pstrdup(ExtractSetVariableArgs(stmt));
	if (!SplitDirectoriesString(value, ',', &names))
		return true;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		const char *base = strrchr(name, '/');

		base = base ? base + 1 : name;
		if (strcmp(base, "audit_guard") == 0 ||
			strcmp(base, "audit_guard.so") == 0)
			return false;
	}
	return true;
}

/* Refuse replica mode unless the user is every table's designated owner. */
static void
check_replica(VariableSetStmt *stmt, bool in_session, const char *how)
{
	if (sets_replica(stmt, in_session) && audit_guard_any_protected())
		audit_guard_refuse_replica_role(how);
}

/* A function's SET clauses: SET session_replication_role = replica. */
static void
check_function_options(List *options, const char *how)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "set") == 0)
			check_replica(castNode(VariableSetStmt, def->arg), false, how);
	}
}

/* DROP ROLE of a role that is the designated owner of a protected table. */
static void
check_drop_role(DropRoleStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	foreach(lc, role_oids(stmt->roles))
		audit_guard_refuse_owner_drop(lfirst_oid(lc));
}

/*
 * A protected table with a column of type typid, directly or through a
 * domain, an array or a composite type; InvalidOid if none.  Follows the
 * dependencies recorded in pg_depend, a few levels deep.
 */
Oid
audit_guard_protected_user_of_type(Oid typid, int depth)
{
	Relation	deprel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			found = InvalidOid;

	if (depth > 8)
		return InvalidOid;
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL,
							  2, keys);
	while (!OidIsValid(found) && (tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->classid == TypeRelationId)
			found = audit_guard_protected_user_of_type(dep->objid, depth + 1);
		else if (dep->classid == RelationRelationId &&
				 OidIsValid(audit_guard_owner_of(dep->objid)))
			found = dep->objid;
		else if (dep->classid == RelationRelationId &&
				 get_rel_relkind(dep->objid) == RELKIND_COMPOSITE_TYPE)
			found = audit_guard_protected_user_of_type(get_rel_type_id(dep->objid),
										   depth + 1);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
	return found;
}

/*
 * ALTER TYPE ... RENAME VALUE changes what every stored row of that enum
 * reads as, without touching a row: a rewrite of history by other means.
 */
static void
check_alter_enum(AlterEnumStmt *stmt)
{
	Oid			typid;
	Oid			relid;

	if (stmt->oldVal == NULL || !audit_guard_any_protected())
		return;
	typid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(stmt->typeName),
							  true);
	relid = OidIsValid(typid) ? audit_guard_protected_user_of_type(typid, 0) : InvalidOid;
	if (OidIsValid(relid))
		audit_guard_require_owner(relid, "ALTER TYPE ... RENAME VALUE");
}

/* CREATE FOREIGN TABLE ... PARTITION OF a protected table. */
static void
check_foreign_partition(CreateForeignTableStmt *stmt)
{
	Oid			parent;

	if (stmt->base.partbound == NULL ||
		list_length(stmt->base.inhRelations) != 1 ||
		!audit_guard_any_protected())
		return;
	parent = relid_of(linitial_node(RangeVar, stmt->base.inhRelations));
	if (OidIsValid(audit_guard_owner_of(parent)))
		audit_guard_refuse_foreign_partition(parent,
											 quote_identifier(stmt->base.relation->relname));
}

/* Every refusal that must happen before the statement does any work. */
static void
check_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			check_alter_table((AlterTableStmt *) parsetree);
			break;
		case T_DropStmt:
			check_drop((DropStmt *) parsetree);
			break;
		case T_CreateTrigStmt:
			check_create_trigger((CreateTrigStmt *) parsetree);
			break;
		case T_RenameStmt:
			check_rename((RenameStmt *) parsetree);
			break;
		case T_RuleStmt:
			check_create_rule((RuleStmt *) parsetree);
			break;
		case T_TruncateStmt:
			check_truncate((TruncateStmt *) parsetree);
			break;
		case T_VariableSetStmt:
			check_replica((VariableSetStmt *) parsetree, true, "SET");
			break;
		case T_AlterRoleSetStmt:
			check_replica(((AlterRoleSetStmt *) parsetree)->setstmt, false,
						  "ALTER ROLE ... SET");
			break;
		case T_AlterDatabaseSetStmt:
			check_replica(((AlterDatabaseSetStmt *) parsetree)->setstmt, false,
						  "ALTER DATABASE ... SET");
			break;
		case T_AlterSystemStmt:
			check_replica(((AlterSystemStmt *) parsetree)->setstmt, false,
						  "ALTER SYSTEM");
			if (drops_preload(((AlterSystemStmt *) parsetree)->setstmt) &&
				audit_guard_any_protected())
				audit_guard_refuse_preload_change("ALTER SYSTEM");
			break;
		case T_CreateFunctionStmt:
			check_function_options(((CreateFunctionStmt *) parsetree)->options,
								   "a function's SET clause");
			break;
		case T_AlterFunctionStmt:
			check_function_options(((AlterFunctionStmt *) parsetree)->actions,
								   "a function's SET clause");
			break;
		case T_AlterExtensionContentsStmt:
			if (strcmp(((AlterExtensionContentsStmt *) parsetree)->extname,
					   "audit_guard") == 0 &&
				audit_guard_any_protected())
				audit_guard_refuse_extension_change("change the members of");
			break;
		case T_DropOwnedStmt:
			check_drop_owned((DropOwnedStmt *) parsetree);
			break;
		case T_AlterEnumStmt:
			check_alter_enum((AlterEnumStmt *) parsetree);
			break;
		case T_ReassignOwnedStmt:
			check_reassign_owned((ReassignOwnedStmt *) parsetree);
			break;
		case T_CreateForeignTableStmt:
			check_foreign_partition((CreateForeignTableStmt *) parsetree);
			break;
		case T_DropRoleStmt:
			check_drop_role((DropRoleStmt *) parsetree);
			break;
		case T_LoadStmt:
			/* a library loaded now could replace these hooks (sepgsql) */
			if (audit_guard_any_protected())
				audit_guard_refuse_load(((LoadStmt *) parsetree)->filename);
			break;
		default:
			break;
	}
}

/* After CREATE TABLE ... PARTITION OF: protect the partition if needed. */
static void
after_create(CreateStmt *stmt)
{
	if (stmt->partbound == NULL || list_length(stmt->inhRelations) != 1 ||
		!audit_guard_any_protected())
		return;
	audit_guard_protect_new_partitions(relid_of(linitial_node(RangeVar, stmt->inhRelations)),
									   relid_of(stmt->relation));
}

/* After ALTER TABLE: follow ATTACH and DETACH PARTITION. */
static void
after_alter_table(AlterTableStmt *stmt)
{
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AttachPartition)
			audit_guard_protect_new_partitions(relid_of(stmt->relation),
											   relid_of(((PartitionCmd *) cmd->def)->name));
		else if (OidIsValid(detached_partition(cmd)))
			audit_guard_keep_detached(detached_partition(cmd));
	}
}

/* Bookkeeping after a statement succeeded. */
static void
after_statement(Node *parsetree)
{
	if (IsA(parsetree, CreateStmt))
		after_create((CreateStmt *) parsetree);
	else if (IsA(parsetree, AlterTableStmt))
		after_alter_table((AlterTableStmt *) parsetree);
	audit_guard_flush_forgotten();
}

/* Run the statement through the previous hook or the standard function. */
static void
run_statement(AG_PROCESS_UTILITY_PARAMS)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(AG_PROCESS_UTILITY_ARGS);
	else
		standard_ProcessUtility(AG_PROCESS_UTILITY_ARGS);
}

/*
 * Run the statement, keep the registry in step, then decide on what it
 * actually changed.  audit_guard's own statements (protect() creating
 * triggers) are not checked: what came before them was, when protect.c
 * issued them.
 */
static void
run_and_check(AG_PROCESS_UTILITY_PARAMS)
{
	Node	   *parsetree = pstmt->utilityStmt;
	CommandId	start = IsTransactionState() ? GetCurrentCommandId(false) : 0;
	List	   *dropped_roles = audit_guard_roles_to_drop(parsetree);	/* roles.c */

	run_statement(AG_PROCESS_UTILITY_ARGS);
	audit_guard_check_dropped_roles(dropped_roles);	/* roles.c */
	after_statement(parsetree);
	/* BEGIN, COMMIT, SHOW change no definition; commit checks itself */
	if (IsA(parsetree, TransactionStmt) || IsA(parsetree, VariableShowStmt))
		return;
	if (audit_guard_is_own_statement(queryString))
		audit_guard_postcheck_own_statement_done();
	else
	{
		if (IsA(parsetree, TruncateStmt))
			audit_guard_postcheck_truncate(start);
		audit_guard_postcheck(IsA(parsetree, CopyStmt));
	}
}

/*
 * True for VACUUM FULL and CLUSTER (REPACK): statements that give tables
 * new storage with the same rows.  Plain VACUUM and ANALYZE do not.
 */
static bool
rewrites_storage(Node *parsetree)
{
	ListCell   *lc;

	if (AG_IS_CLUSTER(parsetree))
		return true;
	if (!IsA(parsetree, VacuumStmt) || !((VacuumStmt *) parsetree)->is_vacuumcmd)
		return false;
	foreach(lc, ((VacuumStmt *) parsetree)->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "full") == 0)
			return defGetBoolean(opt);
	}
	return false;
}

/*
 * The hook: refuse early what the statement names, then run and check it,
 * counting what runs for the checks (audit_guard_storage_rewrite_running).
 */
static void
audit_guard_ProcessUtility(AG_PROCESS_UTILITY_PARAMS)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		rewrite = rewrites_storage(parsetree);
	bool		retype = IsA(parsetree, AlterTableStmt) &&
		has_subcommand((AlterTableStmt *) parsetree, AT_AlterColumnType);
	bool		update = IsA(parsetree, AlterExtensionStmt) &&
		strcmp(((AlterExtensionStmt *) parsetree)->extname, "audit_guard") == 0;
	bool		counted = !IsA(parsetree, DoStmt) && !IsA(parsetree, CallStmt);
	Node	   *outer = running_statement;

	if (!audit_guard_is_own_statement(queryString))
		check_statement(parsetree);
	if (update)
		audit_guard_updating_extension++;
	running_statement = parsetree;
	statements_running += counted;
	rewrites_running += rewrite;
	retypes_running += retype;
	PG_TRY();
	{
		run_and_check(AG_PROCESS_UTILITY_ARGS);
	}
	PG_FINALLY();
	{
		running_statement = outer;
		statements_running -= counted;
		rewrites_running -= rewrite;
		retypes_running -= retype;
		if (update)
			audit_guard_updating_extension--;
	}
	PG_END_TRY();
}

/*
 * True while every utility statement running is VACUUM FULL or CLUSTER:
 * they may give a protected table new storage with the same rows.  Not
 * when one is nested in another statement (a function's CLUSTER inside
 * ALTER TABLE ... USING): a check at its end may judge the outer one's
 * work.  Not reset at transaction end: VACUUM commits as it goes.
 */
bool
audit_guard_storage_rewrite_running(void)
{
	return statements_running > 0 && rewrites_running == statements_running;
}

/*
 * True while a utility statement running, at any level, is an ALTER TABLE
 * that retypes a column: when it also moves the table to another
 * tablespace, the new storage holds rewritten rows, not copies.
 */
bool
audit_guard_running_retypes_columns(void)
{
	return retypes_running > 0;
}

/*
 * True while the utility statement running at this nesting level is an
 * ALTER TABLE that only enables or disables triggers: the post-statement
 * check judges such a change on audit_guard's own tables (re-enabling a
 * trigger ALWAYS weakens nothing).  A statement nested inside it (an event
 * trigger's) is judged as itself.
 */
bool
audit_guard_running_trigger_state_change(void)
{
	ListCell   *lc;

	if (running_statement == NULL || !IsA(running_statement, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) running_statement)->cmds)
	{
		switch (lfirst_node(AlterTableCmd, lc)->subtype)
		{
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
			case AT_EnableReplicaTrig:
			case AT_DisableTrig:
			case AT_EnableTrigAll:
			case AT_DisableTrigAll:
			case AT_EnableTrigUser:
			case AT_DisableTrigUser:
				break;
			default:
				return false;
		}
	}
	return true;
}

/* Install the hook, keeping the previous one to chain to. */
void
audit_guard_install_utility_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = audit_guard_ProcessUtility;
}
