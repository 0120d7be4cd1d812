/*-------------------------------------------------------------------------
 *
 * audit_guard_verify.c
 *		Verify audit_guard's seals from outside the server.
 *
 *	audit_guard_verify [-d CONNINFO] [--digest FILE] [--save-digest FILE]
 *					   [--show-erasures] [TABLE...]
 *
 * Reads the stored seal data and the sealed tables' rows (COPY ... TO
 * STDOUT (FORMAT binary): each column's binary send form, the bytes the
 * format hashes) in one REPEATABLE READ transaction, and recomputes every
 * leaf, root and block hash itself with the same implementation of the
 * format as the server (src/seal_format.c) and SHA-256 from libcrypto.  It
 * never calls the server's hashing or verification code; the server is
 * asked only for stored data, and to print a key of a missing row as text.
 *
 * Erasure blocks (a purge or a redaction) are chained like seal blocks
 * with a header of their own; their entries, read from seal_erasures, say
 * which sealed rows are gone by design.  Blocks are checked in chain order,
 * so that a key erased from one block may be sealed again by a later one.
 *
 * A digest file (what audit_guard.digest() returns, or what --save-digest
 * wrote) is parsed here too, and each of its chain heads must still be in
 * the chain, at the same block number, with the same hash.
 *
 * Exit status: 0 intact; 1 tampering found, one line per problem on
 * standard output (table, block, key, problem, detail, tab-separated, the
 * same columns as audit_guard.verify()); 2 usage or connection error.
 *
 *-------------------------------------------------------------------------
 */
#include "seal_format.h"
#include "json.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

#define PROGNAME "audit_guard_verify"

/* One stored chunk of a block's rows. */
typedef struct Chunk
{
	int			chunk;
	int			row_count;
	unsigned char *keys;
	size_t		keyslen;
	unsigned char *leaves;
	size_t		leaveslen;
} Chunk;

/* One block as stored, with what the client found out about it. */
typedef struct Block
{
	int64_t		block;
	bool		header;			/* false: rows stored without a header */
	char	   *kind;			/* "seal", "purge" or "redact" */
	char	   *reason;			/* NULL: none */
	bool		erase;			/* an erasure block: kind is not "seal" */
	AgErasure  *erasures;		/* an erasure block's entries, by sealed block */
	int			nerasures;
	bool		purge_named;	/* an entry erases it whole: rows may be gone */
	int64_t		erased_by;		/* the erasure block that erased it whole, or 0 */
	int64_t		rows_erased;	/* rows erased so far by entries with keys */
	int			ncolumns;
	char	  **columns;
	int			nkeys;
	char	  **keys;
	int64_t		row_count;
	bool		hashes_ok;
	unsigned char root[AG_HASH_LEN];
	unsigned char prev_hash[AG_HASH_LEN];
	unsigned char block_hash[AG_HASH_LEN];
	unsigned char computed[AG_HASH_LEN];	/* the header's hash, recomputed */
	Chunk	   *chunks;
	int			nchunks;
	bool		rows_ok;
	bool		skip;			/* its rows cannot be checked */
	int		   *colmap;			/* block column -> COPY column, or -1 */
	bool		identity;		/* colmap is 0, 1, 2 ...: hash the tuple as is */
} Block;

/* A sealed key, in an open-addressing hash table. */
typedef struct Entry
{
	const unsigned char *key;
	uint32_t	len;
	uint32_t	hash;
	int			block;			/* index into the table's blocks */
	const unsigned char *leaf;
	bool		used;
	bool		found;
	bool		erased;			/* an erasure entry removed it by its key */
} Entry;

/* The sealed keys of one key-column list. */
typedef struct KeySet
{
	int			nkeys;
	char	  **keys;
	int		   *colmap;			/* key column -> COPY column, or -1 */
	unsigned int *types;		/* key column types, for printing a key */
	bool		missing;
	Entry	   *entries;
	size_t		cap;
	size_t		n;
} KeySet;

/* One problem found. */
typedef struct Problem
{
	int64_t		block;
	const unsigned char *key;
	size_t		keylen;
	char	   *row_key;
	const char *problem;
	char	   *detail;
	int			seq;
	int			set_index;		/* the KeySet of key */
} Problem;

/* A table being verified. */
typedef struct Table
{
	char	   *oid;
	char	   *name;			/* schema-qualified, quoted as needed */
	Block	   *blocks;
	int			nblocks;
	KeySet	   *sets;
	int			nsets;
	KeySet		erased;			/* int64(block) || key of every erased key */
	int			ncopy;			/* columns in the COPY */
	char	  **copy_columns;
	unsigned int *copy_types;
	Problem    *problems;
	int			nproblems;
	int			capproblems;
	int64_t		rows_checked;
	char	   *retention;		/* {"keep", "time_column"} as JSON, or NULL */
} Table;

static void fatal(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));
static char *xprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static PGconn *conn;
static const char *schema_q;	/* the extension's schema, quoted */
static int	total_problems = 0;

/* Leave with status 2, after a message. */
static void
fatal(const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, PROGNAME ": ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n");
	if (conn)
		PQfinish(conn);
	exit(2);
}

/* malloc that does not return NULL. */
static void *
xmalloc(size_t size)
{
	return ag_fmt_alloc(size);
}

/* calloc that does not return NULL. */
static void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	char	   *p = xmalloc(strlen(s) + 1);

	strcpy(p, s);
	return p;
}

/* printf into new memory. */
static char *
xprintf(const char *fmt,...)
{
	va_list		args;
	int			n;
	char	   *out;

	va_start(args, fmt);
	n = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	out = xmalloc((size_t) n + 1);
	va_start(args, fmt);
	vsnprintf(out, (size_t) n + 1, fmt, args);
	va_end(args);
	return out;
}

/* Hex of a hash in new memory. */
static char *
hex_of(const unsigned char *hash)
{
	char	   *out = xmalloc(AG_HEX_LEN + 1);

	ag_hex(hash, AG_HASH_LEN, out);
	return out;
}

/* Run a query with text parameters; binary results when binary. */
static PGresult *
query(const char *sql, int nparams, const char *const *params, bool binary)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL,
								   binary ? 1 : 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		PQresultStatus(res) != PGRES_COMMAND_OK)
		fatal("query failed: %s", PQerrorMessage(conn));
	return res;
}

/* Run a command that returns nothing. */
static void
command(const char *sql)
{
	PQclear(query(sql, 0, NULL, false));
}

/* ---- binary values ---- */

/* A binary int8 (or int4, by length) column value. */
static int64_t
get_int(const PGresult *res, int row, int col)
{
	const unsigned char *p = (const unsigned char *) PQgetvalue(res, row, col);

	if (PQgetlength(res, row, col) == 8)
		return ag_get_int64(p);
	if (PQgetlength(res, row, col) == 4)
		return ag_get_int32(p);
	fatal("unexpected integer of %d bytes", PQgetlength(res, row, col));
	return 0;
}

/* A binary bytea value copied out. */
static unsigned char *
get_bytes(const PGresult *res, int row, int col, size_t *len)
{
	*len = (size_t) PQgetlength(res, row, col);
	return memcpy(xmalloc(*len), PQgetvalue(res, row, col), *len);
}

/* A binary text value as a C string; NULL for SQL NULL. */
static char *
get_string(const PGresult *res, int row, int col)
{
	size_t		len = (size_t) PQgetlength(res, row, col);
	char	   *out;

	if (PQgetisnull(res, row, col))
		return NULL;
	out = xmalloc(len + 1);
	memcpy(out, PQgetvalue(res, row, col), len);
	out[len] = '\0';
	return out;
}

/* A binary text[] value as a C array (array_send's format). */
static char **
get_text_array(const PGresult *res, int row, int col, int *n)
{
	const unsigned char *p = (const unsigned char *) PQgetvalue(res, row, col);
	size_t		len = (size_t) PQgetlength(res, row, col);
	size_t		pos = 12;
	int			ndim;
	char	  **out;
	int			i;

	*n = 0;
	if (len < 12)
		return xcalloc(1, sizeof(char *));
	ndim = ag_get_int32(p);
	if (ndim == 0)
		return xcalloc(1, sizeof(char *));
	if (ndim != 1 || len < 20)
		fatal("unexpected array in the seal data");
	*n = ag_get_int32(p + 12);
	pos = 20;
	out = xcalloc((size_t) *n + 1, sizeof(char *));
	for (i = 0; i < *n; i++)
	{
		const unsigned char *data;
		int32_t		flen = ag_next_field(p, len, &pos, &data);

		if (flen < 0)
			out[i] = xstrdup("");
		else
		{
			out[i] = xmalloc((size_t) flen + 1);
			memcpy(out[i], data, (size_t) flen);
			out[i][flen] = '\0';
		}
	}
	return out;
}

/* True when two lists of names are equal. */
static bool
same_names(int n1, char **a, int n2, char **b)
{
	int			i;

	if (n1 != n2)
		return false;
	for (i = 0; i < n1; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* ---- problems ---- */

/* Record a problem of table t. */
static Problem *
problem(Table *t, int64_t block, const char *what, char *detail)
{
	Problem    *p;

	if (t->nproblems == t->capproblems)
	{
		t->capproblems = t->capproblems ? t->capproblems * 2 : 16;
		t->problems = ag_fmt_realloc(t->problems, sizeof(Problem) * t->capproblems);
	}
	p = &t->problems[t->nproblems];
	memset(p, 0, sizeof(Problem));
	p->block = block;
	p->problem = what;
	p->detail = detail;
	p->seq = t->nproblems++;
	return p;
}

/* Order problems as verify() does: block, then key, then discovery. */
static int
problem_cmp(const void *a, const void *b)
{
	const Problem *x = a;
	const Problem *y = b;

	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	if ((x->key == NULL) != (y->key == NULL))
		return x->key == NULL ? -1 : 1;
	if (x->key != NULL)
	{
		int			c = ag_key_compare(x->key, x->keylen, y->key, y->keylen);

		if (c != 0)
			return c;
	}
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- sealed keys ---- */

/* FNV-1a over a key. */
static uint32_t
key_hash(const unsigned char *key, size_t len)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= key[i];
		h *= 16777619u;
	}
	return h;
}

/* The slot of key in set: its entry, or the empty slot it would take. */
static Entry *
key_slot(KeySet *set, const unsigned char *key, uint32_t len, uint32_t hash)
{
	size_t		mask = set->cap - 1;
	size_t		i = hash & mask;

	while (set->entries[i].used)
	{
		Entry	   *e = &set->entries[i];

		if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
		i = (i + 1) & mask;
	}
	return &set->entries[i];
}

/* Make room for one more key, keeping the table at most half full. */
static void
key_grow(KeySet *set)
{
	Entry	   *old = set->entries;
	size_t		oldcap = set->cap;
	size_t		i;

	if (set->cap != 0 && (set->n + 1) * 2 <= set->cap)
		return;
	set->cap = set->cap ? set->cap * 2 : 1024;
	set->entries = xcalloc(set->cap, sizeof(Entry));
	for (i = 0; i < oldcap; i++)
		if (old[i].used)
			*key_slot(set, old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
}

/* The KeySet for a key-column list, made when first needed. */
static KeySet *
key_set_for(Table *t, int nkeys, char **keys)
{
	int			i;

	for (i = 0; i < t->nsets; i++)
		if (same_names(t->sets[i].nkeys, t->sets[i].keys, nkeys, keys))
			return &t->sets[i];
	t->sets = ag_fmt_realloc(t->sets, sizeof(KeySet) * (t->nsets + 1));
	memset(&t->sets[t->nsets], 0, sizeof(KeySet));
	t->sets[t->nsets].nkeys = nkeys;
	t->sets[t->nsets].keys = keys;
	return &t->sets[t->nsets++];
}

/* ---- reading the seal data ---- */

/* Order blocks by number. */
static int
block_cmp(const void *a, const void *b)
{
	int64_t		x = ((const Block *) a)->block;
	int64_t		y = ((const Block *) b)->block;

	return x < y ? -1 : x > y;
}

/* The block numbered n, or NULL. */
static Block *
find_block(Table *t, int64_t n)
{
	Block		key;

	key.block = n;
	return bsearch(&key, t->blocks, t->nblocks, sizeof(Block), block_cmp);
}

/* Read the table's block headers, in block order. */
static void
read_headers(Table *t)
{
	char	   *sql = xprintf("SELECT block, columns, key_columns, row_count, root,"
							  " prev_hash, block_hash, kind, reason FROM %s.seal_blocks"
							  " WHERE relid = $1::pg_catalog.oid ORDER BY block",
							  schema_q);
	const char *params[1] = {t->oid};
	PGresult   *res = query(sql, 1, params, true);
	int			i;

	t->nblocks = PQntuples(res);
	t->blocks = xcalloc((size_t) t->nblocks + 1, sizeof(Block));
	for (i = 0; i < t->nblocks; i++)
	{
		Block	   *b = &t->blocks[i];

		b->header = true;
		b->block = get_int(res, i, 0);
		b->columns = get_text_array(res, i, 1, &b->ncolumns);
		b->keys = get_text_array(res, i, 2, &b->nkeys);
		b->row_count = get_int(res, i, 3);
		b->hashes_ok = PQgetlength(res, i, 4) == AG_HASH_LEN &&
			PQgetlength(res, i, 5) == AG_HASH_LEN &&
			PQgetlength(res, i, 6) == AG_HASH_LEN;
		if (b->hashes_ok)
		{
			memcpy(b->root, PQgetvalue(res, i, 4), AG_HASH_LEN);
			memcpy(b->prev_hash, PQgetvalue(res, i, 5), AG_HASH_LEN);
			memcpy(b->block_hash, PQgetvalue(res, i, 6), AG_HASH_LEN);
		}
		b->kind = get_string(res, i, 7);
		if (b->kind == NULL)
			b->kind = xstrdup("");	/* reported as an unknown kind */
		b->reason = get_string(res, i, 8);
		b->erase = strcmp(b->kind, "seal") != 0;
	}
	PQclear(res);
	free(sql);
}

/* Read the table's stored rows, attaching each chunk to its block. */
static void
read_chunks(Table *t)
{
	char	   *sql = xprintf("SELECT block, chunk, row_count, keys, leaves"
							  " FROM %s.seal_rows WHERE relid = $1::pg_catalog.oid"
							  " ORDER BY block, chunk", schema_q);
	const char *params[1] = {t->oid};
	PGresult   *res = query(sql, 1, params, true);
	int			headers = t->nblocks;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		int64_t		number = get_int(res, i, 0);
		Block	   *b = find_block(t, number);
		Chunk	   *c;

		if (b == NULL)
		{
			/* rows without a header: a block of their own, to report */
			t->blocks = ag_fmt_realloc(t->blocks, sizeof(Block) * (t->nblocks + 1));
			b = &t->blocks[t->nblocks++];
			memset(b, 0, sizeof(Block));
			b->block = number;
			qsort(t->blocks, t->nblocks, sizeof(Block), block_cmp);
			b = find_block(t, number);
		}
		b->chunks = ag_fmt_realloc(b->chunks, sizeof(Chunk) * (b->nchunks + 1));
		c = &b->chunks[b->nchunks++];
		c->chunk = (int) get_int(res, i, 1);
		c->row_count = (int) get_int(res, i, 2);
		c->keys = get_bytes(res, i, 3, &c->keyslen);
		c->leaves = get_bytes(res, i, 4, &c->leaveslen);
	}
	(void) headers;
	PQclear(res);
	free(sql);
}

/*
 * Read the table's erasure entries, attaching each to its erasure block in
 * sealed-block order (the order the erasure root hashes them in).  Entries
 * of a block that is not an erasure block are reported and left out.
 */
static void
read_erasures(Table *t)
{
	char	   *sql = xprintf("SELECT block, sealed_block, row_count, keys"
							  " FROM %s.seal_erasures WHERE relid = $1::pg_catalog.oid"
							  " ORDER BY block, sealed_block", schema_q);
	const char *params[1] = {t->oid};
	PGresult   *res = query(sql, 1, params, true);
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		int64_t		number = get_int(res, i, 0);
		Block	   *b = find_block(t, number);
		AgErasure  *e;

		if (b == NULL || !b->header || !b->erase)
		{
			problem(t, number, "seal data edited",
					xprintf("erasure entries are stored for block %" PRId64 ", which is no erasure block",
							number));
			continue;
		}
		b->erasures = ag_fmt_realloc(b->erasures, sizeof(AgErasure) * (b->nerasures + 1));
		e = &b->erasures[b->nerasures++];
		e->sealed_block = get_int(res, i, 1);
		e->row_count = get_int(res, i, 2);
		e->keys = PQgetisnull(res, i, 3) ? NULL : get_bytes(res, i, 3, &e->keys_len);
		if (e->keys == NULL)
			e->keys_len = 0;
	}
	PQclear(res);
	free(sql);
}

/*
 * Mark the blocks some erasure entry erases whole: the purge deleted their
 * stored rows, so that having none is no damage.  Whether the entry itself
 * is sound is checked in chain order later (check_erasure).
 */
static void
mark_purged(Table *t)
{
	int			i;
	int			j;

	for (i = 0; i < t->nblocks; i++)
		for (j = 0; j < t->blocks[i].nerasures; j++)
		{
			AgErasure  *e = &t->blocks[i].erasures[j];
			Block	   *sealed = e->keys ? NULL : find_block(t, e->sealed_block);

			if (sealed && sealed->header && !sealed->erase &&
				sealed->block < t->blocks[i].block)
				sealed->purge_named = true;
		}
}

/* ---- the chain ---- */

/* Seal data found inconsistent: report it, and leave the block's rows. */
static void
damaged(Table *t, Block *b, char *what)
{
	b->rows_ok = false;
	problem(t, b->block, "seal data edited", what);
}

/*
 * True when an erasure removed the sealed key of e: by its key, or with
 * its whole block.  Its row is not looked for, a row with that key is a
 * new one, and a later block may seal the key again.
 */
static bool
entry_erased(Table *t, const Entry *e)
{
	return e->erased || t->blocks[e->block].erased_by != 0;
}

/* Add one sealed key of block index to set; a key sealed twice is reported. */
static void
add_key(Table *t, int index, KeySet *set, const unsigned char *key,
		size_t klen, const unsigned char *leaf)
{
	uint32_t	hash;
	Entry	   *e;

	key_grow(set);
	hash = key_hash(key, klen);
	e = key_slot(set, key, (uint32_t) klen, hash);
	if (e->used && !entry_erased(t, e))
	{
		/* the first stays the one rows are checked against */
		Problem    *p = problem(t, t->blocks[index].block, "row sealed twice",
								xprintf("block %" PRId64 " sealed this key already",
										t->blocks[e->block].block));

		p->key = key;
		p->keylen = klen;
		p->set_index = (int) (set - t->sets);
		return;
	}
	if (!e->used)
		set->n++;
	/* a new key, or one erased before and sealed again: this block's now */
	memset(e, 0, sizeof(Entry));
	e->used = true;
	e->key = key;
	e->len = (uint32_t) klen;
	e->hash = hash;
	e->block = index;
	e->leaf = leaf;
}

/*
 * Add the keys of one chunk, checking them as verify() does; *prev is the
 * last key before it, *rows the rows so far.  False when the block's
 * stored rows are damaged (reported).
 */
static bool
add_chunk_keys(Table *t, int index, KeySet *set, Chunk *chunk,
			   const unsigned char **prev, size_t *prevlen, int64_t *rows)
{
	Block	   *b = &t->blocks[index];
	size_t		pos = 0;
	int			i;

	if (chunk->leaveslen != (size_t) chunk->row_count * AG_HASH_LEN)
	{
		damaged(t, b, xprintf("chunk %d stores %zu bytes of leaf hashes for %d rows",
							  chunk->chunk, chunk->leaveslen, chunk->row_count));
		return false;
	}
	for (i = 0; i < chunk->row_count; i++)
	{
		long		klen = ag_key_length(chunk->keys + pos, chunk->keyslen - pos,
										 set->nkeys);
		const unsigned char *key = chunk->keys + pos;

		if (klen < 0)
		{
			damaged(t, b, xprintf("key %d of chunk %d is malformed", i, chunk->chunk));
			return false;
		}
		if (*prev && ag_key_compare(*prev, *prevlen, key, (size_t) klen) >= 0)
		{
			damaged(t, b, xprintf("key %d of chunk %d is not in key order", i, chunk->chunk));
			return false;
		}
		*prev = key;
		*prevlen = (size_t) klen;
		add_key(t, index, set, key, (size_t) klen,
				chunk->leaves + (size_t) i * AG_HASH_LEN);
		pos += (size_t) klen;
		(*rows)++;
	}
	if (pos != chunk->keyslen)
	{
		damaged(t, b, xprintf("chunk %d has bytes after its last key", chunk->chunk));
		return false;
	}
	return true;
}

/*
 * Add one block's keys to its KeySet, checking them as verify() does.  A
 * block that an erasure entry erases whole may have no rows stored.
 */
static void
add_block_keys(Table *t, int index)
{
	Block	   *b = &t->blocks[index];
	KeySet	   *set = key_set_for(t, b->nkeys, b->keys);
	const unsigned char *prev = NULL;
	size_t		prevlen = 0;
	int64_t		rows = 0;
	int			c;

	b->rows_ok = true;
	if (b->nchunks == 0 && b->purge_named)
		return;
	for (c = 0; c < b->nchunks; c++)
	{
		if (b->chunks[c].chunk != c)
		{
			damaged(t, b, xprintf("chunk %d of its rows is missing", c));
			return;
		}
		if (!add_chunk_keys(t, index, set, &b->chunks[c], &prev, &prevlen, &rows))
			return;
	}
	if (b->header && rows != b->row_count)
		damaged(t, b, xprintf("the block records %" PRId64 " rows, but %" PRId64 " are stored",
							  b->row_count, rows));
}

/* The Merkle root of a block's stored leaves. */
static bool
stored_root(Block *b, unsigned char *root)
{
	AgBuf		leaves;
	int			c;

	if (!b->rows_ok || b->nchunks == 0)
		return false;
	ag_buf_init(&leaves);
	for (c = 0; c < b->nchunks; c++)
		ag_buf_append(&leaves, b->chunks[c].leaves, b->chunks[c].leaveslen);
	ag_merkle_root(leaves.data, leaves.len / AG_HASH_LEN, root);
	ag_buf_free(&leaves);
	return true;
}

/* Check that a block follows its predecessor in the chain. */
static void
check_link(Table *t, Block *b, Block *prev)
{
	static const unsigned char zero[AG_HASH_LEN];
	const unsigned char *want_prev = prev ? prev->block_hash : zero;

	if ((prev == NULL && b->block != 1) || (prev != NULL && b->block != prev->block + 1))
		problem(t, b->block, "chain broken",
				xprintf("block %" PRId64 " is missing before it",
						prev ? prev->block + 1 : (int64_t) 1));
	else if ((prev == NULL || prev->hashes_ok) &&
			 memcmp(b->prev_hash, want_prev, AG_HASH_LEN) != 0)
		problem(t, b->block, "chain broken",
				xprintf("its previous-block hash is %s, but block %" PRId64 " has hash %s",
						hex_of(b->prev_hash), b->block - 1, hex_of(want_prev)));
}

/* Check a seal block's hash, and its root against its stored leaves. */
static void
check_seal_hash(Table *t, Block *b)
{
	AgBlockHeader h;
	unsigned char root[AG_HASH_LEN];
	const char *oddity;

	memcpy(h.prev_hash, b->prev_hash, AG_HASH_LEN);
	h.block = b->block;
	memcpy(h.root, b->root, AG_HASH_LEN);
	h.row_count = b->row_count;
	h.ncolumns = b->ncolumns;
	h.columns = (const char *const *) b->columns;
	h.nkeys = b->nkeys;
	h.keys = (const char *const *) b->keys;
	ag_block_hash(&h, b->computed);
	if (memcmp(b->computed, b->block_hash, AG_HASH_LEN) != 0)
		problem(t, b->block, "seal data edited",
				xprintf("the stored block hash is %s, but the block's header hashes to %s",
						hex_of(b->block_hash), hex_of(b->computed)));
	else if ((oddity = ag_block_header_oddity(&h)) != NULL)
		problem(t, b->block, "seal data edited", xstrdup(oddity));
	if (stored_root(b, root) && memcmp(root, b->root, AG_HASH_LEN) != 0)
		problem(t, b->block, "seal data edited",
				xprintf("the stored leaf hashes give the root %s, but the block records %s",
						hex_of(root), hex_of(b->root)));
}

/*
 * Check an erasure block's hash (its own header, docs/format.md "Erasure
 * blocks"), and its root against its stored entries.
 */
static void
check_erase_hash(Table *t, Block *b)
{
	AgEraseHeader h;
	unsigned char root[AG_HASH_LEN];

	if (strcmp(b->kind, "purge") != 0 && strcmp(b->kind, "redact") != 0)
		problem(t, b->block, "seal data edited",
				xprintf("its kind is \"%s\", which is none of seal, purge and redact",
						b->kind));
	memcpy(h.prev_hash, b->prev_hash, AG_HASH_LEN);
	h.block = b->block;
	h.kind = b->kind;
	h.reason = b->reason;
	h.row_count = b->row_count;
	memcpy(h.root, b->root, AG_HASH_LEN);
	ag_erase_block_hash(&h, b->computed);
	if (memcmp(b->computed, b->block_hash, AG_HASH_LEN) != 0)
		problem(t, b->block, "seal data edited",
				xprintf("the stored block hash is %s, but the erasure block's header hashes to %s",
						hex_of(b->block_hash), hex_of(b->computed)));
	ag_erasures_root(b->erasures, (size_t) b->nerasures, root);
	if (memcmp(root, b->root, AG_HASH_LEN) != 0)
		problem(t, b->block, "seal data edited",
				xprintf("the stored erasure entries give the root %s, but the block records %s",
						hex_of(root), hex_of(b->root)));
}

/* Check one header against its hash and its predecessor. */
static void
check_header(Table *t, Block *b, Block *prev)
{
	if (!b->hashes_ok)
	{
		problem(t, b->block, "seal data edited",
				xstrdup("a hash stored for the block is not 32 bytes long"));
		return;
	}
	check_link(t, b, prev);
	if (b->erase)
		check_erase_hash(t, b);
	else
		check_seal_hash(t, b);
}

/* ---- erasures ---- */

/* Report an erasure entry of block e, in the words verify() uses. */
static void
bad_entry(Table *t, Block *e, const AgErasure *entry, const char *what)
{
	problem(t, e->block, "seal data edited",
			xprintf("its entry for block %" PRId64 " %s", entry->sealed_block, what));
}

/*
 * The block an erasure entry of erasure block e takes rows from, when it
 * may: an earlier seal block, not erased whole before.  NULL (reported)
 * otherwise.
 */
static Block *
erased_block(Table *t, Block *e, const AgErasure *entry)
{
	Block	   *b = find_block(t, entry->sealed_block);

	if (b == NULL || !b->header || b->erase || b->block >= e->block)
		bad_entry(t, e, entry, "names no earlier sealed block");
	else if (b->erased_by != 0)
		bad_entry(t, e, entry, "erases rows of a block erased whole before");
	else
		return b;
	return NULL;
}

/*
 * Erase one key of block b: it must not have been erased from b before,
 * and b must have sealed it (checked only while b's rows are stored).
 * The key leaves the set of sealed keys.  Problems are b's, as verify()
 * reports them.
 */
static void
erase_key(Table *t, Block *b, KeySet *set, const unsigned char *key, size_t klen)
{
	AgBuf		both;
	Entry	   *slot;
	uint32_t	hash;

	/* erased keys are remembered with their block: int64(block) || key */
	ag_buf_init(&both);
	ag_buf_put_int64(&both, b->block);
	ag_buf_append(&both, key, klen);
	key_grow(&t->erased);
	hash = key_hash(both.data, both.len);
	slot = key_slot(&t->erased, both.data, (uint32_t) both.len, hash);
	if (slot->used)
	{
		problem(t, b->block, "seal data edited",
				xstrdup("two erasures remove the same row of the block"));
		ag_buf_free(&both);
		return;
	}
	slot->used = true;
	slot->key = both.data;		/* kept: the set refers to it */
	slot->len = (uint32_t) both.len;
	slot->hash = hash;
	t->erased.n++;
	if (!b->rows_ok || b->nchunks == 0)
		return;
	slot = key_slot(set, key, (uint32_t) klen, key_hash(key, klen));
	if (slot->used && &t->blocks[slot->block] == b && !slot->erased)
		slot->erased = true;
	else
	{
		char	   *hex = xmalloc(2 * klen + 3);

		ag_bytea_hex(key, klen, hex);
		problem(t, b->block, "seal data edited",
				xprintf("an erasure removes key %s, which the block did not seal", hex));
		free(hex);
	}
}

/*
 * Apply an entry of erasure block e that lists keys: at least one, they
 * must parse with b's key columns, be in strictly ascending key order and
 * number the entry's rows.
 */
static void
erase_keys(Table *t, Block *e, Block *b, const AgErasure *entry)
{
	KeySet	   *set = key_set_for(t, b->nkeys, b->keys);
	const unsigned char *prev = NULL;
	size_t		prevlen = 0;
	size_t		pos = 0;
	int64_t		n = 0;

	while (pos < entry->keys_len)
	{
		const unsigned char *key = entry->keys + pos;
		long		klen = ag_key_length(key, entry->keys_len - pos, b->nkeys);

		if (klen <= 0 ||
			(prev && ag_key_compare(prev, prevlen, key, (size_t) klen) >= 0))
			break;
		erase_key(t, b, set, key, (size_t) klen);
		prev = key;
		prevlen = (size_t) klen;
		pos += (size_t) klen;
		n++;
	}
	if (pos != entry->keys_len || n != entry->row_count || n == 0)
		bad_entry(t, e, entry,
				  "has keys that are malformed, out of key order, or not as many as its rows");
	b->rows_erased += n;
}

/*
 * Apply erasure block e, in chain order: each entry takes rows from an
 * earlier seal block, by their keys or all that are left; the block's
 * row count is the rows all its entries erase.
 */
static void
check_erasure(Table *t, Block *e)
{
	int64_t		total = 0;
	int			i;

	if (e->nchunks > 0)
		problem(t, e->block, "seal data edited",
				xstrdup("rows are stored for it, but it is an erasure block"));
	for (i = 0; i < e->nerasures; i++)
	{
		const AgErasure *entry = &e->erasures[i];
		Block	   *b = erased_block(t, e, entry);

		total += entry->row_count;
		if (b == NULL)
			continue;
		if (entry->keys != NULL)
		{
			erase_keys(t, e, b, entry);
			continue;
		}
		if (entry->row_count != b->row_count - b->rows_erased)
			bad_entry(t, e, entry,
					  xprintf("erases the block whole, %" PRId64 " rows, but %" PRId64 " of its rows were left",
							  entry->row_count, b->row_count - b->rows_erased));
		b->erased_by = e->block;
	}
	if (total != e->row_count)
		problem(t, e->block, "seal data edited",
				xprintf("the block records %" PRId64 " rows erased, but its entries erase %" PRId64,
						e->row_count, total));
}

/*
 * The chain and the stored rows, before any table row is read: block by
 * block in chain order, so that an erasure applies to the keys sealed
 * before it and a key erased may be sealed again after it.
 */
static void
check_seal_data(Table *t)
{
	Block	   *prev = NULL;
	int			i;

	mark_purged(t);
	for (i = 0; i < t->nblocks; i++)
	{
		Block	   *b = &t->blocks[i];

		if (!b->header)
		{
			problem(t, b->block, "seal data edited",
					xprintf("rows are stored for block %" PRId64 ", which has no header",
							b->block));
			b->skip = true;
			continue;
		}
		if (b->erase)
			check_erasure(t, b);
		else
			add_block_keys(t, i);
		check_header(t, b, prev);
		prev = b;
	}
}

/* ---- the rows ---- */

/* The table's current columns: names and type OIDs, in attnum order. */
static void
read_columns(Table *t, int *n, char ***names, unsigned int **types)
{
	const char *params[1] = {t->oid};
	PGresult   *res = query("SELECT attname, atttypid FROM pg_catalog.pg_attribute"
							" WHERE attrelid = $1::pg_catalog.oid AND attnum > 0"
							" AND NOT attisdropped ORDER BY attnum",
							1, params, false);
	int			i;

	*n = PQntuples(res);
	*names = xcalloc((size_t) *n + 1, sizeof(char *));
	*types = xcalloc((size_t) *n + 1, sizeof(unsigned int));
	for (i = 0; i < *n; i++)
	{
		(*names)[i] = xstrdup(PQgetvalue(res, i, 0));
		(*types)[i] = (unsigned int) strtoul(PQgetvalue(res, i, 1), NULL, 10);
	}
	PQclear(res);
}

/* Position of name in a list, or -1. */
static int
name_index(int n, char **names, const char *name)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/*
 * True when a seal block's key uses column name (a key is also printed for
 * a block whose rows are gone), or a block whose rows are checked seals it:
 * not a block erased whole.
 */
static bool
column_needed(Table *t, const char *name)
{
	int			i;

	for (i = 0; i < t->nblocks; i++)
	{
		Block	   *b = &t->blocks[i];

		if (!b->header || b->erase)
			continue;
		if (name_index(b->nkeys, b->keys, name) >= 0 ||
			(b->erased_by == 0 && name_index(b->ncolumns, b->columns, name) >= 0))
			return true;
	}
	return false;
}

/*
 * Choose the columns to COPY (those some block sealed, in the table's
 * order) and map every block and key list onto them; a block whose
 * columns are gone is reported and skipped, as verify() does.  Erasure
 * blocks and blocks erased whole have no rows to check.
 */
static void
map_columns(Table *t)
{
	int			ncols;
	char	  **names;
	unsigned int *types;
	int			i;
	int			j;

	read_columns(t, &ncols, &names, &types);
	t->copy_columns = xcalloc((size_t) ncols + 1, sizeof(char *));
	t->copy_types = xcalloc((size_t) ncols + 1, sizeof(unsigned int));
	for (i = 0; i < ncols; i++)
		if (column_needed(t, names[i]))
		{
			t->copy_columns[t->ncopy] = names[i];
			t->copy_types[t->ncopy++] = types[i];
		}
	for (i = 0; i < t->nblocks; i++)
	{
		Block	   *b = &t->blocks[i];

		if (b->header && (b->erase || b->erased_by != 0))
			b->skip = true;
		if (!b->header || b->skip)
			continue;
		b->colmap = xcalloc((size_t) b->ncolumns + 1, sizeof(int));
		b->identity = b->ncolumns == t->ncopy;
		for (j = 0; j < b->ncolumns; j++)
		{
			b->colmap[j] = name_index(t->ncopy, t->copy_columns, b->columns[j]);
			b->identity = b->identity && b->colmap[j] == j;
			if (b->colmap[j] < 0 && !b->skip)
			{
				problem(t, b->block, "column missing",
						xprintf("sealed column \"%s\" no longer exists, so the block's rows cannot be checked",
								b->columns[j]));
				b->skip = true;
			}
		}
		if (!b->rows_ok)
			b->skip = true;
	}
	for (i = 0; i < t->nsets; i++)
	{
		KeySet	   *set = &t->sets[i];

		set->colmap = xcalloc((size_t) set->nkeys + 1, sizeof(int));
		set->types = xcalloc((size_t) set->nkeys + 1, sizeof(unsigned int));
		for (j = 0; j < set->nkeys; j++)
		{
			set->colmap[j] = name_index(t->ncopy, t->copy_columns, set->keys[j]);
			if (set->colmap[j] < 0)
				set->missing = true;
			else
				set->types[j] = t->copy_types[set->colmap[j]];
		}
	}
}

/* Append the fields at the given COPY positions: a key or a block's row. */
static void
gather(AgBuf *buf, const unsigned char *tuple, const size_t *offsets,
	   const int *map, int n)
{
	int			i;

	buf->len = 0;
	for (i = 0; i < n; i++)
	{
		const unsigned char *f = tuple + offsets[map[i]];
		int32_t		len = ag_get_int32(f);

		ag_buf_append(buf, f, 4 + (len > 0 ? (size_t) len : 0));
	}
}

/* Check one row of the COPY against the seal. */
static void
check_row(Table *t, const unsigned char *tuple, size_t len,
		  const size_t *offsets, AgBuf *keybuf, AgBuf *rowbuf)
{
	int			s;
	bool		checked = false;	/* against an entry of some set */
	int			dup_set = -1;	/* a set whose entry was met before */
	Entry	   *dup = NULL;

	t->rows_checked++;
	for (s = 0; s < t->nsets; s++)
	{
		KeySet	   *set = &t->sets[s];
		Entry	   *e;
		Block	   *b;
		unsigned char leaf[AG_HASH_LEN];

		if (set->missing || set->n == 0)
			continue;
		gather(keybuf, tuple, offsets, set->colmap, set->nkeys);
		e = key_slot(set, keybuf->data, (uint32_t) keybuf->len,
					 key_hash(keybuf->data, keybuf->len));
		if (!e->used || entry_erased(t, e))
			continue;			/* unsealed, or a new row */
		b = &t->blocks[e->block];
		if (e->found)
		{
			dup_set = s;
			dup = e;
			continue;
		}
		e->found = true;
		checked = true;
		if (b->skip)
			continue;
		if (b->identity)
			ag_leaf_hash(tuple + 2, len - 2, leaf);
		else
		{
			gather(rowbuf, tuple, offsets, b->colmap, b->ncolumns);
			ag_leaf_hash(rowbuf->data, rowbuf->len, leaf);
		}
		if (memcmp(leaf, e->leaf, AG_HASH_LEN) != 0)
		{
			Problem    *p = problem(t, b->block, "row changed",
									xprintf("the row hashes to %s, but block %" PRId64 " sealed %s",
											hex_of(leaf), b->block, hex_of(e->leaf)));

			p->key = e->key;
			p->keylen = e->len;
			p->set_index = s;
		}
	}
	/* one set's entry met twice is a duplicate (the primary key broken
	 * below the guard), unless another set (a primary key changed to one
	 * on more columns) sealed this row */
	if (dup != NULL && !checked)
	{
		Problem    *p = problem(t, t->blocks[dup->block].block, "row duplicated",
								xprintf("another row has the key of the row sealed in block %" PRId64,
										t->blocks[dup->block].block));

		p->key = dup->key;
		p->keylen = dup->len;
		p->set_index = dup_set;
	}
}

/* An identifier quoted for SQL, in new memory. */
static char *
quote_ident(const char *name)
{
	char	   *q = PQescapeIdentifier(conn, name, strlen(name));
	char	   *out;

	if (q == NULL)
		fatal("%s", PQerrorMessage(conn));
	out = xstrdup(q);
	PQfreemem(q);
	return out;
}

/*
 * Read every row of the table through COPY in binary format: per row a
 * 16-bit field count, then each field as a 32-bit length (-1: NULL) and
 * its bytes -- the format's own field encoding.
 */
static void
check_rows(Table *t)
{
	AgBuf		sql;
	AgBuf		keybuf;
	AgBuf		rowbuf;
	size_t	   *offsets = xcalloc((size_t) t->ncopy + 1, sizeof(size_t));
	bool		header = true;
	PGresult   *res;
	char	   *data;
	int			len;
	int			i;

	if (t->ncopy == 0)
		return;
	ag_buf_init(&sql);
	ag_buf_init(&keybuf);
	ag_buf_init(&rowbuf);
	ag_buf_append(&sql, "COPY (SELECT ", 13);
	for (i = 0; i < t->ncopy; i++)
	{
		char	   *q = quote_ident(t->copy_columns[i]);

		if (i > 0)
			ag_buf_append(&sql, ", ", 2);
		ag_buf_append(&sql, q, strlen(q));
		free(q);
	}
	ag_buf_append(&sql, " FROM ONLY ", 11);
	ag_buf_append(&sql, t->name, strlen(t->name));
	ag_buf_append(&sql, ") TO STDOUT (FORMAT binary)", 28);	/* with the NUL */
	res = PQexec(conn, (char *) sql.data);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		fatal("could not read table %s: %s", t->name, PQerrorMessage(conn));
	PQclear(res);

	while ((len = PQgetCopyData(conn, &data, 0)) > 0)
	{
		const unsigned char *p = (const unsigned char *) data;
		size_t		pos = 0;

		if (header)
		{
			/* signature (11 bytes), flags, extension length and area */
			if (len < 19 || memcmp(p, "PGCOPY\n\377\r\n\0", 11) != 0)
				fatal("unexpected COPY data from table %s", t->name);
			pos = 19 + (size_t) ag_get_int32(p + 15);
			header = false;
		}
		while (pos + 2 <= (size_t) len)
		{
			int			nfields = (int16_t) ((p[pos] << 8) | p[pos + 1]);
			size_t		start = pos;
			const unsigned char *field;

			if (nfields == -1)
			{
				pos += 2;		/* the trailer */
				continue;
			}
			if (nfields != t->ncopy)
				fatal("unexpected COPY row from table %s", t->name);
			pos += 2;
			for (i = 0; i < nfields; i++)
			{
				offsets[i] = pos - start;
				if (ag_next_field(p, (size_t) len, &pos, &field) < -1)
					fatal("truncated COPY row from table %s", t->name);
			}
			check_row(t, p + start, pos - start, offsets, &keybuf, &rowbuf);
		}
		PQfreemem(data);
	}
	if (len == -2)
		fatal("could not read table %s: %s", t->name, PQerrorMessage(conn));
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fatal("could not read table %s: %s", t->name, PQerrorMessage(conn));
	PQclear(res);
	ag_buf_free(&sql);
	ag_buf_free(&keybuf);
	ag_buf_free(&rowbuf);
	free(offsets);
}

/* Report the sealed keys the pass over the rows never met. */
static void
report_missing(Table *t)
{
	int			s;
	size_t		i;

	for (s = 0; s < t->nsets; s++)
	{
		KeySet	   *set = &t->sets[s];

		for (i = 0; i < set->cap; i++)
		{
			Entry	   *e = &set->entries[i];
			Block	   *b;
			Problem    *p;

			if (!e->used || e->found || entry_erased(t, e))
				continue;
			b = &t->blocks[e->block];
			if (b->skip)
				continue;
			p = problem(t, b->block, "row missing",
						xprintf("the row sealed in block %" PRId64 " is gone", b->block));
			p->key = e->key;
			p->keylen = e->len;
			p->set_index = s;
		}
	}
}

/* ---- printing keys ---- */

/*
 * A key as text: the server turns the binary fields back into values and
 * prints them (17, or (1,"a b") for a composite key).  Printing only: no
 * hash or check depends on it.  Runs after the verifying transaction, so
 * that a key the server cannot read (edited seal data) fails alone; its
 * hex is printed then.
 */
static char *
key_text(KeySet *set, const unsigned char *key, size_t len)
{
	AgBuf		sql;
	const char **values = xcalloc((size_t) set->nkeys + 1, sizeof(char *));
	int		   *lengths = xcalloc((size_t) set->nkeys + 1, sizeof(int));
	int		   *formats = xcalloc((size_t) set->nkeys + 1, sizeof(int));
	size_t		pos = 0;
	PGresult   *res;
	char	   *text = NULL;
	int			i;

	if (set->missing)
		return ag_key_hex(key, len);
	ag_buf_init(&sql);
	ag_buf_append(&sql, set->nkeys > 1 ? "SELECT ROW(" : "SELECT ", set->nkeys > 1 ? 11 : 7);
	for (i = 0; i < set->nkeys; i++)
	{
		const unsigned char *data;
		int32_t		flen = ag_next_field(key, len, &pos, &data);
		char	   *param = xprintf("%s$%d", i > 0 ? ", " : "", i + 1);

		if (flen < 0)
			return ag_key_hex(key, len);
		values[i] = (const char *) data;
		lengths[i] = flen;
		formats[i] = 1;
		ag_buf_append(&sql, param, strlen(param));
		free(param);
	}
	ag_buf_append(&sql, set->nkeys > 1 ? ")::pg_catalog.text" : "::pg_catalog.text",
				  (set->nkeys > 1 ? 18 : 17) + 1);
	res = PQexecParams(conn, (char *) sql.data, set->nkeys, set->types, values,
					   lengths, formats, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		text = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	ag_buf_free(&sql);
	free(values);
	free(lengths);
	free(formats);
	return text ? text : ag_key_hex(key, len);
}

/* Fill in the key texts of a table's problems. */
static void
print_keys(Table *t)
{
	int			i;

	for (i = 0; i < t->nproblems; i++)
	{
		Problem    *p = &t->problems[i];

		if (p->key != NULL)
			p->row_key = key_text(&t->sets[p->set_index], p->key, p->keylen);
	}
}

/* Print one problem line: table, block, key, problem, detail. */
static void
print_problem(const char *table, int64_t block, const char *key,
			  const char *what, const char *detail)
{
	if (block > 0)
		printf("%s\t%" PRId64 "\t%s\t%s\t%s\n", table, block, key ? key : "",
			   what, detail);
	else
		printf("%s\t\t%s\t%s\t%s\n", table, key ? key : "", what, detail);
	total_problems++;
}

/* ---- digests ---- */

/* Digest problems, printed after the tables' own. */
static Problem *digest_problems;
static char **digest_tables;
static int	ndigest_problems;

/* Keep one digest problem. */
static void
digest_problem(const char *table, int64_t block, char *detail)
{
	digest_problems = ag_fmt_realloc(digest_problems,
									 sizeof(Problem) * (ndigest_problems + 1));
	digest_tables = ag_fmt_realloc(digest_tables,
								   sizeof(char *) * (ndigest_problems + 1));
	memset(&digest_problems[ndigest_problems], 0, sizeof(Problem));
	digest_problems[ndigest_problems].block = block;
	digest_problems[ndigest_problems].problem = "digest mismatch";
	digest_problems[ndigest_problems].detail = detail;
	digest_tables[ndigest_problems++] = xstrdup(table);
}

/* One chain head of a digest. */
typedef struct DigestEntry
{
	char	   *table;
	int64_t		block;
	char	   *hash;			/* lower-case hex */
	bool		retention;		/* a retention applied to it then */
} DigestEntry;

/* Read a whole file. */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	AgBuf		buf;
	char		chunk[65536];
	size_t		n;

	if (f == NULL)
		fatal("could not open digest file \"%s\": %s", path, strerror(errno));
	ag_buf_init(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ag_buf_append(&buf, chunk, n);
	if (ferror(f))
		fatal("could not read digest file \"%s\": %s", path, strerror(errno));
	fclose(f);
	ag_buf_append(&buf, "", 1);
	*len = buf.len - 1;
	return (char *) buf.data;
}

/* True when s is a decimal integer that fits int64_t. */
static bool
parse_int64(const char *s, int64_t *out)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		return false;
	*out = (int64_t) v;
	return true;
}

/* Parse a digest file into its chain heads; any malformation is fatal. */
static DigestEntry *
read_digest(const char *path, int *n)
{
	size_t		len;
	char	   *text = read_file(path, &len);
	const char *error = NULL;
	JsonValue  *doc = json_parse(text, len, &error);
	const JsonValue *tables;
	DigestEntry *entries;
	size_t		i;

	if (doc == NULL)
		fatal("digest file \"%s\" is not JSON: %s", path, error);
	tables = json_get(doc, "tables");
	if (tables == NULL || tables->type != JSON_ARRAY)
		fatal("digest file \"%s\" is not an audit_guard digest: it has no \"tables\" array", path);
	entries = xcalloc(tables->n + 1, sizeof(DigestEntry));
	for (i = 0; i < tables->n; i++)
	{
		const JsonValue *table = json_get(tables->items[i], "table");
		const JsonValue *block = json_get(tables->items[i], "block");
		const JsonValue *hash = json_get(tables->items[i], "block_hash");
		const JsonValue *retention = json_get(tables->items[i], "retention");
		unsigned char raw[AG_HASH_LEN];

		if (table == NULL || table->type != JSON_STRING ||
			block == NULL || block->type != JSON_NUMBER ||
			!parse_int64(block->string, &entries[i].block) ||
			hash == NULL || hash->type != JSON_STRING ||
			!ag_unhex(hash->string, raw, AG_HASH_LEN))
			fatal("digest file \"%s\": entry %zu of \"tables\" needs \"table\", an integer \"block\" and a 64-digit hex \"block_hash\"",
				  path, i + 1);
		entries[i].table = table->string;
		entries[i].hash = hex_of(raw);
		entries[i].retention = retention != NULL && retention->type == JSON_OBJECT;
	}
	*n = (int) tables->n;
	return entries;
}

/* The verified table with this OID, or NULL. */
static Table *
find_table(Table *tables, int ntables, const char *oid)
{
	int			i;

	for (i = 0; i < ntables; i++)
		if (strcmp(tables[i].oid, oid) == 0)
			return &tables[i];
	return NULL;
}

/* The block numbered n with a header, or NULL. */
static Block *
header_block(Table *t, int64_t n)
{
	Block	   *b = t ? find_block(t, n) : NULL;

	return b && b->header ? b : NULL;
}

/* The last block number of a table's chain, as text. */
static char *
chain_end(Table *t)
{
	int			i;

	for (i = t ? t->nblocks - 1 : -1; i >= 0; i--)
		if (t->blocks[i].header)
			return xprintf("%" PRId64, t->blocks[i].block);
	return xstrdup("no block");
}

/*
 * A table of the digest dropped since by its designated owner (a partition
 * past retention): the digest says a retention applied to it (history and
 * the seal data could be written below the guard, the digest kept outside
 * cannot), history records the drop, and the seal data kept of the dropped
 * table has the digest's block, whose header hashes to the digest's hash
 * (recomputed here for a seal block; for an erasure block, whose entries
 * went with the table's chain, the stored hash).
 */
static bool
dropped_with_chain(DigestEntry *d)
{
	char	   *sql;
	char	   *block;
	const char *params[2];
	PGresult   *res;
	bool		ok = false;

	if (!d->retention)
		return false;
	sql = xprintf("SELECT b.columns, b.key_columns, b.row_count, b.root,"
				  " b.prev_hash, b.block_hash, b.kind"
				  " FROM %s.seal_blocks b"
				  " WHERE b.table_name = $1 AND b.block = $2::pg_catalog.int8"
				  " AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = b.relid)"
				  " AND EXISTS (SELECT FROM %s.history h"
				  " WHERE h.action = 'drop' AND h.table_name = $1)",
				  schema_q, schema_q);
	block = xprintf("%" PRId64, d->block);
	params[0] = d->table;
	params[1] = block;
	res = query(sql, 2, params, true);
	if (PQntuples(res) == 1 && PQgetlength(res, 0, 3) == AG_HASH_LEN &&
		PQgetlength(res, 0, 4) == AG_HASH_LEN && PQgetlength(res, 0, 5) == AG_HASH_LEN)
	{
		unsigned char hash[AG_HASH_LEN];
		AgBlockHeader h;
		bool		seal = strcmp(PQgetvalue(res, 0, 6), "seal") == 0;
		int			ncolumns;
		int			nkeys;

		memcpy(hash, PQgetvalue(res, 0, 5), AG_HASH_LEN);
		if (seal)
		{
			memcpy(h.prev_hash, PQgetvalue(res, 0, 4), AG_HASH_LEN);
			h.block = d->block;
			memcpy(h.root, PQgetvalue(res, 0, 3), AG_HASH_LEN);
			h.row_count = get_int(res, 0, 2);
			h.columns = (const char *const *) get_text_array(res, 0, 0, &ncolumns);
			h.ncolumns = ncolumns;
			h.keys = (const char *const *) get_text_array(res, 0, 1, &nkeys);
			h.nkeys = nkeys;
			ag_block_hash(&h, hash);
		}
		ok = strcmp(hex_of(hash), d->hash) == 0;
	}
	PQclear(res);
	free(sql);
	free(block);
	return ok;
}

/*
 * Each chain head of the digest must still be in its chain: same block
 * number, same hash, where the hash is the one this program recomputed
 * from the block's header.  With TABLE arguments only their heads count.
 */
static void
check_digest(DigestEntry *entries, int n, Table *tables, int ntables,
			 bool all_tables)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		DigestEntry *d = &entries[i];
		const char *params[1] = {d->table};
		PGresult   *res = query("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid",
								1, params, false);
		bool		exists = !PQgetisnull(res, 0, 0);
		Table	   *t = exists ? find_table(tables, ntables, PQgetvalue(res, 0, 0)) : NULL;
		Block	   *b = header_block(t, d->block);

		PQclear(res);
		if (!all_tables && t == NULL)
			continue;
		if (!exists)
		{
			if (!dropped_with_chain(d))
				digest_problem(d->table, d->block,
							   xprintf("table %s of the digest does not exist", d->table));
		}
		else if (b == NULL)
			digest_problem(d->table, d->block,
						   xprintf("the chain has no block %" PRId64 " (the digest has %s at block %" PRId64 "; the chain ends at %s)",
								  d->block, d->hash, d->block, chain_end(t)));
		else if (strcmp(hex_of(b->computed), d->hash) != 0)
			digest_problem(d->table, d->block,
						   xprintf("block %" PRId64 " has hash %s; the digest has %s",
								  d->block, hex_of(b->computed), d->hash));
	}
}

/* Order tables by qualified name, for the digest written. */
static int
table_name_cmp(const void *a, const void *b)
{
	return strcmp(((const Table *) a)->name, ((const Table *) b)->name);
}

/*
 * Write the digest of what was just verified: "rows" counts the rows
 * sealed, as digest() does; rows purged and redacted, when there are any,
 * are counted apart.
 */
static void
save_digest(const char *path, Table *tables, int ntables)
{
	PGresult   *res = query("SELECT pg_catalog.current_database(),"
							" (SELECT system_identifier::pg_catalog.text FROM pg_catalog.pg_control_system()),"
							" pg_catalog.current_setting('server_encoding')",
							0, NULL, false);
	FILE	   *f = fopen(path, "w");
	char		stamp[64];
	time_t		now = time(NULL);
	bool		first = true;
	int			i;

	if (f == NULL)
		fatal("could not write digest file \"%s\": %s", path, strerror(errno));
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f, "{\"format\": \"audit_guard digest 1\", \"database\": ");
	json_write_string(f, PQgetvalue(res, 0, 0));
	fprintf(f, ", \"system_identifier\": ");
	json_write_string(f, PQgetvalue(res, 0, 1));
	fprintf(f, ", \"server_encoding\": ");
	json_write_string(f, PQgetvalue(res, 0, 2));
	fprintf(f, ", \"taken_at\": \"%s\", \"verified_by\": \"" PROGNAME "\", \"tables\": [", stamp);
	qsort(tables, ntables, sizeof(Table), table_name_cmp);
	for (i = 0; i < ntables; i++)
	{
		Table	   *t = &tables[i];
		Block	   *last = NULL;
		int64_t		rows[3] = {0, 0, 0};	/* sealed, purged, redacted */
		int			j;

		for (j = 0; j < t->nblocks; j++)
			if (t->blocks[j].header)
			{
				last = &t->blocks[j];
				if (!last->erase)
					rows[0] += last->row_count;
				else
					rows[strcmp(last->kind, "purge") == 0 ? 1 : 2] += last->row_count;
			}
		if (last == NULL)
			continue;
		fprintf(f, "%s{\"table\": ", first ? "" : ", ");
		json_write_string(f, t->name);
		fprintf(f, ", \"block\": %" PRId64 ", \"block_hash\": \"%s\", \"rows\": %" PRId64,
				last->block, hex_of(last->computed), rows[0]);
		if (rows[1] > 0)
			fprintf(f, ", \"purged\": %" PRId64, rows[1]);
		if (rows[2] > 0)
			fprintf(f, ", \"redacted\": %" PRId64, rows[2]);
		fprintf(f, ", \"retention\": %s}", t->retention ? t->retention : "null");
		first = false;
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0)
		fatal("could not write digest file \"%s\": %s", path, strerror(errno));
	PQclear(res);
}

/* ---- the tables ---- */

/* The tables to verify: those named (partitions for a partitioned one), or all sealed. */
static Table *
list_tables(int nnames, char **names, int *ntables)
{
	AgBuf		oids;
	PGresult   *res;
	Table	   *tables;
	char	   *sql;
	const char *params[1];
	int			i;

	ag_buf_init(&oids);
	ag_buf_append(&oids, "{", 1);
	for (i = 0; i < nnames; i++)
	{
		params[0] = names[i];
		res = query("SELECT c.oid, c.relkind FROM pg_catalog.pg_class c"
					" WHERE c.oid = pg_catalog.to_regclass($1)", 1, params, false);
		if (PQntuples(res) == 0)
			fatal("table \"%s\" does not exist", names[i]);
		if (strcmp(PQgetvalue(res, 0, 1), "r") != 0 && strcmp(PQgetvalue(res, 0, 1), "p") != 0)
			fatal("\"%s\" is not a table", names[i]);
		if (oids.len > 1)
			ag_buf_append(&oids, ",", 1);
		ag_buf_append(&oids, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
		PQclear(res);
	}
	ag_buf_append(&oids, "}", 2);
	params[0] = (char *) oids.data;
	sql = nnames > 0 ?
		xprintf("SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.relname),"
				" (SELECT pg_catalog.jsonb_build_object('keep', k.keep::pg_catalog.text,"
				" 'time_column', k.time_column)::pg_catalog.text FROM %s.retention_of(c.oid) k)"
				" FROM pg_catalog.pg_class c"
				" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				" WHERE c.relkind = 'r' AND c.oid IN"
				" (SELECT a.r FROM pg_catalog.unnest($1::pg_catalog.regclass[]) AS a (r)"
				" UNION ALL"
				" SELECT t.relid FROM pg_catalog.unnest($1::pg_catalog.regclass[]) AS a (r),"
				" pg_catalog.pg_partition_tree(a.r) AS t WHERE t.isleaf)"
				" ORDER BY c.oid", schema_q) :
		xprintf("SELECT c.oid, pg_catalog.format('%%I.%%I', n.nspname, c.relname),"
				" (SELECT pg_catalog.jsonb_build_object('keep', k.keep::pg_catalog.text,"
				" 'time_column', k.time_column)::pg_catalog.text FROM %s.retention_of(c.oid) k)"
				" FROM pg_catalog.pg_class c"
				" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				" WHERE c.oid IN (SELECT relid FROM %s.seal_blocks"
				" UNION SELECT relid FROM %s.seal_rows"
				" UNION SELECT relid FROM %s.seal_erasures) ORDER BY c.oid",
				schema_q, schema_q, schema_q, schema_q);
	res = query(sql, nnames > 0 ? 1 : 0, params, false);
	*ntables = PQntuples(res);
	tables = xcalloc((size_t) *ntables + 1, sizeof(Table));
	for (i = 0; i < *ntables; i++)
	{
		tables[i].oid = xstrdup(PQgetvalue(res, i, 0));
		tables[i].name = xstrdup(PQgetvalue(res, i, 1));
		tables[i].retention = PQgetisnull(res, i, 2) ? NULL : xstrdup(PQgetvalue(res, i, 2));
	}
	PQclear(res);
	ag_buf_free(&oids);
	free(sql);
	return tables;
}

/*
 * The extension's schema, quoted; fatal when audit_guard 1.1 (with its
 * erasure blocks) is not installed.
 */
static const char *
extension_schema(void)
{
	PGresult   *res = query("SELECT pg_catalog.quote_ident(n.nspname)"
							" FROM pg_catalog.pg_extension e"
							" JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
							" WHERE e.extname = 'audit_guard'"
							" AND pg_catalog.to_regclass(pg_catalog.quote_ident(n.nspname)"
							" || '.seal_erasures') IS NOT NULL",
							0, NULL, false);
	char	   *schema;

	if (PQntuples(res) != 1)
		fatal("database \"%s\" has no audit_guard extension of version 1.1 or later",
			  PQdb(conn));
	schema = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return schema;
}

/* Verify one table's seal data and rows; its problems are kept for later. */
static void
verify_table(Table *t)
{
	read_headers(t);
	read_chunks(t);
	read_erasures(t);
	check_seal_data(t);
	map_columns(t);
	check_rows(t);
	report_missing(t);
	qsort(t->problems, t->nproblems, sizeof(Problem), problem_cmp);
}

static void
usage(void)
{
	printf("%s verifies the tables audit_guard has sealed, recomputing every hash itself.\n\n"
		   "Usage:\n  %s [OPTION]... [TABLE]...\n\n"
		   "Options:\n"
		   "  -d, --dbname=CONNINFO     database to connect to (a name or a connection string)\n"
		   "      --digest=FILE         also check that each chain still holds the head this\n"
		   "                            digest recorded (from audit_guard.digest() or --save-digest)\n"
		   "      --save-digest=FILE    when everything is intact, write the digest just verified\n"
		   "      --show-erasures       after verifying, list each erasure entry on standard\n"
		   "                            output: table, erasure block, sealed block, kind, rows,\n"
		   "                            reason, separated by tabs\n"
		   "  -q, --quiet               no summary on standard error\n"
		   "  -V, --version             print the version and exit\n"
		   "  -?, --help                show this help and exit\n\n"
		   "With no TABLE, every table that has seal data is verified.  Each problem is one\n"
		   "line on standard output: table, block, key, problem, detail, separated by tabs.\n"
		   "Exit status: 0 intact, 1 tampering found, 2 usage or connection error.\n"
		   "Connection defaults come from the PG* environment variables.\n",
		   PROGNAME, PROGNAME);
}

/* The command line. */
typedef struct Options
{
	const char *conninfo;
	const char *digest_path;
	const char *save_path;
	bool		show_erasures;
	bool		quiet;
} Options;

/* Parse the options; returns the exit status to leave with, or -1 to go on. */
static int
parse_options(int argc, char **argv, Options *o)
{
	static struct option options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"digest", required_argument, NULL, 1},
		{"save-digest", required_argument, NULL, 2},
		{"show-erasures", no_argument, NULL, 3},
		{"quiet", no_argument, NULL, 'q'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(o, 0, sizeof(Options));
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		return 0;
	}
	while ((c = getopt_long(argc, argv, "d:qV", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				o->conninfo = optarg;
				break;
			case 1:
				o->digest_path = optarg;
				break;
			case 2:
				o->save_path = optarg;
				break;
			case 3:
				o->show_erasures = true;
				break;
			case 'q':
				o->quiet = true;
				break;
			case 'V':
				printf(PROGNAME " (audit_guard) 1.1\n");
				return 0;
			default:
				fprintf(stderr, "Try \"" PROGNAME " --help\" for more information.\n");
				return 2;
		}
	}
	return -1;
}

/*
 * Connect: -d takes a database name or a connection string, as psql's
 * does; text-like send forms come in the database's own encoding.
 */
static void
connect_to(const char *conninfo)
{
	const char *keywords[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {conninfo, PROGNAME, NULL};

	conn = PQconnectdbParams(keywords, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
		fatal("could not connect: %s", PQerrorMessage(conn));
	if (PQsetClientEncoding(conn, PQparameterStatus(conn, "server_encoding")) != 0)
		fatal("could not set the client encoding: %s", PQerrorMessage(conn));
}

/* Print every problem found: the tables', then the digest's. */
static void
print_problems(Table *tables, int ntables)
{
	int			i;
	int			j;

	for (i = 0; i < ntables; i++)
	{
		print_keys(&tables[i]);
		for (j = 0; j < tables[i].nproblems; j++)
		{
			Problem    *p = &tables[i].problems[j];

			print_problem(tables[i].name, p->block, p->row_key, p->problem, p->detail);
		}
	}
	for (i = 0; i < ndigest_problems; i++)
		print_problem(digest_tables[i], digest_problems[i].block, NULL,
					  digest_problems[i].problem, digest_problems[i].detail);
	fflush(stdout);
}

/*
 * A reason as one field of a tab-separated line: backslash, tab, newline
 * and carriage return escaped as COPY's text format does.
 */
static void
print_reason(const char *reason)
{
	const char *c;

	for (c = reason ? reason : ""; *c; c++)
	{
		if (*c == '\\')
			fputs("\\\\", stdout);
		else if (*c == '\t')
			fputs("\\t", stdout);
		else if (*c == '\n')
			fputs("\\n", stdout);
		else if (*c == '\r')
			fputs("\\r", stdout);
		else
			putchar(*c);
	}
}

/*
 * --show-erasures: what was erased by design, one line per erasure entry
 * (table, erasure block, sealed block, kind, rows, reason), so that an
 * auditor sees the purges and redactions the verification accepted.
 */
static void
print_erasures(Table *tables, int ntables)
{
	int			i;
	int			j;
	int			k;

	for (i = 0; i < ntables; i++)
		for (j = 0; j < tables[i].nblocks; j++)
		{
			Block	   *e = &tables[i].blocks[j];

			for (k = 0; k < e->nerasures; k++)
			{
				printf("%s\t%" PRId64 "\t%" PRId64 "\t%s\t%" PRId64 "\t", tables[i].name,
					   e->block, e->erasures[k].sealed_block, e->kind,
					   e->erasures[k].row_count);
				print_reason(e->reason);
				putchar('\n');
			}
		}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	Options		o;
	DigestEntry *digest = NULL;
	int			ndigest = 0;
	Table	   *tables;
	int			ntables;
	int64_t		blocks = 0;
	int64_t		rows = 0;
	int			status = parse_options(argc, argv, &o);
	int			i;
	int			j;

	if (status >= 0)
		return status;
	if (o.digest_path)
		digest = read_digest(o.digest_path, &ndigest);
	connect_to(o.conninfo);

	/* one snapshot for the seal data and the rows */
	command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	/* a retention's keep as digest() writes it */
	command("SET LOCAL IntervalStyle = postgres");
	schema_q = extension_schema();
	/* TABLE arguments are read in the session's own search_path */
	tables = list_tables(argc - optind, argv + optind, &ntables);
	command("SET search_path = pg_catalog, pg_temp");
	for (i = 0; i < ntables; i++)
	{
		verify_table(&tables[i]);
		for (j = 0; j < tables[i].nblocks; j++)
			blocks += tables[i].blocks[j].header;
		rows += tables[i].rows_checked;
	}
	if (digest)
		check_digest(digest, ndigest, tables, ntables, optind == argc);
	command("COMMIT");

	print_problems(tables, ntables);
	if (o.show_erasures)
		print_erasures(tables, ntables);
	if (o.save_path && total_problems == 0)
		save_digest(o.save_path, tables, ntables);
	if (!o.quiet)
		fprintf(stderr, PROGNAME ": %d table%s, %" PRId64 " block%s, %" PRId64 " row%s read: %s\n",
				ntables, ntables == 1 ? "" : "s", blocks, blocks == 1 ? "" : "s",
				rows, rows == 1 ? "" : "s",
				total_problems == 0 ? "intact" :
				xprintf("%d problem%s found", total_problems, total_problems == 1 ? "" : "s"));
	PQfinish(conn);
	return total_problems == 0 ? 0 : 1;
}
