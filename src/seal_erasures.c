/*-------------------------------------------------------------------------
 *
 * seal_erasures.c
 *		Erasure blocks as stored: read, checked, and applied to the blocks
 *		whose rows they removed.
 *
 * A purge or a redaction appends an erasure block to the chain; its
 * entries, in audit_guard.seal_erasures, name the rows it took from each
 * earlier sealed block (docs/format.md, "Erasure blocks").  Before the
 * sealed keys are gathered (seal_data.c), every entry is applied to its
 * sealed block: a whole block erased is not looked at row by row any
 * more, and keys erased one by one are left out of the sealed keys.  The
 * checks that need no table are made here, for verify() to report.
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* The name of a kind, as stored and hashed. */
const char *
audit_guard_block_kind_name(BlockKind kind)
{
	switch (kind)
	{
		case BLOCK_PURGE:
			return "purge";
		case BLOCK_REDACT:
			return "redact";
		default:
			return "seal";
	}
}

/* Order StoredErasures by sealed block. */
static int
entry_cmp(const ListCell *a, const ListCell *b)
{
	int64		x = ((StoredErasure *) lfirst(a))->sealed_block;
	int64		y = ((StoredErasure *) lfirst(b))->sealed_block;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Read relid's erasure entries and attach each to its erasure block.
 * Entries of a block that is no erasure block are attached all the same:
 * audit_guard_apply_erasures() reports them.
 */
void
audit_guard_read_erasures(Oid relid, Snapshot snapshot, StoredBlock *blocks,
						  int nblocks)
{
	Relation	rel = table_open(audit_guard_seal_erasures_table(), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = audit_guard_scan_by_relid(rel, relid, snapshot);
	HeapTuple	tuple;
	int			i;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		int64		number = DatumGetInt64(heap_getattr(tuple, 2, desc, &isnull));
		StoredBlock *block = audit_guard_find_block(blocks, nblocks, number);
		StoredErasure *entry = palloc0(sizeof(StoredErasure));
		Datum		keys;

		entry->sealed_block = DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull));
		entry->row_count = DatumGetInt64(heap_getattr(tuple, 4, desc, &isnull));
		keys = heap_getattr(tuple, 5, desc, &isnull);
		entry->keys = isnull ? NULL : DatumGetByteaPCopy(keys);
		if (block != NULL)
			block->entries = lappend(block->entries, entry);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	for (i = 0; i < nblocks; i++)
		list_sort(blocks[i].entries, entry_cmp);
}

/* Record a problem with an erasure block, unless seal() is reading. */
static void
bad_entry(List **problems, Relation rel, StoredBlock *block,
		  StoredErasure *entry, const char *what)
{
	if (problems != NULL)
		audit_guard_problem(problems, RelationGetRelid(rel), block->block,
							"seal data edited",
							"its entry for block " INT64_FORMAT " %s",
							entry->sealed_block, what);
}

/* Order keys for the sorted list of a block's erased keys. */
static int
key_ref_cmp(const void *a, const void *b)
{
	const SealKeyRef *x = a;
	const SealKeyRef *y = b;

	return ag_key_compare(x->data, x->len, y->data, y->len);
}

/*
 * Add the keys of one entry to the erased keys of target; false when they
 * do not parse, are not in strictly ascending order, or do not number
 * the entry's rows.
 */
static bool
add_erased_keys(StoredBlock *target, StoredErasure *entry, List **keys)
{
	const unsigned char *data = (unsigned char *) VARDATA_ANY(entry->keys);
	size_t		len = VARSIZE_ANY_EXHDR(entry->keys);
	size_t		pos = 0;
	int64		n = 0;
	SealKeyRef *prev = NULL;

	while (pos < len)
	{
		long		klen = ag_key_length(data + pos, len - pos, target->nkeys);
		SealKeyRef *ref;

		if (klen < 0)
			return false;
		ref = palloc(sizeof(SealKeyRef));
		ref->data = data + pos;
		ref->len = (uint32) klen;
		if (prev && key_ref_cmp(prev, ref) >= 0)
			return false;
		*keys = lappend(*keys, ref);
		prev = ref;
		pos += klen;
		n++;
	}
	return n == entry->row_count && n > 0;
}

/* Check one entry of an erasure block and apply it to its sealed block. */
static void
apply_entry(Relation rel, StoredBlock *blocks, int nblocks, StoredBlock *block,
			StoredErasure *entry, List **keys_of, List **problems)
{
	StoredBlock *target = audit_guard_find_block(blocks, nblocks, entry->sealed_block);
	int			index;

	if (target == NULL || !target->header || target->kind != BLOCK_SEAL ||
		target->block >= block->block)
	{
		bad_entry(problems, rel, block, entry,
				  "names no earlier sealed block");
		return;
	}
	if (target->erased_whole)
	{
		bad_entry(problems, rel, block, entry,
				  "erases rows of a block erased whole before");
		return;
	}
	index = target - blocks;
	if (entry->keys == NULL)
	{
		/* every row left: what the block sealed less what was erased before */
		if (entry->row_count != target->row_count - list_length(keys_of[index]))
			bad_entry(problems, rel, block, entry,
					  psprintf("erases " INT64_FORMAT " rows, but " INT64_FORMAT " were left",
							   entry->row_count,
							   target->row_count - list_length(keys_of[index])));
		target->erased_whole = true;
		return;
	}
	if (!add_erased_keys(target, entry, &keys_of[index]))
		bad_entry(problems, rel, block, entry,
				  "has keys that are malformed, out of key order, or not as many as its rows");
}

/* Sort the erased keys of one sealed block; a key erased twice is a problem. */
static void
sort_erased(Relation rel, StoredBlock *block, List *keys, List **problems)
{
	SealKeyRefArray *arr = palloc(sizeof(SealKeyRefArray));
	ListCell   *lc;
	uint32		i = 0;

	arr->n = list_length(keys);
	arr->keys = MemoryContextAllocHuge(CurrentMemoryContext,
										 sizeof(SealKeyRef) * Max(arr->n, 1));
	foreach(lc, keys)
		arr->keys[i++] = *(SealKeyRef *) lfirst(lc);
	qsort(arr->keys, arr->n, sizeof(SealKeyRef), key_ref_cmp);
	for (i = 1; i < arr->n; i++)
	{
		if (key_ref_cmp(&arr->keys[i - 1], &arr->keys[i]) != 0)
			continue;
		if (problems)
			audit_guard_problem(problems, RelationGetRelid(rel), block->block,
								"seal data edited",
								"two erasures remove the same row of the block");
		/* keep one, so that the row is not reported a second time */
		memmove(&arr->keys[i], &arr->keys[i + 1], sizeof(SealKeyRef) * (arr->n - i - 1));
		arr->n--;
		i--;
	}
	block->erased = arr;
}

/*
 * What an erasure block's header says of its entries: as many rows as they
 * erase together, and no rows of its own in seal_rows.
 */
static void
check_erasure_block(Relation rel, StoredBlock *block, List **problems)
{
	int64		rows = 0;
	ListCell   *lc;

	if (problems == NULL)
		return;
	foreach(lc, block->entries)
		rows += ((StoredErasure *) lfirst(lc))->row_count;
	if (rows != block->row_count)
		audit_guard_problem(problems, RelationGetRelid(rel), block->block,
							"seal data edited",
							"the erasure block records " INT64_FORMAT " rows, but its entries erase " INT64_FORMAT,
							block->row_count, rows);
	if (block->chunks != NIL)
		audit_guard_problem(problems, RelationGetRelid(rel), block->block,
							"seal data edited",
							"rows are stored for erasure block " INT64_FORMAT, block->block);
}

/*
 * Apply every erasure block to the blocks it took rows from, in chain
 * order, checking what can be checked without the table.  problems NULL:
 * seal(), which reports nothing.
 */
void
audit_guard_apply_erasures(Relation rel, StoredBlock *blocks, int nblocks,
						   List **problems)
{
	List	  **keys_of = palloc0(sizeof(List *) * Max(nblocks, 1));
	int			i;

	for (i = 0; i < nblocks; i++)
	{
		StoredBlock *block = &blocks[i];
		ListCell   *lc;

		if (block->entries != NIL && (!block->header || block->kind == BLOCK_SEAL))
		{
			if (problems != NULL)
				audit_guard_problem(problems, RelationGetRelid(rel), block->block,
									"seal data edited",
									"erasure entries are stored for block " INT64_FORMAT ", which is no erasure block",
									block->block);
			continue;
		}
		foreach(lc, block->entries)
			apply_entry(rel, blocks, nblocks, block, lfirst(lc), keys_of, problems);
		if (block->header && block->kind != BLOCK_SEAL)
			check_erasure_block(rel, block, problems);
	}
	for (i = 0; i < nblocks; i++)
		if (keys_of[i] != NIL && !blocks[i].erased_whole)
			sort_erased(rel, &blocks[i], keys_of[i], problems);
}

/*
 * The root of an erasure block's stored entries and the hash of its
 * header over its stored root, for verify() to compare with the stored
 * ones.
 */
void
audit_guard_erasure_hashes(StoredBlock *block, unsigned char *root,
						   unsigned char *hash)
{
	int			n = list_length(block->entries);
	AgErasure  *entries = palloc0(sizeof(AgErasure) * Max(n, 1));
	AgEraseHeader header;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, block->entries)
	{
		StoredErasure *e = lfirst(lc);

		entries[i].sealed_block = e->sealed_block;
		entries[i].row_count = e->row_count;
		entries[i].keys = e->keys ? (unsigned char *) VARDATA_ANY(e->keys) : NULL;
		entries[i].keys_len = e->keys ? VARSIZE_ANY_EXHDR(e->keys) : 0;
		i++;
	}
	ag_erasures_root(entries, (size_t) n, root);
	memcpy(header.prev_hash, block->prev_hash, AG_HASH_LEN);
	header.block = block->block;
	header.kind = audit_guard_block_kind_name(block->kind);
	header.reason = block->reason;
	header.row_count = block->row_count;
	memcpy(header.root, block->root, AG_HASH_LEN);
	ag_erase_block_hash(&header, hash);
	pfree(entries);
}
