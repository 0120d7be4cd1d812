/*-------------------------------------------------------------------------
 *
 * postcheck.c
 *		After every statement, decide on what it actually did.
 *
 * A check made on a name before a statement runs is only a friendly early
 * message: the statement resolves the name again, may wait for a lock
 * while another session renames tables, may run event triggers, nested
 * statements and C functions.  The decision that holds is made here, at
 * the end of every statement (utility or executor, nested or not) and
 * once more just before commit, on the relations PostgreSQL actually
 * changed:
 *
 *	- every relation whose relcache entry was invalidated (registry.c's
 *	  callback reports them; DDL, and direct writes to pg_class and
 *	  pg_attribute, always invalidate the relation they touch) is, when
 *	  protected, compared as it was before and as it is now (definition.c);
 *	- once a statement of this transaction has written a system catalog
 *	  directly (some catalogs send no invalidation), every protected table
 *	  and every object of audit_guard is compared, and any change is refused.
 *
 * "Before" is the relation as of the last command id at which it was last
 * checked in this transaction (or the transaction's start); both readings
 * share one snapshot, so only this transaction's own work can differ.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* Relations invalidated since the last checkpoint, to look at there. */
static Oid *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;

/*
 * A relation noted by a statement, with the subtransaction that noted it:
 * when that subtransaction is rolled back (ROLLBACK TO SAVEPOINT, an
 * exception block), so is the note, as the statement's work is.
 */
typedef struct NotedRelation
{
	Oid			relid;
	SubTransactionId subid;
} NotedRelation;

/* Relations this transaction dropped (NotedRelation, TopTransactionContext). */
static List *dropped = NIL;

/* Relations found empty under lock before a TRUNCATE (the same). */
static List *empty_truncated = NIL;

/* relid -> command id up to which its changes were checked (TopTransactionContext). */
static HTAB *checked = NULL;

typedef struct CheckedEntry
{
	Oid			relid;
	CommandId	upto;
} CheckedEntry;

/*
 * Set for the rest of the transaction once a statement wrote a system
 * catalog directly; what audit_guard's objects were then, to compare with.
 */
static bool catalog_written = false;
static List *catalog_tables = NIL;	/* protected tables */
static List *catalog_own = NIL;		/* audit_guard's own tables */
static Oid	catalog_guard = InvalidOid;	/* the guard function */
static Oid	catalog_extension = InvalidOid;
static List *catalog_objects = NIL; /* CatalogObject: extension, schema, functions */
static List *catalog_lines = NIL;	/* their rows then */

/*
 * Set when a function that is not built in was set up to run (the object
 * access hook tells); cleared by the next checkpoint.  Only an early
 * warning: an executor checkpoint with nothing but built-in functions
 * behind it skips its work, and the check before commit catches the rest.
 */
static bool user_code_ran = false;

/*
 * Called by registry.c's relcache callback for every invalidated relation.
 * Must not touch the catalogs; only remembers the OID.
 */
void
audit_guard_postcheck_note(Oid relid)
{
	int			i;

	for (i = npending - 1; i >= 0 && i >= npending - 8; i--)
	{
		if (pending[i] == relid)
			return;
	}
	if (npending == maxpending)
	{
		maxpending = maxpending ? maxpending * 2 : 64;
		pending = pending ?
			repalloc(pending, sizeof(Oid) * maxpending) :
			MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * maxpending);
	}
	pending[npending++] = relid;
}

/* The command id up to which relid was checked in this transaction. */
static CommandId
checked_upto(Oid relid)
{
	CheckedEntry *entry;

	if (checked == NULL)
		return FirstCommandId;
	entry = hash_search(checked, &relid, HASH_FIND, NULL);
	return entry ? entry->upto : FirstCommandId;
}

/* Record that relid's changes up to now are checked. */
static void
set_checked(Oid relid, CommandId upto)
{
	CheckedEntry *entry;

	if (checked == NULL)
	{
		HASHCTL		ctl = {.keysize = sizeof(Oid),.entrysize = sizeof(CheckedEntry),
		.hcxt = TopTransactionContext};

		checked = hash_create("audit_guard checked relations", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(checked, &relid, HASH_ENTER, NULL);
	entry->upto = upto;
}

/*
 * Ensure this process can read its database's catalogs now: a transaction
 * in a backend connected to a database (not the autovacuum launcher, which
 * runs transactions without one), outside parallel mode.
 */
static inline bool
can_check(void)
{
	return OidIsValid(MyDatabaseId) && IsNormalProcessingMode() &&
		IsTransactionState() && !IsInParallelMode();
}

/* A registered copy of snapshot that sees this transaction's work before cid. */
static Snapshot
snapshot_at(Snapshot base, CommandId cid)
{
	Snapshot	snapshot = RegisterSnapshot(base);

	/* RegisterSnapshot copied base (a static snapshot): ours to adjust */
	snapshot->curcid = cid;
	return snapshot;
}

/* Add relid to list, noted by the current subtransaction. */
static List *
note_relation(List *list, Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	NotedRelation *noted = palloc(sizeof(NotedRelation));

	noted->relid = relid;
	noted->subid = GetCurrentSubTransactionId();
	list = lappend(list, noted);
	MemoryContextSwitchTo(old);
	return list;
}

/* True when list notes relid. */
static bool
is_noted(List *list, Oid relid)
{
	ListCell   *lc;

	foreach(lc, list)
		if (((NotedRelation *) lfirst(lc))->relid == relid)
			return true;
	return false;
}

/*
 * A subtransaction ended: a rolled-back one takes its notes with it; a
 * committed one's become its parent's.
 */
static List *
end_subtransaction(List *list, bool commit, SubTransactionId subid,
				   SubTransactionId parent)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		NotedRelation *noted = lfirst(lc);

		if (noted->subid != subid)
			continue;
		if (commit)
			noted->subid = parent;
		else
			list = foreach_delete_current(list, lc);
	}
	return list;
}

/*
 * True when a change to relid cannot matter, decided with one cache
 * lookup: a relation dropped by this transaction (OAT_DROP decided), one
 * that is not a table, or one this transaction created and audit_guard has
 * not protected since (protect() records what it touched as checked): it
 * had nothing to keep.  Spares the registry probe for every new table.
 */
static bool
cannot_matter(Oid relid, bool own)
{
	HeapTuple	tuple;
	char		relkind;
	bool		written;
	Relation	rel;
	bool		result;

	if (own)
		return false;
	if (is_noted(dropped, relid))
		return true;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return true;
	relkind = ((Form_pg_class) GETSTRUCT(tuple))->relkind;
	written = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));
	ReleaseSysCache(tuple);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		return true;
	/* a row this transaction did not write: not created here, and maybe
	 * not locked by us, so the relcache entry is not ours to build */
	if (!written || checked_upto(relid) != FirstCommandId)
		return false;
	rel = RelationIdGetRelation(relid);
	if (rel == NULL)
		return true;
	result = rel->rd_createSubid != InvalidSubTransactionId;
	RelationClose(rel);
	return result;
}

/* A TRUNCATE of relid, found empty under its lock, may give it new storage. */
void
audit_guard_postcheck_allow_new_storage(Oid relid)
{
	empty_truncated = note_relation(empty_truncated, relid);
}

/* Called by the object-access hook for every relation dropped. */
void
audit_guard_postcheck_dropped(Oid relid)
{
	dropped = note_relation(dropped, relid);
}

/* Refuse a change nobody may make to a protected or own table. */
static void
refuse(Oid relid, bool own, DefinitionChange change)
{
	if (own && change.kind == CHANGE_OWNER_ONLY)
		audit_guard_refuse_extension_change("alter");
	else if (change.kind == CHANGE_OWNER_ONLY)
		audit_guard_require_owner(relid, change.operation);
	else if (change.kind == CHANGE_NOBODY)
		audit_guard_refuse_definition(relid, change.operation);
}

/* The time column of the retention that applies to relid, or NULL. */
static const char *
retention_column(Oid relid)
{
	Interval   *keep;
	char	   *column;

	if (!audit_guard_retention_of(relid, &keep, &column, NULL))
		return NULL;
	return column;
}

/*
 * Compare relid as of its last check and as of now (both through base);
 * by_catalog_edit: the change came from a direct catalog write, which
 * nobody may make.
 */
static void
check_relation(Oid relid, Snapshot base, CommandId now, bool by_catalog_edit)
{
	bool		own;
	DefinitionRules rules = {0};
	CommandId	from = checked_upto(relid);
	Snapshot	before,
				after;
	TableDef   *def_before,
			   *def_after;
	DefinitionChange change;

	/* after a catalog edit, what audit_guard was before it is what counts */
	own = by_catalog_edit ? list_member_oid(catalog_own, relid) :
		audit_guard_is_own_table(relid);
	rules.own_table = own;
	if (from >= now || (!by_catalog_edit && cannot_matter(relid, own)))
		return;
	rules.designated_owner = own ? InvalidOid : audit_guard_owner_of(relid);
	if (!own && !by_catalog_edit && !OidIsValid(rules.designated_owner))
		return;
	rules.guard_function = by_catalog_edit ? catalog_guard :
		audit_guard_guard_function();
	rules.storage_rewrite_ok = !by_catalog_edit &&
		(audit_guard_storage_rewrite_running() || is_noted(empty_truncated, relid));
	rules.storage_move_ok = !audit_guard_running_retypes_columns();
	if (!own)
		rules.time_column = retention_column(relid);

	before = snapshot_at(base, from);
	after = snapshot_at(base, now);
	def_before = audit_guard_read_definition(relid, before);
	def_after = audit_guard_read_definition(relid, after);
	change = audit_guard_compare_definitions(def_before, def_after, &rules);
	UnregisterSnapshot(before);
	UnregisterSnapshot(after);

	if (by_catalog_edit && change.kind != CHANGE_NONE)
		audit_guard_refuse_catalog_edit(relid);
	if (!(own && audit_guard_in_own_script()))
		refuse(relid, own, change);
	/* DETACH: a former parent's retention may not lose young rows */
	if (!own)
		audit_guard_check_retention_left(relid,
										 audit_guard_parents_left(def_before, def_after));
	/* ATTACH: one time column per partition tree */
	if (!own)
		audit_guard_check_retention_joined(relid,
										   audit_guard_parents_joined(def_before, def_after));
	set_checked(relid, now);
}

/*
 * relid is about to be dropped: decide now on what earlier statements of
 * this transaction did to it, which the checkpoint after this statement
 * could no longer read (a DETACH that took it out of a retention, followed
 * in the same statement by this DROP, from an event trigger).
 */
void
audit_guard_postcheck_before_drop(Oid relid)
{
	if (!can_check() || !audit_guard_extension_ready())
		return;
	check_relation(relid, GetLatestSnapshot(), GetCurrentCommandId(false), false);
}

/* member_lines' visitor: one text line per membership row. */
static bool
note_member_line(Form_pg_depend dep, void *arg)
{
	List	  **lines = arg;

	*lines = lappend(*lines, psprintf("%u|%u|%d|%c", dep->classid, dep->objid,
									  dep->objsubid, dep->deptype));
	return true;
}

/* The extension's membership rows in pg_depend, as snapshot sees them. */
static List *
member_lines(Snapshot snapshot)
{
	List	   *lines = NIL;

	audit_guard_scan_dependents(ExtensionRelationId, catalog_extension, snapshot,
								note_member_line, &lines);
	return lines;
}

/* One catalog row of audit_guard's, by the catalog's OID index. */
typedef struct CatalogObject
{
	Oid			catalog;
	Oid			index;
	AttrNumber	key;
	Oid			oid;
} CatalogObject;

/* Add one catalog row to catalog_objects. */
static void
add_object(Oid catalog, Oid index, AttrNumber key, Oid oid)
{
	CatalogObject *object = palloc(sizeof(CatalogObject));

	object->catalog = catalog;
	object->index = index;
	object->key = key;
	object->oid = oid;
	catalog_objects = lappend(catalog_objects, object);
}

/* The rows of audit_guard's catalog objects, as snapshot sees them. */
static List *
object_lines(Snapshot snapshot)
{
	List	   *lines = NIL;
	ListCell   *lc;

	foreach(lc, catalog_objects)
	{
		CatalogObject *object = lfirst(lc);

		lines = list_concat(lines,
							audit_guard_catalog_lines(object->catalog, object->index,
													  object->key, object->oid,
													  snapshot, NULL, 0));
	}
	return list_concat(lines, member_lines(snapshot));
}

/*
 * A statement of this transaction is about to write a system catalog
 * directly: remember what to compare against from now on.  Called before
 * the write, so the registry and the extension are still found by name.
 */
void
audit_guard_postcheck_catalog_write(void)
{
	MemoryContext old;
	ListCell   *lc;

	if (catalog_written || !audit_guard_extension_ready())
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	catalog_tables = audit_guard_protected_tables();
	catalog_own = audit_guard_own_tables();
	catalog_guard = audit_guard_guard_function();
	catalog_extension = audit_guard_extension_oid();
	add_object(ExtensionRelationId, ExtensionOidIndexId, Anum_pg_extension_oid,
			   catalog_extension);
	add_object(NamespaceRelationId, NamespaceOidIndexId, Anum_pg_namespace_oid,
			   audit_guard_schema());
	foreach(lc, audit_guard_own_functions())
		add_object(ProcedureRelationId, ProcedureOidIndexId, Anum_pg_proc_oid,
				   lfirst_oid(lc));
	catalog_lines = object_lines(GetCatalogSnapshot(InvalidOid));
	catalog_written = true;
	MemoryContextSwitchTo(old);
}

/* After a direct catalog write: nothing of audit_guard's may have changed. */
static void
check_catalog_edits(Snapshot base, CommandId now)
{
	Snapshot	after = snapshot_at(base, now);
	bool		same;
	ListCell   *lc;

	same = audit_guard_same_lines(catalog_lines, object_lines(after));
	UnregisterSnapshot(after);
	if (!same)
		audit_guard_refuse_extension_catalog_edit();
	foreach(lc, catalog_tables)
		check_relation(lfirst_oid(lc), base, now, true);
	foreach(lc, catalog_own)
		check_relation(lfirst_oid(lc), base, now, true);
}

/* Note that a function that is not built in is about to run. */
void
audit_guard_postcheck_function(Oid funcoid)
{
	if (funcoid >= FirstNormalObjectId)
		user_code_ran = true;
}

/*
 * The checkpoint at the end of an executor statement: only when it wrote
 * a catalog or ran functions that are not built in (plain SELECT, INSERT,
 * UPDATE and DELETE change no relation's definition).
 */
void
audit_guard_postcheck_query(bool full)
{
	if (full || user_code_ran)
		audit_guard_postcheck(full);
}

/*
 * The checkpoint, at the end of every statement and before commit: make
 * this statement's catalog changes visible (PostgreSQL would do so right
 * after anyway), then compare what they touched.  full: the statement
 * wrote a system catalog directly, so compare everything of audit_guard's.
 */
void
audit_guard_postcheck(bool full)
{
	Oid		   *relids;
	int			n,
				i;
	Snapshot	base;
	CommandId	now;

	if (!can_check())
		return;
	CommandCounterIncrement();
	user_code_ran = false;
	full = full && catalog_written;
	if (npending == 0 && !full)
		return;

	/* checking may accept invalidations, which append to pending */
	n = npending;
	relids = palloc(sizeof(Oid) * Max(n, 1));
	memcpy(relids, pending, sizeof(Oid) * n);
	npending = 0;

	if (!full && !audit_guard_extension_ready())
		return;
	now = GetCurrentCommandId(false);
	base = GetLatestSnapshot();
	/* first: a catalog edit is refused even where DDL would be allowed */
	if (full)
		check_catalog_edits(base, now);
	for (i = 0; i < n; i++)
		if (OidIsValid(relids[i]))
			check_relation(relids[i], base, now, false);
	pfree(relids);
}

/*
 * After one of audit_guard's own statements (protect() creating triggers,
 * unprotect() dropping them): what it changed is checked by definition.
 * Any earlier change was checked when that statement started.
 */
void
audit_guard_postcheck_own_statement_done(void)
{
	CommandId	now;
	int			i;

	if (!IsTransactionState())
		return;
	CommandCounterIncrement();
	now = GetCurrentCommandId(false);
	for (i = 0; i < npending; i++)
		if (OidIsValid(pending[i]))
			set_checked(pending[i], now);
	npending = 0;
}

/*
 * After a TRUNCATE: no system catalog may have lost its rows while tables
 * are protected (TRUNCATE resolves its names itself, so the utility hook's
 * early refusal is not the decision).  start is the command id at which
 * the statement began.
 */
void
audit_guard_postcheck_truncate(CommandId start)
{
	static const AttrNumber filenode[] = {Anum_pg_class_relfilenode};
	Snapshot	before,
				after;
	int			i;

	if (!can_check())
		return;
	CommandCounterIncrement();
	if (!audit_guard_any_protected())
		return;
	before = snapshot_at(GetLatestSnapshot(), start);
	after = snapshot_at(GetLatestSnapshot(), GetCurrentCommandId(false));
	for (i = 0; i < npending; i++)
	{
		Oid			relid = pending[i];

		if (IsCatalogRelationOid(relid) &&
			!audit_guard_same_lines(audit_guard_catalog_lines(RelationRelationId, ClassOidIndexId,
											 Anum_pg_class_oid, relid, before,
											 filenode, 1),
				   audit_guard_catalog_lines(RelationRelationId, ClassOidIndexId,
											 Anum_pg_class_oid, relid, after,
											 filenode, 1)))
			audit_guard_refuse_catalog_truncate(relid);
	}
	UnregisterSnapshot(before);
	UnregisterSnapshot(after);
}

/* Check once more before commit; forget the transaction's state after it. */
static void
postcheck_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			audit_guard_postcheck(true);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			checked = NULL;
			dropped = empty_truncated = NIL;
			catalog_written = false;
			catalog_tables = catalog_own = catalog_objects = catalog_lines = NIL;
			npending = 0;
			audit_guard_executor_xact_end();
			break;
		default:
			break;
	}
}

/* A subtransaction's notes go with it (see NotedRelation). */
static void
postcheck_subxact_callback(SubXactEvent event, SubTransactionId subid,
						   SubTransactionId parent, void *arg)
{
	(void) arg;
	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	dropped = end_subtransaction(dropped, event == SUBXACT_EVENT_COMMIT_SUB,
								 subid, parent);
	empty_truncated = end_subtransaction(empty_truncated,
										 event == SUBXACT_EVENT_COMMIT_SUB,
										 subid, parent);
}

/* Register the transaction callbacks; called once from _PG_init. */
void
audit_guard_postcheck_init(void)
{
	RegisterXactCallback(postcheck_xact_callback, NULL);
	RegisterSubXactCallback(postcheck_subxact_callback, NULL);
}
