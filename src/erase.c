/*-------------------------------------------------------------------------
 *
 * erase.c
 *		audit_guard.purge() and audit_guard.redact(): delete sealed rows
 *		of a protected table, the only deletions the guard ever lets
 *		through, and record each in the chain and in history.
 *
 * Both run as the table's designated owner (superuser status does not
 * count) and in three steps, in the caller's transaction, so that a crash
 * or a cancel leaves all or nothing:
 *
 *	1. seal the table (seal.c), and in the same pass over the rows, with
 *	   the seal's snapshot, collect the key, sealed block and TID of every
 *	   row to erase: older than the retention (purge), or the one row named
 *	   (redact);
 *	2. delete those rows, through SPI with that same snapshot, so that a
 *	   row committed after the seal is never deleted unsealed; the guard
 *	   (executor hook and trigger) lets exactly this statement through,
 *	   for exactly this table (audit_guard_erasing);
 *	3. append an erasure block to the chain (docs/format.md), drop the
 *	   keys and leaves of the blocks it erased whole, and record the event
 *	   in history.
 *
 * INSERTs into the table go on throughout: the seal lock conflicts with
 * nothing but another seal, and DELETE takes only row locks.
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "rewrite/prs2lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(audit_guard_purge);
PG_FUNCTION_INFO_V1(audit_guard_redact);

/* The table whose rows purge() or redact() is deleting now, or InvalidOid. */
Oid			audit_guard_erasing = InvalidOid;

/* What purge() matches: rows whose time column is before bound. */
typedef struct PurgeMatch
{
	AttrNumber	attnum;
	Oid			typid;
	int64		bound;
} PurgeMatch;

/* What redact() matches: the row whose key reads row_key. */
typedef struct RedactMatch
{
	SealColumns *key;
	const char *row_key;
} RedactMatch;

/* A row older than the retention. */
static bool
purge_match(TupleTableSlot *slot, void *arg)
{
	PurgeMatch *m = arg;
	bool		isnull;
	Datum		value = slot_getattr(slot, m->attnum, &isnull);

	return !isnull && !audit_guard_time_is_young(value, m->typid, m->bound);
}

/* The row named. */
static bool
redact_match(TupleTableSlot *slot, void *arg)
{
	RedactMatch *m = arg;

	return strcmp(audit_guard_slot_key_text(m->key, slot), m->row_key) == 0;
}

/* The entries of an erasure block under construction. */
typedef struct Entries
{
	AgErasure  *items;
	int			n;
} Entries;

/* Order of the matched rows: by sealed block, then key. */
static int
erased_cmp(const void *a, const void *b, void *arg)
{
	EraseScan  *e = arg;
	size_t		x = *(const size_t *) a;
	size_t		y = *(const size_t *) b;

	if (e->blocks[x] != e->blocks[y])
		return e->blocks[x] < e->blocks[y] ? -1 : 1;
	return ag_key_compare(e->keys.data + e->key_offsets[x],
						  e->key_offsets[x + 1] - e->key_offsets[x],
						  e->keys.data + e->key_offsets[y],
						  e->key_offsets[y + 1] - e->key_offsets[y]);
}

/*
 * True when no row of block is left once this erasure removes n more: the
 * rows earlier erasures removed and these n are all it sealed.  The
 * stored blocks are sorted by number (one seal a second makes millions).
 */
static bool
erases_whole(EraseScan *e, int64 block, int64 n)
{
	StoredBlock *b;

	if (block == e->new_block)
		return n == e->new_rows;
	b = audit_guard_find_block(e->stored, e->nstored, block);
	return b != NULL && (b->erased ? b->erased->n : 0) + n == b->row_count;
}

/*
 * Group the matched rows into one entry per sealed block, in block order:
 * a block none of whose rows is left becomes a whole-block entry (NULL
 * keys), the others list their keys in key order.  The entries are
 * counted first: one per block, however many rows (an array of one entry
 * per row passed palloc's 1 GB limit at 33.5 million rows).
 */
static Entries
build_entries(EraseScan *e)
{
	Entries		result = {0};
	size_t	   *order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(size_t) * e->n);
	size_t		i = 0;
	int			nblocks = 0;

	for (i = 0; i < e->n; i++)
		order[i] = i;
	qsort_arg(order, e->n, sizeof(size_t), erased_cmp, e);
	for (i = 0; i < e->n; i++)
		if (i == 0 || e->blocks[order[i]] != e->blocks[order[i - 1]])
			nblocks++;
	result.items = palloc0(sizeof(AgErasure) * Max(nblocks, 1));
	i = 0;
	while (i < e->n)
	{
		int64		block = e->blocks[order[i]];
		size_t		j;
		AgErasure  *item = &result.items[result.n++];

		for (j = i; j < e->n && e->blocks[order[j]] == block; j++)
			;
		item->sealed_block = block;
		item->row_count = (int64) (j - i);
		if (!erases_whole(e, block, item->row_count))
		{
			AgBuf		keys;
			size_t		k;

			ag_buf_init(&keys);
			for (k = i; k < j; k++)
				ag_buf_append(&keys, e->keys.data + e->key_offsets[order[k]],
							  e->key_offsets[order[k] + 1] - e->key_offsets[order[k]]);
			item->keys = keys.data;
			item->keys_len = keys.len;
		}
		i = j;
	}
	return result;
}

/* Write the erasure block's entries, and drop the rows of whole blocks. */
static void
write_entries(Oid relid, int64 block, Entries *entries)
{
	Oid			types[5] = {REGCLASSOID, INT8OID, INT8OID, INT8OID, BYTEAOID};
	Datum		values[5];
	int			i;

	for (i = 0; i < entries->n; i++)
	{
		AgErasure  *item = &entries->items[i];

		values[0] = ObjectIdGetDatum(relid);
		values[1] = Int64GetDatum(block);
		values[2] = Int64GetDatum(item->sealed_block);
		values[3] = Int64GetDatum(item->row_count);
		if (item->keys)
		{
			values[4] = audit_guard_bytea_datum(item->keys, item->keys_len);
			audit_guard_write_own_table("INSERT INTO audit_guard.seal_erasures"
										" (relid, block, sealed_block, row_count, keys)"
										" VALUES ($1, $2, $3, $4, $5)",
										5, types, values, SPI_OK_INSERT);
			continue;
		}
		audit_guard_write_own_table("INSERT INTO audit_guard.seal_erasures"
									" (relid, block, sealed_block, row_count, keys)"
									" VALUES ($1, $2, $3, $4, NULL)",
									4, types, values, SPI_OK_INSERT);
		/* the chain keeps the block's header; its keys and leaves go */
		values[1] = Int64GetDatum(item->sealed_block);
		audit_guard_write_own_table("DELETE FROM audit_guard.seal_rows"
									" WHERE relid OPERATOR(pg_catalog.=) $1"
									" AND block OPERATOR(pg_catalog.=) $2",
									2, types, values, SPI_OK_DELETE);
	}
}

/* Append the erasure block for what e matched; returns its number. */
static int64
write_erasure_block(Oid relid, EraseScan *e, BlockKind kind, const char *reason)
{
	Entries		entries = build_entries(e);
	AgEraseHeader header;
	unsigned char hash[AG_HASH_LEN];
	Oid			types[10] = {REGCLASSOID, INT8OID, INT8OID, BYTEAOID, BYTEAOID, BYTEAOID,
	TEXTOID, TEXTOID, TEXTOID, NAMEOID};
	Datum		values[10];
	char		nulls[11] = "          ";
	int			nestlevel;

	memcpy(header.prev_hash, e->head_hash, AG_HASH_LEN);
	header.block = e->head + 1;
	header.kind = audit_guard_block_kind_name(kind);
	header.reason = reason;
	header.row_count = (int64) e->n;
	ag_erasures_root(entries.items, (size_t) entries.n, header.root);
	ag_erase_block_hash(&header, hash);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int64GetDatum(header.block);
	values[2] = Int64GetDatum(header.row_count);
	values[3] = audit_guard_bytea_datum(header.root, AG_HASH_LEN);
	values[4] = audit_guard_bytea_datum(header.prev_hash, AG_HASH_LEN);
	values[5] = audit_guard_bytea_datum(hash, AG_HASH_LEN);
	values[6] = CStringGetTextDatum(header.kind);
	values[7] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[7] = reason ? ' ' : 'n';
	values[8] = CStringGetTextDatum(audit_guard_table_name(relid));
	values[9] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	nestlevel = audit_guard_begin_spi();
	write_entries(relid, header.block, &entries);
	audit_guard_write_own_table_nulls("INSERT INTO audit_guard.seal_blocks"
									  " (relid, block, columns, key_columns, row_count,"
									  " root, prev_hash, block_hash, table_name, sealed_by,"
									  " kind, reason)"
									  " VALUES ($1, $2, '{}', '{}', $3, $4, $5, $6, $9, $10, $7, $8)",
									  10, types, values, nulls, SPI_OK_INSERT);
	audit_guard_end_spi(nestlevel);
	return header.block;
}

/*
 * Refuse to erase from relid while a rule applies to its DELETE: a DO
 * INSTEAD rule would make the DELETE another statement (the count it
 * reports included), and the erasure would record rows as gone that are
 * still there.  The seal's lock on relid keeps rules from being created
 * until the DELETE has run.
 */
static void
require_no_delete_rule(Oid relid)
{
	Relation	rel = table_open(relid, NoLock);
	bool		found = false;
	int			i;

	for (i = 0; rel->rd_rules != NULL && i < rel->rd_rules->numLocks; i++)
		found |= rel->rd_rules->rules[i]->event == CMD_DELETE;
	table_close(rel, NoLock);
	if (found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot erase rows of protected table %s: it has a rule on DELETE",
						audit_guard_table_name(relid)),
				 errdetail("A rule could turn the DELETE into another statement, and the erasure would record rows as gone that are still there."),
				 errhint("Drop the table's rule on DELETE (its designated owner may), erase, and create the rule again.")));
}

/*
 * Delete the rows e matched, as sealed, with the seal's snapshot; sql
 * takes one argument.  The guard lets this statement through for relid
 * only, and only while it runs.
 */
static void
delete_matched(Oid relid, EraseScan *e, const char *sql, Oid type, Datum value)
{
	Oid			types[1] = {type};
	Datum		values[1] = {value};
	uint64		deleted;
	int			nestlevel;
	Oid			save_erasing = audit_guard_erasing;

	require_no_delete_rule(relid);
	nestlevel = audit_guard_begin_spi();

	/* a trigger of the table may purge another table meanwhile: restore */
	audit_guard_erasing = relid;
	PG_TRY();
	{
		deleted = audit_guard_delete_erased(relid, sql, 1, types, values, e->snapshot);
	}
	PG_FINALLY();
	{
		audit_guard_erasing = save_erasing;
	}
	PG_END_TRY();
	audit_guard_end_spi(nestlevel);
	if (deleted != e->n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot erase rows of protected table %s: " UINT64_FORMAT " of the %zu rows sealed to erase were deleted",
						audit_guard_table_name(relid), deleted, e->n),
				 errdetail("An erasure records exactly the rows it deletes; a BEFORE DELETE trigger of the table that skips rows makes that impossible, so nothing was erased."),
				 errhint("Make the table's BEFORE DELETE triggers return OLD, then run it again.")));
}

/* Record the erasure in history. */
static void
record(const char *action, Oid relid, Oid owner, Interval *keep,
	   TimestampTz *bound, int64 rows, const char *row_key, const char *reason)
{
	int			nestlevel = audit_guard_begin_spi();

	audit_guard_record_erasure(action, relid, owner, keep, bound, rows,
							   row_key, reason);
	audit_guard_end_spi(nestlevel);
}

/* The tables with storage that tbl names: itself, or its leaf partitions. */
static List *
leaf_tables(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			result = lappend_oid(result, lfirst_oid(lc));
	list_sort(result, list_oid_cmp);
	return result;
}

/* Purge one table with storage; returns the rows deleted. */
static int64
purge_leaf(Oid relid, Oid owner, Interval *keep, const char *column, int64 bound)
{
	EraseScan	e = {0};
	PurgeMatch	m;
	TimestampTz bound_tz = bound;

	m.attnum = get_attnum(relid, column);
	m.typid = get_atttype(relid, m.attnum);
	m.bound = bound;
	if (m.attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of %s does not exist", column,
			 audit_guard_table_name(relid));
	e.match = purge_match;
	e.arg = &m;
	audit_guard_seal_for_erasure(relid, &e);
	if (e.snapshot == NULL)
		return 0;
	if (e.n > 0)
	{
		delete_matched(relid, &e,
					   psprintf("DELETE FROM ONLY %s WHERE %s OPERATOR(pg_catalog.<) $1",
								audit_guard_table_name(relid), quote_identifier(column)),
					   m.typid == TIMESTAMPTZOID ? TIMESTAMPTZOID : TIMESTAMPOID,
					   Int64GetDatum(bound));
		write_erasure_block(relid, &e, BLOCK_PURGE, NULL);
		record("purge", relid, owner, keep, &bound_tz, (int64) e.n, NULL, NULL);
	}
	UnregisterSnapshot(e.snapshot);
	return (int64) e.n;
}

/* SQL: audit_guard.purge(tbl regclass) RETURNS bigint */
Datum
audit_guard_purge(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			owner = audit_guard_require_erasure_caller(fcinfo, "purge", 1);
	Interval   *keep;
	char	   *column;
	int64		total = 0;
	ListCell   *lc;

	relid = PG_GETARG_OID(0);
	audit_guard_lock_retentions(relid);
	if (!audit_guard_retention_of(relid, &keep, &column, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot purge protected table %s: it has no retention",
						audit_guard_table_name(relid)),
				 errdetail("The function purge() deletes the rows older than the table's retention."),
				 errhint("Set one first with audit_guard.set_retention().")));
	foreach(lc, leaf_tables(relid))
	{
		Interval   *leaf_keep;
		char	   *leaf_column;

		/* a partition may keep longer than its parent */
		audit_guard_lock_retentions(lfirst_oid(lc));
		if (!audit_guard_retention_of(lfirst_oid(lc), &leaf_keep, &leaf_column, NULL))
			continue;
		total += purge_leaf(lfirst_oid(lc), owner, leaf_keep, leaf_column,
							audit_guard_retention_bound(leaf_keep));
	}
	PG_RETURN_INT64(total);
}

/* Redact in one table with storage; returns the rows deleted (0 or 1). */
static int64
redact_leaf(Oid relid, Oid owner, const char *row_key, const char *reason)
{
	EraseScan	e = {0};
	RedactMatch m;
	Relation	rel = table_open(relid, AccessShareLock);

	m.key = audit_guard_key_columns(rel);
	m.row_key = row_key;
	table_close(rel, NoLock);
	if (m.key == NULL)
		return 0;				/* seal() says why */
	e.match = redact_match;
	e.arg = &m;
	audit_guard_seal_for_erasure(relid, &e);
	if (e.snapshot == NULL)
		return 0;
	if (e.n > 1)
		elog(ERROR, "audit_guard: %zu rows of %s have key %s", e.n,
			 audit_guard_table_name(relid), row_key);
	if (e.n == 1)
	{
		delete_matched(relid, &e,
					   psprintf("DELETE FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) $1",
								audit_guard_table_name(relid)),
					   TIDOID, PointerGetDatum(&e.tids[0]));
		write_erasure_block(relid, &e, BLOCK_REDACT, reason);
		record("redact", relid, owner, NULL, NULL, 1, row_key, reason);
	}
	UnregisterSnapshot(e.snapshot);
	return (int64) e.n;
}

/* SQL: audit_guard.redact(tbl regclass, row_key text, reason text) */
Datum
audit_guard_redact(PG_FUNCTION_ARGS)
{
	Oid			owner = audit_guard_require_erasure_caller(fcinfo, "redact", 3);
	Oid			relid = PG_GETARG_OID(0);
	char	   *row_key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	ListCell   *lc;
	int64		found = 0;

	if (strspn(reason, " \t\r\n") == strlen(reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the reason for a redaction must not be empty"),
				 errdetail("The history and the chain record why each row was erased."),
				 errhint("Give the reason, for example the reference of the erasure request.")));
	foreach(lc, leaf_tables(relid))
	{
		found += redact_leaf(lfirst_oid(lc), owner, row_key, reason);
		if (found > 0)
			break;
	}
	if (found == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protected table %s has no row with key %s",
						audit_guard_table_name(relid), row_key),
				 errdetail("The function redact() deletes one row, named by its primary key as verify() writes it: 17, or (17,abc) for a composite key."),
				 errhint("Look the row up first; a row redacted or purged already is gone.")));
	PG_RETURN_VOID();
}
