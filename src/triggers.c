/*-------------------------------------------------------------------------
 *
 * triggers.c
 *		Layer 1: the C trigger functions.
 *
 * reject_change() is the guard itself: protect() installs it as a BEFORE
 * UPDATE OR DELETE row trigger and a BEFORE TRUNCATE statement trigger,
 * both ENABLE ALWAYS, so that session_replication_role = replica, however
 * it was set, does not silence them.  It refuses for every role.  There is
 * no INSERT trigger: inserting runs no audit_guard code at all.
 *
 * own_table_guard() guards audit_guard's own tables where no hook runs: the
 * logical replication apply worker calls neither the utility nor the
 * executor hook, but fires ENABLE ALWAYS triggers.  A subscription may not
 * write audit_guard's tables at all; TRUNCATE is refused everywhere (the
 * utility hook refuses it first in ordinary backends).
 *
 * registry_changed() is a statement trigger on audit_guard.registry that
 * broadcasts a relcache invalidation of the registry, so that every backend
 * drops its cache (registry.c) after any change, pg_restore's COPY included.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "replication/logicalworker.h"
#include "utils/inval.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(audit_guard_reject_change);
PG_FUNCTION_INFO_V1(audit_guard_registry_changed);
PG_FUNCTION_INFO_V1(audit_guard_own_table_guard);

/* Ensure a function is being called by the trigger manager. */
static inline TriggerData *
trigger_data(FunctionCallInfo fcinfo, const char *funcname)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be called as a trigger", funcname)));
	return (TriggerData *) fcinfo->context;
}

/* The guard: refuse the UPDATE, DELETE or TRUNCATE that fired it. */
Datum
audit_guard_reject_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo, "audit_guard.reject_change()");
	TriggerEvent event = trigdata->tg_event;
	const char *operation;

	if (TRIGGER_FIRED_BY_UPDATE(event))
		operation = "update rows of";
	else if (TRIGGER_FIRED_BY_DELETE(event))
	{
		/*
		 * purge() or redact() deleting: the executor hook let only their
		 * own statement through on this table (erase.c).
		 */
		if (RelationGetRelid(trigdata->tg_relation) == audit_guard_erasing &&
			audit_guard_own_sql != NULL && TRIGGER_FIRED_FOR_ROW(event))
			return PointerGetDatum(trigdata->tg_trigtuple);
		operation = "delete rows from";
	}
	else if (TRIGGER_FIRED_BY_TRUNCATE(event))
		operation = "truncate";
	else
		operation = "change";

	audit_guard_refuse_change(RelationGetRelid(trigdata->tg_relation),
							  operation);
	pg_unreachable();
}

/* After any change of the registry, tell every backend to reload it. */
Datum
audit_guard_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo,
										 "audit_guard.registry_changed()");

	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);	/* statement trigger: no row */
}

/* Guard audit_guard's own tables against the apply worker and TRUNCATE. */
Datum
audit_guard_own_table_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_data(fcinfo,
										 "audit_guard.own_table_guard()");
	Oid			relid = RelationGetRelid(trigdata->tg_relation);

	if (IsLogicalWorker())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot replicate into audit_guard table %s",
						audit_guard_table_name(relid)),
				 errdetail("audit_guard's registry, history and seal data are written only by its own functions, never by a subscription."),
				 errhint("Remove audit_guard's tables from the publication, or drop the subscription.")));
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		audit_guard_refuse_own_table(relid, "truncate");
	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		return PointerGetDatum(NULL);
	/* ordinary backends: the executor hook has decided already */
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
						   trigdata->tg_newtuple : trigdata->tg_trigtuple);
}
