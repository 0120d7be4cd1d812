/*-------------------------------------------------------------------------
 *
 * registry.c
 *		The backend-local cache of audit_guard.registry.
 *
 * The utility and executor hooks run for every statement of every backend,
 * so they must not read the registry table each time.  This file keeps a
 * hash of protected relation OIDs and their designated owners, built on
 * first use and thrown away when the registry changes: the registry's own
 * statement trigger (triggers.c) broadcasts a relcache invalidation of the
 * registry table, and the relcache callback below drops the cache.  A
 * rebuild reads the table once; no lookup between two rebuilds touches a
 * catalog.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

typedef struct GuardEntry
{
	Oid			relid;			/* hash key: the protected table */
	Oid			owner;			/* its designated owner */
} GuardEntry;

typedef struct GuardCache
{
	bool		valid;			/* cleared by any relevant invalidation */
	bool		extension;		/* extension installed and registry exists */
	Oid			schema;
	Oid			registry;
	Oid			history;
	Oid			guard_function;
	HTAB	   *entries;
} GuardCache;

static GuardCache cache;

/*
 * Drop the cache when the registry may have changed.  While the extension
 * is absent any invalidation may be its creation, so every one counts.
 */
static void
registry_relcache_callback(Datum arg, Oid relid)
{
	(void) arg;
	if (!cache.extension || !OidIsValid(relid) || relid == cache.registry)
		cache.valid = false;
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

/* Find the extension's objects by name inside its own schema. */
static void
find_extension_objects(void)
{
	Oid			argtypes[1];

	cache.schema = extension_schema();
	if (!OidIsValid(cache.schema))
		return;
	cache.registry = get_relname_relid("registry", cache.schema);
	cache.history = get_relname_relid("history", cache.schema);
	cache.guard_function =
		LookupFuncName(list_make2(makeString(get_namespace_name(cache.schema)),
								  makeString("reject_change")),
					   0, argtypes, true);
	cache.extension = OidIsValid(cache.registry) &&
		OidIsValid(cache.guard_function);
}

/* Read every registry row into the hash. */
static void
load_registry(void)
{
	Relation	rel = table_open(cache.registry, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot,
										  0, NULL);
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	tuple;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		relnull,
					ownernull;
		Oid			relid = DatumGetObjectId(heap_getattr(tuple, 1, desc, &relnull));
		Oid			owner = DatumGetObjectId(heap_getattr(tuple, 2, desc, &ownernull));
		GuardEntry *entry;

		if (relnull || ownernull)
			continue;
		entry = hash_search(cache.entries, &relid, HASH_ENTER, NULL);
		entry->owner = owner;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/*
 * Rebuild the cache.  It is marked valid before reading, so that an
 * invalidation arriving during the build (table_open accepts them) leaves
 * it invalid and the next lookup reads again.
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
			load_registry();
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

/* The designated owner of a protected table, or InvalidOid. */
Oid
audit_guard_owner_of(Oid relid)
{
	GuardEntry *entry;

	ensure_cache();
	if (!cache.extension || !OidIsValid(relid))
		return InvalidOid;
	entry = hash_search(cache.entries, &relid, HASH_FIND, NULL);
	return entry ? entry->owner : InvalidOid;
}

/* How many tables of this database are protected. */
int
audit_guard_protected_count(void)
{
	ensure_cache();
	return cache.extension ? (int) hash_get_num_entries(cache.entries) : 0;
}

/*
 * A protected table whose designated owner roleid is not a member of, or
 * InvalidOid when roleid is the designated owner of every one.
 */
Oid
audit_guard_first_foreign_owner(Oid roleid)
{
	HASH_SEQ_STATUS status;
	GuardEntry *entry;

	if (audit_guard_protected_count() == 0)
		return InvalidOid;
	hash_seq_init(&status, cache.entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (!is_member_of_role_nosuper(roleid, entry->owner))
		{
			hash_seq_term(&status);
			return entry->relid;
		}
	}
	return InvalidOid;
}

/* True for the extension's own tables, which only its functions may write. */
bool
audit_guard_is_own_table(Oid relid)
{
	ensure_cache();
	return cache.extension && OidIsValid(relid) &&
		(relid == cache.registry || relid == cache.history);
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

/*
 * The designated-owner test: membership of current_user in the owner role,
 * where superuser status does not count.
 */
bool
audit_guard_is_designated_owner(Oid relid)
{
	Oid			owner = audit_guard_owner_of(relid);

	return OidIsValid(owner) && is_member_of_role_nosuper(GetUserId(), owner);
}

/* True for a trigger that runs audit_guard's guard function. */
bool
audit_guard_is_guard_trigger(Form_pg_trigger trig)
{
	Oid			func = audit_guard_guard_function();

	return OidIsValid(func) && trig->tgfoid == func;
}

/* A protected table whose designated owner is roleid, or InvalidOid. */
Oid
audit_guard_first_table_of_owner(Oid roleid)
{
	HASH_SEQ_STATUS status;
	GuardEntry *entry;

	if (audit_guard_protected_count() == 0 || !OidIsValid(roleid))
		return InvalidOid;
	hash_seq_init(&status, cache.entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->owner == roleid)
		{
			hash_seq_term(&status);
			return entry->relid;
		}
	}
	return InvalidOid;
}

/* Every protected table, as a list of OIDs in the current memory context. */
List *
audit_guard_protected_tables(void)
{
	HASH_SEQ_STATUS status;
	GuardEntry *entry;
	List	   *result = NIL;

	if (audit_guard_protected_count() == 0)
		return NIL;
	hash_seq_init(&status, cache.entries);
	while ((entry = hash_seq_search(&status)) != NULL)
		result = lappend_oid(result, entry->relid);
	return result;
}
