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
#include "access/transam.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

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
bool
audit_guard_in_own_script(void)
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
		{
			audit_guard_check_retention_drop(objectId);
			audit_guard_forget_dropped(objectId);
		}
		else
			audit_guard_check_retention_column(objectId,
											   get_attname(objectId, subId, true),
											   "drop column");
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
check_extension_alter(Oid classId, Oid objectId, int subId)
{
	FormData_pg_trigger trig;

	if (audit_guard_in_own_script())
		return;
	/* ALTER EXTENSION audit_guard UPDATE marks the row, then runs our script */
	if (classId == ExtensionRelationId && audit_guard_updating_extension > 0)
		return;
	/*
	 * ENABLE/DISABLE TRIGGER on one of its own tables (16 and later report
	 * the table itself after a trigger's state changed): the post-statement
	 * check compares what changed, and lets through what weakens nothing,
	 * such as re-enabling a trigger ALWAYS.  Any other ALTER stays refused.
	 */
	if (classId == RelationRelationId && subId == 0 &&
		audit_guard_running_trigger_state_change() &&
		audit_guard_is_own_table(objectId))
		return;
	/* re-enabling one of its own triggers ALWAYS weakens nothing */
	if (classId == TriggerRelationId && fetch_trigger(objectId, &trig) &&
		audit_guard_is_own_table(trig.tgrelid) &&
		trig.tgenabled == TRIGGER_FIRES_ALWAYS)
		return;
	/* its schema: renamed, a fake audit_guard.check() could answer */
	if (classId == NamespaceRelationId && objectId == audit_guard_schema())
	{
		audit_guard_refuse_extension_change("alter the schema of");
		return;
	}
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
	if (!audit_guard_in_own_script() &&
		getExtensionOfObject(ProcedureRelationId, funcoid) ==
		get_extension_oid("audit_guard", true))
		audit_guard_refuse_extension_change("replace a function of");
}

/*
 * ALTER SCHEMA (RENAME, OWNER TO) of a schema that holds protected tables
 * changes their qualified names: for their designated owners only.
 */
static void
check_schema_alter(Oid nspid)
{
	ListCell   *lc;

	foreach(lc, audit_guard_protected_tables())
	{
		if (get_rel_namespace(lfirst_oid(lc)) == nspid)
			audit_guard_require_owner(lfirst_oid(lc), "ALTER SCHEMA");
	}
}

/*
 * ALTER DOMAIN (a default, a constraint) or ALTER TYPE of a type a
 * protected table's column uses: a domain default decides what every later
 * insert that leaves the column out records.  For its designated owner.
 */
static void
check_type_alter(Oid typid)
{
	Oid			relid;

	if (get_typtype(typid) != TYPTYPE_DOMAIN)
		return;
	relid = audit_guard_protected_user_of_type(typid, 0);
	if (OidIsValid(relid))
		audit_guard_require_owner(relid, "ALTER DOMAIN");
}

/*
 * The namespace of a function or relation just created: read with
 * SnapshotSelf, since the post-create hook runs before the row is visible
 * to the caches.
 */
static Oid
created_namespace(Oid classId, Oid objectId)
{
	bool		is_proc = classId == ProcedureRelationId;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nspid = InvalidOid;

	if (!is_proc && classId != RelationRelationId)
		return InvalidOid;
	if (!is_proc)
	{
		/* a new relation is in the relcache already, and locked by us */
		rel = RelationIdGetRelation(objectId);
		if (rel != NULL)
		{
			nspid = RelationGetNamespace(rel);
			RelationClose(rel);
			return nspid;
		}
	}
	rel = table_open(classId, AccessShareLock);
	ScanKeyInit(&key, is_proc ? Anum_pg_proc_oid : Anum_pg_class_oid,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
	scan = systable_beginscan(rel, is_proc ? ProcedureOidIndexId : ClassOidIndexId,
							  true, SnapshotSelf, 1, &key);
	if ((tuple = systable_getnext(scan)) != NULL)
		nspid = is_proc ? ((Form_pg_proc) GETSTRUCT(tuple))->pronamespace :
			((Form_pg_class) GETSTRUCT(tuple))->relnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nspid;
}

/*
 * A function or relation created in audit_guard's schema outside its
 * own script: a planted audit_guard.check(text) would answer monitoring
 * queries that pass a text argument.
 */
static void
check_created_in_schema(Oid classId, Oid objectId)
{
	Oid			nspid;

	if (audit_guard_in_own_script())
		return;
	nspid = created_namespace(classId, objectId);
	if (OidIsValid(nspid) && nspid == audit_guard_schema())
		audit_guard_refuse_extension_change("create objects in the schema of");
}

/* pg_surgery's functions, found by the C symbol they run: funcoid -> bool. */
static HTAB *surgery = NULL;

/* Forget what we know of functions when pg_proc changes. */
static void
proc_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	if (surgery != NULL)
	{
		hash_destroy(surgery);
		surgery = NULL;
	}
}

/* True when funcoid runs one of pg_surgery's C functions, under any name. */
static bool
is_surgery(Oid funcoid)
{
	typedef struct
	{
		Oid			funcoid;
		bool		surgery;
	}			SurgeryEntry;
	SurgeryEntry *entry;
	bool		found;
	HeapTuple	tuple;

	if (surgery == NULL)
	{
		HASHCTL		ctl = {.keysize = sizeof(Oid),.entrysize = sizeof(SurgeryEntry),
		.hcxt = CacheMemoryContext};

		surgery = hash_create("audit_guard functions", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(surgery, &funcoid, HASH_ENTER, &found);
	if (found)
		return entry->surgery;
	entry->surgery = false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcoid));
	if (HeapTupleIsValid(tuple) &&
		((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId)
	{
		bool		isnull;
		Datum		bin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &isnull);
		char	   *src = TextDatumGetCString(SysCacheGetAttr(PROCOID, tuple,
															  Anum_pg_proc_prosrc,
															  &isnull));

		entry->surgery = !isnull && strstr(TextDatumGetCString(bin), "pg_surgery") &&
			(strcmp(src, "heap_force_kill") == 0 ||
			 strcmp(src, "heap_force_freeze") == 0);
	}
	if (HeapTupleIsValid(tuple))
		ReleaseSysCache(tuple);
	return entry->surgery;
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
			if (!audit_guard_any_protected())
				break;
			if (classId == RelationRelationId && subId == 0)
				audit_guard_postcheck_before_drop(objectId);
			check_drop(classId, objectId, subId);
			if (classId == RelationRelationId && subId == 0)
				audit_guard_postcheck_dropped(objectId);
			break;
		case OAT_POST_ALTER:
			if (!audit_guard_any_protected())
				break;
			check_extension_alter(classId, objectId, subId);
			if (classId == TriggerRelationId)
				check_trigger(access, objectId);
			else if (classId == NamespaceRelationId)
				check_schema_alter(objectId);
			else if (classId == TypeRelationId)
				check_type_alter(objectId);
			break;
		case OAT_FUNCTION_EXECUTE:
			/* built-in functions change no definition and are no surgery */
			if (objectId < FirstNormalObjectId)
				break;
			audit_guard_postcheck_function(objectId);
			if (is_surgery(objectId) && audit_guard_any_protected())
				audit_guard_refuse_surgery(objectId);
			break;
		case OAT_POST_CREATE:
			if (!audit_guard_any_protected())
				break;
			if (classId == TriggerRelationId)
				check_trigger(access, objectId);
			else if (classId == ProcedureRelationId)
				check_function_replaced(objectId);
			check_created_in_schema(classId, objectId);
			break;
		default:
			break;
	}
}

/* Install the hook, keeping the previous one to chain to. */
void
audit_guard_install_object_access_hook(void)
{
	CacheRegisterSyscacheCallback(PROCOID, proc_syscache_callback, (Datum) 0);
	prev_object_access_hook = object_access_hook;
	object_access_hook = audit_guard_object_access;
}
