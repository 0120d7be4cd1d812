/*-------------------------------------------------------------------------
 *
 * overrides.c
 *		Record in audit_guard.history every statement a designated owner
 *		runs that the guard refuses to everyone else.
 *
 * The checks that let a designated owner through (refuse.c) run in the
 * middle of other work: before a utility statement, inside a DROP's
 * dependency walk (the object-access hook).  Writing history there would
 * run SPI inside PostgreSQL's own DDL, so a pass is only noted here, and
 * written when the utility statement has finished (audit_guard_flush_
 * forgotten(), which the utility hook calls after every statement).  A
 * note made in a subtransaction that rolls back, or a statement that
 * fails, is forgotten with it.  Nothing is written while an extension
 * script runs (the statement that ran it writes it).  Notes are dropped
 * quietly when the
 * extension's tables are not there or not at version 1.1 (CREATE and DROP
 * EXTENSION, a database not yet updated): the LOG line of a refusal does
 * not depend on the tables, a record of a pass cannot.
 *
 *-------------------------------------------------------------------------
 */
#include "audit_guard.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* One pass of a designated owner, waiting for its statement to end. */
typedef struct Override
{
	Oid			relid;			/* InvalidOid: every protected table */
	Oid			owner;			/* InvalidOid: the current user */
	char	   *table;
	char	   *operation;
	int			nest_level;		/* the subtransaction it happened in */
} Override;

/* The Overrides noted, in TopTransactionContext. */
static List *pending = NIL;

/* True while the pending notes are written (a write notes nothing). */
static bool flushing = false;

/* Drop the notes of a subtransaction that rolled back. */
static void
overrides_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	(void) mySubid;
	(void) parentSubid;
	(void) arg;
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach(lc, pending)
	{
		if (((Override *) lfirst(lc))->nest_level >= level)
			pending = foreach_delete_current(pending, lc);
	}
}

/* Forget every note when the transaction ends either way. */
static void
overrides_xact_callback(XactEvent event, void *arg)
{
	(void) event;
	(void) arg;
	pending = NIL;
	flushing = false;
}

/* Register the callbacks, once per backend, on the first note. */
static void
register_callbacks(void)
{
	static bool registered = false;

	if (registered)
		return;
	RegisterXactCallback(overrides_xact_callback, NULL);
	RegisterSubXactCallback(overrides_subxact_callback, NULL);
	registered = true;
}

/*
 * Note that the current user, as designated owner, passed a check that
 * refuses everyone else: operation on relid (InvalidOid: on every
 * protected table, such as replica mode).  A statement that passes several
 * checks on one table (DISABLE TRIGGER ALL passes the utility hook's and
 * then the object-access hook's for each guard trigger) is noted once.
 */
void
audit_guard_note_override(Oid relid, Oid owner, const char *operation)
{
	MemoryContext old;
	Override   *entry;
	ListCell   *lc;

	if (flushing || !IsTransactionState())
		return;
	/* one record per table and statement: the first check names it best */
	foreach(lc, pending)
		if (((Override *) lfirst(lc))->relid == relid)
			return;
	register_callbacks();
	old = MemoryContextSwitchTo(TopTransactionContext);
	entry = palloc(sizeof(Override));
	entry->relid = relid;
	entry->owner = OidIsValid(owner) ? owner : GetUserId();
	entry->table = OidIsValid(relid) ? audit_guard_table_name(relid) :
		pstrdup("(every protected table)");
	entry->operation = pstrdup(operation);
	entry->nest_level = GetCurrentTransactionNestLevel();
	pending = lappend(pending, entry);
	MemoryContextSwitchTo(old);
}

/* True when history can take an override (extension version 1.1). */
static bool
history_ready(void)
{
	Oid			history;

	if (!audit_guard_extension_ready())
		return false;
	history = audit_guard_history_relid();
	return OidIsValid(history) &&
		get_attnum(history, "statement") != InvalidAttrNumber;
}

/*
 * Write the notes of the statement that just ended to history, one row
 * each: action 'override', the table, its designated owner, the user, the
 * statement and the operation the guard refuses to others.
 */
void
audit_guard_flush_overrides(void)
{
	List	   *notes = pending;
	ListCell   *lc;
	int			nestlevel;

	/*
	 * Not while an extension script runs: ALTER EXTENSION UPDATE is noted
	 * before its script changes history, and written after it.
	 */
	if (notes == NIL || flushing || creating_extension)
		return;
	pending = NIL;
	if (!history_ready())
		return;
	flushing = true;
	PG_TRY();
	{
		nestlevel = audit_guard_begin_spi();
		foreach(lc, notes)
		{
			Override   *entry = lfirst(lc);

			audit_guard_record_event("override", entry->relid, entry->table,
									 entry->owner, entry->operation);
		}
		audit_guard_end_spi(nestlevel);
	}
	PG_FINALLY();
	{
		flushing = false;
	}
	PG_END_TRY();
}
