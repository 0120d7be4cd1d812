/*-------------------------------------------------------------------------
 *
 * audit_guard.c
 *		Module entry point: refuse to load unless preloaded, install hooks.
 *
 * audit_guard only keeps its promise when every backend runs its hooks
 * from the first statement on.  Loaded any other way (LOAD, or CREATE
 * EXTENSION calling a C function), a backend that never called one of its
 * functions would run without them, and the guard would be paper-only; so
 * loading outside shared_preload_libraries is an error.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "fmgr.h"

AG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(audit_guard_hooks_active);

/* True once _PG_init has installed every hook in this process. */
bool		audit_guard_hooks_installed = false;

void		_PG_init(void);

void
_PG_init(void)
{
	/* pg_upgrade loads libraries to check them; it runs no user statement */
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_guard must be loaded via shared_preload_libraries"),
				 errdetail("Loaded later, some backends would run without its hooks and protected tables could be rewritten there."),
				 errhint("Add audit_guard to shared_preload_libraries in postgresql.conf, for example shared_preload_libraries = 'audit_guard', and restart the server.")));

	MarkGUCPrefixReserved("audit_guard");

	audit_guard_registry_init();
	audit_guard_protect_init();
	audit_guard_postcheck_init();
	audit_guard_install_utility_hook();
	audit_guard_install_object_access_hook();
	audit_guard_install_executor_hooks();
	audit_guard_hooks_installed = true;
}

/* SQL: audit_guard.hooks_active(), for health checks. */
Datum
audit_guard_hooks_active(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(audit_guard_hooks_installed);
}
