#!/usr/bin/env bash
# What a superuser edits below the guard (no preload) must show in the
# verifiers, and must not switch sealing off (issue 9, found by a red-team
# pass).  Table t:
#
# 1. the snapshot stored with a seal block (seal_blocks.seal_snapshot, not
#    hashed, which tells the next seal() which rows it may skip) edited to
#    see transactions that have not started yet (xmin and xmax 100 million
#    ahead) is not used: seal() looks the rows up and seals the new ones,
#    and a later change of one of them is reported;
# 2. a plausible snapshot that sees rows not sealed yet (taken "now") makes
#    seal() skip them, but verify() reports each such row: "row not
#    sealed", naming its key.
#
# Table d: 3. a second row with the sealed key 3 (the primary key dropped,
# the row inserted, a look-alike primary key put back: a plain index
# flagged primary and unique in pg_index, so that seal() keeps working).
# Each verifier checks the first row it meets against the seal and reports
# the other: "row duplicated", key 3.  The next seal() takes the forged row
# for a new one (its transaction is new to the stored snapshot, so its key
# is not looked up) and seals key 3 again: then also "row sealed twice",
# key 3, in block 2; the block's other rows are still checked.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_forged
verifier=$AG_BINDIR/audit_guard_verify
ag_fresh_database "$db" || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE t (id bigint PRIMARY KEY, note text);
CREATE TABLE d (id bigint PRIMARY KEY, note text);
INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) g;
INSERT INTO d SELECT g, 'n' || g FROM generate_series(1, 5) g;
SELECT audit_guard.protect('t'), audit_guard.protect('d');
SELECT audit_guard.seal('t');
SELECT audit_guard.seal('d');  -- a transaction of its own: its snapshot is stored
SQL

# rewrite_below_guard TABLE ID: the row ID of TABLE changed without the preload
rewrite_below_guard() {
	ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
	ag_ok "row $2 of $1 is rewritten below the guard" ag_psql -d "$db" <<SQL
ALTER TABLE $1 DISABLE TRIGGER ALL;
UPDATE $1 SET note = 'nothing happened' WHERE id = $2;
ALTER TABLE $1 ENABLE ALWAYS TRIGGER audit_guard_append_only;
ALTER TABLE $1 ENABLE ALWAYS TRIGGER audit_guard_no_truncate;
SQL
	ag_ok "restart with the preload" ag_conf_reset
}

# 1. a snapshot of transactions not started yet
ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "one UPDATE of the unhashed seal_snapshot of the last block" ag_psql -d "$db" <<'SQL'
ALTER TABLE audit_guard.seal_blocks DISABLE TRIGGER USER;
UPDATE audit_guard.seal_blocks
   SET seal_snapshot = concat_ws(':', split_part(seal_snapshot, ':', 1), split_part(seal_snapshot, ':', 2),
			split_part(seal_snapshot, ':', 3), split_part(seal_snapshot, ':', 4),
			(txid_current() + 100000000) % 4294967296, (txid_current() + 100000000) % 4294967296, '', '')
 WHERE relid = 't'::regclass AND block = 1;
ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_no_truncate;
SQL
ag_ok "restart with the preload" ag_conf_reset
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('t'::regclass)")" "0" \
	"verify() sees nothing (no row or hash changed)"

ag_ok "the application inserts rows 6..10, one transaction each" ag_psql -d "$db" <<'SQL'
INSERT INTO t VALUES (6, 'n6');
INSERT INTO t VALUES (7, 'n7');
INSERT INTO t VALUES (8, 'n8');
INSERT INTO t VALUES (9, 'n9');
INSERT INTO t VALUES (10, 'n10');
SQL
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(block || ':' || rows, ','), 'no block')
	FROM audit_guard.seal('t')")" "2:5" "seal() seals the 5 new rows as block 2"

rewrite_below_guard t 8
ag_is "$(ag_scalar "$db" "SELECT coalesce(string_agg(block || ' ' || row_key || ' ' || problem, ','), 'clean')
	FROM audit_guard.verify('t'::regclass)")" "2 8 row changed" "verify() reports row 8"
out=$("$verifier" -q -d "$db" t)
rc=$?
ag_is "$rc $(printf '%s\n' "$out" | cut -f2-4 | tr '\t' ' ')" "1 2 8 row changed" \
	"audit_guard_verify reports row 8 and exits 1"

# 2. rows 11 and 12 committed, then a snapshot that saw them stored with block 2
ag_psql -d "$db" -c "INSERT INTO t VALUES (11, 'n11'); INSERT INTO t VALUES (12, 'n12');" >/dev/null
ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "the stored snapshot of block 2 is moved to now" ag_psql -d "$db" <<'SQL'
ALTER TABLE audit_guard.seal_blocks DISABLE TRIGGER USER;
UPDATE audit_guard.seal_blocks
   SET seal_snapshot = concat_ws(':', split_part(seal_snapshot, ':', 1), split_part(seal_snapshot, ':', 2),
			split_part(seal_snapshot, ':', 3), txid_current(),
			txid_current() % 4294967296, txid_current() % 4294967296, '', '')
 WHERE relid = 't'::regclass AND block = 2;
ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_guard;
ALTER TABLE audit_guard.seal_blocks ENABLE ALWAYS TRIGGER own_table_no_truncate;
SQL
ag_ok "restart with the preload" ag_conf_reset
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.seal('t')")" "0" \
	"seal() skips rows 11 and 12 (the snapshot says it saw them)"
ag_is "$(ag_scalar "$db" "SELECT string_agg(coalesce(block::text, '') || ' ' || row_key || ' ' || problem, ',' ORDER BY row_key::int)
	FROM audit_guard.verify('t'::regclass) WHERE problem <> 'row changed'")" \
	"2 11 row not sealed,2 12 row not sealed" "verify() reports both rows not sealed"
ag_psql -d "$db" -c "INSERT INTO t VALUES (13, 'n13')" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT block || ':' || rows FROM audit_guard.seal('t')")" "3:1" \
	"a row inserted afterwards is sealed"

# 3. table d: a second row with the sealed key 3
ag_ok "restart without the preload" ag_conf_override "shared_preload_libraries = ''"
ag_ok "a forged second row with sealed key 3, and a look-alike primary key" ag_psql -d "$db" <<'SQL'
ALTER TABLE d DROP CONSTRAINT d_pkey;
INSERT INTO d VALUES (3, 'forged');
CREATE INDEX d_pkey ON d (id);
UPDATE pg_index SET indisprimary = true, indisunique = true WHERE indexrelid = 'd_pkey'::regclass;
SQL
ag_ok "restart with the preload" ag_conf_reset
ag_is "$(ag_scalar "$db" "SELECT string_agg(note, ',' ORDER BY note) FROM d WHERE id = 3")" \
	"forged,n3" "key 3 now has two rows, one forged"
# The problems naming key 3, from each verifier, with the client's status.
server_key3() {
	ag_scalar "$db" "SELECT string_agg(DISTINCT problem, ',') FROM audit_guard.verify('d'::regclass) WHERE row_key = '3'"
}
client_key3() {
	local out rc
	out=$("$verifier" -q -d "$db" d)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/#   /' >&2
	echo "exit $rc: $(printf '%s\n' "$out" | awk -F'\t' '$3 == "3" { print $4 }' | sort -u | paste -sd,)"
}

ag_ok "before the next seal: verify() reports key 3 duplicated" \
	grep -q 'row duplicated' <<<"$(server_key3)"
ag_ok "before the next seal: audit_guard_verify reports key 3 duplicated and exits 1" \
	grep -q '^exit 1: .*row duplicated' <<<"$(client_key3)"

# the next seal() (every minute from pg_cron) seals the forged row, with row 7
ag_psql -d "$db" -c "INSERT INTO d VALUES (7, 'n7')" >/dev/null
ag_is "$(ag_scalar "$db" "SELECT block || ':' || rows FROM audit_guard.seal('d')")" "2:2" \
	"the next seal() seals the forged row and row 7 as block 2"
ag_is "$(server_key3)" "row duplicated,row sealed twice" \
	"after it: verify() reports key 3 duplicated and sealed twice"
ag_is "$(client_key3)" "exit 1: row duplicated,row sealed twice" \
	"after it: audit_guard_verify reports the same and exits 1"

# the block's other rows are still checked: row 7, sealed with the forged one
rewrite_below_guard d 7
ag_is "$(ag_scalar "$db" "SELECT string_agg(problem, ',') FROM audit_guard.verify('d'::regclass) WHERE row_key = '7'")" \
	"row changed" "verify() reports row 7 changed"

ag_drop_database "$db"
ag_done
