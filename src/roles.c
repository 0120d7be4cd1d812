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
 * It also walks the role graph for the per-table checks (role_paths_to()):
 * from the roles that hold something on a table down to every role that
 * reaches them, keeping only the shortest chain per role and kind of
 * reach, so that one table's check costs what the roles reaching its
 * holders cost, not what every path through the cluster's roles does.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/tuplestore.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
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

PG_FUNCTION_INFO_V1(audit_guard_role_paths_to);

/* One role reached while walking down from a target, and how. */
typedef struct RoleReach
{
	Oid			role;
	bool		inherits;		/* gets the target's privileges by itself */
	bool		can_set;		/* can SET ROLE to the target */
	int			depth;			/* grants between it and the target */
	char	   *path;			/* "role -> ... -> target" */
} RoleReach;

/* What a walk has seen: a role with one combination of the two flags. */
typedef struct ReachKey
{
	Oid			role;
	Oid			flags;			/* inherits | can_set << 1 */
} ReachKey;

/* A role's name, quoted for a path; its OID when it has none. */
static char *
quoted_role(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return (char *) quote_identifier(name ? name : psprintf("%u", roleid));
}

/*
 * True when roleid has rolinherit (the default when it cannot be read).
 * Only PostgreSQL 15 asks: from 16 each grant says so itself (compat.h).
 */
pg_attribute_unused()
static bool
role_inherits(Oid roleid)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	bool		inherit = true;

	if (HeapTupleIsValid(tuple))
	{
		inherit = ((Form_pg_authid) GETSTRUCT(tuple))->rolinherit;
		ReleaseSysCache(tuple);
	}
	return inherit;
}

/*
 * Emit one row per role that reaches target, per combination of the
 * inherit and set flags, with its shortest chain.  Breadth first, so the
 * first chain that reaches a (role, flags) is a shortest one; a longer
 * chain with the same flags says nothing more.  Role grants cannot form a
 * cycle, and the seen set would stop one anyway.
 */
static void
walk_from(Oid target, ReturnSetInfo *rsinfo)
{
	HASHCTL		ctl = {0};
	HTAB	   *seen;
	List	   *queue = NIL;
	RoleReach  *start = palloc(sizeof(RoleReach));
	int			i;

	ctl.keysize = sizeof(ReachKey);
	ctl.entrysize = sizeof(ReachKey);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("audit_guard role walk", 256, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	start->role = target;
	start->inherits = true;
	start->can_set = true;
	start->depth = 0;
	start->path = quoted_role(target);
	queue = lappend(queue, start);

	for (i = 0; i < list_length(queue); i++)
	{
		RoleReach  *cur = list_nth(queue, i);
		Datum		values[6];
		bool		nulls[6] = {0};
		CatCList   *members;
		int			j;

		values[0] = ObjectIdGetDatum(cur->role);
		values[1] = ObjectIdGetDatum(target);
		values[2] = CStringGetTextDatum(cur->path);
		values[3] = Int32GetDatum(cur->depth);
		values[4] = BoolGetDatum(cur->inherits);
		values[5] = BoolGetDatum(cur->can_set);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

		members = SearchSysCacheList1(AUTHMEMROLEMEM, ObjectIdGetDatum(cur->role));
		for (j = 0; j < members->n_members; j++)
		{
			Form_pg_auth_members grant =
				(Form_pg_auth_members) GETSTRUCT(&members->members[j]->tuple);
			ReachKey	key;
			bool		found;
			RoleReach  *next;

			key.role = grant->member;
			next = palloc(sizeof(RoleReach));
			next->role = grant->member;
			next->inherits = cur->inherits &&
				ag_grant_inherits(grant, role_inherits(grant->member));
			next->can_set = cur->can_set && ag_grant_can_set(grant);
			key.flags = (next->inherits ? 1 : 0) | (next->can_set ? 2 : 0);
			(void) hash_search(seen, &key, HASH_ENTER, &found);
			if (found || grant->member == target)
			{
				pfree(next);
				continue;
			}
			next->depth = cur->depth + 1;
			next->path = psprintf("%s -> %s", quoted_role(grant->member), cur->path);
			queue = lappend(queue, next);
		}
		ReleaseSysCacheList(members);
	}
	hash_destroy(seen);
}

/*
 * SQL: audit_guard.role_paths_to(targets oid[]): for each target role,
 * every role that reaches it (itself included, through an empty chain),
 * with its shortest chain for each way of reaching it; see walk_from().
 */
Datum
audit_guard_role_paths_to(PG_FUNCTION_ARGS)
{
	ArrayType  *targets = PG_GETARG_ARRAYTYPE_P(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	List	   *done = NIL;

	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(targets, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		Oid			target = DatumGetObjectId(elems[i]);

		if (nulls[i] || list_member_oid(done, target) ||
			!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(target)))
			continue;
		done = lappend_oid(done, target);
		walk_from(target, rsinfo);
	}
	PG_RETURN_NULL();
}
