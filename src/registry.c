/*-------------------------------------------------------------------------
 *
 * registry.c
 *		The backend-local cache of audit_guard.registry.
 *
 * The utility and executor hooks run for every statement of every backend,
 * so they must not read the registry table each time.  This file keeps,
 * per backend, the extension's object OIDs, whether any table is protected
 * at all, and a hash of the relations asked about so far with their
 * designated owner (InvalidOid for "not protected").  A relation missing
 * from the hash costs one probe of the registry's primary key, once; the
 * registry is never read whole on the hot path, so neither a new backend
 * nor a backend after protect() pays for the size of the registry.
 *
 * Everything is thrown away when the registry changes: the registry's own
 * statement trigger (triggers.c) broadcasts a relcache invalidation of the
 * registry table, and the relcache callback below drops the cache.  The
 * rare paths that need every protected table (the replica-role check,
 * DROP ROLE, LOAD, the catalog-edit check) read the registry whole, then.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
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

typedef struct GuardEntry
{
	Oid			relid;			/* hash key: a relation asked about */
	Oid			owner;			/* its designated owner, or InvalidOid */
} GuardEntry;

typedef struct GuardCache
{
	bool		valid;			/* cleared by any relevant invalidation */
	bool		extension;		/* extension installed and registry exists */
	bool		any;			/* the registry has at least one row */
	Oid			schema;
	Oid			registry;
	Oid			registry_pkey;
	Oid			history;
	Oid			seal_blocks;	/* InvalidOid before extension version 1.1 */
	Oid			seal_rows;
	Oid			guard_function;
	Oid			extension_oid;
	List	   *own_tables;		/* member tables: registry, history, ... */
	List	   *own_functions;	/* member functions */
	HTAB	   *entries;
} GuardCache;

static GuardCache cache;

/*
 * Drop the cache when the registry may have changed.  While the extension
 * is absent any invalidation may be its creation, so every one counts.  An
 * invalidated relation is probed again (it may have gained or lost guard
 * triggers) and reported to postcheck.c, unless it was known to be
 * unprotected: a change to such a table needs no decision.
 */
static void
registry_relcache_callback(Datum arg, Oid relid)
{
	GuardEntry *entry = NULL;
	bool		unprotected = false;

	(void) arg;
	if (!cache.extension || !OidIsValid(relid) || relid == cache.registry)
		cache.valid = false;
	else if (cache.valid && cache.entries != NULL)
	{
		entry = hash_search(cache.entries, &relid, HASH_FIND, NULL);
		unprotected = entry != NULL && !OidIsValid(entry->owner) &&
			!list_member_oid(cache.own_tables, relid);
		hash_search(cache.entries, &relid, HASH_REMOVE, NULL);
	}
	if (OidIsValid(relid) && !unprotected)
		audit_guard_postcheck_note(relid);
}

/* Register the invalidation callback; called once from _PG_init. */
void
audit_guard_registry_init(void)
{
	CacheRegisterRelcacheCallback(registry_relcache_callback, (Datum) 0);
}

/* The schema of the installed audit_guard extension, or InvalidOid. */
static Oid
extension_schema(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			schema = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("audit_guard"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	if ((tuple = systable_getnext(scan)) != NULL)
		schema = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return schema;
}

/*
 * Call visit for each pg_depend row that depends on object (refclassid,
 * refobjid), as snapshot sees it (NULL: the catalog snapshot), until visit
 * returns false.
 */
void
audit_guard_scan_dependents(Oid refclassid, Oid refobjid, Snapshot snapshot,
							bool (*visit) (Form_pg_depend dep, void *arg),
							void *arg)
{
	Relation	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refclassid));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refobjid));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, snapshot,
							  2, keys);
	while ((tuple = systable_getnext(scan)) != NULL &&
		   visit((Form_pg_depend) GETSTRUCT(tuple), arg))
		;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* find_members' visitor: note a member function or table in the cache. */
static bool
note_member(Form_pg_depend dep, void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

	(void) arg;
	if (dep->deptype == DEPENDENCY_EXTENSION &&
		dep->classid == ProcedureRelationId)
		cache.own_functions = lappend_oid(cache.own_functions, dep->objid);
	else if (dep->deptype == DEPENDENCY_EXTENSION &&
			 dep->classid == RelationRelationId &&
			 get_rel_relkind(dep->objid) == RELKIND_RELATION)
		cache.own_tables = lappend_oid(cache.own_tables, dep->objid);
	MemoryContextSwitchTo(old);
	return true;
}

/* The extension's member tables and functions, from pg_depend. */
static void
find_members(void)
{
	audit_guard_scan_dependents(ExtensionRelationId, cache.extension_oid, NULL,
								note_member, NULL);
}

/* Find the extension's objects by name inside its own schema. */
static void
find_extension_objects(void)
{
	Oid			argtypes[1];

	cache.schema = extension_schema();
	if (!OidIsValid(cache.schema))
		return;
	cache.extension_oid = get_extension_oid("audit_guard", true);
	cache.registry = get_relname_relid("registry", cache.schema);
	cache.history = get_relname_relid("history", cache.schema);
	cache.seal_blocks = get_relname_relid("seal_blocks", cache.schema);
	cache.seal_rows = get_relname_relid("seal_rows", cache.schema);
	cache.guard_function =
		LookupFuncName(list_make2(makeString(get_namespace_name(cache.schema)),
								  makeString("reject_change")),
					   0, argtypes, true);
	cache.extension = OidIsValid(cache.registry) &&
		OidIsValid(cache.guard_function);
	if (cache.extension)
		find_members();
}

/*
 * Scan the registry, by its primary key for one relid or whole when relid
 * is InvalidOid, with a fresh snapshot.  Returns the GuardEntry of every
 * row read, or of the first only when first_only.
 */
static List *
read_registry(Oid relid, bool first_only)
{
	Relation	rel = table_open(cache.registry, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData key;
	SysScanDesc scan;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	tuple;
	List	   *rows = NIL;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = OidIsValid(relid) ?
		systable_beginscan(rel, cache.registry_pkey, true, snapshot, 1, &key) :
		systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		GuardEntry *row = palloc(sizeof(GuardEntry));
		bool		relnull,
					ownernull;

		row->relid = DatumGetObjectId(heap_getattr(tuple, 1, desc, &relnull));
		row->owner = DatumGetObjectId(heap_getattr(tuple, 2, desc, &ownernull));
		if (relnull || ownernull)
			continue;
		rows = lappend(rows, row);
		if (first_only)
			break;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return rows;
}

/* The table a trigger belongs to, or InvalidOid. */
static Oid
trigger_relid(Oid tgoid)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(tgoid));
	scan = systable_beginscan(rel, TriggerOidIndexId, true, NULL, 1, &key);
	if ((tuple = systable_getnext(scan)) != NULL)
		relid = ((Form_pg_trigger) GETSTRUCT(tuple))->tgrelid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return relid;
}

/* What guarded_tables() collects, and whether one table is enough. */
typedef struct GuardedScan
{
	List	   *relids;
	bool		first_only;
} GuardedScan;

/* guarded_tables' visitor: the table of a trigger that depends on the guard. */
static bool
note_guarded(Form_pg_depend dep, void *arg)
{
	GuardedScan *state = arg;
	Oid			relid;

	if (dep->classid != TriggerRelationId)
		return true;
	relid = trigger_relid(dep->objid);
	if (OidIsValid(relid))
		state->relids = list_append_unique_oid(state->relids, relid);
	return !(state->first_only && state->relids != NIL);
}

/*
 * The tables that carry a trigger running the guard function, found
 * through pg_depend (the triggers depend on it), registered or not: fail
 * closed, such a table is protected even when its registry row is missing
 * (a schema-only or -t restore, a restore by a non-superuser).
 */
static List *
guarded_tables(bool first_only)
{
	GuardedScan state = {NIL, first_only};

	audit_guard_scan_dependents(ProcedureRelationId, cache.guard_function, NULL,
								note_guarded, &state);
	return state.relids;
}

/* True when one of relid's triggers satisfies match. */
bool
audit_guard_has_trigger(Oid relid, bool (*match) (Form_pg_trigger trig))
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (!found && (tuple = systable_getnext(scan)) != NULL)
		found = match((Form_pg_trigger) GETSTRUCT(tuple));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* True for a trigger running the guard function (cache.guard_function). */
static bool
runs_guard(Form_pg_trigger trig)
{
	return trig->tgfoid == cache.guard_function;
}

/* True when relid carries a trigger running the guard function. */
static bool
has_guard_trigger(Oid relid)
{
	return audit_guard_has_trigger(relid, runs_guard);
}

/* A GuardEntry for a guarded table without a registry row: its owner. */
static GuardEntry *
unregistered_entry(Oid relid)
{
	GuardEntry *row = palloc(sizeof(GuardEntry));
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	row->relid = relid;
	row->owner = InvalidOid;
	if (HeapTupleIsValid(tuple))
	{
		row->owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
	}
	return row;
}

/* The registry's primary-key index, for the per-relation probes. */
static Oid
registry_pkey(void)
{
	Relation	rel = table_open(cache.registry, AccessShareLock);
	Oid			index = ag_primary_key_index(rel);

	table_close(rel, AccessShareLock);
	return index;
}

/*
 * Rebuild the cache: a few catalog lookups and one tuple of the registry,
 * whatever its size.  It is marked valid before reading, so that an
 * invalidation arriving during the build (table_open accepts them) leaves
 * it invalid and the next lookup builds again.
 */
static void
rebuild_cache(void)
{
	HASHCTL		ctl;

	if (!IsTransactionState())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("audit_guard cannot read its registry outside a transaction")));

	if (cache.entries != NULL)
		hash_destroy(cache.entries);
	list_free(cache.own_tables);
	list_free(cache.own_functions);
	memset(&cache, 0, sizeof(cache));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(GuardEntry);
	ctl.hcxt = CacheMemoryContext;
	cache.entries = hash_create("audit_guard protected tables", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cache.valid = true;

	PG_TRY();
	{
		find_extension_objects();
		if (cache.extension)
		{
			cache.registry_pkey = registry_pkey();
			cache.any = read_registry(InvalidOid, true) != NIL ||
				guarded_tables(true) != NIL;
		}
	}
	PG_CATCH();
	{
		cache.valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* Ensure the cache reflects the registry as of now. */
static inline void
ensure_cache(void)
{
	if (!cache.valid)
		rebuild_cache();
}

/* True when the extension and its registry exist in this database. */
bool
audit_guard_extension_ready(void)
{
	ensure_cache();
	return cache.extension;
}

/*
 * True when any table of this database is protected: the gate every hook
 * passes before looking further.
 */
bool
audit_guard_any_protected(void)
{
	ensure_cache();
	return cache.extension && cache.any;
}

/* The designated owner of a protected table, or InvalidOid. */
Oid
audit_guard_owner_of(Oid relid)
{
	GuardEntry *entry;
	bool		found;
	List	   *rows;

	if (!OidIsValid(relid) || !audit_guard_any_protected())
		return InvalidOid;
	entry = hash_search(cache.entries, &relid, HASH_FIND, &found);
	if (found)
		return entry->owner;

	/* only tables can be protected: indexes, TOAST and the rest need no probe */
	switch (get_rel_relkind(relid))
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			rows = read_registry(relid, true);
			if (rows == NIL && has_guard_trigger(relid))
				rows = list_make1(unregistered_entry(relid));
			break;
		default:
			rows = NIL;
			break;
	}
	/* the probe may have accepted an invalidation that reset the cache */
	ensure_cache();
	entry = hash_search(cache.entries, &relid, HASH_ENTER, &found);
	entry->owner = rows ? ((GuardEntry *) linitial(rows))->owner : InvalidOid;
	return entry->owner;
}

/*
 * The designated owner the registry records for relid, or InvalidOid: not
 * the fail-closed owner of a guarded table without a row.  Read afresh.
 */
Oid
audit_guard_registered_owner(Oid relid)
{
	List	   *rows;

	if (!OidIsValid(relid) || !audit_guard_extension_ready())
		return InvalidOid;
	rows = read_registry(relid, true);
	return rows ? ((GuardEntry *) linitial(rows))->owner : InvalidOid;
}

/*
 * Every registry row, read whole, and every guarded table without one:
 * for the rare paths that need them all.
 */
static List *
all_protected(void)
{
	List	   *rows;
	List	   *registered = NIL;
	ListCell   *lc;

	if (!audit_guard_any_protected())
		return NIL;
	rows = read_registry(InvalidOid, false);
	foreach(lc, rows)
		registered = lappend_oid(registered, ((GuardEntry *) lfirst(lc))->relid);
	foreach(lc, guarded_tables(false))
	{
		if (!list_member_oid(registered, lfirst_oid(lc)))
			rows = lappend(rows, unregistered_entry(lfirst_oid(lc)));
	}
	return rows;
}

/* How many tables of this database are protected. */
int
audit_guard_protected_count(void)
{
	return list_length(all_protected());
}

/*
 * A protected table whose designated owner roleid is not a member of, or
 * InvalidOid when roleid is the designated owner of every one.
 */
Oid
audit_guard_first_foreign_owner(Oid roleid)
{
	ListCell   *lc;

	foreach(lc, all_protected())
	{
		GuardEntry *row = lfirst(lc);

		if (!is_member_of_role_nosuper(roleid, row->owner))
			return row->relid;
	}
	return InvalidOid;
}

/* A protected table whose designated owner is roleid, or InvalidOid. */
Oid
audit_guard_first_table_of_owner(Oid roleid)
{
	ListCell   *lc;

	foreach(lc, all_protected())
	{
		GuardEntry *row = lfirst(lc);

		if (row->owner == roleid)
			return row->relid;
	}
	return InvalidOid;
}

/* Every protected table, as a list of OIDs in the current memory context. */
List *
audit_guard_protected_tables(void)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, all_protected())
		result = lappend_oid(result, ((GuardEntry *) lfirst(lc))->relid);
	return result;
}

/*
 * True for the extension's own tables (the registry, the history and every
 * other table that is a member of the extension), which only its functions
 * may write.
 */
bool
audit_guard_is_own_table(Oid relid)
{
	ensure_cache();
	return cache.extension && OidIsValid(relid) &&
		list_member_oid(cache.own_tables, relid);
}

/* The extension's own tables, as a new list. */
List *
audit_guard_own_tables(void)
{
	ensure_cache();
	return list_copy(cache.own_tables);
}

/* The extension's member functions, as a new list. */
List *
audit_guard_own_functions(void)
{
	ensure_cache();
	return list_copy(cache.own_functions);
}

/* The OID of extension audit_guard, or InvalidOid. */
Oid
audit_guard_extension_oid(void)
{
	ensure_cache();
	return cache.extension_oid;
}

/* The OIDs of the extension's registry, history, guard function, schema. */
Oid
audit_guard_registry_relid(void)
{
	ensure_cache();
	return cache.registry;
}

Oid
audit_guard_history_relid(void)
{
	ensure_cache();
	return cache.history;
}

Oid
audit_guard_guard_function(void)
{
	ensure_cache();
	return cache.guard_function;
}

Oid
audit_guard_schema(void)
{
	ensure_cache();
	return cache.schema;
}

/* True for a trigger that runs audit_guard's guard function. */
bool
audit_guard_is_guard_trigger(Form_pg_trigger trig)
{
	Oid			func = audit_guard_guard_function();

	return OidIsValid(func) && trig->tgfoid == func;
}

