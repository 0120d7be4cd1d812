/*-------------------------------------------------------------------------
 *
 * object_access.c
 *		Layer 3: object_access_hook, the catch-all.
 *
 * Many statements reach a guard trigger or a protected table without
 * naming it: DROP SCHEMA ... CASCADE, DROP OWNED, DROP FUNCTION ... CASCADE
 * on the trigger function, DROP TYPE ... CASCADE on a column's type, DROP
 * EXTENSION, an ALTER TABLE on an inheritance parent.  Every drop passes
 * through deleteOneObject(), and every change of a trigger's enabled state
 * or name fires OAT_POST_ALTER, so this hook sees them all, whatever the
 * path.  CREATE OR REPLACE TRIGGER fires OAT_POST_CREATE instead (see
 * PG_NOTES): a trigger with a guard's name that no longer runs the guard
 * function is caught there, as are a new BEFORE INSERT row trigger however
 * it got onto a protected table (a clone from a parent included) and
 * CREATE OR REPLACE FUNCTION over one of the extension's functions.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"

static object_access_hook_type prev_object_access_hook = NULL;

/*
 * Copy the pg_trigger row of trigger tgoid, as the current command sees it
 * (SnapshotSelf: a post-alter hook must see the new version).
 */
static bool
fetch_trigger(Oid tgoid, FormData_pg_trigger *result)
{
	Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(tgoid));
	scan = systable_beginscan(tgrel, TriggerOidIndexId, true, SnapshotSelf,
							  1, &key);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		memcpy(result, GETSTRUCT(tuple), sizeof(FormData_pg_trigger));
		found = true;
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return found;
}

/* True for a trigger named like one of the guards. */
static bool
has_guard_name(Form_pg_trigger trig)
{
	return strcmp(NameStr(trig->tgname), AG_ROW_TRIGGER) == 0 ||
		strcmp(NameStr(trig->tgname), AG_TRUNCATE_TRIGGER) == 0;
}

/* True while audit_guard's own extension script runs (CREATE/ALTER EXTENSION). */
static bool
in_own_script(void)
{
	return creating_extension &&
		CurrentExtensionObject == get_extension_oid("audit_guard", true);
}

/*
 * True for the objects the hooks depend on: the registry and history
 * tables, the guard function and the registry's own trigger.
 */
static bool
is_extension_internal(Oid classId, Oid objectId)
{
	FormData_pg_trigger trig;

	if (classId == RelationRelationId)
		return audit_guard_is_own_table(objectId);
	if (classId == ProcedureRelationId)
		return objectId == audit_guard_guard_function();
	if (classId == TriggerRelationId)
		return fetch_trigger(objectId, &trig) &&
			audit_guard_is_own_table(trig.tgrelid);
	return classId == ExtensionRelationId &&
		objectId == get_extension_oid("audit_guard", true);
}

/* A drop of a table, a column of one, or a guard trigger. */
static void
check_drop(Oid classId, Oid objectId, int subId)
{
	FormData_pg_trigger trig;

	if (is_extension_internal(classId, objectId))
		audit_guard_refuse_extension_change("drop");
	else if (classId == RelationRelationId &&
			 OidIsValid(audit_guard_owner_of(objectId)))
	{
		audit_guard_require_owner(objectId,
								  subId == 0 ? "DROP TABLE" : "DROP COLUMN");
		if (subId == 0)
			audit_guard_forget_dropped(objectId);
	}
	else if (classId == TriggerRelationId &&
			 fetch_trigger(objectId, &trig) &&
			 audit_guard_is_guard_trigger(&trig))
		audit_guard_require_owner(trig.tgrelid, "DROP TRIGGER");
}

/*
 * Any ALTER of an object of the extension (rename, owner, schema, trigger
 * state of the registry) outside CREATE/ALTER EXTENSION.
 */
static void
check_extension_alter(Oid classId, Oid objectId)
{
	if (in_own_script())
		return;
	if (is_extension_internal(classId, objectId) ||
		getExtensionOfObject(classId, objectId) ==
		get_extension_oid("audit_guard", true))
		audit_guard_refuse_extension_change("alter");
}

/*
 * A trigger was altered (enabled state, name) or created or replaced: on a
 * protected table, the guard must stay ENABLE ALWAYS under its own name,
 * and no other function may take over a guard's name.
 */
static void
check_trigger(ObjectAccessType access, Oid tgoid)
{
	FormData_pg_trigger trig;

	if (!fetch_trigger(tgoid, &trig) ||
		!OidIsValid(audit_guard_owner_of(trig.tgrelid)))
		return;
	if (audit_guard_is_guard_trigger(&trig))
	{
		if (access == OAT_POST_ALTER &&
			(trig.tgenabled != TRIGGER_FIRES_ALWAYS || !has_guard_name(&trig)))
			audit_guard_require_owner(trig.tgrelid, "changing a guard trigger");
	}
	else if (access == OAT_POST_CREATE && has_guard_name(&trig))
		audit_guard_require_owner(trig.tgrelid, "CREATE OR REPLACE TRIGGER");
	else if (access == OAT_POST_CREATE && TRIGGER_FOR_ROW(trig.tgtype) &&
			 TRIGGER_FOR_BEFORE(trig.tgtype) && TRIGGER_FOR_INSERT(trig.tgtype))
		audit_guard_require_owner(trig.tgrelid, "CREATE TRIGGER ... BEFORE INSERT");
}

/*
 * CREATE OR REPLACE FUNCTION on one of the extension's functions keeps its
 * membership and swaps its body: reject_change() could be made to return
 * NULL, protect() to do nothing.
 */
static void
check_function_replaced(Oid funcoid)
{
	if (!in_own_script() &&
		getExtensionOfObject(ProcedureRelationId, funcoid) ==
		get_extension_oid("audit_guard", true))
		audit_guard_refuse_extension_change("replace a function of");
}

/* The hook: chain first, then look only at the classes that matter. */
static void
audit_guard_object_access(ObjectAccessType access, Oid classId,
						  Oid objectId, int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	switch (access)
	{
		case OAT_DROP:
			if (audit_guard_any_protected())
				check_drop(classId, objectId, subId);
			break;
		case OAT_POST_ALTER:
			if (!audit_guard_any_protected())
				break;
			check_extension_alter(classId, objectId);
			if (classId == TriggerRelationId)
				check_trigger(access, objectId);
			break;
		case OAT_POST_CREATE:
			if (classId == TriggerRelationId &&
				audit_guard_any_protected())
				check_trigger(access, objectId);
			else if (classId == ProcedureRelationId &&
					 audit_guard_any_protected())
				check_function_replaced(objectId);
			break;
		default:
			break;
	}
}

/* Install the hook, keeping the previous one to chain to. */
void
audit_guard_install_object_access_hook(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = audit_guard_object_access;
}
