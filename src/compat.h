/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL major-version difference audit_guard depends on.
 *
 * audit_guard supports PostgreSQL 15 to 19 from one code base.  Nothing
 * outside this header tests PG_VERSION_NUM: the rest of the tree is written
 * against the names defined here.  Each source file includes the headers
 * whose names it uses (19's executor/tuptable.h, for one, no longer brings
 * in access/htup_details.h for GETSTRUCT and heap_getattr).
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_GUARD_COMPAT_H
#define AUDIT_GUARD_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 200000
#error "audit_guard supports PostgreSQL 15 to 19"
#endif

#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/acl.h"
#include "utils/guc.h"

/*
 * ProcessUtility_hook: the same parameter list from 15 to 19.  Kept as
 * macros so that a future change touches only this file.
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

/* 18 and 19 want the module's name and version in its magic block. */
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

/* CLUSTER, which 19 folded into REPACK (with VACUUM FULL's work). */
#if PG_VERSION_NUM >= 190000
#define AG_IS_CLUSTER(node) IsA((node), RepackStmt)
#else
#define AG_IS_CLUSTER(node) IsA((node), ClusterStmt)
#endif

/*
 * The RT indexes of the relations a plan writes: 19 keeps them in a
 * Bitmapset, before that an integer List.
 */
static inline List *
ag_result_relations(PlannedStmt *stmt)
{
#if PG_VERSION_NUM >= 190000
	List	   *result = NIL;
	int			rti = -1;

	while ((rti = bms_next_member(stmt->resultRelationRelids, rti)) >= 0)
		result = lappend_int(result, rti);
	return result;
#else
	return stmt->resultRelations;
#endif
}

/*
 * ExecutorCheckPerms_hook: 16 moved the permission bits from the range
 * table entries to a list of RTEPermissionInfo; both have relid and
 * requiredPerms.
 */
#if PG_VERSION_NUM >= 160000
typedef RTEPermissionInfo AgPermItem;
#define AG_CHECK_PERMS_PARAMS \
	List *rangeTable, List *rtePermInfos, bool ereport_on_violation
#define AG_CHECK_PERMS_ARGS rangeTable, rtePermInfos, ereport_on_violation
#define AG_CHECK_PERMS_ITEMS rtePermInfos
#else
typedef RangeTblEntry AgPermItem;
#define AG_CHECK_PERMS_PARAMS List *rangeTable, bool ereport_on_violation
#define AG_CHECK_PERMS_ARGS rangeTable, ereport_on_violation
#define AG_CHECK_PERMS_ITEMS rangeTable
#endif

/*
 * A membership grant's INHERIT and SET options: per grant from 16, before
 * that INHERIT is the member role's rolinherit and SET ROLE is always
 * allowed.
 */
#if PG_VERSION_NUM >= 160000
#define ag_grant_inherits(form, member_rolinherit) ((form)->inherit_option)
#define ag_grant_can_set(form) ((form)->set_option)
#else
#define ag_grant_inherits(form, member_rolinherit) (member_rolinherit)
#define ag_grant_can_set(form) true
#endif

#endif							/* AUDIT_GUARD_COMPAT_H */
