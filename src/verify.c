/*-------------------------------------------------------------------------
 *
 * verify.c
 *		audit_guard.verify(tbl): recompute every sealed row's leaf hash and
 *		every block's root and hash, and report what does not match.
 *
 * The seal data and the table are read with one snapshot, so that a seal
 * committing meanwhile cannot make a row look missing.  Per table:
 *
 *	1. the chain: blocks numbered 1, 2, ... each naming the previous one's
 *	   hash, each hash the hash of its header, each root the Merkle root of
 *	   its stored leaves ('chain broken', 'seal data edited');
 *	2. the rows: one pass over the heap, each row's key looked up among the
 *	   sealed keys and, when sealed, its leaf recomputed over the columns
 *	   its block sealed ('row changed'); a second row with a sealed key
 *	   ('row duplicated'); a row the last seal saw but no block seals
 *	   ('row not sealed': its stored snapshot edited, so that seal() skips
 *	   the row for ever); sealed keys the pass never met ('row missing');
 *	   blocks whose columns are gone ('column missing').
 *
 * Problems come out ordered by table, block and key.  The SQL wrapper
 * verify(digest) adds the comparison with a digest.
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(audit_guard_verify);

/* What a pass over a table needs. */
typedef struct VerifyState
{
	Relation	rel;
	StoredBlock *blocks;
	int			nblocks;
	List	   *sets;			/* KeySet * */
	List	   *problems;		/* SealProblem * */
	Snapshot	prev;			/* the last seal's, when usable */
	int64		prev_block;		/* the block of that seal */
} VerifyState;

/* 32 zero bytes: the previous-block hash of block 1. */
static const unsigned char zero_hash[AG_HASH_LEN];

/* Hex of a hash, for a detail message. */
static char *
hex_of(const unsigned char *hash)
{
	char	   *out = palloc(AG_HEX_LEN + 1);

	ag_hex(hash, AG_HASH_LEN, out);
	return out;
}

/* The Merkle root of a block's stored leaves; false when they cannot give one. */
static bool
stored_root(StoredBlock *block, unsigned char *root)
{
	AgBuf		leaves;
	ListCell   *lc;

	if (!block->rows_ok || block->chunks == NIL)
		return false;
	ag_buf_init(&leaves);
	foreach(lc, block->chunks)
	{
		StoredChunk *chunk = lfirst(lc);

		ag_buf_append(&leaves, VARDATA_ANY(chunk->leaves),
					  VARSIZE_ANY_EXHDR(chunk->leaves));
	}
	ag_merkle_root(leaves.data, leaves.len / AG_HASH_LEN, root);
	ag_buf_free(&leaves);
	return true;
}

/* Check an erasure block's hash and root against its stored entries. */
static void
check_erasure_header(VerifyState *st, StoredBlock *block)
{
	Oid			relid = RelationGetRelid(st->rel);
	unsigned char root[AG_HASH_LEN];
	unsigned char hash[AG_HASH_LEN];

	audit_guard_erasure_hashes(block, root, hash);
	if (memcmp(hash, block->block_hash, AG_HASH_LEN) != 0)
		audit_guard_problem(&st->problems, relid, block->block, "seal data edited",
							"the stored block hash is %s, but the erasure block's header hashes to %s",
							hex_of(block->block_hash), hex_of(hash));
	if (memcmp(root, block->root, AG_HASH_LEN) != 0)
		audit_guard_problem(&st->problems, relid, block->block, "seal data edited",
							"the stored erasure entries give the root %s, but the block records %s",
							hex_of(root), hex_of(block->root));
}

/* Check one block header against its own hash and its predecessor. */
static void
check_header(VerifyState *st, StoredBlock *block, StoredBlock *prev)
{
	Oid			relid = RelationGetRelid(st->rel);
	AgBlockHeader header;
	unsigned char hash[AG_HASH_LEN];
	unsigned char root[AG_HASH_LEN];
	const unsigned char *want_prev = prev ? prev->block_hash : zero_hash;
	const char *oddity;

	if (!block->hashes_ok)
	{
		audit_guard_problem(&st->problems, relid, block->block, "seal data edited",
							"a hash stored for the block is not 32 bytes long");
		return;
	}
	if ((prev == NULL && block->block != 1) ||
		(prev != NULL && block->block != prev->block + 1))
		audit_guard_problem(&st->problems, relid, block->block, "chain broken",
							"block " INT64_FORMAT " is missing before it",
							prev ? prev->block + 1 : 1);
	else if ((prev == NULL || prev->hashes_ok) &&
			 memcmp(block->prev_hash, want_prev, AG_HASH_LEN) != 0)
		audit_guard_problem(&st->problems, relid, block->block, "chain broken",
							"its previous-block hash is %s, but block " INT64_FORMAT " has hash %s",
							hex_of(block->prev_hash), block->block - 1,
							hex_of(want_prev));

	if (block->kind != BLOCK_SEAL)
	{
		check_erasure_header(st, block);
		return;
	}
	memcpy(header.prev_hash, block->prev_hash, AG_HASH_LEN);
	header.block = block->block;
	memcpy(header.root, block->root, AG_HASH_LEN);
	header.row_count = block->row_count;
	header.ncolumns = block->ncolumns;
	header.columns = block->columns;
	header.nkeys = block->nkeys;
	header.keys = block->keys;
	ag_block_hash(&header, hash);
	if (memcmp(hash, block->block_hash, AG_HASH_LEN) != 0)
		audit_guard_problem(&st->problems, relid, block->block, "seal data edited",
							"the stored block hash is %s, but the block's header hashes to %s",
							hex_of(block->block_hash), hex_of(hash));
	else if ((oddity = ag_block_header_oddity(&header)) != NULL)
		audit_guard_problem(&st->problems, relid, block->block, "seal data edited",
							"%s", oddity);
	if (stored_root(block, root) && memcmp(root, block->root, AG_HASH_LEN) != 0)
		audit_guard_problem(&st->problems, relid, block->block, "seal data edited",
							"the stored leaf hashes give the root %s, but the block records %s",
							hex_of(root), hex_of(block->root));
}

/* Step 1: the chain, block by block. */
static void
check_chain(VerifyState *st)
{
	StoredBlock *prev = NULL;
	int			i;

	for (i = 0; i < st->nblocks; i++)
	{
		StoredBlock *block = &st->blocks[i];

		if (!block->header)
		{
			audit_guard_problem(&st->problems, RelationGetRelid(st->rel),
								block->block, "seal data edited",
								"rows are stored for block " INT64_FORMAT ", which has no header",
								block->block);
			block->skip = true;
			continue;
		}
		check_header(st, block, prev);
		prev = block;
	}
}

/*
 * Bind each block's columns to the table; a block whose sealed columns or
 * key columns are gone cannot have its rows checked.
 */
static void
bind_blocks(VerifyState *st)
{
	List	   *bound = NIL;
	int			i;

	for (i = 0; i < st->nblocks; i++)
	{
		StoredBlock *block = &st->blocks[i];
		ListCell   *lc;

		if (!block->header || block->kind != BLOCK_SEAL || block->erased_whole)
		{
			block->skip = true;
			continue;
		}
		foreach(lc, bound)
		{
			SealColumns *cols = lfirst(lc);

			if (audit_guard_same_names(cols->ncolumns, cols->names,
									   block->ncolumns, block->columns))
			{
				block->bound = cols;
				break;
			}
		}
		if (block->bound == NULL)
		{
			block->bound = audit_guard_bind_columns(st->rel, block->ncolumns,
													block->columns);
			bound = lappend(bound, block->bound);
		}
		if (block->bound->missing != NULL)
		{
			audit_guard_problem(&st->problems, RelationGetRelid(st->rel),
								block->block, "column missing",
								"sealed column \"%s\" no longer exists, so the block's rows cannot be checked",
								block->bound->missing);
			block->skip = true;
		}
		else if (!block->rows_ok)
			block->skip = true;
	}
}

/*
 * Check one row against the sealed entry of its key.  Runs in the per-row
 * memory context; a problem is recorded in the verify() context, cxt.
 */
static void
check_row(VerifyState *st, KeySet *set, SealedKey *entry,
		  TupleTableSlot *slot, AgBuf *rowbuf, MemoryContext cxt)
{
	StoredBlock *block = &st->blocks[entry->block_index];
	unsigned char leaf[AG_HASH_LEN];
	MemoryContext rowcxt;
	SealProblem *p;

	entry->found = true;
	if (block->skip || entry->leaf == NULL)
		return;
	rowbuf->len = 0;
	audit_guard_encode(rowbuf, block->bound, slot);
	ag_leaf_hash(rowbuf->data, rowbuf->len, leaf);
	if (memcmp(leaf, entry->leaf, AG_HASH_LEN) == 0)
		return;
	rowcxt = MemoryContextSwitchTo(cxt);
	p = audit_guard_problem(&st->problems, RelationGetRelid(st->rel),
							block->block, "row changed",
							"the row hashes to %s, but block " INT64_FORMAT " sealed %s",
							hex_of(leaf), block->block, hex_of(entry->leaf));
	p->key = entry->key;
	p->row_key = audit_guard_slot_key_text(set->key, slot);
	MemoryContextSwitchTo(rowcxt);
}

/* A second row with the key of a sealed row (the primary key broken below the guard). */
static void
report_duplicate(VerifyState *st, KeySet *set, SealedKey *entry,
				 TupleTableSlot *slot, MemoryContext cxt)
{
	StoredBlock *block = &st->blocks[entry->block_index];
	MemoryContext rowcxt = MemoryContextSwitchTo(cxt);
	SealProblem *p = audit_guard_problem(&st->problems, RelationGetRelid(st->rel),
										 block->block, "row duplicated",
										 "another row has the key of the row sealed in block " INT64_FORMAT,
										 block->block);

	p->key = entry->key;
	p->row_key = audit_guard_slot_key_text(set->key, slot);
	MemoryContextSwitchTo(rowcxt);
}

/*
 * A row the last seal saw committed that no block seals: seal() will skip
 * it for ever, so its stored snapshot was edited to hide it.
 */
static void
report_unsealed(VerifyState *st, KeySet *set, TupleTableSlot *slot,
				MemoryContext cxt)
{
	MemoryContext rowcxt = MemoryContextSwitchTo(cxt);
	AgBuf		key;
	SealProblem *p;

	ag_buf_init(&key);
	audit_guard_encode(&key, set->key, slot);
	p = audit_guard_problem(&st->problems, RelationGetRelid(st->rel),
							st->prev_block, "row not sealed",
							"the snapshot stored with block " INT64_FORMAT " says its seal saw this row committed, yet no block seals it (the snapshot was edited below the guard)",
							st->prev_block);
	p->key.data = (unsigned char *) key.data;
	p->key.len = (uint32) key.len;
	p->row_key = audit_guard_slot_key_text(set->key, slot);
	MemoryContextSwitchTo(rowcxt);
}

/* Step 2: one pass over the table's rows. */
static void
check_rows(VerifyState *st, Snapshot snapshot)
{
	TupleTableSlot *slot = table_slot_create(st->rel, NULL);
	TableScanDesc scan = ag_table_beginscan(st->rel, snapshot);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "audit_guard verify row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	AgBuf		keybuf;
	AgBuf		rowbuf;

	/* allocated here, so that they outlive the per-row context */
	ag_buf_init(&keybuf);
	ag_buf_init(&rowbuf);
	ag_buf_reserve(&keybuf, 1024);
	ag_buf_reserve(&rowbuf, 8192);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		ListCell   *lc;
		KeySet	   *named_by = NULL;	/* a set that can name the row */
		bool		sealed = false;
		bool		checked = false;	/* against an entry of some set */
		KeySet	   *dup_set = NULL;	/* a set whose entry was met before */
		SealedKey  *dup_entry = NULL;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		old = MemoryContextSwitchTo(rowcxt);
		foreach(lc, st->sets)
		{
			KeySet	   *set = lfirst(lc);
			SealedKey  *entry;

			if (set->key->missing != NULL)
			{
				sealed = true;	/* cannot tell: say nothing */
				continue;
			}
			named_by = set;
			keybuf.len = 0;
			audit_guard_encode(&keybuf, set->key, slot);
			entry = audit_guard_key_lookup(set, keybuf.data, (uint32) keybuf.len);
			if (entry == NULL)
				continue;
			sealed = true;
			if (!entry->found)
			{
				check_row(st, set, entry, slot, &rowbuf, old);
				checked = true;
			}
			else
			{
				dup_set = set;
				dup_entry = entry;
			}
		}
		/* one set's entry met twice is a duplicate, unless another set (a
		 * primary key changed to one on more columns) sealed this row */
		if (dup_entry != NULL && !checked)
			report_duplicate(st, dup_set, dup_entry, slot, old);
		if (!sealed && named_by != NULL && st->prev != NULL &&
			audit_guard_seen_by(slot, st->prev) == SEEN_SEALED)
			report_unsealed(st, named_by, slot, old);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(rowcxt);
}

/* Collects the sealed keys no row answered to. */
typedef struct MissingArg
{
	VerifyState *st;
	KeySet	   *set;
} MissingArg;

/* Report one sealed key the pass over the rows did not meet. */
static void
report_missing(SealedKey *entry, void *arg)
{
	MissingArg *m = arg;
	StoredBlock *block = &m->st->blocks[entry->block_index];
	SealProblem *p;

	if (entry->found || block->skip)
		return;
	p = audit_guard_problem(&m->st->problems, RelationGetRelid(m->st->rel),
							block->block, "row missing",
							"the row sealed in block " INT64_FORMAT " is gone",
							block->block);
	p->key = entry->key;
	p->row_key = audit_guard_key_text(m->set->key, entry->key.data,
									  entry->key.len);
}

/* Order problems by block, then key (rows after the block's own problems). */
static int
problem_cmp(const ListCell *a, const ListCell *b)
{
	SealProblem *x = lfirst(a);
	SealProblem *y = lfirst(b);

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	if ((x->key.data == NULL) != (y->key.data == NULL))
		return x->key.data == NULL ? -1 : 1;
	if (x->key.data != NULL)
	{
		int			c = ag_key_compare(x->key.data, x->key.len,
									   y->key.data, y->key.len);

		if (c != 0)
			return c;
	}
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* Verify one table and add its problems to the result. */
static void
verify_one(Oid relid, Snapshot snapshot, Tuplestorestate *store, TupleDesc desc)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "audit_guard verify",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	VerifyState st = {0};
	ListCell   *lc;
	int64		head_block;
	unsigned char head_hash[AG_HASH_LEN];

	st.rel = try_table_open(relid, AccessShareLock);
	if (st.rel == NULL)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}
	st.blocks = audit_guard_read_blocks(relid, snapshot, true, &st.nblocks);
	st.prev = audit_guard_usable_seal_snapshot(st.rel, snapshot, &head_block,
											   head_hash, &st.prev_block);
	st.sets = audit_guard_key_sets(st.rel, st.blocks, st.nblocks, true, &st.problems);
	check_chain(&st);
	bind_blocks(&st);
	check_rows(&st, snapshot);
	foreach(lc, st.sets)
	{
		MissingArg	arg = {&st, lfirst(lc)};

		audit_guard_key_iterate(arg.set, report_missing, &arg);
	}
	list_sort(st.problems, problem_cmp);

	foreach(lc, st.problems)
	{
		SealProblem *p = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, p->block == 0, p->row_key == NULL, false, false};

		values[0] = ObjectIdGetDatum(p->relid);
		values[1] = Int64GetDatum(p->block);
		values[2] = p->row_key ? CStringGetTextDatum(p->row_key) : (Datum) 0;
		values[3] = CStringGetTextDatum(p->problem);
		values[4] = CStringGetTextDatum(p->detail);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	table_close(st.rel, AccessShareLock);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * True when the caller may verify relid: SELECT on it, and no row-level
 * security policy hiding rows from them (a hidden row would look missing).
 */
static bool
may_verify(Oid relid)
{
	return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK &&
		check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED;
}

/* Ensure the caller may verify relid, which they named. */
static void
check_may_verify(Oid relid)
{
	if (may_verify(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to verify table %s", audit_guard_table_name(relid)),
			 errdetail("verify() reads every row of the table: it needs SELECT on it, and no row-level security policy may hide rows from the caller."),
			 errhint("Run it as a role that may read the whole table.")));
}

/*
 * The tables verify(tbl) checks, in OID order: tbl, or its leaf
 * partitions; with no tbl, every table that has seal data and that the
 * caller may read whole.
 */
pg_noinline static List *
verify_targets(Oid relid, Snapshot snapshot)
{
	List	   *result = NIL;
	ListCell   *lc;

	if (!OidIsValid(relid))
	{
		foreach(lc, audit_guard_sealed_tables(snapshot))
			if (may_verify(lfirst_oid(lc)))
				result = lappend_oid(result, lfirst_oid(lc));
		return result;
	}
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			{
				check_may_verify(lfirst_oid(lc));
				result = lappend_oid(result, lfirst_oid(lc));
			}
	}
	else if (get_rel_relkind(relid) == RELKIND_RELATION)
	{
		check_may_verify(relid);
		result = list_make1_oid(relid);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot verify \"%s\": it is not a table",
						get_rel_name(relid) ? audit_guard_table_name(relid) : "?"),
				 errhint("Name a table that audit_guard.seal() has sealed.")));
	list_sort(result, list_oid_cmp);
	return result;
}

/* SQL: audit_guard.verify(tbl regclass DEFAULT NULL) */
Datum
audit_guard_verify(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = audit_guard_srf_begin(fcinfo, &desc);
	Snapshot	snapshot = RegisterSnapshot(GetActiveSnapshot());
	List	   *targets;
	ListCell   *lc;
	int			encoding;

	if (!audit_guard_extension_ready())
		elog(ERROR, "audit_guard registry not found");
	if (!PG_ARGISNULL(0) && get_rel_name(PG_GETARG_OID(0)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", PG_GETARG_OID(0))));
	targets = verify_targets(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0),
							 snapshot);

	encoding = audit_guard_encoding_begin();
	PG_TRY();
	{
		audit_guard_hash_begin();
		foreach(lc, targets)
			verify_one(lfirst_oid(lc), snapshot, store, desc);
	}
	PG_FINALLY();
	{
		audit_guard_hash_end();
		audit_guard_encoding_end(encoding);
	}
	PG_END_TRY();
	UnregisterSnapshot(snapshot);
	return (Datum) 0;
}
