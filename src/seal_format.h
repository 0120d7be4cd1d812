/*-------------------------------------------------------------------------
 *
 * seal_format.h
 *		The tamper-evidence format, shared by the server module and the
 *		audit_guard_verify client.
 *
 * docs/format.md is the specification; this header and seal_format.c are
 * its one implementation, compiled into both programs as PostgreSQL's
 * src/common serves backend and frontend.  Nothing here depends on the
 * backend: each side provides SHA-256 (pg_cryptohash in the server,
 * libcrypto in the client) and memory allocation through the small
 * interface declared at the end.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_GUARD_SEAL_FORMAT_H
#define AUDIT_GUARD_SEAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a SHA-256 hash, and of its lower-case hex form. */
#define AG_HASH_LEN		32
#define AG_HEX_LEN		(2 * AG_HASH_LEN)

/* The first byte hashed before each kind of input (domain separation). */
#define AG_LEAF_PREFIX	0x00
#define AG_NODE_PREFIX	0x01
#define AG_BLOCK_PREFIX	0x02
#define AG_ERASE_PREFIX	0x03	/* an erasure block (purge, redaction) */
#define AG_ERASURES_PREFIX 0x04 /* the list of rows an erasure block removes */

/* Rows per stored chunk of keys and leaves (audit_guard.seal_rows). */
#define AG_CHUNK_ROWS	8192

/* A growable byte buffer. */
typedef struct AgBuf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
} AgBuf;

extern void ag_buf_init(AgBuf *buf);
extern void ag_buf_free(AgBuf *buf);
extern void ag_buf_reserve(AgBuf *buf, size_t len);
extern void ag_buf_append(AgBuf *buf, const void *data, size_t len);
extern void ag_buf_put_int32(AgBuf *buf, int32_t value);
extern void ag_buf_put_int64(AgBuf *buf, int64_t value);

/* One field of a row or key encoding: its length, then its bytes. */
extern void ag_buf_put_field(AgBuf *buf, const void *data, int32_t len);
extern void ag_buf_put_null(AgBuf *buf);

/* Big-endian integers read back. */
extern int32_t ag_get_int32(const unsigned char *p);
extern int64_t ag_get_int64(const unsigned char *p);

/*
 * Walk the fields of an encoding: returns the length of the field at *pos
 * (-1 for NULL), its bytes in *data, and moves *pos past it; -2 when the
 * encoding ends early or a length is negative and not -1.
 */
extern int32_t ag_next_field(const unsigned char *enc, size_t len, size_t *pos,
							 const unsigned char **data);

/* Bytes taken by the key of nfields fields that starts at enc; -1 if malformed. */
extern long ag_key_length(const unsigned char *enc, size_t len, int nfields);

/* The order of keys in a block: unsigned bytes, a proper prefix first. */
extern int	ag_key_compare(const unsigned char *a, size_t alen,
						   const unsigned char *b, size_t blen);

/* Leaf hash of a row encoding: SHA-256(0x00 || row). */
extern void ag_leaf_hash(const unsigned char *row, size_t len,
						 unsigned char out[AG_HASH_LEN]);

/*
 * Merkle root over n leaves (n * AG_HASH_LEN bytes, in key order), as in
 * RFC 6962 section 2.1 with SHA-256(0x01 || left || right) for a node.
 * n must be at least 1; the leaves are left unchanged.
 */
extern void ag_merkle_root(const unsigned char *leaves, size_t n,
						   unsigned char root[AG_HASH_LEN]);

/* What a block hash covers. */
typedef struct AgBlockHeader
{
	unsigned char prev_hash[AG_HASH_LEN];	/* zeros for block 1 */
	int64_t		block;
	unsigned char root[AG_HASH_LEN];
	int64_t		row_count;
	int			ncolumns;
	const char *const *columns;	/* sealed columns, in order */
	int			nkeys;
	const char *const *keys;	/* primary-key columns, in key order */
} AgBlockHeader;

extern void ag_block_hash(const AgBlockHeader *header,
						  unsigned char out[AG_HASH_LEN]);
extern const char *ag_block_header_oddity(const AgBlockHeader *header);

/*
 * One entry of an erasure block: the rows it removes from one earlier
 * sealed block.  keys NULL: every row of that block that no earlier
 * erasure removed (the block's keys and leaves are then gone from the
 * seal data, and only its header stays in the chain).
 */
typedef struct AgErasure
{
	int64_t		sealed_block;
	int64_t		row_count;
	const unsigned char *keys;	/* key encodings in key order, or NULL */
	size_t		keys_len;
} AgErasure;

/* The root of an erasure block: its entries, in sealed-block order. */
extern void ag_erasures_root(const AgErasure *entries, size_t n,
							 unsigned char out[AG_HASH_LEN]);

/* What an erasure block's hash covers. */
typedef struct AgEraseHeader
{
	unsigned char prev_hash[AG_HASH_LEN];
	int64_t		block;
	const char *kind;			/* "purge" or "redact" */
	const char *reason;			/* NULL: none (a purge) */
	int64_t		row_count;		/* rows erased, all entries together */
	unsigned char root[AG_HASH_LEN];	/* ag_erasures_root() */
} AgEraseHeader;

extern void ag_erase_block_hash(const AgEraseHeader *header,
								unsigned char out[AG_HASH_LEN]);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes with the NUL). */
extern void ag_hex(const unsigned char *data, size_t len, char *out);

/* "\x" and the hex of len bytes into out (2 * len + 3 bytes with the NUL). */
extern void ag_bytea_hex(const unsigned char *data, size_t len, char *out);

/* The same in memory from ag_fmt_alloc. */
extern char *ag_key_hex(const unsigned char *data, size_t len);

/* Parse exactly 2 * len hex digits; false when malformed. */
extern bool ag_unhex(const char *hex, unsigned char *out, size_t len);

/*
 * Provided by the program that links this file.
 *
 * ag_sha256: one SHA-256 over the concatenation of nparts pieces.
 * ag_fmt_alloc/ag_fmt_realloc/ag_fmt_free: memory that may exceed 1 GB;
 * failure does not return.
 */
extern void ag_sha256(int nparts, const void *const *parts, const size_t *lens,
					  unsigned char out[AG_HASH_LEN]);
extern void *ag_fmt_alloc(size_t size);
extern void *ag_fmt_realloc(void *ptr, size_t size);
extern void ag_fmt_free(void *ptr);

#endif							/* AUDIT_GUARD_SEAL_FORMAT_H */
