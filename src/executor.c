/*-------------------------------------------------------------------------
 *
 * executor.c
 *		Layer 4: ExecutorStart_hook, ExecutorCheckPerms_hook and
 *		ExecutorFinish_hook.
 *
 * Refuses a plan that would UPDATE or DELETE rows of a protected table,
 * whatever the trigger state: plain statements, MERGE actions, INSERT ...
 * ON CONFLICT DO UPDATE, writable CTEs, statements run inside functions and
 * the foreign-key actions (ON DELETE CASCADE, SET NULL) that ri_triggers.c
 * runs through SPI.  Because it reads the plan and not pg_trigger, catalog
 * tampering cannot open the table.  SELECT, SELECT ... FOR UPDATE/SHARE,
 * INSERT, COPY and foreign-key checks plan no UPDATE or DELETE and pass.
 *
 * The one DELETE of a protected table let through is the statement
 * purge() or redact() (erase.c) issues itself, on the table it erases.
 *
 * It also refuses UPDATE and DELETE on audit_guard's own tables, except
 * for the very statement one of audit_guard's functions issued (not what a
 * rule adds to it, nor what a trigger runs inside it); notes every direct
 * write to a system catalog, by DML or COPY, for postcheck.c; and ends
 * every statement with postcheck.c's checkpoint.
 *
 * The fast path is a test of the command type: SELECT and plain INSERT
 * return before any audit_guard data is touched.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "catalog/catalog.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/memutils.h"
#include "utils/rel.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;

/*
 * The queries running in this transaction that write a system catalog:
 * each ends with a full check (postcheck.c), however it nests.
 */
static List *catalog_queries = NIL;

/* The verb of a refusal message for an operation on a table. */
static const char *
operation_verb(CmdType operation)
{
	return operation == CMD_DELETE ? "delete rows from" : "update rows of";
}

/*
 * True for the statement one of audit_guard's functions issued itself:
 * its text is the one audit_guard passed to SPI, and it is the statement
 * that sets the command tag (not one a rule added).
 */
static inline bool
is_own_query(QueryDesc *queryDesc)
{
	return audit_guard_is_own_statement(queryDesc->sourceText) &&
		queryDesc->plannedstmt->canSetTag;
}

/* Refuse operation on one result relation if it is guarded. */
static void
check_result_relation(QueryDesc *queryDesc, Index rti, CmdType operation)
{
	Oid			relid = rt_fetch(rti, queryDesc->plannedstmt->rtable)->relid;

	if (OidIsValid(audit_guard_owner_of(relid)) &&
		!(operation == CMD_DELETE && relid == audit_guard_erasing &&
		  is_own_query(queryDesc)))
		audit_guard_refuse_change(relid, operation_verb(operation));
	if (audit_guard_is_own_table(relid) && !is_own_query(queryDesc))
		audit_guard_refuse_own_table(relid, operation == CMD_DELETE ?
									 "delete from" : "update");
}

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

/* Check the result relations of one ModifyTable node. */
static void
check_modify_table(QueryDesc *queryDesc, ModifyTable *mt)
{
	ListCell   *lc;
	int			i = 0;

	/* the table the statement named first, so that the message names it */
	if (mt->rootRelation > 0 &&
		(mt->operation == CMD_UPDATE || mt->operation == CMD_DELETE))
		check_result_relation(queryDesc, mt->rootRelation, mt->operation);
	foreach(lc, mt->resultRelations)
	{
		CmdType		operation = mt->operation;

		if (operation == CMD_MERGE)
			operation = merge_changes(list_nth(mt->mergeActionLists, i));
		if (operation == CMD_INSERT && mt->onConflictAction == ONCONFLICT_UPDATE)
			operation = CMD_UPDATE;
		if (operation == CMD_UPDATE || operation == CMD_DELETE)
			check_result_relation(queryDesc, lfirst_int(lc), operation);
		i++;
	}
}

/* Check every ModifyTable: the top plan and those of writable CTEs. */
static void
check_plan(QueryDesc *queryDesc)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	ListCell   *lc;

	if (IsA(stmt->planTree, ModifyTable))
		check_modify_table(queryDesc, (ModifyTable *) stmt->planTree);
	if (stmt->hasModifyingCTE)
	{
		foreach(lc, stmt->subplans)
		{
			Plan	   *plan = (Plan *) lfirst(lc);

			if (plan && IsA(plan, ModifyTable))
				check_modify_table(queryDesc, (ModifyTable *) plan);
		}
	}
	foreach(lc, ag_result_relations(stmt))
	{
		if (IsCatalogRelationOid(rt_fetch(lfirst_int(lc), stmt->rtable)->relid))
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			catalog_queries = lappend(catalog_queries, queryDesc);
			MemoryContextSwitchTo(old);
			break;
		}
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

/* True when relid's only BEFORE ROW DELETE trigger is the guard. */
static bool
guard_is_only_delete_trigger(TriggerDesc *td)
{
	Oid			guard = audit_guard_guard_function();
	int			i;

	for (i = 0; i < td->numtriggers; i++)
		if (TRIGGER_TYPE_MATCHES(td->triggers[i].tgtype, TRIGGER_TYPE_ROW,
								 TRIGGER_TYPE_BEFORE, TRIGGER_TYPE_DELETE) &&
			td->triggers[i].tgfoid != guard)
			return false;
	return true;
}

/*
 * The DELETE purge() or redact() issues itself, let through above: the
 * guard trigger would only hand each row back, after the executor locked
 * the row for it (a tuple lock and a WAL record per row, a quarter of a
 * purge's time).  When the guard is the table's only BEFORE ROW DELETE
 * trigger, this query's own copy of the trigger list stops calling it; a
 * trigger of the table's owner still runs.
 */
static void
skip_guard_for_erasure(QueryDesc *queryDesc)
{
	EState	   *estate = queryDesc->estate;
	Index		i;

	if (!OidIsValid(audit_guard_erasing) || queryDesc->operation != CMD_DELETE ||
		!is_own_query(queryDesc) || estate->es_result_relations == NULL)
		return;
	for (i = 0; i < estate->es_range_table_size; i++)
	{
		ResultRelInfo *rri = estate->es_result_relations[i];

		if (rri != NULL && rri->ri_TrigDesc != NULL &&
			RelationGetRelid(rri->ri_RelationDesc) == audit_guard_erasing &&
			guard_is_only_delete_trigger(rri->ri_TrigDesc))
			rri->ri_TrigDesc->trig_delete_before_row = false;
	}
}

/* The hook: look at plans that may modify rows, then chain. */
static void
audit_guard_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	bool		modifies = may_modify(queryDesc->plannedstmt, eflags);

	if (modifies)
		check_plan(queryDesc);

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (modifies)
		skip_guard_for_erasure(queryDesc);
}

/*
 * The permission hook sees every relation a query or a COPY is about to
 * write, already resolved and locked: note direct writes to a catalog.
 * An earlier hook's refusal stands.
 */
static bool
audit_guard_ExecutorCheckPerms(AG_CHECK_PERMS_PARAMS)
{
	ListCell   *lc;

	if (prev_ExecutorCheckPerms && !prev_ExecutorCheckPerms(AG_CHECK_PERMS_ARGS))
		return false;
	foreach(lc, AG_CHECK_PERMS_ITEMS)
	{
		AgPermItem *item = lfirst(lc);

		if ((item->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) &&
			OidIsValid(item->relid) && IsCatalogRelationOid(item->relid))
			audit_guard_postcheck_catalog_write();
	}
	return true;
}

/* The hook: chain, then the checkpoint (a full one after a catalog write). */
static void
audit_guard_ExecutorFinish(QueryDesc *queryDesc)
{
	bool		full = list_member_ptr(catalog_queries, queryDesc);

	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);

	if (full)
		catalog_queries = list_delete_ptr(catalog_queries, queryDesc);
	audit_guard_postcheck_query(full);
}

/* Forget the catalog-writing queries when the transaction ends. */
void
audit_guard_executor_xact_end(void)
{
	catalog_queries = NIL;
}

/* Install the hooks, keeping the previous ones to chain to. */
void
audit_guard_install_executor_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = audit_guard_ExecutorStart;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = audit_guard_ExecutorFinish;
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = audit_guard_ExecutorCheckPerms;
}
