/*-------------------------------------------------------------------------
 *
 * seal_snapshot.c
 *		What the previous seal() saw, so that the next one skips it.
 *
 * A seal block holds every row its snapshot saw that no earlier block
 * held, and seals are serialized, each snapshot taken after the previous
 * seal committed: so every row visible to the last seal's snapshot is
 * sealed, and no row invisible to it is.  seal() stores its snapshot with
 * the block (seal_blocks.seal_snapshot, not hashed); the next seal() in
 * the same database then tells sealed rows from new ones by the row's
 * inserting transaction alone, without hashing them or looking their keys
 * up among the sealed keys, and without reading those keys at all.
 *
 * The snapshot serves only where its transaction ids mean what they meant:
 * the same cluster (system identifier) and database, fewer than 2^30
 * transactions later, and a snapshot whose subtransactions it lists in
 * full.  Anything else (a restored copy, an upgraded cluster, a block
 * sealed by an older version) makes seal() look every row up, as before.
 * The table must have been protected without a break since that seal
 * (its registry row older than the snapshot): rows updated, or deleted and
 * inserted again, while it was not would look new.  A frozen row whose
 * transaction the snapshot cannot place (an ancient one, 2^31
 * transactions back), and a row an UPDATE made (below the guard), are
 * looked up among the sealed keys as before.
 *
 *-------------------------------------------------------------------------
 */
#include "seal.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* The first field of the stored form; another version is not read. */
#define SNAPSHOT_FORMAT "1"

/* How far the transaction counter may have moved since: 2^30. */
#define SNAPSHOT_MAX_AGE ((uint64) 1 << 30)

/* Append a list of xids as "a,b,c". */
static void
append_xids(StringInfo out, const TransactionId *xids, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		appendStringInfo(out, "%s%u", i > 0 ? "," : "", xids[i]);
}

/*
 * The stored form of a seal's snapshot, or NULL when it could not serve
 * the next seal (its subtransactions not all listed, or taken during
 * recovery).
 */
char *
audit_guard_seal_snapshot_text(Snapshot snapshot)
{
	StringInfoData out;

	if (snapshot->suboverflowed || snapshot->takenDuringRecovery)
		return NULL;
	initStringInfo(&out);
	appendStringInfo(&out, SNAPSHOT_FORMAT ":" UINT64_FORMAT ":%u:" UINT64_FORMAT ":%u:%u:",
					 GetSystemIdentifier(), MyDatabaseId,
					 U64FromFullTransactionId(ReadNextFullTransactionId()),
					 snapshot->xmin, snapshot->xmax);
	append_xids(&out, snapshot->xip, (int) snapshot->xcnt);
	appendStringInfoChar(&out, ':');
	append_xids(&out, snapshot->subxip, (int) snapshot->subxcnt);
	return out.data;
}

/* Parse "a,b,c" (possibly empty) into xids; false when malformed. */
static bool
parse_xids(char *list, TransactionId **xids, int32 *n)
{
	char	   *tok;
	char	   *save;
	int			cap = 8;

	*n = 0;
	*xids = palloc(sizeof(TransactionId) * cap);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char	   *end;
		unsigned long v = strtoul(tok, &end, 10);

		if (*end != '\0' || v > PG_UINT32_MAX)
			return false;
		if (*n == cap)
			*xids = repalloc(*xids, sizeof(TransactionId) * (cap *= 2));
		(*xids)[(*n)++] = (TransactionId) v;
	}
	return true;
}

/* Split text at ':' into exactly n fields (the last ones may be empty). */
static bool
split_fields(char *text, char **fields, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		fields[i] = text;
		text = strchr(text, ':');
		if (text == NULL)
			return i == n - 1;
		*text++ = '\0';
	}
	return false;
}

/*
 * How far back of "to" the 32-bit xid "from" lies, modulo 2^32: the
 * distance as the counter runs.  Comparisons of xids wrap around at 2^31
 * (TransactionIdPrecedes); a distance does not, so that a value 2^31 away
 * cannot pass for one just before.
 */
static uint32
xid_distance(TransactionId from, TransactionId to)
{
	return (uint32) (to - from);
}

/* True when every xid of xids lies in [xmin, xmax). */
static bool
xids_within(const TransactionId *xids, int n, TransactionId xmin, TransactionId xmax)
{
	int			i;

	for (i = 0; i < n; i++)
		if (xid_distance(xmin, xids[i]) >= xid_distance(xmin, xmax))
			return false;
	return true;
}

/*
 * True when a stored snapshot could have been taken here: xmin <= xmax <=
 * the transaction counter stored with it (itself no later than now, and
 * less than 2^30 before it, which the age test has seen to), xmin less
 * than 2^30 before that counter (so less than 2^31 before now: the xids
 * of transactions to come still follow it), its in-progress xids between
 * xmin and xmax.  The stored snapshot is not hashed: one edited to see
 * transactions that had not started (so that seal() skips every row to
 * come) is not used, however far ahead it was put.  One edited to see
 * transactions that had (rows not sealed yet) is caught by verify(), which
 * reports every row a seal saw and did not seal.
 */
static bool
snapshot_is_sane(Snapshot snap, TransactionId next)
{
	uint32		back_to_xmin = xid_distance(snap->xmin, next);
	uint32		back_to_xmax = xid_distance(snap->xmax, next);

	return back_to_xmin < SNAPSHOT_MAX_AGE && back_to_xmax <= back_to_xmin &&
		xids_within(snap->xip, (int) snap->xcnt, snap->xmin, snap->xmax) &&
		xids_within(snap->subxip, snap->subxcnt, snap->xmin, snap->xmax);
}

/*
 * The snapshot stored as text, when it can serve here; else NULL.  The
 * result is an MVCC snapshot for XidInMVCCSnapshot() only.
 */
static Snapshot
parse_seal_snapshot(const char *stored)
{
	char	   *copy = pstrdup(stored);
	char	   *f[8];
	Snapshot	snap;
	uint64		next;

	if (!split_fields(copy, f, 8) || strcmp(f[0], SNAPSHOT_FORMAT) != 0 ||
		strtou64(f[1], NULL, 10) != GetSystemIdentifier() ||
		strtoul(f[2], NULL, 10) != MyDatabaseId)
		return NULL;
	next = strtou64(f[3], NULL, 10);
	if (U64FromFullTransactionId(ReadNextFullTransactionId()) - next >= SNAPSHOT_MAX_AGE)
		return NULL;
	snap = palloc0(sizeof(SnapshotData));
	snap->snapshot_type = SNAPSHOT_MVCC;
	snap->xmin = (TransactionId) strtoul(f[4], NULL, 10);
	snap->xmax = (TransactionId) strtoul(f[5], NULL, 10);
	if (!TransactionIdIsNormal(snap->xmin) || !TransactionIdIsNormal(snap->xmax) ||
		!parse_xids(f[6], &snap->xip, (int32 *) &snap->xcnt) ||
		!parse_xids(f[7], &snap->subxip, &snap->subxcnt) ||
		!snapshot_is_sane(snap, XidFromFullTransactionId(FullTransactionIdFromU64(next))))
		return NULL;
	return snap;
}

/*
 * Read the chain's last block (its number and hash, into head) and the
 * snapshot of the last seal of relid (its block into *seal_block), with
 * snapshot; returns that seal's snapshot when it parses and is sane, else
 * NULL.  Erasure blocks after the last seal do not matter: they only
 * remove rows.
 */
static Snapshot
last_seal_snapshot(Oid relid, Snapshot snapshot, int64 *head_block,
				   unsigned char *head_hash, int64 *seal_block)
{
	Relation	rel = table_open(audit_guard_seal_blocks_table(), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			index = ag_primary_key_index(rel);
	Relation	irel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Snapshot	result = NULL;
	bool		first = true;
	AttrNumber	snapshot_att;
	AttrNumber	kind_att;

	*head_block = 0;
	*seal_block = 0;
	memset(head_hash, 0, AG_HASH_LEN);
	snapshot_att = get_attnum(RelationGetRelid(rel), "seal_snapshot");
	kind_att = get_attnum(RelationGetRelid(rel), "kind");
	if (!OidIsValid(index) || snapshot_att <= 0 || kind_att <= 0)
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	irel = index_open(index, AccessShareLock);
	scan = systable_beginscan_ordered(rel, irel, snapshot, 1, &key);
	while ((tuple = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		kind = heap_getattr(tuple, kind_att, desc, &isnull);
		Datum		stored;

		if (first)
		{
			bytea	   *hash = DatumGetByteaPP(heap_getattr(tuple, 8, desc, &isnull));

			*head_block = DatumGetInt64(heap_getattr(tuple, 2, desc, &isnull));
			if (VARSIZE_ANY_EXHDR(hash) == AG_HASH_LEN)
				memcpy(head_hash, VARDATA_ANY(hash), AG_HASH_LEN);
			first = false;
		}
		if (!isnull && strcmp(TextDatumGetCString(kind), "seal") != 0)
			continue;			/* an erasure block */
		stored = heap_getattr(tuple, snapshot_att, desc, &isnull);
		if (!isnull)
			result = parse_seal_snapshot(TextDatumGetCString(stored));
		*seal_block = DatumGetInt64(heap_getattr(tuple, 2, desc, &isnull));
		break;
	}
	systable_endscan_ordered(scan);
	index_close(irel, AccessShareLock);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * True when relid's registry row was written before prev was taken: the
 * table has been protected, without a break, since the previous seal.
 * Otherwise rows may have been updated, deleted and inserted again while
 * it was not, and a row new to prev may carry a key sealed before.
 */
static bool
protected_since(Oid relid, Snapshot prev)
{
	Relation	rel = table_open(audit_guard_registry_relid(), AccessShareLock);
	SysScanDesc scan = audit_guard_scan_by_relid(rel, relid, NULL);
	HeapTuple	tuple;
	bool		result = false;

	if ((tuple = systable_getnext(scan)) != NULL)
		result = !XidInMVCCSnapshot(HeapTupleHeaderGetRawXmin(tuple->t_data), prev);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * How the row in slot stands to the previous seal's snapshot prev:
 * SEEN_SEALED (prev saw it: sealed), SEEN_NEW (prev did not: not sealed)
 * or SEEN_UNSURE (a frozen row prev cannot place: look it up).
 */
SeenBy
audit_guard_seen_by(TupleTableSlot *slot, Snapshot prev)
{
	bool		should_free;
	HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &should_free);
	TransactionId xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
	SeenBy		result;

	if (!XidInMVCCSnapshot(xmin, prev))
		result = SEEN_SEALED;
	else if (HeapTupleHeaderXminFrozen(tuple->t_data) ||
			 (tuple->t_data->t_infomask & HEAP_UPDATED))
		result = SEEN_UNSURE;	/* an ancient row, or one UPDATE made */
	else
		result = SEEN_NEW;
	if (should_free)
		heap_freetuple(tuple);
	return result;
}

/*
 * The snapshot of the last seal of rel, read with snapshot, when it can
 * tell sealed rows from new ones (see the file header), else NULL; the
 * chain's last block into head_block and head_hash, the block of that
 * seal into seal_block.  seal() skips the rows it saw; verify() reports
 * each of them no block sealed.
 */
Snapshot
audit_guard_usable_seal_snapshot(Relation rel, Snapshot snapshot, int64 *head_block,
								 unsigned char *head_hash, int64 *seal_block)
{
	Snapshot	prev;

	*head_block = *seal_block = 0;
	memset(head_hash, 0, AG_HASH_LEN);
	if (rel->rd_tableam != GetHeapamTableAmRoutine())
		return NULL;
	prev = last_seal_snapshot(RelationGetRelid(rel), snapshot, head_block,
							  head_hash, seal_block);
	if (prev != NULL && !protected_since(RelationGetRelid(rel), prev))
		return NULL;
	return prev;
}
