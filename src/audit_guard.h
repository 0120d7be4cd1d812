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
#include "catalog/pg_trigger.h"
#include "nodes/pg_list.h"

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
extern int	audit_guard_protected_count(void);
extern Oid	audit_guard_first_foreign_owner(Oid roleid);
extern Oid	audit_guard_first_table_of_owner(Oid roleid);
extern List *audit_guard_protected_tables(void);
extern bool audit_guard_is_own_table(Oid relid);
extern Oid	audit_guard_registry_relid(void);
extern Oid	audit_guard_history_relid(void);
extern Oid	audit_guard_guard_function(void);
extern Oid	audit_guard_schema(void);
extern bool audit_guard_is_designated_owner(Oid relid);
extern bool audit_guard_is_guard_trigger(Form_pg_trigger trig);

/* refuse.c: every refusal message in one place */
extern void audit_guard_require_owner(Oid relid, const char *operation);
extern void audit_guard_require_owner_quietly(Oid relid, const char *operation);
pg_noreturn extern void audit_guard_refuse_change(Oid relid, const char *operation);
extern void audit_guard_refuse_replica_role(const char *how);
pg_noreturn extern void audit_guard_refuse_own_table(Oid relid, const char *operation);
extern void audit_guard_refuse_owner_drop(Oid roleid);
extern void audit_guard_refuse_extension_change(const char *operation);
extern void audit_guard_refuse_catalog_edit(Oid relid);
extern void audit_guard_refuse_load(const char *filename);
extern void audit_guard_refuse_foreign_partition(Oid parent, const char *child);
extern char *audit_guard_table_name(Oid relid);

/* protect.c: the API and the partition bookkeeping the hooks call */
extern Oid	audit_guard_internal_owner;
extern bool audit_guard_writing_registry;
extern void audit_guard_protect_new_partitions(Oid parent, Oid child);
extern void audit_guard_keep_detached(Oid relid);
extern void audit_guard_forget_dropped(Oid relid);
extern void audit_guard_flush_forgotten(void);
extern void audit_guard_protect_init(void);
extern int	audit_guard_begin_spi(void);
extern void audit_guard_end_spi(int nestlevel);
extern void audit_guard_write_own_table(const char *sql, int nargs, Oid *types,
										Datum *values, int expected);
extern void audit_guard_record_event(const char *action, Oid relid,
									 const char *table, Oid owner,
									 const char *operation);

/* overrides.c: what designated owners did that the guard refuses others */
extern void audit_guard_note_override(Oid relid, Oid owner, const char *operation);
extern void audit_guard_flush_overrides(void);

/* the hooks, one installer per layer */
extern void audit_guard_install_utility_hook(void);
extern void audit_guard_install_object_access_hook(void);
extern void audit_guard_install_executor_hooks(void);

#endif							/* AUDIT_GUARD_H */
