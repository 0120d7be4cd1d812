/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL major-version difference audit_guard depends on.
 *
 * audit_guard supports PostgreSQL 14 to 18 from one code base.  Nothing
 * outside this header tests PG_VERSION_NUM: the rest of the tree is written
 * against the names defined here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_GUARD_COMPAT_H
#define AUDIT_GUARD_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 140000 || PG_VERSION_NUM >= 190000
#error "audit_guard supports PostgreSQL 14 to 18"
#endif

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"

/*
 * ProcessUtility_hook: 14 added readOnlyTree; the list has not changed
 * since.  Kept as macros so that a future change touches only this file.
 */
#define AG_PROCESS_UTILITY_PARAMS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define AG_PROCESS_UTILITY_ARGS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc

/* 16 replaced the per-class ownership checks with object_ownercheck(). */
#if PG_VERSION_NUM >= 160000
#define ag_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define ag_class_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/* 15 renamed EmitWarningsOnPlaceholders to MarkGUCPrefixReserved. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* 18 wants the module's name and version in its magic block. */
#if PG_VERSION_NUM >= 180000
#define AG_MODULE_MAGIC PG_MODULE_MAGIC_EXT(.name = "audit_guard", .version = "1.1")
#else
#define AG_MODULE_MAGIC PG_MODULE_MAGIC
#endif

/* 18 replaced the pg_attribute_noreturn() suffix with a pg_noreturn prefix. */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* 18 asks whether a deferrable primary key will do; ours is not deferrable. */
#if PG_VERSION_NUM >= 180000
#define ag_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define ag_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/* 19 gives table_beginscan() a flags argument. */
#if PG_VERSION_NUM >= 190000
#define ag_table_beginscan(rel, snapshot) table_beginscan((rel), (snapshot), 0, NULL, 0)
#else
#define ag_table_beginscan(rel, snapshot) table_beginscan((rel), (snapshot), 0, NULL)
#endif

/* 17 added ALTER COLUMN ... SET EXPRESSION, which rewrites the table. */
#if PG_VERSION_NUM >= 170000
#define AG_HAS_SET_EXPRESSION 1
#else
#define AG_HAS_SET_EXPRESSION 0
#endif

/* 15 added MERGE. */
#if PG_VERSION_NUM >= 150000
#define AG_HAS_MERGE 1
#else
#define AG_HAS_MERGE 0
#endif

#endif							/* AUDIT_GUARD_COMPAT_H */
