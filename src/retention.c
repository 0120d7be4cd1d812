/*-------------------------------------------------------------------------
 *
 * retention.c
 *		audit_guard.set_retention(), and the refusals it brings: while a
 *		table holds a row younger than its retention, nobody may DROP it,
 *		DROP or DETACH a partition holding such a row, or unprotect() it;
 *		and nobody may drop or rename its time column.
 *
 * A retention is a row of audit_guard.retention (keep, time_column).  On a
 * partitioned table it covers every partition at any depth: the
 * retention of a table is the largest keep among itself and its
 * ancestors, all of which use one time column (set_retention() sees to
 * it).  keep is raised, never lowered; nothing removes the row but the
 * end of protection, which is refused while rows are young.
 *
 * "Young" is decided here once for every caller (purge() too): a row is
 * younger than keep when its time column is at or after now() - keep.
 * The bound is computed in UTC and a timestamp or date column is read as
 * UTC, so that no session setting (TimeZone) moves it.  These checks run
 * only for DDL on protected tables with a retention, and scan the table:
 * DDL pays, never INSERT.
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(audit_guard_set_retention);

/* Compare two intervals as PostgreSQL does (a month is 30 days). */
static int
keep_cmp(Interval *a, Interval *b)
{
	return DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(a),
											 IntervalPGetDatum(b)));
}

/* audit_guard.retention, or InvalidOid before extension version 1.1. */
Oid
audit_guard_retention_table(void)
{
	Oid			schema = audit_guard_schema();

	return OidIsValid(schema) ? get_relname_relid("retention", schema) : InvalidOid;
}

/* The retention row of relid itself: false when it has none. */
static bool
read_own_retention(Oid relid, Interval **keep, char **column)
{
	Oid			table = audit_guard_retention_table();
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(table))
		return false;
	rel = table_open(table, AccessShareLock);
	scan = audit_guard_scan_by_relid(rel, relid, NULL);
	if ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;

		*keep = DatumGetIntervalP(datumCopy(heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull),
											false, sizeof(Interval)));
		*column = pstrdup(NameStr(*DatumGetName(heap_getattr(tuple, 3, RelationGetDescr(rel), &isnull))));
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * relid and its partition ancestors, nearest first.  A partition whose
 * DETACH ... CONCURRENTLY has not completed is still one: its rows are
 * still under the retention of its parent (get_partition_ancestors()
 * stops there, as queries do).
 */
static List *
self_and_ancestors(Oid relid)
{
	List	   *result = list_make1_oid(relid);

	while (get_rel_relispartition(relid))
	{
		relid = get_partition_parent(relid, true);
		result = lappend_oid(result, relid);
	}
	return result;
}

/*
 * The retention that applies to relid: the largest keep of itself and its
 * ancestors, with its time column and the table it was set on.  False
 * when none applies.
 */
bool
audit_guard_retention_of(Oid relid, Interval **keep, char **column, Oid *set_on)
{
	ListCell   *lc;
	bool		found = false;

	foreach(lc, self_and_ancestors(relid))
	{
		Interval   *k;
		char	   *c;

		if (!read_own_retention(lfirst_oid(lc), &k, &c))
			continue;
		if (!found || keep_cmp(k, *keep) > 0)
		{
			*keep = k;
			*column = c;
			if (set_on)
				*set_on = lfirst_oid(lc);
		}
		found = true;
	}
	return found;
}

/*
 * Lock the retentions that apply to relid (its own and its ancestors')
 * against set_retention(), which holds ExclusiveLock on the one it sets,
 * until the end of the transaction, and read them afresh from here on:
 * purge() then deletes by a keep no raise committed before it outdates.
 */
void
audit_guard_lock_retentions(Oid relid)
{
	ListCell   *lc;

	foreach(lc, self_and_ancestors(relid))
		LockDatabaseObject(audit_guard_retention_table(), lfirst_oid(lc), 0, ShareLock);
	InvalidateCatalogSnapshot();
}

/*
 * now() - keep in microseconds since 2000-01-01 UTC: computed as a
 * timestamp without time zone, so that TimeZone (its DST days) does not
 * move it.  An infinite keep gives -infinity: nothing ever expires.
 */
int64
audit_guard_retention_bound(Interval *keep)
{
	Timestamp	now = (Timestamp) GetCurrentTransactionStartTimestamp();

	return DatumGetTimestamp(DirectFunctionCall2(timestamp_mi_interval,
												 TimestampGetDatum(now),
												 IntervalPGetDatum(keep)));
}

/*
 * True when a time value is at or after bound: its row is younger than
 * the retention.  timestamptz and timestamp compare as microseconds (a
 * timestamp read as UTC); a date as its midnight, UTC.
 */
bool
audit_guard_time_is_young(Datum value, Oid typid, int64 bound)
{
	DateADT		date;
	int64		day;

	if (typid != DATEOID)
		return DatumGetInt64(value) >= bound;
	date = DatumGetDateADT(value);
	if (DATE_IS_NOBEGIN(date))
		return false;
	if (DATE_IS_NOEND(date))
		return true;
	if (TIMESTAMP_IS_NOBEGIN(bound))
		return true;
	/* date * USECS_PER_DAY >= bound, without overflow: date >= ceil(bound / day) */
	day = bound / USECS_PER_DAY + (bound % USECS_PER_DAY > 0 ? 1 : 0);
	return (int64) date >= day;
}

/* True when one table with storage holds a row younger than bound. */
static bool
leaf_holds_young_rows(Oid relid, const char *column, int64 bound)
{
	Relation	rel = table_open(relid, NoLock);
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			typid = get_atttype(relid, attnum);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = ag_table_beginscan(rel, snapshot);
	bool		young = false;

	if (attnum == InvalidAttrNumber)
		young = true;			/* cannot tell: fail closed */
	while (!young && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attnum, &isnull);

		CHECK_FOR_INTERRUPTS();
		young = isnull || audit_guard_time_is_young(value, typid, bound);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	table_close(rel, NoLock);
	return young;
}

/*
 * True when relid, or any of its partitions, holds a row younger than
 * keep by column.  Each table with storage is locked against INSERT first
 * (ShareLock, kept to the end of the transaction), so that no young row
 * commits after it was looked at.
 */
static bool
young_rows_under(Oid relid, Interval *keep, const char *column)
{
	List	   *tables;
	ListCell   *lc;
	int64		bound = audit_guard_retention_bound(keep);

	LockRelationOid(relid, ShareLock);
	tables = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ?
		find_all_inheritors(relid, ShareLock, NULL) : list_make1_oid(relid);
	foreach(lc, tables)
	{
		Oid			table = lfirst_oid(lc);

		if (get_rel_relkind(table) != RELKIND_RELATION)
			continue;
		if (leaf_holds_young_rows(table, column, bound))
			return true;
	}
	return false;
}

/* True when relid, or any of its partitions, holds a row younger than its retention. */
static bool
holds_young_rows(Oid relid, Interval **keep, char **column)
{
	if (!audit_guard_retention_of(relid, keep, column, NULL))
		return false;
	return young_rows_under(relid, *keep, *column);
}

/* DROP TABLE of a protected table: refused while it holds young rows. */
void
audit_guard_check_retention_drop(Oid relid)
{
	Interval   *keep;
	char	   *column;

	/* a partitioned table's partitions are dropped, and checked, one by one */
	if (get_rel_relkind(relid) != RELKIND_RELATION)
		return;
	if (holds_young_rows(relid, &keep, &column))
		audit_guard_refuse_young(relid, "drop", "DROP TABLE", keep, column);
}

/*
 * DETACH PARTITION ... CONCURRENTLY: refused while any retention applies.
 * It commits after its first step and completes in a second transaction,
 * so a young row inserted into the partition in between would leave the
 * retention with it.  A plain DETACH is decided after it ran, on the table
 * it detached (audit_guard_check_retention_left).
 */
void
audit_guard_check_retention_detach_concurrently(Oid relid)
{
	Interval   *keep;
	char	   *column;

	if (audit_guard_retention_of(relid, &keep, &column, NULL))
		audit_guard_refuse_detach_concurrently(relid, keep, column);
}

/*
 * DETACH PARTITION, decided after the statement took relid out of its
 * former partition parents (postcheck.c): on the table PostgreSQL actually
 * detached and holds locked, whatever names the statement gave and
 * however they resolved while it waited for its locks.  Refused when the
 * retention of a former parent covered relid, relid's own retention keeps
 * rows for less, and relid holds a row younger than the former one.
 */
void
audit_guard_check_retention_left(Oid relid, List *former_parents)
{
	ListCell   *lc;

	foreach(lc, former_parents)
	{
		Interval   *keep,
				   *own_keep;
		char	   *column,
				   *own_column;

		if (!audit_guard_retention_of(lfirst_oid(lc), &keep, &column, NULL))
			continue;
		if (read_own_retention(relid, &own_keep, &own_column) &&
			keep_cmp(own_keep, keep) >= 0 && strcmp(own_column, column) == 0)
			continue;			/* its own retention keeps them as long */
		if (young_rows_under(relid, keep, column))
			audit_guard_refuse_young(relid, "detach", "DETACH PARTITION", keep, column);
	}
}

/*
 * The first of relid and its partitions, at any depth, whose own retention
 * keeps rows by a column other than column (that column into *other), or
 * InvalidOid: one partition tree keeps its rows by one time column.
 */
static Oid
kept_by_other_column(Oid relid, const char *column, char **other)
{
	List	   *tables = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ?
		find_all_inheritors(relid, AccessShareLock, NULL) : list_make1_oid(relid);
	ListCell   *lc;

	foreach(lc, tables)
	{
		Interval   *keep;

		if (read_own_retention(lfirst_oid(lc), &keep, other) &&
			strcmp(*other, column) != 0)
			return lfirst_oid(lc);
	}
	return InvalidOid;
}

/*
 * ATTACH PARTITION, decided after the statement made relid a partition of
 * new_parents (postcheck.c): the retention of relid or of a partition of
 * it must use the time column of the retention it joins.  One partition
 * tree has one time column (set_retention() sees to it): otherwise the
 * longest keep would be read by its own column, and rows young by the
 * other would go.
 */
void
audit_guard_check_retention_joined(Oid relid, List *new_parents)
{
	ListCell   *lc;

	foreach(lc, new_parents)
	{
		Interval   *keep;
		char	   *column;
		Oid			set_on;
		Oid			other;
		char	   *c;

		if (!audit_guard_retention_of(lfirst_oid(lc), &keep, &column, &set_on))
			continue;
		if (OidIsValid(other = kept_by_other_column(relid, column, &c)))
			audit_guard_refuse_join_other_column(other, lfirst_oid(lc), c, column,
												 set_on);
	}
}

/* unprotect() of tables (a table and its partitions): the same. */
void
audit_guard_check_retention_unprotect(List *tables)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		Interval   *keep;
		char	   *column;

		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION &&
			holds_young_rows(lfirst_oid(lc), &keep, &column))
			audit_guard_refuse_young(lfirst_oid(lc), "unprotect", "audit_guard.unprotect()",
						 keep, column);
	}
}

/*
 * DROP COLUMN or RENAME COLUMN of the time column of a retention: refused
 * for everyone, whatever the rows' age (the retention would lose its
 * column).
 */
void
audit_guard_check_retention_column(Oid relid, const char *column,
								   const char *operation)
{
	Interval   *keep;
	char	   *time_column;
	Oid			set_on;

	if (column == NULL ||
		!audit_guard_retention_of(relid, &keep, &time_column, &set_on) ||
		strcmp(column, time_column) != 0)
		return;
	audit_guard_refuse_time_column(relid, column, operation, set_on);
}

/* ---- set_retention() ---- */

/* Ensure column is a NOT NULL timestamptz, timestamp or date column of relid. */
static void
check_time_column(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	HeapTuple	tuple;
	Form_pg_attribute att;

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s does not exist",
						column, audit_guard_table_name(relid)),
				 errhint("Name the column that records when each row happened.")));
	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for column %d of relation %u", attnum, relid);
	att = (Form_pg_attribute) GETSTRUCT(tuple);
	if (att->atttypid != TIMESTAMPTZOID && att->atttypid != TIMESTAMPOID &&
		att->atttypid != DATEOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table %s is of type %s, not a time",
						column, audit_guard_table_name(relid),
						format_type_be(att->atttypid)),
				 errdetail("A retention's time column must be of type timestamptz, timestamp or date."),
				 errhint("Name a column of one of those types.")));
	if (!att->attnotnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
				 errmsg("column \"%s\" of table %s is not NOT NULL",
						column, audit_guard_table_name(relid)),
				 errdetail("A row without a time could never expire, nor be told young from old."),
				 errhint("Declare it NOT NULL first (ALTER TABLE %s ALTER COLUMN %s SET NOT NULL).",
						 audit_guard_table_name(relid), quote_identifier(column))));
	ReleaseSysCache(tuple);
}

/* Ensure keep is positive and now() - keep is a time. */
static void
check_keep(Interval *keep)
{
	Interval	zero = {0};

	if (keep_cmp(keep, &zero) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must be positive, not %s", audit_guard_interval_text(keep)),
				 errhint("Give the time rows must be kept, for example interval '7 years'.")));
	(void) audit_guard_retention_bound(keep);	/* errors when out of range */
}

/* Refuse a time column other than the one a related retention uses. */
pg_noreturn static void
refuse_other_column(Oid relid, const char *column, const char *current, Oid set_on)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot keep rows of protected table %s by column \"%s\"",
					audit_guard_table_name(relid), column),
			 errdetail("The retention set on %s keeps them by column \"%s\"; a time column never changes.",
					   audit_guard_table_name(set_on), current),
			 errhint("Use column \"%s\".", current)));
	pg_unreachable();
}

/*
 * Ensure the retentions of relid's ancestors and partitions use column,
 * and that keep is not below an ancestor's (it would say less than what
 * is in force).
 */
static void
check_related(Oid relid, Interval *keep, const char *column)
{
	ListCell   *lc;
	Oid			other;
	char	   *c;

	foreach(lc, self_and_ancestors(relid))
	{
		Interval   *k;

		if (lfirst_oid(lc) == relid || !read_own_retention(lfirst_oid(lc), &k, &c))
			continue;
		if (strcmp(c, column) != 0)
			refuse_other_column(relid, column, c, lfirst_oid(lc));
		if (keep_cmp(keep, k) < 0)
			audit_guard_refuse_lower_retention(relid, keep, k, lfirst_oid(lc));
	}
	/* relid's own retention, if any, has been compared already */
	if (OidIsValid(other = kept_by_other_column(relid, column, &c)))
		refuse_other_column(relid, column, c, other);
}

/* Insert or raise the retention row of relid. */
static void
write_retention(Oid relid, Interval *keep, const char *column, bool exists)
{
	Oid			types[4] = {REGCLASSOID, INTERVALOID, NAMEOID, NAMEOID};
	Datum		values[4];
	int			nestlevel = audit_guard_begin_spi();

	values[0] = ObjectIdGetDatum(relid);
	values[1] = IntervalPGetDatum(keep);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(column));
	values[3] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	if (exists)
		audit_guard_write_own_table("UPDATE audit_guard.retention"
									" SET keep = $2, set_at = pg_catalog.clock_timestamp(),"
									" set_by = $4"
									" WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
									" AND time_column OPERATOR(pg_catalog.=) $3",
									4, types, values, SPI_OK_UPDATE);
	else
		audit_guard_write_own_table("INSERT INTO audit_guard.retention"
									" (relid, keep, time_column, set_by)"
									" VALUES ($1, $2, $3, $4)",
									4, types, values, SPI_OK_INSERT);
	audit_guard_record_erasure("retention", relid, audit_guard_owner_of(relid),
							   keep, NULL, -1, NULL, NULL);
	audit_guard_end_spi(nestlevel);
}

/* Ensure relid is a protected table; returns its designated owner. */
static Oid
require_protected(Oid relid, const char *function)
{
	Oid			owner;

	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Name a protected table.")));
	owner = audit_guard_owner_of(relid);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot call audit_guard.%s() on table %s: it is not protected by audit_guard",
						function, audit_guard_table_name(relid)),
				 errhint("Protect it first with audit_guard.protect().")));
	audit_guard_require_owner_quietly(relid, psprintf("audit_guard.%s()", function));
	return owner;
}

/* Ensure no argument is NULL. */
static void
require_arguments(FunctionCallInfo fcinfo, const char *function, int nargs)
{
	int			i;

	for (i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of audit_guard.%s() must not be NULL", i + 1, function),
					 errhint("Give every argument a value.")));
}

/* The same, for erase.c. */
Oid
audit_guard_require_erasure_caller(FunctionCallInfo fcinfo, const char *function,
								   int nargs)
{
	require_arguments(fcinfo, function, nargs);
	return require_protected(PG_GETARG_OID(0), function);
}

/* SQL: audit_guard.set_retention(tbl regclass, keep interval, time_column name) */
Datum
audit_guard_set_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Interval   *keep;
	char	   *column;
	Interval   *current;
	char	   *current_column;
	bool		exists;

	require_arguments(fcinfo, "set_retention", 3);
	relid = PG_GETARG_OID(0);
	keep = PG_GETARG_INTERVAL_P(1);
	column = NameStr(*PG_GETARG_NAME(2));
	if (!audit_guard_extension_ready())
		elog(ERROR, "audit_guard registry not found");
	(void) require_protected(relid, "set_retention");
	check_keep(keep);
	check_time_column(relid, column);

	/* one set_retention() of a table at a time */
	LockDatabaseObject(audit_guard_retention_table(), relid, 0, ExclusiveLock);
	exists = read_own_retention(relid, &current, &current_column);
	if (exists && strcmp(current_column, column) != 0)
		refuse_other_column(relid, column, current_column, relid);
	if (exists && keep_cmp(keep, current) < 0)
		audit_guard_refuse_lower_retention(relid, keep, current, relid);
	check_related(relid, keep, column);
	if (exists && keep_cmp(keep, current) == 0)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("retention of %s unchanged: rows younger than %s by column %s are kept",
												  audit_guard_table_name(relid),
												  audit_guard_interval_text(keep), quote_identifier(column))));
	write_retention(relid, keep, column, exists);
	if (exists)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("retention of %s raised from %s to %s by column %s",
												  audit_guard_table_name(relid),
												  audit_guard_interval_text(current), audit_guard_interval_text(keep),
												  quote_identifier(column))));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("retention of %s set: rows younger than %s by column %s are kept",
											  audit_guard_table_name(relid),
											  audit_guard_interval_text(keep), quote_identifier(column))));
}
