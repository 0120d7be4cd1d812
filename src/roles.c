/*-------------------------------------------------------------------------
 *
 * roles.c
 *		Keep every designated owner a role that exists.
 *
 * A table whose designated owner does not exist can never be unprotected
 * or dropped, nor the extension dropped, by anyone.  Two paths led there:
 * protect() accepted the OID of a role that had been dropped (regrole input
 * does not check a number), and a DROP ROLE that raced an open protect()
 * passed the utility hook's pre-check, which reads only committed registry
 * rows and runs before PostgreSQL locks the role.
 *
 * Both are closed with the role's own lock, the one DropRole() takes:
 * protect() locks the role it is about to name (AccessShareLock on the
 * pg_authid object) and then checks that it still exists, so a DROP ROLE
 * in progress finishes first and protect() refuses; and after a DROP ROLE
 * has run, holding its AccessExclusiveLock, the registry is read again with
 * a fresh snapshot, so that a protect() that committed while DROP ROLE
 * waited for the lock is seen and the drop is refused.  The registry is per
 * database: as with the pre-check, only the current database's is read.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/pg_authid.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/*
 * Lock roleid against DROP ROLE until the end of the transaction and
 * ensure it exists; protect() calls this before naming it.
 */
void
audit_guard_lock_owner_role(Oid roleid)
{
	LockSharedObject(AuthIdRelationId, roleid, 0, AccessShareLock);
	/* LockSharedObject processed invalidations: the syscache is current */
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(roleid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", roleid),
				 errdetail("A designated owner must be an existing role: a table whose designated owner does not exist could never be unprotected or dropped."),
				 errhint("Name an existing role, for example owner => 'audit_owner'.")));
}

/* A role a DROP ROLE names, as it was before the statement ran. */
typedef struct DroppedRole
{
	Oid			roleid;
	char	   *name;
} DroppedRole;

/*
 * The roles a DROP ROLE names that exist now (a list of DroppedRole), taken
 * before the statement runs, since afterwards their names lead nowhere;
 * NIL for every other statement, so the utility hook can call this
 * unconditionally.
 */
List *
audit_guard_roles_to_drop(Node *parsetree)
{
	List	   *roles = NIL;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropRoleStmt))
		return NIL;
	foreach(lc, ((DropRoleStmt *) parsetree)->roles)
	{
		RoleSpec   *spec = lfirst_node(RoleSpec, lc);
		Oid			roleid;

		if (spec->roletype != ROLESPEC_CSTRING)
			continue;			/* DropRole() refuses the others itself */
		roleid = get_role_oid(spec->rolename, true);
		if (OidIsValid(roleid))
		{
			DroppedRole *role = palloc(sizeof(DroppedRole));

			role->roleid = roleid;
			role->name = pstrdup(spec->rolename);
			roles = lappend(roles, role);
		}
	}
	return roles;
}

/*
 * A relation the registry, read with a fresh snapshot, names with roleid
 * as designated owner; InvalidOid if none.  A sequential scan: DROP
 * ROLE is rare and the registry small next to what DROP ROLE itself reads.
 */
static Oid
table_owned_by(Oid roleid)
{
	Relation	rel = table_open(audit_guard_registry_relid(), AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot,
										  0, NULL);
	HeapTuple	tuple;
	Oid			found = InvalidOid;

	while (!OidIsValid(found) && (tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		relid = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);
		Datum		owner = heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull);

		if (!isnull && DatumGetObjectId(owner) == roleid)
			found = DatumGetObjectId(relid);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Called by the utility hook after a DROP ROLE ran, with what
 * audit_guard_roles_to_drop() returned before it: DropRole() now holds
 * each role's lock, so no protect() naming it can still be open, and one
 * that committed while the drop waited is visible to a fresh snapshot.
 * Refusing here rolls the drop back.
 */
void
audit_guard_check_dropped_roles(List *roles)
{
	ListCell   *lc;

	if (roles == NIL || !audit_guard_extension_ready())
		return;
	foreach(lc, roles)
	{
		DroppedRole *role = lfirst(lc);
		Oid			relid;

		if (SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role->roleid)))
			continue;			/* not dropped after all */
		relid = table_owned_by(role->roleid);
		if (OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("role \"%s\" cannot be dropped because it is the designated owner of protected table %s",
							role->name, audit_guard_table_name(relid)),
					 errdetail("The table was protected naming this role while DROP ROLE waited for it; without its designated owner, nobody could ever unprotect the table."),
					 errhint("Designate another owner first with audit_guard.protect(table, owner => ...), run as the designated owner.")));
	}
}
