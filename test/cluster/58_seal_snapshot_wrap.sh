#!/usr/bin/env bash
# Sealing must not be switched off by a stored seal snapshot put 2^31
# transactions away, nor the verifiers silenced by a forged empty block
# (issue 9, found by a second red-team pass).
#
# 32-bit xids compare circularly: xmax = next + 2^31 "preceded" next, so
# the stored snapshot passed the sanity test, yet every xid to come then
# preceded its xmin: seal() skipped every new row for ever.  (next set to
# the registry row's xmin keeps protected_since() true; VACUUM FREEZE,
# allowed with the guard on, has the rows sealed already looked up.)  The
# sanity test now measures distances back from the stored counter.
#
# 1. After that edit seal() seals the new rows, and the table verifies.
# 2. An appended seal block, hashed right, of 0 rows keyed by a column
#    that does not exist (seal() writes neither) is 'seal data edited' in
#    both verifiers; a row changed afterwards below the guard is reported.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_snapshot_wrap
verifier=$AG_BINDIR/audit_guard_verify
digest=$(mktemp /tmp/ag_seal_snapshot_wrap.XXXXXX)
chmod 644 "$digest"
ag_fresh_database "$db" || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t (id bigint PRIMARY KEY, note text);
INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) g;
SELECT audit_guard.protect('t');
SELECT audit_guard.seal('t');
INSERT INTO t VALUES (6, 'n6');
SELECT audit_guard.seal('t');   -- block 2, a transaction of its own: snapshot stored
SQL
ag_ok "a digest is verified and saved outside the database" \
	"$verifier" -q -d "$db" --save-digest "$digest" t
ag_ok "VACUUM FREEZE t (allowed with the guard on)" ag_psql -d "$db" -c "VACUUM FREEZE t"

# below_guard SQL: run SQL with the server started without the preload
below_guard() {
	ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
	ag_ok "$1" ag_psql -d "$db" -c "ALTER TABLE audit_guard.seal_blocks DISABLE TRIGGER USER" -c "$2" \
		-c "ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_guard" \
		-c "ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_no_truncate"
	ag_ok "restart with the preload" ag_conf_reset
}

# 1. next := the registry row's xmin, xmin = xmax := next + 2^31 (mod 2^32)
below_guard "the stored snapshot of block 2 is set to next + 2^31" "
UPDATE audit_guard.seal_blocks b
   SET seal_snapshot = concat_ws(':', split_part(seal_snapshot, ':', 1), split_part(seal_snapshot, ':', 2),
		split_part(seal_snapshot, ':', 3), r.x, (r.x + 2147483648) % 4294967296,
		(r.x + 2147483648) % 4294967296, '', '')
  FROM (SELECT xmin::text::bigint AS x FROM audit_guard.registry WHERE relid = 't'::regclass) r
 WHERE b.relid = 't'::regclass AND b.block = 2"

ag_psql -d "$db" -c "INSERT INTO t VALUES (7, 'n7')" -c "INSERT INTO t VALUES (8, 'n8')" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(block || ':' || rows, ','), 'no block') FROM audit_guard.seal('t')")" \
	"3:2" "seal() seals the new rows 7 and 8 (the forged snapshot is not used)"
"$verifier" -q -d "$db" --digest "$digest" t >/dev/null
ag_is "$?" "0" "audit_guard_verify: intact, every row sealed (nothing hashed was edited)"

# 2. a forged empty block 4 (or 3) keyed by a column that does not exist
below_guard "an empty seal block keyed by a missing column is appended, hashed right" "
INSERT INTO audit_guard.seal_blocks (relid, block, columns, key_columns, row_count, root,
		prev_hash, block_hash, table_name, sealed_by, seal_snapshot)
SELECT relid, block + 1, columns, '{nope}', 0, root, block_hash,
       sha256('\\x02'::bytea || block_hash || int8send(block + 1) || root || int8send(0)
              || int4send(2) || int4send(2) || convert_to('id', 'UTF8') || int4send(4) || convert_to('note', 'UTF8')
              || int4send(1) || int4send(4) || convert_to('nope', 'UTF8')),
       table_name, sealed_by, (SELECT seal_snapshot FROM audit_guard.seal_blocks
                                WHERE relid = 't'::regclass AND block = 2)
  FROM audit_guard.seal_blocks WHERE relid = 't'::regclass
 ORDER BY block DESC LIMIT 1"
ag_psql -d "$db" -c "INSERT INTO t VALUES (9, 'n9')" -c "SELECT audit_guard.seal('t')" >/dev/null

ag_ok "row 8 is rewritten below the guard" ag_conf_override "shared_preload_libraries = ''"
ag_psql -d "$db" <<'SQL' >/dev/null
ALTER TABLE t DISABLE TRIGGER ALL;
UPDATE t SET note = 'nothing happened' WHERE id = 8;
ALTER TABLE t ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE t ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
SQL
ag_ok "restart with the preload" ag_conf_reset

ag_is "$(ag_scalar "$db" "SELECT string_agg(DISTINCT problem, ',') FROM audit_guard.verify('t'::regclass) WHERE block = 4")" \
	"seal data edited" "verify() reports the forged block 4"
ag_is "$(ag_scalar "$db" "SELECT string_agg(problem, ',') FROM audit_guard.verify('t'::regclass) WHERE row_key = '8'")" \
	"row changed" "verify() reports row 8 changed"
ag_ok "verify(digest) reports a problem" \
	test "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify(pg_read_file('$digest')::jsonb)")" -gt 0
"$verifier" -q -d "$db" --digest "$digest" t >/dev/null
ag_is "$?" "1" "audit_guard_verify with the digest reports tampering"

rm -f "$digest"
ag_drop_database "$db"
ag_done
