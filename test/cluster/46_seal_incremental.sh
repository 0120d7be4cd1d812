#!/usr/bin/env bash
# seal() skips the rows the previous seal's snapshot saw (seal_snapshot.c)
# without reading the sealed keys, and still seals every row exactly once:
# a transaction in progress during a seal, rows the sealing transaction
# wrote itself, a snapshot with too many subtransactions to list, VACUUM
# FREEZE, a table unprotected and protected again with an UPDATE between,
# a row UPDATEd below the guard, and a restored copy.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_seal_incr
copy=ag_seal_incr_copy
dump=$AG_DIR/seal_incr.dump
ag_drop_database "$copy" || exit 1
ag_fresh_database "$db" regress_incr_owner || exit 1
ag_psql -d "$db" <<'SQL' >/dev/null || exit 1
CREATE EXTENSION audit_guard;
CREATE TABLE audit_log (id bigint PRIMARY KEY, note text NOT NULL);
ALTER TABLE audit_log OWNER TO regress_incr_owner;
INSERT INTO audit_log SELECT g, 'row ' || g FROM generate_series(1, 5000) g;
SELECT audit_guard.protect('audit_log');
SQL

seal() {
	ag_scalar "$db" "SELECT coalesce(sum(rows), 0) FROM audit_guard.seal('audit_log')"
}
clean() {
	ag_is "$(ag_scalar "$db" "SELECT count(*) FROM audit_guard.verify('audit_log')")" "0" \
		"$1: verify() finds nothing"
	ag_is "$(ag_scalar "$db" "SELECT sum(row_count) FROM audit_guard.seal_blocks
		WHERE relid = 'audit_log'::regclass AND kind = 'seal'")" \
		"$(ag_scalar "$db" "SELECT count(*) FROM audit_log")" \
		"$1: every row sealed once"
}
# what a statement reads of seal_rows, from its own transaction's statistics
reads_of_seal_rows() {
	ag_psql -d "$db" -At <<SQL | tail -1
BEGIN;
$1;
SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
  FROM pg_stat_xact_all_tables WHERE relid = 'audit_guard.seal_rows'::regclass;
COMMIT;
SQL
}

ag_is "$(seal)" "5000" "the first seal seals every row"
ag_ok "it stores its snapshot" test -n "$(ag_scalar "$db" "SELECT seal_snapshot FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass AND block = 1")"

# rows the previous seal saw are skipped without a look at seal_rows
ag_psql -d "$db" -c "INSERT INTO audit_log SELECT g, 'row ' || g FROM generate_series(5001, 5100) g" >/dev/null
ag_is "$(reads_of_seal_rows "SELECT sum(rows) FROM audit_guard.seal('audit_log')")" "0" \
	"the next seal does not read audit_guard.seal_rows"
ag_is "$(ag_scalar "$db" "SELECT sum(row_count) FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass AND block = 2")" "100" "... and seals the 100 new rows"
ag_ok "verify() does read it (the count works)" \
	test "$(reads_of_seal_rows "SELECT count(*) FROM audit_guard.verify('audit_log')")" -gt 0
clean "after an incremental seal"

# a transaction in progress during a seal, with a lower key: the next one
ag_session_open late "$db" >/dev/null
ag_session_run late "BEGIN; INSERT INTO audit_log VALUES (0, 'late');" >/dev/null
ag_psql -d "$db" -c "INSERT INTO audit_log VALUES (6000, 'meanwhile')" >/dev/null
ag_is "$(seal)" "1" "a seal during the open transaction seals the committed row only"
ag_session_run late "COMMIT;" >/dev/null
ag_is "$(seal)" "1" "the late row, key 0, goes into the next block"
ag_is "$(seal)" "0" "and nothing is sealed twice"
clean "after a late commit"

# rows the sealing transaction wrote itself are visible to its snapshot,
# which cannot say so: no snapshot is stored, and the next seal looks up
ag_is "$(ag_psql -d "$db" -At <<'SQL' | grep -x '[0-9]*' | tail -1
BEGIN;
INSERT INTO audit_log VALUES (7000, 'own');
SELECT sum(rows) FROM audit_guard.seal('audit_log');
COMMIT;
SQL
)" "1" "a seal in the inserting transaction seals its row"
ag_is "$(ag_scalar "$db" "SELECT seal_snapshot IS NULL FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass ORDER BY block DESC LIMIT 1")" "t" \
	"... and stores no snapshot"
ag_is "$(seal)" "0" "the next seal finds nothing new"
clean "after a seal in the inserting transaction"

# more subtransactions than a snapshot lists: no snapshot stored
ag_session_run late "BEGIN;" >/dev/null
for i in $(seq 1 70); do
	ag_session_send late "SAVEPOINT s$i; INSERT INTO audit_log VALUES ($((8000 + i)), 'sub');" || break
done
ag_session_wait late >/dev/null
ag_psql -d "$db" -c "INSERT INTO audit_log VALUES (8500, 'beside')" >/dev/null
ag_is "$(seal)" "1" "a seal beside 70 open subtransactions"
ag_is "$(ag_scalar "$db" "SELECT seal_snapshot IS NULL FROM audit_guard.seal_blocks
	WHERE relid = 'audit_log'::regclass ORDER BY block DESC LIMIT 1")" "t" \
	"... stores no snapshot (its subtransactions are not all listed)"
ag_session_run late "COMMIT;" >/dev/null
ag_is "$(seal)" "70" "the 70 rows are sealed after they commit"
clean "after subtransactions"

# VACUUM FREEZE keeps the inserting transaction (frozen, not replaced)
ag_psql -d "$db" -c "VACUUM FREEZE audit_log" >/dev/null
ag_is "$(seal)" "0" "after VACUUM FREEZE nothing is new"
ag_psql -d "$db" -c "INSERT INTO audit_log VALUES (9000, 'after freeze')" >/dev/null
ag_is "$(seal)" "1" "a row inserted after it is"
clean "after VACUUM FREEZE"

# unprotected, a row updated, protected again: the next seal looks up
ag_psql -d "$db" <<'SQL' >/dev/null
SET ROLE regress_incr_owner;
SELECT audit_guard.unprotect('audit_log');
UPDATE audit_log SET note = 'corrected' WHERE id = 42;
DELETE FROM audit_log WHERE id = 43;
INSERT INTO audit_log VALUES (43, 'inserted again');
SELECT audit_guard.protect('audit_log');
SQL
ag_is "$(seal)" "0" "after unprotect, UPDATE, DELETE + INSERT, protect: no row is sealed again"
ag_is "$(ag_scalar "$db" "SELECT string_agg(row_key || ' ' || problem, ', ' ORDER BY row_key)
	FROM audit_guard.verify('audit_log')")" \
	"42 row changed, 43 row changed" "verify() names the rows changed while unprotected"

# restored into another database: the snapshot does not serve there
ag_ok "pg_dump -Fc" "$AG_BINDIR/pg_dump" -Fc -d "$db" -f "$dump"
ag_ok "restore into a fresh database" ag_psql -d postgres -c "CREATE DATABASE $copy"
"$AG_BINDIR/pg_restore" -d "$copy" "$dump" >/dev/null 2>&1
ag_psql -d "$copy" -c "INSERT INTO audit_log VALUES (9500, 'in the copy')" >/dev/null
ag_is "$(ag_scalar "$copy" "SELECT sum(rows) FROM audit_guard.seal('audit_log')")" "1" \
	"the copy seals only its new row"
ag_is "$(ag_scalar "$copy" "SELECT string_agg(row_key || ' ' || problem, ', ' ORDER BY row_key)
	FROM audit_guard.verify('audit_log')")" \
	"42 row changed, 43 row changed" "and verifies as the original (nothing sealed twice)"

ag_session_close late
ag_drop_database "$copy"
ag_done
