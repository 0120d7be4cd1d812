/*-------------------------------------------------------------------------
 *
 * seal.c
 *		audit_guard.seal(): seal the rows no earlier block covered.
 *
 * Which rows a seal covers does not depend on key order, because sequence
 * order is not commit order: seal() takes a fresh snapshot, and every row
 * visible to it whose key no earlier block recorded goes into the new
 * block.  A row whose transaction commits after that snapshot, whatever
 * its key, is left for the next seal.  Two seals of one table are
 * serialized by a lock on the pair (audit_guard.seal_blocks, table) that
 * conflicts with nothing else, INSERT included; the snapshot is taken
 * after the lock is granted, so that it sees the block the previous seal
 * committed.  The whole block is written in the calling transaction: a
 * crash or a cancel leaves no partial block, and seal() simply runs again.
 *
 * The hashing runs in C over heap tuples (seal_data.c); only the finished
 * block is written through SPI, as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/table.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(audit_guard_seal);

/* The rows a new block seals: keys in one buffer, leaves in another. */
typedef struct NewRows
{
	AgBuf		keys;
	AgBuf		leaves;
	size_t	   *key_offsets;	/* n + 1 offsets into keys */
	size_t		n;
	size_t		cap;
} NewRows;

/* The chain's last block, as seal() extends it. */
typedef struct ChainHead
{
	int64		block;			/* 0 when the table has no block */
	unsigned char hash[AG_HASH_LEN];
} ChainHead;

/* Remember one new row. */
static void
add_row(NewRows *rows, const unsigned char *key, size_t keylen,
		const unsigned char *leaf)
{
	if (rows->n + 1 >= rows->cap)
	{
		rows->cap = rows->cap ? rows->cap * 2 : 1024;
		rows->key_offsets = rows->key_offsets ?
			repalloc_huge(rows->key_offsets, sizeof(size_t) * rows->cap) :
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(size_t) * rows->cap);
	}
	rows->key_offsets[rows->n] = rows->keys.len;
	ag_buf_append(&rows->keys, key, keylen);
	ag_buf_append(&rows->leaves, leaf, AG_HASH_LEN);
	rows->n++;
	rows->key_offsets[rows->n] = rows->keys.len;
}

/* qsort_arg comparator: row indexes by their keys. */
static int
row_cmp(const void *a, const void *b, void *arg)
{
	NewRows    *rows = arg;
	size_t		x = *(const size_t *) a;
	size_t		y = *(const size_t *) b;

	return ag_key_compare(rows->keys.data + rows->key_offsets[x],
						  rows->key_offsets[x + 1] - rows->key_offsets[x],
						  rows->keys.data + rows->key_offsets[y],
						  rows->key_offsets[y + 1] - rows->key_offsets[y]);
}

/*
 * The block that sealed the row in slot already, or 0.  blocks is the
 * array the sets' entries index.  keybuf holds the row's key by the
 * table's key columns; when the block that sealed it named rows by other
 * columns (the primary key changed since), it is left holding the key by
 * those.
 */
static int64
already_sealed(List *sets, StoredBlock *blocks, SealColumns *key, AgBuf *keybuf,
			   TupleTableSlot *slot, AgBuf *scratch)
{
	ListCell   *lc;

	foreach(lc, sets)
	{
		KeySet	   *set = lfirst(lc);
		AgBuf	   *enc = keybuf;
		SealedKey  *entry;

		if (set->key->missing != NULL)
			continue;			/* a key column is gone: none of these match */
		if (!audit_guard_same_names(set->key->ncolumns, set->key->names,
									key->ncolumns, key->names))
		{
			scratch->len = 0;
			audit_guard_encode(scratch, set->key, slot);
			enc = scratch;
		}
		entry = audit_guard_key_lookup(set, enc->data, (uint32) enc->len);
		if (entry == NULL)
			continue;
		/* an erasure names the row as its block did, by that block's key */
		if (enc == scratch)
		{
			keybuf->len = 0;
			ag_buf_append(keybuf, scratch->data, scratch->len);
		}
		return blocks[entry->block_index].block;
	}
	return 0;
}

/* Remember a row an erasure matched: its key, block and TID. */
static void
add_erased(EraseScan *erase, const AgBuf *key, int64 block, ItemPointer tid)
{
	if (erase->n + 1 >= erase->cap)
	{
		erase->cap = erase->cap ? erase->cap * 2 : 1024;
		erase->key_offsets = erase->key_offsets ?
			repalloc_huge(erase->key_offsets, sizeof(size_t) * erase->cap) :
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(size_t) * erase->cap);
		erase->blocks = erase->blocks ?
			repalloc_huge(erase->blocks, sizeof(int64) * erase->cap) :
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * erase->cap);
		erase->tids = erase->tids ?
			repalloc_huge(erase->tids, sizeof(ItemPointerData) * erase->cap) :
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ItemPointerData) * erase->cap);
	}
	erase->key_offsets[erase->n] = erase->keys.len;
	ag_buf_append(&erase->keys, key->data, key->len);
	erase->blocks[erase->n] = block;
	erase->tids[erase->n] = *tid;
	erase->n++;
	erase->key_offsets[erase->n] = erase->keys.len;
}

/*
 * One seal's pass over a table.  prev: the previous seal's snapshot, when
 * it can serve (seal_snapshot.c); the sealed keys are then read only if a
 * row it cannot place turns up.
 */
typedef struct SealPass
{
	Relation	rel;
	Snapshot	snapshot;
	Snapshot	prev;
	bool		loaded;			/* blocks and sets read */
	StoredBlock *blocks;
	int			nblocks;
	List	   *sets;
	SealColumns *cols;
	SealColumns *key;
	NewRows    *rows;
	EraseScan  *erase;
} SealPass;

/* Read the sealed keys, once. */
static void
load_sealed_keys(SealPass *pass)
{
	if (pass->loaded)
		return;
	pass->blocks = audit_guard_read_blocks(RelationGetRelid(pass->rel),
										   pass->snapshot, false, &pass->nblocks);
	pass->sets = audit_guard_key_sets(pass->rel, pass->blocks, pass->nblocks,
									  false, NULL);
	pass->loaded = true;
}

/*
 * The block that sealed the row in slot (its key encoded in keybuf), or 0.
 * Rows the previous seal did not see (seen) are new without a look at the
 * keys.
 */
static int64
sealed_in(SealPass *pass, SeenBy seen, TupleTableSlot *slot, AgBuf *keybuf,
		  AgBuf *scratch, MemoryContext cxt)
{
	MemoryContext old;

	if (seen == SEEN_NEW)
		return 0;
	if (!pass->loaded)
	{
		old = MemoryContextSwitchTo(cxt);
		load_sealed_keys(pass);
		MemoryContextSwitchTo(old);
	}
	return already_sealed(pass->sets, pass->blocks, pass->key, keybuf, slot, scratch);
}

/*
 * Scan the table with the pass's snapshot and collect every row no block
 * covers: its key and its leaf hash over the columns.  With an erasure,
 * also every row it matches, with the block that sealed it (-1: the new
 * one).  With the previous seal's snapshot, the rows it saw are skipped
 * before they are even deformed.
 */
static void
collect_new_rows(SealPass *pass)
{
	TupleTableSlot *slot = table_slot_create(pass->rel, NULL);
	TableScanDesc scan = ag_table_beginscan(pass->rel, pass->snapshot);
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext rowcxt = AllocSetContextCreate(cxt, "audit_guard seal row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	AgBuf		keybuf;
	AgBuf		rowbuf;
	AgBuf		scratch;
	unsigned char leaf[AG_HASH_LEN];
	int64		block;
	bool		matched;
	SeenBy		seen;

	/* allocated here, so that they outlive the per-row context */
	ag_buf_init(&keybuf);
	ag_buf_init(&rowbuf);
	ag_buf_init(&scratch);
	ag_buf_reserve(&keybuf, 1024);
	ag_buf_reserve(&rowbuf, 8192);
	ag_buf_reserve(&scratch, 1024);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		seen = pass->prev ? audit_guard_seen_by(slot, pass->prev) : SEEN_UNSURE;
		if (seen == SEEN_SEALED)
			continue;
		slot_getallattrs(slot);
		old = MemoryContextSwitchTo(rowcxt);
		keybuf.len = 0;
		audit_guard_encode(&keybuf, pass->key, slot);
		block = sealed_in(pass, seen, slot, &keybuf, &scratch, cxt);
		if (block == 0)
		{
			rowbuf.len = 0;
			audit_guard_encode(&rowbuf, pass->cols, slot);
			ag_leaf_hash(rowbuf.data, rowbuf.len, leaf);
		}
		matched = pass->erase != NULL && pass->erase->match(slot, pass->erase->arg);
		MemoryContextSwitchTo(old);
		if (block == 0)
			add_row(pass->rows, keybuf.data, keybuf.len, leaf);
		if (matched)
			add_erased(pass->erase, &keybuf, block == 0 ? -1 : block,
					   &slot->tts_tid);
		MemoryContextReset(rowcxt);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(rowcxt);
}

/* A C array of names as a text[] datum. */
static Datum
names_array(int n, const char **names)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* A bytea datum holding len bytes (erase.c writes with it too). */
Datum
audit_guard_bytea_datum(const void *data, size_t len)
{
	bytea	   *b = palloc_extended(len + VARHDRSZ, MCXT_ALLOC_HUGE);

	SET_VARSIZE(b, len + VARHDRSZ);
	memcpy(VARDATA(b), data, len);
	return PointerGetDatum(b);
}

/* Write one block: its header row, then its rows in chunks, in key order. */
static void
write_block(Oid relid, AgBlockHeader *header, const unsigned char *hash,
			NewRows *rows, size_t *order, const unsigned char *sorted_leaves,
			const char *seal_snapshot)
{
	Oid			btypes[11] = {REGCLASSOID, INT8OID, TEXTARRAYOID, TEXTARRAYOID,
	INT8OID, BYTEAOID, BYTEAOID, BYTEAOID, TEXTOID, NAMEOID, TEXTOID};
	Datum		bvalues[11];
	char		bnulls[12] = "           ";
	Oid			ctypes[6] = {REGCLASSOID, INT8OID, INT4OID, INT4OID, BYTEAOID, BYTEAOID};
	Datum		cvalues[6];
	int			nestlevel = audit_guard_begin_spi();
	size_t		start;
	int			chunk = 0;

	bvalues[0] = ObjectIdGetDatum(relid);
	bvalues[1] = Int64GetDatum(header->block);
	bvalues[2] = names_array(header->ncolumns, (const char **) header->columns);
	bvalues[3] = names_array(header->nkeys, (const char **) header->keys);
	bvalues[4] = Int64GetDatum(header->row_count);
	bvalues[5] = audit_guard_bytea_datum(header->root, AG_HASH_LEN);
	bvalues[6] = audit_guard_bytea_datum(header->prev_hash, AG_HASH_LEN);
	bvalues[7] = audit_guard_bytea_datum(hash, AG_HASH_LEN);
	bvalues[8] = CStringGetTextDatum(audit_guard_table_name(relid));
	bvalues[9] = DirectFunctionCall1(namein,
									 CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	bvalues[10] = seal_snapshot ? CStringGetTextDatum(seal_snapshot) : (Datum) 0;
	bnulls[10] = seal_snapshot ? ' ' : 'n';

	for (start = 0; start < rows->n; start += AG_CHUNK_ROWS)
	{
		size_t		end = Min(start + AG_CHUNK_ROWS, rows->n);
		AgBuf		keys;
		size_t		i;

		ag_buf_init(&keys);
		for (i = start; i < end; i++)
			ag_buf_append(&keys, rows->keys.data + rows->key_offsets[order[i]],
						  rows->key_offsets[order[i] + 1] - rows->key_offsets[order[i]]);
		cvalues[0] = ObjectIdGetDatum(relid);
		cvalues[1] = Int64GetDatum(header->block);
		cvalues[2] = Int32GetDatum(chunk++);
		cvalues[3] = Int32GetDatum((int32) (end - start));
		cvalues[4] = audit_guard_bytea_datum(keys.data, keys.len);
		cvalues[5] = audit_guard_bytea_datum(sorted_leaves + start * AG_HASH_LEN,
								 (end - start) * AG_HASH_LEN);
		audit_guard_write_own_table("INSERT INTO audit_guard.seal_rows"
									" (relid, block, chunk, row_count, keys, leaves)"
									" VALUES ($1, $2, $3, $4, $5, $6)",
									6, ctypes, cvalues, SPI_OK_INSERT);
		pfree(DatumGetPointer(cvalues[4]));
		pfree(DatumGetPointer(cvalues[5]));
		ag_buf_free(&keys);
	}
	audit_guard_write_own_table_nulls("INSERT INTO audit_guard.seal_blocks"
									  " (relid, block, columns, key_columns, row_count,"
									  " root, prev_hash, block_hash, table_name, sealed_by,"
									  " seal_snapshot)"
									  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
									  11, btypes, bvalues, bnulls, SPI_OK_INSERT);
	audit_guard_end_spi(nestlevel);
}

/*
 * The last block of a chain, which the new block names as its previous.
 * seal() extends a chain whatever verify() would say of it: damage to the
 * seal data is evidence, reported by verify() for good, and must not stop
 * the sealing of what comes after.  A head whose stored hash is not 32
 * bytes long is named by 32 zero bytes.
 */
static ChainHead
chain_head(StoredBlock *blocks, int nblocks)
{
	ChainHead	head = {0};
	int			i;

	for (i = nblocks - 1; i >= 0; i--)
	{
		if (!blocks[i].header)
			continue;
		head.block = blocks[i].block;
		if (blocks[i].hashes_ok)
			memcpy(head.hash, blocks[i].block_hash, AG_HASH_LEN);
		break;
	}
	return head;
}

/* Ensure rel has a primary key to name its rows by; returns its columns. */
static SealColumns *
require_key(Relation rel)
{
	SealColumns *key = audit_guard_key_columns(rel);

	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot seal table %s: it has no primary key",
						audit_guard_table_name(RelationGetRelid(rel))),
				 errdetail("A seal names each row by its primary key, so that verify() can say which row changed or went missing."),
				 errhint("Add one, for example ALTER TABLE %s ADD PRIMARY KEY (id), as the table's owner.",
						 audit_guard_table_name(RelationGetRelid(rel)))));
	return key;
}

/* Sort the new rows by key and write them as block number head + 1. */
static int64
write_new_block(Oid relid, NewRows *rows, ChainHead head, SealColumns *cols,
				SealColumns *key, const char *seal_snapshot, unsigned char *hash)
{
	size_t	   *order = MemoryContextAllocHuge(CurrentMemoryContext,
											   sizeof(size_t) * rows->n);
	unsigned char *sorted = MemoryContextAllocHuge(CurrentMemoryContext,
												   rows->n * AG_HASH_LEN);
	AgBlockHeader header;
	size_t		i;

	for (i = 0; i < rows->n; i++)
		order[i] = i;
	qsort_arg(order, rows->n, sizeof(size_t), row_cmp, rows);
	for (i = 0; i < rows->n; i++)
		memcpy(sorted + i * AG_HASH_LEN,
			   rows->leaves.data + order[i] * AG_HASH_LEN, AG_HASH_LEN);

	memcpy(header.prev_hash, head.hash, AG_HASH_LEN);
	header.block = head.block + 1;
	ag_merkle_root(sorted, rows->n, header.root);
	header.row_count = (int64) rows->n;
	header.ncolumns = cols->ncolumns;
	header.columns = cols->names;
	header.nkeys = key->ncolumns;
	header.keys = key->names;
	ag_block_hash(&header, hash);
	write_block(relid, &header, hash, rows, order, sorted, seal_snapshot);
	return header.block;
}

/* Add seal()'s result row for a new block. */
static void
put_result(Tuplestorestate *store, TupleDesc desc, Oid relid, int64 block,
		   int64 rows, const unsigned char *hash)
{
	char		hex[AG_HEX_LEN + 1];
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	ag_hex(hash, AG_HASH_LEN, hex);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int64GetDatum(block);
	values[2] = Int64GetDatum(rows);
	values[3] = CStringGetTextDatum(hex);
	tuplestore_putvalues(store, desc, values, nulls);
}

/* Tell an erasure what this seal saw and wrote. */
static void
fill_erase_scan(EraseScan *erase, StoredBlock *blocks, int nblocks,
				ChainHead head, int64 new_block, int64 new_rows,
				SealColumns *key)
{
	size_t		i;

	erase->stored = blocks;
	erase->nstored = nblocks;
	erase->new_block = new_block;
	erase->new_rows = new_rows;
	erase->head = head.block;
	memcpy(erase->head_hash, head.hash, AG_HASH_LEN);
	erase->key = key;
	for (i = 0; i < erase->n; i++)
		if (erase->blocks[i] < 0)
			erase->blocks[i] = new_block;
}

/*
 * Seal one table: lock its chain, read what is sealed, hash what is not,
 * write the block.  Adds a result row unless there was nothing to seal.
 * With an erasure (erase.c), also collects the rows it matches, and
 * leaves the lock, the table's lock and the snapshot for it to delete
 * with; the memory is then the caller's.
 */
static void
seal_one(Oid relid, Tuplestorestate *store, TupleDesc desc, EraseScan *erase)
{
	MemoryContext cxt = erase ? CurrentMemoryContext :
		AllocSetContextCreate(CurrentMemoryContext, "audit_guard seal",
							  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SealPass	pass = {0};
	ChainHead	head;
	NewRows		rows = {0};
	int64		new_block = 0;
	int64		seal_block;
	bool		own_writes;

	/* one seal per table at a time; INSERT and SELECT are not blocked */
	LockDatabaseObject(audit_guard_seal_blocks_table(), relid, 0, ExclusiveLock);
	pass.rel = try_table_open(relid, AccessShareLock);
	if (pass.rel == NULL)
	{
		MemoryContextSwitchTo(old);
		if (!erase)
			MemoryContextDelete(cxt);
		return;					/* dropped while we waited */
	}
	pass.key = require_key(pass.rel);
	pass.cols = audit_guard_live_columns(pass.rel);

	/*
	 * Rows this transaction wrote before are visible to the snapshot, but
	 * their transaction is in progress to it: the snapshot could not tell
	 * them from new rows, so the next seal will look every row up.
	 */
	own_writes = TransactionIdIsValid(GetTopTransactionIdIfAny());
	pass.snapshot = RegisterSnapshot(GetLatestSnapshot());
	pass.rows = &rows;
	pass.erase = erase;

	/* an erasure needs the block of every row: it reads every key */
	if (erase == NULL)
		pass.prev = audit_guard_usable_seal_snapshot(pass.rel, pass.snapshot,
													 &head.block, head.hash,
													 &seal_block);
	if (pass.prev == NULL)
	{
		load_sealed_keys(&pass);
		head = chain_head(pass.blocks, pass.nblocks);
	}
	ag_buf_init(&rows.keys);
	ag_buf_init(&rows.leaves);
	collect_new_rows(&pass);

	if (rows.n > 0)
	{
		unsigned char hash[AG_HASH_LEN];

		new_block = write_new_block(relid, &rows, head, pass.cols, pass.key,
									own_writes ? NULL :
									audit_guard_seal_snapshot_text(pass.snapshot),
									hash);
		if (store)
			put_result(store, desc, relid, new_block, (int64) rows.n, hash);
		head.block = new_block;
		memcpy(head.hash, hash, AG_HASH_LEN);
	}
	MemoryContextSwitchTo(old);
	if (erase)
	{
		erase->snapshot = pass.snapshot;
		fill_erase_scan(erase, pass.blocks, pass.nblocks, head, new_block,
						(int64) rows.n, pass.key);
		table_close(pass.rel, NoLock);
		return;
	}
	UnregisterSnapshot(pass.snapshot);
	table_close(pass.rel, AccessShareLock);
	MemoryContextDelete(cxt);
}

/*
 * The first step of purge() and redact(): seal relid, collecting the rows
 * erase matches among everything the seal's snapshot sees.  The caller
 * checks who may erase.
 */
void
audit_guard_seal_for_erasure(Oid relid, EraseScan *erase)
{
	int			encoding = audit_guard_encoding_begin();

	ag_buf_init(&erase->keys);
	PG_TRY();
	{
		audit_guard_hash_begin();
		seal_one(relid, NULL, NULL, erase);
	}
	PG_FINALLY();
	{
		audit_guard_hash_end();
		audit_guard_encoding_end(encoding);
	}
	PG_END_TRY();
}

/*
 * Who may seal relid: its designated owner (membership, superuser status
 * not counting, as everywhere in audit_guard), its owner, a superuser.
 * history: a superuser, its owner, or the designated owner of any
 * protected table (sealing it only records what it holds).
 */
bool
audit_guard_may_seal(Oid relid)
{
	Oid			user = GetUserId();
	Oid			owner;
	ListCell   *lc;

	if (superuser() || ag_class_ownercheck(relid, user))
		return true;
	if (relid != audit_guard_history_relid())
	{
		owner = audit_guard_owner_of(relid);
		return OidIsValid(owner) && is_member_of_role_nosuper(user, owner);
	}
	foreach(lc, audit_guard_protected_tables())
	{
		owner = audit_guard_owner_of(lfirst_oid(lc));
		if (OidIsValid(owner) && is_member_of_role_nosuper(user, owner))
			return true;
	}
	return false;
}

/* Ensure the caller may seal relid. */
static void
check_may_seal(Oid relid)
{
	Oid			owner = audit_guard_owner_of(relid);

	if (audit_guard_may_seal(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to seal table %s", audit_guard_table_name(relid)),
			 OidIsValid(owner) ?
			 errdetail("Only members of its designated owner role \"%s\", its owner and superusers may seal it.",
					   GetUserNameFromId(owner, false)) :
			 errdetail("Only its owner, superusers and designated owners of protected tables may seal it."),
			 OidIsValid(owner) ?
			 errhint("Run audit_guard.seal() as a member of role \"%s\", for example from a pg_cron job.",
					 GetUserNameFromId(owner, false)) :
			 errhint("Run audit_guard.seal() as a designated owner.")));
}

/* Ensure relid is a table seal() can seal: protected, or history. */
static void
check_sealable(Oid relid)
{
	if (relid == audit_guard_history_relid() ||
		OidIsValid(audit_guard_owner_of(relid)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot seal table %s: it is not protected by audit_guard",
					get_rel_name(relid) ? audit_guard_table_name(relid) : "?"),
			 errdetail("A seal proves rows unchanged since; on a table that is not append-only that proves nothing."),
			 errhint("Protect it first with audit_guard.protect().")));
}

/*
 * The tables seal(tbl) seals, in OID order (the order their chains are
 * locked in): tbl, or its protected leaf partitions when it is a
 * partitioned table; with no tbl, every protected table with storage the
 * caller may seal, and history.
 */
pg_noinline static List *
seal_targets(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	if (OidIsValid(relid))
	{
		check_sealable(relid);
		if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		{
			check_may_seal(relid);
			return list_make1_oid(relid);
		}
		foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		{
			Oid			part = lfirst_oid(lc);

			if (get_rel_relkind(part) != RELKIND_RELATION ||
				!OidIsValid(audit_guard_owner_of(part)))
				continue;
			check_may_seal(part);
			result = lappend_oid(result, part);
		}
	}
	else
	{
		foreach(lc, audit_guard_protected_tables())
		{
			Oid			table = lfirst_oid(lc);

			if (get_rel_relkind(table) == RELKIND_RELATION &&
				audit_guard_may_seal(table))
				result = lappend_oid(result, table);
		}
		if (audit_guard_may_seal(audit_guard_history_relid()))
			result = lappend_oid(result, audit_guard_history_relid());
	}
	list_sort(result, list_oid_cmp);
	return result;
}

/* SQL: audit_guard.seal(tbl regclass DEFAULT NULL) */
Datum
audit_guard_seal(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *store = audit_guard_srf_begin(fcinfo, &desc);
	List	   *targets;
	ListCell   *lc;
	int			encoding;

	if (!audit_guard_extension_ready())
		elog(ERROR, "audit_guard registry not found");
	targets = seal_targets(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));

	encoding = audit_guard_encoding_begin();
	PG_TRY();
	{
		audit_guard_hash_begin();
		foreach(lc, targets)
			seal_one(lfirst_oid(lc), store, desc, NULL);
	}
	PG_FINALLY();
	{
		audit_guard_hash_end();
		audit_guard_encoding_end(encoding);
	}
	PG_END_TRY();
	return (Datum) 0;
}
