/*-------------------------------------------------------------------------
 *
 * seal_data.c
 *		The server's side of the tamper-evidence format: rows encoded from
 *		heap tuples, seal data read back from audit_guard's tables.
 *
 * seal() and verify() hash rows in C over heap tuples, never through SPI
 * per row.  A column's bytes are its type's binary send form, exactly what
 * a libpq client receives in binary result format; for the common
 * fixed-width types and for text the bytes are produced here directly
 * (the same bytes the send function would produce, without its
 * allocations), for every other type by the send function.  Text-like send
 * functions convert to the client encoding, so hashing runs with the
 * client encoding set to the database's (encoding_begin/end).
 *
 * SHA-256 is PostgreSQL's pg_cryptohash (OpenSSL in Debian's builds), one
 * context reused for a whole seal() or verify().
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/date.h"
#include "utils/uuid.h"

/*
 * simplehash: indexes into a KeySet's entries, by the bytes of their key.
 * A lookup by bytes puts the probe at the index just past the entries.
 */
typedef struct KeyIndex
{
	uint32		index;
	uint32		hash;
	char		status;
} KeyIndex;

#define KEY_OF(tb, i) (((KeySet *) (tb)->private_data)->entries[i].key)
#define SH_PREFIX keyset
#define SH_ELEMENT_TYPE KeyIndex
#define SH_KEY_TYPE uint32
#define SH_KEY index
#define SH_HASH_KEY(tb, k) hash_bytes(KEY_OF(tb, k).data, (int) KEY_OF(tb, k).len)
#define SH_EQUAL(tb, a, b) (KEY_OF(tb, a).len == KEY_OF(tb, b).len && \
	memcmp(KEY_OF(tb, a).data, KEY_OF(tb, b).data, KEY_OF(tb, a).len) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Column kinds whose send form is produced here (see the file header). */
enum
{
	FAST_NONE = 0,
	FAST_INT2,
	FAST_INT4,
	FAST_INT8,
	FAST_OID,
	FAST_BOOL,
	FAST_FLOAT4,
	FAST_FLOAT8,
	FAST_DATE,
	FAST_TIMESTAMP,
	FAST_UUID,
	FAST_TEXT
};

/* The SHA-256 context of the seal() or verify() running now. */
static pg_cryptohash_ctx *hash_ctx = NULL;

/* ---- the format's hooks (seal_format.h) ---- */

/* Start reusing one SHA-256 context; pair with audit_guard_hash_end(). */
void
audit_guard_hash_begin(void)
{
	if (hash_ctx != NULL)
		return;
	hash_ctx = pg_cryptohash_create(PG_SHA256);
	if (hash_ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/* Free the context; safe to call on the error path (PG_FINALLY). */
void
audit_guard_hash_end(void)
{
	if (hash_ctx != NULL)
		pg_cryptohash_free(hash_ctx);
	hash_ctx = NULL;
}

/* One SHA-256 over several pieces, for seal_format.c. */
void
ag_sha256(int nparts, const void *const *parts, const size_t *lens,
		  unsigned char out[AG_HASH_LEN])
{
	pg_cryptohash_ctx *ctx = hash_ctx;
	int			i;

	if (ctx == NULL)
		ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256: %s",
			 ctx ? pg_cryptohash_error(ctx) : "out of memory");
	for (i = 0; i < nparts; i++)
		if (pg_cryptohash_update(ctx, parts[i], lens[i]) < 0)
			elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	if (pg_cryptohash_final(ctx, out, AG_HASH_LEN) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	if (ctx != hash_ctx)
		pg_cryptohash_free(ctx);
}

/* Memory for seal_format.c: may exceed 1 GB, errors do not return. */
void *
ag_fmt_alloc(size_t size)
{
	return MemoryContextAllocHuge(CurrentMemoryContext, size);
}

void *
ag_fmt_realloc(void *ptr, size_t size)
{
	return repalloc_huge(ptr, size);
}

void
ag_fmt_free(void *ptr)
{
	pfree(ptr);
}

/*
 * Make the client encoding the database's, so that text-like send
 * functions produce the stored bytes unconverted; returns the encoding to
 * restore with audit_guard_encoding_end().
 */
int
audit_guard_encoding_begin(void)
{
	int			saved = pg_get_client_encoding();

	if (SetClientEncoding(GetDatabaseEncoding()) < 0)
		elog(ERROR, "could not set the client encoding to the database encoding");
	return saved;
}

/* Restore the client encoding; safe on the error path. */
void
audit_guard_encoding_end(int saved)
{
	if (SetClientEncoding(saved) < 0)
		elog(WARNING, "could not restore the client encoding %s",
			 pg_encoding_to_char(saved));
}

/*
 * Set up a set-returning function in materialize mode (InitMaterializedSRF
 * is not in every supported major).
 */
Tuplestorestate *
audit_guard_srf_begin(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	Tuplestorestate *store;
	TupleDesc	desc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = CreateTupleDescCopy(desc);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(old);
	*tupdesc = desc;
	return store;
}

/* ---- columns and encodings ---- */

/* The kind of send form this file produces itself for typid, or FAST_NONE. */
static int
fast_kind(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return FAST_INT2;
		case INT4OID:
			return FAST_INT4;
		case INT8OID:
			return FAST_INT8;
		case OIDOID:
			return FAST_OID;
		case BOOLOID:
			return FAST_BOOL;
		case FLOAT4OID:
			return FAST_FLOAT4;
		case FLOAT8OID:
			return FAST_FLOAT8;
		case DATEOID:
			return FAST_DATE;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return FAST_TIMESTAMP;
		case UUIDOID:
			return FAST_UUID;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case BYTEAOID:
			/* textsend, varcharsend, bpcharsend, byteasend: the bytes */
			return FAST_TEXT;
		default:
			return FAST_NONE;
	}
}

/* The binary send function of a type, or InvalidOid. */
static Oid
type_send_function(Oid typid)
{
	HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Oid			send;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for type %u", typid);
	send = ((Form_pg_type) GETSTRUCT(tuple))->typsend;
	ReleaseSysCache(tuple);
	return send;
}

/* Bind one column of rel by name; attnum stays invalid when it is gone. */
static void
bind_column(Relation rel, SealColumn *col, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	memset(col, 0, sizeof(SealColumn));
	col->name = pstrdup(name);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			send;
		bool		varlena;

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		col->attnum = att->attnum;
		col->typid = att->atttypid;
		col->fast = fast_kind(att->atttypid);
		if (col->fast == FAST_NONE)
		{
			if (!OidIsValid(type_send_function(att->atttypid)))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot seal column \"%s\" of table %s: type %s has no binary send function",
								name, audit_guard_table_name(RelationGetRelid(rel)),
								format_type_be(att->atttypid)),
						 errdetail("Sealed rows are hashed over their columns' binary send forms."),
						 errhint("Use a column type that has one, such as text.")));
			getTypeBinaryOutputInfo(att->atttypid, &send, &varlena);
			fmgr_info(send, &col->send);
		}
		return;
	}
}

/* Bind a list of column names to rel as it is now. */
SealColumns *
audit_guard_bind_columns(Relation rel, int n, const char **names)
{
	SealColumns *cols = palloc0(sizeof(SealColumns));
	int			i;

	cols->ncolumns = n;
	cols->columns = palloc0(sizeof(SealColumn) * Max(n, 1));
	cols->names = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bind_column(rel, &cols->columns[i], names[i]);
		cols->names[i] = cols->columns[i].name;
		if (cols->columns[i].attnum == InvalidAttrNumber && cols->missing == NULL)
			cols->missing = cols->columns[i].name;
	}
	return cols;
}

/*
 * The columns a new block seals: every column of the table, in attnum
 * order, but virtual generated ones (PostgreSQL 18), which the table does
 * not store.
 */
SealColumns *
audit_guard_live_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const char **names = palloc(sizeof(char *) * Max(desc->natts, 1));
	int			n = 0;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated == 'v')
			continue;
		names[n++] = NameStr(att->attname);
	}
	return audit_guard_bind_columns(rel, n, names);
}

/* The primary-key columns of rel, in key order; NULL when it has none. */
SealColumns *
audit_guard_key_columns(Relation rel)
{
	Oid			indexoid = ag_primary_key_index(rel);
	HeapTuple	tuple;
	Form_pg_index index;
	const char **names;
	int			i;

	if (!OidIsValid(indexoid))
		return NULL;
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	index = (Form_pg_index) GETSTRUCT(tuple);
	names = palloc(sizeof(char *) * Max(index->indnkeyatts, 1));
	for (i = 0; i < index->indnkeyatts; i++)
		names[i] = get_attname(RelationGetRelid(rel), index->indkey.values[i],
							   false);
	i = index->indnkeyatts;
	ReleaseSysCache(tuple);
	return audit_guard_bind_columns(rel, i, names);
}

/* True when two lists of column names are the same. */
bool
audit_guard_same_names(int n1, const char **a, int n2, const char **b)
{
	int			i;

	if (n1 != n2)
		return false;
	for (i = 0; i < n1; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Append a big-endian integer of size bytes. */
static void
put_be(AgBuf *buf, uint64 v, int size)
{
	unsigned char b[8];
	int			i;

	for (i = size - 1; i >= 0; i--)
	{
		b[i] = (unsigned char) v;
		v >>= 8;
	}
	ag_buf_put_field(buf, b, size);
}

/* Append one non-NULL value as a field of its send form. */
static void
encode_value(AgBuf *buf, SealColumn *col, Datum value)
{
	switch (col->fast)
	{
		case FAST_INT2:
			put_be(buf, (uint16) DatumGetInt16(value), 2);
			break;
		case FAST_INT4:
		case FAST_DATE:
			put_be(buf, (uint32) DatumGetInt32(value), 4);
			break;
		case FAST_OID:
			put_be(buf, DatumGetObjectId(value), 4);
			break;
		case FAST_INT8:
		case FAST_TIMESTAMP:
			put_be(buf, (uint64) DatumGetInt64(value), 8);
			break;
		case FAST_BOOL:
			put_be(buf, DatumGetBool(value) ? 1 : 0, 1);
			break;
		case FAST_FLOAT4:
			{
				float4		f = DatumGetFloat4(value);
				uint32		bits;

				memcpy(&bits, &f, 4);
				put_be(buf, bits, 4);
				break;
			}
		case FAST_FLOAT8:
			{
				float8		f = DatumGetFloat8(value);
				uint64		bits;

				memcpy(&bits, &f, 8);
				put_be(buf, bits, 8);
				break;
			}
		case FAST_UUID:
			ag_buf_put_field(buf, DatumGetUUIDP(value)->data, UUID_LEN);
			break;
		case FAST_TEXT:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

				ag_buf_put_field(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
				if ((Pointer) v != DatumGetPointer(value))
					pfree(v);
				break;
			}
		default:
			{
				bytea	   *sent = SendFunctionCall(&col->send, value);

				ag_buf_put_field(buf, VARDATA(sent), VARSIZE(sent) - VARHDRSZ);
				pfree(sent);
				break;
			}
	}
}

/*
 * Append the encoding of cols in the slot's row: each column's send form
 * as a field, NULL as length -1.  The slot must be fully deformed.
 */
void
audit_guard_encode(AgBuf *buf, SealColumns *cols, TupleTableSlot *slot)
{
	int			i;

	for (i = 0; i < cols->ncolumns; i++)
	{
		SealColumn *col = &cols->columns[i];
		int			att = col->attnum - 1;

		if (slot->tts_isnull[att])
			ag_buf_put_null(buf);
		else
			encode_value(buf, col, slot->tts_values[att]);
	}
}

/* Append one value to a composite key's row literal, quoted like record_out. */
static void
append_key_part(StringInfo out, const char *value, bool composite)
{
	const char *p;
	bool		quote = value[0] == '\0';

	if (!composite)
	{
		appendStringInfoString(out, value);
		return;
	}
	for (p = value; *p && !quote; p++)
		quote = *p == '"' || *p == '\\' || *p == '(' || *p == ')' ||
			*p == ',' || isspace((unsigned char) *p);
	if (!quote)
	{
		appendStringInfoString(out, value);
		return;
	}
	appendStringInfoChar(out, '"');
	for (p = value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(out, *p);
		appendStringInfoChar(out, *p);
	}
	appendStringInfoChar(out, '"');
}

/* A key's text from its values: 17, or (1,"a b") for a composite key. */
static char *
key_text_of(SealColumns *key, Datum *values)
{
	StringInfoData out;
	int			i;

	initStringInfo(&out);
	if (key->ncolumns > 1)
		appendStringInfoChar(&out, '(');
	for (i = 0; i < key->ncolumns; i++)
	{
		Oid			outfn;
		bool		varlena;

		getTypeOutputInfo(key->columns[i].typid, &outfn, &varlena);
		if (i > 0)
			appendStringInfoChar(&out, ',');
		append_key_part(&out, OidOutputFunctionCall(outfn, values[i]),
						key->ncolumns > 1);
	}
	if (key->ncolumns > 1)
		appendStringInfoChar(&out, ')');
	return out.data;
}

/* The key of the slot's row as text. */
char *
audit_guard_slot_key_text(SealColumns *key, TupleTableSlot *slot)
{
	Datum	   *values = palloc(sizeof(Datum) * Max(key->ncolumns, 1));
	int			i;

	for (i = 0; i < key->ncolumns; i++)
		values[i] = slot->tts_values[key->columns[i].attnum - 1];
	return key_text_of(key, values);
}

/*
 * Decode the key fields with the types' receive functions: inside a
 * subtransaction, because the bytes come from seal data that may have
 * been edited and a receive function may reject them.
 */
static char *
decode_key(SealColumns *key, const unsigned char *enc, size_t len)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		Datum	   *values = palloc(sizeof(Datum) * Max(key->ncolumns, 1));
		size_t		pos = 0;
		int			i;

		for (i = 0; i < key->ncolumns; i++)
		{
			const unsigned char *data;
			int32		flen = ag_next_field(enc, len, &pos, &data);
			StringInfoData buf;
			Oid			recv;
			Oid			ioparam;

			if (flen < 0)
				elog(ERROR, "malformed key");
			initStringInfo(&buf);
			appendBinaryStringInfo(&buf, (const char *) data, flen);
			getTypeBinaryInputInfo(key->columns[i].typid, &recv, &ioparam);
			values[i] = OidReceiveFunctionCall(recv, &buf, ioparam, -1);
		}
		if (pos != len)
			elog(ERROR, "malformed key");
		result = key_text_of(key, values);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		result = NULL;
	}
	PG_END_TRY();
	return result ? result : ag_key_hex(enc, len);
}

/* A stored key's text, for a problem report; its hex when unreadable. */
char *
audit_guard_key_text(SealColumns *key, const unsigned char *enc, size_t len)
{
	int			encoding;
	char	   *volatile text = NULL;

	if (key == NULL || key->missing != NULL)
		return ag_key_hex(enc, len);
	encoding = audit_guard_encoding_begin();
	PG_TRY();
	{
		text = decode_key(key, enc, len);
	}
	PG_FINALLY();
	{
		audit_guard_encoding_end(encoding);
	}
	PG_END_TRY();
	return text;
}

/* ---- stored seal data ---- */

/* The OID of one of the seal tables, looked up when the cache has none. */
static Oid
seal_table(const char *name)
{
	Oid			schema = audit_guard_schema();
	Oid			relid = OidIsValid(schema) ?
		get_relname_relid(name, schema) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_guard table %s does not exist", name),
				 errhint("Run ALTER EXTENSION audit_guard UPDATE.")));
	return relid;
}

/* audit_guard.seal_blocks */
Oid
audit_guard_seal_blocks_table(void)
{
	return seal_table("seal_blocks");
}

/* audit_guard.seal_rows */
Oid
audit_guard_seal_rows_table(void)
{
	return seal_table("seal_rows");
}

/* audit_guard.seal_erasures */
Oid
audit_guard_seal_erasures_table(void)
{
	return seal_table("seal_erasures");
}

/* A text[] datum as a C array of strings. */
static const char **
text_array(Datum datum, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	const char **result;
	int			i;

	deconstruct_array(DatumGetArrayTypeP(datum), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, n);
	result = palloc(sizeof(char *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
		result[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	return result;
}

/* Copy a bytea of exactly AG_HASH_LEN bytes; false otherwise. */
static bool
copy_hash(Datum datum, unsigned char *out)
{
	bytea	   *b = DatumGetByteaPP(datum);

	if (VARSIZE_ANY_EXHDR(b) != AG_HASH_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), AG_HASH_LEN);
	return true;
}

/*
 * Open a scan of one of audit_guard's tables keyed by relid first (the
 * seal tables, the registry, retention) over the rows of relid.
 */
SysScanDesc
audit_guard_scan_by_relid(Relation rel, Oid relid, Snapshot snapshot)
{
	ScanKeyData key;
	Oid			index = ag_primary_key_index(rel);

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	return systable_beginscan(rel, index, OidIsValid(index), snapshot, 1, &key);
}

/* Order StoredBlocks by block number. */
static int
block_cmp(const void *a, const void *b)
{
	int64		x = ((const StoredBlock *) a)->block;
	int64		y = ((const StoredBlock *) b)->block;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Order StoredChunks by chunk number. */
static int
chunk_cmp(const ListCell *a, const ListCell *b)
{
	int			x = ((StoredChunk *) lfirst(a))->chunk;
	int			y = ((StoredChunk *) lfirst(b))->chunk;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The kind of a block from its stored name.  A name no version of the
 * format has is read as a seal block, whose hash will then not match.
 */
static BlockKind
block_kind(const char *name)
{
	if (name != NULL && strcmp(name, "purge") == 0)
		return BLOCK_PURGE;
	if (name != NULL && strcmp(name, "redact") == 0)
		return BLOCK_REDACT;
	return BLOCK_SEAL;
}

/* Read the headers of relid's blocks from seal_blocks, in any order. */
static List *
read_headers(Oid relid, Snapshot snapshot)
{
	Relation	rel = table_open(audit_guard_seal_blocks_table(), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan = audit_guard_scan_by_relid(rel, relid, snapshot);
	HeapTuple	tuple;
	List	   *result = NIL;

	/* found by name: columns added later are not where a reader expects */
	AttrNumber	kind_att = get_attnum(RelationGetRelid(rel), "kind");
	AttrNumber	reason_att = get_attnum(RelationGetRelid(rel), "reason");

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *nulls = palloc(sizeof(bool) * desc->natts);
		StoredBlock *block = palloc0(sizeof(StoredBlock));

		/* relid, block, columns, key_columns, row_count, root, prev, hash */
		heap_deform_tuple(tuple, desc, values, nulls);
		block->header = true;
		block->block = DatumGetInt64(values[1]);
		block->columns = text_array(values[2], &block->ncolumns);
		block->keys = text_array(values[3], &block->nkeys);
		block->row_count = DatumGetInt64(values[4]);
		block->hashes_ok = copy_hash(values[5], block->root) &
			copy_hash(values[6], block->prev_hash) &
			copy_hash(values[7], block->block_hash);
		block->kind = block_kind(kind_att <= 0 || nulls[kind_att - 1] ? NULL :
								 TextDatumGetCString(values[kind_att - 1]));
		block->reason = reason_att <= 0 || nulls[reason_att - 1] ? NULL :
			TextDatumGetCString(values[reason_att - 1]);
		result = lappend(result, block);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * Find the block numbered n in an array sorted by number, or NULL (seal
 * data, erasures and purge() look blocks up through this).
 */
StoredBlock *
audit_guard_find_block(StoredBlock *blocks, int nblocks, int64 n)
{
	StoredBlock key = {.block = n};

	return bsearch(&key, blocks, nblocks, sizeof(StoredBlock), block_cmp);
}

/*
 * Read relid's seal data: every block header, and every chunk of rows
 * (keys always, leaves when asked).  Returns the blocks sorted by number;
 * rows stored for a block with no header make a block with header false.
 */
StoredBlock *
audit_guard_read_blocks(Oid relid, Snapshot snapshot, bool leaves, int *nblocks)
{
	List	   *headers = read_headers(relid, snapshot);
	List	   *orphans = NIL;
	int			n = list_length(headers);
	StoredBlock *blocks = palloc0(sizeof(StoredBlock) * (n + 1));
	Relation	rel;
	TupleDesc	desc;
	SysScanDesc scan;
	HeapTuple	tuple;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, headers)
		blocks[i++] = *(StoredBlock *) lfirst(lc);
	qsort(blocks, n, sizeof(StoredBlock), block_cmp);

	rel = table_open(audit_guard_seal_rows_table(), AccessShareLock);
	desc = RelationGetDescr(rel);
	scan = audit_guard_scan_by_relid(rel, relid, snapshot);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		int64		number = DatumGetInt64(heap_getattr(tuple, 2, desc, &isnull));
		StoredBlock *block = audit_guard_find_block(blocks, n, number);
		StoredChunk *chunk = palloc0(sizeof(StoredChunk));

		chunk->chunk = DatumGetInt32(heap_getattr(tuple, 3, desc, &isnull));
		chunk->row_count = DatumGetInt32(heap_getattr(tuple, 4, desc, &isnull));
		chunk->keys = DatumGetByteaPCopy(heap_getattr(tuple, 5, desc, &isnull));
		if (leaves)
			chunk->leaves = DatumGetByteaPCopy(heap_getattr(tuple, 6, desc, &isnull));
		if (block == NULL)
		{
			/* rows without a header: keep them for verify() to report */
			foreach(lc, orphans)
				if (((StoredBlock *) lfirst(lc))->block == number)
					break;
			if (lc == NULL)
			{
				block = palloc0(sizeof(StoredBlock));
				block->block = number;
				orphans = lappend(orphans, block);
			}
			else
				block = lfirst(lc);
		}
		block->chunks = lappend(block->chunks, chunk);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (orphans != NIL)
	{
		blocks = repalloc(blocks, sizeof(StoredBlock) * (n + list_length(orphans) + 1));
		foreach(lc, orphans)
			blocks[n++] = *(StoredBlock *) lfirst(lc);
		qsort(blocks, n, sizeof(StoredBlock), block_cmp);
	}
	for (i = 0; i < n; i++)
		list_sort(blocks[i].chunks, chunk_cmp);
	audit_guard_read_erasures(relid, snapshot, blocks, n);
	*nblocks = n;
	return blocks;
}

/* Add the relids of one seal table's rows to list (unique). */
static List *
add_sealed_relids(List *list, Oid table, Snapshot snapshot)
{
	Relation	rel = table_open(table, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot,
										  0, NULL);
	HeapTuple	tuple;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(heap_getattr(tuple, 1,
														  RelationGetDescr(rel),
														  &isnull));

		if (!list_member_oid(list, relid))
			list = lappend_oid(list, relid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return list;
}

/* Every existing table that has seal data, sorted by OID. */
List *
audit_guard_sealed_tables(Snapshot snapshot)
{
	List	   *all = add_sealed_relids(NIL, audit_guard_seal_blocks_table(),
										snapshot);
	List	   *result = NIL;
	ListCell   *lc;

	all = add_sealed_relids(all, audit_guard_seal_rows_table(), snapshot);
	foreach(lc, all)
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(lfirst_oid(lc))))
			result = lappend_oid(result, lfirst_oid(lc));
	list_sort(result, list_oid_cmp);
	return result;
}

/* Record a problem (verify()); returns it for the caller to add a key. */
SealProblem *
audit_guard_problem(List **problems, Oid relid, int64 block,
					const char *problem, const char *fmt,...)
{
	SealProblem *p = palloc0(sizeof(SealProblem));
	StringInfoData detail;

	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&detail, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}
	p->relid = relid;
	p->seq = list_length(*problems);
	p->block = block;
	p->problem = problem;
	p->detail = detail.data;
	*problems = lappend(*problems, p);
	return p;
}

/*
 * Damaged seal data: verify() reports it; seal() only stops reading the
 * block's keys (verify() will report the damage for as long as it stays,
 * which is forever: nothing deletes seal data).
 */
static void
damaged(List **problems, Relation rel, StoredBlock *block, const char *what)
{
	block->rows_ok = false;
	if (problems != NULL)
		audit_guard_problem(problems, RelationGetRelid(rel), block->block,
							"seal data edited", "%s", what);
}

/*
 * A key block seals that block first sealed already (a second row with a
 * sealed key, made below the guard, and sealed by a later seal): reported
 * with its key; the block's other rows are still checked.
 */
static void
sealed_twice(List **problems, Relation rel, KeySet *set, StoredBlock *block,
			 const unsigned char *key, size_t len, int64 first)
{
	SealProblem *p;

	if (problems == NULL)
		return;
	p = audit_guard_problem(problems, RelationGetRelid(rel), block->block,
							"row sealed twice",
							"block " INT64_FORMAT " sealed this key already", first);
	p->key.data = key;
	p->key.len = (uint32) len;
	p->row_key = audit_guard_key_text(set->key, key, len);
}

/* The KeySet of list whose key columns are names, created when missing. */
static KeySet *
key_set_for(List **sets, Relation rel, int n, const char **names)
{
	ListCell   *lc;
	KeySet	   *set;

	foreach(lc, *sets)
	{
		set = lfirst(lc);
		if (audit_guard_same_names(set->key->ncolumns, set->key->names, n, names))
			return set;
	}
	set = palloc0(sizeof(KeySet));
	set->key = audit_guard_bind_columns(rel, n, names);
	*sets = lappend(*sets, set);
	return set;
}

/* Append one entry, keeping a spare slot for the probe of a lookup. */
static SealedKey *
add_entry(KeySet *set)
{
	if (set->n + 2 > set->cap)
	{
		set->cap = set->cap ? set->cap * 2 : 1024;
		set->entries = set->entries ?
			repalloc_huge(set->entries, sizeof(SealedKey) * set->cap) :
			MemoryContextAllocHuge(CurrentMemoryContext, sizeof(SealedKey) * set->cap);
	}
	return &set->entries[set->n++];
}

/*
 * Hash entry index of the set; returns false when its key is there
 * already, with *other the index of the first.
 */
static bool
hash_entry(KeySet *set, uint32 index, uint32 *other)
{
	bool		found;
	KeyIndex   *slot = keyset_insert(set->hash, index, &found);

	*other = slot->index;
	return !found;
}

/* Build the hash of every entry of the set (seal(): on the first miss). */
static void
build_hash(KeySet *set)
{
	uint32		i;
	uint32		other;

	set->hash = keyset_create(GetMemoryChunkContext(set), Max(set->n, 16), set);
	for (i = 0; i < set->n; i++)
		(void) hash_entry(set, i, &other);
}

/*
 * True when the key at enc is one an erasure removed: it is then not
 * looked for in the table.  Keys erased that sort before it were not
 * sealed by the block: seal data edited.  *next walks block->erased.
 */
static bool
skip_erased(StoredBlock *block, uint32 *next, const unsigned char *enc,
			size_t len, Relation rel, List **problems)
{
	SealKeyRefArray *erased = block->erased;

	while (*next < erased->n)
	{
		SealKeyRef *k = &erased->keys[*next];
		int			c = ag_key_compare(k->data, k->len, enc, len);

		if (c > 0)
			return false;
		(*next)++;
		if (c == 0)
			return true;
		if (problems != NULL)
			audit_guard_problem(problems, RelationGetRelid(rel), block->block,
								"seal data edited",
								"an erasure removes key %s, which the block did not seal",
								ag_key_hex(k->data, k->len));
	}
	return false;
}

/* Report the erased keys of block from next on: the block never sealed them. */
static void
unsealed_erasures(StoredBlock *block, uint32 next, Relation rel,
				  List **problems)
{
	for (; problems != NULL && next < block->erased->n; next++)
		audit_guard_problem(problems, RelationGetRelid(rel), block->block,
							"seal data edited",
							"an erasure removes key %s, which the block did not seal",
							ag_key_hex(block->erased->keys[next].data,
									block->erased->keys[next].len));
}

/*
 * Add the keys of one block to its KeySet, checking what can be checked
 * without the table: chunks numbered from 0, keys well formed and in
 * strictly ascending order, one leaf per key, and, when the set is hashed
 * now, no key sealed twice.
 */
static void
add_block_keys(KeySet *set, StoredBlock *blocks, int index, Relation rel,
			   List **problems)
{
	StoredBlock *block = &blocks[index];
	const unsigned char *prev = NULL;
	size_t		prevlen = 0;
	int64		rows = 0;
	uint32		erased = 0;		/* the next of block->erased to meet */
	int			expected_chunk = 0;
	ListCell   *lc;

	block->rows_ok = true;
	if (block->erased_whole)
		return;					/* no row of it is looked for any more */
	foreach(lc, block->chunks)
	{
		StoredChunk *chunk = lfirst(lc);
		const unsigned char *keys = (unsigned char *) VARDATA_ANY(chunk->keys);
		size_t		len = VARSIZE_ANY_EXHDR(chunk->keys);
		size_t		pos = 0;
		int			i;

		if (chunk->chunk != expected_chunk)
		{
			damaged(problems, rel, block,
					psprintf("chunk %d of its rows is missing", expected_chunk));
			return;
		}
		expected_chunk++;
		if (chunk->leaves &&
			VARSIZE_ANY_EXHDR(chunk->leaves) != (size_t) chunk->row_count * AG_HASH_LEN)
		{
			damaged(problems, rel, block,
					psprintf("chunk %d stores %zu bytes of leaf hashes for %d rows",
							 chunk->chunk, VARSIZE_ANY_EXHDR(chunk->leaves),
							 chunk->row_count));
			return;
		}
		for (i = 0; i < chunk->row_count; i++)
		{
			long		klen = ag_key_length(keys + pos, len - pos,
											 set->key->ncolumns);
			SealedKey  *entry;
			uint32		other;

			if (klen < 0)
			{
				damaged(problems, rel, block,
						psprintf("key %d of chunk %d is malformed", i, chunk->chunk));
				return;
			}
			if (prev && ag_key_compare(prev, prevlen, keys + pos, (size_t) klen) >= 0)
			{
				damaged(problems, rel, block,
						psprintf("key %d of chunk %d is not in key order", i, chunk->chunk));
				return;
			}
			prev = keys + pos;
			prevlen = (size_t) klen;
			if (block->erased && skip_erased(block, &erased, keys + pos, (size_t) klen,
											 rel, problems))
			{
				pos += klen;
				rows++;
				continue;
			}
			entry = add_entry(set);
			entry->key.data = keys + pos;
			entry->key.len = (uint32) klen;
			entry->found = false;
			entry->block_index = index;
			entry->leaf = chunk->leaves ?
				(unsigned char *) VARDATA_ANY(chunk->leaves) + (size_t) i * AG_HASH_LEN :
				NULL;
			if (set->hash && !hash_entry(set, set->n - 1, &other))
			{
				/* sealed twice: the first stays the one rows are checked against */
				set->n--;
				sealed_twice(problems, rel, set, block, keys + pos, (size_t) klen,
							 blocks[set->entries[other].block_index].block);
			}
			pos += klen;
			rows++;
		}
		if (pos != len)
		{
			damaged(problems, rel, block,
					psprintf("chunk %d has bytes after its last key", chunk->chunk));
			return;
		}
	}
	if (block->header && rows != block->row_count)
		damaged(problems, rel, block,
				psprintf("the block records " INT64_FORMAT " rows, but " INT64_FORMAT " are stored",
						 block->row_count, rows));
	else if (block->erased && erased < block->erased->n)
		unsealed_erasures(block, erased, rel, problems);
}

/*
 * The sealed keys of every block, one KeySet per key-column list (a
 * primary key changed between seals makes a second).  Blocks without a
 * header have no key columns and are left out.  hash: build each set's
 * hash now (verify(), which reports keys sealed twice); otherwise it is
 * built when first needed.  problems NULL: seal(), which reports nothing.
 */
List *
audit_guard_key_sets(Relation rel, StoredBlock *blocks, int nblocks,
					 bool hash, List **problems)
{
	List	   *sets = NIL;
	int			i;

	audit_guard_apply_erasures(rel, blocks, nblocks, problems);
	for (i = 0; i < nblocks; i++)
	{
		KeySet	   *set;

		if (!blocks[i].header || blocks[i].kind != BLOCK_SEAL)
			continue;
		set = key_set_for(&sets, rel, blocks[i].nkeys, blocks[i].keys);
		if (hash && set->hash == NULL)
		{
			(void) add_entry(set);	/* make room for the probe */
			set->n--;
			set->hash = keyset_create(CurrentMemoryContext,
									  Max(blocks[i].row_count, 16), set);
		}
		add_block_keys(set, blocks, i, rel, problems);
	}
	return sets;
}

/*
 * The entry of a key, or NULL when no block sealed it: first the key after
 * the last one found, then the hash.
 */
SealedKey *
audit_guard_key_lookup(KeySet *set, const unsigned char *key, uint32 keylen)
{
	SealedKey  *next = set->cursor < set->n ? &set->entries[set->cursor] : NULL;
	KeyIndex   *slot;

	if (next && next->key.len == keylen && memcmp(next->key.data, key, keylen) == 0)
	{
		set->cursor++;
		return next;
	}
	if (set->n == 0)
		return NULL;
	if (set->hash == NULL)
		build_hash(set);
	/* the probe goes in the spare slot past the entries */
	set->entries[set->n].key.data = key;
	set->entries[set->n].key.len = keylen;
	slot = keyset_lookup(set->hash, set->n);
	if (slot == NULL)
		return NULL;
	set->cursor = slot->index + 1;
	return &set->entries[slot->index];
}

/* Call fn for every sealed key of set. */
void
audit_guard_key_iterate(KeySet *set, void (*fn) (SealedKey *entry, void *arg),
						void *arg)
{
	uint32		i;

	for (i = 0; i < set->n; i++)
		fn(&set->entries[i], arg);
}
