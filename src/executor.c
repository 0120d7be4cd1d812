/*-------------------------------------------------------------------------
 *
 * executor.c
 *		Layer 4: ExecutorStart_hook and ExecutorFinish_hook.
 *
 * Refuses a plan that would UPDATE or DELETE rows of a protected table,
 * whatever the trigger state: plain statements, MERGE actions, INSERT ...
 * ON CONFLICT DO UPDATE, writable CTEs, statements run inside functions and
 * the foreign-key actions (ON DELETE CASCADE, SET NULL) that ri_triggers.c
 * runs through SPI.  Because it reads the plan and not pg_trigger, catalog
 * tampering cannot open the table.  SELECT, SELECT ... FOR UPDATE/SHARE,
 * INSERT, COPY and foreign-key checks plan no UPDATE or DELETE and pass.
 *
 * It also refuses UPDATE and DELETE on audit_guard's own tables outside
 * its functions, and checks, after any statement that writes pg_trigger or
 * pg_class directly, that every protected table still has its guard
 * triggers ENABLE ALWAYS and relhastriggers set: such writes send no
 * invalidation, so nothing else would notice them.
 *
 * The fast path is a test of the command type: SELECT and plain INSERT
 * return before any audit_guard data is touched.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/snapmgr.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* Set when a statement writes pg_trigger or pg_class; checked at its end. */
static bool guard_catalog_written = false;

/* The verb of a refusal message for an operation on a table. */
static const char *
operation_verb(CmdType operation)
{
	return operation == CMD_DELETE ? "delete rows from" : "update rows of";
}

/* Refuse operation on one result relation if it is guarded. */
static void
check_result_relation(PlannedStmt *stmt, Index rti, CmdType operation)
{
	Oid			relid = rt_fetch(rti, stmt->rtable)->relid;

	if (OidIsValid(audit_guard_owner_of(relid)))
		audit_guard_refuse_change(relid, operation_verb(operation));
	if (relid == TriggerRelationId || relid == RelationRelationId)
		guard_catalog_written = true;
	else if (!audit_guard_writing_registry && audit_guard_is_own_table(relid))
		audit_guard_refuse_own_table(relid, operation == CMD_DELETE ?
									 "delete from" : "update");
}

#if AG_HAS_MERGE
/* The UPDATE or DELETE a list of MERGE actions contains, or CMD_NOTHING. */
static CmdType
merge_changes(List *actions)
{
	ListCell   *lc;

	foreach(lc, actions)
	{
		MergeAction *action = lfirst_node(MergeAction, lc);

		if (action->commandType == CMD_UPDATE ||
			action->commandType == CMD_DELETE)
			return action->commandType;
	}
	return CMD_NOTHING;
}
#endif

/* Check the result relations of one ModifyTable node. */
static void
check_modify_table(PlannedStmt *stmt, ModifyTable *mt)
{
	ListCell   *lc;
	int			i = 0;

	/* the table the statement named first, so that the message names it */
	if (mt->rootRelation > 0 &&
		(mt->operation == CMD_UPDATE || mt->operation == CMD_DELETE))
		check_result_relation(stmt, mt->rootRelation, mt->operation);
	foreach(lc, mt->resultRelations)
	{
		CmdType		operation = mt->operation;

#if AG_HAS_MERGE
		if (operation == CMD_MERGE)
			operation = merge_changes(list_nth(mt->mergeActionLists, i));
#endif
		if (operation == CMD_INSERT && mt->onConflictAction == ONCONFLICT_UPDATE)
			operation = CMD_UPDATE;
		if (operation == CMD_UPDATE || operation == CMD_DELETE)
			check_result_relation(stmt, lfirst_int(lc), operation);
		i++;
	}
}

/* Check every ModifyTable: the top plan and those of writable CTEs. */
static void
check_plan(PlannedStmt *stmt)
{
	ListCell   *lc;

	if (IsA(stmt->planTree, ModifyTable))
		check_modify_table(stmt, (ModifyTable *) stmt->planTree);
	if (!stmt->hasModifyingCTE)
		return;
	foreach(lc, stmt->subplans)
	{
		Plan	   *plan = (Plan *) lfirst(lc);

		if (plan && IsA(plan, ModifyTable))
			check_modify_table(stmt, (ModifyTable *) plan);
	}
}

/* Ensure this statement can modify rows before looking at its plan. */
static inline bool
may_modify(PlannedStmt *stmt, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return false;
	return stmt->hasModifyingCTE ||
		(stmt->commandType != CMD_SELECT && stmt->commandType != CMD_UTILITY);
}

/* The hook: look at plans that may modify rows, then chain. */
static void
audit_guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (may_modify(queryDesc->plannedstmt, eflags))
		check_plan(queryDesc->plannedstmt);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* True when tgtype is the guard of the UPDATE/DELETE rows or of TRUNCATE. */
static bool
is_whole_guard(Form_pg_trigger trig, bool *is_row)
{
	int16		type = trig->tgtype;

	*is_row = TRIGGER_FOR_ROW(type);
	if (!TRIGGER_FOR_BEFORE(type))
		return false;
	if (*is_row)
		return TRIGGER_FOR_UPDATE(type) && TRIGGER_FOR_DELETE(type);
	return TRIGGER_FOR_TRUNCATE(type);
}

/*
 * True when relid's pg_class row, as this statement left it, still tells
 * the relcache to load its triggers (relhastriggers false would hide them).
 */
static bool
class_keeps_triggers(Oid relid)
{
	Relation	classrel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		result;

	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(classrel, ClassOidIndexId, true, SnapshotSelf,
							  1, &key);
	tuple = systable_getnext(scan);
	result = tuple != NULL &&
		((Form_pg_class) GETSTRUCT(tuple))->relhastriggers;
	systable_endscan(scan);
	table_close(classrel, AccessShareLock);
	return result;
}

/* The guard triggers verify_guard_triggers() found on one table. */
typedef struct GuardSeen
{
	Oid			relid;
	bool		row;
	bool		truncate;
} GuardSeen;

/*
 * After a direct write to pg_trigger or pg_class: every protected table
 * must still have a row and a TRUNCATE guard trigger, ENABLE ALWAYS, with
 * no WHEN clause, and relhastriggers.  Reads with SnapshotSelf to see this
 * statement's own work.
 */
static void
verify_guard_triggers(void)
{
	HASHCTL		ctl = {.keysize = sizeof(Oid),.entrysize = sizeof(GuardSeen),
	.hcxt = CurrentMemoryContext};
	HTAB	   *seen = hash_create("audit_guard guard triggers", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(tgrel, InvalidOid, false,
										  SnapshotSelf, 0, NULL);
	HeapTuple	tuple;
	ListCell   *lc;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tuple);
		GuardSeen  *entry;
		bool		is_row;
		bool		found;

		if (!audit_guard_is_guard_trigger(trig) ||
			trig->tgenabled != TRIGGER_FIRES_ALWAYS ||
			!is_whole_guard(trig, &is_row) ||
			!heap_attisnull(tuple, Anum_pg_trigger_tgqual, NULL))
			continue;
		entry = hash_search(seen, &trig->tgrelid, HASH_ENTER, &found);
		if (!found)
			entry->row = entry->truncate = false;
		if (is_row)
			entry->row = true;
		else
			entry->truncate = true;
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);

	foreach(lc, audit_guard_protected_tables())
	{
		Oid			relid = lfirst_oid(lc);
		GuardSeen  *entry = hash_search(seen, &relid, HASH_FIND, NULL);

		if (entry == NULL || !entry->row || !entry->truncate ||
			!class_keeps_triggers(relid))
			audit_guard_refuse_catalog_edit(relid);
	}
	hash_destroy(seen);
}

/* The hook: chain, then verify the guard after a direct catalog write. */
static void
audit_guard_ExecutorFinish(QueryDesc *queryDesc)
{
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);

	if (guard_catalog_written)
	{
		guard_catalog_written = false;
		verify_guard_triggers();
	}
}

/* Install the hooks, keeping the previous ones to chain to. */
void
audit_guard_install_executor_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = audit_guard_ExecutorStart;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = audit_guard_ExecutorFinish;
}
