/*-------------------------------------------------------------------------
 *
 * seal.h
 *		Declarations shared by seal(), verify() and the code that reads
 *		and writes the seal data (seal_data.c).
 *
 * The format itself (encodings, hashes, tree) is in seal_format.h, shared
 * with the client; this header is the server's side of it: rows read from
 * heap tuples through the types' send functions, seal data read from
 * audit_guard.seal_blocks and audit_guard.seal_rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_GUARD_SEAL_H
#define AUDIT_GUARD_SEAL_H

#include "audit_guard.h"
#include "seal_format.h"

#include "access/genam.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/rel.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

/* One column of a row or key encoding, bound to the table as it is now. */
typedef struct SealColumn
{
	char	   *name;
	AttrNumber	attnum;			/* InvalidAttrNumber when the column is gone */
	Oid			typid;
	int			fast;			/* a FAST_* kind of seal_data.c, or 0 */
	FmgrInfo	send;
} SealColumn;

/* An ordered list of columns: a block's sealed columns, or its key. */
typedef struct SealColumns
{
	int			ncolumns;
	SealColumn *columns;
	const char **names;
	char	   *missing;		/* the first column that is gone, or NULL */
} SealColumns;

/* A key as bytes. */
typedef struct SealKeyRef
{
	const unsigned char *data;
	uint32		len;
} SealKeyRef;

/* Keys as bytes, in key order. */
typedef struct SealKeyRefArray
{
	SealKeyRef *keys;
	uint32		n;
} SealKeyRefArray;

/* One stored chunk of a block's rows. */
typedef struct StoredChunk
{
	int			chunk;
	int			row_count;
	bytea	   *keys;			/* detoasted */
	bytea	   *leaves;			/* detoasted; NULL when not read */
} StoredChunk;

/* What a block records: sealed rows, or an erasure of sealed rows. */
typedef enum BlockKind
{
	BLOCK_SEAL,
	BLOCK_PURGE,
	BLOCK_REDACT
} BlockKind;

/* One entry of an erasure block, as stored in audit_guard.seal_erasures. */
typedef struct StoredErasure
{
	int64		sealed_block;
	int64		row_count;
	bytea	   *keys;			/* detoasted; NULL: the whole block */
} StoredErasure;

/* A block as stored, with its rows. */
typedef struct StoredBlock
{
	int64		block;
	bool		header;			/* false: rows stored for a block with no header */
	BlockKind	kind;
	char	   *reason;			/* erasure blocks: NULL for a purge */
	List	   *entries;		/* erasure blocks: StoredErasure *, as stored */
	bool		erased_whole;	/* seal blocks: an erasure took every row */
	SealKeyRefArray *erased;	/* seal blocks: keys erased one by one, sorted */
	int			ncolumns;
	const char **columns;
	int			nkeys;
	const char **keys;
	int64		row_count;
	bool		hashes_ok;		/* root, prev_hash, block_hash are 32 bytes */
	unsigned char root[AG_HASH_LEN];
	unsigned char prev_hash[AG_HASH_LEN];
	unsigned char block_hash[AG_HASH_LEN];
	List	   *chunks;			/* StoredChunk *, by chunk number */
	bool		rows_ok;		/* keys and leaves parse and agree */
	bool		skip;			/* verify(): its rows cannot be checked */
	struct SealColumns *bound;	/* verify(): its columns, bound to the table */
} StoredBlock;


/* A sealed key found in the seal data. */
typedef struct SealedKey
{
	SealKeyRef	key;
	bool		found;			/* verify(): the table still has the row */
	int			block_index;	/* into the caller's array of StoredBlocks */
	const unsigned char *leaf;	/* NULL when leaves were not read */
} SealedKey;

/*
 * The sealed keys of one key-column list: every key in the order it is
 * stored (block by block, key order within a block), a cursor at the key
 * after the last one found, and a hash of them all, built when a lookup
 * misses the cursor (or at once, for verify(), to find keys sealed twice).
 * A table read in the order it was written meets its keys nearly in that
 * order, so most lookups cost one comparison.
 */
typedef struct KeySet
{
	SealColumns *key;			/* bound to the table */
	SealedKey  *entries;
	uint32		n;
	uint32		cap;
	uint32		cursor;
	struct keyset_hash *hash;	/* of entry indexes; NULL until needed */
} KeySet;

/* One problem verify() reports. */
typedef struct SealProblem
{
	Oid			relid;
	int64		block;			/* 0: none */
	SealKeyRef	key;			/* data NULL: no row */
	char	   *row_key;
	const char *problem;
	char	   *detail;
	int			seq;			/* order of discovery, for a stable sort */
} SealProblem;

/* seal_data.c: the format's hooks on the server side */
extern void audit_guard_hash_begin(void);
extern void audit_guard_hash_end(void);
extern int	audit_guard_encoding_begin(void);
extern void audit_guard_encoding_end(int saved);
extern Tuplestorestate *audit_guard_srf_begin(FunctionCallInfo fcinfo,
											  TupleDesc *tupdesc);

/* seal_data.c: columns and encodings */
extern SealColumns *audit_guard_bind_columns(Relation rel, int n,
											 const char **names);
extern SealColumns *audit_guard_live_columns(Relation rel);
extern SealColumns *audit_guard_key_columns(Relation rel);
extern bool audit_guard_same_names(int n1, const char **a,
								   int n2, const char **b);
extern void audit_guard_encode(AgBuf *buf, SealColumns *cols,
							   TupleTableSlot *slot);
extern char *audit_guard_key_text(SealColumns *key, const unsigned char *enc,
								  size_t len);
extern char *audit_guard_slot_key_text(SealColumns *key, TupleTableSlot *slot);

/* seal_data.c: stored seal data */
extern Oid	audit_guard_seal_blocks_table(void);
extern Oid	audit_guard_seal_rows_table(void);
extern Oid	audit_guard_seal_erasures_table(void);
extern SysScanDesc audit_guard_scan_by_relid(Relation rel, Oid relid,
											 Snapshot snapshot);
extern StoredBlock *audit_guard_read_blocks(Oid relid, Snapshot snapshot,
											bool leaves, int *nblocks);
extern StoredBlock *audit_guard_find_block(StoredBlock *blocks, int nblocks,
										   int64 n);
extern List *audit_guard_sealed_tables(Snapshot snapshot);
extern List *audit_guard_key_sets(Relation rel, StoredBlock *blocks,
								  int nblocks, bool hash, List **problems);
extern SealedKey *audit_guard_key_lookup(KeySet *set, const unsigned char *key,
										 uint32 keylen);
extern void audit_guard_key_iterate(KeySet *set,
									void (*fn) (SealedKey *entry, void *arg),
									void *arg);
extern SealProblem *audit_guard_problem(List **problems, Oid relid,
										int64 block, const char *problem,
										const char *fmt,...) pg_attribute_printf(5, 6);

/* seal_erasures.c: erasure blocks as stored, checked, applied */
extern void audit_guard_read_erasures(Oid relid, Snapshot snapshot,
									  StoredBlock *blocks, int nblocks);
extern void audit_guard_apply_erasures(Relation rel, StoredBlock *blocks,
									   int nblocks, List **problems);
extern void audit_guard_erasure_hashes(StoredBlock *block,
									   unsigned char *root,
									   unsigned char *hash);
extern const char *audit_guard_block_kind_name(BlockKind kind);

/* seal_snapshot.c: what the previous seal saw */
typedef enum SeenBy
{
	SEEN_SEALED,
	SEEN_NEW,
	SEEN_UNSURE
} SeenBy;

extern char *audit_guard_seal_snapshot_text(Snapshot snapshot);
extern Snapshot audit_guard_usable_seal_snapshot(Relation rel, Snapshot snapshot,
												 int64 *head_block,
												 unsigned char *head_hash,
												 int64 *seal_block);
extern SeenBy audit_guard_seen_by(TupleTableSlot *slot, Snapshot prev);

/* seal.c: who may seal, and sealing as the first step of an erasure */
extern bool audit_guard_may_seal(Oid relid);

/*
 * An erasure's pass over a table (erase.c): seal() calls match for every
 * row its snapshot sees and collects the key and block of each row it
 * matches, so that purge() and redact() delete exactly what is sealed.
 */
typedef struct EraseScan
{
	bool		(*match) (TupleTableSlot *slot, void *arg);
	void	   *arg;
	/* filled in by seal */
	Snapshot	snapshot;		/* registered; the caller unregisters it */
	AgBuf		keys;			/* the matching rows' key encodings */
	size_t	   *key_offsets;	/* n + 1 */
	int64	   *blocks;			/* the block that sealed each */
	ItemPointerData *tids;
	size_t		n;
	size_t		cap;
	StoredBlock *stored;		/* the blocks before this seal */
	int			nstored;
	int64		new_block;		/* the block this seal wrote, or 0 */
	int64		new_rows;
	int64		head;			/* the chain's last block now */
	unsigned char head_hash[AG_HASH_LEN];
	SealColumns *key;
} EraseScan;

extern void audit_guard_seal_for_erasure(Oid relid, EraseScan *erase);
extern Datum audit_guard_bytea_datum(const void *data, size_t len);

/* retention.c: the checks purge() and redact() share with set_retention() */
extern Oid	audit_guard_require_erasure_caller(FunctionCallInfo fcinfo,
											   const char *function, int nargs);

#endif							/* AUDIT_GUARD_SEAL_H */
