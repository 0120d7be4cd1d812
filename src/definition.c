/*-------------------------------------------------------------------------
 *
 * definition.c
 *		What a protected table is, read from the catalogs as of a snapshot,
 *		and which differences between two such readings matter.
 *
 * A statement can reach a protected table by many roads: its name, a name
 * that was swapped while the statement waited for its lock, an event
 * trigger, a nested statement, a C function, a direct write to a catalog.
 * Rather than follow every road, postcheck.c reads the table's definition
 * twice, as it was before the statement and as the statement left it (two
 * copies of one snapshot that differ only in the command id, so that other
 * sessions' work looks the same in both), and asks this file what changed.
 *
 * Only what decides how the table keeps its rows is read: its name, schema,
 * owner, persistence, access method and storage; its columns with their
 * types and defaults; its guard triggers and BEFORE INSERT row triggers;
 * its rules; its place in an inheritance tree; its policies and
 * constraints (which only audit_guard's own tables keep from DDL).
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* One column, as far as the rows it shows depend on it. */
typedef struct ColumnInfo
{
	int16		attnum;
	NameData	name;
	Oid			typid;
	int32		typmod;
	Oid			collation;
	bool		dropped;
	char		generated;
	char	   *missing;		/* attmissingval as text, or NULL */
	char	   *def;			/* pg_attrdef.adbin, or NULL */
} ColumnInfo;

/* One trigger of the table. */
typedef struct TriggerInfo
{
	Oid			oid;
	NameData	name;
	Oid			foid;
	int16		type;
	char		enabled;
	bool		qual;			/* has a WHEN clause */
	int16		nattr;			/* UPDATE OF column list length */
} TriggerInfo;

struct TableDef
{
	bool		exists;
	FormData_pg_class cls;
	List	   *columns;		/* ColumnInfo, by attnum */
	List	   *triggers;		/* TriggerInfo, by name */
	List	   *rules;			/* text lines */
	List	   *parents;		/* inhparent OIDs */
	List	   *children;		/* inhrelid OIDs */
	List	   *extras;			/* policies and constraints */
};

/* The text form of a nullable attribute of tuple, or NULL. */
static char *
attribute_text(HeapTuple tuple, TupleDesc desc, AttrNumber attno)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, attno, desc, &isnull);
	Oid			typoutput;
	bool		varlena;

	if (isnull)
		return NULL;
	getTypeOutputInfo(TupleDescAttr(desc, attno - 1)->atttypid,
					  &typoutput, &varlena);
	return OidOutputFunctionCall(typoutput, value);
}

/* Open a scan of catalog rows whose key column equals relid. */
static SysScanDesc
begin_scan(Relation rel, Oid index, AttrNumber keyatt, Oid relid,
		   Snapshot snapshot)
{
	ScanKeyData key;

	ScanKeyInit(&key, keyatt, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	return systable_beginscan(rel, index, true, snapshot, 1, &key);
}

/* The pg_class row of relid; false when it does not exist. */
static bool
read_class(Oid relid, Snapshot snapshot, FormData_pg_class *cls)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	SysScanDesc scan = begin_scan(rel, ClassOidIndexId, Anum_pg_class_oid,
								  relid, snapshot);
	HeapTuple	tuple = systable_getnext(scan);

	if (tuple)
		memcpy(cls, GETSTRUCT(tuple), sizeof(FormData_pg_class));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tuple != NULL;
}

/* The default expression of each column, indexed by attnum. */
static char **
read_defaults(Oid relid, Snapshot snapshot, int natts)
{
	char	  **defs = palloc0(sizeof(char *) * (natts + 1));
	Relation	rel = table_open(AttrDefaultRelationId, AccessShareLock);
	SysScanDesc scan = begin_scan(rel, AttrDefaultIndexId,
								  Anum_pg_attrdef_adrelid, relid, snapshot);
	HeapTuple	tuple;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		int16		adnum = ((Form_pg_attrdef) GETSTRUCT(tuple))->adnum;

		if (adnum > 0 && adnum <= natts)
			defs[adnum] = attribute_text(tuple, RelationGetDescr(rel),
										 Anum_pg_attrdef_adbin);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return defs;
}

/* The user columns of relid, with their defaults. */
static List *
read_columns(Oid relid, Snapshot snapshot)
{
	Relation	rel = table_open(AttributeRelationId, AccessShareLock);
	SysScanDesc scan = begin_scan(rel, AttributeRelidNumIndexId,
								  Anum_pg_attribute_attrelid, relid, snapshot);
	HeapTuple	tuple;
	List	   *columns = NIL;
	ListCell   *lc;
	char	  **defs;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tuple);
		ColumnInfo  *col;

		if (att->attnum <= 0)
			continue;
		col = palloc0(sizeof(ColumnInfo));
		col->attnum = att->attnum;
		col->name = att->attname;
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		col->collation = att->attcollation;
		col->dropped = att->attisdropped;
		col->generated = att->attgenerated;
		col->missing = attribute_text(tuple, RelationGetDescr(rel),
									  Anum_pg_attribute_attmissingval);
		columns = lappend(columns, col);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* attnums ascend: the last one is the largest */
	defs = read_defaults(relid, snapshot,
						 columns ? ((ColumnInfo *) llast(columns))->attnum : 0);
	foreach(lc, columns)
		((ColumnInfo *) lfirst(lc))->def = defs[((ColumnInfo *) lfirst(lc))->attnum];
	return columns;
}

/* Every trigger of relid. */
static List *
read_triggers(Oid relid, Snapshot snapshot)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	SysScanDesc scan = begin_scan(rel, TriggerRelidNameIndexId,
								  Anum_pg_trigger_tgrelid, relid, snapshot);
	HeapTuple	tuple;
	List	   *triggers = NIL;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tuple);
		TriggerInfo *def = palloc0(sizeof(TriggerInfo));

		def->oid = trig->oid;
		def->name = trig->tgname;
		def->foid = trig->tgfoid;
		def->type = trig->tgtype;
		def->enabled = trig->tgenabled;
		def->qual = !heap_attisnull(tuple, Anum_pg_trigger_tgqual, NULL);
		def->nattr = trig->tgattr.dim1;
		triggers = lappend(triggers, def);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return triggers;
}

/*
 * One text line per catalog row whose keyatt is relid, made of the given
 * attributes (all of them when atts is NULL); for the catalogs where any
 * change at all matters.
 */
List *
audit_guard_catalog_lines(Oid catalog, Oid index, AttrNumber keyatt, Oid relid,
		   Snapshot snapshot, const AttrNumber *atts, int natts)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	SysScanDesc scan = begin_scan(rel, index, keyatt, relid, snapshot);
	HeapTuple	tuple;
	List	   *lines = NIL;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		StringInfoData buf;
		int			i;

		initStringInfo(&buf);
		for (i = 0; i < (atts ? natts : RelationGetDescr(rel)->natts); i++)
		{
			char	   *text = attribute_text(tuple, RelationGetDescr(rel),
											  atts ? atts[i] : i + 1);

			appendStringInfo(&buf, "%s|", text ? text : "<null>");
		}
		lines = lappend(lines, buf.data);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return lines;
}

/* The inheritance parents (by_child) or children of relid. */
static List *
read_inherits(Oid relid, Snapshot snapshot, bool by_child)
{
	Relation	rel = table_open(InheritsRelationId, AccessShareLock);
	SysScanDesc scan = by_child ?
		begin_scan(rel, InheritsRelidSeqnoIndexId, Anum_pg_inherits_inhrelid,
				   relid, snapshot) :
		begin_scan(rel, InheritsParentIndexId, Anum_pg_inherits_inhparent,
				   relid, snapshot);
	HeapTuple	tuple;
	List	   *result = NIL;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_inherits inh = (Form_pg_inherits) GETSTRUCT(tuple);

		result = lappend_oid(result, by_child ? inh->inhparent : inh->inhrelid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	list_sort(result, list_oid_cmp);
	return result;
}

/* Read relid's definition as snapshot sees it. */
TableDef *
audit_guard_read_definition(Oid relid, Snapshot snapshot)
{
	static const AttrNumber rule_atts[] = {
		Anum_pg_rewrite_oid, Anum_pg_rewrite_rulename, Anum_pg_rewrite_ev_type,
		Anum_pg_rewrite_ev_enabled, Anum_pg_rewrite_is_instead,
		Anum_pg_rewrite_ev_qual, Anum_pg_rewrite_ev_action};
	static const AttrNumber policy_atts[] = {
		Anum_pg_policy_oid, Anum_pg_policy_polname, Anum_pg_policy_polcmd,
		Anum_pg_policy_polpermissive, Anum_pg_policy_polroles,
		Anum_pg_policy_polqual, Anum_pg_policy_polwithcheck};
	static const AttrNumber constraint_atts[] = {
		Anum_pg_constraint_oid, Anum_pg_constraint_conname,
		Anum_pg_constraint_contype, Anum_pg_constraint_convalidated,
		Anum_pg_constraint_conkey, Anum_pg_constraint_conbin};
	TableDef   *def = palloc0(sizeof(TableDef));

	def->exists = read_class(relid, snapshot, &def->cls);
	if (!def->exists)
		return def;
	def->columns = read_columns(relid, snapshot);
	def->triggers = read_triggers(relid, snapshot);
	def->rules = audit_guard_catalog_lines(RewriteRelationId, RewriteRelRulenameIndexId,
							Anum_pg_rewrite_ev_class, relid, snapshot,
							rule_atts, lengthof(rule_atts));
	def->parents = read_inherits(relid, snapshot, true);
	def->children = read_inherits(relid, snapshot, false);
	def->extras = list_concat(audit_guard_catalog_lines(PolicyRelationId,
											 PolicyPolrelidPolnameIndexId,
											 Anum_pg_policy_polrelid, relid,
											 snapshot, policy_atts,
											 lengthof(policy_atts)),
								  audit_guard_catalog_lines(ConstraintRelationId,
											 ConstraintRelidTypidNameIndexId,
											 Anum_pg_constraint_conrelid, relid,
											 snapshot, constraint_atts,
											 lengthof(constraint_atts)));
	return def;
}

/* Keep the most severe change seen so far. */
static void
note(DefinitionChange *change, ChangeKind kind, const char *operation)
{
	if (kind > change->kind)
	{
		change->kind = kind;
		change->operation = operation;
	}
}

/* Equal strings, NULL equal only to NULL. */
static bool
same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Equal lists of text lines (equal() wants nodes, these are C strings). */
bool
audit_guard_same_lines(List *a, List *b)
{
	ListCell   *la,
			   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
	{
		if (strcmp(lfirst(la), lfirst(lb)) != 0)
			return false;
	}
	return true;
}

/*
 * The pg_class fields that matter; reshaped: columns were retyped or added
 * too.
 */
static void
compare_class(Form_pg_class b, Form_pg_class a, bool reshaped,
			  const DefinitionRules *rules, DefinitionChange *change)
{
	if (strcmp(NameStr(b->relname), NameStr(a->relname)) != 0)
		note(change, CHANGE_OWNER_ONLY, "RENAME");
	if (b->relnamespace != a->relnamespace)
		note(change, CHANGE_OWNER_ONLY, "SET SCHEMA");
	if (b->relowner != a->relowner)
		note(change, OidIsValid(rules->designated_owner) &&
			 is_member_of_role_nosuper(a->relowner, rules->designated_owner) ?
			 CHANGE_ALLOWED : CHANGE_OWNER_ONLY, "OWNER TO");
	if (b->relpersistence != a->relpersistence)
		note(change, CHANGE_OWNER_ONLY, "SET LOGGED/UNLOGGED");
	if (b->relam != a->relam)
		note(change, CHANGE_OWNER_ONLY, "SET ACCESS METHOD");
	if (b->relkind != a->relkind)
		note(change, CHANGE_NOBODY, "changing the kind of relation");
	/* with pg_inherits below; alone, only a catalog edit changes it */
	if (b->relispartition != a->relispartition)
		note(change, CHANGE_OWNER_ONLY, "ATTACH/DETACH PARTITION");
	if (b->relhastriggers && !a->relhastriggers)
		note(change, CHANGE_NOBODY, "hiding its triggers");
	if (b->relrowsecurity != a->relrowsecurity ||
		b->relforcerowsecurity != a->relforcerowsecurity)
		note(change, rules->own_table ? CHANGE_OWNER_ONLY : CHANGE_ALLOWED,
			 "ROW LEVEL SECURITY");
	if (b->relfilenode != a->relfilenode)
	{
		/*
		 * SET TABLESPACE copies the blocks as they are, unless the same
		 * ALTER TABLE also retypes a column (even to its own type, USING
		 * an expression) or adds one: then it rewrites the rows
		 */
		if (b->reltablespace != a->reltablespace && !reshaped &&
			rules->storage_move_ok)
			note(change, CHANGE_ALLOWED, "SET TABLESPACE");
		else if (rules->storage_rewrite_ok)
			note(change, CHANGE_ALLOWED, "rewriting the table");
		else if (rules->time_column != NULL)
			/* ALTER ... TYPE ... USING could age the rows of a retention */
			note(change, CHANGE_NOBODY, "rewriting the rows of a table with a retention");
		else
			note(change, CHANGE_OWNER_ONLY, "rewriting the table");
	}
}

/*
 * One column that existed before.  The time column of a retention may
 * not change at all: renamed, retyped or dropped, it would no longer tell
 * young rows from old.
 */
static void
compare_column(ColumnInfo *b, ColumnInfo *a, const DefinitionRules *rules,
			   DefinitionChange *change)
{
	if (rules->time_column != NULL &&
		strcmp(NameStr(b->name), rules->time_column) == 0 &&
		(strcmp(NameStr(b->name), NameStr(a->name)) != 0 ||
		 b->typid != a->typid || b->typmod != a->typmod ||
		 b->dropped != a->dropped || b->generated != a->generated))
		note(change, CHANGE_NOBODY, "changing the time column of a retention");
	if (strcmp(NameStr(b->name), NameStr(a->name)) != 0)
		note(change, CHANGE_OWNER_ONLY, "RENAME COLUMN");
	/* a rewrite (VACUUM FULL, CLUSTER) stores the missing value and clears it */
	if (b->typid != a->typid || b->typmod != a->typmod ||
		b->collation != a->collation ||
		(a->missing != NULL && !same_text(b->missing, a->missing)))
		note(change, CHANGE_OWNER_ONLY, "ALTER COLUMN TYPE");
	if (b->dropped != a->dropped)
		note(change, CHANGE_OWNER_ONLY, "DROP COLUMN");
	if (b->generated != a->generated || !same_text(b->def, a->def))
		note(change, CHANGE_OWNER_ONLY, "changing a column default");
}

/* True when a column was added, or an existing one retyped. */
static bool
columns_reshaped(List *before, List *after)
{
	ListCell   *lb;
	ListCell   *la;

	if (list_length(after) != list_length(before))
		return true;
	forboth(lb, before, la, after)
	{
		ColumnInfo *b = lfirst(lb);
		ColumnInfo *a = lfirst(la);

		if (b->typid != a->typid || b->typmod != a->typmod ||
			b->collation != a->collation)
			return true;
	}
	return false;
}

/* Columns: the old ones unchanged; new ones are allowed. */
static void
compare_columns(List *before, List *after, const DefinitionRules *rules,
				DefinitionChange *change)
{
	ListCell   *lb;
	ListCell   *la = list_head(after);

	foreach(lb, before)
	{
		ColumnInfo  *b = lfirst(lb);
		ColumnInfo  *a = la ? lfirst(la) : NULL;

		if (a == NULL || a->attnum != b->attnum)
		{
			note(change, CHANGE_NOBODY, "removing a column");
			return;
		}
		compare_column(b, a, rules, change);
		la = lnext(after, la);
	}
	if (la != NULL)
		note(change, CHANGE_ALLOWED, "ADD COLUMN");
}

/* The trigger in list with this OID, or NULL. */
static TriggerInfo *
find_trigger(List *triggers, Oid oid)
{
	ListCell   *lc;

	foreach(lc, triggers)
	{
		if (((TriggerInfo *) lfirst(lc))->oid == oid)
			return lfirst(lc);
	}
	return NULL;
}

/* Same trigger, field by field. */
static bool
same_trigger(TriggerInfo *a, TriggerInfo *b)
{
	return a->oid == b->oid && a->foid == b->foid && a->type == b->type &&
		a->enabled == b->enabled && a->qual == b->qual &&
		a->nattr == b->nattr &&
		strcmp(NameStr(a->name), NameStr(b->name)) == 0;
}

/* True for a trigger that runs the guard or bears a guard's name. */
static bool
is_guard(TriggerInfo *trig, Oid guard_function)
{
	return trig->foid == guard_function ||
		strcmp(NameStr(trig->name), AG_ROW_TRIGGER) == 0 ||
		strcmp(NameStr(trig->name), AG_TRUNCATE_TRIGGER) == 0;
}

/*
 * True for a guard trigger that is the whole guard: the guard function,
 * BEFORE, for UPDATE and DELETE of each row or for TRUNCATE, with no WHEN
 * clause and no column list.
 */
static bool
is_whole_guard(TriggerInfo *trig, Oid guard_function)
{
	int16		type = trig->type;

	if (trig->foid != guard_function || !TRIGGER_FOR_BEFORE(type) ||
		trig->qual || trig->nattr != 0)
		return false;
	if (TRIGGER_FOR_ROW(type))
		return TRIGGER_FOR_UPDATE(type) && TRIGGER_FOR_DELETE(type) &&
			!TRIGGER_FOR_INSERT(type);
	return TRIGGER_FOR_TRUNCATE(type) && !TRIGGER_FOR_INSERT(type);
}

/* True for a trigger that could drop or alter rows as they are inserted. */
static bool
is_before_insert(TriggerInfo *trig)
{
	return TRIGGER_FOR_ROW(trig->type) && TRIGGER_FOR_BEFORE(trig->type) &&
		TRIGGER_FOR_INSERT(trig->type) && trig->enabled != TRIGGER_DISABLED;
}

/*
 * Triggers.  A guard trigger must stay whole for everyone, and stay
 * ENABLE ALWAYS and in place unless the designated owner says otherwise;
 * raising one to ALWAYS is allowed to all (a restore does it).  A BEFORE
 * INSERT row trigger can swallow inserts: a new or changed one is for the
 * designated owner.  On audit_guard's own tables every change counts.
 */
static void
compare_triggers(List *before, List *after, const DefinitionRules *rules,
				 DefinitionChange *change)
{
	ListCell   *lc;

	foreach(lc, after)
	{
		TriggerInfo *a = lfirst(lc);
		TriggerInfo *b = find_trigger(before, a->oid);

		if (b != NULL && same_trigger(a, b))
			continue;
		if (is_guard(a, rules->guard_function) &&
			!is_whole_guard(a, rules->guard_function))
			note(change, CHANGE_NOBODY, "replacing a guard trigger");
		else if (is_guard(a, rules->guard_function) && b != NULL &&
				 strcmp(NameStr(a->name), NameStr(b->name)) != 0)
			note(change, CHANGE_OWNER_ONLY, "ALTER TRIGGER ... RENAME");
		else if (is_guard(a, rules->guard_function) &&
				 a->enabled != TRIGGER_FIRES_ALWAYS &&
				 (b == NULL || b->enabled != a->enabled))
			note(change, b && b->enabled == TRIGGER_FIRES_ALWAYS ?
				 CHANGE_OWNER_ONLY : CHANGE_ALLOWED, "DISABLE TRIGGER");
		else if (rules->own_table && a->enabled != TRIGGER_FIRES_ALWAYS)
			note(change, CHANGE_OWNER_ONLY, "changing a trigger");
		else if (rules->own_table && (b == NULL || a->foid != b->foid ||
									  a->type != b->type || a->qual != b->qual))
			note(change, CHANGE_OWNER_ONLY, "CREATE TRIGGER");
		else if (is_before_insert(a))
			note(change, CHANGE_OWNER_ONLY, "CREATE TRIGGER ... BEFORE INSERT");
		else
			note(change, CHANGE_ALLOWED, "changing a trigger");
	}
	foreach(lc, before)
	{
		TriggerInfo *b = lfirst(lc);

		if (find_trigger(after, b->oid) != NULL)
			continue;
		if (is_guard(b, rules->guard_function) || rules->own_table)
			note(change, CHANGE_OWNER_ONLY, "DROP TRIGGER");
		else
			note(change, CHANGE_ALLOWED, "DROP TRIGGER");
	}
}

/*
 * The partition parent before had and after no longer has (DETACH), as a
 * list; NIL for a table that was no partition (inheritance children are
 * outside any retention of their parent).
 */
List *
audit_guard_parents_left(TableDef *before, TableDef *after)
{
	if (!before->exists || !after->exists || !before->cls.relispartition)
		return NIL;
	return list_difference_oid(before->parents, after->parents);
}

/*
 * The partition parent after has and before had not (ATTACH), as a list;
 * NIL unless after is a partition.
 */
List *
audit_guard_parents_joined(TableDef *before, TableDef *after)
{
	if (!before->exists || !after->exists || !after->cls.relispartition)
		return NIL;
	return list_difference_oid(after->parents, before->parents);
}

/*
 * Compare two readings of one table and report the most severe change,
 * with the operation to name in a refusal.
 */
DefinitionChange
audit_guard_compare_definitions(TableDef *before, TableDef *after,
								const DefinitionRules *rules)
{
	DefinitionChange change = {CHANGE_NONE, NULL};
	ListCell   *lc;

	/* a new table has nothing to keep; a dropped one is OAT_DROP's */
	if (!before->exists || !after->exists)
		return change;

	compare_class(&before->cls, &after->cls,
				  columns_reshaped(before->columns, after->columns), rules, &change);
	compare_columns(before->columns, after->columns, rules, &change);
	compare_triggers(before->triggers, after->triggers, rules, &change);
	if (!audit_guard_same_lines(before->rules, after->rules) ||
		before->cls.relhasrules != after->cls.relhasrules)
		note(&change, CHANGE_OWNER_ONLY, "CREATE/ALTER RULE");
	if (!equal(before->parents, after->parents))
		note(&change, CHANGE_OWNER_ONLY, "ATTACH/DETACH PARTITION or INHERIT");
	foreach(lc, before->children)
	{
		if (!list_member_oid(after->children, lfirst_oid(lc)))
			note(&change, CHANGE_OWNER_ONLY, "DETACH PARTITION");
	}
	if (list_length(after->children) > list_length(before->children))
		note(&change, CHANGE_ALLOWED, "ATTACH PARTITION");
	if (!audit_guard_same_lines(before->extras, after->extras))
		note(&change, rules->own_table ? CHANGE_OWNER_ONLY : CHANGE_ALLOWED,
			 "changing policies or constraints");
	return change;
}
