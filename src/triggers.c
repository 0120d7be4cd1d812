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
 * registry_changed() is a statement trigger on audit_guard.registry that
 * broadcasts a relcache invalidation of the registry, so that every backend
 * drops its cache (registry.c) after any change, pg_restore's COPY included.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/inval.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(audit_guard_reject_change);
PG_FUNCTION_INFO_V1(audit_guard_registry_changed);

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
		operation = "delete rows from";
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
