/*-------------------------------------------------------------------------
 *
 * seal_format.c
 *		The tamper-evidence format: row and key encodings, leaf hashes, the
 *		Merkle root and the block hash (docs/format.md).
 *
 * Compiled into the server module and into audit_guard_verify, so that
 * the two can never disagree about what a hash covers.  Plain C: no
 * backend or libpq header, SHA-256 and memory come from the program that
 * links it (seal_format.h, end).
 *
 *-------------------------------------------------------------------------
 */
#include "seal_format.h"

#include <string.h>

/* Start an empty buffer. */
void
ag_buf_init(AgBuf *buf)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

/* Release a buffer's memory. */
void
ag_buf_free(AgBuf *buf)
{
	if (buf->data)
		ag_fmt_free(buf->data);
	ag_buf_init(buf);
}

/* Ensure room for len more bytes, doubling so that appends stay linear. */
void
ag_buf_reserve(AgBuf *buf, size_t len)
{
	size_t		want = buf->len + len;
	size_t		cap = buf->cap ? buf->cap : 256;

	if (want <= buf->cap)
		return;
	while (cap < want)
		cap *= 2;
	buf->data = buf->data ? ag_fmt_realloc(buf->data, cap) : ag_fmt_alloc(cap);
	buf->cap = cap;
}

/* Append len bytes. */
void
ag_buf_append(AgBuf *buf, const void *data, size_t len)
{
	ag_buf_reserve(buf, len);
	if (len > 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

/* Append a 32-bit integer, big-endian. */
void
ag_buf_put_int32(AgBuf *buf, int32_t value)
{
	uint32_t	v = (uint32_t) value;
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};

	ag_buf_append(buf, b, 4);
}

/* Append a 64-bit integer, big-endian. */
void
ag_buf_put_int64(AgBuf *buf, int64_t value)
{
	uint64_t	v = (uint64_t) value;

	ag_buf_put_int32(buf, (int32_t) (uint32_t) (v >> 32));
	ag_buf_put_int32(buf, (int32_t) (uint32_t) v);
}

/* Append one field: its length as int32, then its bytes. */
void
ag_buf_put_field(AgBuf *buf, const void *data, int32_t len)
{
	ag_buf_put_int32(buf, len);
	ag_buf_append(buf, data, (size_t) len);
}

/* Append a NULL field: length -1 and no bytes, unlike an empty value. */
void
ag_buf_put_null(AgBuf *buf)
{
	ag_buf_put_int32(buf, -1);
}

/* Read a big-endian 32-bit integer. */
int32_t
ag_get_int32(const unsigned char *p)
{
	return (int32_t) (((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
					  ((uint32_t) p[2] << 8) | (uint32_t) p[3]);
}

/* Read a big-endian 64-bit integer. */
int64_t
ag_get_int64(const unsigned char *p)
{
	return (int64_t) (((uint64_t) (uint32_t) ag_get_int32(p) << 32) |
					  (uint64_t) (uint32_t) ag_get_int32(p + 4));
}

/* Step over one field of an encoding (see seal_format.h). */
int32_t
ag_next_field(const unsigned char *enc, size_t len, size_t *pos,
			  const unsigned char **data)
{
	int32_t		flen;

	if (*pos > len || len - *pos < 4)
		return -2;
	flen = ag_get_int32(enc + *pos);
	*pos += 4;
	*data = enc + *pos;
	if (flen == -1)
		return -1;
	if (flen < 0 || (size_t) flen > len - *pos)
		return -2;
	*pos += (size_t) flen;
	return flen;
}

/* Bytes taken by one key of nfields fields at enc, or -1 when malformed. */
long
ag_key_length(const unsigned char *enc, size_t len, int nfields)
{
	size_t		pos = 0;
	const unsigned char *data;
	int			i;

	for (i = 0; i < nfields; i++)
	{
		/* a key column is NOT NULL: a NULL field is malformed too */
		if (ag_next_field(enc, len, &pos, &data) < 0)
			return -1;
	}
	return (long) pos;
}

/* Compare two keys as unsigned bytes; a proper prefix sorts first. */
int
ag_key_compare(const unsigned char *a, size_t alen,
			   const unsigned char *b, size_t blen)
{
	int			c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c < 0 ? -1 : 1;
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

/* SHA-256(0x00 || row encoding). */
void
ag_leaf_hash(const unsigned char *row, size_t len,
			 unsigned char out[AG_HASH_LEN])
{
	static const unsigned char prefix = AG_LEAF_PREFIX;
	const void *parts[2] = {&prefix, row};
	size_t		lens[2] = {1, len};

	ag_sha256(2, parts, lens, out);
}

/* SHA-256(0x01 || left || right). */
static void
node_hash(const unsigned char *left, const unsigned char *right,
		  unsigned char *out)
{
	static const unsigned char prefix = AG_NODE_PREFIX;
	const void *parts[3] = {&prefix, left, right};
	size_t		lens[3] = {1, AG_HASH_LEN, AG_HASH_LEN};

	ag_sha256(3, parts, lens, out);
}

/*
 * RFC 6962's Merkle Tree Hash, level by level: pair neighbours from the
 * left, carry an odd last node up unchanged.  That builds the same tree as
 * the RFC's split at the largest power of two below n.
 */
void
ag_merkle_root(const unsigned char *leaves, size_t n,
			   unsigned char root[AG_HASH_LEN])
{
	unsigned char *level;
	size_t		i;

	if (n == 1)
	{
		memcpy(root, leaves, AG_HASH_LEN);
		return;
	}
	level = ag_fmt_alloc(((n + 1) / 2) * AG_HASH_LEN);
	/* first level straight from the leaves, so that they stay untouched */
	for (i = 0; i + 1 < n; i += 2)
		node_hash(leaves + i * AG_HASH_LEN, leaves + (i + 1) * AG_HASH_LEN,
				  level + (i / 2) * AG_HASH_LEN);
	if (n % 2)
		memcpy(level + (n / 2) * AG_HASH_LEN, leaves + (n - 1) * AG_HASH_LEN,
			   AG_HASH_LEN);
	n = (n + 1) / 2;
	while (n > 1)
	{
		for (i = 0; i + 1 < n; i += 2)
			node_hash(level + i * AG_HASH_LEN, level + (i + 1) * AG_HASH_LEN,
					  level + (i / 2) * AG_HASH_LEN);
		if (n % 2)
			memmove(level + (n / 2) * AG_HASH_LEN,
					level + (n - 1) * AG_HASH_LEN, AG_HASH_LEN);
		n = (n + 1) / 2;
	}
	memcpy(root, level, AG_HASH_LEN);
	ag_fmt_free(level);
}

/*
 * SHA-256(0x02 || prev || int64 block || root || int64 rows || int32
 * ncolumns || each column as a field || int32 nkeys || each key column as
 * a field).
 */
void
ag_block_hash(const AgBlockHeader *header, unsigned char out[AG_HASH_LEN])
{
	AgBuf		buf;
	unsigned char prefix = AG_BLOCK_PREFIX;
	const void *parts[1];
	size_t		lens[1];
	int			i;

	ag_buf_init(&buf);
	ag_buf_append(&buf, &prefix, 1);
	ag_buf_append(&buf, header->prev_hash, AG_HASH_LEN);
	ag_buf_put_int64(&buf, header->block);
	ag_buf_append(&buf, header->root, AG_HASH_LEN);
	ag_buf_put_int64(&buf, header->row_count);
	ag_buf_put_int32(&buf, header->ncolumns);
	for (i = 0; i < header->ncolumns; i++)
		ag_buf_put_field(&buf, header->columns[i],
						 (int32_t) strlen(header->columns[i]));
	ag_buf_put_int32(&buf, header->nkeys);
	for (i = 0; i < header->nkeys; i++)
		ag_buf_put_field(&buf, header->keys[i],
						 (int32_t) strlen(header->keys[i]));
	parts[0] = buf.data;
	lens[0] = buf.len;
	ag_sha256(1, parts, lens, out);
	ag_buf_free(&buf);
}

/*
 * What seal() never writes in a seal block's header, or NULL: a block of
 * no rows, or key columns that are not among its sealed columns.  A block
 * forged that way hashes right but names no row, or names rows by columns
 * that are not there, so that no row of the table answers to it.
 */
const char *
ag_block_header_oddity(const AgBlockHeader *header)
{
	int			k;
	int			c;

	if (header->row_count <= 0)
		return "it seals no row, which seal() never writes";
	if (header->nkeys <= 0)
		return "it names no key column";
	for (k = 0; k < header->nkeys; k++)
	{
		for (c = 0; c < header->ncolumns; c++)
			if (strcmp(header->keys[k], header->columns[c]) == 0)
				break;
		if (c == header->ncolumns)
			return "one of its key columns is not among the columns it sealed";
	}
	return NULL;
}

/* SHA-256 of a finished buffer, which is then freed. */
static void
hash_buffer(AgBuf *buf, unsigned char out[AG_HASH_LEN])
{
	const void *parts[1] = {buf->data};
	size_t		lens[1] = {buf->len};

	ag_sha256(1, parts, lens, out);
	ag_buf_free(buf);
}

/*
 * SHA-256(0x04 || for each entry: int64 sealed block || int64 rows ||
 * the keys as one field, NULL for a whole block).
 */
void
ag_erasures_root(const AgErasure *entries, size_t n,
				 unsigned char out[AG_HASH_LEN])
{
	AgBuf		buf;
	unsigned char prefix = AG_ERASURES_PREFIX;
	size_t		i;

	ag_buf_init(&buf);
	ag_buf_append(&buf, &prefix, 1);
	for (i = 0; i < n; i++)
	{
		ag_buf_put_int64(&buf, entries[i].sealed_block);
		ag_buf_put_int64(&buf, entries[i].row_count);
		if (entries[i].keys == NULL)
			ag_buf_put_null(&buf);
		else
			ag_buf_put_field(&buf, entries[i].keys, (int32_t) entries[i].keys_len);
	}
	hash_buffer(&buf, out);
}

/*
 * SHA-256(0x03 || prev || int64 block || kind as a field || reason as a
 * field, NULL for none || int64 rows erased || root).
 */
void
ag_erase_block_hash(const AgEraseHeader *header, unsigned char out[AG_HASH_LEN])
{
	AgBuf		buf;
	unsigned char prefix = AG_ERASE_PREFIX;

	ag_buf_init(&buf);
	ag_buf_append(&buf, &prefix, 1);
	ag_buf_append(&buf, header->prev_hash, AG_HASH_LEN);
	ag_buf_put_int64(&buf, header->block);
	ag_buf_put_field(&buf, header->kind, (int32_t) strlen(header->kind));
	if (header->reason == NULL)
		ag_buf_put_null(&buf);
	else
		ag_buf_put_field(&buf, header->reason, (int32_t) strlen(header->reason));
	ag_buf_put_int64(&buf, header->row_count);
	ag_buf_append(&buf, header->root, AG_HASH_LEN);
	hash_buffer(&buf, out);
}

/* Lower-case hex. */
void
ag_hex(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/*
 * A bytea literal, "\x" and lower-case hex: how both verifiers print a key
 * they cannot read as values, so that their problem lines match.
 */
void
ag_bytea_hex(const unsigned char *data, size_t len, char *out)
{
	out[0] = '\\';
	out[1] = 'x';
	ag_hex(data, len, out + 2);
}

/* The same in new memory (ag_fmt_alloc): how a key that cannot be read is shown. */
char *
ag_key_hex(const unsigned char *data, size_t len)
{
	char	   *out = ag_fmt_alloc(2 * len + 3);

	ag_bytea_hex(data, len, out);
	return out;
}

/* The value of one hex digit, or -1. */
static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse exactly 2 * len hex digits followed by the end of the string. */
bool
ag_unhex(const char *hex, unsigned char *out, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		int			hi = hex_digit(hex[2 * i]);
		int			lo;

		if (hi < 0)
			return false;
		lo = hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return false;
		out[i] = (unsigned char) (hi << 4 | lo);
	}
	return hex[2 * len] == '\0';
}
