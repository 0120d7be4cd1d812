/*-------------------------------------------------------------------------
 *
 * protect.c
 *		The SQL API: protect() and unprotect(), and the partition
 *		bookkeeping the utility hook asks for.
 *
 * Protecting a table means three things done in one transaction, so that
 * a failure leaves nothing half-done: a registry row naming its designated
 * owner, the two guard triggers, and both triggers set ENABLE ALWAYS.  A
 * partitioned table is protected with every partition: the row trigger is
 * cloned by PostgreSQL, but a statement TRUNCATE trigger is not, so each
 * partition gets its own, and a registry row of its own.
 *
 * The trigger DDL and the registry writes run through SPI as the extension's
 * owner, after the caller has been authorized, with a pinned search_path.
 * The hooks recognise them by their text (audit_guard_own_sql): exactly
 * that statement is let through, not what a rule or trigger adds inside it.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(audit_guard_protect);
PG_FUNCTION_INFO_V1(audit_guard_unprotect);

/* Non-zero while unprotect() drops triggers on behalf of this owner. */
Oid			audit_guard_internal_owner = InvalidOid;

/* The text of the SPI statement audit_guard is running, or NULL. */
const char *audit_guard_own_sql = NULL;

/*
 * True for the statement audit_guard itself passed to SPI: the same
 * pointer, not merely the same text, so that nobody can imitate it.
 */
bool
audit_guard_is_own_statement(const char *sql)
{
	return sql != NULL && sql == audit_guard_own_sql;
}

/* A table dropped by its designated owner, to strike from the registry. */
typedef struct DroppedTable
{
	Oid			relid;
	char	   *name;			/* taken while the table still existed */
} DroppedTable;

/* The DroppedTables of this transaction, in TopTransactionContext. */
static List *dropped_tables = NIL;

/* The owner of a relation, from pg_class. */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* Connect to SPI with search_path pinned; returns the GUC nest level. */
static int
begin_spi(void)
{
	int			nestlevel;

	SPI_connect();
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Undo begin_spi(). */
static void
end_spi(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
}

/*
 * Run one SPI statement as userid, with NULL arguments ('n' in nulls),
 * with snapshot when one is given (else the usual fresh one), adding
 * sec_context to the security context; returns the rows it processed.
 */
static uint64
run_as_snapshot(Oid userid, int sec_context, const char *sql, int nargs,
				Oid *types, Datum *values, const char *nulls, Snapshot snapshot,
				int expected)
{
	Oid			save_userid;
	int			save_sec_context;
	int			rc;

	const char *save_sql = audit_guard_own_sql;

	/* decide on what came before, as the caller, before acting as userid */
	audit_guard_postcheck(false);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(userid, save_sec_context | sec_context);
	audit_guard_own_sql = sql;
	PG_TRY();
	{
		if (snapshot == InvalidSnapshot)
			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
		else
		{
			SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);
			CachedPlanSource *source;

			if (plan == NULL)
				elog(ERROR, "audit_guard: \"%s\" failed: %s",
					 sql, SPI_result_code_string(SPI_result));
			/* the plan runs its own copy of the text: that is the one to know */
			source = linitial(SPI_plan_get_plan_sources(plan));
			audit_guard_own_sql = source->query_string;
			rc = SPI_execute_snapshot(plan, values, nulls, snapshot,
									  InvalidSnapshot, false, false, 0);
		}
	}
	PG_FINALLY();
	{
		audit_guard_own_sql = save_sql;
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (rc != expected)
		elog(ERROR, "audit_guard: \"%s\" failed: %s",
			 sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/* Run one SPI statement as userid, with NULL arguments ('n' in nulls). */
static void
run_as_nulls(Oid userid, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls, int expected)
{
	(void) run_as_snapshot(userid, SECURITY_LOCAL_USERID_CHANGE, sql, nargs,
						   types, values, nulls, InvalidSnapshot, expected);
}

/* Run one SPI statement as userid, checking its result code. */
static void
run_as(Oid userid, const char *sql, int nargs, Oid *types, Datum *values,
	   int expected)
{
	run_as_nulls(userid, sql, nargs, types, values, NULL, expected);
}

/*
 * Run guard-trigger DDL as the extension's owner (a superuser: the control
 * file says superuser = true).  The caller was authorized before; running
 * as the table's owner instead would fail where that role has lost USAGE on
 * the table's schema, and unprotect() is run by a designated owner who need
 * not own the table.
 */
static void
run_ddl(const char *sql)
{
	run_as(relation_owner(audit_guard_registry_relid()), sql, 0, NULL, NULL,
		   SPI_OK_UTILITY);
}

/*
 * Write the registry or history as the registry's owner, then tell every
 * backend to reload the registry: from here, not only from the registry's
 * trigger, which a restore may leave disabled.
 */
static void
write_registry_nulls(const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls, int expected)
{
	run_as_nulls(relation_owner(audit_guard_registry_relid()), sql,
				 nargs, types, values, nulls, expected);
	CacheInvalidateRelcacheByRelid(audit_guard_registry_relid());
}

/* The same without NULL arguments. */
static void
write_registry(const char *sql, int nargs, Oid *types, Datum *values,
			   int expected)
{
	write_registry_nulls(sql, nargs, types, values, NULL, expected);
}

/*
 * The same three for the other writers of audit_guard's own tables: seal()
 * and the records of designated-owner overrides.
 */
int
audit_guard_begin_spi(void)
{
	return begin_spi();
}

void
audit_guard_end_spi(int nestlevel)
{
	end_spi(nestlevel);
}

void
audit_guard_write_own_table(const char *sql, int nargs, Oid *types,
							Datum *values, int expected)
{
	write_registry(sql, nargs, types, values, expected);
}

void
audit_guard_write_own_table_nulls(const char *sql, int nargs, Oid *types,
								  Datum *values, const char *nulls, int expected)
{
	write_registry_nulls(sql, nargs, types, values, nulls, expected);
}

/*
 * Delete rows of protected table relid for purge() or redact(), with the
 * snapshot their seal took (so that exactly the rows sealed and matched
 * go); returns how many.  The caller has checked the designated owner and
 * set audit_guard_erasing.  The DELETE runs as the table's owner, in a
 * restricted operation, as VACUUM runs a table's index functions: the
 * table's own DELETE triggers run in it, and must not run with more
 * rights than the role that could write them (the extension's owner is a
 * superuser).
 */
uint64
audit_guard_delete_erased(Oid relid, const char *sql, int nargs, Oid *types,
						  Datum *values, Snapshot snapshot)
{
	return run_as_snapshot(relation_owner(relid),
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION,
						   sql, nargs, types, values, NULL, snapshot, SPI_OK_DELETE);
}

/* A role's name as a Datum of type name; its OID when it has none left. */
static Datum
role_name_datum(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return DirectFunctionCall1(namein,
							   CStringGetDatum(name ? name : psprintf("%u", roleid)));
}

/*
 * Append one event to audit_guard.history.  From version 1.1 of the
 * extension history also takes the statement that caused the event, and
 * for an override the operation the guard refuses to everyone else
 * (operation NULL otherwise); a database not yet updated gets 1.0's row.
 */
void
audit_guard_record_event(const char *action, Oid relid, const char *table,
						 Oid owner, const char *operation)
{
	Oid			types[7] = {TEXTOID, OIDOID, TEXTOID, NAMEOID, NAMEOID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[8] = "       ";
	bool		v11 = get_attnum(audit_guard_history_relid(),
								 "statement") != InvalidAttrNumber;

	values[0] = CStringGetTextDatum(action);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(table);
	values[3] = role_name_datum(owner);
	values[4] = role_name_datum(GetUserId());
	values[5] = CStringGetTextDatum(debug_query_string ? debug_query_string : "");
	values[6] = operation ? CStringGetTextDatum(operation) : (Datum) 0;
	nulls[6] = operation ? ' ' : 'n';
	if (v11)
		write_registry_nulls("INSERT INTO audit_guard.history"
							 " (action, relid, table_name, designated_owner, performed_by,"
							 " statement, operation)"
							 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
							 7, types, values, nulls, SPI_OK_INSERT);
	else
		write_registry("INSERT INTO audit_guard.history"
					   " (action, relid, table_name, designated_owner, performed_by)"
					   " VALUES ($1, $2, $3, $4, $5)",
					   5, types, values, SPI_OK_INSERT);
}

/*
 * Append a retention, purge or redaction event to audit_guard.history,
 * with what an auditor asks of it: keep (retention), the time bound used
 * (purge), the rows erased, the key and the reason (redaction).  NULL or
 * negative: not recorded.
 */
void
audit_guard_record_erasure(const char *action, Oid relid, Oid owner,
						   Interval *keep, TimestampTz *bound, int64 rows,
						   const char *row_key, const char *reason)
{
	Oid			types[11] = {TEXTOID, OIDOID, TEXTOID, NAMEOID, NAMEOID, TEXTOID,
	INTERVALOID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[11];
	char		nulls[12] = "           ";

	values[0] = CStringGetTextDatum(action);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(audit_guard_table_name(relid));
	values[3] = role_name_datum(owner);
	values[4] = role_name_datum(GetUserId());
	values[5] = CStringGetTextDatum(debug_query_string ? debug_query_string : "");
	values[6] = keep ? IntervalPGetDatum(keep) : (Datum) 0;
	nulls[6] = keep ? ' ' : 'n';
	values[7] = bound ? TimestampTzGetDatum(*bound) : (Datum) 0;
	nulls[7] = bound ? ' ' : 'n';
	values[8] = Int64GetDatum(rows);
	nulls[8] = rows >= 0 ? ' ' : 'n';
	values[9] = row_key ? CStringGetTextDatum(row_key) : (Datum) 0;
	nulls[9] = row_key ? ' ' : 'n';
	values[10] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[10] = reason ? ' ' : 'n';
	write_registry_nulls("INSERT INTO audit_guard.history"
						 " (action, relid, table_name, designated_owner, performed_by,"
						 " statement, keep, time_bound, row_count, row_key, reason)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
						 11, types, values, nulls, SPI_OK_INSERT);
}

/* Add or update the registry row of relid. */
static void
register_table(Oid relid, Oid owner, const char *action)
{
	Oid			types[3] = {REGCLASSOID, REGROLEOID, NAMEOID};
	Datum		values[3];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(owner);
	values[2] = role_name_datum(GetUserId());
	write_registry("INSERT INTO audit_guard.registry"
				   " (relid, designated_owner, protected_by) VALUES ($1, $2, $3)"
				   " ON CONFLICT (relid) DO UPDATE"
				   " SET designated_owner = excluded.designated_owner",
				   3, types, values, SPI_OK_INSERT);
	audit_guard_record_event(action, relid, audit_guard_table_name(relid), owner, NULL);
}

/* Remove the registry row of relid. */
static void
unregister_table(Oid relid, const char *table, Oid owner, const char *action)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	write_registry("DELETE FROM audit_guard.registry"
				   " WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
				   1, types, values, SPI_OK_DELETE);
	/* its retention goes with it: unprotect() and DROP checked it expired */
	if (OidIsValid(audit_guard_retention_table()))
		write_registry("DELETE FROM audit_guard.retention"
					   " WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
					   1, types, values, SPI_OK_DELETE);
	audit_guard_record_event(action, relid, table, owner, NULL);
}

/* What ensure_guard found on one table. */
typedef struct GuardState
{
	bool		row;			/* a row guard trigger, own or cloned */
	bool		truncate;		/* a TRUNCATE guard trigger */
	List	   *to_enable;		/* guard triggers not ENABLE ALWAYS */
	List	   *own_triggers;	/* guard triggers not cloned from a parent */
} GuardState;

/* Read the guard triggers of relid from pg_trigger. */
static GuardState
read_guard_state(Oid relid)
{
	GuardState	state = {0};
	Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL,
							  1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tuple);
		char	   *name = pstrdup(NameStr(trig->tgname));

		if (!audit_guard_is_guard_trigger(trig))
			continue;
		if (TRIGGER_FOR_ROW(trig->tgtype))
			state.row = true;
		else if (TRIGGER_FOR_TRUNCATE(trig->tgtype))
			state.truncate = true;
		if (trig->tgenabled != TRIGGER_FIRES_ALWAYS)
			state.to_enable = lappend(state.to_enable, name);
		if (!OidIsValid(trig->tgparentid))
			state.own_triggers = lappend(state.own_triggers, name);
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return state;
}

/* True for an enabled BEFORE INSERT row trigger. */
static bool
is_before_insert(Form_pg_trigger trig)
{
	return TRIGGER_FOR_ROW(trig->tgtype) && TRIGGER_FOR_BEFORE(trig->tgtype) &&
		TRIGGER_FOR_INSERT(trig->tgtype) && trig->tgenabled != TRIGGER_DISABLED;
}

/* True when relid has an enabled BEFORE INSERT row trigger. */
static bool
has_before_insert_trigger(Oid relid)
{
	return audit_guard_has_trigger(relid, is_before_insert);
}

static void check_no_before_insert(Oid relid, Oid owner);

/* Create one guard trigger on relid. */
static void
create_guard_trigger(Oid relid, const char *name, const char *timing)
{
	run_ddl(psprintf("CREATE TRIGGER %s %s ON %s %s EXECUTE FUNCTION %s.reject_change()",
					 quote_identifier(name), timing, audit_guard_table_name(relid),
					 strcmp(name, AG_ROW_TRIGGER) == 0 ?
					 "FOR EACH ROW" : "FOR EACH STATEMENT",
					 quote_identifier(get_namespace_name(audit_guard_schema()))));
}

/*
 * Make sure relid carries both guard triggers, ENABLE ALWAYS.  Creates
 * what is missing and re-enables what is not ALWAYS; does nothing when the
 * guard is whole, which is what makes protect() idempotent.
 */
static void
ensure_guard(Oid relid)
{
	GuardState	state = read_guard_state(relid);
	ListCell   *lc;

	if (!state.row)
		create_guard_trigger(relid, AG_ROW_TRIGGER,
							 "BEFORE UPDATE OR DELETE");
	if (!state.truncate)
		create_guard_trigger(relid, AG_TRUNCATE_TRIGGER, "BEFORE TRUNCATE");
	if (!state.row || !state.truncate)
		state = read_guard_state(relid);

	foreach(lc, state.to_enable)
		run_ddl(psprintf("ALTER TABLE ONLY %s ENABLE ALWAYS TRIGGER %s",
						 audit_guard_table_name(relid),
						 quote_identifier((char *) lfirst(lc))));
}

/* Ensure the caller may protect relid, and that it is a table we can guard. */
static void
check_protectable(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	char	   *name;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	form = (Form_pg_class) GETSTRUCT(tuple);
	name = audit_guard_table_name(relid);

	if (form->relkind != RELKIND_RELATION &&
		form->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot protect \"%s\": it is not a table", name),
				 errdetail("audit_guard protects ordinary and partitioned tables only; views, materialized views, foreign tables, sequences and indexes hold no rows it could guard."),
				 errhint("Protect the table that holds the audit rows.")));
	if (form->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot protect \"%s\": it is a temporary table", name),
				 errdetail("A temporary table vanishes with its session, so it cannot keep an audit trail."),
				 errhint("Protect a permanent table.")));
	if (form->relpersistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot protect \"%s\": it is an unlogged table", name),
				 errdetail("Crash recovery empties an unlogged table, so it cannot keep an audit trail."),
				 errhint("Run ALTER TABLE ... SET LOGGED first.")));
	if (IsCatalogRelationOid(relid) || IsSystemClass(relid, form))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot protect \"%s\": it is a system catalog", name),
				 errhint("Protect one of your own tables.")));
	if (audit_guard_is_own_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot protect \"%s\": it belongs to audit_guard", name),
				 errdetail("audit_guard refuses UPDATE and DELETE on its own tables already.")));
	if (!ag_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to protect table \"%s\"", name),
				 errdetail("Only the owner of a table, or a superuser, may protect it."),
				 errhint("Run audit_guard.protect() as role \"%s\".",
						 GetUserNameFromId(form->relowner, false))));
	ReleaseSysCache(tuple);
}

/* The nearest protected partition ancestor of relid, or InvalidOid. */
static Oid
protected_ancestor(Oid relid)
{
	ListCell   *lc;

	if (!get_rel_relispartition(relid))
		return InvalidOid;
	foreach(lc, get_partition_ancestors(relid))
	{
		if (OidIsValid(audit_guard_owner_of(lfirst_oid(lc))))
			return lfirst_oid(lc);
	}
	return InvalidOid;
}

/* relid followed by all its partitions (just relid for a plain table). */
static List *
table_and_partitions(Oid relid)
{
	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	return find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
}

/*
 * Ensure every partition is a local table, and that no partition of an
 * unprotected partitioned table is protected on its own: its row trigger
 * would collide with the clone of the parent's.
 */
static void
check_no_standalone_partitions(Oid relid, List *tables)
{
	ListCell   *lc;

	for_each_from(lc, tables, 1)
	{
		Oid			part = lfirst_oid(lc);

		if (get_rel_relkind(part) == RELKIND_FOREIGN_TABLE)
			audit_guard_refuse_foreign_partition(relid, audit_guard_table_name(part));
	}
	if (OidIsValid(audit_guard_owner_of(relid)))
		return;
	for_each_from(lc, tables, 1)
	{
		Oid			part = lfirst_oid(lc);

		if (OidIsValid(audit_guard_owner_of(part)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot protect \"%s\": its partition \"%s\" is protected on its own",
							audit_guard_table_name(relid), audit_guard_table_name(part)),
					 errdetail("The partition's own guard trigger would collide with the one the partitioned table passes down."),
					 errhint("Have the partition's designated owner unprotect it, then protect \"%s\".",
							 audit_guard_table_name(relid))));
	}
}

/* Ensure the preload-time hooks are in place before promising anything. */
static void
check_hooks_active(void)
{
	if (!audit_guard_hooks_installed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_guard must be loaded via shared_preload_libraries"),
				 errhint("Add audit_guard to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * The designated owner protect() will record: the one given, else the one
 * already recorded, else the table's owner.  Changing it is for the current
 * designated owner only, and never on a partition guarded through a parent.
 */
static Oid
choose_owner(Oid relid, Oid requested)
{
	Oid			current = audit_guard_owner_of(relid);

	if (!OidIsValid(current))
		return OidIsValid(requested) ? requested : relation_owner(relid);
	if (!OidIsValid(requested) || requested == current)
		return current;
	if (OidIsValid(protected_ancestor(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot change the designated owner of partition \"%s\"",
						audit_guard_table_name(relid)),
				 errdetail("It is protected through its partitioned table \"%s\".",
						   audit_guard_table_name(protected_ancestor(relid))),
				 errhint("Call audit_guard.protect() on the partitioned table instead.")));
	audit_guard_require_owner_quietly(relid, "changing the designated owner");
	return requested;
}

/* The table argument of protect() or unprotect(), which must not be NULL. */
static Oid
table_argument(FunctionCallInfo fcinfo, const char *function)
{
	check_hooks_active();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table to %s must not be null", function),
				 errhint("Name the table, for example audit_guard.%s('audit_log').",
						 function)));
	return PG_GETARG_OID(0);
}

/* Guard each of tables and record owner as its designated owner. */
static void
guard_and_register(List *tables, Oid owner, const char *action)
{
	ListCell   *lc;
	int			nestlevel = begin_spi();

	foreach(lc, tables)
	{
		Oid			table = lfirst_oid(lc);

		ensure_guard(table);
		if (audit_guard_registered_owner(table) != owner)
			register_table(table, owner, action);
	}
	end_spi(nestlevel);
}

/*
 * What protect() did, as one line a migration log can show: protected
 * now, already protected, or a new designated owner.
 */
static char *
protect_outcome(Oid relid, Oid before, Oid owner, int partitions)
{
	char	   *table = audit_guard_table_name(relid);
	char	   *owner_name = GetUserNameFromId(owner, false);
	char	   *parts = partitions == 0 ? "" :
		psprintf(", with %d partition%s", partitions, partitions == 1 ? "" : "s");

	if (!OidIsValid(before))
		return psprintf("protected %s%s; designated owner %s",
						table, parts, quote_identifier(owner_name));
	if (before != owner)
		return psprintf("protected %s%s; designated owner changed from %s to %s",
						table, parts,
						quote_identifier(GetUserNameFromId(before, true) ?
										 GetUserNameFromId(before, true) :
										 psprintf("%u", before)),
						quote_identifier(owner_name));
	return psprintf("%s was already protected%s; designated owner %s",
					table, parts, quote_identifier(owner_name));
}

/* SQL: audit_guard.protect(tbl regclass, owner regrole DEFAULT NULL) */
Datum
audit_guard_protect(PG_FUNCTION_ARGS)
{
	Oid			relid = table_argument(fcinfo, "protect");
	Oid			before;
	Oid			owner;
	List	   *tables;
	ListCell   *lc;

	if (!PG_ARGISNULL(1) && !OidIsValid(PG_GETARG_OID(1)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("designated owner must be a role"),
				 errhint("Name a role, or omit owner to designate the table's owner.")));
	if (!audit_guard_extension_ready())
		elog(ERROR, "audit_guard registry not found");

	check_protectable(relid);
	LockRelationOid(relid, ShareRowExclusiveLock);
	check_protectable(relid);	/* it may have changed while we waited */
	if (!PG_ARGISNULL(1))
		audit_guard_lock_owner_role(PG_GETARG_OID(1));	/* roles.c */

	before = audit_guard_owner_of(relid);
	owner = choose_owner(relid, PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1));
	tables = table_and_partitions(relid);
	check_no_standalone_partitions(relid, tables);
	foreach(lc, tables)
		check_no_before_insert(lfirst_oid(lc), owner);
	guard_and_register(tables, owner, "protect");
	PG_RETURN_TEXT_P(cstring_to_text(protect_outcome(relid, before, owner,
													 list_length(tables) - 1)));
}

/* Ensure unprotect() is asked of a protected table that is not a partition of one. */
static void
check_unprotectable(Oid relid)
{
	Oid			ancestor;

	if (!OidIsValid(audit_guard_owner_of(relid)) &&
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errdetail("audit_guard has no registry row for it either, so there is nothing to unprotect."),
				 errhint("See audit_guard.protected_tables for the protected tables.")));
	if (!OidIsValid(audit_guard_owner_of(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not protected by audit_guard",
						audit_guard_table_name(relid)),
				 errdetail("It has no row in audit_guard.registry."),
				 errhint("See audit_guard.protected_tables for the protected tables.")));
	ancestor = protected_ancestor(relid);
	if (OidIsValid(ancestor))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot unprotect partition \"%s\" on its own",
						audit_guard_table_name(relid)),
				 errdetail("It is protected through its partitioned table \"%s\".",
						   audit_guard_table_name(ancestor)),
				 errhint("Unprotect the partitioned table instead.")));
	audit_guard_require_owner_quietly(relid, "audit_guard.unprotect()");
}

/* Drop the guard triggers of relid that are its own (not clones). */
static void
drop_guard_triggers(Oid relid)
{
	GuardState	state = read_guard_state(relid);
	ListCell   *lc;

	foreach(lc, state.own_triggers)
		run_ddl(psprintf("DROP TRIGGER %s ON %s",
								quote_identifier((char *) lfirst(lc)),
								audit_guard_table_name(relid)));
}

/* SQL: audit_guard.unprotect(tbl regclass) */
Datum
audit_guard_unprotect(PG_FUNCTION_ARGS)
{
	Oid			relid = table_argument(fcinfo, "unprotect");
	Oid			owner;
	List	   *tables;
	ListCell   *lc;
	int			nestlevel;

	check_unprotectable(relid);
	LockRelationOid(relid, ShareRowExclusiveLock);
	check_unprotectable(relid);

	owner = audit_guard_owner_of(relid);
	tables = table_and_partitions(relid);
	audit_guard_check_retention_unprotect(tables);
	nestlevel = begin_spi();
	audit_guard_internal_owner = owner;
	PG_TRY();
	{
		foreach(lc, tables)
		{
			Oid			table = lfirst_oid(lc);

			if (audit_guard_owner_of(table) != owner)
				continue;
			drop_guard_triggers(table);
			unregister_table(table, audit_guard_table_name(table), owner, "unprotect");
		}
	}
	PG_FINALLY();
	{
		audit_guard_internal_owner = InvalidOid;
	}
	PG_END_TRY();
	end_spi(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Ensure a table that joins a protected tree passes what protect() asks:
 * a permanent local table, without a BEFORE INSERT row trigger that could
 * swallow inserts (unless its designated owner-to-be adds it), and not
 * protected already under another designated owner (only that owner's own
 * call may hand it over).
 */
static void
check_can_join(Oid parent, Oid relid, Oid owner)
{
	Oid			current = audit_guard_registered_owner(relid);

	if (get_rel_persistence(relid) == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot make unlogged table %s a partition of protected table %s",
						audit_guard_table_name(relid), audit_guard_table_name(parent)),
				 errdetail("Crash recovery empties an unlogged table, so it cannot keep an audit trail."),
				 errhint("Create the partition as a permanent table.")));
	if (get_rel_relkind(relid) == RELKIND_FOREIGN_TABLE)
		audit_guard_refuse_foreign_partition(parent, audit_guard_table_name(relid));
	if (OidIsValid(current) && current != owner)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot attach protected table %s to protected table %s",
						audit_guard_table_name(relid), audit_guard_table_name(parent)),
				 errdetail("Its designated owner is \"%s\", the partitioned table's is \"%s\"; attaching it would hand it to another role.",
						   GetUserNameFromId(current, true), GetUserNameFromId(owner, true)),
				 errhint("Its designated owner may first call audit_guard.protect(table, owner => ...) to designate the partitioned table's owner.")));
	check_no_before_insert(relid, owner);
}

/*
 * Ensure relid carries no enabled BEFORE INSERT row trigger, unless the
 * current user is a member of owner, the designated owner it is to have.
 */
static void
check_no_before_insert(Oid relid, Oid owner)
{
	if (has_before_insert_trigger(relid) &&
		!is_member_of_role_nosuper(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot protect %s: it has a BEFORE INSERT row trigger",
						audit_guard_table_name(relid)),
				 errdetail("A BEFORE INSERT row trigger can change or swallow every row inserted into a protected table; only its designated owner \"%s\" may add one.",
						   GetUserNameFromId(owner, true)),
				 errhint("Drop or disable the trigger first, or run the statement as the designated owner.")));
}

/*
 * Called by the utility hook after CREATE TABLE ... PARTITION OF and ATTACH
 * PARTITION: when parent is protected, child and its own partitions join.
 */
void
audit_guard_protect_new_partitions(Oid parent, Oid child)
{
	Oid			owner = audit_guard_owner_of(parent);
	List	   *tables;
	ListCell   *lc;

	if (!OidIsValid(owner))
		return;
	tables = table_and_partitions(child);
	foreach(lc, tables)
		check_can_join(parent, lfirst_oid(lc), owner);
	guard_and_register(tables, owner, "partition");
}

/*
 * Called by the utility hook after its designated owner detached relid: it
 * lost the row trigger cloned from its parent, so give it one of its own.
 */
void
audit_guard_keep_detached(Oid relid)
{
	ListCell   *lc;
	int			nestlevel;

	if (!OidIsValid(audit_guard_owner_of(relid)))
		return;
	nestlevel = begin_spi();
	foreach(lc, table_and_partitions(relid))
		ensure_guard(lfirst_oid(lc));
	end_spi(nestlevel);
}

/* Called by the object-access hook when a designated owner drops relid. */
void
audit_guard_forget_dropped(Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	DroppedTable *dropped = palloc(sizeof(DroppedTable));

	dropped->relid = relid;
	dropped->name = audit_guard_table_name(relid);
	dropped_tables = lappend(dropped_tables, dropped);
	MemoryContextSwitchTo(old);
}

/*
 * Strike the tables dropped by the statement that just ended from the
 * registry.  A drop rolled back with its subtransaction left its table in
 * place; such a table keeps its row.
 */
void
audit_guard_flush_forgotten(void)
{
	List	   *dropped = dropped_tables;
	ListCell   *lc;
	int			nestlevel;

	dropped_tables = NIL;
	audit_guard_flush_overrides();
	if (dropped == NIL || !audit_guard_extension_ready())
		return;
	nestlevel = begin_spi();
	foreach(lc, dropped)
	{
		DroppedTable *table = (DroppedTable *) lfirst(lc);
		Oid			owner = audit_guard_registered_owner(table->relid);

		if (OidIsValid(owner) &&
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(table->relid)))
			unregister_table(table->relid, table->name, owner, "drop");
	}
	end_spi(nestlevel);
}

/* Forget pending drops when the transaction ends either way. */
static void
protect_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE)
		dropped_tables = NIL;
}

/* Register the transaction callback; called once from _PG_init. */
void
audit_guard_protect_init(void)
{
	RegisterXactCallback(protect_xact_callback, NULL);
}
