/*-------------------------------------------------------------------------
 *
 * refuse.c
 *		Every refusal audit_guard raises, worded in one place.
 *
 * All layers refuse through these functions so that a user gets the same
 * SQLSTATE, message, detail and hint for the same refusal whichever layer
 * caught it first.  SQLSTATEs (documented in README.md):
 *
 *	23000	an UPDATE, DELETE, MERGE or TRUNCATE of a protected table;
 *			refused for every role, the designated owner included
 *	42501	DDL or a setting that would switch the guard off, run by a role
 *			that is not the designated owner; direct writes to the
 *			extension's tables or to guard rows of pg_trigger
 *	23000	also, under a retention (retention.c): removing rows younger
 *			than it, or the table or partition holding them, lowering it,
 *			changing its time column; refused for every role
 *
 * Every refusal first writes one LOG line in a fixed form (log_refusal),
 * so that a log collector can alert on attempts.  Where a designated owner
 * passes a check that refuses everyone else, the pass is noted for
 * audit_guard.history (overrides.c).
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "commands/dbcommands.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

/* The table's schema-qualified name, or its OID when it has none left. */
char *
audit_guard_table_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		return psprintf("%u", relid);
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  relname);
}

/* The name of a role, or its OID when it has been dropped. */
static char *
role_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name ? name : psprintf("%u", roleid);
}

/* Append value to out in double quotes, escaping what would end the line. */
static void
append_log_value(StringInfo out, const char *value)
{
	const char *p;

	appendStringInfoChar(out, '"');
	for (p = value; *p; p++)
	{
		switch (*p)
		{
			case '"':
			case '\\':
				appendStringInfoChar(out, '\\');
				appendStringInfoChar(out, *p);
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				appendStringInfoChar(out, *p);
		}
	}
	appendStringInfoChar(out, '"');
}

/*
 * One LOG line, server log only, before a refusal's ERROR:
 *
 *	audit_guard refused: role="r" database="d" table="t" operation="o" sqlstate="42501"
 *
 * Values in double quotes, with backslash escapes for a double quote, a
 * backslash, newline, carriage return and tab; table is "" when the
 * refusal concerns no one table.  README.md documents the form.
 */
static void
log_refusal(Oid relid, const char *operation, int sqlerrcode)
{
	StringInfoData line;
	char	   *database = get_database_name(MyDatabaseId);

	initStringInfo(&line);
	appendStringInfoString(&line, "audit_guard refused: role=");
	append_log_value(&line, role_name(GetUserId()));
	appendStringInfoString(&line, " database=");
	append_log_value(&line, database ? database : "");
	appendStringInfoString(&line, " table=");
	append_log_value(&line, OidIsValid(relid) ? audit_guard_table_name(relid) : "");
	appendStringInfoString(&line, " operation=");
	append_log_value(&line, operation);
	appendStringInfoString(&line, " sqlstate=");
	append_log_value(&line, unpack_sql_state(sqlerrcode));
	ereport(LOG_SERVER_ONLY,
			(errmsg_internal("%s", line.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	pfree(line.data);
}

/* The LOG line of a refusal raised elsewhere (retention.c), before its ERROR. */
void
audit_guard_log_refusal(Oid relid, const char *operation, int sqlerrcode)
{
	log_refusal(relid, operation, sqlerrcode);
}

/* The statement word of a refused row change: "update rows of" -> UPDATE. */
static char *
statement_word(const char *operation)
{
	char	   *word = pstrdup(operation);
	char	   *p;

	for (p = word; *p && *p != ' '; p++)
		*p = pg_toupper((unsigned char) *p);
	*p = '\0';
	return word;
}

/*
 * The designated-owner test: true when the current user is a member of
 * relid's designated owner (superuser status does not count), when the
 * table is not protected, or while unprotect() acts for that owner.  A
 * designated owner's pass is noted for history when note is set.
 */
static bool
passes_owner_check(Oid relid, const char *operation, bool note)
{
	Oid			owner = audit_guard_owner_of(relid);

	/* unprotect() acting for this owner may drop what it has to */
	if (!OidIsValid(owner) || owner == audit_guard_internal_owner)
		return true;
	if (!is_member_of_role_nosuper(GetUserId(), owner))
		return false;
	if (note)
		audit_guard_note_override(relid, owner, operation);
	return true;
}

/* Refuse operation on relid: the current user is not its designated owner. */
pg_noreturn static void
refuse_not_owner(Oid relid, const char *operation)
{
	char	   *owner_name = role_name(audit_guard_owner_of(relid));

	log_refusal(relid, operation, ERRCODE_INSUFFICIENT_PRIVILEGE);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s on protected table %s",
					operation, audit_guard_table_name(relid)),
			 errdetail("Table %s is protected by audit_guard; only members of its designated owner role \"%s\" may do this.",
					   audit_guard_table_name(relid), owner_name),
			 errhint("Run the statement as role \"%s\" (SET ROLE \"%s\"); superuser status does not count as being the designated owner.",
					 owner_name, owner_name)));
	pg_unreachable();
}

/*
 * Refuse operation on a protected table unless the current user is a member
 * of its designated owner (superuser status does not count).  A designated
 * owner who passes is recorded in audit_guard.history.
 */
void
audit_guard_require_owner(Oid relid, const char *operation)
{
	if (!passes_owner_check(relid, operation, true))
		refuse_not_owner(relid, operation);
}

/*
 * The same test for protect() and unprotect(), which record their own
 * event in history.
 */
void
audit_guard_require_owner_quietly(Oid relid, const char *operation)
{
	if (!passes_owner_check(relid, operation, false))
		refuse_not_owner(relid, operation);
}

/* Refuse a change of rows (UPDATE, DELETE, MERGE, TRUNCATE): always. */
void
audit_guard_refuse_change(Oid relid, const char *operation)
{
	Oid			owner = audit_guard_owner_of(relid);

	log_refusal(relid, statement_word(operation), AG_ERRCODE_APPEND_ONLY);
	ereport(ERROR,
			(errcode(AG_ERRCODE_APPEND_ONLY),
			 errmsg("cannot %s protected table %s", operation, audit_guard_table_name(relid)),
			 errdetail("Table %s is append-only: it is protected by audit_guard, so rows can be inserted and read but never changed or removed, by any role.",
					   audit_guard_table_name(relid)),
			 OidIsValid(owner) ?
			 errhint("Record a correction as a new row. To retire the table, its designated owner \"%s\" calls audit_guard.unprotect().",
					 role_name(owner)) :
			 errhint("Record a correction as a new row.")));
}

/*
 * Refuse session_replication_role = replica while protected tables exist,
 * unless the current user is the designated owner of every one of them.
 */
void
audit_guard_refuse_replica_role(const char *how)
{
	Oid			relid = audit_guard_first_foreign_owner(GetUserId());
	char	   *owner_name;
	char	   *operation = psprintf("SET session_replication_role = replica with %s",
									 how);
	int			count;

	if (!OidIsValid(relid))
	{
		if (audit_guard_any_protected())
			audit_guard_note_override(InvalidOid, InvalidOid, operation);
		return;
	}

	owner_name = role_name(audit_guard_owner_of(relid));
	count = audit_guard_protected_count();	/* reads the registry whole */
	log_refusal(relid, operation, ERRCODE_INSUFFICIENT_PRIVILEGE);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to set session_replication_role to replica with %s",
					how),
			 errdetail_plural("This database has %d table protected by audit_guard, and replica mode silences ordinary triggers; %s has designated owner \"%s\".",
							  "This database has %d tables protected by audit_guard, and replica mode silences ordinary triggers; %s has designated owner \"%s\".",
							  count, count, audit_guard_table_name(relid), owner_name),
			 errhint("Only a member of the designated owner role of every protected table may do this; superuser status does not count.")));
}

/* Refuse a direct write to the registry or the history table. */
void
audit_guard_refuse_own_table(Oid relid, const char *operation)
{
	bool		seal_data = relid != audit_guard_registry_relid() &&
		relid != audit_guard_history_relid();

	log_refusal(relid, statement_word(operation), ERRCODE_INSUFFICIENT_PRIVILEGE);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s audit_guard table %s directly",
					operation, audit_guard_table_name(relid)),
			 seal_data ?
			 errdetail("The seal data is written only by audit_guard.seal(), and never changed, for every role.") :
			 errdetail("The registry and its history are written only by audit_guard's functions, for every role."),
			 seal_data ?
			 errhint("Use audit_guard.seal() to add blocks and audit_guard.verify() to check them.") :
			 errhint("Use audit_guard.protect() and audit_guard.unprotect().")));
}

/* Refuse DROP ROLE of a role that is the designated owner of a table. */
void
audit_guard_refuse_owner_drop(Oid roleid)
{
	Oid			relid = audit_guard_first_table_of_owner(roleid);

	if (!OidIsValid(relid))
		return;
	log_refusal(relid, "DROP ROLE", ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST);
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg("role \"%s\" cannot be dropped because it is the designated owner of protected table %s",
					role_name(roleid), audit_guard_table_name(relid)),
			 errdetail("Without its designated owner, nobody could ever unprotect the table."),
			 errhint("Designate another owner first with audit_guard.protect(table, owner => ...), run as the designated owner.")));
}

/*
 * Refuse dropping or altering extension audit_guard or one of its objects
 * while tables are protected, unless the user is the designated owner of
 * every one of them: without its registry, function or registry trigger
 * the hooks would stop guarding.
 */
void
audit_guard_refuse_extension_change(const char *operation)
{
	Oid			relid = audit_guard_first_foreign_owner(GetUserId());
	char	   *what = psprintf("%s extension audit_guard", operation);
	int			count;

	if (!OidIsValid(relid))
	{
		if (audit_guard_any_protected())
			audit_guard_note_override(InvalidOid, InvalidOid, what);
		return;
	}
	count = audit_guard_protected_count();	/* reads the registry whole */
	log_refusal(relid, what, ERRCODE_INSUFFICIENT_PRIVILEGE);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg_plural("permission denied to %s extension audit_guard while %d table is protected",
						   "permission denied to %s extension audit_guard while %d tables are protected",
						   count, operation, count),
			 errdetail("It would remove or weaken the guard of table %s, whose designated owner is \"%s\".",
					   audit_guard_table_name(relid), role_name(audit_guard_owner_of(relid))),
			 errhint("Have each designated owner call audit_guard.unprotect() first.")));
}

/* Refuse a direct catalog edit that weakened the guard of relid. */
void
audit_guard_refuse_catalog_edit(Oid relid)
{
	log_refusal(relid, "catalog edit", ERRCODE_INSUFFICIENT_PRIVILEGE);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot weaken the guard of protected table %s by editing system catalogs",
					audit_guard_table_name(relid)),
			 errdetail("The statement would leave table %s without its ENABLE ALWAYS guard triggers; direct edits of pg_trigger and pg_class that do so are refused for every role.",
					   audit_guard_table_name(relid)),
			 errhint("Use ALTER TABLE as the table's designated owner, or audit_guard.unprotect().")));
}

/*
 * Refuse LOAD while tables are protected, unless the user is the designated
 * owner of every one: a library loaded into a running session runs its own
 * _PG_init and may replace audit_guard's hooks instead of chaining them.
 */
void
audit_guard_refuse_load(const char *filename)
{
	Oid			relid = audit_guard_first_foreign_owner(GetUserId());

	if (!OidIsValid(relid))
	{
		if (audit_guard_any_protected())
			audit_guard_note_override(InvalidOid, InvalidOid, "LOAD");
		return;
	}
	log_refusal(relid, "LOAD", ERRCODE_INSUFFICIENT_PRIVILEGE);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to LOAD \"%s\" while tables are protected by audit_guard",
					filename),
			 errdetail("A library loaded into a running session can replace audit_guard's hooks; table %s has designated owner \"%s\".",
					   audit_guard_table_name(relid), role_name(audit_guard_owner_of(relid))),
			 errhint("List the library in shared_preload_libraries instead, or run LOAD as a member of the designated owner role of every protected table.")));
}

/*
 * Refuse a foreign table as a partition of a protected table: rows routed
 * to it would live on another server, outside audit_guard's reach.  The
 * child is named by the caller: CREATE FOREIGN TABLE has no OID for it yet.
 */
void
audit_guard_refuse_foreign_partition(Oid parent, const char *child)
{
	log_refusal(parent, "foreign table as partition", ERRCODE_FEATURE_NOT_SUPPORTED);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot make foreign table %s a partition of protected table %s",
					child, audit_guard_table_name(parent)),
			 errdetail("Rows routed to a foreign table live on another server, where audit_guard cannot keep them append-only."),
			 errhint("Use a local table as the partition.")));
}

/*
 * Refuse a change nobody may make to a protected table, the designated
 * owner included: a guard trigger that is no longer the whole guard, a
 * catalog state that hides triggers.
 */
void
audit_guard_refuse_definition(Oid relid, const char *operation)
{
	bool		guard = strstr(operation, "guard trigger") != NULL;
	bool		retention = strstr(operation, "retention") != NULL;

	log_refusal(relid, operation,
				retention ? AG_ERRCODE_APPEND_ONLY : ERRCODE_INSUFFICIENT_PRIVILEGE);
	if (retention)
		ereport(ERROR,
				(errcode(AG_ERRCODE_APPEND_ONLY),
				 errmsg("cannot allow %s on protected table %s",
						operation, audit_guard_table_name(relid)),
				 errdetail("Table %s keeps its rows for a retention (audit_guard.set_retention()), by a time column whose values decide which rows may go; no role may change that column or rewrite the rows, only VACUUM FULL and CLUSTER move them as they are.",
						   audit_guard_table_name(relid)),
				 errhint("Add a column instead, with a constant default (that does not rewrite the table).")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot allow %s on protected table %s",
					operation, audit_guard_table_name(relid)),
			 guard ?
			 errdetail("A guard trigger of a protected table must stay the whole guard: BEFORE UPDATE OR DELETE FOR EACH ROW or BEFORE TRUNCATE, running audit_guard.reject_change(), with no WHEN clause and no column list.") :
			 errdetail("The change would let rows of table %s be altered or hidden; it is refused for every role.",
					   audit_guard_table_name(relid)),
			 errhint("To switch the guard off, the designated owner disables or drops the trigger, or calls audit_guard.unprotect(); audit_guard.protect() restores a guard.")));
}

/*
 * Refuse a direct write to a system catalog that changed how audit_guard's
 * own objects are found or run (the extension, its schema, its functions).
 */
void
audit_guard_refuse_extension_catalog_edit(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot change extension audit_guard by editing system catalogs"),
			 errdetail("The statement changed the catalog rows of audit_guard's extension, schema or functions; direct catalog edits that do so are refused for every role."),
			 errhint("Use ALTER EXTENSION audit_guard UPDATE to change the extension.")));
}

/*
 * Refuse pg_surgery's functions while tables are protected, unless the
 * user is the designated owner of every one: they change tuples below any
 * trigger or hook.
 */
void
audit_guard_refuse_surgery(Oid funcoid)
{
	Oid			relid = audit_guard_first_foreign_owner(GetUserId());

	if (!OidIsValid(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to run %s while tables are protected by audit_guard",
					format_procedure(funcoid)),
			 errdetail("It changes rows below every trigger and hook; table %s has designated owner \"%s\".",
					   audit_guard_table_name(relid), role_name(audit_guard_owner_of(relid))),
			 errhint("Run it as a member of the designated owner role of every protected table.")));
}

/*
 * Refuse a change of shared_preload_libraries that drops audit_guard,
 * unless the user is the designated owner of every protected table: at
 * the next restart the guard would be gone.
 */
void
audit_guard_refuse_preload_change(const char *how)
{
	Oid			relid = audit_guard_first_foreign_owner(GetUserId());

	if (!OidIsValid(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to remove audit_guard from shared_preload_libraries with %s",
					how),
			 errdetail("After the next restart no backend would run audit_guard's hooks; table %s has designated owner \"%s\".",
					   audit_guard_table_name(relid), role_name(audit_guard_owner_of(relid))),
			 errhint("Keep audit_guard in the list, or run the statement as a member of the designated owner role of every protected table.")));
}

/* Refuse TRUNCATE of a system catalog while tables are protected. */
void
audit_guard_refuse_catalog_truncate(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot truncate system catalog %s while tables are protected by audit_guard",
					audit_guard_table_name(relid)),
			 errdetail("Emptying a catalog would remove the guard triggers, rules or registry entries that protect the tables."),
			 errhint("There is no reason to truncate a system catalog; restore from a backup instead.")));
}

/* An interval as PostgreSQL prints it, for retention messages. */
char *
audit_guard_interval_text(Interval *keep)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(keep)));
}

/*
 * operation (a verb: drop, detach, unprotect) of relid, which holds rows
 * younger than its retention (23000, every role).  statement names it in
 * the LOG line.
 */
void
audit_guard_refuse_young(Oid relid, const char *operation, const char *statement,
						 Interval *keep, const char *column)
{
	log_refusal(relid, statement, AG_ERRCODE_APPEND_ONLY);
	ereport(ERROR,
			(errcode(AG_ERRCODE_APPEND_ONLY),
			 errmsg("cannot %s protected table %s: it holds rows younger than its retention",
					operation, audit_guard_table_name(relid)),
			 errdetail("Rows of %s are kept for %s by column \"%s\" (audit_guard.set_retention()); no role may remove them, or the table or partition holding them, before then.",
					   audit_guard_table_name(relid), audit_guard_interval_text(keep), column),
			 errhint("Wait until every row is older than the retention; audit_guard.purge() removes the rows that are.")));
}

/* DETACH PARTITION ... CONCURRENTLY of relid, under a retention (23000). */
void
audit_guard_refuse_detach_concurrently(Oid relid, Interval *keep, const char *column)
{
	log_refusal(relid, "DETACH PARTITION CONCURRENTLY", AG_ERRCODE_APPEND_ONLY);
	ereport(ERROR,
			(errcode(AG_ERRCODE_APPEND_ONLY),
			 errmsg("cannot detach protected table %s concurrently: a retention applies to it",
					audit_guard_table_name(relid)),
			 errdetail("DETACH PARTITION ... CONCURRENTLY completes in a second transaction, after the check that every row of %s is older than %s by column \"%s\", so a row inserted in between would leave the retention.",
					   audit_guard_table_name(relid), audit_guard_interval_text(keep), column),
			 errhint("Detach it without CONCURRENTLY.")));
}

/*
 * operation (drop column, rename column, ...) on column, the time column
 * of the retention set on set_on that covers relid (23000).
 */
void
audit_guard_refuse_time_column(Oid relid, const char *column, const char *operation,
							   Oid set_on)
{
	char	   *statement = pstrdup(operation);
	char	   *p;

	/* "drop column" -> DROP COLUMN in the LOG line */
	for (p = statement; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	log_refusal(relid, statement, AG_ERRCODE_APPEND_ONLY);
	ereport(ERROR,
			(errcode(AG_ERRCODE_APPEND_ONLY),
			 errmsg("cannot %s \"%s\" of protected table %s: it is the time column of the table's retention",
					operation, column, audit_guard_table_name(relid)),
			 errdetail("The retention set on %s keeps rows by column \"%s\"; it can be raised, never removed.",
					   audit_guard_table_name(set_on), column),
			 errhint("Add a column instead of changing this one.")));
}

/*
 * relid, kept by own_column, joined (ATTACH PARTITION) the partition tree
 * of parent, which the retention set on set_on keeps by column (23000).
 */
void
audit_guard_refuse_join_other_column(Oid relid, Oid parent, const char *own_column,
									 const char *column, Oid set_on)
{
	log_refusal(relid, "ATTACH PARTITION", AG_ERRCODE_APPEND_ONLY);
	ereport(ERROR,
			(errcode(AG_ERRCODE_APPEND_ONLY),
			 errmsg("cannot attach protected table %s to %s: its retention keeps rows by column \"%s\"",
					audit_guard_table_name(relid), audit_guard_table_name(parent), own_column),
			 errdetail("The retention set on %s keeps rows by column \"%s\"; a partition tree keeps its rows by one time column, so that no keep is read by another.",
					   audit_guard_table_name(set_on), column),
			 errhint("Attach a table whose retention, if it has one, keeps rows by column \"%s\".",
					 column)));
}

/* set_retention() of a keep lower than the one in force, set on set_on (23000). */
void
audit_guard_refuse_lower_retention(Oid relid, Interval *keep, Interval *current,
								   Oid set_on)
{
	log_refusal(relid, "audit_guard.set_retention()", AG_ERRCODE_APPEND_ONLY);
	ereport(ERROR,
			(errcode(AG_ERRCODE_APPEND_ONLY),
			 errmsg("cannot lower the retention of protected table %s from %s to %s",
					audit_guard_table_name(relid), audit_guard_interval_text(current),
					audit_guard_interval_text(keep)),
			 errdetail("The retention set on %s can be raised, never lowered or removed, by any role.",
					   audit_guard_table_name(set_on)),
			 errhint("Call audit_guard.set_retention() with a keep of %s or more.",
					 audit_guard_interval_text(current))));
}
