/*-------------------------------------------------------------------------
 *
 * audit_guard.h
 *		Declarations shared by audit_guard's enforcement layers.
 *
 * Each layer lives in a file of its own (triggers.c, utility.c,
 * object_access.c, executor.c); registry.c owns the backend-local cache of
 * protected tables they all consult, refuse.c the refusal messages, and
 * protect.c the SQL API that adds and removes protection.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_GUARD_H
#define AUDIT_GUARD_H

#include "compat.h"

#include "access/htup.h"
#include "datatype/timestamp.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_trigger.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

/* Names of the two guard triggers protect() creates on every table. */
#define AG_ROW_TRIGGER		"audit_guard_append_only"
#define AG_TRUNCATE_TRIGGER "audit_guard_no_truncate"

/*
 * SQLSTATE of an append-only violation (UPDATE, DELETE, MERGE, TRUNCATE of
 * a protected table): refused for every role, so not a privilege error.
 */
#define AG_ERRCODE_APPEND_ONLY	ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION

/* audit_guard.c */
extern bool audit_guard_hooks_installed;

/* registry.c: the backend-local cache of the registry */
extern void audit_guard_registry_init(void);
extern bool audit_guard_extension_ready(void);
extern bool audit_guard_any_protected(void);
extern Oid	audit_guard_owner_of(Oid relid);
extern Oid	audit_guard_registered_owner(Oid relid);
extern int	audit_guard_protected_count(void);
extern Oid	audit_guard_first_foreign_owner(Oid roleid);
extern Oid	audit_guard_first_table_of_owner(Oid roleid);
extern List *audit_guard_protected_tables(void);
extern bool audit_guard_is_own_table(Oid relid);
extern Oid	audit_guard_registry_relid(void);
extern Oid	audit_guard_history_relid(void);
extern Oid	audit_guard_guard_function(void);
extern Oid	audit_guard_schema(void);
extern bool audit_guard_is_guard_trigger(Form_pg_trigger trig);
extern bool audit_guard_has_trigger(Oid relid, bool (*match) (Form_pg_trigger trig));

/* registry.c: more of the cache */
extern List *audit_guard_own_tables(void);
extern List *audit_guard_own_functions(void);
extern Oid	audit_guard_extension_oid(void);
extern void audit_guard_scan_dependents(Oid refclassid, Oid refobjid,
										Snapshot snapshot,
										bool (*visit) (Form_pg_depend dep, void *arg),
										void *arg);

/* definition.c: a table's definition as of a snapshot, and what changed */
typedef struct TableDef TableDef;

/* How far a change to a protected table's definition may go, by whom. */
typedef enum ChangeKind
{
	CHANGE_NONE,				/* nothing that matters changed */
	CHANGE_ALLOWED,				/* a change anyone may make (ADD COLUMN) */
	CHANGE_OWNER_ONLY,			/* only the designated owner may */
	CHANGE_NOBODY				/* nobody may (a guard trigger not whole) */
} ChangeKind;

typedef struct DefinitionChange
{
	ChangeKind	kind;
	const char *operation;		/* names the change in a refusal */
} DefinitionChange;

typedef struct DefinitionRules
{
	Oid			designated_owner;
	Oid			guard_function;
	bool		own_table;		/* one of audit_guard's own tables */
	bool		storage_rewrite_ok; /* VACUUM FULL or CLUSTER is running */
	bool		storage_move_ok;	/* a tablespace move copies rows as they are */
	const char *time_column;	/* of its retention: nobody may change it */
} DefinitionRules;

extern TableDef *audit_guard_read_definition(Oid relid, Snapshot snapshot);
extern DefinitionChange audit_guard_compare_definitions(TableDef *before,
														TableDef *after,
														const DefinitionRules *rules);
extern List *audit_guard_parents_left(TableDef *before, TableDef *after);
extern List *audit_guard_parents_joined(TableDef *before, TableDef *after);
extern bool audit_guard_same_lines(List *a, List *b);
extern List *audit_guard_catalog_lines(Oid catalog, Oid index, AttrNumber keyatt,
									   Oid relid, Snapshot snapshot,
									   const AttrNumber *atts, int natts);

/* postcheck.c: the decision after every statement */
extern void audit_guard_postcheck_note(Oid relid);
extern void audit_guard_postcheck(bool full);
extern void audit_guard_postcheck_query(bool full);
extern void audit_guard_postcheck_function(Oid funcoid);
extern void audit_guard_postcheck_before_drop(Oid relid);
extern void audit_guard_postcheck_dropped(Oid relid);
extern void audit_guard_postcheck_allow_new_storage(Oid relid);
extern void audit_guard_postcheck_truncate(CommandId start);
extern void audit_guard_postcheck_catalog_write(void);
extern void audit_guard_postcheck_own_statement_done(void);
extern void audit_guard_postcheck_init(void);

/* refuse.c: every refusal message in one place */
extern void audit_guard_require_owner(Oid relid, const char *operation);
extern void audit_guard_require_owner_quietly(Oid relid, const char *operation);
pg_noreturn extern void audit_guard_refuse_change(Oid relid, const char *operation);
extern void audit_guard_log_refusal(Oid relid, const char *operation, int sqlerrcode);
extern void audit_guard_refuse_replica_role(const char *how);
pg_noreturn extern void audit_guard_refuse_own_table(Oid relid, const char *operation);
extern void audit_guard_refuse_owner_drop(Oid roleid);
extern void audit_guard_refuse_extension_change(const char *operation);
extern void audit_guard_refuse_catalog_edit(Oid relid);
extern void audit_guard_refuse_extension_catalog_edit(void);
pg_noreturn extern void audit_guard_refuse_definition(Oid relid, const char *operation);
extern void audit_guard_refuse_surgery(Oid funcoid);
extern void audit_guard_refuse_preload_change(const char *how);
extern void audit_guard_refuse_catalog_truncate(Oid relid);
extern char *audit_guard_interval_text(Interval *keep);
pg_noreturn extern void audit_guard_refuse_young(Oid relid, const char *operation,
												 const char *statement, Interval *keep,
												 const char *column);
pg_noreturn extern void audit_guard_refuse_detach_concurrently(Oid relid, Interval *keep,
															   const char *column);
pg_noreturn extern void audit_guard_refuse_time_column(Oid relid, const char *column,
													   const char *operation, Oid set_on);
pg_noreturn extern void audit_guard_refuse_join_other_column(Oid relid, Oid parent,
															   const char *own_column,
															   const char *column, Oid set_on);
pg_noreturn extern void audit_guard_refuse_lower_retention(Oid relid, Interval *keep,
														   Interval *current, Oid set_on);
extern void audit_guard_refuse_load(const char *filename);
extern void audit_guard_refuse_foreign_partition(Oid parent, const char *child);
extern char *audit_guard_table_name(Oid relid);

/* protect.c: the API and the partition bookkeeping the hooks call */
extern Oid	audit_guard_internal_owner;
extern const char *audit_guard_own_sql;
extern bool audit_guard_is_own_statement(const char *sql);
extern void audit_guard_protect_new_partitions(Oid parent, Oid child);
extern void audit_guard_keep_detached(Oid relid);
extern void audit_guard_forget_dropped(Oid relid);
extern void audit_guard_flush_forgotten(void);
extern void audit_guard_protect_init(void);
extern int	audit_guard_begin_spi(void);
extern void audit_guard_end_spi(int nestlevel);
extern void audit_guard_write_own_table(const char *sql, int nargs, Oid *types,
										Datum *values, int expected);
extern void audit_guard_write_own_table_nulls(const char *sql, int nargs,
											  Oid *types, Datum *values,
											  const char *nulls, int expected);
extern void audit_guard_record_event(const char *action, Oid relid,
									 const char *table, Oid owner,
									 const char *operation);
extern void audit_guard_record_erasure(const char *action, Oid relid, Oid owner,
									   Interval *keep, TimestampTz *bound,
									   int64 rows, const char *row_key,
									   const char *reason);
extern uint64 audit_guard_delete_erased(Oid relid, const char *sql, int nargs,
										Oid *types, Datum *values, Snapshot snapshot);

/* retention.c: retention that nobody can shorten (issue 11) */
extern Oid	audit_guard_retention_table(void);
extern bool audit_guard_retention_of(Oid relid, Interval **keep,
									 char **column, Oid *set_on);
extern void audit_guard_lock_retentions(Oid relid);
extern int64 audit_guard_retention_bound(Interval *keep);
extern bool audit_guard_time_is_young(Datum value, Oid typid, int64 bound);
extern void audit_guard_check_retention_drop(Oid relid);
extern void audit_guard_check_retention_detach_concurrently(Oid relid);
extern void audit_guard_check_retention_left(Oid relid, List *former_parents);
extern void audit_guard_check_retention_joined(Oid relid, List *new_parents);
extern void audit_guard_check_retention_column(Oid relid, const char *column,
											   const char *operation);
extern void audit_guard_check_retention_unprotect(List *tables);

/* erase.c: the rows purge() and redact() are deleting, if any */
extern Oid	audit_guard_erasing;

/* overrides.c: what designated owners did that the guard refuses others */
extern void audit_guard_note_override(Oid relid, Oid owner, const char *operation);
extern void audit_guard_flush_overrides(void);

/* utility.c */
extern int	audit_guard_updating_extension;
extern bool audit_guard_running_trigger_state_change(void);
extern bool audit_guard_running_retypes_columns(void);
extern bool audit_guard_storage_rewrite_running(void);
extern Oid	audit_guard_protected_user_of_type(Oid typid, int depth);

/* object_access.c */
extern bool audit_guard_in_own_script(void);

/* roles.c: designated owners are roles that exist (issue 10) */
extern void audit_guard_lock_owner_role(Oid roleid);
extern List *audit_guard_roles_to_drop(Node *parsetree);
extern void audit_guard_check_dropped_roles(List *roles);

/* the hooks, one installer per layer */
extern void audit_guard_install_utility_hook(void);
extern void audit_guard_install_object_access_hook(void);
extern void audit_guard_install_executor_hooks(void);
extern void audit_guard_executor_xact_end(void);

#endif							/* AUDIT_GUARD_H */
